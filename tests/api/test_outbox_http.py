"""The write outbox over HTTP (``api.routes.writes``): 202 with a write to poll, ``Prefer:
wait`` answering 201 once confirmed, idempotency (header or derived key; sequential and 10
requests at once → one transaction), key reuse 422, a write that fails on chain (its problem,
its evidence no longer served), ids never shown before ``confirmed``."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ledger.chain import LedgerChain
from tests.api.helpers import Tokens, commitment_body, register, unique_ref

NO_WAIT = {"Prefer": ""}  # the module client sends Prefer: wait=30 by default (conftest)


def sha(content: bytes) -> str:
    return "0x" + hashlib.sha256(content).hexdigest()


def auth(token: str, **headers: str) -> dict[str, str]:
    return {**Tokens.header(token), **headers}


def commitments_on_chain(chain: LedgerChain) -> int:
    return int(chain.call("counts")[1])


def rpc(chain: LedgerChain, method: str, *params: Any) -> Any:
    response = httpx.post(chain.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    body = response.json()
    assert "error" not in body, body
    return body["result"]


def wait_state(client: TestClient, token: str, write_id: str, states: tuple[str, ...], timeout: float = 30) -> dict:
    """Poll ``GET /staff/writes/{id}`` until the write is in one of ``states``."""
    deadline = time.monotonic() + timeout
    while True:
        write = client.get(f"/api/v1/staff/writes/{write_id}", headers=auth(token)).json()
        if write["state"] in states or time.monotonic() > deadline:
            return write
        time.sleep(0.05)


def test_a_write_answers_202_with_its_location_and_is_polled_until_confirmed(
    client: TestClient, chain: LedgerChain, tokens: Tokens, roles: Any
) -> None:
    body = commitment_body()
    response = client.post("/api/v1/staff/commitments", json=body, headers=auth(tokens.baarn, **NO_WAIT))
    assert response.status_code == 202, response.text
    write = response.json()["write"]
    assert response.headers["location"] == f"/api/v1/staff/writes/{write['id']}"
    assert set(response.json()) == {"write"}  # no ids before confirmed
    assert (write["kind"], write["account"], write["municipality_id"]) == (
        "register_commitment", roles.registrar.address, 1)
    assert write["state"] in ("queued", "sent", "mined", "confirmed")
    assert write["attempts"] == 1 and write["confirmations_required"] == 1 and write["problem"] is None
    assert write["created_at_iso"].endswith("Z") and len(write["idempotency_key"]) == 64
    if write["state"] != "confirmed":
        assert write["result"] is None
    final = wait_state(client, tokens.baarn, write["id"], ("confirmed", "failed"))
    assert final["state"] == "confirmed", final
    assert final["result"]["commitment_id"] == commitments_on_chain(chain)
    assert final["result"]["tx"]["tx_hash"] == final["tx_hash"] and final["block_number"] == final["result"]["tx"]["block_number"]
    assert final["confirmations"] >= 1
    listed = client.get("/api/v1/staff/writes?state=confirmed&limit=500", headers=auth(tokens.baarn)).json()
    assert write["id"] in [w["id"] for w in listed["data"]] and listed["count"] >= 1
    assert client.get(response.headers["location"], headers=auth(tokens.utrecht)).status_code == 404  # other municipality
    assert client.get(f"/api/v1/staff/writes/{'0' * 32}", headers=auth(tokens.baarn)).status_code == 404


def test_prefer_wait_answers_201_with_the_routes_body_and_the_write(client: TestClient, tokens: Tokens) -> None:
    response = client.post("/api/v1/staff/commitments", json=commitment_body(),
                           headers=auth(tokens.baarn, Prefer="wait=10"))
    assert response.status_code == 201, response.text
    assert response.headers["preference-applied"] == "wait=10"
    body = response.json()
    write = body.pop("write")
    assert write["state"] == "confirmed" and write["result"] == body
    assert set(body) == {"commitment_id", "parent_id", "weight", "tx"}


def test_prefer_indexed_answers_201_only_once_the_index_holds_the_writes_block(
    client: TestClient, tokens: Tokens, index: Any
) -> None:
    body = commitment_body()
    key = {"Idempotency-Key": unique_ref("indexed")}
    # confirmed on chain at once (0 confirmations), but no indexer has read its block yet
    early = client.post("/api/v1/staff/commitments", json=body,
                        headers=auth(tokens.baarn, Prefer="wait=1, indexed", **key))
    assert early.status_code == 202, early.text
    assert early.headers["preference-applied"] == "wait=1"
    write = early.json()["write"]
    assert write["state"] == "confirmed" and write["result"]["commitment_id"] >= 1
    assert client.get(f"/api/v1/commitments/{write['result']['commitment_id']}").status_code == 404
    index()
    late = client.post("/api/v1/staff/commitments", json=body,
                       headers=auth(tokens.baarn, Prefer="wait=1, indexed", **key))
    assert late.status_code == 201, late.text
    assert late.headers["preference-applied"] == "wait=1, indexed"
    assert late.json()["write"]["id"] == write["id"]
    shown = client.get(f"/api/v1/commitments/{late.json()['commitment_id']}")
    assert shown.status_code == 200 and shown.json()["title"] == body["title"]
    # without the preference a confirmed write is 201 at once, indexed or not
    plain = client.post("/api/v1/staff/commitments", json=commitment_body(), headers=auth(tokens.baarn, Prefer="wait=10"))
    assert plain.status_code == 201 and plain.headers["preference-applied"] == "wait=10"


def test_an_exact_repeat_is_the_same_write_and_one_transaction(
    client: TestClient, chain: LedgerChain, tokens: Tokens
) -> None:
    body = commitment_body()
    first = client.post("/api/v1/staff/commitments", json=body, headers=auth(tokens.baarn))
    assert first.status_code == 201, first.text
    count, head = commitments_on_chain(chain), chain.head_block_number()
    again = client.post("/api/v1/staff/commitments", json=body, headers=auth(tokens.baarn))
    assert again.status_code == 201, again.text
    assert again.json()["write"]["id"] == first.json()["write"]["id"]
    assert again.json()["commitment_id"] == first.json()["commitment_id"]
    assert (commitments_on_chain(chain), chain.head_block_number()) == (count, head)
    # the same body from another municipality's token is another write
    other = client.post("/api/v1/staff/commitments", json=body, headers=auth(tokens.utrecht))
    assert other.status_code == 201 and other.json()["write"]["id"] != first.json()["write"]["id"]


def test_an_idempotency_key_names_one_write_and_is_refused_for_another_request(
    client: TestClient, chain: LedgerChain, tokens: Tokens
) -> None:
    key = unique_ref("import-row")
    first = client.post("/api/v1/staff/commitments", json=commitment_body(),
                        headers=auth(tokens.baarn, **{"Idempotency-Key": key}))
    assert first.status_code == 201, first.text
    assert first.json()["write"]["idempotency_key"] == key
    count = commitments_on_chain(chain)
    reused = client.post("/api/v1/staff/commitments", json=commitment_body(),
                         headers=auth(tokens.baarn, **{"Idempotency-Key": key}))
    assert reused.status_code == 422, reused.text
    problem = reused.json()
    assert problem["type"] == "/problems/idempotency-key-reused"
    assert (problem["idempotency_key"], problem["write_id"]) == (key, first.json()["write"]["id"])
    assert commitments_on_chain(chain) == count
    for bad in ("x" * 256, ""):
        refused = client.post("/api/v1/staff/commitments", json=commitment_body(),
                              headers=auth(tokens.baarn, **{"Idempotency-Key": bad}))
        assert refused.status_code == 400, refused.text
        assert refused.json()["type"] == "/problems/invalid-idempotency-key"
    assert commitments_on_chain(chain) == count


def test_a_refusal_before_journaling_is_not_remembered(client: TestClient, tokens: Tokens) -> None:
    key = unique_ref("refused")
    refused = client.post("/api/v1/staff/commitments", json=commitment_body(), headers=auth(
        tokens.baarn_stranger, **{"Idempotency-Key": key}))
    assert refused.status_code == 403  # the stranger is no registrar: the estimate refuses, nothing journaled
    again = client.post("/api/v1/staff/commitments", json=commitment_body(), headers=auth(
        tokens.baarn_stranger, **{"Idempotency-Key": key}))
    assert again.status_code == 403  # checked again, not answered from memory


def test_ten_identical_requests_at_once_are_one_write_and_one_transaction(
    client: TestClient, chain: LedgerChain, tokens: Tokens
) -> None:
    body = commitment_body()
    count = commitments_on_chain(chain)
    start = threading.Barrier(10, timeout=30)
    answers: list[Any] = []
    lock = threading.Lock()

    def post() -> None:
        start.wait()
        response = client.post("/api/v1/staff/commitments", json=body, headers=auth(tokens.baarn))
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=post) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers if a.status_code != 201]
    assert len({a.json()["write"]["id"] for a in answers}) == 1
    assert len({a.json()["commitment_id"] for a in answers}) == 1
    assert commitments_on_chain(chain) == count + 1


def test_a_repeat_whose_checks_ran_after_its_twin_was_confirmed_is_that_write_not_a_refusal(
    client: TestClient, chain: LedgerChain, tokens: Tokens, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race CI once showed among the ten requests: a repeat looked for its key before the
    first was journaled, then ran its checks after the first was confirmed; the chain then
    refuses the external reference (taken by that very write), and the repeat must still be
    answered with the first write."""
    from ledger.outbox import Journal

    body = commitment_body()
    first = client.post("/api/v1/staff/commitments", json=body, headers=auth(tokens.baarn))
    assert first.status_code == 201, first.text
    count = commitments_on_chain(chain)
    real = Journal.existing
    calls: list[int] = []

    def late(self: Journal) -> Any:  # the first look happened "before" the twin was journaled
        calls.append(1)
        return None if len(calls) == 1 else real(self)

    monkeypatch.setattr(Journal, "existing", late)
    repeat = client.post("/api/v1/staff/commitments", json=body, headers=auth(tokens.baarn))
    assert repeat.status_code == 201, repeat.text
    assert repeat.json()["write"]["id"] == first.json()["write"]["id"]
    assert repeat.json()["commitment_id"] == first.json()["commitment_id"]
    assert len(calls) == 2 and commitments_on_chain(chain) == count
    other = commitment_body()
    other["external_ref"] = body["external_ref"]
    other["title"] = body["title"] + " (another request)"
    calls.clear()
    refused = client.post("/api/v1/staff/commitments", json=other, headers=auth(tokens.baarn))
    assert refused.status_code == 409, refused.text  # not a repeat: the refusal stands
    assert refused.json()["type"] == "/problems/duplicate-external-ref"


