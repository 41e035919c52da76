"""Staff (registrar) writes. ``Authorization: Bearer <token>``; the server signs with the
token's registrar key, waits for the receipt and returns what the chain recorded.

Every write may also answer: 401 `unauthorized` (missing or unknown token), 403 `forbidden`
(record of another municipality, or the account is no registrar there), 422
`validation-error` (checked before anything is stored or sent) or `contract-rejected`,
502 `transaction-failed`, 503 `chain-unavailable` or `ledger-paused` (the platform admin
paused all writes). Nothing is written when an error is returned (a refused delivery also
leaves the evidence store as it was: see the delivery route).

The batch routes send all their items in one transaction (`multicall`): all or nothing. A
refused item answers with that item's problem plus the extension member `index` (0-based);
validation errors name the item in `errors[].loc` (`["body", "commitments", 3, "title"]`).
The delivery batch reads its body itself (:func:`read_delivery_batch`), as it takes either
JSON or multipart/form-data with evidence files (:class:`DeliveryBatchRoute` guards both).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any, AsyncIterator, Callable, Coroutine

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from api.deps import ChainDep, EvidenceStoreDep, NowDep, SessionDep, SettingsDep, StaffDep
from api.problems import problem_responses
from api.routing import BATCH_JSON_MAX_BYTES, has_body, limited_receive, media_type_of, too_large, body_limited_route
from api.schemas import (
    MAX_BATCH_ITEMS,
    MAX_EVIDENCE,
    AmendmentIn,
    CommitmentAmended,
    CommitmentBatchIn,
    CommitmentBatchRegistered,
    CommitmentIn,
    CommitmentRegistered,
    CommitmentWithdrawn,
    DeliveryBatchIn,
    DeliveryBatchRecorded,
    DeliveryForm,
    DeliveryRecorded,
    DeliveryRevoked,
    ReasonIn,
    StaffMe,
)
from api.services import ledger_writes
from ledger.db import repository

router = APIRouter(
    prefix="/staff",
    tags=["staff"],
    route_class=body_limited_route(max_files=MAX_EVIDENCE),
    responses=problem_responses(401, 403, 422, 502, 503),
)

batches = APIRouter(
    route_class=body_limited_route(max_files=0, json_max_bytes=BATCH_JSON_MAX_BYTES),
    responses=problem_responses(401, 403, 422, 502, 503),
)
"""The batch routes (included in :data:`router` at the end): a larger JSON limit."""

BATCH_FORM_MAX_BYTES = 64 * 1024 * 1024
"""Largest multipart body of ``POST /staff/deliveries/batch``, bytes: all its evidence files
(each also at most ``settings.max_evidence_bytes``) and the ``deliveries`` text together."""

BATCH_FORM_MAX_FILES = MAX_BATCH_ITEMS * MAX_EVIDENCE
"""Most files a delivery batch can cite (each file needs a citing item)."""


class DeliveryBatchRoute(APIRoute):
    """The guard of ``POST /staff/deliveries/batch`` (as :func:`api.routing.body_limited_route`
    for a route that reads its own body): JSON at most :data:`BATCH_JSON_MAX_BYTES`,
    multipart/form-data at most :data:`BATCH_FORM_MAX_BYTES`, anything else 415; a declared
    ``Content-Length`` over the limit is refused at once, a streamed body when it passes it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            media_type = media_type_of(request)
            if media_type == "multipart/form-data":
                limit = BATCH_FORM_MAX_BYTES
            elif media_type is not None and (media_type == "application/json" or media_type.endswith("+json")):
                limit = BATCH_JSON_MAX_BYTES
            elif media_type or has_body(request):
                raise HTTPException(415, f"Send this as application/json or multipart/form-data, not {media_type}.")
            else:
                limit = BATCH_JSON_MAX_BYTES
            declared = request.headers.get("content-length", "").strip()
            if declared.isdigit() and int(declared) > limit:
                raise too_large(limit)
            return await handler(Request(request.scope, limited_receive(request.receive, limit)))

        return guarded


@dataclass
class DeliveryBatchBody:
    """A delivery batch as read from either form: the items and the evidence files (none for
    JSON), in upload order."""

    data: DeliveryBatchIn
    files: list[UploadFile] = field(default_factory=list)


def _invalid(loc: list[Any], type_: str, msg: str, input_: Any = None) -> RequestValidationError:
    return RequestValidationError([{"type": type_, "loc": tuple(loc), "msg": msg, "input": input_}])


