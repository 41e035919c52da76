"""HTTP caching of reads (``api.caching``): ETag and 304, Cache-Control on reads, writes,
health and staff routes, and the answers kept in memory — served again only for the index
state, evidence store and status second they were made for."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from api import caching
from api.deps import get_now
from ledger.db import repository
from tests.api.history_index import count_calls, LONG, SHORT, HistoryIndex, client_of, history_index
from tests.db.script import DAY, sha


@pytest.fixture()
def index(tmp_path: Path) -> Iterator[HistoryIndex]:
    with history_index(tmp_path) as built:
        yield built


@pytest.fixture()
def client(index: HistoryIndex) -> Iterator[Any]:
    with client_of(index.settings()) as test_client:
        yield test_client


def test_a_read_has_an_etag_and_an_unchanged_one_is_a_304_without_body(client: Any) -> None:
    first = client.get(f"/api/v1/commitments/{SHORT}")
    etag = first.headers["etag"]
    assert etag == caching.etag_of(first.content) and etag.startswith('W/"') and len(etag) == 3 + 32 + 1
    assert first.headers["cache-control"] == "no-cache"
    again = client.get(f"/api/v1/commitments/{SHORT}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag and again.headers["cache-control"] == "no-cache"
    assert "content-type" not in again.headers
    assert client.get(f"/api/v1/commitments/{SHORT}", headers={"If-None-Match": f'"other", {etag}'}).status_code == 304
    assert client.get(f"/api/v1/commitments/{SHORT}", headers={"If-None-Match": "*"}).status_code == 304
    assert client.get(f"/api/v1/commitments/{SHORT}", headers={"If-None-Match": 'W/"other"'}).status_code == 200
    head = client.head(f"/api/v1/commitments/{SHORT}")
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag


def test_gzip_keeps_the_weak_etag_and_vary(client: Any) -> None:
    plain = client.get(f"/api/v1/commitments/{LONG}", headers={"Accept-Encoding": "identity"})
    zipped = client.get(f"/api/v1/commitments/{LONG}", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["etag"] == plain.headers["etag"]
    assert "Accept-Encoding" in zipped.headers["vary"]
    assert client.get(f"/api/v1/commitments/{LONG}", headers={"Accept-Encoding": "gzip", "If-None-Match": plain.headers["etag"]}).status_code == 304


def test_writes_health_and_staff_answers_are_no_store(client: Any) -> None:
    assert client.get("/api/v1/health").headers["cache-control"] == "no-store"
    assert client.get("/api/v1/health/live").headers["cache-control"] == "no-store"
    assert "etag" not in client.get("/api/v1/health").headers
    staff = client.get("/api/v1/staff/me")
    assert staff.status_code == 401 and staff.headers["cache-control"] == "no-store"
    posted = client.post("/api/v1/verify", files={"file": ("a.txt", b"hello")})
    assert posted.status_code == 200 and posted.headers["cache-control"] == "no-store" and "etag" not in posted.headers


def test_error_answers_get_no_etag(client: Any) -> None:
    missing = client.get("/api/v1/commitments/999")
    assert missing.status_code == 404 and "etag" not in missing.headers


def test_a_kept_answer_is_served_without_the_route_until_the_index_moves(
    client: Any, index: HistoryIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_calls(monkeypatch, "get_commitment")
    first = client.get(f"/api/v1/commitments/{SHORT}")
    second = client.get(f"/api/v1/commitments/{SHORT}")
    assert len(calls) == 1 and second.content == first.content and second.headers["etag"] == first.headers["etag"]
    assert second.headers["x-ledger-indexed-block"] == str(index.script.block)  # the edges still apply
    # a new delivery is indexed: the next read is made again and says so
    position = len(index.script.events)
    index.script.next_block()
    index.script.delivery(SHORT, 3, 1, index.script.time - DAY, evidence=[sha("third")])
    index.apply(position)
    third = client.get(f"/api/v1/commitments/{SHORT}")
    assert len(calls) == 2
    assert third.json()["deliveries_count"] == 3 and third.headers["etag"] != first.headers["etag"]
    assert client.get(f"/api/v1/commitments/{SHORT}", headers={"If-None-Match": first.headers["etag"]}).status_code == 200


def test_a_kept_answer_ends_the_second_a_status_turns_with_time(
    client: Any, index: HistoryIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    due = index.short_due
    clock = {"now": due - 5}
    monkeypatch.setattr(caching, "_unix_now", lambda: clock["now"])
    client.app.dependency_overrides[get_now] = lambda: clock["now"]
    calls = count_calls(monkeypatch, "get_commitment")
    assert client.get(f"/api/v1/commitments/{SHORT}").json()["status"] == "in_progress"
    clock["now"] = due  # still in time: the same answer, from memory
    assert client.get(f"/api/v1/commitments/{SHORT}").json()["status"] == "in_progress"
    assert len(calls) == 1
    clock["now"] = due + 1  # past the due date: overdue, computed again
    assert client.get(f"/api/v1/commitments/{SHORT}").json()["status"] == "overdue"
    assert len(calls) == 2
    client.app.dependency_overrides.clear()


def test_a_kept_answer_ends_when_an_evidence_file_is_stored(client: Any) -> None:
    store = client.app.state.evidence_store
    first = client.get(f"/api/v1/commitments/{SHORT}").json()
    assert [e["stored"] for d in first["deliveries"] for e in d["evidence"]] == [False, False]
    # the second delivery cites sha("shared-doc"): a file under that name arrives in the store
    store.directory.mkdir(parents=True, exist_ok=True)
    (store.directory / sha("shared-doc")[2:]).write_bytes(b"the second delivery's document")
    after = client.get(f"/api/v1/commitments/{SHORT}").json()
    assert [e["stored"] for d in after["deliveries"] for e in d["evidence"]] == [False, True]


def test_document_checks_are_kept_per_hash(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_calls(monkeypatch, "verify_hash")
    cited = sha("short-1")
    one = client.get(f"/api/v1/verify/{cited}")
    two = client.get(f"/api/v1/verify/{cited}")
    other = client.get(f"/api/v1/verify/{sha('nobody')}")
    assert one.json()["found"] is True and two.content == one.content and other.json()["found"] is False
    assert len(calls) == 2
    assert client.get(f"/api/v1/verify/{cited}", headers={"If-None-Match": one.headers["etag"]}).status_code == 304


def test_the_cache_is_bounded_in_entries_and_bytes() -> None:
    cache = caching.AnswerCache(max_entries=2, max_bytes=800)
    mark = caching.CacheMark((1, "0x", 0), None, None)
    for n in range(3):
        cache.put(("/a", str(n)), caching._Kept(mark, 200, [], b"x" * 10))
    assert len(cache) == 2 and cache.get(("/a", "0")) is None and cache.get(("/a", "2")) is not None
    cache.put(("/big",), caching._Kept(mark, 200, [], b"x" * 101))  # above max_bytes / 8: never kept
    assert cache.get(("/big",)) is None
    off = caching.AnswerCache(max_entries=0, max_bytes=800)
    off.put(("/a",), caching._Kept(mark, 200, [], b"x"))
    assert len(off) == 0


def test_no_answer_is_kept_when_the_cache_is_off(index: HistoryIndex, monkeypatch: pytest.MonkeyPatch) -> None:
    with client_of(index.settings(response_cache_entries=0)) as client:
        calls = count_calls(monkeypatch, "get_commitment")
        first = client.get(f"/api/v1/commitments/{SHORT}")
        client.get(f"/api/v1/commitments/{SHORT}")
        assert len(calls) == 2
        assert client.get(f"/api/v1/commitments/{SHORT}", headers={"If-None-Match": first.headers["etag"]}).status_code == 304


def test_the_index_version_names_the_checkpoint_and_the_batches_still_missing_their_file(index: HistoryIndex) -> None:
    with index.db.sessions() as session:
        version = repository.index_version(session)
    assert version == (index.script.block, "0x" + f"{index.script.block:064x}", 0)
