"""Dates as people write them (the ``date`` transform): ``12/31/2022``, ``July 2014``, ``Q1 2014``,
``1e kwartaal 2014``, Excel's serial ``44439``, into Unix seconds.

A value is tried against a list of formats in order; the first that reads it wins. A format is
a `datetime.strptime` pattern (``"%d-%m-%Y"``) or one of the named formats:

``excel_serial``
    Excel's 1900 date system: ``1`` is 1900-01-01, ``44439`` is 2021-08-31. Excel counts a
    1900-02-29 that never was (serial 60, refused); serials from 61 on are days since
    1899-12-30. A fractional part is the time of day (``44439.5`` is noon).
``month_year``
    a month name and a year: ``July 2014``, ``jul. 2014``, ``juli 2014``, ``julio de 2014``.
``quarter``
    a quarter and a year: ``Q1 2014``, ``Q1-2014``, ``2014 Q1``, ``Quarter 1 2014``,
    ``1st quarter 2014``, ``1e kwartaal 2014``, ``kwartaal 1 2014``, ``K1 2014``,
    ``1er trimestre 2014``, ``T1 2014``.
``iso``
    an ISO 8601 timestamp with offset (``2014-07-01T10:00:00+02:00``, taken as written) or a
    plain ISO date (``2014-07-01``).

Month and quarter names come from the CLDR data shipped with Babel
(`babel.dates.get_month_names`, `babel.dates.get_quarter_names`): wide and abbreviated forms,
case-insensitive, a trailing dot ignored, for the languages asked for (default English and
Dutch). A strptime pattern with ``%b`` or ``%B`` reads them too (the names are translated to
English before `strptime`, which knows only the C locale's).

A value that names a whole day, month, quarter or year (no time of day) means a span of time
in the transform's IANA time zone; ``period: start`` gives its first second (00:00:00 of its
first day), ``period: end`` its last second (23:59:59 of its last day). Daylight saving time
is the zone's: a day that starts at 01:00 because the clocks jumped starts at 01:00.

Two-digit years (``%y``): Python reads 69–99 as 1969–1999 and 00–68 as 2000–2068; the
transform's ``century_pivot`` (default 69) moves that line: a two-digit year below the pivot
is in the 2000s, from the pivot on in the 1900s.

Pure functions; the only data read is Babel's CLDR tables.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import get_month_names, get_quarter_names

from . import text
from .errors import AmbiguousDateError, DateNotRecognisedError

NamedFormat = Literal["excel_serial", "month_year", "quarter", "iso"]
NAMED_FORMATS: tuple[NamedFormat, ...] = ("excel_serial", "month_year", "quarter", "iso")
Period = Literal["start", "end"]
DEFAULT_LANGUAGES: tuple[str, ...] = ("en", "nl")
DEFAULT_TIME_ZONE = "Europe/Amsterdam"  # the default of a mapping's municipality.time_zone
PYTHON_CENTURY_PIVOT = 69  # strptime's %y: 69..99 → 1969..1999, 00..68 → 2000..2068
EXCEL_MAX_SERIAL = 2958465  # 9999-12-31, the last day Excel knows
_EXCEL_EPOCH = date(1899, 12, 30)  # serial 0 for serials ≥ 61 (after the phantom 1900-02-29)

_YEAR_DIRECTIVES = frozenset("Yy")
_TIME_DIRECTIVES = frozenset("HIMSpfXc")
_DAY_DIRECTIVES = frozenset("djUWx")
_MONTH_DIRECTIVES = frozenset("mbB")
_DIRECTIVE = re.compile(r"%(.)")
_WORD = re.compile(r"[^\W\d_]+")
_MONTH_YEAR = re.compile(r"(?P<month>[^\W\d_]+)\.?[\s,/-]*(?:del?\s+)?(?P<year>\d{4})")
_EXCEL_SERIAL = re.compile(r"(?P<days>\d{1,7})(?:[.,](?P<fraction>\d+))?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ISO_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
_ORDINAL = r"(?:st|nd|rd|th|ste|de|e|er|ero|o|do|to|º|°|ª)?"

Granularity = Literal["moment", "day", "month", "quarter", "year"]


# ------------------------------------------------------------------ names from CLDR


@dataclass(frozen=True)
class Names:
    """Month and quarter names of some languages, normalised (`_normalise`).

    Attributes:
        months: name → month 1..12 (``"juli"`` → 7, ``"jul"`` → 7, ``"mrt"`` → 3).
        english_full: month → English name (``7`` → ``"July"``), what ``%B`` reads.
        english_abbr: month → English abbreviation (``7`` → ``"Jul"``), what ``%b`` reads.
        quarter_words: the languages' words for a quarter (``quarter``, ``kwartaal``).
        quarter_letters: the letters of the abbreviated quarters (``q``, ``k``).
    """

    months: dict[str, int]
    english_full: dict[int, str]
    english_abbr: dict[int, str]
    quarter_words: frozenset[str]
    quarter_letters: frozenset[str]


def _normalise(text_: str) -> str:
    return " ".join(text_.casefold().replace(".", " ").split())


def check_language(code: str) -> str:
    """``code`` if Babel knows it as a locale (``en``, ``nl``, ``es``, ``es_CL``).

    Raises:
        ValueError: an unknown locale.
    """
    try:
        Locale.parse(code.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValueError(f"unknown language {code!r} (a CLDR locale such as en, nl, es)") from None
    return code


@lru_cache(maxsize=32)
def names(languages: tuple[str, ...]) -> Names:
    """The month and quarter names of ``languages`` (CLDR, through Babel).

    Raises:
        ValueError: a language is unknown, or one word names two different months in two of
            the languages (the value would be ambiguous).
    """
    months: dict[str, int] = {}
    where: dict[str, str] = {}
    words: set[str] = set()
    letters: set[str] = set()
    for code in languages:
        locale = Locale.parse(check_language(code).replace("-", "_"))
        for width in ("wide", "abbreviated"):
            for context in ("format", "stand-alone"):
                for number, name in get_month_names(width, context, locale).items():
                    key = _normalise(name)
                    if months.get(key, number) != number:
                        raise ValueError(
                            f"the month name {key!r} is month {months[key]} in {where[key]} but month {number} in {code}: "
                            "list only one of these languages"
                        )
                    months[key], where[key] = number, code
                for name in get_quarter_names(width, context, locale).values():
                    for token in _normalise(name).split():
                        if width == "wide" and not any(ch.isdigit() for ch in token):
                            words.add(token)
                        elif width == "abbreviated" and token[:1].isalpha() and token[1:].isdigit():
                            letters.add(token[0])
    english = Locale.parse("en")
    return Names(
        months=months,
        english_full=dict(get_month_names("wide", "format", english)),
        english_abbr=dict(get_month_names("abbreviated", "format", english)),
        quarter_words=frozenset(words),
        quarter_letters=frozenset(letters),
    )


# ------------------------------------------------------------------ checking formats (at load)


def check_format(fmt: str) -> str:
    """``fmt`` if it is a named format or a strptime pattern with a year directive.

    Raises:
        ValueError: a pattern without ``%Y`` or ``%y`` (a date without its year cannot be
            placed), or one `strptime` refuses (e.g. an unknown directive ``%Q``).
    """
    if fmt in NAMED_FORMATS:
        return fmt
    directives = _directives(fmt)
    if not directives & _YEAR_DIRECTIVES:
        raise ValueError(
            f"format {fmt!r} is neither a named format ({', '.join(NAMED_FORMATS)}) nor a strptime pattern "
            "with a year directive (%Y or %y), e.g. '%d-%m-%Y'"
        )
    sample = datetime(2001, 2, 3, 4, 5, 6, tzinfo=timezone.utc)
    try:
        datetime.strptime(sample.strftime(fmt), fmt)
    except ValueError as exc:
        raise ValueError(f"format {fmt!r} is not a valid strptime pattern: {exc}") from None
    return fmt


def _directives(pattern: str) -> set[str]:
    return {d for d in _DIRECTIVE.findall(pattern.replace("%%", "")) if d != "%"}


def _granularity(pattern: str) -> Granularity:
    directives = _directives(pattern)
    if directives & _TIME_DIRECTIVES:
        return "moment"
    if directives & _DAY_DIRECTIVES:
        return "day"
    if directives & _MONTH_DIRECTIVES:
        return "month"
    return "year"


# ------------------------------------------------------------------ parsing (per row)


class _Refused(Exception):
    """A format recognised the value's shape but the date does not exist; ``args[0]`` says why."""


