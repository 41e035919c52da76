"""The write outbox over HTTP: how every staff write is answered, and its polling routes.

Every staff POST write (``api.routes.staff``, ``api.routes.relay``) runs its checks as before
(a refusal answers at once and journals nothing), then is journaled (``ledger.outbox``) and
answered **202 Accepted** ``{"write": Write}`` with ``Location: /api/v1/staff/writes/{id}``.

- ``Prefer: wait=N`` (RFC 7240; N seconds, at most ``settings.write_wait_max_seconds``): the
  request waits up to N s. Confirmed by then → **201** with the route's body plus ``"write"``;
  failed by then → the write's problem (its status) with ``write_id``; else 202. Either way
  ``Preference-Applied: wait=N``. Confirmed is final on chain; the index may show it a moment
  later (reads carry ``X-Ledger-Indexed-Block``). ``Prefer: wait=N, indexed`` also waits for
  the write's block to be indexed: 201 then means every read shows it
  (``Preference-Applied: wait=N, indexed``); confirmed but not yet indexed by then → 202.
- ``Idempotency-Key`` (draft-ietf-httpapi-idempotency-key-header: 1..255 printable ASCII,
  else 400 ``invalid-idempotency-key``). Without it the key is derived
  (:func:`ledger.outbox.fingerprint` of kind, token account, municipality, canonical JSON body
  and evidence file hashes), so an exact repeat is the same write. Keys are per account; the
  same key with another request is 422 ``idempotency-key-reused``.
- ``GET /staff/writes/{id}`` (a token of the write's municipality, or of its account; 404
  otherwise) and ``GET /staff/writes?state=&limit=&offset=`` (``{"data": [Write], "count"}``).

Ids (commitment id, delivery id) are never shown before the write is ``confirmed``: they are
in ``result`` only then.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime, timezone
from typing import Annotated, Any, Callable, Literal, Sequence

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from api.deps import SessionDep, StaffDep
from api.problems import PROBLEM_MEDIA_TYPE, TITLES, ProblemError, _status_phrase, problem_for, problem_responses
from api import schemas
from api.services import batches as _batches  # noqa: F401 - registers result builders
from api.services import confirmations as _confirmations  # noqa: F401
from api.services import relay as _relay  # noqa: F401
from api.services import roles as _roles  # noqa: F401 - the workspace's role changes
from api.services.ledger_writes import build_result
from ledger.chain import TxResult
from ledger.db import outbox as store
from ledger.outbox import Journal, Reconciler, WriteJournaled, WriteRequest, fingerprint
from ledger.staff import StaffIdentity

logger = logging.getLogger("api")

API_PREFIX = "/api/v1"

TITLES.setdefault("idempotency-key-reused", "The idempotency key was used for another request")
TITLES.setdefault("invalid-idempotency-key", "The Idempotency-Key header is not valid")

_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
_INDEXED = re.compile(r"(?:^|[,;\s])indexed\s*(?:$|[,;\s])", re.IGNORECASE)
_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?", re.IGNORECASE)


# ------------------------------------------------------------------ wire models


class Write(BaseModel):
    """A staff write of the outbox. ``result`` (only ``confirmed``) is the route's 201 body;
    ``problem`` (only ``failed``) the RFC 9457 reason. Times are Unix seconds with ISO twins."""

    id: str
    kind: str
    state: Literal["queued", "sent", "mined", "confirmed", "failed"]
    idempotency_key: str
    account: str
    municipality_id: int
    tx_hash: str | None
    nonce: int | None
    block_number: int | None
    confirmations: int
    confirmations_required: int
    attempts: int
    created_at: int
    created_at_iso: str
    updated_at: int
    updated_at_iso: str
    result: dict[str, Any] | None
    problem: dict[str, Any] | None


class WriteAccepted(BaseModel):
    """202 Accepted: the write is journaled; poll ``Location``."""

    write: Write


class WriteList(BaseModel):
    """A page of writes, newest first, and how many match in all."""

    data: list[Write]
    count: int


RESULT_MODELS: dict[str, type[BaseModel]] = {
    "register_commitment": schemas.CommitmentRegistered,
    "amend_commitment": schemas.CommitmentAmended,
    "withdraw_commitment": schemas.CommitmentWithdrawn,
    "record_delivery": schemas.DeliveryRecorded,
    "revoke_delivery": schemas.DeliveryRevoked,
    "confirm_delivery": schemas.VerdictRecorded,
    "dispute_delivery": schemas.VerdictRecorded,
    "register_commitments": schemas.CommitmentBatchRegistered,
    "record_deliveries": schemas.DeliveryBatchRecorded,
    "anchor_batch": schemas.BatchAnchored,
    "anchor_batch_file": schemas.BatchAnchored,
    "revoke_batched_delivery": schemas.BatchedDeliveryRevoked,
    "confirm_batched_delivery": schemas.VerdictRecorded,
    "dispute_batched_delivery": schemas.VerdictRecorded,
    "relay": schemas.RelayedWrite,
    "change_role": schemas.RoleChanged,
}
"""The 201 model of each write kind: a confirmed write's ``result`` is its route's body."""


def result_body(row: dict[str, Any]) -> dict[str, Any] | None:
    """The route's 201 body of a confirmed write (through its response model), else ``None``."""
    result = row.get("result_json")
    if row["state"] != "confirmed" or result is None:
        return None
    model = RESULT_MODELS.get(row["kind"])
    return jsonable_encoder(model.model_validate(result)) if model is not None else result


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_json(row: dict[str, Any]) -> dict[str, Any]:
    """The wire ``Write`` of an outbox row."""
    state = row["state"]
    return {
        "id": row["id"],
        "kind": row["kind"],
        "state": state,
        "idempotency_key": row["idempotency_key"],
        "account": row["account"],
        "municipality_id": int(row["municipality_id"]),
        "tx_hash": row.get("tx_hash"),
        "nonce": row.get("nonce"),
        "block_number": row.get("block_number") if state in ("mined", "confirmed", "failed") else None,
        "confirmations": int(row.get("confirmations") or 0),
        "confirmations_required": int(row["confirmations_required"]),
        "attempts": int(row["attempts"]),
        "created_at": int(row["created_at"]),
        "created_at_iso": _iso(int(row["created_at"])),
        "updated_at": int(row["updated_at"]),
        "updated_at_iso": _iso(int(row["updated_at"])),
        "result": result_body(row),
        "problem": row.get("problem_json") if state == "failed" else None,
    }


