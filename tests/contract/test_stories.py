"""The three stories of issue 5, as the chain now tells them.

1. Backdating: a delivery claimed on 1 January 1970 against an overdue commitment. statusOf
   answers from the record clock; the event carries both the claimed and the recorded time.
2. Relaxed terms: lowering the target of an overdue commitment to what was delivered, or moving
   its due date years ahead. The amendment event says what the terms were and when it was made,
   so a reader sees the deadline was moved after it was missed; the original terms stay in
   CommitmentRegistered.
3. Takeover: the platform admin has no function to replace a municipality's admin or to add a
   registrar; its only path is a public recovery of 42 days that the admin cancels.
"""

import brownie
import pytest
from brownie import web3

from constants import (
    ADMIN_RECOVERY_DELAY,
    AMEND_DUE_DATE,
    AMEND_TARGET,
    BAARN_ID,
    DAY,
    DELIVERED_LATE,
    IN_PROGRESS,
    OVERDUE,
    REVOCATION_REASON,
    WITHDRAWAL_REASON,
    ZERO_ADDRESS,
    delivery_id,
)
from ledger.events import EventDecoder

YEAR = 365 * DAY


# ------------------------------------------------------------------ 1. backdating


def test_a_delivery_claimed_in_1970_on_an_overdue_commitment_is_delivered_late_on_record(
    ledger, commitment, registrar, delivery_input, clock, due_date, status
):
    recorded_at = due_date + 30 * DAY
    clock.mine_at(recorded_at - 1)
    assert status(commitment) == (OVERDUE, 0, 200, 0, 0)
    clock.next_block_at(recorded_at)

    tx = ledger.recordDelivery(commitment, delivery_input(quantity=200, deliveredAt=1), {"from": registrar})

    event = tx.events["DeliveryRecorded"]
    assert (event["deliveredAt"], event["recordedAt"]) == (1, recorded_at)
    assert status(commitment) == (DELIVERED_LATE, 200, 200, 10_000, recorded_at)
    assert ledger.commitmentState(commitment)["metOnRecordAt"] == recorded_at


def test_the_lag_between_the_claimed_and_the_recorded_time_is_in_the_event(ledger, commitment, registrar, delivery_input, clock, due_date):
    clock.next_block_at(due_date + 30 * DAY)

    event = ledger.recordDelivery(commitment, delivery_input(quantity=200, deliveredAt=1), {"from": registrar}).events["DeliveryRecorded"]

    assert event["recordedAt"] - event["deliveredAt"] == due_date + 30 * DAY - 1


# ------------------------------------------------------------------ 2. relaxed terms


@pytest.fixture
def hundred(ledger, baarn, registrar, commitment_input, deliver, clock, due_date):
    """A commitment of 100 with 40 delivered on time, now 10 days past its due date."""
    commitment_id = ledger.registerCommitment(commitment_input(targetQuantity=100), {"from": registrar}).return_value
    deliver(commitment_id, 40, clock.start + DAY)
    clock.mine_at(due_date + 10 * DAY)
    return commitment_id


def test_lowering_an_overdue_target_to_what_was_delivered_is_delivered_late_from_the_amendment(
    ledger, hundred, registrar, amendment_input, clock, due_date, status
):
    assert status(hundred) == (OVERDUE, 40, 100, 4000, 0)
    amended_at = due_date + 11 * DAY
    clock.next_block_at(amended_at)

    tx = ledger.amendCommitment(hundred, amendment_input(targetQuantity=40, reason="Doel bijgesteld"), {"from": registrar})

    event = tx.events["CommitmentAmended"]
    assert (event["previousTargetQuantity"], event["targetQuantity"]) == (100, 40)
    assert (event["previousDueDate"], event["amendedAt"]) == (due_date, amended_at)
    assert event["amendedAt"] > event["previousDueDate"]
    assert status(hundred) == (DELIVERED_LATE, 40, 40, 10_000, amended_at)


def test_moving_an_overdue_due_date_to_a_later_year_shows_it_was_moved_after_it_was_missed(
    ledger, hundred, registrar, amendment_input, clock, due_date, status
):
    later_year = due_date + 3 * YEAR
    clock.next_block_at(due_date + 11 * DAY)

    tx = ledger.amendCommitment(
        hundred, amendment_input(fields=AMEND_DUE_DATE, targetQuantity=0, dueDate=later_year), {"from": registrar}
    )

    event = tx.events["CommitmentAmended"]
    assert (event["fields"], event["previousDueDate"], event["dueDate"]) == (AMEND_DUE_DATE, due_date, later_year)
    assert event["amendedAt"] == due_date + 11 * DAY > event["previousDueDate"]
    assert status(hundred) == (IN_PROGRESS, 40, 100, 4000, 0)  # the current terms, as statusOf defines it


def test_the_original_terms_stay_in_the_registration_event(ledger, hundred, registrar, amendment_input, clock, due_date):
    ledger.amendCommitment(
        hundred,
        amendment_input(fields=AMEND_TARGET | AMEND_DUE_DATE, targetQuantity=40, dueDate=due_date + 3 * YEAR),
        {"from": registrar},
    )
    decoder = EventDecoder(ledger.abi)
    logs = web3.eth.get_logs(
        {"address": ledger.address, "fromBlock": ledger.tx.block_number, "toBlock": "latest",
         "topics": [decoder.topic_of("CommitmentRegistered")]}
    )

    (registered,) = [decoder.decode(log) for log in logs]
    assert (registered.args["target_quantity"], registered.args["due_date"]) == (100, due_date)
    assert ledger.commitmentState(hundred).dict()["amendmentCount"] == 1