@dataclass(frozen=True)
class _Reading:
    """What a format read: the local wall time of the span's start, how long the span is, or
    (``moment``) an exact time, aware when the value carried its offset."""

    start: datetime
    granularity: Granularity


def parse_date(
    value: object,
    formats: Sequence[str],
    *,
    time_zone: str,
    period: Period = "start",
    languages: Sequence[str] = DEFAULT_LANGUAGES,
    century_pivot: int = PYTHON_CENTURY_PIVOT,
) -> int:
    """Unix seconds of ``value`` read by ``formats``: every format is tried, and the formats
    that read it must agree (``03/04/2026`` with ``%d/%m/%Y`` and ``%m/%d/%Y`` is refused;
    ``13/04/2026`` is read by one only).

    Args:
        value: a cleaned column value (a string) or a constant (an int is tried as an Excel
            serial or a year only if those formats are listed).
        formats: strptime patterns and named formats (module docstring), tried in order.
        time_zone: IANA zone of values without an offset.
        period: ``start`` (first second of the day, month, quarter or year named) or ``end``
            (its last second, ``23:59:59``); a value with a time of day is that moment.
        languages: CLDR languages of month and quarter names.
        century_pivot: two-digit years below it are 20xx, the others 19xx (0..100).

    Returns:
        Unix time in seconds (negative before 1970).

    Raises:
        DateNotRecognisedError: no format reads the value (its ``notes`` say why a format
            that recognised its shape refused it).
        AmbiguousDateError: two formats read it as different moments.
    """
    zone = ZoneInfo(time_zone)
    raw = str(value).strip()
    notes: list[str] = []
    read: list[tuple[str, int]] = []
    for fmt in formats:
        try:
            if fmt == "iso":
                reading = _iso(raw)
            elif fmt == "excel_serial":
                reading = _excel_serial(raw)
            elif fmt == "month_year":
                reading = _month_year(raw, names(tuple(languages)))
            elif fmt == "quarter":
                reading = _quarter(raw, tuple(languages))
            else:
                reading = _strptime(raw, fmt, names(tuple(languages)), century_pivot)
        except _Refused as exc:
            notes.append(f"{fmt}: {exc.args[0]}")
            continue
        if reading is not None:
            read.append((fmt, _seconds(reading, zone, period)))
    if len({seconds for _fmt, seconds in read}) > 1:
        raise AmbiguousDateError(value, read, time_zone)
    if read:
        return read[0][1]
    raise DateNotRecognisedError(value, list(formats), notes)


