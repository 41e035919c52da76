"""Anchored batches of deliveries (docs/LEDGER.md "Batches"): build the tree, store the
batch file, anchor its root; store the file of a batch built elsewhere; find a leaf and its
proof in a stored file (for revocations, confirmations and relayed batched writes).

The one Merkle implementation is ``ledger.merkle`` (OpenZeppelin StandardMerkleTree,
``standard-v1`` dump): this module only decides what may be anchored and in which order things
happen.

**Validated row by row, nothing sent if any row is bad** (422 ``validation-error``, one entry
of ``errors`` per problem, ``loc`` ``["body", "deliveries", i, <field>]``, ``type`` as the
readers' ``refused_reason`` where there is one): the wire model's limits, then
``ledger.merkle.leaf_problems`` (``invalid_leaf``); the commitment must exist
(``unknown_commitment``), be the batch's municipality's (``other_municipality``) and not be
withdrawn (``commitment_withdrawn``), from the index or, for one the index does not have yet,
the contract's ``commitmentState``; a (commitment, external ref) or (commitment, normalised
asset) may not repeat inside the batch nor repeat a delivery the index already counts
(``duplicate_external_ref``, ``asset_already_counted``; docs/LEDGER.md "Assets"); two equal
rows are one delivery listed twice (``duplicate_leaf``). A batch that passed is counted in
full by readers, unless the index changes meanwhile.

**Kill-safe: the file is in the store before the anchor is sent.** The batch file (exact bytes
of the dump; ``fileSha256`` is their SHA-256) is stored in the evidence store first
(:meth:`EvidenceStore.save_stream`: staged, fsynced, renamed in), then ``anchorBatch`` is
sent. A process killed between the two leaves a stored file that nothing cites (harmless in a
content-addressed store; a retry builds the same bytes and stores nothing new); killed after
sending, the file is there for the indexer whatever the outcome. So no anchored batch of this
server lacks its file, and no 201 is answered before both are done. A refused anchor (for
instance ``LedgerBatchAlreadyAnchored`` on a retry whose first answer was lost: the same root)
leaves the file stored. Evidence files sent with the batch (multipart) go the way of a
delivery's (:func:`api.services.ledger_writes.send_with_evidence`): staged before the anchor is
sent, stored when it is anchored or its outcome is unknown, discarded when it is refused.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from fastapi import UploadFile
from pydantic import ValidationError
from sqlalchemy.orm import Session

from api.schemas import BatchDeliveryIn
from api.services.ledger_writes import (
    InputInvalidError,
    ProblemRefusal,
    check_batch_evidence_hashes,
    delivery_key,
    result_builder,
    send_with_evidence,
    tx_json,
)
from ledger import merkle
from ledger.chain import LedgerChain, TxResult
from ledger.db import repository
from ledger.errors import ContractRevertError
from ledger.evidence import EvidenceStore
from ledger.staff import REGISTRAR, StaffIdentity

BATCH_FILE_MAX_BYTES = 64 * 1024 * 1024
"""Largest batch file stored here, bytes (a dump of 10,000 leaves with long texts is about
30 MB; the indexer reads a file whole)."""

BATCH_FILE_MEDIA_TYPE = "application/json"

BATCH_FILE_PATH = repository.BATCH_FILE_URL
"""Where this server serves a batch file (``/api/v1/batches/{root}/file``, the read routes'
``GET``): the default ``file_uri`` is this path on the server's own public URL."""


class UnknownLeafError(ProblemRefusal, LookupError):
    """The stored file of batch ``root`` has no leaf ``leaf_hash`` (HTTP 404 ``not-found``)."""

    status, slug = 404, "not-found"

    def __init__(self, root: str, leaf_hash: str) -> None:
        super().__init__(f"The batch with root {root} has no leaf {leaf_hash}.")
        self.root, self.leaf_hash = root, leaf_hash

    def extensions(self) -> dict[str, Any]:
        return {"root": self.root, "leaf_hash": self.leaf_hash}


