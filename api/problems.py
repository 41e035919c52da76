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
  → 413, ``StaffAuthError`` → 401 or 403, the service's refusals → 404/409/422;
- ``BatchItemError`` → the problem of the refused item (any of the above) plus ``index``;
- anything else → 500 ``internal-error`` without internals (logged with its traceback).

Every mapping is by exception type (and a contract error by its custom error name), never by
message text; :func:`problem_for` is the one table, used for single writes and batch items.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any, Callable, Mapping

import requests
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.services.ledger_writes import (
    AmendmentChangesNothingError,
    BatchItemError,
    CommitmentWithdrawnError,
    InputInvalidError,
    ProblemRefusal,
    UnknownRecordError,
    WriteRefusedError,
)
from ledger.errors import (
    ChainUnavailableError,
    ContractRevertError,
    EvidenceTooLargeError,
    InsufficientFundsError,
    StaffAuthError,
    TransactionFailedError,
)
from ledger.db.repository import iso as repository_iso
from ledger.events import snake
from ledger.outbox import IdempotencyKeyReusedError
from ledger.limits import AMEND_FIELD_NAMES
from ledger.staff import StaffForbiddenError, StaffRoleError

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
    "stale-amendment-count": "The commitment was amended since you read it",
    "too-many-deliveries": "Commitment has the most deliveries it can hold",
    "asset-already-counted": "This asset is already counted for the commitment",
    "evidence-already-cited": "This evidence is already cited on the ledger",
    "invalid-weight": "Weight of the sub-commitment is not valid",
    "parent-in-other-municipality": "Parent commitment belongs to another municipality",
    "invalid-batch": "Batch is not valid",
    "batch-already-anchored": "Batch is already anchored",
    "invalid-proof": "Merkle proof does not prove the leaf is in the batch",
    "leaf-in-other-municipality": "Leaf names a commitment of another municipality",
    "self-confirmation": "A confirmer cannot review a delivery it recorded",
    "verdict-unchanged": "The confirmer already gave this verdict",
    "signature-expired": "The signature has expired",
    "invalid-nonce": "The signature's nonce is not the signer's next one",
    "invalid-signature": "The signature is not the signer's",
    "batch-file-mismatch": "The batch file is not the anchored one",
    "batch-file-missing": "The batch file is not stored here",
    "index-behind": "The index has not caught up yet",
    "not-ready": "The service is not ready",
    "relay-unavailable": "This server relays no signed writes",
    "ledger-paused": "The ledger is paused",
    "payload-too-large": "Payload too large",
    "unsupported-media-type": "Unsupported media type",
    "contract-rejected": "The ledger contract refused the transaction",
    "rate-limited": "Too many requests",
    "chain-unavailable": "The chain is unavailable",
    "transaction-failed": "The transaction failed",
    "sender-unfunded": "The sending account cannot pay for gas",
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
    "LedgerStaleAmendmentCount": (409, "stale-amendment-count"),
    "LedgerTooManyDeliveries": (409, "too-many-deliveries"),
    "LedgerPaused": (503, "ledger-paused"),
    "LedgerNotRegistrar": (403, "forbidden"),
    "LedgerUnknownCommitment": (404, "not-found"),
    "LedgerUnknownDelivery": (404, "not-found"),
    "LedgerDuplicateEvidenceHash": (422, "duplicate-evidence"),
    "LedgerAssetAlreadyCounted": (409, "asset-already-counted"),
    "LedgerInvalidWeight": (422, "invalid-weight"),
    "LedgerParentInOtherMunicipality": (422, "parent-in-other-municipality"),
    "LedgerInvalidBatch": (422, "invalid-batch"),
    "LedgerBatchAlreadyAnchored": (409, "batch-already-anchored"),
    "LedgerUnknownBatch": (404, "not-found"),
    "LedgerInvalidProof": (422, "invalid-proof"),
    "LedgerBatchedDeliveryRevoked": (409, "delivery-already-revoked"),
    "LedgerLeafInOtherMunicipality": (422, "leaf-in-other-municipality"),
    "LedgerNotConfirmer": (403, "forbidden"),
    "LedgerSelfConfirmation": (403, "self-confirmation"),
    "LedgerVerdictUnchanged": (409, "verdict-unchanged"),
    "LedgerSignatureExpired": (422, "signature-expired"),
    "LedgerInvalidNonce": (409, "invalid-nonce"),
    "LedgerInvalidSignature": (422, "invalid-signature"),
}
"""Custom errors of the contract with their own status and problem type; any other custom
error is 422 ``contract-rejected``."""


