"""Citizens' endpoints on a seeded ledger: health, municipalities, themes, commitments,
verify and evidence, with exact JSON values.

The seed (written with the registrar keys straight to the chain, then indexed):

1. Baarn ``wonen-001`` "200 sociale huurwoningen", theme Wonen, target 200, due in 30 days,
   source document SOURCE; one delivery of 50 citing STORED (a file in the store) and
   ELSEWHERE (not stored) → ``in_progress``.
2. Baarn ``groen-002`` "Tien nieuwe bomen", theme Groen, target 10, due yesterday (so a
   historical record: registered after its due date); a delivery of 3 stated 400 days ago
   (recorded late), then its due date moved 60 days ahead after it had passed →
   ``in_progress`` (``overdue`` against the original terms).
3. Utrecht ``fiets-001`` "Fietsenstalling", theme Mobiliteit, target 1, one delivery of 1
   citing STORED, later revoked → due in 10 days, ``pending``.
4. Baarn ``oud-004``, theme Wonen, withdrawn → ``withdrawn``.

Every commitment was promised on PROMISED (13 June 2022). Delivery ids are
``commitment_id * 1_000_000 + n``.
"""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.deps import get_now
from api.main import create_app
from ledger.chain import LedgerChain, TxResult
from ledger.events import LedgerEvent
from ledger.settings import Settings
from tests.api.helpers import (
    BAARN_SOURCE,
    DAY,
    MAX_EVIDENCE_BYTES,
    PROBLEM,
    PROMISED,
    amendment_input,
    commitment_input,
    delivery_input,
    iso,
)

STORED_BYTES = b"%PDF-1.4 opleverrapport 50 woningen\n"
STORED = "0x" + hashlib.sha256(STORED_BYTES).hexdigest()
ELSEWHERE = "0x" + "e1" * 32
SOURCE = "0x" + "5c" * 32
NOWHERE = "0x" + "ab" * 32
ZERO = b"\x00" * 32


def ref(chain: LedgerChain, event: LedgerEvent) -> dict[str, Any]:
    """The ChainRef the API must show for ``event``."""
    block_time = chain.block(event.block_number).timestamp
    return {
        "tx_hash": event.transaction_hash,
        "block_number": event.block_number,
        "log_index": event.log_index,
        "block_time": block_time,
        "block_time_iso": iso(block_time),
    }


def register(chain: LedgerChain, key: str, municipality_id: int, ref_: str, title: str, theme: str,
             target: int, due: int, source: bytes = ZERO) -> TxResult:
    struct = commitment_input(municipality_id, ref_, title, description=f"Beschrijving van {title}", theme=theme,
                              target=target, due=due, source=source, source_uri="https://example.org/besluit")
    return chain.send("registerCommitment", [struct], key)


@pytest.fixture(scope="module")
def seed(app: FastAPI, client: TestClient, chain: LedgerChain, roles: Any, index: Any) -> dict[str, Any]:
    now = int(time.time())
    baarn, utrecht = roles.registrar.key, roles.other_registrar.key
    app.state.evidence_store.save_stream(io.BytesIO(STORED_BYTES), MAX_EVIDENCE_BYTES, "application/pdf")
    txs: dict[str, Any] = {"now": now, "due1": now + 30 * DAY, "due2": now - DAY, "due3": now + 10 * DAY}
    txs["c1"] = register(chain, baarn, 1, "wonen-001", "200 sociale huurwoningen", "Wonen", 200, txs["due1"], bytes.fromhex(SOURCE[2:]))
    txs["c2"] = register(chain, baarn, 1, "groen-002", "Tien nieuwe bomen", "Groen", 10, txs["due2"])
    txs["c3"] = register(chain, utrecht, 2, "fiets-001", "Fietsenstalling", "Mobiliteit", 1, txs["due3"])
    txs["c4"] = register(chain, baarn, 1, "oud-004", "Oud plan", "Wonen", 5, txs["due1"])
    txs["delivered_at1"] = now - 3600
    txs["d1"] = chain.send(
        "recordDelivery",
        [1, delivery_input(50, txs["delivered_at1"], [STORED, ELSEWHERE], uri="https://example.org/rapport",
                           note="Eerste oplevering", external_ref="lev-1")],
        baarn,
    )
    txs["d2"] = chain.send("recordDelivery", [3, delivery_input(1, now - 60, [STORED])], utrecht)
    txs["r2"] = chain.send("revokeDelivery", [3_000_001, "Verkeerde stalling"], utrecht)
    txs["delivered_at2"] = now - 400 * DAY
    txs["d_late"] = chain.send("recordDelivery", [2, delivery_input(3, txs["delivered_at2"], [ELSEWHERE])], baarn)
    txs["new_due2"] = now + 60 * DAY
    txs["a2"] = chain.send("amendCommitment", [2, amendment_input(0, "Later geplant", due=txs["new_due2"])], baarn)
    txs["w4"] = chain.send("withdrawCommitment", [4, "Vervangen door wonen-001"], baarn)
    index()
    return txs


