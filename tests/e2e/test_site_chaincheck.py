"""The chain check of a commitment page ("Check it yourself against the chain",
static/js/chaincheck.js with chain.js and rules.js) in real Chromium (Debian's package, driven
by Playwright), on a small ledger of its own: the reader's browser reads the commitment's
events from the chain, checks the batch files against their anchors, recomputes the figures
with the ledger's rules and compares them with the page.

- a commitment with a revoked delivery, an amendment lowering its target, a delivery recorded
  late and one naming an asset matches the chain at the latest block (nl, en), every event
  listed with its block and transaction; with an explorer configured they are links;
- a batched commitment (one leaf revoked) matches with its batch file verified; a batch file
  served with one byte changed counts nothing, and every difference that makes is listed;
- the API's index tampered (delivered quantity 999 in SQLite): the one difference is listed
  with both values, in both languages;
- events newer than the page are listed apart and the page still matches at its own block;
- a provider refusing large log ranges (halved), the wrong chain, an unreachable node and a
  node without history: readable outcomes, the button usable again, never a spinner;
- no public RPC URL: no button; a hostile title and reason are shown as text, never run;
- no WCAG 2.1 A/AA violation in the result."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect

from ledger.chain import LedgerChain
from scripts.stack import InProcessStack
from tests.conftest import ANVIL_KEYS
from tests.e2e.site_browser import axe_violations, describe_violations, new_tab

DAY = 86_400
PROMISED = 1_655_071_200  # 13 June 2022, 00:00 in Baarn
DELIVERED = 1_740_830_400  # 1 March 2025, 12:00 UTC
CHECK_MS = 60_000  # ethers loads, the log is read, batch files fetched: generous
HOSTILE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'


def sha(data: bytes) -> str:
    return "0x" + hashlib.sha256(data).hexdigest()


@dataclass
class Ledger:
    """``chargers`` "Honderd laadpalen" (target 100, amended to 60; delivery 1: 40; delivery 2:
    5, revoked; delivery 3: 25 stated more than a year before it was recorded; delivery 4: 1
    of asset "Laadpaal 7": 66 delivered, met under the current terms only); ``trees`` "Bomen"
    (target 5) delivered in one batch of two leaves (2 and 3 trees; the second revoked);
    ``hostile`` titled :data:`HOSTILE` and withdrawn with it as reason; ``benches`` "Bankjes"
    (target 3), for deliveries made while a page is open."""

    stack: InProcessStack
    rpc_url: str
    data_dir: Path
    chargers: int
    trees: int
    hostile: int
    benches: int
    batch: dict[str, Any]
    tx_hashes: dict[str, str]
    post: Callable[..., dict[str, Any]]

    @property
    def api_url(self) -> str:
        return self.stack.api_url

    def head(self) -> int:
        """Wait for the index to reach the chain head; that block number."""
        return self.stack.wait_indexed()


@pytest.fixture(scope="module")
def ledger(rpc_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    keys = {"GM0308": (ANVIL_KEYS[6], ANVIL_KEYS[7]), "CL-GOB": (ANVIL_KEYS[8], ANVIL_KEYS[9])}
    data_dir = tmp_path_factory.mktemp("chaincheck")
    with InProcessStack(rpc_url, data_dir, ANVIL_KEYS[0], keys) as stack:
        api, auth = stack.api_url, {"Authorization": f"Bearer {stack.tokens['GM0308']}",
                                    "Prefer": "wait=30"}  # the write outbox answers 201 once confirmed
        now = int(time.time())

        def post(path: str, **kwargs: Any) -> dict[str, Any]:
            response = httpx.post(f"{api}/api/v1/staff/{path}", headers=auth, timeout=30, **kwargs)
            assert response.status_code == 201, response.text
            return response.json()

        txs: dict[str, str] = {}
        chargers = post("commitments", json={
            "external_ref": "cc-laadpalen", "title": "Honderd laadpalen", "target_quantity": 100, "unit": "laadpalen",
            "promised_at": PROMISED, "due_date": now + 60 * DAY,
        })["commitment_id"]
        txs["first"] = post(f"commitments/{chargers}/deliveries", data={
            "quantity": "40", "delivered_at": str(DELIVERED), "evidence_sha256": sha(b"rapport 1")})["tx"]["tx_hash"]
        double = post(f"commitments/{chargers}/deliveries", data={
            "quantity": "5", "delivered_at": str(DELIVERED), "evidence_sha256": sha(b"rapport 2")})["delivery_id"]
        txs["revocation"] = post(f"deliveries/{double}/revocation", json={"reason": "Dubbel geteld"})["tx"]["tx_hash"]
        txs["amendment"] = post(f"commitments/{chargers}/amendments", json={
            "expected_amendment_count": 0, "target_quantity": 60, "reason": "Minder budget"})["tx"]["tx_hash"]
        post(f"commitments/{chargers}/deliveries", data={
            "quantity": "25", "delivered_at": str(now - 400 * DAY), "evidence_sha256": sha(b"rapport 3")})
        post(f"commitments/{chargers}/deliveries", data={
            "quantity": "1", "delivered_at": str(now - DAY), "evidence_sha256": sha(b"rapport 4"), "asset_ref": "Laadpaal 7"})
        trees = post("commitments", json={
            "external_ref": "cc-bomen", "title": "Bomen", "target_quantity": 5, "unit": "bomen",
            "promised_at": now - 10 * DAY, "due_date": now + 60 * DAY,
        })["commitment_id"]
        hostile = post("commitments", json={
            "external_ref": "cc-markup", "title": HOSTILE, "target_quantity": 1, "unit": "stuk",
            "promised_at": PROMISED, "due_date": now + 60 * DAY,
        })["commitment_id"]
        post(f"commitments/{hostile}/withdrawal", json={"reason": HOSTILE})
        benches = post("commitments", json={
            "external_ref": "cc-bankjes", "title": "Bankjes", "target_quantity": 3, "unit": "bankjes",
            "promised_at": now - 10 * DAY, "due_date": now + 60 * DAY,
        })["commitment_id"]
        stack.wait_indexed()  # a batch's rows are checked against the index
        batch = post("batches", json={"municipality_id": stack.municipality_ids["GM0308"], "deliveries": [
            {"commitment_id": trees, "quantity": 2, "delivered_at": DELIVERED, "evidence_hashes": [sha(b"rij 1")], "note": "Eerste rij"},
            {"commitment_id": trees, "quantity": 3, "delivered_at": DELIVERED, "evidence_hashes": [sha(b"rij 2")], "note": "Tweede rij"},
        ]})
        stack.wait_indexed()
        post(f"batches/{batch['root']}/leaves/{batch['leaves'][1]['leaf_hash']}/revocation", json={"reason": "Niet geplant"})
        stack.wait_indexed()
        yield Ledger(stack, rpc_url, data_dir, chargers, trees, hostile, benches, batch, txs, post)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A Dutch tab that fails the test on a script error, CSP violation or dialog (an alert
    from a hostile title would be one)."""
    context, tab, watch = new_tab(browser, viewport={"width": 1280, "height": 900})
    yield tab
    context.close()
    assert watch.errors == [], watch.errors


