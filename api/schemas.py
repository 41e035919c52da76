"""Wire models of the HTTP API (docs/API.md), separate from the index's tables.

Output models mirror the repository's dicts (``ledger/db/repository.py``), which are shaped
as the JSON; quantities are decimal strings (uint64 does not fit a JS number), times integer
Unix seconds with an ISO 8601 UTC twin, hashes ``0x`` + 64 lowercase hex.

Input models validate everything the contract would check *before* anything is stored or
sent: text limits in UTF-8 bytes (the contract's), quantities 1..10^15 (an integer or a
string of decimal digits), SHA-256 hashes (64 hex characters, optional ``0x``; normalised to
``0x`` lowercase), times as Unix seconds or RFC 3339 with an offset (naive times are
refused), delivery dates not in the future. Unknown fields are refused. Stricter than the
contract (:func:`text_problem`): no control characters (line breaks and tabs only in
description, note and reason), no bidirectional override or isolate characters, and no
required text that is only whitespace.
"""

from __future__ import annotations

import re
import time
import unicodedata
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Iterable, Literal

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
    DESCRIPTION_MAX_BYTES,
    EXTERNAL_REF_MAX_BYTES,
    MAX_EVIDENCE,
    MAX_QUANTITY,
    NOTE_MAX_BYTES,
    REASON_MAX_BYTES,
    THEME_MAX_BYTES,
    TITLE_MAX_BYTES,
    UNIT_MAX_BYTES,
    URI_MAX_BYTES,
)
from ledger.sources import SourceCredit

# ------------------------------------------------------------------ limits

MAX_UNIX_SECONDS = 253_402_300_799
"""9999-12-31T23:59:59Z: the last time with an ISO 8601 twin (the contract takes any uint64)."""

StatusName = Literal["pending", "in_progress", "delivered", "delivered_late", "overdue", "withdrawn"]
"""A commitment's status (ledger.status.STATUSES)."""


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


def _utf8_text(min_bytes: int, max_bytes: int, *, multiline: bool = False) -> Any:
    def check(value: str, info: ValidationInfo) -> str:
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
                "description": f"UTF-8 text of {min_bytes}..{max_bytes} bytes, {lines}; no control or "
                "bidirectional override characters",
            }
        ),
    ]


ExternalRef = _utf8_text(1, EXTERNAL_REF_MAX_BYTES)
DeliveryRef = _utf8_text(0, EXTERNAL_REF_MAX_BYTES)
Title = _utf8_text(1, TITLE_MAX_BYTES)
Description = _utf8_text(0, DESCRIPTION_MAX_BYTES, multiline=True)
Theme = _utf8_text(0, THEME_MAX_BYTES)
Unit = _utf8_text(1, UNIT_MAX_BYTES)
Uri = _utf8_text(0, URI_MAX_BYTES)
Note = _utf8_text(0, NOTE_MAX_BYTES, multiline=True)
Reason = _utf8_text(1, REASON_MAX_BYTES, multiline=True)

_DIGITS = re.compile(r"^[0-9]{1,32}$")
_SHA256 = re.compile(r"^(?:0x)?([0-9a-fA-F]{64})$")
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


_SIGNED_DIGITS = re.compile(r"^-[0-9]{1,32}$")

QUANTITY_RANGE_TEXT = f"from 1 to 10^15 ({MAX_QUANTITY})"
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
                {"type": "string", "pattern": "^[0-9]+$"},
            ],
            "description": "1..10^15, in the commitment's unit; an integer or a decimal string",
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
        {"type": "integer", "minimum": 1, "description": "Unix seconds"},
        {"type": "string", "format": "date-time", "description": "RFC 3339 with offset"},
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

Sha256 = Annotated[str, PlainValidator(normalise_sha256), WithJsonSchema(_SHA256_SCHEMA)]
DocumentSha256 = Annotated[
    str, PlainValidator(normalise_sha256), AfterValidator(_non_zero_sha256), WithJsonSchema(_SHA256_SCHEMA)
]


class InputModel(BaseModel):
    """Base of request bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


# ------------------------------------------------------------------ staff inputs


class CommitmentIn(InputModel):
    """A new commitment (``registerCommitment``); the municipality comes from the token."""

    external_ref: ExternalRef = Field(description="the source's own id, unique per municipality")
    title: Title
    description: Description = ""
    theme: Theme = ""
    target_quantity: Quantity
    unit: Unit
    due_date: UnixTime = Field(description="deadline; due passed when block time > due_date")
    source_document_sha256: DocumentSha256 | None = None
    source_uri: Uri = ""


class AmendmentIn(InputModel):
    """An amendment (``amendCommitment``); omitted (or null) fields keep their current value."""

    title: Title | None = None
    description: Description | None = None
    target_quantity: Quantity | None = None
    due_date: UnixTime | None = None
    reason: Reason


class ReasonIn(InputModel):
    """A withdrawal or revocation: only the reason."""

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
    """

    quantity: Quantity
    delivered_at: PastUnixTime = Field(description="Unix seconds or RFC 3339 with offset; not in the future")
    note: Note = ""
    evidence_uri: Uri = ""
    external_ref: DeliveryRef = Field(default="", description="unique per commitment when not empty")
    evidence: Annotated[list[UploadFile], BeforeValidator(_drop_empty_uploads)] = Field(
        default_factory=list, description="evidence files, each at most the configured size (default 10 MiB)"
    )
    evidence_sha256: list[DocumentSha256] = Field(default_factory=list)

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

    name: str
    publisher: str
    url: str
    licence: str
    credit: str = Field(description='one line: "<name> — <publisher> — <url> — <licence>"')

    @classmethod
    def list_for(
        cls, sources: dict[str, list[SourceCredit]], codes: Iterable[str], *, source_uri: str | None = None
    ) -> list["Source"]:
        """The credits of the municipalities with these codes, once each, in code order; with
        ``source_uri``, only the sources a commitment with that on-chain ``source_uri`` comes from."""
        return [
            cls(name=c.name, publisher=c.publisher, url=c.url, licence=c.licence, credit=c.credit)
            for code in sorted(set(codes))
            for c in sources.get(code, [])
            if source_uri is None or c.credits(source_uri)
        ]