# ------------------------------------------------------------------ health


def test_health_is_degraded_before_the_indexer_ran(chain: LedgerChain, api_settings: Settings, tmp_path: Path) -> None:
    # An app on this module's ledger with an index of its own that no indexer has run on yet.
    fresh = api_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
                                            "evidence_dir": tmp_path / "evidence"})
    with TestClient(create_app(fresh)) as unindexed:
        response = unindexed.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "chain_id": 31337,
        "contract_address": chain.deployment.contract_address,
        "deploy_block": chain.deployment.deploy_block,
        "chain_head_block": None,
        "indexed_block": None,
        "lag_blocks": None,
        "head_seen_at": None,
        "paused": None,
        "contract_version": None,
        "node_reachable": True,
        "index_age_seconds": None,
        "reasons": ["not_indexed"],
        "event_errors": 0,
    }


def test_health_is_ok_when_the_index_is_at_the_head(client: TestClient, chain: LedgerChain, seed: dict, index: Any) -> None:
    index()
    head = chain.head_block_number()
    body = client.get("/api/v1/health").json()
    assert body["head_seen_at"] >= seed["now"]
    assert body == {
        "status": "ok",
        "chain_id": 31337,
        "contract_address": chain.deployment.contract_address,
        "deploy_block": chain.deployment.deploy_block,
        "chain_head_block": head,
        "indexed_block": head,
        "lag_blocks": 0,
        "head_seen_at": body["head_seen_at"],
        "paused": False,
        "contract_version": "2.1.0",
        "node_reachable": True,
        "index_age_seconds": body["index_age_seconds"],
        "reasons": [],
        "event_errors": 0,
    }
    assert 0 <= body["index_age_seconds"] <= 60


def test_health_is_degraded_when_the_head_was_not_seen_for_a_minute(app: FastAPI, client: TestClient, seed: dict) -> None:
    seen_at = client.get("/api/v1/health").json()["head_seen_at"]
    app.dependency_overrides[get_now] = lambda: seen_at + 61
    try:
        body = client.get("/api/v1/health").json()
        assert (body["status"], body["reasons"], body["index_age_seconds"]) == ("degraded", ["head_stale"], 61)
        ready = client.get("/api/v1/health/ready")
        assert (ready.status_code, ready.json()["reasons"], ready.headers["retry-after"]) == (503, ["head_stale"], "3")
    finally:
        app.dependency_overrides.clear()


# ------------------------------------------------------------------ municipalities


