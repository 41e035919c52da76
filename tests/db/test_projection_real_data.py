"""The fast projection on the real datasets (../shared/data, ``LEDGER_SHARED_DATA_DIR``):
the importer's plans of Baarn (131 registrations) and Chile (216 registrations, 170
deliveries, 9 revocations) as the ledger's events, Chile's deliveries recorded one by one or
anchored as one batch per snapshot (files as ``scripts.importer.batches`` writes them); the
index built in chunks by ``apply_events`` equals, row by row, the reference
(``apply_events_one_by_one``) and the re-derivation of every commitment in full.
"""

from __future__ import annotations

import pytest

from scripts.importer import load_mapping, plan_source
from scripts.importer.batches import batch_file, local_tree
from scripts.importer.plan import RecordDelivery, RegisterCommitment, RevokeDelivery
from tests.conftest import REPO_ROOT, SHARED_DATA_DIR
from tests.db.script import OTHER, REGISTRAR, Script
from tests.db.test_projection_incremental import Stream, _same_three_ways

MAPPINGS = REPO_ROOT / "scripts" / "mappings"
CHUNK = 40  # events per apply_events call


def _register(s: Script, municipality_id: int, ops: list, ids: dict[tuple[int, str], int], registrar: str) -> None:
    for op in ops:
        if isinstance(op, RegisterCommitment):
            cid = len(ids) + 1
            ids[(municipality_id, op.external_ref)] = cid
            if s.log_index >= 20:
                s.next_block()
            s.commitment(
                cid, municipality_id, registrar=registrar, external_ref=op.external_ref, title=op.title, description=op.description,
                theme=op.theme, target_quantity=op.target_quantity, unit=op.unit, promised_at=op.promised_at,
                due_date=op.due_date, source_document_hash=op.source_document_sha256 or "0x" + "00" * 32, source_uri=op.source_uri,
            )


def _real_stream(batched: bool) -> Stream:
    if not SHARED_DATA_DIR.is_dir():
        pytest.fail(f"the shared datasets are missing at {SHARED_DATA_DIR}")
    baarn = plan_source(load_mapping(MAPPINGS / "baarn-coalitieakkoord.yaml"), SHARED_DATA_DIR).operations
    chile = plan_source(load_mapping(MAPPINGS / "ddah-chile.yaml"), SHARED_DATA_DIR).operations
    s = Script()
    s.municipality(1, "Baarn", "GM0308")
    s.registrar(1)
    s.municipality(2, "Chile", "CL-GOB")
    s.registrar(2, account=OTHER)
    ids: dict[tuple[int, str], int] = {}
    _register(s, 1, list(baarn), ids, REGISTRAR)
    _register(s, 2, list(chile), ids, OTHER)
    files: dict[str, bytes] = {}
    numbers: dict[int, int] = {}
    recorded: dict[tuple[int, str], int] = {}  # (commitment, delivery ref) -> delivery number
    leaf_of: dict[tuple[int, str], tuple[str, str]] = {}  # (commitment, delivery ref) -> (root, leaf hash)
    deliveries = [op for op in chile if isinstance(op, RecordDelivery)]
    for label in dict.fromkeys(op.batch for op in deliveries):
        ops = [op for op in deliveries if op.batch == label]
        cids = [ids[(2, op.commitment_ref)] for op in ops]
        s.next_block()
        if batched:
            root, data = batch_file(ops, cids)
            tree = local_tree(ops, cids)
            files[tree.file_sha256] = data
            s.anchor(root, tree.file_sha256, len(ops), municipality_id=2, registrar=OTHER)
            for op, cid, leaf_hash in zip(ops, cids, tree.leaf_hashes):
                leaf_of[(cid, op.external_ref)] = (root, leaf_hash)
        else:
            for op, cid in zip(ops, cids):
                numbers[cid] = numbers.get(cid, 0) + 1
                recorded[(cid, op.external_ref)] = numbers[cid]
                if s.log_index >= 20:
                    s.next_block()
                s.delivery(
                    cid, numbers[cid], op.quantity, op.delivered_at, list(op.evidence_hashes), registrar=OTHER,
                    evidence_uri=op.evidence_uri, note=op.note, external_ref=op.external_ref, asset_ref=op.asset_ref,
                )
    s.next_block()
    for op in chile:
        if isinstance(op, RevokeDelivery):
            cid = ids[(2, op.commitment_ref)]
            if batched:
                root, leaf_hash = leaf_of[(cid, op.delivery_ref)]
                s.emit("BatchedDeliveryRevoked", root=root, leaf_hash=leaf_hash, commitment_id=cid, registrar=OTHER,
                       reason=op.reason, revoked_at=s.time)
            else:
                s.revoke(cid, recorded[(cid, op.delivery_ref)], reason=op.reason, registrar=OTHER)
    cuts = list(range(CHUNK, len(s.events), CHUNK))
    return s.events, s.block_times, files, cuts


@pytest.mark.parametrize("batched", [False, True], ids=["per_delivery", "batches"])
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_real_datasets_give_the_same_index_fast_and_in_full(backend: str, batched: bool) -> None:
    stream = _real_stream(batched)
    names = {e.name for e in stream[0]}
    assert ("BatchAnchored" in names, "DeliveryRecorded" in names) == (batched, not batched)
    _same_three_ways(backend, stream)