def run_check(page: Page) -> None:
    """Click the chain check's button and wait until it is usable again (the check ended)."""
    button = page.locator("#chain-check-run")
    expect(button).to_be_visible()
    button.click()
    expect(page.locator("#chain-check-result li[data-step='chain']")).to_be_visible(timeout=CHECK_MS)
    expect(button).to_be_enabled(timeout=CHECK_MS)
    expect(page.locator("#chain-check-result li.run")).to_have_count(0)


def step(page: Page, name: str) -> Any:
    return page.locator(f"#chain-check-result li[data-step='{name}']")


def expect_all_ok(page: Page, *, batches: str = "skip") -> None:
    for name in ("chain", "contract", "events", "compare"):
        expect(step(page, name)).to_have_class("ok")
    expect(step(page, "batches")).to_have_class(batches)


# ------------------------------------------------------------------ it matches


def test_a_commitment_with_a_revocation_an_amendment_and_a_late_record_matches_the_chain(ledger: Ledger, page: Page) -> None:
    head = ledger.head()
    page.goto(f"{ledger.api_url}/commitments/{ledger.chargers}?lang=nl")
    expect(page.locator("#chain-check-result")).to_have_attribute("role", "status")
    run_check(page)
    expect_all_ok(page)
    expect(step(page, "chain")).to_contain_text("✓ Klopt")
    expect(step(page, "chain")).to_contain_text(f"{ledger.rpc_url} is keten 31337")
    expect(step(page, "contract")).to_contain_text("antwoordt versie 2.1.0")
    expect(step(page, "batches")).to_contain_text("– Niet van toepassing")
    expect(step(page, "compare")).to_have_text(
        f"✓ Klopt Vergelijking met deze pagina Klopt met de keten op blok {head}: 66 van 60 laadpalen geleverd, "
        "status ‘Geleverd’. Nagerekend met de regels van het register en vergeleken: velden 19, leveringen 4, wijzigingen 1.")
    rows = page.locator(".cc-events tbody tr")
    expect(rows).to_have_count(7)  # registered, 2 recorded, revoked, amended, 2 recorded
    expect(page.locator(".cc-events tbody tr[data-event='DeliveryRevoked']")).to_contain_text(ledger.tx_hashes["revocation"])
    expect(page.locator(".cc-events tbody tr[data-event='DeliveryRevoked']")).to_contain_text("levering 2, reden: Dubbel geteld")
    expect(page.locator(".cc-events tbody tr[data-event='CommitmentAmended']")).to_contain_text("wijziging 1: Minder budget")
    expect(page.locator("#chain-check-run")).to_have_text("Controleer opnieuw")
    expect(page.locator(".cc-events a")).to_have_count(0)  # no explorer configured: references as text


