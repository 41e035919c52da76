"""The 2.1.0 counting rules of ledger/status.py as pure functions (docs/LEDGER.md "Batches",
"Assets", "Confirmations", "Sub-commitments"): which leaves and recorded deliveries count,
when, and what the review and roll-up are."""

from __future__ import annotations

import pytest

from ledger.limits import MAX_EVIDENCE, MAX_QUANTITY
from ledger.merkle import BatchLeaf, leaf_problems
from ledger.status import (
    REFUSED_REASONS,
    DeliveryFact,
    OnRecord,
    TargetChange,
    count_deliveries,
    leaf_is_valid,
    leaf_refusal,
    review_of,
    rollup_progress_bps,
)

H1, H2 = "0x" + "11" * 32, "0x" + "22" * 32


def recorded(key: str, block: int, quantity: int, *, at: int | None = None, ref: str = "", asset: str = "",
             revoked: int | None = None) -> DeliveryFact:
    return DeliveryFact(key, (block, 0, 0), quantity, at or block, block, ref, asset,
                        revoked_at_position=None if revoked is None else (revoked, 0, 0))


def leaf(key: str, block: int, index: int, quantity: int, *, at: int | None = None, ref: str = "", asset: str = "",
         refused: str | None = None, revoked: int | None = None) -> DeliveryFact:
    return DeliveryFact(key, (block, 0, index), quantity, at or block, block, ref, asset, batched=True,
                        refused_reason=refused, revoked_at_position=None if revoked is None else (revoked, 0, 0))


def test_the_refusal_reasons_are_checked_in_the_documented_order() -> None:
    assert REFUSED_REASONS == ("unknown_commitment", "other_municipality", "commitment_withdrawn", "invalid_leaf",
                               "duplicate_external_ref", "asset_already_counted")
    everything = dict(registered_before_anchor=False, same_municipality=False, withdrawn_before_anchor=True, valid=False)
    assert leaf_refusal(**everything) == "unknown_commitment"
    assert leaf_refusal(**{**everything, "registered_before_anchor": True}) == "other_municipality"
    assert leaf_refusal(**{**everything, "registered_before_anchor": True, "same_municipality": True}) == "commitment_withdrawn"
    assert leaf_refusal(registered_before_anchor=True, same_municipality=True, withdrawn_before_anchor=False,
                        valid=False) == "invalid_leaf"
    assert leaf_refusal(registered_before_anchor=True, same_municipality=True, withdrawn_before_anchor=False,
                        valid=True) is None
    # an invalid leaf with a repeated ref and asset is reported invalid, not duplicate
    counted = count_deliveries(10, [], [
        leaf("a", 5, 0, 1, ref="r", asset="x"), leaf("b", 5, 1, 1, ref="r", asset="x", refused="invalid_leaf"),
    ])
    assert counted.refused == {"a": None, "b": "invalid_leaf"}


@pytest.mark.parametrize(
    ("changes", "valid"),
    [
        ({}, True),
        ({"quantity": 0}, False),
        ({"quantity": MAX_QUANTITY}, True),
        ({"quantity": MAX_QUANTITY + 1}, False),
        ({"delivered_at": 0}, False),
        ({"delivered_at": 1000}, True),
        ({"delivered_at": 1001}, False),
        ({"evidence_hashes": []}, False),
        ({"evidence_hashes": [H1] * 1 + [f"0x{i:064x}" for i in range(2, MAX_EVIDENCE + 1)]}, True),
        ({"evidence_hashes": [f"0x{i:064x}" for i in range(1, MAX_EVIDENCE + 2)]}, False),
        ({"evidence_hashes": ["0x" + "00" * 32]}, False),
        ({"evidence_hashes": [H1, H1.upper().replace("0X", "0x")]}, False),
        ({"note": "€" * 333 + "x"}, True),
        ({"note": "€" * 333 + "xx"}, False),
        ({"asset_ref": "x" * 64}, True),
        ({"asset_ref": "x" * 65}, False),
        ({"external_ref": "é" * 33}, False),
        ({"evidence_uri": "u" * 513}, False),
    ],
)
def test_an_invalid_leaf_fails_exactly_the_checks_of_record_delivery(changes: dict, valid: bool) -> None:
    values = {"commitment_id": 1, "quantity": 5, "delivered_at": 999, "evidence_hashes": [H1, H2], **changes}
    leaf = BatchLeaf(**values)
    assert leaf_is_valid(leaf_problems(leaf), leaf.delivered_at, 1000) is valid


