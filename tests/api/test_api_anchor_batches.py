"""Anchored batches through the API (docs/LEDGER.md "Batches"): ``POST /staff/batches`` checks
every row, builds the StandardMerkleTree, stores the batch file, then anchors its root;
``POST /staff/batches/file`` takes a file built elsewhere (here by ``@openzeppelin/merkle-tree``
itself, in node) or the missing file of a batch anchored before; a batched delivery is revoked
by root and leaf hash. Exact answers; every refusal leaves chain and store as they were; the
file is in the store before the anchor is sent, and a server killed between the two loses
nothing a retry does not complete.

One ledger per module (Baarn 1, Utrecht 2); each test makes its own commitments.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.deps import get_chain
from api.main import create_app
from ledger import merkle
from ledger.chain import LedgerChain
from ledger.evidence import STAGING_DIR, STAGING_LOCK
from tests.api.helpers import Made, Tokens, assert_problem, deliver, register, unique_ref

REPO_ROOT = Path(__file__).resolve().parents[2]
DELIVERED_AT = 1_736_938_800
"""2025-01-15T11:00:00Z."""
EVIDENCE = "0x" + "e1" * 32
OTHER_EVIDENCE = "0x" + "e2" * 32
LEAF_ENCODING = ["uint256", "uint64", "uint64", "bytes32[]", "string", "string", "string", "string"]


def auth(token: str) -> dict[str, str]:
    return Tokens.header(token)


def sha(content: bytes) -> str:
    return "0x" + hashlib.sha256(content).hexdigest()


def row(commitment_id: int, **changes: Any) -> dict[str, Any]:
    """A ``deliveries`` item of ``POST /staff/batches``."""
    return {"commitment_id": commitment_id, "quantity": "3", "delivered_at": DELIVERED_AT, "evidence_hashes": [EVIDENCE],
            "evidence_uri": "", "note": "", "external_ref": "", "asset_ref": "", **changes}


def leaf_of(item: dict[str, Any]) -> merkle.BatchLeaf:
    return merkle.BatchLeaf(int(item["commitment_id"]), int(item["quantity"]), int(item["delivered_at"]),
                            tuple(item["evidence_hashes"]), item["evidence_uri"], item["note"], item["external_ref"],
                            item["asset_ref"])


def oz_dump(values: list[list[Any]]) -> bytes:
    """``JSON.stringify(StandardMerkleTree.of(values, LEAF_ENCODING).dump())`` by OpenZeppelin's
    own ``@openzeppelin/merkle-tree`` (node), the reference implementation."""
    script = (
        'import { readFileSync } from "node:fs"; import { StandardMerkleTree } from "@openzeppelin/merkle-tree";'
        'const values = JSON.parse(readFileSync(0, "utf8"));'
        f"process.stdout.write(JSON.stringify(StandardMerkleTree.of(values, {json.dumps(LEAF_ENCODING)}).dump()));"
    )
    done = subprocess.run(["node", "--input-type=module", "-e", script], input=json.dumps(values).encode(),
                          cwd=REPO_ROOT, capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def stored_files(app: FastAPI) -> list[str]:
    return sorted(p.name for p in Path(app.state.evidence_store.directory).iterdir() if p.name != STAGING_DIR)


def staged_files(app: FastAPI) -> list[str]:
    staging = Path(app.state.evidence_store.directory) / STAGING_DIR
    return sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file() and p.name != STAGING_LOCK)


def snapshot(app: FastAPI, chain: LedgerChain) -> tuple[int, list[str], list[str]]:
    return chain.head_block_number(), stored_files(app), staged_files(app)


def anchor(client: TestClient, token: str, rows: list[dict[str, Any]], **extra: Any) -> Any:
    return client.post("/api/v1/staff/batches", json={"municipality_id": 1, "deliveries": rows, **extra},
                       headers=auth(token))


def anchored(client: TestClient, token: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The 201 body of an anchored batch, without the outbox's ``write`` member beside it."""
    response = anchor(client, token, rows)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body.pop("write")["state"] == "confirmed"
    return body


# ------------------------------------------------------------------ POST /staff/batches


