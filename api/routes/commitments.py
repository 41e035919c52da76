"""Commitments (list, detail), their deliveries across commitments, and the themes they use."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request

from api import caching
from api.deps import DeploymentDep, EvidenceStoreDep, NowDep, SessionDep, SourcesDep
from api.problems import ProblemError, problem_responses
from api.schemas import (
    CommitmentDeliveryPage,
    CommitmentDetail,
    CommitmentPage,
    CommitmentSort,
    CommitmentSummary,
    Delivery,
    DeliveryKind,
    DeliveryListed,
    DeliveryPage,
    PageLinks,
    Source,
    StatusName,
    ThemeCount,
    ThemeList,
    TimelineEntry,
    TimelinePage,
)
from ledger.db import activity, repository
from ledger.db.follow_up import add_follow_up
from ledger.sources import SourceCredit, sources_of_commitments
from ledger.status import stable_until

router = APIRouter(tags=["commitments"])

CommitmentId = Annotated[int, Path(ge=1, le=2**63 - 1, description="commitment id (from 1)")]
MunicipalityFilter = Annotated[int | None, Query(ge=1, le=2**32 - 1, description="only this municipality")]
Offset = Annotated[int, Query(ge=0, le=2**62, description="rows to skip")]
Limit = Annotated[int, Query(ge=1, le=100, description="rows per page, 1..100")]
CommitmentOffset = Annotated[
    int,
    Query(ge=0, le=repository.MAX_COMMITMENT_OFFSET, description="rows to skip, 0..10000 (deeper: the `after` cursor)"),
]
Cursor = Annotated[str | None, Query(max_length=400, pattern=r"^[A-Za-z0-9_-]+$", description="a cursor of this list")]


def _flag(description: str) -> object:
    return Query(description=f"true/false: {description}")


@router.get("/themes", response_model=ThemeList, responses=problem_responses(422))
def list_themes(session: SessionDep, municipality_id: MunicipalityFilter = None) -> ThemeList:
    """Themes in use with their number of commitments (withdrawn ones included), by theme.
    Commitments without a theme are left out. `municipality_id` narrows to one municipality."""
    rows = repository.list_themes(session, municipality_id)
    return ThemeList(data=[ThemeCount.model_validate(r) for r in rows], count=len(rows))


@router.get("/commitments", response_model=CommitmentPage, responses=problem_responses(422))
def list_commitments(
    request: Request,
    session: SessionDep,
    now: NowDep,
    sources: SourcesDep,
    municipality_id: MunicipalityFilter = None,
    theme: Annotated[str | None, Query(max_length=200, description="exact theme")] = None,
    status: Annotated[
        list[StatusName] | None, Query(description="any of these statuses (claimed clock, current terms); may repeat")
    ] = None,
    status_on_record: Annotated[
        list[StatusName] | None, Query(description="any of these on-record statuses (the chain's clock); may repeat")
    ] = None,
    recorded_late: Annotated[bool | None, _flag("has (true) / has no (false) non-revoked delivery recorded late")] = None,
    amended_after_due_date: Annotated[bool | None, _flag("amended after the due date then in force")] = None,
    historical_record: Annotated[bool | None, _flag("registered after its original due date")] = None,
    met_only_under_relaxed_terms: Annotated[bool | None, _flag("met only because its terms were relaxed")] = None,
    q: Annotated[
        str | None, Query(max_length=200, description="case-insensitive substring of title, description or external_ref")
    ] = None,
    sort: Annotated[
        CommitmentSort,
        Query(description="id, due_date, progress, status (most urgent first) or last_change; '-' prefix: descending"),
    ] = "id",
    offset: CommitmentOffset = 0,
    limit: Limit = 20,
    after: Cursor = None,
    before: Cursor = None,
) -> CommitmentPage:
    """One page of commitments, in `sort` order (default `id`).

    `sort` is one of `id`, `due_date` (current terms), `progress` (`progress_bps`), `status`
    (claimed clock, current terms, most urgent first: overdue, in_progress, pending,
    delivered_late, delivered, withdrawn) or `last_change` (the latest event concerning the
    commitment, `last_changed_at`, oldest first), each ascending, or descending with a `-`
    prefix (`-last_change`: most recently changed first); ties by id ascending.
    Filters combine with AND; each flag is `true` or `false` (omitted: no filter).
    `count` is the number of commitments matching the filters (not the page size); `sources`
    credits the datasets the commitments on this page come from (none for one typed in by
    hand through the staff API); each item's `follow_up` says whether its sources record
    follow-up (`tracked` false: none does and no delivery names it).
    Quantities are decimal strings in the commitment's `unit`; statuses are evaluated at the
    request time, twice (claimed dates: `status`; recording times: `status_on_record`) and
    against both the current and the original terms; times are Unix seconds with an ISO 8601
    UTC twin (`*_iso`).

    Paging: `links.next` / `links.prev` (and `next_cursor` / `prev_cursor`) lead to the pages
    around this one with an opaque cursor (`after`: the rows after it, `before`: the rows
    before it), the same work on every page however deep; `offset` (0..10000) still works
    and its answer carries the cursors too. `count` is exact: evaluated at the request time.

    422 for an unknown status or sort, a flag that is not true/false, `limit` outside 1..100,
    `offset` outside 0..10000, a cursor that is not one of this list for this `sort`, both
    cursors, or a cursor with an `offset`.
    """
    if (after is not None or before is not None) and "offset" in request.query_params:  # offset=0 too
        raise _query_problem("offset", ValueError("a cursor (after, before) and an offset cannot be combined"))
    caching.keep_answer(request, session)
    try:
        page = repository.list_commitments_page(
            session,
            now,
            municipality_id=municipality_id,
            theme=theme,
            statuses=status or (),
            statuses_on_record=status_on_record or (),
            recorded_late=recorded_late,
            amended_after_due_date=amended_after_due_date,
            historical_record=historical_record,
            met_only_under_relaxed_terms=met_only_under_relaxed_terms,
            q=q,
            sort=sort,
            offset=offset,
            limit=limit,
            after=after,
            before=before,
        )
    except repository.InvalidCursorError as exc:
        raise _query_problem("after" if after is not None else "before", exc) from exc
    except ValueError as exc:  # both cursors, or a cursor with an offset
        raise _query_problem("before" if after is not None and before is not None else "offset", exc) from exc
    caching.keep_until(request, page.valid_until)
    rows = page.rows
    add_follow_up(session, sources, rows)
    return CommitmentPage(
        data=[CommitmentSummary.model_validate(r) for r in rows],
        count=page.total,
        offset=offset,
        limit=limit,
        sources=_page_sources(session, sources, rows, "id"),
        next_cursor=page.next_cursor,
        prev_cursor=page.prev_cursor,
        links=PageLinks(next=_page_link(request, "after", page.next_cursor), prev=_page_link(request, "before", page.prev_cursor)),
    )


def _page_link(request: Request, name: str, cursor: str | None) -> str | None:
    """This request's path and query with ``offset``, ``after`` and ``before`` replaced by
    ``name=cursor``; ``None`` without a cursor."""
    if cursor is None:
        return None
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("offset", "after", "before")]
    return f"{request.url.path}?{urlencode([*kept, (name, cursor)])}"


def _query_problem(parameter: str, exc: ValueError) -> ProblemError:
    """422 ``validation-error`` naming the query parameter, as FastAPI's own are."""
    return ProblemError(422, "validation-error", f"{parameter}: {exc}",
                        errors=[{"loc": ["query", parameter], "msg": str(exc), "type": "value_error"}])