def test_the_check_in_english_and_with_an_explorer_links_blocks_and_transactions(ledger: Ledger, page: Page) -> None:
    head = ledger.head()
    page.goto(f"{ledger.api_url}/commitments/{ledger.chargers}?lang=en")
    expect(page.locator("body")).to_have_attribute("data-explorer-url", "")
    page.evaluate("document.body.dataset.explorerUrl = 'https://explorer.example/'")  # as an operator would set it
    run_check(page)
    expect_all_ok(page)
    expect(step(page, "compare")).to_contain_text(f"✓ Matches Comparison with this page Matches the chain at block {head}: "
                                                  "66 of 60 laadpalen delivered, status ‘Delivered’.")
    page.locator(".cc-events summary").click()
    revoked = page.locator(".cc-events tbody tr[data-event='DeliveryRevoked']")
    tx = ledger.tx_hashes["revocation"]
    expect(revoked.get_by_role("link", name=tx, exact=True)).to_have_attribute("href", f"https://explorer.example/tx/{tx}")
    block = revoked.get_attribute("data-block")
    expect(revoked.get_by_role("link", name=block, exact=True)).to_have_attribute("href", f"https://explorer.example/block/{block}")


def test_a_batched_commitment_matches_with_its_batch_file_verified(ledger: Ledger, page: Page) -> None:
    head = ledger.head()
    page.goto(f"{ledger.api_url}/commitments/{ledger.trees}?lang=en")
    run_check(page)
    expect_all_ok(page, batches="ok")
    root = ledger.batch["root"]
    item = page.locator(f"#chain-check-result li[data-root='{root}']")
    expect(item).to_have_class("ok")
    expect(item).to_contain_text("file matches (2 deliveries, 2 for this commitment)")
    expect(step(page, "batches")).to_contain_text("Fetched the batch file from this site and recomputed it")
    expect(step(page, "compare")).to_contain_text(f"Matches the chain at block {head}: 2 of 5 bomen delivered, "
                                                  "status ‘In progress’")
    expect(page.locator(".cc-events tbody tr[data-event='BatchedDeliveryRevoked']")).to_contain_text(
        "delivery 2 of batch")


def test_a_batch_file_changed_by_one_byte_counts_nothing_and_the_differences_are_listed(ledger: Ledger, page: Page) -> None:
    root = ledger.batch["root"]

    def edited(route: Route) -> None:
        response = route.fetch()
        body = response.body().replace(b'"2"', b'"4"', 1)
        route.fulfill(response=response, body=body)

    page.route(f"**/api/v1/batches/{root}/file", edited)
    page.goto(f"{ledger.api_url}/commitments/{ledger.trees}?lang=en")
    run_check(page)
    item = page.locator(f"#chain-check-result li[data-root='{root}']")
    expect(item).to_have_class("warn")
    expect(item).to_contain_text(f"the file's SHA-256 is 0x")
    expect(item).to_contain_text(f"the anchored one {ledger.batch['file_sha256']}; counts nothing.")
    expect(step(page, "batches")).to_have_class("warn")
    expect(step(page, "compare")).to_have_class("fail")
    diffs = page.locator("#chain-check-result .cc-diff")
    expect(page.locator(".cc-diff[data-field='delivered_quantity']")).to_have_text(
        "Delivered: this page says 2, the chain says 0.")
    expect(page.locator(".cc-diff[data-field='status']")).to_have_text(
        "Status: this page says In progress, the chain says Pending.")
    expect(page.locator(".cc-diff[data-field='delivery.(presence)']")).to_have_count(2)
    expect(page.locator(".cc-diff[data-field='delivery.(presence)']").first).to_contain_text(
        "on this page, but not on the chain.")
    expect(step(page, "compare")).to_contain_text(f"{diffs.count()} differences between this page and the chain")