def test_a_batch_is_checked_stored_anchored_and_counted_once_indexed(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, roles: Any, commitment: Made
) -> None:
    rows = [
        row(commitment.id, quantity="2", external_ref="lamp-1", asset_ref="Lantaarnpaal 1", note="Vervangen door LED"),
        row(commitment.id, quantity=3, external_ref="lamp-2", asset_ref=" Lantaarnpaal\u00a0 2 ",
            evidence_hashes=[EVIDENCE, OTHER_EVIDENCE.upper()[2:]], evidence_uri="https://example.org/lampen"),
        row(commitment.id, quantity="1", delivered_at="2025-01-16T09:30:00+01:00"),
    ]
    before = stored_files(app)
    body = anchored(client, tokens.baarn, rows)

    values = [[str(commitment.id), "2", str(DELIVERED_AT), [EVIDENCE], "", "Vervangen door LED", "lamp-1", "Lantaarnpaal 1"],
              [str(commitment.id), "3", str(DELIVERED_AT), [EVIDENCE, OTHER_EVIDENCE], "https://example.org/lampen", "",
               "lamp-2", "Lantaarnpaal 2"],
              [str(commitment.id), "1", "1737016200", [EVIDENCE], "", "", "", ""]]
    file_bytes = oz_dump(values)  # the reference implementation's file, byte for byte
    dump = json.loads(file_bytes)
    root = dump["tree"][0]
    tree = merkle.parse_batch_file(file_bytes)
    assert body == {
        "root": root,
        "municipality_id": 1,
        "file_sha256": sha(file_bytes),
        "file_uri": f"http://testserver/api/v1/batches/{root}/file",
        "leaf_count": 3,
        "leaves": [
            {"leaf_hash": leaf.leaf_hash, "leaf_index": i, "commitment_id": commitment.id, "quantity": value[1],
             "delivered_at": int(value[2]), "evidence_hashes": value[3], "evidence_uri": value[4], "note": value[5],
             "external_ref": value[6], "asset_ref": value[7], "proof": list(leaf.proof)}
            for i, (leaf, value) in enumerate(zip(tree.leaves, values))
        ],
        "transaction_hash": body["tx"]["tx_hash"],
        "block_number": chain.head_block_number(),
        "tx": {"tx_hash": body["transaction_hash"], "block_number": chain.head_block_number(),
               "gas_used": body["tx"]["gas_used"]},
    }
    assert body["tx"]["gas_used"] < 100_000
    assert app.state.evidence_store.read_bytes(sha(file_bytes)) == file_bytes
    assert stored_files(app) == sorted(before + [sha(file_bytes)[2:], sha(file_bytes)[2:] + ".json"])
    assert list(chain.call("batchOf", bytes.fromhex(root[2:]))) == [1, roles.registrar.address, 3]
    for leaf in body["leaves"]:
        assert merkle.verify_proof(root, leaf["leaf_hash"], leaf["proof"])

    index()
    batch = client.get(f"/api/v1/batches/{root}").json()
    assert (batch["verified"], batch["unverified_reason"], batch["counted_leaves"], batch["file_sha256"]) == (
        True, None, 3, sha(file_bytes))
    assert client.get(f"/api/v1/batches/{root}/file").content == file_bytes
    assert client.get(f"/api/v1/commitments/{commitment.id}").json()["delivered_quantity"] == "6"


def test_a_batch_on_a_commitment_the_index_has_not_seen_yet_is_checked_on_chain(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any
) -> None:
    fresh = register(client, tokens.baarn)  # not indexed: commitmentState says it is Baarn's
    body = anchored(client, tokens.baarn, [row(fresh.id)])
    assert (body["leaf_count"], body["leaves"][0]["commitment_id"]) == (1, fresh.id)
    index()


def test_a_given_file_uri_is_anchored_as_given(client: TestClient, tokens: Tokens, commitment: Made, index: Any) -> None:
    response = anchor(client, tokens.baarn, [row(commitment.id, note="elders gepubliceerd")],
                      file_uri="https://baarn.nl/batches/2025-01.json")
    assert response.status_code == 201, response.text
    assert response.json()["file_uri"] == "https://baarn.nl/batches/2025-01.json"
    index()
    assert client.get(f"/api/v1/batches/{response.json()['root']}").json()["file_uri"] == (
        "https://baarn.nl/batches/2025-01.json")