class BatchNotIndexedError(ProblemRefusal):
    """The batch is anchored but the index has not seen it yet, so its file hash is not known
    here (HTTP 503 ``index-behind``, ``Retry-After``)."""

    status, slug = 503, "index-behind"
    headers = {"Retry-After": "2"}

    def __init__(self, root: str) -> None:
        super().__init__(f"The batch with root {root} is anchored, but the index has not caught up with it yet. "
                         "Retry in a few seconds.")
        self.root = root

    def extensions(self) -> dict[str, Any]:
        return {"root": self.root}


class BatchFileMissingError(ProblemRefusal):
    """The anchored batch's file is not stored here (HTTP 409 ``batch-file-missing``): upload
    it (``POST /staff/batches/file``), then retry."""

    status, slug = 409, "batch-file-missing"

    def __init__(self, root: str, file_sha256: str) -> None:
        super().__init__(f"The file of batch {root} (SHA-256 {file_sha256}) is not stored here, so its leaves and "
                         "proofs are unknown: upload it with POST /staff/batches/file, then retry.")
        self.root, self.file_sha256 = root, file_sha256

    def extensions(self) -> dict[str, Any]:
        return {"root": self.root, "file_sha256": self.file_sha256}


class BatchFileMismatchError(ProblemRefusal):
    """An uploaded file has the root of an anchored batch but not its file hash (HTTP 409
    ``batch-file-mismatch``): the anchored batch cites other bytes."""

    status, slug = 409, "batch-file-mismatch"

    def __init__(self, root: str, file_sha256: str, uploaded_sha256: str) -> None:
        super().__init__(f"The batch with root {root} was anchored with file SHA-256 {file_sha256}; this file's "
                         f"SHA-256 is {uploaded_sha256}. Upload the exact bytes that were anchored.")
        self.root, self.file_sha256, self.uploaded_sha256 = root, file_sha256, uploaded_sha256

    def extensions(self) -> dict[str, Any]:
        return {"root": self.root, "file_sha256": self.file_sha256, "uploaded_sha256": self.uploaded_sha256}


@dataclass(frozen=True)
class StoredLeaf:
    """A leaf of a stored batch file with what the contract's batched writes take.

    Attributes:
        root: the batch root, ``0x`` hex.
        leaf_hash: ``0x`` hex.
        leaf_index: position in the file's ``values``.
        commitment_id: the commitment the leaf names.
        struct: the ``BatchLeaf`` tuple of the 2.1.0 ABI.
        proof: its sorted-pair proof, ``0x`` hex each.
        municipality_id: the batch's municipality.
    """

    root: str
    leaf_hash: str
    leaf_index: int
    commitment_id: int
    struct: tuple[Any, ...]
    proof: tuple[str, ...]
    municipality_id: int

    @property
    def root_bytes(self) -> bytes:
        return bytes.fromhex(self.root[2:])

    @property
    def proof_bytes(self) -> list[bytes]:
        return [bytes.fromhex(p[2:]) for p in self.proof]


def _hex32(value: Any) -> str:
    return value.lower() if isinstance(value, str) else "0x" + bytes(value).hex()


def default_file_uri(base_url: str, root: str) -> str:
    """This server's public URL of the batch file (``GET /api/v1/batches/{root}/file``)."""
    return base_url.rstrip("/") + BATCH_FILE_PATH.format(root=root)


def leaf_struct(leaf: merkle.BatchLeaf) -> tuple[Any, ...]:
    """The ``BatchLeaf`` tuple (2.1.0 ABI order) of a ``ledger.merkle.BatchLeaf``."""
    return tuple(leaf.values())


def leaf_json(tree: merkle.BatchTree, leaf: merkle.BatchLeaf, index: int) -> dict[str, Any]:
    """One leaf of the answer: its hash, position, values and proof."""
    return {
        "leaf_hash": _hex32(tree.leaf_hashes[index]),
        "leaf_index": index,
        "commitment_id": int(leaf.commitment_id),
        "quantity": str(leaf.quantity),
        "delivered_at": int(leaf.delivered_at),
        "evidence_hashes": [_hex32(h) for h in leaf.evidence_hashes],
        "evidence_uri": leaf.evidence_uri,
        "note": leaf.note,
        "external_ref": leaf.external_ref,
        "asset_ref": leaf.asset_ref,
        "proof": tree.proof_hex(index),
    }


