"""Citizens' endpoints on a seeded ledger: health, municipalities, themes, commitments,
verify and evidence, with exact JSON values.

The seed (written with the registrar keys straight to the chain, then indexed):

1. Baarn ``wonen-001`` "200 sociale huurwoningen", theme Wonen, target 200, due in 30 days,
   source document SOURCE; one delivery of 50 citing STORED (a file in the store) and
   ELSEWHERE (not stored) → ``in_progress``.
2. Baarn ``groen-002`` "Tien nieuwe bomen", theme Groen, target 10, due yesterday → ``overdue``.
3. Utrecht ``fiets-001`` "Fietsenstalling", theme Mobiliteit, target 1, one delivery of 1
   citing STORED, later revoked → due in 10 days, ``pending``.
4. Baarn ``oud-004``, theme Wonen, withdrawn → ``withdrawn``.
"""

from __future__ import annotations

import hashlib
import io
import time
from datetime import datetime, timezone
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.deps import get_now
from ledger.chain import LedgerChain, TxResult
from ledger.events import LedgerEvent
from tests.api.helpers import BAARN_SOURCE, MAX_EVIDENCE_BYTES, PROBLEM

DAY = 86_400
STORED_BYTES = b"%PDF-1.4 opleverrapport 50 woningen\n"
STORED = "0x" + hashlib.sha256(STORED_BYTES).hexdigest()
ELSEWHERE = "0x" + "e1" * 32
SOURCE = "0x" + "5c" * 32
NOWHERE = "0x" + "ab" * 32
ZERO = b"\x00" * 32


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def ref(chain: LedgerChain, event: LedgerEvent) -> dict[str, Any]:
    """The ChainRef the API must show for ``event``."""
    block_time = chain.block(event.block_number).timestamp
    return {
        "tx_hash": event.transaction_hash,
        "block_number": event.block_number,
        "log_index": event.log_index,
        "block_time": block_time,
        "block_time_iso": iso(block_time),
    }


def register(chain: LedgerChain, key: str, municipality_id: int, ref_: str, title: str, theme: str,
             target: int, due: int, source: bytes = ZERO) -> TxResult:
    struct = (municipality_id, ref_, title, f"Beschrijving van {title}", theme, target, "stuks", due, source, "https://example.org/besluit")
    return chain.send("registerCommitment", [struct], key)


@pytest.fixture(scope="module")
def seed(app: FastAPI, client: TestClient, chain: LedgerChain, roles: Any, index: Any) -> dict[str, Any]:
    now = int(time.time())
    baarn, utrecht = roles.registrar.key, roles.other_registrar.key
    app.state.evidence_store.save_stream(io.BytesIO(STORED_BYTES), MAX_EVIDENCE_BYTES, "application/pdf")
    txs: dict[str, Any] = {"now": now, "due1": now + 30 * DAY, "due2": now - DAY, "due3": now + 10 * DAY}
    txs["c1"] = register(chain, baarn, 1, "wonen-001", "200 sociale huurwoningen", "Wonen", 200, txs["due1"], bytes.fromhex(SOURCE[2:]))
    txs["c2"] = register(chain, baarn, 1, "groen-002", "Tien nieuwe bomen", "Groen", 10, txs["due2"])
    txs["c3"] = register(chain, utrecht, 2, "fiets-001", "Fietsenstalling", "Mobiliteit", 1, txs["due3"])
    txs["c4"] = register(chain, baarn, 1, "oud-004", "Oud plan", "Wonen", 5, txs["due1"])
    txs["delivered_at1"] = now - 3600
    txs["d1"] = chain.send(
        "recordDelivery",
        [1, (50, txs["delivered_at1"], [bytes.fromhex(STORED[2:]), bytes.fromhex(ELSEWHERE[2:])], "https://example.org/rapport", "Eerste oplevering", "lev-1")],
        baarn,
    )
    txs["d2"] = chain.send("recordDelivery", [3, (1, now - 60, [bytes.fromhex(STORED[2:])], "", "", "")], utrecht)
    txs["r2"] = chain.send("revokeDelivery", [2, "Verkeerde stalling"], utrecht)
    txs["w4"] = chain.send("withdrawCommitment", [4, "Vervangen door wonen-001"], baarn)
    index()
    return txs


