"""EIP-712 typed data of the ledger's signed writes: build, hash, sign, recover, relay as JSON.

Every registrar and confirmer write of the contract has a ``...BySig`` twin that takes, after
its normal arguments, an ``Authorization(signer, nonce, deadline, signature)`` (docs/LEDGER.md
"Signed writes"). The signer signs typed data (EIP-712, https://eips.ethereum.org/EIPS/eip-712)
in the domain of OpenZeppelin's ``EIP712`` (``utils/cryptography/EIP712.sol``): ``{name:
"CommitmentLedger", version: "2", chainId, verifyingContract: the ledger}``, no salt; anyone
(a relayer) submits it and the record names the signer. :data:`OPERATIONS` is the one table
of the primary types here; its type strings are the contract's ``*_TYPEHASH`` strings.

The flow, one function each::

    msg = message("recordDelivery", [commitment_id, delivery_input], nonce=n, deadline=t)
    data = typed_data("recordDelivery", msg, chain_id=31337, contract=ledger_address)
    signature = sign(data, registrar_key)            # 65 bytes r || s || v
    args = [commitment_id, delivery_input, authorization(registrar, n, t, signature)]
    chain.send("recordDeliveryBySig", args, relayer_key)

Hashing and signing are eth_account's (``encode_typed_data``, ``Account.sign_message``,
``Account.recover_message``); only the final EIP-191 step of :func:`digest`
(``keccak256(0x19 0x01 || domainSeparator || hashStruct(message))``) is computed here. The
StandardMerkleTree leaf hash a batched write signs (:func:`leaf_hash`) is ledger/merkle.py's
(:meth:`ledger.merkle.BatchLeaf.leaf_hash`), the one implementation of batch trees.

Values. A *message* is a dict with every field of the operation's primary type, ``nonce`` and
``deadline`` included, in Python form: ``uintN`` as ``int`` (0 <= v < 2**N; Unix seconds for
dates and deadlines, the commitment's unit for quantities), ``bytes32`` as 32 ``bytes`` (``0x``
hex accepted on input), ``bytes32[]`` as a list of them (empty where the contract allows),
``string`` as ``str`` (hashed as UTF-8, so ``"0xab"`` is text, never bytes).

JSON (:func:`message_to_json`, :func:`message_from_json`, :class:`SignedWrite`): every integer
is written as a decimal string (``"18446744073709551615"``: uint64 and uint256 do not fit a
JavaScript number) and read from a decimal string or a JSON integer; ``bytes32`` is ``0x`` + 64
hex digits (written lowercase), strings are JSON strings. A relayed signed write is::

    {"operation": "recordDelivery",
     "message": {"commitmentId": "1", "quantity": "5", ..., "nonce": "0", "deadline": "1767225600"},
     "authorization": {"signer": "0x…", "nonce": "0", "deadline": "1767225600", "signature": "0x…"}}

with ``authorization.nonce`` and ``.deadline`` equal to the message's. The domain of
:func:`typed_data_to_json` keeps ``chainId`` a JSON number, as wallets' ``eth_signTypedData_v4``
expects, so it must be a safe JavaScript integer (below 2**53, :data:`MAX_JSON_CHAIN_ID`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils import is_address, keccak, to_checksum_address

from ledger import merkle
from ledger.errors import LedgerError
from ledger.merkle import LEAF_ENCODING

DOMAIN_NAME = "CommitmentLedger"
"""``name`` of the ledger's EIP-712 domain (the contract's ``EIP712("CommitmentLedger", "2")``)."""
DOMAIN_VERSION = "2"
"""``version`` of the ledger's EIP-712 domain."""
DOMAIN_TYPE: tuple[dict[str, str], ...] = (
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
)
"""``EIP712Domain`` of OpenZeppelin's ``EIP712`` (no salt)."""

LEAF_FIELDS: tuple[str, ...] = (
    "commitmentId", "quantity", "deliveredAt", "evidenceHashes", "evidenceUri", "note", "externalRef", "assetRef",
)
"""``BatchLeaf`` members, in struct order; their ABI types are :data:`ledger.merkle.LEAF_ENCODING`
(imported here as ``LEAF_ENCODING``)."""
_LEAF_TYPES = tuple(zip(LEAF_FIELDS, LEAF_ENCODING))
_LEAF_MEMBER = dict(zip(merkle.LEAF_FIELDS, LEAF_FIELDS))  # merkle.BatchLeaf field -> struct member

