"""Indexer backfill beside the bare RPC, on SQLite and PostgreSQL, and its memory.

``python -m bench.indexer [--shapes wide,deep,big] [--backends sqlite,postgresql]
[--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--wide-commitments 10000]
[--deep-deliveries 20000] [--big-events 100000] [--chunk-blocks 2000] [--rss/--no-rss]
[--json report.json] [--port 8610]``

For each chain shape (``bench.chain_fill``: built once, then loaded from ``data/bench/``) and
each backend, side by side in one run on the same anvil:

(a) bare: ``eth_getLogs`` over the whole range (deploy block to head) in the indexer's chunks
    of ``--chunk-blocks`` blocks, plain JSON-RPC, every log decoded with eth-abi
    (``bench.baseline``), in events per second;
(b) the indexer: ``indexer.loop.Indexer.run_once`` (the code ``python -m indexer`` runs) from
    the deploy block to the head (confirmations 0) into an empty index (a temporary SQLite file,
    or a fresh schema in the PostgreSQL database of ``--postgres-url``, dropped at the end),
    commits included, in events per second of the same events;
(c) their ratio b/a (goal: at least 0.5), and, per backend, the ratio of the ``deep`` speed to
    the ``wide`` speed (goal: within 20 %, 0.8 to 1.2: O(1) work per event whatever the
    number of deliveries of a commitment);
(d) the same comparison on deliveries alone: the blocks after the last registration (wide:
    10,000 first deliveries, then 10,000 second ones; deep: 20,000 deliveries of one
    commitment) indexed and timed on an index already holding everything before them, so
    both shapes are timed on the same kind of event (a third of wide's events are
    registrations, whose text search and list indexes cost more than a delivery).

With ``--rss`` (default) ``python -m indexer --once`` also runs once as a child process on the
largest chain of the run into a temporary SQLite index, and its peak resident set size
(``ru_maxrss`` of that child, from ``os.wait4`` in a small launcher process: see
:data:`_LAUNCHER`) is printed (goal: under 300 MB).

The index is checked after each run: every event of the range applied, no ``event_errors``.
Timings are noisy on a shared machine: compare the ratios of one run, not seconds across runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from bench.baseline import BareRun, bare_fetch_decode
from bench.chain_fill import DEFAULT_PORT, SHAPES, BuiltChain, built_chain, exit_cleanly_on_sigterm, parse_shapes
from indexer.loop import Indexer
from ledger.chain import LedgerChain
from ledger.db import create_schema, make_engine, session_factory
from ledger.db.repository import event_error_count
from ledger.deployment import save_deployment
from ledger.settings import REPO_ROOT, Settings, load_settings

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")
RATIO_GOAL = 0.5
"""Indexer speed / bare speed the issue asks for (at least)."""
DEEP_WIDE_TOLERANCE = 0.2
"""``deep`` speed within this fraction of the ``wide`` speed."""
RSS_GOAL_MB = 300.0


class BenchIndexError(RuntimeError):
    """The index a run built does not hold every event of the range (or holds event errors)."""


@dataclass
class IndexerRun:
    """One measured backfill.

    Attributes:
        shape, backend: what was indexed where.
        events: ledger events in the range (deploy block to head).
        applied: events the indexer reported applied.
        seconds: wall-clock seconds of ``run_once``.
        bare_events_per_second: the bare pass measured right before, events/s.
        bare_calls: its ``eth_getLogs`` calls.
    """

    shape: str
    backend: str
    events: int
    applied: int
    seconds: float
    bare_events_per_second: float
    bare_calls: int

    @property
    def events_per_second(self) -> float:
        """Events of the range per second of the backfill."""
        return self.events / self.seconds if self.seconds > 0 else float("inf")

    @property
    def ratio(self) -> float:
        """Indexer events/s divided by bare events/s."""
        return self.events_per_second / self.bare_events_per_second


@dataclass
class RssRun:
    """``python -m indexer --once`` as a child: shape, events, exit status, seconds (process
    start to exit, imports included), peak RSS in MB (``ru_maxrss`` KiB / 1024)."""

    shape: str
    events: int
    exit_status: int
    seconds: float
    peak_rss_mb: float


@contextmanager
def fresh_index(backend: str, folder: Path, postgres_url: str) -> Iterator[str]:
    """The SQLAlchemy URL of an empty index: ``ledger.sqlite3`` in ``folder``, or a new
    schema ``bench_<hex>`` in the database of ``postgres_url`` (``search_path`` set through
    the URL's ``options``), dropped with everything in it on exit.

    Raises:
        ValueError: unknown backend.
        sqlalchemy.exc.OperationalError: PostgreSQL cannot be reached.
    """
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'ledger.sqlite3'}"
        return
    if backend != "postgresql":
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        joiner = "&" if "?" in postgres_url else "?"
        yield f"{postgres_url}{joiner}options=-csearch_path%3D{name}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


def indexer_settings(built: BuiltChain, database_url: str, data_dir: Path, chunk_blocks: int) -> Settings:
    """Local settings of an indexer on ``built`` (nothing read from the environment):
    confirmations 0, ``chunk_blocks`` blocks per chunk, data (evidence) under ``data_dir``."""
    return load_settings(environ={}, rpc_url=built.rpc_url, database_url=database_url, data_dir=data_dir,
                         log_chunk_blocks=chunk_blocks, confirmations=0)


def bare(built: BuiltChain, chunk_blocks: int) -> BareRun:
    """The bare pass over the chain's whole ledger range (deploy block to the last block)."""
    return bare_fetch_decode(built.rpc_url, built.deployment.contract_address, built.deployment.deploy_block,
                             built.last_block, chunk_blocks)


def index_once(built: BuiltChain, backend: str, chunk_blocks: int, postgres_url: str) -> IndexerRun:
    """The bare pass, then a backfill of the whole chain into an empty index on ``backend``.

    Raises:
        BenchIndexError: not every event applied, or events the projection could not apply.
    """
    base = bare(built, chunk_blocks)
    if base.events != built.events:
        raise BenchIndexError(f"{built.shape}: the bare pass read {base.events} events, the chain holds {built.events}")
    with tempfile.TemporaryDirectory(prefix="bench-indexer-") as tmp, fresh_index(backend, Path(tmp), postgres_url) as url:
        engine = make_engine(url)
        try:
            create_schema(engine)
            sessions = session_factory(engine)
            indexer = Indexer(LedgerChain(built.rpc_url, built.deployment), sessions,
                              indexer_settings(built, url, Path(tmp), chunk_blocks))
            started = time.perf_counter()
            applied = indexer.run_once()
            seconds = time.perf_counter() - started
            with sessions() as session, session.begin():
                errors = event_error_count(session)
        finally:
            engine.dispose()
    if errors or applied != built.events:
        raise BenchIndexError(f"{built.shape} on {backend}: {applied} of {built.events} events applied, "
                              f"{errors} event errors")
    return IndexerRun(built.shape, backend, built.events, applied, seconds, base.events_per_second, base.calls)


@dataclass
class DeliveryPhaseRun:
    """The deliveries after the last registration of a chain, indexed on top of an index that
    holds everything before them: shape, backend, events of the phase, seconds of its
    ``run_once``."""

    shape: str
    backend: str
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        """Events of the phase per second."""
        return self.events / self.seconds if self.seconds > 0 else float("inf")


def last_block_of(built: BuiltChain, event_name: str) -> int:
    """The highest block holding a ``event_name`` log of the chain's ledger (one filtered
    ``eth_getLogs`` over the whole range).

    Raises:
        BenchIndexError: the chain has no such log, or the node answered an error.
    """
    topic = LedgerChain(built.rpc_url, built.deployment).decoder.topic_of(event_name)
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [{
        "address": built.deployment.contract_address, "fromBlock": hex(built.deployment.deploy_block),
        "toBlock": hex(built.last_block), "topics": [topic]}]}
    answer = httpx.post(built.rpc_url, json=body, timeout=120).json()
    if "error" in answer or not answer.get("result"):
        raise BenchIndexError(f"{built.shape}: no {event_name} log found ({answer.get('error')})")
    return max(int(log["blockNumber"], 16) for log in answer["result"])