def test_every_bad_row_is_named_and_nothing_is_stored_or_sent(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made,
    utrecht_commitment: Made,
) -> None:
    withdrawn = register(client, tokens.baarn)
    assert client.post(f"/api/v1/staff/commitments/{withdrawn.id}/withdrawal", json={"reason": "Geschrapt"},
                       headers=auth(tokens.baarn)).status_code == 201
    recorded = deliver(client, tokens.baarn, commitment.id, external_ref="lev-1", asset_ref="Paal 9")
    index()
    c = commitment.id
    rows = [
        row(c, external_ref="ok-1", asset_ref="Paal 1"),                     # 0: fine
        row(99_999),                                                           # 1: unknown commitment
        row(utrecht_commitment.id),                                            # 2: another municipality
        row(withdrawn.id),                                                     # 3: withdrawn
        row(c, external_ref="ok-1"),                                           # 4: ref repeats row 0
        row(c, external_ref="lev-1", quantity="2"),                            # 5: ref of a recorded delivery
        row(c, asset_ref="Paal  1", quantity="4"),                             # 6: asset repeats row 0
        row(c, asset_ref="Paal 9", quantity="5"),                              # 7: asset counted by the recorded one
        row(c, external_ref="ok-1", asset_ref="Paal 1"),                       # 8: the same leaf as row 0
    ]
    before = snapshot(app, chain)
    body = assert_problem(anchor(client, tokens.baarn, rows), 422, "validation-error")
    assert body["errors"] == [
        {"loc": ["body", "deliveries", 1, "commitment_id"], "type": "unknown_commitment",
         "msg": "deliveries[1]: commitment 99999 is not registered"},
        {"loc": ["body", "deliveries", 2, "commitment_id"], "type": "other_municipality",
         "msg": f"deliveries[2]: commitment {utrecht_commitment.id} belongs to municipality 2, not to municipality 1 "
                "of this batch"},
        {"loc": ["body", "deliveries", 3, "commitment_id"], "type": "commitment_withdrawn",
         "msg": f"deliveries[3]: commitment {withdrawn.id} is withdrawn: it accepts no delivery"},
        {"loc": ["body", "deliveries", 4, "external_ref"], "type": "duplicate_external_ref",
         "msg": f"deliveries[4]: external_ref “ok-1” repeats deliveries[0] on commitment {c}"},
        {"loc": ["body", "deliveries", 5, "external_ref"], "type": "duplicate_external_ref",
         "msg": f"deliveries[5]: commitment {c} already has a delivery with external_ref “lev-1”: delivery {recorded}"},
        {"loc": ["body", "deliveries", 6, "asset_ref"], "type": "asset_already_counted",
         "msg": f"deliveries[6]: asset “Paal 1” repeats deliveries[0] on commitment {c}: an asset counts once"},
        {"loc": ["body", "deliveries", 7, "asset_ref"], "type": "asset_already_counted",
         "msg": f"deliveries[7]: asset “Paal 9” is already counted for commitment {c} by delivery {recorded}, which is "
                "not revoked: an asset counts once"},
        {"loc": ["body", "deliveries", 8, "external_ref"], "type": "duplicate_external_ref",
         "msg": f"deliveries[8]: external_ref “ok-1” repeats deliveries[0] on commitment {c}"},
        {"loc": ["body", "deliveries", 8, "asset_ref"], "type": "asset_already_counted",
         "msg": f"deliveries[8]: asset “Paal 1” repeats deliveries[0] on commitment {c}: an asset counts once"},
        {"loc": ["body", "deliveries", 8], "type": "duplicate_leaf",
         "msg": f"deliveries[8] is the same delivery as deliveries[0] (leaf hash 0x{leaf_of(rows[0]).leaf_hash().hex()}): "
                "list each delivery once"},
    ]
    assert snapshot(app, chain) == before


