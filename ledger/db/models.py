"""Tables of the index (SQLAlchemy 2 typed ORM), schema :data:`SCHEMA_VERSION`.

The index is a projection of the ledger's v2 events (``ledger.db.projection`` is its only
writer). Every row produced by an event carries that event's chain position
``(block_number, log_index)``, ``tx_hash`` and ``block_time`` (Unix seconds), through
:class:`ChainRefColumns`; updates made by a later event (withdrawal, revocation, recovery)
carry that event's position in their own prefixed columns.

Units: every ``*_at``, ``*_time``, ``*_date`` and ``*_seconds`` column is Unix seconds (UTC)
or a duration in seconds; quantities are in the commitment's unit and fit BIGINT (the
contract bounds them to 10^13), except a commitment's delivered total (up to 999,999 of them:
:class:`DecimalInteger`). Hashes are ``0x``-prefixed
lowercase hex (66 characters), addresses EIP-55 checksummed (42 characters). Texts hold any
string the decoder produces (never NUL: shown as U+2400, ``ledger.events``; the exact
bytes of a text that is not exact UTF-8 are in ``events.args["raw"]``); their column lengths are the
contract's byte limits, which bound the characters too.

Tables: ``index_schema``, ``checkpoint``, ``ledger_state``, ``events``, ``municipalities``,
``admin_changes``, ``registrars``, ``registrar_terms``, ``confirmers``, ``confirmer_terms``,
``commitments``, ``amendments``, ``deliveries``, ``evidence_citations``, ``batches``,
``batch_leaves``, ``batch_evidence_citations``, ``batched_revocations``, ``verdicts``,
``verdict_history``, and the indexer's own ``indexed_blocks`` (block hashes, to survive
reorgs) and ``event_errors`` (events the projection could not apply). Field names follow docs/LEDGER.md.

Facts and derived columns: a row is written by the event that states its fact; the columns
docs/LEDGER.md derives from several facts (a commitment's figures, a delivery's
``double_counted`` and ``review``, a leaf's ``counted`` / ``refused_reason`` / revocation) are
recomputed by the projection from the facts in log order (``ledger.db.projection``), so they
come out the same whatever order the facts reached the index in (a batch file uploaded late).
"""

from __future__ import annotations

import unicodedata

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Dialect, ForeignKey, Index, MetaData, String, Text, UniqueConstraint, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

SCHEMA_VERSION = "6"
"""Version of this schema, kept in ``index_schema``; an index with another version (or none:
a v1 index) is refused by ``ledger.db.engine.create_schema`` (rebuild: ``make reindex``).
"3": contract 2.1.0 (batches, assets, confirmers and verdicts, sub-commitments); "4": the
same events, plus the commitment columns lists sort on (``progress_bps``, ``last_changed_at``,
``last_change_block``, ``last_change_log_index``) and their indexes; "5": the same, plus
``indexed_blocks`` (number, hash, parent hash of the recent blocks and of every block with an
event: the indexer rolls back a reorg to the common ancestor) and ``event_errors`` (an event
whose projection failed is kept in ``events`` and its error recorded; the indexer goes on);
"6": the same events, plus each status's settled part stored on the commitment
(``status_settled`` ...: ``ledger.status.settled_status``) and the indexes and full-text
search that keep lists, searches and overviews flat with size (issue 8)."""

MAX_BIGINT = 2**63 - 1
"""Largest value of a BIGINT column (signed 64 bits)."""