HistoryCursor = Annotated[
    str | None,
    Query(max_length=80, pattern=r"^[a-z](\.[0-9]{1,20}){1,3}$", description="a cursor of this list (`next_cursor`, `prev_cursor`)"),
]
HistoryLimit = Annotated[int, Query(ge=1, le=100, description="rows per page, 1..100")]


def _history_url(commitment_id: int, part: str, parameter: str, cursor: str | None, limit: int) -> str | None:
    """``/api/v1/commitments/{id}/{part}?{parameter}={cursor}&limit={limit}``, or ``None``."""
    if cursor is None:
        return None
    return f"/api/v1/commitments/{commitment_id}/{part}?{urlencode({parameter: cursor, 'limit': limit})}"


def _page_links(commitment_id: int, part: str, page: dict[str, object], limit: int) -> PageLinks:
    return PageLinks(
        next=_history_url(commitment_id, part, "after", page["next_cursor"], limit),  # type: ignore[arg-type]
        prev=_history_url(commitment_id, part, "before", page["prev_cursor"], limit),  # type: ignore[arg-type]
    )


def _keep_for(request: Request, commitment: dict[str, object] | None, now: int) -> None:
    """The answer stays exact until the commitment's statuses may turn with time."""
    if commitment is not None:
        caching.keep_until(request, stable_until([commitment["due_date"], commitment["original_due_date"]], now))  # type: ignore[list-item]


