"""Re-imports: a commitment the ledger holds whose source values now differ.

A re-run compares every planned registration that the ledger already holds (matched by
external ref) with what the ledger shows (`compare`): title, theme, unit, target (the current
one), promise date and due date from the list the applier reads; description, source URI and
source document hash only when the commitment's detail was read (it is, for every one, when
the mapping lets ``description`` amend: one request each).

The fields the mapping's ``reimport.amend`` lists become ONE amendment of the commitment
(``POST /staff/commitments/{id}/amendments``, every changed field at once, with the amendment
count the run read and the run's reason, `amendment_reason`), reported on the row as
``amended`` with each field's value before and after (``would_amend`` in a dry run). Every
other field that differs is a ``difference`` (field, ledger value, source value): reported on
the row, never written, and the run exits 6 when nothing else failed. An amendment the API or
the chain refuses (a due date not after the promise date, a stale amendment count, a withdrawn
commitment...) is ``failed`` with its problem, on its row. A withdrawn commitment takes no
amendment: its changes are differences (with a warning).

Values are compared as the API shows them: texts as they are, the target as a decimal
string, dates as Unix seconds, the document hash in lower case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from .errors import MappingError
from .limits import REASON_MAX_BYTES, check_text
from .mapping import CommitmentsMapping, ProgressSnapshotsMapping, as_of_const
from .plan import RegisterCommitment
from .results import TxRef
from .state import DETAIL_TEXT_FIELDS

SUMMARY_FIELDS = ("title", "theme", "unit", "target_quantity", "promised_at", "due_date")
"""Fields the commitment list (``GET /commitments``) shows: compared on every re-run."""
COMPARED_FIELDS = (*SUMMARY_FIELDS, *DETAIL_TEXT_FIELDS)
"""Then the fields only the detail (``GET /commitments/{id}``) shows, compared when it was
read (`scripts.importer.state.read_state` ``with_texts``)."""

AmendOutcome = Literal["amended", "would_amend", "failed"]


@dataclass(frozen=True)
class FieldChange:
    """One field whose source value differs from the ledger's (values as the API shows them).

    Attributes:
        field: e.g. ``"title"``, ``"due_date"``.
        ledger: the ledger's value (before an amendment).
        source: the source's value (after an amendment).
    """

    field: str
    ledger: Any
    source: Any

    def as_json(self) -> dict[str, Any]:
        """``{"field", "ledger", "source"}``."""
        return {"field": self.field, "ledger": self.ledger, "source": self.source}

    def describe(self) -> str:
        """``title: 'Old' → 'New'``."""
        return f"{self.field}: {self.ledger!r} → {self.source!r}"


@dataclass(frozen=True)
class AmendmentResult:
    """The amendment a re-run made (or would make, or was refused) of one commitment.

    Attributes:
        outcome: ``amended`` (written now), ``would_amend`` (dry run), ``failed`` (refused by
            the API or the chain: ``detail`` and ``problem`` say why).
        changes: the fields amended, each with its value before (``ledger``) and after
            (``source``), in the contract's field order.
        reason: the amendment's reason as sent.
        amendment_number: the ledger's number of this amendment (``amended``).
        tx: the transaction that carried it (``amended``).
        detail, problem: why it failed (the problem+json document).
        warnings: e.g. the due date in force had passed (readers see ``after_due_date``).
    """

    outcome: AmendOutcome
    changes: tuple[FieldChange, ...]
    reason: str
    amendment_number: int | None = None
    tx: TxRef | None = None
    detail: str | None = None
    problem: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        """For the report."""
        return {
            "outcome": self.outcome, "changes": [c.as_json() for c in self.changes], "reason": self.reason,
            "amendment_number": self.amendment_number, "tx": self.tx.as_json() if self.tx is not None else None,
            "detail": self.detail, "problem": self.problem, "warnings": list(self.warnings),
        }


def source_date(mapping: CommitmentsMapping | ProgressSnapshotsMapping) -> date | None:
    """The date ``$source_date`` names: ``source.published`` (``--source-date`` sets it), else
    the last snapshot's constant ``as_of`` (its calendar date in its own offset), else None
    (a commitments source without ``published``, or a last snapshot dated per row)."""
    if mapping.source.published is not None:
        return mapping.source.published
    if isinstance(mapping, ProgressSnapshotsMapping):
        moment = as_of_const(mapping.snapshots[-1].as_of)
        return None if moment is None else moment.date()
    return None


def needs_texts(mapping: CommitmentsMapping | ProgressSnapshotsMapping) -> bool:
    """Whether a re-run must read each commitment's detail (``description`` may amend)."""
    return mapping.reimport is not None and "description" in mapping.reimport.amend


