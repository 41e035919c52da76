"""The write outbox's tables and queries (``ledger.db.outbox``) on SQLite and PostgreSQL:
created with the index and never dropped with it, nonces handed out once across threads
(each its own connection), idempotency keys unique per account, compare-and-set state
changes."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

from ledger.db import outbox
from ledger.db.engine import create_schema, drop_schema
from tests.db.databases import Database

ACCOUNT = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
OTHER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"


def row(write_id: str, *, key: str = "k", account: str = ACCOUNT, nonce: int = 0, evidence: list[str] | None = None,
        municipality_id: int = 1) -> dict[str, Any]:
    return {
        "id": write_id, "kind": "register_commitment", "state": "queued", "account": account,
        "municipality_id": municipality_id, "roles": ["registrar"], "token_id": "tok", "idempotency_key": key,
        "fingerprint": "f" * 64, "call_json": {"function": "registerCommitment", "args": [1]}, "tx_json": {"gas": 1},
        "raw_tx": "0x01", "tx_hash": "0x" + write_id.rjust(64, "0"), "nonce": nonce, "attempts": 1,
        "evidence_json": evidence or [], "result_kind": "commitment_registered", "context_json": {},
        "confirmations": 0, "confirmations_required": 1, "created_at": 100, "updated_at": 100,
    }


def test_the_outbox_tables_are_created_with_the_index_and_survive_a_reindex(db: Database) -> None:
    create_schema(db.engine)
    assert set(outbox.TABLE_NAMES) <= set(inspect(db.engine).get_table_names())
    with db.sessions() as session, session.begin():
        outbox.insert_write(session, row("a" * 32))
    drop_schema(db.engine)
    assert set(outbox.TABLE_NAMES) <= set(inspect(db.engine).get_table_names())
    create_schema(db.engine)  # the reindex builds the index again beside the untouched outbox
    with db.sessions() as session:
        assert outbox.get_write(session, "a" * 32)["state"] == "queued"


def test_nonces_start_at_the_chains_and_a_rolled_back_journal_gives_its_nonce_back(db: Database) -> None:
    create_schema(db.engine)
    with db.sessions() as session, session.begin():
        assert outbox.allocate_nonce(session, ACCOUNT, 7) == 7
    with db.sessions() as session, session.begin():
        assert outbox.allocate_nonce(session, ACCOUNT, 3) == 8  # the outbox's own count wins
    with pytest.raises(RuntimeError):
        with db.sessions() as session, session.begin():
            assert outbox.allocate_nonce(session, ACCOUNT, 0) == 9
            raise RuntimeError("journal failed")
    with db.sessions() as session, session.begin():
        assert outbox.allocate_nonce(session, ACCOUNT, 0) == 9
        assert outbox.allocate_nonce(session, OTHER, 0) == 0
    with db.sessions() as session, session.begin():
        assert outbox.allocate_nonce(session, ACCOUNT, 20) == 20  # sent outside the outbox


def test_concurrent_allocations_hand_out_every_nonce_once(db: Database) -> None:
    create_schema(db.engine)
    with db.sessions() as session, session.begin():
        outbox.allocate_nonce(session, ACCOUNT, 0)  # the row exists, as after the first write
    got: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(8, timeout=30)

    def allocate() -> None:
        start.wait()
        for _ in range(5):
            for _try in range(50):
                try:
                    with db.sessions() as session, session.begin():
                        nonce = outbox.allocate_nonce(session, ACCOUNT, 0)
                    break
                except Exception:  # noqa: BLE001 - SQLite busy: retried, as the journal does
                    continue
            with lock:
                got.append(nonce)

    threads = [threading.Thread(target=allocate) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(got) == list(range(1, 41))


def test_an_idempotency_key_is_unique_per_account(db: Database) -> None:
    create_schema(db.engine)
    with db.sessions() as session, session.begin():
        outbox.insert_write(session, row("a" * 32, key="same"))
        outbox.insert_write(session, row("b" * 32, key="same", account=OTHER))
    with pytest.raises(IntegrityError):
        with db.sessions() as session, session.begin():
            outbox.insert_write(session, row("c" * 32, key="same", nonce=1))
    with db.sessions() as session:
        assert outbox.write_by_key(session, ACCOUNT, "same")["id"] == "a" * 32
        assert outbox.write_by_key(session, OTHER, "same")["id"] == "b" * 32
        assert outbox.write_by_key(session, ACCOUNT, "other") is None


def test_state_changes_are_compare_and_set_on_state_and_attempt(db: Database) -> None:
    create_schema(db.engine)
    wid = "d" * 32
    with db.sessions() as session, session.begin():
        outbox.insert_write(session, row(wid, evidence=["0x" + "ab" * 32]))
    with db.sessions() as session, session.begin():
        assert outbox.transition(session, wid, from_state="queued", attempt=1, now=101, state="sent")
        assert not outbox.transition(session, wid, from_state="queued", attempt=1, now=102, state="sent")
    with db.sessions() as session, session.begin():
        assert outbox.record_attempt(session, wid, from_state="sent", attempt=1, nonce=5, tx_hash="0x" + "ee" * 32,
                                     raw_tx="0x02", tx_json={"gas": 2}, now=103)
        assert not outbox.record_attempt(session, wid, from_state="sent", attempt=1, nonce=6,
                                         tx_hash="0x" + "ff" * 32, raw_tx="0x03", tx_json={}, now=104)
    with db.sessions() as session, session.begin():
        assert outbox.transition(session, wid, from_state="queued", attempt=2, now=105, state="failed",
                                 problem_json={"status": 409, "type": "/problems/duplicate-external-ref"})
    with db.sessions() as session:
        got = outbox.get_write(session, wid)
        assert (got["state"], got["attempts"], got["nonce"], got["tx_hash"], got["updated_at"]) == (
            "failed", 2, 5, "0x" + "ee" * 32, 105)
        assert got["problem_json"]["status"] == 409 and got["tx_json"] == {"gas": 2}
        assert [a["attempt"] for a in outbox.attempt_history(session, wid)] == [1, 2]
        assert outbox.open_writes(session) == []
        assert outbox.count_by_state(session) == {"failed": 1}


def test_evidence_cited_only_by_failed_writes_is_failed_and_by_open_ones_pending(db: Database) -> None:
    create_schema(db.engine)
    a, b = "0x" + "a1" * 32, "0x" + "b2" * 32
    with db.sessions() as session, session.begin():
        outbox.insert_write(session, row("1" * 32, key="k1", evidence=[a]))
        outbox.insert_write(session, row("2" * 32, key="k2", evidence=[a, b], nonce=1))
        outbox.transition(session, "2" * 32, from_state="queued", attempt=1, now=1, state="failed")
    with db.sessions() as session:
        assert outbox.evidence_citation(session, a) == "pending"
        assert outbox.evidence_citation(session, b) == "failed"
        assert outbox.evidence_citation(session, "0x" + "c3" * 32) == "none"
        page, count = outbox.list_writes(session, 1, state="failed")
        assert (count, [w["id"] for w in page]) == (1, ["2" * 32])
        assert outbox.list_writes(session, 2)[1] == 0