def batch_leaf(row: BatchDeliveryIn) -> merkle.BatchLeaf:
    """The ``ledger.merkle.BatchLeaf`` of a validated row (``api.schemas.BatchDeliveryIn``)."""
    return merkle.BatchLeaf(
        commitment_id=row.commitment_id,
        quantity=row.quantity,
        delivered_at=row.delivered_at,
        evidence_hashes=tuple(row.evidence_hashes),
        evidence_uri=row.evidence_uri,
        note=row.note,
        external_ref=row.external_ref,
        asset_ref=row.asset_ref,
    )


# ------------------------------------------------------------------ row checks


def _commitment_states(chain: LedgerChain, session: Session, ids: Iterable[int]) -> dict[int, tuple[int, bool] | None]:
    """Commitment id → (municipality id, withdrawn), ``None`` if it does not exist: from the
    index, else from the contract (``commitmentState``; a commitment registered a moment ago)."""
    wanted = sorted(set(ids))
    indexed = repository.commitment_states(session, wanted)
    states: dict[int, tuple[int, bool] | None] = {}
    for cid in wanted:
        if cid in indexed:
            states[cid] = (indexed[cid]["municipality_id"], indexed[cid]["withdrawn"])
            continue
        try:
            state = chain.call("commitmentState", cid)
        except ContractRevertError as exc:
            if exc.name != "LedgerUnknownCommitment":
                raise
            states[cid] = None
            continue
        states[cid] = (int(state[0]), bool(state[1]))
    return states


def check_leaves(
    chain: LedgerChain,
    session: Session,
    municipality_id: int,
    leaves: Sequence[merkle.BatchLeaf],
    loc: Callable[[int], list[Any]],
    name: Callable[[int], str],
    earlier: Sequence[tuple[int, dict[str, Any]]] = (),
) -> list[dict[str, Any]]:
    """Every problem of the leaves of a batch to anchor for ``municipality_id`` (module
    docstring), in leaf order: ``[{"loc", "msg", "type"}]``, empty when it may be anchored.

    Args:
        loc: the ``loc`` of leaf i (``["body", "deliveries", i]``); a field name is appended.
        name: how messages name leaf i (``deliveries[3]``).
        earlier: ``(leaf index, error)`` found before (a file's leaves checked as rows),
            merged in leaf order.
    """
    errors: list[tuple[int, dict[str, Any]]] = list(earlier)

    def refuse(i: int, field: str | None, type_: str, msg: str) -> None:
        errors.append((i, {"loc": loc(i) + ([field] if field else []), "msg": msg, "type": type_}))

    for i, leaf in enumerate(leaves):
        for problem in merkle.leaf_problems(leaf):
            refuse(i, None, "invalid_leaf", f"{name(i)} breaks a limit of the ledger: {problem.value}")
    states = _commitment_states(chain, session, (int(leaf.commitment_id) for leaf in leaves))
    for i, leaf in enumerate(leaves):
        cid = int(leaf.commitment_id)
        state = states[cid]
        if state is None:
            refuse(i, "commitment_id", "unknown_commitment", f"{name(i)}: commitment {cid} is not registered")
        elif state[0] != municipality_id:
            refuse(i, "commitment_id", "other_municipality",
                   f"{name(i)}: commitment {cid} belongs to municipality {state[0]}, not to municipality "
                   f"{municipality_id} of this batch")
        elif state[1]:
            refuse(i, "commitment_id", "commitment_withdrawn",
                   f"{name(i)}: commitment {cid} is withdrawn: it accepts no delivery")
    ids = [int(leaf.commitment_id) for leaf in leaves]
    taken_refs = repository.taken_delivery_refs(session, ids)
    counted = repository.counted_assets(session, ids)
    first_ref: dict[tuple[int, str], int] = {}
    first_asset: dict[tuple[int, str], int] = {}
    first_leaf: dict[bytes, int] = {}
    for i, leaf in enumerate(leaves):
        cid = int(leaf.commitment_id)
        ref, asset = leaf.external_ref, merkle.normalise_asset_ref(leaf.asset_ref)
        if ref:
            if (cid, ref) in first_ref:
                refuse(i, "external_ref", "duplicate_external_ref",
                       f"{name(i)}: external_ref “{ref}” repeats {name(first_ref[(cid, ref)])} on commitment {cid}")
            elif (cid, ref) in taken_refs:
                refuse(i, "external_ref", "duplicate_external_ref",
                       f"{name(i)}: commitment {cid} already has a delivery with external_ref “{ref}”: delivery "
                       f"{delivery_key(taken_refs[(cid, ref)])}")
            first_ref.setdefault((cid, ref), i)
        if asset:
            if (cid, asset) in first_asset:
                refuse(i, "asset_ref", "asset_already_counted",
                       f"{name(i)}: asset “{asset}” repeats {name(first_asset[(cid, asset)])} on commitment {cid}: "
                       "an asset counts once")
            elif (cid, asset) in counted:
                refuse(i, "asset_ref", "asset_already_counted",
                       f"{name(i)}: asset “{asset}” is already counted for commitment {cid} by delivery "
                       f"{delivery_key(counted[(cid, asset)])}, which is not revoked: an asset counts once")
            first_asset.setdefault((cid, asset), i)
    for i, leaf in enumerate(leaves):
        leaf_hash = leaf.leaf_hash()
        if leaf_hash in first_leaf:
            refuse(i, None, "duplicate_leaf", f"{name(i)} is the same delivery as {name(first_leaf[leaf_hash])} "
                   f"(leaf hash {_hex32(leaf_hash)}): list each delivery once")
        first_leaf.setdefault(leaf_hash, i)
    errors.sort(key=lambda e: e[0])
    return [e for _i, e in errors]


