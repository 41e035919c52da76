"""A delivery's second-party review (docs/LEDGER.md "Confirmations"), from the latest verdict
of each confirmer alone: ``disputed`` if any latest verdict is a dispute, else ``confirmed`` if
at least one is a confirmation, else ``unconfirmed``. Verdicts stay when the confirmer's role
is removed later."""

from __future__ import annotations

from typing import Any

from scripts.audit.model import BatchedDelivery, Delivery

REVIEWS: tuple[str, ...] = ("unconfirmed", "confirmed", "disputed")
"""Every review value."""


def review_of(delivery: Delivery | BatchedDelivery) -> str:
    """``disputed``, ``confirmed`` or ``unconfirmed`` (module docstring)."""
    latest = {v.verdict for v in delivery.verdicts.values()}
    if "disputed" in latest:
        return "disputed"
    if "confirmed" in latest:
        return "confirmed"
    return "unconfirmed"


def confirmations(delivery: Delivery | BatchedDelivery) -> list[dict[str, Any]]:
    """The latest verdicts that are confirmations, oldest first: ``[{"confirmer",
    "evidence_hash" (null when none cited), "at", "at_iso", "signer_held_role", "chain"}]``."""
    return [v.to_json() for v in delivery.verdicts.values() if v.verdict == "confirmed"]


def disputes(delivery: Delivery | BatchedDelivery) -> list[dict[str, Any]]:
    """The latest verdicts that are disputes, oldest first: ``[{"confirmer", "reason", "at",
    "at_iso", "signer_held_role", "chain"}]``."""
    return [v.to_json() for v in delivery.verdicts.values() if v.verdict == "disputed"]
