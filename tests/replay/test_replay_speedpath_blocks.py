"""The replay's block times: from the logs' own ``blockTimestamp`` (anvil sends it) with no
header read per block, or, from a node that does not send it, from the chunk's headers read in
ONE batch request per chunk; both give the same report, byte for byte."""

from __future__ import annotations

import json
from typing import Any, Iterable

import pytest

from ledger.deployment import Deployment
from replay_support import Scenario
from scripts.audit.errors import ReplayChainError, ReplayConfigError
from scripts.audit.report import build_report
from scripts.audit.runner import ReplayResult, ReplayTarget, replay_ledger
from scripts.audit.source import BlockHeader, ChainSource


class CountingNode(ChainSource):
    """Records every header asked for: one by one (``block``) and in batches (``blocks``)."""

    def __init__(self, rpc_url: str, *, send_block_time: bool = True) -> None:
        super().__init__(rpc_url)
        self.send_block_time = send_block_time
        self.single: list[int] = []
        self.batches: list[list[int]] = []
        self.chunks: list[list[int]] = []

    def block(self, number: int, *, fresh: bool = False) -> BlockHeader:
        self.single.append(number)
        return super().block(number, fresh=fresh)

    def blocks(self, numbers: Iterable[int]) -> dict[int, BlockHeader]:
        wanted = sorted(set(numbers))
        if wanted:
            self.batches.append(wanted)
        return super().blocks(wanted)

    def logs(self, address: str, from_block: int, to_block: int) -> list[dict[str, Any]]:
        logs = super().logs(address, from_block, to_block)
        if not self.send_block_time:  # a node before geth 1.14
            for log in logs:
                del log["blockTimestamp"]
        self.chunks.append(sorted({log["blockNumber"] for log in logs}))
        return logs


def report_of(result: ReplayResult) -> str:
    report = build_report(result, 1_900_000_000, generated_at=0)
    for volatile in ("seconds", "head_block"):
        report.pop(volatile)
    return json.dumps(report, sort_keys=True)


@pytest.fixture(scope="module")
def target(scenario: Scenario, rpc_url: str, deployment: Deployment) -> ReplayTarget:
    head = ChainSource(rpc_url).head_block_number()
    return ReplayTarget(rpc_url, deployment.contract_address, deployment.deploy_block, to_block=head, chunk_blocks=7,
                        chain_id=deployment.chain_id, deploy_block_hash=deployment.deploy_block_hash)


def test_block_times_from_the_logs_read_no_header_per_block(target: ReplayTarget, rpc_url: str) -> None:
    node = CountingNode(rpc_url)
    result = replay_ledger(target, source=node)
    assert not result.state.anomalies
    assert node.batches == []
    # the deploy block (its hash is checked) and the last block, before the logs and after them
    assert node.single == [target.deploy_block, target.to_block, target.to_block]


def test_without_block_times_in_the_logs_each_chunk_reads_its_headers_in_one_batch(target: ReplayTarget, rpc_url: str) -> None:
    with_times = replay_ledger(target, source=CountingNode(rpc_url))
    node = CountingNode(rpc_url, send_block_time=False)
    without = replay_ledger(target, source=node)
    assert node.batches == [blocks for blocks in node.chunks if blocks]
    assert len(node.chunks) > 3 and len(node.batches) > 3
    assert report_of(without) == report_of(with_times)


def test_a_header_batch_naming_a_block_beyond_the_head_is_refused(rpc_url: str, scenario: Scenario) -> None:
    source = ChainSource(rpc_url)
    head = source.head_block_number()
    assert sorted(source.blocks([head, head - 1, head])) == [head - 1, head]
    assert source.blocks([]) == {}
    with pytest.raises(ReplayConfigError):
        source.blocks([head, head + 1000])


def test_an_unreachable_node_is_a_chain_error_for_logs_and_headers() -> None:
    source = ChainSource("http://127.0.0.1:9")
    with pytest.raises(ReplayChainError):
        source.blocks([1])
    with pytest.raises(ReplayChainError):
        source.logs("0x" + "11" * 20, 1, 2)

