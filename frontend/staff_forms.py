"""The staff workspace's forms: what a clerk typed turned into the API's write inputs, and a
refusal turned into a message next to the field it concerns.

The forms send what a browser sends (``application/x-www-form-urlencoded`` or
``multipart/form-data``): every value a string, dates as ``YYYY-MM-DD`` (``<input
type=date>``). :func:`day_start` and :func:`day_end` read such a date in the municipality's
time zone (its source's, else ``Europe/Amsterdam``): a promise date and a delivery date are
the first second of that day, a due date its last second (a promise due "31 December 2026"
may be met all that day). The inputs are then the API's own models (``api.schemas``), so the
workspace and the API refuse the same things with the same rules.

:func:`field_errors` is the one mapping from a refusal to the form: a pydantic or
``InputInvalidError`` error names its field by ``loc``; every other refusal goes through
``api.problems.problem_for`` (the API's one table of typed errors) and is placed by its
problem type, or by the contract's custom error and its arguments. A refusal with no field
(the commitment was withdrawn, amended since the form was opened, the ledger is paused) is
shown above the form. Messages are text keys ``staff.error.<code>`` of
``frontend/locales/<lang>/staff.json`` with the refusal's values as parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from api.problems import amendment_field, problem_for
from api.services.ledger_writes import InputInvalidError
from frontend.i18n import DEFAULT_TIME_ZONE

FORM_ERROR = "_form"
"""The "field" of a refusal that concerns the whole form (shown above it)."""


class DateInputError(ValueError):
    """A date field that is not ``YYYY-MM-DD`` (a browser without a date picker lets any text
    through).

    Attributes:
        field: the form field.
        value: what was typed.
    """

    def __init__(self, field_name: str, value: str) -> None:
        super().__init__(f"{field_name}: {value!r} is not a date (YYYY-MM-DD)")
        self.field = field_name
        self.value = value


@dataclass(frozen=True)
class FieldError:
    """One refusal as the form shows it.

    Attributes:
        field: the form field it concerns, or :data:`FORM_ERROR`.
        code: the message's key below ``staff.error.``.
        params: the values the message names (str.format parameters).
    """

    field: str
    code: str
    params: Mapping[str, Any] = field(default_factory=dict)


def _zone(time_zone: str | None) -> ZoneInfo:
    return ZoneInfo(time_zone or DEFAULT_TIME_ZONE)


def parse_day(field_name: str, value: str | None) -> date | None:
    """The date of a ``YYYY-MM-DD`` field; ``None`` when empty.

    Raises:
        DateInputError: not such a date.
    """
    text = (value or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise DateInputError(field_name, text) from None


def day_start(day: date, time_zone: str | None) -> int:
    """The first second of ``day`` in ``time_zone`` (IANA; ``None``: Europe/Amsterdam), Unix seconds."""
    return int(datetime.combine(day, time.min, tzinfo=_zone(time_zone)).timestamp())


def day_end(day: date, time_zone: str | None) -> int:
    """The last second (inclusive) of ``day`` in ``time_zone``, Unix seconds: one second before
    the next day begins there (a day that daylight saving makes 23 or 25 hours long, as
    Chile's, which changes at midnight, included); for 9999-12-31, which has no next day in
    Python's calendar, 23:59:59 there."""
    zone = _zone(time_zone)
    try:
        return int(datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone).timestamp()) - 1
    except OverflowError:
        return int(datetime.combine(day, time(23, 59, 59), tzinfo=zone).timestamp())


def day_of(seconds: int | None, time_zone: str | None) -> str:
    """``YYYY-MM-DD`` of Unix ``seconds`` in ``time_zone`` (a form's value); ``""`` for ``None``."""
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, tz=_zone(time_zone)).date().isoformat()


LINK_SCHEMES = ("https", "http", "ipfs")
"""Schemes a link the workspace publishes (``source_uri``, ``evidence_uri``) may have: a page
or an IPFS document. The API takes any URI text (scripts cite ``ar://`` or ``urn:``); a clerk's
form refuses ``javascript:``, ``data:``, ``file:`` and the like, which would sit on chain for
good as a trap for whoever follows them."""


