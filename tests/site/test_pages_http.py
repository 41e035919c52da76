"""The citizens' pages over HTTP, on the whole app (``api.main.create_app``: lifespan,
problem handlers, gzip, site) over a small projected index without a chain.

Every page, in both languages: HTML with ``<html lang>``, its own title, Open Graph tags, a
Content-Security-Policy without ``unsafe-inline`` that lets the browser reach the configured
RPC origin, no inline script (data blocks only), ``Content-Language``; the language from
``?lang`` (remembered in a cookie), the cookie or ``Accept-Language``; errors as pages in the
reader's language (under ``/api/`` they stay problem+json); gzip under the 100 KB budget;
every internal link resolves; the list's filters, sort and pager give the rows of
``repository.list_commitments``; the plain words of missing proof, historical records and
deadlines moved after they were missed; ledger texts marked with the language of their
source."""

from __future__ import annotations

import json
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from markupsafe import escape

with warnings.catch_warnings():  # starlette asks for httpx2, which the pinned env does not have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from api.deps import get_now
from api.main import create_app
from frontend.i18n import Lang
from frontend.site import PAGE_SIZE
from ledger.db import repository
from ledger.db.projection import apply_events
from ledger.deployment import save_deployment
from ledger.evidence import EvidenceStore
from ledger.settings import Settings
from tests.db.batch_files import build, leaf
from tests.db.databases import Database, fresh_database
from tests.db.script import DAY, Script, sha
from tests.site.test_feeds import DEPLOYMENT

SITE = "https://register.example"
PUBLIC_RPC = "https://rpc.example.org:8443/v1/public"
RPC_ORIGIN = "https://rpc.example.org:8443"
BUDGET_BYTES = 100_000
"""A page, gzipped, with the CSS and scripts it loads at start (ethers and the ABI only on a
chain check), must weigh less than this."""

YEAR = 365 * DAY
CHILE_TITLE = "Aumentar la Pensión Garantizada Universal a 250 mil pesos"
THEMES = ("Wonen", "Groen", "Zorg", "Verkeer")
EN, NL = Lang("en"), Lang("nl")


# ---------------------------------------------------------------------------- the story


class Story:
    """Baarn (1, GM0308: its source mapping says Dutch) and Gobierno de Chile (2, CL-GOB:
    Spanish, America/Santiago), registered 60 days before ``now``:

    1. "Renovate 200 social homes" (Wonen, due in a year): delivery 1 of 40 with the stored
       evidence ``CITED`` (in progress);
    2. "Plant 500 trees" (Groen, due in 10 days): no delivery, so overdue without proof;
    3. "Open the health desk" (Zorg): registered a year after its due date (historical);
    4. "Repave the Brink" (Verkeer, due in 5 days): amended at day 11 to a due date 100 days
       later (a deadline moved after it was missed);
    5. Chile's pension promise (Pensiones): delivery 1 recorded 400 days after the date it
       states, and a batch (file stored) with one leaf;
    6–30. Baarn commitments over the four themes, due every 7 days from day 3, every third
       with a delivery of its index (of 50), every fifth of those recorded late.
    """

    def __init__(self) -> None:
        s = Script()
        s.next_block().municipality(1)
        s.registrar(1)
        s.municipality(2, "Gobierno de Chile", "CL-GOB")
        s.registrar(2)
        s.next_block()
        self.registered_at = r = s.time
        self.now = r + 60 * DAY
        s.commitment(1, title="Renovate 200 social homes", theme="Wonen", target_quantity=200, due_date=r + YEAR)
        s.commitment(2, title="Plant 500 trees", theme="Groen", target_quantity=500, unit="bomen", due_date=r + 10 * DAY)
        self.source_document = sha("raadsbesluit zorgloket")
        s.commitment(3, title="Open the health desk", theme="Zorg", target_quantity=1, unit="loket",
                     promised_at=r - 3 * YEAR, due_date=r - YEAR, source_document_hash=self.source_document)
        s.commitment(4, title="Repave the Brink", theme="Verkeer", target_quantity=1, unit="straat", due_date=r + 5 * DAY)
        s.commitment(5, municipality_id=2, title=CHILE_TITLE, theme="Pensiones", target_quantity=1000, unit="personas",
                     due_date=r + 2 * YEAR, source_uri="https://www.deldichoalhecho.cl/")
        for i in range(6, 31):
            s.commitment(i, title=f"Commitment {i:02d}", theme=THEMES[i % 4], target_quantity=50, unit="stuks",
                         due_date=r + 3 * DAY + (i - 6) * 7 * DAY)
        s.next_block(DAY)
        self.cited = sha("opleverrapport")
        s.delivery(1, 1, 40, s.time - 3_600, [self.cited], note="Eerste 40 woningen opgeleverd")
        s.delivery(5, 1, 10, s.time - 400 * DAY, note="Primer pago")
        for i in range(6, 31, 3):
            lag = 45 * DAY if i % 5 == 0 else 3_600
            s.delivery(i, 1, i, s.time - lag)
        self.batch = build([leaf(5, 20, s.time - 30 * DAY, note="Segundo pago")])
        s.next_block().anchor(self.batch.root, self.batch.sha256, 1, municipality_id=2)
        s.next_block(10 * DAY).amend(4, 1, previous_target=1, previous_due=r + 5 * DAY, due=s.time + 100 * DAY,
                                     reason="Aanbesteding vertraagd")
        self.script = s

    def apply(self, db: Database) -> None:
        with db.sessions.begin() as session:
            apply_events(session, self.script.events, self.script.block_times,
                         batch_files={self.batch.sha256: self.batch.data}.get)


