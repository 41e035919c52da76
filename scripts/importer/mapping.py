"""Mapping files: one YAML file per source says how its CSV rows become ledger operations.

Two kinds (the ``kind`` key):

``commitments``
    One CSV file, one row → one commitment.
``progress_snapshots``
    Several CSV files of the same items in time order; each item becomes one commitment (from
    the first snapshot it appears in) and the changes of its progress column between snapshots
    become deliveries and revocations (see `scripts.importer.snapshots`). A snapshot's
    ``as_of`` may be read per row, and ``assessments`` read several observations (each with its
    own progress and ``as_of``) from one row.

Values are described by `FieldSpec`: exactly one of ``column`` (a CSV column, after the
``clean`` steps of that column), ``const`` or ``template`` (``str.format`` syntax where each
field is a whole column name, e.g. ``"Boletín {boletin}"``, or a context name starting with
``$``), then its ``default`` when the value is empty, followed by optional ``transforms``
(``date`` and ``lookup`` among them, see `scripts.importer.steps`). ``clean`` steps change
column values and are reported row by row; ``transforms`` only shape one field and are not
reported.

A file's shape is said by ``read`` (format, encoding, delimiter, header row...), ``group``
(continuation rows) and ``join`` (other files joined by a key): see `scripts.importer.shapes`
and `scripts.importer.sources`. Wherever a column name is accepted, ``"#<n>"`` names the n-th
column (1-based) and ``<prefix><name>`` a joined file's column.

See scripts/mappings/*.yaml for complete examples.
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from datetime import date, datetime
import re
import unicodedata
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import AfterValidator, AwareDatetime, Discriminator, Field, PrivateAttr, StrictBool, Tag, TypeAdapter, ValidationError, field_validator, model_validator

from ledger.sources import is_source_id

from . import text
from .dates import DEFAULT_TIME_ZONE
from .errors import MappingError
from .limits import AMEND_FIELD_NAMES, MAX_DATE, MUNICIPALITY_CODE_MAX_BYTES, utf8_len
from .shapes import GroupSpec, JoinSpec, ReadSpec, check_joins, merge_read_blocks
from .steps import TIME_ZONE_CONTEXT, CleanStep, FieldSpec, SkipRule, Strict, const_spec, op_shorthand

# Context names a template may use, by where the template is evaluated (``$assessment`` only
# in a mapping that lists assessments).
SNAPSHOT_CONTEXT = frozenset({"$snapshot", "$as_of"})
CHANGE_CONTEXT = frozenset({"$snapshot", "$as_of", "$from", "$to"})
REIMPORT_CONTEXT = frozenset({"$source", "$source_date"})
AS_OF_CONTEXT = frozenset({"$snapshot"})
ASSESSMENT_CONTEXT = "$assessment"
# Keys of the evidence JSON document written by the snapshot replay besides the copied columns.
EVIDENCE_RESERVED_KEYS = frozenset(
    {"progress", "previous_progress", "quantity", "unit", "snapshot", "assessment", "as_of", "credit"}
)


# ------------------------------------------------------------------ common blocks


class SourceCredit(Strict):
    """Whom to credit for the data; shown by the CLI and copied into every report.

    ``id`` is the source's stable id (``ledger.sources.SOURCE_ID_PATTERN``: 1..64 lowercase
    letters, digits and hyphens), unique across the mappings of ``scripts/mappings/``: every
    commitment planned from this mapping names it in its on-chain ``source_uri``
    (``#ledger-source=<id>``), which is what credits it to this source. ``follow_up`` (default
    true) says whether the source tracks follow-up; false for one of promises only, whose
    commitments nobody records deliveries for (readers then say so beside the status).
    """

    id: str = Field(description="stable source id, e.g. baarn-coalitieakkoord-2022-2026")
    follow_up: StrictBool = Field(default=True, description="false: the source records no deliveries or progress")
    name: str = Field(min_length=1)
    publisher: str = Field(min_length=1)
    url: str = Field(min_length=1)
    licence: str = Field(min_length=1, description="licence, or a note that none is stated")
    language: str = Field(default="", max_length=35, description="BCP 47 tag of the source's texts, e.g. nl, es")
    published: date | None = Field(
        default=None, description="date of the edition imported (YYYY-MM-DD); a re-import's amendment reason names it ($source_date)"
    )

    @field_validator("id")
    @classmethod
    def _source_id(cls, value: str) -> str:
        if not is_source_id(value):
            raise ValueError(
                f"{value!r} is not a source id: 1..64 lowercase letters, digits and hyphens, starting and ending "
                "with a letter or digit (e.g. baarn-coalitieakkoord-2022-2026)"
            )
        return value

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


class IssuerRef(Strict):
    """One issuer of an ``issuers`` table: its name and code, as on chain."""

    name: str = Field(min_length=1)
    code: str = Field(min_length=1)

    _code = field_validator("code")(lambda cls, v: MunicipalityRef._code_fits(v))


class IssuerColumn(Strict):
    """Many issuers in one file (the ``issuers`` block, instead of ``municipality``): each row's
    issuer is named by ``column``.

    With ``table``, the column's value (a name or an official code, matched by
    :func:`issuer_key`: Unicode NFC, case-folded, whitespace collapsed) is looked up in it;
    without, the column holds the issuer's code itself and ``name_column`` its name. A row
    whose value is empty or not in the table is reported ``invalid`` (``unknown: invalid``,
    the default) or ``skipped`` (``unknown: skip``, for a file that also covers issuers this
    ledger does not hold). ``onboard: true`` asks the local set-up (``make run``, the
    importer's ``--onboard``) to onboard every issuer the mapping names.
    """

    column: str = Field(min_length=1)
    table: dict[str, IssuerRef] | None = None
    name_column: str | None = None
    time_zone: str = Field(default="Europe/Amsterdam", description="IANA zone of the source's calendar dates")
    onboard: bool = False
    unknown: Literal["invalid", "skip"] = "invalid"

    _zone = field_validator("time_zone")(lambda cls, v: MunicipalityRef._known_zone(v))
    _index: dict[str, IssuerRef] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _table_or_codes(self) -> IssuerColumn:
        if (self.table is None) == (self.name_column is None):
            raise ValueError("give exactly one of table (column value → {name, code}) and name_column "
                             "(the column holds codes; names come from name_column)")
        if self.table is not None:
            if not self.table:
                raise ValueError("table is empty")
            seen: dict[str, str] = {}
            names: dict[str, str] = {}
            for key, ref in self.table.items():
                norm = issuer_key(key)
                if not norm:
                    raise ValueError("table: an empty key matches no row")
                if norm in seen:
                    raise ValueError(f"table: keys {seen[norm]!r} and {key!r} are the same after normalising "
                                     "(case, accents composed, whitespace)")
                seen[norm] = key
                if names.setdefault(ref.code, ref.name) != ref.name:
                    raise ValueError(f"table: code {ref.code!r} is named both {names[ref.code]!r} and {ref.name!r}")
            self._index = {issuer_key(k): r for k, r in self.table.items()}
        return self

    def columns(self) -> set[str]:
        """Columns the block reads."""
        return {self.column} | ({self.name_column} if self.name_column else set())

    def issuer_of(self, values: MappingABC[str, str]) -> MunicipalityRef | None:
        """The issuer of one row (raw values), or None when its value is empty, not in the
        table, or (without a table) not a valid code."""
        raw = values.get(self.column, "")
        if self.table is not None:
            ref = self._index.get(issuer_key(raw))
            return None if ref is None else MunicipalityRef(name=ref.name, code=ref.code, time_zone=self.time_zone)
        code = " ".join(raw.split())
        name = " ".join(str(values.get(self.name_column or "", "")).split())
        if not code or not name or utf8_len(code) > MUNICIPALITY_CODE_MAX_BYTES:
            return None
        return MunicipalityRef(name=name, code=code, time_zone=self.time_zone)

    def named(self) -> list[MunicipalityRef]:
        """The issuers of the table, once per code, in table order (``[]`` without a table:
        the file names them)."""
        found: dict[str, MunicipalityRef] = {}
        for ref in (self.table or {}).values():
            found.setdefault(ref.code, MunicipalityRef(name=ref.name, code=ref.code, time_zone=self.time_zone))
        return list(found.values())


def issuer_key(value: str) -> str:
    """How an issuer column's value is matched to an ``issuers.table`` key: Unicode NFC,
    case-folded, runs of whitespace as one space, trimmed (``" Súdwest-Fryslân "`` and
    ``"SÚDWEST-FRYSLÂN"`` match)."""
    return " ".join(unicodedata.normalize("NFC", value).casefold().split())


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
    description: FieldSpec = Field(default_factory=lambda: const_spec(""))
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


AMENDABLE_FIELDS: tuple[str, ...] = tuple(name for _bit, name in AMEND_FIELD_NAMES)
"""What the contract's amendment can change (``AmendmentInput.fields``): title, description,
target_quantity, due_date."""
DEFAULT_REIMPORT_REASON = "Changed in the source {$source} ({$source_date})"


def _amendable(value: str) -> str:
    if value not in AMENDABLE_FIELDS:
        raise ValueError(
            f"{value!r} cannot be amended on the ledger: an amendment changes {', '.join(AMENDABLE_FIELDS)} only "
            "(a difference in any other field is reported, never written)"
        )
    return value


class ReimportRules(Strict):
    """The ``reimport`` block: what a re-run does with a commitment the ledger holds whose
    source values now differ (`scripts.importer.reimport`).

    ``amend``: the fields a changed source may amend (one amendment per commitment, every
    listed field that differs at once); a difference in any other field is reported, row by
    row, and makes the exit status 6. ``reason``: the amendment's reason (1..1000 bytes),
    computed once per run from ``$source`` (the source's name) and ``$source_date``
    (``source.published``, ``--source-date``, or the last snapshot's ``as_of`` date).
    """

    amend: list[Annotated[str, AfterValidator(_amendable)]] = Field(default_factory=list)
    reason: FieldSpec = Field(default_factory=lambda: FieldSpec(template=DEFAULT_REIMPORT_REASON))

    @field_validator("amend")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        repeated = sorted({name for name in value if value.count(name) > 1})
        if repeated:
            raise ValueError(f"{repeated} listed more than once")
        return value

    @field_validator("reason")
    @classmethod
    def _per_run(cls, value: FieldSpec) -> FieldSpec:
        if value.columns():
            raise ValueError(
                f"reads the column(s) {sorted(value.columns())}: the reason is one per run; use {sorted(REIMPORT_CONTEXT)}"
            )
        unknown = value.context_names() - REIMPORT_CONTEXT
        if unknown:
            raise ValueError(f"unknown context name(s) {sorted(unknown)}; allowed here: {sorted(REIMPORT_CONTEXT)}")
        return value


def _check_rel_path(value: str) -> str:
    path = PurePosixPath(value)
    if path.is_absolute() or ".." in path.parts or not value.strip():
        raise ValueError(f"{value!r} must be a path relative to the data directory, without '..'")
    return value


class _MappingBase(Strict):
    source: SourceCredit
    municipality: MunicipalityRef | None = Field(
        description="the one issuer of every row; or, in a mapping derived by for_issuer, the issuer whose rows it plans")
    issuers: IssuerColumn | None = Field(default=None, description="many issuers in one file: the column naming each row's issuer")
    notes: list[str] = Field(default_factory=list, description="documented choices, copied to the report")
    not_imported: list[NotImported] = Field(default_factory=list)
    key_column: str = Field(min_length=1, description="column that identifies a row in the report")
    skip: list[SkipRule] = Field(default_factory=list)
    clean: dict[str, list[CleanStep]] = Field(default_factory=dict)
    commitment: CommitmentFields
    reimport: ReimportRules | None = None
    read: ReadSpec = Field(default_factory=ReadSpec, description="how the file(s) are read")
    group: GroupSpec | None = Field(default=None, description="rows that continue the row above")
    join: list[JoinSpec] = Field(default_factory=list, description="other files joined to each row, in order")

    _joins = field_validator("join")(lambda cls, v: check_joins(v))

    @field_validator("clean", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, MappingABC):
            return {k: [op_shorthand(s) for s in v] if isinstance(v, list) else v for k, v in value.items()}
        return value

    @model_validator(mode="before")
    @classmethod
    def _issuers_instead(cls, data: Any) -> Any:
        if isinstance(data, MappingABC) and "issuers" in data and "municipality" not in data:
            return {**data, "municipality": None}  # an issuers mapping: each row names its issuer
        return data

    @model_validator(mode="after")
    def _one_issuer_block(self) -> "_MappingBase":
        if (self.municipality is None) == (self.issuers is None):
            raise ValueError("give exactly one of municipality (every row is one issuer's) and issuers "
                             "(a column names each row's issuer)")
        return self

    @property
    def issuer(self) -> MunicipalityRef:
        """The issuer this mapping plans for: its ``municipality``, or the one chosen by
        :meth:`for_issuer`.

        Raises:
            MappingError: an ``issuers`` mapping not yet split by :meth:`for_issuer`.
        """
        if self.municipality is None:
            raise MappingError("<mapping>", ["issuers: this mapping names many issuers; plan each with for_issuer()"])
        return self.municipality

    def for_issuer(self, ref: MunicipalityRef) -> Any:
        """This mapping restricted to the rows of one issuer (an ``issuers`` mapping), with
        ``municipality`` set to it; the planner leaves the other rows out (:meth:`owns`)."""
        return self.model_copy(update={"municipality": ref})

    def owns(self, values: MappingABC[str, str]) -> bool:
        """Whether a row (raw values) belongs to the issuer this mapping plans for: always
        with a ``municipality`` mapping; in one derived by :meth:`for_issuer`, the rows whose
        issuer column names it."""
        if self.issuers is None:
            return True
        mine = self.issuers.issuer_of(values)
        return mine is not None and self.municipality is not None and (mine.code, mine.name) == (
            self.municipality.code, self.municipality.name)

    def columns_used(self) -> set[str]:
        """Every CSV column the mapping reads (the CSV header must contain them all)."""
        cols = {self.key_column} | set(self.clean)
        if self.issuers is not None:
            cols |= self.issuers.columns()
        cols |= {r.column for r in self.skip if r.column is not None}
        for spec in self.commitment.specs().values():
            cols |= spec.columns()
        if self.group is not None:
            cols |= {self.group.continuation.column} | set(self.group.collect)
        return cols | {j.on.column for j in self.join}

    def joined_files(self) -> list[str]:
        """The ``join`` files, in order, each once."""
        return list(dict.fromkeys(j.file for j in self.join))

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
        """Files read, relative to the data directory: ``file``, then the joined files."""
        return [self.file, *(f for f in self.joined_files() if f != self.file)]


def _as_of_kind(value: Any) -> str:
    return "field" if isinstance(value, (MappingABC, FieldSpec)) else "timestamp"


# When an observation was made: a constant RFC 3339 timestamp with offset, or a `FieldSpec`
# evaluated per row to Unix seconds or such a timestamp (e.g. a ``date`` transform of a column).
AsOf = Annotated[
    Union[Annotated[AwareDatetime, Tag("timestamp")], Annotated[FieldSpec, Tag("field")]],
    Discriminator(_as_of_kind),
]


def as_of_const(value: AwareDatetime | FieldSpec | None) -> datetime | None:
    """The constant moment of an ``as_of``, or None when it is read per row (or not given)."""
    return value if isinstance(value, datetime) else None


class Assessment(Strict):
    """One of several assessments read from each row of a snapshot (e.g. a mid-term and an
    end-of-term rating in two columns), each an observation of its own.

    ``label`` names it in delivery refs (``$assessment``), batch labels and reasons;
    ``progress`` is its progress value; ``as_of`` when it was made (a constant or per row;
    default: the snapshot's ``as_of``).
    """

    label: str = Field(min_length=1, max_length=32)
    progress: FieldSpec = Field(description="must evaluate to a non-negative integer in the commitment's unit")
    as_of: AsOf | None = None


class Snapshot(Strict):
    """One CSV file of a progress series and the moment it describes: ``as_of`` a constant, or
    a `FieldSpec` read per row. ``assessments`` (optional) replace the mapping's ``progress``
    (or its ``assessments``) for this file."""

    label: str = Field(min_length=1, max_length=32, description="e.g. the year; used in refs and reasons")
    file: str
    as_of: AsOf | None = None
    assessments: list[Assessment] | None = Field(default=None, min_length=1)
    read: ReadSpec | None = Field(default=None, description="the mapping's read block with these keys replaced")

    _file = field_validator("file")(lambda cls, v: _check_rel_path(v))

    @property
    def as_of_seconds(self) -> int | None:
        """A constant ``as_of`` in Unix seconds; None when it is read per row (or not given)."""
        moment = as_of_const(self.as_of)
        return None if moment is None else int(moment.timestamp())


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


@dataclass(frozen=True)
class ObservationSpec:
    """One observation read from each row of a snapshot file (resolved from the mapping).

    Attributes:
        snapshot: the snapshot (file) it is read from.
        assessment: the assessment's label, or None for a snapshot without assessments.
        name: the field name problems are reported under: ``progress``, or
            ``assessments.<label>.progress``.
        progress: its progress value.
        as_of: a constant moment or a per-row `FieldSpec`.
        order: its place in the mapping (snapshot index, assessment index): breaks ties of
            equal ``as_of``.
        progress_at, as_of_at: where its progress and as_of are written in the mapping
            (``progress``, ``snapshots.0.as_of``, ``assessments.1.progress``...).
        as_of_name: the field name of its as_of in problems: ``as_of`` (the snapshot's), or
            ``assessments.<label>.as_of`` (the assessment's own).
    """

    snapshot: Snapshot
    assessment: str | None
    name: str
    progress: FieldSpec
    as_of: datetime | FieldSpec
    order: tuple[int, int]
    progress_at: str
    as_of_at: str
    as_of_name: str = "as_of"

    @property
    def batch_label(self) -> str:
        """The anchored batch its deliveries join (``deliveries: {mode: batch}``): the
        snapshot's label, plus ``/<assessment>`` when it has one."""
        return self.snapshot.label if self.assessment is None else f"{self.snapshot.label}/{self.assessment}"


class ProgressSnapshotsMapping(_MappingBase):
    """``kind: progress_snapshots``: the same items in several CSV files, in time order.

    Each row of a snapshot is one observation of its item (``progress`` at the snapshot's
    ``as_of``), or, with ``assessments`` (the mapping's, or the snapshot's own), one
    observation per assessment. `observations` resolves them.
    """

    kind: Literal["progress_snapshots"]
    snapshots: list[Snapshot] = Field(min_length=1)
    progress: FieldSpec | None = Field(default=None, description="must evaluate to a non-negative integer in the commitment's unit")
    assessments: list[Assessment] | None = Field(default=None, min_length=1)
    delivery: DeliveryFields
    deliveries: DeliveriesWrite = Field(default_factory=DeliveriesWrite)
    revocation_reason: FieldSpec

    @model_validator(mode="before")
    @classmethod
    def _merge_reads(cls, data: Any) -> Any:
        """A snapshot's ``read`` keys replace the mapping's (validated as the merged block)."""
        if isinstance(data, MappingABC) and isinstance(data.get("snapshots"), list) and "read" in data:
            snapshots = [
                {**s, "read": merge_read_blocks(data["read"], s["read"])} if isinstance(s, MappingABC) and "read" in s else s
                for s in data["snapshots"]
            ]
            return {**data, "snapshots": snapshots}
        return data

    @model_validator(mode="after")
    def _snapshots_in_order(self) -> ProgressSnapshotsMapping:
        labels = [s.label for s in self.snapshots]
        if len(set(labels)) != len(labels):
            raise ValueError(f"snapshot labels must be unique, got {labels}")
        times = [t for t in (as_of_const(s.as_of) for s in self.snapshots) if t is not None]
        if any(b <= a for a, b in zip(times, times[1:])):
            raise ValueError("snapshots must be listed in strictly increasing as_of order")
        self._check_observations()
        promised = self.commitment.const_seconds("promised_at")
        early = list(dict.fromkeys(
            o.batch_label for o in self.observations()
            if promised is not None and isinstance(o.as_of, datetime) and o.as_of.timestamp() < promised
        ))
        if early:
            raise ValueError(
                f"snapshots {early} are dated before commitment.promised_at {self.commitment.promised_at.const}: "  # type: ignore[union-attr]
                "progress cannot be measured before the promise was made"
            )
        extra = {ASSESSMENT_CONTEXT} if self._has_assessments() else set()
        self._check_context(self.commitment.specs(), SNAPSHOT_CONTEXT | extra, "commitment")
        checked: set[str] = set()
        for o in self.observations():
            specs = [(o.progress_at, o.progress, SNAPSHOT_CONTEXT | extra)]
            if isinstance(o.as_of, FieldSpec):
                specs.append((o.as_of_at, o.as_of, AS_OF_CONTEXT | extra))
            for where, spec, allowed in specs:
                unknown = spec.context_names() - allowed
                if unknown and where not in checked:
                    raise ValueError(f"{where}: unknown context name(s) {sorted(unknown)}; allowed here: {sorted(allowed)}")
                checked.add(where)
        self._check_context(self.delivery.specs(), CHANGE_CONTEXT | extra, "delivery")
        self._check_context({"revocation_reason": self.revocation_reason}, CHANGE_CONTEXT | extra, "revocation_reason")
        return self

    def _has_assessments(self) -> bool:
        return self.assessments is not None or any(s.assessments is not None for s in self.snapshots)

    def _check_observations(self) -> None:
        """Every snapshot has a progress and an as_of for each observation; assessment labels
        are unique; several assessments a row need ``$assessment`` in the delivery refs."""
        uses_progress = False
        for i, snapshot in enumerate(self.snapshots):
            assessments = snapshot.assessments or self.assessments
            if assessments is None:
                uses_progress = True
                if self.progress is None:
                    raise ValueError(f"snapshots.{i}: give the mapping's progress, or assessments")
                if snapshot.as_of is None:
                    raise ValueError(f"snapshots.{i}.as_of: missing (a timestamp with offset, or a field read per row)")
                continue
            names = [a.label for a in assessments]
            if len(set(names)) != len(names):
                raise ValueError(f"snapshots.{i}: assessment labels must be unique, got {names}")
            undated = [a.label for a in assessments if a.as_of is None]
            if undated and snapshot.as_of is None:
                raise ValueError(f"snapshots.{i}.as_of: missing, and assessments {undated} give no as_of of their own")
            if len(assessments) > 1 and ASSESSMENT_CONTEXT not in self.delivery.external_ref.context_names():
                raise ValueError(
                    f"delivery.external_ref: snapshot {snapshot.label!r} reads {len(assessments)} assessments from each row; "
                    f'use {{{ASSESSMENT_CONTEXT}}} in its template (e.g. "{{$snapshot}}-{{$assessment}}") so each gets its own delivery ref'
                )
        if self.progress is not None and not uses_progress:
            raise ValueError("progress: every snapshot reads assessments instead; remove progress")

    def observations(self) -> list[ObservationSpec]:
        """The observations read from each row, snapshot by snapshot, in mapping order."""
        out: list[ObservationSpec] = []
        for i, snapshot in enumerate(self.snapshots):
            if snapshot.assessments is None and self.assessments is None:
                if self.progress is not None and snapshot.as_of is not None:
                    out.append(ObservationSpec(snapshot, None, "progress", self.progress, snapshot.as_of, (i, 0),
                                               "progress", f"snapshots.{i}.as_of"))
                continue
            at = f"snapshots.{i}.assessments" if snapshot.assessments is not None else "assessments"
            for j, a in enumerate(snapshot.assessments or self.assessments or []):
                if a.as_of is not None:
                    as_of, as_of_at, as_of_name = a.as_of, f"{at}.{j}.as_of", f"assessments.{a.label}.as_of"
                else:
                    as_of, as_of_at, as_of_name = snapshot.as_of, f"snapshots.{i}.as_of", "as_of"
                if as_of is not None:
                    out.append(ObservationSpec(snapshot, a.label, f"assessments.{a.label}.progress", a.progress, as_of,
                                               (i, j), f"{at}.{j}.progress", as_of_at, as_of_name))
        return out

    def snapshot_observations(self, snapshot: Snapshot) -> list[ObservationSpec]:
        """The observations read from each row of ``snapshot``, in mapping order."""
        return [o for o in self.observations() if o.snapshot is snapshot]

    def columns_of(self, snapshot: Snapshot) -> set[str]:
        """Every CSV column read from ``snapshot``'s file."""
        cols = super().columns_used() | self.revocation_reason.columns()
        for spec in self.delivery.specs().values():
            cols |= spec.columns()
        for o in self.snapshot_observations(snapshot):
            cols |= o.progress.columns()
            if isinstance(o.as_of, FieldSpec):
                cols |= o.as_of.columns()
        return cols | set(self.delivery.evidence_columns)

    def columns_used(self) -> set[str]:
        cols: set[str] = set()
        for snapshot in self.snapshots:
            cols |= self.columns_of(snapshot)
        return cols

    def files(self) -> list[str]:
        """Files read, relative to the data directory: the snapshots' in time order, then the
        joined files that are not one of them."""
        own = [s.file for s in self.snapshots]
        return own + [f for f in self.joined_files() if f not in own]


Mapping = Annotated[Union[CommitmentsMapping, ProgressSnapshotsMapping], Field(discriminator="kind")]
_MAPPING_ADAPTER: TypeAdapter[CommitmentsMapping | ProgressSnapshotsMapping] = TypeAdapter(Mapping)


class _MappingLoader(yaml.SafeLoader):
    """YAML as a clerk means it: only ``true`` and ``false`` (any case) are booleans, as in YAML
    1.2. PyYAML follows YAML 1.1, where ``on``, ``off``, ``yes``, ``no``, ``y`` and ``n`` are
    booleans too, so ``join: [{on: {column: brief}}]`` lost its ``on`` key and a lookup table
    key ``Yes`` became ``True``."""


_MappingLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_MappingLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def load_yaml(text: str) -> Any:
    """Parse a mapping document (:class:`_MappingLoader`: ``on``, ``yes``, ``no`` stay text).

    Raises:
        yaml.YAMLError: not valid YAML.
    """
    return yaml.load(text, Loader=_MappingLoader)  # noqa: S506 - a SafeLoader subclass


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
        data = load_yaml(raw)
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


def with_source_date(
    mapping: CommitmentsMapping | ProgressSnapshotsMapping, published: date
) -> CommitmentsMapping | ProgressSnapshotsMapping:
    """The mapping with ``source.published`` replaced (the CLI's ``--source-date``: the date
    of the edition imported, which a re-import's amendment reason names)."""
    return mapping.model_copy(update={"source": mapping.source.model_copy(update={"published": published})})


def _context(data: Any) -> dict[str, str]:
    """The validation context: the time zone of the ``municipality`` (or of the ``issuers``),
    default of every ``date`` transform (only a known zone; an unknown one is reported where
    it is written)."""
    block = None
    if isinstance(data, MappingABC):
        block = data.get("municipality") if data.get("municipality") is not None else data.get("issuers")
    zone = block.get("time_zone", DEFAULT_TIME_ZONE) if isinstance(block, MappingABC) else DEFAULT_TIME_ZONE
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
    if loc == "municipality" and error.get("type") == "missing":
        msg += " (or give issuers: a column that names each row's issuer)"
    return f"{loc or '<root>'}: {msg}"


def as_of_iso(moment: datetime) -> str:
    """RFC 3339 text of an aware datetime, seconds precision (``2024-12-31T23:59:59-03:00``)."""
    return moment.isoformat(timespec="seconds")