class LinkSchemeError(ValueError):
    """A link field whose scheme is not in :data:`LINK_SCHEMES`.

    Attributes:
        field: the form field.
    """

    def __init__(self, field_name: str) -> None:
        super().__init__(f"{field_name}: only {', '.join(LINK_SCHEMES)} links")
        self.field = field_name


def check_link(field_name: str, value: str) -> None:
    """Refuse a non-empty link whose scheme is not in :data:`LINK_SCHEMES` (or that has none).

    Raises:
        LinkSchemeError: naming ``field_name``.
    """
    text_value = value.strip()
    if not text_value:
        return
    scheme, colon, rest = text_value.partition(":")
    if not colon or scheme.lower() not in LINK_SCHEMES or not rest.startswith("//") or len(rest) <= 2:
        raise LinkSchemeError(field_name)


def text(form: Mapping[str, Any], name: str) -> str:
    """A text field as typed (``""`` when absent; a file sent in its place is ignored)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


# ------------------------------------------------------------------ refusals → fields

_CONTRACT_FIELDS = {
    "LedgerInvalidPromiseDate": ("promised_at", "promiseInFuture"),
    "LedgerInvalidDueDate": ("due_date", "dueNotAfterPromise"),
    "LedgerInvalidDeliveryDate": ("delivered_at", "deliveredInFuture"),
    "LedgerInvalidQuantity": ("quantity", "quantityRange"),
    "LedgerDuplicateCommitmentRef": ("external_ref", "refTaken"),
    "LedgerDuplicateDeliveryRef": ("external_ref", "deliveryRefTaken"),
    "LedgerAssetAlreadyCounted": ("asset_ref", "assetCounted"),
    "LedgerDuplicateEvidenceHash": ("evidence", "evidenceTwice"),
    "LedgerEmptyText": (None, "required"),
    "LedgerRegistrarUnchanged": ("account", "roleUnchanged"),
    "LedgerConfirmerUnchanged": ("account", "roleUnchanged"),
    "LedgerNotMunicipalityAdmin": (FORM_ERROR, "notAdminOnChain"),
    "LedgerZeroAddress": ("account", "address"),
    "LedgerTextTooLong": (None, "tooLongBytes"),
}
"""Contract custom errors → (field, message code); ``None``: the field the error names."""

_SLUG_FIELDS = {
    "duplicate-external-ref": ("external_ref", "refTaken"),
    "duplicate-delivery-ref": ("external_ref", "deliveryRefTaken"),
    "asset-already-counted": ("asset_ref", "assetCounted"),
    "duplicate-evidence": ("evidence", "evidenceTwice"),
    "evidence-already-cited": ("evidence", "evidenceCited"),
    "payload-too-large": ("evidence", "fileTooLarge"),
    "commitment-withdrawn": (FORM_ERROR, "withdrawn"),
    "stale-amendment-count": (FORM_ERROR, "staleAmendment"),
    "delivery-already-revoked": (FORM_ERROR, "alreadyRevoked"),
    "self-confirmation": (FORM_ERROR, "selfConfirmation"),
    "verdict-unchanged": (FORM_ERROR, "verdictUnchanged"),
    "ledger-paused": (FORM_ERROR, "paused"),
    "chain-unavailable": (FORM_ERROR, "chainDown"),
    "sender-unfunded": (FORM_ERROR, "unfunded"),
    "forbidden": (FORM_ERROR, "notOnChain"),
    "not-found": (FORM_ERROR, "notFound"),
    "idempotency-key-reused": (FORM_ERROR, "formReused"),
    "too-many-deliveries": (FORM_ERROR, "tooManyDeliveries"),
}
"""API problem types → (field, message code)."""

_PYDANTIC_CODES = {
    "missing": "required",
    "string_too_short_bytes": "required",
    "string_too_short": "required",
    "string_too_long_bytes": "tooLongBytes",
    "string_too_long": "tooLongBytes",
    "quantity_type": "quantityType",
    "quantity_range": "quantityRange",
    "time_in_future": "inFuture",
    "due_date_before_promise": "dueNotAfterPromise",
    "time_range": "dateRange",
    "amendment_no_field": "amendNothing",
    "evidence_count": "evidenceCount",
    "int_type": "number",
    "int_parsing": "number",
    "sha256": "sha256",
    "string_pattern_mismatch": "sha256",
}
"""pydantic error types (``api.schemas``' own and pydantic's) → message code; others ``invalid``."""

_MODEL_RULE_FIELDS = {"dueNotAfterPromise": "due_date", "evidenceCount": "evidence"}
"""Message codes of the models' rules across fields → the field the message stands next to."""

