"""Staff accounts and their sessions: tables and every SQL query of them (the rules, hashing,
TOTP, lock-out and session lifetime, are ``ledger.accounts``).

Staff accounts are not a projection of the chain: they are who may use the staff workspace.
Their tables have their own :data:`metadata`, created by :func:`ledger.db.engine.create_schema`
right after the outbox's (:func:`ledger.db.engine.create_accounts`) and never dropped by
``drop_schema`` / a reindex. Times are Unix seconds (``BigInteger``), JSON members ``Text``; the
same tables work on SQLite and PostgreSQL.

Tables:

- ``staff_accounts``: one row per person: ``id`` (integer, autoincrement), ``municipality_id``,
  ``login`` (unique; stored casefolded, NFC, stripped: ``ledger.accounts.normalize_login``),
  ``display_name``, ``roles_json`` (JSON list, sorted, a non-empty subset of ``("admin",
  "registrar", "confirmer")``), ``signer`` (EIP-55 address of the chain account whose
  server-held key signs this person's writes; null for an admin-only account),
  ``password_hash`` (argon2id PHC string), ``totp_secret`` (base32, or sealed by ``ledger.accounts.SecretBox``: ``v1:`` + base64), ``totp_last_step`` (the
  last accepted TOTP time step, null before the first sign-in: a code of that step or an
  earlier one is refused as a replay), ``failed_attempts`` (consecutive failed sign-ins),
  ``locked_until`` (null, or the end of a lock-out), ``disabled_at`` (null, or when it was
  disabled), ``external_subject`` (null; reserved for an OpenID Connect provider's ``sub``,
  unique together with ``municipality_id``: unused for now), ``created_at``, ``updated_at``
  (the last administrative change: creation, roles, disable/enable, reset, password change;
  not the sign-in counters), ``created_by`` (the admin's account id; null from the command
  line).
- ``staff_sessions``: one row per signed-in browser: ``id`` = SHA-256 hex of the cookie token
  (the token itself is never stored), ``account_id``, ``csrf_token``, ``created_at``,
  ``last_seen_at``, ``expires_at`` (the absolute end), ``ended_at`` (null while not signed
  out / ended by an administrator).
- ``staff_account_events``: the audit of accounts: ``id``, ``account_id``, ``actor_id`` (the
  admin or the person; null from the command line or an unauthenticated attempt),
  ``action`` (:data:`ACTIONS`), ``at``, ``detail_json`` (a JSON object or null). Never a
  password, a TOTP secret or a code: only names, roles, counts, times and reasons.

Every function takes the caller's :class:`~sqlalchemy.orm.Session` and never commits. Counter
and replay updates are single ``UPDATE`` statements (a row lock on PostgreSQL, SQLite's writer
lock), so two processes signing in the same account at the same moment neither lose a failed
attempt nor both accept one TOTP step.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

metadata = MetaData()
"""The accounts' own metadata (not ``ledger.db.models.Base.metadata``: never dropped)."""

ACTIONS = (
    "created", "disabled", "enabled", "reset", "roles_changed", "password_changed", "signed_in",
    "sign_in_refused", "locked", "signed_out",
)
"""The ``action`` values of ``staff_account_events``."""

