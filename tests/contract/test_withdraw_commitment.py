"""withdrawCommitment, and what a withdrawn commitment still accepts."""

import brownie
import pytest

from constants import (
    BAARN_ID,
    COMMITMENT_REF,
    COMMITMENT_TARGET,
    DAY,
    MAX_REASON,
    NOT_BAARN_REGISTRARS,
    REVOCATION_REASON,
    UNKNOWN_ID,
    WITHDRAWAL_REASON,
    WITHDRAWN,
    delivery_id,
)


def test_registrar_can_withdraw_commitment(ledger, commitment, registrar, clock, status, state, promised_at, due_date):
    clock.next_block_at(clock.start + DAY)

    tx = ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})

    assert len(tx.events) == 1
    assert tx.events["CommitmentWithdrawn"] == {
        "commitmentId": commitment,
        "municipalityId": BAARN_ID,
        "registrar": registrar,
        "reason": WITHDRAWAL_REASON,
        "withdrawnAt": clock.start + DAY,
    }
    assert status(commitment) == (WITHDRAWN, 0, COMMITMENT_TARGET, 0, 0)
    assert state(commitment) == (BAARN_ID, True, 0, 0, COMMITMENT_TARGET, promised_at, due_date, 0, 0)


@pytest.mark.parametrize("role", NOT_BAARN_REGISTRARS)
def test_account_that_is_not_registrar_of_the_municipality_cannot_withdraw_commitment(
    ledger, commitment, utrecht, role, request
):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"LedgerNotRegistrar: {BAARN_ID}, {caller.address.lower()}"):
        ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": caller})


def test_removed_registrar_cannot_withdraw_commitment(ledger, commitment, council_admin, registrar):
    ledger.removeRegistrar(BAARN_ID, registrar, {"from": council_admin})
    with brownie.reverts(f"LedgerNotRegistrar: {BAARN_ID}, {registrar.address.lower()}"):
        ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})


@pytest.mark.parametrize("commitment_id", [0, UNKNOWN_ID])
def test_unknown_commitment_cannot_be_withdrawn(ledger, commitment, registrar, commitment_id):
    with brownie.reverts(f"LedgerUnknownCommitment: {commitment_id}"):
        ledger.withdrawCommitment(commitment_id, WITHDRAWAL_REASON, {"from": registrar})


def test_withdrawal_without_reason_is_refused(ledger, commitment, registrar):
    with brownie.reverts("LedgerEmptyText: reason"):
        ledger.withdrawCommitment(commitment, "", {"from": registrar})


def test_withdrawal_reason_of_maximum_length_is_accepted(ledger, commitment, registrar):
    reason = "r" * MAX_REASON
    tx = ledger.withdrawCommitment(commitment, reason, {"from": registrar})
    assert tx.events["CommitmentWithdrawn"]["reason"] == reason


def test_withdrawal_reason_one_byte_too_long_is_refused(ledger, commitment, registrar):
    with brownie.reverts(f"LedgerTextTooLong: reason, {MAX_REASON + 1}, {MAX_REASON}"):
        ledger.withdrawCommitment(commitment, "r" * (MAX_REASON + 1), {"from": registrar})


# ------------------------------------------------------------------ after withdrawal


def test_withdrawn_commitment_cannot_be_withdrawn_again(ledger, commitment, registrar):
    ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})
    with brownie.reverts(f"LedgerCommitmentWithdrawn: {commitment}"):
        ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})


def test_withdrawn_commitment_cannot_be_amended(ledger, commitment, registrar, amendment_input):
    ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})
    with brownie.reverts(f"LedgerCommitmentWithdrawn: {commitment}"):
        ledger.amendCommitment(commitment, amendment_input(), {"from": registrar})


def test_withdrawn_commitment_refuses_deliveries(ledger, commitment, registrar, delivery_input):
    ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})
    with brownie.reverts(f"LedgerCommitmentWithdrawn: {commitment}"):
        ledger.recordDelivery(commitment, delivery_input(), {"from": registrar})


def test_delivery_of_withdrawn_commitment_can_still_be_revoked(ledger, commitment, registrar, deliver, clock, status):
    delivery = deliver(commitment, 50, clock.start).return_value
    ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})
    clock.next_block_at(clock.start + DAY)

    tx = ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})

    assert tx.events["DeliveryRevoked"] == {
        "deliveryId": delivery_id(commitment, 1),
        "commitmentId": commitment,
        "registrar": registrar,
        "reason": REVOCATION_REASON,
        "revokedAt": clock.start + DAY,
    }
    assert status(commitment) == (WITHDRAWN, 0, COMMITMENT_TARGET, 0, 0)


def test_withdrawn_commitment_that_was_met_stays_withdrawn_with_its_met_on_record_at(ledger, commitment, registrar, deliver, clock, status):
    met = deliver(commitment, COMMITMENT_TARGET, clock.start).timestamp
    ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})
    assert status(commitment) == (WITHDRAWN, COMMITMENT_TARGET, COMMITMENT_TARGET, 10_000, met)


def test_withdrawn_commitment_keeps_its_ref(ledger, commitment, registrar, commitment_input):
    ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})

    assert ledger.commitmentIdByRef(BAARN_ID, COMMITMENT_REF) == commitment
    with brownie.reverts(f"LedgerDuplicateCommitmentRef: {BAARN_ID}, {COMMITMENT_REF}, {commitment}"):
        ledger.registerCommitment(commitment_input(), {"from": registrar})


def test_withdrawing_one_commitment_leaves_the_others_open(ledger, commitment, registrar, commitment_input, amendment_input):
    other = ledger.registerCommitment(commitment_input(externalRef="RB-2"), {"from": registrar}).return_value
    ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})

    tx = ledger.amendCommitment(other, amendment_input(), {"from": registrar})

    assert tx.events["CommitmentAmended"]["commitmentId"] == other
