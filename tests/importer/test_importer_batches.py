"""Deliveries as anchored batches (``deliveries: {mode: batch}``, the shipped Chile mapping):
the plan (one batch per snapshot, exact leaf counts from the real files), the dry run (the root
each batch will anchor, computed with ledger/merkle.py), the request the client sends, re-runs
that send nothing and runs killed at any write, against the in-memory fake API
(conftest.FakeLedgerApi)."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest

from ledger import merkle
from scripts.importer import parse_mapping, plan_source
from scripts.importer.apply import apply_plan, check_municipality
from scripts.importer.batches import batch_leaf, local_tree
from scripts.importer.mapping import with_delivery_mode
from scripts.importer.state import read_state
from tests.importer.conftest import FakeLedgerApi, Killed
from tests.importer.test_apply import CHILE, REGISTER_BATCH, client_for, outcomes, progress_2024

YEARS = (2022, 2023, 2024)
ANCHOR = "/api/v1/staff/batches"
LEAF_COUNTS = {"2022": 64, "2023": 63, "2024": 43}
ALL_DONE = {"commitments": {"done": 216}, "deliveries": {"done": 170}, "revocations": {"done": 9}}
ALL_PRESENT = {"commitments": {"already_present": 216}, "deliveries": {"already_present": 170},
               "revocations": {"already_present": 9}}
# Registrations in batches of 100; each snapshot's deliveries one anchored batch, sent when
# the next snapshot's first delivery comes (after the registrations it needs); the 2023
# corrections revoke leaves of the 2022 batch and the 2024 ones leaves of the 2022 and 2023
# batches, each through its batch root and leaf hash.
CHILE_BATCH_TRANSACTIONS = [
    (REGISTER_BATCH, 100), (REGISTER_BATCH, 100), (REGISTER_BATCH, 16), (ANCHOR, 64),
    ("leaf revocation", 1), ("leaf revocation", 1),
    (ANCHOR, 63),
    *[("leaf revocation", 1)] * 7,
    (ANCHOR, 43),
]


def shape(transactions):
    """The fake's transactions with leaf revocation paths named by kind."""
    return [("leaf revocation", n) if "/leaves/" in path else (path, n) for path, n in transactions]


def run(plan, fake, *, dry_run=False, state=None, **kwargs):
    client = client_for(fake)
    municipality = check_municipality(client, plan.mapping.municipality)
    if state is None:
        wanted = {op.commitment_ref for op in (*plan.deliveries, *plan.revocations)}
        state = read_state(client, municipality["id"], with_deliveries=wanted)
    return apply_plan(plan, client, state, dry_run=dry_run, sleep=lambda _s: None, **kwargs)


def rises_per_snapshot(chile_csvs) -> dict[str, int]:
    """Deliveries per snapshot straight from the CSV files: a promise whose progress is above
    what the ledger counts for it (the replay rule: falls revoke newest first)."""
    progress = {}
    for year in YEARS:
        with chile_csvs[year].open(encoding="utf-8", newline="") as handle:
            progress[year] = {r["uid"]: int(r["avance_total"].rstrip("%")) for r in csv.DictReader(handle) if r["uid"]}
    counted: dict[str, list[int]] = {uid: [] for uid in progress[2022]}
    rises: Counter[str] = Counter()
    for year in YEARS:
        for uid, q in progress[year].items():
            while sum(counted[uid]) > q:
                counted[uid].pop()
            if q > sum(counted[uid]):
                counted[uid].append(q - sum(counted[uid]))
                rises[str(year)] += 1
    return dict(rises)


# ------------------------------------------------------------------ the mapping and the plan


