"""Rate limits (api.edges, ``limits`` moving windows): staff writes per token, document checks
per client, failed authentications per client; each at exactly its limit, with this process's
memory and with Redis (127.0.0.1:6379) shared by two app instances, as two API processes."""

from __future__ import annotations

import itertools
import random
import warnings
from typing import Any, Iterator

import pytest
from prometheus_client import REGISTRY

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from api.main import create_app
from ledger.settings import Settings
from tests.api.helpers import Tokens, assert_problem

REDIS_URL = "redis://127.0.0.1:6379"
WRITES, CHECKS, FAILURES = 3, 4, 2
HASH = "ab" * 32
_hosts = itertools.count(1)
_run = random.randrange(1, 250)


def fresh_ip() -> str:
    """A client address no other test (nor an earlier run within the window) has used."""
    serial = next(_hosts)
    return f"10.{_run}.{serial // 250}.{serial % 250 + 1}"


@pytest.fixture(scope="module", params=["memory", "redis"])
def limited(request: pytest.FixtureRequest, api_settings: Settings) -> Settings:
    storage = REDIS_URL if request.param == "redis" else ""
    return api_settings.model_copy(update={
        "rate_limit_storage_url": storage,
        "staff_write_rate_limit": f"{WRITES}/minute",
        "document_check_rate_limit": f"{CHECKS} per 1 minute",
        "failed_auth_rate_limit": f"{FAILURES}/minute",
    })


@pytest.fixture()
def limited_client(limited: Settings, tokens: Tokens) -> Iterator[TestClient]:
    with TestClient(create_app(limited), client=(fresh_ip(), 40000)) as test_client:
        yield test_client


def assert_rate_limited(response: Any, name: str, limit: int) -> None:
    body = assert_problem(response, 429, "rate-limited")
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    assert body["retry_after_seconds"] == retry_after
    assert (body["rate_limit"], body["limit_requests"], body["window_seconds"]) == (name, limit, 60)


def test_staff_writes_per_token(limited_client: TestClient, api_settings: Settings, roles: Any) -> None:
    client = limited_client
    from ledger.staff import issue_token

    token = issue_token(api_settings.staff_keys_file, 1, roles.registrar.key)  # this test's own
    other = issue_token(api_settings.staff_keys_file, 1, roles.registrar.key)
    for _ in range(WRITES):  # invalid bodies still count as writes
        assert client.post("/api/v1/staff/commitments", json={}, headers=Tokens.header(token)).status_code == 422
    assert_rate_limited(client.post("/api/v1/staff/commitments", json={}, headers=Tokens.header(token)), "staff_write", WRITES)
    assert client.get("/api/v1/staff/me", headers=Tokens.header(token)).status_code == 200  # reads are not writes
    assert client.post("/api/v1/staff/commitments", json={}, headers=Tokens.header(other)).status_code == 422


def test_document_checks_per_client(limited_client: TestClient, limited: Settings, tokens: Tokens) -> None:
    client = limited_client
    for n in range(CHECKS):
        response = client.get(f"/api/v1/verify/0x{HASH}") if n % 2 else client.post("/api/v1/verify", files={"file": ("a.txt", b"x")})
        assert response.status_code == 200, response.text
    assert_rate_limited(client.get(f"/api/v1/verify/0x{HASH}"), "document_check", CHECKS)
    assert client.get("/api/v1/health").status_code == 200
    with TestClient(create_app(limited), client=(fresh_ip(), 40000)) as neighbour:
        assert neighbour.get(f"/api/v1/verify/0x{HASH}").status_code == 200


