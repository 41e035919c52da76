"""amendCommitment: only the fields named, against the amendment count the registrar saw.

Rules (ICommitmentLedger.AmendmentInput, docs/LEDGER.md "Terms" and "Status rules"): `fields`
is a non-empty subset of AMEND_TITLE | AMEND_DESCRIPTION | AMEND_TARGET | AMEND_DUE_DATE, the
fields not named are empty/zero, a named target or due date must change, and a new target
clears or sets metOnRecordAt: total < new target -> not met; else if not met, or the target was
raised -> met at the amendment's block time; else (lowered while met) kept.
"""

import brownie
import pytest

from constants import (
    AMEND_DESCRIPTION,
    AMEND_DUE_DATE,
    AMEND_TARGET,
    AMEND_TITLE,
    AMENDED_DESCRIPTION,
    AMENDED_TARGET,
    AMENDED_TITLE,
    AMENDMENT_REASON,
    BAARN_ID,
    COMMITMENT_TARGET,
    DAY,
    DELIVERED,
    DELIVERED_LATE,
    IN_PROGRESS,
    MAX_DATE,
    MAX_DESCRIPTION,
    MAX_QUANTITY,
    MAX_REASON,
    MAX_TITLE,
    NOT_BAARN_REGISTRARS,
    OVERDUE,
    UNKNOWN_ID,
)

ALL_FIELDS = AMEND_TITLE | AMEND_DESCRIPTION | AMEND_TARGET | AMEND_DUE_DATE


def test_registrar_can_amend_every_field_at_once(ledger, commitment, registrar, amendment_input, due_date, clock):
    new_due_date = due_date + 30 * DAY
    clock.next_block_at(clock.start + DAY)
    amendment = amendment_input(
        fields=ALL_FIELDS,
        title=AMENDED_TITLE,
        description=AMENDED_DESCRIPTION,
        targetQuantity=AMENDED_TARGET,
        dueDate=new_due_date,
    )

    tx = ledger.amendCommitment(commitment, amendment, {"from": registrar})

    assert tx.return_value == 1
    assert len(tx.events) == 1
    assert tx.events["CommitmentAmended"] == {
        "commitmentId": commitment,
        "municipalityId": BAARN_ID,
        "registrar": registrar,
        "amendmentNumber": 1,
        "fields": ALL_FIELDS,
        "title": AMENDED_TITLE,
        "description": AMENDED_DESCRIPTION,
        "previousTargetQuantity": COMMITMENT_TARGET,
        "targetQuantity": AMENDED_TARGET,
        "previousDueDate": due_date,
        "dueDate": new_due_date,
        "reason": AMENDMENT_REASON,
        "amendedAt": clock.start + DAY,
    }


def test_amendment_sets_the_current_terms_and_counts_itself(ledger, commitment, registrar, amendment_input, state, promised_at, due_date):
    amendment = amendment_input(fields=AMEND_TARGET | AMEND_DUE_DATE, targetQuantity=AMENDED_TARGET, dueDate=due_date + DAY)

    ledger.amendCommitment(commitment, amendment, {"from": registrar})

    assert state(commitment) == (BAARN_ID, False, 1, 0, AMENDED_TARGET, promised_at, due_date + DAY, 0, 0)


def test_amending_only_the_title_reports_target_and_due_date_unchanged(ledger, commitment, registrar, amendment_input, due_date, clock):
    clock.next_block_at(clock.start + DAY)

    tx = ledger.amendCommitment(
        commitment, amendment_input(fields=AMEND_TITLE, title=AMENDED_TITLE, targetQuantity=0), {"from": registrar}
    )

    assert tx.events["CommitmentAmended"] == {
        "commitmentId": commitment,
        "municipalityId": BAARN_ID,
        "registrar": registrar,
        "amendmentNumber": 1,
        "fields": AMEND_TITLE,
        "title": AMENDED_TITLE,
        "description": "",
        "previousTargetQuantity": COMMITMENT_TARGET,
        "targetQuantity": COMMITMENT_TARGET,
        "previousDueDate": due_date,
        "dueDate": due_date,
        "reason": AMENDMENT_REASON,
        "amendedAt": clock.start + DAY,
    }


