"""Sorting commitments (``repository.list_commitments(sort=...)``) and the two chart reads of the
site (``commitment_chart_rows``, ``commitment_delivery_points``) on hand-built events, on SQLite
and PostgreSQL: every sort key both ways with ties by id, status in urgency order at ``now``,
the stored ``progress_bps`` after revocations and batched leaves, and the last change moving
with every event that concerns a commitment (and with no other)."""

from __future__ import annotations

import pytest

from ledger.db import repository
from ledger.db.models import Commitment
from ledger.db.projection import apply_events, recheck_missing_batches
from ledger.status import STATUSES
from tests.db.batch_files import BatchFile, build, leaf
from tests.db.databases import Database, dump_index, fresh_database
from tests.db.script import DAY, OTHER, Script, did

BIG = 10**13
"""The largest quantity of one delivery (``MAX_QUANTITY``): on a target of 1 its progress is
10^17 basis points, which a BIGINT holds."""


def apply(db: Database, s: Script, files: dict[str, bytes] | None = None) -> int:
    with db.sessions.begin() as session:
        return apply_events(session, s.events, s.block_times, batch_files=(files or {}).get)


def ids(db: Database, now: int, sort: str, **filters) -> list[int]:
    with db.sessions() as session:
        page, total = repository.list_commitments(session, now, sort=sort, limit=100, **filters)
    assert total == len(page)
    return [c["id"] for c in page]


def row(db: Database, commitment_id: int) -> Commitment:
    with db.sessions() as session:
        found = session.get(Commitment, commitment_id)
        assert found is not None
        return found


def last_change(db: Database, commitment_id: int) -> tuple[int, int, int]:
    c = row(db, commitment_id)
    return (c.last_change_block, c.last_change_log_index, c.last_changed_at)


def base_script() -> Script:
    s = Script()
    s.next_block().municipality(1)
    s.registrar(1)
    s.municipality(2, "Utrecht", "GM0344")
    s.registrar(2)
    s.confirmer(1)
    return s


def eight_commitments() -> tuple[Script, int]:
    """Block 7 registers commitments 1..8 (log 0..7; 7 in Utrecht); block 8 records deliveries
    on 1, 2, 7, 8; block 9 a second one on 1; block 10, ten days on, delivers 5 after its due
    date; block 11 revokes 1's second delivery and withdraws 6. At the last block (``now``):

    ====  ======  =======  ==============  ===========  ============
    id    target  due (t+) delivered       status       progress_bps
    ====  ======  =======  ==============  ===========  ============
    1     10      30 d     5 (3 revoked)   in_progress  5000
    2     4       10 d     4               delivered    10000
    3     100     30 d     0               pending      0
    4     10      -1 d     0               overdue      0
    5     10      5 d      10 (late)       delivered_late 10000
    6     1       20 d     0               withdrawn    0
    7     2       15 d     1               in_progress  5000
    8     1       40 d     10^13           delivered    10^17
    ====  ======  =======  ==============  ===========  ============
    """
    s = base_script()  # blocks 5, 6
    t = s.time
    s.next_block()  # 7
    s.commitment(1, target_quantity=10, due_date=t + 30 * DAY)
    s.commitment(2, target_quantity=4, due_date=t + 10 * DAY)
    s.commitment(3, target_quantity=100, due_date=t + 30 * DAY)
    s.commitment(4, target_quantity=10, promised_at=t - 10 * DAY, due_date=t - DAY)
    s.commitment(5, target_quantity=10, due_date=t + 5 * DAY)
    s.commitment(6, target_quantity=1, due_date=t + 20 * DAY)
    s.commitment(7, municipality_id=2, target_quantity=2, due_date=t + 15 * DAY)
    s.commitment(8, target_quantity=1, due_date=t + 40 * DAY)
    s.next_block()  # 8
    s.delivery(1, 1, 5, t)
    s.delivery(2, 1, 4, t)
    s.delivery(7, 1, 1, t)
    s.delivery(8, 1, BIG, t)
    s.next_block().delivery(1, 2, 3, t)  # 9
    s.next_block(10 * DAY).delivery(5, 1, 10, s.time)  # 10: stated the day it was recorded, after the due date
    s.next_block().revoke(1, 2)  # 11
    s.withdraw(6)
    return s, t


