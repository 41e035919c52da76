"""The auditor's own chain access over JSON-RPC, read-only: web3.py for the few calls at the
start, plain HTTP for the bulk (``eth_getLogs`` and batches of headers).

Methods used: ``eth_chainId``, ``eth_blockNumber``, ``eth_getBlockByNumber`` (block hashes and
times), ``eth_getCode`` (is there a contract at the address), one ``eth_call`` of ``version()``
(which ABI the events follow) and ``eth_getLogs`` (in chunks, both block bounds inclusive,
halved when the node refuses a range). No other view is read: the state comes from events.

Logs come as the node sends them (plain JSON dicts, no web3 formatting; the quantities
``blockNumber``, ``logIndex``, ``transactionIndex`` and ``blockTimestamp`` as ints). Their
block's time is the log's own ``blockTimestamp`` when the node sends it (anvil, geth ≥ 1.14,
reth); the headers of the other blocks are read in ONE JSON-RPC batch request
(:meth:`ChainSource.blocks`), never one call per block. Independent of ``ledger.chain`` on
purpose: the auditor must not share the server's chain client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, TypeVar

import requests
from eth_abi import decode as abi_decode
from eth_utils import function_signature_to_4byte_selector, to_checksum_address
from web3 import HTTPProvider, Web3
from web3.exceptions import BlockNotFound, ContractLogicError, Web3RPCError

from scripts.audit.errors import LogRangeRefusedError, ReplayChainError, ReplayConfigError

T = TypeVar("T")

DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0
"""HTTP timeout of one JSON-RPC request, seconds."""

MAX_BATCH_CALLS = 1000
"""Most calls in one JSON-RPC batch request (geth's default ``--rpc.batch-request-limit``)."""

QUANTITIES = ("blockNumber", "logIndex", "transactionIndex", "blockTimestamp")
"""Fields of a raw log read as ints (from ``0x`` hex quantities)."""


def _hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    text = str(value).lower()
    return text if text.startswith("0x") else "0x" + text


@dataclass(frozen=True)
class BlockHeader:
    """A block: number, ``0x`` hash (lowercase hex) and time (Unix seconds)."""

    number: int
    hash: str
    timestamp: int


@dataclass(frozen=True)
class LogChunk:
    """The raw logs of one ``eth_getLogs`` range, ``from_block..to_block`` inclusive."""

    from_block: int
    to_block: int
    logs: list[Mapping[str, Any]]


class ChainSource:
    """Read-only access to one node.

    Args:
        rpc_url: the node's JSON-RPC HTTP endpoint.
        request_timeout_seconds: HTTP timeout per request, seconds.
    """

    def __init__(self, rpc_url: str, *, request_timeout_seconds: float = DEFAULT_REQUEST_TIMEOUT_SECONDS) -> None:
        self.rpc_url = rpc_url
        self._timeout = request_timeout_seconds
        self._w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": request_timeout_seconds}))
        self._http = requests.Session()  # the bulk reads, raw: keeps its connections
        self._http.headers["Content-Type"] = "application/json"
        self._headers: dict[int, BlockHeader] = {}

    def _post(self, method: str, payload: Any) -> Any:
        """POST one raw JSON-RPC request or batch and return the decoded answer.

        Raises:
            requests.HTTPError: the node answered with an HTTP error status (it refused).
            Web3RPCError: the answer is an error object (the node refused), or not JSON-RPC.
            ReplayChainError: the node cannot be reached.
        """
        def post() -> Any:
            response = self._http.post(self.rpc_url, data=json.dumps(payload), timeout=self._timeout)
            response.raise_for_status()
            return response.content

        content = self._rpc(method, post, keep_rpc_errors=True)
        try:
            answer = json.loads(content)
        except ValueError as exc:
            raise Web3RPCError(f"{method}: the answer is not JSON") from exc
        if isinstance(answer, Mapping) and "error" in answer:
            error = answer["error"]
            message = error.get("message", error) if isinstance(error, Mapping) else error
            raise Web3RPCError(f"{method}: {message}", rpc_response=answer)  # type: ignore[arg-type]
        return answer

    def _rpc(self, method: str, fn: Callable[[], T], *, keep_rpc_errors: bool = False) -> T:
        """Run ``fn``; transport errors (and JSON-RPC error answers unless ``keep_rpc_errors``)
        become :class:`ReplayChainError`."""
        try:
            return fn()
        except requests.HTTPError as exc:  # an HTTP error status: the node answered and refused
            if keep_rpc_errors:
                raise
            raise ReplayChainError(self.rpc_url, method, repr(exc)) from exc
        except (requests.RequestException, ConnectionError, OSError) as exc:
            raise ReplayChainError(self.rpc_url, method, repr(exc)) from exc
        except Web3RPCError as exc:
            if keep_rpc_errors:
                raise
            raise ReplayChainError(self.rpc_url, method, str(exc)) from exc

    def chain_id(self) -> int:
        """The node's chain id.

        Raises:
            ReplayChainError: the node cannot be reached or answered with an error.
        """
        return int(self._rpc("eth_chainId", lambda: self._w3.eth.chain_id))

    def head_block_number(self) -> int:
        """Number of the latest block.

        Raises:
            ReplayChainError: the node cannot be reached or answered with an error.
        """
        return int(self._rpc("eth_blockNumber", lambda: self._w3.eth.block_number))

    def code_size(self, address: str, block_number: int | str = "latest") -> int:
        """Size in bytes of the code at ``address`` as of block ``block_number`` (default the
        head, which every node can answer; older blocks need an archive node). 0: no contract.

        Raises:
            ReplayChainError: the node cannot be reached or answered with an error.
        """
        code = self._rpc("eth_getCode", lambda: self._w3.eth.get_code(to_checksum_address(address), block_number))
        return len(bytes(code))

    def contract_version(self, address: str, block_number: int | str = "latest") -> str | None:
        """What ``version()`` of the contract at ``address`` answers as of ``block_number``
        (one ``eth_call``), or ``None`` when the call reverts or returns no string (a contract
        without ``version()``, e.g. v1 of the ledger).

        Raises:
            ReplayChainError: the node cannot be reached.
        """
        call = {"to": to_checksum_address(address), "data": "0x" + function_signature_to_4byte_selector("version()").hex()}
        try:
            raw = self._rpc("eth_call", lambda: self._w3.eth.call(call, block_number), keep_rpc_errors=True)
        except (ContractLogicError, Web3RPCError, requests.HTTPError, ValueError):
            return None  # reverted: no such function
        try:
            (text,) = abi_decode(["string"], bytes(raw))
        except Exception:  # eth-abi raises several types; all mean "not a string answer"
            return None
        return str(text)

    def block(self, number: int, *, fresh: bool = False) -> BlockHeader:
        """Header of block ``number``, cached per instance unless ``fresh`` (ask the node again,
        e.g. to see whether a block was reorganised away).

        Raises:
            ReplayConfigError: the node has no such block (beyond the head).
            ReplayChainError: the node cannot be reached or answered with an error.
        """
        cached = None if fresh else self._headers.get(number)
        if cached is not None:
            return cached

        def fetch() -> Any:
            try:
                return self._w3.eth.get_block(number)
            except BlockNotFound as exc:
                raise ReplayConfigError(f"Block {number} does not exist on {self.rpc_url} (beyond the head?).") from exc

        raw = self._rpc("eth_getBlockByNumber", fetch)
        header = BlockHeader(number=int(raw["number"]), hash=_hex(raw["hash"]), timestamp=int(raw["timestamp"]))
        self._headers[number] = header
        return header

    def blocks(self, numbers: Iterable[int]) -> dict[int, BlockHeader]:
        """Headers of blocks ``numbers`` by number, in ONE JSON-RPC batch request (one per
        :data:`MAX_BATCH_CALLS` blocks), none for no numbers. Not cached (each chunk of logs
        asks for its own blocks).

        Raises:
            ReplayConfigError: the node has no such block.
            ReplayChainError: the node cannot be reached or answered with an error.
        """
        wanted = sorted(set(numbers))
        found: dict[int, BlockHeader] = {}
        for first in range(0, len(wanted), MAX_BATCH_CALLS):
            part = wanted[first : first + MAX_BATCH_CALLS]
            calls = [
                {"jsonrpc": "2.0", "id": i, "method": "eth_getBlockByNumber", "params": [hex(n), False]}
                for i, n in enumerate(part)
            ]
            try:
                answer = self._post("eth_getBlockByNumber", calls)
            except (Web3RPCError, requests.HTTPError) as exc:
                raise ReplayChainError(self.rpc_url, "eth_getBlockByNumber", str(exc)) from exc
            if not isinstance(answer, list) or len(answer) != len(calls):
                raise ReplayChainError(self.rpc_url, "eth_getBlockByNumber", f"no list of {len(calls)} answers to a batch")
            for item in answer:
                index = item.get("id") if isinstance(item, Mapping) else None
                if not isinstance(index, int) or not 0 <= index < len(part) or "error" in item:
                    raise ReplayChainError(self.rpc_url, "eth_getBlockByNumber", f"batch answer {item!r}")
                raw = item.get("result")
                if raw is None:
                    raise ReplayConfigError(f"Block {part[index]} does not exist on {self.rpc_url} (beyond the head?).")
                found[part[index]] = BlockHeader(
                    number=int(raw["number"], 16), hash=_hex(raw["hash"]), timestamp=int(raw["timestamp"], 16)
                )
        return found

    def logs(self, address: str, from_block: int, to_block: int) -> list[dict[str, Any]]:
        """Raw logs emitted by ``address`` in blocks ``from_block..to_block`` (both inclusive),
        as the node sends them (one raw ``eth_getLogs`` call; plain dicts, the
        :data:`QUANTITIES` as ints).

        Raises:
            Web3RPCError, requests.HTTPError: the node refused the request (e.g. the range is
                too large or the answer would be).
            ReplayChainError: the node cannot be reached.
        """
        params = {"address": address.lower(), "fromBlock": hex(from_block), "toBlock": hex(to_block)}
        answer = self._post("eth_getLogs", {"jsonrpc": "2.0", "id": 1, "method": "eth_getLogs", "params": [params]})
        logs = answer.get("result") if isinstance(answer, Mapping) else None
        if not isinstance(logs, list):
            raise Web3RPCError(f"eth_getLogs over blocks {from_block}..{to_block}: the answer holds no list of logs")
        for log in logs:
            for key in QUANTITIES:
                value = log.get(key)
                if isinstance(value, str):
                    log[key] = int(value, 16)
        return logs

    def iter_log_chunks(self, address: str, from_block: int, to_block: int, chunk_blocks: int) -> Iterator[LogChunk]:
        """Logs of ``address`` in ``from_block..to_block`` (both inclusive), in ascending chunks of
        at most ``chunk_blocks`` blocks. A range the node refuses is halved and retried; the
        next chunks keep the smaller size.

        Raises:
            ReplayConfigError: ``chunk_blocks`` < 1 or ``from_block`` > ``to_block``.
            LogRangeRefusedError: the node refuses even a single block.
            ReplayChainError: the node cannot be reached.
        """
        if chunk_blocks < 1:
            raise ReplayConfigError(f"chunk_blocks must be at least 1, got {chunk_blocks}")
        if from_block > to_block:
            raise ReplayConfigError(f"from block {from_block} is after to block {to_block}")
        size = chunk_blocks
        start = from_block
        while start <= to_block:
            end = min(start + size - 1, to_block)
            try:
                logs = self.logs(address, start, end)
            except (Web3RPCError, requests.HTTPError) as exc:
                if end == start:
                    raise LogRangeRefusedError(self.rpc_url, start, str(exc)) from exc
                size = max(1, (end - start + 1) // 2)
                continue
            yield LogChunk(start, end, logs)
            start = end + 1
