"""Batches and assets in the index (docs/LEDGER.md "Batches", "Assets"), on hand-built events
and batch files written by OpenZeppelin's merkle-tree, on SQLite and PostgreSQL: a batch counts
only once its file is held and checks out, its leaves count at the anchor in file order unless
refused (each reason, in order), a file that arrives late gives exactly the index it would have
given from the start, and an asset counts once per commitment across recorded and batched
deliveries."""

from __future__ import annotations

import hashlib
from typing import Callable

import pytest
from sqlalchemy import select

from ledger.db import repository
from ledger.db.models import Batch, BatchLeaf, Delivery
from ledger.db.projection import apply_events, recheck_missing_batches
from tests.db.batch_files import BatchFile, build, leaf
from tests.db.databases import Database, dump_index, fresh_database
from tests.db.script import CONFIRMER, DAY, REGISTRAR, Script, did, sha

Files = Callable[[str], "bytes | None"]


def no_files(sha256: str) -> bytes | None:
    return None


def holding(*files: BatchFile) -> Files:
    by_sha = {f.sha256: f.data for f in files}
    return by_sha.get


def apply(db: Database, script: Script, files: Files = no_files) -> int:
    with db.sessions.begin() as session:
        return apply_events(session, script.events, script.block_times, batch_files=files)


def recheck(db: Database, files: Files) -> list[str]:
    with db.sessions.begin() as session:
        return recheck_missing_batches(session, files)


def detail(db: Database, commitment_id: int, now: int) -> dict:
    with db.sessions() as session:
        found = repository.get_commitment(session, commitment_id, now)
        assert found is not None
        return found


def batch(db: Database, root: str) -> dict:
    with db.sessions() as session:
        found = repository.get_batch(session, root)
        assert found is not None
        return found


def base_script() -> Script:
    s = Script()
    s.next_block().municipality(1)
    s.registrar(1)
    s.municipality(2, "Utrecht", "GM0344")
    s.registrar(2)
    s.confirmer(1)
    return s


def leaves_of(db: Database, root: str) -> list[tuple]:
    return [(x["leaf_index"], x["commitment_id"], x["counted"], x["refused_reason"]) for x in batch(db, root)["leaves"]]


# ---------------------------------------------------------------------------- a verified batch


def two_leaf_story() -> tuple[Script, BatchFile, int]:
    """Commitment 1 (target 10, due in 30 days): a recorded delivery of 2, then a batch of two
    leaves, 3 and 5, stated two and one days before."""
    s = base_script()
    t = s.time
    s.next_block().commitment(1, target_quantity=10)
    s.next_block().delivery(1, 1, 2, t - 3 * DAY)
    f = build([leaf(1, 3, t - 2 * DAY, ref="lev-a", note="eerste"), leaf(1, 5, t - DAY, ref="lev-b", asset="Lamp 7")])
    s.next_block().anchor(f.root, f.sha256, 2)
    return s, f, t


def test_a_verified_batch_counts_its_leaves_at_the_anchor(db: Database) -> None:
    s, f, t0 = two_leaf_story()
    apply(db, s, holding(f))
    anchored_at = s.time
    d = detail(db, 1, anchored_at)
    assert (d["delivered_quantity"], d["status"], d["met_at"], d["status_on_record"], d["met_on_record_at"]) == (
        "10", "delivered", t0 - DAY, "delivered", anchored_at)
    assert (d["batched_delivery_count"], d["progress_bps"], d["recorded_late_count"]) == (2, 10000, 0)
    recorded, first, second = d["deliveries"]
    assert recorded["kind"] == "recorded"
    assert first == {
        "kind": "batched", "id": f.leaf_hashes[0], "delivery_number": None, "commitment_id": 1, "quantity": "3",
        "delivered_at": t0 - 2 * DAY, "delivered_at_iso": repository.iso(t0 - 2 * DAY),
        "recorded_at": anchored_at, "recorded_at_iso": repository.iso(anchored_at),
        "recording_lag_seconds": anchored_at - (t0 - 2 * DAY), "recording_lag_days": 2, "recorded_late": False,
        "evidence": [{"sha256": f.values[0][3][0], "stored": False, "url": None}], "evidence_uri": "",
        "note": "eerste", "external_ref": "lev-a", "asset_ref": "", "double_counted": False, "registrar": REGISTRAR,
        "signer_held_role": True, "recorded": batch(db, f.root)["chain"], "revocation": None, "review": "unconfirmed",
        "confirmations": [], "disputes": [], "batch_root": f.root, "leaf_hash": f.leaf_hashes[0], "leaf_index": 0,
        "counted": True, "refused_reason": None,
    }
    assert (second["id"], second["leaf_index"], second["asset_ref"], second["quantity"]) == (f.leaf_hashes[1], 1, "Lamp 7", "5")
    b = batch(db, f.root)
    assert {k: b[k] for k in ("verified", "unverified_reason", "leaf_count", "counted_leaves", "refused_leaves",
                              "revoked_leaves", "file_sha256")} == {
        "verified": True, "unverified_reason": None, "leaf_count": 2, "counted_leaves": 2, "refused_leaves": 0,
        "revoked_leaves": 0, "file_sha256": f.sha256,
    }


