"""Property: progress and status follow the rules for any target and delivered quantities."""

from brownie.test import given, strategy
from hypothesis import HealthCheck, settings

from constants import DELIVERED, IN_PROGRESS, MAX_QUANTITY


# brownie reverts the chain between examples, so function-scoped fixtures are safe to share
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    target=strategy("uint64", min_value=1, max_value=MAX_QUANTITY),
    first=strategy("uint64", min_value=1, max_value=MAX_QUANTITY),
    second=strategy("uint64", min_value=1, max_value=MAX_QUANTITY),
)
def test_progress_is_delivered_times_10000_over_target_rounded_down(
    ledger, baarn, registrar, commitment_input, deliver, clock, target, first, second
):
    commitment = ledger.registerCommitment(commitment_input(targetQuantity=target), {"from": registrar}).return_value
    deliver(commitment, first, clock.start)
    deliver(commitment, second, clock.start + 1)

    delivered = first + second
    if first >= target:
        expected = (DELIVERED, delivered, target, delivered * 10_000 // target, clock.start)
    elif delivered >= target:
        expected = (DELIVERED, delivered, target, delivered * 10_000 // target, clock.start + 1)
    else:
        expected = (IN_PROGRESS, delivered, target, delivered * 10_000 // target, 0)
    assert tuple(ledger.statusOf(commitment)) == expected
