"""Relayed writes (docs/LEDGER.md "Signed writes"): a registrar or confirmer signs EIP-712
typed data with its own key, anywhere; ``POST /relay`` checks it off chain (signature,
deadline, nonce) and the API's relayer submits the ``...BySig`` call; the record names the
signer. ``GET /relay/typed-data`` gives an outside client (a wallet, ethers) exactly what to
sign. Signatures here come from eth_account (``ledger.signing``) and from node + ethers 6
(``tools/eip712-sign.mjs``), the latter over the typed data the API handed out.

Roles (the ``part2`` fixture): ``SIGNER`` is a Baarn registrar with no token, ``CONFIRMER`` a
confirmer, ``RELAYER`` the API's relayer key.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.deps import get_now
from api.main import create_app
from ledger import merkle, signing
from ledger.chain import LedgerChain
from ledger.deployment import Deployment
from tests.api.helpers import (
    CONFIRMER,
    RELAYER,
    SIGNER,
    Made,
    Part2Tokens,
    Tokens,
    assert_problem,
    deliver,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
EVIDENCE = "0x" + "e1" * 32
FAR = 2**40
"""A deadline no test chain's clock reaches (Unix seconds, year 36812)."""
NOW = 1_767_225_600
"""2026-01-01T00:00:00Z: the request time of the typed-data tests."""
RECORD_DELIVERY_TYPES = [
    {"name": "commitmentId", "type": "uint256"}, {"name": "quantity", "type": "uint64"},
    {"name": "deliveredAt", "type": "uint64"}, {"name": "evidenceHashes", "type": "bytes32[]"},
    {"name": "evidenceUri", "type": "string"}, {"name": "note", "type": "string"},
    {"name": "externalRef", "type": "string"}, {"name": "assetRef", "type": "string"},
    {"name": "nonce", "type": "uint256"}, {"name": "deadline", "type": "uint256"},
]
DOMAIN_TYPES = [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}]


def nonce_of(chain: LedgerChain, account: str) -> int:
    return int(chain.call("nonces", account))


def signed(
    chain: LedgerChain, deployment: Deployment, name: str, args: list[Any], key: str, *, nonce: int | None = None,
    deadline: int = FAR, chain_id: int | None = None,
) -> dict[str, Any]:
    """The relay body of ``name(args)`` signed with ``key`` by eth_account (``ledger.signing``)."""
    signer = SIGNER.address if key == SIGNER.key else _address(key)
    message = signing.message(name, args, nonce=nonce_of(chain, signer) if nonce is None else nonce, deadline=deadline)
    data = signing.typed_data(name, message, chain_id=chain_id or deployment.chain_id, contract=deployment.contract_address)
    return signing.SignedWrite(name, message, signer, signing.sign(data, key)).to_json()


def _address(key: str) -> str:
    from eth_account import Account

    return Account.from_key(key).address


def delivery_args(commitment_id: int, **changes: Any) -> list[Any]:
    values = {"quantity": 4, "delivered_at": 1_736_938_800, "hashes": [bytes.fromhex(EVIDENCE[2:])], "uri": "",
              "note": "Ondertekend in de eigen wallet", "ref": "", "asset": "", **changes}
    return [commitment_id, (values["quantity"], values["delivered_at"], values["hashes"], values["uri"], values["note"],
                            values["ref"], values["asset"])]


def relay(client: TestClient, body: dict[str, Any]) -> Any:
    return client.post("/api/v1/relay", json=body)


# ------------------------------------------------------------------ GET /relay/typed-data