def test_the_on_record_clock_takes_the_leaves_in_file_order_at_the_anchor(db: Database) -> None:
    s = base_script()
    t = s.time
    s.next_block().commitment(1, target_quantity=5, due_date=t + 30 * DAY)
    f = build([leaf(1, 4, t), leaf(1, 1, t - DAY, ref="x")])
    s.next_block(5).anchor(f.root, f.sha256, 2)
    anchored_at = s.time
    s.next_block().amend(1, 1, previous_target=5, previous_due=t + 30 * DAY, target=6)
    s.next_block().delivery(1, 1, 1, s.time)
    apply(db, s, holding(f))
    c = detail(db, 1, s.time)
    # met on record at the anchor (4 + 1 >= 5), cleared by the raised target (5 < 6), met again by the delivery
    assert (c["met_on_record_at_original_terms"], c["met_on_record_at"]) == (anchored_at, s.time)


def test_the_proof_of_a_leaf_is_the_reference_implementations(db: Database) -> None:
    s, f, _ = two_leaf_story()
    apply(db, s, holding(f))
    with db.sessions() as session:
        proof = repository.get_batch_leaf_proof(session, f.root, f.leaf_hashes[1].upper().replace("0X", "0x"))
    assert proof == {
        "root": f.root, "leaf_hash": f.leaf_hashes[1], "leaf_index": 1,
        "leaf": {"commitment_id": "1", "quantity": "5", "delivered_at": f.values[1][2], "evidence_hashes": f.values[1][3],
                 "evidence_uri": "", "note": "", "external_ref": "lev-b", "asset_ref": "Lamp 7"},
        "values": f.values[1],
        "leaf_encoding": ["uint256", "uint64", "uint64", "bytes32[]", "string", "string", "string", "string"],
        "proof": f.proofs[1], "counted": True, "refused_reason": None, "revoked": False,
    }


def test_batched_deliveries_are_listed_after_recorded_ones_and_filter_by_kind(db: Database) -> None:
    s, f, _ = two_leaf_story()
    apply(db, s, holding(f))
    with db.sessions() as session:
        def ids(**filters) -> tuple[list, int]:
            page, total = repository.list_deliveries(session, now=s.time, **filters)
            return [d["id"] for d in page], total

        assert ids() == ([did(1, 1), *f.leaf_hashes], 3)
        assert ids(kind="batched") == (f.leaf_hashes, 2)
        assert ids(kind="recorded") == ([did(1, 1)], 1)
        assert ids(offset=1, limit=1) == ([f.leaf_hashes[0]], 3)
        assert ids(offset=2, limit=5) == ([f.leaf_hashes[1]], 3)
        assert ids(municipality_id=2) == ([], 0)
        assert ids(commitment_id=1, recorded_late=False) == ([did(1, 1), *f.leaf_hashes], 3)
        verified = repository.verify_hash(session, f.values[0][3][0])
    assert [(c["kind"], c["delivery_id"], c["batch_root"], c["counted"]) for c in verified["citations"]] == [
        ("batched", f.leaf_hashes[0], f.root, True)]


# ---------------------------------------------------------------------------- a file that arrives late