@router.get("/commitments/{commitment_id}", response_model=CommitmentDetail, responses=problem_responses(404, 422))
def get_commitment(
    request: Request,
    commitment_id: CommitmentId,
    session: SessionDep,
    deployment: DeploymentDep,
    store: EvidenceStoreDep,
    now: NowDep,
    sources: SourcesDep,
) -> CommitmentDetail:
    """One commitment: its summary, texts, source document, `withdrawal` (or null),
    `amendments` (oldest first: what each changed, whether it came after the due date then in
    force, lowered the target or moved the due date later), the first 50 `deliveries`
    (recorded ones by id, then batched ones in log order, each with its stated date,
    recording time and lag, asset, review and verdicts; each evidence hash with `stored`/`url`
    when this server holds the file) with `deliveries_count`, and the first 50 entries of the
    on-chain `timeline` (block, log index order) with `timeline_count`; the rest of either is
    at `detail_links` (`/commitments/{id}/deliveries`, `/commitments/{id}/timeline`, by
    cursor). Plus the `ledger` (chain id, contract address) to check it against, and the
    `sources` to credit (the municipality's source whose id the commitment's `source_uri`
    names as `#ledger-source=<id>`; for a `source_uri` without it, those whose url it equals;
    empty for a commitment registered directly by staff), and `follow_up` (`tracked` false
    when every such source records no follow-up and no delivery names it).

    404 `not-found` if unknown; 422 if the id is not a positive integer.
    """
    caching.keep_answer(request, session, uses_evidence=True)
    detail = repository.get_commitment(session, commitment_id, now, evidence_stored=store.exists)
    if detail is None:
        raise ProblemError(404, "not-found", f"No commitment {commitment_id}.")
    detail["ledger"] = {"chain_id": deployment.chain_id, "contract_address": deployment.contract_address}
    codes = repository.municipality_codes(session, [detail["municipality_id"]])
    detail["sources"] = Source.list_for(sources, codes.values(), source_uri=detail["source_uri"])
    add_follow_up(session, sources, [detail])
    limit = repository.DETAIL_PAGE_SIZE
    detail["detail_links"] = {
        "deliveries_next": _history_url(commitment_id, "deliveries", "after", detail["deliveries_next_cursor"], limit),
        "timeline_next": _history_url(commitment_id, "timeline", "after", detail["timeline_next_cursor"], limit),
    }
    _keep_for(request, detail, now)
    return CommitmentDetail.model_validate(detail)


@router.get(
    "/commitments/{commitment_id}/deliveries", response_model=CommitmentDeliveryPage, responses=problem_responses(404, 422)
)
def get_commitment_deliveries(
    request: Request,
    commitment_id: CommitmentId,
    session: SessionDep,
    store: EvidenceStoreDep,
    after: HistoryCursor = None,
    before: HistoryCursor = None,
    limit: HistoryLimit = repository.DETAIL_PAGE_SIZE,
) -> CommitmentDeliveryPage:
    """One page of a commitment's deliveries, in the detail's order (recorded ones by id,
    then batched ones in log order), revoked and uncounted ones included, each as in the
    detail. Keyset paging: `after` = a page's `next_cursor`, `before` = its `prev_cursor`;
    `links.next` / `links.prev` are those URLs (null on the last / first page). `count` is
    all of the commitment's deliveries. Each page costs the same however many there are.

    404 `not-found` if the commitment is unknown; 422 for a malformed cursor, both `after`
    and `before`, or `limit` outside 1..100.
    """
    caching.keep_answer(request, session, uses_evidence=True)
    if repository.commitment_states(session, [commitment_id]) == {}:
        raise ProblemError(404, "not-found", f"No commitment {commitment_id}.")
    try:
        page = repository.commitment_deliveries(
            session, commitment_id, after=after, before=before, limit=limit, evidence_stored=store.exists
        )
    except ValueError as exc:
        raise _query_problem("before" if before is not None else "after", exc) from exc
    return _history_page(CommitmentDeliveryPage, Delivery, commitment_id, "deliveries", page, limit)


