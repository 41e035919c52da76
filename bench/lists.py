"""Lists, searches and overviews of the data layer at two sizes of the index, side by side
(issue 8: "flat with size").

    python -m bench.lists [--small 350] [--large 20000] [--backend sqlite|postgresql] [--calls 200]
    python -m bench.lists --fill small,big [--reuse-fill] [--calls 200]

Fills two fresh indexes straight through SQL (no chain: the projection's output shapes, with
the settled columns and search texts as the projection writes them; ten municipalities, eight
themes, due dates from three years back to three years ahead, a third delivered, one in
twenty withdrawn), or with ``--fill`` takes two indexes of ``bench/fill_index.py`` (filled
through the projection, with their deliveries: ``small`` 350 commitments and 3,500
deliveries, ``big`` 100,000 and 1,000,000; cached under data/bench/, SQLite; read at the
chain's last block time, searched for its ``search_word`` and ``no_match_word``), then times
each read of ``ledger.db.repository`` the API and the site
make, each call in its own session as a request has: calls per second on each index and their
ratio (large / small; the goal is at least 0.7), in :data:`ROUNDS` alternating rounds, and the
same ratio of this process's CPU time (on SQLite the figure a loaded machine moves least). PostgreSQL is analysed after the fill (as
autovacuum soon does; without statistics its planner sorts whole status ranges). Counts are kept between calls (the index does
not change while it runs); the "cold" rows clear the kept counts before every call, which is
what the first request after an index write pays.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from sqlalchemy import insert

from bench import fill_index
from bench.fill_index import Manifest
from ledger.db import make_engine, repository, session_factory
from ledger.db.models import Commitment, Municipality
from ledger.db.projection import _search_text
from ledger.status import SETTLED_COLUMNS, VERDICTS, settled_status
from tests.db.databases import fresh_database

NOW = 1_790_000_000
YEAR = 365 * 86_400
WORDS = ("fietspad", "zonnepanelen", "woningen", "groen", "school", "brug", "warmtenet", "speeltuin", "riolering",
         "bomen", "laadpalen", "bibliotheek", "sporthal", "haven", "dijk", "straat")
THEMES = ("Wonen", "Groen", "Mobiliteit", "Energie", "Onderwijs", "Zorg", "Cultuur", "Water")


def commitment_rows(n: int, rng: random.Random) -> list[dict[str, Any]]:
    rows = []
    for i in range(1, n + 1):
        title = " ".join(rng.choice(WORDS) for _ in range(3)).capitalize() + f" {i}"
        description = " ".join(rng.choice(WORDS) for _ in range(12))
        ref = f"REF-{i:06d}"
        due = NOW + rng.randint(-3 * YEAR, 3 * YEAR)
        target = rng.randint(1, 100)
        roll = rng.random()
        withdrawn = roll < 0.05
        met = None if withdrawn or roll > 0.38 else due + rng.randint(-YEAR, YEAR // 4)
        delivered = target if met is not None else (rng.randint(0, target - 1) if rng.random() < 0.5 else 0)
        row = dict(
            id=i, municipality_id=1 + i % 10, registrar="0x" + "b2" * 20, signer_held_role=True, external_ref=ref,
            title=title, description=description, theme=THEMES[i % len(THEMES)], unit="stuks",
            promised_at=due - 2 * YEAR, registered_at=NOW - 4 * YEAR, original_target_quantity=target,
            target_quantity=target, historical_record=False, source_document_sha256=None, source_uri="",
            amendment_count=0, amended_after_due_date=rng.random() < 0.05, target_lowered=False,
            recorded_late_count=int(rng.random() < 0.1), search_text=_search_text(title, description, ref),
            block_number=10 + i, log_index=0, tx_hash="0x" + "00" * 32, block_time=NOW - 4 * YEAR,
            last_changed_at=NOW - YEAR, last_change_block=10 + i + rng.randint(0, 10 * n), last_change_log_index=0,
            original_due_date=due, due_date=due, delivered_quantity=delivered, met_at=met, met_on_record_at=met,
            met_at_original_terms=met, met_on_record_at_original_terms=met, withdrawn=withdrawn,
            progress_bps=delivered * 10_000 // target,
        )
        row.update({SETTLED_COLUMNS[f]: settled_status(withdrawn, row[m], row[d]) for f, m, d in VERDICTS})
        row["status_confirmed_settled"] = settled_status(withdrawn, None, due)
        rows.append(row)
    return rows


def fill(database: Any, n: int) -> None:
    rng = random.Random(8)
    with database.sessions.begin() as session:
        session.execute(insert(Municipality), [
            dict(id=m, name=f"Gemeente {m}", code=f"GM{m:04d}", admin="0x" + "a1" * 20, block_number=1, log_index=m,
                 tx_hash="0x" + "00" * 32, block_time=0) for m in range(1, 11)])
        rows = commitment_rows(n, rng)
        for start in range(0, len(rows), 5_000):
            session.execute(insert(Commitment), rows[start : start + 5_000])
    if database.backend == "postgresql":  # what autovacuum does soon after a bulk fill: the planner's statistics
        with database.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")


@dataclass(frozen=True)
class Picks:
    """What the reads ask of one pair of indexes: the evaluation time (Unix seconds), a word
    many commitments contain, one none does, and the municipality of the filtered reads."""

    now: int = NOW
    word: str = "fietspad"
    no_match: str = "zzqqxy"
    municipality_id: int = 3


def reads(p: Picks) -> dict[str, Callable[[Any], Any]]:
    """The reads the API and the site make, by name (each given a session)."""
    return {
        "list page of 50 (sort id)": lambda s: repository.list_commitments_page(s, p.now, limit=50),
        "site list (sort status, 20)": lambda s: repository.list_commitments_page(s, p.now, sort="status", limit=20),
        "filtered search (q, municipality, 2 statuses)": lambda s: repository.list_commitments_page(
            s, p.now, q=p.word, municipality_id=p.municipality_id, statuses=["overdue", "in_progress"], limit=50),
        "API search (q, status overdue, 20)": lambda s: repository.list_commitments_page(
            s, p.now, q=p.word, statuses=["overdue"], limit=20),
        "site search (q, status overdue, sort status, 20)": lambda s: repository.list_commitments_page(
            s, p.now, q=p.word, statuses=["overdue"], sort="status", limit=20),
        "site search (q, sort status, 20)": lambda s: repository.list_commitments_page(
            s, p.now, q=p.word, sort="status", limit=20),
        "text search, no match": lambda s: repository.list_commitments_page(s, p.now, q=p.no_match, limit=20),
        "text search, 2 characters": lambda s: repository.list_commitments_page(s, p.now, q="zq", limit=20),
        "overview (all municipalities)": lambda s: repository.list_municipalities(s, p.now),
        "one municipality": lambda s: repository.get_municipality(s, p.municipality_id, p.now),
        "themes": lambda s: repository.list_themes(s, None),
        "overdue of a municipality by due date": lambda s: repository.list_commitments_page(
            s, p.now, municipality_id=p.municipality_id, statuses=["overdue"], sort="due_date", limit=20),
        "recent of a municipality": lambda s: repository.list_commitments_page(
            s, p.now, municipality_id=p.municipality_id, sort="-last_change", limit=10),
    }


ROUNDS = 4
"""Each read is timed in this many alternating rounds on the two indexes (small, large, small,
...), so a change of machine load during a read moves both sides alike."""


def seconds(database: Any, read: Callable[[Any], Any], calls: int, cold: bool) -> tuple[float, float]:
    """(wall-clock, CPU) seconds of ``calls`` calls of ``read``, each in its own session, after
    one untimed call (the connection and, unless ``cold``, the kept counts warm). The CPU time
    is this process's (``time.process_time``): on SQLite the database works in it, so it is
    the figure a loaded machine disturbs least; on PostgreSQL it leaves out the server's."""
    with database.sessions() as session:
        read(session)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(calls):
        if cold:
            repository._kept_counts.clear()
        with database.sessions() as session:
            read(session)
    return time.perf_counter() - wall, time.process_time() - cpu


