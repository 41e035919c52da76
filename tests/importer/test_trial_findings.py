"""What a clerk trying the importer with only the guide ran into: YAML's ``on``/``yes``/``no``
read as booleans, a UTF-8 file read as Windows-1252 (garbled silently), one oversize cell
refusing a whole file, a dry run that did not show the values it would write, a description
that had to be given even when empty."""

from __future__ import annotations

import copy

import pytest

from scripts.importer import SourceDataError, parse_mapping, plan_source
from scripts.importer.errors import MisreadUtf8Error
from scripts.importer.mapping import load_yaml
from scripts.importer.report import build_report

DOC = {
    "kind": "commitments",
    "file": "p.csv",
    "source": {"id": "trial", "name": "Trial", "publisher": "Gemeente Zeist", "url": "https://zeist.example/p",
               "licence": "none stated"},
    "municipality": {"name": "Zeist", "code": "GM0355"},
    "key_column": "nr",
    "commitment": {
        "external_ref": {"column": "nr"},
        "title": {"column": "titel"},
        "target_quantity": {"const": 1},
        "unit": {"const": "stuks"},
        "promised_at": {"const": "2022-06-13T00:00:00+02:00"},
        "due_date": {"column": "deadline", "transforms": [{"date": {"formats": ["%d-%m-%Y"], "period": "end"}}]},
    },
}


def test_on_yes_and_no_stay_words_in_a_mapping():
    assert load_yaml("join: [{on: {column: brief, to: kenmerk}}]\nt: {Yes: 1, No: 0, n: 2}\nf: false\nt2: True\n") == {
        "join": [{"on": {"column": "brief", "to": "kenmerk"}}], "t": {"Yes": 1, "No": 0, "n": 2}, "f": False, "t2": True}


def test_a_utf8_file_read_as_windows_1252_is_refused_before_anything_is_garbled(tmp_path):
    (tmp_path / "p.csv").write_text("nr,titel,deadline\nz-1,Ideeën ophalen,31-12-2026\n", encoding="utf-8")
    doc = {**DOC, "read": {"encoding": "windows-1252"}}
    with pytest.raises(MisreadUtf8Error) as info:
        plan_source(parse_mapping(doc), tmp_path)
    assert str(info.value) == ("p.csv: the file is UTF-8 text, but read.encoding is windows-1252: 'Ideeën' would be read "
                               "as 'IdeeÃ«n'; remove read.encoding (UTF-8 is the default) or give the file's real encoding")
    (tmp_path / "p.csv").write_bytes("nr,titel,deadline\nz-1,Ideeën ophalen,31-12-2026\n".encode("windows-1252"))
    assert plan_source(parse_mapping(doc), tmp_path).commitments[0].title == "Ideeën ophalen"


def test_one_oversize_cell_makes_its_row_invalid_not_the_file(tmp_path):
    (tmp_path / "p.csv").write_text(f"nr,titel,deadline\nz-1,{'x' * 300_000},31-12-2026\nz-2,Kort,31-12-2026\n",
                                    encoding="utf-8")
    plan = plan_source(parse_mapping(DOC), tmp_path)
    assert [c.external_ref for c in plan.commitments] == ["z-2"]
    assert plan.report[0].outcome == "invalid" and plan.report[0].reason.startswith("title")


def test_the_description_may_be_left_out_and_is_then_empty(tmp_path):
    (tmp_path / "p.csv").write_text("nr,titel,deadline\nz-1,Kort,31-12-2026\n", encoding="utf-8")
    assert plan_source(parse_mapping(copy.deepcopy(DOC)), tmp_path).commitments[0].description == ""


def test_the_report_shows_the_values_each_operation_will_write_with_dates_in_the_issuers_zone(tmp_path):
    (tmp_path / "p.csv").write_text("nr,titel,deadline\nz-1,Kort,26-10-2025\n", encoding="utf-8")
    plan = plan_source(parse_mapping(DOC), tmp_path)
    report = build_report(plan, None, mapping_path="p.yaml", data_dir=str(tmp_path), api_url=None, dry_run=True)
    values = report["rows"][0]["operations"][0]["values"]
    assert values["title"] == "Kort" and values["target_quantity"] == "1"
    assert values["due_date"] == 1761519599 and values["due_date_iso"] == "2025-10-26T23:59:59+01:00"
    assert values["promised_at_iso"] == "2022-06-13T00:00:00+02:00"
    assert values["source_uri"] == "https://zeist.example/p#ledger-source=trial"
    assert report["report_version"] == 7


def test_a_missing_file_is_still_a_source_data_error(tmp_path):
    with pytest.raises(SourceDataError):
        plan_source(parse_mapping(DOC), tmp_path)
