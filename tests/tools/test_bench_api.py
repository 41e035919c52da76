"""The read benches' tools: the synthetic index (bench/fill_index.py) holds exactly the sizes
asked for, through the real projection, on both backends, and is built once; wrk's output is
read right; the document the bench uploads is the one its hash check looks up."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bench.api import _lua, endpoints, parse_wrk
from bench import fill_index
from bench.fill_index import (
    LARGEST_ID,
    MUNICIPALITIES,
    NO_MATCH_WORD,
    OVERVIEW_MUNICIPALITY,
    SEARCH_WORD,
    TYPICAL_DELIVERIES,
    TYPICAL_ID,
    Sizes,
    cached_fills,
    fill,
    plan,
)
from ledger.db import make_engine
from ledger.db.models import CheckpointRow, Commitment, Delivery, EventError, EventRow
from tests.db.databases import BACKENDS, POSTGRES_URL, skip_unless_backend

TINY = Sizes(commitments=30, deliveries=200, largest=50)


def test_plan_has_exactly_the_sizes_and_the_picks() -> None:
    sizes = Sizes(commitments=1_000, deliveries=10_000, largest=500)
    plans = plan(sizes)
    assert [p.cid for p in plans] == list(range(1, 1_001))
    assert sum(len(p.deliveries) for p in plans) == 10_000
    assert len(plans[LARGEST_ID - 1].deliveries) == 500
    typical = plans[TYPICAL_ID - 1]
    assert (len(typical.deliveries), typical.municipality_id, typical.withdrawn_at) == (TYPICAL_DELIVERIES, OVERVIEW_MUNICIPALITY, None)
    assert [p.registered for p in plans] == sorted(p.registered for p in plans)
    assert {p.municipality_id for p in plans} == {m[0] for m in MUNICIPALITIES}
    assert all(at > p.registered for p in plans for at, _q in p.deliveries)
    assert all(at <= p.withdrawn_at for p in plans if p.withdrawn_at for at, _q in p.deliveries)
    assert 10 <= sum(p.withdrawn_at is not None for p in plans) <= 60  # 3 % of 1,000
    assert plan(sizes) == plans  # seeded: the same sizes give the same facts


def test_plan_refuses_sizes_it_cannot_hold() -> None:
    with pytest.raises(ValueError):
        plan(Sizes(commitments=1, deliveries=100, largest=10))
    with pytest.raises(ValueError):
        plan(Sizes(commitments=10, deliveries=15, largest=10))


@pytest.mark.parametrize("backend", BACKENDS)
def test_fill_applies_every_event_once_and_reuses_the_cache(backend: str, tmp_path: Path) -> None:
    skip_unless_backend(backend)
    postgres_url = POSTGRES_URL if backend == "postgresql" else None
    manifest = fill(TINY, postgres_url=postgres_url, chunk_events=40, echo=False, cache_dir=tmp_path)
    engine = make_engine(manifest.database_url)
    try:
        with engine.connect() as conn:
            count = lambda query: conn.scalar(select(func.count()).select_from(query))  # noqa: E731
            assert count(Commitment) == 30
            assert count(Delivery) == 200
            assert count(select(Delivery).where(Delivery.commitment_id == LARGEST_ID).subquery()) == 50
            assert count(select(Delivery).where(Delivery.commitment_id == TYPICAL_ID).subquery()) == TYPICAL_DELIVERIES
            assert count(EventRow) == manifest.events
            assert count(EventError) == 0
            assert conn.scalar(select(CheckpointRow.last_block)) == manifest.last_block
            texts = conn.scalars(select(Commitment.search_text)).all()
        assert any(SEARCH_WORD in t for t in texts) and not any(NO_MATCH_WORD in t for t in texts)
        assert fill(TINY, postgres_url=postgres_url, echo=False, cache_dir=tmp_path) == manifest  # found, not refilled
    finally:
        engine.dispose()
        if postgres_url:
            admin = make_engine(postgres_url)
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{manifest.postgres_schema}" CASCADE')
            admin.dispose()


def test_a_fill_by_other_code_is_rebuilt_unless_reused_and_dropped_once_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = fill(TINY, echo=False, cache_dir=tmp_path)
    monkeypatch.setattr(fill_index, "fingerprint", lambda: "000000000000")
    assert fill(TINY, echo=False, cache_dir=tmp_path, reuse_any_code=True) == first
    second = fill(TINY, echo=False, cache_dir=tmp_path)
    assert second.database_url != first.database_url
    assert [m for _p, m in cached_fills(TINY, None, tmp_path)] == [second]
    assert not Path(make_url(first.database_url).database).exists()


def test_a_prefix_holds_the_first_chunks_and_a_stopped_fill_resumes_after_them(tmp_path: Path) -> None:
    prefix = fill(Sizes(30, 200, 50, events=120), chunk_events=40, echo=False, cache_dir=tmp_path)
    assert 120 <= prefix.events < 283 and prefix.resumed_events == 0
    assert prefix.counts["commitments"] < 30 and prefix.counts["deliveries"] < 200
    # the prefix's database under the whole chain's name: a fill of the whole chain that was stopped
    whole_url = prefix.database_url.replace("-e120-", "-")
    Path(make_url(prefix.database_url).database).rename(make_url(whole_url).database)
    whole = fill(TINY, chunk_events=40, echo=False, cache_dir=tmp_path)
    assert (whole.database_url, whole.resumed_events, whole.last_block) == (whole_url, prefix.events, fresh_last_block(tmp_path))
    assert whole.counts == {"commitments": 30, "deliveries": 200, "largest": 50}
    engine = make_engine(whole.database_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(EventRow)) == whole.events
    finally:
        engine.dispose()


def fresh_last_block(tmp_path: Path) -> int:
    """The last block of the whole tiny chain, filled from nothing elsewhere."""
    return fill(TINY, chunk_events=40, echo=False, cache_dir=tmp_path / "fresh").last_block


WRK_OUTPUT = """Running 5s test @ http://127.0.0.1:8760/ping
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.10ms    2.01ms  30.00ms   90.00%
    Req/Sec     1.00k    50.00     1.10k    70.00%
  Latency Distribution
     50%  750.00us
     75%    9.00ms
     90%   10.00ms
     99%    1.20s
  5012 requests in 5.00s, 0.90MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   1002.40
Transfer/sec:    184.00KB
"""


def test_parse_wrk_reads_rate_latencies_in_ms_and_errors() -> None:
    assert parse_wrk(WRK_OUTPUT) == (1002.40, 0.75, 1200.0, 5012, 7)
    with pytest.raises(ValueError):
        parse_wrk("unable to connect to 127.0.0.1:8760 Connection refused")


def test_the_uploaded_document_is_the_one_the_hash_check_finds(tmp_path: Path) -> None:
    manifest = fill(TINY, echo=False, cache_dir=tmp_path)
    by_path = {e.path: e for e in endpoints(manifest)}
    upload = by_path["/api/v1/verify"].body
    assert "0x" + hashlib.sha256(upload).hexdigest() == manifest.evidence_sha256
    assert f"/api/v1/verify/{manifest.evidence_sha256}" in by_path
    script = _lua(tmp_path, upload).read_text(encoding="ascii")
    body = bytes(int(n) for n in re.findall(r"\\(\d+)", re.search(r'wrk.body = "(.*)"', script).group(1)))
    assert body == (b'--benchboundary8\r\nContent-Disposition: form-data; name="file"; filename="document.pdf"\r\n'
                    b"Content-Type: application/pdf\r\n\r\n" + upload + b"\r\n--benchboundary8--\r\n")