# ------------------------------------------------------------------ anchoring


def _store_then_anchor(
    chain: LedgerChain,
    store: EvidenceStore,
    identity: StaffIdentity,
    municipality_id: int,
    root: str,
    leaf_count: int,
    content: bytes,
    file_uri: str,
    send: Callable[[Callable[[], TxResult]], TxResult] | None = None,
    *,
    tree: merkle.BatchTree | None = None,
    leaves: Sequence[merkle.BatchLeaf] = (),
    evidence: Sequence[str] = (),
) -> tuple[str, TxResult]:
    """Store the batch file, then anchor its root (module docstring). Returns (file SHA-256,
    the anchor's transaction). Through the outbox the write's context holds what the 201
    body needs besides the receipt (:func:`_batch_anchored`)."""
    file_sha256, _size = store.save_stream(io.BytesIO(content), BATCH_FILE_MAX_BYTES, BATCH_FILE_MEDIA_TYPE)
    batch_input = (municipality_id, bytes.fromhex(root[2:]), leaf_count, bytes.fromhex(file_sha256[2:]), file_uri)
    context = {"municipality_id": municipality_id, "root": root, "file_sha256": file_sha256, "file_uri": file_uri,
               "leaves": [leaf_json(tree, leaf, i) for i, leaf in enumerate(leaves)] if tree is not None else []}

    def anchor() -> TxResult:
        return chain.send("anchorBatch", [batch_input], identity.private_key, result="batch_anchored",
                          context=context, evidence=list(evidence))

    return file_sha256, (send(anchor) if send is not None else anchor())


