"""startAdminRecovery, cancelAdminRecovery, completeAdminRecovery and adminRecovery.

A lost municipality admin key is recovered only by a public, time-locked procedure: the
platform admin starts it, anyone completes it once block time >= executableAt (start block time
+ ADMIN_RECOVERY_DELAY = 42 days), and the current admin (or the platform admin) can cancel it
during the delay (docs/LEDGER.md, "Recovery").
"""

import brownie
import pytest

from constants import ADMIN_RECOVERY_DELAY, BAARN_ID, DAY, NOT_OWNERS, UNKNOWN_ID, ZERO_ADDRESS


@pytest.fixture
def started_at(clock):
    """Block time of the recovery started by the `recovery` fixture."""
    return clock.start + DAY


@pytest.fixture
def recovery(ledger, baarn, platform_admin, newcomer, clock, started_at):
    """Executable time of a recovery of Baarn to `newcomer`, started at `started_at`."""
    clock.next_block_at(started_at)
    ledger.startAdminRecovery(baarn, newcomer, {"from": platform_admin})
    return started_at + ADMIN_RECOVERY_DELAY


# ------------------------------------------------------------------ startAdminRecovery


def test_platform_admin_can_start_a_recovery(ledger, baarn, platform_admin, newcomer, clock):
    clock.next_block_at(clock.start + DAY)

    tx = ledger.startAdminRecovery(baarn, newcomer, {"from": platform_admin})

    assert len(tx.events) == 1
    assert tx.events["AdminRecoveryStarted"] == {
        "municipalityId": baarn,
        "proposedAdmin": newcomer,
        "by": platform_admin,
        "executableAt": clock.start + DAY + ADMIN_RECOVERY_DELAY,
    }
    assert tuple(ledger.adminRecovery(baarn)) == (newcomer, clock.start + DAY + ADMIN_RECOVERY_DELAY)


def test_the_recovery_delay_is_42_days(ledger):
    assert ledger.ADMIN_RECOVERY_DELAY() == ADMIN_RECOVERY_DELAY == 3_628_800


def test_starting_a_recovery_does_not_change_the_admin(ledger, recovery, council_admin):
    assert ledger.municipalityAdmin(BAARN_ID) == council_admin


@pytest.mark.parametrize("role", NOT_OWNERS)
def test_account_other_than_platform_admin_cannot_start_a_recovery(ledger, utrecht, newcomer, role, request):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"OwnableUnauthorizedAccount: {caller.address.lower()}"):
        ledger.startAdminRecovery(BAARN_ID, newcomer, {"from": caller})


def test_recovery_to_the_zero_address_is_refused(ledger, baarn, platform_admin):
    with brownie.reverts("LedgerZeroAddress: "):
        ledger.startAdminRecovery(baarn, ZERO_ADDRESS, {"from": platform_admin})


def test_recovery_to_the_current_admin_is_refused(ledger, baarn, platform_admin, council_admin):
    with brownie.reverts(f"LedgerAdminUnchanged: {baarn}, {council_admin.address.lower()}"):
        ledger.startAdminRecovery(baarn, council_admin, {"from": platform_admin})


@pytest.mark.parametrize("municipality_id", [0, UNKNOWN_ID])
def test_recovery_of_unknown_municipality_is_refused(ledger, baarn, platform_admin, newcomer, municipality_id):
    with brownie.reverts(f"LedgerUnknownMunicipality: {municipality_id}"):
        ledger.startAdminRecovery(municipality_id, newcomer, {"from": platform_admin})


def test_only_one_recovery_at_a_time(ledger, recovery, platform_admin, newcomer, stranger):
    with brownie.reverts(f"LedgerRecoveryPending: {BAARN_ID}, {newcomer.address.lower()}, {recovery}"):
        ledger.startAdminRecovery(BAARN_ID, stranger, {"from": platform_admin})


def test_a_recovery_can_be_started_again_after_a_cancellation(ledger, recovery, platform_admin, council_admin, stranger, clock):
    ledger.cancelAdminRecovery(BAARN_ID, {"from": council_admin})
    clock.next_block_at(clock.start + 2 * DAY)

    tx = ledger.startAdminRecovery(BAARN_ID, stranger, {"from": platform_admin})

    assert tx.events["AdminRecoveryStarted"]["executableAt"] == clock.start + 2 * DAY + ADMIN_RECOVERY_DELAY


