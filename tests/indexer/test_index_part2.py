"""Contract 2.1.0 on the real chain, indexed on SQLite and PostgreSQL: confirmers and their
verdicts, sub-commitments with weights, and a batch anchored without its file (it counts
nothing; its leaf is revoked and confirmed on chain all the same), with exact values.

The story (municipality 1 Baarn: registrar; stranger is Baarn's confirmer):

- P "Wijkaanpak" target 10 with parts A (weight 2, target 4) and B (weight 1, target 2);
  A gets a delivery of 4 (asset "lamp 7"), B a delivery of 1.
- stranger confirms A's delivery (citing its inspection report) and disputes B's.
- A one-leaf batch for B (its root is the leaf hash, so the proof is empty) is anchored with a
  file no reader holds; the leaf is then confirmed and revoked on chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import pytest

from indexer.loop import Indexer
from ledger.chain import LedgerChain, TxResult
from ledger.db import repository
from ledger.settings import Settings
from tests.db.databases import BACKENDS, Database, fresh_database
from tests.indexer.ledger_txs import DAY, b32, commitment_input, delivery_input, sha

INSPECTION = sha("inspectierapport")
MISSING_FILE = sha("a batch file nobody published")


@dataclass
class Part2:
    t: int
    tx: dict[str, TxResult]
    leaf: tuple
    leaf_hash: str


@pytest.fixture(scope="module")
def part2(chain: LedgerChain, roles, chain_time: Callable[[], int]) -> Part2:
    t = chain_time()
    reg, confirmer = roles.registrar.key, roles.stranger.key
    tx: dict[str, TxResult] = {}
    tx["confirmer"] = chain.send("addConfirmer", [1, roles.stranger.address], roles.council_admin.key)
    tx["p"] = chain.send("registerCommitment", [commitment_input(1, "wijk-1", "Wijkaanpak", target=10, due=t + 30 * DAY)], reg)
    tx["a"] = chain.send("registerCommitment", [commitment_input(
        1, "wijk-1a", "Straatverlichting", target=4, due=t + 30 * DAY, parent_id=1, weight=2)], reg)
    tx["b"] = chain.send("registerCommitment", [commitment_input(
        1, "wijk-1b", "Bankjes", target=2, due=t + 30 * DAY, parent_id=1, weight=1)], reg)
    tx["da"] = chain.send("recordDelivery", [2, delivery_input(4, t - DAY, [sha("lampen")], asset="")], reg)
    tx["db"] = chain.send("recordDelivery", [3, delivery_input(1, t - DAY, [sha("bankje")])], reg)
    tx["ok"] = chain.send("confirmDelivery", [2_000_001, b32(INSPECTION)], confirmer)
    tx["no"] = chain.send("disputeDelivery", [3_000_001, "Geen bankje gevonden"], confirmer)
    leaf = (3, 1, t - DAY, [b32(sha("bankje-2"))], "", "tweede bankje", "bank-2", "")
    leaf_hash = "0x" + bytes(chain.call("batchLeafHash", leaf)).hex()
    tx["anchor"] = chain.send("anchorBatch", [(1, b32(leaf_hash), 1, b32(MISSING_FILE), "https://example.org/b.json")], reg)
    tx["leaf_ok"] = chain.send("confirmBatchedDelivery", [b32(leaf_hash), leaf, [], b32("0x" + "00" * 32)], confirmer)
    tx["leaf_revoked"] = chain.send("revokeBatchedDelivery", [b32(leaf_hash), leaf, [], "dubbel"], reg)
    return Part2(t, tx, leaf, leaf_hash)


@pytest.fixture(scope="module", params=BACKENDS)
def indexed(request, part2: Part2, chain: LedgerChain, settings: Settings, tmp_path_factory) -> Iterator[Database]:
    with fresh_database(request.param, tmp_path_factory.mktemp("part2")) as db:
        Indexer(chain, db.sessions, settings, batch_files=lambda sha256: None).run_once()
        yield db


def test_the_parent_rolls_up_its_parts_by_weight(indexed: Database, part2: Part2) -> None:
    with indexed.sessions() as session:
        page, _ = repository.list_commitments(session, part2.t)
    got = {c["id"]: (c["parent_id"], c["weight"], c["children"], c["rollup_progress_bps"],
                     c["rollup_children_counted"], c["rollup_children_delivered"], c["progress_bps"]) for c in page}
    # (2 * 10000 + 1 * 5000) / 3 = 8333
    assert got == {1: (None, 0, [2, 3], 8333, 2, 1, 0), 2: (1, 2, [], None, 0, 0, 10000), 3: (1, 1, [], None, 0, 0, 5000)}


def test_verdicts_give_review_and_confirmed_figures(indexed: Database, part2: Part2, roles, refs) -> None:
    with indexed.sessions() as session:
        a = repository.get_commitment(session, 2, part2.t)
        b = repository.get_commitment(session, 3, part2.t)
        m = repository.get_municipality(session, 1, part2.t)
    ok = part2.tx["ok"]
    assert a["deliveries"][0]["review"] == "confirmed"
    assert a["deliveries"][0]["confirmations"] == [{
        "confirmer": roles.stranger.address, "evidence_hash": INSPECTION, "at": refs.time(ok.block_number),
        "at_iso": refs.of(ok, "DeliveryConfirmed")["block_time_iso"], "signer_held_role": True,
        "chain": refs.of(ok, "DeliveryConfirmed"),
    }]
    assert (a["confirmed_quantity"], a["unconfirmed_quantity"], a["status_confirmed"], a["met_at_confirmed"],
            a["progress_bps_confirmed"]) == ("4", "0", "delivered", part2.t - DAY, 10000)
    assert [d["review"] for d in b["deliveries"]] == ["disputed"]
    assert [x["reason"] for x in b["deliveries"][0]["disputes"]] == ["Geen bankje gevonden"]
    assert (b["confirmed_quantity"], b["unconfirmed_quantity"], b["disputed_quantity"], b["status_confirmed"]) == (
        "0", "1", "1", "pending")
    assert m["confirmers"] == [roles.stranger.address]
    assert [(h["account"], h["added_by"], h["removed"]) for h in m["confirmer_history"]] == [
        (roles.stranger.address, roles.council_admin.address, None)]


def test_a_batch_whose_file_is_missing_counts_nothing_and_keeps_its_revocation_and_verdict(
    indexed: Database, part2: Part2, roles, refs
) -> None:
    with indexed.sessions() as session:
        batches, total = repository.list_batches(session, municipality_id=1)
        b = repository.get_commitment(session, 3, part2.t)
        proof = repository.get_batch_leaf_proof(session, part2.leaf_hash, part2.leaf_hash)
    anchor = part2.tx["anchor"]
    assert (total, batches) == (1, [{
        "root": part2.leaf_hash, "municipality_id": 1, "municipality_name": "Baarn",
        "registrar": roles.registrar.address, "signer_held_role": True, "leaf_count": 1,
        "file_sha256": MISSING_FILE, "file_uri": "https://example.org/b.json", "file_stored": False, "file_url": None,
        "anchored_at": refs.time(anchor.block_number), "anchored_at_iso": refs.of(anchor, "BatchAnchored")["block_time_iso"],
        "verified": False, "unverified_reason": "missing", "counted_leaves": 0, "refused_leaves": 0,
        "revoked_leaves": 0, "chain": refs.of(anchor, "BatchAnchored"),
    }])
    assert (b["delivered_quantity"], b["batched_delivery_count"], len(b["deliveries"])) == ("1", 0, 1)
    assert proof is None


def test_status_on_record_agrees_with_the_contract(indexed: Database, chain: LedgerChain, chain_time) -> None:
    now = chain_time()
    with indexed.sessions() as session:
        for cid in (1, 2, 3):
            mine = repository.get_commitment(session, cid, now)
            theirs = chain.status_of(cid)
            assert (mine["status_on_record"], mine["delivered_quantity"], mine["met_on_record_at"]) == (
                theirs.status_on_record, str(theirs.delivered_quantity), theirs.met_on_record_at)
