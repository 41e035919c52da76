"""registerMunicipality, changeMunicipalityAdmin and the municipality views."""

import brownie
import pytest

from constants import (
    BAARN_CODE,
    BAARN_ID,
    BAARN_NAME,
    MAX_CODE,
    MAX_NAME,
    UNKNOWN_ID,
    UTRECHT_ID,
    ZERO_ADDRESS,
)

NOT_OWNERS = ["council_admin", "registrar", "other_admin", "other_registrar", "stranger"]


# ------------------------------------------------------------------ registerMunicipality


def test_platform_admin_can_register_municipality(ledger, platform_admin, council_admin):
    tx = ledger.registerMunicipality(BAARN_NAME, BAARN_CODE, council_admin, {"from": platform_admin})

    assert tx.return_value == BAARN_ID
    assert len(tx.events) == 1
    assert tx.events["MunicipalityRegistered"] == {
        "municipalityId": BAARN_ID,
        "admin": council_admin,
        "name": BAARN_NAME,
        "code": BAARN_CODE,
    }
    assert ledger.municipalityAdmin(BAARN_ID) == council_admin
    assert tuple(ledger.counts()) == (1, 0, 0)


def test_municipality_ids_count_up_from_one(ledger, baarn, platform_admin, other_admin):
    tx = ledger.registerMunicipality("Utrecht", "GM0344", other_admin, {"from": platform_admin})

    assert tx.return_value == UTRECHT_ID
    assert tx.events["MunicipalityRegistered"]["municipalityId"] == UTRECHT_ID
    assert tuple(ledger.counts()) == (2, 0, 0)


@pytest.mark.parametrize("role", NOT_OWNERS)
def test_account_other_than_platform_admin_cannot_register_municipality(ledger, utrecht, newcomer, role, request):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"OwnableUnauthorizedAccount: {caller.address.lower()}"):
        ledger.registerMunicipality("Amersfoort", "GM0307", newcomer, {"from": caller})


def test_municipality_with_zero_admin_is_refused(ledger, platform_admin):
    with brownie.reverts("LedgerZeroAddress: "):
        ledger.registerMunicipality(BAARN_NAME, BAARN_CODE, ZERO_ADDRESS, {"from": platform_admin})


def test_municipality_with_empty_name_is_refused(ledger, platform_admin, council_admin):
    with brownie.reverts("LedgerEmptyText: name"):
        ledger.registerMunicipality("", BAARN_CODE, council_admin, {"from": platform_admin})


def test_municipality_name_of_maximum_length_is_accepted(ledger, platform_admin, council_admin):
    name = "n" * MAX_NAME
    tx = ledger.registerMunicipality(name, BAARN_CODE, council_admin, {"from": platform_admin})
    assert tx.events["MunicipalityRegistered"]["name"] == name


def test_municipality_name_one_byte_too_long_is_refused(ledger, platform_admin, council_admin):
    with brownie.reverts(f"LedgerTextTooLong: name, {MAX_NAME + 1}, {MAX_NAME}"):
        ledger.registerMunicipality("n" * (MAX_NAME + 1), BAARN_CODE, council_admin, {"from": platform_admin})