def location(write_id: str) -> str:
    """Where a write is polled."""
    return f"{API_PREFIX}/staff/writes/{write_id}"


# ------------------------------------------------------------------ problems of failed writes


def problem_body(exc: Exception) -> dict[str, Any]:
    """The RFC 9457 object of a write's failure (as the route would have answered it)."""
    problem = problem_for(exc) or ProblemError(502, "transaction-failed", str(exc))
    body: dict[str, Any] = {"type": f"/problems/{problem.slug}",
                            "title": TITLES.get(problem.slug) or _status_phrase(problem.status),
                            "status": problem.status, "detail": problem.detail}
    body.update(problem.extensions)
    return jsonable_encoder(body)


def _problem_of(exc: Exception, row: dict[str, Any]) -> dict[str, Any]:
    body = problem_body(exc)
    body.setdefault("tx_hash", row.get("tx_hash"))
    return body


def _build_result(row: dict[str, Any], tx: TxResult) -> dict[str, Any]:
    return jsonable_encoder(build_result(row["result_kind"], tx, row.get("context_json") or {}))


# ------------------------------------------------------------------ lifespan


def start_outbox(app: FastAPI) -> Reconciler:
    """Build and start this process's reconciler (``app.state.reconciler``). It signs again
    (a nonce taken by another transaction) with the keys of the identities this process has
    served (``app.state.outbox_keys``), else those the staff registry holds or can unlock
    (``StaffRegistry.key_for``: tokens' accounts, workspace signers, any keystore here), so a
    write journaled before a restart can still be signed again after it."""
    settings = app.state.settings
    app.state.outbox_keys = {}

    def key_for(account: str) -> str | None:
        key = app.state.outbox_keys.get(account)
        if key is None:
            registry = getattr(app.state, "staff_registry", None)
            key = registry.key_for(account) if registry is not None else None
        return key

    reconciler = Reconciler(
        app.state.chain, app.state.session_factory, key_for, _build_result, _problem_of,
        poll_seconds=settings.outbox_poll_seconds, rebroadcast_seconds=settings.outbox_rebroadcast_seconds,
    )
    app.state.reconciler = reconciler
    reconciler.start()
    return reconciler


def stop_outbox(app: FastAPI) -> None:
    """Stop the reconciler (the lifespan's shutdown); journaled writes wait in the database."""
    reconciler = getattr(app.state, "reconciler", None)
    if reconciler is not None:
        reconciler.stop()


