"""Open-data downloads: every commitment or delivery matching the list's filters, as CSV (for
spreadsheets) or JSON (for programs), each crediting its sources.

Routes (``router``, left out of the OpenAPI schema; the JSON API under ``/api/v1`` stays the
documented interface):

- ``GET /downloads/commitments.csv`` and ``/downloads/commitments.json``: filters
  ``municipality_id``, ``theme``, ``status`` (repeatable), ``status_on_record`` (repeatable),
  ``recorded_late``, ``amended_after_due_date``, ``historical_record``,
  ``met_only_under_relaxed_terms``, ``q``: those of ``GET /api/v1/commitments``; by id.
- ``GET /downloads/deliveries.csv`` and ``/downloads/deliveries.json``: filters
  ``municipality_id``, ``commitment_id``, ``recorded_late``, ``kind``: those of
  ``GET /api/v1/deliveries``; recorded deliveries by id, then batched ones in log order.

Every matching row is read (``ledger.db.repository`` pages of :data:`PAGE_SIZE`, one read
transaction, statuses at one request time). 404 for an unknown ``municipality_id``; 422 for a
filter the API would refuse.

**JSON**: ``{"source_credits": [{"id", "name", "publisher", "url", "licence", "credit", "follow_up"}],
"generated_at" (ISO 8601 UTC), "ledger": {"chain_id", "contract_address", "network"},
"count", "data": [...]}``; ``data`` holds the API's list items (``CommitmentSummary`` /
``DeliveryListed``, same field names), commitments with ``source_uri`` and
``source_document_sha256`` added; ``source_credits`` the datasets of the municipality it is
filtered by, then those its rows come from (``ledger.sources.sources_of_commitments``: a
commitment typed in by hand adds none).

**CSV**: UTF-8 with a byte order mark (so that spreadsheet programs read accented text right),
comma separated, RFC 4180 quoting, CRLF line ends, one header row of the flat field names of
:data:`COMMITMENT_COLUMNS` / :data:`DELIVERY_COLUMNS` (``*_iso`` times in UTC; booleans
``true`` / ``false``; empty for null; several evidence hashes separated by a space). The last
column, ``source_credit``, credits each row (``ledger.sources.credit_line``): the datasets its
commitment comes from by its on-chain ``source_uri``, else (a commitment typed in by hand
through the staff API) its municipality and the registrar who entered it; a delivery is
credited as its commitment. So the credit stays with any row that is copied elsewhere. Before
it, ``follow_up_tracked`` of a commitment (``false``: every source it comes from records no
follow-up and no delivery names it, so an ``overdue`` status is no verdict of the source; the
JSON's ``follow_up``). The texts are other people's: a cell
that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
apostrophe (``'``), so that a spreadsheet shows it as text instead of evaluating it as a
formula (OWASP "CSV injection"); the JSON carries the texts unchanged.

Both are sent as attachments named ``commitments-<municipality code or all>.csv`` (``.json``;
``deliveries-...`` for deliveries).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Iterable

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from api.deps import DeploymentDep, EvidenceStoreDep, NowDep, SessionDep, SettingsDep, SourcesDep
from api.problems import ProblemError
from api.schemas import CommitmentSummary, DeliveryKind, DeliveryListed, Source, StatusName
from ledger.db import activity, repository
from ledger.db.follow_up import add_follow_up
from ledger.deployment import Deployment
from ledger.networks import network_name
from ledger.settings import Settings
from ledger.sources import SourceCredit, credit_line, sources_of_commitments

router = APIRouter(include_in_schema=False)

PAGE_SIZE = repository.MAX_PAGE_LIMIT
"""Rows per read of the repository."""

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula."""


DOWNLOAD_HEADERS = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
JSON_MEDIA_TYPE = "application/json"

MunicipalityFilter = Annotated[int | None, Query(ge=1, le=2**32 - 1, description="only this municipality")]
Flag = Annotated[bool | None, Query(description="true/false")]


@dataclass(frozen=True)
class CommitmentFilters:
    """The filters of ``GET /api/v1/commitments`` (``None`` / empty: no filter)."""

    municipality_id: int | None
    theme: str | None
    status: tuple[str, ...]
    status_on_record: tuple[str, ...]
    recorded_late: bool | None
    amended_after_due_date: bool | None
    historical_record: bool | None
    met_only_under_relaxed_terms: bool | None
    q: str | None


