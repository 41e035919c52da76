"""Plan of the Baarn coalition agreement (real file, read-only)."""

from __future__ import annotations

import csv

from scripts.importer import RegisterCommitment
from scripts.importer.limits import utf8_len

ANNEX = "portfolio annex, not a commitment"
INTRO = "introduction, not a commitment"
PAGE = "trailing PDF page number"
PAGE_HEADING = "trailing PDF page number and section heading"
HEADING = "trailing section heading (start of the next section in the PDF)"
INNER_PAGE = "PDF page number inside the text"
STRAY = "stray punctuation before the text (PDF extraction)"

# Every row a cleaning step changed, with what it removed (checked by hand against the CSV).
EXPECTED_CLEANED = {
    "bestuurlijke_vernieuwing-003": [(HEADING, "Gemeentelijke dienstverlening voor iedereen toegankelijk")],
    "bestuurlijke_vernieuwing-007": [(PAGE_HEADING, "5 Inwonerparticipatie is belangrijk")],
    "bestuurlijke_vernieuwing-012": [(HEADING, "Communicatie afstemmen op doel en doelgroep")],
    "bestuurlijke_vernieuwing-015": [(PAGE, "6")],
    "duurzaamheid-008": [(PAGE_HEADING, "14 Duurzame opwek van energie")],
    "duurzaamheid-012": [(HEADING, "Natuur en groen")],
    "duurzaamheid-019": [(HEADING, "Circulaire economie")],
    "duurzaamheid-023": [(PAGE, "15")],
    "duurzaamheid-024": [(PAGE, "16")],
    "economie_toerisme_centrum-002": [(HEADING, "Toerisme: van kwantiteit naar kwaliteit")],
    "economie_toerisme_centrum-008": [(PAGE_HEADING, "18 Lage Vuursche")],
    "economie_toerisme_centrum-009": [(PAGE, "19")],
    "financien-003": [(HEADING, "Subsidies")],
    "financien-004": [(HEADING, "Lokale lasten")],
    "financien-005": [(PAGE, "20")],
    "preventie_en_welzijn-005": [(HEADING, "Werk en bestaanszekerheid: begrip in plaats van wantrouwen")],
    "preventie_en_welzijn-010": [(INNER_PAGE, "10")],
    "preventie_en_welzijn-021": [(HEADING, "Jeugdzorg: toegang en veiligheid voorop")],
    "preventie_en_welzijn-032": [(HEADING, "Jongeren in Baarn")],
    "preventie_en_welzijn-038": [(INNER_PAGE, "12")],
    "preventie_en_welzijn-047": [(PAGE, "13")],
    "wonen_en_leefomgeving-004": [(HEADING, "Bestaande gebouwen en alternatieve woonvormen")],
    "wonen_en_leefomgeving-009": [(PAGE_HEADING, "7 Mobiliteit")],
    "wonen_en_leefomgeving-015": [(STRAY, ".")],
    "wonen_en_leefomgeving-017": [(HEADING, "Verduurzaming woningen")],
    "wonen_en_leefomgeving-018": [(PAGE_HEADING, "8 Groene karakter")],
    "wonen_en_leefomgeving-021": [(HEADING, "Lokale welstandscommissie")],
    "wonen_en_leefomgeving-022": [(HEADING, "Vorstelijk centrum")],
    "wonen_en_leefomgeving-024": [(PAGE, "9")],
}


def read_rows(path):
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def by_ref(plan) -> dict[str, RegisterCommitment]:
    return {c.external_ref: c for c in plan.commitments}


def test_plans_exactly_131_commitments(baarn_plan):
    assert len(baarn_plan.commitments) == 131
    assert len(baarn_plan.deliveries) == 0
    assert len(baarn_plan.revocations) == 0


def test_skips_50_annex_rows_and_4_introduction_rows(baarn_plan, baarn_csv):
    assert baarn_plan.skipped_by_reason() == {ANNEX: 50, INTRO: 4}
    rows = read_rows(baarn_csv)
    expected = {r["id"]: (ANNEX if r["thema_key"] == "bijlage_portefeuilles" else INTRO)
                for r in rows if r["thema_key"] in ("bijlage_portefeuilles", "inleiding")}
    assert {r.key: r.reason for r in baarn_plan.rows("skipped")} == expected


def test_every_other_row_is_planned_once_and_nothing_is_invalid(baarn_plan, baarn_csv):
    rows = read_rows(baarn_csv)
    expected = [r["id"] for r in rows if r["thema_key"] not in ("bijlage_portefeuilles", "inleiding")]
    assert [c.external_ref for c in baarn_plan.commitments] == expected
    assert baarn_plan.rows("invalid") == ()
    assert len(baarn_plan.report) == 185


