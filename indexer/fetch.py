"""Fetch layer: the only caller of ``eth_getLogs`` (through ``LedgerChain.get_logs``).

Block ranges are inclusive on both ends, as in ``eth_getLogs``. When the provider refuses a
range as too large, the range is halved (down to one block) and the smaller size is kept for
the rest of the request (and, through a :class:`RangeSizer`, for the requests after it).

A backfill asks for ranges as big as the chain's density allows (:func:`fetch_chunk`): a
:class:`RangeSizer` starts at ``min(log_chunk_blocks, INITIAL_RANGE_BLOCKS)`` blocks per
request and doubles while requests return fewer than half of ``log_chunk_events`` logs, up to
``log_chunk_blocks`` (and to what the provider accepted: a refused range caps the next ones);
a request that returned more shrinks the next one in proportion. A chunk (one transaction of
the indexer) ends early once it holds ``log_chunk_events`` logs, so it holds about that many
at most, whatever the number of blocks: this bounds the indexer's memory (10,000 delivery
logs are about 20 MB of JSON).
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Protocol

from ledger.errors import LogRangeTooLargeError

log = logging.getLogger(__name__)

INITIAL_RANGE_BLOCKS = 16
"""Blocks of a process's first ``eth_getLogs`` request (when ``log_chunk_blocks`` is larger):
small enough that a dense chain's first answer stays small; doubled at each sparse answer."""


class LogSource(Protocol):
    """What :func:`fetch_range` needs: ``LedgerChain.get_logs``."""

    def get_logs(self, from_block: int, to_block: int) -> list[Mapping[str, Any]]:
        """Raw logs of the ledger in ``from_block..to_block`` (inclusive)."""
        ...


class RangeSizer:
    """The block range of the indexer's next ``eth_getLogs`` request (module docstring).

    Args:
        max_blocks: largest range, in blocks (``log_chunk_blocks``, >= 1).
        max_logs: logs a chunk aims to hold at most (``log_chunk_events``, >= 1).

    Raises:
        ValueError: ``max_blocks`` or ``max_logs`` < 1.
    """

    def __init__(self, max_blocks: int, max_logs: int) -> None:
        if max_blocks < 1 or max_logs < 1:
            raise ValueError(f"A range needs at least 1 block and 1 log, got {max_blocks} and {max_logs}")
        self.max_blocks = max_blocks
        self.max_logs = max_logs
        self.blocks = min(max_blocks, INITIAL_RANGE_BLOCKS)

    def end_of(self, start: int, last: int) -> int:
        """Last block (inclusive) of the request that starts at ``start``, at most ``last``."""
        return min(start + self.blocks - 1, last)

    def fetched(self, blocks: int, logs: int) -> None:
        """A request over ``blocks`` blocks returned ``logs`` logs: size the next one from it."""
        if logs > self.max_logs:
            self.blocks = max(1, blocks * self.max_logs // logs)
        elif 2 * logs < self.max_logs and blocks >= self.blocks:  # a full-size request, sparse
            self.blocks = min(self.max_blocks, 2 * self.blocks)

    def refused(self, blocks: int) -> None:
        """The provider refused a range and is asked again for ``blocks`` blocks: from now on
        no request is longer (a provider's limit does not move; growing again would be
        refused again, one wasted request each time)."""
        self.max_blocks = max(1, min(self.max_blocks, blocks))
        self.blocks = min(self.blocks, self.max_blocks)


def fetch_chunk(chain: LogSource, from_block: int, to_block: int, sizer: RangeSizer) -> tuple[list[Mapping[str, Any]], int]:
    """The raw logs of one indexer chunk: blocks ``from_block`` up to ``to_block`` (both
    inclusive), in requests sized by ``sizer``, ending early once the chunk holds
    ``sizer.max_logs`` logs (at the end of the request that reached it).

    Returns:
        ``(logs, last)``: the logs of blocks ``from_block..last``, in ascending block order,
        and ``last`` (<= ``to_block``), the last block they cover.

    Raises:
        ValueError: ``to_block`` < ``from_block``.
        LogRangeTooLargeError: the provider refuses even a single block.
        ChainUnavailableError: the node cannot be reached (nothing is returned).
    """
    if to_block < from_block:
        raise ValueError(f"Empty block range {from_block}..{to_block} (inclusive).")
    logs: list[Mapping[str, Any]] = []
    start = from_block
    while True:
        end = sizer.end_of(start, to_block)
        part = fetch_range(chain, start, end, sizer)
        sizer.fetched(end - start + 1, len(part))
        logs.extend(part)
        if end == to_block or len(logs) >= sizer.max_logs:
            return logs, end
        start = end + 1


def fetch_range(
    chain: LogSource, from_block: int, to_block: int, sizer: RangeSizer | None = None
) -> list[Mapping[str, Any]]:
    """Every raw log of the ledger in blocks ``from_block..to_block``, both inclusive, in
    ascending block order (node order within a request).

    On :class:`~ledger.errors.LogRangeTooLargeError` the request is repeated over the first
    half of the range, down to a single block; the reduced size is then used for the rest
    (and told to ``sizer``, so that the next requests keep to it).

    Args:
        chain: the chain client (``LedgerChain`` or anything with its ``get_logs``).
        from_block: first block, inclusive.
        to_block: last block, inclusive (>= ``from_block``).
        sizer: the indexer's range sizer, told of refusals; ``None``: nobody to tell.

    Returns:
        The raw logs (plain dicts as ``LedgerChain.get_logs`` returns them), not decoded.

    Raises:
        ValueError: ``to_block`` < ``from_block``.
        LogRangeTooLargeError: the provider refuses even a single block.
        ChainUnavailableError: the node cannot be reached (nothing is returned).
    """
    if to_block < from_block:
        raise ValueError(f"Empty block range {from_block}..{to_block} (inclusive).")
    logs: list[Mapping[str, Any]] = []
    span = to_block - from_block + 1
    start = from_block
    while start <= to_block:
        end = min(start + span - 1, to_block)
        try:
            part = chain.get_logs(start, end)
        except LogRangeTooLargeError:
            if start == end:
                raise
            span = max(1, (end - start + 1) // 2)
            if sizer is not None:
                sizer.refused(span)
            log.info("eth_getLogs refused blocks %d..%d; retrying %d blocks at a time", start, end, span)
            continue
        logs.extend(part)
        start = end + 1
    return logs
