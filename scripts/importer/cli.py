"""Command line: plan a mapping, compare with the ledger, write only what is missing.

    python -m scripts.importer MAPPING.yaml --api http://127.0.0.1:8000 \\
        (--token TOKEN | --token-file data/local-staff-tokens.json) \\
        [--data-dir DIR] [--dry-run] [--report out.json] [--batch-size 100] [--evidence-dir DIR]
        [--deliveries-mode per_delivery|batch] [--max-consecutive-failures 5] [--max-retry-seconds 60]
        [--max-in-flight 4] [--write-wait-seconds 10] [--write-timeout-seconds 300] [--write-poll-seconds 0.2]
        [--source-date YYYY-MM-DD] [--quiet]

Registrations and deliveries go in batches of ``--batch-size`` per transaction (default 100;
1 sends each through its single endpoint). A mapping with ``deliveries: {mode: batch}`` (or
``--deliveries-mode batch``) anchors the deliveries of each snapshot as one Merkle batch
instead (one transaction per snapshot; the plan shows each batch's leaf count and the root it
will anchor). The evidence documents the importer generates are uploaded with their
deliveries either way, so the API stores every file the chain cites; ``--evidence-dir`` also
writes a copy (named as in the report), to publish beside the data.

Writes go through the API's write outbox: each carries an ``Idempotency-Key`` derived from
its row(s). They are pipelined: the API answers a write as soon as it has journaled it (202)
and the next one goes while it is confirmed, at most ``--max-in-flight`` (4) unconfirmed at a
time; each is polled (at once, then every ``--write-poll-seconds``, doubled each time) until
confirmed or failed, at most ``--write-timeout-seconds``, and the run waits once, at the end,
for the API's index to show what it wrote. The API journals the writes in the order they are
sent, so ids follow the plan's order. ``--max-in-flight 1`` sends each write with ``Prefer:
wait=<--write-wait-seconds>`` and waits for it before the next. A request that fails for a reason
not its own (API unreachable, 5xx, 429) is retried with backoff, each retry logged on stderr
with its wait and reason, at most ``--max-retry-seconds`` in all; after
``--max-consecutive-failures`` such failures in a row the run stops (exit 3). Re-running the
same command is always safe: it writes only what the ledger is missing, and a write accepted
before is found again by its key. Progress (rows settled / rows, writes confirmed, present,
refused) goes to stderr when it is a terminal, unless ``--quiet``. The ``--report`` file is
rewritten atomically as the run goes (``"complete": false``), at the end with ``"complete":
true``; a stopped, interrupted (SIGINT, SIGTERM) or crashed run leaves it with
``"interrupted": true`` and the reason.

Re-imports. A commitment the ledger holds whose source values changed is compared field by
field (`scripts.importer.reimport`): the fields the mapping's ``reimport.amend`` lists become
one amendment of the commitment, with the mapping's reason (``$source``, ``$source_date``:
``source.published``, or ``--source-date``, or the last snapshot's date), reported per row as
amended with each field before → after; any other field that differs is reported per row as a
difference (field, ledger value, source value) and never written. The dry run lists both.

A mapping with an ``issuers`` block (many issuers in one file) is planned and written issuer
by issuer (`scripts.importer.issuers`), each with its own token from ``--token-file`` (keyed by
municipality code); ``--report out.json`` then writes ``out.<code>.json`` per issuer and
``out.json`` as their index with the rows that named no known issuer. ``--onboard`` first
onboards every issuer the mapping names on the local chain of ``make run``.

Exit status: 0 all rows fine; 1 some row failed (invalid row, a row naming no known issuer,
refused or blocked operation, refused amendment); 2 nothing was attempted (bad mapping or data,
no token, wrong municipality, API unreachable, indexer behind); 3 stopped after
``--max-consecutive-failures`` failed requests in a row (re-run when the API is back); 4
crashed (an unexpected error; the report says which); 5 the mapping looks wrong: no row gave
anything to import, or more than ``--max-malformed-share`` (default 10 %) of the rows not
skipped by a skip rule were invalid or malformed; nothing was written (the run is a dry run;
its report shows each row's reason); 6 the source differs from the ledger in fields the
mapping does not let it amend, nothing else failed; 130 interrupted by SIGINT (Ctrl-C); 143
stopped by SIGTERM. Every warning (on rows, on operations, on the run) is counted in the
summary.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from .apply import ApplyResult, apply_plan, check_municipality, find_municipality, wait_until_indexed
from .client import MAX_BATCH_SIZE, LedgerClient, RetryNotice
from .errors import (
    ApiError,
    ConsecutiveFailuresError,
    ImporterError,
    IndexerLagError,
    MappingError,
    MunicipalityMismatchError,
    MunicipalityNotFoundError,
    SourceDataError,
    TokenNotFoundError,
)
from .mapping import DeliveryMode, load_mapping, with_delivery_mode, with_source_date
from .issuers import IssuerSplit, plan_issuers, split_issuers
from .pipeline import DEFAULT_WINDOW
from .plan import Plan
from .reimport import amendment_reason, needs_texts
from .report import MAX_MALFORMED_SHARE, REPORT_VERSION, Verdict, build_report, summary, verdict, write_report
from .state import LedgerState, read_state
from .tokens import resolve_token

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = Path(os.environ.get("LEDGER_SHARED_DATA_DIR") or REPO_ROOT.parent / "shared" / "data")
DEFAULT_API = "http://127.0.0.1:8000"
EXIT_OK, EXIT_ROW_FAILED, EXIT_REFUSED, EXIT_STOPPED, EXIT_CRASHED, EXIT_MALFORMED = 0, 1, 2, 3, 4, 5
EXIT_DIFFERENCES = 6  # the source differs from the ledger in fields the mapping does not let it amend; nothing else failed
EXIT_SIGINT, EXIT_SIGTERM = 128 + signal.SIGINT, 128 + signal.SIGTERM  # 130, 143: the shell's convention

app = typer.Typer(add_completion=False, help=__doc__, rich_markup_mode=None)
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)  # files and CI: no 80-column cut
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)  # retries, progress


@app.command()
def main(
    mapping_path: Annotated[Path, typer.Argument(metavar="MAPPING.yaml", help="mapping file (scripts/mappings/*.yaml)")],
    api: Annotated[str, typer.Option("--api", envvar="LEDGER_API_URL", help="base URL of the ledger API")] = DEFAULT_API,
    token: Annotated[Optional[str], typer.Option("--token", help="staff bearer token")] = None,
    token_file: Annotated[
        Optional[Path], typer.Option("--token-file", help="JSON {municipality_code: token}; picked by the mapping's code")
    ] = None,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="directory the mapping's files are relative to")] = DEFAULT_DATA_DIR,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="plan and compare with the ledger; write nothing")] = False,
    report_path: Annotated[Optional[Path], typer.Option("--report", help="write the JSON report here")] = None,
    sync_timeout_seconds: Annotated[
        float, typer.Option("--sync-timeout-seconds", help="wait at most this long for the indexer to reach the chain head")
    ] = 60.0,
    poll_interval_seconds: Annotated[float, typer.Option("--poll-interval-seconds", help="between health polls")] = 1.0,
    http_timeout_seconds: Annotated[
        float, typer.Option("--http-timeout-seconds", help="per request (writes wait for the receipt)")
    ] = 120.0,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, max=MAX_BATCH_SIZE,
                          help="registrations or deliveries per transaction (1 = single calls)")
    ] = MAX_BATCH_SIZE,
    evidence_dir: Annotated[
        Optional[Path], typer.Option("--evidence-dir", help="also write a copy of the generated evidence documents here (the API stores them either way)")
    ] = None,
    deliveries_mode: Annotated[
        Optional[DeliveryMode], typer.Option("--deliveries-mode", help="override the mapping's deliveries.mode: per_delivery or batch (one anchored batch per snapshot)")
    ] = None,
    max_consecutive_failures: Annotated[
        int, typer.Option("--max-consecutive-failures", min=1,
                          help="stop (exit 3) after this many requests in a row failed without their own fault (API unreachable, 5xx, 429)")
    ] = 5,
    max_retry_seconds: Annotated[
        float, typer.Option("--max-retry-seconds", min=0.0, help="most time one request may take with its retries, waits included")
    ] = 60.0,
    write_wait_seconds: Annotated[
        int, typer.Option("--write-wait-seconds", min=0, max=3600, help="Prefer: wait=N on the writes that wait for their confirmation (anchored batches; every write with --max-in-flight 1): how long the API may hold the answer (0: not sent)")
    ] = 10,
    write_timeout_seconds: Annotated[
        float, typer.Option("--write-timeout-seconds", min=0.0, help="most time spent polling one write the API accepted (202) until it is confirmed or failed")
    ] = 300.0,
    write_poll_seconds: Annotated[
        float, typer.Option("--write-poll-seconds", min=0.01, help="first wait between two polls of a write not confirmed yet (doubled each time, at most 5 s)")
    ] = 0.2,
    max_in_flight: Annotated[
        int, typer.Option("--max-in-flight", min=1, max=64,
                          help="writes sent and not confirmed yet, at most (1: each write waits for its confirmation, Prefer: wait)")
    ] = DEFAULT_WINDOW,
    source_date: Annotated[
        Optional[datetime], typer.Option("--source-date", formats=["%Y-%m-%d"],
                                         help="date of the edition of the source imported (sets source.published; a re-import's amendment reason names it)")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress display (it is off anyway when stderr is not a terminal)")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="list every cleaned row and warning")] = False,
    max_malformed_share: Annotated[
        float, typer.Option("--max-malformed-share", min=0.0, max=1.0,
                            help="exit 5 and write nothing when more than this share of the rows not skipped by a rule are invalid or malformed, or when no row gives anything to import")
    ] = MAX_MALFORMED_SHARE,
    onboard: Annotated[
        bool, typer.Option("--onboard", help="first onboard every issuer the mapping names on the local chain of `make run` (its keys in data/), with a staff token each")
    ] = False,
) -> None:
    """Import one source (a mapping file) into the ledger through the staff API."""
    try:
        mapping = load_mapping(mapping_path)
        if deliveries_mode is not None:
            mapping = with_delivery_mode(mapping, deliveries_mode, "--deliveries-mode on the command line")
        if source_date is not None:
            mapping = with_source_date(mapping, source_date.date())
        if mapping.reimport is not None and mapping.reimport.amend:
            amendment_reason(mapping, origin=str(mapping_path))  # refused now, not at the first amendment
        if onboard:
            _onboard(mapping, data_dir, api, sync_timeout_seconds, poll_interval_seconds)
        plans, split = plan_issuers(mapping, data_dir)
    except (MappingError, SourceDataError) as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_REFUSED) from None
    except ImporterError as exc:
        console.print(f"[red]onboarding refused:[/red] {escape(str(exc))}")
        raise typer.Exit(EXIT_REFUSED) from None

    judged = verdict([*split.unassigned, *(row for plan in plans for row in plan.report)], max_malformed_share)
    many = mapping.issuers is not None
    if many:
        _print_issuers(mapping_path, split, plans)
    options = dict(mapping_path=mapping_path, api=api, token=token, token_file=token_file, data_dir=data_dir,
                   dry_run=dry_run or judged.mapping_looks_wrong, sync_timeout_seconds=sync_timeout_seconds,
                   poll_interval_seconds=poll_interval_seconds, http_timeout_seconds=http_timeout_seconds,
                   batch_size=batch_size, evidence_dir=evidence_dir, max_consecutive_failures=max_consecutive_failures,
                   max_retry_seconds=max_retry_seconds, write_wait_seconds=write_wait_seconds,
                   write_timeout_seconds=write_timeout_seconds, write_poll_seconds=write_poll_seconds,
                   max_in_flight=max_in_flight, quiet=quiet, verbose=verbose, verdict=judged)
    if judged.mapping_looks_wrong and not dry_run:
        console.print(f"[red]the mapping looks wrong:[/red] {escape(judged.explain())}. Nothing is written; the dry run "
                      "below shows each row's reason (--max-malformed-share raises the limit).")
    codes: list[int] = []
    index: list[dict[str, Any]] = []
    for plan in plans:
        path = _issuer_report_path(report_path, plan, many)
        code = _import_one(plan, report_path=path, **options)
        codes.append(code)
        index.append({"code": plan.mapping.issuer.code, "name": plan.mapping.issuer.name,
                      "report": str(path) if path else None, "exit_code": code})
    if many and report_path is not None:
        write_report({"report_version": REPORT_VERSION, "mapping": str(mapping_path), "issuers": index,
                      "unassigned": [r.model_dump(mode="json") for r in split.unassigned],
                      "verdict": judged.as_json()}, report_path)
        console.print(f"index of the issuers' reports written to {escape(str(report_path))}")
    final = _combined_exit(codes, judged, bool([r for r in split.unassigned if r.outcome == "invalid"]))
    if judged.mapping_looks_wrong:
        console.print(f"[red]exit {final}:[/red] {escape(judged.explain())}")
    if final:
        raise typer.Exit(final)


def _combined_exit(codes: list[int], judged: Verdict, unassigned_invalid: bool) -> int:
    """One exit status for a run of one or more issuers: 5 when the mapping looks wrong (it
    wrote nothing), else the gravest of the issuers' (2 refused > 1 rows failed > 6
    differences > 0), with a row that named no known issuer counting as a failed row."""
    if judged.mapping_looks_wrong:
        return EXIT_MALFORMED
    for code in (EXIT_REFUSED, EXIT_ROW_FAILED):
        if code in codes:
            return code
    if unassigned_invalid:
        return EXIT_ROW_FAILED
    return next((c for c in codes if c), EXIT_OK)


def _issuer_report_path(report_path: Path | None, plan: Plan, many: bool) -> Path | None:
    """``--report out.json``: the report itself for a one-issuer mapping; for an ``issuers``
    mapping ``out.<code>.json`` per issuer (``out.json`` then indexes them)."""
    if report_path is None or not many:
        return report_path
    code = re.sub(r"[^A-Za-z0-9._-]+", "-", plan.mapping.issuer.code)
    return report_path.with_name(f"{report_path.stem}.{code}{report_path.suffix or '.json'}")


def _print_issuers(mapping_path: Path, split: IssuerSplit, plans: list[Plan]) -> None:
    t = Table(title=f"Issuers named by {mapping_path.name}")
    for col in ("code", "name", "rows", "commitments"):
        t.add_column(col, justify="right" if col in ("rows", "commitments") else "left")
    for plan in plans:
        t.add_row(escape(plan.mapping.issuer.code), escape(plan.mapping.issuer.name), str(len(plan.report)),
                  str(len(plan.commitments)))
    console.print(t)
    if split.unassigned:
        u = Table(title="Rows without a known issuer", title_style="bold red")
        for col in ("file:line", "key", "outcome", "reason"):
            u.add_column(col)
        for row in split.unassigned:
            u.add_row(f"{escape(row.file)}:{row.line}", escape(row.key), row.outcome, escape(row.reason or ""))
        console.print(u)


def _onboard(mapping: Any, data_dir: Path, api: str, sync_timeout_seconds: float, poll_interval_seconds: float) -> None:
    """``--onboard``: onboard, on the local chain of ``make run`` (``LEDGER_RPC_URL``, its
    ``data/`` folder), every issuer the mapping names (`scripts.run_local.onboard_local`), print
    the codes, then wait until the API's index shows them (so the token checks that follow find
    the new municipalities).

    Raises:
        ImporterError: not a local set-up (no deployment or keys, the chain not at
            ``LEDGER_RPC_URL``), the chain refused, or the index did not catch up in time.
    """
    from scripts.run_local import onboard_issuers_locally  # the local set-up's keys; imported only when asked

    names = split_issuers(mapping, data_dir).issuers
    done = onboard_issuers_locally(list(names))
    console.print(f"onboarded (or found): {escape(', '.join(f'{r.name} ({r.code})' for r in names))}; "
                  f"tokens in {escape(str(done))}")
    with LedgerClient(api, None, timeout_seconds=30.0, max_attempts=5, max_retry_seconds=30.0) as client:
        wait_until_indexed(client, timeout_seconds=sync_timeout_seconds, poll_interval_seconds=poll_interval_seconds)


def _import_one(
    plan: Plan, *, mapping_path: Path, api: str, token: str | None, token_file: Path | None, data_dir: Path,
    dry_run: bool, report_path: Path | None, sync_timeout_seconds: float, poll_interval_seconds: float,
    http_timeout_seconds: float, batch_size: int, evidence_dir: Path | None, max_consecutive_failures: int,
    max_retry_seconds: float, write_wait_seconds: int, write_timeout_seconds: float, quiet: bool, verbose: bool,
    verdict: Verdict, write_poll_seconds: float = 0.2, max_in_flight: int = DEFAULT_WINDOW,
) -> int:
    """Run one issuer's plan against the ledger; return its exit status (0, 1, 2 or 6).

    Raises:
        typer.Exit: 3 (stopped), 4 (crashed), 130 or 143 (interrupted): the whole run ends.
    """
    mapping = plan.mapping
    _print_header(plan, mapping_path, data_dir, dry_run)
    ledger: dict[str, Any] = {}
    live = _LiveRun(plan, report_path, ledger, dict(mapping_path=str(mapping_path), data_dir=str(data_dir), api_url=api,
                                                   dry_run=dry_run, batch_size=batch_size),
                    show_progress=not quiet and err_console.is_terminal)
    client_options = dict(
        timeout_seconds=http_timeout_seconds, max_attempts=MAX_ATTEMPTS, max_retry_seconds=max_retry_seconds,
        max_consecutive_failures=max_consecutive_failures, write_wait_seconds=write_wait_seconds,
        write_timeout_seconds=write_timeout_seconds, write_poll_seconds=write_poll_seconds,
        idempotency_namespace=mapping.issuer.code, on_retry=live.retried, before_request=live.flush,
    )
    ledger["verdict"] = verdict.as_json()
    with _signals_raise() as signals:
        live.signals = signals
        try:
            live.save()
            evidence_note = _keep_evidence(plan, evidence_dir, dry_run)
            result, ledger, refusal = _run_against_ledger(
                plan, api, token, token_file, dry_run, sync_timeout_seconds, poll_interval_seconds, client_options,
                batch_size, ledger, live, max_in_flight,
            )
        except ConsecutiveFailuresError as exc:
            live.stop("consecutive-failures", str(exc))
            _print_summary(plan, live.result, verbose, ledger)
            _saved(live, report_path)
            console.print(f"[red]stopped:[/red] {escape(str(exc))}. {escape(live.done_text())}; the rest was not sent. "
                          "Re-running the same command is safe: it writes only what the ledger is missing "
                          "(a write the API accepted before is found again by its Idempotency-Key).")
            raise typer.Exit(EXIT_STOPPED) from None
        except _Interrupted as exc:
            live.stop(exc.reason, f"the importer received {exc.reason.upper()}")
            _saved(live, report_path)
            console.print(f"[red]interrupted[/red] ({exc.reason.upper()}): {escape(live.done_text())}. "
                          "Re-running the same command is safe: it writes only what the ledger is missing.")
            raise typer.Exit(exc.exit_code) from None
        except Exception as exc:  # noqa: BLE001 - a crash still leaves its report, then says what happened
            live.stop("crash", f"{type(exc).__name__}: {exc}")
            _saved(live, report_path)
            err_console.print_exception()
            console.print(f"[red]crashed:[/red] {escape(type(exc).__name__)}: {escape(str(exc))}. {escape(live.done_text())}.")
            raise typer.Exit(EXIT_CRASHED) from None
        finally:
            live.close()
        ledger["verdict"] = verdict.as_json()
        if evidence_note:
            ledger.setdefault("warnings", []).append(evidence_note)
            console.print(f"[yellow]note:[/yellow] {escape(evidence_note)}")
        live.result = result
        live.save(complete=True)
    _print_summary(plan, result, verbose, ledger)
    _saved(live, report_path)
    console.print(f"[dim]Source: {escape(plan.credit)}[/dim]")
    if refusal is not None:
        console.print(f"[red]refused:[/red] {escape(refusal)}")
        return EXIT_REFUSED
    if summary(plan, result)["failed_rows"]:
        return EXIT_ROW_FAILED
    if result is not None and result.differing:
        console.print(f"[yellow]differences:[/yellow] {len(result.differing)} commitments differ from the source in fields "
                      "the mapping does not let it amend (reimport.amend); nothing was written for them (exit 6)")
        return EXIT_DIFFERENCES
    return EXIT_OK


MAX_ATTEMPTS = 100
"""Attempts per request in a CLI run: high, so ``--max-retry-seconds`` is the bound."""


def _saved(live: _LiveRun, report_path: Path | None) -> None:
    if report_path is not None and live.written:
        console.print(f"report written to {escape(str(report_path))}")


class _Interrupted(BaseException):
    """SIGINT or SIGTERM arrived (a BaseException, as KeyboardInterrupt: no ``except
    Exception`` on the way stops it)."""

    def __init__(self, reason: str, exit_code: int) -> None:
        self.reason = reason
        self.exit_code = exit_code
        super().__init__(reason)


class _Signals:
    """SIGINT and SIGTERM raise `_Interrupted`, except inside `held` (writing the report),
    after which the one that came is raised."""

    def __init__(self) -> None:
        self._holding = 0
        self._pending: _Interrupted | None = None

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        exc = _Interrupted("sigint", EXIT_SIGINT) if signum == signal.SIGINT else _Interrupted("sigterm", EXIT_SIGTERM)
        if self._holding:
            self._pending = self._pending or exc
            return
        raise exc

    @contextmanager
    def held(self) -> Iterator[None]:
        self._holding += 1
        try:
            yield
        finally:
            self._holding -= 1
        if not self._holding and self._pending is not None:
            pending, self._pending = self._pending, None
            raise pending


@contextmanager
def _signals_raise() -> Iterator[_Signals]:
    """Install `_Signals` for SIGINT and SIGTERM (main thread only), restore the old handlers after."""
    signals = _Signals()
    installed: list[tuple[int, Any]] = []
    try:
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                installed.append((signum, signal.signal(signum, signals.handle)))
            except ValueError:  # not the main thread: leave the signals alone
                break
        yield signals
    finally:
        for signum, previous in installed:
            signal.signal(signum, previous)


class _LiveRun:
    """The run as it goes: its results so far, the report rewritten after each (when
    ``--report``), the progress display on stderr, the retries logged there.

    Attributes:
        result: the results so far (None before the applier starts).
        written: the report has been written at least once.
        signals: held while the report is written, so an interruption never cuts it.
    """

    FLUSH_INTERVAL_SECONDS = 0.5
    """Intermediate reports are written at most this often (a report costs about 20 ms for
    the Chile source: against a real chain, every request finds one written; against a fast
    API, a kill -9 loses at most this much of the report; a stop, SIGINT, SIGTERM or crash
    writes the last one whole)..."""
    FLUSH_TIME_SHARE_INVERSE = 4
    """...and no sooner than this many times as long as the last rewrite took after it: a
    run spends at most a fifth of its time rewriting its report (a 1,500-row report is
    0.9 MB)."""

    def __init__(self, plan: Plan, report_path: Path | None, ledger: dict[str, Any], header: dict[str, Any],
                 *, show_progress: bool) -> None:
        self.plan = plan
        self.report_path = report_path
        self.ledger = ledger
        self.header = header
        self.result: ApplyResult | None = None
        self.written = False
        self.signals: _Signals | None = None
        self._dirty = False
        self._saved_at = float("-inf")
        self._save_seconds = 0.0
        self._rows = [row for row in plan.report if row.operations]
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
            TextColumn("confirmed {task.fields[written]} · in flight {task.fields[in_flight]} · present {task.fields[present]}"
                       " · failed {task.fields[refused]}"),
            TimeElapsedColumn(), console=err_console, disable=not show_progress, transient=False,
        )
        self._task: TaskID | None = None

    def start(self) -> None:
        """Show the progress display (the applier starts)."""
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task("importing", total=len(self._rows), written=0, present=0, refused=0,
                                                 in_flight=0)

    def close(self) -> None:
        """Stop the progress display."""
        self._progress.stop()

    def update(self, result: ApplyResult) -> None:
        """The applier recorded a result or sent a write (`apply_plan`'s ``on_progress``): shown
        now (rows settled, operations confirmed and in flight), in the report before the next
        request (`flush`) or at the end."""
        self.result = result
        self._dirty = True
        if self._task is not None and not self._progress.disable:
            counts = self.counts()
            self._progress.update(self._task, completed=counts["rows"], written=counts["done"],
                                  present=counts["already_present"], refused=counts["failed"] + counts["blocked"],
                                  in_flight=result.in_flight)

    def flush(self) -> None:
        """Before each request (the client's ``before_request``): rewrite the report if a
        result came since (a batch's results: once, after the batch), at most every
        `FLUSH_INTERVAL_SECONDS` and `FLUSH_TIME_SHARE_INVERSE` times the last rewrite."""
        wait = max(self.FLUSH_INTERVAL_SECONDS, self.FLUSH_TIME_SHARE_INVERSE * self._save_seconds)
        if self._dirty and time.monotonic() - self._saved_at >= wait:
            self.save()

    def retried(self, notice: RetryNotice) -> None:
        """The client is about to retry a request: log it on stderr."""
        err_console.print(f"[yellow]retry:[/yellow] {escape(notice.describe())}")

    def counts(self) -> dict[str, int]:
        """``{"rows": rows settled, outcome: operations}``."""
        by_index = self.result.by_index() if self.result else {}
        out = {o: 0 for o in ("done", "already_present", "would_do", "failed", "blocked")}
        for r in by_index.values():
            out[r.outcome] += 1
        out["rows"] = sum(1 for row in self._rows if all(i in by_index for i in row.operations))
        return out

    def done_text(self) -> str:
        """``42 of 131 rows settled (written 40, present 2, failed or blocked 0)``."""
        c = self.counts()
        in_flight = self.result.in_flight if self.result else 0
        flying = f"; {in_flight} operations were sent and not confirmed yet (a re-run finds them by their keys)" if in_flight else ""
        return (f"{c['rows']} of {len(self._rows)} rows settled (written {c['done']}, present {c['already_present']}, "
                f"failed or blocked {c['failed'] + c['blocked']}){flying}")

    def stop(self, reason: str, detail: str) -> None:
        """The run ended early: the last report says why."""
        self._progress.stop()
        self.save(interruption={"reason": reason, "detail": detail,
                                "at": datetime.now(timezone.utc).isoformat(timespec="seconds")})

    def save(self, *, complete: bool = False, interruption: dict[str, Any] | None = None) -> None:
        """Rewrite the report (atomically), signals held."""
        self._dirty = False
        if self.report_path is None:
            return
        started = time.monotonic()
        report = build_report(self.plan, self.result, ledger=self.ledger, complete=complete, interruption=interruption,
                              **self.header)
        if self.signals is None:
            write_report(report, self.report_path)
        else:
            with self.signals.held():
                write_report(report, self.report_path)
        self.written = True
        self._saved_at = time.monotonic()
        self._save_seconds = self._saved_at - started


def _keep_evidence(plan: Plan, evidence_dir: Path | None, dry_run: bool) -> str | None:
    """Write a copy of the generated evidence documents to ``evidence_dir`` (to publish beside
    the data; the API stores them too, uploaded with their deliveries, batched or not); return
    a note for the report (None when no copy is asked for)."""
    files = {f.filename: f for op in plan.deliveries for f in op.evidence_files}
    if evidence_dir is None or not files:
        return None
    if dry_run:
        return f"{len(files)} generated evidence documents would be written to {evidence_dir} (dry run: not written)"
    evidence_dir.mkdir(parents=True, exist_ok=True)
    for name, f in sorted(files.items()):
        target = evidence_dir / name
        if target.exists() and target.read_bytes() == f.content:
            continue
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(f.content)
        os.replace(tmp, target)
    return f"{len(files)} generated evidence documents (also uploaded with their deliveries) written to {evidence_dir}"


def _run_against_ledger(
    plan: Plan, api: str, token: str | None, token_file: Path | None, dry_run: bool,
    sync_timeout_seconds: float, poll_interval_seconds: float, client_options: dict[str, Any], batch_size: int,
    ledger: dict[str, Any], live: _LiveRun, max_in_flight: int = DEFAULT_WINDOW,
) -> tuple[ApplyResult | None, dict[str, Any], str | None]:
    """Returns (result or None, what was learnt about the ledger, refusal message or None).
    ``ledger`` is filled as the run learns (the report of an interrupted run shows it); the
    applier reports each result to ``live``. After a run that wrote something, one wait for
    the API's index to reach the chain head (``ledger["indexed_at_end"]``; a warning when it
    does not within ``sync_timeout_seconds``).

    Raises:
        ConsecutiveFailuresError: the run stopped (from the client).
    """
    mapping = plan.mapping
    try:
        chosen = resolve_token(mapping.issuer.code, token=token, token_file=token_file, environ=os.environ)
    except TokenNotFoundError as exc:
        if not dry_run:
            return None, {"error": str(exc)}, str(exc)
        chosen = None
        ledger["token"] = f"none ({exc}); public reads only"
    with LedgerClient(api, chosen, **client_options) as client:
        try:
            if chosen:
                municipality = check_municipality(client, mapping.issuer)
            else:
                municipality = find_municipality(client, mapping.issuer)
            ledger["municipality"] = {k: municipality.get(k) for k in ("id", "name", "code")}
            known = [s.get("id") for s in municipality.get("sources") or [] if isinstance(s, dict)]
            if "sources" in municipality and mapping.source.id not in known:
                ledger.setdefault("warnings", []).append(
                    f"the API credits no source {mapping.source.id!r} for {mapping.issuer.name}: its commitments will show "
                    "no credit line until this mapping is in the server's scripts/mappings/ and the API restarted")
            if municipality.get("name") != mapping.issuer.name:
                ledger.setdefault("warnings", []).append(f"the ledger names the municipality {municipality.get('name')!r}, the mapping {mapping.issuer.name!r}")
            try:
                ledger["health"] = wait_until_indexed(
                    client, timeout_seconds=sync_timeout_seconds, poll_interval_seconds=poll_interval_seconds
                )
            except IndexerLagError as exc:
                if not dry_run:
                    raise
                ledger.setdefault("warnings", []).append(f"{exc} (dry run: comparing with a possibly stale state)")
            wanted = {op.commitment_ref for op in (*plan.deliveries, *plan.revocations)}
            texts = {op.external_ref for op in plan.commitments} if needs_texts(mapping) else set()
            state = read_state(client, int(municipality["id"]), with_deliveries=wanted, with_texts=texts)
        except MunicipalityNotFoundError as exc:
            if not dry_run:
                return None, {"error": str(exc)}, str(exc)
            ledger.setdefault("warnings", []).append(f"{exc} (dry run: as if it had no commitments)")
            state = LedgerState.empty()
        except MunicipalityMismatchError as exc:
            return None, {"error": str(exc)}, str(exc)
        except (ApiError, ImporterError) as exc:
            if not dry_run:
                return None, {**ledger, "error": str(exc)}, str(exc)
            console.print(f"[yellow]ledger state unknown:[/yellow] {escape(str(exc))}")
            return apply_plan(plan, None, None, dry_run=True, batch_size=batch_size), {**ledger, "error": str(exc)}, None
        for warning in ledger.get("warnings", []):
            console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
        live.start()
        try:
            result = apply_plan(plan, client, state, dry_run=dry_run, batch_size=batch_size, on_progress=live.update,
                                max_in_flight=max_in_flight)
        finally:
            live.close()
        if not dry_run and result.transactions():
            try:
                ledger["indexed_at_end"] = wait_until_indexed(
                    client, timeout_seconds=sync_timeout_seconds, poll_interval_seconds=poll_interval_seconds
                )
            except (IndexerLagError, ApiError) as exc:
                note = f"at the end: {exc} (every write is confirmed; the API's reads may not show them all yet)"
                ledger.setdefault("warnings", []).append(note)
                console.print(f"[yellow]warning:[/yellow] {escape(note)}")
        return result, ledger, None


def _print_header(plan: Plan, mapping_path: Path, data_dir: Path, dry_run: bool) -> None:
    m = plan.mapping
    lines = [
        f"[bold]{escape(m.source.name)}[/bold]",
        escape(m.source.publisher),
        escape(m.source.url),
        f"Licence: {escape(m.source.licence)}",
        "",
        f"Issuer: {escape(m.issuer.name)} ({escape(m.issuer.code)})   mapping: {escape(str(mapping_path))}"
        f"   data: {escape(str(data_dir))}",
    ]
    if m.not_imported:
        lines.append("Not imported: " + "; ".join(f"{escape(n.column)} ({escape(n.reason)})" for n in m.not_imported))
    console.print(Panel("\n".join(lines), title="Source", expand=False))
    if dry_run:
        console.print("[yellow]DRY RUN: nothing will be written[/yellow]")


def _print_summary(plan: Plan, result: ApplyResult | None, verbose: bool, ledger: dict[str, Any] | None = None) -> None:
    s = summary(plan, result, ledger)
    table = Table(title="Operations")
    table.add_column("kind", no_wrap=True)
    table.add_column("planned", justify="right")
    outcomes = ("done", "already_present", "would_do", "failed", "blocked")
    headers = {"done": "written", "already_present": "present", "would_do": "would write"}
    if result is not None:
        for outcome in outcomes:
            table.add_column(headers.get(outcome, outcome), justify="right")
    for kind in ("commitments", "deliveries", "revocations"):
        cells = [kind, str(s["planned"][kind])]
        if result is not None:
            cells += [str(s["applied"][kind][o]) for o in outcomes]
        table.add_row(*cells)
    console.print(table)

    _print_batches(plan, result)
    if s["transactions"] is not None and s["transactions"]["count"]:
        t = s["transactions"]
        console.print(f"Transactions: {t['count']} carried {t['operations']} operations, {t['gas_used']:,} gas")
    rows = s["rows"]
    console.print(
        f"Rows: {rows['rows']} read, {rows['planned']} planned, {rows['unchanged']} unchanged, "
        f"{rows['skipped']} skipped ({rows['malformed']} of them malformed), {rows['invalid']} invalid, "
        f"{rows['cleaned']} cleaned, {rows['with_warnings']} with warnings"
    )
    w = s["warnings"]
    console.print(f"Warnings: {w['total']} ({w['rows']} on rows, {w['operations']} on operations, {w['run']} on the run)")
    if s["no_data"]["observations"]:
        console.print(f"No data: {s['no_data']['observations']} observations in {s['no_data']['rows']} rows "
                      "said nothing about their item (progress carried forward)")
    for title, counts in (("Skipped rows by reason", s["skipped_by_reason"]), ("Cleaned rows by step", s["cleaned_by_reason"])):
        if counts:
            t = Table(title=title)
            t.add_column("reason")
            t.add_column("rows", justify="right")
            for reason, n in counts.items():
                t.add_row(escape(reason), str(n))
            console.print(t)
    if verbose:
        _print_rows(plan, result)
    _print_reimport(plan, result)
    _print_failures(plan, result)


def _print_reimport(plan: Plan, result: ApplyResult | None) -> None:
    """The re-import's amendments (written, would be written, refused) and differences, one
    line per field: row, key, what, field, ledger → source."""
    if result is None or not (result.amended or result.differing or any(r.amendment for r in result.results)):
        return
    headers = {"amended": "amended", "would_amend": "would amend", "failed": "amendment refused"}
    t = Table(title="Re-import: the source differs from the ledger")
    for col in ("file:line", "key", "what", "field", "ledger → source"):
        t.add_column(col)
    rows = {i: row for row in plan.report for i in row.operations}
    for r in result.results:
        row = rows.get(r.index)
        if row is None or not (r.amendment or r.differences):
            continue
        where = f"{escape(row.file)}:{row.line}"
        if r.amendment is not None:
            for c in r.amendment.changes:
                t.add_row(where, escape(row.key), headers[r.amendment.outcome], c.field, escape(f"{c.ledger!r} → {c.source!r}"))
        for d in r.differences:
            t.add_row(where, escape(row.key), "difference (not amended)", d.field, escape(f"{d.ledger!r} → {d.source!r}"))
    console.print(t)
    reasons = {r.amendment.reason for r in result.results if r.amendment is not None}
    for reason in sorted(reasons):
        console.print(f"Amendment reason: {escape(reason)}")


def _print_batches(plan: Plan, result: ApplyResult | None) -> None:
    """The anchored batches: planned leaf counts, and per request its leaves, root and outcome."""
    if not plan.batches:
        return
    planned = ", ".join(f"{b.label}: {b.leaf_count}" for b in plan.batches)
    console.print(f"Batches planned (leaves per snapshot): {escape(planned)}; "
                  f"{sum(b.leaf_count for b in plan.batches)} leaves in {len(plan.batches)} batches")
    if result is None or not result.batches:
        return
    t = Table(title="Anchored batches (transactions in the report)")
    for col in ("batch", "leaves", "outcome", "root", "block"):
        t.add_column(col, justify="right" if col in ("leaves", "block") else "left", no_wrap=True)
    headers = {"done": "anchored", "already_present": "anchored before", "would_do": "would anchor"}
    for b in result.batches:
        root = b.root or "(not known)"
        if b.predicted:
            root += " (predicted ids)"
        block = str(b.tx.block_number) if b.tx is not None else ""
        t.add_row(escape(f"{b.label}#{b.chunk}"), str(b.leaf_count), headers.get(b.outcome, b.outcome), escape(root), block)
    console.print(t)
    notes: dict[str, list[str]] = {}  # each note once, with the batches it concerns
    for b in result.batches:
        for note in (b.detail, *b.warnings):
            if note:
                notes.setdefault(note, []).append(f"{b.label}#{b.chunk}")
    for note, names in notes.items():
        console.print(f"[yellow]batch {escape(', '.join(names))}:[/yellow] {escape(note)}")


def _print_rows(plan: Plan, result: ApplyResult | None) -> None:
    by_index = result.by_index() if result else {}
    t = Table(title="Cleaned rows and warnings")
    for col in ("file:line", "key", "what"):
        t.add_column(col)
    for row in plan.report:
        notes = [f"{c.column}: {c.reason}: {c.removed!r}" for c in row.cleaned] + list(row.warnings)
        notes += [w for i in row.operations if i in by_index for w in by_index[i].warnings]
        if notes:
            t.add_row(f"{escape(row.file)}:{row.line}", escape(row.key), escape("\n".join(notes)))
    console.print(t)


def _print_failures(plan: Plan, result: ApplyResult | None) -> None:
    by_index = result.by_index() if result else {}
    t = Table(title="Failures", title_style="bold red")
    for col in ("file:line", "key", "operation", "problem"):
        t.add_column(col)
    for row in plan.report:
        if row.outcome == "invalid":
            t.add_row(f"{escape(row.file)}:{row.line}", escape(row.key), "(row invalid)", escape(row.reason or ""))
        for i in row.operations:
            res = by_index.get(i)
            if res is not None and res.outcome in ("failed", "blocked"):
                t.add_row(f"{escape(row.file)}:{row.line}", escape(row.key), escape(plan.operations[i].describe()),
                          escape(f"{res.outcome}: {res.detail}"))
            if res is not None and res.amendment is not None and res.amendment.outcome == "failed":
                fields = ", ".join(c.field for c in res.amendment.changes)
                t.add_row(f"{escape(row.file)}:{row.line}", escape(row.key), escape(f"amend {fields}"),
                          escape(f"failed: {res.amendment.detail}"))
    if t.row_count:
        console.print(t)