def _iso(seconds: Any) -> str:
    """Unix seconds as ISO 8601 UTC text, for sentences (``?`` when out of range)."""
    text = repository_iso(int(seconds)) if isinstance(seconds, int) else None
    return text or "?"


def amendment_field(bit: Any) -> str:
    """The API name of an ``AMEND_*`` bit (``4`` → ``target_quantity``)."""
    return next((name for b, name in AMEND_FIELD_NAMES if b == bit), str(bit))


VERDICT_NAMES = ("none", "confirmed", "disputed")
"""Index i is the contract's ``Verdict`` enum value i."""


def verdict_name(value: Any) -> str:
    """The API name of a ``Verdict`` enum value (``1`` → ``confirmed``)."""
    return VERDICT_NAMES[value] if isinstance(value, int) and 0 <= value < len(VERDICT_NAMES) else str(value)


def nonce_message(signer: Any, nonce: Any, expected: Any) -> str:
    """The sentence of a nonce that is not the signer's next one (contract or off-chain check)."""
    if isinstance(nonce, int) and isinstance(expected, int) and nonce < expected:
        return (f"Nonce {nonce} of {signer} is already used (the next one is {expected}): this signed write was "
                "submitted before, or another used the nonce. Read the nonce again and sign again.")
    return (f"Nonce {nonce} of {signer} is not the next one, {expected}: signed writes of one signer go in nonce "
            "order. Send the earlier ones first, or sign again with the current nonce.")


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
        f"Account {a['account']} is not a registrar of municipality {a['municipality_id']}."
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
    "LedgerInvalidPromiseDate": lambda a: (
        f"Promise date {a['promised_at']} ({_iso(a['promised_at'])}) is not valid: it must be after 0 and not "
        f"after the block time {a['block_time']} ({_iso(a['block_time'])}); a promise is made before it is recorded."
    ),
    "LedgerInvalidDueDate": lambda a: (
        f"Due date {a['due_date']} ({_iso(a['due_date'])}) is not valid: it must be after the promise date "
        f"{a['promised_at']} ({_iso(a['promised_at'])}) and before {a['max_date']} ({_iso(a['max_date'])}), Unix seconds."
    ),
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
        f"This amendment changes nothing: commitment {a['commitment_id']} already has this "
        f"{amendment_field(a['field']).replace('_', ' ')}."
    ),
    "LedgerStaleAmendmentCount": lambda a: (
        f"Commitment {a['commitment_id']} has {a['actual']} amendment(s), not the {a['expected']} this amendment "
        + ("expects: it was amended since you read it. Read it again, check the change, and send the current count."
           if a["expected"] < a["actual"] else "expects. Read it again and send the current count.")
    ),
    "LedgerInvalidAmendmentFields": lambda a: (
        f"The amendment of commitment {a['commitment_id']} names fields {a['fields']}: it must name at least one "
        "of title, description, target_quantity, due_date and leave the others empty."
    ),
    "LedgerTooManyDeliveries": lambda a: (
        f"Commitment {a['commitment_id']} already has {a['max_deliveries']} deliveries (revoked ones count), "
        "the most it can hold."
    ),
    "LedgerPaused": lambda a: (
        "The ledger is paused by its platform admin (an emergency stop): no record can be written now. "
        "Reads keep working; retry when it is lifted."
    ),
    "LedgerDeliveryAlreadyRevoked": lambda a: f"Delivery {a['delivery_id']} is already revoked.",
    "LedgerAdminUnchanged": lambda a: (
        f"Account {a['admin']} already is the admin of municipality {a['municipality_id']}."
    ),
    "LedgerNotProposedAdmin": lambda a: (
        f"Account {a['account']} was not proposed as the admin of municipality {a['municipality_id']} "
        f"(the proposed admin is {a['proposed_admin']})."
    ),
    "LedgerRecoveryPending": lambda a: (
        f"A recovery of municipality {a['municipality_id']} is already pending: {a['proposed_admin']} can become its "
        f"admin from {a['executable_at']} ({_iso(a['executable_at'])})."
    ),
    "LedgerNoRecoveryPending": lambda a: f"No recovery of municipality {a['municipality_id']} is pending.",
    "LedgerRecoveryNotReady": lambda a: (
        f"The recovery of municipality {a['municipality_id']} can complete from {a['executable_at']} "
        f"({_iso(a['executable_at'])}), not at block time {a['block_time']} ({_iso(a['block_time'])})."
    ),
    "LedgerNotRecoveryCanceller": lambda a: (
        f"Account {a['account']} may not cancel the recovery of municipality {a['municipality_id']}: only its "
        "current admin or the platform admin may."
    ),
    "LedgerRenounceRefused": lambda a: "The platform admin role cannot be renounced.",
    "LedgerPauseUnchanged": lambda a: (
        "The ledger is already paused." if a.get("paused") else "The ledger is not paused."
    ),
    "LedgerRegistrarUnchanged": lambda a: (
        f"Account {a['account']} already is a registrar of municipality {a['municipality_id']}."
        if a.get("is_registrar")
        else f"Account {a['account']} is not a registrar of municipality {a['municipality_id']}, so it cannot be removed."
    ),
    # 2.1.0: assets, sub-commitments, batches, confirmations, signed writes
    "LedgerAssetAlreadyCounted": lambda a: (
        f"Asset {_quoted(a['asset_ref'])} is already counted for commitment {a['commitment_id']} by delivery "
        f"{a['existing_delivery_id']}, which is not revoked: an asset counts once. Revoke that delivery first if it "
        "was wrong."
    ),
    "LedgerParentInOtherMunicipality": lambda a: (
        f"Parent commitment {a['parent_id']} belongs to municipality {a['parent_municipality_id']}, not to "
        f"municipality {a['municipality_id']}: a sub-commitment's parent is of its own municipality."
    ),
    "LedgerInvalidWeight": lambda a: (
        f"Weight {a['weight']} is not valid without a parent commitment: leave it 0 (or name a parent_id)."
        if a["parent_id"] == 0
        else f"Weight {a['weight']} of a part of commitment {a['parent_id']} is out of range: it must be from 1 to "
        f"{a['max_weight']}."
    ),
    "LedgerInvalidBatch": lambda a: (
        f"The batch with root {a['root']}, {a['leaf_count']} leaves and file SHA-256 {a['file_sha256']} is not "
        "valid: root and file hash must not be zero and it needs at least one leaf."
    ),
    "LedgerBatchAlreadyAnchored": lambda a: (
        f"The batch with root {a['root']} is already anchored (municipality {a['municipality_id']}): "
        "each root is anchored once."
    ),
    "LedgerUnknownBatch": lambda a: f"No batch with root {a['root']} is anchored.",
    "LedgerInvalidProof": lambda a: (
        f"The proof does not show that leaf {a['leaf_hash']} is in the batch with root {a['root']}."
    ),
    "LedgerBatchedDeliveryRevoked": lambda a: (
        f"The batched delivery {a['leaf_hash']} of batch {a['root']} is already revoked."
    ),
    "LedgerLeafInOtherMunicipality": lambda a: (
        f"The leaf names commitment {a['commitment_id']}, which is not of municipality {a['municipality_id']}, "
        f"whose batch {a['root']} it is in."
    ),
    "LedgerNotConfirmer": lambda a: (
        f"Account {a['account']} is not a confirmer of municipality {a['municipality_id']}."
    ),
    "LedgerConfirmerUnchanged": lambda a: (
        f"Account {a['account']} already is a confirmer of municipality {a['municipality_id']}."
        if a.get("is_confirmer")
        else f"Account {a['account']} is not a confirmer of municipality {a['municipality_id']}, so it cannot be removed."
    ),
    "LedgerSelfConfirmation": lambda a: (
        f"Account {a['account']} recorded this delivery itself: a confirmer reviews only deliveries others recorded."
    ),
    "LedgerVerdictUnchanged": lambda a: (
        f"Confirmer {a['confirmer']} has already {verdict_name(a['verdict'])} this delivery: a verdict is given once "
        "and may only be changed."
    ),
    "LedgerSignatureExpired": lambda a: (
        f"The signature of {a['signer']} expired: its deadline {a['deadline']} ({_iso(a['deadline'])}) is before the "
        f"block time {a['block_time']} ({_iso(a['block_time'])}). Sign again with a later deadline."
    ),
    "LedgerInvalidNonce": lambda a: nonce_message(a["signer"], a["nonce"], a["expected"]),
    "LedgerInvalidSignature": lambda a: (
        f"The signature is not {a['signer']}'s over this write on this chain and ledger: another signer, chain, "
        "contract or any changed field gives another digest."
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


_CONTRACT_EXTENSIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "LedgerDuplicateCommitmentRef": lambda a: {"existing_commitment_id": a["existing_commitment_id"]},
    "LedgerDuplicateDeliveryRef": lambda a: {"existing_delivery_id": a["existing_delivery_id"]},
    "LedgerStaleAmendmentCount": lambda a: {
        "expected_amendment_count": a["expected"], "current_amendment_count": a["actual"],
    },
    "LedgerAmendmentChangesNothing": lambda a: {"field": amendment_field(a["field"])},
    "LedgerAssetAlreadyCounted": lambda a: {
        "commitment_id": a["commitment_id"], "asset_ref": a["asset_ref"], "existing_delivery_id": a["existing_delivery_id"],
    },
    "LedgerInvalidWeight": lambda a: {"parent_id": a["parent_id"] or None, "weight": a["weight"], "max_weight": a["max_weight"]},
    "LedgerParentInOtherMunicipality": lambda a: {
        "parent_id": a["parent_id"], "parent_municipality_id": a["parent_municipality_id"],
        "municipality_id": a["municipality_id"],
    },
    "LedgerBatchAlreadyAnchored": lambda a: {"root": a["root"], "municipality_id": a["municipality_id"]},
    "LedgerUnknownBatch": lambda a: {"root": a["root"]},
    "LedgerInvalidProof": lambda a: {"root": a["root"], "leaf_hash": a["leaf_hash"]},
    "LedgerBatchedDeliveryRevoked": lambda a: {"root": a["root"], "leaf_hash": a["leaf_hash"]},
    "LedgerLeafInOtherMunicipality": lambda a: {
        "root": a["root"], "commitment_id": a["commitment_id"], "municipality_id": a["municipality_id"],
    },
    "LedgerNotConfirmer": lambda a: {"account": a["account"], "municipality_id": a["municipality_id"]},
    "LedgerNotRegistrar": lambda a: {"account": a["account"], "municipality_id": a["municipality_id"]},
    "LedgerSelfConfirmation": lambda a: {"account": a["account"]},
    "LedgerVerdictUnchanged": lambda a: {"confirmer": a["confirmer"], "verdict": verdict_name(a["verdict"])},
    "LedgerSignatureExpired": lambda a: {"signer": a["signer"], "deadline": a["deadline"], "block_time": a["block_time"]},
    "LedgerInvalidNonce": lambda a: {"signer": a["signer"], "nonce": a["nonce"], "expected_nonce": a["expected"]},
    "LedgerInvalidSignature": lambda a: {"signer": a["signer"]},
}
"""Extension members of a custom error, from its arguments."""


