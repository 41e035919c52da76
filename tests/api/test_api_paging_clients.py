"""The importer's and the auditor's API clients still see every delivery of a commitment whose
detail holds only the first page: they follow the cursor through
``/commitments/{id}/deliveries`` (served by a real uvicorn on :data:`PORT`)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import uvicorn

from api.main import create_app
from ledger.db import repository
from scripts.audit.api import ApiClient
from scripts.importer.client import LedgerClient
from tests.api.history_index import BATCHED, LONG, RECORDED, SHORT, HistoryIndex, history_index

PORT = 8657
NOW = 1_900_000_000


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HistoryIndex]:
    with history_index(tmp_path_factory.mktemp("clients")) as built:
        yield built


@pytest.fixture(scope="module")
def server(index: HistoryIndex) -> Iterator[str]:
    instance = uvicorn.Server(uvicorn.Config(create_app(index.settings()), host="127.0.0.1", port=PORT, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{PORT}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v1/health/live", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url
    instance.should_exit = True
    thread.join(timeout=10)


def _reference(index: HistoryIndex, commitment_id: int) -> list[Any]:
    with index.db.sessions() as session:
        page, _ = repository.list_deliveries(session, commitment_id=commitment_id, limit=100, now=NOW)
        rest, _ = repository.list_deliveries(session, commitment_id=commitment_id, offset=100, limit=100, now=NOW)
    return [d["id"] for d in page + rest]


def test_the_importers_client_reads_every_delivery(server: str, index: HistoryIndex) -> None:
    client = LedgerClient(server)
    detail = client.commitment(LONG)
    assert [d["id"] for d in detail["deliveries"]] == _reference(index, LONG)
    assert len(detail["deliveries"]) == detail["deliveries_count"] == RECORDED + BATCHED
    assert len(client.commitment(SHORT)["deliveries"]) == 2


def test_the_auditors_client_reads_every_delivery(server: str, index: HistoryIndex) -> None:
    client = ApiClient(server)
    detail = client.commitment(LONG)
    assert detail is not None
    assert [d["id"] for d in detail["deliveries"]] == _reference(index, LONG)
    assert client.commitment(999) is None
