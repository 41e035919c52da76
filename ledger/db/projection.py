"""The write side of the index: a pure projection of decoded ledger events, and the
indexer's checkpoint.

:func:`apply_events` is the only writer of the event-derived tables. It applies events in
(block number, log index) order; each event is recorded in ``events`` under its chain
position, and an event whose position is already there is skipped, so re-applying any range
changes nothing (batches must come in block order, as the indexer fetches them). It never
commits: the caller (the indexer loop) commits each chunk's rows together with the
checkpoint, in one transaction.

The projection reads nothing but the events, the rows earlier events produced and the batch
files it is handed (``batch_files``: SHA-256 → bytes, the evidence store's content; no chain
call, no clock). Every rule it applies comes from ``ledger.status`` (docs/LEDGER.md):

- each event writes its facts (a commitment, an amendment, a delivery, a batch, a
  revocation, a verdict, a role change);
- then, for every commitment an event touched, the derived figures are recomputed from the
  commitment's facts in log order (:func:`ledger.status.count_deliveries`): which recorded
  deliveries are double counts and which leaves of verified batches count (each leaf at its
  anchor's (block, log index), leaves in file order), ``delivered_quantity`` and
  ``met_on_record_at`` under both terms (the on-record running state, exactly as the contract
  keeps it for recorded deliveries), the claimed ``met_at`` under both terms,
  ``recorded_late_count``, each delivery's ``review`` and the confirmed figures, the stored
  ``progress_bps`` and the last change (the latest chain position among the commitment's
  facts: what lists sort on); then the roll-up of those commitments and their ancestors;
- a batch counts only once its file is known and checked (``ledger.merkle.check_batch_file``);
  a batch whose file is missing is checked again by :func:`recheck_missing_batches` (the
  indexer calls it at every pass). Because figures are recomputed from the facts in log order,
  a file that arrives late gives the same index as a file that was there from the start;
- ``signer_held_role`` of every record is read from ``registrar_terms`` (verdicts:
  ``confirmer_terms``) at the record's (block, log index), i.e. from the role events alone.
"""

from __future__ import annotations

import heapq
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence, TypeVar

from sqlalchemy import and_, func, or_, select, tuple_
from sqlalchemy.orm import Session

from ledger.db.models import (
    AdminChange,
    Amendment,
    Base,
    Batch,
    BatchedRevocation,
    BatchEvidenceCitation,
    BatchLeaf,
    CheckpointRow,
    Commitment,
    Confirmer,
    ConfirmerTerm,
    Delivery,
    EventError,
    EventRow,
    EvidenceCitation,
    IndexedBlock,
    IndexSchemaRow,
    LedgerStateRow,
    MAX_BIGINT,
    Municipality,
    Registrar,
    RegistrarTerm,
    Verdict,
    VerdictEvent,
)
from ledger.errors import ProjectionError
from ledger.events import LedgerEvent, decode_text
from ledger.limits import AMEND_DESCRIPTION, AMEND_TARGET, AMEND_TITLE, delivery_number
from ledger.status import (
    DeliveryFact,
    TargetChange,
    amendment_flags,
    claimed_met_at,
    count_deliveries,
    delivered_verdict,
    historical_record,
    leaf_is_valid,
    leaf_refusal,
    progress_bps,
    recorded_late,
    recording_lag_seconds,
    review_of,
    rollup_progress_bps,
)

log = logging.getLogger(__name__)

BatchFiles = Callable[[str], "bytes | None"]
"""Where the projection finds batch files: ``0x`` SHA-256 → the file's exact bytes, or
``None`` when it is not (yet) stored (the API's evidence store: ``EvidenceStore.read_bytes``)."""

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
    """Ids copied onto the ``events`` row for lookups, and the commitments whose derived
    figures the event may change (``commitment_id`` and ``touched``)."""

    municipality_id: int | None = None
    commitment_id: int | None = None
    delivery_id: int | None = None
    touched: frozenset[int] = field(default_factory=frozenset)


# ---------------------------------------------------------------------------- entry points