class Problem(BaseModel):
    """An RFC 9457 problem. Extension members appear next to the standard ones: ``errors``
    (validation), ``contract_error`` (``{"name", "args"}`` of the contract's custom error),
    ``existing_commitment_id`` / ``existing_delivery_id`` (duplicate references),
    ``expected_amendment_count`` / ``current_amendment_count`` (stale count), ``field``
    (amendment that changes nothing), ``index`` (the refused item of a batch, 0-based),
    ``tx_hash`` (failed transaction), ``max_bytes`` (too large). 2.1.0: ``commitment_id`` /
    ``asset_ref`` / ``existing_delivery_id`` (asset already counted; a batched delivery by its
    leaf hash), ``parent_id`` / ``parent_municipality_id`` / ``municipality_id`` (parent of
    another municipality), ``parent_id`` / ``weight`` / ``max_weight`` (invalid weight),
    ``root`` / ``leaf_hash`` / ``municipality_id`` / ``file_sha256`` / ``uploaded_sha256``
    (batches), ``account`` / ``municipality_id`` (no registrar or confirmer on chain;
    self-confirmation), ``needed_role`` / ``token_roles`` (the token's roles do not allow the
    write), ``confirmer`` / ``verdict`` (verdict unchanged), ``signer`` / ``recovered`` /
    ``deadline`` / ``block_time`` / ``nonce`` / ``expected_nonce`` (signed writes);
    ``rate_limit`` (``staff_write``, ``document_check`` or ``failed_auth``) / ``limit_requests``
    / ``window_seconds`` / ``retry_after_seconds`` (429 ``rate-limited``, ``api.edges``, with a
    ``Retry-After`` header of the same seconds); ``reasons`` / ``node_reachable`` /
    ``indexed_block`` / ``lag_blocks`` / ``index_age_seconds`` (503 ``not-ready`` of
    ``/health/ready``, with ``Retry-After``)."""

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


