"""The status rules of docs/LEDGER.md ("Status rules", "Two clocks", "Terms"), in Python and
in SQL. This module is the one place of each rule for the indexer and the API; the auditor
replay (``scripts/audit/``) has its own code on purpose.

The mapping (:func:`status_of`, and :func:`status_sql` for filters and counts, which agree on
every input: tests/db/test_status_rules.py) takes ``(withdrawn, delivered, met_at, due_date,
now)`` and answers, in this order:

- ``withdrawn``      if the commitment was withdrawn;
- ``delivered``      else if met_at is not None and met_at <= due_date;
- ``delivered_late`` else if met_at is not None (met_at > due_date);
- ``overdue``        else if now > due_date;
- ``in_progress``    else if delivered > 0;
- ``pending``        otherwise.

The same mapping is applied to two clocks and two sets of terms; only ``met_at`` and the due
date differ (:data:`VERDICTS`):

- claimed clock: ``met_at`` from :func:`claimed_met_at` (prefix rule over the claimed delivery
  dates of the non-revoked deliveries);
- on-record clock: ``met_on_record_at`` from the running state :class:`OnRecord` (what the
  contract keeps, so ``statusOf`` is O(1)).

Times are Unix seconds (UTC); quantities are in the commitment's unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import BigInteger, ColumnElement, and_, case, literal

STATUSES = ("pending", "in_progress", "delivered", "delivered_late", "overdue", "withdrawn")
"""Every status, in the order of the contract's ``Status`` enum."""

SECONDS_PER_DAY = 86_400

RECORDED_LATE_AFTER_SECONDS = 30 * SECONDS_PER_DAY
"""A delivery is *recorded late* when ``recorded_at - delivered_at`` is more than this
(2,592,000 s = 30 days, exclusive): a record made more than a month after the fact is not a
contemporaneous record; one month is one monthly reporting cycle of a municipality
(docs/LEDGER.md "Two clocks"). The replay has the same threshold in its own code."""

VERDICTS: tuple[tuple[str, str, str], ...] = (
    ("status", "met_at", "due_date"),
    ("status_on_record", "met_on_record_at", "due_date"),
    ("status_original_terms", "met_at_original_terms", "original_due_date"),
    ("status_on_record_original_terms", "met_on_record_at_original_terms", "original_due_date"),
)
"""The four statuses of a commitment: (status field, its ``met_at`` column, its due date
column), as in docs/LEDGER.md; the column names are those of ``ledger.db.models.Commitment``
and of the API."""


# ---------------------------------------------------------------------------- the mapping


def status_of(withdrawn: bool, delivered: int, met_at: int | None, due_date: int, now: int) -> str:
    """The status of a commitment at ``now`` (the one mapping; see module docstring).

    Args:
        withdrawn: whether the commitment was withdrawn.
        delivered: sum of its non-revoked deliveries, in its unit (>= 0).
        met_at: when the target was met on the chosen clock, Unix seconds; ``None`` while not met.
        due_date: the due date of the chosen terms, Unix seconds.
        now: evaluation time, Unix seconds.

    Returns:
        One of :data:`STATUSES`.
    """
    if withdrawn:
        return "withdrawn"
    if met_at is not None:
        return "delivered" if met_at <= due_date else "delivered_late"
    if now > due_date:
        return "overdue"
    if delivered > 0:
        return "in_progress"
    return "pending"


def status_sql(now: int, table: Any = None, *, met_at: str = "met_at", due_date: str = "due_date") -> ColumnElement[str]:
    """The mapping as a SQL ``CASE`` expression at ``now`` (bound as a parameter), for
    ``WHERE status IN (...)`` and ``GROUP BY``.

    Args:
        now: evaluation time, Unix seconds.
        table: table, ORM entity or alias with the columns ``withdrawn``,
            ``delivered_quantity`` and the two named below;
            :class:`ledger.db.models.Commitment` by default.
        met_at: name of the ``met_at`` column of the clock and terms (see :data:`VERDICTS`).
        due_date: name of the due date column of the terms.

    Returns:
        A string-valued SQL expression whose values are :data:`STATUSES`.
    """
    if table is None:
        from ledger.db.models import Commitment

        table = Commitment
    cols = getattr(table, "c", table)
    met = getattr(cols, met_at)
    due = getattr(cols, due_date)
    return case(
        (cols.withdrawn.is_(True), literal("withdrawn")),
        (and_(met.is_not(None), met <= due), literal("delivered")),
        (met.is_not(None), literal("delivered_late")),
        (due < literal(int(now), BigInteger), literal("overdue")),
        (cols.delivered_quantity != 0, literal("in_progress")),  # a DecimalInteger: only == 0 works in SQL
        else_=literal("pending"),
    )


def verdict_sql(status_field: str, now: int, table: Any = None) -> ColumnElement[str]:
    """:func:`status_sql` for one field of :data:`VERDICTS` (e.g. ``"status_on_record"``).

    Raises:
        KeyError: not a status field of :data:`VERDICTS`.
    """
    _, met_at, due_date = _VERDICT_BY_FIELD[status_field]
    return status_sql(now, table, met_at=met_at, due_date=due_date)


_VERDICT_BY_FIELD = {v[0]: v for v in VERDICTS}


def verdicts(row: Any, now: int) -> dict[str, str]:
    """The four statuses of a commitment row at ``now``: ``{status field: status}`` for each
    of :data:`VERDICTS`, all from :func:`status_of`.

    Args:
        row: anything with the attributes ``withdrawn``, ``delivered_quantity`` and the
            ``met_at`` / due date columns of :data:`VERDICTS` (a ``Commitment`` row).
        now: evaluation time, Unix seconds.
    """
    return {
        field: status_of(row.withdrawn, row.delivered_quantity, getattr(row, met), getattr(row, due), now)
        for field, met, due in VERDICTS
    }


