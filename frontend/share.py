"""Sharing a commitment: its share link and a QR code of that link (segno), for posters, council
papers and letters that point readers to the commitment on the site.

Routes (``router``, left out of the OpenAPI schema):

- ``GET /commitments/{commitment_id}/qr.svg``: the QR code (SVG) of
  :func:`share_url` for the request's language; 404 for an unknown commitment.

:func:`site_base` (the public base URL, also used by the feeds and downloads) and
:func:`share_url` are what templates use to print the link next to the code.
"""

from __future__ import annotations

import io
from typing import Annotated

import segno
from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from api.deps import SessionDep
from api.problems import ProblemError
from frontend.web import request_lang, site_base
from ledger.db import repository

router = APIRouter(include_in_schema=False)

QR_ERROR_LEVEL = "m"
"""QR error correction level asked of segno (15 % of the code may be damaged; segno raises it
when the symbol has room to spare)."""

QR_TARGET_PIXELS = 200
"""Width the SVG aims at, in CSS pixels: the code is drawn at the whole number of pixels per
module that comes closest (at least one)."""

QR_DARK = "#000"
QR_LIGHT = "#fff"
"""Module colours: black on white (the contrast every scanner reads)."""

QR_CACHE_CONTROL = "public, max-age=86400"
"""A commitment's share link never changes: a day in any cache."""

CommitmentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="commitment id (from 1)")]


def share_url(site_base: str, commitment_id: int, lang_code: str) -> str:
    """The link to share for a commitment: ``<site_base>/commitments/<id>?lang=<code>``, e.g.
    ``share_url("https://register.baarn.nl", 12, "nl")`` →
    ``"https://register.baarn.nl/commitments/12?lang=nl"``. ``site_base`` may end with ``/``."""
    return f"{site_base.rstrip('/')}/commitments/{commitment_id}?lang={lang_code}"


def qr_svg(url: str, title: str) -> bytes:
    """The QR code of ``url`` as a standalone SVG document (UTF-8, XML declaration): dark
    modules :data:`QR_DARK` on :data:`QR_LIGHT`, the standard quiet zone of 4 modules, about
    :data:`QR_TARGET_PIXELS` wide, with ``title`` as its ``<title>`` (what screen readers
    announce) and ``url`` as its ``<desc>``."""
    code = segno.make(url, error=QR_ERROR_LEVEL)
    width, _ = code.symbol_size(scale=1)
    out = io.BytesIO()
    code.save(
        out,
        kind="svg",
        scale=max(1, round(QR_TARGET_PIXELS / width)),
        dark=QR_DARK,
        light=QR_LIGHT,
        title=title,
        desc=url,
        xmldecl=True,
    )
    return out.getvalue()


@router.api_route("/commitments/{commitment_id}/qr.svg", methods=["GET", "HEAD"])
def commitment_qr(commitment_id: CommitmentId, request: Request, session: SessionDep) -> Response:
    """The QR code of the commitment's share link in the request's language (``image/svg+xml``,
    cached publicly for a day; ``Vary`` on what picks the language).

    404 ``not-found`` for an unknown commitment; 422 for an id that is not a positive integer.
    """
    if not repository.commitment_states(session, [commitment_id]):
        raise ProblemError(404, "not-found", f"No commitment {commitment_id}.")
    lang = request_lang(request)
    url = share_url(site_base(request), commitment_id, lang.code)
    return Response(
        qr_svg(url, lang.t("share.qrTitle", id=commitment_id)),
        media_type="image/svg+xml",
        headers={"Cache-Control": QR_CACHE_CONTROL, "Vary": "Accept-Language, Cookie", "X-Content-Type-Options": "nosniff"},
    )
