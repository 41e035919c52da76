"""multicall(bytes[]): many writes of one caller in one transaction (OpenZeppelin Multicall).

All or nothing: one failing call reverts the batch with that call's own custom error; the
caller's role is checked for each call (docs/LEDGER.md, "Roles").
"""

import brownie
import pytest

from constants import (
    BAARN_ID,
    COMMITMENT_TARGET,
    DELIVERED,
    MAX_QUANTITY,
    NOT_BAARN_REGISTRARS,
    delivery_id,
)

BATCH_SIZE = 100


def test_registrar_can_register_100_commitments_in_one_transaction(ledger, baarn, registrar, commitment_input):
    calls = [
        ledger.registerCommitment.encode_input(commitment_input(externalRef=f"B-{i:03}", description="", sourceUri=""))
        for i in range(BATCH_SIZE)
    ]

    tx = ledger.multicall(calls, {"from": registrar})

    registered = tx.events["CommitmentRegistered"]
    assert len(tx.events) == len(registered) == BATCH_SIZE
    assert [event["commitmentId"] for event in registered] == list(range(1, BATCH_SIZE + 1))
    assert [event["externalRef"] for event in registered] == [f"B-{i:03}" for i in range(BATCH_SIZE)]
    assert {event["registeredAt"] for event in registered} == {tx.timestamp}
    assert tuple(ledger.counts()) == (1, BATCH_SIZE)
    assert ledger.commitmentIdByRef(BAARN_ID, "B-099") == BATCH_SIZE
    # each call's return value, ABI-encoded: the commitment id as one uint256
    assert [int.from_bytes(bytes(value), "big") for value in tx.return_value] == list(range(1, BATCH_SIZE + 1))


def test_one_failing_call_reverts_the_whole_batch_with_its_own_error(ledger, baarn, registrar, commitment_input):
    calls = [ledger.registerCommitment.encode_input(commitment_input(externalRef=f"B-{i}")) for i in range(3)]
    calls.insert(2, ledger.registerCommitment.encode_input(commitment_input(externalRef="B-bad", targetQuantity=0)))

    with brownie.reverts(f"LedgerInvalidQuantity: 0, {MAX_QUANTITY}"):
        ledger.multicall(calls, {"from": registrar})

    assert tuple(ledger.counts()) == (1, 0)
    assert ledger.commitmentIdByRef(BAARN_ID, "B-0") == 0


def test_a_batch_repeating_a_ref_is_refused_with_the_id_registered_earlier_in_it(ledger, baarn, registrar, commitment_input):
    calls = [ledger.registerCommitment.encode_input(commitment_input(externalRef="B-1")) for _ in range(2)]
    with brownie.reverts("LedgerDuplicateCommitmentRef: 1, B-1, 1"):
        ledger.multicall(calls, {"from": registrar})
    assert tuple(ledger.counts()) == (1, 0)


@pytest.mark.parametrize("role", NOT_BAARN_REGISTRARS)
def test_account_that_is_not_registrar_cannot_write_through_multicall(ledger, commitment, utrecht, commitment_input, delivery_input, role, request):
    caller = request.getfixturevalue(role)
    calls = [ledger.recordDelivery.encode_input(commitment, delivery_input())]
    with brownie.reverts(f"LedgerNotRegistrar: {BAARN_ID}, {caller.address.lower()}"):
        ledger.multicall(calls, {"from": caller})


def test_registrar_of_one_municipality_cannot_slip_a_write_for_another_into_a_batch(
    ledger, utrecht, other_registrar, commitment_input
):
    calls = [
        ledger.registerCommitment.encode_input(commitment_input(municipalityId=utrecht)),
        ledger.registerCommitment.encode_input(commitment_input(municipalityId=BAARN_ID)),
    ]
    with brownie.reverts(f"LedgerNotRegistrar: {BAARN_ID}, {other_registrar.address.lower()}"):
        ledger.multicall(calls, {"from": other_registrar})
    assert tuple(ledger.counts()) == (2, 0)


def test_platform_admin_cannot_add_a_registrar_through_multicall(ledger, baarn, platform_admin, newcomer):
    with brownie.reverts(f"LedgerNotMunicipalityAdmin: {BAARN_ID}, {platform_admin.address.lower()}"):
        ledger.multicall([ledger.addRegistrar.encode_input(BAARN_ID, newcomer)], {"from": platform_admin})


def test_registrar_can_register_and_deliver_in_one_batch(ledger, baarn, registrar, commitment_input, delivery_input, status):
    calls = [
        ledger.registerCommitment.encode_input(commitment_input()),
        ledger.recordDelivery.encode_input(1, delivery_input(quantity=150)),
        ledger.recordDelivery.encode_input(1, delivery_input(quantity=50, externalRef="OPL-2")),
    ]

    tx = ledger.multicall(calls, {"from": registrar})

    assert [event.name for event in tx.events] == ["CommitmentRegistered", "DeliveryRecorded", "DeliveryRecorded"]
    assert [event["deliveryId"] for event in tx.events["DeliveryRecorded"]] == [delivery_id(1, 1), delivery_id(1, 2)]
    assert {event["recordedAt"] for event in tx.events["DeliveryRecorded"]} == {tx.timestamp}
    assert status(1) == (DELIVERED, COMMITMENT_TARGET, COMMITMENT_TARGET, 10_000, tx.timestamp)


def test_an_empty_batch_changes_nothing(ledger, baarn, registrar):
    tx = ledger.multicall([], {"from": registrar})
    assert len(tx.events) == 0
    assert tuple(ledger.counts()) == (1, 0)
