"""statusOf and commitmentState: the on-record status rules of ICommitmentLedger, at exact block times.

statusOf returns (status, deliveredQuantity, targetQuantity, progressBps, metOnRecordAt), where
metOnRecordAt is the block time the running total of non-revoked deliveries reached the current
target (docs/LEDGER.md, "Status rules", the "on record" clock). The `commitment` fixture
promises 200 homes by `due_date`; `deliver` records at the block time given (its claimed date
is the same unless said otherwise).
"""

import brownie
import pytest
from brownie import web3

from constants import (
    BAARN_ID,
    COMMITMENT_TARGET,
    DAY,
    DELIVERED,
    DELIVERED_LATE,
    EVIDENCE,
    IN_PROGRESS,
    MAX_QUANTITY,
    OVERDUE,
    PENDING,
    REVOCATION_REASON,
    UNKNOWN_ID,
    WITHDRAWAL_REASON,
    WITHDRAWN,
)

TARGET = COMMITMENT_TARGET
BATCH = 100  # deliveries per multicall transaction (fits brownie's 12M gas block limit)

# ------------------------------------------------------------------ the six statuses


def test_new_commitment_is_pending(ledger, commitment, status):
    assert status(commitment) == (PENDING, 0, TARGET, 0, 0)


def test_commitment_with_part_of_its_target_delivered_is_in_progress(ledger, commitment, deliver, clock, status):
    deliver(commitment, 50, clock.start)
    assert status(commitment) == (IN_PROGRESS, 50, TARGET, 2500, 0)


def test_commitment_met_on_record_before_its_due_date_is_delivered(ledger, commitment, deliver, clock, status):
    deliver(commitment, TARGET, clock.start + 10 * DAY)
    assert status(commitment) == (DELIVERED, TARGET, TARGET, 10_000, clock.start + 10 * DAY)


def test_commitment_met_on_record_at_its_due_date_is_delivered(ledger, commitment, deliver, due_date, status):
    deliver(commitment, TARGET, due_date)
    assert status(commitment) == (DELIVERED, TARGET, TARGET, 10_000, due_date)


def test_commitment_met_on_record_one_second_after_its_due_date_is_delivered_late(ledger, commitment, deliver, due_date, status):
    deliver(commitment, TARGET, due_date + 1)
    assert status(commitment) == (DELIVERED_LATE, TARGET, TARGET, 10_000, due_date + 1)


def test_delivered_commitment_stays_delivered_after_its_due_date(ledger, commitment, deliver, clock, due_date, status):
    met = deliver(commitment, TARGET, clock.start).timestamp
    clock.mine_at(due_date + 100 * DAY)
    assert status(commitment) == (DELIVERED, TARGET, TARGET, 10_000, met)


def test_commitment_short_of_target_after_its_due_date_is_overdue(ledger, commitment, deliver, clock, due_date, status):
    deliver(commitment, 50, clock.start)
    clock.mine_at(due_date + 1)
    assert status(commitment) == (OVERDUE, 50, TARGET, 2500, 0)


def test_commitment_without_deliveries_after_its_due_date_is_overdue(ledger, commitment, clock, due_date, status):
    clock.mine_at(due_date + 1)
    assert status(commitment) == (OVERDUE, 0, TARGET, 0, 0)


def test_commitment_in_progress_is_not_overdue_at_its_due_date(ledger, commitment, deliver, clock, due_date, status):
    deliver(commitment, 50, clock.start)
    clock.mine_at(due_date)
    assert status(commitment) == (IN_PROGRESS, 50, TARGET, 2500, 0)


def test_pending_commitment_is_not_overdue_at_its_due_date(ledger, commitment, clock, due_date, status):
    clock.mine_at(due_date)
    assert status(commitment) == (PENDING, 0, TARGET, 0, 0)


def test_withdrawn_commitment_is_withdrawn_even_when_delivered(ledger, commitment, registrar, deliver, clock, status):
    met = deliver(commitment, TARGET, clock.start).timestamp
    ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})
    assert status(commitment) == (WITHDRAWN, TARGET, TARGET, 10_000, met)


def test_withdrawn_commitment_is_withdrawn_after_its_due_date(ledger, commitment, registrar, deliver, clock, due_date, status):
    deliver(commitment, 50, clock.start)
    ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})
    clock.mine_at(due_date + 1)
    assert status(commitment) == (WITHDRAWN, 50, TARGET, 2500, 0)


@pytest.mark.parametrize("commitment_id", [0, UNKNOWN_ID])
def test_status_of_unknown_commitment_is_refused(ledger, commitment, commitment_id):
    with brownie.reverts(f"LedgerUnknownCommitment: {commitment_id}"):
        ledger.statusOf(commitment_id)


# ------------------------------------------------------------------ the claimed date does not decide


def test_a_claimed_date_before_the_due_date_does_not_make_a_late_record_on_time(
    ledger, commitment, registrar, delivery_input, clock, due_date, status
):
    clock.next_block_at(due_date + 5 * DAY)
    ledger.recordDelivery(commitment, delivery_input(quantity=TARGET, deliveredAt=due_date - DAY), {"from": registrar})
    assert status(commitment) == (DELIVERED_LATE, TARGET, TARGET, 10_000, due_date + 5 * DAY)


