"""The write side of the index: a pure projection of decoded ledger events, and the
indexer's checkpoint.

:func:`apply_events` is the only writer of the event-derived tables. It applies events in
(block number, log index) order; each event is recorded in ``events`` under its chain
position, and an event whose position is already there is skipped, so re-applying any range
changes nothing (batches must come in block order, as the indexer fetches them). It never commits: the caller (the indexer loop) commits each chunk's rows
together with the checkpoint, in one transaction.

The projection reads nothing but the events and the rows earlier events produced (no chain
call, no clock). Every rule it applies comes from ``ledger.status`` (docs/LEDGER.md):

- ``met_at`` and ``met_at_original_terms`` (claimed clock, prefix rule) and
  ``recorded_late_count`` are recomputed from the non-revoked deliveries after every
  delivery, revocation and amendment;
- ``delivered_quantity``, ``met_on_record_at`` and ``met_on_record_at_original_terms`` follow
  the on-record running state (:class:`ledger.status.OnRecord`), event by event, exactly as
  the contract keeps it (amendments of the target move only the current terms' state);
- ``signer_held_role`` of every record is read from ``registrar_terms`` at the record's
  (block, log index), i.e. from ``RegistrarAdded`` / ``RegistrarRemoved`` alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence, TypeVar

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.orm import Session

from ledger.db.models import (
    AdminChange,
    Amendment,
    Base,
    CheckpointRow,
    Commitment,
    Delivery,
    EventRow,
    EvidenceCitation,
    LedgerStateRow,
    Municipality,
    Registrar,
    RegistrarTerm,
)
from ledger.errors import ProjectionError
from ledger.events import LedgerEvent
from ledger.limits import AMEND_DESCRIPTION, AMEND_TARGET, AMEND_TITLE, delivery_number
from ledger.status import (
    OnRecord,
    amendment_flags,
    claimed_met_at,
    historical_record,
    recorded_late,
    recording_lag_seconds,
)

_Row = TypeVar("_Row", bound=Base)

CHECKPOINT_ID = 1
LEDGER_STATE_ID = 1
ZERO_HASH = "0x" + "00" * 32
ZERO_ADDRESS = "0x" + "00" * 20

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
        contract_version: its ``version()`` as the indexer read it, e.g. ``"2.1.0"``.
        updated_at: when the row was last written, Unix seconds.
    """

    last_block: int | None
    last_block_hash: str | None
    chain_head_block: int | None
    head_seen_at: int | None
    contract_address: str | None
    contract_version: str | None
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
        contract_version=row.contract_version,
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
    contract_version: str | None = None,
    updated_at: int | None = None,
) -> None:
    """Record the indexer's progress (inside the caller's transaction; never commits).

    Args:
        last_block: last block whose events are now in the index (inclusive).
        last_block_hash: ``0x`` hash of that block, checked on resume to detect reorgs.
        chain_head_block: the chain head seen at this poll.
        head_seen_at: when that head was seen, Unix seconds.
        contract_address: the ledger contract the index belongs to; kept if ``None``.
        contract_version: its ``version()``; kept if ``None``.
        updated_at: write time, Unix seconds (now by default).
    """
    row = _checkpoint_row(session, updated_at, contract_address, contract_version)
    row.last_block = last_block
    row.last_block_hash = last_block_hash
    row.chain_head_block = chain_head_block
    row.head_seen_at = head_seen_at
    session.flush()


def save_chain_head(
    session: Session,
    chain_head_block: int,
    head_seen_at: int,
    *,
    contract_address: str | None = None,
    contract_version: str | None = None,
    updated_at: int | None = None,
) -> None:
    """Record only the chain head seen at a poll (a poll with no new block to index);
    the progress fields are left as they are (``None`` in a new index). Never commits.

    Args:
        chain_head_block: the chain head block number.
        head_seen_at: when it was seen, Unix seconds.
        contract_address: the ledger contract the index belongs to; kept if ``None``.
        contract_version: its ``version()``; kept if ``None``.
        updated_at: write time, Unix seconds (now by default).
    """
    row = _checkpoint_row(session, updated_at, contract_address, contract_version)
    row.chain_head_block = chain_head_block
    row.head_seen_at = head_seen_at
    session.flush()


