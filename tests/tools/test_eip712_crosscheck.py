"""ledger/signing.py against an independent EIP-712 implementation (ethers 6, through
tools/eip712-sign.mjs): for every primary type and several kinds of message, the same digest
and byte-identical signatures (RFC 6979 makes ECDSA deterministic), both recovering the key's
address. The requests reach ethers as ``typed_data_to_json`` writes them, so the JSON shape is
checked as well."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from eth_account import Account

from ledger import signing
from tests.conftest import ANVIL_KEYS
from tests.tools.ethers_eip712 import ethers_sign

STRINGS = {
    "unicode": [
        "Renovatie van 200 sociale huurwoningen — café ‘De Brink’",
        "Construcción de 3 jardines infantiles en Ñuñoa (región Metropolitana)",
        "0xdeadbeef",  # text that looks like hex: hashed as UTF-8, never as bytes
        "日本語のテキスト 🏠✅ ",
        "line one\nline two\ttab \"quoted\" \\ backslash",
    ],
    "empty": [""],
    "max": ["ü" * 500, "🏗️" * 250, "x" * 1000],
}
"""Strings per kind of sample; fields take them in turn."""

KINDS = ("unicode", "empty", "max")
DOMAINS = {
    "unicode": (31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3"),
    "empty": (1, "0x0000000000000000000000000000000000000001"),
    "max": (signing.MAX_JSON_CHAIN_ID, "0xffffffffffffffffffffffffffffffffffffffff"),
}
"""Chain id and ledger address of each kind's domain."""


def _sha(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def sample_message(op: signing.Operation, kind: str) -> dict[str, Any]:
    """A message of every field of ``op``: ordinary values with unicode text (``unicode``),
    zeros, empty strings and empty arrays (``empty``: typed data allows them even where the
    contract refuses), or maximal integers, 16 array entries and long text (``max``)."""
    strings = iter(STRINGS[kind] * 20)
    values: dict[str, Any] = {}
    for index, (name, kind_of_field) in enumerate(op.fields):
        if kind_of_field.startswith("uint"):
            bits = int(kind_of_field[4:])
            ordinary = min(1_717_200_000 + index, 2**bits - 1 - index)
            values[name] = {"unicode": ordinary, "empty": 0, "max": 2**bits - 1}[kind]
        elif kind_of_field == "bytes32":
            values[name] = {"unicode": _sha(f"{op.name}.{name}"), "empty": bytes(32), "max": b"\xff" * 32}[kind]
        elif kind_of_field == "bytes32[]":
            count = {"unicode": 3, "empty": 0, "max": 16}[kind]
            values[name] = [_sha(f"evidence {i}") for i in range(count)]
        else:
            values[name] = next(strings)
    return values


CASES = [(name, kind) for name in signing.OPERATIONS for kind in KINDS]
SIGNER = ANVIL_KEYS[2]


def _typed_data(name: str, kind: str) -> dict[str, Any]:
    chain_id, contract = DOMAINS[kind]
    message = sample_message(signing.OPERATIONS[name], kind)
    return signing.typed_data(name, message, chain_id=chain_id, contract=contract)


@pytest.fixture(scope="module")
def ethers_results() -> dict[tuple[str, str], dict[str, str]]:
    """ethers' digest and signature of every case, from one run of the signer."""
    requests = [{"privateKey": SIGNER, **signing.typed_data_to_json(_typed_data(*case))} for case in CASES]
    return dict(zip(CASES, ethers_sign(requests), strict=True))


def test_every_operation_is_sampled_in_every_kind() -> None:
    assert len(CASES) == 11 * 3
    assert {signing.OPERATIONS[name].primary_type for name, _ in CASES} == {
        "RegisterCommitment", "AmendCommitment", "WithdrawCommitment", "RecordDelivery", "RevokeDelivery",
        "AnchorBatch", "RevokeBatchedDelivery", "ConfirmDelivery", "DisputeDelivery", "ConfirmBatchedDelivery",
        "DisputeBatchedDelivery",
    }


@pytest.mark.parametrize(("name", "kind"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_digest_equals_the_ethers_digest(name: str, kind: str, ethers_results: dict) -> None:
    assert "0x" + signing.digest(_typed_data(name, kind)).hex() == ethers_results[(name, kind)]["digest"]


@pytest.mark.parametrize(("name", "kind"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_signature_is_byte_identical_to_ethers_and_both_recover_the_signer(
    name: str, kind: str, ethers_results: dict
) -> None:
    data = _typed_data(name, kind)
    ours = signing.sign(data, SIGNER)
    theirs = ethers_results[(name, kind)]["signature"]
    signer = Account.from_key(SIGNER).address
    assert "0x" + ours.hex() == theirs
    assert signing.recover(data, ours) == signer
    assert signing.recover(data, theirs) == signer


@pytest.mark.parametrize(("name", "kind"), CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_json_round_trip_keeps_the_message(name: str, kind: str) -> None:
    message = sample_message(signing.OPERATIONS[name], kind)
    assert signing.message_from_json(name, signing.message_to_json(name, message)) == message
