"""Fixtures for the auditor's replay tests.

``scenario`` writes, on this module's fresh ledger (``deployment``/``chain`` from
tests/conftest.py), one commitment per status and every kind of fact: amendments, a withdrawal,
deliveries recorded out of date order, revocations (one after withdrawal), registrar and admin
changes. Dates are relative to the chain's latest block time ``t0`` and at least a day away from
it, so statuses do not depend on when the test runs. ``chain`` (the server's client) is used
here only to write transactions and, in one test, as the ``statusOf`` oracle.
"""

from __future__ import annotations

from typing import Any

import pytest

from ledger.chain import LedgerChain, TxResult
from replay_support import DAY, DeliveryWritten, Scenario, Written, latest_block_time, sha256


def _register(chain: LedgerChain, key: str, values: tuple) -> tuple[int, TxResult]:
    tx = chain.send("registerCommitment", [values], key)
    return tx.event("CommitmentRegistered").args["commitment_id"], tx


@pytest.fixture(scope="module")
def scenario(chain: LedgerChain, roles: Any, rpc_url: str) -> Scenario:
    """One commitment per status plus every kind of fact (see the module docstring)."""
    t0 = latest_block_time(rpc_url)
    baarn = roles.registrar.key
    utrecht = roles.other_registrar.key
    commitments: dict[str, Written] = {}
    deliveries: dict[int, DeliveryWritten] = {}

    def register(name: str, key: str, values: tuple) -> Written:
        commitment_id, tx = _register(chain, key, values)
        commitments[name] = Written(commitment_id, values, tx)
        return commitments[name]

    def deliver(written: Written, key: str, registrar: str, values: tuple) -> DeliveryWritten:
        tx = chain.send("recordDelivery", [written.id, values], key)
        delivery_id = tx.event("DeliveryRecorded").args["delivery_id"]
        deliveries[delivery_id] = DeliveryWritten(delivery_id, written.id, values, tx, registrar)
        written.deliveries.append(delivery_id)
        return deliveries[delivery_id]

    def revoke(delivery: DeliveryWritten, key: str, reason: str) -> None:
        delivery.revocation = (reason, chain.send("revokeDelivery", [delivery.id, reason], key))

    reg = roles.registrar.address
    other = roles.other_registrar.address

    pending = register(
        "pending",
        baarn,
        (1, "groen-001", "Plant 10 trees", "Ten trees along the Eemnesserweg.", "Groen", 10, "trees",
         t0 + 30 * DAY, sha256(b"council decision 2025-17"), "https://baarn.nl/besluit-17"),
    )
    in_progress = register(
        "in_progress",
        baarn,
        (1, "wonen-002", "Build 300 homes", "", "Wonen", 300, "homes", t0 + 30 * DAY, b"\x00" * 32, ""),
    )
    deliver(in_progress, baarn, reg, (60, t0 - 5 * DAY, [sha256(b"permit A")], "https://baarn.nl/a", "first block", "lev-1"))
    deliver(in_progress, baarn, reg, (40, t0 - 3 * DAY, [sha256(b"permit B")], "", "", ""))

    delivered = register(
        "delivered",
        baarn,
        (1, "energie-003", "Insulate 100 schools", "Ünïcode déscription ✓", "Energie", 100, "schools",
         t0 - 1 * DAY, sha256(b"plan"), "ipfs://plan"),
    )
    late_one = deliver(
        delivered, baarn, reg,
        (60, t0 - 2 * DAY, [sha256(b"invoice 1"), sha256(b"photo 1")], "https://baarn.nl/e", "batch 3", "b3"),
    )
    double = deliver(delivered, baarn, reg, (50, t0 - 10 * DAY, [sha256(b"invoice 2")], "", "batch 2", "b2"))
    deliver(delivered, baarn, reg, (50, t0 - 20 * DAY, [sha256(b"invoice 3")], "", "batch 1, recorded last", "b1"))
    revoke(double, baarn, "Counted twice")

    late = register(
        "delivered_late",
        baarn,
        (1, "mobiliteit-004", "Five bike sheds", "d", "Mobiliteit", 5, "sheds", t0 - 10 * DAY, b"\x00" * 32, ""),
    )
    deliver(late, baarn, reg, (5, t0 - 4 * DAY, [sha256(b"sheds")], "", "", ""))

    overdue = register(
        "overdue",
        baarn,
        (1, "zorg-005", "Fifty care places", "d", "Zorg", 50, "places", t0 - 1 * DAY, b"\x00" * 32, ""),
    )
    deliver(overdue, baarn, reg, (10, t0 - 3 * DAY, [sha256(b"care")], "", "", ""))

    withdrawn = register(
        "withdrawn",
        utrecht,
        (2, "UT-1", "Seven bridges", "Bridges over the Vaartsche Rijn.", "Infra", 7, "bridges", t0 + 5 * DAY,
         b"\x00" * 32, "https://utrecht.nl/b"),
    )
    bridge = deliver(withdrawn, utrecht, other, (3, t0 - 1 * DAY, [sha256(b"bridge")], "", "", ""))
    amendment = ("Seven bridges", "Bridges over the Vaartsche Rijn.", 8, t0 + 60 * DAY, "One more bridge")
    withdrawn.amendments.append((amendment, chain.send("amendCommitment", [withdrawn.id, amendment], utrecht)))
    withdrawn.withdrawal = ("Council cancelled the plan", chain.send("withdrawCommitment", [withdrawn.id, "Council cancelled the plan"], utrecht))
    revoke(bridge, utrecht, "Revoked after withdrawal")

    amended = register(
        "amended",
        baarn,
        (1, "wonen-006", "Renovate 10 homes", "Old text", "Wonen", 10, "homes", t0 + 10 * DAY, sha256(b"x"), ""),
    )
    for values in (
        ("Renovate 10 homes", "Old text", 20, t0 + 20 * DAY, "Budget grew"),
        ("Renovate 20 homes", "New text", 20, t0 + 20 * DAY, "Title follows the target"),
    ):
        amended.amendments.append((values, chain.send("amendCommitment", [amended.id, values], baarn)))
    deliver(amended, baarn, reg, (25, t0 - 1 * DAY, [sha256(b"keys")], "", "25 homes done", "k1"))

    extra = {
        "registrar_added": chain.send("addRegistrar", [1, roles.stranger.address], roles.council_admin.key),
        "registrar_removed": chain.send("removeRegistrar", [1, roles.stranger.address], roles.council_admin.key),
        "admin_changed": chain.send("changeMunicipalityAdmin", [2, roles.stranger.address], roles.platform_admin.key),
    }
    return Scenario(t0, commitments, deliveries, extra)
