"""Contract 2.1.0 in the index, on hand-built events, on SQLite and PostgreSQL: the roll-up of
sub-commitments (weights, nesting, withdrawn children) and confirmations (verdicts, review
states, the confirmed figures) as docs/LEDGER.md "Sub-commitments" and "Confirmations" define
them, with exact values."""

from __future__ import annotations

from sqlalchemy import select

from ledger.db import repository
from ledger.db.models import Verdict, VerdictEvent
from ledger.db.projection import apply_events
from tests.db.databases import Database, dump_index
from tests.db.script import ADMIN, CONFIRMER, DAY, INSPECTOR, OTHER, REGISTRAR, Script, did, sha


def apply(db: Database, script: Script) -> int:
    with db.sessions.begin() as session:
        return apply_events(session, script.events, script.block_times)


def detail(db: Database, commitment_id: int, now: int) -> dict:
    with db.sessions() as session:
        found = repository.get_commitment(session, commitment_id, now)
        assert found is not None
        return found


def rollup(db: Database, now: int, *ids: int) -> list[tuple]:
    """(id, children, rollup_progress_bps, counted, delivered, progress_bps) of each commitment."""
    result = []
    for cid in ids:
        d = detail(db, cid, now)
        result.append((cid, d["children"], d["rollup_progress_bps"], d["rollup_children_counted"],
                       d["rollup_children_delivered"], d["progress_bps"]))
    return result


def base_script() -> Script:
    s = Script()
    s.next_block().municipality(1)
    s.registrar(1)
    return s


# ---------------------------------------------------------------------------- roll-up


def family() -> Script:
    """1 (target 100) with children 2 (weight 1, 5 of 10), 3 (weight 3, 4 of 4 itself) and
    4 (weight 2, 5 of 5); 3 has children 5 (weight 1, 3 of 2) and 6 (weight 1, 2 of 8)."""
    s = base_script()
    t = s.time
    s.next_block().commitment(1, target_quantity=100)
    s.commitment(2, target_quantity=10, parent_id=1, weight=1)
    s.commitment(3, target_quantity=4, parent_id=1, weight=3)
    s.commitment(4, target_quantity=5, parent_id=1, weight=2)
    s.commitment(5, target_quantity=2, parent_id=3, weight=1)
    s.commitment(6, target_quantity=8, parent_id=3, weight=1)
    s.next_block().delivery(2, 1, 5, t)
    s.delivery(3, 1, 4, t)
    s.delivery(4, 1, 5, t)
    s.delivery(5, 1, 3, t)
    s.delivery(6, 1, 2, t)
    return s


def test_a_parent_rolls_up_its_childrens_progress_by_weight_through_grandchildren(db: Database) -> None:
    s = family()
    apply(db, s)
    # 5: 15000 capped at 10000; 6: 2500 -> 3 = (10000 + 2500) / 2 = 6250 (its own 4 of 4 does not enter)
    # 1 = (1 * 5000 + 3 * 6250 + 2 * 10000) / 6 = 43750 / 6 = 7291
    assert rollup(db, s.time, 1, 2, 3, 4, 5, 6) == [
        (1, [2, 3, 4], 7291, 3, 2, 0),
        (2, [], None, 0, 0, 5000),
        (3, [5, 6], 6250, 2, 1, 10000),
        (4, [], None, 0, 0, 10000),
        (5, [], None, 0, 0, 15000),
        (6, [], None, 0, 0, 2500),
    ]
    d5 = detail(db, 5, s.time)
    assert (d5["parent_id"], d5["weight"], d5["status"]) == (3, 1, "delivered")
    assert (detail(db, 1, s.time)["parent_id"], detail(db, 1, s.time)["weight"]) == (None, 0)


def test_a_withdrawn_child_leaves_the_roll_up_but_stays_a_child(db: Database) -> None:
    s = family()
    s.next_block().withdraw(4)
    apply(db, s)
    # 1 = (1 * 5000 + 3 * 6250) / 4 = 23750 / 4 = 5937
    assert rollup(db, s.time, 1) == [(1, [2, 3, 4], 5937, 2, 1, 0)]


