"""Reading CSV files with the line number each record starts on.

Files are read as UTF-8 (a BOM is ignored) with the `csv` module, so quoted fields may span
lines; `CsvRow.line` is the physical line (1 = header) where the record begins.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SourceDataError


@dataclass(frozen=True)
class CsvRow:
    """One record.

    Attributes:
        file: path relative to the data directory, as named in the mapping.
        line: physical line number where the record starts (the header is line 1).
        values: column name → raw text (missing trailing fields are ``""``).
        problems: shape problems (e.g. more fields than the header).
    """

    file: str
    line: int
    values: dict[str, str]
    problems: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class CsvTable:
    """A whole CSV file: header and records in file order."""

    file: str
    header: tuple[str, ...]
    rows: tuple[CsvRow, ...]


def read_csv(data_dir: Path, rel_path: str, required_columns: Iterable[str] = ()) -> CsvTable:
    """Read ``data_dir / rel_path``.

    Args:
        data_dir: the data directory.
        rel_path: file path relative to it (POSIX separators).
        required_columns: columns that must be in the header.

    Raises:
        SourceDataError: if the file is missing or unreadable, is not UTF-8, has no header,
            has duplicate column names, or lacks a required column.
    """
    path = data_dir / rel_path
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            try:
                header = tuple(next(reader))
            except StopIteration:
                raise SourceDataError(rel_path, "the file is empty (no header line)") from None
            rows: list[CsvRow] = []
            last_line = reader.line_num
            for record in reader:
                start = last_line + 1
                last_line = reader.line_num
                problems: tuple[str, ...] = ()
                if len(record) > len(header):
                    extra = [v for v in record[len(header):] if v.strip()]
                    if extra:
                        problems = (f"{len(record)} fields for {len(header)} columns; extra fields ignored",)
                padded = list(record[: len(header)]) + [""] * max(0, len(header) - len(record))
                rows.append(CsvRow(rel_path, start, dict(zip(header, padded)), problems))
    except FileNotFoundError:
        raise SourceDataError(rel_path, f"file not found under the data directory {data_dir}") from None
    except UnicodeDecodeError as exc:
        raise SourceDataError(rel_path, f"not UTF-8 text: {exc}") from None
    except (OSError, csv.Error) as exc:
        raise SourceDataError(rel_path, f"cannot read: {exc}") from None
    if len(set(header)) != len(header):
        raise SourceDataError(rel_path, f"duplicate column names in the header {list(header)}")
    missing = sorted(set(required_columns) - set(header))
    if missing:
        raise SourceDataError(rel_path, f"missing column(s) {missing}; the header has {list(header)}")
    return CsvTable(rel_path, header, tuple(rows))
