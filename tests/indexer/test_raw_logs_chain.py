"""The indexer's raw reads (ledger/chain.py, indexer/fetch.py): ``eth_getLogs`` as plain JSON,
block headers in ONE JSON-RPC batch request (one per chunk of the indexer, never one call per
block), typed errors for a batch, and chunks sized by the chain's density (at most
``log_chunk_blocks`` blocks, ended early once they hold ``log_chunk_events`` logs) that build
the same index as one chunk over everything."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from indexer.fetch import INITIAL_RANGE_BLOCKS, RangeSizer, fetch_chunk
from indexer.loop import Indexer
from ledger.chain import MAX_BATCH_CALLS, LedgerChain
from ledger.errors import ChainRpcError, ChainUnavailableError
from ledger.settings import Settings
from tests.db.databases import BACKENDS, dump_index, fresh_database
from tests.indexer.ledger_txs import DAY, commitment_input, delivery_input, indexer_settings, sha
from scripts.stack import free_port
from tests.indexer.limited_rpc import limited_rpc

CLOCK = 1_800_000_000.0


@pytest.fixture(scope="module")
def busy(chain: LedgerChain, roles: Any, chain_time: Any) -> int:
    """Three commitments and twelve deliveries (some in one multicall); returns the head."""
    t = chain_time()
    for i in range(1, 4):
        chain.send("registerCommitment", [commitment_input(1, f"raw-{i}", f"Raw {i}", target=100, due=t + DAY)],
                   roles.registrar.key)
    for d in range(1, 7):
        chain.send("recordDelivery", [d % 3 + 1, delivery_input(1, t - DAY, [sha(f"raw{d}")], ref=f"raw{d}")],
                   roles.registrar.key)
    chain.send_multicall([("recordDelivery", [1, delivery_input(1, t - DAY, [sha(f"m{d}")], ref=f"m{d}")])
                          for d in range(6)], roles.registrar.key)
    return chain.head_block_number()


class Posts:
    """The JSON bodies ``chain`` POSTs (its raw JSON-RPC session), by JSON-RPC method."""

    def __init__(self, chain: LedgerChain) -> None:
        self.bodies: list[Any] = []
        chain._http.hooks["response"].append(self._seen)

    def _seen(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.bodies.append(json.loads(response.request.body))

    def of(self, method: str) -> list[Any]:
        """Requests of ``method``: single calls and batches whose calls are all ``method``."""
        return [b for b in self.bodies if (b["method"] if isinstance(b, dict) else {c["method"] for c in b}) in (method, {method})]


@pytest.fixture
def watched(chain: LedgerChain) -> Iterator[tuple[LedgerChain, Posts]]:
    fresh = LedgerChain(chain.rpc_url, chain.deployment)
    yield fresh, Posts(fresh)


def test_get_logs_is_one_raw_request_of_plain_json(watched: tuple[LedgerChain, Posts], busy: int) -> None:
    chain, posts = watched
    logs = chain.get_logs(chain.deployment.deploy_block, busy)
    assert len(posts.bodies) == 1 and posts.bodies[0]["method"] == "eth_getLogs"
    assert posts.bodies[0]["params"] == [{"address": chain.deployment.contract_address.lower(),
                                          "fromBlock": hex(chain.deployment.deploy_block), "toBlock": hex(busy)}]
    names = [event.name for event in chain.decoder.decode_all(logs)]
    assert names.count("CommitmentRegistered") == 3 and names.count("DeliveryRecorded") == 12
    first = logs[0]
    assert set(first) >= {"address", "topics", "data", "blockHash", "blockNumber", "transactionHash", "logIndex"}
    assert isinstance(first["blockNumber"], int) and isinstance(first["logIndex"], int)
    assert isinstance(first["blockTimestamp"], int) and isinstance(first["blockHash"], str)


def test_headers_come_in_one_batch_request_and_missing_blocks_are_left_out(watched: tuple[LedgerChain, Posts], busy: int) -> None:
    chain, posts = watched
    headers = chain.blocks([busy, busy - 1, busy, busy + 1000, 1])
    assert sorted(headers) == [1, busy - 1, busy]
    assert len(posts.bodies) == 1 and len(posts.bodies[0]) == 4  # duplicates asked once
    assert headers[busy] == chain.block(busy)
    assert headers[busy].parent_hash == headers[busy - 1].hash
    assert chain.blocks([]) == {} and len(posts.bodies) == 2  # no request for no block (the 2nd is block())


def test_more_headers_than_a_batch_takes_go_in_several_batches(watched: tuple[LedgerChain, Posts], busy: int) -> None:
    chain, posts = watched
    beyond = list(range(busy + 1, busy + 1 + MAX_BATCH_CALLS))  # beyond the head: none there
    headers = chain.blocks(list(range(busy + 1)) * 2 + beyond)  # every block, twice
    assert sorted(headers) == list(range(busy + 1))
    distinct = busy + 1 + MAX_BATCH_CALLS
    sizes = [MAX_BATCH_CALLS] * (distinct // MAX_BATCH_CALLS) + ([distinct % MAX_BATCH_CALLS] if distinct % MAX_BATCH_CALLS else [])
    assert [len(body) for body in posts.bodies] == sizes


def test_an_error_answer_inside_a_batch_is_a_typed_error(chain: LedgerChain, busy: int) -> None:
    with limited_rpc(chain.rpc_url, free_port()) as proxy:
        limited = LedgerChain(proxy.url, chain.deployment)
        assert sorted(limited.blocks([1, 2])) == [1, 2]
        proxy.failing["eth_getBlockByNumber"] = {"code": -32603, "message": "internal error"}
        with pytest.raises(ChainRpcError) as info:
            limited.blocks([1, 2])
    assert (info.value.method, info.value.code, info.value.reason) == ("eth_getBlockByNumber", -32603, "internal error")


def test_an_unreachable_node_is_unavailable_for_raw_reads(chain: LedgerChain) -> None:
    gone = LedgerChain("http://127.0.0.1:9", chain.deployment, request_timeout_seconds=2)
    for read in (lambda: gone.get_logs(1, 2), lambda: gone.blocks([1]), gone.head_block_number, lambda: gone.block(1)):
        with pytest.raises(ChainUnavailableError):
            read()


# ---------------------------------------------------------------- chunks


def test_the_range_grows_while_sparse_shrinks_when_dense_and_keeps_below_a_refusal() -> None:
    sizer = RangeSizer(max_blocks=1000, max_logs=100)
    assert sizer.blocks == INITIAL_RANGE_BLOCKS
    sizer.fetched(INITIAL_RANGE_BLOCKS, 10)
    assert sizer.blocks == 2 * INITIAL_RANGE_BLOCKS
    sizer.fetched(2 * INITIAL_RANGE_BLOCKS, 50)  # half full: stays
    assert sizer.blocks == 2 * INITIAL_RANGE_BLOCKS
    sizer.fetched(2 * INITIAL_RANGE_BLOCKS, 400)  # 4 times too many: a quarter of the range
    assert sizer.blocks == INITIAL_RANGE_BLOCKS // 2
    sizer.fetched(3, 1)  # a short request (the end of a range) does not grow it
    assert sizer.blocks == INITIAL_RANGE_BLOCKS // 2
    sizer.fetched(1, 10**6)
    assert sizer.blocks == 1
    for _ in range(20):
        sizer.fetched(sizer.blocks, 0)
    assert sizer.blocks == 1000
    sizer.refused(300)
    sizer.fetched(300, 0)
    assert (sizer.blocks, sizer.max_blocks) == (300, 300)
    assert RangeSizer(max_blocks=5, max_logs=1).blocks == 5
    with pytest.raises(ValueError):
        RangeSizer(max_blocks=0, max_logs=1)


class Blocks:
    """A chain whose block ``n`` holds ``density(n)`` logs; records the ranges asked."""

    def __init__(self, density: Any) -> None:
        self.density = density
        self.asked: list[tuple[int, int]] = []

    def get_logs(self, from_block: int, to_block: int) -> list[dict[str, Any]]:
        self.asked.append((from_block, to_block))
        return [{"blockNumber": n, "logIndex": i} for n in range(from_block, to_block + 1) for i in range(self.density(n))]


def test_a_chunk_ends_early_once_it_holds_enough_logs_and_never_skips_a_block() -> None:
    chain = Blocks(lambda n: 10)
    sizer = RangeSizer(max_blocks=1000, max_logs=100)
    logs, last = fetch_chunk(chain, 1, 10_000, sizer)
    assert chain.asked == [(1, 16)] and last == 16 and len(logs) == 160  # too many: the next range is shorter
    logs, last = fetch_chunk(chain, 17, 10_000, sizer)
    assert chain.asked[1:] == [(17, 26)] and last == 26 and len(logs) == 100
    sparse = Blocks(lambda n: 1 if n % 50 == 0 else 0)
    logs, last = fetch_chunk(sparse, 1, 500, RangeSizer(max_blocks=1000, max_logs=100))
    assert last == 500 and [log["blockNumber"] for log in logs] == list(range(50, 501, 50))
    assert [b - a + 1 for a, b in sparse.asked] == [16, 32, 64, 128, 256, 4]  # grows while sparse, ends at the chunk's end
    assert all(b[0] == a[1] + 1 for a, b in zip(sparse.asked, sparse.asked[1:]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_small_chunks_and_batched_headers_build_the_same_index_as_one_chunk(
    backend: str, chain: LedgerChain, busy: int, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    whole = indexer_settings(settings, confirmations=0, log_chunk_blocks=100_000)
    small = indexer_settings(settings, confirmations=0, log_chunk_blocks=4, log_chunk_events=2)
    watched = LedgerChain(chain.rpc_url, chain.deployment)
    posts = Posts(watched)
    with fresh_database(backend, tmp_path / "one") as one, fresh_database(backend, tmp_path / "many") as many:
        Indexer(chain, one.sessions, whole, clock=lambda: CLOCK).run_once()
        with caplog.at_level(logging.INFO, logger="indexer.loop"):
            Indexer(watched, many.sessions, small, clock=lambda: CLOCK).run_once()
        assert chain.head_block_number() == busy
        assert dump_index(many.engine) == dump_index(one.engine)
    chunks = [r.args for r in caplog.records if r.getMessage().startswith("Indexed blocks")]
    assert all(b[0] == a[1] + 1 for a, b in zip(chunks, chunks[1:]))  # (from, to, blocks, ...): no gap
    assert any(blocks < 4 for _, _, blocks, *_ in chunks[:-1])  # ended early: it held 2 logs
    headers = posts.of("eth_getBlockByNumber")
    assert len(headers) == len(chunks) and all(isinstance(body, list) for body in headers)  # one batch per chunk