HASH_LENGTH = 66
ADDRESS_LENGTH = 42

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class DecimalInteger(TypeDecorator[int]):
    """A non-negative integer of any size stored as its decimal text (no leading zeros):
    a commitment's delivered total can reach MAX_QUANTITY × MAX_DELIVERIES ≈ 10^19, beyond
    BIGINT, and SQLite has no exact wider integer. Only equality with 0 is used in SQL."""

    impl = String(80)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Dialect) -> str | None:
        return None if value is None else str(int(value))

    def process_result_value(self, value: str | None, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


class Base(DeclarativeBase):
    """Declarative base: every ``int`` column is a BIGINT (ids, blocks, quantities, times)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {int: BigInteger, dict[str, Any]: JSON, list[str]: JSON}


class ChainRefColumns:
    """Where the event that produced a row is recorded on chain."""

    block_number: Mapped[int]
    log_index: Mapped[int]
    tx_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    block_time: Mapped[int]  # Unix seconds


class IndexSchemaRow(Base):
    """The schema version of this index (one row, written when the tables are created)."""

    __tablename__ = "index_schema"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(16))


class CheckpointRow(Base):
    """The indexer's progress (one row, ``id`` 1). ``last_block`` is the last block whose
    events are in the index (inclusive); ``None`` before the first chunk. ``contract_version``
    is the contract's ``version()`` as the indexer read it at start."""

    __tablename__ = "checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_address: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    contract_version: Mapped[str | None] = mapped_column(String(32))
    last_block: Mapped[int | None]
    last_block_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    chain_head_block: Mapped[int | None]
    head_seen_at: Mapped[int | None]  # Unix seconds
    updated_at: Mapped[int]  # Unix seconds


class LedgerStateRow(Base):
    """Ledger-wide projected state (one row, ``id`` 1, from the first ``Paused``/``Unpaused``):
    whether writes are paused, by whom, and the event that last changed it (``changed_*``)."""

    __tablename__ = "ledger_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean)
    changed_by: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    changed_block_number: Mapped[int]
    changed_log_index: Mapped[int]
    changed_tx_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    changed_block_time: Mapped[int]


class EventRow(Base):
    """The raw decoded event log, one row per log, keyed on its chain position.

    ``args`` holds the decoder's arguments (snake_case names, ``0x`` hex for bytes32,
    checksummed addresses, ints). ``commitment_id``/``delivery_id``/``municipality_id`` are
    copied from the args (or the projected rows) for lookups; ``None`` when not applicable.
    """

    __tablename__ = "events"
    __table_args__ = (
        # A commitment's timeline in chain order, and its count, from the index alone: a page
        # is a range seek (the 10,000-delivery commitment's page 2 went from 18 ms to 0.1 ms,
        # its count from 58 ms to 1 ms, on the index of 100,000 commitments).
        Index("ix_events_commitment_position", "commitment_id", "block_number", "log_index", "name"),
    )

    block_number: Mapped[int] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    tx_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    block_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    block_time: Mapped[int]
    commitment_id: Mapped[int | None]  # first column of ix_events_commitment_position
    delivery_id: Mapped[int | None] = mapped_column(index=True)
    municipality_id: Mapped[int | None] = mapped_column(index=True)
    args: Mapped[dict[str, Any]]


class IndexedBlock(Base):
    """A block the indexer has indexed, as the chain had it then: its ``0x`` ``hash`` and
    ``parent_hash``. Kept for the last ``max(64, 2 × confirmations)`` blocks below the
    indexed target and for every block with an event; the checkpoint's block is always
    there. On a reorg the highest row whose hash the chain still has is the common ancestor
    (``indexer.loop``)."""

    __tablename__ = "indexed_blocks"

    number: Mapped[int] = mapped_column(primary_key=True)
    hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    parent_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))


class EventError(Base):
    """An event kept in ``events`` whose projection raised: the exception's class name
    (``error_type``, e.g. ``"ProjectionError"``) and its text (``detail``, display only, never
    decided on). The event changed nothing else in the index."""

    __tablename__ = "event_errors"

    block_number: Mapped[int] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(primary_key=True)
    error_type: Mapped[str] = mapped_column(String(128))
    detail: Mapped[str] = mapped_column(Text)


class Municipality(ChainRefColumns, Base):
    """A municipality (issuer). The chain reference is its ``MunicipalityRegistered`` event.
    ``pending_admin`` is the proposed successor (``MunicipalityAdminProposed``; ``None`` when
    none or cancelled). ``recovery_*`` is a pending admin recovery (``AdminRecoveryStarted``;
    all ``None`` when none)."""

    __tablename__ = "municipalities"
    __table_args__ = (UniqueConstraint("block_number", "log_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(16))
    admin: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    pending_admin: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    recovery_proposed_admin: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    recovery_executable_at: Mapped[int | None]  # Unix seconds
    recovery_started_by: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    recovery_block_number: Mapped[int | None]
    recovery_log_index: Mapped[int | None]
    recovery_tx_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    recovery_block_time: Mapped[int | None]


class AdminChange(ChainRefColumns, Base):
    """One ``MunicipalityAdminChanged`` event: a handover (``recovered`` false) or a
    completed recovery (true)."""

    __tablename__ = "admin_changes"

    block_number: Mapped[int] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    previous_admin: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    new_admin: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    recovered: Mapped[bool] = mapped_column(Boolean)


class Registrar(ChainRefColumns, Base):
    """A registrar account of a municipality. The chain reference is the latest
    ``RegistrarAdded``; ``active`` turns false on ``RegistrarRemoved`` (``removed_*``)."""

    __tablename__ = "registrars"

    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), primary_key=True)
    account: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean)
    added_by: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    removed_by: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    removed_block_number: Mapped[int | None]
    removed_log_index: Mapped[int | None]
    removed_tx_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    removed_block_time: Mapped[int | None]


class RegistrarTerm(ChainRefColumns, Base):
    """One interval during which ``account`` held the registrar role of a municipality: from
    its ``RegistrarAdded`` (the chain reference, inclusive) to its ``RegistrarRemoved``
    (``removed_block_number``/``removed_log_index``, exclusive; ``None`` while it holds it).
    The role history from which ``signer_held_role`` is computed (docs/LEDGER.md "Who signed
    it")."""

    __tablename__ = "registrar_terms"
    __table_args__ = (Index("ix_registrar_terms_member", "municipality_id", "account"),)

    block_number: Mapped[int] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"))
    account: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    added_by: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    removed_by: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    removed_block_number: Mapped[int | None]
    removed_log_index: Mapped[int | None]
    removed_tx_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    removed_block_time: Mapped[int | None]


