"""Wire models of the HTTP API (docs/API.md), separate from the index's tables.

Output models mirror the repository's dicts (``ledger/db/repository.py``), which are shaped
as the JSON; quantities are decimal strings (uint64 does not fit a JS number), times integer
Unix seconds with an ISO 8601 UTC twin, hashes ``0x`` + 64 lowercase hex.

Input models validate everything the contract would check *before* anything is stored or
sent: text limits in UTF-8 bytes (the contract's), quantities 1..10^13 (``MAX_QUANTITY``; an
integer or a string of decimal digits), SHA-256 hashes (64 hex characters, optional ``0x``;
normalised to ``0x`` lowercase), times as Unix seconds or RFC 3339 with an offset (naive
times are refused) before the year 10000 (``MAX_DATE``), promise and delivery dates not in
the future, a due date after the promise date. Unknown fields are refused. Stricter than the
contract (:func:`text_problem`): no control characters (line breaks and tabs only in
description, note and reason), no bidirectional override or isolate characters, and no
required text that is only whitespace.
"""

from __future__ import annotations

import re
import time
import unicodedata
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Callable, Iterable, Literal

from fastapi import UploadFile
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ledger.limits import (  # the contract's limits: one Python mirror
    AMEND_FIELD_NAMES,
    ASSET_REF_MAX_BYTES,
    DESCRIPTION_MAX_BYTES,
    EXTERNAL_REF_MAX_BYTES,
    MAX_DATE,
    MAX_EVIDENCE,
    MAX_QUANTITY,
    MAX_WEIGHT,
    NOTE_MAX_BYTES,
    REASON_MAX_BYTES,
    THEME_MAX_BYTES,
    TITLE_MAX_BYTES,
    UNIT_MAX_BYTES,
    URI_MAX_BYTES,
    normalise_external_ref,
)
from ledger.signing import OPERATIONS as SIGNED_OPERATIONS
from ledger.sources import SourceCredit, sources_of_commitments

# ------------------------------------------------------------------ limits

MAX_UNIX_SECONDS = MAX_DATE - 1
"""9999-12-31T23:59:59Z: the last time the contract accepts as a due date (``dueDate < MAX_DATE``)
and the last with an ISO 8601 twin."""

MAX_BATCH_ITEMS = 100
"""Most records in one batch write (``/staff/commitments/batch``, ``/staff/deliveries/batch``):
one transaction of at most 100 registrations stays well inside a block's gas limit."""

MAX_BATCH_LEAVES = 10_000
"""Most deliveries in one anchored batch (``POST /staff/batches``): its file (at most
``api.services.batches.BATCH_FILE_MAX_BYTES``) is stored here and read whole by the indexer;
the anchor itself costs the same for any number of leaves."""

AmendmentField = Literal["title", "description", "target_quantity", "due_date"]
"""A field an amendment may change (``ledger.limits.AMEND_FIELD_NAMES``)."""

StatusName = Literal["pending", "in_progress", "delivered", "delivered_late", "overdue", "withdrawn"]
"""A commitment's status (ledger.status.STATUSES)."""

CommitmentSort = Literal[
    "id", "-id", "due_date", "-due_date", "progress", "-progress", "status", "-status", "last_change", "-last_change"
]
"""How ``GET /commitments`` sorts (``ledger.db.repository.COMMITMENT_SORTS``, same order): a key
ascending, or descending with a ``-`` prefix; ties by id ascending."""


# ------------------------------------------------------------------ input types


_C0_NAMES = (
    "NULL", "START OF HEADING", "START OF TEXT", "END OF TEXT", "END OF TRANSMISSION", "ENQUIRY",
    "ACKNOWLEDGE", "ALERT", "BACKSPACE", "CHARACTER TABULATION", "LINE FEED", "LINE TABULATION",
    "FORM FEED", "CARRIAGE RETURN", "SHIFT OUT", "SHIFT IN", "DATA LINK ESCAPE", "DEVICE CONTROL ONE",
    "DEVICE CONTROL TWO", "DEVICE CONTROL THREE", "DEVICE CONTROL FOUR", "NEGATIVE ACKNOWLEDGE",
    "SYNCHRONOUS IDLE", "END OF TRANSMISSION BLOCK", "CANCEL", "END OF MEDIUM", "SUBSTITUTE", "ESCAPE",
    "INFORMATION SEPARATOR FOUR", "INFORMATION SEPARATOR THREE", "INFORMATION SEPARATOR TWO",
    "INFORMATION SEPARATOR ONE",
)
"""Names (Unicode name aliases) of U+0000..U+001F, which have no character name."""

LINE_BREAKS = frozenset("\n\r\t")
"""The only control characters a text may hold, and only a multi-line one (description,
note, reason)."""

BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
"""Bidirectional embedding, override and isolate characters (U+202A..U+202E,
U+2066..U+2069): they can make text display otherwise than it reads ("Trojan Source")."""

MULTILINE_FIELDS = frozenset({"description", "note", "reason"})
"""Text fields that may hold line breaks and tabs; every other text is a single line."""


