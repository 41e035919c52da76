"""The projection (ledger/db/projection.py) on hand-built events, on SQLite and PostgreSQL:
order, idempotence, met_at, citations, every event of the interface, checkpoint."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from ledger.db import repository
from ledger.db.models import Commitment, EventRow, EvidenceCitation, Municipality, Registrar
from ledger.db.projection import (
    MAX_STORED_SECONDS,
    apply_events,
    load_checkpoint,
    save_chain_head,
    save_checkpoint,
)
from ledger.errors import ProjectionError
from tests.db.databases import Database, dump_index, fresh_database
from tests.db.script import ADMIN, DAY, OTHER, REGISTRAR, ZERO_ADDRESS, Script, sha


def apply(db: Database, script: Script, events=None) -> int:
    with db.sessions.begin() as session:
        return apply_events(session, script.events if events is None else events, script.block_times)


def commitment_row(db: Database, commitment_id: int) -> Commitment:
    with db.sessions() as session:
        row = session.get(Commitment, commitment_id)
        assert row is not None
        return row


def base_script() -> Script:
    s = Script()
    s.emit("OwnershipTransferred", previous_owner=ZERO_ADDRESS, new_owner=ADMIN)
    s.next_block().municipality(1)
    s.next_block().registrar(1)
    return s


def rich_script() -> Script:
    """Every event of the interface, in several blocks, several per block."""
    s = base_script()
    t = s.time
    s.next_block().commitment(1, due_date=t + 10 * DAY, target_quantity=100)
    s.commitment(2, theme="Duurzaamheid", source_document_hash=sha("source"))
    s.next_block().delivery(1, 1, 60, t - 2 * DAY, [sha("a"), sha("b")])
    s.delivery(2, 1, 50, t - 3 * DAY, [sha("b")])
    s.next_block().revoke(1, 1)
    s.amend(1, 1, previous_target=100, target=40, previous_due=t + 10 * DAY, due=t + 20 * DAY)
    s.next_block().delivery(3, 2, 1, t, [sha("c")])
    s.withdraw(2)
    s.emit("RegistrarRemoved", municipality_id=1, account=REGISTRAR, by=ADMIN)
    s.emit("MunicipalityAdminChanged", municipality_id=1, previous_admin=ADMIN, new_admin=OTHER)
    s.next_block().emit("OwnershipTransferStarted", previous_owner=ADMIN, new_owner=OTHER)
    return s


def test_reapplying_the_same_events_changes_nothing(db: Database) -> None:
    s = rich_script()
    assert apply(db, s) == len(s.events)
    first = dump_index(db.engine)
    assert apply(db, s) == 0
    assert dump_index(db.engine) == first


def test_overlapping_and_shuffled_batches_give_the_same_index_as_one_ordered_pass(db: Database, tmp_path) -> None:
    s = rich_script()
    apply(db, s)
    expected = dump_index(db.engine)
    with fresh_database(db.backend, tmp_path) as other:
        events = list(s.events)
        # Blocks arrive in order (as the indexer fetches them) but overlapping and shuffled
        # inside each batch.
        half = len(events) // 2
        batches = [events[: half + 3], events[half - 3 :], events]
        for batch in batches:
            shuffled = list(batch)
            random.Random(7).shuffle(shuffled)
            apply(other, s, shuffled)
        assert dump_index(other.engine) == expected


def test_met_at_is_the_earliest_date_where_counted_deliveries_reach_the_target(db: Database) -> None:
    s = base_script()
    t = s.time
    s.next_block().commitment(1, target_quantity=100, due_date=t + DAY)
    s.next_block().delivery(1, 1, 30, t - 1 * DAY)  # recorded first, dated last
    s.delivery(2, 1, 50, t - 5 * DAY)
    apply(db, s)
    c = commitment_row(db, 1)
    assert (c.delivered_quantity, c.met_at) == (80, None)

    s.next_block().delivery(3, 1, 20, t - 3 * DAY)
    apply(db, s)
    c = commitment_row(db, 1)
    # by date: 50 (t-5d), 20 (t-3d) = 70, 30 (t-1d) = 100 -> met at t-1d
    assert (c.delivered_quantity, c.met_at) == (100, t - 1 * DAY)

    s.next_block().amend(1, 1, previous_target=100, target=70, previous_due=t + DAY, due=t + DAY)
    apply(db, s)
    assert commitment_row(db, 1).met_at == t - 3 * DAY

    s.next_block().revoke(2, 1)  # the 50 no longer counts: 20 + 30 = 50 < 70
    apply(db, s)
    c = commitment_row(db, 1)
    assert (c.delivered_quantity, c.met_at) == (50, None)

    s.next_block().amend(1, 2, previous_target=70, target=50, previous_due=t + DAY, due=t - 2 * DAY)
    apply(db, s)
    c = commitment_row(db, 1)
    assert (c.delivered_quantity, c.met_at, c.target_quantity, c.due_date) == (50, t - 1 * DAY, 50, t - 2 * DAY)
    assert c.amendment_count == 2
    with db.sessions() as session:
        assert repository.get_commitment(session, 1, t)["status"] == "delivered_late"


def test_same_day_deliveries_meet_the_target_on_that_day(db: Database) -> None:
    s = base_script()
    t = s.time
    s.next_block().commitment(1, target_quantity=10)
    s.next_block().delivery(1, 1, 5, t - DAY)
    s.delivery(2, 1, 5, t - DAY)
    s.delivery(3, 1, 5, t - 2 * DAY)
    apply(db, s)
    assert commitment_row(db, 1).met_at == t - DAY


def test_each_evidence_hash_is_cited_once_per_delivery(db: Database) -> None:
    s = base_script()
    t = s.time
    s.next_block().commitment(1)
    # the contract accepts a hash twice in one list and then emits EvidenceCited twice
    s.next_block().delivery(1, 1, 5, t, [sha("a"), sha("b"), sha("a")])
    s.delivery(2, 1, 5, t, [sha("a")])
    apply(db, s)
    with db.sessions() as session:
        rows = session.execute(
            select(EvidenceCitation.delivery_id, EvidenceCitation.sha256, EvidenceCitation.position).order_by(
                EvidenceCitation.delivery_id, EvidenceCitation.position
            )
        ).tuples().all()
        detail = repository.get_commitment(session, 1, t)
    assert rows == [(1, sha("a"), 0), (1, sha("b"), 1), (2, sha("a"), 0)]
    assert [[e["sha256"] for e in d["evidence"]] for d in detail["deliveries"]] == [[sha("a"), sha("b")], [sha("a")]]
    # the timeline shows what the event recorded
    assert detail["timeline"][1]["details"]["evidence_sha256"] == [sha("a"), sha("b"), sha("a")]


def test_an_evidence_citation_missing_from_the_delivery_list_is_added_after_it(db: Database) -> None:
    s = base_script()
    s.next_block().commitment(1)
    s.next_block().delivery(1, 1, 5, s.time, [sha("a")])
    s.emit("EvidenceCited", evidence_hash=sha("z"), delivery_id=1, commitment_id=1)
    apply(db, s)
    with db.sessions() as session:
        rows = session.execute(
            select(EvidenceCitation.sha256, EvidenceCitation.position, EvidenceCitation.log_index).order_by(
                EvidenceCitation.position
            )
        ).tuples().all()
    assert rows == [(sha("a"), 0, 0), (sha("z"), 1, 2)]


def test_registrars_admin_and_ownership_events(db: Database) -> None:
    s = base_script()
    s.next_block().registrar(1, OTHER)
    s.emit("RegistrarRemoved", municipality_id=1, account=REGISTRAR, by=ADMIN)
    s.next_block().registrar(1, REGISTRAR)  # added again: active, listed after OTHER
    s.emit("MunicipalityAdminChanged", municipality_id=1, previous_admin=ADMIN, new_admin=OTHER)
    s.emit("OwnershipTransferStarted", previous_owner=ADMIN, new_owner=OTHER)
    apply(db, s)
    with db.sessions() as session:
        m = repository.get_municipality(session, 1, s.time)
        again = session.get(Registrar, (1, REGISTRAR))
        names = session.scalars(select(EventRow.name).order_by(EventRow.block_number, EventRow.log_index)).all()
        ownership = session.scalars(select(EventRow).where(EventRow.name.like("Ownership%"))).all()
    assert m["admin"] == OTHER
    assert m["registrars"] == [OTHER, REGISTRAR]
    assert again.active and again.removed_by is None and again.block_number == s.block
    assert names == [
        "OwnershipTransferred", "MunicipalityRegistered", "RegistrarAdded", "RegistrarAdded", "RegistrarRemoved",
        "RegistrarAdded", "MunicipalityAdminChanged", "OwnershipTransferStarted",
    ]
    assert [(e.municipality_id, e.commitment_id, e.delivery_id) for e in ownership] == [(None, None, None)] * 2
    assert ownership[1].args == {"previous_owner": ADMIN, "new_owner": OTHER}


def test_a_due_date_beyond_bigint_is_capped_in_rows_and_exact_in_the_timeline(db: Database) -> None:
    s = base_script()
    huge = 2**64 - 1
    s.next_block().commitment(1, due_date=huge)
    apply(db, s)
    with db.sessions() as session:
        detail = repository.get_commitment(session, 1, s.time)
    assert detail["due_date"] == MAX_STORED_SECONDS
    assert detail["due_date_iso"] == "+292277026596-12-04T15:30:07Z"
    assert detail["status"] == "pending"
    assert detail["timeline"][0]["details"]["due_date"] == huge


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.delivery(9, 42, 1, s.time), "unknown commitments 42"),
        (lambda s: s.revoke(77, 1), "unknown deliveries 77"),
        (lambda s: s.commitment(5, municipality_id=9), "unknown municipalities 9"),
        (lambda s: s.emit("Mystery", x=1), "No projection for event Mystery"),
    ],
)
def test_an_event_that_does_not_fit_the_index_is_refused_and_nothing_is_written(db: Database, mutate, message) -> None:
    s = base_script()
    s.next_block().commitment(1)
    apply(db, s)
    before = dump_index(db.engine)
    s.next_block()
    mutate(s)
    with pytest.raises(ProjectionError, match=message):
        apply(db, s)
    assert dump_index(db.engine) == before


def test_an_event_without_its_block_time_is_refused(db: Database) -> None:
    s = base_script()
    with pytest.raises(ProjectionError, match="No block time given for block 5"):
        with db.sessions.begin() as session:
            apply_events(session, s.events, {})


def test_checkpoint_round_trip_and_head_only_updates(db: Database) -> None:
    with db.sessions.begin() as session:
        assert load_checkpoint(session) is None
        save_chain_head(session, 3, 1_700_000_000, contract_address="0xC0", updated_at=1)
    with db.sessions.begin() as session:
        cp = load_checkpoint(session)
        assert (cp.last_block, cp.last_block_hash, cp.chain_head_block, cp.head_seen_at) == (None, None, 3, 1_700_000_000)
        save_checkpoint(session, 9, "0x" + "ab" * 32, 12, 1_700_000_100, updated_at=2)
    with db.sessions.begin() as session:
        cp = load_checkpoint(session)
        assert cp.contract_address == "0xC0" and cp.updated_at == 2
        save_chain_head(session, 15, 1_700_000_200, updated_at=3)
    with db.sessions() as session:
        assert repository.get_checkpoint(session) == {
            "last_block": 9,
            "last_block_hash": "0x" + "ab" * 32,
            "chain_head_block": 15,
            "head_seen_at": 1_700_000_200,
        }


def test_q_is_a_case_insensitive_literal_substring(db: Database) -> None:
    s = base_script()
    s.next_block().commitment(1, title="ÉÉN school", description="100% groen_dak")
    s.commitment(2, title="Twee", description="1000 groendak", external_ref="ÉXTRA-2")
    apply(db, s)
    with db.sessions() as session:
        def ids(q: str) -> list[int]:
            page, total = repository.list_commitments(session, s.time, q=q)
            assert total == len(page)
            return [c["id"] for c in page]

        assert ids("één") == [1]
        assert ids("%") == [1]
        assert ids("_") == [1]
        assert ids("0% G") == [1]
        assert ids("extra") == []  # É is not E
        assert ids("éxtra-") == [2]
        assert ids("groen") == [1, 2]
        assert ids("  ") == [1, 2]
        assert ids("school\x1f") == [1]


def test_list_commitments_refuses_bad_paging_and_unknown_statuses(db: Database) -> None:
    with db.sessions() as session:
        for kwargs in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"statuses": ["done"]}):
            with pytest.raises(ValueError):
                repository.list_commitments(session, 0, **kwargs)
        assert repository.list_commitments(session, 0, limit=100) == ([], 0)


def test_verify_hash_normalises_and_refuses_malformed_hashes(db: Database) -> None:
    with db.sessions() as session:
        upper = "0x" + "AB" * 32
        assert repository.verify_hash(session, upper) == {
            "sha256": "0x" + "ab" * 32, "found": False, "citations": [], "source_of": [],
        }
        assert repository.verify_hash(session, "ab" * 32)["sha256"] == "0x" + "ab" * 32
        for bad in ("0x1234", "zz" * 32, "0x" + "ab" * 33, ""):
            with pytest.raises(ValueError):
                repository.verify_hash(session, bad)


def test_unknown_ids_give_none(db: Database) -> None:
    with db.sessions() as session:
        assert repository.get_commitment(session, 1, 0) is None
        assert repository.get_municipality(session, 1, 0) is None
        assert repository.municipality_name(session, 1) is None
        assert repository.find_commitment_by_ref(session, 1, "x") is None
        assert repository.get_checkpoint(session) is None
        assert repository.list_municipalities(session, 0) == []
        assert repository.list_themes(session, None) == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1_764_412_800, "2025-11-29T10:40:00Z"),
        (1_774_994_399, "2026-03-31T21:59:59Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (253_402_300_799, "9999-12-31T23:59:59Z"),
        (253_402_300_800, "+10000-01-01T00:00:00Z"),
        (None, None),
    ],
)
def test_iso_twins_are_utc_with_a_z(seconds, text) -> None:
    assert repository.iso(seconds) == text


def test_municipalities_without_commitments_count_zero_in_every_status(db: Database) -> None:
    s = base_script()
    s.next_block().municipality(2, "Utrecht", "GM0344")
    s.next_block().commitment(1)
    apply(db, s)
    with db.sessions() as session:
        ms = repository.list_municipalities(session, s.time)
        rows = session.scalars(select(Municipality.id)).all()
    assert rows == [1, 2]
    assert [m["status_counts"] for m in ms] == [
        {"pending": 1, "in_progress": 0, "delivered": 0, "delivered_late": 0, "overdue": 0, "withdrawn": 0},
        {"pending": 0, "in_progress": 0, "delivered": 0, "delivered_late": 0, "overdue": 0, "withdrawn": 0},
    ]
    assert [m["commitment_count"] for m in ms] == [1, 0]
