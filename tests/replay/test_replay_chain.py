"""The replay rebuilds, from the chain's events alone, exactly what the scenario wrote."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.chain import LedgerChain, TxResult
from ledger.deployment import Deployment
from scripts.audit.errors import ChainMismatchError, ReplayConfigError
from scripts.audit.model import ChainRef
from scripts.audit.report import build_report
from scripts.audit.rules import evaluate
from scripts.audit.runner import ReplayResult, ReplayTarget, replay_ledger
from replay_support import DAY, Scenario, block_time, hex32, latest_block_time


@pytest.fixture(scope="module")
def replayed(scenario: Scenario, rpc_url: str, deployment: Deployment) -> ReplayResult:
    return replay_ledger(ReplayTarget(rpc_url, deployment.contract_address, deployment.deploy_block))


def ref_of(tx: TxResult, event_name: str, rpc_url: str, nth: int = 0) -> ChainRef:
    """The ChainRef of the ``nth`` event called ``event_name`` in ``tx``."""
    event = [e for e in tx.events if e.name == event_name][nth]
    return ChainRef(tx.tx_hash, tx.block_number, event.log_index, block_time(rpc_url, tx.block_number))


def test_replay_covers_the_deploy_block_to_the_head_and_finds_no_anomalies(
    replayed: ReplayResult, deployment: Deployment, rpc_url: str
) -> None:
    assert replayed.state.anomalies == []
    assert replayed.chain_id == deployment.chain_id
    assert replayed.contract_address == deployment.contract_address
    assert replayed.from_block == deployment.deploy_block
    assert replayed.to_block == replayed.head_block
    assert replayed.blocks_scanned == replayed.to_block - deployment.deploy_block + 1
    assert replayed.state.event_counts == {
        "OwnershipTransferred": 1,
        "MunicipalityRegistered": 2,
        "RegistrarAdded": 3,
        "RegistrarRemoved": 1,
        "MunicipalityAdminChanged": 1,
        "CommitmentRegistered": 7,
        "CommitmentAmended": 3,
        "CommitmentWithdrawn": 1,
        "DeliveryRecorded": 9,
        "EvidenceCited": 10,
        "DeliveryRevoked": 2,
    }


def test_replay_rebuilds_municipalities_admins_and_registrars(replayed: ReplayResult, scenario: Scenario, roles: Any) -> None:
    state = replayed.state
    assert state.owner == roles.platform_admin.address
    baarn, utrecht = state.municipalities[1], state.municipalities[2]
    assert (baarn.name, baarn.code, baarn.admin, baarn.registrars) == (
        "Baarn", "GM0308", roles.council_admin.address, [roles.registrar.address],
    )
    assert [(h["action"], h["account"], h["by"]) for h in baarn.registrar_history] == [
        ("added", roles.registrar.address, roles.council_admin.address),
        ("added", roles.stranger.address, roles.council_admin.address),
        ("removed", roles.stranger.address, roles.council_admin.address),
    ]
    assert (utrecht.name, utrecht.code, utrecht.admin, utrecht.registrars) == (
        "Utrecht", "GM0344", roles.stranger.address, [roles.other_registrar.address],
    )
    change = scenario.extra["admin_changed"]
    assert utrecht.admin_history == [
        {
            "previous_admin": roles.other_admin.address,
            "new_admin": roles.stranger.address,
            "chain": ChainRef(change.tx_hash, change.block_number, 0, utrecht.admin_history[0]["chain"]["block_time"]).to_json(),
        }
    ]


def test_replay_rebuilds_every_registration_field_and_its_chain_ref(
    replayed: ReplayResult, scenario: Scenario, rpc_url: str, roles: Any
) -> None:
    registrar_of = {1: roles.registrar.address, 2: roles.other_registrar.address}
    for written in scenario.commitments.values():
        (municipality_id, ref, title, description, theme, target, unit, due, source_hash, source_uri) = written.input
        c = replayed.state.commitments[written.id]
        assert c.municipality_id == municipality_id
        assert c.external_ref == ref
        assert c.theme == theme
        assert c.unit == unit
        assert c.source_document_sha256 == (None if source_hash == b"\x00" * 32 else hex32(source_hash))
        assert c.source_uri == source_uri
        assert c.registrar == registrar_of[municipality_id]
        assert c.original == {"title": title, "description": description, "target_quantity": target, "due_date": due}
        expected_ref = ref_of(written.tx, "CommitmentRegistered", rpc_url)
        assert c.registered == expected_ref
        assert c.registered_at == expected_ref.block_time
        if not written.amendments:
            assert (c.title, c.description, c.target_quantity, c.due_date) == (title, description, target, due)
    assert sorted(replayed.state.commitments) == list(range(1, 8))


def test_replay_applies_amendments_in_order_and_keeps_their_history(
    replayed: ReplayResult, scenario: Scenario, rpc_url: str, roles: Any
) -> None:
    written = scenario.commitments["amended"]
    c = replayed.state.commitments[written.id]
    assert (c.title, c.description, c.target_quantity, c.due_date) == (
        "Renovate 20 homes", "New text", 20, scenario.t0 + 20 * DAY,
    )
    history = [
        (a.number, a.title, a.description, a.previous_target_quantity, a.target_quantity,
         a.previous_due_date, a.due_date, a.reason, a.registrar)
        for a in c.amendments
    ]
    assert history == [
        (1, "Renovate 10 homes", "Old text", 10, 20, scenario.t0 + 10 * DAY, scenario.t0 + 20 * DAY, "Budget grew", roles.registrar.address),
        (2, "Renovate 20 homes", "New text", 20, 20, scenario.t0 + 20 * DAY, scenario.t0 + 20 * DAY, "Title follows the target", roles.registrar.address),
    ]
    assert [a.chain for a in c.amendments] == [ref_of(tx, "CommitmentAmended", rpc_url) for _, tx in written.amendments]


def test_replay_records_the_withdrawal_with_its_reason(replayed: ReplayResult, scenario: Scenario, rpc_url: str, roles: Any) -> None:
    written = scenario.commitments["withdrawn"]
    c = replayed.state.commitments[written.id]
    assert c.withdrawn
    reason, tx = written.withdrawal
    assert (c.withdrawal.reason, c.withdrawal.registrar, c.withdrawal.chain) == (
        "Council cancelled the plan", roles.other_registrar.address, ref_of(tx, "CommitmentWithdrawn", rpc_url),
    )
    assert (c.target_quantity, c.due_date) == (8, scenario.t0 + 60 * DAY)
    assert all(not other.withdrawn for name, other in replayed.state.commitments.items() if name != written.id)


def test_replay_rebuilds_every_delivery_with_evidence_and_revocation(
    replayed: ReplayResult, scenario: Scenario, rpc_url: str
) -> None:
    assert sorted(replayed.state.deliveries) == sorted(scenario.deliveries) == list(range(1, 10))
    for written in scenario.deliveries.values():
        quantity, delivered_at, hashes, uri, note, ref = written.input
        d = replayed.state.deliveries[written.id]
        assert (d.commitment_id, d.quantity, d.delivered_at, d.evidence_uri, d.note, d.external_ref, d.registrar) == (
            written.commitment_id, quantity, delivered_at, uri, note, ref, written.registrar,
        )
        assert d.evidence_sha256 == [hex32(h) for h in hashes] == d.cited_sha256
        assert d.recorded == ref_of(written.tx, "DeliveryRecorded", rpc_url)
        if written.revocation is None:
            assert d.revocation is None and not d.revoked
        else:
            reason, tx = written.revocation
            assert d.revoked
            assert (d.revocation.reason, d.revocation.registrar, d.revocation.chain) == (
                reason, written.registrar, ref_of(tx, "DeliveryRevoked", rpc_url),
            )
    for written in scenario.commitments.values():
        assert [d.id for d in replayed.state.commitments[written.id].deliveries] == written.deliveries


def test_each_status_met_at_and_progress_at_the_scenario_time(replayed: ReplayResult, scenario: Scenario) -> None:
    t0 = scenario.t0
    expected = {
        # name: (status, delivered, progress_bps, met_at)
        "pending": ("pending", 0, 0, None),
        "in_progress": ("in_progress", 100, 3333, None),
        "delivered": ("delivered", 110, 11000, t0 - 2 * DAY),  # revocation moved met_at from t0-10d
        "delivered_late": ("delivered_late", 5, 10000, t0 - 4 * DAY),
        "overdue": ("overdue", 10, 2000, None),
        "withdrawn": ("withdrawn", 0, 0, None),  # its only delivery was revoked after withdrawal
        "amended": ("delivered", 25, 12500, t0 - 1 * DAY),
    }
    for name, (status, delivered, bps, met) in expected.items():
        progress = evaluate(replayed.state.commitments[scenario.commitments[name].id], t0)
        assert (progress.status, progress.delivered_quantity, progress.progress_bps, progress.met_at) == (
            status, delivered, bps, met,
        ), name


@pytest.mark.parametrize(
    ("name", "offset_from_due", "status"),
    [
        ("pending", 0, "pending"),
        ("pending", 1, "overdue"),
        ("in_progress", 0, "in_progress"),
        ("in_progress", 1, "overdue"),
        ("delivered", 10 * DAY, "delivered"),
        ("delivered_late", -30 * DAY, "delivered_late"),
        ("withdrawn", 365 * DAY, "withdrawn"),
    ],
)
def test_status_flips_only_when_now_passes_the_due_date(
    replayed: ReplayResult, scenario: Scenario, name: str, offset_from_due: int, status: str
) -> None:
    c = replayed.state.commitments[scenario.commitments[name].id]
    assert evaluate(c, c.due_date + offset_from_due).status == status


def test_each_rebuilt_status_and_progress_equals_the_contracts_status_of(
    replayed: ReplayResult, chain: LedgerChain, rpc_url: str
) -> None:
    now = latest_block_time(rpc_url)  # statusOf runs at the latest block's time
    for commitment_id, c in replayed.state.commitments.items():
        ours = evaluate(c, now)
        theirs = chain.status_of(commitment_id)  # eth_call only here, as an oracle
        assert (ours.status, ours.delivered_quantity, ours.target_quantity, ours.progress_bps, ours.met_at or 0) == (
            theirs.status, theirs.delivered_quantity, theirs.target_quantity, theirs.progress_bps, theirs.met_at,
        ), commitment_id


def test_to_block_is_inclusive(scenario: Scenario, rpc_url: str, deployment: Deployment) -> None:
    first = scenario.commitments["pending"].tx.block_number
    result = replay_ledger(ReplayTarget(rpc_url, deployment.contract_address, deployment.deploy_block, to_block=first))
    assert list(result.state.commitments) == [scenario.commitments["pending"].id]
    assert result.to_block == first
    assert result.state.deliveries == {}


def test_chunk_size_does_not_change_what_is_rebuilt(replayed: ReplayResult, rpc_url: str, deployment: Deployment) -> None:
    one_block = replay_ledger(
        ReplayTarget(rpc_url, deployment.contract_address, deployment.deploy_block, to_block=replayed.to_block, chunk_blocks=1)
    )
    assert one_block.chunks == replayed.blocks_scanned
    now = 1_800_000_000
    first = build_report(replayed, now, generated_at=0)
    second = build_report(one_block, now, generated_at=0)
    for volatile in ("seconds", "head_block"):
        first.pop(volatile), second.pop(volatile)
    assert first == second


def test_replay_refuses_another_chain_id(rpc_url: str, deployment: Deployment) -> None:
    with pytest.raises(ChainMismatchError):
        replay_ledger(ReplayTarget(rpc_url, deployment.contract_address, deployment.deploy_block, chain_id=deployment.chain_id + 1))


def test_replay_refuses_a_deploy_block_with_another_hash(rpc_url: str, deployment: Deployment) -> None:
    with pytest.raises(ChainMismatchError):
        replay_ledger(
            ReplayTarget(rpc_url, deployment.contract_address, deployment.deploy_block, deploy_block_hash="0x" + "ab" * 32)
        )


def test_replay_refuses_an_address_without_code(rpc_url: str, deployment: Deployment, roles: Any) -> None:
    with pytest.raises(ChainMismatchError):
        replay_ledger(ReplayTarget(rpc_url, roles.stranger.address, deployment.deploy_block))


def test_replay_refuses_a_to_block_beyond_the_head(rpc_url: str, deployment: Deployment) -> None:
    with pytest.raises(ReplayConfigError):
        replay_ledger(ReplayTarget(rpc_url, deployment.contract_address, deployment.deploy_block, to_block=10**9))
