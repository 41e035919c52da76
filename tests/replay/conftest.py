"""Fixtures for the auditor's replay tests.

``scenario`` writes, on this module's fresh v2 ledger (``deployment``/``chain`` from
tests/conftest.py), one commitment per status and every kind of fact: amendments by field, a
withdrawal, deliveries recorded out of date order (two in one ``multicall``), revocations (one
after withdrawal), the backdating, relaxed-terms and moved-deadline stories of issue 5, a
registrar added and removed, a recovery cancelled by the admin, a two-step handover, a pause,
and a completed 42-day recovery (the chain's clock is moved forward for it). Claimed dates are
relative to the chain's latest block time ``t0`` at the start and at least a day away from
it, so statuses evaluated at ``t0`` do not depend on when the test runs. ``chain`` (the
server's client) is used here only to write transactions and, in one test, as the
``statusOf`` oracle.

Each module here runs on an anvil of its own (:func:`rpc_url`): ``scenario`` and the stateful
test move the chain's clock forward (42 days and more), which would leave the session chain
ahead of the wall clock for every module after them on the same worker.
"""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from bench.anvil import throwaway_anvil

from ledger.chain import LedgerChain, TxResult
from replay_support import DAY, DeliveryWritten, Scenario, Written, advance_time, latest_block_time, sha256

ZERO = b"\x00" * 32
AMEND_TITLE, AMEND_DESCRIPTION, AMEND_TARGET, AMEND_DUE_DATE = 1, 2, 4, 8
RECOVERY_DELAY_SECONDS = 42 * DAY


@pytest.fixture(scope="module")
def rpc_url() -> Iterator[str]:
    """An anvil of this module's own (the standard mnemonic, chain id 31337), because the
    replay modules move the clock; ``LEDGER_TEST_RPC_URL`` is not used here."""
    with throwaway_anvil() as url:
        yield url