# ------------------------------------------------------------------ health


def test_health_is_degraded_before_the_indexer_ran(client: TestClient, chain: LedgerChain) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "chain_id": 31337,
        "contract_address": chain.deployment.contract_address,
        "deploy_block": chain.deployment.deploy_block,
        "chain_head_block": None,
        "indexed_block": None,
        "lag_blocks": None,
        "head_seen_at": None,
    }


def test_health_is_ok_when_the_index_is_at_the_head(client: TestClient, chain: LedgerChain, seed: dict) -> None:
    head = chain.head_block_number()
    body = client.get("/api/v1/health").json()
    assert body["head_seen_at"] >= seed["now"]
    assert body == {
        "status": "ok",
        "chain_id": 31337,
        "contract_address": chain.deployment.contract_address,
        "deploy_block": chain.deployment.deploy_block,
        "chain_head_block": head,
        "indexed_block": head,
        "lag_blocks": 0,
        "head_seen_at": body["head_seen_at"],
    }


def test_health_is_degraded_when_the_head_was_not_seen_for_a_minute(app: FastAPI, client: TestClient, seed: dict) -> None:
    seen_at = client.get("/api/v1/health").json()["head_seen_at"]
    app.dependency_overrides[get_now] = lambda: seen_at + 61
    try:
        assert client.get("/api/v1/health").json()["status"] == "degraded"
    finally:
        app.dependency_overrides.clear()


# ------------------------------------------------------------------ municipalities


def test_municipalities_list_counts_every_status(client: TestClient, chain: LedgerChain, roles: Any, seed: dict) -> None:
    response = client.get("/api/v1/municipalities")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["count"] == 2
    baarn, utrecht = body["data"]
    assert {k: v for k, v in baarn.items() if k != "registered"} == {
        "id": 1,
        "name": "Baarn",
        "code": "GM0308",
        "admin": roles.council_admin.address,
        "registrars": [roles.registrar.address],
        "commitment_count": 3,
        "status_counts": {"pending": 0, "in_progress": 1, "delivered": 0, "delivered_late": 0, "overdue": 1, "withdrawn": 1},
        "sources": [BAARN_SOURCE],
    }
    assert utrecht["sources"] == []
    assert utrecht["status_counts"] == {"pending": 1, "in_progress": 0, "delivered": 0, "delivered_late": 0, "overdue": 0, "withdrawn": 0}
    assert set(baarn["registered"]) == {"tx_hash", "block_number", "log_index", "block_time", "block_time_iso"}
    assert baarn["registered"]["block_time_iso"] == iso(baarn["registered"]["block_time"])


def test_one_municipality_is_as_in_the_list(client: TestClient, seed: dict) -> None:
    listed = client.get("/api/v1/municipalities").json()["data"][1]
    assert client.get("/api/v1/municipalities/2").json() == listed


@pytest.mark.parametrize(("path", "status"), [("3", 404), ("0", 422), ("-1", 422), ("abc", 422), ("4294967296", 422)])
def test_unknown_or_malformed_municipality_ids(client: TestClient, seed: dict, path: str, status: int) -> None:
    response = client.get(f"/api/v1/municipalities/{path}")
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == ("/problems/not-found" if status == 404 else "/problems/validation-error")


# ------------------------------------------------------------------ themes


def test_themes_count_commitments_per_theme(client: TestClient, seed: dict) -> None:
    assert client.get("/api/v1/themes").json() == {
        "data": [{"theme": "Groen", "count": 1}, {"theme": "Mobiliteit", "count": 1}, {"theme": "Wonen", "count": 2}],
        "count": 3,
    }
    assert client.get("/api/v1/themes", params={"municipality_id": 2}).json() == {
        "data": [{"theme": "Mobiliteit", "count": 1}],
        "count": 1,
    }
    assert client.get("/api/v1/themes", params={"municipality_id": "x"}).status_code == 422


# ------------------------------------------------------------------ commitments


