"""The status rules of docs/LEDGER.md (ledger/status.py): the one mapping agrees in Python and
SQL for both clocks and both sets of terms, on SQLite and PostgreSQL; the claimed prefix rule
and the on-record running state; the record facts."""

from __future__ import annotations

from typing import Iterator

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import delete, insert, select

from ledger.chain import STATUS_NAMES
from ledger.db.models import Commitment, Municipality
from ledger.limits import MAX_DATE, MAX_QUANTITY
from ledger.status import (
    RECORDED_LATE_AFTER_SECONDS,
    SETTLED_COLUMNS,
    STATUSES,
    VERDICTS,
    AmendmentFlags,
    OnRecord,
    amendment_flags,
    claimed_met_at,
    historical_record,
    met_only_under_relaxed_terms,
    met_only_under_relaxed_terms_sql,
    progress_bps,
    recorded_late,
    recording_lag_days,
    registration_lag_days,
    settled_status,
    stable_since,
    status_of,
    verdict_sql,
    verdicts,
)
from tests.db.databases import BACKENDS, Database, fresh_database

DAY = 86_400
STATUS_FIELDS = [field for field, _, _ in VERDICTS]


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


class Row:
    """A commitment's status inputs, as attributes (what :func:`verdicts` reads)."""

    def __init__(self, values: dict) -> None:
        self.__dict__.update(values)


def sql_verdicts(database: Database, rows: list[dict], now: int) -> list[dict]:
    """Insert ``rows`` as commitments and evaluate the four statuses and the relaxed-terms
    flag in SQL at ``now`` (rolled back)."""
    with database.sessions() as session:
        session.execute(delete(Commitment))
        for i, row in enumerate(rows, start=1):
            session.execute(
                insert(Commitment).values(
                    id=i, municipality_id=1, registrar="0x" + "b2" * 20, signer_held_role=True, external_ref=f"r{i}",
                    title="t", description="", theme="", unit="u", promised_at=0, registered_at=0,
                    original_target_quantity=1, target_quantity=1, historical_record=False,
                    source_document_sha256=None, source_uri="", amendment_count=0, amended_after_due_date=False,
                    target_lowered=False, recorded_late_count=0, search_text="", block_number=2, log_index=i,
                    tx_hash="0x" + "00" * 32, block_time=0, last_changed_at=0, last_change_block=2,
                    last_change_log_index=i, **row, **settled_columns(row),
                )
            )
        columns = [verdict_sql(field, now).label(field) for field in STATUS_FIELDS]
        result = session.execute(
            select(*columns, met_only_under_relaxed_terms_sql(now).label("relaxed")).order_by(Commitment.id)
        ).mappings().all()
        session.rollback()
    return [{**{f: r[f] for f in STATUS_FIELDS}, "relaxed": bool(r["relaxed"])} for r in result]


def settled_columns(row: dict) -> dict:
    """The settled columns the projection stores for these inputs (schema 6: what the SQL
    mapping reads, ``ledger.status.SETTLED_COLUMNS``)."""
    return {
        SETTLED_COLUMNS[field]: settled_status(row["withdrawn"], row[met], row[due]) for field, met, due in VERDICTS
    }


def python_verdicts(rows: list[dict], now: int) -> list[dict]:
    out = []
    for row in rows:
        v = verdicts(Row(row), now)
        out.append({**v, "relaxed": met_only_under_relaxed_terms(v["status"], v["status_original_terms"])})
    return out