MAX_JSON_CHAIN_ID = 2**53 - 1
"""Largest chain id :func:`typed_data_to_json` writes (a JSON number a JavaScript wallet reads exactly)."""

SIGNATURE_BYTES = 65
"""Length of an EOA signature: r (32) || s (32) || v (1, 27 or 28)."""

_DECIMAL = re.compile(r"[0-9]{1,78}")
_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}")
_TYPE_STRING = re.compile(r"([A-Za-z]\w*)\(([^()]*)\)")
_UINT = re.compile(r"uint(8|16|32|64|128|256)")


class SigningError(LedgerError):
    """Typed data or a signature of a signed write cannot be used."""


class TypedDataError(SigningError, ValueError):
    """A message (or relayed payload) does not fit the operation's primary type: unknown
    operation, missing or extra field, or a value of the wrong kind or out of range.

    Attributes:
        operation: the operation named, e.g. ``"recordDelivery"``.
        field: the offending field (``None`` for the whole message).
    """

    def __init__(self, operation: str, field: str | None, problem: str) -> None:
        where = f"{operation}.{field}" if field else operation
        super().__init__(f"Typed data {where}: {problem}")
        self.operation = operation
        self.field = field


class SignatureFormatError(SigningError, ValueError):
    """A signature is not a 65-byte ECDSA signature (r || s || v) from which an address can
    be recovered. Contract-wallet (ERC-1271) signatures are checked on chain only."""


@dataclass(frozen=True)
class Operation:
    """One signed write.

    Attributes:
        name: the write without ``BySig``, e.g. ``"recordDelivery"`` (the API's operation name).
        type_string: the EIP-712 type string, as hashed into the contract's ``*_TYPEHASH``.
        params: the ``...BySig`` function's parameters before the ``Authorization``: a field
            name of the primary type; ``"input"``, the struct of the remaining fields before
            ``nonce`` (in order); ``"leaf"``, a ``BatchLeaf`` signed as its ``leafHash``; or
            ``"proof"``, a Merkle proof (``bytes32[]``), not signed.
    """

    name: str
    type_string: str
    params: tuple[str, ...]

    @property
    def primary_type(self) -> str:
        """The primary type, e.g. ``"RecordDelivery"``."""
        return _TYPE_STRING.fullmatch(self.type_string).group(1)  # type: ignore[union-attr]

    @property
    def fields(self) -> tuple[tuple[str, str], ...]:
        """``(name, type)`` of each member of the primary type, ``nonce`` and ``deadline`` last."""
        members = _TYPE_STRING.fullmatch(self.type_string).group(2)  # type: ignore[union-attr]
        return tuple((m.split(" ")[1], m.split(" ")[0]) for m in members.split(","))

    @property
    def function(self) -> str:
        """The contract function that takes it, e.g. ``"recordDeliveryBySig"``."""
        return self.name + "BySig"

    @property
    def input_fields(self) -> tuple[str, ...]:
        """Members of the ``"input"`` struct (empty when the function takes none)."""
        if "input" not in self.params:
            return ()
        named = set(self.params)
        return tuple(n for n, _ in self.fields if n not in named and n not in ("nonce", "deadline"))

    def types(self) -> dict[str, list[dict[str, str]]]:
        """The ``types`` of eth_account's full message: ``EIP712Domain`` and the primary type."""
        return {
            "EIP712Domain": [dict(d) for d in DOMAIN_TYPE],
            self.primary_type: [{"name": n, "type": t} for n, t in self.fields],
        }


