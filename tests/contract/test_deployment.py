"""Deployment, constants and the custom-error format."""

import brownie
from brownie import CommitmentLedger

from constants import MAX_EVIDENCE, MAX_QUANTITY, VERSION, ZERO_ADDRESS


def test_deployment_makes_the_given_platform_admin_owner(ledger, platform_admin):
    assert ledger.owner() == platform_admin
    assert ledger.pendingOwner() == ZERO_ADDRESS


def test_deployment_emits_ownership_transferred_from_the_zero_address(ledger, platform_admin):
    assert len(ledger.tx.events) == 1
    assert ledger.tx.events["OwnershipTransferred"] == {
        "previousOwner": ZERO_ADDRESS,
        "newOwner": platform_admin,
    }


def test_owner_can_be_an_account_other_than_the_deployer(clock, platform_admin, newcomer):
    ledger = CommitmentLedger.deploy(newcomer, {"from": platform_admin})
    assert ledger.owner() == newcomer


def test_deployment_with_zero_owner_is_refused(clock, platform_admin):
    with brownie.reverts(f"OwnableInvalidOwner: {ZERO_ADDRESS}"):
        CommitmentLedger.deploy(ZERO_ADDRESS, {"from": platform_admin})


def test_version_is_1_0_0(ledger, stranger):
    assert ledger.version({"from": stranger}) == VERSION


def test_counts_start_at_zero(ledger):
    assert tuple(ledger.counts()) == (0, 0, 0)


def test_limits_are_public(ledger):
    assert ledger.MAX_QUANTITY() == MAX_QUANTITY
    assert ledger.MAX_EVIDENCE() == MAX_EVIDENCE


def test_custom_errors_render_as_name_colon_comma_separated_arguments(ledger, baarn, council_admin, registrar):
    # brownie 1.22 decodes custom errors as "Name: arg, arg": addresses in lower case,
    # strings unquoted, booleans as True/False; an error without arguments ends in ": ".
    assert registrar.address == "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
    with brownie.reverts("LedgerRegistrarUnchanged: 1, 0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc, True"):
        ledger.addRegistrar(1, registrar, {"from": council_admin})
    with brownie.reverts("LedgerZeroAddress: "):
        ledger.addRegistrar(1, ZERO_ADDRESS, {"from": council_admin})