def test_a_tampered_index_is_listed_with_both_values(ledger: Ledger, page: Page) -> None:
    ledger.head()
    database = ledger.data_dir / "ledger.sqlite3"
    with sqlite3.connect(database) as db:
        (original,) = db.execute("SELECT delivered_quantity FROM commitments WHERE id = ?", (ledger.chargers,)).fetchone()
    assert str(original) == "66"
    try:
        page.goto(f"{ledger.api_url}/commitments/{ledger.chargers}?lang=nl")
        run_check(page)
        expect_all_ok(page)  # the page as served before the tampering
        with sqlite3.connect(database) as db:
            db.execute("UPDATE commitments SET delivered_quantity = '999' WHERE id = ?", (ledger.chargers,))
        page.reload()
        run_check(page)
        for name in ("chain", "contract", "events"):
            expect(step(page, name)).to_have_class("ok")
        compare = step(page, "compare")
        expect(compare).to_have_class("fail")
        expect(compare).to_contain_text("✗ Klopt niet")
        expect(compare).to_contain_text("1 verschil tussen deze pagina en de keten op blok")
        expect(page.locator("#chain-check-result .cc-diff")).to_have_count(1)
        expect(page.locator(".cc-diff[data-field='delivered_quantity']")).to_have_text(
            "Geleverd: deze pagina zegt 999, de keten zegt 66.")
        page.goto(f"{ledger.api_url}/commitments/{ledger.chargers}?lang=en")
        run_check(page)
        expect(page.locator(".cc-diff[data-field='delivered_quantity']")).to_have_text(
            "Delivered: this page says 999, the chain says 66.")
    finally:
        with sqlite3.connect(database) as db:
            db.execute("UPDATE commitments SET delivered_quantity = ? WHERE id = ?", (str(original), ledger.chargers))


def test_events_newer_than_the_page_are_listed_apart_and_the_page_matches_at_its_block(ledger: Ledger, page: Page) -> None:
    indexed = ledger.head()
    page.goto(f"{ledger.api_url}/commitments/{ledger.benches}?lang=en")
    expect(page.locator("#chain-check")).to_have_attribute("data-indexed-block", str(indexed))
    tx = ledger.post(f"commitments/{ledger.benches}/deliveries", data={
        "quantity": "1", "delivered_at": str(int(time.time()) - DAY), "evidence_sha256": sha(b"bankje")})["tx"]
    run_check(page)
    events = step(page, "events")
    expect(events).to_have_class("warn")
    expect(events).to_contain_text(f"in blocks {ledger.stack.deployment.deploy_block} to {tx['block_number']} (the latest block)")
    expect(events).to_contain_text(f"1 of them are newer than this page (after block {indexed})")
    expect(step(page, "compare")).to_have_class("ok")
    expect(step(page, "compare")).to_contain_text(f"Matches the chain at block {indexed}: 0 of 3 bankjes delivered")
    newer = page.locator(".cc-events").nth(1)
    expect(newer.locator("summary")).to_have_text("Newer than this page (1)")
    expect(newer.locator("tbody tr[data-event='DeliveryRecorded']")).to_contain_text(tx["tx_hash"])
    ledger.head()


# ------------------------------------------------------------------ the node and the settings


