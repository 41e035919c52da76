"""The rebuilt records in wire form, with the field names of docs/LEDGER.md and the value
shapes of docs/API.md: quantities as decimal strings, times as Unix seconds with an ``_iso``
twin, ``null`` for an absent hash, time or object. One rendering, used by the JSON report and
by the comparison with the API (which compares a chosen subset of these fields).
"""

from __future__ import annotations

from typing import Any, Iterable

from scripts.audit import rules
from scripts.audit.model import Amendment, Batch, BatchedDelivery, Commitment, Delivery, Municipality, field_names, iso_utc
from scripts.audit.review import confirmations, disputes, review_of
from scripts.audit.rollup import rollup_of


def _time(name: str, value: int | None) -> dict[str, Any]:
    return {name: value, f"{name}_iso": iso_utc(value)}


def _reviewed(delivery: Delivery | BatchedDelivery) -> dict[str, Any]:
    """``review``, ``confirmations`` and ``disputes`` (docs/LEDGER.md "Confirmations")."""
    return {"review": review_of(delivery), "confirmations": confirmations(delivery), "disputes": disputes(delivery)}


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    """One recorded delivery (``kind`` ``recorded``): its record, both clocks, the lag,
    ``recorded_late``, ``asset_ref``, ``double_counted``, ``signer_held_role``, ``revocation``
    (``null`` or ``{"reason", "registrar", "at", "at_iso", "signer_held_role", "chain"}``), its
    review, and the batched-only fields as ``null``."""
    return {
        "kind": "recorded",
        "id": delivery.id,
        "commitment_id": delivery.commitment_id,
        "delivery_number": delivery.number,
        "quantity": str(delivery.quantity),
        **_time("delivered_at", delivery.delivered_at),
        **_time("recorded_at", delivery.recorded_at),
        "recording_lag_seconds": rules.recording_lag_seconds(delivery),
        "recording_lag_days": rules.recording_lag_days(delivery),
        "recorded_late": rules.recorded_late(delivery),
        "evidence_sha256": list(delivery.evidence_sha256),
        "evidence_uri": delivery.evidence_uri,
        "note": delivery.note,
        "external_ref": delivery.external_ref,
        "asset_ref": delivery.asset_ref,
        "double_counted": delivery.double_counted,
        "registrar": delivery.registrar,
        "signer_held_role": delivery.signer_held_role,
        "recorded": delivery.recorded.to_json(),
        "revoked": delivery.revoked,
        "revocation": delivery.revocation.to_json() if delivery.revocation else None,
        **_reviewed(delivery),
        "batch_root": None,
        "leaf_hash": None,
        "leaf_index": None,
        "counted": None,
        "refused_reason": None,
    }


def batched_delivery_json(leaf: BatchedDelivery) -> dict[str, Any]:
    """One leaf of a verified batch as a delivery (``kind`` ``batched``; docs/LEDGER.md
    "Batches"): ``id`` = its leaf hash, ``delivery_number`` ``null``, registrar and ``recorded``
    of the batch's anchor, ``recorded_at`` = ``anchoredAt``, plus ``batch_root``, ``leaf_hash``,
    ``leaf_index``, ``counted`` (false when refused) and ``refused_reason``."""
    return {
        "kind": "batched",
        "id": leaf.leaf_hash,
        "commitment_id": leaf.commitment_id,
        "delivery_number": None,
        "quantity": str(leaf.quantity),
        **_time("delivered_at", leaf.delivered_at),
        **_time("recorded_at", leaf.recorded_at),
        "recording_lag_seconds": rules.recording_lag_seconds(leaf),
        "recording_lag_days": rules.recording_lag_days(leaf),
        "recorded_late": rules.recorded_late(leaf),
        "evidence_sha256": list(leaf.evidence_sha256),
        "evidence_uri": leaf.evidence_uri,
        "note": leaf.note,
        "external_ref": leaf.external_ref,
        "asset_ref": leaf.asset_ref,
        "double_counted": leaf.double_counted,
        "registrar": leaf.registrar,
        "signer_held_role": leaf.signer_held_role,
        "recorded": leaf.recorded.to_json(),
        "revoked": leaf.revoked,
        "revocation": leaf.revocation.to_json() if leaf.revocation else None,
        **_reviewed(leaf),
        "batch_root": leaf.root,
        "leaf_hash": leaf.leaf_hash,
        "leaf_index": leaf.leaf_index,
        "counted": leaf.counted,
        "refused_reason": leaf.refused_reason,
    }


