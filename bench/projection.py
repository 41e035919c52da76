"""What the projection costs per event, in process (no chain, no RPC): events/s of
``ledger.db.projection.apply_events`` on SQLite and PostgreSQL, the fast path against the
reference path (each event in its own savepoint, every touched commitment re-derived in full:
``apply_events_one_by_one``), and whether the work per delivery stays the same however many
deliveries a commitment has.

``python -m bench.projection [--deliveries 20000] [--chunk 2000] [--reference-deliveries 2000]
[--backends sqlite,postgresql]`` builds, with ``tests.db.script.Script`` (the decoder's
argument names and types), two event streams:

- ``many``: ``deliveries / 2`` commitments with 2 deliveries each;
- ``one``: 1 commitment with ``deliveries`` deliveries;

and applies each to a fresh index in chunks of ``--chunk`` events, committing after each
chunk as the indexer does (``indexer.loop``). It prints, per backend, path and stream, the
events/s of the registrations and of the deliveries (commit included), the deliveries/s of the
last quarter of the chunks over the first quarter (1.00: the cost of a delivery does not grow
with its commitment's deliveries), the ratio fast / reference (both on streams of
``--reference-deliveries`` deliveries: the reference path is O(deliveries) per chunk for a
commitment and flushes every event), and ``one`` / ``many`` (issue 8: O(1) work per event whatever the number of deliveries per
commitment, within 20 %; ``many`` writes one commitment row per delivery, ``one`` one per
chunk).

Timings are noisy on a shared 2-core machine: compare the ratios of one run.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from ledger.db import create_schema, make_engine, session_factory
from ledger.db import projection
from ledger.events import LedgerEvent
from tests.db.script import DAY, Script

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
EVENTS_PER_BLOCK = 20

Apply = Callable[..., int]


@dataclass(frozen=True)
class Stream:
    """Events of one bench stream, split in its registration and delivery phases."""

    name: str
    setup: list[LedgerEvent]
    deliveries: list[LedgerEvent]
    block_times: dict[int, int]


def build_stream(name: str, commitments: int, per_commitment: int) -> Stream:
    """A municipality, its registrar, ``commitments`` registrations (target 100 each), then
    ``per_commitment`` deliveries of 1 for each, round robin, claimed a day before each is
    recorded (each with one evidence hash, half with an asset)."""
    script = Script()
    script.municipality(1)
    script.registrar(1)
    for n in range(1, commitments + 1):
        if script.log_index >= EVENTS_PER_BLOCK:
            script.next_block()
        script.commitment(n, due_date=script.time + 3650 * DAY)
    setup = list(script.events)
    for number in range(1, per_commitment + 1):
        for n in range(1, commitments + 1):
            if script.log_index >= EVENTS_PER_BLOCK:
                script.next_block()
            script.delivery(n, number, 1, script.time - DAY, asset_ref=f"lot-{number}" if number % 2 else "")
    return Stream(name, setup, script.events[len(setup):], dict(script.block_times))


def _chunks(events: Sequence[LedgerEvent], size: int) -> Iterator[Sequence[LedgerEvent]]:
    for start in range(0, len(events), size):
        yield events[start:start + size]


def run(url: str, stream: Stream, apply: Apply, chunk: int, deliveries: int) -> tuple[float, float, float]:
    """Apply ``stream`` (its first ``deliveries`` deliveries) to the fresh index at ``url``
    in chunks, one commit each; returns (registrations/s, deliveries/s, deliveries/s of the
    last quarter of the chunks / of the first quarter: 1.0 when the cost per delivery does
    not grow with the deliveries already there)."""
    engine = make_engine(url)
    create_schema(engine)
    sessions = session_factory(engine)
    rates = []
    seconds: list[float] = []
    try:
        for events in (stream.setup, stream.deliveries[:deliveries]):
            started = time.perf_counter()
            seconds = []
            for part in _chunks(events, chunk):
                begun = time.perf_counter()
                with sessions() as session:
                    apply(session, part, stream.block_times)
                    session.commit()
                seconds.append(time.perf_counter() - begun)
            rates.append(len(events) / (time.perf_counter() - started))
    finally:
        engine.dispose()
    quarter = max(1, len(seconds) // 4)
    growth = sum(seconds[:quarter]) / sum(seconds[-quarter:]) if seconds else 1.0
    return rates[0], rates[1], growth


def _fresh_url(backend: str, folder: Path) -> tuple[str, Callable[[], None]]:
    if backend == "sqlite":
        return f"sqlite:///{folder / (uuid.uuid4().hex + '.sqlite3')}", lambda: None
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()

    return f"{POSTGRES_URL}?options=-csearch_path%3D{name}", drop


def main(
    deliveries: int = typer.Option(20_000, help="deliveries of each stream (the fast path)"),
    chunk: int = typer.Option(2_000, help="events per apply_events call and commit"),
    reference_deliveries: int = typer.Option(2_000, help="deliveries the reference path applies"),
    backends: str = typer.Option("sqlite,postgresql", help="comma-separated: sqlite, postgresql"),
) -> None:
    console = Console()
    small = min(reference_deliveries, deliveries)
    streams = {
        size: [build_stream("many", size // 2, 2), build_stream("one", 1, size)] for size in sorted({deliveries, small})
    }
    paths: list[tuple[str, Apply, int]] = [("fast", projection.apply_events, deliveries)]
    if small < deliveries:
        paths.append(("fast", projection.apply_events, small))
    paths.append(("reference", projection.apply_events_one_by_one, small))
    table = Table(title=f"apply_events, chunks of {chunk} events, commit per chunk (events/s)")
    for column in ("backend", "path", "stream", "deliveries", "registrations/s", "deliveries/s", "last/first quarter"):
        table.add_column(column, justify="right")
    figures: dict[tuple[str, str, str, int], float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for backend in [b.strip() for b in backends.split(",") if b.strip()]:
            for path, apply, count in paths:
                for stream in streams[count]:
                    url, drop = _fresh_url(backend, Path(folder))
                    try:
                        registrations, delivered, growth = run(url, stream, apply, chunk, count)
                    finally:
                        drop()
                    figures[(backend, path, stream.name, count)] = delivered
                    table.add_row(
                        backend, path, stream.name, f"{count:,}", f"{registrations:,.0f}", f"{delivered:,.0f}", f"{growth:.2f}"
                    )
    console.print(table)
    ratios = Table(title="ratios (deliveries/s)")
    for column in (
        "backend", f"fast / reference, many ({small:,})", f"fast / reference, one ({small:,})", f"one / many, fast ({deliveries:,})"
    ):
        ratios.add_column(column, justify="right")
    for backend in sorted({key[0] for key in figures}):
        def ratio(a: tuple[str, str, str, int], b: tuple[str, str, str, int]) -> str:
            return f"{figures[a] / figures[b]:.2f}" if a in figures and b in figures else "-"

        ratios.add_row(
            backend,
            ratio((backend, "fast", "many", small), (backend, "reference", "many", small)),
            ratio((backend, "fast", "one", small), (backend, "reference", "one", small)),
            ratio((backend, "fast", "one", deliveries), (backend, "fast", "many", deliveries)),
        )
    console.print(ratios)


if __name__ == "__main__":
    typer.run(main)
