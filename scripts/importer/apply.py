"""Executing a plan against the ledger API: only what is missing, never anything twice.

Matching is by external refs: a planned commitment is present when the municipality has a
commitment with its ``external_ref``; a planned delivery when that commitment has a delivery
with its ``external_ref``; a planned revocation when that delivery is revoked. A 409
``duplicate-external-ref`` / ``duplicate-delivery-ref`` / ``delivery-already-revoked`` answer
also counts as already done. Failures are recorded per operation and the run goes on; the
operations that depend on a failed one are ``blocked``.

Batches. With ``batch_size`` > 1 registrations and deliveries are sent through the batch
endpoints, up to ``batch_size`` per request and so per transaction (all or nothing on chain).
A delivery batch carries the evidence files of its deliveries (each once), so the API stores
every file the chain cites, as a single delivery's upload does; a batch is cut short when its
files would pass `MAX_BATCH_FILE_BYTES`.
Operations of one commitment keep their plan order; operations of different commitments may
be sent in different order (a delivery waits in its batch until its commitment is
registered; a revocation first sends the waiting deliveries of its commitment). When a batch
is refused because of one item (the problem's ``index``), that item gets its outcome (409
duplicate: ``already_present``; anything else: ``failed``) and the rest is sent again. A
refusal of the whole batch (no ``index``: paused ledger after the retries, transaction
failed, ...) fails each of its items; a re-run finds on the ledger whatever did go in.
Revocations are single calls. Every written operation names the transaction that carried it.

Stopping. A failure that is not the operation's own fault (`is_service_failure`) is recorded
as ``failed`` like any other; when the client counts too many in a row it raises
`ConsecutiveFailuresError`, which is not caught here: the run ends, the operations not sent
yet have no result, and a re-run writes what is missing. ``on_progress`` sees every result as
it is recorded, so a caller can report a run that stops or is interrupted.

Pipelining (``max_in_flight`` > 1, the CLI's ``--max-in-flight``, default 4 there). Every
write but an anchored batch is sent pipelined (its leaves' revocations too): the API answers
once it has journaled it, and the next write goes while it is confirmed; at most
``max_in_flight`` wait unconfirmed (`scripts.importer.pipeline`), all are settled at the end.
The API journals them in the order sent, so nonces and ids follow the plan's order. A write
that needs an id an earlier one gives (a delivery its commitment's, a revocation its
delivery's, an anchored batch its commitments') waits for that write first. Results are
recorded when a write is confirmed; ``on_progress`` also sees how many operations are in
flight. With 1, each write waits for its confirmation (``Prefer: wait``) as before.

Re-imports (`scripts.importer.reimport`). A registration the ledger holds is compared with
what the ledger shows; the fields the mapping's ``reimport.amend`` lists that differ become
one amendment of the commitment (``amendment`` on its result: ``amended``, ``would_amend``
in a dry run, ``failed`` with the problem); every other field that differs is reported in
``differences``, never written.

Anchored batches (mapping ``deliveries: {mode: batch}``; `scripts.importer.batches`). The
deliveries of one snapshot wait together and go as one ``POST /staff/batches`` when the next
snapshot's first delivery comes, when a revocation of one of their commitments comes, or at
the end; their commitments are registered first. Revoking a batched delivery waits until the
API's index holds the batch the run anchored, then names its root and leaf hash.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from ledger.limits import delivery_commitment_id

from . import batches as batching
from .anchoring import PENDING, BatchWrites, not_registered
from . import reimport
from .client import MAX_BATCH_FILE_BYTES, MAX_BATCH_LEAVES, MAX_BATCH_SIZE, LedgerClient, PendingWrite
from .errors import (
    ApiError,
    ApiProblemError,
    IndexerLagError,
    MunicipalityMismatchError,
    MunicipalityNotFoundError,
)
from .mapping import MunicipalityRef
from .pipeline import Pipeline
from .plan import Plan, RecordDelivery, RegisterCommitment, RevokeDelivery
from .reimport import AmendmentResult, FieldChange
from .results import OUTCOMES, REPLAYED, ApplyResult, BatchResult, OpOutcome, OpResult, TxRef, settle_replays  # noqa: F401  (also imported from here)
from .state import LedgerState, OnChain

_ALREADY = {
    "duplicate-external-ref": "existing_commitment_id",
    "duplicate-delivery-ref": "existing_delivery_id",
    "delivery-already-revoked": None,
}


# ------------------------------------------------------------------ preconditions


def check_municipality(client: LedgerClient, expected: MunicipalityRef) -> dict[str, Any]:
    """Check that the staff token belongs to the mapping's municipality (matched on ``code``).

    Returns:
        the `Municipality` document of the token's municipality (``id``, ``name``, ``code``...).

    Raises:
        MunicipalityMismatchError: if the token's municipality has another code.
        ApiProblemError: 401 if the token is unknown.
        ApiUnreachableError: if the API cannot be reached.
    """
    me = client.me()
    municipality = client.municipality(int(me["municipality_id"]))
    code = str(municipality.get("code") or "")
    if code != expected.code:
        raise MunicipalityMismatchError(expected.code, code, str(municipality.get("name") or me.get("municipality_name")))
    return municipality


def find_municipality(client: LedgerClient, expected: MunicipalityRef) -> dict[str, Any]:
    """The registered municipality with the mapping's code (public lookup, no token).

    Raises:
        MunicipalityNotFoundError: if no municipality has that code.
        ApiUnreachableError, ApiProblemError: from the client.
    """
    for municipality in client.municipalities():
        if str(municipality.get("code") or "") == expected.code:
            return municipality
    raise MunicipalityNotFoundError(
        f"no municipality with code {expected.code!r} is registered in the ledger; the platform admin must onboard it"
    )


def wait_until_indexed(
    client: LedgerClient,
    *,
    timeout_seconds: float,
    poll_interval_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll ``/health`` until ``indexed_block >= chain_head_block``, so the state read next is
    not stale.

    Args:
        timeout_seconds: give up after this long (0 = check once).
        poll_interval_seconds: wait between polls.

    Returns:
        the last health document.

    Raises:
        IndexerLagError: if the indexer has not caught up within ``timeout_seconds``.
    """
    start = clock()
    while True:
        health = client.health()
        indexed, head = health.get("indexed_block"), health.get("chain_head_block")
        if indexed is not None and head is not None and int(indexed) >= int(head):
            return health
        waited = clock() - start
        if waited >= timeout_seconds:
            raise IndexerLagError(waited, indexed, head)
        sleep(min(poll_interval_seconds, max(0.0, timeout_seconds - waited)))


