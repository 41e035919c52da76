"""The commitment page of a commitment with a long history: its deliveries and timeline are
shown a page at a time, with "previous" / "next" links that work without a script, each list
paging on its own; the count names all deliveries; a bad cursor is the 422 page."""

from __future__ import annotations

import html
import re
from typing import Any, Iterator

import pytest

from tests.api.history_index import BATCHED, LONG, RECORDED, SHORT, HistoryIndex, client_of, history_index, recorded_id


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HistoryIndex]:
    with history_index(tmp_path_factory.mktemp("site-paging")) as built:
        yield built


@pytest.fixture(scope="module")
def client(index: HistoryIndex) -> Iterator[Any]:
    with client_of(index.settings()) as test_client:
        yield test_client


def _pager(page: str, name: str) -> dict[str, str]:
    """The links of the pager ``name`` (``deliveries`` or ``timeline``): rel → URL."""
    found = re.search(rf'<nav class="pager"[^>]*data-testid="{name}-pager">(.*?)</nav>', page, re.S)
    if found is None:
        return {}
    return {rel: html.unescape(href) for rel, href in re.findall(r'<a rel="(prev|next)" href="([^"]+)"', found.group(1))}


def _delivery_ids(page: str) -> list[str]:
    return re.findall(r'<li class="delivery[^"]*" id="delivery-([^"]+)"', page)


def _timeline_count(page: str) -> int:
    section = re.search(r'<ol id="timeline"(.*?)</ol>', page, re.S)
    assert section is not None
    return section.group(1).count("<li ")


def test_the_first_page_shows_50_deliveries_the_count_of_all_and_a_next_link(client: Any) -> None:
    page = client.get(f"/commitments/{LONG}?lang=en").text
    assert _delivery_ids(page) == [str(recorded_id(n)) for n in range(1, 51)]
    assert f"{RECORDED + BATCHED:,} deliveries recorded." in page
    links = _pager(page, "deliveries")
    assert set(links) == {"next"}
    assert links["next"] == f"/commitments/{LONG}?deliveries_after=r.{recorded_id(50)}&lang=en#deliveries-h"
    assert set(_pager(page, "timeline")) == {"next"}


def test_next_links_walk_every_delivery_once_and_previous_links_walk_back(client: Any) -> None:
    seen: list[str] = []
    url: str | None = f"/commitments/{LONG}?lang=en"
    pages = []
    while url is not None:
        answer = client.get(url.split("#")[0])
        assert answer.status_code == 200
        pages.append(answer.text)
        seen += _delivery_ids(answer.text)
        url = _pager(answer.text, "deliveries").get("next")
    assert len(seen) == len(set(seen)) == RECORDED + BATCHED
    assert seen[:RECORDED] == [str(recorded_id(n)) for n in range(1, RECORDED + 1)]
    assert len(pages) == 3
    back = client.get(_pager(pages[-1], "deliveries")["prev"].split("#")[0]).text
    assert _delivery_ids(back) == _delivery_ids(pages[1])
    first = client.get(_pager(back, "deliveries")["prev"].split("#")[0]).text
    assert _delivery_ids(first) == _delivery_ids(pages[0]) and "prev" not in _pager(first, "deliveries")


def test_the_timeline_pages_on_its_own_and_keeps_the_deliveries_page(client: Any) -> None:
    second = client.get(f"/commitments/{LONG}?lang=en").text
    deliveries_next = _pager(second, "deliveries")["next"].split("#")[0]
    on_page_two = client.get(deliveries_next).text
    timeline_next = _pager(on_page_two, "timeline")["next"]
    assert "deliveries_after=" in timeline_next and "timeline_after=" in timeline_next
    both = client.get(timeline_next.split("#")[0]).text
    assert _delivery_ids(both) == _delivery_ids(on_page_two)
    assert _timeline_count(both) >= 1
    assert "prev" in _pager(both, "timeline")


def test_a_short_history_has_no_pager(client: Any) -> None:
    page = client.get(f"/commitments/{SHORT}?lang=en").text
    assert len(_delivery_ids(page)) == 2
    assert _pager(page, "deliveries") == {} and _pager(page, "timeline") == {}


@pytest.mark.parametrize("query", ["deliveries_after=nonsense", "timeline_before=r.1", "deliveries_after=r.1&deliveries_before=r.9"])
def test_a_cursor_that_does_not_fit_is_the_422_page(client: Any, query: str) -> None:
    answer = client.get(f"/commitments/{LONG}?{query}&lang=en")
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")


def _last_row_cursor(client: Any, commitment_id: int, part: str) -> str:
    """The cursor of the last row of a commitment's ``part`` (the API's ``prev_cursor`` of a page
    of that row alone): nothing comes after it (a stale "next" link once rows are gone)."""
    page = client.get(f"/api/v1/commitments/{commitment_id}/{part}", params={"limit": 1}).json()
    while page["next_cursor"] is not None:
        page = client.get(f"/api/v1/commitments/{commitment_id}/{part}", params={"limit": 1, "after": page["next_cursor"]}).json()
    assert len(page["data"]) == 1
    return page["prev_cursor"] or ""


@pytest.mark.parametrize("lang", ["en", "nl"])
def test_a_history_page_past_its_end_leads_back_to_its_first_page(client: Any, lang: str) -> None:
    from frontend.i18n import Lang

    words = Lang(lang)
    deliveries = _last_row_cursor(client, SHORT, "deliveries")
    timeline = _last_row_cursor(client, SHORT, "timeline")
    assert deliveries and timeline
    page = client.get(f"/commitments/{SHORT}", params={"deliveries_after": deliveries, "timeline_after": timeline,
                                                       "lang": lang}).text
    assert _delivery_ids(page) == [] and _timeline_count(page) == 0
    assert words.t("delivery.noneYet") not in page  # it has deliveries: this page is past them
    assert page.count(words.t("results.pastEnd")) == 2
    assert _pager(page, "deliveries") == {"prev": f"/commitments/{SHORT}?timeline_after={timeline}&lang={lang}#deliveries-h"}
    assert _pager(page, "timeline") == {"prev": f"/commitments/{SHORT}?deliveries_after={deliveries}&lang={lang}#timeline-h"}
    back = client.get(f"/commitments/{SHORT}", params={"lang": lang}).text
    assert len(_delivery_ids(back)) == 2 and _timeline_count(back) >= 1