def code_point_name(char: str) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``: the code point and its name (or alias)."""
    code = ord(char)
    if code < 0x20:
        name = _C0_NAMES[code]
    elif code == 0x7F:
        name = "DELETE"
    elif 0x80 <= code <= 0x9F:
        name = "NEXT LINE" if code == 0x85 else "C1 CONTROL"
    else:
        name = unicodedata.name(char, "UNNAMED")
    return f"U+{code:04X} ({name})"


def text_problem(field: str, value: str, *, multiline: bool, required: bool) -> tuple[str, str] | None:
    """What is wrong with a text besides its length, as ``(error type, message)``, or None.

    Refused: a required text that is only whitespace (or invisible format characters);
    control characters (Unicode category Cc: C0, DELETE, C1) except line feed, carriage
    return and tab in a multi-line text; bidirectional embedding/override/isolate characters.
    The message names the field and the first offending code point, e.g. ``title contains
    U+202E (RIGHT-TO-LEFT OVERRIDE): ...``. Shared with tools that check texts before sending.
    """
    if required and all(c.isspace() or unicodedata.category(c) == "Cf" for c in value):
        return "string_blank", f"{field} is only whitespace; it needs visible text"
    for char in value:
        if char in BIDI_CONTROLS:
            return (
                "string_bidi_control",
                f"{field} contains {code_point_name(char)}: bidirectional override and isolate "
                "characters can disguise text and are not allowed",
            )
        if unicodedata.category(char) == "Cc":
            if char in LINE_BREAKS:
                if multiline:
                    continue
                return "string_multiline", f"{field} contains {code_point_name(char)}: {field} is a single line"
            return "string_control_character", f"{field} contains {code_point_name(char)}, a control character"
    return None


def _char_class(chars: Iterable[str]) -> str:
    """The inside of a regex character class holding ``chars``, as ``\\uXXXX`` ranges (read the
    same by ECMA-262, as OpenAPI readers do, and by Python's ``re``)."""
    codes = sorted({ord(c) for c in chars})
    parts: list[str] = []
    start = previous = codes[0]
    for code in [*codes[1:], None]:
        if code is not None and code == previous + 1:
            previous = code
            continue
        parts.append(f"\\u{start:04x}" if start == previous else f"\\u{start:04x}-\\u{previous:04x}")
        if code is not None:
            start = previous = code
    return "".join(parts)


_BMP = [chr(c) for c in range(0x10000) if not 0xD800 <= c < 0xE000]
_FORBIDDEN = {
    multiline: _char_class(
        [c for c in _BMP if unicodedata.category(c) == "Cc" and not (multiline and c in LINE_BREAKS)]
        + sorted(BIDI_CONTROLS)
    )
    for multiline in (False, True)
}
"""Characters no text may hold (:func:`text_problem`), as a character class: control
characters (line breaks and tabs allowed in a multi-line text) and bidirectional controls.
(Lone surrogates, which are no Unicode text and refused too, cannot be written in a pattern
that every regex engine compiles.)"""
_INVISIBLE = _char_class(c for c in _BMP if c.isspace() or unicodedata.category(c) in ("Cc", "Cf"))
"""Characters that do not make a required text visible (whitespace, control and format
characters of the Basic Multilingual Plane)."""


def text_pattern(*, multiline: bool, required: bool) -> str:
    """The JSON Schema ``pattern`` of a text field: no character :func:`text_problem` refuses
    and, for a required text, at least one visible character."""
    allowed = f"[^{_FORBIDDEN[multiline]}]"
    if not required:
        return f"^{allowed}*$"
    return f"^{allowed}*[^{_FORBIDDEN[multiline]}{_INVISIBLE}]{allowed}*$"


def _utf8_text(
    min_bytes: int, max_bytes: int, *, multiline: bool = False, normalise: Callable[[str], str] | None = None
) -> Any:
    """A text field of ``min_bytes..max_bytes`` UTF-8 bytes (inclusive) that :func:`text_problem`
    accepts; with ``normalise``, the normalised text is checked and kept (external refs:
    ``ledger.limits.normalise_external_ref``)."""

    def check(value: str, info: ValidationInfo) -> str:
        if normalise is not None:
            value = normalise(value)
        size = len(value.encode("utf-8", errors="surrogatepass"))
        if size < min_bytes:
            raise PydanticCustomError(
                "string_too_short_bytes", "String should have at least {min_bytes} byte(s)", {"min_bytes": min_bytes}
            )
        if size > max_bytes:
            raise PydanticCustomError(
                "string_too_long_bytes",
                "String should have at most {max_bytes} bytes (UTF-8), got {size}",
                {"max_bytes": max_bytes, "size": size},
            )
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise PydanticCustomError("string_not_utf8", "String is not valid Unicode text") from exc
        problem = text_problem(info.field_name or "text", value, multiline=multiline, required=min_bytes > 0)
        if problem is not None:
            raise PydanticCustomError(problem[0], problem[1])
        return value

    lines = "may span lines" if multiline else "one line"
    return Annotated[
        str,
        AfterValidator(check),
        WithJsonSchema(
            {
                "type": "string",
                # bytes bound characters from above (exact for ASCII); the byte limit is checked too
                **({"minLength": 1} if min_bytes > 0 else {}),
                "maxLength": max_bytes,
                "pattern": text_pattern(multiline=multiline, required=min_bytes > 0),
                "description": f"UTF-8 text of {min_bytes}..{max_bytes} bytes, {lines}; no control or "
                "bidirectional override characters" + ("; not only whitespace" if min_bytes > 0 else "")
                + ("; taken in Unicode NFC, the limit counting the NFC form" if normalise is not None else ""),
            }
        ),
    ]


ExternalRef = _utf8_text(1, EXTERNAL_REF_MAX_BYTES, normalise=normalise_external_ref)
DeliveryRef = _utf8_text(0, EXTERNAL_REF_MAX_BYTES, normalise=normalise_external_ref)
Title = _utf8_text(1, TITLE_MAX_BYTES)
Description = _utf8_text(0, DESCRIPTION_MAX_BYTES, multiline=True)
Theme = _utf8_text(0, THEME_MAX_BYTES)
Unit = _utf8_text(1, UNIT_MAX_BYTES)
Uri = _utf8_text(0, URI_MAX_BYTES)
Note = _utf8_text(0, NOTE_MAX_BYTES, multiline=True)
Reason = _utf8_text(1, REASON_MAX_BYTES, multiline=True)


def _asset_ref(value: str, info: ValidationInfo) -> str:
    """An asset ref as sent on chain: checked as a single-line text, then normalised
    (``ledger.merkle.normalise_asset_ref``: NFC, trimmed, inner whitespace runs one space),
    then at most :data:`ASSET_REF_MAX_BYTES` bytes (UTF-8)."""
    from ledger.merkle import normalise_asset_ref  # the one normalising rule (docs/LEDGER.md "Assets")

    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise PydanticCustomError("string_not_utf8", "String is not valid Unicode text") from exc
    problem = text_problem(info.field_name or "asset_ref", value, multiline=False, required=False)
    if problem is not None:
        raise PydanticCustomError(problem[0], problem[1])
    normalised = normalise_asset_ref(value)
    size = len(normalised.encode("utf-8"))
    if size > ASSET_REF_MAX_BYTES:
        raise PydanticCustomError(
            "string_too_long_bytes",
            "String should have at most {max_bytes} bytes (UTF-8), got {size}",
            {"max_bytes": ASSET_REF_MAX_BYTES, "size": size},
        )
    return normalised


AssetRef = Annotated[
    str,
    AfterValidator(_asset_ref),
    WithJsonSchema({
        "type": "string",
        "description": f"the asset this delivers (a streetlight number, an address code), 0..{ASSET_REF_MAX_BYTES} bytes "
        "of UTF-8 after normalising (NFC, trimmed, inner whitespace runs one space; case kept), one line; "
        "counted once per commitment",
    }),
]

_DIGITS = re.compile(r"^[0-9]{1,32}$")
_SHA256 = re.compile(r"^(?:0x)?([0-9a-fA-F]{64})$")
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


_SIGNED_DIGITS = re.compile(r"^-[0-9]{1,32}$")

def _power_of_ten(value: int) -> str:
    exponent = len(str(value)) - 1
    return f"10^{exponent}" if value == 10**exponent else str(value)


QUANTITY_RANGE_TEXT = f"from 1 to {_power_of_ten(MAX_QUANTITY)} ({MAX_QUANTITY})"
"""The allowed range of a quantity, as the error messages give it."""


def _parse_quantity(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise PydanticCustomError(
            "quantity_type",
            "Quantity should be a whole number {range}, as an integer or a string of decimal digits",
            {"range": QUANTITY_RANGE_TEXT},
        )
    if isinstance(value, str):
        if not (_DIGITS.match(value) or _SIGNED_DIGITS.match(value)):
            raise PydanticCustomError(
                "quantity_type",
                "Quantity should be a whole number {range}, as an integer or a string of decimal digits",
                {"range": QUANTITY_RANGE_TEXT},
            )
        value = int(value)
    if not 1 <= value <= MAX_QUANTITY:
        raise PydanticCustomError(
            "quantity_range", "Quantity should be a whole number {range}", {"range": QUANTITY_RANGE_TEXT}
        )
    return value


Quantity = Annotated[
    int,
    PlainValidator(_parse_quantity),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY},
                {"type": "string", "pattern": f"^([1-9][0-9]{{0,{len(str(MAX_QUANTITY)) - 2}}}|{MAX_QUANTITY})$"},
            ],
            "description": f"1..{_power_of_ten(MAX_QUANTITY)}, in the commitment's unit; an integer or a decimal string",
            "examples": ["200"],
        }
    ),
]