def test_municipalities_list_counts_every_status(client: TestClient, chain: LedgerChain, roles: Any, seed: dict) -> None:
    response = client.get("/api/v1/municipalities")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["count"] == 2
    baarn, utrecht = body["data"]
    assert {k: v for k, v in baarn.items() if k not in ("registered", "registrar_history")} == {
        "id": 1,
        "name": "Baarn",
        "code": "GM0308",
        "admin": roles.council_admin.address,
        "pending_admin": None,
        "recovery": None,
        "admin_changes": [],
        "registrars": [roles.registrar.address],
        "confirmers": [],
        "confirmer_history": [],
        "commitment_count": 3,
        "status_counts": {"pending": 0, "in_progress": 2, "delivered": 0, "delivered_late": 0, "overdue": 0, "withdrawn": 1},
        "status_on_record_counts": {
            "pending": 0, "in_progress": 2, "delivered": 0, "delivered_late": 0, "overdue": 0, "withdrawn": 1,
        },
        "sources": [BAARN_SOURCE],
    }
    [term] = baarn["registrar_history"]
    assert {k: v for k, v in term.items() if k != "added"} == {
        "account": roles.registrar.address, "added_by": roles.council_admin.address, "removed_by": None, "removed": None,
    }
    assert utrecht["sources"] == []
    assert utrecht["status_counts"] == {"pending": 1, "in_progress": 0, "delivered": 0, "delivered_late": 0, "overdue": 0, "withdrawn": 0}
    assert set(baarn["registered"]) == {"tx_hash", "block_number", "log_index", "block_time", "block_time_iso"}
    assert baarn["registered"]["block_time_iso"] == iso(baarn["registered"]["block_time"])


def test_one_municipality_is_as_in_the_list(client: TestClient, seed: dict) -> None:
    listed = client.get("/api/v1/municipalities").json()["data"][1]
    assert client.get("/api/v1/municipalities/2").json() == listed


@pytest.mark.parametrize(("path", "status"), [("3", 404), ("0", 422), ("-1", 422), ("abc", 422), ("4294967296", 422)])
def test_unknown_or_malformed_municipality_ids(client: TestClient, seed: dict, path: str, status: int) -> None:
    response = client.get(f"/api/v1/municipalities/{path}")
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == ("/problems/not-found" if status == 404 else "/problems/validation-error")


# ------------------------------------------------------------------ themes


def test_themes_count_commitments_per_theme(client: TestClient, seed: dict) -> None:
    assert client.get("/api/v1/themes").json() == {
        "data": [{"theme": "Groen", "count": 1}, {"theme": "Mobiliteit", "count": 1}, {"theme": "Wonen", "count": 2}],
        "count": 3,
    }
    assert client.get("/api/v1/themes", params={"municipality_id": 2}).json() == {
        "data": [{"theme": "Mobiliteit", "count": 1}],
        "count": 1,
    }
    assert client.get("/api/v1/themes", params={"municipality_id": "x"}).status_code == 422


# ------------------------------------------------------------------ commitments


def summary_of_c1(chain: LedgerChain, seed: dict, registrar: str) -> dict[str, Any]:
    """The exact summary of commitment 1 (50 of 200, due in 30 days, never amended; last
    changed by its delivery)."""
    registered = ref(chain, seed["c1"].event("CommitmentRegistered"))
    delivered = ref(chain, seed["d1"].event("DeliveryRecorded"))
    return {
        "id": 1,
        "municipality_id": 1,
        "municipality_name": "Baarn",
        "external_ref": "wonen-001",
        "title": "200 sociale huurwoningen",
        "theme": "Wonen",
        "unit": "stuks",
        "target_quantity": "200",
        "original_target_quantity": "200",
        "delivered_quantity": "50",
        "progress_bps": 2500,
        "progress_bps_original_terms": 2500,
        "status": "in_progress",
        "status_on_record": "in_progress",
        "status_original_terms": "in_progress",
        "status_on_record_original_terms": "in_progress",
        "met_only_under_relaxed_terms": False,
        "promised_at": PROMISED,
        "promised_at_iso": "2022-06-12T22:00:00Z",
        "registration_lag_days": (registered["block_time"] - PROMISED) // DAY,
        "historical_record": False,
        "due_date": seed["due1"],
        "due_date_iso": iso(seed["due1"]),
        "original_due_date": seed["due1"],
        "original_due_date_iso": iso(seed["due1"]),
        "met_at": None,
        "met_at_iso": None,
        "met_on_record_at": None,
        "met_on_record_at_iso": None,
        "met_at_original_terms": None,
        "met_at_original_terms_iso": None,
        "met_on_record_at_original_terms": None,
        "met_on_record_at_original_terms_iso": None,
        "amendment_count": 0,
        "amended_after_due_date": False,
        "target_lowered": False,
        "recorded_late_count": 0,
        "registered": registered,
        "registrar": registrar,
        "signer_held_role": True,
        "withdrawn": False,
        "parent_id": None,
        "weight": 0,
        "children": [],
        "rollup_progress_bps": None,
        "rollup_children_delivered": 0,
        "rollup_children_counted": 0,
        "confirmed_quantity": "0",
        "unconfirmed_quantity": "50",
        "disputed_quantity": "0",
        "status_confirmed": "pending",
        "met_at_confirmed": None,
        "met_at_confirmed_iso": None,
        "progress_bps_confirmed": 0,
        "batched_delivery_count": 0,
        "last_changed_at": delivered["block_time"],
        "last_changed_at_iso": delivered["block_time_iso"],
        "follow_up": {"tracked": True, "by": []},  # the test source records follow-up (and it has a delivery)
    }