@pytest.fixture(scope="module")
def story() -> Story:
    return Story()


@pytest.fixture(scope="module")
def db(story: Story, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    with fresh_database("sqlite", tmp_path_factory.mktemp("pages-db")) as database:
        story.apply(database)
        yield database


@pytest.fixture(scope="module")
def app_client(db: Database, story: Story, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The whole app (lifespan included) on the story's index, at request time ``now``,
    with the cited evidence file and the batch file in its store and the source credits of
    ``scripts/mappings``."""
    data_dir = tmp_path_factory.mktemp("pages-data")
    save_deployment(data_dir / "deployment.json", DEPLOYMENT)
    store = EvidenceStore(data_dir / "evidence")
    store.path(story.cited).write_bytes(b"opleverrapport")
    store.path(story.batch.sha256).write_bytes(story.batch.data)
    settings = Settings(data_dir=data_dir, database_url=db.url, rpc_url="http://127.0.0.1:9",
                        public_rpc_url=PUBLIC_RPC, site_url=SITE)
    app = create_app(settings)
    app.dependency_overrides[get_now] = lambda: story.now
    with TestClient(app, base_url=SITE) as test_client:
        yield test_client


@pytest.fixture
def client(app_client: TestClient) -> Iterator[TestClient]:
    """The app's client without cookies (a reader who never chose a language)."""
    app_client.cookies.clear()
    yield app_client
    app_client.cookies.clear()


# ---------------------------------------------------------------------------- reading pages


class Page(HTMLParser):
    """What the checks read of an HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.html_lang: str | None = None
        self.title = ""
        self.meta: dict[str, list[str]] = {}
        self.scripts: list[tuple[dict[str, str], str]] = []
        self.hrefs: list[str] = []
        self.anchors: list[dict[str, str]] = []
        self.stylesheets: list[str] = []
        self.by_id: dict[str, dict[str, str]] = {}
        self._in: str | None = None
        self._svg_depth = 0
        self._script_attrs: dict[str, str] = {}
        self._script_text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.by_id[a["id"]] = {"tag": tag, **a}
        if tag == "svg":
            self._svg_depth += 1
        if tag == "html":
            self.html_lang = a.get("lang")
        elif tag == "title" and not self._svg_depth:  # an SVG's own <title> is not the page's
            self._in = "title"
        elif tag == "meta":
            key = a.get("property") or a.get("name")
            if key:
                self.meta.setdefault(key, []).append(a.get("content", ""))
        elif tag == "script":
            self._in, self._script_attrs, self._script_text = "script", a, []
        elif tag == "link" and a.get("rel") == "stylesheet":
            self.stylesheets.append(a["href"])
        if tag in ("a", "link") and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "a" and "href" in a:
            self.anchors.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._svg_depth -= 1
        if tag == "script" and self._in == "script":
            self.scripts.append((self._script_attrs, "".join(self._script_text)))
        if tag in ("title", "script"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in == "script":
            self._script_text.append(data)

    def json_block(self, block_id: str) -> Any:
        for attrs, text in self.scripts:
            if attrs.get("id") == block_id:
                return json.loads(text)
        raise KeyError(block_id)


def text_of(html: str) -> str:
    """The page's visible words, tags dropped and whitespace runs as one space."""
    body = re.sub(r"<script\b.*?</script>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).replace("&#39;", "'").replace("&amp;", "&")


def page_paths(story: Story) -> dict[str, tuple[str, int]]:
    """Page kind → (path, expected status)."""
    return {
        "list": ("/", 200),
        "commitment": ("/commitments/1", 200),
        "commitment-no-proof": ("/commitments/2", 200),
        "commitment-chile": ("/commitments/5", 200),
        "municipalities": ("/municipalities", 200),
        "municipality": ("/municipalities/1", 200),
        "check": ("/check", 200),
        "check-cited": (f"/check?sha256={story.cited}", 200),
        "check-invalid": ("/check?sha256=zz", 422),
        "about": ("/about", 200),
        "not-found": ("/nope", 404),
        "bad-id": ("/commitments/abc", 422),
        "unknown-commitment": ("/commitments/999", 404),
        "unknown-municipality": ("/municipalities/99", 404),
    }


KINDS = [
    "list", "commitment", "commitment-no-proof", "commitment-chile", "municipalities", "municipality", "check",
    "check-cited", "check-invalid", "about", "not-found", "bad-id", "unknown-commitment", "unknown-municipality",
]
"""The kinds of :func:`page_paths`."""
SAME_PAGE = {"check-cited": "check", "check-invalid": "check", "commitment-no-proof": None, "commitment-chile": None,
             "unknown-commitment": "not-found", "unknown-municipality": "not-found"}
"""Kinds that are another kind's page (same title): a query on it, or the same error."""


def with_lang(path: str, code: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}lang={code}"


# ---------------------------------------------------------------------------- every page


@pytest.mark.parametrize("code", ["nl", "en"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_page_is_a_complete_html_page(client: TestClient, story: Story, kind: str, code: str) -> None:
    path, status = page_paths(story)[kind]
    url = with_lang(path, code)
    response = client.get(url)
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-language"] == code
    assert {"Accept-Language", "Cookie"} <= {v.strip() for v in response.headers["vary"].split(",")}
    assert response.headers["x-content-type-options"] == "nosniff"
    page = Page(response.text)
    assert page.html_lang == code
    assert page.title.strip() and page.title.endswith(" — " + ("Van belofte naar bewijs" if code == "nl" else "From promise to proof"))
    for name in ("og:title", "og:description", "og:url", "og:site_name", "description"):
        assert len(page.meta.get(name, [])) == 1 and page.meta[name][0].strip(), name
    assert page.meta["og:title"][0] == page.title.rsplit(" — ", 1)[0]
    og_url = urlsplit(page.meta["og:url"][0])
    assert (og_url.scheme, og_url.netloc, og_url.path) == ("https", "register.example", urlsplit(path).path)
    assert parse_qs(og_url.query)["lang"] == [code]
    assert page.meta["og:locale"] == ["nl_NL" if code == "nl" else "en_GB"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_page_has_a_strict_content_security_policy(client: TestClient, story: Story, kind: str) -> None:
    path, _ = page_paths(story)[kind]
    response = client.get(path)
    policy = dict(
        (part.split()[0], part.split()[1:]) for part in response.headers["content-security-policy"].split(";") if part.strip()
    )
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert "unsafe-eval" not in response.headers["content-security-policy"]
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'", RPC_ORIGIN]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize("kind", KINDS)
def test_no_page_has_inline_script_or_style(client: TestClient, story: Story, kind: str) -> None:
    """The CSP would block them: every script has a same-origin ``src`` or is a JSON data
    block; no ``style`` attribute or element, no ``on...`` handler."""
    path, _ = page_paths(story)[kind]
    html = client.get(path).text
    page = Page(html)
    for attrs, text in page.scripts:
        if "src" in attrs:
            assert attrs["src"].startswith("/static/") and not text.strip(), attrs
            assert attrs.get("type") == "module"
        else:
            assert attrs.get("type") == "application/json", attrs
            json.loads(text)
    assert not re.search(r"<style\b", html)
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert "javascript:" not in html


def test_each_kind_of_page_has_its_own_title(client: TestClient, story: Story) -> None:
    for code in ("nl", "en"):
        titles: dict[str, str] = {}
        for kind in KINDS:
            if SAME_PAGE.get(kind):
                continue
            path, _ = page_paths(story)[kind]
            titles[kind] = Page(client.get(with_lang(path, code)).text).title
        assert len(set(titles.values())) == len(titles), titles
    assert Page(client.get("/commitments/5?lang=en").text).title == f"{CHILE_TITLE} — From promise to proof"
    assert Page(client.get("/municipalities/1?lang=en").text).title == "Baarn — From promise to proof"


# ---------------------------------------------------------------------------- language


def test_lang_query_sets_a_cookie_that_later_requests_follow(client: TestClient) -> None:
    first = client.get("/?lang=en")
    cookie = first.headers["set-cookie"]
    assert cookie.startswith("lang=en;")
    assert "Max-Age=31536000" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    later = client.get("/about", headers={"Accept-Language": "nl"})
    assert (Page(later.text).html_lang, later.headers["content-language"]) == ("en", "en")
    assert "set-cookie" not in later.headers
    assert Page(client.get("/nope").text).html_lang == "en"  # error pages too
    client.get("/check?lang=nl")
    assert Page(client.get("/").text).html_lang == "nl"


def test_accept_language_chooses_when_nothing_else_does(client: TestClient) -> None:
    english = client.get("/municipalities", headers={"Accept-Language": "en-GB,en;q=0.9,nl;q=0.5"})
    assert Page(english.text).html_lang == "en"
    assert "set-cookie" not in english.headers  # the header is not a choice to remember
    assert Page(client.get("/municipalities", headers={"Accept-Language": "fr, nl;q=0.1"}).text).html_lang == "nl"
    assert Page(client.get("/municipalities", headers={"Accept-Language": "fr"}).text).html_lang == "nl"
    assert Page(client.get("/municipalities").text).html_lang == "nl"


def test_an_unknown_lang_is_ignored_and_not_remembered(client: TestClient) -> None:
    response = client.get("/?lang=fr", headers={"Accept-Language": "en"})
    assert (response.status_code, Page(response.text).html_lang) == (200, "en")
    assert "set-cookie" not in response.headers
    shouted = client.get("/?lang=EN")
    assert shouted.headers["set-cookie"].startswith("lang=en;")


def test_head_answers_like_get_without_a_body(client: TestClient) -> None:
    for path in ("/", "/commitments/1", "/about"):
        head = client.head(path, headers={"Accept-Encoding": "identity"})
        assert (head.status_code, head.content) == (200, b""), path
        assert head.headers["content-type"] == "text/html; charset=utf-8"
        assert int(head.headers["content-length"]) == len(client.get(path, headers={"Accept-Encoding": "identity"}).content)


def test_head_carries_the_etag_of_the_get_and_revalidates(client: TestClient) -> None:
    for path in ("/", "/commitments/1", "/municipalities/1", "/about"):
        etag = client.get(path).headers["etag"]
        head = client.head(path)
        assert (head.status_code, head.headers.get("etag")) == (200, etag), path
        assert client.head(path, headers={"If-None-Match": etag}).status_code == 304, path
        for encoding in ("gzip", "identity"):
            get = client.get(path, headers={"Accept-Encoding": encoding})
            head = client.head(path, headers={"Accept-Encoding": encoding})
            assert [head.headers.get(h) for h in ("content-encoding", "content-length", "vary", "etag")] == \
                [get.headers.get(h) for h in ("content-encoding", "content-length", "vary", "etag")], (path, encoding)


@pytest.mark.parametrize("commitment_id", [1, 2, 4, 5])
def test_a_commitment_page_revalidates_while_no_status_can_have_turned(
    app_client: TestClient, story: Story, commitment_id: int
) -> None:
    """The page a minute later is the same page (its chain check's ``data-now`` is the first
    second of the window of equal statuses, not the request second), so it answers 304."""
    path = f"/commitments/{commitment_id}"
    try:
        first = app_client.get(path)
        app_client.app.dependency_overrides[get_now] = lambda: story.now + 60
        later = app_client.get(path, headers={"If-None-Match": first.headers["etag"]})
    finally:
        app_client.app.dependency_overrides[get_now] = lambda: story.now
    assert later.status_code == 304, path


def test_a_commitment_page_changes_when_its_due_date_passes(app_client: TestClient, story: Story) -> None:
    """Commitment 1 (in progress, due in the future): the second after its due date its page
    (status overdue, a later ``data-now``) is another representation."""
    path = "/commitments/1"
    due = app_client.get("/api/v1/commitments/1").json()["due_date"]
    try:
        first = app_client.get(path)
        app_client.app.dependency_overrides[get_now] = lambda: due + 1
        later = app_client.get(path, headers={"If-None-Match": first.headers["etag"]})
    finally:
        app_client.app.dependency_overrides[get_now] = lambda: story.now
    assert later.status_code == 200
    assert re.search(r'data-now="(\d+)"', later.text).group(1) == str(due + 1)


def test_a_304_for_a_lang_query_still_remembers_the_language(client: TestClient) -> None:
    first = client.get("/commitments/1?lang=en")
    client.cookies.clear()
    again = client.get("/commitments/1?lang=en", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.headers.get("set-cookie") == first.headers["set-cookie"]


def test_internal_links_keep_the_language(client: TestClient) -> None:
    page = Page(client.get("/?lang=en").text)
    site_links = [a["href"] for a in page.anchors if a["href"].startswith("/") and "hreflang" not in a
                  and not a["href"].startswith(("/api/", "/docs"))]
    assert site_links
    assert all(parse_qs(urlsplit(h).query).get("lang") == ["en"] for h in site_links), site_links
    switch = page.by_id["lang-switch"]
    assert (switch["lang"], parse_qs(urlsplit(switch["href"]).query)["lang"]) == ("nl", ["nl"])


@pytest.mark.parametrize("kind", KINDS)
def test_the_language_switch_shows_the_same_page_in_the_other_language(client: TestClient, story: Story, kind: str) -> None:
    path, status = page_paths(story)[kind]
    switch = Page(client.get(with_lang(path, "en")).text).by_id["lang-switch"]
    assert urlsplit(switch["href"]).path == urlsplit(path).path
    other = client.get(switch["href"])
    assert (other.status_code, Page(other.text).html_lang) == (status, "nl")
    assert parse_qs(urlsplit(switch["href"]).query) == {**parse_qs(urlsplit(path).query), "lang": ["nl"]}


# ---------------------------------------------------------------------------- errors


def test_a_missing_page_is_a_page_in_the_readers_language(client: TestClient) -> None:
    english = client.get("/nope", headers={"Accept-Language": "en"})
    assert english.status_code == 404
    assert english.headers["content-type"] == "text/html; charset=utf-8"
    assert Page(english.text).title == "Page not found — From promise to proof"
    assert "Page not found" in text_of(english.text)
    dutch = client.get("/nope")
    assert Page(dutch.text).title == "Pagina niet gevonden — Van belofte naar bewijs"
    for path in ("/commitments/999?lang=en", "/municipalities/99?lang=en", "/commitments/abc?lang=en"):
        assert client.get(path).headers["content-type"] == "text/html; charset=utf-8", path


def test_an_invalid_hash_is_a_422_page_that_says_what_is_wrong(client: TestClient) -> None:
    response = client.get("/check?sha256=zz&lang=en")
    assert response.status_code == 422
    page = Page(response.text)
    assert page.by_id["check-hash"]["aria-invalid"] == "true"
    assert page.by_id["check-hash"]["value"] == "zz"
    assert "sha-error" in page.by_id
    assert EN.t("check.invalid") in text_of(response.text)


def test_problems_under_api_stay_problem_json(client: TestClient) -> None:
    for path, status in (("/api/v1/commitments/999", 404), ("/api/v1/nope", 404), ("/api/v1/commitments/abc", 422),
                         ("/api/v1/commitments?sort=zz", 422)):
        response = client.get(path, headers={"Accept": "text/html", "Accept-Language": "en"})
        assert response.status_code == status, path
        assert response.headers["content-type"] == "application/problem+json", path
        assert response.json()["status"] == status


# ---------------------------------------------------------------------------- size


def start_assets(page: Page) -> list[str]:
    """URLs the page loads at start: stylesheets, script sources, and the modules its
    scripts import at once (``chain`` and ``rules`` of ``#asset-urls``; ethers and the ABI
    only when the reader runs a chain check)."""
    urls = list(page.stylesheets) + [a["src"] for a, _ in page.scripts if "src" in a]
    try:
        named = page.json_block("asset-urls")
    except KeyError:
        named = {}
    urls += [named[k] for k in ("chain", "rules") if k in named]
    return urls


@pytest.mark.parametrize("code", ["nl", "en"])
@pytest.mark.parametrize("kind", KINDS)
def test_pages_are_gzipped_and_within_the_budget(client: TestClient, story: Story, kind: str, code: str) -> None:
    path, _ = page_paths(story)[kind]
    response = client.get(with_lang(path, code), headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.num_bytes_downloaded < len(response.content)
    total = response.num_bytes_downloaded
    for url in start_assets(Page(response.text)):
        asset = client.get(url, headers={"Accept-Encoding": "gzip"})
        assert asset.status_code == 200, url
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable", url
        total += asset.num_bytes_downloaded
    assert total < BUDGET_BYTES, (kind, total)


def test_without_accept_encoding_the_page_is_not_compressed(client: TestClient) -> None:
    response = client.get("/", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in response.headers
    assert response.num_bytes_downloaded == len(response.content)
    compressed = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.text == response.text  # the same page, only the transfer differs


# ---------------------------------------------------------------------------- links


def test_every_internal_link_resolves(client: TestClient, story: Story) -> None:
    """Every link (``<a href>``) starting with ``/`` on every page (both languages), and what
    the page loads at start, one level deep."""
    links: set[str] = set()
    for kind in KINDS:
        path, _ = page_paths(story)[kind]
        for code in ("nl", "en"):
            page = Page(client.get(with_lang(path, code)).text)
            links |= {a["href"].split("#")[0] for a in page.anchors
                      if a["href"].startswith("/") and not a["href"].startswith("//") and "hreflang" not in a}
            links |= {src for src in start_assets(page)}
    links.discard("")
    assert len(links) > 60
    broken = {}
    for link in sorted(links):
        response = client.get(link)
        if response.status_code >= 400:
            broken[link] = response.status_code
    assert broken == {}


# ---------------------------------------------------------------------------- the list


def card_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="card" id="c-(\d+)">', html)]


LIST_QUERIES = [
    {},
    {"sort": "-progress"},
    {"sort": "due_date"},
    {"sort": "due_date", "page": "2"},
    {"sort": "-due_date", "page": "2"},
    {"sort": "-last_change"},
    {"sort": "id", "page": "2"},
    {"sort": "-id"},
    {"sort": "progress"},
    {"sort": "-status"},
    {"status": "overdue"},
    {"status": ["overdue", "pending"], "sort": "id"},
    {"theme": "Wonen"},
    {"municipality_id": "2"},
    {"municipality_id": "1", "theme": "Groen", "sort": "-due_date"},
    {"q": "trees"},
    {"recorded_late": "true"},
    {"amended_after_due_date": "true"},
    {"met_only_under_relaxed_terms": "true"},
]


@pytest.mark.parametrize("query", LIST_QUERIES, ids=lambda q: "&".join(f"{k}={v}" for k, v in q.items()) or "default")
def test_the_list_shows_the_rows_of_the_data_layer(client: TestClient, db: Database, story: Story, query: dict) -> None:
    response = client.get("/", params={**query, "lang": "en"})
    assert response.status_code == 200
    page = int(query.get("page", "1"))
    statuses = query.get("status", [])
    statuses = [statuses] if isinstance(statuses, str) else statuses
    with db.sessions() as session:
        rows, total = repository.list_commitments(
            session, story.now, municipality_id=int(query["municipality_id"]) if "municipality_id" in query else None,
            theme=query.get("theme"), statuses=statuses, recorded_late=True if "recorded_late" in query else None,
            amended_after_due_date=True if "amended_after_due_date" in query else None,
            met_only_under_relaxed_terms=True if "met_only_under_relaxed_terms" in query else None,
            q=query.get("q"), sort=query.get("sort", "status"), offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE,
        )
    assert card_ids(response.text) == [r["id"] for r in rows]
    count = re.search(r'<p id="result-count" class="count">(.*?)</p>', response.text, flags=re.S)
    assert count is not None
    assert text_of(count.group(1)).strip().startswith(EN.plural("results.total", total))
    form = Page(response.text)
    assert form.by_id["f-sort"]["tag"] == "select"
    assert f'<option value="{query.get("sort", "status")}" selected>' in response.text


def test_the_default_list_puts_what_needs_attention_first(client: TestClient, story: Story) -> None:
    ids = card_ids(client.get("/?lang=en").text)
    assert len(ids) == PAGE_SIZE
    assert ids[:2] == [2, 3]  # overdue first (ties by id); 4 was moved past its missed deadline
    assert 1 not in ids[:2]


def test_the_pager_walks_every_row_once(client: TestClient, db: Database, story: Story) -> None:
    first = client.get("/?lang=en&sort=id")
    assert card_ids(first.text) == list(range(1, 21))
    nav = Page(first.text)
    assert "Page 1 of 2" in text_of(first.text)
    next_link = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert next_link is not None and 'rel="prev"' not in first.text
    second = client.get(next_link.group(1).replace("&amp;", "&"))
    assert card_ids(second.text) == list(range(21, 31))
    assert 'rel="next"' not in second.text and 'rel="prev"' in second.text
    assert EN.t("results.range", **{"from": "21", "to": "30", "total": "30"}) in text_of(second.text)
    past = client.get("/?lang=en&sort=id&page=3")
    assert past.status_code == 200 and card_ids(past.text) == []
    assert EN.t("results.pastEnd") in text_of(past.text)
    assert nav.by_id["commitment-list"]["tag"] == "ol"


def last_row_cursor(client: TestClient) -> str:
    """The cursor of the last row (30) of the list sorted by id, as the API gives it: ``after``
    it there is nothing (what a stale "Next" link holds once the list has shrunk)."""
    last = client.get("/api/v1/commitments", params={"sort": "id", "offset": 29, "limit": 1}).json()
    assert [r["id"] for r in last["data"]] == [30] and last["next_cursor"] is None
    assert client.get("/api/v1/commitments", params={"sort": "id", "after": last["prev_cursor"]}).json()["data"] == []
    return last["prev_cursor"]


def pager_links(html: str) -> dict[str, str]:
    """The list page's links by their words, ``&amp;`` read as ``&``."""
    return {text_of(m.group(2)).strip(): m.group(1).replace("&amp;", "&")
            for m in re.finditer(r'<a (?:rel="prev" )?href="([^"]+)"[^>]*>(.*?)</a>', html, flags=re.S)}


@pytest.mark.parametrize("lang", [EN, NL], ids=["en", "nl"])
@pytest.mark.parametrize("past", ["page=3", "page=9", "after", "page=2&after"])
def test_a_page_past_the_end_leads_back_to_the_last_and_the_first_page(client: TestClient, lang: Lang, past: str) -> None:
    query = past.replace("after", f"after={last_row_cursor(client)}") if "after" in past else past
    html = client.get(f"/?lang={lang.code}&sort=id&{query}").text
    assert card_ids(html) == []
    words = text_of(html)
    assert lang.t("results.pastEnd") in words and lang.t("results.none") not in words
    assert lang.t("pager.pastEnd", pages="2") in words and lang.t("pager.page", page="1", pages="2") not in words
    previous = re.search(r'<a rel="prev" href="([^"]+)"', html)
    assert previous is not None
    links = pager_links(html)
    assert links[lang.t("pager.prev")] == links[lang.t("pager.last", page="2")] == f"/?sort=id&page=2&lang={lang.code}"
    assert links[lang.t("pager.first")] == f"/?sort=id&lang={lang.code}"
    assert card_ids(client.get(previous.group(1).replace("&amp;", "&")).text) == list(range(21, 31))
    assert card_ids(client.get(links[lang.t("pager.first")]).text) == list(range(1, 21))


def test_past_the_end_of_a_one_page_list_previous_is_the_first_page(client: TestClient) -> None:
    html = client.get("/?lang=en&municipality_id=2&page=4").text
    assert card_ids(html) == []
    links = pager_links(html)
    assert links[EN.t("pager.prev")] == links[EN.t("pager.first")] == "/?sort=status&municipality_id=2&lang=en"
    assert EN.t("pager.last", page="1") not in links
    assert card_ids(client.get(links[EN.t("pager.prev")]).text) == [5]


def test_a_list_with_no_matches_is_not_past_its_end(client: TestClient) -> None:
    html = client.get("/?lang=en&q=nothing-matches-this").text
    assert EN.t("results.none") in text_of(html) and EN.t("results.pastEnd") not in text_of(html)
    assert 'rel="prev"' not in html


def test_filters_survive_paging_and_sorting(client: TestClient) -> None:
    html = client.get("/?lang=en&municipality_id=1&sort=id").text
    next_link = re.search(r'<a rel="next" href="([^"]+)"', html)
    assert next_link is not None
    query = parse_qs(urlsplit(next_link.group(1).replace("&amp;", "&")).query)
    after = query.pop("after")  # the data layer's cursor (keyset pagination)
    assert query == {"municipality_id": ["1"], "sort": ["id"], "page": ["2"], "lang": ["en"]}
    assert len(after) == 1 and after[0]


@pytest.mark.parametrize("query", ["sort=zz", "status=done", "page=0", "municipality_id=x", "recorded_late=maybe",
                                   "after=bm90IGEgY3Vyc29y", "page=502", "after=garbage", "before=garbage",
                                   "after=x&before=y", "after=" + "x" * 401])
def test_a_bad_filter_is_a_422_page_that_names_it_and_links_to_the_first_page(client: TestClient, query: str) -> None:
    response = client.get(f"/?{query}&theme=Wonen&lang=en")
    assert response.status_code == 422
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = Page(response.text)
    assert page.html_lang == "en"
    named = {"after=x&before=y": "before"}.get(query, query.split("=")[0])
    assert page.by_id["bad-parameter"]["data-parameter"] == named
    assert EN.t("errorPage.parameter", name=named) in text_of(response.text)
    first = page.by_id["first-page"]["href"]  # without the bad value and the paging, the other filters kept
    assert first == "/?theme=Wonen&lang=en"
    assert client.get(first).status_code == 200


@pytest.mark.parametrize("lang", [EN, NL], ids=["en", "nl"])
@pytest.mark.parametrize("query, named", [("deliveries_after=garbage", "deliveries_after"), ("timeline_before=r.1", "timeline_before"),
                                          ("deliveries_after=r.1&deliveries_before=r.9", "deliveries_before")])
def test_a_bad_cursor_of_a_commitment_page_is_named_in_both_languages(client: TestClient, lang: Lang, query: str, named: str) -> None:
    response = client.get(f"/commitments/1?{query}&lang={lang.code}")
    assert response.status_code == 422
    page = Page(response.text)
    assert page.by_id["bad-parameter"]["data-parameter"] == named
    assert lang.t("errorPage.parameter", name=named) in text_of(response.text)
    assert page.by_id["first-page"]["href"] == f"/commitments/1?lang={lang.code}"
    assert lang.t("errorPage.firstPage") in text_of(response.text)


def test_a_bad_path_parameter_is_named_and_the_page_links_to_the_list(client: TestClient) -> None:
    response = client.get("/commitments/abc?lang=nl")
    assert response.status_code == 422
    page = Page(response.text)
    assert page.by_id["bad-parameter"]["data-parameter"] == "commitment_id"
    assert "first-page" not in page.by_id and NL.t("errorPage.home") in text_of(response.text)


# ---------------------------------------------------------------------------- plain words


def test_no_deliveries_reads_no_proof_recorded_yet_not_a_bare_overdue(client: TestClient) -> None:
    for lang in (EN, NL):
        html = client.get(f"/commitments/2?lang={lang.code}").text
        headline = Page(html).by_id["headline-status"]
        assert headline["data-status"] == "overdue_no_proof"
        assert 'class="badge tone-warn" data-status="overdue_no_proof"' in html
        words = text_of(html)
        assert lang.t("verdict.overdueNoProof") in words
        assert lang.t("delivery.noneYet") in words
        assert lang.t("verdict.noProofHint") in words
        assert 'data-status="overdue"' not in html
        assert "tone-bad" not in html


def test_a_commitment_with_proof_shows_its_deliveries(client: TestClient, story: Story) -> None:
    html = client.get("/commitments/1?lang=en").text
    words = text_of(html)
    assert "40 of 200 woningen (20%)" in words
    assert Page(html).by_id["headline-status"]["data-status"] == "in_progress"
    assert story.cited in html
    assert f'<a href="/api/v1/evidence/{story.cited}">{EN.t("evidence.open")}</a>' in html  # stored here
    assert "Eerste 40 woningen opgeleverd" in words
    expected = Page(html).json_block("chain-check-expected")
    assert expected["commitment_id"] == 1 and expected["deliveries"][0]["evidence"] == [story.cited]


def test_a_historical_record_explains_itself(client: TestClient, story: Story) -> None:
    html = client.get("/commitments/3?lang=en").text
    words = text_of(html)
    assert EN.t("flag.historical") in words
    assert EN.t("historical.explain", promised=EN.date(story.registered_at - 3 * YEAR),
                recorded=EN.date(story.registered_at), due=EN.date(story.registered_at - YEAR)) in words
    assert 'data-status="historical"' in html


def test_a_deadline_moved_after_it_was_missed_is_named(client: TestClient) -> None:
    en = text_of(client.get("/commitments/4?lang=en").text)
    assert "Deadline moved after it was missed" in en
    assert "Aanbesteding vertraagd" in en
    nl = text_of(client.get("/commitments/4?lang=nl").text)
    assert "Termijn verschoven nadat die was verstreken" in nl
    listed = client.get("/?lang=en&amended_after_due_date=true").text
    assert card_ids(listed) == [4]
    assert "Deadline moved after it was missed" in text_of(listed)


def test_a_delivery_recorded_long_after_its_date_says_so(client: TestClient) -> None:
    html = client.get("/commitments/5?lang=en").text
    assert "recorded 1 year after the date it states" in text_of(html)
    assert re.search(r'<span class="badge tone-warn" data-lag="400">recorded 1 year after the date it states</span>', html)


# ---------------------------------------------------------------------------- the ledger's own language


def test_ledger_texts_keep_the_language_of_their_source(client: TestClient) -> None:
    """Chile's mapping says ``language: es``: its titles, themes and notes carry ``lang="es"``
    inside an English or Dutch page; Baarn's carry ``lang="nl"``."""
    for code in ("en", "nl"):
        html = client.get(f"/commitments/5?lang={code}").text
        page = Page(html)
        assert page.html_lang == code
        assert page.by_id["commitment-title"]["lang"] == "es"
        assert re.search(r'<h1 id="commitment-title" data-testid="commitment-title" lang="es">' + re.escape(CHILE_TITLE) + "</h1>", html)
        assert '<span lang="es">Pensiones</span>' in html
        assert '<dd lang="es" class="break">Primer pago</dd>' in html
    listed = client.get("/?lang=en&municipality_id=2").text
    assert f'<a href="/commitments/5?lang=en" lang="es">{CHILE_TITLE}</a>' in listed
    baarn = client.get("/commitments/1?lang=en").text
    assert Page(baarn).by_id["commitment-title"]["lang"] == "nl"


def sources_section(html: str) -> str:
    """The visible words of the list's "Sources" section ("" when it has none)."""
    found = re.search(r'<section class="sources" id="sources".*?</section>', html, flags=re.S)
    return text_of(found.group(0)) if found else ""


def test_the_list_credits_commitments_typed_in_by_hand_to_their_municipality_not_a_dataset(client: TestClient) -> None:
    """The story's commitments were registered without a dataset's source_uri (as through the
    staff API): the list credits the municipality's registrar, not the source mapping's dataset."""
    for lang in (EN, NL):
        section = sources_section(client.get(f"/?lang={lang.code}&municipality_id=1").text)
        assert lang.t("credit.byHand", name="Baarn") in section
        assert "Samen Baarn" not in section and "Gobierno de Chile" not in section
    assert sources_section(client.get("/?lang=en&q=nothing-matches-this").text) == ""


def test_the_about_page_says_which_source_records_no_follow_up(client: TestClient) -> None:
    for lang in (EN, NL):  # scripts/mappings: Baarn's coalition agreement has follow_up: false, Chile's tracker not
        html = client.get(f"/about?lang={lang.code}").text
        note = escape(f'{lang.t("followUp.none")}: {lang.t("followUp.hint")}')  # as the template writes it
        assert f'<p class="hint" data-source="baarn-coalitieakkoord-2022-2026">{note}</p>' in html
        assert 'data-source="ddah-chile-boric-2022-2026"' not in html


def test_the_list_credits_the_datasets_of_the_commitments_on_its_page() -> None:
    from frontend.site import _page_credits
    from ledger.sources import SourceCredit

    akkoord = SourceCredit(id="akkoord", municipality_code="GM0308", municipality_name="Baarn", name="Akkoord", publisher="Baarn",
                           url="https://example.org/akkoord", licence="-", source_uris=frozenset({"https://example.org/akkoord"}))
    other = akkoord.model_copy(update={"id": "other", "name": "Other", "url": "https://example.org/other",
                                       "source_uris": frozenset({"https://example.org/other"})})
    municipalities = [{"id": 1, "code": "GM0308", "name": "Baarn"}, {"id": 2, "code": "CL-GOB", "name": "Chile"}]
    credits = _page_credits({"GM0308": [akkoord, other]}, municipalities, [(1, "https://example.org/akkoord"), (1, "")])
    assert credits == [{"name": "Baarn", "sources": [akkoord], "by_hand": True}]
    assert _page_credits({"GM0308": [akkoord, other]}, municipalities, [(2, "https://example.org/akkoord")]) == [
        {"name": "Chile", "sources": [], "by_hand": True}]


def test_chile_dates_are_on_the_santiago_calendar(client: TestClient, story: Story) -> None:
    html = client.get("/commitments/5?lang=en").text
    due = story.registered_at + 2 * YEAR
    assert f'<time datetime="{EN.iso(due)}">{EN.date(due, "America/Santiago")}</time>' in html


def test_the_check_finds_a_cited_hash_without_javascript(client: TestClient, story: Story) -> None:
    for asked in (story.cited, story.cited.upper().replace("0X", ""), f"  {story.cited}  "):
        response = client.get("/check", params={"sha256": asked, "lang": "en"})
        assert response.status_code == 200
        words = text_of(response.text)
        assert EN.plural("check.cited", 1) in words
        assert EN.t("check.valid") in words
        assert '<a href="/commitments/1?lang=en">Renovate 200 social homes</a>' in response.text
        assert Page(response.text).json_block("doc-check-index")["sha256"] == story.cited
    source = client.get("/check", params={"sha256": story.source_document, "lang": "en"})
    assert source.status_code == 200
    assert EN.plural("check.sourceOf", 1) in text_of(source.text)
    assert '<a href="/commitments/3?lang=en">Open the health desk</a> (Baarn)' in source.text
    refused = client.get("/check", params={"sha256": "zz", "lang": "en"})
    assert (refused.status_code, Page(refused.text).title) == (422, "Error: Check a document — From promise to proof")
    assert '<meta name="robots" content="noindex">' in refused.text and 'rel="canonical"' not in refused.text
    unknown = client.get("/check", params={"sha256": sha("never recorded"), "lang": "en"})
    assert unknown.status_code == 200
    assert EN.t("check.notFound") in text_of(unknown.text)
