"""Replaying the events from the deploy block rebuilds the ledger's state without eth_call.

The projection below is the tests' own, written from the interface's NatSpec (events and
status rules); it reads logs with eth_getLogs and block times from block headers only.
"""

from dataclasses import dataclass, field

import pytest
from brownie import web3
from eth_utils import event_abi_to_log_topic

from constants import (
    DAY,
    DELIVERED,
    DELIVERED_LATE,
    IN_PROGRESS,
    OVERDUE,
    PENDING,
    REVOCATION_REASON,
    WITHDRAWAL_REASON,
    WITHDRAWN,
)


@dataclass
class ReplayedDelivery:
    commitment_id: int
    quantity: int
    delivered_at: int
    evidence: tuple
    cited: list = field(default_factory=list)
    revoked: bool = False


@dataclass
class ReplayedCommitment:
    municipality_id: int
    external_ref: str
    target: int
    due_date: int
    amendments: int = 0
    withdrawn: bool = False
    delivery_ids: list = field(default_factory=list)


@dataclass
class ReplayedLedger:
    owner: str = None
    admins: dict = field(default_factory=dict)  # municipality id -> admin address
    registrars: set = field(default_factory=set)  # (municipality id, address)
    commitments: dict = field(default_factory=dict)  # commitment id -> ReplayedCommitment
    deliveries: dict = field(default_factory=dict)  # delivery id -> ReplayedDelivery

    def apply(self, name, args):
        if name == "OwnershipTransferred":
            self.owner = args["newOwner"]
        elif name == "MunicipalityRegistered":
            assert args["municipalityId"] == len(self.admins) + 1
            self.admins[args["municipalityId"]] = args["admin"]
        elif name == "MunicipalityAdminChanged":
            assert self.admins[args["municipalityId"]] == args["previousAdmin"]
            self.admins[args["municipalityId"]] = args["newAdmin"]
        elif name == "RegistrarAdded":
            self.registrars.add((args["municipalityId"], args["account"]))
        elif name == "RegistrarRemoved":
            self.registrars.remove((args["municipalityId"], args["account"]))
        elif name == "CommitmentRegistered":
            assert args["commitmentId"] == len(self.commitments) + 1
            self.commitments[args["commitmentId"]] = ReplayedCommitment(
                args["municipalityId"], args["externalRef"], args["targetQuantity"], args["dueDate"]
            )
        elif name == "CommitmentAmended":
            commitment = self.commitments[args["commitmentId"]]
            assert (commitment.target, commitment.due_date) == (args["previousTargetQuantity"], args["previousDueDate"])
            commitment.amendments += 1
            assert args["amendmentNumber"] == commitment.amendments
            commitment.target = args["targetQuantity"]
            commitment.due_date = args["dueDate"]
        elif name == "CommitmentWithdrawn":
            self.commitments[args["commitmentId"]].withdrawn = True
        elif name == "DeliveryRecorded":
            assert args["deliveryId"] == len(self.deliveries) + 1
            self.deliveries[args["deliveryId"]] = ReplayedDelivery(
                args["commitmentId"], args["quantity"], args["deliveredAt"], tuple(args["evidenceHashes"])
            )
            self.commitments[args["commitmentId"]].delivery_ids.append(args["deliveryId"])
        elif name == "EvidenceCited":
            delivery = self.deliveries[args["deliveryId"]]
            assert delivery.commitment_id == args["commitmentId"]
            delivery.cited.append(args["evidenceHash"])
        elif name == "DeliveryRevoked":
            delivery = self.deliveries[args["deliveryId"]]
            assert delivery.commitment_id == args["commitmentId"] and not delivery.revoked
            delivery.revoked = True
        else:
            raise AssertionError(f"unexpected event {name}")

    def status(self, commitment_id, now):
        """(status, delivered, target, progressBps, metAt) by the interface's status rules."""
        commitment = self.commitments[commitment_id]
        counted = sorted(
            (self.deliveries[i].delivered_at, self.deliveries[i].quantity)
            for i in commitment.delivery_ids
            if not self.deliveries[i].revoked
        )
        delivered = sum(quantity for _, quantity in counted)
        met_at, running = 0, 0
        for delivered_at, quantity in counted:
            running += quantity
            if running >= commitment.target:
                met_at = delivered_at
                break
        if commitment.withdrawn:
            status = WITHDRAWN
        elif met_at and met_at <= commitment.due_date:
            status = DELIVERED
        elif met_at:
            status = DELIVERED_LATE
        elif now > commitment.due_date:
            status = OVERDUE
        elif delivered > 0:
            status = IN_PROGRESS
        else:
            status = PENDING
        return (status, delivered, commitment.target, delivered * 10_000 // commitment.target, met_at)


def replay(ledger):
    """Rebuild the ledger from its logs, deploy block to latest (inclusive)."""
    contract = web3.eth.contract(address=ledger.address, abi=ledger.abi)
    names = {
        "0x" + event_abi_to_log_topic(abi).hex(): abi["name"] for abi in ledger.abi if abi["type"] == "event"
    }
    logs = web3.eth.get_logs({"address": ledger.address, "fromBlock": ledger.tx.block_number, "toBlock": "latest"})
    replayed = ReplayedLedger()
    for log in sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"])):
        name = names["0x" + log["topics"][0].hex().removeprefix("0x")]
        args = getattr(contract.events, name)().process_log(log)["args"]
        replayed.apply(name, args)
    for delivery in replayed.deliveries.values():
        assert tuple(delivery.cited) == delivery.evidence
    return replayed


@pytest.fixture
def history(ledger, utrecht, platform_admin, council_admin, registrar, other_registrar, stranger, newcomer,
            commitment_input, amendment_input, delivery_input, deliver, clock):
    """Two municipalities, five commitments; every kind of event, deliveries out of date order."""
    start = clock.start
    # 1: Baarn, 200 homes, met after a revocation and a lowered target
    first = ledger.registerCommitment(commitment_input(), {"from": registrar}).return_value
    # 2: Baarn, 10 trees due on day 20, met late
    second = ledger.registerCommitment(
        commitment_input(externalRef="RB-2", targetQuantity=10, unit="trees", dueDate=start + 20 * DAY), {"from": registrar}
    ).return_value
    # 3: Utrecht, in progress, due on day 40
    third = ledger.registerCommitment(
        commitment_input(municipalityId=utrecht, targetQuantity=1000, dueDate=start + 40 * DAY), {"from": other_registrar}
    ).return_value
    # 4: Utrecht, withdrawn, its delivery revoked afterwards
    fourth = ledger.registerCommitment(
        commitment_input(municipalityId=utrecht, externalRef="RU-4"), {"from": other_registrar}
    ).return_value
    # 5: Baarn, pending, title amended
    fifth = ledger.registerCommitment(commitment_input(externalRef="RB-5"), {"from": registrar}).return_value

    deliver(first, 120, start + 30 * DAY)
    wrong = deliver(first, 100, start + 10 * DAY).return_value
    deliver(first, 30, start + 5 * DAY)
    ledger.revokeDelivery(wrong, REVOCATION_REASON, {"from": registrar})
    ledger.amendCommitment(first, amendment_input(targetQuantity=150), {"from": registrar})

    deliver(second, 4, start + DAY)
    deliver(second, 6, start + 25 * DAY)

    ledger.recordDelivery(third, delivery_input(quantity=10), {"from": other_registrar})
    fourth_delivery = ledger.recordDelivery(fourth, delivery_input(quantity=5), {"from": other_registrar}).return_value
    ledger.withdrawCommitment(fourth, WITHDRAWAL_REASON, {"from": other_registrar})
    ledger.revokeDelivery(fourth_delivery, REVOCATION_REASON, {"from": other_registrar})

    ledger.amendCommitment(fifth, amendment_input(title="Nieuwe titel", targetQuantity=200), {"from": registrar})

    ledger.changeMunicipalityAdmin(1, newcomer, {"from": platform_admin})
    ledger.addRegistrar(1, stranger, {"from": newcomer})
    ledger.removeRegistrar(1, registrar, {"from": newcomer})
    ledger.addRegistrar(1, registrar, {"from": newcomer})
    return [first, second, third, fourth, fifth]


def test_replayed_statuses_equal_status_of_every_commitment(ledger, history, clock):
    replayed = replay(ledger)
    now = clock.now()

    assert sorted(replayed.commitments) == history
    for commitment_id in history:
        assert replayed.status(commitment_id, now) == tuple(ledger.statusOf(commitment_id))


def test_replayed_statuses_still_equal_status_of_after_every_due_date(ledger, history, clock):
    clock.mine_at(clock.start + 400 * DAY)
    replayed = replay(ledger)
    now = clock.now()

    statuses = [tuple(ledger.statusOf(commitment_id)) for commitment_id in history]
    assert [replayed.status(commitment_id, now) for commitment_id in history] == statuses
    assert [status[0] for status in statuses] == [DELIVERED, DELIVERED_LATE, OVERDUE, WITHDRAWN, OVERDUE]


def test_replay_rebuilds_municipalities_registrars_refs_and_counts(
    ledger, history, platform_admin, council_admin, registrar, other_admin, other_registrar, stranger, newcomer
):
    replayed = replay(ledger)

    assert replayed.owner == ledger.owner() == platform_admin
    assert tuple(ledger.counts()) == (len(replayed.admins), len(replayed.commitments), len(replayed.deliveries))
    for municipality_id, admin in replayed.admins.items():
        assert ledger.municipalityAdmin(municipality_id) == admin
    for municipality_id in replayed.admins:
        for account in [platform_admin, council_admin, registrar, other_admin, other_registrar, stranger, newcomer]:
            expected = (municipality_id, account.address) in replayed.registrars
            assert ledger.isRegistrar(municipality_id, account) == expected
    for commitment_id, commitment in replayed.commitments.items():
        assert ledger.commitmentIdByRef(commitment.municipality_id, commitment.external_ref) == commitment_id
