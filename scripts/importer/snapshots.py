"""Replay of progress snapshots (``kind: progress_snapshots``) into ledger operations.

Rule (deterministic, computed from the files alone). Walk the snapshots in time order and keep,
per item, the list of counted (non-revoked) deliveries; their sum is the progress the ledger
shows. The first snapshot an item appears in registers its commitment (progress 0 before it).
For each later value q of the progress column, with p the counted sum:

* q > p: record one delivery of q − p, dated the snapshot's ``as_of``, with an evidence JSON
  document built from the row (see `evidence_document`).
* q < p: a correction. Revoke counted deliveries newest first until the counted sum ≤ q; if the
  sum is then < q, record a delivery of the remainder (as above).
* q = p: nothing.

A row whose progress cannot be parsed is reported ``skipped`` and changes nothing.

With ``deliveries: {mode: batch}`` each delivery names its snapshot's label as its batch
(`RecordDelivery.batch`): the deliveries of one snapshot become the leaves of one anchored
batch (`Plan.batches`). A delivery whose (normalised) asset ref is already named by a counted
delivery of the same item makes its row ``invalid`` (an asset counts once per commitment).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import limits
from .csvsource import CsvTable
from .mapping import ProgressSnapshotsMapping, Snapshot, as_of_iso
from .plan import (
    EvidenceFile,
    Operation,
    Plan,
    RecordDelivery,
    RegisterCommitment,
    ReportRow,
    RevokeDelivery,
    RowRef,
)
from .batches import normalise_asset_ref
from .rows import as_int, build_commitment, clean_row, evaluate, first_skip
from .sources import read_sources

EVIDENCE_MEDIA_TYPE = "application/json"
_COMPARED_FIELDS = ("title", "description", "theme", "target_quantity", "unit", "due_date")


@dataclass
class _Item:
    """Replay state of one item: its registration and its counted deliveries, oldest first."""

    commitment: RegisterCommitment
    snapshot_label: str
    counted: list[tuple[str, int]] = field(default_factory=list)
    used_refs: set[str] = field(default_factory=set)
    assets: dict[str, str] = field(default_factory=dict)  # delivery ref → its normalised asset ref, when it has one

    @property
    def progress(self) -> int:
        return sum(quantity for _ref, quantity in self.counted)


def evidence_document(
    mapping: ProgressSnapshotsMapping,
    snapshot: Snapshot,
    key: str,
    values: dict[str, str],
    previous: int,
    progress: int,
    quantity: int,
    unit: str,
) -> bytes:
    """The evidence file of a snapshot delivery: a JSON object, UTF-8, sorted keys, compact
    separators (so equal inputs give equal bytes and the same SHA-256).

    Keys: the mapping's ``key_column`` (item key), every ``delivery.evidence_columns`` column
    (cleaned value), ``progress`` and ``previous_progress`` (in ``unit``), ``quantity`` (this
    delivery), ``unit``, ``snapshot`` (label), ``as_of`` (RFC 3339) and ``credit``.
    """
    doc: dict[str, Any] = {column: values[column] for column in mapping.delivery.evidence_columns}
    doc.update(
        {
            mapping.key_column: key,
            "progress": progress,
            "previous_progress": previous,
            "quantity": quantity,
            "unit": unit,
            "snapshot": snapshot.label,
            "as_of": as_of_iso(snapshot.as_of),
            "credit": mapping.source.credit,
        }
    )
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def plan_snapshots(mapping: ProgressSnapshotsMapping, data_dir: Path) -> Plan:
    """Plan a ``kind: progress_snapshots`` mapping by replaying its snapshots (module docstring).

    Raises:
        SourceDataError: if a file is missing or lacks a column the mapping uses.
    """
    tables = read_sources(mapping, data_dir)
    replay = _Replay(mapping)
    for snapshot, table in zip(mapping.snapshots, tables):
        replay.snapshot(snapshot, table)
    return Plan(mapping=mapping, operations=tuple(replay.operations), report=tuple(replay.report))


class _Replay:
    def __init__(self, mapping: ProgressSnapshotsMapping) -> None:
        self.mapping = mapping
        self.items: dict[str, _Item] = {}
        self.invalid_items: dict[str, str] = {}
        self.operations: list[Operation] = []
        self.report: list[ReportRow] = []

    def snapshot(self, snapshot: Snapshot, table: CsvTable) -> None:
        seen: dict[str, int] = {}
        for row in table.rows:
            m = self.mapping
            if not m.owns(row.values):
                continue  # another issuer's row (an issuers mapping is planned per issuer)
            key = row.values[m.key_column]
            base = {"file": row.file, "line": row.line, "key": key, "merged_lines": row.merged_lines}
            rule = first_skip(m.skip, row.values)
            if rule is not None:
                self.report.append(ReportRow(**base, outcome="skipped", reason=rule.reason))
                continue
            if row.invalid is not None:
                self.report.append(ReportRow(**base, outcome="invalid", reason=row.invalid, warnings=row.problems))
                continue
            values, cleaned, warnings = clean_row(m.clean, row.values, table.aliases)
            warnings = list(row.problems) + warnings
            extra = {"cleaned": tuple(cleaned)}
            if key in seen:
                self._add(base, extra, warnings, "invalid", f"{m.key_column} {key!r} already on line {seen[key]} of this file")
                continue
            seen[key] = row.line
            context = {**values, "$snapshot": snapshot.label, "$as_of": as_of_iso(snapshot.as_of)}
            problems: list[str] = []
            progress = evaluate("progress", m.progress, context, problems)
            if not problems:
                progress = as_int("progress", progress, problems)
            if problems or progress is None:
                self._add(base, {**extra, "malformed": True}, warnings, "skipped", f"malformed progress ({'; '.join(problems)})")
                continue
            if key in self.invalid_items:
                self._add(base, extra, warnings, "skipped", f"its commitment is invalid ({self.invalid_items[key]})")
                continue
            ref = RowRef(row.file, row.line, key)
            new_ops: list[Operation] = []
            item = self.items.get(key)
            if item is None:
                commitment, problems = build_commitment(m.commitment, context, ref, source=m.source)
                if commitment is None:
                    self.invalid_items[key] = f"{row.file}:{row.line}"
                    self._add(base, extra, warnings, "invalid", "; ".join(problems))
                    continue
                item = _Item(commitment, snapshot.label)
                new_ops.append(commitment)
            else:
                warnings += self._drift(item, context, ref)
            change_ops, counted, problems = self._change(item, snapshot, ref, values, context, progress)
            if problems:
                if not new_ops:
                    self._add(base, extra, warnings, "invalid", "; ".join(problems))
                    continue
                # The commitment itself is fine: register it, report the progress problem.
                self.items[key] = item
                self._add(base, extra, warnings, "invalid", "; ".join(problems), new_ops)
                continue
            self.items[key] = item
            item.counted = counted
            item.used_refs |= {op.external_ref for op in change_ops if isinstance(op, RecordDelivery)}
            item.assets |= {op.external_ref: op.asset_ref for op in change_ops if isinstance(op, RecordDelivery) and op.asset_ref}
            ops = new_ops + change_ops
            self._add(base, extra, warnings, "planned" if ops else "unchanged", None, ops)

    def _add(self, base: dict[str, Any], extra: dict[str, Any], warnings: list[str], outcome: str,
             reason: str | None, ops: list[Operation] | None = None) -> None:
        start = len(self.operations)
        self.operations.extend(ops or [])
        self.report.append(
            ReportRow(**base, **extra, outcome=outcome, reason=reason, warnings=tuple(warnings),
                      operations=tuple(range(start, len(self.operations))))
        )

    def _change(
        self, item: _Item, snapshot: Snapshot, ref: RowRef, values: dict[str, str],
        context: dict[str, Any], progress: int,
    ) -> tuple[list[Operation], list[tuple[str, int]], list[str]]:
        """Operations for one progress value; returns (ops, new counted list, problems)."""
        previous = item.progress
        counted = list(item.counted)
        ops: list[Operation] = []
        problems: list[str] = []
        if progress < previous:
            change = {**context, "$from": previous, "$to": progress}
            reason = str(evaluate("revocation_reason", self.mapping.revocation_reason, change, problems) or "")
            if (problem := limits.check_text("revocation_reason", reason, limits.REASON_MAX_BYTES, required=True)):
                problems.append(problem)
            while counted and sum(q for _r, q in counted) > progress:
                delivery_ref, quantity = counted.pop()
                ops.append(RevokeDelivery(ref, item.commitment.external_ref, delivery_ref, quantity, reason))
        counted_sum = sum(q for _r, q in counted)
        if progress > counted_sum:
            delivery = self._delivery(item, snapshot, ref, values, context, previous, counted, progress, problems)
            if delivery is not None:
                ops.append(delivery)
                counted.append((delivery.external_ref, delivery.quantity))
        return ops, counted, problems

    def _delivery(
        self, item: _Item, snapshot: Snapshot, ref: RowRef, values: dict[str, str], context: dict[str, Any],
        previous: int, counted: list[tuple[str, int]], progress: int, problems: list[str],
    ) -> RecordDelivery | None:
        spec = self.mapping.delivery
        counted_sum = sum(q for _r, q in counted)
        quantity = progress - counted_sum
        change = {**context, "$from": counted_sum, "$to": progress}
        external_ref = limits.normalise_external_ref(
            str(evaluate("delivery.external_ref", spec.external_ref, change, problems) or ""))
        note = str(evaluate("delivery.note", spec.note, change, problems) or "")
        evidence_uri = str(evaluate("delivery.evidence_uri", spec.evidence_uri, change, problems) or "")
        asset_ref = normalise_asset_ref(str(evaluate("delivery.asset_ref", spec.asset_ref, change, problems) or ""))
        for name, value, max_bytes, required in (
            ("delivery.external_ref", external_ref, limits.EXTERNAL_REF_MAX_BYTES, True),
            ("delivery.note", note, limits.NOTE_MAX_BYTES, False),
            ("delivery.evidence_uri", evidence_uri, limits.URI_MAX_BYTES, False),
            ("delivery.asset_ref", asset_ref, limits.ASSET_REF_MAX_BYTES, False),
        ):
            if (problem := limits.check_text(name, value, max_bytes, required=required)):
                problems.append(problem)
        if (problem := limits.check_quantity("delivery quantity", quantity)):
            problems.append(problem)
        if external_ref in item.used_refs:
            problems.append(f"delivery.external_ref {external_ref!r} is already used by this item")
        if asset_ref and asset_ref in {item.assets.get(r) for r, _q in counted}:
            problems.append(f"delivery.asset_ref {asset_ref!r} is already delivered by a counted delivery of this item "
                            "(an asset counts once per commitment)")
        if problems:
            return None
        content = evidence_document(
            self.mapping, snapshot, ref.key, values, previous, progress, quantity, item.commitment.unit
        )
        filename = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{self.mapping.municipality.code}-{item.commitment.external_ref}-{external_ref}") + ".json"
        return RecordDelivery(
            row=ref,
            commitment_ref=item.commitment.external_ref,
            external_ref=external_ref,
            quantity=quantity,
            delivered_at=snapshot.as_of_seconds,
            note=note,
            evidence_uri=evidence_uri,
            evidence_files=(EvidenceFile(filename, EVIDENCE_MEDIA_TYPE, content),),
            asset_ref=asset_ref,
            batch=snapshot.label if self.mapping.deliveries.mode == "batch" else None,
        )

    def _drift(self, item: _Item, context: dict[str, Any], ref: RowRef) -> list[str]:
        """Warnings for commitment fields that read differently in a later snapshot."""
        later, _problems = build_commitment(self.mapping.commitment, context, ref, source=self.mapping.source)
        if later is None:
            return []
        first = item.commitment
        return [
            f"{name} differs from the {item.snapshot_label} snapshot ({first.row.file}:{first.row.line}); "
            f"the commitment keeps the first text (no amendment planned)"
            for name in _COMPARED_FIELDS
            if getattr(later, name) != getattr(first, name)
        ]