@pytest.fixture
def eight(db: Database) -> tuple[Database, Script, int]:
    s, t = eight_commitments()
    apply(db, s)
    return db, s, t


SORTED = [
    ("id", [1, 2, 3, 4, 5, 6, 7, 8]),
    ("-id", [8, 7, 6, 5, 4, 3, 2, 1]),
    ("due_date", [4, 5, 2, 7, 6, 1, 3, 8]),  # 1 and 3 share a due date: by id
    ("-due_date", [8, 1, 3, 6, 7, 2, 5, 4]),  # ... also descending
    ("progress", [3, 4, 6, 1, 7, 2, 5, 8]),
    ("-progress", [8, 2, 5, 1, 7, 3, 4, 6]),
    ("status", [4, 1, 7, 3, 5, 2, 8, 6]),  # overdue, in_progress, pending, delivered_late, delivered, withdrawn
    ("-status", [6, 2, 8, 5, 3, 1, 7, 4]),
    ("last_change", [3, 4, 2, 7, 8, 5, 1, 6]),  # (block, log): (7,2) (7,3) (8,1) (8,2) (8,3) (10,0) (11,0) (11,1)
    ("-last_change", [6, 1, 5, 8, 7, 2, 4, 3]),
]


@pytest.mark.parametrize(("sort", "expected"), SORTED)
def test_every_sort_key_orders_both_ways_with_ties_by_id(eight, sort: str, expected: list[int]) -> None:
    db, s, _ = eight
    assert ids(db, s.time, sort) == expected


def test_the_default_order_is_by_id_and_every_sort_value_is_listed() -> None:
    assert repository.COMMITMENT_SORTS == tuple(sort for sort, _ in SORTED)
    assert repository.list_commitments.__kwdefaults__["sort"] == "id"


def test_the_urgency_order_holds_every_status_once() -> None:
    assert repository.STATUS_URGENCY == ("overdue", "in_progress", "pending", "delivered_late", "delivered", "withdrawn")
    assert sorted(repository.STATUS_URGENCY) == sorted(STATUSES)


def test_status_order_is_evaluated_at_now(eight) -> None:
    db, _, t = eight
    # 31 days on, 1, 3 and 7 are overdue too: the overdue ones come first, by id
    assert ids(db, t + 31 * DAY, "status") == [1, 3, 4, 7, 5, 2, 8, 6]
    assert ids(db, t + 31 * DAY, "-status") == [6, 2, 8, 5, 1, 3, 4, 7]


def test_sort_combines_with_filters_and_paging(eight) -> None:
    db, s, _ = eight
    with db.sessions() as session:
        page, total = repository.list_commitments(session, s.time, municipality_id=1, sort="-progress", offset=1, limit=3)
        delivered, count = repository.list_commitments(
            session, s.time, statuses=["delivered", "delivered_late"], sort="status"
        )
    assert ([c["id"] for c in page], total) == ([2, 5, 1], 7)
    assert ([c["id"] for c in delivered], count) == ([5, 2, 8], 3)


@pytest.mark.parametrize("sort", ["bogus", "+id", "-", "--id", "ID", "id ", "progress_bps", "-last_changed_at", ""])
def test_an_unknown_sort_is_a_value_error(db: Database, sort: str) -> None:
    with db.sessions() as session, pytest.raises(ValueError, match="Unknown sort"):
        repository.list_commitments(session, 0, sort=sort)


