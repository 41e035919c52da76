"""The citizens' site in real Chromium (Debian's package; Playwright drives it): the list,
a commitment page and the document check, on the imported real data; and the v2 facts in
plain words (both clocks, both sets of terms) on a small seeded ledger of its own."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from typing import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bench.anvil import throwaway_anvil
from scripts.stack import InProcessStack
from tests.conftest import ANVIL_KEYS
from tests.e2e.conftest import ImportedSystem

DAY = 86_400
PROMISED = 1_655_071_200  # 13 June 2022, 00:00 in Baarn

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Browser:
    if not shutil.which("chromium"):
        pytest.fail("Debian's chromium is not installed: `make test` installs it (target `browser`)")
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Page:
    context = browser.new_context(locale="nl-NL")
    page = context.new_page()
    yield page
    context.close()


def test_list_shows_the_commitments_with_their_total(imported: ImportedSystem, page: Page) -> None:
    baarn = imported.stack.municipality_ids["GM0308"]
    page.goto(f"{imported.stack.api_url}/?municipality_id={baarn}")
    items = page.locator("#commitment-list > li")
    expect(items.first).to_be_visible()
    assert items.count() == 20
    expect(page.locator("#result-count")).to_contain_text("131")


def test_commitment_page_puts_promise_and_proof_side_by_side(imported: ImportedSystem, page: Page) -> None:
    api = imported.stack.api_url
    chile = imported.stack.municipality_ids["CL-GOB"]
    listed = httpx.get(f"{api}/api/v1/commitments", params={"municipality_id": chile, "status": "in_progress", "limit": 100}).json()["data"]
    listed += httpx.get(f"{api}/api/v1/commitments", params={"municipality_id": chile, "status": "overdue", "limit": 100}).json()["data"]
    delivered = next(c for c in listed if int(c["delivered_quantity"]) > 0)
    detail = httpx.get(f"{api}/api/v1/commitments/{delivered['id']}").json()

    page.goto(f"{api}/commitments/{delivered['id']}")
    expect(page.locator("#commitment-title")).to_have_text(detail["title"])
    first_delivery = detail["deliveries"][0]
    expect(page.locator("#deliveries")).to_contain_text(first_delivery["evidence"][0]["sha256"][2:])
    expect(page.locator("#timeline")).to_contain_text(first_delivery["recorded"]["tx_hash"])


def test_document_check_says_when_a_document_is_not_in_the_ledger(imported: ImportedSystem, page: Page, tmp_path) -> None:
    document = tmp_path / "unknown.txt"
    document.write_text("Not cited by any delivery.\n")
    page.goto(f"{imported.stack.api_url}/check?lang=en")
    page.locator("#check-file").set_input_files(str(document))
    expect(page.locator("#check-result")).to_contain_text("Not found in the ledger.")


# ------------------------------------------------------------------ v2 facts in plain words


@dataclass
class Seeded:
    """A small ledger of its own: ``relaxed`` (100 promised, 40 delivered with a delivery
    recorded three years after the date it states, then the target lowered to 40) and
    ``historical`` (registered after its due date, whose deadline was then moved)."""

    api_url: str
    relaxed: int
    historical: int
    document: bytes  # an evidence file stored by this server, cited by a delivery of ``relaxed``


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """On an anvil of its own: its dates are relative to the wall clock, which must be the
    chain's clock too (other modules move the shared chain's clock forward)."""
    keys = {"GM0308": (ANVIL_KEYS[6], ANVIL_KEYS[7]), "CL-GOB": (ANVIL_KEYS[8], ANVIL_KEYS[9])}
    with throwaway_anvil() as rpc_url, InProcessStack(rpc_url, tmp_path_factory.mktemp("seeded"), ANVIL_KEYS[0], keys) as stack:
        api, auth = stack.api_url, {"Authorization": f"Bearer {stack.tokens['GM0308']}"}
        now = int(time.time())

        def post(path: str, **kwargs: object) -> dict:
            response = httpx.post(f"{api}/api/v1/staff/{path}", headers=auth, timeout=30, **kwargs)
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
        stack.wait_indexed()
        yield Seeded(api, relaxed, historical, document)


def test_the_list_says_when_a_promise_was_made_and_recorded_and_flags_relaxed_terms(seeded: Seeded, page: Page) -> None:
    page.goto(f"{seeded.api_url}/?lang=en")
    page.get_by_label("Only commitments with deliveries recorded late").check()
    page.get_by_role("button", name="Show results").click()
    expect(page.locator("#result-count")).to_have_text("1–1 of 1")
    card = page.locator("#commitment-list > li")
    expect(card).to_contain_text("Honderd laadpalen")
    expect(card).to_contain_text("Promised on June 13, 2022")
    expect(card).to_contain_text("recorded on")
    expect(card).to_contain_text("Met only because the terms were relaxed")
    expect(card).to_contain_text("1 delivery recorded late")  # of two: the other was recorded a day after its date
    expect(card).to_contain_text("Status as proven on chain")
    assert "recorded_late=true" in page.url

    page.goto(f"{seeded.api_url}/?lang=en&amended_after_due_date=true")
    expect(page.locator("#result-count")).to_have_text("1–1 of 1")
    expect(page.locator("#f-amended-after-due")).to_be_checked()
    expect(page.locator("#commitment-list > li")).to_contain_text("Historical record: registered after its due date")


def test_the_commitment_page_shows_the_backdated_delivery_and_the_relaxed_terms_in_words(seeded: Seeded, page: Page) -> None:
    page.goto(f"{seeded.api_url}/commitments/{seeded.relaxed}?lang=en")
    expect(page.locator("#commitment-title")).to_have_text("Honderd laadpalen")
    expect(page.locator("#relaxed")).to_contain_text("Met only because the terms were relaxed")
    expect(page.locator("#relaxed")).to_contain_text("Under the terms as first promised (100\u00a0laadpalen")
    expect(page.locator("#relaxed")).to_contain_text("this commitment is: In progress")
    expect(page.locator("#promise")).to_contain_text("Promised on")
    expect(page.locator("#promise")).to_contain_text("June 13, 2022")
    expect(page.locator("#amendments")).to_contain_text("Changed: target")
    expect(page.locator("#amendments")).to_contain_text("Target lowered")
    delivery = page.locator("#deliveries > li").first
    expect(delivery).to_contain_text("recorded 3 years after the date it states")
    expect(page.locator("#deliveries > li").nth(1)).not_to_contain_text("after the date it states")
    expect(delivery).to_contain_text("Stated date")
    expect(delivery).to_contain_text("Recorded on")
    expect(page.locator("#proof-body")).to_contain_text("Status as reported")
    expect(page.locator("#proof-body")).to_contain_text("Status against the original terms")
    expect(page.locator("#c-admin")).to_contain_text("The admin account has not changed")


def test_a_historical_record_and_a_missed_deadline_moved_are_named(seeded: Seeded, page: Page) -> None:
    page.goto(f"{seeded.api_url}/commitments/{seeded.historical}?lang=en")
    expect(page.locator("#historical")).to_contain_text("only entered in the ledger on")
    expect(page.locator("#c-flags")).to_contain_text("Historical record: registered after its due date")
    expect(page.locator("#amendments")).to_contain_text("Deadline moved after it was missed")
    expect(page.locator("#amendments")).to_contain_text("Changed: due date")


def test_the_same_facts_read_in_dutch(seeded: Seeded, page: Page) -> None:
    page.goto(f"{seeded.api_url}/commitments/{seeded.relaxed}?lang=nl")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.locator("#relaxed")).to_contain_text("Alleen gehaald doordat de afspraak is versoepeld")
    expect(page.locator("#deliveries > li").first).to_contain_text("3 jaar na de opgegeven datum vastgelegd")
    expect(page.locator("#promise")).to_contain_text("Beloofd op13 juni 2022")
    expect(page.locator("#proof-body")).to_contain_text("Status zoals bewezen op de keten")


def test_document_check_hashes_in_the_browser_and_finds_the_delivery(seeded: Seeded, page: Page, tmp_path) -> None:
    detail = httpx.get(f"{seeded.api_url}/api/v1/commitments/{seeded.relaxed}").json()
    [cited] = [d for d in detail["deliveries"] if d["evidence"][0]["stored"]]
    sha = cited["evidence"][0]["sha256"]
    evidence = httpx.get(f"{seeded.api_url}/api/v1/evidence/{sha}")
    assert evidence.content == seeded.document
    document = tmp_path / "rapport.txt"
    document.write_bytes(evidence.content)

    page.goto(f"{seeded.api_url}/check")
    page.locator("#check-file").set_input_files(str(document))
    expect(page.locator("#check-hash")).to_contain_text(sha[2:])
    expect(page.locator("#check-result")).to_contain_text(detail["title"])