def batch_json(batch: Batch, municipality_name: str | None) -> dict[str, Any]:
    """One anchored batch (docs/LEDGER.md "Fields", Batch): ``counted_leaves`` count now,
    ``refused_leaves`` never counted, ``revoked_leaves`` counted until revoked; ``file_source``
    says where the checked bytes came from; ``leaves`` in file order (empty unless verified)."""
    return {
        "root": batch.root,
        "municipality_id": batch.municipality_id,
        "municipality_name": municipality_name,
        "registrar": batch.registrar,
        "signer_held_role": batch.signer_held_role,
        "leaf_count": batch.leaf_count,
        "file_sha256": batch.file_sha256,
        "file_uri": batch.file_uri,
        **_time("anchored_at", batch.anchored_at),
        "verified": batch.verified,
        "unverified_reason": batch.unverified_reason,
        "file_source": batch.file_source,
        "counted_leaves": sum(1 for leaf in batch.leaves if leaf.counts),
        "refused_leaves": sum(1 for leaf in batch.leaves if not leaf.counted),
        "revoked_leaves": sum(1 for leaf in batch.leaves if leaf.counted and leaf.revoked),
        "chain": batch.chain.to_json(),
        "leaves": [batched_delivery_json(leaf) for leaf in batch.leaves],
    }


def amendment_json(amendment: Amendment) -> dict[str, Any]:
    """One amendment (docs/LEDGER.md "Amendment"): ``fields`` as names, texts ``null`` when
    not named, the three flags and ``signer_held_role``."""
    return {
        "amendment_number": amendment.number,
        "fields": field_names(amendment.fields),
        "title": amendment.title,
        "description": amendment.description,
        "previous_target_quantity": str(amendment.previous_target_quantity),
        "target_quantity": str(amendment.target_quantity),
        **_time("previous_due_date", amendment.previous_due_date),
        **_time("due_date", amendment.due_date),
        "reason": amendment.reason,
        "registrar": amendment.registrar,
        **_time("amended_at", amendment.amended_at),
        "after_due_date": rules.after_due_date(amendment),
        "lowered_target": rules.lowered_target(amendment),
        "extended_due_date": rules.extended_due_date(amendment),
        "signer_held_role": amendment.signer_held_role,
        "chain": amendment.chain.to_json(),
    }


