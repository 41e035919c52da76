"""Weight and speed of the citizens' site on a filled ledger.

``python -m bench.site --data-dir /tmp/dev/data --rpc-url http://127.0.0.1:8700 [--requests 20]``
copies the data folder of a filled ledger (``deployment.json``, the SQLite index through
SQLite's backup API, so a running indexer's WAL is read consistently, and the evidence
store) into a temporary folder, so the folder given is never written; starts the whole app
(``api.main.create_app``: lifespan, gzip, site) in this process under uvicorn on a free
local port; and prints with rich:

- per page kind (list, a commitment with the most deliveries, a commitment without any, the
  comparison, each municipality's overview, the document check empty and with a cited hash,
  about, the 404 page) in Dutch and English: HTML bytes uncompressed and as transferred with
  gzip, their ratio, time to first byte (median of ``--requests`` requests with gzip
  accepted, milliseconds), and the page weight: the gzipped HTML plus the CSS and scripts it
  loads at start (stylesheets, script sources and the modules they import at once: ``chain``
  and ``rules`` of the page's ``#asset-urls``), against the 100 KB budget;
- each static asset raw and gzipped: the stylesheets, the site's scripts, the text bundles a
  page embeds for its scripts (the equivalent of a texts file; the whole English catalogue
  for comparison, never sent), the ABI JSON and ``ethers.min.js``, the last two marked
  optional: loaded only when a reader runs a chain check.

The ledger needs no chain for this (pages read the index); ``--rpc-url`` is the read-only RPC
URL the pages name for the in-browser check (and allow in their CSP). A filled ledger is what
the dev stack leaves in its data folder (``make run`` then ``make import-baarn import-chile``:
``data/``); if the index's schema changed since, rebuild the copy first: ``rm
<copy>/ledger.sqlite3*; LEDGER_DATA_DIR=<copy> LEDGER_RPC_URL=<rpc> python -m indexer --once``.

Timings are noisy on a shared 2-core machine; sizes are exact for the data given.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import socket
import sqlite3
import statistics
import tempfile
import threading
import time
import warnings
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from api.main import create_app
from frontend.i18n import Lang
from ledger.db import repository
from ledger.db.engine import create_schema, make_engine, session_factory
from ledger.settings import Settings

BUDGET_BYTES = 100_000
"""Page weight budget: gzipped HTML plus the CSS and scripts it loads at start."""

LANGS = ("nl", "en")
STYLESHEETS = ("css/app.css", "css/print.css", "css/charts.css", "css/chaincheck.css", "css/doccheck.css")
SCRIPTS = ("js/chain.js", "js/rules.js", "js/chaincheck.js", "js/doccheck.js")
OPTIONAL = (("abi/ledger.json", "ABI JSON"), ("vendor/ethers.min.js", "ethers"))
"""Assets loaded only when a reader runs a chain check."""

PAGE = 100
"""Rows per read of the index when picking the pages."""


# ---------------------------------------------------------------------------- the data copy


def copy_ledger(source: Path, target: Path) -> None:
    """Copy the filled ledger in ``source`` to ``target``: deployment record, the SQLite
    index (backup API: consistent with a writer's WAL) and the evidence store.

    Raises:
        FileNotFoundError: ``source`` lacks ``deployment.json`` or ``ledger.sqlite3``.
    """
    for name in ("deployment.json", "ledger.sqlite3"):
        if not (source / name).is_file():
            raise FileNotFoundError(f"{source / name} not found: give the data folder of a filled ledger")
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / "deployment.json", target / "deployment.json")
    reader = sqlite3.connect(f"file:{source / 'ledger.sqlite3'}?mode=ro", uri=True)
    writer = sqlite3.connect(target / "ledger.sqlite3")
    try:
        reader.backup(writer)
    finally:
        reader.close()
        writer.close()
    if (source / "evidence").is_dir():
        shutil.copytree(source / "evidence", target / "evidence")


# ---------------------------------------------------------------------------- serving


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """The app on ``settings`` under uvicorn in a thread; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, name="bench-site-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start (see the log above)")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


# ---------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Transfer:
    status: int
    raw_bytes: int
    gzip_bytes: int
    text: str


