"""Index a v2 story written on the real chain, then check the exact rows and the exact
repository outputs (docs/LEDGER.md fields beside the docs/API.md ones), on SQLite and PostgreSQL.

The story (municipality 1 Baarn: registrar; 2 Utrecht: other_registrar), with T the chain time
when it starts (every claimed date is before the block time, as the contract requires):

- C1 Baarn "Zonnepanelen": target 200, promised T-60d, due T+30d; D1 120 (T-5d, [E1, E2]),
  D2 100 (T-3d, [E2]); D1 revoked; D3 150 (T-4d, [E3]); amended (every field) to target 150,
  due T+60d, new texts -> delivered 250; claimed met T-4d (original terms: T-3d); on record
  met when D3 was recorded (the lowered target keeps it): delivered on every clock.
- C2 Baarn "Wonen", target 10, promised T-100d, due T-10d (a historical record); D4 10 (T-2d)
  -> delivered_late on both clocks.
- C3 Baarn "Wonen", target 5, due T-1d; D7 5 dated 1 January 1970 (the backdating story):
  claimed delivered, on record delivered_late, recorded late by 20,000+ days.
- C4 Baarn no theme, target 3, due T+10d; D5 1 -> in_progress.
- C5, C6 Utrecht, registered in ONE multicall transaction: C5 "Duurzaamheid" (same external
  ref as C1), target 1, due T+100d -> pending; C6 "Mobiliteit", source document E1, target 7;
  D6 2 ([E1]); withdrawn.
- C7 Baarn "Fietspaden" (the relaxed-terms story): target 100, due T-5d; D8 40 (T-6d); amended
  to target 40 after the due date -> claimed delivered, on record delivered_late (met at the
  amendment), original terms overdue: met only under relaxed terms.
- Baarn adds and removes stranger as registrar; Utrecht's admin proposes stranger, who
  accepts (two-step handover); the platform admin pauses and unpauses, then hands ownership to
  stranger (OwnershipTransferStarted/-Transferred).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import select

from indexer.loop import Indexer
from ledger.chain import LedgerChain, TxResult
from ledger.db import repository
from ledger.db.models import Amendment, Delivery, EventRow, EvidenceCitation, Registrar, RegistrarTerm
from ledger.db.projection import apply_events
from ledger.settings import Settings
from tests.db.databases import BACKENDS, Database, dump_index, fresh_database
from tests.indexer.ledger_txs import DAY, Refs, amendment_input, commitment_input, delivery_input, iso, sha

SEEN_AT = 1_800_000_000
E1, E2, E3, E4, E5, E6 = (sha(f"evidence-{i}") for i in range(1, 7))
S1 = sha("raadsbesluit-2025-17")
ALL_STATUSES = ("pending", "in_progress", "delivered", "delivered_late", "overdue", "withdrawn")


@dataclass
class Story:
    t: int
    tx: dict[str, TxResult]


@pytest.fixture(scope="module")
def story(chain: LedgerChain, roles, chain_time: Callable[[], int]) -> Story:
    t = chain_time()
    tx: dict[str, TxResult] = {}
    reg, oreg = roles.registrar.key, roles.other_registrar.key

    def send(name: str, function: str, args: list[Any], key: str) -> None:
        tx[name] = chain.send(function, args, key)

    send("c1", "registerCommitment", [commitment_input(
        1, "duurzaamheid-001", "Zonnepanelen op scholen", description="Alle basisscholen krijgen zonnepanelen.",
        theme="Duurzaamheid", target=200, unit="scholen", promised=t - 60 * DAY, due=t + 30 * DAY, source=S1,
        source_uri="https://baarn.nl/raadsbesluit")], reg)
    send("c2", "registerCommitment", [commitment_input(
        1, "wonen-001", "Sociale huurwoningen", description="Tien sociale huurwoningen.", theme="Wonen",
        target=10, unit="woningen", promised=t - 100 * DAY, due=t - 10 * DAY)], reg)
    send("c3", "registerCommitment", [commitment_input(
        1, "wonen-002", "Starterswoningen", theme="Wonen", target=5, unit="woningen", promised=t - 30 * DAY,
        due=t - DAY)], reg)
    send("c4", "registerCommitment", [commitment_input(
        1, "groen-001", "Groene daken", description="100% groen_dak subsidie", target=3, unit="daken",
        promised=t - DAY, due=t + 10 * DAY)], reg)
    tx["c5"] = tx["c6"] = chain.send_multicall([
        ("registerCommitment", [commitment_input(
            2, "duurzaamheid-001", "Laadpalen", description="Laadpalen in elke wijk", theme="Duurzaamheid",
            target=1, unit="wijk", promised=t - 2 * DAY, due=t + 100 * DAY)]),
        ("registerCommitment", [commitment_input(
            2, "mobiliteit-001", "Fietsenstallingen", theme="Mobiliteit", target=7, unit="stallingen",
            promised=t - 2 * DAY, due=t + 5 * DAY, source=E1)]),
    ], oreg)
    send("d1", "recordDelivery", [1, delivery_input(
        120, t - 5 * DAY, [E1, E2], uri="https://baarn.nl/bewijs", note="eerste scholen", ref="lev-1")], reg)
    send("d2", "recordDelivery", [1, delivery_input(100, t - 3 * DAY, [E2], ref="lev-2")], reg)
    send("r1", "revokeDelivery", [1_000_001, "dubbel geteld"], reg)
    send("d3", "recordDelivery", [1, delivery_input(150, t - 4 * DAY, [E3])], reg)
    send("a1", "amendCommitment", [1, amendment_input(
        0, title="Zonnepanelen op alle scholen", description="Alle scholen, ook voortgezet onderwijs.",
        target=150, due=t + 60 * DAY, reason="raadsbesluit 2026")], reg)
    send("d4", "recordDelivery", [2, delivery_input(10, t - 2 * DAY, [E4], note="opgeleverd")], reg)
    send("d5", "recordDelivery", [4, delivery_input(1, t - DAY, [E5])], reg)
    send("d6", "recordDelivery", [6, delivery_input(2, t - DAY, [E1])], oreg)
    send("w6", "withdrawCommitment", [6, "geen budget"], oreg)
    send("d7", "recordDelivery", [3, delivery_input(5, 1, [E6], note="opgeleverd in 1970")], reg)
    send("c7", "registerCommitment", [commitment_input(
        1, "fiets-001", "Fietspaden", theme="Mobiliteit", target=100, unit="km", promised=t - 90 * DAY,
        due=t - 5 * DAY)], reg)
    send("d8", "recordDelivery", [7, delivery_input(40, t - 6 * DAY, [sha("fietspad")])], reg)
    send("a7", "amendCommitment", [7, amendment_input(0, target=40, reason="bezuiniging")], reg)
    send("add", "addRegistrar", [1, roles.stranger.address], roles.council_admin.key)
    send("remove", "removeRegistrar", [1, roles.stranger.address], roles.council_admin.key)
    send("propose", "proposeMunicipalityAdmin", [2, roles.stranger.address], roles.other_admin.key)
    send("accept", "acceptMunicipalityAdmin", [2], roles.stranger.key)
    send("pause", "pause", [], roles.platform_admin.key)
    send("unpause", "unpause", [], roles.platform_admin.key)
    send("own1", "transferOwnership", [roles.stranger.address], roles.platform_admin.key)
    send("own2", "acceptOwnership", [], roles.stranger.key)
    return Story(t, tx)


@pytest.fixture(scope="module", params=BACKENDS)
def indexed(
    request: pytest.FixtureRequest, story: Story, chain: LedgerChain, settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Database]:
    """The story indexed from the deploy block into a fresh database of each backend."""
    with fresh_database(request.param, tmp_path_factory.mktemp("story")) as db:
        indexer = Indexer(chain, db.sessions, settings, clock=lambda: SEEN_AT)
        assert indexer.run_once() == len(chain.get_logs(chain.deployment.deploy_block, chain.head_block_number()))
        yield db


@pytest.fixture(scope="module")
def now(story: Story, chain_time: Callable[[], int]) -> int:
    """Evaluation time: the chain time after the story (statuses are days apart from it)."""
    return chain_time()


def at(refs: Refs, story: Story, name: str) -> int:
    """Block time of transaction ``name`` of the story, Unix seconds."""
    return refs.time(story.tx[name].block_number)


# ---------------------------------------------------------------------------- rows


def test_every_log_of_the_contract_is_one_events_row_in_chain_order(indexed: Database, chain: LedgerChain) -> None:
    logs = chain.decoder.decode_all(chain.get_logs(chain.deployment.deploy_block, chain.head_block_number()))
    with indexed.sessions() as session:
        rows = session.scalars(select(EventRow).order_by(EventRow.block_number, EventRow.log_index)).all()
    assert [(r.block_number, r.log_index, r.name, r.tx_hash, r.block_hash, r.args) for r in rows] == [
        (e.block_number, e.log_index, e.name, e.transaction_hash, e.block_hash, dict(e.args)) for e in logs
    ]
    names = [r.name for r in rows]
    assert names[0] == "OwnershipTransferred"  # constructor, deploy block
    assert names[-4:] == ["Paused", "Unpaused", "OwnershipTransferStarted", "OwnershipTransferred"]
    assert names.count("DeliveryRecorded") == 8 and "EvidenceCited" not in names


def test_one_multicall_transaction_gives_one_row_per_inner_event(indexed: Database, story: Story) -> None:
    with indexed.sessions() as session:
        rows = session.execute(
            select(EventRow.commitment_id, EventRow.log_index).where(EventRow.tx_hash == story.tx["c5"].tx_hash)
        ).all()
    assert rows == [(5, 0), (6, 1)]


def test_delivery_rows_carry_both_clocks_and_their_revocation(indexed: Database, story: Story, refs: Refs, roles) -> None:
    with indexed.sessions() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
    tx, t, r = story.tx, story.t, roles.registrar.address
    got = [
        (d.id, d.delivery_number, d.commitment_id, d.quantity, d.delivered_at, d.recorded_at, d.recording_lag_seconds,
         d.recorded_late, d.revoked, d.revocation_reason, d.revocation_registrar, d.tx_hash, d.revoked_tx_hash)
        for d in rows
    ]

    def row(did, cid, name, quantity, claimed, revocation=(False, None, None, None)):
        recorded = at(refs, story, name)
        lag = recorded - claimed
        return (did, did % 1_000_000, cid, quantity, claimed, recorded, lag, lag > 30 * DAY, revocation[0],
                revocation[1], revocation[2], tx[name].tx_hash, revocation[3])

    assert got == [
        row(1_000_001, 1, "d1", 120, t - 5 * DAY, (True, "dubbel geteld", r, tx["r1"].tx_hash)),
        row(1_000_002, 1, "d2", 100, t - 3 * DAY),
        row(1_000_003, 1, "d3", 150, t - 4 * DAY),
        row(2_000_001, 2, "d4", 10, t - 2 * DAY),
        row(3_000_001, 3, "d7", 5, 1),
        row(4_000_001, 4, "d5", 1, t - DAY),
        row(6_000_001, 6, "d6", 2, t - DAY),
        row(7_000_001, 7, "d8", 40, t - 6 * DAY),
    ]
    assert [d.recorded_late for d in rows] == [False, False, False, False, True, False, False, False]
    assert all(d.signer_held_role for d in rows)


def test_each_evidence_hash_appears_once_per_delivery(indexed: Database, story: Story) -> None:
    with indexed.sessions() as session:
        rows = session.execute(
            select(EvidenceCitation.delivery_id, EvidenceCitation.sha256, EvidenceCitation.position,
                   EvidenceCitation.commitment_id, EvidenceCitation.tx_hash)
            .where(EvidenceCitation.commitment_id.in_([1, 2, 4, 6]))
            .order_by(EvidenceCitation.delivery_id, EvidenceCitation.position)
        ).all()
    tx = story.tx
    assert rows == [
        (1_000_001, E1, 0, 1, tx["d1"].tx_hash), (1_000_001, E2, 1, 1, tx["d1"].tx_hash),
        (1_000_002, E2, 0, 1, tx["d2"].tx_hash), (1_000_003, E3, 0, 1, tx["d3"].tx_hash),
        (2_000_001, E4, 0, 2, tx["d4"].tx_hash), (4_000_001, E5, 0, 4, tx["d5"].tx_hash),
        (6_000_001, E1, 0, 6, tx["d6"].tx_hash),
    ]


def test_amendment_registrar_and_role_history_rows(indexed: Database, story: Story, refs: Refs, roles) -> None:
    t = story.t
    with indexed.sessions() as session:
        amendments = session.scalars(select(Amendment).order_by(Amendment.commitment_id)).all()
        registrars = session.scalars(select(Registrar).order_by(Registrar.municipality_id, Registrar.account)).all()
        terms = session.scalars(select(RegistrarTerm).order_by(RegistrarTerm.block_number)).all()
    assert [(a.commitment_id, a.amendment_number, a.fields, a.title, a.previous_target_quantity, a.target_quantity,
             a.previous_due_date, a.due_date, a.reason, a.amended_at, a.after_due_date, a.lowered_target,
             a.extended_due_date, a.signer_held_role, a.tx_hash) for a in amendments] == [
        (1, 1, 15, "Zonnepanelen op alle scholen", 200, 150, t + 30 * DAY, t + 60 * DAY, "raadsbesluit 2026",
         at(refs, story, "a1"), False, True, True, True, story.tx["a1"].tx_hash),
        (7, 1, 4, None, 100, 40, t - 5 * DAY, t - 5 * DAY, "bezuiniging", at(refs, story, "a7"), True, True, False,
         True, story.tx["a7"].tx_hash),
    ]
    got = {(r.municipality_id, r.account): (r.active, r.added_by, r.removed_by, r.removed_tx_hash) for r in registrars}
    assert got == {
        (1, roles.registrar.address): (True, roles.council_admin.address, None, None),
        (2, roles.other_registrar.address): (True, roles.other_admin.address, None, None),
        (1, roles.stranger.address): (False, roles.council_admin.address, roles.council_admin.address,
                                      story.tx["remove"].tx_hash),
    }
    assert [(x.municipality_id, x.account, x.removed_tx_hash) for x in terms] == [
        (1, roles.registrar.address, None), (2, roles.other_registrar.address, None),
        (1, roles.stranger.address, story.tx["remove"].tx_hash),
    ]


def test_checkpoint_records_the_indexed_block_its_hash_the_head_version_and_pause(
    indexed: Database, chain: LedgerChain
) -> None:
    head = chain.head_block_number()
    with indexed.sessions() as session:
        assert repository.get_checkpoint(session) == {
            "last_block": head,
            "last_block_hash": chain.block(head).hash,
            "chain_head_block": head,
            "head_seen_at": SEEN_AT,
            "contract_version": "2.1.0",
            "paused": False,
        }


# ---------------------------------------------------------------------------- repository


LAST_CHANGE = {1: "a1", 2: "d4", 3: "d7", 4: "d5", 5: "c5", 6: "w6", 7: "a7"}
"""The story's transaction that last concerned each commitment (its ``last_changed_at``)."""


