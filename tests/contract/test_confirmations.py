"""Confirmers: addConfirmer / removeConfirmer / isConfirmer, and their verdicts on recorded
deliveries (confirmDelivery, disputeDelivery, verdictOf) and batched ones
(confirmBatchedDelivery, disputeBatchedDelivery, batchedVerdictOf).

A confirmer (an inspector, an accountant) is appointed by the municipality's admin and reviews
deliveries it did not record itself; its latest verdict stands, may be flipped but not repeated,
and stays when the role is removed (docs/LEDGER.md "Confirmations"). Verdicts are
ICommitmentLedger.Verdict: None 0, Confirmed 1, Disputed 2 (custom errors render it as its number).
"""

import brownie
import pytest

from constants import (
    BAARN_ID,
    BATCH_REVOCATION_REASON,
    CONFIRMATION_EVIDENCE,
    CONFIRMED,
    DAY,
    DISPUTE_REASON,
    DISPUTED,
    MAX_REASON,
    NO_VERDICT,
    NOT_BAARN_ADMINS,
    NOT_BAARN_CONFIRMERS,
    REVOCATION_REASON,
    UNKNOWN_DELIVERY_ID,
    UNKNOWN_ID,
    UTRECHT_ID,
    WITHDRAWAL_REASON,
    ZERO_ADDRESS,
    ZERO_HASH,
    delivery_id,
)
from standard_tree import StandardTree, as_error_arg


@pytest.fixture
def delivery(commitment, deliver, clock):
    """Id of a delivery of 50 homes against the Baarn commitment, recorded by its registrar."""
    return deliver(commitment, 50, clock.start).return_value


def _leaf(batch, index=0):
    """(root, leaf, proof) of one leaf of the anchored `batch`."""
    return batch.root, batch.leaves[index], batch.proof(index)


# ------------------------------------------------------------------ addConfirmer, removeConfirmer


def test_municipality_admin_can_add_confirmer(ledger, baarn, council_admin, newcomer):
    tx = ledger.addConfirmer(baarn, newcomer, {"from": council_admin})

    assert len(tx.events) == 1
    assert tx.events["ConfirmerAdded"] == {"municipalityId": baarn, "account": newcomer, "by": council_admin}
    assert ledger.isConfirmer(baarn, newcomer)
    assert not ledger.isRegistrar(baarn, newcomer)


@pytest.mark.parametrize("role", NOT_BAARN_ADMINS)
def test_account_other_than_municipality_admin_cannot_add_confirmer(ledger, utrecht, newcomer, role, request):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"LedgerNotMunicipalityAdmin: {BAARN_ID}, {caller.address.lower()}"):
        ledger.addConfirmer(BAARN_ID, newcomer, {"from": caller})


def test_adding_an_existing_confirmer_is_refused(ledger, confirmer, council_admin):
    with brownie.reverts(f"LedgerConfirmerUnchanged: {BAARN_ID}, {confirmer.address.lower()}, True"):
        ledger.addConfirmer(BAARN_ID, confirmer, {"from": council_admin})


def test_zero_address_cannot_become_confirmer(ledger, baarn, council_admin):
    with brownie.reverts("LedgerZeroAddress: "):
        ledger.addConfirmer(baarn, ZERO_ADDRESS, {"from": council_admin})


@pytest.mark.parametrize("municipality_id", [0, UNKNOWN_ID])
def test_confirmer_cannot_be_added_to_unknown_municipality(ledger, baarn, council_admin, newcomer, municipality_id):
    with brownie.reverts(f"LedgerUnknownMunicipality: {municipality_id}"):
        ledger.addConfirmer(municipality_id, newcomer, {"from": council_admin})


def test_a_registrar_may_also_be_confirmer(ledger, baarn, council_admin, registrar):
    ledger.addConfirmer(baarn, registrar, {"from": council_admin})
    assert ledger.isConfirmer(baarn, registrar) and ledger.isRegistrar(baarn, registrar)


