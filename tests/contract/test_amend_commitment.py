"""amendCommitment: new texts, target or due date, with a reason; history in events."""

import brownie
import pytest

from constants import (
    AMENDED_TARGET,
    AMENDED_TITLE,
    AMENDMENT_REASON,
    BAARN_ID,
    COMMITMENT_DESCRIPTION,
    COMMITMENT_TARGET,
    COMMITMENT_TITLE,
    DAY,
    MAX_DESCRIPTION,
    MAX_QUANTITY,
    MAX_REASON,
    MAX_TITLE,
    UNKNOWN_ID,
)

NOT_BAARN_REGISTRARS = ["platform_admin", "council_admin", "other_admin", "other_registrar", "stranger"]
TEXT_LIMITS = [("title", MAX_TITLE), ("description", MAX_DESCRIPTION), ("reason", MAX_REASON)]


def test_registrar_can_amend_commitment(ledger, commitment, registrar, amendment_input, due_date):
    new_due_date = due_date + 30 * DAY
    amendment = amendment_input(
        title=AMENDED_TITLE, description="", targetQuantity=AMENDED_TARGET, dueDate=new_due_date
    )

    tx = ledger.amendCommitment(commitment, amendment, {"from": registrar})

    assert tx.return_value == 1
    assert len(tx.events) == 1
    assert tx.events["CommitmentAmended"] == {
        "commitmentId": commitment,
        "municipalityId": BAARN_ID,
        "registrar": registrar,
        "amendmentNumber": 1,
        "title": AMENDED_TITLE,
        "description": "",
        "previousTargetQuantity": COMMITMENT_TARGET,
        "targetQuantity": AMENDED_TARGET,
        "previousDueDate": due_date,
        "dueDate": new_due_date,
        "reason": AMENDMENT_REASON,
    }


def test_amendment_sets_the_current_target(ledger, commitment, registrar, amendment_input):
    ledger.amendCommitment(commitment, amendment_input(targetQuantity=AMENDED_TARGET), {"from": registrar})
    assert ledger.statusOf(commitment)[2] == AMENDED_TARGET


def test_later_amendment_reports_the_previous_amendment_as_previous_values(
    ledger, commitment, registrar, amendment_input, due_date
):
    ledger.amendCommitment(commitment, amendment_input(targetQuantity=250, dueDate=due_date + DAY), {"from": registrar})

    tx = ledger.amendCommitment(commitment, amendment_input(targetQuantity=300, dueDate=due_date + 2 * DAY), {"from": registrar})

    assert tx.return_value == 2
    event = tx.events["CommitmentAmended"]
    assert event["amendmentNumber"] == 2
    assert (event["previousTargetQuantity"], event["targetQuantity"]) == (250, 300)
    assert (event["previousDueDate"], event["dueDate"]) == (due_date + DAY, due_date + 2 * DAY)


def test_amendment_numbers_count_per_commitment(ledger, commitment, registrar, commitment_input, amendment_input):
    other = ledger.registerCommitment(commitment_input(externalRef="RB-2"), {"from": registrar}).return_value
    ledger.amendCommitment(commitment, amendment_input(), {"from": registrar})

    tx = ledger.amendCommitment(other, amendment_input(), {"from": registrar})

    assert tx.return_value == 1
    assert tx.events["CommitmentAmended"]["amendmentNumber"] == 1


def test_another_registrar_of_the_municipality_can_amend_commitment(ledger, commitment, council_admin, newcomer, amendment_input):
    ledger.addRegistrar(BAARN_ID, newcomer, {"from": council_admin})

    tx = ledger.amendCommitment(commitment, amendment_input(), {"from": newcomer})

    assert tx.events["CommitmentAmended"]["registrar"] == newcomer


@pytest.mark.parametrize("role", NOT_BAARN_REGISTRARS)
def test_account_that_is_not_registrar_of_the_municipality_cannot_amend_commitment(
    ledger, commitment, utrecht, amendment_input, role, request
):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"LedgerNotRegistrar: {BAARN_ID}, {caller.address.lower()}"):
        ledger.amendCommitment(commitment, amendment_input(), {"from": caller})


def test_removed_registrar_cannot_amend_commitment(ledger, commitment, council_admin, registrar, amendment_input):
    ledger.removeRegistrar(BAARN_ID, registrar, {"from": council_admin})
    with brownie.reverts(f"LedgerNotRegistrar: {BAARN_ID}, {registrar.address.lower()}"):
        ledger.amendCommitment(commitment, amendment_input(), {"from": registrar})


@pytest.mark.parametrize("commitment_id", [0, UNKNOWN_ID])
def test_unknown_commitment_cannot_be_amended(ledger, commitment, registrar, amendment_input, commitment_id):
    with brownie.reverts(f"LedgerUnknownCommitment: {commitment_id}"):
        ledger.amendCommitment(commitment_id, amendment_input(), {"from": registrar})


# ------------------------------------------------------------------ what must change


def test_amendment_that_changes_nothing_is_refused(ledger, commitment, registrar, amendment_input):
    with brownie.reverts(f"LedgerAmendmentChangesNothing: {commitment}"):
        ledger.amendCommitment(commitment, amendment_input(targetQuantity=COMMITMENT_TARGET), {"from": registrar})