def test_deliveries_recorded_in_one_block_meet_the_target_at_that_block_time(ledger, commitment, registrar, delivery_input, clock, status):
    calls = [ledger.recordDelivery.encode_input(commitment, delivery_input(quantity=100)) for _ in range(2)]
    clock.next_block_at(clock.start + DAY)

    ledger.multicall(calls, {"from": registrar})

    assert status(commitment) == (DELIVERED, TARGET, TARGET, 10_000, clock.start + DAY)


# ------------------------------------------------------------------ progress


@pytest.mark.parametrize("delivered, progress_bps", [(1, 3333), (2, 6666)])
def test_progress_is_rounded_down_to_whole_basis_points(
    ledger, baarn, registrar, commitment_input, deliver, clock, status, delivered, progress_bps
):
    thirds = ledger.registerCommitment(commitment_input(targetQuantity=3), {"from": registrar}).return_value
    deliver(thirds, delivered, clock.start)
    assert status(thirds) == (IN_PROGRESS, delivered, 3, progress_bps, 0)


def test_progress_of_over_delivery_exceeds_10000_basis_points(ledger, commitment, deliver, clock, status):
    met = deliver(commitment, 300, clock.start).timestamp
    assert status(commitment) == (DELIVERED, 300, TARGET, 15_000, met)


def test_progress_of_the_largest_quantities_does_not_overflow(ledger, baarn, registrar, commitment_input, deliver, clock, status):
    largest = ledger.registerCommitment(commitment_input(targetQuantity=1), {"from": registrar}).return_value
    met = deliver(largest, MAX_QUANTITY, clock.start).timestamp
    deliver(largest, MAX_QUANTITY, clock.start)
    assert status(largest) == (DELIVERED, 2 * MAX_QUANTITY, 1, 2 * MAX_QUANTITY * 10_000, met)


def test_revoked_delivery_does_not_count(ledger, commitment, registrar, deliver, clock, status):
    delivery = deliver(commitment, TARGET, clock.start).return_value
    ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})
    assert status(commitment) == (PENDING, 0, TARGET, 0, 0)


# ------------------------------------------------------------------ O(1)


def _deliver_many(ledger, registrar, commitment_id, count, delivery_input):
    """Records ``count`` deliveries of 1 against one commitment, BATCH per transaction."""
    call = ledger.recordDelivery.encode_input(commitment_id, delivery_input(quantity=1, evidenceHashes=[EVIDENCE[0]], note="", evidenceUri=""))
    for start in range(0, count, BATCH):
        ledger.multicall([call] * min(BATCH, count - start), {"from": registrar})


def _status_gas(ledger, commitment_id):
    """Gas of a statusOf call at the latest block (eth_estimateGas)."""
    return web3.eth.estimate_gas({"to": ledger.address, "data": ledger.statusOf.encode_input(commitment_id)})


def test_status_of_costs_the_same_gas_for_1_and_for_200_deliveries(ledger, baarn, registrar, commitment_input, delivery_input, status):
    # both in progress (the same branch of the rules), ids of one non-zero byte each
    one = ledger.registerCommitment(commitment_input(externalRef="ONE", targetQuantity=MAX_QUANTITY), {"from": registrar}).return_value
    many = ledger.registerCommitment(commitment_input(externalRef="MANY", targetQuantity=MAX_QUANTITY), {"from": registrar}).return_value
    _deliver_many(ledger, registrar, one, 1, delivery_input)
    _deliver_many(ledger, registrar, many, 200, delivery_input)

    assert status(one) == (IN_PROGRESS, 1, MAX_QUANTITY, 0, 0)
    assert status(many) == (IN_PROGRESS, 200, MAX_QUANTITY, 0, 0)
    assert ledger.commitmentState(many)[3] == 200
    assert _status_gas(ledger, one) == _status_gas(ledger, many)


# ------------------------------------------------------------------ commitmentState


def test_commitment_state_reports_every_stored_field(
    ledger, commitment, registrar, deliver, amendment_input, clock, state, promised_at, due_date
):
    deliver(commitment, 150, clock.start)
    met = deliver(commitment, 60, clock.start).timestamp  # 210 >= 200: met by the second delivery
    ledger.amendCommitment(commitment, amendment_input(targetQuantity=150), {"from": registrar})
    ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})

    assert state(commitment) == (BAARN_ID, True, 1, 2, 150, promised_at, due_date, 210, met)


def test_commitment_state_can_be_read_as_named_fields(ledger, commitment, promised_at, due_date):
    fields = ledger.commitmentState(commitment).dict()
    assert fields == {
        "municipalityId": BAARN_ID,
        "withdrawn": False,
        "amendmentCount": 0,
        "deliveryCount": 0,
        "targetQuantity": TARGET,
        "promisedAt": promised_at,
        "dueDate": due_date,
        "deliveredQuantity": 0,
        "metOnRecordAt": 0,
    }


@pytest.mark.parametrize("commitment_id", [0, UNKNOWN_ID])
def test_state_of_unknown_commitment_is_refused(ledger, commitment, commitment_id):
    with brownie.reverts(f"LedgerUnknownCommitment: {commitment_id}"):
        ledger.commitmentState(commitment_id)
