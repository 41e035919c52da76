"""The projection of batches (docs/LEDGER.md "Batches"): ``BatchAnchored`` and
``BatchedDeliveryRevoked``, a part of :class:`scripts.audit.projection.Projector`.

When a ``BatchAnchored`` is applied, the batch's file is looked for
(:class:`~scripts.audit.batchfiles.BatchFiles`) and checked against the anchored
``fileSha256``, ``root`` and ``leafCount`` (:func:`~scripts.audit.batchcheck.check_batch`). An
unverified batch counts nothing. Each leaf of a verified batch is then decided, in file order,
at the anchor's log position (:mod:`scripts.audit.leaves`, :mod:`scripts.audit.counting`); a
counted leaf enters its commitment's on-record running state at ``anchoredAt``.
"""

from __future__ import annotations

from typing import Any, Mapping

from ledger.events import decode_text
from scripts.audit.assets import asset_key
from scripts.audit.batchcheck import LeafValues, check_batch
from scripts.audit.leaves import leaf_is_valid, static_refusal
from scripts.audit.model import Action, Batch, BatchedDelivery, ChainRef, ProgressStep


def shown_text(text: str) -> str:
    """A batch file's text as every reader shows it (``ledger.events.decode_text`` of its
    UTF-8 bytes: unpaired surrogates become U+FFFD, NUL U+2400 "␀")."""
    return decode_text(text.encode("utf-8", errors="surrogatepass"))


