"""Staff writes through the API on this module's ledger, checked on chain and in the index.

One ledger per module; each test registers (through fixtures) the commitments and deliveries
it needs, with fresh external references, and reads ids and counts relative to its own
records, so it runs alone and in any order. Delivery ids are ``commitment_id * 1_000_000 + n``.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ledger.chain import LedgerChain
from ledger.evidence import STAGING_DIR
from ledger.settings import Settings
from ledger.staff import issue_token
from tests.api.helpers import (
    DUE_2030, MAX_EVIDENCE_BYTES, PROBLEM, PROMISED, Made, Tokens, assert_problem, deliver, delivery_id, register,
    unique_ref,
)

COMMITMENT = {
    "external_ref": "wonen-001",
    "title": "200 sociale huurwoningen",
    "description": "Bouw van 200 sociale huurwoningen in Baarn-Noord.",
    "theme": "Wonen",
    "target_quantity": "200",
    "unit": "woningen",
    "promised_at": "2022-06-13T00:00:00+02:00",
    "due_date": "2030-12-31T23:59:59+01:00",
    "source_document_sha256": "5C" * 32,
    "source_uri": "https://baarn.example/raadsbesluit-2025-113.pdf",
}
REPORT = b"%PDF-1.4 opleverrapport fase 1\n"
REPORT_SHA = "0x" + hashlib.sha256(REPORT).hexdigest()
PHOTO = b"\x89PNG\r\n\x1a\n photo of the site"
PHOTO_SHA = "0x" + hashlib.sha256(PHOTO).hexdigest()
ELSEWHERE = "0x" + "e1" * 32
UNKNOWN = 99_999
"""A commitment id no test of this module reaches."""


def auth(token: str) -> dict[str, str]:
    return Tokens.header(token)


def counts(chain: LedgerChain) -> tuple[int, int, int]:
    """(municipalities, commitments, head block) on chain: anvil mines a block per
    transaction, so an unchanged head means nothing was sent."""
    municipalities, commitments = chain.call("counts")
    return municipalities, commitments, chain.head_block_number()


def stored_files(app: FastAPI) -> list[str]:
    """Names in the evidence folder, the staging area excluded."""
    return sorted(p.name for p in Path(app.state.evidence_store.directory).iterdir() if p.name != STAGING_DIR)


@pytest.fixture()
def wonen(client: TestClient, tokens: Tokens, index: Any) -> Made:
    """A fresh Baarn commitment with the terms of ``COMMITMENT`` (its own external reference), indexed."""
    index()
    made = register(client, tokens.baarn, **{**COMMITMENT, "external_ref": unique_ref("wonen")})
    index()
    return made


@pytest.fixture()
def amended(client: TestClient, tokens: Tokens, index: Any, wonen: Made) -> Made:
    """``wonen`` amended once: target 200 lowered to 180."""
    response = client.post(
        f"/api/v1/staff/commitments/{wonen.id}/amendments",
        json={"expected_amendment_count": 0, "target_quantity": 180, "reason": "Twintig woningen vervallen na bezwaar"},
        headers=auth(tokens.baarn),
    )
    assert response.status_code == 201, response.text
    index()
    return wonen


@pytest.fixture()
def withdrawn(client: TestClient, tokens: Tokens, index: Any, commitment: Made) -> Made:
    """A fresh Baarn commitment, withdrawn and indexed."""
    response = client.post(f"/api/v1/staff/commitments/{commitment.id}/withdrawal", json={"reason": "Project geschrapt"},
                           headers=auth(tokens.baarn))
    assert response.status_code == 201, response.text
    index()
    return commitment


def assert_tx(tx: dict[str, Any], chain: LedgerChain) -> None:
    assert set(tx) == {"tx_hash", "block_number", "gas_used"}
    assert tx["tx_hash"].startswith("0x") and len(tx["tx_hash"]) == 66
    assert tx["block_number"] == chain.head_block_number()
    assert tx["gas_used"] > 21_000


# ------------------------------------------------------------------ authentication


def test_staff_me_names_the_tokens_municipality_and_registrar(client: TestClient, tokens: Tokens, roles: Any, index: Any) -> None:
    index()
    response = client.get("/api/v1/staff/me", headers=auth(tokens.baarn))
    assert response.status_code == 200
    assert response.json() == {"municipality_id": 1, "municipality_name": "Baarn", "registrar": roles.registrar.address,
                               "roles": ["registrar"]}
    assert client.get("/api/v1/staff/me", headers=auth(tokens.utrecht)).json()["municipality_name"] == "Utrecht"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer "}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dXNlcjpwdw=="}],
)
def test_missing_or_unknown_tokens_are_unauthorized(client: TestClient, chain: LedgerChain, headers: dict) -> None:
    before = counts(chain)
    for response in (
        client.get("/api/v1/staff/me", headers=headers),
        client.post("/api/v1/staff/commitments", json=COMMITMENT, headers=headers),
        client.post("/api/v1/staff/deliveries/1/revocation", json={"reason": "r"}, headers=headers),
    ):
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
    assert counts(chain) == before


# ------------------------------------------------------------------ register


def test_register_commitment_records_it_for_the_tokens_municipality(
    client: TestClient, chain: LedgerChain, tokens: Tokens, roles: Any, index: Any
) -> None:
    ref, n = unique_ref("wonen"), counts(chain)[1]
    response = client.post("/api/v1/staff/commitments", json={**COMMITMENT, "external_ref": ref}, headers=auth(tokens.baarn))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["commitment_id"] == n + 1
    assert_tx(body["tx"], chain)
    assert counts(chain)[:2] == (2, n + 1)
    index()
    detail = client.get(f"/api/v1/commitments/{n + 1}").json()
    assert detail["registered"]["tx_hash"] == body["tx"]["tx_hash"]
    assert {k: detail[k] for k in ("municipality_id", "external_ref", "title", "description", "theme", "target_quantity",
                                   "original_target_quantity", "unit", "promised_at", "promised_at_iso", "due_date",
                                   "due_date_iso", "original_due_date", "historical_record", "source_document_sha256",
                                   "source_uri", "registrar", "signer_held_role", "status", "status_on_record",
                                   "amendment_count", "amendments")} == {
        "municipality_id": 1,
        "external_ref": ref,
        "title": "200 sociale huurwoningen",
        "description": "Bouw van 200 sociale huurwoningen in Baarn-Noord.",
        "theme": "Wonen",
        "target_quantity": "200",
        "original_target_quantity": "200",
        "unit": "woningen",
        "promised_at": PROMISED,
        "promised_at_iso": "2022-06-12T22:00:00Z",
        "due_date": DUE_2030,
        "due_date_iso": "2030-12-31T22:59:59Z",
        "original_due_date": DUE_2030,
        "historical_record": False,
        "source_document_sha256": "0x" + "5c" * 32,
        "source_uri": "https://baarn.example/raadsbesluit-2025-113.pdf",
        "registrar": roles.registrar.address,
        "signer_held_role": True,
        "status": "pending",
        "status_on_record": "pending",
        "amendment_count": 0,
        "amendments": [],
    }
    assert detail["registration_lag_days"] == (detail["registered"]["block_time"] - PROMISED) // 86_400


def test_register_takes_integer_quantities_and_unix_due_dates(client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any) -> None:
    n = counts(chain)[1]
    body = {"external_ref": unique_ref("fiets"), "title": "Fietsenstalling", "target_quantity": 1, "unit": "stalling",
            "promised_at": int(time.time()) - 86_400, "due_date": int(time.time()) + 86_400}
    response = client.post("/api/v1/staff/commitments", json=body, headers=auth(tokens.utrecht))
    assert response.status_code == 201
    assert response.json()["commitment_id"] == n + 1
    response = client.post(
        "/api/v1/staff/commitments",
        json={"external_ref": unique_ref("weg"), "title": "Weg", "target_quantity": "3", "unit": "km", "promised_at": PROMISED,
              "due_date": DUE_2030},
        headers=auth(tokens.baarn),
    )
    assert response.json()["commitment_id"] == n + 2
    index()
    assert client.get(f"/api/v1/commitments/{n + 1}").json()["municipality_name"] == "Utrecht"


def test_duplicate_external_ref_is_a_conflict_naming_the_existing_commitment(
    client: TestClient, chain: LedgerChain, tokens: Tokens, wonen: Made
) -> None:
    before = counts(chain)
    response = client.post("/api/v1/staff/commitments",  # another request with the same ref (an exact repeat is the same write)
                           json={**COMMITMENT, "external_ref": wonen.external_ref, "title": "Another plan"},
                           headers=auth(tokens.baarn))
    body = assert_problem(response, 409, "duplicate-external-ref")
    assert body["existing_commitment_id"] == wonen.id
    assert body["contract_error"] == {
        "name": "LedgerDuplicateCommitmentRef",
        "args": {"municipality_id": 1, "external_ref": wonen.external_ref, "existing_commitment_id": wonen.id},
    }
    assert counts(chain) == before


def test_a_ref_typed_with_a_combining_accent_is_the_precomposed_ref(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any
) -> None:
    stem = unique_ref("Woning")
    made = register(client, tokens.baarn, **{**COMMITMENT, "external_ref": f"{stem}-e\u0301"})  # NFD, as typed
    index()
    assert client.get(f"/api/v1/commitments/{made.id}").json()["external_ref"] == f"{stem}-\u00e9"  # NFC on chain
    before = counts(chain)
    response = client.post("/api/v1/staff/commitments", json={**COMMITMENT, "external_ref": f"{stem}-\u00e9", "title": "Again"},
                           headers=auth(tokens.baarn))
    assert assert_problem(response, 409, "duplicate-external-ref")["existing_commitment_id"] == made.id
    assert counts(chain) == before


def test_the_same_external_ref_is_free_in_another_municipality(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, utrecht_commitment: Made
) -> None:
    n = counts(chain)[1]
    response = client.post("/api/v1/staff/commitments", json={**COMMITMENT, "external_ref": utrecht_commitment.external_ref},
                           headers=auth(tokens.baarn))
    assert response.status_code == 201
    assert response.json()["commitment_id"] == n + 1
    index()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("external_ref", "x" * 65),
        ("title", "é" * 100 + "x"),
        ("description", "€" * 2666 + "xxx"),
        ("theme", "x" * 121),
        ("unit", "x" * 33),
        ("source_uri", "x" * 513),
        ("title", ""),
        ("target_quantity", "10000000000001"),
        ("target_quantity", 0),
        ("target_quantity", 1.5),
        ("due_date", "2030-12-31T23:59:59"),
        ("due_date", "soon"),
        ("promised_at", "2022-06-13"),
        ("promised_at", 2**40),
        ("source_document_sha256", "0x1234"),
        ("municipality_id", 2),
    ],
)
def test_invalid_commitments_are_refused_before_anything_is_sent(
    client: TestClient, chain: LedgerChain, tokens: Tokens, field: str, value: Any
) -> None:
    before = counts(chain)
    response = client.post(
        "/api/v1/staff/commitments", json={**COMMITMENT, "external_ref": "new-1", field: value}, headers=auth(tokens.baarn)
    )
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"][0]["loc"] == ["body", field]
    assert counts(chain) == before


def test_a_token_of_an_account_that_is_no_registrar_is_forbidden_by_the_contract(
    client: TestClient, chain: LedgerChain, tokens: Tokens, roles: Any
) -> None:
    before = counts(chain)
    response = client.post(
        "/api/v1/staff/commitments", json={**COMMITMENT, "external_ref": "new-2"}, headers=auth(tokens.baarn_stranger)
    )
    body = assert_problem(response, 403, "forbidden")
    assert body["contract_error"] == {"name": "LedgerNotRegistrar", "args": {"municipality_id": 1, "account": roles.stranger.address}}
    assert counts(chain) == before


def test_other_contract_refusals_are_contract_rejected_with_the_custom_error(
    client: TestClient, chain: LedgerChain, roles: Any, api_settings: Settings
) -> None:
    before = counts(chain)
    token = issue_token(api_settings.staff_keys_file, 3, roles.registrar.key)  # no municipality 3
    response = client.post("/api/v1/staff/commitments", json={**COMMITMENT, "external_ref": "new-3"}, headers=auth(token))
    body = assert_problem(response, 422, "contract-rejected")
    assert body["contract_error"] == {"name": "LedgerUnknownMunicipality", "args": {"municipality_id": 3}}
    assert counts(chain) == before


# ------------------------------------------------------------------ amend


def test_amendment_changes_only_the_fields_it_names_and_returns_its_number(
    client: TestClient, chain: LedgerChain, tokens: Tokens, roles: Any, index: Any, wonen: Made
) -> None:
    response = client.post(
        f"/api/v1/staff/commitments/{wonen.id}/amendments",
        json={"expected_amendment_count": 0, "target_quantity": 180, "reason": "Twintig woningen vervallen na bezwaar"},
        headers=auth(tokens.baarn),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["commitment_id"] == wonen.id
    assert body["amendment_number"] == 1
    assert_tx(body["tx"], chain)
    index()
    detail = client.get(f"/api/v1/commitments/{wonen.id}").json()
    assert (detail["amendment_count"], detail["title"], detail["description"], detail["due_date"]) == (
        1, COMMITMENT["title"], COMMITMENT["description"], DUE_2030
    )
    assert (detail["target_quantity"], detail["original_target_quantity"], detail["target_lowered"]) == ("180", "200", True)
    amended_at = detail["amendments"][0]["chain"]["block_time"]
    assert detail["amendments"] == [
        {
            "amendment_number": 1,
            "fields": ["target_quantity"],
            "title": None,
            "description": None,
            "previous_target_quantity": "200",
            "target_quantity": "180",
            "previous_due_date": DUE_2030,
            "previous_due_date_iso": "2030-12-31T22:59:59Z",
            "due_date": DUE_2030,
            "due_date_iso": "2030-12-31T22:59:59Z",
            "reason": "Twintig woningen vervallen na bezwaar",
            "registrar": roles.registrar.address,
            "amended_at": amended_at,
            "amended_at_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(amended_at)),
            "after_due_date": False,
            "lowered_target": True,
            "extended_due_date": False,
            "signer_held_role": True,
            "chain": {**detail["amendments"][0]["chain"], "tx_hash": body["tx"]["tx_hash"]},
        }
    ]


def test_an_amendment_with_a_stale_count_is_a_conflict_naming_both_counts(
    client: TestClient, chain: LedgerChain, tokens: Tokens, amended: Made
) -> None:
    before = counts(chain)
    response = client.post(
        f"/api/v1/staff/commitments/{amended.id}/amendments",
        json={"expected_amendment_count": 0, "target_quantity": 150, "reason": "Nog minder"},
        headers=auth(tokens.baarn),
    )
    body = assert_problem(response, 409, "stale-amendment-count")
    assert (body["expected_amendment_count"], body["current_amendment_count"]) == (0, 1)
    assert body["detail"] == (
        f"Commitment {amended.id} has 1 amendment(s), not the 0 this amendment expects: it was amended since you read it. "
        "Read it again, check the change, and send the current count."
    )
    assert body["contract_error"] == {
        "name": "LedgerStaleAmendmentCount", "args": {"commitment_id": amended.id, "expected": 0, "actual": 1},
    }
    assert counts(chain) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [({"title": COMMITMENT["title"]}, "title"), ({"target_quantity": "180"}, "target_quantity"), ({"due_date": DUE_2030}, "due_date")],
)
def test_amendment_that_changes_nothing_is_a_conflict_naming_the_field(
    client: TestClient, chain: LedgerChain, tokens: Tokens, amended: Made, change: dict, field: str
) -> None:
    before = counts(chain)
    response = client.post(
        f"/api/v1/staff/commitments/{amended.id}/amendments",
        json={"expected_amendment_count": 1, **change, "reason": "Geen"},
        headers=auth(tokens.baarn),
    )
    body = assert_problem(response, 409, "amendment-changes-nothing")
    assert body["field"] == field
    assert body["detail"] == f"This amendment changes nothing: commitment {amended.id} already has this {field.replace('_', ' ')}."
    assert counts(chain) == before


def test_an_amended_due_date_must_come_after_the_promise(
    client: TestClient, chain: LedgerChain, tokens: Tokens, amended: Made
) -> None:
    before = counts(chain)
    response = client.post(
        f"/api/v1/staff/commitments/{amended.id}/amendments",
        json={"expected_amendment_count": 1, "due_date": PROMISED, "reason": "Te vroeg"},
        headers=auth(tokens.baarn),
    )
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"] == [{
        "loc": ["body", "due_date"],
        "msg": f"due_date {PROMISED} is not after the promise date {PROMISED} (2022-06-12T22:00:00Z): "
        "a deadline comes after the promise",
        "type": "due_date_before_promise",
    }]
    assert counts(chain) == before


def test_an_amendment_does_not_wait_for_the_index(client: TestClient, chain: LedgerChain, tokens: Tokens, roles: Any, index: Any) -> None:
    weg = register(client, tokens.baarn, title="Weg", target_quantity="3", unit="km").id
    index()
    chain.send("amendCommitment", [weg, (0, 1, "Weg 2", "", 0, 0, "Naam")], roles.registrar.key)  # not indexed
    response = client.post(
        f"/api/v1/staff/commitments/{weg}/amendments",
        json={"expected_amendment_count": 1, "title": "Nieuwe weg", "reason": "Naam"},
        headers=auth(tokens.baarn),
    )
    assert response.status_code == 201, response.text
    assert response.json()["amendment_number"] == 2
    index()
    detail = client.get(f"/api/v1/commitments/{weg}").json()
    assert (detail["title"], detail["target_quantity"], detail["amendment_count"]) == ("Nieuwe weg", "3", 2)
    assert [a["fields"] for a in detail["amendments"]] == [["title"], ["title"]]


def test_amending_another_municipalitys_commitment_is_forbidden(
    client: TestClient, chain: LedgerChain, tokens: Tokens, utrecht_commitment: Made
) -> None:
    before = counts(chain)
    response = client.post(
        f"/api/v1/staff/commitments/{utrecht_commitment.id}/amendments",
        json={"expected_amendment_count": 0, "target_quantity": 2, "reason": "r"},
        headers=auth(tokens.baarn),
    )
    body = assert_problem(response, 403, "forbidden")
    assert body["detail"] == (
        f"This token is for municipality 1; commitment {utrecht_commitment.id} belongs to municipality 2.")
    assert counts(chain) == before


@pytest.mark.parametrize(("path", "status"), [(str(UNKNOWN), 404), ("0", 422), ("x", 422)])
def test_amending_an_unknown_commitment(client: TestClient, tokens: Tokens, path: str, status: int) -> None:
    body = {"expected_amendment_count": 0, "title": "t", "reason": "r"}
    response = client.post(f"/api/v1/staff/commitments/{path}/amendments", json=body, headers=auth(tokens.baarn))
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    if status == 404:
        assert response.json()["contract_error"] == {"name": "LedgerUnknownCommitment", "args": {"commitment_id": UNKNOWN}}


def test_an_amendment_needs_a_reason_its_count_and_a_field(client: TestClient, tokens: Tokens, commitment: Made) -> None:
    response = client.post(f"/api/v1/staff/commitments/{commitment.id}/amendments", json={"title": "t"},
                           headers=auth(tokens.baarn))
    assert assert_problem(response, 422, "validation-error")["errors"] == [
        {"loc": ["body", "expected_amendment_count"], "msg": "Field required", "type": "missing"},
        {"loc": ["body", "reason"], "msg": "Field required", "type": "missing"},
    ]
    response = client.post(
        f"/api/v1/staff/commitments/{commitment.id}/amendments", json={"expected_amendment_count": 1, "reason": "r"},
        headers=auth(tokens.baarn)
    )
    assert assert_problem(response, 422, "validation-error")["errors"] == [{
        "loc": ["body"],
        "msg": "An amendment changes at least one of title, description, target_quantity, due_date",
        "type": "amendment_no_field",
    }]


# ------------------------------------------------------------------ deliveries


def test_delivery_stores_its_files_and_cites_them_on_chain(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, roles: Any, index: Any, wonen: Made
) -> None:
    delivered_at = int(time.time()) - 86_400
    before = counts(chain)
    response = client.post(
        f"/api/v1/staff/commitments/{wonen.id}/deliveries",
        data={
            "quantity": "60",
            "delivered_at": str(delivered_at),
            "note": "Fase 1 opgeleverd",
            "evidence_uri": "https://baarn.example/oplevering-fase-1",
            "external_ref": "lev-001",
            "evidence_sha256": ELSEWHERE.upper().replace("0X", ""),
        },
        files=[("evidence", ("rapport.pdf", REPORT, "application/pdf")), ("evidence", ("foto.png", PHOTO, "image/png"))],
        headers=auth(tokens.baarn),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["delivery_id"] == delivery_id(wonen.id, 1)
    assert body["commitment_id"] == wonen.id
    assert body["evidence_sha256"] == [REPORT_SHA, PHOTO_SHA, ELSEWHERE]
    assert_tx(body["tx"], chain)
    assert counts(chain)[:2] == before[:2]

    evidence = client.get(f"/api/v1/evidence/{REPORT_SHA}")
    assert evidence.content == REPORT
    assert evidence.headers["content-type"] == "application/pdf"
    assert client.get(f"/api/v1/evidence/{PHOTO_SHA}").headers["content-type"] == "image/png"

    index()
    delivery = client.get(f"/api/v1/commitments/{wonen.id}").json()["deliveries"][0]
    recorded_at = delivery["recorded"]["block_time"]
    assert delivery == {
        "kind": "recorded",
        "id": delivery_id(wonen.id, 1),
        "delivery_number": 1,
        "commitment_id": wonen.id,
        "quantity": "60",
        "delivered_at": delivered_at,
        "delivered_at_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(delivered_at)),
        "recorded_at": recorded_at,
        "recorded_at_iso": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(recorded_at)),
        "recording_lag_seconds": recorded_at - delivered_at,
        "recording_lag_days": 1,
        "recorded_late": False,
        "evidence": [
            {"sha256": REPORT_SHA, "stored": True, "url": f"/api/v1/evidence/{REPORT_SHA}"},
            {"sha256": PHOTO_SHA, "stored": True, "url": f"/api/v1/evidence/{PHOTO_SHA}"},
            {"sha256": ELSEWHERE, "stored": False, "url": None},
        ],
        "evidence_uri": "https://baarn.example/oplevering-fase-1",
        "note": "Fase 1 opgeleverd",
        "external_ref": "lev-001",
        "asset_ref": "",
        "double_counted": False,
        "registrar": roles.registrar.address,
        "signer_held_role": True,
        "recorded": delivery["recorded"],
        "revocation": None,
        "review": "unconfirmed",
        "confirmations": [],
        "disputes": [],
        "batch_root": None,
        "leaf_hash": None,
        "leaf_index": None,
        "counted": None,
        "refused_reason": None,
    }
    assert delivery["recorded"]["tx_hash"] == body["tx"]["tx_hash"]
    verify = client.get(f"/api/v1/verify/{PHOTO_SHA}").json()
    assert [c["delivery_id"] for c in verify["citations"]] == [delivery_id(wonen.id, 1)]


def test_delivery_with_only_hashes_and_an_rfc3339_date(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made
) -> None:
    deliver(client, tokens.baarn, commitment.id)
    response = client.post(
        f"/api/v1/staff/commitments/{commitment.id}/deliveries",
        data={"quantity": 10, "delivered_at": "2025-01-15T12:00:00+01:00", "evidence_sha256": ["ab" * 32, "0x" + "cd" * 32]},
        headers=auth(tokens.baarn),
    )
    assert response.status_code == 201, response.text
    assert response.json()["evidence_sha256"] == ["0x" + "ab" * 32, "0x" + "cd" * 32]
    index()
    assert client.get(f"/api/v1/commitments/{commitment.id}").json()["deliveries"][1]["delivered_at"] == 1736938800


def test_duplicate_delivery_ref_is_a_conflict_naming_the_existing_delivery(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made
) -> None:
    existing = deliver(client, tokens.baarn, commitment.id, external_ref="lev-001")
    index()
    before = counts(chain)
    response = client.post(
        f"/api/v1/staff/commitments/{commitment.id}/deliveries",
        data={"quantity": "2", "delivered_at": "1736938800", "external_ref": "lev-001", "evidence_sha256": ELSEWHERE},
        headers=auth(tokens.baarn),
    )  # another delivery with the same ref (an exact repeat is the same write: the outbox)
    body = assert_problem(response, 409, "duplicate-delivery-ref")
    assert body["existing_delivery_id"] == existing
    assert counts(chain) == before


def test_a_delivery_ref_typed_with_a_combining_accent_is_the_precomposed_ref(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made
) -> None:
    existing = deliver(client, tokens.baarn, commitment.id, external_ref="oplevering-e\u0301")
    index()
    delivery = client.get(f"/api/v1/commitments/{commitment.id}").json()["deliveries"][0]
    assert (delivery["id"], delivery["external_ref"]) == (existing, "oplevering-\u00e9")
    before = counts(chain)
    response = client.post(
        f"/api/v1/staff/commitments/{commitment.id}/deliveries",
        data={"quantity": "2", "delivered_at": "1736938800", "external_ref": "oplevering-\u00e9", "evidence_sha256": ELSEWHERE},
        headers=auth(tokens.baarn),
    )
    assert assert_problem(response, 409, "duplicate-delivery-ref")["existing_delivery_id"] == existing
    assert counts(chain) == before


def test_one_ref_in_two_forms_is_a_repeat_inside_a_batch(client: TestClient, chain: LedgerChain, tokens: Tokens) -> None:
    stem = unique_ref("Woning")
    before = counts(chain)
    response = client.post("/api/v1/staff/commitments/batch", headers=auth(tokens.baarn), json={"commitments": [
        {**COMMITMENT, "external_ref": f"{stem}-e\u0301"}, {**COMMITMENT, "external_ref": f"{stem}-\u00e9"}]})
    body = assert_problem(response, 422, "validation-error")
    assert [e["loc"] for e in body["errors"]] == [["body", "commitments", 1, "external_ref"]]
    assert counts(chain) == before


def test_an_evidence_file_over_the_limit_is_refused_and_nothing_is_stored_or_sent(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, commitment: Made
) -> None:
    before, files = counts(chain), stored_files(app)
    response = client.post(
        f"/api/v1/staff/commitments/{commitment.id}/deliveries",
        data={"quantity": "1", "delivered_at": "1736938800"},
        files=[
            ("evidence", ("small.txt", b"small and fine", "text/plain")),
            ("evidence", ("big.bin", b"x" * (MAX_EVIDENCE_BYTES + 1), "application/octet-stream")),
        ],
        headers=auth(tokens.baarn),
    )
    body = assert_problem(response, 413, "payload-too-large")
    assert body["max_bytes"] == MAX_EVIDENCE_BYTES
    assert counts(chain) == before
    assert stored_files(app) == files


def test_a_body_far_over_the_form_limit_is_refused_before_it_is_read(
    client: TestClient, chain: LedgerChain, tokens: Tokens, commitment: Made
) -> None:
    response = client.post(
        f"/api/v1/staff/commitments/{commitment.id}/deliveries",
        content=b"x",
        headers={**auth(tokens.baarn), "Content-Type": "multipart/form-data; boundary=b", "Content-Length": str(10**9)},
    )
    assert_problem(response, 413, "payload-too-large")


@pytest.mark.parametrize(
    ("data", "files", "loc"),
    [
        ({"quantity": "1", "delivered_at": "1736938800"}, None, ["body"]),
        ({"quantity": "1", "delivered_at": "1736938800", "evidence_sha256": ["ab" * 32] * 17}, None, ["body"]),
        ({"quantity": "1", "delivered_at": "1736938800", "evidence_sha256": ["ab" * 32] * 15},
         [("evidence", ("a", b"a", "text/plain")), ("evidence", ("b", b"b", "text/plain"))], ["body"]),
        ({"quantity": "1", "delivered_at": str(int(time.time()) + 3600), "evidence_sha256": ELSEWHERE}, None, ["body", "delivered_at"]),
        ({"quantity": "1", "delivered_at": "2025-01-15T12:00:00", "evidence_sha256": ELSEWHERE}, None, ["body", "delivered_at"]),
        ({"quantity": "0", "delivered_at": "1736938800", "evidence_sha256": ELSEWHERE}, None, ["body", "quantity"]),
        ({"quantity": "ten", "delivered_at": "1736938800", "evidence_sha256": ELSEWHERE}, None, ["body", "quantity"]),
        ({"quantity": "1", "delivered_at": "1736938800", "evidence_sha256": "0x1234"}, None, ["body", "evidence_sha256", 0]),
        ({"quantity": "1", "delivered_at": "1736938800", "evidence_sha256": "00" * 32}, None, ["body", "evidence_sha256", 0]),
        ({"quantity": "1", "delivered_at": "1736938800", "evidence_sha256": ELSEWHERE, "note": "ß" * 500 + "x"}, None, ["body", "note"]),
        ({"quantity": "1", "delivered_at": "1736938800", "evidence_sha256": ELSEWHERE, "external_ref": "x" * 65}, None, ["body", "external_ref"]),
        ({"quantity": "1", "delivered_at": "1736938800", "evidence_sha256": ELSEWHERE, "evidence_uri": "x" * 513}, None, ["body", "evidence_uri"]),
        ({"quantity": "1", "delivered_at": "1736938800", "evidence_sha256": ELSEWHERE, "colour": "red"}, None, ["body", "colour"]),
        ({"delivered_at": "1736938800", "evidence_sha256": ELSEWHERE}, None, ["body", "quantity"]),
    ],
)
def test_invalid_deliveries_are_refused_before_anything_is_stored_or_sent(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, commitment: Made, data: dict, files: list | None,
    loc: list,
) -> None:
    before, stored = counts(chain), stored_files(app)
    response = client.post(f"/api/v1/staff/commitments/{commitment.id}/deliveries", data=data, files=files,
                           headers=auth(tokens.baarn))
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"][0]["loc"] == loc
    assert counts(chain) == before
    assert stored_files(app) == stored


def test_delivering_on_another_municipalitys_commitment_is_forbidden_and_stores_nothing(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, utrecht_commitment: Made
) -> None:
    before, stored = counts(chain), stored_files(app)
    response = client.post(
        f"/api/v1/staff/commitments/{utrecht_commitment.id}/deliveries",
        data={"quantity": "1", "delivered_at": "1736938800"},
        files={"evidence": ("new.txt", b"never stored", "text/plain")},
        headers=auth(tokens.baarn),
    )
    assert_problem(response, 403, "forbidden")
    assert counts(chain) == before
    assert stored_files(app) == stored


def test_delivering_on_an_unknown_commitment_is_not_found_by_the_contract(
    client: TestClient, chain: LedgerChain, tokens: Tokens
) -> None:
    before = counts(chain)
    response = client.post(
        f"/api/v1/staff/commitments/{UNKNOWN}/deliveries",
        data={"quantity": "1", "delivered_at": "1736938800", "evidence_sha256": ELSEWHERE},
        headers=auth(tokens.baarn),
    )
    body = assert_problem(response, 404, "not-found")
    assert body["contract_error"] == {"name": "LedgerUnknownCommitment", "args": {"commitment_id": UNKNOWN}}
    assert counts(chain) == before


def test_a_delivery_right_after_registration_does_not_wait_for_the_indexer(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any
) -> None:
    n = counts(chain)[1]
    body = {"external_ref": unique_ref("snel"), "title": "Snel", "target_quantity": 2, "unit": "x", "promised_at": PROMISED,
            "due_date": DUE_2030}
    commitment_id = client.post("/api/v1/staff/commitments", json=body, headers=auth(tokens.baarn)).json()["commitment_id"]
    assert commitment_id == n + 1
    response = client.post(
        f"/api/v1/staff/commitments/{commitment_id}/deliveries",
        data={"quantity": "2", "delivered_at": "1736938800", "evidence_sha256": ELSEWHERE},
        headers=auth(tokens.baarn),
    )
    assert response.status_code == 201, response.text
    assert response.json()["commitment_id"] == n + 1
    index()
    assert client.get(f"/api/v1/commitments/{n + 1}").json()["status"] == "delivered"


def test_a_token_of_another_municipality_on_an_unindexed_commitment_is_forbidden_by_the_contract(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any
) -> None:
    body = {"external_ref": unique_ref("snel"), "title": "Snel", "target_quantity": 2, "unit": "x", "promised_at": PROMISED,
            "due_date": DUE_2030}
    commitment_id = client.post("/api/v1/staff/commitments", json=body, headers=auth(tokens.baarn)).json()["commitment_id"]
    before = counts(chain)
    response = client.post(
        f"/api/v1/staff/commitments/{commitment_id}/deliveries",
        data={"quantity": "2", "delivered_at": "1736938800", "evidence_sha256": ELSEWHERE},
        headers=auth(tokens.utrecht),
    )
    assert assert_problem(response, 403, "forbidden")["contract_error"]["name"] == "LedgerNotRegistrar"
    assert counts(chain) == before
    index()


# ------------------------------------------------------------------ revoke


def test_revocation_returns_the_commitment_and_stops_the_delivery_counting(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, wonen: Made
) -> None:
    deliver(client, tokens.baarn, wonen.id, quantity="60")
    second = deliver(client, tokens.baarn, wonen.id, quantity="10")
    index()
    response = client.post(f"/api/v1/staff/deliveries/{second}/revocation", json={"reason": "Dubbel geboekt"},
                           headers=auth(tokens.baarn))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["delivery_id"], body["commitment_id"]) == (delivery_id(wonen.id, 2), wonen.id)
    assert_tx(body["tx"], chain)
    index()
    detail = client.get(f"/api/v1/commitments/{wonen.id}").json()
    assert detail["delivered_quantity"] == "60"
    assert detail["deliveries"][1]["revocation"]["reason"] == "Dubbel geboekt"


def test_revoking_twice_is_a_conflict(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made
) -> None:
    revoked = deliver(client, tokens.baarn, commitment.id)
    assert client.post(f"/api/v1/staff/deliveries/{revoked}/revocation", json={"reason": "Dubbel geboekt"},
                       headers=auth(tokens.baarn)).status_code == 201
    index()
    before = counts(chain)
    response = client.post(f"/api/v1/staff/deliveries/{revoked}/revocation", json={"reason": "Nogmaals"},
                           headers=auth(tokens.baarn))
    assert assert_problem(response, 409, "delivery-already-revoked")["detail"] == f"Delivery {revoked} is already revoked."
    assert counts(chain) == before


def test_revoking_another_municipalitys_delivery_is_forbidden_before_anything_is_sent(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made
) -> None:
    baarns = deliver(client, tokens.baarn, commitment.id)
    index()
    before = counts(chain)
    response = client.post(f"/api/v1/staff/deliveries/{baarns}/revocation", json={"reason": "Niet van ons"},
                           headers=auth(tokens.utrecht))
    body = assert_problem(response, 403, "forbidden")
    assert body["detail"] == f"This token is for municipality 2; delivery {baarns} belongs to municipality 1."
    assert counts(chain) == before


def test_revoking_an_unknown_delivery_is_not_found(client: TestClient, tokens: Tokens) -> None:
    response = client.post("/api/v1/staff/deliveries/99/revocation", json={"reason": "r"}, headers=auth(tokens.baarn))
    body = assert_problem(response, 404, "not-found")
    assert body["contract_error"] == {"name": "LedgerUnknownDelivery", "args": {"delivery_id": 99}}


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "x" * 1001}, {"reason": 5}, {"reason": "r", "extra": 1}])
def test_revocation_needs_a_valid_reason(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made, body: dict
) -> None:
    delivered = deliver(client, tokens.baarn, commitment.id)
    index()
    before = counts(chain)
    assert_problem(client.post(f"/api/v1/staff/deliveries/{delivered}/revocation", json=body, headers=auth(tokens.baarn)),
                   422, "validation-error")
    assert counts(chain) == before


# ------------------------------------------------------------------ withdraw


def test_withdrawal_is_recorded(client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made) -> None:
    response = client.post(f"/api/v1/staff/commitments/{commitment.id}/withdrawal", json={"reason": "Project geschrapt"},
                           headers=auth(tokens.baarn))
    assert response.status_code == 201, response.text
    assert response.json()["commitment_id"] == commitment.id
    assert_tx(response.json()["tx"], chain)
    # Not indexed yet: the contract refuses a second withdrawal itself.
    again = client.post(f"/api/v1/staff/commitments/{commitment.id}/withdrawal", json={"reason": "Nogmaals"},
                        headers=auth(tokens.baarn))
    assert assert_problem(again, 409, "commitment-withdrawn")["contract_error"]["name"] == "LedgerCommitmentWithdrawn"
    index()
    assert client.get(f"/api/v1/commitments/{commitment.id}").json()["status"] == "withdrawn"


@pytest.mark.parametrize(
    ("path", "kwargs"),
    [
        ("withdrawal", {"json": {"reason": "Nogmaals"}}),
        ("amendments", {"json": {"expected_amendment_count": 0, "title": "Andere weg", "reason": "r"}}),
        ("deliveries", {"data": {"quantity": "1", "delivered_at": "1736938800"},
                        "files": {"evidence": ("late.txt", b"too late", "text/plain")}}),
    ],
)
def test_a_withdrawn_commitment_accepts_no_change(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, withdrawn: Made, path: str, kwargs: dict
) -> None:
    before, stored = counts(chain), stored_files(app)
    response = client.post(f"/api/v1/staff/commitments/{withdrawn.id}/{path}", headers=auth(tokens.baarn), **kwargs)
    body = assert_problem(response, 409, "commitment-withdrawn")
    assert body["detail"] == f"Commitment {withdrawn.id} is withdrawn: it accepts no amendment or delivery."
    assert counts(chain) == before
    assert stored_files(app) == stored


def test_withdrawing_another_municipalitys_commitment_is_forbidden(
    client: TestClient, chain: LedgerChain, tokens: Tokens, commitment: Made
) -> None:
    before = counts(chain)
    response = client.post(f"/api/v1/staff/commitments/{commitment.id}/withdrawal", json={"reason": "r"},
                           headers=auth(tokens.utrecht))
    assert_problem(response, 403, "forbidden")
    assert counts(chain) == before
