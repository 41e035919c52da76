"""Reading a source file into header cells and records of text, whatever its format (the
``read:`` block, `scripts.importer.shapes.ReadSpec`).

Every reader returns a `RawTable`: the header's cells as written (empty and repeated names
included; `scripts.importer.sources` names the columns) and each record's cells as text, with
the line it starts on:

``csv``
    decoded with ``encoding`` (a UTF-8 byte order mark is dropped), parsed by the `csv`
    module with ``delimiter`` (``auto``: `csv.Sniffer` among ``, ; TAB |``) and ``quote``,
    so a quoted field may span lines. ``line`` is the physical line the record starts on;
    the header is line ``header_row`` and the lines above it are not read.
``xlsx``
    one sheet of a workbook, read with openpyxl (``read_only=True, data_only=True``: a
    formula cell gives the value the workbook last saved for it, ``""`` if none). ``line``
    is the sheet's row number (as Excel shows it). Cells become text: empty → ``""``; a
    date or date-time → ISO 8601 ``YYYY-MM-DD`` when its time is midnight, else
    ``YYYY-MM-DDTHH:MM:SS``; a time → ``HH:MM:SS``; a number with an integer value →
    its digits (``3.0`` → ``"3"``), another number → its shortest repr (``2.5``); a
    boolean → ``TRUE``/``FALSE``. Empty header cells at the end of the header row and empty
    rows after the last non-empty row are not columns or records.
``json``
    ``records`` is the dotted path to a list of objects (``""``: the document is the list).
    Nested objects are flattened with dotted names (``{"address": {"city": "Baarn"}}`` →
    column ``address.city``), a list becomes its JSON text, ``null`` → ``""``, ``true`` /
    ``false`` as written, numbers as for xlsx. The header is every name in order of first
    appearance; a record without a name has ``""`` there. ``line`` is the record's 1-based
    position in the list (there is no header line).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from .errors import MisreadUtf8Error, SourceDataError, SourceEncodingError
from .shapes import SNIFF_BYTES, SNIFF_DELIMITERS, ReadSpec

_LINE_END = re.compile(r"\r\n|\r|\n")

MAX_FIELD_CHARS = 64 * 1024 * 1024
"""The csv module's field limit, raised from its 131,072 characters: a single oversize cell (a
pasted document) must make its row invalid, by the ledger's own byte limits, not refuse the
whole file (the staff workspace takes files up to 20 MiB)."""
csv.field_size_limit(MAX_FIELD_CHARS)


@dataclass(frozen=True)
class RawRecord:
    """One record: the line (csv), sheet row (xlsx) or position (json) where it starts, and
    its cells as text (as many as the file has; not padded)."""

    line: int
    cells: tuple[str, ...]


@dataclass(frozen=True)
class RawTable:
    """A file's header cells as written and its records in file order."""

    file: str
    header: tuple[str, ...]
    records: tuple[RawRecord, ...]


def read_raw(data_dir: Path, rel_path: str, spec: ReadSpec) -> RawTable:
    """Read ``data_dir / rel_path`` as ``spec`` says.

    Args:
        data_dir: the data directory.
        rel_path: the file, relative to it (POSIX separators).
        spec: the ``read:`` block.

    Raises:
        SourceEncodingError: a byte the encoding cannot decode (names its line and offset).
        SourceDataError: the file is missing or unreadable, has no header line (no row
            ``header_row``), the delimiter cannot be decided, the sheet or the records path is
            not there, or a record is not an object.
    """
    path = data_dir / rel_path
    try:
        if spec.format == "xlsx":
            return _read_xlsx(path, rel_path, spec)
        data = path.read_bytes()
    except FileNotFoundError:
        raise SourceDataError(rel_path, f"file not found under the data directory {data_dir}") from None
    except IsADirectoryError:
        raise SourceDataError(rel_path, "is a directory, not a file") from None
    except OSError as exc:
        raise SourceDataError(rel_path, f"cannot read: {exc.strerror or exc}") from None
    text = decode(rel_path, data, spec.text_encoding)
    if spec.format == "json":
        return _read_json(rel_path, text, spec)
    return _read_csv(rel_path, text, spec)


def decode(rel_path: str, data: bytes, encoding: str) -> str:
    """``data`` decoded with ``encoding``.

    Raises:
        SourceEncodingError: naming the first undecodable byte's line and offset.
    """
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].decode(encoding, errors="replace").count("\n") + 1
        raise SourceEncodingError(rel_path, encoding.removesuffix("-sig"), line, exc.start,
                                  data[exc.start: exc.end]) from None
    if _single_byte(encoding) and not data.isascii():
        try:
            as_utf8 = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return text  # not UTF-8: the code page it says
        word = re.search(r"[^\s,;|\"']*[^\x00-\x7f][^\s,;|\"']*", as_utf8)  # the first word with a non-ASCII letter
        shown = word.group(0)[:40] if word else as_utf8[:40]
        raise MisreadUtf8Error(rel_path, encoding, (shown, shown.encode("utf-8").decode(encoding, errors="replace")))
    return text


def _single_byte(encoding: str) -> bool:
    """Whether ``encoding`` is a one-byte code page over ASCII (cp1252, latin-1, cp850...: ``é``
    is one byte), which reads UTF-8 bytes without an error, as the wrong characters."""
    try:
        return "ab".encode(encoding) == b"ab" and len("é".encode(encoding)) == 1
    except (UnicodeError, LookupError):
        return False


# ------------------------------------------------------------------ csv


