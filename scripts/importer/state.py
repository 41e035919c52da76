"""What the ledger already holds for one municipality, read through the public API."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .client import LedgerClient


@dataclass(frozen=True)
class OnChain:
    """Where a fact already on the ledger was recorded (the API's ``ChainRef``)."""

    tx_hash: str
    block_number: int

    @classmethod
    def from_ref(cls, ref: dict[str, Any] | None) -> OnChain | None:
        """From ``{"tx_hash", "block_number", ...}``, or None when the API gave none."""
        if not ref or not ref.get("tx_hash"):
            return None
        return cls(str(ref["tx_hash"]), int(ref["block_number"]))

    def as_json(self) -> dict[str, Any]:
        """``{"tx_hash", "block_number"}``."""
        return {"tx_hash": self.tx_hash, "block_number": self.block_number}


@dataclass(frozen=True)
class ExistingDelivery:
    """A delivery on the ledger (``quantity`` in the commitment's unit), where it was
    recorded and, if revoked, where the revocation was."""

    id: int
    external_ref: str
    quantity: int
    revoked: bool
    recorded: OnChain | None = None
    revocation: OnChain | None = None


@dataclass
class ExistingCommitment:
    """A commitment on the ledger, with its deliveries by external ref when they were read
    (``deliveries is None`` means "not read": the plan records nothing against it)."""

    id: int
    external_ref: str
    summary: dict[str, Any]
    deliveries: dict[str, ExistingDelivery] | None = None

    @property
    def registered(self) -> OnChain | None:
        """Where it was registered (the summary's ``registered``)."""
        return OnChain.from_ref(self.summary.get("registered"))


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
                revocation = d.get("revocation")
                existing.deliveries[delivery_ref] = ExistingDelivery(
                    int(d["id"]), delivery_ref, int(d["quantity"]), revocation is not None,
                    OnChain.from_ref(d.get("recorded")), OnChain.from_ref((revocation or {}).get("chain")),
                )
    return state