def summary(story: Story, refs: Refs, cid: int, registrar: str, **fields: Any) -> dict[str, Any]:
    """The expected summary of commitment ``cid``: ``fields`` given, the rest by default (no
    amendment: original terms = current terms, every clock's status = ``status``)."""
    registered = refs.of(story.tx[f"c{cid}"], "CommitmentRegistered", 1 if cid == 6 else 0)
    base: dict[str, Any] = {
        "id": cid, "registered": registered, "registrar": registrar, "signer_held_role": True, "withdrawn": False,
        "met_at": None, "met_on_record_at": None, "amendment_count": 0, "amended_after_due_date": False,
        "target_lowered": False, "recorded_late_count": 0, "historical_record": False,
        "met_only_under_relaxed_terms": False,
    }
    base.update(fields)
    base.setdefault("original_target_quantity", base["target_quantity"])
    base.setdefault("original_due_date", base["due_date"])
    base.setdefault("progress_bps_original_terms", base["progress_bps"])
    base.setdefault("met_at_original_terms", base["met_at"])
    base.setdefault("met_on_record_at_original_terms", base["met_on_record_at"])
    base.setdefault("status_on_record", base["status"])
    base.setdefault("status_original_terms", base["status"])
    base.setdefault("status_on_record_original_terms", base["status_on_record"])
    base["registration_lag_days"] = (registered["block_time"] - base["promised_at"]) // DAY
    # 2.1.0: no sub-commitments, batches or confirmations in this story: nothing confirmed yet
    base.update({
        "parent_id": None, "weight": 0, "children": [], "rollup_progress_bps": None, "rollup_children_delivered": 0,
        "rollup_children_counted": 0, "confirmed_quantity": "0", "unconfirmed_quantity": base["delivered_quantity"],
        "disputed_quantity": "0", "met_at_confirmed": None, "progress_bps_confirmed": 0, "batched_delivery_count": 0,
        "status_confirmed": "withdrawn" if base["withdrawn"] else "overdue" if base["due_date"] < story.t else "pending",
    })
    base["last_changed_at"] = at(refs, story, LAST_CHANGE[cid])
    for key in ("promised_at", "due_date", "original_due_date", "met_at", "met_on_record_at",
                "met_at_original_terms", "met_on_record_at_original_terms", "met_at_confirmed", "last_changed_at"):
        base[f"{key}_iso"] = None if base[key] is None else iso(base[key])
    return base


