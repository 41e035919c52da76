"""The records the replay rebuilds from events, and their JSON form.

Units everywhere: times are integer Unix seconds (UTC); quantities are integers in the
commitment's unit (rendered as decimal strings in JSON, as the API does, because uint64 does
not fit a JS number); hashes are ``0x`` + 64 lowercase hex characters; addresses are EIP-55
checksummed. Every fact carries the :class:`ChainRef` of the event that recorded it.

The model holds facts only (what the events say, plus whether each signer held the role at
its log's position). Everything derived by a rule of docs/LEDGER.md (statuses, met times,
lags, flags) is computed in :mod:`scripts.audit.rules`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

ZERO_HASH = "0x" + "00" * 32
ZERO_ADDRESS = "0x" + "00" * 20

DELIVERY_ID_BASE = 1_000_000
"""A delivery id is ``commitment_id * DELIVERY_ID_BASE + n``, n = 1.. per commitment
(docs/LEDGER.md "Ids"; the contract's ``DELIVERY_ID_BASE``)."""

AMEND_FIELD_NAMES: tuple[tuple[int, str], ...] = (
    (1, "title"),
    (2, "description"),
    (4, "target_quantity"),
    (8, "due_date"),
)
"""The ``fields`` bits of ``CommitmentAmended`` and their names (docs/LEDGER.md "Terms")."""


def iso_utc(unix_seconds: int | None) -> str | None:
    """``1764412800`` → ``"2025-11-29T10:40:00Z"``; ``None`` stays ``None``."""
    if unix_seconds is None:
        return None
    return datetime.fromtimestamp(unix_seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def field_names(bits: int) -> list[str]:
    """The names of the amendment field bits set in ``bits``, in bit order
    (``5`` → ``["title", "target_quantity"]``); unknown bits are ignored."""
    return [name for bit, name in AMEND_FIELD_NAMES if bits & bit]


@dataclass(frozen=True)
class ChainRef:
    """Where a fact is recorded: transaction hash, block number, log index (0-based, in the
    block) and block time (Unix seconds)."""

    tx_hash: str
    block_number: int
    log_index: int
    block_time: int

    @property
    def order(self) -> tuple[int, int]:
        """(block number, log index): the order of the event log."""
        return (self.block_number, self.log_index)

    def to_json(self) -> dict[str, Any]:
        """The API's ``ChainRef`` shape (with ``block_time_iso``)."""
        return {
            "tx_hash": self.tx_hash,
            "block_number": self.block_number,
            "log_index": self.log_index,
            "block_time": self.block_time,
            "block_time_iso": iso_utc(self.block_time),
        }


@dataclass(frozen=True)
class Anomaly:
    """Something in the event stream that the contract should have made impossible (an event
    for an unknown id, an undecodable log, a record signed by an account without the role, ...).

    Attributes:
        kind: short machine name, e.g. ``"unknown-commitment"``, ``"signer-without-role"``.
        message: what is wrong, for people.
        chain: where, when known.
    """

    kind: str
    message: str
    chain: ChainRef | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "chain": self.chain.to_json() if self.chain else None}


@dataclass(frozen=True)
class AdminChange:
    """A ``MunicipalityAdminChanged``: ``recovered`` when a time-locked recovery completed,
    false for an accepted two-step handover."""

    previous_admin: str
    new_admin: str
    recovered: bool
    chain: ChainRef

    def to_json(self) -> dict[str, Any]:
        """docs/LEDGER.md ``admin_changes`` entry."""
        return {
            "previous_admin": self.previous_admin,
            "new_admin": self.new_admin,
            "recovered": self.recovered,
            "chain": self.chain.to_json(),
        }


@dataclass(frozen=True)
class Recovery:
    """A pending admin recovery (``AdminRecoveryStarted``): who becomes admin, from when
    (``executable_at``, Unix seconds) and by whom it was started."""

    proposed_admin: str
    executable_at: int
    by: str
    started: ChainRef

    def to_json(self) -> dict[str, Any]:
        """docs/LEDGER.md ``recovery`` shape (docs/API.md adds ``executable_at_iso`` and
        ``started_by``, the platform admin who started it)."""
        return {
            "proposed_admin": self.proposed_admin,
            "executable_at": self.executable_at,
            "executable_at_iso": iso_utc(self.executable_at),
            "started_by": self.by,
            "started": self.started.to_json(),
        }


@dataclass
class RegistrarRole:
    """One interval during which ``account`` held the registrar role: from ``added`` (log
    position inclusive) to ``removed`` (exclusive), ``None`` while it still holds it."""

    account: str
    added: ChainRef
    added_by: str
    removed: ChainRef | None = None
    removed_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "added": self.added.to_json(),
            "added_by": self.added_by,
            "removed": self.removed.to_json() if self.removed else None,
            "removed_by": self.removed_by,
        }