def test_refs_and_assets_of_an_anchored_batch_are_taken_for_the_next(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made
) -> None:
    first = anchored(client, tokens.baarn, [row(commitment.id, external_ref="b-1", asset_ref="Paal 3")])
    index()
    leaf_hash = first["leaves"][0]["leaf_hash"]
    head = chain.head_block_number()
    body = assert_problem(anchor(client, tokens.baarn, [row(commitment.id, external_ref="b-1", quantity="9"),
                                                        row(commitment.id, asset_ref="Paal 3", quantity="8")]),
                          422, "validation-error")
    assert body["errors"] == [
        {"loc": ["body", "deliveries", 0, "external_ref"], "type": "duplicate_external_ref",
         "msg": f"deliveries[0]: commitment {commitment.id} already has a delivery with external_ref “b-1”: "
                f"delivery {leaf_hash}"},
        {"loc": ["body", "deliveries", 1, "asset_ref"], "type": "asset_already_counted",
         "msg": f"deliveries[1]: asset “Paal 3” is already counted for commitment {commitment.id} by delivery "
                f"{leaf_hash}, which is not revoked: an asset counts once"},
    ]
    single = assert_problem(client.post(f"/api/v1/staff/commitments/{commitment.id}/deliveries", headers=auth(tokens.baarn),
                                        data={"quantity": "1", "delivered_at": str(DELIVERED_AT),
                                              "evidence_sha256": EVIDENCE, "asset_ref": "Paal 3"}),
                            409, "asset-already-counted")  # the contract cannot see the batched one; the index can
    assert (single["existing_delivery_id"], "contract_error" in single) == (leaf_hash, False)
    assert chain.head_block_number() == head


@pytest.mark.parametrize(
    ("change", "error"),
    [
        pytest.param({"quantity": "0"}, {"loc": ["body", "deliveries", 0, "quantity"], "type": "quantity_range",
                                         "msg": "Quantity should be a whole number from 1 to 10^13 (10000000000000)"},
                     id="quantity"),
        pytest.param({"evidence_hashes": []}, {"loc": ["body", "deliveries", 0, "evidence_hashes"], "type": "too_short",
                                               "msg": "List should have at least 1 item after validation, not 0"},
                     id="no-evidence"),
        pytest.param({"evidence_hashes": ["0x" + "00" * 32]},
                     {"loc": ["body", "deliveries", 0, "evidence_hashes", 0], "type": "sha256_zero",
                      "msg": "The zero hash is not a document hash"}, id="zero-hash"),
        pytest.param({"delivered_at": 32_503_680_000},
                     {"loc": ["body", "deliveries", 0, "delivered_at"], "type": "time_in_future"}, id="future"),
        pytest.param({"asset_ref": "a" * 65}, {"loc": ["body", "deliveries", 0, "asset_ref"], "type": "string_too_long_bytes",
                                               "msg": "String should have at most 64 bytes (UTF-8), got 65"}, id="asset"),
    ],
)
def test_a_row_outside_the_ledgers_limits_is_a_validation_problem(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, commitment: Made, change: dict, error: dict
) -> None:
    before = snapshot(app, chain)
    body = assert_problem(anchor(client, tokens.baarn, [row(commitment.id, **change)]), 422, "validation-error")
    [found] = body["errors"]
    assert {k: found[k] for k in error} == error
    assert snapshot(app, chain) == before


def test_the_batch_is_of_the_tokens_municipality(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, utrecht_commitment: Made
) -> None:
    before = snapshot(app, chain)
    response = client.post("/api/v1/staff/batches", json={"municipality_id": 2, "deliveries": [row(utrecht_commitment.id)]},
                           headers=auth(tokens.baarn))
    body = assert_problem(response, 403, "forbidden")
    assert body["detail"] == "This token is for municipality 1; this batch belongs to municipality 2."
    assert snapshot(app, chain) == before


def test_a_token_of_an_account_that_is_no_registrar_is_refused_by_the_contract(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, roles: Any, commitment: Made
) -> None:
    head = chain.head_block_number()
    body = assert_problem(anchor(client, tokens.baarn_stranger, [row(commitment.id, note="vreemde")]), 403, "forbidden")
    assert body["contract_error"]["name"] == "LedgerNotRegistrar"
    assert body["detail"] == f"Account {roles.stranger.address} is not a registrar of municipality 1."
    assert chain.head_block_number() == head