def anchor_batch(
    chain: LedgerChain,
    session: Session,
    store: EvidenceStore,
    identity: StaffIdentity,
    data: Any,
    *,
    base_url: str,
    files: Sequence[UploadFile] = (),
    max_evidence_bytes: int = 0,
) -> dict[str, Any]:
    """Check the rows, build the tree, store the batch file, anchor it.

    Args:
        data: ``api.schemas.BatchIn``.
        base_url: this server's public URL (for the default ``file_uri``).
        files: evidence files sent with the batch, each cited by at least one row's
            ``evidence_hashes`` (staged and settled as a delivery batch's files).

    Returns:
        ``{"root", "municipality_id", "file_sha256", "file_uri", "leaf_count", "leaves":
        [{"leaf_hash", "leaf_index", "commitment_id", "quantity", "delivered_at",
        "evidence_hashes", "evidence_uri", "note", "external_ref", "asset_ref", "proof"}],
        "transaction_hash", "block_number", "tx"}``.

    Raises:
        StaffRoleError, StaffForbiddenError: no registrar role, or another municipality (403).
        InputInvalidError: a row (or file) is refused (422, every problem listed); nothing
            stored or sent.
        EvidenceTooLargeError: an evidence file exceeds ``max_evidence_bytes`` (413).
        ContractRevertError: e.g. ``LedgerBatchAlreadyAnchored`` (409), ``LedgerNotRegistrar``
            (403), ``LedgerPaused`` (503); the batch file stays stored.
        ChainUnavailableError, TransactionFailedError: as every write.
    """
    identity.require_role(REGISTRAR, "anchoring a batch")
    identity.require_municipality(data.municipality_id, "this batch")
    leaves = [batch_leaf(row) for row in data.deliveries]
    errors = check_leaves(chain, session, data.municipality_id, leaves,
                          lambda i: ["body", "deliveries", i], lambda i: f"deliveries[{i}]")
    if errors:
        raise InputInvalidError(errors)
    file_hashes = (
        check_batch_evidence_hashes(files, {h for row in data.deliveries for h in row.evidence_hashes}, max_evidence_bytes)
        if files else []
    )
    tree = merkle.build_tree(leaves)
    root = tree.root_hex
    file_uri = data.file_uri or default_file_uri(base_url, root)
    content = tree.to_file_bytes()
    send = None
    if files:
        def send(anchor: Callable[[], TxResult]) -> TxResult:
            return send_with_evidence(store, files, file_hashes, max_evidence_bytes, anchor,
                                      what=f"batch {root} of {len(leaves)} deliveries")
    cited = sorted({h for row in data.deliveries for h in row.evidence_hashes})
    file_sha256, tx = _store_then_anchor(chain, store, identity, data.municipality_id, root, len(leaves), content,
                                         file_uri, send, tree=tree, leaves=leaves, evidence=cited)
    return _anchored(tx, data.municipality_id, root, file_sha256, file_uri, tree, leaves)


@result_builder("batch_anchored")
def _batch_anchored(tx: TxResult, context: dict[str, Any]) -> dict[str, Any]:
    event = tx.event("BatchAnchored")
    return {
        "root": event.args["root"],
        "municipality_id": context["municipality_id"],
        "file_sha256": context["file_sha256"],
        "file_uri": context["file_uri"],
        "leaf_count": event.args["leaf_count"],
        "leaves": context["leaves"],
        "transaction_hash": tx.tx_hash,
        "block_number": tx.block_number,
        "tx": tx_json(tx),
    }


def _anchored(
    tx: TxResult, municipality_id: int, root: str, file_sha256: str, file_uri: str, tree: merkle.BatchTree,
    leaves: Sequence[merkle.BatchLeaf],
) -> dict[str, Any]:
    event = tx.event("BatchAnchored")
    return {
        "root": event.args["root"],
        "municipality_id": municipality_id,
        "file_sha256": file_sha256,
        "file_uri": file_uri,
        "leaf_count": event.args["leaf_count"],
        "leaves": [leaf_json(tree, leaf, i) for i, leaf in enumerate(leaves)],
        "transaction_hash": tx.tx_hash,
        "block_number": tx.block_number,
        "tx": tx_json(tx),
    }