def test_amending_only_the_description_may_empty_it(ledger, commitment, registrar, amendment_input):
    tx = ledger.amendCommitment(commitment, amendment_input(fields=AMEND_DESCRIPTION, targetQuantity=0), {"from": registrar})

    event = tx.events["CommitmentAmended"]
    assert (event["fields"], event["title"], event["description"]) == (AMEND_DESCRIPTION, "", "")
    assert (event["previousTargetQuantity"], event["targetQuantity"]) == (COMMITMENT_TARGET, COMMITMENT_TARGET)


def test_amending_only_the_due_date_keeps_the_target(ledger, commitment, registrar, amendment_input, due_date, state):
    tx = ledger.amendCommitment(
        commitment, amendment_input(fields=AMEND_DUE_DATE, targetQuantity=0, dueDate=due_date - DAY), {"from": registrar}
    )

    event = tx.events["CommitmentAmended"]
    assert (event["previousDueDate"], event["dueDate"]) == (due_date, due_date - DAY)
    assert (event["previousTargetQuantity"], event["targetQuantity"]) == (COMMITMENT_TARGET, COMMITMENT_TARGET)
    assert (state(commitment)[4], state(commitment)[6]) == (COMMITMENT_TARGET, due_date - DAY)


def test_later_amendment_reports_the_previous_amendment_as_previous_values(ledger, commitment, registrar, amendment_input, due_date):
    both = AMEND_TARGET | AMEND_DUE_DATE
    ledger.amendCommitment(commitment, amendment_input(fields=both, targetQuantity=250, dueDate=due_date + DAY), {"from": registrar})

    tx = ledger.amendCommitment(
        commitment,
        amendment_input(expectedAmendmentCount=1, fields=both, targetQuantity=300, dueDate=due_date + 2 * DAY),
        {"from": registrar},
    )

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


def test_amending_back_to_the_registered_target_is_accepted(ledger, commitment, registrar, amendment_input):
    ledger.amendCommitment(commitment, amendment_input(), {"from": registrar})

    tx = ledger.amendCommitment(
        commitment, amendment_input(expectedAmendmentCount=1, targetQuantity=COMMITMENT_TARGET), {"from": registrar}
    )

    event = tx.events["CommitmentAmended"]
    assert (event["previousTargetQuantity"], event["targetQuantity"]) == (AMENDED_TARGET, COMMITMENT_TARGET)


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


# ------------------------------------------------------------------ the amendment count the registrar saw


def test_amendment_expecting_a_count_ahead_of_the_ledger_is_refused(ledger, commitment, registrar, amendment_input):
    with brownie.reverts(f"LedgerStaleAmendmentCount: {commitment}, 1, 0"):
        ledger.amendCommitment(commitment, amendment_input(expectedAmendmentCount=1), {"from": registrar})


def test_amendment_made_without_seeing_the_previous_one_is_refused(ledger, commitment, registrar, amendment_input):
    ledger.amendCommitment(commitment, amendment_input(), {"from": registrar})
    with brownie.reverts(f"LedgerStaleAmendmentCount: {commitment}, 0, 1"):
        ledger.amendCommitment(commitment, amendment_input(targetQuantity=300), {"from": registrar})


# ------------------------------------------------------------------ fields


@pytest.mark.parametrize("fields", [0, 16, 31, 255])
def test_amendment_naming_no_field_or_an_unknown_bit_is_refused(ledger, commitment, registrar, amendment_input, fields):
    with brownie.reverts(f"LedgerInvalidAmendmentFields: {commitment}, {fields}"):
        ledger.amendCommitment(commitment, amendment_input(fields=fields), {"from": registrar})


