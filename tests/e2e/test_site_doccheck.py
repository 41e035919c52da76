"""The document check of /check in real Chromium (Debian's package, driven by Playwright),
on a small seeded ledger of its own: a file hashed in the browser and checked against the
chain step by step (static/js/doccheck.js) — a file cited by a recorded delivery (every step
correct, in both languages), an unknown file (not found after a complete scan), a revoked
delivery (never green, its reason shown), a document in an anchored batch (file SHA-256 and
Merkle proof decided by the chain, also when the server serves a tampered file or proof), a
revoked batched delivery, a commitment's source document, a hash given as ?sha256=; the index's
answer, labelled as such, without a public RPC URL or on the wrong chain; and the page
without JavaScript, which shows the server's answer."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo

import httpx
import pytest
from eth_account import Account
from playwright.sync_api import Browser, Locator, Page, Route, expect

from ledger.chain import LedgerChain
from scripts.stack import InProcessStack
from tests.conftest import ANVIL_KEYS
from tests.e2e.site_browser import axe_violations, describe_violations, horizontal_overflow, new_tab, structure_problems

ZONE = "Europe/Amsterdam"
DAY = 86_400
PROMISED = 1_655_071_200  # 13 June 2022, 00:00 in Baarn
DELIVERED = 1_740_830_400  # 1 March 2025, 12:00 UTC
SCAN_SECONDS = 60_000  # a check reads the whole log, ethers loads first: generous, milliseconds

DOCUMENT = b"Opleverrapport laadpalen Baarn, 40 stuks\n"
REVOKED_DOCUMENT = b"Opleverrapport laadpalen Baarn, 5 stuks (dubbel)\n"
SOURCE_DOCUMENT = b"Coalitieakkoord Baarn 2022-2026, hoofdstuk Duurzaamheid\n"
BATCH_DOCUMENT = b"Plantlijst bomen Brink, eerste rij\n"
REVOKED_BATCH_DOCUMENT = b"Plantlijst bomen Brink, tweede rij\n"
UNKNOWN_DOCUMENT = b"Een document dat niemand ooit vastlegde\n"
SHARED_DOCUMENT = b"Gezamenlijk opleverrapport laadpalen en bomen\n"
SHARED_REVOCATION_REASON = "Bomen niet in dit rapport"
HOSTILE_DOCUMENT = b"Verslag van een belofte met een kwaadaardige titel\n"
HOSTILE_TITLE = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
"""A commitment title that is markup: the check shows it as text and never runs it."""
REVOCATION_REASON = "Dubbel geteld: dezelfde laadpalen als levering 1"
BATCH_REVOCATION_REASON = "Tweede rij niet geplant"


def sha(data: bytes) -> str:
    return "0x" + hashlib.sha256(data).hexdigest()


def long_date(seconds: int, lang: str) -> str:
    """A calendar date as Intl's long en-GB / nl-NL format writes it in :data:`ZONE`."""
    moment = datetime.fromtimestamp(seconds, ZoneInfo(ZONE))
    months = {
        "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
               "November", "December"],
        "nl": ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
               "november", "december"],
    }[lang]
    return f"{moment.day} {months[moment.month - 1]} {moment.year}"


@dataclass
class Ledger:
    """The seeded ledger: ``chargers`` (Baarn, "Honderd laadpalen", target 100, source
    document :data:`SOURCE_DOCUMENT`) with delivery 1 (40 laadpalen, :data:`DOCUMENT`) and
    delivery 2 (5, :data:`REVOKED_DOCUMENT`, revoked with :data:`REVOCATION_REASON`);
    ``trees`` ("Bomen", target 5) delivered in one anchored batch of two leaves
    (:data:`BATCH_DOCUMENT`; :data:`REVOKED_BATCH_DOCUMENT`, the second leaf revoked with
    :data:`BATCH_REVOCATION_REASON`); :data:`SHARED_DOCUMENT` cited by delivery 3 of
    ``chargers`` and by delivery 1 of ``trees``, the latter revoked with
    :data:`SHARED_REVOCATION_REASON`; ``hostile`` titled :data:`HOSTILE_TITLE`, with a
    delivery citing :data:`HOSTILE_DOCUMENT`."""

    api_url: str
    rpc_url: str
    deploy_block: int
    head_block: int
    chargers: int
    trees: int
    hostile: int
    batch: dict[str, Any]
    revoked_at: int
    registrar: str
    files: Path

    def file(self, name: str, data: bytes) -> Path:
        path = self.files / name
        path.write_bytes(data)
        return path


