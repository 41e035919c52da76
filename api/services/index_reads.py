"""The few index reads the write checks need, beyond ``ledger.db.repository``'s public reads:
which commitments exist (municipality, withdrawn), which delivery refs are taken and which
assets are counted, for many commitments at once (a batch of deliveries names many).

Read only, one query each. They follow the counting rules of docs/LEDGER.md "Batches" and
"Assets" as the projection applies them (``ledger.status.count_deliveries``): an external ref
stays taken by any recorded delivery and any counted leaf of a verified batch, revoked ones
included; an asset is counted by a recorded delivery that is neither revoked nor a double
count, or by a counted, not revoked leaf.

(Candidates to move into ``ledger/db/repository.py``, the one data layer, once it offers
them; callers use only these functions.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger.db.models import Batch, BatchLeaf, Commitment, Delivery


@dataclass(frozen=True)
class IndexedCommitment:
    """What a write check needs of an indexed commitment."""

    id: int
    municipality_id: int
    withdrawn: bool


def commitments(session: Session, commitment_ids: Iterable[int]) -> dict[int, IndexedCommitment]:
    """The indexed commitments among ``commitment_ids``, by id (missing ids: not indexed)."""
    ids = sorted(set(commitment_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Commitment.id, Commitment.municipality_id, Commitment.withdrawn).where(Commitment.id.in_(ids))
    ).tuples()
    return {cid: IndexedCommitment(cid, mid, bool(withdrawn)) for cid, mid, withdrawn in rows}


def taken_delivery_refs(session: Session, commitment_ids: Iterable[int]) -> dict[tuple[int, str], str]:
    """``(commitment id, external ref)`` → the delivery holding it (a recorded delivery's id in
    decimal, or a batched one's leaf hash), for every non-empty ref of these commitments."""
    ids = sorted(set(commitment_ids))
    taken: dict[tuple[int, str], str] = {}
    if not ids:
        return taken
    for cid, ref, delivery_id in session.execute(
        select(Delivery.commitment_id, Delivery.external_ref, Delivery.id)
        .where(Delivery.commitment_id.in_(ids), Delivery.external_ref != "")
        .order_by(Delivery.id)
    ).tuples():
        taken.setdefault((cid, ref), str(delivery_id))
    for cid, ref, leaf_hash in session.execute(
        select(BatchLeaf.commitment_id, BatchLeaf.external_ref, BatchLeaf.leaf_hash)
        .join(Batch, Batch.root == BatchLeaf.root)
        .where(BatchLeaf.commitment_id.in_(ids), BatchLeaf.external_ref != "", BatchLeaf.counted.is_(True))
        .order_by(Batch.block_number, Batch.log_index, BatchLeaf.leaf_index)
    ).tuples():
        taken.setdefault((cid, ref), leaf_hash)
    return taken


def counted_assets(session: Session, commitment_ids: Iterable[int]) -> dict[tuple[int, str], str]:
    """``(commitment id, normalised asset ref)`` → the counted, not revoked delivery naming it
    (a recorded delivery's id in decimal, or a batched one's leaf hash)."""
    ids = sorted(set(commitment_ids))
    counted: dict[tuple[int, str], str] = {}
    if not ids:
        return counted
    for cid, key, delivery_id in session.execute(
        select(Delivery.commitment_id, Delivery.asset_key, Delivery.id).where(
            Delivery.commitment_id.in_(ids),
            Delivery.asset_key != "",
            Delivery.revoked.is_(False),
            Delivery.double_counted.is_(False),
        )
    ).tuples():
        counted.setdefault((cid, key), str(delivery_id))
    for cid, key, leaf_hash in session.execute(
        select(BatchLeaf.commitment_id, BatchLeaf.asset_key, BatchLeaf.leaf_hash).where(
            BatchLeaf.commitment_id.in_(ids),
            BatchLeaf.asset_key != "",
            BatchLeaf.counted.is_(True),
            BatchLeaf.revoked.is_(False),
        )
    ).tuples():
        counted.setdefault((cid, key), leaf_hash)
    return counted