@pytest.fixture(scope="module")
def summaries(story: Story, refs: Refs, roles) -> dict[int, dict[str, Any]]:
    t, r, o = story.t, roles.registrar.address, roles.other_registrar.address
    baarn = {"municipality_id": 1, "municipality_name": "Baarn"}
    utrecht = {"municipality_id": 2, "municipality_name": "Utrecht"}
    d3, d4, d7, a7 = (at(refs, story, n) for n in ("d3", "d4", "d7", "a7"))
    return {
        1: summary(story, refs, 1, r, **baarn, external_ref="duurzaamheid-001", title="Zonnepanelen op alle scholen",
                   theme="Duurzaamheid", unit="scholen", target_quantity="150", original_target_quantity="200",
                   delivered_quantity="250", progress_bps=16666, progress_bps_original_terms=12500,
                   status="delivered", promised_at=t - 60 * DAY, due_date=t + 60 * DAY,
                   original_due_date=t + 30 * DAY, met_at=t - 4 * DAY, met_at_original_terms=t - 3 * DAY,
                   met_on_record_at=d3, amendment_count=1, target_lowered=True),
        2: summary(story, refs, 2, r, **baarn, external_ref="wonen-001", title="Sociale huurwoningen", theme="Wonen",
                   unit="woningen", target_quantity="10", delivered_quantity="10", progress_bps=10000,
                   status="delivered_late", promised_at=t - 100 * DAY, due_date=t - 10 * DAY, met_at=t - 2 * DAY,
                   met_on_record_at=d4, historical_record=True),
        3: summary(story, refs, 3, r, **baarn, external_ref="wonen-002", title="Starterswoningen", theme="Wonen",
                   unit="woningen", target_quantity="5", delivered_quantity="5", progress_bps=10000,
                   status="delivered", status_on_record="delivered_late", promised_at=t - 30 * DAY,
                   due_date=t - DAY, met_at=1, met_on_record_at=d7, recorded_late_count=1, historical_record=True),
        4: summary(story, refs, 4, r, **baarn, external_ref="groen-001", title="Groene daken", theme="", unit="daken",
                   target_quantity="3", delivered_quantity="1", progress_bps=3333, status="in_progress",
                   promised_at=t - DAY, due_date=t + 10 * DAY),
        5: summary(story, refs, 5, o, **utrecht, external_ref="duurzaamheid-001", title="Laadpalen",
                   theme="Duurzaamheid", unit="wijk", target_quantity="1", delivered_quantity="0", progress_bps=0,
                   status="pending", promised_at=t - 2 * DAY, due_date=t + 100 * DAY),
        6: summary(story, refs, 6, o, **utrecht, external_ref="mobiliteit-001", title="Fietsenstallingen",
                   theme="Mobiliteit", unit="stallingen", target_quantity="7", delivered_quantity="2",
                   progress_bps=2857, status="withdrawn", promised_at=t - 2 * DAY, due_date=t + 5 * DAY,
                   withdrawn=True),
        7: summary(story, refs, 7, r, **baarn, external_ref="fiets-001", title="Fietspaden", theme="Mobiliteit",
                   unit="km", target_quantity="40", original_target_quantity="100", delivered_quantity="40",
                   progress_bps=10000, progress_bps_original_terms=4000, status="delivered",
                   status_on_record="delivered_late", status_original_terms="overdue",
                   status_on_record_original_terms="overdue", promised_at=t - 90 * DAY, due_date=t - 5 * DAY,
                   met_at=t - 6 * DAY, met_at_original_terms=None, met_on_record_at=a7,
                   met_on_record_at_original_terms=None, amendment_count=1, amended_after_due_date=True,
                   target_lowered=True, historical_record=True, met_only_under_relaxed_terms=True),
    }


