"""Engine, schema and sessions of the index.

SQLite (the default, ``sqlite:///data/ledger.sqlite3``) runs in WAL mode so the API reads
while the indexer writes, with foreign keys on and real transactions (pysqlite's implicit
transaction handling is turned off and ``BEGIN`` is emitted by SQLAlchemy, so reads and
writes of one unit of work share one transaction). PostgreSQL works through
``postgresql+psycopg://user@host:5432/db`` (``?options=-csearch_path%3Dmy_schema`` selects a
schema).

Build the engine once per process (the API's lifespan, the indexer's main).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from ledger.db import accounts, outbox
from ledger.db.models import SCHEMA_VERSION, TABLE_NAMES, Base, IndexSchemaRow, ensure_search_and_version
from ledger.errors import IndexSchemaError

_SCHEMA_ROW_ID = 1

SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite connection waits for another writer's lock, milliseconds."""

DEFAULT_POOL_SIZE = 10
"""Connections an engine keeps open (``ledger.settings.Settings.db_pool_size``)."""


SQLITE_BUSY_CODES = frozenset({5, 6})
"""SQLite's ``SQLITE_BUSY`` and ``SQLITE_LOCKED`` result codes (https://sqlite.org/rescode.html)."""


def database_busy(exc: BaseException) -> bool:
    """Whether a database error only means that SQLite was busy or locked by another writer
    (by the driver's result code, ``sqlite3.Error.sqlite_errorcode``, never the message)."""
    code = getattr(getattr(exc, "orig", None), "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in SQLITE_BUSY_CODES


WRITE_FIRST_OPTION = "ledger_write_first"
"""Execution option of a connection whose transaction will write: on SQLite it begins with
``BEGIN IMMEDIATE``, taking the writer lock at once (waiting up to ``busy_timeout`` for it),
so a read followed by a write is never refused halfway (:func:`write_unit`)."""


@contextmanager
def write_unit(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in one transaction that writes (committed at the end, rolled back on an
    exception) and, on SQLite, holds the writer lock from its first statement
    (:data:`WRITE_FIRST_OPTION`): for a short unit of work that reads, then writes, while
    other processes write too (the staff workspace's sign-in and accounts). PostgreSQL
    ignores the option (its row locks do this already)."""
    with factory() as session, session.begin():
        session.connection(execution_options={WRITE_FIRST_OPTION: True})
        yield session


BUSY_RETRY_ATTEMPTS = 5
"""How many times :func:`retry_when_busy` runs a unit of work SQLite refused as busy."""

BUSY_RETRY_PAUSE_SECONDS = 0.05
"""The first pause between two such attempts, seconds (doubled each time: 0.05 … 0.8 s)."""

_T = TypeVar("_T")


def retry_when_busy(work: Callable[[], _T], *, attempts: int = BUSY_RETRY_ATTEMPTS,
                    pause_seconds: float = BUSY_RETRY_PAUSE_SECONDS) -> _T:
    """``work()`` (a whole unit of work: it opens, commits or rolls back its own transaction),
    run again when SQLite refused it as busy (:func:`database_busy`). ``busy_timeout`` cannot
    wait out one case: a deferred transaction that read, then wants to write after another
    connection committed, is refused at once (SQLite would otherwise deadlock). A rolled-back
    attempt left nothing, so running it again is safe.

    Raises:
        OperationalError: the last attempt's, or any error that is not "busy" at once.
    """
    for attempt in range(attempts):
        try:
            return work()
        except OperationalError as exc:
            if not database_busy(exc) or attempt == attempts - 1:
                raise
            time.sleep(pause_seconds * 2 ** attempt)
    raise AssertionError("unreachable")


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` is the database's state, not the data's: SQLite busy or locked
    (:func:`database_busy`), or a connection the driver lost (SQLAlchemy's
    ``connection_invalidated``). Such an error is retried, never blamed on an event."""
    return database_busy(exc) or bool(getattr(exc, "connection_invalidated", False))


def make_engine(database_url: str, *, pool_size: int = DEFAULT_POOL_SIZE, **engine_kwargs: Any) -> Engine:
    """Create the engine for ``database_url``.

    Connections are pooled and kept (SQLAlchemy's ``QueuePool``, for a SQLite file as for
    PostgreSQL): ``pool_size`` stay open between requests, as many again are opened under a
    burst (``max_overflow``) and closed when returned; a request waits up to 30 s for one
    beyond that. So the per-connection set-up below (PRAGMAs) runs once per connection, not
    per request. PostgreSQL connections are pinged when taken from the pool
    (``pool_pre_ping``: a restarted server costs one failed ping, not a failed request).

    SQLite: the parent folder of a file database is created; WAL journal, foreign keys on,
    ``busy_timeout`` of :data:`SQLITE_BUSY_TIMEOUT_MS`, ``check_same_thread=False`` (the API
    uses sessions from worker threads), and transactions that begin at the first statement
    of a unit of work (reads included: a deferred ``BEGIN``, which takes no lock until a
    write). An in-memory database keeps SQLAlchemy's one-connection-per-thread pool.

    Args:
        database_url: a SQLAlchemy URL (``sqlite:///path``, ``postgresql+psycopg://...``).
        pool_size: connections kept open, >= 1.
        **engine_kwargs: passed on to :func:`sqlalchemy.create_engine` (e.g. ``echo=True``;
            ``poolclass`` or ``max_overflow`` override the pool).

    Returns:
        The engine (no connection is made yet).

    Raises:
        sqlalchemy.exc.ArgumentError: the URL does not parse.
    """
    url = make_url(database_url)
    memory = url.get_backend_name() == "sqlite" and (not url.database or url.database == ":memory:")
    if not memory and "poolclass" not in engine_kwargs:
        engine_kwargs.setdefault("pool_size", pool_size)
        engine_kwargs.setdefault("max_overflow", pool_size)
    if url.get_backend_name() != "sqlite":
        engine_kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **engine_kwargs)

    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    connect_args = dict(engine_kwargs.pop("connect_args", {}))
    connect_args.setdefault("check_same_thread", False)
    if not memory and "poolclass" not in engine_kwargs:
        engine_kwargs["poolclass"] = QueuePool
    engine = create_engine(url, connect_args=connect_args, **engine_kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide where transactions begin (see module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if url.database and url.database != ":memory:":
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(WRITE_FIRST_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def create_schema(engine: Engine) -> None:
    """Create the index's tables in an empty database and record :data:`SCHEMA_VERSION`;
    on a database that already has them, check the recorded version (idempotent).

    Raises:
        IndexSchemaError: the database holds index tables without a schema version (a v1
            index) or with another version: it is refused as a whole, never half-used; rebuild
            it with `make reindex` (or ``python -m indexer --reindex``).
    """
    present = set(inspect(engine).get_table_names()) & set(TABLE_NAMES)
    if present:
        _check_schema_version(engine, present)
    try:
        with engine.begin() as conn:  # tables and version row in one transaction
            Base.metadata.create_all(conn)
            for table in Base.metadata.sorted_tables:  # indexes added to a schema-6 table made before them
                for index in table.indexes:
                    index.create(conn, checkfirst=True)
            ensure_search_and_version(conn)  # text search and index_version (an index made before them)
            if conn.scalar(select(IndexSchemaRow.version).where(IndexSchemaRow.id == _SCHEMA_ROW_ID)) is None:
                conn.execute(insert(IndexSchemaRow).values(id=_SCHEMA_ROW_ID, version=SCHEMA_VERSION))
    except IntegrityError:  # another process created the schema at the same moment
        pass
    _check_schema_version(engine, set(TABLE_NAMES))
    create_outbox(engine)
    create_accounts(engine)


def create_outbox(engine: Engine) -> None:
    """Create the write outbox's tables if missing (``ledger.db.outbox``: its own metadata,
    which :func:`drop_schema` never drops: the outbox is what the API owes the chain)."""
    try:
        with engine.begin() as conn:
            outbox.create_tables(conn)
    except (IntegrityError, ProgrammingError):  # another process created them at the same moment
        pass


def create_accounts(engine: Engine) -> None:
    """Create the staff accounts' tables if missing (``ledger.db.accounts``: their own
    metadata, which :func:`drop_schema` never drops: who may sign in is not the index's)."""
    try:
        with engine.begin() as conn:
            accounts.create_tables(conn)
    except (IntegrityError, ProgrammingError):  # another process created them at the same moment
        pass


def _check_schema_version(engine: Engine, present: set[str]) -> None:
    if IndexSchemaRow.__tablename__ not in present:
        raise IndexSchemaError(None, SCHEMA_VERSION)
    with engine.connect() as conn:
        found = conn.scalar(select(IndexSchemaRow.version).where(IndexSchemaRow.id == _SCHEMA_ROW_ID))
    if found != SCHEMA_VERSION:
        raise IndexSchemaError(found, SCHEMA_VERSION)


def drop_schema(engine: Engine) -> None:
    """Drop every table of the index, of this schema version or an older one (v1's tables
    are a subset of these), to rebuild it from the deploy block. The outbox's tables
    (``ledger.db.outbox``) are not the index's and stay."""
    Base.metadata.drop_all(engine)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine``. Objects stay readable after commit
    (``expire_on_commit=False``); use ``with factory() as session, session.begin(): ...``
    for a unit of work that commits at the end or rolls back on an exception."""
    return sessionmaker(engine, expire_on_commit=False)
