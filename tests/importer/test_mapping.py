"""Mapping files: the two real mappings load; broken mappings fail with located messages."""

from __future__ import annotations

import copy

import pytest

from scripts.importer import CommitmentsMapping, MappingError, ProgressSnapshotsMapping, load_mapping, parse_mapping


def problems_of(doc) -> list[str]:
    with pytest.raises(MappingError) as info:
        parse_mapping(doc)
    return info.value.problems


def test_baarn_mapping_loads_as_commitments_kind(baarn_mapping):
    assert isinstance(baarn_mapping, CommitmentsMapping)
    assert baarn_mapping.municipality.name == "Baarn"
    assert baarn_mapping.municipality.code == "GM0308"


def test_baarn_mapping_declares_status_auto_and_related_decisions_not_imported(baarn_mapping):
    columns = {n.column for n in baarn_mapping.not_imported}
    assert {"status_auto", "gerelateerde_besluiten"} <= columns
    used = baarn_mapping.columns_used()
    assert "status_auto" not in used and "gerelateerde_besluiten" not in used


def test_chile_mapping_loads_as_progress_snapshots_kind(chile_mapping):
    assert isinstance(chile_mapping, ProgressSnapshotsMapping)
    assert chile_mapping.municipality.code == "CL-GOB"
    assert [s.label for s in chile_mapping.snapshots] == ["2022", "2023", "2024"]
    assert [s.as_of.isoformat() for s in chile_mapping.snapshots] == [
        "2022-12-31T23:59:59-03:00", "2023-12-31T23:59:59-03:00", "2024-12-31T23:59:59-03:00",
    ]


def test_missing_file_is_a_mapping_error(tmp_path):
    with pytest.raises(MappingError, match="cannot read"):
        load_mapping(tmp_path / "nope.yaml")


def test_non_yaml_is_a_mapping_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("kind: [unclosed", encoding="utf-8")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(path)


def test_unknown_kind_is_named(baarn_doc):
    baarn_doc["kind"] = "promises"
    assert any("kind" in p or "tag" in p for p in problems_of(baarn_doc))


def test_a_field_with_two_sources_is_refused(baarn_doc):
    baarn_doc["commitment"]["unit"] = {"const": "afspraak", "column": "id"}
    problems = problems_of(baarn_doc)
    assert any(p.startswith("commitment.unit") and "exactly one of column, const, template" in p for p in problems)


def test_a_bad_regex_is_refused_with_its_location(baarn_doc):
    baarn_doc["clean"]["tekst"][2] = {"strip_end": {"pattern": "(unclosed", "reason": "x"}}
    problems = problems_of(baarn_doc)
    assert any(p.startswith("clean.tekst.2") and "not a valid regular expression" in p for p in problems)


def test_a_typo_in_a_key_is_refused(baarn_doc):
    baarn_doc["commitment"]["titel"] = baarn_doc["commitment"].pop("title")
    problems = problems_of(baarn_doc)
    assert any(p.startswith("commitment.title") and "Field required" in p for p in problems)
    assert any(p.startswith("commitment.titel") and "Extra inputs" in p for p in problems)


def test_a_naive_due_date_is_refused(baarn_doc):
    baarn_doc["commitment"]["due_date"] = {"const": "2026-03-31T23:59:59"}
    assert any("offset" in p for p in problems_of(baarn_doc))


def test_a_file_outside_the_data_dir_is_refused(baarn_doc):
    baarn_doc["file"] = "../secrets.csv"
    assert any(p.startswith("file") and "relative" in p for p in problems_of(baarn_doc))


def test_skip_rule_needs_exactly_one_condition(baarn_doc):
    baarn_doc["skip"].append({"column": "id", "equals": "x", "empty": True, "reason": "r"})
    assert any("exactly one of equals, one_of, empty, matches" in p for p in problems_of(baarn_doc))


def test_snapshots_out_of_time_order_are_refused(chile_doc):
    chile_doc["snapshots"] = list(reversed(chile_doc["snapshots"]))
    assert any("increasing as_of" in p for p in problems_of(chile_doc))