def test_commitment_summary_has_exact_values(client: TestClient, chain: LedgerChain, seed: dict) -> None:
    body = client.get("/api/v1/commitments", params={"municipality_id": 1, "limit": 1}).json()
    assert body["count"] == 3
    assert body["offset"] == 0
    assert body["limit"] == 1
    assert body["data"] == [
        {
            "id": 1,
            "municipality_id": 1,
            "municipality_name": "Baarn",
            "external_ref": "wonen-001",
            "title": "200 sociale huurwoningen",
            "theme": "Wonen",
            "unit": "stuks",
            "target_quantity": "200",
            "delivered_quantity": "50",
            "progress_bps": 2500,
            "status": "in_progress",
            "due_date": seed["due1"],
            "due_date_iso": iso(seed["due1"]),
            "met_at": None,
            "met_at_iso": None,
            "registered": ref(chain, seed["c1"].event("CommitmentRegistered")),
            "withdrawn": False,
        }
    ]


@pytest.mark.parametrize(
    ("params", "ids", "count"),
    [
        ({}, [1, 2, 3, 4], 4),
        ({"municipality_id": 2}, [3], 1),
        ({"theme": "Wonen"}, [1, 4], 2),
        ({"status": "overdue"}, [2], 1),
        ({"status": ["overdue", "withdrawn"]}, [2, 4], 2),
        ({"q": "BOMEN"}, [2], 1),
        ({"q": "fiets-0"}, [3], 1),
        ({"q": "beschrijving van oud"}, [4], 1),
        ({"offset": 1, "limit": 2}, [2, 3], 4),
        ({"offset": 10}, [], 4),
        ({"municipality_id": 1, "status": "pending"}, [], 0),
    ],
)
def test_commitment_filters(client: TestClient, seed: dict, params: dict, ids: list[int], count: int) -> None:
    body = client.get("/api/v1/commitments", params=params).json()
    assert [c["id"] for c in body["data"]] == ids
    assert body["count"] == count


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"status": "lost"}, {"municipality_id": 0}, {"limit": "ten"}],
)
def test_bad_commitment_filters_are_validation_problems(client: TestClient, seed: dict, params: dict) -> None:
    response = client.get("/api/v1/commitments", params=params)
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/validation-error"


def test_commitment_pages_credit_the_sources_of_their_commitments(client: TestClient, seed: dict) -> None:
    assert client.get("/api/v1/commitments", params={"municipality_id": 1}).json()["sources"] == [BAARN_SOURCE]
    assert client.get("/api/v1/commitments", params={"municipality_id": 2}).json()["sources"] == []
    assert client.get("/api/v1/commitments").json()["sources"] == [BAARN_SOURCE]


def test_commitment_detail_has_exact_values(client: TestClient, chain: LedgerChain, roles: Any, seed: dict) -> None:
    registered = seed["c1"].event("CommitmentRegistered")
    recorded = seed["d1"].event("DeliveryRecorded")
    response = client.get("/api/v1/commitments/1")
    assert response.status_code == 200
    assert response.json() == {
        "id": 1,
        "municipality_id": 1,
        "municipality_name": "Baarn",
        "external_ref": "wonen-001",
        "title": "200 sociale huurwoningen",
        "theme": "Wonen",
        "unit": "stuks",
        "target_quantity": "200",
        "delivered_quantity": "50",
        "progress_bps": 2500,
        "status": "in_progress",
        "due_date": seed["due1"],
        "due_date_iso": iso(seed["due1"]),
        "met_at": None,
        "met_at_iso": None,
        "registered": ref(chain, registered),
        "withdrawn": False,
        "description": "Beschrijving van 200 sociale huurwoningen",
        "source_document_sha256": SOURCE,
        "source_uri": "https://example.org/besluit",
        "registrar": roles.registrar.address,
        "amendment_count": 0,
        "withdrawal": None,
        "deliveries": [
            {
                "id": 1,
                "commitment_id": 1,
                "quantity": "50",
                "delivered_at": seed["delivered_at1"],
                "delivered_at_iso": iso(seed["delivered_at1"]),
                "evidence": [
                    {"sha256": STORED, "stored": True, "url": f"/api/v1/evidence/{STORED}"},
                    {"sha256": ELSEWHERE, "stored": False, "url": None},
                ],
                "evidence_uri": "https://example.org/rapport",
                "note": "Eerste oplevering",
                "external_ref": "lev-1",
                "registrar": roles.registrar.address,
                "recorded": ref(chain, recorded),
                "revocation": None,
            }
        ],
        "timeline": [
            {
                "kind": "registered",
                "chain": ref(chain, registered),
                "registrar": roles.registrar.address,
                "details": {
                    "external_ref": "wonen-001",
                    "title": "200 sociale huurwoningen",
                    "description": "Beschrijving van 200 sociale huurwoningen",
                    "theme": "Wonen",
                    "target_quantity": "200",
                    "unit": "stuks",
                    "due_date": seed["due1"],
                    "source_document_sha256": SOURCE,
                    "source_uri": "https://example.org/besluit",
                },
            },
            {
                "kind": "delivered",
                "chain": ref(chain, recorded),
                "registrar": roles.registrar.address,
                "details": {
                    "delivery_id": 1,
                    "quantity": "50",
                    "delivered_at": seed["delivered_at1"],
                    "evidence_sha256": [STORED, ELSEWHERE],
                    "note": "Eerste oplevering",
                },
            },
        ],
        "ledger": {"chain_id": 31337, "contract_address": chain.deployment.contract_address},
        "sources": [BAARN_SOURCE],
    }