class BatchEvents:
    """Handlers of the batch events (module docstring), mixed into
    :class:`~scripts.audit.projection.Projector`, whose ``state``, ``batch_files`` and helpers
    (``_anomaly``, ``_check_time``, ``_municipality``, ``_signer_held_role``, ``_counter``) they
    use."""

    def _batch_anchored(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        root = args["root"]
        if root in self.state.batches:
            self._anomaly("batch", f"batch {root} anchored twice; the first anchor is kept", ref)
            return
        if self._municipality(args["municipality_id"], "BatchAnchored", ref) is None:
            return
        held = self._signer_held_role(args["municipality_id"], args["registrar"], "BatchAnchored", ref)
        self._check_time(f"batch {root} anchoredAt", args["anchored_at"], ref)
        batch = Batch(
            root=root,
            municipality_id=args["municipality_id"],
            registrar=args["registrar"],
            leaf_count=args["leaf_count"],
            file_sha256=args["file_sha256"],
            file_uri=args["file_uri"],
            anchored_at=args["anchored_at"],
            signer_held_role=held,
            chain=ref,
        )
        self.state.batches[root] = batch
        offered = self.batch_files.candidates(root, batch.file_sha256) if self.batch_files is not None else []
        checked = check_batch(offered, root=root, file_sha256=batch.file_sha256, leaf_count=batch.leaf_count)
        batch.verified, batch.unverified_reason, batch.file_source = checked.verified, checked.reason, checked.source
        for index, values in enumerate(checked.leaves):
            batch.leaves.append(self._leaf(batch, index, values, ref))

    def _leaf(self, batch: Batch, index: int, values: LeafValues, ref: ChainRef) -> BatchedDelivery:
        """Decide one leaf of a verified batch at the anchor (docs/LEDGER.md "Batches")."""
        leaf = BatchedDelivery(
            root=batch.root,
            leaf_hash=values.leaf_hash,
            leaf_index=index,
            commitment_id=values.commitment_id,
            quantity=values.quantity,
            delivered_at=values.delivered_at,
            recorded_at=batch.anchored_at,
            evidence_sha256=[h.lower() for h in values.evidence_hashes],
            evidence_uri=shown_text(values.evidence_uri),
            note=shown_text(values.note),
            external_ref=shown_text(values.external_ref),
            asset_ref=shown_text(values.asset_ref),
            asset_key=asset_key(values.asset_ref),
            registrar=batch.registrar,
            signer_held_role=batch.signer_held_role,
            recorded=ref,
            verdicts=self.state.leaf_verdicts.setdefault((batch.root, values.leaf_hash), {}),
        )
        commitment = self.state.commitments.get(values.commitment_id)
        valid = leaf_is_valid(
            quantity=values.quantity,
            delivered_at=values.delivered_at,
            evidence_hashes=values.evidence_hashes,
            texts={"evidence_uri": values.evidence_uri, "note": values.note, "external_ref": values.external_ref,
                   "asset_ref": values.asset_ref},
            anchored_at=batch.anchored_at,
        )
        leaf.refused_reason = static_refusal(
            commitment_known=commitment is not None,
            same_municipality=commitment is not None and commitment.municipality_id == batch.municipality_id,
            withdrawn=commitment is not None and commitment.withdrawn,
            valid=valid,
        )
        if commitment is None or leaf.refused_reason is not None:
            return leaf
        counter = self._counter(commitment.id)
        leaf.refused_reason = counter.running_refusal(leaf)
        if leaf.refused_reason is None:
            counter.anchor(leaf)
            commitment.steps.append(ProgressStep("delivery", leaf.quantity, 0, leaf.recorded_at, ref.order))
        return leaf

    def _batched_delivery_revoked(self, args: Mapping[str, Any], ref: ChainRef) -> None:
        root, leaf_hash = args["root"], args["leaf_hash"]
        batch = self.state.batches.get(root)
        if batch is None:
            self._anomaly("unknown-batch", f"BatchedDeliveryRevoked names unknown batch {root}", ref)
            return
        if leaf_hash in batch.revocations:
            self._anomaly("revocation", f"leaf {leaf_hash} of batch {root} revoked twice; the first is kept", ref)
            return
        held = self._signer_held_role(batch.municipality_id, args["registrar"], "BatchedDeliveryRevoked", ref)
        self._check_time(f"leaf {leaf_hash} revokedAt", args["revoked_at"], ref)
        self._check_leaf_commitment(batch, args["commitment_id"], "BatchedDeliveryRevoked", ref)
        action = Action(args["reason"], args["registrar"], args["revoked_at"], held, ref)
        batch.revocations[leaf_hash] = action
        for leaf in self._leaves_named(batch, leaf_hash, args["commitment_id"], "BatchedDeliveryRevoked", ref):
            counted_until_now = leaf.counts
            leaf.revocation = action
            if counted_until_now:
                commitment = self.state.commitments[leaf.commitment_id]
                self._counter(commitment.id).revoke(leaf)
                commitment.steps.append(ProgressStep("revocation", leaf.quantity, 0, action.at, ref.order))

    def _check_leaf_commitment(self, batch: Batch, commitment_id: int, event: str, ref: ChainRef) -> None:
        """The contract proves a leaf's commitment is of the batch's municipality; an event
        naming another (or an unknown) commitment is an anomaly."""
        commitment = self.state.commitments.get(commitment_id)
        if commitment is None or commitment.municipality_id != batch.municipality_id:
            self._anomaly(
                "batched-delivery",
                f"{event} names commitment {commitment_id}, not one of municipality {batch.municipality_id} (batch {batch.root})",
                ref,
            )

    def _leaves_named(
        self, batch: Batch, leaf_hash: str, commitment_id: int, event: str, ref: ChainRef
    ) -> list[BatchedDelivery]:
        """The leaves of a verified ``batch`` with ``leaf_hash`` (the contract checked a proof,
        so a verified batch must hold it: else an anomaly); empty for an unverified batch."""
        if not batch.verified:
            return []
        found = [leaf for leaf in batch.leaves if leaf.leaf_hash == leaf_hash]
        if not found:
            self._anomaly("batched-delivery", f"{event}: leaf {leaf_hash} is not in the file of batch {batch.root}", ref)
        for leaf in found:
            if leaf.commitment_id != commitment_id:
                self._anomaly(
                    "batched-delivery",
                    f"{event} names commitment {commitment_id}, leaf {leaf_hash} names {leaf.commitment_id}",
                    ref,
                )
        return found