RETRY_AFTER_HEADER = {
    "description": "Seconds to wait before retrying (an integer, RFC 9110 delay-seconds).",
    "schema": {"type": "string", "pattern": "^[0-9]+$", "examples": ["30"]},
}
"""OpenAPI header object of ``Retry-After``, sent with every 429 ``rate-limited``."""


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem statuses of a route: each an
    ``application/problem+json`` :class:`Problem`; a 429 also documents its ``Retry-After``
    header (:data:`RETRY_AFTER_HEADER`)."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {
            "description": _status_phrase(status),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if status == 429:
            entry["headers"] = {"Retry-After": RETRY_AFTER_HEADER}
        responses[status] = entry
    return responses


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


def _validation(errors: list[Mapping[str, Any]]) -> ProblemError:
    """422 ``validation-error`` for pydantic/FastAPI errors (their ``loc``, ``msg``, ``type``;
    inputs are not echoed)."""
    cleaned = [{"loc": list(e.get("loc", ())), "msg": _message(e), "type": str(e.get("type", ""))} for e in errors]
    detail = "; ".join(_detail_part(e["loc"], e["msg"]) for e in cleaned) or None
    return ProblemError(422, "validation-error", detail, errors=cleaned)


def _contract(exc: ContractRevertError) -> ProblemError:
    """The problem for a custom error of the contract (see :data:`CONTRACT_ERRORS`)."""
    status, slug = CONTRACT_ERRORS.get(exc.name, (422, "contract-rejected"))
    extensions: dict[str, Any] = {"contract_error": {"name": exc.name, "args": dict(exc.args_by_name)}}
    if exc.name in _CONTRACT_EXTENSIONS:
        try:
            extensions.update(_CONTRACT_EXTENSIONS[exc.name](dict(exc.args_by_name)))
        except KeyError:
            logger.warning("contract error %s with unexpected arguments %r", exc.name, exc.args_by_name)
    return ProblemError(status, slug, contract_message(exc), **extensions)