@pytest.mark.parametrize(
    "fields, stray",
    [
        (AMEND_TARGET, {"title": AMENDED_TITLE}),
        (AMEND_TARGET, {"description": AMENDED_DESCRIPTION}),
        (AMEND_TARGET, {"dueDate": 1}),
        (AMEND_TITLE, {"title": AMENDED_TITLE, "targetQuantity": AMENDED_TARGET}),
        (AMEND_TITLE | AMEND_DESCRIPTION | AMEND_TARGET, {"title": AMENDED_TITLE, "dueDate": 1}),
    ],
)
def test_amendment_with_a_value_for_a_field_not_named_is_refused(ledger, commitment, registrar, amendment_input, fields, stray):
    with brownie.reverts(f"LedgerInvalidAmendmentFields: {commitment}, {fields}"):
        ledger.amendCommitment(commitment, amendment_input(fields=fields, **stray), {"from": registrar})


def test_amendment_setting_the_current_target_is_refused(ledger, commitment, registrar, amendment_input):
    with brownie.reverts(f"LedgerAmendmentChangesNothing: {commitment}, {AMEND_TARGET}"):
        ledger.amendCommitment(commitment, amendment_input(targetQuantity=COMMITMENT_TARGET), {"from": registrar})


def test_amendment_setting_the_current_due_date_is_refused(ledger, commitment, registrar, amendment_input, due_date):
    with brownie.reverts(f"LedgerAmendmentChangesNothing: {commitment}, {AMEND_DUE_DATE}"):
        ledger.amendCommitment(
            commitment, amendment_input(fields=AMEND_DUE_DATE, targetQuantity=0, dueDate=due_date), {"from": registrar}
        )


def test_amendment_changing_the_due_date_but_not_the_named_target_is_refused(ledger, commitment, registrar, amendment_input, due_date):
    amendment = amendment_input(fields=AMEND_TARGET | AMEND_DUE_DATE, targetQuantity=COMMITMENT_TARGET, dueDate=due_date + DAY)
    with brownie.reverts(f"LedgerAmendmentChangesNothing: {commitment}, {AMEND_TARGET}"):
        ledger.amendCommitment(commitment, amendment, {"from": registrar})


def test_amendment_repeating_the_title_is_accepted(ledger, commitment, registrar, amendment_input):
    # texts are not compared on chain (that would cost their hashes in storage); the event says what was named
    tx = ledger.amendCommitment(
        commitment, amendment_input(fields=AMEND_TITLE, title="200 sociale huurwoningen renoveren", targetQuantity=0),
        {"from": registrar},
    )
    assert tx.events["CommitmentAmended"]["fields"] == AMEND_TITLE


# ------------------------------------------------------------------ bounds of the named fields


def test_amendment_naming_the_title_without_one_is_refused(ledger, commitment, registrar, amendment_input):
    with brownie.reverts("LedgerEmptyText: title"):
        ledger.amendCommitment(commitment, amendment_input(fields=AMEND_TITLE, targetQuantity=0), {"from": registrar})


@pytest.mark.parametrize("field, bit, max_length", [("title", AMEND_TITLE, MAX_TITLE), ("description", AMEND_DESCRIPTION, MAX_DESCRIPTION)])
def test_amended_text_of_maximum_length_is_accepted(ledger, commitment, registrar, amendment_input, field, bit, max_length):
    text = "x" * max_length
    tx = ledger.amendCommitment(commitment, amendment_input(fields=bit, targetQuantity=0, **{field: text}), {"from": registrar})
    assert tx.events["CommitmentAmended"][field] == text


@pytest.mark.parametrize("field, bit, max_length", [("title", AMEND_TITLE, MAX_TITLE), ("description", AMEND_DESCRIPTION, MAX_DESCRIPTION)])
def test_amended_text_one_byte_too_long_is_refused(ledger, commitment, registrar, amendment_input, field, bit, max_length):
    with brownie.reverts(f"LedgerTextTooLong: {field}, {max_length + 1}, {max_length}"):
        ledger.amendCommitment(
            commitment, amendment_input(fields=bit, targetQuantity=0, **{field: "x" * (max_length + 1)}), {"from": registrar}
        )


