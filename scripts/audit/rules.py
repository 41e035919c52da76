"""The rules of docs/LEDGER.md, written again for the auditor from that text alone (not from
the contract, ``ledger/status.py`` or the API): one status mapping, two clocks, two sets of
terms, and the derived facts (lags, recorded late, historical record, amendment flags).

- ``delivered`` = sum of the quantities of the deliveries that count: recorded ones neither
  revoked nor double counted, and leaves of verified batches neither refused nor revoked
  (docs/LEDGER.md "Batches", "Assets"; decided by the projection when each was recorded);
- claimed ``met_at`` = the earliest claimed ``delivered_at`` t such that the non-revoked
  deliveries claimed on or before t sum to at least the target (a revocation counts
  retroactively);
- on-record ``met_on_record_at`` = a running state over the event log in (block, log index)
  order: delivery → total += q, if not met and total ≥ target then met = recorded_at;
  revocation → total −= q, if total < target then not met; amendment of the target → if
  total < new target then not met, else if not met or the target was raised then met =
  amended_at, else keep. For the original terms, amendments are ignored;
- ``progress_bps`` = ⌊delivered × 10,000 / target⌋ (may exceed 10,000);
- status at ``now``: withdrawn; delivered if met_at ≠ None and met_at ≤ due date;
  delivered_late if met_at ≠ None; overdue if now > due date; in_progress if delivered > 0;
  pending otherwise.

- confirmed figures (docs/LEDGER.md "Confirmations"): the same mapping on the claimed clock and
  current terms, counting only the deliveries whose review is ``confirmed``.

Flags a sceptical reader looks for, as predicates: :func:`recorded_late`,
:func:`historical_record`, :func:`after_due_date`, :func:`batch_not_verifiable`,
:func:`disputed_delivery`, :func:`double_counted_asset`.

All times are Unix seconds; quantities are integers in the commitment's unit.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator

from scripts.audit.model import Amendment, Batch, BatchedDelivery, Commitment, Delivery, ProgressStep
from scripts.audit.review import review_of

AnyDelivery = Delivery | BatchedDelivery
"""A recorded or a batched delivery."""

STATUSES: tuple[str, ...] = ("pending", "in_progress", "delivered", "delivered_late", "overdue", "withdrawn")
"""Every status, in the order of the contract's ``Status`` enum."""

SECONDS_PER_DAY = 86_400

RECORDED_LATE_AFTER_SECONDS = 30 * SECONDS_PER_DAY
"""A delivery is *recorded late* when ``recorded_at - delivered_at`` is more than this
(2,592,000 s = 30 days: one monthly reporting cycle). The same rule as docs/LEDGER.md "Two
clocks" (and the server's constant of the same name), kept here with the auditor's own code."""

STATUS_FIELDS: tuple[str, ...] = (
    "status", "status_on_record", "status_original_terms", "status_on_record_original_terms", "status_confirmed",
)
"""The statuses of a commitment: the four of docs/LEDGER.md "Status rules" and
``status_confirmed`` ("Confirmations")."""


@dataclass(frozen=True)
class Evaluation:
    """A commitment's figures and four statuses at one moment (field names of docs/LEDGER.md).

    Attributes:
        delivered_quantity: sum of non-revoked deliveries (commitment's unit).
        target_quantity, due_date: current terms.
        original_target_quantity, original_due_date: the registered terms.
        progress_bps, progress_bps_original_terms: ⌊delivered × 10,000 / target⌋ against each.
        met_at, met_on_record_at, met_at_original_terms, met_on_record_at_original_terms:
            Unix seconds, ``None`` while not met (claimed / on record × current / original).
        status, status_on_record, status_original_terms, status_on_record_original_terms:
            one of :data:`STATUSES` each, evaluated at ``now``.
        met_only_under_relaxed_terms: the claimed verdict is better under the current terms.
        confirmed_quantity, unconfirmed_quantity, disputed_quantity: of the counted deliveries,
            those whose review is confirmed; not confirmed (unconfirmed + disputed); disputed.
        status_confirmed, met_at_confirmed, progress_bps_confirmed: the claimed clock and
            current terms counting confirmed deliveries only.
        now: the Unix time the statuses were evaluated at.
    """

    delivered_quantity: int
    target_quantity: int
    due_date: int
    original_target_quantity: int
    original_due_date: int
    progress_bps: int
    progress_bps_original_terms: int
    met_at: int | None
    met_on_record_at: int | None
    met_at_original_terms: int | None
    met_on_record_at_original_terms: int | None
    status: str
    status_on_record: str
    status_original_terms: str
    status_on_record_original_terms: str
    met_only_under_relaxed_terms: bool
    confirmed_quantity: int
    unconfirmed_quantity: int
    disputed_quantity: int
    status_confirmed: str
    met_at_confirmed: int | None
    progress_bps_confirmed: int
    now: int


