"""Languages of the site (``frontend.i18n``): which language a request gets, the nl and en
catalogues (same keys, same placeholders, every key the pages use), and how dates, numbers,
percentages and durations read in each language, with exact strings."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path
from typing import Iterator

import pytest

from frontend import i18n
from frontend.charts import ChartLabels
from frontend.i18n import DuplicateText, Lang, MissingText, catalogue, negotiate
from frontend.site import ERROR_KEYS, SORTS
from ledger.db.activity import ACTIVITY_KINDS
from ledger.limits import MAX_DATE
from ledger.status import REFUSED_REASONS, REVIEWS, STATUSES

FRONTEND = Path(i18n.__file__).resolve().parent
NL, EN = Lang("nl"), Lang("en")

COUNCIL_ADOPTED = 1_655_071_200
"""2022-06-12T22:00:00Z: midnight of 13 June 2022 in Amsterdam (Baarn's coalition agreement)."""


@pytest.fixture
def fresh_catalogues() -> Iterator[None]:
    """Catalogues read again before and after the test (they are cached per process)."""
    catalogue.cache_clear()
    yield
    catalogue.cache_clear()


# ---------------------------------------------------------------------------- negotiate


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        ("en", "nl", "nl", "en"),  # the query beats everything
        ("nl", "en", "en", "nl"),
        (" EN ", None, None, "en"),  # case and spaces do not matter
        (None, "en", "nl", "en"),  # the cookie beats the header
        ("fr", "en", "nl", "en"),  # an unknown query is ignored
        ("", "", "en-GB,en;q=0.9", "en"),  # empty values are ignored
        ("fr", "de", "en", "en"),  # unknown query and cookie: the header
        (None, None, "en-GB,en;q=0.9,nl;q=0.8", "en"),
        (None, None, "nl-BE, en;q=0.5", "nl"),
        (None, None, "nl;q=0.4, en;q=0.8", "en"),  # quality beats position
        (None, None, "en;q=0.8, nl;q=0.8", "en"),  # equal quality: position
        (None, None, "fr-FR, de;q=0.9, en;q=0.3, nl;q=0.2", "en"),  # unknown ranges skipped
        (None, None, "en;q=0, nl;q=0.1", "nl"),  # q=0 means "not acceptable"
        (None, None, "en;q=0", "nl"),
        (None, None, "en;q=oops, nl;q=0.1", "nl"),  # a broken quality counts as 0
        (None, None, "EN-us", "en"),
        (None, None, "*", "nl"),
        (None, None, "fr, de", "nl"),
        (None, None, "", "nl"),
        (None, None, None, "nl"),  # nothing at all: Dutch
    ],
)
def test_negotiate_takes_query_then_cookie_then_accept_language_then_dutch(
    query: str | None, cookie: str | None, accept: str | None, expected: str
) -> None:
    assert negotiate(query, cookie, accept) == expected


def test_the_default_language_is_dutch() -> None:
    assert i18n.DEFAULT == "nl"
    assert i18n.SUPPORTED == ("nl", "en")


# ---------------------------------------------------------------------------- catalogues


