"""The gas targets of issue 5 hold (bench/gas.py, one run on a throwaway anvil).

Gas is deterministic for the same inputs, compiler settings and hardfork, so these are
behaviours of the contract, not timings: a change that makes a delivery, a byte of text or a
batched registration cost more than the issue allows fails here.
"""

from __future__ import annotations

import pytest

from bench.gas import (
    BATCH_SIZE,
    DELIVERY_VS_EAS_TARGET,
    DELIVERY_VS_FLOOR_SLOT_TARGET,
    FIRST_DELIVERY,
    LATER_DELIVERY,
    SHORT_REGISTRATION,
    TEXT_BYTE_TARGET_GAS,
    GasReport,
    measure,
)


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
    assert report.gas(LATER_DELIVERY) <= 1.3 * report.gas("DeliveryFloorPlusSlot.recordDelivery")
    assert report.gas(FIRST_DELIVERY) <= 1.3 * report.gas("DeliveryFloorPlusSlot.recordDelivery")


def test_the_floor_is_below_the_floor_plus_slot_and_both_below_the_ledger(report: GasReport) -> None:
    floor = report.gas("DeliveryFloor.recordDelivery")
    floor_slot = report.gas("DeliveryFloorPlusSlot.recordDelivery")
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
