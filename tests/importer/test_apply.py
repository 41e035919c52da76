"""The applier against an in-memory fake of the API (conftest.FakeLedgerApi): idempotent
re-runs, 409 answers counted as done, failures per row, preconditions."""

from __future__ import annotations

import csv
import hashlib
import json

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
from tests.importer.conftest import FakeLedgerApi, Killed

CHILE = 2


def client_for(fake, token="tok-chile", **kwargs) -> LedgerClient:
    return LedgerClient("http://ledger.test", token, transport=fake.transport(), sleep=lambda _s: None, **kwargs)


def run(plan, fake, *, dry_run=False, token="tok-chile", state=None, batch_size=100):
    client = client_for(fake, token)
    municipality = check_municipality(client, plan.mapping.municipality)
    if state is None:
        wanted = {op.commitment_ref for op in (*plan.deliveries, *plan.revocations)}
        state = read_state(client, municipality["id"], with_deliveries=wanted)
    return apply_plan(plan, client, state, dry_run=dry_run, batch_size=batch_size)


def outcomes(result, plan):
    return {kind: {k: v for k, v in counts.items() if v} for kind, counts in result.counts(plan).items()}


def progress_2024(chile_csvs):
    with chile_csvs[2024].open(encoding="utf-8", newline="") as handle:
        return {r["uid"]: int(r["avance_total"].rstrip("%")) for r in csv.DictReader(handle) if r["uid"]}


ALL_DONE = {"commitments": {"done": 216}, "deliveries": {"done": 170}, "revocations": {"done": 9}}
ALL_PRESENT = {"commitments": {"already_present": 216}, "deliveries": {"already_present": 170},
               "revocations": {"already_present": 9}}
REGISTER_BATCH, DELIVER_BATCH = "/api/v1/staff/commitments/batch", "/api/v1/staff/deliveries/batch"
# The Chile plan in transactions of at most 100: registrations 100 + 100 + 16; the deliveries
# wait in their batch until a revocation of a commitment with a waiting delivery sends them
# (132, then 188, whose 2023 delivery is still waiting when its revocations come), nine single
# revocations, the last 9 deliveries at the end.
CHILE_TRANSACTIONS = [
    (REGISTER_BATCH, 100), (REGISTER_BATCH, 100), (REGISTER_BATCH, 16), (DELIVER_BATCH, 97),
    ("/api/v1/staff/deliveries/132000001/revocation", 1), ("/api/v1/staff/deliveries/158000001/revocation", 1),
    (DELIVER_BATCH, 64),
    ("/api/v1/staff/deliveries/188000002/revocation", 1), ("/api/v1/staff/deliveries/188000001/revocation", 1),
    ("/api/v1/staff/deliveries/191000002/revocation", 1), ("/api/v1/staff/deliveries/195000002/revocation", 1),
    ("/api/v1/staff/deliveries/195000001/revocation", 1), ("/api/v1/staff/deliveries/196000002/revocation", 1),
    ("/api/v1/staff/deliveries/196000001/revocation", 1),
    (DELIVER_BATCH, 9),
]


def test_first_run_writes_everything_in_15_transactions_and_the_ledger_shows_the_2024_progress(chile_per_delivery_plan, fake_api, chile_csvs):
    result = run(chile_per_delivery_plan, fake_api)
    assert outcomes(result, chile_per_delivery_plan) == ALL_DONE
    assert result.failed == []
    assert fake_api.counted_sums(CHILE) == progress_2024(chile_csvs)
    assert fake_api.transactions == CHILE_TRANSACTIONS
    assert len(result.transactions()) == 15
    assert sum(tx.operations for tx in result.transactions()) == 395


def test_a_batched_import_stores_every_evidence_file_as_batch_size_1_does(chile_per_delivery_plan, fake_api):
    result = run(chile_per_delivery_plan, fake_api)
    assert outcomes(result, chile_per_delivery_plan) == ALL_DONE
    by_index = result.by_index()
    for index, op in enumerate(chile_per_delivery_plan.operations):
        if op in chile_per_delivery_plan.deliveries:
            (evidence,) = op.evidence_files
            recorded = fake_api.deliveries[by_index[index].ledger_id]["evidence"]
            assert recorded == [{"sha256": "0x" + hashlib.sha256(evidence.content).hexdigest(), "stored": True}]
            assert fake_api.evidence[evidence.sha256] == evidence.content
    assert len(fake_api.evidence) == 170
    single = FakeLedgerApi()
    run(chile_per_delivery_plan, single, batch_size=1)
    assert fake_api.evidence == single.evidence