@pytest.fixture(scope="module")
def ledger(rpc_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ledger]:
    keys = {"GM0308": (ANVIL_KEYS[6], ANVIL_KEYS[7]), "CL-GOB": (ANVIL_KEYS[8], ANVIL_KEYS[9])}
    with InProcessStack(rpc_url, tmp_path_factory.mktemp("doccheck"), ANVIL_KEYS[0], keys) as stack:
        api, auth = stack.api_url, {"Authorization": f"Bearer {stack.tokens['GM0308']}",
                                    "Prefer": "wait=30"}  # the write outbox answers 201 once confirmed
        now = int(time.time())

        def post(path: str, **kwargs: object) -> dict:
            response = httpx.post(f"{api}/api/v1/staff/{path}", headers=auth, timeout=30, **kwargs)
            assert response.status_code == 201, response.text
            return response.json()

        chargers = post("commitments", json={
            "external_ref": "doccheck-laadpalen", "title": "Honderd laadpalen", "target_quantity": 100, "unit": "laadpalen",
            "promised_at": PROMISED, "due_date": now + 60 * DAY, "source_document_sha256": sha(SOURCE_DOCUMENT),
        })["commitment_id"]
        post(f"commitments/{chargers}/deliveries", data={"quantity": "40", "delivered_at": str(DELIVERED)},
             files={"evidence": ("rapport.txt", DOCUMENT, "text/plain")})
        double = post(f"commitments/{chargers}/deliveries", data={"quantity": "5", "delivered_at": str(DELIVERED)},
                      files={"evidence": ("dubbel.txt", REVOKED_DOCUMENT, "text/plain")})["delivery_id"]
        revocation = post(f"deliveries/{double}/revocation", json={"reason": REVOCATION_REASON})
        trees = post("commitments", json={
            "external_ref": "doccheck-bomen", "title": "Bomen", "target_quantity": 5, "unit": "bomen",
            "promised_at": now - 10 * DAY, "due_date": now + 60 * DAY,
        })["commitment_id"]
        hostile = post("commitments", json={
            "external_ref": "doccheck-markup", "title": HOSTILE_TITLE, "target_quantity": 1, "unit": "<b>stuk</b>",
            "promised_at": PROMISED, "due_date": now + 60 * DAY,
        })["commitment_id"]
        post(f"commitments/{hostile}/deliveries", data={"quantity": "1", "delivered_at": str(DELIVERED)},
             files={"evidence": ("verslag.txt", HOSTILE_DOCUMENT, "text/plain")})
        post(f"commitments/{chargers}/deliveries", data={"quantity": "1", "delivered_at": str(DELIVERED)},
             files={"evidence": ("gezamenlijk.txt", SHARED_DOCUMENT, "text/plain")})
        shared = post(f"commitments/{trees}/deliveries", data={"quantity": "1", "delivered_at": str(DELIVERED)},
                      files={"evidence": ("gezamenlijk.txt", SHARED_DOCUMENT, "text/plain")})["delivery_id"]
        post(f"deliveries/{shared}/revocation", json={"reason": SHARED_REVOCATION_REASON})
        stack.wait_indexed()  # a batch's rows are checked against the index
        batch = post("batches", json={"municipality_id": stack.municipality_ids["GM0308"], "deliveries": [
            {"commitment_id": trees, "quantity": 2, "delivered_at": DELIVERED, "evidence_hashes": [sha(BATCH_DOCUMENT)],
             "note": "Eerste rij"},
            {"commitment_id": trees, "quantity": 3, "delivered_at": DELIVERED, "evidence_hashes": [sha(REVOKED_BATCH_DOCUMENT)],
             "note": "Tweede rij"},
        ]})
        stack.wait_indexed()  # a batched revocation reads the batch from the index
        post(f"batches/{batch['root']}/leaves/{batch['leaves'][1]['leaf_hash']}/revocation",
             json={"reason": BATCH_REVOCATION_REASON})
        head = stack.wait_indexed()
        revoked_at = LedgerChain(rpc_url).block(revocation["tx"]["block_number"]).timestamp
        yield Ledger(api, rpc_url, stack.deployment.deploy_block, head, chargers, trees, hostile, batch, revoked_at,
                     Account.from_key(keys["GM0308"][1]).address, tmp_path_factory.mktemp("doccheck-files"))


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh Dutch tab in Amsterdam's time zone (the dates it shows are the reader's); the
    test fails if the page threw, logged an error (a Content-Security-Policy violation, say)
    or opened a dialog."""
    context, tab, watch = new_tab(browser, timezone_id=ZONE, viewport={"width": 1280, "height": 900})
    yield tab
    context.close()
    assert watch.errors == [], watch.errors


def steps(page: Page) -> Locator:
    return page.locator("#doc-check-steps > li")


def verdict(page: Page) -> Locator:
    """The verdict step, once decided (it is the last step)."""
    done = page.locator("#doc-check-steps > li.dc-verdict:not(.pending)")
    done.wait_for(timeout=SCAN_SECONDS)
    return done


def check_file(page: Page, ledger: Ledger, lang: str, name: str, data: bytes) -> Locator:
    page.goto(f"{ledger.api_url}/check?lang={lang}")
    page.locator("#check-file").set_input_files(str(ledger.file(name, data)))
    return verdict(page)


def rewrite_body_attribute(page: Page, attribute: str, value: str) -> None:
    """Serve /check with ``<body attribute=value>`` (what an operator's settings would give)."""

    def handle(route: Route) -> None:
        response = route.fetch()
        html = re.sub(f'{attribute}="[^"]*"', f'{attribute}="{value}"', response.text(), count=1)
        route.fulfill(response=response, body=html)

    page.route(re.compile(r".*/check(\?.*)?$"), handle)


# ------------------------------------------------------------------ a file cited by a recorded delivery


def test_a_cited_file_passes_every_step_on_chain(ledger: Ledger, page: Page) -> None:
    done = check_file(page, ledger, "en", "rapport laadpalen.txt", DOCUMENT)
    region = page.locator("#doc-check-chain")
    expect(region.locator(".dc-filename")).to_have_text("rapport laadpalen.txt")
    expect(region).to_contain_text(f"File: rapport laadpalen.txt ({len(DOCUMENT)} bytes)")
    expect(region).to_contain_text("Your file did not leave your device")
    expect(page.locator("#check-hash")).to_have_value(sha(DOCUMENT))
    expect(steps(page)).to_have_count(6)
    expect(steps(page)).to_have_class(["ok", "ok", "ok", "ok", "ok", "ok dc-verdict"])
    expect(steps(page).nth(0)).to_have_text(f"Fingerprint computed in your browser: ✓ Correct{sha(DOCUMENT)} (SHA-256).")
    found = steps(page).nth(1)
    blocks = ledger.head_block - ledger.deploy_block + 1
    expect(found).to_contain_text(
        f"Read the whole event log of contract version 2.1.0: blocks {ledger.deploy_block} to {ledger.head_block} "
        f"(the latest block, {blocks} blocks)")
    expect(found).to_contain_text("of which 5 DeliveryRecorded and 3 CommitmentRegistered.")
    expect(found.locator(".dc-items > li")).to_have_text(re.compile(
        rf"^✓ Correct In the evidence hashes of DeliveryRecorded, delivery {ledger.chargers * 1_000_000 + 1} \(block \d+, transaction 0x"))
    cited = steps(page).nth(2)
    expect(cited.locator(".dc-items > li")).to_have_text(re.compile(
        rf"^✓ Correct Delivery 1 \(id {ledger.chargers * 1_000_000 + 1}\) of commitment {ledger.chargers}: Honderd laadpalen — "
        r"40 laadpalen, delivered on 1 March 2025 \(as stated by the registrar\), recorded on "))
    expect(cited.get_by_role("link", name="Honderd laadpalen")).to_have_attribute("href", f"/commitments/{ledger.chargers}?lang=en")
    expect(steps(page).nth(3).locator(".dc-items > li")).to_have_text(
        f"✓ Correct delivery 1 of commitment {ledger.chargers}: not revoked (no DeliveryRevoked up to block {ledger.head_block}).")
    expect(steps(page).nth(4).locator(".dc-items > li")).to_have_text(re.compile(
        rf"^✓ Correct delivery 1 of commitment {ledger.chargers}: signed by {ledger.registrar}, who held the registrar role "
        r"of Baarn at block \d+, log \d+ \(given in block \d+\)\.$"))
    expect(done).to_have_text("Verdict: ✓ CorrectValid: the chain itself shows this document as cited above, not revoked, "
                              "recorded by a registrar of the municipality.")


def test_the_same_check_reads_in_dutch(ledger: Ledger, page: Page) -> None:
    done = check_file(page, ledger, "nl", "rapport.txt", DOCUMENT)
    expect(page.locator("#doc-check-chain")).to_contain_text("Uw bestand heeft uw apparaat niet verlaten")
    expect(steps(page).nth(0)).to_have_text(f"Vingerafdruk berekend in uw browser: ✓ Klopt{sha(DOCUMENT)} (SHA-256).")
    expect(steps(page).nth(2).locator(".dc-items > li")).to_contain_text(
        f"Levering 1 (id {ledger.chargers * 1_000_000 + 1}) van belofte {ledger.chargers}: Honderd laadpalen — 40 laadpalen, "
        "geleverd op 1 maart 2025 (volgens de registrator)")
    expect(steps(page).nth(2).get_by_role("link", name="Honderd laadpalen")).to_have_attribute(
        "href", f"/commitments/{ledger.chargers}?lang=nl")
    expect(steps(page).nth(3)).to_contain_text("Herroepen of niet: ✓ Klopt")
    expect(done).to_have_class("ok dc-verdict")
    expect(done).to_contain_text("Oordeel: ✓ KloptGeldig: de keten zelf toont dit document")


# ------------------------------------------------------------------ not found, revoked


@pytest.mark.parametrize("lang, text", [
    ("en", "Verdict: ✗ Not correctNot found on chain (a complete scan up to block {head})."),
    ("nl", "Oordeel: ✗ Klopt nietNiet gevonden op de keten (volledig doorzocht tot en met blok {head})."),
])
def test_an_unknown_file_is_not_found_after_a_complete_scan(ledger: Ledger, page: Page, lang: str, text: str) -> None:
    done = check_file(page, ledger, lang, "onbekend.txt", UNKNOWN_DOCUMENT)
    expect(done).to_have_text(text.format(head=ledger.head_block))
    expect(done).to_have_class("fail dc-verdict")
    expect(steps(page)).to_have_class(["ok", "fail", "skip", "skip", "skip", "fail dc-verdict"])
    if lang == "en":
        expect(steps(page).nth(1)).to_contain_text(
            f"Not found on chain: no DeliveryRecorded and no CommitmentRegistered up to block {ledger.head_block} cites this "
            "fingerprint.")
        expect(steps(page).nth(1)).to_contain_text(
            "1 batch is anchored on chain; its deliveries are in a file outside the chain, and this server's index names "
            "none of them as citing this fingerprint.")
        expect(steps(page).nth(2)).to_have_text("Cited by: – Not applicableNot applicable: nothing on chain cites this fingerprint.")


def test_a_revoked_delivery_is_never_green_and_shows_its_reason(ledger: Ledger, page: Page) -> None:
    done = check_file(page, ledger, "en", "dubbel.txt", REVOKED_DOCUMENT)
    expect(done).to_have_class("fail dc-verdict")
    expect(done).to_have_text(
        f"Verdict: ✗ Not correctIn the ledger, but revoked on {long_date(ledger.revoked_at, 'en')}: {REVOCATION_REASON}.")
    revoked = steps(page).nth(3)
    expect(revoked).to_have_class("fail")
    expect(revoked.locator(".dc-items > li")).to_have_text(re.compile(
        rf"^✗ Not correct delivery 2 of commitment {ledger.chargers}: revoked on .+: {re.escape(REVOCATION_REASON)} "
        r"\(block \d+, transaction 0x[0-9a-f]{8}…[0-9a-f]{4}\)\.$"))
    expect(page.locator("#doc-check-chain .ok.dc-verdict")).to_have_count(0)


def test_a_revoked_delivery_reads_as_revoked_in_dutch(ledger: Ledger, page: Page) -> None:
    done = check_file(page, ledger, "nl", "dubbel.txt", REVOKED_DOCUMENT)
    expect(done).to_have_text(
        f"Oordeel: ✗ Klopt nietStaat in het register, maar is herroepen op {long_date(ledger.revoked_at, 'nl')}: "
        f"{REVOCATION_REASON}.")


def test_a_document_valid_in_one_delivery_and_revoked_in_another_is_only_partly_valid(ledger: Ledger, page: Page) -> None:
    done = check_file(page, ledger, "en", "gezamenlijk.txt", SHARED_DOCUMENT)
    expect(steps(page)).to_have_class(["ok", "ok", "ok", "warn", "ok", "warn dc-verdict"])
    expect(steps(page).nth(3).locator(".dc-outcome").first).to_have_text("⚠ Partly correct")
    items = steps(page).nth(3).locator(".dc-items > li")
    expect(items).to_have_class(["ok", "fail"])
    expect(items.nth(1)).to_contain_text(f"delivery 1 of commitment {ledger.trees}: revoked on ")
    expect(items.nth(1)).to_contain_text(f": {SHARED_REVOCATION_REASON} (block ")
    expect(done).to_have_text("Verdict: ⚠ Partly correctOnly partly valid: 1 of 2 citations hold; see the steps above.")
    page.goto(f"{ledger.api_url}/check?lang=nl")
    page.locator("#check-file").set_input_files(str(ledger.file("gezamenlijk.txt", SHARED_DOCUMENT)))
    expect(verdict(page)).to_have_text(
        "Oordeel: ⚠ Klopt deelsSlechts gedeeltelijk geldig: 1 van 2 vermeldingen kloppen; zie de stappen hierboven.")


# ------------------------------------------------------------------ documents in a batch


def test_a_document_in_a_batch_is_proven_by_the_anchored_file_and_the_contract(ledger: Ledger, page: Page) -> None:
    root, first = ledger.batch["root"], ledger.batch["leaves"][0]
    done = check_file(page, ledger, "en", "plantlijst.txt", BATCH_DOCUMENT)
    expect(steps(page)).to_have_class(["ok", "ok", "ok", "ok", "ok", "ok dc-verdict"])
    found = steps(page).nth(1)
    expect(found).to_contain_text("of which 5 DeliveryRecorded and 3 CommitmentRegistered.")
    expect(found).to_contain_text("1 batch is anchored on chain; the deliveries in a batch are not in the event log one by one")
    expect(found.locator(".dc-items > li")).to_have_text(re.compile(
        rf"^✓ Correct In batch {root}, leaf {first['leaf_hash']} \(delivery 1 in the file\): the batch file from this server "
        rf"has SHA-256 {ledger.batch['file_sha256']}, the one BatchAnchored names on chain \(block \d+, transaction 0x.+\); "
        r"the leaf at that position cites this fingerprint, and the contract's verifyBatchedDelivery accepts its Merkle "
        r"proof against the anchored root\.$"))
    expect(steps(page).nth(2).locator(".dc-items > li")).to_contain_text(
        f"Delivery 1 of batch {root[:10]}…{root[-4:]} (leaf {first['leaf_hash'][:10]}…{first['leaf_hash'][-4:]}) of commitment "
        f"{ledger.trees}: Bomen — 2 bomen, delivered on 1 March 2025 (as stated by the registrar), anchored on ")
    expect(steps(page).nth(3).locator(".dc-items > li")).to_contain_text(
        f"not revoked (no BatchedDeliveryRevoked up to block {ledger.head_block}; verifyBatchedDelivery says the same).")
    expect(steps(page).nth(4)).to_contain_text(f"signed by {ledger.registrar}, who held the registrar role of Baarn")
    expect(done).to_contain_text("Valid: the chain itself shows this document as cited above")


def test_a_revoked_batched_delivery_is_revoked_with_its_reason(ledger: Ledger, page: Page) -> None:
    done = check_file(page, ledger, "nl", "tweede rij.txt", REVOKED_BATCH_DOCUMENT)
    expect(steps(page)).to_have_class(["ok", "ok", "ok", "fail", "ok", "fail dc-verdict"])
    expect(steps(page).nth(3).locator(".dc-items > li")).to_contain_text("herroepen op ")
    expect(steps(page).nth(3).locator(".dc-items > li")).to_contain_text(f": {BATCH_REVOCATION_REASON} (blok ")
    expect(done).to_contain_text("Staat in het register, maar is herroepen op ")
    expect(done).to_contain_text(f": {BATCH_REVOCATION_REASON}.")


def test_a_batch_file_the_server_altered_proves_nothing(ledger: Ledger, page: Page) -> None:
    """The index only points: a served file whose SHA-256 is not the anchored one is refused."""

    def tampered(route: Route) -> None:
        response = route.fetch()
        route.fulfill(response=response, body=response.body().replace(b"Eerste rij", b"Eerste rik"))

    page.route(re.compile(r".*/api/v1/batches/0x[0-9a-f]{64}/file$"), tampered)
    done = check_file(page, ledger, "en", "plantlijst.txt", BATCH_DOCUMENT)
    item = steps(page).nth(1).locator(".dc-items > li")
    expect(item).to_contain_text(f"✗ Not correct Batch {ledger.batch['root']}, leaf {ledger.batch['leaves'][0]['leaf_hash']}: "
                                 "the batch file from this server has SHA-256 0x")
    expect(item).to_contain_text(f"but BatchAnchored on chain names {ledger.batch['file_sha256']}: it is not the anchored file.")
    expect(done).to_have_class("fail dc-verdict")
    expect(done).to_contain_text("Not found on chain (a complete scan up to block")


def test_a_merkle_proof_the_contract_refuses_proves_nothing(ledger: Ledger, page: Page) -> None:
    def wrong_proof(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        body["proof"] = ["0x" + "11" * 32]
        route.fulfill(response=response, body=json.dumps(body))

    page.route(re.compile(r".*/api/v1/batches/0x[0-9a-f]{64}/leaves/0x[0-9a-f]{64}/proof$"), wrong_proof)
    done = check_file(page, ledger, "en", "plantlijst.txt", BATCH_DOCUMENT)
    expect(steps(page).nth(1).locator(".dc-items > li")).to_contain_text(
        "the contract's verifyBatchedDelivery does not accept this leaf and proof (included: false;")
    expect(done).to_have_class("fail dc-verdict")


# ------------------------------------------------------------------ a hash in the address


def test_a_hash_given_in_the_address_is_checked_on_request(ledger: Ledger, page: Page) -> None:
    page.goto(f"{ledger.api_url}/check?lang=en&sha256={sha(DOCUMENT)[2:].upper()}")
    expect(page.locator("#doc-check-result")).to_contain_text("Honderd laadpalen")
    expect(steps(page)).to_have_count(0)  # nothing read from the chain before the reader asks
    page.get_by_role("button", name="Check this fingerprint against the chain").click()
    done = verdict(page)
    expect(steps(page).nth(0)).to_have_text(
        f"Fingerprint to check: ✓ Correct{sha(DOCUMENT)} (SHA-256, as given in this page's address; not computed "
        "from a file here).")
    expect(steps(page)).to_have_class(["ok", "ok", "ok", "ok", "ok", "ok dc-verdict"])
    expect(steps(page).nth(2)).to_contain_text(f"Delivery 1 (id {ledger.chargers * 1_000_000 + 1}) of commitment {ledger.chargers}")
    expect(done).to_contain_text("Valid: the chain itself shows this document as cited above")


def test_a_commitments_source_document_is_found_in_its_registration(ledger: Ledger, page: Page) -> None:
    done = check_file(page, ledger, "en", "coalitieakkoord.txt", SOURCE_DOCUMENT)
    expect(steps(page).nth(1).locator(".dc-items > li")).to_have_text(re.compile(
        rf"^✓ Correct As sourceDocumentHash of CommitmentRegistered, commitment {ledger.chargers} \(block \d+, transaction 0x"))
    expect(steps(page).nth(2).locator(".dc-items > li")).to_contain_text(
        f"Source document of commitment {ledger.chargers}: Honderd laadpalen, registered on ")
    expect(steps(page).nth(3)).to_have_text(
        "Revoked or not: – Not applicableNot applicable: a source document is not revoked."
        f"– Not applicable source document of commitment {ledger.chargers}: not applicable, a source document is not revoked.")
    expect(steps(page).nth(4)).to_contain_text(f"signed by {ledger.registrar}, who held the registrar role of Baarn")
    expect(done).to_have_class("ok dc-verdict")


# ------------------------------------------------------------------ without the chain, without JavaScript


def test_without_a_public_rpc_url_the_index_answer_is_shown_as_such(ledger: Ledger, page: Page) -> None:
    rewrite_body_attribute(page, "data-rpc-url", "")
    page.goto(f"{ledger.api_url}/check?lang=en")
    page.locator("#check-file").set_input_files(str(ledger.file("rapport.txt", DOCUMENT)))
    index = page.locator("#doc-check-chain .dc-index")
    expect(index.get_by_role("heading", name="According to this server's index")).to_be_visible()
    expect(index).to_contain_text(
        f"Delivery 1 (id {ledger.chargers * 1_000_000 + 1}) of commitment {ledger.chargers}: Honderd laadpalen (Baarn) — 40, "
        "delivered on 1 March 2025 (as stated)")
    expect(index).to_contain_text("According to this server's index: in the ledger, valid.")
    expect(steps(page)).to_have_class(["ok", "skip"])
    expect(steps(page).nth(1)).to_contain_text("the operator has not configured a public RPC URL")


def test_on_another_chain_the_check_says_why_it_could_not_be_done(ledger: Ledger, page: Page) -> None:
    """The configured RPC URL answers for chain 1 (an operator's mistake): nothing is read."""

    def mainnet(route: Route) -> None:
        call = json.loads(route.request.post_data or "null")
        if route.request.method != "POST" or not isinstance(call, dict) or call.get("method") != "eth_chainId":
            route.continue_()
            return
        route.fulfill(status=200, content_type="application/json",
                      headers={"Access-Control-Allow-Origin": "*"},
                      body=json.dumps({"jsonrpc": "2.0", "id": call["id"], "result": "0x1"}))

    page.route(ledger.rpc_url.rstrip("/") + "/**", mainnet)
    page.route(ledger.rpc_url.rstrip("/"), mainnet)
    done = check_file(page, ledger, "en", "dubbel.txt", REVOKED_DOCUMENT)
    expect(done).to_have_class("warn dc-verdict")
    expect(done).to_have_text("Verdict: ⚠ Could not be checkedCould not be checked: the RPC URL serves another chain "
                              "(chain id 1, expected 31337)")
    expect(steps(page)).to_have_class(["ok", "warn", "skip", "skip", "skip", "warn dc-verdict"])
    index = page.locator("#doc-check-chain .dc-index")
    expect(index).to_contain_text("The chain could not be read, so here is what this server's index says")
    expect(index).to_contain_text(f"Revoked: {REVOCATION_REASON}")
    expect(index).to_contain_text("According to this server's index: in the ledger, but it no longer counts (see above).")


def test_without_javascript_the_page_shows_the_servers_answer(ledger: Ledger, browser: Browser) -> None:
    context = browser.new_context(java_script_enabled=False, locale="en-GB", timezone_id=ZONE)
    try:
        page = context.new_page()
        page.goto(f"{ledger.api_url}/check?lang=en")
        page.locator("#check-hash").fill(sha(DOCUMENT))
        page.locator("#doc-check-hash").get_by_role("button").click()
        expect(page).to_have_url(re.compile(rf"/check\?.*sha256=0x{sha(DOCUMENT)[2:]}"))
        result = page.locator("#doc-check-result")
        expect(result).to_contain_text("According to this server's index")
        expect(result.get_by_role("link", name="Honderd laadpalen")).to_be_visible()
        expect(page.locator("#doc-check-chain")).to_be_empty()
    finally:
        context.close()


# ------------------------------------------------------------------ texts from the ledger, accessibility


def test_a_title_that_is_markup_is_shown_as_text(ledger: Ledger, page: Page) -> None:
    done = check_file(page, ledger, "en", '<img src=x onerror=alert(3)>verslag.txt', HOSTILE_DOCUMENT)
    expect(page.locator("#doc-check-chain .dc-filename")).to_have_text('<img src=x onerror=alert(3)>verslag.txt')
    cited = steps(page).nth(2)
    expect(cited.get_by_role("link", name=HOSTILE_TITLE)).to_have_attribute("href", f"/commitments/{ledger.hostile}?lang=en")
    expect(cited).to_contain_text(f"{HOSTILE_TITLE} — 1 <b>stuk</b>, delivered on 1 March 2025")
    expect(page.locator("#doc-check-chain img, #doc-check-chain script, #doc-check-chain b")).to_have_count(0)
    expect(done).to_have_class("ok dc-verdict")


@pytest.mark.parametrize("lang, width", [("en", 1280), ("nl", 390)])
def test_a_finished_check_passes_the_accessibility_checks(ledger: Ledger, browser: Browser, lang: str, width: int) -> None:
    """axe-core's WCAG 2.1 A/AA rules, unique ids and heading order on the page with a
    revoked and a valid result, and no horizontal scrolling on a phone (hashes wrap)."""
    context, page, watch = new_tab(browser, timezone_id=ZONE, bypass_csp=True, viewport={"width": width, "height": 900})
    try:
        check_file(page, ledger, lang, "dubbel.txt", REVOKED_DOCUMENT)
        violations = axe_violations(page)
        assert violations == [], describe_violations(violations)
        assert structure_problems(page) == []
        page.locator("#check-file").set_input_files(str(ledger.file("plantlijst.txt", BATCH_DOCUMENT)))
        expect(steps(page).nth(1)).to_contain_text("verifyBatchedDelivery", timeout=SCAN_SECONDS)
        verdict(page)
        violations = axe_violations(page)
        assert violations == [], describe_violations(violations)
        assert structure_problems(page) == []
        assert horizontal_overflow(page) == 0
        assert watch.errors == []
    finally:
        context.close()