def _rpc_route(page: Page, ledger: Ledger, answer: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
    """Answer JSON-RPC requests to the ledger's node with ``answer(request)`` when it gives a
    response object, else pass them on."""
    def handle(route: Route) -> None:
        request = json.loads(route.request.post_data or "{}")
        response = answer(request) if isinstance(request, dict) else None
        if response is None:
            route.continue_()
        else:
            route.fulfill(status=200, content_type="application/json", headers={"Access-Control-Allow-Origin": "*"},
                          body=json.dumps({"jsonrpc": "2.0", "id": request.get("id"), **response}))

    page.route(re.compile("^" + re.escape(ledger.rpc_url) + "/?$"), handle)


def test_a_provider_refusing_large_log_ranges_gets_halved_ranges_and_still_matches(ledger: Ledger, page: Page) -> None:
    head = ledger.head()
    spans: list[int] = []

    def refuse_wide(request: dict[str, Any]) -> dict[str, Any] | None:
        if request.get("method") != "eth_getLogs":
            return None
        params = request["params"][0]
        span = int(params["toBlock"], 16) - int(params["fromBlock"], 16) + 1
        spans.append(span)
        if span > 4:
            return {"error": {"code": -32005, "message": "query exceeds max block range 4"}}
        return None

    _rpc_route(page, ledger, refuse_wide)
    page.goto(f"{ledger.api_url}/commitments/{ledger.chargers}?lang=en")
    run_check(page)
    expect_all_ok(page)
    expect(step(page, "compare")).to_contain_text(f"Matches the chain at block {head}")
    assert max(spans) > 4 and min(spans) <= 4


def test_the_wrong_chain_is_named_and_nothing_is_compared(ledger: Ledger, page: Page) -> None:
    _rpc_route(page, ledger, lambda r: {"result": "0x1"} if r.get("method") == "eth_chainId" else None)
    page.goto(f"{ledger.api_url}/commitments/{ledger.chargers}?lang=en")
    run_check(page)
    expect(step(page, "chain")).to_have_class("fail")
    expect(step(page, "chain")).to_have_text("✗ Does not match Chain The node answers as chain 1, but this ledger is on "
                                             "chain 31337. Nothing was compared.")
    for name in ("contract", "events", "batches", "compare"):
        expect(step(page, name)).to_have_text(re.compile(r"^– Not run .* Not run because of the problem above\.$"))
    expect(page.locator("#chain-check-run")).to_have_text("Check again")


def test_an_unreachable_node_is_said_in_words_and_the_check_can_run_again(ledger: Ledger, page: Page) -> None:
    pattern = re.compile("^" + re.escape(ledger.rpc_url) + "/?$")
    page.route(pattern, lambda route: route.abort("connectionrefused"))
    page.goto(f"{ledger.api_url}/commitments/{ledger.chargers}?lang=nl")
    run_check(page)
    expect(step(page, "chain")).to_have_class("fail")
    expect(step(page, "chain")).to_contain_text(f"{ledger.rpc_url} antwoordt niet: het knooppunt is onbereikbaar")
    expect(step(page, "chain")).to_contain_text("(CORS)")
    page.unroute(pattern)
    run_check(page)  # the node is back
    expect_all_ok(page)


def test_a_node_without_the_ledger_history_is_said_in_words(ledger: Ledger, page: Page) -> None:
    _rpc_route(page, ledger, lambda r: {"error": {"code": -32000, "message": "history has been pruned for this block"}}
               if r.get("method") == "eth_getLogs" else None)
    page.goto(f"{ledger.api_url}/commitments/{ledger.chargers}?lang=en")
    run_check(page)
    for name in ("chain", "contract"):
        expect(step(page, name)).to_have_class("ok")
    expect(step(page, "events")).to_have_class("fail")
    expect(step(page, "events")).to_contain_text("The node does not hold this ledger's old blocks (any more): "
                                                 "history has been pruned for this block.")
    expect(step(page, "compare")).to_have_class("skip")


def test_without_a_public_rpc_url_there_is_no_button(ledger: Ledger, page: Page) -> None:
    url = f"{ledger.api_url}/commitments/{ledger.chargers}?lang=en"

    def without_rpc(route: Route) -> None:
        response = route.fetch()
        route.fulfill(response=response, body=re.sub(r'data-rpc-url="[^"]*"', 'data-rpc-url=""', response.text()))

    page.route(url, without_rpc)
    page.goto(url)
    page.wait_for_load_state("networkidle")
    expect(page.locator("#chain-check-run")).to_be_hidden()
    expect(page.locator("#chain-check-result")).to_be_empty()


def test_a_hostile_title_and_reason_are_text_and_a_withdrawn_commitment_matches(ledger: Ledger, page: Page) -> None:
    page.goto(f"{ledger.api_url}/commitments/{ledger.hostile}?lang=en")
    run_check(page)
    expect_all_ok(page)
    expect(step(page, "compare")).to_contain_text("0 of 1 stuk delivered, status ‘Withdrawn’")
    withdrawn = page.locator(".cc-events tbody tr[data-event='CommitmentWithdrawn']")
    expect(withdrawn).to_contain_text(f"reason: {HOSTILE}")
    expect(page.locator("#chain-check-result img, #chain-check-result script")).to_have_count(0)


def test_the_result_has_no_wcag_violations(ledger: Ledger, browser: Browser) -> None:
    context, tab, watch = new_tab(browser, viewport={"width": 390, "height": 844}, bypass_csp=True, locale="en-GB")
    try:
        tab.goto(f"{ledger.api_url}/commitments/{ledger.trees}?lang=en")
        run_check(tab)
        tab.locator(".cc-events summary").first.click()
        violations = axe_violations(tab)
        assert violations == [], describe_violations(violations)
    finally:
        context.close()
    assert watch.errors == [], watch.errors
