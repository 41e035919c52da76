"""The indexer loop on the real chain: chunks and checkpoint in one transaction, crash and
restart (in-process and killed processes) give exactly a fresh full index, reorg detection,
confirmations, the head recorded on every poll, retries with backoff, ``python -m indexer``."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import select, text, update

import indexer.loop as loop_module
from indexer.loop import Indexer
from ledger.chain import BlockInfo, LedgerChain
from ledger.db import repository
from ledger.db.models import CheckpointRow, EventRow, IndexedBlock
from ledger.db.projection import load_checkpoint
from ledger.deployment import save_deployment
from ledger.errors import ChainUnavailableError, LedgerConfigError, ReorgDetectedError, UnsupportedContractVersionError
from ledger.settings import Settings
from tests.db.databases import BACKENDS, Database, dump_index, fresh_database
from tests.indexer.ledger_txs import DAY, amendment_input, commitment_input, delivery_input, indexer_settings, sha

REPO_ROOT = Path(__file__).resolve().parents[2]
CLOCK = 1_800_000_000


def clock() -> float:
    return CLOCK


@pytest.fixture(scope="module")
def busy_chain(chain: LedgerChain, roles, chain_time: Callable[[], int]) -> int:
    """About forty blocks of every kind of transaction; returns the head block."""
    t = chain_time()
    reg, oreg = roles.registrar.key, roles.other_registrar.key
    for i in range(1, 9):
        municipality, key = (1, reg) if i % 2 else (2, oreg)
        chain.send("registerCommitment", [commitment_input(
            municipality, f"ref-{i}", f"Commitment {i}", theme=f"theme {i % 3}", target=10 * i, unit="stuks",
            due=t + (i - 4) * DAY)], key)
    for d in range(1, 15):
        cid = d % 8 + 1
        key = reg if cid % 2 else oreg
        evidence = [sha(f"e{d}")] + ([sha(f"e{d - 1}")] if d % 3 == 0 else [])
        chain.send("recordDelivery", [cid, delivery_input(d * 3, t - d * 3600, evidence, ref=f"d{d}")], key)
    chain.send("revokeDelivery", [4_000_001, "wrong"], oreg)  # delivery d=3, the first of commitment 4
    chain.send("amendCommitment", [2, amendment_input(
        0, title="Amended 2", description="now more", target=5, due=t + 9 * DAY, reason="council")], oreg)
    chain.send("amendCommitment", [5, amendment_input(
        0, title="Amended 5", description="", target=1000, due=t - 9 * DAY, reason="budget")], reg)
    chain.send("withdrawCommitment", [7, "dropped"], reg)
    chain.send("addRegistrar", [1, roles.stranger.address], roles.council_admin.key)
    chain.send("removeRegistrar", [1, roles.stranger.address], roles.council_admin.key)
    return chain.head_block_number()


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def reference(backend: str, busy_chain: int, chain: LedgerChain, settings: Settings, tmp_path_factory) -> dict:
    """The whole index (checkpoint included) of one fresh run over everything, in one chunk."""
    with fresh_database(backend, tmp_path_factory.mktemp("reference")) as db:
        Indexer(chain, db.sessions, indexer_settings(settings, log_chunk_blocks=10_000), clock=clock).run_once()
        return dump_index(db.engine, checkpoint=True)


@pytest.fixture
def db(backend: str, busy_chain: int, tmp_path: Path) -> Iterator[Database]:
    with fresh_database(backend, tmp_path) as database:
        yield database


class CrashingChain:
    """The real chain client, whose ``get_logs`` raises on its ``crash_on``-th call."""

    def __init__(self, chain: LedgerChain, crash_on: int) -> None:
        self._chain = chain
        self.crash_on = crash_on
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain, name)

    def get_logs(self, from_block: int, to_block: int) -> list:
        self.calls += 1
        if self.calls == self.crash_on:
            raise RuntimeError("simulated crash")
        return self._chain.get_logs(from_block, to_block)


def assert_index_is_a_prefix_of_the_chain(db: Database, chain: LedgerChain) -> int | None:
    """The events in the index are exactly the chain's logs up to the checkpoint (no gap, no
    duplicate, nothing beyond). Returns the checkpoint's last block."""
    with db.sessions() as session:
        checkpoint = load_checkpoint(session)
        stored = session.execute(
            select(EventRow.block_number, EventRow.log_index).order_by(EventRow.block_number, EventRow.log_index)
        ).all()
    last = checkpoint.last_block if checkpoint else None
    if last is None:
        assert stored == []
        return None
    expected = [(e["blockNumber"], e["logIndex"]) for e in chain.get_logs(chain.deployment.deploy_block, last)]
    assert stored == sorted(expected)
    assert checkpoint.last_block_hash == chain.block(last).hash
    return last


