"""The FastAPI application: JSON API under ``/api/v1`` (docs/API.md), OpenAPI at
``/openapi.json``, docs at ``/docs``, and the citizens' website (``frontend.site``).

Run: ``uvicorn api.main:app`` (settings from ``LEDGER_*`` variables). Importing this module
connects to nothing: the database engine, the chain client, the evidence store and the staff
tokens are built once in the lifespan and handed out by ``api.deps``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

from api.problems import Problem, install_problem_handlers, problem_responses
from api.routes import commitments, evidence, health, municipalities, staff, verify
from ledger.chain import LedgerChain
from ledger.db.engine import create_schema, make_engine, session_factory
from ledger.deployment import load_deployment
from ledger.evidence import EvidenceStore
from ledger.settings import Settings, load_settings
from ledger.sources import credits_by_code
from ledger.staff import StaffRegistry

logger = logging.getLogger("api")

API_PREFIX = "/api/v1"
API_VERSION = "1.0.0"
TITLE = "Commitment ledger API"
DESCRIPTION = """\
A public ledger of municipal commitments and the deliveries that fulfil them, recorded on
chain and served from an index of the contract's events.

- Quantities are **decimal strings**; times are integer **Unix seconds** with an ISO 8601
  UTC twin (`*_iso`); hashes are `0x` + 64 lowercase hex; addresses are EIP-55.
- Status (`pending`, `in_progress`, `delivered`, `delivered_late`, `overdue`, `withdrawn`)
  is evaluated at the request time.
- Errors are RFC 9457 `application/problem+json` with `type` `/problems/<slug>`.
- Staff writes need `Authorization: Bearer <token>`; each waits for the transaction receipt.
"""
SITE_MODULE = "frontend.site"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the expensive clients once, store them on ``app.state``, dispose at shutdown.

    Nothing here calls the chain: reads come from the index, and a chain that is down only
    turns staff writes into 503 problems.

    Raises:
        DeploymentNotFoundError: no deployment record (deploy first).
        LedgerConfigError: settings or the staff key file are invalid.
    """
    settings: Settings = app.state.settings or load_settings()
    app.state.settings = settings
    deployment = load_deployment(settings.deployment_file)
    engine = make_engine(settings.database_url)
    try:
        create_schema(engine)
        app.state.engine = engine
        app.state.session_factory = session_factory(engine)
        app.state.deployment = deployment
        app.state.chain = LedgerChain(
            settings.rpc_url, deployment, tx_timeout_seconds=settings.tx_timeout_seconds
        )
        app.state.evidence_store = EvidenceStore(settings.evidence_dir)
        app.state.staff_registry = StaffRegistry(settings.staff_keys_file)
        app.state.sources = credits_by_code(settings.sources_dir)
        logger.info(
            "API ready: chain %s, ledger %s, %d staff token(s)",
            deployment.chain_id,
            deployment.contract_address,
            len(app.state.staff_registry),
        )
        yield
    finally:
        engine.dispose()


def _include_site(app: FastAPI) -> None:
    """Serve the citizens' website next to the API, when ``frontend/site.py`` exists."""
    package = SITE_MODULE.rpartition(".")[0]
    if importlib.util.find_spec(package) is None or importlib.util.find_spec(SITE_MODULE) is None:
        logger.warning("%s not found: the website is not served, only the API.", SITE_MODULE)
        return
    site = importlib.import_module(SITE_MODULE)
    app.include_router(site.router)
    site.mount_static(app)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI schema, with the ``Problem`` schema that every error response refers to."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes, tags=app.openapi_tags
    )
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    paths = json.dumps(schema["paths"])
    for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 shapes, replaced by Problem
        if f'"#/components/schemas/{unused}"' not in paths:
            schemas.pop(unused, None)
    app.openapi_schema = schema
    return schema


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application.

    Args:
        settings: the settings to use; read from the environment in the lifespan when
            ``None`` (so that importing :mod:`api.main` reads and connects to nothing).
    """
    app = FastAPI(
        title=TITLE,
        version=API_VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        responses=problem_responses(500),
        openapi_tags=[
            {"name": "health", "description": "Is the index keeping up with the chain?"},
            {"name": "municipalities", "description": "Issuers and their commitment counts."},
            {"name": "commitments", "description": "Commitments, their deliveries and timeline."},
            {"name": "verify", "description": "Check a document against the ledger."},
            {"name": "evidence", "description": "Evidence files stored by this server."},
            {"name": "staff", "description": "Registrar writes (bearer token)."},
        ],
    )
    app.state.settings = settings
    install_problem_handlers(app)

    api = APIRouter(prefix=API_PREFIX)
    for module in (health, municipalities, commitments, verify, evidence, staff):
        api.include_router(module.router)
    app.include_router(api)
    _include_site(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


app = create_app()