_OPERATION_LIST = (
    Operation(
        "registerCommitment",
        "RegisterCommitment(uint32 municipalityId,string externalRef,string title,string description,string theme,"
        "uint64 targetQuantity,string unit,uint64 promisedAt,uint64 dueDate,bytes32 sourceDocumentHash,"
        "string sourceUri,uint256 parentId,uint32 weight,uint256 nonce,uint256 deadline)",
        ("input",),
    ),
    Operation(
        "amendCommitment",
        "AmendCommitment(uint256 commitmentId,uint32 expectedAmendmentCount,uint8 fields,string title,"
        "string description,uint64 targetQuantity,uint64 dueDate,string reason,uint256 nonce,uint256 deadline)",
        ("commitmentId", "input"),
    ),
    Operation(
        "withdrawCommitment",
        "WithdrawCommitment(uint256 commitmentId,string reason,uint256 nonce,uint256 deadline)",
        ("commitmentId", "reason"),
    ),
    Operation(
        "recordDelivery",
        "RecordDelivery(uint256 commitmentId,uint64 quantity,uint64 deliveredAt,bytes32[] evidenceHashes,"
        "string evidenceUri,string note,string externalRef,string assetRef,uint256 nonce,uint256 deadline)",
        ("commitmentId", "input"),
    ),
    Operation(
        "revokeDelivery",
        "RevokeDelivery(uint256 deliveryId,string reason,uint256 nonce,uint256 deadline)",
        ("deliveryId", "reason"),
    ),
    Operation(
        "anchorBatch",
        "AnchorBatch(uint32 municipalityId,bytes32 root,uint32 leafCount,bytes32 fileSha256,string fileUri,"
        "uint256 nonce,uint256 deadline)",
        ("input",),
    ),
    Operation(
        "revokeBatchedDelivery",
        "RevokeBatchedDelivery(bytes32 root,bytes32 leafHash,string reason,uint256 nonce,uint256 deadline)",
        ("root", "leaf", "proof", "reason"),
    ),
    Operation(
        "confirmDelivery",
        "ConfirmDelivery(uint256 deliveryId,bytes32 evidenceHash,uint256 nonce,uint256 deadline)",
        ("deliveryId", "evidenceHash"),
    ),
    Operation(
        "disputeDelivery",
        "DisputeDelivery(uint256 deliveryId,string reason,uint256 nonce,uint256 deadline)",
        ("deliveryId", "reason"),
    ),
    Operation(
        "confirmBatchedDelivery",
        "ConfirmBatchedDelivery(bytes32 root,bytes32 leafHash,bytes32 evidenceHash,uint256 nonce,uint256 deadline)",
        ("root", "leaf", "proof", "evidenceHash"),
    ),
    Operation(
        "disputeBatchedDelivery",
        "DisputeBatchedDelivery(bytes32 root,bytes32 leafHash,string reason,uint256 nonce,uint256 deadline)",
        ("root", "leaf", "proof", "reason"),
    ),
)

OPERATIONS: Mapping[str, Operation] = {op.name: op for op in _OPERATION_LIST}
"""Every signed write by its name (``"recordDelivery"``, ...), in the interface's order."""


# ------------------------------------------------------------------ values


def operation(name: str) -> Operation:
    """The signed write called ``name``.

    Raises:
        TypedDataError: no such operation (the message lists the known ones).
    """
    try:
        return OPERATIONS[name]
    except (KeyError, TypeError):
        raise TypedDataError(str(name), None, f"unknown operation; use one of {', '.join(OPERATIONS)}") from None