def commitment_json(
    commitment: Commitment, municipality_name: str | None, now: int, rollup_memo: dict[int, int] | None = None
) -> dict[str, Any]:
    """One commitment with every field of docs/LEDGER.md, its statuses evaluated at Unix time
    ``now``, and its withdrawal, deliveries (recorded ones by id, then batched ones in log
    order) and amendments (number order). ``rollup_memo`` may be shared between the
    commitments of one state (:func:`scripts.audit.rollup.rollup_value`)."""
    e = rules.evaluate(commitment, now)
    rollup = rollup_of(commitment, rollup_memo)
    return {
        "id": commitment.id,
        "municipality_id": commitment.municipality_id,
        "municipality_name": municipality_name,
        "external_ref": commitment.external_ref,
        "title": commitment.title,
        "description": commitment.description,
        "theme": commitment.theme,
        "unit": commitment.unit,
        "target_quantity": str(e.target_quantity),
        "original_target_quantity": str(e.original_target_quantity),
        **_time("due_date", e.due_date),
        **_time("original_due_date", e.original_due_date),
        **_time("promised_at", commitment.promised_at),
        **_time("registered_at", commitment.registered_at),
        "historical_record": rules.historical_record(commitment),
        "registration_lag_days": rules.registration_lag_days(commitment),
        "delivered_quantity": str(e.delivered_quantity),
        "progress_bps": e.progress_bps,
        "progress_bps_original_terms": e.progress_bps_original_terms,
        "status": e.status,
        **_time("met_at", e.met_at),
        "status_on_record": e.status_on_record,
        **_time("met_on_record_at", e.met_on_record_at),
        "status_original_terms": e.status_original_terms,
        **_time("met_at_original_terms", e.met_at_original_terms),
        "status_on_record_original_terms": e.status_on_record_original_terms,
        **_time("met_on_record_at_original_terms", e.met_on_record_at_original_terms),
        "met_only_under_relaxed_terms": e.met_only_under_relaxed_terms,
        "amendment_count": len(commitment.amendments),
        "amended_after_due_date": rules.amended_after_due_date(commitment),
        "target_lowered": rules.target_lowered(commitment),
        "recorded_late_count": rules.recorded_late_count(commitment),
        "parent_id": commitment.parent_id,
        "weight": commitment.weight,
        "children": [child.id for child in commitment.children],
        "rollup_progress_bps": rollup.rollup_progress_bps,
        "rollup_children_delivered": rollup.rollup_children_delivered,
        "rollup_children_counted": rollup.rollup_children_counted,
        "confirmed_quantity": str(e.confirmed_quantity),
        "unconfirmed_quantity": str(e.unconfirmed_quantity),
        "disputed_quantity": str(e.disputed_quantity),
        "status_confirmed": e.status_confirmed,
        **_time("met_at_confirmed", e.met_at_confirmed),
        "progress_bps_confirmed": e.progress_bps_confirmed,
        "batched_delivery_count": len(commitment.batched),
        "source_document_sha256": commitment.source_document_sha256,
        "source_uri": commitment.source_uri,
        "registrar": commitment.registrar,
        "signer_held_role": commitment.signer_held_role,
        "registered": commitment.registered.to_json(),
        "withdrawn": commitment.withdrawn,
        "withdrawal": commitment.withdrawal.to_json() if commitment.withdrawal else None,
        "original": {
            "title": commitment.original_title,
            "description": commitment.original_description,
            "target_quantity": str(commitment.original_target_quantity),
            "due_date": commitment.original_due_date,
        },
        "deliveries": [delivery_json(d) for d in commitment.deliveries]
        + [batched_delivery_json(leaf) for leaf in commitment.batched],
        "amendments": [amendment_json(a) for a in commitment.amendments],
    }


def status_counts(commitments: Iterable[Commitment], now: int, status_field: str = "status") -> dict[str, int]:
    """Number of ``commitments`` in each value of ``status_field`` (one of
    :data:`rules.STATUS_FIELDS`) at Unix time ``now``; all six statuses are keys."""
    counts = {s: 0 for s in rules.STATUSES}
    for commitment in commitments:
        counts[getattr(rules.evaluate(commitment, now), status_field)] += 1
    return counts


def municipality_json(municipality: Municipality, commitments: list[Commitment], now: int) -> dict[str, Any]:
    """One municipality (docs/LEDGER.md "Municipality", docs/API.md's ``registrar_history``
    and ``confirmer_history`` of role intervals, and the report's ``recovery_history``):
    ``commitments`` are its own; counts by ``status`` and ``status_on_record`` at ``now``."""
    return {
        "id": municipality.id,
        "name": municipality.name,
        "code": municipality.code,
        "admin": municipality.admin,
        "pending_admin": municipality.pending_admin,
        "recovery": municipality.recovery.to_json() if municipality.recovery else None,
        "admin_changes": [c.to_json() for c in municipality.admin_changes],
        "registrars": list(municipality.registrars),
        "registrar_history": [r.to_json() for r in municipality.registrar_roles],
        "confirmers": list(municipality.confirmers),
        "confirmer_history": [r.to_json() for r in municipality.confirmer_roles],
        "recovery_history": list(municipality.recovery_history),
        "registered": municipality.registered.to_json(),
        "commitment_count": len(commitments),
        "status_counts": status_counts(commitments, now),
        "status_on_record_counts": status_counts(commitments, now, "status_on_record"),
    }
