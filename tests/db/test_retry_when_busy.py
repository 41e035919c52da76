"""``ledger.db.engine.retry_when_busy``: a unit of work SQLite refused as busy runs again; any
other error, or the last busy attempt, goes to the caller."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import OperationalError

from ledger.db.engine import retry_when_busy


def _refusal(code: int) -> OperationalError:
    orig = sqlite3.OperationalError("refused")
    orig.sqlite_errorcode = code  # type: ignore[attr-defined]
    return OperationalError("UPDATE staff_accounts ...", {}, orig)


def test_a_unit_of_work_refused_as_busy_twice_runs_a_third_time_and_returns_its_value() -> None:
    calls = []

    def work() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _refusal(5)  # SQLITE_BUSY
        return "done"

    assert retry_when_busy(work, pause_seconds=0) == "done"
    assert len(calls) == 3


def test_an_error_that_is_not_busy_is_raised_at_once() -> None:
    calls = []

    def work() -> None:
        calls.append(1)
        raise _refusal(11)  # SQLITE_CORRUPT

    with pytest.raises(OperationalError):
        retry_when_busy(work, pause_seconds=0)
    assert len(calls) == 1


def test_the_last_busy_attempt_is_raised() -> None:
    calls = []

    def work() -> None:
        calls.append(1)
        raise _refusal(6)  # SQLITE_LOCKED

    with pytest.raises(OperationalError):
        retry_when_busy(work, attempts=4, pause_seconds=0)
    assert len(calls) == 4
