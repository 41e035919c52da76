"""Loop layer of the indexer: confirmations, chunking, checkpoint, reorgs, polling.

Each chunk (at most ``log_chunk_blocks`` blocks, ended early once it holds ``log_chunk_events``
logs: ``indexer.fetch.fetch_chunk``) is fetched as raw logs (``indexer.fetch``), decoded
(``ledger.events``), projected (``ledger.db.projection``) and committed together with the
checkpoint in ONE transaction, so a process killed at any moment leaves the index at a chunk
boundary: a restart continues from the checkpoint with no gap and no duplicate (the
projection also skips events it already has).

While a chunk is projected and committed, the next one is read (fetched, decoded, its
headers checked) by one read-ahead thread (:class:`_ReadAhead`): fetching waits on the node
and SQLite's writing runs without the GIL, so on two cores the two overlap. A read is only
a read: nothing of it reaches the index before its turn, and when a pass ends early (a stop,
an error) the chunk read ahead is waited for and dropped.

Batch files (docs/LEDGER.md "Batches") are read from the evidence store by their SHA-256.
A batch whose file is missing when its ``BatchAnchored`` is indexed is looked up again at the
end of every pass (``recheck_missing_batches``: one indexed query, one file lookup per missing
batch), in a transaction of its own; when the file has arrived the batch is verified and its
commitments recomputed, with the same result as if the file had been there from the start.

Reorgs: each chunk also records in ``indexed_blocks`` the hash and parent hash of every
block with an event, of its last block and of every block within :func:`reorg_window` blocks
of the pass's target (older rows without events are dropped). Their headers (hash, parent
hash, time) are read in ONE JSON-RPC batch request per chunk (``LedgerChain.blocks``), never
one call per block. (A log's ``blockTimestamp`` would give the time, but not the parent hash
``indexed_blocks`` keeps for every block with an event, nor the check that the block is still
the chain's: so the headers are read even when the node sends it.) Each pass first checks the
checkpoint's stored hash against the chain (a block's hash commits to all its ancestors);
on a difference it looks for the common ancestor, the highest stored block of the window whose
hash the chain still has, and in ONE transaction rolls the index back to it
(``ledger.db.projection.roll_back_to``: events above it deleted, every projected table rebuilt
from the remaining events, figures re-derived) with the checkpoint moved to it, logs
``reorg at block N: depth D, ancestor A`` and indexes on from there. Only a reorg deeper than
the window (no stored block of it is still on the chain) raises ``ReorgDetectedError`` (the
operator reindexes). A header that no longer matches its logs while a chunk is fetched (the
chain moved under the indexer) ends the pass without committing that chunk; the next pass
checks again.

Block ranges are inclusive on both ends. Times are Unix seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from indexer.fetch import RangeSizer, fetch_chunk
from ledger.chain import BlockInfo
from ledger.db.engine import database_busy
from ledger.db.projection import (
    BatchFiles,
    Checkpoint,
    apply_events,
    load_checkpoint,
    recheck_missing_batches,
    roll_back_to,
    save_blocks,
    save_chain_head,
    save_checkpoint,
    stored_blocks,
)
from ledger.deployment import Deployment
from ledger.errors import ChainRpcError, ChainUnavailableError, LedgerConfigError, ReorgDetectedError
from ledger.events import EventDecoder, LedgerEvent
from ledger.evidence import EvidenceStore
from ledger.settings import Settings

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0
"""Longest pause between retries when the chain (or the database) is unavailable."""

MIN_REORG_WINDOW_BLOCKS = 64
"""Fewest recent blocks whose hashes are kept (see :func:`reorg_window`)."""


def reorg_window(confirmations: int) -> int:
    """Blocks below the indexed target whose hashes ``indexed_blocks`` keeps:
    ``max(64, 2 × confirmations)``; a reorg deeper than that needs a reindex."""
    return max(MIN_REORG_WINDOW_BLOCKS, 2 * confirmations)


class _ChainMoved(Exception):
    """A header fetched for a chunk no longer matches its logs' block hash."""


@dataclass(frozen=True)
class _ChunkRead:
    """One chunk as read from the chain, not written yet: blocks ``from_block`` up to
    ``to_block`` (inclusive), their decoded events in log order, the headers read for them
    (by block number) and the seconds the read took."""

    from_block: int
    to_block: int
    events: Sequence[LedgerEvent]
    headers: Mapping[int, BlockInfo]
    read_seconds: float


