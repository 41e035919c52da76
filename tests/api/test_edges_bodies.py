"""The token before the body, and body limits while it streams (api.edges, api.routing),
against a real uvicorn server over raw sockets: a staff request without a valid token is
answered 401 before one body byte is read (no upload is spooled), a declared Content-Length
over the limit is 413 at once, and a chunked body is refused as soon as it passes the limit
(what was spooled stays within it)."""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from typing import Any, Iterator

import httpx
import pytest
import starlette.formparsers
import uvicorn
from fastapi import FastAPI

from api.main import create_app
from api.routing import FORM_OVERHEAD_BYTES
from ledger.limits import MAX_EVIDENCE
from ledger.settings import Settings
from tests.api.helpers import MAX_EVIDENCE_BYTES, Tokens

PORT = 8661
BOUNDARY = "h6boundary"
DELIVERY_PATH = "/api/v1/staff/commitments/1/deliveries"
FORM_LIMIT = MAX_EVIDENCE * MAX_EVIDENCE_BYTES + FORM_OVERHEAD_BYTES
"""The limit of a delivery's multipart body in this test app, bytes."""
CHUNK = 64 * 1024


class SpoolRecord:
    """Every upload file the multipart parser opened, and the bytes written to each."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.lock = threading.Lock()


@pytest.fixture(scope="module")
def spool() -> Iterator[SpoolRecord]:
    record = SpoolRecord()
    original = starlette.formparsers.SpooledTemporaryFile

    class Recording(tempfile.SpooledTemporaryFile):  # type: ignore[type-arg]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            with record.lock:
                self._index = len(record.sizes)
                record.sizes.append(0)

        def write(self, data: Any) -> int:
            with record.lock:
                record.sizes[self._index] += len(data)
            return super().write(data)

    starlette.formparsers.SpooledTemporaryFile = Recording  # type: ignore[misc]
    yield record
    starlette.formparsers.SpooledTemporaryFile = original  # type: ignore[misc]


@pytest.fixture(scope="module")
def server(api_settings: Settings, tokens: Tokens, spool: SpoolRecord) -> Iterator[str]:
    app: FastAPI = create_app(api_settings)
    instance = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=PORT, log_level="warning"))
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{PORT}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield url
    instance.should_exit = True
    thread.join(timeout=10)


def _head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{PORT}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _status(sock: socket.socket) -> tuple[int, bytes]:
    """The status and what arrived of the response (headers and maybe part of the body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    return int(data.split(b" ", 2)[1]), data


def _multipart_start() -> bytes:
    return (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"quantity\"\r\n\r\n1\r\n"
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"delivered_at\"\r\n\r\n1736938800\r\n"
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"evidence\"; filename=\"big.bin\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def _connect() -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", PORT), timeout=20)
    return sock


def _stream_until_answered(sock: socket.socket, first: bytes, most_bytes: int) -> tuple[int, int]:
    """Send ``first`` then chunks of zeros (chunked transfer coding) until the server answers
    or ``most_bytes`` were sent; the status and the body bytes sent."""
    sent = 0
    sock.settimeout(0.05)
    payload = first
    while sent < most_bytes:
        chunk = payload or b"\0" * CHUNK
        payload = b""
        try:
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(chunk)
        try:
            if sock.recv(1, socket.MSG_PEEK):
                break
        except (socket.timeout, BlockingIOError):
            continue
    sock.settimeout(20)
    status, _ = _status(sock)
    return status, sent


def _spooled_since(spool: SpoolRecord, before: int) -> list[int]:
    with spool.lock:
        return list(spool.sizes[before:])


@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_no_valid_token_is_401_before_a_declared_body(server: str, spool: SpoolRecord, token: str | None) -> None:
    before = len(spool.sizes)
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Content-Length": str(168 * 1024 * 1024)}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    with _connect() as sock:
        sock.sendall(_head(DELIVERY_PATH, headers) + _multipart_start())  # then nothing more
        status, data = _status(sock)
    assert status == 401
    assert b"application/problem+json" in data.lower()
    assert _spooled_since(spool, before) == []


def test_no_token_is_401_while_a_chunked_body_streams(server: str, spool: SpoolRecord) -> None:
    before = len(spool.sizes)
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Transfer-Encoding": "chunked"}
    with _connect() as sock:
        sock.sendall(_head(DELIVERY_PATH, headers))
        status, sent = _stream_until_answered(sock, _multipart_start(), 8 * FORM_LIMIT)
    assert status == 401
    assert sent < FORM_LIMIT
    assert _spooled_since(spool, before) == []


def test_a_declared_length_over_the_limit_is_413_at_once(server: str, tokens: Tokens, spool: SpoolRecord) -> None:
    before = len(spool.sizes)
    headers = {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(FORM_LIMIT + 1),
        "Authorization": f"Bearer {tokens.baarn}",
    }
    with _connect() as sock:
        sock.sendall(_head(DELIVERY_PATH, headers))  # no body byte sent
        status, data = _status(sock)
    assert status == 413
    assert b"application/problem+json" in data.lower()
    assert _spooled_since(spool, before) == []


def test_a_chunked_upload_stops_at_the_limit(server: str, tokens: Tokens, spool: SpoolRecord) -> None:
    before = len(spool.sizes)
    headers = {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Transfer-Encoding": "chunked",
        "Authorization": f"Bearer {tokens.baarn}",
    }
    with _connect() as sock:
        sock.sendall(_head(DELIVERY_PATH, headers))
        status, sent = _stream_until_answered(sock, _multipart_start(), 8 * FORM_LIMIT)
    assert status == 413
    spooled = _spooled_since(spool, before)
    assert len(spooled) == 1
    assert 0 < spooled[0] <= FORM_LIMIT
    assert sent < 2 * FORM_LIMIT  # refused while streaming, not after the whole body


def test_a_json_body_without_a_token_is_never_read(server: str) -> None:
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    with _connect() as sock:
        sock.sendall(_head("/api/v1/staff/commitments", headers))
        status, sent = _stream_until_answered(sock, b'{"title": "', 64 * CHUNK)
    assert status == 401
    assert sent < 64 * CHUNK
