"""Fresh index databases without paying for the DDL each time (tests only).

Making the index's tables on PostgreSQL takes about 250 statements and 0.5 s (1 s on a loaded
2-core machine); the data-layer and indexer tests make one or two for each of their ~360
PostgreSQL tests and for every hypothesis example that builds its own. So a schema that a test
is done with is emptied and kept for the next one (:class:`PostgresSchemaPool`, about 15 ms):
every row deleted, every sequence restarted, the rows that ``create_schema`` writes put back
(the ``index_version`` row with a new random epoch, as a new index gets), and renamed to a new
unique name before it is handed out, so a connection left open by the previous test cannot
reach it. It is kept only when its tables, columns, constraints, indexes, triggers, functions
and sequences are still exactly those of a new index (:func:`_pg_fingerprint`), else dropped
as before: a test that drops, alters or adds something gets no reused schema after it.

SQLite: the tables are made once per process in a template file, and a new database is a copy
of it with a new epoch (:class:`SqliteTemplate`, about 1 ms instead of 65 ms).
"""

from __future__ import annotations

import atexit
import secrets
import shutil
import sqlite3
import tempfile
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from ledger.db import create_schema, make_engine
from ledger.db.models import VERSION_TABLE

LOCK_TIMEOUT = "2s"
"""How long a reset waits for a lock (a connection the test left inside a transaction); the
schema is then dropped instead, as without the pool."""

_FINGERPRINT_SQL = text(r"""
WITH items AS (
    SELECT concat_ws(' ', 'rel', c.relname, c.relkind, c.relpersistence) AS item
      FROM pg_class c WHERE c.relnamespace = to_regnamespace(:schema)
    UNION ALL
    SELECT concat_ws(' ', 'col', c.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                     a.attidentity, pg_get_expr(d.adbin, d.adrelid))
      FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE c.relnamespace = to_regnamespace(:schema) AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT concat_ws(' ', 'con', c.relname, k.conname, pg_get_constraintdef(k.oid))
      FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid WHERE c.relnamespace = to_regnamespace(:schema)
    UNION ALL
    SELECT concat_ws(' ', 'idx', pg_get_indexdef(i.indexrelid))
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = to_regnamespace(:schema)
    UNION ALL
    SELECT concat_ws(' ', 'trg', c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled)
      FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE c.relnamespace = to_regnamespace(:schema) AND NOT t.tgisinternal
    UNION ALL
    SELECT concat_ws(' ', 'fn', p.proname, pg_get_function_identity_arguments(p.oid), md5(coalesce(p.prosrc, '')))
      FROM pg_proc p WHERE p.pronamespace = to_regnamespace(:schema)
    UNION ALL
    SELECT concat_ws(' ', 'seq', c.relname, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcycle)
      FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = to_regnamespace(:schema)
    UNION ALL
    SELECT concat_ws(' ', 'view', c.relname, pg_get_viewdef(c.oid))
      FROM pg_class c WHERE c.relnamespace = to_regnamespace(:schema) AND c.relkind IN ('v', 'm')
)
SELECT concat_ws(' ', count(*), md5(string_agg(replace(item, :schema, '<schema>'), E'\n' ORDER BY item))) FROM items
""")


def _pg_fingerprint(conn: Any, schema: str) -> str:
    """One string naming every object of ``schema`` and its definition (not its rows), the
    schema's own name left out: equal for two schemas with the same tables, columns, defaults,
    constraints, indexes, triggers, functions, sequences and views."""
    return str(conn.execute(_FINGERPRINT_SQL, {"schema": schema}).scalar_one())


def _new_name() -> str:
    return f"ledger_test_{uuid.uuid4().hex[:12]}"