def test_confirmer_of_one_municipality_is_not_confirmer_of_another(ledger, confirmer, utrecht):
    assert ledger.isConfirmer(BAARN_ID, confirmer)
    assert not ledger.isConfirmer(utrecht, confirmer)


def test_municipality_admin_can_remove_confirmer(ledger, confirmer, council_admin):
    tx = ledger.removeConfirmer(BAARN_ID, confirmer, {"from": council_admin})

    assert len(tx.events) == 1
    assert tx.events["ConfirmerRemoved"] == {"municipalityId": BAARN_ID, "account": confirmer, "by": council_admin}
    assert not ledger.isConfirmer(BAARN_ID, confirmer)


@pytest.mark.parametrize("role", NOT_BAARN_ADMINS)
def test_account_other_than_municipality_admin_cannot_remove_confirmer(ledger, confirmer, utrecht, role, request):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"LedgerNotMunicipalityAdmin: {BAARN_ID}, {caller.address.lower()}"):
        ledger.removeConfirmer(BAARN_ID, confirmer, {"from": caller})


def test_removing_an_account_that_is_not_confirmer_is_refused(ledger, baarn, council_admin, newcomer):
    with brownie.reverts(f"LedgerConfirmerUnchanged: {baarn}, {newcomer.address.lower()}, False"):
        ledger.removeConfirmer(baarn, newcomer, {"from": council_admin})


def test_removed_confirmer_can_be_added_again(ledger, confirmer, council_admin):
    ledger.removeConfirmer(BAARN_ID, confirmer, {"from": council_admin})

    tx = ledger.addConfirmer(BAARN_ID, confirmer, {"from": council_admin})

    assert tx.events["ConfirmerAdded"] == {"municipalityId": BAARN_ID, "account": confirmer, "by": council_admin}
    assert ledger.isConfirmer(BAARN_ID, confirmer)


def test_confirmer_role_gives_no_registrar_write(ledger, commitment, confirmer, delivery_input):
    with brownie.reverts(f"LedgerNotRegistrar: {BAARN_ID}, {confirmer.address.lower()}"):
        ledger.recordDelivery(commitment, delivery_input(), {"from": confirmer})


# ------------------------------------------------------------------ confirmDelivery, disputeDelivery


def test_confirmer_can_confirm_a_delivery(ledger, delivery, commitment, confirmer, clock):
    clock.next_block_at(clock.start + DAY)

    tx = ledger.confirmDelivery(delivery, CONFIRMATION_EVIDENCE, {"from": confirmer})

    assert len(tx.events) == 1
    assert tx.events["DeliveryConfirmed"] == {
        "deliveryId": delivery,
        "commitmentId": commitment,
        "confirmer": confirmer,
        "evidenceHash": CONFIRMATION_EVIDENCE,
        "confirmedAt": clock.start + DAY,
    }
    assert ledger.verdictOf(delivery, confirmer) == CONFIRMED


def test_confirmation_without_evidence_of_its_own_is_accepted(ledger, delivery, confirmer):
    tx = ledger.confirmDelivery(delivery, ZERO_HASH, {"from": confirmer})
    assert tx.events["DeliveryConfirmed"]["evidenceHash"] == ZERO_HASH


def test_confirmer_can_dispute_a_delivery(ledger, delivery, commitment, confirmer, clock):
    clock.next_block_at(clock.start + DAY)

    tx = ledger.disputeDelivery(delivery, DISPUTE_REASON, {"from": confirmer})

    assert len(tx.events) == 1
    assert tx.events["DeliveryDisputed"] == {
        "deliveryId": delivery,
        "commitmentId": commitment,
        "confirmer": confirmer,
        "reason": DISPUTE_REASON,
        "disputedAt": clock.start + DAY,
    }
    assert ledger.verdictOf(delivery, confirmer) == DISPUTED


def test_a_delivery_without_verdicts_has_none(ledger, delivery, confirmer, stranger):
    assert ledger.verdictOf(delivery, confirmer) == NO_VERDICT
    assert ledger.verdictOf(UNKNOWN_DELIVERY_ID, stranger) == NO_VERDICT


