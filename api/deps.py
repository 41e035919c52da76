"""Dependencies: hand out what the lifespan built (``app.state``), typed, overridable in tests
(``app.dependency_overrides[get_chain] = ...``, plain functions too).

The ones that only read ``app.state`` or the clock are ``async``: FastAPI runs a plain
``def`` dependency in the thread pool, a round trip per dependency and request (a commitment's
detail had six). The session stays a plain generator: closing it may wait on the database."""

from __future__ import annotations

import time
from typing import Annotated, Iterator

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from ledger.chain import LedgerChain
from ledger.deployment import Deployment
from ledger.evidence import EvidenceStore
from ledger.settings import Settings
from ledger.sources import SourceCredit
from ledger.staff import StaffIdentity, StaffRegistry, UnknownStaffTokenError


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return request.app.state.settings


async def get_session_factory(request: Request) -> sessionmaker[Session]:
    """The session factory of the index (built once in the lifespan)."""
    return request.app.state.session_factory


def get_session(factory: Annotated[sessionmaker[Session], Depends(get_session_factory)]) -> Iterator[Session]:
    """A read session of the index for one request, closed afterwards (nothing is committed:
    the API never writes to the index)."""
    with factory() as session:
        yield session


async def get_chain(request: Request) -> LedgerChain:
    """The chain client (built once in the lifespan; used by staff writes only)."""
    return request.app.state.chain


async def get_deployment(request: Request) -> Deployment:
    """The deployment record of the ledger contract."""
    return request.app.state.deployment


async def get_evidence_store(request: Request) -> EvidenceStore:
    """The content-addressed evidence store."""
    return request.app.state.evidence_store


async def get_staff_registry(request: Request) -> StaffRegistry:
    """The staff tokens."""
    return request.app.state.staff_registry


async def get_sources(request: Request) -> dict[str, list[SourceCredit]]:
    """Municipality code → the credits of its data sources (``ledger.sources``)."""
    return request.app.state.sources


async def get_now() -> int:
    """The request time, Unix seconds (UTC): when statuses are evaluated."""
    return int(time.time())


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
ChainDep = Annotated[LedgerChain, Depends(get_chain)]
DeploymentDep = Annotated[Deployment, Depends(get_deployment)]
EvidenceStoreDep = Annotated[EvidenceStore, Depends(get_evidence_store)]
StaffRegistryDep = Annotated[StaffRegistry, Depends(get_staff_registry)]
NowDep = Annotated[int, Depends(get_now)]
SourcesDep = Annotated[dict[str, list[SourceCredit]], Depends(get_sources)]

_bearer = HTTPBearer(auto_error=False, description="A staff token issued with `python -m scripts.admin tokens issue`.")


def get_staff(
    registry: StaffRegistryDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> StaffIdentity:
    """The registrar identity of the ``Authorization: Bearer <token>`` header.

    Raises:
        UnknownStaffTokenError: no bearer token, or an unknown, expired
            (``ExpiredStaffTokenError``) or revoked (``RevokedStaffTokenError``) one (401).
    """
    if credentials is None:
        raise UnknownStaffTokenError("No bearer token was sent.")
    return registry.authenticate(credentials.credentials)


StaffDep = Annotated[StaffIdentity, Depends(get_staff)]