def late_story() -> tuple[Script, BatchFile]:
    """The two-leaf batch, then (before anyone holds its file) a confirmation and a revocation of
    its second leaf, a recorded delivery of the asset of its first... and more deliveries."""
    s = base_script()
    t = s.time
    s.next_block().commitment(1, target_quantity=10)
    s.commitment(2, target_quantity=3)
    f = build([leaf(1, 4, t - DAY, asset="Paal  12"), leaf(1, 6, t - DAY, ref="b"), leaf(2, 3, t - DAY)])
    s.next_block().anchor(f.root, f.sha256, 3)
    s.next_block().confirm_leaf(f.root, f.leaf_hashes[2], 2)
    s.revoke_leaf(f.root, f.leaf_hashes[1], 1)
    s.next_block().delivery(1, 1, 4, t, asset_ref="Paal 12")  # the contract took it: its twin is batched
    s.delivery(1, 2, 6, t, external_ref="c")
    return s, f


def test_a_batch_whose_file_is_missing_counts_nothing_until_the_file_arrives(db: Database) -> None:
    s, f = late_story()
    apply(db, s)
    assert (batch(db, f.root)["verified"], batch(db, f.root)["unverified_reason"], batch(db, f.root)["leaves"]) == (
        False, "missing", [])
    c1, c2 = detail(db, 1, s.time), detail(db, 2, s.time)
    assert (c1["delivered_quantity"], [d["double_counted"] for d in c1["deliveries"]]) == ("10", [False, False])
    assert (c2["delivered_quantity"], c2["confirmed_quantity"], c2["batched_delivery_count"]) == ("0", "0", 0)
    assert recheck(db, no_files) == []

    assert recheck(db, holding(f)) == [f.root]
    c1, c2 = detail(db, 1, s.time), detail(db, 2, s.time)
    # leaf 0 (4, asset "Paal 12") counts at the anchor; leaf 1 was revoked; the recorded "Paal 12" is a double count
    assert (c1["delivered_quantity"], [(d["kind"], d["double_counted"]) for d in c1["deliveries"]]) == (
        "10", [("recorded", True), ("recorded", False), ("batched", False), ("batched", False)])
    assert (c2["delivered_quantity"], c2["confirmed_quantity"], c2["status_confirmed"]) == ("3", "3", "delivered")
    assert [(x["leaf_index"], x["counted"], x["revocation"] is not None, x["review"]) for x in batch(db, f.root)["leaves"]] == [
        (0, True, False, "unconfirmed"), (1, True, True, "unconfirmed"), (2, True, False, "confirmed")]
    assert {k: batch(db, f.root)[k] for k in ("counted_leaves", "refused_leaves", "revoked_leaves")} == {
        "counted_leaves": 2, "refused_leaves": 0, "revoked_leaves": 1}
    assert recheck(db, holding(f)) == []  # verified: never looked up again


def test_a_late_file_gives_exactly_the_index_of_a_file_held_from_the_start(db: Database, tmp_path) -> None:
    s, f = late_story()
    apply(db, s)
    recheck(db, holding(f))
    with fresh_database(db.backend, tmp_path) as held:
        apply(held, s, holding(f))
        assert dump_index(db.engine) == dump_index(held.engine)
    with fresh_database(db.backend, tmp_path / "split") as split:  # and event by event, the file arriving midway
        for i, event in enumerate(s.events):
            with split.sessions.begin() as session:
                apply_events(session, [event], s.block_times, batch_files=holding(f) if i > len(s.events) - 3 else no_files)
        recheck(split, holding(f))
        assert dump_index(split.engine) == dump_index(db.engine)


# ---------------------------------------------------------------------------- files that do not check out


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        ("one_byte", "sha256_mismatch"),
        ("garbage", "unparseable"),
        ("other_root", "root_mismatch"),
        ("leaf_count", "leaf_count_mismatch"),
    ],
)
def test_a_file_that_does_not_check_out_leaves_the_batch_unverified(db: Database, make: str, reason: str) -> None:
    s = base_script()
    t = s.time
    s.next_block().commitment(1, target_quantity=10)
    f = build([leaf(1, 4, t - DAY), leaf(1, 6, t - DAY)])
    root, sha256, count, data = f.root, f.sha256, 2, f.data
    if make == "one_byte":  # stored under the anchored hash, one byte changed
        data = f.data.replace(b'"4"', b'"5"', 1)
        assert data != f.data
    elif make == "garbage":
        data = b"{not json"
        sha256 = "0x" + hashlib.sha256(data).hexdigest()
    elif make == "other_root":
        root = build([leaf(1, 4, t - DAY)]).root
    else:
        count = 3
    s.next_block().anchor(root, sha256, count)
    apply(db, s, {sha256: data}.get)
    b = batch(db, root)
    assert (b["verified"], b["unverified_reason"], b["leaves"], b["counted_leaves"]) == (False, reason, [], 0)
    assert detail(db, 1, s.time)["delivered_quantity"] == "0"
    assert recheck(db, {sha256: f.data}.get) == []  # only missing files are looked for again