def test_the_chile_mapping_plans_each_snapshots_deliveries_as_one_batch(chile_plan, chile_csvs):
    assert chile_plan.mapping.deliveries.mode == "batch"
    assert [(b.label, b.leaf_count) for b in chile_plan.batches] == list(LEAF_COUNTS.items())
    assert dict((b.label, b.leaf_count) for b in chile_plan.batches) == rises_per_snapshot(chile_csvs)
    assert sum(b.leaf_count for b in chile_plan.batches) == len(chile_plan.deliveries) == 170
    for batch in chile_plan.batches:
        ops = [chile_plan.operations[i] for i in batch.operations]
        assert {op.batch for op in ops} == {batch.label}
        assert {op.delivered_at for op in ops} == {chile_plan.mapping.snapshots[YEARS.index(int(batch.label))].as_of_seconds}
        assert {op.external_ref for op in ops} == {f"snapshot-{batch.label}"}


def test_chile_names_no_asset_because_every_delivery_of_a_promise_is_progress_on_the_same_bill(chile_plan):
    assert {op.asset_ref for op in chile_plan.deliveries} == {""}
    # Why: 43 of the 47 promises with two or more deliveries cite the same boletín each time,
    # and an asset counts once per commitment, so naming the bill would refuse the later rises.
    bills: dict[str, list[str]] = {}
    for op in chile_plan.deliveries:
        bills.setdefault(op.commitment_ref, []).append(json.loads(op.evidence_files[0].content)["boletin"])
    several = [b for b in bills.values() if len(b) > 1]
    assert (len(several), sum(1 for b in several if len(set(b)) < len(b))) == (47, 43)


def test_per_delivery_stays_the_default(chile_doc, baarn_plan, chile_per_delivery_plan):
    del chile_doc["deliveries"]
    assert parse_mapping(chile_doc).deliveries.mode == "per_delivery"
    assert baarn_plan.batches == ()
    assert chile_per_delivery_plan.batches == ()
    assert {op.batch for op in chile_per_delivery_plan.deliveries} == {None}


def test_an_unknown_deliveries_mode_is_refused(chile_doc):
    chile_doc["deliveries"] = {"mode": "merkle"}
    with pytest.raises(ValueError, match="deliveries.mode"):
        parse_mapping(chile_doc)


def test_an_asset_delivered_again_by_a_counted_delivery_makes_the_row_invalid(chile_doc, data_dir):
    chile_doc["delivery"]["asset_ref"] = {"column": "boletin"}
    plan = plan_source(parse_mapping(chile_doc), data_dir)
    invalid = [r for r in plan.rows("invalid")]
    assert invalid and all("already delivered by a counted delivery of this item" in r.reason for r in invalid)
    for op in plan.deliveries:
        assert op.asset_ref == merkle.normalise_asset_ref(op.asset_ref)


def test_a_leaf_is_the_delivery_and_its_commitment_id(chile_plan):
    op = chile_plan.deliveries[0]
    leaf = batch_leaf(op, 7)
    assert leaf.json_values() == [
        "7", str(op.quantity), str(op.delivered_at), list(op.evidence_hashes), op.evidence_uri, op.note, op.external_ref, ""]
    assert leaf.json_values()[3] == [op.evidence_files[0].sha256]


# ------------------------------------------------------------------ dry run


def test_dry_run_shows_each_batch_with_its_leaf_count_and_the_root_a_run_then_anchors(chile_plan, fake_api):
    planned = run(chile_plan, fake_api, dry_run=True)
    assert fake_api.writes == []
    assert [(b.label, b.leaf_count, b.outcome, b.predicted) for b in planned.batches] == [
        (label, n, "would_do", True) for label, n in LEAF_COUNTS.items()]
    assert all(b.root is not None and b.root.startswith("0x") and len(b.root) == 66 for b in planned.batches)
    done = run(chile_plan, fake_api)
    assert [b.root for b in done.batches] == [b.root for b in planned.batches]
    assert sorted(fake_api.batches) == sorted(b.root for b in planned.batches)


