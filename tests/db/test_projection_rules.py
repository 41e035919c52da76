"""The projection (ledger/db/projection.py) and the read side (repository.py) on hand-built v2
events, on SQLite and PostgreSQL: order, idempotence, both clocks, both sets of terms, the
backdating, relaxed-terms and takeover stories as indexed facts, roles, checkpoint."""

from __future__ import annotations

import random
import re

import pytest
from sqlalchemy import select

from ledger.db import repository
from ledger.db.models import Commitment, Delivery, EventRow, EvidenceCitation, Municipality
from ledger.db.projection import apply_events, load_checkpoint, save_chain_head, save_checkpoint
from ledger.errors import ProjectionError
from ledger.status import RECORDED_LATE_AFTER_SECONDS
from tests.db.databases import Database, dump_index, fresh_database
from tests.db.script import ADMIN, DAY, OTHER, REGISTRAR, START_TIME, ZERO_ADDRESS, Script, did, sha

ALL_ZERO = {"pending": 0, "in_progress": 0, "delivered": 0, "delivered_late": 0, "overdue": 0, "withdrawn": 0}


def apply(db: Database, script: Script, events=None) -> int:
    with db.sessions.begin() as session:
        return apply_events(session, script.events if events is None else events, script.block_times)


def commitment_row(db: Database, commitment_id: int) -> Commitment:
    with db.sessions() as session:
        row = session.get(Commitment, commitment_id)
        assert row is not None
        return row


def detail(db: Database, commitment_id: int, now: int) -> dict:
    with db.sessions() as session:
        found = repository.get_commitment(session, commitment_id, now)
        assert found is not None
        return found


def base_script() -> Script:
    s = Script()
    s.emit("OwnershipTransferred", previous_owner=ZERO_ADDRESS, new_owner=ADMIN)
    s.next_block().municipality(1)
    s.next_block().registrar(1)
    return s


def rich_script() -> Script:
    """Every event of the v2 interface, in several blocks, several per block."""
    s = base_script()
    t = s.time
    s.next_block().commitment(1, due_date=t + 10 * DAY, target_quantity=100)
    s.commitment(2, theme="Duurzaamheid", source_document_hash=sha("source"))
    s.next_block().delivery(1, 1, 60, t - 2 * DAY, [sha("a"), sha("b")])
    s.delivery(1, 2, 50, t - 3 * DAY, [sha("b")])
    s.next_block().revoke(1, 1)
    s.amend(1, 1, previous_target=100, target=40, previous_due=t + 10 * DAY, due=t + 20 * DAY, title="Minder")
    s.next_block().delivery(2, 1, 1, t, [sha("c")])
    s.withdraw(2)
    s.emit("Paused", account=ADMIN)
    s.emit("Unpaused", account=ADMIN)
    s.emit("MunicipalityAdminProposed", municipality_id=1, current_admin=ADMIN, proposed_admin=OTHER)
    s.emit("AdminRecoveryStarted", municipality_id=1, proposed_admin=REGISTRAR, by=ADMIN, executable_at=t + 42 * DAY)
    s.emit("AdminRecoveryCancelled", municipality_id=1, proposed_admin=REGISTRAR, by=ADMIN)
    s.emit("MunicipalityAdminChanged", municipality_id=1, previous_admin=ADMIN, new_admin=OTHER, recovered=False)
    s.emit("RegistrarRemoved", municipality_id=1, account=REGISTRAR, by=OTHER)
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
        for batch in [events[: half + 3], events[half - 3 :], events]:
            shuffled = list(batch)
            random.Random(7).shuffle(shuffled)
            apply(other, s, shuffled)
        assert dump_index(other.engine) == expected


# ---------------------------------------------------------------------------- the stories


