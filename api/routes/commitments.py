"""Commitments (list, detail) and the themes they use."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from api.deps import DeploymentDep, EvidenceStoreDep, NowDep, SessionDep, SourcesDep
from api.problems import ProblemError, problem_responses
from api.schemas import (
    CommitmentDetail,
    CommitmentPage,
    CommitmentSummary,
    Source,
    StatusName,
    ThemeCount,
    ThemeList,
)
from ledger.db import repository

router = APIRouter(tags=["commitments"])

CommitmentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="commitment id (from 1)")]
MunicipalityFilter = Annotated[int | None, Query(ge=1, le=2**32 - 1, description="only this municipality")]


@router.get("/themes", response_model=ThemeList, responses=problem_responses(422))
def list_themes(session: SessionDep, municipality_id: MunicipalityFilter = None) -> ThemeList:
    """Themes in use with their number of commitments (withdrawn ones included), by theme.
    Commitments without a theme are left out. `municipality_id` narrows to one municipality."""
    rows = repository.list_themes(session, municipality_id)
    return ThemeList(data=[ThemeCount.model_validate(r) for r in rows], count=len(rows))


@router.get("/commitments", response_model=CommitmentPage, responses=problem_responses(422))
def list_commitments(
    session: SessionDep,
    now: NowDep,
    sources: SourcesDep,
    municipality_id: MunicipalityFilter = None,
    theme: Annotated[str | None, Query(max_length=200, description="exact theme")] = None,
    status: Annotated[list[StatusName] | None, Query(description="any of these statuses; may repeat")] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="case-insensitive substring of title, description or external_ref")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> CommitmentPage:
    """One page of commitments, by id ascending.

    `count` is the number of commitments matching the filters (not the page size); `sources`
    credits the data sources of the commitments on this page.
    Quantities are decimal strings in the commitment's `unit`; `status` is evaluated at the
    request time; `due_date`/`met_at` are Unix seconds with an ISO 8601 UTC twin.
    422 for an unknown status, `limit` outside 1..100 or a negative `offset`.
    """
    rows, total = repository.list_commitments(
        session,
        now,
        municipality_id=municipality_id,
        theme=theme,
        statuses=status or (),
        q=q,
        offset=offset,
        limit=limit,
    )
    codes = repository.municipality_codes(session, {r["municipality_id"] for r in rows})
    return CommitmentPage(
        data=[CommitmentSummary.model_validate(r) for r in rows],
        count=total,
        offset=offset,
        limit=limit,
        sources=Source.list_for(sources, codes.values()),
    )


@router.get("/commitments/{commitment_id}", response_model=CommitmentDetail, responses=problem_responses(404, 422))
def get_commitment(
    commitment_id: CommitmentId,
    session: SessionDep,
    deployment: DeploymentDep,
    store: EvidenceStoreDep,
    now: NowDep,
    sources: SourcesDep,
) -> CommitmentDetail:
    """One commitment: its summary, texts, source document, `withdrawal` (or null),
    `deliveries` (by id; each evidence hash with `stored`/`url` when this server holds the
    file) and the on-chain `timeline` (block, log index order), plus the `ledger` (chain id,
    contract address) to check it against, and the `sources` to credit (the municipality's
    sources whose url matches the commitment's `source_uri`; empty for a commitment registered
    directly by staff).

    404 `not-found` if unknown; 422 if the id is not a positive integer.
    """
    detail = repository.get_commitment(session, commitment_id, now, evidence_stored=store.exists)
    if detail is None:
        raise ProblemError(404, "not-found", f"No commitment {commitment_id}.")
    detail["ledger"] = {"chain_id": deployment.chain_id, "contract_address": deployment.contract_address}
    codes = repository.municipality_codes(session, [detail["municipality_id"]])
    detail["sources"] = Source.list_for(sources, codes.values(), source_uri=detail["source_uri"])
    return CommitmentDetail.model_validate(detail)
