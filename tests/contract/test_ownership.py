"""Ownable2Step: the platform admin hands over ownership in two steps."""

import brownie
import pytest

from constants import ZERO_ADDRESS

NOT_OWNERS = ["council_admin", "registrar", "other_admin", "other_registrar", "stranger"]


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
        ledger.registerMunicipality("Baarn", "GM0308", council_admin, {"from": newcomer})


def test_new_owner_can_register_municipality(ledger, platform_admin, newcomer, council_admin):
    ledger.transferOwnership(newcomer, {"from": platform_admin})
    ledger.acceptOwnership({"from": newcomer})

    tx = ledger.registerMunicipality("Baarn", "GM0308", council_admin, {"from": newcomer})

    assert tx.return_value == 1


def test_previous_owner_cannot_register_municipality_after_transfer(ledger, platform_admin, newcomer, council_admin):
    ledger.transferOwnership(newcomer, {"from": platform_admin})
    ledger.acceptOwnership({"from": newcomer})
    with brownie.reverts(f"OwnableUnauthorizedAccount: {platform_admin.address.lower()}"):
        ledger.registerMunicipality("Baarn", "GM0308", council_admin, {"from": platform_admin})


def test_previous_owner_cannot_change_municipality_admin_after_transfer(ledger, baarn, platform_admin, newcomer, stranger):
    ledger.transferOwnership(newcomer, {"from": platform_admin})
    ledger.acceptOwnership({"from": newcomer})
    with brownie.reverts(f"LedgerNotMunicipalityAdmin: {baarn}, {platform_admin.address.lower()}"):
        ledger.changeMunicipalityAdmin(baarn, stranger, {"from": platform_admin})


def test_new_owner_can_change_municipality_admin(ledger, baarn, platform_admin, newcomer, stranger):
    ledger.transferOwnership(newcomer, {"from": platform_admin})
    ledger.acceptOwnership({"from": newcomer})

    ledger.changeMunicipalityAdmin(baarn, stranger, {"from": newcomer})

    assert ledger.municipalityAdmin(baarn) == stranger


@pytest.mark.parametrize("role", NOT_OWNERS)
def test_non_owner_cannot_renounce_ownership(ledger, utrecht, role, request):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"OwnableUnauthorizedAccount: {caller.address.lower()}"):
        ledger.renounceOwnership({"from": caller})
