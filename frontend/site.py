"""Citizens' website: HTML pages and static assets, served next to the JSON API.

The pages are static HTML; vanilla JavaScript (ES modules, no build step) in
``static/js`` fills them from the public JSON API under ``/api/v1`` (docs/API.md).

Usage in the API app::

    from frontend import site
    app.include_router(site.router)
    site.mount_static(app)

Routes: ``/`` (commitments), ``/commitments/{id}``, ``/check`` (document check),
``/about``, and ``/static/...``. None of them overlaps ``/api/v1``, ``/docs`` or
``/openapi.json``; the page routes are left out of the OpenAPI schema.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
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


def _page(name: str) -> FileResponse:
    """Return the HTML file ``pages/<name>`` with the page security headers.

    Args:
        name: file name inside ``frontend/pages``, e.g. ``"index.html"``.

    Returns:
        A FileResponse with media type ``text/html``.
    """
    return FileResponse(PAGES_DIR / name, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@router.api_route("/", methods=["GET", "HEAD"])
def commitments_page() -> FileResponse:
    """Commitments list: filters, status badges, progress, pagination, per-municipality counts."""
    return _page("index.html")


@router.api_route("/commitments/{commitment_id}", methods=["GET", "HEAD"])
def commitment_page(commitment_id: str) -> FileResponse:
    """One commitment: promise and proof side by side, and its on-chain timeline.

    Args:
        commitment_id: taken from the URL by the page's script, which asks
            ``/api/v1/commitments/{id}`` and shows the API's problem (404, 422) if any.
            It is a string here so that a bad id still gets the page and a readable error.
    """
    return _page("commitment.html")


@router.api_route("/check", methods=["GET", "HEAD"])
def check_page() -> FileResponse:
    """Document check: hashes a file in the browser (never uploaded) and looks it up."""
    return _page("check.html")


@router.api_route("/about", methods=["GET", "HEAD"])
def about_page() -> FileResponse:
    """About the ledger: status rules, data sources and how auditors replay the chain."""
    return _page("about.html")


def mount_static(app: FastAPI) -> None:
    """Mount ``frontend/static`` (CSS, JS modules, translations) at ``/static``.

    Args:
        app: the FastAPI application that also serves ``/api/v1``.
    """
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="static")
