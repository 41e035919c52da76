"""The importer's client of the write outbox (issue 7), against `httpx.MockTransport`: 201
from an API without the outbox, 201 with ``write`` within ``Prefer: wait``, 202 then polls
until confirmed, a write failed later or within the wait, 422 for a reused key, 429 with
``Retry-After``, an unreachable API with retries bounded in time, and the count of failures in
a row that ends a run. A fake clock advances with the client's sleeps: no real waiting."""

from __future__ import annotations

import json
from email.utils import formatdate

import httpx
import pytest

from scripts.importer.client import LedgerClient, RetryNotice, _next_key
from scripts.importer.errors import (
    ApiProblemError,
    ApiUnreachableError,
    ConsecutiveFailuresError,
    WriteTimeoutError,
    is_service_failure,
)

PAYLOAD = {"external_ref": "financien-001", "title": "Sluitende begroting", "target_quantity": "1"}
RESULT = {"commitment_id": 7, "tx": {"tx_hash": "0x" + "ab" * 32, "block_number": 12, "gas_used": 90_000}}


class Clock:
    """Monotonic seconds that only move when the client sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def write(state, **extra):
    return {"id": "w1", "kind": "register_commitment", "state": state, "idempotency_key": "k", "account": "0x" + "11" * 20,
            "municipality_id": 1, "tx_hash": None, "nonce": None, "block_number": None, "confirmations": 0,
            "confirmations_required": 2, "attempts": 1, "created_at": 1_700_000_000, "created_at_iso": "2023-11-14T22:13:20Z",
            "updated_at": 1_700_000_000, "updated_at_iso": "2023-11-14T22:13:20Z", **extra}


def problem(status, slug, detail, **extra):
    return httpx.Response(status, json={"type": f"/problems/{slug}", "title": slug, "status": status, "detail": detail, **extra},
                          headers={"content-type": "application/problem+json"})


def client_for(answers, clock=None, seen=None, **kwargs):
    """A client whose requests get ``answers`` in order (a callable answer is called with the
    request); ``seen`` collects the requests."""
    answers = list(answers)
    clock = clock or Clock()

    def handler(request):
        if seen is not None:
            seen.append(request)
        answer = answers.pop(0)
        return answer(request) if callable(answer) else answer

    kwargs.setdefault("idempotency_namespace", "GM0308")
    return LedgerClient("http://ledger.test", "tok", transport=httpx.MockTransport(handler), sleep=clock.sleep, clock=clock,
                        **kwargs)


def test_an_api_without_the_outbox_answers_201_and_the_body_is_returned_as_before():
    seen = []
    client = client_for([httpx.Response(201, json=RESULT)], seen=seen)
    assert client.register_commitment(PAYLOAD) == RESULT
    (request,) = seen
    assert request.headers["prefer"] == "wait=10"
    assert request.headers["idempotency-key"].startswith("importer-")
    assert len(request.headers["idempotency-key"]) == len("importer-") + 40


def test_201_within_the_wait_returns_the_old_body_with_its_write():
    confirmed = write("confirmed", result=RESULT, tx_hash=RESULT["tx"]["tx_hash"], confirmations=2)
    client = client_for([httpx.Response(201, json={**RESULT, "write": confirmed}, headers={"Preference-Applied": "wait=10"})])
    answer = client.register_commitment(PAYLOAD)
    assert answer["commitment_id"] == 7 and answer["write"]["state"] == "confirmed"


def test_202_is_polled_at_its_location_with_backoff_until_confirmed():
    clock, seen = Clock(), []
    answers = [
        httpx.Response(202, json={"write": write("queued")}, headers={"Location": "/api/v1/staff/writes/w1"}),
        httpx.Response(200, json={"write": write("sent", tx_hash="0x" + "ab" * 32)}),
        httpx.Response(200, json=write("mined", block_number=12, confirmations=1)),  # a bare Write is read too
        httpx.Response(200, json={"write": write("confirmed", result=RESULT, confirmations=2)}),
    ]
    client = client_for(answers, clock, seen)
    answer = client.register_commitment(PAYLOAD)
    assert answer["commitment_id"] == 7 and answer["tx"] == RESULT["tx"] and answer["write"]["id"] == "w1"
    assert [(r.method, r.url.path) for r in seen] == [("POST", "/api/v1/staff/commitments")] + [("GET", "/api/v1/staff/writes/w1")] * 3
    assert clock.waits == [0.5, 1.0, 2.0]
    assert client.consecutive_failures == 0


def test_a_poll_honours_retry_after():
    clock = Clock()
    answers = [
        httpx.Response(202, json={"write": write("queued")}, headers={"Location": "/api/v1/staff/writes/w1", "Retry-After": "3"}),
        httpx.Response(200, json={"write": write("confirmed", result=RESULT)}),
    ]
    client_for(answers, clock).register_commitment(PAYLOAD)
    assert clock.waits == [3.0]


def test_a_write_failed_after_202_raises_its_problem_with_the_write_id():
    failed = write("failed", problem={"type": "/problems/contract-rejected", "title": "Contract rejected", "status": 422,
                                      "detail": "LedgerTextTooLong: title"})
    client = client_for([httpx.Response(202, json={"write": write("queued")}, headers={"Location": "/api/v1/staff/writes/w1"}),
                         httpx.Response(200, json={"write": failed})])
    with pytest.raises(ApiProblemError) as info:
        client.register_commitment(PAYLOAD)
    assert (info.value.status, info.value.slug, info.value.detail) == (422, "contract-rejected", "LedgerTextTooLong: title")
    assert info.value.extension("write_id") == "w1"
    assert not is_service_failure(info.value)


NOW = 1_800_000_000  # the server's clock in the answers' Date header
DATE = {"Date": formatdate(NOW, usegmt=True)}
FAILED = {"type": "/problems/contract-rejected", "title": "Contract rejected", "status": 422, "detail": "LedgerPaused"}


def test_a_write_failed_within_the_wait_answers_its_problem_with_write_id():
    failed_now = problem(422, "contract-rejected", "LedgerPaused", write_id="w9")
    failed_now.headers.update(DATE)
    seen = []
    client = client_for([failed_now, httpx.Response(200, json=write("failed", id="w9", created_at=NOW, problem=FAILED))], seen=seen)
    with pytest.raises(ApiProblemError) as info:
        client.register_commitment(PAYLOAD)
    assert (info.value.status, info.value.slug, info.value.extension("write_id")) == (422, "contract-rejected", "w9")
    assert [(r.method, r.url.path) for r in seen] == [("POST", "/api/v1/staff/commitments"), ("GET", "/api/v1/staff/writes/w9")]


def test_a_key_naming_a_write_an_earlier_run_sent_answers_it_as_replayed():
    earlier = write("confirmed", created_at=NOW - 3600, result=RESULT)
    client = client_for([httpx.Response(201, json={**RESULT, "write": earlier}, headers=DATE)])
    assert client.register_commitment(PAYLOAD)["replayed"] is True
    fresh = write("confirmed", created_at=NOW - 1, result=RESULT)
    client = client_for([httpx.Response(201, json={**RESULT, "write": fresh}, headers=DATE)])
    assert client.register_commitment(PAYLOAD)["replayed"] is False


def test_a_key_naming_a_failed_write_of_an_earlier_run_sends_the_write_again_under_a_derived_key():
    old_failure = problem(422, "contract-rejected", "LedgerPaused", write_id="w1")
    old_failure.headers.update(DATE)
    seen = []
    answers = [old_failure, httpx.Response(200, json=write("failed", created_at=NOW - 3600, problem=FAILED)),
               httpx.Response(201, json={**RESULT, "write": write("confirmed", id="w2", created_at=NOW, result=RESULT)}, headers=DATE)]
    client = client_for(answers, seen=seen)
    answer = client.register_commitment(PAYLOAD)
    assert (answer["commitment_id"], answer["write"]["id"], answer["replayed"]) == (7, "w2", False)
    first, _get, second = seen
    assert second.headers["idempotency-key"] == _next_key(first.headers["idempotency-key"], "w1") != first.headers["idempotency-key"]


def test_a_reused_key_is_a_refusal_of_the_request_not_retried():
    seen = []
    client = client_for([problem(422, "idempotency-key-reused", "another request used this key")], seen=seen,
                        max_consecutive_failures=1)
    with pytest.raises(ApiProblemError) as info:
        client.register_commitment(PAYLOAD)
    assert (info.value.status, info.value.slug) == (422, "idempotency-key-reused")
    assert len(seen) == 1 and client.consecutive_failures == 0


def test_a_write_neither_confirmed_nor_failed_in_time_raises_write_timeout():
    clock = Clock()
    queued = httpx.Response(202, json={"write": write("queued")}, headers={"Location": "/api/v1/staff/writes/w1"})
    client = client_for([queued] + [httpx.Response(200, json={"write": write("sent")})] * 20, clock, write_timeout_seconds=20)
    with pytest.raises(WriteTimeoutError) as info:
        client.register_commitment(PAYLOAD)
    assert (info.value.write_id, info.value.state) == ("w1", "sent")
    assert sum(clock.waits) == 20.0  # 0.5 + 1 + 2 + 4 + 5 + 5 + 2.5: the last wait cut to the timeout
    assert is_service_failure(info.value)


def test_429_waits_as_retry_after_says_and_each_retry_is_announced():
    clock, notices = Clock(), []
    limited = problem(429, "rate-limited", "slow down")
    limited.headers["Retry-After"] = "7"
    client = client_for([limited, limited, httpx.Response(201, json=RESULT)], clock, on_retry=notices.append)
    assert client.register_commitment(PAYLOAD) == RESULT
    assert clock.waits == [7.0, 7.0]
    assert [(n.attempt, n.wait_seconds, n.reason) for n in notices] == [(1, 7.0, "429 rate-limited"), (2, 7.0, "429 rate-limited")]
    assert notices[1].describe() == ("POST /api/v1/staff/commitments: 429 rate-limited; retry 3 in 7.0 s (7 s of 60 s used)")


def test_429_beyond_the_retry_budget_raises_the_problem():
    clock = Clock()
    limited = problem(429, "rate-limited", "slow down")
    limited.headers["Retry-After"] = "25"
    client = client_for([limited] * 10, clock, max_attempts=100)
    with pytest.raises(ApiProblemError) as info:
        client.register_commitment(PAYLOAD)
    assert info.value.status == 429 and is_service_failure(info.value)
    assert clock.waits == [25.0, 25.0]  # a third wait would pass 60 s


def test_an_unreachable_api_is_retried_for_at_most_max_retry_seconds():
    clock, notices, seen = Clock(), [], []

    def refuse(request):
        raise httpx.ConnectError("connection refused")

    client = client_for([refuse] * 100, clock, seen, max_attempts=100, on_retry=notices.append)
    with pytest.raises(ApiUnreachableError):
        client.health()
    assert clock.waits == [1.0, 2.0, 4.0, 8.0, 16.0]  # then 30 more would pass 60 s
    assert len(seen) == 6 and len(notices) == 5
    assert notices[0].reason == "ConnectError: connection refused"


def test_failures_in_a_row_end_the_run_and_any_answer_resets_the_count():
    def refuse(request):
        raise httpx.ConnectError("connection refused")

    answers = [refuse, problem(404, "not-found", "no such commitment"), refuse, refuse, refuse]
    client = client_for(answers, max_attempts=1, max_consecutive_failures=3)
    with pytest.raises(ApiUnreachableError):
        client.health()
    assert client.consecutive_failures == 1
    with pytest.raises(ApiProblemError):
        client.commitment(1)  # the API answered: not a failure in a row
    assert client.consecutive_failures == 0
    for _ in range(2):
        with pytest.raises(ApiUnreachableError):
            client.health()
    with pytest.raises(ConsecutiveFailuresError) as info:
        client.health()
    assert info.value.count == 3 and isinstance(info.value.last, ApiUnreachableError)
    assert not isinstance(info.value, ApiUnreachableError)  # the applier does not take it for one row's failure


def test_5xx_after_the_retries_counts_as_a_failure_in_a_row():
    down = problem(503, "chain-unavailable", "node down")
    client = client_for([down] * 4, max_attempts=2, max_consecutive_failures=2)
    with pytest.raises(ApiProblemError):
        client.register_commitment(PAYLOAD)
    with pytest.raises(ConsecutiveFailuresError) as info:
        client.register_commitment(PAYLOAD)
    assert info.value.last.status == 503


def test_the_idempotency_key_is_the_same_for_the_same_request_on_every_run_and_differs_otherwise():
    def keys(namespace, payload, files=None):
        seen = []
        client = client_for([httpx.Response(201, json=RESULT)], seen=seen, idempotency_namespace=namespace)
        if files is None:
            client.register_commitment(payload)
        else:
            client.record_deliveries([payload], files)
        return seen[0].headers["idempotency-key"]

    first = keys("GM0308", PAYLOAD)
    assert keys("GM0308", json.loads(json.dumps(PAYLOAD))) == first  # another client, another run
    assert keys("GM0308", dict(reversed(list(PAYLOAD.items())))) == first  # member order does not matter
    assert keys("GM0308", {**PAYLOAD, "title": "Een andere titel"}) != first
    assert keys("CL-GOB", PAYLOAD) != first

    from scripts.importer.plan import EvidenceFile
    doc = EvidenceFile("a.json", "application/json", b'{"a": 1}')
    other = EvidenceFile("a.json", "application/json", b'{"a": 2}')
    assert keys("GM0308", PAYLOAD, [doc]) == keys("GM0308", PAYLOAD, [doc])
    assert keys("GM0308", PAYLOAD, [doc]) != keys("GM0308", PAYLOAD, [other])


def test_no_prefer_header_with_a_zero_wait():
    seen = []
    client_for([httpx.Response(201, json=RESULT)], seen=seen, write_wait_seconds=0).register_commitment(PAYLOAD)
    assert "prefer" not in seen[0].headers and "idempotency-key" in seen[0].headers


def test_a_retry_notice_without_a_budget_says_so():
    notice = RetryNotice("GET", "/api/v1/health", 1, 2.0, "503 ledger-paused", 1.0, None)
    assert notice.describe() == "GET /api/v1/health: 503 ledger-paused; retry 2 in 2.0 s"