# ---------------------------------------------------------------------------- crashes


@pytest.mark.parametrize("crash_on", [1, 2, 5, 9])
def test_a_crash_between_chunks_resumes_without_gaps_or_duplicates(
    db: Database, chain: LedgerChain, settings: Settings, reference: dict, crash_on: int
) -> None:
    chunked = indexer_settings(settings, log_chunk_blocks=3)
    with pytest.raises(RuntimeError, match="simulated crash"):
        Indexer(CrashingChain(chain, crash_on), db.sessions, chunked, clock=clock).run_once()
    last = assert_index_is_a_prefix_of_the_chain(db, chain)
    deploy = chain.deployment.deploy_block
    assert last == (None if crash_on == 1 else deploy + 3 * (crash_on - 1) - 1)

    Indexer(chain, db.sessions, chunked, clock=clock).run_once()
    assert dump_index(db.engine, checkpoint=True) == reference


def test_a_stop_during_a_chunk_keeps_that_chunk_and_drops_the_one_read_ahead(
    db: Database, chain: LedgerChain, settings: Settings, reference: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stop comes while the first chunk is projected (the second is being read ahead
    meanwhile): the pass ends with the first chunk committed and nothing of the second; the
    next pass reads it again and the index equals the one-chunk reference."""
    from indexer import loop

    chunked = indexer_settings(settings, log_chunk_blocks=3)
    stop = threading.Event()
    real_apply = loop.apply_events
    reads: list[int] = []
    real_read = loop.Indexer._read_chunk

    def apply_then_stop(*args: Any, **kwargs: Any) -> int:
        stop.set()
        return real_apply(*args, **kwargs)

    def counted_read(self: Any, from_block: int, *args: Any) -> Any:
        reads.append(from_block)
        return real_read(self, from_block, *args)

    monkeypatch.setattr(loop, "apply_events", apply_then_stop)
    monkeypatch.setattr(loop.Indexer, "_read_chunk", counted_read)
    Indexer(chain, db.sessions, chunked, clock=clock).run_once(stop)
    deploy = chain.deployment.deploy_block
    assert reads == [deploy, deploy + 3]  # the second chunk was read ahead
    assert assert_index_is_a_prefix_of_the_chain(db, chain) == deploy + 2  # only the first was written
    monkeypatch.setattr(loop, "apply_events", real_apply)
    Indexer(chain, db.sessions, chunked, clock=clock).run_once()
    assert dump_index(db.engine, checkpoint=True) == reference


def test_a_crash_inside_a_chunk_transaction_keeps_nothing_of_that_chunk(
    db: Database, chain: LedgerChain, settings: Settings, reference: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_save = loop_module.save_checkpoint
    calls = {"n": 0}

    def save_then_crash(session, *args, **kwargs):
        calls["n"] += 1
        real_save(session, *args, **kwargs)
        if calls["n"] == 3:  # the chunk's events and checkpoint are flushed, not committed
            assert session.scalar(select(CheckpointRow.last_block)) == chain.deployment.deploy_block + 3 * 4 - 1
            raise RuntimeError("simulated crash before commit")

    monkeypatch.setattr(loop_module, "save_checkpoint", save_then_crash)
    chunked = indexer_settings(settings, log_chunk_blocks=4)
    with pytest.raises(RuntimeError, match="before commit"):
        Indexer(chain, db.sessions, chunked, clock=clock).run_once()
    assert assert_index_is_a_prefix_of_the_chain(db, chain) == chain.deployment.deploy_block + 2 * 4 - 1

    monkeypatch.setattr(loop_module, "save_checkpoint", real_save)
    Indexer(chain, db.sessions, chunked, clock=clock).run_once()
    assert dump_index(db.engine, checkpoint=True) == reference


def indexer_env(settings: Settings, db: Database, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        LEDGER_RPC_URL=settings.rpc_url,
        LEDGER_DATA_DIR=str(settings.data_dir),
        LEDGER_DATABASE_URL=db.url,
        LEDGER_POLL_INTERVAL_SECONDS="0.05",
    )
    env.update(extra)
    return env


def start_indexer(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "indexer", *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killing_the_process_at_any_moment_loses_and_duplicates_nothing(
    db: Database, chain: LedgerChain, settings: Settings, reference: dict
) -> None:
    env = indexer_env(settings, db, LEDGER_LOG_CHUNK_BLOCKS="1")
    head = chain.head_block_number()
    rng = random.Random(20251129)
    checkpoints: list[int | None] = []  # after each kill, taken while blocks were still to index
    for _ in range(10):
        process = start_indexer(env)
        committed = False
        try:
            for line in process.stderr:  # wait until it commits a chunk, then kill it mid-run
                if "Indexed blocks" in line:
                    committed = True
                    time.sleep(rng.uniform(0, 0.05))
                    break
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        assert committed, "the indexer died before committing a chunk"
        last = assert_index_is_a_prefix_of_the_chain(db, chain)
        if last == head:
            break
        checkpoints.append(last)
    assert len(checkpoints) >= 2, "the indexer finished before it could be killed mid-run twice"
    assert checkpoints == sorted(checkpoints)

    finished = subprocess.run(
        [sys.executable, "-m", "indexer", "--once"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stderr
    got = dump_index(db.engine)
    assert got == {k: v for k, v in reference.items() if k != "checkpoint"}
    assert assert_index_is_a_prefix_of_the_chain(db, chain) == head


# ---------------------------------------------------------------------------- reorgs, config


def test_a_changed_block_hash_at_the_checkpoint_and_in_the_whole_window_is_a_reorg_too_deep(
    db: Database, chain: LedgerChain, settings: Settings
) -> None:
    Indexer(chain, db.sessions, settings, clock=clock).run_once()
    tampered = "0x" + "ee" * 32
    with db.sessions.begin() as session:
        session.execute(update(CheckpointRow).values(last_block_hash=tampered))
        session.execute(update(IndexedBlock).values(hash=tampered))
    before = dump_index(db.engine, checkpoint=True)
    head = chain.head_block_number()
    with pytest.raises(ReorgDetectedError) as info:
        Indexer(chain, db.sessions, settings, clock=clock).run_once()
    assert (info.value.block_number, info.value.stored_hash, info.value.chain_hash) == (
        head, tampered, chain.block(head).hash,
    )
    assert dump_index(db.engine, checkpoint=True) == before

    result = subprocess.run(
        [sys.executable, "-m", "indexer", "--once"], cwd=REPO_ROOT, env=indexer_env(settings, db),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert f"Reorg detected at block {head}" in result.stderr


class ForkedChain:
    """The real chain, but the header of ``block_number`` has another hash (a reorg while
    the chunk is fetched: the logs' block hash no longer matches)."""

    def __init__(self, chain: LedgerChain, block_number: int) -> None:
        self._chain = chain
        self.block_number = block_number

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain, name)

    def block(self, number: int) -> BlockInfo | None:
        info = self._chain.block(number)
        if info is not None and number == self.block_number:
            return BlockInfo(number, "0x" + "ff" * 32, info.timestamp)
        return info

    def blocks(self, numbers: list[int]) -> dict[int, BlockInfo]:
        """The batch of headers the indexer reads per chunk, with the same forked block."""
        found = self._chain.blocks(numbers)
        if self.block_number in found:
            found[self.block_number] = BlockInfo(self.block_number, "0x" + "ff" * 32, found[self.block_number].timestamp)
        return found


def test_logs_whose_block_hash_differs_from_the_header_end_the_pass_without_that_chunk(
    db: Database, chain: LedgerChain, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    forked_block = chain.deployment.deploy_block + 5
    with caplog.at_level(logging.WARNING, logger="indexer.loop"):
        Indexer(ForkedChain(chain, forked_block), db.sessions, indexer_settings(settings, log_chunk_blocks=4),
                clock=clock).run_once()
    assert f"The chain changed while blocks {forked_block - 1}.. were fetched" in caplog.text
    assert assert_index_is_a_prefix_of_the_chain(db, chain) == chain.deployment.deploy_block + 3
    Indexer(chain, db.sessions, settings, clock=clock).run_once()  # the next pass goes on
    assert assert_index_is_a_prefix_of_the_chain(db, chain) == chain.head_block_number()


def test_an_index_of_another_contract_is_refused(db: Database, chain: LedgerChain, settings: Settings) -> None:
    Indexer(chain, db.sessions, settings, clock=clock).run_once()
    with db.sessions.begin() as session:
        session.execute(update(CheckpointRow).values(contract_address="0x" + "12" * 20))
    with pytest.raises(LedgerConfigError, match="The index holds contract 0x1212"):
        Indexer(chain, db.sessions, settings, clock=clock).run_once()


class OtherVersionChain:
    """The real chain, but its contract reports ``version()`` = ``version``."""

    def __init__(self, chain: LedgerChain, version: str) -> None:
        self._chain = LedgerChain(chain.rpc_url, chain.deployment)
        self._chain.version = lambda: version  # type: ignore[method-assign]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain, name)


@pytest.mark.parametrize("version", ["1.0.0", "2.0.0", ""])
def test_a_contract_version_the_indexer_does_not_know_is_refused_before_anything_is_indexed(
    db: Database, chain: LedgerChain, settings: Settings, version: str
) -> None:
    with pytest.raises(UnsupportedContractVersionError) as refused:
        Indexer(OtherVersionChain(chain, version), db.sessions, settings, clock=clock).run_once()
    assert (refused.value.version, refused.value.supported) == (version, ("2.1.0",))
    written = {name: rows for name, rows in dump_index(db.engine, checkpoint=True).items() if rows}
    assert list(written) == ["index_schema"]


def test_the_command_exits_1_for_an_address_without_a_ledger(
    db: Database, chain: LedgerChain, settings: Settings, tmp_path: Path, roles
) -> None:
    data_dir = tmp_path / "elsewhere"
    data_dir.mkdir()
    record = chain.deployment.model_copy(update={"contract_address": roles.stranger.address})
    save_deployment(data_dir / "deployment.json", record)
    result = subprocess.run(
        [sys.executable, "-m", "indexer", "--once"], cwd=REPO_ROOT, env=indexer_env(settings, db, LEDGER_DATA_DIR=str(data_dir)),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1
    assert "reports version 'unknown'; this code reads only 2.1.0" in result.stderr
    assert dump_index(db.engine, checkpoint=True)["events"] == []


def test_the_command_refuses_a_v1_index_until_it_is_rebuilt(
    backend: str, chain: LedgerChain, settings: Settings, tmp_path: Path
) -> None:
    with fresh_database(backend, tmp_path, schema=False) as v1:
        with v1.engine.begin() as conn:
            conn.execute(text("CREATE TABLE events (block_number BIGINT, log_index BIGINT, name VARCHAR(64))"))
        env = indexer_env(settings, v1)
        refused = subprocess.run([sys.executable, "-m", "indexer", "--once"], cwd=REPO_ROOT, env=env,
                                 capture_output=True, text=True, timeout=120)
        assert refused.returncode == 1
        assert "no schema version (a v1 index" in refused.stderr and "make reindex" in refused.stderr
        rebuilt = subprocess.run([sys.executable, "-m", "indexer", "--once", "--reindex"], cwd=REPO_ROOT, env=env,
                                 capture_output=True, text=True, timeout=120)
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert assert_index_is_a_prefix_of_the_chain(v1, chain) == chain.head_block_number()


# ---------------------------------------------------------------------------- head, confirmations


def test_confirmations_keep_the_index_behind_the_head(db: Database, chain: LedgerChain, settings: Settings) -> None:
    head = chain.head_block_number()
    Indexer(chain, db.sessions, indexer_settings(settings, confirmations=4), clock=clock).run_once()
    with db.sessions() as session:
        cp = repository.get_checkpoint(session)
    assert (cp["last_block"], cp["chain_head_block"]) == (head - 4, head)
    assert assert_index_is_a_prefix_of_the_chain(db, chain) == head - 4

    Indexer(chain, db.sessions, settings, clock=clock).run_once()
    assert assert_index_is_a_prefix_of_the_chain(db, chain) == head


def test_the_head_and_when_it_was_seen_are_recorded_on_every_poll(
    db: Database, chain: LedgerChain, settings: Settings
) -> None:
    head = chain.head_block_number()
    times = iter([1000.0, 1000.0, 2000.0, 2000.0, 3000.0, 3000.0])
    far_behind = indexer_settings(settings, confirmations=1000)  # nothing to index yet
    Indexer(chain, db.sessions, far_behind, clock=lambda: next(times)).run_once()
    with db.sessions() as session:
        assert repository.get_checkpoint(session) == {
            "last_block": None, "last_block_hash": None, "chain_head_block": head, "head_seen_at": 1000,
            "contract_version": "2.1.0", "paused": False,
        }
    indexer = Indexer(chain, db.sessions, settings, clock=lambda: next(times))
    indexer.run_once()
    indexer.run_once()  # nothing new: only the head is recorded
    with db.sessions() as session:
        assert repository.get_checkpoint(session) == {
            "last_block": head, "last_block_hash": chain.block(head).hash, "chain_head_block": head,
            "head_seen_at": 3000, "contract_version": "2.1.0", "paused": False,
        }


# ---------------------------------------------------------------------------- polling


class FlakyChain:
    """The real chain, unavailable for its first ``failures`` head requests."""

    def __init__(self, chain: LedgerChain, failures: int) -> None:
        self._chain = chain
        self.failures = failures
        self.head_calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain, name)

    def head_block_number(self) -> int:
        self.head_calls += 1
        if self.head_calls <= self.failures:
            raise ChainUnavailableError("http://flaky", "connection refused")
        return self._chain.head_block_number()


class RecordingStop(threading.Event):
    """A stop event that records the pauses asked of it and sets itself after ``polls``."""

    def __init__(self, polls: int) -> None:
        super().__init__()
        self.polls = polls
        self.pauses: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.pauses.append(timeout)
        if len(self.pauses) >= self.polls:
            self.set()
        return self.is_set()


def test_an_unavailable_chain_is_logged_and_retried_with_backoff(
    db: Database, chain: LedgerChain, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FlakyChain(chain, failures=4)
    stop = RecordingStop(polls=6)
    polling = indexer_settings(settings, poll_interval_seconds=0.5)
    with caplog.at_level(logging.INFO, logger="indexer.loop"):
        Indexer(flaky, db.sessions, polling, clock=clock, max_backoff_seconds=3.0).run_forever(stop)
    assert stop.pauses == [1.0, 2.0, 3.0, 3.0, 0.5, 0.5]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in warnings] == [
        f"Indexer pass {n} failed, retrying in {d:.1f} s" for n, d in [(1, 1.0), (2, 2.0), (3, 3.0), (4, 3.0)]
    ]
    assert "Chain at http://flaky is unavailable" in warnings[0].getMessage()
    assert any("recovered after 4 failed passes" in r.getMessage() for r in caplog.records)
    assert assert_index_is_a_prefix_of_the_chain(db, chain) == chain.head_block_number()


def test_errors_that_need_an_operator_end_the_loop(db: Database, chain: LedgerChain, settings: Settings) -> None:
    Indexer(chain, db.sessions, settings, clock=clock).run_once()
    with db.sessions.begin() as session:
        session.execute(update(CheckpointRow).values(last_block_hash="0x" + "ee" * 32))
        session.execute(update(IndexedBlock).values(hash="0x" + "ee" * 32))
    with pytest.raises(ReorgDetectedError):
        Indexer(chain, db.sessions, settings, clock=clock).run_forever(RecordingStop(polls=100))


# ---------------------------------------------------------------------------- python -m indexer


def test_the_command_logs_each_chunk_and_stops_cleanly_on_sigterm(
    db: Database, chain: LedgerChain, settings: Settings, reference: dict
) -> None:
    process = start_indexer(indexer_env(settings, db, LEDGER_LOG_CHUNK_BLOCKS="10"))
    head = chain.head_block_number()
    lines: list[str] = []
    for line in process.stderr:
        lines.append(line)
        if f"..{head} (" in line:
            break
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=30)
    lines.extend(rest.splitlines(keepends=True))
    assert process.returncode == 0, "".join(lines)
    text = "".join(lines)
    deploy = chain.deployment.deploy_block
    assert f"Indexed blocks {deploy}..{deploy + 9} (10 blocks): " in text
    assert "Received SIGTERM" in text and "Stopped" in text
    assert dump_index(db.engine) == {k: v for k, v in reference.items() if k != "checkpoint"}


@pytest.mark.parametrize("after_chunks", [1, 3])
def test_sigterm_while_a_chunk_is_indexed_finishes_that_chunk_and_exits_0(
    db: Database, chain: LedgerChain, settings: Settings, after_chunks: int
) -> None:
    process = start_indexer(indexer_env(settings, db, LEDGER_LOG_CHUNK_BLOCKS="1"), "--once")
    lines: list[str] = []
    for line in process.stderr:
        lines.append(line)
        if sum("Indexed blocks" in seen for seen in lines) == after_chunks:
            break
    process.send_signal(signal.SIGTERM)  # the next one-block chunk is being fetched or applied
    _, rest = process.communicate(timeout=60)
    text = "".join(lines) + rest
    assert process.returncode == 0, text
    assert "Received SIGTERM" in text and "Stop requested; indexed up to block" in text
    last = assert_index_is_a_prefix_of_the_chain(db, chain)  # a chunk boundary: no half chunk
    assert last is not None and last < chain.head_block_number()
    assert text.count("Indexed blocks") == last - chain.deployment.deploy_block + 1


def test_the_command_refuses_missing_settings_files(db: Database, settings: Settings, tmp_path: Path) -> None:
    env = indexer_env(settings, db, LEDGER_DATA_DIR=str(tmp_path / "empty"))
    result = subprocess.run(
        [sys.executable, "-m", "indexer", "--once"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "No ledger deployment recorded at" in result.stderr
