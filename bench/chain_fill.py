"""Big ledger chains, built fast and cached, for the indexer and replay benches.

``python -m bench.chain_fill [--shapes wide,deep,big] [--wide-commitments 10000]
[--deep-deliveries 20000] [--big-events 100000] [--ops-per-tx N] [--txs-per-block N]
[--rebuild] [--port 8610]`` builds (or finds in the cache) each chain and prints its build
time, events, blocks, transactions and gas.

Shapes (every event is one ledger operation, so events = operations):

- ``wide``: N commitments (default 10,000) with 2 deliveries each: the N registrations first,
  then one delivery for each, then the second one (3 × N events; a commitment's deliveries are
  far apart in the chain, as an importer writes them).
- ``deep``: 1 commitment with N deliveries (default 20,000): 1 + N events.
- ``big``: N events in total (default 100,000), in groups of 100 commitments: the 100
  registrations, then 1 to 5 deliveries each (3 on average, round-robin), an amendment of the
  target of every 10th commitment and the revocation of the first delivery of every 20th
  (415 events per group); the stream is cut after exactly N events (a prefix of valid
  operations stays valid).

How it is built quickly: a throwaway anvil (``bench.anvil.throwaway_anvil``, block gas limit
:data:`BLOCK_GAS_LIMIT`) gets the ledger deployed, one municipality (admin: anvil key 1) and
one registrar (anvil key 2) through ``ledger.chain.LedgerChain`` with automine on; then
automine is switched off (``evm_setAutomine false``) and every block is ``--txs-per-block``
raw transactions signed locally (eth-account, nonces counted here, no gas estimate: a fixed
gas budget per operation, :data:`GAS_PER_OPERATION`), each a ``multicall`` of
``--ops-per-tx`` operations ABI-encoded with eth-abi, sent in one JSON-RPC batch, then mined
with one ``evm_mine`` (default packing per shape: ``wide`` and ``deep`` 50 × 1, 50 events a
block; ``big`` 100 × 5, 500 events a block). At the end the chain's logs are counted per event name against the
plan (a reverted transaction would be missing events): :class:`ChainFillError` otherwise.

Cache: the chain's state (``anvil_dumpState``, blocks, receipts and logs included) is saved as
the gzipped JSON anvil answers under ``data/bench/`` (gitignored) with the deployment record beside it, keyed by shape,
size, packing, :data:`GENERATOR_VERSION` and the SHA-256 of the contract's bytecode (a new
contract builds a new chain); the next run unzips it to a temporary file and starts anvil
with ``--load-state`` on it (anvil reads plain JSON only): seconds instead of minutes. Block times are those of the build (Unix seconds).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import signal
import socket
import sys
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

import httpx
import typer
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import event_abi_to_log_topic, function_abi_to_4byte_selector, to_checksum_address
from eth_utils.abi import collapse_if_tuple
from rich.console import Console
from rich.table import Table

from bench.anvil import throwaway_anvil
from ledger.abi import ledger_abi, ledger_bytecode
from ledger.chain import LedgerChain
from ledger.deployment import Deployment, load_deployment, save_deployment
from ledger.errors import LedgerError
from ledger.settings import REPO_ROOT
from scripts.local_keys import WELL_KNOWN_KEYS

GENERATOR_VERSION = 1
"""Bumped whenever the operations a shape generates change (the cache key includes it)."""

CACHE_DIR = REPO_ROOT / "data" / "bench"
"""Where built chains are kept (``data/`` is gitignored)."""

BLOCK_GAS_LIMIT = 1_000_000_000
"""anvil ``--gas-limit``: per block, far above what ``--txs-per-block`` transactions use."""

GAS_PER_OPERATION = {"register": 600_000, "deliver": 400_000, "amend": 300_000, "revoke": 200_000}
"""Gas budget of one operation inside a ``multicall`` (unused gas is not charged); measured use
is about a third of it (printed by ``python -m bench.chain_fill``)."""

GAS_PER_TRANSACTION = 100_000
"""Gas budget of a ``multicall`` transaction itself (intrinsic gas, calldata, the loop)."""

MAX_FEE_PER_GAS = 10 * 10**9
"""``maxFeePerGas`` of every bulk transaction, wei (anvil's base fee starts at 1 gwei and falls
in blocks filled below half their limit); no priority fee."""

DEFAULT_PORT = 8610
"""First of the ports the big-chain benches use (8610-8619)."""

# Throwaway chain only: anvil's development accounts 0 (platform admin), 1 (municipality
# admin) and 2 (registrar).
PLATFORM_ADMIN_KEY, MUNICIPALITY_ADMIN_KEY, REGISTRAR_KEY = WELL_KNOWN_KEYS[:3]
MUNICIPALITY_ID = 1

PROMISED_AT = 1_704_067_200
"""``promisedAt`` of every commitment: 2024-01-01T00:00:00Z (before any build's block time)."""
DUE_DATES = (1_751_241_600, 1_924_905_600, 1_767_139_200)
"""Due dates taken in turn: 2025-06-30, 2030-12-31, 2025-12-31 (Unix seconds), so that
statuses mix overdue, delivered, delivered late and in progress."""
THEMES = ("Wonen", "Verkeer en vervoer", "Klimaat en energie", "Onderwijs", "Zorg en welzijn",
          "Veiligheid", "Cultuur en sport", "Bestuur en financien")
WORDS = ("woningen", "fietspad", "zonnepanelen", "schoolplein", "groen", "speeltuin", "bibliotheek",
         "wijkcentrum", "laadpalen", "bomen", "geluidsscherm", "starters", "huurwoningen", "riolering",
         "sportpark", "zwembad", "buurtbus", "parkeren", "isolatie", "warmtenet")
DELIVERED_AT = 1_710_000_000
"""Earliest claimed ``deliveredAt`` (2024-03-09); each delivery adds minutes to it."""


class ChainFillError(LedgerError):
    """The built chain does not hold the planned events (a transaction failed, or anvil did
    not mine everything that was sent)."""


# ---------------------------------------------------------------------- operations


@dataclass(frozen=True)
class Operation:
    """One ledger call of the plan: ``kind`` (``register``, ``deliver``, ``amend``,
    ``revoke``), the function name and its arguments in ABI order."""

    kind: str
    function: str
    args: tuple[Any, ...]


def _words(i: int, count: int) -> str:
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(count))


