"""The sargable status filter (``ledger.status.status_in_sql``) selects exactly the rows whose
status (``ledger.status.status_of``) is one of those asked for, for every status field, every
subset of statuses and every ``now``, on SQLite and PostgreSQL; the relaxed-terms flag and its
negation split the rows exactly; ``next_status_change_sql`` names the rows whose status would
change with time alone."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import delete, func, insert, select

from ledger.db.models import Commitment
from ledger.status import (
    STATUSES,
    VERDICTS,
    met_only_under_relaxed_terms,
    met_only_under_relaxed_terms_sql,
    next_status_change_sql,
    status_in_sql,
    status_of,
)
from tests.db.databases import Database
from tests.db.test_status_rules import row_strategy, settled_columns, small_or_wide, status_db  # noqa: F401 (fixture)

STATUS_FIELDS = [field for field, _, _ in VERDICTS]
SUBSETS = [set(c) for n in range(0, len(STATUSES) + 1) for c in combinations(STATUSES, n)]


def insert_rows(session, rows: list[dict]) -> None:
    """Replace the commitments by ``rows`` (ids 1.. in order): each row's status inputs and
    any other column it names, the settled columns as the projection stores them."""
    session.execute(delete(Commitment))
    for i, row in enumerate(rows, start=1):
        values = dict(
            id=i, municipality_id=1, registrar="0x" + "b2" * 20, signer_held_role=True, external_ref=f"r{i}",
            title="t", description="", theme="", unit="u", promised_at=0, registered_at=0,
            original_target_quantity=1, target_quantity=1, historical_record=False,
            source_document_sha256=None, source_uri="", amendment_count=0, amended_after_due_date=False,
            target_lowered=False, recorded_late_count=0, search_text="", block_number=2, log_index=i,
            tx_hash="0x" + "00" * 32, block_time=0, last_changed_at=0, last_change_block=2,
            last_change_log_index=i,
        )
        values.update(row)
        session.execute(insert(Commitment).values(**values, **settled_columns(values)))


def python_status(row: dict, field: str, now: int) -> str:
    _, met, due = next(v for v in VERDICTS if v[0] == field)
    return status_of(row["withdrawn"], row["delivered_quantity"], row[met], row[due], now)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row_strategy, min_size=1, max_size=20), now=small_or_wide,
       subsets=st.lists(st.sampled_from(range(len(SUBSETS))), min_size=1, max_size=6, unique=True))
def test_the_sargable_status_filter_selects_exactly_the_rows_of_those_statuses(
    status_db: Database, rows: list[dict], now: int, subsets: list[int]  # noqa: F811
) -> None:
    with status_db.sessions() as session:
        insert_rows(session, rows)
        for field in STATUS_FIELDS:
            for index in subsets:
                wanted = SUBSETS[index]
                found = list(session.scalars(
                    select(Commitment.id).where(status_in_sql(field, wanted, now)).order_by(Commitment.id)))
                expected = [i for i, row in enumerate(rows, start=1) if python_status(row, field, now) in wanted]
                assert found == expected, (field, sorted(wanted))
        session.rollback()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row_strategy, min_size=1, max_size=20), now=small_or_wide)
def test_relaxed_terms_and_its_negation_split_the_rows_exactly(
    status_db: Database, rows: list[dict], now: int  # noqa: F811
) -> None:
    with status_db.sessions() as session:
        insert_rows(session, rows)
        relaxed = met_only_under_relaxed_terms_sql(now)
        yes = list(session.scalars(select(Commitment.id).where(relaxed).order_by(Commitment.id)))
        no = list(session.scalars(select(Commitment.id).where(~relaxed).order_by(Commitment.id)))
        session.rollback()
    expected = [
        i for i, row in enumerate(rows, start=1)
        if met_only_under_relaxed_terms(python_status(row, "status", now), python_status(row, "status_original_terms", now))
    ]
    assert yes == expected
    assert no == [i for i in range(1, len(rows) + 1) if i not in expected]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row_strategy, min_size=1, max_size=20), now=small_or_wide)
def test_statuses_stay_until_the_smallest_due_date_of_the_open_rows_not_yet_due(
    status_db: Database, rows: list[dict], now: int  # noqa: F811
) -> None:
    """Through ``MIN(due_date)`` of :func:`next_status_change_sql` (inclusive) every status is
    what it is at ``now``; one second later at least one row has changed."""
    with status_db.sessions() as session:
        insert_rows(session, rows)
        for field in STATUS_FIELDS:
            due_column = getattr(Commitment, next(v[2] for v in VERDICTS if v[0] == field))
            until = session.scalar(select(func.min(due_column)).where(next_status_change_sql(field, now)))
            at_now = [python_status(row, field, now) for row in rows]
            if until is None:
                assert all(python_status(row, field, 2**62) == s for row, s in zip(rows, at_now))
                continue
            assert [python_status(row, field, until) for row in rows] == at_now
            assert [python_status(row, field, until + 1) for row in rows] != at_now
        session.rollback()


def test_an_unknown_status_is_refused_before_any_query() -> None:
    with pytest.raises(ValueError):
        status_in_sql("status", ["lost"], 0)
    with pytest.raises(KeyError):
        status_in_sql("status_of_mind", ["pending"], 0)