def test_failed_authentications_then_every_staff_request_of_the_client(limited_client: TestClient, tokens: Tokens) -> None:
    client = limited_client
    refused_before = REGISTRY.get_sample_value("ledger_rate_limit_refusals_total", {"limit": "failed_auth"}) or 0
    for _ in range(FAILURES):
        assert_problem(client.get("/api/v1/staff/me", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
    assert_rate_limited(client.get("/api/v1/staff/me", headers=Tokens.header(tokens.baarn)), "failed_auth", FAILURES)
    assert_rate_limited(client.post("/api/v1/staff/commitments", json={}), "failed_auth", FAILURES)
    assert REGISTRY.get_sample_value("ledger_rate_limit_refusals_total", {"limit": "failed_auth"}) == refused_before + 2
    assert client.get("/api/v1/municipalities").status_code == 200  # public reads go on


def test_the_client_is_the_peer_unless_a_trusted_proxy_names_it(limited: Settings, tokens: Tokens) -> None:
    proxy = fresh_ip()
    trusted = limited.model_copy(update={"forwarded_allow_ips": proxy})
    spoofed = {"X-Forwarded-For": fresh_ip()}
    with TestClient(create_app(limited), client=(proxy, 40000)) as direct:  # not trusted: X-Forwarded-For ignored
        for _ in range(CHECKS):
            assert direct.get(f"/api/v1/verify/0x{HASH}", headers={"X-Forwarded-For": fresh_ip()}).status_code == 200
        assert_rate_limited(direct.get(f"/api/v1/verify/0x{HASH}", headers=spoofed), "document_check", CHECKS)
    with TestClient(create_app(trusted), client=(proxy, 40000)) as behind:  # the proxy's peer is out of checks...
        reader = fresh_ip()
        for _ in range(CHECKS):  # ...but each reader behind it has its own count
            assert behind.get(f"/api/v1/verify/0x{HASH}", headers={"X-Forwarded-For": f"{fresh_ip()}, {reader}"}).status_code == 200
        assert_rate_limited(behind.get(f"/api/v1/verify/0x{HASH}", headers={"X-Forwarded-For": reader}), "document_check", CHECKS)
        assert behind.get(f"/api/v1/verify/0x{HASH}", headers={"X-Forwarded-For": fresh_ip()}).status_code == 200


def test_redis_counters_are_shared_by_processes(limited: Settings, tokens: Tokens) -> None:
    if not limited.rate_limit_storage_url:
        pytest.skip("memory counters belong to one process")
    address = fresh_ip()
    with TestClient(create_app(limited), client=(address, 1)) as one, TestClient(create_app(limited), client=(address, 2)) as two:
        for n in range(CHECKS):
            assert (one if n % 2 else two).get(f"/api/v1/verify/0x{HASH}").status_code == 200
        assert_rate_limited(one.get(f"/api/v1/verify/0x{HASH}"), "document_check", CHECKS)
        assert_rate_limited(two.get(f"/api/v1/verify/0x{HASH}"), "document_check", CHECKS)


def test_off_locally_by_default(api_settings: Settings, tokens: Tokens) -> None:
    assert (api_settings.staff_write_rate_limit, api_settings.failed_auth_rate_limit) == ("off", "off")
    with TestClient(create_app(api_settings), client=(fresh_ip(), 40000)) as client:
        for _ in range(3 * FAILURES + 5):
            assert client.get("/api/v1/staff/me", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/api/v1/staff/me", headers=Tokens.header(tokens.baarn)).status_code == 200
        for _ in range(3 * CHECKS):
            assert client.get(f"/api/v1/verify/0x{HASH}").status_code == 200


def test_an_unreachable_counter_store_lets_requests_through(api_settings: Settings, tokens: Tokens, caplog: pytest.LogCaptureFixture) -> None:
    down = api_settings.model_copy(update={"rate_limit_storage_url": "redis://127.0.0.1:1", "document_check_rate_limit": "1/minute"})
    with TestClient(create_app(down), client=(fresh_ip(), 40000)) as client:
        for _ in range(3):
            assert client.get(f"/api/v1/verify/0x{HASH}").status_code == 200
    assert any("counter store failed" in r.getMessage() for r in caplog.records if r.name == "api")
