"""Keyset pagination of ``ledger.db.repository.list_commitments_page``: walking the cursors
forward (``after``) and backward (``before``) gives every matching row once, in the order of
the sort (ties by id), the same rows as ``offset``; the totals are exact and the kept counts
follow writes and due date crossings. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import update

from ledger.db import repository
from ledger.db.models import Commitment
from ledger.status import STATUSES, status_of
from tests.db.databases import Database
from tests.db.test_lists_status_sql import insert_rows
from tests.db.test_status_rules import status_db  # noqa: F401 (fixture)

URGENCY = {status: rank for rank, status in enumerate(repository.STATUS_URGENCY)}

row_strategy = st.fixed_dictionaries(
    {
        "withdrawn": st.booleans(),
        "delivered_quantity": st.integers(0, 2),
        "due_date": st.integers(1, 6),
        "original_due_date": st.integers(1, 6),
        "met_at": st.one_of(st.none(), st.integers(0, 7)),
        "met_on_record_at": st.one_of(st.none(), st.integers(0, 7)),
        "met_at_original_terms": st.none(),
        "met_on_record_at_original_terms": st.none(),
        "progress_bps": st.integers(0, 3),
        "last_change_block": st.integers(2, 4),
        "last_change_log_index": st.integers(0, 2),
        "theme": st.sampled_from(["", "Wonen"]),
    }
)


def status(row: dict, now: int) -> str:
    return status_of(row["withdrawn"], row["delivered_quantity"], row["met_at"], row["due_date"], now)


def expected_ids(rows: list[dict], sort: str, now: int, wanted: set[str]) -> list[int]:
    """The ids of the rows with a status in ``wanted`` (all when empty), in ``sort`` order."""
    sign = -1 if sort.startswith("-") else 1
    key = sort.removeprefix("-")

    def order(item: tuple[int, dict]) -> tuple:
        i, row = item
        if key == "id":
            return (sign * i,)
        value = {
            "due_date": (row["due_date"],),
            "progress": (row["progress_bps"],),
            "last_change": (row["last_change_block"], row["last_change_log_index"]),
            "status": (URGENCY[status(row, now)],),
        }[key]
        return tuple(sign * v for v in value) + (i,)

    chosen = [(i, row) for i, row in enumerate(rows, start=1) if not wanted or status(row, now) in wanted]
    return [i for i, _ in sorted(chosen, key=order)]


def ids(page: repository.CommitmentListPage) -> list[int]:
    return [r["id"] for r in page.rows]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(row_strategy, min_size=0, max_size=14),
    now=st.integers(0, 7),
    limit=st.integers(1, 4),
    wanted=st.sets(st.sampled_from(STATUSES), max_size=2),
)
def test_cursors_walk_every_row_once_in_sort_order_both_ways(
    status_db: Database, rows: list[dict], now: int, limit: int, wanted: set[str]  # noqa: F811
) -> None:
    with status_db.sessions() as session:
        insert_rows(session, rows)
        session.commit()  # counts are kept per committed state of the commitments
        for sort in repository.COMMITMENT_SORTS:
            expected = expected_ids(rows, sort, now, wanted)
            args = dict(statuses=sorted(wanted), sort=sort, limit=limit)
            page = repository.list_commitments_page(session, now, **args)
            assert page.prev_cursor is None and page.total == len(expected)
            forward, pages = ids(page), [page]
            while page.next_cursor is not None:
                page = repository.list_commitments_page(session, now, after=page.next_cursor, **args)
                assert page.rows and page.prev_cursor is not None and page.total == len(expected)
                forward += ids(page)
                pages.append(page)
            assert forward == expected, sort
            backward = ids(page)
            while page.prev_cursor is not None:
                page = repository.list_commitments_page(session, now, before=page.prev_cursor, **args)
                assert page.next_cursor is not None
                backward = ids(page) + backward
            assert backward == expected, sort
            for offset in range(0, len(expected) + 1, max(1, limit - 1)):
                assert ids(repository.list_commitments_page(session, now, offset=offset, **args)) == \
                    expected[offset : offset + limit], (sort, offset)


def test_a_cursor_of_another_sort_or_not_a_cursor_is_refused(status_db: Database) -> None:  # noqa: F811
    with status_db.sessions() as session:
        insert_rows(session, [{"withdrawn": False, "delivered_quantity": 0, "due_date": 5, "original_due_date": 5,
                               "met_at": None, "met_on_record_at": None, "met_at_original_terms": None,
                               "met_on_record_at_original_terms": None}] * 3)
        session.commit()
        page = repository.list_commitments_page(session, 0, sort="due_date", limit=1)
        assert page.next_cursor is not None
        for sort, cursor in [("-due_date", page.next_cursor), ("due_date", "bm90IGEgY3Vyc29y"), ("due_date", "%%%"),
                             ("id", page.next_cursor)]:
            with pytest.raises(repository.InvalidCursorError):
                repository.list_commitments_page(session, 0, sort=sort, after=cursor)
        with pytest.raises(ValueError):
            repository.list_commitments_page(session, 0, sort="due_date", after=page.next_cursor, offset=1)
        with pytest.raises(ValueError):
            repository.list_commitments_page(session, 0, offset=repository.MAX_COMMITMENT_OFFSET + 1)


def test_kept_totals_follow_writes_and_due_date_crossings(status_db: Database) -> None:  # noqa: F811
    """The overdue total and the status counts change when a due date passes and when a row
    is written, never later."""
    open_row = {"withdrawn": False, "delivered_quantity": 0, "original_due_date": 100, "met_at": None,
                "met_on_record_at": None, "met_at_original_terms": None, "met_on_record_at_original_terms": None}
    with status_db.sessions() as session:
        insert_rows(session, [{**open_row, "due_date": 100}, {**open_row, "due_date": 200}])
        session.commit()
    for now, overdue in [(50, 0), (100, 0), (101, 1), (150, 1), (200, 1), (201, 2)]:
        with status_db.sessions() as session:
            assert repository.list_commitments(session, now, statuses=["overdue"])[1] == overdue, now
            counts = repository.get_municipality(session, 1, now)["status_counts"]
            assert (counts["overdue"], counts["pending"]) == (overdue, 2 - overdue), now
    with status_db.sessions() as session:
        session.execute(update(Commitment).where(Commitment.id == 1).values(withdrawn=True, status_settled="withdrawn",
                                                                             status_on_record_settled="withdrawn"))
        session.commit()
    with status_db.sessions() as session:
        assert repository.list_commitments(session, 201, statuses=["overdue"])[1] == 1
        assert repository.get_municipality(session, 1, 201)["status_counts"]["withdrawn"] == 1
        assert repository.list_commitments(session, 150, statuses=["pending"])[1] == 1  # an earlier now: computed again
