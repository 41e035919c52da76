"""Input models check what the contract checks, in UTF-8 bytes, before anything is sent."""

from __future__ import annotations

import time
from typing import Any

import pytest
from pydantic import ValidationError

from api.schemas import AmendmentIn, BatchDeliveryIn, CommitmentBatchIn, CommitmentIn, DeliveryBatchIn, DeliveryIn, ReasonIn
from ledger.limits import MAX_DATE, MAX_QUANTITY

BAARN_ADOPTED = 1_655_071_200
"""2022-06-13T00:00:00+02:00: Baarn's council adopted the coalition agreement."""

VALID: dict[str, Any] = {
    "external_ref": "wonen-001",
    "title": "200 sociale huurwoningen",
    "target_quantity": "200",
    "unit": "woningen",
    "promised_at": BAARN_ADOPTED,
    "due_date": 1774994399,
}


def errors_of(model: type, data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(data)
    return [(e["loc"], e["type"]) for e in refused.value.errors()]


def test_a_minimal_commitment_gets_defaults_for_optional_texts() -> None:
    model = CommitmentIn.model_validate(VALID)
    assert model.model_dump() == {
        **VALID,
        "target_quantity": 200,
        "description": "",
        "theme": "",
        "source_document_sha256": None,
        "source_uri": "",
        "parent_id": None,
        "weight": None,
    }


@pytest.mark.parametrize(
    ("field", "limit", "required"),
    [
        ("external_ref", 64, True),
        ("title", 200, True),
        ("description", 8000, False),
        ("theme", 120, False),
        ("unit", 32, True),
        ("source_uri", 512, False),
    ],
)
def test_text_limits_count_utf8_bytes(field: str, limit: int, required: bool) -> None:
    # "€" is 3 bytes: limit // 3 of them plus ASCII padding reach the limit exactly.
    exact = "€" * (limit // 3) + "x" * (limit % 3)
    assert len(exact.encode()) == limit
    assert getattr(CommitmentIn.model_validate({**VALID, field: exact}), field) == exact
    assert errors_of(CommitmentIn, {**VALID, field: exact + "x"}) == [((field,), "string_too_long_bytes")]
    if required:
        assert errors_of(CommitmentIn, {**VALID, field: ""}) == [((field,), "string_too_short_bytes")]
    else:
        assert getattr(CommitmentIn.model_validate({**VALID, field: ""}), field) == ""


@pytest.mark.parametrize("value", [200, "200", "0200", 10**13, "10000000000000"])
def test_quantities_are_integers_or_digit_strings(value: Any) -> None:
    assert CommitmentIn.model_validate({**VALID, "target_quantity": value}).target_quantity == int(value)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, "quantity_range"),
        ("0", "quantity_range"),
        (10**13 + 1, "quantity_range"),
        ("10000000000001", "quantity_range"),
        (-1, "quantity_range"),
        ("-1", "quantity_range"),
        ("-0", "quantity_range"),
        ("1.5", "quantity_type"),
        (1.0, "quantity_type"),
        (True, "quantity_type"),
        ("1e3", "quantity_type"),
        (" 1", "quantity_type"),
        ("١٢", "quantity_type"),
        (None, "quantity_type"),
    ],
)
def test_bad_quantities_are_refused(value: Any, error: str) -> None:
    assert errors_of(CommitmentIn, {**VALID, "target_quantity": value}) == [(("target_quantity",), error)]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (1774994399, 1774994399),
        ("1774994399", 1774994399),
        ("2026-03-31T23:59:59+02:00", 1774994399),
        ("2026-03-31T21:59:59Z", 1774994399),
        ("2026-03-31t21:59:59.999z", 1774994399),
        ("2026-03-31 21:59:59-00:00", 1774994399),
    ],
)
def test_due_dates_are_unix_seconds_or_rfc3339_with_offset(value: Any, seconds: int) -> None:
    assert CommitmentIn.model_validate({**VALID, "due_date": value}).due_date == seconds


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("2026-03-31T23:59:59", "time_naive"),
        ("2026-03-31", "time_type"),
        ("2026-02-30T00:00:00Z", "time_parsing"),
        ("tomorrow", "time_type"),
        (0, "time_range"),
        (1.5, "time_type"),
        (False, "time_type"),
        (MAX_DATE, "time_range"),
        (2**64, "time_range"),
    ],
)
def test_bad_due_dates_are_refused(value: Any, error: str) -> None:
    assert errors_of(CommitmentIn, {**VALID, "due_date": value}) == [(("due_date",), error)]


