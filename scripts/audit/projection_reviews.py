"""The projection of confirmers and their verdicts (docs/LEDGER.md "Roles",
"Confirmations"): ``ConfirmerAdded`` / ``ConfirmerRemoved``, ``DeliveryConfirmed`` /
``DeliveryDisputed`` and their ``Batched...`` twins, a part of
:class:`scripts.audit.projection.Projector`.

A delivery keeps each confirmer's latest verdict (they stay when the role is removed later).
What the contract refuses becomes an anomaly: a verdict by an account without the confirmer
role at that log, on a delivery the confirmer recorded itself (for a batched one: the batch's
registrar), on a revoked delivery, or repeating the confirmer's current verdict.
"""

from __future__ import annotations

from typing import Any, Mapping

from scripts.audit.model import ZERO_HASH, Batch, ChainRef, Municipality, RegistrarRole, Verdict


class ReviewEvents:
    """Handlers of the confirmer events (module docstring), mixed into
    :class:`~scripts.audit.projection.Projector`, whose ``state`` and helpers (``_anomaly``,
    ``_check_time``, ``_municipality``, ``_check_admin``) they use."""

    # ------------------------------------------------------------------ the role

    def _confirmer_added(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        municipality = self._municipality(args["municipality_id"], "ConfirmerAdded", ref)
        if municipality is None:
            return
        self._check_admin(municipality, args["by"], "ConfirmerAdded", ref)
        account = args["account"]
        if account in municipality.confirmers:
            self._anomaly("confirmer", f"{account} added twice as confirmer of municipality {municipality.id}", ref)
            return
        municipality.confirmers.append(account)
        municipality.confirmer_roles.append(RegistrarRole(account, ref, args["by"]))

    def _confirmer_removed(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        municipality = self._municipality(args["municipality_id"], "ConfirmerRemoved", ref)
        if municipality is None:
            return
        self._check_admin(municipality, args["by"], "ConfirmerRemoved", ref)
        account = args["account"]
        if account not in municipality.confirmers:
            self._anomaly("confirmer", f"{account} removed as confirmer of municipality {municipality.id} but was none", ref)
            return
        municipality.confirmers.remove(account)
        for role in reversed(municipality.confirmer_roles):
            if role.account == account and role.removed is None:
                role.removed, role.removed_by = ref, args["by"]
                break

    def _confirmer_held_role(self, municipality: Municipality, account: str, event: str, ref: ChainRef) -> bool:
        """Whether ``account`` is a confirmer of ``municipality`` at this log's position; a
        ``signer-without-role`` anomaly if not."""
        if account in municipality.confirmers:
            return True
        self._anomaly("signer-without-role", f"{event} by {account}, not a confirmer of municipality {municipality.id}", ref)
        return False

    # ------------------------------------------------------------------ verdicts

    def _verdict(self, event: str, args: Mapping[str, Any], ref: ChainRef, verdict: str, held: bool) -> Verdict:
        """The :class:`Verdict` an event gives (``held``: the confirmer held the role)."""
        at = args["confirmed_at"] if verdict == "confirmed" else args["disputed_at"]
        self._check_time(f"{event} {'confirmedAt' if verdict == 'confirmed' else 'disputedAt'}", at, ref)
        evidence = args.get("evidence_hash")
        return Verdict(
            confirmer=args["confirmer"],
            verdict=verdict,
            evidence_hash=None if evidence in (None, ZERO_HASH) else evidence,
            reason=args["reason"] if verdict == "disputed" else None,
            at=at,
            signer_held_role=held,
            chain=ref,
        )

    def _keep(self, verdicts: dict[str, Verdict], given: Verdict, event: str, ref: ChainRef) -> None:
        """Make ``given`` its confirmer's latest verdict (kept in the order of latest verdicts)."""
        previous = verdicts.pop(given.confirmer, None)
        if previous is not None and previous.verdict == given.verdict:
            self._anomaly("verdict", f"{event}: {given.confirmer} repeated its verdict {given.verdict}", ref)
        verdicts[given.confirmer] = given

    def _review_recorded(self, event: str, args: Mapping[str, Any], ref: ChainRef, verdict: str) -> None:
        delivery = self.state.deliveries.get(args["delivery_id"])
        if delivery is None:
            self._anomaly("unknown-delivery", f"{event} names unknown delivery {args['delivery_id']}", ref)
            return
        if args["commitment_id"] != delivery.commitment_id:
            self._anomaly(
                "verdict", f"{event} for delivery {delivery.id} names commitment {args['commitment_id']}", ref
            )
        municipality = self.state.municipalities[self.state.commitments[delivery.commitment_id].municipality_id]
        held = self._confirmer_held_role(municipality, args["confirmer"], event, ref)
        given = self._verdict(event, args, ref, verdict, held)
        if given.confirmer == delivery.registrar:
            self._anomaly("verdict", f"{event}: {given.confirmer} reviewed delivery {delivery.id} it recorded itself", ref)
        if delivery.revoked:
            self._anomaly("verdict", f"{event}: delivery {delivery.id} was revoked", ref)
        self._keep(delivery.verdicts, given, event, ref)

    def _review_batched(self, event: str, args: Mapping[str, Any], ref: ChainRef, verdict: str) -> None:
        root, leaf_hash = args["root"], args["leaf_hash"]
        batch: Batch | None = self.state.batches.get(root)
        if batch is None:
            self._anomaly("unknown-batch", f"{event} names unknown batch {root}", ref)
            return
        self._check_leaf_commitment(batch, args["commitment_id"], event, ref)
        self._leaves_named(batch, leaf_hash, args["commitment_id"], event, ref)
        held = self._confirmer_held_role(self.state.municipalities[batch.municipality_id], args["confirmer"], event, ref)
        given = self._verdict(event, args, ref, verdict, held)
        if given.confirmer == batch.registrar:
            self._anomaly("verdict", f"{event}: {given.confirmer} reviewed a leaf of batch {root} it anchored itself", ref)
        if leaf_hash in batch.revocations:
            self._anomaly("verdict", f"{event}: leaf {leaf_hash} of batch {root} was revoked", ref)
        self._keep(self.state.leaf_verdicts.setdefault((root, leaf_hash), {}), given, event, ref)

    def _delivery_confirmed(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        self._review_recorded("DeliveryConfirmed", args, ref, "confirmed")

    def _delivery_disputed(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        self._review_recorded("DeliveryDisputed", args, ref, "disputed")

    def _batched_delivery_confirmed(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        self._review_batched("BatchedDeliveryConfirmed", args, ref, "confirmed")

    def _batched_delivery_disputed(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        self._review_batched("BatchedDeliveryDisputed", args, ref, "disputed")

