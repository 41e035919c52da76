"""Atom 1.0 feeds (RFC 4287) of the ledger's activity, written with feedgen, in the reader's
language: new commitments, amendments, withdrawals, deliveries (recorded and in batches),
revocations, and deadlines that passed without recorded proof (``ledger.db.activity``).

Routes (``router``, left out of the OpenAPI schema), each the latest :data:`FEED_ENTRY_LIMIT`
entries, newest first:

- ``GET /feeds/all.atom``: every municipality;
- ``GET /feeds/{municipality_id}.atom``: one municipality (404 if unknown);
- ``GET /feeds/{municipality_id}/themes/{theme}.atom``: one theme of one municipality, the
  theme percent-encoded in the path (404 if no commitment of that municipality has it).

The language comes from ``?lang=``, the ``lang`` cookie or ``Accept-Language``
(``frontend.i18n.negotiate``); entry titles and texts are in that language, the ledger's own
texts (titles, reasons, notes, units) stay as recorded. Each entry links to
``<site>/commitments/<id>?lang=<code>`` (``frontend.share.share_url``); its ``updated`` is the
entry's time (block time, or the due date for a passed deadline); the feed's ``updated`` is
the newest entry's, or the contract's deploy time when there is none. The author is the
municipality; ``<rights>`` carries the credits of its data sources
(``ledger.sources.SourceCredit.credit``).

Ids are permanent and independent of the site's address: ``urn:uuid:`` + the name-based
UUID (RFC 9562 version 5, URL namespace) of ``eip155:<chain id>:<contract address>/<key>``,
``<key>`` being the entry's activity id or ``feed/<path>`` for a feed. The same entry has the
same id in both languages.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from feedgen.feed import FeedGenerator
from sqlalchemy.orm import Session

from api.deps import DeploymentDep, NowDep, SessionDep, SourcesDep
from api.problems import ProblemError
from frontend.i18n import DEFAULT_TIME_ZONE, Lang
from frontend.share import share_url
from frontend.web import request_lang, site_base
from ledger.db import activity, repository
from ledger.deployment import Deployment
from ledger.sources import CREDIT_SEPARATOR, SourceCredit

router = APIRouter(include_in_schema=False)

FEED_ENTRY_LIMIT = 50
"""Entries per feed: the latest ones."""

FEED_MEDIA_TYPE = "application/atom+xml; charset=utf-8"

FEED_HEADERS = {
    "Cache-Control": "public, max-age=300",
    "Vary": "Accept-Language, Cookie",
    "X-Content-Type-Options": "nosniff",
}
"""Five minutes in any cache; the language depends on the request's headers."""

_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters XML 1.0 cannot hold (control characters, lone surrogates, U+FFFE/FFFF)."""

MunicipalityId = Annotated[int, Path(le=2**32 - 1, description="municipality id (unknown ones, 0 included, are 404)")]


def xml_text(text: str) -> str:
    """``text`` with each character XML 1.0 cannot hold replaced by U+FFFD (ledger texts may
    hold any character but NUL; lxml refuses the others)."""
    return _NOT_XML.sub("\ufffd", text)


def atom_id(deployment: Deployment, key: str) -> str:
    """The permanent Atom id of ``key`` on this ledger (see the module's docstring)."""
    name = f"eip155:{deployment.chain_id}:{deployment.contract_address.lower()}/{key}"
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}"


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _quantity(lang: Lang, quantity: str | None) -> str:
    return lang.number(quantity) if quantity is not None else ""


def entry_title(lang: Lang, entry: dict[str, Any]) -> str:
    """The title of an activity entry (``ledger.db.activity.list_activity``) in ``lang``."""
    kind = entry["kind"]
    params = {"title": entry["commitment_title"], "unit": entry["unit"]}
    if kind == "batched_delivery_revoked" and entry["quantity"] is None:
        return lang.t("feed.entry.batched_delivery_revoked_unknown", **params)
    if "quantity" in entry:
        params["quantity"] = _quantity(lang, entry["quantity"])
    return lang.t(f"feed.entry.{kind}", **params)


