"""The write outbox: journal first, then send, then reconcile until confirmed.

A staff write is checked as before (token, index, ``eth_estimateGas``); when the checks pass
:class:`Journal` signs it with the next nonce of its account and writes the signed bytes, the
call (to re-sign it), its idempotency key and who asked to the database in ONE committed
transaction (``ledger.db.outbox``) before anything is sent, then raises
:class:`WriteJournaled`. The API answers 202 with the write's id.

:class:`Reconciler` (a thread of every API process, every ``outbox_poll_seconds``, woken at
once by a new write) moves every open write on, in nonce order per account:

- ``queued`` → broadcast the raw bytes → ``sent``. A node that refuses them is not believed
  on its words: if the receipt exists it is mined; if the account's mined nonce
  (``eth_getTransactionCount(latest)``) is above ours and our hash has no receipt, another
  transaction took the nonce and the stored call is re-signed with a fresh nonce (a new
  attempt, ``queued`` again); otherwise it stays ``queued`` and is tried again.
- ``sent`` → receipt with status 1 → ``mined`` (block number and hash kept); status 0 →
  ``failed``, the reason decoded by replaying the call with ``eth_call`` on the parent block
  (or, when it passes there, on its own block: it lost to a transaction mined before it).
  No receipt: nonce taken (as above) → re-signed; still pending after
  ``rebroadcast_seconds`` → the SAME bytes are broadcast again (harmless; it also rescues a
  transaction a node left in its pool, as anvil's automine does with pipelined transactions,
  foundry issue 10122: the lower nonce of an account always goes first, so a gap is filled
  before what waits behind it).
- ``mined`` → receipt gone or its block hash changed (a reorg, a node restarted from an older
  state) → back to ``sent`` and the same bytes broadcast again (every lost write of a pass in
  the order it was mined, so the node records them in the same order and the ids a result
  named stay the same); else confirmations =
  head − block + 1 (the receipt's block counts as one) and once that reaches
  ``confirmations_required`` = ``settings.confirmations`` + 1 → ``confirmed``, with the
  route's 201 body built from the receipt (so with ``confirmations`` 0 a mined write is
  confirmed at once). The indexer indexes a block once ``settings.confirmations`` blocks are
  on top of it (head − confirmations), so a confirmed write is already in the index's reads.
- ``confirmed`` writes are watched for ``watch_seconds`` more (checked every
  ``rebroadcast_seconds``, and at once when the head number went back): one the chain lost goes back to
  ``sent`` (its result cleared) and is sent again. With ``confirmations`` > 0 this only
  happens for a reorg deeper than that, which a real network makes final.

Every change is a compare-and-set on (state, attempts): several processes may reconcile the
same database, and re-broadcasting the same signed bytes twice is harmless.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from eth_account import Account
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ledger.chain import LedgerChain, Receipt, TxResult
from ledger.db import outbox as store
from ledger.db import repository
from ledger.errors import (
    ChainUnavailableError,
    ContractRevertError,
    LedgerError,
    TransactionFailedError,
    TransactionRejectedError,
)

logger = logging.getLogger("ledger.outbox")

TERMINAL_STATES = ("confirmed", "failed")


class IdempotencyKeyReusedError(LedgerError):
    """The account already made a different write with this idempotency key (HTTP 422
    ``idempotency-key-reused``).

    Attributes:
        idempotency_key: the key.
        write_id: the write it names.
    """

    def __init__(self, idempotency_key: str, write_id: str) -> None:
        super().__init__(
            f"Idempotency key “{idempotency_key}” was already used for another request (write {write_id}): "
            "use a new key for a new write, the same key only to repeat exactly the same request."
        )
        self.idempotency_key = idempotency_key
        self.write_id = write_id


class WriteJournaled(Exception):
    """Not an error: the write is journaled (or an identical one already was). Raised by
    :meth:`Journal.send` out of the service that built it, caught by the route.

    Attributes:
        write: the write's row (``ledger.db.outbox``, JSON members decoded).
        created: ``False`` when it is an earlier write with the same key.
    """

    def __init__(self, write: dict[str, Any], created: bool) -> None:
        super().__init__(write["id"])
        self.write = write
        self.created = created


# ------------------------------------------------------------------ JSON form of call arguments


def to_json_value(value: Any) -> Any:
    """Call arguments in a JSON-able form that :func:`from_json_value` turns back exactly:
    bytes → ``{"$bytes": "0x.."}``, tuples (ABI structs) → ``{"$tuple": [...]}``, lists stay
    lists, ints (any size), strings and booleans stay."""
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": "0x" + bytes(value).hex()}
    if isinstance(value, tuple):
        return {"$tuple": [to_json_value(v) for v in value]}
    if isinstance(value, list):
        return [to_json_value(v) for v in value]
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    raise TypeError(f"call argument of type {type(value).__name__} has no JSON form")


def from_json_value(value: Any) -> Any:
    """The inverse of :func:`to_json_value`."""
    if isinstance(value, dict):
        if "$bytes" in value:
            return bytes.fromhex(value["$bytes"][2:])
        if "$tuple" in value:
            return tuple(from_json_value(v) for v in value["$tuple"])
    if isinstance(value, list):
        return [from_json_value(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept: the text fingerprints are taken of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def fingerprint(kind: str, account: str, municipality_id: int, body: Any, evidence: Sequence[str] = ()) -> str:
    """SHA-256 hex of (kind, account, municipality, canonical JSON body, evidence file hashes):
    what tells an exact repeat of a request (same write) from another request."""
    material = canonical_json({"kind": kind, "account": account, "municipality_id": municipality_id,
                               "body": body, "evidence": list(evidence)})
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------ journal


@dataclass(frozen=True)
class WriteRequest:
    """Who asks for a write and how to recognise a repeat.

    Attributes:
        kind: the route (``register_commitment``, ``record_delivery``, ...).
        account: the token's account (EIP-55); for a relayed write the relayer's.
        municipality_id: the token's municipality (0 for a relayed write).
        roles: the token's roles.
        token_id: the token's id (never the token).
        idempotency_key: the ``Idempotency-Key`` header, or the derived key.
        fingerprint: :func:`fingerprint` of the request.
    """

    kind: str
    account: str
    municipality_id: int
    roles: tuple[str, ...]
    token_id: str
    idempotency_key: str
    fingerprint: str


def _now() -> int:
    return int(time.time())


class Journal:
    """What staff-write services send through instead of :class:`LedgerChain`: reads go to
    the chain (``journal.call(...)``, ``journal.block(...)``); :meth:`send` and
    :meth:`send_multicall` estimate, sign with the next nonce, journal and raise
    :class:`WriteJournaled`.

    Args:
        chain: the chain client.
        session_factory: sessions of the database holding the outbox.
        request: who asks (:class:`WriteRequest`).
        confirmations_required: confirmations a write needs, its own block included
            (``settings.confirmations + 1``: the block the indexer reads it in).
        on_journaled: called with the row after each new journaled write (wakes the reconciler).
        clock: Unix seconds.
    """

    def __init__(
        self,
        chain: LedgerChain,
        session_factory: sessionmaker[Session],
        request: WriteRequest,
        *,
        confirmations_required: int = 1,
        on_journaled: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.chain = chain
        self.session_factory = session_factory
        self.request = request
        self.confirmations_required = max(1, confirmations_required)
        self.on_journaled = on_journaled
        self.clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self.chain, name)

    def send(
        self, function: str, args: Sequence[Any], private_key: str, *, result: str,
        context: Mapping[str, Any] | None = None, evidence: Sequence[str] = (),
    ) -> TxResult:
        """Estimate, sign, journal one ledger call; never returns.

        Args:
            result: the name of the builder of the route's 201 body from the receipt.
            context: JSON members that builder needs besides the receipt.
            evidence: ``0x`` SHA-256 of the evidence files the write cites.

        Raises:
            WriteJournaled: always, once journaled (or when the key names an identical write).
            ContractRevertError, InsufficientFundsError, ChainUnavailableError: the estimate
                refused it (nothing journaled).
            IdempotencyKeyReusedError: the key names a different request.
        """
        account = Account.from_key(private_key).address
        tx = self.chain.build_call(function, args, account)
        call = {"function": function, "args": to_json_value(list(args))}
        self._journal(account, private_key, call, tx, result, context or {}, evidence)
        raise AssertionError("unreachable")

    def send_multicall(
        self, calls: Sequence[tuple[str, Sequence[Any]]], private_key: str, *, result: str,
        context: Mapping[str, Any] | None = None, evidence: Sequence[str] = (),
    ) -> TxResult:
        """:meth:`send` of ``multicall(bytes[])`` over ``calls`` (all or nothing)."""
        account = Account.from_key(private_key).address
        tx = self.chain.build_multicall(calls, account)
        call = {"function": "multicall", "calls": [{"function": f, "args": to_json_value(list(a))} for f, a in calls]}
        self._journal(account, private_key, call, tx, result, context or {}, evidence)
        raise AssertionError("unreachable")

    def existing(self) -> dict[str, Any] | None:
        """The write this request's key already names, if any.

        Raises:
            IdempotencyKeyReusedError: it names a different request.
        """
        with self.session_factory() as session:
            row = store.write_by_key(session, self.request.account, self.request.idempotency_key)
        if row is not None and row["fingerprint"] != self.request.fingerprint:
            raise IdempotencyKeyReusedError(self.request.idempotency_key, row["id"])
        return row

    def _journal(
        self, account: str, private_key: str, call: dict[str, Any], tx: dict[str, Any], result: str,
        context: Mapping[str, Any], evidence: Sequence[str],
    ) -> None:
        req = self.request
        chain_nonce = self.chain.nonce_at(account, "pending")
        for _try in range(20):
            now = int(self.clock())
            try:
                with self.session_factory() as session, session.begin():
                    nonce = store.allocate_nonce(session, account, chain_nonce)  # locks first
                    found = store.write_by_key(session, req.account, req.idempotency_key)
                    if found is not None:  # raising rolls the nonce back
                        if found["fingerprint"] != req.fingerprint:
                            raise IdempotencyKeyReusedError(req.idempotency_key, found["id"])
                        raise WriteJournaled(found, created=False)
                    signed = self.chain.sign(tx, nonce, private_key)
                    row = {
                        "id": uuid.uuid4().hex, "kind": req.kind, "state": "queued", "account": req.account,
                        "municipality_id": req.municipality_id, "roles": list(req.roles), "token_id": req.token_id,
                        "idempotency_key": req.idempotency_key, "fingerprint": req.fingerprint, "call_json": call,
                        "tx_json": tx, "raw_tx": signed.raw_tx, "tx_hash": signed.tx_hash, "nonce": nonce,
                        "attempts": 1, "evidence_json": list(evidence), "result_kind": result,
                        "context_json": dict(context), "confirmations": 0,
                        "confirmations_required": self.confirmations_required, "created_at": now, "updated_at": now,
                    }
                    if account != req.account:  # a relayed write: the sender is the relayer
                        row["account"] = account
                    store.insert_write(session, row)
            except IntegrityError:  # the same key, or the account's nonce row, taken at once
                continue
            except OperationalError as exc:  # SQLite busy beyond its timeout
                logger.warning("outbox journal retried: %s", exc)
                time.sleep(0.05)
                continue
            with self.session_factory() as session:
                journaled = store.get_write(session, row["id"])
            assert journaled is not None
            logger.info("write %s journaled: %s from %s nonce %d tx %s", journaled["id"], req.kind, account, nonce,
                        signed.tx_hash)
            if self.on_journaled is not None:
                self.on_journaled(journaled)
            raise WriteJournaled(journaled, created=True)
        raise LedgerError("The write could not be journaled: the database stayed busy. Nothing was sent; retry.")


# ------------------------------------------------------------------ reconciler


class _Lost(Exception):
    """A compare-and-set lost to another process (rolls its transaction back)."""


@dataclass
class Reconciler:
    """Sends and reconciles the outbox (module docstring).

    Args:
        chain: the chain client.
        session_factory: sessions of the outbox's database.
        key_for: account → its private key, or ``None`` when this process cannot sign for it
            (then a write needing a new signature waits for a process that can).
        build_result: (write row, successful receipt) → the route's 201 body.
        problem_of: (error, write row) → the RFC 9457 object of a failed write.
        poll_seconds: pause between passes.
        rebroadcast_seconds: a sent write without receipt is broadcast again after this long.
        watch_seconds: how long confirmed writes are still checked against the chain.
    """

    chain: LedgerChain
    session_factory: sessionmaker[Session]
    key_for: Callable[[str], str | None]
    build_result: Callable[[dict[str, Any], TxResult], dict[str, Any]]
    problem_of: Callable[[Exception, dict[str, Any]], dict[str, Any]]
    poll_seconds: float = 1.0
    rebroadcast_seconds: float = 3.0
    watch_seconds: float = 600.0
    clock: Callable[[], float] = time.time
    _wake: threading.Event = field(default_factory=threading.Event, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _changed: threading.Condition = field(default_factory=threading.Condition, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)
    _pass_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _last_head: int = field(default=-1, init=False)
    _watched_at: float = field(default=0.0, init=False)

    # ---------------------------------------------------------------- thread

    def start(self) -> None:
        """Start the background thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="outbox-reconciler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread after its current pass."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def kick(self, _row: Any = None) -> None:
        """Run a pass now (a new write was journaled, or somebody waits)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                while self.run_once() and not self._stop.is_set():
                    pass
            except ChainUnavailableError as exc:
                logger.warning("outbox: chain unavailable (%s); writes wait", exc.reason if hasattr(exc, "reason") else exc)
                self._stop.wait(min(self.poll_seconds, 1.0))
            except Exception:  # noqa: BLE001 - the thread must survive anything and retry
                logger.error("outbox pass failed", exc_info=True)
                self._stop.wait(min(self.poll_seconds, 1.0))

    def wait_for(
        self, write_id: str, timeout: float, *, poll: float = 0.05, indexed: bool = False
    ) -> dict[str, Any] | None:
        """Wait up to ``timeout`` seconds for the write to be ``confirmed`` or ``failed`` and,
        with ``indexed``, for a confirmed write's block to be in the index too
        (:meth:`in_index`: then every read shows it); returns its row as it is then (``None``
        if there is no such write)."""
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            with self.session_factory() as session:
                row = store.get_write(session, write_id)
                shown = indexed and row is not None and row["state"] == "confirmed" and _indexed_through(
                    session, row.get("block_number"))
            settled = row is None or row["state"] == "failed" or (
                row["state"] == "confirmed" and (shown or not indexed)
            )
            if settled or time.monotonic() >= deadline:
                return row
            self.kick()
            with self._changed:
                self._changed.wait(min(poll * 4, max(0.0, deadline - time.monotonic())))

    def in_index(self, row: Mapping[str, Any]) -> bool:
        """Whether a write's block is in the index (the indexer's checkpoint ``last_block`` is
        at or past its ``block_number``); false for a write not mined yet."""
        with self.session_factory() as session:
            return _indexed_through(session, row.get("block_number"))

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    # ---------------------------------------------------------------- one pass

    def run_once(self) -> int:
        """One pass over every open write (and the recently confirmed ones). Returns how many
        writes changed state.

        Raises:
            ChainUnavailableError: the node cannot be reached (the pass stops; nothing lost).
        """
        with self._pass_lock:
            now = int(self.clock())
            with self.session_factory() as session:
                rows = store.open_writes(session)
                recent = store.recent_confirmed(session, now - int(self.watch_seconds))
            if not rows and not recent:
                return 0  # nothing owed: no RPC at all (a node that is down costs nothing)
            head_now = self.chain.head_block_number()
            watch = (head_now < self._last_head  # the node went back: a reorg or an older state
                     or time.monotonic() - self._watched_at >= self.rebroadcast_seconds)
            self._last_head = head_now
            watched = recent if watch else []
            if watch:
                self._watched_at = time.monotonic()
            if (rows or watched) and self.chain.deployment is not None and not self.chain.has_code():
                # a node that came up without the ledger (empty, or not loaded yet): sending
                # there would only put our transactions on a chain without the contract
                logger.warning("outbox: no ledger contract at %s on this node; writes wait",
                               self.chain.deployment.contract_address)
                return 0
            changed = 0
            latest: dict[str, int] = {}
            head: list[int] = []
            # Writes the chain lost first, sent again in the order they were mined, so that a
            # node restarted from an older state records them in the same order (same ids).
            placed = [r for r in rows if r["state"] == "mined"] + watched
            for row in sorted(placed, key=lambda r: (r["block_number"] or 0, r["account"], r["nonce"])):
                changed += self._watch(row)
            for row in rows:
                changed += self._step(row, latest, head)
            if changed:
                self._notify()
            return changed

    def _latest_nonce(self, account: str, cache: dict[str, int]) -> int:
        if account not in cache:
            cache[account] = self.chain.nonce_at(account, "latest")
        return cache[account]

    def _head(self, cache: list[int]) -> int:
        if not cache:
            cache.append(self.chain.head_block_number())
        return cache[0]

    def _move(self, row: dict[str, Any], **values: Any) -> bool:
        with self.session_factory() as session, session.begin():
            moved = store.transition(session, row["id"], from_state=row["state"], attempt=row["attempts"],
                                     now=int(self.clock()), **values)
        if moved:
            if "state" in values and values["state"] != row["state"]:
                logger.info("write %s: %s → %s (tx %s)", row["id"], row["state"], values["state"], row["tx_hash"])
            row.update(values)
        return moved

    def _step(self, row: dict[str, Any], latest: dict[str, int], head: list[int]) -> int:
        changed = 0
        for _ in range(4):  # queued → sent → mined → confirmed in one pass when the chain is quick
            before = (row["state"], row["attempts"])
            if row["state"] == "queued":
                self._send(row, latest)
            elif row["state"] == "sent":
                self._check_sent(row, latest)
            elif row["state"] == "mined":
                self._check_mined(row, head)
            if (row["state"], row["attempts"]) == before:
                break
            changed += 1
        return changed

    def _send(self, row: dict[str, Any], latest: dict[str, int]) -> None:
        now = int(self.clock())
        try:
            self.chain.broadcast(row["raw_tx"])
        except TransactionRejectedError as exc:
            receipt = self.chain.receipt(row["tx_hash"])
            if receipt is not None or self.chain.is_pending(row["tx_hash"]):
                self._move(row, state="sent", broadcast_at=now)  # already known: it was sent
                return
            if self._nonce_taken(row, latest):
                self._resign(row, "its nonce was taken by another transaction")
                return
            logger.warning("write %s: the node refused tx %s (%s); retried later", row["id"], row["tx_hash"], exc.reason)
            return
        self._move(row, state="sent", broadcast_at=now)

    def _check_sent(self, row: dict[str, Any], latest: dict[str, int]) -> None:
        receipt = self.chain.receipt(row["tx_hash"])
        if receipt is not None:
            self._mined(row, receipt)
            return
        if self._latest_nonce(row["account"], latest) > row["nonce"]:
            if self._nonce_taken(row, latest):
                self._resign(row, "its nonce was taken by another transaction")
            return
        now = int(self.clock())
        if now - int(row.get("broadcast_at") or 0) >= self.rebroadcast_seconds:
            try:
                self.chain.broadcast(row["raw_tx"])
            except TransactionRejectedError:
                pass  # already in the pool, or a lower nonce is missing: the lower one goes first
            self._move(row, broadcast_at=now)

    def _nonce_taken(self, row: dict[str, Any], latest: dict[str, int]) -> bool:
        """Whether another transaction took the write's nonce, from chain state only: the
        account's mined count is above our nonce, the node knows nothing of our hash (no
        receipt, not in its pool), and that has held for ``rebroadcast_seconds`` since we last
        handed it over (a node may count a nonce a moment before it serves the receipt)."""
        if self._latest_nonce(row["account"], latest) <= row["nonce"]:
            return False
        since = int(row.get("broadcast_at") or row.get("updated_at") or 0)
        if int(self.clock()) - since < self.rebroadcast_seconds:
            return False
        return self.chain.receipt(row["tx_hash"]) is None and not self.chain.is_pending(row["tx_hash"])

    def _mined(self, row: dict[str, Any], receipt: Receipt) -> None:
        if receipt.status == 1:
            self._move(row, state="mined", block_number=receipt.block_number, block_hash=receipt.block_hash,
                       confirmations=1)
            return
        cause: Exception | None = None
        try:  # the parent block's state; a conflict with a transaction before it in its own block shows after it
            cause = (self.chain.replay_failure(row["tx_json"], row["account"], receipt.block_number - 1)
                     or self.chain.replay_failure(row["tx_json"], row["account"], receipt.block_number))
        except ChainUnavailableError:
            raise
        except Exception:  # noqa: BLE001 - the failure is certain; only its reason is unknown
            logger.warning("write %s: replay of the failed call failed", row["id"], exc_info=True)
        if cause is None:
            cause = TransactionFailedError(row["tx_hash"], "reverted")
        self._move(row, state="failed", block_number=receipt.block_number, block_hash=receipt.block_hash,
                   problem_json=self.problem_of(cause, row))

    def _check_mined(self, row: dict[str, Any], head: list[int]) -> None:
        receipt = self.chain.receipt(row["tx_hash"])
        if receipt is None or receipt.block_hash != row["block_hash"]:
            self._lost(row)
            return
        confirmations = self._head(head) - receipt.block_number + 1
        if confirmations >= row["confirmations_required"]:
            try:
                result = self.build_result(row, receipt.result())
            except (KeyError, TypeError, ValueError) as exc:  # mined, but not the events the write makes
                logger.error("write %s: receipt of tx %s holds no result (%r)", row["id"], row["tx_hash"], exc)
                self._move(row, state="failed", problem_json=self.problem_of(
                    TransactionFailedError(row["tx_hash"], "mined without the ledger events of this write"), row))
                return
            self._move(row, state="confirmed", confirmations=confirmations, result_json=result)
        elif confirmations != row["confirmations"]:
            self._move(row, confirmations=max(0, confirmations))

    def _watch(self, row: dict[str, Any]) -> int:
        """A mined or confirmed write whose receipt is gone or moved: back to ``sent``."""
        receipt = self.chain.receipt(row["tx_hash"])
        if receipt is not None and receipt.block_hash == row["block_hash"]:
            return 0
        self._lost(row)
        return 1

    def _lost(self, row: dict[str, Any]) -> None:
        """The chain lost the write's block: back to ``sent``, the same bytes again."""
        logger.warning("write %s: block %s of tx %s is no longer on chain; sending it again", row["id"],
                       row.get("block_hash"), row["tx_hash"])
        if self._move(row, state="sent", block_number=None, block_hash=None, confirmations=0, result_json=None,
                      broadcast_at=int(self.clock())):
            try:
                self.chain.broadcast(row["raw_tx"])
            except TransactionRejectedError:
                pass

    def _resign(self, row: dict[str, Any], why: str) -> None:
        """Sign the stored call again with a fresh nonce (a new attempt), or fail the write
        when the contract now refuses it."""
        key = self.key_for(row["account"])
        if key is None:
            logger.warning("write %s needs a new signature (%s) but this process holds no key for %s", row["id"], why,
                           row["account"])
            return
        call = row["call_json"]
        try:
            if call["function"] == "multicall":
                tx = self.chain.build_multicall(
                    [(c["function"], from_json_value(c["args"])) for c in call["calls"]], row["account"])
            else:
                tx = self.chain.build_call(call["function"], from_json_value(call["args"]), row["account"])
        except ContractRevertError as exc:
            self._move(row, state="failed", problem_json=self.problem_of(exc, row))
            return
        chain_nonce = self.chain.nonce_at(row["account"], "pending")
        now = int(self.clock())
        try:
            with self.session_factory() as session, session.begin():
                nonce = store.allocate_nonce(session, row["account"], chain_nonce)
                signed = self.chain.sign(tx, nonce, key)
                if not store.record_attempt(session, row["id"], from_state=row["state"], attempt=row["attempts"],
                                            nonce=nonce, tx_hash=signed.tx_hash, raw_tx=signed.raw_tx, tx_json=tx,
                                            now=now):
                    raise _Lost()  # another process re-signed it first: give the nonce back
        except _Lost:
            return
        logger.warning("write %s re-signed (%s): attempt %d, nonce %d, tx %s", row["id"], why, row["attempts"] + 1,
                       nonce, signed.tx_hash)
        row.update(state="queued", attempts=row["attempts"] + 1, nonce=nonce, tx_hash=signed.tx_hash,
                   raw_tx=signed.raw_tx, tx_json=tx, block_number=None, block_hash=None, confirmations=0)


def _indexed_through(session: Session, block_number: int | None) -> bool:
    """Whether the index holds ``block_number`` (its checkpoint's last block is at or past it)."""
    if block_number is None:
        return False
    checkpoint = repository.get_checkpoint(session)
    last = (checkpoint or {}).get("last_block")
    return last is not None and last >= block_number