def test_a_delivery_to_a_grandchild_moves_every_ancestor_in_a_later_pass(db: Database) -> None:
    s = family()
    apply(db, s)
    s.next_block().delivery(6, 2, 6, s.time)  # 6: 8 of 8
    apply(db, s)
    # 3 = (10000 + 10000) / 2; 1 = (5000 + 3 * 10000 + 2 * 10000) / 6 = 55000 / 6 = 9166
    assert rollup(db, s.time, 1, 3) == [(1, [2, 3, 4], 9166, 3, 2, 0), (3, [5, 6], 10000, 2, 2, 10000)]


def test_a_parent_whose_children_are_all_withdrawn_rolls_up_its_own_progress_capped(db: Database) -> None:
    s = base_script()
    t = s.time
    s.next_block().commitment(1, target_quantity=2)
    s.commitment(2, target_quantity=1, parent_id=1, weight=7)
    s.next_block().delivery(1, 1, 3, t)
    s.withdraw(2)
    apply(db, s)
    assert rollup(db, s.time, 1) == [(1, [2], 10000, 0, 0, 15000)]


def test_the_roll_up_comes_out_the_same_in_one_pass_or_event_by_event(db: Database, tmp_path) -> None:
    from tests.db.databases import fresh_database

    s = family()
    s.next_block().withdraw(4)
    apply(db, s)
    with fresh_database(db.backend, tmp_path) as other:
        for event in s.events:
            with other.sessions.begin() as session:
                apply_events(session, [event], s.block_times)
        assert dump_index(other.engine) == dump_index(db.engine)


# ---------------------------------------------------------------------------- confirmations


def reviewed() -> tuple[Script, int]:
    """Commitment 1 (target 10): deliveries of 4, 3 and 3; CONFIRMER and INSPECTOR confirm the
    first (CONFIRMER citing an inspection report), CONFIRMER confirms the second and INSPECTOR
    disputes it; the third has no verdict."""
    s = base_script()
    t = s.time
    s.confirmer(1)
    s.confirmer(1, INSPECTOR)
    s.next_block().commitment(1, target_quantity=10)
    s.next_block().delivery(1, 1, 4, t - 3 * DAY)
    s.delivery(1, 2, 3, t - 2 * DAY)
    s.delivery(1, 3, 3, t - 1 * DAY)
    s.next_block().confirm(1, 1, evidence=sha("inspection"))
    s.confirm(1, 1, INSPECTOR)
    s.confirm(1, 2)
    s.dispute(1, 2, "only two of three found", INSPECTOR)
    return s, t


def confirmed_figures(d: dict) -> tuple:
    return (d["confirmed_quantity"], d["unconfirmed_quantity"], d["disputed_quantity"], d["status_confirmed"],
            d["met_at_confirmed"], d["progress_bps_confirmed"])


def test_a_dispute_outweighs_a_confirmation_and_only_confirmed_deliveries_count_as_confirmed(db: Database) -> None:
    s, t = reviewed()
    apply(db, s)
    d = detail(db, 1, s.time)
    assert (d["status"], d["met_at"], d["delivered_quantity"]) == ("delivered", t - DAY, "10")
    assert confirmed_figures(d) == ("4", "6", "3", "in_progress", None, 4000)
    assert [x["review"] for x in d["deliveries"]] == ["confirmed", "disputed", "unconfirmed"]
    first, second, _ = d["deliveries"]
    block = s.block
    assert [(c["confirmer"], c["evidence_hash"], c["at"], c["signer_held_role"], c["chain"]["block_number"],
             c["chain"]["log_index"]) for c in first["confirmations"]] == [
        (CONFIRMER, sha("inspection"), s.time, True, block, 0),
        (INSPECTOR, None, s.time, True, block, 1),
    ]
    assert first["disputes"] == []
    assert [c["confirmer"] for c in second["confirmations"]] == [CONFIRMER]
    assert second["disputes"] == [{
        "confirmer": INSPECTOR, "reason": "only two of three found", "at": s.time, "at_iso": repository.iso(s.time),
        "signer_held_role": True, "chain": repository.chain_ref(s.events[-1].transaction_hash, block, 3, s.time),
    }]