def amendment_reason(mapping: CommitmentsMapping | ProgressSnapshotsMapping, *, origin: str = "<mapping>") -> str:
    """The reason of the run's amendments: ``reimport.reason`` with ``$source`` (the source's
    name) and ``$source_date`` (`source_date`, ISO ``YYYY-MM-DD``).

    Raises:
        MappingError: the mapping has no ``reimport`` block; the reason names ``$source_date``
            and no date is known; or the reason is empty or longer than 1000 bytes.
    """
    rules = mapping.reimport
    if rules is None:
        raise MappingError(origin, ["reimport: the mapping has no reimport block, so nothing is amended"])
    day = source_date(mapping)
    if "$source_date" in rules.reason.context_names() and day is None:
        raise MappingError(origin, [
            "reimport.reason: names $source_date, but no date is known: add source.published (the date of the "
            "edition imported, YYYY-MM-DD) to the mapping, or pass --source-date"
        ])
    values = {"$source": mapping.source.name, "$source_date": day.isoformat() if day is not None else ""}
    try:
        text = str(rules.reason.evaluate(values))
    except (KeyError, ValueError) as exc:
        raise MappingError(origin, [f"reimport.reason: {exc}"]) from None
    problem = check_text("reimport.reason", text, REASON_MAX_BYTES, required=True)
    if problem:
        raise MappingError(origin, [problem])
    return text


def source_values(op: RegisterCommitment) -> dict[str, Any]:
    """The registration's values in the API's form (`COMPARED_FIELDS`)."""
    return {
        "title": op.title, "theme": op.theme, "unit": op.unit, "target_quantity": str(op.target_quantity),
        "promised_at": op.promised_at, "due_date": op.due_date, "description": op.description,
        "source_uri": op.source_uri, "source_document_sha256": op.source_document_sha256,
    }


def compare(op: RegisterCommitment, ledger: dict[str, Any]) -> tuple[FieldChange, ...]:
    """The fields of `COMPARED_FIELDS` that ``ledger`` (a commitment as the API shows it;
    a field it lacks is not compared) holds with another value than the source, in that order."""
    theirs = source_values(op)
    return tuple(FieldChange(name, ledger[name], theirs[name]) for name in COMPARED_FIELDS
                 if name in ledger and _shown(name, ledger[name]) != _shown(name, theirs[name]))


def split(changes: tuple[FieldChange, ...], amendable: list[str]) -> tuple[tuple[FieldChange, ...], tuple[FieldChange, ...]]:
    """``(to amend, differences)``: the changes of fields ``amendable`` lists, in the
    contract's field order, and the others."""
    order = {name: i for i, name in enumerate(("title", "description", "target_quantity", "due_date"))}
    amend = tuple(sorted((c for c in changes if c.field in amendable), key=lambda c: order[c.field]))
    return amend, tuple(c for c in changes if c.field not in amendable)


def amendment_body(changes: tuple[FieldChange, ...], amendment_count: int, reason: str) -> dict[str, Any]:
    """The body of ``POST /staff/commitments/{id}/amendments``: the count the run read, each
    changed field's source value (target as a decimal string, due date Unix seconds), the
    reason."""
    body: dict[str, Any] = {"expected_amendment_count": amendment_count}
    for change in changes:
        body[change.field] = str(change.source) if change.field == "target_quantity" else change.source
    body["reason"] = reason
    return body


def _shown(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "source_document_sha256":
        return str(value).lower()
    return str(value)
