"""Staff (registrar) writes. ``Authorization: Bearer <token>``; the server signs with the
token's registrar key, waits for the receipt and returns what the chain recorded.

Every write may also answer: 401 `unauthorized` (missing or unknown token), 403 `forbidden`
(record of another municipality, or the account is no registrar there), 422
`validation-error` (checked before anything is stored or sent) or `contract-rejected`,
502 `transaction-failed`, 503 `chain-unavailable`. Nothing is written when an error is
returned (a refused delivery also leaves the evidence store as it was: see the delivery
route).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path

from api.deps import ChainDep, EvidenceStoreDep, NowDep, SessionDep, SettingsDep, StaffDep
from api.problems import problem_responses
from api.routing import body_limited_route
from api.schemas import (
    MAX_EVIDENCE,
    AmendmentIn,
    CommitmentAmended,
    CommitmentIn,
    CommitmentRegistered,
    CommitmentWithdrawn,
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
    `target_quantity` 1..10^15 (integer or decimal string); `due_date` Unix seconds or RFC
    3339 with offset; `source_document_sha256` 64 hex characters (optional `0x`) or null.

    201 `{"commitment_id", "tx"}`; 409 `duplicate-external-ref` with `existing_commitment_id`.
    """
    return CommitmentRegistered.model_validate(ledger_writes.register_commitment(chain, staff, body))


@router.post(
    "/commitments/{commitment_id}/amendments",
    status_code=201,
    response_model=CommitmentAmended,
    responses=problem_responses(404, 409, 415),
)
def amend_commitment(
    commitment_id: CommitmentId,
    body: AmendmentIn,
    staff: StaffDep,
    chain: ChainDep,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> CommitmentAmended:
    """Amend a commitment (`amendCommitment`) with a `reason` (1..1000 bytes).

    `title`, `description`, `target_quantity`, `due_date` are optional: an omitted one keeps
    its current (indexed) value. When one is omitted the request waits up to 5 s for the index
    to reach the chain head; if it does not, 503 `index-behind` (retry, or send every field).

    201 `{"commitment_id", "amendment_number", "tx"}`; 404 unknown commitment; 409
    `commitment-withdrawn` or `amendment-changes-nothing`.
    """
    result = ledger_writes.amend_commitment(
        chain, session, staff, commitment_id, body, now, confirmations=settings.confirmations
    )
    return CommitmentAmended.model_validate(result)


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

    Fields: `quantity` 1..10^15 (in the commitment's unit); `delivered_at` Unix seconds or
    RFC 3339 with offset, not in the future; `note` ..1000 bytes; `evidence_uri` ..512;
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
def revoke_delivery(delivery_id: DeliveryId, body: ReasonIn, staff: StaffDep, chain: ChainDep) -> DeliveryRevoked:
    """Revoke a delivery (`revokeDelivery`) with a `reason` (1..1000 bytes): it stops counting
    towards progress; nothing is deleted. Allowed after withdrawal.

    201 `{"delivery_id", "commitment_id", "tx"}`; 404 unknown delivery; 403 if it belongs to
    another municipality (the contract's check); 409 `delivery-already-revoked`.
    """
    return DeliveryRevoked.model_validate(ledger_writes.revoke_delivery(chain, staff, delivery_id, body.reason))
