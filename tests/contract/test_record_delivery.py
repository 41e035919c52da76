"""recordDelivery: one DeliveryRecorded with the whole record and both clocks.

Two clocks (docs/LEDGER.md): `deliveredAt` is claimed by the registrar (1..block time),
`recordedAt` is the block time. Ids are `commitmentId * 1_000_000 + n`. metOnRecordAt is the
block time of the delivery that makes the running total reach the target.

LedgerTooManyDeliveries (the 1,000,000th delivery of one commitment) is not tested: reaching it
takes 999,999 deliveries (about 10^11 gas); the bound is one comparison against MAX_DELIVERIES,
whose value test_deployment.py checks.
"""

import brownie
import pytest

from constants import (
    BAARN_ID,
    COMMITMENT_TARGET,
    DAY,
    DELIVERED,
    DELIVERED_LATE,
    DELIVERY_NOTE,
    DELIVERY_QUANTITY,
    DELIVERY_REF,
    EVIDENCE,
    EVIDENCE_URI,
    IN_PROGRESS,
    MAX_EVIDENCE,
    MAX_NOTE,
    MAX_QUANTITY,
    MAX_REF,
    MAX_URI,
    NOT_BAARN_REGISTRARS,
    REVOCATION_REASON,
    UNKNOWN_ID,
    ZERO_HASH,
    delivery_id,
)

TEXT_LIMITS = [("evidenceUri", MAX_URI), ("note", MAX_NOTE), ("externalRef", MAX_REF)]


def test_registrar_can_record_delivery(ledger, commitment, registrar, delivery_input, clock):
    evidence = list(EVIDENCE[:3])
    clock.next_block_at(clock.start + DAY)

    tx = ledger.recordDelivery(
        commitment,
        delivery_input(deliveredAt=clock.start - DAY, evidenceHashes=evidence, externalRef=DELIVERY_REF),
        {"from": registrar},
    )

    assert tx.return_value == delivery_id(commitment, 1) == 1_000_001
    assert len(tx.events) == 1
    assert tx.events["DeliveryRecorded"] == {
        "deliveryId": 1_000_001,
        "commitmentId": commitment,
        "registrar": registrar,
        "quantity": DELIVERY_QUANTITY,
        "deliveredAt": clock.start - DAY,
        "recordedAt": clock.start + DAY,
        "evidenceHashes": tuple(evidence),
        "evidenceUri": EVIDENCE_URI,
        "note": DELIVERY_NOTE,
        "externalRef": DELIVERY_REF,
        "assetRef": "",
    }


def test_recorded_delivery_counts_in_the_commitment_state(ledger, commitment, deliver, clock, state, status, promised_at, due_date):
    deliver(commitment, 50, clock.start)
    deliver(commitment, 70, clock.start)

    assert state(commitment) == (BAARN_ID, False, 0, 2, COMMITMENT_TARGET, promised_at, due_date, 120, 0)
    assert status(commitment) == (IN_PROGRESS, 120, COMMITMENT_TARGET, 6000, 0)


def test_delivery_with_maximum_evidence_carries_every_hash_in_order(ledger, commitment, registrar, delivery_input):
    evidence = list(EVIDENCE[:MAX_EVIDENCE])

    tx = ledger.recordDelivery(commitment, delivery_input(evidenceHashes=evidence), {"from": registrar})

    assert len(tx.events) == 1
    assert tx.events["DeliveryRecorded"]["evidenceHashes"] == tuple(evidence)


def test_delivery_ids_count_per_commitment(ledger, commitment, utrecht, other_registrar, commitment_input, delivery_input, deliver, clock):
    first = deliver(commitment, 10, clock.start).return_value
    second = deliver(commitment, 10, clock.start).return_value
    other = ledger.registerCommitment(commitment_input(municipalityId=utrecht), {"from": other_registrar}).return_value

    tx = ledger.recordDelivery(other, delivery_input(), {"from": other_registrar})

    assert (first, second) == (1_000_001, 1_000_002)
    assert tx.return_value == delivery_id(other, 1) == 2_000_001
    assert tx.events["DeliveryRecorded"]["deliveryId"] == 2_000_001
    assert tuple(ledger.counts()) == (2, 2)


