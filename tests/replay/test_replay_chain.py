"""The replay rebuilds, from the chain's events alone, exactly what the scenario wrote, and
shows the facts of issue 5's stories (backdating, relaxed terms, takeover) as replayed facts."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.chain import LedgerChain, TxResult
from ledger.deployment import Deployment
from replay_support import (
    DAY,
    Scenario,
    block_time,
    deploy_code_without_version,
    hex32,
    latest_block_time,
)
from scripts.audit import rules
from scripts.audit.errors import ChainMismatchError, ReplayConfigError, UnsupportedContractVersionError
from scripts.audit.model import AdminChange, ChainRef
from scripts.audit.report import build_report
from scripts.audit.rules import evaluate
from scripts.audit.runner import ReplayResult, ReplayTarget, replay_ledger
from scripts.audit.source import ChainSource


@pytest.fixture(scope="module")
def replayed(scenario: Scenario, rpc_url: str, deployment: Deployment) -> ReplayResult:
    return replay_ledger(ReplayTarget(rpc_url, deployment.contract_address, deployment.deploy_block))


def ref_of(tx: TxResult, event_name: str, rpc_url: str, nth: int = 0) -> ChainRef:
    """The ChainRef of the ``nth`` event called ``event_name`` in ``tx``."""
    event = [e for e in tx.events if e.name == event_name][nth]
    return ChainRef(tx.tx_hash, tx.block_number, event.log_index, block_time(rpc_url, tx.block_number))


def test_replay_covers_the_deploy_block_to_the_head_and_finds_no_anomalies(
    replayed: ReplayResult, deployment: Deployment
) -> None:
    assert replayed.state.anomalies == []
    assert replayed.state.contract_version == "2.1.0"
    assert (replayed.chain_id, replayed.contract_address, replayed.from_block) == (
        deployment.chain_id, deployment.contract_address, deployment.deploy_block,
    )
    assert replayed.to_block == replayed.head_block
    assert replayed.blocks_scanned == replayed.to_block - deployment.deploy_block + 1
    assert replayed.state.event_counts == {
        "OwnershipTransferred": 1,
        "MunicipalityRegistered": 2,
        "RegistrarAdded": 3,
        "RegistrarRemoved": 1,
        "CommitmentRegistered": 10,
        "CommitmentAmended": 5,
        "CommitmentWithdrawn": 1,
        "DeliveryRecorded": 12,
        "DeliveryRevoked": 2,
        "AdminRecoveryStarted": 2,
        "AdminRecoveryCancelled": 1,
        "MunicipalityAdminProposed": 1,
        "MunicipalityAdminChanged": 2,
        "Paused": 1,
        "Unpaused": 1,
    }


def test_replay_rebuilds_admins_registrar_intervals_recoveries_and_pauses(
    replayed: ReplayResult, scenario: Scenario, rpc_url: str, roles: Any
) -> None:
    state, extra = replayed.state, scenario.extra
    assert (state.owner, state.paused) == (roles.platform_admin.address, False)
    assert [(p["action"], p["account"], p["chain"]["tx_hash"]) for p in state.pauses] == [
        ("paused", roles.platform_admin.address, extra["paused"].tx_hash),
        ("unpaused", roles.platform_admin.address, extra["unpaused"].tx_hash),
    ]
    baarn, utrecht = state.municipalities[1], state.municipalities[2]
    assert (baarn.name, baarn.code, baarn.admin, baarn.pending_admin, baarn.recovery, baarn.registrars) == (
        "Baarn", "GM0308", roles.council_admin.address, None, None, [roles.registrar.address],
    )
    assert [(r.account, r.added_by, r.removed is not None) for r in baarn.registrar_roles] == [
        (roles.registrar.address, roles.council_admin.address, False),
        (roles.stranger.address, roles.council_admin.address, True),
    ]
    assert baarn.registrar_roles[1].removed == ref_of(extra["registrar_removed"], "RegistrarRemoved", rpc_url)
    assert [(h["action"], h["proposed_admin"], h["by"]) for h in baarn.recovery_history] == [
        ("started", roles.stranger.address, roles.platform_admin.address),
        ("cancelled", roles.stranger.address, roles.council_admin.address),
    ]
    assert baarn.admin_changes == []
    assert (utrecht.admin, utrecht.pending_admin, utrecht.recovery, utrecht.registrars) == (
        roles.other_admin.address, None, None, [roles.other_registrar.address],
    )
    assert utrecht.admin_changes == [
        AdminChange(roles.other_admin.address, roles.stranger.address, False,
                    ref_of(extra["admin_accepted"], "MunicipalityAdminChanged", rpc_url)),
        AdminChange(roles.stranger.address, roles.other_admin.address, True,
                    ref_of(extra["takeover_completed"], "MunicipalityAdminChanged", rpc_url)),
    ]


def test_the_takeover_story_is_a_public_recovery_of_at_least_42_days(replayed: ReplayResult, scenario: Scenario, roles: Any) -> None:
    """The platform admin cannot hand a municipality to itself: the only way past the admin is
    a recovery that everyone sees start, 42 days before it can complete, marked recovered."""
    utrecht = replayed.state.municipalities[2]
    started = [h for h in utrecht.recovery_history if h["action"] == "started"]
    [completed] = [c for c in utrecht.admin_changes if c.recovered]
    assert started[0]["executable_at"] == started[0]["chain"]["block_time"] + 42 * DAY
    assert completed.chain.block_time >= started[0]["executable_at"]
    platform = roles.platform_admin.address
    assert all(platform not in (r.account for r in m.registrar_roles) for m in replayed.state.municipalities.values())
    signers = [c.registrar for c in replayed.state.commitments.values()] + [d.registrar for d in replayed.state.deliveries.values()]
    assert platform not in signers
    records = [*replayed.state.commitments.values(), *replayed.state.deliveries.values()]
    assert all(r.signer_held_role for r in records)


def test_replay_rebuilds_every_registration_field_and_its_chain_ref(
    replayed: ReplayResult, scenario: Scenario, rpc_url: str, roles: Any
) -> None:
    registrar_of = {1: roles.registrar.address, 2: roles.other_registrar.address}
    for written in scenario.commitments.values():
        (municipality_id, ref, title, description, theme, target, unit, promised, due, source_hash, source_uri,
         parent_id, weight) = written.input
        c = replayed.state.commitments[written.id]
        assert (c.municipality_id, c.external_ref, c.theme, c.unit, c.promised_at, c.source_uri) == (
            municipality_id, ref, theme, unit, promised, source_uri,
        )
        assert (c.parent_id, c.weight, c.children, c.batched) == (None, 0, [], []) and (parent_id, weight) == (0, 0)
        assert c.source_document_sha256 == (None if source_hash == b"\x00" * 32 else hex32(source_hash))
        assert (c.registrar, c.signer_held_role) == (registrar_of[municipality_id], True)
        assert (c.original_title, c.original_description, c.original_target_quantity, c.original_due_date) == (
            title, description, target, due,
        )
        expected_ref = ref_of(written.tx, "CommitmentRegistered", rpc_url)
        assert c.registered == expected_ref and c.registered_at == expected_ref.block_time
        assert rules.registration_lag_days(c) == (expected_ref.block_time - promised) // DAY
        assert rules.historical_record(c) is (expected_ref.block_time > due)
        if not written.amendments:
            assert (c.title, c.description, c.target_quantity, c.due_date) == (title, description, target, due)
    assert sorted(replayed.state.commitments) == list(range(1, 11))
    historical = sorted(n for n, w in scenario.commitments.items() if rules.historical_record(replayed.state.commitments[w.id]))
    assert historical == ["backdated", "delivered", "delivered_late", "moved", "overdue", "relaxed"]


def test_replay_applies_amendments_by_field_and_keeps_their_history(
    replayed: ReplayResult, scenario: Scenario, rpc_url: str, roles: Any
) -> None:
    t0 = scenario.t0
    written = scenario.commitments["amended"]
    c = replayed.state.commitments[written.id]
    assert (c.title, c.description, c.target_quantity, c.due_date) == ("Renovate 20 homes", "New text", 20, t0 + 20 * DAY)
    history = [
        (a.number, a.fields, a.title, a.description, a.previous_target_quantity, a.target_quantity,
         a.previous_due_date, a.due_date, a.reason, a.registrar, a.signer_held_role)
        for a in c.amendments
    ]
    assert history == [
        (1, 12, None, None, 10, 20, t0 + 10 * DAY, t0 + 20 * DAY, "Budget grew", roles.registrar.address, True),
        (2, 3, "Renovate 20 homes", "New text", 20, 20, t0 + 20 * DAY, t0 + 20 * DAY, "Title follows the target",
         roles.registrar.address, True),
    ]
    assert [a.chain for a in c.amendments] == [ref_of(tx, "CommitmentAmended", rpc_url) for _, tx in written.amendments]
    assert [a.amended_at for a in c.amendments] == [a.chain.block_time for a in c.amendments]
    assert [(rules.after_due_date(a), rules.lowered_target(a), rules.extended_due_date(a)) for a in c.amendments] == [
        (False, False, True), (False, False, False),
    ]


def test_replay_records_the_withdrawal_with_its_reason(replayed: ReplayResult, scenario: Scenario, rpc_url: str, roles: Any) -> None:
    written = scenario.commitments["withdrawn"]
    c = replayed.state.commitments[written.id]
    _, tx = written.withdrawal
    assert (c.withdrawal.reason, c.withdrawal.registrar, c.withdrawal.chain, c.withdrawal.at) == (
        "Council cancelled the plan", roles.other_registrar.address, ref_of(tx, "CommitmentWithdrawn", rpc_url),
        ref_of(tx, "CommitmentWithdrawn", rpc_url).block_time,
    )
    assert (c.target_quantity, c.due_date, c.original_target_quantity) == (8, scenario.t0 + 60 * DAY, 7)
    assert [other.id for other in replayed.state.commitments.values() if other.withdrawn] == [written.id]


def test_replay_rebuilds_every_delivery_with_both_clocks_and_its_revocation(
    replayed: ReplayResult, scenario: Scenario, rpc_url: str
) -> None:
    assert sorted(replayed.state.deliveries) == sorted(scenario.deliveries)
    for written in scenario.deliveries.values():
        quantity, delivered_at, hashes, uri, note, ref, asset = written.input
        d = replayed.state.deliveries[written.id]
        assert d.id == written.commitment_id * 1_000_000 + d.number
        assert (d.commitment_id, d.quantity, d.delivered_at, d.evidence_uri, d.note, d.external_ref, d.registrar) == (
            written.commitment_id, quantity, delivered_at, uri, note, ref, written.registrar,
        )
        assert d.evidence_sha256 == [hex32(h) for h in hashes]
        assert (d.asset_ref, d.asset_key, d.double_counted, d.verdicts) == (asset, "", False, {})
        assert d.recorded.block_time == d.recorded_at
        if written.revocation is None:
            assert d.revocation is None
        else:
            reason, tx = written.revocation
            assert (d.revocation.reason, d.revocation.registrar, d.revocation.chain) == (
                reason, written.registrar, ref_of(tx, "DeliveryRevoked", rpc_url),
            )
    for written in scenario.commitments.values():
        c = replayed.state.commitments[written.id]
        assert [d.id for d in c.deliveries] == written.deliveries
        assert [d.number for d in c.deliveries] == list(range(1, len(written.deliveries) + 1))
    batch = [replayed.state.deliveries[i] for i in scenario.commitments["in_progress"].deliveries]
    assert batch[0].recorded.tx_hash == batch[1].recorded.tx_hash
    assert batch[1].recorded.log_index == batch[0].recorded.log_index + 1


FOUR_STATUSES = {
    # name: (status, status_on_record, status_original_terms, status_on_record_original_terms)
    "pending": ("pending", "pending", "pending", "pending"),
    "in_progress": ("in_progress", "in_progress", "in_progress", "in_progress"),
    "delivered": ("delivered", "delivered_late", "delivered", "delivered_late"),
    "delivered_late": ("delivered_late", "delivered_late", "delivered_late", "delivered_late"),
    "overdue": ("overdue", "overdue", "overdue", "overdue"),
    "withdrawn": ("withdrawn", "withdrawn", "withdrawn", "withdrawn"),
    "amended": ("delivered", "delivered", "delivered", "delivered"),
    "backdated": ("delivered", "delivered_late", "delivered", "delivered_late"),
    "relaxed": ("delivered", "delivered_late", "overdue", "overdue"),
    "moved": ("in_progress", "in_progress", "overdue", "overdue"),
}


def test_each_of_the_four_statuses_at_the_scenario_time(replayed: ReplayResult, scenario: Scenario) -> None:
    found = {}
    for name, written in scenario.commitments.items():
        e = evaluate(replayed.state.commitments[written.id], scenario.t0)
        found[name] = (e.status, e.status_on_record, e.status_original_terms, e.status_on_record_original_terms)
    assert found == FOUR_STATUSES


def test_met_times_progress_and_relaxed_verdicts_at_the_scenario_time(replayed: ReplayResult, scenario: Scenario) -> None:
    t0 = scenario.t0
    recorded = {n: replayed.state.commitments[w.id] for n, w in scenario.commitments.items()}

    def recorded_at(name: str, nth: int) -> int:
        return recorded[name].deliveries[nth].recorded_at

    expected = {
        # name: (delivered, progress_bps, progress_bps_original_terms, met_at, met_on_record_at, relaxed)
        "pending": (0, 0, 0, None, None, False),
        "in_progress": (100, 3333, 3333, None, None, False),
        "delivered": (110, 11000, 11000, t0 - 2 * DAY, recorded_at("delivered", 1), False),  # revocation kept it met
        "delivered_late": (5, 10000, 10000, t0 - 4 * DAY, recorded_at("delivered_late", 0), False),
        "overdue": (10, 2000, 2000, None, None, False),
        "withdrawn": (0, 0, 0, None, None, False),
        "amended": (25, 12500, 25000, t0 - 1 * DAY, recorded_at("amended", 0), False),
        "backdated": (10, 10000, 10000, 1, recorded_at("backdated", 0), False),
        "relaxed": (40, 10000, 4000, t0 - 20 * DAY, recorded["relaxed"].amendments[0].amended_at, True),
        "moved": (40, 4000, 4000, None, None, False),
    }
    for name, values in expected.items():
        e = evaluate(recorded[name], t0)
        assert (e.delivered_quantity, e.progress_bps, e.progress_bps_original_terms, e.met_at, e.met_on_record_at,
                e.met_only_under_relaxed_terms) == values, name


def test_the_backdating_story_is_shown_as_recorded_late(replayed: ReplayResult, scenario: Scenario) -> None:
    c = replayed.state.commitments[scenario.commitments["backdated"].id]
    [d] = c.deliveries
    assert (d.delivered_at, rules.recording_lag_seconds(d), rules.recording_lag_days(d), rules.recorded_late(d)) == (
        1, d.recorded_at - 1, (d.recorded_at - 1) // DAY, True,
    )
    assert rules.recorded_late_count(c) == 1
    assert sum(rules.recorded_late_count(x) for x in replayed.state.commitments.values()) == 1


def test_the_relaxed_and_moved_stories_are_amendments_after_the_due_date(replayed: ReplayResult, scenario: Scenario) -> None:
    relaxed = replayed.state.commitments[scenario.commitments["relaxed"].id]
    moved = replayed.state.commitments[scenario.commitments["moved"].id]
    assert (rules.amended_after_due_date(relaxed), rules.target_lowered(relaxed)) == (True, True)
    assert (rules.amended_after_due_date(moved), rules.target_lowered(moved)) == (True, False)
    assert rules.extended_due_date(moved.amendments[0]) is True
    flagged = sorted(n for n, w in scenario.commitments.items() if rules.amended_after_due_date(replayed.state.commitments[w.id]))
    assert flagged == ["moved", "relaxed"]


def test_each_on_record_status_equals_the_contracts_status_of(replayed: ReplayResult, chain: LedgerChain, rpc_url: str) -> None:
    now = latest_block_time(rpc_url)  # statusOf runs at the latest block's time
    for commitment_id, c in replayed.state.commitments.items():
        ours = evaluate(c, now)
        theirs = chain.status_of(commitment_id)  # eth_call only here, as an oracle
        assert (ours.status_on_record, ours.delivered_quantity, ours.target_quantity, ours.progress_bps,
                ours.met_on_record_at) == (
            theirs.status_on_record, theirs.delivered_quantity, theirs.target_quantity, theirs.progress_bps,
            theirs.met_on_record_at,
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


class NodeReportingVersion(ChainSource):
    """A node whose ledger answers ``version()`` with ``version``."""

    def __init__(self, rpc_url: str, version: str | None) -> None:
        super().__init__(rpc_url)
        self.version = version

    def contract_version(self, address: str, block_number: int | str = "latest") -> str | None:
        return self.version


@pytest.mark.parametrize("version", ["1.0.0", "2.0.0", "2.2.0", None])
def test_replay_refuses_an_unknown_contract_version(rpc_url: str, deployment: Deployment, version: str | None) -> None:
    with pytest.raises(UnsupportedContractVersionError) as caught:
        replay_ledger(
            ReplayTarget(rpc_url, deployment.contract_address, deployment.deploy_block),
            source=NodeReportingVersion(rpc_url, version),
        )
    assert (caught.value.version, caught.value.supported) == (version, ("2.1.0",))


def test_replay_refuses_a_contract_without_version(rpc_url: str, deployment: Deployment, roles: Any) -> None:
    address = deploy_code_without_version(rpc_url, roles.stranger.address)
    assert ChainSource(rpc_url).contract_version(address) is None
    with pytest.raises(UnsupportedContractVersionError):
        replay_ledger(ReplayTarget(rpc_url, address, deployment.deploy_block))


def test_the_real_ledger_reports_its_version(rpc_url: str, deployment: Deployment) -> None:
    assert ChainSource(rpc_url).contract_version(deployment.contract_address) == "2.1.0"


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
