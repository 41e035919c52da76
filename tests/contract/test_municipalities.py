"""registerMunicipality, the two-step admin handover and the municipality views.

The platform admin onboards a municipality and has no role in it afterwards; a municipality's
admin proposes a successor, who accepts (docs/LEDGER.md, "Roles").
"""

import brownie
import pytest

from constants import (
    BAARN_CODE,
    BAARN_ID,
    BAARN_NAME,
    MAX_CODE,
    MAX_NAME,
    NOT_BAARN_ADMINS,
    NOT_OWNERS,
    UNKNOWN_ID,
    UTRECHT_CODE,
    UTRECHT_ID,
    UTRECHT_NAME,
    ZERO_ADDRESS,
)

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
    assert tuple(ledger.counts()) == (1, 0)


def test_platform_admin_is_not_registrar_of_the_municipality_it_registered(ledger, baarn, platform_admin):
    assert not ledger.isRegistrar(baarn, platform_admin)
    assert ledger.municipalityAdmin(baarn) != platform_admin


def test_municipality_ids_count_up_from_one(ledger, baarn, platform_admin, other_admin):
    tx = ledger.registerMunicipality(UTRECHT_NAME, UTRECHT_CODE, other_admin, {"from": platform_admin})

    assert tx.return_value == UTRECHT_ID
    assert tx.events["MunicipalityRegistered"]["municipalityId"] == UTRECHT_ID
    assert tuple(ledger.counts()) == (2, 0)


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
    tx = ledger.registerMunicipality(UTRECHT_NAME, UTRECHT_CODE, council_admin, {"from": platform_admin})

    assert tx.return_value == UTRECHT_ID
    assert ledger.municipalityAdmin(UTRECHT_ID) == council_admin


# ------------------------------------------------------------------ proposeMunicipalityAdmin


def test_municipality_admin_can_propose_a_successor(ledger, baarn, council_admin, newcomer):
    tx = ledger.proposeMunicipalityAdmin(baarn, newcomer, {"from": council_admin})

    assert len(tx.events) == 1
    assert tx.events["MunicipalityAdminProposed"] == {
        "municipalityId": baarn,
        "currentAdmin": council_admin,
        "proposedAdmin": newcomer,
    }
    assert ledger.pendingMunicipalityAdmin(baarn) == newcomer
    assert ledger.municipalityAdmin(baarn) == council_admin


@pytest.mark.parametrize("role", NOT_BAARN_ADMINS)
def test_account_other_than_municipality_admin_cannot_propose_a_successor(ledger, utrecht, newcomer, role, request):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"LedgerNotMunicipalityAdmin: {BAARN_ID}, {caller.address.lower()}"):
        ledger.proposeMunicipalityAdmin(BAARN_ID, newcomer, {"from": caller})


def test_proposing_the_current_admin_is_refused(ledger, baarn, council_admin):
    with brownie.reverts(f"LedgerAdminUnchanged: {baarn}, {council_admin.address.lower()}"):
        ledger.proposeMunicipalityAdmin(baarn, council_admin, {"from": council_admin})


@pytest.mark.parametrize("municipality_id", [0, UNKNOWN_ID])
def test_successor_for_unknown_municipality_cannot_be_proposed(ledger, baarn, council_admin, newcomer, municipality_id):
    with brownie.reverts(f"LedgerUnknownMunicipality: {municipality_id}"):
        ledger.proposeMunicipalityAdmin(municipality_id, newcomer, {"from": council_admin})


def test_proposing_the_zero_address_cancels_a_proposal(ledger, baarn, council_admin, newcomer):
    ledger.proposeMunicipalityAdmin(baarn, newcomer, {"from": council_admin})

    tx = ledger.proposeMunicipalityAdmin(baarn, ZERO_ADDRESS, {"from": council_admin})

    assert tx.events["MunicipalityAdminProposed"] == {
        "municipalityId": baarn,
        "currentAdmin": council_admin,
        "proposedAdmin": ZERO_ADDRESS,
    }
    assert ledger.pendingMunicipalityAdmin(baarn) == ZERO_ADDRESS
    with brownie.reverts(f"LedgerNotProposedAdmin: {baarn}, {newcomer.address.lower()}, {ZERO_ADDRESS}"):
        ledger.acceptMunicipalityAdmin(baarn, {"from": newcomer})


def test_a_new_proposal_replaces_the_previous_one(ledger, baarn, council_admin, newcomer, stranger):
    ledger.proposeMunicipalityAdmin(baarn, newcomer, {"from": council_admin})
    ledger.proposeMunicipalityAdmin(baarn, stranger, {"from": council_admin})

    assert ledger.pendingMunicipalityAdmin(baarn) == stranger
    with brownie.reverts(f"LedgerNotProposedAdmin: {baarn}, {newcomer.address.lower()}, {stranger.address.lower()}"):
        ledger.acceptMunicipalityAdmin(baarn, {"from": newcomer})


