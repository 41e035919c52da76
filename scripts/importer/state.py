"""What the ledger already holds for one municipality, read through the public API."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .client import LedgerClient
from .limits import normalise_external_ref

DETAIL_TEXT_FIELDS = ("description", "source_uri", "source_document_sha256")
"""What only a commitment's detail shows (not the list): merged into its ``summary`` when
`read_state` reads the detail for its texts."""


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
    recorded and, if revoked, where the revocation was.

    ``id`` is the delivery id of a recorded delivery, the ``0x`` leaf hash of a batched one
    (``batch_root`` then names its batch; docs/LEDGER.md "Batches")."""

    id: int | str
    external_ref: str
    quantity: int
    revoked: bool
    recorded: OnChain | None = None
    revocation: OnChain | None = None
    batch_root: str | None = None

    @property
    def batched(self) -> bool:
        """Whether it is a leaf of an anchored batch."""
        return self.batch_root is not None


@dataclass
class ExistingCommitment:
    """A commitment on the ledger, with its deliveries by external ref when they were read
    (``deliveries is None`` means "not read": the plan records nothing against it).

    ``refused_leaves``: external ref → reason of the leaves of anchored batches that readers
    did not count (``refused_reason``, e.g. ``asset_already_counted``): not deliveries, so a
    re-run plans them again (and the API refuses them again if the reason still holds)."""

    id: int
    external_ref: str
    summary: dict[str, Any]
    deliveries: dict[str, ExistingDelivery] | None = None
    refused_leaves: dict[str, str] = field(default_factory=dict)

    @property
    def registered(self) -> OnChain | None:
        """Where it was registered (the summary's ``registered``)."""
        return OnChain.from_ref(self.summary.get("registered"))


@dataclass
class LedgerState:
    """Commitments of one municipality by external ref (its NFC form,
    ``ledger.limits.normalise_external_ref``, as the plan names it; ``ExistingCommitment.external_ref``
    is the ref as the chain holds it).

    ``commitment_total``: how many commitments the whole ledger holds (all municipalities;
    ids count from 1, so the next one registered gets ``commitment_total + 1``), or None when
    not read. A dry run uses it to predict the ids, and so the roots, of batches whose
    commitments are not registered yet."""

    municipality_id: int | None
    commitments: dict[str, ExistingCommitment] = field(default_factory=dict)
    commitment_total: int | None = None

    @classmethod
    def empty(cls, municipality_id: int | None = None) -> LedgerState:
        """A state with nothing registered (a municipality that has no commitments yet)."""
        return cls(municipality_id)


def read_state(client: LedgerClient, municipality_id: int, with_deliveries: Iterable[str] = (),
               with_texts: Iterable[str] = ()) -> LedgerState:
    """Read the municipality's commitments (paginated list) and, for the commitments whose
    external ref is in ``with_deliveries``, their deliveries (one detail request each). Refs are
    keyed by their NFC form (``normalise_external_ref``), so a ref the chain holds in another
    form (sent before the API normalised refs) is found by the row that names it in NFC.
    For the refs in ``with_texts`` the detail's `DETAIL_TEXT_FIELDS` are merged into the
    ``summary`` (a re-import that may amend descriptions compares them; one detail request
    each, shared with ``with_deliveries``).

    Raises:
        ApiProblemError, ApiUnreachableError: from the client.
    """
    wanted = set(with_deliveries)
    texts = set(with_texts)
    state = LedgerState(municipality_id, commitment_total=client.commitment_count())
    for summary in client.iter_commitments(municipality_id):
        ref = str(summary["external_ref"])
        state.commitments[normalise_external_ref(ref)] = ExistingCommitment(int(summary["id"]), ref, summary)
    for ref in sorted((wanted | texts) & set(state.commitments)):
        existing = state.commitments[ref]
        detail = client.commitment(existing.id)
        if ref in texts:
            existing.summary = {**existing.summary, **{name: detail.get(name) for name in DETAIL_TEXT_FIELDS if name in detail}}
        if ref not in wanted:
            continue
        existing.deliveries = {}
        for d in detail.get("deliveries") or []:
            held = str(d.get("external_ref") or "")
            delivery_ref = normalise_external_ref(held)
            if not delivery_ref:
                continue
            if d.get("kind") == "batched" and d.get("refused_reason") and d.get("revocation") is None:
                existing.refused_leaves[delivery_ref] = str(d["refused_reason"])
                continue
            revocation = d.get("revocation")
            batched = d.get("kind") == "batched"
            existing.deliveries[delivery_ref] = ExistingDelivery(
                str(d.get("leaf_hash") or d["id"]) if batched else int(d["id"]), held, int(d["quantity"]),
                revocation is not None, OnChain.from_ref(d.get("recorded")), OnChain.from_ref((revocation or {}).get("chain")),
                str(d["batch_root"]) if batched else None,
            )
    return state
