"""Test databases for the data-layer and indexer tests: a fresh SQLite file or a fresh
PostgreSQL schema per use, and a dump of the whole index for comparisons.

PostgreSQL: ``LEDGER_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each database is its own schema
(``search_path`` set through the URL's ``options``), dropped afterwards. When the server
cannot be reached the PostgreSQL variants are skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from ledger.db import make_engine, session_factory
from ledger.db.models import Base
from tests.db.schema_pool import PostgresSchemaPool, SqliteTemplate

POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")
TEST_BACKEND = os.environ.get("LEDGER_TEST_DATABASE", "sqlite").strip().lower() or "sqlite"
"""The backend of every index that a fixture makes without asking for one (the ``settings``
fixture, in-process stacks): ``LEDGER_TEST_DATABASE=postgresql`` (``make test-postgres``)
runs the whole suite on fresh PostgreSQL schemas; default ``sqlite``."""
if TEST_BACKEND not in BACKENDS:
    raise ValueError(f"LEDGER_TEST_DATABASE must be one of {BACKENDS}, not {TEST_BACKEND!r}")


@lru_cache(maxsize=1)
def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used for tests, or ``None`` when it can."""
    engine = make_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means: skip, and say why
        return f"PostgreSQL not reachable at {POSTGRES_URL} (set LEDGER_TEST_POSTGRES_URL): {exc}"
    finally:
        engine.dispose()
    return None


def skip_unless_backend(backend: str) -> None:
    """Skip the running test when ``backend`` is PostgreSQL and the server is not reachable."""
    if backend == "postgresql":
        reason = postgres_unavailable()
        if reason:
            pytest.skip(reason)


@dataclass
class Database:
    """A fresh, empty index: its URL (for subprocesses), engine and session factory."""

    backend: str
    url: str
    engine: Engine
    sessions: sessionmaker[Session]


@contextmanager
def fresh_database(backend: str, folder: Path, *, schema: bool = True) -> Iterator[Database]:
    """A new empty database (SQLite file in ``folder`` or PostgreSQL schema), with the
    index's tables unless ``schema`` is false; dropped (schema) afterwards.

    With tables, the new index comes ready-made (``tests.db.schema_pool``): on SQLite a copy
    of a template file, on PostgreSQL a schema another test was done with, emptied and renamed
    (or made when none is kept); either is what ``create_schema`` makes, with a new epoch."""
    skip_unless_backend(backend)
    name = f"ledger_test_{uuid.uuid4().hex[:12]}"
    admin: Engine | None = None
    pooled: str | None = None
    if backend == "sqlite":
        path = folder / (name + ".sqlite3")
        url = f"sqlite:///{path}"
        if schema:
            _sqlite_template.copy_to(path)
    elif schema:
        pooled = _postgres_pool().take()
        url = _postgres_pool().url(pooled)
    else:
        admin = make_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{name}"
    engine = make_engine(url)
    try:
        yield Database(backend, url, engine, session_factory(engine))
    finally:
        engine.dispose()
        if pooled is not None:
            _postgres_pool().give_back(pooled)
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
            admin.dispose()


_sqlite_template = SqliteTemplate()


@lru_cache(maxsize=1)
def _postgres_pool() -> PostgresSchemaPool:
    return PostgresSchemaPool(POSTGRES_URL)


@contextmanager
def index_database_url(folder: Path) -> Iterator[str]:
    """The URL of a fresh, empty index on :data:`TEST_BACKEND` for code that makes its own
    tables (the app's lifespan, the indexer, ``InProcessStack``): on SQLite the file
    ``ledger.sqlite3`` in ``folder`` (the default of ``Settings``); on PostgreSQL a new
    schema, dropped afterwards (after
    at most 10 s waiting for locks: a server thread that still holds one must not hang the
    run; the schema is then left behind and named in a warning).

    Skips the running test when PostgreSQL is asked for and not reachable."""
    if TEST_BACKEND == "sqlite":
        yield f"sqlite:///{folder / 'ledger.sqlite3'}"
        return
    skip_unless_backend("postgresql")
    name = f"ledger_test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{name}"
    finally:
        try:
            with admin.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '10s'"))
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        except Exception as exc:  # a left-over schema must not fail the test that used it
            import warnings

            warnings.warn(f"test schema {name} not dropped: {exc}", stacklevel=2)
        admin.dispose()


def dump_index(engine: Engine, *, checkpoint: bool = False) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the index, sorted by primary key (the ``checkpoint``
    table only when asked: it carries wall-clock times)."""
    result: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name == "checkpoint" and not checkpoint:
                continue
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).mappings()
            result[table.name] = [dict(row) for row in rows]
    return result
