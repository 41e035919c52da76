"""Typed RPC errors of the chain client's read section (ledger/chain.py) through the
limited_rpc proxy in front of anvil: an ``eth_getLogs`` error response is a refusal whatever
its wording (the range is halved, by code, never by message text), an error response to
``eth_getBlockByNumber`` is a ``ChainRpcError`` (never a missing block, i.e. never a reorg), a
block the node does not have is ``None``; the indexer through a provider capped at 3 blocks
and 2 logs builds the same index as through the node itself."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from indexer.fetch import fetch_range
from indexer.loop import Indexer
from ledger.chain import LedgerChain
from ledger.errors import ChainRpcError, LogRangeTooLargeError
from ledger.settings import Settings
from tests.db.databases import BACKENDS, dump_index, fresh_database
from tests.indexer.ledger_txs import DAY, commitment_input, delivery_input, indexer_settings, sha
from tests.indexer.limited_rpc import LimitedRpc, limited_rpc

PORT = 8621


@pytest.fixture(scope="module")
def busy(chain: LedgerChain, roles, chain_time) -> int:
    t = chain_time()
    for i in range(1, 4):
        chain.send("registerCommitment", [commitment_input(1, f"rpc-{i}", f"RPC {i}", target=10, due=t + DAY)],
                   roles.registrar.key)
    for d in range(1, 6):
        chain.send("recordDelivery", [1, delivery_input(1, t - DAY, [sha(f"r{d}")], ref=f"r{d}")], roles.registrar.key)
    return chain.head_block_number()


@pytest.fixture
def proxy(rpc_url: str, busy: int) -> Iterator[LimitedRpc]:
    with limited_rpc(rpc_url, PORT, max_blocks=3, max_results=2) as running:
        yield running


def test_an_error_response_to_get_logs_is_a_refusal_with_its_code(proxy: LimitedRpc, chain: LedgerChain) -> None:
    limited = LedgerChain(proxy.url, chain.deployment)
    deploy = chain.deployment.deploy_block
    with pytest.raises(LogRangeTooLargeError) as refused:
        limited.get_logs(deploy, deploy + 9)
    assert (refused.value.code, refused.value.from_block, refused.value.to_block) == (-32602, deploy, deploy + 9)
    proxy.failing["eth_getLogs"] = {"code": -32000, "message": "anything at all"}
    with pytest.raises(LogRangeTooLargeError) as other:
        limited.get_logs(deploy, deploy)
    assert (other.value.code, other.value.reason) == (-32000, "anything at all")


def test_fetch_range_through_the_capped_provider_gets_every_log_once(proxy: LimitedRpc, chain: LedgerChain, busy: int) -> None:
    limited = LedgerChain(proxy.url, chain.deployment)
    deploy = chain.deployment.deploy_block
    got = fetch_range(limited, deploy, busy)
    expected = chain.get_logs(deploy, busy)
    assert [(log["blockNumber"], log["logIndex"]) for log in got] == [(log["blockNumber"], log["logIndex"]) for log in expected]
    assert proxy.counts.range_refused >= 1 and proxy.counts.largest_range_served <= 3


def test_an_error_response_for_a_block_is_a_typed_error_and_a_missing_block_is_none(
    proxy: LimitedRpc, chain: LedgerChain
) -> None:
    limited = LedgerChain(proxy.url, chain.deployment)
    assert limited.block(chain.head_block_number() + 1000) is None
    proxy.failing["eth_getBlockByNumber"] = {"code": -32603, "message": "internal error"}
    with pytest.raises(ChainRpcError) as info:
        limited.block(1)
    assert (info.value.method, info.value.code, info.value.reason) == ("eth_getBlockByNumber", -32603, "internal error")
    assert not isinstance(info.value, LogRangeTooLargeError)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_indexer_through_a_capped_provider_builds_the_same_index(
    backend: str, proxy: LimitedRpc, chain: LedgerChain, settings: Settings, tmp_path: Path
) -> None:
    chosen = indexer_settings(settings, confirmations=0, log_chunk_blocks=50)
    with fresh_database(backend, tmp_path / "direct") as direct, fresh_database(backend, tmp_path / "capped") as capped:
        Indexer(chain, direct.sessions, chosen, clock=lambda: 1_800_000_000).run_once()
        head = chain.head_block_number()
        Indexer(LedgerChain(proxy.url, chain.deployment), capped.sessions, chosen, clock=lambda: 1_800_000_000).run_once()
        assert chain.head_block_number() == head
        assert dump_index(capped.engine) == dump_index(direct.engine)
    assert proxy.counts.results_refused + proxy.counts.range_refused >= 1
