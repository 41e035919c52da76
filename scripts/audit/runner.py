"""Run a replay: chain source → shared log decoder → the auditor's projection.

:func:`replay_ledger` reads every log of the ledger contract from its deploy block to a chosen
block (both inclusive), decodes it with the shared ``ledger.events.EventDecoder``, takes the
time of each block with events from its logs (``blockTimestamp``) or, for a node that does not
send it, from the block headers of the chunk read in ONE batch request (a header whose hash is
not its logs' block hash means a reorg during the replay), and applies the events in (block
number, log index) order; the projection checks the time each event reports against its
block. The last block's hash is read before the logs and again after them: a change means the
chain reorganised during the replay. State comes from events only; the
one ``eth_call`` is ``version()`` at the start, so that a contract whose events follow another
ABI is refused instead of misread. The files of anchored batches are looked for where the
caller says (:class:`~scripts.audit.batchfiles.BatchFiles`: a folder, the API) and checked
against the chain by the projection.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from eth_utils import is_address, to_checksum_address

from ledger.abi import ledger_abi
from ledger.errors import EventDecodeError
from ledger.events import EventDecoder, LedgerEvent
from scripts.audit.batchfiles import BatchFiles
from scripts.audit.errors import ChainMismatchError, ReplayConfigError, UnsupportedContractVersionError
from scripts.audit.model import Anomaly, ChainRef, LedgerState
from scripts.audit.projection import Projector
from scripts.audit.source import ChainSource, LogChunk

SUPPORTED_CONTRACT_VERSIONS: tuple[str, ...] = ("2.1.0",)
"""Contract versions whose events this replay knows how to read (docs/LEDGER.md "Versions")."""

DEFAULT_CHUNK_BLOCKS = 2000
"""Largest ``eth_getLogs`` range asked for, in blocks (halved when the node refuses)."""


@dataclass(frozen=True)
class ReplayTarget:
    """What to replay.

    Attributes:
        rpc_url: JSON-RPC endpoint of a node of the ledger's chain.
        contract_address: the ledger contract.
        deploy_block: first block to read (inclusive), the contract's deploy block.
        to_block: last block to read (inclusive); ``None`` for the head at start.
        chain_id: expected chain id, checked against the node when given.
        deploy_block_hash: expected hash of ``deploy_block``, checked when given (catches a
            reset local chain that reuses the address).
        chunk_blocks: largest ``eth_getLogs`` range, in blocks.
    """

    rpc_url: str
    contract_address: str
    deploy_block: int
    to_block: int | None = None
    chain_id: int | None = None
    deploy_block_hash: str | None = None
    chunk_blocks: int = DEFAULT_CHUNK_BLOCKS


@dataclass
class ReplayResult:
    """The rebuilt state and where it comes from.

    Attributes:
        state: everything rebuilt (statuses are not stored: evaluate them at a ``now`` with
            :func:`scripts.audit.rules.evaluate`); ``state.contract_version`` is what
            ``version()`` answered.
        from_block, to_block: the replayed range, both inclusive.
        to_block_hash, to_block_time: the last replayed block's hash and time (Unix seconds).
        head_block: the node's head when the replay started.
        logs_fetched: raw logs returned by the node.
        chunks: number of ``eth_getLogs`` calls that succeeded.
        seconds: wall-clock duration of the replay.
    """

    state: LedgerState
    chain_id: int
    contract_address: str
    from_block: int
    to_block: int
    to_block_hash: str
    to_block_time: int
    head_block: int
    logs_fetched: int
    chunks: int
    seconds: float

    @property
    def blocks_scanned(self) -> int:
        """Number of blocks in the replayed range (both ends inclusive)."""
        return self.to_block - self.from_block + 1


def load_deployment_file(path: Path) -> dict[str, Any]:
    """Read a deployment record (``data/deployment.json``).

    Returns:
        ``{"contract_address": str, "deploy_block": int, "chain_id": int,
        "deploy_block_hash": str | None}``.

    Raises:
        ReplayConfigError: the file is missing, not JSON, or lacks one of
            ``contract_address``, ``deploy_block``, ``chain_id``.
    """
    if not path.exists():
        raise ReplayConfigError(f"No deployment record at {path}. Pass --deployment or --address and --deploy-block.")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReplayConfigError(f"Cannot read the deployment record {path}: {exc}") from exc
    missing = [k for k in ("contract_address", "deploy_block", "chain_id") if k not in raw]
    if missing:
        raise ReplayConfigError(f"Deployment record {path} lacks {', '.join(missing)}.")
    return {
        "contract_address": str(raw["contract_address"]),
        "deploy_block": int(raw["deploy_block"]),
        "chain_id": int(raw["chain_id"]),
        "deploy_block_hash": raw.get("deploy_block_hash"),
    }


def _undecodable(log: Mapping[str, Any], block_time: int, exc: Exception) -> Anomaly:
    tx = log.get("transactionHash")
    ref = ChainRef(
        tx_hash="0x" + bytes(tx).hex() if isinstance(tx, (bytes, bytearray)) else str(tx),
        block_number=int(log["blockNumber"]),
        log_index=int(log["logIndex"]),
        block_time=block_time,
    )
    return Anomaly("undecodable-log", f"log cannot be decoded with the ledger's ABI: {exc}", ref)


def _apply_chunk(
    chunk: LogChunk, source: ChainSource, decoder: EventDecoder, projector: Projector, address: str
) -> None:
    times = {int(log["blockNumber"]): int(log["blockTimestamp"]) for log in chunk.logs if "blockTimestamp" in log}
    headers = source.blocks({int(log["blockNumber"]) for log in chunk.logs} - times.keys())
    times.update((number, header.timestamp) for number, header in headers.items())
    events: list[tuple[LedgerEvent, int]] = []
    for log in chunk.logs:
        number = int(log["blockNumber"])
        block_time = times[number]
        if log.get("removed"):
            projector.record_anomaly(_undecodable(log, block_time, ValueError("log marked removed (reorg)")))
            continue
        try:
            event = decoder.decode(log)
        except EventDecodeError as exc:
            projector.record_anomaly(_undecodable(log, block_time, exc))
            continue
        if event.address != address or not chunk.from_block <= number <= chunk.to_block:
            projector.record_anomaly(
                Anomaly("foreign-log", f"node returned a log of {event.address} in block {number}", None)
            )
            continue
        header = headers.get(number)
        if header is not None and event.block_hash != header.hash:
            projector.record_anomaly(
                Anomaly(
                    "reorg",
                    f"log in block {number} has block hash {event.block_hash}, the node's block has "
                    f"{header.hash}: the chain reorganised during the replay; run it again",
                    None,
                )
            )
        events.append((event, block_time))
    for event, block_time in sorted(events, key=lambda pair: pair[0].order):
        projector.apply(event, block_time)


def replay_ledger(
    target: ReplayTarget,
    *,
    source: ChainSource | None = None,
    on_chunk: Callable[[LogChunk], None] | None = None,
    batch_files: BatchFiles | None = None,
) -> ReplayResult:
    """Rebuild the ledger from its events in ``target.deploy_block..to_block`` (inclusive).

    Args:
        target: what to replay.
        source: chain access to use (a new :class:`ChainSource` on ``target.rpc_url`` if omitted).
        on_chunk: called after each ``eth_getLogs`` range is applied (progress display).
        batch_files: where to look for batch files; ``None``: nowhere, so every anchored batch
            is unverified (``missing``) and counts nothing.

    Returns:
        The :class:`ReplayResult`. Integrity problems are in ``result.state.anomalies``.

    Raises:
        ReplayConfigError: bad address, negative block, or ``deploy_block`` > ``to_block``, or
            ``to_block`` beyond the head.
        ChainMismatchError: the node's chain id or deploy block hash does not match the
            target, or there is no contract code at the address.
        UnsupportedContractVersionError: ``version()`` answers none of
            :data:`SUPPORTED_CONTRACT_VERSIONS` (or the contract has no ``version()``).
        ReplayChainError: the node cannot be reached or keeps refusing ``eth_getLogs``.
        ApiFetchError: ``batch_files`` reads the API and it failed.
        ArtifactNotFoundError: the contracts are not compiled (the ABI comes from ``build/``).
    """
    started = time.monotonic()
    if not is_address(target.contract_address):
        raise ReplayConfigError(f"{target.contract_address!r} is not an Ethereum address.")
    if target.deploy_block < 0 or (target.to_block is not None and target.to_block < 0):
        raise ReplayConfigError("Block numbers must not be negative.")
    address = to_checksum_address(target.contract_address)
    source = source or ChainSource(target.rpc_url)

    chain_id = source.chain_id()
    if target.chain_id is not None and chain_id != target.chain_id:
        raise ChainMismatchError(
            f"The node at {target.rpc_url} serves chain {chain_id}, the deployment record names chain {target.chain_id}."
        )
    head = source.head_block_number()
    to_block = head if target.to_block is None else target.to_block
    if to_block > head:
        raise ReplayConfigError(f"--to-block {to_block} is beyond the node's head {head}.")
    if target.deploy_block > to_block:
        raise ReplayConfigError(f"The deploy block {target.deploy_block} is after the to-block {to_block}.")
    if target.deploy_block_hash is not None:
        actual = source.block(target.deploy_block).hash
        if actual != target.deploy_block_hash.lower():
            raise ChainMismatchError(
                f"Block {target.deploy_block} has hash {actual}, the deployment record says "
                f"{target.deploy_block_hash}: this is not the chain the ledger was deployed on."
            )
    if source.code_size(address) == 0:  # at the head: a non-archive node cannot answer for old blocks
        raise ChainMismatchError(f"No contract code at {address} on {target.rpc_url}: wrong address or wrong chain?")
    version = source.contract_version(address)
    if version not in SUPPORTED_CONTRACT_VERSIONS:
        raise UnsupportedContractVersionError(address, version, SUPPORTED_CONTRACT_VERSIONS)
    last = source.block(to_block)

    decoder = EventDecoder(ledger_abi())
    projector = Projector(batch_files)
    projector.state.contract_version = version
    logs_fetched = 0
    chunks = 0
    for chunk in source.iter_log_chunks(address, target.deploy_block, to_block, target.chunk_blocks):
        _apply_chunk(chunk, source, decoder, projector, address)
        logs_fetched += len(chunk.logs)
        chunks += 1
        if on_chunk is not None:
            on_chunk(chunk)
    state = projector.finish()
    recheck = source.block(to_block, fresh=True)
    if recheck.hash != last.hash:
        state.anomalies.append(
            Anomaly("reorg", f"block {to_block} changed from {last.hash} to {recheck.hash} during the replay; run it again")
        )
    return ReplayResult(
        state=state,
        chain_id=chain_id,
        contract_address=address,
        from_block=target.deploy_block,
        to_block=to_block,
        to_block_hash=last.hash,
        to_block_time=last.timestamp,
        head_block=head,
        logs_fetched=logs_fetched,
        chunks=chunks,
        seconds=time.monotonic() - started,
    )