def test_revocation_and_withdrawal_appear_in_the_detail(client: TestClient, chain: LedgerChain, roles: Any, seed: dict) -> None:
    c3 = client.get("/api/v1/commitments/3").json()
    assert c3["status"] == "pending"
    assert c3["delivered_quantity"] == "0"
    assert c3["deliveries"][0]["revocation"] == {
        "reason": "Verkeerde stalling",
        "registrar": roles.other_registrar.address,
        "chain": ref(chain, seed["r2"].event("DeliveryRevoked")),
    }
    assert [e["kind"] for e in c3["timeline"]] == ["registered", "delivered", "revoked"]
    assert c3["timeline"][2]["details"] == {"delivery_id": 2, "reason": "Verkeerde stalling"}
    c4 = client.get("/api/v1/commitments/4").json()
    assert c4["status"] == "withdrawn"
    assert c4["withdrawn"] is True
    assert c4["withdrawal"] == {
        "reason": "Vervangen door wonen-001",
        "registrar": roles.registrar.address,
        "chain": ref(chain, seed["w4"].event("CommitmentWithdrawn")),
    }
    assert c4["timeline"][-1]["details"] == {"reason": "Vervangen door wonen-001"}


@pytest.mark.parametrize(("path", "status"), [("99", 404), ("0", 422), ("-3", 422), ("1.5", 422), ("één", 422)])
def test_unknown_or_malformed_commitment_ids(client: TestClient, seed: dict, path: str, status: int) -> None:
    response = client.get(f"/api/v1/commitments/{path}")
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    if status == 404:
        assert response.json() == {"type": "/problems/not-found", "title": "Not found", "status": 404, "detail": "No commitment 99."}


# ------------------------------------------------------------------ verify


def test_verify_lists_every_citation_of_a_hash(client: TestClient, chain: LedgerChain, roles: Any, seed: dict) -> None:
    body = client.get(f"/api/v1/verify/{STORED[2:].upper()}").json()
    assert body == {
        "sha256": STORED,
        "found": True,
        "citations": [
            {
                "delivery_id": 1,
                "commitment_id": 1,
                "commitment_title": "200 sociale huurwoningen",
                "municipality_id": 1,
                "municipality_name": "Baarn",
                "delivered_at": seed["delivered_at1"],
                "delivered_at_iso": iso(seed["delivered_at1"]),
                "quantity": "50",
                "registrar": roles.registrar.address,
                "revoked": False,
                "revocation_reason": None,
                "chain": ref(chain, seed["d1"].event("DeliveryRecorded")),
            },
            {
                "delivery_id": 2,
                "commitment_id": 3,
                "commitment_title": "Fietsenstalling",
                "municipality_id": 2,
                "municipality_name": "Utrecht",
                "delivered_at": seed["now"] - 60,
                "delivered_at_iso": iso(seed["now"] - 60),
                "quantity": "1",
                "registrar": roles.other_registrar.address,
                "revoked": True,
                "revocation_reason": "Verkeerde stalling",
                "chain": ref(chain, seed["d2"].event("DeliveryRecorded")),
            },
        ],
        "source_of": [],
    }