def apply_events(
    session: Session,
    events: Sequence[LedgerEvent],
    block_times: Mapping[int, int],
    *,
    batch_files: BatchFiles | None = None,
) -> int:
    """Apply decoded ledger events to the index, in (block number, log index) order, then
    recompute the derived figures of every commitment they touched (see module docstring).

    Idempotent: an event whose ``(block_number, log_index)`` is already in ``events`` (or
    repeated within ``events``) is skipped. Flushes but never commits.

    Poison-proof: each event is applied in a savepoint; when its projection raises (any
    exception: a data error must never stop the indexer) the savepoint is rolled back, the
    event is still kept in ``events`` (ids ``None``) with its error in ``event_errors``
    (exception class name and text), a warning is logged, and the next event is applied.

    Args:
        session: a session inside the caller's transaction.
        events: decoded events (``ledger.events.LedgerEvent``), in any order.
        block_times: timestamp (Unix seconds) of every block that has one of ``events``,
            by block number.
        batch_files: finds the file of each ``BatchAnchored`` by its ``fileSha256``; ``None``:
            no file is known (every new batch is ``missing``).

    Returns:
        The number of events applied (skipped ones not counted).

    An event's error (recorded, not raised) is a ``ProjectionError`` when it refers to a
    municipality, commitment, delivery or batch the index does not have (a gap in the index,
    or logs of another contract) or has an unknown name; any other exception of its
    projection is recorded the same way.

    Raises:
        ProjectionError: an event's block has no entry in ``block_times`` (the caller's
            error; nothing of that event is written).
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
    touched: set[int] = set()
    for event in ordered:
        if event.order in seen:
            continue
        seen.add(event.order)
        if event.block_number not in block_times:  # the caller's error, not the event's
            raise ProjectionError(f"No block time given for block {event.block_number} ({event.name}).")
        savepoint = session.begin_nested()
        try:
            touched |= _apply_one(session, event, block_times, batch_files)
        except Exception as exc:  # noqa: BLE001 - any data error of one event is recorded, never raised
            savepoint.rollback()
            _record_error(session, event, block_times, exc)
        else:
            savepoint.commit()
        applied += 1
    _refresh(session, touched)
    session.flush()
    return applied


def recheck_missing_batches(session: Session, batch_files: BatchFiles) -> list[str]:
    """Look again for the file of every batch that is unverified because its file was
    ``missing`` (one indexed query, then one lookup per such batch); verify each file found
    and recompute the commitments its leaves name, exactly as if the file had been there when
    the batch was indexed. Flushes but never commits (the caller commits, in one transaction).

    Args:
        session: a session inside the caller's transaction.
        batch_files: as for :func:`apply_events`.

    Returns:
        The roots of the batches whose file was found now (verified or not), oldest first.
    """
    missing = session.scalars(
        select(Batch).where(Batch.unverified_reason == "missing").order_by(Batch.block_number, Batch.log_index)
    ).all()
    found: list[str] = []
    touched: set[int] = set()
    for batch in missing:
        data = batch_files(batch.file_sha256)
        if data is None:
            continue
        found.append(batch.root)
        touched |= _check_batch(session, batch, data)
    _refresh(session, touched)
    session.flush()
    return found


KEPT_ON_ROLLBACK = frozenset({IndexSchemaRow.__tablename__, CheckpointRow.__tablename__, IndexedBlock.__tablename__})
"""Tables :func:`roll_back_to` does not rebuild from the events (it trims ``indexed_blocks``
and the caller rewrites the checkpoint)."""


def event_of_row(row: EventRow, contract_address: str) -> LedgerEvent:
    """The decoded event an ``events`` row was written from (its ``args`` without ``raw``,
    which goes back into ``raw_texts``): what :func:`apply_events` needs to apply it again."""
    args = dict(row.args)
    raw = args.pop("raw", None) or {}
    return LedgerEvent(
        name=row.name,
        args=args,
        block_number=row.block_number,
        block_hash=row.block_hash,
        transaction_hash=row.tx_hash,
        log_index=row.log_index,
        address=contract_address,
        raw_texts=dict(raw),
    )


def roll_back_to(session: Session, ancestor: int, contract_address: str, *, batch_files: BatchFiles | None = None) -> int:
    """Roll the index back to block ``ancestor`` (inclusive: its events stay): delete the
    ``events`` rows and ``indexed_blocks`` above it, empty every projected table (and
    ``event_errors``) and re-apply the remaining events in log order, which also re-derives
    every commitment's figures (the projection is a pure function of the events and the batch
    files). Flushes but never commits: the caller commits it with the new checkpoint, in one
    transaction.

    Args:
        session: a session inside the caller's transaction.
        ancestor: the common ancestor's block number.
        contract_address: the ledger contract (checksummed) the events come from.
        batch_files: as for :func:`apply_events`.

    Returns:
        The number of events removed (those above ``ancestor``).
    """
    kept = [
        event_of_row(row, contract_address)
        for row in session.scalars(
            select(EventRow).where(EventRow.block_number <= ancestor).order_by(EventRow.block_number, EventRow.log_index)
        )
    ]
    times = {
        number: block_time
        for number, block_time in session.execute(
            select(EventRow.block_number, EventRow.block_time).where(EventRow.block_number <= ancestor)
        ).tuples()
    }
    removed = session.scalar(select(func.count()).select_from(EventRow).where(EventRow.block_number > ancestor)) or 0
    session.flush()
    session.expunge_all()
    for table in reversed(Base.metadata.sorted_tables):
        if table.name not in KEPT_ON_ROLLBACK:
            session.execute(table.delete())
    session.execute(IndexedBlock.__table__.delete().where(IndexedBlock.number > ancestor))
    apply_events(session, kept, times, batch_files=batch_files)
    return int(removed)


def save_blocks(session: Session, blocks: Sequence[tuple[int, str, str]], *, keep_from: int) -> None:
    """Record indexed blocks ``(number, hash, parent hash)`` in ``indexed_blocks`` (replacing
    rows of the same number), then drop the rows below ``keep_from`` that have no event.
    Never commits."""
    for number, block_hash, parent_hash in blocks:
        session.merge(IndexedBlock(number=number, hash=block_hash, parent_hash=parent_hash))
    with_events = select(EventRow.block_number).where(EventRow.block_number < keep_from)
    session.execute(
        IndexedBlock.__table__.delete().where(IndexedBlock.number < keep_from, IndexedBlock.number.not_in(with_events))
    )
    session.flush()


def stored_blocks(session: Session, from_block: int, to_block: int) -> list[tuple[int, str]]:
    """``(number, hash)`` of the stored blocks in ``from_block..to_block`` (inclusive),
    highest first."""
    return list(
        session.execute(
            select(IndexedBlock.number, IndexedBlock.hash)
            .where(IndexedBlock.number.between(from_block, to_block))
            .order_by(IndexedBlock.number.desc())
        ).tuples()
    )


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


def _apply_one(
    session: Session, event: LedgerEvent, block_times: Mapping[int, int], batch_files: BatchFiles | None
) -> set[int]:
    """Apply one event's facts; returns the commitments whose figures it may change."""
    handler = _HANDLERS.get(event.name)
    if handler is None and event.name not in EVENTS_ONLY and event.name not in _FILE_HANDLERS:
        raise ProjectionError(f"No projection for event {event.name} at block {event.block_number}.")
    if event.block_number not in block_times:
        raise ProjectionError(f"No block time given for block {event.block_number} ({event.name}).")
    ref = _Ref(event.block_number, event.log_index, event.transaction_hash, int(block_times[event.block_number]))
    if event.name in _FILE_HANDLERS:
        keys = _FILE_HANDLERS[event.name](session, event, ref, batch_files)
    else:
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
            args=_stored_args(event),
        )
    )
    session.flush()  # later events of the batch read what this one wrote
    touched = set(keys.touched)
    if keys.commitment_id is not None:
        touched.add(keys.commitment_id)
    return touched


