"""The comparison with the API, against hand-written API answers shaped as in docs/API.md."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from replay_support import (
    ADMIN,
    CONTRACT,
    DUE_1,
    DUE_2,
    EVIDENCE_1,
    EVIDENCE_2,
    HASH_SOURCE,
    REGISTRAR,
    project,
    synthetic_events,
    time_of,
    tx_hash,
)
from scripts.audit.compare import MISSING, Difference, compare_with_api
from scripts.audit.model import LedgerState

NOW = time_of(10) + 1000  # long before both due dates


def chain_ref(block: int, log_index: int = 0) -> dict[str, Any]:
    return {"tx_hash": tx_hash(block), "block_number": block, "log_index": log_index, "block_time": time_of(block),
            "block_time_iso": "2023-11-14T22:13:20Z"}


def summary_1() -> dict[str, Any]:
    return {
        "id": 1, "municipality_id": 1, "municipality_name": "Baarn", "external_ref": "ref-1",
        "title": "Renovate 10 homes", "theme": "Wonen", "unit": "homes", "target_quantity": "10",
        "delivered_quantity": "4", "progress_bps": 4000, "status": "in_progress", "due_date": DUE_1,
        "due_date_iso": "2027-01-15T08:00:00Z", "met_at": None, "met_at_iso": None, "registered": chain_ref(4),
        "withdrawn": False,
    }


def summary_2() -> dict[str, Any]:
    return {
        "id": 2, "municipality_id": 1, "municipality_name": "Baarn", "external_ref": "ref-2", "title": "Two bridges",
        "theme": "Infra", "unit": "bridge", "target_quantity": "2", "delivered_quantity": "0", "progress_bps": 0,
        "status": "withdrawn", "due_date": DUE_2 + 1000, "due_date_iso": "x", "met_at": None, "met_at_iso": None,
        "registered": chain_ref(8), "withdrawn": True,
    }


def detail_1() -> dict[str, Any]:
    return summary_1() | {
        "description": "In the centre.", "source_document_sha256": HASH_SOURCE, "source_uri": "https://baarn.nl/b",
        "registrar": REGISTRAR, "amendment_count": 0, "withdrawal": None,
        "deliveries": [
            {"id": 1, "commitment_id": 1, "quantity": "4", "delivered_at": time_of(5) - 100, "delivered_at_iso": "x",
             "evidence": [{"sha256": EVIDENCE_1, "stored": True, "url": f"/api/v1/evidence/{EVIDENCE_1}"}],
             "evidence_uri": "https://baarn.nl/e", "note": "first", "external_ref": "d-1", "registrar": REGISTRAR,
             "recorded": chain_ref(5), "revocation": None},
            {"id": 2, "commitment_id": 1, "quantity": "6", "delivered_at": time_of(6) - 100, "delivered_at_iso": "x",
             "evidence": [{"sha256": EVIDENCE_2, "stored": False, "url": None}], "evidence_uri": "", "note": "",
             "external_ref": "", "registrar": REGISTRAR, "recorded": chain_ref(6),
             "revocation": {"reason": "Counted twice", "registrar": REGISTRAR, "chain": chain_ref(7)}},
        ],
        "timeline": [], "ledger": {"chain_id": 31337, "contract_address": CONTRACT},
    }


def detail_2() -> dict[str, Any]:
    return summary_2() | {
        "description": "Both sides.", "source_document_sha256": None, "source_uri": "", "registrar": REGISTRAR,
        "amendment_count": 1, "withdrawal": {"reason": "No budget", "registrar": REGISTRAR, "chain": chain_ref(10)},
        "deliveries": [], "timeline": [], "ledger": {"chain_id": 31337, "contract_address": CONTRACT},
    }


def api_payload() -> dict[str, Any]:
    return {
        "health": {"status": "ok", "chain_id": 31337, "contract_address": CONTRACT.lower(), "deploy_block": 1,
                   "chain_head_block": 10, "indexed_block": 10, "lag_blocks": 0, "head_seen_at": NOW},
        "summaries": [summary_1(), summary_2()],
        "commitments": [detail_1(), detail_2()],
        "municipalities": [
            {"id": 1, "name": "Baarn", "code": "GM0308", "admin": ADMIN, "registrars": [REGISTRAR.lower()],
             "commitment_count": 2,
             "status_counts": {"pending": 0, "in_progress": 1, "delivered": 0, "delivered_late": 0, "overdue": 0,
                               "withdrawn": 1},
             "registered": chain_ref(2)},
        ],
    }


@pytest.fixture
def state() -> LedgerState:
    return project(synthetic_events())


def differences(state: LedgerState, payload: dict[str, Any], now: int = NOW) -> list[Difference]:
    return compare_with_api(state, payload, compared_from=now, chain_id=31337, contract_address=CONTRACT).differences


def test_identical_answers_give_no_difference(state: LedgerState) -> None:
    comparison = compare_with_api(state, api_payload(), compared_from=NOW, chain_id=31337, contract_address=CONTRACT)
    assert comparison.ok and comparison.differences == [] and comparison.boundary == []


def test_one_changed_field_gives_exactly_one_difference(state: LedgerState) -> None:
    payload = api_payload()
    payload["commitments"][0]["title"] = "Renovate 12 homes"
    assert differences(state, payload) == [
        Difference("commitment", 1, "title", "Renovate 10 homes", "Renovate 12 homes", "detail")
    ]


@pytest.mark.parametrize(
    ("path", "value", "field", "chain_value"),
    [
        (("commitments", 0, "deliveries", 0, "quantity"), 4, "deliveries[1].quantity", "4"),  # number, not string
        (("commitments", 0, "deliveries", 1, "revocation", "reason"), "typo", "deliveries[2].revocation.reason", "Counted twice"),
        (("commitments", 0, "deliveries", 0, "recorded", "log_index"), 3, "deliveries[1].recorded.log_index", 0),
        (("commitments", 0, "registered", "tx_hash"), tx_hash(99), "registered.tx_hash", tx_hash(4)),
        (("commitments", 0, "delivered_quantity"), "10", "delivered_quantity", "4"),
        (("commitments", 0, "met_at"), 5, "met_at", None),
        (("commitments", 1, "amendment_count"), 0, "amendment_count", 1),
        (("commitments", 1, "withdrawal", "reason"), "", "withdrawal.reason", "No budget"),
        (("summaries", 0, "progress_bps"), 4001, "progress_bps", 4000),
    ],
)
def test_each_compared_field_is_reported_alone(
    state: LedgerState, path: tuple, value: Any, field: str, chain_value: Any
) -> None:
    payload = api_payload()
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    [difference] = differences(state, payload)
    assert (difference.field, difference.chain, difference.api) == (field, chain_value, value)


def test_evidence_hashes_are_compared_in_order(state: LedgerState) -> None:
    payload = api_payload()
    payload["commitments"][0]["deliveries"][0]["evidence"].append({"sha256": EVIDENCE_2, "stored": False, "url": None})
    [difference] = differences(state, payload)
    assert (difference.id, difference.field, difference.chain, difference.api) == (
        1, "deliveries[1].evidence", [EVIDENCE_1], [EVIDENCE_1, EVIDENCE_2],
    )


def test_a_revocation_the_api_does_not_show_is_reported(state: LedgerState) -> None:
    payload = api_payload()
    payload["commitments"][0]["deliveries"][1]["revocation"] = None
    fields = [d.field for d in differences(state, payload)]
    assert fields[0] == "deliveries[2].revoked"
    assert set(fields[1:]) == {
        "deliveries[2].revocation.reason", "deliveries[2].revocation.registrar",
        *(f"deliveries[2].revocation.chain.{n}" for n in ("tx_hash", "block_number", "log_index", "block_time")),
    }


def test_commitments_and_deliveries_on_one_side_only_are_reported(state: LedgerState) -> None:
    payload = api_payload()
    del payload["summaries"][1], payload["commitments"][1]
    extra = copy.deepcopy(detail_1()) | {"id": 3}
    payload["commitments"].append(extra)
    payload["commitments"][0]["deliveries"].pop()
    found = [(d.id, d.field, d.chain, d.api, d.where) for d in differences(state, payload)]
    assert found == [
        (1, "deliveries[2].presence", "present", MISSING, "detail"),
        (2, "presence", "present", MISSING, "list"),
        (2, "presence", "present", MISSING, "detail"),
        (3, "presence", MISSING, "present", "detail"),
    ]


def test_municipality_fields_and_status_counts_are_compared(state: LedgerState) -> None:
    payload = api_payload()
    row = payload["municipalities"][0]
    row["status_counts"]["in_progress"] = 0
    row["status_counts"]["overdue"] = 1
    row["registrars"] = []
    found = [(d.subject, d.id, d.field, d.chain, d.api) for d in differences(state, payload)]
    assert found == [
        ("municipality", 1, "registrars", [REGISTRAR], []),
        ("municipality", 1, "status_counts.in_progress", 1, 0),
        ("municipality", 1, "status_counts.overdue", 0, 1),
    ]


def test_another_chain_or_contract_in_health_is_reported(state: LedgerState) -> None:
    payload = api_payload()
    payload["health"]["chain_id"] = 1
    assert [(d.subject, d.field, d.where) for d in differences(state, payload)] == [("ledger", "chain_id", "health")]


def test_a_status_flipping_at_the_due_date_during_the_read_is_a_boundary_case(state: LedgerState) -> None:
    just_before_due = DUE_1 - 30
    payload = api_payload()
    for row in (payload["summaries"][0], payload["commitments"][0]):
        row["status"] = "overdue"  # the API read a minute later, after the due date
    payload["municipalities"][0]["status_counts"].update(in_progress=0, overdue=1)
    comparison = compare_with_api(state, payload, compared_from=just_before_due, compared_to=just_before_due + 5)
    assert comparison.differences == []
    [boundary] = comparison.boundary
    assert (boundary.commitment_id, boundary.chain_status, boundary.possible, boundary.api_status) == (
        1, "in_progress", ("in_progress", "overdue"), "overdue",
    )


def test_a_boundary_case_still_refuses_a_status_the_window_cannot_explain(state: LedgerState) -> None:
    payload = api_payload()
    payload["commitments"][0]["status"] = "delivered"
    found = differences(state, payload, now=DUE_1 - 30)
    assert [(d.field, d.chain, d.api) for d in found] == [("status", "in_progress", "delivered")]


def test_a_due_date_outside_the_window_is_no_boundary_case(state: LedgerState) -> None:
    payload = api_payload()
    payload["commitments"][0]["status"] = "overdue"
    comparison = compare_with_api(state, payload, compared_from=DUE_1 - 121, boundary_seconds=120)
    assert [(d.field, d.api) for d in comparison.differences] == [("status", "overdue")]
    assert comparison.boundary == []