def test_unknown_context_name_in_a_template_is_refused(chile_doc):
    chile_doc["delivery"]["external_ref"] = {"template": "snapshot-{$year}"}
    assert any("$year" in p for p in problems_of(chile_doc))


def test_context_names_are_not_available_to_commitments_kind(baarn_doc):
    baarn_doc["commitment"]["external_ref"] = {"template": "{id}-{$snapshot}"}
    assert any("$snapshot" in p for p in problems_of(baarn_doc))


def test_evidence_columns_cannot_overwrite_reserved_keys(chile_doc):
    doc = copy.deepcopy(chile_doc)
    doc["delivery"]["evidence_columns"] = ["boletin", "progress"]
    assert any("progress" in p and "evidence document" in p for p in problems_of(doc))


def test_mapping_error_message_lists_every_problem(baarn_doc):
    del baarn_doc["source"]
    del baarn_doc["municipality"]
    with pytest.raises(MappingError) as info:
        parse_mapping(baarn_doc, origin="x.yaml")
    message = str(info.value)
    assert message.startswith("mapping x.yaml is not valid:")
    assert "source: Field required" in message and "municipality: Field required" in message


def test_the_mappings_state_when_each_promise_was_made(baarn_mapping, chile_mapping):
    assert baarn_mapping.commitment.promised_at.const == "2022-06-13T00:00:00+02:00"
    assert baarn_mapping.commitment.const_seconds("promised_at") == 1655071200
    assert chile_mapping.commitment.promised_at.const == "2022-03-11T00:00:00-03:00"
    assert chile_mapping.commitment.const_seconds("promised_at") == 1646967600


def test_a_mapping_without_promised_at_is_refused_with_how_to_fix_it(baarn_doc):
    del baarn_doc["commitment"]["promised_at"]
    assert problems_of(baarn_doc) == [
        "commitment: promised_at is missing: state when the promise was made (e.g. the date the council "
        'adopted the agreement), as {const: "2022-06-13T00:00:00+02:00"} or a column, with its source in a comment'
    ]


def test_a_promise_date_on_or_after_the_due_date_is_refused(baarn_doc):
    baarn_doc["commitment"]["promised_at"] = {"const": "2026-03-31T23:59:59+02:00"}
    assert problems_of(baarn_doc) == [
        "commitment: promised_at 2026-03-31T23:59:59+02:00 is not before due_date 2026-03-31T23:59:59+02:00: "
        "a promise is made before its deadline"
    ]


def test_a_naive_promise_date_is_refused(baarn_doc):
    baarn_doc["commitment"]["promised_at"] = {"const": "2022-06-13T00:00:00"}
    (problem,) = problems_of(baarn_doc)
    assert problem.startswith("commitment: '2022-06-13T00:00:00' is not an ISO 8601 timestamp with UTC offset")


def test_a_snapshot_dated_before_the_promise_is_refused(chile_doc):
    chile_doc["commitment"]["promised_at"] = {"const": "2023-01-01T00:00:00-03:00"}
    assert problems_of(chile_doc) == [
        "<root>: snapshots ['2022'] are dated before commitment.promised_at 2023-01-01T00:00:00-03:00: "
        "progress cannot be measured before the promise was made"
    ]


def test_a_due_date_from_a_column_before_the_promise_makes_that_row_invalid(baarn_doc, data_dir):
    from scripts.importer import plan_source

    baarn_doc["commitment"]["due_date"] = {"template": "{vastgesteld}T00:00:00+02:00"}
    plan = plan_source(parse_mapping(baarn_doc), data_dir)
    (row,) = [r for r in plan.report if r.key == "bestuurlijke_vernieuwing-001"]
    assert row.outcome == "invalid"
    assert row.reason.startswith("due_date ")
    assert row.reason.endswith("must be after promised_at 1655071200 and before 253402300800 (year 10000)")