def test_the_last_due_date_is_the_second_before_the_year_10000() -> None:
    assert MAX_DATE == 253_402_300_800
    assert CommitmentIn.model_validate({**VALID, "due_date": MAX_DATE - 1}).due_date == 253_402_300_799
    assert CommitmentIn.model_validate({**VALID, "due_date": "9999-12-31T23:59:59Z"}).due_date == 253_402_300_799


def test_the_quantity_limit_is_the_contracts() -> None:
    assert MAX_QUANTITY == 10**13
    with pytest.raises(ValidationError) as refused:
        CommitmentIn.model_validate({**VALID, "target_quantity": MAX_QUANTITY + 1})
    assert refused.value.errors()[0]["msg"] == "Quantity should be a whole number from 1 to 10^13 (10000000000000)"


def test_a_commitment_needs_the_date_it_was_promised() -> None:
    without = {k: v for k, v in VALID.items() if k != "promised_at"}
    assert errors_of(CommitmentIn, without) == [(("promised_at",), "missing")]
    assert CommitmentIn.model_validate({**VALID, "promised_at": "2022-06-13T00:00:00+02:00"}).promised_at == BAARN_ADOPTED


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (0, "time_range"),
        ("2022-06-13T00:00:00", "time_naive"),
        ("13 June 2022", "time_type"),
        pytest.param(int(time.time()) + 3600, "time_in_future", id="in-an-hour-time_in_future"),  # an id that stays put
    ],
)
def test_bad_promise_dates_are_refused(value: Any, error: str) -> None:
    assert errors_of(CommitmentIn, {**VALID, "promised_at": value}) == [(("promised_at",), error)]


@pytest.mark.parametrize("due_date", [BAARN_ADOPTED, BAARN_ADOPTED - 1])
def test_a_due_date_must_come_after_the_promise(due_date: int) -> None:
    with pytest.raises(ValidationError) as refused:
        CommitmentIn.model_validate({**VALID, "due_date": due_date})
    [error] = refused.value.errors()
    assert (error["loc"], error["type"]) == ((), "due_date_before_promise")
    assert error["msg"] == (
        f"due_date {due_date} is not after promised_at {BAARN_ADOPTED}: a deadline comes after the promise"
    )


def test_source_hashes_are_normalised_to_0x_lowercase() -> None:
    model = CommitmentIn.model_validate({**VALID, "source_document_sha256": "AB" * 32})
    assert model.source_document_sha256 == "0x" + "ab" * 32


@pytest.mark.parametrize("value", ["ab" * 31, "0x" + "ab" * 33, "zz" * 32, "0x" + "00" * 32, 12])
def test_malformed_or_zero_hashes_are_refused(value: Any) -> None:
    assert errors_of(CommitmentIn, {**VALID, "source_document_sha256": value})[0][0] == ("source_document_sha256",)


COMBINING = "Woning-e\u0301"
"""A ref typed with a combining acute accent (NFD)."""
PRECOMPOSED = "Woning-\u00e9"
"""The same ref precomposed (NFC)."""


def test_a_commitment_ref_is_taken_in_nfc() -> None:
    assert CommitmentIn.model_validate({**VALID, "external_ref": COMBINING}).external_ref == PRECOMPOSED
    assert CommitmentIn.model_validate({**VALID, "external_ref": PRECOMPOSED}).external_ref == PRECOMPOSED


def test_a_delivery_ref_is_taken_in_nfc_in_every_delivery_input() -> None:
    delivery = {"commitment_id": 1, "quantity": 1, "delivered_at": BAARN_ADOPTED, "external_ref": COMBINING}
    assert DeliveryIn.model_validate({**delivery, "evidence_sha256": ["ab" * 32]}).external_ref == PRECOMPOSED
    assert BatchDeliveryIn.model_validate({**delivery, "evidence_hashes": ["ab" * 32]}).external_ref == PRECOMPOSED


