"""The citizens' site in real Chromium (Debian's package; Playwright drives it): the list,
a commitment page and the document check, on the imported real data; the v2 facts in plain
words (both clocks, both sets of terms) and those of contract 2.1.0 (a second party's
confirmations and disputes, batched deliveries with their proof, a batch that cannot be
verified, sub-commitments and their weighted roll-up, assets) on a small seeded ledger of its
own, in both languages; every page without a script error and, for the 2.1.0 pages, with
unique ids, named links and controls, landmarks, headings in order and AA text contrast."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from dataclasses import dataclass
from typing import Any, Iterator

import httpx
import pytest
from eth_account import Account
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from bench.anvil import throwaway_anvil
from frontend.site import PAGES_DIR, STATIC_DIR
from ledger.chain import LedgerChain
from ledger.staff import issue_token
from scripts.admin import ensure_confirmer
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
def page(browser: Browser) -> Iterator[Page]:
    """A fresh Dutch browser tab; the test fails if a page threw or logged an error (a
    Content-Security-Policy violation, say) other than a failed request the page handles."""
    context = browser.new_context(locale="nl-NL")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(f"console: {message.text}")

    page.on("console", console)
    yield page
    context.close()
    assert errors == [], errors


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


def test_a_batched_delivery_revoked_by_a_later_snapshot_reads_as_such(imported: ImportedSystem, page: Page) -> None:
    api = imported.stack.api_url
    chile = imported.stack.municipality_ids["CL-GOB"]
    batched: list[dict] = []
    total = 1
    while len(batched) < total:
        listed = httpx.get(f"{api}/api/v1/deliveries", params={
            "municipality_id": chile, "kind": "batched", "limit": 100, "offset": len(batched)}).json()
        batched, total = batched + listed["data"], listed["count"] if listed["data"] else 0
    revoked = next(d for d in batched if d["revocation"])

    page.goto(f"{api}/commitments/{revoked['commitment_id']}?lang=en")
    card = page.locator(f"[id='delivery-{revoked['leaf_hash']}']")
    expect(card.locator("h4")).to_contain_text("Delivery in batch, leaf")
    expect(card.locator("h4")).to_contain_text("Revoked")
    expect(card).to_contain_text(revoked["revocation"]["reason"])
    expect(card).to_contain_text(f"delivery {revoked['leaf_index'] + 1:,} in the file")
    expect(card).not_to_contain_text("confirmed by a second party")  # it counts nothing: no review shown
    expect(page.locator(f"[id='batch-{revoked['batch_root']}']")).to_contain_text("Contents verified")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text(revoked["recorded"]["tx_hash"])  # the batch's anchor
    expect(timeline).to_contain_text(revoked["revocation"]["chain"]["tx_hash"])
    href = card.get_by_role("link", name="Merkle proof (JSON) to check on chain with verifyBatchedDelivery").get_attribute("href")
    proof = page.request.get(api + href)
    assert proof.status == 200
    assert (proof.json()["revoked"], proof.json()["leaf_hash"]) == (True, revoked["leaf_hash"])


def test_document_check_says_when_a_document_is_not_in_the_ledger(imported: ImportedSystem, page: Page, tmp_path) -> None:
    document = tmp_path / "unknown.txt"
    document.write_text("Not cited by any delivery.\n")
    page.goto(f"{imported.stack.api_url}/check?lang=en")
    page.locator("#check-file").set_input_files(str(document))
    expect(page.locator("#check-result")).to_contain_text("Not found in the ledger.")


# ------------------------------------------------------------------ v2 facts in plain words


CONFIRMER_KEY = ANVIL_KEYS[5]
CONFIRMER = Account.from_key(CONFIRMER_KEY).address  # Baarn's confirmer (an inspector)
INSPECTION = "0x" + "1a" * 32  # the confirmer's own evidence
UNVERIFIABLE_ROOT = "0x" + "c4" * 32  # a batch anchored with a file nobody holds
UNVERIFIABLE_FILE = "0x" + "f1" * 32


@dataclass
class Seeded:
    """A small ledger of its own: ``relaxed`` (100 promised, 40 delivered with a delivery
    recorded three years after the date it states, then the target lowered to 40) and
    ``historical`` (registered after its due date, whose deadline was then moved).

    Contract 2.1.0: ``parent`` "Wijkaanpak" (target 10, nothing of its own) in two parts,
    ``lamps`` "Lantaarns" (weight 3, target 4, a delivery of 2 naming asset "Lantaarnpaal 12"
    that Baarn's confirmer confirms with an inspection report) and ``bench`` "Bankje" (weight 1,
    target 1, a delivery of 1 the confirmer disputes): roll-up (3 × 50 % + 1 × 100 %) / 4 =
    62.5 %. ``trees`` "Bomen" (target 5) is delivered by a verified batch of two leaves (2 trees;
    3 trees of asset "Boom 9"), the first confirmed; and Baarn anchored a one-leaf batch whose
    file nobody holds (:data:`UNVERIFIABLE_ROOT`)."""

    api_url: str
    relaxed: int
    historical: int
    document: bytes  # an evidence file stored by this server, cited by a delivery of ``relaxed``
    chain: LedgerChain
    parent: int
    lamps: int
    bench: int
    trees: int
    batch: dict[str, Any]  # the answer of POST /staff/batches: root, file_sha256, leaves with leaf_hash


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """On an anvil of its own: its dates are relative to the wall clock, which must be the
    chain's clock too (other modules move the shared chain's clock forward)."""
    keys = {"GM0308": (ANVIL_KEYS[6], ANVIL_KEYS[7]), "CL-GOB": (ANVIL_KEYS[8], ANVIL_KEYS[9])}
    with throwaway_anvil() as rpc_url, InProcessStack(rpc_url, tmp_path_factory.mktemp("seeded"), ANVIL_KEYS[0], keys) as stack:
        api, auth = stack.api_url, {"Authorization": f"Bearer {stack.tokens['GM0308']}"}
        now = int(time.time())

        def post(path: str, headers: dict[str, str] = auth, **kwargs: object) -> dict:
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
        inspector = {"Authorization": f"Bearer {issue_token(stack.settings.staff_keys_file, baarn, CONFIRMER_KEY, ['confirmer'])}"}
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
        yield Seeded(api, relaxed, historical, document, chain, parent, lamps, bench, trees, batch)


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


# ------------------------------------------------------------------ contract 2.1.0 in plain words


def test_a_confirmed_delivery_names_its_confirmer_and_the_status_counting_only_confirmed_ones(
    seeded: Seeded, page: Page
) -> None:
    page.goto(f"{seeded.api_url}/commitments/{seeded.lamps}?lang=en")
    delivery = page.locator("#deliveries > li")
    expect(delivery).to_have_count(1)
    expect(delivery.locator(".review")).to_have_text("✓ Confirmed by a second party")
    expect(delivery.locator(".verdicts")).to_contain_text(f"Confirmed by {CONFIRMER} on")
    expect(delivery.locator(".verdicts")).to_contain_text(f"Their evidence: {INSPECTION}")
    expect(delivery).to_contain_text("Asset delivered")
    expect(delivery).to_contain_text("Lantaarnpaal 12")
    proof = page.locator("#proof-body")
    expect(proof).to_contain_text("Status counting confirmed deliveries only")
    expect(proof.locator("dt", has_text="Status counting confirmed deliveries only").locator("+ dd")).to_have_text("◐ In progress")
    expect(proof.locator("dt", has_text="Confirmed by a second party").locator("+ dd")).to_have_text("50% · 2 of 4 lantaarns")
    expect(proof).not_to_contain_text("Disputed")
    expect(page.locator("#timeline")).to_contain_text("Delivery confirmed")
    expect(page.locator("#timeline")).to_contain_text(f"Delivery {seeded.lamps * 1_000_000 + 1:,} confirmed by a second party.")


def test_a_disputed_delivery_shows_its_reason_in_dutch(seeded: Seeded, page: Page) -> None:
    page.goto(f"{seeded.api_url}/commitments/{seeded.bench}?lang=nl")
    delivery = page.locator("#deliveries > li")
    expect(delivery.locator(".review")).to_have_text("! Betwist door een tweede partij")
    expect(delivery.locator(".verdicts")).to_contain_text(f"Betwist door {CONFIRMER} op")
    expect(delivery.locator(".verdicts")).to_contain_text("Reden: Geen bankje gevonden op de Brink")
    proof = page.locator("#proof-body")
    # delivered as reported, but nothing a second party confirmed
    expect(proof.locator("dt", has_text="Status zoals gemeld").locator("+ dd")).to_have_text("✓ Geleverd")
    expect(proof.locator("dt", has_text="Status met alleen bevestigde leveringen").locator("+ dd")).to_have_text("○ Gepland")
    expect(proof.locator("dt", has_text="Betwist").locator("+ dd")).to_have_text("1\u00a0bankje")
    expect(page.locator("#timeline")).to_contain_text("Levering betwist")


def test_a_batched_delivery_links_its_leaf_to_a_proof_that_the_contract_accepts(seeded: Seeded, page: Page) -> None:
    root, (first, second) = seeded.batch["root"], seeded.batch["leaves"]
    page.goto(f"{seeded.api_url}/commitments/{seeded.trees}?lang=en")
    expect(page.locator("#deliveries > li")).to_have_count(2)
    leaf = page.locator(f"[id='delivery-{first['leaf_hash']}']")
    expect(leaf.locator("h4")).to_contain_text(f"Delivery in batch, leaf {first['leaf_hash'][:10]}…{first['leaf_hash'][-4:]}")
    expect(leaf).to_contain_text(first["leaf_hash"])
    expect(leaf).to_contain_text("delivery 1 in the file")
    expect(leaf).to_contain_text("Anchored on chain in a batch")
    expect(leaf.locator(".review")).to_have_text("✓ Confirmed by a second party")
    other = page.locator(f"[id='delivery-{second['leaf_hash']}']")
    expect(other).to_contain_text("delivery 2 in the file")
    expect(other.locator(".review")).to_have_text("○ Not (yet) confirmed by a second party")
    expect(other).to_contain_text("Boom 9")

    link = leaf.get_by_role("link", name="Merkle proof (JSON) to check on chain with verifyBatchedDelivery")
    response = page.request.get(seeded.api_url + link.get_attribute("href"))
    assert response.status == 200
    body = response.json()
    assert (body["root"], body["leaf_hash"], body["leaf_index"]) == (root, first["leaf_hash"], 0)
    assert body["proof"] == first["proof"]
    values = body["leaf"]
    included, leaf_hash, revoked = seeded.chain.call(
        "verifyBatchedDelivery", bytes.fromhex(root[2:]),
        (int(values["commitment_id"]), int(values["quantity"]), int(values["delivered_at"]),
         [bytes.fromhex(h[2:]) for h in values["evidence_hashes"]], values["evidence_uri"], values["note"],
         values["external_ref"], values["asset_ref"]),
        [bytes.fromhex(h[2:]) for h in body["proof"]])
    assert (included, "0x" + bytes(leaf_hash).hex(), revoked) == (True, first["leaf_hash"], False)

    card = page.locator("#batches > li")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Contents verified: the published file matches the root on chain")
    expect(card).to_contain_text(root)
    file = page.request.get(seeded.api_url + card.get_by_role("link", name="Open the batch file (JSON) stored on this server")
                            .get_attribute("href"))
    assert file.status == 200
    assert "0x" + hashlib.sha256(file.body()).hexdigest() == seeded.batch["file_sha256"]
    expect(card).to_contain_text(seeded.batch["file_sha256"])
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text(f"Batch {root[:10]}…{root[-4:]} anchored with 2 deliveries of this commitment: 5\u00a0bomen in all.")
    expect(timeline).to_contain_text(seeded.batch["tx"]["tx_hash"])


def test_a_batch_anchored_without_its_file_is_named_as_not_verifiable(seeded: Seeded, page: Page) -> None:
    page.goto(f"{seeded.api_url}/commitments/{seeded.parent}?lang=en")
    expect(page.locator("#unverifiable-note")).to_have_text(
        "1 batch of this municipality is anchored on chain, but its contents cannot be verified: it may concern this "
        "commitment, but it counts for none.")
    card = page.locator(f"[id='batch-{UNVERIFIABLE_ROOT}']")
    expect(card.locator(".flag")).to_have_text("⚠ Anchored, contents not verifiable: counts nothing (the batch file is not available)")
    expect(card).to_contain_text(UNVERIFIABLE_FILE)
    expect(card).not_to_contain_text("Of which count")
    page.goto(f"{seeded.api_url}/commitments/{seeded.trees}?lang=nl")
    expect(page.locator(f"[id='batch-{UNVERIFIABLE_ROOT}'] .flag")).to_have_text(
        "⚠ Verankerd, inhoud niet te controleren: telt niet mee (het bundelbestand is niet beschikbaar)")


@pytest.mark.parametrize("lang, rollup, part_of", [
    ("en", "62.5%", "Part of commitment {parent} (Wijkaanpak), with weight 3."),
    ("nl", "62,5%", "Onderdeel van belofte {parent} (Wijkaanpak), met gewicht 3."),
])
def test_a_part_names_its_parent_and_the_parent_its_parts_with_the_weighted_roll_up(
    seeded: Seeded, page: Page, lang: str, rollup: str, part_of: str
) -> None:
    page.goto(f"{seeded.api_url}/commitments/{seeded.lamps}?lang={lang}")
    expect(page.locator("#parent")).to_have_text(part_of.format(parent=seeded.parent))
    page.locator("#parent a").click()
    expect(page).to_have_url(re.compile(f"/commitments/{seeded.parent}$"))
    expect(page.locator("#commitment-title")).to_have_text("Wijkaanpak")
    rollup_box = page.locator("#rollup")
    expect(rollup_box.locator("dd").first).to_have_text(rollup)
    parts = page.locator("#parts > li")
    expect(parts).to_have_count(2)
    if lang == "en":
        expect(parts.nth(0)).to_have_text(f"commitment {seeded.lamps} (Lantaarns) — weight 3 · ◐ In progress · 50% delivered")
        expect(parts.nth(1)).to_have_text(f"commitment {seeded.bench} (Bankje) — weight 1 · ✓ Delivered · 100% delivered")
        expect(rollup_box).to_contain_text("Parts delivered1 of 2")
    else:
        expect(parts.nth(0)).to_have_text(f"belofte {seeded.lamps} (Lantaarns) — gewicht 3 · ◐ In uitvoering · 50% geleverd")


def test_the_list_shows_the_confirmed_share_disputes_and_parts(seeded: Seeded, page: Page) -> None:
    page.goto(f"{seeded.api_url}/?lang=en&q=Lantaarns")
    card = page.locator("#commitment-list > li")
    expect(card).to_have_count(1)
    expect(card.locator("dt", has_text="Confirmed by a second party").locator("+ dd")).to_have_text("50% · 2 of 4 lantaarns")
    expect(card.get_by_role("link", name=f"Part of commitment {seeded.parent}")).to_have_attribute(
        "href", f"/commitments/{seeded.parent}")
    page.goto(f"{seeded.api_url}/?lang=en&q=Bankje")
    expect(page.locator("#commitment-list > li .flags")).to_have_text("⚠ Disputed by a second party: 1\u00a0bankje")
    page.goto(f"{seeded.api_url}/?lang=nl&q=Wijkaanpak")
    card = page.locator("#commitment-list > li")
    expect(card.locator("dt", has_text="Gewogen voortgang van de onderdelen").locator("+ dd")).to_have_text("62,5%")
    expect(card).not_to_contain_text("Bevestigd door een tweede partij")  # nothing of its own delivered


def test_the_document_check_finds_a_batched_delivery_with_its_proof(seeded: Seeded, page: Page) -> None:
    first = seeded.batch["leaves"][0]
    page.goto(f"{seeded.api_url}/check?lang=en&sha256={first['evidence_hashes'][0]}")
    result = page.locator("#check-result")
    expect(result).to_contain_text("Bomen")
    expect(result).to_contain_text(f"Delivery in batch, leaf {first['leaf_hash'][:10]}…")
    expect(result).to_contain_text("Valid: counts towards progress (delivery in a verified batch)")
    expect(result).to_contain_text("Anchored on chain in a batch")
    href = result.get_by_role("link", name="Merkle proof (JSON) to check on chain with verifyBatchedDelivery").get_attribute("href")
    assert page.request.get(seeded.api_url + href).json()["proof"] == first["proof"]
    expect(result.get_by_role("link", name="Bomen")).to_have_attribute(
        "href", f"/commitments/{seeded.trees}#delivery-{first['leaf_hash']}")


COMMITMENT_2_1_0 = {
    "parent_id", "weight", "children", "rollup_progress_bps", "rollup_children_delivered", "rollup_children_counted",
    "confirmed_quantity", "unconfirmed_quantity", "disputed_quantity", "status_confirmed", "met_at_confirmed",
    "met_at_confirmed_iso", "progress_bps_confirmed", "batched_delivery_count",
}
DELIVERY_2_1_0 = {"kind", "asset_ref", "double_counted", "review", "confirmations", "disputes", "batch_root", "leaf_hash",
                  "leaf_index", "counted", "refused_reason"}


def test_a_commitment_read_without_any_2_1_0_field_shows_what_it_has(seeded: Seeded, page: Page) -> None:
    """An answer without the fields of 2.1.0 (an older server) and without batches renders the
    rest and claims nothing about reviews, parts or batches."""

    def older(route: Any) -> None:
        response = route.fetch()
        body = {k: v for k, v in response.json().items() if k not in COMMITMENT_2_1_0}
        body["deliveries"] = [{k: v for k, v in d.items() if k not in DELIVERY_2_1_0} for d in body["deliveries"]]
        route.fulfill(response=response, json=body)

    page.route(re.compile(r"/api/v1/commitments/\d+$"), older)
    page.route(re.compile(r"/api/v1/batches"), lambda route: route.fulfill(
        status=404, content_type="application/problem+json",
        json={"type": "/problems/not-found", "title": "Not found", "status": 404}))
    page.goto(f"{seeded.api_url}/commitments/{seeded.lamps}?lang=en")
    expect(page.locator("#commitment-title")).to_have_text("Lantaarns")
    expect(page.locator("#deliveries > li")).to_have_count(1)
    expect(page.locator("#deliveries h4")).to_contain_text(f"Delivery {seeded.lamps * 1_000_000 + 1:,}")
    for absent in ("#parent", "#rollup", "#c-batches > *", ".review", ".verdicts"):
        expect(page.locator(absent)).to_have_count(0)
    expect(page.locator("#proof-body")).not_to_contain_text("Status counting confirmed deliveries only")


# ------------------------------------------------------------------ accessibility of the 2.1.0 pages

A11Y_CHECK = """() => {
  const problems = [];
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const name = (el) => `${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''} "${(el.textContent || '').trim().slice(0, 40)}"`;
  const counts = {};
  document.querySelectorAll('[id]').forEach((el) => { counts[el.id] = (counts[el.id] || 0) + 1; });
  for (const [id, n] of Object.entries(counts)) if (n > 1) problems.push(`id ${id} used ${n} times`);
  if (!document.documentElement.lang) problems.push('no lang on <html>');
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
  for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
    if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label')) problems.push(`${name(el)} has no label`);
  }
  for (const el of document.querySelectorAll('[aria-labelledby]')) {
    for (const id of el.getAttribute('aria-labelledby').split(/\\s+/)) {
      if (!document.getElementById(id)) problems.push(`${name(el)} is labelled by missing #${id}`);
    }
  }
  // WCAG 1.4.3: text against the first opaque background behind it, 4.5:1 (3:1 for large text)
  const rgb = (text) => (text.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => [r, g, b].map((v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }).reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  for (const el of document.querySelectorAll('body *')) {
    if (!visible(el) || el.closest('.skip')) continue;
    if (![...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    const style = getComputedStyle(el);
    const [l1, l2] = [luminance(rgb(style.color)), luminance(background(el))].sort((a, b) => b - a);
    const ratio = (l1 + 0.05) / (l2 + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) problems.push(`${name(el)} contrast ${ratio.toFixed(2)}:1`);
  }
  return problems;
}"""


@pytest.mark.parametrize("which, lang", [("parent", "en"), ("lamps", "nl"), ("bench", "en"), ("trees", "en"), ("list", "en")])
def test_the_2_1_0_pages_pass_the_accessibility_checks(seeded: Seeded, page: Page, which: str, lang: str) -> None:
    if which == "list":
        page.goto(f"{seeded.api_url}/?lang={lang}&q=Bankje")
        expect(page.locator("#commitment-list > li .flags")).to_be_visible()
    else:
        page.goto(f"{seeded.api_url}/commitments/{getattr(seeded, which)}?lang={lang}")
        expect(page.locator("#timeline > li").first).to_be_visible()
        page.locator("#commitment details").evaluate_all("(all) => all.forEach((d) => { d.open = true; })")
    assert page.evaluate(A11Y_CHECK) == []


# ------------------------------------------------------------------ translations


TRANSLATED = re.compile(r"""\b(?:t|tn|tNodes|flag)\(\s*'([a-zA-Z0-9_.]+)'""")
MARKUP = re.compile(r"""data-i18n(?:-html)?="([^"]+)"|data-i18n-attr="([^"]+)\"""")


def test_both_languages_have_every_key_the_pages_ask_for() -> None:
    en, nl = (json.loads((STATIC_DIR / "i18n" / f"{lang}.json").read_text()) for lang in ("en", "nl"))
    assert sorted(set(en) ^ set(nl)) == []
    asked = {key for js in (STATIC_DIR / "js").glob("*.js") for key in TRANSLATED.findall(js.read_text())}
    for html in PAGES_DIR.glob("*.html"):
        for plain, attrs in MARKUP.findall(html.read_text()):
            asked |= {plain} if plain else {pair.split(":", 1)[1] for pair in attrs.split(";")}
    missing = sorted(k for k in asked if k not in en and not {f"{k}.one", f"{k}.other"} <= set(en))
    assert missing == []
