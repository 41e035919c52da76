"""What a plan is made of: operations in execution order and a row-by-row report.

Operations name commitments and deliveries by their external refs (never by ledger ids), so
the same plan can be matched against any ledger state by the applier.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from .mapping import CommitmentsMapping, ProgressSnapshotsMapping


@dataclass(frozen=True)
class RowRef:
    """Where an operation comes from: CSV file (relative to the data dir), line, row key."""

    file: str
    line: int
    key: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line} [{self.key}]"


@dataclass(frozen=True)
class RegisterCommitment:
    """Register one commitment (``POST /api/v1/staff/commitments``).

    ``target_quantity`` in ``unit``; ``promised_at`` (when the promise was made, claimed by the
    source) and ``due_date`` Unix seconds, ``promised_at < due_date``;
    ``source_document_sha256`` is ``0x`` + 64 lowercase hex or None.
    """

    row: RowRef
    external_ref: str
    title: str
    description: str
    theme: str
    target_quantity: int
    unit: str
    promised_at: int
    due_date: int
    source_uri: str
    source_document_sha256: str | None = None

    def payload(self) -> dict[str, object]:
        """The JSON body of ``POST /staff/commitments``, also one item of
        ``POST /staff/commitments/batch`` (quantity as a decimal string, dates Unix seconds)."""
        return {
            "external_ref": self.external_ref,
            "title": self.title,
            "description": self.description,
            "theme": self.theme,
            "target_quantity": str(self.target_quantity),
            "unit": self.unit,
            "promised_at": self.promised_at,
            "due_date": self.due_date,
            "source_document_sha256": self.source_document_sha256,
            "source_uri": self.source_uri,
        }

    def describe(self) -> str:
        """One line for humans."""
        return f"register commitment {self.external_ref!r} (target {self.target_quantity} {self.unit})"


@dataclass(frozen=True)
class EvidenceFile:
    """An evidence file to upload with a delivery; the server stores it by content hash."""

    filename: str
    media_type: str
    content: bytes

    @property
    def sha256(self) -> str:
        """SHA-256 of ``content``: ``0x`` + 64 lowercase hex."""
        return "0x" + hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class RecordDelivery:
    """Record one delivery against the commitment ``commitment_ref``
    (``POST /api/v1/staff/commitments/{id}/deliveries``, or one item of
    ``POST /api/v1/staff/deliveries/batch``), or, when ``batch`` names a batch, one leaf of
    that anchored batch (``POST /api/v1/staff/batches``).

    ``quantity`` in the commitment's unit; ``delivered_at`` Unix seconds (claimed: when it
    happened, not when it is recorded). ``evidence_files`` are uploaded with the delivery, by
    a single call or with its batch (each item cites them by hash, `evidence_hashes`).
    ``asset_ref`` is already normalised (``ledger.merkle.normalise_asset_ref``), ``""`` for
    none. ``batch``: the label of the anchored batch this delivery is a leaf of (the
    snapshot's label), None when it is recorded on its own.
    """

    row: RowRef
    commitment_ref: str
    external_ref: str
    quantity: int
    delivered_at: int
    note: str
    evidence_uri: str
    evidence_files: tuple[EvidenceFile, ...] = ()
    evidence_sha256: tuple[str, ...] = ()
    asset_ref: str = ""
    batch: str | None = None

    @property
    def evidence_hashes(self) -> tuple[str, ...]:
        """Every evidence hash in the order the chain records them: the files' SHA-256 (upload
        order), then ``evidence_sha256``; each ``0x`` + 64 lowercase hex."""
        return tuple(f.sha256 for f in self.evidence_files) + tuple(h.lower() for h in self.evidence_sha256)

    def batch_item(self, commitment_id: int) -> dict[str, object]:
        """One item of ``POST /staff/deliveries/batch`` (quantity as a decimal string;
        ``asset_ref`` only when there is one)."""
        item: dict[str, object] = {
            "commitment_id": commitment_id,
            "quantity": str(self.quantity),
            "delivered_at": self.delivered_at,
            "evidence_sha256": list(self.evidence_hashes),
            "evidence_uri": self.evidence_uri,
            "note": self.note,
            "external_ref": self.external_ref,
        }
        if self.asset_ref:
            item["asset_ref"] = self.asset_ref
        return item

    def leaf_item(self, commitment_id: int) -> dict[str, object]:
        """One item of ``deliveries`` of ``POST /staff/batches``: the leaf's fields
        (docs/LEDGER.md "Batches"; quantity as a decimal string, ``delivered_at`` Unix
        seconds as the single-delivery endpoint takes it)."""
        return {
            "commitment_id": commitment_id,
            "quantity": str(self.quantity),
            "delivered_at": self.delivered_at,
            "evidence_hashes": list(self.evidence_hashes),
            "evidence_uri": self.evidence_uri,
            "note": self.note,
            "external_ref": self.external_ref,
            "asset_ref": self.asset_ref,
        }

    def describe(self) -> str:
        """One line for humans."""
        return f"record delivery {self.external_ref!r} of {self.quantity} on commitment {self.commitment_ref!r}"


@dataclass(frozen=True)
class RevokeDelivery:
    """Revoke the delivery ``delivery_ref`` of commitment ``commitment_ref``
    (``POST /api/v1/staff/deliveries/{id}/revocation``)."""

    row: RowRef
    commitment_ref: str
    delivery_ref: str
    quantity: int
    reason: str

    def describe(self) -> str:
        """One line for humans."""
        return f"revoke delivery {self.delivery_ref!r} ({self.quantity}) of commitment {self.commitment_ref!r}"


Operation = Union[RegisterCommitment, RecordDelivery, RevokeDelivery]


@dataclass(frozen=True)
class PlannedBatch:
    """The deliveries planned as the leaves of one anchored batch (``deliveries: {mode:
    batch}``): one per snapshot, named by its label.

    Attributes:
        label: the snapshot's label (``"2022"``).
        operations: indexes into `Plan.operations` of its `RecordDelivery` leaves, in plan
            order (the order of the batch file's ``values``).
    """

    label: str
    operations: tuple[int, ...]

    @property
    def leaf_count(self) -> int:
        """Number of leaves planned (before any is found on the ledger already)."""
        return len(self.operations)

Outcome = Literal["planned", "unchanged", "skipped", "invalid"]


class Cleaned(BaseModel):
    """One cleaning step that changed a value: which column, why, and what was removed."""

    model_config = ConfigDict(frozen=True)

    column: str
    reason: str
    removed: str


class ReportRow(BaseModel):
    """The fate of one CSV record.

    ``outcome``: ``planned`` (operations listed by index into `Plan.operations`),
    ``unchanged`` (a snapshot row whose progress did not change), ``skipped`` (a skip rule, a
    malformed value, or a snapshot row whose every observation has no data; ``reason`` says
    which), ``invalid`` (the row would be rejected by the ledger or contradicts another row;
    ``reason`` says why; counts as a failure).

    ``malformed``: the row was skipped because a value did not parse as the mapping says.
    Invalid and malformed rows are what the exit code's malformed share counts
    (`scripts.importer.report.verdict`); a row a skip rule skips is neither, nor is a row
    skipped for having no data.
    ``merged_lines``: the continuation rows of the file merged into this one (``group:``),
    which have no report row of their own.
    ``no_data``: the snapshot observations of this row that had no data (carried forward),
    each ``'<field>: no data ("<value>")'``, whatever the outcome.
    """

    model_config = ConfigDict(frozen=True)

    file: str
    line: int
    key: str
    outcome: Outcome
    reason: str | None = None
    cleaned: tuple[Cleaned, ...] = ()
    warnings: tuple[str, ...] = ()
    operations: tuple[int, ...] = Field(default=(), description="indexes into Plan.operations")
    malformed: bool = False
    merged_lines: tuple[int, ...] = Field(default=(), description="continuation lines merged into this row (group)")
    no_data: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """Everything one mapping asks for, computed from the files alone (no ledger access).

    Attributes:
        mapping: the validated mapping.
        operations: in execution order (registrations before the deliveries that need them,
            deliveries before the revocations that name them).
        report: one row per CSV record, in file order (snapshot files in time order).
    """

    mapping: CommitmentsMapping | ProgressSnapshotsMapping
    operations: tuple[Operation, ...]
    report: tuple[ReportRow, ...]

    @property
    def commitments(self) -> tuple[RegisterCommitment, ...]:
        """Planned registrations."""
        return tuple(op for op in self.operations if isinstance(op, RegisterCommitment))

    @property
    def deliveries(self) -> tuple[RecordDelivery, ...]:
        """Planned deliveries."""
        return tuple(op for op in self.operations if isinstance(op, RecordDelivery))

    @property
    def revocations(self) -> tuple[RevokeDelivery, ...]:
        """Planned revocations."""
        return tuple(op for op in self.operations if isinstance(op, RevokeDelivery))

    @property
    def batches(self) -> tuple[PlannedBatch, ...]:
        """The planned anchored batches, in the order of their first leaf (empty unless the
        mapping says ``deliveries: {mode: batch}``)."""
        groups: dict[str, list[int]] = {}
        for index, op in enumerate(self.operations):
            if isinstance(op, RecordDelivery) and op.batch is not None:
                groups.setdefault(op.batch, []).append(index)
        return tuple(PlannedBatch(label, tuple(indexes)) for label, indexes in groups.items())

    @property
    def credit(self) -> str:
        """The source credit line to show with the data."""
        return self.mapping.source.credit

    def rows(self, outcome: Outcome) -> tuple[ReportRow, ...]:
        """Report rows with this outcome."""
        return tuple(r for r in self.report if r.outcome == outcome)

    @property
    def cleaned_rows(self) -> tuple[ReportRow, ...]:
        """Report rows where a cleaning step changed a value (any outcome)."""
        return tuple(r for r in self.report if r.cleaned)

    def skipped_by_reason(self) -> dict[str, int]:
        """Skipped rows counted by reason, most frequent first."""
        return dict(Counter(r.reason or "" for r in self.report if r.outcome == "skipped").most_common())

    def not_readable(self) -> tuple[ReportRow, ...]:
        """Rows the mapping could not turn into what it says: ``invalid`` or ``malformed``."""
        return tuple(r for r in self.report if r.outcome == "invalid" or r.malformed)

    def counts(self) -> dict[str, int]:
        """Operation and row counts: ``commitments``, ``deliveries``, ``revocations``,
        ``rows``, ``planned``, ``unchanged``, ``skipped``, ``invalid``, ``malformed``
        (skipped for a value that did not parse), ``cleaned``."""
        return {
            "commitments": len(self.commitments),
            "deliveries": len(self.deliveries),
            "revocations": len(self.revocations),
            "rows": len(self.report),
            **{o: len(self.rows(o)) for o in ("planned", "unchanged", "skipped", "invalid")},
            "malformed": sum(1 for r in self.report if r.malformed),
            "cleaned": len(self.cleaned_rows),
        }