# ---------------------------------------------------------------------------- refused leaves


def test_each_refusal_reason_in_the_documented_order(db: Database) -> None:
    s = base_script()
    t = s.time
    s.next_block().commitment(1, target_quantity=100)
    s.commitment(2, target_quantity=100, municipality_id=2)
    s.commitment(3, target_quantity=100)
    s.next_block().withdraw(3)
    s.delivery(1, 1, 1, t, external_ref="taken", asset_ref="lamp 1")
    f = build([
        leaf(1, 1, t, ref="ok-0"),                        # 0 counts
        leaf(9, 1, t),                                    # 1 registered only after the anchor
        leaf(99, 1, t),                                   # 2 never registered
        leaf(2, 1, t),                                    # 3 Utrecht's, in a Baarn batch
        leaf(3, 1, t),                                    # 4 withdrawn before the anchor
        leaf(1, 0, t),                                    # 5 quantity 0
        leaf(1, 1, t + 10 * DAY),                         # 6 delivered after the anchor
        leaf(1, 1, t, ["0x" + "00" * 32]),                # 7 a zero evidence hash
        leaf(1, 1, t, note="x" * 1001),                   # 8 a note over 1000 bytes
        leaf(1, 1, t, ref="taken"),                       # 9 the recorded delivery's ref
        leaf(1, 1, t, ref="ok-0", note="again"),          # 10 leaf 0's ref
        leaf(1, 1, t, asset="lamp 1"),                    # 11 the recorded delivery's asset
        leaf(1, 1, t, asset=" Lamp  1 "),                 # 12 another asset: case is kept
        leaf(1, 1, t, asset="Lamp 1"),                    # 13 leaf 12's, after normalising
        leaf(3, 0, t, ref="taken", asset="lamp 1"),       # 14 withdrawn first, though invalid too
    ])
    s.next_block().anchor(f.root, f.sha256, 15)
    s.next_block().commitment(9, target_quantity=1)
    apply(db, s, holding(f))
    assert leaves_of(db, f.root) == [
        (0, 1, True, None), (1, 9, False, "unknown_commitment"), (2, 99, False, "unknown_commitment"),
        (3, 2, False, "other_municipality"), (4, 3, False, "commitment_withdrawn"), (5, 1, False, "invalid_leaf"),
        (6, 1, False, "invalid_leaf"), (7, 1, False, "invalid_leaf"), (8, 1, False, "invalid_leaf"),
        (9, 1, False, "duplicate_external_ref"), (10, 1, False, "duplicate_external_ref"),
        (11, 1, False, "asset_already_counted"), (12, 1, True, None), (13, 1, False, "asset_already_counted"),
        (14, 3, False, "commitment_withdrawn"),
    ]
    b = batch(db, f.root)
    assert (b["verified"], b["counted_leaves"], b["refused_leaves"]) == (True, 2, 13)
    c1 = detail(db, 1, s.time)
    assert (c1["delivered_quantity"], c1["batched_delivery_count"]) == ("3", 10)
    assert [d["double_counted"] for d in c1["deliveries"] if d["kind"] == "batched"] == [
        False, False, False, False, False, False, False, True, False, True]
    assert (detail(db, 9, s.time)["delivered_quantity"], detail(db, 9, s.time)["batched_delivery_count"]) == ("0", 1)
    with db.sessions() as session:  # deliveries lists only show leaves of registered commitments
        page, total = repository.list_deliveries(session, now=s.time, kind="batched", limit=100)
    assert total == 14 and 2 not in [d["leaf_index"] for d in page]


