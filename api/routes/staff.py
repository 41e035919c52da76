"""Staff writes. ``Authorization: Bearer <token>``; the server signs with the token's key,
waits for the receipt and returns what the chain recorded. A token holds roles
(``ledger.staff``): ``registrar`` for registrations, amendments, withdrawals, deliveries,
revocations and batches; ``confirmer`` for confirmations and disputes (403 ``forbidden``
with ``needed_role`` otherwise, before anything is sent).

Every write goes through the write outbox (``api.routes.writes``): checked as below, then
journaled and answered 202 `{"write": Write}` with `Location: /api/v1/staff/writes/{id}`;
with `Prefer: wait=N` the 201 body below (plus `write`) once it is confirmed within N
seconds. `Idempotency-Key` (or the key derived from the request) makes a repeat the same
write. The 201 bodies below are also each confirmed write's `result`.

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

Anchored batches (``/staff/batches``, docs/LEDGER.md "Batches") are one Merkle root for up to
10,000 deliveries; every row is checked first (422 with one ``errors`` entry per problem),
and the batch file is stored here before the root is anchored (``api.services.batches``).
A batched delivery is named by batch root and leaf hash; its values and proof come from the
stored file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Annotated, Any, AsyncIterator, Callable, Coroutine

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.deps import ChainDep, EvidenceStoreDep, NowDep, SessionDep, SettingsDep, StaffDep
from api.problems import problem_responses
from api.routing import (
    BATCH_JSON_MAX_BYTES,
    FORM_OVERHEAD_BYTES,
    body_limited_route,
    has_body,
    limited_receive,
    media_type_of,
    too_large,
)
from api.schemas import (
    MAX_BATCH_ITEMS,
    MAX_EVIDENCE,
    AmendmentIn,
    CommitmentAmended,
    CommitmentBatchIn,
    CommitmentBatchRegistered,
    CommitmentIn,
    CommitmentRegistered,
    BatchAnchored,
    BatchedDeliveryRevoked,
    BatchFileStored,
    BatchIn,
    CommitmentWithdrawn,
    ConfirmationIn,
    DeliveryBatchIn,
    DeliveryBatchRecorded,
    DeliveryForm,
    DeliveryRecorded,
    DeliveryRevoked,
    ReasonIn,
    StaffMe,
    VerdictRecorded,
    text_problem,
)
from ledger.limits import URI_MAX_BYTES
from api.routes.writes import ACCEPTED_RESPONSES, accept, file_hashes
from api.services import batches as batch_writes
from api.services import confirmations, ledger_writes
from api.services.batches import BATCH_FILE_MAX_BYTES
from ledger.db import repository
from ledger.staff import ROLES

router = APIRouter(
    prefix="/staff",
    tags=["staff"],
    route_class=body_limited_route(max_files=MAX_EVIDENCE),
    responses={**problem_responses(400, 401, 403, 422, 429, 502, 503), **ACCEPTED_RESPONSES},
)

batches = APIRouter(
    route_class=body_limited_route(max_files=0, json_max_bytes=BATCH_JSON_MAX_BYTES),
    responses={**problem_responses(400, 401, 403, 422, 429, 502, 503), **ACCEPTED_RESPONSES},
)
"""The batch routes (included in :data:`router` at the end): a larger JSON limit."""

BATCH_FORM_MAX_BYTES = 64 * 1024 * 1024
"""Largest multipart body of ``POST /staff/deliveries/batch``, bytes: all its evidence files
(each also at most ``settings.max_evidence_bytes``) and the ``deliveries`` text together."""

BATCH_FORM_MAX_FILES = MAX_BATCH_ITEMS * MAX_EVIDENCE
"""Most files a delivery batch can cite (each file needs a citing item)."""


def self_read_route(json_max_bytes: int | None, form_max_bytes: int) -> type[APIRoute]:
    """The guard of a route that reads its own body (as :func:`api.routing.body_limited_route`):
    JSON at most ``json_max_bytes`` (``None``: no JSON), multipart/form-data at most
    ``form_max_bytes``, anything else 415; a declared ``Content-Length`` over the limit is
    refused at once, a streamed body when it passes it."""
    accepted = "multipart/form-data" if json_max_bytes is None else "application/json or multipart/form-data"

    class SelfReadRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def guarded(request: Request) -> Response:
                media_type = media_type_of(request)
                json_like = media_type is not None and (media_type == "application/json" or media_type.endswith("+json"))
                if media_type == "multipart/form-data":
                    limit = form_max_bytes
                elif json_like and json_max_bytes is not None:
                    limit = json_max_bytes
                elif media_type or has_body(request):
                    raise HTTPException(415, f"Send this as {accepted}, not {media_type or 'no media type'}.")
                else:
                    limit = json_max_bytes if json_max_bytes is not None else form_max_bytes
                declared = request.headers.get("content-length", "").strip()
                if declared.isdigit() and int(declared) > limit:
                    raise too_large(limit)
                return await handler(Request(request.scope, limited_receive(request.receive, limit)))

            return guarded

    SelfReadRoute.__name__ = f"SelfReadRoute{json_max_bytes}x{form_max_bytes}"
    return SelfReadRoute


DeliveryBatchRoute = self_read_route(BATCH_JSON_MAX_BYTES, BATCH_FORM_MAX_BYTES)
"""The guard of ``POST /staff/deliveries/batch``: JSON at most :data:`BATCH_JSON_MAX_BYTES`,
multipart/form-data at most :data:`BATCH_FORM_MAX_BYTES`."""

ANCHOR_JSON_MAX_BYTES = 32 * 1024 * 1024
"""Largest JSON body of ``POST /staff/batches``, bytes: 10,000 deliveries (``MAX_BATCH_LEAVES``)
of about 2.8 KB of text each, at most."""

ANCHOR_FORM_MAX_BYTES = 96 * 1024 * 1024
"""Largest multipart body of ``POST /staff/batches``, bytes: its evidence files and the
``deliveries`` text."""

ANCHOR_FORM_MAX_FILES = 1000
"""Most evidence files one ``POST /staff/batches`` carries (each cited by a delivery)."""

BATCH_FILE_FORM_MAX_BYTES = BATCH_FILE_MAX_BYTES + FORM_OVERHEAD_BYTES
"""Largest body of ``POST /staff/batches/file``, bytes: one batch file and ``file_uri``."""


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


@dataclass
class AnchorBatchBody:
    """A batch to anchor as read from either form: the rows and the evidence files (none for JSON)."""

    data: BatchIn
    files: list[UploadFile] = field(default_factory=list)


def _anchor_in(value: Any) -> BatchIn:
    """Validate a decoded body as :class:`BatchIn`, errors located under ``body``."""
    try:
        return BatchIn.model_validate(value)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


async def read_anchor_batch(request: Request) -> AsyncIterator[AnchorBatchBody]:
    """The body of ``POST /staff/batches``: JSON ``{"municipality_id", "deliveries": [...],
    "file_uri"?}``, or multipart/form-data with the text fields ``municipality_id``,
    ``deliveries`` (the same array, as JSON text) and ``file_uri`` (optional) and zero or more
    ``evidence`` files. The files are closed when the request ends.

    Raises:
        RequestValidationError: the body is not such a batch (422, ``loc`` under ``body``).
    """
    if media_type_of(request) != "multipart/form-data":
        raw = await request.body()
        if not raw:
            raise _invalid(["body"], "missing", "Field required")
        yield AnchorBatchBody(_anchor_in(_json(raw, ["body"])))
        return
    async with request.form(max_files=ANCHOR_FORM_MAX_FILES, max_fields=8, max_part_size=ANCHOR_JSON_MAX_BYTES) as form:
        errors: list[dict[str, Any]] = []
        texts: dict[str, str] = {}
        for name in form:
            if name not in ("municipality_id", "deliveries", "file_uri", "evidence"):
                errors.append({"type": "extra_forbidden", "loc": ("body", name), "msg": "Extra inputs are not permitted",
                               "input": None})
        for name in ("municipality_id", "deliveries", "file_uri"):
            values = form.getlist(name)
            if len(values) > 1 or (values and not isinstance(values[0], str)):
                errors.append({"type": "text_field", "loc": ("body", name), "input": None,
                               "msg": f"{name} must be one text field"})
            elif values:
                texts[name] = str(values[0])
        files: list[UploadFile] = []
        for i, value in enumerate(form.getlist("evidence")):
            if not isinstance(value, UploadFile):
                errors.append({"type": "evidence_not_a_file", "loc": ("body", "evidence", i), "input": None,
                               "msg": f"evidence number {i + 1} is not a file: cite hashes in the rows' evidence_hashes"})
            elif value.filename or value.size:  # a form's file input left empty: ignored
                files.append(value)
        if errors:
            raise RequestValidationError(errors)
        body: dict[str, Any] = {k: v for k, v in texts.items() if k != "deliveries"}
        if "deliveries" in texts:
            body["deliveries"] = _json(texts["deliveries"], ["body", "deliveries"])
        yield AnchorBatchBody(_anchor_in(body), files)


AnchorBatchBodyDep = Annotated[AnchorBatchBody, Depends(read_anchor_batch)]


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


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without its ``null`` alternative (a form field is text or absent, never null)."""
    options = [o for o in schema.get("anyOf", []) if o.get("type") != "null"]
    if len(options) != 1:
        return schema
    return {**options[0], **{k: v for k, v in schema.items() if k not in ("anyOf", "default")}}