def test_amendment_that_changes_only_the_reason_is_refused(ledger, commitment, registrar, amendment_input):
    with brownie.reverts(f"LedgerAmendmentChangesNothing: {commitment}"):
        ledger.amendCommitment(
            commitment, amendment_input(targetQuantity=COMMITMENT_TARGET, reason="Another reason"), {"from": registrar}
        )


@pytest.mark.parametrize("field", ["title", "description", "targetQuantity", "dueDate"])
def test_amendment_that_changes_one_field_is_accepted(ledger, commitment, registrar, amendment_input, due_date, field):
    new_values = {
        "title": AMENDED_TITLE,
        "description": COMMITMENT_DESCRIPTION + " Uitgebreid.",
        "targetQuantity": AMENDED_TARGET,
        "dueDate": due_date + DAY,
    }
    changes = {"targetQuantity": COMMITMENT_TARGET, field: new_values[field]}

    tx = ledger.amendCommitment(commitment, amendment_input(**changes), {"from": registrar})

    assert tx.events["CommitmentAmended"]["amendmentNumber"] == 1
    assert tx.events["CommitmentAmended"][field] == new_values[field]


def test_repeating_the_last_amendment_is_refused(ledger, commitment, registrar, amendment_input):
    amendment = amendment_input(title=AMENDED_TITLE, description="")
    ledger.amendCommitment(commitment, amendment, {"from": registrar})
    with brownie.reverts(f"LedgerAmendmentChangesNothing: {commitment}"):
        ledger.amendCommitment(commitment, amendment, {"from": registrar})


def test_amending_back_to_the_registered_values_is_accepted(ledger, commitment, registrar, amendment_input):
    ledger.amendCommitment(commitment, amendment_input(title=AMENDED_TITLE, description=""), {"from": registrar})

    tx = ledger.amendCommitment(commitment, amendment_input(targetQuantity=COMMITMENT_TARGET), {"from": registrar})

    event = tx.events["CommitmentAmended"]
    assert (event["title"], event["description"]) == (COMMITMENT_TITLE, COMMITMENT_DESCRIPTION)
    assert (event["previousTargetQuantity"], event["targetQuantity"]) == (AMENDED_TARGET, COMMITMENT_TARGET)


def test_moving_text_between_title_and_description_counts_as_a_change(ledger, commitment, registrar, commitment_input, amendment_input):
    other = ledger.registerCommitment(
        commitment_input(externalRef="RB-2", title="ab", description="c"), {"from": registrar}
    ).return_value

    tx = ledger.amendCommitment(other, amendment_input(title="a", description="bc", targetQuantity=COMMITMENT_TARGET), {"from": registrar})

    assert tx.events["CommitmentAmended"]["amendmentNumber"] == 1


# ------------------------------------------------------------------ input bounds


@pytest.mark.parametrize("field, max_length", TEXT_LIMITS)
def test_amendment_text_of_maximum_length_is_accepted(ledger, commitment, registrar, amendment_input, field, max_length):
    text = "x" * max_length
    tx = ledger.amendCommitment(commitment, amendment_input(**{field: text}), {"from": registrar})
    assert tx.events["CommitmentAmended"][field] == text


@pytest.mark.parametrize("field, max_length", TEXT_LIMITS)
def test_amendment_text_one_byte_too_long_is_refused(ledger, commitment, registrar, amendment_input, field, max_length):
    with brownie.reverts(f"LedgerTextTooLong: {field}, {max_length + 1}, {max_length}"):
        ledger.amendCommitment(commitment, amendment_input(**{field: "x" * (max_length + 1)}), {"from": registrar})


@pytest.mark.parametrize("field", ["title", "reason"])
def test_amendment_without_required_text_is_refused(ledger, commitment, registrar, amendment_input, field):
    with brownie.reverts(f"LedgerEmptyText: {field}"):
        ledger.amendCommitment(commitment, amendment_input(**{field: ""}), {"from": registrar})


def test_amendment_may_empty_the_description(ledger, commitment, registrar, amendment_input):
    tx = ledger.amendCommitment(commitment, amendment_input(description=""), {"from": registrar})
    assert tx.events["CommitmentAmended"]["description"] == ""


@pytest.mark.parametrize("target", [0, MAX_QUANTITY + 1])
def test_amendment_with_target_out_of_range_is_refused(ledger, commitment, registrar, amendment_input, target):
    with brownie.reverts(f"LedgerInvalidQuantity: {target}, {MAX_QUANTITY}"):
        ledger.amendCommitment(commitment, amendment_input(targetQuantity=target), {"from": registrar})


def test_amendment_with_target_at_maximum_is_accepted(ledger, commitment, registrar, amendment_input):
    tx = ledger.amendCommitment(commitment, amendment_input(targetQuantity=MAX_QUANTITY), {"from": registrar})
    assert tx.events["CommitmentAmended"]["targetQuantity"] == MAX_QUANTITY


def test_amendment_without_due_date_is_refused(ledger, commitment, registrar, amendment_input):
    with brownie.reverts("LedgerInvalidDueDate: 0"):
        ledger.amendCommitment(commitment, amendment_input(dueDate=0), {"from": registrar})
