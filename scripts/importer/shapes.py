"""Mapping blocks that describe a source file's shape: how it is read (`ReadSpec`, the
``read:`` block), which rows continue the row above (`GroupSpec`, ``group:``) and which other
files are joined to each row (`JoinSpec`, the items of ``join:``).

Every model is strict (unknown keys are errors) and frozen, as the other mapping models
(`scripts.importer.steps`); the readers that use them are in `scripts.importer.readers` and
`scripts.importer.sources`. Column names here accept ``"#<n>"`` (1-based position) as every
column name of a mapping does.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping as MappingABC
from pathlib import PurePosixPath
from typing import Literal

from pydantic import Field, field_validator, model_validator

from .steps import Strict, compile_pattern

SourceFormat = Literal["csv", "xlsx", "json"]
SNIFF_DELIMITERS = ",;\t|"
"""The delimiters ``delimiter: auto`` chooses from."""
SNIFF_BYTES = 64 * 1024
"""``delimiter: auto`` looks at the first 64 KiB of text from the header row on (cut at a line end)."""

# Keys of the read block that only one format uses (the others refuse them when given).
_FORMAT_KEYS: dict[str, frozenset[str]] = {
    "csv": frozenset({"encoding", "delimiter", "quote", "header_row"}),
    "xlsx": frozenset({"sheet", "header_row"}),
    "json": frozenset({"encoding", "records"}),
}


def check_rel_path(value: str) -> str:
    """``value`` if it is a POSIX path relative to the data directory, without ``..``.

    Raises:
        ValueError: an absolute path, a ``..`` part or an empty path.
    """
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or not value.strip():
        raise ValueError(f"{value!r} must be a path relative to the data directory, without '..'")
    return value


class ReadSpec(Strict):
    """How a file is read (the ``read:`` block); the defaults read UTF-8, comma-delimited CSV
    with its header on line 1, as the importer always did.

    Attributes:
        format: ``csv`` (default), ``xlsx`` (one sheet of an Excel workbook) or ``json``
            (a list of objects).
        encoding: a Python codec name (csv, json; default ``utf-8``, a byte order mark is
            ignored).
        delimiter: one character, or ``auto`` (chosen among ``, ; TAB |``) (csv; default ``,``).
        quote: one character (csv; default ``"``).
        header_row: 1-based line (csv) or sheet row (xlsx) of the header; the lines above it
            are ignored and not reported (default 1).
        sheet: the sheet's name, or its 1-based position in the workbook (xlsx; default 1).
        records: dotted path of the list of records in the document, ``""`` when the
            document is the list (json; default ``""``).
    """

    format: SourceFormat = "csv"
    encoding: str = "utf-8"
    delimiter: str = ","
    quote: str = '"'
    header_row: int = Field(default=1, ge=1)
    sheet: str | int = 1
    records: str = ""

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown codec {value!r}; give a Python codec name such as utf-8 or windows-1252") from None
        try:
            b"a".decode(value, "replace")
        except LookupError:  # base64, rot13...: codecs, but not of bytes to text
            raise ValueError(f"codec {value!r} does not decode bytes to text; give a text encoding such as utf-8") from None
        except ValueError:
            pass  # a text codec that refuses this byte: fine here, the file's bytes decide
        return value

    @field_validator("delimiter")
    @classmethod
    def _one_character(cls, value: str) -> str:
        if value != "auto" and len(value) != 1:
            raise ValueError(f"delimiter {value!r} must be one character or 'auto'")
        if value in ("\r", "\n"):
            raise ValueError("delimiter cannot be a line break")
        return value

    @field_validator("quote")
    @classmethod
    def _one_quote_character(cls, value: str) -> str:
        if len(value) != 1 or value in ("\r", "\n"):
            raise ValueError(f"quote {value!r} must be one character (not a line break)")
        return value

    @field_validator("sheet")
    @classmethod
    def _sheet(cls, value: str | int) -> str | int:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"sheet {value} must be a sheet name or a 1-based position (1 = the first sheet)")
        if isinstance(value, str) and not value.strip():
            raise ValueError("sheet must be a sheet name or a 1-based position (1 = the first sheet)")
        return value

    @field_validator("records")
    @classmethod
    def _records_path(cls, value: str) -> str:
        if value and any(not part for part in value.split(".")):
            raise ValueError(f"records {value!r} must be dotted keys (data.items), or '' for a document that is the list")
        return value

    @model_validator(mode="after")
    def _keys_of_its_format(self) -> ReadSpec:
        foreign = sorted((self.model_fields_set - {"format"}) - _FORMAT_KEYS[self.format])
        if foreign:
            raise ValueError(f"{', '.join(foreign)}: not used by format {self.format}; "
                             f"it takes {', '.join(sorted(_FORMAT_KEYS[self.format]))}")
        if self.delimiter == self.quote:
            raise ValueError(f"delimiter and quote are both {self.quote!r}")
        return self

    @property
    def text_encoding(self) -> str:
        """The codec to decode with: ``utf-8-sig`` for UTF-8 (a byte order mark is dropped)."""
        return "utf-8-sig" if codecs.lookup(self.encoding).name == "utf-8" else self.encoding


DEFAULT_READ = ReadSpec()


class RowCondition(Strict):
    """A condition on one raw column value (before cleaning), as in a skip rule: ``column``
    with exactly one of ``equals``, ``one_of``, ``empty: true`` (empty or only whitespace),
    ``matches`` (regex, full match)."""

    column: str = Field(min_length=1)
    equals: str | None = None
    one_of: list[str] | None = None
    empty: bool | None = None
    matches: str | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> RowCondition:
        conditions = [n for n in ("equals", "one_of", "empty", "matches") if getattr(self, n) is not None]
        if len(conditions) != 1:
            raise ValueError(f"give exactly one of equals, one_of, empty, matches (got {conditions or 'none'})")
        if self.empty is False:
            raise ValueError("empty: false is not a condition; use matches or equals")
        if self.matches is not None:
            compile_pattern(self.matches)
        return self

    def holds(self, value: str) -> bool:
        """Whether the condition holds for the column's raw value."""
        if self.equals is not None:
            return value == self.equals
        if self.one_of is not None:
            return value in self.one_of
        if self.empty:
            return not value.strip()
        assert self.matches is not None
        return re.fullmatch(self.matches, value) is not None


class GroupSpec(Strict):
    """Rows that continue the row above (the ``group:`` block).

    A row for which ``continuation`` holds is merged into the nearest row above it for which
    it does not (the head): for each ``collect`` column, the non-empty values of the head and
    its continuation rows, in file order, joined by that column's separator; every other
    column keeps the head's value (a continuation row's different, non-empty value there is
    ignored with a warning). A continuation row with no head above it is reported invalid.
    """

    continuation: RowCondition
    collect: dict[str, str] = Field(default_factory=dict, description="column → separator")

    @field_validator("collect")
    @classmethod
    def _columns_named(cls, value: dict[str, str]) -> dict[str, str]:
        if any(not column for column in value):
            raise ValueError("collect: a column name is empty")
        return value


class JoinOn(Strict):
    """Which rows match: the row's ``column`` equals the joined file's ``to`` column (both
    trimmed of surrounding whitespace)."""

    column: str = Field(min_length=1, description="column of the row (the mapping's file, or an earlier join)")
    to: str = Field(min_length=1, description="column of the joined file")


class JoinSpec(Strict):
    """One item of ``join:``: a second file whose matching row's columns are added to each row
    as ``<prefix><name>`` (and ``<prefix>#<n>``).

    Attributes:
        file: the joined file, relative to the data directory.
        read: how it is read (its own block; default: UTF-8 comma-delimited CSV).
        on: the key columns.
        prefix: put before each of its column names (``letter.`` → ``letter.datum``).
        required: a row without a match is reported invalid (true, default) or gets empty
            values and a warning (false).
    """

    file: str
    read: ReadSpec = Field(default_factory=ReadSpec)
    on: JoinOn
    prefix: str = Field(min_length=1)
    required: bool = True

    _file = field_validator("file")(lambda cls, v: check_rel_path(v))

    @field_validator("prefix")
    @classmethod
    def _no_position_prefix(cls, value: str) -> str:
        if value.startswith("#"):
            raise ValueError(f"prefix {value!r} must not start with '#' (that names a column by position)")
        return value


def check_joins(joins: list[JoinSpec]) -> list[JoinSpec]:
    """``joins`` if no prefix is another's prefix (``letter.`` and ``letter.x.`` would name the
    same columns).

    Raises:
        ValueError: naming the two prefixes.
    """
    for i, a in enumerate(joins):
        for b in joins[i + 1:]:
            if a.prefix.startswith(b.prefix) or b.prefix.startswith(a.prefix):
                raise ValueError(f"prefixes {a.prefix!r} and {b.prefix!r} overlap: give each join its own prefix")
    return joins


def merge_read_blocks(base: object, override: object) -> object:
    """A snapshot's raw ``read:`` block merged over the mapping's (its keys win), before
    validation; anything that is not two mappings is returned as ``override``."""
    if isinstance(base, MappingABC) and isinstance(override, MappingABC):
        return {**base, **override}
    return override