def test_verdicts_change_neither_status_nor_state(ledger, delivery, commitment, confirmer, status, state):
    before = (status(commitment), state(commitment))
    ledger.disputeDelivery(delivery, DISPUTE_REASON, {"from": confirmer})
    assert (status(commitment), state(commitment)) == before


@pytest.mark.parametrize("verdict", ["confirm", "dispute"])
@pytest.mark.parametrize("role", NOT_BAARN_CONFIRMERS)
def test_account_that_is_not_confirmer_of_the_municipality_cannot_give_a_verdict(ledger, delivery, role, verdict, request):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"LedgerNotConfirmer: {BAARN_ID}, {caller.address.lower()}"):
        if verdict == "confirm":
            ledger.confirmDelivery(delivery, CONFIRMATION_EVIDENCE, {"from": caller})
        else:
            ledger.disputeDelivery(delivery, DISPUTE_REASON, {"from": caller})


@pytest.mark.parametrize("verdict", ["confirm", "dispute"])
def test_registrar_who_recorded_a_delivery_cannot_review_it_even_as_confirmer(ledger, delivery, council_admin, registrar, verdict):
    ledger.addConfirmer(BAARN_ID, registrar, {"from": council_admin})
    with brownie.reverts(f"LedgerSelfConfirmation: {registrar.address.lower()}"):
        if verdict == "confirm":
            ledger.confirmDelivery(delivery, CONFIRMATION_EVIDENCE, {"from": registrar})
        else:
            ledger.disputeDelivery(delivery, DISPUTE_REASON, {"from": registrar})


def test_another_registrar_who_is_confirmer_can_confirm_a_colleagues_delivery(ledger, delivery, council_admin, newcomer):
    ledger.addRegistrar(BAARN_ID, newcomer, {"from": council_admin})
    ledger.addConfirmer(BAARN_ID, newcomer, {"from": council_admin})

    tx = ledger.confirmDelivery(delivery, CONFIRMATION_EVIDENCE, {"from": newcomer})

    assert tx.events["DeliveryConfirmed"]["confirmer"] == newcomer


def test_the_recorder_stays_the_recorder_after_losing_the_registrar_role(ledger, delivery, council_admin, registrar):
    ledger.removeRegistrar(BAARN_ID, registrar, {"from": council_admin})
    ledger.addConfirmer(BAARN_ID, registrar, {"from": council_admin})
    with brownie.reverts(f"LedgerSelfConfirmation: {registrar.address.lower()}"):
        ledger.confirmDelivery(delivery, CONFIRMATION_EVIDENCE, {"from": registrar})


@pytest.mark.parametrize("verdict", ["confirm", "dispute"])
def test_a_revoked_delivery_cannot_be_reviewed(ledger, delivery, registrar, confirmer, verdict):
    ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})
    with brownie.reverts(f"LedgerDeliveryAlreadyRevoked: {delivery}"):
        if verdict == "confirm":
            ledger.confirmDelivery(delivery, CONFIRMATION_EVIDENCE, {"from": confirmer})
        else:
            ledger.disputeDelivery(delivery, DISPUTE_REASON, {"from": confirmer})


def test_a_verdict_given_before_revocation_stays(ledger, delivery, registrar, confirmer):
    ledger.confirmDelivery(delivery, CONFIRMATION_EVIDENCE, {"from": confirmer})
    ledger.revokeDelivery(delivery, REVOCATION_REASON, {"from": registrar})
    assert ledger.verdictOf(delivery, confirmer) == CONFIRMED


