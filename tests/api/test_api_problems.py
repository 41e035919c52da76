"""Every error is an RFC 9457 problem (application/problem+json), whatever raised it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.deps import get_chain
from api.main import create_app
from ledger.chain import LedgerChain
from ledger.errors import DeploymentNotFoundError
from ledger.settings import Settings, load_settings

from tests.api.helpers import PROBLEM, Tokens

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_unknown_route_is_a_not_found_problem(client: TestClient) -> None:
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "/problems/not-found",
        "title": "Not found",
        "status": 404,
        "detail": "No such resource.",
    }


def test_wrong_method_is_a_method_not_allowed_problem(client: TestClient) -> None:
    response = client.delete("/api/v1/municipalities")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/method-not-allowed"


def test_validation_error_lists_every_error_without_echoing_input(client: TestClient) -> None:
    response = client.get("/api/v1/commitments", params={"limit": 0, "status": "lost"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == "/problems/validation-error"
    assert body["title"] == "Request is not valid"
    assert body["status"] == 422
    assert [e["loc"] for e in body["errors"]] == [["query", "status", 0], ["query", "limit"]]
    assert all(set(e) == {"loc", "msg", "type"} for e in body["errors"])
    assert body["detail"].startswith("status.0: Input should be 'pending'")
    assert "limit: Input should be greater than or equal to 1" in body["detail"]


def test_text_over_the_byte_limit_reads_like_the_documented_example(client: TestClient, tokens: Tokens) -> None:
    body = {"external_ref": "r", "title": "é" * 100 + "x", "target_quantity": 1, "unit": "u", "promised_at": 1, "due_date": 2}
    response = client.post("/api/v1/staff/commitments", json=body, headers=Tokens.header(tokens.baarn))
    assert response.status_code == 422
    assert response.json()["detail"] == "title: String should have at most 200 bytes (UTF-8), got 201"
    assert response.json()["errors"] == [
        {"loc": ["body", "title"], "msg": "String should have at most 200 bytes (UTF-8), got 201", "type": "string_too_long_bytes"}
    ]


def test_malformed_json_is_a_validation_problem(client: TestClient, tokens: Tokens) -> None:
    response = client.post(
        "/api/v1/staff/commitments",
        content=b'{"title": ',
        headers={**Tokens.header(tokens.baarn), "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "json_invalid"


def test_json_route_refuses_other_media_types(client: TestClient, tokens: Tokens) -> None:
    response = client.post(
        "/api/v1/staff/commitments",
        content=b"title=x",
        headers={**Tokens.header(tokens.baarn), "Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/unsupported-media-type"


def test_form_route_refuses_json(client: TestClient, tokens: Tokens) -> None:
    response = client.post(
        "/api/v1/staff/commitments/1/deliveries", json={"quantity": 1}, headers=Tokens.header(tokens.baarn)
    )
    assert response.status_code == 415
    assert response.json()["detail"] == "Send this as multipart/form-data, not application/json."


def test_declared_oversized_json_body_is_refused_before_reading(client: TestClient, tokens: Tokens) -> None:
    response = client.post(
        "/api/v1/staff/commitments",
        content=b"{" + b" " * (256 * 1024) + b"}",
        headers={**Tokens.header(tokens.baarn), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/payload-too-large"


def test_streamed_oversized_body_is_refused_while_streaming(client: TestClient, tokens: Tokens) -> None:
    def chunks():
        yield b'{"title": "'
        for _ in range(300):
            yield b"x" * 1024
        yield b'"}'

    response = client.post(
        "/api/v1/staff/commitments",
        content=chunks(),
        headers={**Tokens.header(tokens.baarn), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["type"] == "/problems/payload-too-large"


def test_unexpected_exception_is_a_500_problem_without_internals(api_settings: Settings) -> None:
    app = create_app(api_settings)

    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret connection string postgres://user:pw@db")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "/problems/internal-error",
        "title": "Internal server error",
        "status": 500,
        "detail": "An unexpected error occurred; it has been logged.",
    }


def test_unreachable_chain_is_a_503_problem_and_nothing_is_written(
    app: FastAPI, client: TestClient, tokens: Tokens, chain: LedgerChain
) -> None:
    before = chain.call("counts")
    dead = LedgerChain("http://127.0.0.1:9", chain.deployment, request_timeout_seconds=2)
    app.dependency_overrides[get_chain] = lambda: dead
    try:
        body = {"external_ref": "r-503", "title": "t", "target_quantity": 1, "unit": "u", "promised_at": 1,
                "due_date": 2_000_000_000}
        response = client.post("/api/v1/staff/commitments", json=body, headers=Tokens.header(tokens.baarn))
    finally:
        app.dependency_overrides.clear()
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == "10"
    assert response.json()["type"] == "/problems/chain-unavailable"
    assert "127.0.0.1:9" not in response.text
    assert chain.call("counts") == before


def test_openapi_describes_every_endpoint_and_problem(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["info"]["title"] == "Commitment ledger API"
    assert schema["info"]["version"] == "1.0.0"
    assert "problem+json" in schema["info"]["description"]
    assert sorted(schema["paths"]) == [
        "/api/v1/batches",
        "/api/v1/batches/{root}",
        "/api/v1/batches/{root}/file",
        "/api/v1/batches/{root}/leaves/{leaf_hash}/proof",
        "/api/v1/commitments",
        "/api/v1/commitments/{commitment_id}",
        "/api/v1/commitments/{commitment_id}/deliveries",
        "/api/v1/commitments/{commitment_id}/timeline",
        "/api/v1/deliveries",
        "/api/v1/evidence/{sha256}",
        "/api/v1/health",
        "/api/v1/health/live",
        "/api/v1/health/ready",
        "/api/v1/municipalities",
        "/api/v1/municipalities/{municipality_id}",
        "/api/v1/relay",
        "/api/v1/relay/typed-data",
        "/api/v1/staff/batches",
        "/api/v1/staff/batches/file",
        "/api/v1/staff/batches/{root}/leaves/{leaf_hash}/confirmation",
        "/api/v1/staff/batches/{root}/leaves/{leaf_hash}/dispute",
        "/api/v1/staff/batches/{root}/leaves/{leaf_hash}/revocation",
        "/api/v1/staff/commitments",
        "/api/v1/staff/commitments/batch",
        "/api/v1/staff/commitments/{commitment_id}/amendments",
        "/api/v1/staff/commitments/{commitment_id}/deliveries",
        "/api/v1/staff/commitments/{commitment_id}/withdrawal",
        "/api/v1/staff/deliveries/batch",
        "/api/v1/staff/deliveries/{delivery_id}/confirmation",
        "/api/v1/staff/deliveries/{delivery_id}/dispute",
        "/api/v1/staff/deliveries/{delivery_id}/revocation",
        "/api/v1/staff/me",
        "/api/v1/staff/writes",
        "/api/v1/staff/writes/{write_id}",
        "/api/v1/themes",
        "/api/v1/verify",
        "/api/v1/verify/{sha256}",
    ]
    for path in schema["paths"].values():
        for operation in path.values():
            assert operation["description"], operation["operationId"]
    assert "Problem" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert client.get("/docs").status_code == 200


def test_the_website_is_served_next_to_the_api(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


def test_text_that_is_not_unicode_is_a_validation_problem(client: TestClient, tokens: Tokens) -> None:
    body = b'{"external_ref": "r", "title": "\\ud800", "target_quantity": 1, "unit": "u", "promised_at": 1, "due_date": 2}'
    response = client.post(
        "/api/v1/staff/commitments", content=body, headers={**Tokens.header(tokens.baarn), "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0] == {"loc": ["body", "title"], "msg": "String is not valid Unicode text", "type": "string_not_utf8"}


def test_importing_the_app_module_reads_and_connects_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "LEDGER_DATA_DIR": str(tmp_path / "data"), "LEDGER_RPC_URL": "http://127.0.0.1:9",
           "LEDGER_ENV": "production"}
    code = "import api.main as m; assert m.app.state.settings is None; print(len(m.app.routes))"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "data").exists()


def test_startup_without_a_deployment_record_fails_with_the_fix(tmp_path: Path) -> None:
    app = create_app(load_settings({}, data_dir=tmp_path))
    with pytest.raises(DeploymentNotFoundError, match="Deploy first"):
        with TestClient(app):
            pass


def test_staff_cli_issues_a_token_from_the_environment_key(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ledger.staff import StaffRegistry
    from scripts.admin import app as admin_app

    key = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
    done = CliRunner().invoke(
        admin_app, ["tokens", "issue", "--municipality-id", "2", "--keys-file", str(tmp_path / "keys.json")],
        env={"LEDGER_ACCOUNT_KEY": key, "LEDGER_DATA_DIR": str(tmp_path)},
    )
    assert done.exit_code == 0, done.stderr
    token = done.stdout.strip()
    assert StaffRegistry(tmp_path / "keys.json").authenticate(token).municipality_id == 2


def test_every_problem_type_of_a_contract_error_has_a_title() -> None:
    from api.problems import CONTRACT_ERRORS, CONTRACT_MESSAGES, TITLES

    assert {slug for _status, slug in CONTRACT_ERRORS.values()} <= set(TITLES)
    assert set(CONTRACT_ERRORS) <= set(CONTRACT_MESSAGES)
    assert CONTRACT_ERRORS["LedgerAssetAlreadyCounted"] == (409, "asset-already-counted")
    assert CONTRACT_ERRORS["LedgerNotConfirmer"] == (403, "forbidden")
    assert CONTRACT_ERRORS["LedgerSelfConfirmation"] == (403, "self-confirmation")
    assert CONTRACT_ERRORS["LedgerVerdictUnchanged"] == (409, "verdict-unchanged")
    assert CONTRACT_ERRORS["LedgerInvalidNonce"] == (409, "invalid-nonce")
    assert (CONTRACT_ERRORS["LedgerSignatureExpired"], CONTRACT_ERRORS["LedgerInvalidSignature"]) == (
        (422, "signature-expired"), (422, "invalid-signature"))
