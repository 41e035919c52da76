"""The auditor's replay beside the bare RPC, on the big benchmark chains.

``python -m bench.replay [--shapes big] [--wide-commitments 10000] [--deep-deliveries 20000]
[--big-events 100000] [--chunk-blocks 2000] [--json report.json] [--port 8610]``

For each chain shape (``bench.chain_fill``: built once, then loaded from ``data/bench/``), side
by side in one run on the same anvil:

(a) bare: ``eth_getLogs`` over the whole range (deploy block to head) in the replay's chunks of
    ``--chunk-blocks`` blocks (``--chunk-blocks`` of ``scripts.replay``), plain JSON-RPC, every
    log decoded with eth-abi (``bench.baseline``), in events per second;
(b) the replay itself, ``scripts.audit.runner.replay_ledger`` (chain checks, fetch, decode, the
    auditor's projection), in events per second of the same events;
(c) the whole command as ``python -m scripts.replay --rpc-url .. --address .. --deploy-block ..
    --to-block .. --report FILE --now T`` runs it (``scripts.replay.run_replay`` in this process:
    the replay, the statuses evaluated at ``--now``, the summary printed to a discarded console
    and the JSON report written), in events per second;

and the ratios (b)/(a) and (c)/(a) (goal: at least 0.5). The replayed state is checked: no
anomaly, exit status 0, and as many commitments and recorded deliveries as the chain's events.
Timings are noisy on a shared machine: compare the ratios of one run, not seconds across runs.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from bench.baseline import bare_fetch_decode
from bench.chain_fill import DEFAULT_PORT, SHAPES, BuiltChain, built_chain, exit_cleanly_on_sigterm, parse_shapes
from scripts.audit.runner import DEFAULT_CHUNK_BLOCKS, ReplayTarget, replay_ledger
from scripts.replay import EXIT_OK, ReplayOptions, run_replay

RATIO_GOAL = 0.5
"""Replay speed / bare speed the issue asks for (at least)."""

NOW = 1_780_000_000
"""``--now`` of the measured command (2026-05-28, Unix seconds): a fixed time, so that every
run evaluates the same statuses."""


class BenchReplayError(RuntimeError):
    """The replay did not rebuild the chain's ledger (anomalies, another exit status, or
    other counts than the chain's events)."""


@dataclass
class ReplayRun:
    """One shape's figures: events of the range; bare, ``replay_ledger`` and whole-command
    seconds; bare ``eth_getLogs`` calls."""

    shape: str
    events: int
    bare_seconds: float
    bare_calls: int
    replay_seconds: float
    command_seconds: float

    def rate(self, seconds: float) -> float:
        """Events of the range per ``seconds``."""
        return self.events / seconds if seconds > 0 else float("inf")

    @property
    def replay_ratio(self) -> float:
        """``replay_ledger`` events/s divided by bare events/s."""
        return self.bare_seconds / self.replay_seconds

    @property
    def command_ratio(self) -> float:
        """Whole-command events/s divided by bare events/s."""
        return self.bare_seconds / self.command_seconds


def replay_once(built: BuiltChain, chunk_blocks: int) -> ReplayRun:
    """Bare pass, ``replay_ledger``, then the whole command, over the chain's ledger range.

    Raises:
        BenchReplayError: anomalies, an exit status other than 0, or counts other than the chain's.
    """
    address, first = built.deployment.contract_address, built.deployment.deploy_block
    base = bare_fetch_decode(built.rpc_url, address, first, built.last_block, chunk_blocks)
    target = ReplayTarget(rpc_url=built.rpc_url, contract_address=address, deploy_block=first, to_block=built.last_block,
                          chain_id=built.deployment.chain_id, deploy_block_hash=built.deployment.deploy_block_hash,
                          chunk_blocks=chunk_blocks)
    started = time.perf_counter()
    result = replay_ledger(target)
    replay_seconds = time.perf_counter() - started
    if result.state.anomalies or result.logs_fetched != built.events:
        raise BenchReplayError(f"{built.shape}: {result.logs_fetched} of {built.events} logs replayed, anomalies "
                               f"{[a.kind for a in result.state.anomalies][:5]}")
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        report_path = Path(tmp) / "replay-report.json"
        options = ReplayOptions(rpc_url=built.rpc_url, contract_address=address, deploy_block=first,
                                to_block=built.last_block, report_path=report_path, chunk_blocks=chunk_blocks, now=NOW)
        started = time.perf_counter()
        code = run_replay(options, Console(file=io.StringIO(), width=160))
        command_seconds = time.perf_counter() - started
        totals = json.loads(report_path.read_text(encoding="utf-8"))["totals"]
    counts = built.counts
    if code != EXIT_OK or totals["commitments"] != counts.get("CommitmentRegistered", 0) \
            or totals["deliveries_recorded"] != counts.get("DeliveryRecorded", 0):
        raise BenchReplayError(f"{built.shape}: exit {code}, {totals['commitments']} commitments and "
                               f"{totals['deliveries_recorded']} deliveries replayed, the chain holds {counts}")
    return ReplayRun(built.shape, built.events, base.seconds, base.calls, replay_seconds, command_seconds)


