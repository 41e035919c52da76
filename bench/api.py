"""API and site throughput under load from a second process (wrk), against a trivial endpoint.

``python -m bench.api [--size small,big] [--duration 5] [--connections 8] [--postgres-url URL]
[--ports 8760-8769] [--only "random,POST"] [--no-kept-answers]``

For each size (bench/fill_index.py: ``small`` 350 commitments, ``medium`` 20,000, ``big``
100,000 commitments with 1,000,000 deliveries; filled once through the real projection and
cached under data/bench/),
it serves two apps side by side (loading one at a time), each with ONE uvicorn worker and the same uvicorn options
(``api.server.uvicorn_options``, as ``make run`` starts the API: uvloop, httptools,
keep-alive 75 s, no proxy or server headers):

- the baseline, ``python -m bench.trivial_app`` (``GET /ping``: a plain ``def`` route
  returning ``{"ok": true}``), served beside the real app (idle while the other is loaded) and
  measured first and again after every :data:`BASELINE_EVERY` endpoints; each endpoint's ratio
  is to the mean of the two samples around its block, so a change of machine load during the
  run moves both sides of a ratio alike;
- the real app exactly as ``make run`` serves it (``python -m api.server``,
  ``LEDGER_API_WORKERS=1``, settings from ``LEDGER_*``: the filled index, a data folder with a deployment record of
  the synthetic chain, no staff tokens, rate limits off as locally; the index's checkpoint
  marked as seen now and ``LEDGER_HEAD_STALE_SECONDS`` one day, so no page shows the stale
  notice or probes the node).

Each endpoint (:func:`endpoints`, then :func:`next_pages`) is requested once first (a status
other than 200 is noted, the response bytes printed, and for a commitment how many of its
deliveries and timeline entries the answer holds), then loaded with ``wrk -t1 -c<connections> -d<duration>s --latency`` after a 1 s
warm-up (POST ``/api/v1/verify`` through a small Lua script with a multipart body). Printed
per endpoint: requests/s, ratio to the trivial endpoint, p50 and p99 latency (ms), p99/p50, and
the issue's goal met or not (detail ≥ 0.5×, list page of 50 and filtered search ≥ 0.3×,
document check ≥ 0.5×, p99 < 4× p50); for each size beside ``small``, the flatness of each
endpoint: its × trivial at that size over its × trivial at small (the raw requests/s ratio is
printed too; goal ≥ 0.7 for list, search, overview and detail); and the API process's peak
RSS (VmHWM of /proc/<pid>/status after all its endpoints; goal < 300 MB).

``--no-kept-answers`` serves the API with no answer kept in memory, so every request reads
the index: the like-for-like comparison for reads spread over more URLs than the big size
keeps (its 10,000 sampled ids against 2,048 kept answers, while all 350 of small fit).

Some endpoints are read with one URL over and over (answers the API keeps per index state
serve them) and also spread at random over the manifest's samples of up to 10,000 commitments
or evidence hashes (``random ... of the sample``), as many readers would.

Needs wrk (``make bench-tools``: Debian's package). Run time: per size about
(7 trivial + 23 endpoints) × (duration + 1.5) s plus start-ups: about 3.5 minutes per size at
the default 5 s (plus the fill on first use: see bench/fill_index.py). The machine is shared:
compare ratios of one run, not requests/s across runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import httpx
import typer
from rich.console import Console
from rich.table import Table

from bench.fill_index import Manifest, fill, sizes_of
from ledger.db import make_engine, session_factory
from ledger.db.projection import save_chain_head
from ledger.deployment import Deployment, save_deployment
from ledger.settings import REPO_ROOT
from tests.db.script import CONTRACT

API_PORTS = range(8760, 8770)
"""Ports the served apps may use by default (the first free one is taken; ``--ports`` for others)."""
API_LOG_DIR = REPO_ROOT / "data" / "bench"
"""Where the served API's log of each size is kept (``api-<size>.log``)."""
READY_TIMEOUT_SECONDS = 180.0
"""How long a served app may take to start (imports on a loaded 2-core machine took a minute)."""
WARMUP_SECONDS = 1
BASELINE_EVERY = 4
"""The trivial endpoint is measured again after every this many endpoints."""
WRK_TIMEOUT_SECONDS = 30
"""wrk's request timeout (its default, 2 s, would drop the slowest answers from the latencies)."""
STALE_SECONDS = 86_400
"""``LEDGER_HEAD_STALE_SECONDS`` of the served API: no stale notice during the run."""

