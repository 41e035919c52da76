"""The FastAPI application: JSON API under ``/api/v1`` (docs/API.md), OpenAPI at
``/openapi.json``, docs at ``/docs``, and the citizens' website (``frontend.site``).

``/docs`` is Swagger UI served from this server (the npm package ``swagger-ui-dist`` in
``node_modules``, mounted at ``/static/swagger``), so it works offline and under a strict
Content-Security-Policy; without that folder ``/docs`` is a short page pointing to
``/openapi.json``. There is no ReDoc page (it would need a CDN).

Run: ``python -m api.server`` (``api.server``: uvicorn with uvloop and httptools,
``LEDGER_API_WORKERS`` processes; settings from ``LEDGER_*`` variables). Importing this module
connects to nothing: the database engine, the chain client, the evidence store and the staff
tokens are built once in the lifespan and handed out by ``api.deps``.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import html
import importlib
import importlib.util
import json
import logging
import re
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from api import caching, edges, freshness, logging_config
from api.problems import Problem, install_problem_handlers, problem_responses
from api.routes import batches, commitments, evidence, health, municipalities, relay, staff, verify, writes
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
  is evaluated at the request time, with two clocks (`status`: the dates the municipality
  states; `status_on_record`: the block times the chain proves) and against both the current
  and the original terms (`status_original_terms`, `met_only_under_relaxed_terms`); see
  docs/LEDGER.md (ledger contract version 2.1.0).
- Delivery ids are `commitment_id * 1000000 + n`.
- Errors are RFC 9457 `application/problem+json` with `type` `/problems/<slug>`.
- Staff writes need `Authorization: Bearer <token>`; each waits for the transaction receipt.
  Batches (`/staff/commitments/batch`, `/staff/deliveries/batch`) are one transaction, all or
  nothing; a refused item's problem carries its `index`. A paused ledger answers 503
  `ledger-paused`.
"""
SITE_MODULE = "frontend.site"

REPO_ROOT = Path(__file__).resolve().parent.parent
SWAGGER_UI_DIR = REPO_ROOT / "node_modules" / "swagger-ui-dist"
"""Swagger UI's files (``npm install`` puts the pinned ``swagger-ui-dist`` there)."""

SWAGGER_UI_PATH = "/static/swagger"
"""Where :data:`SWAGGER_UI_DIR` is served (mounted before the site's ``/static``)."""

GZIP_MINIMUM_BYTES = 500
"""Responses shorter than this are sent uncompressed (the gzip header would outweigh the gain)."""