def test_summaries_have_exactly_the_documented_fields(indexed: Database, now: int, summaries) -> None:
    with indexed.sessions() as session:
        page, total = repository.list_commitments(session, now)
    assert total == 7
    assert [set(c) for c in page] == [set(summaries[1])] * 7


FILTERS = [
    ({}, [1, 2, 3, 4, 5, 6, 7]),
    ({"municipality_id": 2}, [5, 6]),
    ({"municipality_id": 3}, []),
    ({"theme": "Wonen"}, [2, 3]),
    ({"theme": ""}, [4]),
    ({"statuses": ["overdue", "pending"]}, [5]),
    ({"statuses": ["withdrawn"]}, [6]),
    ({"statuses": ["delivered", "delivered_late"], "municipality_id": 1}, [1, 2, 3, 7]),
    ({"statuses": ["delivered"]}, [1, 3, 7]),
    ({"statuses_on_record": ["delivered"]}, [1]),
    ({"statuses_on_record": ["delivered_late"]}, [2, 3, 7]),
    ({"statuses": ["delivered"], "statuses_on_record": ["delivered_late"]}, [3, 7]),
    ({"recorded_late": True}, [3]),
    ({"recorded_late": False}, [1, 2, 4, 5, 6, 7]),
    ({"amended_after_due_date": True}, [7]),
    ({"amended_after_due_date": False}, [1, 2, 3, 4, 5, 6]),
    ({"historical_record": True}, [2, 3, 7]),
    ({"met_only_under_relaxed_terms": True}, [7]),
    ({"met_only_under_relaxed_terms": False, "municipality_id": 1}, [1, 2, 3, 4]),
    ({"q": "SCHOLEN"}, [1]),
    ({"q": "duurzaamheid-001"}, [1, 5]),
    ({"q": "groen_dak"}, [4]),
    ({"q": "100%"}, [4]),
    ({"q": "ook voortgezet"}, [1]),
    ({"q": "basisscholen"}, []),  # the description before the amendment
    ({"q": "woning", "theme": "Wonen", "statuses": ["delivered"]}, [3]),
]


