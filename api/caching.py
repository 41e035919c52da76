"""HTTP caching of reads: validators, ``Cache-Control``, ``304 Not Modified``, and answers
kept in memory for one state of the index.

:class:`CachingMiddleware` (innermost of the edges, so gzip, the freshness headers, the rate
limits and the security headers still apply to every answer it gives):

- every ``GET`` answer ``200`` sent in one piece (JSON, problem-free pages, feeds) carries a
  weak ``ETag``, ``W/"<BLAKE2b-128 of the body, hex>"``: the body is the representation (it
  names the statuses at the request time, the index state and the language it was made for),
  so equal bodies share the tag and any change in them changes it; weak because gzip
  (outside) may send the same representation in another encoding. A request whose
  ``If-None-Match`` names it (or ``*``) gets ``304`` with the same ``ETag``,
  ``Cache-Control`` and ``Vary`` and no body (RFC 9110 13.1.2, 15.4.5). Answers streamed in
  several pieces (downloads, evidence files) are passed on untouched.
- ``Cache-Control``, unless the route set one: reads ``no-cache`` (a cache may keep them but
  must revalidate each use: statuses are evaluated at the request time); ``/api/v1/health``,
  ``/metrics`` and every answer to another method (writes) ``no-store``; staff routes are
  ``no-store`` already (``api.edges``). ``Vary: Accept-Language, Cookie`` comes with the
  site's pages (``frontend.web``), ``Accept-Encoding`` from gzip.
- answers a route marked with :func:`keep_answer` are kept (up to
  ``settings.response_cache_entries`` answers and ``settings.response_cache_bytes`` bytes,
  least recently used out first) under the request's path, query, ``Accept``,
  ``Accept-Language`` and ``Cookie``, with the index state they were read in
  (``ledger.db.repository.index_version``, read in the route's own transaction before its
  data), the evidence store's state (its folder's modification time: a file stored later
  turns ``stored`` true), and the second up to which their time-dependent parts stay exact
  (``ledger.status.stable_until``). The same request is answered from memory while all
  three hold: one indexed query and a ``stat`` instead of the route's work. Exact by
  construction: an answer is never served for another index state, evidence store or
  status second than the ones it is valid for.

The cache is per process (``LEDGER_API_WORKERS`` processes each keep their own).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

import anyio.to_thread
from fastapi import FastAPI, Request
from sqlalchemy.orm import Session
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.db import repository

READ_CACHE_CONTROL = "no-cache"
NO_STORE = "no-store"
NO_STORE_PREFIXES = ("/api/v1/health", "/metrics", "/api/v1/staff/", "/staff")
"""Paths whose answers no cache may keep (health and metrics change by the second; the staff
API and the staff workspace (``frontend.workspace``) answer for one signed-in person)."""

KEY_HEADERS = (b"accept", b"accept-language", b"cookie")
"""Request headers that are part of a kept answer's key (what a representation may vary on)."""

_STATE_KEY = "ledger_cache_mark"


@dataclass(frozen=True)
class CacheMark:
    """What a route tells the middleware about its answer: the index state it read
    (``repository.index_version``), the evidence store state (``None``: not used) and the
    first Unix second at which the answer may no longer be exact (``None``: never, by time)."""

    version: tuple[Any, ...]
    evidence: int | None
    valid_until: int | None


@dataclass
class _Kept:
    mark: CacheMark
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def evidence_state(directory: Any) -> int:
    """The evidence store's state: its folder's modification time, nanoseconds (a file
    renamed in or removed changes it; 0 while the folder does not exist)."""
    try:
        return os.stat(directory).st_mtime_ns
    except OSError:
        return 0


def keep_answer(
    request: Request, session: Session, *, valid_until: int | None = None, uses_evidence: bool = False
) -> None:
    """Mark the answer of this request as one to keep (module docstring). Call it in the
    route before it reads its data, with the route's own session (so the index state is the
    one its reads see, or older: never newer).

    Args:
        valid_until: see :class:`CacheMark`; routes compute it after reading, so it may also
            be set later with :func:`keep_until`.
        uses_evidence: the answer says which evidence files are stored here.
    """
    store = getattr(request.app.state, "evidence_store", None)
    evidence = evidence_state(store.directory) if uses_evidence and store is not None else None
    request.scope.setdefault("state", {})[_STATE_KEY] = CacheMark(repository.index_version(session), evidence, valid_until)


