"""The baseline of the API bench (bench/api.py): a FastAPI app with one trivial endpoint.

``GET /ping`` returns ``{"ok": true}`` (11 bytes of JSON). It is a plain ``def`` route, as
the API's read routes are, so it runs in the same thread pool: what the bench's ratios
measure is the ledger's own work per request (middlewares, sessions, queries, rendering),
not FastAPI's dispatch. Served by bench/api.py with exactly the uvicorn options of the real
app: ``python -m uvicorn bench.trivial_app:app ...``.
"""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI(title="trivial baseline", docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/ping")
def ping() -> dict[str, bool]:
    """The smallest JSON answer."""
    return {"ok": True}
