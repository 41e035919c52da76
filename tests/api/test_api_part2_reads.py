"""Citizens' endpoints for contract 2.1.0 on a seeded ledger, with exact JSON: sub-commitments
and their roll-up, confirmers and verdicts, batches (list, detail, file, leaf proof) and their
problems.

The seed (written with the role keys straight to the chain, then indexed):

1. Baarn ``wijk-1`` "Wijkaanpak", target 10, with parts 2 ``wijk-1a`` (weight 3, target 4,
   a delivery of 2 that stranger, Baarn's confirmer, confirms) and 3 ``wijk-1b`` (weight 1,
   target 1, a delivery of 1 stranger disputes).
2. A one-leaf batch naming commitment 3, anchored with a file nobody holds (``missing``).
3. Baarn ``bomen-4`` "Bomen", target 5, and a batch of two leaves for it (2 trees, then 3 trees
   of asset "Boom 9"), written by @openzeppelin/merkle-tree; its file is in this server's
   evidence store before it is anchored (as ``POST /staff/batches`` does).
"""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ledger.chain import LedgerChain
from tests.api.helpers import DAY, PROBLEM, assert_problem, commitment_input, delivery_input, iso
from tests.db.batch_files import build, leaf

MISSING_FILE = "0x" + "f1" * 32
INSPECTION = "0x" + "1a" * 32
ZERO = b"\x00" * 32


def b32(hex_hash: str) -> bytes:
    return bytes.fromhex(hex_hash[2:])


@pytest.fixture(scope="module")
def seed(app: FastAPI, client: TestClient, chain: LedgerChain, roles: Any, index: Any) -> dict[str, Any]:
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
    one = (3, 1, now - DAY, [b32("0x" + "d4" * 32)], "", "", "", "")
    root = "0x" + bytes(chain.call("batchLeafHash", one)).hex()
    txs["root"] = root
    txs["anchor"] = chain.send("anchorBatch", [(1, b32(root), 1, b32(MISSING_FILE), "https://example.org/batch.json")], reg)
    chain.send("registerCommitment", [commitment_input(1, "bomen-4", "Bomen", target=5, due=due)], reg)
    trees = build([leaf(4, 2, now - 2 * DAY, note="eerste rij"), leaf(4, 3, now - DAY, ref="rij-2", asset="Boom 9")])
    app.state.evidence_store.save_stream(io.BytesIO(trees.data), len(trees.data), "application/json")
    txs["trees"] = trees
    txs["anchor_trees"] = chain.send(
        "anchorBatch", [(1, b32(trees.root), 2, b32(trees.sha256), "https://example.org/bomen.json")], reg)
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
    reviews = client.get("/api/v1/deliveries", params={"municipality_id": 1, "kind": "recorded"}).json()["data"]
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
    assert client.get("/api/v1/batches", params={"limit": 1}).json() == {"data": [expected], "count": 2, "offset": 0, "limit": 1}
    assert client.get("/api/v1/batches", params={"municipality_id": 2}).json()["count"] == 0
    assert client.get("/api/v1/batches", params={"verified": "false"}).json()["data"] == [expected]
    detail = client.get(f"/api/v1/batches/{seed['root'][2:].upper()}").json()
    assert detail == {**expected, "leaves": [],
                      "ledger": {"chain_id": 31337, "contract_address": chain.deployment.contract_address}}
    c3 = client.get("/api/v1/commitments/3").json()
    assert (c3["delivered_quantity"], c3["batched_delivery_count"]) == ("1", 0)
    assert client.get("/api/v1/deliveries", params={"kind": "batched", "commitment_id": 3}).json()["count"] == 0


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


# ------------------------------------------------------------------ a verified batch


def chain_ref(chain: LedgerChain, event: Any) -> dict[str, Any]:
    at = chain.block(event.block_number).timestamp
    return {"tx_hash": event.transaction_hash, "block_number": event.block_number, "log_index": event.log_index,
            "block_time": at, "block_time_iso": iso(at)}


