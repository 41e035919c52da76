"""The status rules agree in Python (status_of) and SQL (status_sql), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import delete, insert, select

from ledger.chain import STATUS_NAMES
from ledger.db.models import Commitment, Municipality
from ledger.status import STATUSES, progress_bps, status_of, status_sql
from tests.db.databases import BACKENDS, Database, fresh_database

MAX_BIGINT = 2**63 - 1
DAY = 86_400


@pytest.fixture(scope="module", params=BACKENDS)
def status_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """One database per backend for the whole module, with municipality 1."""
    with fresh_database(request.param, tmp_path_factory.mktemp("status")) as database:
        with database.sessions.begin() as session:
            session.execute(
                insert(Municipality).values(
                    id=1, name="Baarn", code="GM0308", admin="0x" + "a1" * 20,
                    block_number=1, log_index=0, tx_hash="0x" + "00" * 32, block_time=0,
                )
            )
        yield database


def sql_statuses(database: Database, rows: list[dict], now: int) -> list[str]:
    """Insert ``rows`` as commitments and evaluate status_sql(now) on them (rolled back)."""
    with database.sessions() as session:
        session.execute(delete(Commitment))
        for i, row in enumerate(rows, start=1):
            session.execute(
                insert(Commitment).values(
                    id=i, municipality_id=1, registrar="0x" + "b2" * 20, external_ref=f"r{i}", title="t",
                    description="", theme="", unit="u", source_document_sha256=None, source_uri="",
                    registered_at=0, amendment_count=0, search_text="", block_number=2, log_index=i,
                    tx_hash="0x" + "00" * 32, block_time=0, **row,
                )
            )
        result = session.execute(select(Commitment.id, status_sql(now)).order_by(Commitment.id)).tuples().all()
        session.rollback()
    return [status for _, status in result]


def python_statuses(rows: list[dict], now: int) -> list[str]:
    return [
        status_of(r["withdrawn"], r["delivered_quantity"], r["target_quantity"], r["met_at"], r["due_date"], now)
        for r in rows
    ]


# Values drawn from a tiny range collide often (ties are where rules differ); the wide
# range covers BIGINT extremes.
small_or_wide = st.one_of(st.integers(0, 4), st.integers(0, MAX_BIGINT))
row_strategy = st.fixed_dictionaries(
    {
        "withdrawn": st.booleans(),
        "delivered_quantity": st.one_of(st.integers(0, 4), st.integers(0, 10**18)),
        "target_quantity": st.one_of(st.integers(1, 4), st.integers(1, 10**15)),
        "met_at": st.one_of(st.none(), small_or_wide),
        "due_date": st.one_of(st.integers(1, 4), st.integers(1, MAX_BIGINT)),
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row_strategy, min_size=1, max_size=25), now=small_or_wide)
def test_status_sql_agrees_with_status_of_on_any_combination(status_db: Database, rows: list[dict], now: int) -> None:
    assert sql_statuses(status_db, rows, now) == python_statuses(rows, now)


def rule_row(withdrawn=False, delivered=0, target=10, met_at=None, due=100) -> dict:
    return {
        "withdrawn": withdrawn, "delivered_quantity": delivered, "target_quantity": target,
        "met_at": met_at, "due_date": due,
    }


RULE_CASES = [
    # (row, now, expected): one line per rule of the interface header, with its edges.
    (rule_row(withdrawn=True, delivered=10, met_at=50), 10, "withdrawn"),
    (rule_row(withdrawn=True), 1000, "withdrawn"),
    (rule_row(delivered=10, met_at=100), 1000, "delivered"),  # met exactly on the due date
    (rule_row(delivered=15, met_at=20), 5, "delivered"),
    (rule_row(delivered=10, met_at=101), 1000, "delivered_late"),
    (rule_row(delivered=10, met_at=101), 50, "delivered_late"),  # late is known before "now"
    (rule_row(delivered=9), 101, "overdue"),
    (rule_row(delivered=0), 101, "overdue"),
    (rule_row(delivered=9), 100, "in_progress"),  # due passed only when now > due date
    (rule_row(delivered=1), 0, "in_progress"),
    (rule_row(delivered=0), 100, "pending"),
]


@pytest.mark.parametrize(("row", "now", "expected"), RULE_CASES)
def test_each_status_rule_gives_the_documented_status(status_db: Database, row: dict, now: int, expected: str) -> None:
    assert python_statuses([row], now) == [expected]
    assert sql_statuses(status_db, [row], now) == [expected]


def test_status_names_match_the_contract_enum_order() -> None:
    assert STATUSES == STATUS_NAMES


@pytest.mark.parametrize(
    ("delivered", "target", "bps"),
    [(0, 1, 0), (1, 3, 3333), (2, 3, 6666), (3, 3, 10_000), (7, 2, 35_000), (10**15, 10**15, 10_000)],
)
def test_progress_is_floored_basis_points(delivered: int, target: int, bps: int) -> None:
    assert progress_bps(delivered, target) == bps
