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
events/s of the registrations and of the deliveries (commit included), the ratio fast /
reference (the reference path runs ``--reference-deliveries`` deliveries only: it is
O(deliveries) per chunk for a commitment), and ``one`` / ``many`` (issue 8: O(1) work per
event whatever the number of deliveries per commitment, within 20 %).

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


def run(url: str, stream: Stream, apply: Apply, chunk: int, deliveries: int) -> tuple[float, float]:
    """Apply ``stream`` (its first ``deliveries`` deliveries) to the fresh index at ``url``
    in chunks, one commit each; returns (registrations/s, deliveries/s)."""
    engine = make_engine(url)
    create_schema(engine)
    sessions = session_factory(engine)
    rates = []
    try:
        for events in (stream.setup, stream.deliveries[:deliveries]):
            started = time.perf_counter()
            for part in _chunks(events, chunk):
                with sessions() as session:
                    apply(session, part, stream.block_times)
                    session.commit()
            rates.append(len(events) / (time.perf_counter() - started))
    finally:
        engine.dispose()
    return rates[0], rates[1]


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
    streams = [build_stream("many", deliveries // 2, 2), build_stream("one", 1, deliveries)]
    reference = getattr(projection, "apply_events_one_by_one", None)
    paths: list[tuple[str, Apply, int]] = [("fast", projection.apply_events, deliveries)]
    if reference is not None:
        paths.append(("reference", reference, min(reference_deliveries, deliveries)))
    table = Table(title=f"apply_events, chunks of {chunk} events, commit per chunk (events/s)")
    for column in ("backend", "path", "stream", "deliveries", "registrations/s", "deliveries/s"):
        table.add_column(column, justify="right")
    figures: dict[tuple[str, str, str], float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for backend in [b.strip() for b in backends.split(",") if b.strip()]:
            for path, apply, count in paths:
                for stream in streams:
                    url, drop = _fresh_url(backend, Path(folder))
                    try:
                        registrations, delivered = run(url, stream, apply, chunk, count)
                    finally:
                        drop()
                    figures[(backend, path, stream.name)] = delivered
                    table.add_row(backend, path, stream.name, f"{count:,}", f"{registrations:,.0f}", f"{delivered:,.0f}")
    console.print(table)
    ratios = Table(title="ratios (deliveries/s)")
    for column in ("backend", "fast / reference (many)", "fast / reference (one)", "one / many (fast)"):
        ratios.add_column(column, justify="right")
    for backend in sorted({key[0] for key in figures}):
        def ratio(a: tuple[str, str, str], b: tuple[str, str, str]) -> str:
            return f"{figures[a] / figures[b]:.2f}" if a in figures and b in figures else "-"

        ratios.add_row(
            backend,
            ratio((backend, "fast", "many"), (backend, "reference", "many")),
            ratio((backend, "fast", "one"), (backend, "reference", "one")),
            ratio((backend, "fast", "one"), (backend, "fast", "many")),
        )
    console.print(ratios)


if __name__ == "__main__":
    typer.run(main)
