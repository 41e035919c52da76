"""The three stories of issue 5 through the API, which now shows the facts instead of hiding
them: a backdated delivery, a commitment met only because its terms were relaxed, and the
takeover of a municipality's admin role (only by the public 42-day recovery).

This module moves the chain's clock (``evm_increaseTime``), so it runs on an anvil of its own
(started here, stopped at the end) and evaluates statuses at the chain's time, not the wall
clock's: no other module sees its clock.

Each test registers its own commitments (or municipality) and reads listings relative to what
they held before it, so it runs alone and in any order, however far other tests moved the clock.
"""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.deps import get_now
from bench.anvil import throwaway_anvil
from ledger.chain import LedgerChain
from ledger.errors import ContractRevertError
from ledger.limits import ADMIN_RECOVERY_DELAY
from tests.api.helpers import DAY, Tokens, assert_problem, increase_time, iso, unique_ref

EVIDENCE = "0x" + "d0" * 32


@pytest.fixture(scope="module")
def rpc_url() -> Iterator[str]:
    """An anvil of this module's own (the standard mnemonic), because it moves the clock."""
    with throwaway_anvil() as url:
        yield url


@pytest.fixture(scope="module")
def chain_time(app: FastAPI, chain: LedgerChain) -> Iterator[Any]:
    """Statuses evaluated at the chain's latest block time (the clock this module moves).
    Returns a function giving that time."""

    def head_time() -> int:
        return chain.block(chain.head_block_number()).timestamp

    app.dependency_overrides[get_now] = head_time
    yield head_time
    app.dependency_overrides.pop(get_now, None)


def register(client: TestClient, token: str, ref: str, target: int, promised_at: int, due: int) -> int:
    body = {"external_ref": ref, "title": f"Belofte {ref}", "target_quantity": target, "unit": "stuks",
            "promised_at": promised_at, "due_date": due}
    response = client.post("/api/v1/staff/commitments", json=body, headers=Tokens.header(token))
    assert response.status_code == 201, response.text
    return response.json()["commitment_id"]


def listed_ids(client: TestClient, path: str, **params: str) -> list[int]:
    """Ids a listing gives (ordered by id), filtered by ``params``."""
    return [x["id"] for x in client.get(path, params={**params, "limit": 100}).json()["data"]]


def in_the_past(chain_now: int) -> int:
    """A moment before both the chain's clock (which this module moves ahead) and the wall
    clock (by which the API refuses promise dates in the future)."""
    return min(chain_now, int(time.time()))


def new_municipality(chain: LedgerChain, roles: Any, admin: str) -> int:
    """Register a municipality of the calling test alone; its id."""
    municipality_id = chain.call("counts")[0] + 1
    chain.send("registerMunicipality", [f"Gemeente {municipality_id}", f"GM9{municipality_id:03d}", admin],
               roles.platform_admin.key)
    return municipality_id


def deliver(client: TestClient, token: str, commitment_id: int, quantity: int, delivered_at: int) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/staff/commitments/{commitment_id}/deliveries",
        data={"quantity": str(quantity), "delivered_at": str(delivered_at), "evidence_sha256": EVIDENCE},
        headers=Tokens.header(token),
    )
    assert response.status_code == 201, response.text
    return response.json()


# ------------------------------------------------------------------ 1. backdating


