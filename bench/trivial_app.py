"""The baseline of the API bench (bench/api.py): a FastAPI app with one trivial endpoint.

``GET /ping`` returns ``{"ok": true}`` (11 bytes of JSON). It is a plain ``def`` route, as
the API's read routes are, so it runs in the same thread pool: what the bench's ratios
measure is the ledger's own work per request (middlewares, sessions, queries, rendering),
not FastAPI's dispatch. Served by bench/api.py with exactly the uvicorn options of the real
app (``api.server.uvicorn_options``: uvloop, httptools, one worker):
``python -m bench.trivial_app --port 8760``.
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI

from api.server import uvicorn_options

app = FastAPI(title="trivial baseline", docs_url=None, redoc_url=None, openapi_url=None)


@app.get("/ping")
def ping() -> dict[str, bool]:
    """The smallest JSON answer."""
    return {"ok": True}


def main() -> None:
    """Serve :data:`app` as ``python -m api.server`` serves the API, with one worker."""
    parser = argparse.ArgumentParser(prog="python -m bench.trivial_app", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8760, help="TCP port (default 8760)")
    args = parser.parse_args()
    uvicorn.run("bench.trivial_app:app", **uvicorn_options(host=args.host, port=args.port, workers=1))


if __name__ == "__main__":
    main()
