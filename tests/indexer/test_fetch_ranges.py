"""indexer.fetch on a fake chain that refuses log ranges longer than N blocks."""

from __future__ import annotations

from typing import Any

import pytest

from indexer.fetch import fetch_range
from ledger.errors import ChainUnavailableError, LogRangeTooLargeError


class RangeLimitedChain:
    """Has one log per block (``{"blockNumber": n}``); refuses ranges over ``max_blocks``."""

    def __init__(self, max_blocks: int, unavailable: bool = False) -> None:
        self.max_blocks = max_blocks
        self.unavailable = unavailable
        self.calls: list[tuple[int, int]] = []

    def get_logs(self, from_block: int, to_block: int) -> list[dict[str, Any]]:
        self.calls.append((from_block, to_block))
        if self.unavailable:
            raise ChainUnavailableError("http://fake", "connection refused")
        if to_block - from_block + 1 > self.max_blocks:
            raise LogRangeTooLargeError(from_block, to_block, "query returned more than 10000 results")
        return [{"blockNumber": n} for n in range(from_block, to_block + 1)]


def blocks(logs: list[dict[str, Any]]) -> list[int]:
    return [log["blockNumber"] for log in logs]


def test_a_range_the_provider_accepts_is_one_request() -> None:
    chain = RangeLimitedChain(max_blocks=100)
    assert blocks(fetch_range(chain, 10, 109)) == list(range(10, 110))
    assert chain.calls == [(10, 109)]


def test_a_refused_range_is_halved_and_the_smaller_size_is_kept() -> None:
    chain = RangeLimitedChain(max_blocks=3)
    assert blocks(fetch_range(chain, 1, 20)) == list(range(1, 21))
    assert chain.calls == [
        (1, 20),  # 20 blocks: refused
        (1, 10),  # refused
        (1, 5),  # refused
        (1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18), (19, 20),
    ]


@pytest.mark.parametrize("max_blocks", [1, 2, 5, 7, 64])
@pytest.mark.parametrize(("first", "last"), [(0, 0), (5, 6), (3, 100), (1000, 1999)])
def test_every_block_is_fetched_once_in_order_whatever_the_limit(max_blocks: int, first: int, last: int) -> None:
    chain = RangeLimitedChain(max_blocks)
    assert blocks(fetch_range(chain, first, last)) == list(range(first, last + 1))
    accepted = [(a, b) for a, b in chain.calls if b - a + 1 <= max_blocks]
    assert all(a <= b for a, b in chain.calls)
    assert sum(b - a + 1 for a, b in accepted) == last - first + 1


def test_a_provider_refusing_a_single_block_raises() -> None:
    chain = RangeLimitedChain(max_blocks=0)
    with pytest.raises(LogRangeTooLargeError) as info:
        fetch_range(chain, 7, 10)
    assert (info.value.from_block, info.value.to_block) == (7, 7)
    assert chain.calls == [(7, 10), (7, 8), (7, 7)]


def test_an_unavailable_chain_is_not_retried_here() -> None:
    chain = RangeLimitedChain(max_blocks=10, unavailable=True)
    with pytest.raises(ChainUnavailableError):
        fetch_range(chain, 1, 5)
    assert chain.calls == [(1, 5)]


def test_an_empty_range_is_refused() -> None:
    with pytest.raises(ValueError, match="Empty block range 5..4"):
        fetch_range(RangeLimitedChain(10), 5, 4)
