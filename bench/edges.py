"""What the edges (api.edges) cost and save: compression of each kind of answer, and the time
the middlewares add to a request.

``python -m bench.edges --rpc-url http://127.0.0.1:8606 [--commitments 60] [--requests 400]``
deploys a fresh ledger on that chain (anvil's development keys), registers ``--commitments``
commitments through the API, indexes them into a temporary SQLite index, then prints with
rich:

- per answer (a JSON list, a commitment, a validation problem, a staff answer, the OpenAPI
  document, the site's list page, the open-data CSV): bytes as sent without and with gzip
  (``Accept-Encoding: gzip``) and whether it was compressed;
- the median and 95th percentile of ``--requests`` ``GET /api/v1/health`` requests (in this
  process, through Starlette's test client: no network) with every edge middleware, and
  with gzip only (the app as it was before the edges), milliseconds; and the same for a
  staff read (``GET /api/v1/staff/me``: the token is checked twice, by the gate and the
  route).

Timings are noisy on a shared 2-core machine; sizes are exact for the data made.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import typer
from fastapi import FastAPI
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import OperationalError
from starlette.middleware.gzip import GZipMiddleware

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from api.main import create_app
from indexer.loop import Indexer
from ledger.chain import LedgerChain
from ledger.deployment import save_deployment
from ledger.settings import load_settings
from ledger.staff import issue_token

ANVIL_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",  # platform admin
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",  # council admin
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",  # registrar
)

app_cli = typer.Typer(add_completion=False)


def _bare(settings: Any) -> FastAPI:
    """The app with gzip only, as before the edges."""
    app = create_app(settings)
    app.user_middleware = [m for m in app.user_middleware if m.cls is GZipMiddleware]
    app.build_middleware_stack = FastAPI.build_middleware_stack.__get__(app)  # type: ignore[method-assign]
    return app


def _times(client: TestClient, path: str, headers: dict[str, str], n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        client.get(path, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


@app_cli.command()
def main(
    rpc_url: str = typer.Option(..., help="JSON-RPC URL of a development chain (anvil)"),
    commitments: int = typer.Option(60, help="commitments to register"),
    requests: int = typer.Option(400, help="requests per timing"),
) -> None:
    console = Console(width=160)
    logging.basicConfig(level=logging.WARNING)  # the API's INFO lines (access log, outbox) stay out of the figures
    for name in ("api", "ledger"):
        logging.getLogger(name).setLevel(logging.WARNING)
    chain = LedgerChain(rpc_url)
    admin, council, registrar = ANVIL_KEYS
    from eth_account import Account

    deployment = chain.deploy(admin)
    chain = LedgerChain(rpc_url, deployment)
    chain.send("registerMunicipality", ["Baarn", "GM0308", Account.from_key(council).address], admin)
    chain.send("addRegistrar", [1, Account.from_key(registrar).address], council)
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder)
        save_deployment(data / "deployment.json", deployment)
        settings = load_settings({}, data_dir=data, rpc_url=rpc_url)
        token = issue_token(settings.staff_keys_file, 1, registrar)
        staff = {"Authorization": f"Bearer {token}"}
        app = create_app(settings)
        with TestClient(app) as client:
            for n in range(commitments):
                body = {"external_ref": f"bench-{n}", "title": f"Belofte {n}: dertig nieuwe woningen aan de Eemnesserweg",
                        "description": "Een toezegging uit het coalitieakkoord, met een uitgebreide toelichting. " * 3,
                        "target_quantity": "30", "unit": "woningen", "promised_at": 1655071200, "due_date": 1924988399}
                response = client.post("/api/v1/staff/commitments", json=body, headers=staff)
                assert response.status_code in (201, 202), response.text
            indexer = Indexer(chain, app.state.session_factory, settings)
            for _ in range(20):  # the write outbox may hold SQLite's writer lock for a moment
                try:
                    indexer.run_once()
                    break
                except OperationalError:
                    time.sleep(0.5)
            sizes = Table(title="Bytes sent, without and with gzip")
            for column in ("answer", "media type", "identity", "gzip", "ratio"):
                sizes.add_column(column)
            answers = [
                ("GET", "/api/v1/commitments?limit=50", None, {}),
                ("GET", "/api/v1/commitments/1", None, {}),
                ("POST", "/api/v1/staff/commitments", {"title": 5}, staff),
                ("GET", "/api/v1/staff/me", None, staff),
                ("GET", "/openapi.json", None, {}),
                ("GET", "/", None, {}),
                ("GET", "/downloads/commitments.csv", None, {}),
            ]
            for method, path, body, headers in answers:
                plain = client.request(method, path, json=body, headers={**headers, "Accept-Encoding": "identity"})
                packed = client.request(method, path, json=body, headers={**headers, "Accept-Encoding": "gzip"})
                raw = len(plain.content)
                sent = int(packed.headers.get("content-length") or len(packed.content)) if packed.headers.get("content-encoding") == "gzip" else len(packed.content)
                encoding = packed.headers.get("content-encoding", "none")
                sizes.add_row(f"{method} {path} ({plain.status_code})", plain.headers.get("content-type", "").split(";")[0],
                              str(raw), f"{sent} ({encoding})", f"{raw / sent:.1f}x" if sent else "-")
            console.print(sizes)
        times = Table(title=f"Milliseconds per request (median, p95 of {requests}; in process)")
        for column in ("request", "with the edges", "gzip only"):
            times.add_column(column)
        with TestClient(create_app(settings)) as full, TestClient(_bare(settings)) as bare:
            for label, path, headers in (("GET /api/v1/health", "/api/v1/health", {}), ("GET /api/v1/staff/me", "/api/v1/staff/me", staff)):
                _times(full, path, headers, 20), _times(bare, path, headers, 20)  # warm up
                with_edges = _times(full, path, headers, requests)
                without = _times(bare, path, headers, requests)
                times.add_row(label, f"{with_edges[0]:.2f} / {with_edges[1]:.2f}", f"{without[0]:.2f} / {without[1]:.2f}")
        console.print(times)


if __name__ == "__main__":
    app_cli()