def test_each_delivery_batch_carries_the_files_of_its_own_deliveries_and_names_its_transaction(chile_per_delivery_plan, fake_api):
    sent: list[tuple[int, int]] = []  # (items, files) of every delivery batch request
    handle = fake_api.handle

    def recording(request):
        if request.url.path == DELIVER_BATCH:
            form = fake_api.form(request)
            sent.append((len(json.loads(form["deliveries"][0])), len(form.get("evidence", []))))
        return handle(request)

    fake_api.handle = recording
    result = run(chile_per_delivery_plan, fake_api)
    assert sent == [(n, n) for path, n in CHILE_TRANSACTIONS if path == DELIVER_BATCH]
    assert sum(files for _items, files in sent) == 170
    deliveries = {i for i, op in enumerate(chile_per_delivery_plan.operations) if op in chile_per_delivery_plan.deliveries}
    assert all(result.by_index()[i].tx is not None for i in deliveries)
    assert len({result.by_index()[i].tx.tx_hash for i in deliveries}) == len(sent)


def test_a_delivery_dropped_from_its_batch_takes_its_file_with_it(chile_per_delivery_plan, fake_api):
    fake_api.reject["132/snapshot-2022"] = (409, "duplicate-delivery-ref", "'snapshot-2022' is recorded")
    result = run(chile_per_delivery_plan, fake_api)
    (dropped,) = [op for op in chile_per_delivery_plan.deliveries if (op.commitment_ref, op.external_ref) == ("132", "snapshot-2022")]
    assert outcomes(result, chile_per_delivery_plan)["deliveries"] == {"done": 169, "already_present": 1}
    assert dropped.evidence_files[0].sha256 not in fake_api.evidence
    assert len(fake_api.evidence) == 169


def test_delivery_batches_are_cut_before_their_files_pass_the_byte_limit(chile_per_delivery_plan):
    from dataclasses import replace

    from scripts.importer.batches import chunks as _delivery_batches
    from scripts.importer.plan import EvidenceFile

    shared = EvidenceFile("gedeeld.txt", "text/plain", b"s" * 40)
    sizes = [30, 30, 50, 10, 100, 5]
    ops = [replace(op, evidence_files=(EvidenceFile(f"{i}.txt", "text/plain", bytes([65 + i]) * n),))
           for i, (op, n) in enumerate(zip(chile_per_delivery_plan.deliveries, sizes))]
    ops[3] = replace(ops[3], evidence_files=(*ops[3].evidence_files, shared))
    ops[5] = replace(ops[5], evidence_files=(*ops[5].evidence_files, shared))  # counted once in its batch
    ready = list(enumerate(ops))
    batch_ids = lambda batches: [[i for i, _op in batch] for batch in batches]  # noqa: E731
    # 30+30 | 50+10+40 | 100 (over the limit: alone) | 5+40
    assert batch_ids(_delivery_batches(ready, 100, 100)) == [[0, 1], [2, 3], [4], [5]]
    assert batch_ids(_delivery_batches(ready, 100, 1000)) == [[0, 1, 2, 3, 4, 5]]
    assert batch_ids(_delivery_batches(ready, 4, 1000)) == [[0, 1, 2, 3], [4, 5]]
    assert batch_ids(_delivery_batches(ready, 100, 1)) == [[0], [1], [2], [3], [4], [5]]


def test_batch_size_1_sends_single_calls_and_uploads_the_evidence_files(chile_per_delivery_plan, fake_api, chile_csvs):
    result = run(chile_per_delivery_plan, fake_api, batch_size=1)
    assert outcomes(result, chile_per_delivery_plan) == ALL_DONE
    assert len(fake_api.transactions) == 395
    assert {path for path, _n in fake_api.transactions} & {REGISTER_BATCH, DELIVER_BATCH} == set()
    assert {n for _path, n in fake_api.transactions} == {1}
    assert fake_api.counted_sums(CHILE) == progress_2024(chile_csvs)
    assert len(fake_api.evidence) == 170
    for op in chile_per_delivery_plan.deliveries:
        (evidence,) = op.evidence_files
        assert fake_api.evidence[evidence.sha256] == evidence.content