def test_a_retried_batch_is_a_conflict_naming_its_root(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made
) -> None:
    rows = [row(commitment.id, note="tweemaal verstuurd")]
    first = anchored(client, tokens.baarn, rows)
    head = chain.head_block_number()
    repeat = anchor(client, tokens.baarn, rows)  # an exact repeat is the same write (the outbox), no transaction
    assert (repeat.status_code, repeat.json()["root"]) == (201, first["root"])
    assert chain.head_block_number() == head
    retried = client.post("/api/v1/staff/batches", json={"municipality_id": 1, "deliveries": rows},
                          headers={**auth(tokens.baarn), "Idempotency-Key": "a-new-attempt"})
    body = assert_problem(retried, 409, "batch-already-anchored")
    assert body["detail"] == (f"The batch with root {first['root']} is already anchored (municipality 1): "
                              "each root is anchored once.")
    assert (body["root"], body["municipality_id"]) == (first["root"], 1)
    assert body["contract_error"] == {"name": "LedgerBatchAlreadyAnchored",
                                      "args": {"root": first["root"], "municipality_id": 1}}
    assert chain.head_block_number() == head
    index()


def test_a_batch_with_evidence_files_stores_them_once_anchored(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made
) -> None:
    report = b"%PDF-1.4 opleverrapport lantaarnpalen\n"
    rows = [row(commitment.id, evidence_hashes=[sha(report)], note="met bestand"), row(commitment.id, quantity="5")]
    response = client.post("/api/v1/staff/batches", headers=auth(tokens.baarn), data={
        "municipality_id": "1", "deliveries": json.dumps(rows)}, files=[("evidence", ("rapport.pdf", report, "application/pdf"))])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["leaves"][0]["evidence_hashes"] == [sha(report)]
    fetched = client.get(f"/api/v1/evidence/{sha(report)}")
    assert (fetched.content, fetched.headers["content-type"]) == (report, "application/pdf")
    assert staged_files(app) == []
    before = snapshot(app, chain)
    uncited = client.post("/api/v1/staff/batches", headers=auth(tokens.baarn), data={
        "municipality_id": "1", "deliveries": json.dumps([row(commitment.id, quantity="6")])},
        files=[("evidence", ("los.txt", b"cited by no row\n", "text/plain"))])
    problem = assert_problem(uncited, 422, "validation-error")
    assert problem["errors"] == [{"loc": ["body", "evidence", 0], "type": "evidence_uncited", "msg": (
        f"evidence file los.txt (SHA-256 {sha(b'cited by no row' + bytes([10]))}) is cited by no delivery of the batch; "
        "list its hash in the evidence_hashes of the deliveries it proves")}]
    assert snapshot(app, chain) == before
    index()


# ------------------------------------------------------------------ kill safety


class GateChain:
    """The module's chain; records, when the anchor is sent, whether the batch file is stored."""

    def __init__(self, chain: LedgerChain, app: FastAPI) -> None:
        self._chain, self._app = chain, app
        self.stored_when_sent: list[bool] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain, name)

    def send(self, function: str, args: Any, private_key: str, **outbox: Any) -> Any:
        if function == "anchorBatch":
            self.stored_when_sent.append(self._app.state.evidence_store.exists("0x" + bytes(args[0][3]).hex()))
        return self._chain.send(function, args, private_key, **outbox)

    def build_call(self, function: str, args: Any, account: str) -> Any:
        """The write outbox's estimate, before the signed anchor is journaled and sent."""
        if function == "anchorBatch":
            self.stored_when_sent.append(self._app.state.evidence_store.exists("0x" + bytes(args[0][3]).hex()))
        return self._chain.build_call(function, args, account)


def test_the_batch_file_is_in_the_store_before_the_anchor_is_sent(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, commitment: Made
) -> None:
    gate = GateChain(chain, app)
    app.dependency_overrides[get_chain] = lambda: gate
    try:
        body = anchored(client, tokens.baarn, [row(commitment.id, note="eerst opgeslagen")])
    finally:
        app.dependency_overrides.clear()
    assert gate.stored_when_sent == [True]
    assert app.state.evidence_store.exists(body["file_sha256"])


_KILLED_BETWEEN_STORE_AND_SEND = """
import json, os, signal, sys
from api.services import batches
from ledger import merkle
from ledger.evidence import EvidenceStore

class KilledChain:
    def send(self, *_args, **_kwargs):  # the process dies as the anchor is about to be sent
        os.kill(os.getpid(), signal.SIGKILL)

class Staff:
    private_key = "0x" + "11" * 32

leaves = [merkle.BatchLeaf(**leaf) for leaf in json.loads(sys.argv[2])]
tree = merkle.build_tree(leaves)
batches._store_then_anchor(KilledChain(), EvidenceStore(sys.argv[1]), Staff(), 1, tree.root_hex, len(leaves),
                           tree.to_file_bytes(), "https://example.org/batch.json")
"""


