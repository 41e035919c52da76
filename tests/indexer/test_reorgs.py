"""Reorgs survived (indexer/loop.py, ledger.db.projection.roll_back_to) on a real anvil chain:
blocks replaced with ``evm_snapshot``/``evm_revert`` and new blocks, or with anvil's own
``anvil_reorg`` (depth, [transaction, block offset] pairs), at depths 1 to 5. After each the
index is rolled back to the common ancestor, indexed on, and equals a clean index of the same
chain row for row, on SQLite and PostgreSQL; the rollback is logged."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
from sqlalchemy import select

from indexer.loop import Indexer
from ledger.chain import LedgerChain
from ledger.db.models import Delivery
from ledger.settings import Settings
from tests.db.databases import BACKENDS, Database, dump_index, fresh_database
from tests.indexer.ledger_txs import DAY, commitment_input, delivery_input, indexer_settings, sha

CLOCK = 1_800_000_000


def clock() -> float:
    return CLOCK


def rpc(chain: LedgerChain, method: str, params: list[Any]) -> Any:
    answer = httpx.post(chain.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()
    assert "error" not in answer, answer
    return answer["result"]


def send_and_wait(chain: LedgerChain, tx: dict[str, Any]) -> None:
    """Send a transaction for anvil to sign and wait until it is mined (automine)."""
    tx_hash = rpc(chain, "eth_sendTransaction", [tx])
    while rpc(chain, "eth_getTransactionReceipt", [tx_hash]) is None:
        time.sleep(0.05)


def mine(chain: LedgerChain, blocks: int) -> None:
    for _ in range(blocks):
        rpc(chain, "evm_mine", [])


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def commitment(chain: LedgerChain, roles, chain_time: Callable[[], int]) -> int:
    """A commitment of municipality 1 (target 1000) with one delivery of 10 before any reorg."""
    t = chain_time()
    chain.send("registerCommitment", [commitment_input(1, "reorg-1", "Reorgs", target=1000, due=t + 30 * DAY)],
               roles.registrar.key)
    cid = chain.call("commitmentIdByRef", 1, "reorg-1")
    chain.send("recordDelivery", [cid, delivery_input(10, t - DAY, [sha("base")], ref="base")], roles.registrar.key)
    return cid


@pytest.fixture
def db(backend: str, commitment: int, tmp_path: Path) -> Iterator[Database]:
    with fresh_database(backend, tmp_path) as database:
        yield database


def index(chain: LedgerChain, db: Database, settings: Settings) -> int:
    return Indexer(chain, db.sessions, indexer_settings(settings, confirmations=0, log_chunk_blocks=3),
                   clock=clock).run_once()


def assert_same_as_a_clean_index(chain: LedgerChain, db: Database, settings: Settings, tmp_path: Path) -> None:
    with fresh_database(db.backend, tmp_path / "clean") as clean:
        Indexer(chain, clean.sessions, indexer_settings(settings, confirmations=0, log_chunk_blocks=10_000),
                clock=clock).run_once()
        assert dump_index(db.engine) == dump_index(clean.engine)


def deliveries(db: Database, commitment: int) -> list[tuple[int, str, int]]:
    with db.sessions() as session:
        return list(session.execute(
            select(Delivery.id, Delivery.external_ref, Delivery.quantity)
            .where(Delivery.commitment_id == commitment).order_by(Delivery.id)
        ))


def record_call(chain: LedgerChain, roles, commitment: int, quantity: int, ref: str, t: int) -> dict[str, Any]:
    """A ``recordDelivery`` transaction request for anvil to sign (its accounts are unlocked)."""
    data = chain.encode_call("recordDelivery", [commitment, delivery_input(quantity, t - DAY, [sha(ref)], ref=ref)])
    return {"from": roles.registrar.address, "to": chain.deployment.contract_address, "data": "0x" + data.hex(),
            "gas": hex(1_000_000)}


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_a_reorg_that_drops_a_delivery_is_rolled_back_and_indexed_again(
    depth: int, db: Database, chain: LedgerChain, roles, settings: Settings, commitment: int,
    chain_time: Callable[[], int], tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    index(chain, db, settings)
    before = deliveries(db, commitment)
    snapshot = rpc(chain, "evm_snapshot", [])
    ancestor = chain.head_block_number()
    dropped = f"dropped-{db.backend}-{depth}"
    chain.send("recordDelivery", [commitment, delivery_input(7, chain_time() - DAY, [sha(dropped)], ref=dropped)],
               roles.registrar.key)
    mine(chain, depth - 1)
    index(chain, db, settings)
    assert [ref for _, ref, _ in deliveries(db, commitment)] == [ref for _, ref, _ in before] + [dropped]

    assert rpc(chain, "evm_revert", [snapshot]) is True
    mine(chain, depth + 1)  # the same heights, without the delivery, and one block more
    with caplog.at_level(logging.WARNING, logger="indexer.loop"):
        index(chain, db, settings)
    assert f"reorg at block {ancestor + 1}: depth {depth}, ancestor {ancestor}" in caplog.text
    assert deliveries(db, commitment) == before
    assert_same_as_a_clean_index(chain, db, settings, tmp_path)


@pytest.mark.parametrize("depth", [2, 3, 4, 5])
def test_a_reorg_that_reorders_two_deliveries_gives_the_clean_index_of_the_new_chain(
    depth: int, db: Database, chain: LedgerChain, roles, settings: Settings, commitment: int,
    chain_time: Callable[[], int], tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    t = chain_time()
    name = f"{db.backend}-{depth}"
    first, second = record_call(chain, roles, commitment, 3, f"first-{name}", t), record_call(
        chain, roles, commitment, 4, f"second-{name}", t)
    send_and_wait(chain, first)
    send_and_wait(chain, second)  # anvil automines: one block each
    mine(chain, depth - 2)
    head = chain.head_block_number()
    index(chain, db, settings)
    before = deliveries(db, commitment)
    assert [ref for _, ref, _ in before[-2:]] == [f"first-{name}", f"second-{name}"]

    rpc(chain, "anvil_reorg", [depth, [[second, 0], [first, 1]]])
    with caplog.at_level(logging.WARNING, logger="indexer.loop"):
        index(chain, db, settings)
    assert f"reorg at block {head - depth + 1}: depth {depth}, ancestor {head - depth}" in caplog.text
    after = deliveries(db, commitment)
    assert [ref for _, ref, _ in after[-2:]] == [f"second-{name}", f"first-{name}"]
    assert [i for i, _, _ in after] == [i for i, _, _ in before]  # ids follow the new order
    assert_same_as_a_clean_index(chain, db, settings, tmp_path)


def test_a_reorg_while_nothing_new_is_mined_rolls_back_to_the_ancestor_and_waits(
    db: Database, chain: LedgerChain, roles, settings: Settings, commitment: int, chain_time: Callable[[], int],
    tmp_path: Path,
) -> None:
    index(chain, db, settings)
    before = deliveries(db, commitment)
    snapshot = rpc(chain, "evm_snapshot", [])
    chain.send("recordDelivery", [commitment, delivery_input(1, chain_time() - DAY, [sha("gone")], ref="gone")],
               roles.registrar.key)
    mine(chain, 2)
    index(chain, db, settings)
    assert deliveries(db, commitment)[-1][1] == "gone"
    assert rpc(chain, "evm_revert", [snapshot]) is True  # the chain is now shorter than the index
    assert index(chain, db, settings) == 0
    assert deliveries(db, commitment) == before
    assert_same_as_a_clean_index(chain, db, settings, tmp_path)
