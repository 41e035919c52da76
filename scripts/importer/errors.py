"""Exception tree of the importer.

One root (`ImporterError`), domain groups below it, stdlib mixins so callers can also catch
the usual builtin (`except ValueError`). Messages say what is wrong and how to fix it; code
never matches on message text, only on the class and its typed attributes.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import codecs
from typing import Any


class ImporterError(Exception):
    """Root of every error the importer raises on purpose."""


class MappingError(ImporterError, ValueError):
    """A mapping file is missing, is not YAML, or does not validate.

    Attributes:
        path: the mapping file, as given.
        problems: one line per problem, ``"<location>: <message>"``.
    """

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"mapping {path} is not valid:\n{lines}")


class SourceDataError(ImporterError, ValueError):
    """A CSV file named by a mapping cannot be used (missing, unreadable, missing columns).

    Attributes:
        file: the CSV path relative to the data directory.
    """

    def __init__(self, file: str, message: str) -> None:
        self.file = file
        super().__init__(f"{file}: {message}")


class RowValueError(ImporterError, ValueError):
    """A field transform cannot read one row's value (the planner reports the row, naming the
    field; nothing is planned from that value)."""


class DateNotRecognisedError(RowValueError):
    """A value matches none of a ``date`` transform's formats.

    Attributes:
        value: the value as read.
        formats: the formats tried, in order.
        notes: why a format that recognised the value's shape still refused it (e.g. Excel's
            serial 60, the 1900-02-29 that never was), empty if none did.
    """

    def __init__(self, value: object, formats: list[str], notes: list[str]) -> None:
        self.value = value
        self.formats = list(formats)
        self.notes = list(notes)
        why = f" ({'; '.join(self.notes)})" if self.notes else ""
        super().__init__(f"{value!r} matches none of the date formats {self.formats}{why}")


class AmbiguousDateError(RowValueError):
    """Two of a ``date`` transform's formats read one value as different moments (``03/04/2026``
    with both ``%d/%m/%Y`` and ``%m/%d/%Y``): the importer does not guess which one the source
    meant.

    Attributes:
        value: the value as read.
        readings: ``(format, Unix seconds)`` of each format that read it, in the mapping's order.
    """

    def __init__(self, value: object, readings: list[tuple[str, int]], time_zone: str = "UTC") -> None:
        self.value = value
        self.readings = list(readings)
        zone = ZoneInfo(time_zone)
        shown = "; ".join(f"{fmt} → {datetime.fromtimestamp(seconds, zone).isoformat()}" for fmt, seconds in self.readings)
        super().__init__(f"{value!r} is ambiguous: {shown}; keep only the format the source uses")


class UnknownLookupValueError(RowValueError):
    """A value is neither a key of a ``lookup`` table nor one of its ``no_data`` values (and
    ``otherwise`` is ``error``).

    Attributes:
        value: the value as read.
        known: the table's keys, in mapping order.
        no_data: the no-data values, in mapping order.
    """

    def __init__(self, value: object, known: list[str], no_data: list[str]) -> None:
        self.value = value
        self.known = list(known)
        self.no_data = list(no_data)
        also = f"; no data: {self.no_data}" if self.no_data else ""
        super().__init__(f"{value!r} is not in the lookup table (known: {self.known}{also})")


class SourceEncodingError(SourceDataError):
    """A source file has a byte its encoding (``read.encoding``) cannot decode.

    Attributes:
        encoding: the codec tried.
        line: 1-based line of the first undecodable byte.
        offset: its 0-based byte offset in the file.
        data: the undecodable byte(s).
    """

    def __init__(self, file: str, encoding: str, line: int, offset: int, data: bytes) -> None:
        self.encoding = encoding
        self.line = line
        self.offset = offset
        self.data = data
        hint = ("if the file was saved by Excel or another Windows program, try read: {encoding: windows-1252}"
                if codecs.lookup(encoding).name != "cp1252" else "give the file's encoding as read.encoding")
        super().__init__(file, f"line {line}, byte offset {offset}: byte(s) 0x{data.hex()} are not {encoding} text; {hint}")


class MisreadUtf8Error(SourceDataError):
    """A source file is UTF-8 with non-ASCII text, but its ``read.encoding`` is a one-byte code
    page (``windows-1252``, ``latin-1``...): every ``ë`` would be read as ``Ã«`` and written so
    on chain. Real text in a one-byte code page is almost never valid UTF-8 as a whole.

    Attributes:
        encoding: the codec the mapping names.
        example: the first non-ASCII text of the file as UTF-8, and as ``encoding`` reads it.
    """

    def __init__(self, file: str, encoding: str, example: tuple[str, str]) -> None:
        self.encoding = encoding
        self.example = example
        super().__init__(file, f"the file is UTF-8 text, but read.encoding is {encoding}: {example[0]!r} would be read "
                               f"as {example[1]!r}; remove read.encoding (UTF-8 is the default) or give the file's "
                               "real encoding")


class AmbiguousColumnError(SourceDataError):
    """A mapping names a column by a name the file's header repeats.

    Attributes:
        column: the name (with its join prefix, if any).
        positions: the 1-based positions that carry it; the mapping must use ``#<n>``.
    """

    def __init__(self, file: str, column: str, positions: tuple[int, ...], prefix: str = "") -> None:
        self.column = column
        self.positions = positions
        choices = ", ".join(f"{prefix}#{p}" for p in positions)
        super().__init__(file, f"column {column!r} is ambiguous: the header has it at positions {choices}; name one of them")


class DuplicateJoinKeyError(SourceDataError):
    """A joined file has the same key on several rows, so a row could match more than one.

    Attributes:
        column: the key column of the joined file (``join.on.to``).
        key: the repeated key.
        lines: the lines that carry it.
    """

    def __init__(self, file: str, column: str, key: str, lines: tuple[int, ...]) -> None:
        self.column = column
        self.key = key
        self.lines = lines
        super().__init__(file, f"join key {column} {key!r} is on lines {', '.join(map(str, lines))}: a joined file "
                               "must have each key once")


class TokenNotFoundError(ImporterError, LookupError):
    """No staff token was given for the mapping's municipality (flag, token file or env var)."""


