"""The auditor's rules of docs/LEDGER.md, on synthetic event streams and hand-made steps."""

from __future__ import annotations

import pytest

from replay_support import (
    DAY,
    amended,
    delivered,
    preamble,
    project,
    registered,
    revoked,
    time_of,
)
from scripts.audit import rules
from scripts.audit.model import ProgressStep
from scripts.audit.rules import (
    RECORDED_LATE_AFTER_SECONDS,
    claimed_met_at,
    evaluate,
    on_record_met_at,
    possible_statuses,
    progress_bps,
    relaxed_only,
    status_at,
)

DUE = time_of(100)


def step(kind: str, quantity: int, at: int, previous_target: int = 0) -> ProgressStep:
    return ProgressStep(kind, quantity, previous_target, at, (at, 0))


def test_recorded_late_means_more_than_thirty_days() -> None:
    assert RECORDED_LATE_AFTER_SECONDS == 2_592_000
    at = time_of(10)
    state = project(preamble() + [
        registered(4, 1, target=100, due=DUE, promised=at - 400 * DAY),
        delivered(10, 1_000_001, 1, at - RECORDED_LATE_AFTER_SECONDS),
        delivered(10, 1_000_002, 1, at - RECORDED_LATE_AFTER_SECONDS - 1, log_index=1),
        delivered(10, 1_000_003, 1, at, log_index=2),
    ])
    found = [(rules.recording_lag_seconds(d), rules.recording_lag_days(d), rules.recorded_late(d))
             for d in state.deliveries.values()]
    assert found == [(2_592_000, 30, False), (2_592_001, 30, True), (0, 0, False)]
    assert rules.recorded_late_count(state.commitments[1]) == 1


def test_a_revoked_late_delivery_does_not_count_as_recorded_late() -> None:
    state = project(preamble() + [
        registered(4, 1, target=100, due=DUE, promised=1),
        delivered(5, 1_000_001, 1, 1),
        revoked(6, 1_000_001),
    ])
    assert rules.recorded_late(state.deliveries[1_000_001]) is True
    assert rules.recorded_late_count(state.commitments[1]) == 0


def test_historical_record_and_registration_lag() -> None:
    block = 4
    on_the_due_date = registered(block, 1, target=1, due=time_of(block), promised=time_of(block) - 10 * DAY - 1)
    after_it = registered(5, 2, target=1, due=time_of(5) - 1, promised=time_of(5) - 3 * DAY)
    state = project(preamble() + [on_the_due_date, after_it])
    one, two = state.commitments[1], state.commitments[2]
    assert (rules.historical_record(one), rules.registration_lag_days(one)) == (False, 10)
    assert (rules.historical_record(two), rules.registration_lag_days(two)) == (True, 3)


def test_claimed_met_at_uses_delivery_dates_not_recording_order() -> None:
    state = project(preamble() + [
        registered(4, 1, target=50, due=DUE, promised=1),
        delivered(5, 1_000_001, 60, 300),
        delivered(6, 1_000_002, 30, 100),
        delivered(7, 1_000_003, 20, 200),
    ])
    deliveries = state.commitments[1].deliveries
    assert claimed_met_at(deliveries, 50) == 200
    assert claimed_met_at(deliveries, 110) == 300
    assert claimed_met_at(deliveries, 111) is None
    with pytest.raises(ValueError):
        claimed_met_at(deliveries, 0)


def test_on_record_met_at_follows_deliveries_and_revocations() -> None:
    steps = [step("delivery", 6, 10), step("delivery", 4, 20), step("delivery", 5, 30), step("revocation", 4, 40)]
    assert on_record_met_at(steps[:2], 10, follow_amendments=True) == 20
    assert on_record_met_at(steps[:3], 10, follow_amendments=True) == 20
    assert on_record_met_at(steps, 10, follow_amendments=True) == 20  # 11 left: still met, time kept
    assert on_record_met_at(steps, 12, follow_amendments=True) is None  # 11 < 12: cleared
    assert on_record_met_at(steps + [step("delivery", 1, 50)], 12, follow_amendments=True) == 50


