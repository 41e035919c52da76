"""statusOf: the status rules of ICommitmentLedger, at exact block times.

statusOf returns (status, deliveredQuantity, targetQuantity, progressBps, metAt). brownie 1.22's
ReturnValue cannot be compared with a tuple of ints, so the tests compare tuple(...).
The `commitment` fixture promises 200 homes by `due_date`; deliveries are dated from `clock.start`.
"""

import brownie
import pytest

from constants import (
    DAY,
    DELIVERED,
    DELIVERED_LATE,
    IN_PROGRESS,
    OVERDUE,
    PENDING,
    REVOCATION_REASON,
    UNKNOWN_ID,
    WITHDRAWAL_REASON,
    WITHDRAWN,
)

TARGET = 200


def status(ledger, commitment_id):
    return tuple(ledger.statusOf(commitment_id))


# ------------------------------------------------------------------ the six statuses


def test_new_commitment_is_pending(ledger, commitment):
    assert status(ledger, commitment) == (PENDING, 0, TARGET, 0, 0)


def test_commitment_with_part_of_its_target_delivered_is_in_progress(ledger, commitment, deliver, clock):
    deliver(commitment, 50, clock.start)
    assert status(ledger, commitment) == (IN_PROGRESS, 50, TARGET, 2500, 0)


def test_commitment_met_before_its_due_date_is_delivered(ledger, commitment, deliver, clock):
    deliver(commitment, TARGET, clock.start + 10 * DAY)
    assert status(ledger, commitment) == (DELIVERED, TARGET, TARGET, 10_000, clock.start + 10 * DAY)


def test_commitment_met_on_its_due_date_is_delivered(ledger, commitment, deliver, due_date):
    deliver(commitment, TARGET, due_date)
    assert status(ledger, commitment) == (DELIVERED, TARGET, TARGET, 10_000, due_date)


def test_commitment_met_one_second_after_its_due_date_is_delivered_late(ledger, commitment, deliver, due_date):
    deliver(commitment, TARGET, due_date + 1)
    assert status(ledger, commitment) == (DELIVERED_LATE, TARGET, TARGET, 10_000, due_date + 1)


def test_delivered_commitment_stays_delivered_after_its_due_date(ledger, commitment, deliver, clock, due_date):
    deliver(commitment, TARGET, clock.start)
    clock.mine_at(due_date + 100 * DAY)
    assert status(ledger, commitment) == (DELIVERED, TARGET, TARGET, 10_000, clock.start)


def test_commitment_short_of_target_after_its_due_date_is_overdue(ledger, commitment, deliver, clock, due_date):
    deliver(commitment, 50, clock.start)
    clock.mine_at(due_date + 1)
    assert status(ledger, commitment) == (OVERDUE, 50, TARGET, 2500, 0)


def test_commitment_without_deliveries_after_its_due_date_is_overdue(ledger, commitment, clock, due_date):
    clock.mine_at(due_date + 1)
    assert status(ledger, commitment) == (OVERDUE, 0, TARGET, 0, 0)


def test_commitment_in_progress_is_not_overdue_at_its_due_date(ledger, commitment, deliver, clock, due_date):
    deliver(commitment, 50, clock.start)
    clock.mine_at(due_date)
    assert status(ledger, commitment) == (IN_PROGRESS, 50, TARGET, 2500, 0)


def test_pending_commitment_is_not_overdue_at_its_due_date(ledger, commitment, clock, due_date):
    clock.mine_at(due_date)
    assert status(ledger, commitment) == (PENDING, 0, TARGET, 0, 0)


def test_withdrawn_commitment_is_withdrawn_even_when_delivered(ledger, commitment, registrar, deliver, clock):
    deliver(commitment, TARGET, clock.start)
    ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})
    assert status(ledger, commitment) == (WITHDRAWN, TARGET, TARGET, 10_000, clock.start)


def test_withdrawn_commitment_is_withdrawn_after_its_due_date(ledger, commitment, registrar, deliver, clock, due_date):
    deliver(commitment, 50, clock.start)
    ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})
    clock.mine_at(due_date + 1)
    assert status(ledger, commitment) == (WITHDRAWN, 50, TARGET, 2500, 0)


