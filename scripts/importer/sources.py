"""A mapping's rows from its files, whatever their shape: read (`scripts.importer.readers`),
columns named, continuation rows grouped, other files joined. Gives the `CsvTable` rows the
planners use (`scripts.importer.planner`, `scripts.importer.snapshots`).

Order, for each file a mapping reads (``file:`` or each snapshot's ``file:``):

1. read as its ``read:`` block says (a snapshot's ``read:`` merged over the mapping's);
2. columns named: every column is ``"#<n>"`` (1-based position); a header cell that is not
   empty (after trimming), not repeated and not itself of the form ``#<n>`` also names it.
   A repeated name names none of its columns: a mapping that uses it gets an
   `AmbiguousColumnError` with the positions to choose from;
3. ``group:``: continuation rows merged into the row above (`scripts.importer.shapes.GroupSpec`);
4. ``join:``, in order: each row gets the joined file's matching row as ``<prefix><name>``
   and ``<prefix>#<n>`` (`scripts.importer.shapes.JoinSpec`);

then the planner applies skip rules, clean steps, field defaults and transforms, in that order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .csvsource import CsvRow, CsvTable
from .errors import AmbiguousColumnError, DuplicateJoinKeyError, SourceDataError
from .readers import RawTable, read_raw
from .shapes import DEFAULT_READ, GroupSpec, JoinSpec, ReadSpec

_POSITION = re.compile(r"#([1-9][0-9]*)")


@dataclass(frozen=True)
class Columns:
    """How the columns of one file are addressed.

    Attributes:
        file: the file, relative to the data directory.
        header: its header cells as written.
        prefix: put before every key (a joined file's ``prefix``; ``""`` for the mapping's file).
        keys: per position (0-based), the keys that address it: ``<prefix>#<n>``, then
            ``<prefix><name>`` when the name is usable.
        repeated: ``<prefix><name>`` → 1-based positions, for names the header repeats.
    """

    file: str
    header: tuple[str, ...]
    prefix: str
    keys: tuple[tuple[str, ...], ...]
    repeated: dict[str, tuple[int, ...]]

    @classmethod
    def of(cls, file: str, header: Sequence[str], prefix: str = "") -> Columns:
        """Name the columns of ``header`` (module docstring, step 2)."""
        positions: dict[str, list[int]] = {}
        for number, name in enumerate(header, start=1):
            if name.strip() and not _POSITION.fullmatch(name):
                positions.setdefault(name, []).append(number)
        keys = tuple(
            (f"{prefix}#{number}",) + ((f"{prefix}{name}",) if len(positions.get(name, ())) == 1 else ())
            for number, name in enumerate(header, start=1)
        )
        repeated = {f"{prefix}{name}": tuple(found) for name, found in positions.items() if len(found) > 1}
        return cls(file, tuple(header), prefix, keys, repeated)

    @property
    def width(self) -> int:
        """Number of columns."""
        return len(self.header)

    def find(self, column: str) -> int | None:
        """The 0-based position of ``column`` (a key of this file), or None if it is not one.

        Raises:
            AmbiguousColumnError: the header repeats that name.
        """
        if column in self.repeated:
            raise AmbiguousColumnError(self.file, column, self.repeated[column], self.prefix)
        for index, keys in enumerate(self.keys):
            if column in keys:
                return index
        return None

    def label(self, index: int) -> str:
        """What the report calls the column at ``index``: its name, else ``#<n>``."""
        return self.keys[index][-1]

    def values(self, cells: Sequence[str]) -> dict[str, str]:
        """Key → cell for one row of ``width`` cells."""
        return {key: cell for keys, cell in zip(self.keys, cells) for key in keys}


@dataclass(frozen=True)
class JoinedFile:
    """A file of ``join:``, read and indexed by its key column.

    Attributes:
        spec: its ``join:`` item.
        where: its location in the mapping (``join.0``).
        columns: its columns, prefixed.
        rows: key (trimmed) → (line, cells padded to the header, shape problems).
    """

    spec: JoinSpec
    where: str
    columns: Columns
    rows: dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]]

    @classmethod
    def read(cls, data_dir: Path, spec: JoinSpec, where: str) -> JoinedFile:
        """Read and index ``spec.file``.

        Raises:
            SourceDataError: the file cannot be read, or has no column ``spec.on.to``.
            DuplicateJoinKeyError: a key is on more than one row (the first such key).
        """
        raw = read_raw(data_dir, spec.file, spec.read)
        plain = Columns.of(spec.file, raw.header)
        to = plain.find(spec.on.to)
        if to is None:
            raise SourceDataError(spec.file, f"{where}.on.to: no column {spec.on.to!r}; the header has {list(raw.header)}")
        columns = Columns.of(spec.file, raw.header, spec.prefix)
        rows: dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]] = {}
        lines: dict[str, list[int]] = {}
        for line, cells, problems in _padded(raw, plain.width):
            key = cells[to].strip()
            if key:
                lines.setdefault(key, []).append(line)
                rows.setdefault(key, (line, cells, problems))
        for key, found in lines.items():
            if len(found) > 1:
                raise DuplicateJoinKeyError(spec.file, spec.on.to, key, tuple(found))
        return cls(spec, where, columns, rows)


