"""Apply decoded ledger events to the auditor's own model, in (block, log index) order.

A pure projection: no I/O. It trusts nothing it can check: ids must count up from 1 without
gaps, amendment numbers and their "previous" values must follow the current state, every
event must name known records, evidence citations must repeat the delivery's hashes, and the
registration time must equal the block time. Each violation becomes an
:class:`~scripts.audit.model.Anomaly` (the event is applied when it still makes sense, skipped
otherwise) so one bad log does not hide the rest.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ledger.events import LedgerEvent
from scripts.audit.model import (
    ZERO_HASH,
    Action,
    Amendment,
    Anomaly,
    ChainRef,
    Commitment,
    Delivery,
    LedgerState,
    Municipality,
)


def chain_ref(event: LedgerEvent, block_time: int) -> ChainRef:
    """The :class:`ChainRef` of ``event`` in a block with time ``block_time`` (Unix seconds)."""
    return ChainRef(event.transaction_hash, event.block_number, event.log_index, block_time)


class Projector:
    """Builds a :class:`LedgerState` from events.

    Usage: ``p = Projector(); for e in events: p.apply(e, time_of[e.block_number]);
    state = p.finish()``. Events must come in (block number, log index) order;
    :meth:`apply` records an anomaly for an event older than the previous one.
    """

    def __init__(self) -> None:
        self.state = LedgerState()
        self._last_order: tuple[int, int] | None = None
        self._finished = False
        self._handlers: Mapping[str, Callable[[Mapping[str, Any], ChainRef], None]] = {
            "OwnershipTransferred": self._ownership_transferred,
            "OwnershipTransferStarted": self._ownership_transfer_started,
            "MunicipalityRegistered": self._municipality_registered,
            "MunicipalityAdminChanged": self._municipality_admin_changed,
            "RegistrarAdded": self._registrar_added,
            "RegistrarRemoved": self._registrar_removed,
            "CommitmentRegistered": self._commitment_registered,
            "CommitmentAmended": self._commitment_amended,
            "CommitmentWithdrawn": self._commitment_withdrawn,
            "DeliveryRecorded": self._delivery_recorded,
            "EvidenceCited": self._evidence_cited,
            "DeliveryRevoked": self._delivery_revoked,
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
        handler(event.args, ref)

    def record_anomaly(self, anomaly: Anomaly) -> None:
        """Keep a problem found outside the projection (an undecodable log, a block hash that
        changed during the replay)."""
        self.state.anomalies.append(anomaly)

    def finish(self) -> LedgerState:
        """Run the end-of-stream checks (evidence citations) and return the state."""
        if not self._finished:
            self._finished = True
            for delivery in self.state.deliveries.values():
                if delivery.cited_sha256 != delivery.evidence_sha256:
                    self._anomaly(
                        "evidence-citations",
                        f"delivery {delivery.id} records evidence {delivery.evidence_sha256} but "
                        f"EvidenceCited events name {delivery.cited_sha256}",
                        delivery.recorded,
                    )
        return self.state

    def _anomaly(self, kind: str, message: str, ref: ChainRef | None) -> None:
        self.state.anomalies.append(Anomaly(kind, message, ref))

    # ------------------------------------------------------------------ ownership

    def _ownership_transferred(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        if self.state.owner is not None and args["previous_owner"] != self.state.owner:
            self._anomaly("owner", f"ownership transferred from {args['previous_owner']}, owner was {self.state.owner}", ref)
        self.state.owner = args["new_owner"]
        self.state.pending_owner = None

    def _ownership_transfer_started(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        self.state.pending_owner = args["new_owner"]

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

    def _municipality_admin_changed(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        municipality = self._municipality(args["municipality_id"], "MunicipalityAdminChanged", ref)
        if municipality is None:
            return
        if args["previous_admin"] != municipality.admin:
            self._anomaly(
                "admin",
                f"municipality {municipality.id}: previous admin {args['previous_admin']}, replay had {municipality.admin}",
                ref,
            )
        municipality.admin = args["new_admin"]
        municipality.admin_history.append(
            {"previous_admin": args["previous_admin"], "new_admin": args["new_admin"], "chain": ref.to_json()}
        )

    def _registrar_added(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        municipality = self._municipality(args["municipality_id"], "RegistrarAdded", ref)
        if municipality is None:
            return
        account = args["account"]
        if account in municipality.registrars:
            self._anomaly("registrar", f"{account} added twice to municipality {municipality.id}", ref)
        else:
            municipality.registrars.append(account)
        municipality.registrar_history.append(
            {"action": "added", "account": account, "by": args["by"], "chain": ref.to_json()}
        )

    def _registrar_removed(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        municipality = self._municipality(args["municipality_id"], "RegistrarRemoved", ref)
        if municipality is None:
            return
        account = args["account"]
        if account in municipality.registrars:
            municipality.registrars.remove(account)
        else:
            self._anomaly("registrar", f"{account} removed from municipality {municipality.id} but was no registrar", ref)
        municipality.registrar_history.append(
            {"action": "removed", "account": account, "by": args["by"], "chain": ref.to_json()}
        )

    # ------------------------------------------------------------------ commitments

    def _commitment(self, commitment_id: int, event: str, ref: ChainRef) -> Commitment | None:
        found = self.state.commitments.get(commitment_id)
        if found is None:
            self._anomaly("unknown-commitment", f"{event} names unknown commitment {commitment_id}", ref)
        return found

    def _check_registrar(self, municipality_id: int, registrar: str, event: str, ref: ChainRef) -> None:
        municipality = self.state.municipalities.get(municipality_id)
        if municipality is None:
            self._anomaly("unknown-municipality", f"{event} names unknown municipality {municipality_id}", ref)
        elif registrar not in municipality.registrars:
            self._anomaly("registrar", f"{event} by {registrar}, not a registrar of municipality {municipality_id}", ref)

    def _commitment_registered(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        commitment_id = args["commitment_id"]
        expected = len(self.state.commitments) + 1
        if commitment_id != expected or commitment_id in self.state.commitments:
            self._anomaly("id-sequence", f"commitment id {commitment_id}, expected {expected}", ref)
            if commitment_id in self.state.commitments:
                return
        self._check_registrar(args["municipality_id"], args["registrar"], "CommitmentRegistered", ref)
        if args["registered_at"] != ref.block_time:
            self._anomaly(
                "registered-at",
                f"commitment {commitment_id}: registeredAt {args['registered_at']} differs from block time {ref.block_time}",
                ref,
            )
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
            source_document_sha256=None if source_hash == ZERO_HASH else source_hash,
            source_uri=args["source_uri"],
            registrar=args["registrar"],
            registered_at=args["registered_at"],
            registered=ref,
            original={
                "title": args["title"],
                "description": args["description"],
                "target_quantity": args["target_quantity"],
                "due_date": args["due_date"],
            },
        )

    def _commitment_amended(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        commitment = self._commitment(args["commitment_id"], "CommitmentAmended", ref)
        if commitment is None:
            return
        number = args["amendment_number"]
        problems = []
        if number != len(commitment.amendments) + 1:
            problems.append(f"amendment number {number}, expected {len(commitment.amendments) + 1}")
        if args["previous_target_quantity"] != commitment.target_quantity:
            problems.append(f"previous target {args['previous_target_quantity']}, replay had {commitment.target_quantity}")
        if args["previous_due_date"] != commitment.due_date:
            problems.append(f"previous due date {args['previous_due_date']}, replay had {commitment.due_date}")
        if args["municipality_id"] != commitment.municipality_id:
            problems.append(f"municipality {args['municipality_id']}, commitment belongs to {commitment.municipality_id}")
        if commitment.withdrawn:
            problems.append("amended after withdrawal")
        for problem in problems:
            self._anomaly("amendment", f"commitment {commitment.id}: {problem}", ref)
        self._check_registrar(commitment.municipality_id, args["registrar"], "CommitmentAmended", ref)
        commitment.amendments.append(
            Amendment(
                number=number,
                title=args["title"],
                description=args["description"],
                previous_target_quantity=args["previous_target_quantity"],
                target_quantity=args["target_quantity"],
                previous_due_date=args["previous_due_date"],
                due_date=args["due_date"],
                reason=args["reason"],
                registrar=args["registrar"],
                chain=ref,
            )
        )
        commitment.title = args["title"]
        commitment.description = args["description"]
        commitment.target_quantity = args["target_quantity"]
        commitment.due_date = args["due_date"]

    def _commitment_withdrawn(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        commitment = self._commitment(args["commitment_id"], "CommitmentWithdrawn", ref)
        if commitment is None:
            return
        if commitment.withdrawn:
            self._anomaly("withdrawal", f"commitment {commitment.id} withdrawn twice; the first withdrawal is kept", ref)
            return
        self._check_registrar(commitment.municipality_id, args["registrar"], "CommitmentWithdrawn", ref)
        commitment.withdrawal = Action(reason=args["reason"], registrar=args["registrar"], chain=ref)

    # ------------------------------------------------------------------ deliveries

    def _delivery_recorded(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        delivery_id = args["delivery_id"]
        commitment = self._commitment(args["commitment_id"], "DeliveryRecorded", ref)
        if commitment is None:
            return
        expected = len(self.state.deliveries) + 1
        if delivery_id != expected or delivery_id in self.state.deliveries:
            self._anomaly("id-sequence", f"delivery id {delivery_id}, expected {expected}", ref)
            if delivery_id in self.state.deliveries:
                return
        if commitment.withdrawn:
            self._anomaly("delivery", f"delivery {delivery_id} recorded after commitment {commitment.id} was withdrawn", ref)
        if args["delivered_at"] > ref.block_time:
            self._anomaly("delivery", f"delivery {delivery_id} dated {args['delivered_at']}, after its block time", ref)
        self._check_registrar(commitment.municipality_id, args["registrar"], "DeliveryRecorded", ref)
        delivery = Delivery(
            id=delivery_id,
            commitment_id=commitment.id,
            quantity=args["quantity"],
            delivered_at=args["delivered_at"],
            evidence_sha256=list(args["evidence_hashes"]),
            evidence_uri=args["evidence_uri"],
            note=args["note"],
            external_ref=args["external_ref"],
            registrar=args["registrar"],
            recorded=ref,
        )
        self.state.deliveries[delivery_id] = delivery
        commitment.deliveries.append(delivery)

    def _evidence_cited(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        delivery = self.state.deliveries.get(args["delivery_id"])
        if delivery is None:
            self._anomaly("unknown-delivery", f"EvidenceCited names unknown delivery {args['delivery_id']}", ref)
            return
        if args["commitment_id"] != delivery.commitment_id:
            self._anomaly(
                "evidence-citations",
                f"EvidenceCited for delivery {delivery.id} names commitment {args['commitment_id']}, "
                f"the delivery belongs to {delivery.commitment_id}",
                ref,
            )
        if ref.tx_hash != delivery.recorded.tx_hash:
            self._anomaly("evidence-citations", f"EvidenceCited for delivery {delivery.id} in another transaction", ref)
        delivery.cited_sha256.append(args["evidence_hash"])

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
        self._check_registrar(commitment.municipality_id, args["registrar"], "DeliveryRevoked", ref)
        delivery.revocation = Action(reason=args["reason"], registrar=args["registrar"], chain=ref)