def delivery_phase_once(built: BuiltChain, backend: str, chunk_blocks: int, postgres_url: str) -> DeliveryPhaseRun:
    """Index the chain up to its last registration's block (not timed), then time the
    indexing of the rest (deliveries only, in both the wide and the deep shape).

    Raises:
        BenchIndexError: the phase applied other than every event after that block, or the
            index holds event errors.
    """
    split = last_block_of(built, "CommitmentRegistered")
    with tempfile.TemporaryDirectory(prefix="bench-indexer-phase-") as tmp, fresh_index(backend, Path(tmp), postgres_url) as url:
        engine = make_engine(url)
        try:
            create_schema(engine)
            sessions = session_factory(engine)
            chain = LedgerChain(built.rpc_url, built.deployment)
            first = indexer_settings(built, url, Path(tmp), chunk_blocks).model_copy(update={"confirmations": built.last_block - split})
            before = Indexer(chain, sessions, first).run_once()
            started = time.perf_counter()
            applied = Indexer(chain, sessions, indexer_settings(built, url, Path(tmp), chunk_blocks)).run_once()
            seconds = time.perf_counter() - started
            with sessions() as session, session.begin():
                errors = event_error_count(session)
        finally:
            engine.dispose()
    if errors or before + applied != built.events:
        raise BenchIndexError(f"{built.shape} on {backend}: {before} + {applied} of {built.events} events applied, {errors} event errors")
    return DeliveryPhaseRun(built.shape, backend, applied, seconds)


