"""Second-party review through the API (docs/LEDGER.md "Confirmations"): a confirmer's token
confirms (optionally citing its own evidence) or disputes a recorded delivery, or a batched one
named by batch root and leaf hash (leaf and proof from the stored batch file). Exact answers;
each refusal with its problem type and values, nothing sent.

Roles (the ``part2`` fixture): ``CONFIRMER`` confirms with a confirmer-only token;
``roles.registrar`` is also a confirmer, so it reviewing its own delivery is a self-confirmation.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ledger.chain import LedgerChain
from tests.api.helpers import CONFIRMER, Made, Part2Tokens, Tokens, assert_problem, deliver

REPORT = "0x" + "c0" * 32
"""SHA-256 of the inspector's own report."""
EVIDENCE = "0x" + "e1" * 32


def auth(token: str) -> dict[str, str]:
    return Tokens.header(token)


def confirm(client: TestClient, token: str, delivery_id: int, evidence_hash: str | None = None) -> Any:
    return client.post(f"/api/v1/staff/deliveries/{delivery_id}/confirmation", json={"evidence_hash": evidence_hash},
                       headers=auth(token))


def dispute(client: TestClient, token: str, delivery_id: int, reason: str = "Niet aangetroffen bij inspectie") -> Any:
    return client.post(f"/api/v1/staff/deliveries/{delivery_id}/dispute", json={"reason": reason}, headers=auth(token))