# ------------------------------------------------------------------ answering a write


def idempotency_key(request: Request) -> str | None:
    """The ``Idempotency-Key`` header, or ``None``.

    Raises:
        ProblemError: 400 ``invalid-idempotency-key``: not 1..255 printable ASCII characters.
    """
    value = request.headers.get("idempotency-key")
    if value is None:
        return None
    value = value.strip().strip('"')
    if not _KEY.match(value):
        raise ProblemError(400, "invalid-idempotency-key",
                           "Idempotency-Key must be 1 to 255 printable ASCII characters.")
    return value


def prefer_wait(request: Request, max_seconds: float) -> float | None:
    """N of ``Prefer: wait=N`` (RFC 7240), capped at ``max_seconds``; ``None`` when absent."""
    found = None
    for header in request.headers.getlist("prefer"):
        match = _WAIT.search(header)
        if match:
            found = float(match.group(1))
    return None if found is None else min(found, max_seconds)


def prefer_indexed(request: Request) -> bool:
    """Whether ``Prefer`` holds the ``indexed`` preference (RFC 7240 extension token): with
    ``wait=N``, a 201 then also means the write's block is in the index (every read shows it)."""
    return any(_INDEXED.search(header) for header in request.headers.getlist("prefer"))


def file_hashes(files: Sequence[Any]) -> list[str]:
    """``0x`` SHA-256 of uploaded files (each read from the start and rewound): the evidence
    part of a derived idempotency key."""
    hashes = []
    for upload in files:
        upload.file.seek(0)
        digest = hashlib.sha256()
        for chunk in iter(lambda: upload.file.read(1 << 20), b""):
            digest.update(chunk)
        upload.file.seek(0)
        hashes.append("0x" + digest.hexdigest())
    return hashes


def accept(
    request: Request,
    kind: str,
    body: Any,
    run: Callable[[Journal], Any],
    *,
    staff: StaffIdentity | None = None,
    account: str | None = None,
    evidence: Sequence[str] = (),
    key: str | None = None,
    chain: Any = None,
) -> Any:
    """Run a staff write through the outbox and answer it (module docstring).

    Args:
        kind: the route's write kind.
        body: the request as JSON-able data (path parameters and body) for the derived key.
        run: calls the service with the :class:`Journal` as its chain.
        staff: the token's identity (``None`` for a relayed write: then ``account`` is the
            relayer's and ``key`` the signed payload's digest).
        evidence: hashes of the uploaded files.
        chain: the route's chain client (``api.deps.get_chain``, overridable in tests);
            ``app.state.chain`` when ``None``.

    Returns:
        The response, or what ``run`` returned when it made no write (e.g. a batch file only
        stored).

    Raises:
        whatever ``run`` raises before journaling (the route's refusals);
        ProblemError: 400 bad key; IdempotencyKeyReusedError: 422.
    """
    wait = prefer_wait(request, request.app.state.settings.write_wait_max_seconds)
    row, outcome = submit(request, kind, body, run, staff=staff, account=account, evidence=evidence,
                          key=idempotency_key(request) or key, chain=chain)
    return outcome if row is None else answer(request, row, wait)


def submit(
    request: Request,
    kind: str,
    body: Any,
    run: Callable[[Journal], Any],
    *,
    staff: StaffIdentity | None = None,
    account: str | None = None,
    evidence: Sequence[str] = (),
    key: str | None = None,
    chain: Any = None,
) -> tuple[dict[str, Any] | None, Any]:
    """Journal a staff write (the part of :func:`accept` that is not HTTP; the staff
    workspace's forms call it too, with their form's own ``key``).

    Returns:
        ``(row, None)``: the write's outbox row (a new one, or the existing one of the same
        idempotency key: a repeat records nothing twice); ``(None, outcome)`` when ``run``
        made no write.

    Raises:
        whatever ``run`` raises before journaling, unless a write of the same key was
        journaled meanwhile (a concurrent identical request: its row is returned);
        IdempotencyKeyReusedError: the key was used for another request.
    """
    state = request.app.state
    settings = state.settings
    who = staff.account if staff is not None else (account or "")
    municipality = staff.municipality_id if staff is not None else 0
    fp = fingerprint(kind, who, municipality, jsonable_encoder(body), evidence)
    write_request = WriteRequest(
        kind=kind, account=who, municipality_id=municipality,
        roles=tuple(sorted(staff.roles)) if staff is not None else (),
        token_id=str(getattr(staff, "token_id", "") or "") if staff is not None else "",
        idempotency_key=key or fp, fingerprint=fp,
    )
    reconciler: Reconciler = state.reconciler
    journal = Journal(chain if chain is not None else state.chain, state.session_factory, write_request,
                      confirmations_required=settings.confirmations + 1, on_journaled=reconciler.kick)
    row = journal.existing()
    if row is None:
        if staff is not None:
            state.outbox_keys[staff.account] = staff.private_key
        try:
            outcome = run(journal)
        except WriteJournaled as journaled:
            row = journaled.write
        except Exception:
            # An identical request may have journaled while this one ran its checks, and been
            # confirmed so soon that the checks now refuse it (e.g. its external reference is
            # taken — by that very write). The repeat is that write, not a refusal.
            row = journal.existing()
            if row is None:
                raise
        else:
            return None, outcome
    return row, None