@pytest.mark.parametrize("commitment_id", [0, UNKNOWN_ID])
def test_status_of_unknown_commitment_is_refused(ledger, commitment, commitment_id):
    with brownie.reverts(f"LedgerUnknownCommitment: {commitment_id}"):
        ledger.statusOf(commitment_id)


# ------------------------------------------------------------------ progress


@pytest.mark.parametrize("delivered, progress_bps", [(1, 3333), (2, 6666)])
def test_progress_is_rounded_down_to_whole_basis_points(
    ledger, baarn, registrar, commitment_input, deliver, clock, delivered, progress_bps
):
    thirds = ledger.registerCommitment(commitment_input(targetQuantity=3), {"from": registrar}).return_value
    deliver(thirds, delivered, clock.start)
    assert status(ledger, thirds) == (IN_PROGRESS, delivered, 3, progress_bps, 0)


def test_progress_of_over_delivery_exceeds_10000_basis_points(ledger, commitment, deliver, clock):
    deliver(commitment, 300, clock.start)
    assert status(ledger, commitment) == (DELIVERED, 300, TARGET, 15_000, clock.start)


def test_deliveries_add_up(ledger, commitment, deliver, clock):
    deliver(commitment, 50, clock.start)
    deliver(commitment, 70, clock.start + DAY)
    assert status(ledger, commitment) == (IN_PROGRESS, 120, TARGET, 6000, 0)


# ------------------------------------------------------------------ revocations


def test_revoked_delivery_does_not_count(ledger, commitment, registrar, deliver, clock):
    delivery = deliver(commitment, TARGET, clock.start).return_value
    ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})
    assert status(ledger, commitment) == (PENDING, 0, TARGET, 0, 0)


def test_revoking_the_delivery_that_met_the_target_after_due_date_makes_commitment_overdue(
    ledger, commitment, registrar, deliver, clock, due_date
):
    deliver(commitment, 150, clock.start)
    completing = deliver(commitment, 50, clock.start + DAY).return_value
    clock.next_block_at(due_date + 1)
    ledger.revokeDelivery(completing, REVOCATION_REASON, {"from": registrar})
    assert status(ledger, commitment) == (OVERDUE, 150, TARGET, 7500, 0)


def test_revoking_an_early_delivery_moves_met_at_to_a_later_delivery(ledger, commitment, registrar, deliver, clock, due_date):
    deliver(commitment, 150, clock.start + DAY)
    early = deliver(commitment, 50, clock.start + 2 * DAY).return_value
    deliver(commitment, 50, due_date + 1)
    assert status(ledger, commitment) == (DELIVERED, 250, TARGET, 12_500, clock.start + 2 * DAY)

    ledger.revokeDelivery(early, REVOCATION_REASON, {"from": registrar})

    assert status(ledger, commitment) == (DELIVERED_LATE, TARGET, TARGET, 10_000, due_date + 1)


# ------------------------------------------------------------------ metAt


def test_met_at_is_the_earliest_date_the_target_is_reached_even_when_recorded_out_of_order(
    ledger, commitment, deliver, clock
):
    deliver(commitment, 100, clock.start + 30 * DAY)
    deliver(commitment, 100, clock.start + 10 * DAY)
    deliver(commitment, 100, clock.start + 20 * DAY)
    # by date: day 10 -> 100, day 20 -> 200 (target met), day 30 -> 300
    assert status(ledger, commitment) == (DELIVERED, 300, TARGET, 15_000, clock.start + 20 * DAY)


def test_met_at_ignores_recording_order_when_the_last_recorded_delivery_is_dated_first(ledger, commitment, deliver, clock):
    deliver(commitment, 150, clock.start + 20 * DAY)
    deliver(commitment, 50, clock.start + 10 * DAY)
    # by date: day 10 -> 50, day 20 -> 200 (target met)
    assert status(ledger, commitment) == (DELIVERED, TARGET, TARGET, 10_000, clock.start + 20 * DAY)


