"""Anchored batches of deliveries (docs/LEDGER.md "Batches"): list, detail with every leaf,
the batch file itself, and one leaf's Merkle proof. Reads only (staff anchor batches through
``/staff/batches``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import FileResponse

from api.deps import DeploymentDep, EvidenceStoreDep, SessionDep
from api.problems import ProblemError, problem_responses
from api.schemas import BatchDetail, BatchLeafProof, BatchPage, BatchSummary, normalise_sha256
from ledger.db import repository

router = APIRouter(tags=["batches"])

HEX32 = r"^(0x)?[0-9a-fA-F]{64}$"
Root = Annotated[str, Path(pattern=HEX32, description="the batch's Merkle root: 64 hex characters, optional 0x")]
LeafHash = Annotated[str, Path(pattern=HEX32, description="the leaf hash: 64 hex characters, optional 0x")]


@router.get("/batches", response_model=BatchPage, responses=problem_responses(422))
def list_batches(
    session: SessionDep,
    store: EvidenceStoreDep,
    municipality_id: Annotated[int | None, Query(ge=1, le=2**32 - 1, description="only this municipality")] = None,
    verified: Annotated[bool | None, Query(description="true/false: only verified / unverified batches")] = None,
    offset: Annotated[int, Query(ge=0, le=2**62, description="rows to skip")] = 0,
    limit: Annotated[int, Query(ge=1, le=100, description="rows per page, 1..100")] = 20,
) -> BatchPage:
    """One page of anchored batches, oldest first.

    A batch counts only once this server holds its file (by `file_sha256`) and it checked it:
    SHA-256, parse, rebuilt root, leaf count. Until then `verified` is false and
    `unverified_reason` says why (`missing`, `sha256_mismatch`, `unparseable`, `root_mismatch`,
    `leaf_count_mismatch`). `counted_leaves` count now, `refused_leaves` never counted (see
    each leaf's `refused_reason`), `revoked_leaves` counted until revoked. 422 for a
    `municipality_id` or flag that does not parse, `limit` outside 1..100 or a negative `offset`.
    """
    rows, total = repository.list_batches(
        session, municipality_id=municipality_id, verified=verified, offset=offset, limit=limit,
        evidence_stored=store.exists,
    )
    return BatchPage(data=[BatchSummary.model_validate(r) for r in rows], count=total, offset=offset, limit=limit)


MAX_LEAVES_PER_PAGE = 1000
"""Most leaves in one batch detail (page on with ``leaf_offset``)."""


@router.get("/batches/{root}", response_model=BatchDetail, responses=problem_responses(404, 422))
def get_batch(
    root: Root,
    session: SessionDep,
    store: EvidenceStoreDep,
    deployment: DeploymentDep,
    leaf_offset: Annotated[int, Query(ge=0, le=2**32, description="leaves to skip")] = 0,
    leaf_limit: Annotated[
        int, Query(ge=1, le=MAX_LEAVES_PER_PAGE, description=f"leaves per page, 1..{MAX_LEAVES_PER_PAGE}")
    ] = MAX_LEAVES_PER_PAGE,
) -> BatchDetail:
    """One batch with the leaves of its file in file order (`leaf_offset` on, at most
    `leaf_limit`, 1,000 by default: a verified batch has `leaf_count` leaves), each a batched
    delivery: its values, `counted` and `refused_reason` (`unknown_commitment`,
    `other_municipality`, `commitment_withdrawn`, `invalid_leaf`, `duplicate_external_ref`,
    `asset_already_counted`), `revocation`, `review` and verdicts. `leaves` is empty while the
    batch is not verified.

    404 `not-found` if no batch has this root; 422 for a malformed root or paging parameter.
    """
    detail = repository.get_batch(
        session, normalise_sha256(root), evidence_stored=store.exists, leaf_offset=leaf_offset, leaf_limit=leaf_limit
    )
    if detail is None:
        raise ProblemError(404, "not-found", f"No batch with root {normalise_sha256(root)} was anchored.")
    detail["ledger"] = {"chain_id": deployment.chain_id, "contract_address": deployment.contract_address}
    return BatchDetail.model_validate(detail)


@router.get(
    "/batches/{root}/file",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/json": {}}, "description": "The batch file's exact bytes"},
        **problem_responses(404, 422),
    },
)
def get_batch_file(root: Root, session: SessionDep, store: EvidenceStoreDep) -> FileResponse:
    """The batch file (the StandardMerkleTree dump, JSON) exactly as stored: its SHA-256 is
    the anchored `file_sha256`, so anyone can check it and rebuild the tree. Immutable, so
    cacheable forever.

    404 `not-found` if no batch has this root or this server does not hold its file (it may
    be published at the batch's `file_uri`); 422 for a malformed root.
    """
    batch = repository.get_batch(session, normalise_sha256(root), leaves=False)
    if batch is None:
        raise ProblemError(404, "not-found", f"No batch with root {normalise_sha256(root)} was anchored.")
    digest = batch["file_sha256"]
    if not store.exists(digest):
        raise ProblemError(
            404, "not-found", f"The file of batch {batch['root']} ({digest}) is not stored here; see its file_uri."
        )
    headers = {
        "Content-Disposition": f'inline; filename="batch-{batch["root"][2:]}.json"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "public, max-age=31536000, immutable",
        "ETag": f'"{digest[2:]}"',
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }
    return FileResponse(store.path(digest), media_type="application/json", headers=headers)


@router.get(
    "/batches/{root}/leaves/{leaf_hash}/proof", response_model=BatchLeafProof, responses=problem_responses(404, 422)
)
def get_leaf_proof(
    root: Root, leaf_hash: LeafHash, session: SessionDep, deployment: DeploymentDep
) -> BatchLeafProof:
    """Everything needed to check one batched delivery on chain without trusting this server:
    call `verifyBatchedDelivery(root, leaf, proof)` on `ledger.contract_address`; it answers
    `(included, leaf_hash, revoked)`. `leaf` is the `BatchLeaf` struct (numbers as decimal
    strings), `values` the same as the batch file lists it (`leaf_encoding`), `proof` the
    sibling hashes (OpenZeppelin `MerkleProof`, sorted pairs).

    404 `not-found` if no verified batch with this root has this leaf; 422 for a malformed
    root or leaf hash.
    """
    proof = repository.get_batch_leaf_proof(session, normalise_sha256(root), normalise_sha256(leaf_hash))
    if proof is None:
        raise ProblemError(
            404,
            "not-found",
            f"No leaf {normalise_sha256(leaf_hash)} in a verified batch with root {normalise_sha256(root)}.",
        )
    proof["ledger"] = {"chain_id": deployment.chain_id, "contract_address": deployment.contract_address}
    return BatchLeafProof.model_validate(proof)