@pytest.mark.parametrize(("filters", "ids"), FILTERS)
def test_list_commitments_filters(indexed: Database, now: int, summaries, filters: dict, ids: list[int]) -> None:
    with indexed.sessions() as session:
        page, total = repository.list_commitments(session, now, **filters)
    assert page == [summaries[i] for i in ids]
    assert total == len(ids)


@pytest.mark.parametrize(
    ("offset", "limit", "ids"), [(0, 2, [1, 2]), (2, 2, [3, 4]), (6, 2, [7]), (10, 20, []), (1, 100, [2, 3, 4, 5, 6, 7])]
)
def test_list_commitments_pages_by_id_with_the_total_count(indexed: Database, now: int, summaries, offset, limit, ids) -> None:
    with indexed.sessions() as session:
        page, total = repository.list_commitments(session, now, offset=offset, limit=limit)
    assert ([c["id"] for c in page], total) == (ids, 7)
    assert page == [summaries[i] for i in ids]


def test_statuses_move_with_now(indexed: Database, story: Story) -> None:
    later = story.t + 200 * DAY
    with indexed.sessions() as session:
        page, _ = repository.list_commitments(session, later)
        overdue, total = repository.list_commitments(session, later, statuses_on_record=["overdue"])
    assert [c["status"] for c in page] == [
        "delivered", "delivered_late", "delivered", "overdue", "overdue", "withdrawn", "delivered",
    ]
    assert ([c["id"] for c in overdue], total) == ([4, 5], 2)


def test_status_on_record_agrees_with_the_contract_view(indexed: Database, chain: LedgerChain, chain_time) -> None:
    now = chain_time()
    with indexed.sessions() as session:
        for cid in range(1, 8):
            mine = repository.get_commitment(session, cid, now)
            theirs = chain.status_of(cid)
            assert (mine["status_on_record"], mine["delivered_quantity"], mine["target_quantity"], mine["progress_bps"],
                    mine["met_on_record_at"]) == (theirs.status_on_record, str(theirs.delivered_quantity),
                                                  str(theirs.target_quantity), theirs.progress_bps,
                                                  theirs.met_on_record_at)


