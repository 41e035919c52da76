"""What happened on the ledger, newest first: the read side of the site's Atom feeds (and the
few commitment columns its downloads add to the list summaries).

:func:`list_activity` merges the facts the index holds (each from its own table, each a fact of
one event log, plus one derived fact: a due date that passed without the target met) into
entries, newest first. :func:`commitment_sources` gives the source columns of commitments that
the list summaries leave out.

Both only read; neither commits or writes.
"""

from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import Session

from ledger.db.models import Amendment, Batch, BatchedRevocation, BatchLeaf, Commitment, Delivery, Municipality
from ledger.db.repository import amendment_terms, chain_ref, iso

ACTIVITY_KINDS = (
    "commitment_registered",
    "commitment_amended",
    "commitment_withdrawn",
    "delivery_recorded",
    "delivery_revoked",
    "batch_anchored",
    "batched_delivery_revoked",
    "became_overdue",
)
"""Every ``kind`` of an activity entry."""

MAX_ACTIVITY_LIMIT = 500
"""Largest ``limit`` of :func:`list_activity`."""

IN_CHUNK = 500
"""Most values bound in one ``IN (...)``."""

_NO_POSITION = -1
"""Chain position used to order an entry without one (``became_overdue``)."""


def _at_row(kind: str, row: Any, c: Commitment, municipality: str) -> dict[str, Any]:
    """:func:`_common` for an entry at ``row``'s own event (a table with the chain-ref
    columns ``tx_hash``, ``block_number``, ``log_index``, ``block_time``)."""
    ref = chain_ref(row.tx_hash, row.block_number, row.log_index, row.block_time)
    return _common(kind, row.block_time, c, municipality, ref, _log_id(row.tx_hash, row.log_index))


def _common(
    kind: str,
    at: int,
    c: Commitment,
    municipality: str,
    ref: dict[str, Any] | None,
    entry_id: str,
) -> dict[str, Any]:
    return {
        "id": entry_id,
        "kind": kind,
        "at": at,
        "at_iso": iso(at),
        "commitment_id": c.id,
        "commitment_title": c.title,
        "municipality_id": c.municipality_id,
        "municipality_name": municipality,
        "theme": c.theme,
        "unit": c.unit,
        "chain": ref,
    }


def _log_id(tx_hash: str, log_index: int) -> str:
    return f"{tx_hash}/{log_index}"


