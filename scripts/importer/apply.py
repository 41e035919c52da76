"""Executing a plan against the ledger API: only what is missing, never anything twice.

Matching is by external refs: a planned commitment is present when the municipality has a
commitment with its ``external_ref``; a planned delivery when that commitment has a delivery
with its ``external_ref``; a planned revocation when that delivery is revoked. A 409
``duplicate-external-ref`` / ``duplicate-delivery-ref`` / ``delivery-already-revoked`` answer
also counts as already done. Failures are recorded per operation and the run goes on; the
operations that depend on a failed one are ``blocked``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .client import LedgerClient
from .errors import (
    ApiError,
    ApiProblemError,
    IndexerLagError,
    MunicipalityMismatchError,
    MunicipalityNotFoundError,
)
from .mapping import MunicipalityRef
from .plan import Plan, RecordDelivery, RegisterCommitment, RevokeDelivery
from .state import LedgerState

OpOutcome = Literal["done", "already_present", "would_do", "failed", "blocked"]
_ALREADY = {
    "duplicate-external-ref": "existing_commitment_id",
    "duplicate-delivery-ref": "existing_delivery_id",
    "delivery-already-revoked": None,
}


@dataclass(frozen=True)
class OpResult:
    """What happened to one planned operation.

    Attributes:
        index: index into `Plan.operations`.
        outcome: ``done`` (written now), ``already_present`` (on the ledger before, or 409),
            ``would_do`` (dry run), ``failed`` (the API refused; ``problem`` holds its
            problem+json), ``blocked`` (an operation it depends on did not happen).
        ledger_id: commitment id or delivery id when known.
        detail: the problem detail, or why it is blocked.
        warnings: differences between the source and what the ledger already holds.
    """

    index: int
    outcome: OpOutcome
    ledger_id: int | None = None
    detail: str | None = None
    problem: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()


@dataclass
class ApplyResult:
    """Results of all operations, in plan order."""

    results: list[OpResult] = field(default_factory=list)

    def by_index(self) -> dict[int, OpResult]:
        """Operation index → result."""
        return {r.index: r for r in self.results}

    def counts(self, plan: Plan) -> dict[str, dict[str, int]]:
        """``{"commitments"|"deliveries"|"revocations": {outcome: n}}`` (all outcomes listed)."""
        kinds = {RegisterCommitment: "commitments", RecordDelivery: "deliveries", RevokeDelivery: "revocations"}
        out = {k: {o: 0 for o in ("done", "already_present", "would_do", "failed", "blocked")} for k in kinds.values()}
        for r in self.results:
            out[kinds[type(plan.operations[r.index])]][r.outcome] += 1
        return out

    @property
    def failed(self) -> list[OpResult]:
        """Results that are ``failed`` or ``blocked``."""
        return [r for r in self.results if r.outcome in ("failed", "blocked")]


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


def apply_plan(plan: Plan, client: LedgerClient | None, state: LedgerState | None, *, dry_run: bool) -> ApplyResult:
    """Execute the operations of ``plan`` that ``state`` does not hold yet.

    Args:
        plan: from `plan_source`.
        client: the API client with a staff token (may be None when ``dry_run``).
        state: what the ledger holds (from `read_state`); None when unknown (dry run without
            API: every operation is ``would_do``).
        dry_run: write nothing; report ``would_do`` for what would be written.

    Returns:
        one `OpResult` per operation, in plan order. Never raises for a refused operation.
    """
    run = _Run(plan, client, state if state is not None else LedgerState.empty(), dry_run)
    for index, op in enumerate(plan.operations):
        if isinstance(op, RegisterCommitment):
            run.results.append(run.register(index, op))
        elif isinstance(op, RecordDelivery):
            run.results.append(run.deliver(index, op))
        else:
            run.results.append(run.revoke(index, op))
    return ApplyResult(run.results)


_PENDING = -1  # id placeholder for something a dry run would create


class _Run:
    def __init__(self, plan: Plan, client: LedgerClient | None, state: LedgerState, dry_run: bool) -> None:
        if client is None and not dry_run:
            raise ValueError("a client is required unless dry_run")
        self.client = client
        self.dry_run = dry_run
        self.results: list[OpResult] = []
        self.commitments: dict[str, int] = {ref: c.id for ref, c in state.commitments.items()}
        self.summaries = {ref: c.summary for ref, c in state.commitments.items()}
        self.deliveries: dict[tuple[str, str], int] = {}
        self.delivery_quantity: dict[tuple[str, str], int] = {}
        self.revoked: set[tuple[str, str]] = set()
        for ref, c in state.commitments.items():
            for dref, d in (c.deliveries or {}).items():
                self.deliveries[(ref, dref)] = d.id
                self.delivery_quantity[(ref, dref)] = d.quantity
                if d.revoked:
                    self.revoked.add((ref, dref))
        self.planned_revocations = {(op.commitment_ref, op.delivery_ref) for op in plan.revocations}

    def register(self, index: int, op: RegisterCommitment) -> OpResult:
        if op.external_ref in self.commitments:
            return OpResult(index, "already_present", self.commitments[op.external_ref], warnings=self._drift(op))
        if self.dry_run:
            self.commitments[op.external_ref] = _PENDING
            return OpResult(index, "would_do")
        try:
            answer = self._client.register_commitment(op.payload())
        except ApiProblemError as exc:
            return self._refused(index, exc, lambda cid: self.commitments.__setitem__(op.external_ref, cid))
        except ApiError as exc:
            return OpResult(index, "failed", detail=str(exc))
        self.commitments[op.external_ref] = int(answer["commitment_id"])
        return OpResult(index, "done", self.commitments[op.external_ref])

    def deliver(self, index: int, op: RecordDelivery) -> OpResult:
        key = (op.commitment_ref, op.external_ref)
        commitment_id = self.commitments.get(op.commitment_ref)
        if commitment_id is None:
            return OpResult(index, "blocked", detail=f"commitment {op.commitment_ref!r} is not registered (see its row)")
        if key in self.deliveries:
            return OpResult(index, "already_present", self.deliveries[key], warnings=self._delivery_drift(key, op))
        if self.dry_run:
            self.deliveries[key] = _PENDING
            return OpResult(index, "would_do")
        try:
            answer = self._client.record_delivery(commitment_id, op)
        except ApiProblemError as exc:
            return self._refused(index, exc, lambda did: self.deliveries.__setitem__(key, did))
        except ApiError as exc:
            return OpResult(index, "failed", detail=str(exc))
        self.deliveries[key] = int(answer["delivery_id"])
        warnings: tuple[str, ...] = ()
        expected = sorted([f.sha256 for f in op.evidence_files] + list(op.evidence_sha256))
        got = sorted(str(h).lower() for h in answer.get("evidence_sha256") or [])
        if got and got != expected:
            warnings = (f"the API recorded evidence hashes {got}, the importer computed {expected}",)
        return OpResult(index, "done", self.deliveries[key], warnings=warnings)

    def revoke(self, index: int, op: RevokeDelivery) -> OpResult:
        key = (op.commitment_ref, op.delivery_ref)
        if key in self.revoked:
            return OpResult(index, "already_present", self.deliveries.get(key))
        delivery_id = self.deliveries.get(key)
        if delivery_id is None:
            return OpResult(index, "blocked", detail=f"delivery {op.delivery_ref!r} of commitment {op.commitment_ref!r} is not recorded")
        if self.dry_run:
            self.revoked.add(key)
            return OpResult(index, "would_do", None if delivery_id == _PENDING else delivery_id)
        try:
            self._client.revoke_delivery(delivery_id, op.reason)
        except ApiProblemError as exc:
            return self._refused(index, exc, lambda _id: self.revoked.add(key), delivery_id)
        except ApiError as exc:
            return OpResult(index, "failed", delivery_id, detail=str(exc))
        self.revoked.add(key)
        return OpResult(index, "done", delivery_id)

    @property
    def _client(self) -> LedgerClient:
        assert self.client is not None
        return self.client

    def _refused(self, index: int, exc: ApiProblemError, remember: Callable[[int], None], ledger_id: int | None = None) -> OpResult:
        if exc.status == 409 and exc.slug in _ALREADY:
            member = _ALREADY[exc.slug]
            found = exc.extension(member) if member else ledger_id
            if found is not None:
                remember(int(found))
            return OpResult(index, "already_present", int(found) if found is not None else ledger_id, detail=exc.detail)
        return OpResult(index, "failed", ledger_id, detail=f"{exc.status} {exc.slug}: {exc.detail}", problem=exc.body or None)

    def _drift(self, op: RegisterCommitment) -> tuple[str, ...]:
        summary = self.summaries.get(op.external_ref) or {}
        pairs = {
            "title": op.title,
            "theme": op.theme,
            "unit": op.unit,
            "target_quantity": str(op.target_quantity),
            "due_date": op.due_date,
        }
        changed = [name for name, value in pairs.items() if name in summary and _norm(summary[name]) != _norm(value)]
        warnings = [f"already registered with a different {', '.join(changed)}; not amended"] if changed else []
        if summary.get("withdrawn"):
            warnings.append("already registered and withdrawn")
        return tuple(warnings)

    def _delivery_drift(self, key: tuple[str, str], op: RecordDelivery) -> tuple[str, ...]:
        warnings = []
        existing = self.delivery_quantity.get(key)
        if existing is not None and existing != op.quantity:
            warnings.append(f"already recorded with quantity {existing}, the source now gives {op.quantity}")
        if key in self.revoked and key not in self.planned_revocations:
            warnings.append("already recorded and revoked on the ledger, though the source counts it")
        return tuple(warnings)


def _norm(value: Any) -> str:
    return str(value)