def test_backdated_delivery_recorded_after_due_date_can_make_commitment_delivered_on_time(
    ledger, commitment, deliver, clock, due_date
):
    deliver(commitment, 150, clock.start + 10 * DAY)
    clock.mine_at(due_date + 5 * DAY)
    assert status(ledger, commitment) == (OVERDUE, 150, TARGET, 7500, 0)

    deliver(commitment, 50, due_date - DAY)

    assert status(ledger, commitment) == (DELIVERED, TARGET, TARGET, 10_000, due_date - DAY)


def test_met_at_is_found_among_many_deliveries_recorded_in_scrambled_date_order(ledger, commitment, deliver, clock):
    # 24 deliveries of 10 dated day 1..24, recorded in an order that is neither sorted nor
    # reversed (7 is coprime with 24): the 20th by date (day 20) reaches the target of 200.
    for i in range(24):
        day = (i * 7) % 24 + 1
        deliver(commitment, 10, clock.start + day * DAY)
    assert status(ledger, commitment) == (DELIVERED, 240, TARGET, 12_000, clock.start + 20 * DAY)


def test_deliveries_on_the_same_date_meet_the_target_on_that_date(ledger, commitment, deliver, clock):
    deliver(commitment, 100, clock.start + DAY)
    deliver(commitment, 100, clock.start + DAY)
    assert status(ledger, commitment) == (DELIVERED, TARGET, TARGET, 10_000, clock.start + DAY)


# ------------------------------------------------------------------ amendments


def test_raising_the_target_turns_delivered_back_into_in_progress(ledger, commitment, registrar, deliver, clock, amendment_input):
    deliver(commitment, TARGET, clock.start)
    ledger.amendCommitment(commitment, amendment_input(targetQuantity=250), {"from": registrar})
    assert status(ledger, commitment) == (IN_PROGRESS, TARGET, 250, 8000, 0)


def test_raising_the_target_after_due_date_turns_delivered_into_overdue(
    ledger, commitment, registrar, deliver, clock, due_date, amendment_input
):
    deliver(commitment, TARGET, clock.start)
    clock.next_block_at(due_date + 1)
    ledger.amendCommitment(commitment, amendment_input(targetQuantity=250), {"from": registrar})
    assert status(ledger, commitment) == (OVERDUE, TARGET, 250, 8000, 0)


def test_lowering_the_target_can_make_the_commitment_delivered(ledger, commitment, registrar, deliver, clock, amendment_input):
    deliver(commitment, 50, clock.start + DAY)
    deliver(commitment, 100, clock.start + 2 * DAY)
    ledger.amendCommitment(commitment, amendment_input(targetQuantity=120), {"from": registrar})
    assert status(ledger, commitment) == (DELIVERED, 150, 120, 12_500, clock.start + 2 * DAY)


def test_moving_the_due_date_before_met_at_makes_the_delivery_late(ledger, commitment, registrar, deliver, clock, amendment_input):
    deliver(commitment, TARGET, clock.start + 10 * DAY)
    ledger.amendCommitment(
        commitment, amendment_input(targetQuantity=TARGET, dueDate=clock.start + 10 * DAY - 1), {"from": registrar}
    )
    assert status(ledger, commitment) == (DELIVERED_LATE, TARGET, TARGET, 10_000, clock.start + 10 * DAY)


def test_moving_the_due_date_to_met_at_makes_a_late_delivery_on_time(
    ledger, commitment, registrar, deliver, due_date, amendment_input
):
    deliver(commitment, TARGET, due_date + 1)
    assert status(ledger, commitment)[0] == DELIVERED_LATE

    ledger.amendCommitment(commitment, amendment_input(targetQuantity=TARGET, dueDate=due_date + 1), {"from": registrar})

    assert status(ledger, commitment) == (DELIVERED, TARGET, TARGET, 10_000, due_date + 1)


def test_extending_the_due_date_lifts_overdue(ledger, commitment, registrar, deliver, clock, due_date, amendment_input):
    deliver(commitment, 50, clock.start)
    clock.next_block_at(due_date + 1)
    ledger.amendCommitment(commitment, amendment_input(targetQuantity=TARGET, dueDate=due_date + 30 * DAY), {"from": registrar})
    assert status(ledger, commitment) == (IN_PROGRESS, 50, TARGET, 2500, 0)