def _stored_args(event: LedgerEvent) -> dict[str, Any]:
    """``events.args``: the decoded arguments, plus ``raw`` (argument name → ``0x`` hex of the
    exact bytes) when a text is not the exact UTF-8 of its bytes (``ledger.events``)."""
    args = dict(event.args)
    if event.raw_texts:
        args["raw"] = dict(event.raw_texts)
    return args


def _record_error(session: Session, event: LedgerEvent, block_times: Mapping[int, int], exc: Exception) -> None:
    """Keep ``event`` in ``events`` (no ids) and its error in ``event_errors``; log it."""
    log.warning(
        "Event %s at block %d log %d not applied (%s: %s); kept in events, recorded in event_errors",
        event.name, event.block_number, event.log_index, type(exc).__name__, exc,
    )
    session.add(
        EventRow(
            block_number=event.block_number,
            log_index=event.log_index,
            name=event.name,
            tx_hash=event.transaction_hash,
            block_hash=event.block_hash,
            block_time=int(block_times.get(event.block_number, 0)),
            municipality_id=None,
            commitment_id=None,
            delivery_id=None,
            args=_stored_args(event),
        )
    )
    session.add(
        EventError(
            block_number=event.block_number,
            log_index=event.log_index,
            error_type=type(exc).__name__,
            detail=decode_text(str(exc).encode("utf-8", errors="surrogatepass"))[:2000],
        )
    )
    session.flush()


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


