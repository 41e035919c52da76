"""Whether the index's commitments have follow-up by their sources: the read side of
``ledger.sources.follow_up_of`` for the API, the site and the downloads.

The statuses stay those of the rules (``ledger.status``; nothing here changes one): a source
without follow-up (``source: {follow_up: false}``) leaves its commitments ``overdue`` once
their due date passes. This module only tells which of them no delivery names, so that every
reader can say "no follow-up recorded by the source" beside the status.

Only reads; never commits or writes.
"""

from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.db.activity import commitment_sources
from ledger.db.models import Commitment, Delivery
from ledger.db.repository import _kept, municipality_codes  # the data layer's kept counts (same package)
from ledger.sources import SourceCredit, credited_sources, follow_up_of
from ledger.status import status_in_sql

IN_CHUNK = 500
"""Most values bound in one ``IN (...)``."""


def _untracking(sources: dict[str, list[SourceCredit]]) -> bool:
    """Whether any source records no follow-up (else every commitment is tracked)."""
    return any(not s.follow_up for found in sources.values() for s in found)


def commitments_with_recorded_deliveries(session: Session, commitment_ids: Iterable[int]) -> set[int]:
    """The ids, of ``commitment_ids``, that a recorded delivery names (revoked or double counted
    ones included: someone recorded follow-up)."""
    ids = sorted(set(commitment_ids))
    found: set[int] = set()
    for start in range(0, len(ids), IN_CHUNK):
        chunk = ids[start : start + IN_CHUNK]
        found.update(session.scalars(select(Delivery.commitment_id).where(Delivery.commitment_id.in_(chunk)).distinct()))
    return found


def add_follow_up(
    session: Session,
    sources: dict[str, list[SourceCredit]],
    rows: list[dict[str, Any]],
) -> None:
    """Set ``row["follow_up"]`` (``ledger.sources.FollowUp.as_json()``: ``{"tracked", "by"}``)
    on each commitment dict of the data layer (summary or detail).

    A row needs ``id``, ``municipality_id`` and ``batched_delivery_count``; its on-chain
    ``source_uri`` is its own (a detail, a download's row), else read from the index;
    a ``deliveries_count`` (a detail's; ``None`` or absent elsewhere, e.g. a part listed on its
    parent's page) says whether a delivery names it, else recorded deliveries are looked up (only for the rows whose every source records no follow-up).

    Args:
        sources: municipality code → its sources (``ledger.sources.credits_by_code``).
        rows: changed in place.
    """
    if not rows:
        return
    if not _untracking(sources):
        for row in rows:
            row["follow_up"] = follow_up_of([], False).as_json()
        return
    codes = municipality_codes(session, {r["municipality_id"] for r in rows})
    missing = [r["id"] for r in rows if "source_uri" not in r]
    read = {cid: found["source_uri"] for cid, found in commitment_sources(session, missing).items()} if missing else {}
    credited: dict[int, list[SourceCredit]] = {}
    for row in rows:
        uri = row["source_uri"] if "source_uri" in row else read.get(row["id"], "")
        credited[row["id"]] = credited_sources(sources.get(codes.get(row["municipality_id"], ""), []), uri)
    def counted(row: dict[str, Any]) -> bool:  # a detail counts its deliveries; a summary or a part may not
        return row.get("deliveries_count") is not None

    asked = [r["id"] for r in rows if not counted(r) and not r.get("batched_delivery_count")
             and credited[r["id"]] and not any(s.follow_up for s in credited[r["id"]])]
    recorded = commitments_with_recorded_deliveries(session, asked) if asked else set()
    for row in rows:
        if counted(row):
            has_deliveries = row["deliveries_count"] > 0
        else:
            has_deliveries = bool(row.get("batched_delivery_count")) or row["id"] in recorded
        row["follow_up"] = follow_up_of(credited[row["id"]], has_deliveries).as_json()


def untracked_overdue_counts(
    session: Session, sources: dict[str, list[SourceCredit]], now: int, municipality_ids: Iterable[int] | None = None
) -> dict[int, int]:
    """Municipality id → how many of its commitments with ``status`` ``overdue`` at ``now``
    (claimed clock, current terms) have no follow-up by their sources (``follow_up`` tracked
    false: every source records none, and no delivery names them); municipalities with none
    are left out. The overview's counts stay the rules' counts; this says how many of their
    overdue are so only because nobody records deliveries.

    Args:
        now: evaluation time of the statuses, Unix seconds.
        municipality_ids: only these (``None``: all).
    """
    codes = municipality_codes(session, municipality_ids)
    wanted = sorted(mid for mid, code in codes.items() if any(not s.follow_up for s in sources.get(code, [])))
    if not wanted:
        return {}
    # Only rows without any counted delivery can be overdue and untracked (delivered_quantity is
    # in the status indexes); the rest is read once and kept like the data layer's counts: until
    # the commitments change or the next due date is crossed.
    conditions = [Commitment.municipality_id.in_(wanted), Commitment.delivered_quantity == 0,
                  Commitment.batched_delivery_count == 0]
    has_recorded = select(Delivery.commitment_id).where(Delivery.commitment_id == Commitment.id).exists()

    def compute() -> list[tuple[int, str, int]]:
        rows = session.execute(
            select(Commitment.municipality_id, Commitment.source_uri, func.count())
            .where(*conditions, status_in_sql("status", ["overdue"], now), ~has_recorded)
            .group_by(Commitment.municipality_id, Commitment.source_uri)
        )
        return [(int(mid), str(uri), int(count)) for mid, uri, count in rows]

    fingerprint = tuple((code, s.id, s.follow_up, tuple(sorted(s.source_uris)))
                        for code in sorted(codes[mid] for mid in wanted) for s in sources.get(code, []))
    counts: dict[int, int] = {}
    for mid, uri, count in _kept(session, now, ("untracked_overdue", tuple(wanted), fingerprint), compute,
                                 [("status", conditions)]):
        credited = credited_sources(sources.get(codes[mid], []), uri)
        if not follow_up_of(credited, False).tracked:
            counts[mid] = counts.get(mid, 0) + count
    return counts