def deep_page(database: Any, hops: int, now: int) -> Callable[[Any], Any]:
    """The read of the page ``hops`` pages deep by cursor (sort due_date, 50 a page)."""
    with database.sessions() as session:
        page = repository.list_commitments_page(session, now, sort="due_date", limit=50)
        for _ in range(hops):
            page = repository.list_commitments_page(session, now, sort="due_date", limit=50, after=page.next_cursor)
    cursor = page.next_cursor
    return lambda s: repository.list_commitments_page(s, now, sort="due_date", limit=50, after=cursor)


@dataclass
class Filled:
    """An index of ``bench/fill_index.py`` opened for reading (``sessions`` as a fresh
    database's)."""

    engine: Any
    sessions: Any


@contextmanager
def filled(size: str, reuse_fill: bool) -> Iterator[tuple[Filled, Manifest]]:
    """The index of ``size`` (filled through the projection on first use, or found cached) and its manifest."""
    manifest = fill_index.fill(fill_index.sizes_of(size), reuse_any_code=reuse_fill)
    engine = make_engine(manifest.database_url)
    try:
        yield Filled(engine, session_factory(engine)), manifest
    finally:
        engine.dispose()


def compare(small: Any, large: Any, names: tuple[str, str], small_picks: Picks, large_picks: Picks, calls: int) -> None:
    """Print each read's calls per second on both indexes and their ratio, kept counts, then cold."""
    small_reads, large_reads = reads(small_picks), reads(large_picks)
    print(f"{'read':52} {'calls/s ' + names[0]:>16} {'calls/s ' + names[1]:>16} {'ratio':>7} {'CPU ratio':>9}")
    for cold in (False, True):
        for name in [*small_reads, "page 5 deep by cursor (due_date, 50)"]:
            if name in small_reads:
                small_read, large_read = small_reads[name], large_reads[name]
            else:
                small_read, large_read = deep_page(small, 4, small_picks.now), deep_page(large, 4, large_picks.now)
            per_round = max(1, calls // ROUNDS)
            timed = [[0.0, 0.0], [0.0, 0.0]]  # (wall, CPU) seconds on small, on large
            for _ in range(ROUNDS):
                for side, (database, read) in enumerate(((small, small_read), (large, large_read))):
                    wall, cpu = seconds(database, read, per_round, cold)
                    timed[side][0] += wall
                    timed[side][1] += cpu
            (small_wall, small_cpu), (large_wall, large_cpu) = timed
            label = ("cold: " if cold else "") + name
            print(f"{label:52} {per_round * ROUNDS / small_wall:16,.0f} {per_round * ROUNDS / large_wall:16,.0f} "
                  f"{small_wall / large_wall:7.2f} {small_cpu / large_cpu if large_cpu else float('inf'):9.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=350)
    parser.add_argument("--large", type=int, default=20_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--fill", help="two sizes of bench/fill_index.py, e.g. small,big: read those indexes instead")
    parser.add_argument("--reuse-fill", action="store_true", help="take a cached fill of a size made by other code")
    args = parser.parse_args()
    if args.fill:
        sizes = [s.strip() for s in args.fill.split(",")]
        if len(sizes) != 2:
            parser.error("--fill takes two sizes, e.g. small,big")
        with filled(sizes[0], args.reuse_fill) as (small, small_manifest), filled(sizes[1], args.reuse_fill) as (large, large_manifest):
            picks = [Picks(now=fill_index.CHAIN_START + fill_index.CHAIN_SECONDS, word=m.search_word, no_match=m.no_match_word,
                           municipality_id=m.municipality_id) for m in (small_manifest, large_manifest)]
            names = [f"{m.counts['commitments']:,}" for m in (small_manifest, large_manifest)]
            print(f"fill_index {sizes[0]} ({small_manifest.counts['commitments']:,} commitments, "
                  f"{small_manifest.counts['deliveries']:,} deliveries) and {sizes[1]} ({large_manifest.counts['commitments']:,}, "
                  f"{large_manifest.counts['deliveries']:,}), SQLite")
            compare(small, large, (names[0], names[1]), picks[0], picks[1], args.calls)
        return
    with tempfile.TemporaryDirectory() as folder, \
            fresh_database(args.backend, Path(folder)) as small, fresh_database(args.backend, Path(folder)) as large:
        started = time.perf_counter()
        fill(small, args.small)
        fill(large, args.large)
        print(f"filled {args.small:,} and {args.large:,} commitments ({args.backend}) in {time.perf_counter() - started:.1f} s")
        compare(small, large, (format(args.small, ","), format(args.large, ",")), Picks(), Picks(), args.calls)


if __name__ == "__main__":
    main()
