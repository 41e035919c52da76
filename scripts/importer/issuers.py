"""Many issuers in one file: an ``issuers`` mapping planned issuer by issuer.

A mapping with an ``issuers`` block (`scripts.importer.mapping.IssuerColumn`) instead of a
``municipality`` names each row's issuer in a column. :func:`split_issuers` reads its files once
and finds the issuers they name, in order of first appearance, and the rows that name none;
:func:`plan_issuers` plans each issuer's rows with the ordinary planner on the mapping
restricted to that issuer (`for_issuer`), so every rule of a one-issuer mapping holds per issuer
(external references unique per issuer, one commitment per item). Each issuer is then written
with its own staff token (the token file is keyed by municipality code).

Every row is reported exactly once: in the plan of its issuer, or in :attr:`IssuerSplit.unassigned`
(``invalid``, or ``skipped`` with ``unknown: skip``) when its issuer value is empty or not in
the table. Rows that a skip rule skips and that name no issuer are reported there as skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .mapping import CommitmentsMapping, MunicipalityRef, ProgressSnapshotsMapping
from .plan import Plan, ReportRow
from .planner import plan_source
from .rows import first_skip
from .sources import read_sources

AnyMapping = CommitmentsMapping | ProgressSnapshotsMapping


@dataclass(frozen=True)
class IssuerSplit:
    """The issuers a mapping's files name.

    Attributes:
        issuers: each issuer once, in order of its first row.
        unassigned: one report row per record that names no known issuer (file order).
    """

    issuers: tuple[MunicipalityRef, ...]
    unassigned: tuple[ReportRow, ...]


def split_issuers(mapping: AnyMapping, data_dir: str | Path) -> IssuerSplit:
    """Find the issuers of an ``issuers`` mapping's rows (a ``municipality`` mapping: its one
    issuer, nothing unassigned).

    Raises:
        SourceDataError: a file cannot be read or lacks a column the mapping uses
            (`scripts.importer.sources.read_sources`).
    """
    if mapping.issuers is None:
        assert mapping.municipality is not None
        return IssuerSplit((mapping.municipality,), ())
    block = mapping.issuers
    data_dir = Path(data_dir)
    found: dict[str, MunicipalityRef] = {}
    names: dict[str, tuple[str, int]] = {}
    unassigned: list[ReportRow] = []
    for table in read_sources(mapping, data_dir):  # as the planner reads them: grouped, joined
        rel = table.file
        for row in table.rows:
            ref = block.issuer_of(row.values)
            base = {"file": row.file, "line": row.line, "key": row.values[mapping.key_column]}
            if ref is None:
                rule = first_skip(mapping.skip, row.values)
                if rule is not None:
                    unassigned.append(ReportRow(**base, outcome="skipped", reason=rule.reason))
                    continue
                raw = row.values.get(block.column, "")
                why = (f"issuers.column {block.column!r} is empty" if not raw.strip() else
                       f"issuers.column {block.column!r}: {raw!r} is not in issuers.table" if block.table is not None else
                       f"issuers: {raw!r} (column {block.column!r}) with name {row.values.get(block.name_column or '', '')!r} "
                       "is not an issuer code and name (code 1..16 bytes, a name)")
                unassigned.append(ReportRow(**base, outcome="skipped" if block.unknown == "skip" else "invalid",
                                            reason=why, malformed=block.unknown != "skip"))
                continue
            if ref.code in names and names[ref.code][0] != ref.name and block.table is None:
                unassigned.append(ReportRow(**base, outcome="invalid", malformed=True, reason=(
                    f"issuers: code {ref.code!r} is named {ref.name!r} here and {names[ref.code][0]!r} on line "
                    f"{names[ref.code][1]} of {rel}")))
                continue
            names.setdefault(ref.code, (ref.name, row.line))
            found.setdefault(ref.code, ref)
    return IssuerSplit(tuple(found.values()), tuple(unassigned))


def plan_issuers(mapping: AnyMapping, data_dir: str | Path) -> tuple[list[Plan], IssuerSplit]:
    """One plan per issuer the files name (:func:`split_issuers`), in order of first
    appearance; for a ``municipality`` mapping, its one plan.

    Raises:
        SourceDataError: as `plan_source`.
    """
    split = split_issuers(mapping, data_dir)
    if mapping.issuers is None:
        return [plan_source(mapping, data_dir)], split
    return [plan_source(mapping.for_issuer(ref), data_dir) for ref in split.issuers], split


def names_issuer(mapping: AnyMapping, code: str) -> bool:
    """Whether the mapping may hold rows of the issuer with ``code``: its ``municipality``, an
    issuer of its ``issuers.table``, or any code (an issuers column without a table: the file
    says)."""
    if mapping.issuers is None:
        return mapping.municipality is not None and mapping.municipality.code == code
    if mapping.issuers.table is None:
        return True
    return any(ref.code == code for ref in mapping.issuers.named())


def for_code(mapping: AnyMapping, code: str, data_dir: str | Path) -> AnyMapping | None:
    """The mapping restricted to the issuer with ``code`` (what one municipality's staff may
    import from it), or None when its files name no such issuer; a ``municipality`` mapping is
    returned as it is when ``code`` is its own.

    Raises:
        SourceDataError: a file is missing or lacks the issuer column (``issuers`` mappings).
    """
    if mapping.issuers is None:
        return mapping if names_issuer(mapping, code) else None
    ref = next((r for r in split_issuers(mapping, data_dir).issuers if r.code == code), None)
    return None if ref is None else mapping.for_issuer(ref)
