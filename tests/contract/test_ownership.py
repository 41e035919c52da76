"""Ownable2Step: the platform admin hands over in two steps and can never renounce."""

import brownie
import pytest

from constants import BAARN_CODE, BAARN_ID, BAARN_NAME, NOT_OWNERS, ZERO_ADDRESS


def test_owner_can_start_ownership_transfer(ledger, platform_admin, newcomer):
    tx = ledger.transferOwnership(newcomer, {"from": platform_admin})

    assert len(tx.events) == 1
    assert tx.events["OwnershipTransferStarted"] == {"previousOwner": platform_admin, "newOwner": newcomer}
    assert ledger.pendingOwner() == newcomer
    assert ledger.owner() == platform_admin


def test_pending_owner_can_accept_ownership(ledger, platform_admin, newcomer):
    ledger.transferOwnership(newcomer, {"from": platform_admin})

    tx = ledger.acceptOwnership({"from": newcomer})

    assert len(tx.events) == 1
    assert tx.events["OwnershipTransferred"] == {"previousOwner": platform_admin, "newOwner": newcomer}
    assert ledger.owner() == newcomer
    assert ledger.pendingOwner() == ZERO_ADDRESS


@pytest.mark.parametrize("role", NOT_OWNERS)
def test_non_owner_cannot_start_ownership_transfer(ledger, utrecht, newcomer, role, request):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"OwnableUnauthorizedAccount: {caller.address.lower()}"):
        ledger.transferOwnership(newcomer, {"from": caller})


@pytest.mark.parametrize("role", ["platform_admin"] + NOT_OWNERS)
def test_account_other_than_pending_owner_cannot_accept_ownership(ledger, utrecht, platform_admin, newcomer, role, request):
    ledger.transferOwnership(newcomer, {"from": platform_admin})
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"OwnableUnauthorizedAccount: {caller.address.lower()}"):
        ledger.acceptOwnership({"from": caller})


def test_pending_owner_cannot_register_municipality_before_accepting(ledger, platform_admin, newcomer, council_admin):
    ledger.transferOwnership(newcomer, {"from": platform_admin})
    with brownie.reverts(f"OwnableUnauthorizedAccount: {newcomer.address.lower()}"):
        ledger.registerMunicipality(BAARN_NAME, BAARN_CODE, council_admin, {"from": newcomer})


def test_new_owner_can_register_municipality(ledger, platform_admin, newcomer, council_admin):
    ledger.transferOwnership(newcomer, {"from": platform_admin})
    ledger.acceptOwnership({"from": newcomer})

    tx = ledger.registerMunicipality(BAARN_NAME, BAARN_CODE, council_admin, {"from": newcomer})

    assert tx.return_value == BAARN_ID


def test_previous_owner_cannot_register_municipality_after_transfer(ledger, platform_admin, newcomer, council_admin):
    ledger.transferOwnership(newcomer, {"from": platform_admin})
    ledger.acceptOwnership({"from": newcomer})
    with brownie.reverts(f"OwnableUnauthorizedAccount: {platform_admin.address.lower()}"):
        ledger.registerMunicipality(BAARN_NAME, BAARN_CODE, council_admin, {"from": platform_admin})


def test_previous_owner_cannot_pause_after_transfer(ledger, platform_admin, newcomer):
    ledger.transferOwnership(newcomer, {"from": platform_admin})
    ledger.acceptOwnership({"from": newcomer})
    with brownie.reverts(f"OwnableUnauthorizedAccount: {platform_admin.address.lower()}"):
        ledger.pause({"from": platform_admin})


def test_owner_can_cancel_a_transfer_by_proposing_the_zero_address(ledger, platform_admin, newcomer):
    ledger.transferOwnership(newcomer, {"from": platform_admin})

    tx = ledger.transferOwnership(ZERO_ADDRESS, {"from": platform_admin})

    assert tx.events["OwnershipTransferStarted"] == {"previousOwner": platform_admin, "newOwner": ZERO_ADDRESS}
    with brownie.reverts(f"OwnableUnauthorizedAccount: {newcomer.address.lower()}"):
        ledger.acceptOwnership({"from": newcomer})


# ------------------------------------------------------------------ renounceOwnership


def test_owner_cannot_renounce_ownership(ledger, platform_admin):
    with brownie.reverts("LedgerRenounceRefused: "):
        ledger.renounceOwnership({"from": platform_admin})
    assert ledger.owner() == platform_admin


@pytest.mark.parametrize("role", NOT_OWNERS)
def test_non_owner_cannot_renounce_ownership(ledger, utrecht, role, request):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"OwnableUnauthorizedAccount: {caller.address.lower()}"):
        ledger.renounceOwnership({"from": caller})
