"""The records the replay rebuilds from events, and their JSON form.

Units everywhere: times are integer Unix seconds (UTC); quantities are integers in the
commitment's unit (rendered as decimal strings in JSON, as the API does, because uint64 does
not fit a JS number); hashes are ``0x`` + 64 lowercase hex characters; addresses are EIP-55
checksummed. Every fact carries the :class:`ChainRef` of the event that recorded it.

The model holds facts (what the events say, plus whether each signer held the role at its
log's position) and the decisions docs/LEDGER.md makes *when a fact is recorded*: whether an
anchored batch was verified (and why not), whether each leaf or recorded delivery counted
(``refused_reason``, ``double_counted``). Everything derived at evaluation time (statuses, met
times, lags, reviews, roll-up, flags) is computed in :mod:`scripts.audit.rules`,
:mod:`scripts.audit.review` and :mod:`scripts.audit.rollup`.
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

MAX_WEIGHT = 1_000_000
"""Largest weight of a sub-commitment in its parent's roll-up (docs/LEDGER.md
"Sub-commitments", the contract's ``MAX_WEIGHT``)."""

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
    """One interval during which ``account`` held a role (registrar, or confirmer in
    ``Municipality.confirmer_roles``): from ``added`` (log position inclusive) to ``removed``
    (exclusive), ``None`` while it still holds it."""

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
        confirmers: current confirmer accounts (docs/LEDGER.md "Roles"), in the order they were
            (last) added.
        admin_changes: every admin change, in order.
        registrar_roles: every registrar interval, in the order they began.
        confirmer_roles: every confirmer interval, in the order they began.
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
    confirmers: list[str] = field(default_factory=list)
    admin_changes: list[AdminChange] = field(default_factory=list)
    registrar_roles: list[RegistrarRole] = field(default_factory=list)
    confirmer_roles: list[RegistrarRole] = field(default_factory=list)
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