def _batch_in(value: Any) -> DeliveryBatchIn:
    """Validate a decoded body as :class:`DeliveryBatchIn`, errors located under ``body``."""
    try:
        return DeliveryBatchIn.model_validate(value)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


def _json(raw: bytes | str, loc: list[Any]) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _invalid([*loc, getattr(exc, "pos", 0)], "json_invalid", "JSON decode error") from None


async def read_delivery_batch(request: Request) -> AsyncIterator[DeliveryBatchBody]:
    """The body of ``POST /staff/deliveries/batch``: JSON ``{"deliveries": [...]}``, or
    multipart/form-data with one text field ``deliveries`` (the same array, as JSON text) and
    zero or more ``evidence`` files. The files are closed when the request ends.

    Raises:
        RequestValidationError: the body is not such a batch (422, ``loc`` under ``body``:
            ``["body", "deliveries", 2, "quantity"]``, ``["body", "evidence", 0]``).
    """
    if media_type_of(request) != "multipart/form-data":
        raw = await request.body()
        if not raw:
            raise _invalid(["body"], "missing", "Field required")
        yield DeliveryBatchBody(_batch_in(_json(raw, ["body"])))
        return
    async with request.form(max_files=BATCH_FORM_MAX_FILES, max_fields=MAX_EVIDENCE,
                            max_part_size=BATCH_JSON_MAX_BYTES) as form:
        errors: list[dict[str, Any]] = []
        for name in form:
            if name not in ("deliveries", "evidence"):
                errors.append({"type": "extra_forbidden", "loc": ("body", name), "msg": "Extra inputs are not permitted",
                               "input": None})
        texts = form.getlist("deliveries")
        if not texts:
            errors.append({"type": "missing", "loc": ("body", "deliveries"), "msg": "Field required", "input": None})
        elif len(texts) > 1 or not isinstance(texts[0], str):
            errors.append({"type": "deliveries_text", "loc": ("body", "deliveries"), "input": None,
                           "msg": "deliveries must be one text field: the JSON array of the deliveries"})
        files: list[UploadFile] = []
        for i, value in enumerate(form.getlist("evidence")):
            if not isinstance(value, UploadFile):
                errors.append({"type": "evidence_not_a_file", "loc": ("body", "evidence", i), "input": None,
                               "msg": f"evidence number {i + 1} is not a file: cite hashes in the items' evidence_sha256"})
            elif value.filename or value.size:  # a form's file input left empty: ignored
                files.append(value)
        if errors:
            raise RequestValidationError(errors)
        yield DeliveryBatchBody(_batch_in({"deliveries": _json(texts[0], ["body", "deliveries"])}), files)


DeliveryBatchBodyDep = Annotated[DeliveryBatchBody, Depends(read_delivery_batch)]