def placeholders(template: str) -> set[str]:
    """The ``str.format`` field names of ``template`` (raises ValueError on stray braces)."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def test_nl_and_en_have_exactly_the_same_keys() -> None:
    nl, en = set(catalogue("nl")), set(catalogue("en"))
    assert sorted(nl - en) == []
    assert sorted(en - nl) == []
    assert len(nl) > 300


def test_nl_and_en_have_the_same_catalogue_files() -> None:
    names = {code: sorted(p.name for p in (i18n.LOCALES_DIR / code).glob("*.json")) for code in i18n.SUPPORTED}
    assert names["nl"] == names["en"]
    for name in names["nl"]:
        nl = json.loads((i18n.LOCALES_DIR / "nl" / name).read_text(encoding="utf-8"))
        en = json.loads((i18n.LOCALES_DIR / "en" / name).read_text(encoding="utf-8"))
        assert sorted(nl) == sorted(en), name


def test_every_text_has_the_same_placeholders_in_nl_and_en() -> None:
    nl, en = catalogue("nl"), catalogue("en")
    differing = {key: (placeholders(nl[key]), placeholders(en[key])) for key in nl
                 if placeholders(nl[key]) != placeholders(en[key])}
    assert differing == {}


def test_every_text_is_a_non_empty_string() -> None:
    for code in i18n.SUPPORTED:
        bad = [k for k, v in catalogue(code).items() if not isinstance(v, str) or not v.strip()]
        assert bad == [], code


def test_every_plural_text_has_its_other_form() -> None:
    for code in i18n.SUPPORTED:
        texts = catalogue(code)
        ones = [k.removesuffix(".one") for k in texts if k.endswith(".one")]
        assert ones, code
        assert [base for base in ones if f"{base}.other" not in texts] == [], code


def test_a_key_in_two_files_of_one_language_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_catalogues: None
) -> None:
    for code in ("nl", "en"):
        (tmp_path / code).mkdir()
    (tmp_path / "nl" / "a.json").write_text('{"x.title": "Titel", "x.only": "a"}', encoding="utf-8")
    (tmp_path / "nl" / "b.json").write_text('{"x.title": "Andere titel"}', encoding="utf-8")
    (tmp_path / "en" / "a.json").write_text('{"x.title": "Title"}', encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path)
    with pytest.raises(DuplicateText) as refused:
        catalogue("nl")
    assert isinstance(refused.value, ValueError)
    assert "'x.title'" in str(refused.value) and "a.json" in str(refused.value) and "b.json" in str(refused.value)
    assert catalogue("en") == {"x.title": "Title"}


def test_files_of_one_language_are_merged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_catalogues: None) -> None:
    (tmp_path / "nl").mkdir()
    (tmp_path / "nl" / "a.json").write_text('{"a.one": "{n} ding", "a.other": "{n} dingen"}', encoding="utf-8")
    (tmp_path / "nl" / "b.json").write_text('{"b": "Bee {name}"}', encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALES_DIR", tmp_path)
    assert catalogue("nl") == {"a.one": "{n} ding", "a.other": "{n} dingen", "b": "Bee {name}"}
    assert NL.t("b", name="Baarn") == "Bee Baarn"
    assert NL.plural("a", 1) == "1 ding"
    assert NL.plural("a", 1200) == "1.200 dingen"
    assert NL.bundle("a.") == {"a.one": "{n} ding", "a.other": "{n} dingen"}


def test_an_unknown_language_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        catalogue("fr")


def test_a_missing_text_is_missing_text() -> None:
    with pytest.raises(MissingText) as missing:
        EN.t("no.such.key")
    assert isinstance(missing.value, KeyError)
    assert "no.such.key" in str(missing.value) and "en" in str(missing.value)
    assert not EN.has("no.such.key")
    assert EN.has("status.overdue")


def test_plural_picks_the_cldr_form() -> None:
    assert EN.plural("results.total", 1) == "1 commitment"
    assert EN.plural("results.total", 0) == "0 commitments"
    assert EN.plural("results.total", 1234) == "1,234 commitments"
    assert NL.plural("results.total", 1) == "1 belofte"
    assert NL.plural("results.total", 2) == "2 beloften"


# ---------------------------------------------------------------------------- keys the pages use


TEMPLATE_KEY = re.compile(r"""\b(t|th|plural)\(\s*'([^']+)'\s*([,)])""")
"""``t('key')``, ``th('key')``, ``plural('key', n)`` with a literal key (not ``'prefix.' ~ x``)."""

PYTHON_KEY = re.compile(r"""\blang\.(t|plural)\(\s*(?:\n\s*)?["']([^"'{}]+)["']""")
"""``lang.t("key", ...)`` / ``lang.plural("key", n)`` with a literal (not an f-string)."""


def keys_used() -> set[str]:
    """Every literal text key of the templates and of ``frontend/*.py``; plural keys as
    ``<key>.other``."""
    found: set[str] = set()
    sources = [(p, TEMPLATE_KEY) for p in sorted((FRONTEND / "templates").glob("*.html"))]
    sources += [(p, PYTHON_KEY) for p in sorted(FRONTEND.glob("*.py"))]
    for path, pattern in sources:
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            kind, key = match.group(1), match.group(2)
            found.add(f"{key}.other" if kind == "plural" else key)
    return found


def dynamic_keys() -> set[str]:
    """The key families the pages build from values (``'status.' ~ s``, ``f"review.{r}"``)."""
    keys = {f"status.{s}" for s in STATUSES}
    keys |= {f"sort.{s}" for s in SORTS}
    keys |= {f"errorPage.{k}.{part}" for k in ("bad", "notFound", "unavailable", "internal") for part in ("title", "text")}
    keys |= {f"errorPage.{k}.title" for k in ERROR_KEYS.values()}
    keys |= {f"chart.{name}" for name in ChartLabels.text_fields()}
    keys |= {f"chart.col.{c}" for c in ("year", "due", "met", "met_on_record")}
    keys |= {f"leaf.refused.{r}" for r in REFUSED_REASONS}
    keys |= {f"review.{r}" for r in REVIEWS}
    keys |= {f"tl.{k}" for k in ("registered", "amended", "delivered", "revoked", "withdrawn", "anchored")}
    keys |= {f"nav.{k}" for k in ("list", "compare", "check", "about")}
    keys |= {f"about.rule.{s}" for s in STATUSES}
    keys |= {f"about.term.{k}" for k in ("delivered", "target", "met", "clocks", "due", "progress")}
    keys |= {f"about.replay{i}" for i in range(1, 7)}
    keys |= {f"amend.field.{f}" for f in ("target_quantity", "due_date", "title", "description")}
    keys |= {"flag.amendedAfterDueOther", "amend.afterDue"}  # the other branch of a conditional
    keys |= {f"feed.entry.{k}" for k in ACTIVITY_KINDS}
    return keys


def test_the_key_scan_finds_the_keys_of_templates_and_views() -> None:
    used = keys_used()
    assert {"verdict.overdueNoProof", "list.heading", "results.total.other", "check.selfText", "lag.recordedAfter",
            "flag.recordedLate.other", "feed.text.recordedLate.other", "chainbox.heading"} <= used
    assert not any(key.endswith(".") for key in used)  # no prefix of a dynamic key slipped in
    assert len(used) > 250


