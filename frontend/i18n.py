"""Languages of the citizens' site: which one a request gets, its texts, and how dates,
numbers and durations read in it (Babel, CLDR data).

Texts live in ``frontend/locales/<code>/*.json`` (one file per part of the site, merged; a
key may appear in one file only). Values are ``str.format`` templates: ``"{n} commitments"``.
A plural text has the keys ``<key>.one`` and ``<key>.other`` and is picked with CLDR's plural
rule for the language (:meth:`Lang.plural`).

The language of a request (:func:`negotiate`) comes from, in order: the URL's ``lang``
query parameter, the ``lang`` cookie (set when a reader follows the language switch), the
``Accept-Language`` header, else Dutch. English dates follow British usage (``en_GB``: "2
December 2026"), not US style; Dutch ones ``nl_NL`` ("2 december 2026").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_timedelta
from babel.numbers import format_decimal, format_percent
from babel.plural import PluralRule

LOCALES_DIR = Path(__file__).resolve().parent / "locales"

SUPPORTED = ("nl", "en")
"""Languages of the site, the default first."""
_OTHER = {code: next(c for c in SUPPORTED if c != code) for code in SUPPORTED}

DEFAULT = "nl"

LANG_COOKIE = "lang"
"""Cookie that remembers a reader's choice (set by ``?lang=``), one year."""

LANG_COOKIE_MAX_AGE_SECONDS = 365 * 86_400

BABEL_LOCALES = {"nl": "nl_NL", "en": "en_GB"}
"""CLDR locale used to format dates and numbers per language."""

DEFAULT_TIME_ZONE = "Europe/Amsterdam"
"""Zone of a calendar date when its source names none (the first users are Dutch)."""


class MissingText(KeyError):
    """A text key that no catalogue of the language holds (a bug in a template)."""


class DuplicateText(ValueError):
    """The same key in two catalogue files of one language."""


@lru_cache(maxsize=len(SUPPORTED))
def catalogue(code: str) -> dict[str, str]:
    """All texts of language ``code``: the merged ``locales/<code>/*.json`` files.

    Raises:
        KeyError: ``code`` is not in :data:`SUPPORTED`.
        DuplicateText: a key appears in two files.
    """
    if code not in SUPPORTED:
        raise KeyError(code)
    merged: dict[str, str] = {}
    origin: dict[str, str] = {}
    for path in sorted((LOCALES_DIR / code).glob("*.json")):
        for key, value in json.loads(path.read_text(encoding="utf-8")).items():
            if key in merged:
                raise DuplicateText(f"{code}: key {key!r} is in both {origin[key]} and {path.name}")
            merged[key], origin[key] = value, path.name
    return merged