def test_a_server_killed_between_storing_and_sending_loses_nothing_a_retry_does_not_complete(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made, api_settings: Any
) -> None:
    rows = [row(commitment.id, external_ref=unique_ref("kill"), asset_ref="Paal 40")]
    leaves = [{"commitment_id": commitment.id, "quantity": 3, "delivered_at": DELIVERED_AT, "evidence_hashes": [EVIDENCE],
               "external_ref": rows[0]["external_ref"], "asset_ref": "Paal 40"}]
    head, files, _staged = snapshot(app, chain)
    store_dir = str(app.state.evidence_store.directory)
    done = subprocess.run([sys.executable, "-c", _KILLED_BETWEEN_STORE_AND_SEND, store_dir, json.dumps(leaves)],
                          cwd=REPO_ROOT, capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr.decode()
    tree = merkle.build_tree([merkle.BatchLeaf(**leaf) for leaf in leaves])
    file_sha256 = sha(tree.to_file_bytes())
    assert chain.head_block_number() == head  # nothing was sent
    assert stored_files(app) == sorted(files + [file_sha256[2:], file_sha256[2:] + ".json"])  # the file was kept
    with TestClient(create_app(api_settings)):  # a restart: nothing of the killed process is left staged
        pass
    assert staged_files(app) == []

    retry = anchored(client, tokens.baarn, rows)  # the staff's retry: same leaves, same root, same file
    assert (retry["root"], retry["file_sha256"]) == (tree.root_hex, file_sha256)
    assert stored_files(app) == sorted(files + [file_sha256[2:], file_sha256[2:] + ".json"])
    index()
    batch = client.get(f"/api/v1/batches/{tree.root_hex}").json()
    assert (batch["verified"], batch["counted_leaves"]) == (True, 1)


# ------------------------------------------------------------------ POST /staff/batches/file


def upload(client: TestClient, token: str, content: bytes, **fields: str) -> Any:
    return client.post("/api/v1/staff/batches/file", headers=auth(token), data=fields,
                       files=[("file", ("batch.json", content, "application/json"))])


def test_a_file_built_with_openzeppelins_merkle_tree_is_stored_and_anchored(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made
) -> None:
    values = [[str(commitment.id), "4", str(DELIVERED_AT), [EVIDENCE], "", "uit Excel", "xl-1", "Boom 1"],
              [str(commitment.id), "6", str(DELIVERED_AT), [OTHER_EVIDENCE], "", "uit Excel", "xl-2", "Boom 2"]]
    content = oz_dump(values)
    root = json.loads(content)["tree"][0]
    response = upload(client, tokens.baarn, content, file_uri="https://baarn.nl/bomen.json")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["root"], body["file_sha256"], body["file_uri"], body["leaf_count"]) == (
        root, sha(content), "https://baarn.nl/bomen.json", 2)
    assert [leaf["external_ref"] for leaf in body["leaves"]] == ["xl-1", "xl-2"]
    assert app.state.evidence_store.read_bytes(sha(content)) == content
    index()
    batch = client.get(f"/api/v1/batches/{root}").json()
    assert (batch["verified"], batch["counted_leaves"]) == (True, 2)