def _read_csv(rel_path: str, text: str, spec: ReadSpec) -> RawTable:
    skipped = spec.header_row - 1
    body = text
    if skipped:
        parts = _LINE_END.split(text, maxsplit=skipped)  # the csv module's line ends: \r\n, \r, \n
        if len(parts) <= skipped or not parts[-1]:
            raise SourceDataError(rel_path, f"no header: the file has fewer than {spec.header_row} lines (read.header_row)")
        body = parts[-1]
    delimiter = sniff_delimiter(rel_path, body) if spec.delimiter == "auto" else spec.delimiter
    reader = csv.reader(io.StringIO(body, newline=""), delimiter=delimiter, quotechar=spec.quote, strict=False)
    try:
        try:
            header = tuple(next(reader))
        except StopIteration:
            raise SourceDataError(rel_path, "the file is empty (no header line)") from None
        records: list[RawRecord] = []
        last_line = reader.line_num
        for record in reader:
            start = last_line + 1
            last_line = reader.line_num
            records.append(RawRecord(skipped + start, tuple(record)))
    except csv.Error as exc:
        raise SourceDataError(rel_path, f"cannot read line {skipped + reader.line_num}: {exc}") from None
    return RawTable(rel_path, header, tuple(records))


def sniff_delimiter(rel_path: str, text: str) -> str:
    """The delimiter of CSV ``text`` among `SNIFF_DELIMITERS`, judged by `csv.Sniffer` on its
    first `SNIFF_BYTES` (cut at the last line end).

    Raises:
        SourceDataError: the sniffer cannot decide.
    """
    sample = text[:SNIFF_BYTES]
    if len(text) > SNIFF_BYTES and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]
    try:
        return csv.Sniffer().sniff(sample, delimiters=SNIFF_DELIMITERS).delimiter
    except csv.Error:
        raise SourceDataError(
            rel_path, "read.delimiter auto: cannot decide between , ; TAB | from the first lines; give read.delimiter"
        ) from None


# ------------------------------------------------------------------ xlsx


def _read_xlsx(path: Path, rel_path: str, spec: ReadSpec) -> RawTable:
    import openpyxl  # only the xlsx reader needs it
    from openpyxl.utils.exceptions import InvalidFileException
    from zipfile import BadZipFile

    if not path.is_file():
        raise FileNotFoundError(path)
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, BadZipFile, KeyError, ValueError) as exc:
        raise SourceDataError(rel_path, f"not an xlsx workbook: {exc}") from None
    try:
        names = workbook.sheetnames
        if isinstance(spec.sheet, int):
            if spec.sheet > len(names):
                raise SourceDataError(rel_path, f"read.sheet {spec.sheet}: the workbook has {len(names)} sheet(s) {names}")
            sheet = workbook.worksheets[spec.sheet - 1]
        elif spec.sheet in names:
            sheet = workbook[spec.sheet]
        else:
            raise SourceDataError(rel_path, f"read.sheet {spec.sheet!r}: no such sheet; the workbook has {names}")
        rows = [
            (number, tuple(cell_text(value) for value in values))
            for number, values in enumerate(sheet.iter_rows(min_row=1, min_col=1, values_only=True), start=1)
        ]
    finally:
        workbook.close()
    while rows and not any(rows[-1][1]):
        rows.pop()
    if len(rows) < spec.header_row:
        raise SourceDataError(rel_path, f"no header: the sheet has {len(rows)} non-empty row(s) and read.header_row is {spec.header_row}")
    header = list(rows[spec.header_row - 1][1])
    while header and not header[-1].strip():
        header.pop()
    records = tuple(RawRecord(number, _trim_end(cells)) for number, cells in rows[spec.header_row:])
    return RawTable(rel_path, tuple(header), records)


def _trim_end(cells: tuple[str, ...]) -> tuple[str, ...]:
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return cells[:end]


def cell_text(value: Any) -> str:
    """The text of one xlsx cell value or JSON scalar (module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.replace(microsecond=0, tzinfo=None).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.replace(microsecond=0).isoformat()
    return str(value)


# ------------------------------------------------------------------ json


def _read_json(rel_path: str, text: str, spec: ReadSpec) -> RawTable:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceDataError(rel_path, f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    records: Any = document
    walked: list[str] = []
    for key in spec.records.split(".") if spec.records else []:
        if not isinstance(records, dict) or key not in records:
            where = ".".join(walked) or "the top level"
            raise SourceDataError(rel_path, f"read.records {spec.records!r}: {where} has no key {key!r}")
        records = records[key]
        walked.append(key)
    if not isinstance(records, list):
        where = f"read.records {spec.records!r}" if spec.records else "the top level (read.records '')"
        raise SourceDataError(rel_path, f"{where} is a {type(records).__name__}, not a list of records")
    columns: dict[str, None] = {}
    flat: list[dict[str, str]] = []
    for position, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise SourceDataError(rel_path, f"record {position} is a {type(record).__name__}, not an object")
        values: dict[str, str] = {}
        _flatten("", record, values)
        columns.update(dict.fromkeys(values))
        flat.append(values)
    header = tuple(columns)
    return RawTable(
        rel_path, header,
        tuple(RawRecord(position, tuple(values.get(name, "") for name in header)) for position, values in enumerate(flat, start=1)),
    )


def _flatten(prefix: str, value: dict[str, Any], out: dict[str, str]) -> None:
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            _flatten(f"{name}.", item, out)
        elif isinstance(item, list):
            out[name] = json.dumps(item, ensure_ascii=False, separators=(",", ":"))
        elif isinstance(item, bool):
            out[name] = "true" if item else "false"
        else:
            out[name] = cell_text(item)