def negotiate(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    """The language of a request: ``query`` (``?lang=``), else ``cookie``, else the first
    supported language of ``accept_language`` by quality (RFC 9110 §12.5.4), else
    :data:`DEFAULT`. Unknown values are ignored, never an error."""
    for value in (query, cookie):
        if value and value.strip().lower() in SUPPORTED:
            return value.strip().lower()
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in SUPPORTED and quality > 0:
            ranked.append((-quality, position, primary))
    return sorted(ranked)[0][2] if ranked else DEFAULT


@dataclass(frozen=True)
class Lang:
    """One language's texts and formats. ``code`` is ``nl`` or ``en``; dates are shown on the
    calendar of ``time_zone`` (IANA name) unless a call names another."""

    code: str
    time_zone: str = DEFAULT_TIME_ZONE

    @property
    def locale(self) -> Locale:
        return _babel_locale(self.code)

    @property
    def other(self) -> str:
        """The other language's code (for the language switch)."""
        return _OTHER[self.code]

    def has(self, key: str) -> bool:
        return key in catalogue(self.code)

    def t(self, key: str, **params: Any) -> str:
        """The text ``key`` with ``params`` filled in (``str.format``).

        Raises:
            MissingText: no such key in this language.
        """
        try:
            template = catalogue(self.code)[key]
        except KeyError:
            raise MissingText(f"{self.code}: no text {key!r}") from None
        return template.format(**params) if params else template

    def plural(self, key: str, n: int, **params: Any) -> str:
        """``key.one`` or ``key.other`` by CLDR's plural rule for ``n``; ``{n}`` is ``n``
        formatted for the language."""
        form = _plural_rule(self.code)(abs(n))
        chosen = f"{key}.{form}" if self.has(f"{key}.{form}") else f"{key}.other"
        return self.t(chosen, n=self.number(n), **params)

    def bundle(self, prefix: str) -> dict[str, str]:
        """Every text whose key starts with ``prefix`` (for a script that needs its texts)."""
        return {k: v for k, v in catalogue(self.code).items() if k.startswith(prefix)}

    # ------------------------------------------------------------------ formats

    def _zone(self, time_zone: str | None) -> ZoneInfo:
        return ZoneInfo(time_zone or self.time_zone)

    def _day(self, seconds: int, time_zone: str | None) -> date | str:
        """The calendar day of ``seconds`` in ``time_zone``: a :class:`date`, or its ISO text
        (``"10000-01-01"``) when the day lies beyond what :class:`date` holds (years 1..9999;
        the contract's last due date, 9999-12-31T23:59:59Z, is already 10000-01-01 in
        Europe/Amsterdam)."""
        zone = self._zone(time_zone)
        moment = _utc(seconds)
        if moment is not None:
            try:
                return moment.astimezone(zone).date()
            except OverflowError:
                offset = zone.utcoffset(moment.replace(tzinfo=None))
        else:
            offset = zone.utcoffset(datetime.max if seconds > 0 else datetime.min)
        return _iso_day(int(seconds) + int(offset.total_seconds() if offset else 0))

    def date(self, seconds: int | None, time_zone: str | None = None) -> str:
        """Unix seconds as a long calendar date ("2 december 2026" / "2 December 2026") in
        ``time_zone`` (IANA; default the site's); ``""`` for ``None``. A day beyond year 9999
        in that zone (the contract allows due dates up to 9999-12-31T23:59:59Z) reads as the
        ISO date ("10000-01-01")."""
        if seconds is None:
            return ""
        day = self._day(seconds, time_zone)
        return day if isinstance(day, str) else _date_text(self.code, day, "long")

    def short_date(self, seconds: int | None, time_zone: str | None = None) -> str:
        """Unix seconds as a short date ("2 dec 2026" / "2 Dec 2026"); ``""`` for ``None``; a
        day beyond year 9999 as in :meth:`date`."""
        if seconds is None:
            return ""
        day = self._day(seconds, time_zone)
        return day if isinstance(day, str) else _date_text(self.code, day, "medium")

    def datetime(self, seconds: int | None) -> str:
        """Unix seconds as date and time in UTC, for block times ("2 dec 2026 14:03:09 UTC")."""
        if seconds is None:
            return ""
        return _datetime_text(self.code, int(seconds))

    def number(self, value: int | str | None) -> str:
        """An integer (or its decimal text) with the language's grouping ("1.234" / "1,234")."""
        if value is None:
            return ""
        return _number_text(self.code, int(value))

    def percent_bps(self, bps: int | None) -> str:
        """Basis points (1/10,000) as an exact percentage, at most two decimals (a basis point
        is 0.01 %): ``4000`` → "40%" / "40%"; ``12345`` → "123,45%" / "123.45%"."""
        if bps is None:
            return ""
        return format_percent(Decimal(int(bps)).scaleb(-4), format="#,##0.##%", locale=self.locale)

    def duration(self, seconds: int) -> str:
        """A duration in words at its coarsest whole unit, rounded DOWN ("3 jaar" / "3 years"
        for 3 years and 11 months, "1 month", "5 days"): a record's lateness is never
        overstated. Units: years of 365 days, months of 30 days, days (Babel's words)."""
        days = max(0, seconds) // 86_400
        for unit_days in (365, 30):
            if days >= unit_days:
                days = days // unit_days * unit_days
                break
        if days == 0:
            return format_timedelta(timedelta(seconds=max(0, seconds)), threshold=1.0, format="long", locale=self.locale)
        return format_timedelta(timedelta(days=days), threshold=1.0, format="long", locale=self.locale)

    def iso(self, seconds: int | None) -> str:
        """Unix seconds as ISO 8601 UTC (for ``<time datetime>``; years beyond 9999 with more
        digits, as HTML allows); ``""`` for ``None``."""
        if seconds is None:
            return ""
        moment = _utc(seconds)
        return moment.isoformat().replace("+00:00", "Z") if moment else _iso_moment(int(seconds))


def _utc(seconds: int) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(seconds), tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _civil(days: int) -> tuple[int, int, int]:
    """(year, month, day) of the proleptic Gregorian calendar ``days`` after 1970-01-01
    (H. Hinnant's ``civil_from_days``), for dates :class:`date` cannot hold."""
    days += 719_468
    era = days // 146_097
    doe = days - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (month <= 2), month, day


def _iso_day(seconds: int) -> str:
    """The ISO date ("10000-01-01") of the UTC day of ``seconds``, any year."""
    year, month, day = _civil(seconds // 86_400)
    return f"{year:04d}-{month:02d}-{day:02d}"


def _iso_moment(seconds: int) -> str:
    """ISO 8601 UTC date and time ("10000-01-01T00:00:00Z") of ``seconds``, any year."""
    rest = seconds % 86_400
    return f"{_iso_day(seconds)}T{rest // 3600:02d}:{rest // 60 % 60:02d}:{rest % 60:02d}Z"


@lru_cache(maxsize=len(SUPPORTED))
def _babel_locale(code: str) -> Locale:
    """Babel's locale of a language, parsed once (every number and date of a page asks for it)."""
    return Locale.parse(BABEL_LOCALES[code])


FORMAT_CACHE_SIZE = 8192
"""Most formatted numbers and dates kept per process (Babel's formatting costs tens of
microseconds each, and a page shows hundreds; the same ones come back on every page)."""


@lru_cache(maxsize=FORMAT_CACHE_SIZE)
def _number_text(code: str, value: int) -> str:
    return format_decimal(value, locale=_babel_locale(code))


@lru_cache(maxsize=FORMAT_CACHE_SIZE)
def _datetime_text(code: str, seconds: int) -> str:
    moment = _utc(seconds)
    if moment is None:
        return _iso_moment(seconds).replace("T", " ").replace("Z", " UTC")
    return format_datetime(moment, format="medium", tzinfo=timezone.utc, locale=_babel_locale(code)) + " UTC"


@lru_cache(maxsize=FORMAT_CACHE_SIZE)
def _date_text(code: str, day: date, form: str) -> str:
    return format_date(day, format=form, locale=_babel_locale(code))


@lru_cache(maxsize=len(SUPPORTED))
def _plural_rule(code: str) -> PluralRule:
    return Locale.parse(BABEL_LOCALES[code]).plural_form


def languages() -> Iterable[str]:
    return SUPPORTED
