"""Apply decoded ledger events to the auditor's own model, in (block, log index) order.

A pure projection: no I/O. It trusts nothing it can check against the rules of
docs/LEDGER.md and the interface: ids must count up from 1 without gaps (delivery ids as
``commitment_id * 1_000_000 + n``), amendment numbers and their "previous" values must follow
the current state, every event must name known records, the time each record event reports
must equal its block time, no claimed date may lie after it, every record must be signed by an
account that held the role at that log's position (from ``RegistrarAdded`` /
``RegistrarRemoved`` alone), admin and recovery events must follow one another, and no write but
those the pause allows may appear while paused. Each violation becomes an
:class:`~scripts.audit.model.Anomaly` (the event is applied when it still makes sense, skipped
otherwise) so one bad log does not hide the rest.

Contract 2.1.0 adds sub-commitments (``parentId``, ``weight`` of ``CommitmentRegistered``),
assets (``assetRef`` of ``DeliveryRecorded``: a double count is decided when recorded, by
:class:`~scripts.audit.counting.DeliveryCounter`), batches (:mod:`scripts.audit.projection_batches`:
a batch's file is looked for and checked when its ``BatchAnchored`` is applied, and its counted
leaves enter the on-record running state at that log's position, in file order) and
confirmers with their verdicts (:mod:`scripts.audit.projection_reviews`).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ledger.events import LedgerEvent
from scripts.audit.assets import asset_key
from scripts.audit.batchfiles import BatchFiles
from scripts.audit.counting import DeliveryCounter
from scripts.audit.model import (
    DELIVERY_ID_BASE,
    MAX_WEIGHT,
    ZERO_ADDRESS,
    ZERO_HASH,
    Action,
    AdminChange,
    Amendment,
    Anomaly,
    ChainRef,
    Commitment,
    Delivery,
    LedgerState,
    Municipality,
    ProgressStep,
    Recovery,
    RegistrarRole,
)
from scripts.audit.projection_batches import BatchEvents
from scripts.audit.projection_reviews import ReviewEvents

AMEND_TITLE, AMEND_DESCRIPTION, AMEND_TARGET, AMEND_DUE_DATE = 1, 2, 4, 8
AMEND_ALL = 15

ALLOWED_WHILE_PAUSED = frozenset(
    {"Unpaused", "AdminRecoveryCancelled", "OwnershipTransferred", "OwnershipTransferStarted"}
)
"""Events a paused ledger may still emit (docs/LEDGER.md "Pause")."""


def chain_ref(event: LedgerEvent, block_time: int) -> ChainRef:
    """The :class:`ChainRef` of ``event`` in a block with time ``block_time`` (Unix seconds)."""
    return ChainRef(event.transaction_hash, event.block_number, event.log_index, block_time)


class Projector(BatchEvents, ReviewEvents):
    """Builds a :class:`LedgerState` from events.

    Usage: ``p = Projector(batch_files); for e in events: p.apply(e, time_of[e.block_number]);
    state = p.finish()``. Events must come in (block number, log index) order;
    :meth:`apply` records an anomaly for an event older than the previous one.

    Args:
        batch_files: where to look for the files of anchored batches; ``None``: nowhere (every
            batch is then ``missing`` and counts nothing).
    """

    def __init__(self, batch_files: BatchFiles | None = None) -> None:
        self.state = LedgerState()
        self.batch_files = batch_files
        self._counters: dict[int, DeliveryCounter] = {}
        self._last_order: tuple[int, int] | None = None
        self._finished = False
        self._handlers: Mapping[str, Callable[[Mapping[str, Any], ChainRef], None]] = {
            "OwnershipTransferred": self._ownership_transferred,
            "OwnershipTransferStarted": self._ownership_transfer_started,
            "Paused": self._paused,
            "Unpaused": self._unpaused,
            "MunicipalityRegistered": self._municipality_registered,
            "MunicipalityAdminProposed": self._municipality_admin_proposed,
            "MunicipalityAdminChanged": self._municipality_admin_changed,
            "AdminRecoveryStarted": self._admin_recovery_started,
            "AdminRecoveryCancelled": self._admin_recovery_cancelled,
            "RegistrarAdded": self._registrar_added,
            "RegistrarRemoved": self._registrar_removed,
            "CommitmentRegistered": self._commitment_registered,
            "CommitmentAmended": self._commitment_amended,
            "CommitmentWithdrawn": self._commitment_withdrawn,
            "DeliveryRecorded": self._delivery_recorded,
            "DeliveryRevoked": self._delivery_revoked,
            "BatchAnchored": self._batch_anchored,
            "BatchedDeliveryRevoked": self._batched_delivery_revoked,
            "ConfirmerAdded": self._confirmer_added,
            "ConfirmerRemoved": self._confirmer_removed,
            "DeliveryConfirmed": self._delivery_confirmed,
            "DeliveryDisputed": self._delivery_disputed,
            "BatchedDeliveryConfirmed": self._batched_delivery_confirmed,
            "BatchedDeliveryDisputed": self._batched_delivery_disputed,
        }

    # ------------------------------------------------------------------ driving

    def apply(self, event: LedgerEvent, block_time: int) -> None:
        """Apply one event from a block with time ``block_time`` (Unix seconds).

        Raises:
            RuntimeError: called after :meth:`finish`.
        """
        if self._finished:
            raise RuntimeError("Projector.apply called after finish()")
        ref = chain_ref(event, block_time)
        if self._last_order is not None and event.order <= self._last_order:
            self._anomaly("out-of-order", f"{event.name} at {event.order} follows {self._last_order}", ref)
        self._last_order = event.order
        counts = self.state.event_counts
        counts[event.name] = counts.get(event.name, 0) + 1
        handler = self._handlers.get(event.name)
        if handler is None:
            self._anomaly("unknown-event", f"event {event.name} is not part of the ledger's interface", ref)
            return
        if self.state.paused and event.name not in ALLOWED_WHILE_PAUSED:
            self._anomaly("write-while-paused", f"{event.name} emitted while the ledger was paused", ref)
        handler(event.args, ref)

    def record_anomaly(self, anomaly: Anomaly) -> None:
        """Keep a problem found outside the projection (an undecodable log, a block hash that
        changed during the replay)."""
        self.state.anomalies.append(anomaly)

    def finish(self) -> LedgerState:
        """Return the state (no more events may be applied). Each commitment's ``batched``
        lists every leaf of a verified batch that names it, in log order, also leaves anchored
        before it was registered (refused ``unknown_commitment``)."""
        self._finished = True
        for commitment in self.state.commitments.values():
            commitment.batched = []
        for batch in self.state.batches.values():
            for leaf in batch.leaves:
                named = self.state.commitments.get(leaf.commitment_id)
                if named is not None:
                    named.batched.append(leaf)
        return self.state

    def _counter(self, commitment_id: int) -> DeliveryCounter:
        """The running refs and assets of a commitment (:mod:`scripts.audit.counting`)."""
        return self._counters.setdefault(commitment_id, DeliveryCounter())

    def _anomaly(self, kind: str, message: str, ref: ChainRef | None) -> None:
        self.state.anomalies.append(Anomaly(kind, message, ref))

    def _check_time(self, what: str, reported: int, ref: ChainRef) -> None:
        if reported != ref.block_time:
            self._anomaly("event-time", f"{what}: the event reports time {reported}, its block time is {ref.block_time}", ref)

    # ------------------------------------------------------------------ platform

    def _ownership_transferred(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        if self.state.owner is not None and args["previous_owner"] != self.state.owner:
            self._anomaly("owner", f"ownership transferred from {args['previous_owner']}, owner was {self.state.owner}", ref)
        self.state.owner = args["new_owner"]
        self.state.pending_owner = None

    def _ownership_transfer_started(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        self.state.pending_owner = args["new_owner"]

    def _pause_event(self, action: str, args: Mapping[str, Any], ref: ChainRef, paused: bool) -> None:
        if self.state.paused == paused:
            self._anomaly("pause", f"{action} while the ledger was already {action}", ref)
        if self.state.owner is not None and args["account"] != self.state.owner:
            self._anomaly("signer-without-role", f"{action} by {args['account']}, the platform admin is {self.state.owner}", ref)
        self.state.paused = paused
        self.state.pauses.append({"action": action, "account": args["account"], "chain": ref.to_json()})

    def _paused(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        self._pause_event("paused", args, ref, True)

    def _unpaused(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        self._pause_event("unpaused", args, ref, False)

    # ------------------------------------------------------------------ municipalities

    def _municipality(self, municipality_id: int, event: str, ref: ChainRef) -> Municipality | None:
        found = self.state.municipalities.get(municipality_id)
        if found is None:
            self._anomaly("unknown-municipality", f"{event} names unknown municipality {municipality_id}", ref)
        return found

    def _municipality_registered(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        municipality_id = args["municipality_id"]
        expected = len(self.state.municipalities) + 1
        if municipality_id != expected or municipality_id in self.state.municipalities:
            self._anomaly("id-sequence", f"municipality id {municipality_id}, expected {expected}", ref)
            if municipality_id in self.state.municipalities:
                return
        self.state.municipalities[municipality_id] = Municipality(
            id=municipality_id, name=args["name"], code=args["code"], admin=args["admin"], registered=ref
        )

    def _municipality_admin_proposed(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        municipality = self._municipality(args["municipality_id"], "MunicipalityAdminProposed", ref)
        if municipality is None:
            return
        if args["current_admin"] != municipality.admin:
            self._anomaly(
                "signer-without-role",
                f"municipality {municipality.id}: successor proposed by {args['current_admin']}, the admin is {municipality.admin}",
                ref,
            )
        proposed = args["proposed_admin"]
        municipality.pending_admin = None if proposed == ZERO_ADDRESS else proposed

    def _municipality_admin_changed(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        municipality = self._municipality(args["municipality_id"], "MunicipalityAdminChanged", ref)
        if municipality is None:
            return
        previous, new, recovered = args["previous_admin"], args["new_admin"], bool(args["recovered"])
        if previous != municipality.admin:
            self._anomaly("admin", f"municipality {municipality.id}: previous admin {previous}, replay had {municipality.admin}", ref)
        if recovered:
            recovery = municipality.recovery
            if recovery is None or recovery.proposed_admin != new:
                self._anomaly("recovery", f"municipality {municipality.id}: recovered to {new} without a matching pending recovery", ref)
            elif ref.block_time < recovery.executable_at:
                self._anomaly(
                    "recovery",
                    f"municipality {municipality.id}: recovery completed at {ref.block_time}, before {recovery.executable_at}",
                    ref,
                )
            if municipality.recovery is not None:
                municipality.recovery_history.append(
                    {"action": "completed", "proposed_admin": new, "by": None, "chain": ref.to_json()}
                )
            municipality.recovery = None
        elif municipality.pending_admin != new:
            self._anomaly("admin", f"municipality {municipality.id}: {new} became admin without being proposed", ref)
        municipality.pending_admin = None
        municipality.admin = new
        municipality.admin_changes.append(AdminChange(previous, new, recovered, ref))

    def _admin_recovery_started(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        municipality = self._municipality(args["municipality_id"], "AdminRecoveryStarted", ref)
        if municipality is None:
            return
        if self.state.owner is not None and args["by"] != self.state.owner:
            self._anomaly("signer-without-role", f"recovery started by {args['by']}, the platform admin is {self.state.owner}", ref)
        if municipality.recovery is not None:
            self._anomaly("recovery", f"municipality {municipality.id}: a second recovery started while one was pending", ref)
        municipality.recovery = Recovery(args["proposed_admin"], args["executable_at"], args["by"], ref)
        municipality.recovery_history.append(
            {"action": "started", "proposed_admin": args["proposed_admin"], "by": args["by"],
             "executable_at": args["executable_at"], "chain": ref.to_json()}
        )

    def _admin_recovery_cancelled(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        municipality = self._municipality(args["municipality_id"], "AdminRecoveryCancelled", ref)
        if municipality is None:
            return
        if municipality.recovery is None or municipality.recovery.proposed_admin != args["proposed_admin"]:
            self._anomaly("recovery", f"municipality {municipality.id}: cancelled a recovery that was not pending", ref)
        if args["by"] not in (municipality.admin, self.state.owner):
            self._anomaly(
                "signer-without-role",
                f"municipality {municipality.id}: recovery cancelled by {args['by']}, neither its admin nor the platform admin",
                ref,
            )
        municipality.recovery = None
        municipality.recovery_history.append(
            {"action": "cancelled", "proposed_admin": args["proposed_admin"], "by": args["by"], "chain": ref.to_json()}
        )

    def _check_admin(self, municipality: Municipality, by: str, event: str, ref: ChainRef) -> None:
        if by != municipality.admin:
            self._anomaly(
                "signer-without-role", f"{event} by {by}, not the admin of municipality {municipality.id}", ref
            )

    def _registrar_added(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        municipality = self._municipality(args["municipality_id"], "RegistrarAdded", ref)
        if municipality is None:
            return
        self._check_admin(municipality, args["by"], "RegistrarAdded", ref)
        account = args["account"]
        if account in municipality.registrars:
            self._anomaly("registrar", f"{account} added twice to municipality {municipality.id}", ref)
            return
        municipality.registrars.append(account)
        municipality.registrar_roles.append(RegistrarRole(account, ref, args["by"]))

    def _registrar_removed(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        municipality = self._municipality(args["municipality_id"], "RegistrarRemoved", ref)
        if municipality is None:
            return
        self._check_admin(municipality, args["by"], "RegistrarRemoved", ref)
        account = args["account"]
        if account not in municipality.registrars:
            self._anomaly("registrar", f"{account} removed from municipality {municipality.id} but was no registrar", ref)
            return
        municipality.registrars.remove(account)
        for role in reversed(municipality.registrar_roles):
            if role.account == account and role.removed is None:
                role.removed, role.removed_by = ref, args["by"]
                break

    # ------------------------------------------------------------------ commitments

    def _commitment(self, commitment_id: int, event: str, ref: ChainRef) -> Commitment | None:
        found = self.state.commitments.get(commitment_id)
        if found is None:
            self._anomaly("unknown-commitment", f"{event} names unknown commitment {commitment_id}", ref)
        return found

    def _signer_held_role(self, municipality_id: int, registrar: str, event: str, ref: ChainRef) -> bool:
        """Whether ``registrar`` is a registrar of ``municipality_id`` at this log's position
        (the events applied so far); a ``signer-without-role`` anomaly if not."""
        municipality = self.state.municipalities.get(municipality_id)
        if municipality is None:
            self._anomaly("unknown-municipality", f"{event} names unknown municipality {municipality_id}", ref)
            return False
        if registrar not in municipality.registrars:
            self._anomaly(
                "signer-without-role", f"{event} by {registrar}, not a registrar of municipality {municipality_id}", ref
            )
            return False
        return True

    def _commitment_registered(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        commitment_id = args["commitment_id"]
        expected = len(self.state.commitments) + 1
        if commitment_id != expected or commitment_id in self.state.commitments:
            self._anomaly("id-sequence", f"commitment id {commitment_id}, expected {expected}", ref)
            if commitment_id in self.state.commitments:
                return
        held = self._signer_held_role(args["municipality_id"], args["registrar"], "CommitmentRegistered", ref)
        self._check_time(f"commitment {commitment_id} registeredAt", args["registered_at"], ref)
        if not 0 < args["promised_at"] <= ref.block_time:
            self._anomaly("claimed-date", f"commitment {commitment_id}: promisedAt {args['promised_at']} outside 1..block time", ref)
        if args["target_quantity"] <= 0:
            self._anomaly("terms", f"commitment {commitment_id}: target {args['target_quantity']} is not positive", ref)
            return
        parent = self._parent_of(commitment_id, args, ref)
        source_hash = args["source_document_hash"]
        self.state.commitments[commitment_id] = Commitment(
            id=commitment_id,
            municipality_id=args["municipality_id"],
            external_ref=args["external_ref"],
            title=args["title"],
            description=args["description"],
            theme=args["theme"],
            unit=args["unit"],
            target_quantity=args["target_quantity"],
            due_date=args["due_date"],
            promised_at=args["promised_at"],
            original_title=args["title"],
            original_description=args["description"],
            original_target_quantity=args["target_quantity"],
            original_due_date=args["due_date"],
            source_document_sha256=None if source_hash == ZERO_HASH else source_hash,
            source_uri=args["source_uri"],
            registrar=args["registrar"],
            registered_at=args["registered_at"],
            signer_held_role=held,
            registered=ref,
            parent_id=args["parent_id"] or None,
            weight=args["weight"],
        )
        if parent is not None:
            parent.children.append(self.state.commitments[commitment_id])

    def _parent_of(self, commitment_id: int, args: Mapping[str, Any], ref: ChainRef) -> Commitment | None:
        """The parent a registration names (docs/LEDGER.md "Sub-commitments"), ``None``
        without one; a parent that is unknown, of another municipality or withdrawn, or a
        weight outside 1..MAX_WEIGHT (0 without parent), is an anomaly."""
        parent_id, weight = args["parent_id"], args["weight"]
        if parent_id == 0:
            if weight != 0:
                self._anomaly("sub-commitment", f"commitment {commitment_id}: weight {weight} without a parent", ref)
            return None
        if not 1 <= weight <= MAX_WEIGHT:
            self._anomaly("sub-commitment", f"commitment {commitment_id}: weight {weight} outside 1..{MAX_WEIGHT}", ref)
        parent = self.state.commitments.get(parent_id)
        if parent is None:
            self._anomaly("sub-commitment", f"commitment {commitment_id}: unknown parent {parent_id}", ref)
        elif parent.municipality_id != args["municipality_id"]:
            self._anomaly(
                "sub-commitment", f"commitment {commitment_id}: parent {parent_id} is of municipality {parent.municipality_id}", ref
            )
        elif parent.withdrawn:
            self._anomaly("sub-commitment", f"commitment {commitment_id}: parent {parent_id} was withdrawn", ref)
        return parent

    def _commitment_amended(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        commitment = self._commitment(args["commitment_id"], "CommitmentAmended", ref)
        if commitment is None:
            return
        number, fields = args["amendment_number"], args["fields"]
        problems = []
        if number != len(commitment.amendments) + 1:
            problems.append(f"amendment number {number}, expected {len(commitment.amendments) + 1}")
        if args["previous_target_quantity"] != commitment.target_quantity:
            problems.append(f"previous target {args['previous_target_quantity']}, replay had {commitment.target_quantity}")
        if args["previous_due_date"] != commitment.due_date:
            problems.append(f"previous due date {args['previous_due_date']}, replay had {commitment.due_date}")
        if args["municipality_id"] != commitment.municipality_id:
            problems.append(f"municipality {args['municipality_id']}, commitment belongs to {commitment.municipality_id}")
        if fields == 0 or fields & ~AMEND_ALL:
            problems.append(f"fields {fields} name no field or an unknown one")
        if not fields & AMEND_TARGET and args["target_quantity"] != args["previous_target_quantity"]:
            problems.append("the target changed although fields does not name it")
        if not fields & AMEND_DUE_DATE and args["due_date"] != args["previous_due_date"]:
            problems.append("the due date changed although fields does not name it")
        if args["target_quantity"] <= 0:
            problems.append(f"target {args['target_quantity']} is not positive")
        if commitment.withdrawn:
            problems.append("amended after withdrawal")
        for problem in problems:
            self._anomaly("amendment", f"commitment {commitment.id}: {problem}", ref)
        if args["target_quantity"] <= 0:
            return
        held = self._signer_held_role(commitment.municipality_id, args["registrar"], "CommitmentAmended", ref)
        self._check_time(f"commitment {commitment.id} amendment {number} amendedAt", args["amended_at"], ref)
        amendment = Amendment(
            number=number,
            fields=fields,
            title=args["title"] if fields & AMEND_TITLE else None,
            description=args["description"] if fields & AMEND_DESCRIPTION else None,
            previous_target_quantity=args["previous_target_quantity"],
            target_quantity=args["target_quantity"],
            previous_due_date=args["previous_due_date"],
            due_date=args["due_date"],
            reason=args["reason"],
            registrar=args["registrar"],
            amended_at=args["amended_at"],
            signer_held_role=held,
            chain=ref,
        )
        commitment.amendments.append(amendment)
        if amendment.title is not None:
            commitment.title = amendment.title
        if amendment.description is not None:
            commitment.description = amendment.description
        if fields & AMEND_TARGET:
            commitment.steps.append(
                ProgressStep("target", amendment.target_quantity, commitment.target_quantity, amendment.amended_at, ref.order)
            )
        commitment.target_quantity = amendment.target_quantity
        commitment.due_date = amendment.due_date

    def _commitment_withdrawn(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        commitment = self._commitment(args["commitment_id"], "CommitmentWithdrawn", ref)
        if commitment is None:
            return
        if commitment.withdrawn:
            self._anomaly("withdrawal", f"commitment {commitment.id} withdrawn twice; the first withdrawal is kept", ref)
            return
        held = self._signer_held_role(commitment.municipality_id, args["registrar"], "CommitmentWithdrawn", ref)
        self._check_time(f"commitment {commitment.id} withdrawnAt", args["withdrawn_at"], ref)
        commitment.withdrawal = Action(args["reason"], args["registrar"], args["withdrawn_at"], held, ref)

    # ------------------------------------------------------------------ deliveries

    def _delivery_recorded(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        delivery_id = args["delivery_id"]
        commitment = self._commitment(args["commitment_id"], "DeliveryRecorded", ref)
        if commitment is None:
            return
        expected = commitment.id * DELIVERY_ID_BASE + len(commitment.deliveries) + 1
        if delivery_id != expected or delivery_id in self.state.deliveries:
            self._anomaly("id-sequence", f"delivery id {delivery_id}, expected {expected}", ref)
            if delivery_id in self.state.deliveries:
                return
        if commitment.withdrawn:
            self._anomaly("delivery", f"delivery {delivery_id} recorded after commitment {commitment.id} was withdrawn", ref)
        if not 0 < args["delivered_at"] <= ref.block_time:
            self._anomaly("claimed-date", f"delivery {delivery_id}: deliveredAt {args['delivered_at']} outside 1..block time", ref)
        held = self._signer_held_role(commitment.municipality_id, args["registrar"], "DeliveryRecorded", ref)
        self._check_time(f"delivery {delivery_id} recordedAt", args["recorded_at"], ref)
        delivery = Delivery(
            id=delivery_id,
            commitment_id=commitment.id,
            number=delivery_id % DELIVERY_ID_BASE,
            quantity=args["quantity"],
            delivered_at=args["delivered_at"],
            recorded_at=args["recorded_at"],
            evidence_sha256=list(args["evidence_hashes"]),
            evidence_uri=args["evidence_uri"],
            note=args["note"],
            external_ref=args["external_ref"],
            registrar=args["registrar"],
            signer_held_role=held,
            recorded=ref,
            asset_ref=args["asset_ref"],
            asset_key=asset_key(args["asset_ref"]),
        )
        self.state.deliveries[delivery_id] = delivery
        commitment.deliveries.append(delivery)
        if not self._counter(commitment.id).record(delivery):
            commitment.steps.append(ProgressStep("delivery", delivery.quantity, 0, delivery.recorded_at, ref.order))

    def _delivery_revoked(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        delivery = self.state.deliveries.get(args["delivery_id"])
        if delivery is None:
            self._anomaly("unknown-delivery", f"DeliveryRevoked names unknown delivery {args['delivery_id']}", ref)
            return
        if args["commitment_id"] != delivery.commitment_id:
            self._anomaly(
                "revocation",
                f"DeliveryRevoked for delivery {delivery.id} names commitment {args['commitment_id']}, "
                f"the delivery belongs to {delivery.commitment_id}",
                ref,
            )
        if delivery.revoked:
            self._anomaly("revocation", f"delivery {delivery.id} revoked twice; the first revocation is kept", ref)
            return
        commitment = self.state.commitments[delivery.commitment_id]
        held = self._signer_held_role(commitment.municipality_id, args["registrar"], "DeliveryRevoked", ref)
        self._check_time(f"delivery {delivery.id} revokedAt", args["revoked_at"], ref)
        delivery.revocation = Action(args["reason"], args["registrar"], args["revoked_at"], held, ref)
        if not delivery.double_counted:  # a double count never counted: nothing to take back
            self._counter(commitment.id).revoke(delivery)
            commitment.steps.append(ProgressStep("revocation", delivery.quantity, 0, args["revoked_at"], ref.order))
