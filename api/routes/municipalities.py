"""Municipalities (issuers) and their commitment counts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from api import caching
from api.deps import NowDep, SessionDep, SourcesDep
from api.problems import ProblemError, problem_responses
from api.schemas import Municipality, MunicipalityList, Source
from ledger.db import repository

router = APIRouter(tags=["municipalities"])

MunicipalityId = Annotated[int, Path(ge=1, le=2**32 - 1, description="municipality id (uint32, from 1)")]


@router.get("/municipalities", response_model=MunicipalityList)
def list_municipalities(request: Request, session: SessionDep, now: NowDep, sources: SourcesDep) -> MunicipalityList:
    """Every municipality on the ledger, by id.

    Each has its current `registrars` and `confirmers` (addresses; `registrar_history` and
    `confirmer_history` give every term), `commitment_count`, `status_counts` (all six
    statuses, evaluated now), `registered` (the chain reference of its onboarding) and the
    `sources` its data comes from, to be credited wherever it is shown.
    """
    caching.keep_answer(request, session)
    rows = repository.list_municipalities(session, now)
    caching.keep_until(request, repository.municipalities_stable_until(session, now))
    return MunicipalityList(data=[_with_sources(r, sources) for r in rows], count=len(rows))


@router.get("/municipalities/{municipality_id}", response_model=Municipality, responses=problem_responses(404, 422))
def get_municipality(
    request: Request, municipality_id: MunicipalityId, session: SessionDep, now: NowDep, sources: SourcesDep
) -> Municipality:
    """One municipality, as in the list. 404 `not-found` if unknown; 422 if the id is not a
    positive integer."""
    caching.keep_answer(request, session)
    row = repository.get_municipality(session, municipality_id, now)
    caching.keep_until(request, repository.municipalities_stable_until(session, now, municipality_id))
    if row is None:
        raise ProblemError(404, "not-found", f"No municipality {municipality_id}.")
    return _with_sources(row, sources)


def _with_sources(row: dict, sources: SourcesDep) -> Municipality:
    return Municipality.model_validate({**row, "sources": Source.list_for(sources, [row["code"]])})
