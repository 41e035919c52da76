"""Unit tests of ledger/signing.py with exact values: one fixed message whose digest and
signature were computed by ethers 6 (tools/eip712-sign.mjs) and whose batch leaf hash was
computed by @openzeppelin/merkle-tree 1.0.8, the JSON shape of relayed writes, the table
against the compiled ABI, and every refusal by its exception type and field."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from eth_account import Account

from ledger import signing
from ledger.abi import ledger_abi
from ledger.errors import LedgerError
from tests.conftest import ANVIL_KEYS

KEY = ANVIL_KEYS[2]
SIGNER = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
CHAIN_ID = 31337
LEDGER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
EVIDENCE = [hashlib.sha256(b"bewijs 1").digest(), hashlib.sha256(b"bewijs 2").digest()]
DELIVERY = (12, 1_717_200_000, EVIDENCE, "https://baarn.nl/bewijs/7", "Twaalf woningen opgeleverd — café ‘De Brink’",
            "BRN-2024-07", "")
"""``DeliveryInput`` of the fixed message, struct order."""
NONCE = 3
DEADLINE = 1_767_225_600  # 2026-01-01T00:00:00Z

ETHERS_DIGEST = "0x65e6bffb661f3e07cf68921620ba031d00a7faed671794ce9714671e73e2102a"
"""``TypedDataEncoder.hash`` of the fixed message (ethers 6.17.0)."""
ETHERS_SIGNATURE = (
    "0xe58e230cdb36dd69b255622b07fada96ab7eb819cc9aaacd0aaef915a991af60"
    "2921760ce46fa3ce9027892760b25cbca8ca1a013b3f1482c131d8dc8a83c52a1b"
)
"""``Wallet.signTypedData`` of the fixed message by ``KEY`` (ethers 6.17.0)."""
LEAF = (7, 12, 1_717_200_000, EVIDENCE, "https://baarn.nl/bewijs/7", "lantaarnpaal ✓", "BRN-L-1", "LP-000123")
MERKLE_TREE_LEAF_HASH = "0xa24b9f4b63d545d4f8c13b6b1bf8913873cde33507dd43e6fb1457ac60eaf584"
"""``StandardMerkleTree.of([LEAF], LEAF_ENCODING).leafHash(LEAF)`` (@openzeppelin/merkle-tree 1.0.8)."""

FIXED_JSON = {
    "commitmentId": "7",
    "quantity": "12",
    "deliveredAt": "1717200000",
    "evidenceHashes": [
        "0x86be07cc7926612eae7d6123c60c02c76dca83b6ac88a1763f4a3c3930541dbf",
        "0xb5783b93349f154a0cf4ccce9d8ac202fd4fad7dfeab11788ee4e3bf1f25a774",
    ],
    "evidenceUri": "https://baarn.nl/bewijs/7",
    "note": "Twaalf woningen opgeleverd — café ‘De Brink’",
    "externalRef": "BRN-2024-07",
    "assetRef": "",
    "nonce": "3",
    "deadline": "1767225600",
}


def fixed_message() -> dict[str, Any]:
    return signing.message("recordDelivery", [7, DELIVERY], nonce=NONCE, deadline=DEADLINE)


def fixed_typed_data() -> dict[str, Any]:
    return signing.typed_data("recordDelivery", fixed_message(), chain_id=CHAIN_ID, contract=LEDGER)


# ------------------------------------------------------------------ exact values


def test_digest_of_the_fixed_message_is_the_one_ethers_computed() -> None:
    assert "0x" + signing.digest(fixed_typed_data()).hex() == ETHERS_DIGEST


def test_signature_of_the_fixed_message_is_the_one_ethers_made() -> None:
    signature = signing.sign(fixed_typed_data(), KEY)
    assert len(signature) == signing.SIGNATURE_BYTES
    assert "0x" + signature.hex() == ETHERS_SIGNATURE
    assert signature[-1] in (27, 28)


def test_recover_gives_the_signer_of_the_ethers_signature() -> None:
    assert signing.recover(fixed_typed_data(), ETHERS_SIGNATURE) == SIGNER == Account.from_key(KEY).address


def test_recover_from_a_changed_message_gives_another_address() -> None:
    changed = {**fixed_message(), "quantity": 13}
    data = signing.typed_data("recordDelivery", changed, chain_id=CHAIN_ID, contract=LEDGER)
    assert signing.recover(data, ETHERS_SIGNATURE) != SIGNER


def test_leaf_hash_is_the_standard_merkle_tree_leaf_hash() -> None:
    assert "0x" + signing.leaf_hash(LEAF).hex() == MERKLE_TREE_LEAF_HASH
    as_dict = dict(zip(signing.LEAF_FIELDS, LEAF))
    assert signing.leaf_hash(as_dict) == signing.leaf_hash(LEAF)


def test_typed_data_is_the_eth_account_full_message() -> None:
    data = fixed_typed_data()
    assert data["primaryType"] == "RecordDelivery"
    assert data["domain"] == {"name": "CommitmentLedger", "version": "2", "chainId": 31337, "verifyingContract": LEDGER}
    assert data["types"]["EIP712Domain"] == [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ]
    assert [f["name"] for f in data["types"]["RecordDelivery"]] == [
        "commitmentId", "quantity", "deliveredAt", "evidenceHashes", "evidenceUri", "note", "externalRef", "assetRef",
        "nonce", "deadline",
    ]
    assert data["message"]["evidenceHashes"] == EVIDENCE


def test_domain_checksums_the_contract_address() -> None:
    assert signing.domain(chain_id=1, contract=LEDGER.lower())["verifyingContract"] == LEDGER


# ------------------------------------------------------------------ JSON


def test_message_to_json_writes_integers_as_decimal_strings_and_bytes32_as_hex() -> None:
    assert signing.message_to_json("recordDelivery", fixed_message()) == FIXED_JSON


def test_message_from_json_reads_decimal_strings_and_json_integers_alike() -> None:
    as_numbers = {**FIXED_JSON, "commitmentId": 7, "quantity": 12, "nonce": 3}
    assert signing.message_from_json("recordDelivery", FIXED_JSON) == fixed_message()
    assert signing.message_from_json("recordDelivery", as_numbers) == fixed_message()


def test_typed_data_to_json_is_what_a_wallet_signs() -> None:
    doc = signing.typed_data_to_json(fixed_typed_data())
    assert doc["message"] == FIXED_JSON
    assert doc["domain"]["chainId"] == 31337
    assert doc["primaryType"] == "RecordDelivery"


def test_typed_data_to_json_refuses_a_chain_id_a_javascript_number_cannot_hold() -> None:
    data = signing.typed_data("recordDelivery", fixed_message(), chain_id=2**53, contract=LEDGER)
    with pytest.raises(signing.TypedDataError) as caught:
        signing.typed_data_to_json(data)
    assert caught.value.field == "chainId"


def test_signed_write_json_is_operation_message_and_authorization() -> None:
    write = signing.SignedWrite("recordDelivery", fixed_message(), SIGNER, bytes.fromhex(ETHERS_SIGNATURE[2:]))
    assert write.to_json() == {
        "operation": "recordDelivery",
        "message": FIXED_JSON,
        "authorization": {"signer": SIGNER, "nonce": "3", "deadline": "1767225600", "signature": ETHERS_SIGNATURE},
    }
    assert signing.SignedWrite.from_json(write.to_json()) == write
    assert write.authorization == (SIGNER, 3, 1_767_225_600, bytes.fromhex(ETHERS_SIGNATURE[2:]))
    assert write.typed_data(chain_id=CHAIN_ID, contract=LEDGER) == fixed_typed_data()


@pytest.mark.parametrize("field", ["nonce", "deadline"])
def test_signed_write_whose_authorization_disagrees_with_its_message_is_refused(field: str) -> None:
    doc = signing.SignedWrite("recordDelivery", fixed_message(), SIGNER, b"\x01" * 65).to_json()
    doc["authorization"][field] = str(int(doc["authorization"][field]) + 1)
    with pytest.raises(signing.TypedDataError) as caught:
        signing.SignedWrite.from_json(doc)
    assert caught.value.field == f"authorization.{field}"


def test_signed_write_with_an_unknown_authorization_member_is_refused() -> None:
    doc = signing.SignedWrite("recordDelivery", fixed_message(), SIGNER, b"\x01" * 65).to_json()
    doc["authorization"]["relayer"] = SIGNER
    with pytest.raises(signing.TypedDataError) as caught:
        signing.SignedWrite.from_json(doc)
    assert caught.value.field == "authorization"


# ------------------------------------------------------------------ the table against the ABI


def _abi_function(name: str) -> dict[str, Any]:
    return next(e for e in ledger_abi() if e["type"] == "function" and e["name"] == name)


def test_every_signed_function_of_the_abi_has_an_operation() -> None:
    signed = {e["name"] for e in ledger_abi() if e["type"] == "function" and e["name"].endswith("BySig")}
    assert signed == {op.function for op in signing.OPERATIONS.values()}


@pytest.mark.parametrize("name", list(signing.OPERATIONS))
def test_operation_params_are_the_abi_inputs_of_its_function(name: str) -> None:
    op = signing.OPERATIONS[name]
    inputs = _abi_function(op.function)["inputs"]
    *params, auth = inputs
    assert [c["name"] for c in auth["components"]] == ["signer", "nonce", "deadline", "signature"]
    assert [p["name"] for p in params] == list(op.params)
    types = dict(op.fields)
    for param in params:
        members = [(c["name"], c["type"]) for c in param.get("components", [])]
        if param["name"] == "input":
            assert members == [(n, types[n]) for n in op.input_fields]
        elif param["name"] == "leaf":
            assert members == list(zip(signing.LEAF_FIELDS, signing.LEAF_ENCODING))
            assert types["leafHash"] == "bytes32"
        elif param["name"] == "proof":
            assert param["type"] == "bytes32[]"
        else:
            assert param["type"] == types[param["name"]]


@pytest.mark.parametrize("name", list(signing.OPERATIONS))
def test_every_field_but_nonce_and_deadline_comes_from_the_call(name: str) -> None:
    op = signing.OPERATIONS[name]
    from_call = set(op.input_fields) | {p for p in op.params if p not in ("input", "leaf", "proof")}
    from_call |= {"leafHash"} if "leaf" in op.params else set()
    assert [n for n, _ in op.fields][-2:] == ["nonce", "deadline"]
    assert from_call == {n for n, _ in op.fields} - {"nonce", "deadline"}


# ------------------------------------------------------------------ call arguments


def test_message_from_dict_input_equals_message_from_tuple_input() -> None:
    names = signing.OPERATIONS["recordDelivery"].input_fields
    as_dict = dict(zip(names, DELIVERY))
    assert signing.message("recordDelivery", [7, as_dict], nonce=NONCE, deadline=DEADLINE) == fixed_message()


def test_call_args_are_the_call_with_the_authorization_last() -> None:
    auth = signing.authorization(SIGNER.lower(), NONCE, DEADLINE, ETHERS_SIGNATURE)
    assert auth == (SIGNER, NONCE, DEADLINE, bytes.fromhex(ETHERS_SIGNATURE[2:]))
    assert signing.call_args("recordDelivery", fixed_message(), auth) == [7, DELIVERY, auth]


def test_batched_message_signs_the_leaf_hash_and_call_args_give_back_leaf_and_proof() -> None:
    root, proof = b"\xaa" * 32, [b"\xbb" * 32]
    msg = signing.message("revokeBatchedDelivery", [root, LEAF, proof, "dubbel geteld"], nonce=0, deadline=DEADLINE)
    assert msg == {"root": root, "leafHash": bytes.fromhex(MERKLE_TREE_LEAF_HASH[2:]), "reason": "dubbel geteld",
                   "nonce": 0, "deadline": DEADLINE}
    auth = signing.authorization(SIGNER, 0, DEADLINE, b"\x01" * 65)
    assert signing.call_args("revokeBatchedDelivery", msg, auth, leaf=LEAF, proof=proof) == [
        root, LEAF, proof, "dubbel geteld", auth
    ]


def test_call_args_refuse_a_leaf_that_is_not_the_signed_one() -> None:
    msg = signing.message("confirmBatchedDelivery", [b"\xaa" * 32, LEAF, [], bytes(32)], nonce=0, deadline=DEADLINE)
    other = (8, *LEAF[1:])
    auth = signing.authorization(SIGNER, 0, DEADLINE, b"\x01" * 65)
    with pytest.raises(signing.TypedDataError) as caught:
        signing.call_args("confirmBatchedDelivery", msg, auth, leaf=other, proof=[])
    assert caught.value.field == "leafHash"


def test_call_args_of_a_batched_operation_need_leaf_and_proof() -> None:
    msg = signing.message("disputeBatchedDelivery", [b"\xaa" * 32, LEAF, [], "klopt niet"], nonce=0, deadline=DEADLINE)
    auth = signing.authorization(SIGNER, 0, DEADLINE, b"\x01" * 65)
    with pytest.raises(signing.TypedDataError) as caught:
        signing.call_args("disputeBatchedDelivery", msg, auth)
    assert caught.value.field == "leaf"


def test_call_args_refuse_an_authorization_of_another_nonce() -> None:
    auth = signing.authorization(SIGNER, NONCE + 1, DEADLINE, ETHERS_SIGNATURE)
    with pytest.raises(signing.TypedDataError) as caught:
        signing.call_args("recordDelivery", fixed_message(), auth)
    assert caught.value.field == "nonce"


# ------------------------------------------------------------------ refusals


def test_unknown_operation_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(signing.TypedDataError) as caught:
        signing.message("recordDeliveries", [], nonce=0, deadline=0)
    assert caught.value.operation == "recordDeliveries" and caught.value.field is None
    assert isinstance(caught.value, LedgerError) and isinstance(caught.value, ValueError)
    assert "recordDelivery" in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantity", 2**64),  # one above uint64
        ("quantity", -1),
        ("quantity", True),  # booleans are not integers here
        ("quantity", "12"),  # decimal strings only from JSON
        ("nonce", 2**256),
        ("evidenceHashes", [b"\x01" * 31]),
        ("evidenceHashes", "0x" + "01" * 32),  # not a list
        ("note", b"bytes"),
        ("note", "half a pair \ud800"),  # a lone surrogate has no UTF-8
    ],
)
def test_a_value_that_does_not_fit_its_type_is_refused_naming_the_field(field: str, value: Any) -> None:
    with pytest.raises(signing.TypedDataError) as caught:
        signing.typed_data("recordDelivery", {**fixed_message(), field: value}, chain_id=CHAIN_ID, contract=LEDGER)
    assert caught.value.field.split("[")[0] == field


def test_uint_max_is_accepted() -> None:
    msg = {**fixed_message(), "quantity": 2**64 - 1, "deadline": 2**256 - 1}
    data = signing.typed_data("recordDelivery", msg, chain_id=CHAIN_ID, contract=LEDGER)
    assert (data["message"]["quantity"], data["message"]["deadline"]) == (2**64 - 1, 2**256 - 1)


@pytest.mark.parametrize(
    ("field", "value"),
    [("quantity", 12.0), ("quantity", True), ("quantity", "1e3"), ("quantity", "-1"), ("quantity", None),
     ("evidenceHashes", ["0x" + "01" * 31]), ("evidenceHashes", ["01" * 32])],
)
def test_json_refuses_floats_booleans_and_malformed_hex(field: str, value: Any) -> None:
    with pytest.raises(signing.TypedDataError) as caught:
        signing.message_from_json("recordDelivery", {**FIXED_JSON, field: value})
    assert caught.value.field.split("[")[0] == field


def test_a_missing_or_unknown_field_is_refused() -> None:
    missing = {k: v for k, v in FIXED_JSON.items() if k != "assetRef"}
    with pytest.raises(signing.TypedDataError, match="assetRef"):
        signing.message_from_json("recordDelivery", missing)
    with pytest.raises(signing.TypedDataError, match="relayer"):
        signing.message_from_json("recordDelivery", {**FIXED_JSON, "relayer": SIGNER})


def test_message_with_the_wrong_number_of_arguments_is_refused() -> None:
    with pytest.raises(signing.TypedDataError):
        signing.message("recordDelivery", [DELIVERY], nonce=0, deadline=0)


@pytest.mark.parametrize(
    "signature",
    [ETHERS_SIGNATURE[:-2], ETHERS_SIGNATURE + "00", ETHERS_SIGNATURE[:-2] + "1d", "0xzz", b""],
    ids=["64 bytes", "66 bytes", "v=29", "not hex", "empty"],
)
def test_recover_refuses_what_is_not_an_eoa_signature(signature: Any) -> None:
    with pytest.raises(signing.SignatureFormatError):
        signing.recover(fixed_typed_data(), signature)


def test_authorization_refuses_a_signer_that_is_not_an_address() -> None:
    with pytest.raises(signing.TypedDataError) as caught:
        signing.authorization("baarn", 0, 0, b"")
    assert caught.value.field == "signer"
