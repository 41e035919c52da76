"""Municipalities (issuers) and their commitment counts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api.deps import NowDep, SessionDep
from api.problems import ProblemError, problem_responses
from api.schemas import Municipality, MunicipalityList
from ledger.db import repository

router = APIRouter(tags=["municipalities"])

MunicipalityId = Annotated[int, Path(ge=1, le=2**32 - 1, description="municipality id (uint32, from 1)")]


@router.get("/municipalities", response_model=MunicipalityList)
def list_municipalities(session: SessionDep, now: NowDep) -> MunicipalityList:
    """Every municipality on the ledger, by id.

    Each has its current `registrars` (addresses), `commitment_count`, `status_counts` (all six
    statuses, evaluated now) and `registered` (the chain reference of its onboarding).
    """
    rows = repository.list_municipalities(session, now)
    return MunicipalityList(data=[Municipality.model_validate(r) for r in rows], count=len(rows))


@router.get("/municipalities/{municipality_id}", response_model=Municipality, responses=problem_responses(404, 422))
def get_municipality(municipality_id: MunicipalityId, session: SessionDep, now: NowDep) -> Municipality:
    """One municipality, as in the list. 404 `not-found` if unknown; 422 if the id is not a
    positive integer."""
    row = repository.get_municipality(session, municipality_id, now)
    if row is None:
        raise ProblemError(404, "not-found", f"No municipality {municipality_id}.")
    return Municipality.model_validate(row)
