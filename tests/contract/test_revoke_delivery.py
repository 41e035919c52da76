"""revokeDelivery: a revoked delivery stops counting; nothing is deleted.

On record (docs/LEDGER.md): a revocation that leaves the total below the target clears
metOnRecordAt; the delivery that reaches the target again sets it to its own block time.
"""

import brownie
import pytest

from constants import (
    BAARN_ID,
    COMMITMENT_TARGET,
    DAY,
    DELIVERED,
    DELIVERED_LATE,
    IN_PROGRESS,
    MAX_REASON,
    NOT_BAARN_REGISTRARS,
    OVERDUE,
    PENDING,
    REVOCATION_REASON,
    UNKNOWN_DELIVERY_ID,
    delivery_id,
)


@pytest.fixture
def delivery(commitment, deliver, clock):
    """Id of a delivery of 50 homes against the Baarn commitment."""
    return deliver(commitment, 50, clock.start).return_value


def test_registrar_can_revoke_delivery(ledger, commitment, delivery, registrar, clock):
    clock.next_block_at(clock.start + DAY)

    tx = ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})

    assert len(tx.events) == 1
    assert tx.events["DeliveryRevoked"] == {
        "deliveryId": delivery_id(commitment, 1),
        "commitmentId": commitment,
        "registrar": registrar,
        "reason": REVOCATION_REASON,
        "revokedAt": clock.start + DAY,
    }


def test_revoked_delivery_stops_counting(ledger, commitment, delivery, registrar, status, state):
    ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})
    assert status(commitment) == (PENDING, 0, COMMITMENT_TARGET, 0, 0)
    assert state(commitment)[3] == 1  # the delivery count keeps the revoked one: ids are never reused


def test_revoking_one_delivery_leaves_the_others_counting(ledger, commitment, delivery, registrar, deliver, clock, status):
    deliver(commitment, 30, clock.start)

    ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})

    assert status(commitment) == (IN_PROGRESS, 30, COMMITMENT_TARGET, 1500, 0)


def test_delivery_after_a_revocation_gets_the_next_number(ledger, commitment, delivery, registrar, deliver, clock):
    ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})
    assert deliver(commitment, 10, clock.start).return_value == delivery_id(commitment, 2)


# ------------------------------------------------------------------ metOnRecordAt


def test_revoking_below_the_target_clears_met_on_record_at(ledger, commitment, delivery, registrar, deliver, clock, status):
    deliver(commitment, 150, clock.start)
    assert status(commitment)[0] == DELIVERED

    ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})

    assert status(commitment) == (IN_PROGRESS, 150, COMMITMENT_TARGET, 7500, 0)


def test_revoking_while_the_rest_still_meets_the_target_keeps_met_on_record_at(ledger, commitment, delivery, registrar, deliver, clock, status):
    met = deliver(commitment, 200, clock.start).timestamp
    clock.next_block_at(clock.start + DAY)

    ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})

    assert status(commitment) == (DELIVERED, 200, COMMITMENT_TARGET, 10_000, met)


def test_a_later_delivery_sets_met_on_record_at_again_at_its_block_time(
    ledger, commitment, delivery, registrar, deliver, delivery_input, clock, status, due_date
):
    deliver(commitment, 150, clock.start)
    ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})
    clock.next_block_at(due_date + DAY)

    tx = ledger.recordDelivery(commitment, delivery_input(quantity=50), {"from": registrar})

    assert tx.timestamp == due_date + DAY
    assert status(commitment) == (DELIVERED_LATE, COMMITMENT_TARGET, COMMITMENT_TARGET, 10_000, due_date + DAY)


def test_revoking_the_delivery_that_met_the_target_after_the_due_date_makes_it_overdue(
    ledger, commitment, delivery, registrar, deliver, clock, status, due_date
):
    completing = deliver(commitment, 150, clock.start + DAY).return_value
    clock.next_block_at(due_date + 1)
    ledger.revokeDelivery(completing, REVOCATION_REASON, {"from": registrar})
    assert status(commitment) == (OVERDUE, 50, COMMITMENT_TARGET, 2500, 0)


def test_another_registrar_of_the_municipality_can_revoke_delivery(ledger, delivery, council_admin, newcomer):
    ledger.addRegistrar(BAARN_ID, newcomer, {"from": council_admin})

    tx = ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": newcomer})

    assert tx.events["DeliveryRevoked"]["registrar"] == newcomer


@pytest.mark.parametrize("role", NOT_BAARN_REGISTRARS)
def test_account_that_is_not_registrar_of_the_municipality_cannot_revoke_delivery(ledger, delivery, utrecht, role, request):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"LedgerNotRegistrar: {BAARN_ID}, {caller.address.lower()}"):
        ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": caller})


def test_removed_registrar_cannot_revoke_delivery(ledger, delivery, council_admin, registrar):
    ledger.removeRegistrar(BAARN_ID, registrar, {"from": council_admin})
    with brownie.reverts(f"LedgerNotRegistrar: {BAARN_ID}, {registrar.address.lower()}"):
        ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})


@pytest.mark.parametrize("unknown", ["zero", "next number", "delivery number 0", "unknown commitment", "v1-style id 1"])
def test_unknown_delivery_cannot_be_revoked(ledger, commitment, delivery, registrar, unknown):
    unknown_id = {
        "zero": 0,
        "next number": delivery_id(commitment, 2),
        "delivery number 0": delivery_id(commitment, 0),
        "unknown commitment": UNKNOWN_DELIVERY_ID,
        "v1-style id 1": 1,
    }[unknown]
    with brownie.reverts(f"LedgerUnknownDelivery: {unknown_id}"):
        ledger.revokeDelivery(unknown_id, REVOCATION_REASON, {"from": registrar})


def test_revoking_a_delivery_twice_is_refused(ledger, delivery, registrar):
    ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})
    with brownie.reverts(f"LedgerDeliveryAlreadyRevoked: {delivery}"):
        ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})


def test_revocation_without_reason_is_refused(ledger, delivery, registrar):
    with brownie.reverts("LedgerEmptyText: reason"):
        ledger.revokeDelivery(delivery, "", {"from": registrar})


def test_revocation_reason_of_maximum_length_is_accepted(ledger, delivery, registrar):
    reason = "r" * MAX_REASON
    tx = ledger.revokeDelivery(delivery, reason, {"from": registrar})
    assert tx.events["DeliveryRevoked"]["reason"] == reason


def test_revocation_reason_one_byte_too_long_is_refused(ledger, delivery, registrar):
    with brownie.reverts(f"LedgerTextTooLong: reason, {MAX_REASON + 1}, {MAX_REASON}"):
        ledger.revokeDelivery(delivery, "r" * (MAX_REASON + 1), {"from": registrar})
