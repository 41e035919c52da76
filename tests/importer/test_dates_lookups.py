"""The ``date`` and ``lookup`` transforms: dates as people write them, words instead of numbers,
"no data"; exact Unix seconds, exact problems, load-time errors with their locations."""

from __future__ import annotations

import csv

import pytest

from scripts.importer.errors import AmbiguousDateError

from scripts.importer import MappingError, parse_mapping, plan_source
from scripts.importer.errors import DateNotRecognisedError, UnknownLookupValueError
from scripts.importer.lookups import NoData
from scripts.importer.steps import FieldSpec


def date_spec(**options) -> FieldSpec:
    """A column ``d`` read by one ``date`` transform (no mapping: the zone defaults to
    Europe/Amsterdam unless given)."""
    return FieldSpec.model_validate({"column": "d", "transforms": [{"date": options}]})


def read_date(value: str, **options) -> int:
    return date_spec(**options).evaluate({"d": value})


def mapping_doc(**commitment) -> dict:
    """A ``kind: commitments`` mapping of ``c.csv`` (columns id, title, due) in New York."""
    doc = {
        "kind": "commitments",
        "file": "c.csv",
        "source": {"id": "test-source", "name": "Test", "publisher": "Tests", "url": "https://example.org", "licence": "none stated"},
        "municipality": {"name": "Testville", "code": "GM9999", "time_zone": "America/New_York"},
        "key_column": "id",
        "commitment": {
            "external_ref": {"column": "id"},
            "title": {"column": "title"},
            "description": {"const": ""},
            "target_quantity": {"const": 1},
            "unit": {"const": "plan"},
            "promised_at": {"const": "2020-01-01T00:00:00-05:00"},
            "due_date": {"column": "due", "transforms": [{"date": {"formats": ["%m/%d/%Y", "excel_serial"]}}]},
        },
    }
    doc["commitment"].update(commitment)
    return doc