@pytest.mark.parametrize("unknown", ["zero", "next number", "delivery number 0", "unknown commitment"])
@pytest.mark.parametrize("verdict", ["confirm", "dispute"])
def test_an_unknown_delivery_cannot_be_reviewed(ledger, delivery, commitment, confirmer, unknown, verdict):
    unknown_id = {
        "zero": 0,
        "next number": delivery_id(commitment, 2),
        "delivery number 0": delivery_id(commitment, 0),
        "unknown commitment": UNKNOWN_DELIVERY_ID,
    }[unknown]
    with brownie.reverts(f"LedgerUnknownDelivery: {unknown_id}"):
        if verdict == "confirm":
            ledger.confirmDelivery(unknown_id, CONFIRMATION_EVIDENCE, {"from": confirmer})
        else:
            ledger.disputeDelivery(unknown_id, DISPUTE_REASON, {"from": confirmer})


def test_confirming_twice_is_refused(ledger, delivery, confirmer):
    ledger.confirmDelivery(delivery, CONFIRMATION_EVIDENCE, {"from": confirmer})
    with brownie.reverts(f"LedgerVerdictUnchanged: {confirmer.address.lower()}, {CONFIRMED}"):
        ledger.confirmDelivery(delivery, ZERO_HASH, {"from": confirmer})


def test_disputing_twice_is_refused_even_with_another_reason(ledger, delivery, confirmer):
    ledger.disputeDelivery(delivery, DISPUTE_REASON, {"from": confirmer})
    with brownie.reverts(f"LedgerVerdictUnchanged: {confirmer.address.lower()}, {DISPUTED}"):
        ledger.disputeDelivery(delivery, "Ook de isolatie ontbreekt", {"from": confirmer})


def test_a_confirmer_may_flip_its_verdict_from_confirmed_to_disputed_and_back(ledger, delivery, confirmer):
    ledger.confirmDelivery(delivery, CONFIRMATION_EVIDENCE, {"from": confirmer})

    disputed = ledger.disputeDelivery(delivery, DISPUTE_REASON, {"from": confirmer})
    assert ledger.verdictOf(delivery, confirmer) == DISPUTED
    confirmed = ledger.confirmDelivery(delivery, ZERO_HASH, {"from": confirmer})

    assert disputed.events["DeliveryDisputed"]["reason"] == DISPUTE_REASON
    assert confirmed.events["DeliveryConfirmed"]["evidenceHash"] == ZERO_HASH
    assert ledger.verdictOf(delivery, confirmer) == CONFIRMED


def test_verdicts_are_kept_per_confirmer_and_per_delivery(ledger, delivery, commitment, confirmer, council_admin, newcomer, deliver, clock):
    other_delivery = deliver(commitment, 10, clock.start).return_value
    ledger.addConfirmer(BAARN_ID, newcomer, {"from": council_admin})

    ledger.confirmDelivery(delivery, CONFIRMATION_EVIDENCE, {"from": confirmer})
    ledger.disputeDelivery(delivery, DISPUTE_REASON, {"from": newcomer})

    assert (ledger.verdictOf(delivery, confirmer), ledger.verdictOf(delivery, newcomer)) == (CONFIRMED, DISPUTED)
    assert (ledger.verdictOf(other_delivery, confirmer), ledger.verdictOf(other_delivery, newcomer)) == (NO_VERDICT, NO_VERDICT)


def test_a_removed_confirmers_verdict_stays_and_it_gives_no_new_one(ledger, delivery, confirmer, council_admin):
    ledger.disputeDelivery(delivery, DISPUTE_REASON, {"from": confirmer})

    ledger.removeConfirmer(BAARN_ID, confirmer, {"from": council_admin})

    assert ledger.verdictOf(delivery, confirmer) == DISPUTED
    with brownie.reverts(f"LedgerNotConfirmer: {BAARN_ID}, {confirmer.address.lower()}"):
        ledger.confirmDelivery(delivery, CONFIRMATION_EVIDENCE, {"from": confirmer})


def test_a_delivery_of_a_withdrawn_commitment_can_still_be_reviewed(ledger, delivery, commitment, registrar, confirmer):
    ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})

    tx = ledger.disputeDelivery(delivery, DISPUTE_REASON, {"from": confirmer})

    assert tx.events["DeliveryDisputed"]["commitmentId"] == commitment