def fetch(client: httpx.Client, url: str) -> Transfer:
    """``url`` with and without ``Accept-Encoding: gzip``: the bytes of each transfer."""
    identity = client.get(url, headers={"Accept-Encoding": "identity"})
    zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
    return Transfer(identity.status_code, identity.num_bytes_downloaded, zipped.num_bytes_downloaded, identity.text)


def ttfb_ms(client: httpx.Client, url: str, requests: int) -> float:
    """Median time to the first byte of the body, gzip accepted, in milliseconds."""
    times = []
    client.get(url)  # warm-up
    for _ in range(requests):
        started = time.perf_counter()
        with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
            chunks = response.iter_raw()
            next(chunks, b"")
            times.append((time.perf_counter() - started) * 1000)
            for _ in chunks:  # the rest of the body, so the connection is reused
                pass
    return statistics.median(times)


def start_assets(html: str) -> list[str]:
    """URLs a page loads at start: its stylesheets, script sources and the modules those
    import at once (``chain``, ``rules`` of ``#asset-urls``)."""
    urls = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    urls += re.findall(r'<script type="module" src="([^"]+)"', html)
    named = re.search(r'<script type="application/json" id="asset-urls">(.*?)</script>', html, flags=re.S)
    if named:
        table = json.loads(named.group(1))
        urls += [table[k] for k in ("chain", "rules") if k in table]
    return urls


def embedded_bundle(html: str) -> str:
    """The ``#texts`` JSON block of a page (its scripts' texts), or ``""``."""
    found = re.search(r'<script type="application/json" id="texts">(.*?)</script>', html, flags=re.S)
    return found.group(1) if found else ""


def gzip_size(data: bytes) -> int:
    """Transferred size of ``data`` as the app's gzip would send it (the level of
    Starlette's ``GZipMiddleware``: 9)."""
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def page_kinds(settings: Settings, now: int) -> dict[str, str]:
    """Page kind → path, picked from the index (``ledger.db.repository``): the commitment
    with the most deliveries (recorded and batched), the first without any, each
    municipality, the first hash cited as evidence.

    Raises:
        IndexSchemaError: the copy's index has another schema version (rebuild it: see the
            module's docstring).
    """
    engine = make_engine(settings.database_url)
    create_schema(engine)  # checks the schema version first, as the app's lifespan does
    counts: Counter[int] = Counter()
    cited: str | None = None
    try:
        with session_factory(engine)() as session:
            offset = 0
            while True:
                rows, total = repository.list_deliveries(session, now=now, offset=offset, limit=PAGE)
                counts.update(d["commitment_id"] for d in rows)
                cited = cited or next((e["sha256"] for d in rows for e in d["evidence"]), None)
                offset += len(rows)
                if not rows or offset >= total:
                    break
            commitments, _ = repository.list_commitments(session, now, sort="id", limit=PAGE)
            municipalities = repository.list_municipalities(session, now)
    finally:
        engine.dispose()
    kinds = {"list": "/"}
    if counts:
        busiest, n = max(counts.items(), key=lambda item: (item[1], -item[0]))
        kinds[f"commitment {busiest} ({n} deliveries)"] = f"/commitments/{busiest}"
    bare = next((c["id"] for c in commitments if c["id"] not in counts), None)
    if bare:
        kinds[f"commitment {bare} (no delivery)"] = f"/commitments/{bare}"
    kinds["municipalities"] = "/municipalities"
    for m in municipalities:
        kinds[f"municipality {m['id']} {m['code']}"] = f"/municipalities/{m['id']}"
    kinds["check"] = "/check"
    if cited:
        kinds["check (cited hash)"] = f"/check?sha256={cited}"
    kinds["about"] = "/about"
    kinds["404 page"] = "/nope"
    return kinds


def kb(n: int) -> str:
    return f"{n / 1000:,.1f}"