def _inline_schema(model: Any) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` written in place (for ``openapi_extra``)."""
    schema = model.model_json_schema(ref_template="#/$defs/{model}")
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(schema)


_DELIVERY_BATCH_SCHEMA = _inline_schema(DeliveryBatchIn)
DELIVERY_BATCH_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": _DELIVERY_BATCH_SCHEMA},
        "multipart/form-data": {"schema": {
            "type": "object",
            "required": ["deliveries"],
            "properties": {
                "deliveries": {"type": "string", "description": "the JSON array of the deliveries, as in the JSON body"},
                "evidence": {"type": "array", "items": {"type": "string", "format": "binary"},
                             "description": "evidence files, each cited by at least one item's evidence_sha256"},
            },
        }},
    },
}

delivery_batches = APIRouter(
    route_class=DeliveryBatchRoute,
    responses=problem_responses(401, 403, 422, 502, 503),
)
"""``POST /staff/deliveries/batch`` (included in :data:`router` at the end): JSON or files."""

CommitmentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="commitment id")]
DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1, description="delivery id")]


@router.get("/me", response_model=StaffMe)
def me(staff: StaffDep, session: SessionDep) -> StaffMe:
    """Who the token stands for: its municipality (name from the index, null if not indexed
    yet) and the registrar account that signs its writes."""
    return StaffMe(
        municipality_id=staff.municipality_id,
        municipality_name=repository.municipality_name(session, staff.municipality_id),
        registrar=staff.registrar,
    )


@router.post(
    "/commitments",
    status_code=201,
    response_model=CommitmentRegistered,
    responses=problem_responses(409, 415),
)
def register_commitment(body: CommitmentIn, staff: StaffDep, chain: ChainDep) -> CommitmentRegistered:
    """Register a commitment for the token's municipality (`registerCommitment`).

    Text limits in UTF-8 bytes: `external_ref` 1..64 (unique per municipality), `title`
    1..200, `description` ..8000, `theme` ..120, `unit` 1..32, `source_uri` ..512.
    `target_quantity` 1..10^13 (integer or decimal string); `promised_at` (when the promise
    was made, e.g. the council's adoption; not in the future) and `due_date` (after
    `promised_at`, before the year 10000) as Unix seconds or RFC 3339 with offset;
    `source_document_sha256` 64 hex characters (optional `0x`) or null.

    201 `{"commitment_id", "tx"}`; 409 `duplicate-external-ref` with `existing_commitment_id`;
    422 for a promise date after the block time or a due date not after the promise date.
    """
    return CommitmentRegistered.model_validate(ledger_writes.register_commitment(chain, staff, body))


@router.post(
    "/commitments/{commitment_id}/amendments",
    status_code=201,
    response_model=CommitmentAmended,
    responses=problem_responses(404, 409, 415),
)
def amend_commitment(
    commitment_id: CommitmentId, body: AmendmentIn, staff: StaffDep, chain: ChainDep, session: SessionDep, now: NowDep
) -> CommitmentAmended:
    """Amend a commitment (`amendCommitment`): only the fields given change.

    `expected_amendment_count` (required): the `amendment_count` you read; `title`,
    `description`, `target_quantity`, `due_date` (at least one; omitted or null = unchanged);
    `reason` 1..1000 bytes. The original terms stay on record: every commitment is also judged
    against them (`status_original_terms`, `met_only_under_relaxed_terms`).

    201 `{"commitment_id", "amendment_number", "tx"}`; 404 unknown commitment; 409
    `stale-amendment-count` (it was amended since you read it; with `expected_amendment_count`
    and `current_amendment_count`), `amendment-changes-nothing` (with `field`) or
    `commitment-withdrawn`; 422 for a due date not after the promise date.
    """
    return CommitmentAmended.model_validate(ledger_writes.amend_commitment(chain, session, staff, commitment_id, body, now))


@router.post(
    "/commitments/{commitment_id}/withdrawal",
    status_code=201,
    response_model=CommitmentWithdrawn,
    responses=problem_responses(404, 409, 415),
)
def withdraw_commitment(
    commitment_id: CommitmentId, body: ReasonIn, staff: StaffDep, chain: ChainDep, session: SessionDep, now: NowDep
) -> CommitmentWithdrawn:
    """Withdraw a commitment (`withdrawCommitment`) with a `reason` (1..1000 bytes); it then
    accepts no amendment or delivery. 201 `{"commitment_id", "tx"}`; 404 unknown; 409
    `commitment-withdrawn` if it already is."""
    result = ledger_writes.withdraw_commitment(chain, session, staff, commitment_id, body.reason, now)
    return CommitmentWithdrawn.model_validate(result)


@router.post(
    "/commitments/{commitment_id}/deliveries",
    status_code=201,
    response_model=DeliveryRecorded,
    responses=problem_responses(404, 409, 413, 415),
)
def record_delivery(
    commitment_id: CommitmentId,
    form: Annotated[DeliveryForm, Form(media_type="multipart/form-data")],
    staff: StaffDep,
    chain: ChainDep,
    session: SessionDep,
    store: EvidenceStoreDep,
    settings: SettingsDep,
    now: NowDep,
) -> DeliveryRecorded:
    """Record a delivery (`recordDelivery`), multipart/form-data.

    Fields: `quantity` 1..10^13 (in the commitment's unit); `delivered_at` (the date you
    state; the chain adds the recording time) Unix seconds or RFC 3339 with offset, not in the
    future; `note` ..1000 bytes; `evidence_uri` ..512;
    `external_ref` ..64 (unique per commitment when not empty); zero or more `evidence` files
    (each at most `max_evidence_bytes`, default 10 MiB, stored here by SHA-256 with its media
    type) and zero or more `evidence_sha256` (files published elsewhere); 1..16 in all, no
    file empty and no hash twice (the same file twice, or a file whose hash is also given, is
    422 `validation-error` naming it). The evidence list on chain is the files' hashes in
    upload order, then `evidence_sha256`.

    The files are staged before the transaction is sent and stored only once it is recorded
    (or when its outcome is unknown), so every cited file can be fetched from
    `GET /evidence/{sha256}`; a refusal leaves the evidence store as it was.

    201 `{"delivery_id", "commitment_id", "evidence_sha256", "tx"}`; 404 unknown commitment;
    409 `commitment-withdrawn` or `duplicate-delivery-ref` (with `existing_delivery_id`); 413
    `payload-too-large` (nothing stored, nothing sent); 422 `duplicate-evidence` if the
    contract finds a hash twice.
    """
    result = ledger_writes.record_delivery(
        chain, session, store, staff, commitment_id, form, now, max_evidence_bytes=settings.max_evidence_bytes
    )
    return DeliveryRecorded.model_validate(result)


@router.post(
    "/deliveries/{delivery_id}/revocation",
    status_code=201,
    response_model=DeliveryRevoked,
    responses=problem_responses(404, 409, 415),
)
def revoke_delivery(
    delivery_id: DeliveryId, body: ReasonIn, staff: StaffDep, chain: ChainDep, session: SessionDep, now: NowDep
) -> DeliveryRevoked:
    """Revoke a delivery (`revokeDelivery`) with a `reason` (1..1000 bytes): it stops counting
    towards progress; nothing is deleted. Allowed after withdrawal.

    201 `{"delivery_id", "commitment_id", "tx"}`; 404 unknown delivery; 403 if it belongs to
    another municipality; 409 `delivery-already-revoked`.
    """
    result = ledger_writes.revoke_delivery(chain, session, staff, delivery_id, body.reason, now)
    return DeliveryRevoked.model_validate(result)


@batches.post(
    "/commitments/batch",
    status_code=201,
    response_model=CommitmentBatchRegistered,
    responses=problem_responses(409, 413, 415),
)
def register_commitments(body: CommitmentBatchIn, staff: StaffDep, chain: ChainDep) -> CommitmentBatchRegistered:
    """Register 1..100 commitments in one transaction: `{"commitments": [...]}`, each
    item as the body of `POST /staff/commitments`. All or nothing.

    201 `{"commitment_ids": [...] (in item order), "tx"}`. A refused item answers with its
    problem and `index`, e.g. 409 `duplicate-external-ref` with `existing_commitment_id` and
    `index`; a repeated `external_ref` inside the batch is 422 with `loc`
    `["body", "commitments", i, "external_ref"]`. JSON body at most 4 MiB.
    """
    return CommitmentBatchRegistered.model_validate(ledger_writes.register_commitments(chain, staff, body))


@delivery_batches.post(
    "/deliveries/batch",
    status_code=201,
    response_model=DeliveryBatchRecorded,
    responses=problem_responses(404, 409, 413, 415),
    openapi_extra={"requestBody": DELIVERY_BATCH_REQUEST_BODY},
)
def record_deliveries(
    staff: StaffDep,
    body: DeliveryBatchBodyDep,
    chain: ChainDep,
    session: SessionDep,
    store: EvidenceStoreDep,
    settings: SettingsDep,
    now: NowDep,
) -> DeliveryBatchRecorded:
    """Record 1..100 deliveries in one transaction: `{"deliveries": [{"commitment_id",
    "quantity", "delivered_at", "evidence_sha256": [1..16 hashes], "evidence_uri", "note",
    "external_ref"}, ...]}`. All or nothing.

    As JSON (at most 4 MiB) evidence is cited by hash only. As multipart/form-data (at most
    64 MiB in all) the field `deliveries` carries the same array as JSON text, with zero or
    more `evidence` files (each at most `max_evidence_bytes`, default 10 MiB): every file must
    be cited by at least one item's `evidence_sha256` (else 422 naming the file, `loc`
    `["body", "evidence", i]`), no file empty and none twice. The files are staged before
    the transaction is sent and stored when it is recorded (or its outcome is unknown), as
    for a single delivery; a refused batch leaves the evidence store as it was.

    201 `{"delivery_ids": [...] (in item order), "tx"}`. A refused item answers with its
    problem and `index`: 403 (another municipality's commitment), 404 (unknown commitment),
    409 `commitment-withdrawn` or `duplicate-delivery-ref` (with `existing_delivery_id`);
    a hash given twice in an item or a repeated (`commitment_id`, `external_ref`) is 422 with
    `loc` naming the item; 413 `payload-too-large` (nothing stored, nothing sent).
    """
    result = ledger_writes.record_deliveries(
        chain, session, staff, body.data, now,
        store=store, files=body.files, max_evidence_bytes=settings.max_evidence_bytes,
    )
    return DeliveryBatchRecorded.model_validate(result)


router.include_router(batches)
router.include_router(delivery_batches)
