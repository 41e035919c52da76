"""The citizens' site, rendered on the server, in real Chromium (Debian's package; Playwright
drives it): the list and a commitment page on the imported real data; the v2 facts in plain
words (both clocks, both sets of terms) and those of contract 2.1.0 (a second party's
confirmations and disputes, batched deliveries with their proof, sub-commitments and their
weighted roll-up, assets) on a small seeded ledger of its own (``site_browser.Seeded``), in
both languages; every page without a script error, CSP violation or dialog, and the 2.1.0
pages free of axe's WCAG 2.1 A/AA violations with unique ids, landmarks and headings in order.
Both languages hold every text the templates and views ask for. At the end, what the
client-rendered pages showed and the server-rendered ones show too: the batches with whether
their contents can be verified, and a second party's verdicts in the timeline."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from frontend import charts, site
from frontend.i18n import LOCALES_DIR, SUPPORTED
from ledger.status import STATUSES
from tests.e2e.conftest import ImportedSystem
from tests.e2e.site_browser import (
    CONFIRMER,
    INSPECTION,
    UNVERIFIABLE_FILE,
    Seeded,
    axe_violations,
    describe_violations,
    new_tab,
    structure_problems,
)


def _all(api_url: str, path: str, **params: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        page = httpx.get(f"{api_url}/api/v1/{path}", params={**params, "offset": len(rows), "limit": 100}, timeout=30).json()
        rows += page["data"]
        if not page["data"] or len(rows) >= page["count"]:
            return rows


def _dd(scope: Any, term: str) -> Any:
    """The ``<dd>`` right after the ``<dt>`` that reads exactly ``term``."""
    return scope.locator("dt", has_text=re.compile(f"^{re.escape(term)}$")).locator("+ dd")


def _verdict(page: Page, field: str) -> Any:
    return page.locator(f"#proof .verdicts [data-field='{field}']")


# ------------------------------------------------------------------ the imported real data


def test_the_list_shows_twenty_commitments_of_a_municipality_with_their_total(imported: ImportedSystem, page: Page) -> None:
    baarn = imported.stack.municipality_ids["GM0308"]
    page.goto(f"{imported.stack.api_url}/?municipality_id={baarn}&lang=en")
    expect(page.locator("#commitment-list > li")).to_have_count(20)
    expect(page.locator("#result-count")).to_have_text("131 commitments · 1–20 of 131")
    expect(page.locator("#f-municipality")).to_have_value(str(baarn))


def test_a_chile_commitment_puts_promise_and_proof_side_by_side(imported: ImportedSystem, page: Page) -> None:
    api = imported.stack.api_url
    chile = imported.stack.municipality_ids["CL-GOB"]
    batched = _all(api, "deliveries", municipality_id=chile, kind="batched")
    commitment_id = next(d["commitment_id"] for d in batched if not d["revocation"])
    detail = httpx.get(f"{api}/api/v1/commitments/{commitment_id}").json()

    page.goto(f"{api}/commitments/{commitment_id}?lang=en")
    expect(page.locator("#commitment-title")).to_have_text(detail["title"])
    expect(page.locator("#promise-h")).to_have_text("Promise")
    expect(page.locator("#proof-h")).to_have_text("Proof")
    expect(page.locator("#deliveries > li")).to_have_count(len(detail["deliveries"]))
    first = detail["deliveries"][0]
    card = page.locator(f"[id='delivery-{first['leaf_hash']}']")
    expect(card).to_contain_text(first["evidence"][0]["sha256"])
    expect(card).to_contain_text(first["batch_root"])
    expect(page.locator("#timeline")).to_contain_text(first["recorded"]["tx_hash"])
    promise, proof = page.locator("#promise").bounding_box(), page.locator("#proof").bounding_box()
    assert promise and proof and proof["x"] > promise["x"] + promise["width"] - 1 and abs(proof["y"] - promise["y"]) < 2


def test_a_batched_delivery_revoked_by_a_later_snapshot_reads_as_such(imported: ImportedSystem, page: Page) -> None:
    api = imported.stack.api_url
    chile = imported.stack.municipality_ids["CL-GOB"]
    revoked = next(d for d in _all(api, "deliveries", municipality_id=chile, kind="batched") if d["revocation"])

    page.goto(f"{api}/commitments/{revoked['commitment_id']}?lang=en")
    card = page.locator(f"[id='delivery-{revoked['leaf_hash']}']")
    expect(card).to_have_class(re.compile(r"\brevoked\b"))
    expect(card.locator("h4")).to_have_text(f"Delivery in batch, leaf {revoked['leaf_hash'][:12]}… Revoked")
    expect(card.locator(".revocation")).to_contain_text(f"Reason for revocation: {revoked['revocation']['reason']}")
    expect(card.locator(".revocation")).to_contain_text(revoked["revocation"]["chain"]["tx_hash"])
    expect(card).to_contain_text(f"delivery {revoked['leaf_index'] + 1:,} in the file")
    expect(card).not_to_contain_text("confirmed by a second party")  # it counts nothing: no review shown
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text(revoked["recorded"]["tx_hash"])  # the batch's anchor
    expect(timeline.locator("li.tl-revoked", has_text=revoked["revocation"]["chain"]["tx_hash"])).to_have_count(1)
    href = card.get_by_role("link", name="Merkle proof (JSON) to check on chain with verifyBatchedDelivery").get_attribute("href")
    proof = page.request.get(api + href)
    assert proof.status == 200
    assert (proof.json()["revoked"], proof.json()["leaf_hash"]) == (True, revoked["leaf_hash"])


# ------------------------------------------------------------------ v2 facts in plain words


def test_the_list_says_when_a_promise_was_made_and_recorded_and_flags_relaxed_terms(seeded: Seeded, page: Page) -> None:
    page.goto(f"{seeded.api_url}/?lang=en&recorded_late=true")  # the form's own submission: test_site_pages
    expect(page.locator("#result-count")).to_have_text("1 commitment · 1–1 of 1")
    expect(page.get_by_label("Only commitments with deliveries recorded late")).to_be_checked()
    card = page.locator("#commitment-list > li")
    expect(card.locator(".card-title")).to_have_text("Honderd laadpalen")
    expect(card.locator(".dates")).to_contain_text("Promised on 13 June 2022 · Registered on chain on ")
    expect(card.locator(".state")).to_have_text("Delivered 41 of 40 laadpalen (102.5%)")
    expect(card.locator(".flags li")).to_have_text([
        "Met only because the terms were relaxed", "Target lowered",
        "1 delivery recorded late",  # of two: the other was recorded a day after its date
        "41 laadpalen not (yet) confirmed by a second party",
    ])

    page.goto(f"{seeded.api_url}/?lang=en&amended_after_due_date=true")
    expect(page.locator("#result-count")).to_have_text("1 commitment · 1–1 of 1")
    expect(page.get_by_label("Only commitments amended after their due date")).to_be_checked()
    expect(page.locator("#commitment-list > li .flags li").first).to_have_text("Historical record: registered after its due date")


def test_the_commitment_page_shows_the_backdated_delivery_and_the_relaxed_terms_in_words(seeded: Seeded, page: Page) -> None:
    page.goto(f"{seeded.api_url}/commitments/{seeded.relaxed}?lang=en")
    expect(page.locator("#commitment-title")).to_have_text("Honderd laadpalen")
    relaxed = page.locator(".flags-detail li", has=page.locator("[data-status='relaxed']"))
    expect(relaxed).to_contain_text("Met only because the terms were relaxed Under the terms as first promised (100 laadpalen, due ")
    expect(relaxed).to_contain_text("this commitment is: In progress. It counts as met only because its terms were changed later")
    promise = page.locator("#promise")
    expect(_dd(promise, "Promised on")).to_have_text("13 June 2022 (as stated)")
    expect(_dd(promise, "Registered on chain on")).to_contain_text("(block time, proven by the chain)")
    expect(_dd(promise, "Target")).to_have_text("40 laadpalen (originally 100)")
    amendment = page.locator("#amendment-1")
    expect(amendment).to_contain_text("Changed: target")
    expect(amendment).to_contain_text("Target from 100 to 40. Target lowered")
    expect(amendment).to_contain_text("Reason: Minder budget")
    first, second = page.locator("#deliveries > li").nth(0), page.locator("#deliveries > li").nth(1)
    expect(_dd(first, "Recorded on (as proven)").locator("[data-lag]")).to_have_text("recorded 3 years after the date it states")
    expect(_dd(first, "Recorded on (as proven)").locator("[data-lag]")).to_have_class("badge tone-warn")
    expect(_dd(second, "Recorded on (as proven)").locator("[data-lag]")).to_have_text("recorded 1 day after the date it states")
    expect(_dd(second, "Recorded on (as proven)").locator("[data-lag]")).to_have_class("note")
    expect(first.locator("dt")).to_contain_text(["Delivered on (as stated)", "Recorded on (as proven)"])
    expect(_verdict(page, "status")).to_have_text("Delivered")
    expect(_verdict(page, "status_on_record")).to_have_text("Delivered")
    expect(_verdict(page, "status_original_terms")).to_have_text("In progress")
    expect(_verdict(page, "status_confirmed")).to_have_text("No proof confirmed by a second party yet")
    expect(page.locator("#proof")).to_contain_text("Against the original promise: 41 of 100 laadpalen (41%), due ")


def test_a_historical_record_and_a_missed_deadline_moved_are_named(seeded: Seeded, page: Page) -> None:
    page.goto(f"{seeded.api_url}/commitments/{seeded.historical}?lang=en")
    flags = page.locator(".flags-detail > li")
    expect(flags.first).to_contain_text(re.compile(
        r"^Historical record: registered after its due date This promise was made on 13 June 2022 and was only entered in "
        r"the ledger on \d+ \w+ \d{4}, after its original due date \(29 December 2022\)\."))
    expect(flags.nth(1)).to_have_text("Deadline moved after it was missed")
    expect(_dd(page.locator("#promise"), "Due")).to_contain_text("(originally 29 December 2022)")
    amendment = page.locator("#amendment-1")
    expect(amendment).to_contain_text("Changed: due date")
    expect(amendment).to_contain_text("Due date from 29 December 2022 to ")
    expect(amendment.locator(".badge")).to_have_text("Deadline moved after it was missed")
    expect(page.locator("#headline-status")).to_have_text("No proof recorded yet")


def test_the_same_facts_read_in_dutch(seeded: Seeded, page: Page) -> None:
    page.goto(f"{seeded.api_url}/commitments/{seeded.relaxed}?lang=nl")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.locator(".flags-detail [data-status='relaxed']")).to_have_text("Alleen gehaald doordat de afspraak is versoepeld")
    expect(page.locator("#deliveries > li").first.locator("[data-lag]")).to_have_text("3 jaar na de opgegeven datum vastgelegd")
    expect(_dd(page.locator("#promise"), "Beloofd op")).to_have_text("13 juni 2022 (zoals opgegeven)")
    expect(page.locator("#proof .verdicts th")).to_have_text([
        "Status zoals gemeld", "Status zoals bewezen op de keten", "Status volgens de oorspronkelijke afspraak",
        "Status met alleen bevestigde leveringen"])


def test_the_document_check_finds_the_stored_evidence_of_a_delivery(seeded: Seeded, page: Page) -> None:
    sha = "0x" + hashlib.sha256(seeded.document).hexdigest()
    assert httpx.get(f"{seeded.api_url}/api/v1/evidence/{sha}").content == seeded.document
    page.goto(f"{seeded.api_url}/check?lang=en&sha256={sha}")
    result = page.locator("#doc-check-result")
    expect(result.get_by_test_id("check-hash")).to_have_text(sha)
    expect(result.locator(".citation")).to_have_count(1)
    expect(result.locator(".citation")).to_contain_text("Delivery 2 · Honderd laadpalen (Baarn)")
    expect(result.locator(".citation .verdict")).to_have_text("Valid: counts towards progress")
    expect(result.get_by_role("link", name="Honderd laadpalen")).to_have_attribute(
        "href", f"/commitments/{seeded.relaxed}?lang=en")


# ------------------------------------------------------------------ contract 2.1.0 in plain words


def test_a_confirmed_delivery_names_its_confirmer_and_the_status_counting_only_confirmed_ones(
    seeded: Seeded, page: Page
) -> None:
    page.goto(f"{seeded.api_url}/commitments/{seeded.lamps}?lang=en")
    delivery = page.locator("#deliveries > li")
    expect(delivery).to_have_count(1)
    expect(delivery.locator("h4 .badge")).to_have_text("Confirmed by a second party")
    review = delivery.locator(".reviews > li")
    expect(review).to_have_count(1)
    expect(review).to_contain_text(re.compile(f"^Confirmed by {CONFIRMER} on \\d+ \\w+ \\d{{4}} Their evidence: {INSPECTION}\\s+Transaction 0x"))
    expect(_dd(delivery, "Asset delivered")).to_have_text("Lantaarnpaal 12")
    expect(_verdict(page, "status_confirmed")).to_have_text("In progress")
    proof = page.locator("#proof")
    expect(_dd(proof, "Confirmed by a second party")).to_have_text("2 lantaarns")
    expect(_dd(proof, "Not confirmed (yet)")).to_have_text("0 lantaarns")
    expect(proof.locator("dt", has_text="Disputed")).to_have_count(0)
    expect(page.locator(".flags-detail")).to_have_text("Every delivery confirmed by a second party")


def test_a_disputed_delivery_shows_its_reason_in_dutch(seeded: Seeded, page: Page) -> None:
    page.goto(f"{seeded.api_url}/commitments/{seeded.bench}?lang=nl")
    delivery = page.locator("#deliveries > li")
    expect(delivery.locator("h4 .badge")).to_have_text("Betwist door een tweede partij")
    review = delivery.locator(".reviews > li.bad")
    expect(review).to_contain_text(re.compile(f"^Betwist door {CONFIRMER} op \\d+ \\w+ \\d{{4}}\\. Reden: Geen bankje gevonden op de Brink"))
    # delivered as reported, but nothing a second party confirmed
    expect(_verdict(page, "status")).to_have_text("Geleverd")
    expect(_verdict(page, "status_confirmed")).to_have_text("Nog geen bewijs bevestigd door een tweede partij")
    expect(_dd(page.locator("#proof"), "Betwist")).to_have_text("1 bankje")
    expect(page.locator(".flags-detail [data-status='disputed']")).to_have_text("Betwist door een tweede partij: 1 bankje")


def test_a_batched_delivery_links_its_leaf_to_a_proof_that_the_contract_accepts(seeded: Seeded, page: Page) -> None:
    root, (first, second) = seeded.batch["root"], seeded.batch["leaves"]
    page.goto(f"{seeded.api_url}/commitments/{seeded.trees}?lang=en")
    expect(page.locator("#deliveries > li")).to_have_count(2)
    leaf = page.locator(f"[id='delivery-{first['leaf_hash']}']")
    expect(leaf.locator("h4")).to_have_text(f"Delivery in batch, leaf {first['leaf_hash'][:12]}… Confirmed by a second party")
    expect(_dd(leaf, "Batch")).to_contain_text(f"{root} · delivery 1 in the file")
    expect(_dd(leaf, "Anchored on chain in a batch:")).to_contain_text(seeded.batch["tx"]["tx_hash"])
    expect(_dd(leaf, "Note")).to_have_text("Eerste rij")
    other = page.locator(f"[id='delivery-{second['leaf_hash']}']")
    expect(_dd(other, "Batch")).to_contain_text("delivery 2 in the file")
    expect(other.locator("h4 .badge")).to_have_text("Not (yet) confirmed by a second party")
    expect(_dd(other, "Asset delivered")).to_have_text("Boom 9")
    expect(_dd(other, "Reference")).to_have_text("rij-2")

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

    file = page.request.get(seeded.api_url + leaf.get_by_role("link", name="Batch file").get_attribute("href"))
    assert file.status == 200
    assert "0x" + hashlib.sha256(file.body()).hexdigest() == seeded.batch["file_sha256"]
    anchors = page.locator("#timeline > li.tl-anchored")  # one entry per batch, naming its leaves of this commitment
    expect(anchors).to_have_text([re.compile(
        f"^Batch anchored ·\\s+Batch {seeded.batch['root'][:12]}… anchored with 2 deliveries of this commitment: "
        f"Delivery in batch, leaf {first['leaf_hash'][:12]}…, Delivery in batch, leaf {second['leaf_hash'][:12]}…\\. "
        f"5 bomen in all\\.\\s+Transaction {seeded.batch['tx']['tx_hash']}")])


@pytest.mark.parametrize("lang, sentence, rollup, parts", [
    ("en", "Part of Wijkaanpak, with weight 3.",
     "Weighted progress of the parts: 62.5% · Parts delivered: 1 of 2",
     ["Lantaarns · weight 3 · In progress 2 of 4 lantaarns (50%)", "Bankje · weight 1 · Delivered 1 of 1 bankje (100%)"]),
    ("nl", "Onderdeel van Wijkaanpak, met gewicht 3.",
     "Gewogen voortgang van de onderdelen: 62,5% · Onderdelen geleverd: 1 van 2",
     ["Lantaarns · gewicht 3 · In uitvoering 2 van 4 lantaarns (50%)", "Bankje · gewicht 1 · Geleverd 1 van 1 bankje (100%)"]),
])
def test_a_part_names_its_parent_and_the_parent_its_parts_with_the_weighted_roll_up(
    seeded: Seeded, page: Page, lang: str, sentence: str, rollup: str, parts: list[str]
) -> None:
    page.goto(f"{seeded.api_url}/commitments/{seeded.lamps}?lang={lang}")
    expect(page.locator("#parent")).to_have_text(sentence)
    page.locator("#parent a").click()
    expect(page).to_have_url(re.compile(f"/commitments/{seeded.parent}\\?lang={lang}$"))
    expect(page.locator("#commitment-title")).to_have_text("Wijkaanpak")
    expect(page.locator("#proof")).to_contain_text(rollup)
    expect(page.locator("#proof .parts > li")).to_have_text(parts)
    expect(page.locator("#proof .parts a").first).to_have_attribute("href", f"/commitments/{seeded.lamps}?lang={lang}")


def test_the_list_shows_confirmed_and_disputed_deliveries(seeded: Seeded, page: Page) -> None:
    page.goto(f"{seeded.api_url}/?lang=en&q=Lantaarns")
    card = page.locator("#commitment-list > li")
    expect(card).to_have_count(1)
    expect(card.locator(".flags")).to_have_text("Every delivery confirmed by a second party")
    page.goto(f"{seeded.api_url}/?lang=en&q=Bankje")
    expect(page.locator("#commitment-list > li .flags [data-status='disputed']")).to_contain_text("Disputed by a second party: 1")
    page.goto(f"{seeded.api_url}/?lang=nl&q=Bomen")
    expect(page.locator("#commitment-list > li .flags")).to_have_text("3 bomen nog niet bevestigd door een tweede partij")


def test_the_document_check_finds_a_batched_delivery(seeded: Seeded, page: Page) -> None:
    first = seeded.batch["leaves"][0]
    page.goto(f"{seeded.api_url}/check?lang=en&sha256={first['evidence_hashes'][0]}")
    result = page.locator("#doc-check-result")
    expect(result.locator(".citation")).to_have_count(1)
    expect(result.locator(".citation")).to_contain_text(f"Delivery in batch, leaf {first['leaf_hash'][:12]}… · Bomen (Baarn)")
    expect(result.locator(".citation .verdict")).to_have_text("Valid: counts towards progress (delivery in a verified batch)")
    expect(result.get_by_role("link", name="Bomen")).to_have_attribute("href", f"/commitments/{seeded.trees}?lang=en")


# ------------------------------------------------------------------ accessibility of the 2.1.0 pages


@pytest.mark.parametrize("which, lang", [("parent", "en"), ("lamps", "nl"), ("bench", "en"), ("trees", "en"), ("list", "en")])
def test_the_2_1_0_pages_pass_axe_and_the_structure_checks(seeded: Seeded, browser: Browser, which: str, lang: str) -> None:
    context, page, watch = new_tab(browser, bypass_csp=True, viewport={"width": 1280, "height": 900})
    try:
        if which == "list":
            page.goto(f"{seeded.api_url}/?lang={lang}&q=Bankje")
            expect(page.locator("#commitment-list > li .flags")).to_be_visible()
        else:
            page.goto(f"{seeded.api_url}/commitments/{getattr(seeded, which)}?lang={lang}")
            expect(page.locator("#timeline > li").first).to_be_visible()
        page.locator("main details").evaluate_all("(all) => all.forEach((d) => { d.open = true; })")
        violations = axe_violations(page)
        assert violations == [], describe_violations(violations)
        assert structure_problems(page) == []
        assert watch.errors == []
    finally:
        context.close()


# ------------------------------------------------------------------ translations


TEMPLATE_KEY = re.compile(r"""\b(?:t|th|plural)\(\s*'([A-Za-z0-9_.]+)'\s*[,)]""")
PYTHON_KEY = re.compile(r"""\.(?:t|plural)\(\s*["']([A-Za-z0-9_.]+)["']\s*[,)]""")


def _catalogues() -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for code in SUPPORTED:
        merged[code] = {}
        for path in sorted((LOCALES_DIR / code).glob("*.json")):
            merged[code].update(json.loads(path.read_text(encoding="utf-8")))
    return merged


def test_both_languages_have_every_key_the_pages_ask_for() -> None:
    catalogues = _catalogues()
    assert sorted(set(catalogues["nl"]) ^ set(catalogues["en"])) == []
    frontend = LOCALES_DIR.parent
    asked = {key for html in (frontend / "templates").glob("*.html") for key in TEMPLATE_KEY.findall(html.read_text())}
    asked |= {key for py in frontend.glob("*.py") for key in PYTHON_KEY.findall(py.read_text())}
    # keys the templates build from a value: t('status.' ~ s), t('sort.' ~ s), t('tl.' ~ kind), t('chart.' ~ name) ...
    asked |= {f"status.{s}" for s in STATUSES} | {f"sort.{s}" for s in site.SORTS}
    asked |= {f"tl.{kind}" for kind in ("registered", "amended", "delivered", "revoked", "withdrawn", "anchored")}
    asked |= {f"errorPage.{key}.{part}" for key in {*site.ERROR_KEYS.values(), "internal"} for part in ("title", "text")}
    asked |= {f"chart.{name}" for name in charts.ChartLabels.text_fields()}
    assert len(asked) > 250
    en = catalogues["en"]
    missing = sorted(k for k in asked if k not in en and not {f"{k}.one", f"{k}.other"} <= set(en))
    assert missing == []


# ------------------------------------------------------------------ what the client-rendered pages showed


def test_a_batch_anchored_without_its_file_is_named_as_not_verifiable(seeded: Seeded, page: Page) -> None:
    page.goto(f"{seeded.api_url}/commitments/{seeded.trees}?lang=en")
    expect(page.locator("main")).to_contain_text("Contents verified: the published file matches the root on chain",
                                                 timeout=1_000)
    expect(page.locator("main")).to_contain_text(seeded.batch["file_sha256"], timeout=1_000)
    expect(page.locator("main")).to_contain_text("Anchored, contents not verifiable: counts nothing", timeout=1_000)
    expect(page.locator("main")).to_contain_text(UNVERIFIABLE_FILE, timeout=1_000)


@pytest.mark.parametrize("which, lang, text", [("lamps", "en", "Delivery confirmed"), ("bench", "nl", "Levering betwist")])
def test_the_timeline_lists_a_second_partys_verdicts(seeded: Seeded, page: Page, which: str, lang: str, text: str) -> None:
    page.goto(f"{seeded.api_url}/commitments/{getattr(seeded, which)}?lang={lang}")
    expect(page.locator("#timeline")).to_contain_text(text, timeout=1_000)
