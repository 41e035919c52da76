"""Replay of progress snapshots (``kind: progress_snapshots``) into ledger operations.

Observations. Each row of a snapshot file is one observation of its item: its progress value
at the snapshot's ``as_of`` (a constant, or read per row), or, with ``assessments``, one
observation per assessment (its own progress and ``as_of``), e.g. a mid-term and an
end-of-term rating read from the same row.

Rule (deterministic, computed from the files alone). Walk all observations in ``as_of``
order (ties: the mapping's order, snapshot then assessment, then reading order) and keep, per
item, the list of counted (non-revoked) deliveries; their sum is the progress the ledger shows.
An item's first observation registers its commitment from that row (progress 0 before it).
For each observation's value q, with p the counted sum:

* q > p: record one delivery of q − p, dated the observation's ``as_of``, with an evidence JSON
  document built from the row (see `evidence_document`).
* q < p: a correction. Revoke counted deliveries newest first until the counted sum ≤ q; if the
  sum is then < q, record a delivery of the remainder (as above).
* q = p: nothing.
* q is no data (a ``lookup``'s ``no_data`` word, `NoData`): the observation says nothing
  about the item; nothing is recorded or revoked and p carries forward. A row whose every
  observation has no data is reported ``skipped`` with the reason ``'progress: no data
  ("ND")'`` (unless it registers its commitment: then ``planned``); the report row lists its
  no-data observations in ``no_data`` either way.

Two observations of one item at the same moment: the later one (in the tie order above)
counts; an earlier one with a different value changes nothing and warns on its row.

A row whose progress cannot be parsed is reported ``skipped`` and changes nothing; a row whose
``as_of`` cannot be read is ``invalid`` and changes nothing. An observation dated before its
commitment's ``promised_at`` makes its row ``invalid`` (the other observations of the row
still count).

With ``deliveries: {mode: batch}`` each delivery names its snapshot's label as its batch
(``<snapshot>/<assessment>`` for an assessment, `ObservationSpec.batch_label`;
`RecordDelivery.batch`): the deliveries of one snapshot become the leaves of one anchored
batch (`Plan.batches`). A delivery whose (normalised) asset ref is already named by a counted
delivery of the same item makes its row ``invalid`` (an asset counts once per commitment).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from . import limits, text
from .csvsource import CsvTable
from .lookups import NoData
from .mapping import ObservationSpec, ProgressSnapshotsMapping, Snapshot, as_of_iso
from .plan import (
    Cleaned,
    EvidenceFile,
    Operation,
    Outcome,
    Plan,
    RecordDelivery,
    RegisterCommitment,
    ReportRow,
    RevokeDelivery,
    RowRef,
)
from .batches import normalise_asset_ref
from .steps import FieldSpec
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
    *,
    as_of: str | None = None,
    assessment: str | None = None,
) -> bytes:
    """The evidence file of a snapshot delivery: a JSON object, UTF-8, sorted keys, compact
    separators (so equal inputs give equal bytes and the same SHA-256).

    Keys: the mapping's ``key_column`` (item key), every ``delivery.evidence_columns`` column
    (cleaned value), ``progress`` and ``previous_progress`` (in ``unit``), ``quantity`` (this
    delivery), ``unit``, ``snapshot`` (label), ``assessment`` (its label, only for an
    assessment), ``as_of`` (RFC 3339: ``as_of`` when given, else the snapshot's constant) and
    ``credit``.
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
            "as_of": as_of if as_of is not None else as_of_iso(snapshot.as_of),  # type: ignore[arg-type]
            "credit": mapping.source.credit,
        }
    )
    if assessment is not None:
        doc["assessment"] = assessment
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def plan_snapshots(mapping: ProgressSnapshotsMapping, data_dir: Path) -> Plan:
    """Plan a ``kind: progress_snapshots`` mapping by replaying its observations (module
    docstring).

    Raises:
        SourceDataError: if a file is missing or lacks a column the mapping uses.
    """
    tables = read_sources(mapping, data_dir)
    replay = _Replay(mapping)
    for snapshot, table in zip(mapping.snapshots, tables):
        replay.read(snapshot, table)
    replay.replay()
    return Plan(mapping=mapping, operations=tuple(replay.operations), report=tuple(replay.report_rows()))