_DELIVERY_BATCH_SCHEMA = _inline_schema(DeliveryBatchIn)
_ANCHOR_BATCH_SCHEMA = _inline_schema(BatchIn)
_JSON_PART = {"contentType": "application/json"}
"""The ``encoding`` of a form field that holds JSON text (``deliveries``)."""
ANCHOR_BATCH_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": _ANCHOR_BATCH_SCHEMA},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["municipality_id", "deliveries"],
                "additionalProperties": False,
                "properties": {
                    "municipality_id": _ANCHOR_BATCH_SCHEMA["properties"]["municipality_id"],
                    "deliveries": {**_ANCHOR_BATCH_SCHEMA["properties"]["deliveries"],
                                   "description": "the JSON array of the deliveries, as in the JSON body (JSON text)"},
                    "file_uri": _not_null(_ANCHOR_BATCH_SCHEMA["properties"]["file_uri"]),
                    "evidence": {"type": "array", "items": {"type": "string", "format": "binary"},
                                 "description": "evidence files, each cited by at least one delivery's evidence_hashes"},
                },
            },
            "encoding": {"deliveries": _JSON_PART},
        },
    },
}
DELIVERY_BATCH_REQUEST_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": _DELIVERY_BATCH_SCHEMA},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["deliveries"],
                "additionalProperties": False,
                "properties": {
                    "deliveries": {**_DELIVERY_BATCH_SCHEMA["properties"]["deliveries"],
                                   "description": "the JSON array of the deliveries, as in the JSON body (JSON text)"},
                    "evidence": {"type": "array", "items": {"type": "string", "format": "binary"},
                                 "description": "evidence files, each cited by at least one item's evidence_sha256"},
                },
            },
            "encoding": {"deliveries": _JSON_PART},
        },
    },
}