def _parse_unix_time(value: Any) -> int:
    """Unix seconds from an int, a string of digits, or RFC 3339 text with an offset."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise PydanticCustomError("time_type", "Time should be Unix seconds or RFC 3339 text with a time zone offset")
    if isinstance(value, str):
        if _DIGITS.match(value):
            value = int(value)
        elif _RFC3339.match(value):
            text = value[:-1] + "+00:00" if value[-1] in "Zz" else value
            text = text.replace("t", "T").replace(" ", "T", 1)
            fraction = re.search(r"\.(\d+)", text)
            if fraction:  # fromisoformat takes at most microseconds; sub-seconds are dropped anyway
                text = text.replace(fraction.group(0), "")
            try:
                moment = datetime.fromisoformat(text)
            except ValueError as exc:
                raise PydanticCustomError("time_parsing", "Time is not a valid RFC 3339 date-time") from exc
            value = (moment - _EPOCH) // timedelta(seconds=1)
        elif re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$", value):
            raise PydanticCustomError(
                "time_naive", "Time has no time zone offset; add Z or +hh:mm (RFC 3339)"
            )
        else:
            raise PydanticCustomError("time_type", "Time should be Unix seconds or RFC 3339 text with a time zone offset")
    if not 1 <= value <= MAX_UNIX_SECONDS:
        raise PydanticCustomError(
            "time_range", "Time should be between 1 and {max} Unix seconds", {"max": MAX_UNIX_SECONDS}
        )
    return value


_TIME_SCHEMA = {
    "anyOf": [
        {"type": "integer", "minimum": 1, "maximum": MAX_UNIX_SECONDS, "description": "Unix seconds"},
        {
            "type": "string",
            "format": "date-time",
            # years 1971..9998, so that any offset stays within 1..MAX_UNIX_SECONDS
            "pattern": "^(197[1-9]|19[89][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-",
            "description": "RFC 3339 with offset",
        },
    ],
}

UnixTime = Annotated[int, PlainValidator(_parse_unix_time), WithJsonSchema(_TIME_SCHEMA)]


def _not_in_future(value: int) -> int:
    now = int(time.time())
    if value > now:
        raise PydanticCustomError(
            "time_in_future", "Time is in the future ({value} > now {now})", {"value": value, "now": now}
        )
    return value


PastUnixTime = Annotated[int, PlainValidator(_parse_unix_time), AfterValidator(_not_in_future), WithJsonSchema(_TIME_SCHEMA)]


def normalise_sha256(value: Any) -> str:
    """``0x`` + 64 lowercase hex from 64 hex characters with an optional ``0x``."""
    match = _SHA256.match(value) if isinstance(value, str) else None
    if match is None:
        raise PydanticCustomError(
            "sha256_format", "Should be a SHA-256 hash: 64 hexadecimal characters, optional 0x prefix"
        )
    return "0x" + match.group(1).lower()


def _non_zero_sha256(value: str) -> str:
    if int(value, 16) == 0:
        raise PydanticCustomError("sha256_zero", "The zero hash is not a document hash")
    return value


_SHA256_SCHEMA = {"type": "string", "pattern": "^(0x)?[0-9a-fA-F]{64}$", "examples": ["0x" + "ab" * 32]}
_DOCUMENT_SHA256_SCHEMA = {
    **_SHA256_SCHEMA,
    "not": {"pattern": "^(0x)?0{64}$"},
    "description": "SHA-256 of a document: 64 hex characters, optional 0x; not the zero hash",
}

Sha256 = Annotated[str, PlainValidator(normalise_sha256), WithJsonSchema(_SHA256_SCHEMA)]
DocumentSha256 = Annotated[
    str, PlainValidator(normalise_sha256), AfterValidator(_non_zero_sha256), WithJsonSchema(_DOCUMENT_SHA256_SCHEMA)
]


def _not_a_boolean(value: Any) -> Any:
    """Refuse ``true``/``false`` where a number is wanted (pydantic's lax mode reads them as 1/0)."""
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer, not a boolean")
    return value


WholeNumber = BeforeValidator(_not_a_boolean)
"""For ``int`` fields of request bodies: a JSON boolean is no number."""


class InputModel(BaseModel):
    """Base of request bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------ staff inputs


class CommitmentIn(InputModel):
    """A new commitment (``registerCommitment``); the municipality comes from the token.

    Two clocks: ``promised_at`` is when the promise was made (e.g. the council adopted the
    agreement), claimed by the registrar, not in the future; the chain adds the registration
    time. ``promised_at < due_date`` (the contract's ``LedgerInvalidDueDate``).
    """

    external_ref: ExternalRef = Field(description="the source's own id, unique per municipality")
    title: Title
    description: Description = ""
    theme: Theme = ""
    target_quantity: Quantity
    unit: Unit
    promised_at: PastUnixTime = Field(
        description="when the promise was made (claimed): Unix seconds or RFC 3339 with offset; not in the future"
    )
    due_date: UnixTime = Field(description="deadline, after promised_at; due passed when block time > due_date")
    source_document_sha256: DocumentSha256 | None = None
    source_uri: Uri = ""
    parent_id: Annotated[int | None, WholeNumber] = Field(
        default=None, ge=1, le=2**63 - 1,
        description="the commitment this one is a part of (same municipality, not withdrawn), or null",
    )
    weight: Annotated[int | None, WholeNumber] = Field(
        default=None, ge=0, le=MAX_WEIGHT,
        description=f"weight in the parent's roll-up, 1..{MAX_WEIGHT} (default 1 with a parent); none or 0 without parent",
    )

    @model_validator(mode="after")
    def _due_after_promise(self) -> "CommitmentIn":
        if self.due_date <= self.promised_at:
            raise PydanticCustomError(
                "due_date_before_promise",
                "due_date {due_date} is not after promised_at {promised_at}: a deadline comes after the promise",
                {"due_date": self.due_date, "promised_at": self.promised_at},
            )
        return self

    @model_validator(mode="after")
    def _weight_with_parent(self) -> "CommitmentIn":
        if self.parent_id is None and self.weight:
            raise PydanticCustomError(
                "weight_without_parent",
                "weight {weight} needs a parent_id: only a part of another commitment has a weight",
                {"weight": self.weight},
            )
        if self.parent_id is not None and self.weight == 0:
            raise PydanticCustomError(
                "weight_range",
                "weight of a part of commitment {parent_id} should be from 1 to {max}",
                {"parent_id": self.parent_id, "max": MAX_WEIGHT},
            )
        return self

    @property
    def chain_weight(self) -> int:
        """``CommitmentInput.weight``: the weight given, 1 by default with a parent, 0 without."""
        if self.parent_id is None:
            return 0
        return 1 if self.weight is None else self.weight


class AmendmentIn(InputModel):
    """An amendment (``amendCommitment``): only the fields given (not null) change; at least
    one. ``expected_amendment_count`` is the number of amendments the registrar saw (the
    detail's ``amendment_count``); the contract refuses a stale one, so nothing is read from
    the index to fill in the others."""

    expected_amendment_count: Annotated[int, WholeNumber] = Field(
        ge=0, le=2**32 - 1, description="amendments the registrar saw (0 before the first); a stale count is 409"
    )
    title: Title | None = None
    description: Description | None = None
    target_quantity: Quantity | None = None
    due_date: UnixTime | None = None
    reason: Reason

    @property
    def fields(self) -> list[str]:
        """The names of the fields this amendment changes, in bit order."""
        return [name for _bit, name in AMEND_FIELD_NAMES if getattr(self, name) is not None]

    @property
    def fields_bits(self) -> int:
        """``AmendmentInput.fields``: the AMEND_* bits of :attr:`fields`."""
        return sum(bit for bit, name in AMEND_FIELD_NAMES if getattr(self, name) is not None)

    @model_validator(mode="after")
    def _names_a_field(self) -> "AmendmentIn":
        if not self.fields:
            raise PydanticCustomError(
                "amendment_no_field",
                "An amendment changes at least one of title, description, target_quantity, due_date",
            )
        return self


class ReasonIn(InputModel):
    """A withdrawal or revocation: only the reason."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Vervangen door het woningbouwplan"}]})

    reason: Reason