def test_the_typed_data_to_sign_is_handed_out_with_the_signers_nonce(
    app: FastAPI, client: TestClient, chain: LedgerChain, deployment: Deployment, part2: Part2Tokens
) -> None:
    app.dependency_overrides[get_now] = lambda: NOW
    try:
        response = client.get("/api/v1/relay/typed-data", params=[
            ("operation", "recordDelivery"), ("signer", SIGNER.address), ("commitmentId", "7"), ("quantity", "12"),
            ("evidenceHashes", EVIDENCE), ("evidenceHashes", "0x" + "e2" * 32), ("note", "Tien lantaarnpalen")])
    finally:
        app.dependency_overrides.clear()
    assert response.status_code == 200, response.text
    assert response.json() == {
        "operation": "recordDelivery",
        "primaryType": "RecordDelivery",
        "domain": {"name": "CommitmentLedger", "version": "2", "chainId": 31337,
                   "verifyingContract": deployment.contract_address},
        "types": {"EIP712Domain": DOMAIN_TYPES, "RecordDelivery": RECORD_DELIVERY_TYPES},
        "message": {"commitmentId": "7", "quantity": "12", "deliveredAt": "0", "evidenceHashes": [EVIDENCE, "0x" + "e2" * 32],
                    "evidenceUri": "", "note": "Tien lantaarnpalen", "externalRef": "", "assetRef": "",
                    "nonce": str(nonce_of(chain, SIGNER.address)), "deadline": str(NOW + 3600)},
        "signer": SIGNER.address,
        "nonce": str(nonce_of(chain, SIGNER.address)),
    }


def test_typed_data_without_a_signer_and_for_a_batched_write(client: TestClient, deployment: Deployment) -> None:
    body = client.get("/api/v1/relay/typed-data", params={"operation": "confirmBatchedDelivery", "deadline": "99"}).json()
    assert body["types"]["ConfirmBatchedDelivery"] == [
        {"name": "root", "type": "bytes32"}, {"name": "leafHash", "type": "bytes32"},
        {"name": "evidenceHash", "type": "bytes32"}, {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"}]
    assert body["message"] == {"root": "0x" + "00" * 32, "leafHash": "0x" + "00" * 32, "evidenceHash": "0x" + "00" * 32,
                               "nonce": "0", "deadline": "99"}
    assert (body["signer"], body["nonce"]) == (None, None)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        pytest.param({"operation": "mintTokens"}, {"loc": ["query", "operation"], "type": "unknown_operation"}, id="operation"),
        pytest.param({"operation": "revokeDelivery", "quantity": "1"},
                     {"loc": ["query", "quantity"], "type": "unknown_field",
                      "msg": "RevokeDelivery has no field quantity; its fields: deliveryId, reason, nonce, deadline"},
                     id="field"),
        pytest.param({"operation": "revokeDelivery", "deliveryId": "-1"},
                     {"loc": ["query", "deliveryId"], "type": "typed_data"}, id="value"),
    ],
)
def test_typed_data_for_what_is_not_a_signed_write_is_a_validation_problem(
    client: TestClient, params: dict, error: dict
) -> None:
    body = assert_problem(client.get("/api/v1/relay/typed-data", params=params), 422, "validation-error")
    [found] = body["errors"]
    assert {k: found[k] for k in error} == error


# ------------------------------------------------------------------ POST /relay


def test_a_delivery_signed_with_eth_account_is_relayed_and_names_its_signer(
    client: TestClient, chain: LedgerChain, deployment: Deployment, part2: Part2Tokens, index: Any, commitment: Made
) -> None:
    nonce = nonce_of(chain, SIGNER.address)
    relayer_balance = chain.balance_wei(RELAYER.address)
    signer_balance = chain.balance_wei(SIGNER.address)
    body = signed(chain, deployment, "recordDelivery", delivery_args(commitment.id, asset="Paal 3"), SIGNER.key)
    response = relay(client, body)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer.pop("write")["kind"] == "relay"  # the outbox's write, beside the 201 body
    delivery = commitment.id * 1_000_000 + 1
    assert answer == {
        "operation": "recordDelivery", "signer": SIGNER.address, "relayer": RELAYER.address, "event": "DeliveryRecorded",
        "record": {"delivery_id": delivery, "commitment_id": commitment.id, "registrar": SIGNER.address, "quantity": "4",
                   "delivered_at": 1_736_938_800, "recorded_at": answer["record"]["recorded_at"],
                   "evidence_hashes": [EVIDENCE], "evidence_uri": "", "note": "Ondertekend in de eigen wallet",
                   "external_ref": "", "asset_ref": "Paal 3"},
        "tx": answer["tx"],
    }
    assert nonce_of(chain, SIGNER.address) == nonce + 1
    assert chain.balance_wei(SIGNER.address) == signer_balance  # the signer paid nothing
    assert chain.balance_wei(RELAYER.address) < relayer_balance
    index()
    [listed] = client.get(f"/api/v1/commitments/{commitment.id}").json()["deliveries"]
    assert (listed["id"], listed["registrar"], listed["signer_held_role"], listed["asset_ref"]) == (
        delivery, SIGNER.address, True, "Paal 3")


