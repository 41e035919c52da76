"""The ORM read path of one commitment and of the document check as it was before the detail
was read with a few Core statements (``ledger.db.repository.get_commitment``,
``verify_hash``): kept here, frozen, only as the oracle of ``test_detail_reads.py``, which
asserts that the new path gives exactly these answers. The formatting helpers
(``_summary``, ``_delivery_dict``, ``_batched_dict``, ``_timeline_entry``, ...) are the
repository's own: what is compared is how the rows are found, not how they are written."""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session

from ledger.db import repository as r
from ledger.db.models import (
    Amendment, Batch, BatchEvidenceCitation, BatchLeaf, Commitment, Delivery, EventRow, EvidenceCitation, Municipality, Verdict,
)
from ledger.db.projection import batched_delivery_key


def _reviews(session: Session, keys: list[str]) -> dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    result: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    found = list(session.scalars(select(Verdict).where(Verdict.delivery_key.in_(keys)))) if keys else []
    for v in sorted(found, key=lambda v: (v.block_number, v.log_index)):
        confirmations, disputes = result.setdefault(v.delivery_key, ([], []))
        entry: dict[str, Any] = {"confirmer": v.confirmer}
        if v.verdict == "confirmed":
            entry["evidence_hash"] = v.evidence_hash
        else:
            entry["reason"] = v.reason
        entry.update({"at": v.at, "at_iso": r.iso(v.at), "signer_held_role": v.signer_held_role, "chain": r._ref_of(v)})
        (confirmations if v.verdict == "confirmed" else disputes).append(entry)
    return result


def _recorded(session: Session, commitment_id: int, limit: int, stored: Callable[[str], bool] | None) -> list[dict[str, Any]]:
    low = commitment_id * r.DELIVERY_ID_BASE
    rows = list(session.scalars(
        select(Delivery).where(Delivery.id > low, Delivery.id < low + r.DELIVERY_ID_BASE).order_by(Delivery.id).limit(limit)))
    evidence: dict[int, list[str]] = {}
    if rows:
        for delivery_id, sha256 in session.execute(
                select(EvidenceCitation.delivery_id, EvidenceCitation.sha256)
                .where(EvidenceCitation.delivery_id.in_([d.id for d in rows]))
                .order_by(EvidenceCitation.delivery_id, EvidenceCitation.position)):
            evidence.setdefault(delivery_id, []).append(sha256)
    reviews = _reviews(session, [str(d.id) for d in rows])
    return [r._delivery_dict(d, r._evidence_refs(evidence.get(d.id, []), stored), reviews.get(str(d.id), ([], []))) for d in rows]


def _leaves(session: Session, commitment_id: int, limit: int | None, stored: Callable[[str], bool] | None) -> list[dict[str, Any]]:
    query = (select(BatchLeaf, Batch).join(Batch, Batch.root == BatchLeaf.root)
             .join(Commitment, Commitment.id == BatchLeaf.commitment_id)
             .where(BatchLeaf.commitment_id == commitment_id)
             .order_by(Batch.block_number, Batch.log_index, BatchLeaf.leaf_index))
    rows = list(session.execute(query if limit is None else query.limit(limit)))
    reviews = _reviews(session, [batched_delivery_key(leaf.root, leaf.leaf_hash) for leaf, _ in rows])
    return [r._batched_dict(leaf, batch, stored, reviews.get(batched_delivery_key(leaf.root, leaf.leaf_hash), ([], [])))
            for leaf, batch in rows]


def first_deliveries(session: Session, commitment_id: int, limit: int, stored: Callable[[str], bool] | None) -> dict[str, Any]:
    """The first page of a commitment's deliveries as ``commitment_deliveries`` returns it."""
    page = _recorded(session, commitment_id, limit + 1, stored)
    if len(page) <= limit:
        page += _leaves(session, commitment_id, limit + 1 - len(page), stored)
    low = commitment_id * r.DELIVERY_ID_BASE
    count = (session.scalar(select(func.count()).select_from(Delivery).where(Delivery.id > low, Delivery.id < low + r.DELIVERY_ID_BASE))
             + len(_leaves(session, commitment_id, None, stored)))
    more = len(page) > limit
    page = page[:limit]
    return {"data": page, "count": count, "next_cursor": r._delivery_cursor(page[-1]) if more else None, "prev_cursor": None}


def first_timeline(session: Session, commitment_id: int, limit: int) -> dict[str, Any]:
    """The first page of a commitment's timeline as ``commitment_timeline`` returns it."""
    where = [EventRow.commitment_id == commitment_id, EventRow.name.in_(list(r.TIMELINE_KINDS))]
    rows = list(session.scalars(select(EventRow).where(*where).order_by(EventRow.block_number, EventRow.log_index)))
    page = rows[:limit]
    return {"data": [r._timeline_entry(e) for e in page], "count": len(rows),
            "next_cursor": f"t.{page[-1].block_number}.{page[-1].log_index}" if len(rows) > limit else None, "prev_cursor": None}