def counted(deliveries: Iterable[AnyDelivery]) -> list[AnyDelivery]:
    """The deliveries that count now (``counts``: not revoked, not double counted, not a
    refused leaf)."""
    return [d for d in deliveries if d.counts]


def delivered_quantity(deliveries: Iterable[AnyDelivery]) -> int:
    """Sum of the quantities of the ``deliveries`` that count."""
    return sum(d.quantity for d in counted(deliveries))


def _positive(target_quantity: int) -> None:
    if target_quantity <= 0:
        raise ValueError(f"target_quantity must be positive, got {target_quantity}")


def claimed_met_at(deliveries: Iterable[AnyDelivery], target_quantity: int) -> int | None:
    """Claimed clock: the earliest claimed ``delivered_at`` t such that the counted
    deliveries claimed on or before t sum to at least ``target_quantity``; ``None`` if they
    never do. Recording order does not matter, only the claimed dates.

    Raises:
        ValueError: ``target_quantity`` is not positive.
    """
    _positive(target_quantity)
    running = 0
    for delivery in sorted(counted(deliveries), key=lambda d: d.delivered_at):
        running += delivery.quantity
        if running >= target_quantity:
            return delivery.delivered_at
    return None


def on_record_met_at(steps: Iterable[ProgressStep], target_quantity: int, *, follow_amendments: bool) -> int | None:
    """On-record clock: run the steps in log order from ``target_quantity`` (the registered
    target) and return the block time the target was met, ``None`` if not met at the end.

    Args:
        steps: the commitment's :class:`ProgressStep` log, in (block, log index) order.
        target_quantity: the original target, > 0.
        follow_amendments: apply ``"target"`` steps (current terms); ``False`` ignores them
            (original terms).

    Raises:
        ValueError: ``target_quantity`` is not positive, or a step has an unknown kind.
    """
    _positive(target_quantity)
    target = target_quantity
    total = 0
    met: int | None = None
    for step in steps:
        if step.kind == "delivery":
            total += step.quantity
            if met is None and total >= target:
                met = step.at
        elif step.kind == "revocation":
            total -= step.quantity
            if total < target:
                met = None
        elif step.kind == "target":
            if not follow_amendments:
                continue
            raised = step.quantity > target
            target = step.quantity
            if total < target:
                met = None
            elif met is None or raised:
                met = step.at
        else:
            raise ValueError(f"unknown progress step kind {step.kind!r}")
    return met


def progress_bps(delivered: int, target_quantity: int) -> int:
    """⌊delivered × 10,000 / target⌋, basis points (may exceed 10,000).

    Raises:
        ValueError: ``target_quantity`` is not positive.
    """
    _positive(target_quantity)
    return (delivered * 10_000) // target_quantity


def status_at(*, withdrawn: bool, delivered: int, met_at: int | None, due_date: int, now: int) -> str:
    """The one mapping of docs/LEDGER.md: (withdrawn, delivered, met_at, due_date, now) → status.
    The due date has passed when ``now > due_date``."""
    if withdrawn:
        return "withdrawn"
    if met_at is not None:
        return "delivered" if met_at <= due_date else "delivered_late"
    if now > due_date:
        return "overdue"
    if delivered > 0:
        return "in_progress"
    return "pending"