def test_the_missing_file_of_an_anchored_batch_is_only_stored_and_then_verifies(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, roles: Any, commitment: Made
) -> None:
    tree = merkle.build_tree([leaf_of(row(commitment.id, note="bestand kwijt"))])
    content = tree.to_file_bytes()
    chain.send("anchorBatch", [(1, tree.root, 1, bytes.fromhex(sha(content)[2:]), "https://elders.example/b.json")],
               roles.registrar.key)  # anchored by another tool; this server never had the file
    not_indexed = assert_problem(upload(client, tokens.baarn, content), 503, "index-behind")
    assert (not_indexed["root"], not_indexed["detail"]) == (
        tree.root_hex, f"The batch with root {tree.root_hex} is anchored, but the index has not caught up with it yet. "
                       "Retry in a few seconds.")
    index()
    assert client.get(f"/api/v1/batches/{tree.root_hex}").json()["unverified_reason"] == "missing"
    head = chain.head_block_number()
    response = upload(client, tokens.baarn, content)
    assert response.status_code == 200, response.text
    assert response.json() == {"root": tree.root_hex, "municipality_id": 1, "file_sha256": sha(content), "leaf_count": 1,
                               "stored": True}
    assert chain.head_block_number() == head
    assert upload(client, tokens.baarn, content).json()["stored"] is False
    index()
    batch = client.get(f"/api/v1/batches/{tree.root_hex}").json()
    assert (batch["verified"], batch["counted_leaves"]) == (True, 1)
    other = assert_problem(upload(client, tokens.utrecht, content), 403, "forbidden")
    assert other["detail"] == f"This token is for municipality 2; batch {tree.root_hex} belongs to municipality 1."


def test_other_bytes_for_an_anchored_root_are_refused(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made
) -> None:
    first = anchored(client, tokens.baarn, [row(commitment.id, note="compact")])
    index()
    pretty = json.dumps(json.loads(app.state.evidence_store.read_bytes(first["file_sha256"])), indent=2).encode()
    before = snapshot(app, chain)
    body = assert_problem(upload(client, tokens.baarn, pretty), 409, "batch-file-mismatch")
    assert (body["root"], body["file_sha256"], body["uploaded_sha256"]) == (first["root"], first["file_sha256"], sha(pretty))
    assert snapshot(app, chain) == before


@pytest.mark.parametrize(
    ("content", "msg"),
    [
        pytest.param(b"not json", "file is not a batch file of this ledger: ", id="not-json"),
        pytest.param(json.dumps({"format": "simple-v1"}).encode(), "file is not a batch file of this ledger: ",
                     id="other-format"),
    ],
)
def test_a_file_that_is_no_batch_file_is_refused(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, content: bytes, msg: str
) -> None:
    before = snapshot(app, chain)
    body = assert_problem(upload(client, tokens.baarn, content), 422, "validation-error")
    [error] = body["errors"]
    assert (error["loc"], error["type"]) == (["body", "file"], "batch_file_invalid")
    assert error["msg"].startswith(msg)
    assert snapshot(app, chain) == before


def test_the_leaves_of_an_uploaded_file_are_checked_as_rows(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, utrecht_commitment: Made, commitment: Made
) -> None:
    content = oz_dump([[str(utrecht_commitment.id), "1", str(DELIVERED_AT), [EVIDENCE], "", "", "", ""],
                       [str(commitment.id), "0", str(DELIVERED_AT), [EVIDENCE], "", "", "", ""]])
    before = snapshot(app, chain)
    body = assert_problem(upload(client, tokens.baarn, content), 422, "validation-error")
    assert body["errors"] == [
        {"loc": ["body", "file", "values", 0, "commitment_id"], "type": "other_municipality",
         "msg": f"values[0]: commitment {utrecht_commitment.id} belongs to municipality 2, not to municipality 1 of this "
                "batch"},
        {"loc": ["body", "file", "values", 1, "quantity"], "type": "quantity_range",
         "msg": "Quantity should be a whole number from 1 to 10^13 (10000000000000)"},
        {"loc": ["body", "file", "values", 1], "type": "invalid_leaf",
         "msg": "values[1] breaks a limit of the ledger: quantity_out_of_range"},
    ]
    assert snapshot(app, chain) == before


# ------------------------------------------------------------------ revocation of a batched delivery