def test_dry_run_after_registration_computes_the_roots_from_the_ledgers_ids(chile_plan, fake_api):
    registrations = type(chile_plan)(chile_plan.mapping, chile_plan.commitments, chile_plan.report)
    run(registrations, fake_api)
    planned = run(chile_plan, fake_api, dry_run=True)
    assert [(b.leaf_count, b.predicted) for b in planned.batches] == [(n, False) for n in LEAF_COUNTS.values()]
    ids = {c["external_ref"]: c["id"] for c in fake_api.commitments.values()}
    first = [chile_plan.operations[i] for i in chile_plan.batches[0].operations]
    assert planned.batches[0].root == local_tree(first, [ids[op.commitment_ref] for op in first]).root


def test_dry_run_without_the_ledger_counts_the_leaves_but_cannot_know_the_root(chile_plan):
    planned = apply_plan(chile_plan, None, None, dry_run=True)
    assert [(b.leaf_count, b.root) for b in planned.batches] == [(n, None) for n in LEAF_COUNTS.values()]
    assert outcomes(planned, chile_plan) == {"commitments": {"would_do": 216}, "deliveries": {"would_do": 170},
                                             "revocations": {"would_do": 9}}


# ------------------------------------------------------------------ applying


def test_first_run_anchors_one_batch_per_snapshot_and_the_ledger_shows_the_2024_progress(chile_plan, fake_api, chile_csvs):
    result = run(chile_plan, fake_api)
    assert outcomes(result, chile_plan) == ALL_DONE
    assert shape(fake_api.transactions) == CHILE_BATCH_TRANSACTIONS
    assert [(b.label, b.leaf_count, b.outcome) for b in result.batches] == [(k, n, "done") for k, n in LEAF_COUNTS.items()]
    assert [b.warnings for b in result.batches] == [(), (), ()]
    assert fake_api.counted_sums(CHILE) == progress_2024(chile_csvs)
    # Every leaf is a delivery named by its leaf hash, in the batch the importer computed.
    by_index = result.by_index()
    for batch in result.batches:
        anchored = fake_api.batches[batch.root]
        assert anchored["leaf_count"] == batch.leaf_count
        assert batch.file_sha256 == anchored["file_sha256"]
        for i in batch.operations:
            leaf = fake_api.deliveries[by_index[i].ledger_id]
            assert (leaf["batch_root"], by_index[i].tx.tx_hash) == (batch.root, batch.tx.tx_hash)
    assert len(result.transactions()) == 15
    assert sum(tx.operations for tx in result.transactions()) == 216 + 170 + 9


def test_each_batch_is_sent_with_the_evidence_files_its_leaves_cite(chile_plan, fake_api):
    sent = []
    handle = fake_api.handle

    def spy(request):
        if request.url.path == ANCHOR:
            sent.append(fake_api.form(request))
        return handle(request)

    fake_api.handle = spy
    run(chile_plan, fake_api)
    assert len(sent) == 3
    first = sent[0]
    assert set(first) == {"municipality_id", "deliveries", "evidence"}
    assert first["municipality_id"] == [str(CHILE)]
    (items_text,) = first["deliveries"]
    items = json.loads(items_text)
    assert len(items) == 64
    assert set(items[0]) == {"commitment_id", "quantity", "delivered_at", "evidence_hashes", "evidence_uri", "note",
                             "external_ref", "asset_ref"}
    assert isinstance(items[0]["quantity"], str) and isinstance(items[0]["delivered_at"], int)
    ops = [chile_plan.operations[i] for i in chile_plan.batches[0].operations]
    assert [f.sha256 for op in ops for f in op.evidence_files] == [h for item in items for h in item["evidence_hashes"]]
    assert sorted(first["evidence"]) == sorted(f.content for op in ops for f in op.evidence_files)
    assert len(fake_api.evidence) == 170 + 3  # every evidence file and the three batch files


def test_revocations_of_batched_deliveries_name_their_batch_root_and_leaf_hash(chile_plan, fake_api):
    result = run(chile_plan, fake_api)
    revoked = [d for d in fake_api.deliveries.values() if d["revocation"] is not None]
    assert len(revoked) == 9 and {d["kind"] for d in revoked} == {"batched"}
    by_index = result.by_index()
    for index, op in enumerate(chile_plan.operations):
        if op in chile_plan.revocations:
            assert fake_api.deliveries[by_index[index].ledger_id]["external_ref"] == op.delivery_ref