def test_the_ref_limit_counts_the_bytes_of_its_nfc_form() -> None:
    # U+0958 (DEVANAGARI LETTER QA, 3 bytes) is a composition exclusion: NFC gives U+0915 U+093C (6 bytes)
    assert len(("\u0958" * 20).encode()) == 60
    assert errors_of(CommitmentIn, {**VALID, "external_ref": "\u0958" * 20}) == [(("external_ref",), "string_too_long_bytes")]
    # typed decomposed: 64 bytes (21 x "e" U+0301, then "x"); in NFC 43 bytes
    assert CommitmentIn.model_validate({**VALID, "external_ref": "e\u0301" * 21 + "x"}).external_ref == "\u00e9" * 21 + "x"


def test_unknown_fields_and_wrong_types_are_refused() -> None:
    assert errors_of(CommitmentIn, {**VALID, "municipality_id": 2}) == [(("municipality_id",), "extra_forbidden")]
    assert errors_of(CommitmentIn, {**VALID, "title": 12}) == [(("title",), "string_type")]


def test_an_amendment_names_the_fields_it_changes_as_the_contracts_bits() -> None:
    amendment = AmendmentIn.model_validate({"expected_amendment_count": 2, "target_quantity": "40", "due_date": 2, "reason": "r"})
    assert amendment.model_dump() == {
        "expected_amendment_count": 2,
        "title": None,
        "description": None,
        "target_quantity": 40,
        "due_date": 2,
        "reason": "r",
    }
    assert (amendment.fields, amendment.fields_bits) == (["target_quantity", "due_date"], 12)
    empty_description = AmendmentIn.model_validate({"expected_amendment_count": 0, "description": "", "reason": "r"})
    assert (empty_description.fields, empty_description.fields_bits) == (["description"], 2)


def test_an_amendment_needs_its_count_a_reason_and_a_field() -> None:
    assert errors_of(AmendmentIn, {"title": "t"}) == [
        (("expected_amendment_count",), "missing"), (("reason",), "missing"),
    ]
    assert errors_of(AmendmentIn, {"expected_amendment_count": 0, "reason": "r"}) == [((), "amendment_no_field")]
    assert errors_of(AmendmentIn, {"expected_amendment_count": 0, "title": None, "reason": "r"}) == [
        ((), "amendment_no_field")
    ]
    assert errors_of(AmendmentIn, {"expected_amendment_count": -1, "title": "t", "reason": "r"}) == [
        (("expected_amendment_count",), "greater_than_equal")
    ]


def test_batches_hold_1_to_100_items_and_name_the_item_of_each_error() -> None:
    assert len(CommitmentBatchIn.model_validate({"commitments": [VALID] * 100}).commitments) == 100
    assert errors_of(CommitmentBatchIn, {"commitments": []}) == [(("commitments",), "too_short")]
    assert errors_of(CommitmentBatchIn, {"commitments": [VALID] * 101}) == [(("commitments",), "too_long")]
    assert errors_of(CommitmentBatchIn, {"commitments": [VALID, {**VALID, "title": ""}]}) == [
        (("commitments", 1, "title"), "string_too_short_bytes")
    ]
    delivery = {"commitment_id": 1, "quantity": 1, "delivered_at": 1, "evidence_sha256": ["ab" * 32]}
    assert errors_of(DeliveryBatchIn, {"deliveries": [delivery, {**delivery, "evidence_sha256": []}]}) == [
        (("deliveries", 1, "evidence_sha256"), "too_short")
    ]
    assert errors_of(DeliveryBatchIn, {"deliveries": [{**delivery, "evidence": ["x"]}]}) == [
        (("deliveries", 0, "evidence"), "extra_forbidden")
    ]


