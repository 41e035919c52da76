"""The Chile snapshots anchored as batches through the real API (one in-process system for the
module on the test chain: ledger, indexer, API), as `make import-chile` does: the dry run's
roots are the ones anchored, three verified batches with the leaf counts of the files and the
2024 progress of every promise; a run killed right after its first batch was anchored, then
run again, anchors nothing twice; a re-run sends nothing; a stale state sends nothing new."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, replace

import httpx
import pytest

from scripts.importer.apply import ApplyResult, apply_plan, check_municipality, wait_until_indexed
from scripts.importer.client import LedgerClient
from scripts.importer.plan import Plan
from scripts.importer.state import ExistingCommitment, LedgerState, read_state
from scripts.stack import InProcessStack
from tests.conftest import ANVIL_KEYS
from tests.importer.test_apply import progress_2024

ANCHOR = "/api/v1/staff/batches"
LEAF_COUNTS = [64, 63, 43]
# Leaves revoked by the later snapshots' corrections: 132, 158 (2023), 188, 195, 196 (2024) of
# the 2022 batch; 188, 191, 195, 196 (2024) of the 2023 batch.
REVOKED = [5, 4, 0]


class Killed(BaseException):
    """The importer killed right after the API anchored a batch (its answer is lost)."""


class KilledAfterFirstAnchor(httpx.HTTPTransport):
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method == "POST" and request.url.path == ANCHOR:
            response.read()
            raise Killed()
        return response


@dataclass
class Imported:
    stack: InProcessStack
    dry: ApplyResult  # on the fresh ledger
    after_kill: ApplyResult  # the run after the killed one


def run(plan, stack, *, transport=None, state=None, dry_run=False) -> ApplyResult:
    """One importer run as the CLI does it: check the token, wait for the index, read, apply."""
    with LedgerClient(stack.api_url, stack.tokens["CL-GOB"], transport=transport, retry_backoff_seconds=0.2) as client:
        municipality = check_municipality(client, plan.mapping.municipality)
        wait_until_indexed(client, timeout_seconds=60, poll_interval_seconds=0.1)
        if state is None:
            state = read_state(client, municipality["id"],
                               with_deliveries={op.commitment_ref for op in (*plan.deliveries, *plan.revocations)})
        return apply_plan(plan, client, state, dry_run=dry_run, poll_interval_seconds=0.1)


@pytest.fixture(scope="module")
def imported(rpc_url, tmp_path_factory, chile_plan) -> Imported:
    keys = {"GM0308": (ANVIL_KEYS[6], ANVIL_KEYS[7]), "CL-GOB": (ANVIL_KEYS[8], ANVIL_KEYS[9])}
    with InProcessStack(rpc_url, tmp_path_factory.mktemp("batches-api"), ANVIL_KEYS[0], keys) as stack:
        dry = run(chile_plan, stack, dry_run=True)
        with pytest.raises(Killed):
            run(chile_plan, stack, transport=KilledAfterFirstAnchor())
        # The scenario is a kill after the first anchor landed: under load the API may have
        # answered 202 (its outbox still sending), so wait until the index holds that batch.
        deadline = time.monotonic() + 60
        while not anchored_batches(stack) and time.monotonic() < deadline:
            time.sleep(0.2)
        after_kill = run(chile_plan, stack)
        stack.wait_indexed()
        yield Imported(stack, dry, after_kill)


def anchored_batches(stack: InProcessStack) -> list[dict]:
    stack.wait_indexed()
    page = httpx.get(f"{stack.api_url}/api/v1/batches", params={"municipality_id": stack.municipality_ids["CL-GOB"]})
    return page.json()["data"]


def test_the_snapshots_are_three_verified_batches_with_the_leaf_counts_of_the_files(imported):
    batches = anchored_batches(imported.stack)
    assert [(b["leaf_count"], b["verified"], b["unverified_reason"]) for b in batches] == [(n, True, None) for n in LEAF_COUNTS]
    assert [(b["counted_leaves"], b["revoked_leaves"], b["refused_leaves"]) for b in batches] == [
        (n - r, r, 0) for n, r in zip(LEAF_COUNTS, REVOKED)]
    for b in batches:
        file = httpx.get(f"{imported.stack.api_url}/api/v1/batches/{b['root']}/file")
        assert "0x" + hashlib.sha256(file.content).hexdigest() == b["file_sha256"]


def test_the_dry_run_showed_the_roots_that_were_anchored(imported):
    assert [(b.leaf_count, b.outcome, b.predicted) for b in imported.dry.batches] == [(n, "would_do", True) for n in LEAF_COUNTS]
    assert [b.root for b in imported.dry.batches] == [b["root"] for b in anchored_batches(imported.stack)]


def test_every_promise_shows_its_2024_progress(imported, chile_csvs):
    api, municipality_id = imported.stack.api_url, imported.stack.municipality_ids["CL-GOB"]
    listed = [c for offset in (0, 100, 200) for c in httpx.get(
        f"{api}/api/v1/commitments", params={"municipality_id": municipality_id, "offset": offset, "limit": 100}).json()["data"]]
    assert {c["external_ref"]: int(c["delivered_quantity"]) for c in listed} == progress_2024(chile_csvs)
    (uid_8,) = [c for c in listed if c["external_ref"] == "8"]
    detail = httpx.get(f"{api}/api/v1/commitments/{uid_8['id']}").json()
    (leaf,) = [d for d in detail["deliveries"] if d["external_ref"] == "snapshot-2022"]
    assert (leaf["kind"], leaf["id"], leaf["counted"]) == ("batched", leaf["leaf_hash"], True)
    assert leaf["batch_root"] == anchored_batches(imported.stack)[0]["root"]


def test_after_a_kill_right_after_the_first_anchor_the_next_run_anchors_only_the_other_snapshots(imported, chile_plan):
    result = imported.after_kill
    assert result.failed == []
    first = set(chile_plan.batches[0].operations)
    assert {r.outcome for r in result.results if r.index in first} == {"already_present"}
    assert [(b.label, b.outcome, b.leaf_count) for b in result.batches] == [("2023", "done", 63), ("2024", "done", 43)]
    assert len(anchored_batches(imported.stack)) == 3


def test_a_rerun_finds_every_leaf_counted_and_sends_nothing(imported, chile_plan):
    again = run(chile_plan, imported.stack)
    assert {r.outcome for r in again.results} == {"already_present"}
    assert again.batches == [] and again.transactions() == []


def test_a_run_that_does_not_know_the_deliveries_anchors_nothing_twice(imported, chile_plan):
    # The commitments are known, their deliveries not (as after a kill before the state was
    # read again): each batch is sent again, the same request with the same Idempotency-Key,
    # and the write outbox answers it with the write an earlier run sent: nothing is anchored
    # twice, and the run reports it as present. (The writes must be older than the clocks'
    # 1 s resolution to be told from this run's: client.REPLAY_SLACK_SECONDS.)
    time.sleep(2.5)
    with LedgerClient(imported.stack.api_url) as client:
        stale = read_state(client, imported.stack.municipality_ids["CL-GOB"])
    again = run(chile_plan, imported.stack, state=stale)
    assert again.failed == []
    assert {r.outcome for r in again.results} == {"already_present"}
    anchored = anchored_batches(imported.stack)
    assert [(b.outcome, b.leaf_count, b.root) for b in again.batches] == [
        ("already_present", n, a["root"]) for n, a in zip(LEAF_COUNTS, anchored)]
    assert [b.recorded_in["tx_hash"] for b in again.batches] == [a["chain"]["tx_hash"] for a in anchored]
    assert again.transactions() == []
    assert len(anchored) == 3


def test_a_batch_sent_again_after_its_answer_was_lost_is_refused_by_its_root_and_counts_as_done(imported, chile_plan):
    # Leaves without external refs, which the index cannot match to a delivery. Sent again
    # with the same Idempotency-Key, the write outbox answers the first write; under another
    # key (another client), only the contract's "root anchored already" (409) stops the
    # second anchor. On a commitment of Baarn's, registered here, so the Chile figures stay
    # as imported.
    stack = imported.stack
    with LedgerClient(stack.api_url, stack.tokens["GM0308"]) as client:
        registered = client.register_commitment({
            "external_ref": "batch-resent-test", "title": "Batch sent twice", "description": "", "theme": "",
            "target_quantity": "10", "unit": "stuks", "promised_at": 1655071200, "due_date": 1774994399,
            "source_document_sha256": None, "source_uri": ""})
    state = LedgerState(stack.municipality_ids["GM0308"])
    state.commitments["batch-resent-test"] = ExistingCommitment(int(registered["commitment_id"]), "batch-resent-test", {}, {})
    leaf = next(op for op in chile_plan.deliveries if op.batch == "2024")
    ops = tuple(replace(leaf, commitment_ref="batch-resent-test", external_ref="", quantity=q) for q in (1, 2))
    plan = Plan(chile_plan.mapping, ops, ())
    results = []
    for namespace in ("", "another-key", ""):
        stack.wait_indexed()
        if len(results) == 2:
            time.sleep(2.5)  # older than the clocks' 1 s resolution: told from this run's write
        with LedgerClient(stack.api_url, stack.tokens["GM0308"], idempotency_namespace=namespace) as client:
            results.append(apply_plan(plan, client, state, dry_run=False))
    first, second, third = results
    assert [(b.outcome, b.leaf_count) for b in first.batches] == [("done", 2)]
    assert [(b.outcome, b.root) for b in second.batches] == [("already_present", first.batches[0].root)]
    assert second.batches[0].recorded_in["tx_hash"] == first.batches[0].tx.tx_hash
    assert [(r.outcome, r.ledger_id) for r in second.results] == [("already_present", r.ledger_id) for r in first.results]
    assert "anchored already" in second.results[0].detail
    assert [(b.outcome, b.root, b.recorded_in["tx_hash"]) for b in third.batches] == [
        ("already_present", first.batches[0].root, first.batches[0].tx.tx_hash)]
    assert [(r.outcome, r.ledger_id) for r in third.results] == [("already_present", r.ledger_id) for r in first.results]
    assert "an earlier run sent this write" in third.results[0].detail
    page = httpx.get(f"{stack.api_url}/api/v1/batches", params={"municipality_id": stack.municipality_ids["GM0308"]}).json()
    assert [(b["root"], b["verified"], b["counted_leaves"]) for b in page["data"]] == [(first.batches[0].root, True, 2)]