def _drop_empty_uploads(value: Any) -> Any:
    """A form's file input left empty sends a part with no file name and no bytes: ignore it."""
    if isinstance(value, list):
        return [v for v in value if not (isinstance(v, UploadFile) and not v.filename and not v.size)]
    return value


class DeliveryForm(InputModel):
    """A delivery (``recordDelivery``), sent as multipart/form-data.

    ``evidence`` files are stored by their SHA-256; ``evidence_sha256`` cites files
    published elsewhere. Files' hashes come first, in upload order, then the given hashes.
    1..16 evidence items in all (the schema says: at least one of either, each at most 16).
    """

    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"required": ["evidence"], "properties": {"evidence": {"minItems": 1}}},
        {"required": ["evidence_sha256"], "properties": {"evidence_sha256": {"minItems": 1}}},
    ]})

    quantity: Quantity
    delivered_at: PastUnixTime = Field(description="Unix seconds or RFC 3339 with offset; not in the future")
    note: Note = ""
    evidence_uri: Uri = ""
    external_ref: DeliveryRef = Field(default="", description="unique per commitment when not empty")
    asset_ref: AssetRef = ""
    # maxItems in the schema only: the count of both together is checked below, with one message
    evidence: Annotated[list[UploadFile], BeforeValidator(_drop_empty_uploads)] = Field(
        default_factory=list, json_schema_extra={"maxItems": MAX_EVIDENCE},
        description="evidence files, each at most the configured size (default 10 MiB)",
    )
    evidence_sha256: list[DocumentSha256] = Field(
        default_factory=list, json_schema_extra={"maxItems": MAX_EVIDENCE, "uniqueItems": True},
        description="SHA-256 of evidence files published elsewhere, none twice",
    )

    @model_validator(mode="after")
    def _evidence_count(self) -> "DeliveryForm":
        count = len(self.evidence) + len(self.evidence_sha256)
        if not 1 <= count <= MAX_EVIDENCE:
            raise PydanticCustomError(
                "evidence_count",
                "A delivery needs 1..{max} evidence items (files plus evidence_sha256), got {count}",
                {"max": MAX_EVIDENCE, "count": count},
            )
        return self


class CommitmentBatchIn(InputModel):
    """Many registrations in one transaction (``multicall``): all or nothing. Repeated
    ``external_ref`` values are refused by the service (422, ``loc`` naming the item)."""

    commitments: list[CommitmentIn] = Field(
        min_length=1, max_length=MAX_BATCH_ITEMS, description=f"1..{MAX_BATCH_ITEMS} commitments, as POST /staff/commitments"
    )


class DeliveryIn(InputModel):
    """A delivery in a batch: as the form of ``POST /staff/commitments/{id}/deliveries``, with
    the commitment named and evidence as hashes only (no files)."""

    commitment_id: Annotated[int, WholeNumber] = Field(ge=1, le=2**63 - 1)
    quantity: Quantity
    delivered_at: PastUnixTime = Field(description="claimed: Unix seconds or RFC 3339 with offset; not in the future")
    evidence_sha256: list[DocumentSha256] = Field(min_length=1, max_length=MAX_EVIDENCE)
    evidence_uri: Uri = ""
    note: Note = ""
    external_ref: DeliveryRef = Field(default="", description="unique per commitment when not empty")
    asset_ref: AssetRef = ""


class DeliveryBatchIn(InputModel):
    """Many deliveries in one transaction (``multicall``): all or nothing. A repeated
    (``commitment_id``, ``external_ref``) or evidence hash is refused by the service (422,
    ``loc`` naming the item)."""

    deliveries: list[DeliveryIn] = Field(min_length=1, max_length=MAX_BATCH_ITEMS, description=f"1..{MAX_BATCH_ITEMS} deliveries")


class BatchDeliveryIn(InputModel):
    """One delivery of an anchored batch (a leaf, docs/LEDGER.md "Batches"): as a delivery of
    ``POST /staff/deliveries/batch``, evidence cited by hash."""

    commitment_id: Annotated[int, WholeNumber] = Field(ge=1, le=2**63 - 1)
    quantity: Quantity
    delivered_at: PastUnixTime = Field(description="claimed: Unix seconds or RFC 3339 with offset; not in the future")
    evidence_hashes: list[DocumentSha256] = Field(min_length=1, max_length=MAX_EVIDENCE)
    evidence_uri: Uri = ""
    note: Note = ""
    external_ref: DeliveryRef = Field(default="", description="unique per commitment when not empty")
    asset_ref: AssetRef = ""


class BatchIn(InputModel):
    """A batch of deliveries to anchor as one Merkle root (``anchorBatch``)."""

    municipality_id: Annotated[int, WholeNumber] = Field(ge=1, le=2**32 - 1, description="the token's municipality")
    deliveries: list[BatchDeliveryIn] = Field(
        min_length=1, max_length=MAX_BATCH_LEAVES, description=f"1..{MAX_BATCH_LEAVES} deliveries, the file's order"
    )
    file_uri: Uri | None = Field(
        default=None,
        description="where the batch file is published (..512 bytes); null or empty: this server's "
        "GET /api/v1/batches/{root}/file",
    )


class ConfirmationIn(InputModel):
    """A confirmation of a delivery, optionally citing the confirmer's own evidence."""

    evidence_hash: DocumentSha256 | None = Field(
        default=None, description="SHA-256 of the confirmer's evidence (an inspection report), or null"
    )


JSON_SAFE_INTEGER_MAX = 2**53 - 1
"""Largest integer a JSON number carries exactly to every reader (RFC 7493, I-JSON §2.2)."""

_UINT256_TEXT = re.compile(r"^[0-9]{1,77}$")
"""A uint256 as decimal text: up to 77 digits, so always below 2**256 (about 1.16 * 10**77)."""