def test_every_written_operation_names_its_transaction(chile_per_delivery_plan, fake_api):
    result = run(chile_per_delivery_plan, fake_api)
    first_batch = fake_api.transactions[0]
    assert first_batch == (REGISTER_BATCH, 100)
    carried = [r for r in result.results if r.tx is not None and r.tx.tx_hash == "0x" + f"{1:064x}"]
    assert [chile_per_delivery_plan.operations[r.index].external_ref for r in carried] == [op.external_ref for op in chile_per_delivery_plan.commitments[:100]]
    assert {(r.tx.block_number, r.tx.gas_used, r.tx.operations) for r in carried} == {(41, 3_050_000, 100)}
    assert all(r.tx is not None for r in result.results)


def test_delivery_ids_name_their_commitment(chile_per_delivery_plan, fake_api):
    result = run(chile_per_delivery_plan, fake_api)
    by_index = result.by_index()
    commitment_ids = {op.external_ref: by_index[i].ledger_id for i, op in enumerate(chile_per_delivery_plan.operations) if op in chile_per_delivery_plan.commitments}
    for index, op in enumerate(chile_per_delivery_plan.operations):
        if op in chile_per_delivery_plan.deliveries:
            assert by_index[index].ledger_id // 1_000_000 == commitment_ids[op.commitment_ref]
            assert by_index[index].warnings == ()
    uid_191 = commitment_ids["191"]
    assert sorted(d["id"] for d in fake_api.deliveries.values() if d["commitment_id"] == uid_191) == [
        uid_191 * 1_000_000 + 1, uid_191 * 1_000_000 + 2,
    ]


def test_operations_of_one_commitment_keep_their_plan_order(chile_per_delivery_plan, fake_api):
    run(chile_per_delivery_plan, fake_api)
    # uid 188: delivered in 2022 and 2023, both revoked (newest first) in 2024.
    (c188,) = [c for c in fake_api.commitments.values() if c["external_ref"] == "188"]
    recorded = sorted((d["id"], d["external_ref"], d["revocation"] is not None) for d in fake_api.deliveries.values()
                      if d["commitment_id"] == c188["id"])
    assert recorded == [(c188["id"] * 1_000_000 + 1, "snapshot-2022", True), (c188["id"] * 1_000_000 + 2, "snapshot-2023", True)]
    revocations = [p for p, _n in fake_api.transactions if p.startswith(f"/api/v1/staff/deliveries/{c188['id']}")]
    assert revocations == [f"/api/v1/staff/deliveries/{c188['id']}000002/revocation", f"/api/v1/staff/deliveries/{c188['id']}000001/revocation"]


def test_second_run_writes_nothing(chile_per_delivery_plan, fake_api):
    run(chile_per_delivery_plan, fake_api)
    writes = len(fake_api.writes)
    again = run(chile_per_delivery_plan, fake_api)
    assert outcomes(again, chile_per_delivery_plan) == ALL_PRESENT
    assert len(fake_api.writes) == writes
    assert again.transactions() == []


def test_a_second_run_names_the_transaction_that_wrote_each_operation_earlier(chile_per_delivery_plan, fake_api):
    first = run(chile_per_delivery_plan, fake_api).by_index()
    again = run(chile_per_delivery_plan, fake_api)
    for result in again.results:
        written = first[result.index].tx
        assert (result.recorded_in.tx_hash, result.recorded_in.block_number) == (written.tx_hash, written.block_number)
        assert result.tx is None


def test_an_interrupted_run_resumes_where_it_stopped(chile_per_delivery_plan, fake_api, chile_csvs):
    half = Plan(chile_per_delivery_plan.mapping, chile_per_delivery_plan.operations[:200], chile_per_delivery_plan.report)
    run(half, fake_api)
    rest = run(chile_per_delivery_plan, fake_api)
    counts = rest.counts(chile_per_delivery_plan)
    assert sum(c["already_present"] for c in counts.values()) == 200
    assert sum(c["done"] for c in counts.values()) == len(chile_per_delivery_plan.operations) - 200
    assert fake_api.counted_sums(CHILE) == progress_2024(chile_csvs)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_run_killed_at_any_write_and_run_again_registers_nothing_twice_and_loses_nothing(chile_per_delivery_plan, chile_csvs, when):
    complete = FakeLedgerApi()
    run(chile_per_delivery_plan, complete)
    expected_refs = complete.delivery_refs()
    for kill_at in range(1, len(CHILE_TRANSACTIONS) + 1):
        fake = FakeLedgerApi()
        fake.kill_at = (kill_at, when)
        with pytest.raises(Killed):
            run(chile_per_delivery_plan, fake)
        fake.kill_at = None
        survived = len(fake.transactions)
        assert survived == (kill_at if when == "after" else kill_at - 1)
        again = run(chile_per_delivery_plan, fake)
        assert again.failed == []
        counts = again.counts(chile_per_delivery_plan)
        assert sum(c["done"] + c["already_present"] for c in counts.values()) == 395
        assert sorted(c["external_ref"] for c in fake.commitments.values()) == sorted(op.external_ref for op in chile_per_delivery_plan.commitments)
        assert fake.delivery_refs() == expected_refs
        assert fake.counted_sums(CHILE) == progress_2024(chile_csvs)
        assert sum(n for _p, n in fake.transactions) == 395


