"""Fixtures of the indexer tests on the real (anvil) chain (helpers: ledger_txs.py)."""

from __future__ import annotations

import os
from typing import Callable

import pytest

from ledger.chain import LedgerChain
from tests.indexer.ledger_txs import Refs


@pytest.fixture(scope="module")
def refs(chain: LedgerChain) -> Refs:
    return Refs(chain)


@pytest.fixture(scope="module")
def chain_time(chain: LedgerChain) -> Callable[[], int]:
    """Time of the chain's latest block, Unix seconds."""

    def now() -> int:
        info = chain.block(chain.head_block_number())
        assert info is not None
        return info.timestamp

    return now