class Commitment(ChainRefColumns, Base):
    """A commitment. The chain reference is its ``CommitmentRegistered`` event, which also
    gives the original terms (``original_target_quantity``, ``original_due_date``, never
    changed); ``title``, ``description``, ``target_quantity`` and ``due_date`` are the
    current ones (after the amendments that named them).

    Derived columns, kept by the projection (docs/LEDGER.md):
    ``delivered_quantity`` (non-revoked deliveries); ``met_at`` / ``met_at_original_terms``
    (claimed clock, prefix rule, recomputed from the non-revoked deliveries whenever they or
    the target change); ``met_on_record_at`` / ``met_on_record_at_original_terms`` (on-record
    running state); ``amended_after_due_date``, ``target_lowered`` (any amendment);
    ``recorded_late_count`` (non-revoked deliveries recorded late); ``historical_record``;
    ``signer_held_role`` (of the registration). All ``met_*`` are ``None`` while not met.
    ``search_text`` is the lowercased title, description and external_ref (for ``q``).

    2.1.0: ``parent_id`` (``None`` for the chain's 0) and ``weight`` (0 without parent) as
    registered; derived: ``batched_delivery_count`` (leaves of verified batches naming it),
    ``confirmed_quantity`` / ``disputed_quantity`` and ``met_at_confirmed`` (counted
    deliveries by review, claimed clock, current terms), ``rollup_progress_bps`` (``None``
    without children), ``rollup_children_counted``, ``rollup_children_delivered``
    (docs/LEDGER.md "Confirmations", "Sub-commitments"). Delivered and met figures count
    batched deliveries of verified batches and leave out double counts.

    4 (for sorting lists, each indexed): ``progress_bps`` = ⌊delivered × 10,000 / current
    target⌋ (``ledger.status.progress_bps``), capped at :data:`MAX_BIGINT` (the delivered
    total itself may exceed BIGINT); ``last_change_block`` / ``last_change_log_index`` /
    ``last_changed_at`` (block time, Unix seconds): the latest event in (block, log index)
    order that concerns the commitment: its registration, an amendment, its withdrawal, one of
    its deliveries recorded or revoked, the anchor of a verified batch with a leaf naming it, a
    batched revocation naming it, a confirmer's verdict on one of its deliveries. Both are
    derived from the facts, like the figures above, so a batch file that arrives late gives the
    same values as one that was there at the anchor."""

    __tablename__ = "commitments"
    __table_args__ = (
        UniqueConstraint("municipality_id", "external_ref"),
        UniqueConstraint("block_number", "log_index"),
        Index("ix_commitments_municipality_theme", "municipality_id", "theme"),
        Index("ix_commitments_last_change", "last_change_block", "last_change_log_index"),
        # 6 (issue 8): each list sort as (key, id), alone and within a municipality; the
        # status filters (settled part, then the due date for overdue / not yet due, then
        # the delivered quantity for in progress / pending: status counts read these
        # covering indexes only) and the status sort (settled part, then id).
        Index("ix_commitments_due_date_id", "due_date", "id"),
        Index("ix_commitments_progress_id", "progress_bps", "id"),
        Index("ix_commitments_municipality_id", "municipality_id", "id"),
        Index("ix_commitments_municipality_due_date", "municipality_id", "due_date", "id"),
        Index("ix_commitments_municipality_progress", "municipality_id", "progress_bps", "id"),
        Index("ix_commitments_municipality_last_change", "municipality_id", "last_change_block", "last_change_log_index"),
        Index("ix_commitments_status_due", "status_settled", "due_date", "delivered_quantity"),
        Index("ix_commitments_status_id", "status_settled", "id"),
        Index("ix_commitments_municipality_status", "municipality_id", "status_settled", "due_date", "delivered_quantity"),
        Index("ix_commitments_on_record_due", "status_on_record_settled", "due_date", "delivered_quantity"),
        Index("ix_commitments_municipality_on_record", "municipality_id", "status_on_record_settled", "due_date",
              "delivered_quantity"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"))
    registrar: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    signer_held_role: Mapped[bool] = mapped_column(Boolean)
    external_ref: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    theme: Mapped[str] = mapped_column(String(120), index=True)
    unit: Mapped[str] = mapped_column(String(32))
    promised_at: Mapped[int]  # Unix seconds, claimed
    registered_at: Mapped[int]  # Unix seconds (event argument, = block time)
    original_target_quantity: Mapped[int]
    original_due_date: Mapped[int]  # Unix seconds
    target_quantity: Mapped[int]
    due_date: Mapped[int]  # Unix seconds
    historical_record: Mapped[bool] = mapped_column(Boolean)
    source_document_sha256: Mapped[str | None] = mapped_column(String(HASH_LENGTH), index=True)
    source_uri: Mapped[str] = mapped_column(String(512))
    amendment_count: Mapped[int]
    amended_after_due_date: Mapped[bool] = mapped_column(Boolean)
    target_lowered: Mapped[bool] = mapped_column(Boolean)
    delivered_quantity: Mapped[int] = mapped_column(DecimalInteger)
    recorded_late_count: Mapped[int]
    met_at: Mapped[int | None]  # Unix seconds, claimed, current terms
    met_at_original_terms: Mapped[int | None]  # Unix seconds, claimed, original terms
    met_on_record_at: Mapped[int | None]  # Unix seconds (block time), current terms
    met_on_record_at_original_terms: Mapped[int | None]  # Unix seconds (block time), original terms
    withdrawn: Mapped[bool] = mapped_column(Boolean)
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)
    withdrawal_registrar: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    withdrawal_signer_held_role: Mapped[bool | None] = mapped_column(Boolean)
    withdrawn_block_number: Mapped[int | None]
    withdrawn_log_index: Mapped[int | None]
    withdrawn_tx_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    withdrawn_block_time: Mapped[int | None]
    search_text: Mapped[str] = mapped_column(Text)
    parent_id: Mapped[int | None] = mapped_column(index=True)  # no foreign key: a parent exists before its children
    weight: Mapped[int] = mapped_column(default=0)
    batched_delivery_count: Mapped[int] = mapped_column(default=0)
    confirmed_quantity: Mapped[int] = mapped_column(DecimalInteger, default=0)
    disputed_quantity: Mapped[int] = mapped_column(DecimalInteger, default=0)
    met_at_confirmed: Mapped[int | None]  # Unix seconds, claimed, current terms, confirmed deliveries only
    rollup_progress_bps: Mapped[int | None]
    rollup_children_counted: Mapped[int] = mapped_column(default=0)
    rollup_children_delivered: Mapped[int] = mapped_column(default=0)
    progress_bps: Mapped[int] = mapped_column(default=0)  # capped at MAX_BIGINT
    last_changed_at: Mapped[int]  # Unix seconds (block time of the latest event concerning it)
    last_change_block: Mapped[int]
    last_change_log_index: Mapped[int]
    # 6: each status's settled part, stored so lists filter and count through indexes
    # (``ledger.status.settled_status``): "withdrawn", "delivered", "delivered_late", or
    # None while open (then pending / in_progress / overdue follow from the stored due date
    # and delivered quantity at query time: ``ledger.status.status_sql``).
    status_settled: Mapped[str | None] = mapped_column(String(16))
    status_on_record_settled: Mapped[str | None] = mapped_column(String(16))
    status_original_terms_settled: Mapped[str | None] = mapped_column(String(16))
    status_on_record_original_terms_settled: Mapped[str | None] = mapped_column(String(16))
    status_confirmed_settled: Mapped[str | None] = mapped_column(String(16))


class Amendment(ChainRefColumns, Base):
    """One ``CommitmentAmended`` event. ``fields`` is its AMEND_* bit set; ``title`` and
    ``description`` are ``None`` when not named; target and due date before and after (equal
    when not named). ``after_due_date`` (amended_at > previous due date), ``lowered_target``,
    ``extended_due_date`` and ``signer_held_role`` as in docs/LEDGER.md."""

    __tablename__ = "amendments"
    __table_args__ = (UniqueConstraint("block_number", "log_index"),)

    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitments.id"), primary_key=True)
    amendment_number: Mapped[int] = mapped_column(primary_key=True)
    registrar: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    signer_held_role: Mapped[bool] = mapped_column(Boolean)
    fields: Mapped[int]
    title: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    previous_target_quantity: Mapped[int]
    target_quantity: Mapped[int]
    previous_due_date: Mapped[int]  # Unix seconds
    due_date: Mapped[int]  # Unix seconds
    reason: Mapped[str] = mapped_column(Text)
    amended_at: Mapped[int]  # Unix seconds (event argument, = block time)
    after_due_date: Mapped[bool] = mapped_column(Boolean)
    lowered_target: Mapped[bool] = mapped_column(Boolean)
    extended_due_date: Mapped[bool] = mapped_column(Boolean)


class Delivery(ChainRefColumns, Base):
    """A delivery. The chain reference is its ``DeliveryRecorded`` event; ``revoked_*`` is
    its ``DeliveryRevoked`` event, if any (a revoked delivery no longer counts). Two clocks:
    ``delivered_at`` is claimed, ``recorded_at`` the block time; ``recording_lag_seconds`` is
    their difference and ``recorded_late`` whether it exceeds
    ``ledger.status.RECORDED_LATE_AFTER_SECONDS``. ``delivery_number`` = id % 1,000,000.
    ``asset_ref`` as recorded, ``asset_key`` its normalised form (``ledger.merkle
    .normalise_asset_ref``; ``""`` when none); derived: ``double_counted`` (its asset was already
    counted for the commitment when it was recorded: it counts nothing) and ``review``
    (``unconfirmed`` / ``confirmed`` / ``disputed``, from ``verdicts``)."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("block_number", "log_index"),
        # the projection's asset lookup per chunk (ledger.db.projection): counted deliveries
        # of a commitment naming an asset, whatever the number of its deliveries
        Index("ix_deliveries_commitment_asset", "commitment_id", "asset_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitments.id"), index=True)
    delivery_number: Mapped[int]
    registrar: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    signer_held_role: Mapped[bool] = mapped_column(Boolean)
    quantity: Mapped[int]
    delivered_at: Mapped[int]  # Unix seconds, claimed
    recorded_at: Mapped[int]  # Unix seconds (event argument, = block time)
    recording_lag_seconds: Mapped[int]
    recorded_late: Mapped[bool] = mapped_column(Boolean, index=True)
    evidence_uri: Mapped[str] = mapped_column(String(512))
    note: Mapped[str] = mapped_column(Text)
    external_ref: Mapped[str] = mapped_column(String(64))
    asset_ref: Mapped[str] = mapped_column(String(64), default="")
    asset_key: Mapped[str] = mapped_column(Text, default="")
    double_counted: Mapped[bool] = mapped_column(Boolean, default=False)
    review: Mapped[str] = mapped_column(String(16), default="unconfirmed")
    revoked: Mapped[bool] = mapped_column(Boolean)
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    revocation_registrar: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    revocation_signer_held_role: Mapped[bool | None] = mapped_column(Boolean)
    revoked_block_number: Mapped[int | None]
    revoked_log_index: Mapped[int | None]
    revoked_tx_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    revoked_block_time: Mapped[int | None]


class EvidenceCitation(ChainRefColumns, Base):
    """A delivery citing an evidence document by SHA-256 (the contract refuses repeats, so
    once per (sha256, delivery)). ``position`` is the hash's index in the delivery's evidence
    list. The chain reference is the ``DeliveryRecorded`` event, which carries the hashes."""

    __tablename__ = "evidence_citations"

    sha256: Mapped[str] = mapped_column(String(HASH_LENGTH), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), primary_key=True, index=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitments.id"), index=True)
    position: Mapped[int]


class Confirmer(ChainRefColumns, Base):
    """A confirmer account of a municipality, as :class:`Registrar` for the confirmer role:
    the chain reference is the latest ``ConfirmerAdded``; ``active`` turns false on
    ``ConfirmerRemoved`` (``removed_*``)."""

    __tablename__ = "confirmers"

    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), primary_key=True)
    account: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean)
    added_by: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    removed_by: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    removed_block_number: Mapped[int | None]
    removed_log_index: Mapped[int | None]
    removed_tx_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    removed_block_time: Mapped[int | None]


class ConfirmerTerm(ChainRefColumns, Base):
    """One interval during which ``account`` held the confirmer role of a municipality
    (``ConfirmerAdded`` inclusive to ``ConfirmerRemoved`` exclusive), as
    :class:`RegistrarTerm`."""

    __tablename__ = "confirmer_terms"
    __table_args__ = (Index("ix_confirmer_terms_member", "municipality_id", "account"),)

    block_number: Mapped[int] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"))
    account: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    added_by: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    removed_by: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    removed_block_number: Mapped[int | None]
    removed_log_index: Mapped[int | None]
    removed_tx_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    removed_block_time: Mapped[int | None]


class Batch(ChainRefColumns, Base):
    """An anchored batch (``BatchAnchored``, the chain reference). ``verified`` once its file
    was found in the evidence store by ``file_sha256`` and checked
    (``ledger.merkle.check_batch_file``); otherwise ``unverified_reason`` says why (``missing``,
    ``sha256_mismatch``, ``unparseable``, ``root_mismatch``, ``leaf_count_mismatch``;
    docs/LEDGER.md "Batches"). A ``missing`` batch is checked again at every indexer pass.
    ``signer_held_role``: the registrar held the role at the anchor's log."""

    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("block_number", "log_index"),)

    root: Mapped[str] = mapped_column(String(HASH_LENGTH), primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"), index=True)
    registrar: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    signer_held_role: Mapped[bool] = mapped_column(Boolean)
    leaf_count: Mapped[int]  # as anchored (claimed)
    file_sha256: Mapped[str] = mapped_column(String(HASH_LENGTH), index=True)
    file_uri: Mapped[str] = mapped_column(String(512))
    anchored_at: Mapped[int]  # Unix seconds (event argument, = block time)
    verified: Mapped[bool] = mapped_column(Boolean)
    unverified_reason: Mapped[str | None] = mapped_column(String(32), index=True)


class BatchLeaf(Base):
    """One leaf (batched delivery) of a verified batch, at ``leaf_index`` in the file's
    ``values``. Its chain reference is its batch's anchor.

    The leaf's values as the file gives them: ``commitment_id`` (``None`` when it does not fit
    BIGINT: no such commitment), ``quantity`` and ``delivered_at`` (exact, any uint64:
    :class:`DecimalInteger`), ``evidence_hashes`` (JSON list of ``0x`` hex), texts (stored with
    unpaired surrogates as U+FFFD and NUL as U+2400 "␀", like decoded logs), ``asset_key`` (normalised
    ``asset_ref``), ``values_json`` (the exact leaf values, JSON with ASCII escapes) and
    ``proof`` (JSON list of ``0x`` hex: its StandardMerkleTree proof), ``valid``
    (``ledger.status.leaf_is_valid`` on those exact values). ``recording_lag_seconds``
    (``anchored_at - delivered_at``; ``None`` when delivered_at is after the anchor) and
    ``recorded_late``.

    Derived by the projection (docs/LEDGER.md "Batches", "Assets", "Confirmations"):
    ``counted`` / ``refused_reason`` (``unknown_commitment``, ``other_municipality``,
    ``commitment_withdrawn``, ``invalid_leaf``, ``duplicate_external_ref``,
    ``asset_already_counted``), ``review``, and the revocation (``revoked``,
    ``revocation_*``, ``revoked_*``: a copy of its ``batched_revocations`` row)."""

    __tablename__ = "batch_leaves"
    __table_args__ = (
        Index("ix_batch_leaves_root_leaf_hash", "root", "leaf_hash"),
        Index("ix_batch_leaves_commitment_asset", "commitment_id", "asset_key"),  # as deliveries'
    )

    root: Mapped[str] = mapped_column(ForeignKey("batches.root"), primary_key=True)
    leaf_index: Mapped[int] = mapped_column(primary_key=True)
    leaf_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    commitment_id: Mapped[int | None] = mapped_column(index=True)
    quantity: Mapped[int] = mapped_column(DecimalInteger)
    delivered_at: Mapped[int] = mapped_column(DecimalInteger)  # Unix seconds, claimed
    recording_lag_seconds: Mapped[int | None]
    recorded_late: Mapped[bool] = mapped_column(Boolean, index=True)
    evidence_hashes: Mapped[list[str]] = mapped_column(JSON)
    evidence_uri: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text)
    external_ref: Mapped[str] = mapped_column(Text)
    asset_ref: Mapped[str] = mapped_column(Text)
    asset_key: Mapped[str] = mapped_column(Text)
    values_json: Mapped[str] = mapped_column(Text)
    proof: Mapped[list[str]] = mapped_column(JSON)
    valid: Mapped[bool] = mapped_column(Boolean)  # ledger.status.leaf_is_valid, on the file's exact values
    counted: Mapped[bool] = mapped_column(Boolean)
    refused_reason: Mapped[str | None] = mapped_column(String(32))
    review: Mapped[str] = mapped_column(String(16))
    revoked: Mapped[bool] = mapped_column(Boolean)
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    revocation_registrar: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    revocation_signer_held_role: Mapped[bool | None] = mapped_column(Boolean)
    revoked_block_number: Mapped[int | None]
    revoked_log_index: Mapped[int | None]
    revoked_tx_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    revoked_block_time: Mapped[int | None]


