"""EIP-712 typed data of the ledger's signed writes, the tests' own (not ledger/signing.py).

The type strings are copied from the contract's ``*_TYPEHASH`` constants
(contracts/CommitmentLedger.sol); test_signed_writes.py checks each constant equals the keccak
of its string, and that ledger/signing.py holds the same strings. Hashing and signing are
eth_account's (``encode_typed_data(full_message=...)``, ``Account.sign_message``), so a digest
the contract accepts was computed by code the contract's authors did not write.

Domain: ``{name: "CommitmentLedger", version: "2", chainId, verifyingContract}`` (OpenZeppelin
``EIP712``, no salt).
"""

import re

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from constants import DOMAIN_NAME, DOMAIN_VERSION
from standard_tree import leaf_hash

TYPE_STRINGS = {
    "registerCommitment": (
        "RegisterCommitment(uint32 municipalityId,string externalRef,string title,string description,string theme,"
        "uint64 targetQuantity,string unit,uint64 promisedAt,uint64 dueDate,bytes32 sourceDocumentHash,"
        "string sourceUri,uint256 parentId,uint32 weight,uint256 nonce,uint256 deadline)"
    ),
    "amendCommitment": (
        "AmendCommitment(uint256 commitmentId,uint32 expectedAmendmentCount,uint8 fields,string title,"
        "string description,uint64 targetQuantity,uint64 dueDate,string reason,uint256 nonce,uint256 deadline)"
    ),
    "withdrawCommitment": "WithdrawCommitment(uint256 commitmentId,string reason,uint256 nonce,uint256 deadline)",
    "recordDelivery": (
        "RecordDelivery(uint256 commitmentId,uint64 quantity,uint64 deliveredAt,bytes32[] evidenceHashes,"
        "string evidenceUri,string note,string externalRef,string assetRef,uint256 nonce,uint256 deadline)"
    ),
    "revokeDelivery": "RevokeDelivery(uint256 deliveryId,string reason,uint256 nonce,uint256 deadline)",
    "anchorBatch": (
        "AnchorBatch(uint32 municipalityId,bytes32 root,uint32 leafCount,bytes32 fileSha256,string fileUri,"
        "uint256 nonce,uint256 deadline)"
    ),
    "revokeBatchedDelivery": (
        "RevokeBatchedDelivery(bytes32 root,bytes32 leafHash,string reason,uint256 nonce,uint256 deadline)"
    ),
    "confirmDelivery": "ConfirmDelivery(uint256 deliveryId,bytes32 evidenceHash,uint256 nonce,uint256 deadline)",
    "disputeDelivery": "DisputeDelivery(uint256 deliveryId,string reason,uint256 nonce,uint256 deadline)",
    "confirmBatchedDelivery": (
        "ConfirmBatchedDelivery(bytes32 root,bytes32 leafHash,bytes32 evidenceHash,uint256 nonce,uint256 deadline)"
    ),
    "disputeBatchedDelivery": (
        "DisputeBatchedDelivery(bytes32 root,bytes32 leafHash,string reason,uint256 nonce,uint256 deadline)"
    ),
}
"""Each signed write (the function without ``BySig``) and its EIP-712 type string."""

TYPEHASH_CONSTANTS = {
    "registerCommitment": "REGISTER_COMMITMENT_TYPEHASH",
    "amendCommitment": "AMEND_COMMITMENT_TYPEHASH",
    "withdrawCommitment": "WITHDRAW_COMMITMENT_TYPEHASH",
    "recordDelivery": "RECORD_DELIVERY_TYPEHASH",
    "revokeDelivery": "REVOKE_DELIVERY_TYPEHASH",
    "anchorBatch": "ANCHOR_BATCH_TYPEHASH",
    "revokeBatchedDelivery": "REVOKE_BATCHED_DELIVERY_TYPEHASH",
    "confirmDelivery": "CONFIRM_DELIVERY_TYPEHASH",
    "disputeDelivery": "DISPUTE_DELIVERY_TYPEHASH",
    "confirmBatchedDelivery": "CONFIRM_BATCHED_DELIVERY_TYPEHASH",
    "disputeBatchedDelivery": "DISPUTE_BATCHED_DELIVERY_TYPEHASH",
}
"""The contract's public constant holding the keccak of each type string."""

PARAMS = {
    "registerCommitment": ("input",),
    "amendCommitment": ("commitmentId", "input"),
    "withdrawCommitment": ("commitmentId", "reason"),
    "recordDelivery": ("commitmentId", "input"),
    "revokeDelivery": ("deliveryId", "reason"),
    "anchorBatch": ("input",),
    "revokeBatchedDelivery": ("root", "leaf", "proof", "reason"),
    "confirmDelivery": ("deliveryId", "evidenceHash"),
    "disputeDelivery": ("deliveryId", "reason"),
    "confirmBatchedDelivery": ("root", "leaf", "proof", "evidenceHash"),
    "disputeBatchedDelivery": ("root", "leaf", "proof", "reason"),
}
"""The ``...BySig`` parameters before the Authorization (ICommitmentLedger): a member of the
primary type; ``input``, a struct of the remaining members in order; ``leaf``, a BatchLeaf
signed as its ``leafHash``; ``proof``, not signed."""

_TYPE_STRING = re.compile(r"(\w+)\((.*)\)")


def primary_type(operation):
    return _TYPE_STRING.fullmatch(TYPE_STRINGS[operation]).group(1)


def members(operation):
    """``[(name, type), ...]`` of the operation's primary type, nonce and deadline last."""
    listed = _TYPE_STRING.fullmatch(TYPE_STRINGS[operation]).group(2).split(",")
    return [(member.split(" ")[1], member.split(" ")[0]) for member in listed]


def _typed(kind, value):
    if kind == "bytes32":
        return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)
    if kind == "bytes32[]":
        return [_typed("bytes32", v) for v in value]
    return value


def message(operation, args, nonce, deadline):
    """The typed-data message of ``operation`` called with ``args`` (its arguments before the
    Authorization, as passed to brownie)."""
    params = PARAMS[operation]
    input_members = [name for name, _ in members(operation) if name not in params and name not in ("nonce", "deadline")]
    values = {}
    for param, arg in zip(params, args, strict=True):
        if param == "input":
            values.update(zip(input_members, arg, strict=True))
        elif param == "leaf":
            values["leafHash"] = leaf_hash(arg)
        elif param != "proof":
            values[param] = arg
    values.update(nonce=nonce, deadline=deadline)
    return {name: _typed(kind, values[name]) for name, kind in members(operation)}


def typed_data(operation, signed_message, *, chain_id, contract):
    """The full message eth_account's ``encode_typed_data(full_message=...)`` takes."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            primary_type(operation): [{"name": name, "type": kind} for name, kind in members(operation)],
        },
        "primaryType": primary_type(operation),
        "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id, "verifyingContract": contract},
        "message": signed_message,
    }


def sign(operation, args, *, private_key, nonce, deadline, chain_id, contract):
    """The 65-byte signature (r || s || v) of ``operation`` with ``args``."""
    data = typed_data(operation, message(operation, args, nonce, deadline), chain_id=chain_id, contract=contract)
    return bytes(Account.sign_message(encode_typed_data(full_message=data), private_key).signature)


def digest(operation, args, *, nonce, deadline, chain_id, contract):
    """The EIP-712 digest the contract checks (``_hashTypedDataV4``): what an ERC-1271 wallet
    is asked about."""
    data = typed_data(operation, message(operation, args, nonce, deadline), chain_id=chain_id, contract=contract)
    signable = encode_typed_data(full_message=data)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)