@pytest.mark.parametrize(
    ("amendment", "expected"),
    [
        (step("target", 8, 50, 10), 20),  # lowered while met: keep
        (step("target", 11, 50, 10), 50),  # raised, still met: the chain proves it only from now
        (step("target", 13, 50, 10), None),  # raised above the total: not met
    ],
)
def test_on_record_met_at_after_an_amendment_of_the_target(amendment: ProgressStep, expected: int | None) -> None:
    steps = [step("delivery", 12, 20), amendment]
    assert on_record_met_at(steps, 10, follow_amendments=True) == expected
    assert on_record_met_at(steps, 10, follow_amendments=False) == 20  # original terms ignore it


def test_a_lowered_target_meets_an_unmet_commitment_at_the_amendment_time() -> None:
    steps = [step("delivery", 40, 20), step("target", 40, 60, 100)]
    assert on_record_met_at(steps, 100, follow_amendments=True) == 60
    assert on_record_met_at(steps, 100, follow_amendments=False) is None


def test_progress_is_floored_basis_points_and_may_exceed_ten_thousand() -> None:
    assert (progress_bps(1, 3), progress_bps(2, 3), progress_bps(25, 20), progress_bps(10**13, 1)) == (
        3333, 6666, 12500, 10**17,
    )
    with pytest.raises(ValueError):
        progress_bps(1, 0)


@pytest.mark.parametrize(
    ("withdrawn", "delivered_quantity", "met", "now", "expected"),
    [
        (True, 100, DUE - 1, DUE + 5, "withdrawn"),
        (False, 100, DUE, DUE + 5, "delivered"),  # met exactly on the due date
        (False, 100, DUE + 1, DUE + 5, "delivered_late"),
        (False, 100, DUE + 1, DUE - 5, "delivered_late"),  # late even before now passes due
        (False, 99, None, DUE + 1, "overdue"),
        (False, 99, None, DUE, "in_progress"),  # due passed only when now > due
        (False, 0, None, DUE, "pending"),
        (False, 0, None, DUE + 1, "overdue"),
    ],
)
def test_the_one_status_mapping(withdrawn: bool, delivered_quantity: int, met: int | None, now: int, expected: str) -> None:
    assert status_at(withdrawn=withdrawn, delivered=delivered_quantity, met_at=met, due_date=DUE, now=now) == expected


@pytest.mark.parametrize(
    ("current", "original", "expected"),
    [
        ("delivered", "delivered", False),
        ("delivered", "delivered_late", True),
        ("delivered", "overdue", True),
        ("delivered_late", "delivered", False),
        ("delivered_late", "delivered_late", False),
        ("delivered_late", "in_progress", True),
        ("in_progress", "overdue", False),
        ("withdrawn", "withdrawn", False),
    ],
)
def test_met_only_under_relaxed_terms(current: str, original: str, expected: bool) -> None:
    assert relaxed_only(current, original) is expected


def test_the_backdating_story_delivered_by_claim_late_on_record() -> None:
    """An overdue commitment gets a delivery dated 1 January 1970: delivered by its claim,
    delivered late on record, recorded late by about 19,700 days."""
    due = time_of(4) + 10 * DAY
    state = project(preamble() + [registered(4, 1, target=10, due=due, promised=time_of(4) - DAY),
                                  delivered(90_000, 1_000_001, 10, 1)])
    c = state.commitments[1]
    e = evaluate(c, time_of(90_000))
    assert (e.status, e.met_at, e.status_on_record, e.met_on_record_at) == ("delivered", 1, "delivered_late", time_of(90_000))
    assert (e.status_original_terms, e.status_on_record_original_terms, e.met_only_under_relaxed_terms) == (
        "delivered", "delivered_late", False,
    )
    [d] = c.deliveries
    assert (rules.recording_lag_seconds(d), rules.recording_lag_days(d), rules.recorded_late(d)) == (
        time_of(90_000) - 1, (time_of(90_000) - 1) // DAY, True,
    )