def _held_role(
    session: Session, municipality_id: int, account: str, ref: _Ref, terms: type[RegistrarTerm | ConfirmerTerm] = RegistrarTerm
) -> bool:
    """Whether ``account`` held the role of ``terms`` (registrar by default, or confirmer) of
    ``municipality_id`` at ``ref``'s (block, log index): an interval starts before it and has
    not ended before it (docs/LEDGER.md "Who signed it")."""
    here = tuple_(ref.block_number, ref.log_index)
    term = session.scalar(
        select(func.count())
        .select_from(terms)
        .where(
            terms.municipality_id == municipality_id,
            terms.account == account,
            tuple_(terms.block_number, terms.log_index) < here,
            or_(
                terms.removed_block_number.is_(None),
                and_(
                    terms.removed_block_number.is_not(None),
                    tuple_(terms.removed_block_number, terms.removed_log_index) > here,
                ),
            ),
        )
    )
    return bool(term)


def _normalise_asset(asset_ref: str) -> str:
    """The comparison form of an asset ref (``ledger.merkle.normalise_asset_ref``; ``""``
    stays ``""``)."""
    if asset_ref == "":
        return ""
    from ledger.merkle import normalise_asset_ref  # the one normalising rule (docs/LEDGER.md "Assets")

    return normalise_asset_ref(asset_ref)


def _storable(text: str) -> str:
    """A text from a batch file as a column can hold it and as decoded logs show it: unpaired
    surrogates become U+FFFD, NUL U+2400 "␀" (``ledger.events.decode_text``)."""
    return decode_text(text.encode("utf-8", errors="surrogatepass"))


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


def _role_added(
    session: Session, event: LedgerEvent, ref: _Ref, current: type[Registrar | Confirmer], terms: type[RegistrarTerm | ConfirmerTerm]
) -> _Keys:
    a = event.args
    _need(session, Municipality, a["municipality_id"], event)
    member = session.get(current, (a["municipality_id"], a["account"]))
    if member is None:
        member = current(municipality_id=a["municipality_id"], account=a["account"])
        session.add(member)
    member.active = True
    member.added_by = a["by"]
    for name, value in ref.columns().items():
        setattr(member, name, value)
    member.removed_by = None
    for name in ref.columns("removed_"):
        setattr(member, name, None)
    session.add(terms(municipality_id=a["municipality_id"], account=a["account"], added_by=a["by"], **ref.columns()))
    return _Keys(municipality_id=a["municipality_id"])


def _role_removed(
    session: Session, event: LedgerEvent, ref: _Ref, current: type[Registrar | Confirmer], terms: type[RegistrarTerm | ConfirmerTerm]
) -> _Keys:
    a = event.args
    member = _need(session, current, (a["municipality_id"], a["account"]), event)
    member.active = False
    member.removed_by = a["by"]
    for name, value in ref.columns("removed_").items():
        setattr(member, name, value)
    term = session.scalar(
        select(terms).where(
            terms.municipality_id == a["municipality_id"],
            terms.account == a["account"],
            terms.removed_block_number.is_(None),
        )
    )
    if term is None:
        raise ProjectionError(
            f"{event.name} at block {event.block_number} log {event.log_index}: {a['account']} holds no "
            f"{terms.__tablename__[:-1].replace('_', ' ')} of municipality {a['municipality_id']} in the index. "
            f"Rebuild it from the deploy block."
        )
    term.removed_by = a["by"]
    for name, value in ref.columns("removed_").items():
        setattr(term, name, value)
    return _Keys(municipality_id=a["municipality_id"])


