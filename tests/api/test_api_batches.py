"""Batch writes (one ``multicall`` transaction, all or nothing) and the paused ledger.

Each test registers the commitments it needs (fresh external references) on the module's
ledger and counts ids relative to what it read, so it runs alone and in any order.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.chain import LedgerChain
from tests.api.helpers import DUE_2030, PROMISED, Made, Tokens, assert_problem, deliver, delivery_id, register, unique_ref

EVIDENCE = ["0x" + "a1" * 32, "0x" + "a2" * 32]
DELIVERED_AT = 1_736_938_800  # 2025-01-15T11:00:00Z


def item(ref: str, **changes: Any) -> dict[str, Any]:
    """A commitment as in ``POST /staff/commitments``."""
    return {"external_ref": ref, "title": f"Belofte {ref}", "target_quantity": "10", "unit": "stuks",
            "promised_at": PROMISED, "due_date": DUE_2030, **changes}


def delivery(commitment_id: int, **changes: Any) -> dict[str, Any]:
    return {"commitment_id": commitment_id, "quantity": "2", "delivered_at": DELIVERED_AT,
            "evidence_sha256": [EVIDENCE[0]], **changes}


def head(chain: LedgerChain) -> tuple[int, int]:
    """(commitments on chain, head block): unchanged when nothing was sent."""
    return chain.call("counts")[1], chain.head_block_number()


def post(client: TestClient, path: str, body: Any, token: str | None) -> Any:
    headers = Tokens.header(token) if token else {}
    return client.post(f"/api/v1/staff/{path}/batch", json=body, headers=headers)


# ------------------------------------------------------------------ registrations


def test_a_batch_registers_every_commitment_in_one_transaction(
    client: TestClient, chain: LedgerChain, tokens: Tokens, roles: Any, index: Any
) -> None:
    refs = [unique_ref("b") for _ in range(3)]
    n = chain.call("counts")[1]
    response = post(client, "commitments",
                    {"commitments": [item(refs[0]), item(refs[1], target_quantity=20), item(refs[2])]}, tokens.baarn)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["commitment_ids"] == [n + 1, n + 2, n + 3]
    assert set(body["tx"]) == {"tx_hash", "block_number", "gas_used"}
    assert body["tx"]["block_number"] == chain.head_block_number()
    index()
    listed = [c for c in client.get("/api/v1/commitments", params={"limit": 100}).json()["data"] if c["external_ref"] in refs]
    assert [(c["id"], c["external_ref"], c["target_quantity"], c["promised_at"], c["registrar"]) for c in listed] == [
        (n + 1, refs[0], "10", PROMISED, roles.registrar.address),
        (n + 2, refs[1], "20", PROMISED, roles.registrar.address),
        (n + 3, refs[2], "10", PROMISED, roles.registrar.address),
    ]
    assert {c["registered"]["tx_hash"] for c in listed} == {body["tx"]["tx_hash"]}
    assert [c["registered"]["log_index"] for c in listed] == sorted(c["registered"]["log_index"] for c in listed)


def test_a_refused_item_refuses_the_whole_batch_and_names_its_index(
    client: TestClient, chain: LedgerChain, tokens: Tokens, commitment: Made
) -> None:
    before = head(chain)
    response = post(client, "commitments",
                    {"commitments": [item(unique_ref("b")), item(unique_ref("b")), item(commitment.external_ref)]},
                    tokens.baarn)
    body = assert_problem(response, 409, "duplicate-external-ref")
    assert (body["index"], body["existing_commitment_id"]) == (2, commitment.id)
    assert body["detail"] == (f"Municipality 1 already has a commitment with external reference “{commitment.external_ref}”: "
                              f"commitment {commitment.id}.")
    assert head(chain) == before


def test_an_external_ref_repeated_inside_a_batch_is_a_validation_error_naming_the_item(
    client: TestClient, chain: LedgerChain, tokens: Tokens
) -> None:
    before = head(chain)
    response = post(client, "commitments", {"commitments": [item("b-6"), item("b-7"), item("b-6")]}, tokens.baarn)
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"] == [{
        "loc": ["body", "commitments", 2, "external_ref"],
        "msg": "external_ref of commitments[2] repeats commitments[0]: each commitment needs its own",
        "type": "batch_repeat",
    }]
    assert head(chain) == before


@pytest.mark.parametrize(
    ("items", "loc", "type_"),
    [
        ([item("v-1"), item("v-2", title="")], ["body", "commitments", 1, "title"], "string_too_short_bytes"),
        ([item("v-1", promised_at=None)], ["body", "commitments", 0, "promised_at"], "time_type"),
        ([item("v-1"), item("v-2"), item("v-3", due_date=PROMISED)], ["body", "commitments", 2], "due_date_before_promise"),
        ([item("v-1", promised_at=int(time.time()) + 3_600)], ["body", "commitments", 0, "promised_at"], "time_in_future"),
        ([item("v-1", target_quantity="10000000000001")], ["body", "commitments", 0, "target_quantity"], "quantity_range"),
        ([], ["body", "commitments"], "too_short"),
        ([item(f"v-{i}") for i in range(101)], ["body", "commitments"], "too_long"),
    ],
)
def test_invalid_batches_are_refused_before_anything_is_sent(
    client: TestClient, chain: LedgerChain, tokens: Tokens, items: list, loc: list, type_: str
) -> None:
    before = head(chain)
    body = assert_problem(post(client, "commitments", {"commitments": items}, tokens.baarn), 422, "validation-error")
    assert (body["errors"][0]["loc"], body["errors"][0]["type"]) == (loc, type_)
    assert head(chain) == before


def test_a_batch_may_be_larger_than_a_single_write_but_not_than_4_mib(client: TestClient, tokens: Tokens) -> None:
    # 40 descriptions of 8000 bytes: over the 256 KiB of a single write, so read (and validated) here
    large = {"commitments": [item(f"l-{i}", description="x" * 8000) for i in range(40)] + [item("l-x", title="")]}
    assert len(json.dumps(large)) > 256 * 1024
    body = assert_problem(post(client, "commitments", large, tokens.baarn), 422, "validation-error")
    assert body["errors"][0]["loc"] == ["body", "commitments", 40, "title"]
    response = client.post(
        "/api/v1/staff/commitments/batch", content=b"{}",
        headers={**Tokens.header(tokens.baarn), "Content-Type": "application/json", "Content-Length": str(4 * 1024 * 1024 + 1)},
    )
    assert_problem(response, 413, "payload-too-large")


def test_batches_need_a_registrar_token(client: TestClient, chain: LedgerChain, tokens: Tokens, roles: Any) -> None:
    before = head(chain)
    for path, body in (("commitments", {"commitments": [item("t-1")]}), ("deliveries", {"deliveries": [delivery(1)]})):
        assert_problem(post(client, path, body, None), 401, "unauthorized")
    stranger = assert_problem(post(client, "commitments", {"commitments": [item("t-1")]}, tokens.baarn_stranger),
                              403, "forbidden")
    assert stranger["index"] == 0
    assert stranger["contract_error"] == {
        "name": "LedgerNotRegistrar", "args": {"municipality_id": 1, "account": roles.stranger.address},
    }
    assert head(chain) == before


# ------------------------------------------------------------------ deliveries


def test_a_batch_records_every_delivery_in_one_transaction(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any
) -> None:
    first, second = register(client, tokens.baarn), register(client, tokens.baarn)
    register(client, tokens.utrecht)  # another municipality's commitment in between
    body = {"deliveries": [
        delivery(first.id, external_ref="lev-1", note="Eerste", evidence_uri="https://example.org/1"),
        delivery(second.id, evidence_sha256=EVIDENCE),
        delivery(first.id, quantity=3, delivered_at="2025-02-01T00:00:00+01:00"),
    ]}
    response = post(client, "deliveries", body, tokens.baarn)
    assert response.status_code == 201, response.text
    recorded = response.json()
    assert recorded["delivery_ids"] == [delivery_id(first.id, 1), delivery_id(second.id, 1), delivery_id(first.id, 2)]
    index()
    c1 = client.get(f"/api/v1/commitments/{first.id}").json()
    assert c1["delivered_quantity"] == "5"
    assert [(d["id"], d["quantity"], d["delivered_at"], d["external_ref"], d["note"]) for d in c1["deliveries"]] == [
        (delivery_id(first.id, 1), "2", DELIVERED_AT, "lev-1", "Eerste"),
        (delivery_id(first.id, 2), "3", 1_738_364_400, "", ""),
    ]
    assert {d["recorded"]["tx_hash"] for d in c1["deliveries"]} == {recorded["tx"]["tx_hash"]}
    assert [e["sha256"] for e in client.get(f"/api/v1/commitments/{second.id}").json()["deliveries"][0]["evidence"]] == EVIDENCE


@pytest.mark.parametrize(
    ("case", "status", "slug", "index_"),
    [("another-municipality", 403, "forbidden", 1), ("unknown-commitment", 404, "not-found", 2),
     ("duplicate-ref", 409, "duplicate-delivery-ref", 1)],
    ids=["another-municipality", "unknown-commitment", "duplicate-ref"],
)
def test_a_refused_delivery_refuses_the_whole_batch_and_names_its_index(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made, utrecht_commitment: Made,
    case: str, status: int, slug: str, index_: int,
) -> None:
    other = register(client, tokens.baarn)
    delivered = deliver(client, tokens.baarn, commitment.id, external_ref="lev-1")
    index()
    unknown = chain.call("counts")[1] + 99
    items, extra = {
        "another-municipality": ([delivery(commitment.id), delivery(utrecht_commitment.id)], {}),
        "unknown-commitment": ([delivery(commitment.id), delivery(other.id), delivery(unknown)], {}),
        "duplicate-ref": ([delivery(other.id), delivery(commitment.id, external_ref="lev-1")],
                          {"existing_delivery_id": delivered}),
    }[case]
    before = head(chain)
    body = assert_problem(post(client, "deliveries", {"deliveries": items}, tokens.baarn), status, slug)
    assert body["index"] == index_
    assert {k: body[k] for k in extra} == extra
    assert head(chain) == before


@pytest.mark.parametrize(
    ("items", "loc", "type_"),
    [
        ([delivery(1, evidence_sha256=[EVIDENCE[0], EVIDENCE[0].upper().replace("0X", "")])],
         ["body", "deliveries", 0, "evidence_sha256", 1], "batch_repeat"),
        ([delivery(1, external_ref="x"), delivery(2, external_ref="x"), delivery(1, external_ref="x")],
         ["body", "deliveries", 2, "external_ref"], "batch_repeat"),
        ([delivery(1), delivery(1, evidence_sha256=[])], ["body", "deliveries", 1, "evidence_sha256"], "too_short"),
        ([delivery(1, evidence_sha256=["0x" + "00" * 32])], ["body", "deliveries", 0, "evidence_sha256", 0], "sha256_zero"),
        ([delivery(1, delivered_at=int(time.time()) + 3_600)], ["body", "deliveries", 0, "delivered_at"], "time_in_future"),
        ([delivery(1, evidence=["x"])], ["body", "deliveries", 0, "evidence"], "extra_forbidden"),
    ],
)
def test_invalid_delivery_batches_are_refused_before_anything_is_sent(
    client: TestClient, chain: LedgerChain, tokens: Tokens, items: list, loc: list, type_: str
) -> None:
    before = head(chain)
    body = assert_problem(post(client, "deliveries", {"deliveries": items}, tokens.baarn), 422, "validation-error")
    assert (body["errors"][0]["loc"], body["errors"][0]["type"]) == (loc, type_)
    assert head(chain) == before


def test_a_withdrawn_commitment_in_a_batch_is_refused_with_its_index(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made
) -> None:
    withdrawn = register(client, tokens.baarn).id
    assert client.post(f"/api/v1/staff/commitments/{withdrawn}/withdrawal", json={"reason": "Geschrapt"},
                       headers=Tokens.header(tokens.baarn)).status_code == 201
    before = head(chain)
    items = {"deliveries": [delivery(commitment.id), delivery(withdrawn)]}
    by_contract = assert_problem(post(client, "deliveries", items, tokens.baarn), 409, "commitment-withdrawn")
    index()
    by_index = assert_problem(post(client, "deliveries", items, tokens.baarn), 409, "commitment-withdrawn")
    assert by_contract["index"] == by_index["index"] == 1
    assert by_contract["detail"] == by_index["detail"] == (
        f"Commitment {withdrawn} is withdrawn: it accepts no amendment or delivery.")
    assert by_contract["contract_error"]["name"] == "LedgerCommitmentWithdrawn"
    assert head(chain) == before


# ------------------------------------------------------------------ paused


def test_a_paused_ledger_refuses_every_write_with_503_and_keeps_reading(
    client: TestClient, chain: LedgerChain, tokens: Tokens, roles: Any, index: Any
) -> None:
    chain.send("pause", [], roles.platform_admin.key)
    index()
    before = head(chain)
    auth = Tokens.header(tokens.baarn)
    writes = [
        client.post("/api/v1/staff/commitments", json=item("p-1"), headers=auth),
        post(client, "commitments", {"commitments": [item("p-2")]}, tokens.baarn),
        post(client, "deliveries", {"deliveries": [delivery(1)]}, tokens.baarn),
        client.post("/api/v1/staff/commitments/1/amendments",
                    json={"expected_amendment_count": 0, "title": "Nieuw", "reason": "r"}, headers=auth),
        client.post("/api/v1/staff/commitments/1/deliveries",
                    data={"quantity": "1", "delivered_at": str(DELIVERED_AT), "evidence_sha256": EVIDENCE[1]}, headers=auth),
        client.post("/api/v1/staff/commitments/2/withdrawal", json={"reason": "r"}, headers=auth),
        client.post("/api/v1/staff/deliveries/1000001/revocation", json={"reason": "r"}, headers=auth),
    ]
    try:
        for response in writes:
            body = assert_problem(response, 503, "ledger-paused")
            assert body["detail"] == (
                "The ledger is paused by its platform admin (an emergency stop): no record can be written now. "
                "Reads keep working; retry when it is lifted."
            )
            assert body["contract_error"] == {"name": "LedgerPaused", "args": {}}
            assert "index" not in body
        assert head(chain) == before
        health = client.get("/api/v1/health").json()
        assert (health["paused"], health["contract_version"]) == (True, "2.1.0")
        assert client.get("/api/v1/commitments").status_code == 200
    finally:
        chain.send("unpause", [], roles.platform_admin.key)
    index()
    assert client.get("/api/v1/health").json()["paused"] is False
    assert client.post("/api/v1/staff/commitments", json=item("p-1"), headers=auth).status_code == 201
