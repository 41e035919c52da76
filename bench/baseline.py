"""The bare baseline of the indexer and replay benches: what the RPC allows.

:func:`bare_fetch_decode` reads every log of the ledger in a block range with plain
``eth_getLogs`` JSON-RPC calls (httpx, one kept-alive connection, no web3), in the same chunks
of blocks as the code it is compared with, and decodes every log with eth-abi's ``decode``
directly: topic 0 picks the event of the compiled ABI (``ledger.abi.ledger_abi``), the indexed
arguments are decoded from the topics and the others from ``data``. Nothing is stored: it is
the floor an indexer or a replay cannot go below, measured in events per second.

The decoder is ``faster_eth_abi`` (eth-abi's compiled twin, same API, pinned in
requirements.txt), about five times faster than the pure-Python ``eth_abi`` here: a floor
measured with the slower one would flatter every ratio to it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from faster_eth_abi import decode as abi_decode
from eth_utils import event_abi_to_log_topic
from eth_utils.abi import collapse_if_tuple

from ledger.abi import ledger_abi


class BareRpcError(RuntimeError):
    """The node answered ``eth_getLogs`` with an error object (the bare path does not halve
    ranges: give it chunks the node accepts)."""


@dataclass(frozen=True)
class BareRun:
    """One bare pass: events (logs) read and decoded, ``eth_getLogs`` calls, wall-clock
    seconds, and events per second."""

    events: int
    calls: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        """Events decoded per second of the pass."""
        return self.events / self.seconds if self.seconds > 0 else float("inf")


def _decoders() -> dict[str, tuple[list[str], list[str]]]:
    """``0x`` topic 0 → (types of the indexed arguments, types of the data arguments)."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    for entry in ledger_abi():
        if entry["type"] != "event":
            continue
        indexed = [collapse_if_tuple(dict(i)) for i in entry["inputs"] if i.get("indexed")]
        data = [collapse_if_tuple(dict(i)) for i in entry["inputs"] if not i.get("indexed")]
        out["0x" + bytes(event_abi_to_log_topic(entry)).hex()] = (indexed, data)
    return out


def decode_log(log: dict[str, Any], decoders: dict[str, tuple[list[str], list[str]]]) -> tuple[Any, ...]:
    """The decoded arguments of one raw JSON-RPC log (indexed ones first, then data ones).

    Raises:
        KeyError: topic 0 is not an event of the ledger's ABI.
    """
    topics = log["topics"]
    indexed, data = decoders[topics[0]]
    values = abi_decode(indexed, bytes.fromhex("".join(t[2:] for t in topics[1:]))) if indexed else ()
    return (*values, *abi_decode(data, bytes.fromhex(log["data"][2:])))


def bare_fetch_decode(rpc_url: str, address: str, from_block: int, to_block: int, chunk_blocks: int,
                      *, warm_up: bool = True) -> BareRun:
    """Fetch and decode every log of ``address`` in ``from_block..to_block`` (both inclusive)
    with one ``eth_getLogs`` per ``chunk_blocks`` blocks, starting at ``from_block`` (as the
    indexer and the replay cut their ranges).

    Args:
        warm_up: first run the same pass untimed. The first ``eth_getLogs`` over a range of an
            anvil that has just loaded its state is several times slower than the next ones;
            the code measured after this pass gets the warm node, so this pass must too.

    Raises:
        BareRpcError: the node answered an error object.
        httpx.HTTPError: the node cannot be reached.
    """
    if warm_up:
        bare_fetch_decode(rpc_url, address, from_block, to_block, chunk_blocks, warm_up=False)
    decoders = _decoders()
    started = time.perf_counter()
    events = calls = 0
    with httpx.Client(timeout=600.0) as client:
        for start in range(from_block, to_block + 1, chunk_blocks):
            end = min(start + chunk_blocks - 1, to_block)
            answer = client.post(rpc_url, json={"jsonrpc": "2.0", "id": calls, "method": "eth_getLogs", "params": [
                {"address": address, "fromBlock": hex(start), "toBlock": hex(end)}]}).json()
            calls += 1
            if "error" in answer:
                raise BareRpcError(f"eth_getLogs {start}..{end} answered {answer['error']}")
            for log in answer["result"]:
                decode_log(log, decoders)
                events += 1
    return BareRun(events, calls, time.perf_counter() - started)