# ------------------------------------------------------------------ the run


def apply_plan(
    plan: Plan,
    client: LedgerClient | None,
    state: LedgerState | None,
    *,
    dry_run: bool,
    batch_size: int = MAX_BATCH_SIZE,
    max_batch_leaves: int = MAX_BATCH_LEAVES,
    index_timeout_seconds: float = 60.0,
    poll_interval_seconds: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
    on_progress: Callable[[ApplyResult], None] | None = None,
    max_in_flight: int = 1,
) -> ApplyResult:
    """Execute the operations of ``plan`` that ``state`` does not hold yet.

    Args:
        plan: from `plan_source`.
        client: the API client with a staff token (may be None when ``dry_run``).
        state: what the ledger holds (from `read_state`); None when unknown (dry run without
            API: every operation is ``would_do``).
        dry_run: write nothing; report ``would_do`` for what would be written.
        batch_size: registrations or deliveries per transaction, 1..`MAX_BATCH_SIZE`; 1 sends
            each through its single endpoint. Evidence files are uploaded either way.
        max_batch_leaves: most leaves per anchored batch request (deliveries the plan puts in
            batches, `RecordDelivery.batch`); a planned batch with more goes in several.
        index_timeout_seconds, poll_interval_seconds: how long to wait, and between polls of
            ``/health``, for the API's index to hold a batch this run anchored before revoking
            one of its leaves.
        sleep: how to wait (tests pass a no-op).
        on_progress: called with the results so far (an `ApplyResult` of the operations
            settled, in plan order, the batches sent and the operations in flight) each time
            one is recorded or a write is sent.
        max_in_flight: most writes sent and not confirmed yet (>= 1; module docstring); 1
            waits for each write's confirmation before the next.

    Returns:
        one `OpResult` per operation, in plan order. Never raises for a refused operation.

    Raises:
        ValueError: ``batch_size`` or ``max_in_flight`` out of range, or no client for a real run.
        MappingError: the mapping's ``reimport.reason`` cannot be computed
            (`scripts.importer.reimport.amendment_reason`).
        ConsecutiveFailuresError: from the client: the run stopped (``on_progress`` has seen
            every result recorded before).
    """
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be 1..{MAX_BATCH_SIZE}, got {batch_size}")
    if max_batch_leaves < 1:
        raise ValueError(f"max_batch_leaves must be at least 1, got {max_batch_leaves}")
    if max_in_flight < 1:
        raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
    run = _Run(plan, client, state if state is not None else LedgerState.empty(), dry_run, batch_size)
    rules = plan.mapping.reimport
    if rules is not None and rules.amend:
        run.amend_fields, run.amend_reason = list(rules.amend), reimport.amendment_reason(plan.mapping)
    run.pipeline = Pipeline(client, max_in_flight)
    run.pipelined = max_in_flight > 1 and not dry_run
    if on_progress is not None:
        run.observe(on_progress)
    run.max_batch_leaves = max_batch_leaves
    run.index_wait = (index_timeout_seconds, poll_interval_seconds, sleep)
    for index, op in enumerate(plan.operations):
        if isinstance(op, RegisterCommitment):
            run.register(index, op)
        elif isinstance(op, RecordDelivery):
            run.deliver(index, op)
        else:
            run.revoke(index, op)
    for label in list(run.waiting_leaves):
        run.flush_batch(label)
    run.flush_deliveries()
    run.flush_registrations()
    run.pipeline.drain()
    return settle_replays([run.results[i] for i in sorted(run.results)], list(run.batch_results))


