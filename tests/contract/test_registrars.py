"""addRegistrar, removeRegistrar and isRegistrar: only the municipality's own admin appoints
its registrars; the platform admin cannot (docs/LEDGER.md, "Roles")."""

import brownie
import pytest

from constants import BAARN_ID, NOT_BAARN_ADMINS, UNKNOWN_ID, UTRECHT_ID, ZERO_ADDRESS


# ------------------------------------------------------------------ addRegistrar


def test_municipality_admin_can_add_registrar(ledger, baarn, council_admin, newcomer):
    tx = ledger.addRegistrar(baarn, newcomer, {"from": council_admin})

    assert len(tx.events) == 1
    assert tx.events["RegistrarAdded"] == {"municipalityId": baarn, "account": newcomer, "by": council_admin}
    assert ledger.isRegistrar(baarn, newcomer)


@pytest.mark.parametrize("role", NOT_BAARN_ADMINS)
def test_account_other_than_municipality_admin_cannot_add_registrar(ledger, utrecht, newcomer, role, request):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"LedgerNotMunicipalityAdmin: {BAARN_ID}, {caller.address.lower()}"):
        ledger.addRegistrar(BAARN_ID, newcomer, {"from": caller})


def test_adding_an_existing_registrar_is_refused(ledger, baarn, council_admin, registrar):
    with brownie.reverts(f"LedgerRegistrarUnchanged: {baarn}, {registrar.address.lower()}, True"):
        ledger.addRegistrar(baarn, registrar, {"from": council_admin})


def test_zero_address_cannot_become_registrar(ledger, baarn, council_admin):
    with brownie.reverts("LedgerZeroAddress: "):
        ledger.addRegistrar(baarn, ZERO_ADDRESS, {"from": council_admin})


@pytest.mark.parametrize("municipality_id", [0, UNKNOWN_ID])
def test_registrar_cannot_be_added_to_unknown_municipality(ledger, baarn, council_admin, newcomer, municipality_id):
    with brownie.reverts(f"LedgerUnknownMunicipality: {municipality_id}"):
        ledger.addRegistrar(municipality_id, newcomer, {"from": council_admin})


def test_platform_admin_cannot_make_itself_registrar(ledger, baarn, platform_admin):
    with brownie.reverts(f"LedgerNotMunicipalityAdmin: {baarn}, {platform_admin.address.lower()}"):
        ledger.addRegistrar(baarn, platform_admin, {"from": platform_admin})
    assert not ledger.isRegistrar(baarn, platform_admin)


def test_municipality_admin_can_make_itself_registrar(ledger, baarn, council_admin):
    ledger.addRegistrar(baarn, council_admin, {"from": council_admin})
    assert ledger.isRegistrar(baarn, council_admin)


def test_one_account_may_be_registrar_of_two_municipalities(ledger, utrecht, other_admin, registrar):
    tx = ledger.addRegistrar(utrecht, registrar, {"from": other_admin})

    assert tx.events["RegistrarAdded"] == {"municipalityId": utrecht, "account": registrar, "by": other_admin}
    assert ledger.isRegistrar(BAARN_ID, registrar)
    assert ledger.isRegistrar(utrecht, registrar)


# ------------------------------------------------------------------ removeRegistrar


def test_municipality_admin_can_remove_registrar(ledger, baarn, council_admin, registrar):
    tx = ledger.removeRegistrar(baarn, registrar, {"from": council_admin})

    assert len(tx.events) == 1
    assert tx.events["RegistrarRemoved"] == {"municipalityId": baarn, "account": registrar, "by": council_admin}
    assert not ledger.isRegistrar(baarn, registrar)


@pytest.mark.parametrize("role", NOT_BAARN_ADMINS)
def test_account_other_than_municipality_admin_cannot_remove_registrar(ledger, utrecht, registrar, role, request):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"LedgerNotMunicipalityAdmin: {BAARN_ID}, {caller.address.lower()}"):
        ledger.removeRegistrar(BAARN_ID, registrar, {"from": caller})


def test_removing_an_account_that_is_not_registrar_is_refused(ledger, baarn, council_admin, stranger):
    with brownie.reverts(f"LedgerRegistrarUnchanged: {baarn}, {stranger.address.lower()}, False"):
        ledger.removeRegistrar(baarn, stranger, {"from": council_admin})


def test_removing_a_registrar_twice_is_refused(ledger, baarn, council_admin, registrar):
    ledger.removeRegistrar(baarn, registrar, {"from": council_admin})
    with brownie.reverts(f"LedgerRegistrarUnchanged: {baarn}, {registrar.address.lower()}, False"):
        ledger.removeRegistrar(baarn, registrar, {"from": council_admin})


def test_removing_registrar_of_another_municipality_is_refused(ledger, utrecht, council_admin, other_registrar):
    with brownie.reverts(f"LedgerRegistrarUnchanged: {BAARN_ID}, {other_registrar.address.lower()}, False"):
        ledger.removeRegistrar(BAARN_ID, other_registrar, {"from": council_admin})


@pytest.mark.parametrize("municipality_id", [0, UNKNOWN_ID])
def test_registrar_cannot_be_removed_from_unknown_municipality(ledger, baarn, council_admin, registrar, municipality_id):
    with brownie.reverts(f"LedgerUnknownMunicipality: {municipality_id}"):
        ledger.removeRegistrar(municipality_id, registrar, {"from": council_admin})


def test_removed_registrar_can_be_added_again(ledger, baarn, council_admin, registrar):
    ledger.removeRegistrar(baarn, registrar, {"from": council_admin})

    tx = ledger.addRegistrar(baarn, registrar, {"from": council_admin})

    assert tx.events["RegistrarAdded"] == {"municipalityId": baarn, "account": registrar, "by": council_admin}
    assert ledger.isRegistrar(baarn, registrar)


def test_removing_a_registrar_from_one_municipality_leaves_the_other_alone(ledger, utrecht, council_admin, other_admin, registrar):
    ledger.addRegistrar(utrecht, registrar, {"from": other_admin})

    ledger.removeRegistrar(BAARN_ID, registrar, {"from": council_admin})

    assert ledger.isRegistrar(utrecht, registrar)


# ------------------------------------------------------------------ isRegistrar


def test_registrar_role_is_per_municipality(ledger, utrecht, registrar, other_registrar):
    assert ledger.isRegistrar(BAARN_ID, registrar)
    assert not ledger.isRegistrar(UTRECHT_ID, registrar)
    assert ledger.isRegistrar(UTRECHT_ID, other_registrar)
    assert not ledger.isRegistrar(BAARN_ID, other_registrar)


def test_admins_and_platform_admin_are_not_registrars_by_default(ledger, utrecht, platform_admin, council_admin, other_admin):
    assert not ledger.isRegistrar(BAARN_ID, platform_admin)
    assert not ledger.isRegistrar(BAARN_ID, council_admin)
    assert not ledger.isRegistrar(UTRECHT_ID, other_admin)


def test_nobody_is_registrar_of_an_unknown_municipality(ledger, baarn, registrar):
    assert not ledger.isRegistrar(UNKNOWN_ID, registrar)
