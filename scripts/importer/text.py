"""Pure text functions used by mapping transforms: whitespace, regex stripping, first
sentence, byte-safe truncation, percent and date parsing, column templates.

Every function is deterministic and touches no I/O. Lengths are UTF-8 bytes.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, TypeAdapter, ValidationError

from .limits import utf8_len

# A sentence ends at . ! ? or … followed by whitespace and a capital letter (optionally after an
# opening quote or bracket). Abbreviations followed by lower case ("o.a. in", "e.a. zijn") and
# numbers ("Ley 20.380") therefore do not end a sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'‘“(\[]?[A-ZÀ-ÖØ-Þ])")
_TRAILING_JOINERS = " \t,;:-–—"
_PERCENT = re.compile(r"\s*(\d{1,16})\s*%?\s*")
_AWARE_DATETIME = TypeAdapter(AwareDatetime)


def collapse_whitespace(text: str) -> tuple[str, str | None]:
    """Collapse every run of whitespace (spaces, tabs, line breaks) to one space and trim.

    Returns:
        ``(new_text, what)`` where ``what`` describes what changed (e.g. ``"2 line breaks,
        1 run of repeated spaces"``) or is None when nothing changed.
    """
    new = " ".join(text.split())
    if new == text:
        return text, None
    parts: list[str] = []
    breaks = len(re.findall(r"\r\n|\r|\n", text))
    if breaks:
        parts.append(f"{breaks} line break{'s' if breaks != 1 else ''}")
    inner = text.strip()
    runs = len(re.findall(r"[^\S\r\n]{2,}", inner)) + len(re.findall(r"\t", inner))
    if runs:
        parts.append(f"{runs} run{'s' if runs != 1 else ''} of repeated spaces or tabs")
    if inner != text:
        parts.append("leading/trailing whitespace")
    return new, ", ".join(parts) or "whitespace normalised"


def strip_end(text: str, pattern: re.Pattern[str]) -> tuple[str, str | None]:
    """Remove a match of ``pattern`` anchored at the end of ``text``.

    Returns:
        ``(new_text, removed)``; ``removed`` is the removed text, or None if no match or if the
        match would leave nothing but whitespace and punctuation (then ``text`` is returned as is).
    """
    match = re.search(f"(?:{pattern.pattern})\\Z", text, pattern.flags)
    if match is None or match.start() == match.end():
        return text, None
    rest = text[: match.start()]
    if not _has_word(rest):
        return text, None
    return rest.rstrip(), text[match.start():]


def strip_start(text: str, pattern: re.Pattern[str]) -> tuple[str, str | None]:
    """Remove a match of ``pattern`` anchored at the start of ``text``.

    Returns:
        ``(new_text, removed)`` as `strip_end`.
    """
    match = re.match(f"(?:{pattern.pattern})", text, pattern.flags)
    if match is None or match.end() == 0:
        return text, None
    rest = text[match.end():]
    if not _has_word(rest):
        return text, None
    return rest.lstrip(), text[: match.end()]


def replace_all(text: str, pattern: re.Pattern[str], replacement: str) -> tuple[str, list[str]]:
    """Replace every match of ``pattern`` by ``replacement`` (a literal string, no backrefs).

    Returns:
        ``(new_text, removed)`` with the list of matched texts, in order (empty if none).
    """
    removed = [m.group(0) for m in pattern.finditer(text)]
    if not removed:
        return text, []
    return pattern.sub(lambda _m: replacement, text), removed


def first_sentence(text: str) -> str:
    """The first sentence of ``text`` (whole text if it has one sentence), without trailing
    whitespace. See `_SENTENCE_END` for what ends a sentence."""
    parts = _SENTENCE_END.split(text.strip(), maxsplit=1)
    return parts[0].rstrip()


def truncate_bytes(text: str, max_bytes: int, ellipsis: str = "…") -> str:
    """Cut ``text`` to at most ``max_bytes`` UTF-8 bytes at a word boundary, appending
    ``ellipsis`` when cut.

    The result never splits a character; it is cut at the last whitespace that fits (a single
    word longer than the budget is cut at a character boundary), trailing separators
    (``,;:-``) are dropped before the ellipsis.

    Raises:
        ValueError: if ``max_bytes`` is smaller than the ellipsis plus one byte.
    """
    if utf8_len(text) <= max_bytes:
        return text
    budget = max_bytes - utf8_len(ellipsis)
    if budget < 1:
        raise ValueError(f"max_bytes={max_bytes} leaves no room before the ellipsis {ellipsis!r}")
    prefix = text.encode("utf-8")[:budget].decode("utf-8", errors="ignore")
    if not text[len(prefix)].isspace():
        cut = max((i for i, ch in enumerate(prefix) if ch.isspace()), default=-1)
        if cut > 0:
            prefix = prefix[:cut]
    prefix = prefix.rstrip(_TRAILING_JOINERS)
    return prefix + ellipsis


def parse_percent(text: str) -> int:
    """Parse a whole percentage such as ``"40%"`` or ``"40"`` into ``40``.

    Raises:
        ValueError: if the text is not a non-negative whole number with an optional ``%``.
    """
    match = _PERCENT.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a whole percentage like '40%'")
    return int(match.group(1))


def to_unix_seconds(value: Any) -> int:
    """Unix time in seconds of an RFC 3339 / ISO 8601 timestamp with offset, an aware
    `datetime`, or an integer number of seconds.

    Raises:
        ValueError: if the value is naive (no UTC offset), not a timestamp, or not > 0.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a timestamp")
    if isinstance(value, int):
        seconds = value
    else:
        try:
            moment: datetime = _AWARE_DATETIME.validate_python(value)
        except ValidationError as exc:
            raise ValueError(
                f"{value!r} is not an ISO 8601 timestamp with UTC offset "
                f"(e.g. 2026-03-31T23:59:59+02:00): {exc.errors()[0]['msg']}"
            ) from None
        seconds = int(moment.timestamp())
    if seconds <= 0:
        raise ValueError(f"{value!r} is not after 1970-01-01")
    return seconds


class ColumnFormatter(string.Formatter):
    """`str.format` syntax where a field name is a whole column name (``{1° tramite}``) or a
    context name starting with ``$`` (``{$snapshot}``); no attribute or index lookup."""

    def get_field(self, field_name: str, args: Any, kwargs: Mapping[str, Any]) -> tuple[Any, str]:
        return kwargs[field_name], field_name


_FORMATTER = ColumnFormatter()


def template_fields(template: str) -> list[str]:
    """Field names used by a template, in order (``"Boletín {boletin}"`` → ``["boletin"]``).

    Raises:
        ValueError: if the template is malformed (unbalanced braces) or uses positional fields.
    """
    names = [name for _lit, name, _spec, _conv in _FORMATTER.parse(template) if name is not None]
    if any(name == "" or name.isdigit() for name in names):
        raise ValueError(f"template {template!r} has a positional field; name a column instead")
    return names


def render_template(template: str, values: Mapping[str, Any]) -> str:
    """Render a template against column values and ``$``-context values.

    Raises:
        KeyError: if a field is not in ``values``.
    """
    return _FORMATTER.vformat(template, (), values)


def _has_word(text: str) -> bool:
    return any(ch.isalnum() for ch in text)