DOCS_PATH = "/docs"
OPENAPI_PATH = "/openapi.json"


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Build the expensive clients once, store them on ``app.state``, dispose at shutdown.

    Nothing here calls the chain: reads come from the index, and a chain that is down only
    turns staff writes into 503 problems. Evidence files that a stopped process left staged
    are promoted into the store (:meth:`EvidenceStore.promote_leftovers`).

    Raises:
        DeploymentNotFoundError: no deployment record (deploy first).
        LedgerConfigError: settings or the staff token file are invalid, or a keystore it
            needs is missing or does not unlock (``ledger.keystore.KeystoreError``).
    """
    settings: Settings = app.state.settings or load_settings()
    app.state.settings = settings
    logging_config.ensure_logging(settings.log_format or "text")  # H6: JSON lines with LEDGER_LOG_FORMAT=json
    deployment = load_deployment(settings.deployment_file)
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    try:
        create_schema(engine)
        app.state.engine = engine
        app.state.session_factory = session_factory(engine)
        app.state.deployment = deployment
        app.state.chain = LedgerChain(
            settings.rpc_url, deployment, tx_timeout_seconds=settings.tx_timeout_seconds
        )
        app.state.evidence_store = EvidenceStore(settings.evidence_dir)
        try:  # uploads a killed process left staged: its deliveries may be on chain
            app.state.evidence_store.promote_leftovers()
        except OSError:  # reads and new writes still work; the next start-up retries
            logger.error("evidence files left staged could not be promoted", exc_info=True)
        # the token file is validated and every keystore it needs unlocked now: a broken file
        # or a wrong password stops the start-up, naming the file, instead of 500s later
        app.state.staff_registry = StaffRegistry.from_settings(settings)
        app.state.sources = credits_by_code(settings.sources_dir)
        writes.start_outbox(app)  # journaled staff writes are sent and reconciled (ledger.outbox)
        if app.state.freeze_startup_objects:
            _settle_collector()
        logger.info(
            "API ready: chain %s, ledger %s, %d staff token(s)",
            deployment.chain_id,
            deployment.contract_address,
            len(app.state.staff_registry),
        )
        yield
    finally:
        writes.stop_outbox(app)
        reader = getattr(app.state, "index_version_reader", None)  # api.caching's kept connection
        if reader is not None:
            reader.close()
        engine.dispose()


GC_THRESHOLDS = (10_000, 20, 100)
"""The collector's thresholds in a served API (CPython's default: 700, 10, 10)."""


def _settle_collector() -> None:
    """Take what the start-up built (the app, its routes, models, templates, the engine:
    hundreds of thousands of objects that live as long as the process) out of the cyclic
    garbage collector's reach (``gc.freeze``), and collect the young generations less often
    (:data:`GC_THRESHOLDS`). Without it a full collection traverses them all every few
    requests: on the index of 100,000 commitments one page in two of the site's
    municipality overview took 190 ms instead of 68 (bench/api.py's p99 / p50). Only in the
    server's app (:data:`app`): tests build many apps in one process, whose frozen cycles
    would never be freed."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _include_site(app: FastAPI) -> None:
    """Serve the citizens' website next to the API, when ``frontend/site.py`` exists."""
    package = SITE_MODULE.rpartition(".")[0]
    if importlib.util.find_spec(package) is None or importlib.util.find_spec(SITE_MODULE) is None:
        logger.warning("%s not found: the website is not served, only the API.", SITE_MODULE)
        return
    site = importlib.import_module(SITE_MODULE)
    site.install(app)


def _csp(script_hash: str | None) -> str:
    """The docs page's Content-Security-Policy: the site's, plus the hash of the page's one
    inline script (Swagger UI's start-up call)."""
    scripts = "'self'" + (f" '{script_hash}'" if script_hash else "")
    return (
        f"default-src 'self'; script-src {scripts}; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


def _docs_page() -> tuple[bytes, dict[str, str]]:
    """The Swagger UI page (built once) and its headers."""
    page = get_swagger_ui_html(
        openapi_url=OPENAPI_PATH,
        title=f"{TITLE} — docs",
        swagger_js_url=f"{SWAGGER_UI_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{SWAGGER_UI_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{SWAGGER_UI_PATH}/favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from swagger.io
    ).body
    inline = re.findall(rb"<script>(.*?)</script>", page, flags=re.DOTALL)
    digest = "sha256-" + base64.b64encode(hashlib.sha256(inline[0]).digest()).decode() if len(inline) == 1 else None
    if digest is None:
        logger.warning("/docs: Swagger UI's start-up script not found; the page may stay blank under its CSP.")
    return page, {"Content-Security-Policy": _csp(digest), "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


_DOCS_MISSING = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(TITLE)}</title></head>
<body><h1>{html.escape(TITLE)}</h1>
<p>The interactive documentation is not installed on this server (Swagger UI's files are
missing: run <code>npm install</code>). The API is described by its OpenAPI document:
<a href="{OPENAPI_PATH}">{OPENAPI_PATH}</a>, and in docs/API.md.</p></body></html>
"""


def _include_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from :data:`SWAGGER_UI_DIR` at :data:`SWAGGER_UI_PATH`, or a
    short page pointing to ``/openapi.json`` when the folder is missing."""
    bundle = SWAGGER_UI_DIR / "swagger-ui-bundle.js"
    if bundle.is_file():
        app.mount(SWAGGER_UI_PATH, StaticFiles(directory=SWAGGER_UI_DIR), name="swagger-ui")
        page, headers = _docs_page()
    else:
        logger.warning(
            "Swagger UI not found at %s (run `npm install`): /docs only points to %s.", SWAGGER_UI_DIR, OPENAPI_PATH
        )
        page, headers = _DOCS_MISSING.encode(), {"Content-Security-Policy": _csp(None)}

    @app.api_route(DOCS_PATH, methods=["GET", "HEAD"], include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(page, headers=headers)


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


def create_app(settings: Settings | None = None, *, freeze_startup_objects: bool = False) -> FastAPI:
    """The application.

    Args:
        settings: the settings to use; read from the environment in the lifespan when
            ``None`` (so that importing :mod:`api.main` reads and connects to nothing).
        freeze_startup_objects: at the end of the start-up, take its objects out of the
            garbage collector's reach (:func:`_settle_collector`; the served :data:`app`).
    """
    app = FastAPI(
        title=TITLE,
        version=API_VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by _include_docs from local files
        redoc_url=None,
        openapi_url=OPENAPI_PATH,
        responses=problem_responses(500),
        openapi_tags=[
            {"name": "health", "description": "Is the index keeping up with the chain?"},
            {"name": "municipalities", "description": "Issuers and their commitment counts."},
            {"name": "commitments", "description": "Commitments, their deliveries and timeline."},
            {"name": "batches", "description": "Anchored batches of deliveries, their files and Merkle proofs."},
            {"name": "verify", "description": "Check a document against the ledger."},
            {"name": "evidence", "description": "Evidence files stored by this server."},
            {"name": "staff", "description": "Registrar writes (bearer token)."},
            {"name": "relay", "description": "Writes signed elsewhere (EIP-712), submitted by this server's relayer."},
        ],
    )
    app.state.settings = settings
    app.state.freeze_startup_objects = freeze_startup_objects
    install_problem_handlers(app)
    logging_config.install_access_log_filter()  # uvicorn's access log without query strings (tokens)
    # --- Edges (api/edges.py): access log and metrics, security headers, CORS, gzip, the
    # staff token checked before any body byte is read, rate limits; and GET /metrics.
    # Pages, feeds, downloads and JSON compress well (the English texts 16.5 KB → 5.6 KB);
    # evidence files and batch files are served as stored (their bytes are hashed by readers,
    # and gzip only changes the transfer, not the bytes the client gets).
    caching.install(app)  # innermost edge: ETag, Cache-Control, 304, kept answers (api/caching.py)
    edges.install(app, gzip_minimum_bytes=GZIP_MINIMUM_BYTES)
    # --- end of the edges
    freshness.install(app)  # X-Ledger-Indexed-Block / X-Ledger-Index-Age on every read (H3)

    api = APIRouter(prefix=API_PREFIX)
    for module in (health, municipalities, commitments, batches, verify, evidence, staff, writes, relay):
        api.include_router(module.router)
    app.include_router(api)
    _include_docs(app)
    _include_site(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


app = create_app(freeze_startup_objects=True)