class ApiError(ImporterError):
    """Base of the errors raised while talking to the ledger API."""


class ApiUnreachableError(ApiError, ConnectionError):
    """The API could not be reached (connection refused, DNS, timeout) after the retries."""

    def __init__(self, url: str, cause: BaseException) -> None:
        self.url = url
        self.cause = cause
        super().__init__(f"cannot reach the ledger API at {url}: {cause!r}")


class ApiProblemError(ApiError):
    """The API answered with an error (RFC 9457 problem+json, or any non-2xx).

    Attributes:
        status: HTTP status code.
        slug: the last segment of the problem ``type`` (``"duplicate-external-ref"``), or
            ``"http-<status>"`` when the body is not a problem document.
        title: the problem title.
        detail: the problem detail (human readable).
        body: the whole decoded problem document (extension members included), or ``{}``.
    """

    def __init__(self, method: str, url: str, status: int, body: dict[str, Any], text: str) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.body = body
        problem_type = str(body.get("type") or "")
        self.slug = problem_type.rstrip("/").rsplit("/", 1)[-1] if problem_type else f"http-{status}"
        self.title = str(body.get("title") or "")
        self.detail = str(body.get("detail") or text[:500])
        super().__init__(f"{method} {url} → {status} {self.slug}: {self.detail}")

    def extension(self, name: str) -> Any:
        """The problem's extension member ``name`` (e.g. ``existing_commitment_id``), or None."""
        return self.body.get(name)

    @property
    def service_failure(self) -> bool:
        """True when the refusal is not the request's own fault: 429 (rate limited beyond the
        retries) or 5xx (the API, the chain or the ledger is unavailable)."""
        return self.status == 429 or self.status >= 500


class WriteTimeoutError(ApiError, TimeoutError):
    """A write the API accepted (202) was neither confirmed nor failed within the importer's
    wait; it goes on server-side, and a re-run (same ``Idempotency-Key``) finds the same write.

    Attributes:
        write_id: the API's write id.
        state: its last polled state (``queued``, ``sent``, ``mined``).
        waited_seconds: how long the importer polled.
    """

    def __init__(self, url: str, write_id: str, state: str, waited_seconds: float) -> None:
        self.url = url
        self.write_id = write_id
        self.state = state
        self.waited_seconds = waited_seconds
        super().__init__(
            f"write {write_id} ({url}) is still {state} after {waited_seconds:.0f} s: it goes on in the API; "
            f"re-run later (the same write is found again) or raise --write-timeout-seconds"
        )


def is_service_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure that is not the request's own fault (the API unreachable,
    a write not settled in time, 429 beyond the retries, 5xx): what `ConsecutiveFailuresError`
    counts."""
    if isinstance(exc, (ApiUnreachableError, WriteTimeoutError)):
        return True
    return isinstance(exc, ApiProblemError) and exc.service_failure


class ConsecutiveFailuresError(ImporterError):
    """The run stops: this many requests in a row failed for a reason that is not their own
    fault (`is_service_failure`). Not an `ApiError`, so the applier does not record it as one
    operation's failure: it ends the run (the CLI writes the report and exits 3).

    Attributes:
        count: consecutive failed requests.
        last: the last failure.
    """

    def __init__(self, count: int, last: ApiError) -> None:
        self.count = count
        self.last = last
        super().__init__(f"{count} requests in a row failed, the last with: {last}")


class MunicipalityMismatchError(ImporterError, PermissionError):
    """The staff token belongs to another municipality than the mapping declares."""

    def __init__(self, expected_code: str, token_code: str, token_name: str) -> None:
        self.expected_code = expected_code
        self.token_code = token_code
        self.token_name = token_name
        super().__init__(
            f"the token belongs to {token_name} ({token_code}) but the mapping imports for "
            f"{expected_code}: use that municipality's token"
        )


class MunicipalityNotFoundError(ImporterError, LookupError):
    """No municipality with the mapping's code is registered in the ledger."""


class IndexerLagError(ImporterError, TimeoutError):
    """The API's indexer did not catch up with the chain head within the allowed time."""

    def __init__(self, waited_seconds: float, indexed_block: int | None, head_block: int | None) -> None:
        self.waited_seconds = waited_seconds
        self.indexed_block = indexed_block
        self.head_block = head_block
        super().__init__(
            f"the API's indexer is at block {indexed_block} but the chain head is {head_block} "
            f"after waiting {waited_seconds:.0f} s: its state would be stale; retry later or "
            f"raise --sync-timeout-seconds"
        )