def test_confirmer_of_another_municipality_cannot_review_its_deliveries(ledger, delivery, other_confirmer):
    with brownie.reverts(f"LedgerNotConfirmer: {BAARN_ID}, {other_confirmer.address.lower()}"):
        ledger.confirmDelivery(delivery, CONFIRMATION_EVIDENCE, {"from": other_confirmer})


def test_dispute_without_reason_is_refused(ledger, delivery, confirmer):
    with brownie.reverts("LedgerEmptyText: reason"):
        ledger.disputeDelivery(delivery, "", {"from": confirmer})


def test_dispute_reason_of_maximum_length_is_accepted(ledger, delivery, confirmer):
    reason = "r" * MAX_REASON
    tx = ledger.disputeDelivery(delivery, reason, {"from": confirmer})
    assert tx.events["DeliveryDisputed"]["reason"] == reason


def test_dispute_reason_one_byte_too_long_is_refused(ledger, delivery, confirmer):
    with brownie.reverts(f"LedgerTextTooLong: reason, {MAX_REASON + 1}, {MAX_REASON}"):
        ledger.disputeDelivery(delivery, "r" * (MAX_REASON + 1), {"from": confirmer})


# ------------------------------------------------------------------ batched deliveries


def test_confirmer_can_confirm_a_batched_delivery(ledger, batch, commitment, confirmer, clock):
    clock.next_block_at(clock.start + DAY)

    tx = ledger.confirmBatchedDelivery(*_leaf(batch, 1), CONFIRMATION_EVIDENCE, {"from": confirmer})

    assert len(tx.events) == 1
    assert tx.events["BatchedDeliveryConfirmed"] == {
        "root": batch.root,
        "leafHash": batch.leaf_hash(1),
        "confirmer": confirmer,
        "commitmentId": commitment,
        "evidenceHash": CONFIRMATION_EVIDENCE,
        "confirmedAt": clock.start + DAY,
    }
    assert ledger.batchedVerdictOf(batch.root, batch.leaf_hash(1), confirmer) == CONFIRMED
    assert ledger.batchedVerdictOf(batch.root, batch.leaf_hash(2), confirmer) == NO_VERDICT


def test_confirmer_can_dispute_a_batched_delivery(ledger, batch, commitment, confirmer, clock):
    clock.next_block_at(clock.start + DAY)

    tx = ledger.disputeBatchedDelivery(*_leaf(batch, 2), DISPUTE_REASON, {"from": confirmer})

    assert len(tx.events) == 1
    assert tx.events["BatchedDeliveryDisputed"] == {
        "root": batch.root,
        "leafHash": batch.leaf_hash(2),
        "confirmer": confirmer,
        "commitmentId": commitment,
        "reason": DISPUTE_REASON,
        "disputedAt": clock.start + DAY,
    }
    assert ledger.batchedVerdictOf(batch.root, batch.leaf_hash(2), confirmer) == DISPUTED


@pytest.mark.parametrize("verdict", ["confirm", "dispute"])
@pytest.mark.parametrize("role", NOT_BAARN_CONFIRMERS)
def test_account_that_is_not_confirmer_cannot_review_a_batched_delivery(ledger, batch, utrecht, role, verdict, request):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"LedgerNotConfirmer: {BAARN_ID}, {caller.address.lower()}"):
        if verdict == "confirm":
            ledger.confirmBatchedDelivery(*_leaf(batch), CONFIRMATION_EVIDENCE, {"from": caller})
        else:
            ledger.disputeBatchedDelivery(*_leaf(batch), DISPUTE_REASON, {"from": caller})


@pytest.mark.parametrize("verdict", ["confirm", "dispute"])
def test_registrar_who_anchored_a_batch_cannot_review_its_deliveries_even_as_confirmer(
    ledger, batch, council_admin, registrar, verdict
):
    ledger.addConfirmer(BAARN_ID, registrar, {"from": council_admin})
    with brownie.reverts(f"LedgerSelfConfirmation: {registrar.address.lower()}"):
        if verdict == "confirm":
            ledger.confirmBatchedDelivery(*_leaf(batch), CONFIRMATION_EVIDENCE, {"from": registrar})
        else:
            ledger.disputeBatchedDelivery(*_leaf(batch), DISPUTE_REASON, {"from": registrar})


