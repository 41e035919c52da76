"""registerCommitment and commitmentIdByRef."""

import brownie
import pytest

from constants import (
    BAARN_ID,
    COMMITMENT_DESCRIPTION,
    COMMITMENT_REF,
    COMMITMENT_TARGET,
    COMMITMENT_THEME,
    COMMITMENT_TITLE,
    COMMITMENT_UNIT,
    MAX_DESCRIPTION,
    MAX_QUANTITY,
    MAX_REF,
    MAX_THEME,
    MAX_TITLE,
    MAX_UNIT,
    MAX_URI,
    OVERDUE,
    SOURCE_DOCUMENT_HASH,
    SOURCE_URI,
    UNKNOWN_ID,
    UTRECHT_ID,
    ZERO_HASH,
)

NOT_BAARN_REGISTRARS = ["platform_admin", "council_admin", "other_admin", "other_registrar", "stranger"]
TEXT_LIMITS = [
    ("externalRef", MAX_REF),
    ("title", MAX_TITLE),
    ("description", MAX_DESCRIPTION),
    ("theme", MAX_THEME),
    ("unit", MAX_UNIT),
    ("sourceUri", MAX_URI),
]
REQUIRED_TEXTS = ["externalRef", "title", "unit"]
OPTIONAL_TEXTS = ["description", "theme", "sourceUri"]


def test_registrar_can_register_commitment(ledger, baarn, registrar, commitment_input, due_date):
    tx = ledger.registerCommitment(commitment_input(), {"from": registrar})

    assert tx.return_value == 1
    assert len(tx.events) == 1
    assert tx.events["CommitmentRegistered"] == {
        "commitmentId": 1,
        "municipalityId": baarn,
        "registrar": registrar,
        "externalRef": COMMITMENT_REF,
        "title": COMMITMENT_TITLE,
        "description": COMMITMENT_DESCRIPTION,
        "theme": COMMITMENT_THEME,
        "targetQuantity": COMMITMENT_TARGET,
        "unit": COMMITMENT_UNIT,
        "dueDate": due_date,
        "sourceDocumentHash": SOURCE_DOCUMENT_HASH,
        "sourceUri": SOURCE_URI,
        "registeredAt": tx.timestamp,
    }


def test_registered_at_is_the_block_time(ledger, baarn, registrar, commitment_input, clock):
    registration_time = clock.start + 3600
    clock.next_block_at(registration_time)

    tx = ledger.registerCommitment(commitment_input(), {"from": registrar})

    assert tx.events["CommitmentRegistered"]["registeredAt"] == registration_time


def test_registered_commitment_can_be_found_by_its_ref(ledger, commitment):
    assert ledger.commitmentIdByRef(BAARN_ID, COMMITMENT_REF) == commitment


def test_registered_commitment_is_counted(ledger, commitment):
    assert tuple(ledger.counts()) == (1, 1, 0)


def test_commitment_ids_count_up_across_municipalities(ledger, commitment, utrecht, other_registrar, commitment_input):
    tx = ledger.registerCommitment(commitment_input(municipalityId=utrecht), {"from": other_registrar})

    assert tx.return_value == 2
    assert tx.events["CommitmentRegistered"]["commitmentId"] == 2
    assert tx.events["CommitmentRegistered"]["municipalityId"] == utrecht
    assert tuple(ledger.counts()) == (2, 2, 0)


@pytest.mark.parametrize("role", NOT_BAARN_REGISTRARS)
def test_account_that_is_not_registrar_of_the_municipality_cannot_register_commitment(
    ledger, utrecht, commitment_input, role, request
):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"LedgerNotRegistrar: {BAARN_ID}, {caller.address.lower()}"):
        ledger.registerCommitment(commitment_input(), {"from": caller})


def test_registrar_of_other_municipality_cannot_register_commitment_for_it(ledger, utrecht, registrar, commitment_input):
    with brownie.reverts(f"LedgerNotRegistrar: {utrecht}, {registrar.address.lower()}"):
        ledger.registerCommitment(commitment_input(municipalityId=utrecht), {"from": registrar})


def test_removed_registrar_cannot_register_commitment(ledger, baarn, council_admin, registrar, commitment_input):
    ledger.removeRegistrar(baarn, registrar, {"from": council_admin})
    with brownie.reverts(f"LedgerNotRegistrar: {baarn}, {registrar.address.lower()}"):
        ledger.registerCommitment(commitment_input(), {"from": registrar})


@pytest.mark.parametrize("municipality_id", [0, UNKNOWN_ID])
def test_commitment_for_unknown_municipality_is_refused(ledger, baarn, registrar, commitment_input, municipality_id):
    with brownie.reverts(f"LedgerUnknownMunicipality: {municipality_id}"):
        ledger.registerCommitment(commitment_input(municipalityId=municipality_id), {"from": registrar})


# ------------------------------------------------------------------ texts


@pytest.mark.parametrize("field, max_length", TEXT_LIMITS)
def test_commitment_text_of_maximum_length_is_accepted(ledger, baarn, registrar, commitment_input, field, max_length):
    text = "x" * max_length
    tx = ledger.registerCommitment(commitment_input(**{field: text}), {"from": registrar})
    assert tx.events["CommitmentRegistered"][field] == text