def _parse_uint256(value: Any) -> int:
    if isinstance(value, str) and _UINT256_TEXT.match(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= JSON_SAFE_INTEGER_MAX:
        return value
    raise PydanticCustomError(
        "uint256_type",
        "Should be a whole number from 0, as an integer up to {max_integer} or a string of 1 to 77 decimal digits",
        {"max_integer": JSON_SAFE_INTEGER_MAX},
    )


Uint256 = Annotated[
    int,
    PlainValidator(_parse_uint256),
    WithJsonSchema({
        "anyOf": [
            {"type": "integer", "minimum": 0, "maximum": JSON_SAFE_INTEGER_MAX},
            {"type": "string", "pattern": _UINT256_TEXT.pattern},
        ],
        "description": "a uint256: an integer up to 2^53 - 1, or decimal digits (at most 77) for a larger one",
        "examples": [0, "1767225600"],
    }),
]
"""A ``uint256`` argument: a JSON integer up to :data:`JSON_SAFE_INTEGER_MAX` or its decimal
text (1..77 ASCII digits) for any size; 422 otherwise."""


class AuthorizationIn(InputModel):
    """Who signed a relayed write (``ICommitmentLedger.Authorization``)."""

    signer: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$", description="the signing account (registrar or confirmer)")
    nonce: Uint256 = Field(description="the signer's next nonce (nonces(signer))")
    deadline: Uint256 = Field(description="last block time (Unix seconds, inclusive) the signature is accepted")
    signature: str = Field(pattern=r"^0x([0-9a-fA-F]{2})+$", max_length=2 + 2 * 4096, description="0x hex")


class RelayIn(InputModel):
    """A write signed elsewhere (EIP-712, ``ledger.signing``), for the API's relayer to submit."""

    operation: str = Field(description="the signed write, e.g. recordDelivery (GET /relay/typed-data lists them)",
                           json_schema_extra={"enum": list(SIGNED_OPERATIONS)})
    message: dict[str, Any] = Field(description="the typed-data message that was signed, as JSON (ledger.signing)")
    authorization: AuthorizationIn


class VerifyForm(InputModel):
    """A document to hash (multipart/form-data, field ``file``); nothing is stored."""

    file: UploadFile


# ------------------------------------------------------------------ output types


def _to_decimal_string(value: Any) -> Any:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


DecimalString = Annotated[str, BeforeValidator(_to_decimal_string), Field(pattern=r"^[0-9]+$", examples=["200"])]


class ChainRef(BaseModel):
    """Where a fact is recorded on chain."""

    tx_hash: str
    block_number: int
    log_index: int
    block_time: int = Field(description="Unix seconds")
    block_time_iso: str = Field(examples=["2025-11-29T10:40:00Z"])


class StatusCounts(BaseModel):
    """Number of commitments in each status (all six always present)."""

    pending: int
    in_progress: int
    delivered: int
    delivered_late: int
    overdue: int
    withdrawn: int


class Source(BaseModel):
    """A data source to credit wherever its data is shown or exported."""

    id: str = Field(
        description="stable source id (its mapping's source.id); a commitment's on-chain source_uri names it as "
        "#ledger-source=<id>", examples=["baarn-coalitieakkoord-2022-2026"],
    )
    name: str
    publisher: str
    url: str
    licence: str
    credit: str = Field(description='one line: "<name> — <publisher> — <url> — <licence>"')
    follow_up: bool = Field(
        description="whether the source tracks follow-up (records deliveries or progress); false for one of promises only"
    )

    @classmethod
    def of(cls, credits: Iterable[SourceCredit]) -> list["Source"]:
        """These credits (``ledger.sources``, which decides them), in their order."""
        return [cls(id=c.id, name=c.name, publisher=c.publisher, url=c.url, licence=c.licence, credit=c.credit,
                    follow_up=c.follow_up) for c in credits]

    @classmethod
    def list_for(
        cls, sources: dict[str, list[SourceCredit]], codes: Iterable[str], *, source_uri: str | None = None
    ) -> list["Source"]:
        """The credits of the municipalities with these codes, once each, in code order; with
        ``source_uri``, only the sources a commitment with that on-chain ``source_uri`` comes from."""
        if source_uri is not None:
            return cls.of(sources_of_commitments(sources, [(code, source_uri) for code in codes]))
        return cls.of(c for code in sorted(set(codes)) for c in sources.get(code, []))


class RegistrarTerm(BaseModel):
    """A period in which an account held the registrar role (``removed`` null while it does)."""

    account: str
    added_by: str
    added: ChainRef
    removed_by: str | None
    removed: ChainRef | None


class AdminChange(BaseModel):
    """A change of a municipality's admin: a two-step handover (``recovered`` false) or a
    completed public recovery (``recovered`` true)."""

    previous_admin: str
    new_admin: str
    recovered: bool = Field(description="true when made by the time-locked public recovery")
    chain: ChainRef


class Recovery(BaseModel):
    """A pending public recovery of a municipality's admin role (docs/LEDGER.md "Recovery")."""

    proposed_admin: str
    executable_at: int = Field(description="Unix seconds from which anyone may complete it (42 days after the start)")
    executable_at_iso: str
    started_by: str = Field(description="the platform admin account that started it")
    started: ChainRef


class Municipality(BaseModel):
    """An issuing municipality, in sole charge of its own record."""

    id: int
    name: str
    code: str
    admin: str
    pending_admin: str | None = Field(description="the proposed next admin (two-step handover), or null")
    recovery: Recovery | None = Field(description="a pending public recovery, or null")
    admin_changes: list[AdminChange] = Field(description="every admin change, oldest first")
    registrars: list[str] = Field(description="current registrars, in the order they were added")
    registrar_history: list[RegistrarTerm] = Field(description="every registrar term, oldest first")
    confirmers: list[str] = Field(description="current confirmers (inspectors, accountants), in the order they were added")
    confirmer_history: list[RegistrarTerm] = Field(description="every confirmer term, oldest first")
    commitment_count: int
    status_counts: StatusCounts = Field(description="commitments per status (claimed clock, current terms)")
    status_on_record_counts: StatusCounts = Field(description="commitments per on-record status")
    registered: ChainRef
    sources: list[Source] = Field(default_factory=list, description="where its data comes from (credit them)")


class MunicipalityList(BaseModel):
    data: list[Municipality]
    count: int


class ThemeCount(BaseModel):
    theme: str
    count: int


class ThemeList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"data": [{"theme": "Groen", "count": 12}], "count": 1}]})

    data: list[ThemeCount]
    count: int