def test_progress_is_stored_for_sorting_and_follows_a_revocation(db: Database) -> None:
    s, t = eight_commitments()
    revocation_block = 11
    before = [e for e in s.events if e.block_number < revocation_block]
    with db.sessions.begin() as session:
        apply_events(session, before, s.block_times)
    assert row(db, 1).progress_bps == 8000  # 5 + 3 of 10
    assert ids(db, s.block_times[10], "-progress")[:4] == [8, 2, 5, 1]
    apply(db, s)
    assert (row(db, 1).progress_bps, row(db, 1).delivered_quantity) == (5000, 5)  # the 3 no longer count
    assert ids(db, s.time, "-progress")[:5] == [8, 2, 5, 1, 7]  # now tied with 7: by id
    assert row(db, 8).progress_bps == BIG * 10_000  # 10^17: beyond 32 bits, a BIGINT
    with db.sessions() as session:
        summaries = {c["id"]: c for c in repository.list_commitments(session, s.time, limit=100)[0]}
    assert {cid: c["progress_bps"] for cid, c in summaries.items()} == {
        cid: row(db, cid).progress_bps for cid in range(1, 9)
    }


def test_an_amendment_of_the_target_moves_the_stored_progress(db: Database) -> None:
    s, t = eight_commitments()
    s.next_block().amend(1, 1, previous_target=10, target=4, previous_due=t + 30 * DAY)  # 5 of 4
    s.amend(2, 1, previous_target=4, target=8, previous_due=t + 10 * DAY)  # 4 of 8
    s.amend(3, 1, previous_target=100, target=1, previous_due=t + 30 * DAY)  # nothing delivered: still 0
    apply(db, s)
    assert (row(db, 1).progress_bps, row(db, 2).progress_bps, row(db, 3).progress_bps) == (12500, 5000, 0)
    assert ids(db, s.time, "progress") == [3, 4, 6, 2, 7, 5, 1, 8]


def test_last_change_is_the_latest_event_concerning_each_commitment(eight) -> None:
    db, s, t = eight
    times = s.block_times
    assert {cid: last_change(db, cid) for cid in range(1, 9)} == {
        1: (11, 0, times[11]),  # the revocation of its second delivery
        2: (8, 1, times[8]),
        3: (7, 2, times[7]),  # its registration
        4: (7, 3, times[7]),
        5: (10, 0, times[10]),
        6: (11, 1, times[11]),  # its withdrawal
        7: (8, 2, times[8]),
        8: (8, 3, times[8]),
    }
    with db.sessions() as session:
        c1 = repository.get_commitment(session, 1, s.time)
        listed = repository.list_commitments(session, s.time, limit=1)[0][0]
    assert (c1["last_changed_at"], c1["last_changed_at_iso"]) == (times[11], repository.iso(times[11]))
    assert (listed["last_changed_at"], listed["last_changed_at_iso"]) == (times[11], "2025-12-09T10:41:00Z")


def test_last_change_moves_when_a_delivery_an_amendment_or_a_verdict_arrives(eight) -> None:
    db, s, t = eight
    s.next_block().delivery(3, 1, 1, s.time)  # 12
    s.next_block(3600).amend(4, 1, previous_target=10, previous_due=t - DAY, due=t + 60 * DAY)  # 13, an hour later
    s.next_block().confirm(2, 1)  # 14: a confirmer's verdict on 2's delivery
    s.next_block().registrar(1, OTHER)  # 15: a role change concerns no commitment
    s.emit("Paused", account=OTHER)
    apply(db, s)
    times = s.block_times
    assert (last_change(db, 3), last_change(db, 4), last_change(db, 2)) == (
        (12, 0, times[12]), (13, 0, times[12] + 3600), (14, 0, times[14]))
    assert ids(db, s.time, "-last_change") == [2, 4, 3, 6, 1, 5, 8, 7]
    assert ids(db, s.time, "last_change")[:3] == [7, 8, 5]
    # the amendment moved 4's due date as well: it is no longer first by due date, nor overdue
    assert ids(db, s.time, "due_date") == [5, 2, 7, 6, 1, 3, 8, 4]
    assert ids(db, s.time, "status") == [1, 3, 7, 4, 5, 2, 8, 6]  # 3 is in progress, 4 pending