@dataclass
class _Row:
    """One CSV record of a snapshot file and what became of it (its report row)."""

    base: dict[str, Any]
    ref: RowRef
    values: dict[str, str] = field(default_factory=dict)
    cleaned: tuple[Cleaned, ...] = ()
    warnings: list[str] = field(default_factory=list)
    outcome: Outcome | None = None  # decided before the replay (skip rule, repeated key, unreadable value)
    reason: str | None = None
    operations: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    no_data: list[str] = field(default_factory=list)
    by_rule: bool = False  # skipped by a skip rule: reported without its values
    malformed: bool = False  # skipped because a progress value did not parse (ReportRow.malformed)
    observations: int = 0
    commitment_invalid: str | None = None  # where the item's invalid commitment was read
    registered: bool = False
    drift_checked: bool = False


@dataclass(frozen=True)
class _Observation:
    """One progress value of one item at one moment, read from a row.

    ``as_of`` Unix seconds, ``as_of_text`` its RFC 3339 text; ``progress`` in the
    commitment's unit, or `NoData`; ``seq`` the row's place in reading order."""

    row: _Row
    spec: ObservationSpec
    as_of: int
    as_of_text: str
    progress: int | NoData
    seq: int

    @property
    def sort_key(self) -> tuple[int, tuple[int, int], int]:
        """Time, then the mapping's order (snapshot, assessment), then reading order."""
        return self.as_of, self.spec.order, self.seq

    def context(self) -> dict[str, Any]:
        """The row's values and the ``$`` context of this observation."""
        return _context(self.row.values, self.spec, self.as_of_text)

    def where(self, problem: str) -> str:
        """``problem`` prefixed with the assessment it concerns (``assessments.mid_term: ...``)."""
        return problem if self.spec.assessment is None else f"assessments.{self.spec.assessment}: {problem}"