class FollowUp(BaseModel):
    """Whether a commitment's status can be read as its sources' verdict (``ledger.sources
    .follow_up_of``). The status itself is the rules' (docs/LEDGER.md), whatever this says."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"tracked": False, "by": ["baarn-coalitieakkoord-2022-2026"]}, {"tracked": True, "by": []}]})

    tracked: bool = Field(
        description="false when every source it comes from records no follow-up (Source.follow_up false) and no "
        "delivery (recorded or batched, revoked ones included) names it: an overdue status then means nobody "
        "records deliveries, not that the source says it was not done. True otherwise, also for a commitment "
        "typed in by hand (its registrar is its source) and once any delivery is recorded"
    )
    by: list[str] = Field(description="when tracked is false, the ids of those sources (Source.id); else empty")


class CommitmentSummary(BaseModel):
    """A commitment in lists; statuses evaluated at the request time (docs/LEDGER.md: one
    mapping, two clocks, two sets of terms)."""

    id: int
    municipality_id: int
    municipality_name: str
    external_ref: str
    title: str
    theme: str
    unit: str
    target_quantity: DecimalString = Field(description="current target, in unit")
    original_target_quantity: DecimalString = Field(description="target as registered (never changes)")
    delivered_quantity: DecimalString = Field(description="sum of the non-revoked deliveries, in unit")
    progress_bps: int = Field(description="floor(delivered * 10000 / target); may exceed 10000")
    progress_bps_original_terms: int = Field(description="the same against the original target")
    status: StatusName = Field(description="claimed dates, current terms (what the municipality reports)")
    status_on_record: StatusName = Field(description="recording times, current terms (the contract's statusOf)")
    status_original_terms: StatusName = Field(description="claimed dates, original terms")
    status_on_record_original_terms: StatusName = Field(description="recording times, original terms")
    met_only_under_relaxed_terms: bool = Field(
        description="status is better under the current terms than under the original ones (a compromise, not a promise kept)"
    )
    promised_at: int = Field(description="when the promise was made (claimed), Unix seconds")
    promised_at_iso: str
    registration_lag_days: int = Field(description="floor((registration block time - promised_at) / 86400)")
    historical_record: bool = Field(description="registered after its original due date: a record of an old promise")
    due_date: int = Field(description="current due date, Unix seconds")
    due_date_iso: str
    original_due_date: int
    original_due_date_iso: str
    met_at: int | None = Field(description="claimed clock, current terms; null while not met")
    met_at_iso: str | None
    met_on_record_at: int | None
    met_on_record_at_iso: str | None
    met_at_original_terms: int | None
    met_at_original_terms_iso: str | None
    met_on_record_at_original_terms: int | None
    met_on_record_at_original_terms_iso: str | None
    amendment_count: int
    amended_after_due_date: bool = Field(description="an amendment was made after the due date then in force")
    target_lowered: bool = Field(description="an amendment lowered the target")
    recorded_late_count: int = Field(description="non-revoked deliveries recorded more than 30 days after their date")
    registered: ChainRef
    registrar: str
    signer_held_role: bool = Field(description="the registrar held the role at the registration's log (from events)")
    withdrawn: bool
    parent_id: int | None = Field(description="the commitment this one is part of (a sub-commitment), or null")
    weight: int = Field(description="its weight in the parent's roll-up, 1..1,000,000; 0 without parent")
    children: list[int] = Field(description="ids of its sub-commitments (withdrawn ones included)")
    rollup_progress_bps: int | None = Field(
        description="weighted roll-up of the non-withdrawn children's progress (each capped at 10000); null without children"
    )
    rollup_children_delivered: int = Field(description="non-withdrawn children whose status is delivered or delivered_late")
    rollup_children_counted: int = Field(description="non-withdrawn children in the roll-up")
    confirmed_quantity: DecimalString = Field(description="counted deliveries a confirmer confirmed (none disputed)")
    unconfirmed_quantity: DecimalString = Field(description="counted deliveries not confirmed: unconfirmed + disputed")
    disputed_quantity: DecimalString = Field(description="counted deliveries a confirmer disputes")
    status_confirmed: StatusName = Field(description="claimed dates, current terms, counting confirmed deliveries only")
    met_at_confirmed: int | None
    met_at_confirmed_iso: str | None
    progress_bps_confirmed: int = Field(description="floor(confirmed * 10000 / target)")
    batched_delivery_count: int = Field(description="leaves of verified batches that name it (counted or not)")
    last_changed_at: int = Field(
        description="block time of the latest event concerning it (registration, amendment, withdrawal, a delivery "
        "recorded or revoked, a batch anchored with a leaf for it, a batched revocation, a verdict), Unix seconds"
    )
    last_changed_at_iso: str
    follow_up: FollowUp = Field(
        description="whether its sources record follow-up: shown beside the status (an overdue commitment of a "
        "source of promises only is not a broken promise by the source's word)"
    )


class PageLinks(BaseModel):
    """Links to the pages around this one (same filters, sort and limit), ``null`` on the
    last / first page: relative URLs with the opaque cursor as ``after`` / ``before``."""

    next: str | None = Field(description="the next page (`after` cursor), null on the last page")
    prev: str | None = Field(description="the previous page (`before` cursor), null on the first page")


class CommitmentPage(BaseModel):
    data: list[CommitmentSummary]
    count: int = Field(description="total number of matching commitments")
    offset: int
    limit: int
    sources: list[Source] = Field(default_factory=list, description="credits of the sources of this page's commitments")
    next_cursor: str | None = Field(default=None, description="pass as `after` for the next page; null on the last page")
    prev_cursor: str | None = Field(default=None, description="pass as `before` for the previous page; null on the first page")
    links: PageLinks = Field(default_factory=lambda: PageLinks(next=None, prev=None))


class EvidenceRef(BaseModel):
    """An evidence hash of a delivery; ``url`` is set when the file is stored here."""

    sha256: str
    stored: bool
    url: str | None


class RecordedAction(BaseModel):
    """A withdrawal or revocation: the reason, who, whether that account held the role then,
    where on chain."""

    reason: str
    registrar: str
    signer_held_role: bool
    chain: ChainRef


DeliveryKind = Literal["recorded", "batched"]
ReviewName = Literal["unconfirmed", "confirmed", "disputed"]
RefusedReason = Literal[
    "unknown_commitment", "other_municipality", "commitment_withdrawn", "invalid_leaf", "duplicate_external_ref",
    "asset_already_counted",
]
UnverifiedReason = Literal["missing", "sha256_mismatch", "unparseable", "root_mismatch", "leaf_count_mismatch"]


class Confirmation(BaseModel):
    """A confirmer's latest verdict on a delivery: a confirmation."""

    confirmer: str
    evidence_hash: str | None = Field(description="SHA-256 of the confirmer's own evidence, or null")
    at: int = Field(description="block time, Unix seconds")
    at_iso: str
    signer_held_role: bool = Field(description="the account held the confirmer role at that log")
    chain: ChainRef


class Dispute(BaseModel):
    """A confirmer's latest verdict on a delivery: a dispute, with its reason."""

    confirmer: str
    reason: str
    at: int = Field(description="block time, Unix seconds")
    at_iso: str
    signer_held_role: bool
    chain: ChainRef


class Delivery(BaseModel):
    """A delivery, with both clocks: ``delivered_at`` as claimed, ``recorded_at`` the block time.
    ``kind`` ``recorded`` (one transaction, ``DeliveryRecorded``) or ``batched`` (a leaf of a
    verified batch; its id is the leaf hash and it is recorded at the batch's anchor)."""

    kind: DeliveryKind
    id: int | str = Field(description="recorded: commitment_id * 1,000,000 + delivery_number; batched: the leaf hash")
    delivery_number: int | None = Field(
        description="1 for the commitment's first recorded delivery (revoked ones included); null when batched"
    )
    commitment_id: int
    quantity: DecimalString
    delivered_at: int = Field(description="claimed by the registrar, Unix seconds")
    delivered_at_iso: str
    recorded_at: int = Field(description="block time of the record, Unix seconds")
    recorded_at_iso: str
    recording_lag_seconds: int = Field(description="recorded_at - delivered_at (>= 0)")
    recording_lag_days: int = Field(description="floor(recording_lag_seconds / 86400)")
    recorded_late: bool = Field(description="recorded more than 30 days (2,592,000 s) after delivered_at")
    evidence: list[EvidenceRef]
    evidence_uri: str
    note: str
    external_ref: str
    asset_ref: str = Field(description='the asset it delivers (a streetlight, an address code), "" when none')
    double_counted: bool = Field(description="its asset was already counted for this commitment: it counts nothing")
    registrar: str
    signer_held_role: bool
    recorded: ChainRef
    revocation: RecordedAction | None
    review: ReviewName = Field(description="disputed if any confirmer disputes it, else confirmed if one confirmed it")
    confirmations: list[Confirmation] = Field(description="latest verdict per confirmer: confirmations, oldest first")
    disputes: list[Dispute] = Field(description="latest verdict per confirmer: disputes, oldest first")
    batch_root: str | None = Field(description="batched: the batch's Merkle root; null when recorded")
    leaf_hash: str | None = Field(description="batched: its leaf hash; null when recorded")
    leaf_index: int | None = Field(description="batched: its position in the batch file's values; null when recorded")
    counted: bool | None = Field(description="batched: false when refused (refused_reason); null when recorded")
    refused_reason: RefusedReason | None = Field(description="batched: why it counts nothing, or null")


class DeliveryListed(Delivery):
    """A delivery in ``GET /deliveries``, with its commitment named."""

    commitment_title: str
    commitment_status: StatusName = Field(description="the commitment's status (claimed clock, current terms) now")
    unit: str
    municipality_id: int
    municipality_name: str


class DeliveryPage(BaseModel):
    data: list[DeliveryListed]
    count: int = Field(description="total number of matching deliveries")
    offset: int
    limit: int
    sources: list[Source] = Field(default_factory=list, description="credits of the sources of this page's deliveries")


