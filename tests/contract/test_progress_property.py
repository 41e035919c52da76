"""Property: the O(1) bookkeeping (delivered total, metOnRecordAt) follows docs/LEDGER.md's
"on record" running state for any sequence of deliveries, revocations, target amendments and
waits, and statusOf answers from it.

brownie reverts the chain between examples, so function-scoped fixtures are safe to share.
Block times come from each transaction (anvil's clock keeps moving across examples).
"""

from brownie.test import given
from hypothesis import HealthCheck, settings, strategies as st

from constants import DAY, DELIVERED, DELIVERED_LATE, IN_PROGRESS, OVERDUE, PENDING, REVOCATION_REASON

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("deliver"), st.integers(min_value=1, max_value=120)),
        st.tuples(st.just("revoke"), st.integers(min_value=0, max_value=7)),
        st.tuples(st.just("amend"), st.integers(min_value=1, max_value=300)),
        st.tuples(st.just("wait"), st.integers(min_value=1, max_value=200)),
    ),
    min_size=1,
    max_size=8,
)


def expected_status(delivered, target, met, due_date, now):
    """The status rules with metAt on record (ICommitmentLedger NatSpec)."""
    if met:
        status = DELIVERED if met <= due_date else DELIVERED_LATE
    elif now > due_date:
        status = OVERDUE
    elif delivered > 0:
        status = IN_PROGRESS
    else:
        status = PENDING
    return (status, delivered, target, delivered * 10_000 // target, met)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_delivered_total_and_met_on_record_at_follow_the_running_state(
    ledger, commitment, registrar, amendment_input, delivery_input, clock, status, state, due_date, steps
):
    target, delivered, met, amendments = 200, 0, 0, 0
    deliveries = []  # [delivery id, quantity, revoked]
    for action, value in steps:
        if action == "deliver":
            tx = ledger.recordDelivery(commitment, delivery_input(quantity=value, deliveredAt=1), {"from": registrar})
            deliveries.append([tx.return_value, value, False])
            delivered += value
            if not met and delivered >= target:
                met = tx.timestamp
        elif action == "revoke" and value < len(deliveries) and not deliveries[value][2]:
            ledger.revokeDelivery(deliveries[value][0], REVOCATION_REASON, {"from": registrar})
            deliveries[value][2] = True
            delivered -= deliveries[value][1]
            if delivered < target:
                met = 0
        elif action == "amend" and value != target:
            tx = ledger.amendCommitment(
                commitment, amendment_input(expectedAmendmentCount=amendments, targetQuantity=value), {"from": registrar}
            )
            amendments += 1
            if delivered < value:
                met = 0
            elif not met or value > target:
                met = tx.timestamp
            target = value
        elif action == "wait":
            clock.mine_at(clock.now() + value * DAY)

        assert delivered == sum(quantity for _, quantity, revoked in deliveries if not revoked)
        assert state(commitment)[2:4] == (amendments, len(deliveries))
        assert (state(commitment)[4], state(commitment)[7], state(commitment)[8]) == (target, delivered, met)
        assert status(commitment) == expected_status(delivered, target, met, due_date, clock.now())