def register_op(commitment_id: int, target: int) -> Operation:
    """``registerCommitment`` of commitment number ``commitment_id`` (its id on a fresh ledger:
    ids count from 1) with target ``target``."""
    i = commitment_id
    return Operation("register", "registerCommitment", ((
        MUNICIPALITY_ID, f"bench-{i}", f"Commitment {i}: {_words(i, 3)}",
        f"Promise {i} of the benchmark municipality: {_words(i + 1, 12)}.", THEMES[i % len(THEMES)],
        target, "stuks", PROMISED_AT, DUE_DATES[i % len(DUE_DATES)], hashlib.sha256(f"source {i}".encode()).digest(),
        f"https://example.org/besluiten/{i}", 0, 0,
    ),))


def deliver_op(commitment_id: int, number: int, quantity: int = 1) -> Operation:
    """``recordDelivery`` number ``number`` (1-based, per commitment) of ``commitment_id``."""
    return Operation("deliver", "recordDelivery", (commitment_id, (
        quantity, DELIVERED_AT + 60 * (number + commitment_id % 1000),
        [hashlib.sha256(f"evidence {commitment_id}-{number}".encode()).digest()],
        f"https://example.org/bewijs/{commitment_id}/{number}", f"Delivery {number}", f"d{number}", "",
    )))


def amend_op(commitment_id: int, new_target: int) -> Operation:
    """The first ``amendCommitment`` of ``commitment_id``: its target becomes ``new_target``."""
    return Operation("amend", "amendCommitment", (commitment_id, (0, 4, "", "", new_target, 0, "Bijgesteld na de begroting")))


def revoke_op(commitment_id: int, number: int) -> Operation:
    """``revokeDelivery`` of delivery ``number`` of ``commitment_id``."""
    return Operation("revoke", "revokeDelivery", (commitment_id * 1_000_000 + number, "Dubbel geregistreerd"))


def wide_ops(commitments: int) -> Iterator[Operation]:
    """``commitments`` registrations, then a first delivery for each, then a second one."""
    for cid in range(1, commitments + 1):
        yield register_op(cid, 2 + cid % 2)  # targets 2 and 3: half are met by their two deliveries
    for number in (1, 2):
        for cid in range(1, commitments + 1):
            yield deliver_op(cid, number)


