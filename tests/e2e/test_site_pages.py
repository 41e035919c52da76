"""Every page of the citizens' site in real Chromium, on the ledger filled from
``../shared/data`` (Baarn and Chile through the real importer: the ``imported`` fixture) and,
for hostile texts, on a small seeded ledger of its own (``site_browser.Seeded``).

- Each page in Dutch and English at 1280 and 390 CSS pixels: axe-core finds no WCAG 2.0/2.1
  A or AA violation, ``<html lang>`` is the page's language, the page has its own ``<title>``
  and Open Graph tags, nothing is wider than the screen; a screenshot of each is saved to
  ``reports/screenshots/<name>-<lang>-<width>.png``.
- The Content-Security-Policy allows no inline script or style, and every page loads under it
  without a script error.
- Without JavaScript: the list, its filter form, sorting links and pager, the commitment page
  (deliveries, timeline, chart, the dates in plain words) and the language switch all work.
- Keyboard: Tab reaches the skip link, the language switch, the menu and the form fields in
  visual order, each with a visible focus outline.
- Hostile texts are shown as text, run nothing and do not widen a phone screen.
- What needs attention comes first: overdue commitments head the municipality overview and
  the default list; the sorting links give the API's order.
- Print keeps the hashes and drops the navigation; the timeline lists every chain event of a
  commitment with its transaction hash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from frontend.web import SITE_NAME
from tests.e2e.conftest import ImportedSystem
from tests.e2e.site_browser import (
    LONG_TITLE_WORD,
    LONG_WORD,
    SCREENSHOTS_DIR,
    SCRIPT_TITLE,
    VIEWPORT_HEIGHTS,
    Seeded,
    axe_violations,
    describe_violations,
    horizontal_overflow,
    new_tab,
)

LANGS = ("nl", "en")
WIDTHS = (1280, 390)
SCREENSHOT_MAX_HEIGHT = 1600
"""Screenshots show the top of the page, at most this many CSS pixels."""

PAGE_NAMES = ("list", "list-filtered", "commitment-baarn", "commitment-chile", "municipalities", "municipality-baarn",
              "municipality-chile", "check", "check-known", "check-unknown", "about", "not-found")
UNKNOWN_SHA256 = "0x" + "0f" * 32


@dataclass(frozen=True)
class SitePage:
    path: str  # without ?lang
    status: int
    title: dict[str, str]  # language -> the page's own title (before " — site name")


@dataclass(frozen=True)
class Imported:
    """The imported ledger as the pages should show it (figures from the JSON API)."""

    api_url: str
    baarn: int
    chile: int
    baarn_commitment: dict[str, Any]
    chile_commitment: dict[str, Any]  # one with batched deliveries: one counts, one was revoked
    evidence_sha256: str  # cited by a delivery of ``chile_commitment``
    pages: dict[str, SitePage]

    def ids(self, **params: Any) -> list[int]:
        """The ids of the API's first page of commitments for ``params`` (20 a page)."""
        return [c["id"] for c in self.listing(**params)["data"]]

    def listing(self, **params: Any) -> dict[str, Any]:
        return httpx.get(f"{self.api_url}/api/v1/commitments", params={"limit": 20, **params}, timeout=30).json()