def delivery_dict(story: Story, refs: Refs, did: int, name: str, quantity: str, claimed: int, evidence: list[dict],
                  registrar: str, *, uri: str = "", note: str = "", ref: str = "", revocation: dict | None = None) -> dict:
    recorded = at(refs, story, name)
    return {
        "id": did, "delivery_number": did % 1_000_000, "commitment_id": did // 1_000_000, "quantity": quantity,
        "delivered_at": claimed, "delivered_at_iso": iso(claimed), "recorded_at": recorded,
        "recorded_at_iso": iso(recorded), "recording_lag_seconds": recorded - claimed,
        "recording_lag_days": (recorded - claimed) // DAY, "recorded_late": recorded - claimed > 30 * DAY,
        "evidence": evidence, "evidence_uri": uri, "note": note, "external_ref": ref, "registrar": registrar,
        "signer_held_role": True, "recorded": refs.of(story.tx[name], "DeliveryRecorded"), "revocation": revocation,
        "kind": "recorded", "asset_ref": "", "double_counted": False, "review": "unconfirmed", "confirmations": [],
        "disputes": [], "batch_root": None, "leaf_hash": None, "leaf_index": None, "counted": None,
        "refused_reason": None,
    }


def test_get_commitment_gives_amendments_deliveries_by_id_and_the_timeline_in_chain_order(
    indexed: Database, story: Story, refs: Refs, now: int, summaries, roles
) -> None:
    t, tx, r = story.t, story.tx, roles.registrar.address
    stored = {E2}
    with indexed.sessions() as session:
        detail = repository.get_commitment(session, 1, now, evidence_stored=lambda h: h in stored)

    def ev(*hashes: str) -> list[dict[str, Any]]:
        return [{"sha256": h, "stored": h in stored, "url": f"/api/v1/evidence/{h}" if h in stored else None}
                for h in hashes]

    revocation = {"reason": "dubbel geteld", "registrar": r, "signer_held_role": True,
                  "chain": refs.of(tx["r1"], "DeliveryRevoked")}
    expected = dict(summaries[1])
    expected.update({
        "description": "Alle scholen, ook voortgezet onderwijs.",
        "source_document_sha256": S1,
        "source_uri": "https://baarn.nl/raadsbesluit",
        "withdrawal": None,
        "amendments": [{
            "amendment_number": 1, "fields": ["title", "description", "target_quantity", "due_date"],
            "title": "Zonnepanelen op alle scholen", "description": "Alle scholen, ook voortgezet onderwijs.",
            "previous_target_quantity": "200", "target_quantity": "150", "previous_due_date": t + 30 * DAY,
            "previous_due_date_iso": iso(t + 30 * DAY), "due_date": t + 60 * DAY, "due_date_iso": iso(t + 60 * DAY),
            "reason": "raadsbesluit 2026", "registrar": r, "amended_at": at(refs, story, "a1"),
            "amended_at_iso": iso(at(refs, story, "a1")), "after_due_date": False, "lowered_target": True,
            "extended_due_date": True, "signer_held_role": True, "chain": refs.of(tx["a1"], "CommitmentAmended"),
        }],
        "deliveries": [
            delivery_dict(story, refs, 1_000_001, "d1", "120", t - 5 * DAY, ev(E1, E2), r, uri="https://baarn.nl/bewijs",
                          note="eerste scholen", ref="lev-1", revocation=revocation),
            delivery_dict(story, refs, 1_000_002, "d2", "100", t - 3 * DAY, ev(E2), r, ref="lev-2"),
            delivery_dict(story, refs, 1_000_003, "d3", "150", t - 4 * DAY, ev(E3), r),
        ],
        "timeline": [
            {"kind": "registered", "chain": refs.of(tx["c1"], "CommitmentRegistered"), "registrar": r, "details": {
                "external_ref": "duurzaamheid-001", "title": "Zonnepanelen op scholen",
                "description": "Alle basisscholen krijgen zonnepanelen.", "theme": "Duurzaamheid",
                "target_quantity": "200", "unit": "scholen", "promised_at": t - 60 * DAY, "due_date": t + 30 * DAY,
                "source_document_sha256": S1, "source_uri": "https://baarn.nl/raadsbesluit",
                "registered_at": at(refs, story, "c1")}},
            {"kind": "delivered", "chain": refs.of(tx["d1"], "DeliveryRecorded"), "registrar": r, "details": {
                "delivery_id": 1_000_001, "quantity": "120", "delivered_at": t - 5 * DAY,
                "recorded_at": at(refs, story, "d1"), "evidence_sha256": [E1, E2], "note": "eerste scholen"}},
            {"kind": "delivered", "chain": refs.of(tx["d2"], "DeliveryRecorded"), "registrar": r, "details": {
                "delivery_id": 1_000_002, "quantity": "100", "delivered_at": t - 3 * DAY,
                "recorded_at": at(refs, story, "d2"), "evidence_sha256": [E2], "note": ""}},
            {"kind": "revoked", "chain": refs.of(tx["r1"], "DeliveryRevoked"), "registrar": r, "details": {
                "delivery_id": 1_000_001, "reason": "dubbel geteld", "revoked_at": at(refs, story, "r1")}},
            {"kind": "delivered", "chain": refs.of(tx["d3"], "DeliveryRecorded"), "registrar": r, "details": {
                "delivery_id": 1_000_003, "quantity": "150", "delivered_at": t - 4 * DAY,
                "recorded_at": at(refs, story, "d3"), "evidence_sha256": [E3], "note": ""}},
            {"kind": "amended", "chain": refs.of(tx["a1"], "CommitmentAmended"), "registrar": r, "details": {
                "amendment_number": 1, "fields": ["title", "description", "target_quantity", "due_date"],
                "title": "Zonnepanelen op alle scholen", "description": "Alle scholen, ook voortgezet onderwijs.",
                "previous_target_quantity": "200", "target_quantity": "150", "previous_due_date": t + 30 * DAY,
                "due_date": t + 60 * DAY, "reason": "raadsbesluit 2026", "amended_at": at(refs, story, "a1")}},
        ],
        # the detail's first pages hold everything: counts, and no next page
        "deliveries_count": 3, "deliveries_next_cursor": None, "timeline_count": 6, "timeline_next_cursor": None,
    })
    assert detail == expected