def deep_ops(deliveries: int) -> Iterator[Operation]:
    """One commitment, then ``deliveries`` deliveries of it."""
    yield register_op(1, 1_000_000)
    for number in range(1, deliveries + 1):
        yield deliver_op(1, number)


BIG_GROUP = 100
"""Commitments per group of the ``big`` shape."""


def big_ops(events: int) -> Iterator[Operation]:
    """Exactly ``events`` operations in groups of :data:`BIG_GROUP` commitments (module docstring)."""
    produced = 0
    first = 1
    while True:
        group = range(first, first + BIG_GROUP)
        ops: list[Operation] = [register_op(cid, 3 + cid % 4) for cid in group]
        counts = {cid: 1 + cid % 5 for cid in group}
        for number in range(1, 6):
            ops += [deliver_op(cid, number, 1 + (cid + number) % 2) for cid in group if counts[cid] >= number]
        ops += [amend_op(cid, 4 + cid % 4) for cid in group if cid % 10 == 0]  # 3 + cid % 4 + 1: never the current
        ops += [revoke_op(cid, 1) for cid in group if cid % 20 == 0]
        for op in ops:
            if produced == events:
                return
            yield op
            produced += 1
        first += BIG_GROUP


@dataclass(frozen=True)
class Shape:
    """A chain shape: name, what its size counts, its default size, how many events a size
    makes, the operations of a size, and its default packing: operations per ``multicall``
    transaction (the importer sends up to 100) and transactions per block."""

    name: str
    size_means: str
    default_size: int
    events: Callable[[int], int]
    operations: Callable[[int], Iterator[Operation]]
    ops_per_tx: int
    txs_per_block: int


SHAPES: dict[str, Shape] = {
    # 50 events a block: 600 and 400 blocks.
    "wide": Shape("wide", "commitments (2 deliveries each)", 10_000, lambda n: 3 * n, wide_ops, 50, 1),
    "deep": Shape("deep", "deliveries of one commitment", 20_000, lambda n: 1 + n, deep_ops, 50, 1),
    # 500 events a block (five importer-sized multicalls): 200 blocks. anvil computes the state
    # root over the whole state at every block, so a block costs more the bigger the ledger
    # (at 50 events a block, the 100,000 events would take most of an hour to mine).
    "big": Shape("big", "events in total", 100_000, lambda n: n, big_ops, 100, 5),
}


def expected_counts(operations: Sequence[Operation]) -> dict[str, int]:
    """Event name → number of events the operations emit (one each)."""
    names = {"register": "CommitmentRegistered", "deliver": "DeliveryRecorded", "amend": "CommitmentAmended",
             "revoke": "DeliveryRevoked"}
    counts: dict[str, int] = {}
    for op in operations:
        counts[names[op.kind]] = counts.get(names[op.kind], 0) + 1
    return counts


class CallEncoder:
    """ABI-encodes ledger calls with eth-abi directly (selector + arguments), and a
    ``multicall(bytes[])`` of them, from the compiled ABI (``ledger.abi.ledger_abi``)."""

    def __init__(self) -> None:
        self._functions: dict[str, tuple[bytes, list[str]]] = {}
        for entry in ledger_abi():
            if entry["type"] == "function":
                self._functions[entry["name"]] = (bytes(function_abi_to_4byte_selector(entry)),
                                                  [collapse_if_tuple(dict(i)) for i in entry["inputs"]])

    def call(self, op: Operation) -> bytes:
        """Calldata of one operation."""
        selector, types = self._functions[op.function]
        return selector + abi_encode(types, list(op.args))

    def multicall(self, ops: Sequence[Operation]) -> bytes:
        """Calldata of ``multicall(bytes[])`` over ``ops``, in order."""
        selector, types = self._functions["multicall"]
        return selector + abi_encode(types, [[self.call(op) for op in ops]])


# ---------------------------------------------------------------------- JSON-RPC


