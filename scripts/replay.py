"""Auditor's replay: rebuild the ledger from the chain alone and compare it with the API.

Command line::

    python -m scripts.replay --rpc-url URL --address 0x.. --deploy-block N [--to-block M]
        [--api-url http://127.0.0.1:8000] [--report replay-report.json] [--chunk-blocks 2000]
        [--now UNIX] [--wait-seconds 30] [--boundary-seconds 120]
        [--batch-dir DIR] [--batch-files-from-api]
    python -m scripts.replay --rpc-url URL --deployment data/deployment.json [...]

brownie::

    brownie run scripts/replay.py main --network ledger-local

(reads ``LEDGER_RPC_URL`` (default ``http://127.0.0.1:8546``), ``LEDGER_DEPLOYMENT_FILE``
(default ``data/deployment.json``), ``LEDGER_API_URL`` (default ``http://127.0.0.1:8000``;
set it to an empty string to skip the comparison), ``LEDGER_REPLAY_REPORT`` (default
``data/replay-report.json``) and ``LEDGER_BATCH_DIR`` (default: none); it talks to the node with
its own web3 connection, not brownie's).

What it does:

1. Reads ``version()`` once and refuses a contract version it does not know (exit 2), then
   every log of the ledger contract in ``deploy-block..to-block`` (both inclusive;
   ``to-block`` defaults to the head) with raw ``eth_getLogs`` in chunks, the block times from
   the logs' ``blockTimestamp`` (or, from a node that does not send it, from the chunk's block
   headers in one ``eth_getBlockByNumber`` batch request), decodes the logs with the shared
   decoder and rebuilds
   municipalities (admins, handovers, recoveries, registrar intervals), the pause state,
   commitments (original and current terms, amendments, withdrawal), deliveries (both
   clocks, revocations) and the chain reference of each fact with the auditor's own
   projection; no other ``eth_call``. Each anchored batch counts only once its file is found
   and checked against the chain (docs/LEDGER.md "Batches"): in ``--batch-dir`` (a file named
   ``<sha256 hex>.json``, or any file of the folder with that SHA-256) and, with
   ``--batch-files-from-api``, as the API serves it (``GET /api/v1/batches/{root}/file``). The
   verdict always comes from the bytes: their SHA-256 against the anchored ``fileSha256``, the
   root rebuilt from them against the anchored root, their leaf count against ``leafCount``;
   a batch whose file is missing or does not match is reported with its reason and counts
   nothing.
2. Evaluates, with the auditor's own rules (docs/LEDGER.md), the four statuses and met times
   (claimed / on record × current / original terms), progress and the derived facts at
   ``--now`` (Unix seconds, default the wall clock: the API evaluates statuses at request
   time, so the current time is what a citizen sees), prints a summary and writes the JSON
   report.
3. With ``--api-url``: waits up to ``--wait-seconds`` for the API's ``indexed_block`` to reach
   the replayed ``to-block``, reads every commitment (all pages and each detail) and every
   municipality, and compares field by field. The API has no ``now`` parameter, so for the
   comparison the chain's statuses are evaluated at the wall-clock time taken right before
   the API is read (not at ``--now``); a commitment whose due date is within
   ``--boundary-seconds`` of that read may flip status between the two reads and is reported
   as a *boundary* case instead of a difference when the API's status is one it has within
   the window.

Exit codes: 0 nothing differs and the event stream is sound; 1 differences with the API or
anomalies in the event stream; 2 the replay could not run (bad arguments, node or API
unreachable, wrong chain, a contract version this replay does not know).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from ledger.errors import LedgerError
from scripts.audit.api import ApiClient, fetch_snapshot, wait_for_index
from scripts.audit.batchfiles import BatchFiles
from scripts.audit.compare import DEFAULT_BOUNDARY_SECONDS, compare_with_api
from scripts.audit.errors import ApiFetchError, ReplayConfigError
from scripts.audit.report import build_report, print_comparison, print_summary, write_report
from scripts.audit.runner import DEFAULT_CHUNK_BLOCKS, ReplayResult, ReplayTarget, load_deployment_file, replay_ledger
from scripts.audit.source import LogChunk

EXIT_OK = 0
EXIT_DIFFERENCES = 1
EXIT_ERROR = 2

DEFAULT_RPC_URL = "http://127.0.0.1:8546"
DEFAULT_API_URL = "http://127.0.0.1:8000"
DEFAULT_DEPLOYMENT_FILE = "data/deployment.json"
DEFAULT_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class ReplayOptions:
    """Everything one run needs.

    Attributes:
        rpc_url: JSON-RPC endpoint of a node of the ledger's chain.
        contract_address: the ledger contract (overrides the deployment record's).
        deploy_block: first block replayed, inclusive (overrides the deployment record's).
        deployment_file: deployment record with ``contract_address``, ``deploy_block``,
            ``chain_id`` (and optionally ``deploy_block_hash``, checked when present).
        to_block: last block replayed, inclusive; ``None`` for the head.
        api_url: API to compare with; ``None`` to skip the comparison.
        report_path: where to write the JSON report; ``None`` to write none.
        chunk_blocks: largest ``eth_getLogs`` range, in blocks.
        now: Unix seconds the report's statuses are evaluated at; ``None`` for the wall clock.
        wait_seconds: how long to wait for the API's index to reach ``to_block``, seconds.
        boundary_seconds: due dates this close to the API read are boundary cases, seconds.
        batch_dir: folder holding batch files (``<sha256 hex>.json`` or any name), or ``None``.
        batch_files_from_api: also read batch files from the API (needs ``api_url``); their
            bytes are checked against the chain like any other copy.
    """

    rpc_url: str
    contract_address: str | None = None
    deploy_block: int | None = None
    deployment_file: Path | None = None
    to_block: int | None = None
    api_url: str | None = None
    report_path: Path | None = None
    chunk_blocks: int = DEFAULT_CHUNK_BLOCKS
    now: int | None = None
    wait_seconds: float = DEFAULT_WAIT_SECONDS
    boundary_seconds: int = DEFAULT_BOUNDARY_SECONDS
    batch_dir: Path | None = None
    batch_files_from_api: bool = False


def batch_files_for(options: ReplayOptions) -> BatchFiles:
    """Where this run looks for batch files (``--batch-dir``, the API if asked).

    Raises:
        ReplayConfigError: ``batch_files_from_api`` without ``api_url``, or ``batch_dir`` is
            not a folder.
    """
    fetch = None
    if options.batch_files_from_api:
        if not options.api_url:
            raise ReplayConfigError("--batch-files-from-api needs --api-url.")
        fetch = ApiClient(options.api_url).batch_file
    return BatchFiles(options.batch_dir, fetch)


def resolve_target(options: ReplayOptions) -> ReplayTarget:
    """The :class:`ReplayTarget` described by ``options``: the deployment record if given,
    with ``contract_address`` / ``deploy_block`` overriding it.

    Raises:
        ReplayConfigError: neither a deployment record nor both address and deploy block, or
            the record cannot be read.
    """
    chain_id = None
    deploy_block_hash = None
    address = options.contract_address
    deploy_block = options.deploy_block
    if options.deployment_file is not None:
        record = load_deployment_file(options.deployment_file)
        chain_id = record["chain_id"]
        if address is None:
            address = record["contract_address"]
        if deploy_block is None:
            deploy_block = record["deploy_block"]
        if deploy_block == record["deploy_block"]:
            deploy_block_hash = record["deploy_block_hash"]
    if address is None or deploy_block is None:
        raise ReplayConfigError("Give --deployment FILE, or both --address 0x.. and --deploy-block N.")
    return ReplayTarget(
        rpc_url=options.rpc_url,
        contract_address=address,
        deploy_block=deploy_block,
        to_block=options.to_block,
        chain_id=chain_id,
        deploy_block_hash=deploy_block_hash,
        chunk_blocks=options.chunk_blocks,
    )


def _compare(options: ReplayOptions, result: ReplayResult, console: Console) -> tuple[dict, bool]:
    """Wait for the API's index, read it, compare. Returns (report section, ok)."""
    assert options.api_url is not None
    client = ApiClient(options.api_url)
    notes: list[str] = []
    waited = wait_for_index(client, result.to_block, wait_seconds=0)
    if not waited.caught_up:
        console.print(
            f"The API has indexed up to block {waited.health.get('indexed_block')}, behind the replayed "
            f"block {result.to_block}; waiting up to {options.wait_seconds:g} s for it to catch up."
        )
        waited = wait_for_index(client, result.to_block, wait_seconds=options.wait_seconds)
        if waited.caught_up:
            notes.append(
                f"The API caught up with block {result.to_block} after {waited.waited_seconds:.1f} s "
                f"(indexed_block {waited.health.get('indexed_block')})."
            )
        else:
            notes.append(
                f"The API was still behind after {waited.waited_seconds:.1f} s: indexed_block "
                f"{waited.health.get('indexed_block')} < replayed block {result.to_block}. Facts after its "
                f"indexed block show as differences."
            )
    indexed = waited.health.get("indexed_block")
    if isinstance(indexed, int) and indexed > result.to_block:
        notes.append(
            f"The API has indexed up to block {indexed}, beyond the replayed block {result.to_block}: facts "
            f"recorded after block {result.to_block} show as differences."
        )
    if waited.health.get("status") not in (None, "ok"):
        notes.append(f"The API reports health status {waited.health.get('status')!r}.")
    if waited.health.get("deploy_block") not in (None, result.from_block):
        notes.append(
            f"The API's deploy block is {waited.health.get('deploy_block')}, the replay started at block "
            f"{result.from_block}."
        )
    snapshot = fetch_snapshot(client, extra_ids=set(result.state.commitments), extra_roots=set(result.state.batches))
    comparison = compare_with_api(
        result.state,
        snapshot.to_payload(),
        compared_from=snapshot.fetched_from,
        compared_to=snapshot.fetched_to,
        boundary_seconds=options.boundary_seconds,
        chain_id=result.chain_id,
        contract_address=result.contract_address,
    )
    comparison.notes.extend(notes)
    section = {
        "api_url": client.base_url,
        "api_health": waited.health,
        "api_caught_up": waited.caught_up,
        "waited_seconds": round(waited.waited_seconds, 3),
        **comparison.to_json(),
    }
    print_comparison(console, comparison, client.base_url)
    return section, comparison.ok


def run_replay(options: ReplayOptions, console: Console | None = None) -> int:
    """Replay, print the summary, compare with the API if asked, write the report.

    Returns:
        The exit code: :data:`EXIT_OK` (0), :data:`EXIT_DIFFERENCES` (1: differences with
        the API or anomalies in the event stream) or :data:`EXIT_ERROR` (2: the replay or the
        API read could not run; the message is printed. When only the API read failed, the
        report is still written, with ``comparison.error``).
    """
    # Not a terminal (a file, CI): wide enough that the tables are not cut to 80 columns.
    console = console or Console(width=None if sys.stdout.isatty() else 160)
    try:
        target = resolve_target(options)
        batch_files = batch_files_for(options)
        with console.status("Replaying the ledger's events…") as status:

            def on_chunk(chunk: LogChunk) -> None:
                status.update(f"Replaying the ledger's events: blocks up to {chunk.to_block} read…")

            result = replay_ledger(target, on_chunk=on_chunk, batch_files=batch_files)
        now = int(time.time()) if options.now is None else options.now
        report = build_report(result, now)
        print_summary(console, report)
        ok = not result.state.anomalies
        code = EXIT_OK
        if options.api_url:
            try:
                section, compared_ok = _compare(options, result, console)
            except ApiFetchError as exc:
                console.print(f"[red]Comparison failed:[/red] {exc}")
                section, compared_ok, code = {"api_url": options.api_url, "error": str(exc)}, False, EXIT_ERROR
            report["comparison"] = section
            ok = ok and compared_ok
        if options.report_path is not None:
            write_report(options.report_path, report)
            console.print(f"Report written to {options.report_path}.")
    except LedgerError as exc:  # ReplayError and the shared ArtifactNotFoundError
        console.print(f"[red]Replay failed:[/red] {exc}")
        return EXIT_ERROR
    if code != EXIT_OK:
        return code
    return EXIT_OK if ok else EXIT_DIFFERENCES


app = typer.Typer(add_completion=False, help="Rebuild the ledger from the chain alone and compare it with the API.")


@app.command()
def replay_command(
    rpc_url: str = typer.Option(DEFAULT_RPC_URL, "--rpc-url", envvar="LEDGER_RPC_URL", help="JSON-RPC endpoint of the chain."),
    address: Optional[str] = typer.Option(None, "--address", help="Ledger contract address (0x..)."),
    deploy_block: Optional[int] = typer.Option(None, "--deploy-block", min=0, help="First block replayed (inclusive)."),
    deployment: Optional[Path] = typer.Option(
        None, "--deployment", help="Deployment record (JSON with contract_address, deploy_block, chain_id)."
    ),
    to_block: Optional[int] = typer.Option(None, "--to-block", min=0, help="Last block replayed (inclusive); default: head."),
    api_url: Optional[str] = typer.Option(None, "--api-url", help="API to compare with, e.g. http://127.0.0.1:8000."),
    report: Path = typer.Option(Path("replay-report.json"), "--report", help="Where to write the JSON report."),
    chunk_blocks: int = typer.Option(DEFAULT_CHUNK_BLOCKS, "--chunk-blocks", min=1, help="Blocks per eth_getLogs call."),
    now: Optional[int] = typer.Option(
        None, "--now", min=0, help="Unix seconds the report's statuses are evaluated at; default: now."
    ),
    wait_seconds: float = typer.Option(
        DEFAULT_WAIT_SECONDS, "--wait-seconds", min=0, help="Wait this long for the API's index to catch up."
    ),
    boundary_seconds: int = typer.Option(
        DEFAULT_BOUNDARY_SECONDS, "--boundary-seconds", min=0, help="Due dates this close to the API read are boundary cases."
    ),
    batch_dir: Optional[Path] = typer.Option(
        None, "--batch-dir", envvar="LEDGER_BATCH_DIR",
        help="Folder of batch files (<sha256 hex>.json, or any file with the anchored SHA-256).",
    ),
    batch_files_from_api: bool = typer.Option(
        False, "--batch-files-from-api", help="Also read batch files from the API (checked against the chain)."
    ),
) -> None:
    """Rebuild the ledger from its events and, with --api-url, compare it with the API.
    Exit code 0: all agrees; 1: differences or anomalies; 2: could not run."""
    code = run_replay(
        ReplayOptions(
            rpc_url=rpc_url,
            contract_address=address,
            deploy_block=deploy_block,
            deployment_file=deployment,
            to_block=to_block,
            api_url=api_url,
            report_path=report,
            chunk_blocks=chunk_blocks,
            now=now,
            wait_seconds=wait_seconds,
            boundary_seconds=boundary_seconds,
            batch_dir=batch_dir,
            batch_files_from_api=batch_files_from_api,
        )
    )
    raise typer.Exit(code)


def main() -> None:
    """brownie entry point: ``brownie run scripts/replay.py main --network ledger-local``.

    Reads ``LEDGER_RPC_URL`` (default ``http://127.0.0.1:8546``), ``LEDGER_DEPLOYMENT_FILE``
    (default ``data/deployment.json``), ``LEDGER_API_URL`` (default ``http://127.0.0.1:8000``;
    empty string: no comparison), ``LEDGER_REPLAY_REPORT`` (default
    ``data/replay-report.json``) and ``LEDGER_BATCH_DIR`` (default: none); batch files are also
    read from the API when it is compared. Uses its own web3 connection, not brownie's.

    Raises:
        SystemExit: with code 1 or 2 when the run finds differences or fails (see the module
            docstring); returns normally on success.
    """
    code = run_replay(
        ReplayOptions(
            rpc_url=os.environ.get("LEDGER_RPC_URL") or DEFAULT_RPC_URL,
            deployment_file=Path(os.environ.get("LEDGER_DEPLOYMENT_FILE") or DEFAULT_DEPLOYMENT_FILE),
            api_url=os.environ.get("LEDGER_API_URL", DEFAULT_API_URL) or None,
            report_path=Path(os.environ.get("LEDGER_REPLAY_REPORT") or "data/replay-report.json"),
            batch_dir=Path(os.environ["LEDGER_BATCH_DIR"]) if os.environ.get("LEDGER_BATCH_DIR") else None,
            batch_files_from_api=bool(os.environ.get("LEDGER_API_URL", DEFAULT_API_URL)),
        )
    )
    if code != EXIT_OK:
        raise SystemExit(code)


if __name__ == "__main__":
    app()