def test_commitment_summary_has_exact_values(client: TestClient, chain: LedgerChain, roles: Any, seed: dict) -> None:
    body = client.get("/api/v1/commitments", params={"municipality_id": 1, "limit": 1}).json()
    assert body["count"] == 3
    assert body["offset"] == 0
    assert body["limit"] == 1
    assert body["data"] == [summary_of_c1(chain, seed, roles.registrar.address)]


def test_a_deadline_moved_after_it_was_missed_shows_against_both_terms(
    client: TestClient, chain: LedgerChain, roles: Any, seed: dict
) -> None:
    c2 = client.get("/api/v1/commitments/2").json()
    amended_at = ref(chain, seed["a2"].event("CommitmentAmended"))
    assert {k: c2[k] for k in (
        "status", "status_original_terms", "status_on_record", "status_on_record_original_terms", "due_date",
        "original_due_date", "amended_after_due_date", "target_lowered", "recorded_late_count", "amendment_count",
        "met_only_under_relaxed_terms", "delivered_quantity", "progress_bps", "historical_record",
    )} == {
        "status": "in_progress",
        "status_original_terms": "overdue",
        "status_on_record": "in_progress",
        "status_on_record_original_terms": "overdue",
        "due_date": seed["new_due2"],
        "original_due_date": seed["due2"],
        "amended_after_due_date": True,
        "target_lowered": False,
        "recorded_late_count": 1,
        "amendment_count": 1,
        "historical_record": True,
        "met_only_under_relaxed_terms": False,
        "delivered_quantity": "3",
        "progress_bps": 3000,
    }
    assert c2["amendments"] == [{
        "amendment_number": 1,
        "fields": ["due_date"],
        "title": None,
        "description": None,
        "previous_target_quantity": "10",
        "target_quantity": "10",
        "previous_due_date": seed["due2"],
        "previous_due_date_iso": iso(seed["due2"]),
        "due_date": seed["new_due2"],
        "due_date_iso": iso(seed["new_due2"]),
        "reason": "Later geplant",
        "registrar": roles.registrar.address,
        "amended_at": amended_at["block_time"],
        "amended_at_iso": amended_at["block_time_iso"],
        "after_due_date": True,
        "lowered_target": False,
        "extended_due_date": True,
        "signer_held_role": True,
        "chain": amended_at,
    }]
    [late] = c2["deliveries"]
    recorded_at = ref(chain, seed["d_late"].event("DeliveryRecorded"))["block_time"]
    assert (late["id"], late["delivery_number"], late["delivered_at"], late["recorded_at"]) == (
        2_000_001, 1, seed["delivered_at2"], recorded_at
    )
    assert (late["recording_lag_seconds"], late["recording_lag_days"], late["recorded_late"]) == (
        recorded_at - seed["delivered_at2"], (recorded_at - seed["delivered_at2"]) // DAY, True
    )
    assert late["recording_lag_days"] in (400, 401)


