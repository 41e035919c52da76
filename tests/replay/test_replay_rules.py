"""The auditor's status rules, on hand-made records (no chain needed)."""

from __future__ import annotations

import pytest

from scripts.audit.model import Action, ChainRef, Commitment, Delivery
from scripts.audit.rules import delivered_quantity, evaluate, met_at, possible_statuses, progress_bps, status_at

REF = ChainRef("0x" + "11" * 32, 10, 0, 1_700_000_000)
DUE = 1_750_000_000


def delivery(quantity: int, delivered_at: int, *, revoked: bool = False, id: int = 1) -> Delivery:
    return Delivery(
        id=id, commitment_id=1, quantity=quantity, delivered_at=delivered_at, evidence_sha256=[], evidence_uri="",
        note="", external_ref="", registrar="0x" + "22" * 20, recorded=REF,
        revocation=Action("wrong", "0x" + "22" * 20, REF) if revoked else None,
    )


def commitment(target: int, deliveries: list[Delivery], *, due: int = DUE, withdrawn: bool = False) -> Commitment:
    return Commitment(
        id=1, municipality_id=1, external_ref="r", title="t", description="", theme="", unit="u",
        target_quantity=target, due_date=due, source_document_sha256=None, source_uri="", registrar="0x" + "22" * 20,
        registered_at=REF.block_time, registered=REF, original={}, deliveries=deliveries,
        withdrawal=Action("gone", "0x" + "22" * 20, REF) if withdrawn else None,
    )


def test_met_at_uses_delivery_dates_not_recording_order() -> None:
    recorded_in_this_order = [delivery(60, 300), delivery(30, 100), delivery(20, 200)]
    assert met_at(recorded_in_this_order, 50) == 200  # 30 @100, then 50 @200
    assert met_at(recorded_in_this_order, 110) == 300
    assert met_at(recorded_in_this_order, 111) is None


def test_met_at_ignores_revoked_deliveries() -> None:
    deliveries = [delivery(50, 100, revoked=True), delivery(50, 200), delivery(50, 300)]
    assert met_at(deliveries, 100) == 300
    assert delivered_quantity(deliveries) == 100


def test_met_at_counts_every_delivery_of_the_same_date_together() -> None:
    assert met_at([delivery(5, 100), delivery(5, 100), delivery(1, 50)], 11) == 100


def test_progress_is_floored_basis_points_and_may_exceed_ten_thousand() -> None:
    assert progress_bps(1, 3) == 3333
    assert progress_bps(2, 3) == 6666
    assert progress_bps(25, 20) == 12500
    assert progress_bps(10**15, 1) == 10**19
    with pytest.raises(ValueError):
        progress_bps(1, 0)


@pytest.mark.parametrize(
    ("withdrawn", "delivered", "met", "now", "expected"),
    [
        (True, 100, DUE - 1, DUE + 5, "withdrawn"),
        (False, 100, DUE, DUE + 5, "delivered"),  # met exactly on the due date
        (False, 100, DUE + 1, DUE + 5, "delivered_late"),
        (False, 100, DUE + 1, DUE - 5, "delivered_late"),  # late even before now passes due
        (False, 99, None, DUE + 1, "overdue"),
        (False, 99, None, DUE, "in_progress"),  # due passed only when now > due
        (False, 0, None, DUE, "pending"),
        (False, 0, None, DUE + 1, "overdue"),
    ],
)
def test_status_rules_in_the_interfaces_order(withdrawn: bool, delivered: int, met: int | None, now: int, expected: str) -> None:
    assert status_at(withdrawn=withdrawn, delivered=delivered, target_quantity=100, met_at=met, due_date=DUE, now=now) == expected


def test_a_revocation_can_turn_delivered_into_delivered_late() -> None:
    early = delivery(100, DUE - 10, id=1)
    late = delivery(100, DUE + 10, id=2)
    c = commitment(100, [early, late])
    assert evaluate(c, DUE + 20).status == "delivered"
    early.revocation = Action("duplicate", "0x" + "22" * 20, REF)
    progress = evaluate(c, DUE + 20)
    assert (progress.status, progress.met_at, progress.delivered_quantity, progress.progress_bps) == (
        "delivered_late", DUE + 10, 100, 10000,
    )


def test_possible_statuses_cover_a_due_date_inside_the_window() -> None:
    c = commitment(10, [delivery(1, DUE - 100)])
    assert possible_statuses(c, DUE - 60, DUE + 60) == {"in_progress", "overdue"}
    assert possible_statuses(c, DUE + 1, DUE + 60) == {"overdue"}
    assert possible_statuses(c, DUE - 60, DUE) == {"in_progress"}
    assert possible_statuses(commitment(10, [], withdrawn=True), DUE - 60, DUE + 60) == {"withdrawn"}
