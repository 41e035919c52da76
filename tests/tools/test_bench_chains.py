"""The indexer and replay benches' tools: the chain shapes plan exactly the operations they
promise (bench/chain_fill.py), a built chain holds exactly those events and comes back the
same from its cache, the bare baseline decodes every log as the shared decoder does
(bench/baseline.py), and the measured indexer and replay runs check what they built."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bench import chain_fill
from bench.baseline import _decoders, bare_fetch_decode, decode_log
from bench.chain_fill import (
    BIG_GROUP,
    ChainFillError,
    Rpc,
    big_ops,
    built_chain,
    deep_ops,
    expected_counts,
    port_free,
    wide_ops,
)
from bench.indexer import delivery_phase_once, index_once, last_block_of
from bench.replay import replay_once
from ledger.abi import ledger_abi
from ledger.events import EventDecoder

SETUP_EVENTS = {"OwnershipTransferred": 1, "MunicipalityRegistered": 1, "RegistrarAdded": 1}
"""What the set-up (deploy, one municipality, one registrar) emits before the bulk."""


def test_wide_plans_registrations_first_then_two_delivery_rounds() -> None:
    ops = list(wide_ops(4))
    assert [(op.kind, op.args[0] if op.kind == "deliver" else None) for op in ops] == [
        ("register", None)] * 4 + [("deliver", cid) for cid in (1, 2, 3, 4)] * 2
    assert [op.args[0][0] for op in ops[:4]] == [1, 1, 1, 1]  # municipality 1
    assert [op.args[0][1] for op in ops[:4]] == ["bench-1", "bench-2", "bench-3", "bench-4"]
    assert expected_counts(ops) == {"CommitmentRegistered": 4, "DeliveryRecorded": 8}


def test_deep_plans_one_commitment_and_its_deliveries() -> None:
    ops = list(deep_ops(5))
    assert [op.kind for op in ops] == ["register"] + ["deliver"] * 5
    assert {op.args[0] for op in ops[1:]} == {1}
    assert [op.args[1][5] for op in ops[1:]] == ["d1", "d2", "d3", "d4", "d5"]  # delivery refs unique per commitment


def test_big_has_exactly_the_events_and_every_operation_follows_what_it_needs() -> None:
    ops = list(big_ops(1_000))
    assert len(ops) == 1_000
    counts = expected_counts(ops)
    # 415 per group (100 + 300 + 10 + 5): 2 groups (830), then 100 registrations and 70 deliveries of the third
    assert counts == {"CommitmentRegistered": 300, "DeliveryRecorded": 670, "CommitmentAmended": 20, "DeliveryRevoked": 10}
    registered: set[int] = set()
    deliveries: dict[int, int] = {}
    for op in ops:
        if op.kind == "register":
            registered.add(len(registered) + 1)
        elif op.kind == "deliver":
            cid, number = op.args[0], int(op.args[1][5][1:])
            assert cid in registered and number == deliveries.get(cid, 0) + 1
            deliveries[cid] = number
        elif op.kind == "amend":
            assert op.args[0] in registered and op.args[1][:2] == (0, 4)  # first amendment, target only
        else:
            cid, number = divmod(op.args[0], 1_000_000)
            assert number <= deliveries.get(cid, 0)
    assert max(deliveries.values()) == 5 and min(deliveries.values()) == 1
    assert len(list(big_ops(BIG_GROUP))) == BIG_GROUP  # a cut inside the first group's registrations


def test_port_free_sees_a_listener() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not port_free(port)
    assert port_free(port, wait_seconds=1.0)


def test_a_taken_port_is_refused_before_anything_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # built_chain grants an anvil that is still exiting some seconds to free the port; a port
    # held for the whole test stays taken however long it waits, so it is asked once, without
    # the wait (port_free's waiting is test_port_free_sees_a_listener's)
    asked: list[int] = []

    def port_free_at_once(port: int, wait_seconds: float = 0.0) -> bool:
        asked.append(port)
        return port_free(port)

    monkeypatch.setattr(chain_fill, "port_free", port_free_at_once)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(ChainFillError):
            with built_chain("deep", 3, port=sock.getsockname()[1], cache_dir=tmp_path):
                pass
        assert asked == [sock.getsockname()[1]]
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-chains")


def test_a_built_chain_holds_the_plan_and_loads_the_same_from_its_cache(cache: Path) -> None:
    with built_chain("big", 250, ops_per_tx=7, txs_per_block=3, port=None, cache_dir=cache) as built:
        assert (built.from_cache, built.events) == (False, 253)
        assert built.counts == {**SETUP_EVENTS, **expected_counts(list(big_ops(250)))}
        assert built.build.transactions == 36  # ceil(250 / 7)
        assert built.build.blocks == built.last_block - built.first_block + 1 == 12  # ceil(36 / 3)
        last_hash = Rpc(built.rpc_url)("eth_getBlockByNumber", hex(built.last_block), False)["hash"]
        first = (built.deployment, built.first_block, built.last_block)
    assert sorted(p.name.split(".", 1)[1] for p in cache.iterdir()) == ["deployment.json", "meta.json", "state.json.gz"]
    with built_chain("big", 250, ops_per_tx=7, txs_per_block=3, port=None, cache_dir=cache) as again:
        assert again.from_cache
        assert (again.deployment, again.first_block, again.last_block) == first
        assert again.counts == built.counts
        assert Rpc(again.rpc_url)("eth_getBlockByNumber", hex(again.last_block), False)["hash"] == last_hash


def test_bare_decodes_every_log_as_the_shared_decoder_does(cache: Path) -> None:
    with built_chain("big", 250, ops_per_tx=7, txs_per_block=3, port=None, cache_dir=cache) as built:
        address = built.deployment.contract_address
        run = bare_fetch_decode(built.rpc_url, address, built.deployment.deploy_block, built.last_block, 5)
        assert (run.events, run.calls) == (253, 3)  # blocks 1..15 in chunks of 5
        logs = Rpc(built.rpc_url)("eth_getLogs", {"address": address, "fromBlock": "0x0", "toBlock": hex(built.last_block)})
    decoders, shared = _decoders(), EventDecoder(ledger_abi())
    for log in logs:
        values = decode_log(log, decoders)
        event = shared.decode({**log, "blockNumber": int(log["blockNumber"], 16), "logIndex": int(log["logIndex"], 16)})
        assert len(values) == len(event.args)
        for value, expected in zip(values, event.args.values()):
            if isinstance(value, bytes):
                assert "0x" + value.hex() == expected
            elif isinstance(value, str) and value.startswith("0x") and len(value) == 42:
                assert value.lower() == str(expected).lower()
            elif isinstance(value, tuple):
                assert ["0x" + v.hex() for v in value] == list(expected)
            else:
                assert value == expected


def test_the_measured_indexer_and_replay_build_every_event(cache: Path) -> None:
    with built_chain("big", 250, ops_per_tx=7, txs_per_block=3, port=None, cache_dir=cache) as built:
        indexed = index_once(built, "sqlite", 4, "")
        assert (indexed.events, indexed.applied, indexed.backend) == (253, 253, "sqlite")
        assert indexed.bare_calls == 4  # blocks 1..15 in chunks of 4
        replayed = replay_once(built, 4)
        assert (replayed.events, replayed.bare_calls) == (253, 4)
        assert replayed.replay_seconds > 0 and replayed.command_seconds > 0


def test_the_delivery_phase_times_only_the_deliveries_after_the_last_registration(cache: Path) -> None:
    """wide 30 (30 registrations, then 2 × 30 deliveries), 7 operations per transaction and 3
    transactions per block from block 4 (deploy block 1, set-up 2-3): the registrations end in
    the bulk's second block (5) with the first 12 deliveries, so the phase is the other 48."""
    with built_chain("wide", 30, ops_per_tx=7, txs_per_block=3, port=None, cache_dir=cache) as built:
        assert (built.deployment.deploy_block, last_block_of(built, "CommitmentRegistered")) == (1, 5)
        phase = delivery_phase_once(built, "sqlite", 4, "")
        assert (phase.shape, phase.backend, phase.events) == ("wide", "sqlite", 48)
