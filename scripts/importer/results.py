"""What a run did: per operation (`OpResult`), per transaction (`TxRef`), in all
(`ApplyResult`, with the anchored batches' `BatchResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from .plan import Plan, RecordDelivery, RegisterCommitment, RevokeDelivery
from .state import OnChain

if TYPE_CHECKING:
    from .reimport import AmendmentResult, FieldChange

OpOutcome = Literal["done", "already_present", "would_do", "failed", "blocked"]
OUTCOMES: tuple[OpOutcome, ...] = ("done", "already_present", "would_do", "failed", "blocked")
BatchOutcome = Literal["done", "already_present", "would_do", "failed"]


@dataclass(frozen=True)
class TxRef:
    """The transaction that carried a written operation.

    Attributes:
        tx_hash: ``0x`` + 64 hex.
        block_number: block it was mined in.
        gas_used: gas of the whole transaction (shared by every operation it carried).
        operations: how many operations of this run it carried (1 for a single call).
        earlier: an earlier run sent it: the API answered with that write (same
            ``Idempotency-Key``, ``"replayed": true``); the applier reports its operations as
            ``already_present`` (`settle_replays`).
    """

    tx_hash: str
    block_number: int | None
    gas_used: int | None
    operations: int
    earlier: bool = False

    @classmethod
    def from_answer(cls, answer: dict[str, Any], operations: int) -> TxRef | None:
        """From an API write answer's ``tx`` (``{"tx_hash", "block_number", "gas_used"}``), or
        the top-level ``transaction_hash``, ``block_number`` (and ``gas_used``) of a batch
        anchoring answer."""
        tx = answer.get("tx") or {}
        if not tx.get("tx_hash") and answer.get("transaction_hash"):
            tx = {"tx_hash": answer["transaction_hash"], "block_number": answer.get("block_number"),
                  "gas_used": answer.get("gas_used")}
        if not tx.get("tx_hash"):
            return None
        number, gas = tx.get("block_number"), tx.get("gas_used")
        return cls(str(tx["tx_hash"]), None if number is None else int(number), None if gas is None else int(gas), operations,
                   earlier=answer.get("replayed") is True)

    def as_json(self) -> dict[str, Any]:
        """``{"tx_hash", "block_number", "gas_used", "operations"}``."""
        return {"tx_hash": self.tx_hash, "block_number": self.block_number, "gas_used": self.gas_used,
                "operations": self.operations}


@dataclass(frozen=True)
class OpResult:
    """What happened to one planned operation.

    Attributes:
        index: index into `Plan.operations`.
        outcome: ``done`` (written now), ``already_present`` (on the ledger before, or 409),
            ``would_do`` (dry run), ``failed`` (the API refused; ``problem`` holds its
            problem+json), ``blocked`` (an operation it depends on did not happen).
        ledger_id: commitment id or delivery id when known (a batched delivery's id is its
            ``0x`` leaf hash).
        detail: the problem detail, or why it is blocked.
        warnings: differences between the source and what the ledger already holds.
        tx: the transaction that carried it (``done`` only).
        recorded_in: for ``already_present``, the transaction that wrote it earlier, when the
            API names it.
        amendment: a registration present before whose source values changed in fields the
            mapping's ``reimport.amend`` lists: its amendment (`scripts.importer.reimport`).
        differences: a registration present before: the fields whose source value differs from
            the ledger's and that are not amended (not listed, or no ``reimport`` block).
    """

    index: int
    outcome: OpOutcome
    ledger_id: int | str | None = None
    detail: str | None = None
    problem: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    tx: TxRef | None = None
    recorded_in: OnChain | None = None
    amendment: AmendmentResult | None = None
    differences: tuple[FieldChange, ...] = ()


@dataclass(frozen=True)
class BatchResult:
    """What happened to one anchored batch of the run (a planned batch, or one of its chunks).

    Attributes:
        label: the planned batch (snapshot label).
        chunk: 1-based number of this request within the planned batch.
        operations: indexes into `Plan.operations` of its leaves, in file order.
        outcome: ``done`` (anchored now), ``already_present`` (this root was anchored
            before), ``would_do`` (dry run), ``failed`` (refused: the leaves say why).
        root: the root computed locally (None when no leaf could be built).
        predicted: the root uses predicted commitment ids (dry run before registration).
        file_sha256, file_uri: of the batch file, as the API answered.
        tx: the anchoring transaction (``done``).
        detail: the problem, or a note.
        warnings: differences between the API's answer and the local computation.
    """

    label: str
    chunk: int
    operations: tuple[int, ...]
    outcome: BatchOutcome
    root: str | None
    predicted: bool = False
    file_sha256: str | None = None
    file_uri: str | None = None
    tx: TxRef | None = None
    detail: str | None = None
    warnings: tuple[str, ...] = ()
    recorded_in: dict[str, Any] | None = None

    @property
    def leaf_count(self) -> int:
        """Leaves in this batch."""
        return len(self.operations)

    def as_json(self) -> dict[str, Any]:
        """For the report."""
        return {
            "label": self.label, "chunk": self.chunk, "leaf_count": self.leaf_count, "outcome": self.outcome,
            "root": self.root, "root_predicted": self.predicted, "file_sha256": self.file_sha256,
            "file_uri": self.file_uri, "tx": self.tx.as_json() if self.tx is not None else None,
            "detail": self.detail, "warnings": list(self.warnings), "recorded_in": self.recorded_in,
            "operations": list(self.operations),
        }


REPLAYED = "an earlier run sent this write (the API answered it by its Idempotency-Key): nothing was written again"


def settle_replays(results: list[OpResult], batches: list[BatchResult]) -> ApplyResult:
    """The run's results with every ``done`` carried by an earlier run's write (`TxRef.earlier`)
    reported as ``already_present``, recorded in that transaction."""
    def op(r: OpResult) -> OpResult:
        if r.outcome != "done" or r.tx is None or not r.tx.earlier:
            return r
        recorded = OnChain(r.tx.tx_hash, r.tx.block_number) if r.tx.block_number is not None else None
        return replace(r, outcome="already_present", tx=None, recorded_in=recorded, detail=REPLAYED)

    def batch(b: BatchResult) -> BatchResult:
        if b.outcome != "done" or b.tx is None or not b.tx.earlier:
            return b
        return replace(b, outcome="already_present", tx=None, detail=REPLAYED,
                       recorded_in={"tx_hash": b.tx.tx_hash, "block_number": b.tx.block_number})

    return ApplyResult([op(r) for r in results], [batch(b) for b in batches])


@dataclass
class ApplyResult:
    """Results of all operations, in plan order, and of every anchored batch in the order
    sent (empty unless the mapping writes deliveries as batches). ``in_flight``: operations
    sent whose writes the API has not confirmed yet (a run that goes on: no result yet)."""

    results: list[OpResult] = field(default_factory=list)
    batches: list[BatchResult] = field(default_factory=list)
    in_flight: int = 0

    def by_index(self) -> dict[int, OpResult]:
        """Operation index → result."""
        return {r.index: r for r in self.results}

    def counts(self, plan: Plan) -> dict[str, dict[str, int]]:
        """``{"commitments"|"deliveries"|"revocations": {outcome: n}}`` (all outcomes listed)."""
        kinds = {RegisterCommitment: "commitments", RecordDelivery: "deliveries", RevokeDelivery: "revocations"}
        out = {k: {o: 0 for o in OUTCOMES} for k in kinds.values()}
        for r in self.results:
            out[kinds[type(plan.operations[r.index])]][r.outcome] += 1
        return out

    @property
    def failed(self) -> list[OpResult]:
        """Results that are ``failed`` or ``blocked``, and registrations whose amendment was
        refused (``amendment.outcome == "failed"``)."""
        return [r for r in self.results if r.outcome in ("failed", "blocked")
                or (r.amendment is not None and r.amendment.outcome == "failed")]

    @property
    def amended(self) -> list[OpResult]:
        """Registrations present before that were amended now, or would be (dry run)."""
        return [r for r in self.results if r.amendment is not None and r.amendment.outcome in ("amended", "would_amend")]

    @property
    def differing(self) -> list[OpResult]:
        """Registrations present before with differences the mapping does not let amend."""
        return [r for r in self.results if r.differences]

    def transactions(self) -> list[TxRef]:
        """The distinct transactions this run sent that were mined, in the order first seen
        (an amendment's after its registration's, one an earlier run sent left out)."""
        seen: dict[str, TxRef] = {}
        for r in self.results:
            if r.tx is not None:
                seen.setdefault(r.tx.tx_hash, r.tx)
            if r.amendment is not None and r.amendment.tx is not None and not r.amendment.tx.earlier:
                seen.setdefault(r.amendment.tx.tx_hash, r.amendment.tx)
        return list(seen.values())