@pytest.fixture(scope="module")
def scenario(chain: LedgerChain, roles: Any, rpc_url: str) -> Scenario:
    """Every kind of fact (see the module docstring)."""
    t0 = latest_block_time(rpc_url)
    baarn = roles.registrar.key
    utrecht = roles.other_registrar.key
    reg = roles.registrar.address
    other = roles.other_registrar.address
    commitments: dict[str, Written] = {}
    deliveries: dict[int, DeliveryWritten] = {}

    def register(name: str, key: str, values: tuple) -> Written:
        values = values + (0, 0)  # no parent, no weight (the part 2 scenario has sub-commitments)
        tx = chain.send("registerCommitment", [values], key)
        commitments[name] = Written(tx.event("CommitmentRegistered").args["commitment_id"], values, tx)
        return commitments[name]

    def keep(written: Written, tx: TxResult, registrar: str, values: tuple, nth: int = 0) -> DeliveryWritten:
        delivery_id = [e for e in tx.events if e.name == "DeliveryRecorded"][nth].args["delivery_id"]
        deliveries[delivery_id] = DeliveryWritten(delivery_id, written.id, values, tx, registrar)
        written.deliveries.append(delivery_id)
        return deliveries[delivery_id]

    def deliver(written: Written, key: str, registrar: str, values: tuple) -> DeliveryWritten:
        values = values + ("",)  # no asset
        return keep(written, chain.send("recordDelivery", [written.id, values], key), registrar, values)

    def amend(written: Written, key: str, values: tuple) -> None:
        written.amendments.append((values, chain.send("amendCommitment", [written.id, values], key)))

    def revoke(delivery: DeliveryWritten, key: str, reason: str) -> None:
        delivery.revocation = (reason, chain.send("revokeDelivery", [delivery.id, reason], key))

    register(
        "pending", baarn,
        (1, "groen-001", "Plant 10 trees", "Ten trees along the Eemnesserweg.", "Groen", 10, "trees", t0 - 100 * DAY,
         t0 + 30 * DAY, sha256(b"council decision 2025-17"), "https://baarn.nl/besluit-17"),
    )
    in_progress = register(
        "in_progress", baarn, (1, "wonen-002", "Build 300 homes", "", "Wonen", 300, "homes", t0 - 50 * DAY, t0 + 30 * DAY, ZERO, ""),
    )
    first = (60, t0 - 5 * DAY, [sha256(b"permit A")], "https://baarn.nl/a", "first block", "lev-1", "")
    second = (40, t0 - 3 * DAY, [sha256(b"permit B")], "", "", "", "")
    batch = chain.send_multicall([("recordDelivery", [in_progress.id, first]), ("recordDelivery", [in_progress.id, second])], baarn)
    keep(in_progress, batch, reg, first, 0)
    keep(in_progress, batch, reg, second, 1)

    delivered = register(
        "delivered", baarn,
        (1, "energie-003", "Insulate 100 schools", "Ünïcode déscription ✓", "Energie", 100, "schools", t0 - 400 * DAY,
         t0 - 1 * DAY, sha256(b"plan"), "ipfs://plan"),
    )
    deliver(delivered, baarn, reg, (60, t0 - 2 * DAY, [sha256(b"invoice 1"), sha256(b"photo 1")], "https://baarn.nl/e", "batch 3", "b3"))
    double = deliver(delivered, baarn, reg, (50, t0 - 10 * DAY, [sha256(b"invoice 2")], "", "batch 2", "b2"))
    deliver(delivered, baarn, reg, (50, t0 - 20 * DAY, [sha256(b"invoice 3")], "", "batch 1, recorded last", "b1"))
    revoke(double, baarn, "Counted twice")

    late = register(
        "delivered_late", baarn,
        (1, "mobiliteit-004", "Five bike sheds", "d", "Mobiliteit", 5, "sheds", t0 - 90 * DAY, t0 - 10 * DAY, ZERO, ""),
    )
    deliver(late, baarn, reg, (5, t0 - 4 * DAY, [sha256(b"sheds")], "", "", ""))

    overdue = register(
        "overdue", baarn, (1, "zorg-005", "Fifty care places", "d", "Zorg", 50, "places", t0 - 90 * DAY, t0 - 1 * DAY, ZERO, ""),
    )
    deliver(overdue, baarn, reg, (10, t0 - 3 * DAY, [sha256(b"care")], "", "", ""))

    withdrawn = register(
        "withdrawn", utrecht,
        (2, "UT-1", "Seven bridges", "Bridges over the Vaartsche Rijn.", "Infra", 7, "bridges", t0 - 30 * DAY,
         t0 + 5 * DAY, ZERO, "https://utrecht.nl/b"),
    )
    bridge = deliver(withdrawn, utrecht, other, (3, t0 - 1 * DAY, [sha256(b"bridge")], "", "", ""))
    amend(withdrawn, utrecht, (0, AMEND_TARGET | AMEND_DUE_DATE, "", "", 8, t0 + 60 * DAY, "One more bridge"))
    reason = "Council cancelled the plan"
    withdrawn.withdrawal = (reason, chain.send("withdrawCommitment", [withdrawn.id, reason], utrecht))
    revoke(bridge, utrecht, "Revoked after withdrawal")

    amended = register(
        "amended", baarn,
        (1, "wonen-006", "Renovate 10 homes", "Old text", "Wonen", 10, "homes", t0 - 30 * DAY, t0 + 10 * DAY, sha256(b"x"), ""),
    )
    amend(amended, baarn, (0, AMEND_TARGET | AMEND_DUE_DATE, "", "", 20, t0 + 20 * DAY, "Budget grew"))
    amend(amended, baarn, (1, AMEND_TITLE | AMEND_DESCRIPTION, "Renovate 20 homes", "New text", 0, 0, "Title follows the target"))
    deliver(amended, baarn, reg, (25, t0 - 1 * DAY, [sha256(b"keys")], "", "25 homes done", "k1"))

    # Issue 5's stories: backdated to 1970, target lowered after the due date, deadline moved after it was missed.
    backdated = register(
        "backdated", baarn, (1, "story-1970", "Ten bus shelters", "", "Mobiliteit", 10, "shelters", t0 - 100 * DAY, t0 - 5 * DAY, ZERO, ""),
    )
    deliver(backdated, baarn, reg, (10, 1, [sha256(b"1970")], "", "dated 1 January 1970", ""))
    relaxed = register(
        "relaxed", baarn, (1, "story-40", "Renovate 100 homes", "", "Wonen", 100, "homes", t0 - 200 * DAY, t0 - 10 * DAY, ZERO, ""),
    )
    deliver(relaxed, baarn, reg, (40, t0 - 20 * DAY, [sha256(b"forty")], "", "", ""))
    amend(relaxed, baarn, (0, AMEND_TARGET, "", "", 40, 0, "Forty is what the budget allowed"))
    moved = register(
        "moved", baarn, (1, "story-2030", "Build a swimming pool", "", "Sport", 100, "%", t0 - 200 * DAY, t0 - 10 * DAY, ZERO, ""),
    )
    deliver(moved, baarn, reg, (40, t0 - 15 * DAY, [sha256(b"pool")], "", "", ""))
    amend(moved, baarn, (0, AMEND_DUE_DATE, "", "", 0, t0 + 2000 * DAY, "New planning"))

    platform, council, utrecht_admin, stranger = roles.platform_admin, roles.council_admin, roles.other_admin, roles.stranger
    extra: dict[str, Any] = {
        "registrar_added": chain.send("addRegistrar", [1, stranger.address], council.key),
        "registrar_removed": chain.send("removeRegistrar", [1, stranger.address], council.key),
        "recovery_started": chain.send("startAdminRecovery", [1, stranger.address], platform.key),
        "recovery_cancelled": chain.send("cancelAdminRecovery", [1], council.key),
        "admin_proposed": chain.send("proposeMunicipalityAdmin", [2, stranger.address], utrecht_admin.key),
        "admin_accepted": chain.send("acceptMunicipalityAdmin", [2], stranger.key),
        "paused": chain.send("pause", [], platform.key),
        "unpaused": chain.send("unpause", [], platform.key),
        "takeover_started": chain.send("startAdminRecovery", [2, utrecht_admin.address], platform.key),
    }
    advance_time(rpc_url, RECOVERY_DELAY_SECONDS)
    extra["takeover_completed"] = chain.send("completeAdminRecovery", [2], roles.registrar.key)  # anyone may
    return Scenario(t0, commitments, deliveries, extra)
