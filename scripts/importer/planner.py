"""Turning a mapping and its CSV files into a `Plan` (pure: reads files, no ledger access)."""

from __future__ import annotations

from pathlib import Path

from .mapping import CommitmentsMapping, ProgressSnapshotsMapping
from .plan import Operation, Plan, ReportRow, RowRef
from .rows import build_commitment, clean_row, first_skip
from .snapshots import plan_snapshots
from .sources import read_sources


def plan_source(mapping: CommitmentsMapping | ProgressSnapshotsMapping, data_dir: str | Path) -> Plan:
    """Compute the plan of a mapping from its files.

    Args:
        mapping: from `load_mapping`.
        data_dir: directory the mapping's file paths are relative to.

    Returns:
        the `Plan`: operations in execution order and one report row per CSV record.

    Raises:
        SourceDataError: if a file is missing or unreadable or lacks a column the mapping
            uses (`scripts.importer.sources.read_table`).
        MappingError: an ``issuers`` mapping not split by issuer (`scripts.importer.issuers.plan_issuers`).
    """
    data_dir = Path(data_dir)
    mapping.issuer  # an issuers mapping is planned per issuer (scripts.importer.issuers): MappingError otherwise
    if isinstance(mapping, CommitmentsMapping):
        return plan_commitments(mapping, data_dir)
    return plan_snapshots(mapping, data_dir)


def plan_commitments(mapping: CommitmentsMapping, data_dir: Path) -> Plan:
    """Plan a ``kind: commitments`` mapping: one registration per row that is not skipped.

    A row whose values break the ledger's limits, or whose external_ref repeats an earlier
    row's, is reported ``invalid`` and planned for nothing.

    Raises:
        SourceDataError: as `plan_source`.
    """
    (table,) = read_sources(mapping, data_dir)
    operations: list[Operation] = []
    report: list[ReportRow] = []
    first_line_of_ref: dict[str, int] = {}
    for row in table.rows:
        if not mapping.owns(row.values):
            continue  # another issuer's row (an issuers mapping is planned per issuer)
        key = row.values[mapping.key_column]
        base = {"file": row.file, "line": row.line, "key": key, "merged_lines": row.merged_lines}
        rule = first_skip(mapping.skip, row.values)
        if rule is not None:
            report.append(ReportRow(**base, outcome="skipped", reason=rule.reason))
            continue
        if row.invalid is not None:
            report.append(ReportRow(**base, outcome="invalid", reason=row.invalid, warnings=row.problems))
            continue
        values, cleaned, warnings = clean_row(mapping.clean, row.values, table.aliases)
        warnings = list(row.problems) + warnings
        op, problems = build_commitment(mapping.commitment, values, RowRef(row.file, row.line, key), source=mapping.source)
        if op is not None and op.external_ref in first_line_of_ref:
            problems = [f"external_ref {op.external_ref!r} already used on line {first_line_of_ref[op.external_ref]}"]
            op = None
        if op is None:
            report.append(ReportRow(**base, outcome="invalid", reason="; ".join(problems),
                                    cleaned=tuple(cleaned), warnings=tuple(warnings)))
            continue
        first_line_of_ref[op.external_ref] = row.line
        operations.append(op)
        report.append(ReportRow(**base, outcome="planned", cleaned=tuple(cleaned),
                                warnings=tuple(warnings), operations=(len(operations) - 1,)))
    return Plan(mapping=mapping, operations=tuple(operations), report=tuple(report))
