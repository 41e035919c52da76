"""pause and unpause: the platform admin's emergency stop of every write.

While paused every write reverts with LedgerPaused() except cancelAdminRecovery, unpause and
the ownership transfer, signed writes (`...BySig`) and batch writes included; every view keeps
answering (docs/LEDGER.md, "Pause").
"""

import brownie
import pytest

from constants import (
    ADMIN_RECOVERY_DELAY,
    BAARN_ID,
    BATCH_REVOCATION_REASON,
    COMMITMENT_TARGET,
    CONFIRMATION_EVIDENCE,
    CONFIRMED,
    DAY,
    DISPUTE_REASON,
    IN_PROGRESS,
    MAX_NOTE,
    MAX_REASON,
    NO_VERDICT,
    NOT_OWNERS,
    REVOCATION_REASON,
    UTRECHT_ID,
    VERSION,
    WITHDRAWAL_REASON,
    ZERO_ADDRESS,
    delivery_id,
    sha256_hex,
)


@pytest.fixture
def ready(ledger, commitment, utrecht, batch, confirmer, platform_admin, council_admin, newcomer, deliver, clock):
    """State in which every write below would succeed: a Baarn delivery of 50, the four-leaf
    `batch` anchored, a Baarn confirmer, a handover of Baarn to `newcomer` waiting for
    acceptance, and a recovery of Utrecht past its delay."""
    deliver(commitment, 50, clock.start)
    ledger.proposeMunicipalityAdmin(BAARN_ID, newcomer, {"from": council_admin})
    ledger.startAdminRecovery(UTRECHT_ID, newcomer, {"from": platform_admin})
    clock.mine_at(clock.now() + ADMIN_RECOVERY_DELAY)
    return commitment


@pytest.fixture
def writes(ledger, batch, platform_admin, council_admin, registrar, confirmer, other_admin, newcomer, stranger,
           commitment_input, amendment_input, delivery_input, batch_input, authorize, relay):
    """Every write of the ledger, by name, each called by an account allowed to make it; the
    signed ones signed by that account and submitted by the relayer."""
    delivery = delivery_id(1, 1)
    leaf = (batch.root, batch.leaves[0], batch.proof(0))
    registrar_args = {
        "registerCommitment": [commitment_input(externalRef="RB-2")],
        "amendCommitment": [1, amendment_input()],
        "withdrawCommitment": [1, WITHDRAWAL_REASON],
        "recordDelivery": [1, delivery_input()],
        "revokeDelivery": [delivery, REVOCATION_REASON],
        "anchorBatch": [batch_input(sha256_hex(b"another root"), 1)],
        "revokeBatchedDelivery": [*leaf, BATCH_REVOCATION_REASON],
    }
    confirmer_args = {
        "confirmDelivery": [delivery, CONFIRMATION_EVIDENCE],
        "disputeDelivery": [delivery, DISPUTE_REASON],
        "confirmBatchedDelivery": [*leaf, CONFIRMATION_EVIDENCE],
        "disputeBatchedDelivery": [*leaf, DISPUTE_REASON],
    }

    def direct(name, args, account):
        return lambda: getattr(ledger, name)(*args, {"from": account})

    def signed(name, args, account):
        return lambda: relay(name, args, authorize(name, args, account))

    every = {
        "registerMunicipality": lambda: ledger.registerMunicipality("Amersfoort", "GM0307", other_admin, {"from": platform_admin}),
        "startAdminRecovery": lambda: ledger.startAdminRecovery(BAARN_ID, stranger, {"from": platform_admin}),
        "completeAdminRecovery": lambda: ledger.completeAdminRecovery(UTRECHT_ID, {"from": stranger}),
        "proposeMunicipalityAdmin": lambda: ledger.proposeMunicipalityAdmin(BAARN_ID, stranger, {"from": council_admin}),
        "acceptMunicipalityAdmin": lambda: ledger.acceptMunicipalityAdmin(BAARN_ID, {"from": newcomer}),
        "addRegistrar": lambda: ledger.addRegistrar(BAARN_ID, stranger, {"from": council_admin}),
        "removeRegistrar": lambda: ledger.removeRegistrar(BAARN_ID, registrar, {"from": council_admin}),
        "addConfirmer": lambda: ledger.addConfirmer(BAARN_ID, stranger, {"from": council_admin}),
        "removeConfirmer": lambda: ledger.removeConfirmer(BAARN_ID, confirmer, {"from": council_admin}),
        "multicall": lambda: ledger.multicall(
            [ledger.registerCommitment.encode_input(commitment_input(externalRef="RB-2"))], {"from": registrar}
        ),
    }
    for args, account in ((registrar_args, registrar), (confirmer_args, confirmer)):
        for name, call_args in args.items():
            every[name] = direct(name, call_args, account)
            every[name + "BySig"] = signed(name, call_args, account)
    return every