def test_recovery_of_one_municipality_leaves_the_other_alone(ledger, utrecht, recovery):
    assert tuple(ledger.adminRecovery(utrecht)) == (ZERO_ADDRESS, 0)


# ------------------------------------------------------------------ cancelAdminRecovery


@pytest.mark.parametrize("role", ["council_admin", "platform_admin"])
def test_admin_or_platform_admin_can_cancel_a_recovery(ledger, recovery, newcomer, role, request):
    caller = request.getfixturevalue(role)

    tx = ledger.cancelAdminRecovery(BAARN_ID, {"from": caller})

    assert len(tx.events) == 1
    assert tx.events["AdminRecoveryCancelled"] == {"municipalityId": BAARN_ID, "proposedAdmin": newcomer, "by": caller}
    assert tuple(ledger.adminRecovery(BAARN_ID)) == (ZERO_ADDRESS, 0)


@pytest.mark.parametrize("role", ["registrar", "other_admin", "other_registrar", "stranger", "newcomer"])
def test_account_other_than_admin_or_platform_admin_cannot_cancel_a_recovery(ledger, utrecht, recovery, role, request):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"LedgerNotRecoveryCanceller: {BAARN_ID}, {caller.address.lower()}"):
        ledger.cancelAdminRecovery(BAARN_ID, {"from": caller})


def test_cancelling_when_no_recovery_is_pending_is_refused(ledger, baarn, council_admin):
    with brownie.reverts(f"LedgerNoRecoveryPending: {baarn}"):
        ledger.cancelAdminRecovery(baarn, {"from": council_admin})


@pytest.mark.parametrize("municipality_id", [0, UNKNOWN_ID])
def test_recovery_of_unknown_municipality_cannot_be_cancelled(ledger, baarn, platform_admin, municipality_id):
    with brownie.reverts(f"LedgerUnknownMunicipality: {municipality_id}"):
        ledger.cancelAdminRecovery(municipality_id, {"from": platform_admin})


def test_admin_can_cancel_a_recovery_at_the_last_second_of_the_delay(ledger, recovery, council_admin, clock):
    clock.next_block_at(recovery - 1)

    tx = ledger.cancelAdminRecovery(BAARN_ID, {"from": council_admin})

    assert tx.timestamp == recovery - 1
    assert "AdminRecoveryCancelled" in tx.events


def test_a_cancelled_recovery_cannot_be_completed(ledger, recovery, council_admin, stranger, clock):
    ledger.cancelAdminRecovery(BAARN_ID, {"from": council_admin})
    clock.next_block_at(recovery)
    with brownie.reverts(f"LedgerNoRecoveryPending: {BAARN_ID}"):
        ledger.completeAdminRecovery(BAARN_ID, {"from": stranger})


# ------------------------------------------------------------------ completeAdminRecovery


@pytest.mark.parametrize("role", ["stranger", "newcomer", "platform_admin", "council_admin", "registrar"])
def test_anyone_can_complete_a_recovery_once_block_time_reaches_executable_at(
    ledger, recovery, council_admin, newcomer, clock, role, request
):
    clock.next_block_at(recovery)

    tx = ledger.completeAdminRecovery(BAARN_ID, {"from": request.getfixturevalue(role)})

    assert tx.timestamp == recovery
    assert len(tx.events) == 1
    assert tx.events["MunicipalityAdminChanged"] == {
        "municipalityId": BAARN_ID,
        "previousAdmin": council_admin,
        "newAdmin": newcomer,
        "recovered": True,
    }
    assert ledger.municipalityAdmin(BAARN_ID) == newcomer
    assert tuple(ledger.adminRecovery(BAARN_ID)) == (ZERO_ADDRESS, 0)


def test_recovery_one_second_before_executable_at_is_refused(ledger, recovery, stranger, clock):
    clock.next_block_at(recovery - 1)
    with brownie.reverts(f"LedgerRecoveryNotReady: {BAARN_ID}, {recovery}, {recovery - 1}"):
        ledger.completeAdminRecovery(BAARN_ID, {"from": stranger})


