"""Shared pieces of the site's browser tests: Debian's Chromium driven by Playwright, a tab
that fails the test on a script or Content-Security-Policy error, axe-core's WCAG 2.1 A/AA
rules, a few structural checks axe leaves out (unique ids, landmarks, heading order), and a
small seeded ledger of its own (:func:`seeded_ledger`) with the facts the pages must put in
plain words.

The fixtures (``browser``, ``page``, ``seeded``) are made available to this folder by
``tests/e2e/conftest.py``.
"""

from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from eth_account import Account
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from bench.anvil import throwaway_anvil
from ledger.chain import LedgerChain
from ledger.limits import TITLE_MAX_BYTES
from ledger.staff import issue_token
from scripts.admin import ensure_confirmer
from scripts.stack import InProcessStack
from tests.conftest import ANVIL_KEYS, REPO_ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
AXE_JS = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SCREENSHOTS_DIR = REPO_ROOT / "reports" / "screenshots"
"""Where the page tests save a screenshot of every page (``reports/`` is not committed)."""

WIDTHS = {"desktop": 1280, "phone": 390}
"""Viewport widths the pages are checked at, CSS pixels."""

VIEWPORT_HEIGHTS = {1280: 900, 390: 844}

DAY = 86_400
PROMISED = 1_655_071_200  # 13 June 2022, 00:00 in Baarn


# ------------------------------------------------------------------ browser


_launched: dict[str, Any] = {}
"""This process's Playwright and Chromium (``"playwright"``, ``"browser"``) and how many
``browser`` fixtures hold them (``"users"``)."""


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, for the whole session. tests/e2e and tests/workspace_browser
    each make this fixture theirs (their conftest imports it), so a process that runs both
    gets it twice: both share one launch, since Playwright's sync API cannot start while
    another of the same thread is open ("It looks like you are using Playwright Sync API inside
    the asyncio loop"); it is closed when the last of them ends."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: `make test` installs it (target `browser`)")
    if not _launched.get("users"):
        playwright = sync_playwright().start()
        _launched.update(playwright=playwright, users=0,
                         browser=playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS))
    _launched["users"] += 1
    try:
        yield _launched["browser"]
    finally:
        _launched["users"] -= 1
        if not _launched["users"]:
            _launched.pop("browser").close()
            _launched.pop("playwright").stop()


class PageErrors:
    """Uncaught exceptions and console errors of a tab (a CSP violation is a console error).
    A failed request the page handles ("Failed to load resource") is not an error."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("console", self._console)
        page.on("dialog", lambda dialog: (self.errors.append(f"dialog: {dialog.type} {dialog.message}"), dialog.dismiss()))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console: {message.text}")


def new_tab(browser: Browser, **context_options: Any) -> tuple[BrowserContext, Page, PageErrors]:
    """A fresh context and tab (Dutch locale unless ``context_options`` say otherwise) that
    records its errors and dialogs."""
    options = {"locale": "nl-NL", **context_options}
    context = browser.new_context(**options)
    page = context.new_page()
    return context, page, PageErrors(page)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh Dutch tab at 1280 × 900; the test fails if a page threw, logged an error (a
    Content-Security-Policy violation, say) or opened a dialog."""
    context, tab, watch = new_tab(browser, viewport={"width": 1280, "height": 900})
    yield tab
    context.close()
    assert watch.errors == [], watch.errors