def test_a_delivery_dated_1970_on_an_overdue_commitment_is_shown_as_recorded_late(db: Database) -> None:
    s = base_script()
    t = s.time
    s.next_block().commitment(1, target_quantity=100, due_date=t + 10 * DAY)
    registered_at = s.time
    s.next_block(20 * DAY).delivery(1, 1, 100, 1, [sha("proof")])  # "delivered" on 1 January 1970
    recorded_at = s.time
    apply(db, s)
    d = detail(db, 1, recorded_at)
    assert recorded_at == START_TIME + 36 + 20 * DAY
    delivery = d["deliveries"][0]
    assert (delivery["id"], delivery["delivery_number"]) == (1_000_001, 1)
    assert (delivery["delivered_at"], delivery["delivered_at_iso"]) == (1, "1970-01-01T00:00:01Z")
    assert (delivery["recorded_at"], delivery["recorded_at_iso"]) == (recorded_at, "2025-12-19T10:40:36Z")
    assert delivery["recording_lag_seconds"] == recorded_at - 1
    assert delivery["recording_lag_days"] == 20441
    assert delivery["recorded_late"] is True
    # claimed: met in 1970, "on time"; on record: met 10 days after the due date
    assert (d["status"], d["met_at"]) == ("delivered", 1)
    assert (d["status_on_record"], d["met_on_record_at"]) == ("delivered_late", recorded_at)
    assert d["met_on_record_at_iso"] == "2025-12-19T10:40:36Z"
    assert d["recorded_late_count"] == 1
    assert d["met_only_under_relaxed_terms"] is False
    assert d["registered"]["block_time"] == registered_at
    with db.sessions() as session:
        page, total = repository.list_commitments(session, recorded_at, recorded_late=True)
        assert ([c["id"] for c in page], total) == ([1], 1)
        assert repository.list_commitments(session, recorded_at, recorded_late=False) == ([], 0)
        late, count = repository.list_deliveries(session, recorded_late=True, now=recorded_at)
    assert count == 1 and late[0]["commitment_title"] == "Commitment 1" and late[0]["commitment_status"] == "delivered"


def test_a_commitment_40_of_100_done_and_amended_to_40_after_its_due_date_is_met_only_under_relaxed_terms(
    db: Database,
) -> None:
    s = base_script()
    t = s.time
    due = t + 10 * DAY
    s.next_block().commitment(1, target_quantity=100, due_date=due)
    s.next_block(DAY).delivery(1, 1, 40, s.time)
    delivered_at = s.time
    s.next_block(20 * DAY).amend(1, 1, previous_target=100, previous_due=due, target=40, reason="budget cut")
    amended_at = s.time
    apply(db, s)
    d = detail(db, 1, amended_at)
    assert (d["status"], d["met_at"]) == ("delivered", delivered_at)
    assert (d["status_on_record"], d["met_on_record_at"]) == ("delivered_late", amended_at)
    assert (d["status_original_terms"], d["met_at_original_terms"]) == ("overdue", None)
    assert (d["status_on_record_original_terms"], d["met_on_record_at_original_terms"]) == ("overdue", None)
    assert d["met_only_under_relaxed_terms"] is True
    assert (d["target_quantity"], d["original_target_quantity"], d["delivered_quantity"]) == ("40", "100", "40")
    assert (d["progress_bps"], d["progress_bps_original_terms"]) == (10_000, 4_000)
    assert (d["amendment_count"], d["amended_after_due_date"], d["target_lowered"]) == (1, True, True)
    assert (d["due_date"], d["original_due_date"]) == (due, due)
    assert d["amendments"] == [
        {
            "amendment_number": 1,
            "fields": ["target_quantity"],
            "title": None,
            "description": None,
            "previous_target_quantity": "100",
            "target_quantity": "40",
            "previous_due_date": due,
            "previous_due_date_iso": repository.iso(due),
            "due_date": due,
            "due_date_iso": repository.iso(due),
            "reason": "budget cut",
            "registrar": REGISTRAR,
            "amended_at": amended_at,
            "amended_at_iso": repository.iso(amended_at),
            "after_due_date": True,
            "lowered_target": True,
            "extended_due_date": False,
            "signer_held_role": True,
            "chain": d["timeline"][-1]["chain"],
        }
    ]
    with db.sessions() as session:
        def ids(**filters) -> list[int]:
            return [c["id"] for c in repository.list_commitments(session, amended_at, **filters)[0]]

        assert ids(met_only_under_relaxed_terms=True) == [1]
        assert ids(met_only_under_relaxed_terms=False) == []
        assert ids(amended_after_due_date=True) == [1]
        assert ids(statuses=["delivered"], statuses_on_record=["delivered_late"]) == [1]
        assert ids(statuses_on_record=["delivered"]) == []


