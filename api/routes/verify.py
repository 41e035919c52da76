"""Document check: is this SHA-256 (or this file) cited on the ledger?"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request

from api import caching
from api.deps import SessionDep, SettingsDep
from api.problems import problem_responses
from api.routing import body_limited_route
from api.schemas import VerifyForm, VerifyResult, normalise_sha256
from ledger.db import repository
from ledger.evidence import hash_stream

router = APIRouter(tags=["verify"], route_class=body_limited_route(max_files=1))

Sha256Path = Annotated[
    str,
    Path(pattern=r"^(0x)?[0-9a-fA-F]{64}$", description="SHA-256 of the document: 64 hex characters, optional 0x"),
]


@router.get("/verify/{sha256}", response_model=VerifyResult, responses=problem_responses(422, 429))
def verify_hash(request: Request, sha256: Sha256Path, session: SessionDep) -> VerifyResult:
    """Where a document with this SHA-256 is cited.

    `citations`: the deliveries whose evidence includes it (by delivery id; revoked ones are
    included with `revoked: true` and the reason; `chain` is the delivery's record on chain).
    `source_of`: the commitments whose source document it is. `found` is true when either is
    not empty. The hash is echoed as `0x` + 64 lowercase hex. 422 for a malformed hash.
    The answer depends on the index alone: the same check is answered from memory until the
    index changes (`api.caching`), with an `ETag` (`If-None-Match` gets 304).
    """
    caching.keep_answer(request, session)
    return VerifyResult.model_validate(repository.verify_hash(session, normalise_sha256(sha256)))


@router.post("/verify", response_model=VerifyResult, responses=problem_responses(400, 413, 415, 422, 429))
def verify_file(
    form: Annotated[VerifyForm, Form(media_type="multipart/form-data")], session: SessionDep, settings: SettingsDep
) -> VerifyResult:
    """Hash an uploaded document (multipart/form-data, field `file`) and look it up, as
    `GET /verify/{sha256}`. The file is hashed in chunks and not stored. 413
    `payload-too-large` above the evidence size limit (`max_evidence_bytes`, default 10 MiB);
    415 if the body is not multipart/form-data; 400 `bad-request` if it is not readable as one.
    429 `rate-limited` past the document-check limit per client (`Retry-After`).
    """
    form.file.file.seek(0)
    sha256, _size = hash_stream(form.file.file, settings.max_evidence_bytes)
    return VerifyResult.model_validate(repository.verify_hash(session, sha256))
