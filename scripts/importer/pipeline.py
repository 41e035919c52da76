"""Writes in flight: sent to the API, journaled (202), not confirmed yet.

The applier sends each write pipelined (`LedgerClient` ``pipelined=True``) and goes on with
the next one; a write the API accepted but has not settled joins `Pipeline`. At most
``window`` writes wait there: before another is sent the oldest is settled (polled until
confirmed or failed) and its outcome handed to the callback that was given with it. The API
journals the writes in the order they are sent, so their nonces, and the ids they get, follow
the plan's order whatever the window.

A write that needs what an earlier one gives (a delivery needs its commitment's id, a
revocation its delivery's id, an anchored batch its commitments' ids) waits for it first:
`Pipeline.wait_for` settles the oldest writes until none of them provides what is asked.
`Pipeline.drain` settles every one (at the end of a run).

Failures: a settled write that failed, or could not be polled (`ApiError`), goes to its
callback as the error; `ConsecutiveFailuresError` (the client's stop) goes through, leaving
the writes still in flight without an outcome (a re-run finds them by their keys).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from .client import LedgerClient, PendingWrite
from .errors import ApiError

DEFAULT_WINDOW = 4
"""Writes in flight at most (``--max-in-flight``): the API confirms one while the importer
sends the next ones; 1 waits for each write before sending the next."""

Settled = Callable[[dict[str, Any] | None, ApiError | None], None]
"""Called with ``(answer, None)`` when the write is confirmed, ``(None, error)`` when it failed."""


@dataclass
class _InFlight:
    pending: PendingWrite
    settled: Settled
    operations: int
    provides: frozenset[Hashable]


class Pipeline:
    """At most ``window`` pending writes, oldest first.

    Args:
        client: settles them (`LedgerClient.settle`).
        window: most writes in flight (>= 1).
        on_change: called after a write joined or left (the applier reports progress).
    """

    def __init__(self, client: LedgerClient | None, window: int = DEFAULT_WINDOW,
                 on_change: Callable[[], None] | None = None) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self.client = client
        self.window = window
        self.on_change = on_change
        self._queue: deque[_InFlight] = deque()

    @property
    def operations(self) -> int:
        """Operations carried by the writes in flight."""
        return sum(item.operations for item in self._queue)

    def __len__(self) -> int:
        return len(self._queue)

    def provides(self, what: Hashable) -> bool:
        """Whether a write in flight provides ``what`` (e.g. ``("commitment", ref)``)."""
        return any(what in item.provides for item in self._queue)

    def make_room(self) -> None:
        """Settle the oldest writes until another one may be sent."""
        while len(self._queue) >= self.window:
            self.settle_oldest()

    def add(self, pending: PendingWrite, settled: Settled, *, operations: int = 1,
            provides: Iterable[Hashable] = ()) -> None:
        """A write the API accepted and has not settled: ``settled`` gets its outcome later.
        ``provides``: what later writes may wait for (`wait_for`)."""
        self._queue.append(_InFlight(pending, settled, operations, frozenset(provides)))
        if self.on_change is not None:
            self.on_change()

    def settle_oldest(self) -> None:
        """Settle the oldest write and call its callback.

        Raises:
            ConsecutiveFailuresError: from the client (the write stays without outcome).
        """
        item = self._queue[0]
        assert self.client is not None
        try:
            answer = self.client.settle(item.pending)
        except ApiError as exc:
            self._queue.popleft()
            item.settled(None, exc)
        else:
            self._queue.popleft()
            item.settled(answer, None)
        if self.on_change is not None:
            self.on_change()

    def wait_for(self, wanted: Iterable[Hashable]) -> None:
        """Settle the oldest writes until none in flight provides anything in ``wanted``."""
        wanted = set(wanted)
        while any(item.provides & wanted for item in self._queue):
            self.settle_oldest()

    def drain(self) -> None:
        """Settle every write in flight, oldest first."""
        while self._queue:
            self.settle_oldest()
