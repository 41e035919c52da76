"""The records the replay rebuilds from events, and their JSON form.

Units everywhere: times are integer Unix seconds (UTC); quantities are integers in the
commitment's unit (rendered as decimal strings in JSON, as the API does, because uint64 does
not fit a JS number); hashes are ``0x`` + 64 lowercase hex characters; addresses are EIP-55
checksummed. Every fact carries the :class:`ChainRef` of the event that recorded it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

ZERO_HASH = "0x" + "00" * 32


def iso_utc(unix_seconds: int | None) -> str | None:
    """``1764412800`` → ``"2025-11-29T10:40:00Z"``; ``None`` stays ``None``."""
    if unix_seconds is None:
        return None
    return datetime.fromtimestamp(unix_seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ChainRef:
    """Where a fact is recorded: transaction hash, block number, log index (0-based, in the
    block) and block time (Unix seconds)."""

    tx_hash: str
    block_number: int
    log_index: int
    block_time: int

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
    for an unknown id, an undecodable log, evidence citations that do not match, ...).

    Attributes:
        kind: short machine name, e.g. ``"unknown-commitment"``, ``"undecodable-log"``.
        message: what is wrong, for people.
        chain: where, when known.
    """

    kind: str
    message: str
    chain: ChainRef | None = None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "message": self.message, "chain": self.chain.to_json() if self.chain else None}


@dataclass
class Municipality:
    """An onboarded municipality.

    Attributes:
        registrars: current registrar accounts, in the order they were (last) added.
        admin_history: ``{"previous_admin", "new_admin", "chain"}`` per change, in order.
        registrar_history: ``{"action": "added"|"removed", "account", "by", "chain"}``, in order.
    """

    id: int
    name: str
    code: str
    admin: str
    registered: ChainRef
    registrars: list[str] = field(default_factory=list)
    admin_history: list[dict[str, Any]] = field(default_factory=list)
    registrar_history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Amendment:
    """One amendment of a commitment (``number`` counts from 1 per commitment)."""

    number: int
    title: str
    description: str
    previous_target_quantity: int
    target_quantity: int
    previous_due_date: int
    due_date: int
    reason: str
    registrar: str
    chain: ChainRef

    def to_json(self) -> dict[str, Any]:
        return {
            "amendment_number": self.number,
            "title": self.title,
            "description": self.description,
            "previous_target_quantity": str(self.previous_target_quantity),
            "target_quantity": str(self.target_quantity),
            "previous_due_date": self.previous_due_date,
            "due_date": self.due_date,
            "reason": self.reason,
            "registrar": self.registrar,
            "chain": self.chain.to_json(),
        }


@dataclass(frozen=True)
class Action:
    """A withdrawal or a revocation: the reason, who did it, where it is recorded."""

    reason: str
    registrar: str
    chain: ChainRef

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason, "registrar": self.registrar, "chain": self.chain.to_json()}


@dataclass
class Delivery:
    """A delivery recorded against a commitment.

    Attributes:
        evidence_sha256: the evidence hashes of ``DeliveryRecorded``, in order.
        cited_sha256: the hashes of the ``EvidenceCited`` events for this delivery, in log
            order (the projection checks they equal ``evidence_sha256``).
        revocation: ``None`` while the delivery counts.
    """

    id: int
    commitment_id: int
    quantity: int
    delivered_at: int
    evidence_sha256: list[str]
    evidence_uri: str
    note: str
    external_ref: str
    registrar: str
    recorded: ChainRef
    revocation: Action | None = None
    cited_sha256: list[str] = field(default_factory=list)

    @property
    def revoked(self) -> bool:
        """Whether the delivery was revoked (it no longer counts)."""
        return self.revocation is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "commitment_id": self.commitment_id,
            "quantity": str(self.quantity),
            "delivered_at": self.delivered_at,
            "delivered_at_iso": iso_utc(self.delivered_at),
            "evidence_sha256": list(self.evidence_sha256),
            "evidence_uri": self.evidence_uri,
            "note": self.note,
            "external_ref": self.external_ref,
            "registrar": self.registrar,
            "recorded": self.recorded.to_json(),
            "revoked": self.revoked,
            "revocation": self.revocation.to_json() if self.revocation else None,
        }


@dataclass
class Commitment:
    """A commitment with its amendments applied in order.

    ``title``, ``description``, ``target_quantity`` and ``due_date`` are the current values
    (after the last amendment); ``original`` keeps the registered ones. ``registered_at`` is the
    time the event itself reports (it equals ``registered.block_time``). ``deliveries`` are in
    id order.
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
    source_document_sha256: str | None
    source_uri: str
    registrar: str
    registered_at: int
    registered: ChainRef
    original: dict[str, Any]
    amendments: list[Amendment] = field(default_factory=list)
    withdrawal: Action | None = None
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def withdrawn(self) -> bool:
        """Whether the commitment was withdrawn."""
        return self.withdrawal is not None


@dataclass
class LedgerState:
    """Everything rebuilt from one replay.

    Attributes:
        owner: the platform admin (``OwnershipTransferred``), ``None`` before the first event.
        pending_owner: a started two-step ownership transfer, else ``None``.
        event_counts: number of replayed events by event name.
        anomalies: integrity problems found while replaying (empty for a sound ledger).
    """

    municipalities: dict[int, Municipality] = field(default_factory=dict)
    commitments: dict[int, Commitment] = field(default_factory=dict)
    deliveries: dict[int, Delivery] = field(default_factory=dict)
    owner: str | None = None
    pending_owner: str | None = None
    event_counts: dict[str, int] = field(default_factory=dict)
    anomalies: list[Anomaly] = field(default_factory=list)

    @property
    def events_replayed(self) -> int:
        """Number of events applied (decoded logs)."""
        return sum(self.event_counts.values())
