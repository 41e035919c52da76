"""The citizens' website, rendered on the server (Jinja2 templates in ``frontend/templates``)
and complete without JavaScript; served by the API app next to ``/api/v1``.

Pages (each in Dutch and English: ``?lang=``, the ``lang`` cookie or ``Accept-Language``):

- ``/``: commitments, with filters and sorting as a plain GET form and links, and a pager;
- ``/commitments/{id}``: promise and proof side by side, the dates in plain words, every
  delivery, the on-chain timeline, a chart, the share link and QR code, and the in-browser
  check against the chain (``static/js/chaincheck.js``);
- ``/municipalities``: the comparison across municipalities;
- ``/municipalities/{id}``: one municipality's overview (counts by status, chart of due
  versus met over time, the overdue list first, feeds and downloads);
- ``/check``: the document check (``?sha256=`` without JavaScript; with it, the file is
  hashed in the browser and checked against the chain by ``static/js/doccheck.js``);
- ``/about``: what the ledger is, the status rules, the sources, how to replay it;
- ``/static/...``: versioned static files (:mod:`frontend.assets`); feeds
  (:mod:`frontend.feeds`), downloads (:mod:`frontend.downloads`) and QR codes
  (:mod:`frontend.share`) have their own routers.

Routes only do HTTP: data comes from ``ledger.db.repository``, words from
:mod:`frontend.views`, charts from :mod:`frontend.charts`. Errors on these paths (a mistyped
URL, an unknown commitment, a bad filter value) are pages in the reader's language with the
right status, never raw JSON.

Usage in the API app: ``site.install(app)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from api import caching
from api.deps import EvidenceStoreDep, NowDep, SessionDep, SourcesDep
from frontend import charts, downloads, feeds, share, views, workspace
from frontend.assets import Assets, static_router
from frontend.i18n import Lang
from frontend.web import LangDep, internal_url, render, request_lang, site_base
from ledger.db import activity, repository
from ledger.db.follow_up import add_follow_up, untracked_overdue_counts
from ledger.sources import SourceCredit, credited_sources, split_source_id
from ledger.status import STATUSES, stable_since, stable_until

router = APIRouter(include_in_schema=False)


class InvalidParameterError(ValueError):
    """A query parameter of a page that is not empty and not valid: the 422 page names it.

    Attributes:
        parameter: its name in the address (``status``, ``after``, ``deliveries_before``, ...).
    """

    def __init__(self, parameter: str, problem: str) -> None:
        super().__init__(f"{parameter}: {problem}")
        self.parameter = parameter


PAGING_PARAMETERS = ("page", "after", "before", "deliveries_after", "deliveries_before", "timeline_after", "timeline_before")
"""Query parameters that say which page of a list is shown: the error page's link back to the
first page drops them."""

PAGE_SIZE = 20
"""Commitments per page of the list."""

SORTS = repository.COMMITMENT_SORTS
"""Sort keys of the list (``-`` descending), as the API's ``sort``."""

OVERVIEW_OVERDUE_LIMIT = 20
"""Overdue commitments listed on a municipality's overview (the rest: a link to the list)."""

DEFAULT_SORT = "status"
"""The list starts with what needs attention: overdue first, then by id."""




def _source(sources: dict[str, list[SourceCredit]], code: str | None) -> SourceCredit | None:
    found = sources.get(code or "") or []
    return found[0] if found else None


def _time_zone(sources: dict[str, list[SourceCredit]], code: str | None) -> str | None:
    source = _source(sources, code)
    return source.time_zone if source else None


