"""The auditor's projection on synthetic decoded events: what it builds and what it flags."""

from __future__ import annotations

from replay_support import (
    ADMIN,
    DAY,
    DUE_1,
    DUE_2,
    EVIDENCE_1,
    EVIDENCE_2,
    OWNER,
    PROMISED_1,
    REGISTRAR,
    STRANGER,
    amended,
    delivered,
    event,
    preamble,
    project,
    registered,
    revoked,
    synthetic_events,
    time_of,
    tx_hash,
)
from scripts.audit.model import AdminChange, ChainRef, ProgressStep, Recovery
from scripts.audit.projection import Projector


def kinds(events: list) -> list[str]:
    return [a.kind for a in project(events).anomalies]


def test_a_sound_stream_builds_the_state_without_anomalies() -> None:
    state = project(synthetic_events())
    assert state.anomalies == []
    assert state.events_replayed == 10
    one, two = state.commitments[1], state.commitments[2]
    assert [(d.id, d.number, d.quantity, d.recorded_at) for d in one.deliveries] == [
        (1_000_001, 1, 4, time_of(5)), (1_000_002, 2, 6, time_of(6)),
    ]
    assert one.promised_at == PROMISED_1 and one.signer_held_role is True
    assert one.deliveries[1].revocation.reason == "Counted twice"
    assert one.deliveries[1].revocation.at == time_of(7)
    assert one.deliveries[1].revocation.chain == ChainRef(tx_hash(7), 7, 0, time_of(7))
    assert one.deliveries[0].evidence_sha256 == [EVIDENCE_1] and one.deliveries[1].evidence_sha256 == [EVIDENCE_2]
    assert one.steps == [
        ProgressStep("delivery", 4, 0, time_of(5), (5, 0)),
        ProgressStep("delivery", 6, 0, time_of(6), (6, 0)),
        ProgressStep("revocation", 6, 0, time_of(7), (7, 0)),
    ]
    assert (two.title, two.description, two.target_quantity, two.due_date) == ("Two bridges", "Both sides.", 2, DUE_2 + 1000)
    assert (two.original_title, two.original_description, two.original_target_quantity, two.original_due_date) == (
        "One bridge", "", 1, DUE_2,
    )
    [amendment] = two.amendments
    assert (amendment.number, amendment.fields, amendment.amended_at, amendment.signer_held_role) == (1, 15, time_of(9), True)
    assert two.steps == [ProgressStep("target", 2, 1, time_of(9), (9, 0))]
    assert two.source_document_sha256 is None
    assert (two.withdrawal.reason, two.withdrawal.registrar, two.withdrawal.at) == ("No budget", REGISTRAR, time_of(10))


def test_an_amendment_keeps_the_texts_it_does_not_name() -> None:
    stream = preamble() + [
        registered(4, 1, target=10, due=DUE_1, promised=PROMISED_1, title="Old", description="Old text"),
        amended(5, 1, 1, 2, previous_target=10, target=10, previous_due=DUE_1, due=DUE_1, description="New text"),
    ]
    state = project(stream)
    c = state.commitments[1]
    assert state.anomalies == []
    assert (c.title, c.description, c.amendments[0].title, c.amendments[0].description) == ("Old", "New text", None, "New text")
    assert c.steps == []  # the target was not named


def test_events_naming_unknown_records_are_flagged_and_skipped() -> None:
    stream = synthetic_events()[:4] + [
        event("DeliveryRevoked", 20, delivery_id=9, commitment_id=1, registrar=REGISTRAR, reason="?", revoked_at=time_of(20)),
        event("CommitmentWithdrawn", 21, commitment_id=5, municipality_id=1, registrar=REGISTRAR, reason="?",
              withdrawn_at=time_of(21)),
        event("RegistrarAdded", 22, municipality_id=3, account=REGISTRAR, by=REGISTRAR),
        delivered(23, 7_000_001, 1, time_of(23)),
    ]
    assert kinds(stream) == ["unknown-delivery", "unknown-commitment", "unknown-municipality", "unknown-commitment"]


def test_a_delivery_id_that_does_not_name_its_commitment_and_number_is_flagged() -> None:
    stream = synthetic_events()[:4] + [delivered(5, 2_000_001, 1, time_of(5))]
    stream[-1] = event("DeliveryRecorded", 5, **dict(stream[-1].args, commitment_id=1))
    assert kinds(stream) == ["id-sequence"]
    skipped = synthetic_events()[:4] + [delivered(5, 1_000_002, 1, time_of(5))]  # number 2 before 1
    assert kinds(skipped) == ["id-sequence"]


def test_amendments_out_of_sequence_or_with_wrong_previous_values_are_flagged() -> None:
    stream = synthetic_events()
    stream[8] = amended(9, 2, 2, 4, previous_target=5, target=2, previous_due=DUE_2, due=DUE_2)
    assert kinds(stream) == ["amendment", "amendment"]


def test_an_amendment_changing_a_term_it_does_not_name_is_flagged() -> None:
    stream = synthetic_events()
    stream[8] = amended(9, 2, 1, 1, previous_target=1, target=2, previous_due=DUE_2, due=DUE_2, title="T")
    assert kinds(stream) == ["amendment"]


def test_a_reported_time_other_than_the_block_time_is_flagged() -> None:
    stream = synthetic_events()
    stream[3] = event("CommitmentRegistered", 4, **dict(stream[3].args, registered_at=123))
    stream[4] = event("DeliveryRecorded", 5, **dict(stream[4].args, recorded_at=time_of(5) + 1))
    assert kinds(stream) == ["event-time", "event-time"]