def store_batch_file(
    chain: LedgerChain,
    session: Session,
    store: EvidenceStore,
    identity: StaffIdentity,
    content: bytes,
    file_uri: str | None,
    *,
    base_url: str,
) -> tuple[bool, dict[str, Any]]:
    """A batch file built elsewhere (``@openzeppelin/merkle-tree``'s ``dump()``, or
    ``ledger.merkle``): parsed and checked; if its root is anchored already (its file was
    missing here), only stored, after checking its SHA-256 is the anchored one; otherwise its
    leaves are checked as :func:`anchor_batch`'s rows, it is stored, then anchored for the
    token's municipality.

    Returns:
        ``(anchored now, answer)``: ``(True, as anchor_batch)`` or ``(False, {"root",
        "municipality_id", "file_sha256", "leaf_count", "stored"})``.

    Raises:
        InputInvalidError: the file does not parse as a batch file, or a leaf is refused (422,
            ``loc`` ``["body", "file", ...]``); nothing stored or sent.
        BatchFileMismatchError: anchored with other bytes (409).
        BatchNotIndexedError: anchored, but not indexed yet (503).
        StaffRoleError, StaffForbiddenError: no registrar role; the anchored batch is another
            municipality's (403).
        ContractRevertError, ChainUnavailableError, TransactionFailedError: as :func:`anchor_batch`.
    """
    identity.require_role(REGISTRAR, "storing or anchoring a batch file")
    parsed = _parse(content)
    tree = parsed.tree
    root = tree.root_hex
    uploaded_sha256 = "0x" + hashlib.sha256(content).hexdigest()
    anchored = repository.get_batch(session, root, leaves=False)
    if anchored is None and _anchored_on_chain(chain, root):
        raise BatchNotIndexedError(root)
    if anchored is not None:
        identity.require_municipality(anchored["municipality_id"], f"batch {root}")
        if anchored["file_sha256"] != uploaded_sha256:
            raise BatchFileMismatchError(root, anchored["file_sha256"], uploaded_sha256)
        new = not store.exists(uploaded_sha256)
        store.save_stream(io.BytesIO(content), BATCH_FILE_MAX_BYTES, BATCH_FILE_MEDIA_TYPE)
        return False, {"root": root, "municipality_id": anchored["municipality_id"], "file_sha256": uploaded_sha256,
                       "leaf_count": anchored["leaf_count"], "stored": new}
    leaves = list(tree.leaves)
    errors = check_leaves(chain, session, identity.municipality_id, leaves,
                          lambda i: ["body", "file", "values", i], lambda i: f"values[{i}]", _as_rows(leaves))
    if errors:
        raise InputInvalidError(errors)
    uri = file_uri or default_file_uri(base_url, root)
    file_sha256, tx = _store_then_anchor(chain, store, identity, identity.municipality_id, root, len(leaves), content, uri,
                                         tree=tree, leaves=leaves)
    return True, _anchored(tx, identity.municipality_id, root, file_sha256, uri, tree, leaves)


def _parse(content: bytes) -> merkle.ParsedBatch:
    """The parsed batch file.

    Raises:
        InputInvalidError: it is not a ``standard-v1`` dump of ledger leaves (422,
            ``batch_file_invalid``).
    """
    try:
        return merkle.parse_batch_file(content)
    except merkle.BatchFileError as exc:
        raise InputInvalidError([{"loc": ["body", "file"], "msg": f"file is not a batch file of this ledger: {exc}",
                                  "type": "batch_file_invalid"}]) from exc


_ROW_FIELDS = ("commitment_id", "quantity", "delivered_at", "evidence_hashes", "evidence_uri", "note", "external_ref",
               "asset_ref")


def _as_rows(leaves: Sequence[merkle.BatchLeaf]) -> list[tuple[int, dict[str, Any]]]:
    """The leaves of a file checked as the rows of ``POST /staff/batches`` are
    (``api.schemas.BatchDeliveryIn``: limits, dates not in the future, text rules), as
    ``(leaf index, error)``; ``loc`` ``["body", "file", "values", i, <field>]``."""
    errors: list[tuple[int, dict[str, Any]]] = []
    for i, leaf in enumerate(leaves):
        row = dict(zip(_ROW_FIELDS, leaf.json_values()))
        try:
            BatchDeliveryIn.model_validate(row)
        except ValidationError as exc:
            for e in exc.errors(include_url=False):
                errors.append((i, {"loc": ["body", "file", "values", i, *e["loc"]], "msg": e["msg"], "type": e["type"]}))
    return errors


