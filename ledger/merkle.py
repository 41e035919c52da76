"""Batches of deliveries as Merkle trees: OpenZeppelin's StandardMerkleTree, in Python.

The one Python implementation of batch anchoring (docs/LEDGER.md "Batches"): the API and the
importer build trees and batch files with it, the indexer and the auditor's replay check
anchored batch files with it (:func:`check_batch_file`).

Format: OpenZeppelin's ``@openzeppelin/merkle-tree`` 1.0 ``StandardMerkleTree``
(https://github.com/OpenZeppelin/merkle-tree, README "Standard Merkle Trees"), ported from its
``dist/standard.js``, ``merkletree.js``, ``core.js`` and ``hashes.js``:

- a leaf is the values of :data:`LEAF_ENCODING` (``ICommitmentLedger.BatchLeaf``, a delivery
  plus its commitment id); its hash is ``keccak256(keccak256(abi.encode(values...)))``, in
  Solidity ``keccak256(bytes.concat(keccak256(abi.encode(...))))`` (the README's "Leaf Hash");
- an inner node is ``keccak256`` of its two children sorted as unsigned 256-bit numbers
  (smaller first), so a proof needs no left/right flags: OpenZeppelin Contracts'
  ``MerkleProof.verify`` (``contracts/utils/cryptography/MerkleProof.sol``, ``_hashPair``);
- the tree is a complete binary tree in one array (``makeMerkleTree``): the root at 0, the
  children of node ``i`` at ``2i + 1`` and ``2i + 2``; the ``n`` leaf hashes, sorted ascending
  (``sortLeaves``, the default), fill the last ``n`` slots from the end backwards, so the
  ``k``-th smallest hash is at ``2n - 2 - k``; each value's ``treeIndex`` says where its leaf is;
- a proof of a value is the sibling of each node from its leaf up to the root (``getProof``).

The batch file (what staff keep and publish, and whose SHA-256 is anchored as ``fileSha256``)
is the tree's ``dump()`` (``{"format": "standard-v1", "leafEncoding", "tree", "values":
[{"value", "treeIndex"}]}``), written as ``JSON.stringify(tree.dump())`` writes it (the
README's example): keys in that order, no whitespace, UTF-8, non-ASCII characters as they are
(only ``"``, ``\\`` and control characters escaped, as JSON.stringify does), no trailing
newline. In a value, uints are decimal strings without sign or leading zeros (``"0"``,
``"1700000000"``: exact in JavaScript, where a JSON number above 2**53 is not), bytes32 are
``0x`` + 64 lowercase hex, strings are JSON strings. ``StandardMerkleTree.load(JSON.parse(text))``
accepts such a file, and ethers' ``AbiCoder`` encodes its values to the same bytes; rebuilding
the file from its values in node (``StandardMerkleTree.of(values, leafEncoding).dump()``)
gives the same bytes (tests/tools/test_merkle_crosscheck.py, ``tools/merkle-check.mjs``).

Readers never re-serialise: they hash the bytes they hold, parse them
(:func:`parse_batch_file`, which accepts exactly the representation above), rebuild the tree
from ``values`` and compare it with ``tree`` and with the anchored root. Where JavaScript
could read a file otherwise than Python, the reader refuses it (a uint as a JSON number,
``""``, ``"0x1"`` or ``" 1"``, which OZ's abi-utils would take; a repeated key; an unknown key;
the same leaf twice) rather than count leaves another checker would not. One case is read as
OZ reads it: a string with a lone UTF-16 surrogate escape (``"\\ud800"``, never written by
this module) is hashed as JavaScript's TextEncoder encodes it, the surrogate as U+FFFD.

Hashes are ``bytes`` (32) in this module's computations; ``0x`` hex (64 lowercase digits) in
what it reports for storage and JSON (:class:`ParsedLeaf`, ``*_hex``). Where a hash is an
argument, either form is accepted.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Union

from sha3 import keccak_256  # safe-pysha3 (requirements.txt): keccak256 in C, a fifth of eth_utils.keccak's time a call

from ledger.errors import LedgerError
from ledger.limits import (
    ASSET_REF_MAX_BYTES,
    EXTERNAL_REF_MAX_BYTES,
    MAX_EVIDENCE,
    MAX_QUANTITY,
    NOTE_MAX_BYTES,
    URI_MAX_BYTES,
)

LEAF_ENCODING: tuple[str, ...] = ("uint256", "uint64", "uint64", "bytes32[]", "string", "string", "string", "string")
"""ABI types of a leaf's values, in order: ``commitmentId, quantity, deliveredAt,
evidenceHashes, evidenceUri, note, externalRef, assetRef`` (``ICommitmentLedger.BatchLeaf``);
the file's ``leafEncoding``."""

FILE_FORMAT = "standard-v1"
"""The ``format`` of a StandardMerkleTree dump."""

LEAF_FIELDS: tuple[str, ...] = (
    "commitment_id", "quantity", "delivered_at", "evidence_hashes", "evidence_uri", "note", "external_ref", "asset_ref",
)
""":class:`BatchLeaf` field of each position of a leaf's values."""

LEAF_TEXT_MAX_BYTES: Mapping[str, int] = {
    "evidence_uri": URI_MAX_BYTES,
    "note": NOTE_MAX_BYTES,
    "external_ref": EXTERNAL_REF_MAX_BYTES,
    "asset_ref": ASSET_REF_MAX_BYTES,
}
"""Longest text of each text field, UTF-8 bytes, inclusive (the limits of ``recordDelivery``)."""