def test_a_stale_state_is_safe_because_each_409_drops_its_item_from_the_batch(chile_per_delivery_plan, fake_api):
    run(chile_per_delivery_plan, fake_api)
    writes = len(fake_api.writes)
    stale = run(chile_per_delivery_plan, fake_api, state=LedgerState.empty(CHILE))
    assert outcomes(stale, chile_per_delivery_plan) == ALL_PRESENT
    # Every batch is refused at index 0 (409) and sent again without that item: one request
    # per operation; nothing new is written.
    assert len(fake_api.writes) - writes == 395
    assert len(fake_api.transactions) == 15
    assert len(fake_api.deliveries) == 170
    first = stale.by_index()[0]
    assert (first.outcome, first.ledger_id, first.tx) == ("already_present", 1, None)


def test_a_duplicate_in_a_batch_is_reported_present_and_the_rest_is_sent_again(baarn_plan, fake_api):
    client = client_for(fake_api, "tok-baarn")
    state = read_state(client, 1)  # read before someone else registers the fifth agreement
    fifth = baarn_plan.commitments[4]
    fake_api.commitments[1] = {**fifth.payload(), "id": 1, "municipality_id": 1, "withdrawn": False}
    result = apply_plan(baarn_plan, client, state, dry_run=False)
    assert outcomes(result, baarn_plan) == {"commitments": {"done": 130, "already_present": 1}, "deliveries": {}, "revocations": {}}
    present = result.by_index()[4]
    assert (present.outcome, present.ledger_id, present.detail) == ("already_present", 1, f"{fifth.external_ref!r} is registered")
    assert fake_api.transactions == [(REGISTER_BATCH, 99), (REGISTER_BATCH, 31)]
    assert fake_api.writes == [("POST", REGISTER_BATCH)] * 3


def test_a_refused_commitment_is_reported_with_the_problem_and_blocks_only_its_own_deliveries(chile_per_delivery_plan, fake_api):
    fake_api.reject["8"] = (422, "contract-rejected", "LedgerTextTooLong: title")
    result = run(chile_per_delivery_plan, fake_api)
    by_index = result.by_index()
    (register_8,) = [i for i, op in enumerate(chile_per_delivery_plan.operations) if getattr(op, "title", None) and op.external_ref == "8"]
    failed = by_index[register_8]
    assert failed.outcome == "failed"
    assert failed.detail == "422 contract-rejected: LedgerTextTooLong: title"
    assert (failed.problem["type"], failed.problem["index"]) == ("/problems/contract-rejected", 7)
    blocked = [r for r in result.results if r.outcome == "blocked"]
    assert {chile_per_delivery_plan.operations[r.index].commitment_ref for r in blocked} == {"8"}
    assert len(blocked) == sum(1 for d in chile_per_delivery_plan.deliveries if d.commitment_ref == "8")
    counts = result.counts(chile_per_delivery_plan)
    assert counts["commitments"]["done"] == 215
    assert counts["revocations"]["done"] == 9
    assert fake_api.transactions[:3] == [(REGISTER_BATCH, 99), (REGISTER_BATCH, 100), (REGISTER_BATCH, 16)]


def test_a_refused_delivery_blocks_the_revocation_that_needs_it(chile_per_delivery_plan, fake_api):
    fake_api.reject["132/snapshot-2022"] = (503, "chain-unavailable", "node down")
    result = run(chile_per_delivery_plan, fake_api)
    failed = [(chile_per_delivery_plan.operations[r.index].describe(), r.outcome) for r in result.failed]
    assert failed == [
        ("record delivery 'snapshot-2022' of 70 on commitment '132'", "failed"),
        ("revoke delivery 'snapshot-2022' (70) of commitment '132'", "blocked"),
    ]


