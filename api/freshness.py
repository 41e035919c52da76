"""How fresh the index is, and whether the node answers: shared by ``/health``, the readiness
probe, the staleness headers of every read and the site's notice.

- :class:`NodeProbe`: ``eth_blockNumber`` through ``ledger.chain`` with a short timeout
  (``settings.node_probe_timeout_seconds``, 2 s by default), its answer cached for
  ``settings.node_probe_cache_seconds`` (3 s) so that a flood of probes reaches the node at
  most once per period; one probe at a time (the others get the last answer while it runs).
- :class:`IndexFreshness`: the indexer's checkpoint (one query), cached for
  :data:`CHECKPOINT_CACHE_SECONDS` (1 s).
- :class:`FreshnessHeadersMiddleware`: every ``GET``/``HEAD`` answer under ``/api/v1`` (reads;
  staff writes use other methods) carries ``X-Ledger-Indexed-Block`` (last indexed block,
  inclusive) and ``X-Ledger-Index-Age`` (seconds since the indexer last saw the chain head:
  now − ``head_seen_at``); both are left out before the indexer's first pass.

Reads never need the node: while it or the indexer is down they are served from the index and
these headers say how old it is.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import anyio.to_thread
from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.chain import LedgerChain
from ledger.db import repository
from ledger.errors import ChainUnavailableError

API_PREFIX = "/api/v1"
CHECKPOINT_CACHE_SECONDS = 1.0
"""How long one checkpoint read serves the staleness headers, seconds."""

INDEXED_BLOCK_HEADER = "X-Ledger-Indexed-Block"
INDEX_AGE_HEADER = "X-Ledger-Index-Age"
READ_METHODS = frozenset({"GET", "HEAD"})


class NodeProbe:
    """Does the node answer ``eth_blockNumber`` within ``timeout_seconds``? Cached.

    Args:
        chain: a client of the node built with the short timeout (only ``head_block_number``
            is called).
        cache_seconds: how long an answer is reused, seconds.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, chain: LedgerChain, cache_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.chain = chain
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._answer: tuple[float, int | None] | None = None  # (monotonic time, head or None)

    def head(self) -> int | None:
        """The node's head block number, or ``None`` when it did not answer (as of at most
        ``cache_seconds`` ago). Never raises for an unreachable node."""
        answer = self._answer
        if answer is not None and self._clock() - answer[0] < self.cache_seconds:
            return answer[1]
        if not self._lock.acquire(blocking=answer is None):
            return answer[1] if answer is not None else None  # a probe is running: last answer
        try:
            try:
                head: int | None = self.chain.head_block_number()
            except (ChainUnavailableError, ValueError):
                head = None
            self._answer = (self._clock(), head)
            return head
        finally:
            self._lock.release()

    def reachable(self) -> bool:
        """Whether the node answered (:meth:`head` is not ``None``)."""
        return self.head() is not None


@dataclass(frozen=True)
class IndexState:
    """The checkpoint as the probes see it: ``indexed_block`` (inclusive), ``head_block``
    (latest head the indexer saw), ``head_seen_at`` (Unix s); each ``None`` before the
    indexer's first pass; ``checkpoint`` the raw ``repository.get_checkpoint`` dict or ``None``."""

    indexed_block: int | None
    head_block: int | None
    head_seen_at: int | None
    checkpoint: dict[str, Any] | None

    def age_seconds(self, now: int) -> int | None:
        """``now − head_seen_at`` (not below 0), seconds; ``None`` before the first pass."""
        return None if self.head_seen_at is None else max(0, now - self.head_seen_at)


class IndexFreshness:
    """The indexer's checkpoint, read at most once per ``cache_seconds``.

    Args:
        session_factory: sessions of the index.
        cache_seconds: reuse period, seconds.
    """

    def __init__(self, session_factory: Any, cache_seconds: float = CHECKPOINT_CACHE_SECONDS) -> None:
        self.session_factory = session_factory
        self.cache_seconds = cache_seconds
        self._read: tuple[float, IndexState] | None = None

    def fresh(self) -> bool:
        """Whether the cached state may still be used (no query needed)."""
        return self._read is not None and time.monotonic() - self._read[0] < self.cache_seconds

    def state(self) -> IndexState:
        """The checkpoint (cached; one query when the cache expired)."""
        read = self._read
        if read is not None and time.monotonic() - read[0] < self.cache_seconds:
            return read[1]
        with self.session_factory() as session:
            checkpoint = repository.get_checkpoint(session)
        state = IndexState(
            indexed_block=(checkpoint or {}).get("last_block"),
            head_block=(checkpoint or {}).get("chain_head_block"),
            head_seen_at=(checkpoint or {}).get("head_seen_at"),
            checkpoint=checkpoint,
        )
        self._read = (time.monotonic(), state)
        return state


def node_probe(app: FastAPI) -> NodeProbe:
    """The app's :class:`NodeProbe`, built on first use from its settings and deployment."""
    probe: NodeProbe | None = getattr(app.state, "node_probe", None)
    if probe is None:
        settings = app.state.settings
        chain = LedgerChain(
            settings.rpc_url, app.state.deployment, request_timeout_seconds=settings.node_probe_timeout_seconds
        )
        probe = app.state.node_probe = NodeProbe(chain, settings.node_probe_cache_seconds)
    return probe


def index_freshness(app: FastAPI) -> IndexFreshness:
    """The app's :class:`IndexFreshness`, built on first use."""
    freshness: IndexFreshness | None = getattr(app.state, "index_freshness", None)
    if freshness is None:
        freshness = app.state.index_freshness = IndexFreshness(app.state.session_factory)
    return freshness


class FreshnessHeadersMiddleware:
    """``X-Ledger-Indexed-Block`` and ``X-Ledger-Index-Age`` on every read under ``/api/v1``
    (module docstring). A failing checkpoint read leaves the headers out, never the answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in READ_METHODS
            or not scope["path"].startswith(API_PREFIX + "/")
            or getattr(scope["app"].state, "session_factory", None) is None
        ):
            await self.app(scope, receive, send)
            return
        freshness = index_freshness(scope["app"])
        try:
            state = freshness.state() if freshness.fresh() else await anyio.to_thread.run_sync(freshness.state)
        except Exception:  # the index is unreadable: the route answers (or fails) on its own
            state = None

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start" and state is not None and state.indexed_block is not None:
                headers = MutableHeaders(raw=list(message.get("headers", [])))
                headers[INDEXED_BLOCK_HEADER] = str(state.indexed_block)
                age = state.age_seconds(int(time.time()))
                if age is not None:
                    headers[INDEX_AGE_HEADER] = str(age)
                message["headers"] = headers.raw
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install(app: FastAPI) -> None:
    """Put :class:`FreshnessHeadersMiddleware` on ``app``."""
    app.add_middleware(FreshnessHeadersMiddleware)
