"""The stateful replay test's own simple model of the ledger (tests/replay/test_replay_stateful.py),
written from docs/LEDGER.md for the test: who holds which role, which writes the contract must
refuse, and what a reader must count (batches, leaves, double counts, reviews, roll-up, the
on-record running state). A module name unique in the suite (pytest imports helpers by
basename)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROLLUP_CAP_BPS = 10_000


def simple_asset_key(text: str) -> str:
    """The test's normalising rule for its ASCII asset refs: trimmed, inner whitespace runs as
    one space (docs/LEDGER.md "Assets"; NFC changes nothing in ASCII)."""
    return " ".join(text.split())


@dataclass
class MunicipalityModel:
    admin: str
    registrars: set[str]
    pending_admin: str | None = None
    recovery: tuple[str, int] | None = None  # (proposed admin, executable at)
    confirmers: set[str] = field(default_factory=set)


@dataclass
class BatchModel:
    """An anchored batch: ``fate`` says what the test did with its file (``kept``, ``withheld``,
    ``corrupted``, ``wrong_root``, ``garbage``, ``miscounted``); ``root`` is the anchored root,
    ``tree_root`` the root of the leaves (they differ only for ``wrong_root``)."""

    root: str
    tree_root: str
    municipality_id: int
    registrar: str
    fate: str
    leaves: list["DeliveryModel"] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.fate == "kept"

    @property
    def unverified_reason(self) -> str | None:
        return {
            "kept": None, "withheld": "missing", "corrupted": "sha256_mismatch", "wrong_root": "root_mismatch",
            "garbage": "unparseable", "miscounted": "leaf_count_mismatch",
        }[self.fate]

    @property
    def provable(self) -> bool:
        """Its leaves can be proven on chain (revoked, confirmed): the anchored root is theirs."""
        return self.root == self.tree_root and self.fate != "garbage"


@dataclass
class DeliveryModel:
    """A recorded delivery (``kind`` ``recorded``, ``delivery_id``) or a leaf (``batched``:
    ``batch``, ``index``, the ``leaf`` and its ``proof``). ``decision``: ``None`` when it counted
    when recorded, else ``"double_counted"`` (recorded) or the leaf's ``refused_reason``."""

    kind: str
    commitment_id: int
    quantity: int
    asset: str
    ref: str
    registrar: str
    decision: str | None = None
    revoked: bool = False
    verdicts: dict[str, str] = field(default_factory=dict)
    delivery_id: int | None = None
    batch: BatchModel | None = None
    index: int = 0
    leaf: Any = None
    proof: list[bytes] = field(default_factory=list)
    leaf_hash: str = ""

    @property
    def key(self) -> str:
        return str(self.delivery_id) if self.kind == "recorded" else f"{self.batch.root}#{self.index}"

    @property
    def asset_key(self) -> str:
        return simple_asset_key(self.asset)

    @property
    def counts(self) -> bool:
        return self.decision is None and not self.revoked

    def review(self) -> str:
        verdicts = set(self.verdicts.values())
        return "disputed" if "disputed" in verdicts else "confirmed" if "confirmed" in verdicts else "unconfirmed"


@dataclass
class CommitmentModel:
    """A commitment, and the on-record running state a reader keeps for it (docs/LEDGER.md
    "Status rules": ``total`` and ``met`` over the deliveries that count, in log order)."""

    municipality_id: int
    target: int
    due: int
    promised: int
    parent: int | None = None
    weight: int = 0
    amendments: int = 0
    withdrawn: bool = False
    recorded: list[DeliveryModel] = field(default_factory=list)
    children: list[int] = field(default_factory=list)
    total: int = 0
    met: int | None = None
    unseen_by_contract: bool = False

    def contract_delivered(self) -> int:
        """What ``statusOf`` counts: every recorded delivery not revoked (it cannot see leaves
        and compares assets byte for byte)."""
        return sum(d.quantity for d in self.recorded if not d.revoked)

    def counted(self, quantity: int, at: int) -> None:
        self.total += quantity
        if self.met is None and self.total >= self.target:
            self.met = at

    def uncounted(self, quantity: int) -> None:
        self.total -= quantity
        if self.total < self.target:
            self.met = None

    def retargeted(self, target: int, at: int) -> None:
        raised = target > self.target
        self.target = target
        if self.total < target:
            self.met = None
        elif self.met is None or raised:
            self.met = at