def test_a_verified_batch_lists_its_leaves_as_batched_deliveries(
    client: TestClient, chain: LedgerChain, roles: Any, seed: dict
) -> None:
    trees = seed["trees"]
    anchor = chain_ref(chain, seed["anchor_trees"].event("BatchAnchored"))
    body = client.get(f"/api/v1/batches/{trees.root}").json()
    assert {k: body[k] for k in ("verified", "unverified_reason", "leaf_count", "counted_leaves", "refused_leaves",
                                 "revoked_leaves", "file_sha256", "file_stored", "file_url", "chain")} == {
        "verified": True, "unverified_reason": None, "leaf_count": 2, "counted_leaves": 2, "refused_leaves": 0,
        "revoked_leaves": 0, "file_sha256": trees.sha256, "file_stored": True,
        "file_url": f"/api/v1/batches/{trees.root}/file", "chain": anchor,
    }
    first = body["leaves"][0]
    delivered_at = seed["now"] - 2 * DAY
    assert first == {
        "kind": "batched", "id": trees.leaf_hashes[0], "delivery_number": None, "commitment_id": 4, "quantity": "2",
        "delivered_at": delivered_at, "delivered_at_iso": iso(delivered_at),
        "recorded_at": anchor["block_time"], "recorded_at_iso": anchor["block_time_iso"],
        "recording_lag_seconds": anchor["block_time"] - delivered_at,
        "recording_lag_days": (anchor["block_time"] - delivered_at) // DAY, "recorded_late": False,
        "evidence": [{"sha256": trees.values[0][3][0], "stored": False, "url": None}], "evidence_uri": "",
        "note": "eerste rij", "external_ref": "", "asset_ref": "", "double_counted": False,
        "registrar": roles.registrar.address, "signer_held_role": True, "recorded": anchor, "revocation": None,
        "review": "unconfirmed", "confirmations": [], "disputes": [], "batch_root": trees.root,
        "leaf_hash": trees.leaf_hashes[0], "leaf_index": 0, "counted": True, "refused_reason": None,
    }
    c4 = client.get("/api/v1/commitments/4").json()
    assert (c4["delivered_quantity"], c4["status"], c4["status_on_record"], c4["met_on_record_at"]) == (
        "5", "delivered", "delivered", anchor["block_time"])
    assert (c4["batched_delivery_count"], [d["id"] for d in c4["deliveries"]]) == (2, trees.leaf_hashes)
    listed = client.get("/api/v1/deliveries", params={"kind": "batched"}).json()
    assert (listed["count"], [d["id"] for d in listed["data"]]) == (2, trees.leaf_hashes)
    assert listed["data"][1]["asset_ref"] == "Boom 9" and listed["data"][1]["commitment_title"] == "Bomen"
    assert client.get("/api/v1/batches", params={"verified": "true"}).json()["count"] == 1


def test_the_batch_file_is_served_byte_for_byte(client: TestClient, seed: dict) -> None:
    trees = seed["trees"]
    response = client.get(f"/api/v1/batches/{trees.root}/file")
    assert response.status_code == 200
    assert response.content == trees.data
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_a_leaf_proof_is_what_verify_batched_delivery_accepts_on_chain(
    client: TestClient, chain: LedgerChain, seed: dict
) -> None:
    trees = seed["trees"]
    response = client.get(f"/api/v1/batches/{trees.root[2:]}/leaves/{trees.leaf_hashes[1].upper()[2:]}/proof")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "root": trees.root, "leaf_hash": trees.leaf_hashes[1], "leaf_index": 1,
        "leaf": {"commitment_id": "4", "quantity": "3", "delivered_at": str(seed["now"] - DAY),
                 "evidence_hashes": trees.values[1][3], "evidence_uri": "", "note": "", "external_ref": "rij-2",
                 "asset_ref": "Boom 9"},
        "values": trees.values[1],
        "leaf_encoding": ["uint256", "uint64", "uint64", "bytes32[]", "string", "string", "string", "string"],
        "proof": trees.proofs[1], "counted": True, "refused_reason": None, "revoked": False,
        "ledger": {"chain_id": 31337, "contract_address": chain.deployment.contract_address},
    }
    leaf_struct = (int(body["leaf"]["commitment_id"]), int(body["leaf"]["quantity"]), int(body["leaf"]["delivered_at"]),
                   [b32(h) for h in body["leaf"]["evidence_hashes"]], body["leaf"]["evidence_uri"], body["leaf"]["note"],
                   body["leaf"]["external_ref"], body["leaf"]["asset_ref"])
    included, leaf_hash, revoked = chain.call("verifyBatchedDelivery", b32(body["root"]), leaf_struct,
                                              [b32(h) for h in body["proof"]])
    assert (included, "0x" + bytes(leaf_hash).hex(), revoked) == (True, trees.leaf_hashes[1], False)
    assert_problem(client.get(f"/api/v1/batches/{trees.root}/leaves/{'0x' + '77' * 32}/proof"), 404, "not-found")