def test_a_write_that_fails_on_chain_is_failed_with_its_problem_and_its_evidence_is_not_served(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any
) -> None:
    made = register(client, tokens.baarn)
    ref = unique_ref("lev")
    kept, lost = f"recorded first {ref}\n".encode(), f"lost the race {ref}\n".encode()
    rpc(chain, "evm_setAutomine", False)
    try:  # both pass the estimate (neither is mined yet); the second loses on chain
        writes = []
        for content in (kept, lost):
            response = client.post(f"/api/v1/staff/commitments/{made.id}/deliveries",
                                   data={"quantity": "1", "delivered_at": "1736938800", "external_ref": ref},
                                   files=[("evidence", ("f.txt", content, "text/plain"))],
                                   headers=auth(tokens.baarn, **NO_WAIT))
            assert response.status_code == 202, response.text
            writes.append(response.json()["write"]["id"])
        for write_id in writes:
            wait_state(client, tokens.baarn, write_id, ("sent",), timeout=10)
        pending = client.get(f"/api/v1/evidence/{sha(lost)}")
        assert (pending.status_code, pending.headers["x-ledger-citation"]) == (200, "pending")
        rpc(chain, "evm_mine")
    finally:
        rpc(chain, "evm_setAutomine", True)
    first = wait_state(client, tokens.baarn, writes[0], ("confirmed", "failed"))
    second = wait_state(client, tokens.baarn, writes[1], ("confirmed", "failed"))
    assert first["state"] == "confirmed", first
    assert second["state"] == "failed" and second["result"] is None
    problem = second["problem"]
    assert (problem["status"], problem["type"]) == (409, "/problems/duplicate-delivery-ref")
    assert problem["existing_delivery_id"] == first["result"]["delivery_id"]
    assert problem["tx_hash"] == second["tx_hash"]
    # Prefer: wait on the same request answers the problem with the write's id
    repeat = client.post(f"/api/v1/staff/commitments/{made.id}/deliveries",
                         data={"quantity": "1", "delivered_at": "1736938800", "external_ref": ref},
                         files=[("evidence", ("f.txt", lost, "text/plain"))], headers=auth(tokens.baarn))
    assert repeat.status_code == 409 and repeat.json()["write_id"] == writes[1]
    index()
    gone = client.get(f"/api/v1/evidence/{sha(lost)}")
    assert gone.status_code == 404 and "never got on chain" in gone.json()["detail"]
    served = client.get(f"/api/v1/evidence/{sha(kept)}")
    assert served.status_code == 200 and "x-ledger-citation" not in served.headers


@pytest.mark.parametrize("prefer", ["wait=0", ""])
def test_without_a_long_enough_wait_the_answer_is_202(client: TestClient, tokens: Tokens, prefer: str) -> None:
    response = client.post("/api/v1/staff/commitments", json=commitment_body(), headers=auth(tokens.baarn, Prefer=prefer))
    assert response.status_code in (201, 202)  # wait=0 may still find it confirmed
    if response.status_code == 202:
        assert "commitment_id" not in response.json()
    if prefer:
        assert response.headers["preference-applied"] == "wait=0"
    else:
        assert "preference-applied" not in response.headers
