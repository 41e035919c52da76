"""The status rules of a commitment, in Python (:func:`status_of`) and in SQL
(:func:`status_sql`), which must agree on every input (tests/db/test_status.py checks this).

Rules (contract interface header, README "Status rules"), evaluated at ``now``:

- ``withdrawn``      if the commitment was withdrawn;
- ``delivered``      else if delivered >= target and met_at <= due_date;
- ``delivered_late`` else if delivered >= target (met_at > due_date);
- ``overdue``        else if now > due_date;
- ``in_progress``    else if delivered > 0;
- ``pending``        otherwise.

``delivered`` is the sum of the non-revoked deliveries, ``target`` the current target,
``met_at`` the earliest delivery date t such that the non-revoked deliveries dated <= t sum to
at least the target (``None`` while not met). A ``met_at`` of ``None`` with delivered >= target
(which the projection never stores) counts as late, in both implementations. Times are Unix
seconds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ColumnElement, and_, case, literal

STATUSES = ("pending", "in_progress", "delivered", "delivered_late", "overdue", "withdrawn")
"""Every status, in the order of the contract's ``Status`` enum."""


def status_of(withdrawn: bool, delivered: int, target: int, met_at: int | None, due_date: int, now: int) -> str:
    """The status of a commitment at ``now``.

    Args:
        withdrawn: whether the commitment was withdrawn.
        delivered: sum of its non-revoked deliveries, in its unit.
        target: its current target quantity, in its unit.
        met_at: Unix seconds the target was met, or ``None``.
        due_date: its current due date, Unix seconds.
        now: evaluation time, Unix seconds.

    Returns:
        One of :data:`STATUSES`.
    """
    if withdrawn:
        return "withdrawn"
    if delivered >= target:
        if met_at is not None and met_at <= due_date:
            return "delivered"
        return "delivered_late"
    if now > due_date:
        return "overdue"
    if delivered > 0:
        return "in_progress"
    return "pending"


def progress_bps(delivered: int, target: int) -> int:
    """``floor(delivered * 10000 / target)``: progress in basis points (may exceed 10000).

    Raises:
        ZeroDivisionError: ``target`` is 0 (the contract never allows it).
    """
    return delivered * 10_000 // target


def status_sql(now: int, table: Any = None) -> ColumnElement[str]:
    """The status rules as a SQL ``CASE`` expression, evaluated at ``now`` (Unix seconds,
    bound as a parameter), for ``WHERE status IN (...)`` and ``GROUP BY status``.

    Args:
        now: evaluation time, Unix seconds.
        table: the table or ORM entity (or alias) whose columns ``withdrawn``,
            ``delivered_quantity``, ``target_quantity``, ``met_at``, ``due_date`` are
            used; :class:`ledger.db.models.Commitment` by default.

    Returns:
        A string-valued SQL expression whose values are :data:`STATUSES`.
    """
    if table is None:
        from ledger.db.models import Commitment

        table = Commitment
    cols = getattr(table, "c", table)
    delivered_enough = cols.delivered_quantity >= cols.target_quantity
    return case(
        (cols.withdrawn.is_(True), literal("withdrawn")),
        (and_(delivered_enough, cols.met_at.is_not(None), cols.met_at <= cols.due_date), literal("delivered")),
        (delivered_enough, literal("delivered_late")),
        (cols.due_date < literal(int(now), BigInteger), literal("overdue")),
        (cols.delivered_quantity > 0, literal("in_progress")),
        else_=literal("pending"),
    )