def test_a_batched_delivery_is_revoked_by_root_and_leaf_hash(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, roles: Any, commitment: Made
) -> None:
    body = anchored(client, tokens.baarn, [row(commitment.id, quantity="4"), row(commitment.id, quantity="5")])
    root, leaf = body["root"], body["leaves"][1]
    index()
    path = f"/api/v1/staff/batches/{root}/leaves/{leaf['leaf_hash']}/revocation"
    response = client.post(path, json={"reason": "Dubbel geteld"}, headers=auth(tokens.baarn))
    assert response.status_code == 201, response.text
    revoked = response.json()
    assert {k: revoked[k] for k in ("root", "leaf_hash", "commitment_id")} == {
        "root": root, "leaf_hash": leaf["leaf_hash"], "commitment_id": commitment.id}
    [event] = [e for e in chain.decoder.decode_all(chain.get_logs(revoked["tx"]["block_number"], revoked["tx"]["block_number"]))
               if e.name == "BatchedDeliveryRevoked"]
    assert (event.args["registrar"], event.args["reason"]) == (roles.registrar.address, "Dubbel geteld")
    head = chain.head_block_number()
    again = assert_problem(client.post(path, json={"reason": "Nogmaals"}, headers=auth(tokens.baarn)),
                           409, "delivery-already-revoked")
    assert again["detail"] == f"The batched delivery {leaf['leaf_hash']} of batch {root} is already revoked."
    assert (again["root"], again["leaf_hash"]) == (root, leaf["leaf_hash"])
    assert chain.head_block_number() == head
    index()
    assert client.get(f"/api/v1/commitments/{commitment.id}").json()["delivered_quantity"] == "4"


def test_revoking_a_leaf_that_cannot_be_found_names_why(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, roles: Any, commitment: Made
) -> None:
    body = anchored(client, tokens.baarn, [row(commitment.id, note="om te zoeken")])
    root = body["root"]
    missing_file = merkle.build_tree([leaf_of(row(commitment.id, note="nooit opgeslagen"))])
    content = missing_file.to_file_bytes()
    chain.send("anchorBatch", [(1, missing_file.root, 1, bytes.fromhex(sha(content)[2:]), "https://x.example/b.json")],
               roles.registrar.key)
    unindexed = "0x" + "ab" * 32
    head = chain.head_block_number()
    behind = assert_problem(client.post(f"/api/v1/staff/batches/{missing_file.root_hex}/leaves/{unindexed}/revocation",
                                        json={"reason": "r"}, headers=auth(tokens.baarn)), 503, "index-behind")
    assert behind["root"] == missing_file.root_hex
    index()
    cases = [
        (root, unindexed, 404, "not-found", f"The batch with root {root} has no leaf {unindexed}."),
        ("0x" + "cd" * 32, unindexed, 404, "not-found", f"No batch with root {'0x' + 'cd' * 32} is anchored."),
        (missing_file.root_hex, "0x" + missing_file.leaf_hashes[0].hex(), 409, "batch-file-missing",
         f"The file of batch {missing_file.root_hex} (SHA-256 {sha(content)}) is not stored here, so its leaves and "
         "proofs are unknown: upload it with POST /staff/batches/file, then retry."),
    ]
    for batch_root, leaf_hash, status, slug, detail in cases:
        response = client.post(f"/api/v1/staff/batches/{batch_root}/leaves/{leaf_hash}/revocation", json={"reason": "r"},
                               headers=auth(tokens.baarn))
        assert assert_problem(response, status, slug)["detail"] == detail
    forbidden = assert_problem(client.post(f"/api/v1/staff/batches/{root}/leaves/{body['leaves'][0]['leaf_hash']}"
                                           "/revocation", json={"reason": "r"}, headers=auth(tokens.utrecht)),
                               403, "forbidden")
    assert forbidden["detail"] == f"This token is for municipality 2; batch {root} belongs to municipality 1."
    assert chain.head_block_number() == head


def test_a_refused_anchor_discards_its_evidence_files_and_keeps_the_batch_file(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, commitment: Made
) -> None:
    report = b"a report of a batch the contract refuses\n"
    rows = [row(commitment.id, evidence_hashes=[sha(report)], note="geweigerd")]
    head, files, _staged = snapshot(app, chain)
    response = client.post("/api/v1/staff/batches", headers=auth(tokens.baarn_stranger), data={
        "municipality_id": "1", "deliveries": json.dumps(rows)}, files=[("evidence", ("r.txt", report, "text/plain"))])
    assert assert_problem(response, 403, "forbidden")["contract_error"]["name"] == "LedgerNotRegistrar"
    file_sha256 = sha(merkle.build_tree([leaf_of(rows[0])]).to_file_bytes())
    assert chain.head_block_number() == head
    assert stored_files(app) == sorted(files + [file_sha256[2:], file_sha256[2:] + ".json"])  # cited by nothing
    assert not app.state.evidence_store.exists(sha(report))
    assert staged_files(app) == []
