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


def test_a_locked_index_is_raised_by_the_projection_not_recorded_as_the_events_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A new user saw "Event DeliveryRecorded ... not applied (OperationalError: database is
    locked)" in the indexer's log: the lock is the database's state, so apply_events raises it
    (the indexer retries the chunk) and no event is blamed."""
    from ledger.db.engine import create_schema, make_engine, session_factory
    from ledger.db.models import EventError, EventRow
    from ledger.db.projection import apply_events
    from tests.db.script import Script
    from sqlalchemy import func, select

    url = f"sqlite:///{tmp_path / 'index.sqlite3'}"
    engine = make_engine(url, connect_args={"timeout": 0.05})
    create_schema(engine)
    script = Script()
    script.municipality(1)
    script.registrar(1)
    script.commitment(1)
    holder = create_engine(url)
    sessions = session_factory(engine)
    with holder.connect() as held:
        held.exec_driver_sql("BEGIN IMMEDIATE")
        held.exec_driver_sql("INSERT INTO event_errors (block_number, log_index, error_type, detail) VALUES (0, 0, 'x', 'x')")
        with sessions() as session:
            session.connection().exec_driver_sql("PRAGMA busy_timeout=50")
            with pytest.raises(OperationalError) as refused:
                with session.begin_nested():
                    apply_events(session, script.events, script.block_times)
                    session.flush()
            session.rollback()
        assert database_busy(refused.value) is True
        assert not [r for r in caplog.records if "not applied" in r.getMessage()]  # no event blamed
        held.exec_driver_sql("ROLLBACK")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(EventError)) == 0
        assert session.scalar(select(func.count()).select_from(EventRow)) == 0
    with sessions.begin() as session:  # once the lock is gone the same events apply
        assert apply_events(session, script.events, script.block_times) == 3
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(EventError)) == 0
        assert session.scalar(select(func.count()).select_from(EventRow)) == 3