def main(
    data_dir: Path = typer.Option(..., help="Data folder of a filled ledger (read only: it is copied)."),
    rpc_url: str = typer.Option("http://127.0.0.1:8700", help="Read-only RPC URL the pages name for the chain check."),
    requests: int = typer.Option(20, min=1, help="Requests per page for the time to first byte."),
) -> None:
    console = Console()
    if not console.is_terminal:  # a log or a report: wide enough for one row per page
        console = Console(width=150)
    with tempfile.TemporaryDirectory(prefix="bench-site-") as tmp:
        copy = Path(tmp) / "data"
        copy_ledger(data_dir, copy)
        settings = Settings(data_dir=copy, rpc_url=rpc_url, public_rpc_url=rpc_url)
        kinds = page_kinds(settings, int(time.time()))
        with warnings.catch_warnings(), serve(settings) as base, httpx.Client(base_url=base, timeout=60) as client:
            warnings.simplefilter("ignore")
            pages = Table(title=f"Pages ({data_dir}; sizes in KB = 1,000 bytes; TTFB median of {requests})")
            for column in ("page", "lang", "status", "HTML raw", "HTML gzip", "ratio", "TTFB ms",
                           "start assets gzip", "page weight gzip", "of budget"):
                pages.add_column(column, justify="left" if column in ("page", "lang") else "right")
            asset_sizes: dict[str, Transfer] = {}
            bundles: dict[str, str] = {}
            heaviest = 0
            for kind, path in kinds.items():
                for code in LANGS:
                    url = f"{path}{'&' if '?' in path else '?'}lang={code}"
                    page = fetch(client, url)
                    assets = 0
                    for asset in start_assets(page.text):
                        if asset not in asset_sizes:
                            asset_sizes[asset] = fetch(client, asset)
                        assets += asset_sizes[asset].gzip_bytes
                    if code == "en" and embedded_bundle(page.text):
                        bundles.setdefault(kind.split(" ")[0], embedded_bundle(page.text))
                    weight = page.gzip_bytes + assets
                    heaviest = max(heaviest, weight)
                    pages.add_row(kind, code, str(page.status), kb(page.raw_bytes), kb(page.gzip_bytes),
                                  f"{page.raw_bytes / page.gzip_bytes:.1f}×", f"{ttfb_ms(client, url, requests):.1f}",
                                  kb(assets), kb(weight), f"{weight / BUDGET_BYTES:.0%}")
            console.print(pages)

            static = Table(title="Static assets (KB = 1,000 bytes)")
            for column in ("asset", "raw", "gzip", "ratio", "when"):
                static.add_column(column, justify="left" if column in ("asset", "when") else "right")
            for name in STYLESHEETS + SCRIPTS:
                t = fetch(client, "/static/" + name)
                static.add_row(name, kb(t.raw_bytes), kb(t.gzip_bytes), f"{t.raw_bytes / t.gzip_bytes:.1f}×",
                               "at start, on the pages that link it")
            for page_kind, bundle in sorted(bundles.items()):
                data = bundle.encode()
                static.add_row(f"en texts embedded in the {page_kind} page (#texts)", kb(len(data)),
                               kb(gzip_size(data)), f"{len(data) / gzip_size(data):.1f}×",
                               "inside the page's HTML")
            catalogue = json.dumps(Lang("en").bundle(""), ensure_ascii=False, separators=(",", ":")).encode()
            static.add_row("whole en catalogue as one JSON file (for comparison)", kb(len(catalogue)),
                           kb(gzip_size(catalogue)),
                           f"{len(catalogue) / gzip_size(catalogue):.1f}×", "never sent")
            optional_total = 0
            for name, label in OPTIONAL:
                t = fetch(client, "/static/" + name)
                optional_total += t.gzip_bytes
                static.add_row(f"{name} ({label})", kb(t.raw_bytes), kb(t.gzip_bytes),
                               f"{t.raw_bytes / t.gzip_bytes:.1f}×", "optional, only loaded on a chain check")
            console.print(static)
            console.print(
                f"Heaviest page at start: {kb(heaviest)} KB gzipped = {heaviest / BUDGET_BYTES:.0%} of the "
                f"{BUDGET_BYTES // 1000} KB budget; a chain check adds {kb(optional_total)} KB (ethers + ABI), once, "
                "cached for a year."
            )


if __name__ == "__main__":
    typer.run(main)
