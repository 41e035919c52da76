"""The applier against an in-memory fake of the API (conftest.FakeLedgerApi): idempotent
re-runs, 409 answers counted as done, failures per row, preconditions."""

from __future__ import annotations

import csv
import hashlib

import httpx
import pytest

from scripts.importer import (
    ApiProblemError,
    IndexerLagError,
    MunicipalityMismatchError,
    Plan,
)
from scripts.importer.apply import apply_plan, check_municipality, find_municipality, wait_until_indexed
from scripts.importer.client import LedgerClient
from scripts.importer.state import LedgerState, read_state

CHILE = 2


def client_for(fake, token="tok-chile", **kwargs) -> LedgerClient:
    return LedgerClient("http://ledger.test", token, transport=fake.transport(), sleep=lambda _s: None, **kwargs)


def run(plan, fake, *, dry_run=False, token="tok-chile", state=None):
    client = client_for(fake, token)
    municipality = check_municipality(client, plan.mapping.municipality)
    if state is None:
        wanted = {op.commitment_ref for op in (*plan.deliveries, *plan.revocations)}
        state = read_state(client, municipality["id"], with_deliveries=wanted)
    return apply_plan(plan, client, state, dry_run=dry_run)


def outcomes(result, plan):
    return {kind: {k: v for k, v in counts.items() if v} for kind, counts in result.counts(plan).items()}


def progress_2024(chile_csvs):
    with chile_csvs[2024].open(encoding="utf-8", newline="") as handle:
        return {r["uid"]: int(r["avance_total"].rstrip("%")) for r in csv.DictReader(handle) if r["uid"]}


def test_first_run_writes_everything_and_the_ledger_shows_the_2024_progress(chile_plan, fake_api, chile_csvs):
    result = run(chile_plan, fake_api)
    assert outcomes(result, chile_plan) == {
        "commitments": {"done": 216}, "deliveries": {"done": 170}, "revocations": {"done": 9},
    }
    assert result.failed == []
    assert fake_api.counted_sums(CHILE) == progress_2024(chile_csvs)
    assert len(fake_api.evidence) == 170
    for op in chile_plan.deliveries:
        (evidence,) = op.evidence_files
        assert fake_api.evidence[evidence.sha256] == evidence.content
        assert evidence.sha256 == "0x" + hashlib.sha256(evidence.content).hexdigest()


def test_second_run_writes_nothing(chile_plan, fake_api):
    run(chile_plan, fake_api)
    writes = len(fake_api.writes)
    again = run(chile_plan, fake_api)
    assert outcomes(again, chile_plan) == {
        "commitments": {"already_present": 216}, "deliveries": {"already_present": 170},
        "revocations": {"already_present": 9},
    }
    assert len(fake_api.writes) == writes


def test_an_interrupted_run_resumes_where_it_stopped(chile_plan, fake_api, chile_csvs):
    half = Plan(chile_plan.mapping, chile_plan.operations[:200], chile_plan.report)
    run(half, fake_api)
    rest = run(chile_plan, fake_api)
    counts = rest.counts(chile_plan)
    assert sum(c["already_present"] for c in counts.values()) == 200
    assert sum(c["done"] for c in counts.values()) == len(chile_plan.operations) - 200
    assert fake_api.counted_sums(CHILE) == progress_2024(chile_csvs)


def test_a_stale_state_is_safe_because_409_counts_as_already_done(chile_plan, fake_api):
    run(chile_plan, fake_api)
    writes = len(fake_api.writes)
    stale = run(chile_plan, fake_api, state=LedgerState.empty(CHILE))
    assert outcomes(stale, chile_plan) == {
        "commitments": {"already_present": 216}, "deliveries": {"already_present": 170},
        "revocations": {"already_present": 9},
    }
    # Every operation was attempted and answered 409; nothing new was written.
    assert len(fake_api.writes) == 2 * writes
    assert len(fake_api.deliveries) == 170


def test_a_refused_commitment_is_reported_with_the_problem_and_blocks_only_its_own_deliveries(chile_plan, fake_api):
    fake_api.reject["8"] = (422, "contract-rejected", "LedgerTextTooLong: title")
    result = run(chile_plan, fake_api)
    by_index = result.by_index()
    (register_8,) = [i for i, op in enumerate(chile_plan.operations) if getattr(op, "title", None) and op.external_ref == "8"]
    failed = by_index[register_8]
    assert failed.outcome == "failed"
    assert failed.detail == "422 contract-rejected: LedgerTextTooLong: title"
    assert failed.problem["type"] == "/problems/contract-rejected"
    blocked = [r for r in result.results if r.outcome == "blocked"]
    assert {chile_plan.operations[r.index].commitment_ref for r in blocked} == {"8"}
    assert len(blocked) == sum(1 for d in chile_plan.deliveries if d.commitment_ref == "8")
    counts = result.counts(chile_plan)
    assert counts["commitments"]["done"] == 215
    assert counts["revocations"]["done"] == 9


