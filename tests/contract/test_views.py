"""The views answer every caller alike, roles or not."""

import pytest

from constants import BAARN_ID, COMMITMENT_REF, COMMITMENT_TARGET, IN_PROGRESS, UTRECHT_ID, VERSION

ROLES = ["platform_admin", "council_admin", "registrar", "other_admin", "other_registrar", "stranger", "newcomer"]


@pytest.mark.parametrize("role", ROLES)
def test_views_answer_every_caller_alike(ledger, commitment, utrecht, council_admin, registrar, other_admin, deliver, clock, role, request):
    deliver(commitment, 50, clock.start)
    caller = {"from": request.getfixturevalue(role)}

    assert ledger.version(caller) == VERSION
    assert tuple(ledger.statusOf(commitment, caller)) == (IN_PROGRESS, 50, COMMITMENT_TARGET, 2500, 0)
    assert ledger.commitmentIdByRef(BAARN_ID, COMMITMENT_REF, caller) == commitment
    assert ledger.isRegistrar(BAARN_ID, registrar, caller)
    assert not ledger.isRegistrar(UTRECHT_ID, registrar, caller)
    assert ledger.municipalityAdmin(BAARN_ID, caller) == council_admin
    assert ledger.municipalityAdmin(UTRECHT_ID, caller) == other_admin
    assert tuple(ledger.counts(caller)) == (2, 1, 1)