class Municipality(BaseModel):
    """An issuing municipality."""

    id: int
    name: str
    code: str
    admin: str
    registrars: list[str]
    commitment_count: int
    status_counts: StatusCounts
    registered: ChainRef
    sources: list[Source] = Field(default_factory=list, description="where its data comes from (credit them)")


class MunicipalityList(BaseModel):
    data: list[Municipality]
    count: int


class ThemeCount(BaseModel):
    theme: str
    count: int


class ThemeList(BaseModel):
    data: list[ThemeCount]
    count: int


class CommitmentSummary(BaseModel):
    """A commitment in lists; ``status`` evaluated at the request time."""

    id: int
    municipality_id: int
    municipality_name: str
    external_ref: str
    title: str
    theme: str
    unit: str
    target_quantity: DecimalString
    delivered_quantity: DecimalString
    progress_bps: int = Field(description="floor(delivered * 10000 / target); may exceed 10000")
    status: StatusName
    due_date: int
    due_date_iso: str
    met_at: int | None
    met_at_iso: str | None
    registered: ChainRef
    withdrawn: bool


class CommitmentPage(BaseModel):
    data: list[CommitmentSummary]
    count: int = Field(description="total number of matching commitments")
    offset: int
    limit: int
    sources: list[Source] = Field(default_factory=list, description="credits of the sources of this page's commitments")


class EvidenceRef(BaseModel):
    """An evidence hash of a delivery; ``url`` is set when the file is stored here."""

    sha256: str
    stored: bool
    url: str | None


class RecordedAction(BaseModel):
    """A withdrawal or revocation: the reason, who, where on chain."""

    reason: str
    registrar: str
    chain: ChainRef


class Delivery(BaseModel):
    id: int
    commitment_id: int
    quantity: DecimalString
    delivered_at: int
    delivered_at_iso: str
    evidence: list[EvidenceRef]
    evidence_uri: str
    note: str
    external_ref: str
    registrar: str
    recorded: ChainRef
    revocation: RecordedAction | None


class TimelineEntry(BaseModel):
    kind: Literal["registered", "amended", "delivered", "revoked", "withdrawn"]
    chain: ChainRef
    registrar: str
    details: dict[str, Any]


class LedgerRef(BaseModel):
    chain_id: int
    contract_address: str


class CommitmentDetail(CommitmentSummary):
    """A commitment with its texts, deliveries and on-chain timeline."""

    description: str
    source_document_sha256: str | None
    source_uri: str
    registrar: str
    amendment_count: int
    withdrawal: RecordedAction | None
    deliveries: list[Delivery]
    timeline: list[TimelineEntry]
    ledger: LedgerRef
    sources: list[Source] = Field(default_factory=list, description="where this commitment's data comes from (credit them)")


class Citation(BaseModel):
    """A delivery citing a document."""

    delivery_id: int
    commitment_id: int
    commitment_title: str
    municipality_id: int
    municipality_name: str
    delivered_at: int
    delivered_at_iso: str
    quantity: DecimalString
    registrar: str
    revoked: bool
    revocation_reason: str | None
    chain: ChainRef


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


class Health(BaseModel):
    """Index health, read from the indexer's checkpoint (``null`` before its first pass)."""

    status: Literal["ok", "degraded"]
    chain_id: int
    contract_address: str
    deploy_block: int
    chain_head_block: int | None
    indexed_block: int | None
    lag_blocks: int | None
    head_seen_at: int | None = Field(description="Unix seconds the indexer last saw the chain head")


class StaffMe(BaseModel):
    municipality_id: int
    municipality_name: str | None
    registrar: str


class TxResult(BaseModel):
    tx_hash: str
    block_number: int
    gas_used: int


class CommitmentRegistered(BaseModel):
    commitment_id: int
    tx: TxResult


class CommitmentAmended(BaseModel):
    commitment_id: int
    amendment_number: int
    tx: TxResult


class CommitmentWithdrawn(BaseModel):
    commitment_id: int
    tx: TxResult


class DeliveryRecorded(BaseModel):
    delivery_id: int
    commitment_id: int
    evidence_sha256: list[str]
    tx: TxResult


class DeliveryRevoked(BaseModel):
    delivery_id: int
    commitment_id: int
    tx: TxResult
