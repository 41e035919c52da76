"""Batches on the real chain (docs/LEDGER.md "Batches"): the indexer counts a batch once its
file is in the evidence store, also when the file arrives after the batch was indexed (the next
pass finds it, and the index is then exactly the one a file held from the start gives), and the
proof it serves is the one ``verifyBatchedDelivery`` accepts on chain. SQLite and PostgreSQL.

The story (Baarn): commitment "Lantaarnpalen" target 10; a recorded delivery of 2 naming
asset "Paal 3"; a batch of three leaves (4 with asset "Paal 1", 4 with asset "Paal 3", 2),
written by @openzeppelin/merkle-tree and anchored; then the third leaf is revoked on chain.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pytest

from indexer.loop import Indexer
from ledger.chain import LedgerChain, TxResult
from ledger.db import repository
from ledger.evidence import EvidenceStore
from ledger.settings import Settings
from tests.db.batch_files import BatchFile, build, leaf
from tests.db.databases import BACKENDS, Database, dump_index, fresh_database
from tests.indexer.ledger_txs import DAY, b32, commitment_input, delivery_input, indexer_settings, sha


@dataclass
class Story:
    t: int
    file: BatchFile
    tx: dict[str, TxResult]


def struct(values: list) -> tuple:
    """A file's leaf values as the ``BatchLeaf`` struct argument."""
    c, q, d, hashes, uri, note, ref, asset = values
    return (int(c), int(q), int(d), [b32(h) for h in hashes], uri, note, ref, asset)


@pytest.fixture(scope="module")
def story(chain: LedgerChain, roles, chain_time: Callable[[], int]) -> Story:
    t = chain_time()
    reg = roles.registrar.key
    tx: dict[str, TxResult] = {}
    tx["c"] = chain.send("registerCommitment", [commitment_input(1, "palen", "Lantaarnpalen", target=10, due=t + 30 * DAY)], reg)
    tx["d"] = chain.send("recordDelivery", [1, delivery_input(2, t - DAY, [sha("paal-3")], asset="Paal 3")], reg)
    f = build([leaf(1, 4, t - DAY, asset="Paal 1"), leaf(1, 4, t - DAY, asset="Paal 3"), leaf(1, 2, t - DAY, ref="x")])
    tx["anchor"] = chain.send("anchorBatch", [(1, b32(f.root), 3, b32(f.sha256), "https://example.org/palen.json")], reg)
    tx["revoke"] = chain.send("revokeBatchedDelivery", [b32(f.root), struct(f.values[2]), f.proofs[2], "te veel"], reg)
    return Story(t, f, tx)


def store_file(directory: Path, f: BatchFile) -> None:
    EvidenceStore(directory).save_stream(io.BytesIO(f.data), len(f.data), "application/json")


@pytest.fixture(scope="module", params=BACKENDS)
def held(request, story: Story, chain: LedgerChain, settings: Settings, tmp_path_factory) -> Iterator[Database]:
    """The story indexed with the file in the store from the start."""
    folder = tmp_path_factory.mktemp("held")
    store_file(folder / "evidence", story.file)
    with fresh_database(request.param, folder) as db:
        Indexer(chain, db.sessions, indexer_settings(settings, evidence_dir=folder / "evidence")).run_once()
        yield db


def test_a_verified_batch_counts_at_the_anchor_and_a_recorded_twin_asset_is_refused(
    held: Database, story: Story, refs, chain_time
) -> None:
    now = chain_time()
    with held.sessions() as session:
        c = repository.get_commitment(session, 1, now)
        b = repository.get_batch(session, story.file.root)
    anchored_at = refs.time(story.tx["anchor"].block_number)
    assert (b["verified"], b["counted_leaves"], b["refused_leaves"], b["revoked_leaves"]) == (True, 1, 1, 1)
    assert [(x["leaf_hash"], x["counted"], x["refused_reason"], x["revocation"] is not None) for x in b["leaves"]] == [
        (story.file.leaf_hashes[0], True, None, False),
        (story.file.leaf_hashes[1], False, "asset_already_counted", False),  # "Paal 3" was recorded before
        (story.file.leaf_hashes[2], True, None, True),
    ]
    assert b["leaves"][2]["revocation"]["chain"] == refs.of(story.tx["revoke"], "BatchedDeliveryRevoked")
    assert (c["delivered_quantity"], c["met_on_record_at"], c["batched_delivery_count"]) == ("6", None, 3)
    chain_view = story.tx["anchor"]
    assert b["chain"] == refs.of(chain_view, "BatchAnchored") and b["anchored_at"] == anchored_at


def test_the_served_proof_is_accepted_on_chain(held: Database, story: Story, chain: LedgerChain) -> None:
    with held.sessions() as session:
        for i, leaf_hash in enumerate(story.file.leaf_hashes):
            p = repository.get_batch_leaf_proof(session, story.file.root, leaf_hash)
            included, on_chain_hash, revoked = chain.call(
                "verifyBatchedDelivery", b32(p["root"]), struct(p["values"]), [b32(h) for h in p["proof"]])
            assert (included, "0x" + bytes(on_chain_hash).hex(), revoked) == (True, leaf_hash, i == 2)
            assert p["proof"] == story.file.proofs[i]


def test_a_file_uploaded_after_the_batch_was_indexed_counts_at_the_next_pass_as_if_held_from_the_start(
    held: Database, story: Story, chain: LedgerChain, settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "late"
    with fresh_database(held.backend, tmp_path) as late:
        indexer = Indexer(chain, late.sessions, indexer_settings(settings, evidence_dir=folder / "evidence"))
        indexer.run_once()
        with late.sessions() as session:
            assert repository.get_batch(session, story.file.root)["unverified_reason"] == "missing"
            assert repository.get_commitment(session, 1, story.t)["delivered_quantity"] == "2"
        assert indexer.recheck_missing_batches() == []
        store_file(folder / "evidence", story.file)  # staff upload it (POST /staff/batches stores it there)
        assert indexer.run_once() == 0  # no new event: the pass only finds the file
        assert dump_index(late.engine) == dump_index(held.engine)