def _filters(municipality_id: int | None, theme: str | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if municipality_id is not None:
        conditions.append(Commitment.municipality_id == municipality_id)
    if theme is not None:
        conditions.append(Commitment.theme == theme)
    return conditions


def _with_commitment(entity: Any = None, onclause: ColumnElement[bool] | None = None) -> Any:
    """``SELECT [entity,] Commitment, Municipality.name`` with ``entity`` joined to its
    commitment on ``onclause``."""
    if entity is None:
        query = select(Commitment, Municipality.name)
    else:
        query = select(entity, Commitment, Municipality.name).select_from(entity).join(Commitment, onclause)
    return query.join(Municipality, Municipality.id == Commitment.municipality_id)


def _registered(session: Session, where: list[ColumnElement[bool]], limit: int) -> list[dict[str, Any]]:
    rows = session.execute(
        _with_commitment()
        .where(*where)
        .order_by(Commitment.block_number.desc(), Commitment.log_index.desc())
        .limit(limit)
    )
    entries = []
    for c, name in rows:
        entry = _at_row("commitment_registered", c, c, name)
        entry.update(
            {
                "external_ref": c.external_ref,
                "target_quantity": str(c.original_target_quantity),
                "due_date": c.original_due_date,
                "due_date_iso": iso(c.original_due_date),
                "promised_at": c.promised_at,
                "promised_at_iso": iso(c.promised_at),
                "historical_record": c.historical_record,
            }
        )
        entries.append(entry)
    return entries


def _amended(session: Session, where: list[ColumnElement[bool]], limit: int) -> list[dict[str, Any]]:
    rows = session.execute(
        _with_commitment(Amendment, Commitment.id == Amendment.commitment_id)
        .where(*where)
        .order_by(Amendment.block_number.desc(), Amendment.log_index.desc())
        .limit(limit)
    )
    entries = []
    for a, c, name in rows:
        entry = _at_row("commitment_amended", a, c, name)
        entry.update(amendment_terms(a))
        entries.append(entry)
    return entries


def _withdrawn(session: Session, where: list[ColumnElement[bool]], limit: int) -> list[dict[str, Any]]:
    rows = session.execute(
        _with_commitment()
        .where(Commitment.withdrawn.is_(True), *where)
        .order_by(Commitment.withdrawn_block_number.desc(), Commitment.withdrawn_log_index.desc())
        .limit(limit)
    )
    entries = []
    for c, name in rows:
        tx, block, log, at = c.withdrawn_tx_hash, c.withdrawn_block_number, c.withdrawn_log_index, c.withdrawn_block_time
        entry = _common("commitment_withdrawn", at, c, name, chain_ref(tx, block, log, at), _log_id(tx, log))
        entry["reason"] = c.withdrawal_reason
        entries.append(entry)
    return entries


def _recorded(session: Session, where: list[ColumnElement[bool]], limit: int) -> list[dict[str, Any]]:
    rows = session.execute(
        _with_commitment(Delivery, Commitment.id == Delivery.commitment_id)
        .where(*where)
        .order_by(Delivery.block_number.desc(), Delivery.log_index.desc())
        .limit(limit)
    )
    entries = []
    for d, c, name in rows:
        entry = _at_row("delivery_recorded", d, c, name)
        entry.update(
            {
                "delivery_id": d.id,
                "quantity": str(d.quantity),
                "delivered_at": d.delivered_at,
                "delivered_at_iso": iso(d.delivered_at),
                "recording_lag_seconds": d.recording_lag_seconds,
                "recorded_late": d.recorded_late,
                "double_counted": d.double_counted,
                "note": d.note,
                "revoked": d.revoked,
            }
        )
        entries.append(entry)
    return entries


def _revoked(session: Session, where: list[ColumnElement[bool]], limit: int) -> list[dict[str, Any]]:
    rows = session.execute(
        _with_commitment(Delivery, Commitment.id == Delivery.commitment_id)
        .where(Delivery.revoked.is_(True), *where)
        .order_by(Delivery.revoked_block_number.desc(), Delivery.revoked_log_index.desc())
        .limit(limit)
    )
    entries = []
    for d, c, name in rows:
        tx, block, log, at = d.revoked_tx_hash, d.revoked_block_number, d.revoked_log_index, d.revoked_block_time
        entry = _common("delivery_revoked", at, c, name, chain_ref(tx, block, log, at), _log_id(tx, log))
        entry.update({"delivery_id": d.id, "quantity": str(d.quantity), "reason": d.revocation_reason})
        entries.append(entry)
    return entries


def _anchored(session: Session, where: list[ColumnElement[bool]], limit: int) -> list[dict[str, Any]]:
    """One entry per (batch, commitment of the batch's municipality that its leaves name)."""
    counted = func.sum(case((BatchLeaf.counted.is_(True), 1), else_=0))
    groups = session.execute(
        select(BatchLeaf.root, BatchLeaf.commitment_id, func.count(), counted)
        .join(Batch, Batch.root == BatchLeaf.root)
        .join(
            Commitment,
            and_(Commitment.id == BatchLeaf.commitment_id, Commitment.municipality_id == Batch.municipality_id),
        )
        .where(*where)
        .group_by(Batch.block_number, Batch.log_index, BatchLeaf.root, BatchLeaf.commitment_id)
        .order_by(Batch.block_number.desc(), Batch.log_index.desc(), BatchLeaf.commitment_id.asc())
        .limit(limit)
    ).all()
    if not groups:
        return []
    roots = sorted({root for root, *_ in groups})
    batches = {b.root: b for b in session.scalars(select(Batch).where(Batch.root.in_(roots)))}
    commitment_ids = sorted({cid for _, cid, *_ in groups})
    commitments: dict[int, tuple[Commitment, str]] = {}
    for chunk in _chunks(commitment_ids):
        for c, name in session.execute(_with_commitment().where(Commitment.id.in_(chunk))):
            commitments[c.id] = (c, name)
    # Quantities are exact decimal texts (any uint64 in a leaf): summed here, not in SQL.
    quantities: dict[tuple[str, int], int] = {}
    for root in roots:
        wanted = sorted({cid for r, cid, *_ in groups if r == root})
        for chunk in _chunks(wanted):
            for cid, quantity in session.execute(
                select(BatchLeaf.commitment_id, BatchLeaf.quantity).where(
                    BatchLeaf.root == root, BatchLeaf.commitment_id.in_(chunk), BatchLeaf.counted.is_(True)
                )
            ):
                quantities[(root, cid)] = quantities.get((root, cid), 0) + int(quantity)
    entries = []
    for root, cid, leaf_count, counted_count in groups:
        b = batches[root]
        c, name = commitments[cid]
        entry = _common(
            "batch_anchored",
            b.block_time,
            c,
            name,
            chain_ref(b.tx_hash, b.block_number, b.log_index, b.block_time),
            f"{_log_id(b.tx_hash, b.log_index)}/{cid}",
        )
        entry.update(
            {
                "batch_root": root,
                "file_uri": b.file_uri,
                "leaf_count": int(leaf_count),
                "counted_leaf_count": int(counted_count or 0),
                "quantity": str(quantities.get((root, cid), 0)),
            }
        )
        entries.append(entry)
    return entries


def _batched_revoked(session: Session, where: list[ColumnElement[bool]], limit: int) -> list[dict[str, Any]]:
    rows = session.execute(
        _with_commitment(BatchedRevocation, Commitment.id == BatchedRevocation.commitment_id)
        .where(*where)
        .order_by(BatchedRevocation.block_number.desc(), BatchedRevocation.log_index.desc())
        .limit(limit)
    ).all()
    quantities: dict[tuple[str, str], int] = {}
    for r, _, _ in rows:
        quantity = session.scalar(
            select(BatchLeaf.quantity)
            .where(BatchLeaf.root == r.root, BatchLeaf.leaf_hash == r.leaf_hash)
            .order_by(BatchLeaf.leaf_index)
            .limit(1)
        )
        if quantity is not None:
            quantities[(r.root, r.leaf_hash)] = int(quantity)
    entries = []
    for r, c, name in rows:
        entry = _at_row("batched_delivery_revoked", r, c, name)
        known = quantities.get((r.root, r.leaf_hash))
        entry.update(
            {
                "batch_root": r.root,
                "leaf_hash": r.leaf_hash,
                "quantity": None if known is None else str(known),
                "reason": r.reason,
            }
        )
        entries.append(entry)
    return entries


def _overdue(session: Session, now: int, where: list[ColumnElement[bool]], limit: int) -> list[dict[str, Any]]:
    rows = session.execute(
        _with_commitment()
        .where(
            Commitment.withdrawn.is_(False),
            Commitment.due_date < now,
            or_(Commitment.met_at.is_(None), Commitment.met_at > Commitment.due_date),
            *where,
        )
        .order_by(Commitment.due_date.desc(), Commitment.id.asc())
        .limit(limit)
    )
    entries = []
    for c, name in rows:
        entry = _common("became_overdue", c.due_date, c, name, None, f"commitment/{c.id}/overdue/{c.due_date}")
        entry.update(
            {
                "due_date": c.due_date,
                "due_date_iso": iso(c.due_date),
                "target_quantity": str(c.target_quantity),
                "met_at": c.met_at,
                "met_at_iso": iso(c.met_at),
            }
        )
        entries.append(entry)
    return entries


def _order_key(entry: dict[str, Any]) -> tuple[int, int, int, int]:
    """Sort key of the merged entries, largest first: time, then chain position (block, log
    index; none sorts before any), then commitment id ascending (entries of one batch)."""
    ref = entry["chain"]
    block = ref["block_number"] if ref else _NO_POSITION
    log = ref["log_index"] if ref else _NO_POSITION
    return (entry["at"], block, log, -entry["commitment_id"])


def list_activity(
    session: Session,
    now: int,
    *,
    municipality_id: int | None = None,
    theme: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """The latest ``limit`` entries of the ledger's activity, newest first.

    Order: ``at`` descending, then chain position (block number, log index) descending (an
    entry without one, ``became_overdue``, after those of the same second), then commitment id
    ascending (the entries of one batch).

    Every entry: ``{"id" (unique within this ledger and stable: ``"<tx hash>/<log index>"``,
    ``"<tx hash>/<log index>/<commitment id>"`` for ``batch_anchored``,
    ``"commitment/<id>/overdue/<due date>"`` for ``became_overdue``), "kind" (one of
    :data:`ACTIVITY_KINDS`), "at" (Unix seconds: the block time of the event; the due date for
    ``became_overdue``), "at_iso", "commitment_id", "commitment_title" (current title),
    "municipality_id", "municipality_name", "theme", "unit", "chain": ChainRef
    (``{"tx_hash", "block_number", "log_index", "block_time", "block_time_iso"}``) or null for
    ``became_overdue``}`` plus, per kind (quantities as decimal strings in the commitment's
    unit, times Unix seconds with ``_iso`` twins):

    - ``commitment_registered``: ``external_ref``, ``target_quantity`` and ``due_date`` (the
      original terms), ``promised_at`` (claimed), ``historical_record``;
    - ``commitment_amended``: ``amendment_number``, ``fields`` (names of the fields it
      changes), ``title`` (the new title, null when not changed), ``previous_target_quantity``,
      ``target_quantity``, ``previous_due_date``, ``due_date``, ``reason``, ``after_due_date``,
      ``lowered_target``, ``extended_due_date``;
    - ``commitment_withdrawn``: ``reason``;
    - ``delivery_recorded``: ``delivery_id``, ``quantity``, ``delivered_at`` (claimed),
      ``recording_lag_seconds``, ``recorded_late``, ``double_counted``, ``note``, ``revoked``
      (revoked since: that is its own ``delivery_revoked`` entry);
    - ``delivery_revoked``: ``delivery_id``, ``quantity``, ``reason``;
    - ``batch_anchored`` (one entry per commitment of the batch's municipality that leaves of
      the verified batch name; an unverified batch has no known leaves and gives none):
      ``batch_root``, ``file_uri``, ``leaf_count`` (its leaves naming the commitment),
      ``counted_leaf_count`` (those that count; the others were refused,
      docs/LEDGER.md "Batches"), ``quantity`` (sum over the counted ones, revoked since
      included: each revocation is its own entry);
    - ``batched_delivery_revoked``: ``batch_root``, ``leaf_hash``, ``quantity`` (null while the
      batch's file is not held), ``reason``;
    - ``became_overdue`` (derived, no event: a commitment not withdrawn whose current due date
      is before ``now`` and whose target was not met by it on the claimed clock, ``met_at``
      null or after the due date): ``due_date``, ``target_quantity`` (current), ``met_at``
      (null, or when it was met late).

    Texts (titles, reasons, notes) are the ledger's, unchanged.

    Args:
        now: the evaluation time, Unix seconds (which due dates have passed).
        municipality_id: only this municipality's commitments.
        theme: only commitments with this theme (exact match).
        limit: most entries, 1..:data:`MAX_ACTIVITY_LIMIT`.

    Raises:
        ValueError: ``limit`` outside 1..:data:`MAX_ACTIVITY_LIMIT`.
    """
    if not 1 <= limit <= MAX_ACTIVITY_LIMIT:
        raise ValueError(f"limit must be 1..{MAX_ACTIVITY_LIMIT}, got {limit}.")
    where = _filters(municipality_id, theme)
    entries = (
        _registered(session, where, limit)
        + _amended(session, where, limit)
        + _withdrawn(session, where, limit)
        + _recorded(session, where, limit)
        + _revoked(session, where, limit)
        + _anchored(session, where, limit)
        + _batched_revoked(session, where, limit)
        + _overdue(session, now, where, limit)
    )
    entries.sort(key=_order_key, reverse=True)
    return entries[:limit]


def commitment_sources(session: Session, commitment_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Commitment id → ``{"source_uri", "source_document_sha256"}`` (``0x`` hex or null), as
    registered, for the given ids (unknown ids left out): the columns of the commitment detail
    that downloads add to the list summaries."""
    ids = sorted(set(commitment_ids))
    found: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(ids):
        for cid, uri, sha256 in session.execute(
            select(Commitment.id, Commitment.source_uri, Commitment.source_document_sha256).where(
                Commitment.id.in_(chunk)
            )
        ):
            found[cid] = {"source_uri": uri, "source_document_sha256": sha256}
    return found


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]