class _ReadAhead:
    """``read(*args)`` run in a daemon thread while the caller writes the chunk before it;
    :meth:`result` waits for it and returns it or raises what it raised."""

    def __init__(self, read: Callable[..., _ChunkRead], *args: Any) -> None:
        self._result: _ChunkRead | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(read, args), name="indexer-read-ahead", daemon=True)
        self._thread.start()

    def _run(self, read: Callable[..., _ChunkRead], args: tuple[Any, ...]) -> None:
        try:
            self._result = read(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by result()
            self._error = exc

    def result(self) -> _ChunkRead:
        """The chunk read; raises the read's exception."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def drop(self) -> None:
        """Wait for the read to end (at most one request's timeout) and forget it: the pass
        ends, and the chain client and range sizer are the next pass's again."""
        self._thread.join()


class ChainReader(Protocol):
    """The part of ``ledger.chain.LedgerChain`` the indexer uses."""

    deployment: Deployment | None
    decoder: EventDecoder

    def check_chain(self) -> None:
        """Raise ``WrongChainError`` if the node serves another chain."""
        ...

    def check_version(self) -> str:
        """The contract's ``version()``; raise ``UnsupportedContractVersionError`` if unknown."""
        ...

    def head_block_number(self) -> int:
        """Number of the latest block."""
        ...

    def block(self, number: int) -> BlockInfo | None:
        """Header of block ``number``, ``None`` if the node has none."""
        ...

    def blocks(self, numbers: Sequence[int]) -> dict[int, BlockInfo]:
        """Headers of blocks ``numbers`` (one batch request), by number; missing ones left out."""
        ...

    def get_logs(self, from_block: int, to_block: int) -> list[Mapping[str, Any]]:
        """Raw logs of the ledger in ``from_block..to_block`` (inclusive)."""
        ...


class Indexer:
    """Indexes the ledger's events into the SQL index.

    Run one indexer per database: the checkpoint has a single writer.

    Args:
        chain: the chain client, with the deployment (contract address, deploy block).
        session_factory: makes sessions on the index database (``ledger.db.session_factory``).
        settings: ``confirmations`` (blocks kept behind the head), ``log_chunk_blocks``
            (most blocks per chunk and transaction), ``log_chunk_events`` (logs a chunk aims
            to hold at most), ``poll_interval_seconds``.
        clock: current time in seconds (tests pass a fake one).
        max_backoff_seconds: longest pause between retries when the chain is unavailable.
        batch_files: finds a batch file by its ``0x`` SHA-256 (bytes, or ``None`` when not
            stored); by default the evidence store at ``settings.evidence_dir``.

    Raises:
        LedgerConfigError: ``chain`` has no deployment.
    """

    def __init__(
        self,
        chain: ChainReader,
        session_factory: Callable[[], Session],
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
        batch_files: BatchFiles | None = None,
    ) -> None:
        if chain.deployment is None:
            raise LedgerConfigError("The indexer needs a chain client with a deployment record.")
        self._chain = chain
        self._deployment = chain.deployment
        self._sessions = session_factory
        self._settings = settings
        self._clock = clock
        self._max_backoff_seconds = max_backoff_seconds
        self._contract_version: str | None = None
        if batch_files is None:
            assert settings.evidence_dir is not None
            batch_files = EvidenceStore(settings.evidence_dir).read_bytes
        self._read_batch_file = batch_files
        self._sizer = RangeSizer(settings.log_chunk_blocks, settings.log_chunk_events)

    def _batch_file(self, sha256: str) -> bytes | None:
        """A batch file's bytes, or ``None`` when it is not stored or cannot be read now (it
        is then looked for again at the next pass)."""
        try:
            return self._read_batch_file(sha256)
        except OSError as exc:
            log.warning("Batch file %s cannot be read (%s); it is looked for again at the next pass", sha256, exc)
            return None

    # ------------------------------------------------------------------ one pass

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Index every block up to ``head - confirmations`` that is not indexed yet, in
        chunks of at most ``log_chunk_blocks`` blocks, ended early once they hold
        ``log_chunk_events`` logs (``indexer.fetch.fetch_chunk``), each committed with the
        checkpoint in one transaction. Starts at the deploy block when there is no checkpoint. Records the
        chain head and the time it was seen (``chain_head_block``, ``head_seen_at``) even
        when there is nothing to index. Ends with :meth:`recheck_missing_batches`.

        Args:
            stop: when set, stop after the current chunk (the checkpoint is consistent).

        Returns:
            The number of events applied to the index.

        A checkpoint whose block is no longer on the chain is rolled back to the common
        ancestor first (module docstring); a header that no longer matches its logs ends the
        pass (chunks committed so far stay).

        Raises:
            ReorgDetectedError: the checkpoint's block is no longer on the chain and neither is
                any stored block of the reorg window (a reorg deeper than the window).
            LedgerConfigError: the index belongs to another contract.
            WrongChainError: the node serves another chain than the deployment's.
            UnsupportedContractVersionError: the contract's ``version()`` is not one this code
                reads (checked once, before anything is indexed).
            ChainUnavailableError: the node cannot be reached (chunks committed so far stay).
            ChainRpcError: the node answered with an error response (e.g. even one block's
                logs refused).
        """
        if self._contract_version is None:
            self.check_contract()
        head = self._chain.head_block_number()
        seen_at = int(self._clock())
        with self._sessions() as session, session.begin():
            checkpoint = load_checkpoint(session)
        start = self._resume_block(checkpoint)
        target = head - self._settings.confirmations
        address = self._deployment.contract_address
        if start > target:
            with self._sessions() as session, session.begin():
                save_chain_head(
                    session,
                    head,
                    seen_at,
                    contract_address=address,
                    contract_version=self._contract_version,
                    updated_at=int(self._clock()),
                )
            self.recheck_missing_batches()
            return 0

        applied = 0
        chunk_start = start
        ahead: _ReadAhead | None = None
        try:
            while chunk_start <= target:
                if stop is not None and stop.is_set():
                    log.info("Stop requested; indexed up to block %d", chunk_start - 1)
                    break
                try:
                    if ahead is not None:
                        chunk, ahead = ahead.result(), None
                    else:
                        chunk = self._read_chunk(chunk_start, self._chunk_end(chunk_start, target), target)
                    if chunk.to_block < target and not (stop is not None and stop.is_set()):
                        following = chunk.to_block + 1
                        ahead = _ReadAhead(self._read_chunk, following, self._chunk_end(following, target), target)
                    applied += self._write_chunk(chunk, head, seen_at, target)
                except _ChainMoved as moved:
                    log.warning("The chain changed while blocks %d.. were fetched (%s); checked again at the next pass", chunk_start, moved)
                    break
                chunk_start = chunk.to_block + 1
        finally:
            if ahead is not None:
                ahead.drop()
        self.recheck_missing_batches()
        return applied

    def _chunk_end(self, chunk_start: int, target: int) -> int:
        """The last block a chunk starting at ``chunk_start`` may reach (inclusive)."""
        return min(chunk_start + self._settings.log_chunk_blocks - 1, target)

    def recheck_missing_batches(self) -> list[str]:
        """Look again for the file of every batch indexed as ``missing`` and count the ones
        that arrived (``ledger.db.projection.recheck_missing_batches``), in one transaction.
        Returns the roots whose file was found."""
        with self._sessions() as session, session.begin():
            found = recheck_missing_batches(session, self._batch_file)
        for root in found:
            log.info("Batch %s: its file arrived; checked and counted from its anchor", root)
        return found

    def check_contract(self) -> str:
        """Check, once per indexer, that the node serves the deployment's chain and that the
        contract's ``version()`` is supported (``ledger.chain.SUPPORTED_CONTRACT_VERSIONS``);
        nothing is indexed from a contract this code cannot read. Returns the version.

        Raises:
            WrongChainError: the node serves another chain.
            UnsupportedContractVersionError: unknown contract version.
            ChainUnavailableError: the node cannot be reached.
        """
        self._chain.check_chain()
        self._contract_version = self._chain.check_version()
        log.info("Contract %s reports version %s", self._deployment.contract_address, self._contract_version)
        return self._contract_version

    def _resume_block(self, checkpoint: Checkpoint | None) -> int:
        """First block to index; checks the checkpoint belongs here and is still on chain."""
        deploy_block = self._deployment.deploy_block
        if checkpoint is None:
            return deploy_block
        address = self._deployment.contract_address
        if checkpoint.contract_address is not None and checkpoint.contract_address.lower() != address.lower():
            raise LedgerConfigError(
                f"The index holds contract {checkpoint.contract_address}, the deployment record says "
                f"{address}. Point LEDGER_DATABASE_URL at this contract's index, or rebuild it "
                f"(`python -m indexer --reindex`)."
            )
        if checkpoint.last_block is None or checkpoint.last_block_hash is None:
            return deploy_block
        on_chain = self._chain.block(checkpoint.last_block)
        chain_hash = on_chain.hash if on_chain is not None else None
        if chain_hash is None or chain_hash.lower() != checkpoint.last_block_hash.lower():
            return self._roll_back(checkpoint, chain_hash) + 1
        return max(checkpoint.last_block + 1, deploy_block)

    def _roll_back(self, checkpoint: Checkpoint, chain_hash: str | None) -> int:
        """The checkpoint's block is no longer the chain's: find the common ancestor (the
        highest block of ``indexed_blocks`` within the reorg window whose hash the chain still
        has), roll the index back to it with the checkpoint in one transaction, log it and
        return it.

        Raises:
            ReorgDetectedError: no stored block of the window is on the chain (deeper reorg).
        """
        assert checkpoint.last_block is not None and checkpoint.last_block_hash is not None
        last = checkpoint.last_block
        window = reorg_window(self._settings.confirmations)
        with self._sessions() as session, session.begin():
            candidates = stored_blocks(session, max(last - window, self._deployment.deploy_block), last)
        ancestor: BlockInfo | None = None
        for number, stored_hash in candidates:
            info = self._chain.block(number)
            if info is not None and info.hash.lower() == stored_hash.lower():
                ancestor = info
                break
        if ancestor is None:
            raise ReorgDetectedError(last, checkpoint.last_block_hash, chain_hash)
        started = time.monotonic()
        head = self._chain.head_block_number()
        # The window below the ancestor, as a pass ending at the ancestor would have kept it.
        keep_from = max(ancestor.number - window + 1, self._deployment.deploy_block)
        known = {number for number, _ in candidates}
        refill = [ancestor, *self._chain.blocks([n for n in range(keep_from, ancestor.number) if n not in known]).values()]
        with self._sessions() as session, session.begin():
            removed = roll_back_to(
                session, ancestor.number, self._deployment.contract_address, batch_files=self._batch_file
            )
            save_blocks(session, [(i.number, i.hash, i.parent_hash) for i in refill], keep_from=keep_from)
            save_checkpoint(
                session,
                ancestor.number,
                ancestor.hash,
                head,
                int(self._clock()),
                contract_address=self._deployment.contract_address,
                contract_version=self._contract_version,
                updated_at=int(self._clock()),
            )
        log.warning(
            "reorg at block %d: depth %d, ancestor %d (%d events removed, index rebuilt in %.2f s)",
            ancestor.number + 1,
            last - ancestor.number,
            ancestor.number,
            removed,
            time.monotonic() - started,
        )
        return ancestor.number

    def _index_chunk(
        self, from_block: int, to_block: int, head: int, seen_at: int, target: int | None = None
    ) -> tuple[int, int]:
        """Read blocks ``from_block`` up to ``to_block`` (:meth:`_read_chunk`) and write them
        (:meth:`_write_chunk`), without reading ahead.

        Returns:
            ``(applied, last)``: the number of events applied and the chunk's last block.
        """
        target = to_block if target is None else target
        chunk = self._read_chunk(from_block, to_block, target)
        return self._write_chunk(chunk, head, seen_at, target), chunk.to_block

    def _read_chunk(self, from_block: int, to_block: int, target: int) -> _ChunkRead:
        """Fetch and decode blocks ``from_block`` up to ``to_block`` (inclusive; the chunk
        ends earlier once it holds ``log_chunk_events`` logs) and read the headers needed:
        blocks with events, the blocks within the reorg window below ``target``, the last
        block, in ONE batch request after the logs. Writes nothing (runs in the read-ahead
        thread too: it touches only the chain client and the range sizer, which nothing else
        uses meanwhile).

        Raises:
            _ChainMoved: a header's hash is not its logs' block hash, or a block is gone.
            ChainUnavailableError, ChainRpcError, LogRangeTooLargeError: as ``fetch_chunk``.
        """
        started = time.monotonic()
        window = reorg_window(self._settings.confirmations)
        logs, to_block = fetch_chunk(self._chain, from_block, to_block, self._sizer)
        events = self._chain.decoder.decode_all(logs)
        event_blocks = {event.block_number: event.block_hash for event in events}
        wanted = [*event_blocks, *range(max(from_block, target - window + 1), to_block), to_block]
        headers = self._chain.blocks(wanted)  # ONE batch request: hashes, parents, times
        for number in wanted:
            info = headers.get(number)
            if info is None:
                raise _ChainMoved(f"block {number} is gone")
            expected = event_blocks.get(number)
            if expected is not None and info.hash.lower() != expected.lower():
                raise _ChainMoved(f"block {number} is now {info.hash}, its logs say {expected}")
        return _ChunkRead(from_block, to_block, events, headers, time.monotonic() - started)

    def _write_chunk(self, chunk: _ChunkRead, head: int, seen_at: int, target: int) -> int:
        """Project a chunk's events and commit them with the checkpoint (its last block) and
        the block hashes (:meth:`_read_chunk`'s headers) in one transaction; log it.
        Returns the number of events applied."""
        started = time.monotonic()
        headers = chunk.headers
        block_times = {number: info.timestamp for number, info in headers.items()}
        last = headers[chunk.to_block]
        with self._sessions() as session, session.begin():
            applied = apply_events(session, chunk.events, block_times, batch_files=self._batch_file)
            save_blocks(
                session,
                [(n, info.hash, info.parent_hash) for n, info in sorted(headers.items())],
                keep_from=target - reorg_window(self._settings.confirmations) + 1,
            )
            save_checkpoint(
                session,
                chunk.to_block,
                last.hash,
                head,
                seen_at,
                contract_address=self._deployment.contract_address,
                contract_version=self._contract_version,
                updated_at=int(self._clock()),
            )
        log.info(
            "Indexed blocks %d..%d (%d blocks): %d events, %d applied, read %.2f s, written %.2f s; head %d",
            chunk.from_block,
            chunk.to_block,
            chunk.to_block - chunk.from_block + 1,
            len(chunk.events),
            applied,
            chunk.read_seconds,
            time.monotonic() - started,
            head,
        )
        return applied

    # ------------------------------------------------------------------ polling

    def run_forever(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set: :meth:`run_once`, then wait ``poll_interval_seconds``.

        A ``ChainUnavailableError``, a ``ChainRpcError`` (the node answered an error response,
        e.g. a provider refusing even one block's logs), or a database that cannot be reached
        is logged as a warning and retried with exponential backoff (from ``poll_interval_seconds``,
        doubling, at most ``max_backoff_seconds``); the checkpoint keeps every committed
        chunk, so nothing is skipped. A SQLite database that is only busy (another writer held
        it past ``busy_timeout``: :func:`database_busy`) is retried after ``poll_interval_seconds``
        without growing the backoff: under heavy write load the index must not fall a minute behind.

        Raises:
            ReorgDetectedError, LedgerConfigError, WrongChainError,
            UnsupportedContractVersionError: as :meth:`run_once`; they need an operator (the
                index must be rebuilt or the configuration fixed), so the loop ends. (An event
                the projection cannot apply is recorded in ``event_errors``, never raised.)
        """
        poll = self._settings.poll_interval_seconds
        failures = 0
        while not stop.is_set():
            try:
                self.run_once(stop)
            except OperationalError as exc:
                if not database_busy(exc):
                    failures += 1
                    delay = min(poll * 2**failures, self._max_backoff_seconds)
                    log.warning("Indexer pass %d failed, retrying in %.1f s: %s", failures, delay, exc)
                else:  # another writer held the SQLite file past busy_timeout: not an outage
                    delay = poll
                    log.info("Index database busy (another writer); retrying in %.1f s", delay)
            except (ChainUnavailableError, ChainRpcError) as exc:
                failures += 1
                delay = min(poll * 2**failures, self._max_backoff_seconds)
                log.warning("Indexer pass %d failed, retrying in %.1f s: %s", failures, delay, exc)
            else:
                if failures:
                    log.info("Indexer recovered after %d failed passes", failures)
                failures = 0
                delay = poll
            stop.wait(delay)
