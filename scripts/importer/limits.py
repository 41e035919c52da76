"""Field limits of the ledger, in UTF-8 bytes unless stated (docs/API.md "Text limits",
contracts/interfaces/ICommitmentLedger.sol). The planner checks every value against them so a
row that the contract would reject is reported before anything is sent."""

from __future__ import annotations

from ledger.limits import (  # noqa: F401  (re-exported for the planner)
    AMEND_FIELD_NAMES,
    ASSET_REF_MAX_BYTES,
    DESCRIPTION_MAX_BYTES,
    EXTERNAL_REF_MAX_BYTES,
    MAX_DATE,
    MAX_EVIDENCE,
    MAX_QUANTITY,
    MUNICIPALITY_CODE_MAX_BYTES,
    NOTE_MAX_BYTES,
    REASON_MAX_BYTES,
    THEME_MAX_BYTES,
    TITLE_MAX_BYTES,
    UNIT_MAX_BYTES,
    URI_MAX_BYTES,
    normalise_external_ref,
)


def utf8_len(text: str) -> int:
    """Length of ``text`` in UTF-8 bytes."""
    return len(text.encode("utf-8"))


def check_text(field: str, value: str, max_bytes: int, *, required: bool) -> str | None:
    """Problem with a text value, or None if it fits.

    Args:
        field: field name used in the message.
        value: the text.
        max_bytes: upper bound, inclusive, in UTF-8 bytes.
        required: whether an empty value is a problem (lower bound 1 byte).
    """
    n = utf8_len(value)
    if required and n == 0:
        return f"{field} is empty (1..{max_bytes} bytes required)"
    if n > max_bytes:
        return f"{field} is {n} bytes (at most {max_bytes})"
    return None


def check_quantity(field: str, value: int) -> str | None:
    """Problem with a quantity (1..MAX_QUANTITY inclusive), or None if it fits."""
    if not 1 <= value <= MAX_QUANTITY:
        return f"{field} is {value} (1..{MAX_QUANTITY} required)"
    return None