def answer(request: Request, row: dict[str, Any], wait: float | None) -> Response:
    """202, 201 or the write's problem (module docstring)."""
    headers = {"Location": location(row["id"])}
    if wait is not None:
        indexed = prefer_indexed(request)
        reconciler = request.app.state.reconciler
        row = reconciler.wait_for(row["id"], wait, indexed=indexed) or row
        in_index = indexed and row["state"] == "confirmed" and reconciler.in_index(row)
        applied = f"wait={int(wait) if float(wait).is_integer() else wait}"
        headers["Preference-Applied"] = applied + (", indexed" if in_index else "")
        if indexed and row["state"] == "confirmed" and not in_index:
            return JSONResponse({"write": write_json(row)}, status_code=202, headers=headers)
    write = write_json(row)
    if row["state"] == "confirmed" and wait is not None:
        return JSONResponse({**(write["result"] or {}), "write": write}, status_code=201, headers=headers)
    if row["state"] == "failed" and wait is not None:
        problem = dict(row.get("problem_json") or {})
        problem["write_id"] = row["id"]
        return JSONResponse(problem, status_code=int(problem.get("status") or 502), headers=headers,
                            media_type=PROBLEM_MEDIA_TYPE)
    return JSONResponse({"write": write}, status_code=202, headers=headers)


ACCEPTED_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": WriteAccepted, "description": "Journaled: poll `Location` (`GET /staff/writes/{id}`) until "
          "`confirmed` (its `result` is the 201 body) or `failed`. With `Prefer: wait=N` the 201 body (plus "
          "`write`) when it is confirmed within N seconds."},
    **problem_responses(400),
}
"""OpenAPI responses every outbox write adds."""


# ------------------------------------------------------------------ polling routes

router = APIRouter(prefix="/staff", tags=["staff"], responses=problem_responses(401, 403, 404, 422, 429))

WriteId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="the write's id (32 hex)")]


def _visible(row: dict[str, Any] | None, staff: StaffIdentity) -> bool:
    return row is not None and (row["municipality_id"] == staff.municipality_id and row["municipality_id"] != 0
                                or row["account"] == staff.account)


@router.get("/writes/{write_id}", response_model=Write)
def get_write(write_id: WriteId, staff: StaffDep, session: SessionDep) -> Any:
    """One write: its state (`queued`, `sent`, `mined`, `confirmed`, `failed`), its current
    transaction, confirmations, and `result` (the 201 body) once confirmed or `problem` once
    failed. 404 for a write of another municipality."""
    row = store.get_write(session, write_id)
    if not _visible(row, staff):
        raise ProblemError(404, "not-found", f"No write {write_id}.")
    return write_json(row)  # type: ignore[arg-type]


@router.get("/writes", response_model=WriteList)
def list_writes(
    staff: StaffDep,
    session: SessionDep,
    state: Annotated[Literal["queued", "sent", "mined", "confirmed", "failed"] | None,
                     Query(description="only writes in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Any:
    """The writes of the token's municipality, newest first: `{"data": [Write], "count"}`."""
    rows, count = store.list_writes(session, staff.municipality_id, state=state, limit=limit, offset=offset)
    return {"data": [write_json(r) for r in rows], "count": count}


__all__ = ["router", "accept", "submit", "answer", "write_json", "start_outbox", "stop_outbox", "Write", "WriteAccepted",
           "WriteList", "ACCEPTED_RESPONSES", "file_hashes", "problem_body"]