def test_amendment_without_reason_is_refused(ledger, commitment, registrar, amendment_input):
    with brownie.reverts("LedgerEmptyText: reason"):
        ledger.amendCommitment(commitment, amendment_input(reason=""), {"from": registrar})


def test_amendment_reason_of_maximum_length_is_accepted(ledger, commitment, registrar, amendment_input):
    reason = "r" * MAX_REASON
    tx = ledger.amendCommitment(commitment, amendment_input(reason=reason), {"from": registrar})
    assert tx.events["CommitmentAmended"]["reason"] == reason


def test_amendment_reason_one_byte_too_long_is_refused(ledger, commitment, registrar, amendment_input):
    with brownie.reverts(f"LedgerTextTooLong: reason, {MAX_REASON + 1}, {MAX_REASON}"):
        ledger.amendCommitment(commitment, amendment_input(reason="r" * (MAX_REASON + 1)), {"from": registrar})


@pytest.mark.parametrize("target", [0, MAX_QUANTITY + 1])
def test_amendment_with_target_out_of_range_is_refused(ledger, commitment, registrar, amendment_input, target):
    with brownie.reverts(f"LedgerInvalidQuantity: {target}, {MAX_QUANTITY}"):
        ledger.amendCommitment(commitment, amendment_input(targetQuantity=target), {"from": registrar})


@pytest.mark.parametrize("target", [1, MAX_QUANTITY])
def test_amendment_with_target_at_the_bounds_is_accepted(ledger, commitment, registrar, amendment_input, target):
    tx = ledger.amendCommitment(commitment, amendment_input(targetQuantity=target), {"from": registrar})
    assert tx.events["CommitmentAmended"]["targetQuantity"] == target


@pytest.mark.parametrize("offset", [0, -1])
def test_amended_due_date_not_after_the_promise_date_is_refused(ledger, commitment, registrar, amendment_input, promised_at, offset):
    due = promised_at + offset
    with brownie.reverts(f"LedgerInvalidDueDate: {due}, {promised_at}, {MAX_DATE}"):
        ledger.amendCommitment(commitment, amendment_input(fields=AMEND_DUE_DATE, targetQuantity=0, dueDate=due), {"from": registrar})


def test_amended_due_date_in_the_year_10000_is_refused(ledger, commitment, registrar, amendment_input, promised_at):
    with brownie.reverts(f"LedgerInvalidDueDate: {MAX_DATE}, {promised_at}, {MAX_DATE}"):
        ledger.amendCommitment(commitment, amendment_input(fields=AMEND_DUE_DATE, targetQuantity=0, dueDate=MAX_DATE), {"from": registrar})


@pytest.mark.parametrize("bound", ["one second after the promise", "last second of the year 9999"])
def test_amended_due_date_at_the_bounds_is_accepted(ledger, commitment, registrar, amendment_input, promised_at, bound):
    due = promised_at + 1 if bound == "one second after the promise" else MAX_DATE - 1
    tx = ledger.amendCommitment(commitment, amendment_input(fields=AMEND_DUE_DATE, targetQuantity=0, dueDate=due), {"from": registrar})
    assert tx.events["CommitmentAmended"]["dueDate"] == due


# ------------------------------------------------------------------ metOnRecordAt (docs/LEDGER.md, "on record")


def test_raising_the_target_above_the_total_clears_met_on_record_at(ledger, commitment, registrar, deliver, amendment_input, status, clock):
    deliver(commitment, COMMITMENT_TARGET, clock.start)
    ledger.amendCommitment(commitment, amendment_input(targetQuantity=250), {"from": registrar})
    assert status(commitment) == (IN_PROGRESS, COMMITMENT_TARGET, 250, 8000, 0)