def test_verify_finds_source_documents(client: TestClient, seed: dict) -> None:
    assert client.get(f"/api/v1/verify/{SOURCE}").json() == {
        "sha256": SOURCE,
        "found": True,
        "citations": [],
        "source_of": [{"commitment_id": 1, "title": "200 sociale huurwoningen", "municipality_name": "Baarn"}],
    }


def test_verify_of_an_unknown_hash_is_not_found_but_not_an_error(client: TestClient, seed: dict) -> None:
    assert client.get(f"/api/v1/verify/{NOWHERE}").json() == {"sha256": NOWHERE, "found": False, "citations": [], "source_of": []}


@pytest.mark.parametrize("bad", ["ab" * 31, "0x" + "ab" * 33, "zz" * 32, "0X" + "ab" * 32, "x"])
def test_verify_of_a_malformed_hash_is_a_validation_problem(client: TestClient, bad: str) -> None:
    response = client.get(f"/api/v1/verify/{bad}")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["path", "sha256"]


def test_verify_upload_hashes_the_file_and_stores_nothing(app: FastAPI, client: TestClient, seed: dict) -> None:
    store_dir = app.state.evidence_store.directory
    before = sorted(store_dir.iterdir())
    response = client.post("/api/v1/verify", files={"file": ("rapport.pdf", STORED_BYTES, "application/pdf")})
    assert response.status_code == 200
    assert response.json() == client.get(f"/api/v1/verify/{STORED}").json()
    other = b"a document nobody cited"
    response = client.post("/api/v1/verify", files={"file": ("x.txt", other, "text/plain")})
    assert response.json()["sha256"] == "0x" + hashlib.sha256(other).hexdigest()
    assert response.json()["found"] is False
    assert sorted(store_dir.iterdir()) == before


def test_verify_upload_over_the_limit_is_payload_too_large(client: TestClient) -> None:
    response = client.post("/api/v1/verify", files={"file": ("big.bin", b"x" * (MAX_EVIDENCE_BYTES + 1), "application/octet-stream")})
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/payload-too-large"
    assert response.json()["max_bytes"] == MAX_EVIDENCE_BYTES


def test_verify_upload_of_exactly_the_limit_is_hashed(client: TestClient) -> None:
    response = client.post("/api/v1/verify", files={"file": ("max.bin", b"x" * MAX_EVIDENCE_BYTES, "application/octet-stream")})
    assert response.status_code == 200


def test_verify_upload_needs_a_file_field(client: TestClient) -> None:
    response = client.post("/api/v1/verify", files={"document": ("a.txt", b"a", "text/plain")})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "file"], ["body", "document"]]
    response = client.post("/api/v1/verify", data={"file": "not a file"}, files={"x": ("a", b"", "text/plain")})
    assert response.status_code == 422


# ------------------------------------------------------------------ evidence


def test_stored_evidence_is_served_with_its_media_type(client: TestClient, seed: dict) -> None:
    response = client.get(f"/api/v1/evidence/{STORED}")
    assert response.status_code == 200
    assert response.content == STORED_BYTES
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == f'inline; filename="{STORED[2:]}"'
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get(f"/api/v1/evidence/{STORED[2:]}").content == STORED_BYTES


def test_active_content_is_served_as_a_sandboxed_download(app: FastAPI, client: TestClient) -> None:
    html = b"<script>alert(document.cookie)</script>"
    sha, _ = app.state.evidence_store.save_stream(io.BytesIO(html), MAX_EVIDENCE_BYTES, "text/html")
    response = client.get(f"/api/v1/evidence/{sha}")
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"


def test_evidence_not_stored_here_is_not_found(client: TestClient, seed: dict) -> None:
    response = client.get(f"/api/v1/evidence/{ELSEWHERE}")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/not-found"


@pytest.mark.parametrize(("bad", "status"), [("ab" * 31, 422), ("g" * 64, 422), ("0x" + "ab" * 33, 422), ("..%2F..%2Fetc%2Fpasswd", 404)])
def test_evidence_with_a_malformed_hash_is_refused(client: TestClient, bad: str, status: int) -> None:
    response = client.get(f"/api/v1/evidence/{bad}")
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