# ------------------------------------------------------------------ acceptMunicipalityAdmin


def test_proposed_admin_can_accept(ledger, baarn, council_admin, newcomer):
    ledger.proposeMunicipalityAdmin(baarn, newcomer, {"from": council_admin})

    tx = ledger.acceptMunicipalityAdmin(baarn, {"from": newcomer})

    assert len(tx.events) == 1
    assert tx.events["MunicipalityAdminChanged"] == {
        "municipalityId": baarn,
        "previousAdmin": council_admin,
        "newAdmin": newcomer,
        "recovered": False,
    }
    assert ledger.municipalityAdmin(baarn) == newcomer
    assert ledger.pendingMunicipalityAdmin(baarn) == ZERO_ADDRESS


@pytest.mark.parametrize("role", ["council_admin"] + NOT_BAARN_ADMINS)
def test_account_other_than_the_proposed_admin_cannot_accept(ledger, utrecht, council_admin, newcomer, role, request):
    ledger.proposeMunicipalityAdmin(BAARN_ID, newcomer, {"from": council_admin})
    caller = request.getfixturevalue(role)
    with brownie.reverts(
        f"LedgerNotProposedAdmin: {BAARN_ID}, {caller.address.lower()}, {newcomer.address.lower()}"
    ):
        ledger.acceptMunicipalityAdmin(BAARN_ID, {"from": caller})


def test_nobody_can_accept_when_nothing_was_proposed(ledger, baarn, newcomer):
    with brownie.reverts(f"LedgerNotProposedAdmin: {baarn}, {newcomer.address.lower()}, {ZERO_ADDRESS}"):
        ledger.acceptMunicipalityAdmin(baarn, {"from": newcomer})


@pytest.mark.parametrize("municipality_id", [0, UNKNOWN_ID])
def test_admin_role_of_unknown_municipality_cannot_be_accepted(ledger, baarn, newcomer, municipality_id):
    with brownie.reverts(f"LedgerUnknownMunicipality: {municipality_id}"):
        ledger.acceptMunicipalityAdmin(municipality_id, {"from": newcomer})


def test_accepting_twice_is_refused(ledger, baarn, council_admin, newcomer):
    ledger.proposeMunicipalityAdmin(baarn, newcomer, {"from": council_admin})
    ledger.acceptMunicipalityAdmin(baarn, {"from": newcomer})
    with brownie.reverts(f"LedgerNotProposedAdmin: {baarn}, {newcomer.address.lower()}, {ZERO_ADDRESS}"):
        ledger.acceptMunicipalityAdmin(baarn, {"from": newcomer})


def test_previous_admin_loses_admin_rights(ledger, baarn, council_admin, newcomer, stranger):
    ledger.proposeMunicipalityAdmin(baarn, newcomer, {"from": council_admin})
    ledger.acceptMunicipalityAdmin(baarn, {"from": newcomer})
    with brownie.reverts(f"LedgerNotMunicipalityAdmin: {baarn}, {council_admin.address.lower()}"):
        ledger.addRegistrar(baarn, stranger, {"from": council_admin})


def test_new_admin_can_add_registrar(ledger, baarn, council_admin, newcomer, stranger):
    ledger.proposeMunicipalityAdmin(baarn, newcomer, {"from": council_admin})
    ledger.acceptMunicipalityAdmin(baarn, {"from": newcomer})

    tx = ledger.addRegistrar(baarn, stranger, {"from": newcomer})

    assert tx.events["RegistrarAdded"] == {"municipalityId": baarn, "account": stranger, "by": newcomer}


def test_registrars_keep_their_role_when_the_admin_changes(ledger, baarn, council_admin, registrar, newcomer):
    ledger.proposeMunicipalityAdmin(baarn, newcomer, {"from": council_admin})
    ledger.acceptMunicipalityAdmin(baarn, {"from": newcomer})
    assert ledger.isRegistrar(baarn, registrar)


def test_handing_over_one_municipality_leaves_the_other_alone(ledger, utrecht, council_admin, other_admin, newcomer):
    ledger.proposeMunicipalityAdmin(BAARN_ID, newcomer, {"from": council_admin})
    ledger.acceptMunicipalityAdmin(BAARN_ID, {"from": newcomer})
    assert ledger.municipalityAdmin(utrecht) == other_admin
    assert ledger.pendingMunicipalityAdmin(utrecht) == ZERO_ADDRESS


# ------------------------------------------------------------------ views


def test_admin_of_unknown_municipality_is_zero_address(ledger, baarn):
    assert ledger.municipalityAdmin(UNKNOWN_ID) == ZERO_ADDRESS
    assert ledger.municipalityAdmin(0) == ZERO_ADDRESS
    assert ledger.pendingMunicipalityAdmin(UNKNOWN_ID) == ZERO_ADDRESS


def test_counts_count_municipalities(ledger, utrecht):
    assert tuple(ledger.counts()) == (2, 0)