@pytest.mark.parametrize(
    ("params", "ids", "count"),
    [
        ({}, [1, 2, 3, 4], 4),
        ({"municipality_id": 2}, [3], 1),
        ({"theme": "Wonen"}, [1, 4], 2),
        ({"status": "overdue"}, [], 0),
        ({"status": ["overdue", "withdrawn"]}, [4], 1),
        ({"q": "BOMEN"}, [2], 1),
        ({"q": "fiets-0"}, [3], 1),
        ({"q": "beschrijving van oud"}, [4], 1),
        ({"offset": 1, "limit": 2}, [2, 3], 4),
        ({"offset": 10}, [], 4),
        ({"municipality_id": 1, "status": "pending"}, [], 0),
        ({"status": "in_progress"}, [1, 2], 2),
        ({"status_on_record": "in_progress"}, [1, 2], 2),
        ({"status_on_record": ["pending", "withdrawn"]}, [3, 4], 2),
        ({"recorded_late": "true"}, [2], 1),
        ({"recorded_late": "false"}, [1, 3, 4], 3),
        ({"amended_after_due_date": "true"}, [2], 1),
        ({"amended_after_due_date": "false", "municipality_id": 1}, [1, 4], 2),
        ({"historical_record": "true"}, [2], 1),
        ({"historical_record": "false"}, [1, 3, 4], 3),
        ({"met_only_under_relaxed_terms": "true"}, [], 0),
        ({"recorded_late": "true", "amended_after_due_date": "true", "theme": "Groen"}, [2], 1),
    ],
)
def test_commitment_filters(client: TestClient, seed: dict, params: dict, ids: list[int], count: int) -> None:
    body = client.get("/api/v1/commitments", params=params).json()
    assert [c["id"] for c in body["data"]] == ids
    assert body["count"] == count


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"status": "lost"}, {"municipality_id": 0}, {"limit": "ten"},
     {"status_on_record": "lost"}, {"recorded_late": "maybe"}, {"amended_after_due_date": "2"},
     {"historical_record": ""}, {"met_only_under_relaxed_terms": "ja"}],
)
def test_bad_commitment_filters_are_validation_problems(client: TestClient, seed: dict, params: dict) -> None:
    response = client.get("/api/v1/commitments", params=params)
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/validation-error"


def test_commitment_pages_credit_the_sources_of_their_commitments(client: TestClient, seed: dict) -> None:
    assert client.get("/api/v1/commitments", params={"municipality_id": 1}).json()["sources"] == [BAARN_SOURCE]
    assert client.get("/api/v1/commitments", params={"municipality_id": 2}).json()["sources"] == []
    assert client.get("/api/v1/commitments").json()["sources"] == [BAARN_SOURCE]


def delivery_of_c1(chain: LedgerChain, seed: dict, registrar: str) -> dict[str, Any]:
    """The exact delivery 1,000,001 of commitment 1 (stated an hour before it was recorded)."""
    recorded = ref(chain, seed["d1"].event("DeliveryRecorded"))
    return {
        "id": 1_000_001,
        "delivery_number": 1,
        "commitment_id": 1,
        "quantity": "50",
        "delivered_at": seed["delivered_at1"],
        "delivered_at_iso": iso(seed["delivered_at1"]),
        "recorded_at": recorded["block_time"],
        "recorded_at_iso": recorded["block_time_iso"],
        "recording_lag_seconds": recorded["block_time"] - seed["delivered_at1"],
        "recording_lag_days": 0,
        "recorded_late": False,
        "evidence": [
            {"sha256": STORED, "stored": True, "url": f"/api/v1/evidence/{STORED}"},
            {"sha256": ELSEWHERE, "stored": False, "url": None},
        ],
        "evidence_uri": "https://example.org/rapport",
        "note": "Eerste oplevering",
        "external_ref": "lev-1",
        "asset_ref": "",
        "double_counted": False,
        "registrar": registrar,
        "signer_held_role": True,
        "recorded": recorded,
        "revocation": None,
        "kind": "recorded",
        "review": "unconfirmed",
        "confirmations": [],
        "disputes": [],
        "batch_root": None,
        "leaf_hash": None,
        "leaf_index": None,
        "counted": None,
        "refused_reason": None,
    }


