"""RFC 9457 problem details (``application/problem+json``) for every error the API returns.

A problem is ``{"type": "/problems/<slug>", "title", "status", "detail", ...extensions}``.
:func:`install_problem_handlers` maps each exception to one:

- :class:`ProblemError` (raised by routes) → as given;
- ``HTTPException`` (unknown route 404, 405, 413 of the body limit, ...) → by status;
- ``RequestValidationError`` → 422 ``validation-error`` with an ``errors`` list;
- ``ContractRevertError`` → by custom error name (:data:`CONTRACT_ERRORS`), else 422
  ``contract-rejected``; ``detail`` is a sentence for people (:data:`CONTRACT_MESSAGES`),
  the custom error is always echoed for machines as ``contract_error``;
- ``ChainUnavailableError`` → 503, ``TransactionFailedError`` → 502, ``EvidenceTooLargeError``
  → 413, ``StaffAuthError`` → 401 or 403, the service's refusals → 404/409, an index behind
  the chain when an amendment must be completed from it → 503 ``index-behind``;
- anything else → 500 ``internal-error`` without internals (logged with its traceback).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, Callable, Mapping

import requests
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.services.ledger_writes import (
    CommitmentWithdrawnError,
    EvidenceInvalidError,
    IndexBehindError,
    UnknownRecordError,
)
from ledger.errors import (
    ChainUnavailableError,
    ContractRevertError,
    EvidenceTooLargeError,
    StaffAuthError,
    TransactionFailedError,
)
from ledger.events import snake
from ledger.staff import StaffForbiddenError

logger = logging.getLogger("api")

PROBLEM_MEDIA_TYPE = "application/problem+json"

TITLES: dict[str, str] = {
    "bad-request": "Request could not be read",
    "validation-error": "Request is not valid",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "unauthorized": "Missing or unknown staff token",
    "forbidden": "Not allowed for this token",
    "duplicate-external-ref": "External reference already used",
    "duplicate-delivery-ref": "Delivery reference already used",
    "commitment-withdrawn": "Commitment is withdrawn",
    "delivery-already-revoked": "Delivery is already revoked",
    "duplicate-evidence": "Evidence hash given twice",
    "amendment-changes-nothing": "Amendment changes nothing",
    "payload-too-large": "Payload too large",
    "unsupported-media-type": "Unsupported media type",
    "contract-rejected": "The ledger contract refused the transaction",
    "index-behind": "The index is behind the chain",
    "rate-limited": "Too many requests",
    "chain-unavailable": "The chain is unavailable",
    "transaction-failed": "The transaction failed",
    "internal-error": "Internal server error",
}
"""Title of each problem type, by slug (``type`` is ``/problems/<slug>``)."""

_SLUG_BY_STATUS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "rate-limited",
    500: "internal-error",
    502: "transaction-failed",
    503: "chain-unavailable",
}

CONTRACT_ERRORS: dict[str, tuple[int, str]] = {
    "LedgerDuplicateCommitmentRef": (409, "duplicate-external-ref"),
    "LedgerDuplicateDeliveryRef": (409, "duplicate-delivery-ref"),
    "LedgerCommitmentWithdrawn": (409, "commitment-withdrawn"),
    "LedgerDeliveryAlreadyRevoked": (409, "delivery-already-revoked"),
    "LedgerAmendmentChangesNothing": (409, "amendment-changes-nothing"),
    "LedgerNotRegistrar": (403, "forbidden"),
    "LedgerUnknownCommitment": (404, "not-found"),
    "LedgerUnknownDelivery": (404, "not-found"),
    "LedgerDuplicateEvidenceHash": (422, "duplicate-evidence"),
}
"""Custom errors of the contract with their own status and problem type; any other custom
error is 422 ``contract-rejected``."""


def _quoted(value: Any) -> str:
    return f"“{value}”"


def _field(value: Any) -> str:
    """A contract field name (``externalRef``) as the API names it (``external_ref``)."""
    return snake(str(value))


def _position(index: Any) -> str:
    return f"number {int(index) + 1}" if isinstance(index, int) else str(index)


CONTRACT_MESSAGES: dict[str, Callable[[dict[str, Any]], str]] = {
    "LedgerNotMunicipalityAdmin": lambda a: (
        f"Account {a['account']} is not the admin of municipality {a['municipality_id']}."
    ),
    "LedgerNotRegistrar": lambda a: (
        f"This token's registrar is not a registrar of municipality {a['municipality_id']}."
    ),
    "LedgerUnknownMunicipality": lambda a: f"No municipality {a['municipality_id']}.",
    "LedgerUnknownCommitment": lambda a: f"No commitment {a['commitment_id']}.",
    "LedgerUnknownDelivery": lambda a: f"No delivery {a['delivery_id']}.",
    "LedgerZeroAddress": lambda a: "An account address is the zero address.",
    "LedgerEmptyText": lambda a: f"The text {_field(a['field'])} is empty: it needs at least one byte.",
    "LedgerTextTooLong": lambda a: (
        f"The text {_field(a['field'])} is {a['length']} bytes long (UTF-8): at most {a['max_length']} are allowed."
    ),
    "LedgerInvalidQuantity": lambda a: (
        f"Quantity {a['quantity']} is out of range: it must be from 1 to {a['max_quantity']}."
    ),
    "LedgerInvalidDueDate": lambda a: f"Due date {a['due_date']} is not valid: it must be after 0 (Unix seconds).",
    "LedgerInvalidDeliveryDate": lambda a: (
        f"Delivery date {a['delivered_at']} is not valid: it must be after 0 and not after the "
        f"block time {a['block_time']} (Unix seconds)."
    ),
    "LedgerInvalidEvidenceCount": lambda a: (
        f"A delivery needs 1 to {a['max_count']} evidence hashes, not {a['count']}."
    ),
    "LedgerZeroEvidenceHash": lambda a: (
        f"Evidence hash {_position(a['index'])} is zero, which is no document's hash."
    ),
    "LedgerDuplicateEvidenceHash": lambda a: (
        f"Evidence hash {a['evidence_hash']} is given twice in this delivery (again as hash "
        f"{_position(a['index'])}): cite each document once."
    ),
    "LedgerDuplicateCommitmentRef": lambda a: (
        f"Municipality {a['municipality_id']} already has a commitment with external reference "
        f"{_quoted(a['external_ref'])}: commitment {a['existing_commitment_id']}."
    ),
    "LedgerDuplicateDeliveryRef": lambda a: (
        f"Commitment {a['commitment_id']} already has a delivery with external reference "
        f"{_quoted(a['external_ref'])}: delivery {a['existing_delivery_id']}."
    ),
    "LedgerCommitmentWithdrawn": lambda a: (
        f"Commitment {a['commitment_id']} is withdrawn: it accepts no amendment or delivery."
    ),
    "LedgerAmendmentChangesNothing": lambda a: (
        f"This amendment changes nothing: commitment {a['commitment_id']} already has this title, "
        "description, target quantity and due date."
    ),
    "LedgerDeliveryAlreadyRevoked": lambda a: f"Delivery {a['delivery_id']} is already revoked.",
    "LedgerAdminUnchanged": lambda a: (
        f"Account {a['admin']} already is the admin of municipality {a['municipality_id']}."
    ),
    "LedgerRegistrarUnchanged": lambda a: (
        f"Account {a['account']} already is a registrar of municipality {a['municipality_id']}."
        if a.get("is_registrar")
        else f"Account {a['account']} is not a registrar of municipality {a['municipality_id']}, so it cannot be removed."
    ),
}
"""A sentence for people per custom error of ``ICommitmentLedger`` (arguments by snake-case
name, as :class:`ContractRevertError` carries them)."""

UNKNOWN_CONTRACT_MESSAGE = "The ledger contract refused the transaction."
"""``detail`` for a refusal that is not one of the contract's custom errors (or when its
arguments are not as expected)."""


def contract_message(exc: ContractRevertError) -> str:
    """The sentence for people of a contract refusal (:data:`CONTRACT_MESSAGES`)."""
    render = CONTRACT_MESSAGES.get(exc.name)
    if render is None:
        return UNKNOWN_CONTRACT_MESSAGE
    try:
        return render(dict(exc.args_by_name))
    except (KeyError, TypeError, ValueError):
        logger.warning("contract error %s with unexpected arguments %r", exc.name, exc.args_by_name)
        return UNKNOWN_CONTRACT_MESSAGE


_CONTRACT_EXTENSIONS = {
    "LedgerDuplicateCommitmentRef": ("existing_commitment_id", "existing_commitment_id"),
    "LedgerDuplicateDeliveryRef": ("existing_delivery_id", "existing_delivery_id"),
}
"""Extension member and the custom error argument it comes from."""


class Problem(BaseModel):
    """An RFC 9457 problem. Extension members (``errors``, ``existing_commitment_id``,
    ``existing_delivery_id``, ``contract_error``, ...) appear next to the standard ones."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["/problems/not-found"])
    title: str
    status: int
    detail: str | None = None


