"""End to end on real public data: both datasets imported through the staff API into a fresh
ledger, the API's figures checked against figures computed here from the source files, and
the auditor's replay (chain only) compared with the API."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import httpx

from tests.conftest import REPO_ROOT, SHARED_DATA_DIR
from tests.e2e.conftest import ImportedSystem, run_importer

BAARN_CSV = SHARED_DATA_DIR / "baarn-coalitieakkoord" / "coalitieakkoord_baarn_2022-2026_afspraken.csv"
CHILE_2024_CSV = SHARED_DATA_DIR / "ddah-chile" / "Boric-2022-2026_Programa-2024.csv"
NOT_COMMITMENTS = {"bijlage_portefeuilles", "inleiding"}  # ../shared/data/README.md


def _all_commitments(api_url: str, municipality_id: int) -> list[dict]:
    rows: list[dict] = []
    while True:
        page = httpx.get(f"{api_url}/api/v1/commitments", params={"municipality_id": municipality_id, "offset": len(rows), "limit": 100}).json()
        rows.extend(page["data"])
        if len(rows) >= page["count"]:
            return rows


def test_api_counts_exactly_the_baarn_commitments_of_the_source_file(imported: ImportedSystem) -> None:
    with open(BAARN_CSV, newline="", encoding="utf-8") as fh:
        expected = [row["id"] for row in csv.DictReader(fh) if row["thema_key"] not in NOT_COMMITMENTS]
    municipality_id = imported.stack.municipality_ids["GM0308"]
    municipality = httpx.get(f"{imported.stack.api_url}/api/v1/municipalities/{municipality_id}").json()
    listed = _all_commitments(imported.stack.api_url, municipality_id)

    assert len(expected) == 131
    assert municipality["commitment_count"] == 131
    assert sorted(c["external_ref"] for c in listed) == sorted(expected)
    # Nothing is delivered for Baarn; the council period ended 2026-03-31, so all are overdue
    # at any time after that (the tests run later than that date).
    assert municipality["status_counts"] == {
        "pending": 0, "in_progress": 0, "delivered": 0, "delivered_late": 0, "overdue": 131, "withdrawn": 0,
    }


def test_api_progress_of_each_chile_promise_equals_its_2024_progress(imported: ImportedSystem) -> None:
    with open(CHILE_2024_CSV, newline="", encoding="utf-8") as fh:
        expected = {row["uid"]: int(row["avance_total"].rstrip("%")) for row in csv.DictReader(fh) if row["uid"]}
    listed = _all_commitments(imported.stack.api_url, imported.stack.municipality_ids["CL-GOB"])

    assert len(expected) == 216
    actual = {c["external_ref"]: c["progress_bps"] for c in listed}
    assert actual == {uid: percent * 100 for uid, percent in expected.items()}
    assert {c["external_ref"]: c["delivered_quantity"] for c in listed} == {uid: str(p) for uid, p in expected.items()}


def test_importer_reports_the_skipped_rows_with_their_reasons(imported: ImportedSystem) -> None:
    baarn = imported.baarn.report
    reasons: dict[str, int] = {}
    for row in baarn["rows"]:
        if row.get("outcome") == "skipped":
            reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
    assert reasons == {"portfolio annex, not a commitment": 50, "introduction, not a commitment": 4}


def test_reimporting_both_datasets_registers_nothing_twice(imported: ImportedSystem, tmp_path) -> None:
    api = imported.stack.api_url
    before = {code: httpx.get(f"{api}/api/v1/municipalities/{mid}").json() for code, mid in imported.stack.municipality_ids.items()}
    for mapping, code in (("baarn-coalitieakkoord.yaml", "GM0308"), ("ddah-chile.yaml", "CL-GOB")):
        again = run_importer(imported.stack, mapping, code, tmp_path / f"{code}.json")
        assert again.returncode == 0, again.output
    imported.stack.wait_indexed()
    after = {code: httpx.get(f"{api}/api/v1/municipalities/{mid}").json() for code, mid in imported.stack.municipality_ids.items()}
    assert after == before


def test_replay_from_the_chain_alone_finds_no_difference_with_the_api(imported: ImportedSystem, tmp_path) -> None:
    stack = imported.stack
    report_path = tmp_path / "replay.json"
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.replay", "--rpc-url", stack.rpc_url, "--address", stack.deployment.contract_address,
         "--deploy-block", str(stack.deployment.deploy_block), "--api-url", stack.api_url, "--report", str(report_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(report_path.read_text())
    assert report["comparison"]["differences"] == []


def test_chile_import_records_the_planned_deliveries_and_corrections(imported: ImportedSystem) -> None:
    summary = imported.chile.report["summary"]
    assert summary["planned"] == {"commitments": 216, "deliveries": 170, "revocations": 9}
    assert summary["failed_rows"] == 0
    uid_191 = next(c for c in _all_commitments(imported.stack.api_url, imported.stack.municipality_ids["CL-GOB"]) if c["external_ref"] == "191")
    detail = httpx.get(f"{imported.stack.api_url}/api/v1/commitments/{uid_191['id']}").json()
    # uid 191 fell from 70 % (2023) to 40 % (2024): the newest counted delivery is revoked.
    revoked = [d for d in detail["deliveries"] if d["revocation"] is not None]
    counted = [d for d in detail["deliveries"] if d["revocation"] is None]
    assert len(revoked) == 1
    assert revoked[0]["revocation"]["reason"].startswith("Progress fell from 70% to 40%")
    assert sum(int(d["quantity"]) for d in counted) == 40
    assert detail["progress_bps"] == 4000
    assert [source["publisher"].split(" (")[0] for source in detail["sources"]] == ["Fundación Ciudadano Inteligente"]