def test_commitment_detail_has_exact_values(client: TestClient, chain: LedgerChain, roles: Any, seed: dict) -> None:
    registered = seed["c1"].event("CommitmentRegistered")
    recorded = seed["d1"].event("DeliveryRecorded")
    response = client.get("/api/v1/commitments/1")
    assert response.status_code == 200
    assert response.json() == {
        **summary_of_c1(chain, seed, roles.registrar.address),
        "description": "Beschrijving van 200 sociale huurwoningen",
        "source_document_sha256": SOURCE,
        "source_uri": "https://example.org/besluit",
        "withdrawal": None,
        "amendments": [],
        "deliveries": [delivery_of_c1(chain, seed, roles.registrar.address)],
        "timeline": [
            {
                "kind": "registered",
                "chain": ref(chain, registered),
                "registrar": roles.registrar.address,
                "details": {
                    "external_ref": "wonen-001",
                    "title": "200 sociale huurwoningen",
                    "description": "Beschrijving van 200 sociale huurwoningen",
                    "theme": "Wonen",
                    "target_quantity": "200",
                    "unit": "stuks",
                    "promised_at": PROMISED,
                    "due_date": seed["due1"],
                    "source_document_sha256": SOURCE,
                    "source_uri": "https://example.org/besluit",
                    "registered_at": ref(chain, registered)["block_time"],
                },
            },
            {
                "kind": "delivered",
                "chain": ref(chain, recorded),
                "registrar": roles.registrar.address,
                "details": {
                    "delivery_id": 1_000_001,
                    "quantity": "50",
                    "delivered_at": seed["delivered_at1"],
                    "recorded_at": ref(chain, recorded)["block_time"],
                    "evidence_sha256": [STORED, ELSEWHERE],
                    "note": "Eerste oplevering",
                },
            },
        ],
        "deliveries_count": 1,
        "deliveries_next_cursor": None,
        "timeline_count": 2,
        "timeline_next_cursor": None,
        "detail_links": {"deliveries_next": None, "timeline_next": None},
        "ledger": {"chain_id": 31337, "contract_address": chain.deployment.contract_address},
        "sources": [BAARN_SOURCE],
    }


def test_deliveries_are_listed_across_commitments_with_both_clocks(
    client: TestClient, chain: LedgerChain, roles: Any, seed: dict
) -> None:
    body = client.get("/api/v1/deliveries").json()
    assert (body["count"], body["offset"], body["limit"]) == (3, 0, 20)
    assert [d["id"] for d in body["data"]] == [1_000_001, 2_000_001, 3_000_001]
    assert body["data"][0] == {
        **delivery_of_c1(chain, seed, roles.registrar.address),
        "commitment_title": "200 sociale huurwoningen",
        "commitment_status": "in_progress",
        "unit": "stuks",
        "municipality_id": 1,
        "municipality_name": "Baarn",
    }
    assert body["sources"] == [BAARN_SOURCE]
    assert body["data"][2]["revocation"]["reason"] == "Verkeerde stalling"


@pytest.mark.parametrize(
    ("params", "ids", "count"),
    [
        ({"recorded_late": "true"}, [2_000_001], 1),
        ({"recorded_late": "false"}, [1_000_001, 3_000_001], 2),
        ({"municipality_id": 2}, [3_000_001], 1),
        ({"municipality_id": 1, "recorded_late": "false"}, [1_000_001], 1),
        ({"commitment_id": 2}, [2_000_001], 1),
        ({"commitment_id": 4}, [], 0),
        ({"offset": 1, "limit": 1}, [2_000_001], 3),
    ],
)
def test_delivery_filters(client: TestClient, seed: dict, params: dict, ids: list[int], count: int) -> None:
    body = client.get("/api/v1/deliveries", params=params).json()
    assert [d["id"] for d in body["data"]] == ids
    assert body["count"] == count