def test_another_registrar_who_is_confirmer_can_confirm_a_colleagues_batched_delivery(ledger, batch, council_admin, newcomer):
    ledger.addRegistrar(BAARN_ID, newcomer, {"from": council_admin})
    ledger.addConfirmer(BAARN_ID, newcomer, {"from": council_admin})

    tx = ledger.confirmBatchedDelivery(*_leaf(batch), CONFIRMATION_EVIDENCE, {"from": newcomer})

    assert tx.events["BatchedDeliveryConfirmed"]["confirmer"] == newcomer


@pytest.mark.parametrize("verdict", ["confirm", "dispute"])
def test_a_revoked_batched_delivery_cannot_be_reviewed(ledger, batch, registrar, confirmer, verdict):
    ledger.revokeBatchedDelivery(*_leaf(batch), BATCH_REVOCATION_REASON, {"from": registrar})
    with brownie.reverts(f"LedgerBatchedDeliveryRevoked: {as_error_arg(batch.root)}, {as_error_arg(batch.leaf_hash(0))}"):
        if verdict == "confirm":
            ledger.confirmBatchedDelivery(*_leaf(batch), CONFIRMATION_EVIDENCE, {"from": confirmer})
        else:
            ledger.disputeBatchedDelivery(*_leaf(batch), DISPUTE_REASON, {"from": confirmer})


def test_reviewing_a_batched_delivery_with_a_bad_proof_is_refused(ledger, batch, confirmer):
    with brownie.reverts(f"LedgerInvalidProof: {as_error_arg(batch.root)}, {as_error_arg(batch.leaf_hash(0))}"):
        ledger.confirmBatchedDelivery(batch.root, batch.leaves[0], batch.proof(3), CONFIRMATION_EVIDENCE, {"from": confirmer})


def test_reviewing_in_an_unknown_batch_is_refused(ledger, tree, confirmer):
    with brownie.reverts(f"LedgerUnknownBatch: {as_error_arg(tree.root)}"):
        ledger.disputeBatchedDelivery(*_leaf(tree), DISPUTE_REASON, {"from": confirmer})


def test_reviewing_a_leaf_of_another_municipalitys_commitment_is_refused(
    ledger, commitment, utrecht, registrar, other_registrar, confirmer, commitment_input, batch_input, batch_leaf
):
    utrecht_commitment = ledger.registerCommitment(commitment_input(municipalityId=utrecht), {"from": other_registrar}).return_value
    mixed = StandardTree([batch_leaf(), batch_leaf(commitmentId=utrecht_commitment)])
    ledger.anchorBatch(batch_input(mixed.root, 2), {"from": registrar})

    with brownie.reverts(f"LedgerLeafInOtherMunicipality: {as_error_arg(mixed.root)}, {utrecht_commitment}, {BAARN_ID}"):
        ledger.confirmBatchedDelivery(*_leaf(mixed, 1), CONFIRMATION_EVIDENCE, {"from": confirmer})


def test_confirming_a_batched_delivery_twice_is_refused(ledger, batch, confirmer):
    ledger.confirmBatchedDelivery(*_leaf(batch), CONFIRMATION_EVIDENCE, {"from": confirmer})
    with brownie.reverts(f"LedgerVerdictUnchanged: {confirmer.address.lower()}, {CONFIRMED}"):
        ledger.confirmBatchedDelivery(*_leaf(batch), ZERO_HASH, {"from": confirmer})