def test_report_rows_carry_the_csv_line_numbers(baarn_plan):
    assert (baarn_plan.report[0].line, baarn_plan.report[0].key) == (2, "bestuurlijke_vernieuwing-001")
    assert baarn_plan.report[-1].line == 186
    assert all(c.row.line == r.line for r in baarn_plan.rows("planned") for c in [baarn_plan.operations[r.operations[0]]])


def test_cleaned_rows_and_what_was_removed(baarn_plan):
    got = {r.key: [(c.reason, c.removed) for c in r.cleaned] for r in baarn_plan.cleaned_rows}
    assert got == EXPECTED_CLEANED
    assert len(baarn_plan.cleaned_rows) == 29


def test_cleaned_text_is_the_source_text_minus_what_was_removed(baarn_plan, baarn_csv):
    source = {r["id"]: r["tekst"] for r in read_rows(baarn_csv)}
    commitments = by_ref(baarn_plan)
    assert commitments["duurzaamheid-023"].description == "We streven naar circulair en natuurinclusief bouwen."
    assert commitments["wonen_en_leefomgeving-015"].description == "Parkeernormen"
    assert source["bestuurlijke_vernieuwing-007"].startswith(commitments["bestuurlijke_vernieuwing-007"].description)
    assert commitments["bestuurlijke_vernieuwing-007"].description.endswith("het verzamelen van Big Data.")
    assert "introduceren. Zwemmen is een basisvaardigheid" in commitments["preventie_en_welzijn-038"].description
    uncleaned = set(commitments) - set(EXPECTED_CLEANED)
    assert all(commitments[ref].description == source[ref] for ref in uncleaned)


def test_rows_that_look_like_headings_or_cut_paragraphs_are_kept_with_a_warning(baarn_plan):
    warned = {r.key for r in baarn_plan.report if any("does not end with" in w for w in r.warnings)}
    assert warned == {"preventie_en_welzijn-030", "preventie_en_welzijn-042", "wonen_en_leefomgeving-015"}
    inner = {r.key for r in baarn_plan.report if any("inside the text" in w for w in r.warnings)}
    assert inner == {"preventie_en_welzijn-010", "preventie_en_welzijn-038"}


def test_title_is_the_first_sentence_within_200_bytes(baarn_plan):
    commitments = by_ref(baarn_plan)
    assert all(1 <= utf8_len(c.title) <= 200 for c in commitments.values())
    assert commitments["financien-001"].title == "Ons uitgangspunt is een meerjarig sluitende begroting met een gezonde algemene reserve."
    assert commitments["preventie_en_welzijn-042"].title == "Cultuur: op hoog peil houden"
    cut = [c for c in commitments.values() if c.title.endswith("…")]
    assert len(cut) == 10
    for c in cut:
        kept = c.title[:-1]
        assert c.description.startswith(kept)
        assert c.description[len(kept)] == " "  # cut at a word boundary


def test_constant_fields_and_due_date_end_of_the_council_period(baarn_plan):
    for c in baarn_plan.commitments:
        assert (c.target_quantity, c.unit) == (1, "afspraak")
        assert c.due_date == 1774994399  # 2026-03-31T23:59:59+02:00
        assert c.promised_at == 1655071200  # 2022-06-13T00:00:00+02:00, the agreement's adoption
        assert c.payload()["promised_at"] == 1655071200
        assert c.source_uri.startswith("https://cuatro.sim-cdn.nl/baarn/uploads/coalitieakkoord_2022_-_2026")
        assert c.source_document_sha256 is None


def test_theme_is_thema_naam(baarn_plan):
    assert by_ref(baarn_plan)["financien-001"].theme == "Financiën"


def test_status_auto_and_related_decisions_never_reach_the_payload(baarn_plan, baarn_csv):
    payload = baarn_plan.commitments[0].payload()
    assert set(payload) == {
        "external_ref", "title", "description", "theme", "target_quantity", "unit", "promised_at", "due_date",
        "source_document_sha256", "source_uri",
    }
    assert payload["target_quantity"] == "1"
    statuses = {r["status_auto"] for r in read_rows(baarn_csv)}
    assert not any(str(v) in statuses for c in baarn_plan.commitments for v in c.payload().values())


def test_plan_is_deterministic(baarn_mapping, data_dir, baarn_plan):
    from scripts.importer import plan_source

    again = plan_source(baarn_mapping, data_dir)
    assert again.operations == baarn_plan.operations
    assert again.report == baarn_plan.report
