"""Prometheus metrics (``prometheus-client``) and ``GET /metrics``.

Counted by the edge middlewares (``api.edges``):

- ``ledger_http_requests_total{method, route, status}`` and
  ``ledger_http_request_duration_seconds{method, route}`` (a histogram, seconds): ``route`` is
  the route's template (``/api/v1/commitments/{commitment_id}``), ``unmatched`` for a path no
  route serves (so scanners cannot blow up the label set);
- ``ledger_staff_writes_total{kind, outcome}``: ``kind`` the route's name
  (``register_commitment``, ...), ``outcome`` ``accepted`` (2xx), ``refused`` (4xx) or
  ``failed`` (5xx);
- ``ledger_rate_limit_refusals_total{limit}``: ``staff_write``, ``document_check``,
  ``failed_auth``;
- ``ledger_staff_auth_failures_total``: requests under ``/api/v1/staff/`` whose token was
  missing or unknown.

Read from the index at each scrape (:class:`IndexCollector`): ``ledger_index_lag_blocks``
(chain head seen minus last indexed block), ``ledger_index_head_age_seconds`` (now minus when
the indexer last saw the head, Unix seconds), ``ledger_index_last_block``; and, when the write
outbox exists (``ledger.db.outbox``), ``ledger_outbox_writes{state}``. Before the indexer's
first pass these are absent.

Several API processes: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder, the same for every
process (emptied before they start); each process's counters are written there and ``/metrics``
of any process sums them all (``prometheus_client.multiprocess``). The index gauges are read
from the shared database, so every process answers the same.

``/metrics`` is outside ``/api/v1`` and the OpenAPI schema, and answers only clients within
``settings.metrics_allow_ips`` (loopback by default); any other client gets 404.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import time
from typing import Any, Callable, Iterable

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger("api")

METRICS_PATH = "/metrics"

UNMATCHED_ROUTE = "unmatched"
"""The ``route`` label of a request no route served."""

REQUESTS = Counter("ledger_http_requests", "HTTP requests answered.", ["method", "route", "status"])
DURATION = Histogram(
    "ledger_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, seconds.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0),
)
STAFF_WRITES = Counter("ledger_staff_writes", "Staff writes by kind and outcome.", ["kind", "outcome"])
RATE_LIMITED = Counter("ledger_rate_limit_refusals", "Requests refused by a rate limit (429).", ["limit"])
AUTH_FAILURES = Counter("ledger_staff_auth_failures", "Staff requests with a missing or unknown token (401).")


def outcome_of(status: int) -> str:
    """``accepted`` (< 400), ``refused`` (4xx) or ``failed`` (5xx)."""
    return "accepted" if status < 400 else "refused" if status < 500 else "failed"


class IndexCollector(Collector):
    """The index's progress, read from the indexer's checkpoint at each scrape.

    Args:
        session_factory: returns the app's session factory, or ``None`` before the lifespan.
        now: the clock, Unix seconds.
    """

    def __init__(self, session_factory: Callable[[], Any], now: Callable[[], float] = time.time) -> None:
        self._session_factory = session_factory
        self._now = now

    def collect(self) -> Iterable[GaugeMetricFamily]:
        factory = self._session_factory()
        if factory is None:
            return []
        from ledger.db import repository

        try:
            with factory() as session:
                checkpoint = repository.get_checkpoint(session) or {}
        except Exception:  # noqa: BLE001 - a scrape never fails because the database is down
            logger.warning("/metrics: the index could not be read", exc_info=True)
            return []
        try:
            with factory() as session:
                outbox = _outbox_counts(session)
        except Exception:  # noqa: BLE001 - nor because the outbox cannot be read
            logger.warning("/metrics: the write outbox could not be read", exc_info=True)
            outbox = None
        families = []
        head, indexed, seen_at = (checkpoint.get(k) for k in ("chain_head_block", "last_block", "head_seen_at"))
        if head is not None and indexed is not None:
            families.append(GaugeMetricFamily("ledger_index_lag_blocks", "Chain head seen minus last indexed block.", value=max(0, head - indexed)))
            families.append(GaugeMetricFamily("ledger_index_last_block", "Last block whose events are indexed.", value=indexed))
        if seen_at is not None:
            families.append(
                GaugeMetricFamily(
                    "ledger_index_head_age_seconds",
                    "Seconds since the indexer last saw the chain head.",
                    value=max(0.0, self._now() - seen_at),
                )
            )
        if outbox is not None:
            family = GaugeMetricFamily("ledger_outbox_writes", "Staff writes in the outbox by state.", labels=["state"])
            for state, count in sorted(outbox.items()):
                family.add_metric([str(state)], count)
            families.append(family)
        return families


def _outbox_counts(session: Any) -> dict[str, int] | None:
    """Writes by state from ``ledger.db.outbox.count_by_state(session)`` (every state of
    ``outbox.STATES``, 0 when none) when that module exists (the write outbox), else ``None``."""
    if importlib.util.find_spec("ledger.db.outbox") is None:
        return None
    outbox = importlib.import_module("ledger.db.outbox")
    count_by_state = getattr(outbox, "count_by_state", None)
    if not callable(count_by_state):
        return None
    counts = {str(state): 0 for state in getattr(outbox, "STATES", ())}  # every state, 0 when none
    counts.update({str(state): int(count) for state, count in dict(count_by_state(session)).items()})
    return counts


def registry_for(app: FastAPI) -> CollectorRegistry:
    """The registry ``/metrics`` of ``app`` serves: this process's counters (or, with
    ``PROMETHEUS_MULTIPROC_DIR``, every process's), plus the index gauges. Built once."""
    registry = getattr(app.state, "metrics_registry", None)
    if registry is not None:
        return registry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = CollectorRegistry()
        registry.register(_Forward(REGISTRY))
    registry.register(IndexCollector(lambda: getattr(app.state, "session_factory", None)))
    app.state.metrics_registry = registry
    return registry


class _Forward(Collector):
    """The default registry's metrics, inside another registry."""

    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterable[Any]:
        return self._source.collect()


def install(app: FastAPI, allowed: Callable[[Request], bool]) -> None:
    """Add ``GET /metrics`` (not in the schema); ``allowed(request)`` decides who may read it
    (a 404 problem for everybody else)."""
    from api.problems import problem_response

    @app.api_route(METRICS_PATH, methods=["GET", "HEAD"], include_in_schema=False)
    def metrics(request: Request) -> Response:
        if not allowed(request):
            return problem_response(404, "not-found", f"Nothing at {METRICS_PATH}.")
        return Response(generate_latest(registry_for(request.app)), media_type=CONTENT_TYPE_LATEST)
