"""Mapping files: one YAML file per source says how its CSV rows become ledger operations.

Two kinds (the ``kind`` key):

``commitments``
    One CSV file, one row → one commitment.
``progress_snapshots``
    Several CSV files of the same items in time order; each item becomes one commitment (from
    the first snapshot it appears in) and the changes of its progress column between snapshots
    become deliveries and revocations (see `scripts.importer.snapshots`).

Values are described by `FieldSpec`: exactly one of ``column`` (a CSV column, after the
``clean`` steps of that column), ``const`` or ``template`` (``str.format`` syntax where each
field is a whole column name, e.g. ``"Boletín {boletin}"``, or a context name starting with
``$``), followed by optional ``transforms``. ``clean`` steps change column values and are
reported row by row; ``transforms`` only shape one field and are not reported.

See scripts/mappings/*.yaml for complete examples.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AwareDatetime, Field, TypeAdapter, ValidationError, field_validator, model_validator

from . import text
from .dates import DEFAULT_TIME_ZONE
from .errors import MappingError
from .limits import MAX_DATE, MUNICIPALITY_CODE_MAX_BYTES, utf8_len
from .steps import TIME_ZONE_CONTEXT, CleanStep, FieldSpec, SkipRule, Strict, const_spec, op_shorthand

# Context names a template may use, by where the template is evaluated.
SNAPSHOT_CONTEXT = frozenset({"$snapshot", "$as_of"})
CHANGE_CONTEXT = frozenset({"$snapshot", "$as_of", "$from", "$to"})
# Keys of the evidence JSON document written by the snapshot replay besides the copied columns.
EVIDENCE_RESERVED_KEYS = frozenset(
    {"progress", "previous_progress", "quantity", "unit", "snapshot", "as_of", "credit"}
)


# ------------------------------------------------------------------ common blocks


class SourceCredit(Strict):
    """Whom to credit for the data; shown by the CLI and copied into every report."""

    name: str = Field(min_length=1)
    publisher: str = Field(min_length=1)
    url: str = Field(min_length=1)
    licence: str = Field(min_length=1, description="licence, or a note that none is stated")
    language: str = Field(default="", max_length=35, description="BCP 47 tag of the source's texts, e.g. nl, es")

    @property
    def credit(self) -> str:
        """One credit line: ``"<name> — <publisher> — <url> — <licence>"``."""
        return f"{self.name} — {self.publisher} — {self.url} — {self.licence}"


class MunicipalityRef(Strict):
    """The issuer the rows belong to; the staff token must belong to it (matched on ``code``)."""

    name: str = Field(min_length=1)
    code: str = Field(min_length=1)
    time_zone: str = Field(default=DEFAULT_TIME_ZONE, description="IANA zone of the source's calendar dates")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("code")
    @classmethod
    def _code_fits(cls, value: str) -> str:
        if utf8_len(value) > MUNICIPALITY_CODE_MAX_BYTES:
            raise ValueError(f"code is longer than {MUNICIPALITY_CODE_MAX_BYTES} bytes")
        return value


class NotImported(Strict):
    """A source column deliberately left out, and why (reported in the report header)."""

    column: str
    reason: str = Field(min_length=1)


class CommitmentFields(Strict):
    """How a row becomes a commitment (API ``POST /staff/commitments``).

    ``target_quantity`` must evaluate to an integer; ``promised_at`` and ``due_date`` to Unix
    seconds or an ISO 8601 timestamp with offset. ``promised_at`` is required: the date the
    promise was made (e.g. the council adopted the agreement), claimed by the source and kept
    on chain beside the registration time (docs/LEDGER.md "Two clocks"); it must be before the
    due date (``promisedAt < dueDate < MAX_DATE``, the contract's rule). When both are
    constants the loader checks this; otherwise each row is checked by the planner.
    """

    external_ref: FieldSpec
    title: FieldSpec
    description: FieldSpec
    theme: FieldSpec = Field(default_factory=lambda: const_spec(""))
    target_quantity: FieldSpec
    unit: FieldSpec
    promised_at: FieldSpec | None = None
    due_date: FieldSpec
    source_uri: FieldSpec = Field(default_factory=lambda: const_spec(""))
    source_document_sha256: FieldSpec | None = None

    @model_validator(mode="after")
    def _constants_valid(self) -> CommitmentFields:
        if self.promised_at is None:
            raise ValueError(
                "promised_at is missing: state when the promise was made (e.g. the date the council "
                "adopted the agreement), as {const: \"2022-06-13T00:00:00+02:00\"} or a column, with its source in a comment"
            )
        promised = self.const_seconds("promised_at")
        due = self.const_seconds("due_date")
        if promised is not None and due is not None and not promised < due:
            raise ValueError(
                f"promised_at {self.promised_at.const} is not before due_date {self.due_date.const}: "
                "a promise is made before its deadline"
            )
        if due is not None and due >= MAX_DATE:
            raise ValueError(f"due_date {self.due_date.const} is not before the year 10000 (MAX_DATE {MAX_DATE})")
        if self.target_quantity.const is not None and not isinstance(self.target_quantity.const, int):
            raise ValueError("target_quantity const must be an integer")
        return self

    def const_seconds(self, name: str) -> int | None:
        """Unix seconds of the constant date field ``name`` (``promised_at`` or ``due_date``),
        or None when it is not a plain constant (a column, template, or transformed).

        Raises:
            ValueError: the constant is not a timestamp with offset.
        """
        spec: FieldSpec | None = getattr(self, name)
        if spec is None or spec.const is None or spec.transforms:
            return None
        return text.to_unix_seconds(spec.const)

    def specs(self) -> dict[str, FieldSpec]:
        """Field name → spec, for validation against CSV headers."""
        return {name: getattr(self, name) for name in type(self).model_fields if getattr(self, name) is not None}


def _check_rel_path(value: str) -> str:
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or not value.strip():
        raise ValueError(f"{value!r} must be a path relative to the data directory, without '..'")
    return value


class _MappingBase(Strict):
    source: SourceCredit
    municipality: MunicipalityRef
    notes: list[str] = Field(default_factory=list, description="documented choices, copied to the report")
    not_imported: list[NotImported] = Field(default_factory=list)
    key_column: str = Field(min_length=1, description="column that identifies a row in the report")
    skip: list[SkipRule] = Field(default_factory=list)
    clean: dict[str, list[CleanStep]] = Field(default_factory=dict)
    commitment: CommitmentFields

    @field_validator("clean", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, MappingABC):
            return {k: [op_shorthand(s) for s in v] if isinstance(v, list) else v for k, v in value.items()}
        return value

    def columns_used(self) -> set[str]:
        """Every CSV column the mapping reads (the CSV header must contain them all)."""
        cols = {self.key_column} | set(self.clean)
        cols |= {r.column for r in self.skip if r.column is not None}
        for spec in self.commitment.specs().values():
            cols |= spec.columns()
        return cols

    def _check_context(self, specs: dict[str, FieldSpec], allowed: frozenset[str], where: str) -> None:
        for name, spec in specs.items():
            unknown = spec.context_names() - allowed
            if unknown:
                raise ValueError(
                    f"{where}.{name}: unknown context name(s) {sorted(unknown)}; allowed here: {sorted(allowed) or 'none'}"
                )


class CommitmentsMapping(_MappingBase):
    """``kind: commitments``: one CSV file, one row → one commitment."""

    kind: Literal["commitments"]
    file: str

    _file = field_validator("file")(lambda cls, v: _check_rel_path(v))

    @model_validator(mode="after")
    def _context(self) -> CommitmentsMapping:
        self._check_context(self.commitment.specs(), frozenset(), "commitment")
        return self

    def files(self) -> list[str]:
        """CSV files read, relative to the data directory."""
        return [self.file]


class Snapshot(Strict):
    """One CSV file of a progress series and the moment it describes."""

    label: str = Field(min_length=1, max_length=32, description="e.g. the year; used in refs and reasons")
    file: str
    as_of: AwareDatetime

    _file = field_validator("file")(lambda cls, v: _check_rel_path(v))

    @property
    def as_of_seconds(self) -> int:
        """``as_of`` in Unix seconds."""
        return int(self.as_of.timestamp())


class DeliveryFields(Strict):
    """How a progress increase becomes a delivery. Templates may use ``$snapshot``,
    ``$as_of``, ``$from`` and ``$to`` (progress before and after, in the commitment's unit).

    ``evidence_columns`` are copied from the snapshot row into the evidence JSON document.
    ``asset_ref`` names the asset a delivery delivers (0..64 bytes after
    ``ledger.merkle.normalise_asset_ref``; empty: none): an asset counts once per commitment
    (docs/LEDGER.md "Assets"), so only a source with one asset per delivery may set it.
    """

    external_ref: FieldSpec
    note: FieldSpec = Field(default_factory=lambda: const_spec(""))
    evidence_uri: FieldSpec = Field(default_factory=lambda: const_spec(""))
    asset_ref: FieldSpec = Field(default_factory=lambda: const_spec(""))
    evidence_columns: list[str] = Field(min_length=1)

    @field_validator("evidence_columns")
    @classmethod
    def _not_reserved(cls, value: list[str]) -> list[str]:
        clash = sorted(set(value) & EVIDENCE_RESERVED_KEYS)
        if clash:
            raise ValueError(f"{clash} are keys the importer writes itself into the evidence document")
        return value

    def specs(self) -> dict[str, FieldSpec]:
        """Field name → spec."""
        return {"external_ref": self.external_ref, "note": self.note, "evidence_uri": self.evidence_uri,
                "asset_ref": self.asset_ref}


DeliveryMode = Literal["per_delivery", "batch"]
DELIVERY_MODES: tuple[DeliveryMode, ...] = ("per_delivery", "batch")


class DeliveriesWrite(Strict):
    """How the planned deliveries are written (the ``deliveries`` block).

    ``mode``:

    ``per_delivery`` (default)
        each delivery is its own ``recordDelivery`` (sent ``--batch-size`` per transaction
        through ``multicall``); the contract counts it at once.
    ``batch``
        the deliveries of one snapshot are one anchored batch (``POST /staff/batches``: one
        Merkle root, one transaction, however many leaves; docs/LEDGER.md "Batches"), cut into
        several only beyond the API's leaf limit. Readers count the leaves once they hold and
        checked the batch file; the contract's ``statusOf`` does not see them.
    """

    mode: DeliveryMode = "per_delivery"
    why: str | None = Field(default=None, description="the reason for the choice, copied to the report")


class ProgressSnapshotsMapping(_MappingBase):
    """``kind: progress_snapshots``: the same items in several CSV files, in time order."""

    kind: Literal["progress_snapshots"]
    snapshots: list[Snapshot] = Field(min_length=1)
    progress: FieldSpec = Field(description="must evaluate to a non-negative integer in the commitment's unit")
    delivery: DeliveryFields
    deliveries: DeliveriesWrite = Field(default_factory=DeliveriesWrite)
    revocation_reason: FieldSpec

    @model_validator(mode="after")
    def _snapshots_in_order(self) -> ProgressSnapshotsMapping:
        labels = [s.label for s in self.snapshots]
        if len(set(labels)) != len(labels):
            raise ValueError(f"snapshot labels must be unique, got {labels}")
        times = [s.as_of for s in self.snapshots]
        if any(b <= a for a, b in zip(times, times[1:])):
            raise ValueError("snapshots must be listed in strictly increasing as_of order")
        promised = self.commitment.const_seconds("promised_at")
        early = [s.label for s in self.snapshots if promised is not None and s.as_of_seconds < promised]
        if early:
            raise ValueError(
                f"snapshots {early} are dated before commitment.promised_at {self.commitment.promised_at.const}: "  # type: ignore[union-attr]
                "progress cannot be measured before the promise was made"
            )
        self._check_context(self.commitment.specs(), SNAPSHOT_CONTEXT, "commitment")
        self._check_context({"progress": self.progress}, SNAPSHOT_CONTEXT, "progress")
        self._check_context(self.delivery.specs(), CHANGE_CONTEXT, "delivery")
        self._check_context({"revocation_reason": self.revocation_reason}, CHANGE_CONTEXT, "revocation_reason")
        return self

    def columns_used(self) -> set[str]:
        cols = super().columns_used() | self.progress.columns() | self.revocation_reason.columns()
        for spec in self.delivery.specs().values():
            cols |= spec.columns()
        return cols | set(self.delivery.evidence_columns)

    def files(self) -> list[str]:
        """CSV files read, relative to the data directory, in time order."""
        return [s.file for s in self.snapshots]


Mapping = Annotated[Union[CommitmentsMapping, ProgressSnapshotsMapping], Field(discriminator="kind")]
_MAPPING_ADAPTER: TypeAdapter[CommitmentsMapping | ProgressSnapshotsMapping] = TypeAdapter(Mapping)


def parse_mapping(data: Any, *, origin: str = "<mapping>") -> CommitmentsMapping | ProgressSnapshotsMapping:
    """Validate an already-parsed mapping document (e.g. from YAML).

    Raises:
        MappingError: with one line per problem (``"commitment.title: ..."``).
    """
    try:
        return _MAPPING_ADAPTER.validate_python(data, context=_context(data))
    except ValidationError as exc:
        raise MappingError(origin, [_format_error(e) for e in exc.errors()]) from None


def load_mapping(path: str | Path) -> CommitmentsMapping | ProgressSnapshotsMapping:
    """Read and validate a mapping YAML file.

    Args:
        path: the YAML file.

    Returns:
        a `CommitmentsMapping` or `ProgressSnapshotsMapping` (chosen by its ``kind``).

    Raises:
        MappingError: if the file is missing, is not YAML, or does not validate (the message
            lists every problem with its location in the document).
    """
    origin = str(path)
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(origin, [f"cannot read the file: {exc.strerror or exc}"]) from None
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise MappingError(origin, [f"not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise MappingError(origin, ["the document must be a mapping with a 'kind' key"])
    return parse_mapping(data, origin=origin)


def with_delivery_mode(
    mapping: CommitmentsMapping | ProgressSnapshotsMapping, mode: DeliveryMode, why: str
) -> CommitmentsMapping | ProgressSnapshotsMapping:
    """The mapping with its ``deliveries.mode`` replaced (the CLI's ``--deliveries-mode``).

    Raises:
        MappingError: a ``kind: commitments`` mapping, which plans no deliveries.
    """
    if not isinstance(mapping, ProgressSnapshotsMapping):
        raise MappingError("<command line>", [f"deliveries mode {mode!r}: a kind: {mapping.kind} mapping plans no deliveries"])
    return mapping.model_copy(update={"deliveries": DeliveriesWrite(mode=mode, why=why)})


def _context(data: Any) -> dict[str, str]:
    """The validation context: the municipality's time zone, default of every ``date``
    transform (only a known zone; an unknown one is reported at ``municipality.time_zone``)."""
    municipality = data.get("municipality") if isinstance(data, MappingABC) else None
    zone = municipality.get("time_zone", DEFAULT_TIME_ZONE) if isinstance(municipality, MappingABC) else DEFAULT_TIME_ZONE
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        return {}
    return {TIME_ZONE_CONTEXT: zone}


def _format_error(error: Any) -> str:
    loc = ".".join(str(part) for part in error.get("loc", ()) if part not in ("commitments", "progress_snapshots"))
    msg = str(error.get("msg", "invalid"))
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return f"{loc or '<root>'}: {msg}"


def as_of_iso(moment: datetime) -> str:
    """RFC 3339 text of an aware datetime, seconds precision (``2024-12-31T23:59:59-03:00``)."""
    return moment.isoformat(timespec="seconds")
