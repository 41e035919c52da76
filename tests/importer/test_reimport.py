"""Re-imports (issue "The importer takes any real source with a mapping file alone"): a changed
source amends the fields its mapping's ``reimport.amend`` lists, with the mapping's reason,
and reports every other change as a difference (exit 6, nothing written); the dry run lists
both; an amendment the ledger refuses is reported with its problem. The CLI runs in-process
against the fake API (conftest.FakeLedgerApi) on three-row files in ``tmp_path``."""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest
import yaml
from typer.testing import CliRunner

from scripts.importer import MappingError, parse_mapping, plan_source
from scripts.importer import cli as cli_module
from scripts.importer.client import LedgerClient
from scripts.importer.reimport import amendment_reason
from scripts.importer.tokens import TOKEN_ENV_VAR

runner = CliRunner()
PROMISED = "2022-06-13T00:00:00+02:00"  # 1655071200
DUE = "2026-03-31T23:59:59+02:00"  # 1774994399
REASON = "Gewijzigd in de bron Afspraken Baarn ({$source_date})"
ROWS = [
    {"id": "a-1", "tekst": "Meer bomen in de wijk.", "thema": "Groen", "deadline": DUE},
    {"id": "a-2", "tekst": "Een nieuwe bibliotheek.", "thema": "Cultuur", "deadline": DUE},
    {"id": "a-3", "tekst": "Schone straten.", "thema": "Buitenruimte", "deadline": DUE},
]


def mapping_doc(reimport=None, published="2024-05-01"):
    doc = {
        "kind": "commitments",
        "source": {"id": "afspraken-baarn-test", "name": "Afspraken Baarn", "publisher": "Gemeente Baarn",
                   "url": "https://example.org/afspraken",
                   "licence": "test data", **({"published": published} if published else {})},
        "municipality": {"name": "Baarn", "code": "GM0308"},
        "key_column": "id",
        "file": "afspraken.csv",
        "commitment": {
            "external_ref": {"column": "id"}, "title": {"column": "tekst"}, "description": {"column": "tekst"},
            "theme": {"column": "thema"}, "target_quantity": {"const": 1}, "unit": {"const": "afspraak"},
            "promised_at": {"const": PROMISED}, "due_date": {"column": "deadline"},
        },
    }
    if reimport is not None:
        doc["reimport"] = reimport
    return doc


