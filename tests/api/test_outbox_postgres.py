"""The write outbox on PostgreSQL with two API apps on one database (as two processes behind
a proxy: each its own reconciler thread): identical requests sent to both at once are one
write and one transaction, and 20 writes of one signer spread over both get 20 consecutive
nonces, each landing once. Skipped when PostgreSQL cannot be reached."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any, Iterator

import pytest
from fastapi import FastAPI

from api.main import create_app
from ledger.chain import LedgerChain
from ledger.db import outbox
from ledger.settings import Settings
from tests.api.helpers import Tokens, commitment_body
from tests.db.databases import fresh_database

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def api_settings(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The module's settings on a fresh PostgreSQL schema (overrides tests/api/conftest.py's)."""
    with fresh_database("postgresql", Path(tmp_path_factory.mktemp("pg"))) as db:
        yield settings.model_copy(update={"database_url": db.url})


@pytest.fixture(scope="module")
def second(api_settings: Settings, tokens: Tokens) -> Iterator[tuple[FastAPI, TestClient]]:
    """Another app on the same database: a second API process."""
    app = create_app(api_settings)
    with TestClient(app, headers={"Prefer": "wait=30"}) as client:
        yield app, client


def on_chain(chain: LedgerChain) -> int:
    return int(chain.call("counts")[1])


def run_at_once(calls: list[Any]) -> list[Any]:
    start = threading.Barrier(len(calls), timeout=60)
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        start.wait()
        out[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def test_identical_requests_to_two_processes_are_one_write(
    client: TestClient, second: tuple[FastAPI, TestClient], chain: LedgerChain, tokens: Tokens
) -> None:
    _app2, client2 = second
    body = commitment_body()
    before = on_chain(chain)
    headers = Tokens.header(tokens.baarn)
    answers = run_at_once([(lambda c=c: c.post("/api/v1/staff/commitments", json=body, headers=headers))
                           for c in [client, client2] * 5])
    assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers]
    assert len({a.json()["write"]["id"] for a in answers}) == 1
    assert on_chain(chain) == before + 1


def test_writes_spread_over_two_processes_get_consecutive_nonces(
    app: FastAPI, client: TestClient, second: tuple[FastAPI, TestClient], chain: LedgerChain, tokens: Tokens,
    roles: Any,
) -> None:
    _app2, client2 = second
    before = on_chain(chain)
    headers = {**Tokens.header(tokens.baarn), "Prefer": ""}
    bodies = [commitment_body() for _ in range(20)]
    answers = run_at_once([(lambda c=c, b=b: c.post("/api/v1/staff/commitments", json=b, headers=headers))
                           for c, b in zip([client, client2] * 10, bodies)])
    assert [a.status_code for a in answers] == [202] * 20, [a.text for a in answers]
    rows = [app.state.reconciler.wait_for(a.json()["write"]["id"], 60) for a in answers]
    assert [r["state"] for r in rows] == ["confirmed"] * 20, rows
    nonces = sorted(r["nonce"] for r in rows)
    assert nonces == list(range(nonces[0], nonces[0] + 20))
    assert on_chain(chain) == before + 20
    assert chain.nonce_at(roles.registrar.address, "latest") == nonces[-1] + 1
    with app.state.session_factory() as session:
        assert outbox.count_by_state(session).get("failed", 0) == 0