def keep_until(request: Request, valid_until: int | None) -> None:
    """Set the time limit of an answer marked with :func:`keep_answer` (``None``: none)."""
    state = request.scope.get("state", {})
    mark = state.get(_STATE_KEY)
    if mark is not None:
        state[_STATE_KEY] = CacheMark(mark.version, mark.evidence, valid_until)


def cap_until(request: Request, valid_until: int | None) -> None:
    """Lower the time limit of an answer marked with :func:`keep_answer` to ``valid_until``
    when that is earlier (``None``: no change); a part of the answer that turns on its own
    (the site's stale-index notice) caps what the route set."""
    state = request.scope.get("state", {})
    mark = state.get(_STATE_KEY)
    if mark is not None and valid_until is not None:
        limit = valid_until if mark.valid_until is None else min(mark.valid_until, valid_until)
        state[_STATE_KEY] = CacheMark(mark.version, mark.evidence, limit)


class AnswerCache:
    """The kept answers of one process: least recently used out first, bounded in entries
    and bytes; thread-safe.

    Args:
        max_entries: most answers kept (0: none).
        max_bytes: most body bytes kept; an answer above an eighth of it is never kept.
    """

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[Any, ...], _Kept] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[Any, ...]) -> _Kept | None:
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None:
                self._entries.move_to_end(key)
            return kept

    def put(self, key: tuple[Any, ...], kept: _Kept) -> None:
        size = len(kept.body)
        if self.max_entries == 0 or size > self.max_bytes // 8:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)
            self._entries[key] = kept
            self._bytes += size
            while self._entries and (len(self._entries) > self.max_entries or self._bytes > self.max_bytes):
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= len(dropped.body)

    def drop(self, key: tuple[Any, ...]) -> None:
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= len(old.body)


def etag_of(body: bytes) -> str:
    """The weak validator of a body: ``W/"<BLAKE2b-128 hex>"``."""
    return 'W/"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110 weak comparison of ``If-None-Match`` (a list, or ``*``) with ``etag``."""
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in if_none_match.split(","))