def test_municipality_name_length_is_counted_in_utf8_bytes(ledger, platform_admin, council_admin):
    name = "é" * (MAX_NAME // 2) + "s"  # 101 bytes in 51 characters
    with brownie.reverts(f"LedgerTextTooLong: name, {MAX_NAME + 1}, {MAX_NAME}"):
        ledger.registerMunicipality(name, BAARN_CODE, council_admin, {"from": platform_admin})


def test_municipality_without_code_is_accepted(ledger, platform_admin, council_admin):
    tx = ledger.registerMunicipality(BAARN_NAME, "", council_admin, {"from": platform_admin})
    assert tx.events["MunicipalityRegistered"]["code"] == ""


def test_municipality_code_of_maximum_length_is_accepted(ledger, platform_admin, council_admin):
    code = "C" * MAX_CODE
    tx = ledger.registerMunicipality(BAARN_NAME, code, council_admin, {"from": platform_admin})
    assert tx.events["MunicipalityRegistered"]["code"] == code


def test_municipality_code_one_byte_too_long_is_refused(ledger, platform_admin, council_admin):
    with brownie.reverts(f"LedgerTextTooLong: code, {MAX_CODE + 1}, {MAX_CODE}"):
        ledger.registerMunicipality(BAARN_NAME, "C" * (MAX_CODE + 1), council_admin, {"from": platform_admin})


def test_one_account_may_administer_two_municipalities(ledger, baarn, platform_admin, council_admin):
    tx = ledger.registerMunicipality("Utrecht", "GM0344", council_admin, {"from": platform_admin})

    assert tx.return_value == UTRECHT_ID
    assert ledger.municipalityAdmin(UTRECHT_ID) == council_admin


# ------------------------------------------------------------------ changeMunicipalityAdmin


@pytest.mark.parametrize("role", ["council_admin", "platform_admin"])
def test_admin_or_platform_admin_can_change_municipality_admin(ledger, baarn, council_admin, newcomer, role, request):
    caller = request.getfixturevalue(role)

    tx = ledger.changeMunicipalityAdmin(baarn, newcomer, {"from": caller})

    assert len(tx.events) == 1
    assert tx.events["MunicipalityAdminChanged"] == {
        "municipalityId": baarn,
        "previousAdmin": council_admin,
        "newAdmin": newcomer,
    }
    assert ledger.municipalityAdmin(baarn) == newcomer


@pytest.mark.parametrize("role", ["registrar", "other_admin", "other_registrar", "stranger"])
def test_account_other_than_admin_or_platform_admin_cannot_change_municipality_admin(
    ledger, utrecht, newcomer, role, request
):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"LedgerNotMunicipalityAdmin: {BAARN_ID}, {caller.address.lower()}"):
        ledger.changeMunicipalityAdmin(BAARN_ID, newcomer, {"from": caller})


def test_municipality_admin_cannot_be_changed_to_zero_address(ledger, baarn, council_admin):
    with brownie.reverts("LedgerZeroAddress: "):
        ledger.changeMunicipalityAdmin(baarn, ZERO_ADDRESS, {"from": council_admin})


def test_municipality_admin_cannot_be_changed_to_itself(ledger, baarn, council_admin):
    with brownie.reverts(f"LedgerAdminUnchanged: {baarn}, {council_admin.address.lower()}"):
        ledger.changeMunicipalityAdmin(baarn, council_admin, {"from": council_admin})


@pytest.mark.parametrize("municipality_id", [0, UNKNOWN_ID])
def test_admin_of_unknown_municipality_cannot_be_changed(ledger, baarn, platform_admin, newcomer, municipality_id):
    with brownie.reverts(f"LedgerUnknownMunicipality: {municipality_id}"):
        ledger.changeMunicipalityAdmin(municipality_id, newcomer, {"from": platform_admin})


def test_previous_admin_loses_admin_rights(ledger, baarn, council_admin, newcomer, stranger):
    ledger.changeMunicipalityAdmin(baarn, newcomer, {"from": council_admin})
    with brownie.reverts(f"LedgerNotMunicipalityAdmin: {baarn}, {council_admin.address.lower()}"):
        ledger.addRegistrar(baarn, stranger, {"from": council_admin})


def test_new_admin_can_add_registrar(ledger, baarn, council_admin, newcomer, stranger):
    ledger.changeMunicipalityAdmin(baarn, newcomer, {"from": council_admin})

    tx = ledger.addRegistrar(baarn, stranger, {"from": newcomer})

    assert tx.events["RegistrarAdded"] == {"municipalityId": baarn, "account": stranger, "by": newcomer}


def test_registrars_keep_their_role_when_the_admin_changes(ledger, baarn, council_admin, registrar, newcomer):
    ledger.changeMunicipalityAdmin(baarn, newcomer, {"from": council_admin})
    assert ledger.isRegistrar(baarn, registrar)


def test_changing_admin_of_one_municipality_leaves_the_other_alone(ledger, utrecht, platform_admin, other_admin, newcomer):
    ledger.changeMunicipalityAdmin(BAARN_ID, newcomer, {"from": platform_admin})
    assert ledger.municipalityAdmin(utrecht) == other_admin


# ------------------------------------------------------------------ views


def test_admin_of_unknown_municipality_is_zero_address(ledger, baarn):
    assert ledger.municipalityAdmin(UNKNOWN_ID) == ZERO_ADDRESS
    assert ledger.municipalityAdmin(0) == ZERO_ADDRESS


def test_counts_count_municipalities(ledger, utrecht):
    assert tuple(ledger.counts()) == (2, 0, 0)