# ---------------------------------------------------------------------------- batches and charts


def batch_story() -> tuple[Script, BatchFile, int]:
    """Commitments 1 and 2 (target 10 each). Block 8: two recorded deliveries of 1, stated
    3 and 5 days before (the second names asset "Lamp 1"). Block 9: a double count of
    "Lamp 1" and a delivery of 7. Block 10: a batch of five leaves: 2 (3), 1 (4), 1 (1, "Lamp 1":
    refused), 1 (2, stated 6 days before), 1 (9). Block 11: the 7 and the leaf of 9 revoked.
    Block 12: a verdict on 2's leaf."""
    s = base_script()
    t = s.time
    s.next_block()  # 7
    s.commitment(1, target_quantity=10, due_date=t + 30 * DAY)
    s.commitment(2, target_quantity=10, due_date=t + 30 * DAY)
    s.next_block()  # 8
    s.delivery(1, 1, 2, t - 3 * DAY)
    s.delivery(1, 2, 1, t - 5 * DAY, asset_ref="Lamp 1")
    s.next_block()  # 9
    s.delivery(1, 3, 5, t - DAY, asset_ref="Lamp 1")  # a double count: counts nothing
    s.delivery(1, 4, 7, t)
    f = build([
        leaf(2, 3, t - 2 * DAY),
        leaf(1, 4, t - DAY),
        leaf(1, 1, t - DAY, asset="Lamp 1"),  # asset_already_counted
        leaf(1, 2, t - 6 * DAY),
        leaf(1, 9, t - 2 * DAY, ref="negen"),
    ])
    s.next_block().anchor(f.root, f.sha256, 5)  # 10
    s.next_block()  # 11
    s.revoke(1, 4)
    s.revoke_leaf(f.root, f.leaf_hashes[4], 1)
    s.next_block().confirm_leaf(f.root, f.leaf_hashes[0], 2)  # 12
    return s, f, t


def test_batched_leaves_count_in_progress_and_their_anchor_is_a_change(db: Database) -> None:
    s, f, t = batch_story()
    until_anchor = [e for e in s.events if e.block_number <= 10]
    with db.sessions.begin() as session:
        apply_events(session, until_anchor, s.block_times, batch_files={f.sha256: f.data}.get)
    # 2 + 1 + 7 recorded, 4 + 2 + 9 batched of 10
    assert (row(db, 1).delivered_quantity, row(db, 1).progress_bps, row(db, 2).progress_bps) == (25, 25000, 3000)
    # one anchor is the last change of both: a tie, by id both ways
    assert last_change(db, 1) == last_change(db, 2) == (10, 0, s.block_times[10])
    assert ids(db, s.time, "last_change") == ids(db, s.time, "-last_change") == [1, 2]
    apply(db, s, {f.sha256: f.data})
    assert (row(db, 1).delivered_quantity, row(db, 1).progress_bps) == (9, 9000)  # the 7 and the leaf of 9 revoked
    assert (last_change(db, 1), last_change(db, 2)) == ((11, 1, s.block_times[11]), (12, 0, s.block_times[12]))
    assert ids(db, s.time, "-last_change") == [2, 1]
    assert ids(db, s.time, "-progress") == [1, 2]


def test_a_batch_file_that_arrives_late_gives_the_same_progress_and_last_change(db: Database, tmp_path) -> None:
    s, f, _ = batch_story()
    apply(db, s)  # no file: the batch counts nothing and concerns no commitment yet
    assert (row(db, 1).progress_bps, row(db, 2).progress_bps) == (3000, 0)  # 2 + 1 recorded, of 10
    assert last_change(db, 2) == (12, 0, s.block_times[12])  # the verdict names it
    assert last_change(db, 1) == (11, 1, s.block_times[11])  # the batched revocation names it
    with db.sessions.begin() as session:
        assert recheck_missing_batches(session, {f.sha256: f.data}.get) == [f.root]
    with fresh_database(db.backend, tmp_path) as other:
        apply(other, s, {f.sha256: f.data})
        assert dump_index(db.engine) == dump_index(other.engine)
    assert (row(db, 1).progress_bps, row(db, 2).progress_bps) == (9000, 3000)


