"""HTTP client of the ledger API (docs/API.md), the only module that speaks HTTP.

Every method returns the decoded JSON of a 2xx answer or raises `ApiProblemError` (any non-2xx,
with the RFC 9457 problem document), `ApiUnreachableError` or `WriteTimeoutError`. Rate
limiting (429), gateway errors and an unavailable chain or paused ledger (502/503/504) and
transport errors are retried with backoff, honouring ``Retry-After``, at most
``max_attempts`` times and ``max_retry_seconds`` in all per request; every retry is announced
to ``on_retry``. After ``max_consecutive_failures`` calls in a row failed that way (not the
request's own fault: `is_service_failure`), the next such failure raises
`ConsecutiveFailuresError` instead, which ends a run.

Writes (every staff POST) go to the write outbox of the API: each carries an
``Idempotency-Key`` derived from its content (`LedgerClient.idempotency_key`: the mapping's
municipality code, the operation's path and the row's refs and values, the same on every run)
and ``Prefer: wait=<write_wait_seconds>``. The API answers 201 with the old body (plus
``write``) when the write was confirmed within the wait, 202 ``{"write": Write}`` with
``Location: /api/v1/staff/writes/{id}`` otherwise: the client then polls that location until
the write is ``confirmed`` (its ``result`` is returned, with ``write``) or ``failed`` (its
``problem`` is raised as `ApiProblemError`, with ``write_id``). An API without the outbox
answers 201 without ``write``: returned as is. Retrying a write is safe: the same key returns
the same write, and the importer's external refs make a repeated write answer 409.

Pipelined writes (``pipelined=True``, the applier's default): sent without ``Prefer: wait``,
so the API answers as soon as the write is journaled; a write not settled yet comes back as a
`PendingWrite`, and `LedgerClient.settle` polls it later (at once, then with backoff). The
caller sends the next writes meanwhile; the API journals them in the order they were sent,
so their nonces, and the ids they get, follow that order.

A write the key names that an earlier run sent (created before this request: `_replayed`)
is answered with ``"replayed": true`` added to its result (the applier reports it as already
present, not written now); if that earlier write failed, it is sent again once under a key
derived from the old key and the failed write's id (`_next_key`, the same on every run), so a
row whose write failed once (a paused ledger, a node down) is not stuck on its old failure.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import httpx

from .errors import (
    ApiError,
    ApiProblemError,
    ApiUnreachableError,
    ConsecutiveFailuresError,
    WriteTimeoutError,
    is_service_failure,
)
from .plan import EvidenceFile, RecordDelivery

API_PREFIX = "/api/v1"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_PAGE_SIZE = 100
MAX_KEY_GENERATIONS = 5
"""Most times one call sends a write again under a new key because its key named a write an
earlier run sent that failed (`_next_key`)."""
REPLAY_SLACK_SECONDS = 1.0
"""The resolution of ``created_at`` and ``Date`` (whole seconds): a write created more than
this before the request was sent (on the server's clock) is an earlier request's, answered
with ``"replayed": true``; one created less than about 2 s before counts as this one's."""
MAX_POLL_INTERVAL_SECONDS = 5.0
"""Longest wait between two polls of a write the API accepted (202), unless ``Retry-After``
asks for longer."""
MAX_BATCH_SIZE = 100  # items per batch request (docs/API.md), one transaction each
MAX_BATCH_FILE_BYTES = 48 * 1024 * 1024
"""Most evidence bytes the importer puts in one delivery batch: the API takes a multipart
batch of at most 64 MiB in all (docs/API.md); the rest is room for the items' JSON text."""
MAX_BATCH_LEAVES = 10_000
"""Most leaves the importer puts in one anchored batch: the API takes 1..10,000 deliveries per
``POST /staff/batches`` (``api/schemas.py`` ``MAX_BATCH_LEAVES``); the contract takes any
number (``leafCount`` up to 2**32 - 1)."""


class LedgerClient:
    """Typed calls to the ledger API.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000`` (without ``/api/v1``).
        token: staff bearer token; None for public calls only.
        timeout_seconds: per request; a write may be held up to ``write_wait_seconds`` (an
            API without the outbox: until the receipt), so be generous.
        max_attempts: attempts per request on 429/502/503/504 and transport errors (>= 1).
        retry_backoff_seconds: first wait between attempts, doubled each time, capped at
            ``max_retry_wait_seconds`` (also the cap applied to ``Retry-After``).
        max_retry_seconds: most time one request may take with its retries (waits included);
            None: ``max_attempts`` only.
        max_consecutive_failures: raise `ConsecutiveFailuresError` on the n-th call in a row
            that fails without its own fault; None: never.
        write_wait_seconds: ``Prefer: wait=N`` on writes (0: not sent).
        write_timeout_seconds: most time spent polling one accepted (202) write.
        write_poll_seconds: first wait between two polls of a write (doubled each time).
        idempotency_namespace: the first part of every ``Idempotency-Key`` (the mapping's
            municipality code).
        on_retry: called with a `RetryNotice` before each retry's wait (the CLI logs it).
        before_request: called before each call (the CLI brings its report up to date, so
            it holds every result while the importer waits for the API).
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
        sleep: how to wait (tests pass a no-op).
        clock: monotonic seconds (tests pass a fake advanced by their ``sleep``).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout_seconds: float = 120.0,
        max_attempts: int = 4,
        retry_backoff_seconds: float = 1.0,
        max_retry_wait_seconds: float = 30.0,
        max_retry_seconds: float | None = 60.0,
        max_consecutive_failures: int | None = None,
        write_wait_seconds: int = 10,
        write_timeout_seconds: float = 300.0,
        write_poll_seconds: float = 0.5,
        idempotency_namespace: str = "",
        on_retry: Callable[[RetryNotice], None] | None = None,
        before_request: Callable[[], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.base_url = base_url.rstrip("/")
        self.has_token = bool(token)
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout_seconds, transport=transport)
        self._max_attempts = max(1, max_attempts)
        self._backoff = retry_backoff_seconds
        self._max_wait = max_retry_wait_seconds
        self._max_retry = max_retry_seconds
        self._max_failures = None if max_consecutive_failures is None else max(1, max_consecutive_failures)
        self._failures = 0
        self._write_wait = max(0, int(write_wait_seconds))
        self._write_timeout = write_timeout_seconds
        self._poll = write_poll_seconds
        self._namespace = idempotency_namespace
        self._on_retry = on_retry
        self._before_request = before_request
        self._sleep = sleep
        self._clock = clock

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> LedgerClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # ------------------------------------------------------------------ public reads

    def health(self) -> dict[str, Any]:
        """``GET /health``: ``chain_head_block``, ``indexed_block``, ``lag_blocks``, ``status``..."""
        return self._request("GET", "/health")

    def municipalities(self) -> list[dict[str, Any]]:
        """``GET /municipalities``: every municipality (``id``, ``name``, ``code``...)."""
        return list(self._request("GET", "/municipalities")["data"])

    def municipality(self, municipality_id: int) -> dict[str, Any]:
        """``GET /municipalities/{id}``. Raises `ApiProblemError` (404) if unknown."""
        return self._request("GET", f"/municipalities/{municipality_id}")

    def iter_commitments(self, municipality_id: int, page_size: int = MAX_PAGE_SIZE) -> Iterator[dict[str, Any]]:
        """Every `CommitmentSummary` of a municipality, id ascending, fetched page by page.

        Args:
            municipality_id: the municipality.
            page_size: 1..100 items per request.
        """
        page_size = max(1, min(page_size, MAX_PAGE_SIZE))
        offset = 0
        while True:
            page = self._request(
                "GET", "/commitments",
                params={"municipality_id": municipality_id, "offset": offset, "limit": page_size},
            )
            data = list(page.get("data") or [])
            yield from data
            offset += len(data)
            if not data or offset >= int(page.get("count", 0)):
                return

    def commitment_count(self) -> int:
        """How many commitments the whole ledger holds (``count`` of ``GET /commitments``,
        all municipalities); ids count from 1, so this is also the highest id."""
        return int(self._request("GET", "/commitments", params={"offset": 0, "limit": 1}).get("count", 0))

    def commitment(self, commitment_id: int) -> dict[str, Any]:
        """``GET /commitments/{id}``: `CommitmentDetail` with every delivery in ``deliveries``
        (the detail holds the first page; the rest is read from ``/commitments/{id}/deliveries``
        by cursor, 100 a page, and appended in the same order)."""
        detail = self._request("GET", f"/commitments/{commitment_id}")
        cursor = detail.get("deliveries_next_cursor")
        while cursor:
            page = self._request("GET", f"/commitments/{commitment_id}/deliveries", params={"after": cursor, "limit": 100})
            detail["deliveries"] = list(detail.get("deliveries") or []) + list(page.get("data") or [])
            cursor = page.get("next_cursor")
        return detail

    # ------------------------------------------------------------------ staff

    def me(self) -> dict[str, Any]:
        """``GET /staff/me``: ``municipality_id``, ``municipality_name``, ``registrar``."""
        return self._request("GET", "/staff/me")

    def register_commitment(self, payload: dict[str, Any], *, pipelined: bool = False) -> Any:
        """``POST /staff/commitments`` → ``{"commitment_id", "tx"}`` (with ``pipelined=True``
        possibly a `PendingWrite` to `settle`, as every write below).

        Raises:
            ApiProblemError: e.g. 409 ``duplicate-external-ref`` (``existing_commitment_id``).
        """
        return self._request("POST", "/staff/commitments", json=payload, pipelined=pipelined)

    def register_commitments(self, payloads: list[dict[str, Any]], *, pipelined: bool = False) -> Any:
        """``POST /staff/commitments/batch`` with 1..`MAX_BATCH_SIZE` bodies of
        `register_commitment`, all in one transaction (all or nothing) →
        ``{"commitment_ids": [..] (in input order), "tx": TxResult}``.

        Raises:
            ApiProblemError: the whole batch was refused; an item's refusal carries its 0-based
                ``index`` (e.g. 409 ``duplicate-external-ref`` with ``existing_commitment_id``);
                503 ``ledger-paused`` (after the retries).
        """
        return self._request("POST", "/staff/commitments/batch", json={"commitments": payloads}, pipelined=pipelined)

    def record_deliveries(self, items: list[dict[str, Any]], files: Sequence[EvidenceFile] = (), *,
                          pipelined: bool = False) -> Any:
        """``POST /staff/deliveries/batch`` with 1..`MAX_BATCH_SIZE` items
        (`RecordDelivery.batch_item`: evidence cited by hash), all in one transaction →
        ``{"delivery_ids": [..] (in input order), "tx": TxResult}``.

        With ``files`` (each cited by at least one item, none twice) the batch goes as
        multipart/form-data (``deliveries`` as JSON text, then the ``evidence`` files) and the
        API stores the files once the batch is recorded; without, as JSON.

        Raises:
            ApiProblemError: as `register_commitments` (409 ``duplicate-delivery-ref`` with
                ``existing_delivery_id`` and ``index``); 422 for a file no item cites.
        """
        if not files:
            return self._request("POST", "/staff/deliveries/batch", json={"deliveries": items}, pipelined=pipelined)
        parts: list[tuple[str, tuple[str | None, bytes, str | None]]] = [
            ("deliveries", (None, json.dumps(items, ensure_ascii=False).encode("utf-8"), None))
        ]
        parts += [("evidence", (f.filename, f.content, f.media_type)) for f in files]
        return self._request("POST", "/staff/deliveries/batch", files=parts, pipelined=pipelined)

    def record_delivery(self, commitment_id: int, op: RecordDelivery, *, pipelined: bool = False) -> Any:
        """``POST /staff/commitments/{id}/deliveries`` (multipart, evidence files uploaded) →
        ``{"delivery_id", "commitment_id", "evidence_sha256", "tx"}``.

        Raises:
            ApiProblemError: e.g. 409 ``duplicate-delivery-ref`` (``existing_delivery_id``).
        """
        fields = [
            ("quantity", str(op.quantity)),
            ("delivered_at", str(op.delivered_at)),
            ("note", op.note),
            ("evidence_uri", op.evidence_uri),
            ("external_ref", op.external_ref),
            *(("evidence_sha256", sha) for sha in op.evidence_sha256),
            *((("asset_ref", op.asset_ref),) if op.asset_ref else ()),
        ]
        # Every part goes through `files` so the body is multipart/form-data even without files.
        parts: list[tuple[str, tuple[str | None, bytes, str | None]]] = [
            (name, (None, value.encode("utf-8"), None)) for name, value in fields
        ]
        parts += [("evidence", (f.filename, f.content, f.media_type)) for f in op.evidence_files]
        return self._request("POST", f"/staff/commitments/{commitment_id}/deliveries", files=parts, pipelined=pipelined)

    def anchor_batch(
        self, municipality_id: int, items: list[dict[str, Any]], files: Sequence[EvidenceFile] = (), *, file_uri: str | None = None
    ) -> dict[str, Any]:
        """``POST /staff/batches``: anchor the leaves ``items`` (`RecordDelivery.leaf_item`) as
        one batch in one transaction; the API builds the tree, stores the batch file in its
        evidence store and anchors its root →
        ``{"root", "file_sha256", "file_uri", "leaf_count", "leaves": [{"leaf_hash",
        "leaf_index", "commitment_id", ...}] (in item order), "transaction_hash", "block_number"}``.

        With ``files`` (each cited by at least one item's ``evidence_hashes``, none twice) the
        request is multipart/form-data, as ``POST /staff/deliveries/batch`` takes it: text
        fields ``municipality_id``, ``deliveries`` (the items as JSON text) and ``file_uri``
        when given, then the ``evidence`` files, stored with the batch; without, JSON.

        Raises:
            ApiProblemError: 422 with per-item ``errors`` (``loc`` ``["body", "deliveries",
                i, field]``): nothing was sent; 409 ``batch-already-anchored`` (the contract's
                ``LedgerBatchAlreadyAnchored``): this root is on chain already.
        """
        body: dict[str, Any] = {"municipality_id": municipality_id, "deliveries": items}
        if file_uri:
            body["file_uri"] = file_uri
        if not files:
            return self._request("POST", "/staff/batches", json=body)
        parts: list[tuple[str, tuple[str | None, bytes, str | None]]] = [
            ("municipality_id", (None, str(municipality_id).encode("utf-8"), None)),
            ("deliveries", (None, json.dumps(items, ensure_ascii=False).encode("utf-8"), None)),
        ]
        if file_uri:
            parts.append(("file_uri", (None, file_uri.encode("utf-8"), None)))
        parts += [("evidence", (f.filename, f.content, f.media_type)) for f in files]
        return self._request("POST", "/staff/batches", files=parts)

    def batch(self, root: str) -> dict[str, Any]:
        """``GET /batches/{root}``: the anchored batch (``verified``, ``unverified_reason``,
        ``counted_leaves``, ``chain``...). Raises `ApiProblemError` (404) if not anchored."""
        return self._request("GET", f"/batches/{root}")

    def revoke_batched_delivery(self, root: str, leaf_hash: str, reason: str, *, pipelined: bool = False) -> Any:
        """``POST /staff/batches/{root}/leaves/{leaf_hash}/revocation`` (the API finds the leaf
        and its proof in the stored batch file and calls ``revokeBatchedDelivery``) →
        ``{"leaf_hash", "commitment_id", "tx"}``.

        Raises:
            ApiProblemError: e.g. 409 ``delivery-already-revoked``.
        """
        return self._request("POST", f"/staff/batches/{root}/leaves/{leaf_hash}/revocation", json={"reason": reason},
                             pipelined=pipelined)

    def revoke_delivery(self, delivery_id: int, reason: str, *, pipelined: bool = False) -> Any:
        """``POST /staff/deliveries/{id}/revocation`` → ``{"delivery_id", "commitment_id", "tx"}``.

        Raises:
            ApiProblemError: e.g. 409 ``delivery-already-revoked``.
        """
        return self._request("POST", f"/staff/deliveries/{delivery_id}/revocation", json={"reason": reason},
                             pipelined=pipelined)

    def amend_commitment(self, commitment_id: int, body: dict[str, Any], *, pipelined: bool = False) -> Any:
        """``POST /staff/commitments/{id}/amendments`` with ``{"expected_amendment_count",
        "title"?, "description"?, "target_quantity"? (decimal string), "due_date"? (Unix
        seconds), "reason"}`` (the fields not given stay) → ``{"commitment_id",
        "amendment_number", "tx"}``. There is no batch endpoint: one call per commitment.

        Raises:
            ApiProblemError: 409 ``stale-amendment-count`` (amended since it was read),
                ``amendment-changes-nothing`` (with ``field``), ``commitment-withdrawn``; 422 a
                due date not after the promise date; 404 unknown commitment.
        """
        return self._request("POST", f"/staff/commitments/{commitment_id}/amendments", json=body, pipelined=pipelined)

    # ------------------------------------------------------------------ plumbing

    @property
    def consecutive_failures(self) -> int:
        """Requests in a row that failed for a reason not their own (`is_service_failure`);
        0 after any answer that is not such a failure."""
        return self._failures

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """One call (a POST with its polls counts once): the decoded JSON, or the error; counts
        consecutive service failures and raises `ConsecutiveFailuresError` at the limit.
        ``pipelined=True`` (POST only): a write the API accepted (202) and has not settled yet
        is returned as a `PendingWrite` (`settle` it later)."""
        return self._counted(lambda: self._call(method, API_PREFIX + path, **kwargs))

    def _counted(self, call: Callable[[], Any]) -> Any:
        """Run ``call`` as one request for ``before_request`` and the consecutive failures."""
        if self._before_request is not None:
            self._before_request()
        try:
            answer = call()
        except ApiError as exc:
            if not is_service_failure(exc):
                self._failures = 0
                raise
            self._failures += 1
            if self._max_failures is not None and self._failures >= self._max_failures:
                raise ConsecutiveFailuresError(self._failures, exc) from exc
            raise
        self._failures = 0
        return answer

    def settle(self, pending: PendingWrite) -> dict[str, Any]:
        """Wait for a write sent with ``pipelined=True`` (a `PendingWrite`): poll its location
        at once, then every ``write_poll_seconds`` (doubled each time, at most
        `MAX_POLL_INTERVAL_SECONDS`), until it is confirmed (its result, as the blocking call
        returns it: ``"replayed"`` added) or failed. Counts as one request (consecutive
        failures, ``before_request``). An earlier run's failed write is sent again once under
        the next key, as a blocking call does.

        Raises:
            ApiProblemError: the write failed (its problem, with ``write_id``).
            WriteTimeoutError: not settled within ``write_timeout_seconds``.
            ApiUnreachableError: the API went away while polling.
            ConsecutiveFailuresError: as every call.
        """
        return self._counted(lambda: self._finish(pending))

    def _finish(self, pending: PendingWrite) -> dict[str, Any]:
        try:
            result = self._settle(pending.method, pending.url, pending.write, pending.location, None, poll_first=True)
        except ApiProblemError:
            if not pending.replayed:
                raise
            return self._post(pending.url, _next_key(pending.key, str(pending.write.get("id"))), pending.kwargs,
                              pipelined=False, first_generation=pending.generation + 1)
        result["replayed"] = pending.replayed
        return result

    def _call(self, method: str, url: str, *, pipelined: bool = False, **kwargs: Any) -> Any:
        if method != "POST":
            response = self._send(method, url, **kwargs)
            if response.is_success:
                return response.json() if response.content else {}
            raise ApiProblemError(method, url, response.status_code, _problem_body(response), response.text)
        key = self.idempotency_key(method, url, json_body=kwargs.get("json"), parts=kwargs.get("files"))
        return self._post(url, key, kwargs, pipelined=pipelined)

    def _post(self, url: str, key: str, kwargs: dict[str, Any], *, pipelined: bool,
              first_generation: int = 0) -> dict[str, Any] | PendingWrite:
        """Send a write under ``key`` (and, when ``key`` names an earlier run's failed write,
        under the keys derived from it, `MAX_KEY_GENERATIONS` at most). Blocking: with
        ``Prefer: wait``, then polled until settled. Pipelined: without ``Prefer`` (the API
        answers as soon as the write is journaled) and, when it is not settled yet, returned as
        a `PendingWrite`."""
        method = "POST"
        for generation in range(first_generation, MAX_KEY_GENERATIONS):
            started = self._clock()
            headers = {"Idempotency-Key": key}
            if self._write_wait > 0 and not pipelined:
                headers["Prefer"] = f"wait={self._write_wait}"
            response = self._send(method, url, headers=headers, **kwargs)
            if response.is_success:
                body = _json_object(response) if response.content else {}
                write = body.get("write") if isinstance(body.get("write"), dict) else None
                if response.status_code != 202:
                    if write is not None:
                        body["replayed"] = self._replayed(write, response, started)
                    return body
                write = write if write is not None else body
                replayed = self._replayed(write, response, started)
                location = response.headers.get("Location") or f"{API_PREFIX}/staff/writes/{write.get('id')}"
                if pipelined and str(write.get("state") or "") not in ("confirmed", "failed"):
                    return PendingWrite(method, url, key, write, location, replayed, kwargs, generation)
                try:
                    result = self._settle(method, url, write, location, response.headers.get("Retry-After"))
                except ApiProblemError:
                    if not replayed:
                        raise
                    key = _next_key(key, str(write.get("id")))
                    continue
                result["replayed"] = replayed
                return result
            problem = ApiProblemError(method, url, response.status_code, _problem_body(response), response.text)
            write_id = problem.extension("write_id")
            if not write_id or problem.slug == "idempotency-key-reused" or not self._failed_earlier(str(write_id), response, started):
                raise problem
            key = _next_key(key, str(write_id))
        raise problem  # pragma: no cover - MAX_KEY_GENERATIONS failed writes of earlier runs in a row

    def _replayed(self, write: dict[str, Any], response: httpx.Response, started: float) -> bool:
        """Whether ``write`` was created before this request was sent (an earlier run's, found
        by its key): its ``created_at`` is older than the answer's ``Date`` minus the time the
        request took and `REPLAY_SLACK_SECONDS` (both on the server's clock)."""
        created, date = write.get("created_at"), response.headers.get("Date")
        if created is None or date is None:
            return False
        try:
            server_now = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return False
        return int(created) < server_now - (self._clock() - started) - REPLAY_SLACK_SECONDS

    def _failed_earlier(self, write_id: str, response: httpx.Response, started: float) -> bool:
        """A failed write answered with ``write_id``: was it an earlier request's? (Read with
        ``GET /staff/writes/{id}``; when that cannot be read, no.)"""
        try:
            polled = self._send("GET", f"{API_PREFIX}/staff/writes/{write_id}")
        except ApiError:
            return False
        if not polled.is_success:
            return False
        body = _json_object(polled)
        write = body["write"] if isinstance(body.get("write"), dict) else body
        return write.get("state") == "failed" and self._replayed(write, response, started)

    def _settle(self, method: str, url: str, write: dict[str, Any], location: str, retry_after: str | None,
                *, poll_first: bool = False) -> dict[str, Any]:
        """Poll ``location`` (``GET /staff/writes/{id}``) until the write is confirmed (its
        ``result``, the old 201 body, with ``write`` added) or failed (its problem raised as
        `ApiProblemError`, with ``write_id``); waits start at ``write_poll_seconds``, double up
        to `MAX_POLL_INTERVAL_SECONDS`, ``Retry-After`` wins; bounded by
        ``write_timeout_seconds`` (`WriteTimeoutError`). ``poll_first``: poll once before the
        first wait (a pipelined write, accepted a while ago)."""
        start = self._clock()
        interval = self._poll
        if poll_first and str(write.get("state") or "") not in ("confirmed", "failed"):
            write, retry_after = self._poll_write(location)
        while True:
            state = str(write.get("state") or "")
            if state == "confirmed":
                result = dict(write.get("result") or {})
                result.setdefault("write", write)
                return result
            if state == "failed":
                problem = write.get("problem") if isinstance(write.get("problem"), dict) else {}
                body = {**problem, "write_id": write.get("id")}
                status = int(problem.get("status") or 500)
                raise ApiProblemError(method, url, status, body, json.dumps(problem))
            waited = self._clock() - start
            if waited >= self._write_timeout:
                raise WriteTimeoutError(self.base_url + url, str(write.get("id")), state or "unknown", waited)
            wait = _seconds(retry_after)
            wait = min(interval if wait is None else wait, self._max_wait, max(0.0, self._write_timeout - waited))
            self._sleep(wait)
            interval = min(interval * 2, MAX_POLL_INTERVAL_SECONDS)
            write, retry_after = self._poll_write(location)

    def _poll_write(self, location: str) -> tuple[dict[str, Any], str | None]:
        """``GET`` a write's location: (the Write, its ``Retry-After``)."""
        response = self._send("GET", location)
        if not response.is_success:
            raise ApiProblemError("GET", location, response.status_code, _problem_body(response), response.text)
        body = _json_object(response)
        return (body["write"] if isinstance(body.get("write"), dict) else body), response.headers.get("Retry-After")

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One HTTP request with its retries (transport errors, `RETRY_STATUSES`): at most
        ``max_attempts`` attempts and ``max_retry_seconds`` in all; each retry is announced to
        ``on_retry``. Returns the last response (any status but a retried one) or raises the
        last failure (`ApiUnreachableError`, `ApiProblemError`)."""
        start = self._clock()
        attempt = 0
        while True:
            attempt += 1
            retry_after = None
            try:
                response = self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                failure: ApiError = ApiUnreachableError(self.base_url + url, exc)
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                failure = ApiProblemError(method, url, response.status_code, _problem_body(response), response.text)
                reason = f"{failure.status} {failure.slug}"
                retry_after = response.headers.get("Retry-After")
            wait = self._wait(attempt, retry_after)
            elapsed = self._clock() - start
            if attempt >= self._max_attempts or (self._max_retry is not None and elapsed + wait > self._max_retry):
                raise failure
            if self._on_retry is not None:
                self._on_retry(RetryNotice(method, url, attempt, wait, reason, elapsed, self._max_retry))
            self._sleep(wait)

    def _wait(self, attempt: int, retry_after: str | None) -> float:
        seconds = _seconds(retry_after)
        if seconds is not None:
            return min(seconds, self._max_wait)
        return min(self._backoff * 2 ** (attempt - 1), self._max_wait)

    def idempotency_key(self, method: str, url: str, *, json_body: Any = None,
                        parts: Sequence[tuple[str, tuple[str | None, bytes, str | None]]] | None = None) -> str:
        """The ``Idempotency-Key`` of a write: ``importer-`` + 40 hex of the SHA-256 of the
        namespace (the mapping's municipality code), the method and path, and the request's
        content (JSON canonically; multipart fields by name and value, files by name, media
        type and SHA-256). The content carries the row's external refs, so the key names
        the source row(s) and the operation, and is the same on every run that sends the same
        request: a re-run after a kill gets the same write, never a second one; a changed row
        gets a new key (never 422 ``idempotency-key-reused``)."""
        digest = hashlib.sha256()
        digest.update(json.dumps([self._namespace, method, url], ensure_ascii=False).encode("utf-8"))
        if json_body is not None:
            digest.update(json.dumps(json_body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        for name, (filename, content, media_type) in parts or ():
            digest.update(json.dumps([name, filename, media_type, hashlib.sha256(content).hexdigest()]).encode("utf-8"))
        return "importer-" + digest.hexdigest()[:40]


@dataclass(frozen=True)
class PendingWrite:
    """A write sent with ``pipelined=True`` that the API journaled (202) and has not settled
    yet: give it to `LedgerClient.settle`.

    Attributes:
        method, url: the request (path from the API root).
        key: the ``Idempotency-Key`` it was sent under.
        write: the Write document of the answer (``id``, ``state``...).
        location: where to poll it (``/api/v1/staff/writes/{id}``).
        replayed: an earlier run sent it (found by its key).
        kwargs: the request's body (to send it again under the next key if an earlier run's
            write failed).
        generation: how many keys were derived before this one (`MAX_KEY_GENERATIONS`).
    """

    method: str
    url: str
    key: str
    write: dict[str, Any]
    location: str
    replayed: bool
    kwargs: dict[str, Any]
    generation: int = 0

    @property
    def write_id(self) -> str:
        """The API's write id."""
        return str(self.write.get("id"))


@dataclass(frozen=True)
class RetryNotice:
    """One retry about to happen (for ``on_retry``, which the CLI logs).

    Attributes:
        method, url: the request (path from the API root, e.g. ``/api/v1/health``).
        attempt: the attempt that just failed (1-based).
        wait_seconds: the wait before the next attempt.
        reason: ``"503 ledger-paused"``, ``"ConnectError: ..."``.
        elapsed_seconds: spent on this request so far (before the wait).
        budget_seconds: ``max_retry_seconds`` (None: attempts only).
    """

    method: str
    url: str
    attempt: int
    wait_seconds: float
    reason: str
    elapsed_seconds: float
    budget_seconds: float | None

    def describe(self) -> str:
        """``GET /api/v1/health: 503 ledger-paused; retry 2 in 2.0 s (3 s of 60 s used)``."""
        budget = "" if self.budget_seconds is None else f" ({self.elapsed_seconds:.0f} s of {self.budget_seconds:.0f} s used)"
        return f"{self.method} {self.url}: {self.reason}; retry {self.attempt + 1} in {self.wait_seconds:.1f} s{budget}"


def _next_key(key: str, failed_write_id: str) -> str:
    """The key of a write sent again because ``key`` names a failed write of an earlier run:
    derived from both, so it is the same on every run too."""
    return "importer-" + hashlib.sha256(f"{key}/after/{failed_write_id}".encode("utf-8")).hexdigest()[:40]


def _seconds(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds (an HTTP date is ignored: backoff applies)."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _problem_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