class Amendment(BaseModel):
    """One amendment: only the ``fields`` it names changed (texts not named are null)."""

    amendment_number: int = Field(description="1 for the commitment's first amendment")
    fields: list[AmendmentField]
    title: str | None
    description: str | None
    previous_target_quantity: DecimalString
    target_quantity: DecimalString
    previous_due_date: int
    previous_due_date_iso: str
    due_date: int
    due_date_iso: str
    reason: str
    registrar: str
    amended_at: int = Field(description="block time, Unix seconds")
    amended_at_iso: str
    after_due_date: bool = Field(description="amended_at > previous_due_date (made after the deadline had passed)")
    lowered_target: bool = Field(description="target_quantity < previous_target_quantity")
    extended_due_date: bool = Field(description="due_date > previous_due_date")
    signer_held_role: bool
    chain: ChainRef


class TimelineEntry(BaseModel):
    kind: Literal["registered", "amended", "delivered", "revoked", "withdrawn"]
    chain: ChainRef
    registrar: str
    details: dict[str, Any]


class LedgerRef(BaseModel):
    chain_id: int
    contract_address: str


class DetailLinks(BaseModel):
    """Where the rest of a commitment's deliveries and timeline are (relative URLs)."""

    deliveries_next: str | None = Field(description="/api/v1/commitments/{id}/deliveries?after=...; null when all are shown")
    timeline_next: str | None = Field(description="/api/v1/commitments/{id}/timeline?after=...; null when all are shown")


class CommitmentDetail(CommitmentSummary):
    """A commitment with its texts, deliveries and on-chain timeline."""

    description: str
    source_document_sha256: str | None
    source_uri: str
    withdrawal: RecordedAction | None
    amendments: list[Amendment] = Field(description="every amendment, oldest first")
    deliveries: list[Delivery] = Field(
        description="the first page (50) of its deliveries: recorded ones by id, then batched ones in log order"
    )
    deliveries_count: int = Field(description="all of its deliveries (revoked and uncounted ones included)")
    deliveries_next_cursor: str | None = Field(
        description="pass as `after` to /commitments/{id}/deliveries for the rest; null when all are here"
    )
    timeline: list[TimelineEntry] = Field(description="the first page (50) of its on-chain timeline, (block, log index) order")
    timeline_count: int = Field(description="all of its timeline entries")
    timeline_next_cursor: str | None = Field(
        description="pass as `after` to /commitments/{id}/timeline for the rest; null when all are here"
    )
    detail_links: DetailLinks = Field(description="the second pages of `deliveries` and `timeline`, null when all are here")
    ledger: LedgerRef
    sources: list[Source] = Field(default_factory=list, description="where this commitment's data comes from (credit them)")


class CommitmentDeliveryPage(BaseModel):
    """One page of a commitment's deliveries (``GET /commitments/{id}/deliveries``)."""

    data: list[Delivery]
    count: int = Field(description="all of the commitment's deliveries")
    limit: int
    next_cursor: str | None = Field(description="pass as `after` for the next page; null on the last page")
    prev_cursor: str | None = Field(description="pass as `before` for the previous page; null on the first page")
    links: PageLinks


class TimelinePage(BaseModel):
    """One page of a commitment's on-chain timeline (``GET /commitments/{id}/timeline``)."""

    data: list[TimelineEntry]
    count: int = Field(description="all of the commitment's timeline entries")
    limit: int
    next_cursor: str | None = Field(description="pass as `after` for the next page; null on the last page")
    prev_cursor: str | None = Field(description="pass as `before` for the previous page; null on the first page")
    links: PageLinks


class Citation(BaseModel):
    """A delivery citing a document (recorded, or a leaf of a verified batch)."""

    kind: DeliveryKind
    delivery_id: int | str = Field(description="recorded: the delivery id; batched: the leaf hash")
    commitment_id: int
    commitment_title: str
    municipality_id: int
    municipality_name: str
    delivered_at: int = Field(description="claimed, Unix seconds")
    delivered_at_iso: str
    recorded_at: int = Field(description="block time, Unix seconds")
    recorded_at_iso: str
    recorded_late: bool
    quantity: DecimalString
    registrar: str
    signer_held_role: bool
    revoked: bool
    revocation_reason: str | None
    chain: ChainRef = Field(description="the DeliveryRecorded, or the batch's BatchAnchored")
    batch_root: str | None
    leaf_hash: str | None
    counted: bool | None = Field(description="batched: false when the leaf is refused; null when recorded")


class SourceOf(BaseModel):
    """A commitment whose source document has this hash."""

    commitment_id: int
    title: str
    municipality_name: str


class VerifyResult(BaseModel):
    sha256: str
    found: bool
    citations: list[Citation]
    source_of: list[SourceOf]


class BatchSummary(BaseModel):
    """An anchored batch of deliveries (docs/LEDGER.md "Batches"): it counts only once its file
    is held and checked (``verified``)."""

    root: str = Field(description="Merkle root (OpenZeppelin StandardMerkleTree)")
    municipality_id: int
    municipality_name: str
    registrar: str
    signer_held_role: bool
    leaf_count: int = Field(description="number of leaves, as anchored")
    file_sha256: str = Field(description="SHA-256 of the batch file (the tree's dump, JSON)")
    file_uri: str
    file_stored: bool = Field(description="this server holds the file")
    file_url: str | None = Field(description="where this server serves it, or null")
    anchored_at: int = Field(description="block time, Unix seconds: the on-record time of every leaf")
    anchored_at_iso: str
    verified: bool
    unverified_reason: UnverifiedReason | None = Field(description="why it counts nothing; null when verified")
    counted_leaves: int = Field(description="leaves that count now")
    refused_leaves: int = Field(description="leaves refused (refused_reason)")
    revoked_leaves: int = Field(description="leaves that counted and were revoked since")
    chain: ChainRef


class BatchPage(BaseModel):
    data: list[BatchSummary]
    count: int = Field(description="total number of matching batches")
    offset: int
    limit: int


class BatchDetail(BatchSummary):
    """A batch with every leaf of its file, in file order (empty while not verified)."""

    leaves: list[Delivery]
    ledger: LedgerRef


class BatchLeafValues(BaseModel):
    """The ``BatchLeaf`` struct of ``verifyBatchedDelivery``, exact (numbers as decimal strings)."""

    commitment_id: DecimalString
    quantity: DecimalString
    delivered_at: DecimalString
    evidence_hashes: list[str]
    evidence_uri: str
    note: str
    external_ref: str
    asset_ref: str


class BatchLeafProof(BaseModel):
    """Everything needed to check one batched delivery on chain:
    ``verifyBatchedDelivery(root, leaf, proof)`` on ``ledger.contract_address`` answers
    ``(included, leaf_hash, revoked)``."""

    root: str
    leaf_hash: str
    leaf_index: int = Field(description="position in the batch file's values")
    leaf: BatchLeafValues
    values: list[Any] = Field(description="the leaf as the batch file lists it, in leaf_encoding")
    leaf_encoding: list[str]
    proof: list[str] = Field(description="sibling hashes, leaf to root (sorted pairs)")
    counted: bool
    refused_reason: RefusedReason | None
    revoked: bool
    ledger: LedgerRef