def test_recovery_right_after_it_started_is_refused(ledger, recovery, stranger, clock, started_at):
    clock.next_block_at(started_at + 1)
    with brownie.reverts(f"LedgerRecoveryNotReady: {BAARN_ID}, {recovery}, {started_at + 1}"):
        ledger.completeAdminRecovery(BAARN_ID, {"from": stranger})


def test_completing_when_no_recovery_is_pending_is_refused(ledger, baarn, stranger):
    with brownie.reverts(f"LedgerNoRecoveryPending: {baarn}"):
        ledger.completeAdminRecovery(baarn, {"from": stranger})


@pytest.mark.parametrize("municipality_id", [0, UNKNOWN_ID])
def test_recovery_of_unknown_municipality_cannot_be_completed(ledger, baarn, stranger, municipality_id):
    with brownie.reverts(f"LedgerUnknownMunicipality: {municipality_id}"):
        ledger.completeAdminRecovery(municipality_id, {"from": stranger})


def test_completing_a_recovery_twice_is_refused(ledger, recovery, stranger, clock):
    clock.next_block_at(recovery)
    ledger.completeAdminRecovery(BAARN_ID, {"from": stranger})
    with brownie.reverts(f"LedgerNoRecoveryPending: {BAARN_ID}"):
        ledger.completeAdminRecovery(BAARN_ID, {"from": stranger})


def test_completed_recovery_clears_a_pending_handover(ledger, recovery, council_admin, stranger, clock):
    ledger.proposeMunicipalityAdmin(BAARN_ID, stranger, {"from": council_admin})
    clock.next_block_at(recovery)

    ledger.completeAdminRecovery(BAARN_ID, {"from": stranger})

    assert ledger.pendingMunicipalityAdmin(BAARN_ID) == ZERO_ADDRESS
    with brownie.reverts(f"LedgerNotProposedAdmin: {BAARN_ID}, {stranger.address.lower()}, {ZERO_ADDRESS}"):
        ledger.acceptMunicipalityAdmin(BAARN_ID, {"from": stranger})


def test_recovered_admin_can_add_registrar_and_the_previous_one_cannot(ledger, recovery, council_admin, newcomer, stranger, clock):
    clock.next_block_at(recovery)
    ledger.completeAdminRecovery(BAARN_ID, {"from": stranger})

    tx = ledger.addRegistrar(BAARN_ID, stranger, {"from": newcomer})

    assert tx.events["RegistrarAdded"] == {"municipalityId": BAARN_ID, "account": stranger, "by": newcomer}
    with brownie.reverts(f"LedgerNotMunicipalityAdmin: {BAARN_ID}, {council_admin.address.lower()}"):
        ledger.removeRegistrar(BAARN_ID, stranger, {"from": council_admin})


# ------------------------------------------------------------------ handover cancels a recovery


def test_ordinary_handover_cancels_a_pending_recovery(ledger, recovery, council_admin, newcomer, stranger):
    ledger.proposeMunicipalityAdmin(BAARN_ID, stranger, {"from": council_admin})

    tx = ledger.acceptMunicipalityAdmin(BAARN_ID, {"from": stranger})

    assert [event.name for event in tx.events] == ["MunicipalityAdminChanged", "AdminRecoveryCancelled"]
    assert tx.events["MunicipalityAdminChanged"] == {
        "municipalityId": BAARN_ID,
        "previousAdmin": council_admin,
        "newAdmin": stranger,
        "recovered": False,
    }
    assert tx.events["AdminRecoveryCancelled"] == {"municipalityId": BAARN_ID, "proposedAdmin": newcomer, "by": stranger}
    assert tuple(ledger.adminRecovery(BAARN_ID)) == (ZERO_ADDRESS, 0)


def test_handover_to_the_recovery_candidate_also_cancels_the_recovery(ledger, recovery, council_admin, newcomer, clock):
    ledger.proposeMunicipalityAdmin(BAARN_ID, newcomer, {"from": council_admin})
    tx = ledger.acceptMunicipalityAdmin(BAARN_ID, {"from": newcomer})

    assert tx.events["AdminRecoveryCancelled"] == {"municipalityId": BAARN_ID, "proposedAdmin": newcomer, "by": newcomer}
    clock.next_block_at(recovery)
    with brownie.reverts(f"LedgerNoRecoveryPending: {BAARN_ID}"):
        ledger.completeAdminRecovery(BAARN_ID, {"from": newcomer})
