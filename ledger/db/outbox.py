"""The write outbox: tables and every SQL query of it (the sender logic is ``ledger.outbox``).

The outbox is not a projection of the chain: it is what the API owes the chain. Its tables
have their own :data:`metadata`, created by :func:`ledger.db.engine.create_schema` next to
the index's and never dropped by ``drop_schema`` / a reindex.

Tables:

- ``outbox_writes``: one row per accepted staff write: ``id`` (32 hex), ``kind`` (the route,
  e.g. ``register_commitment``), ``state`` (``queued`` → ``sent`` → ``mined`` → ``confirmed``, or
  ``failed``), who asked (``account`` EIP-55, ``municipality_id``, ``roles`` JSON list,
  ``token_id``: the token's id, never the token), ``idempotency_key`` (unique per account) and
  ``fingerprint`` (SHA-256 hex of the request, to tell a repeat from a reuse of the key), the
  call (``call_json``: ``{"function", "args"}`` or ``{"function": "multicall", "calls": [...]}``
  in the JSON form of :func:`ledger.outbox.to_json_value`, enough to re-sign it), the signed
  transaction of the current attempt (``raw_tx`` hex, ``tx_hash``, ``nonce``, ``tx_json``:
  the unsigned fields), ``attempts`` (1 for the first signature; every re-signature adds 1:
  the compare-and-set counter), ``evidence_json`` (the ``0x`` SHA-256 hashes it cites),
  ``result_kind`` / ``context_json`` (how the 201 body is built from the receipt),
  ``block_number`` / ``block_hash`` (of the receipt, while ``mined`` or ``confirmed``),
  ``confirmations`` / ``confirmations_required``, ``result_json`` (only ``confirmed``),
  ``problem_json`` (only ``failed``: RFC 9457 object), and Unix-second times ``created_at``,
  ``updated_at``, ``broadcast_at`` (last eth_sendRawTransaction).
- ``outbox_attempts``: every signature of a write (``write_id``, ``attempt``, ``nonce``,
  ``tx_hash``, ``created_at``), so a re-signed write keeps its history.
- ``outbox_nonces``: per account the next nonce the outbox hands out (``next_nonce``).

Concurrency: nonces are allocated under a row lock (an ``UPDATE`` of the account's row first,
which locks it on PostgreSQL and takes SQLite's writer lock), and every state change is a
compare-and-set on (``state``, ``attempts``), so several API processes on one database never
hand out a nonce twice nor move a write twice.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

metadata = MetaData()
"""The outbox's own metadata (not ``ledger.db.models.Base.metadata``: never dropped)."""

STATES = ("queued", "sent", "mined", "confirmed", "failed")
"""Write states, in order of progress (``failed`` is terminal, as ``confirmed``)."""

OPEN_STATES = ("queued", "sent", "mined")
"""States the reconciler still works on."""

