"""Replaying the events from the deploy block rebuilds the ledger's state without eth_call.

The projection below is the tests' own, written from the interface's NatSpec and
docs/LEDGER.md ("on record" clock: the running state the contract keeps). It shares only the
log decoder (ledger.events.EventDecoder) with the indexer and the replay, and reads the chain
through two JSON-RPC methods, recorded and checked: eth_getLogs (deploy block to latest,
inclusive) and eth_getBlockByNumber (the latest block's time, the evaluation time of statusOf).
The views are called afterwards, only to compare.
"""

from dataclasses import dataclass, field

import pytest
from brownie import web3

from constants import (
    ADMIN_RECOVERY_DELAY,
    AMEND_DUE_DATE,
    AMEND_TARGET,
    AMEND_TITLE,
    AMENDED_TITLE,
    BAARN_ID,
    DAY,
    DELIVERED,
    DELIVERED_LATE,
    DELIVERY_ID_BASE,
    IN_PROGRESS,
    OVERDUE,
    PENDING,
    REVOCATION_REASON,
    UTRECHT_ID,
    WITHDRAWAL_REASON,
    WITHDRAWN,
    ZERO_ADDRESS,
)
from ledger.events import EventDecoder

ALLOWED_RPC_METHODS = {"eth_getLogs", "eth_getBlockByNumber"}


