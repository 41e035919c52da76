"""HTTP client of the ledger API (docs/API.md), the only module that speaks HTTP.

Every method returns the decoded JSON of a 2xx answer or raises `ApiProblemError` (any non-2xx,
with the RFC 9457 problem document) or `ApiUnreachableError`. Rate limiting (429) and an
unavailable chain or paused ledger (503) are retried with backoff, honouring ``Retry-After``;
the API writes nothing when it answers with an error, and the importer's external refs make a
repeated write answer 409, so retrying a write is safe.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any

import httpx

from .errors import ApiProblemError, ApiUnreachableError
from .plan import EvidenceFile, RecordDelivery

API_PREFIX = "/api/v1"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_PAGE_SIZE = 100
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
        timeout_seconds: per request; writes wait for the transaction receipt, so be generous.
        max_attempts: attempts per request on 429/502/503/504 and transport errors (>= 1).
        retry_backoff_seconds: first wait between attempts, doubled each time, capped at
            ``max_retry_wait_seconds`` (also the cap applied to ``Retry-After``).
        transport: an httpx transport (tests pass ``httpx.MockTransport``).
        sleep: how to wait (tests pass a no-op).
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
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
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
        self._sleep = sleep

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
        """``GET /commitments/{id}``: `CommitmentDetail` with ``deliveries``."""
        return self._request("GET", f"/commitments/{commitment_id}")

    # ------------------------------------------------------------------ staff

    def me(self) -> dict[str, Any]:
        """``GET /staff/me``: ``municipality_id``, ``municipality_name``, ``registrar``."""
        return self._request("GET", "/staff/me")

    def register_commitment(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``POST /staff/commitments`` → ``{"commitment_id", "tx"}``.

        Raises:
            ApiProblemError: e.g. 409 ``duplicate-external-ref`` (``existing_commitment_id``).
        """
        return self._request("POST", "/staff/commitments", json=payload)

    def register_commitments(self, payloads: list[dict[str, Any]]) -> dict[str, Any]:
        """``POST /staff/commitments/batch`` with 1..`MAX_BATCH_SIZE` bodies of
        `register_commitment`, all in one transaction (all or nothing) →
        ``{"commitment_ids": [..] (in input order), "tx": TxResult}``.

        Raises:
            ApiProblemError: the whole batch was refused; an item's refusal carries its 0-based
                ``index`` (e.g. 409 ``duplicate-external-ref`` with ``existing_commitment_id``);
                503 ``ledger-paused`` (after the retries).
        """
        return self._request("POST", "/staff/commitments/batch", json={"commitments": payloads})

    def record_deliveries(self, items: list[dict[str, Any]], files: Sequence[EvidenceFile] = ()) -> dict[str, Any]:
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
            return self._request("POST", "/staff/deliveries/batch", json={"deliveries": items})
        parts: list[tuple[str, tuple[str | None, bytes, str | None]]] = [
            ("deliveries", (None, json.dumps(items, ensure_ascii=False).encode("utf-8"), None))
        ]
        parts += [("evidence", (f.filename, f.content, f.media_type)) for f in files]
        return self._request("POST", "/staff/deliveries/batch", files=parts)

    def record_delivery(self, commitment_id: int, op: RecordDelivery) -> dict[str, Any]:
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
        return self._request("POST", f"/staff/commitments/{commitment_id}/deliveries", files=parts)

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

    def revoke_batched_delivery(self, root: str, leaf_hash: str, reason: str) -> dict[str, Any]:
        """``POST /staff/batches/{root}/leaves/{leaf_hash}/revocation`` (the API finds the leaf
        and its proof in the stored batch file and calls ``revokeBatchedDelivery``) →
        ``{"leaf_hash", "commitment_id", "tx"}``.

        Raises:
            ApiProblemError: e.g. 409 ``delivery-already-revoked``.
        """
        return self._request("POST", f"/staff/batches/{root}/leaves/{leaf_hash}/revocation", json={"reason": reason})

    def revoke_delivery(self, delivery_id: int, reason: str) -> dict[str, Any]:
        """``POST /staff/deliveries/{id}/revocation`` → ``{"delivery_id", "commitment_id", "tx"}``.

        Raises:
            ApiProblemError: e.g. 409 ``delivery-already-revoked``.
        """
        return self._request("POST", f"/staff/deliveries/{delivery_id}/revocation", json={"reason": reason})

    # ------------------------------------------------------------------ plumbing

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        url = API_PREFIX + path
        for attempt in range(1, self._max_attempts + 1):
            try:
                response = self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt == self._max_attempts:
                    raise ApiUnreachableError(self.base_url + url, exc) from exc
                self._sleep(self._wait(attempt, None))
                continue
            if response.status_code in RETRY_STATUSES and attempt < self._max_attempts:
                self._sleep(self._wait(attempt, response.headers.get("Retry-After")))
                continue
            if response.is_success:
                return response.json() if response.content else {}
            raise ApiProblemError(method, url, response.status_code, _problem_body(response), response.text)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(float(retry_after), self._max_wait)
            except ValueError:
                pass
        return min(self._backoff * 2 ** (attempt - 1), self._max_wait)


def _problem_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