class LedgerModel:
    """Everything the test expects, with the decisions a reader makes (docs/LEDGER.md)."""

    def __init__(self, municipalities: dict[int, MunicipalityModel]) -> None:
        self.municipalities = municipalities
        self.commitments: dict[int, CommitmentModel] = {}
        self.batches: list[BatchModel] = []

    def deliveries_of(self, commitment_id: int) -> list[DeliveryModel]:
        """Recorded deliveries (id order), then leaves of verified batches naming it (log order)."""
        recorded = self.commitments[commitment_id].recorded if commitment_id in self.commitments else []
        leaves = [leaf for b in self.batches if b.verified for leaf in b.leaves if leaf.commitment_id == commitment_id]
        return [*recorded, *leaves]

    def delivered(self, commitment_id: int) -> int:
        return sum(d.quantity for d in self.deliveries_of(commitment_id) if d.counts)

    def refs_taken(self, commitment_id: int) -> set[str]:
        """External refs of every recorded delivery and counted leaf (revoked ones too)."""
        return {
            d.ref for d in self.deliveries_of(commitment_id)
            if d.ref and (d.kind == "recorded" or d.decision is None)
        }

    def asset_counted(self, commitment_id: int, asset: str) -> bool:
        key = simple_asset_key(asset)
        return bool(key) and any(d.counts and d.asset_key == key for d in self.deliveries_of(commitment_id))

    def contract_refuses_asset(self, commitment_id: int, asset: str) -> bool:
        """``LedgerAssetAlreadyCounted``: the same bytes name a recorded delivery not revoked."""
        return bool(asset) and any(d.asset == asset and not d.revoked for d in self.commitments[commitment_id].recorded)

    def record(self, delivery: DeliveryModel, at: int) -> None:
        """A recorded delivery the contract accepted, at block time ``at``: a double count if a
        counted delivery of the commitment names its asset."""
        commitment = self.commitments[delivery.commitment_id]
        if self.asset_counted(delivery.commitment_id, delivery.asset):
            delivery.decision = "double_counted"
            commitment.unseen_by_contract = True
        commitment.recorded.append(delivery)
        if delivery.decision is None:
            commitment.counted(delivery.quantity, at)

    def leaf_decision(self, leaf: DeliveryModel, municipality_id: int, valid: bool) -> str | None:
        """docs/LEDGER.md "Batches": the first refusal reason that applies, in order."""
        commitment = self.commitments.get(leaf.commitment_id)
        if commitment is None:
            return "unknown_commitment"
        if commitment.municipality_id != municipality_id:
            return "other_municipality"
        if commitment.withdrawn:
            return "commitment_withdrawn"
        if not valid:
            return "invalid_leaf"
        if leaf.ref and leaf.ref in self.refs_taken(leaf.commitment_id):
            return "duplicate_external_ref"
        if self.asset_counted(leaf.commitment_id, leaf.asset):
            return "asset_already_counted"
        return None

    def anchor(self, batch: BatchModel, validity: list[bool], at: int) -> None:
        """A batch the contract anchored at block time ``at``; a verified one's leaves are
        decided in file order."""
        self.batches.append(batch)
        for leaf in batch.leaves:
            leaf.decision = "undecided" if batch.verified else "unverified"
        if not batch.verified:
            return
        for leaf, valid in zip(batch.leaves, validity):
            leaf.decision = self.leaf_decision(leaf, batch.municipality_id, valid)
            if leaf.decision is None:
                commitment = self.commitments[leaf.commitment_id]
                commitment.unseen_by_contract = True
                commitment.counted(leaf.quantity, at)

    def revoke(self, delivery: DeliveryModel) -> None:
        counted = delivery.counts and (delivery.batch is None or delivery.batch.verified)
        delivery.revoked = True
        if counted:
            self.commitments[delivery.commitment_id].uncounted(delivery.quantity)

    def confirmed_and_disputed(self, commitment_id: int) -> tuple[int, int]:
        counting = [d for d in self.deliveries_of(commitment_id) if d.counts]
        return (
            sum(d.quantity for d in counting if d.review() == "confirmed"),
            sum(d.quantity for d in counting if d.review() == "disputed"),
        )

    def rollup(self, commitment_id: int) -> int:
        """docs/LEDGER.md "Sub-commitments": own progress capped, or the weighted roll-up of
        the non-withdrawn children."""
        commitment = self.commitments[commitment_id]
        live = [k for k in commitment.children if not self.commitments[k].withdrawn]
        if not live:
            return min(self.delivered(commitment_id) * 10_000 // commitment.target, ROLLUP_CAP_BPS)
        weights = sum(self.commitments[k].weight for k in live)
        return sum(self.commitments[k].weight * self.rollup(k) for k in live) // weights