def _checkpoint_row(
    session: Session, updated_at: int | None, contract_address: str | None, contract_version: str | None
) -> CheckpointRow:
    stamp = int(time.time()) if updated_at is None else updated_at
    row = session.get(CheckpointRow, CHECKPOINT_ID)
    if row is None:
        row = CheckpointRow(id=CHECKPOINT_ID, updated_at=stamp)
        session.add(row)
    row.updated_at = stamp
    if contract_address is not None:
        row.contract_address = contract_address
    if contract_version is not None:
        row.contract_version = contract_version
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


def _search_text(*parts: str) -> str:
    """Lowercased fields joined by a unit separator, so a match never spans two fields."""
    return "\x1f".join(part.lower() for part in parts)


def _held_role(session: Session, municipality_id: int, account: str, ref: _Ref) -> bool:
    """Whether ``account`` held the registrar role of ``municipality_id`` at ``ref``'s
    (block, log index): a ``registrar_terms`` interval starts before it and has not ended
    before it (docs/LEDGER.md "Who signed it")."""
    here = tuple_(ref.block_number, ref.log_index)
    term = session.scalar(
        select(func.count())
        .select_from(RegistrarTerm)
        .where(
            RegistrarTerm.municipality_id == municipality_id,
            RegistrarTerm.account == account,
            tuple_(RegistrarTerm.block_number, RegistrarTerm.log_index) < here,
            or_(
                RegistrarTerm.removed_block_number.is_(None),
                and_(
                    RegistrarTerm.removed_block_number.is_not(None),
                    tuple_(RegistrarTerm.removed_block_number, RegistrarTerm.removed_log_index) > here,
                ),
            ),
        )
    )
    return bool(term)


def _current_terms(c: Commitment) -> OnRecord:
    return OnRecord(c.delivered_quantity, c.met_on_record_at)


def _original_terms(c: Commitment) -> OnRecord:
    return OnRecord(c.delivered_quantity, c.met_on_record_at_original_terms)


def _set_on_record(c: Commitment, current: OnRecord, original: OnRecord) -> None:
    """Store both on-record states (they share the delivered total)."""
    assert current.total == original.total
    c.delivered_quantity = current.total
    c.met_on_record_at = current.met_at
    c.met_on_record_at_original_terms = original.met_at


def _recompute_from_deliveries(session: Session, c: Commitment) -> None:
    """Claimed ``met_at`` under both terms and ``recorded_late_count``, from the non-revoked
    deliveries (the claimed clock's prefix rule, ``ledger.status.claimed_met_at``)."""
    counted = session.execute(
        select(Delivery.delivered_at, Delivery.quantity, Delivery.recorded_late).where(
            Delivery.commitment_id == c.id, Delivery.revoked.is_(False)
        )
    ).tuples().all()
    claims = [(delivered_at, quantity) for delivered_at, quantity, _ in counted]
    c.met_at = claimed_met_at(claims, c.target_quantity)
    c.met_at_original_terms = claimed_met_at(claims, c.original_target_quantity)
    c.recorded_late_count = sum(1 for *_, late in counted if late)


# ---------------------------------------------------------------------------- handlers: platform


