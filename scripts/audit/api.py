"""Read the server's JSON API (docs/API.md) for the comparison, over plain HTTP.

Only ``GET`` requests on the citizens' endpoints: ``/api/v1/health``,
``/api/v1/municipalities``, ``/api/v1/commitments`` (every page, ``limit`` <= 100),
``/api/v1/commitments/{id}``, ``/api/v1/batches`` (every page) and ``/api/v1/batches/{root}``;
and, when the auditor asks for it, a batch's file (``/api/v1/batches/{root}/file``, exact bytes,
checked by the replay against the chain like any other copy). The answers are kept as the
decoded JSON (dicts), untouched, so the comparison sees exactly what a citizen would.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import requests

from scripts.audit.errors import ApiFetchError

API_PREFIX = "/api/v1"
MAX_PAGE_LIMIT = 100
"""Largest ``limit`` the API accepts on list endpoints."""


class ApiClient:
    """GETs against one API server.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000`` (a trailing ``/api/v1`` is accepted too).
        timeout_seconds: HTTP timeout per request, seconds.
        page_limit: page size for list endpoints, 1..100.
    """

    def __init__(self, base_url: str, *, timeout_seconds: float = 30.0, page_limit: int = MAX_PAGE_LIMIT) -> None:
        base = base_url.rstrip("/")
        if base.endswith(API_PREFIX):
            base = base[: -len(API_PREFIX)]
        self.base_url = base
        self.timeout_seconds = timeout_seconds
        self.page_limit = max(1, min(page_limit, MAX_PAGE_LIMIT))
        self._session = requests.Session()

    def _response(self, path: str, params: dict[str, Any] | None, allow_404: bool) -> requests.Response | None:
        url = f"{self.base_url}{API_PREFIX}{path}"
        try:
            response = self._session.get(url, params=params, timeout=self.timeout_seconds)
        except requests.RequestException as exc:
            raise ApiFetchError(url, repr(exc)) from exc
        if response.status_code == 404 and allow_404:
            return None
        if response.status_code != 200:
            raise ApiFetchError(url, f"HTTP {response.status_code}: {response.text[:200]}", response.status_code)
        return response

    def _get(self, path: str, params: dict[str, Any] | None = None, *, allow_404: bool = False) -> Any:
        url = f"{self.base_url}{API_PREFIX}{path}"
        response = self._response(path, params, allow_404)
        if response is None:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise ApiFetchError(url, f"answer is not JSON: {exc}", response.status_code) from exc

    def health(self) -> dict[str, Any]:
        """``GET /api/v1/health``: chain id, contract, ``indexed_block``, ...

        Raises:
            ApiFetchError: unreachable, not 200, or not JSON.
        """
        return self._get("/health")

    def municipalities(self) -> list[dict[str, Any]]:
        """Every ``Municipality`` of ``GET /api/v1/municipalities``.

        Raises:
            ApiFetchError: unreachable, not 200, or not JSON.
        """
        page = self._get("/municipalities")
        try:
            return list(page["data"])
        except (KeyError, TypeError) as exc:
            raise ApiFetchError(f"{self.base_url}{API_PREFIX}/municipalities", f"no 'data' list in {page!r:.200}") from exc

    def _pages(self, path: str) -> list[dict[str, Any]]:
        """Every row of the list endpoint ``path``, all pages, in API order."""
        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self._get(path, {"offset": offset, "limit": self.page_limit})
            try:
                data = list(page["data"])
                total = int(page["count"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ApiFetchError(
                    f"{self.base_url}{API_PREFIX}{path}", f"no 'data' list and 'count' in {page!r:.200}"
                ) from exc
            rows.extend(data)
            offset += len(data)
            if offset >= total:
                return rows
            if not data:
                raise ApiFetchError(
                    f"{self.base_url}{API_PREFIX}{path}", f"empty page at offset {offset} although count is {total}"
                )

    def commitment_summaries(self) -> list[dict[str, Any]]:
        """Every ``CommitmentSummary`` of ``GET /api/v1/commitments``, all pages, in API order.

        Raises:
            ApiFetchError: unreachable, not 200, not JSON, or the pages do not add up (the total
                ``count`` is never reached although pages come back empty).
        """
        return self._pages("/commitments")

    def batches(self) -> list[dict[str, Any]]:
        """Every ``BatchSummary`` of ``GET /api/v1/batches``, all pages, in API order.

        Raises:
            ApiFetchError: as :meth:`commitment_summaries`.
        """
        return self._pages("/batches")

    def batch(self, root: str) -> dict[str, Any] | None:
        """``BatchDetail`` (with its leaves) of ``GET /api/v1/batches/{root}``, ``None`` on 404.

        Raises:
            ApiFetchError: unreachable, another non-200 status, or not JSON.
        """
        return self._get(f"/batches/{root}", allow_404=True)

    def batch_file(self, root: str) -> bytes | None:
        """The exact bytes of ``GET /api/v1/batches/{root}/file``, ``None`` on 404 (the
        server does not hold the file). Nothing is checked here: the replay checks the bytes
        against the chain.

        Raises:
            ApiFetchError: unreachable or another non-200 status.
        """
        response = self._response(f"/batches/{root}/file", None, True)
        return None if response is None else response.content

    def commitment(self, commitment_id: int) -> dict[str, Any] | None:
        """``CommitmentDetail`` of ``GET /api/v1/commitments/{id}``, ``None`` on 404, with
        every delivery in ``deliveries``: the detail holds the first page, the rest is read
        from ``GET /api/v1/commitments/{id}/deliveries`` by cursor (``deliveries_next_cursor``,
        then each page's ``next_cursor``), 100 a page, appended in the API's order.

        Raises:
            ApiFetchError: unreachable, another non-200 status, or not JSON.
        """
        detail = self._get(f"/commitments/{commitment_id}", allow_404=True)
        cursor = detail.get("deliveries_next_cursor") if isinstance(detail, dict) else None
        while cursor:
            page = self._get(f"/commitments/{commitment_id}/deliveries", {"after": cursor, "limit": 100})
            detail["deliveries"] = list(detail.get("deliveries") or []) + list(page.get("data") or [])
            cursor = page.get("next_cursor")
        return detail


@dataclass
class ApiSnapshot:
    """What the API said, as decoded JSON.

    Attributes:
        health: the health answer.
        municipalities: every ``Municipality``.
        summaries: every ``CommitmentSummary`` (list pages).
        commitments: ``CommitmentDetail`` by id, for every id of the list and of the chain.
            An id the API answers 404 for is absent.
        batches: every ``BatchSummary`` (list pages).
        batch_details: ``BatchDetail`` by root, for every root of the list and of the chain
            (absent when the API answers 404).
        fetched_from, fetched_to: Unix seconds around the fetch (statuses on the API side are
            evaluated somewhere in this window).
    """

    health: dict[str, Any]
    municipalities: list[dict[str, Any]]
    summaries: list[dict[str, Any]]
    commitments: dict[int, dict[str, Any]]
    fetched_from: int
    fetched_to: int
    batches: list[dict[str, Any]] = field(default_factory=list)
    batch_details: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        """The dict form :func:`scripts.audit.compare.compare_with_api` takes."""
        return {
            "health": self.health,
            "municipalities": self.municipalities,
            "summaries": self.summaries,
            "commitments": list(self.commitments.values()),
            "batches": self.batches,
            "batch_details": list(self.batch_details.values()),
        }


def fetch_snapshot(
    client: ApiClient,
    *,
    extra_ids: set[int] | frozenset[int] = frozenset(),
    extra_roots: set[str] | frozenset[str] = frozenset(),
    detail_workers: int = 8,
) -> ApiSnapshot:
    """Fetch health, municipalities, every commitment page and detail, every batch page and
    detail.

    Args:
        client: the API client.
        extra_ids: ids to fetch in detail even if the list does not show them (the chain's
            ids), so a commitment the list omits is still looked up.
        extra_roots: batch roots to fetch in detail likewise (the chain's).
        detail_workers: parallel detail requests.

    Raises:
        ApiFetchError: any request failed.
    """
    fetched_from = int(time.time())
    health = client.health()
    municipalities = client.municipalities()
    summaries = client.commitment_summaries()
    listed = {row["id"] for row in summaries if isinstance(row, dict) and isinstance(row.get("id"), int)}
    ids = sorted(listed | set(extra_ids))
    batches = client.batches()
    listed_roots = {row["root"].lower() for row in batches if isinstance(row, dict) and isinstance(row.get("root"), str)}
    roots = sorted(listed_roots | {r.lower() for r in extra_roots})
    with ThreadPoolExecutor(max_workers=max(1, detail_workers)) as pool:
        details = dict(zip(ids, pool.map(client.commitment, ids)))
        batch_details = dict(zip(roots, pool.map(client.batch, roots)))
    fetched_to = int(time.time())
    return ApiSnapshot(
        health=health,
        municipalities=municipalities,
        summaries=summaries,
        commitments={i: d for i, d in details.items() if d is not None},
        fetched_from=fetched_from,
        fetched_to=fetched_to,
        batches=batches,
        batch_details={r: d for r, d in batch_details.items() if d is not None},
    )


@dataclass(frozen=True)
class IndexWait:
    """Outcome of :func:`wait_for_index`.

    Attributes:
        health: the last health answer.
        caught_up: whether ``indexed_block`` reached the wanted block.
        waited_seconds: time spent waiting, seconds (0 when it was already there).
    """

    health: dict[str, Any]
    caught_up: bool
    waited_seconds: float


def wait_for_index(
    client: ApiClient,
    block_number: int,
    *,
    wait_seconds: float,
    poll_interval_seconds: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> IndexWait:
    """Poll ``/health`` until its ``indexed_block`` >= ``block_number`` or ``wait_seconds`` pass.

    Raises:
        ApiFetchError: the health endpoint cannot be read.
    """
    started = time.monotonic()
    while True:
        health = client.health()
        indexed = health.get("indexed_block")
        if isinstance(indexed, int) and indexed >= block_number:
            return IndexWait(health, True, time.monotonic() - started)
        if time.monotonic() - started >= wait_seconds:
            return IndexWait(health, False, time.monotonic() - started)
        sleep(poll_interval_seconds)
