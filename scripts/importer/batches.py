"""Deliveries written as anchored batches (mapping ``deliveries: {mode: batch}``;
docs/LEDGER.md "Batches").

The leaves of a planned batch are the deliveries of one snapshot that the ledger does not hold
yet, in plan order. Their tree is computed here with the one implementation,
``ledger/merkle.py``, so that the dry run shows the root a run will anchor and a real run
checks the root the API answers. A batch is one ``POST /staff/batches`` (one transaction),
cut into several only beyond `MAX_BATCH_LEAVES` leaves or `MAX_BATCH_FILE_BYTES` of evidence.

Never twice. A leaf is present when the commitment lists a (counted or revoked) batched
delivery with its external ref, so a re-run after a completed batch sends nothing. A run
killed after the API anchored but before the importer saw the answer rebuilds the very same
leaves, hence the same root, and the API refuses it (409, the contract's
``LedgerBatchAlreadyAnchored``): its leaves are then ``already_present``. A 422 naming
items (``errors[].loc`` ``["body", "deliveries", i, ...]``) settles those items (a duplicate
of an external ref already counted: ``already_present``; anything else: ``failed``) and
the rest is sent again as a smaller batch (another root), as a refused multicall batch is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger import merkle

from .client import MAX_BATCH_FILE_BYTES, MAX_BATCH_LEAVES
from .errors import ApiError, ApiProblemError
from .plan import EvidenceFile, RecordDelivery
from .results import BatchResult, TxRef

ALREADY_ANCHORED_SLUG = "batch-already-anchored"
ALREADY_ANCHORED_ERROR = "LedgerBatchAlreadyAnchored"
# Per-item error types meaning "this commitment already counts a delivery with this external ref".
_DUPLICATE_REF_TYPES = frozenset({"duplicate_external_ref", "duplicate_delivery_ref", "duplicate-delivery-ref"})


def normalise_asset_ref(value: str) -> str:
    """The asset ref readers compare (``ledger.merkle.normalise_asset_ref``)."""
    return merkle.normalise_asset_ref(value)


@dataclass(frozen=True)
class LocalTree:
    """The tree of a batch as the importer computes it.

    Attributes:
        root: ``0x`` + 64 hex.
        leaf_hashes: ``0x`` leaf hash of each item, in item order.
        file_sha256: ``0x`` SHA-256 of the batch file ledger/merkle.py writes for it.
        predicted: some commitment id in a leaf is a prediction (dry run before registration).
    """

    root: str
    leaf_hashes: tuple[str, ...]
    file_sha256: str
    predicted: bool = False


def batch_leaf(op: RecordDelivery, commitment_id: int) -> merkle.BatchLeaf:
    """The leaf of ``op`` against commitment ``commitment_id``."""
    return merkle.BatchLeaf(
        commitment_id=commitment_id,
        quantity=op.quantity,
        delivered_at=op.delivered_at,
        evidence_hashes=tuple(op.evidence_hashes),
        evidence_uri=op.evidence_uri,
        note=op.note,
        external_ref=op.external_ref,
        asset_ref=op.asset_ref,
    )


def local_tree(ops: Sequence[RecordDelivery], commitment_ids: Sequence[int], *, predicted: bool = False) -> LocalTree:
    """Build the tree of the leaves ``ops`` (item order) with ``ledger.merkle.build_tree``.

    Raises:
        ledger.merkle.BatchBuildError: (a ``ValueError``) a leaf breaks the ledger's rules
            (see `leaf_problems`), or two leaves are identical.
    """
    tree = merkle.build_tree([batch_leaf(op, cid) for op, cid in zip(ops, commitment_ids, strict=True)])
    file_sha256 = "0x" + hashlib.sha256(tree.to_file_bytes()).hexdigest()
    return LocalTree(tree.root_hex, tuple("0x" + h.hex() for h in tree.leaf_hashes), file_sha256, predicted)


def batch_file(ops: Sequence[RecordDelivery], commitment_ids: Sequence[int]) -> tuple[str, bytes]:
    """The root and the exact bytes of the batch file (the tree's StandardMerkleTree dump) of
    the leaves ``ops``, as ledger/merkle.py writes them; ``fileSha256`` is their SHA-256."""
    tree = merkle.build_tree([batch_leaf(op, cid) for op, cid in zip(ops, commitment_ids, strict=True)])
    return tree.root_hex, tree.to_file_bytes()


def leaf_problems(ops: Sequence[RecordDelivery], commitment_ids: Sequence[int]) -> dict[int, str]:
    """Position → why ``ledger.merkle`` would refuse that leaf (``batch_problems``: the
    ledger's limits, or an asset or external ref of one commitment repeated in the batch, the
    later leaf marked), as text naming each `ledger.merkle.LeafProblem`; empty when all are
    fine. The planner checks the same limits, so this only guards what it cannot see."""
    leaves = [batch_leaf(op, cid) for op, cid in zip(ops, commitment_ids, strict=True)]
    return {position: "the batch would break the ledger's rules: " + ", ".join(str(p) for p in found)
            for position, found in merkle.batch_problems(leaves).items()}


def chunks(items: list[tuple[int, RecordDelivery]], max_items: int = MAX_BATCH_LEAVES,
           max_file_bytes: int = MAX_BATCH_FILE_BYTES) -> list[list[tuple[int, RecordDelivery]]]:
    """Cut deliveries (a batch's leaves, or a multicall delivery batch) into requests of at
    most ``max_items`` whose distinct evidence files total at most ``max_file_bytes``, in
    order (a delivery whose own files exceed it goes alone)."""
    out: list[list[tuple[int, RecordDelivery]]] = []
    current: list[tuple[int, RecordDelivery]] = []
    seen: set[str] = set()
    size = 0
    for index, op in items:
        new = {f.sha256: len(f.content) for f in op.evidence_files if f.sha256 not in seen}
        if current and (len(current) >= max_items or size + sum(new.values()) > max_file_bytes):
            out.append(current)
            current, seen, size = [], set(), 0
            new = {f.sha256: len(f.content) for f in op.evidence_files}
        current.append((index, op))
        seen.update(new)
        size += sum(new.values())
    if current:
        out.append(current)
    return out


def evidence_files(ops: Sequence[RecordDelivery]) -> list[EvidenceFile]:
    """The evidence files of a batch, each once (by SHA-256), in first-cited order."""
    files: dict[str, EvidenceFile] = {}
    for op in ops:
        for f in op.evidence_files:
            files.setdefault(f.sha256, f)
    return list(files.values())


def is_already_anchored(exc: ApiProblemError) -> bool:
    """Whether the API refused the batch because its root is on chain already."""
    error = exc.extension("contract_error") or {}
    return exc.status == 409 and (exc.slug == ALREADY_ANCHORED_SLUG
                                  or (isinstance(error, dict) and error.get("name") == ALREADY_ANCHORED_ERROR))


def item_errors(exc: ApiProblemError, count: int) -> dict[int, list[dict[str, Any]]]:
    """Position → the problem's ``errors`` that name item ``position`` of ``deliveries``
    (``loc`` ``["body", "deliveries", i, ...]``), or the problem's ``index`` member; empty
    when the refusal names no item."""
    found: dict[int, list[dict[str, Any]]] = {}
    for error in exc.extension("errors") or []:
        loc = list(error.get("loc") or []) if isinstance(error, dict) else []
        if "deliveries" in loc:
            at = loc.index("deliveries") + 1
            position = loc[at] if at < len(loc) else None
            if isinstance(position, int) and not isinstance(position, bool) and 0 <= position < count:
                found.setdefault(position, []).append(error)
    index = exc.extension("index")
    if not found and isinstance(index, int) and not isinstance(index, bool) and 0 <= index < count:
        found[index] = [{"type": exc.slug, "msg": exc.detail}]
    return found


def is_duplicate_ref(errors: list[dict[str, Any]]) -> bool:
    """Whether an item's errors say its commitment already counts a delivery with its ref."""
    return bool(errors) and all(str(e.get("type") or "") in _DUPLICATE_REF_TYPES for e in errors)


@dataclass
class AnchorOutcome:
    """What one request did: the batch's result, each leaf's (position → (outcome, detail,
    leaf hash, problem)), and leaves to send again."""

    batch: BatchResult
    leaves: dict[int, tuple[str, str | None, str | None, dict[str, Any] | None]] = field(default_factory=dict)
    retry: list[int] = field(default_factory=list)


def send_batch(
    anchor: Callable[[list[dict[str, Any]], list[EvidenceFile]], dict[str, Any]],
    lookup: Callable[[str], dict[str, Any]] | None,
    label: str,
    chunk: int,
    items: list[tuple[int, RecordDelivery]],
    commitment_ids: list[int],
    make_tx: Callable[[dict[str, Any], int], TxRef | None],
) -> AnchorOutcome:
    """Send one batch request and interpret the answer (pure apart from ``anchor`` and
    ``lookup``, which are the client's `anchor_batch` and `batch`).

    Returns:
        an `AnchorOutcome`: on 201 every leaf ``done`` with its leaf hash as computed here (an
        API answer that differs in root, file SHA-256, leaf count or a leaf hash is a
        warning); on 409 already anchored every leaf ``already_present``; on a refusal naming
        items, those items settled and the others in ``retry``; otherwise every leaf
        ``failed``.
    """
    ops = [op for _i, op in items]
    indexes = tuple(i for i, _op in items)
    tree = local_tree(ops, commitment_ids)
    try:
        answer = anchor([op.leaf_item(cid) for op, cid in zip(ops, commitment_ids)], evidence_files(ops))
    except ApiProblemError as exc:
        if is_already_anchored(exc):
            return _already_anchored(exc, lookup, label, chunk, indexes, tree)
        named = item_errors(exc, len(items))
        outcome = AnchorOutcome(BatchResult(label, chunk, indexes, "failed", tree.root,
                                            detail=f"{exc.status} {exc.slug}: {exc.detail}"))
        if not named:
            detail = f"batch of {len(items)} refused: {exc.status} {exc.slug}: {exc.detail}"
            outcome.leaves = {p: ("failed", detail, None, exc.body or None) for p in range(len(items))}
            return outcome
        for position, errors in named.items():
            text = "; ".join(str(e.get("msg") or e.get("type")) for e in errors)
            kind = "already_present" if is_duplicate_ref(errors) else "failed"
            outcome.leaves[position] = (kind, f"{exc.status} {exc.slug}: {text}", None, exc.body or None)
        outcome.retry = [p for p in range(len(items)) if p not in named]
        return outcome
    except ApiError as exc:
        detail = f"batch of {len(items)}: {exc}"
        return AnchorOutcome(BatchResult(label, chunk, indexes, "failed", tree.root, detail=detail),
                             {p: ("failed", detail, None, None) for p in range(len(items))})
    warnings: list[str] = []
    root = str(answer.get("root") or "").lower()
    if root != tree.root:
        warnings.append(f"the API anchored root {root or '(none)'}, the importer computed {tree.root}")
    file_sha256 = str(answer.get("file_sha256") or "").lower()
    if file_sha256 and file_sha256 != tree.file_sha256:
        warnings.append(f"the API's batch file has SHA-256 {file_sha256}, the file ledger/merkle.py writes {tree.file_sha256}")
    # The API answers the leaves in item order (= the order of the batch file's values).
    answered = {p: str(leaf.get("leaf_hash") or "").lower() for p, leaf in enumerate(answer.get("leaves") or [])}
    if len(answered) != len(items):
        warnings.append(f"the API answered {len(answered)} leaves for a batch of {len(items)}")
    if answer.get("leaf_count") is not None and int(answer["leaf_count"]) != len(items):
        warnings.append(f"the API anchored leaf_count {answer['leaf_count']} for a batch of {len(items)}")
    tx = make_tx(answer, len(items))
    batch = BatchResult(label, chunk, indexes, "done", tree.root, file_sha256=answer.get("file_sha256"),
                        file_uri=answer.get("file_uri"), tx=tx, warnings=tuple(warnings))
    leaves: dict[int, tuple[str, str | None, str | None, dict[str, Any] | None]] = {}
    for position in range(len(items)):
        mine, theirs = tree.leaf_hashes[position], answered.get(position)
        detail = None if theirs in (None, mine) else f"the API answered leaf hash {theirs}, the importer computed {mine}"
        leaves[position] = ("done", detail, mine, None)
    return AnchorOutcome(batch, leaves)


def _already_anchored(exc: ApiProblemError, lookup: Callable[[str], dict[str, Any]] | None, label: str, chunk: int,
                      indexes: tuple[int, ...], tree: LocalTree) -> AnchorOutcome:
    detail = f"batch {tree.root} is anchored already (an earlier run sent it): {exc.detail}"
    warnings: list[str] = []
    found: dict[str, Any] = {}
    if lookup is not None:
        try:
            found = lookup(tree.root)
        except ApiError as error:
            warnings.append(f"batch {tree.root} not read back (the API's index may not hold it yet): {error}")
        if found and found.get("verified") is False:
            warnings.append(f"batch {tree.root} is anchored but not verified ({found.get('unverified_reason')}): "
                            "readers count none of its leaves")
    batch = BatchResult(label, chunk, indexes, "already_present", tree.root, file_sha256=found.get("file_sha256"),
                        file_uri=found.get("file_uri"), detail=detail, warnings=tuple(warnings),
                        recorded_in=found.get("chain") or None)
    return AnchorOutcome(batch, {p: ("already_present", detail, tree.leaf_hashes[p], None) for p in range(len(indexes))})
