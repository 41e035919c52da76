"""Fixtures of the tool tests (gas bench, slither gate, deployment safety).

These tests never use brownie's chain on port 8545: each module that needs a chain starts its
own throwaway anvil (``bench.anvil``) on a free port, with the hardfork pinned.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from bench.anvil import throwaway_anvil


@pytest.fixture(scope="module")
def anvil_url() -> Iterator[str]:
    """RPC URL of a fresh anvil for this module (standard ``test ... junk`` accounts, chain id 31337)."""
    with throwaway_anvil() as url:
        yield url