class BatchEvidenceCitation(Base):
    """A leaf of a verified batch citing an evidence document (``position`` in its
    ``evidenceHashes``; a repeated hash once, at its first position)."""

    __tablename__ = "batch_evidence_citations"

    sha256: Mapped[str] = mapped_column(String(HASH_LENGTH), primary_key=True)
    root: Mapped[str] = mapped_column(String(HASH_LENGTH), primary_key=True)
    leaf_index: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int]


class BatchedRevocation(ChainRefColumns, Base):
    """One ``BatchedDeliveryRevoked`` (the chain reference): kept whether or not the batch's
    file is known, and copied onto every leaf of ``root`` with ``leaf_hash`` once it is."""

    __tablename__ = "batched_revocations"
    __table_args__ = (UniqueConstraint("block_number", "log_index"),)

    root: Mapped[str] = mapped_column(ForeignKey("batches.root"), primary_key=True)
    leaf_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), primary_key=True)
    commitment_id: Mapped[int] = mapped_column(index=True)
    registrar: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    signer_held_role: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(Text)
    revoked_at: Mapped[int]  # Unix seconds (event argument, = block time)


class VerdictColumns:
    """A confirmer's verdict on a delivery. ``delivery_key`` names the delivery: the recorded
    delivery's id in decimal, or ``<batch root>/<leaf hash>`` for a batched one (then
    ``delivery_id`` is ``None`` and ``root`` / ``leaf_hash`` are set). ``verdict`` is
    ``confirmed`` (with the confirmer's ``evidence_hash`` or ``None``) or ``disputed`` (with a
    ``reason``); ``at`` its block time; ``signer_held_role``: the confirmer held the role then."""

    delivery_key: Mapped[str] = mapped_column(String(140))
    delivery_id: Mapped[int | None]
    root: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    leaf_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    commitment_id: Mapped[int]
    confirmer: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    verdict: Mapped[str] = mapped_column(String(16))
    evidence_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[int]  # Unix seconds
    signer_held_role: Mapped[bool] = mapped_column(Boolean)


