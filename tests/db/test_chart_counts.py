"""The site's "due vs met" chart counted in SQL (``repository.commitment_chart_counts``) equals
the Python count of ``commitment_chart_rows`` by time, on SQLite and PostgreSQL: on hand-built
events and on varied data (ties, commitments never met, withdrawn ones, times before 1970 and
near the contract's year-10000 bound)."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from sqlalchemy import update

from ledger.db import repository
from ledger.db.models import Commitment
from tests.db.databases import Database
from tests.db.script import DAY
from tests.db.test_sorting_rules import apply, eight_commitments


def counts_of(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The counts by time of chart rows, in Python: the reference of the SQL aggregate."""
    kept = [r for r in rows if not r["withdrawn"]]
    if not kept:
        return None

    def counted(key: str) -> list[tuple[int, int]]:
        return sorted(Counter(r[key] for r in kept if r[key] is not None).items())

    return {
        "total": len(kept), "first_promised_at": min(r["promised_at"] for r in kept),
        "last_promised_at": max(r["promised_at"] for r in kept), "last_due_date": max(r["due_date"] for r in kept),
        "due": counted("due_date"), "met": counted("met_at"), "met_on_record": counted("met_on_record_at"),
    }


def both(db: Database, now: int, municipality_id: int | None) -> tuple[Any, Any]:
    with db.sessions() as session:
        return (repository.commitment_chart_counts(session, municipality_id),
                counts_of(repository.commitment_chart_rows(session, now, municipality_id)))


def test_chart_counts_on_hand_built_events(db: Database) -> None:
    s, t = eight_commitments()
    apply(db, s)
    times = s.block_times
    for municipality_id in (1, 2, 3, None):
        sql, python = both(db, s.time, municipality_id)
        assert sql == python
    sql, _ = both(db, s.time, 1)
    # Commitment 6 (withdrawn) and 7 (Utrecht) are out; 2 and 8 met at t, 5 late.
    assert sql == {
        "total": 6, "first_promised_at": t - 10 * DAY, "last_promised_at": t + 12 - DAY, "last_due_date": t + 40 * DAY,
        "due": [(t - DAY, 1), (t + 5 * DAY, 1), (t + 10 * DAY, 1), (t + 30 * DAY, 2), (t + 40 * DAY, 1)],
        "met": [(t, 2), (times[10], 1)], "met_on_record": [(times[8], 2), (times[10], 1)],
    }
    assert both(db, s.time, 3) == (None, None)


def test_chart_counts_equal_the_python_count_on_varied_data(db: Database) -> None:
    s, _ = eight_commitments()
    apply(db, s)
    for seed in range(6):
        rng = random.Random(seed)
        pool = [-DAY, 0, 5, 5, 10**9, 10**9 + 1, 253_402_300_799, 253_402_300_800]  # ties, 1970, year 10000
        with db.sessions.begin() as session:
            for cid in range(1, 9):
                met = rng.choice(pool + [None, None])
                session.execute(update(Commitment).where(Commitment.id == cid).values(
                    municipality_id=rng.choice((1, 1, 2)), promised_at=rng.choice(pool), due_date=rng.choice(pool),
                    met_at=met, met_on_record_at=None if met is None else rng.choice(pool),
                    withdrawn=rng.random() < 0.25,
                ))
        for municipality_id in (1, 2, None):
            sql, python = both(db, s.time, municipality_id)
            assert sql == python, (seed, municipality_id)
