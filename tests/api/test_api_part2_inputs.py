"""Staff writes on contract 2.1.0: sub-commitments (``parent_id``, ``weight``), deliveries
naming an asset (``asset_ref``, normalised, counted once per commitment), and the roles a
token holds. Every refusal: exact problem type, status and members, and nothing sent.

One ledger per module (Baarn 1, Utrecht 2); each test registers the commitments it needs.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.chain import LedgerChain
from tests.api.helpers import (
    CONFIRMER,
    Made,
    Part2Tokens,
    Tokens,
    assert_problem,
    commitment_body,
    deliver,
    delivery_id,
    register,
)

EVIDENCE = "0x" + "e1" * 32


def auth(token: str) -> dict[str, str]:
    return Tokens.header(token)


def register_json(client: TestClient, token: str, **changes: Any) -> Any:
    return client.post("/api/v1/staff/commitments", json=commitment_body(**changes), headers=auth(token))


def deliver_form(client: TestClient, token: str, commitment_id: int, **data: Any) -> Any:
    form = {"quantity": "1", "delivered_at": "1736938800", "evidence_sha256": EVIDENCE, **data}
    return client.post(f"/api/v1/staff/commitments/{commitment_id}/deliveries", data=form, headers=auth(token))


# ------------------------------------------------------------------ sub-commitments


def test_a_sub_commitment_names_its_parent_and_weight(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made
) -> None:
    response = register_json(client, tokens.baarn, parent_id=commitment.id, weight=3)
    assert response.status_code == 201, response.text
    body = response.json()
    child = body["commitment_id"]
    assert (child, body["parent_id"], body["weight"]) == (commitment.id + 1, commitment.id, 3)
    assert body["tx"]["tx_hash"].startswith("0x") and body["tx"]["block_number"] == chain.head_block_number()
    default = register_json(client, tokens.baarn, parent_id=commitment.id)
    assert default.status_code == 201, default.text
    assert (default.json()["parent_id"], default.json()["weight"]) == (commitment.id, 1)
    plain = register_json(client, tokens.baarn)
    assert (plain.json()["parent_id"], plain.json()["weight"]) == (None, 0)
    index()
    detail = client.get(f"/api/v1/commitments/{child}").json()
    assert (detail["parent_id"], detail["weight"]) == (commitment.id, 3)
    assert client.get(f"/api/v1/commitments/{commitment.id}").json()["children"] == [child, child + 1]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        pytest.param({"weight": 5}, {"loc": ["body"], "type": "weight_without_parent",
                                     "msg": "weight 5 needs a parent_id: only a part of another commitment has a weight"},
                     id="weight-without-parent"),
        pytest.param({"parent_id": 1, "weight": 0}, {"loc": ["body"], "type": "weight_range",
                                                     "msg": "weight of a part of commitment 1 should be from 1 to 1000000"},
                     id="zero-weight"),
        pytest.param({"parent_id": 1, "weight": 1_000_001}, {"loc": ["body", "weight"], "type": "less_than_equal",
                                                             "msg": "Input should be less than or equal to 1000000"},
                     id="weight-over-max"),
        pytest.param({"parent_id": 0}, {"loc": ["body", "parent_id"], "type": "greater_than_equal",
                                        "msg": "Input should be greater than or equal to 1"}, id="parent-zero"),
    ],
)
def test_a_weight_that_does_not_fit_its_parent_is_refused_before_sending(
    client: TestClient, chain: LedgerChain, tokens: Tokens, changes: dict, error: dict
) -> None:
    head = chain.head_block_number()
    body = assert_problem(register_json(client, tokens.baarn, **changes), 422, "validation-error")
    assert body["errors"] == [error]
    assert chain.head_block_number() == head


def test_a_parent_of_another_municipality_is_refused_by_the_index_and_by_the_contract_alike(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, utrecht_commitment: Made
) -> None:
    head = chain.head_block_number()
    by_index = assert_problem(register_json(client, tokens.baarn, parent_id=utrecht_commitment.id),
                              422, "parent-in-other-municipality")
    assert chain.head_block_number() == head
    assert by_index["detail"] == (
        f"Parent commitment {utrecht_commitment.id} belongs to municipality 2, not to municipality 1: "
        "a sub-commitment's parent is of its own municipality.")
    assert {k: by_index[k] for k in ("parent_id", "parent_municipality_id", "municipality_id")} == {
        "parent_id": utrecht_commitment.id, "parent_municipality_id": 2, "municipality_id": 1}
    assert "contract_error" not in by_index
    unindexed = register(client, tokens.utrecht)  # the index does not have it: the contract refuses
    by_contract = assert_problem(register_json(client, tokens.baarn, parent_id=unindexed.id, weight=2),
                                 422, "parent-in-other-municipality")
    assert by_contract["contract_error"] == {"name": "LedgerParentInOtherMunicipality", "args": {
        "parent_id": unindexed.id, "parent_municipality_id": 2, "municipality_id": 1}}
    assert by_contract["detail"] == by_index["detail"].replace(str(utrecht_commitment.id), str(unindexed.id))
    assert {k: by_contract[k] for k in ("parent_id", "parent_municipality_id", "municipality_id")} == {
        "parent_id": unindexed.id, "parent_municipality_id": 2, "municipality_id": 1}
    index()


def test_a_withdrawn_or_unknown_parent_is_refused(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made
) -> None:
    response = client.post(f"/api/v1/staff/commitments/{commitment.id}/withdrawal", json={"reason": "Geschrapt"},
                           headers=auth(tokens.baarn))
    assert response.status_code == 201, response.text
    by_contract = assert_problem(register_json(client, tokens.baarn, parent_id=commitment.id), 409, "commitment-withdrawn")
    assert by_contract["contract_error"]["name"] == "LedgerCommitmentWithdrawn"
    index()
    head = chain.head_block_number()
    by_index = assert_problem(register_json(client, tokens.baarn, parent_id=commitment.id), 409, "commitment-withdrawn")
    assert by_index["detail"] == by_contract["detail"] == (
        f"Commitment {commitment.id} is withdrawn: it accepts no amendment or delivery.")
    unknown = assert_problem(register_json(client, tokens.baarn, parent_id=99_999), 404, "not-found")
    assert unknown["detail"] == "No commitment 99999."
    assert chain.head_block_number() == head


def test_the_contracts_weight_error_reads_with_its_values() -> None:
    from api.problems import problem_for
    from ledger.errors import ContractRevertError

    without = problem_for(ContractRevertError("LedgerInvalidWeight", {"parent_id": 0, "weight": 4, "max_weight": 1_000_000}))
    assert (without.status, without.slug, without.detail) == (
        422, "invalid-weight", "Weight 4 is not valid without a parent commitment: leave it 0 (or name a parent_id).")
    assert {k: without.extensions[k] for k in ("parent_id", "weight", "max_weight")} == {
        "parent_id": None, "weight": 4, "max_weight": 1_000_000}
    over = problem_for(ContractRevertError("LedgerInvalidWeight", {"parent_id": 7, "weight": 0, "max_weight": 1_000_000}))
    assert over.detail == "Weight 0 of a part of commitment 7 is out of range: it must be from 1 to 1000000."


def test_a_batch_of_registrations_takes_parents_and_names_the_refused_item(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made, utrecht_commitment: Made
) -> None:
    items = [commitment_body(parent_id=commitment.id, weight=2), commitment_body()]
    response = client.post("/api/v1/staff/commitments/batch", json={"commitments": items}, headers=auth(tokens.baarn))
    assert response.status_code == 201, response.text
    first = response.json()["commitment_ids"][0]
    head = chain.head_block_number()
    refused = [commitment_body(), commitment_body(parent_id=utrecht_commitment.id)]
    body = assert_problem(client.post("/api/v1/staff/commitments/batch", json={"commitments": refused},
                                      headers=auth(tokens.baarn)), 422, "parent-in-other-municipality")
    assert (body["index"], body["parent_id"]) == (1, utrecht_commitment.id)
    assert chain.head_block_number() == head
    index()
    assert client.get(f"/api/v1/commitments/{first}").json()["parent_id"] == commitment.id


# ------------------------------------------------------------------ assets


def test_a_delivery_names_its_asset_in_normalised_form(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made
) -> None:
    response = deliver_form(client, tokens.baarn, commitment.id, asset_ref="  Lantaarnpaal\u00a0 12 ")
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["delivery_id"], body["asset_ref"]) == (delivery_id(commitment.id, 1), "Lantaarnpaal 12")
    tx = chain.decoder.decode_all(chain.get_logs(body["tx"]["block_number"], body["tx"]["block_number"]))
    assert [e.args["asset_ref"] for e in tx if e.name == "DeliveryRecorded"] == ["Lantaarnpaal 12"]
    index()
    [delivery] = client.get(f"/api/v1/commitments/{commitment.id}").json()["deliveries"]
    assert (delivery["asset_ref"], delivery["double_counted"]) == ("Lantaarnpaal 12", False)


def test_an_asset_counted_once_is_refused_again_by_the_contract_and_by_the_index(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made
) -> None:
    first = deliver(client, tokens.baarn, commitment.id, asset_ref="Paal 7")
    # (other quantities: an exact repeat of the first delivery would be the same write, the outbox)
    by_contract = assert_problem(deliver_form(client, tokens.baarn, commitment.id, asset_ref=" Paal  7", quantity="2"),
                                 409, "asset-already-counted")
    sentence = (f"Asset “Paal 7” is already counted for commitment {commitment.id} by delivery {first}, which is not "
                "revoked: an asset counts once. Revoke that delivery first if it was wrong.")
    assert by_contract["detail"] == sentence
    assert {k: by_contract[k] for k in ("commitment_id", "asset_ref", "existing_delivery_id")} == {
        "commitment_id": commitment.id, "asset_ref": "Paal 7", "existing_delivery_id": first}
    assert by_contract["contract_error"] == {"name": "LedgerAssetAlreadyCounted", "args": {
        "commitment_id": commitment.id, "asset_ref": "Paal 7", "existing_delivery_id": first}}
    index()
    head = chain.head_block_number()
    by_index = assert_problem(deliver_form(client, tokens.baarn, commitment.id, asset_ref="Paal 7", quantity="3"),
                              409, "asset-already-counted")
    assert by_index["detail"] == sentence and "contract_error" not in by_index
    assert chain.head_block_number() == head
    other = register(client, tokens.baarn)
    assert deliver_form(client, tokens.baarn, other.id, asset_ref="Paal 7").status_code == 201  # another commitment
    assert client.post(f"/api/v1/staff/deliveries/{first}/revocation", json={"reason": "Verkeerde paal"},
                       headers=auth(tokens.baarn)).status_code == 201
    index()
    again = deliver_form(client, tokens.baarn, commitment.id, asset_ref="Paal 7", quantity="4")
    assert again.status_code == 201, again.text  # the first no longer counts
    index()


def test_a_delivery_batch_refuses_an_asset_twice_on_one_commitment(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made
) -> None:
    item = {"commitment_id": commitment.id, "quantity": "1", "delivered_at": 1736938800, "evidence_sha256": [EVIDENCE]}
    head = chain.head_block_number()
    body = assert_problem(client.post("/api/v1/staff/deliveries/batch", headers=auth(tokens.baarn), json={"deliveries": [
        {**item, "asset_ref": "Paal 1"}, {**item, "asset_ref": "Paal 2"}, {**item, "asset_ref": "Paal  1"}]}),
        422, "validation-error")
    assert body["errors"] == [{"loc": ["body", "deliveries", 2, "asset_ref"], "type": "batch_repeat",
                               "msg": "asset_ref of deliveries[2] repeats deliveries[0] on the same commitment: "
                                      "an asset counts once"}]
    assert chain.head_block_number() == head
    ok = client.post("/api/v1/staff/deliveries/batch", headers=auth(tokens.baarn), json={"deliveries": [
        {**item, "asset_ref": "Paal 1"}, {**item, "asset_ref": "Paal 2"}]})
    assert ok.status_code == 201, ok.text
    index()
    counted = assert_problem(client.post("/api/v1/staff/deliveries/batch", headers=auth(tokens.baarn), json={
        "deliveries": [{**item, "asset_ref": "Paal 3"}, {**item, "asset_ref": "Paal 2"}]}), 409, "asset-already-counted")
    assert (counted["index"], counted["existing_delivery_id"]) == (1, delivery_id(commitment.id, 2))
    assert chain.head_block_number() == head + 1


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param("x" * 65, {"type": "string_too_long_bytes", "msg": "String should have at most 64 bytes (UTF-8), got 65"},
                     id="too-long"),
        pytest.param("Paal\n7", {"type": "string_multiline",
                                 "msg": "asset_ref contains U+000A (LINE FEED): asset_ref is a single line"}, id="line-break"),
        pytest.param("Paal\u202e7", {"type": "string_bidi_control", "msg": "asset_ref contains U+202E (RIGHT-TO-LEFT "
                     "OVERRIDE): bidirectional override and isolate characters can disguise text and are not allowed"},
                     id="bidi"),
    ],
)
def test_an_asset_ref_that_is_not_one_short_line_is_refused(
    client: TestClient, chain: LedgerChain, tokens: Tokens, commitment: Made, value: str, error: dict
) -> None:
    head = chain.head_block_number()
    body = assert_problem(deliver_form(client, tokens.baarn, commitment.id, asset_ref=value), 422, "validation-error")
    assert body["errors"] == [{"loc": ["body", "asset_ref"], **error}]
    assert chain.head_block_number() == head


def test_an_asset_ref_of_64_bytes_after_normalising_is_accepted(
    client: TestClient, tokens: Tokens, commitment: Made
) -> None:
    response = deliver_form(client, tokens.baarn, commitment.id, asset_ref="  " + "é" * 32 + "  ")
    assert response.status_code == 201, response.text
    assert response.json()["asset_ref"] == "é" * 32


# ------------------------------------------------------------------ roles of a token


def test_me_names_the_roles_of_the_token(client: TestClient, tokens: Tokens, part2: Part2Tokens, roles: Any) -> None:
    assert client.get("/api/v1/staff/me", headers=auth(part2.confirmer)).json() == {
        "municipality_id": 1, "municipality_name": "Baarn", "registrar": CONFIRMER.address, "roles": ["confirmer"]}
    assert client.get("/api/v1/staff/me", headers=auth(part2.registrar_and_confirmer)).json()["roles"] == [
        "registrar", "confirmer"]


def test_a_confirmer_token_writes_no_registrar_record(
    client: TestClient, chain: LedgerChain, tokens: Tokens, part2: Part2Tokens, index: Any, commitment: Made
) -> None:
    head = chain.head_block_number()
    expected = (f"This token (account {CONFIRMER.address} of municipality 1) holds the role(s) confirmer, not "
                "registrar, which {what} needs. Use a registrar's token.")
    cases = [
        (register_json(client, part2.confirmer), "registering a commitment"),
        (deliver_form(client, part2.confirmer, commitment.id), "recording a delivery"),
        (client.post(f"/api/v1/staff/deliveries/{delivery_id(commitment.id, 1)}/revocation", json={"reason": "r"},
                     headers=auth(part2.confirmer)), "revoking a delivery"),
        (client.post("/api/v1/staff/batches", headers=auth(part2.confirmer), json={"municipality_id": 1, "deliveries": [
            {"commitment_id": commitment.id, "quantity": "1", "delivered_at": 1736938800, "evidence_hashes": [EVIDENCE]}]}),
         "anchoring a batch"),
    ]
    for response, what in cases:
        body = assert_problem(response, 403, "forbidden")
        assert body["detail"] == expected.format(what=what)
        assert (body["needed_role"], body["token_roles"]) == ("registrar", ["confirmer"])
    assert chain.head_block_number() == head
