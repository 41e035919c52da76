"""The views answer every caller alike, roles or not."""

import pytest

from constants import (
    ADMIN_RECOVERY_DELAY,
    BAARN_ID,
    COMMITMENT_REF,
    COMMITMENT_TARGET,
    IN_PROGRESS,
    UTRECHT_ID,
    VERSION,
    ZERO_ADDRESS,
)

ROLES = ["platform_admin", "council_admin", "registrar", "other_admin", "other_registrar", "stranger", "newcomer"]


@pytest.mark.parametrize("role", ROLES)
def test_views_answer_every_caller_alike(
    ledger, commitment, utrecht, platform_admin, council_admin, registrar, other_admin, newcomer, deliver, clock,
    promised_at, due_date, role, request
):
    deliver(commitment, 50, clock.start)
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
