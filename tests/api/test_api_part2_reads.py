"""Citizens' endpoints for contract 2.1.0 on a seeded ledger, with exact JSON: sub-commitments
and their roll-up, confirmers and verdicts, batches (list, detail, file, leaf proof) and their
problems.

The seed (written with the role keys straight to the chain, then indexed):

1. Baarn ``wijk-1`` "Wijkaanpak", target 10, with parts 2 ``wijk-1a`` (weight 3, target 4,
   a delivery of 2 that stranger, Baarn's confirmer, confirms) and 3 ``wijk-1b`` (weight 1,
   target 1, a delivery of 1 stranger disputes).
2. A one-leaf batch naming commitment 3, anchored with a file nobody holds (``missing``).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.chain import LedgerChain
from tests.api.helpers import DAY, PROBLEM, assert_problem, commitment_input, delivery_input, iso

MISSING_FILE = "0x" + "f1" * 32
INSPECTION = "0x" + "1a" * 32
ZERO = b"\x00" * 32


def b32(hex_hash: str) -> bytes:
    return bytes.fromhex(hex_hash[2:])


@pytest.fixture(scope="module")
def seed(client: TestClient, chain: LedgerChain, roles: Any, index: Any) -> dict[str, Any]:
    now = int(time.time())
    reg, confirmer = roles.registrar.key, roles.stranger.key
    due = now + 30 * DAY
    txs: dict[str, Any] = {"now": now, "due": due}
    chain.send("addConfirmer", [1, roles.stranger.address], roles.council_admin.key)
    chain.send("registerCommitment", [commitment_input(1, "wijk-1", "Wijkaanpak", target=10, due=due)], reg)
    chain.send("registerCommitment", [commitment_input(1, "wijk-1a", "Lantaarns", target=4, due=due, parent_id=1, weight=3)], reg)
    chain.send("registerCommitment", [commitment_input(1, "wijk-1b", "Bankje", target=1, due=due, parent_id=1, weight=1)], reg)
    txs["d2"] = chain.send("recordDelivery", [2, delivery_input(2, now - DAY, ["0x" + "d2" * 32], asset_ref="")], reg)
    chain.send("recordDelivery", [3, delivery_input(1, now - DAY, ["0x" + "d3" * 32])], reg)
    txs["ok"] = chain.send("confirmDelivery", [2_000_001, b32(INSPECTION)], confirmer)
    chain.send("disputeDelivery", [3_000_001, "Niet gevonden"], confirmer)
    leaf = (3, 1, now - DAY, [b32("0x" + "d4" * 32)], "", "", "", "")
    root = "0x" + bytes(chain.call("batchLeafHash", leaf)).hex()
    txs["root"] = root
    txs["anchor"] = chain.send("anchorBatch", [(1, b32(root), 1, b32(MISSING_FILE), "https://example.org/batch.json")], reg)
    index()
    return txs


def test_a_parent_reports_its_parts_and_their_weighted_roll_up(client: TestClient, seed: dict) -> None:
    parent = client.get("/api/v1/commitments/1").json()
    part = client.get("/api/v1/commitments/2").json()
    # (3 * 5000 + 1 * 10000) / 4 = 6250; the second part is delivered (1 of 1), the first is not
    assert {k: parent[k] for k in ("parent_id", "weight", "children", "rollup_progress_bps", "rollup_children_delivered",
                                   "rollup_children_counted", "progress_bps")} == {
        "parent_id": None, "weight": 0, "children": [2, 3], "rollup_progress_bps": 6250,
        "rollup_children_delivered": 1, "rollup_children_counted": 2, "progress_bps": 0,
    }
    assert (part["parent_id"], part["weight"], part["children"], part["rollup_progress_bps"]) == (1, 3, [], None)
    listed = client.get("/api/v1/commitments", params={"limit": 3}).json()["data"]
    assert [(c["id"], c["children"], c["rollup_progress_bps"]) for c in listed] == [(1, [2, 3], 6250), (2, [], None), (3, [], None)]


def test_confirmed_figures_and_verdicts_are_shown_per_commitment_and_delivery(
    client: TestClient, chain: LedgerChain, roles: Any, seed: dict
) -> None:
    part = client.get("/api/v1/commitments/2").json()
    assert {k: part[k] for k in ("confirmed_quantity", "unconfirmed_quantity", "disputed_quantity", "status_confirmed",
                                 "met_at_confirmed", "met_at_confirmed_iso", "progress_bps_confirmed")} == {
        "confirmed_quantity": "2", "unconfirmed_quantity": "0", "disputed_quantity": "0", "status_confirmed": "in_progress",
        "met_at_confirmed": None, "met_at_confirmed_iso": None, "progress_bps_confirmed": 5000,
    }
    [delivery] = part["deliveries"]
    event = seed["ok"].event("DeliveryConfirmed")
    at = chain.block(event.block_number).timestamp
    assert (delivery["kind"], delivery["review"], delivery["disputes"]) == ("recorded", "confirmed", [])
    assert delivery["confirmations"] == [{
        "confirmer": roles.stranger.address, "evidence_hash": INSPECTION, "at": at, "at_iso": iso(at),
        "signer_held_role": True,
        "chain": {"tx_hash": event.transaction_hash, "block_number": event.block_number, "log_index": event.log_index,
                  "block_time": at, "block_time_iso": iso(at)},
    }]
    other = client.get("/api/v1/commitments/3").json()
    assert (other["disputed_quantity"], other["unconfirmed_quantity"], other["status_confirmed"]) == ("1", "1", "pending")
    assert other["deliveries"][0]["disputes"][0]["reason"] == "Niet gevonden"
    reviews = client.get("/api/v1/deliveries", params={"municipality_id": 1}).json()["data"]
    assert [(d["id"], d["review"]) for d in reviews] == [(2_000_001, "confirmed"), (3_000_001, "disputed")]


def test_a_municipality_names_its_confirmers(client: TestClient, roles: Any, seed: dict) -> None:
    baarn = client.get("/api/v1/municipalities/1").json()
    assert baarn["confirmers"] == [roles.stranger.address]
    [term] = baarn["confirmer_history"]
    assert (term["account"], term["added_by"], term["removed_by"], term["removed"]) == (
        roles.stranger.address, roles.council_admin.address, None, None)
    assert client.get("/api/v1/municipalities/2").json()["confirmers"] == []


def test_a_batch_without_its_file_is_listed_as_unverified_and_counts_nothing(
    client: TestClient, chain: LedgerChain, roles: Any, seed: dict
) -> None:
    event = seed["anchor"].event("BatchAnchored")
    at = chain.block(event.block_number).timestamp
    expected = {
        "root": seed["root"], "municipality_id": 1, "municipality_name": "Baarn", "registrar": roles.registrar.address,
        "signer_held_role": True, "leaf_count": 1, "file_sha256": MISSING_FILE,
        "file_uri": "https://example.org/batch.json", "file_stored": False, "file_url": None,
        "anchored_at": at, "anchored_at_iso": iso(at), "verified": False, "unverified_reason": "missing",
        "counted_leaves": 0, "refused_leaves": 0, "revoked_leaves": 0,
        "chain": {"tx_hash": event.transaction_hash, "block_number": event.block_number, "log_index": event.log_index,
                  "block_time": at, "block_time_iso": iso(at)},
    }
    assert client.get("/api/v1/batches").json() == {"data": [expected], "count": 1, "offset": 0, "limit": 20}
    assert client.get("/api/v1/batches", params={"municipality_id": 2}).json()["count"] == 0
    assert client.get("/api/v1/batches", params={"verified": "true"}).json()["count"] == 0
    assert client.get("/api/v1/batches", params={"verified": "false"}).json()["count"] == 1
    detail = client.get(f"/api/v1/batches/{seed['root'][2:].upper()}").json()
    assert detail == {**expected, "leaves": [],
                      "ledger": {"chain_id": 31337, "contract_address": chain.deployment.contract_address}}
    c3 = client.get("/api/v1/commitments/3").json()
    assert (c3["delivered_quantity"], c3["batched_delivery_count"]) == ("1", 0)
    assert client.get("/api/v1/deliveries", params={"kind": "batched"}).json()["count"] == 0


def test_the_file_and_proof_of_a_batch_nobody_holds_are_not_found(client: TestClient, seed: dict) -> None:
    root = seed["root"]
    body = assert_problem(client.get(f"/api/v1/batches/{root}/file"), 404, "not-found")
    assert MISSING_FILE in body["detail"]
    assert_problem(client.get(f"/api/v1/batches/{root}/leaves/{root}/proof"), 404, "not-found")
    unknown = "0x" + "99" * 32
    assert assert_problem(client.get(f"/api/v1/batches/{unknown}"), 404, "not-found")["detail"] == (
        f"No batch with root {unknown} was anchored.")
    assert_problem(client.get(f"/api/v1/batches/{unknown}/file"), 404, "not-found")


@pytest.mark.parametrize(
    "path",
    ["/api/v1/batches/1234", "/api/v1/batches/" + "zz" * 32, "/api/v1/batches/" + "ab" * 32 + "/leaves/x/proof",
     "/api/v1/batches/x/file"],
)
def test_malformed_roots_and_leaf_hashes_are_validation_problems(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/validation-error"


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"municipality_id": 0},
                                    {"verified": "maybe"}])
def test_bad_batch_filters_are_validation_problems(client: TestClient, params: dict) -> None:
    assert_problem(client.get("/api/v1/batches", params=params), 422, "validation-error")


def test_an_unknown_delivery_kind_is_a_validation_problem(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/deliveries", params={"kind": "leaf"}), 422, "validation-error")