class Rpc:
    """Plain JSON-RPC over one kept-alive HTTP connection (httpx), single calls and batches.

    Raises (every method):
        ChainFillError: the node answered an error object.
        httpx.HTTPError: the node cannot be reached.
    """

    def __init__(self, url: str, timeout_seconds: float = 600.0) -> None:
        self.url = url
        self._client = httpx.Client(timeout=timeout_seconds)
        self._id = 0

    def close(self) -> None:
        """Close the connection."""
        self._client.close()

    def __call__(self, method: str, *params: Any) -> Any:
        self._id += 1
        answer = self._client.post(self.url, json={"jsonrpc": "2.0", "id": self._id, "method": method,
                                                   "params": list(params)}).json()
        if "error" in answer:
            raise ChainFillError(f"{method} answered {answer['error']}")
        return answer["result"]

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        """The results of ``calls`` (method, params), sent as one JSON-RPC batch, in call order."""
        first = self._id + 1
        self._id += len(calls)
        payload = [{"jsonrpc": "2.0", "id": first + k, "method": m, "params": list(p)} for k, (m, p) in enumerate(calls)]
        answers = {a["id"]: a for a in self._client.post(self.url, json=payload).json()}
        results = []
        for k, (method, _params) in enumerate(calls):
            answer = answers[first + k]
            if "error" in answer:
                raise ChainFillError(f"{method} (call {k + 1} of a batch of {len(calls)}) answered {answer['error']}")
            results.append(answer["result"])
        return results


# ---------------------------------------------------------------------- building


@dataclass
class BuildStats:
    """How a chain was built: seconds, blocks mined, transactions, gas used (measured on the
    chain), or ``None`` figures when it was loaded from the cache."""

    seconds: float
    blocks: int | None = None
    transactions: int | None = None
    gas_used: int | None = None


@dataclass
class BuiltChain:
    """A running anvil holding a built chain.

    Attributes:
        shape: the shape's name.
        size: its size (what ``Shape.size_means`` counts).
        rpc_url: the anvil's JSON-RPC URL.
        deployment: the ledger's deployment record.
        first_block, last_block: the blocks holding the bulk operations, both inclusive
            (the set-up events are in the blocks before).
        events: every ledger event from the deploy block to ``last_block`` (set-up included).
        counts: event name → count, over the same range.
        from_cache: loaded with ``--load-state`` instead of built.
        load_seconds: seconds to build it, or to start anvil on the saved state.
        build: the build's figures (``None`` figures when loaded).
        state_file: the saved state (JSON).
    """

    shape: str
    size: int
    rpc_url: str
    deployment: Deployment
    first_block: int
    last_block: int
    events: int
    counts: dict[str, int]
    from_cache: bool
    load_seconds: float
    build: BuildStats
    state_file: Path
    meta: dict[str, Any] = field(default_factory=dict)


def cache_key(shape: str, size: int, ops_per_tx: int, txs_per_block: int) -> str:
    """The cache file stem of a chain: shape, size, packing, generator version and the first
    12 hex digits of the SHA-256 of the contract's bytecode."""
    code = hashlib.sha256(ledger_bytecode().encode()).hexdigest()[:12]
    return f"{shape}-{size}-{ops_per_tx}x{txs_per_block}-v{GENERATOR_VERSION}-{code}"


def count_events(rpc: Rpc, address: str, from_block: int, to_block: int, chunk_blocks: int = 2000) -> dict[str, int]:
    """Event name → number of logs of ``address`` in ``from_block..to_block`` (inclusive)."""
    names = {"0x" + bytes(event_abi_to_log_topic(e)).hex(): e["name"] for e in ledger_abi() if e["type"] == "event"}
    counts: dict[str, int] = {}
    for start in range(from_block, to_block + 1, chunk_blocks):
        logs = rpc("eth_getLogs", {"address": address, "fromBlock": hex(start),
                                   "toBlock": hex(min(start + chunk_blocks - 1, to_block))})
        for log in logs:
            name = names.get(log["topics"][0], log["topics"][0])
            counts[name] = counts.get(name, 0) + 1
    return counts


def _set_up(rpc_url: str) -> Deployment:
    chain = LedgerChain(rpc_url)
    deployment = chain.deploy(PLATFORM_ADMIN_KEY)
    chain.send("registerMunicipality", ["Benchmark municipality", "GM9999",
                                        Account.from_key(MUNICIPALITY_ADMIN_KEY).address], PLATFORM_ADMIN_KEY)
    chain.send("addRegistrar", [MUNICIPALITY_ID, Account.from_key(REGISTRAR_KEY).address], MUNICIPALITY_ADMIN_KEY)
    return deployment


