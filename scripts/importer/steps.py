"""Building blocks of mapping files: cleaning steps (reported row by row), field transforms
(not reported), `FieldSpec` (how one value is computed from a row) and `SkipRule`.

Every model is strict (unknown keys are errors) and frozen. List items accept a shorthand:
``first_sentence`` for ``{op: first_sentence}``, ``{truncate_bytes: {max_bytes: 200}}`` for
``{op: truncate_bytes, max_bytes: 200}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from . import dates, text
from .lookups import NoData, look_up, lookup_key


class Strict(BaseModel):
    """Base of mapping models: unknown keys are errors; instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def op_shorthand(value: Any) -> Any:
    """Accept ``"first_sentence"`` and ``{"truncate_bytes": {...}}`` for ``{"op": ...}``."""
    if isinstance(value, str):
        return {"op": value}
    if isinstance(value, MappingABC) and "op" not in value and len(value) == 1:
        ((op, args),) = value.items()
        if args is None:
            return {"op": op}
        if isinstance(args, MappingABC):
            return {"op": op, **args}
    return value


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """Compile a regex from a mapping.

    Raises:
        ValueError: with the pattern and the regex error, if it does not compile.
    """
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {exc}") from None


# ------------------------------------------------------------------ cleaning steps (reported)


class CollapseWhitespace(Strict):
    """Collapse runs of whitespace and line breaks to one space; trim."""

    op: Literal["collapse_whitespace"]
    reason: str = "whitespace and line breaks collapsed"


class StripEnd(Strict):
    """Remove a regex match at the end of the value (never the whole value)."""

    op: Literal["strip_end"]
    pattern: str
    reason: str = Field(min_length=1)

    _check = field_validator("pattern")(lambda cls, v: compile_pattern(v).pattern)


class StripStart(Strict):
    """Remove a regex match at the start of the value (never the whole value)."""

    op: Literal["strip_start"]
    pattern: str
    reason: str = Field(min_length=1)

    _check = field_validator("pattern")(lambda cls, v: compile_pattern(v).pattern)


