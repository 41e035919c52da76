"""Edges of every response (api.edges): security headers, HSTS only over TLS, CORS off by
default and per audience when configured, gzip of problems and staff answers, the access log
(JSON lines without query strings), and ``/metrics`` for the allowed clients only."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import warnings
from typing import Any, Iterator

import pytest
from fastapi import FastAPI

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from api.deps import get_session_factory
from api.edges import HSTS
from api.logging_config import JsonFormatter
from api.main import create_app
from ledger.settings import Settings
from tests.api.helpers import PROBLEM, Tokens, assert_problem

SECURITY = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def assert_secure(response: Any, own_policy: str | None = None) -> None:
    for name, value in SECURITY.items():
        assert response.headers.get_list(name) == [value], (name, response.headers)
    if own_policy is None:
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    else:  # the route's own, kept as it is (X-Frame-Options: DENY forbids framing)
        assert response.headers.get_list("content-security-policy") == [own_policy]
    assert "strict-transport-security" not in response.headers


@pytest.fixture(scope="module")
def edge_client(app: FastAPI, tokens: Tokens) -> Iterator[TestClient]:
    with TestClient(app, client=("127.0.0.1", 50000)) as test_client:
        yield test_client


def _client(settings: Settings, **kwargs: Any) -> TestClient:
    return TestClient(create_app(settings), **kwargs)


def test_json_problem_staff_and_page_carry_the_security_headers(edge_client: TestClient, tokens: Tokens) -> None:
    reads = edge_client.get("/api/v1/municipalities")
    assert reads.status_code == 200
    assert_secure(reads)
    assert "no-store" not in reads.headers.get("cache-control", "")
    missing = edge_client.get("/api/v1/commitments/999999")
    assert_problem(missing, 404, "not-found")
    assert_secure(missing)
    me = edge_client.get("/api/v1/staff/me", headers=Tokens.header(tokens.baarn))
    assert me.status_code == 200
    assert_secure(me)
    assert me.headers["cache-control"] == "no-store"
    refused = edge_client.get("/api/v1/staff/me")
    assert_problem(refused, 401, "unauthorized")
    assert refused.headers["cache-control"] == "no-store"
    assert_secure(refused)
    page = edge_client.get("/")
    assert page.status_code == 200
    assert_secure(page)
    assert page.headers["content-security-policy"].startswith("default-src 'self'")  # the page's own, kept


def test_an_unexpected_500_carries_them_too(api_settings: Settings) -> None:
    def broken() -> Any:
        raise RuntimeError("database gone")

    app = create_app(api_settings)
    app.dependency_overrides[get_session_factory] = broken
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/municipalities")
    assert_problem(response, 500, "internal-error")
    assert_secure(response)
    assert response.headers["x-request-id"]


def test_hsts_only_over_tls_or_from_a_trusted_proxy(api_settings: Settings) -> None:
    with _client(api_settings, base_url="https://testserver") as client:
        assert client.get("/api/v1/health").headers["strict-transport-security"] == HSTS
    with _client(api_settings, client=("10.0.0.5", 1234)) as client:  # the proxy is not trusted
        response = client.get("/api/v1/health", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in response.headers
    trusted = api_settings.model_copy(update={"forwarded_allow_ips": "10.0.0.0/24"})
    with _client(trusted, client=("10.0.0.5", 1234)) as client:
        response = client.get("/api/v1/health", headers={"X-Forwarded-Proto": "https"})
        assert response.headers["strict-transport-security"] == HSTS
        assert "strict-transport-security" not in client.get("/api/v1/health").headers


def test_cors_is_off_by_default(edge_client: TestClient, tokens: Tokens) -> None:
    origin = {"Origin": "https://elsewhere.example"}
    assert "access-control-allow-origin" not in edge_client.get("/api/v1/health", headers=origin).headers
    preflight = edge_client.options(
        "/api/v1/staff/commitments",
        headers={**origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_reads_for_the_listed_origins_and_staff_only_when_listed(api_settings: Settings, tokens: Tokens) -> None:
    reader = "https://reader.example"
    office = "https://office.example"
    configured = api_settings.model_copy(update={"cors_origins": f"{reader}, https://other.example"})
    with _client(configured) as client:
        read = client.get("/api/v1/health", headers={"Origin": reader})
        assert read.headers["access-control-allow-origin"] == reader
        assert "access-control-allow-origin" not in client.get("/api/v1/health", headers={"Origin": office}).headers
        check = client.post("/api/v1/verify", headers={"Origin": reader}, files={"file": ("a.txt", b"x")})
        assert "access-control-allow-origin" not in check.headers  # GET and HEAD only
        staff = client.get("/api/v1/staff/me", headers={"Origin": reader, **Tokens.header(tokens.baarn)})
        assert "access-control-allow-origin" not in staff.headers
        preflight = client.options("/api/v1/health", headers={"Origin": reader, "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 400  # POST is not allowed cross-origin
    both = configured.model_copy(update={"cors_staff_origins": office})
    with _client(both) as client:
        preflight = client.options(
            "/api/v1/staff/commitments",
            headers={"Origin": office, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == office
        staff = client.get("/api/v1/staff/me", headers={"Origin": office, **Tokens.header(tokens.baarn)})
        assert staff.headers["access-control-allow-origin"] == office
        assert "access-control-allow-origin" not in client.get("/api/v1/staff/me", headers={"Origin": reader}).headers


def test_problems_and_staff_answers_are_gzipped(edge_client: TestClient, tokens: Tokens) -> None:
    accept = {"Accept-Encoding": "gzip"}
    big_problem = edge_client.post("/api/v1/staff/commitments", json={"title": "x" * 50}, headers={**accept, **Tokens.header(tokens.baarn)})
    assert big_problem.status_code == 422
    assert big_problem.headers["content-type"] == PROBLEM
    assert big_problem.headers["content-encoding"] == "gzip"
    assert big_problem.json()["type"] == "/problems/validation-error"  # httpx undid the gzip
    assert big_problem.headers["cache-control"] == "no-store"
    small = edge_client.get("/api/v1/health", headers=accept)
    assert len(small.content) < 500 and "content-encoding" not in small.headers


def test_the_access_log_is_one_json_object_without_the_query_string(edge_client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="api.access"):
        response = edge_client.get("/api/v1/commitments?token=s3cret&limit=1", headers={"X-Request-ID": "req-42"})
    assert response.headers["x-request-id"] == "req-42"
    records = [r for r in caplog.records if r.name == "api.access"]
    assert len(records) == 1
    line = JsonFormatter().format(records[0])
    assert "s3cret" not in line and "\n" not in line
    entry = json.loads(line)
    assert list(entry)[:4] == ["time", "level", "logger", "message"]
    assert entry["logger"] == "api.access" and entry["level"] == "INFO"
    assert {k: entry[k] for k in ("method", "path", "status", "client", "request_id")} == {
        "method": "GET", "path": "/api/v1/commitments", "status": 200, "client": "127.0.0.1", "request_id": "req-42",
    }
    assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0
    assert entry["message"].startswith("GET /api/v1/commitments 200 ")


def test_a_request_id_that_is_not_an_id_is_replaced(edge_client: TestClient) -> None:
    response = edge_client.get("/api/v1/health", headers={"X-Request-ID": "two words"})
    assert response.headers["x-request-id"] != "two words"
    assert len(response.headers["x-request-id"]) == 32


def _sample(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    return None


def test_metrics_count_requests_by_route_template(edge_client: TestClient, tokens: Tokens, index: Any) -> None:
    index()
    before = edge_client.get("/metrics").text
    edge_client.get("/api/v1/commitments/424242")
    edge_client.get("/api/v1/commitments/434343")
    edge_client.get("/no/such/path/at/all")
    edge_client.get("/api/v1/staff/me", headers={"Authorization": "Bearer nope"})
    edge_client.post("/api/v1/staff/commitments", json={}, headers=Tokens.header(tokens.baarn))
    response = edge_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text

    def delta(name: str, **labels: str) -> float:
        return (_sample(after, name, **labels) or 0) - (_sample(before, name, **labels) or 0)

    route = "/api/v1/commitments/{commitment_id}"
    assert delta("ledger_http_requests_total", method="GET", route=route, status="404") == 2
    assert delta("ledger_http_request_duration_seconds_count", method="GET", route=route) == 2
    assert delta("ledger_http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert delta("ledger_staff_auth_failures_total") == 1
    assert delta("ledger_staff_writes_total", kind="register_commitment", outcome="refused") == 1
    assert _sample(after, "ledger_index_lag_blocks") is not None
    assert _sample(after, "ledger_index_head_age_seconds") is not None
    if importlib.util.find_spec("ledger.db.outbox") is not None:  # the write outbox (H1)
        assert _sample(after, "ledger_outbox_writes", state="queued") is not None


def test_metrics_only_for_the_allowed_clients_and_not_in_the_schema(api_settings: Settings, edge_client: TestClient) -> None:
    with _client(api_settings, client=("192.0.2.7", 1234)) as outsider:
        assert_problem(outsider.get("/metrics"), 404, "not-found")
    opened = api_settings.model_copy(update={"metrics_allow_ips": "192.0.2.0/24"})
    with _client(opened, client=("192.0.2.7", 1234)) as monitor:
        assert monitor.get("/metrics").status_code == 200
    assert "/metrics" not in edge_client.get("/openapi.json").json()["paths"]



def test_behind_a_root_path_the_staff_gate_still_applies(api_settings: Settings, tokens: Tokens) -> None:
    with _client(api_settings, root_path="/ledger") as client:
        refused = client.post("/ledger/api/v1/staff/commitments", content=b"x", headers={"Content-Type": "text/plain"})
        assert_problem(refused, 401, "unauthorized")  # the gate's answer: the route would say 415 first
        assert refused.headers["cache-control"] == "no-store"
        me = client.get("/ledger/api/v1/staff/me", headers=Tokens.header(tokens.baarn))
        assert me.status_code == 200 and me.headers["cache-control"] == "no-store"


def test_gzip_never_changes_an_evidence_files_bytes(edge_client: TestClient, tokens: Tokens, commitment: Any) -> None:
    """gzip is only a transfer encoding: a stored text file (compressible) comes back byte for
    byte, hashing to its name."""
    content = ("Opleveringsrapport fase 1: 60 woningen aan de Eemnesserweg. " * 40).encode()
    sha = hashlib.sha256(content).hexdigest()
    response = edge_client.post(
        f"/api/v1/staff/commitments/{commitment.id}/deliveries",
        data={"quantity": "1", "delivered_at": "1736938800"},
        files=[("evidence", ("rapport.txt", content, "text/plain"))],
        headers={**Tokens.header(tokens.baarn), "Prefer": "wait=30"},
    )
    assert response.status_code == 201, response.text
    stored = edge_client.get(f"/api/v1/evidence/0x{sha}", headers={"Accept-Encoding": "gzip"})
    assert stored.status_code == 200, stored.text
    assert stored.headers.get("content-encoding") == "gzip"  # smaller on the wire...
    assert stored.content == content and hashlib.sha256(stored.content).hexdigest() == sha  # ...the same bytes
    assert_secure(stored, own_policy="default-src 'none'; sandbox")


@pytest.mark.parametrize("path", ["/api/v1/health/live", "/api/v1/municipalities", "/api/v1/commitments?limit=2"])
def test_head_on_a_read_is_its_get_without_the_body(edge_client: TestClient, path: str) -> None:
    got = edge_client.get(path, headers={"Accept-Encoding": "identity"})
    head = edge_client.head(path, headers={"Accept-Encoding": "identity"})
    assert (head.status_code, got.status_code) == (200, 200)
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"] == "application/json"
    assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content))


def test_head_on_an_unknown_read_is_its_404_and_a_write_route_still_refuses_head(edge_client: TestClient) -> None:
    missing = edge_client.head("/api/v1/commitments/999999")
    assert missing.status_code == 404 and missing.content == b""
    assert missing.headers["content-type"] == "application/problem+json"
    refused = edge_client.head("/api/v1/staff/commitments")
    assert refused.status_code in (401, 405) and refused.content == b""


def test_metrics_answer_head_as_get_without_a_body(edge_client: TestClient) -> None:
    got = edge_client.get("/metrics")
    head = edge_client.head("/metrics")
    assert (head.status_code, head.content, head.headers["content-type"]) == (200, b"", got.headers["content-type"])
