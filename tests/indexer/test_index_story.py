"""Index a story written on the real chain, then check the exact rows and the exact
repository outputs (docs/API.md shapes), on SQLite and PostgreSQL.

The story (municipality 1 Baarn: registrar; 2 Utrecht: other_registrar), with T the chain time
when it starts:

- C1 Baarn "Zonnepanelen": target 200, due T+30d; D1 120 (T-5d, [E1, E2]), D2 100 (T-3d,
  [E2]); D1 revoked; D3 150 (T-4d, [E3]); amended to target 150, due T+60d, new texts
  -> delivered 250, met at T-4d: delivered.
- C2 Baarn "Wonen", target 10, due T-10d; D4 10 (T-2d) -> delivered_late.
- C3 Baarn "Wonen", target 5, due T-1d -> overdue.
- C4 Baarn no theme, target 3, due T+10d; D5 1 -> in_progress.
- C5 Utrecht "Duurzaamheid" (same external ref as C1), target 1, due T+100d -> pending.
- C6 Utrecht "Mobiliteit", source document E1, target 7; D6 2 ([E1]); withdrawn.
- Baarn adds and removes stranger as registrar; Utrecht's admin becomes stranger; the
  platform admin hands ownership to stranger (OwnershipTransferStarted/-Transferred).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest
from sqlalchemy import select

from indexer.loop import Indexer
from ledger.chain import LedgerChain, TxResult
from ledger.db import repository
from ledger.db.models import Amendment, Delivery, EventRow, EvidenceCitation, Registrar
from ledger.db.projection import apply_events
from ledger.settings import Settings
from tests.db.databases import BACKENDS, Database, dump_index, fresh_database
from tests.indexer.ledger_txs import DAY, Refs, commitment_input, delivery_input, iso, sha

SEEN_AT = 1_800_000_000
E1, E2, E3, E4, E5 = (sha(f"evidence-{i}") for i in range(1, 6))
S1 = sha("raadsbesluit-2025-17")


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
        theme="Duurzaamheid", target=200, unit="scholen", due=t + 30 * DAY, source=S1,
        source_uri="https://baarn.nl/raadsbesluit")], reg)
    send("c2", "registerCommitment", [commitment_input(
        1, "wonen-001", "Sociale huurwoningen", description="Tien sociale huurwoningen.", theme="Wonen",
        target=10, unit="woningen", due=t - 10 * DAY)], reg)
    send("c3", "registerCommitment", [commitment_input(
        1, "wonen-002", "Starterswoningen", theme="Wonen", target=5, unit="woningen", due=t - DAY)], reg)
    send("c4", "registerCommitment", [commitment_input(
        1, "groen-001", "Groene daken", description="100% groen_dak subsidie", target=3, unit="daken",
        due=t + 10 * DAY)], reg)
    send("c5", "registerCommitment", [commitment_input(
        2, "duurzaamheid-001", "Laadpalen", description="Laadpalen in elke wijk", theme="Duurzaamheid",
        target=1, unit="wijk", due=t + 100 * DAY)], oreg)
    send("c6", "registerCommitment", [commitment_input(
        2, "mobiliteit-001", "Fietsenstallingen", theme="Mobiliteit", target=7, unit="stallingen",
        due=t + 5 * DAY, source=E1)], oreg)
    send("d1", "recordDelivery", [1, delivery_input(
        120, t - 5 * DAY, [E1, E2], uri="https://baarn.nl/bewijs", note="eerste scholen", ref="lev-1")], reg)
    send("d2", "recordDelivery", [1, delivery_input(100, t - 3 * DAY, [E2], ref="lev-2")], reg)
    send("r1", "revokeDelivery", [1, "dubbel geteld"], reg)
    send("d3", "recordDelivery", [1, delivery_input(150, t - 4 * DAY, [E3])], reg)
    send("a1", "amendCommitment", [1, (
        "Zonnepanelen op alle scholen", "Alle scholen, ook voortgezet onderwijs.", 150, t + 60 * DAY,
        "raadsbesluit 2026")], reg)
    send("d4", "recordDelivery", [2, delivery_input(10, t - 2 * DAY, [E4], note="opgeleverd")], reg)
    send("d5", "recordDelivery", [4, delivery_input(1, t - DAY, [E5])], reg)
    send("d6", "recordDelivery", [6, delivery_input(2, t - DAY, [E1])], oreg)
    send("w6", "withdrawCommitment", [6, "geen budget"], oreg)
    send("add", "addRegistrar", [1, roles.stranger.address], roles.council_admin.key)
    send("remove", "removeRegistrar", [1, roles.stranger.address], roles.council_admin.key)
    send("admin", "changeMunicipalityAdmin", [2, roles.stranger.address], roles.platform_admin.key)
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
    assert names[-2:] == ["OwnershipTransferStarted", "OwnershipTransferred"]
    assert names.count("EvidenceCited") == 7  # one log per evidence hash of each delivery


def test_delivery_rows_carry_their_recording_and_revocation(indexed: Database, story: Story, refs: Refs, roles) -> None:
    with indexed.sessions() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
    tx = story.tx
    got = [
        (d.id, d.commitment_id, d.quantity, d.delivered_at, d.revoked, d.revocation_reason, d.revocation_registrar,
         d.block_number, d.log_index, d.tx_hash, d.revoked_block_number, d.revoked_tx_hash)
        for d in rows
    ]
    t, r = story.t, roles.registrar.address
    rec = lambda name: (refs.of(tx[name], "DeliveryRecorded")["block_number"],  # noqa: E731
                        refs.of(tx[name], "DeliveryRecorded")["log_index"], tx[name].tx_hash)
    assert got == [
        (1, 1, 120, t - 5 * DAY, True, "dubbel geteld", r, *rec("d1"), tx["r1"].block_number, tx["r1"].tx_hash),
        (2, 1, 100, t - 3 * DAY, False, None, None, *rec("d2"), None, None),
        (3, 1, 150, t - 4 * DAY, False, None, None, *rec("d3"), None, None),
        (4, 2, 10, t - 2 * DAY, False, None, None, *rec("d4"), None, None),
        (5, 4, 1, t - DAY, False, None, None, *rec("d5"), None, None),
        (6, 6, 2, t - DAY, False, None, None, *rec("d6"), None, None),
    ]


def test_each_evidence_hash_appears_once_per_delivery(indexed: Database, story: Story) -> None:
    with indexed.sessions() as session:
        rows = session.execute(
            select(EvidenceCitation.delivery_id, EvidenceCitation.sha256, EvidenceCitation.position,
                   EvidenceCitation.commitment_id, EvidenceCitation.tx_hash)
            .order_by(EvidenceCitation.delivery_id, EvidenceCitation.position)
        ).tuples().all()
    tx = story.tx
    assert rows == [
        (1, E1, 0, 1, tx["d1"].tx_hash), (1, E2, 1, 1, tx["d1"].tx_hash), (2, E2, 0, 1, tx["d2"].tx_hash),
        (3, E3, 0, 1, tx["d3"].tx_hash), (4, E4, 0, 2, tx["d4"].tx_hash), (5, E5, 0, 4, tx["d5"].tx_hash),
        (6, E1, 0, 6, tx["d6"].tx_hash),
    ]


def test_amendment_and_registrar_rows(indexed: Database, story: Story, roles) -> None:
    t = story.t
    with indexed.sessions() as session:
        amendments = session.scalars(select(Amendment)).all()
        registrars = session.scalars(select(Registrar).order_by(Registrar.municipality_id, Registrar.account)).all()
    assert [(a.commitment_id, a.amendment_number, a.title, a.previous_target_quantity, a.target_quantity,
             a.previous_due_date, a.due_date, a.reason, a.registrar, a.tx_hash) for a in amendments] == [
        (1, 1, "Zonnepanelen op alle scholen", 200, 150, t + 30 * DAY, t + 60 * DAY, "raadsbesluit 2026",
         roles.registrar.address, story.tx["a1"].tx_hash),
    ]
    got = {(r.municipality_id, r.account): (r.active, r.added_by, r.removed_by, r.removed_tx_hash) for r in registrars}
    assert got == {
        (1, roles.registrar.address): (True, roles.council_admin.address, None, None),
        (2, roles.other_registrar.address): (True, roles.other_admin.address, None, None),
        (1, roles.stranger.address): (False, roles.council_admin.address, roles.council_admin.address,
                                      story.tx["remove"].tx_hash),
    }


def test_checkpoint_records_the_indexed_block_its_hash_and_the_head(indexed: Database, chain: LedgerChain) -> None:
    head = chain.head_block_number()
    with indexed.sessions() as session:
        assert repository.get_checkpoint(session) == {
            "last_block": head,
            "last_block_hash": chain.block(head).hash,
            "chain_head_block": head,
            "head_seen_at": SEEN_AT,
        }


# ---------------------------------------------------------------------------- repository


def summary(story: Story, refs: Refs, cid: int, **fields: Any) -> dict[str, Any]:
    base = {
        "id": cid,
        "registered": refs.of(story.tx[f"c{cid}"], "CommitmentRegistered"),
        "withdrawn": False,
        "met_at": None,
        "met_at_iso": None,
    }
    base.update(fields)
    base["due_date_iso"] = iso(base["due_date"])
    if base["met_at"] is not None:
        base["met_at_iso"] = iso(base["met_at"])
    order = ["id", "municipality_id", "municipality_name", "external_ref", "title", "theme", "unit",
             "target_quantity", "delivered_quantity", "progress_bps", "status", "due_date", "due_date_iso",
             "met_at", "met_at_iso", "registered", "withdrawn"]
    assert set(base) == set(order)
    return {key: base[key] for key in order}


@pytest.fixture(scope="module")
def summaries(story: Story, refs: Refs) -> dict[int, dict[str, Any]]:
    t = story.t
    baarn = {"municipality_id": 1, "municipality_name": "Baarn"}
    utrecht = {"municipality_id": 2, "municipality_name": "Utrecht"}
    return {
        1: summary(story, refs, 1, **baarn, external_ref="duurzaamheid-001", title="Zonnepanelen op alle scholen",
                   theme="Duurzaamheid", unit="scholen", target_quantity="150", delivered_quantity="250",
                   progress_bps=16666, status="delivered", due_date=t + 60 * DAY, met_at=t - 4 * DAY),
        2: summary(story, refs, 2, **baarn, external_ref="wonen-001", title="Sociale huurwoningen", theme="Wonen",
                   unit="woningen", target_quantity="10", delivered_quantity="10", progress_bps=10000,
                   status="delivered_late", due_date=t - 10 * DAY, met_at=t - 2 * DAY),
        3: summary(story, refs, 3, **baarn, external_ref="wonen-002", title="Starterswoningen", theme="Wonen",
                   unit="woningen", target_quantity="5", delivered_quantity="0", progress_bps=0, status="overdue",
                   due_date=t - DAY),
        4: summary(story, refs, 4, **baarn, external_ref="groen-001", title="Groene daken", theme="", unit="daken",
                   target_quantity="3", delivered_quantity="1", progress_bps=3333, status="in_progress",
                   due_date=t + 10 * DAY),
        5: summary(story, refs, 5, **utrecht, external_ref="duurzaamheid-001", title="Laadpalen",
                   theme="Duurzaamheid", unit="wijk", target_quantity="1", delivered_quantity="0", progress_bps=0,
                   status="pending", due_date=t + 100 * DAY),
        6: summary(story, refs, 6, **utrecht, external_ref="mobiliteit-001", title="Fietsenstallingen",
                   theme="Mobiliteit", unit="stallingen", target_quantity="7", delivered_quantity="2",
                   progress_bps=2857, status="withdrawn", due_date=t + 5 * DAY, withdrawn=True),
    }


FILTERS = [
    ({}, [1, 2, 3, 4, 5, 6]),
    ({"municipality_id": 2}, [5, 6]),
    ({"municipality_id": 3}, []),
    ({"theme": "Wonen"}, [2, 3]),
    ({"theme": ""}, [4]),
    ({"statuses": ["overdue", "pending"]}, [3, 5]),
    ({"statuses": ["withdrawn"]}, [6]),
    ({"statuses": ["delivered", "delivered_late"], "municipality_id": 1}, [1, 2]),
    ({"q": "SCHOLEN"}, [1]),
    ({"q": "duurzaamheid-001"}, [1, 5]),
    ({"q": "groen_dak"}, [4]),
    ({"q": "100%"}, [4]),
    ({"q": "ook voortgezet"}, [1]),
    ({"q": "basisscholen"}, []),  # the description before the amendment
    ({"q": "woning", "theme": "Wonen", "statuses": ["overdue"]}, [3]),
]


@pytest.mark.parametrize(("filters", "ids"), FILTERS)
def test_list_commitments_filters(indexed: Database, now: int, summaries, filters: dict, ids: list[int]) -> None:
    with indexed.sessions() as session:
        page, total = repository.list_commitments(session, now, **filters)
    assert page == [summaries[i] for i in ids]
    assert total == len(ids)


@pytest.mark.parametrize(
    ("offset", "limit", "ids"), [(0, 2, [1, 2]), (2, 2, [3, 4]), (5, 2, [6]), (10, 20, []), (1, 100, [2, 3, 4, 5, 6])]
)
def test_list_commitments_pages_by_id_with_the_total_count(indexed: Database, now: int, summaries, offset, limit, ids) -> None:
    with indexed.sessions() as session:
        page, total = repository.list_commitments(session, now, offset=offset, limit=limit)
    assert ([c["id"] for c in page], total) == (ids, 6)
    assert page == [summaries[i] for i in ids]


def test_statuses_move_with_now(indexed: Database, story: Story) -> None:
    later = story.t + 200 * DAY
    with indexed.sessions() as session:
        page, _ = repository.list_commitments(session, later)
        overdue, total = repository.list_commitments(session, later, statuses=["overdue"])
    assert [c["status"] for c in page] == ["delivered", "delivered_late", "overdue", "overdue", "overdue", "withdrawn"]
    assert ([c["id"] for c in overdue], total) == ([3, 4, 5], 3)


def test_statuses_agree_with_the_contract_view(indexed: Database, chain: LedgerChain, chain_time) -> None:
    at = chain_time()
    with indexed.sessions() as session:
        for cid in range(1, 7):
            mine = repository.get_commitment(session, cid, at)
            theirs = chain.status_of(cid)
            assert (mine["status"], mine["delivered_quantity"], mine["target_quantity"], mine["progress_bps"],
                    mine["met_at"] or 0) == (theirs.status, str(theirs.delivered_quantity),
                                             str(theirs.target_quantity), theirs.progress_bps, theirs.met_at)


def test_get_commitment_gives_deliveries_by_id_and_the_timeline_in_chain_order(
    indexed: Database, story: Story, refs: Refs, now: int, summaries, roles
) -> None:
    t, tx, r = story.t, story.tx, roles.registrar.address
    stored = {E2}
    with indexed.sessions() as session:
        detail = repository.get_commitment(session, 1, now, evidence_stored=lambda h: h in stored)

    def ev(h: str) -> dict[str, Any]:
        return {"sha256": h, "stored": h in stored, "url": f"/api/v1/evidence/{h}" if h in stored else None}

    def delivery(did, name, quantity, at, evidence, uri="", note="", ref="", revocation=None) -> dict[str, Any]:
        return {
            "id": did, "commitment_id": 1, "quantity": quantity, "delivered_at": at, "delivered_at_iso": iso(at),
            "evidence": [ev(h) for h in evidence], "evidence_uri": uri, "note": note, "external_ref": ref,
            "registrar": r, "recorded": refs.of(tx[name], "DeliveryRecorded"), "revocation": revocation,
        }

    expected = dict(summaries[1])
    expected.update({
        "description": "Alle scholen, ook voortgezet onderwijs.",
        "source_document_sha256": S1,
        "source_uri": "https://baarn.nl/raadsbesluit",
        "registrar": r,
        "amendment_count": 1,
        "withdrawal": None,
        "deliveries": [
            delivery(1, "d1", "120", t - 5 * DAY, [E1, E2], "https://baarn.nl/bewijs", "eerste scholen", "lev-1",
                     {"reason": "dubbel geteld", "registrar": r, "chain": refs.of(tx["r1"], "DeliveryRevoked")}),
            delivery(2, "d2", "100", t - 3 * DAY, [E2], ref="lev-2"),
            delivery(3, "d3", "150", t - 4 * DAY, [E3]),
        ],
        "timeline": [
            {"kind": "registered", "chain": refs.of(tx["c1"], "CommitmentRegistered"), "registrar": r, "details": {
                "external_ref": "duurzaamheid-001", "title": "Zonnepanelen op scholen",
                "description": "Alle basisscholen krijgen zonnepanelen.", "theme": "Duurzaamheid",
                "target_quantity": "200", "unit": "scholen", "due_date": t + 30 * DAY,
                "source_document_sha256": S1, "source_uri": "https://baarn.nl/raadsbesluit"}},
            {"kind": "delivered", "chain": refs.of(tx["d1"], "DeliveryRecorded"), "registrar": r, "details": {
                "delivery_id": 1, "quantity": "120", "delivered_at": t - 5 * DAY, "evidence_sha256": [E1, E2],
                "note": "eerste scholen"}},
            {"kind": "delivered", "chain": refs.of(tx["d2"], "DeliveryRecorded"), "registrar": r, "details": {
                "delivery_id": 2, "quantity": "100", "delivered_at": t - 3 * DAY, "evidence_sha256": [E2],
                "note": ""}},
            {"kind": "revoked", "chain": refs.of(tx["r1"], "DeliveryRevoked"), "registrar": r, "details": {
                "delivery_id": 1, "reason": "dubbel geteld"}},
            {"kind": "delivered", "chain": refs.of(tx["d3"], "DeliveryRecorded"), "registrar": r, "details": {
                "delivery_id": 3, "quantity": "150", "delivered_at": t - 4 * DAY, "evidence_sha256": [E3],
                "note": ""}},
            {"kind": "amended", "chain": refs.of(tx["a1"], "CommitmentAmended"), "registrar": r, "details": {
                "amendment_number": 1, "title": "Zonnepanelen op alle scholen",
                "description": "Alle scholen, ook voortgezet onderwijs.", "previous_target_quantity": "200",
                "target_quantity": "150", "previous_due_date": t + 30 * DAY, "due_date": t + 60 * DAY,
                "reason": "raadsbesluit 2026"}},
        ],
    })
    assert detail == expected
    assert list(detail) == list(expected)


def test_get_commitment_of_a_withdrawn_commitment(indexed: Database, story: Story, refs: Refs, now: int, summaries, roles) -> None:
    t, tx, r = story.t, story.tx, roles.other_registrar.address
    with indexed.sessions() as session:
        detail = repository.get_commitment(session, 6, now)
    assert detail["withdrawal"] == {"reason": "geen budget", "registrar": r, "chain": refs.of(tx["w6"], "CommitmentWithdrawn")}
    assert detail["deliveries"] == [{
        "id": 6, "commitment_id": 6, "quantity": "2", "delivered_at": t - DAY, "delivered_at_iso": iso(t - DAY),
        "evidence": [{"sha256": E1, "stored": False, "url": None}], "evidence_uri": "", "note": "",
        "external_ref": "", "registrar": r, "recorded": refs.of(tx["d6"], "DeliveryRecorded"), "revocation": None,
    }]
    assert [(e["kind"], e["chain"]) for e in detail["timeline"]] == [
        ("registered", refs.of(tx["c6"], "CommitmentRegistered")),
        ("delivered", refs.of(tx["d6"], "DeliveryRecorded")),
        ("withdrawn", refs.of(tx["w6"], "CommitmentWithdrawn")),
    ]
    assert detail["timeline"][2]["details"] == {"reason": "geen budget"}
    assert {k: detail[k] for k in summaries[6]} == summaries[6]
    assert (detail["source_document_sha256"], detail["amendment_count"], detail["description"]) == (E1, 0, "")


def test_municipalities_with_registrars_admins_and_status_counts(
    indexed: Database, chain: LedgerChain, now: int, roles
) -> None:
    logs = chain.decoder.decode_all(chain.get_logs(chain.deployment.deploy_block, chain.head_block_number()))
    registered = {e.args["municipality_id"]: e for e in logs if e.name == "MunicipalityRegistered"}

    def ref(e) -> dict[str, Any]:
        ts = chain.block(e.block_number).timestamp
        return {"tx_hash": e.transaction_hash, "block_number": e.block_number, "log_index": e.log_index,
                "block_time": ts, "block_time_iso": iso(ts)}

    zero = dict.fromkeys(["pending", "in_progress", "delivered", "delivered_late", "overdue", "withdrawn"], 0)
    expected = [
        {"id": 1, "name": "Baarn", "code": "GM0308", "admin": roles.council_admin.address,
         "registrars": [roles.registrar.address], "commitment_count": 4,
         "status_counts": {**zero, "in_progress": 1, "delivered": 1, "delivered_late": 1, "overdue": 1},
         "registered": ref(registered[1])},
        {"id": 2, "name": "Utrecht", "code": "GM0344", "admin": roles.stranger.address,
         "registrars": [roles.other_registrar.address], "commitment_count": 2,
         "status_counts": {**zero, "pending": 1, "withdrawn": 1}, "registered": ref(registered[2])},
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
            {"theme": "Duurzaamheid", "count": 2}, {"theme": "Mobiliteit", "count": 1}, {"theme": "Wonen", "count": 2},
        ]
        assert repository.list_themes(session, 1) == [{"theme": "Duurzaamheid", "count": 1}, {"theme": "Wonen", "count": 2}]
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
    assert e1 == {
        "sha256": E1,
        "found": True,
        "citations": [
            {"delivery_id": 1, "commitment_id": 1, "commitment_title": "Zonnepanelen op alle scholen",
             "municipality_id": 1, "municipality_name": "Baarn", "delivered_at": t - 5 * DAY,
             "delivered_at_iso": iso(t - 5 * DAY), "quantity": "120", "registrar": roles.registrar.address,
             "revoked": True, "revocation_reason": "dubbel geteld", "chain": refs.of(tx["d1"], "DeliveryRecorded")},
            {"delivery_id": 6, "commitment_id": 6, "commitment_title": "Fietsenstallingen",
             "municipality_id": 2, "municipality_name": "Utrecht", "delivered_at": t - DAY,
             "delivered_at_iso": iso(t - DAY), "quantity": "2", "registrar": roles.other_registrar.address,
             "revoked": False, "revocation_reason": None, "chain": refs.of(tx["d6"], "DeliveryRecorded")},
        ],
        "source_of": [{"commitment_id": 6, "title": "Fietsenstallingen", "municipality_name": "Utrecht"}],
    }
    assert s1 == {"sha256": S1, "found": True, "citations": [], "source_of": [
        {"commitment_id": 1, "title": "Zonnepanelen op alle scholen", "municipality_name": "Baarn"}]}
    assert [c["delivery_id"] for c in e3["citations"]] == [3]
    assert unknown == {"sha256": sha("never cited"), "found": False, "citations": [], "source_of": []}


def test_reindexing_the_same_range_changes_nothing(indexed: Database, chain: LedgerChain, settings: Settings) -> None:
    before = dump_index(indexed.engine)
    logs = chain.decoder.decode_all(chain.get_logs(chain.deployment.deploy_block, chain.head_block_number()))
    times = {n: chain.block(n).timestamp for n in {e.block_number for e in logs}}
    with indexed.sessions.begin() as session:
        assert apply_events(session, logs, times) == 0
    assert Indexer(chain, indexed.sessions, settings, clock=lambda: SEEN_AT).run_once() == 0
    assert dump_index(indexed.engine) == before
