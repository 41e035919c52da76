"""The only module that talks to the chain (JSON-RPC, through web3.py and, for the indexer's
hot reads, straight over HTTP).

Reads: chain id, head block, block headers (one, or many in ONE JSON-RPC batch request),
``eth_getLogs`` over an inclusive block range as the node sends it (plain JSON dicts, no web3
formatters: the indexer decodes them with ``ledger.events``), the ``statusOf`` and ``version``
views (v2 ABI, ``ICommitmentLedger`` 2.1.0). Writes: sign with
a given key, send (one call, or many in one transaction through ``multicall(bytes[])``), wait
for the receipt, return the decoded events; a refusal by the contract, also one bubbled up from
inside a multicall, comes back as :class:`ContractRevertError` with the custom error's name and
arguments, and nothing is written. The write outbox (``ledger.outbox``) uses the primitives
that never wait: :meth:`LedgerChain.build_call` (estimate and fees, a refusal surfaces here),
:meth:`LedgerChain.sign` (local, with a nonce the outbox allocated), :meth:`LedgerChain.broadcast`,
:meth:`LedgerChain.receipt`, :meth:`LedgerChain.nonce_at` and :meth:`LedgerChain.replay_failure`.

A :class:`LedgerChain` is expensive (HTTP session): build it once per process (the API's
lifespan, the indexer's main) and pass it around.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import requests
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_utils import function_abi_to_4byte_selector, to_checksum_address
from web3 import HTTPProvider, Web3
from web3.exceptions import (
    BadFunctionCallOutput,
    ContractCustomError,
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)

from ledger.abi import ledger_abi, ledger_bytecode
from ledger.deployment import Deployment
from ledger.errors import (
    ChainRpcError,
    ChainUnavailableError,
    ContractRevertError,
    InsufficientFundsError,
    LogRangeTooLargeError,
    TransactionFailedError,
    TransactionRejectedError,
    UnsupportedContractVersionError,
    WrongChainError,
)
from ledger.events import EventDecoder, LedgerEvent, snake

STATUS_NAMES = ("pending", "in_progress", "delivered", "delivered_late", "overdue", "withdrawn")
"""Index i is the contract's ``Status`` enum value i."""

SUPPORTED_CONTRACT_VERSIONS: tuple[str, ...] = ("2.1.0",)
"""Contract ``version()`` values this code reads (docs/LEDGER.md "Versions")."""

MAX_BATCH_CALLS = 1000
"""Most calls in one JSON-RPC batch request: geth's default ``--rpc.batch-request-limit``
(1000); longer lists of headers go in several batches."""

LOG_QUANTITIES = ("blockNumber", "logIndex", "transactionIndex", "blockTimestamp")
"""Fields of a raw log that :meth:`LedgerChain.get_logs` turns from ``0x`` hex quantities into
ints (``blockTimestamp``: the block's time in Unix seconds, sent by anvil, geth ≥ 1.14 and
reth; absent on older nodes)."""


def error_object_of(error: Any) -> tuple[int | None, str]:
    """``(code, message)`` of a JSON-RPC error object; ``code`` is ``None`` when it has no
    integer code. Decisions are made on the code, never on the message."""
    if isinstance(error, Mapping):
        code = error.get("code")
        return (int(code) if isinstance(code, int) else None), str(error.get("message", error))
    return None, str(error)


@dataclass(frozen=True)
class BlockInfo:
    """A block header: number, ``0x`` hash, timestamp in Unix seconds, ``0x`` parent hash
    (``""`` when not known)."""

    number: int
    hash: str
    timestamp: int
    parent_hash: str = ""


@dataclass(frozen=True)
class TxResult:
    """A mined, successful transaction: its hash, block, gas used and decoded ledger events."""

    tx_hash: str
    block_number: int
    gas_used: int
    events: tuple[LedgerEvent, ...]

    def event(self, name: str) -> LedgerEvent:
        """The first event called ``name``.

        Raises:
            KeyError: the transaction emitted no such event.
        """
        for event in self.events:
            if event.name == name:
                return event
        raise KeyError(name)


@dataclass(frozen=True)
class SignedTx:
    """A transaction signed for the outbox, not sent yet: raw bytes (``0x`` hex), hash,
    nonce and sender (EIP-55)."""

    raw_tx: str
    tx_hash: str
    nonce: int
    account: str