def test_a_delivery_backdated_to_1970_on_an_overdue_commitment_is_shown_as_recorded_late(
    client: TestClient, tokens: Tokens, index: Any, chain_time: Any
) -> None:
    start = chain_time()
    index()
    late_before = listed_ids(client, "/api/v1/commitments", recorded_late="true")
    late_deliveries_before = listed_ids(client, "/api/v1/deliveries", recorded_late="true")
    on_record_late_before = client.get("/api/v1/commitments", params={"status_on_record": "delivered_late"}).json()["count"]
    commitment_id = register(client, tokens.baarn, unique_ref("terug"), 10, in_the_past(start) - 100 * DAY, start + 10 * DAY)
    increase_time(client.app.state.settings.rpc_url, 20 * DAY)  # now overdue
    recorded = deliver(client, tokens.baarn, commitment_id, 10, 1)  # 1 January 1970, 00:00:01
    index()
    c = client.get(f"/api/v1/commitments/{commitment_id}").json()
    [d] = c["deliveries"]
    recorded_at = d["recorded"]["block_time"]
    assert recorded_at >= start + 20 * DAY
    assert {k: c[k] for k in ("status", "met_at", "met_at_iso", "status_on_record", "met_on_record_at",
                              "recorded_late_count", "historical_record", "met_only_under_relaxed_terms")} == {
        "status": "delivered",  # what the municipality reports: met in 1970
        "met_at": 1,
        "met_at_iso": "1970-01-01T00:00:01Z",
        "status_on_record": "delivered_late",  # what the chain proves: recorded after the due date
        "met_on_record_at": recorded_at,
        "recorded_late_count": 1,
        "historical_record": False,
        "met_only_under_relaxed_terms": False,
    }
    assert {k: d[k] for k in ("id", "delivered_at", "delivered_at_iso", "recorded_at", "recording_lag_seconds",
                              "recording_lag_days", "recorded_late")} == {
        "id": recorded["delivery_id"],
        "delivered_at": 1,
        "delivered_at_iso": "1970-01-01T00:00:01Z",
        "recorded_at": recorded_at,
        "recording_lag_seconds": recorded_at - 1,
        "recording_lag_days": (recorded_at - 1) // DAY,
        "recorded_late": True,
    }
    assert recorded["delivery_id"] == commitment_id * 1_000_000 + 1
    assert listed_ids(client, "/api/v1/commitments", recorded_late="true") == late_before + [commitment_id]
    assert listed_ids(client, "/api/v1/deliveries", recorded_late="true") == late_deliveries_before + [recorded["delivery_id"]]
    assert client.get("/api/v1/commitments", params={"status_on_record": "delivered_late"}).json()["count"] == (
        on_record_late_before + 1)


# ------------------------------------------------------------------ 2. relaxed terms


def test_a_commitment_40_of_100_done_and_overdue_amended_to_40_is_met_only_under_relaxed_terms(
    client: TestClient, tokens: Tokens, index: Any, chain_time: Any
) -> None:
    start = chain_time()
    index()
    relaxed_before = listed_ids(client, "/api/v1/commitments", met_only_under_relaxed_terms="true")
    after_due_before = listed_ids(client, "/api/v1/commitments", amended_after_due_date="true")
    commitment_id = register(client, tokens.baarn, unique_ref("compromis"), 100, in_the_past(start) - 30 * DAY,
                             start + 10 * DAY)
    claimed = int(time.time()) - DAY  # the wall clock is behind this module's chain clock
    deliver(client, tokens.baarn, commitment_id, 40, claimed)
    increase_time(client.app.state.settings.rpc_url, 20 * DAY)  # past the due date, 40 of 100
    index()
    before = client.get(f"/api/v1/commitments/{commitment_id}").json()
    assert (before["status"], before["status_on_record"], before["amendment_count"]) == ("overdue", "overdue", 0)

    response = client.post(
        f"/api/v1/staff/commitments/{commitment_id}/amendments",
        json={"expected_amendment_count": 0, "target_quantity": 40, "reason": "Bijgesteld naar wat haalbaar bleek"},
        headers=Tokens.header(tokens.baarn),
    )
    assert response.status_code == 201, response.text
    index()
    c = client.get(f"/api/v1/commitments/{commitment_id}").json()
    [a] = c["amendments"]
    assert {k: c[k] for k in ("target_quantity", "original_target_quantity", "progress_bps", "progress_bps_original_terms",
                              "status", "status_original_terms", "status_on_record", "status_on_record_original_terms",
                              "met_at", "met_on_record_at", "met_only_under_relaxed_terms", "target_lowered",
                              "amended_after_due_date")} == {
        "target_quantity": "40",
        "original_target_quantity": "100",
        "progress_bps": 10_000,
        "progress_bps_original_terms": 4_000,
        "status": "delivered",  # met on its claimed date, before the due date, but only against 40
        "status_original_terms": "overdue",
        "status_on_record": "delivered_late",  # the chain proves the lowered target met at the amendment
        "status_on_record_original_terms": "overdue",
        "met_at": claimed,
        "met_on_record_at": a["amended_at"],
        "met_only_under_relaxed_terms": True,
        "target_lowered": True,
        "amended_after_due_date": True,
    }
    assert (a["fields"], a["previous_target_quantity"], a["target_quantity"]) == (["target_quantity"], "100", "40")
    assert (a["after_due_date"], a["lowered_target"], a["extended_due_date"]) == (True, True, False)
    assert listed_ids(client, "/api/v1/commitments", met_only_under_relaxed_terms="true") == relaxed_before + [commitment_id]
    assert listed_ids(client, "/api/v1/commitments", amended_after_due_date="true") == after_due_before + [commitment_id]