class Replace(Strict):
    """Replace every regex match anywhere in the value by ``with`` (a literal string)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    op: Literal["replace"]
    pattern: str
    replacement: str = Field(default="", alias="with")
    reason: str = Field(min_length=1)

    _check = field_validator("pattern")(lambda cls, v: compile_pattern(v).pattern)


class Flag(Strict):
    """Change nothing, but warn (in the report) when the regex is found in the value."""

    op: Literal["flag"]
    pattern: str
    reason: str = Field(min_length=1)

    _check = field_validator("pattern")(lambda cls, v: compile_pattern(v).pattern)


CleanStep = Annotated[
    Union[CollapseWhitespace, StripEnd, StripStart, Replace, Flag], Field(discriminator="op")
]


# ------------------------------------------------------------------ field transforms (not reported)


class FirstSentence(Strict):
    """Keep the first sentence (see `scripts.importer.text.first_sentence`)."""

    op: Literal["first_sentence"]


class TruncateBytes(Strict):
    """Cut to at most ``max_bytes`` UTF-8 bytes at a word boundary, with ``ellipsis`` if cut."""

    op: Literal["truncate_bytes"]
    max_bytes: int = Field(ge=2)
    ellipsis: str = "…"


class Percent(Strict):
    """Parse ``"40%"`` into the integer 40."""

    op: Literal["percent"]


class ToUnixSeconds(Strict):
    """Parse an ISO 8601 timestamp with offset into Unix seconds."""

    op: Literal["unix_seconds"]


# The validation context key under which `scripts.importer.mapping.parse_mapping` passes the
# municipality's time zone: the default of every ``date`` transform of the mapping.
TIME_ZONE_CONTEXT = "municipality_time_zone"


def check_time_zone(value: str) -> str:
    """``value`` if it is an IANA time zone name (``Europe/Amsterdam``).

    Raises:
        ValueError: an unknown zone.
    """
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {value!r}") from None
    return value


class DateTransform(Strict):
    """Read a date as people write it into Unix seconds (`scripts.importer.dates`).

    ``formats`` are tried in order: strptime patterns (``"%d-%m-%Y"``; each needs ``%Y`` or
    ``%y``) or named formats (``excel_serial``, ``month_year``, ``quarter``, ``iso``).
    ``time_zone`` (IANA) defaults to the mapping's ``municipality.time_zone``. ``period``:
    a value naming a day, month, quarter or year means its first second (``start``) or its
    last second (``end``, 23:59:59). ``languages``: CLDR languages of month and quarter names
    (default en, nl). ``century_pivot``: two-digit years below it are 20xx, others 19xx
    (default 69, as Python's ``%y``).
    """

    op: Literal["date"]
    formats: list[str] = Field(min_length=1)
    time_zone: str | None = None
    period: dates.Period = "start"
    languages: list[str] = Field(default_factory=lambda: list(dates.DEFAULT_LANGUAGES), min_length=1)
    century_pivot: int = Field(default=dates.PYTHON_CENTURY_PIVOT, ge=0, le=100)

    @model_validator(mode="before")
    @classmethod
    def _municipality_zone(cls, data: Any, info: ValidationInfo) -> Any:
        zone = (info.context or {}).get(TIME_ZONE_CONTEXT)
        if isinstance(data, MappingABC) and data.get("time_zone") is None and zone is not None:
            return {**data, "time_zone": zone}
        return data

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, value: list[str]) -> list[str]:
        problems = []
        for fmt in value:
            try:
                dates.check_format(fmt)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            raise ValueError("; ".join(problems))
        return value

    _zone = field_validator("time_zone")(lambda cls, v: v if v is None else check_time_zone(v))

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: list[str]) -> list[str]:
        dates.names(tuple(value))
        return value

    def parse(self, value: Any) -> int:
        """Unix seconds of ``value``.

        Raises:
            DateNotRecognisedError: no format reads it.
        """
        return dates.parse_date(
            value, self.formats, time_zone=self.time_zone or dates.DEFAULT_TIME_ZONE, period=self.period,
            languages=self.languages, century_pivot=self.century_pivot,
        )


class Lookup(Strict):
    """Map a source's words or codes to values: ``table`` (word → int or string), ``no_data``
    (words meaning "no value here" → the `NoData` marker, never 0), ``ignore_case`` (default
    true; surrounding whitespace is always ignored), ``otherwise``: ``error`` (default: an
    unknown value is a row problem naming it and the known words) or ``keep`` (pass it on)."""

    op: Literal["lookup"]
    table: dict[str, int | str] = Field(default_factory=dict)
    no_data: list[str] = Field(default_factory=list)
    ignore_case: bool = True
    otherwise: Literal["error", "keep"] = "error"

    @field_validator("table", mode="before")
    @classmethod
    def _whole_numbers_or_texts(cls, value: Any) -> Any:
        if isinstance(value, MappingABC):
            for word, result in value.items():
                if isinstance(result, bool) or not isinstance(result, (int, str)):
                    raise ValueError(f"the value of {word!r} is {result!r}: give a whole number or a text (quoted in YAML)")
        return value

    @model_validator(mode="after")
    def _unambiguous(self) -> Lookup:
        if not self.table and not self.no_data:
            raise ValueError("give a table or no_data values (or both)")
        seen: dict[str, str] = {}
        for word in self.table:
            key = lookup_key(word, self.ignore_case)
            if key in seen:
                raise ValueError(f"table keys {seen[key]!r} and {word!r} are the same key"
                                 + (" when case is ignored" if self.ignore_case else " without surrounding spaces"))
            seen[key] = word
        both = [n for n in self.no_data if lookup_key(n, self.ignore_case) in seen]
        if both:
            raise ValueError(f"{both} are both table keys and no_data values: say which they mean")
        return self

    def apply(self, value: Any) -> Any:
        """The table's value, `NoData`, or (``otherwise: keep``) ``value`` itself.

        Raises:
            UnknownLookupValueError: an unknown value with ``otherwise: error``.
        """
        return look_up(value, self.table, self.no_data, ignore_case=self.ignore_case,
                       keep_unknown=self.otherwise == "keep")


Transform = Annotated[
    Union[FirstSentence, TruncateBytes, Percent, ToUnixSeconds, DateTransform, Lookup], Field(discriminator="op")
]


def apply_transform(step: Transform, value: Any) -> Any:
    """Apply one field transform.

    Raises:
        ValueError: if the value cannot be transformed (e.g. ``percent`` of ``"abc"``).
    """
    if isinstance(step, FirstSentence):
        return text.first_sentence(str(value))
    if isinstance(step, TruncateBytes):
        return text.truncate_bytes(str(value), step.max_bytes, step.ellipsis)
    if isinstance(step, Percent):
        return text.parse_percent(str(value))
    if isinstance(step, ToUnixSeconds):
        return text.to_unix_seconds(value)
    if isinstance(step, DateTransform):
        return step.parse(value)
    if isinstance(step, Lookup):
        return step.apply(value)
    raise TypeError(f"unknown transform {step!r}")  # pragma: no cover - union is closed


class FieldSpec(Strict):
    """How one output value is computed from a row: exactly one of ``column``, ``const``,
    ``template``; then ``default`` if that value is empty (``""`` or only whitespace, after
    the row's clean steps); then ``transforms`` in order. ``why`` documents the choice
    (copied to the report header)."""

    column: str | None = None
    const: str | int | None = None
    template: str | None = None
    default: str | int | None = None
    transforms: list[Transform] = Field(default_factory=list)
    why: str | None = None

    @field_validator("transforms", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return [op_shorthand(v) for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _exactly_one_source(self) -> FieldSpec:
        given = [n for n in ("column", "const", "template") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of column, const, template (got {given or 'none'})")
        if self.default is not None and self.const is not None:
            raise ValueError("default is for a column or template value that may be empty, not for a const")
        if self.template is not None:
            text.template_fields(self.template)
        return self

    def columns(self) -> set[str]:
        """CSV columns this value reads (context ``$`` names excluded)."""
        if self.column is not None:
            return {self.column}
        if self.template is not None:
            return {n for n in text.template_fields(self.template) if not n.startswith("$")}
        return set()

    def context_names(self) -> set[str]:
        """``$`` context names this value reads."""
        if self.template is None:
            return set()
        return {n for n in text.template_fields(self.template) if n.startswith("$")}

    def evaluate(self, values: MappingABC[str, Any]) -> Any:
        """The value for one row.

        Args:
            values: column name → cleaned value, plus ``$`` context names.

        Returns:
            the value; a `NoData` marker (a ``lookup``'s ``no_data`` word) skips the transforms
            after it: with a ``default``, the default goes through the transforms instead,
            otherwise the marker is returned.

        Raises:
            KeyError: if a column or context name is missing from ``values``.
            ValueError: if a transform rejects the value.
        """
        if self.column is not None:
            value: Any = values[self.column]
        elif self.template is not None:
            value = text.render_template(self.template, values)
        else:
            value = self.const
        if self.default is not None and isinstance(value, str) and not value.strip():
            value = self.default
        value = self._transformed(value)
        if isinstance(value, NoData) and self.default is not None:
            value = self._transformed(self.default)
        return value

    def _transformed(self, value: Any) -> Any:
        for step in self.transforms:
            if isinstance(value, NoData):
                break
            value = apply_transform(step, value)
        return value


def const_spec(value: str | int) -> FieldSpec:
    """A `FieldSpec` with a constant value."""
    return FieldSpec(const=value)


# ------------------------------------------------------------------ rows to skip


class SkipRule(Strict):
    """Skip a row when its condition holds; the first matching rule gives the reported reason.

    Conditions: ``row_empty: true`` (every column empty), or ``column`` with exactly one of
    ``equals``, ``one_of``, ``empty: true``, ``matches`` (regex, full match).
    """

    column: str | None = None
    equals: str | None = None
    one_of: list[str] | None = None
    empty: bool | None = None
    matches: str | None = None
    row_empty: bool | None = None
    reason: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one_condition(self) -> SkipRule:
        conditions = [n for n in ("equals", "one_of", "empty", "matches") if getattr(self, n) is not None]
        if self.row_empty:
            if self.column is not None or conditions:
                raise ValueError("row_empty takes no column and no other condition")
            return self
        if self.column is None:
            raise ValueError("give a column (or row_empty: true)")
        if len(conditions) != 1:
            raise ValueError(f"give exactly one of equals, one_of, empty, matches (got {conditions or 'none'})")
        if self.empty is False:
            raise ValueError("empty: false is not a condition; use matches or equals")
        if self.matches is not None:
            compile_pattern(self.matches)
        return self

    def applies(self, values: MappingABC[str, str]) -> bool:
        """Whether the rule matches a row (raw values, before cleaning)."""
        if self.row_empty:
            return all(not v.strip() for v in values.values())
        assert self.column is not None
        value = values[self.column]
        if self.equals is not None:
            return value == self.equals
        if self.one_of is not None:
            return value in self.one_of
        if self.empty:
            return not value.strip()
        assert self.matches is not None
        return re.fullmatch(self.matches, value) is not None
