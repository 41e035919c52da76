"""Import speed through the API: rows per second of a generated 1,500-row source and of the
real datasets, and of a baseline importer in the same session.

``python -m bench.import_speed [--rows 1500] [--items 1500] [--data-dir ../shared/data]
[--rpc-port PORT] [--baseline-repo DIR] [--importer-args "..."] [--json FILE]`` generates, in a
temporary folder, a ``kind: commitments`` CSV of ``--rows`` rows (one commitment each) and a
``kind: progress_snapshots`` source of ``--items`` items in two snapshots (every item rises in
both: ``2 × items`` deliveries recorded one by one, in multicalls of 100), each with its
mapping; starts a throwaway anvil (on ``--rpc-port``, else a free port) and the whole system in process
(``scripts.stack.InProcessStack``: fresh ledger, indexer, API on a free port); then imports,
through the importer's command line as a registrar would (a subprocess, so its start-up counts):
the generated commitments, the same again (a re-run that finds everything present), the
generated snapshots, Baarn and Chile (``../shared/data``, the mappings of scripts/mappings).
Each line: seconds, rows with operations per second, operations, and transactions the report
names.

``--baseline-repo`` (e.g. a checkout of main before a change) runs the same imports with that
checkout's importer on a second fresh stack and chain (anvil on ``--rpc-port`` + 1; this
checkout's API, so only the importer differs), source by source in turn with this checkout's,
and prints both; ``--importer-args`` adds options to this checkout's runs (``"--max-in-flight
1"``). Timings are noisy on a shared 2-core machine: compare the two columns of one run, not
absolute seconds.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

import typer
import yaml
from rich.console import Console
from rich.table import Table

from api.logging_config import TEXT_FORMAT
from bench.anvil import throwaway_anvil
from ledger.settings import REPO_ROOT
from scripts.local_keys import WELL_KNOWN_KEYS
from scripts.stack import InProcessStack

# Throwaway chain only: anvil's development accounts 0 (platform admin) and 1..4.
KEYS = WELL_KNOWN_KEYS[:5]
MAPPINGS = REPO_ROOT / "scripts" / "mappings"
PROMISED_AT = "2022-06-13T00:00:00+02:00"
DUE_DATE = "2030-12-31T23:59:59+01:00"
SNAPSHOT_DATES = ("2023-12-31T23:59:59+01:00", "2024-12-31T23:59:59+01:00")


@dataclass
class Measured:
    """One import: what, whose importer, wall-clock seconds, rows with operations, operations
    planned, operations written now, transactions the report names, exit status."""

    label: str
    importer: str
    seconds: float
    rows: int
    operations: int
    written: int
    transactions: int
    exit_code: int

    @property
    def rows_per_second(self) -> float:
        """Rows with operations per wall-clock second."""
        return self.rows / self.seconds if self.seconds else 0.0


def _source(name: str) -> dict[str, Any]:
    return {"id": "bench-" + name.lower().replace(" ", "-"), "name": name, "publisher": "bench/import_speed.py",
            "url": "https://example.invalid/bench", "licence": "generated test data"}


def write_commitments_source(folder: Path, rows: int) -> Path:
    """``folder/commitments.csv`` (``rows`` rows: id, title, description, theme) and its mapping
    (Baarn's municipality, refs ``speed-<n>``); returns the mapping's path."""
    with (folder / "commitments.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "title", "description", "theme"])
        for n in range(1, rows + 1):
            writer.writerow([f"speed-{n}", f"Commitment {n}: build {n % 40 + 1} things",
                             f"Generated commitment number {n} of the import speed bench. " * 3, f"theme {n % 12}"])
    mapping = {
        "kind": "commitments", "source": _source("Generated commitments"),
        "municipality": {"name": "Baarn", "code": "GM0308"}, "key_column": "id", "file": "commitments.csv",
        "commitment": {
            "external_ref": {"column": "id"}, "title": {"column": "title"}, "description": {"column": "description"},
            "theme": {"column": "theme"}, "target_quantity": {"const": 1}, "unit": {"const": "afspraak"},
            "promised_at": {"const": PROMISED_AT}, "due_date": {"const": DUE_DATE},
        },
    }
    path = folder / "commitments.yaml"
    path.write_text(yaml.safe_dump(mapping, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def write_snapshots_source(folder: Path, items: int) -> Path:
    """``folder/snapshot-1.csv`` and ``snapshot-2.csv`` (``items`` items, progress rising in
    both, so ``2 × items`` deliveries) and their mapping (Chile's issuer, refs ``speed-<n>``,
    deliveries one by one); returns the mapping's path."""
    for k in (1, 2):
        with (folder / f"snapshot-{k}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["uid", "title", "progress", "link"])
            for n in range(1, items + 1):
                writer.writerow([f"speed-{n}", f"Item {n}", str(10 * k + n % 7), f"https://example.invalid/item/{n}/{k}"])
    mapping = {
        "kind": "progress_snapshots", "source": _source("Generated progress snapshots"),
        "municipality": {"name": "Gobierno de Chile", "code": "CL-GOB", "time_zone": "America/Santiago"},
        "key_column": "uid",
        "snapshots": [{"label": f"s{k}", "file": f"snapshot-{k}.csv", "as_of": SNAPSHOT_DATES[k - 1]} for k in (1, 2)],
        "commitment": {
            "external_ref": {"column": "uid"}, "title": {"column": "title"}, "description": {"const": ""},
            "target_quantity": {"const": 100}, "unit": {"const": "%"},
            "promised_at": {"const": PROMISED_AT}, "due_date": {"const": DUE_DATE},
        },
        "progress": {"column": "progress"},
        "delivery": {"external_ref": {"template": "snapshot-{$snapshot}"}, "evidence_uri": {"column": "link"},
                     "evidence_columns": ["link"]},
        "revocation_reason": {"template": "fell from {$from} to {$to} in {$snapshot}"},
    }
    path = folder / "snapshots.yaml"
    path.write_text(yaml.safe_dump(mapping, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _import(repo: Path, stack: InProcessStack, mapping: Path, code: str, data_dir: Path, report: Path,
            extra: list[str], label: str, importer: str) -> Measured:
    """Run ``repo``'s importer on ``mapping`` (a subprocess) and read its report."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    argv = [sys.executable, "-m", "scripts.importer", str(mapping), "--api", stack.api_url, "--token", stack.tokens[code],
            "--data-dir", str(data_dir), "--report", str(report), "--quiet", *extra]
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if proc.returncode not in (0, 1) or not report.exists():
        raise SystemExit(f"{label} ({importer}) exited {proc.returncode}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    summary = json.loads(report.read_text(encoding="utf-8"))["summary"]
    applied = summary["applied"] or {}
    written = sum(counts.get("done", 0) for counts in applied.values())
    return Measured(label, importer, seconds, summary["rows"]["planned"], sum(summary["planned"].values()), written,
                    (summary["transactions"] or {}).get("count", 0), proc.returncode)


SOURCES = ("commitments", "rerun", "snapshots", "baarn", "chile")


@dataclass(frozen=True)
class Importer:
    """Whose importer runs: its checkout, a name for the table, further options."""

    repo: Path
    name: str
    extra: tuple[str, ...] = ()


def run_imports(importers: list[Importer], data_dir: Path, rows: int, items: int, rpc_port: int | None,
                sources: tuple[str, ...] = SOURCES) -> list[list[Measured]]:
    """The imports ``sources`` (of `SOURCES`, in that order), each importer on its own fresh
    chain (anvil on ``rpc_port``, ``rpc_port + 1``..., or free ports) and stack, all up at once: each source
    is imported by every importer in turn before the next, so the pairs compared ran within
    seconds of each other on this shared machine. Returns one list per importer."""
    out: list[list[Measured]] = [[] for _ in importers]
    with ExitStack() as stack_of, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        generated = folder / "source"
        generated.mkdir()
        commitments = write_commitments_source(generated, rows)
        snapshots = write_snapshots_source(generated, items)
        keys = {"GM0308": (KEYS[1], KEYS[2]), "CL-GOB": (KEYS[3], KEYS[4])}
        stacks = [stack_of.enter_context(InProcessStack(stack_of.enter_context(throwaway_anvil(port=None if rpc_port is None else rpc_port + n)),
                                                        folder / f"data-{n}", KEYS[0], keys))
                  for n in range(len(importers))]
        runs = {
            "commitments": (f"generated commitments ({rows} rows)", commitments, "GM0308", generated),
            "rerun": (f"the same again (re-run, {rows} rows)", commitments, "GM0308", generated),
            "snapshots": (f"generated snapshots ({items} items × 2)", snapshots, "CL-GOB", generated),
            "baarn": ("Baarn (131 commitments)", MAPPINGS / "baarn-coalitieakkoord.yaml", "GM0308", data_dir),
            "chile": ("Chile (216 / 170 / 9, anchored batches)", MAPPINGS / "ddah-chile.yaml", "CL-GOB", data_dir),
        }
        for name in (name for name in SOURCES if name in sources):
            label, mapping, code, source_dir = runs[name]
            for n, (importer, stack) in enumerate(zip(importers, stacks)):
                report = folder / f"report-{name}-{n}.json"
                out[n].append(_import(importer.repo, stack, mapping, code, source_dir, report, list(importer.extra), label,
                                      importer.name))
    return out


def main(
    rows: int = typer.Option(1500, help="rows of the generated commitments source"),
    items: int = typer.Option(1500, help="items of the generated snapshot source (two snapshots: 2 × items deliveries)"),
    data_dir: Path = typer.Option(REPO_ROOT.parent / "shared" / "data", help="the shared datasets"),
    rpc_port: Optional[int] = typer.Option(None, help="port of the throwaway anvil (the baseline's: one more); default: free ports"),
    baseline_repo: Path | None = typer.Option(None, help="another checkout whose importer to time the same way"),
    importer_args: str = typer.Option("", help="further options for this checkout's importer runs"),
    sources: str = typer.Option(",".join(SOURCES), help=f"comma-separated imports to run, of {', '.join(SOURCES)}"),
    json_path: Path | None = typer.Option(None, "--json", help="also write the figures here"),
    log_path: Path | None = typer.Option(None, "--log", help="write the stack's INFO log here (else warnings on stderr)"),
) -> None:
    """Print seconds and rows per second of each import, for this checkout's importer and the baseline's."""
    console = Console(width=None if sys.stdout.isatty() else 160)
    root = logging.getLogger()
    if log_path is not None:
        handler = logging.FileHandler(log_path, encoding="utf-8")
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
    else:
        root.addHandler(logging.StreamHandler(sys.stderr))
        root.setLevel(logging.WARNING)
    chosen = tuple(s.strip() for s in sources.split(",") if s.strip())
    unknown = sorted(set(chosen) - set(SOURCES))
    if unknown:
        raise typer.BadParameter(f"unknown sources {unknown}; choose from {', '.join(SOURCES)}")
    importers = [Importer(REPO_ROOT, "this checkout", tuple(shlex.split(importer_args)))]
    if baseline_repo is not None:
        importers.append(Importer(baseline_repo.resolve(), f"baseline {baseline_repo}"))
    measured = run_imports(importers, data_dir, rows, items, rpc_port, chosen)
    results, baseline = measured[0], (measured[1] if baseline_repo is not None else [])
    table = Table(title="Imports through the API (throwaway anvil, in-process indexer and API; importer as a subprocess)")
    for column in ("source", "rows", "operations", "written", "transactions", "seconds", "rows/s"):
        table.add_column(column, justify="left" if column == "source" else "right")
    if baseline:
        table.add_column("baseline seconds", justify="right")
        table.add_column("baseline rows/s", justify="right")
    for n, m in enumerate(results):
        cells = [m.label, str(m.rows), str(m.operations), str(m.written), str(m.transactions), f"{m.seconds:.1f}",
                 f"{m.rows_per_second:.0f}"]
        if baseline:
            b = baseline[n]
            cells += [f"{b.seconds:.1f}", f"{b.rows_per_second:.0f}"]
        table.add_row(*cells)
    console.print(table)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({"this": [asdict(m) for m in results], "baseline": [asdict(m) for m in baseline]},
                                        indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    typer.run(main)
