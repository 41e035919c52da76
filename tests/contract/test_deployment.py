"""Deployment, public constants, version and the custom-error format."""

import brownie
from brownie import CommitmentLedger, web3

from constants import (
    ADMIN_RECOVERY_DELAY,
    AMEND_DESCRIPTION,
    AMEND_DUE_DATE,
    AMEND_TARGET,
    AMEND_TITLE,
    DELIVERY_ID_BASE,
    EIP170_MAX_CODE_BYTES,
    MAX_DATE,
    MAX_DELIVERIES,
    MAX_EVIDENCE,
    MAX_QUANTITY,
    MAX_WEIGHT,
    VERSION,
    ZERO_ADDRESS,
)
from ledger import limits


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


def test_deployed_code_fits_the_eip170_limit(ledger):
    # 24,576 bytes (EIP-170): above it the ledger cannot be deployed on mainnet or any EVM chain
    deployed = web3.eth.get_code(ledger.address)
    assert len(deployed) == len(bytes.fromhex(CommitmentLedger._build["deployedBytecode"])) < EIP170_MAX_CODE_BYTES


def test_version_is_2_1_0(ledger, stranger):
    assert ledger.version({"from": stranger}) == VERSION


def test_new_ledger_is_not_paused(ledger):
    assert ledger.paused() is False


def test_counts_start_at_zero_municipalities_and_zero_commitments(ledger):
    assert tuple(ledger.counts()) == (0, 0)


def test_limits_and_delays_are_public(ledger):
    assert ledger.MAX_WEIGHT() == MAX_WEIGHT
    assert ledger.MAX_QUANTITY() == MAX_QUANTITY
    assert ledger.MAX_EVIDENCE() == MAX_EVIDENCE
    assert ledger.MAX_DATE() == MAX_DATE
    assert ledger.DELIVERY_ID_BASE() == DELIVERY_ID_BASE
    assert ledger.MAX_DELIVERIES() == MAX_DELIVERIES
    assert ledger.ADMIN_RECOVERY_DELAY() == ADMIN_RECOVERY_DELAY


def test_amendment_field_bits_are_public(ledger):
    bits = (ledger.AMEND_TITLE(), ledger.AMEND_DESCRIPTION(), ledger.AMEND_TARGET(), ledger.AMEND_DUE_DATE())
    assert bits == (AMEND_TITLE, AMEND_DESCRIPTION, AMEND_TARGET, AMEND_DUE_DATE) == (1, 2, 4, 8)


def test_off_chain_mirror_of_the_numeric_limits_equals_the_contract(ledger):
    # ledger/limits.py is what the API and the importer validate with before writing
    assert (limits.MAX_QUANTITY, limits.MAX_EVIDENCE) == (ledger.MAX_QUANTITY(), ledger.MAX_EVIDENCE())
    assert (limits.MAX_WEIGHT, limits.MAX_DATE) == (ledger.MAX_WEIGHT(), ledger.MAX_DATE())
    assert (limits.DELIVERY_ID_BASE, limits.MAX_DELIVERIES) == (ledger.DELIVERY_ID_BASE(), ledger.MAX_DELIVERIES())


def test_custom_errors_render_as_name_colon_comma_separated_arguments(ledger, baarn, council_admin, registrar):
    # brownie 1.22 decodes custom errors as "Name: arg, arg": addresses in lower case,
    # strings unquoted, booleans as True/False; an error without arguments ends in ": ".
    assert registrar.address == "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
    with brownie.reverts("LedgerRegistrarUnchanged: 1, 0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc, True"):
        ledger.addRegistrar(1, registrar, {"from": council_admin})
    with brownie.reverts("LedgerZeroAddress: "):
        ledger.addRegistrar(1, ZERO_ADDRESS, {"from": council_admin})