@pytest.mark.parametrize("field, max_length", TEXT_LIMITS)
def test_commitment_text_one_byte_too_long_is_refused(ledger, baarn, registrar, commitment_input, field, max_length):
    with brownie.reverts(f"LedgerTextTooLong: {field}, {max_length + 1}, {max_length}"):
        ledger.registerCommitment(commitment_input(**{field: "x" * (max_length + 1)}), {"from": registrar})


def test_commitment_title_length_is_counted_in_utf8_bytes(ledger, baarn, registrar, commitment_input):
    accepted = "é" * (MAX_TITLE // 2)  # 200 bytes
    ledger.registerCommitment(commitment_input(title=accepted), {"from": registrar})
    with brownie.reverts(f"LedgerTextTooLong: title, {MAX_TITLE + 1}, {MAX_TITLE}"):
        ledger.registerCommitment(commitment_input(externalRef="RB-2", title=accepted + "s"), {"from": registrar})


@pytest.mark.parametrize("field", REQUIRED_TEXTS)
def test_commitment_without_required_text_is_refused(ledger, baarn, registrar, commitment_input, field):
    with brownie.reverts(f"LedgerEmptyText: {field}"):
        ledger.registerCommitment(commitment_input(**{field: ""}), {"from": registrar})


@pytest.mark.parametrize("field", OPTIONAL_TEXTS)
def test_commitment_without_optional_text_is_accepted(ledger, baarn, registrar, commitment_input, field):
    tx = ledger.registerCommitment(commitment_input(**{field: ""}), {"from": registrar})
    assert tx.events["CommitmentRegistered"][field] == ""


def test_commitment_without_source_document_hash_is_accepted(ledger, baarn, registrar, commitment_input):
    tx = ledger.registerCommitment(commitment_input(sourceDocumentHash=ZERO_HASH), {"from": registrar})
    assert tx.events["CommitmentRegistered"]["sourceDocumentHash"] == ZERO_HASH


# ------------------------------------------------------------------ numbers


@pytest.mark.parametrize("target", [0, MAX_QUANTITY + 1])
def test_commitment_with_target_out_of_range_is_refused(ledger, baarn, registrar, commitment_input, target):
    with brownie.reverts(f"LedgerInvalidQuantity: {target}, {MAX_QUANTITY}"):
        ledger.registerCommitment(commitment_input(targetQuantity=target), {"from": registrar})


@pytest.mark.parametrize("target", [1, MAX_QUANTITY])
def test_commitment_with_target_at_the_bounds_is_accepted(ledger, baarn, registrar, commitment_input, target):
    tx = ledger.registerCommitment(commitment_input(targetQuantity=target), {"from": registrar})
    assert tx.events["CommitmentRegistered"]["targetQuantity"] == target


def test_commitment_without_due_date_is_refused(ledger, baarn, registrar, commitment_input):
    with brownie.reverts("LedgerInvalidDueDate: 0"):
        ledger.registerCommitment(commitment_input(dueDate=0), {"from": registrar})


def test_commitment_already_past_its_due_date_is_accepted_and_overdue(ledger, baarn, registrar, commitment_input):
    tx = ledger.registerCommitment(commitment_input(dueDate=1), {"from": registrar})

    assert tx.events["CommitmentRegistered"]["dueDate"] == 1
    assert ledger.statusOf(tx.return_value)[0] == OVERDUE


# ------------------------------------------------------------------ external references


def test_commitment_with_ref_already_used_in_the_municipality_is_refused(ledger, commitment, registrar, commitment_input):
    with brownie.reverts(f"LedgerDuplicateCommitmentRef: {BAARN_ID}, {COMMITMENT_REF}, {commitment}"):
        ledger.registerCommitment(commitment_input(title="Another title"), {"from": registrar})


def test_duplicate_ref_error_names_the_commitment_holding_the_ref(ledger, commitment, registrar, commitment_input):
    ledger.registerCommitment(commitment_input(externalRef="RB-2"), {"from": registrar})
    with brownie.reverts(f"LedgerDuplicateCommitmentRef: {BAARN_ID}, RB-2, 2"):
        ledger.registerCommitment(commitment_input(externalRef="RB-2"), {"from": registrar})


def test_same_ref_in_another_municipality_is_accepted(ledger, commitment, utrecht, other_registrar, commitment_input):
    tx = ledger.registerCommitment(commitment_input(municipalityId=utrecht), {"from": other_registrar})

    assert ledger.commitmentIdByRef(BAARN_ID, COMMITMENT_REF) == commitment
    assert ledger.commitmentIdByRef(utrecht, COMMITMENT_REF) == tx.return_value


def test_refs_are_case_sensitive(ledger, commitment, registrar, commitment_input):
    tx = ledger.registerCommitment(commitment_input(externalRef=COMMITMENT_REF.lower()), {"from": registrar})
    assert ledger.commitmentIdByRef(BAARN_ID, COMMITMENT_REF.lower()) == tx.return_value


def test_unknown_ref_maps_to_zero(ledger, commitment, stranger):
    assert ledger.commitmentIdByRef(BAARN_ID, "RB-unknown", {"from": stranger}) == 0
    assert ledger.commitmentIdByRef(UTRECHT_ID, COMMITMENT_REF) == 0
    assert ledger.commitmentIdByRef(UNKNOWN_ID, COMMITMENT_REF) == 0