def test_moving_the_due_date_of_an_overdue_commitment_shows_the_deadline_moved_after_it_was_missed(db: Database) -> None:
    s = base_script()
    t = s.time
    due = t + 10 * DAY
    s.next_block().commitment(1, target_quantity=100, due_date=due)
    s.next_block(20 * DAY).amend(1, 1, previous_target=100, previous_due=due, due=due + 3650 * DAY)
    now = s.time
    apply(db, s)
    d = detail(db, 1, now)
    assert (d["status"], d["status_on_record"]) == ("pending", "pending")
    assert (d["status_original_terms"], d["status_on_record_original_terms"]) == ("overdue", "overdue")
    assert d["met_only_under_relaxed_terms"] is False  # pending is no verdict of delivery
    assert (d["amended_after_due_date"], d["target_lowered"]) == (True, False)
    amendment = d["amendments"][0]
    assert (amendment["fields"], amendment["after_due_date"], amendment["extended_due_date"]) == (["due_date"], True, True)


def test_the_on_record_clock_follows_revocations_and_target_changes_as_the_contract(db: Database) -> None:
    s = base_script()
    t = s.time
    due = t + 100 * DAY
    s.next_block().commitment(1, target_quantity=10, due_date=due)
    s.next_block().delivery(1, 1, 6, t)
    s.next_block().delivery(1, 2, 6, t)
    first_met = s.time
    apply(db, s)
    c = commitment_row(db, 1)
    assert (c.delivered_quantity, c.met_on_record_at, c.met_on_record_at_original_terms) == (12, first_met, first_met)

    s.next_block().amend(1, 1, previous_target=10, previous_due=due, target=8)  # lowered, still met: kept
    apply(db, s)
    assert commitment_row(db, 1).met_on_record_at == first_met

    s.next_block().amend(1, 2, previous_target=8, previous_due=due, target=12)  # raised, still met: from now
    raised_at = s.time
    apply(db, s)
    c = commitment_row(db, 1)
    assert (c.met_on_record_at, c.met_on_record_at_original_terms) == (raised_at, first_met)

    s.next_block().revoke(1, 1)  # 6 < 12 and 6 < 10: not met on either terms
    apply(db, s)
    c = commitment_row(db, 1)
    assert (c.delivered_quantity, c.met_on_record_at, c.met_on_record_at_original_terms, c.met_at) == (6, None, None, None)

    s.next_block().amend(1, 3, previous_target=12, previous_due=due, target=5)  # lowered below the total: met now
    lowered_at = s.time
    apply(db, s)
    c = commitment_row(db, 1)
    assert (c.met_on_record_at, c.met_on_record_at_original_terms, c.met_at) == (lowered_at, None, t)


def test_claimed_met_at_is_the_earliest_date_where_counted_deliveries_reach_the_target(db: Database) -> None:
    s = base_script()
    t = s.time
    s.next_block().commitment(1, target_quantity=100, due_date=t + DAY, promised_at=t - 10 * DAY)
    s.next_block().delivery(1, 1, 30, t - 1 * DAY)  # recorded first, dated last
    s.delivery(1, 2, 50, t - 5 * DAY)
    apply(db, s)
    c = commitment_row(db, 1)
    assert (c.delivered_quantity, c.met_at) == (80, None)

    s.next_block().delivery(1, 3, 20, t - 3 * DAY)
    apply(db, s)
    c = commitment_row(db, 1)
    # by date: 50 (t-5d), 20 (t-3d) = 70, 30 (t-1d) = 100 -> met at t-1d
    assert (c.delivered_quantity, c.met_at, c.met_at_original_terms) == (100, t - 1 * DAY, t - 1 * DAY)

    s.next_block().amend(1, 1, previous_target=100, previous_due=t + DAY, target=70)
    apply(db, s)
    c = commitment_row(db, 1)
    assert (c.met_at, c.met_at_original_terms) == (t - 3 * DAY, t - 1 * DAY)

    s.next_block().revoke(1, 2)  # the 50 no longer counts: 20 + 30 = 50 < 70
    apply(db, s)
    c = commitment_row(db, 1)
    assert (c.delivered_quantity, c.met_at, c.met_at_original_terms) == (50, None, None)


