"""A SQLite index that is only busy (another writer holds it) is told apart from a database
that is gone by the driver's result code, so the indexer retries it at once instead of backing
off for up to a minute (found by the kill tests under write load)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from indexer.loop import database_busy


def test_a_file_locked_by_another_writer_is_busy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    holder, other = (create_engine(url, connect_args={"timeout": 0.05}) for _ in range(2))
    with holder.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    with holder.connect() as held:
        held.execute(text("BEGIN IMMEDIATE"))
        with pytest.raises(OperationalError) as refused:
            with other.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (2)"))
    assert refused.value.orig.sqlite_errorcode == 5  # SQLITE_BUSY
    assert database_busy(refused.value) is True


def test_a_database_that_cannot_be_opened_is_not_busy(tmp_path: Path) -> None:
    with pytest.raises(OperationalError) as refused:
        with create_engine(f"sqlite:///{tmp_path / 'missing' / 'index.sqlite3'}").connect():
            pass
    assert database_busy(refused.value) is False
