"""The rows of a source file, with the line number each record starts on (`CsvRow`,
`CsvTable`), and `read_csv` for a plain CSV file.

Files of any shape (the mapping's ``read:``, ``group:`` and ``join:`` blocks) are read by
`scripts.importer.sources`, which gives the same rows; `read_csv` reads a file with the
default ``read:`` block (UTF-8, a BOM ignored, comma-delimited, header on line 1) with the
`csv` module, so quoted fields may span lines; `CsvRow.line` is the physical line (1 = header)
where the record begins.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class CsvRow:
    """One record.

    Attributes:
        file: path relative to the data directory, as named in the mapping.
        line: physical line number where the record starts (the header is line 1).
        values: column name → raw text (missing trailing fields are ``""``); every column is
            also there as ``"#<n>"`` (1-based position), a joined file's as ``<prefix><name>``.
        problems: shape problems (e.g. more fields than the header), reported as warnings.
        merged_lines: the continuation rows merged into this one (``group:``), in file order.
        invalid: why the row cannot be used whatever the mapping does with it (a
            continuation row with no row above it, a required join without a match), or None.
    """

    file: str
    line: int
    values: dict[str, str]
    problems: tuple[str, ...] = field(default=())
    merged_lines: tuple[int, ...] = field(default=())
    invalid: str | None = None


@dataclass(frozen=True)
class CsvTable:
    """A whole source file: its header cells as written and its rows in file order.

    ``aliases``: each column key the mapping cleans → the other keys of the same column (its
    ``#<n>``, or its name), which `scripts.importer.rows.clean_row` sets to the cleaned value
    too.
    """

    file: str
    header: tuple[str, ...]
    rows: tuple[CsvRow, ...]
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)


def read_csv(data_dir: Path, rel_path: str, required_columns: Iterable[str] = ()) -> CsvTable:
    """Read ``data_dir / rel_path`` as a CSV file with the default ``read:`` block.

    Args:
        data_dir: the data directory.
        rel_path: file path relative to it (POSIX separators).
        required_columns: columns that must be in the header (names or ``"#<n>"``).

    Raises:
        SourceDataError: if the file is missing or unreadable, is not UTF-8, has no header,
            lacks a required column, or a required column's name is repeated in the header
            (`scripts.importer.errors.AmbiguousColumnError`).
    """
    from .sources import read_table  # sources builds on this module's rows

    return read_table(data_dir, rel_path, required_columns=required_columns)
