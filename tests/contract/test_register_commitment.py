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
    DAY,
    MAX_DATE,
    MAX_DESCRIPTION,
    MAX_QUANTITY,
    MAX_REF,
    MAX_THEME,
    MAX_TITLE,
    MAX_UNIT,
    MAX_URI,
    NOT_BAARN_REGISTRARS,
    OVERDUE,
    SOURCE_DOCUMENT_HASH,
    SOURCE_URI,
    UNKNOWN_ID,
    UTRECHT_ID,
    ZERO_HASH,
)

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


def test_registrar_can_register_commitment(ledger, baarn, registrar, commitment_input, promised_at, due_date, clock):
    clock.next_block_at(clock.start + 3600)

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
        "promisedAt": promised_at,
        "dueDate": due_date,
        "sourceDocumentHash": SOURCE_DOCUMENT_HASH,
        "sourceUri": SOURCE_URI,
        "parentId": 0,
        "weight": 0,
        "registeredAt": clock.start + 3600,
    }


def test_registered_commitment_state_holds_the_terms_and_nothing_delivered(ledger, commitment, state, promised_at, due_date):
    assert state(commitment) == (BAARN_ID, False, 0, 0, COMMITMENT_TARGET, promised_at, due_date, 0, 0)


def test_registered_commitment_can_be_found_by_its_ref(ledger, commitment):
    assert ledger.commitmentIdByRef(BAARN_ID, COMMITMENT_REF) == commitment


def test_registered_commitment_is_counted(ledger, commitment):
    assert tuple(ledger.counts()) == (1, 1)


def test_commitment_ids_count_up_across_municipalities(ledger, commitment, utrecht, other_registrar, commitment_input):
    tx = ledger.registerCommitment(commitment_input(municipalityId=utrecht), {"from": other_registrar})

    assert tx.return_value == 2
    assert tx.events["CommitmentRegistered"]["commitmentId"] == 2
    assert tx.events["CommitmentRegistered"]["municipalityId"] == utrecht
    assert tuple(ledger.counts()) == (2, 2)


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


# ------------------------------------------------------------------ dates: promisedAt 1..block time, promisedAt < dueDate < MAX_DATE


def test_commitment_without_promise_date_is_refused(ledger, baarn, registrar, commitment_input, clock):
    clock.next_block_at(clock.start + DAY)
    with brownie.reverts(f"LedgerInvalidPromiseDate: 0, {clock.start + DAY}"):
        ledger.registerCommitment(commitment_input(promisedAt=0), {"from": registrar})


def test_commitment_promised_after_the_block_time_is_refused(ledger, baarn, registrar, commitment_input, clock):
    clock.next_block_at(clock.start + DAY)
    with brownie.reverts(f"LedgerInvalidPromiseDate: {clock.start + DAY + 1}, {clock.start + DAY}"):
        ledger.registerCommitment(commitment_input(promisedAt=clock.start + DAY + 1), {"from": registrar})


def test_commitment_promised_at_the_block_time_is_accepted(ledger, baarn, registrar, commitment_input, clock):
    clock.next_block_at(clock.start + DAY)

    tx = ledger.registerCommitment(commitment_input(promisedAt=clock.start + DAY), {"from": registrar})

    assert tx.events["CommitmentRegistered"]["promisedAt"] == tx.events["CommitmentRegistered"]["registeredAt"]


def test_commitment_promised_at_one_second_after_1970_is_accepted(ledger, baarn, registrar, commitment_input):
    tx = ledger.registerCommitment(commitment_input(promisedAt=1), {"from": registrar})
    assert tx.events["CommitmentRegistered"]["promisedAt"] == 1


def test_commitment_without_due_date_is_refused(ledger, baarn, registrar, commitment_input, promised_at):
    with brownie.reverts(f"LedgerInvalidDueDate: 0, {promised_at}, {MAX_DATE}"):
        ledger.registerCommitment(commitment_input(dueDate=0), {"from": registrar})


def test_commitment_due_when_it_was_promised_is_refused(ledger, baarn, registrar, commitment_input, promised_at):
    with brownie.reverts(f"LedgerInvalidDueDate: {promised_at}, {promised_at}, {MAX_DATE}"):
        ledger.registerCommitment(commitment_input(dueDate=promised_at), {"from": registrar})


def test_commitment_due_before_it_was_promised_is_refused(ledger, baarn, registrar, commitment_input, promised_at):
    with brownie.reverts(f"LedgerInvalidDueDate: {promised_at - 1}, {promised_at}, {MAX_DATE}"):
        ledger.registerCommitment(commitment_input(dueDate=promised_at - 1), {"from": registrar})


def test_commitment_due_one_second_after_it_was_promised_is_accepted(ledger, baarn, registrar, commitment_input, promised_at):
    tx = ledger.registerCommitment(commitment_input(dueDate=promised_at + 1), {"from": registrar})
    assert tx.events["CommitmentRegistered"]["dueDate"] == promised_at + 1


def test_commitment_due_in_the_year_10000_is_refused(ledger, baarn, registrar, commitment_input, promised_at):
    with brownie.reverts(f"LedgerInvalidDueDate: {MAX_DATE}, {promised_at}, {MAX_DATE}"):
        ledger.registerCommitment(commitment_input(dueDate=MAX_DATE), {"from": registrar})


def test_commitment_due_in_the_last_second_of_the_year_9999_is_accepted(ledger, baarn, registrar, commitment_input):
    tx = ledger.registerCommitment(commitment_input(dueDate=MAX_DATE - 1), {"from": registrar})
    assert tx.events["CommitmentRegistered"]["dueDate"] == MAX_DATE - 1 == 253_402_300_799


def test_commitment_already_past_its_due_date_is_accepted_and_overdue(ledger, baarn, registrar, commitment_input, status):
    tx = ledger.registerCommitment(commitment_input(promisedAt=1, dueDate=2), {"from": registrar})

    assert (tx.events["CommitmentRegistered"]["promisedAt"], tx.events["CommitmentRegistered"]["dueDate"]) == (1, 2)
    assert status(tx.return_value) == (OVERDUE, 0, COMMITMENT_TARGET, 0, 0)


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