def test_a_confirmer_confirms_disputes_and_confirms_again(
    client: TestClient, chain: LedgerChain, tokens: Tokens, part2: Part2Tokens, index: Any, commitment: Made
) -> None:
    delivery = deliver(client, tokens.baarn, commitment.id)
    response = confirm(client, part2.confirmer, delivery, REPORT.upper().replace("0X", "0x"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body.pop("write")["state"] == "confirmed"  # the outbox's write, beside the 201 body
    assert body == {"delivery_id": delivery, "root": None, "leaf_hash": None, "commitment_id": commitment.id,
                    "confirmer": CONFIRMER.address, "verdict": "confirmed", "evidence_hash": REPORT, "reason": None,
                    "tx": body["tx"]}
    assert body["tx"]["block_number"] == chain.head_block_number()
    index()
    [listed] = client.get(f"/api/v1/commitments/{commitment.id}").json()["deliveries"]
    assert listed["review"] == "confirmed"

    disputed = dispute(client, part2.confirmer, delivery)
    assert disputed.status_code == 201, disputed.text
    assert {k: disputed.json()[k] for k in ("verdict", "reason", "evidence_hash", "confirmer")} == {
        "verdict": "disputed", "reason": "Niet aangetroffen bij inspectie", "evidence_hash": None,
        "confirmer": CONFIRMER.address}
    again = confirm(client, part2.confirmer, delivery)
    assert again.status_code == 201, again.text
    assert (again.json()["verdict"], again.json()["evidence_hash"]) == ("confirmed", None)
    index()
    assert client.get(f"/api/v1/commitments/{commitment.id}").json()["deliveries"][0]["review"] == "confirmed"


def test_repeating_a_verdict_is_a_conflict_naming_it(
    client: TestClient, chain: LedgerChain, tokens: Tokens, part2: Part2Tokens, commitment: Made
) -> None:
    delivery = deliver(client, tokens.baarn, commitment.id)
    assert dispute(client, part2.confirmer, delivery).status_code == 201
    head = chain.head_block_number()
    body = assert_problem(dispute(client, part2.confirmer, delivery, "Nog steeds niet"), 409, "verdict-unchanged")
    assert body["detail"] == (f"Confirmer {CONFIRMER.address} has already disputed this delivery: a verdict is given "
                              "once and may only be changed.")
    assert (body["confirmer"], body["verdict"]) == (CONFIRMER.address, "disputed")
    assert body["contract_error"] == {"name": "LedgerVerdictUnchanged", "args": {"confirmer": CONFIRMER.address,
                                                                                 "verdict": 2}}
    assert chain.head_block_number() == head


def test_who_may_not_review_a_delivery(
    client: TestClient, chain: LedgerChain, tokens: Tokens, part2: Part2Tokens, index: Any, roles: Any, commitment: Made,
    utrecht_commitment: Made,
) -> None:
    delivery = deliver(client, tokens.baarn, commitment.id)
    utrecht_delivery = deliver(client, tokens.utrecht, utrecht_commitment.id)
    index()
    head = chain.head_block_number()
    own = assert_problem(confirm(client, part2.registrar_and_confirmer, delivery), 403, "self-confirmation")
    assert own["detail"] == (f"Account {roles.registrar.address} recorded this delivery itself: a confirmer reviews only "
                             "deliveries others recorded.")
    assert own["account"] == roles.registrar.address
    registrar_only = assert_problem(confirm(client, tokens.baarn, delivery), 403, "forbidden")
    assert registrar_only["detail"] == (
        f"This token (account {roles.registrar.address} of municipality 1) holds the role(s) registrar, not confirmer, "
        "which confirming a delivery needs. Use a confirmer's token.")
    not_on_chain = assert_problem(confirm(client, part2.stranger_confirmer, delivery), 403, "forbidden")
    assert not_on_chain["detail"] == f"Account {roles.stranger.address} is not a confirmer of municipality 1."
    assert (not_on_chain["account"], not_on_chain["municipality_id"]) == (roles.stranger.address, 1)
    assert not_on_chain["contract_error"]["name"] == "LedgerNotConfirmer"
    other = assert_problem(confirm(client, part2.confirmer, utrecht_delivery), 403, "forbidden")
    assert other["detail"] == f"This token is for municipality 1; delivery {utrecht_delivery} belongs to municipality 2."
    unknown = assert_problem(confirm(client, part2.confirmer, commitment.id * 1_000_000 + 99), 404, "not-found")
    assert unknown["detail"] == f"No delivery {commitment.id * 1_000_000 + 99}."
    blank = assert_problem(dispute(client, part2.confirmer, delivery, "  "), 422, "validation-error")
    assert blank["errors"] == [{"loc": ["body", "reason"], "type": "string_blank",
                                "msg": "reason is only whitespace; it needs visible text"}]
    zero = assert_problem(confirm(client, part2.confirmer, delivery, "0x" + "00" * 32), 422, "validation-error")
    assert zero["errors"] == [{"loc": ["body", "evidence_hash"], "type": "sha256_zero",
                               "msg": "The zero hash is not a document hash"}]
    assert chain.head_block_number() == head


def test_a_revoked_delivery_takes_no_verdict(
    client: TestClient, chain: LedgerChain, tokens: Tokens, part2: Part2Tokens, commitment: Made
) -> None:
    delivery = deliver(client, tokens.baarn, commitment.id)
    assert client.post(f"/api/v1/staff/deliveries/{delivery}/revocation", json={"reason": "Fout"},
                       headers=auth(tokens.baarn)).status_code == 201
    body = assert_problem(confirm(client, part2.confirmer, delivery), 409, "delivery-already-revoked")
    assert body["detail"] == f"Delivery {delivery} is already revoked."


# ------------------------------------------------------------------ batched deliveries


def _batch(client: TestClient, token: str, commitment_id: int, *notes: str) -> dict[str, Any]:
    rows = [{"commitment_id": commitment_id, "quantity": "2", "delivered_at": 1_736_938_800, "evidence_hashes": [EVIDENCE],
             "note": note} for note in notes]
    response = client.post("/api/v1/staff/batches", json={"municipality_id": 1, "deliveries": rows}, headers=auth(token))
    assert response.status_code == 201, response.text
    return response.json()


def test_a_batched_delivery_is_confirmed_and_disputed_by_root_and_leaf_hash(
    client: TestClient, chain: LedgerChain, tokens: Tokens, part2: Part2Tokens, index: Any, roles: Any, commitment: Made
) -> None:
    batch = _batch(client, tokens.baarn, commitment.id, "eerste", "tweede")
    index()
    root, leaf = batch["root"], batch["leaves"][1]["leaf_hash"]
    response = client.post(f"/api/v1/staff/batches/{root}/leaves/{leaf}/confirmation", json={"evidence_hash": REPORT},
                           headers=auth(part2.confirmer))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body.pop("write")["state"] == "confirmed"  # the outbox's write, beside the 201 body
    assert body == {"delivery_id": None, "root": root, "leaf_hash": leaf, "commitment_id": commitment.id,
                    "confirmer": CONFIRMER.address, "verdict": "confirmed", "evidence_hash": REPORT, "reason": None,
                    "tx": body["tx"]}
    disputed = client.post(f"/api/v1/staff/batches/{root}/leaves/{leaf}/dispute", json={"reason": "Geen tweede paal"},
                           headers=auth(part2.confirmer))
    assert disputed.status_code == 201, disputed.text
    assert (disputed.json()["verdict"], disputed.json()["reason"]) == ("disputed", "Geen tweede paal")
    head = chain.head_block_number()
    own = assert_problem(client.post(f"/api/v1/staff/batches/{root}/leaves/{leaf}/confirmation", json={},
                                     headers=auth(part2.registrar_and_confirmer)), 403, "self-confirmation")
    assert own["account"] == roles.registrar.address  # it anchored the batch
    again = assert_problem(client.post(f"/api/v1/staff/batches/{root}/leaves/{leaf}/dispute", json={"reason": "Nogmaals"},
                                       headers=auth(part2.confirmer)), 409, "verdict-unchanged")
    assert again["verdict"] == "disputed"
    assert chain.head_block_number() == head
    index()
    leaves = client.get(f"/api/v1/batches/{root}").json()["leaves"]
    assert [leaf_["review"] for leaf_ in leaves] == ["unconfirmed", "disputed"]


def test_a_revoked_batched_delivery_takes_no_verdict(
    client: TestClient, tokens: Tokens, part2: Part2Tokens, index: Any, commitment: Made
) -> None:
    batch = _batch(client, tokens.baarn, commitment.id, "wordt ingetrokken")
    index()
    root, leaf = batch["root"], batch["leaves"][0]["leaf_hash"]
    assert client.post(f"/api/v1/staff/batches/{root}/leaves/{leaf}/revocation", json={"reason": "Fout"},
                       headers=auth(tokens.baarn)).status_code == 201
    body = assert_problem(client.post(f"/api/v1/staff/batches/{root}/leaves/{leaf}/confirmation", json={},
                                      headers=auth(part2.confirmer)), 409, "delivery-already-revoked")
    assert (body["root"], body["leaf_hash"]) == (root, leaf)
    assert body["contract_error"]["name"] == "LedgerBatchedDeliveryRevoked"
    registrar_only = assert_problem(client.post(f"/api/v1/staff/batches/{root}/leaves/{leaf}/confirmation", json={},
                                                headers=auth(tokens.baarn)), 403, "forbidden")
    assert registrar_only["needed_role"] == "confirmer"