def test_disputing_a_batched_delivery_twice_is_refused(ledger, batch, confirmer):
    ledger.disputeBatchedDelivery(*_leaf(batch), DISPUTE_REASON, {"from": confirmer})
    with brownie.reverts(f"LedgerVerdictUnchanged: {confirmer.address.lower()}, {DISPUTED}"):
        ledger.disputeBatchedDelivery(*_leaf(batch), DISPUTE_REASON, {"from": confirmer})


def test_a_confirmer_may_flip_its_verdict_on_a_batched_delivery(ledger, batch, confirmer):
    ledger.disputeBatchedDelivery(*_leaf(batch), DISPUTE_REASON, {"from": confirmer})
    ledger.confirmBatchedDelivery(*_leaf(batch), CONFIRMATION_EVIDENCE, {"from": confirmer})
    assert ledger.batchedVerdictOf(batch.root, batch.leaf_hash(0), confirmer) == CONFIRMED
    ledger.disputeBatchedDelivery(*_leaf(batch), DISPUTE_REASON, {"from": confirmer})
    assert ledger.batchedVerdictOf(batch.root, batch.leaf_hash(0), confirmer) == DISPUTED


def test_a_removed_confirmers_batched_verdict_stays(ledger, batch, confirmer, council_admin):
    ledger.confirmBatchedDelivery(*_leaf(batch), CONFIRMATION_EVIDENCE, {"from": confirmer})

    ledger.removeConfirmer(BAARN_ID, confirmer, {"from": council_admin})

    assert ledger.batchedVerdictOf(batch.root, batch.leaf_hash(0), confirmer) == CONFIRMED
    with brownie.reverts(f"LedgerNotConfirmer: {BAARN_ID}, {confirmer.address.lower()}"):
        ledger.disputeBatchedDelivery(*_leaf(batch), DISPUTE_REASON, {"from": confirmer})


def test_verdicts_on_the_same_leaf_in_two_batches_are_kept_apart(ledger, batch, registrar, confirmer, batch_input, batch_leaf):
    again = StandardTree([batch.leaves[0], batch_leaf(quantity=77)])
    ledger.anchorBatch(batch_input(again.root, 2), {"from": registrar})

    ledger.confirmBatchedDelivery(*_leaf(batch), CONFIRMATION_EVIDENCE, {"from": confirmer})

    assert ledger.batchedVerdictOf(again.root, batch.leaf_hash(0), confirmer) == NO_VERDICT
    ledger.disputeBatchedDelivery(*_leaf(again), DISPUTE_REASON, {"from": confirmer})  # not "unchanged"
    assert ledger.batchedVerdictOf(batch.root, batch.leaf_hash(0), confirmer) == CONFIRMED
    assert ledger.batchedVerdictOf(again.root, batch.leaf_hash(0), confirmer) == DISPUTED


def test_batched_dispute_without_reason_is_refused(ledger, batch, confirmer):
    with brownie.reverts("LedgerEmptyText: reason"):
        ledger.disputeBatchedDelivery(*_leaf(batch), "", {"from": confirmer})


def test_batched_dispute_reason_one_byte_too_long_is_refused(ledger, batch, confirmer):
    with brownie.reverts(f"LedgerTextTooLong: reason, {MAX_REASON + 1}, {MAX_REASON}"):
        ledger.disputeBatchedDelivery(*_leaf(batch), "r" * (MAX_REASON + 1), {"from": confirmer})


def test_utrecht_confirmer_reviews_utrechts_batch(ledger, utrecht, other_registrar, other_confirmer, commitment_input, batch_input, batch_leaf):
    utrecht_commitment = ledger.registerCommitment(commitment_input(municipalityId=utrecht), {"from": other_registrar}).return_value
    single = StandardTree([batch_leaf(commitmentId=utrecht_commitment)])
    ledger.anchorBatch(batch_input(single.root, 1, municipalityId=UTRECHT_ID), {"from": other_registrar})

    tx = ledger.confirmBatchedDelivery(single.root, single.leaves[0], [], ZERO_HASH, {"from": other_confirmer})

    assert tx.events["BatchedDeliveryConfirmed"]["commitmentId"] == utrecht_commitment