def test_verify_finds_a_document_cited_by_a_batched_delivery(client: TestClient, seed: dict) -> None:
    trees = seed["trees"]
    body = client.get(f"/api/v1/verify/{trees.values[1][3][0]}").json()
    assert body["found"] is True
    assert [(c["kind"], c["delivery_id"], c["batch_root"], c["leaf_hash"], c["counted"], c["quantity"])
            for c in body["citations"]] == [("batched", trees.leaf_hashes[1], trees.root, trees.leaf_hashes[1], True, "3")]


# ------------------------------------------------------------------ OpenAPI


def test_the_batch_endpoints_are_described_and_every_schema_reference_resolves(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in ("/api/v1/batches", "/api/v1/batches/{root}", "/api/v1/batches/{root}/file",
                 "/api/v1/batches/{root}/leaves/{leaf_hash}/proof"):
        operation = paths[path]["get"]
        assert operation["description"] and operation["tags"] == ["batches"]
        assert set(paths[path]) == {"get"}  # reads only
    assert set(paths["/api/v1/batches/{root}"]["get"]["responses"]) == {"200", "404", "422", "500"}
    assert "application/json" in paths["/api/v1/batches/{root}/file"]["get"]["responses"]["200"]["content"]
    assert paths["/api/v1/batches/{root}"]["get"]["responses"]["404"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    components = schema["components"]["schemas"]

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return found + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    missing = {r for r in refs(schema) if r.split("/")[-1] not in components}
    assert missing == set()
    assert {"BatchSummary", "BatchDetail", "BatchPage", "BatchLeafProof", "BatchLeafValues", "Confirmation",
            "Dispute"} <= set(components)
    delivery = components["Delivery"]["properties"]
    assert {"kind", "asset_ref", "double_counted", "review", "confirmations", "disputes", "batch_root", "leaf_hash",
            "leaf_index", "counted", "refused_reason"} <= set(delivery)
    summary = components["CommitmentSummary"]["properties"]
    assert {"parent_id", "weight", "children", "rollup_progress_bps", "rollup_children_delivered",
            "rollup_children_counted", "confirmed_quantity", "unconfirmed_quantity", "disputed_quantity",
            "status_confirmed", "met_at_confirmed", "progress_bps_confirmed", "batched_delivery_count"} <= set(summary)


def test_the_leaves_of_a_batch_page_with_leaf_offset_and_leaf_limit(client: TestClient, seed: dict) -> None:
    trees = seed["trees"]
    page = client.get(f"/api/v1/batches/{trees.root}", params={"leaf_offset": 1, "leaf_limit": 5}).json()
    assert [x["leaf_index"] for x in page["leaves"]] == [1]
    assert client.get(f"/api/v1/batches/{trees.root}", params={"leaf_limit": 1}).json()["leaves"][0]["leaf_index"] == 0
    for params in ({"leaf_limit": 0}, {"leaf_limit": 1001}, {"leaf_offset": -1}):
        assert_problem(client.get(f"/api/v1/batches/{trees.root}", params=params), 422, "validation-error")