# ------------------------------------------------------------------ 3. takeover


def test_the_platform_admin_has_no_function_to_replace_an_admin_or_appoint_a_registrar(ledger):
    functions = {entry["name"] for entry in ledger.abi if entry["type"] == "function"}
    assert "changeMunicipalityAdmin" not in functions
    # every function that names an admin or a registrar, and who may call it
    assert {name for name in functions if "admin" in name.lower() or "registrar" in name.lower()} == {
        "proposeMunicipalityAdmin",  # the municipality's admin
        "acceptMunicipalityAdmin",  # the proposed account
        "startAdminRecovery",  # the platform admin: public, 42 days, cancellable
        "cancelAdminRecovery",  # the municipality's admin or the platform admin
        "completeAdminRecovery",  # anyone, after the delay
        "addRegistrar",  # the municipality's admin
        "removeRegistrar",  # the municipality's admin
        "municipalityAdmin", "pendingMunicipalityAdmin", "adminRecovery", "isRegistrar",  # views
        "ADMIN_RECOVERY_DELAY",  # constant
    }


def test_the_platform_admin_cannot_appoint_itself_or_write_the_record(
    ledger, commitment, platform_admin, deliver, clock, delivery_input, amendment_input
):
    deliver(commitment, 10, clock.start)
    refused_as_admin = f"LedgerNotMunicipalityAdmin: {BAARN_ID}, {platform_admin.address.lower()}"
    refused_as_registrar = f"LedgerNotRegistrar: {BAARN_ID}, {platform_admin.address.lower()}"
    with brownie.reverts(refused_as_admin):
        ledger.addRegistrar(BAARN_ID, platform_admin, {"from": platform_admin})
    with brownie.reverts(refused_as_admin):
        ledger.proposeMunicipalityAdmin(BAARN_ID, platform_admin, {"from": platform_admin})
    with brownie.reverts(refused_as_registrar):
        ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": platform_admin})
    with brownie.reverts(refused_as_registrar):
        ledger.amendCommitment(commitment, amendment_input(), {"from": platform_admin})
    with brownie.reverts(refused_as_registrar):
        ledger.recordDelivery(commitment, delivery_input(), {"from": platform_admin})
    with brownie.reverts(refused_as_registrar):
        ledger.revokeDelivery(delivery_id(commitment, 1), REVOCATION_REASON, {"from": platform_admin})


def test_a_takeover_by_recovery_is_public_for_42_days_and_the_admin_cancels_it(
    ledger, commitment, platform_admin, council_admin, registrar, clock
):
    started_at = clock.start + DAY
    clock.next_block_at(started_at)
    started = ledger.startAdminRecovery(BAARN_ID, platform_admin, {"from": platform_admin})
    assert started.events["AdminRecoveryStarted"] == {
        "municipalityId": BAARN_ID,
        "proposedAdmin": platform_admin,
        "by": platform_admin,
        "executableAt": started_at + ADMIN_RECOVERY_DELAY,
    }
    clock.next_block_at(started_at + ADMIN_RECOVERY_DELAY - 1)
    with brownie.reverts(
        f"LedgerRecoveryNotReady: {BAARN_ID}, {started_at + ADMIN_RECOVERY_DELAY}, {started_at + ADMIN_RECOVERY_DELAY - 1}"
    ):
        ledger.completeAdminRecovery(BAARN_ID, {"from": platform_admin})

    cancelled = ledger.cancelAdminRecovery(BAARN_ID, {"from": council_admin})

    assert cancelled.events["AdminRecoveryCancelled"] == {
        "municipalityId": BAARN_ID,
        "proposedAdmin": platform_admin,
        "by": council_admin,
    }
    clock.next_block_at(started_at + ADMIN_RECOVERY_DELAY)
    with brownie.reverts(f"LedgerNoRecoveryPending: {BAARN_ID}"):
        ledger.completeAdminRecovery(BAARN_ID, {"from": platform_admin})
    assert ledger.municipalityAdmin(BAARN_ID) == council_admin
    assert ledger.isRegistrar(BAARN_ID, registrar)
    assert not ledger.isRegistrar(BAARN_ID, platform_admin)
    assert tuple(ledger.adminRecovery(BAARN_ID)) == (ZERO_ADDRESS, 0)


def test_an_uncancelled_takeover_is_marked_recovered_in_the_admin_change(ledger, baarn, platform_admin, council_admin, clock):
    started = ledger.startAdminRecovery(BAARN_ID, platform_admin, {"from": platform_admin})
    clock.next_block_at(started.events["AdminRecoveryStarted"]["executableAt"])

    tx = ledger.completeAdminRecovery(BAARN_ID, {"from": platform_admin})

    assert tx.events["MunicipalityAdminChanged"] == {
        "municipalityId": BAARN_ID,
        "previousAdmin": council_admin,
        "newAdmin": platform_admin,
        "recovered": True,
    }
