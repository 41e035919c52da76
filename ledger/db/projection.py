"""The write side of the index: a pure projection of decoded ledger events, and the
indexer's checkpoint.

:func:`apply_events` is the only writer of the event-derived tables. It applies events in
(block number, log index) order; each event is recorded in ``events`` under its chain
position, and an event whose position is already there is skipped, so re-applying any range
changes nothing (batches must come in block order, as the indexer fetches them). It never commits: the caller (the indexer loop) commits each chunk's rows
together with the checkpoint, in one transaction.

The projection reads nothing but the events and the rows earlier events produced (no chain
call, no clock). It keeps ``commitments.delivered_quantity`` and ``commitments.met_at`` equal
to what the status rules define, recomputing them from the counted deliveries after every
delivery, revocation and amendment.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.db.models import (
    Amendment,
    Base,
    CheckpointRow,
    Commitment,
    Delivery,
    EventRow,
    EvidenceCitation,
    Municipality,
    Registrar,
)
from ledger.errors import ProjectionError
from ledger.events import LedgerEvent

_Row = TypeVar("_Row", bound=Base)

CHECKPOINT_ID = 1
ZERO_HASH = "0x" + "00" * 32

MAX_STORED_SECONDS = 2**63 - 1
"""Largest time a BIGINT column holds. The contract accepts any uint64 due date; a larger one
(past the year 292 billion) is stored as this value in ``commitments``/``amendments`` (which
changes no status), while ``events.args`` keeps the exact value."""

EVENTS_ONLY = frozenset({"OwnershipTransferred", "OwnershipTransferStarted"})
"""Events kept in the ``events`` table only: they change no projected state."""


@dataclass(frozen=True)
class Checkpoint:
    """The indexer's progress.

    Attributes:
        last_block: last block whose events are in the index (inclusive), ``None`` before
            the first chunk.
        last_block_hash: ``0x`` hash of ``last_block`` when it was indexed.
        chain_head_block: chain head seen at the latest poll.
        head_seen_at: when that head was seen, Unix seconds.
        contract_address: the ledger contract this index belongs to (checksummed).
        updated_at: when the row was last written, Unix seconds.
    """

    last_block: int | None
    last_block_hash: str | None
    chain_head_block: int | None
    head_seen_at: int | None
    contract_address: str | None
    updated_at: int


@dataclass(frozen=True)
class _Ref:
    """Where an event is recorded: block, log index, transaction, block time (Unix s)."""

    block_number: int
    log_index: int
    tx_hash: str
    block_time: int

    def columns(self, prefix: str = "") -> dict[str, object]:
        """The chain reference as column values, names prefixed (``"revoked_"``, ...)."""
        return {
            f"{prefix}block_number": self.block_number,
            f"{prefix}log_index": self.log_index,
            f"{prefix}tx_hash": self.tx_hash,
            f"{prefix}block_time": self.block_time,
        }


@dataclass(frozen=True)
class _Keys:
    """Ids copied onto the ``events`` row for lookups."""

    municipality_id: int | None = None
    commitment_id: int | None = None
    delivery_id: int | None = None


# ---------------------------------------------------------------------------- entry points


def apply_events(session: Session, events: Sequence[LedgerEvent], block_times: Mapping[int, int]) -> int:
    """Apply decoded ledger events to the index, in (block number, log index) order.

    Idempotent: an event whose ``(block_number, log_index)`` is already in ``events`` (or
    repeated within ``events``) is skipped. Flushes but never commits.

    Args:
        session: a session inside the caller's transaction.
        events: decoded events (``ledger.events.LedgerEvent``), in any order.
        block_times: timestamp (Unix seconds) of every block that has one of ``events``,
            by block number.

    Returns:
        The number of events applied (skipped ones not counted).

    Raises:
        ProjectionError: an event refers to a municipality, commitment or delivery the index
            does not have (a gap in the index, or logs of another contract), has an unknown
            name, or its block has no entry in ``block_times``.
    """
    ordered = sorted(events, key=lambda e: e.order)
    if not ordered:
        return 0
    seen = set(
        session.execute(
            select(EventRow.block_number, EventRow.log_index).where(
                EventRow.block_number.between(ordered[0].block_number, ordered[-1].block_number)
            )
        ).tuples()
    )
    applied = 0
    for event in ordered:
        if event.order in seen:
            continue
        seen.add(event.order)
        _apply_one(session, event, block_times)
        applied += 1
    session.flush()
    return applied


def load_checkpoint(session: Session) -> Checkpoint | None:
    """The stored checkpoint, or ``None`` when the index is empty."""
    row = session.get(CheckpointRow, CHECKPOINT_ID)
    if row is None:
        return None
    return Checkpoint(
        last_block=row.last_block,
        last_block_hash=row.last_block_hash,
        chain_head_block=row.chain_head_block,
        head_seen_at=row.head_seen_at,
        contract_address=row.contract_address,
        updated_at=row.updated_at,
    )


def save_checkpoint(
    session: Session,
    last_block: int,
    last_block_hash: str,
    chain_head_block: int,
    head_seen_at: int,
    *,
    contract_address: str | None = None,
    updated_at: int | None = None,
) -> None:
    """Record the indexer's progress (inside the caller's transaction; never commits).

    Args:
        last_block: last block whose events are now in the index (inclusive).
        last_block_hash: ``0x`` hash of that block, checked on resume to detect reorgs.
        chain_head_block: the chain head seen at this poll.
        head_seen_at: when that head was seen, Unix seconds.
        contract_address: the ledger contract the index belongs to; kept if ``None``.
        updated_at: write time, Unix seconds (now by default).
    """
    row = _checkpoint_row(session, updated_at)
    row.last_block = last_block
    row.last_block_hash = last_block_hash
    row.chain_head_block = chain_head_block
    row.head_seen_at = head_seen_at
    if contract_address is not None:
        row.contract_address = contract_address
    session.flush()


def save_chain_head(
    session: Session,
    chain_head_block: int,
    head_seen_at: int,
    *,
    contract_address: str | None = None,
    updated_at: int | None = None,
) -> None:
    """Record only the chain head seen at a poll (a poll with no new block to index);
    the progress fields are left as they are (``None`` in a new index). Never commits.

    Args:
        chain_head_block: the chain head block number.
        head_seen_at: when it was seen, Unix seconds.
        contract_address: the ledger contract the index belongs to; kept if ``None``.
        updated_at: write time, Unix seconds (now by default).
    """
    row = _checkpoint_row(session, updated_at)
    row.chain_head_block = chain_head_block
    row.head_seen_at = head_seen_at
    if contract_address is not None:
        row.contract_address = contract_address
    session.flush()


def _checkpoint_row(session: Session, updated_at: int | None) -> CheckpointRow:
    stamp = int(time.time()) if updated_at is None else updated_at
    row = session.get(CheckpointRow, CHECKPOINT_ID)
    if row is None:
        row = CheckpointRow(id=CHECKPOINT_ID, updated_at=stamp)
        session.add(row)
    row.updated_at = stamp
    return row


# ---------------------------------------------------------------------------- dispatch


def _apply_one(session: Session, event: LedgerEvent, block_times: Mapping[int, int]) -> None:
    handler = _HANDLERS.get(event.name)
    if handler is None and event.name not in EVENTS_ONLY:
        raise ProjectionError(f"No projection for event {event.name} at block {event.block_number}.")
    if event.block_number not in block_times:
        raise ProjectionError(f"No block time given for block {event.block_number} ({event.name}).")
    ref = _Ref(event.block_number, event.log_index, event.transaction_hash, int(block_times[event.block_number]))
    keys = handler(session, event, ref) if handler is not None else _Keys()
    session.add(
        EventRow(
            block_number=event.block_number,
            log_index=event.log_index,
            name=event.name,
            tx_hash=event.transaction_hash,
            block_hash=event.block_hash,
            block_time=ref.block_time,
            municipality_id=keys.municipality_id,
            commitment_id=keys.commitment_id,
            delivery_id=keys.delivery_id,
            args=dict(event.args),
        )
    )
    session.flush()  # later events of the batch read what this one wrote


def _need(session: Session, model: type[_Row], key: object, event: LedgerEvent) -> _Row:
    """The row ``key`` of ``model`` that ``event`` refers to.

    Raises:
        ProjectionError: no such row (a gap in the index, or another contract's events).
    """
    row = session.get(model, key)
    if row is None:
        raise ProjectionError(
            f"{event.name} at block {event.block_number} log {event.log_index} refers to unknown "
            f"{model.__tablename__} {key!r}: the index has a gap or holds another contract's "
            f"events. Rebuild it from the deploy block."
        )
    return row


def _seconds(value: int) -> int:
    """A uint64 time from an event, capped to what BIGINT holds (:data:`MAX_STORED_SECONDS`)."""
    return min(int(value), MAX_STORED_SECONDS)


def _search_text(*parts: str) -> str:
    """Lowercased fields joined by a unit separator, so a match never spans two fields."""
    return "\x1f".join(part.lower() for part in parts)


def _recompute_progress(session: Session, commitment: Commitment) -> None:
    """Set ``delivered_quantity`` and ``met_at`` from the counted deliveries (status rules)."""
    counted = session.execute(
        select(Delivery.delivered_at, Delivery.quantity)
        .where(Delivery.commitment_id == commitment.id, Delivery.revoked.is_(False))
        .order_by(Delivery.delivered_at, Delivery.id)
    ).tuples()
    running = 0
    met_at: int | None = None
    for delivered_at, quantity in counted:
        running += quantity
        if met_at is None and running >= commitment.target_quantity:
            met_at = delivered_at
    commitment.delivered_quantity = running
    commitment.met_at = met_at


# ---------------------------------------------------------------------------- handlers


def _municipality_registered(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    session.add(
        Municipality(id=a["municipality_id"], name=a["name"], code=a["code"], admin=a["admin"], **ref.columns())
    )
    return _Keys(municipality_id=a["municipality_id"])


def _municipality_admin_changed(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    municipality = _need(session, Municipality, a["municipality_id"], event)
    municipality.admin = a["new_admin"]
    return _Keys(municipality_id=a["municipality_id"])


def _registrar_added(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    _need(session, Municipality, a["municipality_id"], event)
    registrar = session.get(Registrar, (a["municipality_id"], a["account"]))
    if registrar is None:
        registrar = Registrar(municipality_id=a["municipality_id"], account=a["account"])
        session.add(registrar)
    registrar.active = True
    registrar.added_by = a["by"]
    for name, value in ref.columns().items():
        setattr(registrar, name, value)
    registrar.removed_by = None
    for name in ref.columns("removed_"):
        setattr(registrar, name, None)
    return _Keys(municipality_id=a["municipality_id"])


def _registrar_removed(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    registrar = _need(session, Registrar, (a["municipality_id"], a["account"]), event)
    registrar.active = False
    registrar.removed_by = a["by"]
    for name, value in ref.columns("removed_").items():
        setattr(registrar, name, value)
    return _Keys(municipality_id=a["municipality_id"])


def _commitment_registered(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    _need(session, Municipality, a["municipality_id"], event)
    source = a["source_document_hash"]
    session.add(
        Commitment(
            id=a["commitment_id"],
            municipality_id=a["municipality_id"],
            registrar=a["registrar"],
            external_ref=a["external_ref"],
            title=a["title"],
            description=a["description"],
            theme=a["theme"],
            unit=a["unit"],
            target_quantity=a["target_quantity"],
            due_date=_seconds(a["due_date"]),
            source_document_sha256=None if source == ZERO_HASH else source,
            source_uri=a["source_uri"],
            registered_at=a["registered_at"],
            amendment_count=0,
            delivered_quantity=0,
            met_at=None,
            withdrawn=False,
            search_text=_search_text(a["title"], a["description"], a["external_ref"]),
            **ref.columns(),
        )
    )
    return _Keys(municipality_id=a["municipality_id"], commitment_id=a["commitment_id"])


def _commitment_amended(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    commitment = _need(session, Commitment, a["commitment_id"], event)
    session.add(
        Amendment(
            commitment_id=a["commitment_id"],
            amendment_number=a["amendment_number"],
            registrar=a["registrar"],
            title=a["title"],
            description=a["description"],
            previous_target_quantity=a["previous_target_quantity"],
            target_quantity=a["target_quantity"],
            previous_due_date=_seconds(a["previous_due_date"]),
            due_date=_seconds(a["due_date"]),
            reason=a["reason"],
            **ref.columns(),
        )
    )
    commitment.title = a["title"]
    commitment.description = a["description"]
    commitment.target_quantity = a["target_quantity"]
    commitment.due_date = _seconds(a["due_date"])
    commitment.amendment_count = max(commitment.amendment_count, a["amendment_number"])
    commitment.search_text = _search_text(a["title"], a["description"], commitment.external_ref)
    _recompute_progress(session, commitment)
    return _Keys(municipality_id=commitment.municipality_id, commitment_id=commitment.id)


def _commitment_withdrawn(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    commitment = _need(session, Commitment, a["commitment_id"], event)
    commitment.withdrawn = True
    commitment.withdrawal_reason = a["reason"]
    commitment.withdrawal_registrar = a["registrar"]
    for name, value in ref.columns("withdrawn_").items():
        setattr(commitment, name, value)
    return _Keys(municipality_id=commitment.municipality_id, commitment_id=commitment.id)


def _delivery_recorded(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    commitment = _need(session, Commitment, a["commitment_id"], event)
    session.add(
        Delivery(
            id=a["delivery_id"],
            commitment_id=commitment.id,
            registrar=a["registrar"],
            quantity=a["quantity"],
            delivered_at=a["delivered_at"],
            evidence_uri=a["evidence_uri"],
            note=a["note"],
            external_ref=a["external_ref"],
            revoked=False,
            **ref.columns(),
        )
    )
    session.flush()  # the delivery must exist before its citations (foreign keys)
    first_positions: dict[str, int] = {}
    for position, sha256 in enumerate(a["evidence_hashes"]):
        first_positions.setdefault(sha256, position)
    for sha256, position in first_positions.items():
        session.add(
            EvidenceCitation(
                sha256=sha256,
                delivery_id=a["delivery_id"],
                commitment_id=commitment.id,
                position=position,
                **ref.columns(),
            )
        )
    _recompute_progress(session, commitment)
    return _Keys(municipality_id=commitment.municipality_id, commitment_id=commitment.id, delivery_id=a["delivery_id"])


def _evidence_cited(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    delivery = _need(session, Delivery, a["delivery_id"], event)
    commitment = _need(session, Commitment, delivery.commitment_id, event)
    if session.get(EvidenceCitation, (a["evidence_hash"], delivery.id)) is None:
        # DeliveryRecorded already created the row for every hash it carries; this only
        # happens if a citation was not in the delivery's list.
        last = session.scalar(
            select(EvidenceCitation.position)
            .where(EvidenceCitation.delivery_id == delivery.id)
            .order_by(EvidenceCitation.position.desc())
            .limit(1)
        )
        session.add(
            EvidenceCitation(
                sha256=a["evidence_hash"],
                delivery_id=delivery.id,
                commitment_id=delivery.commitment_id,
                position=0 if last is None else last + 1,
                **ref.columns(),
            )
        )
    return _Keys(municipality_id=commitment.municipality_id, commitment_id=delivery.commitment_id, delivery_id=delivery.id)


def _delivery_revoked(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    delivery = _need(session, Delivery, a["delivery_id"], event)
    commitment = _need(session, Commitment, delivery.commitment_id, event)
    delivery.revoked = True
    delivery.revocation_reason = a["reason"]
    delivery.revocation_registrar = a["registrar"]
    for name, value in ref.columns("revoked_").items():
        setattr(delivery, name, value)
    _recompute_progress(session, commitment)
    return _Keys(municipality_id=commitment.municipality_id, commitment_id=commitment.id, delivery_id=delivery.id)


_HANDLERS: dict[str, Callable[[Session, LedgerEvent, _Ref], _Keys]] = {
    "MunicipalityRegistered": _municipality_registered,
    "MunicipalityAdminChanged": _municipality_admin_changed,
    "RegistrarAdded": _registrar_added,
    "RegistrarRemoved": _registrar_removed,
    "CommitmentRegistered": _commitment_registered,
    "CommitmentAmended": _commitment_amended,
    "CommitmentWithdrawn": _commitment_withdrawn,
    "DeliveryRecorded": _delivery_recorded,
    "EvidenceCited": _evidence_cited,
    "DeliveryRevoked": _delivery_revoked,
}