def test_the_backdated_delivery_is_recorded_late_by_its_exact_lag(
    indexed: Database, story: Story, refs: Refs, now: int, roles
) -> None:
    with indexed.sessions() as session:
        detail = repository.get_commitment(session, 3, now)
        late, count = repository.list_deliveries(session, recorded_late=True, now=now)
    recorded = at(refs, story, "d7")
    expected = delivery_dict(story, refs, 3_000_001, "d7", "5", 1, [{"sha256": E6, "stored": False, "url": None}],
                             roles.registrar.address, note="opgeleverd in 1970")
    assert detail["deliveries"] == [expected]
    assert (expected["recording_lag_seconds"], expected["recording_lag_days"]) == (recorded - 1, (recorded - 1) // DAY)
    assert expected["recording_lag_days"] > 20_000 and expected["delivered_at_iso"] == "1970-01-01T00:00:01Z"
    assert count == 1
    assert late == [{**expected, "commitment_title": "Starterswoningen", "commitment_status": "delivered",
                     "unit": "woningen", "municipality_id": 1, "municipality_name": "Baarn"}]


def test_get_commitment_of_a_withdrawn_commitment(indexed: Database, story: Story, refs: Refs, now: int, summaries, roles) -> None:
    t, tx, o = story.t, story.tx, roles.other_registrar.address
    with indexed.sessions() as session:
        detail = repository.get_commitment(session, 6, now)
    assert detail["withdrawal"] == {"reason": "geen budget", "registrar": o, "signer_held_role": True,
                                    "chain": refs.of(tx["w6"], "CommitmentWithdrawn")}
    assert detail["deliveries"] == [delivery_dict(
        story, refs, 6_000_001, "d6", "2", t - DAY, [{"sha256": E1, "stored": False, "url": None}], o)]
    assert [(e["kind"], e["chain"]) for e in detail["timeline"]] == [
        ("registered", refs.of(tx["c6"], "CommitmentRegistered", 1)),
        ("delivered", refs.of(tx["d6"], "DeliveryRecorded")),
        ("withdrawn", refs.of(tx["w6"], "CommitmentWithdrawn")),
    ]
    assert detail["timeline"][2]["details"] == {"reason": "geen budget", "withdrawn_at": at(refs, story, "w6")}
    assert {k: detail[k] for k in summaries[6]} == summaries[6]
    assert (detail["source_document_sha256"], detail["amendments"], detail["description"]) == (E1, [], "")


def test_municipalities_with_registrars_admins_handovers_and_status_counts(
    indexed: Database, chain: LedgerChain, story: Story, refs: Refs, now: int, roles
) -> None:
    logs = chain.decoder.decode_all(chain.get_logs(chain.deployment.deploy_block, chain.head_block_number()))
    registered = {e.args["municipality_id"]: e for e in logs if e.name == "MunicipalityRegistered"}
    added = {(e.args["municipality_id"], e.args["account"]): e for e in logs if e.name == "RegistrarAdded"}

    def ref(e) -> dict[str, Any]:
        ts = chain.block(e.block_number).timestamp
        return {"tx_hash": e.transaction_hash, "block_number": e.block_number, "log_index": e.log_index,
                "block_time": ts, "block_time_iso": iso(ts)}

    zero = dict.fromkeys(ALL_STATUSES, 0)
    r, o, s = roles.registrar.address, roles.other_registrar.address, roles.stranger.address
    expected = [
        {"id": 1, "name": "Baarn", "code": "GM0308", "admin": roles.council_admin.address, "pending_admin": None,
         "recovery": None, "admin_changes": [], "registrars": [r],
         "registrar_history": [
             {"account": r, "added_by": roles.council_admin.address, "added": ref(added[1, r]), "removed_by": None,
              "removed": None},
             {"account": s, "added_by": roles.council_admin.address, "added": ref(added[1, s]),
              "removed_by": roles.council_admin.address, "removed": refs.of(story.tx["remove"], "RegistrarRemoved")},
         ],
         "confirmers": [], "confirmer_history": [],
         "commitment_count": 5,
         "status_counts": {**zero, "in_progress": 1, "delivered": 3, "delivered_late": 1},
         "status_on_record_counts": {**zero, "in_progress": 1, "delivered": 1, "delivered_late": 3},
         "registered": ref(registered[1])},
        {"id": 2, "name": "Utrecht", "code": "GM0344", "admin": s, "pending_admin": None, "recovery": None,
         "admin_changes": [{"previous_admin": roles.other_admin.address, "new_admin": s, "recovered": False,
                            "chain": refs.of(story.tx["accept"], "MunicipalityAdminChanged")}],
         "registrars": [o],
         "registrar_history": [{"account": o, "added_by": roles.other_admin.address, "added": ref(added[2, o]),
                                "removed_by": None, "removed": None}],
         "confirmers": [], "confirmer_history": [],
         "commitment_count": 2,
         "status_counts": {**zero, "pending": 1, "withdrawn": 1},
         "status_on_record_counts": {**zero, "pending": 1, "withdrawn": 1},
         "registered": ref(registered[2])},
    ]
    with indexed.sessions() as session:
        assert repository.list_municipalities(session, now) == expected
        assert repository.get_municipality(session, 2, now) == expected[1]
        assert repository.get_municipality(session, 3, now) is None
        assert repository.municipality_name(session, 1) == "Baarn"
        assert list(repository.list_municipalities(session, now)[0]["status_counts"]) == list(zero)


def test_themes_with_counts(indexed: Database) -> None:
    with indexed.sessions() as session:
        assert repository.list_themes(session, None) == [
            {"theme": "Duurzaamheid", "count": 2}, {"theme": "Mobiliteit", "count": 2}, {"theme": "Wonen", "count": 2},
        ]
        assert repository.list_themes(session, 1) == [
            {"theme": "Duurzaamheid", "count": 1}, {"theme": "Mobiliteit", "count": 1}, {"theme": "Wonen", "count": 2},
        ]
        assert repository.list_themes(session, 2) == [{"theme": "Duurzaamheid", "count": 1}, {"theme": "Mobiliteit", "count": 1}]


def test_find_commitment_by_ref_is_per_municipality_and_exact(indexed: Database, story: Story, refs: Refs) -> None:
    with indexed.sessions() as session:
        assert repository.find_commitment_by_ref(session, 2, "duurzaamheid-001") == {
            "id": 5, "municipality_id": 2, "external_ref": "duurzaamheid-001", "title": "Laadpalen",
            "withdrawn": False, "registered": refs.of(story.tx["c5"], "CommitmentRegistered"),
        }
        assert repository.find_commitment_by_ref(session, 1, "duurzaamheid-001")["id"] == 1
        assert repository.find_commitment_by_ref(session, 1, "DUURZAAMHEID-001") is None
        assert repository.find_commitment_by_ref(session, 2, "wonen-001") is None


def test_verify_hash_finds_citations_and_source_documents(indexed: Database, story: Story, refs: Refs, roles) -> None:
    t, tx = story.t, story.tx
    with indexed.sessions() as session:
        e1 = repository.verify_hash(session, E1.upper().replace("0X", "0x"))
        s1 = repository.verify_hash(session, S1)
        e3 = repository.verify_hash(session, E3)
        unknown = repository.verify_hash(session, sha("never cited"))
    d1, d6 = at(refs, story, "d1"), at(refs, story, "d6")
    assert e1 == {
        "sha256": E1,
        "found": True,
        "citations": [
            {"kind": "recorded", "batch_root": None, "leaf_hash": None, "counted": None,
             "delivery_id": 1_000_001, "commitment_id": 1, "commitment_title": "Zonnepanelen op alle scholen",
             "municipality_id": 1, "municipality_name": "Baarn", "delivered_at": t - 5 * DAY,
             "delivered_at_iso": iso(t - 5 * DAY), "recorded_at": d1, "recorded_at_iso": iso(d1),
             "recorded_late": False, "quantity": "120", "registrar": roles.registrar.address,
             "signer_held_role": True, "revoked": True, "revocation_reason": "dubbel geteld",
             "chain": refs.of(tx["d1"], "DeliveryRecorded")},
            {"kind": "recorded", "batch_root": None, "leaf_hash": None, "counted": None,
             "delivery_id": 6_000_001, "commitment_id": 6, "commitment_title": "Fietsenstallingen",
             "municipality_id": 2, "municipality_name": "Utrecht", "delivered_at": t - DAY,
             "delivered_at_iso": iso(t - DAY), "recorded_at": d6, "recorded_at_iso": iso(d6),
             "recorded_late": False, "quantity": "2", "registrar": roles.other_registrar.address,
             "signer_held_role": True, "revoked": False, "revocation_reason": None,
             "chain": refs.of(tx["d6"], "DeliveryRecorded")},
        ],
        "source_of": [{"commitment_id": 6, "title": "Fietsenstallingen", "municipality_name": "Utrecht"}],
    }
    assert s1 == {"sha256": S1, "found": True, "citations": [], "source_of": [
        {"commitment_id": 1, "title": "Zonnepanelen op alle scholen", "municipality_name": "Baarn"}]}
    assert [c["delivery_id"] for c in e3["citations"]] == [1_000_003]
    assert unknown == {"sha256": sha("never cited"), "found": False, "citations": [], "source_of": []}


def test_reindexing_the_same_range_changes_nothing(indexed: Database, chain: LedgerChain, settings: Settings) -> None:
    before = dump_index(indexed.engine)
    logs = chain.decoder.decode_all(chain.get_logs(chain.deployment.deploy_block, chain.head_block_number()))
    times = {n: chain.block(n).timestamp for n in {e.block_number for e in logs}}
    with indexed.sessions.begin() as session:
        assert apply_events(session, logs, times) == 0
    assert Indexer(chain, indexed.sessions, settings, clock=lambda: SEEN_AT).run_once() == 0
    assert dump_index(indexed.engine) == before