def _anchored_on_chain(chain: LedgerChain, root: str) -> bool:
    """Whether ``root`` is anchored (the contract's ``batchOf``)."""
    try:
        chain.call("batchOf", bytes.fromhex(root[2:]))
    except ContractRevertError as exc:
        if exc.name == "LedgerUnknownBatch":
            return False
        raise
    return True


# ------------------------------------------------------------------ leaves of stored files


def stored_leaf(
    chain: LedgerChain,
    session: Session,
    store: EvidenceStore,
    identity: StaffIdentity | None,
    root: str,
    leaf_hash: str,
) -> StoredLeaf:
    """Leaf ``leaf_hash`` of batch ``root``, from the batch's file in the evidence store (the
    index gives the file's SHA-256), with its proof.

    Args:
        identity: the token (the batch must be its municipality's), or ``None`` (a relayed
            write: the contract checks the signer's role).
        root, leaf_hash: ``0x`` + 64 hex (lowercase).

    Raises:
        ContractRevertError: ``LedgerUnknownBatch``: no such batch is anchored (404).
        BatchNotIndexedError: anchored, not indexed yet (503).
        StaffForbiddenError: another municipality's batch (403).
        BatchFileMissingError: its file is not stored here (409).
        UnknownLeafError: the file has no such leaf (404).
    """
    batch = repository.get_batch(session, root, leaves=False)
    if batch is None:
        chain.call("batchOf", bytes.fromhex(root[2:]))  # LedgerUnknownBatch when never anchored
        raise BatchNotIndexedError(root)
    if identity is not None:
        identity.require_municipality(batch["municipality_id"], f"batch {root}")
    content = store.read_bytes(batch["file_sha256"])
    if content is None:
        raise BatchFileMissingError(root, batch["file_sha256"])
    check = merkle.check_batch_file(content, anchored_root=root, anchored_sha256=batch["file_sha256"],
                                    anchored_leaf_count=batch["leaf_count"])
    for leaf in check.leaves:
        if leaf.leaf_hash == leaf_hash:
            return StoredLeaf(root, leaf_hash, leaf.value_index, leaf.commitment_id, leaf_struct(leaf.leaf),
                              leaf.proof, int(batch["municipality_id"]))
    raise UnknownLeafError(root, leaf_hash)


def revoke_batched_delivery(
    chain: LedgerChain,
    session: Session,
    store: EvidenceStore,
    identity: StaffIdentity,
    root: str,
    leaf_hash: str,
    reason: str,
) -> dict[str, Any]:
    """Revoke one delivery of an anchored batch (``revokeBatchedDelivery``, with the leaf and
    proof from the stored file).

    Returns:
        ``{"root", "leaf_hash", "commitment_id", "tx"}``.

    Raises:
        StaffRoleError: no registrar role (403).
        see :func:`stored_leaf`; ContractRevertError: ``LedgerBatchedDeliveryRevoked`` (409),
            ``LedgerNotRegistrar`` (403), ``LedgerPaused`` (503).
    """
    identity.require_role(REGISTRAR, "revoking a batched delivery")
    leaf = stored_leaf(chain, session, store, identity, root, leaf_hash)
    tx = chain.send("revokeBatchedDelivery", [leaf.root_bytes, leaf.struct, leaf.proof_bytes, reason],
                    identity.private_key, result="batched_delivery_revoked")
    return _batched_revoked(tx, {})


@result_builder("batched_delivery_revoked")
def _batched_revoked(tx: TxResult, _context: dict[str, Any]) -> dict[str, Any]:
    event = tx.event("BatchedDeliveryRevoked")
    return {"root": event.args["root"], "leaf_hash": event.args["leaf_hash"],
            "commitment_id": event.args["commitment_id"], "tx": tx_json(tx)}
