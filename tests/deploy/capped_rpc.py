"""A JSON-RPC proxy that limits ``eth_getLogs`` the way hosted providers do, for the deploy
tests (tests/indexer may have its own; this one has no other job).

Every request is forwarded to the upstream node as is, except an ``eth_getLogs`` whose block
range (inclusive, ``toBlock - fromBlock + 1``) exceeds ``max_blocks``, answered with the error
object of a range limit (code -32602, Alchemy's wording), or whose result holds more than
``max_results`` logs over more than one block, answered with the error of a result-count limit
(code -32005, Infura's wording "query returned more than N results"); one block's logs are
always served whole (as providers do: a block must stay readable). The proxy counts what it
refused.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import httpx

RANGE_ERROR_CODE = -32602
RESULT_ERROR_CODE = -32005


@dataclass
class CappedCounts:
    """What the proxy did: ``eth_getLogs`` calls forwarded whole, refused for their range, and
    refused for their result count."""

    get_logs: int = 0
    range_refused: int = 0
    results_refused: int = 0
    largest_range_served: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def _block(tag: Any, upstream: httpx.Client) -> int:
    if isinstance(tag, str) and tag.startswith("0x"):
        return int(tag, 16)
    if isinstance(tag, int):
        return tag
    if tag in (None, "latest", "safe", "finalized", "pending"):
        answer = upstream.post("", json={"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber", "params": []}).json()
        return int(answer["result"], 16)
    return 0  # "earliest"


def _answer(call: dict[str, Any], upstream: httpx.Client, max_blocks: int, max_results: int, counts: CappedCounts) -> Any:
    if call.get("method") != "eth_getLogs":
        return upstream.post("", json=call).json()
    params = (call.get("params") or [{}])[0]
    error = None
    first = last = 0
    if "blockHash" not in params:
        first, last = _block(params.get("fromBlock", "latest"), upstream), _block(params.get("toBlock", "latest"), upstream)
        if last - first + 1 > max_blocks:
            error = {"code": RANGE_ERROR_CODE,
                     "message": f"Log response size exceeded. You can make eth_getLogs requests with up to a {max_blocks} block range."}
            with counts.lock:
                counts.range_refused += 1
    if error is None:
        answer = upstream.post("", json=call).json()
        logs = answer.get("result")
        if isinstance(logs, list) and len(logs) > max_results and last > first:
            error = {"code": RESULT_ERROR_CODE, "message": f"query returned more than {max_results} results"}
            with counts.lock:
                counts.results_refused += 1
        else:
            with counts.lock:
                counts.get_logs += 1
                if "blockHash" not in params:
                    counts.largest_range_served = max(counts.largest_range_served, last - first + 1)
            return answer
    return {"jsonrpc": "2.0", "id": call.get("id"), "error": error}


@contextmanager
def capped_rpc(upstream_url: str, port: int, *, max_blocks: int = 10, max_results: int = 5) -> Iterator[tuple[str, CappedCounts]]:
    """Serve the proxy on 127.0.0.1:``port``; yields its URL and its counts."""
    counts = CappedCounts()
    upstream = httpx.Client(base_url=upstream_url, timeout=30)
    lock = threading.Lock()  # one httpx client, used by one handler thread at a time

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
            with lock:
                if isinstance(body, list):
                    answer: Any = [_answer(call, upstream, max_blocks, max_results, counts) for call in body]
                else:
                    answer = _answer(body, upstream, max_blocks, max_results, counts)
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, name=f"capped-rpc-{port}", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", counts
    finally:
        server.shutdown()
        server.server_close()
        upstream.close()