def read_sources(mapping: object, data_dir: Path) -> list[CsvTable]:
    """The rows of every file a mapping reads rows from: its ``file`` (``kind: commitments``)
    or each snapshot's (``kind: progress_snapshots``, time order), grouped and joined.

    Args:
        mapping: a `CommitmentsMapping` or `ProgressSnapshotsMapping`.
        data_dir: the directory its paths are relative to.

    Raises:
        SourceDataError: a file cannot be read, or lacks a column the mapping uses (see
            `read_table`).
    """
    joins = [JoinedFile.read(data_dir, spec, f"join.{i}") for i, spec in enumerate(mapping.join)]  # type: ignore[attr-defined]
    snapshots = getattr(mapping, "snapshots", None)
    if snapshots is None:
        files = [(mapping.file, mapping.read)]  # type: ignore[attr-defined]
    else:
        files = [(s.file, s.read or mapping.read) for s in snapshots]  # type: ignore[attr-defined]
    return [
        read_table(data_dir, file, read, required_columns=mapping.columns_used(),  # type: ignore[attr-defined]
                   group=mapping.group, joins=joins, clean_columns=list(mapping.clean))  # type: ignore[attr-defined]
        for file, read in files
    ]


def read_table(
    data_dir: Path,
    rel_path: str,
    read: ReadSpec = DEFAULT_READ,
    *,
    required_columns: Iterable[str] = (),
    group: GroupSpec | None = None,
    joins: Sequence[JoinedFile] = (),
    clean_columns: Iterable[str] = (),
) -> CsvTable:
    """Read one file and assemble its rows (module docstring).

    Args:
        data_dir: the data directory.
        rel_path: the file, relative to it.
        read: how to read it.
        required_columns: every column key the mapping uses (names, ``#<n>``, prefixed).
        group: the ``group:`` block, if any.
        joins: the joined files, in ``join:`` order.
        clean_columns: the columns of the ``clean:`` block (for `CsvTable.aliases`).

    Returns:
        the table; one `CsvRow` per record, or per group of records (``merged_lines``).

    Raises:
        SourceDataError: the file cannot be read (`read_raw`), a required column is missing,
            a group or join column is not where it must be, two joins or a join and the file
            give the same column key, or two clean columns are the same column.
        AmbiguousColumnError: a required column's name is repeated in its header.
    """
    raw = read_raw(data_dir, rel_path, read)
    columns = Columns.of(rel_path, raw.header)
    sources = [columns, *(j.columns for j in joins)]
    _check_no_clash(sources)
    found = {column: _find(sources, column) for column in required_columns}
    missing = sorted(column for column, at in found.items() if at is None)
    if missing:
        joined = "".join(f"; the joined {j.spec.file} has {list(j.columns.header)} as {j.spec.prefix}<name>" for j in joins)
        raise SourceDataError(rel_path, f"missing column(s) {missing}; the header has {list(raw.header)}{joined}")
    aliases = _aliases(sources, clean_columns, rel_path)
    records = _padded(raw, columns.width)
    if group is not None:
        rows = _group(rel_path, columns, records, group)
    else:
        rows = [CsvRow(rel_path, line, columns.values(cells), problems) for line, cells, problems in records]
    for index, joined in enumerate(joins):
        on = _find(sources[: index + 1], joined.spec.on.column)
        if on is None:
            raise SourceDataError(
                rel_path, f"{joined.where}.on.column: {joined.spec.on.column!r} is not a column of this file or of an earlier join"
            )
        rows = [_join(row, joined) for row in rows]
    return CsvTable(rel_path, raw.header, tuple(rows), aliases)


def _find(sources: Sequence[Columns], column: str) -> tuple[Columns, int] | None:
    for columns in sources:
        if column.startswith(columns.prefix):
            index = columns.find(column)
            if index is not None:
                return columns, index
    return None


def _check_no_clash(sources: Sequence[Columns]) -> None:
    seen: dict[str, str] = {}
    for columns in sources:
        keys = {k for keys in columns.keys for k in keys} | set(columns.repeated)
        clash = sorted(keys & set(seen))
        if clash:
            raise SourceDataError(columns.file, f"column {clash[0]!r} is also a column of {seen[clash[0]]}: "
                                                "give its join another prefix")
        seen.update(dict.fromkeys(keys, columns.file))