delivery_batches = APIRouter(
    route_class=DeliveryBatchRoute,
    responses={**problem_responses(400, 401, 403, 422, 429, 502, 503), **ACCEPTED_RESPONSES},
)
"""``POST /staff/deliveries/batch`` (included in :data:`router` at the end): JSON or files."""

anchor_batches = APIRouter(
    route_class=self_read_route(ANCHOR_JSON_MAX_BYTES, ANCHOR_FORM_MAX_BYTES),
    responses={**problem_responses(400, 401, 403, 422, 429, 502, 503), **ACCEPTED_RESPONSES},
)
"""``POST /staff/batches`` (included in :data:`router` at the end): JSON or files, large."""

batch_files = APIRouter(
    route_class=self_read_route(None, BATCH_FILE_FORM_MAX_BYTES),
    responses={**problem_responses(400, 401, 403, 422, 429, 502, 503), **ACCEPTED_RESPONSES},
)
"""``POST /staff/batches/file`` (included in :data:`router` at the end): one batch file."""

HEX32 = r"^(0x)?[0-9a-fA-F]{64}$"
Root = Annotated[str, Path(pattern=HEX32, description="the batch's Merkle root: 64 hex characters, optional 0x")]
LeafHash = Annotated[str, Path(pattern=HEX32, description="the leaf hash: 64 hex characters, optional 0x")]


def _hex32(value: str) -> str:
    return "0x" + value.removeprefix("0x").lower()


CommitmentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="commitment id")]
DeliveryId = Annotated[int, Path(ge=1, le=2**63 - 1, description="delivery id")]


