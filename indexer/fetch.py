"""Fetch layer: the only caller of ``eth_getLogs`` (through ``LedgerChain.get_logs``).

Block ranges are inclusive on both ends, as in ``eth_getLogs``. When the provider refuses a
range as too large, the range is halved (down to one block) and the smaller size is kept for
the rest of the request.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Protocol

from ledger.errors import LogRangeTooLargeError

log = logging.getLogger(__name__)


class LogSource(Protocol):
    """What :func:`fetch_range` needs: ``LedgerChain.get_logs``."""

    def get_logs(self, from_block: int, to_block: int) -> list[Mapping[str, Any]]:
        """Raw logs of the ledger in ``from_block..to_block`` (inclusive)."""
        ...


def fetch_range(chain: LogSource, from_block: int, to_block: int) -> list[Mapping[str, Any]]:
    """Every raw log of the ledger in blocks ``from_block..to_block``, both inclusive, in
    ascending block order (node order within a request).

    On :class:`~ledger.errors.LogRangeTooLargeError` the request is repeated over the first
    half of the range, down to a single block; the reduced size is then used for the rest.

    Args:
        chain: the chain client (``LedgerChain`` or anything with its ``get_logs``).
        from_block: first block, inclusive.
        to_block: last block, inclusive (>= ``from_block``).

    Returns:
        The raw logs (dicts as returned by web3), not decoded.

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
            log.info("eth_getLogs refused blocks %d..%d; retrying %d blocks at a time", start, end, span)
            continue
        logs.extend(part)
        start = end + 1
    return logs