def test_same_day_deliveries_meet_the_target_on_that_day(db: Database) -> None:
    s = base_script()
    t = s.time
    s.next_block().commitment(1, target_quantity=10)
    s.next_block().delivery(1, 1, 5, t - DAY)
    s.delivery(1, 2, 5, t - DAY)
    s.delivery(1, 3, 5, t - 2 * DAY)
    apply(db, s)
    assert commitment_row(db, 1).met_at == t - DAY


def test_recorded_late_starts_strictly_after_thirty_days(db: Database) -> None:
    s = base_script()
    s.next_block(40 * DAY).commitment(1, target_quantity=10, promised_at=START_TIME - 100 * DAY)
    now = s.time
    s.delivery(1, 1, 1, now - RECORDED_LATE_AFTER_SECONDS)
    s.delivery(1, 2, 1, now - RECORDED_LATE_AFTER_SECONDS - 1)
    s.next_block().revoke(1, 2)
    apply(db, s)
    with db.sessions() as session:
        rows = session.execute(
            select(Delivery.id, Delivery.recording_lag_seconds, Delivery.recorded_late).order_by(Delivery.id)
        ).all()
    assert rows == [(did(1, 1), 2_592_000, False), (did(1, 2), 2_592_001, True)]
    assert commitment_row(db, 1).recorded_late_count == 0  # the late one is revoked


def test_a_commitment_registered_after_its_due_date_is_a_historical_record(db: Database) -> None:
    s = base_script()
    t = s.time
    s.next_block().commitment(1, promised_at=t - 1000 * DAY, due_date=t - 10 * DAY)
    s.commitment(2, promised_at=t - 1000 * DAY, due_date=s.time)
    apply(db, s)
    with db.sessions() as session:
        page, _ = repository.list_commitments(session, s.time)
        historical = [c["id"] for c in repository.list_commitments(session, s.time, historical_record=True)[0]]
    assert [(c["id"], c["historical_record"], c["registration_lag_days"]) for c in page] == [(1, True, 1000), (2, False, 1000)]
    assert page[0]["promised_at_iso"] == "2023-03-05T10:40:24Z"
    assert historical == [1]


# ---------------------------------------------------------------------------- roles and admin


def test_signer_held_role_is_read_from_registrar_events_at_each_log(db: Database) -> None:
    s = base_script()
    s.next_block().commitment(1)
    s.next_block().unregistrar(1)
    s.delivery(1, 1, 1, s.time)  # signed by an account that no longer held the role
    s.next_block().registrar(1)
    s.revoke(1, 1)
    apply(db, s)
    d = detail(db, 1, s.time)
    assert d["signer_held_role"] is True
    assert d["deliveries"][0]["signer_held_role"] is False
    assert d["deliveries"][0]["revocation"]["signer_held_role"] is True
    with db.sessions() as session:
        m = repository.get_municipality(session, 1, s.time)
    assert [(h["account"], h["removed"] is None) for h in m["registrar_history"]] == [(REGISTRAR, False), (REGISTRAR, True)]
    assert m["registrars"] == [REGISTRAR]