class VerdictEvent(VerdictColumns, ChainRefColumns, Base):
    """Every verdict event (``DeliveryConfirmed``, ``DeliveryDisputed``,
    ``BatchedDeliveryConfirmed``, ``BatchedDeliveryDisputed``), keyed on its position."""

    __tablename__ = "verdict_history"
    __table_args__ = (Index("ix_verdict_history_commitment", "commitment_id", "block_number", "log_index"),)

    block_number: Mapped[int] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(primary_key=True)
    delivery_key: Mapped[str] = mapped_column(String(140), index=True)


class Verdict(VerdictColumns, ChainRefColumns, Base):
    """The latest verdict of each confirmer on each delivery (docs/LEDGER.md "Confirmations":
    it stays when the role is removed). The chain reference is that latest event."""

    __tablename__ = "verdicts"
    __table_args__ = (UniqueConstraint("block_number", "log_index"),)

    delivery_key: Mapped[str] = mapped_column(String(140), primary_key=True)
    confirmer: Mapped[str] = mapped_column(String(ADDRESS_LENGTH), primary_key=True)
    commitment_id: Mapped[int] = mapped_column(index=True)


TABLE_NAMES = tuple(table.name for table in Base.metadata.sorted_tables)
"""Names of every table of the index, in dependency order."""