def test_a_changed_verdict_replaces_the_earlier_one_and_history_keeps_both(db: Database) -> None:
    s, t = reviewed()
    s.next_block().confirm(1, 2, INSPECTOR)
    apply(db, s)
    d = detail(db, 1, s.time)
    assert confirmed_figures(d) == ("7", "3", "0", "in_progress", None, 7000)
    assert [c["confirmer"] for c in d["deliveries"][1]["confirmations"]] == [CONFIRMER, INSPECTOR]
    assert d["deliveries"][1]["disputes"] == []
    with db.sessions() as session:
        history = session.execute(
            select(VerdictEvent.confirmer, VerdictEvent.verdict).where(VerdictEvent.delivery_key == str(did(1, 2)))
            .order_by(VerdictEvent.block_number, VerdictEvent.log_index)
        ).all()
        latest = session.scalars(select(Verdict.verdict).where(Verdict.delivery_key == str(did(1, 2)))).all()
    assert history == [(CONFIRMER, "confirmed"), (INSPECTOR, "disputed"), (INSPECTOR, "confirmed")]
    assert sorted(latest) == ["confirmed", "confirmed"]


def test_confirming_the_last_delivery_meets_the_target_on_the_confirmed_figures(db: Database) -> None:
    s, t = reviewed()
    s.next_block().confirm(1, 2, INSPECTOR)
    s.confirm(1, 3)
    apply(db, s)
    assert confirmed_figures(detail(db, 1, s.time)) == ("10", "0", "0", "delivered", t - DAY, 10000)


def test_verdicts_stay_when_the_confirmer_loses_its_role_and_a_revoked_delivery_stops_counting(db: Database) -> None:
    s, t = reviewed()
    s.next_block().confirm(1, 2, INSPECTOR)
    s.confirm(1, 3)
    s.next_block().unconfirmer(1)
    s.revoke(1, 3)
    apply(db, s)
    d = detail(db, 1, s.time)
    assert confirmed_figures(d) == ("7", "0", "0", "in_progress", None, 7000)
    assert (d["delivered_quantity"], d["deliveries"][2]["review"]) == ("7", "confirmed")
    assert [c["confirmer"] for c in d["deliveries"][0]["confirmations"]] == [CONFIRMER, INSPECTOR]
    with db.sessions() as session:
        m = repository.get_municipality(session, 1, s.time)
    assert m["confirmers"] == [INSPECTOR]
    assert [(h["account"], h["added_by"], h["removed_by"]) for h in m["confirmer_history"]] == [
        (CONFIRMER, ADMIN, ADMIN), (INSPECTOR, ADMIN, None),
    ]
    assert m["registrars"] == [REGISTRAR]


def test_a_verdict_by_an_account_without_the_confirmer_role_says_so(db: Database) -> None:
    s, _ = reviewed()
    s.next_block().dispute(1, 3, "I say so", OTHER)
    apply(db, s)
    d = detail(db, 1, s.time)
    assert [(x["confirmer"], x["signer_held_role"]) for x in d["deliveries"][2]["disputes"]] == [(OTHER, False)]
    assert d["deliveries"][2]["review"] == "disputed"
    assert confirmed_figures(d)[2] == "6"  # the second (INSPECTOR) and the third


def test_deliveries_list_carries_review_and_verdicts(db: Database) -> None:
    s, _ = reviewed()
    apply(db, s)
    with db.sessions() as session:
        page, total = repository.list_deliveries(session, now=s.time)
    assert total == 3
    assert [(d["id"], d["kind"], d["review"], len(d["confirmations"]), len(d["disputes"])) for d in page] == [
        (did(1, 1), "recorded", "confirmed", 2, 0),
        (did(1, 2), "recorded", "disputed", 1, 1),
        (did(1, 3), "recorded", "unconfirmed", 0, 0),
    ]
