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
- then, for every commitment an event touched, the derived figures follow from the
  commitment's facts in log order (:func:`ledger.status.count_deliveries`; stepped one fact at
  a time by :class:`ledger.status.DeliveryCounter` when the fact comes after all earlier ones,
  else recomputed from all of them: :func:`apply_events`, "How"): which recorded
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

import gc
import heapq
import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

from sqlalchemy import Table, bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

from ledger.db.engine import database_unavailable
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
    search_fold,
    version_hold,
    version_release,
)
from ledger.errors import ProjectionError
from ledger.events import LedgerEvent, decode_text
from ledger.limits import AMEND_DESCRIPTION, AMEND_TARGET, AMEND_TITLE, delivery_number
from ledger.status import (
    SETTLED_COLUMNS,
    VERDICTS,
    DeliveryCounter,
    DeliveryFact,
    OnRecord,
    TargetChange,
    amendment_flags,
    claimed_met_at,
    claimed_met_at_known,
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
    settled_status,
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

    def columns(self, prefix: str = "", *, none: bool = False) -> dict[str, object]:
        """The chain reference as column values, names prefixed (``"revoked_"``, ...);
        all ``None`` when ``none``."""
        return {
            f"{prefix}block_number": None if none else self.block_number,
            f"{prefix}log_index": None if none else self.log_index,
            f"{prefix}tx_hash": None if none else self.tx_hash,
            f"{prefix}block_time": None if none else self.block_time,
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
    bring the derived figures of every commitment they touched up to date (see module
    docstring).

    Idempotent: an event whose ``(block_number, log_index)`` is already in ``events`` (or
    repeated within ``events``) is skipped. Flushes but never commits.

    Poison-proof: when an event's projection raises (any exception: a data error must never
    stop the indexer) nothing of it is applied but its ``events`` row (ids ``None``) and its
    error in ``event_errors`` (exception class name and text); a warning is logged and the
    next event is applied. The database's own state is not an event's error: a busy or locked
    SQLite file or a lost connection (``ledger.db.engine.database_unavailable``) is raised, so
    the caller rolls the chunk back and retries it.

    How (the result is the same as :func:`apply_events_one_by_one`, the reference:
    tests/db/test_projection_incremental.py): runs of consecutive registrations, amendments,
    withdrawals, recorded deliveries, their revocations and verdicts (:data:`FAST_EVENTS`) go
    through the fast path (:class:`_Chunk`): one query per table preloads the rows the run
    names, each event is checked and applied in memory, and its figures are stepped
    (``ledger.status.DeliveryCounter``, ``claimed_met_at_known``): O(1) per event whatever
    the number of deliveries of its commitment, but for a claimed ``met_at`` that does not
    follow from its previous value (the target crossed, a claim dated before it added or
    removed, a target change, a verdict on a delivery claimed by then): one query of the
    commitment's counting deliveries and leaves. The run's rows are then written with one
    executemany per table. A fact that is not after all the earlier facts of its commitment
    (not in log order) has that commitment re-derived in full at the end, as has every
    commitment an event of any other kind touched (each such event in its own savepoint, as
    in the reference). If the fast path meets anything it does not expect (a row that would
    not fit a table, a repeated id), it is undone (savepoint) and the run is applied event by
    event. Roll-ups: once per call for each distinct commitment whose children changed, and
    its ancestors.

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
            error; nothing of the events is written).
    """
    fresh = _fresh_events(session, events, block_times)
    if not fresh:
        session.flush()
        return 0
    rederive: set[int] = set()
    changed: set[int] = set()
    with _one_version_step(session):
        start = 0
        while start < len(fresh):
            fast = fresh[start].name in FAST_EVENTS
            end = start
            while end < len(fresh) and (fresh[end].name in FAST_EVENTS) == fast:
                end += 1
            run = fresh[start:end]
            if not fast or not _apply_fast(session, run, block_times, rederive, changed):
                rederive |= _apply_each(session, run, block_times, batch_files)
            start = end
        _refresh(session, rederive, changed)
    return len(fresh)


def apply_events_one_by_one(
    session: Session,
    events: Sequence[LedgerEvent],
    block_times: Mapping[int, int],
    *,
    batch_files: BatchFiles | None = None,
) -> int:
    """:func:`apply_events` the reference way, the index it builds being the same: each
    event in its own savepoint (flushed), then every commitment an event touched re-derived
    in full from its facts (:func:`_rederive`) and rolled up. Slower (a flush per event, and
    O(facts) per touched commitment per call): for tests and benches. Same arguments,
    result and errors as :func:`apply_events`."""
    fresh = _fresh_events(session, events, block_times)
    if not fresh:
        session.flush()
        return 0
    with _one_version_step(session):
        _refresh(session, _apply_each(session, fresh, block_times, batch_files), set())
    return len(fresh)


@contextmanager
def _one_version_step(session: Session) -> Iterator[None]:
    """Raise the index version (``ledger.db.models.VERSION_TABLE``) once for all the
    commitment writes of the block instead of once per row or statement by its triggers
    (held back meanwhile: ``ledger.db.models.version_hold``, never seen by another
    connection). Flushes at the end. On an exception nothing is undone here: the caller rolls
    the transaction back (which undoes the hold), as it must after any failed projection
    call. A nested block ends the holding early (harmless: the triggers raise the version
    again)."""
    dialect = session.get_bind().dialect.name
    for statement in version_hold(dialect):
        session.execute(text(statement))
    yield
    session.flush()
    for statement in version_release(dialect):
        session.execute(text(statement))


def _fresh_events(session: Session, events: Sequence[LedgerEvent], block_times: Mapping[int, int]) -> list[LedgerEvent]:
    """``events`` in log order, without those already in ``events`` or repeated.

    Raises:
        ProjectionError: an event's block has no entry in ``block_times``.
    """
    ordered = sorted(events, key=lambda e: e.order)
    if not ordered:
        return []
    seen = set(
        session.execute(
            select(EventRow.block_number, EventRow.log_index).where(
                EventRow.block_number.between(ordered[0].block_number, ordered[-1].block_number)
            )
        )
    )
    fresh: list[LedgerEvent] = []
    for event in ordered:
        if event.order in seen:
            continue
        seen.add(event.order)
        if event.block_number not in block_times:  # the caller's error, not the event's
            raise ProjectionError(f"No block time given for block {event.block_number} ({event.name}).")
        fresh.append(event)
    return fresh


def _apply_each(
    session: Session, events: Sequence[LedgerEvent], block_times: Mapping[int, int], batch_files: BatchFiles | None
) -> set[int]:
    """Apply ``events`` one by one, each in its own savepoint (an event that raises is
    recorded with its error); returns the commitments whose figures they may change."""
    touched: set[int] = set()
    for event in events:
        savepoint = session.begin_nested()
        try:
            touched |= _apply_one(session, event, block_times, batch_files)
        except Exception as exc:  # noqa: BLE001 - any data error of one event is recorded, never raised
            savepoint.rollback()
            if database_unavailable(exc):
                raise  # the database's state, not the event's: the caller retries the chunk
            _record_error(session, event, block_times, exc)
        else:
            savepoint.commit()
    return touched


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
    if touched:
        with _one_version_step(session):
            _refresh(session, touched, set())
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
        )
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
        )
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
    session.add(EventRow(**_event_values(event, ref.block_time, keys)))
    session.flush()  # later events of the batch read what this one wrote
    touched = set(keys.touched)
    if keys.commitment_id is not None:
        touched.add(keys.commitment_id)
    return touched


def _event_values(event: LedgerEvent, block_time: int, keys: _Keys) -> dict[str, Any]:
    """The ``events`` row of ``event`` (its ids from ``keys``)."""
    return {
        "block_number": event.block_number,
        "log_index": event.log_index,
        "name": event.name,
        "tx_hash": event.transaction_hash,
        "block_hash": event.block_hash,
        "block_time": block_time,
        "municipality_id": keys.municipality_id,
        "commitment_id": keys.commitment_id,
        "delivery_id": keys.delivery_id,
        "args": _stored_args(event),
    }


def _stored_args(event: LedgerEvent) -> dict[str, Any]:
    """``events.args``: the decoded arguments, plus ``raw`` (argument name → ``0x`` hex of the
    exact bytes) when a text is not the exact UTF-8 of its bytes (``ledger.events``)."""
    args = dict(event.args)
    if event.raw_texts:
        args["raw"] = dict(event.raw_texts)
    return args


def _record_error(session: Session, event: LedgerEvent, block_times: Mapping[int, int], exc: Exception) -> None:
    """Keep ``event`` in ``events`` (no ids) and its error in ``event_errors``; log it."""
    _log_error(event, exc)
    session.add(EventRow(**_event_values(event, int(block_times.get(event.block_number, 0)), _Keys())))
    session.add(EventError(**_error_values(event, exc)))
    session.flush()


def _log_error(event: LedgerEvent, exc: Exception) -> None:
    log.warning(
        "Event %s at block %d log %d not applied (%s: %s); kept in events, recorded in event_errors",
        event.name, event.block_number, event.log_index, type(exc).__name__, exc,
    )


def _error_values(event: LedgerEvent, exc: Exception) -> dict[str, Any]:
    """The ``event_errors`` row of ``event`` whose projection raised ``exc``."""
    return {
        "block_number": event.block_number,
        "log_index": event.log_index,
        "error_type": type(exc).__name__,
        "detail": decode_text(str(exc).encode("utf-8", errors="surrogatepass"))[:2000],
    }


def _need(session: Session, model: type[_Row], key: object, event: LedgerEvent) -> _Row:
    """The row ``key`` of ``model`` that ``event`` refers to.

    Raises:
        ProjectionError: no such row (a gap in the index, or another contract's events).
    """
    row = session.get(model, key)
    if row is None:
        raise _unknown(model, key, event)
    return row


def _unknown(model: type[Base], key: object, event: LedgerEvent) -> ProjectionError:
    """The error of ``event`` referring to row ``key`` of ``model`` that the index lacks."""
    return ProjectionError(
        f"{event.name} at block {event.block_number} log {event.log_index} refers to unknown "
        f"{model.__tablename__} {key!r}: the index has a gap or holds another contract's "
        f"events. Rebuild it from the deploy block."
    )


def _search_text(*parts: str) -> str:
    """The fields in their search form (``ledger.db.models.search_fold``: NFC, lowercased)
    joined by a unit separator, so a match never spans two fields."""
    return "\x1f".join(search_fold(part) for part in parts)


def _held_role(
    session: Session, municipality_id: int, account: str, ref: _Ref, terms: type[RegistrarTerm | ConfirmerTerm] = RegistrarTerm
) -> bool:
    """Whether ``account`` held the role of ``terms`` (registrar by default, or confirmer) of
    ``municipality_id`` at ``ref``'s (block, log index) (:func:`_holds`, on its terms)."""
    rows = session.execute(
        select(terms.block_number, terms.log_index, terms.removed_block_number, terms.removed_log_index).where(
            terms.municipality_id == municipality_id, terms.account == account
        )
    )
    return _holds([_term_interval(*row) for row in rows], ref)


_Interval = tuple[tuple[int, int], "tuple[int, int] | None"]


def _term_interval(block_number: int, log_index: int, removed_block: int | None, removed_log: int | None) -> _Interval:
    return (block_number, log_index), None if removed_block is None else (removed_block, removed_log or 0)


def _holds(intervals: Sequence[_Interval], ref: _Ref) -> bool:
    """Whether one of a member's role intervals covers ``ref``: it starts before the
    (block, log index) and has not ended before it (docs/LEDGER.md "Who signed it")."""
    here = (ref.block_number, ref.log_index)
    return any(start < here and (end is None or end > here) for start, end in intervals)


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
    session.add(Commitment(**_commitment_values(a, ref, _held_role(session, a["municipality_id"], a["registrar"], ref))))
    return _Keys(municipality_id=a["municipality_id"], commitment_id=a["commitment_id"])


def _commitment_values(a: Mapping[str, Any], ref: _Ref, signer_held_role: bool) -> dict[str, Any]:
    """The ``commitments`` row a ``CommitmentRegistered`` (args ``a``) writes."""
    source = a["source_document_hash"]
    parent_id = int(a.get("parent_id", 0)) or None
    values = dict(
        id=a["commitment_id"],
        municipality_id=a["municipality_id"],
        registrar=a["registrar"],
        signer_held_role=signer_held_role,
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
        withdrawal_reason=None,
        withdrawal_registrar=None,
        withdrawal_signer_held_role=None,
        **ref.columns("withdrawn_", none=True),
        **ref.columns(),
    )
    values.update(_settled_values(values.__getitem__))
    return values


def _commitment_amended(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    c = _need(session, Commitment, a["commitment_id"], event)
    session.add(Amendment(**_amendment_values(a, ref, _held_role(session, c.municipality_id, a["registrar"], ref))))
    _amend(c, a)
    return _Keys(municipality_id=c.municipality_id, commitment_id=c.id)


def _amendment_values(a: Mapping[str, Any], ref: _Ref, signer_held_role: bool) -> dict[str, Any]:
    """The ``amendments`` row a ``CommitmentAmended`` (args ``a``) writes."""
    fields = int(a["fields"])
    flags = amendment_flags(
        a["amended_at"], a["previous_target_quantity"], a["target_quantity"], a["previous_due_date"], a["due_date"]
    )
    return dict(
        commitment_id=a["commitment_id"],
        amendment_number=a["amendment_number"],
        registrar=a["registrar"],
        signer_held_role=signer_held_role,
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


def _amend(c: Any, a: Mapping[str, Any]) -> None:
    """Set a commitment's terms and texts as a ``CommitmentAmended`` (args ``a``) does
    (``c``: a ``Commitment`` or the fast path's row)."""
    fields = int(a["fields"])
    flags = amendment_flags(
        a["amended_at"], a["previous_target_quantity"], a["target_quantity"], a["previous_due_date"], a["due_date"]
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


def _commitment_withdrawn(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    c = _need(session, Commitment, a["commitment_id"], event)
    _withdraw(c, a, ref, _held_role(session, c.municipality_id, a["registrar"], ref))
    return _Keys(municipality_id=c.municipality_id, commitment_id=c.id)


def _withdraw(c: Any, a: Mapping[str, Any], ref: _Ref, signer_held_role: bool) -> None:
    """Mark a commitment withdrawn as a ``CommitmentWithdrawn`` (args ``a``) does."""
    c.withdrawn = True
    c.withdrawal_reason = a["reason"]
    c.withdrawal_registrar = a["registrar"]
    c.withdrawal_signer_held_role = signer_held_role
    for name, value in ref.columns("withdrawn_").items():
        setattr(c, name, value)


def _delivery_recorded(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    c = _need(session, Commitment, a["commitment_id"], event)
    session.add(Delivery(**_delivery_values(a, ref, _held_role(session, c.municipality_id, a["registrar"], ref))))
    session.flush()  # the delivery must exist before its citations (foreign keys)
    for values in _citation_values(a, ref):
        session.add(EvidenceCitation(**values))
    return _Keys(municipality_id=c.municipality_id, commitment_id=c.id, delivery_id=a["delivery_id"])


def _delivery_values(a: Mapping[str, Any], ref: _Ref, signer_held_role: bool) -> dict[str, Any]:
    """The ``deliveries`` row a ``DeliveryRecorded`` (args ``a``) writes (not yet decided:
    counted, unconfirmed)."""
    lag = recording_lag_seconds(a["delivered_at"], a["recorded_at"])
    asset_ref = a.get("asset_ref", "")
    return dict(
        id=a["delivery_id"],
        commitment_id=a["commitment_id"],
        delivery_number=delivery_number(a["delivery_id"]),
        registrar=a["registrar"],
        signer_held_role=signer_held_role,
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
        revocation_reason=None,
        revocation_registrar=None,
        revocation_signer_held_role=None,
        **ref.columns("revoked_", none=True),
        **ref.columns(),
    )


def _citation_values(a: Mapping[str, Any], ref: _Ref) -> list[dict[str, Any]]:
    """The ``evidence_citations`` rows of a ``DeliveryRecorded`` (args ``a``): each hash once,
    at its first position."""
    first_positions: dict[str, int] = {}
    for position, sha256 in enumerate(a["evidence_hashes"]):
        first_positions.setdefault(sha256, position)  # the contract refuses repeats; be safe anyway
    return [
        dict(sha256=sha256, delivery_id=a["delivery_id"], commitment_id=a["commitment_id"], position=position, **ref.columns())
        for sha256, position in first_positions.items()
    ]


def _delivery_revoked(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    delivery = _need(session, Delivery, a["delivery_id"], event)
    c = _need(session, Commitment, delivery.commitment_id, event)
    _revoke(delivery, a, ref, _held_role(session, c.municipality_id, a["registrar"], ref))
    return _Keys(municipality_id=c.municipality_id, commitment_id=c.id, delivery_id=delivery.id)


def _revoke(delivery: Any, a: Mapping[str, Any], ref: _Ref, signer_held_role: bool) -> None:
    """Mark a delivery revoked as a ``DeliveryRevoked`` (args ``a``) does."""
    delivery.revoked = True
    delivery.revocation_reason = a["reason"]
    delivery.revocation_registrar = a["registrar"]
    delivery.revocation_signer_held_role = signer_held_role
    for name, value in ref.columns("revoked_").items():
        setattr(delivery, name, value)


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


def _verdict_values(
    event: LedgerEvent, key: str, subject: dict[str, Any], commitment_id: int, ref: _Ref, signer_held_role: bool
) -> dict[str, Any]:
    """The ``verdict_history`` row (and latest ``verdicts`` row) of a verdict event on the
    delivery ``key`` (``subject``: its ``delivery_id`` / ``root`` / ``leaf_hash``)."""
    a = event.args
    verdict = _VERDICT_EVENTS[event.name]
    evidence = a.get("evidence_hash") if verdict == "confirmed" else None
    return {
        "delivery_key": key,
        **subject,
        "commitment_id": commitment_id,
        "confirmer": a["confirmer"],
        "verdict": verdict,
        "evidence_hash": None if evidence in (None, ZERO_HASH) else evidence,
        "reason": a["reason"] if verdict == "disputed" else None,
        "at": a["confirmed_at"] if verdict == "confirmed" else a["disputed_at"],
        "signer_held_role": signer_held_role,
        **ref.columns(),
    }


def _verdict_given(session: Session, event: LedgerEvent, ref: _Ref) -> _Keys:
    a = event.args
    if event.name.startswith("Batched"):
        batch = _need(session, Batch, a["root"], event)
        municipality_id = batch.municipality_id
        commitment_id = a["commitment_id"]
        key = batched_delivery_key(a["root"], a["leaf_hash"])
        subject: dict[str, Any] = {"delivery_id": None, "root": a["root"], "leaf_hash": a["leaf_hash"]}
        delivery_id = None
    else:
        delivery = _need(session, Delivery, a["delivery_id"], event)
        commitment_id = delivery.commitment_id
        municipality_id = _need(session, Commitment, commitment_id, event).municipality_id
        key = str(delivery.id)
        subject = {"delivery_id": delivery.id, "root": None, "leaf_hash": None}
        delivery_id = delivery.id
    held = _held_role(session, municipality_id, a["confirmer"], ref, ConfirmerTerm)
    values = _verdict_values(event, key, subject, commitment_id, ref, held)
    session.add(VerdictEvent(**values))
    latest = session.get(Verdict, (key, a["confirmer"]))
    if latest is None:
        session.add(Verdict(**values))
    else:
        for name, value in values.items():
            setattr(latest, name, value)
    return _Keys(municipality_id=municipality_id, commitment_id=commitment_id, delivery_id=delivery_id)


# ---------------------------------------------------------------------------- derived figures


_SETTLED_INPUTS: tuple[tuple[str, str, str], ...] = tuple(
    (SETTLED_COLUMNS[name], met_at, due_date) for name, met_at, due_date in VERDICTS
) + ((SETTLED_COLUMNS["status_confirmed"], "met_at_confirmed", "due_date"),)
"""Each stored settled column with the ``met_at`` and due date columns it is settled from."""


def _settled_values(get: Callable[[str], Any]) -> dict[str, str | None]:
    """The five stored settled columns of a commitment (``ledger.status.settled_status``),
    from its columns as ``get(name)`` gives them."""
    withdrawn = bool(get("withdrawn"))
    return {column: settled_status(withdrawn, get(met_at), get(due)) for column, met_at, due in _SETTLED_INPUTS}


def _refresh(session: Session, rederive: set[int], changed: set[int]) -> None:
    """Re-derive in full the figures of the ``rederive`` commitments (those that exist),
    then roll up every commitment of ``rederive`` or ``changed`` (already up to date) that
    has children or a parent, and their ancestors."""
    if not rederive and not changed:
        return
    session.flush()
    for commitment_id in sorted(rederive):
        c = session.get(Commitment, commitment_id)
        if c is not None:
            _rederive(session, c)
    session.flush()
    _rollup(session, _rollup_roots(session, rederive | changed))


def _rollup_roots(session: Session, ids: set[int]) -> set[int]:
    """Of ``ids``, those with children, and the parents of the others: where a roll-up
    starts (a commitment without children has no roll-up of its own; two indexed queries per
    5,000 ids)."""
    roots: set[int] = set()
    for part in _parts(sorted(ids)):
        roots.update(
            session.scalars(select(Commitment.parent_id).where(Commitment.parent_id.in_(part)).distinct())
        )
        roots.update(
            session.scalars(select(Commitment.parent_id).where(Commitment.id.in_(part), Commitment.parent_id.is_not(None)))
        )
    return roots


def _parts(values: Sequence[Any], size: int = 5_000) -> list[Sequence[Any]]:
    """``values`` in slices of ``size`` (bound parameters per ``IN`` stay within every
    backend's limit)."""
    return [values[start:start + size] for start in range(0, len(values), size)]


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
    ).all()
    revocations = {
        (r.root, r.leaf_hash): r
        for r in session.scalars(select(BatchedRevocation).where(BatchedRevocation.commitment_id == c.id))
    }
    verdicts: dict[str, list[str]] = {}
    for key, verdict in session.execute(
        select(Verdict.delivery_key, Verdict.verdict).where(Verdict.commitment_id == c.id)
    ):
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
    for column, value in _settled_values(lambda name: getattr(c, name)).items():
        setattr(c, column, value)


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


# ---------------------------------------------------------------------------- the fast path

FAST_EVENTS = frozenset({
    "CommitmentRegistered",
    "CommitmentAmended",
    "CommitmentWithdrawn",
    "DeliveryRecorded",
    "DeliveryRevoked",
    "DeliveryConfirmed",
    "DeliveryDisputed",
})
"""The events :func:`apply_events` applies in runs through :class:`_Chunk` (the others, rare
or naming batches, one by one with a full re-derivation of what they touch)."""


class _Fallback(Exception):
    """The fast path met a case it leaves to the reference path (a repeated id)."""


class _Row(dict):  # type: ignore[type-arg]
    """A row as the fast path holds it: column name → value, also as attributes, so the
    mutations the handlers share (:func:`_amend`, :func:`_withdraw`, :func:`_revoke`) apply
    to it as to an ORM row."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


def _apply_fast(
    session: Session, events: Sequence[LedgerEvent], block_times: Mapping[int, int], rederive: set[int], changed: set[int]
) -> bool:
    """Apply a run of :data:`FAST_EVENTS` through :class:`_Chunk` inside a savepoint; add to
    ``rederive`` the commitments to re-derive in full and to ``changed`` those brought up
    to date. Returns ``False`` (nothing written) when the run must be applied one by one."""
    session.flush()
    savepoint = session.begin_nested()
    collecting = gc.isenabled()
    gc.disable()  # the run's rows are thousands of small containers, all kept to its end: no cycles to find meanwhile
    try:
        chunk = _Chunk(session, events)
        for event in events:
            chunk.apply(event, _Ref(event.block_number, event.log_index, event.transaction_hash, int(block_times[event.block_number])))
        chunk.write()
    except Exception as exc:  # noqa: BLE001 - anything unexpected: the reference path decides, event by event
        savepoint.rollback()
        if database_unavailable(exc):
            raise  # busy or disconnected: the caller retries the chunk
        log.debug("Fast path declined a run of %d events (%s: %s); applying them one by one", len(events), type(exc).__name__, exc)
        return False
    finally:
        if collecting:
            gc.enable()
    savepoint.commit()
    session.expire_all()  # rows written past the ORM
    for event, error in chunk.errors:
        _log_error(event, error)
    rederive |= chunk.rederive
    changed |= chunk.changed
    return True


class _Chunk:
    """One run of :data:`FAST_EVENTS` in memory (:func:`apply_events`, "How").

    Loading takes one query per table, by the ids the events name: municipalities,
    deliveries, commitments (also those of the deliveries), registrar and confirmer terms of
    their municipalities, the counted not revoked deliveries and leaves naming the assets of
    the new deliveries (indexed by commitment and asset), the latest verdicts on the
    delivered named. Each event is then checked (a ``ProjectionError`` before anything of it
    is changed: recorded in ``event_errors``) and applied to the rows in memory, its
    commitment's figures stepped with the rules of ``ledger.status``; :meth:`write` writes
    the new rows and the changed ones, one executemany per table.

    Attributes:
        rederive: commitments a fact reached not in log order (after :meth:`apply`): to be
            re-derived in full.
        changed: commitments whose figures or terms changed (roll-ups to refresh).
        errors: the events recorded with their error, and the error.
    """

    def __init__(self, session: Session, events: Sequence[LedgerEvent]) -> None:
        self.session = session
        self.commitments: dict[int, _Row] = {}
        self.new_commitments: list[int] = []
        self._new_commitments_set: set[int] = set()
        self._stored_facts: dict[int, tuple[dict[int, tuple[int, int, bool, str]], list[tuple[int, int, str]]]] = {}
        self.dirty_commitments: set[int] = set()
        self.deliveries: dict[int, _Row] = {}
        self.new_deliveries: list[int] = []
        self._new_deliveries_set: set[int] = set()
        self.dirty_deliveries: set[int] = set()
        self.by_commitment: dict[int, set[int]] = {}
        self.municipalities: set[int] = set()
        self.terms: dict[tuple[str, int, str], list[_Interval]] = {}
        self.assets: dict[int, dict[str, Any]] = {}
        self.verdicts: dict[str, dict[str, str]] = {}
        self.stored_verdicts: set[tuple[str, str]] = set()
        self.latest_verdicts: dict[tuple[str, str], dict[str, Any]] = {}
        self.counters: dict[int, DeliveryCounter] = {}
        self.stored: dict[tuple[Table, int], dict[str, Any]] = {}  # rows as loaded, to write only what changed
        self.rows: dict[Table, list[dict[str, Any]]] = {
            table: [] for table in (EvidenceCitation.__table__, Amendment.__table__, VerdictEvent.__table__, EventRow.__table__, EventError.__table__)
        }
        self.rederive: set[int] = set()
        self.changed: set[int] = set()
        self.errors: list[tuple[LedgerEvent, ProjectionError]] = []
        self._load(events)

    # ------------------------------------------------------------------ loading

    def _load(self, events: Sequence[LedgerEvent]) -> None:
        s = self.session
        registered = {e.args["commitment_id"] for e in events if e.name == "CommitmentRegistered"}
        named = {e.args["commitment_id"] for e in events if e.name in ("CommitmentAmended", "CommitmentWithdrawn", "DeliveryRecorded")}
        recorded = {e.args["delivery_id"] for e in events if e.name == "DeliveryRecorded"}
        referred = {e.args["delivery_id"] for e in events if e.name in ("DeliveryRevoked", "DeliveryConfirmed", "DeliveryDisputed")}
        municipalities = {e.args["municipality_id"] for e in events if e.name == "CommitmentRegistered"}

        for part in _parts(sorted(municipalities)):
            self.municipalities.update(s.scalars(select(Municipality.id).where(Municipality.id.in_(part))))
        deliveries = Delivery.__table__
        for part in _parts(sorted(recorded | referred)):
            for row in _rows(s, select(deliveries).where(deliveries.c.id.in_(part))):
                if row["id"] in recorded:
                    raise _Fallback(f"delivery {row['id']} is already in the index")
                self._keep_delivery(_Row(row))
                self.stored[(Delivery.__table__, row["id"])] = row
        named |= {d.commitment_id for d in self.deliveries.values()}
        commitments = Commitment.__table__
        for part in _parts(sorted(named | registered)):
            for row in _rows(s, select(commitments).where(commitments.c.id.in_(part))):
                if row["id"] in registered:
                    raise _Fallback(f"commitment {row['id']} is already in the index")
                self.commitments[row["id"]] = _Row(row)
                self.stored[(Commitment.__table__, row["id"])] = row
        municipalities |= {c.municipality_id for c in self.commitments.values()}
        for kind, terms in (("registrar", RegistrarTerm), ("confirmer", ConfirmerTerm)):
            for part in _parts(sorted(municipalities)):
                for muni, account, *interval in s.execute(
                    select(terms.municipality_id, terms.account, terms.block_number, terms.log_index,
                           terms.removed_block_number, terms.removed_log_index).where(terms.municipality_id.in_(part))
                ):
                    self.terms.setdefault((kind, muni, account), []).append(_term_interval(*interval))
        self._load_assets(events)
        keys = sorted(str(e.args["delivery_id"]) for e in events if e.name in ("DeliveryConfirmed", "DeliveryDisputed"))
        for part in _parts(keys):
            for key, confirmer, verdict in s.execute(
                select(Verdict.delivery_key, Verdict.confirmer, Verdict.verdict).where(Verdict.delivery_key.in_(part))
            ):
                self.verdicts.setdefault(key, {})[confirmer] = verdict
                self.stored_verdicts.add((key, confirmer))

    def _load_assets(self, events: Sequence[LedgerEvent]) -> None:
        """Which asset keys of the run's new deliveries are named by a counted, not revoked
        delivery or leaf of their commitment (``DeliveryCounter.assets``)."""
        wanted: set[tuple[int, str]] = set()
        for e in events:
            if e.name == "DeliveryRecorded" and e.args.get("asset_ref", ""):
                wanted.add((e.args["commitment_id"], _normalise_asset(e.args["asset_ref"])))
        if not wanted:
            return
        ids = sorted({cid for cid, _ in wanted})
        keys = sorted({key for _, key in wanted})
        for id_part in _parts(ids, 2_500):
            for key_part in _parts(keys, 2_500):
                found = self.session.execute(
                    select(Delivery.commitment_id, Delivery.asset_key, Delivery.id).where(
                        Delivery.commitment_id.in_(id_part), Delivery.asset_key.in_(key_part),
                        Delivery.double_counted.is_(False), Delivery.revoked.is_(False),
                    )
                ).all()
                found += [
                    (cid, key, batched_delivery_key(root, leaf_hash) + f"#{leaf_index}")
                    for cid, key, root, leaf_hash, leaf_index in self.session.execute(
                        select(BatchLeaf.commitment_id, BatchLeaf.asset_key, BatchLeaf.root, BatchLeaf.leaf_hash, BatchLeaf.leaf_index).where(
                            BatchLeaf.commitment_id.in_(id_part), BatchLeaf.asset_key.in_(key_part),
                            BatchLeaf.counted.is_(True), BatchLeaf.revoked.is_(False),
                        )
                    )
                ]
                for cid, key, fact_key in found:
                    if (cid, key) in wanted:
                        self.assets.setdefault(cid, {})[key] = str(fact_key)

    def _keep_delivery(self, d: _Row) -> None:
        self.deliveries[d.id] = d
        self.by_commitment.setdefault(d.commitment_id, set()).add(d.id)

    # ------------------------------------------------------------------ lookups

    def _commitment(self, commitment_id: int, event: LedgerEvent) -> _Row:
        c = self.commitments.get(commitment_id)
        if c is None:
            raise _unknown(Commitment, commitment_id, event)
        return c

    def _delivery(self, delivery_id: int, event: LedgerEvent) -> _Row:
        d = self.deliveries.get(delivery_id)
        if d is None:
            raise _unknown(Delivery, delivery_id, event)
        return d

    def _held(self, kind: str, municipality_id: int, account: str, ref: _Ref) -> bool:
        return _holds(self.terms.get((kind, municipality_id, account), ()), ref)

    def _counter(self, c: _Row) -> DeliveryCounter:
        """The commitment's running state as its stored figures give it."""
        counter = self.counters.get(c.id)
        if counter is None:
            counter = self.counters[c.id] = DeliveryCounter(
                c.original_target_quantity,
                c.target_quantity,
                OnRecord(c.delivered_quantity, c.met_on_record_at),
                OnRecord(c.delivered_quantity, c.met_on_record_at_original_terms),
                assets=self.assets.setdefault(c.id, {}),
            )
        return counter

    def _claims(self, commitment_id: int, confirmed: bool) -> list[tuple[int, int]]:
        """``(delivered_at, quantity)`` of the commitment's counting deliveries and leaves
        (only the confirmed ones when ``confirmed``): O(its deliveries), from memory once its
        stored facts are read (:meth:`_stored_claims`)."""
        stored, leaves = self._stored_claims(commitment_id)
        facts = dict(stored)
        for did in self.by_commitment.get(commitment_id, ()):
            d = self.deliveries[did]
            facts[did] = (d.delivered_at, d.quantity, not d.double_counted and not d.revoked, d.review)
        claims = [(at, quantity) for at, quantity, counting, review in facts.values() if counting and (not confirmed or review == "confirmed")]
        claims += [(at, quantity) for at, quantity, review in leaves if not confirmed or review == "confirmed"]
        return claims

    def _stored_claims(
        self, commitment_id: int
    ) -> tuple[dict[int, tuple[int, int, bool, str]], list[tuple[int, int, str]]]:
        """The commitment's deliveries as the index holds them (id → delivered_at, quantity,
        counting, review) and its counted, not revoked batch leaves (delivered_at, quantity,
        review). Read at the first need for every loaded commitment of the run at once (two
        queries per 500 commitments, O(their stored deliveries)), then kept for the run
        (nothing is written before :meth:`write`); nothing is read for a commitment
        registered in this run (nothing in the index can name it yet)."""
        known = self._stored_facts.get(commitment_id)
        if known is not None:
            return known
        if commitment_id in self._new_commitments_set:
            known = self._stored_facts[commitment_id] = ({}, [])
            return known
        # The first need of a stored commitment: every loaded one is read now (the run's
        # commitments are all loaded by then; only registrations, new ones, join later).
        wanted = sorted(cid for cid in self.commitments if cid not in self._stored_facts and cid not in self._new_commitments_set)
        for cid in (*wanted, commitment_id):
            self._stored_facts.setdefault(cid, ({}, []))
        for part in _parts(wanted, 500):
            for cid, did, delivered_at, quantity, double_counted, revoked, review in self.session.execute(
                select(Delivery.commitment_id, Delivery.id, Delivery.delivered_at, Delivery.quantity, Delivery.double_counted,
                       Delivery.revoked, Delivery.review).where(Delivery.commitment_id.in_(part))
            ):
                self._stored_facts[cid][0][did] = (delivered_at, quantity, not double_counted and not revoked, review)
            for cid, delivered_at, quantity, review in self.session.execute(
                select(BatchLeaf.commitment_id, BatchLeaf.delivered_at, BatchLeaf.quantity, BatchLeaf.review).where(
                    BatchLeaf.commitment_id.in_(part), BatchLeaf.counted.is_(True), BatchLeaf.revoked.is_(False)
                )
            ):
                self._stored_facts[cid][1].append((delivered_at, quantity, review))
        return self._stored_facts[commitment_id]

    def _met_at(self, c: _Row, column: str, target: int, total: int, delivered_at: int, *, added: bool) -> int | None:
        """``c``'s claimed ``met_at`` column after one claim more (``added``) or less: from
        its value when it follows (``ledger.status.claimed_met_at_known``), else recounted."""
        known, value = claimed_met_at_known(c[column], total, target, delivered_at, added=added)
        if known:
            return value
        return claimed_met_at(self._claims(c.id, column == "met_at_confirmed"), target)

    def _recount(self, c: _Row) -> None:
        """Claimed ``met_at`` and ``met_at_confirmed`` under the current target (after a
        target change)."""
        for column, total in (("met_at", c.delivered_quantity), ("met_at_confirmed", c.confirmed_quantity)):
            c[column] = None if total < c.target_quantity else claimed_met_at(self._claims(c.id, column == "met_at_confirmed"), c.target_quantity)

    def _in_order(self, c: _Row, ref: _Ref) -> None:
        """A fact not after every fact of its commitment: re-derive it in full."""
        if (ref.block_number, ref.log_index) <= (c.last_change_block, c.last_change_log_index):
            self.rederive.add(c.id)

    def _touched(self, c: _Row, ref: _Ref) -> None:
        """The commitment changed at ``ref``: last change, progress, settled statuses."""
        if (ref.block_number, ref.log_index) > (c.last_change_block, c.last_change_log_index):
            c.last_change_block, c.last_change_log_index, c.last_changed_at = ref.block_number, ref.log_index, ref.block_time
        c.progress_bps = min(progress_bps(c.delivered_quantity, c.target_quantity), MAX_BIGINT)
        c.update(_settled_values(c.__getitem__))
        if c.id not in self._new_commitments_set:
            self.dirty_commitments.add(c.id)
        self.changed.add(c.id)

    def _event(self, event: LedgerEvent, ref: _Ref, keys: _Keys) -> None:
        self.rows[EventRow.__table__].append(_event_values(event, ref.block_time, keys))

    def _record_state(self, c: _Row, counter: DeliveryCounter) -> None:
        c.delivered_quantity = counter.current.total
        c.met_on_record_at = counter.current.met_at
        c.met_on_record_at_original_terms = counter.original.met_at

    # ------------------------------------------------------------------ events

    def apply(self, event: LedgerEvent, ref: _Ref) -> None:
        """Apply one event in memory; a ``ProjectionError`` (raised before anything of it
        changed) keeps it with its error instead."""
        try:
            getattr(self, "_" + event.name)(event, ref)
        except ProjectionError as exc:
            self.errors.append((event, exc))
            self._event(event, ref, _Keys())
            self.rows[EventError.__table__].append(_error_values(event, exc))

    def _CommitmentRegistered(self, event: LedgerEvent, ref: _Ref) -> None:
        a = event.args
        if a["municipality_id"] not in self.municipalities:
            raise _unknown(Municipality, a["municipality_id"], event)
        if a["commitment_id"] in self.commitments:
            raise _Fallback(f"commitment {a['commitment_id']} registered twice")
        c = _Row(_commitment_values(a, ref, self._held("registrar", a["municipality_id"], a["registrar"], ref)))
        self.commitments[c.id] = c
        self.new_commitments.append(c.id)
        self._new_commitments_set.add(c.id)
        self.changed.add(c.id)
        self._event(event, ref, _Keys(municipality_id=c.municipality_id, commitment_id=c.id))

    def _CommitmentAmended(self, event: LedgerEvent, ref: _Ref) -> None:
        a = event.args
        c = self._commitment(a["commitment_id"], event)
        values = _amendment_values(a, ref, self._held("registrar", c.municipality_id, a["registrar"], ref))
        self._in_order(c, ref)
        counter = self._counter(c)
        target_before = c.target_quantity
        _amend(c, a)
        self.rows[Amendment.__table__].append(values)
        if int(a["fields"]) & AMEND_TARGET:
            counter.target_changed(TargetChange((ref.block_number, ref.log_index, 0), a["previous_target_quantity"], a["target_quantity"], a["amended_at"]))
            self._record_state(c, counter)
            self._recount(c)
        elif c.target_quantity != target_before:  # a target the amendment does not name: the full rules decide
            self.rederive.add(c.id)
        self._touched(c, ref)
        self._event(event, ref, _Keys(municipality_id=c.municipality_id, commitment_id=c.id))

    def _CommitmentWithdrawn(self, event: LedgerEvent, ref: _Ref) -> None:
        a = event.args
        c = self._commitment(a["commitment_id"], event)
        held = self._held("registrar", c.municipality_id, a["registrar"], ref)
        self._in_order(c, ref)
        if c.withdrawn:
            self.rederive.add(c.id)
        _withdraw(c, a, ref, held)
        self._touched(c, ref)
        self._event(event, ref, _Keys(municipality_id=c.municipality_id, commitment_id=c.id))

    def _DeliveryRecorded(self, event: LedgerEvent, ref: _Ref) -> None:
        a = event.args
        c = self._commitment(a["commitment_id"], event)
        if a["delivery_id"] in self.deliveries:
            raise _Fallback(f"delivery {a['delivery_id']} recorded twice")
        d = _Row(_delivery_values(a, ref, self._held("registrar", c.municipality_id, a["registrar"], ref)))
        citations = _citation_values(a, ref)
        self._in_order(c, ref)
        counter = self._counter(c)
        reason = counter.recorded(
            DeliveryFact(
                key=str(d.id), position=(ref.block_number, ref.log_index, 0), quantity=d.quantity,
                delivered_at=d.delivered_at, recorded_at=d.recorded_at, external_ref=d.external_ref, asset_key=d.asset_key,
            )
        )
        d.double_counted = reason is not None
        self._keep_delivery(d)
        self.new_deliveries.append(d.id)
        self._new_deliveries_set.add(d.id)
        self.rows[EvidenceCitation.__table__] += citations
        if reason is None:
            self._record_state(c, counter)
            c.met_at = self._met_at(c, "met_at", c.target_quantity, c.delivered_quantity, d.delivered_at, added=True)
            c.met_at_original_terms = self._met_at(
                c, "met_at_original_terms", c.original_target_quantity, c.delivered_quantity, d.delivered_at, added=True
            )
            c.recorded_late_count += 1 if d.recorded_late else 0
        self._touched(c, ref)
        self._event(event, ref, _Keys(municipality_id=c.municipality_id, commitment_id=c.id, delivery_id=d.id))

    def _DeliveryRevoked(self, event: LedgerEvent, ref: _Ref) -> None:
        a = event.args
        d = self._delivery(a["delivery_id"], event)
        c = self._commitment(d.commitment_id, event)
        held = self._held("registrar", c.municipality_id, a["registrar"], ref)
        self._in_order(c, ref)
        if d.revoked:  # revoked twice: the full rules decide
            self.rederive.add(c.id)
        counting = not d.double_counted and not d.revoked
        counter = self._counter(c)
        _revoke(d, a, ref, held)
        self._changed_delivery(d)
        if counting:
            counter.revoked(
                DeliveryFact(
                    key=str(d.id), position=(d.block_number, d.log_index, 0), quantity=d.quantity,
                    delivered_at=d.delivered_at, recorded_at=d.recorded_at, external_ref=d.external_ref, asset_key=d.asset_key,
                )
            )
            self._record_state(c, counter)
            c.met_at = self._met_at(c, "met_at", c.target_quantity, c.delivered_quantity, d.delivered_at, added=False)
            c.met_at_original_terms = self._met_at(
                c, "met_at_original_terms", c.original_target_quantity, c.delivered_quantity, d.delivered_at, added=False
            )
            c.recorded_late_count -= 1 if d.recorded_late else 0
            self._reviewed(c, d, d.review, "unconfirmed")
        self._touched(c, ref)
        self._event(event, ref, _Keys(municipality_id=c.municipality_id, commitment_id=c.id, delivery_id=d.id))

    def _verdict(self, event: LedgerEvent, ref: _Ref) -> None:
        a = event.args
        d = self._delivery(a["delivery_id"], event)
        c = self._commitment(d.commitment_id, event)
        key = str(d.id)
        values = _verdict_values(
            event, key, {"delivery_id": d.id, "root": None, "leaf_hash": None}, c.id, ref,
            self._held("confirmer", c.municipality_id, a["confirmer"], ref),
        )
        self._in_order(c, ref)
        self.rows[VerdictEvent.__table__].append(values)
        self.latest_verdicts[(key, a["confirmer"])] = values
        latest = self.verdicts.setdefault(key, {})
        latest[a["confirmer"]] = values["verdict"]
        review = review_of(latest.values())
        if review != d.review:
            before, d.review = d.review, review
            self._changed_delivery(d)
            if not d.double_counted and not d.revoked:
                self._reviewed(c, d, before, review)
        self._touched(c, ref)
        self._event(event, ref, _Keys(municipality_id=c.municipality_id, commitment_id=c.id, delivery_id=d.id))

    _DeliveryConfirmed = _verdict
    _DeliveryDisputed = _verdict

    def _reviewed(self, c: _Row, d: _Row, before: str, after: str) -> None:
        """A counting delivery's review went from ``before`` to ``after`` (or it stopped
        counting: ``after`` ``unconfirmed``): confirmed and disputed figures by deltas."""
        if before == after:
            return
        if before == "disputed":
            c.disputed_quantity -= d.quantity
        if after == "disputed":
            c.disputed_quantity += d.quantity
        if "confirmed" in (before, after):
            c.confirmed_quantity += d.quantity if after == "confirmed" else -d.quantity
            c.met_at_confirmed = self._met_at(
                c, "met_at_confirmed", c.target_quantity, c.confirmed_quantity, d.delivered_at, added=after == "confirmed"
            )

    def _changed_delivery(self, d: _Row) -> None:
        if d.id not in self._new_deliveries_set:
            self.dirty_deliveries.add(d.id)

    # ------------------------------------------------------------------ writing

    def write(self) -> None:
        """Write the run's rows: one executemany per table, parents first (foreign keys)."""
        s = self.session
        if self.new_commitments:
            _write_many(s, "insert", Commitment.__table__, [self.commitments[i] for i in self.new_commitments])
        self._update_changed(Commitment.__table__, [self.commitments[i] for i in sorted(self.dirty_commitments)])
        if self.new_deliveries:
            _write_many(s, "insert", Delivery.__table__, [self.deliveries[i] for i in self.new_deliveries])
        self._update_changed(Delivery.__table__, [self.deliveries[i] for i in sorted(self.dirty_deliveries)])
        for table in (EvidenceCitation.__table__, Amendment.__table__, VerdictEvent.__table__):
            _write_many(s, "insert", table, self.rows[table])
        new = [v for k, v in self.latest_verdicts.items() if k not in self.stored_verdicts]
        _write_many(s, "insert", Verdict.__table__, new)
        _write_many(s, "update", Verdict.__table__, [v for k, v in self.latest_verdicts.items() if k in self.stored_verdicts])
        for table in (EventRow.__table__, EventError.__table__):
            _write_many(s, "insert", table, self.rows[table])

    def _update_changed(self, table: Table, rows: Sequence[_Row]) -> None:
        """``UPDATE`` the columns of ``rows`` that differ from the rows as loaded (an
        executemany per set of changed columns: an unchanged indexed column costs nothing)."""
        groups: dict[tuple[str, ...], list[_Row]] = {}
        for row in rows:
            stored = self.stored[(table, row["id"])]
            if tuple(stored) == tuple(row):  # the usual case: the row as loaded (same keys, same order), values changed
                names = tuple(name for name, value, before in zip(row, row.values(), stored.values()) if value != before)
            else:
                names = tuple(name for name, value in row.items() if stored.get(name) != value)
            if names:
                groups.setdefault(names, []).append(row)
        for names, group in groups.items():
            _write_many(self.session, "update", table, group, names)


@dataclass(frozen=True)
class _Plan:
    """One compiled write of :func:`_write_many`: its SQL, and for each of its parameters in
    the driver's order: its bind name, the row key it takes, the default when a row lacks
    it (a column's scalar default) and the column type's bind processor."""

    sql: str
    binds: tuple[str, ...]
    fields: tuple[str, ...]
    defaults: tuple[Any, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    positional: bool


_plans: dict[tuple[str, str, str, tuple[str, ...]], _Plan] = {}


def _plan(dialect: Any, kind: str, table: Table, names: tuple[str, ...]) -> _Plan:
    """The :class:`_Plan` of an ``INSERT`` of ``names`` and the columns with a scalar
    default (``kind`` ``"insert"``) or of an ``UPDATE`` setting ``names`` by primary key
    (``"update"``) of ``table``, compiled once per dialect."""
    cache_key = (dialect.name, kind, table.name, names)
    plan = _plans.get(cache_key)
    if plan is not None:
        return plan
    keys = [column.name for column in table.primary_key.columns]
    defaults: dict[str, Any] = {}
    if kind == "insert":
        for column in table.columns:
            if column.name not in names and column.default is not None and column.default.is_scalar:
                defaults[column.name] = column.default.arg
        by_bind = {name: name for name in (*names, *defaults)}
        statement: Any = insert(table).values({name: bindparam(name, type_=table.c[name].type) for name in by_bind})
    else:
        sets = [name for name in names if name not in keys]
        by_bind = {**{f"v_{name}": name for name in sets}, **{f"k_{key}": key for key in keys}}
        statement = (
            update(table)
            .where(*[table.c[key] == bindparam(f"k_{key}", type_=table.c[key].type) for key in keys])
            .values({name: bindparam(f"v_{name}", type_=table.c[name].type) for name in sets})
        )
    compiled = statement.compile(dialect=dialect)
    types = {bind.key: bind.type for bind in compiled.binds.values()}
    order = tuple(compiled.positiontup) if compiled.positional else tuple(by_bind)
    plan = _plans[cache_key] = _Plan(
        sql=str(compiled),
        binds=order,
        fields=tuple(by_bind[bind] for bind in order),
        defaults=tuple(defaults.get(by_bind[bind]) for bind in order),
        processors=tuple(types[bind].dialect_impl(dialect).bind_processor(dialect) for bind in order),
        positional=bool(compiled.positional),
    )
    return plan


def _write_many(session: Session, kind: str, table: Table, rows: Sequence[Mapping[str, Any]], names: Sequence[str] | None = None) -> None:
    """``INSERT`` ``rows`` into ``table`` (``kind`` ``"insert"``; ``names``: their columns,
    ``None``: the keys of the first row; a column with a scalar default a row lacks gets it)
    or ``UPDATE`` them by primary key (``"update"``, setting ``names``; ``None``: every other
    column): one DBAPI executemany of plain tuples (or dicts, for a driver of named
    parameters), each value through its column type's bind processor, as SQLAlchemy would,
    without its per-row parameter handling (thousands of rows per call)."""
    if not rows:
        return
    if names is None:
        names = list(rows[0]) if kind == "insert" else [column.name for column in table.columns]
    dialect = session.get_bind().dialect
    plan = _plan(dialect, kind, table, tuple(names))
    columns = list(zip(plan.fields, plan.defaults, plan.processors))
    values = [
        [(row.get(field, default) if process is None else process(row.get(field, default))) for field, default, process in columns]
        for row in rows
    ]
    params: list[Any] = [tuple(v) for v in values] if plan.positional else [dict(zip(plan.binds, v)) for v in values]
    session.connection().exec_driver_sql(plan.sql, params)


def _rows(session: Session, statement: Any) -> list[dict[str, Any]]:
    """The rows of a ``SELECT`` as dicts by column name."""
    result = session.execute(statement)
    names = list(result.keys())
    return [dict(zip(names, row)) for row in result]


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