class Health(BaseModel):
    """Index health, read from the indexer's checkpoint (``null`` before its first pass), and
    whether the node answers (``api.freshness``)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "ok", "chain_id": 31337, "contract_address": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "deploy_block": 1, "chain_head_block": 1234, "indexed_block": 1234, "lag_blocks": 0,
        "head_seen_at": 1767225600, "paused": False, "contract_version": "2.1.0", "node_reachable": True,
        "index_age_seconds": 2, "reasons": [], "event_errors": 0,
    }]})

    status: Literal["ok", "degraded", "unavailable"] = Field(
        description="ok: node reachable and index fresh; degraded: node reachable, index behind, "
        "stale or not built yet; unavailable: the node does not answer (reads still served from the index)"
    )
    chain_id: int
    contract_address: str
    deploy_block: int
    chain_head_block: int | None
    indexed_block: int | None
    lag_blocks: int | None
    head_seen_at: int | None = Field(description="Unix seconds the indexer last saw the chain head")
    paused: bool | None = Field(description="whether the ledger's writes are paused, as indexed (null before the first pass)")
    contract_version: str | None = Field(description='the contract\'s version(), e.g. "2.1.0" (null before the first pass)')
    node_reachable: bool = Field(description="whether the node answered eth_blockNumber (probe cached a few seconds)")
    index_age_seconds: int | None = Field(description="seconds since the indexer last saw the chain head (now - head_seen_at)")
    reasons: list[str] = Field(
        default_factory=list,
        description="why the service is not ready: not_indexed, index_lagging, head_stale, node_unreachable",
    )
    event_errors: int = Field(
        default=0, ge=0,
        description="indexed events the projection could not apply (kept with their error in event_errors; "
        "the indexer goes on)",
    )


class Liveness(BaseModel):
    """``GET /health/live``: the process serves."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "alive"}]})

    status: Literal["alive"]


class Readiness(BaseModel):
    """``GET /health/ready`` when ready (a 503 ``not-ready`` problem otherwise)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "ready", "indexed_block": 1234, "lag_blocks": 0, "index_age_seconds": 2, "node_reachable": True,
    }]})

    status: Literal["ready"]
    indexed_block: int
    lag_blocks: int
    index_age_seconds: int
    node_reachable: bool


class StaffMe(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "municipality_id": 1, "municipality_name": "Baarn", "registrar": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "roles": ["registrar"],
    }]})

    municipality_id: int
    municipality_name: str | None
    registrar: str = Field(description="the token's account (whatever its roles)")
    roles: list[str] = Field(default_factory=lambda: ["registrar"], description="registrar and/or confirmer")


class TxResult(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "tx_hash": "0x" + "3f" * 32, "block_number": 1234, "gas_used": 187_654,
    }]})

    tx_hash: str
    block_number: int
    gas_used: int


class CommitmentRegistered(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "commitment_id": 7, "parent_id": None, "weight": 0,
        "tx": {"tx_hash": "0x" + "3f" * 32, "block_number": 1234, "gas_used": 187_654},
    }]})

    commitment_id: int
    parent_id: int | None = Field(default=None, description="the parent commitment, null for none")
    weight: int = Field(default=0, description="weight in the parent's roll-up (0 without parent)")
    tx: TxResult


class CommitmentAmended(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "commitment_id": 7, "amendment_number": 1,
        "tx": {"tx_hash": "0x" + "3f" * 32, "block_number": 1234, "gas_used": 187_654},
    }]})

    commitment_id: int
    amendment_number: int
    tx: TxResult


class CommitmentBatchRegistered(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "commitment_ids": [8, 9], "tx": {"tx_hash": "0x" + "3f" * 32, "block_number": 1234, "gas_used": 187_654},
    }]})

    commitment_ids: list[int] = Field(description="the new ids, in the order of the request's items")
    tx: TxResult


class DeliveryBatchRecorded(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "delivery_ids": [7_000_002, 8_000_001],
        "tx": {"tx_hash": "0x" + "3f" * 32, "block_number": 1234, "gas_used": 187_654},
    }]})

    delivery_ids: list[int] = Field(description="the new ids, in the order of the request's items")
    tx: TxResult


class CommitmentWithdrawn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "commitment_id": 7, "tx": {"tx_hash": "0x" + "3f" * 32, "block_number": 1234, "gas_used": 187_654},
    }]})

    commitment_id: int
    tx: TxResult


class DeliveryRecorded(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "delivery_id": 7_000_001, "commitment_id": 7, "evidence_sha256": ["0x" + "ab" * 32], "asset_ref": "",
        "tx": {"tx_hash": "0x" + "3f" * 32, "block_number": 1234, "gas_used": 187_654},
    }]})

    delivery_id: int
    commitment_id: int
    evidence_sha256: list[str]
    asset_ref: str = Field(default="", description="the asset as recorded (normalised), empty when none")
    tx: TxResult


class DeliveryRevoked(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "delivery_id": 7_000_001, "commitment_id": 7,
        "tx": {"tx_hash": "0x" + "3f" * 32, "block_number": 1234, "gas_used": 187_654},
    }]})

    delivery_id: int
    commitment_id: int
    tx: TxResult


class RoleChanged(BaseModel):
    """A role granted or revoked on chain by a municipality's admin (the staff workspace's
    accounts page; ``api.services.roles``)."""

    municipality_id: int
    account: str
    role: Literal["registrar", "confirmer"]
    granted: bool
    by: str
    tx: TxResult


class VerdictRecorded(BaseModel):
    """A confirmer's verdict as the chain recorded it: on a recorded delivery (``delivery_id``)
    or a batched one (``root`` and ``leaf_hash``)."""

    delivery_id: int | None = None
    root: str | None = None
    leaf_hash: str | None = None
    commitment_id: int
    confirmer: str
    verdict: Literal["confirmed", "disputed"]
    evidence_hash: str | None = None
    reason: str | None = None
    tx: TxResult


class AnchoredLeaf(BaseModel):
    """One delivery of an anchored batch, with what checks it on chain (``verifyBatchedDelivery``)."""

    leaf_hash: str
    leaf_index: int = Field(description="position in the batch file's values (0-based)")
    commitment_id: int
    quantity: DecimalString
    delivered_at: int
    evidence_hashes: list[str]
    evidence_uri: str
    note: str
    external_ref: str
    asset_ref: str
    proof: list[str] = Field(description="OpenZeppelin sorted-pair Merkle proof")


class BatchAnchored(BaseModel):
    """A batch stored here and anchored on chain."""

    root: str
    municipality_id: int
    file_sha256: str
    file_uri: str
    leaf_count: int
    leaves: list[AnchoredLeaf]
    transaction_hash: str
    block_number: int
    tx: TxResult


class BatchFileStored(BaseModel):
    """The file of a batch anchored before, now stored here (so readers can verify it)."""

    root: str
    municipality_id: int
    file_sha256: str
    leaf_count: int
    stored: bool = Field(description="true: the file was new to this server's store")


class BatchedDeliveryRevoked(BaseModel):
    root: str
    leaf_hash: str
    commitment_id: int
    tx: TxResult


class RelayedWrite(BaseModel):
    """A signed write the relayer submitted: the record names ``signer``, never the relayer."""

    operation: str
    signer: str
    relayer: str
    record: dict[str, Any] = Field(description="the arguments of the event the write emitted (snake_case)")
    event: str
    tx: TxResult


class TypedData(BaseModel):
    """EIP-712 typed data for one signed write, as ``eth_signTypedData_v4`` / ethers'
    ``signTypedData`` take it (``types`` without ``EIP712Domain`` for ethers: drop it)."""

    operation: str
    primaryType: str
    domain: dict[str, Any]
    types: dict[str, list[dict[str, str]]]
    message: dict[str, Any]
    signer: str | None
    nonce: str | None = Field(description="the signer's next nonce (decimal), when signer was given")