# ---------------------------------------------------------------------------- 6: search and version

SEARCH_TABLE = "commitments_search"
"""SQLite: the FTS5 table (trigram tokenizer, external content ``commitments.search_text``,
rowid = commitment id) that finds the commitments whose ``search_text`` contains a needle of
at least :data:`SEARCH_MIN_CHARS` characters; kept by triggers on ``commitments``. It keeps
which rows hold a trigram, not where (``detail=none``): half the cost of each registration's
trigrams (about 230 instead of 430 microseconds for 150 characters, measured on this machine);
a search asks for every trigram of the needle (``AND``), which an index made with positions
(schema 6 before this change) answers the same way. PostgreSQL
uses a pg_trgm GIN index on ``commitments.search_text`` instead
(``ix_commitments_search_trgm``). Either one only narrows the rows: the exact test (a
substring of the lowercased texts, ``ledger.db.repository.list_commitments``) decides."""

def search_fold(text: str) -> str:
    """The form in which texts are searched, the same for the stored ``search_text`` (the
    projection) and the needle (``ledger.db.repository.search_needle``): Unicode NFC, then
    lowercased (``str.lower``), so a word typed with a combining accent ("e" + U+0301) finds
    the same commitments as the precomposed one ("é"), and either case the other."""
    return unicodedata.normalize("NFC", text).lower()