@pytest.mark.parametrize(
    "params", [{"recorded_late": "late"}, {"commitment_id": 0}, {"municipality_id": -1}, {"limit": 101}, {"offset": -1}]
)
def test_bad_delivery_filters_are_validation_problems(client: TestClient, seed: dict, params: dict) -> None:
    response = client.get("/api/v1/deliveries", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["errors"][0]["loc"][0] == "query"


def test_revocation_and_withdrawal_appear_in_the_detail(client: TestClient, chain: LedgerChain, roles: Any, seed: dict) -> None:
    c3 = client.get("/api/v1/commitments/3").json()
    assert c3["status"] == "pending"
    assert c3["delivered_quantity"] == "0"
    revoked = ref(chain, seed["r2"].event("DeliveryRevoked"))
    assert c3["deliveries"][0]["revocation"] == {
        "reason": "Verkeerde stalling",
        "registrar": roles.other_registrar.address,
        "signer_held_role": True,
        "chain": revoked,
    }
    assert [e["kind"] for e in c3["timeline"]] == ["registered", "delivered", "revoked"]
    assert c3["timeline"][2]["details"] == {
        "delivery_id": 3_000_001, "reason": "Verkeerde stalling", "revoked_at": revoked["block_time"],
    }
    c4 = client.get("/api/v1/commitments/4").json()
    assert c4["status"] == "withdrawn"
    assert c4["withdrawn"] is True
    withdrawn = ref(chain, seed["w4"].event("CommitmentWithdrawn"))
    assert c4["withdrawal"] == {
        "reason": "Vervangen door wonen-001",
        "registrar": roles.registrar.address,
        "signer_held_role": True,
        "chain": withdrawn,
    }
    assert c4["timeline"][-1]["details"] == {"reason": "Vervangen door wonen-001", "withdrawn_at": withdrawn["block_time"]}


@pytest.mark.parametrize(("path", "status"), [("99", 404), ("0", 422), ("-3", 422), ("1.5", 422), ("één", 422)])
def test_unknown_or_malformed_commitment_ids(client: TestClient, seed: dict, path: str, status: int) -> None:
    response = client.get(f"/api/v1/commitments/{path}")
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    if status == 404:
        assert response.json() == {"type": "/problems/not-found", "title": "Not found", "status": 404, "detail": "No commitment 99."}


# ------------------------------------------------------------------ verify


def test_verify_lists_every_citation_of_a_hash(client: TestClient, chain: LedgerChain, roles: Any, seed: dict) -> None:
    body = client.get(f"/api/v1/verify/{STORED[2:].upper()}").json()
    assert body == {
        "sha256": STORED,
        "found": True,
        "citations": [
            {
                "kind": "recorded",
                "batch_root": None,
                "leaf_hash": None,
                "counted": None,
                "delivery_id": 1_000_001,
                "commitment_id": 1,
                "commitment_title": "200 sociale huurwoningen",
                "municipality_id": 1,
                "municipality_name": "Baarn",
                "delivered_at": seed["delivered_at1"],
                "delivered_at_iso": iso(seed["delivered_at1"]),
                "recorded_at": ref(chain, seed["d1"].event("DeliveryRecorded"))["block_time"],
                "recorded_at_iso": ref(chain, seed["d1"].event("DeliveryRecorded"))["block_time_iso"],
                "recorded_late": False,
                "quantity": "50",
                "registrar": roles.registrar.address,
                "signer_held_role": True,
                "revoked": False,
                "revocation_reason": None,
                "chain": ref(chain, seed["d1"].event("DeliveryRecorded")),
            },
            {
                "kind": "recorded",
                "batch_root": None,
                "leaf_hash": None,
                "counted": None,
                "delivery_id": 3_000_001,
                "commitment_id": 3,
                "commitment_title": "Fietsenstalling",
                "municipality_id": 2,
                "municipality_name": "Utrecht",
                "delivered_at": seed["now"] - 60,
                "delivered_at_iso": iso(seed["now"] - 60),
                "recorded_at": ref(chain, seed["d2"].event("DeliveryRecorded"))["block_time"],
                "recorded_at_iso": ref(chain, seed["d2"].event("DeliveryRecorded"))["block_time_iso"],
                "recorded_late": False,
                "quantity": "1",
                "registrar": roles.other_registrar.address,
                "signer_held_role": True,
                "revoked": True,
                "revocation_reason": "Verkeerde stalling",
                "chain": ref(chain, seed["d2"].event("DeliveryRecorded")),
            },
        ],
        "source_of": [],
    }


def test_verify_finds_source_documents(client: TestClient, seed: dict) -> None:
    assert client.get(f"/api/v1/verify/{SOURCE}").json() == {
        "sha256": SOURCE,
        "found": True,
        "citations": [],
        "source_of": [{"commitment_id": 1, "title": "200 sociale huurwoningen", "municipality_name": "Baarn"}],
    }


def test_verify_of_an_unknown_hash_is_not_found_but_not_an_error(client: TestClient, seed: dict) -> None:
    assert client.get(f"/api/v1/verify/{NOWHERE}").json() == {"sha256": NOWHERE, "found": False, "citations": [], "source_of": []}


@pytest.mark.parametrize("bad", ["ab" * 31, "0x" + "ab" * 33, "zz" * 32, "0X" + "ab" * 32, "x"])
def test_verify_of_a_malformed_hash_is_a_validation_problem(client: TestClient, bad: str) -> None:
    response = client.get(f"/api/v1/verify/{bad}")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["path", "sha256"]


def test_verify_upload_hashes_the_file_and_stores_nothing(app: FastAPI, client: TestClient, seed: dict) -> None:
    store_dir = app.state.evidence_store.directory
    before = sorted(store_dir.iterdir())
    response = client.post("/api/v1/verify", files={"file": ("rapport.pdf", STORED_BYTES, "application/pdf")})
    assert response.status_code == 200
    assert response.json() == client.get(f"/api/v1/verify/{STORED}").json()
    other = b"a document nobody cited"
    response = client.post("/api/v1/verify", files={"file": ("x.txt", other, "text/plain")})
    assert response.json()["sha256"] == "0x" + hashlib.sha256(other).hexdigest()
    assert response.json()["found"] is False
    assert sorted(store_dir.iterdir()) == before


def test_verify_upload_over_the_limit_is_payload_too_large(client: TestClient) -> None:
    response = client.post("/api/v1/verify", files={"file": ("big.bin", b"x" * (MAX_EVIDENCE_BYTES + 1), "application/octet-stream")})
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/payload-too-large"
    assert response.json()["max_bytes"] == MAX_EVIDENCE_BYTES


def test_verify_upload_of_exactly_the_limit_is_hashed(client: TestClient) -> None:
    response = client.post("/api/v1/verify", files={"file": ("max.bin", b"x" * MAX_EVIDENCE_BYTES, "application/octet-stream")})
    assert response.status_code == 200


def test_verify_upload_needs_a_file_field(client: TestClient) -> None:
    response = client.post("/api/v1/verify", files={"document": ("a.txt", b"a", "text/plain")})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "file"], ["body", "document"]]
    response = client.post("/api/v1/verify", data={"file": "not a file"}, files={"x": ("a", b"", "text/plain")})
    assert response.status_code == 422