def fill(rpc_url: str, deployment: Deployment, operations: Sequence[Operation], *, ops_per_tx: int,
         txs_per_block: int, progress: Callable[[int, int], None] | None = None) -> BuildStats:
    """Write ``operations`` to the ledger of ``deployment`` from the registrar, ``ops_per_tx``
    per ``multicall`` transaction and ``txs_per_block`` transactions per block, with automine
    off (module docstring); automine is switched back on at the end. While anvil mines a block
    (one thread sends its batch and its ``evm_mine``), the next block's transactions are
    encoded and signed here: eth-account signs in pure Python (about 30 ms a transaction).

    Args:
        progress: called after each block with (operations written, operations planned).

    Raises:
        ChainFillError: a transaction was refused, or blocks were left unmined.
    """
    started = time.monotonic()
    rpc = Rpc(rpc_url)
    encoder = CallEncoder()
    registrar = Account.from_key(REGISTRAR_KEY)
    address = to_checksum_address(deployment.contract_address)
    nonce = int(rpc("eth_getTransactionCount", registrar.address, "latest"), 16)
    first_block = int(rpc("eth_blockNumber"), 16) + 1
    rpc("evm_setAutomine", False)
    transactions = 0

    def send_and_mine(raws: list[str], first_nonce: int) -> None:
        try:
            rpc.batch([("eth_sendRawTransaction", [raw]) for raw in raws])
        except ChainFillError as exc:
            on_chain = int(rpc("eth_getTransactionCount", registrar.address, "latest"), 16)
            raise ChainFillError(f"block {int(rpc('eth_blockNumber'), 16) + 1}: {exc}; the registrar's nonce on chain "
                                 f"is {on_chain}, this block's transactions have {first_nonce}..{first_nonce + len(raws) - 1}") from exc
        rpc("evm_mine")

    try:
        with ThreadPoolExecutor(max_workers=1) as miner:
            pending: Future[None] | None = None
            per_block = ops_per_tx * txs_per_block
            for start in range(0, len(operations), per_block):
                raws = []
                for tx_start in range(start, min(start + per_block, len(operations)), ops_per_tx):
                    ops = operations[tx_start:tx_start + ops_per_tx]
                    tx = {"type": 2, "chainId": deployment.chain_id, "nonce": nonce, "to": address, "value": 0,
                          "data": encoder.multicall(ops), "maxFeePerGas": MAX_FEE_PER_GAS, "maxPriorityFeePerGas": 0,
                          "gas": GAS_PER_TRANSACTION + sum(GAS_PER_OPERATION[op.kind] for op in ops)}
                    raws.append("0x" + bytes(registrar.sign_transaction(tx).raw_transaction).hex())
                    nonce += 1
                if pending is not None:
                    pending.result()  # blocks are mined in order, one at a time
                pending = miner.submit(send_and_mine, raws, nonce - len(raws))
                transactions += len(raws)
                if progress is not None:
                    progress(min(start + per_block, len(operations)), len(operations))
            if pending is not None:
                pending.result()
        status = rpc("txpool_status")
        if int(status["pending"], 16) or int(status["queued"], 16):
            raise ChainFillError(f"anvil left transactions unmined: {status}")
    finally:
        rpc("evm_setAutomine", True)
    last_block = int(rpc("eth_blockNumber"), 16)
    gas_used = 0
    for start in range(first_block, last_block + 1, 200):
        blocks = rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in range(start, min(start + 200, last_block + 1))])
        gas_used += sum(int(b["gasUsed"], 16) for b in blocks)
    rpc.close()
    return BuildStats(time.monotonic() - started, last_block - first_block + 1, transactions, gas_used)


