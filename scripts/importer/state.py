"""What the ledger already holds for one municipality, read through the public API."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .client import LedgerClient


@dataclass(frozen=True)
class ExistingDelivery:
    """A delivery on the ledger (``quantity`` in the commitment's unit)."""

    id: int
    external_ref: str
    quantity: int
    revoked: bool


@dataclass
class ExistingCommitment:
    """A commitment on the ledger, with its deliveries by external ref when they were read
    (``deliveries is None`` means "not read": the plan records nothing against it)."""

    id: int
    external_ref: str
    summary: dict[str, Any]
    deliveries: dict[str, ExistingDelivery] | None = None


@dataclass
class LedgerState:
    """Commitments of one municipality by external ref."""

    municipality_id: int | None
    commitments: dict[str, ExistingCommitment] = field(default_factory=dict)

    @classmethod
    def empty(cls, municipality_id: int | None = None) -> LedgerState:
        """A state with nothing registered (a municipality that has no commitments yet)."""
        return cls(municipality_id)


def read_state(client: LedgerClient, municipality_id: int, with_deliveries: Iterable[str] = ()) -> LedgerState:
    """Read the municipality's commitments (paginated list) and, for the commitments whose
    external ref is in ``with_deliveries``, their deliveries (one detail request each).

    Raises:
        ApiProblemError, ApiUnreachableError: from the client.
    """
    wanted = set(with_deliveries)
    state = LedgerState(municipality_id)
    for summary in client.iter_commitments(municipality_id):
        ref = str(summary["external_ref"])
        state.commitments[ref] = ExistingCommitment(int(summary["id"]), ref, summary)
    for ref in sorted(wanted & set(state.commitments)):
        existing = state.commitments[ref]
        detail = client.commitment(existing.id)
        existing.deliveries = {}
        for d in detail.get("deliveries") or []:
            delivery_ref = str(d.get("external_ref") or "")
            if delivery_ref:
                existing.deliveries[delivery_ref] = ExistingDelivery(
                    int(d["id"]), delivery_ref, int(d["quantity"]), d.get("revocation") is not None
                )
    return state
