"""Citizens' website: HTML pages and static assets, served next to the JSON API.

Each page is its ``<main>`` element in ``pages/<name>.html``, placed in the one shared
layout ``pages/_layout.html`` (head, header, navigation, footer) once per process; vanilla
JavaScript (ES modules, no build step) in ``static/js`` fills it from the public JSON API
under ``/api/v1`` (docs/API.md).

Usage in the API app::

    from frontend import site
    app.include_router(site.router)
    site.mount_static(app)

Routes: ``/`` (commitments), ``/commitments/{id}``, ``/check`` (document check),
``/about``, and ``/static/...``. None of them overlaps ``/api/v1``, ``/docs`` or
``/openapi.json``; the page routes are left out of the OpenAPI schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from string import Template

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

FRONTEND_DIR = Path(__file__).resolve().parent
PAGES_DIR = FRONTEND_DIR / "pages"
STATIC_DIR = FRONTEND_DIR / "static"

#: Mount path of the static assets; the HTML pages reference it literally.
STATIC_PATH = "/static"

#: Headers sent with every page. The pages load only same-origin scripts, styles and
#: JSON, so a strict Content-Security-Policy costs nothing and blocks injected scripts.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Page:
    """A page: its ``<main>`` file, Dutch title (the script translates it), module script and
    the navigation entry it marks as current (``list``, ``check``, ``about`` or none)."""

    file: str
    title: str
    script: str
    nav: str | None


PAGES = {
    "index": Page("index.html", "Beloften", "list.js", "list"),
    "commitment": Page("commitment.html", "Belofte", "commitment.js", None),
    "check": Page("check.html", "Document controleren", "check.js", "check"),
    "about": Page("about.html", "Over dit register", "about.js", "about"),
}


@lru_cache(maxsize=len(PAGES))
def render(name: str) -> str:
    """The full HTML of page ``name`` (a key of :data:`PAGES`): its ``<main>`` in the layout.

    Raises:
        KeyError: unknown page name.
        FileNotFoundError: the layout or the page file is missing.
    """
    page = PAGES[name]
    layout = Template((PAGES_DIR / "_layout.html").read_text(encoding="utf-8"))
    current = {f"current_{nav}": ' aria-current="page"' if nav == page.nav else "" for nav in ("list", "check", "about")}
    return layout.substitute(
        title=page.title, script=page.script, main=(PAGES_DIR / page.file).read_text(encoding="utf-8").rstrip("\n"), **current
    )


def _page(name: str) -> HTMLResponse:
    """Page ``name`` (a key of :data:`PAGES`) with the page security headers."""
    return HTMLResponse(render(name), headers=PAGE_HEADERS)


@router.api_route("/", methods=["GET", "HEAD"])
def commitments_page() -> HTMLResponse:
    """Commitments list: filters, status badges, progress, pagination, per-municipality counts."""
    return _page("index")


@router.api_route("/commitments/{commitment_id}", methods=["GET", "HEAD"])
def commitment_page(commitment_id: str) -> HTMLResponse:
    """One commitment: promise and proof side by side, and its on-chain timeline.

    Args:
        commitment_id: taken from the URL by the page's script, which asks
            ``/api/v1/commitments/{id}`` and shows the API's problem (404, 422) if any.
            It is a string here so that a bad id still gets the page and a readable error.
    """
    return _page("commitment")


@router.api_route("/check", methods=["GET", "HEAD"])
def check_page() -> HTMLResponse:
    """Document check: hashes a file in the browser (never uploaded) and looks it up."""
    return _page("check")


@router.api_route("/about", methods=["GET", "HEAD"])
def about_page() -> HTMLResponse:
    """About the ledger: status rules, data sources and how auditors replay the chain."""
    return _page("about")


def mount_static(app: FastAPI) -> None:
    """Mount ``frontend/static`` (CSS, JS modules, translations) at ``/static``.

    Args:
        app: the FastAPI application that also serves ``/api/v1``.
    """
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")