def _registrar_added(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    return _role_added(session, event, ref, Registrar, RegistrarTerm)


def _registrar_removed(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    return _role_removed(session, event, ref, Registrar, RegistrarTerm)


def _confirmer_added(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    return _role_added(session, event, ref, Confirmer, ConfirmerTerm)


def _confirmer_removed(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    return _role_removed(session, event, ref, Confirmer, ConfirmerTerm)


# ---------------------------------------------------------------------------- handlers: registrar


def _commitment_registered(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    _need(session, Municipality, a["municipality_id"], event)
    source = a["source_document_hash"]
    parent_id = int(a.get("parent_id", 0)) or None
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
            parent_id=parent_id,
            weight=int(a.get("weight", 0)),
            batched_delivery_count=0,
            confirmed_quantity=0,
            disputed_quantity=0,
            met_at_confirmed=None,
            rollup_progress_bps=None,
            rollup_children_counted=0,
            rollup_children_delivered=0,
            progress_bps=0,
            last_changed_at=ref.block_time,
            last_change_block=ref.block_number,
            last_change_log_index=ref.log_index,
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
    c.target_quantity = a["target_quantity"]
    c.due_date = a["due_date"]
    c.amendment_count = max(c.amendment_count, a["amendment_number"])
    c.amended_after_due_date = c.amended_after_due_date or flags.after_due_date
    c.target_lowered = c.target_lowered or flags.lowered_target
    c.search_text = _search_text(c.title, c.description, c.external_ref)
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
    asset_ref = a.get("asset_ref", "")
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
            asset_ref=asset_ref,
            asset_key=_normalise_asset(asset_ref),
            double_counted=False,
            review="unconfirmed",
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
    return _Keys(municipality_id=c.municipality_id, commitment_id=c.id, delivery_id=delivery.id)


# ---------------------------------------------------------------------------- handlers: batches


def _batch_anchored(session: Session, event: LedgerEvent, ref: _Ref, batch_files: BatchFiles | None) -> _Keys:
    a = event.args
    _need(session, Municipality, a["municipality_id"], event)
    batch = Batch(
        root=a["root"],
        municipality_id=a["municipality_id"],
        registrar=a["registrar"],
        signer_held_role=_held_role(session, a["municipality_id"], a["registrar"], ref),
        leaf_count=a["leaf_count"],
        file_sha256=a["file_sha256"],
        file_uri=a["file_uri"],
        anchored_at=a["anchored_at"],
        verified=False,
        unverified_reason="missing",
        **ref.columns(),
    )
    session.add(batch)
    session.flush()
    data = batch_files(batch.file_sha256) if batch_files is not None else None
    touched = _check_batch(session, batch, data) if data is not None else set()
    return _Keys(municipality_id=batch.municipality_id, touched=frozenset(touched))


def _check_batch(session: Session, batch: Batch, data: bytes) -> set[int]:
    """Check a batch's file (``ledger.merkle.check_batch_file``) and, when it verifies, write
    its leaves (docs/LEDGER.md "Batches"); their ``counted`` / ``refused_reason`` are set by
    :func:`_refresh`. Returns the commitments the leaves name."""
    from ledger.merkle import check_batch_file, leaf_problems  # the one Merkle implementation

    checked = check_batch_file(
        data, anchored_root=batch.root, anchored_sha256=batch.file_sha256, anchored_leaf_count=batch.leaf_count
    )
    if not checked.verified:
        batch.verified = False
        batch.unverified_reason = str(checked.reason.value) if checked.reason is not None else "unparseable"
        return set()
    batch.verified = True
    batch.unverified_reason = None
    touched: set[int] = set()
    for parsed in checked.leaves:
        commitment_id = parsed.commitment_id
        fits = commitment_id <= MAX_BIGINT
        delivered_at = parsed.delivered_at
        evidence = list(parsed.evidence_hashes)
        lag = batch.anchored_at - delivered_at
        session.add(
            BatchLeaf(
                root=batch.root,
                leaf_index=parsed.value_index,
                leaf_hash=parsed.leaf_hash.lower(),
                commitment_id=commitment_id if fits else None,
                quantity=parsed.quantity,
                delivered_at=delivered_at,
                recording_lag_seconds=lag if 0 <= lag <= MAX_BIGINT else None,
                recorded_late=0 <= lag and recorded_late(lag),
                evidence_hashes=evidence,
                evidence_uri=_storable(parsed.evidence_uri),
                note=_storable(parsed.note),
                external_ref=_storable(parsed.external_ref),
                asset_ref=_storable(parsed.asset_ref),
                asset_key=_storable(_normalise_asset(parsed.asset_ref)),
                values_json=json.dumps(parsed.values, ensure_ascii=True),
                proof=[h.lower() for h in parsed.proof],
                valid=leaf_is_valid(leaf_problems(parsed.leaf), delivered_at, batch.anchored_at),
                counted=False,
                refused_reason="unknown_commitment",  # until its commitment's figures are computed
                review="unconfirmed",
                revoked=False,
            )
        )
        first_positions: dict[str, int] = {}
        for position, sha256 in enumerate(evidence):
            first_positions.setdefault(sha256, position)
        for sha256, position in first_positions.items():
            session.add(BatchEvidenceCitation(sha256=sha256, root=batch.root, leaf_index=parsed.value_index, position=position))
        if fits:
            touched.add(commitment_id)
    session.flush()
    return touched


def _batched_delivery_revoked(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    batch = _need(session, Batch, a["root"], event)
    session.add(
        BatchedRevocation(
            root=batch.root,
            leaf_hash=a["leaf_hash"],
            commitment_id=a["commitment_id"],
            registrar=a["registrar"],
            signer_held_role=_held_role(session, batch.municipality_id, a["registrar"], ref),
            reason=a["reason"],
            revoked_at=a["revoked_at"],
            **ref.columns(),
        )
    )
    return _Keys(municipality_id=batch.municipality_id, commitment_id=a["commitment_id"])


# ---------------------------------------------------------------------------- handlers: confirmer


_VERDICT_EVENTS = {
    "DeliveryConfirmed": "confirmed",
    "DeliveryDisputed": "disputed",
    "BatchedDeliveryConfirmed": "confirmed",
    "BatchedDeliveryDisputed": "disputed",
}


def batched_delivery_key(root: str, leaf_hash: str) -> str:
    """``delivery_key`` of a batched delivery in ``verdicts``: ``<root>/<leaf hash>``."""
    return f"{root.lower()}/{leaf_hash.lower()}"


def _verdict_given(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    verdict = _VERDICT_EVENTS[event.name]
    if event.name.startswith("Batched"):
        batch = _need(session, Batch, a["root"], event)
        municipality_id = batch.municipality_id
        commitment_id = a["commitment_id"]
        key = batched_delivery_key(a["root"], a["leaf_hash"])
        subject: dict[str, Any] = {"delivery_id": None, "root": a["root"], "leaf_hash": a["leaf_hash"]}
        delivery_id = None
        at = a["confirmed_at"] if verdict == "confirmed" else a["disputed_at"]
    else:
        delivery = _need(session, Delivery, a["delivery_id"], event)
        commitment_id = delivery.commitment_id
        municipality_id = _need(session, Commitment, commitment_id, event).municipality_id
        key = str(delivery.id)
        subject = {"delivery_id": delivery.id, "root": None, "leaf_hash": None}
        delivery_id = delivery.id
        at = a["confirmed_at"] if verdict == "confirmed" else a["disputed_at"]
    evidence = a.get("evidence_hash") if verdict == "confirmed" else None
    values = {
        "delivery_key": key,
        **subject,
        "commitment_id": commitment_id,
        "confirmer": a["confirmer"],
        "verdict": verdict,
        "evidence_hash": None if evidence in (None, ZERO_HASH) else evidence,
        "reason": a["reason"] if verdict == "disputed" else None,
        "at": at,
        "signer_held_role": _held_role(session, municipality_id, a["confirmer"], ref, ConfirmerTerm),
        **ref.columns(),
    }
    session.add(VerdictEvent(**values))
    latest = session.get(Verdict, (key, a["confirmer"]))
    if latest is None:
        session.add(Verdict(**values))
    else:
        for name, value in values.items():
            setattr(latest, name, value)
    return _Keys(municipality_id=municipality_id, commitment_id=commitment_id, delivery_id=delivery_id)


# ---------------------------------------------------------------------------- derived figures


def _refresh(session: Session, touched: set[int]) -> None:
    """Recompute the derived figures of the ``touched`` commitments (those that exist), then
    the roll-up of them and their ancestors."""
    if not touched:
        return
    session.flush()
    for commitment_id in sorted(touched):
        c = session.get(Commitment, commitment_id)
        if c is not None:
            _rederive(session, c)
    session.flush()
    _rollup(session, touched)


def _position(block_number: int, log_index: int, leaf_index: int = 0) -> tuple[int, int, int]:
    return (block_number, log_index, leaf_index)


def _rederive(session: Session, c: Commitment) -> None:
    """A commitment's derived figures from its facts in log order (module docstring;
    ``ledger.status.count_deliveries``), and the derived columns of its deliveries and leaves."""
    registered = _position(c.block_number, c.log_index)
    withdrawn = _position(c.withdrawn_block_number, c.withdrawn_log_index) if c.withdrawn else None
    amendments = list(session.scalars(select(Amendment).where(Amendment.commitment_id == c.id)))
    changes = [
        TargetChange(_position(a.block_number, a.log_index), a.previous_target_quantity, a.target_quantity, a.amended_at)
        for a in amendments
        if a.fields & AMEND_TARGET
    ]
    deliveries = list(session.scalars(select(Delivery).where(Delivery.commitment_id == c.id)))
    leaves = session.execute(
        select(BatchLeaf, Batch)
        .join(Batch, Batch.root == BatchLeaf.root)
        .where(BatchLeaf.commitment_id == c.id)
        .order_by(Batch.block_number, Batch.log_index, BatchLeaf.leaf_index)
    ).tuples().all()
    revocations = {
        (r.root, r.leaf_hash): r
        for r in session.scalars(select(BatchedRevocation).where(BatchedRevocation.commitment_id == c.id))
    }
    verdicts: dict[str, list[str]] = {}
    for key, verdict in session.execute(
        select(Verdict.delivery_key, Verdict.verdict).where(Verdict.commitment_id == c.id)
    ).tuples():
        verdicts.setdefault(key, []).append(verdict)

    facts: list[DeliveryFact] = []
    for d in deliveries:
        facts.append(
            DeliveryFact(
                key=str(d.id),
                position=_position(d.block_number, d.log_index),
                quantity=d.quantity,
                delivered_at=d.delivered_at,
                recorded_at=d.recorded_at,
                external_ref=d.external_ref,
                asset_key=d.asset_key,
                revoked_at_position=_position(d.revoked_block_number, d.revoked_log_index) if d.revoked else None,
            )
        )
    for leaf, batch in leaves:
        anchor = _position(batch.block_number, batch.log_index)
        revocation = revocations.get((leaf.root, leaf.leaf_hash))
        facts.append(
            DeliveryFact(
                key=batched_delivery_key(leaf.root, leaf.leaf_hash) + f"#{leaf.leaf_index}",
                position=_position(batch.block_number, batch.log_index, leaf.leaf_index),
                quantity=leaf.quantity,
                delivered_at=leaf.delivered_at,
                recorded_at=batch.anchored_at,
                external_ref=leaf.external_ref,
                asset_key=leaf.asset_key,
                batched=True,
                refused_reason=leaf_refusal(
                    registered_before_anchor=registered < anchor,
                    same_municipality=batch.municipality_id == c.municipality_id,
                    withdrawn_before_anchor=withdrawn is not None and withdrawn < anchor,
                    valid=leaf.valid,
                ),
                revoked_at_position=None
                if revocation is None
                else _position(revocation.block_number, revocation.log_index),
            )
        )
    counted = count_deliveries(c.original_target_quantity, changes, facts)

    c.delivered_quantity = counted.current.total
    c.met_on_record_at = counted.current.met_at
    c.met_on_record_at_original_terms = counted.original.met_at
    claims = [(f.delivered_at, f.quantity) for f in counted.counting]
    c.met_at = claimed_met_at(claims, c.target_quantity)
    c.met_at_original_terms = claimed_met_at(claims, c.original_target_quantity)
    c.recorded_late_count = sum(1 for f in counted.counting if recorded_late(f.recorded_at - f.delivered_at))
    c.batched_delivery_count = len(leaves)

    reviews: dict[str, str] = {}
    for d in deliveries:
        d.double_counted = counted.refused.get(str(d.id)) is not None
        d.review = reviews[str(d.id)] = review_of(verdicts.get(str(d.id), ()))
    for leaf, _batch in leaves:
        key = batched_delivery_key(leaf.root, leaf.leaf_hash)
        reason = counted.refused.get(key + f"#{leaf.leaf_index}")
        leaf.counted = reason is None
        leaf.refused_reason = reason
        leaf.review = reviews[key + f"#{leaf.leaf_index}"] = review_of(verdicts.get(key, ()))
        _copy_revocation(leaf, revocations.get((leaf.root, leaf.leaf_hash)))
    confirmed = [f for f in counted.counting if reviews[f.key] == "confirmed"]
    c.confirmed_quantity = sum(f.quantity for f in confirmed)
    c.disputed_quantity = sum(f.quantity for f in counted.counting if reviews[f.key] == "disputed")
    c.met_at_confirmed = claimed_met_at([(f.delivered_at, f.quantity) for f in confirmed], c.target_quantity)
    c.progress_bps = min(progress_bps(c.delivered_quantity, c.target_quantity), MAX_BIGINT)

    changed: list[tuple[int, int, int]] = [(c.block_number, c.log_index, c.block_time)]
    if c.withdrawn:
        changed.append((c.withdrawn_block_number, c.withdrawn_log_index, c.withdrawn_block_time))
    changed += [(a.block_number, a.log_index, a.block_time) for a in amendments]
    for d in deliveries:
        changed.append((d.block_number, d.log_index, d.block_time))
        if d.revoked:
            changed.append((d.revoked_block_number, d.revoked_log_index, d.revoked_block_time))
    changed += [(batch.block_number, batch.log_index, batch.block_time) for _leaf, batch in leaves]
    changed += [(r.block_number, r.log_index, r.block_time) for r in revocations.values()]
    latest_verdict = session.execute(
        select(VerdictEvent.block_number, VerdictEvent.log_index, VerdictEvent.block_time)
        .where(VerdictEvent.commitment_id == c.id)
        .order_by(VerdictEvent.block_number.desc(), VerdictEvent.log_index.desc())
        .limit(1)
    ).first()
    if latest_verdict is not None:
        changed.append(tuple(latest_verdict))
    c.last_change_block, c.last_change_log_index, c.last_changed_at = max(changed)


def _copy_revocation(leaf: BatchLeaf, revocation: BatchedRevocation | None) -> None:
    leaf.revoked = revocation is not None
    leaf.revocation_reason = revocation.reason if revocation else None
    leaf.revocation_registrar = revocation.registrar if revocation else None
    leaf.revocation_signer_held_role = revocation.signer_held_role if revocation else None
    leaf.revoked_block_number = revocation.block_number if revocation else None
    leaf.revoked_log_index = revocation.log_index if revocation else None
    leaf.revoked_tx_hash = revocation.tx_hash if revocation else None
    leaf.revoked_block_time = revocation.block_time if revocation else None


def _rollup_value(c: Commitment) -> int:
    """What a child brings to its parent's roll-up: its own roll-up if it has children, else
    its own progress capped (``ledger.status.rollup_progress_bps``)."""
    if c.rollup_progress_bps is not None:
        return c.rollup_progress_bps
    return rollup_progress_bps(progress_bps(c.delivered_quantity, c.target_quantity), ())


def _rollup(session: Session, touched: set[int]) -> None:
    """Roll-up of the touched commitments and all their ancestors (docs/LEDGER.md
    "Sub-commitments"), children before parents: a parent is registered before its children,
    so its id is smaller, and ids are taken largest first."""
    heap = [-commitment_id for commitment_id in touched]
    heapq.heapify(heap)
    done: set[int] = set()
    while heap:
        commitment_id = -heapq.heappop(heap)
        if commitment_id in done:
            continue
        done.add(commitment_id)
        c = session.get(Commitment, commitment_id)
        if c is None:
            continue
        children = list(session.scalars(select(Commitment).where(Commitment.parent_id == c.id)))
        live = [child for child in children if not child.withdrawn]
        own = progress_bps(c.delivered_quantity, c.target_quantity)
        c.rollup_progress_bps = (
            rollup_progress_bps(own, [(child.weight, _rollup_value(child)) for child in live]) if children else None
        )
        c.rollup_children_counted = len(live)
        c.rollup_children_delivered = sum(1 for child in live if delivered_verdict(child.withdrawn, child.met_at))
        if c.parent_id is not None:
            heapq.heappush(heap, -c.parent_id)


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
    "ConfirmerAdded": _confirmer_added,
    "ConfirmerRemoved": _confirmer_removed,
    "CommitmentRegistered": _commitment_registered,
    "CommitmentAmended": _commitment_amended,
    "CommitmentWithdrawn": _commitment_withdrawn,
    "DeliveryRecorded": _delivery_recorded,
    "DeliveryRevoked": _delivery_revoked,
    "BatchedDeliveryRevoked": _batched_delivery_revoked,
    "DeliveryConfirmed": _verdict_given,
    "DeliveryDisputed": _verdict_given,
    "BatchedDeliveryConfirmed": _verdict_given,
    "BatchedDeliveryDisputed": _verdict_given,
}

_FILE_HANDLERS: dict[str, Callable[[Session, LedgerEvent, _Ref, BatchFiles | None], _Keys]] = {
    "BatchAnchored": _batch_anchored,
}
"""Handlers that also read batch files."""