@pytest.mark.parametrize("code", ["nl", "en"])
def test_every_key_the_pages_use_exists(code: str) -> None:
    texts = catalogue(code)
    assert sorted(k for k in keys_used() | dynamic_keys() if k not in texts) == []


# ---------------------------------------------------------------------------- formats


def test_dates_read_in_dutch_and_british_english() -> None:
    assert NL.date(COUNCIL_ADOPTED) == "13 juni 2022"
    assert EN.date(COUNCIL_ADOPTED) == "13 June 2022"  # day before month: en_GB, not US
    assert NL.short_date(COUNCIL_ADOPTED) == "13 jun 2022"
    assert EN.short_date(COUNCIL_ADOPTED) == "13 Jun 2022"
    assert NL.date(None) == EN.short_date(None) == NL.iso(None) == EN.datetime(None) == ""


def test_a_date_is_the_day_in_the_time_zone() -> None:
    late_evening = 1_709_335_800  # 2024-03-01T23:30:00Z: already 2 March in Amsterdam (UTC+1)
    assert EN.date(late_evening) == "2 March 2024"
    assert EN.date(late_evening, "UTC") == "1 March 2024"
    assert NL.date(late_evening, "America/Santiago") == "1 maart 2024"
    summer = 1_719_876_600  # 2024-07-01T23:30:00Z: UTC+2 in Amsterdam, UTC-4 in Santiago
    assert EN.date(summer) == "2 July 2024"
    assert EN.date(summer, "America/Santiago") == "1 July 2024"
    assert Lang("en", "America/Santiago").date(summer) == "1 July 2024"
    assert EN.iso(late_evening) == "2024-03-01T23:30:00Z"


def test_block_times_read_in_utc() -> None:
    assert EN.datetime(1_709_335_800) == "1 Mar 2024, 23:30:00 UTC"
    assert NL.datetime(1_709_335_800) == "1 mrt 2024, 23:30:00 UTC"


def test_the_last_due_date_the_contract_allows_reads_without_error() -> None:
    """``MAX_DATE - 1`` is 9999-12-31T23:59:59Z: in Amsterdam that is already year 10000,
    which :class:`datetime.date` cannot hold; the day reads as its ISO date."""
    last = MAX_DATE - 1
    assert NL.date(last) == EN.date(last) == NL.short_date(last) == "10000-01-01"
    assert EN.date(last, "UTC") == "31 December 9999"
    assert NL.date(last, "America/Santiago") == "31 december 9999"
    assert EN.iso(last) == "9999-12-31T23:59:59Z"


def test_a_date_beyond_year_9999_reads_as_its_iso_date() -> None:
    assert NL.date(MAX_DATE) == EN.date(MAX_DATE, "UTC") == "10000-01-01"
    assert EN.short_date(MAX_DATE + 59 * 86_400) == "10000-02-29"  # 10000 is a leap year
    assert EN.short_date(MAX_DATE + 60 * 86_400) == "10000-03-01"
    assert EN.iso(MAX_DATE + 3_661) == "10000-01-01T01:01:01Z"
    assert EN.datetime(MAX_DATE) == "10000-01-01 00:00:00 UTC"


def test_numbers_group_digits_per_language() -> None:
    assert NL.number(1_234_567) == "1.234.567"
    assert EN.number(1_234_567) == "1,234,567"
    assert NL.number("10000000000000") == "10.000.000.000.000"  # quantities arrive as decimal strings
    assert EN.number(0) == "0"
    assert NL.number(None) == ""


def test_percentages_from_basis_points() -> None:
    assert NL.percent_bps(4000) == EN.percent_bps(4000) == "40%"
    assert NL.percent_bps(12_345) == "123,45%"
    assert EN.percent_bps(12_345) == "123.45%"
    assert EN.percent_bps(0) == "0%"
    assert EN.percent_bps(1) == "0.01%"
    assert NL.percent_bps(10_000) == "100%"
    assert EN.percent_bps(123_456_789) == "1,234,567.89%"
    assert EN.percent_bps(10**23 + 1) == "1,000,000,000,000,000,000,000.01%"  # exact, not a float
    assert EN.percent_bps(None) == ""


@pytest.mark.parametrize(
    ("seconds", "nl", "en"),
    [
        (3 * 365 * 86_400, "3 jaar", "3 years"),
        (365 * 86_400, "1 jaar", "1 year"),
        (31 * 86_400, "1 maand", "1 month"),
        (5 * 86_400, "5 dagen", "5 days"),
        (86_400, "1 dag", "1 day"),
        (3 * 3_600, "3 uur", "3 hours"),
    ],
)
def test_durations_in_words(seconds: int, nl: str, en: str) -> None:
    assert NL.duration(seconds) == nl
    assert EN.duration(seconds) == en


def test_the_other_language_and_locales() -> None:
    assert (NL.other, EN.other) == ("en", "nl")
    assert (str(NL.locale), str(EN.locale)) == ("nl_NL", "en_GB")
