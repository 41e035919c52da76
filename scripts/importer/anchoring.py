"""The anchored-batch half of a run (`scripts.importer.apply`): a mixin of its run state.

The deliveries of one planned batch (`RecordDelivery.batch`) wait in ``waiting_leaves`` and
go as one ``POST /staff/batches`` (`scripts.importer.batches`); a dry run computes the root it
would anchor instead. A revocation of a batched delivery names its batch root and leaf hash,
after the API's index holds the batch when this run anchored it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import batches as batching
from .client import LedgerClient
from .errors import ApiError, ApiProblemError
from .limits import normalise_external_ref
from .plan import RecordDelivery, RegisterCommitment, RevokeDelivery
from .results import BatchResult, OpResult, TxRef
from .state import OnChain

PENDING = -1
"""Id placeholder for something a dry run would create."""


def not_registered(ref: str) -> str:
    """Why an operation on commitment ``ref`` is blocked."""
    return f"commitment {ref!r} is not registered (see its row)"


class BatchWrites:
    """Anchoring, dry-run planning and leaf revocation for `scripts.importer.apply`'s run.

    The run provides: ``client``, ``dry_run``, ``results`` (operation index → `OpResult`),
    ``commitments`` (ref → id, `PENDING` in a dry run), ``deliveries`` ((commitment ref,
    delivery ref) → id or leaf hash), ``revoked``, ``waiting_registrations``,
    ``flush_registrations()``, ``_refused()``; and sets the attributes below.

    Attributes:
        municipality_id: the token's municipality (the batch body names it).
        waiting_leaves: batch label → its leaves waiting to be anchored, in plan order.
        batch_results: every batch request of the run, in order.
        leaf_of: (commitment ref, delivery ref) → (batch root, leaf hash) of a batched delivery.
        refused_leaves: (commitment ref, delivery ref) → why readers refused an anchored leaf
            with that ref (it counts nothing, so the delivery is sent again, with a warning).
        anchored_block: root → block of the batches this run anchored.
        max_batch_leaves: most leaves per request.
        index_wait: (timeout seconds, poll interval seconds, sleep) for `_wait_until_indexed`.
        predicted: commitment ref → the id a dry run predicts the ledger would give it.
    """

    client: LedgerClient | None
    dry_run: bool
    results: dict[int, OpResult]
    commitments: dict[str, int]
    deliveries: dict[tuple[str, str], int | str]
    revoked: set[tuple[str, str]]
    waiting_registrations: list[tuple[int, RegisterCommitment]]
    municipality_id: int | None
    waiting_leaves: dict[str, list[tuple[int, RecordDelivery]]]
    batch_results: list[BatchResult]
    leaf_of: dict[tuple[str, str], tuple[str | None, str | None]]
    refused_leaves: dict[tuple[str, str], str]
    anchored_block: dict[str, int]
    max_batch_leaves: int
    index_wait: tuple[float, float, Callable[[float], None]]
    predicted: dict[str, int]

    pipelined: bool
    flush_registrations: Callable[[], None]
    _refused: Callable[..., OpResult]
    _write: Callable[..., None]

    @property
    def _client(self) -> LedgerClient:
        assert self.client is not None
        return self.client

    def _revoke_leaf(self, index: int, op: RevokeDelivery, key: tuple[str, str]) -> None:
        root, leaf_hash = self.leaf_of[key]
        if root is None or leaf_hash is None:
            self.results[index] = OpResult(index, "blocked", detail=f"the batch of delivery {op.delivery_ref!r} is not known")
            return
        self._wait_until_indexed(root)

        def settled(answer: dict[str, Any] | None, error: ApiError | None) -> None:
            if isinstance(error, ApiProblemError):
                self.results[index] = self._refused(index, error, lambda _id: self.revoked.add(key), leaf_hash)
            elif error is not None or answer is None:
                self.results[index] = OpResult(index, "failed", leaf_hash, detail=str(error))
            else:
                self.revoked.add(key)
                self.results[index] = OpResult(index, "done", leaf_hash, tx=TxRef.from_answer(answer, 1))

        self._write(lambda: self._client.revoke_batched_delivery(root, leaf_hash, op.reason, pipelined=self.pipelined),
                    settled, ())

    def _learn_delivery(self, commitment_ref: str, delivery_ref: str) -> int | str | None:
        """Read back a delivery the API says is on the ledger already (a leaf refused as a
        duplicate of a counted delivery) so a later revocation can name it; None if not found."""
        try:
            detail = self._client.commitment(int(self.commitments[commitment_ref]))
        except ApiError:
            return None
        for d in detail.get("deliveries") or []:
            if normalise_external_ref(str(d.get("external_ref") or "")) == delivery_ref and not (d.get("kind") == "batched" and d.get("refused_reason")):
                key = (commitment_ref, delivery_ref)
                if d.get("kind") == "batched":
                    self.deliveries[key] = str(d.get("leaf_hash") or d["id"])
                    self.leaf_of[key] = (str(d["batch_root"]), str(d.get("leaf_hash") or d["id"]))
                else:
                    self.deliveries[key] = int(d["id"])
                if d.get("revocation") is not None:
                    self.revoked.add(key)
                return self.deliveries[key]
        return None

    def _wait_until_indexed(self, root: str) -> None:
        """Before naming a batch this run anchored, wait (bounded) until the API's index holds
        its block; after the timeout the API answers for itself (e.g. 404)."""
        block = self.anchored_block.get(root)
        if block is None:
            return
        timeout_seconds, interval_seconds, sleep = self.index_wait
        waited = 0.0
        while True:
            try:
                indexed = self._client.health().get("indexed_block")
            except ApiError:
                indexed = None
            if (indexed is not None and int(indexed) >= block) or waited >= timeout_seconds:
                return
            sleep(interval_seconds)
            waited += interval_seconds

    def flush_batch(self, label: str) -> None:
        """Anchor the waiting leaves of batch ``label`` (after the registrations they need),
        in as few requests as the limits allow."""
        waiting = self.waiting_leaves.pop(label, [])
        needed = {op.commitment_ref for _i, op in waiting}
        if any(op.external_ref in needed for _i, op in self.waiting_registrations):
            self.flush_registrations()
        ready: list[tuple[int, RecordDelivery]] = []
        for index, op in waiting:
            if op.commitment_ref in self.commitments:
                ready.append((index, op))
            else:
                self.results[index] = OpResult(index, "blocked", detail=not_registered(op.commitment_ref))
        for chunk, items in enumerate(batching.chunks(ready, self.max_batch_leaves), start=1):
            if self.dry_run:
                self._plan_anchor(label, chunk, items)
            else:
                self._anchor(label, chunk, items)

    def _plan_anchor(self, label: str, chunk: int, items: list[tuple[int, RecordDelivery]]) -> None:
        """Dry run: the batch a real run would anchor now, with its root when every
        commitment id is known or predicted."""
        ids = [self.commitments[op.commitment_ref] for _i, op in items]
        ids = [self.predicted.get(op.commitment_ref) if cid == PENDING else cid for cid, (_i, op) in zip(ids, items)]
        ops = [op for _i, op in items]
        root, hashes, predicted, detail = None, [None] * len(items), False, None
        if all(cid is not None for cid in ids):
            known = [int(cid) for cid in ids if cid is not None]
            tree = batching.local_tree(ops, known)
            root, hashes = tree.root, list(tree.leaf_hashes)
            predicted = any(self.commitments[op.commitment_ref] == PENDING for op in ops)
            problems = batching.leaf_problems(ops, known)
            for position, problem in problems.items():
                index = items[position][0]
                self.results[index] = OpResult(index, "failed", detail=f"would be refused: {problem}")
        else:
            detail = "root not known: the ledger's next commitment ids are not known (no ledger state)"
        if predicted:
            detail = "root if the ledger gives the new commitments the next ids, as it would now"
        for position, (index, op) in enumerate(items):
            key = (op.commitment_ref, op.external_ref)
            self.deliveries[key] = PENDING
            self.leaf_of[key] = (root, hashes[position])
            self.results.setdefault(index, OpResult(index, "would_do"))
        self.batch_results.append(BatchResult(label, chunk, tuple(i for i, _op in items), "would_do", root,
                                              predicted=predicted, detail=detail))

    def _anchor(self, label: str, chunk: int, items: list[tuple[int, RecordDelivery]]) -> None:
        """Anchor ``items`` as one batch; settle the leaves the API names and send the rest
        again (each round settles at least one leaf or ends)."""
        assert self.municipality_id is not None, "a real run reads the municipality first"
        municipality_id = int(self.municipality_id)
        while items:
            ops = [op for _i, op in items]
            ids = [int(self.commitments[op.commitment_ref]) for op in ops]
            problems = batching.leaf_problems(ops, ids)
            if problems:
                for position, problem in problems.items():
                    index = items[position][0]
                    self.results[index] = OpResult(index, "failed", detail=f"not sent: {problem}")
                items = [item for position, item in enumerate(items) if position not in problems]
                continue
            outcome = batching.send_batch(
                lambda leaves, files: self._client.anchor_batch(municipality_id, leaves, files),
                self._client.batch, label, chunk, items, ids, TxRef.from_answer,
            )
            batch = outcome.batch
            self.batch_results.append(batch)
            if batch.outcome == "done" and batch.tx is not None and batch.tx.block_number is not None and batch.root:
                self.anchored_block[batch.root] = batch.tx.block_number
            recorded_in = OnChain.from_ref(batch.recorded_in)
            for position, (kind, detail, leaf_hash, problem) in outcome.leaves.items():
                index, op = items[position]
                key = (op.commitment_ref, op.external_ref)
                if kind == "failed":
                    self.results[index] = OpResult(index, "failed", detail=detail, problem=problem)
                    continue
                if leaf_hash is not None:
                    self.deliveries[key] = leaf_hash
                    if batch.root:
                        self.leaf_of[key] = (batch.root, leaf_hash)
                else:
                    leaf_hash = self._learn_delivery(op.commitment_ref, op.external_ref)
                warnings: tuple[str, ...] = (detail,) if kind == "done" and detail else ()
                if key in self.refused_leaves:
                    warnings += (f"an earlier batch's leaf with this ref was refused by the readers "
                                 f"({self.refused_leaves[key]}) and counts nothing",)
                self.results[index] = OpResult(
                    index, kind, leaf_hash, detail=None if kind == "done" else detail, warnings=warnings,  # type: ignore[arg-type]
                    tx=batch.tx if kind == "done" else None, recorded_in=recorded_in if kind != "done" else None,
                )
            items = [items[position] for position in outcome.retry]