GOAL_P99_OVER_P50 = 4.0
GOAL_FLATNESS = 0.7
GOAL_RSS_MB = 300.0
MULTIPART_BOUNDARY = "benchboundary8"
DELIVERY_ITEM = '<li class="delivery'
"""How the site's commitment page starts each delivery's item (frontend/templates/commitment.html)."""


@dataclass(frozen=True)
class Endpoint:
    """One measured request.

    Attributes:
        name: what it is (printed).
        path: path and query.
        goal: least ratio to the trivial endpoint the issue asks for, or ``None``.
        flat: whether the flatness goal (big/small ≥ 0.7) applies.
        body: for a POST: the file uploaded as multipart field ``file``.
        choices: paths each request picks one of at random (a Lua script; ``path`` is the
            first, the one checked): reads spread over many commitments or documents, so an
            answer kept for one URL serves few of them.
    """

    name: str
    path: str
    goal: float | None = None
    flat: bool = False
    body: bytes | None = None
    choices: tuple[str, ...] = ()


@dataclass
class Result:
    """wrk's figures for one endpoint (latencies in milliseconds)."""

    endpoint: Endpoint
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    response_bytes: int = 0
    note: str = ""
    baseline: float = 0.0
    """Requests/s of the trivial endpoint around this one's (mean of the samples before and after its block)."""

    @property
    def tail(self) -> float:
        return self.p99_ms / self.p50_ms if self.p50_ms else float("inf")

    @property
    def ratio(self) -> float:
        return self.requests_per_second / self.baseline if self.baseline else 0.0


@dataclass
class SizeRun:
    """Every figure of one size."""

    size: str
    manifest: Manifest
    trivial: list[Result] = field(default_factory=list)
    results: list[Result] = field(default_factory=list)
    rss_peak_mb: float = 0.0
    rss_mb: float = 0.0


def endpoints(m: Manifest) -> list[Endpoint]:
    """The API's and the site's reads the issue names, on the manifest's picks."""
    q, none, sha = m.search_word, m.no_match_word, m.evidence_sha256
    document = f"evidence-{m.typical_id * 1_000_000 + 1}".encode()  # its SHA-256 is sha
    details = tuple(f"/api/v1/commitments/{i}" for i in m.id_sample)
    pages = tuple(f"/commitments/{i}" for i in m.id_sample)
    checks = tuple(f"/api/v1/verify/{h}" for h in m.evidence_sample)
    return [
        Endpoint("API commitment detail (10 deliveries, one id)", f"/api/v1/commitments/{m.typical_id}", 0.5, True),
        Endpoint("API commitment detail (random ids of the sample)", details[0], 0.5, True, choices=details),
        Endpoint("API commitment detail (the largest)", f"/api/v1/commitments/{m.largest_id}"),
        Endpoint("API list page of 50", "/api/v1/commitments?limit=50", 0.3, True),
        Endpoint(f"API filtered search (q={q}, status=overdue)", f"/api/v1/commitments?q={q}&status=overdue", 0.3, True),
        Endpoint("API search, no match", f"/api/v1/commitments?q={none}", None, True),
        Endpoint("API municipality overview", f"/api/v1/municipalities/{m.municipality_id}", None, True),
        Endpoint("API municipalities", "/api/v1/municipalities", None, True),
        Endpoint("API document check (GET hash, one hash)", f"/api/v1/verify/{sha}", 0.5),
        Endpoint("API document check (GET hash, random of the sample)", checks[0], 0.5, choices=checks),
        Endpoint("API document check (POST file)", "/api/v1/verify", 0.5, body=document),
        Endpoint("site list /", "/", None, True),
        Endpoint("site search", f"/?q={q}&status=overdue", None, True),
        Endpoint("site search, no match", f"/?q={none}", None, True),
        Endpoint("site commitment (10 deliveries, one id)", f"/commitments/{m.typical_id}", None, True),
        Endpoint("site commitment (random ids of the sample)", pages[0], None, True, choices=pages),
        Endpoint("site commitment (the largest)", f"/commitments/{m.largest_id}"),
        Endpoint("site municipality overview", f"/municipalities/{m.municipality_id}", None, True),
        Endpoint("site document check", f"/check?sha256={sha}"),
    ]