def test_a_rerun_after_a_completed_import_finds_every_leaf_counted_and_sends_nothing(chile_plan, fake_api):
    first = run(chile_plan, fake_api).by_index()
    writes = len(fake_api.writes)
    again = run(chile_plan, fake_api)
    assert outcomes(again, chile_plan) == ALL_PRESENT
    assert len(fake_api.writes) == writes
    assert again.batches == [] and again.transactions() == []
    for result in again.results:
        written = first[result.index]
        assert result.ledger_id == written.ledger_id
        assert result.recorded_in.tx_hash == written.tx.tx_hash


def test_a_run_killed_after_anchoring_is_refused_as_anchored_again_and_counts_it_done(chile_plan, chile_csvs):
    # The 4th write anchors the 2022 batch; the importer dies before it reads the answer, and
    # the next run reads the ledger before the index holds (and lists) the batch's leaves.
    fake_api = FakeLedgerApi()
    fake_api.kill_at = (4, "after")
    with pytest.raises(Killed):
        run(chile_plan, fake_api)
    fake_api.kill_at = None
    (root,) = fake_api.batches
    fake_api.hide_batched = True
    again = run(chile_plan, fake_api)
    fake_api.hide_batched = False
    assert again.batches[0].outcome == "already_present" and again.batches[0].root == root
    assert again.batches[0].recorded_in == fake_api.batches[root]["chain"]
    assert [b.outcome for b in again.batches[1:]] == ["done", "done"]
    assert again.failed == []
    assert len(fake_api.batches) == 3
    assert Counter(n for path, n in fake_api.transactions if path == ANCHOR) == Counter(LEAF_COUNTS.values())
    assert fake_api.counted_sums(CHILE) == progress_2024(chile_csvs)


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_run_killed_at_any_write_and_run_again_anchors_nothing_twice_and_loses_nothing(chile_plan, chile_csvs, when):
    complete = FakeLedgerApi()
    run(chile_plan, complete)
    expected_refs = complete.delivery_refs()
    for kill_at in range(1, len(CHILE_BATCH_TRANSACTIONS) + 1):
        fake = FakeLedgerApi()
        fake.kill_at = (kill_at, when)
        with pytest.raises(Killed):
            run(chile_plan, fake)
        fake.kill_at = None
        assert len(fake.transactions) == (kill_at if when == "after" else kill_at - 1)
        again = run(chile_plan, fake)
        assert again.failed == []
        counts = again.counts(chile_plan)
        assert sum(c["done"] + c["already_present"] for c in counts.values()) == 395
        assert fake.delivery_refs() == expected_refs
        assert sorted(fake.batches) == sorted(complete.batches)
        assert fake.counted_sums(CHILE) == progress_2024(chile_csvs)
        assert shape(fake.transactions) == CHILE_BATCH_TRANSACTIONS


def test_a_refused_leaf_is_reported_on_its_row_and_the_rest_is_anchored_without_it(chile_plan, fake_api):
    fake_api.reject["8/snapshot-2022"] = (422, "invalid_leaf", "quantity refused for this test")
    result = run(chile_plan, fake_api)
    (failed,) = result.failed
    op = chile_plan.operations[failed.index]
    assert (op.commitment_ref, op.external_ref) == ("8", "snapshot-2022")
    assert "quantity refused for this test" in failed.detail
    assert failed.problem["errors"][0]["loc"][:2] == ["body", "deliveries"]
    first, retried = result.batches[:2]
    assert (first.label, first.outcome, first.leaf_count) == ("2022", "failed", 64)
    assert (retried.label, retried.outcome, retried.leaf_count) == ("2022", "done", 63)
    assert retried.root != first.root
    assert [n for path, n in fake_api.transactions if path == ANCHOR] == [63, 63, 43]