def _batched(api_url: str, municipality_id: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        page = httpx.get(f"{api_url}/api/v1/deliveries", timeout=30, params={
            "municipality_id": municipality_id, "kind": "batched", "offset": len(rows), "limit": 100}).json()
        rows += page["data"]
        if not page["data"] or len(rows) >= page["count"]:
            return rows


@pytest.fixture(scope="module")
def site(imported: ImportedSystem) -> Imported:
    api = imported.stack.api_url
    baarn, chile = imported.stack.municipality_ids["GM0308"], imported.stack.municipality_ids["CL-GOB"]
    first_baarn = httpx.get(f"{api}/api/v1/commitments", params={"municipality_id": baarn, "sort": "id", "limit": 1}).json()["data"][0]
    baarn_commitment = httpx.get(f"{api}/api/v1/commitments/{first_baarn['id']}").json()
    revoked: dict[int, set[bool]] = {}
    for d in _batched(api, chile):
        revoked.setdefault(d["commitment_id"], set()).add(d["revocation"] is not None)
    chosen = min(k for k, v in revoked.items() if v == {True, False})  # a leaf that counts and one revoked
    chile_commitment = httpx.get(f"{api}/api/v1/commitments/{chosen}").json()
    evidence = next(d for d in chile_commitment["deliveries"] if not d["revocation"])["evidence"][0]["sha256"]
    names = {m["id"]: m["name"] for m in httpx.get(f"{api}/api/v1/municipalities").json()["data"]}

    def both(en: str, nl: str) -> dict[str, str]:
        return {"en": en, "nl": nl}

    listing = both("Commitments and what became of them", "Beloften en wat ervan terechtkwam")
    checking = both("Check a document", "Document controleren")
    pages = {
        "list": SitePage("/", 200, listing),
        "list-filtered": SitePage(f"/?municipality_id={chile}&status=overdue&sort=-due_date", 200, both(
            f"{listing['en']} · {names[chile]} · Overdue · due date (latest first)",
            f"{listing['nl']} · {names[chile]} · Termijn verstreken · termijn (laatste eerst)")),
        "commitment-baarn": SitePage(f"/commitments/{baarn_commitment['id']}", 200, both(baarn_commitment["title"], baarn_commitment["title"])),
        "commitment-chile": SitePage(f"/commitments/{chile_commitment['id']}", 200, both(chile_commitment["title"], chile_commitment["title"])),
        "municipalities": SitePage("/municipalities", 200, both("Municipalities compared", "Gemeenten vergeleken")),
        "municipality-baarn": SitePage(f"/municipalities/{baarn}", 200, both(names[baarn], names[baarn])),
        "municipality-chile": SitePage(f"/municipalities/{chile}", 200, both(names[chile], names[chile])),
        "check": SitePage("/check", 200, checking),
        "check-known": SitePage(f"/check?sha256={evidence}", 200, checking),
        "check-unknown": SitePage(f"/check?sha256={UNKNOWN_SHA256}", 200, checking),
        "about": SitePage("/about", 200, both("About this ledger", "Over dit register")),
        "not-found": SitePage("/no-such-page", 404, both("Page not found", "Pagina niet gevonden")),
    }
    assert set(pages) == set(PAGE_NAMES)
    return Imported(api, baarn, chile, baarn_commitment, chile_commitment, evidence, pages)


def _url(site: Imported, path: str, lang: str) -> str:
    return f"{site.api_url}{path}{'&' if '?' in path else '?'}lang={lang}"


def _card_ids(page: Page) -> list[int]:
    return [int(i.removeprefix("c-")) for i in page.locator("#commitment-list > li.card").evaluate_all("(all) => all.map((e) => e.id)")]


@pytest.fixture
def no_script_page(browser: Browser) -> Iterator[Page]:
    """A Dutch tab with JavaScript switched off."""
    context, tab, watch = new_tab(browser, java_script_enabled=False, viewport={"width": 1280, "height": 900})
    yield tab
    context.close()
    assert watch.errors == [], watch.errors


# ------------------------------------------------------------------ every page, both languages, two widths


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", PAGE_NAMES)
def test_every_page_passes_axe_in_its_language_with_its_own_title_and_preview(
    site: Imported, browser: Browser, name: str, lang: str, width: int
) -> None:
    target = site.pages[name]
    context, page, watch = new_tab(browser, bypass_csp=True, viewport={"width": width, "height": VIEWPORT_HEIGHTS[width]})
    try:
        response = page.goto(_url(site, target.path, lang))
        assert response is not None and response.status == target.status
        expect(page.locator("html")).to_have_attribute("lang", lang)
        expect(page).to_have_title(f"{target.title[lang]} — {SITE_NAME[lang]}")
        meta = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('meta[property^="og:"]')]
            .map((m) => [m.getAttribute('property'), m.getAttribute('content')]))""")
        assert meta["og:title"] == target.title[lang]
        assert meta["og:description"].strip()
        assert meta["og:url"].startswith(site.api_url + target.path.split("?")[0]) and f"lang={lang}" in meta["og:url"]
        if target.status < 400:
            expect(page.locator("link[rel=canonical]")).to_have_attribute("href", meta["og:url"])
            expect(page.locator("link[rel=alternate][hreflang]")).to_have_count(2)
        else:  # an error is not a page to index or to link to in another language
            expect(page.locator("meta[name=robots]")).to_have_attribute("content", "noindex")
            expect(page.locator("link[rel=canonical], link[rel=alternate][hreflang]")).to_have_count(0)
        SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
        height = min(page.evaluate("document.documentElement.scrollHeight"), SCREENSHOT_MAX_HEIGHT)
        page.screenshot(path=SCREENSHOTS_DIR / f"{name}-{lang}-{width}.png", full_page=True,
                        clip={"x": 0, "y": 0, "width": width, "height": height})
        assert horizontal_overflow(page) == 0
        page.locator("main details").evaluate_all("(all) => all.forEach((d) => { d.open = true; })")
        violations = axe_violations(page)
        assert violations == [], describe_violations(violations)
        assert watch.errors == []
    finally:
        context.close()


@pytest.mark.parametrize("lang", LANGS)
def test_different_pages_have_different_titles(site: Imported, lang: str) -> None:
    distinct = ("list", "list-filtered", "commitment-baarn", "commitment-chile", "municipalities", "municipality-baarn",
                "municipality-chile", "check", "about", "not-found")
    titles = [re.search(r"<title>(.*?)</title>", httpx.get(_url(site, site.pages[n].path, lang)).text, re.S)[1] for n in distinct]
    assert len(set(titles)) == len(distinct), titles


def test_every_page_loads_under_a_csp_without_inline_script_or_style(site: Imported, page: Page) -> None:
    for name in PAGE_NAMES:
        target = site.pages[name]
        response = page.goto(_url(site, target.path, "en"))
        assert response is not None and response.status == target.status
        policy = response.headers["content-security-policy"]
        directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
        assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
        assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"]
        assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]
        assert page.locator("[style]").count() == 0  # no inline style the policy would block
        assert page.locator("script:not([src]):not([type='application/json'])").count() == 0
    # the `page` fixture fails the test on any CSP violation or script error reported on the way


# ------------------------------------------------------------------ without JavaScript


def test_without_javascript_the_list_shows_twenty_commitments_and_the_total(site: Imported, no_script_page: Page) -> None:
    total = site.listing()["count"]
    assert total == 131 + 216
    no_script_page.goto(_url(site, "/", "en"))
    expect(no_script_page.locator("#commitment-list > li")).to_have_count(20)
    expect(no_script_page.locator("#result-count")).to_have_text(f"{total} commitments · 1–20 of {total}")
    assert _card_ids(no_script_page) == site.ids(sort="status")


def test_without_javascript_the_filter_form_filters_and_sorts(site: Imported, no_script_page: Page) -> None:
    page = no_script_page
    page.goto(_url(site, "/", "en"))
    page.get_by_label("Municipality", exact=True).select_option(str(site.chile))
    page.get_by_label("Status", exact=True).select_option("overdue")
    page.get_by_label("Sort by").select_option("due_date")
    page.get_by_role("button", name="Show results").click()
    expect(page).to_have_url(re.compile(r"[?&]status=overdue(&|$)"))
    assert re.search(r"[?&]sort=due_date(&|$)", page.url) and f"municipality_id={site.chile}" in page.url
    expected = site.listing(municipality_id=site.chile, status="overdue", sort="due_date")
    expect(page.locator("#result-count")).to_have_text(f"{expected['count']} commitments · 1–20 of {expected['count']}")
    assert _card_ids(page) == [c["id"] for c in expected["data"]]
    expect(page.get_by_label("Status", exact=True)).to_have_value("overdue")
    expect(page.get_by_label("Sort by")).to_have_value("due_date")
    expect(page.locator("#commitment-list [data-status]").first).to_have_attribute("data-status", re.compile("^overdue"))


def test_without_javascript_the_filter_form_works_with_all_municipalities(site: Imported, no_script_page: Page) -> None:
    page = no_script_page
    page.goto(_url(site, "/", "en"))
    page.get_by_label("Status", exact=True).select_option("overdue")
    page.get_by_role("button", name="Show results").click()
    assert _card_ids(page) == site.ids(status="overdue", sort="status")


def test_without_javascript_the_pager_and_the_sorting_links_are_plain_links(site: Imported, no_script_page: Page) -> None:
    page = no_script_page
    page.goto(_url(site, f"/?municipality_id={site.chile}&status=overdue&sort=due_date", "en"))
    page.get_by_role("navigation", name="Result pages").get_by_role("link", name="Next →").click()
    expect(page).to_have_url(re.compile(r"[?&]page=2(&|$)"))
    expected = site.listing(municipality_id=site.chile, status="overdue", sort="due_date", offset=20)
    pages = -(-expected["count"] // 20)
    expect(page.locator(".pager span")).to_have_text(f"Page 2 of {pages}")
    expect(page.locator("#result-count")).to_contain_text(f"21–40 of {expected['count']}")
    assert _card_ids(page) == [c["id"] for c in expected["data"]]
    expect(page.get_by_role("link", name="← Previous")).to_be_visible()

    page.goto(_url(site, "/", "en"))
    page.locator(".sortlinks").get_by_role("link", name="due date (earliest first)").click()
    expect(page.locator(".sortlinks a[aria-current]")).to_have_text("due date (earliest first)")
    assert _card_ids(page) == site.ids(sort="due_date")


@pytest.mark.parametrize("lang, labels", [
    ("en", ["Target", "Promised on", "Registered on chain on", "Due", "Delivered on (as stated)", "Recorded as delivered on"]),
    ("nl", ["Doel", "Beloofd op", "Vastgelegd op de keten op", "Uiterlijk", "Geleverd op (zoals gemeld)", "Vastgelegd als geleverd op"]),
])
def test_without_javascript_the_commitment_page_is_complete(site: Imported, no_script_page: Page, lang: str, labels: list[str]) -> None:
    c = site.chile_commitment
    page = no_script_page
    page.goto(_url(site, f"/commitments/{c['id']}", lang))
    expect(page.locator("h1")).to_have_text(c["title"])
    expect(page.locator("#deliveries > li")).to_have_count(len(c["deliveries"]))
    expect(page.locator("#timeline > li").first).to_be_visible()
    chart = page.locator("section.chart svg[role=img]")
    expect(chart).to_be_visible()
    for label_id in chart.get_attribute("aria-labelledby").split():
        expect(page.locator(f"[id='{label_id}']")).not_to_have_text("")
    facts = page.locator("#promise > dl.facts")
    fields = [None, "promised_at", "registered", "due_date", "met_at", "met_on_record_at"]  # of each label
    present = [label for label, field in zip(labels, fields) if field is None or c[field] is not None]
    assert len(present) >= 4
    expect(facts.locator("dt")).to_contain_text(present)
    due = facts.locator("dd[data-date='due'] time")
    expect(due).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"))
    assert due.get_attribute("datetime") == c["due_date_iso"]
    expect(facts.locator("dd[data-date='promised'] time")).to_have_attribute("datetime", c["promised_at_iso"])
    expect(page.locator("#chain-check noscript, #chain-check .note").first).to_be_attached()


def test_without_javascript_lang_en_changes_the_html_and_the_switch_sets_the_cookie(site: Imported, no_script_page: Page) -> None:
    page = no_script_page
    page.goto(f"{site.api_url}/")  # a Dutch browser, no cookie yet
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.locator("h1")).to_have_text("Beloften en wat ervan terechtkwam")
    page.goto(f"{site.api_url}/municipalities?lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Municipalities compared")
    expect(page.locator("nav[aria-label='Main menu'] a[aria-current=page]")).to_have_text("Municipalities")

    page.context.clear_cookies()
    page.goto(f"{site.api_url}/commitments/{site.baarn_commitment['id']}")
    switch = page.locator("#lang-switch")
    expect(switch).to_have_text("English")
    expect(switch).to_have_attribute("hreflang", "en")
    switch.click()
    expect(page).to_have_url(re.compile(f"/commitments/{site.baarn_commitment['id']}\\?lang=en$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["lang"]["value"] == "en" and cookies["lang"]["httpOnly"] and cookies["lang"]["sameSite"] == "Lax"
    page.goto(f"{site.api_url}/about")  # no ?lang: the cookie decides
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("About this ledger")
    page.locator("#lang-switch").click()
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    assert {c["name"]: c["value"] for c in page.context.cookies()}["lang"] == "nl"


def test_without_javascript_the_hash_form_checks_a_hash_on_the_server(site: Imported, no_script_page: Page) -> None:
    page = no_script_page
    page.goto(_url(site, "/check", "en"))
    expect(page.locator("#doc-check-result")).to_contain_text("Nothing checked yet.")
    page.get_by_label("SHA-256 hash").fill(UNKNOWN_SHA256)
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page).to_have_url(re.compile(f"[?&]sha256={UNKNOWN_SHA256}(&|$)"))
    result = page.locator("#doc-check-result")
    expect(result.get_by_test_id("check-hash")).to_have_text(UNKNOWN_SHA256)
    expect(result.locator(".verdict")).to_have_text("Not found in the ledger.")

    page.get_by_label("SHA-256 hash").fill(site.evidence_sha256)
    page.get_by_role("button", name="Check", exact=True).click()
    citation = page.locator("#doc-check-result .citation")
    expect(citation).to_have_count(1)
    expect(citation.get_by_role("link", name=site.chile_commitment["title"])).to_have_attribute(
        "href", f"/commitments/{site.chile_commitment['id']}?lang=en")
    expect(citation.locator(".verdict")).to_have_text("Valid: counts towards progress (delivery in a verified batch)")

    response = page.goto(_url(site, "/check?sha256=not-a-hash", "en"))
    assert response is not None and response.status == 422
    field = page.get_by_label("SHA-256 hash")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", "sha-hint sha-error")
    expect(page.locator("#sha-error")).to_have_text(
        "This is not a valid SHA-256 hash: enter 64 characters 0–9 and a–f, optionally starting with 0x.")


# ------------------------------------------------------------------ keyboard


def test_tab_reaches_the_skip_link_language_switch_menu_and_form_fields_in_visual_order(site: Imported, page: Page) -> None:
    page.goto(_url(site, "/", "en"))
    focused: list[dict[str, Any]] = []
    for _ in range(45):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("""() => {
          const e = document.activeElement, s = getComputedStyle(e), r = e.getBoundingClientRect();
          return {key: e.id || e.getAttribute('name') || (e.textContent || '').trim(), tag: e.tagName,
                  visible: e.matches(':focus-visible'), outline: parseFloat(s.outlineWidth) || 0, style: s.outlineStyle,
                  x: r.x + scrollX, y: r.y + scrollY, top: r.top, inView: r.bottom > 0 && r.top < innerHeight};
        }"""))
    keys = [f["key"] for f in focused]
    wanted = ["Skip to content", "lang-switch", "Commitments", "Municipalities", "Check a document", "About this ledger",
              "f-municipality", "f-theme", "f-status", "f-sort", "f-q", "recorded_late", "amended_after_due_date",
              "met_only_under_relaxed_terms", "Show results"]
    positions = [keys.index(k) for k in wanted]
    assert positions == sorted(positions), keys
    assert positions[0] == 0  # the skip link comes first
    for f in focused:
        assert f["visible"] and f["outline"] >= 2 and f["style"] != "none", f
        assert f["inView"], f  # scrolled into view, so the outline can be seen
    fields = [focused[p] for p in positions[6:]]
    assert all((b["y"], b["x"]) > (a["y"], a["x"]) for a, b in zip(fields, fields[1:])), fields  # reading order

    page.goto(_url(site, "/", "en"))
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("#main$"))
    assert page.evaluate("document.activeElement.id") == "main"


# ------------------------------------------------------------------ hostile texts


def test_a_title_that_is_markup_is_shown_as_text_and_runs_nothing(seeded: Seeded, page: Page) -> None:
    page.goto(f"{seeded.api_url}/?lang=en&q=script")
    card = page.locator("#commitment-list > li")
    expect(card).to_have_count(1)
    expect(card.locator(".card-title")).to_have_text(SCRIPT_TITLE)
    expect(card.locator(".meta")).to_contain_text("<b>thema</b>")
    page.goto(f"{seeded.api_url}/commitments/{seeded.script}?lang=en")
    expect(page.locator("h1")).to_have_text(SCRIPT_TITLE)
    expect(page).to_have_title(f"{SCRIPT_TITLE} — From promise to proof")
    expect(page.locator("#promise .description")).to_have_text(f"{SCRIPT_TITLE} <img src=x onerror=alert(2)>")
    expect(page.locator(".headline")).to_contain_text("0 of 3 <i>u</i> (0%)")
    for selector in ("main img[src='x']", "main b", "main i", "h1 script"):
        expect(page.locator(selector)).to_have_count(0)
    assert page.evaluate("() => [...document.scripts].filter((s) => s.textContent.includes('alert(')).map((s) => s.type)") == ["application/json"]
    page.goto(f"{seeded.api_url}/municipalities/{seeded.baarn}?lang=en")
    expect(page.locator("main")).to_contain_text(SCRIPT_TITLE)
    # the `page` fixture fails the test on any dialog (alert) or script error


@pytest.mark.parametrize("path", ["/?q=", "/?q=Onafgebroken", "/commitments/{long}", "/commitments/{script}", "/municipalities/{baarn}"])
def test_long_words_and_markup_do_not_widen_a_phone_screen(seeded: Seeded, browser: Browser, path: str) -> None:
    context, page, watch = new_tab(browser, viewport={"width": 390, "height": 844})
    try:
        url = f"{seeded.api_url}{path.format(long=seeded.long, script=seeded.script, baarn=seeded.baarn)}"
        page.goto(f"{url}{'&' if '?' in url else '?'}lang=en")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        if "long" in path or "Onafgebroken" in path:
            expect(page.locator("main")).to_contain_text(LONG_TITLE_WORD)
        if path == "/commitments/{long}":
            expect(page.locator("#promise .description")).to_have_text(LONG_WORD)
            expect(page.locator("#deliveries dd", has_text=LONG_WORD)).to_have_count(1)
        assert watch.errors == []
    finally:
        context.close()


# ------------------------------------------------------------------ what needs attention first


@pytest.mark.parametrize("which", ["baarn", "chile"])
def test_the_municipality_overview_lists_overdue_commitments_first(site: Imported, page: Page, which: str) -> None:
    municipality_id = getattr(site, which)
    overdue = site.listing(municipality_id=municipality_id, status="overdue", sort="due_date")
    assert overdue["count"] > 20
    page.goto(_url(site, f"/municipalities/{municipality_id}", "en"))
    headings = page.locator("main h2").all_inner_texts()
    assert headings.index(f"Deadline passed ({overdue['count']})") < headings.index("Recently changed")
    section = page.locator("section", has=page.locator("#overdue-h"))
    ids = [int(i.removeprefix("c-")) for i in section.locator("li.card").evaluate_all("(all) => all.map((e) => e.id)")]
    assert ids == [c["id"] for c in overdue["data"]]
    expect(section.locator("li.card .state .badge").first).to_have_attribute("data-status", re.compile("^overdue"))
    assert set(section.locator("li.card .state .badge[data-status]").evaluate_all("(all) => all.map((e) => e.dataset.status)")) <= {
        "overdue", "overdue_no_proof"}
    more = section.get_by_role("link", name=f"All {overdue['count']} commitments past their deadline")
    expect(more).to_have_attribute("href", f"/?municipality_id={municipality_id}&status=overdue&sort=due_date&lang=en")


def test_the_default_list_puts_overdue_first_and_the_sorting_links_give_the_apis_order(site: Imported, page: Page) -> None:
    page.goto(_url(site, "/", "en"))
    assert _card_ids(page) == site.ids(sort="status")
    assert {c["status"] for c in site.listing(sort="status")["data"]} == {"overdue"}
    expect(page.locator(".sortlinks a[aria-current]")).to_have_text("status (overdue first)")
    for sort, name in [("due_date", "due date (earliest first)"), ("-progress", "progress (highest first)"),
                       ("-last_change", "last change (newest first)"), ("status", "status (overdue first)")]:
        page.locator(".sortlinks").get_by_role("link", name=name, exact=True).click()
        expect(page).to_have_url(re.compile(f"[?&]sort={re.escape(sort)}(&|$)"))
        assert _card_ids(page) == site.ids(sort=sort), sort
        expect(page.get_by_label("Sort by")).to_have_value(sort)
    assert site.ids(sort="-progress")[0] != site.ids(sort="status")[0]


# ------------------------------------------------------------------ print and timeline


def test_printing_a_commitment_drops_the_navigation_and_keeps_the_hashes(site: Imported, page: Page) -> None:
    c = site.chile_commitment
    page.goto(_url(site, f"/commitments/{c['id']}", "en"))
    expect(page.locator("header.site nav")).to_be_visible()
    page.emulate_media(media="print")
    for hidden in ("header.site nav", "#lang-switch", ".skip", "#chain-check-run"):
        expect(page.locator(hidden)).to_be_hidden()
    kept = c["deliveries"][0]
    expect(page.locator(".evidence .hash", has_text=kept["evidence"][0]["sha256"])).to_be_visible()
    expect(page.locator("#timeline .hash", has_text=kept["recorded"]["tx_hash"]).first).to_be_visible()
    expect(page.locator(f"[id='delivery-{kept['leaf_hash']}'] .mono.hash", has_text=kept["batch_root"])).to_be_visible()
    expect(page.locator("#share-url")).to_be_visible()
    expect(page.locator("h1")).to_have_text(c["title"])


@pytest.mark.parametrize("which", ["baarn_commitment", "chile_commitment"])
def test_the_timeline_lists_every_chain_event_with_its_transaction_hash(site: Imported, page: Page, which: str) -> None:
    c = getattr(site, which)
    page.goto(_url(site, f"/commitments/{c['id']}", "en"))
    timeline = page.locator("#timeline > li")
    label = {"registered": "Registered", "amended": "Amended", "delivered": "Delivery recorded", "revoked": "Delivery revoked",
             "withdrawn": "Withdrawn"}
    events = [(label[e["kind"]], e["chain"]["tx_hash"], e["chain"]["block_number"]) for e in c["timeline"]]
    anchors = {d["batch_root"]: d["recorded"] for d in c["deliveries"] if d["kind"] == "batched"}  # one entry per batch
    events += [("Batch anchored", ref["tx_hash"], ref["block_number"]) for ref in anchors.values()]
    events += [("Delivery revoked", d["revocation"]["chain"]["tx_hash"], d["revocation"]["chain"]["block_number"])
               for d in c["deliveries"] if d["kind"] == "batched" and d["revocation"]]
    assert events and events[0][0] == "Registered"
    expect(timeline).to_have_count(len(events))
    for kind, tx_hash, block in events:
        entry = timeline.filter(has=page.locator("strong", has_text=re.compile(f"^{kind}$"))).filter(has_text=tx_hash)
        expect(entry.first).to_contain_text(f"Block {block:,} · Log index ")
    expect(page.locator("#ledger")).to_contain_text("chain ID 31337")
