"""The command line end to end against the test chain (and a stand-in API over HTTP)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from typer.testing import CliRunner

from ledger.deployment import Deployment, save_deployment
from replay_support import DAY, Scenario, StandInApi, api_from_report, deploy_code_without_version, hex32
from scripts.replay import app

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def base_args(rpc_url: str, deployment: Deployment, report: Path) -> list[str]:
    return [
        "--rpc-url", rpc_url, "--address", deployment.contract_address,
        "--deploy-block", str(deployment.deploy_block), "--report", str(report),
    ]


def test_cli_without_api_replays_and_writes_the_report(
    scenario: Scenario, rpc_url: str, deployment: Deployment, tmp_path: Path, roles: Any
) -> None:
    report_path = tmp_path / "out" / "replay-report.json"
    result = invoke(*base_args(rpc_url, deployment, report_path), "--now", str(scenario.t0))
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    for heading in ("Commitments by status (claimed dates)", "Commitments by status on record (recording times)",
                    "Facts from the event log", "No anomalies in the event stream."):
        assert heading in output
    report = json.loads(report_path.read_text(encoding="utf-8"))

    assert (report["chain_id"], report["contract_address"], report["contract_version"], report["from_block"]) == (
        deployment.chain_id, deployment.contract_address, "2.1.0", deployment.deploy_block,
    )
    assert report["to_block"] == report["head_block"]
    assert report["blocks_scanned"] == report["to_block"] - report["from_block"] + 1
    assert (report["now"], report["report_version"], report["paused"]) == (scenario.t0, 3, False)
    assert report["events_replayed"] == 45 and report["anomalies"] == [] and report["comparison"] is None
    assert report["totals"] == {
        "municipalities": 2, "commitments": 10, "deliveries_recorded": 12, "deliveries_revoked": 2,
        "deliveries_recorded_late": 1, "amendments": 5, "amendments_after_due_date": 2,
        "commitments_amended_after_due_date": 2, "commitments_target_lowered": 1, "met_only_under_relaxed_terms": 1,
        "historical_records": 6, "admin_changes": 2, "admin_recoveries": 1, "recoveries_started": 2,
        "recoveries_cancelled": 1, "pauses": 1, "records_signed_without_role": 0,
        "batches_anchored": 0, "batches_verified": 0,
        "batches_not_verifiable": {"missing": 0, "sha256_mismatch": 0, "unparseable": 0, "root_mismatch": 0,
                                   "leaf_count_mismatch": 0},
        "batched_deliveries": 0, "batched_deliveries_counted": 0, "batched_deliveries_revoked": 0,
        "leaves_refused": {"unknown_commitment": 0, "other_municipality": 0, "commitment_withdrawn": 0, "invalid_leaf": 0,
                           "duplicate_external_ref": 0, "asset_already_counted": 0},
        "deliveries_double_counted": 0, "deliveries_confirmed": 0, "deliveries_disputed": 0, "confirmers": 0,
        "sub_commitments": 0,
        "status_counts": {"pending": 1, "in_progress": 2, "delivered": 4, "delivered_late": 1, "overdue": 1, "withdrawn": 1},
        "status_on_record_counts": {"pending": 1, "in_progress": 2, "delivered": 1, "delivered_late": 4, "overdue": 1,
                                    "withdrawn": 1},
        "status_confirmed_counts": {"pending": 4, "in_progress": 0, "delivered": 0, "delivered_late": 0, "overdue": 5,
                                    "withdrawn": 1},
    }
    assert (report["batches"], report["batches_not_verifiable"], report["refused_leaves"], report["double_counts"],
            report["disputed_deliveries"]) == ([], [], [], [], [])
    baarn, utrecht = report["municipalities"]
    assert (baarn["name"], baarn["code"], baarn["admin"], baarn["registrars"], baarn["commitment_count"]) == (
        "Baarn", "GM0308", roles.council_admin.address, [roles.registrar.address], 9,
    )
    assert [(r["account"], r["removed"] is None) for r in baarn["registrar_history"]] == [
        (roles.registrar.address, True), (roles.stranger.address, False),
    ]
    assert utrecht["status_counts"]["withdrawn"] == 1 and utrecht["admin"] == roles.other_admin.address
    assert [(c["previous_admin"], c["new_admin"], c["recovered"]) for c in utrecht["admin_changes"]] == [
        (roles.other_admin.address, roles.stranger.address, False),
        (roles.stranger.address, roles.other_admin.address, True),
    ]

    written = scenario.commitments["delivered"]
    [row] = [c for c in report["commitments"] if c["id"] == written.id]
    assert {k: row[k] for k in ("external_ref", "title", "description", "target_quantity", "delivered_quantity",
                                "progress_bps", "status", "status_on_record", "met_at", "due_date", "promised_at",
                                "historical_record", "withdrawn", "amendment_count")} == {
        "external_ref": "energie-003", "title": "Insulate 100 schools", "description": "Ünïcode déscription ✓",
        "target_quantity": "100", "delivered_quantity": "110", "progress_bps": 11000, "status": "delivered",
        "status_on_record": "delivered_late", "met_at": scenario.t0 - 2 * DAY, "due_date": scenario.t0 - DAY,
        "promised_at": scenario.t0 - 400 * DAY, "historical_record": True, "withdrawn": False, "amendment_count": 0,
    }
    assert row["registered"]["tx_hash"] == written.tx.tx_hash
    assert row["registered"]["block_number"] == written.tx.block_number
    first, double, last = row["deliveries"]
    assert first["evidence_sha256"] == [hex32(h) for h in scenario.deliveries[first["id"]].input[2]]
    assert (first["id"], first["delivery_number"], first["quantity"], first["revoked"]) == (
        written.id * 1_000_000 + 1, 1, "60", False,
    )
    assert (double["revoked"], double["revocation"]["reason"]) == (True, "Counted twice")
    assert last["note"] == "batch 1, recorded last"

    [relaxed] = [c for c in report["commitments"] if c["id"] == scenario.commitments["relaxed"].id]
    assert {k: relaxed[k] for k in ("status", "status_original_terms", "met_only_under_relaxed_terms",
                                    "amended_after_due_date", "target_lowered", "original_target_quantity")} == {
        "status": "delivered", "status_original_terms": "overdue", "met_only_under_relaxed_terms": True,
        "amended_after_due_date": True, "target_lowered": True, "original_target_quantity": "100",
    }
    [amendment] = relaxed["amendments"]
    assert (amendment["fields"], amendment["title"], amendment["after_due_date"], amendment["lowered_target"]) == (
        ["target_quantity"], None, True, True,
    )
    [backdated] = [c for c in report["commitments"] if c["id"] == scenario.commitments["backdated"].id]
    [delivery] = backdated["deliveries"]
    assert (delivery["delivered_at_iso"], delivery["recorded_late"], backdated["recorded_late_count"]) == (
        "1970-01-01T00:00:01Z", True, 1,
    )
    assert delivery["recording_lag_seconds"] == delivery["recorded_at"] - 1


def test_cli_reads_the_deployment_record_and_stops_at_the_to_block(
    scenario: Scenario, rpc_url: str, deployment: Deployment, tmp_path: Path
) -> None:
    record = tmp_path / "deployment.json"
    save_deployment(record, deployment)
    stop = scenario.commitments["in_progress"].tx.block_number
    report_path = tmp_path / "r.json"
    result = invoke(
        "--rpc-url", rpc_url, "--deployment", str(record), "--to-block", str(stop), "--report", str(report_path),
        "--chunk-blocks", "3",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["to_block"] == stop
    assert [c["external_ref"] for c in report["commitments"]] == ["groen-001", "wonen-002"]
    assert report["totals"]["deliveries_recorded"] == 0


def test_cli_exits_2_when_the_address_has_no_contract(rpc_url: str, deployment: Deployment, tmp_path: Path, roles: Any) -> None:
    result = invoke(
        "--rpc-url", rpc_url, "--address", roles.stranger.address, "--deploy-block", str(deployment.deploy_block),
        "--report", str(tmp_path / "r.json"),
    )
    assert result.exit_code == 2
    assert "No contract code" in result.output
    assert not (tmp_path / "r.json").exists()


def test_cli_exits_2_for_a_contract_without_a_known_version(
    rpc_url: str, deployment: Deployment, tmp_path: Path, roles: Any
) -> None:
    address = deploy_code_without_version(rpc_url, roles.stranger.address)
    result = invoke(
        "--rpc-url", rpc_url, "--address", address, "--deploy-block", str(deployment.deploy_block),
        "--report", str(tmp_path / "r.json"),
    )
    assert result.exit_code == 2
    assert "no version()" in " ".join(result.output.split())
    assert not (tmp_path / "r.json").exists()


def test_cli_exits_2_without_address_or_deployment(rpc_url: str, tmp_path: Path) -> None:
    result = invoke("--rpc-url", rpc_url, "--report", str(tmp_path / "r.json"))
    assert result.exit_code == 2
    assert "--deployment" in result.output


# ---------------------------------------------------------------------- against a stand-in API


@pytest.fixture
def api_data(scenario: Scenario, rpc_url: str, deployment: Deployment, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """What an honest API would answer now: rendered from a replay report at the wall clock."""
    report_path = tmp_path / "honest.json"
    result = invoke(*base_args(rpc_url, deployment, report_path))
    assert result.exit_code == 0, result.output
    yield api_from_report(json.loads(report_path.read_text(encoding="utf-8")))


def test_cli_with_an_agreeing_api_exits_0_and_records_the_comparison(
    api_data: dict[str, Any], rpc_url: str, deployment: Deployment, tmp_path: Path
) -> None:
    api_data["health"]["indexed_block"] += 10_000  # other test sessions may share this chain and mine on
    report_path = tmp_path / "r.json"
    with StandInApi(api_data) as api:
        result = invoke(*base_args(rpc_url, deployment, report_path), "--api-url", api.url, "--wait-seconds", "0")
    assert result.exit_code == 0, result.output
    comparison = json.loads(report_path.read_text(encoding="utf-8"))["comparison"]
    assert (comparison["ok"], comparison["difference_count"], comparison["api_caught_up"]) == (True, 0, True)
    assert comparison["api_url"] == api.url
    assert "agrees with the chain" in result.output


def test_cli_with_a_differing_api_prints_the_difference_and_exits_1(
    api_data: dict[str, Any], scenario: Scenario, rpc_url: str, deployment: Deployment, tmp_path: Path
) -> None:
    written = scenario.commitments["amended"]
    api_data["details"][written.id]["title"] = "Renovate 30 homes"
    report_path = tmp_path / "r.json"
    with StandInApi(api_data) as api:
        result = invoke(*base_args(rpc_url, deployment, report_path), "--api-url", api.url, "--wait-seconds", "0")
    assert result.exit_code == 1, result.output
    comparison = json.loads(report_path.read_text(encoding="utf-8"))["comparison"]
    assert comparison["differences"] == [
        {"subject": "commitment", "id": written.id, "field": "title", "chain": "Renovate 20 homes",
         "api": "Renovate 30 homes", "where": "detail"}
    ]
    assert "Renovate 30 homes" in result.output


def test_cli_with_a_v1_api_lacking_the_v2_fields_exits_1_and_names_them(
    api_data: dict[str, Any], scenario: Scenario, rpc_url: str, deployment: Deployment, tmp_path: Path
) -> None:
    written = scenario.commitments["relaxed"]
    for name in ("status_on_record", "met_only_under_relaxed_terms"):
        del api_data["details"][written.id][name]
    del api_data["details"][written.id]["amendments"]
    report_path = tmp_path / "r.json"
    with StandInApi(api_data) as api:
        result = invoke(*base_args(rpc_url, deployment, report_path), "--api-url", api.url, "--wait-seconds", "0")
    assert result.exit_code == 1, result.output
    comparison = json.loads(report_path.read_text(encoding="utf-8"))["comparison"]
    assert [(d["id"], d["field"], d["chain"], d["api"]) for d in comparison["differences"]] == [
        (written.id, "status_on_record", "delivered_late", "<missing>"),
        (written.id, "met_only_under_relaxed_terms", True, "<missing>"),
        (written.id, "amendments", "1 amendments", "<missing>"),
    ]


def test_cli_says_when_the_api_index_stays_behind(
    api_data: dict[str, Any], rpc_url: str, deployment: Deployment, tmp_path: Path
) -> None:
    api_data["health"]["indexed_block"] = deployment.deploy_block
    report_path = tmp_path / "r.json"
    with StandInApi(api_data) as api:
        result = invoke(*base_args(rpc_url, deployment, report_path), "--api-url", api.url, "--wait-seconds", "0")
    comparison = json.loads(report_path.read_text(encoding="utf-8"))["comparison"]
    assert comparison["api_caught_up"] is False
    assert any("still behind" in note for note in comparison["notes"])
    assert "waiting up to 0 s" in " ".join(result.output.split())
    assert result.exit_code == 0  # the stand-in's data is complete, so nothing differs


def test_brownie_main_reads_its_settings_from_the_environment(
    scenario: Scenario, rpc_url: str, deployment: Deployment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from scripts.replay import main

    record = tmp_path / "deployment.json"
    save_deployment(record, deployment)
    monkeypatch.setenv("LEDGER_RPC_URL", rpc_url)
    monkeypatch.setenv("LEDGER_DEPLOYMENT_FILE", str(record))
    monkeypatch.setenv("LEDGER_API_URL", "")  # no comparison
    monkeypatch.setenv("LEDGER_REPLAY_REPORT", str(tmp_path / "brownie-report.json"))
    main()  # returns normally on success (SystemExit otherwise)
    report = json.loads((tmp_path / "brownie-report.json").read_text(encoding="utf-8"))
    assert report["totals"]["commitments"] == 10 and report["comparison"] is None
    monkeypatch.setenv("LEDGER_API_URL", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(SystemExit) as caught:
        main()
    assert caught.value.code == 2
    assert "error" in json.loads((tmp_path / "brownie-report.json").read_text(encoding="utf-8"))["comparison"]
