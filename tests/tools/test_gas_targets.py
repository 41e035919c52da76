"""The gas targets of issues 5 and 6 hold (bench/gas.py, one run on a throwaway anvil).

Issue 5, "Gas near the floor": a delivery, a byte of text and a batched registration against
the floor, EAS and a single registration. Issue 6, "Ledger v2, part 2": an anchor of a real
batch of 10, 1,000 or 100,000 deliveries at most 60,000 gas; a signed delivery sent by a relayer
at most 1.3 x the floor + one slot plus the signature check (measured by the bench's
``SignatureCheckFloor`` reference). Gas is deterministic for the same inputs, compiler settings
and hardfork, so these are behaviours of the contract, not timings: a change that makes one of
these writes cost more than the issue allows fails here. The bench builds its trees once, in
the one ``measure`` run this module shares.
"""

from __future__ import annotations

import pytest

from bench.gas import (
    ANCHOR_TARGET_GAS,
    BATCH_SIZE,
    BATCH_SIZES,
    CONFIRM,
    CONFIRM_WITH_EVIDENCE,
    DELIVERY_VS_EAS_TARGET,
    DELIVERY_VS_FLOOR_SLOT_TARGET,
    DISPUTE,
    FIRST_DELIVERY,
    FIRST_SIGNED_CONFIRM,
    FIRST_SIGNED_DELIVERY,
    FLOOR_SLOT,
    LATER_DELIVERY,
    SHORT_REGISTRATION,
    SIGNATURE_FLOOR,
    SIGNED_CONFIRM,
    SIGNED_DELIVERY,
    SIGNED_DELIVERY_VS_FLOOR_SLOT_TARGET,
    TEXT_BYTE_TARGET_GAS,
    GasReport,
    measure,
)

# One zero-to-non-zero SSTORE of a cold slot against a non-zero-to-non-zero one (EIP-2929 and
# EIP-2200: 22,100 against 5,000 gas).
NONCE_SLOT_ONE_OFF_GAS = 22_100 - 5_000
# The two signed writes differ in a few calldata bytes (nonce, hashes, signature): 12 gas each.
CALLDATA_BYTE_SLACK_GAS = 12 * 8


@pytest.fixture(scope="module")
def report(anvil_url: str) -> GasReport:
    return measure(anvil_url)


def test_the_four_targets_are_measured_with_the_issue_s_limits(report: GasReport) -> None:
    assert [(r.target, r.unit) for r in report.ratios] == [
        (1.3, "x"),
        (0.3, "x"),
        (pytest.approx(28.8), "gas/byte"),
        (0.8, "x"),
    ]
    assert (DELIVERY_VS_FLOOR_SLOT_TARGET, DELIVERY_VS_EAS_TARGET, TEXT_BYTE_TARGET_GAS) == (1.3, 0.3, pytest.approx(28.8))


def test_every_ratio_target_holds(report: GasReport) -> None:
    failed = [f"{r.name}: {r.value:.3f} {r.unit} > {r.target} ({r.detail})" for r in report.ratios if not r.passed]
    assert failed == []


def test_a_delivery_costs_at_most_1_3_times_the_floor_plus_one_slot(report: GasReport) -> None:
    assert report.gas(LATER_DELIVERY) <= 1.3 * report.gas(FLOOR_SLOT)
    assert report.gas(FIRST_DELIVERY) <= 1.3 * report.gas(FLOOR_SLOT)


def test_the_floor_is_below_the_floor_plus_slot_and_both_below_the_ledger(report: GasReport) -> None:
    floor = report.gas("DeliveryFloor.recordDelivery")
    floor_slot = report.gas(FLOOR_SLOT)
    assert floor < floor_slot < report.gas(LATER_DELIVERY)
    # One zero-to-non-zero SSTORE of a cold slot (EIP-2929: 20,000 + 2,100) plus its key hashing.
    assert 22_100 <= floor_slot - floor <= 23_000


def test_a_batched_registration_costs_at_most_0_8_times_a_single_one(report: GasReport) -> None:
    batch = report.gas(f"multicall: {BATCH_SIZE} registerCommitment (short texts)")
    assert batch / BATCH_SIZE <= 0.8 * report.gas(SHORT_REGISTRATION)


def test_status_of_costs_the_same_for_any_number_of_deliveries(report: GasReport) -> None:
    assert [n for n, _ in report.status_view] == [1, 10, 100]
    assert len({gas for _, gas in report.status_view}) == 1


def test_the_chain_runs_the_hardfork_the_contracts_are_compiled_for(report: GasReport) -> None:
    assert report.hardfork == "cancun"


# ------------------------------------------------------------------ issue 6