WRITES = [
    "registerMunicipality",
    "startAdminRecovery",
    "completeAdminRecovery",
    "proposeMunicipalityAdmin",
    "acceptMunicipalityAdmin",
    "addRegistrar",
    "removeRegistrar",
    "addConfirmer",
    "removeConfirmer",
    "multicall",
] + [
    name + suffix
    for name in [
        "registerCommitment", "amendCommitment", "withdrawCommitment", "recordDelivery", "revokeDelivery",
        "anchorBatch", "revokeBatchedDelivery",
        "confirmDelivery", "disputeDelivery", "confirmBatchedDelivery", "disputeBatchedDelivery",
    ]
    for suffix in ("", "BySig")
]


def test_platform_admin_can_pause(ledger, platform_admin):
    tx = ledger.pause({"from": platform_admin})

    assert len(tx.events) == 1
    assert tx.events["Paused"] == {"account": platform_admin}
    assert ledger.paused() is True


def test_platform_admin_can_unpause(ledger, platform_admin):
    ledger.pause({"from": platform_admin})

    tx = ledger.unpause({"from": platform_admin})

    assert len(tx.events) == 1
    assert tx.events["Unpaused"] == {"account": platform_admin}
    assert ledger.paused() is False


@pytest.mark.parametrize("role", NOT_OWNERS)
def test_account_other_than_platform_admin_cannot_pause(ledger, utrecht, role, request):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"OwnableUnauthorizedAccount: {caller.address.lower()}"):
        ledger.pause({"from": caller})


@pytest.mark.parametrize("role", NOT_OWNERS)
def test_account_other_than_platform_admin_cannot_unpause(ledger, utrecht, platform_admin, role, request):
    ledger.pause({"from": platform_admin})
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"OwnableUnauthorizedAccount: {caller.address.lower()}"):
        ledger.unpause({"from": caller})


def test_pausing_a_paused_ledger_is_refused(ledger, platform_admin):
    ledger.pause({"from": platform_admin})
    with brownie.reverts("LedgerPauseUnchanged: True"):
        ledger.pause({"from": platform_admin})


def test_unpausing_a_ledger_that_is_not_paused_is_refused(ledger, platform_admin):
    with brownie.reverts("LedgerPauseUnchanged: False"):
        ledger.unpause({"from": platform_admin})


@pytest.mark.parametrize("write", WRITES)
def test_every_write_is_refused_while_paused_and_accepted_after_unpause(ledger, ready, writes, platform_admin, write):
    ledger.pause({"from": platform_admin})
    with brownie.reverts("LedgerPaused: "):
        writes[write]()

    ledger.unpause({"from": platform_admin})

    assert writes[write]().status == 1


@pytest.mark.parametrize("write", ["disputeDelivery", "disputeBatchedDelivery"])
@pytest.mark.parametrize("reason", ["", "r" * (MAX_REASON + 1)], ids=["empty reason", "reason too long"])
def test_a_paused_ledger_refuses_an_invalid_dispute_as_paused(ledger, ready, batch, confirmer, platform_admin, write, reason):
    ledger.pause({"from": platform_admin})
    with brownie.reverts("LedgerPaused: "):
        if write == "disputeDelivery":
            ledger.disputeDelivery(delivery_id(1, 1), reason, {"from": confirmer})
        else:
            ledger.disputeBatchedDelivery(batch.root, batch.leaves[0], batch.proof(0), reason, {"from": confirmer})


def test_a_paused_ledger_refuses_an_invalid_write_as_paused(ledger, ready, batch, registrar, platform_admin, delivery_input, batch_input):
    # the pause is checked before the input: a paused ledger never reports what else is wrong
    ledger.pause({"from": platform_admin})
    with brownie.reverts("LedgerPaused: "):
        ledger.recordDelivery(1, delivery_input(quantity=0, note="n" * (MAX_NOTE + 1)), {"from": registrar})
    with brownie.reverts("LedgerPaused: "):
        ledger.revokeBatchedDelivery(batch.root, batch.leaves[0], batch.proof(0), "", {"from": registrar})
    with brownie.reverts("LedgerPaused: "):
        ledger.anchorBatch(batch_input(batch.root, 0, fileUri=""), {"from": registrar})