staff_accounts = Table(
    "staff_accounts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("municipality_id", BigInteger, nullable=False, index=True),
    Column("login", String(64), nullable=False, unique=True),
    Column("display_name", String(120), nullable=False),
    Column("roles_json", Text, nullable=False),
    Column("signer", String(42), nullable=True),
    Column("password_hash", Text, nullable=False),
    Column("totp_secret", String(128), nullable=False),
    Column("totp_last_step", BigInteger, nullable=True),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_until", BigInteger, nullable=True),
    Column("disabled_at", BigInteger, nullable=True),
    Column("external_subject", String(255), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("created_by", Integer, nullable=True),
    UniqueConstraint("municipality_id", "external_subject", name="uq_staff_accounts_external_subject"),
)

staff_sessions = Table(
    "staff_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("account_id", Integer, ForeignKey("staff_accounts.id"), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_seen_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("ended_at", BigInteger, nullable=True),
)

staff_account_events = Table(
    "staff_account_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", Integer, ForeignKey("staff_accounts.id"), nullable=False, index=True),
    Column("actor_id", Integer, nullable=True),
    Column("action", String(32), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("detail_json", Text, nullable=True),
)

TABLE_NAMES = tuple(metadata.tables)
"""The accounts' table names."""


def create_tables(connection: Any) -> None:
    """Create the accounts' tables that do not exist yet (idempotent)."""
    metadata.create_all(connection)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _account(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out = dict(row)
    out["roles"] = json.loads(out.pop("roles_json"))
    return out


def insert_account(session: Session, values: Mapping[str, Any]) -> int:
    """Add an account (``values``: its columns, ``roles`` as a list instead of ``roles_json``)
    and return its id. The caller commits.

    Raises:
        IntegrityError: the login (or the municipality's external subject) is taken.
    """
    row = dict(values)
    row["roles_json"] = _dumps(sorted(row.pop("roles")))
    row.setdefault("failed_attempts", 0)
    return int(session.execute(insert(staff_accounts).values(**row)).inserted_primary_key[0])


def get_account(session: Session, account_id: int) -> dict[str, Any] | None:
    """One account by id (every column, ``roles`` decoded), or ``None``."""
    row = session.execute(select(staff_accounts).where(staff_accounts.c.id == account_id)).mappings().first()
    return _account(row)


def account_by_login(session: Session, login: str) -> dict[str, Any] | None:
    """The account with this (already normalised) login, or ``None``."""
    row = session.execute(select(staff_accounts).where(staff_accounts.c.login == login)).mappings().first()
    return _account(row)


def list_accounts(session: Session, municipality_id: int) -> list[dict[str, Any]]:
    """The municipality's accounts, ordered by login."""
    rows = session.execute(
        select(staff_accounts).where(staff_accounts.c.municipality_id == municipality_id)
        .order_by(staff_accounts.c.login)
    ).mappings().all()
    return [_account(r) for r in rows]  # type: ignore[misc]


def update_account(session: Session, account_id: int, **values: Any) -> bool:
    """Set the given columns of an account (``roles=`` as a list). Returns whether it exists.
    The caller commits."""
    if "roles" in values:
        values["roles_json"] = _dumps(sorted(values.pop("roles")))
    done = session.execute(update(staff_accounts).where(staff_accounts.c.id == account_id).values(**values)).rowcount
    return bool(done)


def count_failure(session: Session, account_id: int) -> int:
    """Add one to the account's consecutive failed sign-ins (one ``UPDATE``: concurrent
    attempts all count) and return the new count."""
    session.execute(
        update(staff_accounts).where(staff_accounts.c.id == account_id)
        .values(failed_attempts=staff_accounts.c.failed_attempts + 1)
    )
    return int(session.scalar(select(staff_accounts.c.failed_attempts).where(staff_accounts.c.id == account_id)))


def accept_totp_step(session: Session, account_id: int, step: int) -> bool:
    """Compare-and-set: record ``step`` as the account's last accepted TOTP time step only if
    it is later than the one recorded (RFC 6238 §5.2: a code counts once). Returns whether it
    was accepted."""
    done = session.execute(
        update(staff_accounts)
        .where(and_(staff_accounts.c.id == account_id,
                    or_(staff_accounts.c.totp_last_step.is_(None), staff_accounts.c.totp_last_step < step)))
        .values(totp_last_step=step)
    ).rowcount
    return bool(done)


def insert_session(session: Session, values: Mapping[str, Any]) -> None:
    """Add a session (the columns of ``staff_sessions``). The caller commits."""
    session.execute(insert(staff_sessions).values(**values))


def get_session(session: Session, session_id: str) -> dict[str, Any] | None:
    """One session by id (the token's SHA-256 hex), ended or not, or ``None``."""
    row = session.execute(select(staff_sessions).where(staff_sessions.c.id == session_id)).mappings().first()
    return dict(row) if row is not None else None


def touch_session(session: Session, session_id: str, now: int) -> None:
    """Set the session's ``last_seen_at`` to ``now`` (if it is still open)."""
    session.execute(
        update(staff_sessions).where(and_(staff_sessions.c.id == session_id, staff_sessions.c.ended_at.is_(None)))
        .values(last_seen_at=now)
    )


def end_session(session: Session, session_id: str, now: int) -> bool:
    """End one open session at ``now``. Returns whether it was open."""
    done = session.execute(
        update(staff_sessions).where(and_(staff_sessions.c.id == session_id, staff_sessions.c.ended_at.is_(None)))
        .values(ended_at=now)
    ).rowcount
    return bool(done)


def end_sessions_of(session: Session, account_id: int, now: int) -> int:
    """End every open session of an account at ``now``; returns how many."""
    done = session.execute(
        update(staff_sessions)
        .where(and_(staff_sessions.c.account_id == account_id, staff_sessions.c.ended_at.is_(None)))
        .values(ended_at=now)
    ).rowcount
    return int(done or 0)


def insert_event(session: Session, *, account_id: int, action: str, at: int, actor_id: int | None = None,
                 detail: Mapping[str, Any] | None = None) -> None:
    """Add an audit event (``action`` one of :data:`ACTIONS`; ``detail`` a JSON object with no
    secret in it, or ``None``). The caller commits.

    Raises:
        ValueError: ``action`` is not one of :data:`ACTIONS` (a programming error).
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown staff account event action {action!r}; use one of {ACTIONS}")
    session.execute(insert(staff_account_events).values(
        account_id=account_id, actor_id=actor_id, action=action, at=at,
        detail_json=_dumps(dict(detail)) if detail is not None else None,
    ))


def events_of_municipality(session: Session, municipality_id: int, limit: int = 100) -> list[dict[str, Any]]:
    """The audit events of the municipality's accounts, newest first (``at``, then insertion
    order): ``[{"at", "action", "account_id", "login", "actor_login", "detail"}]``, ``detail``
    decoded (or ``None``), ``actor_login`` ``None`` for the command line or an
    unauthenticated attempt."""
    account = staff_accounts.alias("account")
    actor = staff_accounts.alias("actor")
    rows = session.execute(
        select(staff_account_events.c.at, staff_account_events.c.action, staff_account_events.c.account_id,
               account.c.login.label("login"), actor.c.login.label("actor_login"),
               staff_account_events.c.detail_json)
        .select_from(staff_account_events
                     .join(account, account.c.id == staff_account_events.c.account_id)
                     .outerjoin(actor, actor.c.id == staff_account_events.c.actor_id))
        .where(account.c.municipality_id == municipality_id)
        .order_by(staff_account_events.c.at.desc(), staff_account_events.c.id.desc())
        .limit(limit)
    ).mappings().all()
    out = []
    for r in rows:
        item = dict(r)
        raw = item.pop("detail_json")
        item["detail"] = json.loads(raw) if raw is not None else None
        out.append(item)
    return out


__all__: Sequence[str] = (
    "metadata", "ACTIONS", "staff_accounts", "staff_sessions", "staff_account_events", "TABLE_NAMES",
    "create_tables", "insert_account", "get_account", "account_by_login", "list_accounts", "update_account",
    "count_failure", "accept_totp_step", "insert_session", "get_session", "touch_session", "end_session",
    "end_sessions_of", "insert_event", "events_of_municipality",
)