_LAUNCHER = (
    "import json, os, subprocess, sys\n"
    "child = subprocess.Popen(sys.argv[1:], stdout=sys.stderr, stderr=sys.stderr)\n"
    "_, status, usage = os.wait4(child.pid, 0)\n"
    "print(json.dumps({'exit_status': os.waitstatus_to_exitcode(status), 'maxrss_kib': usage.ru_maxrss}))\n"
)
"""Runs its arguments as a child and prints the child's exit status and peak RSS. A child's
``ru_maxrss`` counts the memory of the process it was forked from (Linux keeps the high-water
mark across ``exec``): started from this bench, grown by the runs before, the indexer would be
charged the bench's own hundreds of MB, so it is started from this small launcher."""


def child_rss(built: BuiltChain, chunk_blocks: int) -> RssRun:
    """``python -m indexer --once`` on ``built`` into a temporary SQLite index, as a child
    process (of :data:`_LAUNCHER`) with only its own ``LEDGER_*`` settings; its exit status,
    seconds and peak RSS."""
    with tempfile.TemporaryDirectory(prefix="bench-indexer-rss-") as tmp:
        deployment_file = Path(tmp) / "deployment.json"
        save_deployment(deployment_file, built.deployment)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        env.update({"LEDGER_ENV": "local", "LEDGER_RPC_URL": built.rpc_url, "LEDGER_DATA_DIR": tmp,
                    "LEDGER_DATABASE_URL": f"sqlite:///{Path(tmp) / 'ledger.sqlite3'}",
                    "LEDGER_DEPLOYMENT_FILE": str(deployment_file), "LEDGER_LOG_CHUNK_BLOCKS": str(chunk_blocks),
                    "LEDGER_CONFIRMATIONS": "0", "PYTHONPATH": str(REPO_ROOT)})
        started = time.perf_counter()
        with open(Path(tmp) / "indexer.log", "wb") as log:
            proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, sys.executable, "-m", "indexer", "--once", "--log-level", "WARNING"],
                                    cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=log)
            try:
                out, _ = proc.communicate()
            except BaseException:  # stopped (SIGTERM, ^C): the launcher and its child go too
                proc.kill()
                proc.wait()
                raise
        seconds = time.perf_counter() - started
        try:
            measured = json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            measured = {"exit_status": proc.returncode or -1, "maxrss_kib": 0}
        if measured["exit_status"] != 0:
            raise BenchIndexError(f"python -m indexer --once exited {measured['exit_status']}:\n"
                                  f"{(Path(tmp) / 'indexer.log').read_text(errors='replace')[-3000:]}")
    return RssRun(built.shape, built.events, measured["exit_status"], seconds, measured["maxrss_kib"] / 1024)