@router.get("/me", response_model=StaffMe)
def me(staff: StaffDep, session: SessionDep) -> StaffMe:
    """Who the token stands for: its municipality (name from the index, null if not indexed
    yet), the account that signs its writes and the roles it may use (`registrar`,
    `confirmer`)."""
    return StaffMe(
        municipality_id=staff.municipality_id,
        municipality_name=repository.municipality_name(session, staff.municipality_id),
        registrar=staff.registrar,
        roles=[role for role in ROLES if role in staff.roles],
    )


@router.post(
    "/commitments",
    status_code=201,
    response_model=CommitmentRegistered,
    responses=problem_responses(404, 409, 415),
)
def register_commitment(
    request: Request, body: CommitmentIn, staff: StaffDep, chain: ChainDep, session: SessionDep
) -> CommitmentRegistered:
    """Register a commitment for the token's municipality (`registerCommitment`).

    Text limits in UTF-8 bytes: `external_ref` 1..64 (unique per municipality; taken in NFC), `title`
    1..200, `description` ..8000, `theme` ..120, `unit` 1..32, `source_uri` ..512.
    `target_quantity` 1..10^13 (integer or decimal string); `promised_at` (when the promise
    was made, e.g. the council's adoption; not in the future) and `due_date` (after
    `promised_at`, before the year 10000) as Unix seconds or RFC 3339 with offset;
    `source_document_sha256` 64 hex characters (optional `0x`) or null. A sub-commitment names
    its `parent_id` (same municipality, not withdrawn) and its `weight` in the parent's roll-up
    (1..1,000,000, default 1); without `parent_id` the weight is omitted or 0.

    201 `{"commitment_id", "parent_id", "weight", "tx"}`; 404 `not-found` for an unknown
    `parent_id`; 409 `duplicate-external-ref` with
    `existing_commitment_id`, `commitment-withdrawn` (the parent); 422 for a promise date after
    the block time, a due date not after the promise date, `parent-in-other-municipality` (with
    `parent_id`, `parent_municipality_id`, `municipality_id`) or `invalid-weight`.
    """
    return accept(request, "register_commitment", body.model_dump(mode="json"),
                  lambda journal: ledger_writes.register_commitment(journal, staff, body, session), staff=staff, chain=chain)


