"""revokeDelivery: a revoked delivery stops counting; nothing is deleted."""

import brownie
import pytest

from constants import (
    BAARN_ID,
    COMMITMENT_TARGET,
    IN_PROGRESS,
    MAX_REASON,
    PENDING,
    REVOCATION_REASON,
    UNKNOWN_ID,
)

NOT_BAARN_REGISTRARS = ["platform_admin", "council_admin", "other_admin", "other_registrar", "stranger"]


@pytest.fixture
def delivery(commitment, deliver, clock):
    """Id of a delivery of 50 homes against the Baarn commitment."""
    return deliver(commitment, 50, clock.start).return_value


def test_registrar_can_revoke_delivery(ledger, commitment, delivery, registrar):
    tx = ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})

    assert len(tx.events) == 1
    assert tx.events["DeliveryRevoked"] == {
        "deliveryId": delivery,
        "commitmentId": commitment,
        "registrar": registrar,
        "reason": REVOCATION_REASON,
    }


def test_revoked_delivery_stops_counting(ledger, commitment, delivery, registrar):
    ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})
    assert tuple(ledger.statusOf(commitment)) == (PENDING, 0, COMMITMENT_TARGET, 0, 0)


def test_revoking_one_delivery_leaves_the_others_counting(ledger, commitment, delivery, registrar, deliver, clock):
    deliver(commitment, 30, clock.start)

    ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})

    assert tuple(ledger.statusOf(commitment)) == (IN_PROGRESS, 30, COMMITMENT_TARGET, 1500, 0)
    assert tuple(ledger.counts()) == (1, 1, 2)


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


@pytest.mark.parametrize("delivery_id", [0, UNKNOWN_ID])
def test_unknown_delivery_cannot_be_revoked(ledger, delivery, registrar, delivery_id):
    with brownie.reverts(f"LedgerUnknownDelivery: {delivery_id}"):
        ledger.revokeDelivery(delivery_id, REVOCATION_REASON, {"from": registrar})


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