def test_a_revoked_leaf_does_not_free_its_asset_for_a_later_double_count(db: Database) -> None:
    s = base_script()
    t = s.time
    s.next_block().commitment(1, target_quantity=10)
    f = build([leaf(1, 2, t, asset="boom 4")])
    s.next_block().anchor(f.root, f.sha256, 1)
    s.next_block().delivery(1, 1, 2, t, asset_ref="boom 4")  # double count: decided now
    s.next_block().revoke_leaf(f.root, f.leaf_hashes[0], 1)
    s.next_block().delivery(1, 2, 2, t, asset_ref="boom 4")  # the twin is revoked: counts
    apply(db, s, holding(f))
    d = detail(db, 1, s.time)
    assert [(x["kind"], x["double_counted"], x["revocation"] is not None) for x in d["deliveries"]] == [
        ("recorded", True, False), ("recorded", False, False), ("batched", False, True)]
    assert d["delivered_quantity"] == "2"
    with db.sessions() as session:
        rows = session.execute(select(Delivery.id, Delivery.asset_ref, Delivery.asset_key).order_by(Delivery.id)).all()
        leaf_row = session.scalars(select(BatchLeaf)).one()
        batch_row = session.get(Batch, f.root)
    assert rows == [(did(1, 1), "boom 4", "boom 4"), (did(1, 2), "boom 4", "boom 4")]
    assert (leaf_row.revoked, leaf_row.revocation_reason, leaf_row.revocation_registrar) == (True, "wrong", REGISTRAR)
    assert (batch_row.verified, batch_row.signer_held_role) == (True, True)


def test_verdicts_on_batched_deliveries_give_their_review(db: Database) -> None:
    s = base_script()
    t = s.time
    s.next_block().commitment(1, target_quantity=5)
    f = build([leaf(1, 2, t - DAY), leaf(1, 3, t)])
    s.next_block().anchor(f.root, f.sha256, 2)
    s.next_block().confirm_leaf(f.root, f.leaf_hashes[0], 1, evidence=sha("rapport"))
    s.dispute_leaf(f.root, f.leaf_hashes[1], 1, "niet gezien")
    apply(db, s, holding(f))
    d = detail(db, 1, s.time)
    batched = [x for x in d["deliveries"] if x["kind"] == "batched"]
    assert [(x["review"], [c["evidence_hash"] for c in x["confirmations"]], [c["reason"] for c in x["disputes"]])
            for x in batched] == [("confirmed", [sha("rapport")], []), ("disputed", [], ["niet gezien"])]
    assert [c["confirmer"] for c in batched[0]["confirmations"]] == [CONFIRMER]
    assert (d["confirmed_quantity"], d["disputed_quantity"], d["unconfirmed_quantity"], d["met_at_confirmed"]) == (
        "2", "3", "3", None)


def test_write_checks_see_taken_refs_and_counted_assets_as_the_counting_rules_do(db: Database) -> None:
    s, f = late_story()
    apply(db, s, holding(f))
    s.next_block().withdraw(2)
    apply(db, s, holding(f))
    with db.sessions() as session:
        assert repository.commitment_states(session, [2, 1, 77]) == {
            1: {"municipality_id": 1, "withdrawn": False}, 2: {"municipality_id": 1, "withdrawn": True}}
        # leaf 1 ("b") was revoked: its ref stays taken; the recorded "Paal 12" is a double count
        assert repository.taken_delivery_refs(session, [1, 2]) == {(1, "c"): str(did(1, 2)), (1, "b"): f.leaf_hashes[1]}
        assert repository.counted_assets(session, [1, 2]) == {(1, "Paal 12"): f.leaf_hashes[0]}
        assert repository.counted_assets(session, []) == {} == repository.taken_delivery_refs(session, [])


def test_a_batch_of_1200_leaves_is_counted_and_read_back_whole(db: Database) -> None:
    from ledger.merkle import verify_proof

    s = base_script()
    t = s.time
    s.next_block().commitment(1, target_quantity=1200)
    f = build([leaf(1, 1, t - DAY, ref=f"r-{i}") for i in range(1200)])
    s.next_block().anchor(f.root, f.sha256, 1200)
    s.next_block().confirm_leaf(f.root, f.leaf_hashes[1199], 1)
    apply(db, s, holding(f))
    b = batch(db, f.root)
    assert (len(b["leaves"]), b["counted_leaves"], b["leaves"][1199]["review"]) == (1200, 1200, "confirmed")
    d = detail(db, 1, s.time)
    assert (d["delivered_quantity"], d["status_on_record"], d["confirmed_quantity"], d["deliveries_count"]) == (
        "1200", "delivered", "1", 1200)
    assert len(d["deliveries"]) == 50  # the detail's first page; the rest by cursor
    with db.sessions() as session:
        proof = repository.get_batch_leaf_proof(session, f.root, f.leaf_hashes[1199])
    assert proof["proof"] == f.proofs[1199] and verify_proof(f.root, f.leaf_hashes[1199], proof["proof"])