def test_the_two_part_2_targets_are_measured_with_the_issue_s_limits(report: GasReport) -> None:
    budget = 1.3 * report.gas(FLOOR_SLOT) + report.gas(SIGNATURE_FLOOR) - report.gas(FLOOR_SLOT)
    assert [(r.target, r.unit) for r in report.part2_targets] == [(60_000, "gas"), (pytest.approx(budget), "gas")]
    assert (ANCHOR_TARGET_GAS, SIGNED_DELIVERY_VS_FLOOR_SLOT_TARGET) == (60_000, 1.3)
    assert report.signed_delivery_budget_gas == pytest.approx(budget)


def test_every_part_2_target_holds(report: GasReport) -> None:
    failed = [f"{r.name}: {r.value:,.0f} {r.unit} > {r.target:,.0f} ({r.detail})" for r in report.part2_targets if not r.passed]
    assert failed == []


def test_a_batch_anchor_costs_at_most_60_000_gas_for_10_1_000_and_100_000_deliveries(report: GasReport) -> None:
    assert [a.leaves for a in report.anchors] == [10, 1_000, 100_000] == list(BATCH_SIZES)
    assert [a.gas <= 60_000 for a in report.anchors] == [True, True, True]
    assert report.part2_targets[0].value == max(a.gas for a in report.anchors)


def test_an_anchor_does_the_same_work_whatever_the_size_of_its_batch(report: GasReport) -> None:
    # Only calldata bytes differ (the leaf count and the hashes have more or fewer zero bytes).
    assert len({a.execution_gas for a in report.anchors}) == 1
    assert max(a.gas for a in report.anchors) - min(a.gas for a in report.anchors) <= CALLDATA_BYTE_SLACK_GAS


def test_the_anchored_batches_are_real_trees_the_ledger_accepts_proofs_of(report: GasReport) -> None:
    assert [a.tree_nodes for a in report.anchors] == [2 * n - 1 for n in BATCH_SIZES]
    assert [a.proofs_checked for a in report.anchors] == [2, 2, 2]
    assert len({a.root for a in report.anchors}) == 3
    # The 100,000-leaf file is tens of megabytes; the chain only ever sees its SHA-256.
    assert report.anchors[-1].file_bytes > 100_000 * 200


def test_a_batched_delivery_costs_a_fraction_of_a_gas_unit_in_the_100_000_batch(report: GasReport) -> None:
    assert report.anchors[-1].gas_per_delivery < 1
    assert report.anchors[0].gas_per_delivery < report.gas(LATER_DELIVERY)


def test_a_signed_delivery_costs_at_most_1_3_times_floor_plus_slot_plus_the_signature_check(report: GasReport) -> None:
    signed = report.gas(SIGNED_DELIVERY)
    assert signed <= 1.3 * report.gas(FLOOR_SLOT) + report.signature_check_gas
    assert report.part2_targets[1].value == signed


def test_the_signature_check_costs_more_than_ecrecover_and_a_warm_nonce_update(report: GasReport) -> None:
    # ecrecover (3,000) plus a cold non-zero-to-non-zero SSTORE (5,000), before any calldata or hashing.
    assert report.signature_check_gas > 3_000 + 5_000
    assert report.gas(SIGNATURE_FLOOR) == report.gas(FLOOR_SLOT) + report.signature_check_gas


def test_a_relayed_delivery_records_the_same_as_one_sent_by_the_registrar_plus_the_signature(report: GasReport) -> None:
    assert report.gas(LATER_DELIVERY) < report.gas(SIGNED_DELIVERY) <= report.gas(LATER_DELIVERY) + report.signature_check_gas


def test_a_signer_s_first_signed_write_pays_its_nonce_slot_once(report: GasReport) -> None:
    for first, later in ((FIRST_SIGNED_DELIVERY, SIGNED_DELIVERY), (FIRST_SIGNED_CONFIRM, SIGNED_CONFIRM)):
        one_off = report.gas(first) - report.gas(later)
        assert abs(one_off - NONCE_SLOT_ONE_OFF_GAS) <= CALLDATA_BYTE_SLACK_GAS


def test_the_confirmer_s_writes_are_measured(report: GasReport) -> None:
    names = [name for name, _ in report.confirmations]
    assert names[:3] == [CONFIRM, CONFIRM_WITH_EVIDENCE, DISPUTE]
    assert names[3].startswith("confirmBatchedDelivery (leaf of the 1,000-leaf batch, proof of ")
    assert names[4:] == [FIRST_SIGNED_CONFIRM, SIGNED_CONFIRM]
    gas = dict(report.confirmations)
    # A non-zero evidence hash costs calldata only; a batched one adds its leaf and proof.
    assert gas[CONFIRM] < gas[CONFIRM_WITH_EVIDENCE] < gas[names[3]]
    assert gas[CONFIRM] < gas[SIGNED_CONFIRM]

