"""End to end on real public data: both datasets imported through the staff API (batched
writes; the Chile deliveries of each snapshot anchored as one Merkle batch) into a fresh
ledger, the API's figures checked against figures computed here from the source files, and the
auditor's replay (chain only) compared with the API."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys

import httpx

from ledger.chain import LedgerChain
from tests.conftest import REPO_ROOT, SHARED_DATA_DIR
from tests.e2e.conftest import ImportedSystem, run_importer

BAARN_CSV = SHARED_DATA_DIR / "baarn-coalitieakkoord" / "coalitieakkoord_baarn_2022-2026_afspraken.csv"
CHILE_2024_CSV = SHARED_DATA_DIR / "ddah-chile" / "Boric-2022-2026_Programa-2024.csv"
NOT_COMMITMENTS = {"bijlage_portefeuilles", "inleiding"}  # ../shared/data/README.md
BAARN_PROMISED_AT = 1655071200  # 2022-06-13T00:00:00+02:00: the coalition agreement adopted (mapping)
CHILE_PROMISED_AT = 1646967600  # 2022-03-11T00:00:00-03:00: the Boric government took office (mapping)
CHILE_2022_AS_OF = 1672541999  # 2022-12-31T23:59:59-03:00: the 2022 snapshot's date (mapping)
BAARN_DUE = 1774994399  # 2026-03-31T23:59:59+02:00
RECORDED_LATE_AFTER_SECONDS = 30 * 86_400  # docs/LEDGER.md


def _all_commitments(api_url: str, municipality_id: int) -> list[dict]:
    rows: list[dict] = []
    while True:
        page = httpx.get(f"{api_url}/api/v1/commitments", params={"municipality_id": municipality_id, "offset": len(rows), "limit": 100}).json()
        rows.extend(page["data"])
        if len(rows) >= page["count"]:
            return rows


def _chile(imported: ImportedSystem) -> dict[str, dict]:
    listed = _all_commitments(imported.stack.api_url, imported.stack.municipality_ids["CL-GOB"])
    return {c["external_ref"]: c for c in listed}


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


def test_every_baarn_commitment_was_promised_on_the_day_the_agreement_was_adopted(imported: ImportedSystem) -> None:
    listed = _all_commitments(imported.stack.api_url, imported.stack.municipality_ids["GM0308"])
    assert {c["promised_at"] for c in listed} == {BAARN_PROMISED_AT}
    for c in listed:
        registered = c["registered"]["block_time"]
        assert c["registration_lag_days"] == (registered - BAARN_PROMISED_AT) // 86_400
        # Registered after the council period's end: shown as a record of an old promise.
        assert c["historical_record"] is (registered > BAARN_DUE)


def test_api_progress_of_each_chile_promise_equals_its_2024_progress(imported: ImportedSystem) -> None:
    with open(CHILE_2024_CSV, newline="", encoding="utf-8") as fh:
        expected = {row["uid"]: int(row["avance_total"].rstrip("%")) for row in csv.DictReader(fh) if row["uid"]}
    listed = _chile(imported)

    assert len(expected) == 216
    assert {ref: c["progress_bps"] for ref, c in listed.items()} == {uid: percent * 100 for uid, percent in expected.items()}
    assert {ref: c["delivered_quantity"] for ref, c in listed.items()} == {uid: str(p) for uid, p in expected.items()}
    assert {c["promised_at"] for c in listed.values()} == {CHILE_PROMISED_AT}


def test_chile_deliveries_are_recorded_late_with_the_exact_lag(imported: ImportedSystem) -> None:
    api = imported.stack.api_url
    listed = _chile(imported)
    # Every counted delivery is imported years after its snapshot's date.
    assert sum(c["recorded_late_count"] for c in listed.values()) == 170 - 9
    # uid 8: its 2022 snapshot delivery (70 %), dated 2022-12-31T23:59:59-03:00, a leaf of the
    # 2022 batch, recorded when that batch was anchored.
    detail = httpx.get(f"{api}/api/v1/commitments/{listed['8']['id']}").json()
    (delivery,) = [d for d in detail["deliveries"] if d["external_ref"] == "snapshot-2022"]
    (row,) = [r for r in imported.chile.report["rows"] if r["key"] == "8" and r["file"].endswith("2022.csv")]
    leaf = row["operations"][1]
    block = LedgerChain(imported.stack.rpc_url).block(leaf["tx"]["block_number"])
    assert block is not None
    lag = block.timestamp - CHILE_2022_AS_OF
    assert delivery["delivered_at"] == CHILE_2022_AS_OF
    assert delivery["recorded_at"] == block.timestamp
    assert (delivery["recording_lag_seconds"], delivery["recording_lag_days"]) == (lag, lag // 86_400)
    assert lag > RECORDED_LATE_AFTER_SECONDS and delivery["recorded_late"] is True
    assert (delivery["kind"], delivery["id"], delivery["leaf_hash"]) == ("batched", leaf["ledger_id"], leaf["ledger_id"])
    assert delivery["batch_root"] == imported.chile.report["batches"][0]["root"]


def test_the_imports_use_one_transaction_per_batch_of_up_to_100(imported: ImportedSystem) -> None:
    assert imported.baarn.report["batch_size"] == 100
    assert imported.baarn.report["summary"]["transactions"]["count"] == 2  # 100 + 31 registrations
    assert imported.baarn.report["summary"]["transactions"]["operations"] == 131
    # Chile: 3 registration batches, 3 anchored batches (one per snapshot), 9 single
    # revocations of batched deliveries.
    assert imported.chile.report["summary"]["transactions"]["count"] == 15
    assert imported.chile.report["summary"]["transactions"]["operations"] == 395
    assert [(b["label"], b["leaf_count"], b["outcome"]) for b in imported.chile.report["batches"]] == [
        ("2022", 64, "done"), ("2023", 63, "done"), ("2024", 43, "done")]
    ops = [op for row in imported.chile.report["rows"] for op in row["operations"]]
    assert {op["outcome"] for op in ops} == {"done"}
    assert all(op["tx"]["tx_hash"].startswith("0x") for op in ops)


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
    for mapping, code, first in (("baarn-coalitieakkoord.yaml", "GM0308", imported.baarn),
                                 ("ddah-chile.yaml", "CL-GOB", imported.chile)):
        again = run_importer(imported.stack, mapping, code, tmp_path / f"{code}.json")
        assert again.returncode == 0, again.output
        assert again.transactions == 0
        # Each row's operations name the transaction that wrote them in the first run.
        written = [op["tx"]["tx_hash"] for row in first.report["rows"] for op in row["operations"]]
        present = [(op["outcome"], op["recorded_in"]["tx_hash"]) for row in again.report["rows"] for op in row["operations"]]
        assert present == [("already_present", tx_hash) for tx_hash in written]
    imported.stack.wait_indexed()
    after = {code: httpx.get(f"{api}/api/v1/municipalities/{mid}").json() for code, mid in imported.stack.municipality_ids.items()}
    assert after == before


def test_replay_from_the_chain_alone_finds_no_difference_with_the_api(imported: ImportedSystem, tmp_path) -> None:
    stack = imported.stack
    report_path = tmp_path / "replay.json"
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.replay", "--rpc-url", stack.rpc_url, "--address", stack.deployment.contract_address,
         "--deploy-block", str(stack.deployment.deploy_block), "--api-url", stack.api_url, "--report", str(report_path),
         "--batch-files-from-api"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(report_path.read_text())
    assert report["comparison"]["differences"] == []
    # The Chile deliveries came as one batch per snapshot, each checked by the replay itself
    # against the anchored SHA-256 and root, and counted: 59 + 59 + 43 leaves count now.
    batches = report["batches"]
    assert [(b["leaf_count"], b["verified"], b["counted_leaves"], b["revoked_leaves"]) for b in batches] == [
        (64, True, 59, 5), (63, True, 59, 4), (43, True, 43, 0)]
    assert report["batches_not_verifiable"] == []


def test_a_batch_file_edited_by_one_byte_is_detected_by_the_replay_and_counts_nothing(
    imported: ImportedSystem, tmp_path
) -> None:
    """The auditor downloads the three Chile batch files, saved under the SHA-256 anchored for
    each (``<sha256>.json``), and one byte of the 2023 file is changed (the first digit of its
    first leaf's commitment id): the replay finds that file's SHA-256 is not the anchored one,
    shows the batch as not verifiable (``sha256_mismatch``) and counts none of its 63
    deliveries; the other two still count."""
    stack = imported.stack
    files = tmp_path / "batches"
    files.mkdir()
    roots = [b["root"] for b in imported.chile.report["batches"]]
    for index, root in enumerate(roots):
        anchored_sha256 = httpx.get(f"{stack.api_url}/api/v1/batches/{root}").json()["file_sha256"]
        content = httpx.get(f"{stack.api_url}/api/v1/batches/{root}/file").content
        if index == 1:
            at = content.index(b'"value":["') + len(b'"value":["')
            content = content[:at] + (b"8" if content[at:at + 1] != b"8" else b"9") + content[at + 1:]
        (files / f"{anchored_sha256.removeprefix('0x')}.json").write_bytes(content)
    report_path = tmp_path / "replay.json"
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.replay", "--rpc-url", stack.rpc_url, "--address", stack.deployment.contract_address,
         "--deploy-block", str(stack.deployment.deploy_block), "--batch-dir", str(files), "--report", str(report_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(report_path.read_text())
    by_root = {b["root"]: b for b in report["batches"]}
    assert [(by_root[r]["verified"], by_root[r]["unverified_reason"], by_root[r]["counted_leaves"]) for r in roots] == [
        (True, None, 59), (False, "sha256_mismatch", 0), (True, None, 43)]
    assert [b["root"] for b in report["batches_not_verifiable"]] == [roots[1]]


def test_chile_import_records_the_planned_deliveries_and_corrections(imported: ImportedSystem) -> None:
    summary = imported.chile.report["summary"]
    assert summary["planned"] == {"commitments": 216, "deliveries": 170, "revocations": 9}
    assert summary["failed_rows"] == 0
    uid_191 = _chile(imported)["191"]
    detail = httpx.get(f"{imported.stack.api_url}/api/v1/commitments/{uid_191['id']}").json()
    # uid 191 fell from 70 % (2023) to 40 % (2024): the newest counted delivery is revoked.
    revoked = [d for d in detail["deliveries"] if d["revocation"] is not None]
    counted = [d for d in detail["deliveries"] if d["revocation"] is None]
    assert len(revoked) == 1
    assert revoked[0]["revocation"]["reason"].startswith("Progress fell from 70% to 40%")
    # The revoked one is the 2023 snapshot's leaf, in the 2023 batch.
    assert (revoked[0]["kind"], revoked[0]["external_ref"]) == ("batched", "snapshot-2023")
    assert revoked[0]["batch_root"] == imported.chile.report["batches"][1]["root"]
    assert sum(int(d["quantity"]) for d in counted) == 40
    assert detail["progress_bps"] == 4000
    assert [source["publisher"].split(" (")[0] for source in detail["sources"]] == ["Fundación Ciudadano Inteligente"]


def test_each_chile_snapshot_is_one_verified_batch_whose_file_the_api_serves(imported: ImportedSystem) -> None:
    api = imported.stack.api_url
    page = httpx.get(f"{api}/api/v1/batches", params={"municipality_id": imported.stack.municipality_ids["CL-GOB"]}).json()
    sent = imported.chile.report["batches"]
    assert [(b["root"], b["leaf_count"], b["file_sha256"]) for b in page["data"]] == [
        (b["root"], b["leaf_count"], b["file_sha256"]) for b in sent]
    # Verified, so counted; the corrections of 2023 and 2024 revoked 5 leaves of the 2022 batch
    # and 4 of the 2023 batch.
    assert [(b["verified"], b["counted_leaves"], b["revoked_leaves"], b["refused_leaves"]) for b in page["data"]] == [
        (True, 59, 5, 0), (True, 59, 4, 0), (True, 43, 0, 0)]
    for b in page["data"]:
        file = httpx.get(f"{api}/api/v1/batches/{b['root']}/file")
        assert "0x" + hashlib.sha256(file.content).hexdigest() == b["file_sha256"]


def test_the_batched_evidence_documents_are_kept_beside_the_reports(imported: ImportedSystem) -> None:
    kept = {"0x" + hashlib.sha256(p.read_bytes()).hexdigest() for p in (imported.reports_dir / "chile-evidence").iterdir()}
    cited = [e["sha256"] for c in _chile(imported).values()
             for d in httpx.get(f"{imported.stack.api_url}/api/v1/commitments/{c['id']}").json()["deliveries"]
             for e in d["evidence"]]
    assert len(cited) == len(kept) == 170
    assert set(cited) == kept