def test_writes_list_names_every_non_view_function_of_the_abi(ledger):
    allowed_while_paused = {"pause", "unpause", "cancelAdminRecovery", "transferOwnership", "acceptOwnership"}
    refused = {"renounceOwnership"}  # a view that always reverts (test_ownership.py)
    non_views = {
        entry["name"]
        for entry in ledger.abi
        if entry["type"] == "function" and entry["stateMutability"] not in ("view", "pure")
    }
    assert non_views == set(WRITES) | allowed_while_paused
    assert all(entry["stateMutability"] == "view" for entry in ledger.abi if entry.get("name") in refused)


def test_admin_can_cancel_a_recovery_while_paused(ledger, ready, platform_admin, other_admin, newcomer):
    ledger.pause({"from": platform_admin})

    tx = ledger.cancelAdminRecovery(UTRECHT_ID, {"from": other_admin})

    assert tx.events["AdminRecoveryCancelled"] == {"municipalityId": UTRECHT_ID, "proposedAdmin": newcomer, "by": other_admin}
    assert tuple(ledger.adminRecovery(UTRECHT_ID)) == (ZERO_ADDRESS, 0)


def test_ownership_can_be_transferred_while_paused(ledger, platform_admin, newcomer):
    ledger.pause({"from": platform_admin})
    ledger.transferOwnership(newcomer, {"from": platform_admin})

    tx = ledger.acceptOwnership({"from": newcomer})

    assert tx.events["OwnershipTransferred"] == {"previousOwner": platform_admin, "newOwner": newcomer}
    assert ledger.paused() is True


def test_views_answer_while_paused(
    ledger, ready, batch, platform_admin, council_admin, registrar, confirmer, newcomer, promised_at, due_date, clock
):
    ledger.confirmDelivery(delivery_id(1, 1), CONFIRMATION_EVIDENCE, {"from": confirmer})
    ledger.pause({"from": platform_admin})

    assert tuple(ledger.statusOf(ready)) == (IN_PROGRESS, 50, COMMITMENT_TARGET, 2500, 0)
    assert tuple(ledger.commitmentState(ready)) == (BAARN_ID, False, 0, 1, COMMITMENT_TARGET, promised_at, due_date, 50, 0)
    assert tuple(ledger.counts()) == (2, 1)
    assert ledger.isRegistrar(BAARN_ID, registrar)
    assert ledger.municipalityAdmin(BAARN_ID) == council_admin
    assert ledger.pendingMunicipalityAdmin(BAARN_ID) == newcomer
    assert ledger.adminRecovery(UTRECHT_ID)[0] == newcomer
    assert ledger.version() == VERSION
    assert ledger.isConfirmer(BAARN_ID, confirmer)
    assert ledger.nonces(registrar) == 0
    assert tuple(ledger.batchOf(batch.root)) == (BAARN_ID, registrar, 4)
    assert tuple(ledger.verifyBatchedDelivery(batch.root, batch.leaves[0], batch.proof(0))) == (True, batch.leaf_hash(0), False)
    assert ledger.batchLeafHash(batch.leaves[0]) == batch.leaf_hash(0)
    assert ledger.verdictOf(delivery_id(1, 1), confirmer) == CONFIRMED
    assert ledger.batchedVerdictOf(batch.root, batch.leaf_hash(0), confirmer) == NO_VERDICT


def test_pause_does_not_run_out_the_clock_of_a_recovery(ledger, baarn, platform_admin, council_admin, newcomer, clock):
    # the admin cancels during the pause; completing after it finds nothing to complete
    ledger.startAdminRecovery(baarn, newcomer, {"from": platform_admin})
    ledger.pause({"from": platform_admin})
    ledger.cancelAdminRecovery(baarn, {"from": council_admin})
    clock.mine_at(clock.now() + ADMIN_RECOVERY_DELAY + DAY)
    ledger.unpause({"from": platform_admin})
    with brownie.reverts(f"LedgerNoRecoveryPending: {baarn}"):
        ledger.completeAdminRecovery(baarn, {"from": newcomer})
    assert ledger.municipalityAdmin(baarn) == council_admin