def test_reasons_are_1_to_1000_bytes() -> None:
    assert ReasonIn.model_validate({"reason": "ü" * 500}).reason == "ü" * 500
    assert errors_of(ReasonIn, {"reason": "ü" * 500 + "x"}) == [(("reason",), "string_too_long_bytes")]
    assert errors_of(ReasonIn, {"reason": ""}) == [(("reason",), "string_too_short_bytes")]


def test_time_in_the_future_is_refused_for_deliveries() -> None:
    from api.schemas import DeliveryForm

    now = int(time.time())
    assert DeliveryForm.model_validate({"quantity": "1", "delivered_at": str(now), "evidence_sha256": ["ab" * 32]})
    assert errors_of(
        DeliveryForm, {"quantity": "1", "delivered_at": str(now + 3600), "evidence_sha256": ["ab" * 32]}
    ) == [(("delivered_at",), "time_in_future")]


SINGLE_LINE = ("external_ref", "title", "theme", "unit", "source_uri")


@pytest.mark.parametrize("field", SINGLE_LINE)
@pytest.mark.parametrize("char", ["\n", "\r", "\t"])
def test_single_line_texts_refuse_line_breaks_and_tabs(field: str, char: str) -> None:
    assert errors_of(CommitmentIn, {**VALID, field: f"a{char}b"}) == [((field,), "string_multiline")]


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1f", "\x7f", "\x80", "\x85", "\x9f"])
def test_control_characters_are_refused_in_every_text(char: str) -> None:
    for field in (*SINGLE_LINE, "description"):
        assert errors_of(CommitmentIn, {**VALID, field: f"a{char}b"}) == [((field,), "string_control_character")]
    assert errors_of(ReasonIn, {"reason": f"a{char}b"}) == [(("reason",), "string_control_character")]


@pytest.mark.parametrize("code", [*range(0x202A, 0x202F), *range(0x2066, 0x206A)])
def test_bidi_overrides_and_isolates_are_refused_in_every_text(code: int) -> None:
    for field in (*SINGLE_LINE, "description"):
        assert errors_of(CommitmentIn, {**VALID, field: f"a{chr(code)}b"}) == [((field,), "string_bidi_control")]
    assert errors_of(AmendmentIn, {"expected_amendment_count": 0, "title": f"x{chr(code)}", "reason": "r"}) == [
        (("title",), "string_bidi_control")
    ]


def test_multi_line_texts_keep_line_breaks_and_tabs_and_other_scripts() -> None:
    text = "Regel 1\r\nRegel 2\n\tingesprongen — ‘citaat’ € ñ 中文 עברית العربية 🚲 \u200d\u00a0"
    assert CommitmentIn.model_validate({**VALID, "description": text}).description == text
    assert ReasonIn.model_validate({"reason": text}).reason == text
    assert AmendmentIn.model_validate({"expected_amendment_count": 0, "description": text, "reason": "r"}).description == text
    assert CommitmentIn.model_validate({**VALID, "title": "Wonen in Baarn-Noord (fase 1) — 200 woningen"})


@pytest.mark.parametrize("value", [" ", "   ", "\u00a0", "\u3000", "\u200b", "\ufeff "])
def test_required_texts_that_are_only_whitespace_are_refused(value: str) -> None:
    for field in ("external_ref", "title", "unit"):
        assert errors_of(CommitmentIn, {**VALID, field: value}) == [((field,), "string_blank")]
    assert errors_of(ReasonIn, {"reason": value}) == [(("reason",), "string_blank")]
    assert CommitmentIn.model_validate({**VALID, "description": value, "theme": value}).theme == value  # optional ones may be


def test_text_problem_names_the_field_and_the_code_point() -> None:
    from api.schemas import text_problem

    assert text_problem("title", "a\u202eb", multiline=False, required=True) == (
        "string_bidi_control",
        "title contains U+202E (RIGHT-TO-LEFT OVERRIDE): bidirectional override and isolate characters can "
        "disguise text and are not allowed",
    )
    assert text_problem("note", "a\r\nb", multiline=True, required=False) is None
    assert text_problem("note", "\x1b[31m", multiline=True, required=False) == (
        "string_control_character", "note contains U+001B (ESCAPE), a control character"
    )
