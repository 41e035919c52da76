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

from ledger.db import create_schema, make_engine, session_factory
from ledger.db.models import Base

POSTGRES_URL = os.environ.get("LEDGER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


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
    index's tables unless ``schema`` is false; dropped (schema) afterwards."""
    skip_unless_backend(backend)
    name = f"ledger_test_{uuid.uuid4().hex[:12]}"
    admin: Engine | None = None
    if backend == "sqlite":
        url = f"sqlite:///{folder / (name + '.sqlite3')}"
    else:
        admin = make_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        url = f"{POSTGRES_URL}?options=-csearch_path%3D{name}"
    engine = make_engine(url)
    try:
        if schema:
            create_schema(engine)
        yield Database(backend, url, engine, session_factory(engine))
    finally:
        engine.dispose()
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
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
