"""A JSON-RPC proxy for tests that limits ``eth_getLogs`` the way hosted providers do, and can
answer chosen methods with an error response (shared: tests/indexer, the deploy tests).

It runs an HTTP server in a thread and forwards every request to the upstream node, except:

- an ``eth_getLogs`` whose block range (inclusive) exceeds ``max_blocks``: answered with the
  error object of a range limit (code -32602, as Alchemy);
- an ``eth_getLogs`` whose result holds more than ``max_results`` logs over more than one
  block: answered with the error of a result-count limit (code -32005, as Infura); one block's
  logs are always served whole, as providers do;
- any method named in ``failing`` (mutable while the proxy runs): answered with the error
  object ``failing[method]`` (e.g. ``{"code": -32000, "message": "header not found"}``).

The range and result logic is ``tests/deploy/capped_rpc.py``'s (one rule for both folders).
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import httpx

from tests.deploy.capped_rpc import RANGE_ERROR_CODE, RESULT_ERROR_CODE, CappedCounts, _answer

__all__ = ["RANGE_ERROR_CODE", "RESULT_ERROR_CODE", "LimitedRpc", "limited_rpc"]


@dataclass
class LimitedRpc:
    """A running proxy: its ``url``, what it counted (``counts``: ``get_logs`` served,
    ``range_refused``, ``results_refused``, ``largest_range_served`` in blocks) and the methods
    it answers with an error (``failing``: method → JSON-RPC error object)."""

    url: str
    counts: CappedCounts
    failing: dict[str, dict[str, Any]] = field(default_factory=dict)


@contextmanager
def limited_rpc(upstream_url: str, port: int, *, max_blocks: int = 10**9, max_results: int = 10**9) -> Iterator[LimitedRpc]:
    """Serve the proxy on 127.0.0.1:``port`` in front of ``upstream_url``."""
    proxy = LimitedRpc(f"http://127.0.0.1:{port}", CappedCounts())
    upstream = httpx.Client(base_url=upstream_url, timeout=30)
    lock = threading.Lock()  # one httpx client, used by one handler thread at a time

    def answer(call: dict[str, Any]) -> Any:
        error = proxy.failing.get(call.get("method", ""))
        if error is not None:
            return {"jsonrpc": "2.0", "id": call.get("id"), "error": error}
        return _answer(call, upstream, max_blocks, max_results, proxy.counts)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
            with lock:
                result: Any = [answer(call) for call in body] if isinstance(body, list) else answer(body)
            data = json.dumps(result).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, name=f"limited-rpc-{port}", daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        upstream.close()