def relaxed_only(status: str, status_original_terms: str) -> bool:
    """``met_only_under_relaxed_terms``: the claimed verdict is better under the current terms
    than under the original ones: ``delivered`` while the original terms are not, or
    ``delivered_late`` while the original terms are neither ``delivered`` nor ``delivered_late``."""
    if status == "delivered":
        return status_original_terms != "delivered"
    if status == "delivered_late":
        return status_original_terms not in ("delivered", "delivered_late")
    return False


_kept: dict[tuple[int, int], tuple[Commitment, Evaluation]] | None = None


@contextmanager
def kept_evaluations() -> Iterator[None]:
    """Within the block, :func:`evaluate` computes each commitment's evaluation at a given
    time once and answers again from it: for a report built from a final state, which reads
    every commitment's statuses several times (counts, municipalities, the commitment itself)
    and changes nothing meanwhile. Nested blocks share the outer one's evaluations."""
    global _kept
    if _kept is not None:
        yield
        return
    _kept = {}
    try:
        yield
    finally:
        _kept = None


def evaluate(commitment: Commitment, now: int) -> Evaluation:
    """Figures and the statuses of ``commitment`` at Unix time ``now`` (computed once per
    commitment and time inside :func:`kept_evaluations`)."""
    if _kept is None:
        return _evaluate(commitment, now)
    key = (id(commitment), now)
    hit = _kept.get(key)
    if hit is None:  # the commitment is kept beside its evaluation: its id cannot be reused meanwhile
        hit = _kept[key] = (commitment, _evaluate(commitment, now))
    return hit[1]


def _evaluate(commitment: Commitment, now: int) -> Evaluation:
    deliveries = counted(commitment.all_deliveries)
    delivered = delivered_quantity(deliveries)
    target, due = commitment.target_quantity, commitment.due_date
    original_target, original_due = commitment.original_target_quantity, commitment.original_due_date
    met = claimed_met_at(deliveries, target)
    met_record = on_record_met_at(commitment.steps, original_target, follow_amendments=True)
    met_original = claimed_met_at(deliveries, original_target)
    met_record_original = on_record_met_at(commitment.steps, original_target, follow_amendments=False)
    reviews = [(d, review_of(d)) for d in deliveries]
    confirmed = [d for d, review in reviews if review == "confirmed"]
    confirmed_quantity = delivered_quantity(confirmed)
    met_confirmed = claimed_met_at(confirmed, target)

    def status(met_time: int | None, due_date: int, quantity: int = delivered) -> str:
        return status_at(withdrawn=commitment.withdrawn, delivered=quantity, met_at=met_time, due_date=due_date, now=now)

    status_current = status(met, due)
    status_original = status(met_original, original_due)
    return Evaluation(
        delivered_quantity=delivered,
        target_quantity=target,
        due_date=due,
        original_target_quantity=original_target,
        original_due_date=original_due,
        progress_bps=progress_bps(delivered, target),
        progress_bps_original_terms=progress_bps(delivered, original_target),
        met_at=met,
        met_on_record_at=met_record,
        met_at_original_terms=met_original,
        met_on_record_at_original_terms=met_record_original,
        status=status_current,
        status_on_record=status(met_record, due),
        status_original_terms=status_original,
        status_on_record_original_terms=status(met_record_original, original_due),
        met_only_under_relaxed_terms=relaxed_only(status_current, status_original),
        confirmed_quantity=confirmed_quantity,
        unconfirmed_quantity=delivered - confirmed_quantity,
        disputed_quantity=sum(d.quantity for d, review in reviews if review == "disputed"),
        status_confirmed=status(met_confirmed, due, confirmed_quantity),
        met_at_confirmed=met_confirmed,
        progress_bps_confirmed=progress_bps(confirmed_quantity, target),
        now=now,
    )