# ------------------------------------------------------------------ accessibility


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.0/2.1 A and AA violations on the page as it is now, each
    ``{"id", "impact", "targets": [CSS selector, ...], "summary"}``. The page's context must
    be created with ``bypass_csp=True`` (axe is injected as a script)."""
    page.add_script_tag(path=str(AXE_JS))
    return page.evaluate(
        """async (tags) => {
          const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
          return result.violations.map((v) => ({
            id: v.id, impact: v.impact,
            targets: v.nodes.map((n) => n.target.join(' ')),
            summary: v.nodes.map((n) => n.failureSummary).slice(0, 3),
          }));
        }""",
        AXE_TAGS,
    )


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """One line per violation: its rule id and the first targets."""
    return "\n".join(f"{v['id']} ({v['impact']}): {v['targets'][:5]} {v['summary'][:1]}" for v in violations)


STRUCTURE_CHECK = """() => {
  const problems = [];
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const name = (el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} "${(el.textContent || '').trim().slice(0, 40)}"`;
  const counts = {};
  document.querySelectorAll('[id]').forEach((el) => { counts[el.id] = (counts[el.id] || 0) + 1; });
  for (const [id, n] of Object.entries(counts)) if (n > 1) problems.push(`id ${id} used ${n} times`);
  for (const tag of ['header', 'nav', 'main', 'footer']) {
    if (document.querySelectorAll(tag).length < 1) problems.push(`no <${tag}> landmark`);
  }
  if (document.querySelectorAll('main').length !== 1) problems.push('not exactly one <main>');
  if (document.querySelectorAll('h1').length !== 1) problems.push('not exactly one <h1>');
  let previous = 0;
  for (const el of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
    if (!visible(el)) continue;
    const level = Number(el.tagName[1]);
    if (previous && level > previous + 1) problems.push(`${name(el)} skips from h${previous}`);
    previous = level;
  }
  for (const el of document.querySelectorAll('a[href], button, summary')) {
    if (visible(el) && !(el.textContent || '').trim() && !el.getAttribute('aria-label')) problems.push(`${name(el)} has no name`);
  }
  return problems;
}"""
"""What axe's WCAG rules no longer check but the pages promise: every id used once, the four
landmarks, one ``<main>`` and one ``<h1>``, headings without skipped levels, every link and
button named. Returns a list of problems (empty when none)."""


def structure_problems(page: Page) -> list[str]:
    return page.evaluate(STRUCTURE_CHECK)


def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no horizontal scrolling)."""
    return page.evaluate("() => Math.max(0, document.documentElement.scrollWidth - window.innerWidth)")


# ------------------------------------------------------------------ a small seeded ledger


CONFIRMER_KEY = ANVIL_KEYS[5]
CONFIRMER = Account.from_key(CONFIRMER_KEY).address  # Baarn's confirmer (an inspector)
INSPECTION = "0x" + "1a" * 32  # the confirmer's own evidence
UNVERIFIABLE_ROOT = "0x" + "c4" * 32  # a batch anchored with a file nobody holds
UNVERIFIABLE_FILE = "0x" + "f1" * 32

SCRIPT_TITLE = "<script>alert(1)</script>"
"""A title that is markup: the pages must show it as text and never run it."""

LONG_WORD = "Onafgebroken" + "x" * 288
"""A 300-character word without a break opportunity."""

LONG_TITLE_WORD = LONG_WORD[:TITLE_MAX_BYTES]
"""The longest word a title may be (the ledger's limit, 200 bytes)."""


@dataclass
class Seeded:
    """A small ledger of its own (Baarn's registrar writes everything; dates relative to the
    wall clock, which is this chain's clock too):

    - ``relaxed`` "Honderd laadpalen": 100 promised on 13 June 2022, a delivery of 40 whose
      stated date is three years before it was recorded, the target then lowered to 40, a
      delivery of 1 with a stored evidence file (``document``);
    - ``historical`` "Nieuw zwembad": registered after its due date, whose deadline was then
      moved;
    - ``parent`` "Wijkaanpak" (target 10, nothing of its own) in two parts: ``lamps``
      "Lantaarns" (weight 3, target 4, a delivery of 2 of asset "Lantaarnpaal 12" that Baarn's
      confirmer confirms with an inspection report) and ``bench`` "Bankje" (weight 1, target 1,
      a delivery of 1 the confirmer disputes): roll-up (3 × 50 % + 1 × 100 %) / 4 = 62.5 %;
    - ``trees`` "Bomen" (target 5), delivered by a verified batch of two leaves (2 trees; 3
      trees of asset "Boom 9"), the first confirmed; and a one-leaf batch whose file nobody
      holds (:data:`UNVERIFIABLE_ROOT`);
    - hostile texts: ``script`` titled :data:`SCRIPT_TITLE` (also its description and unit)
      and ``long`` with :data:`LONG_TITLE_WORD` as title and :data:`LONG_WORD` as description,
      theme and delivery note.
    """

    api_url: str
    chain: LedgerChain
    relaxed: int
    historical: int
    document: bytes  # an evidence file stored by this server, cited by a delivery of ``relaxed``
    parent: int
    lamps: int
    bench: int
    trees: int
    batch: dict[str, Any]  # the answer of POST /staff/batches: root, file_sha256, leaves with leaf_hash, tx
    script: int
    long: int
    baarn: int


@contextmanager
def seeded_ledger(data_dir: Path) -> Iterator[Seeded]:
    """Deploy a fresh ledger on a throwaway anvil, run the stack in-process with its data in
    ``data_dir``, write the records of :class:`Seeded` through the staff API and the chain,
    and yield once everything is indexed."""
    keys = {"GM0308": (ANVIL_KEYS[6], ANVIL_KEYS[7]), "CL-GOB": (ANVIL_KEYS[8], ANVIL_KEYS[9])}
    with throwaway_anvil() as rpc_url, InProcessStack(rpc_url, data_dir, ANVIL_KEYS[0], keys) as stack:
        api, auth = stack.api_url, {"Authorization": f"Bearer {stack.tokens['GM0308']}",
                                    "Prefer": "wait=30"}  # the write outbox answers 201 once confirmed
        now = int(time.time())

        def post(path: str, headers: dict[str, str] = auth, **kwargs: Any) -> dict[str, Any]:
            response = httpx.post(f"{api}/api/v1/staff/{path}", headers=headers, timeout=30, **kwargs)
            assert response.status_code == 201, response.text
            return response.json()

        relaxed = post("commitments", json={
            "external_ref": "e2e-relaxed", "title": "Honderd laadpalen", "target_quantity": 100, "unit": "laadpalen",
            "promised_at": PROMISED, "due_date": now + 60 * DAY,
        })["commitment_id"]
        post(f"commitments/{relaxed}/deliveries", data={
            "quantity": "40", "delivered_at": str(now - 3 * 365 * DAY - 3_600), "evidence_sha256": "ab" * 32,
        })
        post(f"commitments/{relaxed}/amendments",
             json={"expected_amendment_count": 0, "target_quantity": 40, "reason": "Minder budget"})
        document = b"Opleverrapport laadpaal 41\n"
        post(f"commitments/{relaxed}/deliveries", data={"quantity": "1", "delivered_at": str(now - DAY)},
             files={"evidence": ("rapport.txt", document, "text/plain")})
        historical = post("commitments", json={
            "external_ref": "e2e-historical", "title": "Nieuw zwembad", "target_quantity": 1, "unit": "zwembad",
            "promised_at": PROMISED, "due_date": PROMISED + 200 * DAY,
        })["commitment_id"]
        post(f"commitments/{historical}/amendments",
             json={"expected_amendment_count": 0, "due_date": now + 400 * DAY, "reason": "Vertraagd"})

        chain = LedgerChain(rpc_url, stack.deployment)
        baarn = stack.municipality_ids["GM0308"]
        ensure_confirmer(chain, keys["GM0308"][0], baarn, CONFIRMER)
        inspector = {"Authorization": f"Bearer {issue_token(stack.settings.staff_keys_file, baarn, CONFIRMER_KEY, ['confirmer'])}",
                     "Prefer": "wait=30"}
        terms = {"promised_at": now - 10 * DAY, "due_date": now + 60 * DAY}
        parent = post("commitments", json={"external_ref": "e2e-wijk", "title": "Wijkaanpak", "target_quantity": 10,
                                           "unit": "projecten", **terms})["commitment_id"]
        lamps = post("commitments", json={"external_ref": "e2e-wijk-a", "title": "Lantaarns", "target_quantity": 4,
                                          "unit": "lantaarns", "parent_id": parent, "weight": 3, **terms})["commitment_id"]
        bench = post("commitments", json={"external_ref": "e2e-wijk-b", "title": "Bankje", "target_quantity": 1,
                                          "unit": "bankje", "parent_id": parent, "weight": 1, **terms})["commitment_id"]
        trees = post("commitments", json={"external_ref": "e2e-bomen", "title": "Bomen", "target_quantity": 5,
                                          "unit": "bomen", **terms})["commitment_id"]
        lamp = post(f"commitments/{lamps}/deliveries", data={
            "quantity": "2", "delivered_at": str(now - DAY), "evidence_sha256": "d2" * 32, "asset_ref": "Lantaarnpaal 12",
        })["delivery_id"]
        seat = post(f"commitments/{bench}/deliveries",
                    data={"quantity": "1", "delivered_at": str(now - DAY), "evidence_sha256": "d3" * 32})["delivery_id"]
        post(f"deliveries/{lamp}/confirmation", headers=inspector, json={"evidence_hash": INSPECTION})
        post(f"deliveries/{seat}/dispute", headers=inspector, json={"reason": "Geen bankje gevonden op de Brink"})

        script = post("commitments", json={
            "external_ref": "e2e-script", "title": SCRIPT_TITLE, "description": f"{SCRIPT_TITLE} <img src=x onerror=alert(2)>",
            "theme": "<b>thema</b>", "target_quantity": 3, "unit": "<i>u</i>", **terms,
        })["commitment_id"]
        long = post("commitments", json={
            "external_ref": "e2e-" + "y" * 60, "title": LONG_TITLE_WORD, "description": LONG_WORD,
            "theme": LONG_WORD[:120], "target_quantity": 2, "unit": "z" * 32, **terms,
        })["commitment_id"]
        post(f"commitments/{long}/deliveries", data={
            "quantity": "1", "delivered_at": str(now - DAY), "evidence_sha256": "e4" * 32, "note": LONG_WORD,
            "evidence_uri": "https://example.org/" + "p" * 300,
        })

        stack.wait_indexed()  # a batch's rows are checked against the index
        batch = post("batches", json={"municipality_id": baarn, "deliveries": [
            {"commitment_id": trees, "quantity": 2, "delivered_at": now - 2 * DAY, "evidence_hashes": ["0x" + "b1" * 32],
             "note": "Eerste rij"},
            {"commitment_id": trees, "quantity": 3, "delivered_at": now - DAY, "evidence_hashes": ["0x" + "b2" * 32],
             "external_ref": "rij-2", "asset_ref": "Boom 9"},
        ]})
        chain.send("anchorBatch", [(baarn, bytes.fromhex(UNVERIFIABLE_ROOT[2:]), 1, bytes.fromhex(UNVERIFIABLE_FILE[2:]),
                                    "https://example.org/bankjes.json")], keys["GM0308"][1])
        stack.wait_indexed()  # a verdict on a leaf needs the batch in the index
        post(f"batches/{batch['root']}/leaves/{batch['leaves'][0]['leaf_hash']}/confirmation", headers=inspector,
             json={"evidence_hash": None})
        stack.wait_indexed()
        yield Seeded(api, chain, relaxed, historical, document, parent, lamps, bench, trees, batch, script, long, baarn)


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """:func:`seeded_ledger`, once per session."""
    with seeded_ledger(tmp_path_factory.mktemp("seeded")) as ledger:
        yield ledger