# Values drawn from a tiny range collide often (ties are where rules differ); the wide range
# covers the contract's bounds.
small_or_wide = st.one_of(st.integers(0, 4), st.integers(0, MAX_DATE))
met = st.one_of(st.none(), small_or_wide)
row_strategy = st.fixed_dictionaries(
    {
        "withdrawn": st.booleans(),
        "delivered_quantity": st.one_of(st.integers(0, 4), st.integers(0, MAX_QUANTITY * 999_999)),
        "due_date": st.one_of(st.integers(1, 4), st.integers(1, MAX_DATE - 1)),
        "original_due_date": st.one_of(st.integers(1, 4), st.integers(1, MAX_DATE - 1)),
        "met_at": met,
        "met_on_record_at": met,
        "met_at_original_terms": met,
        "met_on_record_at_original_terms": met,
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=st.lists(row_strategy, min_size=1, max_size=25), now=small_or_wide)
def test_sql_agrees_with_python_on_both_clocks_and_both_terms(status_db: Database, rows: list[dict], now: int) -> None:
    assert sql_verdicts(status_db, rows, now) == python_verdicts(rows, now)


RULE_CASES = [
    # (withdrawn, delivered, met_at, due, now, expected): one line per rule, with its edges.
    (True, 10, 50, 100, 10, "withdrawn"),
    (True, 0, None, 100, 1000, "withdrawn"),
    (False, 10, 100, 100, 1000, "delivered"),  # met exactly on the due date
    (False, 15, 20, 100, 5, "delivered"),
    (False, 10, 101, 100, 1000, "delivered_late"),
    (False, 10, 101, 100, 50, "delivered_late"),  # late is known before "now"
    (False, 9, None, 100, 101, "overdue"),
    (False, 0, None, 100, 101, "overdue"),
    (False, 9, None, 100, 100, "in_progress"),  # due passed only when now > due date
    (False, 1, None, 100, 0, "in_progress"),
    (False, 0, None, 100, 100, "pending"),
]


@pytest.mark.parametrize(("withdrawn", "delivered", "met_at", "due", "now", "expected"), RULE_CASES)
def test_each_status_rule_gives_the_documented_status_on_every_clock(
    status_db: Database, withdrawn: bool, delivered: int, met_at: int | None, due: int, now: int, expected: str
) -> None:
    assert status_of(withdrawn, delivered, met_at, due, now) == expected
    row = {
        "withdrawn": withdrawn, "delivered_quantity": delivered, "due_date": due, "original_due_date": due,
        "met_at": met_at, "met_on_record_at": met_at, "met_at_original_terms": met_at,
        "met_on_record_at_original_terms": met_at,
    }
    [found] = sql_verdicts(status_db, [row], now)
    assert [found[f] for f in STATUS_FIELDS] == [expected] * 4


@pytest.mark.parametrize(
    ("current", "original", "relaxed"),
    [
        ("delivered", "delivered", False),
        ("delivered", "delivered_late", True),
        ("delivered", "overdue", True),
        ("delivered_late", "delivered", False),
        ("delivered_late", "delivered_late", False),
        ("delivered_late", "overdue", True),
        ("delivered_late", "in_progress", True),
        ("overdue", "pending", False),
        ("pending", "overdue", False),
        ("withdrawn", "withdrawn", False),
    ],
)
def test_met_only_under_relaxed_terms_compares_the_claimed_verdicts(current: str, original: str, relaxed: bool) -> None:
    assert met_only_under_relaxed_terms(current, original) is relaxed


def test_status_names_match_the_contract_enum_order() -> None:
    assert STATUSES == STATUS_NAMES


@pytest.mark.parametrize(
    ("delivered", "target", "bps"),
    [(0, 1, 0), (1, 3, 3333), (2, 3, 6666), (3, 3, 10_000), (7, 2, 35_000), (10**13, 10**13, 10_000)],
)
def test_progress_is_floored_basis_points(delivered: int, target: int, bps: int) -> None:
    assert progress_bps(delivered, target) == bps


# ---------------------------------------------------------------------------- the two clocks


def test_claimed_met_at_is_the_earliest_claimed_date_whose_prefix_reaches_the_target() -> None:
    assert claimed_met_at([], 1) is None
    assert claimed_met_at([(50, 3), (10, 4), (30, 3)], 10) == 50
    assert claimed_met_at([(50, 3), (10, 4), (30, 3)], 7) == 30
    assert claimed_met_at([(10, 5), (10, 5)], 10) == 10
    assert claimed_met_at([(10, 5)], 6) is None


@given(
    deliveries=st.lists(st.tuples(st.integers(1, 20), st.integers(1, 5)), max_size=12),
    target=st.integers(1, 30),
)
def test_claimed_met_at_matches_its_definition(deliveries: list[tuple[int, int]], target: int) -> None:
    reached = [t for t, _ in deliveries if sum(q for d, q in deliveries if d <= t) >= target]
    assert claimed_met_at(deliveries, target) == (min(reached) if reached else None)


def test_the_on_record_state_follows_the_contract_rules() -> None:
    state = OnRecord().delivered(6, 10, 100)
    assert state == OnRecord(6, None)
    state = state.delivered(6, 10, 200)
    assert state == OnRecord(12, 200)
    assert state.delivered(1, 10, 300) == OnRecord(13, 200)  # already met: kept
    assert state.retargeted(10, 8, 400) == OnRecord(12, 200)  # lowered, still met: kept
    assert state.retargeted(10, 12, 400) == OnRecord(12, 400)  # raised, still met: from the amendment
    assert state.retargeted(10, 13, 400) == OnRecord(12, None)  # raised above the total
    assert state.revoked(6, 10) == OnRecord(6, None)
    assert state.revoked(2, 10) == OnRecord(10, 200)
    assert OnRecord(6, None).retargeted(10, 5, 500) == OnRecord(6, 500)  # lowered below the total: met now


@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("deliver"), st.integers(1, 5)),
            st.tuples(st.just("revoke"), st.integers(0, 20)),
            st.tuples(st.just("retarget"), st.integers(1, 20)),
        ),
        max_size=25,
    )
)
def test_the_on_record_state_is_met_exactly_when_the_total_reaches_the_target(steps: list[tuple[str, int]]) -> None:
    state, target, live, clock = OnRecord(), 10, [], 0
    for kind, value in steps:
        clock += 1
        if kind == "deliver":
            state = state.delivered(value, target, clock)
            live.append(value)
        elif kind == "revoke" and live:
            state = state.revoked(live.pop(value % len(live)), target)
        elif kind == "retarget" and value != target:
            state, target = state.retargeted(target, value, clock), value
        assert state.total == sum(live)
        assert (state.met_at is not None) == (state.total >= target)