def test_a_lost_admin_key_recovered_after_the_public_delay_is_shown_as_a_recovery(db: Database) -> None:
    s = base_script()
    t = s.time
    s.next_block().emit("AdminRecoveryStarted", municipality_id=1, proposed_admin=OTHER, by=ADMIN, executable_at=t + 42 * DAY)
    started_block, started_time = s.block, s.time
    s.emit("MunicipalityAdminProposed", municipality_id=1, current_admin=ADMIN, proposed_admin=REGISTRAR)
    apply(db, s)
    with db.sessions() as session:
        m = repository.get_municipality(session, 1, s.time)
    assert m["pending_admin"] == REGISTRAR
    assert m["recovery"] == {
        "proposed_admin": OTHER,
        "executable_at": t + 42 * DAY,
        "executable_at_iso": repository.iso(t + 42 * DAY),
        "started_by": ADMIN,
        "started": {
            "tx_hash": s.events[-2].transaction_hash,
            "block_number": started_block,
            "log_index": 0,
            "block_time": started_time,
            "block_time_iso": repository.iso(started_time),
        },
    }
    s.next_block(42 * DAY).emit("MunicipalityAdminChanged", municipality_id=1, previous_admin=ADMIN, new_admin=OTHER, recovered=True)
    apply(db, s)
    with db.sessions() as session:
        m = repository.get_municipality(session, 1, s.time)
    assert (m["admin"], m["pending_admin"], m["recovery"]) == (OTHER, None, None)
    assert [(c["previous_admin"], c["new_admin"], c["recovered"], c["chain"]["block_number"]) for c in m["admin_changes"]] == [
        (ADMIN, OTHER, True, s.block)
    ]


def test_a_cancelled_proposal_and_recovery_leave_nothing_pending(db: Database) -> None:
    s = base_script()
    s.next_block().emit("MunicipalityAdminProposed", municipality_id=1, current_admin=ADMIN, proposed_admin=OTHER)
    s.emit("AdminRecoveryStarted", municipality_id=1, proposed_admin=OTHER, by=ADMIN, executable_at=s.time + 42 * DAY)
    s.next_block().emit("MunicipalityAdminProposed", municipality_id=1, current_admin=ADMIN, proposed_admin=ZERO_ADDRESS)
    s.emit("AdminRecoveryCancelled", municipality_id=1, proposed_admin=OTHER, by=ADMIN)
    apply(db, s)
    with db.sessions() as session:
        m = repository.get_municipality(session, 1, s.time)
    assert (m["admin"], m["pending_admin"], m["recovery"], m["admin_changes"]) == (ADMIN, None, None, [])


def test_pause_and_version_reach_the_health_checkpoint(db: Database) -> None:
    s = base_script()
    s.next_block().emit("Paused", account=ADMIN)
    with db.sessions.begin() as session:
        apply_events(session, s.events, s.block_times)
        save_checkpoint(session, s.block, "0x" + "ab" * 32, s.block, 1, contract_version="2.1.0", updated_at=1)
    with db.sessions() as session:
        assert repository.get_checkpoint(session) == {
            "last_block": s.block, "last_block_hash": "0x" + "ab" * 32, "chain_head_block": s.block,
            "head_seen_at": 1, "contract_version": "2.1.0", "paused": True,
        }
    s.next_block().emit("Unpaused", account=ADMIN)
    apply(db, s)
    with db.sessions() as session:
        assert repository.get_checkpoint(session)["paused"] is False


def test_ownership_events_are_kept_in_the_event_log_only(db: Database) -> None:
    s = base_script()
    s.next_block().emit("OwnershipTransferStarted", previous_owner=ADMIN, new_owner=OTHER)
    apply(db, s)
    with db.sessions() as session:
        names = session.scalars(select(EventRow.name).order_by(EventRow.block_number, EventRow.log_index)).all()
        ownership = session.scalars(select(EventRow).where(EventRow.name.like("Ownership%"))).all()
    assert names == ["OwnershipTransferred", "MunicipalityRegistered", "RegistrarAdded", "OwnershipTransferStarted"]
    assert [(e.municipality_id, e.commitment_id, e.delivery_id) for e in ownership] == [(None, None, None)] * 2
    assert ownership[1].args == {"previous_owner": ADMIN, "new_owner": OTHER}


# ---------------------------------------------------------------------------- evidence, texts, errors