@router.api_route("/", methods=["GET", "HEAD"])
def commitments_page(
    request: Request,
    lang: LangDep,
    session: SessionDep,
    now: NowDep,
    sources: SourcesDep,
    municipality_id: Annotated[str | None, Query(max_length=20)] = None,
    theme: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[list[str] | None, Query()] = None,
    recorded_late: Annotated[str | None, Query(max_length=5)] = None,
    amended_after_due_date: Annotated[str | None, Query(max_length=5)] = None,
    met_only_under_relaxed_terms: Annotated[str | None, Query(max_length=5)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    sort: Annotated[str | None, Query(max_length=20)] = None,
    page: Annotated[str | None, Query(max_length=12)] = None,
    after: Annotated[str | None, Query(max_length=400)] = None,
    before: Annotated[str | None, Query(max_length=400)] = None,
) -> HTMLResponse:
    """The commitments: overview per municipality, filter form, one page of results.

    The parameters are those of the list's GET form, so an empty value ("All
    municipalities", "All statuses") means no filter; a value that is not empty and not
    valid (a municipality id that is not a number, an unknown status or sort, a cursor that is
    not one of this list's) gives the 422 error page, which names the parameter and links to
    the list's first page, and changes nothing. Flags are ``true`` when set.

    The pager's links carry the data layer's cursor (``after`` / ``before``: the same work
    on every page however deep) and the page number they lead to (``page``, for "page 2 of
    7"); a ``page`` without a cursor (a bookmark) is read by offset, up to
    ``repository.MAX_COMMITMENT_OFFSET`` rows deep (deeper: the 422 page). A page past the
    last row (a page number or cursor of a stale link) says so and leads back: "Previous" to
    the last page (by offset, when it is within reach) and a link to the first page.
    """
    cursor = {"after": (after or "").strip() or None, "before": (before or "").strip() or None}
    try:
        filters = ListFilters.parse(municipality_id, theme, status, recorded_late, amended_after_due_date,
                                    met_only_under_relaxed_terms, q, sort, page)
        if cursor["after"] and cursor["before"]:
            raise InvalidParameterError("before", "give after or before, not both")
        offset = 0 if cursor["after"] or cursor["before"] else (filters.page - 1) * PAGE_SIZE
        if offset > repository.MAX_COMMITMENT_OFFSET:
            raise InvalidParameterError("page", f"deeper than {repository.MAX_COMMITMENT_OFFSET} rows by page number")
        listed = repository.list_commitments_page(
            session, now, municipality_id=filters.municipality_id, theme=filters.theme, statuses=filters.status,
            recorded_late=filters.recorded_late, amended_after_due_date=filters.amended_after_due_date,
            met_only_under_relaxed_terms=filters.met_only_under_relaxed_terms, q=filters.q, sort=filters.sort,
            offset=offset, limit=PAGE_SIZE, **cursor,
        )
    except InvalidParameterError as exc:  # a bad filter or page number
        return error_page(request, 422, "validation-error", exc.parameter)
    except repository.InvalidCursorError:  # a cursor that is not one of this list (for this sort)
        return error_page(request, 422, "validation-error", "after" if cursor["after"] else "before")
    rows, total = listed.rows, listed.total
    add_follow_up(session, sources, rows)
    municipalities = repository.list_municipalities(session, now)
    codes = {m["id"]: m["code"] for m in municipalities}
    uris = activity.commitment_sources(session, [r["id"] for r in rows])
    themes = repository.list_themes(session, filters.municipality_id)
    pages = max(1, -(-total // PAGE_SIZE))
    active = filters.active()
    past_end = not rows and total > 0  # a page number or cursor beyond the last row (a stale link)
    last_page = pages if past_end and (pages - 1) * PAGE_SIZE <= repository.MAX_COMMITMENT_OFFSET else None
    return render(
        request, "list.html", lang, title=_list_title(lang, filters, municipalities, pages), description=lang.t("list.lead"),
        rows=[_card(r, lang, _time_zone(sources, codes.get(r["municipality_id"]))) for r in rows],
        total=total, page_number=filters.page, pages=pages, page_size=PAGE_SIZE, filters=filters,
        past_end=past_end, last_page=last_page,
        next_cursor=listed.next_cursor, prev_cursor=listed.prev_cursor,
        active=active, sort=filters.sort, sorts=SORTS, statuses=views.STATUS_ORDER, municipalities=municipalities,
        themes=themes, municipality_sources={m["id"]: _source(sources, m["code"]) for m in municipalities},
        untracked_overdue=untracked_overdue_counts(session, sources, now),
        page_credits=_page_credits(sources, municipalities, [(r["municipality_id"], uris.get(r["id"], {}).get("source_uri", ""))
                                                              for r in rows]),
    )


def _page_credits(
    sources: dict[str, list[SourceCredit]], municipalities: list[dict[str, Any]], rows: list[tuple[int, str]]
) -> list[dict[str, Any]]:
    """What the list's "Sources" section credits for the commitments on the page (``(municipality
    id, on-chain source_uri)`` each), per municipality in the overview's order: ``{"name",
    "sources"}`` (the datasets some of them come from: ``ledger.sources.credited_sources``) and
    ``"by_hand"`` (some were typed in by hand, credited to the municipality's registrar)."""
    credits = []
    for m in municipalities:
        own = [uri for mid, uri in rows if mid == m["id"]]
        if not own:
            continue
        found = [credited_sources(sources.get(m["code"], []), uri) for uri in own]
        datasets = [c for c in sources.get(m["code"], []) if any(c in f for f in found)]
        credits.append({"name": m["name"], "sources": datasets, "by_hand": any(not f for f in found)})
    return credits


def _list_title(lang: Lang, filters: "ListFilters", municipalities: list[dict[str, Any]], pages: int) -> str:
    """The list's title with what it shows: municipality, theme, statuses, words, sort and
    page ("Beloften en wat ervan terechtkwam · Baarn · Termijn verstreken · pagina 2 van 7"),
    so that every list a reader shares or bookmarks has its own title."""
    parts = [lang.t("list.heading")]
    names = {m["id"]: m["name"] for m in municipalities}
    if filters.municipality_id is not None:
        parts.append(names.get(filters.municipality_id, str(filters.municipality_id)))
    if filters.theme:
        parts.append(filters.theme)
    parts += [lang.t(f"status.{s}") for s in filters.status]
    if filters.q:
        parts.append(f"“{filters.q}”")
    if filters.sort != DEFAULT_SORT:
        parts.append(lang.t(f"sort.{filters.sort}"))
    if filters.page > 1:
        parts.append(lang.t("pager.page", page=lang.number(filters.page), pages=lang.number(pages)))
    return " · ".join(parts)


@dataclass(frozen=True)
class ListFilters:
    """The list's filters, read from its GET form (empty value: no filter)."""

    municipality_id: int | None = None
    theme: str | None = None
    status: tuple[str, ...] = ()
    recorded_late: bool | None = None
    amended_after_due_date: bool | None = None
    met_only_under_relaxed_terms: bool | None = None
    q: str | None = None
    sort: str = DEFAULT_SORT
    page: int = 1

    @classmethod
    def parse(cls, municipality_id: str | None, theme: str | None, status: list[str] | None, recorded_late: str | None,
              amended_after_due_date: str | None, met_only_under_relaxed_terms: str | None, q: str | None,
              sort: str | None, page: str | None) -> "ListFilters":
        """The filters of the form's values.

        Raises:
            InvalidParameterError: a value that is not empty and not valid (municipality id or
                page not a positive integer in range, unknown status or sort, a flag other than
                true/false), naming the first such parameter.
        """
        statuses = tuple(s for s in (v.strip() for v in status or ()) if s)
        if any(s not in STATUSES for s in statuses):
            raise InvalidParameterError("status", f"unknown status in {statuses}")
        chosen_sort = (sort or "").strip() or DEFAULT_SORT
        if chosen_sort not in SORTS:
            raise InvalidParameterError("sort", f"unknown sort {chosen_sort!r}")
        return cls(
            municipality_id=_positive("municipality_id", municipality_id, 2**32 - 1), theme=(theme or "").strip() or None,
            status=statuses, recorded_late=_flag("recorded_late", recorded_late),
            amended_after_due_date=_flag("amended_after_due_date", amended_after_due_date),
            met_only_under_relaxed_terms=_flag("met_only_under_relaxed_terms", met_only_under_relaxed_terms),
            q=(q or "").strip() or None, sort=chosen_sort, page=_positive("page", page, 10**9) or 1,
        )

    def active(self) -> dict[str, Any]:
        """The filters that are set, as query parameters (for links that keep them)."""
        values = {"municipality_id": self.municipality_id, "theme": self.theme, "status": list(self.status),
                  "recorded_late": self.recorded_late, "amended_after_due_date": self.amended_after_due_date,
                  "met_only_under_relaxed_terms": self.met_only_under_relaxed_terms, "q": self.q}
        return {k: v for k, v in values.items() if v}


def _positive(name: str, value: str | None, maximum: int) -> int | None:
    """``None`` for an empty value, else an integer 1..``maximum`` (inclusive). Raises
    InvalidParameterError naming ``name``."""
    text = (value or "").strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= maximum:
        raise InvalidParameterError(name, f"not an integer 1..{maximum}: {text!r}")
    return int(text)


def _flag(name: str, value: str | None) -> bool | None:
    """``True`` for ``true``, ``None`` for empty or ``false`` (a flag filters only when set).
    Raises InvalidParameterError naming ``name`` for anything else."""
    text = (value or "").strip().lower()
    if text in ("", "false"):
        return None
    if text == "true":
        return True
    raise InvalidParameterError(name, f"not true/false: {text!r}")


def _card(c: dict[str, Any], lang: Lang, tz: str | None) -> dict[str, Any]:
    """A commitment summary with the words of its list card (``follow_up_note`` beside the
    status badge when its sources record no follow-up: give ``c`` its ``follow_up`` first,
    ``ledger.db.follow_up.add_follow_up``)."""
    return {**c, "badge": views.status_badge(c, lang), "follow_up_note": views.follow_up_note(c, lang),
            "flags": views.commitment_flags(c, lang, tz), "progress": views.progress_text(c, lang), "tz": tz}


@router.api_route("/commitments/{commitment_id}", methods=["GET", "HEAD"])
def commitment_page(
    request: Request,
    lang: LangDep,
    session: SessionDep,
    now: NowDep,
    sources: SourcesDep,
    store: EvidenceStoreDep,
    commitment_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    deliveries_after: Annotated[str | None, Query(max_length=80)] = None,
    deliveries_before: Annotated[str | None, Query(max_length=80)] = None,
    timeline_after: Annotated[str | None, Query(max_length=80)] = None,
    timeline_before: Annotated[str | None, Query(max_length=80)] = None,
) -> HTMLResponse:
    """One commitment: promise and proof side by side, its deliveries, timeline, chart,
    share link, and the chain check. 404 page if unknown.

    Deliveries and the timeline are shown :data:`ledger.db.repository.DETAIL_PAGE_SIZE` at a
    time, with "previous" / "next" links (plain links, no script needed) that carry the
    keyset cursors ``deliveries_after`` / ``deliveries_before`` and ``timeline_after`` /
    ``timeline_before`` (each list keeps its own page while the other moves); a cursor that
    is not one of these lists' (or both of one list) gives the 422 error page naming it."""
    caching.keep_answer(request, session, uses_evidence=True)
    c = repository.get_commitment(session, commitment_id, now, evidence_stored=store.exists)
    if c is None:
        return error_page(request, 404, "not-found")
    try:
        deliveries_page = repository.commitment_deliveries(
            session, commitment_id, after=deliveries_after, before=deliveries_before, evidence_stored=store.exists
        ) if deliveries_after or deliveries_before else None
    except ValueError:  # not a cursor of this list, or both
        return error_page(request, 422, "validation-error", "deliveries_after" if deliveries_after and not deliveries_before
                          else "deliveries_before")
    try:
        timeline_page = repository.commitment_timeline(
            session, commitment_id, after=timeline_after, before=timeline_before
        ) if timeline_after or timeline_before else None
    except ValueError:
        return error_page(request, 422, "validation-error", "timeline_after" if timeline_after and not timeline_before
                          else "timeline_before")
    deliveries_page = deliveries_page or {"data": c["deliveries"], "next_cursor": c["deliveries_next_cursor"], "prev_cursor": None}
    timeline_page = timeline_page or {"data": c["timeline"], "next_cursor": c["timeline_next_cursor"], "prev_cursor": None}
    add_follow_up(session, sources, [c])  # before the page of deliveries replaces the first: deliveries_count is all
    c = {**c, "deliveries": deliveries_page["data"], "timeline": timeline_page["data"]}
    keep = {"deliveries_after": deliveries_after, "deliveries_before": deliveries_before,
            "timeline_after": timeline_after, "timeline_before": timeline_before}
    pagers = {
        "deliveries": _history_pager(request, keep, "deliveries", deliveries_page),
        "timeline": _history_pager(request, keep, "timeline", timeline_page),
    }
    codes = repository.municipality_codes(session, [c["municipality_id"]])
    code = codes.get(c["municipality_id"])
    source = _source(sources, code)
    tz = source.time_zone if source else None
    credited = credited_sources(sources.get(code or "", []), c["source_uri"])
    parent = repository.get_commitment(session, c["parent_id"], now, page_size=0) if c["parent_id"] else None
    children = [repository.get_commitment(session, child, now, page_size=0) for child in c["children"]]
    add_follow_up(session, sources, [k for k in children if k is not None])
    points = repository.commitment_delivery_points(session, commitment_id)
    roots = list(dict.fromkeys(d["batch_root"] for d in c["deliveries"] if d.get("batch_root")))
    batches = [b for b in (repository.get_batch(session, root, evidence_stored=store.exists, leaves=False) for root in roots) if b]
    unverifiable, _ = repository.list_batches(session, municipality_id=c["municipality_id"], verified=False,
                                              limit=repository.MAX_PAGE_LIMIT, evidence_stored=store.exists)
    checkpoint = repository.get_checkpoint(session) or {}
    today = charts.end_of_day(now, tz or lang.time_zone)
    chart = charts.commitment_chart(
        points, target=int(c["target_quantity"]), original_target=int(c["original_target_quantity"]),
        due_date=c["due_date"], original_due_date=c["original_due_date"], promised_at=c["promised_at"],
        now=today, unit=c["unit"], labels=_chart_labels(lang, tz), lang_code=lang.code, id_prefix="cc",
    )
    # Kept (api.caching) until a status shown here (its own, its parent's, its parts') can turn
    # with time, or the chart's "today" ends; web.index_notice caps it by the index's freshness.
    shown = [k for k in (c, parent, *children) if k is not None]
    caching.keep_until(request, min(filter(None, (
        stable_until([d for k in shown for d in (k["due_date"], k["original_due_date"])], now), today + 1))))
    share_url = share.share_url(site_base(request), commitment_id, lang.code)
    badge = views.status_badge(c, lang)
    description = f'{badge.text} · {views.progress_text(c, lang)} · {lang.t("when.due")} {lang.date(c["due_date"], tz)}'
    return render(
        request, "commitment.html", lang, title=c["title"], description=description, og_type="article",
        c=c, tz=tz, source=source, credited=credited, headline=badge, follow_up_note=views.follow_up_note(c, lang),
        source_uri_text=split_source_id(c["source_uri"])[0], flags=views.commitment_flags(c, lang, tz),
        dates=views.dates(c, lang, tz), verdicts=views.verdicts(c, lang), progress=views.progress_text(c, lang),
        progress_original=views.progress_text(c, lang, original=True), parent=parent,
        children=[_card(k, lang, tz) for k in children if k is not None], chart=chart,
        deliveries=[{**d, "title": views.delivery_title(d, lang), "state": views.delivery_state(d, lang),
                     "lag": views.lag_text(d["recording_lag_seconds"], lang), "late": d["recorded_late"]}
                    for d in c["deliveries"]],
        batches=batches, unverifiable=unverifiable, timeline=views.timeline(c, lang),
        share_url=share_url, qr_url=f"/commitments/{commitment_id}/qr.svg?lang={lang.code}",
        expected=_chain_check_expected(c, now, checkpoint), views=views, pagers=pagers,
        feed_url=f"/feeds/{c['municipality_id']}.atom?lang={lang.code}",
    )


def _chain_check_expected(c: dict[str, Any], now: int, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """What the page states, for the in-browser chain check to compare with the chain
    (``static/js/chaincheck.js``): the commitment's fields, its deliveries and batches, and
    ``now``, the second to evaluate the chain at: ``ledger.status.stable_since`` of its due
    dates (every status there is the one at the request time ``now``)."""
    fields = ("title", "target_quantity", "original_target_quantity", "unit", "due_date", "original_due_date",
              "promised_at", "delivered_quantity", "met_at", "met_on_record_at", "met_at_original_terms",
              "met_on_record_at_original_terms", "status", "status_on_record", "status_original_terms",
              "status_on_record_original_terms", "amendment_count", "withdrawn", "registrar")
    batches: dict[str, dict[str, Any]] = {}
    deliveries = []
    for d in c["deliveries"]:
        deliveries.append({
            "key": str(d["id"]), "kind": d["kind"], "quantity": d["quantity"], "delivered_at": d["delivered_at"],
            "recorded_at": d["recorded_at"], "revoked": d["revocation"] is not None,
            # recorded deliveries carry counted = null (only batched leaves are counted or refused)
            "counted": d.get("counted") is not False and not d.get("double_counted") and d["revocation"] is None,
            "evidence": [e["sha256"] for e in d["evidence"]], "tx_hash": d["recorded"]["tx_hash"],
            "batch_root": d.get("batch_root"),
        })
        if d.get("batch_root"):
            batches[d["batch_root"]] = {"root": d["batch_root"], "file_url": f"/api/v1/batches/{d['batch_root']}/file"}
    # The chain is evaluated at the first second of the window of equal statuses, not at the
    # request second, so the page is one representation (ETag) until a status can turn.
    at = stable_since((c["due_date"], c["original_due_date"]), now, c["promised_at"])
    return {"commitment_id": c["id"], "municipality_id": c["municipality_id"], "now": at,
            "indexed_block": checkpoint.get("last_block"), "fields": {k: c[k] for k in fields},
            "deliveries": deliveries, "deliveries_complete": len(deliveries) == c["deliveries_count"],
            "batches": list(batches.values())}


def _history_pager(request: Request, keep: dict[str, str | None], part: str, page: dict[str, Any]) -> dict[str, Any]:
    """The "previous" / "next" links of one paged list of the commitment page (``part``:
    ``deliveries`` or ``timeline``): the page's query with this list's cursor replaced
    (``<part>_before`` = its ``prev_cursor``, ``<part>_after`` = its ``next_cursor``), the
    other list's kept; each ``None`` at that end. ``past_end``: a cursor of this list led to
    no rows (a stale link, past its last row), and ``first`` leads back to its first page."""
    others = {k: v for k, v in keep.items() if not k.startswith(part + "_")}
    lang_code = request_lang(request).code

    def link(name: str, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        return internal_url(request.url.path, lang_code, {**others, f"{part}_{name}": cursor})

    past_end = not page["data"] and any(v for k, v in keep.items() if k.startswith(part + "_"))
    return {"prev": link("before", page["prev_cursor"]), "next": link("after", page["next_cursor"]),
            "past_end": past_end, "first": internal_url(request.url.path, lang_code, others)}


def _chart_labels(lang: Lang, tz: str | None) -> charts.ChartLabels:
    return charts.ChartLabels(
        **{name: lang.t(f"chart.{name}") for name in charts.ChartLabels.text_fields()},
        format_date=lambda seconds: lang.short_date(seconds, tz),
        format_number=lang.number,
        time_zone=tz or lang.time_zone,
    )


@router.api_route("/municipalities", methods=["GET", "HEAD"])
def municipalities_page(request: Request, lang: LangDep, session: SessionDep, now: NowDep, sources: SourcesDep) -> HTMLResponse:
    """Comparison across municipalities: counts by status, share with recorded proof."""
    municipalities = repository.list_municipalities(session, now)
    rows = []
    for m in municipalities:
        counts = m["status_counts"]
        total = m["commitment_count"]
        met = counts.get("delivered", 0) + counts.get("delivered_late", 0)
        rows.append({**m, "met": met, "source": _source(sources, m["code"]),
                     "met_pct": lang.percent_bps(met * 10_000 // total) if total else lang.percent_bps(0)})
    return render(request, "municipalities.html", lang, title=lang.t("compare.heading"), description=lang.t("compare.lead"),
                  rows=rows, statuses=views.STATUS_ORDER, untracked_overdue=untracked_overdue_counts(session, sources, now))


@router.api_route("/municipalities/{municipality_id}", methods=["GET", "HEAD"])
def municipality_page(
    request: Request,
    lang: LangDep,
    session: SessionDep,
    now: NowDep,
    sources: SourcesDep,
    municipality_id: Annotated[int, Path(ge=1, le=2**32 - 1)],
) -> HTMLResponse:
    """One municipality: counts by status, chart of due versus met, overdue list first."""
    caching.keep_answer(request, session)
    m = repository.get_municipality(session, municipality_id, now)
    if m is None:
        return error_page(request, 404, "not-found")
    source = _source(sources, m["code"])
    tz = source.time_zone if source else None
    overdue, overdue_total = repository.list_commitments(session, now, municipality_id=municipality_id,
                                                         statuses=("overdue",), sort="due_date", limit=OVERVIEW_OVERDUE_LIMIT)
    recent, _ = repository.list_commitments(session, now, municipality_id=municipality_id, sort="-last_change", limit=10)
    add_follow_up(session, sources, overdue + recent)
    today = charts.end_of_day(now, tz or lang.time_zone)
    series = charts.municipality_series_from_counts(repository.commitment_chart_counts(session, municipality_id), now=today)
    chart = charts.municipality_chart(series, now=today, labels=_chart_labels(lang, tz), lang_code=lang.code, id_prefix="mc")
    table = charts.municipality_table(series, now=today, time_zone=tz or lang.time_zone)
    themes = repository.list_themes(session, municipality_id)
    # Kept (api.caching) until a status of one of its commitments can turn with time, or the
    # chart's "today" ends; web.index_notice caps it by the index's freshness.
    caching.keep_until(request, min(filter(None, (
        repository.municipalities_stable_until(session, now, municipality_id), today + 1))))
    return render(
        request, "municipality.html", lang, title=m["name"],
        description=lang.t("overview.description", name=m["name"], n=lang.number(m["commitment_count"])),
        m=m, source=source, tz=tz, statuses=views.STATUS_ORDER, chart=chart, table=table, themes=themes,
        overdue=[_card(r, lang, tz) for r in overdue], overdue_total=overdue_total,
        untracked_overdue=untracked_overdue_counts(session, sources, now, [municipality_id]).get(municipality_id, 0),
        recent=[_card(r, lang, tz) for r in recent], feed_path=feeds.feed_path,
    )


@router.api_route("/check", methods=["GET", "HEAD"])
def check_page(
    request: Request,
    lang: LangDep,
    session: SessionDep,
    sources: SourcesDep,
    sha256: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """Document check. ``?sha256=`` (64 hex digits, ``0x`` optional) shows where this index
    finds it; the page's script hashes a file in the browser and checks it on chain."""
    result: dict[str, Any] | None = None
    invalid = False
    if sha256 is not None and sha256.strip():
        try:
            result = repository.verify_hash(session, sha256.strip())
        except ValueError:
            invalid = True
    return render(
        request, "check.html", lang, title=(lang.t("errorPage.titlePrefix") if invalid else "") + lang.t("check.title"),
        description=lang.t("check.lead"),
        status_code=422 if invalid else 200, asked=sha256 or "", result=result, invalid=invalid, views=views,
        time_zones={mid: _time_zone(sources, code) for mid, code in repository.municipality_codes(session).items()},
    )


@router.api_route("/about", methods=["GET", "HEAD"])
def about_page(request: Request, lang: LangDep, session: SessionDep, now: NowDep, sources: SourcesDep) -> HTMLResponse:
    """About the ledger: what it is, the status rules, the sources, how to replay it."""
    checkpoint = repository.get_checkpoint(session) or {}
    all_sources = list({s.id: s for found in sources.values() for s in found}.values())  # an issuers mapping's: once
    return render(request, "about.html", lang, title=lang.t("about.title"), description=lang.t("about.lead"),
                  checkpoint=checkpoint, sources=all_sources, statuses=STATUSES)


# ------------------------------------------------------------------ errors


ERROR_KEYS = {400: "bad", 404: "notFound", 405: "bad", 413: "bad", 415: "bad", 422: "bad", 503: "unavailable"}


def error_page(request: Request, status: int, slug: str, parameter: str | None = None) -> Response:
    """The error page for ``status`` (a problem ``slug``) in the reader's language. With
    ``parameter`` (the query or path parameter that was not valid) it names it and links to the
    first page of what was asked: the same path and query without that parameter and without
    the paging ones (:data:`PAGING_PARAMETERS`); none for a path parameter (the page links to
    the list anyway)."""
    lang = request_lang(request)
    key = ERROR_KEYS.get(status, "internal")
    first_page = None
    if parameter is not None and parameter not in request.path_params:
        kept = {k: request.query_params.getlist(k) for k in request.query_params
                if k != parameter and k not in PAGING_PARAMETERS}
        first_page = internal_url(request.url.path, lang.code, kept)
    return render(request, "error.html", lang, title=lang.t(f"errorPage.{key}.title"),
                  description=lang.t(f"errorPage.{key}.text"), status_code=status, status=status, key=key, slug=slug,
                  parameter=parameter, first_page=first_page)


def install(app: FastAPI) -> None:
    """Serve the site on ``app``: pages, feeds, downloads, QR codes, static files, and error
    pages for the site's paths."""
    assets = Assets()
    app.state.site_assets = assets
    app.include_router(static_router(assets))
    app.include_router(router)
    app.include_router(feeds.router)
    app.include_router(downloads.router)
    app.include_router(share.router)
    workspace.install(app)
    app.state.html_error_renderer = error_page
