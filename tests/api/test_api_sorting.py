"""``GET /api/v1/commitments?sort=``: the ten sort values on a small ledger written straight to
the chain and indexed by the real indexer (ties by id, status most urgent first, last change
by the latest event), ``last_changed_at`` in summaries and details, and 422 for anything else."""

from __future__ import annotations

import time
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient

from api.schemas import CommitmentSort
from ledger.chain import LedgerChain
from ledger.db import repository
from tests.api.helpers import DAY, amendment_input, assert_problem, commitment_input, delivery_input, iso

EVIDENCE = "0x" + "e5" * 32


@pytest.fixture(scope="module")
def seed(client: TestClient, chain: LedgerChain, roles: Any, index: Any) -> dict[str, Any]:
    """Baarn 1 (10, due in 30 days), 2 (4, due in 10 days), 3 (100, due in 30 days), Utrecht 4
    (2, due in 5 days); then 4 delivered on 2, 5 on 1, and 3's title amended, each its own
    transaction."""
    now = int(time.time())
    baarn, utrecht = roles.registrar.key, roles.other_registrar.key
    sent: dict[str, Any] = {}
    for name, (key, mid, target, due) in {
        "c1": (baarn, 1, 10, now + 30 * DAY),
        "c2": (baarn, 1, 4, now + 10 * DAY),
        "c3": (baarn, 1, 100, now + 30 * DAY),
        "c4": (utrecht, 2, 2, now + 5 * DAY),
    }.items():
        sent[name] = chain.send("registerCommitment", [commitment_input(mid, f"sort-{name}", name, target=target, due=due)], key)
    sent["d2"] = chain.send("recordDelivery", [2, delivery_input(4, now - 60, [EVIDENCE])], baarn)
    sent["d1"] = chain.send("recordDelivery", [1, delivery_input(5, now - 60, [EVIDENCE])], baarn)
    sent["a3"] = chain.send("amendCommitment", [3, amendment_input(0, "Nieuwe titel", title="c3 hernoemd")], baarn)
    index()
    return sent


def listed(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/commitments", params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


@pytest.mark.parametrize(
    ("sort", "ids"),
    [
        ("id", [1, 2, 3, 4]),
        ("-id", [4, 3, 2, 1]),
        ("due_date", [4, 2, 1, 3]),  # 1 and 3 share their due date: by id
        ("-due_date", [1, 3, 2, 4]),
        ("progress", [3, 4, 1, 2]),  # 0, 0, 5000, 10000
        ("-progress", [2, 1, 3, 4]),
        ("status", [1, 3, 4, 2]),  # in_progress, pending, pending, delivered
        ("-status", [2, 3, 4, 1]),
        ("last_change", [4, 2, 1, 3]),  # registration, delivery, delivery, amendment
        ("-last_change", [3, 1, 2, 4]),
    ],
)
def test_commitments_are_sorted_by_each_key_both_ways(client: TestClient, seed: dict, sort: str, ids: list[int]) -> None:
    assert [c["id"] for c in listed(client, sort=sort)] == ids


def test_the_default_order_is_by_id_and_sort_combines_with_filters_and_paging(client: TestClient, seed: dict) -> None:
    assert [c["id"] for c in listed(client)] == [1, 2, 3, 4]
    body = client.get("/api/v1/commitments", params={"municipality_id": 1, "sort": "-progress", "offset": 1,
                                                     "limit": 1}).json()
    assert ([c["id"] for c in body["data"]], body["count"], body["offset"], body["limit"]) == ([1], 3, 1, 1)


def test_last_changed_at_is_the_block_time_of_the_latest_event(client: TestClient, chain: LedgerChain, seed: dict) -> None:
    expected = {
        1: seed["d1"].event("DeliveryRecorded"),
        2: seed["d2"].event("DeliveryRecorded"),
        3: seed["a3"].event("CommitmentAmended"),
        4: seed["c4"].event("CommitmentRegistered"),
    }
    times = {cid: chain.block(event.block_number).timestamp for cid, event in expected.items()}
    assert {c["id"]: (c["last_changed_at"], c["last_changed_at_iso"]) for c in listed(client)} == {
        cid: (at, iso(at)) for cid, at in times.items()
    }
    detail = client.get("/api/v1/commitments/3").json()
    assert (detail["last_changed_at"], detail["last_changed_at_iso"]) == (times[3], iso(times[3]))


@pytest.mark.parametrize("bad", ["bogus", "+id", "--id", "ID", "progress_bps", "last_changed_at", ""])
def test_an_unknown_sort_is_a_validation_problem(client: TestClient, bad: str) -> None:
    body = assert_problem(client.get("/api/v1/commitments", params={"sort": bad}), 422, "validation-error")
    assert [e["loc"] for e in body["errors"]] == [["query", "sort"]]


def test_the_sort_values_are_the_repositorys_and_documented_in_openapi(client: TestClient) -> None:
    assert get_args(CommitmentSort) == repository.COMMITMENT_SORTS
    parameters = client.get("/openapi.json").json()["paths"]["/api/v1/commitments"]["get"]["parameters"]
    (sort,) = [p for p in parameters if p["name"] == "sort"]
    assert (sort["in"], sort["required"], sort["schema"]["default"]) == ("query", False, "id")
    assert sort["schema"]["enum"] == list(repository.COMMITMENT_SORTS)
