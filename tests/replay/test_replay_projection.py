"""The auditor's projection on synthetic decoded events: what it builds and what it flags."""

from __future__ import annotations

from replay_support import (
    DUE_2,
    EVIDENCE_1,
    EVIDENCE_2,
    REGISTRAR,
    event,
    project,
    synthetic_events,
    time_of,
    tx_hash,
)
from scripts.audit.model import ChainRef
from scripts.audit.projection import Projector


def kinds(events: list) -> list[str]:
    return [a.kind for a in project(events).anomalies]


def test_a_sound_stream_builds_the_state_without_anomalies() -> None:
    state = project(synthetic_events())
    assert state.anomalies == []
    assert state.events_replayed == 12
    one, two = state.commitments[1], state.commitments[2]
    assert [d.id for d in one.deliveries] == [1, 2]
    assert one.deliveries[1].revocation.reason == "Counted twice"
    assert one.deliveries[1].revocation.chain == ChainRef(tx_hash(7), 7, 0, time_of(7))
    assert one.deliveries[0].cited_sha256 == [EVIDENCE_1] and one.deliveries[1].cited_sha256 == [EVIDENCE_2]
    assert (two.title, two.description, two.target_quantity, two.due_date) == ("Two bridges", "Both sides.", 2, DUE_2 + 1000)
    assert two.original == {"title": "One bridge", "description": "", "target_quantity": 1, "due_date": DUE_2}
    assert two.source_document_sha256 is None
    assert two.withdrawal.reason == "No budget" and two.withdrawal.registrar == REGISTRAR


def test_events_naming_unknown_records_are_flagged_and_skipped() -> None:
    stream = synthetic_events()[:4] + [
        event("DeliveryRevoked", 20, delivery_id=9, commitment_id=1, registrar=REGISTRAR, reason="?"),
        event("CommitmentWithdrawn", 21, commitment_id=5, municipality_id=1, registrar=REGISTRAR, reason="?"),
        event("RegistrarAdded", 22, municipality_id=3, account=REGISTRAR, by=REGISTRAR),
    ]
    assert kinds(stream) == ["unknown-delivery", "unknown-commitment", "unknown-municipality"]


def test_evidence_citations_that_do_not_repeat_the_delivery_are_flagged() -> None:
    stream = synthetic_events()
    stream[5] = event("EvidenceCited", 5, 1, evidence_hash=EVIDENCE_2, delivery_id=1, commitment_id=1)
    assert kinds(stream) == ["evidence-citations"]


def test_amendments_out_of_sequence_or_with_wrong_previous_values_are_flagged() -> None:
    stream = synthetic_events()
    stream[10] = event(
        "CommitmentAmended", 9, commitment_id=2, municipality_id=1, registrar=REGISTRAR, amendment_number=2,
        title="Two bridges", description="", previous_target_quantity=5, target_quantity=2,
        previous_due_date=DUE_2, due_date=DUE_2, reason="r",
    )
    assert kinds(stream) == ["amendment", "amendment"]


def test_a_registration_time_other_than_the_block_time_is_flagged() -> None:
    stream = synthetic_events()
    args = dict(stream[3].args, registered_at=123)
    stream[3] = event("CommitmentRegistered", 4, **args)
    assert kinds(stream) == ["registered-at"]


def test_a_gap_in_commitment_ids_and_out_of_order_events_are_flagged() -> None:
    stream = synthetic_events()
    args = dict(stream[9].args, commitment_id=3)
    stream[9] = event("CommitmentRegistered", 8, **args)
    assert "id-sequence" in kinds(stream)
    projector = Projector()
    projector.apply(synthetic_events()[1], time_of(2))
    projector.apply(synthetic_events()[0], time_of(1))
    assert [a.kind for a in projector.finish().anomalies] == ["out-of-order"]


def test_a_second_revocation_keeps_the_first() -> None:
    stream = synthetic_events() + [
        event("DeliveryRevoked", 30, delivery_id=2, commitment_id=1, registrar=REGISTRAR, reason="again"),
    ]
    state = project(stream)
    assert [a.kind for a in state.anomalies] == ["revocation"]
    assert state.deliveries[2].revocation.reason == "Counted twice"