def port_free(port: int, wait_seconds: float = 0.0) -> bool:
    """Whether nothing listens on ``port`` of 127.0.0.1 (it can be bound, with
    ``SO_REUSEADDR`` as anvil binds: a closed connection in TIME_WAIT does not count), asking
    again for up to ``wait_seconds`` seconds (the anvil of the previous chain may still be
    exiting: ``node_modules/.bin/anvil`` is a wrapper that ends before the binary it started)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
                return True
            except OSError:
                if time.monotonic() >= deadline:
                    return False
        time.sleep(0.2)


def _anvil_args(state_file: Path | None = None) -> list[str]:
    """anvil options of a bench chain: the block gas limit, and ``--prune-history`` (without
    it anvil writes every block's state to disk, so each block costs more than the one before:
    the build slowed from 190 to 33 operations/s over 30,000 operations); with the state to
    load, if any."""
    args = ["--gas-limit", str(BLOCK_GAS_LIMIT), "--prune-history"]
    return args + (["--load-state", str(state_file)] if state_file is not None else [])


@contextmanager
def built_chain(
    shape: str,
    size: int | None = None,
    *,
    ops_per_tx: int | None = None,
    txs_per_block: int | None = None,
    port: int | None = DEFAULT_PORT,
    rebuild: bool = False,
    cache_dir: Path = CACHE_DIR,
    console: Console | None = None,
) -> Iterator[BuiltChain]:
    """A throwaway anvil holding the chain of ``shape`` at ``size`` (default the shape's
    default), loaded from ``cache_dir`` when it was built before (unless ``rebuild``), else
    built and saved there. The anvil is stopped on exit.

    Args:
        ops_per_tx: operations per ``multicall`` transaction (``None``: the shape's).
        txs_per_block: transactions per block (``None``: the shape's).
        port: anvil's port on 127.0.0.1 (``None``: a free one).
        console: where build progress is printed (``None``: nowhere).

    Raises:
        KeyError: unknown shape.
        ValueError: ``size``, ``ops_per_tx`` or ``txs_per_block`` below 1.
        ChainFillError: the chain does not hold the planned events.
        ChainUnavailableError: anvil did not start.
    """
    spec = SHAPES[shape]
    size = spec.default_size if size is None else size
    ops_per_tx = spec.ops_per_tx if ops_per_tx is None else ops_per_tx
    txs_per_block = spec.txs_per_block if txs_per_block is None else txs_per_block
    if size < 1 or ops_per_tx < 1 or txs_per_block < 1:
        raise ValueError(f"size, ops per transaction and transactions per block must be at least 1 "
                         f"(got {size}, {ops_per_tx}, {txs_per_block})")
    if port is not None and not port_free(port, wait_seconds=15.0):  # anvil would not bind; its wait would find the other
        raise ChainFillError(f"port {port} on 127.0.0.1 is taken: give another (--port)")
    stem = cache_key(shape, size, ops_per_tx, txs_per_block)
    state_file = cache_dir / f"{stem}.state.json.gz"
    meta_file = cache_dir / f"{stem}.meta.json"
    deployment_file = cache_dir / f"{stem}.deployment.json"
    cached = not rebuild and state_file.is_file() and meta_file.is_file() and deployment_file.is_file()
    started = time.monotonic()
    if cached:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        deployment = load_deployment(deployment_file)
        with ExitStack() as running:
            with tempfile.TemporaryDirectory(prefix="chain-fill-") as tmp:  # deleted once anvil has read it
                plain = Path(tmp) / "state.json"
                with gzip.open(state_file, "rb") as zipped, open(plain, "wb") as out:
                    shutil.copyfileobj(zipped, out, 1 << 20)
                url = running.enter_context(throwaway_anvil(timeout_seconds=300, port=port, extra_args=_anvil_args(plain)))
            loaded = time.monotonic() - started
            head = int(Rpc(url)("eth_blockNumber"), 16)
            if head != meta["last_block"]:
                raise ChainFillError(f"{state_file} loaded with head {head}, built with head {meta['last_block']}: "
                                     f"rebuild it (--rebuild)")
            yield BuiltChain(shape, size, url, deployment, meta["first_block"], meta["last_block"], meta["events"],
                             meta["counts"], True, loaded, BuildStats(meta["build_seconds"], meta["blocks"],
                                                                      meta["transactions"], meta["gas_used"]),
                             state_file, meta)
        return
    operations = list(spec.operations(size))
    with throwaway_anvil(port=port, extra_args=_anvil_args()) as url:
        deployment = _set_up(url)
        first_block = int(Rpc(url)("eth_blockNumber"), 16) + 1

        def progress(done: int, planned: int) -> None:
            if console is not None and (done == planned or done % 10_000 < ops_per_tx * txs_per_block):
                console.print(f"  {shape}: {done:,} of {planned:,} operations written "
                              f"({time.monotonic() - started:.0f} s)")

        stats = fill(url, deployment, operations, ops_per_tx=ops_per_tx, txs_per_block=txs_per_block, progress=progress)
        rpc = Rpc(url)
        last_block = int(rpc("eth_blockNumber"), 16)
        counts = count_events(rpc, deployment.contract_address, deployment.deploy_block, last_block)
        bulk = count_events(rpc, deployment.contract_address, first_block, last_block)
        if bulk != expected_counts(operations):
            raise ChainFillError(f"the chain holds {bulk} in blocks {first_block}..{last_block}, the plan "
                                 f"{expected_counts(operations)}: a transaction failed (gas budget?)")
        stats.seconds = time.monotonic() - started
        dump = bytes.fromhex(rpc("anvil_dumpState")[2:])
        rpc.close()
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = state_file.with_suffix(".tmp")
        tmp.write_bytes(dump)  # gzipped JSON, as anvil answers it
        tmp.replace(state_file)
        save_deployment(deployment_file, deployment)
        meta = {"shape": shape, "size": size, "ops_per_tx": ops_per_tx, "txs_per_block": txs_per_block,
                "first_block": first_block, "last_block": last_block, "events": sum(counts.values()),
                "counts": counts, "build_seconds": round(stats.seconds, 3), "blocks": stats.blocks,
                "transactions": stats.transactions, "gas_used": stats.gas_used}
        meta_file.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        yield BuiltChain(shape, size, url, deployment, first_block, last_block, meta["events"], counts, False,
                         stats.seconds, stats, state_file, meta)


def parse_sizes(wide: int, deep: int, big: int) -> dict[str, int]:
    """Shape name → size, from the command-line options."""
    return {"wide": wide, "deep": deep, "big": big}


def exit_cleanly_on_sigterm() -> None:
    """Make SIGTERM raise ``SystemExit(143)`` in the main thread, so that a bench stopped with
    ``kill`` still stops its anvil and drops its PostgreSQL schema (``finally`` blocks run)."""
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(128 + signal.SIGTERM))


def parse_shapes(text: str) -> list[str]:
    """Comma-separated shape names, checked.

    Raises:
        typer.BadParameter: an unknown name, or none.
    """
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in SHAPES]
    if unknown or not names:
        raise typer.BadParameter(f"shapes are {', '.join(SHAPES)}; got {text!r}")
    return names


def main(
    shapes: str = typer.Option("wide,deep,big", help="comma-separated shapes: wide, deep, big"),
    wide_commitments: int = typer.Option(SHAPES["wide"].default_size, min=1, help="wide: commitments (2 deliveries each)"),
    deep_deliveries: int = typer.Option(SHAPES["deep"].default_size, min=1, help="deep: deliveries of the one commitment"),
    big_events: int = typer.Option(SHAPES["big"].default_size, min=1, help="big: events in total"),
    ops_per_tx: Optional[int] = typer.Option(None, min=1, help="operations per multicall transaction (default: the shape's)"),
    txs_per_block: Optional[int] = typer.Option(None, min=1, help="transactions per block (default: the shape's)"),
    rebuild: bool = typer.Option(False, "--rebuild", help="build again even when cached"),
    port: int = typer.Option(DEFAULT_PORT, help="anvil's port"),
) -> None:
    """Build (or load from data/bench/) each chain and print how long it took."""
    exit_cleanly_on_sigterm()
    console = Console(width=None if sys.stdout.isatty() else 160)
    sizes = parse_sizes(wide_commitments, deep_deliveries, big_events)
    table = Table(title="Benchmark chains (anvil; set-up events included in the event count)")
    for column in ("shape", "size", "events", "blocks", "transactions", "gas per event", "build s", "build events/s",
                   "state MB", "from cache", "load s"):
        table.add_column(column, justify="left" if column == "shape" else "right")
    for name in parse_shapes(shapes):
        with built_chain(name, sizes[name], ops_per_tx=ops_per_tx, txs_per_block=txs_per_block, port=port,
                         rebuild=rebuild, console=console) as built:
            b = built.build
            table.add_row(name, f"{built.size:,} {SHAPES[name].size_means}", f"{built.events:,}", f"{b.blocks:,}",
                          f"{b.transactions:,}", f"{(b.gas_used or 0) // max(1, built.events):,}", f"{b.seconds:.1f}",
                          f"{built.events / b.seconds:,.0f}", f"{built.state_file.stat().st_size / 1e6:.0f}",
                          "yes" if built.from_cache else "no", f"{built.load_seconds:.1f}")
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