# ---------------------------------------------------------------------------- record facts


def test_recorded_late_is_more_than_thirty_days() -> None:
    assert RECORDED_LATE_AFTER_SECONDS == 2_592_000
    assert (recorded_late(2_592_000), recorded_late(2_592_001)) == (False, True)
    assert (recording_lag_days(86_399), recording_lag_days(86_400), recording_lag_days(2_592_001)) == (0, 1, 30)


def test_historical_record_and_registration_lag() -> None:
    assert (historical_record(101, 100), historical_record(100, 100)) == (True, False)
    assert registration_lag_days(10 * DAY + 5, 3 * DAY + 6) == 6


@pytest.mark.parametrize(
    ("amended_at", "previous_target", "target", "previous_due", "due", "flags"),
    [
        (100, 10, 10, 100, 100, AmendmentFlags(False, False, False)),  # on the due date is not after it
        (101, 10, 9, 100, 100, AmendmentFlags(True, True, False)),
        (50, 10, 11, 100, 200, AmendmentFlags(False, False, True)),
        (150, 10, 10, 100, 90, AmendmentFlags(True, False, False)),
    ],
)
def test_each_amendment_says_when_it_was_made_and_what_it_relaxed(
    amended_at: int, previous_target: int, target: int, previous_due: int, due: int, flags: AmendmentFlags
) -> None:
    assert amendment_flags(amended_at, previous_target, target, previous_due, due) == flags


@settings(max_examples=300, deadline=None)
@given(
    due_dates=st.lists(st.integers(0, MAX_DATE), min_size=1, max_size=3),
    now=st.integers(0, MAX_DATE),
    before=st.integers(0, MAX_DATE),
    delivered=st.integers(0, 2),
)
def test_every_second_from_stable_since_to_now_gives_the_statuses_of_now(
    due_dates: list[int], now: int, before: int, delivered: int
) -> None:
    earliest = min(before, now)
    since = stable_since(due_dates, now, earliest)
    assert earliest <= since <= now
    for t in (since, (since + now) // 2, now):
        assert [status_of(False, delivered, None, d, t) for d in due_dates] == \
            [status_of(False, delivered, None, d, now) for d in due_dates]
    # the same second for every now of the window: its own first second maps to itself
    assert stable_since(due_dates, since, earliest) == since


def test_stable_since_is_the_second_after_the_last_passed_due_date_or_the_earliest() -> None:
    assert stable_since([100, 200], 150, 10) == 101
    assert stable_since([100, 200], 250, 10) == 201
    assert stable_since([100, 200], 50, 10) == 10
    assert stable_since([100], 100, 10) == 10  # not yet passed at its own second
    assert stable_since([100], 101, 10) == 101
    assert stable_since([100], 150, 120) == 120  # earliest later than the passed due date
