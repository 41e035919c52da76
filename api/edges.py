"""The service's edges: ASGI middlewares that act before a route runs or after it answered.

:func:`install` puts them on the app, outermost first:

1. :class:`AccessLogMiddleware`: one ``api.access`` log record per request (``method``,
   ``path`` without the query string, ``status``, ``duration_ms``, ``client``,
   ``request_id``; JSON lines with ``LEDGER_LOG_FORMAT=json``, ``api.logging_config``), the
   request id echoed as ``X-Request-ID``, and the HTTP metrics (``api.metrics``).
2. :class:`SecurityHeadersMiddleware`: every response (JSON, problems, files, pages, even a
   500) carries ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``,
   ``X-Frame-Options: DENY`` and ``Content-Security-Policy: frame-ancestors 'none'`` (a route's
   own policy is kept; ``X-Frame-Options`` covers framing when it says nothing of it); every
   ``/api/v1/staff/`` and staff workspace (``/staff``) response ``Cache-Control: no-store``; ``Strict-Transport-Security`` only
   when the request came over TLS (its own scheme, or a trusted proxy's ``X-Forwarded-Proto``).
   These two wrap Starlette's error middleware, so they see the 500 answers too.
3. :class:`CorsMiddleware`: Starlette's ``CORSMiddleware`` for ``settings.cors_origins``
   (public reads, GET and HEAD only) and ``settings.cors_staff_origins`` (staff routes);
   both empty by default: no CORS header at all.
4. Starlette's ``GZipMiddleware``: every response of at least ``gzip_minimum_bytes`` (500)
   whose media type is not already compressed (JSON, problem+json, HTML, CSV, Atom, SVG, ...),
   when the client accepts gzip, at level :data:`GZIP_LEVEL`. Evidence files keep their
   stored bytes: gzip is a transfer encoding, the client gets the same bytes back.
5. :class:`StaffGateMiddleware`: every request under ``/api/v1/staff/`` is authenticated
   (``StaffRegistry.authenticate``) before one byte of its body is read: a missing or unknown
   token is answered 401 at once (and counted against the client's failed-authentication
   limit: past ``settings.failed_auth_rate_limit`` every staff request from that client is
   429 until the window moves on); a write (any method but GET, HEAD, OPTIONS) counts against
   ``settings.staff_write_rate_limit`` of its token. The route's own token check stays.
6. :class:`DocumentCheckLimitMiddleware`: ``/api/v1/verify`` and ``/api/v1/verify/...`` count
   against ``settings.document_check_rate_limit`` of the client.
7. :class:`HeadAsGetMiddleware`, outside 3 to 6: every ``HEAD`` is the ``GET`` of the same
   URL without its body, compressed or not as that GET would be (same ``Content-Encoding``,
   ``Content-Length``, ``Vary``, ``ETag``).

Body and upload limits are enforced by the routes' classes while the body streams
(``api.routing``). Rate limits (``off`` locally by default, ``ledger.settings``) are moving windows of the ``limits`` package, counted in this
process's memory or, with ``settings.rate_limit_storage_url`` (``redis://...``), in Redis,
shared by every API process of the same ledger; a refusal is 429 ``rate-limited`` with
``Retry-After`` (seconds) and the limit in the problem. When the counter store is unreachable
the request is let through and the failure logged (the limits protect, they must not stop the
service).

The client is the socket peer, or, when the peer is one of ``settings.forwarded_allow_ips``,
the last ``X-Forwarded-For`` address that is not (uvicorn's own ``--proxy-headers``, on by
default for 127.0.0.1, rewrites the peer first: run uvicorn with ``--no-proxy-headers`` and
let ``LEDGER_FORWARDED_ALLOW_IPS`` decide).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import re
import time
import uuid
from typing import Any, Awaitable, Callable, Iterable

import anyio.to_thread
from fastapi import FastAPI, Request
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import metrics
from api.problems import problem_response
from ledger.errors import StaffAuthError
from ledger.settings import RATE_LIMIT_OFF, Settings

access_log = logging.getLogger("api.access")
logger = logging.getLogger("api")

API_PREFIX = "/api/v1"
STAFF_PREFIX = f"{API_PREFIX}/staff/"
"""Every path under it needs a staff token."""

WORKSPACE_PATH = "/staff"
"""The staff workspace (``frontend.workspace``): its pages, like the staff API's answers, are
``Cache-Control: no-store`` (they are one signed-in person's)."""

VERIFY_PATH = f"{API_PREFIX}/verify"
"""Document checks: this path and the paths under it."""

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that are no staff write."""

HSTS = "max-age=31536000; includeSubDomains"
"""``Strict-Transport-Security`` of an answer over TLS: a year, subdomains too."""

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
}
"""Set on every response that does not set them itself (a route's own policy is kept: pages
say ``frame-ancestors 'none'`` themselves, and ``X-Frame-Options: DENY`` covers the rest)."""

REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""A client's own ``X-Request-ID`` is kept when it looks like this; otherwise a new one."""

_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(text: str) -> tuple[Network, ...]:
    """The networks of a comma-separated setting (``"127.0.0.1, ::1, 10.0.0.0/8"``; empty: none)."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def within(host: str, nets: Iterable[Network]) -> bool:
    """Whether the address ``host`` is in one of ``nets`` (``False`` for a name, not an address)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in nets)


