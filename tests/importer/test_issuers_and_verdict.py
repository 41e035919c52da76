"""Many issuers in one file (``issuers``: a column naming each row's issuer, planned issuer by
issuer) and exit codes that never flatter (exit 5 when nothing could be imported or too many
rows are invalid or malformed; every warning counted)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from scripts.importer import MappingError, parse_mapping
from scripts.importer import cli as cli_module
from scripts.importer.issuers import for_code, names_issuer, plan_issuers, split_issuers
from scripts.importer.report import verdict
from tests.importer.test_cli import invoke, served, token_file  # noqa: F401 - fixtures

HEADER = "ref,land,titel,streefwaarde\n"

BASE = {
    "kind": "commitments",
    "file": "promises.csv",
    "source": {"id": "two-governments", "name": "Promises of two governments", "publisher": "A watchdog", "url": "https://watch.example/p",
               "licence": "CC BY 4.0"},
    "issuers": {
        "column": "land",
        "table": {
            "Baarn": {"name": "Baarn", "code": "GM0308"},
            "GM0308": {"name": "Baarn", "code": "GM0308"},
            "Chile": {"name": "Gobierno de Chile", "code": "CL-GOB"},
        },
    },
    "key_column": "ref",
    "skip": [{"row_empty": True, "reason": "empty row"}],
    "commitment": {
        "external_ref": {"column": "ref"},
        "title": {"column": "titel"},
        "description": {"const": ""},
        "target_quantity": {"column": "streefwaarde"},
        "unit": {"const": "stuks"},
        "promised_at": {"const": "2022-06-13T00:00:00+02:00"},
        "due_date": {"const": "2026-03-31T23:59:59+02:00"},
    },
}


def write(tmp_path: Path, rows: str, doc: dict | None = None) -> tuple[Path, Path]:
    (tmp_path / "promises.csv").write_text(HEADER + rows, encoding="utf-8")
    mapping = tmp_path / "promises.yaml"
    mapping.write_text(yaml.safe_dump(doc or BASE, allow_unicode=True), encoding="utf-8")
    return mapping, tmp_path


ROWS = ("a-1,Baarn,Bouw 200 woningen,200\n"
        "a-2,chile ,Ley de litio,1\n"
        "a-1,Chile,Zelfde ref bij een andere uitgever,1\n"  # refs are unique per issuer
        "a-3,Atlantis,Een onbekende uitgever,1\n"
        "a-4,,Geen uitgever,1\n"
        ",,,\n"
        "a-5, gm0308,Via de code,5\n")


def test_each_issuer_is_planned_apart_and_rows_naming_none_are_reported_once(tmp_path):
    _, data = write(tmp_path, ROWS)
    mapping = parse_mapping(BASE)
    plans, split = plan_issuers(mapping, data)
    assert [(p.mapping.issuer.code, p.mapping.issuer.name) for p in plans] == [("GM0308", "Baarn"), ("CL-GOB", "Gobierno de Chile")]
    assert [(c.external_ref, c.title, c.target_quantity) for c in plans[0].commitments] == [
        ("a-1", "Bouw 200 woningen", 200), ("a-5", "Via de code", 5)]
    assert [(c.external_ref, c.title) for c in plans[1].commitments] == [
        ("a-2", "Ley de litio"), ("a-1", "Zelfde ref bij een andere uitgever")]
    assert [(r.line, r.outcome, r.reason) for r in split.unassigned] == [
        (5, "invalid", "issuers.column 'land': 'Atlantis' is not in issuers.table"),
        (6, "invalid", "issuers.column 'land' is empty"),
        (7, "skipped", "empty row"),
    ]
    lines = sorted([r.line for p in plans for r in p.report] + [r.line for r in split.unassigned])
    assert lines == [2, 3, 4, 5, 6, 7, 8]  # every record reported exactly once
    judged = verdict([*split.unassigned, *(r for p in plans for r in p.report)])
    assert (judged.considered, judged.not_readable, judged.importable) == (6, 2, 4)
    assert judged.too_many_malformed  # 2 of 6 > 10 %


def test_unknown_skip_leaves_other_issuers_rows_out_without_counting_them_malformed(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["issuers"]["unknown"] = "skip"
    _, data = write(tmp_path, "a-1,Baarn,Bouw,2\na-3,Atlantis,Elders,1\n", doc)
    plans, split = plan_issuers(parse_mapping(doc), data)
    assert [len(p.commitments) for p in plans] == [1]
    assert [(r.outcome, r.malformed) for r in split.unassigned] == [("skipped", False)]
    assert not verdict([*split.unassigned, *plans[0].report]).mapping_looks_wrong


def test_without_a_table_the_column_holds_codes_and_names_come_from_another_column(tmp_path):
    doc = copy.deepcopy(BASE)
    doc["issuers"] = {"column": "land", "name_column": "naam"}
    (tmp_path / "promises.csv").write_text(
        "ref,land,naam,titel,streefwaarde\n"
        "r1,GM0344,Utrecht,Fietspad,3\n"
        "r2,GM0363,Amsterdam,Brug,1\n"
        "r3,GM0344,Utrecht (stad),Plein,1\n"       # the same code named otherwise: refused
        "r4,GM03440000000000000,Te lang,Iets,1\n",  # 19 bytes: no code
        encoding="utf-8")
    mapping = parse_mapping(doc)
    plans, split = plan_issuers(mapping, tmp_path)
    assert [(p.mapping.issuer.code, p.mapping.issuer.name, [c.external_ref for c in p.commitments]) for p in plans] == [
        ("GM0344", "Utrecht", ["r1"]), ("GM0363", "Amsterdam", ["r2"])]
    assert [(r.key, r.outcome) for r in split.unassigned] == [("r3", "invalid"), ("r4", "invalid")]
    assert split.unassigned[0].reason == "issuers: code 'GM0344' is named 'Utrecht (stad)' here and 'Utrecht' on line 2 of promises.csv"
    assert names_issuer(mapping, "GM9999")  # without a table any code may be in the file
    assert for_code(mapping, "GM9999", tmp_path) is None
    assert for_code(mapping, "GM0363", tmp_path).issuer.name == "Amsterdam"


@pytest.mark.parametrize("change, problem", [
    (lambda d: d.update(municipality={"name": "Baarn", "code": "GM0308"}),
     "<root>: give exactly one of municipality (every row is one issuer's) and issuers"),
    (lambda d: d.pop("issuers"), "municipality: Field required (or give issuers: a column that names each row's issuer)"),
    (lambda d: d["issuers"]["table"].update({" baarn ": {"name": "Baarn", "code": "GM0308"}}),
     "issuers: table: keys 'Baarn' and ' baarn ' are the same after normalising"),
    (lambda d: d["issuers"]["table"].update({"Baarn (gemeente)": {"name": "Gemeente Baarn", "code": "GM0308"}}),
     "issuers: table: code 'GM0308' is named both 'Baarn' and 'Gemeente Baarn'"),
    (lambda d: d["issuers"].update(name_column="naam"), "issuers: give exactly one of table"),
    (lambda d: d["issuers"]["table"]["Chile"].update(code="X" * 17), "issuers.table.Chile.code: code is longer than 16 bytes"),
    (lambda d: d["issuers"].update(time_zone="Europe/Atlantis"), "issuers.time_zone: unknown IANA time zone 'Europe/Atlantis'"),
])
def test_an_issuers_block_is_validated_with_its_location(change, problem):
    doc = copy.deepcopy(BASE)
    change(doc)
    with pytest.raises(MappingError) as info:
        parse_mapping(doc)
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems


def test_an_issuers_mapping_is_planned_per_issuer_only():
    from scripts.importer import plan_source

    with pytest.raises(MappingError):
        plan_source(parse_mapping(BASE), ".")


def test_split_of_a_one_issuer_mapping_is_its_municipality(baarn_mapping, data_dir):
    split = split_issuers(baarn_mapping, data_dir)
    assert [r.code for r in split.issuers] == ["GM0308"] and split.unassigned == ()


# ------------------------------------------------------------------ the command line


def test_many_issuers_are_written_each_with_its_own_token_and_reports(served, token_file, tmp_path):  # noqa: F811
    mapping, data = write(tmp_path, "a-1,Baarn,Bouw,2\na-2,Chile,Litio,1\na-1,Chile,Cobre,1\nb-9,Atlantis,X,1\n"
                                    "a-7,Baarn,Meer,1\na-8,Baarn,Nog meer,1\na-9,Chile,Meer,1\na-10,Chile,Nog,1\n"
                                    "a-11,Chile,Ook,1\na-12,Baarn,Ook,1\na-13,Baarn,Laatste,1\n")
    out = tmp_path / "out.json"
    result = invoke(mapping, "--api", "http://ledger.test", "--token-file", token_file, "--data-dir", data,
                    "--report", out, "--max-malformed-share", "0.1")
    assert result.exit_code == 1, result.output  # the Atlantis row: failed, the rest written
    by_municipality = sorted((c["municipality_id"], c["external_ref"]) for c in served.commitments.values())
    assert by_municipality == sorted([(1, "a-1"), (1, "a-7"), (1, "a-8"), (1, "a-12"), (1, "a-13"),
                                      (2, "a-2"), (2, "a-1"), (2, "a-9"), (2, "a-10"), (2, "a-11")])
    index = json.loads(out.read_text(encoding="utf-8"))
    assert [(i["code"], i["exit_code"], Path(i["report"]).name) for i in index["issuers"]] == [
        ("GM0308", 0, "out.GM0308.json"), ("CL-GOB", 0, "out.CL-GOB.json")]
    assert [(r["key"], r["outcome"]) for r in index["unassigned"]] == [("b-9", "invalid")]
    assert index["verdict"]["considered"] == 11 and index["verdict"]["not_readable"] == 1
    chile = json.loads((tmp_path / "out.CL-GOB.json").read_text(encoding="utf-8"))
    assert chile["municipality"]["code"] == "CL-GOB" and chile["summary"]["applied"]["commitments"]["done"] == 5
    again = invoke(mapping, "--api", "http://ledger.test", "--token-file", token_file, "--data-dir", data)
    assert again.exit_code == 1 and len(served.commitments) == 10  # nothing twice


def test_a_mapping_whose_every_row_is_malformed_exits_5_and_writes_nothing(served, token_file, tmp_path):  # noqa: F811
    mapping, data = write(tmp_path, "a-1,Baarn,Bouw,veel\na-2,Baarn,Meer,twee\n")  # target not a number
    result = invoke(mapping, "--api", "http://ledger.test", "--token-file", token_file, "--data-dir", data)
    assert result.exit_code == 5, result.output
    assert "the mapping looks wrong" in result.flat and "nothing could be imported: 0 of 2 rows" in result.flat
    assert served.writes == [] and served.commitments == {}


def test_too_many_invalid_rows_exit_5_unless_the_share_is_raised(served, token_file, tmp_path):  # noqa: F811
    mapping, data = write(tmp_path, "a-1,Baarn,Bouw,2\na-2,Baarn,Meer,twee\na-3,Baarn,Nog,3\n")
    refused = invoke(mapping, "--api", "http://ledger.test", "--token-file", token_file, "--data-dir", data)
    assert refused.exit_code == 5 and served.commitments == {}
    assert "1 of 3 rows (33%) are invalid or malformed, more than --max-malformed-share 10%" in refused.flat
    allowed = invoke(mapping, "--api", "http://ledger.test", "--token-file", token_file, "--data-dir", data,
                     "--max-malformed-share", "0.5")
    assert allowed.exit_code == 1, allowed.output  # written, and the invalid row still fails the run
    assert sorted(c["external_ref"] for c in served.commitments.values()) == ["a-1", "a-3"]


def test_every_warning_is_counted_in_the_summary(served, token_file, tmp_path, mapping_paths, data_dir):  # noqa: F811
    out = tmp_path / "chile.json"
    result = invoke(mapping_paths["chile"], "--api", "http://ledger.test", "--token-file", token_file,
                    "--data-dir", data_dir, "--report", out, "--deliveries-mode", "per_delivery", "--dry-run")
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    rows = sum(len(r["warnings"]) for r in report["rows"])
    ops = sum(len(o["warnings"]) for r in report["rows"] for o in r["operations"])
    counted = report["summary"]["warnings"]
    assert counted == {"rows": rows, "operations": ops, "run": len(report["ledger"].get("warnings", [])),
                       "total": rows + ops + len(report["ledger"].get("warnings", []))}
    assert f"Warnings: {counted['total']} ({rows} on rows, {ops} on operations" in result.flat


def test_exit_codes_are_documented():
    doc = cli_module.__doc__ or ""
    assert "5 the mapping looks wrong" in " ".join(doc.split())


def test_make_run_onboards_the_issuers_of_a_table_only_when_asked(tmp_path):
    from scripts.run_local import source_municipalities

    asked = copy.deepcopy(BASE)
    asked["issuers"]["onboard"] = True
    (tmp_path / "a-asked.yaml").write_text(yaml.safe_dump(asked, allow_unicode=True), encoding="utf-8")
    (tmp_path / "b-not-asked.yaml").write_text(yaml.safe_dump(
        {**BASE, "source": {**BASE["source"], "id": "utrecht-only"},
         "issuers": {**BASE["issuers"], "table": {"Utrecht": {"name": "Utrecht", "code": "GM0344"}}}},
        allow_unicode=True), encoding="utf-8")
    assert source_municipalities(tmp_path) == [{"name": "Baarn", "code": "GM0308"},
                                               {"name": "Gobierno de Chile", "code": "CL-GOB"}]


def test_an_issuers_mapping_credits_each_issuer_of_its_table_and_without_one_any_issuer_by_id_only(tmp_path):
    from ledger.sources import credited_sources, credits_by_code, source_uri_with_id

    (tmp_path / "a.yaml").write_text(yaml.safe_dump(BASE, allow_unicode=True), encoding="utf-8")
    codes = {**BASE, "source": {**BASE["source"], "id": "all-municipalities", "url": "https://open.example/all"},
             "issuers": {"column": "code", "name_column": "naam"}}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(codes, allow_unicode=True), encoding="utf-8")
    by_code = credits_by_code(tmp_path)
    assert [(s.id, s.municipality_name) for s in by_code.get("GM0308")] == [
        ("two-governments", "Baarn"), ("all-municipalities", "")]
    assert [s.id for s in by_code.get("CL-GOB")] == ["two-governments", "all-municipalities"]
    assert [s.id for s in by_code.get("GM0344")] == ["all-municipalities"]  # any issuer
    tagged = source_uri_with_id("", "all-municipalities", "https://open.example/all")
    assert [s.id for s in credited_sources(by_code.get("GM0344"), tagged)] == ["all-municipalities"]
    assert credited_sources(by_code.get("GM0344"), "https://open.example/all") == []  # no url rule for any issuer
    assert [s.id for s in credited_sources(by_code.get("GM0308"), "https://watch.example/p")] == ["two-governments"]
