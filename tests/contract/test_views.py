"""The views answer every caller alike, roles or not."""

import pytest

from constants import (
    ADMIN_RECOVERY_DELAY,
    BAARN_ID,
    COMMITMENT_REF,
    COMMITMENT_TARGET,
    CONFIRMED,
    DISPUTE_REASON,
    DISPUTED,
    IN_PROGRESS,
    UTRECHT_ID,
    VERSION,
    ZERO_ADDRESS,
    ZERO_HASH,
)

ROLES = [
    "platform_admin", "council_admin", "registrar", "confirmer", "other_admin", "other_registrar", "stranger", "newcomer",
    "relayer",
]


@pytest.mark.parametrize("role", ROLES)
def test_views_answer_every_caller_alike(
    ledger, commitment, utrecht, batch, confirmer, platform_admin, council_admin, registrar, other_admin, newcomer,
    deliver, clock, promised_at, due_date, role, request
):
    delivery = deliver(commitment, 50, clock.start).return_value
    ledger.confirmDelivery(delivery, ZERO_HASH, {"from": confirmer})
    ledger.disputeBatchedDelivery(batch.root, batch.leaves[1], batch.proof(1), DISPUTE_REASON, {"from": confirmer})
    ledger.proposeMunicipalityAdmin(UTRECHT_ID, newcomer, {"from": other_admin})
    started = ledger.startAdminRecovery(BAARN_ID, newcomer, {"from": platform_admin}).timestamp
    caller = {"from": request.getfixturevalue(role)}

    assert ledger.version(caller) == VERSION
    assert tuple(ledger.statusOf(commitment, caller)) == (IN_PROGRESS, 50, COMMITMENT_TARGET, 2500, 0)
    assert tuple(ledger.commitmentState(commitment, caller)) == (
        BAARN_ID, False, 0, 1, COMMITMENT_TARGET, promised_at, due_date, 50, 0
    )
    assert ledger.commitmentIdByRef(BAARN_ID, COMMITMENT_REF, caller) == commitment
    assert ledger.isRegistrar(BAARN_ID, registrar, caller)
    assert not ledger.isRegistrar(UTRECHT_ID, registrar, caller)
    assert ledger.municipalityAdmin(BAARN_ID, caller) == council_admin
    assert ledger.municipalityAdmin(UTRECHT_ID, caller) == other_admin
    assert ledger.pendingMunicipalityAdmin(BAARN_ID, caller) == ZERO_ADDRESS
    assert ledger.pendingMunicipalityAdmin(UTRECHT_ID, caller) == newcomer
    assert tuple(ledger.adminRecovery(BAARN_ID, caller)) == (newcomer, started + ADMIN_RECOVERY_DELAY)
    assert tuple(ledger.adminRecovery(UTRECHT_ID, caller)) == (ZERO_ADDRESS, 0)
    assert ledger.paused(caller) is False
    assert tuple(ledger.counts(caller)) == (2, 1)
    assert ledger.owner(caller) == platform_admin
    assert ledger.isConfirmer(BAARN_ID, confirmer, caller)
    assert not ledger.isConfirmer(UTRECHT_ID, confirmer, caller)
    assert ledger.verdictOf(delivery, confirmer, caller) == CONFIRMED
    assert ledger.batchedVerdictOf(batch.root, batch.leaf_hash(1), confirmer, caller) == DISPUTED
    assert ledger.nonces(registrar, caller) == 0
    assert tuple(ledger.batchOf(batch.root, caller)) == (BAARN_ID, registrar, 4)
    assert ledger.batchLeafHash(batch.leaves[2], caller) == batch.leaf_hash(2)
    assert tuple(ledger.verifyBatchedDelivery(batch.root, batch.leaves[2], batch.proof(2), caller)) == (
        True, batch.leaf_hash(2), False
    )
    assert ledger.eip712Domain(caller)[4] == ledger.address
