"""Stored evidence files, by SHA-256."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import FileResponse

from api.deps import EvidenceStoreDep, SessionDep
from api.problems import ProblemError, problem_responses
from api.schemas import normalise_sha256
from ledger.db import outbox

router = APIRouter(tags=["evidence"])

INLINE_MEDIA_TYPES = frozenset(
    {"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "text/plain", "text/csv", "application/json"}
)
"""Media types shown in the browser; any other is served as a download (an uploaded HTML or
SVG file must never run as a page of this site)."""


@router.get(
    "/evidence/{sha256}",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The file's bytes"},
        **problem_responses(404, 422),
    },
)
def get_evidence(
    sha256: Annotated[str, Path(pattern=r"^(0x)?[0-9a-fA-F]{64}$", description="SHA-256 of the file")],
    store: EvidenceStoreDep,
    session: SessionDep,
) -> FileResponse:
    """The evidence file with this SHA-256, with the media type recorded when it was
    uploaded. Files are immutable (content-addressed), so they are cacheable forever.
    Types other than PDF, common images, plain text, CSV and JSON are sent as attachments.

    A file cited only by a staff write that is accepted but not indexed yet (the write
    outbox: `GET /staff/writes/{id}`) is served with `X-Ledger-Citation: pending`; a file
    cited only by writes that failed for good is not served (404: its write never got on
    chain).

    404 `not-found` if this server does not store it (the hash may still be cited on chain:
    see `GET /verify/{sha256}`); 422 for a malformed hash.
    """
    digest = normalise_sha256(sha256)
    if not store.exists(digest):
        raise ProblemError(404, "not-found", f"No evidence file {digest} is stored here; it may be published elsewhere.")
    citation = outbox.evidence_citation(session, digest)
    if citation == "failed":
        raise ProblemError(404, "not-found", f"Evidence file {digest} is not served: the write that cited it never "
                           "got on chain (it failed), so nothing on record cites it.")
    media_type = store.media_type(digest)
    disposition = "inline" if media_type in INLINE_MEDIA_TYPES else "attachment"
    headers = {
        "Content-Disposition": f'{disposition}; filename="{digest[2:]}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "public, max-age=31536000, immutable",
        "ETag": f'"{digest[2:]}"',
    }
    if citation == "pending":  # not on record yet: not cacheable forever
        headers["X-Ledger-Citation"] = "pending"
        headers["Cache-Control"] = "no-store"
    if media_type != "application/pdf":  # browsers' PDF viewers do not run in a sandboxed document
        headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return FileResponse(store.path(digest), media_type=media_type, headers=headers)