def test_evidence_hashes_of_a_delivery_are_cited_in_their_order(db: Database) -> None:
    s = base_script()
    t = s.time
    s.next_block().commitment(1)
    s.next_block().delivery(1, 1, 5, t, [sha("b"), sha("a")])
    s.delivery(1, 2, 5, t, [sha("a")])
    apply(db, s)
    with db.sessions() as session:
        rows = session.execute(
            select(EvidenceCitation.delivery_id, EvidenceCitation.sha256, EvidenceCitation.position).order_by(
                EvidenceCitation.delivery_id, EvidenceCitation.position
            )
        ).all()
        verified = repository.verify_hash(session, sha("a"))
    assert rows == [(did(1, 1), sha("b"), 0), (did(1, 1), sha("a"), 1), (did(1, 2), sha("a"), 0)]
    d = detail(db, 1, t)
    assert [[e["sha256"] for e in x["evidence"]] for x in d["deliveries"]] == [[sha("b"), sha("a")], [sha("a")]]
    assert d["timeline"][1]["details"]["evidence_sha256"] == [sha("b"), sha("a")]
    assert [(c["delivery_id"], c["recorded_late"], c["signer_held_role"]) for c in verified["citations"]] == [
        (did(1, 1), False, True), (did(1, 2), False, True),
    ]


def test_amendments_change_only_the_fields_they_name(db: Database) -> None:
    s = base_script()
    t = s.time
    s.next_block().commitment(1, title="Oud", description="oude tekst", due_date=t + 10 * DAY)
    s.next_block().amend(1, 1, previous_target=100, previous_due=t + 10 * DAY, description="nieuwe tekst")
    apply(db, s)
    d = detail(db, 1, s.time)
    assert (d["title"], d["description"], d["target_quantity"], d["due_date"]) == ("Oud", "nieuwe tekst", "100", t + 10 * DAY)
    assert (d["amendments"][0]["fields"], d["amendments"][0]["title"]) == (["description"], None)
    assert d["timeline"][1]["details"]["fields"] == ["description"]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.delivery(42, 9, 1, s.time), "unknown commitments 42"),
        (lambda s: s.revoke(1, 77), "unknown deliveries 1000077"),
        (lambda s: s.commitment(5, municipality_id=9), "unknown municipalities 9"),
        (lambda s: s.unregistrar(1, OTHER), r"unknown registrars \(1, "),
        (lambda s: s.emit("EvidenceCited", evidence_hash=sha("x"), delivery_id=1, commitment_id=1), "No projection for event EvidenceCited"),
    ],
)
def test_an_event_that_does_not_fit_the_index_is_kept_with_its_error_and_nothing_else_is_written(
    db: Database, mutate, message
) -> None:
    s = base_script()
    s.next_block().commitment(1)
    apply(db, s)
    before = dump_index(db.engine)
    s.next_block()
    mutate(s)
    apply(db, s)  # never raises: a data error must not stop the indexer
    after = dump_index(db.engine)
    bad = s.events[-1]
    assert [(e["block_number"], e["log_index"], e["error_type"]) for e in after["event_errors"]] == [
        (bad.block_number, bad.log_index, "ProjectionError"),
    ]
    assert re.search(message, after["event_errors"][0]["detail"])
    assert [(e["block_number"], e["log_index"]) for e in after["events"]] == [
        (e["block_number"], e["log_index"]) for e in before["events"]
    ] + [(bad.block_number, bad.log_index)]
    assert {k: v for k, v in after.items() if k not in ("events", "event_errors")} == {
        k: v for k, v in before.items() if k not in ("events", "event_errors")
    }


def test_an_event_without_its_block_time_is_refused(db: Database) -> None:
    s = base_script()
    with pytest.raises(ProjectionError, match="No block time given for block 5"):
        with db.sessions.begin() as session:
            apply_events(session, s.events, {})


def test_checkpoint_round_trip_and_head_only_updates(db: Database) -> None:
    with db.sessions.begin() as session:
        assert load_checkpoint(session) is None
        save_chain_head(session, 3, 1_700_000_000, contract_address="0xC0", contract_version="2.1.0", updated_at=1)
    with db.sessions.begin() as session:
        cp = load_checkpoint(session)
        assert (cp.last_block, cp.last_block_hash, cp.chain_head_block, cp.head_seen_at) == (None, None, 3, 1_700_000_000)
        save_checkpoint(session, 9, "0x" + "ab" * 32, 12, 1_700_000_100, updated_at=2)
    with db.sessions.begin() as session:
        cp = load_checkpoint(session)
        assert (cp.contract_address, cp.contract_version, cp.updated_at) == ("0xC0", "2.1.0", 2)
        save_chain_head(session, 15, 1_700_000_200, updated_at=3)
    with db.sessions() as session:
        assert repository.get_checkpoint(session) == {
            "last_block": 9,
            "last_block_hash": "0x" + "ab" * 32,
            "chain_head_block": 15,
            "head_seen_at": 1_700_000_200,
            "contract_version": "2.1.0",
            "paused": False,
        }