def _value(op: str, field: str, kind: str, value: Any, *, from_json: bool) -> Any:
    """``value`` of ABI type ``kind`` in Python form (see the module docstring)."""
    if _UINT.fullmatch(kind):
        if from_json and isinstance(value, str) and _DECIMAL.fullmatch(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            wanted = "an integer or a decimal string" if from_json else "an int"
            raise TypedDataError(op, field, f"{kind} must be {wanted}, not {value!r}")
        bits = int(kind[4:])
        if not 0 <= value < 2**bits:
            raise TypedDataError(op, field, f"{kind} must be 0..2**{bits}-1, not {value}")
        return value
    if kind == "bytes32":
        if isinstance(value, str) and _HEX32.fullmatch(value):
            return bytes.fromhex(value[2:])
        if not from_json and isinstance(value, (bytes, bytearray)) and len(value) == 32:
            return bytes(value)
        raise TypedDataError(op, field, f"bytes32 must be 0x followed by 64 hex digits, not {value!r}")
    if kind == "bytes32[]":
        if not isinstance(value, (list, tuple)):
            raise TypedDataError(op, field, f"bytes32[] must be a list, not {value!r}")
        return [_value(op, f"{field}[{i}]", "bytes32", v, from_json=from_json) for i, v in enumerate(value)]
    if kind == "string":
        if not isinstance(value, str):
            raise TypedDataError(op, field, f"string must be a str, not {value!r}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise TypedDataError(op, field, "string must be Unicode text (a lone surrogate has no UTF-8)") from None
        return value
    raise TypedDataError(op, field, f"type {kind} is not used by the ledger's typed data")


def _json_value(kind: str, value: Any) -> Any:
    if _UINT.fullmatch(kind):
        return str(value)
    if kind == "bytes32":
        return "0x" + value.hex()
    if kind == "bytes32[]":
        return ["0x" + v.hex() for v in value]
    return value


def _message(op: Operation, values: Mapping[str, Any], *, from_json: bool) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise TypedDataError(op.name, None, f"the message must be an object, not {type(values).__name__}")
    names = [n for n, _ in op.fields]
    missing = [n for n in names if n not in values]
    extra = sorted(set(values) - set(names))
    if missing or extra:
        raise TypedDataError(
            op.name, None, f"fields must be exactly {', '.join(names)} (missing: {missing}, unknown: {extra})"
        )
    return {n: _value(op.name, n, t, values[n], from_json=from_json) for n, t in op.fields}


def _struct(op: str, param: str, names: Sequence[str], value: Any) -> dict[str, Any]:
    """A struct argument (tuple in struct order, or dict by member name) as a dict."""
    if isinstance(value, Mapping):
        if set(value) != set(names):
            raise TypedDataError(op, param, f"members must be exactly {', '.join(names)}")
        return {n: value[n] for n in names}
    if isinstance(value, (list, tuple)) and len(value) == len(names):
        return dict(zip(names, value))
    raise TypedDataError(op, param, f"must be a tuple of {len(names)} values ({', '.join(names)}) or a dict")


def _leaf_values(op: str, leaf: Sequence[Any] | Mapping[str, Any]) -> list[Any]:
    """A ``BatchLeaf`` argument's values in struct order, Python form (hashes as bytes)."""
    members = _struct(op, "leaf", LEAF_FIELDS, leaf)
    return [_value(op, n, t, members[n], from_json=False) for n, t in _LEAF_TYPES]


def leaf_hash(leaf: Sequence[Any] | Mapping[str, Any]) -> bytes:
    """The StandardMerkleTree leaf hash of a ``BatchLeaf`` (what the contract's batched writes
    compute and sign over as ``leafHash``): :meth:`ledger.merkle.BatchLeaf.leaf_hash` of the
    struct argument as web3 takes it.

    Args:
        leaf: the leaf as a tuple in struct order or a dict by member name (:data:`LEAF_FIELDS`);
            ``bytes32`` values as bytes or ``0x`` hex.

    Returns:
        32 bytes.

    Raises:
        TypedDataError: a member is missing or of the wrong kind.
    """
    values = _leaf_values("BatchLeaf", leaf)
    try:
        return merkle.BatchLeaf(*values).leaf_hash()
    except merkle.LeafValueError as exc:  # an int subclass, say: merkle takes exact types only
        raise TypedDataError("BatchLeaf", _LEAF_MEMBER[exc.field], str(exc)) from exc


def message(name: str, args: Sequence[Any], *, nonce: int, deadline: int) -> dict[str, Any]:
    """The typed-data message of a signed write, from the arguments its ``...BySig`` function
    takes before the ``Authorization`` (exactly as passed to web3: structs as tuples in struct
    order or dicts by member name; a ``BatchLeaf`` is signed as its :func:`leaf_hash`, a proof is
    not signed).

    Args:
        name: the operation, e.g. ``"recordDelivery"``.
        args: e.g. ``[commitment_id, (quantity, delivered_at, [hash, ...], uri, note, ref, asset)]``.
        nonce: the signer's next nonce (the contract's ``nonces(signer)``).
        deadline: last block time at which the signature is accepted, Unix seconds (inclusive).

    Returns:
        The message in Python form, every field of the primary type, ``nonce``/``deadline`` last.

    Raises:
        TypedDataError: unknown operation, wrong number of arguments, a value of the wrong kind.
    """
    op = operation(name)
    if not isinstance(args, (list, tuple)) or len(args) != len(op.params):
        raise TypedDataError(name, None, f"takes {len(op.params)} arguments before the authorization: {op.params}")
    values: dict[str, Any] = {}
    for param, arg in zip(op.params, args):
        if param == "input":
            values.update(_struct(name, "input", op.input_fields, arg))
        elif param == "leaf":
            values["leafHash"] = leaf_hash(arg)
        elif param != "proof":
            values[param] = arg
    return _message(op, {**values, "nonce": nonce, "deadline": deadline}, from_json=False)


def call_args(
    name: str,
    signed_message: Mapping[str, Any],
    auth: tuple[str, int, int, bytes],
    *,
    leaf: Sequence[Any] | Mapping[str, Any] | None = None,
    proof: Sequence[Any] | None = None,
) -> list[Any]:
    """The arguments of the ``...BySig`` function for a signed message (the relayer's side),
    ready for web3 / ``LedgerChain.send(op.function, args, relayer_key)``.

    Args:
        name: the operation.
        signed_message: the message that was signed (Python form, :func:`message_from_json`).
        auth: :func:`authorization` of the signature.
        leaf: batched operations only: the ``BatchLeaf`` whose hash is ``leafHash``.
        proof: batched operations only: its Merkle proof (``bytes32`` each, possibly empty).

    Returns:
        The arguments in order, structs as tuples, the ``Authorization`` tuple last.

    Raises:
        TypedDataError: the message does not fit; ``leaf``/``proof`` missing for a batched
            operation (or given for another); the leaf's hash is not the signed ``leafHash``;
            ``auth``'s nonce or deadline differ from the message's.
    """
    op = operation(name)
    values = _message(op, signed_message, from_json=False)
    batched = "leaf" in op.params
    if batched != (leaf is not None) or batched != (proof is not None):
        raise TypedDataError(name, "leaf", "give leaf and proof for a batched operation, and only then")
    if (auth[1], auth[2]) != (values["nonce"], values["deadline"]):
        raise TypedDataError(name, "nonce", "the authorization's nonce and deadline must be the message's")
    args: list[Any] = []
    for param in op.params:
        if param == "input":
            args.append(tuple(values[n] for n in op.input_fields))
        elif param == "leaf":
            assert leaf is not None
            if leaf_hash(leaf) != values["leafHash"]:
                raise TypedDataError(name, "leafHash", "the leaf's StandardMerkleTree hash is not the signed leafHash")
            args.append(tuple(_leaf_values(name, leaf)))
        elif param == "proof":
            args.append(_value(name, "proof", "bytes32[]", proof, from_json=False))
        else:
            args.append(values[param])
    return [*args, auth]


# ------------------------------------------------------------------ typed data, hash, signature


def domain(*, chain_id: int, contract: str) -> dict[str, Any]:
    """The ledger's EIP-712 domain on chain ``chain_id`` at address ``contract`` (checksummed).

    Raises:
        TypedDataError: ``contract`` is not an address or ``chain_id`` not a uint256.
    """
    if not isinstance(contract, str) or not is_address(contract):
        raise TypedDataError("EIP712Domain", "verifyingContract", f"must be a 0x address, not {contract!r}")
    chain = _value("EIP712Domain", "chainId", "uint256", chain_id, from_json=False)
    address = to_checksum_address(contract)
    return {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain, "verifyingContract": address}


def typed_data(name: str, signed_message: Mapping[str, Any], *, chain_id: int, contract: str) -> dict[str, Any]:
    """The full EIP-712 typed data of one signed write, as eth_account's
    ``encode_typed_data(full_message=...)`` takes it: ``{"types": {"EIP712Domain": [...],
    primary: [...]}, "primaryType", "domain", "message"}``.

    Args:
        name: the operation, e.g. ``"recordDelivery"``.
        signed_message: every field of the primary type in Python form (:func:`message`).
        chain_id: the chain the ledger is deployed on (EIP-155 id).
        contract: the ledger's address (``verifyingContract``).

    Raises:
        TypedDataError: unknown operation, a missing/extra field or a value that does not fit.
    """
    op = operation(name)
    return {
        "types": op.types(),
        "primaryType": op.primary_type,
        "domain": domain(chain_id=chain_id, contract=contract),
        "message": _message(op, signed_message, from_json=False),
    }


def _signable(data: Mapping[str, Any]) -> SignableMessage:
    try:
        return encode_typed_data(full_message=dict(data))
    except (ValueError, TypeError, KeyError) as exc:  # eth_account's validation of a hand-made dict
        raise TypedDataError(str(data.get("primaryType")), None, f"eth_account refused it: {exc}") from exc


def digest(data: Mapping[str, Any]) -> bytes:
    """The EIP-712 hash of typed data, what the signer signs and the contract's
    ``_hashTypedDataV4`` computes: ``keccak256(0x19 0x01 || domainSeparator ||
    hashStruct(message))`` (ethers' ``TypedDataEncoder.hash``).

    Args:
        data: :func:`typed_data`'s result.

    Returns:
        32 bytes.

    Raises:
        TypedDataError: eth_account cannot encode ``data``.
    """
    signable = _signable(data)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def sign(data: Mapping[str, Any], private_key: str | bytes) -> bytes:
    """Sign typed data with an EOA key (deterministic, RFC 6979: the same key and data always
    give the same signature).

    Args:
        data: :func:`typed_data`'s result.
        private_key: the signer's 32-byte key, bytes or hex.

    Returns:
        65 bytes r || s || v with v = 27 or 28 (what OpenZeppelin ``ECDSA`` accepts).

    Raises:
        TypedDataError: eth_account cannot encode ``data``.
        ValueError: ``private_key`` is not a valid key (eth_keys' error).
    """
    return bytes(Account.sign_message(_signable(data), private_key).signature)


def _signature_bytes(signature: bytes | str) -> bytes:
    if isinstance(signature, str):
        if not re.fullmatch(r"0x([0-9a-fA-F]{2})*", signature):
            raise SignatureFormatError(f"A signature must be 0x hex, not {signature!r}.")
        signature = bytes.fromhex(signature[2:])
    if not isinstance(signature, (bytes, bytearray)):
        raise SignatureFormatError(f"A signature must be bytes or 0x hex, not {type(signature).__name__}.")
    return bytes(signature)


def recover(data: Mapping[str, Any], signature: bytes | str) -> str:
    """The EOA that signed typed data (what ``ecrecover`` gives the contract).

    Args:
        data: :func:`typed_data`'s result.
        signature: 65 bytes r || s || v (v = 27 or 28), bytes or ``0x`` hex.

    Returns:
        The checksummed address. Any other data gives another (unrelated) address.

    Raises:
        SignatureFormatError: not 65 bytes, or no address can be recovered (bad v, r or s).
        TypedDataError: eth_account cannot encode ``data``.
    """
    raw = _signature_bytes(signature)
    if len(raw) != SIGNATURE_BYTES:
        raise SignatureFormatError(
            f"An EOA signature has {SIGNATURE_BYTES} bytes (r || s || v), not {len(raw)}; "
            f"contract-wallet (ERC-1271) signatures can only be checked on chain."
        )
    signable = _signable(data)
    try:
        return to_checksum_address(Account.recover_message(signable, signature=raw))
    except Exception as exc:  # eth_keys' BadSignature / ValidationError for an invalid v, r or s
        raise SignatureFormatError(f"No signer can be recovered from this signature: {exc}") from exc


def authorization(signer: str, nonce: int, deadline: int, signature: bytes | str) -> tuple[str, int, int, bytes]:
    """The contract's ``Authorization(signer, nonce, deadline, signature)`` as a web3 tuple.

    Args:
        signer: the signing account (an EOA, or an ERC-1271 contract wallet).
        nonce: the nonce that was signed.
        deadline: the deadline that was signed, Unix seconds.
        signature: bytes or ``0x`` hex (65 bytes for an EOA; any length for ERC-1271).

    Raises:
        TypedDataError: ``signer`` is not an address, or nonce/deadline not a uint256.
        SignatureFormatError: ``signature`` is neither bytes nor ``0x`` hex.
    """
    if not isinstance(signer, str) or not is_address(signer):
        raise TypedDataError("Authorization", "signer", f"must be a 0x address, not {signer!r}")
    return (
        to_checksum_address(signer),
        _value("Authorization", "nonce", "uint256", nonce, from_json=False),
        _value("Authorization", "deadline", "uint256", deadline, from_json=False),
        _signature_bytes(signature),
    )


# ------------------------------------------------------------------ JSON


def message_to_json(name: str, signed_message: Mapping[str, Any]) -> dict[str, Any]:
    """A message as JSON (integers as decimal strings, ``bytes32`` as lowercase ``0x`` hex).

    Raises:
        TypedDataError: the message does not fit the operation.
    """
    op = operation(name)
    values = _message(op, signed_message, from_json=False)
    return {n: _json_value(t, values[n]) for n, t in op.fields}


def message_from_json(name: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """A message from JSON (integers as decimal strings or JSON integers, never floats or
    booleans; ``bytes32`` as ``0x`` + 64 hex digits) in Python form.

    Raises:
        TypedDataError: unknown operation, a missing/extra field, a value that does not fit.
    """
    return _message(operation(name), doc, from_json=True)


def typed_data_to_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """Typed data as ``eth_signTypedData_v4`` and ethers' ``signTypedData`` take it (for ethers
    drop ``types["EIP712Domain"]``): the message as :func:`message_to_json`, ``chainId`` a JSON
    number.

    Raises:
        TypedDataError: ``data`` is not typed data of a ledger operation, or its chain id is above
            :data:`MAX_JSON_CHAIN_ID`.
    """
    primary = data.get("primaryType")
    op = next((o for o in _OPERATION_LIST if o.primary_type == primary), None)
    if op is None:
        raise TypedDataError(str(primary), None, "not the primary type of a ledger operation")
    if not 0 <= data["domain"]["chainId"] <= MAX_JSON_CHAIN_ID:
        raise TypedDataError(
            "EIP712Domain", "chainId", f"{data['domain']['chainId']} is not a safe JSON number (0..{MAX_JSON_CHAIN_ID})"
        )
    return {
        "types": op.types(),
        "primaryType": op.primary_type,
        "domain": dict(data["domain"]),
        "message": message_to_json(op.name, data["message"]),
    }


@dataclass(frozen=True)
class SignedWrite:
    """A signed write in transit from signer to relayer (the API's relay payload).

    Attributes:
        operation: e.g. ``"recordDelivery"``.
        message: the signed message, Python form (``nonce`` and ``deadline`` included).
        signer: the signing account, checksummed.
        signature: the signature bytes.
    """

    operation: str
    message: Mapping[str, Any]
    signer: str
    signature: bytes

    @property
    def authorization(self) -> tuple[str, int, int, bytes]:
        """The ``Authorization`` tuple (nonce and deadline from the message)."""
        return authorization(self.signer, self.message["nonce"], self.message["deadline"], self.signature)

    def typed_data(self, *, chain_id: int, contract: str) -> dict[str, Any]:
        """The typed data that was signed, in the given domain (see :func:`typed_data`)."""
        return typed_data(self.operation, self.message, chain_id=chain_id, contract=contract)

    def to_json(self) -> dict[str, Any]:
        """``{"operation", "message", "authorization": {"signer", "nonce", "deadline",
        "signature"}}``, integers as decimal strings, signature ``0x`` hex."""
        doc = message_to_json(self.operation, self.message)
        return {
            "operation": self.operation,
            "message": doc,
            "authorization": {
                "signer": to_checksum_address(self.signer),
                "nonce": doc["nonce"],
                "deadline": doc["deadline"],
                "signature": "0x" + bytes(self.signature).hex(),
            },
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> SignedWrite:
        """Read :meth:`to_json`'s shape (integers also as JSON integers).

        Raises:
            TypedDataError: a part is missing or does not fit, or the authorization's nonce or
                deadline is not the message's.
            SignatureFormatError: the signature is not ``0x`` hex.
        """
        if not isinstance(doc, Mapping) or not isinstance(doc.get("authorization"), Mapping):
            raise TypedDataError("SignedWrite", None, "must be an object with operation, message and authorization")
        name = doc.get("operation")
        values = message_from_json(str(name) if name is not None else "", doc.get("message"))  # type: ignore[arg-type]
        auth = doc["authorization"]
        if set(auth) != {"signer", "nonce", "deadline", "signature"}:
            raise TypedDataError(
                str(name), "authorization", "members must be exactly signer, nonce, deadline, signature"
            )
        for field in ("nonce", "deadline"):
            if _value(str(name), f"authorization.{field}", "uint256", auth[field], from_json=True) != values[field]:
                raise TypedDataError(str(name), f"authorization.{field}", f"must equal the message's {field}")
        signer, _, _, signature = authorization(auth["signer"], values["nonce"], values["deadline"], auth["signature"])
        return cls(str(name), values, signer, signature)