def test_a_refused_delivery_blocks_the_revocation_that_needs_it(chile_plan, fake_api):
    fake_api.reject["132/snapshot-2022"] = (503, "chain-unavailable", "node down")
    result = run(chile_plan, fake_api)
    failed = [(chile_plan.operations[r.index].describe(), r.outcome) for r in result.failed]
    assert failed == [
        ("record delivery 'snapshot-2022' of 70 on commitment '132'", "failed"),
        ("revoke delivery 'snapshot-2022' (70) of commitment '132'", "blocked"),
    ]


def test_a_token_of_another_municipality_is_refused(chile_plan, fake_api):
    with pytest.raises(MunicipalityMismatchError) as info:
        check_municipality(client_for(fake_api, "tok-baarn"), chile_plan.mapping.municipality)
    assert (info.value.expected_code, info.value.token_code) == ("CL-GOB", "GM0308")
    assert fake_api.writes == []


def test_an_unknown_token_is_a_problem(chile_plan, fake_api):
    with pytest.raises(ApiProblemError) as info:
        check_municipality(client_for(fake_api, "nope"), chile_plan.mapping.municipality)
    assert (info.value.status, info.value.slug) == (401, "unauthorized")


def test_the_municipality_can_be_found_by_code_without_a_token(baarn_plan, fake_api):
    assert find_municipality(client_for(fake_api, None), baarn_plan.mapping.municipality)["id"] == 1


def test_dry_run_writes_nothing_and_counts_what_it_would_write(chile_plan, fake_api):
    result = run(chile_plan, fake_api, dry_run=True)
    assert outcomes(result, chile_plan) == {
        "commitments": {"would_do": 216}, "deliveries": {"would_do": 170}, "revocations": {"would_do": 9},
    }
    assert fake_api.writes == []


def test_dry_run_after_a_partial_run_counts_only_the_missing_operations(chile_plan, fake_api):
    run(Plan(chile_plan.mapping, chile_plan.operations[:200], chile_plan.report), fake_api)
    writes = len(fake_api.writes)
    result = run(chile_plan, fake_api, dry_run=True)
    counts = result.counts(chile_plan)
    assert sum(c["would_do"] for c in counts.values()) == len(chile_plan.operations) - 200
    assert len(fake_api.writes) == writes


def test_dry_run_without_any_ledger_state_would_do_everything(chile_plan):
    result = apply_plan(chile_plan, None, None, dry_run=True)
    assert {r.outcome for r in result.results} == {"would_do"}


def test_existing_commitments_that_differ_are_warned_about_not_amended(baarn_plan, fake_api):
    client = client_for(fake_api, "tok-baarn")
    apply_plan(baarn_plan, client, read_state(client, 1), dry_run=False)
    fake_api.commitments[1]["title"] = "Changed by hand"
    result = apply_plan(baarn_plan, client, read_state(client, 1), dry_run=False)
    first = result.results[0]
    assert first.outcome == "already_present"
    assert first.warnings == ("already registered with a different title; not amended",)


def test_read_state_pages_through_the_list(chile_plan, fake_api):
    run(chile_plan, fake_api)
    fake_api.requests.clear()
    state = read_state(client_for(fake_api), CHILE, with_deliveries={"132"})
    assert len(state.commitments) == 216
    assert sum(1 for m, p in fake_api.requests if p == "/api/v1/commitments") == 3  # 100 + 100 + 16
    assert state.commitments["132"].deliveries["snapshot-2022"].revoked is True
    assert state.commitments["1"].deliveries is None


def test_waits_until_the_indexer_reaches_the_head(fake_api):
    fake_api.indexed_block = 38
    polls = []

    def sleep(seconds):
        polls.append(seconds)
        fake_api.indexed_block += 1

    health = wait_until_indexed(client_for(fake_api), timeout_seconds=10, poll_interval_seconds=0.5,
                                clock=lambda: 0.5 * len(polls), sleep=sleep)
    assert health["indexed_block"] == 40
    assert polls == [0.5, 0.5]


def test_gives_up_when_the_indexer_stays_behind(fake_api):
    fake_api.indexed_block = 30
    ticks = iter(range(100))
    with pytest.raises(IndexerLagError) as info:
        wait_until_indexed(client_for(fake_api), timeout_seconds=3, poll_interval_seconds=1,
                           clock=lambda: float(next(ticks)), sleep=lambda _s: None)
    assert (info.value.indexed_block, info.value.head_block) == (30, 40)


def test_client_retries_rate_limits_and_honours_retry_after(fake_api):
    answers = [httpx.Response(429, json={"type": "/problems/rate-limited", "status": 429, "detail": "slow down"},
                              headers={"Retry-After": "2"})]
    waits = []

    def handler(request):
        return answers.pop() if answers else fake_api.handle(request)

    client = LedgerClient("http://ledger.test", transport=httpx.MockTransport(handler), sleep=waits.append)
    assert client.health()["indexed_block"] == 40
    assert waits == [2.0]


def test_client_gives_up_after_max_attempts_with_the_problem(fake_api):
    def handler(request):
        return httpx.Response(503, json={"type": "/problems/chain-unavailable", "status": 503, "detail": "node down"})

    client = LedgerClient("http://ledger.test", transport=httpx.MockTransport(handler), sleep=lambda _s: None, max_attempts=3)
    with pytest.raises(ApiProblemError) as info:
        client.health()
    assert (info.value.status, info.value.slug, info.value.detail) == (503, "chain-unavailable", "node down")
