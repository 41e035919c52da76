"""Static files of the site under versioned names, so browsers may cache them for a year.

``Assets.url("css/app.css")`` gives ``/static/css/app.<10 hex of its SHA-256>.css``. A request
for that exact name is answered with ``Cache-Control: public, max-age=31536000, immutable``: a
changed file gets a new name, so a cached copy is never stale. A request without the version
(or with an old one) gets the current file with ``no-cache`` and its ETag, so a browser
revalidates it and gets ``304 Not Modified`` while it is unchanged. Compression is the app's
``GZipMiddleware``.

Three kinds of asset, all served the same way:

- files under ``frontend/static`` (CSS, the site's scripts);
- vendored files from ``node_modules`` (:data:`VENDORED`: the npm ``ethers`` build that the
  chain check loads; nothing is fetched from another origin);
- generated files (:data:`GENERATED`, e.g. the ledger's ABI as JSON, built from the compiled
  interface once per process).
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Callable

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import Response

from ledger.abi import ledger_abi

FRONTEND_DIR = Path(__file__).resolve().parent
STATIC_DIR = FRONTEND_DIR / "static"
REPO_ROOT = FRONTEND_DIR.parent
STATIC_PATH = "/static"

IMMUTABLE = "public, max-age=31536000, immutable"
"""Cache header of a versioned name (one year, RFC 8246 ``immutable``)."""

REVALIDATE = "no-cache"

VENDORED: dict[str, Path] = {
    "vendor/ethers.min.js": REPO_ROOT / "node_modules" / "ethers" / "dist" / "ethers.min.js",
}
"""Logical name → file installed by ``npm ci`` (package.json pins the version)."""


def _ledger_abi_json() -> bytes:
    """The events, errors and view functions of the ledger's ABI (what a reader's browser
    needs to decode logs and call views), as compact JSON."""
    wanted = [e for e in ledger_abi() if e["type"] in ("event", "error")
              or (e["type"] == "function" and e.get("stateMutability") in ("view", "pure"))]
    return json.dumps(wanted, separators=(",", ":"), sort_keys=True).encode()


GENERATED: dict[str, Callable[[], bytes]] = {
    "abi/ledger.json": _ledger_abi_json,
}
"""Logical name → function that builds its bytes (called once per process)."""

_VERSIONED = re.compile(r"^(?P<stem>.+)\.(?P<version>[0-9a-f]{10})(?P<suffix>\.[A-Za-z0-9]+)$")


@dataclass(frozen=True)
class Asset:
    name: str
    body: bytes
    version: str
    media_type: str


@dataclass
class Assets:
    """The site's assets, read once (a restart picks up changed files)."""

    static_dir: Path = STATIC_DIR
    _cache: dict[str, Asset] = field(default_factory=dict)

    def get(self, name: str) -> Asset | None:
        """The asset called ``name`` (logical, unversioned: ``css/app.css``), or ``None``."""
        if name in self._cache:
            return self._cache[name]
        body = self._read(name)
        if body is None:
            return None
        media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if media_type.startswith("text/") or media_type in ("application/javascript", "application/json", "image/svg+xml"):
            media_type += "; charset=utf-8"
        asset = Asset(name, body, hashlib.sha256(body).hexdigest()[:10], media_type)
        self._cache[name] = asset
        return asset

    def _read(self, name: str) -> bytes | None:
        if name in GENERATED:
            return GENERATED[name]()
        if name in VENDORED:
            path = VENDORED[name]
            return path.read_bytes() if path.is_file() else None
        path = (self.static_dir / name).resolve()
        if self.static_dir.resolve() not in path.parents or not path.is_file():
            return None
        return path.read_bytes()

    def url(self, name: str) -> str:
        """The versioned URL of asset ``name``.

        Raises:
            KeyError: no such asset (a template names a file that does not exist).
        """
        asset = self.get(name)
        if asset is None:
            raise KeyError(f"no static asset {name!r}")
        stem, dot, suffix = name.rpartition(".")
        return f"{STATIC_PATH}/{stem}.{asset.version}.{suffix}" if dot else f"{STATIC_PATH}/{name}.{asset.version}"

    def response(self, requested: str, if_none_match: str | None = None) -> Response:
        """The response to ``GET /static/<requested>``: the asset, or ``304 Not Modified``
        when ``if_none_match`` (the request's ``If-None-Match``) names its current ETag (a
        browser revalidating an unversioned name it holds; RFC 9110 §13.1.2).

        Raises:
            HTTPException 404: no such asset.
        """
        match = _VERSIONED.match(requested)
        name, version = (match["stem"] + match["suffix"], match["version"]) if match else (requested, None)
        asset = self.get(name)
        if asset is None and match:  # a file whose own name looks versioned
            name, version, asset = requested, None, self.get(requested)
        if asset is None:
            raise HTTPException(404, f"No static file {requested}.")
        etag = f'"{asset.version}"'
        headers = {"Cache-Control": IMMUTABLE if version == asset.version else REVALIDATE, "ETag": etag,
                   "X-Content-Type-Options": "nosniff"}
        if if_none_match and _etag_matches(if_none_match, etag):
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)


def _etag_matches(if_none_match: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` value (``*`` or a list of entity tags, weak ones too)
    names ``etag`` (weak comparison, RFC 9110 §8.8.3.2)."""
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def static_router(assets: Assets) -> APIRouter:
    """``GET /static/{path}`` serving ``assets``."""
    router = APIRouter(include_in_schema=False)

    @router.api_route(STATIC_PATH + "/{path:path}", methods=["GET", "HEAD"])
    def static(path: str, if_none_match: Annotated[str | None, Header()] = None) -> Response:
        return assets.response(path, if_none_match)

    return router