@dataclass
class Municipality:
    """An onboarded municipality.

    Attributes:
        admin: the current admin.
        pending_admin: the proposed successor (two-step handover), ``None`` if none.
        recovery: the pending recovery, ``None`` if none.
        registrars: current registrar accounts, in the order they were (last) added.
        admin_changes: every admin change, in order.
        registrar_roles: every registrar interval, in the order they began.
        recovery_history: ``{"action": "started"|"cancelled"|"completed", "proposed_admin",
            "by", "chain", ("executable_at")}`` per recovery event, in order.
    """

    id: int
    name: str
    code: str
    admin: str
    registered: ChainRef
    pending_admin: str | None = None
    recovery: Recovery | None = None
    registrars: list[str] = field(default_factory=list)
    admin_changes: list[AdminChange] = field(default_factory=list)
    registrar_roles: list[RegistrarRole] = field(default_factory=list)
    recovery_history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Amendment:
    """One amendment of a commitment (``number`` counts from 1 per commitment).

    ``title`` / ``description`` are ``None`` when ``fields`` does not name them; target and
    due date are given before and after (equal when not named). ``amended_at`` is the time the
    event reports (the block time). ``signer_held_role``: the registrar held the role of the
    commitment's municipality at this log's position.
    """

    number: int
    fields: int
    title: str | None
    description: str | None
    previous_target_quantity: int
    target_quantity: int
    previous_due_date: int
    due_date: int
    reason: str
    registrar: str
    amended_at: int
    signer_held_role: bool
    chain: ChainRef


@dataclass(frozen=True)
class Action:
    """A withdrawal or a revocation: the reason, who did it, the time the event reports
    (Unix seconds), whether the signer held the role, where it is recorded."""

    reason: str
    registrar: str
    at: int
    signer_held_role: bool
    chain: ChainRef

    def to_json(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "registrar": self.registrar,
            "at": self.at,
            "at_iso": iso_utc(self.at),
            "signer_held_role": self.signer_held_role,
            "chain": self.chain.to_json(),
        }


@dataclass
class Delivery:
    """A delivery recorded against a commitment: two clocks, ``delivered_at`` (claimed by the
    registrar) and ``recorded_at`` (the block time the event reports).

    Attributes:
        number: ``id % DELIVERY_ID_BASE``, 1 for the commitment's first delivery.
        evidence_sha256: the evidence hashes of ``DeliveryRecorded``, in order.
        revocation: ``None`` while the delivery counts.
    """

    id: int
    commitment_id: int
    number: int
    quantity: int
    delivered_at: int
    recorded_at: int
    evidence_sha256: list[str]
    evidence_uri: str
    note: str
    external_ref: str
    registrar: str
    signer_held_role: bool
    recorded: ChainRef
    revocation: Action | None = None

    @property
    def revoked(self) -> bool:
        """Whether the delivery was revoked (it no longer counts)."""
        return self.revocation is not None


@dataclass(frozen=True)
class ProgressStep:
    """One event that moves the on-record running state of a commitment (docs/LEDGER.md
    "Status rules", clock "on record"), in log order.

    Attributes:
        kind: ``"delivery"`` (quantity added), ``"revocation"`` (quantity removed) or
            ``"target"`` (an amendment of the target).
        quantity: the delivery's quantity for the first two kinds; the new target for ``"target"``.
        previous_target: the target before a ``"target"`` step (0 for the other kinds).
        at: the block time of the step, Unix seconds (``recorded_at``, ``revoked_at``, ``amended_at``).
        order: (block number, log index).
    """

    kind: str
    quantity: int
    previous_target: int
    at: int
    order: tuple[int, int]


@dataclass
class Commitment:
    """A commitment with its amendments applied in order.

    ``title``, ``description``, ``target_quantity`` and ``due_date`` are the current values
    (after the last amendment); ``original_target_quantity`` / ``original_due_date`` (and
    ``original_title`` / ``original_description``) keep the registered ones. ``registered_at``
    is the time the event reports (it equals ``registered.block_time``); ``promised_at`` is the
    claimed date the promise was made. ``deliveries`` are in id order; ``steps`` is the
    on-record running log (see :class:`ProgressStep`).
    """

    id: int
    municipality_id: int
    external_ref: str
    title: str
    description: str
    theme: str
    unit: str
    target_quantity: int
    due_date: int
    promised_at: int
    original_title: str
    original_description: str
    original_target_quantity: int
    original_due_date: int
    source_document_sha256: str | None
    source_uri: str
    registrar: str
    registered_at: int
    signer_held_role: bool
    registered: ChainRef
    amendments: list[Amendment] = field(default_factory=list)
    withdrawal: Action | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    steps: list[ProgressStep] = field(default_factory=list)

    @property
    def withdrawn(self) -> bool:
        """Whether the commitment was withdrawn."""
        return self.withdrawal is not None


@dataclass
class LedgerState:
    """Everything rebuilt from one replay.

    Attributes:
        contract_version: what ``version()`` answered at the start (set by the runner).
        owner: the platform admin (``OwnershipTransferred``), ``None`` before the first event.
        pending_owner: a started two-step ownership transfer, else ``None``.
        paused: whether writes are paused after the last event.
        pauses: ``{"action": "paused"|"unpaused", "account", "chain"}`` per event, in order.
        event_counts: number of replayed events by event name.
        anomalies: integrity problems found while replaying (empty for a sound ledger).
    """

    municipalities: dict[int, Municipality] = field(default_factory=dict)
    commitments: dict[int, Commitment] = field(default_factory=dict)
    deliveries: dict[int, Delivery] = field(default_factory=dict)
    contract_version: str | None = None
    owner: str | None = None
    pending_owner: str | None = None
    paused: bool = False
    pauses: list[dict[str, Any]] = field(default_factory=list)
    event_counts: dict[str, int] = field(default_factory=dict)
    anomalies: list[Anomaly] = field(default_factory=list)

    @property
    def events_replayed(self) -> int:
        """Number of events applied (decoded logs)."""
        return sum(self.event_counts.values())