SEARCH_MIN_CHARS = 3
"""Trigram indexes find needles of 3 characters or more; a shorter needle is looked for by
the exact test alone (a scan of ``search_text``)."""

VERSION_TABLE = "index_version"
"""One row (``id`` 1): ``epoch`` (random hex, new each time the tables are created) and ``n``
(raised by triggers on every write to ``commitments``: per row on SQLite, per statement on
PostgreSQL). ``(epoch, n)`` names a state of the commitments, so counts computed from it can
be kept until it changes (``ledger.db.repository``). Not part of :data:`Base`'s metadata: an
index rebuilt from the chain equals the one kept incrementally row for row, whatever its
counter.

The projection (``ledger.db.projection``, thousands of commitment writes per call) holds
the triggers back for one call and raises ``n`` once at its end, in its transaction
(:func:`version_hold`, :func:`version_release`), so every other writer still raises ``n``."""

VERSION_QUIET_ID = 2
"""PostgreSQL: while a :data:`VERSION_TABLE` row of this ``id`` exists the version trigger
does not raise ``n`` (:func:`version_hold`)."""

_VERSION_BUMP = f"UPDATE {VERSION_TABLE} SET n = n + 1 WHERE id = 1"
_LOUD = f"NOT EXISTS (SELECT 1 FROM {VERSION_TABLE} WHERE id = {VERSION_QUIET_ID})"
_SQLITE_VERSION_TRIGGERS = tuple(
    (f"commitments_version_{suffix}",
     f"CREATE TRIGGER IF NOT EXISTS commitments_version_{suffix} AFTER {what} ON commitments BEGIN {_VERSION_BUMP}; END")
    for suffix, what in (("ai", "INSERT"), ("ad", "DELETE"), ("au", "UPDATE"))
)


def version_hold(dialect: str) -> tuple[str, ...]:
    """SQL that stops the :data:`VERSION_TABLE` triggers until :func:`version_release`, in the
    caller's transaction, without any other connection seeing it (nothing is committed in
    between; a rollback undoes it). SQLite: the version triggers are dropped (DDL is
    transactional there; a row trigger that fires, even one whose ``WHEN`` is false, costs
    about three times the ``UPDATE`` of a commitment row: measured by ``bench.projection``).
    PostgreSQL: the row of ``id`` :data:`VERSION_QUIET_ID` is inserted (a trigger dropped
    there would lock ``commitments`` against readers until the commit)."""
    if dialect == "sqlite":
        return tuple(f"DROP TRIGGER IF EXISTS {name}" for name, _ in _SQLITE_VERSION_TRIGGERS)
    return (f"INSERT INTO {VERSION_TABLE} (id, epoch, n) VALUES ({VERSION_QUIET_ID}, '', 0) ON CONFLICT (id) DO NOTHING",)


def version_release(dialect: str) -> tuple[str, ...]:
    """SQL that undoes :func:`version_hold` and raises ``n`` once."""
    if dialect == "sqlite":
        return tuple(create for _, create in _SQLITE_VERSION_TRIGGERS) + (_VERSION_BUMP,)
    return (f"DELETE FROM {VERSION_TABLE} WHERE id = {VERSION_QUIET_ID}", _VERSION_BUMP)