_CHAIN_DOWN = ProblemError(
    503, "chain-unavailable", "The ledger's chain node cannot be reached; nothing was written. Retry later.",
    headers={"Retry-After": "10"},
)


def problem_for(exc: Exception) -> ProblemError | None:
    """The problem of a typed error, by its type; ``None`` if it has none (→ 500)."""
    if isinstance(exc, ProblemError):
        return exc
    if isinstance(exc, BatchItemError):
        inner = problem_for(exc.cause)
        if inner is None:
            return None
        return ProblemError(inner.status, inner.slug, inner.detail, headers=inner.headers, **inner.extensions, index=exc.index)
    if isinstance(exc, IdempotencyKeyReusedError):
        return ProblemError(422, "idempotency-key-reused", str(exc), idempotency_key=exc.idempotency_key,
                            write_id=exc.write_id)
    if isinstance(exc, RequestValidationError):
        return _validation(list(exc.errors()))
    if isinstance(exc, InputInvalidError):
        return _validation(exc.errors)
    if isinstance(exc, ContractRevertError):
        return _contract(exc)
    if isinstance(exc, (ChainUnavailableError, requests.ConnectionError, requests.Timeout)):
        logger.warning("chain unavailable: %s", getattr(exc, "reason", exc))
        return _CHAIN_DOWN
    if isinstance(exc, InsufficientFundsError):
        logger.error("sender unfunded: %s", exc)
        return ProblemError(
            503, "sender-unfunded",
            "The account that sends this transaction cannot pay its gas. Nothing was sent; "
            "the operator must fund it.",
            account=exc.account, balance_wei=str(exc.balance_wei), needed_wei=str(exc.needed_wei),
        )
    if isinstance(exc, TransactionFailedError):
        logger.error("transaction failed: %s", exc)
        return ProblemError(
            502, "transaction-failed",
            "The transaction failed or was not mined in time. Check tx_hash on chain before retrying.",
            tx_hash=exc.tx_hash,
        )
    if isinstance(exc, EvidenceTooLargeError):
        return ProblemError(413, "payload-too-large", str(exc), max_bytes=exc.max_bytes)
    if isinstance(exc, ProblemRefusal):
        return ProblemError(exc.status, exc.slug, str(exc), headers=exc.headers, **exc.extensions())
    if isinstance(exc, StaffForbiddenError):
        return ProblemError(403, "forbidden", str(exc))
    if isinstance(exc, StaffRoleError):
        return ProblemError(403, "forbidden", str(exc), needed_role=exc.needed_role, token_roles=list(exc.roles))
    if isinstance(exc, StaffAuthError):
        return ProblemError(401, "unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"})
    if isinstance(exc, UnknownRecordError):
        return ProblemError(404, "not-found", str(exc))
    if isinstance(exc, CommitmentWithdrawnError):
        return ProblemError(409, "commitment-withdrawn", str(exc))
    if isinstance(exc, AmendmentChangesNothingError):
        return ProblemError(409, "amendment-changes-nothing", str(exc), field=exc.field)
    if isinstance(exc, StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 404 and detail == "Not Found":
            detail = "No such resource."
        return ProblemError(exc.status_code, _slug_for_status(exc.status_code), detail, headers=exc.headers)
    return None


_MAPPED = (
    ProblemError, BatchItemError, RequestValidationError, InputInvalidError, ContractRevertError,
    ChainUnavailableError, requests.ConnectionError, requests.Timeout, TransactionFailedError,
    InsufficientFundsError, EvidenceTooLargeError, StaffAuthError, WriteRefusedError, StarletteHTTPException,
    IdempotencyKeyReusedError,
)
"""Exception types :func:`problem_for` maps (each gets the one handler)."""


HtmlErrorRenderer = Callable[[Request, int, str, "str | None"], Response]
"""``(request, status, problem slug, parameter) -> response``: the site's error page for a path
it serves; ``parameter`` names the query or path parameter a 422 ``validation-error`` is about
(the ``loc`` of its first error), else ``None``."""

MACHINE_PATHS = ("/api/", "/openapi.json", "/docs", "/feeds/", "/downloads/")
"""Paths whose errors are always problem+json, never a page (read by programs: the API,
feed readers, scripts that download the open data)."""


def _parameter_of(problem: ProblemError) -> str | None:
    """The query or path parameter the first error of a validation problem names, or ``None``."""
    errors = problem.extensions.get("errors") or []
    loc = list(errors[0].get("loc", ())) if errors else []
    return loc[1] if len(loc) >= 2 and loc[0] in ("query", "path") and isinstance(loc[1], str) else None


def _html_page(request: Request, status: int, slug: str, parameter: str | None = None) -> Response | None:
    """The site's error page for ``request`` (a path outside :data:`MACHINE_PATHS`), when the
    site installed a renderer in ``app.state.html_error_renderer``; else ``None``."""
    renderer: HtmlErrorRenderer | None = getattr(request.app.state, "html_error_renderer", None)
    if renderer is None or request.url.path.startswith(MACHINE_PATHS):
        return None
    try:
        return renderer(request, status, slug, parameter)
    except Exception:  # noqa: BLE001 - an error page must never fail; fall back to the problem
        logger.error("the error page for %s failed", request.url.path, exc_info=True)
        return None


def install_problem_handlers(app: FastAPI) -> None:
    """Register the exception handlers that turn every error into a problem (:func:`problem_for`),
    or, on the site's own paths, into the site's error page in the reader's language."""

    async def _mapped(request: Request, exc: Exception) -> Response:
        problem = problem_for(exc)
        if problem is None:
            return await _unexpected(request, exc)
        page = _html_page(request, problem.status, problem.slug, _parameter_of(problem))
        if page is not None:
            return page
        return problem_response(problem.status, problem.slug, problem.detail, headers=problem.headers, **problem.extensions)

    async def _unexpected(request: Request, exc: Exception) -> Response:
        logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        page = _html_page(request, 500, "internal-error")
        if page is not None:
            return page
        return problem_response(500, "internal-error", "An unexpected error occurred; it has been logged.")

    for exc_type in _MAPPED:
        app.add_exception_handler(exc_type, _mapped)
    app.add_exception_handler(Exception, _unexpected)