def test_delivery_id_names_its_commitment(ledger, commitment, deliver, clock):
    delivery = deliver(commitment, 10, clock.start).return_value
    assert (delivery // ledger.DELIVERY_ID_BASE(), delivery % ledger.DELIVERY_ID_BASE()) == (commitment, 1)


def test_another_registrar_of_the_municipality_can_record_delivery(ledger, commitment, council_admin, newcomer, delivery_input):
    ledger.addRegistrar(BAARN_ID, newcomer, {"from": council_admin})

    tx = ledger.recordDelivery(commitment, delivery_input(), {"from": newcomer})

    assert tx.events["DeliveryRecorded"]["registrar"] == newcomer


@pytest.mark.parametrize("role", NOT_BAARN_REGISTRARS)
def test_account_that_is_not_registrar_of_the_municipality_cannot_record_delivery(
    ledger, commitment, utrecht, delivery_input, role, request
):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"LedgerNotRegistrar: {BAARN_ID}, {caller.address.lower()}"):
        ledger.recordDelivery(commitment, delivery_input(), {"from": caller})


def test_removed_registrar_cannot_record_delivery(ledger, commitment, council_admin, registrar, delivery_input):
    ledger.removeRegistrar(BAARN_ID, registrar, {"from": council_admin})
    with brownie.reverts(f"LedgerNotRegistrar: {BAARN_ID}, {registrar.address.lower()}"):
        ledger.recordDelivery(commitment, delivery_input(), {"from": registrar})


@pytest.mark.parametrize("commitment_id", [0, UNKNOWN_ID])
def test_delivery_against_unknown_commitment_is_refused(ledger, commitment, registrar, delivery_input, commitment_id):
    with brownie.reverts(f"LedgerUnknownCommitment: {commitment_id}"):
        ledger.recordDelivery(commitment_id, delivery_input(), {"from": registrar})


# ------------------------------------------------------------------ quantity and date


@pytest.mark.parametrize("quantity", [0, MAX_QUANTITY + 1])
def test_delivery_with_quantity_out_of_range_is_refused(ledger, commitment, registrar, delivery_input, quantity):
    with brownie.reverts(f"LedgerInvalidQuantity: {quantity}, {MAX_QUANTITY}"):
        ledger.recordDelivery(commitment, delivery_input(quantity=quantity), {"from": registrar})


@pytest.mark.parametrize("quantity", [1, MAX_QUANTITY])
def test_delivery_with_quantity_at_the_bounds_is_accepted(ledger, commitment, registrar, delivery_input, quantity):
    tx = ledger.recordDelivery(commitment, delivery_input(quantity=quantity), {"from": registrar})
    assert tx.events["DeliveryRecorded"]["quantity"] == quantity


def test_delivery_without_date_is_refused(ledger, commitment, registrar, delivery_input, clock):
    block_time = clock.start + DAY
    clock.next_block_at(block_time)
    with brownie.reverts(f"LedgerInvalidDeliveryDate: 0, {block_time}"):
        ledger.recordDelivery(commitment, delivery_input(deliveredAt=0), {"from": registrar})


def test_delivery_dated_after_the_block_time_is_refused(ledger, commitment, registrar, delivery_input, clock):
    block_time = clock.start + DAY
    clock.next_block_at(block_time)
    with brownie.reverts(f"LedgerInvalidDeliveryDate: {block_time + 1}, {block_time}"):
        ledger.recordDelivery(commitment, delivery_input(deliveredAt=block_time + 1), {"from": registrar})


def test_delivery_dated_at_the_block_time_is_accepted(ledger, commitment, registrar, delivery_input, clock):
    block_time = clock.start + DAY
    clock.next_block_at(block_time)

    tx = ledger.recordDelivery(commitment, delivery_input(deliveredAt=block_time), {"from": registrar})

    assert tx.timestamp == block_time
    assert tx.events["DeliveryRecorded"]["deliveredAt"] == block_time


def test_delivery_dated_before_registration_is_accepted(ledger, commitment, registrar, delivery_input, clock):
    tx = ledger.recordDelivery(commitment, delivery_input(deliveredAt=clock.start - 30 * DAY), {"from": registrar})
    assert tx.events["DeliveryRecorded"]["deliveredAt"] == clock.start - 30 * DAY