def test_raising_the_target_still_met_sets_met_on_record_at_to_the_amendment(ledger, commitment, registrar, deliver, amendment_input, status, clock):
    deliver(commitment, 300, clock.start)
    clock.next_block_at(clock.start + 10 * DAY)

    tx = ledger.amendCommitment(commitment, amendment_input(targetQuantity=250), {"from": registrar})

    assert status(commitment) == (DELIVERED, 300, 250, 12_000, tx.events["CommitmentAmended"]["amendedAt"])
    assert tx.events["CommitmentAmended"]["amendedAt"] == clock.start + 10 * DAY


def test_lowering_the_target_while_met_keeps_met_on_record_at(ledger, commitment, registrar, deliver, amendment_input, status, clock):
    met = deliver(commitment, COMMITMENT_TARGET, clock.start).timestamp
    clock.next_block_at(clock.start + 10 * DAY)

    ledger.amendCommitment(commitment, amendment_input(targetQuantity=150), {"from": registrar})

    assert status(commitment) == (DELIVERED, COMMITMENT_TARGET, 150, 13_333, met)


def test_lowering_the_target_to_the_total_sets_met_on_record_at_to_the_amendment(ledger, commitment, registrar, deliver, amendment_input, status, clock):
    deliver(commitment, 150, clock.start)
    clock.next_block_at(clock.start + 10 * DAY)

    ledger.amendCommitment(commitment, amendment_input(targetQuantity=150), {"from": registrar})

    assert status(commitment) == (DELIVERED, 150, 150, 10_000, clock.start + 10 * DAY)


def test_lowering_the_target_still_above_the_total_leaves_it_unmet(ledger, commitment, registrar, deliver, amendment_input, status, clock):
    deliver(commitment, 100, clock.start)
    ledger.amendCommitment(commitment, amendment_input(targetQuantity=150), {"from": registrar})
    assert status(commitment) == (IN_PROGRESS, 100, 150, 6666, 0)


def test_raising_the_target_after_the_due_date_turns_delivered_into_overdue(
    ledger, commitment, registrar, deliver, amendment_input, status, clock, due_date
):
    deliver(commitment, COMMITMENT_TARGET, clock.start)
    clock.next_block_at(due_date + 1)
    ledger.amendCommitment(commitment, amendment_input(targetQuantity=250), {"from": registrar})
    assert status(commitment) == (OVERDUE, COMMITMENT_TARGET, 250, 8000, 0)


def test_moving_the_due_date_before_met_on_record_at_makes_it_delivered_late(
    ledger, commitment, registrar, deliver, amendment_input, status, clock
):
    met = deliver(commitment, COMMITMENT_TARGET, clock.start + 10 * DAY).timestamp
    ledger.amendCommitment(
        commitment, amendment_input(fields=AMEND_DUE_DATE, targetQuantity=0, dueDate=met - 1), {"from": registrar}
    )
    assert status(commitment) == (DELIVERED_LATE, COMMITMENT_TARGET, COMMITMENT_TARGET, 10_000, met)


def test_moving_the_due_date_to_met_on_record_at_makes_it_delivered(
    ledger, commitment, registrar, deliver, amendment_input, status, clock, due_date
):
    met = deliver(commitment, COMMITMENT_TARGET, due_date + DAY).timestamp
    assert status(commitment)[0] == DELIVERED_LATE

    ledger.amendCommitment(commitment, amendment_input(fields=AMEND_DUE_DATE, targetQuantity=0, dueDate=met), {"from": registrar})

    assert status(commitment) == (DELIVERED, COMMITMENT_TARGET, COMMITMENT_TARGET, 10_000, met)


def test_extending_the_due_date_lifts_overdue(ledger, commitment, registrar, deliver, amendment_input, status, clock, due_date):
    deliver(commitment, 50, clock.start)
    clock.next_block_at(due_date + 1)
    ledger.amendCommitment(
        commitment, amendment_input(fields=AMEND_DUE_DATE, targetQuantity=0, dueDate=due_date + 30 * DAY), {"from": registrar}
    )
    assert status(commitment) == (IN_PROGRESS, 50, COMMITMENT_TARGET, 2500, 0)