_SQLITE_CREATE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {SEARCH_TABLE} USING fts5(search_text, content='commitments', "
    "content_rowid='id', tokenize='trigram', detail=none)",
    f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (id INTEGER PRIMARY KEY, epoch TEXT NOT NULL, n INTEGER NOT NULL)",
    f"CREATE TRIGGER IF NOT EXISTS commitments_ai AFTER INSERT ON commitments BEGIN "
    f"INSERT INTO {SEARCH_TABLE}(rowid, search_text) VALUES (new.id, new.search_text); END",
    f"CREATE TRIGGER IF NOT EXISTS commitments_ad AFTER DELETE ON commitments BEGIN "
    f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}, rowid, search_text) VALUES ('delete', old.id, old.search_text); END",
    f"CREATE TRIGGER IF NOT EXISTS commitments_au_search AFTER UPDATE OF search_text ON commitments BEGIN "
    f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
    f"INSERT INTO {SEARCH_TABLE}(rowid, search_text) VALUES (new.id, new.search_text); END",
) + tuple(create for _, create in _SQLITE_VERSION_TRIGGERS)

_POSTGRES_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (id BIGINT PRIMARY KEY, epoch TEXT NOT NULL, n BIGINT NOT NULL)",
    f"CREATE OR REPLACE FUNCTION {VERSION_TABLE}_bump() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN IF {_LOUD} THEN {_VERSION_BUMP}; END IF; RETURN NULL; END $$",
    f"CREATE TRIGGER commitments_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON commitments "
    f"FOR EACH STATEMENT EXECUTE FUNCTION {VERSION_TABLE}_bump()",
)


def _pg_trgm_schema(connection: Any) -> str:
    """The schema of the pg_trgm extension, created (in ``public`` when that schema exists,
    else the current one) if missing; another process creating it at the same moment is fine."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    find = text("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'")
    found = connection.scalar(find)
    if found is None:
        public = connection.scalar(text("SELECT 1 FROM pg_namespace WHERE nspname = 'public'"))
        try:
            with connection.begin_nested():
                connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm" + (" SCHEMA public" if public else "")))
        except DBAPIError:  # created by another process between the two statements
            pass
        found = connection.scalar(find)
    return str(found)


def _create_search_and_version(target: Any, connection: Any, **_: Any) -> None:
    import secrets

    from sqlalchemy import text

    dialect = connection.dialect.name
    if dialect == "sqlite":
        statements: tuple[str, ...] = _SQLITE_CREATE
    elif dialect == "postgresql":
        schema = _pg_trgm_schema(connection).replace('"', '""')
        statements = _POSTGRES_CREATE + (
            f'CREATE INDEX IF NOT EXISTS ix_commitments_search_trgm ON commitments USING gin (search_text "{schema}".gin_trgm_ops)',
        )
    else:
        return
    for statement in statements:
        connection.exec_driver_sql(statement)
    connection.execute(
        text(f"INSERT INTO {VERSION_TABLE} (id, epoch, n) VALUES (1, :epoch, 0) ON CONFLICT (id) DO NOTHING"),
        {"epoch": secrets.token_hex(8)},
    )


def _drop_search_and_version(target: Any, connection: Any, **_: Any) -> None:
    dialect = connection.dialect.name
    if dialect == "sqlite":
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {SEARCH_TABLE}")
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {VERSION_TABLE}")
    elif dialect == "postgresql":
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {VERSION_TABLE}")
        connection.exec_driver_sql(f"DROP FUNCTION IF EXISTS {VERSION_TABLE}_bump() CASCADE")


def ensure_search_and_version(connection: Any) -> None:
    """Create the text search (:data:`SEARCH_TABLE` and its triggers on SQLite, the pg_trgm
    index on PostgreSQL) and :data:`VERSION_TABLE` with its triggers where they are missing:
    an index of schema "6" made before them gets them, and SQLite's search table is filled
    from the commitments already there (FTS5 ``rebuild``); version triggers made before
    :data:`VERSION_QUIET_ID` (which raised ``n`` on every row whatever) are replaced. Nothing
    is done when they exist (one catalogue query). Called by
    ``ledger.db.engine.create_schema`` in its transaction."""
    from sqlalchemy import text

    dialect = connection.dialect.name
    if dialect == "sqlite":
        found = set(connection.scalars(
            text("SELECT name FROM sqlite_master WHERE name IN (:search, :version, 'commitments_version_au')"),
            {"search": SEARCH_TABLE, "version": VERSION_TABLE},
        ))
        if len(found) == 3:
            return
        if VERSION_TABLE in found:  # the version raised inside the search triggers: made again without it
            for trigger in ("commitments_ai", "commitments_ad", "commitments_au"):
                connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
        _create_search_and_version(None, connection)
        if SEARCH_TABLE not in found:
            connection.exec_driver_sql(f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES ('rebuild')")
    elif dialect == "postgresql":
        source = connection.scalar(
            text("SELECT p.prosrc FROM pg_proc p WHERE p.proname = :name AND p.pronamespace = to_regnamespace(current_schema())"),
            {"name": f"{VERSION_TABLE}_bump"},
        )
        if source is not None and _LOUD in source:
            return
        connection.exec_driver_sql("DROP TRIGGER IF EXISTS commitments_version ON commitments")  # one made before VERSION_QUIET_ID
        _create_search_and_version(None, connection)


event.listen(Commitment.__table__, "after_create", _create_search_and_version)
event.listen(Commitment.__table__, "before_drop", _drop_search_and_version)