def test_the_relaxed_terms_story_target_lowered_after_the_due_date() -> None:
    """40 of 100 done, past the due date, amended to a target of 40: delivered on the current
    terms, overdue on the original ones; the amendment was made after the due date and lowered
    the target."""
    due = time_of(10)
    state = project(preamble() + [
        registered(4, 1, target=100, due=due, promised=time_of(4) - DAY),
        delivered(5, 1_000_001, 40, time_of(5)),
        amended(20, 1, 1, 4, previous_target=100, target=40, previous_due=due, due=due),
    ])
    c = state.commitments[1]
    e = evaluate(c, time_of(30))
    assert (e.status, e.met_at, e.status_original_terms, e.met_at_original_terms) == ("delivered", time_of(5), "overdue", None)
    assert (e.status_on_record, e.met_on_record_at, e.status_on_record_original_terms) == (
        "delivered_late", time_of(20), "overdue",
    )
    assert (e.progress_bps, e.progress_bps_original_terms, e.met_only_under_relaxed_terms) == (10_000, 4_000, True)
    [a] = c.amendments
    assert (rules.after_due_date(a), rules.lowered_target(a), rules.extended_due_date(a)) == (True, True, False)
    assert (rules.amended_after_due_date(c), rules.target_lowered(c)) == (True, True)


def test_moving_the_due_date_of_an_overdue_commitment_is_judged_against_the_original() -> None:
    due = time_of(10)
    state = project(preamble() + [
        registered(4, 1, target=100, due=due, promised=time_of(4) - DAY),
        delivered(5, 1_000_001, 40, time_of(5)),
        amended(20, 1, 1, 8, previous_target=100, target=100, previous_due=due, due=time_of(10_000)),
    ])
    c = state.commitments[1]
    e = evaluate(c, time_of(30))
    assert (e.status, e.status_on_record, e.status_original_terms, e.status_on_record_original_terms) == (
        "in_progress", "in_progress", "overdue", "overdue",
    )
    [a] = c.amendments
    assert (rules.after_due_date(a), rules.lowered_target(a), rules.extended_due_date(a)) == (True, False, True)
    assert (rules.amended_after_due_date(c), rules.target_lowered(c)) == (True, False)


def test_an_amendment_on_the_due_date_itself_is_not_after_it() -> None:
    due = time_of(20)
    state = project(preamble() + [
        registered(4, 1, target=100, due=due, promised=time_of(4) - DAY),
        amended(20, 1, 1, 8, previous_target=100, target=100, previous_due=due, due=due + 1),
    ])
    assert rules.after_due_date(state.commitments[1].amendments[0]) is False


def test_possible_statuses_cover_either_due_date_inside_the_window() -> None:
    due = time_of(100)
    state = project(preamble() + [
        registered(4, 1, target=10, due=due, promised=time_of(4) - DAY),
        delivered(5, 1_000_001, 1, time_of(5)),
        amended(6, 1, 1, 8, previous_target=10, target=10, previous_due=due, due=due + 10_000),
    ])
    c = state.commitments[1]
    around_original = possible_statuses(c, due - 60, due + 60)
    assert around_original == {
        "status": {"in_progress"}, "status_on_record": {"in_progress"},
        "status_original_terms": {"in_progress", "overdue"}, "status_on_record_original_terms": {"in_progress", "overdue"},
        "status_confirmed": {"pending"},  # nothing confirmed; the current due date is far
    }
    assert possible_statuses(c, due + 1, due + 60)["status_original_terms"] == {"overdue"}
    assert possible_statuses(c, due - 60, due)["status_original_terms"] == {"in_progress"}