def _mark(ok: bool) -> str:
    return "[green]PASS[/green]" if ok else "[red]FAIL[/red]"


def report(console: Console, runs: list[IndexerRun], rss: RssRun | None, chunk_blocks: int,
           phases: list[DeliveryPhaseRun] | None = None) -> dict[str, Any]:
    """Print the tables; returns the same figures as a JSON-ready dict."""
    table = Table(title=f"Indexer backfill vs bare eth_getLogs + eth-abi decode (same anvil, chunks of {chunk_blocks} "
                        f"blocks; goal ≥ {RATIO_GOAL}× bare)")
    for column in ("shape", "events", "backend", "bare events/s", "indexer events/s", "indexer s", "ratio", "goal"):
        table.add_column(column, justify="left" if column in ("shape", "backend") else "right")
    for r in runs:
        table.add_row(r.shape, f"{r.events:,}", r.backend, f"{r.bare_events_per_second:,.0f}", f"{r.events_per_second:,.0f}",
                      f"{r.seconds:.1f}", f"{r.ratio:.2f}×", _mark(r.ratio >= RATIO_GOAL))
    console.print(table)
    by = {(r.shape, r.backend): r for r in runs}
    flat: list[dict[str, Any]] = []
    for backend in BACKENDS:
        if ("wide", backend) in by and ("deep", backend) in by:
            wide, deep = by[("wide", backend)], by[("deep", backend)]
            flat.append({"backend": backend, "wide_events_per_second": wide.events_per_second,
                         "deep_events_per_second": deep.events_per_second,
                         "deep_over_wide": deep.events_per_second / wide.events_per_second})
    if flat:
        table = Table(title=f"O(1) per event: 1 commitment × many deliveries (deep) vs many commitments × 2 (wide); "
                            f"goal within {DEEP_WIDE_TOLERANCE:.0%}")
        for column in ("backend", "wide events/s", "deep events/s", "deep / wide", "goal"):
            table.add_column(column, justify="left" if column == "backend" else "right")
        for f in flat:
            ok = abs(f["deep_over_wide"] - 1) <= DEEP_WIDE_TOLERANCE
            table.add_row(f["backend"], f"{f['wide_events_per_second']:,.0f}", f"{f['deep_events_per_second']:,.0f}",
                          f"{f['deep_over_wide']:.2f}", _mark(ok))
        console.print(table)
    phase_by = {(p.shape, p.backend): p for p in phases or []}
    phase_flat: list[dict[str, Any]] = []
    for backend in BACKENDS:
        if ("wide", backend) in phase_by and ("deep", backend) in phase_by:
            wide_p, deep_p = phase_by[("wide", backend)], phase_by[("deep", backend)]
            phase_flat.append({"backend": backend, "wide_deliveries": wide_p.events, "wide_per_second": wide_p.events_per_second,
                               "deep_deliveries": deep_p.events, "deep_per_second": deep_p.events_per_second,
                               "deep_over_wide": deep_p.events_per_second / wide_p.events_per_second})
    if phase_flat:
        table = Table(title="O(1) per delivery: the deliveries after the last registration, on an index holding the rest "
                            f"(10,000 × 2 vs 1 × 20,000 at the default sizes); goal within {DEEP_WIDE_TOLERANCE:.0%}")
        for column in ("backend", "wide deliveries", "wide /s", "deep deliveries", "deep /s", "deep / wide", "goal"):
            table.add_column(column, justify="left" if column == "backend" else "right")
        for f in phase_flat:
            ok = abs(f["deep_over_wide"] - 1) <= DEEP_WIDE_TOLERANCE
            table.add_row(f["backend"], f"{f['wide_deliveries']:,}", f"{f['wide_per_second']:,.0f}", f"{f['deep_deliveries']:,}",
                          f"{f['deep_per_second']:,.0f}", f"{f['deep_over_wide']:.2f}", _mark(ok))
        console.print(table)
    if rss is not None:
        table = Table(title=f"python -m indexer --once as a child process (SQLite), peak RSS; goal < {RSS_GOAL_MB:.0f} MB")
        for column in ("shape", "events", "seconds (with start-up)", "events/s", "peak RSS MB", "goal"):
            table.add_column(column, justify="left" if column == "shape" else "right")
        table.add_row(rss.shape, f"{rss.events:,}", f"{rss.seconds:.1f}", f"{rss.events / rss.seconds:,.0f}",
                      f"{rss.peak_rss_mb:.0f}", _mark(rss.peak_rss_mb < RSS_GOAL_MB))
        console.print(table)
    return {
        "chunk_blocks": chunk_blocks,
        "runs": [{**asdict(r), "events_per_second": r.events_per_second, "ratio": r.ratio} for r in runs],
        "deep_vs_wide": flat,
        "deliveries_deep_vs_wide": phase_flat,
        "rss": asdict(rss) if rss is not None else None,
    }