# ------------------------------------------------------------------ 3. takeover


def test_the_platform_admin_takes_over_a_municipality_only_by_the_public_42_day_recovery(
    client: TestClient, chain: LedgerChain, roles: Any, index: Any, chain_time: Any
) -> None:
    assert ADMIN_RECOVERY_DELAY == 42 * DAY
    m = new_municipality(chain, roles, roles.council_admin.address)
    started = chain.send("startAdminRecovery", [m, roles.stranger.address], roles.platform_admin.key)
    index()
    pending = client.get(f"/api/v1/municipalities/{m}").json()
    started_at = started.event("AdminRecoveryStarted")
    executable_at = started_at.args["executable_at"]
    assert executable_at == chain.block(started.block_number).timestamp + 42 * DAY
    assert pending["admin"] == roles.council_admin.address
    assert pending["admin_changes"] == []
    assert {k: v for k, v in pending["recovery"].items() if k != "started"} == {
        "proposed_admin": roles.stranger.address,
        "executable_at": executable_at,
        "executable_at_iso": iso(executable_at),
        "started_by": roles.platform_admin.address,
    }
    assert pending["recovery"]["started"]["tx_hash"] == started.tx_hash

    increase_time(client.app.state.settings.rpc_url, 41 * DAY)
    with pytest.raises(ContractRevertError) as early:
        chain.send("completeAdminRecovery", [m], roles.stranger.key)
    assert early.value.name == "LedgerRecoveryNotReady"
    index()
    assert client.get(f"/api/v1/municipalities/{m}").json()["admin_changes"] == []

    increase_time(client.app.state.settings.rpc_url, DAY)
    completed = chain.send("completeAdminRecovery", [m], roles.other_admin.key)  # anyone may complete it
    index()
    taken = client.get(f"/api/v1/municipalities/{m}").json()
    assert (taken["admin"], taken["recovery"], taken["pending_admin"]) == (roles.stranger.address, None, None)
    [change] = taken["admin_changes"]
    assert {k: v for k, v in change.items() if k != "chain"} == {
        "previous_admin": roles.council_admin.address,
        "new_admin": roles.stranger.address,
        "recovered": True,
    }
    assert change["chain"]["tx_hash"] == completed.tx_hash


def test_an_ordinary_handover_is_shown_as_not_recovered(
    client: TestClient, chain: LedgerChain, roles: Any, index: Any, chain_time: Any
) -> None:
    m = new_municipality(chain, roles, roles.other_admin.address)
    chain.send("proposeMunicipalityAdmin", [m, roles.registrar.address], roles.other_admin.key)
    index()
    assert client.get(f"/api/v1/municipalities/{m}").json()["pending_admin"] == roles.registrar.address
    chain.send("acceptMunicipalityAdmin", [m], roles.registrar.key)
    index()
    handed_over = client.get(f"/api/v1/municipalities/{m}").json()
    assert (handed_over["admin"], handed_over["pending_admin"]) == (roles.registrar.address, None)
    assert [(c["previous_admin"], c["new_admin"], c["recovered"]) for c in handed_over["admin_changes"]] == [
        (roles.other_admin.address, roles.registrar.address, False)
    ]


def test_a_promise_date_in_the_future_is_refused_before_anything_is_sent(client: TestClient, tokens: Tokens) -> None:
    future = int(time.time()) + 3_600
    body = {"external_ref": "toekomst", "title": "t", "target_quantity": 1, "unit": "u", "promised_at": future,
            "due_date": future + DAY}
    problem = assert_problem(client.post("/api/v1/staff/commitments", json=body, headers=Tokens.header(tokens.baarn)),
                             422, "validation-error")
    assert problem["errors"][0]["loc"] == ["body", "promised_at"]
    assert problem["errors"][0]["type"] == "time_in_future"
