"""The roll-up of sub-commitments (docs/LEDGER.md "Sub-commitments", as Decidim
Accountability), written for the auditor from that text.

- A commitment without children that are not withdrawn rolls up as its own ``progress_bps``
  capped at 10,000;
- otherwise as ⌊Σ wᵢ · rᵢ / Σ wᵢ⌋ over its non-withdrawn children i, rᵢ each child's roll-up
  (recursively: grandchildren count through their parent).

``rollup_progress_bps`` is reported only for a commitment that has children (withdrawn ones
included), ``null`` otherwise. Nothing here depends on the evaluation time: progress and
"delivered or delivered late" (met on the claimed clock) do not.
"""

from __future__ import annotations

from dataclasses import dataclass

from scripts.audit import rules
from scripts.audit.model import Commitment

ROLLUP_CAP_BPS = 10_000
"""A commitment's own progress enters a roll-up capped at 100 %."""


@dataclass(frozen=True)
class Rollup:
    """A commitment's roll-up figures (field names of docs/LEDGER.md).

    Attributes:
        rollup_progress_bps: basis points, ``None`` for a commitment without children.
        rollup_children_delivered: non-withdrawn children whose ``status`` is ``delivered`` or
            ``delivered_late``.
        rollup_children_counted: non-withdrawn children.
    """

    rollup_progress_bps: int | None
    rollup_children_delivered: int
    rollup_children_counted: int


def _own(commitment: Commitment) -> int:
    """Own progress capped at :data:`ROLLUP_CAP_BPS`."""
    delivered = rules.delivered_quantity(commitment.all_deliveries)
    return min(rules.progress_bps(delivered, commitment.target_quantity), ROLLUP_CAP_BPS)


def rollup_value(commitment: Commitment, memo: dict[int, int] | None = None) -> int:
    """The value ``commitment`` enters its parent's roll-up with, basis points (module
    docstring). Iterative, so any depth of sub-commitments works; ``memo`` (id → value) may be
    shared between calls on one state."""
    memo = {} if memo is None else memo
    stack = [commitment]
    while stack:
        current = stack[-1]
        if current.id in memo:
            stack.pop()
            continue
        live = [c for c in current.children if not c.withdrawn]
        pending = [c for c in live if c.id not in memo]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        total_weight = sum(c.weight for c in live)
        if not live or total_weight == 0:
            memo[current.id] = _own(current)
        else:
            memo[current.id] = sum(c.weight * memo[c.id] for c in live) // total_weight
    return memo[commitment.id]


def delivered_verdict(commitment: Commitment) -> bool:
    """``status`` is ``delivered`` or ``delivered_late``: not withdrawn and met on the claimed
    clock under the current terms (true at every evaluation time alike)."""
    if commitment.withdrawn:
        return False
    return rules.claimed_met_at(commitment.all_deliveries, commitment.target_quantity) is not None


def rollup_of(commitment: Commitment, memo: dict[int, int] | None = None) -> Rollup:
    """The :class:`Rollup` of ``commitment``."""
    live = [c for c in commitment.children if not c.withdrawn]
    return Rollup(
        rollup_progress_bps=rollup_value(commitment, memo) if commitment.children else None,
        rollup_children_delivered=sum(1 for c in live if delivered_verdict(c)),
        rollup_children_counted=len(live),
    )
