"""Tables of the index (SQLAlchemy 2 typed ORM).

The index is a projection of the ledger's events (``ledger.db.projection`` is its only
writer). Every row produced by an event carries that event's chain position
``(block_number, log_index)``, ``tx_hash`` and ``block_time`` (Unix seconds), through
:class:`ChainRefColumns`; updates made by a later event (amendment, withdrawal, revocation)
carry that event's position in their own prefixed columns.

Units: every ``*_at``, ``*_time`` and ``due_date`` column is Unix seconds (UTC); quantities
are in the commitment's unit and fit BIGINT (the contract bounds them to 10^15). Hashes are
``0x``-prefixed lowercase hex (66 characters), addresses EIP-55 checksummed (42 characters).

Tables: ``checkpoint``, ``events``, ``municipalities``, ``registrars``, ``commitments``,
``amendments``, ``deliveries``, ``evidence_citations``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

HASH_LENGTH = 66
ADDRESS_LENGTH = 42

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base: every ``int`` column is a BIGINT (ids, blocks, quantities, times)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {int: BigInteger, dict[str, Any]: JSON}


class ChainRefColumns:
    """Where the event that produced a row is recorded on chain."""

    block_number: Mapped[int]
    log_index: Mapped[int]
    tx_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    block_time: Mapped[int]  # Unix seconds


class CheckpointRow(Base):
    """The indexer's progress (one row, ``id`` 1). ``last_block`` is the last block whose
    events are in the index (inclusive); ``None`` before the first chunk."""

    __tablename__ = "checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_address: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    last_block: Mapped[int | None]
    last_block_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    chain_head_block: Mapped[int | None]
    head_seen_at: Mapped[int | None]  # Unix seconds
    updated_at: Mapped[int]  # Unix seconds


class EventRow(Base):
    """The raw decoded event log, one row per log, keyed on its chain position.

    ``args`` holds the decoder's arguments (snake_case names, ``0x`` hex for bytes32,
    checksummed addresses, ints). ``commitment_id``/``delivery_id``/``municipality_id`` are
    copied from the args (or the projected rows) for lookups; ``None`` when not applicable.
    """

    __tablename__ = "events"

    block_number: Mapped[int] = mapped_column(primary_key=True)
    log_index: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    tx_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    block_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    block_time: Mapped[int]
    commitment_id: Mapped[int | None] = mapped_column(index=True)
    delivery_id: Mapped[int | None] = mapped_column(index=True)
    municipality_id: Mapped[int | None] = mapped_column(index=True)
    args: Mapped[dict[str, Any]]


class Municipality(ChainRefColumns, Base):
    """A municipality (issuer). The chain reference is its ``MunicipalityRegistered`` event."""

    __tablename__ = "municipalities"
    __table_args__ = (UniqueConstraint("block_number", "log_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(16))
    admin: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))


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


class Commitment(ChainRefColumns, Base):
    """A commitment's current state. The chain reference is its ``CommitmentRegistered``
    event; texts, target and due date are the latest amendment's. ``delivered_quantity`` and
    ``met_at`` (``None`` while not met) are recomputed from the non-revoked deliveries.
    ``search_text`` is the lowercased title, description and external_ref (for ``q``)."""

    __tablename__ = "commitments"
    __table_args__ = (
        UniqueConstraint("municipality_id", "external_ref"),
        UniqueConstraint("block_number", "log_index"),
        Index("ix_commitments_municipality_theme", "municipality_id", "theme"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    municipality_id: Mapped[int] = mapped_column(ForeignKey("municipalities.id"))
    registrar: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    external_ref: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    theme: Mapped[str] = mapped_column(String(120), index=True)
    unit: Mapped[str] = mapped_column(String(32))
    target_quantity: Mapped[int]
    due_date: Mapped[int]  # Unix seconds
    source_document_sha256: Mapped[str | None] = mapped_column(String(HASH_LENGTH), index=True)
    source_uri: Mapped[str] = mapped_column(String(512))
    registered_at: Mapped[int]  # Unix seconds (event argument, = block time)
    amendment_count: Mapped[int]
    delivered_quantity: Mapped[int]
    met_at: Mapped[int | None]  # Unix seconds
    withdrawn: Mapped[bool] = mapped_column(Boolean)
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)
    withdrawal_registrar: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    withdrawn_block_number: Mapped[int | None]
    withdrawn_log_index: Mapped[int | None]
    withdrawn_tx_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    withdrawn_block_time: Mapped[int | None]
    search_text: Mapped[str] = mapped_column(Text)


class Amendment(ChainRefColumns, Base):
    """One ``CommitmentAmended`` event: the new texts, old and new target and due date."""

    __tablename__ = "amendments"
    __table_args__ = (UniqueConstraint("block_number", "log_index"),)

    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitments.id"), primary_key=True)
    amendment_number: Mapped[int] = mapped_column(primary_key=True)
    registrar: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    previous_target_quantity: Mapped[int]
    target_quantity: Mapped[int]
    previous_due_date: Mapped[int]
    due_date: Mapped[int]
    reason: Mapped[str] = mapped_column(Text)


class Delivery(ChainRefColumns, Base):
    """A delivery. The chain reference is its ``DeliveryRecorded`` event; ``revoked_*`` is
    its ``DeliveryRevoked`` event, if any (a revoked delivery no longer counts)."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("block_number", "log_index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitments.id"), index=True)
    registrar: Mapped[str] = mapped_column(String(ADDRESS_LENGTH))
    quantity: Mapped[int]
    delivered_at: Mapped[int]  # Unix seconds
    evidence_uri: Mapped[str] = mapped_column(String(512))
    note: Mapped[str] = mapped_column(Text)
    external_ref: Mapped[str] = mapped_column(String(64))
    revoked: Mapped[bool] = mapped_column(Boolean)
    revocation_reason: Mapped[str | None] = mapped_column(Text)
    revocation_registrar: Mapped[str | None] = mapped_column(String(ADDRESS_LENGTH))
    revoked_block_number: Mapped[int | None]
    revoked_log_index: Mapped[int | None]
    revoked_tx_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    revoked_block_time: Mapped[int | None]


class EvidenceCitation(ChainRefColumns, Base):
    """A delivery citing an evidence document by SHA-256, once per (sha256, delivery).

    ``position`` is the hash's first index in the delivery's evidence list. The chain
    reference is the event that created the row: the ``DeliveryRecorded`` event (which
    carries the hashes); an ``EvidenceCited`` event only adds a row it does not have yet.
    """

    __tablename__ = "evidence_citations"

    sha256: Mapped[str] = mapped_column(String(HASH_LENGTH), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), primary_key=True, index=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitments.id"), index=True)
    position: Mapped[int]


TABLE_NAMES = tuple(table.name for table in Base.metadata.sorted_tables)
"""Names of every table of the index, in dependency order."""