@dataclass(frozen=True)
class Verdict:
    """A confirmer's verdict on a delivery (docs/LEDGER.md "Confirmations"): one
    ``DeliveryConfirmed`` / ``DeliveryDisputed`` (or their ``Batched...`` twins).

    Attributes:
        confirmer: the account that gave it (the signer of a signed write).
        verdict: ``"confirmed"`` or ``"disputed"``.
        evidence_hash: a confirmation's own evidence, ``None`` when it cites none (zero hash)
            and for a dispute.
        reason: a dispute's reason, ``None`` for a confirmation.
        at: the time the event reports (Unix seconds, = its block time).
        signer_held_role: the account held the confirmer role of the delivery's municipality
            at this log's position.
    """

    confirmer: str
    verdict: str
    evidence_hash: str | None
    reason: str | None
    at: int
    signer_held_role: bool
    chain: ChainRef

    def to_json(self) -> dict[str, Any]:
        """An entry of ``confirmations`` (with ``evidence_hash``) or ``disputes`` (with ``reason``)."""
        detail = {"evidence_hash": self.evidence_hash} if self.verdict == "confirmed" else {"reason": self.reason}
        return {
            "confirmer": self.confirmer,
            **detail,
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
        asset_ref: the asset it names as the event gives it (``""`` when none).
        asset_key: ``asset_ref`` after ``ledger.merkle.normalise_asset_ref`` (``""`` when none).
        double_counted: its asset was already named by a counted, not revoked delivery of the
            commitment when it was recorded (docs/LEDGER.md "Assets"): it never counts.
        revocation: ``None`` while the delivery is not revoked.
        verdicts: each confirmer's latest verdict, in the order of those latest verdicts.
    """

    kind = "recorded"

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
    asset_ref: str = ""
    asset_key: str = ""
    double_counted: bool = False
    revocation: Action | None = None
    verdicts: dict[str, Verdict] = field(default_factory=dict)

    @property
    def revoked(self) -> bool:
        """Whether the delivery was revoked (it no longer counts)."""
        return self.revocation is not None

    @property
    def counts(self) -> bool:
        """Whether it counts towards its commitment now: not double counted, not revoked."""
        return not self.double_counted and not self.revoked

    @property
    def key(self) -> str:
        """Its key among a commitment's deliveries (recorded and batched): the decimal id."""
        return str(self.id)


@dataclass
class BatchedDelivery:
    """One leaf of a verified batch, as a delivery (docs/LEDGER.md "Batches"): the leaf's
    values, the batch's registrar, ``recorded_at`` = the batch's ``anchoredAt`` and its chain
    reference = the ``BatchAnchored`` log.

    Attributes:
        root: the batch's Merkle root.
        leaf_hash: the StandardMerkleTree leaf hash (its delivery id).
        leaf_index: its position in the batch file's ``values``.
        commitment_id: the commitment the leaf names (it may not exist).
        quantity, delivered_at, evidence_sha256, evidence_uri, note, external_ref, asset_ref:
            the leaf's values (texts as every reader shows them: unpaired surrogates as
            U+FFFD, NUL as U+2400 "␀").
        asset_key: ``asset_ref`` normalised (``""`` when none).
        refused_reason: why it never counted (decided at the anchor, docs/LEDGER.md
            "Batches"), ``None`` when it counted.
        revocation: the ``BatchedDeliveryRevoked``, ``None`` while not revoked.
        verdicts: each confirmer's latest verdict on ``(root, leaf_hash)``.
    """

    kind = "batched"

    root: str
    leaf_hash: str
    leaf_index: int
    commitment_id: int
    quantity: int
    delivered_at: int
    recorded_at: int
    evidence_sha256: list[str]
    evidence_uri: str
    note: str
    external_ref: str
    asset_ref: str
    asset_key: str
    registrar: str
    signer_held_role: bool
    recorded: ChainRef
    refused_reason: str | None = None
    revocation: Action | None = None
    verdicts: dict[str, Verdict] = field(default_factory=dict)

    @property
    def counted(self) -> bool:
        """Whether the leaf counted when its batch was anchored (not refused)."""
        return self.refused_reason is None

    @property
    def revoked(self) -> bool:
        """Whether the leaf was revoked."""
        return self.revocation is not None

    @property
    def counts(self) -> bool:
        """Whether it counts towards its commitment now: not refused, not revoked."""
        return self.counted and not self.revoked

    @property
    def double_counted(self) -> bool:
        """Its asset was already counted (``refused_reason`` ``asset_already_counted``)."""
        return self.refused_reason == "asset_already_counted"

    @property
    def key(self) -> str:
        """Its key among a commitment's deliveries: ``<root>#<leaf_index>`` (one leaf may appear
        in two batches, or twice in one file)."""
        return f"{self.root}#{self.leaf_index}"


@dataclass
class Batch:
    """An anchored batch (``BatchAnchored``) and what checking its file found.

    Attributes:
        leaf_count: the number of leaves the registrar claimed.
        file_sha256: SHA-256 of the batch file, as anchored.
        anchored_at: the time the event reports (Unix seconds): the on-record time of every leaf.
        signer_held_role: the registrar held the role of ``municipality_id`` at the anchor.
        verified: the file was found and checked (docs/LEDGER.md "Batches").
        unverified_reason: ``missing``, ``sha256_mismatch``, ``unparseable``, ``root_mismatch``
            or ``leaf_count_mismatch``; ``None`` when verified.
        file_source: where the checked bytes came from (``"dir:<path>"``, ``"api"``), ``None``
            when no file was found.
        leaves: the leaves of a verified batch in file order (empty otherwise).
        revocations: ``BatchedDeliveryRevoked`` by leaf hash (kept for unverified batches too).
    """

    root: str
    municipality_id: int
    registrar: str
    leaf_count: int
    file_sha256: str
    file_uri: str
    anchored_at: int
    signer_held_role: bool
    chain: ChainRef
    verified: bool = False
    unverified_reason: str | None = "missing"
    file_source: str | None = None
    leaves: list[BatchedDelivery] = field(default_factory=list)
    revocations: dict[str, Action] = field(default_factory=dict)


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
    claimed date the promise was made. ``deliveries`` are the recorded ones in id order,
    ``batched`` the leaves of verified batches that name it in log order (anchor, then file
    order); ``steps`` is the on-record running log (see :class:`ProgressStep`). ``parent_id``
    and ``weight`` come from the registration (``None`` and 0 without parent); ``children``
    are its sub-commitments in id order, withdrawn ones included.
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
    parent_id: int | None = None
    weight: int = 0
    children: list["Commitment"] = field(default_factory=list)
    batched: list[BatchedDelivery] = field(default_factory=list)

    @property
    def withdrawn(self) -> bool:
        """Whether the commitment was withdrawn."""
        return self.withdrawal is not None

    @property
    def all_deliveries(self) -> list[Delivery | BatchedDelivery]:
        """Recorded deliveries (id order), then batched ones (log order), counted or not."""
        return [*self.deliveries, *self.batched]


@dataclass
class LedgerState:
    """Everything rebuilt from one replay.

    Attributes:
        contract_version: what ``version()`` answered at the start (set by the runner).
        owner: the platform admin (``OwnershipTransferred``), ``None`` before the first event.
        pending_owner: a started two-step ownership transfer, else ``None``.
        paused: whether writes are paused after the last event.
        pauses: ``{"action": "paused"|"unpaused", "account", "chain"}`` per event, in order.
        batches: every anchored batch by root, in log order.
        leaf_verdicts: (root, leaf hash) → each confirmer's latest verdict on that batched
            delivery (shared by the leaves with that hash; kept for unverified batches too).
        event_counts: number of replayed events by event name.
        anomalies: integrity problems found while replaying (empty for a sound ledger).
    """

    municipalities: dict[int, Municipality] = field(default_factory=dict)
    commitments: dict[int, Commitment] = field(default_factory=dict)
    deliveries: dict[int, Delivery] = field(default_factory=dict)
    batches: dict[str, Batch] = field(default_factory=dict)
    leaf_verdicts: dict[tuple[str, str], dict[str, Verdict]] = field(default_factory=dict)
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