def plan_rows(tmp_path, doc, rows):
    with (tmp_path / "c.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "due"])
        writer.writerows(rows)
    return plan_source(parse_mapping(doc), tmp_path)


def problems_of(doc) -> list[str]:
    with pytest.raises(MappingError) as info:
        parse_mapping(doc)
    return info.value.problems


# ------------------------------------------------------------------ date formats


def test_a_us_date_is_its_first_second_in_the_zone():
    assert read_date("12/31/2022", formats=["%m/%d/%Y"]) == 1672441200  # 2022-12-31T00:00:00+01:00
    assert read_date("12/31/2022", formats=["%m/%d/%Y"], time_zone="America/New_York") == 1672462800  # -05:00


def test_period_end_is_the_last_second_of_the_day():
    assert read_date("12/31/2022", formats=["%m/%d/%Y"], period="end") == 1672527599  # 23:59:59+01:00


def test_a_two_digit_year_follows_pythons_pivot():
    assert read_date("6/30/20", formats=["%m/%d/%y"]) == 1593468000  # 2020-06-30T00:00:00+02:00
    assert read_date("6/30/20", formats=["%m/%d/%y"], period="end") == 1593554399
    assert read_date("6/30/70", formats=["%m/%d/%y"]) == 15548400  # 1970-06-30T00:00:00+01:00


def test_the_century_pivot_moves_two_digit_years():
    assert read_date("6/30/70", formats=["%m/%d/%y"], century_pivot=80) == 3171304800  # 2070-06-30T00:00:00+02:00


def test_a_month_and_year_in_english_or_dutch():
    assert read_date("July 2014", formats=["month_year"]) == 1404165600  # 2014-07-01T00:00:00+02:00
    assert read_date("jul 2014", formats=["month_year"]) == 1404165600
    assert read_date("juli 2014", formats=["month_year"], period="end") == 1406843999  # 2014-07-31T23:59:59+02:00


def test_spanish_month_names_when_asked_for():
    assert read_date("julio de 2014", formats=["month_year"], languages=["es"]) == 1404165600
    with pytest.raises(DateNotRecognisedError):
        read_date("julio de 2014", formats=["month_year"])  # default languages: en, nl


def test_a_quarter_in_the_ways_people_write_it():
    for value in ("Quarter 1 2014", "Q1 2014", "Q1-2014", "1e kwartaal 2014", "kwartaal 1 2014", "2014 Q1"):
        assert read_date(value, formats=["quarter"]) == 1388530800, value  # 2014-01-01T00:00:00+01:00
    assert read_date("Q1 2014", formats=["quarter"], period="end") == 1396303199  # 2014-03-31T23:59:59+02:00
    assert read_date("1.er trimestre 2014", formats=["quarter"], languages=["es"]) == 1388530800


def test_a_year_with_period_end_is_new_years_eve_last_second():
    assert read_date("2022", formats=["%Y"], period="end", time_zone="America/Santiago") == 1672541999  # -03:00


def test_an_excel_serial_is_a_day_and_its_fraction_the_time():
    assert read_date("44439", formats=["excel_serial"]) == 1630360800  # 2021-08-31T00:00:00+02:00
    assert read_date("44439.5", formats=["excel_serial"]) == 1630404000  # 12:00:00+02:00
    assert read_date("61", formats=["excel_serial"]) == -2203892372  # 1900-03-01 (Amsterdam mean time)


def test_excels_phantom_leap_day_is_refused_with_the_reason():
    with pytest.raises(DateNotRecognisedError) as info:
        read_date("60", formats=["excel_serial"])
    assert str(info.value) == (
        "'60' matches none of the date formats ['excel_serial'] "
        "(excel_serial: serial 60 is 1900-02-29, a day that never was (Excel's 1900 leap-year bug))"
    )


def test_iso_takes_an_offset_as_written_and_a_plain_date_in_the_zone():
    assert read_date("2014-07-01T10:00:00+02:00", formats=["iso"], time_zone="America/Santiago") == 1404201600
    assert read_date("2014-07-01", formats=["iso"]) == 1404165600
    with pytest.raises(DateNotRecognisedError):
        read_date("2014", formats=["iso"])  # not taken as Unix seconds


def test_a_day_that_starts_at_one_because_the_clocks_jumped():
    # Chile's summer time began on 2022-09-11: the clocks went from 00:00 to 01:00 (-04:00 → -03:00).
    assert read_date("2022-09-11", formats=["iso"], time_zone="America/Santiago") == 1662868800  # 01:00-03:00
    assert read_date("2022-09-10", formats=["iso"], time_zone="America/Santiago", period="end") == 1662868799


def test_month_names_in_a_strptime_pattern():
    assert read_date("3 juli 2014", formats=["%d %B %Y"]) == 1404338400  # 2014-07-03T00:00:00+02:00
    assert read_date("3 mrt. 2014", formats=["%d %b. %Y"]) == 1393801200  # 2014-03-03T00:00:00+01:00


def test_every_format_is_tried_and_formats_that_disagree_refuse_the_value():
    spec = date_spec(formats=["%Y", "excel_serial"], period="end")
    assert spec.evaluate({"d": "44439"}) == 1630447199  # 2021-08-31T23:59:59+02:00: only a serial
    with pytest.raises(AmbiguousDateError) as info:  # the year 2014, or Excel's day 2014 (1905)?
        spec.evaluate({"d": "2014"})
    assert [fmt for fmt, _ in info.value.readings] == ["%Y", "excel_serial"]
    days = date_spec(formats=["%d/%m/%Y", "%m/%d/%Y"])
    assert days.evaluate({"d": "13/04/2026"}) == 1776031200  # 2026-04-13T00:00:00+02:00: one format reads it
    assert days.evaluate({"d": "04/04/2026"}) == 1775253600  # both read it alike
    with pytest.raises(AmbiguousDateError) as info:
        days.evaluate({"d": "03/04/2026"})
    assert str(info.value) == ("'03/04/2026' is ambiguous: %d/%m/%Y → 2026-04-03T00:00:00+02:00; "
                               "%m/%d/%Y → 2026-03-04T00:00:00+01:00; keep only the format the source uses")


def test_the_time_zone_defaults_to_the_municipalitys(tmp_path):
    plan = plan_rows(tmp_path, mapping_doc(), [["a", "A", "12/31/2022"], ["b", "B", "44439"]])
    assert [c.due_date for c in plan.commitments] == [1672462800, 1630382400]  # New York, -05:00 and -04:00


def test_a_value_matching_no_format_makes_the_row_invalid_naming_field_value_and_formats(tmp_path):
    plan = plan_rows(tmp_path, mapping_doc(), [["a", "A", "31-12-2022"]])
    (row,) = plan.report
    assert (row.outcome, row.reason) == (
        "invalid", "due_date: '31-12-2022' matches none of the date formats ['%m/%d/%Y', 'excel_serial']"
    )
    assert plan.operations == ()


# ------------------------------------------------------------------ date: load-time errors


def test_a_pattern_without_a_year_is_refused_with_its_location():
    doc = mapping_doc(due_date={"column": "due", "transforms": [{"date": {"formats": ["iso", "%d-%m"]}}]})
    assert problems_of(doc) == [
        "commitment.due_date.transforms.0.date.formats: format '%d-%m' is neither a named format "
        "(excel_serial, month_year, quarter, iso) nor a strptime pattern with a year directive (%Y or %y), e.g. '%d-%m-%Y'"
    ]


def test_an_unknown_directive_is_refused_with_its_location():
    doc = mapping_doc(due_date={"column": "due", "transforms": [{"date": {"formats": ["%Q %Y"]}}]})
    assert problems_of(doc) == [
        "commitment.due_date.transforms.0.date.formats: format '%Q %Y' is not a valid strptime pattern: "
        "'Q' is a bad directive in format '%Q %Y'"
    ]


def test_an_unknown_zone_language_or_period_is_refused_with_its_location():
    doc = mapping_doc(due_date={"column": "due", "transforms": [
        {"date": {"formats": ["%Y"], "time_zone": "Mars/Olympus", "languages": ["xx"], "period": "middle"}}]})
    assert problems_of(doc) == [
        "commitment.due_date.transforms.0.date.time_zone: unknown IANA time zone 'Mars/Olympus'",
        "commitment.due_date.transforms.0.date.period: Input should be 'start' or 'end'",
        "commitment.due_date.transforms.0.date.languages: unknown language 'xx' (a CLDR locale such as en, nl, es)",
    ]


# ------------------------------------------------------------------ lookup

OGP = {"Not Started": 0, "Limited": 33, "Substantial": 67, "Complete": 100}


def lookup_spec(**options) -> FieldSpec:
    return FieldSpec.model_validate({"column": "s", "transforms": [{"lookup": options}]})


def test_lookup_maps_words_to_numbers_ignoring_case_and_spaces():
    spec = lookup_spec(table=OGP, no_data=["ND", "NR", "N/A", ""])
    assert [spec.evaluate({"s": v}) for v in ("Limited", "complete", " Not started ")] == [33, 100, 0]


def test_no_data_words_give_the_no_data_marker_not_zero():
    spec = lookup_spec(table=OGP, no_data=["ND", "NR", "N/A", ""])
    assert [spec.evaluate({"s": v}) for v in ("ND", "n/a", "")] == [NoData("ND"), NoData("n/a"), NoData("")]


def test_no_data_skips_the_transforms_after_the_lookup():
    spec = FieldSpec.model_validate({"column": "s", "transforms": [{"lookup": {"no_data": ["ND"], "otherwise": "keep"}}, "percent"]})
    assert (spec.evaluate({"s": "ND"}), spec.evaluate({"s": "40%"})) == (NoData("ND"), 40)


def test_an_unknown_value_is_an_error_naming_it_and_the_known_words():
    with pytest.raises(UnknownLookupValueError) as info:
        lookup_spec(table=OGP, no_data=["ND"]).evaluate({"s": "Partial"})
    assert (info.value.value, info.value.known, info.value.no_data) == ("Partial", list(OGP), ["ND"])
    assert str(info.value) == (
        "'Partial' is not in the lookup table (known: ['Not Started', 'Limited', 'Substantial', 'Complete']; no data: ['ND'])"
    )


def test_otherwise_keep_passes_an_unknown_value_on():
    assert lookup_spec(table={"ja": "yes"}, otherwise="keep").evaluate({"s": "Partial"}) == "Partial"


def test_case_matters_when_asked():
    spec = lookup_spec(table={"A": 1, "a": 2}, ignore_case=False)
    assert (spec.evaluate({"s": "A"}), spec.evaluate({"s": "a"})) == (1, 2)


def test_a_no_data_commitment_field_makes_the_row_invalid(tmp_path):
    doc = mapping_doc(due_date={"column": "due", "transforms": [
        {"lookup": {"no_data": ["ND"], "otherwise": "keep"}}, {"date": {"formats": ["%m/%d/%Y"]}}]})
    plan = plan_rows(tmp_path, doc, [["a", "A", "ND"], ["b", "B", "12/31/2022"]])
    assert [(r.key, r.outcome, r.reason) for r in plan.report] == [
        ("a", "invalid", 'due_date: no data ("ND")'),
        ("b", "planned", None),
    ]


def test_a_no_data_commitment_field_with_a_default_takes_the_default(tmp_path):
    doc = mapping_doc(due_date={"column": "due", "default": "12/31/2026", "transforms": [
        {"lookup": {"no_data": ["ND"], "otherwise": "keep"}}, {"date": {"formats": ["%m/%d/%Y"]}}]})
    plan = plan_rows(tmp_path, doc, [["a", "A", "ND"], ["b", "B", ""], ["c", "C", "12/31/2022"]])
    assert [c.due_date for c in plan.commitments] == [1798693200, 1798693200, 1672462800]  # 2026-12-31, 2022-12-31 -05:00


def test_an_unknown_word_in_a_commitment_field_makes_the_row_invalid(tmp_path):
    doc = mapping_doc(unit={"column": "title", "transforms": [{"lookup": {"table": {"A": "plan"}}}]})
    plan = plan_rows(tmp_path, doc, [["a", "A", "12/31/2022"], ["b", "B", "12/31/2022"]])
    assert [(r.key, r.outcome, r.reason) for r in plan.report] == [
        ("a", "planned", None),
        ("b", "invalid", "unit: 'B' is not in the lookup table (known: ['A'])"),
    ]


# ------------------------------------------------------------------ lookup: load-time errors


def lookup_problems(**options) -> list[str]:
    return problems_of(mapping_doc(target_quantity={"column": "title", "transforms": [{"lookup": options}]}))


def test_keys_equal_after_case_folding_are_refused():
    assert lookup_problems(table={"Done": 1, "done ": 2}) == [
        "commitment.target_quantity.transforms.0.lookup: table keys 'Done' and 'done ' are the same key when case is ignored"
    ]


def test_a_key_that_is_also_a_no_data_value_is_refused():
    assert lookup_problems(table={"Done": 1, "ND": 0}, no_data=["nd"]) == [
        "commitment.target_quantity.transforms.0.lookup: ['nd'] are both table keys and no_data values: say which they mean"
    ]


def test_a_table_value_must_be_a_whole_number_or_a_text():
    assert lookup_problems(table={"Done": True}) == [
        "commitment.target_quantity.transforms.0.lookup.table: the value of 'Done' is True: "
        "give a whole number or a text (quoted in YAML)"
    ]


def test_an_empty_lookup_is_refused():
    assert lookup_problems() == ["commitment.target_quantity.transforms.0.lookup: give a table or no_data values (or both)"]
