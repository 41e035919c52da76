"""The comparison with the API, against recorded API answers (tests/replay/fixtures/
api_synthetic.json: what an honest v2 API answers for ``synthetic_events()``, rendered from the
replay's own projection and checked here value by value), changed one field at a time."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from replay_support import (
    ADMIN,
    CONTRACT,
    DUE_1,
    EVIDENCE_1,
    EVIDENCE_2,
    OWNER,
    REGISTRAR,
    STRANGER,
    api_answers,
    event,
    project,
    synthetic_events,
    time_of,
    tx_hash,
)
from scripts.audit.compare import DETAIL_FIELDS, MISSING, NOT_COMPARED, Difference, compare_with_api
from scripts.audit.model import LedgerState, iso_utc
from scripts.audit.wire import commitment_json, municipality_json

NOW = time_of(10) + 1000  # long before both due dates
FIXTURE = Path(__file__).parent / "fixtures" / "api_synthetic.json"


def recorded() -> dict[str, Any]:
    """The recorded answers, as ``compare_with_api`` takes them."""
    raw = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return {"health": raw["health"], "summaries": raw["summaries"], "commitments": raw["details"],
            "municipalities": raw["municipalities"], "batches": raw["batches"], "batch_details": raw["batch_details"]}


@pytest.fixture
def state() -> LedgerState:
    built = project(synthetic_events())
    built.contract_version = "2.1.0"
    return built


def differences(state: LedgerState, payload: dict[str, Any], now: int = NOW) -> list[Difference]:
    return compare_with_api(state, payload, compared_from=now, chain_id=31337, contract_address=CONTRACT).differences


def test_the_recorded_answers_are_what_the_replay_renders_today(state: LedgerState) -> None:
    names = {1: "Baarn"}
    commitments = [commitment_json(c, names[c.municipality_id], NOW) for c in state.commitments.values()]
    municipalities = [municipality_json(state.municipalities[1], list(state.commitments.values()), NOW)]
    fresh = api_answers(commitments, municipalities, recorded()["health"])
    assert fresh["summaries"] == recorded()["summaries"]
    assert list(fresh["details"].values()) == recorded()["commitments"]
    assert fresh["municipalities"] == recorded()["municipalities"]


def test_the_recorded_answers_hold_the_expected_v2_values() -> None:
    one, two = recorded()["commitments"]
    assert {k: one[k] for k in ("promised_at", "registration_lag_days", "historical_record", "status", "status_on_record",
                                "progress_bps", "recorded_late_count", "signer_held_role")} == {
        "promised_at": 1_700_000_000 - 400 * 86_400, "registration_lag_days": 400, "historical_record": False,
        "status": "in_progress", "status_on_record": "in_progress", "progress_bps": 4000, "recorded_late_count": 0,
        "signer_held_role": True,
    }
    assert [(d["id"], d["delivery_number"], d["recording_lag_seconds"], d["revocation"] is None) for d in one["deliveries"]] == [
        (1_000_001, 1, 100, True), (1_000_002, 2, 100, False),
    ]
    [amendment] = two["amendments"]
    assert {k: amendment[k] for k in ("amendment_number", "fields", "title", "previous_target_quantity",
                                      "target_quantity", "after_due_date", "lowered_target", "extended_due_date")} == {
        "amendment_number": 1, "fields": ["title", "description", "target_quantity", "due_date"], "title": "Two bridges",
        "previous_target_quantity": "1", "target_quantity": "2", "after_due_date": False, "lowered_target": False,
        "extended_due_date": True,
    }
    assert (two["status"], two["original_target_quantity"], two["target_quantity"]) == ("withdrawn", "1", "2")
    [baarn] = recorded()["municipalities"]
    assert (baarn["pending_admin"], baarn["recovery"], baarn["admin_changes"]) == (None, None, [])


def test_identical_answers_give_no_difference(state: LedgerState) -> None:
    comparison = compare_with_api(state, recorded(), compared_from=NOW, chain_id=31337, contract_address=CONTRACT)
    assert comparison.ok and comparison.differences == [] and comparison.boundary == []


def test_follow_up_is_left_out_with_its_reason_whatever_the_api_says(state: LedgerState) -> None:
    # not on chain: the server reads it from its mapping files (ledger.sources.follow_up_of)
    assert "follow_up" not in DETAIL_FIELDS and NOT_COMPARED["follow_up"].startswith("not on chain:")
    payload = recorded()
    for item in [*payload["summaries"], *payload["commitments"]]:
        item["follow_up"] = {"tracked": False, "by": ["baarn-coalitieakkoord-2022-2026"]}
    assert differences(state, payload) == []


def test_one_changed_field_gives_exactly_one_difference(state: LedgerState) -> None:
    payload = recorded()
    payload["commitments"][0]["title"] = "Renovate 12 homes"
    assert differences(state, payload) == [
        Difference("commitment", 1, "title", "Renovate 10 homes", "Renovate 12 homes", "detail")
    ]


@pytest.mark.parametrize(
    ("path", "value", "field", "chain_value"),
    [
        (("commitments", 0, "deliveries", 0, "quantity"), 4, "deliveries[1000001].quantity", "4"),  # number, not string
        (("commitments", 0, "deliveries", 1, "revocation", "reason"), "typo", "deliveries[1000002].revocation.reason",
         "Counted twice"),
        (("commitments", 0, "deliveries", 0, "recorded", "log_index"), 3, "deliveries[1000001].recorded.log_index", 0),
        (("commitments", 0, "deliveries", 0, "recorded_at"), time_of(4), "deliveries[1000001].recorded_at", time_of(5)),
        (("commitments", 0, "deliveries", 0, "recorded_late"), True, "deliveries[1000001].recorded_late", False),
        (("commitments", 0, "deliveries", 0, "delivery_number"), 1_000_001, "deliveries[1000001].delivery_number", 1),
        (("commitments", 0, "registered", "tx_hash"), tx_hash(99), "registered.tx_hash", tx_hash(4)),
        (("commitments", 0, "delivered_quantity"), "10", "delivered_quantity", "4"),
        (("commitments", 0, "met_at"), 5, "met_at", None),
        (("commitments", 0, "status_on_record"), "delivered", "status_on_record", "in_progress"),
        (("commitments", 0, "promised_at_iso"), "2022-10-10", "promised_at_iso", "2022-10-10T22:13:20Z"),
        (("commitments", 0, "registration_lag_days"), 399, "registration_lag_days", 400),
        (("commitments", 0, "signer_held_role"), False, "signer_held_role", True),
        (("commitments", 1, "amendment_count"), 0, "amendment_count", 1),
        (("commitments", 1, "original_target_quantity"), "2", "original_target_quantity", "1"),
        (("commitments", 1, "withdrawal", "reason"), "", "withdrawal.reason", "No budget"),
        (("commitments", 1, "amendments", 0, "fields"), ["title"], "amendments[1].fields",
         ["title", "description", "target_quantity", "due_date"]),
        (("commitments", 1, "amendments", 0, "extended_due_date"), False, "amendments[1].extended_due_date", True),
        (("commitments", 1, "amendments", 0, "due_date_iso"), None, "amendments[1].due_date_iso", "2027-05-11T02:03:20Z"),
        (("commitments", 1, "withdrawal", "signer_held_role"), False, "withdrawal.signer_held_role", True),
        (("summaries", 0, "registrar"), STRANGER, "registrar", REGISTRAR),
        (("summaries", 0, "progress_bps"), 4001, "progress_bps", 4000),
        (("summaries", 1, "met_only_under_relaxed_terms"), True, "met_only_under_relaxed_terms", False),
    ],
)
def test_each_compared_field_is_reported_alone(
    state: LedgerState, path: tuple, value: Any, field: str, chain_value: Any
) -> None:
    payload = recorded()
    target = payload
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    [difference] = differences(state, payload)
    assert (difference.field, difference.chain, difference.api) == (field, chain_value, value)


def test_a_field_the_api_lacks_is_a_difference(state: LedgerState) -> None:
    payload = recorded()
    del payload["commitments"][0]["status_on_record"]
    del payload["commitments"][0]["deliveries"][0]["recording_lag_days"]
    del payload["municipalities"][0]["pending_admin"]
    del payload["health"]["contract_version"]
    found = [(d.subject, d.id, d.field, d.chain, d.api, d.where) for d in differences(state, payload)]
    assert found == [
        ("ledger", None, "contract_version", "2.1.0", MISSING, "health"),
        ("commitment", 1, "status_on_record", "in_progress", MISSING, "detail"),
        ("commitment", 1, "deliveries[1000001].recording_lag_days", 0, MISSING, "detail"),
        ("municipality", 1, "pending_admin", None, MISSING, "municipalities"),
    ]


def test_evidence_hashes_are_compared_in_order(state: LedgerState) -> None:
    payload = recorded()
    payload["commitments"][0]["deliveries"][0]["evidence"].append({"sha256": EVIDENCE_2, "stored": False, "url": None})
    [difference] = differences(state, payload)
    assert (difference.id, difference.field, difference.chain, difference.api) == (
        1, "deliveries[1000001].evidence", [EVIDENCE_1], [EVIDENCE_1, EVIDENCE_2],
    )


def test_a_revocation_the_api_does_not_show_is_one_difference(state: LedgerState) -> None:
    payload = recorded()
    revocation = payload["commitments"][0]["deliveries"][1]["revocation"]
    payload["commitments"][0]["deliveries"][1]["revocation"] = None
    [difference] = differences(state, payload)
    assert (difference.field, difference.chain["reason"], difference.api) == ("deliveries[1000002].revocation", "Counted twice", None)
    assert difference.chain == revocation | {"at": time_of(7), "at_iso": difference.chain["at_iso"], "signer_held_role": True}


def test_records_on_one_side_only_are_reported(state: LedgerState) -> None:
    payload = recorded()
    del payload["summaries"][1], payload["commitments"][1]
    payload["commitments"].append(copy.deepcopy(recorded()["commitments"][0]) | {"id": 3})
    payload["commitments"][0]["deliveries"].pop()
    found = [(d.id, d.field, d.chain, d.api, d.where) for d in differences(state, payload)]
    assert found == [
        (1, "deliveries[1000002].presence", "present", MISSING, "detail"),
        (2, "presence", "present", MISSING, "list"),
        (2, "presence", "present", MISSING, "detail"),
        (3, "presence", MISSING, "present", "detail"),
    ]


def test_an_amendment_list_missing_from_the_detail_is_reported(state: LedgerState) -> None:
    payload = recorded()
    del payload["commitments"][1]["amendments"]
    assert [(d.id, d.field, d.chain, d.api) for d in differences(state, payload)] == [(2, "amendments", "1 amendments", MISSING)]


def test_municipality_fields_and_status_counts_are_compared(state: LedgerState) -> None:
    payload = recorded()
    row = payload["municipalities"][0]
    row["status_counts"]["in_progress"] = 0
    row["status_counts"]["overdue"] = 1
    row["registrars"] = []
    row["admin"] = STRANGER
    found = [(d.subject, d.id, d.field, d.chain, d.api) for d in differences(state, payload)]
    assert found == [
        ("municipality", 1, "admin", ADMIN, STRANGER),
        ("municipality", 1, "registrars", [REGISTRAR], []),
        ("municipality", 1, "status_counts.in_progress", 1, 0),
        ("municipality", 1, "status_counts.overdue", 0, 1),
    ]


def test_registrar_intervals_and_on_record_counts_are_compared(state: LedgerState) -> None:
    payload = recorded()
    row = payload["municipalities"][0]
    row["registrar_history"][0]["removed"] = {"tx_hash": tx_hash(9), "block_number": 9, "log_index": 0,
                                              "block_time": time_of(9)}
    row["registrar_history"][0]["added_by"] = OWNER
    row["status_on_record_counts"]["pending"] = 1
    found = [(d.field, d.chain, d.api) for d in differences(state, payload)]
    assert found == [
        ("registrar_history[0].added_by", ADMIN, OWNER),
        ("registrar_history[0].removed", None, row["registrar_history"][0]["removed"]),
        ("status_on_record_counts.pending", 0, 1),
    ]
    del row["registrar_history"]
    assert [(d.field, d.chain, d.api) for d in differences(state, payload)][0] == ("registrar_history", "1 entries", MISSING)


def test_admin_changes_and_a_pending_recovery_are_compared() -> None:
    executable_at = time_of(12) + 42 * 86_400
    chain_state = project(synthetic_events() + [
        event("MunicipalityAdminProposed", 11, municipality_id=1, current_admin=ADMIN, proposed_admin=STRANGER),
        event("MunicipalityAdminChanged", 12, municipality_id=1, previous_admin=ADMIN, new_admin=STRANGER, recovered=False),
        event("AdminRecoveryStarted", 13, municipality_id=1, proposed_admin=ADMIN, by=OWNER, executable_at=executable_at),
    ])
    chain_state.contract_version = "2.1.0"
    payload = recorded()
    row = payload["municipalities"][0]
    row["admin"] = STRANGER
    row["admin_changes"] = [{"previous_admin": ADMIN, "new_admin": STRANGER, "recovered": True,
                             "chain": {"tx_hash": tx_hash(12), "block_number": 12, "log_index": 0, "block_time": time_of(12)}}]
    row["recovery"] = {"proposed_admin": ADMIN, "executable_at": executable_at + 1, "executable_at_iso": iso_utc(executable_at),
                       "started_by": OWNER,
                       "started": {"tx_hash": tx_hash(13), "block_number": 13, "log_index": 0, "block_time": time_of(13)}}
    found = [(d.field, d.chain, d.api) for d in differences(chain_state, payload)]
    assert found == [
        ("recovery.executable_at", executable_at, executable_at + 1),
        ("admin_changes[0].recovered", False, True),
    ]


def test_another_chain_or_a_pause_in_health_is_reported(state: LedgerState) -> None:
    payload = recorded()
    payload["health"]["chain_id"] = 1
    payload["health"]["paused"] = True
    assert [(d.subject, d.field, d.chain, d.api, d.where) for d in differences(state, payload)] == [
        ("ledger", "chain_id", 31337, 1, "health"),
        ("ledger", "paused", False, True, "health"),
    ]


def test_a_status_flipping_at_the_due_date_during_the_read_is_a_boundary_case(state: LedgerState) -> None:
    just_before_due = DUE_1 - 30
    payload = recorded()
    for row in (payload["summaries"][0], payload["commitments"][0]):
        for name in ("status", "status_on_record", "status_original_terms", "status_on_record_original_terms"):
            row[name] = "overdue"  # the API read a minute later, after the due date
    payload["municipalities"][0]["status_counts"].update(in_progress=0, overdue=1)
    comparison = compare_with_api(state, payload, compared_from=just_before_due, compared_to=just_before_due + 5)
    assert comparison.differences == []
    [boundary] = comparison.boundary
    assert (boundary.commitment_id, boundary.chain_statuses["status"], boundary.possible["status"],
            boundary.api_statuses["status_on_record"]) == (1, "in_progress", ("in_progress", "overdue"), "overdue")


def test_a_boundary_case_still_refuses_a_status_the_window_cannot_explain(state: LedgerState) -> None:
    payload = recorded()
    payload["commitments"][0]["status_on_record"] = "delivered"
    found = differences(state, payload, now=DUE_1 - 30)
    assert [(d.field, d.chain, d.api) for d in found] == [("status_on_record", "in_progress", "delivered")]


def test_a_due_date_outside_the_window_is_no_boundary_case(state: LedgerState) -> None:
    payload = recorded()
    payload["commitments"][0]["status"] = "overdue"
    comparison = compare_with_api(state, payload, compared_from=DUE_1 - 121, boundary_seconds=120)
    assert [(d.field, d.api) for d in comparison.differences] == [("status", "overdue")]
    assert comparison.boundary == []