def test_a_leaf_whose_ref_is_counted_already_is_present_not_failed(chile_plan, fake_api):
    run(chile_plan, fake_api)
    assert run(chile_plan, fake_api).batches == []  # a fresh state: nothing to send
    # A state read before the first run: every leaf is refused as a duplicate ref, so present.
    fake = FakeLedgerApi()
    registrations = type(chile_plan)(chile_plan.mapping, chile_plan.commitments, chile_plan.report)
    run(registrations, fake)
    before = read_state(client_for(fake), CHILE, with_deliveries={op.commitment_ref for op in chile_plan.deliveries})
    run(chile_plan, fake)
    again = run(chile_plan, fake, state=before)
    assert outcomes(again, chile_plan) == ALL_PRESENT
    assert {b.outcome for b in again.batches} == {"failed"}
    assert len(fake.batches) == 3


def test_a_batch_beyond_the_leaf_limit_goes_in_several_requests(chile_plan, fake_api, chile_csvs):
    result = run(chile_plan, fake_api, max_batch_leaves=30)
    assert [(b.label, b.chunk, b.leaf_count) for b in result.batches] == [
        ("2022", 1, 30), ("2022", 2, 30), ("2022", 3, 4), ("2023", 1, 30), ("2023", 2, 30), ("2023", 3, 3),
        ("2024", 1, 30), ("2024", 2, 13)]
    assert fake_api.counted_sums(CHILE) == progress_2024(chile_csvs)


def test_per_delivery_mode_records_each_delivery_on_its_own(chile_mapping, data_dir, fake_api):
    plan = plan_source(with_delivery_mode(chile_mapping, "per_delivery", "test"), data_dir)
    result = run(plan, fake_api)
    assert result.batches == [] and fake_api.batches == {}
    assert {d.get("kind", "recorded") for d in fake_api.deliveries.values()} == {"recorded"}


# ------------------------------------------------------------------ against the contract


def test_the_leaves_the_importer_builds_are_the_contracts_and_its_batch_verifies_on_chain(chain, roles, chile_plan):
    ops = [chile_plan.operations[i] for i in chile_plan.batches[0].operations]
    ids = [int(op.commitment_ref) for op in ops]  # as if uid n were commitment n
    tree = local_tree(ops, ids)
    leaves = [batch_leaf(op, cid) for op, cid in zip(ops, ids)]
    for position in (0, 31, 63):
        assert "0x" + bytes(chain.call("batchLeafHash", tuple(leaves[position].values()))).hex() == tree.leaf_hashes[position]
    anchored = chain.send("anchorBatch", [(1, bytes.fromhex(tree.root[2:]), len(leaves),
                                           bytes.fromhex(tree.file_sha256[2:]), "urn:test:chile-2022")], roles.registrar.key)
    event = anchored.event("BatchAnchored")
    assert (event.args["leaf_count"], "0x" + bytes.fromhex(tree.root[2:]).hex()) == (64, tree.root)
    full = merkle.build_tree(leaves)
    for position in (0, 63):
        included, leaf_hash, revoked = chain.call("verifyBatchedDelivery", bytes.fromhex(tree.root[2:]),
                                                  tuple(leaves[position].values()), full.proof(position))
        assert (included, "0x" + bytes(leaf_hash).hex(), revoked) == (True, tree.leaf_hashes[position], False)


def test_a_leaf_the_readers_refused_is_sent_again_with_a_warning(chile_plan, fake_api):
    first = run(chile_plan, fake_api)
    (index,) = [i for i in chile_plan.batches[0].operations
                if (chile_plan.operations[i].commitment_ref, chile_plan.operations[i].external_ref) == ("8", "snapshot-2022")]
    leaf = fake_api.deliveries[first.by_index()[index].ledger_id]
    leaf.update(counted=False, refused_reason="asset_already_counted")  # as readers report a double count
    again = run(chile_plan, fake_api).by_index()[index]
    assert again.warnings == ("an earlier batch's leaf with this ref was refused by the readers (asset_already_counted) "
                              "and counts nothing",)