class _Run(BatchWrites):
    def __init__(self, plan: Plan, client: LedgerClient | None, state: LedgerState, dry_run: bool, batch_size: int) -> None:
        if client is None and not dry_run:
            raise ValueError("a client is required unless dry_run")
        self.client = client
        self.dry_run = dry_run
        self.batch_size = batch_size
        self.results: dict[int, OpResult] = {}
        self.commitments: dict[str, int] = {ref: c.id for ref, c in state.commitments.items()}
        self.summaries = {ref: c.summary for ref, c in state.commitments.items()}
        self.deliveries: dict[tuple[str, str], int | str] = {}
        self.delivery_quantity: dict[tuple[str, str], int] = {}
        self.revoked: set[tuple[str, str]] = set()
        self.on_chain: dict[tuple[str, ...], OnChain | None] = {}
        self.leaf_of: dict[tuple[str, str], tuple[str | None, str | None]] = {}  # (root, leaf hash)
        self.refused_leaves: dict[tuple[str, str], str] = {}
        for ref, c in state.commitments.items():
            self.on_chain[(ref,)] = c.registered
            self.refused_leaves.update({(ref, dref): reason for dref, reason in c.refused_leaves.items()})
            for dref, d in (c.deliveries or {}).items():
                self.deliveries[(ref, dref)] = d.id
                self.delivery_quantity[(ref, dref)] = d.quantity
                self.on_chain[(ref, dref)] = d.recorded
                if d.revoked:
                    self.revoked.add((ref, dref))
                    self.on_chain[(ref, dref, "revoked")] = d.revocation
                if d.batch_root is not None:
                    self.leaf_of[(ref, dref)] = (d.batch_root, str(d.id))
        self.planned_revocations = {(op.commitment_ref, op.delivery_ref) for op in plan.revocations}
        self.waiting_registrations: list[tuple[int, RegisterCommitment]] = []
        self.waiting_deliveries: list[tuple[int, RecordDelivery]] = []
        # Anchored batches: leaves waiting per batch label, results, where each leaf is.
        self.municipality_id = state.municipality_id
        self.waiting_leaves: dict[str, list[tuple[int, RecordDelivery]]] = {}
        self.batch_results: list[BatchResult] = []
        self.anchored_block: dict[str, int] = {}
        self.max_batch_leaves = MAX_BATCH_LEAVES
        self.index_wait: tuple[float, float, Callable[[float], None]] = (60.0, 0.2, time.sleep)
        # Dry run: the ids the ledger would give the commitments registered first (ids count
        # from 1 across the ledger), so the roots of their batches can be shown.
        self.next_predicted_id = None if state.commitment_total is None else state.commitment_total + 1
        self.predicted: dict[str, int] = {}
        # Pipelining (apply_plan sets them) and re-imports.
        self.pipeline = Pipeline(client, 1)
        self.pipelined = False
        self.amend_fields: list[str] = []
        self.amend_reason = ""

    def observe(self, on_progress: Callable[[ApplyResult], None]) -> None:
        """Call ``on_progress`` with the results so far whenever a result or a batch is recorded."""
        def changed() -> None:
            result = settle_replays([self.results[i] for i in sorted(self.results)], list(self.batch_results))
            result.in_flight = self.pipeline.operations
            on_progress(result)

        self.results = _Recorded(self.results, changed)
        self.batch_results = _RecordedList(self.batch_results, changed)
        self.pipeline.on_change = changed

    # -------------------------------------------------------------- per operation

    def register(self, index: int, op: RegisterCommitment) -> None:
        if op.external_ref in self.commitments:
            self._reconcile(index, op)
        elif self.dry_run:
            self.commitments[op.external_ref] = PENDING
            if self.next_predicted_id is not None:
                self.predicted[op.external_ref] = self.next_predicted_id
                self.next_predicted_id += 1
            self.results[index] = OpResult(index, "would_do")
        else:
            self.waiting_registrations.append((index, op))
            if len(self.waiting_registrations) >= self.batch_size:
                self.flush_registrations()

    def deliver(self, index: int, op: RecordDelivery) -> None:
        key = (op.commitment_ref, op.external_ref)
        if key in self.deliveries:
            self.results[index] = OpResult(index, "already_present", self.deliveries[key], warnings=self._delivery_drift(key, op),
                                           recorded_in=self.on_chain.get(key))
        elif op.commitment_ref not in self.commitments and not self._waiting_registration(op.commitment_ref):
            self.results[index] = OpResult(index, "blocked", detail=not_registered(op.commitment_ref))
        elif op.batch is not None:
            for label in [label for label in self.waiting_leaves if label != op.batch]:
                self.flush_batch(label)  # batches go in plan (snapshot) order
            self.waiting_leaves.setdefault(op.batch, []).append((index, op))
        elif self.dry_run:
            self.deliveries[key] = PENDING
            self.results[index] = OpResult(index, "would_do")
        else:
            self.waiting_deliveries.append((index, op))
            if len(self.waiting_deliveries) >= self.batch_size:
                self.flush_deliveries()

    def revoke(self, index: int, op: RevokeDelivery) -> None:
        if any(d.commitment_ref == op.commitment_ref for _i, d in self.waiting_deliveries):
            self.flush_deliveries()  # keep this commitment's operations in plan order
        for label, leaves in list(self.waiting_leaves.items()):
            if any(d.commitment_ref == op.commitment_ref for _i, d in leaves):
                self.flush_batch(label)
        key = (op.commitment_ref, op.delivery_ref)
        self.pipeline.wait_for({("delivery", *key)})
        if key in self.revoked:
            self.results[index] = OpResult(index, "already_present", self.deliveries.get(key),
                                           recorded_in=self.on_chain.get((*key, "revoked")))
            return
        delivery_id = self.deliveries.get(key)
        if delivery_id is None:
            self.results[index] = OpResult(
                index, "blocked", detail=f"delivery {op.delivery_ref!r} of commitment {op.commitment_ref!r} is not recorded"
            )
            return
        if self.dry_run:
            self.revoked.add(key)
            self.results[index] = OpResult(index, "would_do", None if delivery_id == PENDING else delivery_id)
            return
        if key in self.leaf_of:
            self._revoke_leaf(index, op, key)
            return
        assert isinstance(delivery_id, int)
        self._write(lambda: self._client.revoke_delivery(delivery_id, op.reason, pipelined=self.pipelined),
                    lambda answer, error: self._revoked(index, key, delivery_id, answer, error), ())

    def _revoked(self, index: int, key: tuple[str, str], delivery_id: int, answer: dict[str, Any] | None,
                 error: ApiError | None) -> None:
        if isinstance(error, ApiProblemError):
            self.results[index] = self._refused(index, error, lambda _id: self.revoked.add(key), delivery_id)
            return
        if error is not None or answer is None:
            self.results[index] = OpResult(index, "failed", delivery_id, detail=str(error))
            return
        self.revoked.add(key)
        self.results[index] = OpResult(index, "done", delivery_id, tx=TxRef.from_answer(answer, 1))

    # -------------------------------------------------------------- re-imports

    def _reconcile(self, index: int, op: RegisterCommitment) -> None:
        """A registration the ledger holds: compare it, amend what the mapping lets amend,
        report the rest as differences (`scripts.importer.reimport`)."""
        ref = op.external_ref
        summary = self.summaries.get(ref) or {}
        warnings: list[str] = []
        amendable = self.amend_fields
        if summary.get("withdrawn"):
            warnings.append("already registered and withdrawn")
            amendable = []
        changes, differences = reimport.split(reimport.compare(op, summary), amendable)
        if summary.get("withdrawn") and differences and set(c.field for c in differences) & set(self.amend_fields):
            warnings.append("a withdrawn commitment takes no amendment: its changed fields are differences")
        base = OpResult(index, "already_present", self.commitments[ref], warnings=tuple(warnings),
                        recorded_in=self.on_chain.get((ref,)), differences=differences)
        if not changes:
            self.results[index] = base
            return
        notes = _after_deadline(summary)
        if self.dry_run:
            self.results[index] = replace(base, amendment=AmendmentResult("would_amend", changes, self.amend_reason, warnings=notes))
            return
        commitment_id = int(self.commitments[ref])
        body = reimport.amendment_body(changes, int(summary.get("amendment_count") or 0), self.amend_reason)
        self._write(lambda: self._client.amend_commitment(commitment_id, body, pipelined=self.pipelined),
                    lambda answer, error: self._amended(index, base, changes, notes, answer, error), ())

    def _amended(self, index: int, base: OpResult, changes: tuple[FieldChange, ...], notes: tuple[str, ...],
                 answer: dict[str, Any] | None, error: ApiError | None) -> None:
        if isinstance(error, ApiProblemError):
            failed = AmendmentResult("failed", changes, self.amend_reason, detail=f"{error.status} {error.slug}: {error.detail}",
                                     problem=error.body or None, warnings=notes)
        elif error is not None or answer is None:
            failed = AmendmentResult("failed", changes, self.amend_reason, detail=str(error), warnings=notes)
        else:
            tx = TxRef.from_answer(answer, 1)
            number = answer.get("amendment_number")
            failed = AmendmentResult("amended", changes, self.amend_reason, None if number is None else int(number), tx,
                                     detail=REPLAYED if tx is not None and tx.earlier else None, warnings=notes)
        self.results[index] = replace(base, amendment=failed)

    # -------------------------------------------------------------- pipelining

    def _write(self, send: Callable[[], Any], settled: Callable[[dict[str, Any] | None, ApiError | None], None],
               provides: tuple[Hashable, ...] | list[Hashable], operations: int = 1) -> None:
        """Send one write (pipelined when the run is) and hand its outcome to ``settled``: now
        when the API answered it (or refused it at once), later when it was accepted
        unconfirmed (`Pipeline`). ``provides``: what later writes may wait for."""
        if self.pipelined:
            self.pipeline.make_room()
        try:
            answer = send()
        except ApiError as exc:
            settled(None, exc)
            return
        if isinstance(answer, PendingWrite):
            self.pipeline.add(answer, settled, operations=operations, provides=provides)
            return
        settled(answer, None)

    # -------------------------------------------------------------- sending

    def flush_registrations(self) -> None:
        """Send every waiting registration (one transaction per batch)."""
        waiting, self.waiting_registrations = self.waiting_registrations, []
        if self.batch_size == 1:
            for index, op in waiting:
                self._register_one(index, op)
            return
        for start in range(0, len(waiting), self.batch_size):
            self._send_batch(
                waiting[start:start + self.batch_size],
                lambda items: self._client.register_commitments([op.payload() for _i, op in items], pipelined=self.pipelined),
                "commitment_ids",
                lambda op, cid: self.commitments.__setitem__(op.external_ref, cid),
                lambda op: ("commitment", op.external_ref),
            )

    def flush_deliveries(self) -> None:
        """Send every waiting delivery, after the waiting registrations they need (their ids
        known: the registrations in flight confirmed)."""
        needed = {op.commitment_ref for _i, op in self.waiting_deliveries}
        if any(op.external_ref in needed for _i, op in self.waiting_registrations):
            self.flush_registrations()
        self.pipeline.wait_for({("commitment", ref) for ref in needed})
        waiting, self.waiting_deliveries = self.waiting_deliveries, []
        ready: list[tuple[int, RecordDelivery]] = []
        for index, op in waiting:
            if op.commitment_ref in self.commitments:
                ready.append((index, op))
            else:
                self.results[index] = OpResult(index, "blocked", detail=not_registered(op.commitment_ref))
        if self.batch_size == 1:
            for index, op in ready:
                self._deliver_one(index, op)
            return
        for batch in batching.chunks(ready, self.batch_size, MAX_BATCH_FILE_BYTES):
            self._send_batch(
                batch,
                lambda items: self._client.record_deliveries(
                    [op.batch_item(self.commitments[op.commitment_ref]) for _i, op in items],
                    batching.evidence_files([op for _i, op in items]),
                    pipelined=self.pipelined,
                ),
                "delivery_ids",
                lambda op, did: self.deliveries.__setitem__((op.commitment_ref, op.external_ref), did),
                lambda op: ("delivery", op.commitment_ref, op.external_ref),
            )

    def flush_batch(self, label: str) -> None:
        """Anchor the waiting leaves of batch ``label`` (`BatchWrites.flush_batch`), once the
        registrations they need are sent and confirmed."""
        needed = {op.commitment_ref for _i, op in self.waiting_leaves.get(label, [])}
        if any(op.external_ref in needed for _i, op in self.waiting_registrations):
            self.flush_registrations()
        self.pipeline.wait_for({("commitment", ref) for ref in needed})
        super().flush_batch(label)

    def _send_batch(
        self,
        items: list[tuple[int, Any]],
        send: Callable[[list[tuple[int, Any]]], Any],
        ids_member: str,
        remember: Callable[[Any, int], None],
        provides: Callable[[Any], Hashable],
    ) -> None:
        """Send ``items`` as one batch; on a refusal naming one item (``index``), settle that
        item and send the rest again (also when the refusal comes as a pipelined write's
        failure). Each round either writes or removes one item, so this ends after at most
        ``len(items)`` requests."""
        items = list(items)
        while items:
            if self.pipelined:
                self.pipeline.make_room()
            try:
                answer = send(items)
            except ApiError as exc:
                if self._batch_refused(items, exc, remember):
                    continue
                return
            if isinstance(answer, PendingWrite):
                self.pipeline.add(
                    answer, lambda a, e, items=items: self._batch_settled(items, a, e, send, ids_member, remember, provides),
                    operations=len(items), provides=[provides(op) for _i, op in items],
                )
                return
            self._batch_answered(items, answer, ids_member, remember)
            return

    def _batch_settled(self, items: list[tuple[int, Any]], answer: dict[str, Any] | None, error: ApiError | None,
                       send: Callable[[list[tuple[int, Any]]], Any], ids_member: str,
                       remember: Callable[[Any, int], None], provides: Callable[[Any], Hashable]) -> None:
        """A pipelined batch settled: its answer, or its failure (the rest sent again when it
        names one item)."""
        if error is None and answer is not None:
            self._batch_answered(items, answer, ids_member, remember)
        elif self._batch_refused(items, error, remember):
            self._send_batch(items, send, ids_member, remember, provides)

    def _batch_refused(self, items: list[tuple[int, Any]], error: ApiError | None,
                       remember: Callable[[Any, int], None]) -> bool:
        """A batch refused: settle the item the problem names (``index``) and return True
        (the rest is sent again), or fail every item and return False."""
        if isinstance(error, ApiProblemError):
            position = error.extension("index")
            if isinstance(position, int) and not isinstance(position, bool) and 0 <= position < len(items):
                index, op = items.pop(position)
                self.results[index] = self._refused(index, error, lambda found, op=op: remember(op, found))
                return True
            with self._recording():
                for index, _op in items:
                    self.results[index] = OpResult(index, "failed", detail=f"batch of {len(items)} refused: {error.status} {error.slug}: {error.detail}",
                                                   problem=error.body or None)
            return False
        with self._recording():
            for index, _op in items:
                self.results[index] = OpResult(index, "failed", detail=f"batch of {len(items)}: {error}")
        return False

    def _batch_answered(self, items: list[tuple[int, Any]], answer: dict[str, Any], ids_member: str,
                        remember: Callable[[Any, int], None]) -> None:
        with self._recording():
            self._record_batch(items, answer, ids_member, remember)

    def _recording(self) -> Any:
        """Record a batch's results, reported once (`_Recorded.held`)."""
        return self.results.held() if isinstance(self.results, _Recorded) else nullcontext()

    def _record_batch(self, items: list[tuple[int, Any]], answer: dict[str, Any], ids_member: str,
                      remember: Callable[[Any, int], None]) -> None:
        ids = list(answer.get(ids_member) or [])
        tx = TxRef.from_answer(answer, len(items))
        if len(ids) != len(items):
            for index, _op in items:
                self.results[index] = OpResult(
                    index, "failed", detail=f"the API answered {len(ids)} {ids_member} for a batch of {len(items)}; a re-run finds what was written", tx=tx
                )
            return
        for (index, op), new_id in zip(items, ids):
            remember(op, int(new_id))
            warnings = self._id_warnings(op, int(new_id))
            self.results[index] = OpResult(index, "done", int(new_id), warnings=warnings, tx=tx)

    def _register_one(self, index: int, op: RegisterCommitment) -> None:
        def settled(answer: dict[str, Any] | None, error: ApiError | None) -> None:
            if isinstance(error, ApiProblemError):
                self.results[index] = self._refused(index, error, lambda cid: self.commitments.__setitem__(op.external_ref, cid))
            elif error is not None or answer is None:
                self.results[index] = OpResult(index, "failed", detail=str(error))
            else:
                self.commitments[op.external_ref] = int(answer["commitment_id"])
                self.results[index] = OpResult(index, "done", self.commitments[op.external_ref], tx=TxRef.from_answer(answer, 1))

        self._write(lambda: self._client.register_commitment(op.payload(), pipelined=self.pipelined), settled,
                    [("commitment", op.external_ref)])

    def _deliver_one(self, index: int, op: RecordDelivery) -> None:
        key = (op.commitment_ref, op.external_ref)

        def settled(answer: dict[str, Any] | None, error: ApiError | None) -> None:
            if isinstance(error, ApiProblemError):
                self.results[index] = self._refused(index, error, lambda did: self.deliveries.__setitem__(key, did))
                return
            if error is not None or answer is None:
                self.results[index] = OpResult(index, "failed", detail=str(error))
                return
            delivery_id = int(answer["delivery_id"])
            self.deliveries[key] = delivery_id
            warnings = list(self._id_warnings(op, delivery_id))
            expected = sorted(op.evidence_hashes)
            got = sorted(str(h).lower() for h in answer.get("evidence_sha256") or [])
            if got and got != expected:
                warnings.append(f"the API recorded evidence hashes {got}, the importer computed {expected}")
            self.results[index] = OpResult(index, "done", delivery_id, warnings=tuple(warnings), tx=TxRef.from_answer(answer, 1))

        commitment_id = self.commitments[op.commitment_ref]
        self._write(lambda: self._client.record_delivery(commitment_id, op, pipelined=self.pipelined), settled,
                    [("delivery", *key)])

    # -------------------------------------------------------------- helpers

    def _waiting_registration(self, ref: str) -> bool:
        """Whether ``ref``'s registration waits to be sent, or was sent and is in flight."""
        return any(op.external_ref == ref for _i, op in self.waiting_registrations) or self.pipeline.provides(("commitment", ref))

    def _id_warnings(self, op: Any, new_id: int) -> tuple[str, ...]:
        """A delivery id names its commitment (``commitment_id * 1_000_000 + n``)."""
        if isinstance(op, RecordDelivery):
            commitment_id = self.commitments[op.commitment_ref]
            if delivery_commitment_id(new_id) != commitment_id:
                return (f"the API answered delivery id {new_id}, which does not name commitment {commitment_id}",)
        return ()

    def _refused(self, index: int, exc: ApiProblemError, remember: Callable[[Any], None], ledger_id: int | str | None = None) -> OpResult:
        if exc.status == 409 and exc.slug in _ALREADY:
            member = _ALREADY[exc.slug]
            found = exc.extension(member) if member else ledger_id
            if found is not None and not (isinstance(found, str) and found.startswith("0x")):
                found = int(found)
            if found is not None:
                remember(found)
            return OpResult(index, "already_present", found if found is not None else ledger_id, detail=exc.detail)
        return OpResult(index, "failed", ledger_id, detail=f"{exc.status} {exc.slug}: {exc.detail}", problem=exc.body or None)

    def _delivery_drift(self, key: tuple[str, str], op: RecordDelivery) -> tuple[str, ...]:
        warnings = []
        existing = self.delivery_quantity.get(key)
        if existing is not None and existing != op.quantity:
            warnings.append(f"already recorded with quantity {existing}, the source now gives {op.quantity}")
        if key in self.revoked and key not in self.planned_revocations:
            warnings.append("already recorded and revoked on the ledger, though the source counts it")
        return tuple(warnings)