def test_delivery_dated_one_second_after_1970_is_accepted(ledger, commitment, registrar, delivery_input):
    tx = ledger.recordDelivery(commitment, delivery_input(deliveredAt=1), {"from": registrar})
    assert tx.events["DeliveryRecorded"]["deliveredAt"] == 1


# ------------------------------------------------------------------ metOnRecordAt: the block time, not the claimed date


def test_delivery_reaching_the_target_sets_met_on_record_at_to_its_block_time(ledger, commitment, registrar, delivery_input, clock, status):
    clock.next_block_at(clock.start + 10 * DAY)

    ledger.recordDelivery(commitment, delivery_input(quantity=COMMITMENT_TARGET, deliveredAt=clock.start), {"from": registrar})

    assert status(commitment) == (DELIVERED, COMMITMENT_TARGET, COMMITMENT_TARGET, 10_000, clock.start + 10 * DAY)


def test_met_on_record_at_is_the_block_time_of_the_delivery_that_completed_the_total(ledger, commitment, deliver, clock, status):
    deliver(commitment, 150, clock.start + DAY)
    completing = deliver(commitment, 50, clock.start + 2 * DAY)
    deliver(commitment, 100, clock.start + 3 * DAY)

    assert completing.timestamp == clock.start + 2 * DAY
    assert status(commitment) == (DELIVERED, 300, COMMITMENT_TARGET, 15_000, clock.start + 2 * DAY)


def test_delivery_claimed_before_the_due_date_but_recorded_after_it_is_delivered_late_on_record(
    ledger, commitment, registrar, delivery_input, clock, status, due_date
):
    clock.next_block_at(due_date + 1)

    tx = ledger.recordDelivery(commitment, delivery_input(quantity=COMMITMENT_TARGET, deliveredAt=due_date - DAY), {"from": registrar})

    event = tx.events["DeliveryRecorded"]
    assert (event["deliveredAt"], event["recordedAt"]) == (due_date - DAY, due_date + 1)
    assert status(commitment) == (DELIVERED_LATE, COMMITMENT_TARGET, COMMITMENT_TARGET, 10_000, due_date + 1)


# ------------------------------------------------------------------ evidence


@pytest.mark.parametrize("count", [0, MAX_EVIDENCE + 1])
def test_delivery_with_evidence_count_out_of_range_is_refused(ledger, commitment, registrar, delivery_input, count):
    with brownie.reverts(f"LedgerInvalidEvidenceCount: {count}, {MAX_EVIDENCE}"):
        ledger.recordDelivery(commitment, delivery_input(evidenceHashes=list(EVIDENCE[:count])), {"from": registrar})


@pytest.mark.parametrize("index", [0, 1])
def test_delivery_with_a_zero_evidence_hash_is_refused(ledger, commitment, registrar, delivery_input, index):
    evidence = list(EVIDENCE[:3])
    evidence[index] = ZERO_HASH
    with brownie.reverts(f"LedgerZeroEvidenceHash: {index}"):
        ledger.recordDelivery(commitment, delivery_input(evidenceHashes=evidence), {"from": registrar})


@pytest.mark.parametrize(("evidence", "index", "repeated"), [((0, 0), 1, 0), ((0, 1, 2, 1), 3, 1), ((2, 0, 1, 2), 3, 2)])
def test_delivery_citing_one_document_twice_is_refused(ledger, commitment, registrar, delivery_input, evidence, index, repeated):
    hashes = [EVIDENCE[i] for i in evidence]
    # brownie renders a bytes32 argument of a custom error as Python bytes
    with brownie.reverts(f"LedgerDuplicateEvidenceHash: {index}, {bytes.fromhex(EVIDENCE[repeated][2:])}"):
        ledger.recordDelivery(commitment, delivery_input(evidenceHashes=hashes), {"from": registrar})


def test_one_document_may_be_cited_by_two_deliveries(ledger, commitment, registrar, delivery_input):
    first = ledger.recordDelivery(commitment, delivery_input(evidenceHashes=[EVIDENCE[0]]), {"from": registrar})
    second = ledger.recordDelivery(commitment, delivery_input(evidenceHashes=[EVIDENCE[0], EVIDENCE[1]]), {"from": registrar})

    assert first.events["DeliveryRecorded"]["evidenceHashes"] == (EVIDENCE[0],)
    assert second.events["DeliveryRecorded"]["evidenceHashes"] == (EVIDENCE[0], EVIDENCE[1])
    assert second.return_value == first.return_value + 1