_TEXT_FIELDS = {"externalRef": "external_ref", "title": "title", "description": "description", "theme": "theme",
                "unit": "unit", "sourceUri": "source_uri", "reason": "reason", "note": "note",
                "evidenceUri": "evidence_uri", "assetRef": "asset_ref"}
"""Text fields as the contract names them (``LedgerTextTooLong.field``) → the form's."""


def _validation_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    found = []
    for error in errors:
        loc = [part for part in error.get("loc", ()) if part not in ("body",)]
        name = next((str(part) for part in loc if isinstance(part, str)), FORM_ERROR)
        code = _PYDANTIC_CODES.get(str(error.get("type", "")), "invalid")
        if name == FORM_ERROR:  # a rule across fields: shown at the field it is about
            name = _MODEL_RULE_FIELDS.get(code, FORM_ERROR)
        params = {k: v for k, v in dict(error.get("ctx") or {}).items() if isinstance(v, (int, str))}
        found.append(FieldError(name, code, params))
    return found


def field_errors(exc: BaseException, *, quantity_field: str = "quantity") -> list[FieldError] | None:
    """The form's messages for a refused write; ``None`` when ``exc`` is no refusal (a bug:
    the caller lets it become a 500).

    Args:
        quantity_field: the form's name for the quantity a ``LedgerInvalidQuantity`` is about
            (``target_quantity`` when registering).
    """
    if isinstance(exc, DateInputError):
        return [FieldError(exc.field, "date", {})]
    if isinstance(exc, LinkSchemeError):
        return [FieldError(exc.field, "linkScheme", {})]
    if isinstance(exc, ValidationError):
        return _validation_errors(exc.errors())
    if isinstance(exc, InputInvalidError):
        return _validation_errors(exc.errors)
    problem = problem_for(exc)  # type: ignore[arg-type]
    if problem is None:
        return None
    if problem.slug == "validation-error":
        return _validation_errors(problem.extensions.get("errors") or [])
    ext = problem.extensions
    contract = ext.get("contract_error") or {}
    name, args = contract.get("name"), dict(contract.get("args") or {})
    if name in _CONTRACT_FIELDS:
        where, code = _CONTRACT_FIELDS[name]
        if name == "LedgerInvalidQuantity":
            where = quantity_field
        if where is None:
            where = _TEXT_FIELDS.get(str(args.get("field", "")), FORM_ERROR)
        params = {k: v for k, v in args.items() if isinstance(v, (int, str))}
        if "maxLength" in args:
            params["max_bytes"] = args["maxLength"]
        return [FieldError(where, code, params)]
    if problem.slug == "amendment-changes-nothing":
        bit = args.get("field")
        where = ext.get("field") or (amendment_field(bit) if bit is not None else FORM_ERROR)
        return [FieldError(str(where), "amendNothing", {})]
    if problem.slug in _SLUG_FIELDS:
        where, code = _SLUG_FIELDS[problem.slug]
        params = {k: v for k, v in ext.items() if isinstance(v, (int, str))}
        return [FieldError(where, code, params)]
    return [FieldError(FORM_ERROR, "refused", {"detail": problem.detail or problem.slug})]


def by_field(errors: Iterable[FieldError]) -> dict[str, list[FieldError]]:
    """The errors grouped by field (a form shows each next to its field, in order)."""
    grouped: dict[str, list[FieldError]] = {}
    for error in errors:
        grouped.setdefault(error.field, []).append(error)
    return grouped


__all__ = ["FORM_ERROR", "DateInputError", "LinkSchemeError", "LINK_SCHEMES", "check_link", "FieldError", "parse_day", "day_start", "day_end", "day_of", "text",
           "field_errors", "by_field"]