@dataclass(frozen=True)
class Receipt:
    """A mined transaction as the outbox sees it: ``status`` 1 (success) or 0 (reverted), its
    block (number and ``0x`` hash), gas used and, for a success, the decoded ledger events."""

    tx_hash: str
    status: int
    block_number: int
    block_hash: str
    gas_used: int
    events: tuple[LedgerEvent, ...]

    def result(self) -> TxResult:
        """The :class:`TxResult` of a successful receipt."""
        return TxResult(self.tx_hash, self.block_number, self.gas_used, self.events)


@dataclass(frozen=True)
class OnChainStatus:
    """What ``statusOf`` returns (v2): the *on-record* status name (``status_on_record`` of
    docs/LEDGER.md), delivered and current target quantity (in the commitment's unit),
    progress in basis points of the current target, and ``met_on_record_at``: the block time
    (Unix seconds) the current target was met on record, ``None`` while not met (the contract's
    0)."""

    status_on_record: str
    delivered_quantity: int
    target_quantity: int
    progress_bps: int
    met_on_record_at: int | None


def _block_info(raw: Mapping[str, Any]) -> BlockInfo:
    """A raw JSON-RPC block object → :class:`BlockInfo` (hashes lowercase ``0x`` hex)."""
    return BlockInfo(
        number=int(raw["number"], 16),
        hash=str(raw["hash"]).lower(),
        timestamp=int(raw["timestamp"], 16),
        parent_hash=str(raw["parentHash"]).lower(),
    )