def test_a_delivery_signed_by_ethers_over_the_handed_out_typed_data_is_relayed(
    client: TestClient, chain: LedgerChain, part2: Part2Tokens, index: Any, commitment: Made
) -> None:
    typed = client.get("/api/v1/relay/typed-data", params=[
        ("operation", "recordDelivery"), ("signer", SIGNER.address), ("commitmentId", str(commitment.id)),
        ("quantity", "9"), ("deliveredAt", "1736938800"), ("evidenceHashes", EVIDENCE), ("externalRef", "wallet-1"),
        ("deadline", str(FAR))]).json()
    request = {"privateKey": SIGNER.key, "domain": typed["domain"], "primaryType": typed["primaryType"],
               "types": typed["types"], "message": typed["message"]}
    done = subprocess.run(["node", "tools/eip712-sign.mjs"], input=json.dumps(request).encode(), cwd=REPO_ROOT,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    signature = json.loads(done.stdout)["signature"]
    message = typed["message"]
    response = relay(client, {"operation": "recordDelivery", "message": message, "authorization": {
        "signer": SIGNER.address, "nonce": message["nonce"], "deadline": message["deadline"], "signature": signature}})
    assert response.status_code == 201, response.text
    record = response.json()["record"]
    assert (record["registrar"], record["quantity"], record["external_ref"]) == (SIGNER.address, "9", "wallet-1")
    index()


def test_a_signature_that_is_not_the_signers_is_refused_before_sending(
    client: TestClient, chain: LedgerChain, deployment: Deployment, part2: Part2Tokens, commitment: Made
) -> None:
    head = chain.head_block_number()
    by_other = signed(chain, deployment, "recordDelivery", delivery_args(commitment.id), CONFIRMER.key,
                      nonce=nonce_of(chain, SIGNER.address))
    by_other["authorization"]["signer"] = SIGNER.address
    body = assert_problem(relay(client, by_other), 422, "invalid-signature")
    assert (body["signer"], body["recovered"]) == (SIGNER.address, CONFIRMER.address)
    assert body["detail"] == (
        f"The signature is not {SIGNER.address}'s over this write on this chain and ledger: it was made by "
        f"{CONFIRMER.address} or over other data (another chain, contract or any changed field gives another digest). "
        "Sign the typed data of GET /relay/typed-data.")
    changed = signed(chain, deployment, "recordDelivery", delivery_args(commitment.id), SIGNER.key)
    changed["message"]["quantity"] = "400"
    tampered = assert_problem(relay(client, changed), 422, "invalid-signature")
    assert tampered["signer"] == SIGNER.address and tampered["recovered"] not in (SIGNER.address, None)
    other_chain = signed(chain, deployment, "recordDelivery", delivery_args(commitment.id), SIGNER.key, chain_id=1)
    assert assert_problem(relay(client, other_chain), 422, "invalid-signature")["signer"] == SIGNER.address
    short = signed(chain, deployment, "recordDelivery", delivery_args(commitment.id), SIGNER.key)
    short["authorization"]["signature"] = short["authorization"]["signature"][:-2]
    cut = assert_problem(relay(client, short), 422, "invalid-signature")
    assert cut["recovered"] is None
    assert cut["detail"].startswith(f"The signature is not {SIGNER.address}'s: An EOA signature has 65 bytes")
    assert chain.head_block_number() == head


def test_an_expired_signature_and_a_wrong_nonce_are_refused_before_sending(
    client: TestClient, chain: LedgerChain, deployment: Deployment, part2: Part2Tokens, commitment: Made
) -> None:
    head = chain.head_block_number()
    expired = signed(chain, deployment, "recordDelivery", delivery_args(commitment.id), SIGNER.key, deadline=1_700_000_000)
    body = assert_problem(relay(client, expired), 422, "signature-expired")
    assert (body["signer"], body["deadline"]) == (SIGNER.address, 1_700_000_000)
    assert body["block_time"] > 1_700_000_000
    assert body["detail"].startswith(f"The signature of {SIGNER.address} expired: its deadline 1700000000 "
                                     "(2023-11-14T22:13:20Z) is before the block time")
    nonce = nonce_of(chain, SIGNER.address)
    ahead = assert_problem(relay(client, signed(chain, deployment, "recordDelivery", delivery_args(commitment.id),
                                                SIGNER.key, nonce=nonce + 1)), 409, "invalid-nonce")
    assert (ahead["signer"], ahead["nonce"], ahead["expected_nonce"]) == (SIGNER.address, nonce + 1, nonce)
    assert ahead["detail"] == (f"Nonce {nonce + 1} of {SIGNER.address} is not the next one, {nonce}: signed writes of one "
                               "signer go in nonce order. Send the earlier ones first, or sign again with the current "
                               "nonce.")
    assert chain.head_block_number() == head


def test_a_replayed_signed_write_is_refused_as_a_used_nonce(
    client: TestClient, chain: LedgerChain, deployment: Deployment, part2: Part2Tokens, index: Any, commitment: Made
) -> None:
    body = signed(chain, deployment, "recordDelivery", delivery_args(commitment.id, ref="eenmaal"), SIGNER.key)
    first = relay(client, body)
    assert first.status_code == 201
    head = chain.head_block_number()
    nonce = int(body["message"]["nonce"])
    again = relay(client, body)  # the same signed payload is the same write (its digest is the key): no transaction
    assert (again.status_code, again.json()["tx"]) == (201, first.json()["tx"])
    replay = assert_problem(client.post("/api/v1/relay", json=body, headers={"Idempotency-Key": "another-try"}),
                            409, "invalid-nonce")
    assert (replay["nonce"], replay["expected_nonce"]) == (nonce, nonce + 1)
    assert replay["detail"] == (f"Nonce {nonce} of {SIGNER.address} is already used (the next one is {nonce + 1}): this "
                                "signed write was submitted before, or another used the nonce. Read the nonce again and "
                                "sign again.")
    assert chain.head_block_number() == head
    index()


def test_a_signer_without_the_role_is_refused_by_the_contract_naming_the_signer(
    client: TestClient, chain: LedgerChain, deployment: Deployment, part2: Part2Tokens, roles: Any, commitment: Made
) -> None:
    head = chain.head_block_number()
    body = assert_problem(relay(client, signed(chain, deployment, "recordDelivery", delivery_args(commitment.id),
                                               roles.stranger.key)), 403, "forbidden")
    assert body["detail"] == f"Account {roles.stranger.address} is not a registrar of municipality 1."
    assert body["contract_error"] == {"name": "LedgerNotRegistrar",
                                      "args": {"municipality_id": 1, "account": roles.stranger.address}}
    assert chain.head_block_number() == head


@pytest.mark.parametrize(
    ("change", "loc", "type_"),
    [
        pytest.param(lambda b: b.update(operation="mintTokens"), ["body", "operation"], "unknown_operation", id="operation"),
        pytest.param(lambda b: b["message"].pop("note"), ["body"], "typed_data", id="missing-field"),
        pytest.param(lambda b: b["message"].update(quantity="-4"), ["body", "message", "quantity"], "typed_data",
                     id="bad-value"),
        pytest.param(lambda b: b["authorization"].update(nonce="77"), ["body", "authorization", "nonce"], "typed_data",
                     id="nonce-not-the-messages"),
    ],
)
def test_a_payload_that_is_no_signed_write_is_a_validation_problem(
    client: TestClient, chain: LedgerChain, deployment: Deployment, part2: Part2Tokens, commitment: Made, change: Any,
    loc: list, type_: str,
) -> None:
    body = signed(chain, deployment, "recordDelivery", delivery_args(commitment.id), SIGNER.key)
    change(body)
    head = chain.head_block_number()
    problem = assert_problem(relay(client, body), 422, "validation-error")
    [error] = problem["errors"]
    assert (error["loc"], error["type"]) == (loc, type_)
    assert chain.head_block_number() == head


def test_a_relayed_asset_must_be_signed_normalised_and_uncounted(
    client: TestClient, chain: LedgerChain, deployment: Deployment, part2: Part2Tokens, tokens: Tokens, index: Any,
    commitment: Made,
) -> None:
    head = chain.head_block_number()
    loose = assert_problem(relay(client, signed(chain, deployment, "recordDelivery",
                                                delivery_args(commitment.id, asset=" Paal  5"), SIGNER.key)),
                           422, "validation-error")
    assert loose["errors"] == [{"loc": ["body", "message", "assetRef"], "type": "asset_ref_not_normalised", "msg": (
        "assetRef ' Paal  5' is not in normalised form 'Paal 5': sign the normalised form (NFC, trimmed, inner "
        "whitespace runs one space), the one readers compare")}]
    assert chain.head_block_number() == head
    batch = client.post("/api/v1/staff/batches", headers=Tokens.header(tokens.baarn), json={"municipality_id": 1, "deliveries": [
        {"commitment_id": commitment.id, "quantity": "1", "delivered_at": 1_736_938_800, "evidence_hashes": [EVIDENCE],
         "asset_ref": "Paal 5"}]}).json()
    index()
    counted = assert_problem(relay(client, signed(chain, deployment, "recordDelivery",
                                                  delivery_args(commitment.id, asset="Paal 5"), SIGNER.key)),
                             409, "asset-already-counted")
    assert counted["existing_delivery_id"] == batch["leaves"][0]["leaf_hash"]


def test_a_relayed_ref_must_be_signed_in_nfc(
    client: TestClient, chain: LedgerChain, deployment: Deployment, part2: Part2Tokens, commitment: Made,
) -> None:
    head = chain.head_block_number()
    struct = (1, "Woning-e\u0301", "Bomen planten", "", "", 20, "bomen", 1_655_071_200, 1_924_988_399, bytes(32), "", 0, 0)
    writes = [("registerCommitment", [struct], "Woning"), ("recordDelivery", delivery_args(commitment.id, ref="lev-e\u0301"), "lev")]
    for name, args, stem in writes:
        body = assert_problem(relay(client, signed(chain, deployment, name, args, SIGNER.key)), 422, "validation-error")
        typed, nfc = f"{stem}-e\u0301", f"{stem}-\u00e9"
        assert body["errors"] == [{"loc": ["body", "message", "externalRef"], "type": "external_ref_not_normalised", "msg": (
            f"externalRef {typed!r} is not in NFC {nfc!r}: sign the NFC form, the one the API's own writes send")}]
    assert chain.head_block_number() == head


def test_relayed_confirmations_of_a_recorded_and_a_batched_delivery_name_the_confirmer(
    client: TestClient, chain: LedgerChain, deployment: Deployment, part2: Part2Tokens, tokens: Tokens, index: Any,
    commitment: Made,
) -> None:
    delivery = deliver(client, tokens.baarn, commitment.id)
    report = bytes.fromhex("c0" * 32)
    response = relay(client, signed(chain, deployment, "confirmDelivery", [delivery, report], CONFIRMER.key))
    assert response.status_code == 201, response.text
    assert response.json()["record"] == {
        "delivery_id": delivery, "commitment_id": commitment.id, "confirmer": CONFIRMER.address,
        "evidence_hash": "0x" + "c0" * 32, "confirmed_at": response.json()["record"]["confirmed_at"]}
    batch = client.post("/api/v1/staff/batches", headers=Tokens.header(tokens.baarn), json={"municipality_id": 1, "deliveries": [
        {"commitment_id": commitment.id, "quantity": "2", "delivered_at": 1_736_938_800, "evidence_hashes": [EVIDENCE],
         "note": "gebundeld"}]}).json()
    index()
    leaf = batch["leaves"][0]
    leaf_struct = (commitment.id, 2, 1_736_938_800, [bytes.fromhex(EVIDENCE[2:])], "", "gebundeld", "", "")
    assert "0x" + signing.leaf_hash(leaf_struct).hex() == leaf["leaf_hash"]
    body = signed(chain, deployment, "disputeBatchedDelivery",
                  [bytes.fromhex(batch["root"][2:]), leaf_struct, [], "Niet gevonden"], CONFIRMER.key)
    response = relay(client, body)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert (answer["event"], answer["record"]["root"], answer["record"]["leaf_hash"], answer["record"]["confirmer"],
            answer["record"]["reason"]) == ("BatchedDeliveryDisputed", batch["root"], leaf["leaf_hash"], CONFIRMER.address,
                                            "Niet gevonden")
    index()
    assert client.get(f"/api/v1/batches/{batch['root']}").json()["leaves"][0]["review"] == "disputed"


def test_without_a_relayer_key_nothing_is_relayed(
    tmp_path: Path, api_settings: Any, chain: LedgerChain, deployment: Deployment, part2: Part2Tokens, commitment: Made
) -> None:
    settings = api_settings.model_copy(update={"staff_keys_file": tmp_path / "no-relayer.json"})
    head = chain.head_block_number()
    with TestClient(create_app(settings)) as other:
        body = assert_problem(relay(other, signed(chain, deployment, "recordDelivery", delivery_args(commitment.id),
                                                  SIGNER.key)), 503, "relay-unavailable")
    assert body["detail"] == ("This server has no relayer key, so it relays no signed writes. Submit the ...BySig call "
                              "yourself, or ask the operator to set one (python -m scripts.admin keys set-relayer).")
    assert chain.head_block_number() == head


def test_a_relayed_registration_anchor_and_batched_revocation_name_the_signer(
    app: FastAPI, client: TestClient, chain: LedgerChain, deployment: Deployment, part2: Part2Tokens, index: Any,
) -> None:
    struct = (1, "ondertekend-1", "Bomen planten", "", "", 20, "bomen", 1_655_071_200, 1_924_988_399, bytes(32), "", 0, 0)
    registered = relay(client, signed(chain, deployment, "registerCommitment", [struct], SIGNER.key))
    assert registered.status_code == 201, registered.text
    record = registered.json()["record"]
    assert (record["registrar"], record["external_ref"], record["target_quantity"]) == (SIGNER.address, "ondertekend-1", "20")
    cid = record["commitment_id"]
    tree = merkle.build_tree([merkle.BatchLeaf(cid, 5, 1_736_938_800, (EVIDENCE,), note="door de wallet")])
    content = tree.to_file_bytes()
    file_sha256 = hashlib.sha256(content).digest()
    anchor = relay(client, signed(chain, deployment, "anchorBatch",
                                  [(1, tree.root, 1, file_sha256, "https://elders.example/b.json")], SIGNER.key))
    assert anchor.status_code == 201, anchor.text
    assert (anchor.json()["event"], anchor.json()["record"]["registrar"]) == ("BatchAnchored", SIGNER.address)
    index()
    assert client.get(f"/api/v1/batches/{tree.root_hex}").json()["unverified_reason"] == "missing"  # not stored here
    app.state.evidence_store.save_stream(io.BytesIO(content), len(content), "application/json")
    index()
    leaf = tree.leaves[0]
    revoked = relay(client, signed(chain, deployment, "revokeBatchedDelivery",
                                   [tree.root, tuple(leaf.values()), tree.proof(0), "Verkeerde straat"], SIGNER.key))
    assert revoked.status_code == 201, revoked.text
    assert {k: revoked.json()["record"][k] for k in ("root", "leaf_hash", "commitment_id", "registrar", "reason")} == {
        "root": tree.root_hex, "leaf_hash": "0x" + leaf.leaf_hash().hex(), "commitment_id": cid,
        "registrar": SIGNER.address, "reason": "Verkeerde straat"}
    index()