@router.post(
    "/commitments/{commitment_id}/amendments",
    status_code=201,
    response_model=CommitmentAmended,
    responses=problem_responses(404, 409, 415),
)
def amend_commitment(
    request: Request, commitment_id: CommitmentId, body: AmendmentIn, staff: StaffDep, chain: ChainDep, session: SessionDep, now: NowDep
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
    return accept(request, "amend_commitment", {"commitment_id": commitment_id, **body.model_dump(mode="json")},
                  lambda journal: ledger_writes.amend_commitment(journal, session, staff, commitment_id, body, now),
                  staff=staff, chain=chain)


@router.post(
    "/commitments/{commitment_id}/withdrawal",
    status_code=201,
    response_model=CommitmentWithdrawn,
    responses=problem_responses(404, 409, 415),
)
def withdraw_commitment(
    request: Request, commitment_id: CommitmentId, body: ReasonIn, staff: StaffDep, chain: ChainDep, session: SessionDep, now: NowDep
) -> CommitmentWithdrawn:
    """Withdraw a commitment (`withdrawCommitment`) with a `reason` (1..1000 bytes); it then
    accepts no amendment or delivery. 201 `{"commitment_id", "tx"}`; 404 unknown; 409
    `commitment-withdrawn` if it already is."""
    return accept(request, "withdraw_commitment", {"commitment_id": commitment_id, **body.model_dump(mode="json")},
                  lambda journal: ledger_writes.withdraw_commitment(journal, session, staff, commitment_id, body.reason,
                                                                    now), staff=staff, chain=chain)


@router.post(
    "/commitments/{commitment_id}/deliveries",
    status_code=201,
    response_model=DeliveryRecorded,
    responses=problem_responses(404, 409, 413, 415),
)
def record_delivery(
    request: Request,
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
    `external_ref` ..64 (unique per commitment when not empty; taken in NFC); `asset_ref` ..64 (the asset it
    delivers, normalised: NFC, trimmed, inner whitespace one space; counted once per commitment);
    zero or more `evidence` files
    (each at most `max_evidence_bytes`, default 10 MiB, stored here by SHA-256 with its media
    type) and zero or more `evidence_sha256` (files published elsewhere); 1..16 in all, no
    file empty and no hash twice (the same file twice, or a file whose hash is also given, is
    422 `validation-error` naming it). The evidence list on chain is the files' hashes in
    upload order, then `evidence_sha256`.

    The files are staged before the transaction is sent and stored only once it is recorded
    (or when its outcome is unknown), so every cited file can be fetched from
    `GET /evidence/{sha256}`; a refusal leaves the evidence store as it was.

    201 `{"delivery_id", "commitment_id", "evidence_sha256", "asset_ref", "tx"}`; 404 unknown
    commitment; 409 `commitment-withdrawn`, `duplicate-delivery-ref` (with
    `existing_delivery_id`) or `asset-already-counted` (with `commitment_id`, `asset_ref` and
    `existing_delivery_id`: a delivery id, or the leaf hash of a batched delivery); 413
    `payload-too-large` (nothing stored, nothing sent); 422 `duplicate-evidence` if the
    contract finds a hash twice.
    """
    uploads = list(form.evidence)
    material = {"commitment_id": commitment_id, **form.model_dump(mode="json", exclude={"evidence"})}
    return accept(
        request, "record_delivery", material,
        lambda journal: ledger_writes.record_delivery(
            journal, session, store, staff, commitment_id, form, now, max_evidence_bytes=settings.max_evidence_bytes
        ),
        staff=staff, chain=chain, evidence=file_hashes(uploads),
    )


@router.post(
    "/deliveries/{delivery_id}/revocation",
    status_code=201,
    response_model=DeliveryRevoked,
    responses=problem_responses(404, 409, 415),
)
def revoke_delivery(
    request: Request, delivery_id: DeliveryId, body: ReasonIn, staff: StaffDep, chain: ChainDep, session: SessionDep, now: NowDep
) -> DeliveryRevoked:
    """Revoke a delivery (`revokeDelivery`) with a `reason` (1..1000 bytes): it stops counting
    towards progress; nothing is deleted. Allowed after withdrawal.

    201 `{"delivery_id", "commitment_id", "tx"}`; 404 unknown delivery; 403 if it belongs to
    another municipality; 409 `delivery-already-revoked`.
    """
    return accept(request, "revoke_delivery", {"delivery_id": delivery_id, **body.model_dump(mode="json")},
                  lambda journal: ledger_writes.revoke_delivery(journal, session, staff, delivery_id, body.reason, now),
                  staff=staff, chain=chain)


@router.post(
    "/deliveries/{delivery_id}/confirmation",
    status_code=201,
    response_model=VerdictRecorded,
    responses=problem_responses(404, 409, 415),
)
def confirm_delivery(
    request: Request, delivery_id: DeliveryId, body: ConfirmationIn, staff: StaffDep, chain: ChainDep, session: SessionDep
) -> VerdictRecorded:
    """Confirm a delivery (`confirmDelivery`), as a confirmer of its municipality who did not
    record it: `{"evidence_hash": "0x..." | null}` (your own evidence, e.g. an inspection
    report). A later dispute changes the verdict; repeating it is refused.

    201 `{"delivery_id", "commitment_id", "confirmer", "verdict": "confirmed",
    "evidence_hash", "tx"}`; 403 `forbidden` (the token holds no confirmer role, or the
    account is no confirmer there: `LedgerNotConfirmer`), 403 `self-confirmation` (it
    recorded the delivery); 404 unknown delivery; 409 `verdict-unchanged` (with `confirmer`,
    `verdict`) or `delivery-already-revoked`.
    """
    return accept(request, "confirm_delivery", {"delivery_id": delivery_id, **body.model_dump(mode="json")},
                  lambda journal: confirmations.confirm_delivery(journal, session, staff, delivery_id, body.evidence_hash),
                  staff=staff, chain=chain)


@router.post(
    "/deliveries/{delivery_id}/dispute",
    status_code=201,
    response_model=VerdictRecorded,
    responses=problem_responses(404, 409, 415),
)
def dispute_delivery(
    request: Request, delivery_id: DeliveryId, body: ReasonIn, staff: StaffDep, chain: ChainDep, session: SessionDep
) -> VerdictRecorded:
    """Dispute a delivery (`disputeDelivery`) with a `reason` (1..1000 bytes), as a confirmer;
    rules as for the confirmation.

    201 `{"delivery_id", "commitment_id", "confirmer", "verdict": "disputed", "reason", "tx"}`;
    refusals as for the confirmation.
    """
    return accept(request, "dispute_delivery", {"delivery_id": delivery_id, **body.model_dump(mode="json")},
                  lambda journal: confirmations.dispute_delivery(journal, session, staff, delivery_id, body.reason),
                  staff=staff, chain=chain)


@batches.post(
    "/commitments/batch",
    status_code=201,
    response_model=CommitmentBatchRegistered,
    responses=problem_responses(404, 409, 413, 415),
)
def register_commitments(
    request: Request, body: CommitmentBatchIn, staff: StaffDep, chain: ChainDep, session: SessionDep
) -> CommitmentBatchRegistered:
    """Register 1..100 commitments in one transaction: `{"commitments": [...]}`, each
    item as the body of `POST /staff/commitments`. All or nothing.

    201 `{"commitment_ids": [...] (in item order), "tx"}`. A refused item answers with its
    problem and `index`, e.g. 409 `duplicate-external-ref` with `existing_commitment_id` and
    `index`; a repeated `external_ref` inside the batch is 422 with `loc`
    `["body", "commitments", i, "external_ref"]`. JSON body at most 4 MiB.
    """
    return accept(request, "register_commitments", body.model_dump(mode="json"),
                  lambda journal: ledger_writes.register_commitments(journal, staff, body, session), staff=staff, chain=chain)


@delivery_batches.post(
    "/deliveries/batch",
    status_code=201,
    response_model=DeliveryBatchRecorded,
    responses=problem_responses(404, 409, 413, 415),
    openapi_extra={"requestBody": DELIVERY_BATCH_REQUEST_BODY},
)
def record_deliveries(
    request: Request,
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
    "external_ref", "asset_ref"}, ...]}`. All or nothing.

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
    return accept(
        request, "record_deliveries", body.data.model_dump(mode="json"),
        lambda journal: ledger_writes.record_deliveries(
            journal, session, staff, body.data, now,
            store=store, files=body.files, max_evidence_bytes=settings.max_evidence_bytes,
        ),
        staff=staff, chain=chain, evidence=file_hashes(body.files),
    )


@anchor_batches.post(
    "/batches",
    status_code=201,
    response_model=BatchAnchored,
    responses=problem_responses(404, 409, 413, 415),
    openapi_extra={"requestBody": ANCHOR_BATCH_REQUEST_BODY},
)
def anchor_batch(
    request: Request,
    staff: StaffDep,
    body: AnchorBatchBodyDep,
    chain: ChainDep,
    session: SessionDep,
    store: EvidenceStoreDep,
    settings: SettingsDep,
) -> BatchAnchored:
    """Anchor 1..10,000 deliveries as one batch (`anchorBatch`: one Merkle root, the same gas
    for any number): `{"municipality_id", "deliveries": [{"commitment_id", "quantity",
    "delivered_at", "evidence_hashes": [1..16], "evidence_uri", "note", "external_ref",
    "asset_ref"}], "file_uri"?}`, each delivery as for `POST /staff/deliveries/batch`.

    Every row is checked first and nothing is stored or sent if one is refused: 422
    `validation-error` with one `errors` entry per problem, `loc` `["body", "deliveries", i,
    field]`, `type` `unknown_commitment`, `other_municipality`, `commitment_withdrawn`,
    `invalid_leaf`, `duplicate_external_ref`, `asset_already_counted` (inside the batch or
    against a delivery already counted) or `duplicate_leaf`. Then the tree is built
    (OpenZeppelin StandardMerkleTree), the batch file (its `dump()` JSON) is stored here and
    only then the root is anchored, so an anchored batch never lacks its file: readers count
    its deliveries once they checked it. `file_uri` defaults to this server's
    `GET /api/v1/batches/{root}/file`.

    As multipart/form-data: text fields `municipality_id`, `deliveries` (the array as JSON
    text), `file_uri`, and `evidence` files, each cited by a row's `evidence_hashes` (stored
    when the batch is anchored, as a delivery batch's files).

    201 `{"root", "municipality_id", "file_sha256", "file_uri", "leaf_count", "leaves":
    [{"leaf_hash", "leaf_index", "commitment_id", "quantity", "delivered_at",
    "evidence_hashes", "evidence_uri", "note", "external_ref", "asset_ref", "proof"}],
    "transaction_hash", "block_number", "tx"}`; 403 another municipality or no registrar;
    409 `batch-already-anchored` (the same root: a retry of an anchored batch).
    """
    return accept(
        request, "anchor_batch", body.data.model_dump(mode="json"),
        lambda journal: batch_writes.anchor_batch(
            journal, session, store, staff, body.data, base_url=str(request.base_url),
            files=body.files, max_evidence_bytes=settings.max_evidence_bytes,
        ),
        staff=staff, chain=chain, evidence=file_hashes(body.files),
    )


@batch_files.post(
    "/batches/file",
    status_code=201,
    response_model=BatchAnchored,
    responses={200: {"model": BatchFileStored, "description": "The file of an anchored batch, stored"},
               **problem_responses(409, 413, 415)},
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "additionalProperties": False,
        "properties": {"file": {"type": "string", "format": "binary", "description": "the batch file (dump JSON)"},
                       "file_uri": {**_not_null(_ANCHOR_BATCH_SCHEMA["properties"]["file_uri"]),
                                    "description": "where it is published (optional)"}},
    }, "encoding": {"file": _JSON_PART}}}}},
)
async def upload_batch_file(
    request: Request, staff: StaffDep, chain: ChainDep, session: SessionDep, store: EvidenceStoreDep
) -> Any:
    """A batch file built elsewhere (`StandardMerkleTree.of(values, leafEncoding).dump()` of
    `@openzeppelin/merkle-tree`, leaf encoding `["uint256","uint64","uint64","bytes32[]",
    "string","string","string","string"]`), multipart/form-data: `file`, `file_uri` (optional).

    If its root is anchored already (its file was missing here), the file is only stored, once
    its SHA-256 is the anchored one, so readers can verify the batch: 200 `{"root",
    "municipality_id", "file_sha256", "leaf_count", "stored"}` (409 `batch-file-mismatch` for
    other bytes, 503 `index-behind` while the index has not seen the anchor). Otherwise its
    leaves are checked as the rows of `POST /staff/batches` (`loc` `["body", "file",
    "values", i, field]`), it is stored and anchored for the token's municipality: 201 as
    `POST /staff/batches`. 422 `validation-error` (`batch_file_invalid`) for a file that is
    not such a dump (its tree must match its values).
    """
    content, file_uri = await _read_batch_file(request)
    outcome = await run_in_threadpool(
        accept, request, "anchor_batch_file",
        {"file_sha256": "0x" + hashlib.sha256(content).hexdigest(), "file_uri": file_uri},
        lambda journal: batch_writes.store_batch_file(journal, session, store, staff, content, file_uri,
                                                      base_url=str(request.base_url)),
        staff=staff, chain=chain,
    )
    if isinstance(outcome, Response):
        return outcome
    _anchored, result = outcome
    return JSONResponse(BatchFileStored.model_validate(result).model_dump(), status_code=200)


async def _read_batch_file(request: Request) -> tuple[bytes, str | None]:
    """``file`` (bytes, at most ``BATCH_FILE_MAX_BYTES``) and ``file_uri`` of the upload form.

    Raises:
        RequestValidationError: a field is missing, repeated or of the wrong kind (422).
        HTTPException: 413, the file is too large.
    """
    async with request.form(max_files=1, max_fields=2, max_part_size=URI_FORM_MAX_BYTES) as form:
        errors: list[dict[str, Any]] = []
        for name in form:
            if name not in ("file", "file_uri"):
                errors.append({"type": "extra_forbidden", "loc": ("body", name), "msg": "Extra inputs are not permitted",
                               "input": None})
        uploads = form.getlist("file")
        if len(uploads) != 1 or not isinstance(uploads[0], UploadFile):
            errors.append({"type": "missing", "loc": ("body", "file"), "input": None,
                           "msg": "one batch file is required in the field file"})
        uris = form.getlist("file_uri")
        if len(uris) > 1 or (uris and not isinstance(uris[0], str)):
            errors.append({"type": "text_field", "loc": ("body", "file_uri"), "input": None,
                           "msg": "file_uri must be one text field"})
        if errors:
            raise RequestValidationError(errors)
        uri = str(uris[0]) if uris else None
        if uri:
            problem = text_problem("file_uri", uri, multiline=False, required=False)
            size = len(uri.encode("utf-8", errors="surrogatepass"))
            if problem is not None or size > URI_MAX_BYTES:
                raise _invalid(["body", "file_uri"], problem[0] if problem else "string_too_long_bytes",
                               problem[1] if problem else f"String should have at most {URI_MAX_BYTES} bytes (UTF-8), "
                               f"got {size}")
        upload = uploads[0]
        assert isinstance(upload, UploadFile)
        content = await upload.read(BATCH_FILE_MAX_BYTES + 1)
        if len(content) > BATCH_FILE_MAX_BYTES:
            raise too_large(BATCH_FILE_MAX_BYTES)
        return content, uri or None


URI_FORM_MAX_BYTES = 4 * URI_MAX_BYTES
"""Largest text part of the batch file form, bytes (``file_uri``, escaped)."""


@router.post(
    "/batches/{root}/leaves/{leaf_hash}/revocation",
    status_code=201,
    response_model=BatchedDeliveryRevoked,
    responses=problem_responses(404, 409, 415),
)
def revoke_batched_delivery(
    request: Request, root: Root, leaf_hash: LeafHash, body: ReasonIn, staff: StaffDep, chain: ChainDep, session: SessionDep,
    store: EvidenceStoreDep,
) -> BatchedDeliveryRevoked:
    """Revoke one delivery of an anchored batch (`revokeBatchedDelivery`) with a `reason`
    (1..1000 bytes): it stops counting; nothing is deleted. The leaf's values and proof are
    read from the batch file stored here.

    201 `{"root", "leaf_hash", "commitment_id", "tx"}`; 403 another municipality's batch; 404
    no such batch or leaf; 409 `delivery-already-revoked` (with `root`, `leaf_hash`) or
    `batch-file-missing` (upload it with `POST /staff/batches/file`); 503 `index-behind`.
    """
    return accept(
        request, "revoke_batched_delivery",
        {"root": _hex32(root), "leaf_hash": _hex32(leaf_hash), **body.model_dump(mode="json")},
        lambda journal: batch_writes.revoke_batched_delivery(journal, session, store, staff, _hex32(root),
                                                             _hex32(leaf_hash), body.reason),
        staff=staff, chain=chain,
    )


@router.post(
    "/batches/{root}/leaves/{leaf_hash}/confirmation",
    status_code=201,
    response_model=VerdictRecorded,
    responses=problem_responses(404, 409, 415),
)
def confirm_batched_delivery(
    request: Request, root: Root, leaf_hash: LeafHash, body: ConfirmationIn, staff: StaffDep, chain: ChainDep, session: SessionDep,
    store: EvidenceStoreDep,
) -> VerdictRecorded:
    """Confirm one delivery of an anchored batch (`confirmBatchedDelivery`), as a confirmer who
    did not anchor it; as `POST /staff/deliveries/{id}/confirmation`, the leaf and proof from
    the stored batch file.

    201 `{"root", "leaf_hash", "commitment_id", "confirmer", "verdict": "confirmed",
    "evidence_hash", "tx"}`; refusals as the delivery's, plus those of the batched revocation.
    """
    return accept(
        request, "confirm_batched_delivery",
        {"root": _hex32(root), "leaf_hash": _hex32(leaf_hash), **body.model_dump(mode="json")},
        lambda journal: confirmations.confirm_batched_delivery(
            journal, session, store, staff, _hex32(root), _hex32(leaf_hash), body.evidence_hash
        ),
        staff=staff, chain=chain,
    )


@router.post(
    "/batches/{root}/leaves/{leaf_hash}/dispute",
    status_code=201,
    response_model=VerdictRecorded,
    responses=problem_responses(404, 409, 415),
)
def dispute_batched_delivery(
    request: Request, root: Root, leaf_hash: LeafHash, body: ReasonIn, staff: StaffDep, chain: ChainDep, session: SessionDep,
    store: EvidenceStoreDep,
) -> VerdictRecorded:
    """Dispute one delivery of an anchored batch (`disputeBatchedDelivery`) with a `reason`.

    201 `{"root", "leaf_hash", "commitment_id", "confirmer", "verdict": "disputed", "reason",
    "tx"}`; refusals as for the confirmation.
    """
    return accept(
        request, "dispute_batched_delivery",
        {"root": _hex32(root), "leaf_hash": _hex32(leaf_hash), **body.model_dump(mode="json")},
        lambda journal: confirmations.dispute_batched_delivery(
            journal, session, store, staff, _hex32(root), _hex32(leaf_hash), body.reason
        ),
        staff=staff, chain=chain,
    )


router.include_router(batches)
router.include_router(delivery_batches)
router.include_router(anchor_batches)
router.include_router(batch_files)