def write_source(folder, rows, doc):
    with (folder / "afspraken.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    path = folder / "afspraken.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def changed(**by_ref):
    """ROWS with the given rows' values replaced: ``changed(**{"a-2": {"tekst": ...}})``."""
    return [{**row, **by_ref.get(row["id"], {})} for row in ROWS]


@pytest.fixture()
def served(monkeypatch, fake_api):
    def make_client(base_url, token=None, **kwargs):
        return LedgerClient(base_url, token, transport=fake_api.transport(), sleep=lambda _s: None, **kwargs)

    monkeypatch.setattr(cli_module, "LedgerClient", make_client)
    monkeypatch.delenv(TOKEN_ENV_VAR, raising=False)
    return fake_api


def run(mapping, folder, *extra):
    report = folder / "report.json"
    result = runner.invoke(cli_module.app, [str(mapping), "--api", "http://ledger.test", "--token", "tok-baarn",
                                            "--data-dir", str(folder), "--report", str(report), *map(str, extra)])
    result.flat = " ".join(result.output.split())
    return result, json.loads(report.read_text(encoding="utf-8"))


def operation(report, ref):
    (row,) = [r for r in report["rows"] if r["key"] == ref]
    (op,) = row["operations"]
    return op


def test_a_changed_title_the_mapping_lets_amend_is_amended_with_its_reason_and_the_ledger_shows_it(served, tmp_path):
    mapping = write_source(tmp_path, ROWS, mapping_doc({"amend": ["title", "description"], "reason": {"template": REASON}}))
    first, _ = run(mapping, tmp_path)
    assert first.exit_code == 0, first.output
    writes = len(served.writes)

    write_source(tmp_path, changed(**{"a-2": {"tekst": "Een nieuwe bibliotheek in het centrum."}}), mapping_doc(
        {"amend": ["title", "description"], "reason": {"template": REASON}}))
    second, report = run(mapping, tmp_path)
    assert second.exit_code == 0, second.output
    amendment = operation(report, "a-2")["amendment"]
    assert (operation(report, "a-2")["outcome"], amendment["outcome"], amendment["amendment_number"]) == ("already_present", "amended", 1)
    assert amendment["changes"] == [
        {"field": "title", "ledger": "Een nieuwe bibliotheek.", "source": "Een nieuwe bibliotheek in het centrum."},
        {"field": "description", "ledger": "Een nieuwe bibliotheek.", "source": "Een nieuwe bibliotheek in het centrum."},
    ]
    assert amendment["reason"] == "Gewijzigd in de bron Afspraken Baarn (2024-05-01)"
    assert operation(report, "a-1")["amendment"] is None and operation(report, "a-3")["amendment"] is None
    assert report["summary"]["reimport"] == {"amended": 1, "would_amend": 0, "amendment_failed": 0,
                                             "rows_with_differences": 0, "differences_by_field": {}}
    # One amendment, both fields at once, through the API; the ledger shows the new title.
    assert served.writes[writes:] == [("POST", "/api/v1/staff/commitments/2/amendments")]
    (shown,) = served.commitments[2]["amendments"]
    assert (shown["fields"], shown["reason"]) == (["title", "description"], "Gewijzigd in de bron Afspraken Baarn (2024-05-01)")
    assert served.commitments[2]["title"] == "Een nieuwe bibliotheek in het centrum."
    assert "amended" in second.flat and "'Een nieuwe bibliotheek.' → 'Een nieuwe bibliotheek in het centrum.'" in second.flat

    third, report = run(mapping, tmp_path)  # the ledger holds the source's values now: nothing to do
    assert third.exit_code == 0, third.output
    assert operation(report, "a-2")["amendment"] is None and len(served.writes) == writes + 1


def test_a_changed_due_date_the_mapping_does_not_let_amend_is_a_difference_exit_6_and_nothing_is_written(served, tmp_path):
    mapping = write_source(tmp_path, ROWS, mapping_doc({"amend": ["title"], "reason": {"template": REASON}}))
    assert run(mapping, tmp_path)[0].exit_code == 0
    writes = len(served.writes)

    write_source(tmp_path, changed(**{"a-3": {"deadline": "2026-12-31T23:59:59+01:00"}}),
                 mapping_doc({"amend": ["title"], "reason": {"template": REASON}}))
    result, report = run(mapping, tmp_path)
    assert result.exit_code == cli_module.EXIT_DIFFERENCES == 6, result.output
    op = operation(report, "a-3")
    assert (op["outcome"], op["amendment"]) == ("already_present", None)
    assert op["differences"] == [{"field": "due_date", "ledger": 1774994399, "source": 1798757999}]
    assert report["summary"]["reimport"]["rows_with_differences"] == 1
    assert report["summary"]["reimport"]["differences_by_field"] == {"due_date": 1}
    assert report["summary"]["failed_rows"] == 0
    assert len(served.writes) == writes and served.commitments[3]["due_date"] == 1774994399
    assert "difference (not amended)" in result.flat and "exit 6" in result.flat


def test_without_a_reimport_block_every_change_is_a_difference(served, tmp_path):
    mapping = write_source(tmp_path, ROWS, mapping_doc())
    assert run(mapping, tmp_path)[0].exit_code == 0
    write_source(tmp_path, changed(**{"a-1": {"tekst": "Meer bomen.", "thema": "Natuur"}}), mapping_doc())
    result, report = run(mapping, tmp_path)
    assert result.exit_code == 6, result.output
    assert [d["field"] for d in operation(report, "a-1")["differences"]] == ["title", "theme"]


def test_the_dry_run_lists_the_planned_amendment_and_the_difference_and_writes_nothing(served, tmp_path):
    rules = {"amend": ["title"], "reason": {"template": REASON}}
    mapping = write_source(tmp_path, ROWS, mapping_doc(rules))
    assert run(mapping, tmp_path)[0].exit_code == 0
    writes = len(served.writes)
    write_source(tmp_path, changed(**{"a-1": {"tekst": "Meer bomen in elke wijk."}},
                                   **{"a-3": {"deadline": "2026-12-31T23:59:59+01:00"}}), mapping_doc(rules))
    result, report = run(mapping, tmp_path, "--dry-run")
    assert result.exit_code == 6, result.output
    assert operation(report, "a-1")["amendment"]["outcome"] == "would_amend"
    assert operation(report, "a-1")["amendment"]["changes"] == [
        {"field": "title", "ledger": "Meer bomen in de wijk.", "source": "Meer bomen in elke wijk."}]
    assert operation(report, "a-3")["differences"] == [{"field": "due_date", "ledger": 1774994399, "source": 1798757999}]
    assert report["summary"]["reimport"]["would_amend"] == 1
    assert "would amend" in result.flat and "difference (not amended)" in result.flat
    assert "Amendment reason: Gewijzigd in de bron Afspraken Baarn (2024-05-01)" in result.flat
    assert len(served.writes) == writes


def test_an_amendment_the_ledger_refuses_is_reported_with_its_problem_on_its_row(served, tmp_path):
    # The source moves the promise (not amendable: a difference) and the due date before the
    # promise the ledger holds: the API refuses that due date (a deadline comes after the promise).
    mapping = write_source(tmp_path, ROWS, mapping_doc({"amend": ["due_date"], "reason": {"template": REASON}}))
    assert run(mapping, tmp_path)[0].exit_code == 0
    doc = mapping_doc({"amend": ["due_date"], "reason": {"template": REASON}})
    doc["commitment"]["promised_at"] = {"const": "2020-01-01T00:00:00+01:00"}
    write_source(tmp_path, changed(**{"a-2": {"deadline": "2021-12-31T23:59:59+01:00"}}), doc)
    result, report = run(mapping, tmp_path)
    assert result.exit_code == cli_module.EXIT_ROW_FAILED == 1, result.output
    amendment = operation(report, "a-2")["amendment"]
    assert amendment["outcome"] == "failed"
    assert amendment["changes"] == [{"field": "due_date", "ledger": 1774994399, "source": 1640991599}]
    assert amendment["detail"] == "422 validation-error: due_date 1640991599 is not after the promise date 1655071200"
    assert amendment["problem"]["errors"][0]["type"] == "due_date_before_promise"
    assert report["summary"]["failed_rows"] == 1 and report["summary"]["reimport"]["amendment_failed"] == 1
    assert served.commitments[2]["due_date"] == 1774994399
    assert "amend due_date" in result.flat and "failed: 422 validation-error" in result.flat


def test_amend_takes_only_what_the_contracts_amendment_changes():
    with pytest.raises(MappingError) as info:
        parse_mapping(mapping_doc({"amend": ["title", "theme"]}))
    assert info.value.problems == [
        "reimport.amend.1: 'theme' cannot be amended on the ledger: an amendment changes title, description, "
        "target_quantity, due_date only (a difference in any other field is reported, never written)"
    ]
    with pytest.raises(MappingError) as info:
        parse_mapping(mapping_doc({"amend": ["title"], "reason": {"template": "{id} changed"}}))
    assert info.value.problems == [
        "reimport.reason: reads the column(s) ['id']: the reason is one per run; use ['$source', '$source_date']"]


def test_the_reason_names_the_source_date_from_the_mapping_or_the_command_line(served, tmp_path):
    rules = {"amend": ["title"], "reason": {"template": REASON}}
    with pytest.raises(MappingError) as info:
        amendment_reason(parse_mapping(mapping_doc(rules, published=None)))
    assert info.value.problems == [
        "reimport.reason: names $source_date, but no date is known: add source.published (the date of the edition "
        "imported, YYYY-MM-DD) to the mapping, or pass --source-date"]
    assert amendment_reason(parse_mapping(mapping_doc({"amend": ["title"]}))) == "Changed in the source Afspraken Baarn (2024-05-01)"

    mapping = write_source(tmp_path, ROWS, mapping_doc(rules, published=None))
    refused = runner.invoke(cli_module.app, [str(mapping), "--dry-run", "--data-dir", str(tmp_path)])
    assert refused.exit_code == 2 and "pass --source-date" in " ".join(refused.output.split())
    assert run(mapping, tmp_path, "--source-date", "2024-06-30")[0].exit_code == 0
    write_source(tmp_path, changed(**{"a-1": {"tekst": "Meer bomen."}}), mapping_doc(rules, published=None))
    result, report = run(mapping, tmp_path, "--source-date", "2024-07-15")
    assert result.exit_code == 0, result.output
    assert operation(report, "a-1")["amendment"]["reason"] == "Gewijzigd in de bron Afspraken Baarn (2024-07-15)"
    assert report["source"]["published"] == "2024-07-15"


def test_a_snapshot_source_dates_its_reason_by_its_last_snapshot(chile_doc, data_dir):
    chile_doc["reimport"] = {"amend": ["title"]}
    mapping = parse_mapping(chile_doc)
    assert mapping.snapshots[-1].as_of.date() == date(2024, 12, 31)
    assert amendment_reason(mapping).endswith("(2024-12-31)")
    assert len(plan_source(mapping, data_dir).commitments) == 216  # the block changes no plan