@router.get("/commitments/{commitment_id}/timeline", response_model=TimelinePage, responses=problem_responses(404, 422))
def get_commitment_timeline(
    request: Request,
    commitment_id: CommitmentId,
    session: SessionDep,
    after: HistoryCursor = None,
    before: HistoryCursor = None,
    limit: HistoryLimit = repository.DETAIL_PAGE_SIZE,
) -> TimelinePage:
    """One page of a commitment's on-chain timeline (registered, amended, delivered, revoked,
    withdrawn), in (block, log index) order; keyset paging as `/commitments/{id}/deliveries`.

    404 `not-found` if the commitment is unknown; 422 for a malformed cursor, both `after`
    and `before`, or `limit` outside 1..100.
    """
    caching.keep_answer(request, session)
    if repository.commitment_states(session, [commitment_id]) == {}:
        raise ProblemError(404, "not-found", f"No commitment {commitment_id}.")
    try:
        page = repository.commitment_timeline(session, commitment_id, after=after, before=before, limit=limit)
    except ValueError as exc:
        raise _query_problem("before" if before is not None else "after", exc) from exc
    return _history_page(TimelinePage, TimelineEntry, commitment_id, "timeline", page, limit)


def _history_page(model: Any, item: Any, commitment_id: int, kind: str, page: dict[str, Any], limit: int) -> Any:
    """The wire page ``model`` of one page of a commitment's ``kind`` (``deliveries`` or
    ``timeline``) as the data layer returned it, items validated as ``item``."""
    return model(
        data=[item.model_validate(row) for row in page["data"]],
        count=page["count"],
        limit=limit,
        next_cursor=page["next_cursor"],
        prev_cursor=page["prev_cursor"],
        links=_page_links(commitment_id, kind, page, limit),
    )


@router.get("/deliveries", response_model=DeliveryPage, responses=problem_responses(422))
def list_deliveries(
    session: SessionDep,
    now: NowDep,
    store: EvidenceStoreDep,
    sources: SourcesDep,
    municipality_id: MunicipalityFilter = None,
    commitment_id: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="only this commitment")] = None,
    recorded_late: Annotated[
        bool | None, _flag("recorded more than 30 days after the date it states (true) or not (false)")
    ] = None,
    kind: Annotated[DeliveryKind | None, Query(description="only recorded or only batched deliveries")] = None,
    offset: Offset = 0,
    limit: Limit = 20,
) -> DeliveryPage:
    """One page of deliveries (revoked ones included, with their `revocation`) across
    commitments: recorded ones by id ascending, then batched ones (`kind` `batched`: leaves of
    verified batches, in log order; their `id` is the leaf hash, `counted` / `refused_reason`
    say whether they count); each names its commitment (`commitment_title`,
    `commitment_status`, `unit`, `municipality_id`, `municipality_name`). Each has its
    `asset_ref`, `double_counted`, `review` and the latest verdict of each confirmer
    (`confirmations`, `disputes`).

    Each has both clocks: `delivered_at` (stated by the registrar) and `recorded_at` (block
    time), `recording_lag_seconds`/`recording_lag_days`, and `recorded_late` (lag above 30
    days). `count` is the number matching the filters; `sources` credits the datasets the
    commitments of this page's deliveries come from (none for one typed in by hand). 422 for a flag that is not true/false, `limit` outside 1..100
    or a negative `offset`.
    """
    rows, total = repository.list_deliveries(
        session,
        municipality_id=municipality_id,
        commitment_id=commitment_id,
        recorded_late=recorded_late,
        kind=kind,
        offset=offset,
        limit=limit,
        now=now,
        evidence_stored=store.exists,
    )
    return DeliveryPage(
        data=[DeliveryListed.model_validate(r) for r in rows],
        count=total,
        offset=offset,
        limit=limit,
        sources=_page_sources(session, sources, rows, "commitment_id"),
    )


def _page_sources(session: Any, sources: dict[str, list[SourceCredit]], rows: list[dict[str, Any]], id_key: str) -> list[Source]:
    """The datasets a page's commitments (``row[id_key]``: a commitment's own id, or a
    delivery's commitment) come from, as ``ledger.sources`` decides: none for one typed in by hand."""
    codes = repository.municipality_codes(session, {r["municipality_id"] for r in rows})
    uris = activity.commitment_sources(session, {r[id_key] for r in rows})
    return Source.of(sources_of_commitments(sources, [
        (codes[r["municipality_id"]], uris.get(r[id_key], {}).get("source_uri", "")) for r in rows]))
