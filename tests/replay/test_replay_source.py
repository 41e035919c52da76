"""The auditor's chain access under a difficult node: refused ranges, foreign logs, no node."""

from __future__ import annotations

from typing import Any, Mapping

import pytest
from web3.exceptions import Web3RPCError

from ledger.deployment import Deployment
from replay_support import Scenario
from scripts.audit.errors import LogRangeRefusedError, ReplayChainError
from scripts.audit.report import build_report
from scripts.audit.runner import ReplayTarget, replay_ledger
from scripts.audit.source import ChainSource


class PickyNode(ChainSource):
    """Refuses ``eth_getLogs`` over more than ``max_blocks`` blocks, like hosted providers."""

    def __init__(self, rpc_url: str, max_blocks: int) -> None:
        super().__init__(rpc_url)
        self.max_blocks = max_blocks
        self.ranges: list[tuple[int, int]] = []

    def logs(self, address: str, from_block: int, to_block: int) -> list[Mapping[str, Any]]:
        if to_block - from_block + 1 > self.max_blocks:
            raise Web3RPCError(f"query exceeds max block range {self.max_blocks}")
        self.ranges.append((from_block, to_block))
        return super().logs(address, from_block, to_block)


class NodeWithAStrayLog(ChainSource):
    """Returns, next to the real logs, one log whose topic is no event of the ledger."""

    def logs(self, address: str, from_block: int, to_block: int) -> list[Mapping[str, Any]]:
        real = super().logs(address, from_block, to_block)
        if not real:
            return real
        first = dict(real[0])
        first.update(topics=["0x" + "ee" * 32], data="0x", logIndex=999)
        return [*real, first]


def target(rpc_url: str, deployment: Deployment, **kwargs: Any) -> ReplayTarget:
    return ReplayTarget(rpc_url, deployment.contract_address, deployment.deploy_block, **kwargs)


def test_a_refused_range_is_halved_until_the_node_accepts_it(scenario: Scenario, rpc_url: str, deployment: Deployment) -> None:
    reference = replay_ledger(target(rpc_url, deployment))
    node = PickyNode(rpc_url, max_blocks=3)
    picky = replay_ledger(target(rpc_url, deployment, to_block=reference.to_block, chunk_blocks=1000), source=node)
    assert all(end - start + 1 <= 3 for start, end in node.ranges)
    assert [start for start, _ in node.ranges][0] == deployment.deploy_block
    assert node.ranges[-1][1] == reference.to_block
    assert all(b[0] == a[1] + 1 for a, b in zip(node.ranges, node.ranges[1:]))  # no gap, no overlap
    first, second = build_report(reference, 0, generated_at=0), build_report(picky, 0, generated_at=0)
    for volatile in ("seconds", "head_block"):
        first.pop(volatile), second.pop(volatile)
    assert first == second


def test_a_node_refusing_even_one_block_stops_the_replay(scenario: Scenario, rpc_url: str, deployment: Deployment) -> None:
    with pytest.raises(LogRangeRefusedError) as caught:
        replay_ledger(target(rpc_url, deployment), source=PickyNode(rpc_url, max_blocks=0))
    assert caught.value.block_number == deployment.deploy_block


def test_an_undecodable_log_is_reported_as_an_anomaly_and_the_rest_is_rebuilt(
    scenario: Scenario, rpc_url: str, deployment: Deployment
) -> None:
    result = replay_ledger(target(rpc_url, deployment, chunk_blocks=5), source=NodeWithAStrayLog(rpc_url))
    kinds = {a.kind for a in result.state.anomalies}
    assert kinds == {"undecodable-log"}
    assert len(result.state.commitments) == 10 and len(result.state.deliveries) == 12


def test_an_unreachable_node_raises_a_chain_error(deployment: Deployment) -> None:
    with pytest.raises(ReplayChainError):
        replay_ledger(ReplayTarget("http://127.0.0.1:9", deployment.contract_address, deployment.deploy_block))