# ------------------------------------------------------------------ texts


@pytest.mark.parametrize("field, max_length", TEXT_LIMITS)
def test_delivery_text_of_maximum_length_is_accepted(ledger, commitment, registrar, delivery_input, field, max_length):
    text = "x" * max_length
    tx = ledger.recordDelivery(commitment, delivery_input(**{field: text}), {"from": registrar})
    assert tx.events["DeliveryRecorded"][field] == text


@pytest.mark.parametrize("field, max_length", TEXT_LIMITS)
def test_delivery_text_one_byte_too_long_is_refused(ledger, commitment, registrar, delivery_input, field, max_length):
    with brownie.reverts(f"LedgerTextTooLong: {field}, {max_length + 1}, {max_length}"):
        ledger.recordDelivery(commitment, delivery_input(**{field: "x" * (max_length + 1)}), {"from": registrar})


@pytest.mark.parametrize("field", ["evidenceUri", "note", "externalRef"])
def test_delivery_without_optional_text_is_accepted(ledger, commitment, registrar, delivery_input, field):
    tx = ledger.recordDelivery(commitment, delivery_input(**{field: ""}), {"from": registrar})
    assert tx.events["DeliveryRecorded"][field] == ""


# ------------------------------------------------------------------ external references


def test_delivery_with_ref_already_used_for_the_commitment_is_refused(ledger, commitment, registrar, delivery_input):
    ledger.recordDelivery(commitment, delivery_input(externalRef=DELIVERY_REF), {"from": registrar})
    with brownie.reverts(f"LedgerDuplicateDeliveryRef: {commitment}, {DELIVERY_REF}, {delivery_id(commitment, 1)}"):
        ledger.recordDelivery(commitment, delivery_input(externalRef=DELIVERY_REF, quantity=1), {"from": registrar})


def test_duplicate_delivery_ref_error_names_the_delivery_holding_the_ref(ledger, commitment, registrar, delivery_input):
    ledger.recordDelivery(commitment, delivery_input(externalRef="OPL-1"), {"from": registrar})
    ledger.recordDelivery(commitment, delivery_input(externalRef="OPL-2"), {"from": registrar})
    with brownie.reverts(f"LedgerDuplicateDeliveryRef: {commitment}, OPL-2, {delivery_id(commitment, 2)}"):
        ledger.recordDelivery(commitment, delivery_input(externalRef="OPL-2"), {"from": registrar})


def test_same_delivery_ref_on_another_commitment_is_accepted(ledger, commitment, registrar, commitment_input, delivery_input):
    other = ledger.registerCommitment(commitment_input(externalRef="RB-2"), {"from": registrar}).return_value
    ledger.recordDelivery(commitment, delivery_input(externalRef=DELIVERY_REF), {"from": registrar})

    tx = ledger.recordDelivery(other, delivery_input(externalRef=DELIVERY_REF), {"from": registrar})

    assert tx.events["DeliveryRecorded"]["commitmentId"] == other


def test_deliveries_without_ref_never_collide(ledger, commitment, registrar, delivery_input):
    ledger.recordDelivery(commitment, delivery_input(externalRef=""), {"from": registrar})

    tx = ledger.recordDelivery(commitment, delivery_input(externalRef=""), {"from": registrar})

    assert tx.return_value == delivery_id(commitment, 2)


def test_ref_of_a_revoked_delivery_stays_taken(ledger, commitment, registrar, delivery_input):
    ledger.recordDelivery(commitment, delivery_input(externalRef=DELIVERY_REF), {"from": registrar})
    ledger.revokeDelivery(delivery_id(commitment, 1), REVOCATION_REASON, {"from": registrar})
    with brownie.reverts(f"LedgerDuplicateDeliveryRef: {commitment}, {DELIVERY_REF}, {delivery_id(commitment, 1)}"):
        ledger.recordDelivery(commitment, delivery_input(externalRef=DELIVERY_REF), {"from": registrar})
