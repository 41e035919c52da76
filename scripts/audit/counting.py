"""Which deliveries of a commitment count, decided when each is recorded (docs/LEDGER.md
"Assets", "Batches"): the running state of one commitment's external refs and counted assets.

- A recorded delivery (``DeliveryRecorded``) whose normalised asset is already named by a
  counted, not (yet) revoked delivery of the commitment is ``double_counted``: it never counts.
  Its external ref is taken either way (the contract keeps it).
- A leaf of a verified batch, not refused for reasons 1–4 of :mod:`scripts.audit.leaves`, is
  refused ``duplicate_external_ref`` if its non-empty ref is already taken (by any recorded
  delivery, or a counted leaf; revoked ones included), else ``asset_already_counted`` if its
  asset is so named. A counted leaf takes its ref and asset.
- A revocation frees the asset of the delivery it revokes (if that one held it), so a later
  delivery of the asset counts; it never makes an earlier double count count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from scripts.audit.model import BatchedDelivery, Delivery


@dataclass
class DeliveryCounter:
    """The running state of one commitment.

    Attributes:
        refs: external refs taken (non-empty).
        assets: normalised asset → the counted, not revoked delivery naming it.
    """

    refs: set[str] = field(default_factory=set)
    assets: dict[str, Delivery | BatchedDelivery] = field(default_factory=dict)

    def record(self, delivery: Delivery) -> bool:
        """Take a recorded delivery; sets and returns ``delivery.double_counted``."""
        delivery.double_counted = bool(delivery.asset_key) and delivery.asset_key in self.assets
        if delivery.external_ref:
            self.refs.add(delivery.external_ref)
        if not delivery.double_counted and delivery.asset_key:
            self.assets[delivery.asset_key] = delivery
        return delivery.double_counted

    def running_refusal(self, leaf: BatchedDelivery) -> str | None:
        """Reason 5 or 6 of :mod:`scripts.audit.leaves` for ``leaf`` now, else ``None``."""
        if leaf.external_ref and leaf.external_ref in self.refs:
            return "duplicate_external_ref"
        if leaf.asset_key and leaf.asset_key in self.assets:
            return "asset_already_counted"
        return None

    def anchor(self, leaf: BatchedDelivery) -> None:
        """Take a leaf that counted (``leaf.refused_reason`` is ``None``): its ref and asset."""
        if leaf.external_ref:
            self.refs.add(leaf.external_ref)
        if leaf.asset_key:
            self.assets[leaf.asset_key] = leaf

    def revoke(self, delivery: Delivery | BatchedDelivery) -> None:
        """``delivery`` was revoked: it no longer holds its asset."""
        if delivery.asset_key and self.assets.get(delivery.asset_key) is delivery:
            del self.assets[delivery.asset_key]