def possible_statuses(commitment: Commitment, earliest: int, latest: int) -> dict[str, set[str]]:
    """For each of :data:`STATUS_FIELDS`, every value it takes at some time in
    ``earliest..latest`` (inclusive, Unix seconds). Only the due dates (current and original)
    move a status with time, so both ends and the moments around each due date suffice."""
    moments = {earliest, latest}
    for due in (commitment.due_date, commitment.original_due_date):
        for t in (due, due + 1):
            if earliest <= t <= latest:
                moments.add(t)
    result: dict[str, set[str]] = {name: set() for name in STATUS_FIELDS}
    for t in moments:
        evaluation = evaluate(commitment, t)
        for name in STATUS_FIELDS:
            result[name].add(getattr(evaluation, name))
    return result


# ---------------------------------------------------------------------- deliveries


def recording_lag_seconds(delivery: AnyDelivery) -> int:
    """``recorded_at - delivered_at``, seconds (≥ 0 on a sound ledger)."""
    return delivery.recorded_at - delivery.delivered_at


def recording_lag_days(delivery: AnyDelivery) -> int:
    """⌊recording lag / 86,400⌋, whole days."""
    return recording_lag_seconds(delivery) // SECONDS_PER_DAY


def recorded_late(delivery: AnyDelivery) -> bool:
    """The lag is more than :data:`RECORDED_LATE_AFTER_SECONDS`."""
    return recording_lag_seconds(delivery) > RECORDED_LATE_AFTER_SECONDS


def recorded_late_count(commitment: Commitment) -> int:
    """Number of deliveries of ``commitment`` that count (recorded or batched) and were
    recorded late."""
    return sum(1 for d in counted(commitment.all_deliveries) if recorded_late(d))


def disputed_delivery(delivery: AnyDelivery) -> bool:
    """Flag: a confirmer's latest verdict on ``delivery`` is a dispute (its review is
    ``disputed``; docs/LEDGER.md "Confirmations")."""
    return review_of(delivery) == "disputed"


def double_counted_asset(delivery: AnyDelivery) -> bool:
    """Flag: ``delivery`` names an asset already counted for its commitment when it was
    recorded (a recorded one ``double_counted``, a leaf refused ``asset_already_counted``;
    docs/LEDGER.md "Assets"): it counts nothing."""
    return delivery.double_counted


def batch_not_verifiable(batch: Batch) -> bool:
    """Flag: ``batch`` is anchored but its contents could not be verified (file missing or
    not matching the chain: ``unverified_reason``); it counts nothing (docs/LEDGER.md "Batches")."""
    return not batch.verified


# ---------------------------------------------------------------------- commitments and amendments


def historical_record(commitment: Commitment) -> bool:
    """Registered after its original due date (``registered block time > original_due_date``)."""
    return commitment.registered.block_time > commitment.original_due_date


def registration_lag_days(commitment: Commitment) -> int:
    """⌊(registered block time − promised_at) / 86,400⌋, whole days."""
    return (commitment.registered.block_time - commitment.promised_at) // SECONDS_PER_DAY


def after_due_date(amendment: Amendment) -> bool:
    """Made after the due date then in force had passed: ``amended_at > previous_due_date``."""
    return amendment.amended_at > amendment.previous_due_date


def lowered_target(amendment: Amendment) -> bool:
    """``target_quantity < previous_target_quantity``."""
    return amendment.target_quantity < amendment.previous_target_quantity


def extended_due_date(amendment: Amendment) -> bool:
    """``due_date > previous_due_date``."""
    return amendment.due_date > amendment.previous_due_date


def amended_after_due_date(commitment: Commitment) -> bool:
    """Any amendment of ``commitment`` was made after its due date then in force."""
    return any(after_due_date(a) for a in commitment.amendments)


def target_lowered(commitment: Commitment) -> bool:
    """Any amendment of ``commitment`` lowered the target."""
    return any(lowered_target(a) for a in commitment.amendments)