def _after_deadline(summary: dict[str, Any]) -> tuple[str, ...]:
    """A warning when the due date in force has passed (readers then flag the amendment as
    made after the deadline, ``after_due_date``)."""
    due = summary.get("due_date")
    if due is None or int(due) >= time.time():
        return ()
    day = datetime.fromtimestamp(int(due), timezone.utc).date().isoformat()
    return (f"the due date in force ({day}) has passed: readers see this amendment as made after the deadline",)


class _Recorded(dict):  # type: ignore[type-arg]
    """Operation index → `OpResult` that calls ``changed()`` after each result recorded, or
    once after the results recorded inside `held` (a batch's: one call, not one per item,
    which made a 1,500-row run quadratic)."""

    def __init__(self, initial: dict[int, OpResult], changed: Callable[[], None]) -> None:
        super().__init__(initial)
        self._changed = changed
        self._held = 0
        self._pending = False

    def __setitem__(self, index: int, result: OpResult) -> None:
        super().__setitem__(index, result)
        if self._held:
            self._pending = True
        else:
            self._changed()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Record several results, then call ``changed()`` once (also when interrupted)."""
        self._held += 1
        try:
            yield
        finally:
            self._held -= 1
            if not self._held and self._pending:
                self._pending = False
                self._changed()

    def setdefault(self, index: int, result: OpResult) -> OpResult:  # type: ignore[override]
        if index in self:
            return self[index]
        self[index] = result
        return result


class _RecordedList(list):  # type: ignore[type-arg]
    """The run's `BatchResult` list that calls ``changed()`` after each batch appended."""

    def __init__(self, initial: list[BatchResult], changed: Callable[[], None]) -> None:
        super().__init__(initial)
        self._changed = changed

    def append(self, batch: BatchResult) -> None:
        super().append(batch)
        self._changed()