class PostgresSchemaPool:
    """Schemas with the index's tables, emptied for reuse (see the module docstring), in one
    process.

    Args:
        server_url: the PostgreSQL server (SQLAlchemy URL without ``options``).
    """

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self._ready: list[str] = []
        self._fingerprint: str | None = None
        self._rows: list[tuple[str, list[dict[str, Any]]]] = []  # (table, rows) of a new index
        self._tables: list[str] = []
        self._sequences: list[str] = []
        self._admin: Engine | None = None
        atexit.register(self.close)

    def url(self, schema: str) -> str:
        """The URL of ``schema`` (``search_path`` set through ``options``)."""
        return f"{self.server_url}?options=-csearch_path%3D{schema}"

    @property
    def admin(self) -> Engine:
        if self._admin is None:
            self._admin = make_engine(self.server_url)
        return self._admin

    def take(self) -> str:
        """A schema, under a name never used before, holding a new index (tables and the rows
        ``create_schema`` writes, nothing else); made and given its tables when none is kept."""
        name = _new_name()
        if self._ready:
            with self.admin.begin() as conn:
                conn.execute(text(f'ALTER SCHEMA "{self._ready.pop()}" RENAME TO "{name}"'))
            return name
        with self.admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
        engine = make_engine(self.url(name))
        try:
            create_schema(engine)
            if self._fingerprint is None:
                self._remember_new_index(engine, name)
        finally:
            engine.dispose()
        return name

    def give_back(self, name: str) -> None:
        """Empty ``name`` and keep it for :meth:`take` if it still has exactly a new index's
        objects; else (or when the reset cannot take its locks) drop it."""
        if self._fingerprint is not None and self._reset(name):
            self._ready.append(name)
            return
        with self.admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))

    def close(self) -> None:
        """Drop the kept schemas (at exit of the process)."""
        try:
            while self._ready:
                with self.admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{self._ready.pop()}" CASCADE'))
        except Exception:  # the server went away first: left-over schemas are only clutter
            pass
        if self._admin is not None:
            self._admin.dispose()
            self._admin = None

    def _remember_new_index(self, engine: Engine, name: str) -> None:
        with engine.connect() as conn:
            self._fingerprint = _pg_fingerprint(conn, name)
            self._tables = list(conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = :s ORDER BY tablename"), {"s": name}).scalars())
            self._sequences = list(conn.execute(text(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = :s ORDER BY sequencename"), {"s": name}).scalars())
            for table in self._tables:
                rows = [dict(row) for row in conn.execute(text(f'SELECT * FROM "{table}"')).mappings()]
                if rows:
                    self._rows.append((table, rows))

    def _reset(self, name: str) -> bool:
        engine = make_engine(self.url(name))
        try:
            with engine.begin() as conn:
                conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
                if _pg_fingerprint(conn, name) != self._fingerprint:
                    return False
                conn.execute(text("SET LOCAL session_replication_role = replica"))  # no triggers, no FK checks
                conn.exec_driver_sql(
                    " ".join(f'DELETE FROM "{table}";' for table in self._tables)
                    + " ".join(f'ALTER SEQUENCE "{sequence}" RESTART;' for sequence in self._sequences))
                for table, rows in self._rows:
                    for row in rows:
                        if table == VERSION_TABLE:
                            row = {**row, "epoch": secrets.token_hex(8)}  # a new index's epoch
                        columns = ", ".join(f'"{column}"' for column in row)
                        values = ", ".join(f":{column}" for column in row)
                        conn.execute(text(f'INSERT INTO "{table}" ({columns}) VALUES ({values})'), row)
            return True
        except Exception:  # locks not granted, no right to set session_replication_role, ...: drop it
            return False
        finally:
            engine.dispose()


class SqliteTemplate:
    """The index's tables made once (per process) in a template SQLite file; :meth:`copy_to`
    writes a new index as a copy of it with a new epoch."""

    def __init__(self) -> None:
        self._file: Path | None = None

    def copy_to(self, path: Path) -> None:
        """Write a new index (tables, schema version, a new epoch) at ``path`` (its folder is
        made if missing)."""
        if self._file is None:
            folder = Path(tempfile.mkdtemp(prefix="ledger-sqlite-template-"))
            atexit.register(shutil.rmtree, folder, True)
            template = folder / "index.sqlite3"
            engine = make_engine(f"sqlite:///{template}")
            try:
                create_schema(engine)
            finally:
                engine.dispose()  # the last connection closed: the WAL is checkpointed into the file
            self._file = template
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._file, path)
        with closing(sqlite3.connect(path)) as conn, conn:  # commits, then closes
            conn.execute(f"UPDATE {VERSION_TABLE} SET epoch = ?", (secrets.token_hex(8),))