class LedgerChain:
    """Client of one deployed ledger contract.

    Args:
        rpc_url: JSON-RPC endpoint.
        deployment: the deployment record; ``None`` only to deploy a new contract.
        request_timeout_seconds: HTTP timeout per JSON-RPC request, seconds.
        tx_timeout_seconds: how long a write waits for its receipt, seconds.
    """

    def __init__(
        self,
        rpc_url: str,
        deployment: Deployment | None = None,
        *,
        request_timeout_seconds: float = 30.0,
        tx_timeout_seconds: float = 120.0,
    ) -> None:
        self.rpc_url = rpc_url
        self.deployment = deployment
        self.tx_timeout_seconds = tx_timeout_seconds
        self._request_timeout_seconds = request_timeout_seconds
        self._w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": request_timeout_seconds}))
        self._http = requests.Session()  # raw JSON-RPC (logs, headers): keeps its connections
        self._http.headers["Content-Type"] = "application/json"
        self.abi = ledger_abi()
        self.decoder = EventDecoder(self.abi)
        self._errors = {
            bytes(function_abi_to_4byte_selector(dict(e))): e for e in self.abi if e["type"] == "error"
        }
        self._contract = (
            self._w3.eth.contract(address=to_checksum_address(deployment.contract_address), abi=self.abi)
            if deployment
            else None
        )
        self._send_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # ------------------------------------------------------------------ reads

    def _rpc(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except (requests.ConnectionError, requests.Timeout, ConnectionError, OSError) as exc:
            raise ChainUnavailableError(self.rpc_url, f"{what}: {exc}") from exc

    def _post(self, what: str, payload: Any) -> Any:
        """POST one JSON-RPC request (a dict) or batch (a list) and return the decoded answer.

        Raises:
            ChainUnavailableError: the node cannot be reached, or answered with an HTTP error
                status and no JSON-RPC error object, or with a body that is not JSON.
        """
        try:
            response = self._http.post(self.rpc_url, data=json.dumps(payload), timeout=self._request_timeout_seconds)
        except (requests.RequestException, OSError) as exc:
            raise ChainUnavailableError(self.rpc_url, f"{what}: {exc}") from exc
        try:
            answer = json.loads(response.content)
        except ValueError as exc:
            raise ChainUnavailableError(self.rpc_url, f"{what}: HTTP {response.status_code}, not a JSON-RPC answer") from exc
        if response.status_code != 200 and not (isinstance(answer, Mapping) and isinstance(answer.get("error"), Mapping)):
            raise ChainUnavailableError(self.rpc_url, f"{what}: HTTP {response.status_code}")
        return answer

    def _request(self, method: str, params: list[Any]) -> Any:
        """The ``result`` of one raw JSON-RPC call, as the node sent it.

        Raises:
            ChainRpcError: an error response (or an answer without a result).
            ChainUnavailableError: as :meth:`_post`.
        """
        answer = self._post(method, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        if not isinstance(answer, Mapping):
            raise ChainRpcError(method, None, "the answer is not a JSON-RPC response object")
        if "error" in answer:
            raise ChainRpcError(method, *error_object_of(answer["error"]))
        if "result" not in answer:
            raise ChainRpcError(method, None, "the answer has no result")
        return answer["result"]

    def chain_id(self) -> int:
        """The node's chain id.

        Raises:
            ChainUnavailableError: the node cannot be reached.
        """
        return int(self._rpc("eth_chainId", lambda: self._w3.eth.chain_id))

    def check_chain(self) -> None:
        """Check that the node serves the deployment's chain.

        Raises:
            WrongChainError: chain ids differ.
            ChainUnavailableError: the node cannot be reached.
        """
        actual = self.chain_id()
        if self.deployment and actual != self.deployment.chain_id:
            raise WrongChainError(self.deployment.chain_id, actual)

    def head_block_number(self) -> int:
        """Number of the latest block.

        Raises:
            ChainRpcError: the node answered with an error response.
            ChainUnavailableError: the node cannot be reached.
        """
        return int(self._request("eth_blockNumber", []), 16)

    def block(self, number: int) -> BlockInfo | None:
        """Header of block ``number``, or ``None`` if the node has no such block (a ``null``
        result).

        Raises:
            ChainRpcError: the node answered with an error response (never taken for a
                missing block: that would look like a reorg).
            ChainUnavailableError: the node cannot be reached.
        """
        raw = self._request("eth_getBlockByNumber", [hex(number), False])
        return None if raw is None else _block_info(raw)

    def blocks(self, numbers: Sequence[int]) -> dict[int, BlockInfo]:
        """Headers of blocks ``numbers`` in ONE JSON-RPC batch request (several for more than
        :data:`MAX_BATCH_CALLS`), by number; a block the node does not have is left out.
        No request at all for no numbers.

        Raises:
            ChainRpcError: the node answered one of the calls, or the batch, with an error
                response (never taken for a missing block).
            ChainUnavailableError: the node cannot be reached.
        """
        wanted = sorted(set(numbers))
        found: dict[int, BlockInfo] = {}
        for first in range(0, len(wanted), MAX_BATCH_CALLS):
            part = wanted[first : first + MAX_BATCH_CALLS]
            calls = [
                {"jsonrpc": "2.0", "id": i, "method": "eth_getBlockByNumber", "params": [hex(n), False]}
                for i, n in enumerate(part)
            ]
            answer = self._post("eth_getBlockByNumber (batch)", calls)
            if isinstance(answer, Mapping) and "error" in answer:  # the batch itself refused
                raise ChainRpcError("eth_getBlockByNumber", *error_object_of(answer["error"]))
            if not isinstance(answer, list) or len(answer) != len(calls):
                raise ChainRpcError("eth_getBlockByNumber", None, f"a batch of {len(calls)} calls got no list of {len(calls)} answers")
            for item in answer:
                if not isinstance(item, Mapping) or not isinstance(item.get("id"), int) or not 0 <= item["id"] < len(part):
                    raise ChainRpcError("eth_getBlockByNumber", None, "a batch answer with an unknown id")
                if "error" in item:
                    raise ChainRpcError("eth_getBlockByNumber", *error_object_of(item["error"]))
                if item.get("result") is not None:
                    found[part[item["id"]]] = _block_info(item["result"])
        return found

    def get_logs(self, from_block: int, to_block: int) -> list[dict[str, Any]]:
        """Logs of the ledger contract in blocks ``from_block..to_block``, both inclusive, in
        node order, as the node sends them: plain JSON dicts (hashes, topics, data and address
        as ``0x`` hex strings), with the :data:`LOG_QUANTITIES` as ints (``blockTimestamp``
        only when the node sends it). One raw ``eth_getLogs`` call, no web3 formatting.

        Raises:
            LogRangeTooLargeError: the node answered with an error response, whatever its code
                (hosted providers refuse ranges and result counts with several codes and
                wordings): the range is refused and callers halve it.
            ChainUnavailableError: the node cannot be reached (or answered an HTTP error with
                no JSON-RPC error object).
        """
        assert self.deployment is not None, "get_logs needs a deployment"
        params = {"address": self.deployment.contract_address.lower(), "fromBlock": hex(from_block), "toBlock": hex(to_block)}
        try:
            logs = self._request("eth_getLogs", [params])
        except ChainRpcError as exc:  # an error RESPONSE (transport errors are ChainUnavailableError)
            raise LogRangeTooLargeError(from_block, to_block, exc.reason, exc.code) from exc
        if not isinstance(logs, list):
            raise LogRangeTooLargeError(from_block, to_block, "the result is not a list of logs")
        for log in logs:
            for key in LOG_QUANTITIES:
                value = log.get(key)
                if isinstance(value, str):
                    log[key] = int(value, 16)
        return logs

    def status_of(self, commitment_id: int) -> OnChainStatus:
        """The contract's ``statusOf`` view at the latest block.

        Raises:
            ContractRevertError: ``LedgerUnknownCommitment`` for an unknown id.
            ChainUnavailableError: the node cannot be reached.
        """
        status, delivered, target, bps, met_at = self._call("statusOf", commitment_id)
        return OnChainStatus(STATUS_NAMES[status], int(delivered), int(target), int(bps), int(met_at) or None)

    def version(self) -> str:
        """The contract's ``version()``, e.g. ``"2.1.0"``.

        Raises:
            ChainUnavailableError: the node cannot be reached.
        """
        return str(self._call("version"))

    def check_version(self) -> str:
        """Read ``version()`` and return it if this code knows it.

        Raises:
            UnsupportedContractVersionError: not in :data:`SUPPORTED_CONTRACT_VERSIONS`, or the
                contract has no ``version()`` view at all (reported as version ``"unknown"``).
            ChainUnavailableError: the node cannot be reached.
        """
        try:
            version = self.version()
        except (ContractRevertError, BadFunctionCallOutput):  # no such view: not a ledger we know
            version = "unknown"
        if version not in SUPPORTED_CONTRACT_VERSIONS:
            raise UnsupportedContractVersionError(version, SUPPORTED_CONTRACT_VERSIONS)
        return version

    def call(self, function: str, *args: Any) -> Any:
        """Any view of the ledger, e.g. ``call("commitmentIdByRef", 1, "ref")``.

        Raises:
            ContractRevertError: the view reverted with a custom error.
        """
        return self._call(function, *args)

    def _call(self, function: str, *args: Any) -> Any:
        assert self._contract is not None, "views need a deployment"
        try:
            return self._rpc("eth_call", getattr(self._contract.functions, function)(*args).call)
        except (ContractCustomError, ContractLogicError) as exc:
            raise self._revert_error(exc) from exc

    # ------------------------------------------------------------------ writes

    def _nonce(self, address: str) -> int:
        return int(self._rpc("eth_getTransactionCount", self._w3.eth.get_transaction_count, address, "pending"))

    def _lock_for(self, address: str) -> threading.Lock:
        with self._locks_guard:
            return self._send_locks.setdefault(address, threading.Lock())

    def send(self, function: str, args: Sequence[Any], private_key: str, **_outbox: Any) -> TxResult:
        """Sign and send a ledger transaction from ``private_key``'s account, wait for the
        receipt and decode the events it emitted. Sends from one account are serialised
        (nonces). The gas limit comes from ``eth_estimateGas``, which also surfaces a
        refusal before anything is sent. Keyword arguments of the outbox's
        ``Journal.send`` (``result``, ``context``, ``evidence``) are accepted and ignored, so
        a service can send straight or through the outbox.

        Raises:
            ContractRevertError: the contract refused (custom error name and arguments).
            TransactionFailedError: mined but failed, or no receipt within the timeout.
            InsufficientFundsError: the account cannot pay for it (nothing sent).
            ChainUnavailableError: the node cannot be reached.
        """
        assert self._contract is not None, "writes need a deployment"
        account = Account.from_key(private_key)
        fn = getattr(self._contract.functions, function)(*args)
        with self._lock_for(account.address):
            try:
                tx = self._rpc(
                    "build transaction",
                    fn.build_transaction,
                    {
                        "from": account.address,
                        "nonce": self._nonce(account.address),
                        "chainId": self.deployment.chain_id if self.deployment else self.chain_id(),
                    },
                )
            except (ContractCustomError, ContractLogicError) as exc:
                raise self._revert_error(exc) from exc
            self._check_funds(account.address, tx)
            return self._sign_send_wait(tx, private_key)

    def _check_funds(self, address: str, tx: Mapping[str, Any]) -> None:
        """Refuse before sending when ``address`` cannot pay gas limit × (max) fee per gas
        plus value (wei), so an unfunded relayer or registrar gets a typed error, not the
        node's message.

        Raises:
            InsufficientFundsError: balance below that amount.
        """
        fee = int(tx.get("maxFeePerGas") or tx.get("gasPrice") or 0)
        needed = int(tx.get("gas", 0)) * fee + int(tx.get("value", 0))
        balance = self.balance_wei(address)
        if balance < needed:
            raise InsufficientFundsError(address, balance, needed)

    def encode_call(self, function: str, args: Sequence[Any]) -> bytes:
        """ABI-encoded calldata (selector + arguments) of one ledger function call.

        Raises:
            ValueError: unknown function or arguments that do not match its ABI (web3's errors).
        """
        assert self._contract is not None, "encoding needs a deployment"
        return bytes.fromhex(self._contract.encode_abi(function, args=list(args))[2:])

    def send_multicall(self, calls: Sequence[tuple[str, Sequence[Any]]], private_key: str, **_outbox: Any) -> TxResult:
        """Send many ledger calls from one account in one transaction through
        ``multicall(bytes[])`` (OpenZeppelin ``Multicall``: all or nothing, in order, the
        caller's roles checked for each call) and decode all the events they emitted.

        Args:
            calls: ``(function name, arguments)`` pairs, e.g.
                ``[("registerCommitment", [input_tuple]), ("recordDelivery", [1, delivery])]``;
                at least one.
            private_key: the signer's key (hex).

        Raises:
            ValueError: ``calls`` is empty.
            ContractRevertError: one inner call refused; its custom error (bubbled up verbatim
                by ``Multicall``) decoded exactly as for :meth:`send`.
            TransactionFailedError: mined but failed, or no receipt within the timeout.
            ChainUnavailableError: the node cannot be reached.
        """
        if not calls:
            raise ValueError("send_multicall needs at least one call")
        payload = [self.encode_call(function, args) for function, args in calls]
        return self.send("multicall", [payload], private_key)

    def _sign_send_wait(self, tx: dict[str, Any], private_key: str) -> TxResult:
        signed = Account.sign_transaction(tx, private_key)
        tx_hash = self._rpc("eth_sendRawTransaction", self._w3.eth.send_raw_transaction, signed.raw_transaction)
        hex_hash = "0x" + bytes(tx_hash).hex()
        try:
            receipt = self._rpc(
                "receipt", self._w3.eth.wait_for_transaction_receipt, tx_hash, self.tx_timeout_seconds
            )
        except TimeExhausted as exc:
            raise TransactionFailedError(hex_hash, f"no receipt within {self.tx_timeout_seconds} s") from exc
        if receipt["status"] != 1:
            raise TransactionFailedError(hex_hash, "reverted")
        events = tuple(
            self.decoder.decode(log)
            for log in receipt["logs"]
            if self.deployment is None
            or to_checksum_address(log["address"]) == to_checksum_address(self.deployment.contract_address)
        )
        return TxResult(hex_hash, int(receipt["blockNumber"]), int(receipt["gasUsed"]), events)

    # ------------------------------------------------------------------ outbox primitives
    # (``ledger.outbox``: build and estimate, sign locally with a given nonce, broadcast the
    # raw bytes, read receipts and nonces; nothing here waits)

    def build_call(self, function: str, args: Sequence[Any], account: str) -> dict[str, Any]:
        """The unsigned transaction of one ledger call from ``account`` (gas limit from
        ``eth_estimateGas``, fees, chain id; ``nonce`` left for :meth:`sign`), after checking
        that the account can pay for it. A refusal by the contract surfaces here, before
        anything is journaled or sent.

        Raises:
            ContractRevertError: the contract refused (custom error name and arguments).
            InsufficientFundsError: the account cannot pay gas limit × max fee (wei).
            ChainUnavailableError: the node cannot be reached.
        """
        assert self._contract is not None, "writes need a deployment"
        fn = getattr(self._contract.functions, function)(*args)
        try:
            tx = self._rpc(
                "build transaction",
                fn.build_transaction,
                {
                    "from": to_checksum_address(account),
                    "nonce": 0,
                    "chainId": self.deployment.chain_id if self.deployment else self.chain_id(),
                },
            )
        except (ContractCustomError, ContractLogicError) as exc:
            raise self._revert_error(exc) from exc
        self._check_funds(account, tx)
        tx = dict(tx)
        tx.pop("nonce", None)
        return {k: (v if not isinstance(v, bytes) else "0x" + v.hex()) for k, v in tx.items()}

    def build_multicall(self, calls: Sequence[tuple[str, Sequence[Any]]], account: str) -> dict[str, Any]:
        """:meth:`build_call` of ``multicall(bytes[])`` over ``calls`` (see :meth:`send_multicall`).

        Raises:
            ValueError: ``calls`` is empty.
            ContractRevertError, InsufficientFundsError, ChainUnavailableError: as :meth:`build_call`.
        """
        if not calls:
            raise ValueError("send_multicall needs at least one call")
        payload = [self.encode_call(function, args) for function, args in calls]
        return self.build_call("multicall", [payload], account)

    @staticmethod
    def sign(tx: Mapping[str, Any], nonce: int, private_key: str) -> SignedTx:
        """Sign ``tx`` (from :meth:`build_call`) with ``nonce``, locally (no RPC).

        Returns:
            The raw bytes as ``0x`` hex, the transaction hash, the nonce and the sender.
        """
        signed = Account.sign_transaction({**tx, "nonce": nonce}, private_key)
        return SignedTx(
            raw_tx="0x" + bytes(signed.raw_transaction).hex(),
            tx_hash="0x" + bytes(signed.hash).hex(),
            nonce=nonce,
            account=Account.from_key(private_key).address,
        )

    def broadcast(self, raw_tx: str) -> str:
        """``eth_sendRawTransaction`` of signed bytes (``0x`` hex); returns the ``0x`` hash.
        Sending the same bytes again is harmless (same hash).

        Raises:
            TransactionRejectedError: the node refused it (the reason is the node's text, kept
                for the log only: callers decide from chain state, see ``ledger.outbox``).
            ChainUnavailableError: the node cannot be reached.
        """
        try:
            tx_hash = self._rpc("eth_sendRawTransaction", self._w3.eth.send_raw_transaction, raw_tx)
        except Web3RPCError as exc:
            raise TransactionRejectedError(str(exc)) from exc
        except ValueError as exc:  # older web3 paths raise ValueError with the RPC error
            raise TransactionRejectedError(str(exc)) from exc
        return "0x" + bytes(tx_hash).hex()

    def receipt(self, tx_hash: str) -> Receipt | None:
        """The receipt of ``tx_hash``, or ``None`` while the node has none (pending, dropped,
        or never seen).

        Raises:
            ChainUnavailableError: the node cannot be reached.
        """

        def fetch() -> Any:
            try:
                return self._w3.eth.get_transaction_receipt(tx_hash)
            except TransactionNotFound:
                return None

        raw = self._rpc("eth_getTransactionReceipt", fetch)
        if raw is None or raw.get("blockNumber") is None:
            return None
        events: tuple[LedgerEvent, ...] = ()
        if int(raw["status"]) == 1:
            events = tuple(
                self.decoder.decode(log)
                for log in raw["logs"]
                if self.deployment is None
                or to_checksum_address(log["address"]) == to_checksum_address(self.deployment.contract_address)
            )
        return Receipt(
            tx_hash="0x" + bytes(raw["transactionHash"]).hex(),
            status=int(raw["status"]),
            block_number=int(raw["blockNumber"]),
            block_hash="0x" + bytes(raw["blockHash"]).hex(),
            gas_used=int(raw["gasUsed"]),
            events=events,
        )

    def is_pending(self, tx_hash: str) -> bool:
        """Whether the node knows ``tx_hash`` (``eth_getTransactionByHash``: in its pool or mined).

        Raises:
            ChainUnavailableError: the node cannot be reached.
        """

        def fetch() -> Any:
            try:
                return self._w3.eth.get_transaction(tx_hash)
            except TransactionNotFound:
                return None

        return self._rpc("eth_getTransactionByHash", fetch) is not None

    def nonce_at(self, address: str, block: str = "latest") -> int:
        """``eth_getTransactionCount(address, block)``: ``latest`` counts mined transactions,
        ``pending`` also those in the node's pool.

        Raises:
            ChainUnavailableError: the node cannot be reached.
        """
        return int(self._rpc("eth_getTransactionCount", self._w3.eth.get_transaction_count,
                             to_checksum_address(address), block))

    def replay_failure(self, tx: Mapping[str, Any], account: str, block_number: int) -> ContractRevertError | None:
        """Why a mined transaction failed: its call replayed with ``eth_call`` on the state of
        block ``block_number`` (its parent block). ``None`` when the replay does not revert
        there (the failure depended on a transaction before it in its own block).

        Raises:
            ChainUnavailableError: the node cannot be reached.
        """
        call = {"from": to_checksum_address(account), "to": tx["to"], "data": tx.get("data") or tx.get("input"),
                "gas": tx.get("gas")}
        try:
            self._rpc("eth_call", self._w3.eth.call, call, max(0, block_number))
        except (ContractCustomError, ContractLogicError) as exc:
            return self._revert_error(exc)
        except Web3RPCError as exc:
            return ContractRevertError("Unknown", {"message": str(exc)})
        return None

    def deploy(self, platform_admin_key: str) -> Deployment:
        """Deploy a new ``CommitmentLedger`` owned by the key's account and return its record
        (this client then points at it).

        Raises:
            TransactionFailedError: deployment failed.
            ChainUnavailableError: the node cannot be reached.
        """
        account = Account.from_key(platform_admin_key)
        factory = self._w3.eth.contract(abi=self.abi, bytecode=ledger_bytecode())
        tx = self._rpc(
            "build deployment",
            factory.constructor(account.address).build_transaction,
            {
                "from": account.address,
                "nonce": self._nonce(account.address),
                "chainId": self.chain_id(),
            },
        )
        signed = Account.sign_transaction(tx, platform_admin_key)
        tx_hash = self._rpc("eth_sendRawTransaction", self._w3.eth.send_raw_transaction, signed.raw_transaction)
        receipt = self._rpc("receipt", self._w3.eth.wait_for_transaction_receipt, tx_hash, self.tx_timeout_seconds)
        if receipt["status"] != 1:
            raise TransactionFailedError("0x" + bytes(tx_hash).hex(), "deployment reverted")
        block = self.block(int(receipt["blockNumber"]))
        assert block is not None
        address = to_checksum_address(receipt["contractAddress"])
        self._contract = self._w3.eth.contract(address=address, abi=self.abi)
        version = self._contract.functions.version().call()
        self.deployment = Deployment(
            chain_id=self.chain_id(),
            contract_address=address,
            deploy_block=block.number,
            deploy_block_hash=block.hash,
            deploy_tx="0x" + bytes(tx_hash).hex(),
            abi_version=version,
            deployed_at=block.timestamp,
        )
        return self.deployment

    def transfer_ether(self, private_key: str, to: str, amount_wei: int) -> str:
        """Send ``amount_wei`` wei (local set-up: fund registrar accounts). Returns the tx hash.

        Raises:
            TransactionFailedError: the transfer failed.
        """
        account = Account.from_key(private_key)
        with self._lock_for(account.address):
            tx = {
                "from": account.address,
                "to": to_checksum_address(to),
                "value": amount_wei,
                "gas": 21_000,
                "nonce": self._nonce(account.address),
                "chainId": self.chain_id(),
                "maxFeePerGas": int(self._rpc("eth_gasPrice", lambda: self._w3.eth.gas_price)) * 2,
                "maxPriorityFeePerGas": 0,
            }
            return self._sign_send_wait(tx, private_key).tx_hash

    def has_code(self) -> bool:
        """Whether the deployment's address holds contract code on this chain."""
        assert self.deployment is not None
        code = self._rpc("eth_getCode", self._w3.eth.get_code, to_checksum_address(self.deployment.contract_address))
        return len(bytes(code)) > 0

    def balance_wei(self, address: str) -> int:
        """Balance of ``address`` in wei."""
        return int(self._rpc("eth_getBalance", self._w3.eth.get_balance, to_checksum_address(address)))

    # ------------------------------------------------------------------ errors

    def _revert_error(self, exc: Exception) -> Exception:
        data = getattr(exc, "data", None)
        if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
            raw = bytes.fromhex(data[2:])
            entry = self._errors.get(raw[:4])
            if entry is not None:
                types = [i["type"] for i in entry["inputs"]]
                values = abi_decode(types, raw[4:])
                args = {}
                for spec, value in zip(entry["inputs"], values):
                    if spec["type"] == "address":
                        value = to_checksum_address(value)
                    elif isinstance(value, bytes):
                        value = "0x" + value.hex()
                    args[snake(spec["name"])] = value
                return ContractRevertError(entry["name"], args)
        return ContractRevertError("Unknown", {"message": str(exc)})
