"""The command line, run in-process against the fake API (conftest.FakeLedgerApi), and the
choice of the staff token."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from scripts.importer import TokenNotFoundError
from scripts.importer import cli as cli_module
from scripts.importer.client import LedgerClient
from scripts.importer.tokens import TOKEN_ENV_VAR, resolve_token

runner = CliRunner()
PER_DELIVERY = ("--deliveries-mode", "per_delivery")  # the shipped Chile mapping anchors batches


@pytest.fixture()
def served(monkeypatch, fake_api):
    """Make the CLI talk to the fake API; returns the fake."""

    def make_client(base_url, token=None, **kwargs):
        return LedgerClient(base_url, token, transport=fake_api.transport(), sleep=lambda _s: None, **kwargs)

    monkeypatch.setattr(cli_module, "LedgerClient", make_client)
    monkeypatch.delenv(TOKEN_ENV_VAR, raising=False)
    return fake_api


@pytest.fixture()
def token_file(tmp_path):
    path = tmp_path / "local-staff-tokens.json"
    path.write_text(json.dumps({"GM0308": "tok-baarn", "CL-GOB": "tok-chile"}), encoding="utf-8")
    return path


def invoke(*args):
    result = runner.invoke(cli_module.app, [str(a) for a in args])
    result.flat = " ".join(result.output.split())  # rich wraps long lines
    return result


def test_import_then_reimport_registers_nothing_twice(served, token_file, tmp_path, mapping_paths, data_dir):
    report_path = tmp_path / "out.json"
    first = invoke(mapping_paths["baarn"], "--api", "http://ledger.test", "--token-file", token_file,
                   "--data-dir", data_dir, "--report", report_path)
    assert first.exit_code == 0, first.output
    assert len(served.commitments) == 131
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["summary"]["applied"]["commitments"]["done"] == 131
    assert report["summary"]["skipped_by_reason"] == {
        "portfolio annex, not a commitment": 50, "introduction, not a commitment": 4,
    }
    assert report["source"]["credit"].startswith("Coalitieakkoord 2022–2026")
    assert {n["column"] for n in report["not_imported"]} >= {"status_auto", "gerelateerde_besluiten"}
    assert len(report["rows"]) == 185

    second = invoke(mapping_paths["baarn"], "--api", "http://ledger.test", "--token-file", token_file,
                    "--data-dir", data_dir, "--report", report_path)
    assert second.exit_code == 0, second.output
    assert len(served.commitments) == 131
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["summary"]["applied"]["commitments"] == {
        "done": 0, "already_present": 131, "would_do": 0, "failed": 0, "blocked": 0,
    }
    assert "Source: Coalitieakkoord" in second.flat


def test_a_token_of_another_municipality_is_refused_with_exit_2(served, mapping_paths, data_dir):
    result = invoke(mapping_paths["chile"], "--api", "http://ledger.test", "--token", "tok-baarn", "--data-dir", data_dir)
    assert result.exit_code == 2
    assert "refused: the token belongs to Baarn (GM0308)" in result.flat
    assert served.writes == []


def test_a_failed_row_gives_exit_1_and_its_problem_in_the_report(served, token_file, tmp_path, mapping_paths, data_dir):
    served.reject["financien-001"] = (422, "contract-rejected", "LedgerTextTooLong: title")
    report_path = tmp_path / "out.json"
    result = invoke(mapping_paths["baarn"], "--api", "http://ledger.test", "--token-file", token_file,
                    "--data-dir", data_dir, "--report", report_path)
    assert result.exit_code == 1
    assert len(served.commitments) == 130
    report = json.loads(report_path.read_text(encoding="utf-8"))
    (row,) = [r for r in report["rows"] if r["key"] == "financien-001"]
    (op,) = row["operations"]
    assert op["outcome"] == "failed"
    assert op["problem"]["detail"] == "LedgerTextTooLong: title"
    assert report["summary"]["failed_rows"] == 1


def test_dry_run_writes_nothing(served, token_file, mapping_paths, data_dir):
    result = invoke(mapping_paths["chile"], "--api", "http://ledger.test", "--token-file", token_file,
                    "--data-dir", data_dir, "--dry-run")
    assert result.exit_code == 0, result.output
    assert served.writes == []
    assert "DRY RUN" in result.output


def test_dry_run_works_without_a_token_and_without_the_api(monkeypatch, tmp_path, mapping_paths, data_dir):
    def refuse(request):
        raise httpx.ConnectError("connection refused")

    def make_client(base_url, token=None, **kwargs):
        return LedgerClient(base_url, token, transport=httpx.MockTransport(refuse), sleep=lambda _s: None, **kwargs)

    monkeypatch.setattr(cli_module, "LedgerClient", make_client)
    monkeypatch.delenv(TOKEN_ENV_VAR, raising=False)
    report_path = tmp_path / "out.json"
    result = invoke(mapping_paths["chile"], "--dry-run", "--data-dir", data_dir, "--report", report_path)
    assert result.exit_code == 0, result.output
    assert "ledger state unknown" in result.flat
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["summary"]["applied"]["deliveries"]["would_do"] == 170
    assert report["source"]["credit"].startswith("Del Dicho al Hecho")


def test_without_a_token_a_real_run_is_refused(served, mapping_paths, data_dir):
    result = invoke(mapping_paths["baarn"], "--api", "http://ledger.test", "--data-dir", data_dir)
    assert result.exit_code == 2
    assert "no staff token" in result.flat
    assert served.requests == []


def test_a_broken_mapping_is_refused_with_exit_2(tmp_path, data_dir):
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: commitments\n", encoding="utf-8")
    result = invoke(bad, "--dry-run", "--data-dir", data_dir)
    assert result.exit_code == 2
    assert "source: Field required" in result.flat


def test_a_missing_data_dir_is_refused_with_exit_2(tmp_path, mapping_paths):
    result = invoke(mapping_paths["baarn"], "--dry-run", "--data-dir", tmp_path)
    assert result.exit_code == 2
    assert "file not found under the data directory" in result.flat


# ------------------------------------------------------------------ token choice


def test_token_flag_wins_over_the_environment():
    assert resolve_token("GM0308", token="a", token_file=None, environ={TOKEN_ENV_VAR: "b"}) == "a"


def test_token_file_is_picked_by_municipality_code(token_file):
    assert resolve_token("CL-GOB", token=None, token_file=token_file, environ={}) == "tok-chile"


def test_environment_variable_is_the_fallback():
    assert resolve_token("GM0308", token=None, token_file=None, environ={TOKEN_ENV_VAR: "b"}) == "b"


def test_token_file_without_the_code_lists_codes_but_no_tokens(token_file):
    with pytest.raises(TokenNotFoundError) as info:
        resolve_token("GM0000", token=None, token_file=token_file, environ={})
    message = str(info.value)
    assert "['CL-GOB', 'GM0308']" in message
    assert "tok-" not in message


def test_both_token_flags_are_refused(token_file):
    with pytest.raises(TokenNotFoundError, match="not both"):
        resolve_token("GM0308", token="a", token_file=token_file, environ={})


def test_the_report_names_the_transaction_of_every_row_and_counts_them(served, token_file, tmp_path, mapping_paths, data_dir):
    report_path = tmp_path / "chile.json"
    result = invoke(mapping_paths["chile"], "--api", "http://ledger.test", "--token-file", token_file,
                    "--data-dir", data_dir, "--report", report_path, *PER_DELIVERY)
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["batch_size"] == 100
    # 15 transactions of 50,000 + 30,000 gas per item (the fake's gas), carrying 395 operations.
    assert report["summary"]["transactions"] == {"count": 15, "gas_used": 12_600_000, "operations": 395}
    assert "Transactions: 15 carried 395 operations, 12,600,000 gas" in result.flat
    ops = [op for row in report["rows"] for op in row["operations"]]
    assert len(ops) == 395
    assert {op["outcome"] for op in ops} == {"done"}
    (row_1,) = [r for r in report["rows"] if r["key"] == "1" and r["file"].endswith("2022.csv")]
    assert row_1["operations"][0]["tx"] == {"tx_hash": "0x" + f"{1:064x}", "block_number": 41, "gas_used": 3_050_000, "operations": 100}


def test_batched_evidence_documents_are_written_to_the_evidence_dir(served, token_file, tmp_path, mapping_paths, data_dir):
    from scripts.importer import load_mapping, plan_source

    evidence_dir = tmp_path / "evidence"
    report_path = tmp_path / "chile.json"
    result = invoke(mapping_paths["chile"], "--api", "http://ledger.test", "--token-file", token_file,
                    "--data-dir", data_dir, "--report", report_path, *PER_DELIVERY, "--evidence-dir", evidence_dir)
    assert result.exit_code == 0, result.output
    plan = plan_source(load_mapping(mapping_paths["chile"]), data_dir)  # the same deliveries either way
    expected = {f.filename: f.content for op in plan.deliveries for f in op.evidence_files}
    assert len(expected) == 170
    assert {p.name: p.read_bytes() for p in evidence_dir.iterdir()} == expected
    cited = {d["evidence"][0]["sha256"] for d in served.deliveries.values()}
    assert cited == {f.sha256 for op in plan.deliveries for f in op.evidence_files}
    assert served.evidence == {f.sha256: f.content for op in plan.deliveries for f in op.evidence_files}
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["ledger"]["warnings"] == [
        f"170 generated evidence documents (also uploaded with their deliveries) written to {evidence_dir}"
    ]


def test_a_batched_import_uploads_every_evidence_file_without_an_evidence_dir(served, token_file, tmp_path, mapping_paths, data_dir):
    from scripts.importer import load_mapping, plan_source

    report_path = tmp_path / "chile.json"
    result = invoke(mapping_paths["chile"], "--api", "http://ledger.test", "--token-file", token_file,
                    "--data-dir", data_dir, "--report", report_path, *PER_DELIVERY)
    assert result.exit_code == 0, result.output
    plan = plan_source(load_mapping(mapping_paths["chile"]), data_dir)  # the same deliveries either way
    assert len(served.transactions) == 15
    assert served.evidence == {f.sha256: f.content for op in plan.deliveries for f in op.evidence_files}
    assert len(served.evidence) == 170
    assert all(e["stored"] for d in served.deliveries.values() for e in d["evidence"])
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert "warnings" not in report["ledger"]
    assert "cited by SHA-256 only" not in result.flat


def test_batch_size_1_uploads_the_evidence_in_single_calls(served, token_file, tmp_path, mapping_paths, data_dir):
    report_path = tmp_path / "chile.json"
    result = invoke(mapping_paths["chile"], "--api", "http://ledger.test", "--token-file", token_file,
                    "--data-dir", data_dir, "--report", report_path, *PER_DELIVERY, "--batch-size", 1)
    assert result.exit_code == 0, result.output
    assert len(served.transactions) == 395
    assert len(served.evidence) == 170
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["summary"]["transactions"] == {"count": 395, "gas_used": 395 * 80_000, "operations": 395}
    assert "warnings" not in report["ledger"]


@pytest.mark.parametrize("size", [0, 101])
def test_a_batch_size_outside_1_to_100_is_refused_with_exit_2(served, token_file, mapping_paths, data_dir, size):
    result = invoke(mapping_paths["baarn"], "--api", "http://ledger.test", "--token-file", token_file,
                    "--data-dir", data_dir, "--batch-size", size)
    assert result.exit_code == 2
    assert served.writes == []


def test_the_chile_import_anchors_one_batch_per_snapshot_and_reports_each(served, token_file, tmp_path, mapping_paths, data_dir):
    report_path = tmp_path / "chile.json"
    result = invoke(mapping_paths["chile"], "--api", "http://ledger.test", "--token-file", token_file,
                    "--data-dir", data_dir, "--report", report_path)
    assert result.exit_code == 0, result.output
    assert "Batches planned (leaves per snapshot): 2022: 64, 2023: 63, 2024: 43; 170 leaves in 3 batches" in result.flat
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["deliveries"] == {"mode": "batch", "why": report["deliveries"]["why"]}
    assert report["summary"]["batches"] == {
        "planned": [{"label": "2022", "leaf_count": 64}, {"label": "2023", "leaf_count": 63}, {"label": "2024", "leaf_count": 43}],
        "sent": {"done": 3, "already_present": 0, "would_do": 0, "failed": 0},
    }
    assert [(b["label"], b["leaf_count"], b["outcome"]) for b in report["batches"]] == [
        ("2022", 64, "done"), ("2023", 63, "done"), ("2024", 43, "done")]
    assert [b["root"] for b in report["batches"]] == list(served.batches)
    for b in report["batches"]:
        assert b["root"] in result.flat and b["tx"]["operations"] == b["leaf_count"]
    # 3 registration batches (the fake's 50,000 + 30,000 gas per item), 3 anchored batches
    # (60,000 each, whatever their leaf count), 9 leaf revocations (80,000 each).
    gas = 2 * (50_000 + 30_000 * 100) + (50_000 + 30_000 * 16) + 3 * 60_000 + 9 * 80_000
    assert report["summary"]["transactions"] == {"count": 15, "gas_used": gas, "operations": 395}
    leaves = [op for row in report["rows"] for op in row["operations"] if op["batch"] is not None]
    assert len(leaves) == 170 and {op["outcome"] for op in leaves} == {"done"}
    assert all(op["ledger_id"].startswith("0x") for op in leaves)

    again = invoke(mapping_paths["chile"], "--api", "http://ledger.test", "--token-file", token_file,
                   "--data-dir", data_dir, "--report", report_path)
    assert again.exit_code == 0, again.output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["batches"] == [] and report["summary"]["transactions"]["count"] == 0
    assert len(served.batches) == 3


def test_dry_run_prints_the_root_each_batch_will_anchor(served, token_file, tmp_path, mapping_paths, data_dir):
    report_path = tmp_path / "dry.json"
    dry = invoke(mapping_paths["chile"], "--dry-run", "--api", "http://ledger.test", "--token-file", token_file,
                 "--data-dir", data_dir, "--report", report_path)
    assert dry.exit_code == 0, dry.output
    assert served.writes == []
    planned = json.loads(report_path.read_text(encoding="utf-8"))["batches"]
    assert [(b["label"], b["leaf_count"], b["outcome"], b["root_predicted"]) for b in planned] == [
        ("2022", 64, "would_do", True), ("2023", 63, "would_do", True), ("2024", 43, "would_do", True)]
    for b in planned:
        assert b["root"] in dry.flat
    assert "would anchor" in dry.flat and "(predicted ids)" in dry.flat
    real = invoke(mapping_paths["chile"], "--api", "http://ledger.test", "--token-file", token_file, "--data-dir", data_dir)
    assert real.exit_code == 0, real.output
    assert list(served.batches) == [b["root"] for b in planned]


def test_deliveries_mode_per_delivery_records_each_delivery_on_its_own(served, token_file, mapping_paths, data_dir):
    result = invoke(mapping_paths["chile"], "--api", "http://ledger.test", "--token-file", token_file,
                    "--data-dir", data_dir, *PER_DELIVERY)
    assert result.exit_code == 0, result.output
    assert served.batches == {} and len(served.deliveries) == 170
    assert "Batches planned" not in result.flat


@pytest.mark.parametrize(("mapping", "mode"), [("chile", "merkle"), ("baarn", "batch")])
def test_a_deliveries_mode_that_does_not_apply_is_refused_with_exit_2(served, token_file, mapping_paths, data_dir, mapping, mode):
    result = invoke(mapping_paths[mapping], "--api", "http://ledger.test", "--token-file", token_file,
                    "--data-dir", data_dir, "--deliveries-mode", mode)
    assert result.exit_code == 2
    assert served.writes == []
