"""The auditor's projection of part 2 (contract 2.1.0) on synthetic decoded events: what it
counts, and what the contract should have made impossible (anomalies)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ledger.events import LedgerEvent
from ledger.merkle import BatchLeaf, BatchTree, build_tree
from replay_support import (
    ADMIN,
    DUE_1,
    EVIDENCE_1,
    PROMISED_1,
    REGISTRAR,
    STRANGER,
    delivered,
    event,
    preamble,
    registered,
    revoked,
    time_of,
)
from scripts.audit.batchfiles import BatchFiles
from scripts.audit.model import LedgerState
from scripts.audit.projection import Projector
from scripts.audit.review import review_of

CONFIRMER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"


def project_with(events: list[LedgerEvent], folder: Path | None = None) -> LedgerState:
    """Apply ``events`` with the batch files of ``folder`` (none when ``None``)."""
    projector = Projector(BatchFiles(folder) if folder else None)
    for e in events:
        projector.apply(e, time_of(e.block_number))
    return projector.finish()


def confirmer_added(block: int) -> LedgerEvent:
    return event("ConfirmerAdded", block, municipality_id=1, account=CONFIRMER, by=ADMIN)


def verdict(block: int, name: str, delivery_id: int, confirmer: str = CONFIRMER, **extra: object) -> LedgerEvent:
    """A ``DeliveryConfirmed`` (no evidence unless given) or ``DeliveryDisputed`` at the block time."""
    if name == "DeliveryConfirmed":
        extra = {"evidence_hash": "0x" + "00" * 32, "confirmed_at": time_of(block), **extra}
    else:
        extra = {"reason": "Not there", "disputed_at": time_of(block), **extra}
    return event(name, block, delivery_id=delivery_id, commitment_id=delivery_id // 1_000_000, confirmer=confirmer, **extra)


def anchored(block: int, tree: BatchTree, folder: Path, *, keep: bool = True, leaf_count: int | None = None) -> LedgerEvent:
    """A ``BatchAnchored`` of ``tree`` by REGISTRAR; its file written to ``folder`` if ``keep``."""
    content = tree.to_file_bytes()
    digest = "0x" + hashlib.sha256(content).hexdigest()
    if keep:
        (folder / f"{digest[2:]}.json").write_bytes(content)
    return event(
        "BatchAnchored", block, root=tree.root_hex, municipality_id=1, registrar=REGISTRAR,
        leaf_count=len(tree.leaves) if leaf_count is None else leaf_count, file_sha256=digest, file_uri="ipfs://b",
        anchored_at=time_of(block),
    )


def leaf(commitment_id: int, quantity: int, asset: str = "", n: int = 1) -> BatchLeaf:
    return BatchLeaf(commitment_id, quantity, time_of(4), (bytes([n]) * 32,), "", "", "", asset)


def test_sub_commitments_name_their_parent_and_a_bad_parent_is_flagged() -> None:
    state = project_with(preamble() + [
        registered(4, 1, target=10, due=DUE_1, promised=PROMISED_1),
        registered(5, 2, target=4, due=DUE_1, promised=PROMISED_1, parent_id=1, weight=3),
        registered(6, 3, target=4, due=DUE_1, promised=PROMISED_1, parent_id=7, weight=1),
        registered(7, 4, target=4, due=DUE_1, promised=PROMISED_1, parent_id=0, weight=2),
    ])
    assert [c.id for c in state.commitments[1].children] == [2]
    assert (state.commitments[2].parent_id, state.commitments[2].weight) == (1, 3)
    assert [a.kind for a in state.anomalies] == ["sub-commitment", "sub-commitment"]


def test_an_asset_named_again_in_another_spelling_is_a_double_count_until_the_first_is_revoked() -> None:
    state = project_with(preamble() + [
        registered(4, 1, target=10, due=DUE_1, promised=PROMISED_1),
        delivered(5, 1_000_001, 4, time_of(4), asset_ref="Lamp 7"),
        delivered(6, 1_000_002, 4, time_of(4), asset_ref=" Lamp  7 "),
        revoked(7, 1_000_001),
        revoked(8, 1_000_002),
        delivered(9, 1_000_003, 2, time_of(4), asset_ref="Lamp 7"),
    ])
    one = state.commitments[1]
    assert [(d.double_counted, d.revoked) for d in one.deliveries] == [(False, True), (True, True), (False, False)]
    assert [(s.kind, s.quantity) for s in one.steps] == [("delivery", 4), ("revocation", 4), ("delivery", 2)]
    assert state.anomalies == []


def test_a_batch_counts_only_with_its_file_and_leaves_are_decided_in_file_order(tmp_path: Path) -> None:
    tree = build_tree([leaf(1, 3, "Lamp 7", 1), leaf(1, 2, "lamp 7", 2), leaf(1, 1, "Lamp 7", 3), leaf(9, 1, n=4)],
                      check_rules=False)
    base = preamble() + [registered(4, 1, target=10, due=DUE_1, promised=PROMISED_1)]
    kept = project_with(base + [anchored(5, tree, tmp_path)], tmp_path)
    [batch] = kept.batches.values()
    assert [leaf.refused_reason for leaf in batch.leaves] == [None, None, "asset_already_counted", "unknown_commitment"]
    assert [(s.kind, s.quantity, s.order) for s in kept.commitments[1].steps] == [("delivery", 3, (5, 0)), ("delivery", 2, (5, 0))]
    other = tmp_path / "other"
    other.mkdir()
    missing = project_with(base + [anchored(5, tree, other, keep=False)], other)
    miscounted = project_with(base + [anchored(5, tree, tmp_path, leaf_count=5)], tmp_path)
    for state, reason in ((missing, "missing"), (miscounted, "leaf_count_mismatch")):
        [batch] = state.batches.values()
        assert (batch.verified, batch.unverified_reason, batch.leaves, state.commitments[1].steps) == (False, reason, [], [])


def test_batch_events_the_contract_should_refuse_are_flagged(tmp_path: Path) -> None:
    tree = build_tree([leaf(1, 3)], check_rules=False)
    anchor = anchored(5, tree, tmp_path)
    foreign_leaf = "0x" + "ab" * 32
    state = project_with(preamble() + [
        registered(4, 1, target=10, due=DUE_1, promised=PROMISED_1),
        anchor,
        event("BatchAnchored", 6, **{**anchor.args, "anchored_at": time_of(6)}),
        event("BatchedDeliveryRevoked", 7, root=tree.root_hex, leaf_hash=foreign_leaf, commitment_id=1,
              registrar=REGISTRAR, reason="?", revoked_at=time_of(7)),
        event("BatchedDeliveryRevoked", 8, root="0x" + "cd" * 32, leaf_hash=foreign_leaf, commitment_id=1,
              registrar=REGISTRAR, reason="?", revoked_at=time_of(8)),
    ], tmp_path)
    assert [a.kind for a in state.anomalies] == ["batch", "batched-delivery", "unknown-batch"]
    assert state.batches[tree.root_hex].revocations[foreign_leaf].reason == "?"  # kept, though it names no leaf


def test_verdicts_keep_each_confirmers_latest_and_refusable_ones_are_flagged() -> None:
    base = preamble() + [registered(4, 1, target=10, due=DUE_1, promised=PROMISED_1), delivered(5, 1_000_001, 4, time_of(4))]
    state = project_with(base + [
        confirmer_added(6),
        verdict(7, "DeliveryDisputed", 1_000_001),
        verdict(8, "DeliveryConfirmed", 1_000_001, evidence_hash=EVIDENCE_1),
        event("ConfirmerRemoved", 9, municipality_id=1, account=CONFIRMER, by=ADMIN),
    ])
    delivery = state.deliveries[1_000_001]
    assert state.anomalies == [] and review_of(delivery) == "confirmed"
    assert (delivery.verdicts[CONFIRMER].evidence_hash, delivery.verdicts[CONFIRMER].signer_held_role) == (EVIDENCE_1, True)
    assert state.municipalities[1].confirmers == [] and state.municipalities[1].confirmer_roles[0].removed is not None
    flagged = project_with(base + [
        verdict(6, "DeliveryConfirmed", 1_000_001, confirmer=STRANGER),  # no confirmer role
        verdict(7, "DeliveryConfirmed", 1_000_001, confirmer=REGISTRAR),  # its own delivery (and no role)
        confirmer_added(8),
        verdict(9, "DeliveryConfirmed", 1_000_001),
        verdict(10, "DeliveryConfirmed", 1_000_001),  # the same verdict again
        revoked(11, 1_000_001),
        verdict(12, "DeliveryDisputed", 1_000_001),  # on a revoked delivery
        verdict(13, "DeliveryDisputed", 1_000_009),  # no such delivery
    ])
    assert [a.kind for a in flagged.anomalies] == [
        "signer-without-role", "signer-without-role", "verdict", "verdict", "verdict", "unknown-delivery",
    ]
    assert review_of(flagged.deliveries[1_000_001]) == "disputed"