def test_delivery_points_are_the_counted_deliveries_by_recording_time_then_stated_date(db: Database) -> None:
    s, f, t = batch_story()
    apply(db, s, {f.sha256: f.data})
    times = s.block_times
    with db.sessions() as session:
        points = repository.commitment_delivery_points(session, 1)
        second = repository.commitment_delivery_points(session, 2)
        assert repository.commitment_delivery_points(session, 99) == []
    assert points == [
        {"kind": "recorded", "id": did(1, 2), "quantity": 1, "delivered_at": t - 5 * DAY, "recorded_at": times[8]},
        {"kind": "recorded", "id": did(1, 1), "quantity": 2, "delivered_at": t - 3 * DAY, "recorded_at": times[8]},
        {"kind": "batched", "id": f.leaf_hashes[3], "quantity": 2, "delivered_at": t - 6 * DAY, "recorded_at": times[10]},
        {"kind": "batched", "id": f.leaf_hashes[1], "quantity": 4, "delivered_at": t - DAY, "recorded_at": times[10]},
    ]
    assert sum(p["quantity"] for p in points) == row(db, 1).delivered_quantity == 9
    assert second == [
        {"kind": "batched", "id": f.leaf_hashes[0], "quantity": 3, "delivered_at": t - 2 * DAY, "recorded_at": times[10]},
    ]


def test_chart_rows_give_every_commitment_with_both_clocks_and_statuses(eight) -> None:
    db, s, t = eight
    times = s.block_times
    registered = times[7]

    def chart_row(cid: int, mid: int, due: int, status: str, on_record: str, *, promised: int = t + 12 - DAY,
                  met: int | None = None, met_on_record: int | None = None, withdrawn_at: int | None = None) -> dict:
        return {"id": cid, "municipality_id": mid, "due_date": due, "original_due_date": due, "promised_at": promised,
                "registered_at": registered, "met_at": met, "met_on_record_at": met_on_record,
                "withdrawn": withdrawn_at is not None, "withdrawn_at": withdrawn_at, "status": status,
                "status_on_record": on_record}

    expected = [
        chart_row(1, 1, t + 30 * DAY, "in_progress", "in_progress"),
        chart_row(2, 1, t + 10 * DAY, "delivered", "delivered", met=t, met_on_record=times[8]),
        chart_row(3, 1, t + 30 * DAY, "pending", "pending"),
        chart_row(4, 1, t - DAY, "overdue", "overdue", promised=t - 10 * DAY),
        chart_row(5, 1, t + 5 * DAY, "delivered_late", "delivered_late", met=times[10], met_on_record=times[10]),
        chart_row(6, 1, t + 20 * DAY, "withdrawn", "withdrawn", withdrawn_at=times[11]),
        chart_row(7, 2, t + 15 * DAY, "in_progress", "in_progress"),
        chart_row(8, 1, t + 40 * DAY, "delivered", "delivered", met=t, met_on_record=times[8]),
    ]
    with db.sessions() as session:
        assert repository.commitment_chart_rows(session, s.time) == expected
        assert repository.commitment_chart_rows(session, s.time, 2) == [expected[6]]
        assert repository.commitment_chart_rows(session, s.time, 3) == []
        later = repository.commitment_chart_rows(session, t + 31 * DAY)
    assert [(r["id"], r["status"]) for r in later if r["status"] == "overdue"] == [(1, "overdue"), (3, "overdue"),
                                                                                   (4, "overdue"), (7, "overdue")]