class _Replay:
    def __init__(self, mapping: ProgressSnapshotsMapping) -> None:
        self.mapping = mapping
        self.zone = ZoneInfo(mapping.municipality.time_zone)
        self.rows: list[_Row] = []
        self.observations: list[_Observation] = []
        self.items: dict[str, _Item] = {}
        self.invalid_items: dict[str, str] = {}
        self.operations: list[Operation] = []

    # -------------------------------------------------------------- reading (file order)

    def read(self, snapshot: Snapshot, table: CsvTable) -> None:
        """Read one snapshot file: skip rules, cleaning, repeated keys, and each row's
        observations (a row with an unreadable progress or as_of gives none)."""
        m = self.mapping
        specs = m.snapshot_observations(snapshot)
        seen: dict[str, int] = {}
        for csv_row in table.rows:
            if not m.owns(csv_row.values):
                continue  # another issuer's row (an issuers mapping is planned per issuer)
            key = csv_row.values[m.key_column]
            row = _Row({"file": csv_row.file, "line": csv_row.line, "key": key, "merged_lines": csv_row.merged_lines},
                       RowRef(csv_row.file, csv_row.line, key))
            self.rows.append(row)
            rule = first_skip(m.skip, csv_row.values)
            if rule is not None:
                row.outcome, row.reason, row.by_rule = "skipped", rule.reason, True
                continue
            if csv_row.invalid is not None:
                row.outcome, row.reason, row.warnings = "invalid", csv_row.invalid, list(csv_row.problems)
                continue
            values, cleaned, warnings = clean_row(m.clean, csv_row.values, table.aliases)
            row.values, row.cleaned, row.warnings = values, tuple(cleaned), list(csv_row.problems) + warnings
            if key in seen:
                row.outcome, row.reason = "invalid", f"{m.key_column} {key!r} already on line {seen[key]} of this file"
                continue
            seen[key] = csv_row.line
            read: list[_Observation] = []
            as_of_problems: list[str] = []
            progress_problems: list[str] = []
            for spec in specs:
                moment = self._as_of(spec, row, as_of_problems)
                if moment is None:
                    continue
                seconds, as_of_text = moment
                progress = evaluate(spec.name, spec.progress, _context(values, spec, as_of_text), progress_problems)
                if not isinstance(progress, NoData) and progress is not None:
                    progress = as_int(spec.name, progress, progress_problems)
                if progress is not None:
                    read.append(_Observation(row, spec, seconds, as_of_text, progress, len(self.rows)))
            if as_of_problems:  # (assessments sharing the snapshot's as_of share its problem)
                row.outcome, row.reason = "invalid", "; ".join(dict.fromkeys(as_of_problems + progress_problems))
            elif progress_problems:
                row.outcome, row.reason, row.malformed = "skipped", f"malformed progress ({'; '.join(progress_problems)})", True
            else:
                row.observations = len(read)
                self.observations.extend(read)

    def _as_of(self, spec: ObservationSpec, row: _Row, problems: list[str]) -> tuple[int, str] | None:
        """``(Unix seconds, RFC 3339 text)`` of an observation's as_of for one row (a per-row
        moment is written in the municipality's time zone), or None and a problem."""
        if isinstance(spec.as_of, datetime):
            return int(spec.as_of.timestamp()), as_of_iso(spec.as_of)
        value = evaluate(spec.as_of_name, spec.as_of, _context(row.values, spec, None), problems)
        if isinstance(value, NoData):
            problems.append(value.describe(spec.as_of_name))
            return None
        if value is None:
            return None
        if isinstance(value, str) and value.strip().isdigit():
            problems.append(f"{spec.as_of_name}: {value!r} is not a timestamp with offset; read it with a date "
                            "transform (e.g. {date: {formats: ['%Y'], period: end}})")
            return None
        try:
            seconds = text.to_unix_seconds(value)
        except ValueError as exc:
            problems.append(f"{spec.as_of_name}: {exc}")
            return None
        return seconds, as_of_iso(datetime.fromtimestamp(seconds, self.zone))

    # -------------------------------------------------------------- replay (time order)

    def replay(self) -> None:
        """Replay every observation in time order (module docstring)."""
        ordered = sorted(self.observations, key=lambda o: o.sort_key)
        winners: dict[tuple[str, int], _Observation] = {}  # (item, moment) → its last observation with data
        for o in ordered:
            if not isinstance(o.progress, NoData):
                winners[(o.row.ref.key, o.as_of)] = o
        for o in ordered:
            self._observe(o, winners[(o.row.ref.key, o.as_of)] if not isinstance(o.progress, NoData) else o)

    def _observe(self, o: _Observation, winner: _Observation) -> None:
        m, row, key = self.mapping, o.row, o.row.ref.key
        if key in self.invalid_items:
            row.commitment_invalid = self.invalid_items[key]
            return
        context = o.context()
        item = self.items.get(key)
        if item is None:
            commitment, problems = build_commitment(m.commitment, context, row.ref, source=m.source)
            if commitment is None:
                self.invalid_items[key] = f"{row.ref.file}:{row.ref.line}"
                row.problems += problems
                return
            item = self.items[key] = _Item(commitment, o.spec.snapshot.label)
            self._emit(row, [commitment])
            row.registered = True
        elif not row.registered and not row.drift_checked:
            row.warnings += self._drift(item, context, row.ref)
        row.drift_checked = True
        if isinstance(o.progress, NoData):
            row.no_data.append(o.progress.describe(o.spec.name))  # says nothing, whenever it was
            return
        if o.as_of < item.commitment.promised_at:
            promised = as_of_iso(datetime.fromtimestamp(item.commitment.promised_at, self.zone))
            row.problems.append(
                f"{o.spec.as_of_name} {o.as_of_text} is before the commitment's promised_at {promised}: "
                "progress cannot be measured before the promise was made"
            )
            return
        if winner is not o:
            if winner.progress != o.progress:
                row.warnings.append(
                    f"{o.spec.name} {o.progress} is overruled by {winner.spec.name} {winner.progress} of the same moment "
                    f"{o.as_of_text} ({winner.row.ref.file}:{winner.row.ref.line}): the later observation counts"
                )
            return
        change_ops, counted, problems = self._change(item, o, context, o.progress)
        if problems:
            row.problems += [o.where(p) for p in problems]
            return
        item.counted = counted
        item.used_refs |= {op.external_ref for op in change_ops if isinstance(op, RecordDelivery)}
        item.assets |= {op.external_ref: op.asset_ref for op in change_ops if isinstance(op, RecordDelivery) and op.asset_ref}
        self._emit(row, change_ops)

    def _emit(self, row: _Row, ops: list[Operation]) -> None:
        start = len(self.operations)
        self.operations.extend(ops)
        row.operations.extend(range(start, len(self.operations)))

    # -------------------------------------------------------------- the report (file order)

    def report_rows(self) -> list[ReportRow]:
        """One report row per CSV record, in reading order."""
        return [self._report_row(row) for row in self.rows]

    @staticmethod
    def _report_row(row: _Row) -> ReportRow:
        if row.by_rule:
            return ReportRow(**row.base, outcome="skipped", reason=row.reason)
        extra: dict[str, Any] = {"cleaned": row.cleaned, "warnings": tuple(row.warnings), "malformed": row.malformed,
                                 "operations": tuple(row.operations), "no_data": tuple(row.no_data)}
        if row.outcome is not None:
            return ReportRow(**row.base, **extra, outcome=row.outcome, reason=row.reason)
        if row.problems:
            return ReportRow(**row.base, **extra, outcome="invalid", reason="; ".join(row.problems))
        if row.operations:
            return ReportRow(**row.base, **extra, outcome="planned")
        if row.commitment_invalid is not None:
            return ReportRow(**row.base, **extra, outcome="skipped", reason=f"its commitment is invalid ({row.commitment_invalid})")
        if row.no_data and len(row.no_data) == row.observations:
            return ReportRow(**row.base, **extra, outcome="skipped", reason="; ".join(row.no_data))
        return ReportRow(**row.base, **extra, outcome="unchanged")

    def _change(
        self, item: _Item, o: _Observation, context: dict[str, Any], progress: int,
    ) -> tuple[list[Operation], list[tuple[str, int]], list[str]]:
        """Operations for one progress value; returns (ops, new counted list, problems)."""
        ref = o.row.ref
        previous = item.progress
        counted = list(item.counted)
        ops: list[Operation] = []
        problems: list[str] = []
        if progress < previous:
            change = {**context, "$from": previous, "$to": progress}
            reason = _text("revocation_reason", self.mapping.revocation_reason, change, problems)
            if (problem := limits.check_text("revocation_reason", reason, limits.REASON_MAX_BYTES, required=True)):
                problems.append(problem)
            while counted and sum(q for _r, q in counted) > progress:
                delivery_ref, quantity = counted.pop()
                ops.append(RevokeDelivery(ref, item.commitment.external_ref, delivery_ref, quantity, reason))
        counted_sum = sum(q for _r, q in counted)
        if progress > counted_sum:
            delivery = self._delivery(item, o, context, previous, counted, progress, problems)
            if delivery is not None:
                ops.append(delivery)
                counted.append((delivery.external_ref, delivery.quantity))
        return ops, counted, problems

    def _delivery(
        self, item: _Item, o: _Observation, context: dict[str, Any],
        previous: int, counted: list[tuple[str, int]], progress: int, problems: list[str],
    ) -> RecordDelivery | None:
        ref = o.row.ref
        spec = self.mapping.delivery
        counted_sum = sum(q for _r, q in counted)
        quantity = progress - counted_sum
        change = {**context, "$from": counted_sum, "$to": progress}
        external_ref = limits.normalise_external_ref(_text("delivery.external_ref", spec.external_ref, change, problems))
        note = _text("delivery.note", spec.note, change, problems)
        evidence_uri = _text("delivery.evidence_uri", spec.evidence_uri, change, problems)
        asset_ref = normalise_asset_ref(_text("delivery.asset_ref", spec.asset_ref, change, problems))
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
            self.mapping, o.spec.snapshot, ref.key, o.row.values, previous, progress, quantity, item.commitment.unit,
            as_of=o.as_of_text, assessment=o.spec.assessment,
        )
        filename = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{self.mapping.municipality.code}-{item.commitment.external_ref}-{external_ref}") + ".json"
        return RecordDelivery(
            row=ref,
            commitment_ref=item.commitment.external_ref,
            external_ref=external_ref,
            quantity=quantity,
            delivered_at=o.as_of,
            note=note,
            evidence_uri=evidence_uri,
            evidence_files=(EvidenceFile(filename, EVIDENCE_MEDIA_TYPE, content),),
            asset_ref=asset_ref,
            batch=o.spec.batch_label if self.mapping.deliveries.mode == "batch" else None,
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


def _context(values: dict[str, str], spec: ObservationSpec, as_of_text: str | None) -> dict[str, Any]:
    """A row's values with the ``$`` context of one of its observations: ``$snapshot``,
    ``$assessment`` (with assessments), ``$as_of`` (RFC 3339; not while reading the as_of)."""
    context: dict[str, Any] = {**values, "$snapshot": spec.snapshot.label}
    if as_of_text is not None:
        context["$as_of"] = as_of_text
    if spec.assessment is not None:
        context["$assessment"] = spec.assessment
    return context


def _text(name: str, spec: FieldSpec, values: dict[str, Any], problems: list[str]) -> str:
    """A text field of a delivery or revocation (``""`` when it cannot be evaluated; a
    `NoData` value is a problem)."""
    value = evaluate(name, spec, values, problems)
    if isinstance(value, NoData):
        problems.append(value.describe(name))
        return ""
    return str(value or "")