def test_leaves_count_at_their_anchor_in_file_order_on_the_on_record_clock() -> None:
    counted = count_deliveries(10, [], [
        recorded("d1", 3, 4, at=1), leaf("l0", 7, 0, 5, at=2), leaf("l1", 7, 1, 5, at=3), recorded("d2", 9, 1, at=4),
    ])
    assert counted.refused == {"d1": None, "l0": None, "l1": None, "d2": None}
    assert counted.current == counted.original == OnRecord(15, 7)  # met by the second leaf, at the anchor (block 7)
    assert [f.key for f in counted.counting] == ["d1", "l0", "l1", "d2"]


def test_a_repeated_external_ref_refuses_the_later_leaf_also_after_a_revocation() -> None:
    counted = count_deliveries(10, [], [
        recorded("d1", 3, 1, ref="r1", revoked=4),
        leaf("l0", 7, 0, 1, ref="r1"),
        leaf("l1", 7, 1, 1, ref="r2"),
        leaf("l2", 7, 2, 1, ref="r2"),
        leaf("l3", 8, 0, 1, ref="r3", refused="invalid_leaf"),
        leaf("l4", 9, 0, 1, ref="r3"),  # the refused leaf held no ref
    ])
    assert counted.refused == {"d1": None, "l0": "duplicate_external_ref", "l1": None, "l2": "duplicate_external_ref",
                               "l3": "invalid_leaf", "l4": None}
    assert counted.current.total == 2


def test_an_asset_counts_once_and_the_decision_is_made_when_recorded() -> None:
    counted = count_deliveries(10, [], [
        leaf("l0", 5, 0, 1, asset="lamp 7"),
        leaf("l1", 5, 1, 1, asset="lamp 7"),  # same batch
        recorded("d1", 6, 1, asset="lamp 7", revoked=9),  # got past the contract: the twin was batched
        leaf("l2", 8, 0, 1, asset="lamp 8", revoked=10),
        recorded("d2", 11, 1, asset="lamp 8"),  # its twin was revoked before: counts
    ])
    assert counted.refused == {"l0": None, "l1": "asset_already_counted", "d1": "asset_already_counted", "l2": None,
                               "d2": None}
    assert counted.current.total == 2
    # revoking the first does not make a later double count count
    later = count_deliveries(10, [], [
        recorded("d1", 3, 1, asset="a", revoked=7), leaf("l0", 5, 0, 1, asset="a"), recorded("d2", 8, 1, asset="a"),
    ])
    assert later.refused == {"d1": None, "l0": "asset_already_counted", "d2": None}
    assert [f.key for f in later.counting] == ["d2"]


def test_a_revoked_double_count_takes_nothing_away() -> None:
    counted = count_deliveries(2, [], [
        recorded("d1", 3, 2, asset="a"), leaf("l0", 5, 0, 2, asset="a", revoked=6),
    ])
    assert counted.current == OnRecord(2, 3)


def test_target_changes_move_only_the_current_terms() -> None:
    counted = count_deliveries(10, [TargetChange((9, 0, 0), 10, 4, 900)], [
        recorded("d1", 3, 3), leaf("l0", 8, 0, 3),
    ])
    assert counted.current == OnRecord(6, 900)  # lowered to 4, below the total: met from the amendment
    assert counted.original == OnRecord(6, None)
    earlier = count_deliveries(10, [TargetChange((6, 0, 0), 10, 4, 600)], [recorded("d1", 3, 3), leaf("l0", 8, 0, 3)])
    assert earlier.current == OnRecord(6, 8)  # lowered while short of it: met by the leaf, at its anchor


@pytest.mark.parametrize(
    ("verdicts", "review"),
    [((), "unconfirmed"), (("confirmed",), "confirmed"), (("confirmed", "disputed"), "disputed"),
     (("disputed",), "disputed"), (("confirmed", "confirmed"), "confirmed")],
)
def test_review_is_disputed_before_confirmed_before_unconfirmed(verdicts: tuple, review: str) -> None:
    assert review_of(verdicts) == review


@pytest.mark.parametrize(
    ("own", "children", "expected"),
    [
        (2500, [], 2500),
        (15000, [], 10000),
        (0, [(1, 10000), (3, 0)], 2500),
        (0, [(2, 5000), (1, 10000)], 6666),
        (99999, [(1_000_000, 1), (1, 10000)], 1),
    ],
)
def test_roll_up_is_the_floor_of_the_weighted_mean(own: int, children: list, expected: int) -> None:
    assert rollup_progress_bps(own, children) == expected