def _seconds(reading: _Reading, zone: ZoneInfo, period: Period) -> int:
    start = reading.start
    if reading.granularity == "moment":
        moment = start if start.tzinfo is not None else start.replace(tzinfo=zone)
        return int(moment.timestamp())
    first = int(start.replace(tzinfo=zone).timestamp())
    if period == "start":
        return first
    return int(_next(start, reading.granularity).replace(tzinfo=zone).timestamp()) - 1


def _next(start: datetime, granularity: Granularity) -> datetime:
    """Local midnight at the start of the span after the one starting at ``start``."""
    if granularity == "day":
        return start + timedelta(days=1)
    months = {"month": 1, "quarter": 3, "year": 12}[granularity]
    index = start.year * 12 + start.month - 1 + months
    return start.replace(year=index // 12, month=index % 12 + 1, day=1)


def _iso(raw: str) -> _Reading | None:
    if _ISO_DATE.fullmatch(raw):
        try:
            return _Reading(datetime.combine(date.fromisoformat(raw), datetime.min.time()), "day")
        except ValueError as exc:
            raise _Refused(str(exc)) from None
    if not _ISO_TIMESTAMP.match(raw):
        return None  # (pydantic would read "2014" as Unix seconds)
    try:
        seconds = text.to_unix_seconds(raw)
    except ValueError:
        return None
    return _Reading(datetime.fromtimestamp(seconds, timezone.utc), "moment")


def _excel_serial(raw: str) -> _Reading | None:
    match = _EXCEL_SERIAL.fullmatch(raw)
    if match is None:
        return None
    days = int(match["days"])
    fraction = float("0." + match["fraction"]) if match["fraction"] else 0.0
    if days == 60:
        raise _Refused("serial 60 is 1900-02-29, a day that never was (Excel's 1900 leap-year bug)")
    if not 1 <= days <= EXCEL_MAX_SERIAL:
        raise _Refused(f"serial {days} is outside Excel's 1 (1900-01-01) .. {EXCEL_MAX_SERIAL} (9999-12-31)")
    day = _EXCEL_EPOCH + timedelta(days=days) if days > 60 else date(1899, 12, 31) + timedelta(days=days)
    midnight = datetime.combine(day, datetime.min.time())
    if fraction == 0.0:
        return _Reading(midnight, "day")
    return _Reading(midnight + timedelta(seconds=min(round(fraction * 86400), 86399)), "moment")


def _month_year(raw: str, known: Names) -> _Reading | None:
    match = _MONTH_YEAR.fullmatch(raw.casefold())
    if match is None or _normalise(match["month"]) not in known.months:
        return None
    return _Reading(datetime(int(match["year"]), known.months[_normalise(match["month"])], 1), "month")


@lru_cache(maxsize=32)
def _quarter_patterns(languages: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    """The quarter-and-year shapes of ``languages``: quarter first, then year first."""
    known = names(languages)
    words = "|".join(sorted(map(re.escape, known.quarter_words), key=len, reverse=True)) or "(?!)"
    letters = "".join(sorted(known.quarter_letters)) or "(?!)"
    quarter = (
        rf"(?:[{letters}]\s?(?P<q1>[1-4])"  # Q1, K1, T1
        rf"|(?:{words})\s?(?P<q2>[1-4])"  # quarter 1, kwartaal 1
        rf"|(?P<q3>[1-4])\s?{_ORDINAL}\s?(?:{words}))"  # 1st quarter, 1e kwartaal, 1.er trimestre
    )
    return (
        re.compile(quarter + r"[\s,/-]*(?P<year>\d{4})"),
        re.compile(r"(?P<year>\d{4})[\s,/-]*" + quarter),
    )


def _quarter(raw: str, languages: tuple[str, ...]) -> _Reading | None:
    value = _normalise(raw)
    for pattern in _quarter_patterns(languages):
        match = pattern.fullmatch(value)
        if match is not None:
            number = int(match["q1"] or match["q2"] or match["q3"])
            return _Reading(datetime(int(match["year"]), 3 * number - 2, 1), "quarter")
    return None


def _strptime(raw: str, pattern: str, known: Names, century_pivot: int) -> _Reading | None:
    directives = _directives(pattern)
    value = raw
    if directives & {"b", "B"}:
        english = known.english_full if "B" in directives else known.english_abbr

        def translate(match: re.Match[str]) -> str:
            number = known.months.get(_normalise(match.group(0)))
            return english[number] if number is not None else match.group(0)

        value = _WORD.sub(translate, raw)
    try:
        parsed = datetime.strptime(value, pattern)
    except ValueError:
        return None
    if "y" in directives and century_pivot != PYTHON_CENTURY_PIVOT:
        two_digits = parsed.year % 100
        try:
            parsed = parsed.replace(year=(2000 if two_digits < century_pivot else 1900) + two_digits)
        except ValueError as exc:
            raise _Refused(str(exc)) from None
    granularity = _granularity(pattern)
    if granularity == "moment" or parsed.tzinfo is not None:
        return _Reading(parsed, "moment")
    return _Reading(parsed, granularity)