def _municipality_registered(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    session.add(
        Municipality(id=a["municipality_id"], name=a["name"], code=a["code"], admin=a["admin"], **ref.columns())
    )
    return _Keys(municipality_id=a["municipality_id"])


def _pause_changed(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    row = session.get(LedgerStateRow, LEDGER_STATE_ID)
    if row is None:
        row = LedgerStateRow(id=LEDGER_STATE_ID)
        session.add(row)
    row.paused = event.name == "Paused"
    row.changed_by = event.args["account"]
    for name, value in ref.columns("changed_").items():
        setattr(row, name, value)
    return _Keys()


_RECOVERY_COLUMNS = (
    "recovery_proposed_admin",
    "recovery_executable_at",
    "recovery_started_by",
    "recovery_block_number",
    "recovery_log_index",
    "recovery_tx_hash",
    "recovery_block_time",
)


def _clear_recovery(municipality: Municipality) -> None:
    for name in _RECOVERY_COLUMNS:
        setattr(municipality, name, None)


def _recovery_started(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    municipality = _need(session, Municipality, a["municipality_id"], event)
    municipality.recovery_proposed_admin = a["proposed_admin"]
    municipality.recovery_executable_at = a["executable_at"]
    municipality.recovery_started_by = a["by"]
    for name, value in ref.columns("recovery_").items():
        setattr(municipality, name, value)
    return _Keys(municipality_id=municipality.id)


def _recovery_cancelled(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    municipality = _need(session, Municipality, event.args["municipality_id"], event)
    _clear_recovery(municipality)
    return _Keys(municipality_id=municipality.id)


# ---------------------------------------------------------------------------- handlers: municipality admin


def _admin_proposed(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    municipality = _need(session, Municipality, a["municipality_id"], event)
    proposed = a["proposed_admin"]
    municipality.pending_admin = None if proposed.lower() == ZERO_ADDRESS else proposed
    return _Keys(municipality_id=municipality.id)


def _admin_changed(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    municipality = _need(session, Municipality, a["municipality_id"], event)
    municipality.admin = a["new_admin"]
    municipality.pending_admin = None
    if a["recovered"]:
        _clear_recovery(municipality)
    session.add(
        AdminChange(
            municipality_id=municipality.id,
            previous_admin=a["previous_admin"],
            new_admin=a["new_admin"],
            recovered=bool(a["recovered"]),
            **ref.columns(),
        )
    )
    return _Keys(municipality_id=municipality.id)


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
    session.add(
        RegistrarTerm(municipality_id=a["municipality_id"], account=a["account"], added_by=a["by"], **ref.columns())
    )
    return _Keys(municipality_id=a["municipality_id"])


def _registrar_removed(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    registrar = _need(session, Registrar, (a["municipality_id"], a["account"]), event)
    registrar.active = False
    registrar.removed_by = a["by"]
    for name, value in ref.columns("removed_").items():
        setattr(registrar, name, value)
    term = session.scalar(
        select(RegistrarTerm).where(
            RegistrarTerm.municipality_id == a["municipality_id"],
            RegistrarTerm.account == a["account"],
            RegistrarTerm.removed_block_number.is_(None),
        )
    )
    if term is None:
        raise ProjectionError(
            f"RegistrarRemoved at block {event.block_number} log {event.log_index}: {a['account']} holds no "
            f"registrar term of municipality {a['municipality_id']} in the index. Rebuild it from the deploy block."
        )
    term.removed_by = a["by"]
    for name, value in ref.columns("removed_").items():
        setattr(term, name, value)
    return _Keys(municipality_id=a["municipality_id"])


# ---------------------------------------------------------------------------- handlers: registrar


def _commitment_registered(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    _need(session, Municipality, a["municipality_id"], event)
    source = a["source_document_hash"]
    session.add(
        Commitment(
            id=a["commitment_id"],
            municipality_id=a["municipality_id"],
            registrar=a["registrar"],
            signer_held_role=_held_role(session, a["municipality_id"], a["registrar"], ref),
            external_ref=a["external_ref"],
            title=a["title"],
            description=a["description"],
            theme=a["theme"],
            unit=a["unit"],
            promised_at=a["promised_at"],
            registered_at=a["registered_at"],
            original_target_quantity=a["target_quantity"],
            original_due_date=a["due_date"],
            target_quantity=a["target_quantity"],
            due_date=a["due_date"],
            historical_record=historical_record(a["registered_at"], a["due_date"]),
            source_document_sha256=None if source == ZERO_HASH else source,
            source_uri=a["source_uri"],
            amendment_count=0,
            amended_after_due_date=False,
            target_lowered=False,
            delivered_quantity=0,
            recorded_late_count=0,
            met_at=None,
            met_at_original_terms=None,
            met_on_record_at=None,
            met_on_record_at_original_terms=None,
            withdrawn=False,
            search_text=_search_text(a["title"], a["description"], a["external_ref"]),
            **ref.columns(),
        )
    )
    return _Keys(municipality_id=a["municipality_id"], commitment_id=a["commitment_id"])


def _commitment_amended(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    c = _need(session, Commitment, a["commitment_id"], event)
    fields = int(a["fields"])
    flags = amendment_flags(
        a["amended_at"], a["previous_target_quantity"], a["target_quantity"], a["previous_due_date"], a["due_date"]
    )
    session.add(
        Amendment(
            commitment_id=c.id,
            amendment_number=a["amendment_number"],
            registrar=a["registrar"],
            signer_held_role=_held_role(session, c.municipality_id, a["registrar"], ref),
            fields=fields,
            title=a["title"] if fields & AMEND_TITLE else None,
            description=a["description"] if fields & AMEND_DESCRIPTION else None,
            previous_target_quantity=a["previous_target_quantity"],
            target_quantity=a["target_quantity"],
            previous_due_date=a["previous_due_date"],
            due_date=a["due_date"],
            reason=a["reason"],
            amended_at=a["amended_at"],
            after_due_date=flags.after_due_date,
            lowered_target=flags.lowered_target,
            extended_due_date=flags.extended_due_date,
            **ref.columns(),
        )
    )
    if fields & AMEND_TITLE:
        c.title = a["title"]
    if fields & AMEND_DESCRIPTION:
        c.description = a["description"]
    if fields & AMEND_TARGET:
        current = _current_terms(c).retargeted(a["previous_target_quantity"], a["target_quantity"], a["amended_at"])
        _set_on_record(c, current, _original_terms(c))
    c.target_quantity = a["target_quantity"]
    c.due_date = a["due_date"]
    c.amendment_count = max(c.amendment_count, a["amendment_number"])
    c.amended_after_due_date = c.amended_after_due_date or flags.after_due_date
    c.target_lowered = c.target_lowered or flags.lowered_target
    c.search_text = _search_text(c.title, c.description, c.external_ref)
    _recompute_from_deliveries(session, c)
    return _Keys(municipality_id=c.municipality_id, commitment_id=c.id)


def _commitment_withdrawn(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    c = _need(session, Commitment, a["commitment_id"], event)
    c.withdrawn = True
    c.withdrawal_reason = a["reason"]
    c.withdrawal_registrar = a["registrar"]
    c.withdrawal_signer_held_role = _held_role(session, c.municipality_id, a["registrar"], ref)
    for name, value in ref.columns("withdrawn_").items():
        setattr(c, name, value)
    return _Keys(municipality_id=c.municipality_id, commitment_id=c.id)


def _delivery_recorded(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    c = _need(session, Commitment, a["commitment_id"], event)
    lag = recording_lag_seconds(a["delivered_at"], a["recorded_at"])
    session.add(
        Delivery(
            id=a["delivery_id"],
            commitment_id=c.id,
            delivery_number=delivery_number(a["delivery_id"]),
            registrar=a["registrar"],
            signer_held_role=_held_role(session, c.municipality_id, a["registrar"], ref),
            quantity=a["quantity"],
            delivered_at=a["delivered_at"],
            recorded_at=a["recorded_at"],
            recording_lag_seconds=lag,
            recorded_late=recorded_late(lag),
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
        first_positions.setdefault(sha256, position)  # the contract refuses repeats; be safe anyway
    for sha256, position in first_positions.items():
        session.add(
            EvidenceCitation(sha256=sha256, delivery_id=a["delivery_id"], commitment_id=c.id, position=position, **ref.columns())
        )
    quantity, recorded_at = a["quantity"], a["recorded_at"]
    _set_on_record(
        c,
        _current_terms(c).delivered(quantity, c.target_quantity, recorded_at),
        _original_terms(c).delivered(quantity, c.original_target_quantity, recorded_at),
    )
    _recompute_from_deliveries(session, c)
    return _Keys(municipality_id=c.municipality_id, commitment_id=c.id, delivery_id=a["delivery_id"])


def _delivery_revoked(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    delivery = _need(session, Delivery, a["delivery_id"], event)
    c = _need(session, Commitment, delivery.commitment_id, event)
    delivery.revoked = True
    delivery.revocation_reason = a["reason"]
    delivery.revocation_registrar = a["registrar"]
    delivery.revocation_signer_held_role = _held_role(session, c.municipality_id, a["registrar"], ref)
    for name, value in ref.columns("revoked_").items():
        setattr(delivery, name, value)
    session.flush()
    _set_on_record(
        c,
        _current_terms(c).revoked(delivery.quantity, c.target_quantity),
        _original_terms(c).revoked(delivery.quantity, c.original_target_quantity),
    )
    _recompute_from_deliveries(session, c)
    return _Keys(municipality_id=c.municipality_id, commitment_id=c.id, delivery_id=delivery.id)


_HANDLERS: dict[str, Callable[[Session, LedgerEvent, _Ref], _Keys]] = {
    "MunicipalityRegistered": _municipality_registered,
    "Paused": _pause_changed,
    "Unpaused": _pause_changed,
    "AdminRecoveryStarted": _recovery_started,
    "AdminRecoveryCancelled": _recovery_cancelled,
    "MunicipalityAdminProposed": _admin_proposed,
    "MunicipalityAdminChanged": _admin_changed,
    "RegistrarAdded": _registrar_added,
    "RegistrarRemoved": _registrar_removed,
    "CommitmentRegistered": _commitment_registered,
    "CommitmentAmended": _commitment_amended,
    "CommitmentWithdrawn": _commitment_withdrawn,
    "DeliveryRecorded": _delivery_recorded,
    "DeliveryRevoked": _delivery_revoked,
}
