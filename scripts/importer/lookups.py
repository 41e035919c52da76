"""Words and codes of a source turned into values (the ``lookup`` transform), and the typed
"no data" marker it produces.

A source that writes progress as ``Not Started`` / ``Limited`` / ``Complete`` and leaves
``ND`` where it has no assessment needs both: the words become numbers, and ``ND`` becomes
`NoData`, never 0. Pure functions, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import UnknownLookupValueError


@dataclass(frozen=True)
class NoData:
    """The source says it has no value here (``ND``, ``N/A``, an empty cell listed as no data).

    Distinct from every real value (0, ``""``): a commitment field that evaluates to it is a
    row problem (unless the field has a default), a snapshot's progress that evaluates to it
    says nothing about the item (progress carried forward).

    Attributes:
        value: the source's text, as read (e.g. ``"ND"``).
    """

    value: str

    def describe(self, field: str) -> str:
        """The report's wording: ``'progress: no data ("ND")'``."""
        return f"{field}: no data ({json.dumps(self.value, ensure_ascii=False)})"


def is_no_data(value: Any) -> bool:
    """Whether ``value`` is the `NoData` marker."""
    return isinstance(value, NoData)


def lookup_key(text: str, ignore_case: bool) -> str:
    """The form a value or table key is compared in: surrounding whitespace removed and, with
    ``ignore_case``, case folded (`str.casefold`)."""
    text = text.strip()
    return text.casefold() if ignore_case else text


def look_up(
    value: Any,
    table: Mapping[str, int | str],
    no_data: Sequence[str],
    *,
    ignore_case: bool,
    keep_unknown: bool,
) -> Any:
    """The table's value for ``value``.

    Args:
        value: a cleaned column value (or a constant; non-strings are compared as ``str``).
        table: source word or code → value (an int or a string).
        no_data: the source's words for "no value here".
        ignore_case: compare case-insensitively (`lookup_key`).
        keep_unknown: return an unknown value unchanged instead of raising.

    Returns:
        the table's value, `NoData` (``value`` as read) for a no-data word, or ``value`` itself
        when unknown and ``keep_unknown``.

    Raises:
        UnknownLookupValueError: an unknown value and not ``keep_unknown``.
    """
    key = lookup_key(str(value), ignore_case)
    if key in {lookup_key(n, ignore_case) for n in no_data}:
        return NoData(str(value))
    for word, result in table.items():
        if lookup_key(word, ignore_case) == key:
            return result
    if keep_unknown:
        return value
    raise UnknownLookupValueError(value, list(table), list(no_data))
