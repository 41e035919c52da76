"""How the API server is started: uvicorn with uvloop (event loop) and httptools (HTTP
parser), ``settings.api_workers`` worker processes, the app ``api.main:app``.

Run: ``python -m api.server --host 127.0.0.1 --port 8000`` (settings from ``LEDGER_*``
variables, ``ledger.settings``; ``LEDGER_API_WORKERS`` worker processes, 1 by default).
``make run`` (``scripts/run_local.py``) and the benches (``bench/``) start it the same way,
from :func:`uvicorn_options`, so what is measured is what runs.

Options always given: ``--no-proxy-headers`` (the app believes ``X-Forwarded-For`` /
``-Proto`` only from ``LEDGER_FORWARDED_ALLOW_IPS``, ``api.edges``), ``--no-server-header``,
keep-alive 75 s (longer than nginx's 60 s upstream keep-alive, so nginx closes first),
graceful shutdown 30 s (a staff write waiting for its receipt finishes).
"""

from __future__ import annotations

import argparse
from typing import Any, Sequence

import uvicorn

from ledger.settings import load_settings

APP = "api.main:app"
LOOP = "uvloop"
HTTP = "httptools"
KEEP_ALIVE_SECONDS = 75
GRACEFUL_SHUTDOWN_SECONDS = 30


def uvicorn_options(*, host: str, port: int, workers: int = 1) -> dict[str, Any]:
    """The keyword arguments of :func:`uvicorn.run` for the API (module docstring).

    Args:
        host: address to listen on.
        port: TCP port, 1..65535.
        workers: worker processes, >= 1 (``settings.api_workers``).

    Raises:
        ValueError: ``workers`` < 1 or a port outside 1..65535.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}.")
    if not 1 <= port <= 65_535:
        raise ValueError(f"port must be 1..65535, got {port}.")
    return {
        "host": host,
        "port": port,
        "workers": workers,
        "loop": LOOP,
        "http": HTTP,
        "proxy_headers": False,
        "server_header": False,
        "timeout_keep_alive": KEEP_ALIVE_SECONDS,
        "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_SECONDS,
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Serve :data:`APP` with :func:`uvicorn_options` and ``settings.api_workers``.

    Raises:
        LedgerConfigError: the ``LEDGER_*`` settings are invalid.
    """
    parser = argparse.ArgumentParser(prog="python -m api.server", description="Serve the ledger API and site.")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    args = parser.parse_args(argv)
    settings = load_settings()
    uvicorn.run(APP, **uvicorn_options(host=args.host, port=args.port, workers=settings.api_workers))


if __name__ == "__main__":
    main()