def _aliases(sources: Sequence[Columns], clean_columns: Iterable[str], rel_path: str) -> dict[str, tuple[str, ...]]:
    aliases: dict[str, tuple[str, ...]] = {}
    cleaned_by: dict[tuple[str, int], str] = {}
    for column in clean_columns:
        at = _find(sources, column)
        if at is None:
            continue  # reported as missing by the caller
        columns, index = at
        place = (columns.prefix, index)
        if place in cleaned_by:
            raise SourceDataError(
                rel_path, f"clean: {cleaned_by[place]!r} and {column!r} are the same column; give its steps under one of them"
            )
        cleaned_by[place] = column
        aliases[column] = tuple(key for key in columns.keys[index] if key != column)
    return aliases


def _padded(raw: RawTable, width: int) -> list[tuple[int, tuple[str, ...], tuple[str, ...]]]:
    """Each record as (line, exactly ``width`` cells, shape problems)."""
    out = []
    for record in raw.records:
        problems: tuple[str, ...] = ()
        cells = record.cells
        if len(cells) > width:
            if any(v.strip() for v in cells[width:]):
                problems = (f"{len(cells)} fields for {width} columns; extra fields ignored",)
            cells = cells[:width]
        out.append((record.line, cells + ("",) * (width - len(cells)), problems))
    return out


def _group(
    rel_path: str, columns: Columns, records: list[tuple[int, tuple[str, ...], tuple[str, ...]]], group: GroupSpec
) -> list[CsvRow]:
    """Merge continuation rows into their head row (`GroupSpec`)."""
    condition = _need_own(columns, group.continuation.column, "group.continuation.column")
    collect = {_need_own(columns, column, f"group.collect.{column}"): sep for column, sep in group.collect.items()}
    heads: list[tuple[int, tuple[str, ...], tuple[str, ...], list[tuple[int, tuple[str, ...], tuple[str, ...]]]]] = []
    rows: list[CsvRow | int] = []  # a CsvRow (orphan continuation) or the index of a head in `heads`
    for line, cells, problems in records:
        if group.continuation.holds(cells[condition]):
            if heads:  # the nearest head above: once there is one, every continuation row has one
                heads[-1][3].append((line, cells, problems))
                continue
            rows.append(CsvRow(rel_path, line, columns.values(cells), problems,
                               invalid=f"a continuation row (group.continuation on {group.continuation.column!r}) "
                                       "with no row above it to continue"))
            continue
        heads.append((line, cells, problems, []))
        rows.append(len(heads) - 1)
    out: list[CsvRow] = []
    for item in rows:
        if isinstance(item, CsvRow):
            out.append(item)
            continue
        line, cells, problems, continued = heads[item]
        merged = list(cells)
        warnings = list(problems)
        for index, sep in collect.items():
            merged[index] = sep.join(v for v in [cells[index]] + [c[index] for _l, c, _p in continued] if v.strip())
        for cont_line, cont_cells, cont_problems in continued:
            warnings += [f"line {cont_line}: {p}" for p in cont_problems]
            ignored = [
                columns.label(i) for i, value in enumerate(cont_cells)
                if i not in collect and i != condition and value.strip() and value != cells[i]
            ]
            if ignored:
                warnings.append(f"line {cont_line} (merged into this row): {', '.join(ignored)} ignored "
                                "(not collected by group, and different from this row's)")
        out.append(CsvRow(rel_path, line, columns.values(merged), tuple(warnings),
                          merged_lines=tuple(cont_line for cont_line, _c, _p in continued)))
    return out


def _need_own(columns: Columns, column: str, where: str) -> int:
    index = columns.find(column)
    if index is None:
        raise SourceDataError(columns.file, f"{where}: {column!r} is not a column of this file "
                                            f"(group reads the file's own columns); the header has {list(columns.header)}")
    return index


def _join(row: CsvRow, joined: JoinedFile) -> CsvRow:
    """``row`` with the columns of its match in ``joined`` (empty when none)."""
    spec = joined.spec
    key = row.values[spec.on.column].strip()
    match = joined.rows.get(key) if key else None
    problems = list(row.problems)
    invalid = row.invalid
    if match is None:
        cells: tuple[str, ...] = ("",) * joined.columns.width
        what = f"no row of {spec.file} has {spec.on.to} {key!r}" if key else f"{spec.on.column} is empty"
        if spec.required:
            invalid = invalid or f"{joined.where} (required): {what}"
        else:
            problems.append(f"{joined.where}: {what}; its {spec.prefix}* columns are empty")
    else:
        line, cells, join_problems = match
        problems += [f"{spec.file} line {line}: {p}" for p in join_problems]
    values = {**row.values, **joined.columns.values(cells)}
    return CsvRow(row.file, row.line, values, tuple(problems), row.merged_lines, invalid)