def _mark(ok: bool) -> str:
    return "[green]PASS[/green]" if ok else "[red]FAIL[/red]"


def report(console: Console, runs: list[ReplayRun], chunk_blocks: int) -> dict[str, Any]:
    """Print the table; returns the same figures as a JSON-ready dict."""
    table = Table(title=f"Auditor replay vs bare eth_getLogs + eth-abi decode (same anvil, chunks of {chunk_blocks} "
                        f"blocks; goal ≥ {RATIO_GOAL}× bare)")
    for column in ("shape", "events", "bare events/s", "replay_ledger events/s", "ratio", "goal",
                   "whole command events/s", "ratio ", "goal "):
        table.add_column(column, justify="left" if column == "shape" else "right")
    for r in runs:
        table.add_row(r.shape, f"{r.events:,}", f"{r.rate(r.bare_seconds):,.0f}", f"{r.rate(r.replay_seconds):,.0f}",
                      f"{r.replay_ratio:.2f}×", _mark(r.replay_ratio >= RATIO_GOAL), f"{r.rate(r.command_seconds):,.0f}",
                      f"{r.command_ratio:.2f}×", _mark(r.command_ratio >= RATIO_GOAL))
    console.print(table)
    return {"chunk_blocks": chunk_blocks, "now": NOW, "runs": [
        {**asdict(r), "bare_events_per_second": r.rate(r.bare_seconds), "replay_events_per_second": r.rate(r.replay_seconds),
         "command_events_per_second": r.rate(r.command_seconds), "replay_ratio": r.replay_ratio,
         "command_ratio": r.command_ratio} for r in runs]}


def main(
    shapes: str = typer.Option("big", help="comma-separated chain shapes (bench.chain_fill)"),
    wide_commitments: int = typer.Option(SHAPES["wide"].default_size, min=1, help="wide: commitments (2 deliveries each)"),
    deep_deliveries: int = typer.Option(SHAPES["deep"].default_size, min=1, help="deep: deliveries of the one commitment"),
    big_events: int = typer.Option(SHAPES["big"].default_size, min=1, help="big: events in total"),
    chunk_blocks: int = typer.Option(DEFAULT_CHUNK_BLOCKS, min=1, help="blocks per eth_getLogs (replay and bare)"),
    json_path: Path | None = typer.Option(None, "--json", help="also write the figures as JSON here"),
    port: int = typer.Option(DEFAULT_PORT, help="anvil's port"),
) -> None:
    """Print the replay's events/s beside bare eth_getLogs + decode, and their ratios."""
    exit_cleanly_on_sigterm()
    console = Console(width=None if sys.stdout.isatty() else 160)
    sizes = {"wide": wide_commitments, "deep": deep_deliveries, "big": big_events}
    runs: list[ReplayRun] = []
    for name in parse_shapes(shapes):
        with built_chain(name, sizes[name], port=port,
                         console=console) as built:
            runs.append(replay_once(built, chunk_blocks))
            r = runs[-1]
            console.print(f"{name}: {r.events:,} events; bare {r.rate(r.bare_seconds):,.0f} events/s, replay_ledger "
                          f"{r.rate(r.replay_seconds):,.0f} ({r.replay_ratio:.2f}×), whole command "
                          f"{r.rate(r.command_seconds):,.0f} ({r.command_ratio:.2f}×)")
    figures = report(console, runs, chunk_blocks)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    typer.run(main)