def _trusted(scope: Scope) -> tuple[Network, ...]:
    settings = _settings(scope)
    return _cached(scope, "forwarded_allow_ips", lambda: networks(settings.forwarded_allow_ips)) if settings else ()


def route_path(scope: Scope) -> str:
    """The request's path as the routes see it: without the ``root_path`` the server was
    given (``uvicorn --root-path /ledger``), which Starlette keeps in ``scope["path"]``."""
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", "") or "")
    return path[len(root):] if root and path.startswith(root) else path


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def client_address(scope: Scope) -> str:
    """The client of a request: the socket peer, or, when the peer is a trusted proxy
    (``settings.forwarded_allow_ips``), the last ``X-Forwarded-For`` address that is not one;
    ``""`` when unknown."""
    peer = _peer(scope)
    trusted = _trusted(scope)
    if not trusted or not within(peer, trusted):
        return peer
    values = Headers(scope=scope).getlist("x-forwarded-for")
    hops = [hop.strip() for value in values for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not within(hop, trusted):
            return hop
    return hops[0] if hops else peer


def request_scheme(scope: Scope) -> str:
    """``https`` or ``http``: the request's own scheme, or a trusted proxy's ``X-Forwarded-Proto``."""
    scheme = str(scope.get("scheme", "http"))
    trusted = _trusted(scope)
    if trusted and within(_peer(scope), trusted):
        forwarded = Headers(scope=scope).get("x-forwarded-proto")
        if forwarded:
            scheme = forwarded.split(",")[-1].strip().lower()
    return "https" if scheme in ("https", "wss") else "http"


def _settings(scope: Scope) -> Settings | None:
    app = scope.get("app")
    return getattr(getattr(app, "state", None), "settings", None)


def _cached(scope: Scope, name: str, build: Callable[[], Any]) -> Any:
    """``build()`` once per app and settings object (the settings are set in the lifespan)."""
    state = scope["app"].state
    settings = getattr(state, "settings", None)
    cache: dict[str, tuple[Any, Any]] | None = getattr(state, "edges_cache", None)
    if cache is None:
        cache = state.edges_cache = {}
    hit = cache.get(name)
    if hit is None or hit[0] is not settings:
        hit = (settings, build())
        cache[name] = hit
    return hit[1]


# --- rate limits ----------------------------------------------------------------------------

STORE_TIMEOUT_SECONDS = 0.5
"""How long a rate-limit check waits for Redis (connecting, then each reply), seconds; past it
the request goes through and the failure is logged."""


class Refusal:
    """A request over a rate limit.

    Attributes:
        name: which limit (``staff_write``, ``document_check``, ``failed_auth``).
        limit: the limit (``limits.RateLimitItem``).
        retry_after_seconds: when the next request may pass, seconds from now (at least 1).
    """

    def __init__(self, name: str, limit: RateLimitItem, retry_after_seconds: int) -> None:
        self.name = name
        self.limit = limit
        self.retry_after_seconds = retry_after_seconds

    def response(self, detail: str) -> Any:
        """The 429 problem, with ``Retry-After`` and the limit as extension members."""
        metrics.RATE_LIMITED.labels(self.name).inc()
        return problem_response(
            429,
            "rate-limited",
            f"{detail} Retry after {self.retry_after_seconds} s.",
            headers={"Retry-After": str(self.retry_after_seconds)},
            rate_limit=self.name,
            limit_requests=self.limit.amount,
            window_seconds=self.limit.get_expiry(),
            retry_after_seconds=self.retry_after_seconds,
        )


class RateLimiter:
    """Moving-window counters (``limits``), in memory or in the storage at ``storage_url``.

    Args:
        storage_url: a ``limits`` storage URL (``redis://127.0.0.1:6379``); empty: memory.
        namespace: prefix of every key (the ledger's chain id and address: two ledgers sharing
            one Redis keep their own counters).
    """

    def __init__(self, storage_url: str, namespace: str) -> None:
        if not storage_url:
            self.storage = MemoryStorage()
        elif storage_url.startswith(("redis://", "rediss://", "redis+unix://")):
            self.storage = storage_from_string(
                storage_url, socket_connect_timeout=STORE_TIMEOUT_SECONDS, socket_timeout=STORE_TIMEOUT_SECONDS
            )
        else:
            self.storage = storage_from_string(storage_url)
        self._strategy = MovingWindowRateLimiter(self.storage)
        self._namespace = namespace
        self._remote = not isinstance(self.storage, MemoryStorage)

    async def _run(self, call: Callable[[], Any]) -> Any:
        return await anyio.to_thread.run_sync(call) if self._remote else call()

    async def hit(self, name: str, limit: RateLimitItem | None, key: str) -> Refusal | None:
        """Count one request of ``key`` against ``limit`` (``None``: no limit); a
        :class:`Refusal` when it is over (then it is not counted)."""
        return None if limit is None else await self._check(name, limit, key, count=True)

    async def exhausted(self, name: str, limit: RateLimitItem | None, key: str) -> Refusal | None:
        """A :class:`Refusal` when ``key`` has used up ``limit`` (nothing counted)."""
        return None if limit is None else await self._check(name, limit, key, count=False)

    async def _check(self, name: str, limit: RateLimitItem, key: str, *, count: bool) -> Refusal | None:
        identifiers = (self._namespace, name, key)
        try:
            allowed = await self._run(lambda: (self._strategy.hit if count else self._strategy.test)(limit, *identifiers))
            if allowed:
                return None
            stats = await self._run(lambda: self._strategy.get_window_stats(limit, *identifiers))
        except Exception:  # noqa: BLE001 - an unreachable counter store lets the request through
            logger.error("rate limit %s not checked: the counter store failed", name, exc_info=True)
            return None
        return Refusal(name, limit, max(1, math.ceil(stats.reset_time - time.time())))


def rate_limiter(scope: Scope) -> RateLimiter:
    """The app's :class:`RateLimiter` (built on first use from the settings)."""

    def build() -> RateLimiter:
        settings = _settings(scope)
        deployment = getattr(scope["app"].state, "deployment", None)
        namespace = f"ledger:{deployment.chain_id}:{deployment.contract_address}" if deployment else "ledger"
        return RateLimiter(settings.rate_limit_storage_url if settings else "", namespace)

    return _cached(scope, "rate_limiter", build)


def _limit(scope: Scope, name: str) -> RateLimitItem | None:
    """The limit ``settings.<name>_rate_limit``, or ``None`` when it is ``off``."""
    settings = _settings(scope)
    text = getattr(settings, f"{name}_rate_limit", None)
    return None if not text or text == RATE_LIMIT_OFF else _cached(scope, f"limit:{name}", lambda: parse(text))


async def failed_auth_refusal(scope: Scope) -> Refusal | None:
    """The refusal of a client past ``settings.failed_auth_rate_limit`` (failed staff
    authentications, counted by :func:`count_failed_auth`), else ``None``. The staff
    workspace's sign-in form asks this too, so a client guessing passwords across many
    accounts is stopped as one guessing tokens."""
    return await rate_limiter(scope).exhausted("failed_auth", _limit(scope, "failed_auth"), client_address(scope))


async def count_failed_auth(scope: Scope) -> None:
    """Count one failed staff authentication (a bearer token or a sign-in) of the client."""
    metrics.AUTH_FAILURES.inc()
    await rate_limiter(scope).hit("failed_auth", _limit(scope, "failed_auth"), client_address(scope))


# --- the middlewares ------------------------------------------------------------------------


def _bearer_token(scope: Scope) -> str | None:
    """The token of ``Authorization: Bearer <token>`` (as FastAPI's ``HTTPBearer`` reads it)."""
    value = Headers(scope=scope).get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class StaffGateMiddleware:
    """Authenticate staff requests before their body is read; rate-limit failed
    authentications per client and writes per token (module docstring, 5)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not route_path(scope).startswith(STAFF_PREFIX) or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        registry = getattr(scope["app"].state, "staff_registry", None)
        if registry is None or _settings(scope) is None:  # no lifespan: the route's own check answers
            await self.app(scope, receive, send)
            return
        limiter = rate_limiter(scope)
        client = client_address(scope)
        failed_limit = _limit(scope, "failed_auth")
        refusal = await limiter.exhausted("failed_auth", failed_limit, client)
        if refusal is not None:
            await refusal.response("Too many failed staff authentications from this client.")(scope, receive, send)
            return
        token = _bearer_token(scope)
        try:
            registry.authenticate(token)
        except StaffAuthError as exc:
            await count_failed_auth(scope)
            response = problem_response(401, "unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        if scope["method"] in READ_METHODS:
            await self.app(scope, receive, send)
            return
        assert token is not None
        key = hashlib.sha256(token.encode("utf-8")).hexdigest()[:32]  # never the token itself
        refusal = await limiter.hit("staff_write", _limit(scope, "staff_write"), key)
        if refusal is not None:
            await refusal.response("Too many staff writes with this token.")(scope, receive, send)
            return
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            kind = getattr(scope.get("route"), "name", None) or "unknown"
            metrics.STAFF_WRITES.labels(kind, metrics.outcome_of(status)).inc()


class DocumentCheckLimitMiddleware:
    """Rate-limit document checks (``/api/v1/verify``, ``/api/v1/verify/...``) per client."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = route_path(scope)
        if (
            scope["type"] != "http"
            or scope["method"] == "OPTIONS"
            or not (path == VERIFY_PATH or path.startswith(VERIFY_PATH + "/"))
            or _settings(scope) is None
        ):
            await self.app(scope, receive, send)
            return
        refusal = await rate_limiter(scope).hit("document_check", _limit(scope, "document_check"), client_address(scope))
        if refusal is not None:
            await refusal.response("Too many document checks from this client.")(scope, receive, send)
            return
        await self.app(scope, receive, send)


class HeadAsGetMiddleware:
    """Answer every ``HEAD`` as the ``GET`` of the same URL without its body: same status and
    headers (``Content-Length``, ``ETag``, ``Content-Type``, ``Cache-Control`` included), as
    RFC 9110 9.3.2 asks. The API's routes declare only GET (without this every
    ``HEAD /api/v1/...`` would be 405), and a page answered as HEAD by its own route would
    miss the ``ETag`` that :mod:`api.caching` gives only to a whole GET body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)


class CorsMiddleware:
    """Starlette's ``CORSMiddleware`` per audience: public reads (GET, HEAD and their
    preflights) for ``settings.cors_origins``; staff routes for ``settings.cors_staff_origins``.
    Any other request, or an empty list, passes through without CORS headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def _public(self, settings: Settings) -> ASGIApp | None:
        origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
        if not origins:
            return None
        return CORSMiddleware(
            self.app, allow_origins=origins, allow_methods=["GET", "HEAD"],
            expose_headers=["Retry-After", "X-Request-ID"], max_age=600,
        )

    def _staff(self, settings: Settings) -> ASGIApp | None:
        origins = [o.strip() for o in settings.cors_staff_origins.split(",") if o.strip()]
        if not origins:
            return None
        return CORSMiddleware(
            self.app, allow_origins=origins, allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["Retry-After", "X-Request-ID", "Location"], max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = _settings(scope)
        if scope["type"] != "http" or settings is None:
            await self.app(scope, receive, send)
            return
        if route_path(scope).startswith(STAFF_PREFIX):
            cors = _cached(scope, "cors_staff", lambda: self._staff(settings))
        elif scope["method"] in READ_METHODS:
            cors = _cached(scope, "cors_public", lambda: self._public(settings))
        else:
            cors = None
        await (cors or self.app)(scope, receive, send)


class SecurityHeadersMiddleware:
    """Security headers on every response (module docstring, 2)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = route_path(scope)
        staff = path.startswith(STAFF_PREFIX) or path == WORKSPACE_PATH or path.startswith(WORKSPACE_PATH + "/")
        tls = request_scheme(scope) == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=list(message.get("headers", [])))
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if staff:
                    headers["cache-control"] = "no-store"
                if tls:
                    headers["strict-transport-security"] = HSTS
                message["headers"] = headers.raw
            await send(message)

        await self.app(scope, receive, send_with_headers)


class AccessLogMiddleware:
    """The access log, the request id and the HTTP metrics (module docstring, 1)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        given = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(raw=list(message.get("headers", [])))
                headers[REQUEST_ID_HEADER] = request_id
                message["headers"] = headers.raw
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            self._record(scope, status, time.perf_counter() - started, request_id)

    @staticmethod
    def _record(scope: Scope, status: int, seconds: float, request_id: str) -> None:
        method = scope["method"] if scope["method"] in _KNOWN_METHODS else "OTHER"
        route = route_template(scope)
        if route == metrics.METRICS_PATH and status == 404:
            route = metrics.UNMATCHED_ROUTE
        metrics.REQUESTS.labels(method, route, str(status)).inc()
        metrics.DURATION.labels(method, route).observe(seconds)
        duration_ms = round(seconds * 1000, 1)
        access_log.info(
            "%s %s %d %.1f ms",
            method,
            scope["path"],
            status,
            duration_ms,
            extra={
                "method": method,
                "path": scope["path"],
                "status": status,
                "duration_ms": duration_ms,
                "client": client_address(scope),
                "request_id": request_id,
            },
        )


def route_template(scope: Scope) -> str:
    """The template of the route that served the request (``/api/v1/commitments/{commitment_id}``,
    ``/static/{path}`` for a mount), or ``unmatched``. The route knows its path within its
    router; the router prefixes (static in this app) are the part of the request path before
    the route's own pattern matches."""
    route = scope.get("route")
    pattern = getattr(route, "path_regex", None)
    own = getattr(route, "path", None)
    if pattern is None or own is None:
        return metrics.UNMATCHED_ROUTE
    if isinstance(route, Mount):
        own = own.rstrip("/") + "/{path}"
    path = route_path(scope)
    for start in [0, *(i for i, char in enumerate(path) if char == "/" and i > 0)]:
        if pattern.fullmatch(path[start:]) or (isinstance(route, Mount) and pattern.match(path[start:])):
            return path[:start] + own
    return own


def metrics_allowed(request: Request) -> bool:
    """Whether the client of ``request`` is within ``settings.metrics_allow_ips``."""
    settings = _settings(request.scope)
    if settings is None:
        return False
    allowed = _cached(request.scope, "metrics_allow_ips", lambda: networks(settings.metrics_allow_ips))
    return within(client_address(request.scope), allowed)


GZIP_LEVEL = 5
"""zlib level of the responses' gzip (Starlette's default is 9): a list page of 50 (92 KB of
JSON) compresses in 0.6 ms to 11.5 KB instead of 1.6 ms to 10.9 KB, and every answer, kept
ones included, is compressed again for each client that asks."""


def install(app: FastAPI, *, gzip_minimum_bytes: int) -> None:
    """Put the edge middlewares on ``app`` (module docstring: 1 and 2 around Starlette's error
    middleware, 3 to 6 inside it) and add ``GET /metrics``; responses shorter than
    ``gzip_minimum_bytes`` are sent uncompressed."""
    app.add_middleware(DocumentCheckLimitMiddleware)
    app.add_middleware(StaffGateMiddleware)
    app.add_middleware(GZipMiddleware, minimum_size=gzip_minimum_bytes, compresslevel=GZIP_LEVEL)
    app.add_middleware(CorsMiddleware)
    # outside gzip: a HEAD gets the GET's Content-Encoding, Content-Length and Vary
    app.add_middleware(HeadAsGetMiddleware)
    build = app.build_middleware_stack

    def build_with_edges() -> ASGIApp:
        return AccessLogMiddleware(SecurityHeadersMiddleware(build()))

    app.build_middleware_stack = build_with_edges  # type: ignore[method-assign]
    metrics.install(app, metrics_allowed)