writes = Table(
    "outbox_writes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("account", String(42), nullable=False),
    Column("municipality_id", BigInteger, nullable=False),
    Column("roles", Text, nullable=False, default="[]"),
    Column("token_id", String(64), nullable=False, default=""),
    Column("idempotency_key", String(255), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("call_json", Text, nullable=False),
    Column("tx_json", Text, nullable=False),
    Column("raw_tx", Text, nullable=False),
    Column("tx_hash", String(66), nullable=False, index=True),
    Column("nonce", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("evidence_json", Text, nullable=False, default="[]"),
    Column("result_kind", String(64), nullable=False),
    Column("context_json", Text, nullable=False, default="{}"),
    Column("block_number", BigInteger, nullable=True),
    Column("block_hash", String(66), nullable=True),
    Column("confirmations", Integer, nullable=False, default=0),
    Column("confirmations_required", Integer, nullable=False, default=1),
    Column("result_json", Text, nullable=True),
    Column("problem_json", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("broadcast_at", BigInteger, nullable=True),
    UniqueConstraint("account", "idempotency_key", name="uq_outbox_writes_account_key"),
)

attempts = Table(
    "outbox_attempts",
    metadata,
    Column("write_id", String(32), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("nonce", BigInteger, nullable=False),
    Column("tx_hash", String(66), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

nonces = Table(
    "outbox_nonces",
    metadata,
    Column("account", String(42), primary_key=True),
    Column("next_nonce", BigInteger, nullable=False),
)

TABLE_NAMES = tuple(metadata.tables)
"""The outbox's table names."""


def create_tables(connection: Any) -> None:
    """Create the outbox tables that do not exist yet (idempotent)."""
    metadata.create_all(connection)


def _decode(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for name in ("roles", "call_json", "tx_json", "evidence_json", "context_json", "result_json", "problem_json"):
        value = out.get(name)
        out[name] = json.loads(value) if isinstance(value, str) else value
    return out


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def allocate_nonce(session: Session, account: str, chain_nonce: int) -> int:
    """The next nonce of ``account``: the larger of the outbox's own counter and
    ``chain_nonce`` (the node's pending count, which covers transactions sent outside the
    outbox), and count it as taken. Call inside the transaction that journals the write: the
    account's row stays locked until it commits (PostgreSQL row lock; SQLite writer lock), and a
    rollback gives the nonce back.

    Raises:
        IntegrityError: another process created the account's row at the same moment (retry
            the transaction).
    """
    done = session.execute(
        update(nonces).where(nonces.c.account == account).values(next_nonce=nonces.c.next_nonce)
    ).rowcount
    if not done:
        session.execute(insert(nonces).values(account=account, next_nonce=chain_nonce))
    current = int(session.scalar(select(nonces.c.next_nonce).where(nonces.c.account == account)))
    nonce = max(current, chain_nonce)
    session.execute(update(nonces).where(nonces.c.account == account).values(next_nonce=nonce + 1))
    return nonce


def insert_write(session: Session, row: Mapping[str, Any]) -> None:
    """Add a write (``row``: the columns of ``outbox_writes``, JSON members as Python values)
    and its first attempt. The caller commits.

    Raises:
        IntegrityError: the account already has a write with this idempotency key.
    """
    values = dict(row)
    for name in ("roles", "call_json", "tx_json", "evidence_json", "context_json"):
        values[name] = _dumps(values.get(name, [] if name in ("roles", "evidence_json") else {}))
    session.execute(insert(writes).values(**values))
    session.execute(insert(attempts).values(write_id=values["id"], attempt=values.get("attempts", 1),
                                            nonce=values["nonce"], tx_hash=values["tx_hash"],
                                            created_at=values["created_at"]))


def get_write(session: Session, write_id: str) -> dict[str, Any] | None:
    """One write by id (JSON members decoded), or ``None``."""
    row = session.execute(select(writes).where(writes.c.id == write_id)).mappings().first()
    return _decode(row) if row is not None else None


def write_by_key(session: Session, account: str, idempotency_key: str) -> dict[str, Any] | None:
    """The write of ``account`` with this idempotency key, or ``None``."""
    row = session.execute(
        select(writes).where(and_(writes.c.account == account, writes.c.idempotency_key == idempotency_key))
    ).mappings().first()
    return _decode(row) if row is not None else None


def list_open_writes(
    session: Session, municipality_id: int, *, failed_since: int = 0, limit: int = 20
) -> tuple[list[dict[str, Any]], int]:
    """Writes of a municipality that need a look, newest first: every one not ``confirmed``
    yet and not failed, and the failed ones updated at or after ``failed_since`` (Unix
    seconds): ``(page, total count)``."""
    where = and_(writes.c.municipality_id == municipality_id, writes.c.state != "confirmed",
                 (writes.c.state != "failed") | (writes.c.updated_at >= failed_since))
    total = int(session.scalar(select(func.count()).select_from(writes).where(where)) or 0)
    rows = session.execute(
        select(writes).where(where).order_by(writes.c.created_at.desc(), writes.c.id.desc()).limit(limit)
    ).mappings().all()
    return [_decode(r) for r in rows], total


def list_writes(
    session: Session, municipality_id: int, *, state: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """Writes of a municipality, newest first: ``(page, total count)``."""
    where = [writes.c.municipality_id == municipality_id]
    if state is not None:
        where.append(writes.c.state == state)
    total = int(session.scalar(select(func.count()).select_from(writes).where(and_(*where))) or 0)
    rows = session.execute(
        select(writes).where(and_(*where)).order_by(writes.c.created_at.desc(), writes.c.id.desc())
        .limit(limit).offset(offset)
    ).mappings().all()
    return [_decode(r) for r in rows], total


def open_writes(session: Session) -> list[dict[str, Any]]:
    """Every write still in :data:`OPEN_STATES`, by account then nonce (the order to send)."""
    rows = session.execute(
        select(writes).where(writes.c.state.in_(OPEN_STATES)).order_by(writes.c.account, writes.c.nonce)
    ).mappings().all()
    return [_decode(r) for r in rows]


def recent_confirmed(session: Session, since: int, limit: int = 500) -> list[dict[str, Any]]:
    """Confirmed writes updated at or after ``since`` (Unix seconds), in block order: the ones
    the reconciler still watches for a chain that lost them."""
    rows = session.execute(
        select(writes).where(and_(writes.c.state == "confirmed", writes.c.updated_at >= since))
        .order_by(writes.c.block_number, writes.c.account, writes.c.nonce).limit(limit)
    ).mappings().all()
    return [_decode(r) for r in rows]


def transition(
    session: Session, write_id: str, *, from_state: str, attempt: int, now: int, **values: Any
) -> bool:
    """Compare-and-set: move the write to the given column values (``state=...``,
    ``result_json=...`` as Python values) only if it is still in ``from_state`` at ``attempt``.
    Returns whether it moved. The caller commits."""
    for name in ("result_json", "problem_json"):
        if name in values and values[name] is not None:
            values[name] = _dumps(values[name])
    done = session.execute(
        update(writes)
        .where(and_(writes.c.id == write_id, writes.c.state == from_state, writes.c.attempts == attempt))
        .values(updated_at=now, **values)
    ).rowcount
    return bool(done)


def record_attempt(
    session: Session, write_id: str, *, from_state: str, attempt: int, nonce: int, tx_hash: str, raw_tx: str,
    tx_json: Mapping[str, Any], now: int,
) -> bool:
    """Compare-and-set a new signature of the write (``attempt + 1``, new nonce and hash, back
    to ``queued``), recorded in ``outbox_attempts``. Returns whether it was recorded (another
    process may have re-signed it first). The caller commits."""
    moved = transition(session, write_id, from_state=from_state, attempt=attempt, now=now, state="queued",
                       attempts=attempt + 1, nonce=nonce, tx_hash=tx_hash, raw_tx=raw_tx, tx_json=_dumps(tx_json),
                       block_number=None, block_hash=None, confirmations=0, broadcast_at=None)
    if moved:
        session.execute(insert(attempts).values(write_id=write_id, attempt=attempt + 1, nonce=nonce,
                                                tx_hash=tx_hash, created_at=now))
    return moved


def attempt_history(session: Session, write_id: str) -> list[dict[str, Any]]:
    """Every attempt of a write, first first: ``[{"attempt", "nonce", "tx_hash", "created_at"}]``."""
    rows = session.execute(
        select(attempts.c.attempt, attempts.c.nonce, attempts.c.tx_hash, attempts.c.created_at)
        .where(attempts.c.write_id == write_id).order_by(attempts.c.attempt)
    ).mappings().all()
    return [dict(r) for r in rows]


def citing_writes(session: Session, sha256: str) -> list[dict[str, str]]:
    """``[{"id", "state"}]`` of the writes whose evidence list holds ``sha256`` (``0x`` hex)."""
    pattern = f'%"{sha256}"%'
    rows = session.execute(
        select(writes.c.id, writes.c.state).where(writes.c.evidence_json.like(pattern))
    ).mappings().all()
    return [dict(r) for r in rows]


def evidence_citation(session: Session, sha256: str) -> str:
    """How a stored evidence file is cited, for ``GET /evidence/{sha256}``: ``"index"`` (a
    delivery, a batch leaf or a batch file in the index), ``"pending"`` (only by writes of the
    outbox not failed, not yet indexed), ``"failed"`` (only by writes that failed for good: it
    never got on chain), ``"none"`` (by nothing this server knows: a file stored before the
    outbox)."""
    from ledger.db.models import Batch, BatchEvidenceCitation, EvidenceCitation

    for query in (
        select(EvidenceCitation.sha256).where(EvidenceCitation.sha256 == sha256).limit(1),
        select(BatchEvidenceCitation.sha256).where(BatchEvidenceCitation.sha256 == sha256).limit(1),
        select(Batch.file_sha256).where(Batch.file_sha256 == sha256).limit(1),
    ):
        if session.execute(query).first() is not None:
            return "index"
    states = {row["state"] for row in citing_writes(session, sha256)}
    if not states:
        return "none"
    return "failed" if states == {"failed"} else "pending"


def is_integrity_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a unique-constraint conflict (the idempotency key was taken)."""
    return isinstance(exc, IntegrityError)


def states_of(session: Session, ids: Iterable[str]) -> dict[str, str]:
    """``{id: state}`` of the given writes."""
    ids = list(ids)
    if not ids:
        return {}
    rows = session.execute(select(writes.c.id, writes.c.state).where(writes.c.id.in_(ids))).all()
    return {r[0]: r[1] for r in rows}


def count_by_state(session: Session) -> dict[str, int]:
    """How many writes are in each state."""
    rows = session.execute(select(writes.c.state, func.count()).group_by(writes.c.state)).all()
    return {r[0]: int(r[1]) for r in rows}


__all__: Sequence[str] = (
    "metadata", "writes", "attempts", "nonces", "STATES", "OPEN_STATES", "create_tables", "allocate_nonce",
    "insert_write", "get_write", "write_by_key", "list_writes", "open_writes", "recent_confirmed", "transition",
    "record_attempt", "attempt_history", "citing_writes", "is_integrity_error", "states_of", "count_by_state",
)
