"""Loop layer of the indexer: confirmations, chunking, checkpoint, reorg detection, polling.

Each chunk of ``log_chunk_blocks`` blocks is fetched (``indexer.fetch``), decoded
(``ledger.events``), projected (``ledger.db.projection``) and committed together with the
checkpoint in ONE transaction, so a process killed at any moment leaves the index at a chunk
boundary: a restart continues from the checkpoint with no gap and no duplicate (the
projection also skips events it already has).

Batch files (docs/LEDGER.md "Batches") are read from the evidence store by their SHA-256.
A batch whose file is missing when its ``BatchAnchored`` is indexed is looked up again at the
end of every pass (``recheck_missing_batches``: one indexed query, one file lookup per missing
batch), in a transaction of its own; when the file has arrived the batch is verified and its
commitments recomputed, with the same result as if the file had been there from the start.

Block ranges are inclusive on both ends. Times are Unix seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Mapping, Protocol

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from indexer.fetch import fetch_range
from ledger.chain import BlockInfo
from ledger.db.projection import (
    BatchFiles,
    Checkpoint,
    apply_events,
    load_checkpoint,
    recheck_missing_batches,
    save_chain_head,
    save_checkpoint,
)
from ledger.deployment import Deployment
from ledger.errors import ChainUnavailableError, LedgerConfigError, ReorgDetectedError
from ledger.events import EventDecoder
from ledger.evidence import EvidenceStore
from ledger.settings import Settings

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 60.0
"""Longest pause between retries when the chain (or the database) is unavailable."""


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
            (blocks per chunk and transaction), ``poll_interval_seconds``.
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
        chunks of ``log_chunk_blocks`` blocks, each committed with the checkpoint in one
        transaction. Starts at the deploy block when there is no checkpoint. Records the
        chain head and the time it was seen (``chain_head_block``, ``head_seen_at``) even
        when there is nothing to index. Ends with :meth:`recheck_missing_batches`.

        Args:
            stop: when set, stop after the current chunk (the checkpoint is consistent).

        Returns:
            The number of events applied to the index.

        Raises:
            ReorgDetectedError: the hash stored with the checkpoint is no longer the chain's
                hash of that block, or a log's block hash differs from its block's header.
            LedgerConfigError: the index belongs to another contract.
            WrongChainError: the node serves another chain than the deployment's.
            UnsupportedContractVersionError: the contract's ``version()`` is not one this code
                reads (checked once, before anything is indexed).
            ChainUnavailableError: the node cannot be reached (chunks committed so far stay).
            ProjectionError: an event cannot be applied (see ``apply_events``).
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
        chunk_blocks = self._settings.log_chunk_blocks
        for chunk_start in range(start, target + 1, chunk_blocks):
            if stop is not None and stop.is_set():
                log.info("Stop requested; indexed up to block %d", chunk_start - 1)
                break
            applied += self._index_chunk(chunk_start, min(chunk_start + chunk_blocks - 1, target), head, seen_at)
        self.recheck_missing_batches()
        return applied

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
            raise ReorgDetectedError(checkpoint.last_block, checkpoint.last_block_hash, chain_hash)
        return max(checkpoint.last_block + 1, deploy_block)

    def _header(self, number: int, cache: dict[int, BlockInfo], expected_hash: str | None = None) -> BlockInfo:
        info = cache.get(number)
        if info is None:
            info = self._chain.block(number)
            if info is None:
                raise ReorgDetectedError(number, expected_hash or "(not indexed yet)", None)
            cache[number] = info
        if expected_hash is not None and info.hash.lower() != expected_hash.lower():
            raise ReorgDetectedError(number, expected_hash, info.hash)
        return info

    def _index_chunk(self, from_block: int, to_block: int, head: int, seen_at: int) -> int:
        """Fetch, decode, project blocks ``from_block..to_block`` (inclusive) and commit them
        with the checkpoint in one transaction. Returns the number of events applied."""
        started = time.monotonic()
        logs = fetch_range(self._chain, from_block, to_block)
        events = self._chain.decoder.decode_all(logs)
        headers: dict[int, BlockInfo] = {}  # block headers of this chunk (block times, hashes)
        for event in events:
            self._header(event.block_number, headers, event.block_hash)
        last = self._header(to_block, headers)
        block_times = {number: info.timestamp for number, info in headers.items()}
        with self._sessions() as session, session.begin():
            applied = apply_events(session, events, block_times, batch_files=self._batch_file)
            save_checkpoint(
                session,
                to_block,
                last.hash,
                head,
                seen_at,
                contract_address=self._deployment.contract_address,
                contract_version=self._contract_version,
                updated_at=int(self._clock()),
            )
        log.info(
            "Indexed blocks %d..%d (%d blocks): %d events, %d applied, %.2f s; head %d",
            from_block,
            to_block,
            to_block - from_block + 1,
            len(events),
            applied,
            time.monotonic() - started,
            head,
        )
        return applied

    # ------------------------------------------------------------------ polling

    def run_forever(self, stop: threading.Event) -> None:
        """Poll until ``stop`` is set: :meth:`run_once`, then wait ``poll_interval_seconds``.

        A ``ChainUnavailableError`` (or a database that cannot be reached) is logged as a
        warning and retried with exponential backoff (from ``poll_interval_seconds``,
        doubling, at most ``max_backoff_seconds``); the checkpoint keeps every committed
        chunk, so nothing is skipped.

        Raises:
            ReorgDetectedError, LedgerConfigError, WrongChainError,
            UnsupportedContractVersionError, ProjectionError: as :meth:`run_once`; they need an operator (the index must be rebuilt or the
                configuration fixed), so the loop ends.
        """
        poll = self._settings.poll_interval_seconds
        failures = 0
        while not stop.is_set():
            try:
                self.run_once(stop)
            except (ChainUnavailableError, OperationalError) as exc:
                failures += 1
                delay = min(poll * 2**failures, self._max_backoff_seconds)
                log.warning("Indexer pass %d failed, retrying in %.1f s: %s", failures, delay, exc)
            else:
                if failures:
                    log.info("Indexer recovered after %d failed passes", failures)
                failures = 0
                delay = poll
            stop.wait(delay)