def get_commitment(session: Session, commitment_id: int, now: int, *, evidence_stored: Callable[[str], bool] | None = None,
                   page_size: int = r.DETAIL_PAGE_SIZE) -> dict[str, Any] | None:
    """``repository.get_commitment`` as it was read through the ORM."""
    row = session.execute(select(Commitment, Municipality.name).join(Municipality, Municipality.id == Commitment.municipality_id)
                          .where(Commitment.id == commitment_id)).first()
    if row is None:
        return None
    c, name = row.tuple()
    children = list(session.scalars(select(Commitment.id).where(Commitment.parent_id == c.id).order_by(Commitment.id)))
    detail = r._summary(c, name, now, children)
    amendments = session.scalars(select(Amendment).where(Amendment.commitment_id == c.id).order_by(Amendment.amendment_number))
    detail.update({
        "description": c.description, "source_document_sha256": c.source_document_sha256, "source_uri": c.source_uri,
        "withdrawal": None if not c.withdrawn else {
            "reason": c.withdrawal_reason, "registrar": c.withdrawal_registrar,
            "signer_held_role": c.withdrawal_signer_held_role, "chain": r._ref_of(c, "withdrawn_")},
        "amendments": [{
            "amendment_number": a.amendment_number, "fields": r.amendment_field_names(a.fields), "title": a.title,
            "description": a.description, "previous_target_quantity": str(a.previous_target_quantity),
            "target_quantity": str(a.target_quantity), "previous_due_date": a.previous_due_date,
            "previous_due_date_iso": r.iso(a.previous_due_date), "due_date": a.due_date, "due_date_iso": r.iso(a.due_date),
            "reason": a.reason, "registrar": a.registrar, "amended_at": a.amended_at, "amended_at_iso": r.iso(a.amended_at),
            "after_due_date": a.after_due_date, "lowered_target": a.lowered_target, "extended_due_date": a.extended_due_date,
            "signer_held_role": a.signer_held_role, "chain": r._ref_of(a)} for a in amendments],
    })
    if page_size:
        deliveries = first_deliveries(session, c.id, page_size, evidence_stored)
        timeline = first_timeline(session, c.id, page_size)
    else:
        deliveries = timeline = {"data": [], "count": None, "next_cursor": None}
    detail.update({
        "deliveries": deliveries["data"], "deliveries_count": deliveries["count"], "deliveries_next_cursor": deliveries["next_cursor"],
        "timeline": timeline["data"], "timeline_count": timeline["count"], "timeline_next_cursor": timeline["next_cursor"],
    })
    return detail


_RECORDED_CITATIONS = (
    select(EvidenceCitation, Delivery, Commitment.title, Commitment.municipality_id, Municipality.name)
    .join(Delivery, Delivery.id == EvidenceCitation.delivery_id)
    .join(Commitment, Commitment.id == EvidenceCitation.commitment_id)
    .join(Municipality, Municipality.id == Commitment.municipality_id)
    .where(EvidenceCitation.sha256 == bindparam("sha256"))
    .order_by(EvidenceCitation.delivery_id)
)
_BATCHED_CITATIONS = (
    select(BatchLeaf, Batch, Commitment.title, Commitment.municipality_id, Municipality.name)
    .join(
        BatchEvidenceCitation,
        and_(BatchEvidenceCitation.root == BatchLeaf.root, BatchEvidenceCitation.leaf_index == BatchLeaf.leaf_index),
    )
    .join(Batch, Batch.root == BatchLeaf.root)
    .join(Commitment, Commitment.id == BatchLeaf.commitment_id)
    .join(Municipality, Municipality.id == Commitment.municipality_id)
    .where(BatchEvidenceCitation.sha256 == bindparam("sha256"))
    .order_by(Batch.block_number, Batch.log_index, BatchLeaf.leaf_index)
)
_SOURCE_OF = (
    select(Commitment.id, Commitment.title, Municipality.name)
    .join(Municipality, Municipality.id == Commitment.municipality_id)
    .where(Commitment.source_document_sha256 == bindparam("sha256"))
    .order_by(Commitment.id)
)


def verify_hash(session: Session, sha256_hex: str) -> dict[str, Any]:
    """``repository.verify_hash`` as it was read through the ORM."""
    sha256 = r.normalize_sha256(sha256_hex)
    rows = session.execute(_RECORDED_CITATIONS, {"sha256": sha256})
    citations = [
        {
            "kind": "recorded",
            "delivery_id": d.id,
            "commitment_id": d.commitment_id,
            "commitment_title": title,
            "municipality_id": mid,
            "municipality_name": name,
            "delivered_at": d.delivered_at,
            "delivered_at_iso": r.iso(d.delivered_at),
            "recorded_at": d.recorded_at,
            "recorded_at_iso": r.iso(d.recorded_at),
            "recorded_late": d.recorded_late,
            "quantity": str(d.quantity),
            "registrar": d.registrar,
            "signer_held_role": d.signer_held_role,
            "revoked": d.revoked,
            "revocation_reason": d.revocation_reason,
            "chain": r._ref_of(citation),
            "batch_root": None,
            "leaf_hash": None,
            "counted": None,
        }
        for citation, d, title, mid, name in rows
    ]
    batched = session.execute(_BATCHED_CITATIONS, {"sha256": sha256})
    citations += [
        {
            "kind": "batched",
            "delivery_id": leaf.leaf_hash,
            "commitment_id": leaf.commitment_id,
            "commitment_title": title,
            "municipality_id": mid,
            "municipality_name": name,
            "delivered_at": leaf.delivered_at,
            "delivered_at_iso": r.iso(leaf.delivered_at),
            "recorded_at": batch.anchored_at,
            "recorded_at_iso": r.iso(batch.anchored_at),
            "recorded_late": leaf.recorded_late,
            "quantity": str(leaf.quantity),
            "registrar": batch.registrar,
            "signer_held_role": batch.signer_held_role,
            "revoked": leaf.revoked,
            "revocation_reason": leaf.revocation_reason,
            "chain": r._ref_of(batch),
            "batch_root": leaf.root,
            "leaf_hash": leaf.leaf_hash,
            "counted": leaf.counted,
        }
        for leaf, batch, title, mid, name in batched
    ]
    source_of = [
        {"commitment_id": cid, "title": title, "municipality_name": name}
        for cid, title, name in session.execute(_SOURCE_OF, {"sha256": sha256})
    ]
    return {"sha256": sha256, "found": bool(citations or source_of), "citations": citations, "source_of": source_of}