def test_a_paused_ledger_fails_each_item_of_the_batch_and_a_later_run_completes(chile_per_delivery_plan, fake_api, chile_csvs):
    fake_api.paused = True
    result = run(chile_per_delivery_plan, fake_api)
    assert outcomes(result, chile_per_delivery_plan) == {
        "commitments": {"failed": 216}, "deliveries": {"blocked": 170}, "revocations": {"blocked": 9},
    }
    first = result.by_index()[0]
    assert first.detail == "batch of 100 refused: 503 ledger-paused: the ledger is paused: writes are refused"
    assert fake_api.writes == [("POST", REGISTER_BATCH)] * 12  # 3 batches x 4 attempts
    assert fake_api.transactions == []
    fake_api.paused = False
    again = run(chile_per_delivery_plan, fake_api)
    assert outcomes(again, chile_per_delivery_plan) == ALL_DONE
    assert fake_api.counted_sums(CHILE) == progress_2024(chile_csvs)


@pytest.mark.parametrize("batch_size", [0, 101])
def test_a_batch_size_outside_1_to_100_is_refused(chile_per_delivery_plan, fake_api, batch_size):
    with pytest.raises(ValueError, match=f"batch_size must be 1..100, got {batch_size}"):
        apply_plan(chile_per_delivery_plan, client_for(fake_api), LedgerState.empty(CHILE), dry_run=False, batch_size=batch_size)
    assert fake_api.writes == []


def test_a_token_of_another_municipality_is_refused(chile_per_delivery_plan, fake_api):
    with pytest.raises(MunicipalityMismatchError) as info:
        check_municipality(client_for(fake_api, "tok-baarn"), chile_per_delivery_plan.mapping.municipality)
    assert (info.value.expected_code, info.value.token_code) == ("CL-GOB", "GM0308")
    assert fake_api.writes == []


def test_an_unknown_token_is_a_problem(chile_per_delivery_plan, fake_api):
    with pytest.raises(ApiProblemError) as info:
        check_municipality(client_for(fake_api, "nope"), chile_per_delivery_plan.mapping.municipality)
    assert (info.value.status, info.value.slug) == (401, "unauthorized")


def test_the_municipality_can_be_found_by_code_without_a_token(baarn_plan, fake_api):
    assert find_municipality(client_for(fake_api, None), baarn_plan.mapping.municipality)["id"] == 1


def test_dry_run_writes_nothing_and_counts_what_it_would_write(chile_per_delivery_plan, fake_api):
    result = run(chile_per_delivery_plan, fake_api, dry_run=True)
    assert outcomes(result, chile_per_delivery_plan) == {
        "commitments": {"would_do": 216}, "deliveries": {"would_do": 170}, "revocations": {"would_do": 9},
    }
    assert fake_api.writes == []


def test_dry_run_after_a_partial_run_counts_only_the_missing_operations(chile_per_delivery_plan, fake_api):
    run(Plan(chile_per_delivery_plan.mapping, chile_per_delivery_plan.operations[:200], chile_per_delivery_plan.report), fake_api)
    writes = len(fake_api.writes)
    result = run(chile_per_delivery_plan, fake_api, dry_run=True)
    counts = result.counts(chile_per_delivery_plan)
    assert sum(c["would_do"] for c in counts.values()) == len(chile_per_delivery_plan.operations) - 200
    assert len(fake_api.writes) == writes


def test_dry_run_without_any_ledger_state_would_do_everything(chile_per_delivery_plan):
    result = apply_plan(chile_per_delivery_plan, None, None, dry_run=True)
    assert {r.outcome for r in result.results} == {"would_do"}


def test_existing_commitments_that_differ_are_reported_as_differences_not_amended(baarn_plan, fake_api):
    client = client_for(fake_api, "tok-baarn")
    apply_plan(baarn_plan, client, read_state(client, 1), dry_run=False)
    fake_api.commitments[1]["title"] = "Changed by hand"
    writes = len(fake_api.writes)
    result = apply_plan(baarn_plan, client, read_state(client, 1), dry_run=False)
    first = result.results[0]
    assert first.outcome == "already_present"
    assert first.warnings == ()
    assert [(d.field, d.ledger, d.source) for d in first.differences] == [("title", "Changed by hand", baarn_plan.commitments[0].title)]
    assert first.amendment is None
    assert result.differing == [first] and len(fake_api.writes) == writes


def test_read_state_pages_through_the_list(chile_per_delivery_plan, fake_api):
    run(chile_per_delivery_plan, fake_api)
    fake_api.requests.clear()
    state = read_state(client_for(fake_api), CHILE, with_deliveries={"132"})
    assert len(state.commitments) == 216
    # The ledger's total (one item), then the municipality's pages: 100 + 100 + 16.
    assert sum(1 for m, p in fake_api.requests if p == "/api/v1/commitments") == 1 + 3
    assert state.commitment_total == 216
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