def met_only_under_relaxed_terms(status: str, status_original_terms: str) -> bool:
    """Whether the claimed-clock verdict is better under the current terms than under the
    original ones (docs/LEDGER.md): ``status`` is ``delivered`` and the original-terms status
    is not, or ``status`` is ``delivered_late`` and the original-terms status is neither
    ``delivered`` nor ``delivered_late``."""
    if status == "delivered":
        return status_original_terms != "delivered"
    if status == "delivered_late":
        return status_original_terms not in ("delivered", "delivered_late")
    return False


def met_only_under_relaxed_terms_sql(now: int, table: Any = None) -> ColumnElement[bool]:
    """:func:`met_only_under_relaxed_terms` as a SQL boolean expression at ``now``."""
    current = verdict_sql("status", now, table)
    original = verdict_sql("status_original_terms", now, table)
    return case(
        (current == literal("delivered"), original != literal("delivered")),
        (current == literal("delivered_late"), original.not_in(["delivered", "delivered_late"])),
        else_=literal(False),
    )


def progress_bps(delivered: int, target: int) -> int:
    """``floor(delivered * 10000 / target)``: progress in basis points (may exceed 10000).

    Raises:
        ZeroDivisionError: ``target`` is 0 (the contract never allows it).
    """
    return delivered * 10_000 // target


# ---------------------------------------------------------------------------- the two clocks


def claimed_met_at(deliveries: Iterable[tuple[int, int]], target: int) -> int | None:
    """The claimed ``met_at`` (prefix rule): the earliest claimed date t such that the
    deliveries claimed on or before t sum to at least ``target``; ``None`` if they never do.

    Args:
        deliveries: ``(delivered_at, quantity)`` of the non-revoked deliveries (a revoked
            delivery never happened), in any order; Unix seconds, the commitment's unit.
        target: the target of the terms (current or original), >= 1.
    """
    running = 0
    for delivered_at, quantity in sorted(deliveries):
        running += quantity
        if running >= target:
            return delivered_at
    return None


@dataclass(frozen=True)
class OnRecord:
    """The on-record running state of one set of terms: the delivered total of non-revoked
    deliveries and ``met_at`` (the block time the target was met on record, ``None`` while
    not met). Its transitions are the contract's (docs/LEDGER.md "Status rules"), applied in
    (block, log index) order; every one keeps ``met_at is not None`` exactly when
    ``total >= target``."""

    total: int = 0
    met_at: int | None = None

    def delivered(self, quantity: int, target: int, recorded_at: int) -> "OnRecord":
        """After a delivery of ``quantity`` recorded at ``recorded_at`` (block time)."""
        total = self.total + quantity
        met_at = self.met_at if self.met_at is not None or total < target else recorded_at
        return OnRecord(total, met_at)

    def revoked(self, quantity: int, target: int) -> "OnRecord":
        """After the revocation of a delivery of ``quantity``."""
        total = self.total - quantity
        return OnRecord(total, None if total < target else self.met_at)

    def retargeted(self, previous_target: int, target: int, amended_at: int) -> "OnRecord":
        """After an amendment that sets the target from ``previous_target`` to ``target`` at
        ``amended_at`` (block time): not met below it; met from the amendment if it was not
        met or the target was raised; else (lowered, already met) kept."""
        if self.total < target:
            return OnRecord(self.total, None)
        if self.met_at is None or target > previous_target:
            return OnRecord(self.total, amended_at)
        return self


# ---------------------------------------------------------------------------- record facts


def recording_lag_seconds(delivered_at: int, recorded_at: int) -> int:
    """``recorded_at - delivered_at``, seconds (>= 0: the contract refuses future claims)."""
    return recorded_at - delivered_at


def recording_lag_days(lag_seconds: int) -> int:
    """Whole days of a lag: ``floor(lag_seconds / 86400)``."""
    return lag_seconds // SECONDS_PER_DAY


def recorded_late(lag_seconds: int) -> bool:
    """Whether a delivery with this recording lag is *recorded late*
    (lag > :data:`RECORDED_LATE_AFTER_SECONDS`)."""
    return lag_seconds > RECORDED_LATE_AFTER_SECONDS


def historical_record(registered_at: int, original_due_date: int) -> bool:
    """Whether a commitment registered at ``registered_at`` (block time) is a historical
    record: registered after its original due date had passed."""
    return registered_at > original_due_date


@dataclass(frozen=True)
class AmendmentFlags:
    """What docs/LEDGER.md "Terms" reports of one amendment: ``after_due_date`` (made after
    the due date then in force had passed), ``lowered_target``, ``extended_due_date``."""

    after_due_date: bool
    lowered_target: bool
    extended_due_date: bool


def amendment_flags(
    amended_at: int, previous_target: int, target: int, previous_due_date: int, due_date: int
) -> AmendmentFlags:
    """The flags of an amendment made at ``amended_at`` (block time, Unix seconds) that set
    the target from ``previous_target`` to ``target`` and the due date from
    ``previous_due_date`` to ``due_date`` (equal when not named)."""
    return AmendmentFlags(
        after_due_date=amended_at > previous_due_date,
        lowered_target=target < previous_target,
        extended_due_date=due_date > previous_due_date,
    )


def registration_lag_days(registered_at: int, promised_at: int) -> int:
    """Whole days between the promise (claimed) and its registration (block time):
    ``floor((registered_at - promised_at) / 86400)``, >= 0."""
    return (registered_at - promised_at) // SECONDS_PER_DAY
