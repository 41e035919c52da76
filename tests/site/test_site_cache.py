"""The site's commitment and municipality pages kept in memory (``api.caching``), as the API's
reads are: served again without the route while the index, the evidence store, every status
shown, the chart's day and the index's freshness stay as they were; made again when one moves.
On the history index of ``tests.api.history_index`` (its chain head seen at the script's last
block time, in the past: ``head_stale_seconds`` decides whether the pages show the stale notice)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from frontend import charts
from tests.api.history_index import SHORT, HistoryIndex, client_of, count_calls, history_index, one_clock
from tests.db.script import DAY, sha

FRESH = 10**10
"""``head_stale_seconds`` that keeps the history index fresh (no stale notice)."""


@pytest.fixture()
def index(tmp_path: Path) -> Iterator[HistoryIndex]:
    with history_index(tmp_path) as built:
        yield built


@pytest.fixture()
def client(index: HistoryIndex) -> Iterator[Any]:
    with client_of(index.settings(head_stale_seconds=FRESH)) as test_client:
        yield test_client


@pytest.mark.parametrize(("path", "read"), [(f"/commitments/{SHORT}", "get_commitment"), ("/municipalities/1", "get_municipality")])
def test_a_page_is_kept_until_the_index_moves(client: Any, index: HistoryIndex, monkeypatch: pytest.MonkeyPatch,
                                              path: str, read: str) -> None:
    calls = count_calls(monkeypatch, read)
    first = client.get(path)
    second = client.get(path)
    assert (first.status_code, len(calls), second.content, second.headers["etag"]) == (200, 1, first.content, first.headers["etag"])
    position = len(index.script.events)
    index.script.next_block()
    index.script.delivery(SHORT, 3, 1, index.script.time - DAY, evidence=[sha("third")])
    index.apply(position)
    third = client.get(path)
    assert len(calls) == 2 and third.headers["etag"] != first.headers["etag"]


def test_a_commitment_page_is_made_again_the_second_its_status_turns(
    client: Any, index: HistoryIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = index.short_due
    clock = one_clock(client, monkeypatch, due - 5)
    calls = count_calls(monkeypatch, "get_commitment")
    client.get(f"/commitments/{SHORT}")
    clock["now"] = due
    client.get(f"/commitments/{SHORT}")
    kept = len(calls)
    clock["now"] = due + 1
    page = client.get(f"/commitments/{SHORT}")
    assert (kept, len(calls)) == (1 if charts.end_of_day(due - 5) >= due else 2, kept + 1)
    assert 'data-now="%d"' % (due + 1) in page.text


def test_a_page_is_made_again_when_the_readers_day_ends(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chart's "today" is the last second of the reader's day (Baarn: Amsterdam)."""
    start = 1_900_000_000  # 2030-03-17, after every due date of the index: no status turns
    end = charts.end_of_day(start, "Europe/Amsterdam")
    clock = one_clock(client, monkeypatch, start)
    calls = count_calls(monkeypatch, "get_municipality")
    client.get("/municipalities/1")
    clock["now"] = end
    client.get("/municipalities/1")
    assert len(calls) == 1
    clock["now"] = end + 1
    client.get("/municipalities/1")
    assert len(calls) == 2


def test_a_page_with_the_stale_notice_is_not_kept(index: HistoryIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    with client_of(index.settings(head_stale_seconds=60)) as client:
        calls = count_calls(monkeypatch, "get_commitment")
        first = client.get(f"/commitments/{SHORT}")
        client.get(f"/commitments/{SHORT}")
        assert 'data-testid="index-notice"' in first.text and len(calls) == 2


def test_a_kept_page_ends_when_the_index_would_turn_stale(index: HistoryIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = index.script.time  # the checkpoint's head_seen_at
    with client_of(index.settings(head_stale_seconds=3_600)) as client:
        clock = one_clock(client, monkeypatch, seen + 3_000)
        monkeypatch.setattr("frontend.web.time.time", lambda: clock["now"])
        calls = count_calls(monkeypatch, "get_municipality")
        client.get("/municipalities/1")
        clock["now"] = seen + 3_600
        fresh = client.get("/municipalities/1")
        clock["now"] = seen + 3_601
        stale = client.get("/municipalities/1")
        assert 'data-testid="index-notice"' not in fresh.text and 'data-testid="index-notice"' in stale.text
        assert len(calls) == 2
