"""Progress and status of a commitment, per the rules in ``ICommitmentLedger``'s header.

Written from the interface's text, not from the contract or the server:

- ``delivered`` = sum of the quantities of the non-revoked deliveries;
- ``met_at`` = the earliest delivery date t such that the non-revoked deliveries dated <= t
  sum to at least the target (``None`` when the target is not reached);
- ``progress_bps`` = floor(delivered * 10000 / target), may exceed 10000;
- status at ``now``: withdrawn; else delivered if met and met_at <= due date; else
  delivered_late if met; else overdue if now > due date; else in_progress if delivered > 0;
  else pending.

All times are Unix seconds; quantities are integers in the commitment's unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from scripts.audit.model import Commitment, Delivery

STATUSES: tuple[str, ...] = ("pending", "in_progress", "delivered", "delivered_late", "overdue", "withdrawn")
"""Every status, in the order of the contract's ``Status`` enum."""


@dataclass(frozen=True)
class Progress:
    """A commitment's figures at one moment.

    Attributes:
        delivered_quantity: sum of non-revoked deliveries (commitment's unit).
        target_quantity: current target (commitment's unit).
        progress_bps: floor(delivered * 10000 / target), basis points.
        met_at: Unix seconds the target was met, ``None`` if not met.
        status: one of :data:`STATUSES`, evaluated at ``now``.
        now: the Unix time the status was evaluated at.
    """

    delivered_quantity: int
    target_quantity: int
    progress_bps: int
    met_at: int | None
    status: str
    now: int


def counted(deliveries: Iterable[Delivery]) -> list[Delivery]:
    """The deliveries that count: those not revoked."""
    return [d for d in deliveries if not d.revoked]


def delivered_quantity(deliveries: Iterable[Delivery]) -> int:
    """Sum of the quantities of the non-revoked ``deliveries``."""
    return sum(d.quantity for d in counted(deliveries))


def met_at(deliveries: Iterable[Delivery], target_quantity: int) -> int | None:
    """The earliest delivery date t such that the non-revoked deliveries dated <= t sum to at
    least ``target_quantity``; ``None`` if they never do. Recording order does not matter,
    only delivery dates.

    Raises:
        ValueError: ``target_quantity`` is not positive.
    """
    if target_quantity <= 0:
        raise ValueError(f"target_quantity must be positive, got {target_quantity}")
    running = 0
    for delivery in sorted(counted(deliveries), key=lambda d: d.delivered_at):
        running += delivery.quantity
        if running >= target_quantity:
            return delivery.delivered_at
    return None


def progress_bps(delivered: int, target_quantity: int) -> int:
    """floor(delivered * 10000 / target), basis points (may exceed 10000).

    Raises:
        ValueError: ``target_quantity`` is not positive.
    """
    if target_quantity <= 0:
        raise ValueError(f"target_quantity must be positive, got {target_quantity}")
    return (delivered * 10_000) // target_quantity


def status_at(
    *, withdrawn: bool, delivered: int, target_quantity: int, met_at: int | None, due_date: int, now: int
) -> str:
    """The status per the interface's rules at Unix time ``now`` (due passed when now > due)."""
    if withdrawn:
        return "withdrawn"
    if delivered >= target_quantity and met_at is not None:
        return "delivered" if met_at <= due_date else "delivered_late"
    if now > due_date:
        return "overdue"
    if delivered > 0:
        return "in_progress"
    return "pending"


def evaluate(commitment: Commitment, now: int) -> Progress:
    """Figures and status of ``commitment`` at Unix time ``now``."""
    delivered = delivered_quantity(commitment.deliveries)
    reached = met_at(commitment.deliveries, commitment.target_quantity)
    return Progress(
        delivered_quantity=delivered,
        target_quantity=commitment.target_quantity,
        progress_bps=progress_bps(delivered, commitment.target_quantity),
        met_at=reached,
        status=status_at(
            withdrawn=commitment.withdrawn,
            delivered=delivered,
            target_quantity=commitment.target_quantity,
            met_at=reached,
            due_date=commitment.due_date,
            now=now,
        ),
        now=now,
    )


def possible_statuses(commitment: Commitment, earliest: int, latest: int) -> set[str]:
    """Every status ``commitment`` has at some time in ``earliest..latest`` (inclusive, Unix
    seconds). Only the due date moves a status with time, so checking both ends and the
    moments around the due date is enough."""
    moments = {earliest, latest}
    for t in (commitment.due_date, commitment.due_date + 1):
        if earliest <= t <= latest:
            moments.add(t)
    return {evaluate(commitment, t).status for t in moments}