# ------------------------------------------------------------------ evidence


def test_stored_evidence_is_served_with_its_media_type(client: TestClient, seed: dict) -> None:
    response = client.get(f"/api/v1/evidence/{STORED}")
    assert response.status_code == 200
    assert response.content == STORED_BYTES
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == f'inline; filename="{STORED[2:]}"'
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get(f"/api/v1/evidence/{STORED[2:]}").content == STORED_BYTES


def test_active_content_is_served_as_a_sandboxed_download(app: FastAPI, client: TestClient) -> None:
    html = b"<script>alert(document.cookie)</script>"
    sha, _ = app.state.evidence_store.save_stream(io.BytesIO(html), MAX_EVIDENCE_BYTES, "text/html")
    response = client.get(f"/api/v1/evidence/{sha}")
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"


def test_evidence_not_stored_here_is_not_found(client: TestClient, seed: dict) -> None:
    response = client.get(f"/api/v1/evidence/{ELSEWHERE}")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/not-found"


@pytest.mark.parametrize(("bad", "status"), [("ab" * 31, 422), ("g" * 64, 422), ("0x" + "ab" * 33, 422), ("..%2F..%2Fetc%2Fpasswd", 404)])
def test_evidence_with_a_malformed_hash_is_refused(client: TestClient, bad: str, status: int) -> None:
    response = client.get(f"/api/v1/evidence/{bad}")
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