def test_a_claimed_date_after_the_block_time_is_flagged() -> None:
    stream = preamble() + [
        registered(4, 1, target=10, due=DUE_1, promised=time_of(4) + 1),
        delivered(5, 1_000_001, 1, time_of(5) + 1),
    ]
    assert kinds(stream) == ["claimed-date", "claimed-date"]


def test_a_record_by_a_removed_registrar_is_flagged_and_marked_not_held() -> None:
    stream = synthetic_events()[:4] + [
        event("RegistrarRemoved", 5, municipality_id=1, account=REGISTRAR, by=ADMIN),
        delivered(6, 1_000_001, 4, time_of(6)),
        event("RegistrarAdded", 7, municipality_id=1, account=REGISTRAR, by=ADMIN),
        delivered(8, 1_000_002, 1, time_of(8)),
    ]
    state = project(stream)
    assert [(a.kind, a.chain.block_number) for a in state.anomalies] == [("signer-without-role", 6)]
    assert [d.signer_held_role for d in state.deliveries.values()] == [False, True]
    roles = state.municipalities[1].registrar_roles
    assert [(r.account, r.added.block_number, r.removed.block_number if r.removed else None) for r in roles] == [
        (REGISTRAR, 3, 5), (REGISTRAR, 7, None),
    ]


def test_a_registrar_change_by_someone_other_than_the_admin_is_flagged() -> None:
    stream = preamble() + [event("RegistrarAdded", 4, municipality_id=1, account=STRANGER, by=OWNER)]
    assert kinds(stream) == ["signer-without-role"]


def test_pauses_are_tracked_and_a_record_while_paused_is_flagged() -> None:
    stream = synthetic_events()[:4] + [
        event("Paused", 5, account=OWNER),
        delivered(6, 1_000_001, 1, time_of(6)),
        event("Unpaused", 7, account=OWNER),
    ]
    state = project(stream)
    assert [(a.kind, a.chain.block_number) for a in state.anomalies] == [("write-while-paused", 6)]
    assert state.paused is False
    assert [(p["action"], p["account"], p["chain"]["block_number"]) for p in state.pauses] == [
        ("paused", OWNER, 5), ("unpaused", OWNER, 7),
    ]
    assert project(synthetic_events()[:4] + [event("Paused", 5, account=OWNER)]).paused is True


def test_a_two_step_handover_and_a_completed_recovery_are_rebuilt() -> None:
    executable_at = time_of(6) + 42 * DAY
    stream = preamble() + [
        event("MunicipalityAdminProposed", 4, municipality_id=1, current_admin=ADMIN, proposed_admin=STRANGER),
        event("MunicipalityAdminChanged", 5, municipality_id=1, previous_admin=ADMIN, new_admin=STRANGER, recovered=False),
        event("AdminRecoveryStarted", 6, municipality_id=1, proposed_admin=ADMIN, by=OWNER, executable_at=executable_at),
    ]
    state = project(stream)
    baarn = state.municipalities[1]
    assert state.anomalies == []
    assert (baarn.admin, baarn.pending_admin) == (STRANGER, None)
    assert baarn.recovery == Recovery(ADMIN, executable_at, OWNER, ChainRef(tx_hash(6), 6, 0, time_of(6)))
    projector = Projector()
    for e in stream:
        projector.apply(e, time_of(e.block_number))
    done = event("MunicipalityAdminChanged", 7, municipality_id=1, previous_admin=STRANGER, new_admin=ADMIN, recovered=True)
    projector.apply(done, executable_at)
    state = projector.finish()
    baarn = state.municipalities[1]
    assert state.anomalies == []
    assert (baarn.admin, baarn.recovery) == (ADMIN, None)
    assert baarn.admin_changes == [
        AdminChange(ADMIN, STRANGER, False, ChainRef(tx_hash(5), 5, 0, time_of(5))),
        AdminChange(STRANGER, ADMIN, True, ChainRef(tx_hash(7), 7, 0, executable_at)),
    ]
    assert [h["action"] for h in baarn.recovery_history] == ["started", "completed"]


def test_a_recovery_completed_early_or_an_unproposed_admin_is_flagged() -> None:
    stream = preamble() + [
        event("AdminRecoveryStarted", 4, municipality_id=1, proposed_admin=STRANGER, by=OWNER,
              executable_at=time_of(4) + 42 * DAY),
        event("MunicipalityAdminChanged", 5, municipality_id=1, previous_admin=ADMIN, new_admin=STRANGER, recovered=True),
        event("MunicipalityAdminChanged", 6, municipality_id=1, previous_admin=STRANGER, new_admin=ADMIN, recovered=False),
    ]
    assert kinds(stream) == ["recovery", "admin"]


def test_a_cancelled_recovery_leaves_the_admin() -> None:
    stream = preamble() + [
        event("AdminRecoveryStarted", 4, municipality_id=1, proposed_admin=STRANGER, by=OWNER, executable_at=time_of(4) + 1),
        event("AdminRecoveryCancelled", 5, municipality_id=1, proposed_admin=STRANGER, by=ADMIN),
    ]
    state = project(stream)
    baarn = state.municipalities[1]
    assert state.anomalies == [] and baarn.recovery is None and baarn.admin == ADMIN
    assert [(h["action"], h["by"]) for h in baarn.recovery_history] == [("started", OWNER), ("cancelled", ADMIN)]


def test_out_of_order_events_and_a_second_revocation_are_flagged() -> None:
    projector = Projector()
    projector.apply(synthetic_events()[1], time_of(2))
    projector.apply(synthetic_events()[0], time_of(1))
    assert [a.kind for a in projector.finish().anomalies] == ["out-of-order"]
    state = project(synthetic_events() + [revoked(30, 1_000_002)])
    assert [a.kind for a in state.anomalies] == ["revocation"]
    assert state.deliveries[1_000_002].revocation.reason == "Counted twice"