class ProblemError(Exception):
    """Raise from a route to answer with a problem.

    Args:
        status: HTTP status code.
        slug: the problem type, ``/problems/<slug>``.
        detail: what went wrong for this request, for humans.
        headers: extra response headers (e.g. ``WWW-Authenticate``).
        **extensions: extension members of the problem object.
    """

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or slug)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions


def problem_response(
    status: int,
    slug: str,
    detail: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    """A ``application/problem+json`` response."""
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": TITLES.get(slug) or _status_phrase(status),
        "status": status,
        "detail": detail,
    }
    body.update(extensions)
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem statuses of a route."""
    return {
        status: {
            "description": _status_phrase(status),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _slug_for_status(status: int) -> str:
    return _SLUG_BY_STATUS.get(status) or _status_phrase(status).lower().replace(" ", "-")


def _loc_text(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(str(p) for p in parts) or "body"


def _message(error: Mapping[str, Any]) -> str:
    """An error's ``msg``; a body that is not JSON gets a sentence with the parser's reason and
    the (1-based) character where it stopped."""
    if error.get("type") == "json_invalid":
        loc = list(error.get("loc", ()))
        reason = (error.get("ctx") or {}).get("error") or "it could not be parsed"
        where = f" at character {loc[-1] + 1}" if loc and isinstance(loc[-1], int) else ""
        return f"Body is not valid JSON: {reason}{where}"
    return str(error.get("msg", ""))


def _detail_part(loc: list[Any], msg: str) -> str:
    """``field: message``, unless the message already starts with the field's name
    (``title contains U+202E ...``, ``evidence file a.pdf is empty``, ``Body is not ...``)."""
    names = [p for p in loc if isinstance(p, str)]
    if names and msg.lower().startswith(names[-1].lower() + " "):
        return msg
    return f"{_loc_text(loc)}: {msg}"


def validation_problem(errors: list[Mapping[str, Any]]) -> JSONResponse:
    """422 ``validation-error`` for pydantic/FastAPI errors (their ``loc``, ``msg``, ``type``;
    inputs are not echoed)."""
    cleaned = [{"loc": list(e.get("loc", ())), "msg": _message(e), "type": str(e.get("type", ""))} for e in errors]
    detail = "; ".join(_detail_part(e["loc"], e["msg"]) for e in cleaned) or None
    return problem_response(422, "validation-error", detail, errors=cleaned)


def contract_problem(exc: ContractRevertError) -> JSONResponse:
    """The problem for a custom error of the contract (see :data:`CONTRACT_ERRORS`)."""
    status, slug = CONTRACT_ERRORS.get(exc.name, (422, "contract-rejected"))
    extensions: dict[str, Any] = {"contract_error": {"name": exc.name, "args": dict(exc.args_by_name)}}
    if exc.name in _CONTRACT_EXTENSIONS:
        member, arg = _CONTRACT_EXTENSIONS[exc.name]
        extensions[member] = exc.args_by_name.get(arg)
    return problem_response(status, slug, contract_message(exc), **extensions)


def install_problem_handlers(app: FastAPI) -> None:
    """Register the exception handlers that turn every error into a problem."""

    @app.exception_handler(ProblemError)
    async def _problem(_request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(exc.status, exc.slug, exc.detail, headers=exc.headers, **exc.extensions)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 404 and detail == "Not Found":
            detail = "No such resource."
        return problem_response(exc.status_code, _slug_for_status(exc.status_code), detail, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return validation_problem(list(exc.errors()))

    @app.exception_handler(ContractRevertError)
    async def _contract(_request: Request, exc: ContractRevertError) -> JSONResponse:
        return contract_problem(exc)

    async def _chain(_request: Request, exc: Exception) -> JSONResponse:
        logger.warning("chain unavailable: %s", getattr(exc, "reason", exc))
        return problem_response(
            503, "chain-unavailable", "The ledger's chain node cannot be reached; nothing was written. Retry later.",
            headers={"Retry-After": "10"},
        )

    app.add_exception_handler(ChainUnavailableError, _chain)
    # The chain client is the API's only outbound HTTP; a transport error it lets through
    # unwrapped (LedgerChain.send reads the nonce outside its wrapper) means the same.
    app.add_exception_handler(requests.ConnectionError, _chain)
    app.add_exception_handler(requests.Timeout, _chain)

    @app.exception_handler(TransactionFailedError)
    async def _tx_failed(_request: Request, exc: TransactionFailedError) -> JSONResponse:
        logger.error("transaction failed: %s", exc)
        return problem_response(
            502, "transaction-failed",
            "The transaction failed or was not mined in time. Check tx_hash on chain before retrying.",
            tx_hash=exc.tx_hash,
        )

    @app.exception_handler(EvidenceTooLargeError)
    async def _too_large(_request: Request, exc: EvidenceTooLargeError) -> JSONResponse:
        return problem_response(413, "payload-too-large", str(exc), max_bytes=exc.max_bytes)

    @app.exception_handler(StaffAuthError)
    async def _staff(_request: Request, exc: StaffAuthError) -> JSONResponse:
        if isinstance(exc, StaffForbiddenError):
            return problem_response(403, "forbidden", str(exc))
        return problem_response(401, "unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(UnknownRecordError)
    async def _unknown(_request: Request, exc: UnknownRecordError) -> JSONResponse:
        return problem_response(404, "not-found", str(exc))

    @app.exception_handler(EvidenceInvalidError)
    async def _evidence_invalid(_request: Request, exc: EvidenceInvalidError) -> JSONResponse:
        return validation_problem(exc.errors)

    @app.exception_handler(CommitmentWithdrawnError)
    async def _withdrawn(_request: Request, exc: CommitmentWithdrawnError) -> JSONResponse:
        return problem_response(409, "commitment-withdrawn", str(exc))

    @app.exception_handler(IndexBehindError)
    async def _index_behind(_request: Request, exc: IndexBehindError) -> JSONResponse:
        return problem_response(
            503, "index-behind", str(exc), headers={"Retry-After": "5"},
            indexed_block=exc.indexed_block, chain_head_block=exc.head_block,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(500, "internal-error", "An unexpected error occurred; it has been logged.")
