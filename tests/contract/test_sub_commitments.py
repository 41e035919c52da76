"""Sub-commitments: a commitment may name a `parentId` (same municipality, existing, not
withdrawn) and a `weight` (1..MAX_WEIGHT; 0 without parent), fixed at registration and carried
by CommitmentRegistered (docs/LEDGER.md "Sub-commitments"). The roll-up is computed off chain.
"""

import brownie
import pytest

from constants import (
    BAARN_ID,
    COMMITMENT_DESCRIPTION,
    COMMITMENT_TARGET,
    COMMITMENT_THEME,
    COMMITMENT_UNIT,
    MAX_WEIGHT,
    PENDING,
    SOURCE_DOCUMENT_HASH,
    SOURCE_URI,
    UNKNOWN_ID,
    WITHDRAWAL_REASON,
    WITHDRAWN,
)


def test_registrar_can_register_a_sub_commitment_with_its_parent_and_weight(
    ledger, commitment, registrar, commitment_input, promised_at, due_date, clock
):
    clock.next_block_at(clock.start + 60)

    tx = ledger.registerCommitment(
        commitment_input(externalRef="RB-2024-017-a", title="Blok Eemnesserweg", targetQuantity=80, parentId=commitment, weight=40),
        {"from": registrar},
    )

    assert tx.return_value == 2
    assert len(tx.events) == 1
    assert tx.events["CommitmentRegistered"] == {
        "commitmentId": 2,
        "municipalityId": BAARN_ID,
        "registrar": registrar,
        "externalRef": "RB-2024-017-a",
        "title": "Blok Eemnesserweg",
        "description": COMMITMENT_DESCRIPTION,
        "theme": COMMITMENT_THEME,
        "targetQuantity": 80,
        "unit": COMMITMENT_UNIT,
        "promisedAt": promised_at,
        "dueDate": due_date,
        "sourceDocumentHash": SOURCE_DOCUMENT_HASH,
        "sourceUri": SOURCE_URI,
        "parentId": commitment,
        "weight": 40,
        "registeredAt": clock.start + 60,
    }


@pytest.mark.parametrize("weight", [1, MAX_WEIGHT])
def test_sub_commitment_weight_at_the_bounds_is_accepted(ledger, commitment, registrar, commitment_input, weight):
    tx = ledger.registerCommitment(commitment_input(externalRef="RB-2", parentId=commitment, weight=weight), {"from": registrar})
    assert (tx.events["CommitmentRegistered"]["parentId"], tx.events["CommitmentRegistered"]["weight"]) == (commitment, weight)


@pytest.mark.parametrize("weight", [0, MAX_WEIGHT + 1, 2**32 - 1])
def test_sub_commitment_weight_out_of_range_is_refused(ledger, commitment, registrar, commitment_input, weight):
    with brownie.reverts(f"LedgerInvalidWeight: {commitment}, {weight}, {MAX_WEIGHT}"):
        ledger.registerCommitment(commitment_input(externalRef="RB-2", parentId=commitment, weight=weight), {"from": registrar})


@pytest.mark.parametrize("weight", [1, MAX_WEIGHT])
def test_a_weight_without_parent_is_refused(ledger, baarn, registrar, commitment_input, weight):
    with brownie.reverts(f"LedgerInvalidWeight: 0, {weight}, {MAX_WEIGHT}"):
        ledger.registerCommitment(commitment_input(weight=weight), {"from": registrar})


def test_a_commitment_without_parent_has_weight_0(ledger, commitment, registrar, commitment_input):
    tx = ledger.registerCommitment(commitment_input(externalRef="RB-2"), {"from": registrar})
    assert (tx.events["CommitmentRegistered"]["parentId"], tx.events["CommitmentRegistered"]["weight"]) == (0, 0)


@pytest.mark.parametrize("parent_id", [2, UNKNOWN_ID], ids=["itself (the next id)", "unknown"])
def test_an_unknown_parent_is_refused(ledger, commitment, registrar, commitment_input, parent_id):
    with brownie.reverts(f"LedgerUnknownCommitment: {parent_id}"):
        ledger.registerCommitment(commitment_input(externalRef="RB-2", parentId=parent_id, weight=1), {"from": registrar})


def test_a_parent_of_another_municipality_is_refused(ledger, commitment, utrecht, registrar, other_registrar, commitment_input):
    with brownie.reverts(f"LedgerParentInOtherMunicipality: {commitment}, {BAARN_ID}, {utrecht}"):
        ledger.registerCommitment(commitment_input(municipalityId=utrecht, parentId=commitment, weight=1), {"from": other_registrar})


def test_a_withdrawn_parent_is_refused(ledger, commitment, registrar, commitment_input):
    ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})
    with brownie.reverts(f"LedgerCommitmentWithdrawn: {commitment}"):
        ledger.registerCommitment(commitment_input(externalRef="RB-2", parentId=commitment, weight=1), {"from": registrar})


def test_a_sub_commitment_may_have_sub_commitments_of_its_own(ledger, commitment, registrar, commitment_input):
    child = ledger.registerCommitment(commitment_input(externalRef="RB-2", parentId=commitment, weight=2), {"from": registrar}).return_value

    tx = ledger.registerCommitment(commitment_input(externalRef="RB-3", parentId=child, weight=1), {"from": registrar})

    assert (tx.return_value, tx.events["CommitmentRegistered"]["parentId"]) == (3, child)


def test_a_parent_may_have_many_children_of_different_weights(ledger, commitment, registrar, commitment_input):
    weights = [1, 3, MAX_WEIGHT]
    events = [
        ledger.registerCommitment(commitment_input(externalRef=f"RB-c{i}", parentId=commitment, weight=w), {"from": registrar})
        .events["CommitmentRegistered"]
        for i, w in enumerate(weights)
    ]
    assert [(e["commitmentId"], e["parentId"], e["weight"]) for e in events] == [(2, 1, 1), (3, 1, 3), (4, 1, MAX_WEIGHT)]


def test_withdrawing_a_parent_leaves_its_children_open(ledger, commitment, registrar, commitment_input, status):
    child = ledger.registerCommitment(commitment_input(externalRef="RB-2", parentId=commitment, weight=2), {"from": registrar}).return_value

    ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})

    assert status(commitment)[0] == WITHDRAWN
    assert status(child) == (PENDING, 0, COMMITMENT_TARGET, 0, 0)


def test_a_withdrawn_child_does_not_stop_its_parent_getting_children(ledger, commitment, registrar, commitment_input):
    child = ledger.registerCommitment(commitment_input(externalRef="RB-2", parentId=commitment, weight=2), {"from": registrar}).return_value
    ledger.withdrawCommitment(child, WITHDRAWAL_REASON, {"from": registrar})

    tx = ledger.registerCommitment(commitment_input(externalRef="RB-3", parentId=commitment, weight=2), {"from": registrar})

    assert tx.events["CommitmentRegistered"]["parentId"] == commitment


def test_the_weight_is_checked_before_the_parent(ledger, baarn, registrar, commitment_input):
    # an unknown parent with weight 0 is refused for its weight first
    with brownie.reverts(f"LedgerInvalidWeight: {UNKNOWN_ID}, 0, {MAX_WEIGHT}"):
        ledger.registerCommitment(commitment_input(parentId=UNKNOWN_ID, weight=0), {"from": registrar})