def commitment_filters(
    municipality_id: MunicipalityFilter = None,
    theme: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[list[StatusName] | None, Query()] = None,
    status_on_record: Annotated[list[StatusName] | None, Query()] = None,
    recorded_late: Flag = None,
    amended_after_due_date: Flag = None,
    historical_record: Flag = None,
    met_only_under_relaxed_terms: Flag = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> CommitmentFilters:
    """The commitment filters of the query string (422 for a value the API refuses)."""
    return CommitmentFilters(
        municipality_id,
        theme,
        tuple(status or ()),
        tuple(status_on_record or ()),
        recorded_late,
        amended_after_due_date,
        historical_record,
        met_only_under_relaxed_terms,
        q,
    )


@dataclass(frozen=True)
class DeliveryFilters:
    """The filters of ``GET /api/v1/deliveries`` (``None``: no filter)."""

    municipality_id: int | None
    commitment_id: int | None
    recorded_late: bool | None
    kind: str | None


def delivery_filters(
    municipality_id: MunicipalityFilter = None,
    commitment_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    recorded_late: Flag = None,
    kind: Annotated[DeliveryKind | None, Query()] = None,
) -> DeliveryFilters:
    """The delivery filters of the query string (422 for a value the API refuses)."""
    return DeliveryFilters(municipality_id, commitment_id, recorded_late, kind)


CommitmentFiltersDep = Annotated[CommitmentFilters, Depends(commitment_filters)]
DeliveryFiltersDep = Annotated[DeliveryFilters, Depends(delivery_filters)]


# ---------------------------------------------------------------------------- reading


def all_commitments(session: Session, now: int, filters: CommitmentFilters) -> list[dict[str, Any]]:
    """Every commitment matching ``filters``, by id: the summaries of
    ``repository.list_commitments_page`` (statuses at ``now``, Unix seconds), read
    :data:`PAGE_SIZE` at a time by its cursor (the same work per page however many), each
    with ``source_uri`` and ``source_document_sha256``."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = repository.list_commitments_page(
            session,
            now,
            municipality_id=filters.municipality_id,
            theme=filters.theme,
            statuses=filters.status,
            statuses_on_record=filters.status_on_record,
            recorded_late=filters.recorded_late,
            amended_after_due_date=filters.amended_after_due_date,
            historical_record=filters.historical_record,
            met_only_under_relaxed_terms=filters.met_only_under_relaxed_terms,
            q=filters.q,
            after=cursor,
            limit=PAGE_SIZE,
        )
        rows += page.rows
        cursor = page.next_cursor
        if cursor is None:
            break
    found = activity.commitment_sources(session, [r["id"] for r in rows])
    for row in rows:
        row.update(found.get(row["id"], {"source_uri": "", "source_document_sha256": None}))
    return rows


def all_deliveries(
    session: Session, now: int, filters: DeliveryFilters, evidence_stored: Callable[[str], bool] | None
) -> list[dict[str, Any]]:
    """Every delivery matching ``filters`` as ``repository.list_deliveries`` gives them
    (recorded by id, then batched in log order), read :data:`PAGE_SIZE` at a time."""
    rows: list[dict[str, Any]] = []
    while True:
        page, total = repository.list_deliveries(
            session,
            municipality_id=filters.municipality_id,
            commitment_id=filters.commitment_id,
            recorded_late=filters.recorded_late,
            kind=filters.kind,
            offset=len(rows),
            limit=PAGE_SIZE,
            now=now,
            evidence_stored=evidence_stored,
        )
        rows += page
        if not page or len(rows) >= total:
            break
    return rows


# ---------------------------------------------------------------------------- CSV


def csv_cell(value: Any) -> str:
    """One CSV cell: ``""`` for ``None``, ``true`` / ``false`` for booleans, the decimal text
    of an integer, and a text with a leading apostrophe when it starts with one of
    :data:`FORMULA_PREFIXES` (else unchanged)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _ref(row: dict[str, Any], key: str, field: str) -> Any:
    ref = row.get(key)
    return ref.get(field) if ref else None


def _revocation_chain(row: dict[str, Any], field: str) -> Any:
    revocation = row.get("revocation")
    return revocation["chain"][field] if revocation and revocation.get("chain") else None


Column = tuple[str, Callable[[dict[str, Any]], Any]]


def _field(name: str) -> Column:
    return name, lambda row: row.get(name)


COMMITMENT_COLUMNS: tuple[Column, ...] = (
    _field("id"),
    _field("municipality_id"),
    ("municipality", lambda r: r["municipality_name"]),
    ("municipality_code", lambda r: r["municipality_code"]),
    *map(_field, ("external_ref", "title", "theme", "unit", "target_quantity", "original_target_quantity")),
    *map(_field, ("delivered_quantity", "progress_bps", "status", "status_on_record", "status_original_terms")),
    *map(_field, ("status_confirmed", "met_only_under_relaxed_terms", "historical_record", "promised_at_iso")),
    ("registered_at_iso", lambda r: _ref(r, "registered", "block_time_iso")),
    *map(_field, ("due_date_iso", "original_due_date_iso", "met_at_iso", "met_on_record_at_iso")),
    *map(_field, ("amendment_count", "amended_after_due_date", "target_lowered", "recorded_late_count", "withdrawn")),
    *map(_field, ("confirmed_quantity", "disputed_quantity", "batched_delivery_count", "parent_id", "weight")),
    _field("registrar"),
    ("registered_tx_hash", lambda r: _ref(r, "registered", "tx_hash")),
    ("registered_block_number", lambda r: _ref(r, "registered", "block_number")),
    *map(_field, ("source_uri", "source_document_sha256")),
    ("follow_up_tracked", lambda r: r["follow_up"]["tracked"]),
    ("source_credit", lambda r: r["source_credit"]),
)
"""Header and value of each column of ``commitments.csv``, in order."""

DELIVERY_COLUMNS: tuple[Column, ...] = (
    *map(_field, ("id", "kind", "delivery_number", "commitment_id", "commitment_title", "municipality_id")),
    ("municipality", lambda r: r["municipality_name"]),
    ("municipality_code", lambda r: r["municipality_code"]),
    *map(_field, ("unit", "quantity", "delivered_at_iso", "recorded_at_iso", "recording_lag_days", "recorded_late")),
    *map(_field, ("counted", "refused_reason", "double_counted", "review")),
    ("revoked", lambda r: r.get("revocation") is not None),
    ("revocation_reason", lambda r: (r.get("revocation") or {}).get("reason")),
    ("revoked_at_iso", lambda r: _revocation_chain(r, "block_time_iso")),
    ("evidence_sha256", lambda r: " ".join(e["sha256"] for e in r.get("evidence") or [])),
    *map(_field, ("evidence_uri", "note", "external_ref", "asset_ref", "registrar")),
    ("tx_hash", lambda r: _ref(r, "recorded", "tx_hash")),
    ("block_number", lambda r: _ref(r, "recorded", "block_number")),
    ("log_index", lambda r: _ref(r, "recorded", "log_index")),
    *map(_field, ("batch_root", "leaf_hash", "leaf_index")),
    ("source_credit", lambda r: r["source_credit"]),
)
"""Header and value of each column of ``deliveries.csv``, in order."""


def write_csv(columns: Iterable[Column], rows: Iterable[dict[str, Any]]) -> bytes:
    """The CSV file (UTF-8 with byte order mark, CRLF) of ``rows`` under ``columns``."""
    columns = tuple(columns)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(name for name, _ in columns)
    for row in rows:
        writer.writerow(csv_cell(value(row)) for _, value in columns)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


# ---------------------------------------------------------------------------- shared


def _label(session: Session, municipality_id: int | None) -> tuple[str, list[str]]:
    """The file name part (municipality code, or ``all``) and the codes to credit at least.

    Raises:
        ProblemError: 404, unknown municipality.
    """
    if municipality_id is None:
        return "all", []
    code = repository.municipality_codes(session, [municipality_id]).get(municipality_id)
    if code is None:
        raise ProblemError(404, "not-found", f"No municipality {municipality_id}.")
    return re.sub(r"[^A-Za-z0-9._-]", "_", code), [code]


def _with_credits(session: Session, sources: dict[str, list[SourceCredit]], rows: list[dict[str, Any]]) -> list[SourceCredit]:
    """Adds ``municipality_code``, ``commitment_source_uri`` (the on-chain ``source_uri`` of the
    row's commitment: a commitment row's own) and ``source_credit`` (``ledger.sources.credit_line``:
    the datasets it comes from, else its municipality and registrar) to each row; the datasets
    the rows come from (``ledger.sources.sources_of_commitments``)."""
    codes = repository.municipality_codes(session, {r["municipality_id"] for r in rows})
    deliveries = {r["commitment_id"] for r in rows if "commitment_id" in r}
    uris = activity.commitment_sources(session, deliveries) if deliveries else {}
    for row in rows:
        code = row["municipality_code"] = codes[row["municipality_id"]]
        uri = row["source_uri"] if "commitment_id" not in row else uris.get(row["commitment_id"], {}).get("source_uri", "")
        row["commitment_source_uri"] = uri
        row["source_credit"] = credit_line(sources.get(code, []), uri, row["municipality_name"], row.get("registrar") or "")
    return sources_of_commitments(sources, [(r["municipality_code"], r["commitment_source_uri"]) for r in rows])


def _credits(sources: dict[str, list[SourceCredit]], codes: list[str], from_rows: list[SourceCredit]) -> list[SourceCredit]:
    """A JSON file's ``source_credits``: the sources of the municipality it is filtered by
    (``codes``), then those its rows come from."""
    credits: dict[str, SourceCredit] = {}
    for c in [*(c for code in codes for c in sources.get(code, [])), *from_rows]:
        credits.setdefault(c.id, c)
    return list(credits.values())


def _attachment(body: bytes, media_type: str, filename: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={**DOWNLOAD_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _json_file(
    items: list[dict[str, Any]],
    credits: Iterable[SourceCredit],
    now: int,
    deployment: Deployment,
    settings: Settings,
) -> bytes:
    document = {
        "source_credits": [s.model_dump() for s in Source.of(credits)],
        "generated_at": repository.iso(now),
        "ledger": {
            "chain_id": deployment.chain_id,
            "contract_address": deployment.contract_address,
            "network": network_name(deployment.chain_id, settings.network_name),
        },
        "count": len(items),
        "data": items,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# ---------------------------------------------------------------------------- routes


@router.api_route("/downloads/commitments.csv", methods=["GET", "HEAD"])
def commitments_csv(
    filters: CommitmentFiltersDep, session: SessionDep, now: NowDep, sources: SourcesDep
) -> Response:
    """Every matching commitment as CSV (:data:`COMMITMENT_COLUMNS`)."""
    label, _ = _label(session, filters.municipality_id)
    rows = all_commitments(session, now, filters)
    _with_credits(session, sources, rows)
    add_follow_up(session, sources, rows)  # follow_up: {"tracked", "by"}
    return _attachment(write_csv(COMMITMENT_COLUMNS, rows), CSV_MEDIA_TYPE, f"commitments-{label}.csv")


@router.api_route("/downloads/commitments.json", methods=["GET", "HEAD"])
def commitments_json(
    filters: CommitmentFiltersDep,
    session: SessionDep,
    now: NowDep,
    sources: SourcesDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
) -> Response:
    """Every matching commitment as JSON (``CommitmentSummary`` + source columns)."""
    label, credited = _label(session, filters.municipality_id)
    rows = all_commitments(session, now, filters)
    from_rows = _with_credits(session, sources, rows)
    add_follow_up(session, sources, rows)  # follow_up: {"tracked", "by"}
    items = [
        {
            **CommitmentSummary.model_validate(r).model_dump(mode="json"),
            "source_uri": r["source_uri"],
            "source_document_sha256": r["source_document_sha256"],
        }
        for r in rows
    ]
    body = _json_file(items, _credits(sources, credited, from_rows), now, deployment, settings)
    return _attachment(body, JSON_MEDIA_TYPE, f"commitments-{label}.json")


@router.api_route("/downloads/deliveries.csv", methods=["GET", "HEAD"])
def deliveries_csv(filters: DeliveryFiltersDep, session: SessionDep, now: NowDep, sources: SourcesDep) -> Response:
    """Every matching delivery as CSV (:data:`DELIVERY_COLUMNS`; the evidence by SHA-256
    only, so the evidence store is not asked)."""
    label, _ = _label(session, filters.municipality_id)
    rows = all_deliveries(session, now, filters, None)
    _with_credits(session, sources, rows)
    return _attachment(write_csv(DELIVERY_COLUMNS, rows), CSV_MEDIA_TYPE, f"deliveries-{label}.csv")


@router.api_route("/downloads/deliveries.json", methods=["GET", "HEAD"])
def deliveries_json(
    filters: DeliveryFiltersDep,
    session: SessionDep,
    now: NowDep,
    sources: SourcesDep,
    store: EvidenceStoreDep,
    deployment: DeploymentDep,
    settings: SettingsDep,
) -> Response:
    """Every matching delivery as JSON (``DeliveryListed``: each evidence hash with ``stored``
    and ``url`` when this server holds the file, as in the API)."""
    label, credited = _label(session, filters.municipality_id)
    rows = all_deliveries(session, now, filters, store.exists)
    from_rows = _with_credits(session, sources, rows)
    items = [DeliveryListed.model_validate(r).model_dump(mode="json") for r in rows]
    body = _json_file(items, _credits(sources, credited, from_rows), now, deployment, settings)
    return _attachment(body, JSON_MEDIA_TYPE, f"deliveries-{label}.json")
