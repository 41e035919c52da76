"""Pipelined writes (``max_in_flight`` > 1): sent without ``Prefer: wait``, answered 202 once
journaled, settled later, at most the window unconfirmed; the same transactions in the same
order, hence the same ids, as one write at a time; a failure that arrives with the settled
write is handled as a refusal at once; a stop leaves the writes in flight to a re-run. The API
is conftest.FakeLedgerApi as the write outbox (202, polled)."""

from __future__ import annotations

import httpx
import pytest

from scripts.importer.apply import apply_plan
from scripts.importer.client import LedgerClient
from scripts.importer.errors import ConsecutiveFailuresError
from scripts.importer.state import read_state
from tests.importer.conftest import FakeLedgerApi
from tests.importer.test_apply import ALL_DONE, CHILE_TRANSACTIONS, outcomes

CHILE, BAARN = 2, 1


class Watched:
    """The fake as the outbox, recording the most writes journaled and not yet confirmed."""

    def __init__(self, fake: FakeLedgerApi) -> None:
        self.fake = fake
        self.most_open = 0

    def handle(self, request):
        response = self.fake.handle(request)
        open_writes = sum(1 for w in self.fake.outbox_writes.values() if w["state"] != "confirmed")
        self.most_open = max(self.most_open, open_writes)
        return response


def outbox_fake() -> FakeLedgerApi:
    fake = FakeLedgerApi()
    fake.outbox, fake.confirm_after_polls = True, 1
    return fake


def apply(plan, handler, token, municipality_id, **kwargs):
    with LedgerClient("http://ledger.test", token, transport=httpx.MockTransport(handler), sleep=lambda _s: None,
                      max_consecutive_failures=kwargs.pop("max_consecutive_failures", None),
                      max_attempts=kwargs.pop("max_attempts", 4)) as client:
        wanted = {op.commitment_ref for op in (*plan.deliveries, *plan.revocations)}
        return apply_plan(plan, client, read_state(client, municipality_id, with_deliveries=wanted), dry_run=False,
                          sleep=lambda _s: None, **kwargs)


def test_pipelined_writes_go_in_the_plans_order_with_the_ids_of_one_at_a_time_and_at_most_four_open(chile_per_delivery_plan):
    pipelined, one_by_one = Watched(outbox_fake()), Watched(outbox_fake())
    fast = apply(chile_per_delivery_plan, pipelined.handle, "tok-chile", CHILE, max_in_flight=4)
    slow = apply(chile_per_delivery_plan, one_by_one.handle, "tok-chile", CHILE, max_in_flight=1)
    assert outcomes(fast, chile_per_delivery_plan) == outcomes(slow, chile_per_delivery_plan) == ALL_DONE
    assert pipelined.fake.transactions == one_by_one.fake.transactions == CHILE_TRANSACTIONS
    assert [(r.index, r.ledger_id) for r in fast.results] == [(r.index, r.ledger_id) for r in slow.results]
    assert (pipelined.most_open, one_by_one.most_open) == (4, 1)
    assert set(pipelined.fake.prefer) == {None} and set(one_by_one.fake.prefer) == {"wait=10"}
    polls = [p for _m, p in pipelined.fake.requests if p.startswith("/api/v1/staff/writes/")]
    assert len(polls) == len(pipelined.fake.outbox_writes) == 15  # each polled once: confirmed by then
    assert fast.in_flight == 0 and len(fast.transactions()) == 15


class FailsWhenSettled:
    """The first registration batch is journaled (202) and then fails on chain naming its
    item 1, as the outbox reports a write whose transaction reverted; the rest goes through."""

    def __init__(self, fake: FakeLedgerApi) -> None:
        self.fake = fake
        self.failed_once = False

    def handle(self, request):
        if request.method == "POST" and request.url.path.endswith("/commitments/batch") and not self.failed_once:
            self.failed_once = True
            write = {"id": "w-reverted", "state": "queued", "created_at": 0}
            return httpx.Response(202, json={"write": write}, headers={"Location": "/api/v1/staff/writes/w-reverted"})
        if request.url.path == "/api/v1/staff/writes/w-reverted":
            problem = {"type": "/problems/validation-error", "status": 422, "detail": "item 1 reverted", "index": 1}
            return httpx.Response(200, json={"write": {"id": "w-reverted", "state": "failed", "problem": problem}})
        return self.fake.handle(request)


def test_a_write_that_fails_when_settled_naming_an_item_fails_that_item_and_sends_the_rest_again(baarn_plan):
    fake = outbox_fake()
    result = apply(baarn_plan, FailsWhenSettled(fake).handle, "tok-baarn", BAARN, max_in_flight=4, batch_size=10)
    second = result.results[1]
    assert (second.outcome, second.detail, second.problem["index"]) == ("failed", "422 validation-error: item 1 reverted", 1)
    assert outcomes(result, baarn_plan) == {"commitments": {"done": 130, "failed": 1}, "deliveries": {}, "revocations": {}}
    # The other nine were sent again as one batch, after the batches sent meanwhile.
    assert fake.transactions[:3] == [("/api/v1/staff/commitments/batch", 10)] * 3
    assert ("/api/v1/staff/commitments/batch", 9) in fake.transactions
    assert sorted(c["external_ref"] for c in fake.commitments.values()) == sorted(
        op.external_ref for i, op in enumerate(baarn_plan.operations) if i != 1)


class GoesAway:
    """The outbox fake, unreachable from its ``after``-th write on (posts and polls)."""

    def __init__(self, fake: FakeLedgerApi, after: int) -> None:
        self.fake, self.after, self.posts = fake, after, 0

    def handle(self, request):
        if request.method == "POST":
            self.posts += 1
        if self.posts >= self.after:
            raise httpx.ConnectError("connection refused")
        return self.fake.handle(request)


def test_a_stop_with_writes_in_flight_leaves_them_to_a_rerun_which_writes_nothing_twice(baarn_plan):
    fake = outbox_fake()
    fake.confirm_after_polls = 2  # still open when the API goes away
    seen = []
    with pytest.raises(ConsecutiveFailuresError):
        apply(baarn_plan, GoesAway(fake, after=6).handle, "tok-baarn", BAARN, max_in_flight=4, batch_size=10,
              max_consecutive_failures=2, max_attempts=1, on_progress=seen.append)
    assert len(fake.commitments) == 50  # five batches journaled: the sixth never arrived
    assert max(r.in_flight for r in seen) == 40 and seen[-1].in_flight > 0

    again = apply(baarn_plan, fake.handle, "tok-baarn", BAARN, max_in_flight=4, batch_size=10)
    assert outcomes(again, baarn_plan) == {"commitments": {"already_present": 50, "done": 81}, "deliveries": {}, "revocations": {}}
    refs = [c["external_ref"] for c in fake.commitments.values()]
    assert len(refs) == len(set(refs)) == 131
