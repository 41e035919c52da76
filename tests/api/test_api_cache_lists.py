"""Kept answers of the commitment list, its searches and the municipality overviews
(``api.caching`` with ``repository.CommitmentListPage.valid_until`` and
``repository.municipalities_stable_until``): served again only for the index state and up to
the second a status among the rows they read turns with time; and a kept answer sent through
gzip again and again is the same body each time."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from ledger.db import repository
from tests.api.history_index import SHORT, HistoryIndex, client_of, count_calls, history_index, one_clock
from tests.db.script import DAY


@pytest.fixture()
def index(tmp_path: Path) -> Iterator[HistoryIndex]:
    with history_index(tmp_path) as built:
        yield built


@pytest.fixture()
def client(index: HistoryIndex) -> Iterator[Any]:
    with client_of(index.settings()) as test_client:
        yield test_client


def _due_dates(index: HistoryIndex) -> list[int]:
    return sorted(int(e.args["due_date"]) for e in index.script.events if e.name == "CommitmentRegistered")


def test_a_filtered_list_is_kept_until_a_row_turns_overdue(
    client: Any, index: HistoryIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = index.short_due
    assert not [d for d in _due_dates(index) if due - 5 <= d < due]  # no other turn in between
    clock = one_clock(client, monkeypatch, due - 5)
    calls = count_calls(monkeypatch, "list_commitments_page")
    url = "/api/v1/commitments?status=overdue&status=in_progress&limit=50"
    first = client.get(url).json()
    assert {r["id"]: r["status"] for r in first["data"]}[SHORT] == "in_progress"
    clock["now"] = due  # still in time: the same answer, from memory
    assert client.get(url).json() == first and len(calls) == 1
    clock["now"] = due + 1  # SHORT is overdue now: computed again
    turned = client.get(url).json()
    assert len(calls) == 2 and {r["id"]: r["status"] for r in turned["data"]}[SHORT] == "overdue"
    only_overdue = client.get("/api/v1/commitments?status=overdue").json()
    assert SHORT in [r["id"] for r in only_overdue["data"]]
    client.app.dependency_overrides.clear()


def test_a_kept_list_ends_when_the_index_moves(client: Any, index: HistoryIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_calls(monkeypatch, "list_commitments_page")
    first = client.get("/api/v1/commitments?q=kort").json()
    assert client.get("/api/v1/commitments?q=kort").json() == first and len(calls) == 1
    short = next(r for r in first["data"] if r["id"] == SHORT)
    position = len(index.script.events)
    index.script.next_block()
    index.script.delivery(SHORT, 3, 1, index.script.time - DAY)
    index.apply(position)
    again = client.get("/api/v1/commitments?q=kort").json()
    assert len(calls) == 2
    assert int(next(r for r in again["data"] if r["id"] == SHORT)["delivered_quantity"]) == int(short["delivered_quantity"]) + 1


def test_the_municipality_overview_is_kept_until_a_count_turns(
    client: Any, index: HistoryIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = index.short_due
    clock = one_clock(client, monkeypatch, due)
    calls = count_calls(monkeypatch, "get_municipality")
    listed = count_calls(monkeypatch, "list_municipalities")
    first = client.get("/api/v1/municipalities/1").json()
    everyone = client.get("/api/v1/municipalities").json()
    assert client.get("/api/v1/municipalities/1").json() == first and len(calls) == 1
    assert client.get("/api/v1/municipalities").json() == everyone and len(listed) == 1
    clock["now"] = due + 1
    turned = client.get("/api/v1/municipalities/1").json()
    assert len(calls) == 2 and turned["status_counts"]["overdue"] == first["status_counts"]["overdue"] + 1
    assert turned["status_counts"]["in_progress"] == first["status_counts"]["in_progress"] - 1
    assert client.get("/api/v1/municipalities").json()["data"][0]["status_counts"] == turned["status_counts"]
    assert len(listed) == 2
    client.app.dependency_overrides.clear()


def test_the_page_says_until_when_it_stays_exact(index: HistoryIndex) -> None:
    due = index.short_due
    with index.db.sessions() as session:
        page = repository.list_commitments_page(session, due - 5, limit=50)
        ahead = [d for d in _due_dates(index) if d >= due - 5]
        assert page.valid_until == min(ahead) + 1
        assert repository.municipalities_stable_until(session, due - 5, 1) == min(ahead) + 1
        assert repository.list_commitments_page(session, max(_due_dates(index)) + 1, limit=50).valid_until is None


def test_a_kept_answer_is_sent_gzipped_the_same_way_each_time(client: Any) -> None:
    plain = client.get("/api/v1/commitments?limit=50", headers={"Accept-Encoding": "identity"}).content
    for _ in range(3):  # the first computes, the others are kept ones
        zipped = client.get("/api/v1/commitments?limit=50", headers={"Accept-Encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip" and zipped.content == plain
    for _ in range(2):
        again = client.get("/api/v1/commitments?limit=50", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in again.headers and again.content == plain