def entry_text(lang: Lang, entry: dict[str, Any]) -> str:
    """The plain-text content of an activity entry in ``lang``: what happened, with dates on
    the calendar of ``lang.time_zone``, the ledger's own texts as recorded, and where it is
    on the chain."""
    kind, unit = entry["kind"], entry["unit"]
    parts: list[str] = []
    if kind == "commitment_registered":
        parts.append(
            lang.t(
                "feed.text.registered",
                target=lang.number(entry["target_quantity"]),
                unit=unit,
                due=lang.date(entry["due_date"]),
                promised=lang.date(entry["promised_at"]),
            )
        )
        if entry["historical_record"]:
            parts.append(lang.t("feed.text.historical"))
    elif kind == "commitment_amended":
        parts.append(lang.t("feed.text.amendment", number=lang.number(entry["amendment_number"])))
        fields = entry["fields"]
        if "title" in fields:
            parts.append(lang.t("feed.text.amendedTitle"))
        if "description" in fields:
            parts.append(lang.t("feed.text.amendedDescription"))
        if "target_quantity" in fields:
            parts.append(
                lang.t(
                    "feed.text.amendedTarget",
                    previous=lang.number(entry["previous_target_quantity"]),
                    target=lang.number(entry["target_quantity"]),
                    unit=unit,
                )
            )
        if "due_date" in fields:
            parts.append(
                lang.t("feed.text.amendedDue", previous=lang.date(entry["previous_due_date"]), due=lang.date(entry["due_date"]))
            )
        if entry["after_due_date"]:
            parts.append(lang.t("feed.text.amendedAfterDue"))
        parts.append(lang.t("feed.text.reason", reason=entry["reason"]))
    elif kind == "commitment_withdrawn":
        parts.append(lang.t("feed.text.reason", reason=entry["reason"]))
    elif kind == "delivery_recorded":
        parts.append(
            lang.t(
                "feed.text.delivered",
                id=entry["delivery_id"],
                date=lang.date(entry["delivered_at"]),
                recorded=lang.date(entry["at"]),
            )
        )
        if entry["recorded_late"]:
            parts.append(lang.plural("feed.text.recordedLate", entry["recording_lag_seconds"] // 86_400))
        if entry["double_counted"]:
            parts.append(lang.t("feed.text.doubleCounted"))
        if entry["note"]:
            parts.append(lang.t("feed.text.note", note=entry["note"]))
    elif kind == "delivery_revoked":
        parts.append(lang.t("feed.text.revoked", id=entry["delivery_id"]))
        parts.append(lang.t("feed.text.reason", reason=entry["reason"]))
    elif kind == "batch_anchored":
        parts.append(lang.plural("feed.text.anchored", entry["leaf_count"]))
        refused = entry["leaf_count"] - entry["counted_leaf_count"]
        if refused:
            parts.append(lang.plural("feed.text.anchoredRefused", refused))
        parts.append(lang.t("feed.text.batchRoot", root=entry["batch_root"]))
    elif kind == "batched_delivery_revoked":
        parts.append(lang.t("feed.text.batchedRevoked", root=entry["batch_root"], leaf=entry["leaf_hash"]))
        parts.append(lang.t("feed.text.reason", reason=entry["reason"]))
    elif kind == "became_overdue":
        parts.append(
            lang.t(
                "feed.text.overdue",
                due=lang.date(entry["due_date"]),
                target=lang.number(entry["target_quantity"]),
                unit=unit,
            )
        )
        if entry["met_at"] is not None:
            parts.append(lang.t("feed.text.metLate", met=lang.date(entry["met_at"])))
    chain = entry["chain"]
    if chain is not None:
        parts.append(
            lang.t("feed.text.chain", tx=chain["tx_hash"], block=chain["block_number"], log=chain["log_index"])
        )
    return " ".join(parts)


def _time_zones(session: Session, sources: dict[str, list[SourceCredit]], municipality_ids: set[int]) -> dict[int, str]:
    """Municipality id → the IANA zone its dates are shown in (its first source's)."""
    zones: dict[int, str] = {}
    for mid, code in repository.municipality_codes(session, municipality_ids).items():
        credits = sources.get(code)
        zones[mid] = credits[0].time_zone if credits else DEFAULT_TIME_ZONE
    return zones


def _rights(sources: dict[str, list[SourceCredit]], codes: list[str]) -> str:
    return CREDIT_SEPARATOR.join(c.credit for code in sorted(set(codes)) for c in sources.get(code, []))


def render_feed(
    *,
    lang: Lang,
    base: str,
    path: str,
    alternate_query: dict[str, str],
    title: str,
    author: str,
    rights: str,
    entries: list[dict[str, Any]],
    time_zones: dict[int, str],
    deployment: Deployment,
) -> bytes:
    """The Atom document (UTF-8 bytes with XML declaration) of ``entries`` (newest first, as
    ``ledger.db.activity.list_activity`` gives them).

    Args:
        lang: language of the feed's own texts (``xml:lang``).
        base: the site's public base URL, no trailing slash.
        path: the feed's own path, percent-encoded (:func:`feed_path`), for its id and its
            ``rel="self"`` link.
        alternate_query: query parameters of the site page showing the same commitments.
        title: the feed's title.
        author: the feed's author (the municipality, or the site for all of them).
        rights: the source credits; empty: no ``<rights>``.
        time_zones: municipality id → IANA zone of the dates in its entries' texts.
        deployment: the ledger contract (ids, and ``updated`` of an empty feed).
    """
    feed = FeedGenerator()
    feed.id(atom_id(deployment, f"feed{path}"))
    feed.title(xml_text(title))
    feed.subtitle(lang.t("feed.subtitle"))
    feed.language(lang.code)
    feed.author(name=xml_text(author))
    feed.link(href=f"{base}{path}?lang={lang.code}", rel="self", type="application/atom+xml")
    feed.link(
        href=f"{base}/?{urlencode({**alternate_query, 'lang': lang.code})}", rel="alternate", type="text/html"
    )
    if rights:
        feed.rights(xml_text(rights))
    feed.updated(_moment(entries[0]["at"] if entries else deployment.deployed_at))
    for entry in entries:  # newest first; feedgen prepends by default
        local = Lang(lang.code, time_zones.get(entry["municipality_id"], DEFAULT_TIME_ZONE))
        item = feed.add_entry(order="append")
        item.id(atom_id(deployment, entry["id"]))
        item.title(xml_text(entry_title(local, entry)))
        item.updated(_moment(entry["at"]))
        item.author(name=xml_text(entry["municipality_name"]))
        item.link(href=share_url(base, entry["commitment_id"], lang.code), rel="alternate", type="text/html")
        item.content(xml_text(entry_text(local, entry)), type="text")
        if entry["theme"]:
            item.category(term=xml_text(entry["theme"]))
    return feed.atom_str(pretty=True)


def _respond(body: bytes) -> Response:
    return Response(body, media_type=FEED_MEDIA_TYPE, headers=FEED_HEADERS)


@router.api_route("/feeds/all.atom", methods=["GET", "HEAD"])
def all_feed(
    request: Request,
    session: SessionDep,
    now: NowDep,
    sources: SourcesDep,
    deployment: DeploymentDep,
) -> Response:
    """The latest activity of every municipality; ``<rights>`` credits every source."""
    lang = request_lang(request)
    entries = activity.list_activity(session, now, limit=FEED_ENTRY_LIMIT)
    codes = repository.municipality_codes(session)
    return _respond(
        render_feed(
            lang=lang,
            base=site_base(request),
            path=feed_path(),
            alternate_query={},
            title=lang.t("feed.title.all"),
            author=lang.t("site.name"),
            rights=_rights(sources, list(codes.values())),
            entries=entries,
            time_zones=_time_zones(session, sources, set(codes)),
            deployment=deployment,
        )
    )


def _municipality(session: Session, municipality_id: int) -> tuple[str, str]:
    name = repository.municipality_name(session, municipality_id)
    if name is None:
        raise ProblemError(404, "not-found", f"No municipality {municipality_id}.")
    return name, repository.municipality_codes(session, [municipality_id])[municipality_id]


@router.api_route("/feeds/{municipality_id:int}.atom", methods=["GET", "HEAD"])
def municipality_feed(
    municipality_id: MunicipalityId,
    request: Request,
    session: SessionDep,
    now: NowDep,
    sources: SourcesDep,
    deployment: DeploymentDep,
) -> Response:
    """The latest activity of one municipality. 404 ``not-found`` if unknown."""
    name, code = _municipality(session, municipality_id)
    lang = request_lang(request)
    entries = activity.list_activity(session, now, municipality_id=municipality_id, limit=FEED_ENTRY_LIMIT)
    return _respond(
        render_feed(
            lang=lang,
            base=site_base(request),
            path=feed_path(municipality_id),
            alternate_query={"municipality_id": str(municipality_id)},
            title=lang.t("feed.title.municipality", municipality=name),
            author=name,
            rights=_rights(sources, [code]),
            entries=entries,
            time_zones=_time_zones(session, sources, {municipality_id}),
            deployment=deployment,
        )
    )


@router.api_route("/feeds/{municipality_id:int}/themes/{theme:path}.atom", methods=["GET", "HEAD"])
def theme_feed(
    municipality_id: MunicipalityId,
    theme: str,
    request: Request,
    session: SessionDep,
    now: NowDep,
    sources: SourcesDep,
    deployment: DeploymentDep,
) -> Response:
    """The latest activity of one theme (exact, percent-decoded from the path) of one
    municipality. 404 ``not-found`` if the municipality is unknown or none of its commitments
    has this theme."""
    name, code = _municipality(session, municipality_id)
    if theme not in {t["theme"] for t in repository.list_themes(session, municipality_id)}:
        raise ProblemError(404, "not-found", f"No commitment of municipality {municipality_id} has this theme.")
    lang = request_lang(request)
    entries = activity.list_activity(
        session, now, municipality_id=municipality_id, theme=theme, limit=FEED_ENTRY_LIMIT
    )
    return _respond(
        render_feed(
            lang=lang,
            base=site_base(request),
            path=feed_path(municipality_id, theme),
            alternate_query={"municipality_id": str(municipality_id), "theme": theme},
            title=lang.t("feed.title.theme", municipality=name, theme=theme),
            author=name,
            rights=_rights(sources, [code]),
            entries=entries,
            time_zones=_time_zones(session, sources, {municipality_id}),
            deployment=deployment,
        )
    )


def feed_path(municipality_id: int | None = None, theme: str | None = None) -> str:
    """The path of a feed, for links in pages: all municipalities (no arguments), one
    municipality, or one of its themes (percent-encoded, ``/`` included):
    ``feed_path(1, "Wonen en leefomgeving")`` → ``"/feeds/1/themes/Wonen%20en%20leefomgeving.atom"``.

    Raises:
        ValueError: a theme without a municipality.
    """
    if municipality_id is None:
        if theme is not None:
            raise ValueError("A theme feed needs its municipality.")
        return "/feeds/all.atom"
    if theme is None:
        return f"/feeds/{municipality_id}.atom"
    return f"/feeds/{municipality_id}/themes/{quote(theme, safe='')}.atom"