_UINT_BITS = {"commitment_id": 256, "quantity": 64, "delivered_at": 64}
_TEXT_FIELDS = ("evidence_uri", "note", "external_ref", "asset_ref")
_DUMP_KEYS = ("format", "leafEncoding", "tree", "values")
_VALUE_KEYS = ("value", "treeIndex")
_DECIMAL = re.compile(r"(?:0|[1-9][0-9]{0,77})")  # 2**256 - 1 has 78 digits
_HEX32 = re.compile(r"0x[0-9a-f]{64}")
_ANY_HEX32 = re.compile(r"(?:0x)?[0-9a-fA-F]{64}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ZERO32 = bytes(32)
_HEAD_BYTES = 32 * len(LEAF_ENCODING)  # abi.encode of a leaf: 3 uint words and 5 offsets, then the tails

Bytes32Like = Union[bytes, bytearray, memoryview, str]
"""A 32-byte hash: bytes, or ``0x`` + 64 hex digits (any case, ``0x`` optional)."""


# ---------------------------------------------------------------------------- errors


class MerkleError(LedgerError):
    """Root of the errors of batch trees and batch files."""


class HashFormatError(MerkleError, ValueError):
    """A hash argument is not 32 bytes (or ``0x`` + 64 hex digits)."""

    def __init__(self, name: str, value: object) -> None:
        super().__init__(f"{name} must be 32 bytes or 0x + 64 hex digits, got {value!r}.")
        self.name = name
        self.value = value


class LeafValueError(MerkleError, ValueError):
    """A :class:`BatchLeaf` field cannot be ABI-encoded as its :data:`LEAF_ENCODING` type
    (wrong Python type, out of the type's range, a hash not 32 bytes, a text that is not
    valid Unicode). The ledger's own limits are :func:`leaf_problems`, not this."""

    def __init__(self, field_name: str, expected: str, value: object) -> None:
        super().__init__(f"Batch leaf field {field_name} must be {expected}, got {value!r}.")
        self.field = field_name
        self.expected = expected
        self.value = value


class BatchBuildError(MerkleError, ValueError):
    """A batch cannot be built from these leaves."""


class EmptyBatchError(BatchBuildError):
    """A batch needs at least one leaf."""

    def __init__(self) -> None:
        super().__init__("A batch needs at least one leaf (delivery).")


class DuplicateLeafError(BatchBuildError):
    """Two leaves are identical (same leaf hash): a batched delivery is identified by its
    leaf hash, so each may be in a batch once."""

    def __init__(self, leaf_hash: bytes, first_index: int, index: int) -> None:
        super().__init__(
            f"Leaves {first_index} and {index} are the same delivery (leaf hash 0x{leaf_hash.hex()}): remove one."
        )
        self.leaf_hash = leaf_hash
        self.first_index = first_index
        self.index = index


class InvalidBatchError(BatchBuildError):
    """Some leaves break the ledger's rules (:func:`batch_problems`).

    Attributes:
        problems: leaf index (position in the leaves given) → its problems, in field order.
    """

    def __init__(self, problems: Mapping[int, Sequence[LeafProblem]]) -> None:
        shown = "; ".join(f"leaf {i}: {', '.join(p)}" for i, p in sorted(problems.items())[:5])
        more = f" (and {len(problems) - 5} more leaves)" if len(problems) > 5 else ""
        super().__init__(f"The batch breaks the ledger's rules: {shown}{more}. Fix or drop those leaves.")
        self.problems = {i: tuple(p) for i, p in problems.items()}


class LeafNotInTreeError(MerkleError, LookupError):
    """The tree has no such value index, or no leaf equal to the one given."""

    def __init__(self, leaf_or_index: object) -> None:
        super().__init__(f"The batch tree has no leaf {leaf_or_index!r}.")
        self.leaf_or_index = leaf_or_index


class BatchFileError(MerkleError, ValueError):
    """A batch file is not a valid batch file (:func:`parse_batch_file`)."""


class NotJsonError(BatchFileError):
    """The bytes are not UTF-8 JSON text (invalid UTF-8, a byte order mark, a syntax error,
    ``NaN``/``Infinity``, nesting too deep)."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"The batch file is not UTF-8 JSON: {reason}.")
        self.reason = reason


class BatchStructureError(BatchFileError):
    """The JSON is not shaped as a StandardMerkleTree dump: not an object, a key missing,
    unknown or repeated, ``tree`` or ``values`` not an array, ``values`` empty, an entry of
    ``values`` not ``{"value", "treeIndex"}`` with an integer ``treeIndex``.

    Attributes:
        where: the JSON path of the problem, e.g. ``"values[3].treeIndex"``.
    """

    def __init__(self, where: str, expected: str) -> None:
        super().__init__(f"Batch file {where}: expected {expected}.")
        self.where = where
        self.expected = expected


class WrongFormatError(BatchFileError):
    """``format`` is not ``"standard-v1"``."""

    def __init__(self, found: object) -> None:
        super().__init__(f"Batch file format is {found!r}, expected {FILE_FORMAT!r} (a StandardMerkleTree dump).")
        self.found = found


class WrongLeafEncodingError(BatchFileError):
    """``leafEncoding`` is not :data:`LEAF_ENCODING`."""

    def __init__(self, found: object) -> None:
        super().__init__(f"Batch file leafEncoding is {found!r}, expected {list(LEAF_ENCODING)!r}.")
        self.found = found


class BadValueError(BatchFileError):
    """A value of ``values`` is not a leaf in this module's representation.

    Attributes:
        value_index: position in ``values``.
        field: the :class:`BatchLeaf` field at fault, ``None`` when the value itself is not an
            array of 8.
    """

    def __init__(self, value_index: int, field_name: str | None, expected: str) -> None:
        what = f"values[{value_index}].value" + (f" ({field_name})" if field_name else "")
        super().__init__(f"Batch file {what}: expected {expected}.")
        self.value_index = value_index
        self.field = field_name
        self.expected = expected


class DuplicateValueError(BatchFileError):
    """Two values of the file are the same leaf (same leaf hash)."""

    def __init__(self, leaf_hash: bytes, first_index: int, value_index: int) -> None:
        super().__init__(
            f"Batch file values[{first_index}] and values[{value_index}] are the same leaf 0x{leaf_hash.hex()}."
        )
        self.leaf_hash = leaf_hash
        self.first_index = first_index
        self.value_index = value_index


class TreeMismatchError(BatchFileError):
    """``tree`` or a ``treeIndex`` differs from the tree rebuilt from ``values``.

    Attributes:
        rebuilt_root: root of the tree rebuilt from ``values`` (32 bytes).
        node_index: first position of ``tree`` that differs (``len`` of the shorter when only
            the lengths differ), ``None`` when ``tree`` matches.
        value_index: first value whose ``treeIndex`` differs, ``None`` when ``tree`` differs.
    """

    def __init__(self, rebuilt_root: bytes, node_index: int | None, value_index: int | None) -> None:
        where = f"tree[{node_index}]" if node_index is not None else f"values[{value_index}].treeIndex"
        super().__init__(
            f"Batch file {where} differs from the tree rebuilt from its values (root 0x{rebuilt_root.hex()})."
        )
        self.rebuilt_root = rebuilt_root
        self.node_index = node_index
        self.value_index = value_index


# ---------------------------------------------------------------------------- hashes


def _bytes32(name: str, value: Bytes32Like) -> bytes:
    if isinstance(value, str):
        if _ANY_HEX32.fullmatch(value) is None:
            raise HashFormatError(name, value)
        return bytes.fromhex(value[2:] if value[:2] in ("0x", "0X") else value)
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value) == 32:
        return bytes(value)
    raise HashFormatError(name, value)


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _word(value: int) -> bytes:
    """An ABI word: ``value`` (0 <= value < 2**256) as 32 bytes, big-endian."""
    return value.to_bytes(32, "big")


def _node_hash(a: bytes, b: bytes) -> bytes:
    """``standardNodeHash``: keccak256 of the two 32-byte children, smaller first."""
    return keccak_256(a + b if a <= b else b + a).digest()


def verify_proof(root: Bytes32Like, leaf_hash: Bytes32Like, proof: Iterable[Bytes32Like]) -> bool:
    """Whether ``proof`` proves ``leaf_hash`` under ``root``: OpenZeppelin Contracts'
    ``MerkleProof.verify(proof, root, leaf)`` (sorted pairs), which the ledger's
    ``verifyBatchedDelivery`` uses.

    Args:
        root: the Merkle root (32 bytes or ``0x`` hex).
        leaf_hash: the leaf's hash (:meth:`BatchLeaf.leaf_hash`), not its values.
        proof: sibling hashes from the leaf up (:meth:`BatchTree.proof`); empty for a
            one-leaf tree.

    Raises:
        HashFormatError: a hash is not 32 bytes or ``0x`` + 64 hex.
    """
    computed = _bytes32("leaf_hash", leaf_hash)
    for i, sibling in enumerate(proof):
        computed = _node_hash(computed, _bytes32(f"proof[{i}]", sibling))
    return computed == _bytes32("root", root)


# ---------------------------------------------------------------------------- leaves


@dataclass(frozen=True)
class BatchLeaf:
    """One batched delivery: a ``DeliveryInput`` plus its commitment id
    (``ICommitmentLedger.BatchLeaf``; fields in :data:`LEAF_ENCODING` order).

    Construction checks only that each field fits its ABI type; the ledger's limits (quantity
    1..10**13, 1..16 evidence hashes, text lengths, ...) are :func:`leaf_problems`, because a
    leaf that breaks them can still be on chain and readers must report it.

    Attributes:
        commitment_id: the commitment delivered on (uint256).
        quantity: in the commitment's unit (uint64).
        delivered_at: claimed delivery time, Unix seconds (uint64).
        evidence_hashes: SHA-256 of each evidence file, 32 bytes each, in order (``0x`` hex
            strings are accepted and stored as bytes).
        evidence_uri: where the evidence is published ("" for none).
        note: free text ("" for none).
        external_ref: the source's reference of this delivery, unique per commitment when not
            "" (compared exactly).
        asset_ref: the asset delivered, e.g. a streetlight number, "" for none; send it
            normalised (:func:`normalise_asset_ref`).

    Raises:
        LeafValueError: a field does not fit its ABI type.
    """

    commitment_id: int
    quantity: int
    delivered_at: int
    evidence_hashes: tuple[bytes, ...]
    evidence_uri: str = ""
    note: str = ""
    external_ref: str = ""
    asset_ref: str = ""

    def __post_init__(self) -> None:
        for name, bits in _UINT_BITS.items():
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value < 1 << bits:
                raise LeafValueError(name, f"an int in 0..2**{bits}-1 (uint{bits})", value)
        hashes = self.evidence_hashes
        if isinstance(hashes, (str, bytes, bytearray)) or not isinstance(hashes, Iterable):
            raise LeafValueError("evidence_hashes", "a sequence of 32-byte hashes", hashes)
        try:
            coerced = tuple(_bytes32("evidence_hashes", h) for h in hashes)
        except HashFormatError as exc:
            raise LeafValueError("evidence_hashes", "32-byte hashes (bytes, or 0x + 64 hex)", exc.value) from None
        object.__setattr__(self, "evidence_hashes", coerced)
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            if type(value) is not str or _SURROGATE.search(value) is not None:
                raise LeafValueError(name, "a str of Unicode text (no lone surrogates)", value)

    def values(self) -> list[Any]:
        """The leaf's values in :data:`LEAF_ENCODING` order, as ``eth_abi.encode`` and web3
        take them (a ``BatchLeaf`` struct argument is ``tuple(leaf.values())``): three ints, a
        list of 32-byte ``bytes``, four ``str``."""
        return [
            self.commitment_id, self.quantity, self.delivered_at, list(self.evidence_hashes),
            self.evidence_uri, self.note, self.external_ref, self.asset_ref,
        ]

    def json_values(self) -> list[Any]:
        """The leaf's values as the batch file holds them: uints as decimal strings, hashes as
        ``0x`` + 64 lowercase hex, texts as they are."""
        return [
            str(self.commitment_id), str(self.quantity), str(self.delivered_at),
            [_hex(h) for h in self.evidence_hashes],
            self.evidence_uri, self.note, self.external_ref, self.asset_ref,
        ]

    def abi_encoded(self) -> bytes:
        """``abi.encode(commitmentId, quantity, ..., assetRef)``: the bytes of
        ``eth_abi.encode(LEAF_ENCODING, leaf.values())``, written out for this one tuple type
        (the three uints, then the offsets of the five dynamic values; their tails: the hash
        count and the hashes, each text's UTF-8 length and bytes zero-padded to 32), because
        eth_abi's generic encoder takes five times as long, which a 100,000-leaf batch feels
        (tests/tools/test_merkle.py compares the two on generated leaves)."""
        tails = [_word(len(self.evidence_hashes)) + b"".join(self.evidence_hashes)]
        for text in (self.evidence_uri, self.note, self.external_ref, self.asset_ref):
            data = text.encode("utf-8")
            tails.append(_word(len(data)) + data + bytes(-len(data) % 32))
        heads = [_word(self.commitment_id), _word(self.quantity), _word(self.delivered_at)]
        offset = _HEAD_BYTES
        for tail in tails:
            heads.append(_word(offset))
            offset += len(tail)
        return b"".join(heads + tails)

    def leaf_hash(self) -> bytes:
        """``keccak256(keccak256(abi.encode(values...)))``, 32 bytes: the StandardMerkleTree
        leaf hash, equal to the contract's ``batchLeafHash(leaf)`` and the batched delivery's
        id (as ``0x`` hex)."""
        return keccak_256(keccak_256(self.abi_encoded()).digest()).digest()


class LeafProblem(StrEnum):
    """Why the ledger would not count a leaf (its ``recordDelivery`` limits, docs/LEDGER.md
    "Batches" ``invalid_leaf``), or why it repeats another leaf of the batch."""

    QUANTITY_OUT_OF_RANGE = "quantity_out_of_range"
    """``quantity`` not 1..``MAX_QUANTITY`` (10**13)."""
    DELIVERED_AT_ZERO = "delivered_at_zero"
    """``delivered_at`` is 0 (it must be >= 1; the upper bound, the anchor's block time, needs the chain)."""
    EVIDENCE_COUNT_OUT_OF_RANGE = "evidence_count_out_of_range"
    """Not 1..``MAX_EVIDENCE`` (16) evidence hashes."""
    EVIDENCE_HASH_ZERO = "evidence_hash_zero"
    """An evidence hash is 32 zero bytes."""
    EVIDENCE_HASH_REPEATED = "evidence_hash_repeated"
    """An evidence hash appears twice."""
    EVIDENCE_URI_TOO_LONG = "evidence_uri_too_long"
    """``evidence_uri`` over 512 bytes (UTF-8)."""
    NOTE_TOO_LONG = "note_too_long"
    """``note`` over 1000 bytes."""
    EXTERNAL_REF_TOO_LONG = "external_ref_too_long"
    """``external_ref`` over 64 bytes."""
    ASSET_REF_TOO_LONG = "asset_ref_too_long"
    """``asset_ref`` over 64 bytes."""
    DUPLICATE_ASSET_REF = "duplicate_asset_ref"
    """An earlier leaf of the batch names the same commitment and (normalised) asset."""
    DUPLICATE_EXTERNAL_REF = "duplicate_external_ref"
    """An earlier leaf of the batch names the same commitment and external ref."""


_TEXT_PROBLEMS = {
    "evidence_uri": LeafProblem.EVIDENCE_URI_TOO_LONG,
    "note": LeafProblem.NOTE_TOO_LONG,
    "external_ref": LeafProblem.EXTERNAL_REF_TOO_LONG,
    "asset_ref": LeafProblem.ASSET_REF_TOO_LONG,
}


def leaf_problems(leaf: BatchLeaf) -> list[LeafProblem]:
    """The ledger's rules a leaf breaks, checkable without the chain: the checks
    ``recordDelivery`` makes, except ``delivered_at`` <= the anchor's block time.

    Args:
        leaf: the leaf.

    Returns:
        each problem once, in field order (empty: the leaf is fine): quantity not
        1..10**13; ``delivered_at`` 0; not 1..16 evidence hashes, a zero one, a repeated one;
        a text over its byte limit (UTF-8: 512, 1000, 64, 64, :data:`LEAF_TEXT_MAX_BYTES`).
    """
    found: list[LeafProblem] = []
    if not 1 <= leaf.quantity <= MAX_QUANTITY:
        found.append(LeafProblem.QUANTITY_OUT_OF_RANGE)
    if leaf.delivered_at < 1:
        found.append(LeafProblem.DELIVERED_AT_ZERO)
    hashes = leaf.evidence_hashes
    if not 1 <= len(hashes) <= MAX_EVIDENCE:
        found.append(LeafProblem.EVIDENCE_COUNT_OUT_OF_RANGE)
    if _ZERO32 in hashes:
        found.append(LeafProblem.EVIDENCE_HASH_ZERO)
    if len(set(hashes)) != len(hashes):
        found.append(LeafProblem.EVIDENCE_HASH_REPEATED)
    for name, problem in _TEXT_PROBLEMS.items():
        if len(getattr(leaf, name).encode("utf-8")) > LEAF_TEXT_MAX_BYTES[name]:
            found.append(problem)
    return found


def normalise_asset_ref(text: str) -> str:
    """The one normalising rule for asset refs, used by every layer (API and importer before
    they send an ``assetRef``, the indexer and the replay when they compare; docs/LEDGER.md
    "Assets"): Unicode NFC, then leading and trailing whitespace removed and each inner run of
    whitespace replaced by one space (U+0020). Whitespace is what ``str.isspace`` says
    (including no-break and ideographic spaces, not zero-width ones). Case is kept: "Lamp 1"
    and "lamp 1" are different assets. ``""`` (and all-whitespace) gives ``""``, "no asset".

    Example: ``normalise_asset_ref(" Lantaarnpaal\\u00a0 12 ")`` is ``"Lantaarnpaal 12"``.
    """
    return " ".join(unicodedata.normalize("NFC", text).split())


def _groups(keys: Iterable[Any]) -> list[tuple[int, ...]]:
    positions: dict[Any, list[int]] = {}
    for index, key in enumerate(keys):
        if key is not None:
            positions.setdefault(key, []).append(index)
    return [tuple(p) for p in positions.values() if len(p) > 1]


def duplicate_assets(leaves: Sequence[BatchLeaf]) -> list[tuple[int, ...]]:
    """Leaves of one batch that name the same asset of the same commitment (the second counts
    nothing, docs/LEDGER.md "Assets"): same ``commitment_id`` and the same non-empty
    :func:`normalise_asset_ref` of ``asset_ref``.

    Returns:
        one tuple of leaf positions (ascending, at least two) per repeated (commitment,
        asset), ordered by first position; empty when none repeats.
    """
    keys = []
    for leaf in leaves:
        asset = normalise_asset_ref(leaf.asset_ref)
        keys.append((leaf.commitment_id, asset) if asset else None)
    return _groups(keys)


def duplicate_external_refs(leaves: Sequence[BatchLeaf]) -> list[tuple[int, ...]]:
    """Leaves of one batch with the same ``commitment_id`` and the same non-empty
    ``external_ref`` (compared exactly, as the contract does).

    Returns:
        as :func:`duplicate_assets`.
    """
    return _groups((leaf.commitment_id, leaf.external_ref) if leaf.external_ref else None for leaf in leaves)


def batch_problems(leaves: Sequence[BatchLeaf]) -> dict[int, list[LeafProblem]]:
    """Every rule the leaves of a batch break: each leaf's :func:`leaf_problems`, plus
    ``duplicate_asset_ref`` / ``duplicate_external_ref`` on every leaf that repeats an earlier
    one (:func:`duplicate_assets`, :func:`duplicate_external_refs`; the first is not marked).

    Returns:
        leaf position → its problems; positions without problems are absent.
    """
    problems: dict[int, list[LeafProblem]] = {}
    for index, leaf in enumerate(leaves):
        found = leaf_problems(leaf)
        if found:
            problems[index] = found
    for groups, problem in (
        (duplicate_assets(leaves), LeafProblem.DUPLICATE_ASSET_REF),
        (duplicate_external_refs(leaves), LeafProblem.DUPLICATE_EXTERNAL_REF),
    ):
        for group in groups:
            for index in group[1:]:
                problems.setdefault(index, []).append(problem)
    return problems


# ---------------------------------------------------------------------------- trees


@dataclass(frozen=True)
class BatchTree:
    """A StandardMerkleTree of batch leaves, exactly as ``StandardMerkleTree.of(values,
    LEAF_ENCODING)`` builds it. Build with :func:`build_tree`.

    Attributes:
        leaves: the leaves in the order given (the file's ``values`` order; "value index").
        leaf_hashes: each leaf's hash, in value order (32 bytes each).
        tree: every node, OZ's array layout (module docstring): ``2 * len(leaves) - 1``
            hashes, root first.
        tree_indices: position in ``tree`` of each value's leaf (the file's ``treeIndex``).
    """

    leaves: tuple[BatchLeaf, ...]
    leaf_hashes: tuple[bytes, ...]
    tree: tuple[bytes, ...]
    tree_indices: tuple[int, ...]
    _by_hash: Mapping[bytes, int] = field(repr=False, compare=False)

    @property
    def root(self) -> bytes:
        """The Merkle root (32 bytes): ``BatchInput.root``."""
        return self.tree[0]

    @property
    def root_hex(self) -> str:
        """The root as ``0x`` + 64 lowercase hex."""
        return _hex(self.tree[0])

    def index_of(self, leaf_or_index: BatchLeaf | int) -> int:
        """The value index of a leaf (found by its hash), or the index itself once checked.

        Raises:
            LeafNotInTreeError: no such index, or no such leaf.
        """
        if isinstance(leaf_or_index, BatchLeaf):
            index = self._by_hash.get(leaf_or_index.leaf_hash())
            if index is None:
                raise LeafNotInTreeError(leaf_or_index)
            return index
        if type(leaf_or_index) is not int or not 0 <= leaf_or_index < len(self.leaves):
            raise LeafNotInTreeError(leaf_or_index)
        return leaf_or_index

    def proof(self, leaf_or_index: BatchLeaf | int) -> list[bytes]:
        """The Merkle proof of a leaf (OZ ``getProof``): the sibling of each node from its
        leaf up to the root, 32 bytes each; ``[]`` in a one-leaf tree.

        Args:
            leaf_or_index: a value index (position in :attr:`leaves`) or a leaf of this tree.

        Raises:
            LeafNotInTreeError: no such index, or no such leaf.
        """
        index = self.tree_indices[self.index_of(leaf_or_index)]
        proof: list[bytes] = []
        while index > 0:
            proof.append(self.tree[index + 1 if index % 2 else index - 1])
            index = (index - 1) // 2
        return proof

    def proof_hex(self, leaf_or_index: BatchLeaf | int) -> list[str]:
        """:meth:`proof` as ``0x`` hex strings (the API's and the file readers' form)."""
        return [_hex(h) for h in self.proof(leaf_or_index)]

    def dump(self) -> dict[str, Any]:
        """OZ ``tree.dump()``: ``{"format": "standard-v1", "leafEncoding": [...], "tree":
        ["0x…", ...], "values": [{"value": [...], "treeIndex": n}, ...]}`` with values as
        :meth:`BatchLeaf.json_values`. JSON-ready; keys in OZ's order."""
        return {
            "format": FILE_FORMAT,
            "leafEncoding": list(LEAF_ENCODING),
            "tree": [_hex(node) for node in self.tree],
            "values": [
                {"value": leaf.json_values(), "treeIndex": tree_index}
                for leaf, tree_index in zip(self.leaves, self.tree_indices)
            ],
        }

    def to_file_bytes(self) -> bytes:
        """The batch file: :meth:`dump` as ``JSON.stringify`` writes it (compact, keys in
        order, non-ASCII as is, UTF-8, no trailing newline; module docstring). Its SHA-256 is
        ``BatchInput.fileSha256``."""
        return json.dumps(self.dump(), ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _make_tree(leaves: tuple[BatchLeaf, ...], leaf_hashes: tuple[bytes, ...]) -> BatchTree:
    """OZ ``MerkleTreeImpl.prepare`` + ``makeMerkleTree`` (leaves sorted ascending by hash,
    stable; placed from the end backwards). Refuses nothing but repeated hashes."""
    by_hash: dict[bytes, int] = {}
    for index, leaf_hash in enumerate(leaf_hashes):
        first = by_hash.setdefault(leaf_hash, index)
        if first != index:
            raise DuplicateLeafError(leaf_hash, first, index)
    order = sorted(range(len(leaf_hashes)), key=leaf_hashes.__getitem__)
    size = 2 * len(leaf_hashes) - 1
    nodes: list[bytes] = [b""] * size
    tree_indices = [0] * len(leaf_hashes)
    for sorted_position, value_index in enumerate(order):
        nodes[size - 1 - sorted_position] = leaf_hashes[value_index]
        tree_indices[value_index] = size - 1 - sorted_position
    for i in range(size - 1 - len(leaf_hashes), -1, -1):
        nodes[i] = _node_hash(nodes[2 * i + 1], nodes[2 * i + 2])
    return BatchTree(leaves, leaf_hashes, tuple(nodes), tuple(tree_indices), by_hash)


def build_tree(leaves: Iterable[BatchLeaf], *, check_rules: bool = True) -> BatchTree:
    """Build the StandardMerkleTree of a batch (``StandardMerkleTree.of(values,
    LEAF_ENCODING)``), in O(n log n).

    Args:
        leaves: the batch's deliveries, in the order the file will list them.
        check_rules: refuse leaves that break the ledger's rules (:func:`batch_problems`:
            limits, an asset or external ref repeated for one commitment). ``False`` builds
            such a batch anyway, as a hostile or careless writer could (tests of readers).

    Raises:
        EmptyBatchError: no leaves.
        DuplicateLeafError: two leaves are identical.
        InvalidBatchError: with ``check_rules``, a leaf breaks a rule.
    """
    batch = tuple(leaves)
    if not batch:
        raise EmptyBatchError()
    tree = _make_tree(batch, tuple(leaf.leaf_hash() for leaf in batch))
    if check_rules:
        problems = batch_problems(batch)
        if problems:
            raise InvalidBatchError(problems)
    return tree


# ---------------------------------------------------------------------------- reading batch files


@dataclass(frozen=True)
class ParsedLeaf:
    """A leaf of a parsed batch file, as readers store and serve it (hashes as ``0x`` hex).

    Attributes:
        value_index: position in the file's ``values`` (the batched delivery's ``leaf_index``).
        tree_index: its ``treeIndex``.
        leaf: the leaf (texts as hashed: a lone UTF-16 surrogate escaped in the file, which
            JavaScript's TextEncoder encodes as U+FFFD, is U+FFFD here too).
        leaf_hash: ``0x`` hex of its leaf hash (the batched delivery's id).
        proof: its Merkle proof, ``0x`` hex, leaf to root.
        values: the value exactly as the file holds it (decimal strings, ``0x`` hex, texts;
            arrays as tuples), ready for ``json.dumps``.
    """

    value_index: int
    tree_index: int
    leaf: BatchLeaf
    leaf_hash: str
    proof: tuple[str, ...]
    values: tuple[Any, ...]

    @property
    def commitment_id(self) -> int:
        return self.leaf.commitment_id

    @property
    def quantity(self) -> int:
        return self.leaf.quantity

    @property
    def delivered_at(self) -> int:
        """Claimed delivery time, Unix seconds."""
        return self.leaf.delivered_at

    @property
    def evidence_hashes(self) -> tuple[str, ...]:
        """``0x`` + 64 lowercase hex each, in order."""
        return tuple(_hex(h) for h in self.leaf.evidence_hashes)

    @property
    def evidence_uri(self) -> str:
        return self.leaf.evidence_uri

    @property
    def note(self) -> str:
        return self.leaf.note

    @property
    def external_ref(self) -> str:
        return self.leaf.external_ref

    @property
    def asset_ref(self) -> str:
        return self.leaf.asset_ref


@dataclass(frozen=True)
class ParsedBatch:
    """A batch file that parsed and whose ``tree`` matches its values.

    Attributes:
        tree: the tree rebuilt from ``values``.
        leaves: one per value, in ``values`` order.
        sha256: SHA-256 of the file's bytes (32 bytes).
    """

    tree: BatchTree
    leaves: tuple[ParsedLeaf, ...]
    sha256: bytes

    @property
    def root(self) -> bytes:
        """The rebuilt root (32 bytes)."""
        return self.tree.root

    @property
    def leaf_count(self) -> int:
        return len(self.leaves)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` refusing a repeated key (JSON.parse would keep the last one
    silently; a reader of the file might see the first)."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise BatchStructureError(f"key {key!r}", "each key once per object")
        result[key] = value
    return result


def _load_json(data: bytes) -> Any:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"a batch file is bytes, got {type(data).__name__}")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise NotJsonError(f"invalid UTF-8 at byte {exc.start}") from None
    if text.startswith("\ufeff"):
        raise NotJsonError("it starts with a byte order mark")
    try:
        return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except BatchFileError:
        raise
    except json.JSONDecodeError as exc:
        raise NotJsonError(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise NotJsonError("nested too deep") from None
    except ValueError as exc:  # NaN / Infinity, or an integer too long to convert
        raise NotJsonError(str(exc)) from None


def _check_keys(obj: Any, keys: tuple[str, ...], prefix: str) -> None:
    """``obj`` is an object with exactly ``keys`` (``prefix``: its JSON path + ``.``, or "")."""
    if not isinstance(obj, dict):
        raise BatchStructureError(prefix.rstrip(".") or "(top level)", f"an object with keys {', '.join(keys)}")
    for key in keys:
        if key not in obj:
            raise BatchStructureError(prefix + key, "present")
    for key in obj:
        if key not in keys:
            raise BatchStructureError(prefix + key, "no such key")


def _uint(value: Any, value_index: int, name: str) -> int:
    bits = _UINT_BITS[name]
    if type(value) is not str or _DECIMAL.fullmatch(value) is None or int(value) >= 1 << bits:
        raise BadValueError(value_index, name, f"a decimal string (no sign, no leading zeros) of 0..2**{bits}-1")
    return int(value)


def _leaf_from_json(value: Any, value_index: int) -> BatchLeaf:
    if type(value) is not list or len(value) != len(LEAF_ENCODING):
        raise BadValueError(value_index, None, f"an array of {len(LEAF_ENCODING)} values ({', '.join(LEAF_ENCODING)})")
    commitment_id = _uint(value[0], value_index, "commitment_id")
    quantity = _uint(value[1], value_index, "quantity")
    delivered_at = _uint(value[2], value_index, "delivered_at")
    hashes = value[3]
    if type(hashes) is not list or not all(type(h) is str and _HEX32.fullmatch(h) for h in hashes):
        raise BadValueError(value_index, "evidence_hashes", "an array of 0x + 64 lowercase hex strings")
    texts = []
    for name, text in zip(_TEXT_FIELDS, value[4:]):
        if type(text) is not str:
            raise BadValueError(value_index, name, "a string")
        # As JavaScript's TextEncoder (OZ's abi-utils) encodes it: a lone surrogate is U+FFFD.
        texts.append(_SURROGATE.sub("\ufffd", text))
    return BatchLeaf(commitment_id, quantity, delivered_at, tuple(bytes.fromhex(h[2:]) for h in hashes), *texts)


def _freeze(value: Any) -> Any:
    return tuple(_freeze(v) for v in value) if isinstance(value, list) else value


def parse_batch_file(data: bytes) -> ParsedBatch:
    """Parse a batch file (module docstring: format and representation) and rebuild its tree.

    The leaves are not checked against the ledger's rules (a leaf that breaks them is on chain
    all the same; readers refuse it one by one, ``invalid_leaf``), only against the file
    format: each value must be in this module's representation, no two values the same leaf,
    and ``tree`` and every ``treeIndex`` must equal the tree rebuilt from the values.

    Args:
        data: the file's exact bytes.

    Returns:
        the leaves, the rebuilt tree (root), and the SHA-256 of ``data``.

    Raises:
        NotJsonError: not UTF-8 JSON.
        WrongFormatError: ``format`` is not ``standard-v1``.
        WrongLeafEncodingError: ``leafEncoding`` is not :data:`LEAF_ENCODING`.
        BatchStructureError: not shaped as a dump (keys, arrays, ``treeIndex``, no values).
        BadValueError: a value is not a leaf (``value_index``, ``field``).
        DuplicateValueError: two values are the same leaf.
        TreeMismatchError: ``tree`` or a ``treeIndex`` differs from the rebuilt tree.
        TypeError: ``data`` is not bytes.
    """
    document = _load_json(data)
    sha256 = hashlib.sha256(data).digest()
    if not isinstance(document, dict):
        raise BatchStructureError("(top level)", "an object (a StandardMerkleTree dump)")
    if document.get("format") != FILE_FORMAT:
        raise WrongFormatError(document.get("format"))
    if document.get("leafEncoding") != list(LEAF_ENCODING):
        raise WrongLeafEncodingError(document.get("leafEncoding"))
    _check_keys(document, _DUMP_KEYS, "")
    file_tree, values = document["tree"], document["values"]
    if type(file_tree) is not list:
        raise BatchStructureError("tree", "an array of 0x hashes")
    if type(values) is not list or not values:
        raise BatchStructureError("values", "a non-empty array")
    leaves, raw_values, file_indices = [], [], []
    for value_index, entry in enumerate(values):
        _check_keys(entry, _VALUE_KEYS, f"values[{value_index}].")
        tree_index = entry["treeIndex"]
        if type(tree_index) is not int:
            raise BatchStructureError(f"values[{value_index}].treeIndex", "an integer")
        leaves.append(_leaf_from_json(entry["value"], value_index))
        raw_values.append(entry["value"])
        file_indices.append(tree_index)
    try:
        tree = _make_tree(tuple(leaves), tuple(leaf.leaf_hash() for leaf in leaves))
    except DuplicateLeafError as exc:
        raise DuplicateValueError(exc.leaf_hash, exc.first_index, exc.index) from None
    rebuilt = [_hex(node) for node in tree.tree]
    if file_tree != rebuilt:
        node_index = next((i for i, (a, b) in enumerate(zip(file_tree, rebuilt)) if a != b),
                          min(len(file_tree), len(rebuilt)))
        raise TreeMismatchError(tree.root, node_index, None)
    if file_indices != list(tree.tree_indices):
        value_index = next(i for i, (a, b) in enumerate(zip(file_indices, tree.tree_indices)) if a != b)
        raise TreeMismatchError(tree.root, None, value_index)
    parsed = []
    for value_index, (leaf, raw) in enumerate(zip(leaves, raw_values)):
        tree_index = index = tree.tree_indices[value_index]
        proof = []
        while index > 0:
            proof.append(rebuilt[index + 1 if index % 2 else index - 1])
            index = (index - 1) // 2
        parsed.append(ParsedLeaf(value_index, tree_index, leaf, rebuilt[tree_index], tuple(proof), _freeze(raw)))
    return ParsedBatch(tree, tuple(parsed), sha256)


class UnverifiedReason(StrEnum):
    """Why an anchored batch is not verified, so counts nothing (docs/LEDGER.md "Batches"
    ``unverified_reason``), in the order they are checked."""

    MISSING = "missing"
    """No file with the anchored SHA-256 is at hand."""
    SHA256_MISMATCH = "sha256_mismatch"
    """The file's SHA-256 is not the anchored ``fileSha256`` (a byte differs)."""
    UNPARSEABLE = "unparseable"
    """The bytes are not a valid batch file (:func:`parse_batch_file`), yet its values do
    rebuild the anchored root (or rebuild nothing)."""
    ROOT_MISMATCH = "root_mismatch"
    """The values rebuild another root than the anchored one."""
    LEAF_COUNT_MISMATCH = "leaf_count_mismatch"
    """The root matches but the file has another number of leaves than the anchored ``leafCount``."""


@dataclass(frozen=True)
class BatchCheck:
    """The outcome of :func:`check_batch_file`.

    Attributes:
        verified: the file is the anchored batch: its leaves may count.
        reason: why not, ``None`` when verified.
        sha256: SHA-256 of the file's bytes, ``None`` when missing.
        batch: the parsed file, ``None`` unless it parsed.
        error: the parse error (``unparseable`` and ``root_mismatch`` of a file whose tree
            differs from its values), else ``None``.
    """

    verified: bool
    reason: UnverifiedReason | None
    sha256: bytes | None = None
    batch: ParsedBatch | None = None
    error: BatchFileError | None = None

    @property
    def leaves(self) -> tuple[ParsedLeaf, ...]:
        """The batch's leaves when verified, else ``()`` (an unverified batch counts nothing)."""
        return self.batch.leaves if self.verified and self.batch is not None else ()


def check_batch_file(
    data: bytes | None,
    *,
    anchored_root: Bytes32Like,
    anchored_sha256: Bytes32Like,
    anchored_leaf_count: int,
) -> BatchCheck:
    """Check a batch file against its anchor (``BatchAnchored``): the indexer's and the
    replay's one check, so that a missing or edited file counts nothing.

    Checked in this order: the file is at hand (``missing``); SHA-256 of the exact bytes =
    ``fileSha256`` (``sha256_mismatch``); it parses (:func:`parse_batch_file`,
    ``unparseable``); the root rebuilt from its values = ``root`` (``root_mismatch``, also
    when ``tree`` in the file was not rebuilt after an edit); its number of values =
    ``leafCount`` (``leaf_count_mismatch``).

    Args:
        data: the file's bytes, ``None`` when not at hand.
        anchored_root: the anchored ``root``.
        anchored_sha256: the anchored ``fileSha256``.
        anchored_leaf_count: the anchored ``leafCount``.

    Returns:
        a :class:`BatchCheck`; it never raises for the file's contents.

    Raises:
        HashFormatError: ``anchored_root`` or ``anchored_sha256`` is not a 32-byte hash.
        TypeError: ``data`` is neither bytes nor ``None``.
    """
    root = _bytes32("anchored_root", anchored_root)
    expected_sha256 = _bytes32("anchored_sha256", anchored_sha256)
    if data is None:
        return BatchCheck(False, UnverifiedReason.MISSING)
    sha256 = hashlib.sha256(data).digest()
    if sha256 != expected_sha256:
        return BatchCheck(False, UnverifiedReason.SHA256_MISMATCH, sha256)
    try:
        batch = parse_batch_file(data)
    except TreeMismatchError as exc:
        reason = UnverifiedReason.ROOT_MISMATCH if exc.rebuilt_root != root else UnverifiedReason.UNPARSEABLE
        return BatchCheck(False, reason, sha256, error=exc)
    except BatchFileError as exc:
        return BatchCheck(False, UnverifiedReason.UNPARSEABLE, sha256, error=exc)
    if batch.root != root:
        return BatchCheck(False, UnverifiedReason.ROOT_MISMATCH, sha256, batch)
    if batch.leaf_count != anchored_leaf_count:
        return BatchCheck(False, UnverifiedReason.LEAF_COUNT_MISMATCH, sha256, batch)
    return BatchCheck(True, None, sha256, batch)
