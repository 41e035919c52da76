"""recordDelivery: one DeliveryRecorded, then one EvidenceCited per evidence hash, in order."""

import brownie
import pytest
from brownie import web3
from eth_utils import event_abi_to_log_topic

from constants import (
    BAARN_ID,
    DAY,
    DELIVERY_NOTE,
    DELIVERY_QUANTITY,
    DELIVERY_REF,
    EVIDENCE,
    EVIDENCE_URI,
    MAX_EVIDENCE,
    MAX_NOTE,
    MAX_QUANTITY,
    MAX_REF,
    MAX_URI,
    REVOCATION_REASON,
    UNKNOWN_ID,
    ZERO_HASH,
)

NOT_BAARN_REGISTRARS = ["platform_admin", "council_admin", "other_admin", "other_registrar", "stranger"]
TEXT_LIMITS = [("evidenceUri", MAX_URI), ("note", MAX_NOTE), ("externalRef", MAX_REF)]


def test_registrar_can_record_delivery(ledger, commitment, registrar, delivery_input, clock):
    delivered_at = clock.start
    evidence = list(EVIDENCE[:3])

    tx = ledger.recordDelivery(
        commitment,
        delivery_input(deliveredAt=delivered_at, evidenceHashes=evidence, externalRef=DELIVERY_REF),
        {"from": registrar},
    )

    assert tx.return_value == 1
    assert len(tx.events) == 1 + len(evidence)
    assert tx.events["DeliveryRecorded"] == {
        "deliveryId": 1,
        "commitmentId": commitment,
        "registrar": registrar,
        "quantity": DELIVERY_QUANTITY,
        "deliveredAt": delivered_at,
        "evidenceHashes": tuple(evidence),
        "evidenceUri": EVIDENCE_URI,
        "note": DELIVERY_NOTE,
        "externalRef": DELIVERY_REF,
    }
    assert [event.name for event in tx.events] == ["DeliveryRecorded"] + ["EvidenceCited"] * len(evidence)
    assert [dict(event) for event in tx.events["EvidenceCited"]] == [
        {"evidenceHash": evidence_hash, "deliveryId": 1, "commitmentId": commitment} for evidence_hash in evidence
    ]


def test_delivery_with_maximum_evidence_cites_every_hash_in_order(ledger, commitment, registrar, delivery_input):
    evidence = list(EVIDENCE[:MAX_EVIDENCE])

    tx = ledger.recordDelivery(commitment, delivery_input(evidenceHashes=evidence), {"from": registrar})

    assert len(tx.events) == 1 + MAX_EVIDENCE
    assert tx.events["DeliveryRecorded"]["evidenceHashes"] == tuple(evidence)
    assert [event["evidenceHash"] for event in tx.events["EvidenceCited"]] == evidence


def test_delivery_ids_count_up_across_commitments(ledger, commitment, utrecht, other_registrar, commitment_input, delivery_input, deliver, clock):
    deliver(commitment, 10, clock.start)
    other = ledger.registerCommitment(commitment_input(municipalityId=utrecht), {"from": other_registrar}).return_value

    tx = ledger.recordDelivery(other, delivery_input(), {"from": other_registrar})

    assert tx.return_value == 2
    assert tx.events["DeliveryRecorded"]["deliveryId"] == 2
    assert tx.events["EvidenceCited"][0]["deliveryId"] == 2
    assert tuple(ledger.counts()) == (2, 2, 2)


def test_deliveries_citing_a_document_can_be_found_by_its_hash(ledger, commitment, deliver, clock):
    document = EVIDENCE[0]
    deliver(commitment, 10, clock.start, evidenceHashes=[document, EVIDENCE[1]])
    deliver(commitment, 10, clock.start, evidenceHashes=[EVIDENCE[2]])
    deliver(commitment, 10, clock.start, evidenceHashes=[EVIDENCE[3], document])
    evidence_cited = next(abi for abi in ledger.abi if abi.get("name") == "EvidenceCited")

    logs = web3.eth.get_logs(
        {
            "address": ledger.address,
            "fromBlock": 0,
            "toBlock": "latest",
            "topics": ["0x" + event_abi_to_log_topic(evidence_cited).hex(), document],
        }
    )

    assert [int.from_bytes(log["topics"][2], "big") for log in logs] == [1, 3]


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

    assert first.events["EvidenceCited"]["evidenceHash"] == EVIDENCE[0]
    assert [e["evidenceHash"] for e in second.events["EvidenceCited"]] == [EVIDENCE[0], EVIDENCE[1]]
    assert second.events["EvidenceCited"][0]["deliveryId"] == first.return_value + 1


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
    with brownie.reverts(f"LedgerDuplicateDeliveryRef: {commitment}, {DELIVERY_REF}, 1"):
        ledger.recordDelivery(commitment, delivery_input(externalRef=DELIVERY_REF, quantity=1), {"from": registrar})


def test_duplicate_delivery_ref_error_names_the_delivery_holding_the_ref(ledger, commitment, registrar, delivery_input):
    ledger.recordDelivery(commitment, delivery_input(externalRef="OPL-1"), {"from": registrar})
    ledger.recordDelivery(commitment, delivery_input(externalRef="OPL-2"), {"from": registrar})
    with brownie.reverts(f"LedgerDuplicateDeliveryRef: {commitment}, OPL-2, 2"):
        ledger.recordDelivery(commitment, delivery_input(externalRef="OPL-2"), {"from": registrar})


def test_same_delivery_ref_on_another_commitment_is_accepted(ledger, commitment, registrar, commitment_input, delivery_input):
    other = ledger.registerCommitment(commitment_input(externalRef="RB-2"), {"from": registrar}).return_value
    ledger.recordDelivery(commitment, delivery_input(externalRef=DELIVERY_REF), {"from": registrar})

    tx = ledger.recordDelivery(other, delivery_input(externalRef=DELIVERY_REF), {"from": registrar})

    assert tx.events["DeliveryRecorded"]["commitmentId"] == other


def test_deliveries_without_ref_never_collide(ledger, commitment, registrar, delivery_input):
    ledger.recordDelivery(commitment, delivery_input(externalRef=""), {"from": registrar})

    tx = ledger.recordDelivery(commitment, delivery_input(externalRef=""), {"from": registrar})

    assert tx.return_value == 2


def test_ref_of_a_revoked_delivery_stays_taken(ledger, commitment, registrar, delivery_input):
    ledger.recordDelivery(commitment, delivery_input(externalRef=DELIVERY_REF), {"from": registrar})
    ledger.revokeDelivery(1, REVOCATION_REASON, {"from": registrar})
    with brownie.reverts(f"LedgerDuplicateDeliveryRef: {commitment}, {DELIVERY_REF}, 1"):
        ledger.recordDelivery(commitment, delivery_input(externalRef=DELIVERY_REF), {"from": registrar})