def next_pages(url: str, m: Manifest) -> list[Endpoint]:
    """The second page of the largest commitment's deliveries and of its timeline, as its
    detail links them (``detail_links``; none when the detail returns everything)."""
    links = httpx.get(f"{url}/api/v1/commitments/{m.largest_id}", timeout=120).json().get("detail_links") or {}
    named = (("deliveries_next", "API the largest's deliveries, page 2"), ("timeline_next", "API the largest's timeline, page 2"))
    return [Endpoint(name, links[key]) for key, name in named if links.get(key)]


# ---------------------------------------------------------------------------- serving


def _free_port(ports: range = API_PORTS) -> int:
    import socket

    for port in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports.start}..{ports.stop - 1}")


@dataclass
class Served:
    """A uvicorn process serving an app."""

    url: str
    process: subprocess.Popen

    def memory_mb(self) -> tuple[float, float]:
        """(VmRSS, VmHWM) of the server process, MB (10**6 bytes), from /proc/<pid>/status."""
        values = {}
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0]) * 1024 / 1e6
        return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def _inherited() -> dict[str, str]:
    """This process's environment without ``LEDGER_*`` (the served app gets only the bench's)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}


@contextmanager
def serve(module: str, env: dict[str, str], log: Path, ready_path: str, ports: range = API_PORTS) -> Iterator[Served]:
    """``python -m <module> --host 127.0.0.1 --port <port>`` (``api.server`` or
    ``bench.trivial_app``) on a free port of ``ports``; yields once ``ready_path``
    answers 200; stopped with SIGTERM (SIGKILL after 35 s: uvicorn's graceful shutdown is 30 s).

    Raises:
        RuntimeError: the server exits or does not answer within :data:`READY_TIMEOUT_SECONDS`
            (its log is named).
    """
    port = _free_port(ports)
    url = f"http://127.0.0.1:{port}"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO_ROOT, env={**_inherited(), "PYTHONPATH": str(REPO_ROOT), **env}, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{module} exited with {process.returncode}: see {log}")
            try:
                if httpx.get(url + ready_path, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{module} did not answer {ready_path} within {READY_TIMEOUT_SECONDS:.0f} s: see {log}")
            time.sleep(0.2)
        yield Served(url, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(35)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _api_env(manifest: Manifest, data_dir: Path) -> dict[str, str]:
    """The served API's ``LEDGER_*`` settings, after writing its deployment record and marking
    the filled index's chain head as seen now (``save_chain_head``)."""
    save_deployment(data_dir / "deployment.json", Deployment(
        chain_id=31337, contract_address=CONTRACT, deploy_block=1, deploy_block_hash="0x" + "00" * 32,
        deploy_tx="0x" + "00" * 32, abi_version="2.1.0", deployed_at=1_672_617_600))
    engine = make_engine(manifest.database_url)
    try:
        with session_factory(engine).begin() as session:
            save_chain_head(session, manifest.last_block, int(time.time()))
    finally:
        engine.dispose()
    return {
        "LEDGER_DATA_DIR": str(data_dir),
        "LEDGER_DATABASE_URL": manifest.database_url,
        "LEDGER_RPC_URL": "http://127.0.0.1:9",  # nothing listens: reads never need the node
        "LEDGER_HEAD_STALE_SECONDS": str(STALE_SECONDS),
        "LEDGER_LOG_FORMAT": "text",
        "LEDGER_API_WORKERS": "1",
    }


# ---------------------------------------------------------------------------- wrk

_LATENCY = re.compile(r"^\s*(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _choices_lua(folder: Path, paths: tuple[str, ...]) -> Path:
    """A wrk script whose every request GETs one of ``paths`` at random (seeded)."""
    script = folder / "choices.lua"
    listed = ",\n".join(json.dumps(p) for p in paths)  # the paths are ASCII: a JSON string is a Lua string
    script.write_text(f"math.randomseed(8)\nlocal paths = {{\n{listed}\n}}\nlocal n = #paths\n"
                      "request = function()\n  return wrk.format(\"GET\", paths[math.random(n)])\nend\n", encoding="ascii")
    return script


def _lua(folder: Path, body: bytes) -> Path:
    """A wrk script that POSTs ``body`` as the multipart field ``file``."""
    part = (f"--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"document.pdf\"\r\n"
            f"Content-Type: application/pdf\r\n\r\n").encode() + body + f"\r\n--{MULTIPART_BOUNDARY}--\r\n".encode()
    script = folder / "post.lua"
    lua_bytes = "".join(f"\\{b}" for b in part)
    script.write_text(
        f'wrk.method = "POST"\nwrk.body = "{lua_bytes}"\n'
        f'wrk.headers["Content-Type"] = "multipart/form-data; boundary={MULTIPART_BOUNDARY}"\n', encoding="ascii")
    return script


def parse_wrk(output: str) -> tuple[float, float, float, int, int]:
    """(requests/s, p50 ms, p99 ms, requests, errors) of ``wrk --latency`` output; errors are
    non-2xx/3xx answers plus socket errors.

    Raises:
        ValueError: the output lacks the requests/s or latency lines.
    """
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in", output, re.MULTILINE)
    latencies = {p: float(v) * _UNIT_MS[u] for p, v, u in _LATENCY.findall(output)}
    if not rps or not total or set(latencies) != {"50", "99"}:
        raise ValueError(f"not wrk --latency output:\n{output}")
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", output))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket:
        errors += sum(int(n) for n in socket.groups())
    return float(rps.group(1)), latencies["50"], latencies["99"], int(total.group(1)), errors


def load(url: str, endpoint: Endpoint, *, duration: int, connections: int, folder: Path) -> Result:
    """Warm up 1 s, then ``wrk -t1 -c<connections> -d<duration>s --latency`` on the endpoint."""
    command = ["wrk", "-t1", f"-c{connections}", "--latency", f"--timeout={WRK_TIMEOUT_SECONDS}s"]
    if endpoint.body is not None:
        command += ["-s", str(_lua(folder, endpoint.body))]
    elif endpoint.choices:
        command += ["-s", str(_choices_lua(folder, endpoint.choices))]
    subprocess.run([*command, f"-d{WARMUP_SECONDS}s", url + endpoint.path], capture_output=True, check=True)
    out = subprocess.run([*command, f"-d{duration}s", url + endpoint.path], capture_output=True, check=True, text=True)
    rps, p50, p99, requests, errors = parse_wrk(out.stdout)
    return Result(endpoint, rps, p50, p99, requests, errors)


def check(url: str, endpoint: Endpoint) -> tuple[int, str]:
    """One request first: (response bytes, note); the note names a status other than 200,
    and for a commitment detail how many deliveries and timeline entries it returns."""
    if endpoint.body is not None:
        response = httpx.post(url + endpoint.path, files={"file": ("document.pdf", endpoint.body, "application/pdf")},
                              timeout=120)
    else:
        response = httpx.get(url + endpoint.path, timeout=120)
    note = "" if response.status_code == 200 else f"status {response.status_code}"
    if response.status_code == 200 and endpoint.path.startswith("/api/v1/commitments/"):
        body = response.json()
        if "deliveries" in body:
            note = (f"{len(body['deliveries'])} of {body.get('deliveries_count', '?')} deliveries, "
                    f"{len(body.get('timeline', []))} of {body.get('timeline_count', '?')} timeline entries returned")
        elif "data" in body:
            note = f"{len(body['data'])} entries returned"
    elif response.status_code == 200 and endpoint.path.startswith("/commitments/"):
        note = f"{response.text.count(DELIVERY_ITEM)} delivery items in the page"
    return len(response.content), note


# ---------------------------------------------------------------------------- one size


def run_size(size: str, *, duration: int, connections: int, postgres_url: str | None, console: Console,
             reuse_fill: bool = False, ports: range = API_PORTS, only: tuple[str, ...] = (),
             kept_answers: bool = True) -> SizeRun:
    """Fill (or reuse) the index of ``size``, serve both apps on ``ports`` and load every
    endpoint (only those whose name contains one of ``only``, when given); with
    ``kept_answers`` false the API keeps no answer in memory (``LEDGER_RESPONSE_CACHE_ENTRIES=0``),
    so every request reads the index: the like-for-like flatness of reads spread over more
    commitments than the answers kept at the big size (2,048 by default) while the small
    size's all fit."""
    console.print(f"[bold]{size}[/bold]: filling or reusing the index (bench/fill_index.py) ...")
    manifest = fill(sizes_of(size), postgres_url=postgres_url, reuse_any_code=reuse_fill)
    console.print(f"  {manifest.counts['commitments']:,} commitments, {manifest.counts['deliveries']:,} deliveries "
                  f"(the largest commitment {manifest.counts['largest']:,}), "
                  f"{manifest.events:,} events; filled in {manifest.seconds:,.0f} s ({manifest.events_per_second:,.0f} events/s; "
                  f"the projection alone {manifest.apply_events_per_second:,.0f} events/s)")
    run = SizeRun(size, manifest)
    with tempfile.TemporaryDirectory(prefix=f"bench-api-{size}-") as tmp:
        folder = Path(tmp)
        trivial = Endpoint("trivial endpoint", "/ping")
        options = dict(duration=duration, connections=connections, folder=folder)
        data_dir = folder / "data"
        data_dir.mkdir()
        env = _api_env(manifest, data_dir)
        if not kept_answers:
            env["LEDGER_RESPONSE_CACHE_ENTRIES"] = "0"
        try:
            with serve("bench.trivial_app", {}, folder / "trivial.log", "/ping", ports) as baseline, \
                    serve("api.server", env, folder / "api.log", "/api/v1/health/live", ports) as served:
                run.trivial.append(load(baseline.url, trivial, **options))
                todo = [e for e in endpoints(manifest) + next_pages(served.url, manifest)
                        if not only or any(part in e.name for part in only)]
                for start in range(0, len(todo), BASELINE_EVERY):
                    block = []
                    for endpoint in todo[start:start + BASELINE_EVERY]:
                        size_bytes, note = check(served.url, endpoint)
                        result = load(served.url, endpoint, **options)
                        result.response_bytes, result.note = size_bytes, note
                        block.append(result)
                        console.print(f"  {endpoint.name}: {result.requests_per_second:,.0f} req/s")
                    run.rss_mb, run.rss_peak_mb = served.memory_mb()
                    run.trivial.append(load(baseline.url, trivial, **options))
                    for result in block:
                        result.baseline = (run.trivial[-2].requests_per_second + run.trivial[-1].requests_per_second) / 2
                    run.results += block
        finally:  # the served API's log outlives the temporary folder
            shutil.copy(folder / "api.log", API_LOG_DIR / f"api-{size}.log")
    console.print(f"  the API's log: {API_LOG_DIR / f'api-{size}.log'}")
    return run


# ---------------------------------------------------------------------------- report


def _goal_text(r: Result) -> str:
    parts = []
    if r.endpoint.goal is not None:
        parts.append(f"≥{r.endpoint.goal}× {'met' if r.ratio >= r.endpoint.goal else 'MISSED'}")
    parts.append(f"p99<4×p50 {'met' if r.tail < GOAL_P99_OVER_P50 else 'MISSED'}")
    if r.errors:
        parts.append(f"{r.errors} ERRORS")
    return ", ".join(parts)


def report(runs: list[SizeRun], console: Console, connections: int, duration: int) -> None:
    """Print one table per size, then flatness and memory."""
    for run in runs:
        s = run.manifest.counts
        table = Table(title=f"{run.size}: {s['commitments']:,} commitments, {s['deliveries']:,} deliveries — one uvicorn "
                            f"worker, wrk -t1 -c{connections} -d{duration}s; trivial endpoint "
                            f"{' / '.join(f'{t.requests_per_second:,.0f}' for t in run.trivial)} req/s (measured every "
                            f"{BASELINE_EVERY} endpoints; each ratio is to the mean of the two around it)")
        for column in ("endpoint", "req/s", "trivial req/s", "× trivial", "p50 ms", "p99 ms", "p99/p50", "bytes", "goals",
                       "returned"):
            table.add_column(column, justify="left" if column in ("endpoint", "goals", "returned") else "right")
        for r in run.results:
            table.add_row(r.endpoint.name, f"{r.requests_per_second:,.0f}", f"{r.baseline:,.0f}", f"{r.ratio:.2f}",
                          f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}", f"{r.tail:.1f}", f"{r.response_bytes:,}", _goal_text(r), r.note)
        console.print(table)
    for run in runs:
        verdict = "met" if run.rss_peak_mb < GOAL_RSS_MB else "MISSED"
        console.print(f"API process memory, {run.size}: peak RSS (VmHWM) {run.rss_peak_mb:,.0f} MB, RSS at the end "
                      f"{run.rss_mb:,.0f} MB (goal < {GOAL_RSS_MB:.0f} MB: {verdict})")
    small = next((run for run in runs if run.size == "small"), None)
    for big in (run for run in runs if small is not None and run.size != "small"):
        table = Table(title=f"Flatness: {big.size} ÷ small, as requests/s and as × the trivial endpoint measured around each "
                            "(the goal is judged on the second: the two sizes run minutes apart on a shared machine)")
        for column in ("endpoint", "small req/s", f"{big.size} req/s", "req/s ratio", "× trivial small", f"× trivial {big.size}",
                       "flatness", "goal ≥ 0.7"):
            table.add_column(column, justify="left" if column == "endpoint" else "right")
        at_small = {r.endpoint.name: r for r in small.results}
        for b in big.results:
            a = at_small.get(b.endpoint.name)
            if a is None or not a.ratio:
                continue
            flat = b.ratio / a.ratio
            table.add_row(b.endpoint.name, f"{a.requests_per_second:,.0f}", f"{b.requests_per_second:,.0f}",
                          f"{b.requests_per_second / a.requests_per_second:.2f}", f"{a.ratio:.2f}", f"{b.ratio:.2f}", f"{flat:.2f}",
                          ("met" if flat >= GOAL_FLATNESS else "MISSED") if b.endpoint.flat else "")
        console.print(table)


def main(
    size: str = typer.Option("small,big", help="comma-separated sizes of bench/fill_index.py: small, medium, big, or "
                                               "<size>:<events> (a prefix of its chain)"),
    duration: int = typer.Option(5, min=1, help="seconds of load per endpoint"),
    connections: int = typer.Option(8, min=1, help="wrk connections"),
    postgres_url: str = typer.Option(None, help="serve an index filled on this PostgreSQL server instead of SQLite"),
    json_out: Path = typer.Option(None, "--json", help="also write the figures to this JSON file"),
    reuse_fill: bool = typer.Option(False, "--reuse-fill", help="take a cached index of a size filled by other code"),
    ports: str = typer.Option(f"{API_PORTS.start}-{API_PORTS.stop - 1}",
                              help="inclusive range of ports the served apps may take, FIRST-LAST"),
    only: str = typer.Option("", help="comma-separated parts of endpoint names: measure only the endpoints naming one"),
    kept_answers: bool = typer.Option(True, "--kept-answers/--no-kept-answers",
                                      help="serve with the API's kept answers (as deployed) or with none (every request reads the index)"),
) -> None:
    """Load the trivial endpoint and the API's and site's reads with wrk; print ratios, latencies, flatness, memory."""
    if shutil.which("wrk") is None:
        raise typer.BadParameter("wrk is not installed: run `make bench-tools` (Debian's wrk)")
    sizes = [s.strip() for s in size.split(",") if s.strip()]
    if not sizes:
        raise typer.BadParameter("--size needs at least one size")
    for s in sizes:
        sizes_of(s)  # BadParameter for an unknown size, before anything is filled
    first, _, last = ports.partition("-")
    if not (first.isdigit() and last.isdigit() and 1 <= int(first) <= int(last) <= 65_535):
        raise typer.BadParameter(f"--ports must be FIRST-LAST within 1..65535, got {ports!r}")
    port_range = range(int(first), int(last) + 1)
    parts = tuple(p.strip() for p in only.split(",") if p.strip())
    console = Console(width=None if sys.stdout.isatty() else 200)
    runs = [run_size(s, duration=duration, connections=connections, postgres_url=postgres_url, console=console,
                     reuse_fill=reuse_fill, ports=port_range, only=parts, kept_answers=kept_answers) for s in sizes]
    if not kept_answers:
        console.print("[bold]answers not kept[/bold] (LEDGER_RESPONSE_CACHE_ENTRIES=0): every request read the index")
    report(runs, console, connections, duration)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(figures(runs), indent=2) + "\n", encoding="utf-8")
        console.print(f"figures written to {json_out}")


def figures(runs: list[SizeRun]) -> dict:
    """The figures of ``runs`` as JSON-ready values (size → baseline, memory, endpoints)."""
    return {run.size: {
        "baseline_rps": [round(t.requests_per_second, 1) for t in run.trivial], "rss_peak_mb": round(run.rss_peak_mb, 1),
        "fill": {"events": run.manifest.events, "seconds": run.manifest.seconds, "events_per_second": run.manifest.events_per_second},
        "endpoints": {r.endpoint.name: {
            "path": r.endpoint.path, "rps": round(r.requests_per_second, 1), "ratio": round(r.ratio, 3), "baseline_rps": round(r.baseline, 1),
            "p50_ms": r.p50_ms, "p99_ms": r.p99_ms, "requests": r.requests, "errors": r.errors, "bytes": r.response_bytes,
            "note": r.note} for r in run.results}} for run in runs}


if __name__ == "__main__":
    typer.run(main)