# ---------------------------------------------------------------------------- reads


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


def test_list_deliveries_filters_by_municipality_commitment_and_lateness_and_pages(db: Database) -> None:
    s = base_script()
    s.next_block().municipality(2, "Utrecht", "GM0344")
    s.registrar(2)
    s.next_block(40 * DAY).commitment(1, promised_at=START_TIME - 100 * DAY)
    s.commitment(2, municipality_id=2, promised_at=START_TIME - 100 * DAY)
    now = s.time
    s.delivery(1, 1, 1, now - 35 * DAY)
    s.delivery(1, 2, 1, now)
    s.delivery(2, 1, 1, now - 31 * DAY)
    apply(db, s)
    with db.sessions() as session:
        def ids(**filters) -> tuple[list[int], int]:
            page, total = repository.list_deliveries(session, now=now, **filters)
            return [d["id"] for d in page], total

        assert ids() == ([did(1, 1), did(1, 2), did(2, 1)], 3)
        assert ids(recorded_late=True) == ([did(1, 1), did(2, 1)], 2)
        assert ids(recorded_late=False) == ([did(1, 2)], 1)
        assert ids(municipality_id=2) == ([did(2, 1)], 1)
        assert ids(commitment_id=1, recorded_late=True) == ([did(1, 1)], 1)
        assert ids(offset=1, limit=1) == ([did(1, 2)], 3)
        first = repository.list_deliveries(session, now=now, limit=1)[0][0]
        for kwargs in ({"limit": 0}, {"limit": 101}, {"offset": -1}):
            with pytest.raises(ValueError):
                repository.list_deliveries(session, now=now, **kwargs)
        assert repository.commitment_municipality_ids(session, [1, 2, 99]) == {1, 2}
    assert (first["recording_lag_days"], first["municipality_name"], first["unit"]) == (35, "Baarn", "woningen")


def test_list_commitments_refuses_bad_paging_and_unknown_statuses(db: Database) -> None:
    with db.sessions() as session:
        for kwargs in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"statuses": ["done"]}, {"statuses_on_record": ["x"]}):
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
        assert repository.commitment_municipality_ids(session, []) == set()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1_764_412_800, "2025-11-29T10:40:00Z"),
        (1_774_994_399, "2026-03-31T21:59:59Z"),
        (951_782_400, "2000-02-29T00:00:00Z"),
        (253_402_300_799, "9999-12-31T23:59:59Z"),
        (None, None),
    ],
)
def test_iso_twins_are_utc_with_a_z(seconds, text) -> None:
    assert repository.iso(seconds) == text


def test_municipalities_count_both_clocks_and_zero_in_every_status(db: Database) -> None:
    s = base_script()
    t = s.time
    s.next_block().municipality(2, "Utrecht", "GM0344")
    s.next_block().commitment(1, target_quantity=1, due_date=t + 10 * DAY)
    s.commitment(2)
    s.next_block(20 * DAY).delivery(1, 1, 1, t)  # claimed on time, recorded after the due date
    apply(db, s)
    with db.sessions() as session:
        ms = repository.list_municipalities(session, s.time)
        rows = session.scalars(select(Municipality.id)).all()
    assert rows == [1, 2]
    assert [m["status_counts"] for m in ms] == [{**ALL_ZERO, "delivered": 1, "pending": 1}, ALL_ZERO]
    assert [m["status_on_record_counts"] for m in ms] == [{**ALL_ZERO, "delivered_late": 1, "pending": 1}, ALL_ZERO]
    assert [m["commitment_count"] for m in ms] == [2, 0]