def _not_modified(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    # RFC 9110 15.4.5, and the cookie a 200 would set (the site's ?lang= choice is remembered on a 304 too)
    keep = {b"etag", b"cache-control", b"vary", b"content-location", b"expires", b"date", b"content-language", b"set-cookie"}
    return [(k, v) for k, v in headers if k.lower() in keep]


class CachingMiddleware:
    """Validators, ``Cache-Control``, ``304`` and kept answers (module docstring)."""

    def __init__(self, app: ASGIApp, cache_for: Callable[[Any], AnswerCache | None]) -> None:
        self.app = app
        self.cache_for = cache_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        path = scope["path"]
        if method not in ("GET", "HEAD") or path.startswith(NO_STORE_PREFIXES):
            await self.app(scope, receive, _with_cache_control(send, NO_STORE))
            return
        request_headers = Headers(scope=scope)
        if_none_match = request_headers.get("if-none-match")
        cache = self.cache_for(scope["app"])
        key = (path, scope.get("query_string", b""), *(request_headers.get(h.decode(), "") for h in KEY_HEADERS))
        if cache is not None:
            kept = cache.get(key)
            if kept is not None and await self._still_valid(scope, kept.mark):
                await _send_kept(send, kept, if_none_match, head=method == "HEAD")
                return

        scope.setdefault("state", {})  # where a route's keep_answer leaves its mark
        start: Message | None = None
        body = bytearray()
        passed_on = False

        async def buffer(message: Message) -> None:
            nonlocal start, passed_on
            if passed_on:
                await send(message)
                return
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            assert start is not None
            if message.get("more_body", False) or start["status"] != 200 or method != "GET":
                passed_on = True  # streamed, not a 200, or HEAD: headers only
                await send(_with_default_cache_control(start))
                await send(message)
                return
            body.extend(message.get("body", b""))
            data = bytes(body)
            headers = MutableHeaders(raw=list(start.get("headers", [])))
            if "etag" not in headers:
                headers["ETag"] = etag_of(data)
            if "cache-control" not in headers:
                headers["Cache-Control"] = READ_CACHE_CONTROL
            raw = headers.raw
            mark = scope.get("state", {}).get(_STATE_KEY)
            if cache is not None and mark is not None:
                cache.put(key, _Kept(mark, 200, list(raw), data))
            await _send_answer(send, 200, raw, data, if_none_match, head=False)

        await self.app(scope, receive, buffer)

    async def _still_valid(self, scope: Scope, mark: CacheMark) -> bool:
        if mark.valid_until is not None and _unix_now() >= mark.valid_until:
            return False
        app = scope["app"]
        if mark.evidence is not None:
            store = getattr(app.state, "evidence_store", None)
            if store is None or evidence_state(store.directory) != mark.evidence:
                return False
        engine = getattr(app.state, "engine", None)
        if engine is None:
            return False
        reader: repository.IndexVersionReader | None = getattr(app.state, "index_version_reader", None)
        if reader is None:
            reader = app.state.index_version_reader = repository.IndexVersionReader(engine)
        try:
            # SQLite answers this one-row read in microseconds and a WAL reader never waits for
            # a lock: on the event loop. Another server is a network round trip: in a thread.
            version = reader.read() if engine.dialect.name == "sqlite" else await anyio.to_thread.run_sync(reader.read)
        except Exception:  # the index is unreadable: let the route answer (or fail) on its own
            return False
        return version == mark.version


def _unix_now() -> int:
    """The time kept answers are checked against, Unix seconds (``api.deps.get_now``'s clock)."""
    return int(time.time())


def _with_default_cache_control(start: Message) -> Message:
    headers = MutableHeaders(raw=list(start.get("headers", [])))
    if start["status"] == 200 and "cache-control" not in headers:
        headers["Cache-Control"] = READ_CACHE_CONTROL
    return {**start, "headers": headers.raw}


def _with_cache_control(send: Send, value: str) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(raw=list(message.get("headers", [])))
            if "cache-control" not in headers:
                headers["Cache-Control"] = value
            message = {**message, "headers": headers.raw}
        await send(message)

    return wrapped


async def _send_kept(send: Send, kept: _Kept, if_none_match: str | None, *, head: bool) -> None:
    await _send_answer(send, kept.status, kept.headers, kept.body, if_none_match, head=head)


async def _send_answer(
    send: Send, status: int, raw: list[tuple[bytes, bytes]], body: bytes, if_none_match: str | None, *, head: bool
) -> None:
    etag = dict((k.lower(), v) for k, v in raw).get(b"etag", b"").decode("latin-1")
    if if_none_match is not None and etag and _matches(if_none_match, etag):
        await send({"type": "http.response.start", "status": 304, "headers": _not_modified(raw)})
        await send({"type": "http.response.body", "body": b""})
        return
    # A copy: the edges outside (gzip) add their headers to the list they are sent, and a
    # kept answer's own list must stay as it was kept (else its next use claims gzip).
    await send({"type": "http.response.start", "status": status, "headers": list(raw)})
    await send({"type": "http.response.body", "body": b"" if head else body})


def install(app: FastAPI) -> None:
    """Put :class:`CachingMiddleware` on ``app`` (call before the other edges, so it is the
    innermost); the answer cache is built from the settings at the first request."""

    def cache_for(asgi_app: Any) -> AnswerCache | None:
        state = asgi_app.state
        cache: AnswerCache | None = getattr(state, "answer_cache", None)
        if cache is None:
            settings = getattr(state, "settings", None)
            if settings is None or settings.response_cache_entries == 0:
                return None
            cache = state.answer_cache = AnswerCache(settings.response_cache_entries, settings.response_cache_bytes)
        return cache

    app.add_middleware(CachingMiddleware, cache_for=cache_for)
