"""The citizens' site in real Chromium (Debian's package; Playwright drives it): the list,
a commitment page and the document check, on the imported real data."""

from __future__ import annotations

import shutil

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.conftest import ImportedSystem

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


def test_document_check_hashes_in_the_browser_and_finds_the_delivery(imported: ImportedSystem, page: Page, tmp_path) -> None:
    api = imported.stack.api_url
    chile = imported.stack.municipality_ids["CL-GOB"]
    listed = httpx.get(f"{api}/api/v1/commitments", params={"municipality_id": chile, "limit": 100}).json()["data"]
    delivered = next(c for c in listed if int(c["delivered_quantity"]) > 0)
    detail = httpx.get(f"{api}/api/v1/commitments/{delivered['id']}").json()
    sha = detail["deliveries"][0]["evidence"][0]["sha256"]
    evidence = httpx.get(f"{api}/api/v1/evidence/{sha}")
    assert evidence.status_code == 200
    document = tmp_path / "evidence.json"
    document.write_bytes(evidence.content)

    page.goto(f"{api}/check")
    page.locator("#check-file").set_input_files(str(document))
    expect(page.locator("#check-hash")).to_contain_text(sha[2:])
    expect(page.locator("#check-result")).to_contain_text(detail["title"])


def test_document_check_says_when_a_document_is_not_in_the_ledger(imported: ImportedSystem, page: Page, tmp_path) -> None:
    document = tmp_path / "unknown.txt"
    document.write_text("Not cited by any delivery.\n")
    page.goto(f"{imported.stack.api_url}/check?lang=en")
    page.locator("#check-file").set_input_files(str(document))
    expect(page.locator("#check-result")).to_contain_text("Not found in the ledger.")