@dataclass
class ReplayedCommitment:
    """A commitment's state as CommitmentState holds it (amounts in its unit, times Unix seconds)."""

    municipality_id: int
    external_ref: str
    target: int
    promised_at: int
    due_date: int
    withdrawn: bool = False
    amendment_count: int = 0
    delivery_count: int = 0
    delivered: int = 0
    met_on_record_at: int = 0

    def state(self):
        """The tuple commitmentState returns, in CommitmentState field order."""
        return (self.municipality_id, self.withdrawn, self.amendment_count, self.delivery_count, self.target,
                self.promised_at, self.due_date, self.delivered, self.met_on_record_at)

    def status(self, now):
        """The tuple statusOf returns at evaluation time ``now`` (the status rules, metAt on record)."""
        met = self.met_on_record_at
        if self.withdrawn:
            status = WITHDRAWN
        elif met and met <= self.due_date:
            status = DELIVERED
        elif met:
            status = DELIVERED_LATE
        elif now > self.due_date:
            status = OVERDUE
        elif self.delivered > 0:
            status = IN_PROGRESS
        else:
            status = PENDING
        return (status, self.delivered, self.target, self.delivered * 10_000 // self.target, met)


@dataclass
class ReplayedMunicipality:
    admin: str
    pending_admin: str = ZERO_ADDRESS
    recovery: tuple = (ZERO_ADDRESS, 0)  # (proposed admin, executable at)


@dataclass
class ReplayedLedger:
    owner: str = ZERO_ADDRESS
    pending_owner: str = ZERO_ADDRESS
    paused: bool = False
    municipalities: dict = field(default_factory=dict)  # id -> ReplayedMunicipality
    registrars: set = field(default_factory=set)  # (municipality id, address)
    commitments: dict = field(default_factory=dict)  # id -> ReplayedCommitment
    deliveries: dict = field(default_factory=dict)  # id -> [commitment id, quantity, revoked]

    def apply(self, name, args):
        getattr(self, "_" + name)(args)

    def _OwnershipTransferStarted(self, args):
        self.pending_owner = args["new_owner"]

    def _OwnershipTransferred(self, args):
        assert args["previous_owner"] == self.owner
        self.owner, self.pending_owner = args["new_owner"], ZERO_ADDRESS

    def _Paused(self, args):
        assert args["account"] == self.owner and not self.paused
        self.paused = True

    def _Unpaused(self, args):
        assert args["account"] == self.owner and self.paused
        self.paused = False

    def _MunicipalityRegistered(self, args):
        assert args["municipality_id"] == len(self.municipalities) + 1
        self.municipalities[args["municipality_id"]] = ReplayedMunicipality(args["admin"])

    def _MunicipalityAdminProposed(self, args):
        municipality = self.municipalities[args["municipality_id"]]
        assert municipality.admin == args["current_admin"]
        municipality.pending_admin = args["proposed_admin"]

    def _MunicipalityAdminChanged(self, args):
        municipality = self.municipalities[args["municipality_id"]]
        assert municipality.admin == args["previous_admin"]
        if args["recovered"]:
            assert municipality.recovery[0] == args["new_admin"]
            municipality.recovery = (ZERO_ADDRESS, 0)
        else:
            assert municipality.pending_admin == args["new_admin"]
        municipality.admin, municipality.pending_admin = args["new_admin"], ZERO_ADDRESS

    def _AdminRecoveryStarted(self, args):
        municipality = self.municipalities[args["municipality_id"]]
        assert municipality.recovery == (ZERO_ADDRESS, 0) and args["by"] == self.owner
        municipality.recovery = (args["proposed_admin"], args["executable_at"])

    def _AdminRecoveryCancelled(self, args):
        municipality = self.municipalities[args["municipality_id"]]
        assert municipality.recovery[0] == args["proposed_admin"]
        municipality.recovery = (ZERO_ADDRESS, 0)

    def _RegistrarAdded(self, args):
        self.registrars.add((args["municipality_id"], args["account"]))

    def _RegistrarRemoved(self, args):
        self.registrars.remove((args["municipality_id"], args["account"]))

    def _CommitmentRegistered(self, args):
        assert args["commitment_id"] == len(self.commitments) + 1
        self.commitments[args["commitment_id"]] = ReplayedCommitment(
            args["municipality_id"], args["external_ref"], args["target_quantity"], args["promised_at"], args["due_date"]
        )

    def _CommitmentAmended(self, args):
        commitment = self.commitments[args["commitment_id"]]
        assert (commitment.target, commitment.due_date) == (args["previous_target_quantity"], args["previous_due_date"])
        commitment.amendment_count += 1
        assert args["amendment_number"] == commitment.amendment_count
        if args["fields"] & AMEND_TARGET:
            new_target = args["target_quantity"]
            if commitment.delivered < new_target:
                commitment.met_on_record_at = 0
            elif not commitment.met_on_record_at or new_target > commitment.target:
                commitment.met_on_record_at = args["amended_at"]
            commitment.target = new_target
        commitment.due_date = args["due_date"]

    def _CommitmentWithdrawn(self, args):
        self.commitments[args["commitment_id"]].withdrawn = True

    def _DeliveryRecorded(self, args):
        commitment = self.commitments[args["commitment_id"]]
        commitment.delivery_count += 1
        assert args["delivery_id"] == args["commitment_id"] * DELIVERY_ID_BASE + commitment.delivery_count
        self.deliveries[args["delivery_id"]] = [args["commitment_id"], args["quantity"], False]
        commitment.delivered += args["quantity"]
        if not commitment.met_on_record_at and commitment.delivered >= commitment.target:
            commitment.met_on_record_at = args["recorded_at"]

    def _DeliveryRevoked(self, args):
        delivery = self.deliveries[args["delivery_id"]]
        assert delivery[0] == args["commitment_id"] and not delivery[2]
        delivery[2] = True
        commitment = self.commitments[args["commitment_id"]]
        commitment.delivered -= delivery[1]
        if commitment.delivered < commitment.target:
            commitment.met_on_record_at = 0


def _recording_rpc(methods):
    def request(method, params):
        methods.add(method)
        response = web3.provider.make_request(method, params)
        assert "error" not in response, response
        return response["result"]

    return request


def replay(ledger, deploy_block, rpc):
    """Rebuild the ledger from its logs, ``deploy_block`` to the latest block (inclusive).

    Returns:
        (ReplayedLedger, now): the state and the latest block's time, Unix seconds.
    """
    decoder = EventDecoder(ledger.abi)
    latest = rpc("eth_getBlockByNumber", ["latest", False])
    logs = rpc("eth_getLogs", [{"address": ledger.address, "fromBlock": hex(deploy_block), "toBlock": latest["number"]}])
    replayed = ReplayedLedger()
    for event in decoder.decode_all(
        {**log, "blockNumber": int(log["blockNumber"], 16), "logIndex": int(log["logIndex"], 16)} for log in logs
    ):
        replayed.apply(event.name, event.args)
    return replayed, int(latest["timestamp"], 16)


@pytest.fixture
def history(ledger, utrecht, platform_admin, council_admin, registrar, other_admin, other_registrar, stranger, newcomer,
            commitment_input, amendment_input, delivery_input, deliver, clock):
    """Two municipalities, eight commitments, every kind of event; deliveries claimed out of date order."""
    start = clock.start
    first = ledger.registerCommitment(commitment_input(), {"from": registrar}).return_value  # 200 homes
    second = ledger.registerCommitment(
        commitment_input(externalRef="RB-2", targetQuantity=10, unit="trees", dueDate=start + 20 * DAY), {"from": registrar}
    ).return_value
    third = ledger.registerCommitment(
        commitment_input(municipalityId=utrecht, targetQuantity=1000, dueDate=start + 40 * DAY), {"from": other_registrar}
    ).return_value
    fourth = ledger.registerCommitment(commitment_input(municipalityId=utrecht, externalRef="RU-4"), {"from": other_registrar}).return_value
    fifth = ledger.registerCommitment(commitment_input(externalRef="RB-5"), {"from": registrar}).return_value

    # 1: met, unmet by a revocation, met again by a lowered target, unmet by a raise, met by a lowering
    deliver(first, 120, start + 30 * DAY)
    wrong = deliver(first, 100, start + 10 * DAY).return_value
    ledger.revokeDelivery(wrong, REVOCATION_REASON, {"from": registrar})
    deliver(first, 30, start + 5 * DAY)
    ledger.amendCommitment(first, amendment_input(targetQuantity=150), {"from": registrar})
    ledger.amendCommitment(first, amendment_input(expectedAmendmentCount=1, targetQuantity=160), {"from": registrar})
    ledger.amendCommitment(first, amendment_input(expectedAmendmentCount=2, targetQuantity=140), {"from": registrar})
    # 2: met on record after its due date, which is then moved (after it was missed) past that time
    deliver(second, 4, start + DAY)
    deliver(second, 6, start + 25 * DAY)
    ledger.amendCommitment(
        second, amendment_input(fields=AMEND_DUE_DATE, targetQuantity=0, dueDate=start + 60 * DAY), {"from": registrar}
    )
    # 3 in progress; 4 withdrawn and its delivery revoked afterwards; 5 title amended
    ledger.recordDelivery(third, delivery_input(quantity=10), {"from": other_registrar})
    fourth_delivery = ledger.recordDelivery(fourth, delivery_input(quantity=5), {"from": other_registrar}).return_value
    ledger.withdrawCommitment(fourth, WITHDRAWAL_REASON, {"from": other_registrar})
    ledger.revokeDelivery(fourth_delivery, REVOCATION_REASON, {"from": other_registrar})
    ledger.amendCommitment(fifth, amendment_input(fields=AMEND_TITLE, title=AMENDED_TITLE, targetQuantity=0), {"from": registrar})
    # 6..8 and a delivery in one batch
    ledger.multicall(
        [ledger.registerCommitment.encode_input(commitment_input(externalRef=f"RB-batch-{i}", targetQuantity=5)) for i in range(3)]
        + [ledger.recordDelivery.encode_input(6, delivery_input(quantity=5))],
        {"from": registrar},
    )
    ledger.pause({"from": platform_admin})
    ledger.unpause({"from": platform_admin})
    # Baarn hands over; the new admin reshuffles the registrars; a recovery of Baarn stays pending
    ledger.proposeMunicipalityAdmin(BAARN_ID, newcomer, {"from": council_admin})
    ledger.acceptMunicipalityAdmin(BAARN_ID, {"from": newcomer})
    ledger.addRegistrar(BAARN_ID, stranger, {"from": newcomer})
    ledger.removeRegistrar(BAARN_ID, registrar, {"from": newcomer})
    ledger.addRegistrar(BAARN_ID, registrar, {"from": newcomer})
    # Utrecht: one recovery cancelled, one completed; then a handover left pending
    ledger.startAdminRecovery(UTRECHT_ID, stranger, {"from": platform_admin})
    ledger.cancelAdminRecovery(UTRECHT_ID, {"from": platform_admin})
    ledger.startAdminRecovery(UTRECHT_ID, newcomer, {"from": platform_admin})
    clock.next_block_at(clock.now() + ADMIN_RECOVERY_DELAY)
    ledger.completeAdminRecovery(UTRECHT_ID, {"from": stranger})
    ledger.proposeMunicipalityAdmin(UTRECHT_ID, other_admin, {"from": newcomer})
    ledger.startAdminRecovery(BAARN_ID, stranger, {"from": platform_admin})
    ledger.transferOwnership(stranger, {"from": platform_admin})
    return list(range(1, 9))


def _assert_replay_equals_views(ledger, replayed, now, accounts):
    assert (replayed.owner, replayed.pending_owner, replayed.paused) == (ledger.owner(), ledger.pendingOwner(), ledger.paused())
    assert tuple(ledger.counts()) == (len(replayed.municipalities), len(replayed.commitments))
    for municipality_id, municipality in replayed.municipalities.items():
        assert ledger.municipalityAdmin(municipality_id) == municipality.admin
        assert ledger.pendingMunicipalityAdmin(municipality_id) == municipality.pending_admin
        assert tuple(ledger.adminRecovery(municipality_id)) == municipality.recovery
        for account in accounts:
            assert ledger.isRegistrar(municipality_id, account) == ((municipality_id, account.address) in replayed.registrars)
    for commitment_id, commitment in replayed.commitments.items():
        assert tuple(ledger.commitmentState(commitment_id)) == commitment.state()
        assert tuple(ledger.statusOf(commitment_id)) == commitment.status(now)
        assert ledger.commitmentIdByRef(commitment.municipality_id, commitment.external_ref) == commitment_id


ROLES = ["platform_admin", "council_admin", "registrar", "other_admin", "other_registrar", "stranger", "newcomer"]


def test_replay_reads_the_chain_with_get_logs_and_one_block_header_only(ledger, history):
    methods = set()
    replay(ledger, ledger.tx.block_number, _recording_rpc(methods))
    assert methods == ALLOWED_RPC_METHODS


def test_replayed_state_equals_every_view(ledger, history, request):
    replayed, now = replay(ledger, ledger.tx.block_number, _recording_rpc(set()))

    assert sorted(replayed.commitments) == history
    _assert_replay_equals_views(ledger, replayed, now, [request.getfixturevalue(role) for role in ROLES])


def test_replayed_history_covers_every_event_of_the_abi(ledger, history):
    decoder = EventDecoder(ledger.abi)
    logs = web3.eth.get_logs({"address": ledger.address, "fromBlock": ledger.tx.block_number, "toBlock": "latest"})
    seen = {decoder.decode(log).name for log in logs}
    assert seen == {entry["name"] for entry in ledger.abi if entry["type"] == "event"}


def test_replayed_statuses_still_equal_status_of_after_every_due_date(ledger, history, registrar, delivery_input, clock):
    clock.mine_at(clock.now() + 400 * DAY)
    ledger.recordDelivery(7, delivery_input(quantity=5), {"from": registrar})

    replayed, now = replay(ledger, ledger.tx.block_number, _recording_rpc(set()))

    statuses = [tuple(ledger.statusOf(commitment_id)) for commitment_id in history]
    assert [replayed.commitments[commitment_id].status(now) for commitment_id in history] == statuses
    # 2 was met on record after its first due date, but before the one it was moved to
    assert [status[0] for status in statuses] == [
        DELIVERED, DELIVERED, OVERDUE, WITHDRAWN, OVERDUE, DELIVERED, DELIVERED_LATE, OVERDUE
    ]