def main(
    shapes: str = typer.Option("wide,deep,big", help="comma-separated chain shapes (bench.chain_fill)"),
    backends: str = typer.Option("sqlite,postgresql", help="comma-separated: sqlite, postgresql"),
    postgres_url: str = typer.Option(DEFAULT_POSTGRES_URL, help="PostgreSQL database a fresh schema is made in"),
    wide_commitments: int = typer.Option(SHAPES["wide"].default_size, min=1, help="wide: commitments (2 deliveries each)"),
    deep_deliveries: int = typer.Option(SHAPES["deep"].default_size, min=1, help="deep: deliveries of the one commitment"),
    big_events: int = typer.Option(SHAPES["big"].default_size, min=1, help="big: events in total"),
    chunk_blocks: int = typer.Option(Settings().log_chunk_blocks, min=1, help="blocks per eth_getLogs (indexer and bare)"),
    rss: bool = typer.Option(True, "--rss/--no-rss", help="measure python -m indexer's peak RSS on the largest chain"),
    json_path: Path | None = typer.Option(None, "--json", help="also write the figures as JSON here"),
    port: int = typer.Option(DEFAULT_PORT, help="anvil's port"),
) -> None:
    """Print indexer events/s beside bare eth_getLogs + decode, their ratios, and peak RSS."""
    exit_cleanly_on_sigterm()
    console = Console(width=None if sys.stdout.isatty() else 160)
    chosen = [b.strip() for b in backends.split(",") if b.strip()]
    if not chosen or any(b not in BACKENDS for b in chosen):
        raise typer.BadParameter(f"backends are {', '.join(BACKENDS)}; got {backends!r}")
    sizes = {"wide": wide_commitments, "deep": deep_deliveries, "big": big_events}
    names = parse_shapes(shapes)
    largest = max(names, key=lambda n: SHAPES[n].events(sizes[n]))
    runs: list[IndexerRun] = []
    phases: list[DeliveryPhaseRun] = []
    child: RssRun | None = None
    for name in names:
        with built_chain(name, sizes[name], port=port,
                         console=console) as built:
            console.print(f"{name}: {built.events:,} events in blocks {built.deployment.deploy_block}..{built.last_block} "
                          f"({'loaded' if built.from_cache else 'built'} in {built.load_seconds:.1f} s)")
            for backend in chosen:
                runs.append(index_once(built, backend, chunk_blocks, postgres_url))
                r = runs[-1]
                console.print(f"  {backend}: bare {r.bare_events_per_second:,.0f} events/s, indexer "
                              f"{r.events_per_second:,.0f} events/s ({r.seconds:.1f} s), ratio {r.ratio:.2f}")
                if name in ("wide", "deep"):
                    phases.append(delivery_phase_once(built, backend, chunk_blocks, postgres_url))
                    console.print(f"  {backend}: the {phases[-1].events:,} deliveries after the registrations: "
                                  f"{phases[-1].events_per_second:,.0f} events/s")
            if rss and name == largest:
                child = child_rss(built, chunk_blocks)
    figures = report(console, runs, child, chunk_blocks, phases)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    typer.run(main)
