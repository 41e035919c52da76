"""Staff writes: validated inputs → contract call arguments → :meth:`LedgerChain.send`.

Routes never build transactions; they call these functions with the token's
:class:`~ledger.staff.StaffIdentity`, whose registrar key signs. Before anything is sent the
target commitment is looked up in the index (``ledger.db.repository``): another
municipality's → 403, withdrawn → 409 (nothing stored, nothing sent). A commitment the index
does not have yet (just registered) is left to the contract, which checks all of it again;
its refusal comes back as :class:`~ledger.errors.ContractRevertError` (unknown → 404, not a
registrar → 403, ...) and nothing is written.

Argument tuples follow the struct field order of ``ICommitmentLedger``:
``CommitmentInput(municipalityId, externalRef, title, description, theme, targetQuantity,
unit, dueDate, sourceDocumentHash, sourceUri)``, ``AmendmentInput(title, description,
targetQuantity, dueDate, reason)``, ``DeliveryInput(quantity, deliveredAt, evidenceHashes,
evidenceUri, note, externalRef)``.

Evidence files of a delivery are checked first (size, not empty, no hash twice), then staged
(:meth:`EvidenceStore.stage`, outside the store) before the transaction is sent. When it is
recorded they are promoted into the store, so every hash the chain cites through this server
can be fetched from it; when it is refused they are discarded, so a refused write never
changes the store (whatever other requests or processes do with the same files); when its
outcome is unknown (sent, but no receipt) they are promoted too, as the chain may cite them.
A process killed mid-request leaves at most staged files, which the next start-up promotes
(:meth:`EvidenceStore.promote_leftovers`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy.orm import Session
from web3.exceptions import TimeExhausted

from api.schemas import AmendmentIn, CommitmentIn, DeliveryForm
from ledger.chain import LedgerChain, TxResult
from ledger.db import repository
from ledger.errors import ChainUnavailableError, EvidenceTooLargeError, LedgerError, TransactionFailedError
from ledger.evidence import EvidenceStore, StagedFile, hash_stream
from ledger.staff import StaffIdentity

logger = logging.getLogger("api")

ZERO_BYTES32 = b"\x00" * 32

INDEX_WAIT_SECONDS = 5.0
"""How long an amendment that omits fields waits for the index to reach the chain head
before answering 503 ``index-behind``, seconds. A constant, not a setting: the indexer
normally follows the head within a poll or two, so a write right before the amendment (on any
commitment) is absorbed, while a stalled indexer still gets a prompt answer."""

INDEX_POLL_SECONDS = 0.1
"""How often that wait reads the indexer's checkpoint again, seconds."""


class WriteRefusedError(LedgerError):
    """The API refuses a write before sending it (the index shows it cannot succeed)."""


class UnknownRecordError(WriteRefusedError, LookupError):
    """The commitment or delivery is not in the index (HTTP 404). Same sentence as the
    contract's ``LedgerUnknownCommitment`` / ``LedgerUnknownDelivery`` (api.problems)."""

    def __init__(self, kind: str, record_id: int) -> None:
        super().__init__(f"No {kind} {record_id}.")
        self.kind = kind
        self.record_id = record_id


class CommitmentWithdrawnError(WriteRefusedError):
    """The commitment was withdrawn; no amendment, delivery or withdrawal is accepted (409).
    Same sentence as the contract's ``LedgerCommitmentWithdrawn`` (api.problems)."""

    def __init__(self, commitment_id: int) -> None:
        super().__init__(f"Commitment {commitment_id} is withdrawn: it accepts no amendment or delivery.")
        self.commitment_id = commitment_id


class IndexBehindError(WriteRefusedError):
    """An amendment leaves fields out, but the index did not reach the chain head within
    :data:`INDEX_WAIT_SECONDS` (it may not hold the current values). HTTP 503: retry shortly
    or send every field."""

    def __init__(self, indexed_block: int | None, head_block: int) -> None:
        indexed = "has indexed no block yet" if indexed_block is None else f"is at block {indexed_block}"
        super().__init__(
            f"The index {indexed} and the chain at block {head_block} after waiting "
            f"{INDEX_WAIT_SECONDS:g} s, so the omitted amendment fields cannot be filled in safely. "
            "Retry in a few seconds, or send every field."
        )
        self.indexed_block = indexed_block
        self.head_block = head_block


class EvidenceInvalidError(WriteRefusedError, ValueError):
    """Evidence of a delivery is refused before anything is stored or sent: an empty file, or
    a hash given twice (HTTP 422 ``validation-error``).

    Attributes:
        errors: ``[{"loc", "msg", "type"}]`` as in a validation problem, e.g. ``{"loc":
            ["body", "evidence", 1], "msg": "evidence file b.pdf is empty", "type":
            "evidence_empty"}``.
    """

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(e["msg"] for e in errors))
        self.errors = errors


def tx_json(tx: TxResult) -> dict[str, Any]:
    """The API's ``TxResult``: ``{"tx_hash", "block_number", "gas_used"}``."""
    return {"tx_hash": tx.tx_hash, "block_number": tx.block_number, "gas_used": tx.gas_used}


def _bytes32(sha256: str | None) -> bytes:
    return ZERO_BYTES32 if sha256 is None else bytes.fromhex(sha256[2:])


def writable_commitment(
    session: Session, identity: StaffIdentity, commitment_id: int, now: int
) -> dict[str, Any] | None:
    """The indexed commitment, if this token may change it; ``None`` if the index does not
    have it (yet): then the contract decides (``LedgerUnknownCommitment`` → 404,
    ``LedgerNotRegistrar`` → 403, ``LedgerCommitmentWithdrawn`` → 409), so a write right after
    a registration does not wait for the indexer.

    Raises:
        StaffForbiddenError: it belongs to another municipality.
        CommitmentWithdrawnError: it is withdrawn.
    """
    commitment = repository.get_commitment(session, commitment_id, now)
    if commitment is None:
        return None
    identity.require_municipality(commitment["municipality_id"], f"commitment {commitment_id}")
    if commitment["withdrawn"]:
        raise CommitmentWithdrawnError(commitment_id)
    return commitment


def _exact_due_date(commitment: dict[str, Any]) -> int:
    """The current due date as on chain. The index caps stored times at 2^63 - 1 s (the
    contract takes any uint64); the latest registered/amended event keeps the exact value."""
    for entry in reversed(commitment["timeline"]):
        if entry["kind"] in ("registered", "amended"):
            return int(entry["details"]["due_date"])
    return int(commitment["due_date"])


def wait_for_index(session: Session, head_block: int, confirmations: int = 0) -> int:
    """Wait until the index has reached ``head_block - confirmations``, reading the indexer's
    checkpoint every :data:`INDEX_POLL_SECONDS` for at most :data:`INDEX_WAIT_SECONDS`. Each
    read starts a new read transaction (the session's snapshot would not see the indexer's
    commits), so the session holds no stale rows afterwards.

    Returns:
        The indexed block.

    Raises:
        IndexBehindError: the index did not get there in time.
    """
    deadline = time.monotonic() + INDEX_WAIT_SECONDS
    while True:
        session.rollback()  # read-only session: this only ends the snapshot
        checkpoint = repository.get_checkpoint(session)
        indexed = checkpoint["last_block"] if checkpoint else None
        if indexed is not None and indexed >= head_block - confirmations:
            return indexed
        if time.monotonic() >= deadline:
            raise IndexBehindError(indexed, head_block)
        time.sleep(INDEX_POLL_SECONDS)


def register_commitment(chain: LedgerChain, identity: StaffIdentity, data: CommitmentIn) -> dict[str, Any]:
    """Register a commitment for the token's municipality.

    Returns:
        ``{"commitment_id", "tx"}``.

    Raises:
        ContractRevertError: e.g. ``LedgerDuplicateCommitmentRef`` (409), ``LedgerNotRegistrar``.
        ChainUnavailableError, TransactionFailedError: see :meth:`LedgerChain.send`.
    """
    struct = (
        identity.municipality_id,
        data.external_ref,
        data.title,
        data.description,
        data.theme,
        data.target_quantity,
        data.unit,
        data.due_date,
        _bytes32(data.source_document_sha256),
        data.source_uri,
    )
    tx = chain.send("registerCommitment", [struct], identity.private_key)
    return {"commitment_id": tx.event("CommitmentRegistered").args["commitment_id"], "tx": tx_json(tx)}


def amend_commitment(
    chain: LedgerChain,
    session: Session,
    identity: StaffIdentity,
    commitment_id: int,
    data: AmendmentIn,
    now: int,
    *,
    confirmations: int,
) -> dict[str, Any]:
    """Amend a commitment; omitted fields keep their indexed value.

    When a field is omitted the index must have caught up with the chain (up to
    ``confirmations`` blocks behind the head), or a recent amendment could be undone: the
    amendment waits up to :data:`INDEX_WAIT_SECONDS` for it (:func:`wait_for_index`); then a
    commitment the index does not have is unknown (404). With every field given, an
    unindexed commitment is left to the contract.

    Returns:
        ``{"commitment_id", "amendment_number", "tx"}``.

    Raises:
        StaffForbiddenError, CommitmentWithdrawnError: see :func:`writable_commitment`.
        IndexBehindError: a field is omitted and the index stayed behind.
        UnknownRecordError: a field is omitted and the (caught-up) index has no such commitment.
        ContractRevertError: e.g. ``LedgerAmendmentChangesNothing`` (409).
    """
    omitted = [name for name in ("title", "description", "target_quantity", "due_date") if getattr(data, name) is None]
    if omitted:
        wait_for_index(session, chain.head_block_number(), confirmations)
    current = writable_commitment(session, identity, commitment_id, now)
    if current is None:
        if omitted:
            raise UnknownRecordError("commitment", commitment_id)
        current = {}
    struct = (
        current["title"] if data.title is None else data.title,
        current["description"] if data.description is None else data.description,
        int(current["target_quantity"]) if data.target_quantity is None else data.target_quantity,
        _exact_due_date(current) if data.due_date is None else data.due_date,
        data.reason,
    )
    tx = chain.send("amendCommitment", [commitment_id, struct], identity.private_key)
    event = tx.event("CommitmentAmended")
    return {
        "commitment_id": event.args["commitment_id"],
        "amendment_number": event.args["amendment_number"],
        "tx": tx_json(tx),
    }


def withdraw_commitment(
    chain: LedgerChain, session: Session, identity: StaffIdentity, commitment_id: int, reason: str, now: int
) -> dict[str, Any]:
    """Withdraw a commitment with a reason.

    Returns:
        ``{"commitment_id", "tx"}``.

    Raises:
        StaffForbiddenError, CommitmentWithdrawnError: see :func:`writable_commitment`.
        ContractRevertError: the contract refused (e.g. ``LedgerUnknownCommitment``).
    """
    writable_commitment(session, identity, commitment_id, now)
    tx = chain.send("withdrawCommitment", [commitment_id, reason], identity.private_key)
    return {"commitment_id": tx.event("CommitmentWithdrawn").args["commitment_id"], "tx": tx_json(tx)}


def check_evidence(form: DeliveryForm, max_evidence_bytes: int) -> list[str]:
    """Hash the uploaded files (nothing is stored) and check the delivery's evidence list.

    Returns:
        The files' hashes in upload order.

    Raises:
        EvidenceTooLargeError: a file exceeds ``max_evidence_bytes`` (HTTP 413).
        EvidenceInvalidError: a file is empty, or a hash occurs twice among the files and
            ``evidence_sha256`` (same file uploaded twice, a hash given twice, a file whose
            hash is also given); every such problem is listed (HTTP 422).
    """
    for upload in form.evidence:
        if upload.size is not None and upload.size > max_evidence_bytes:
            raise EvidenceTooLargeError(upload.size, max_evidence_bytes)
    errors: list[dict[str, Any]] = []
    items: list[tuple[list[Any], str, str]] = []  # (loc, label, sha256) in chain order
    for i, upload in enumerate(form.evidence):
        upload.file.seek(0)
        sha256, size = hash_stream(upload.file, max_evidence_bytes)
        upload.file.seek(0)
        label = f"evidence file {upload.filename}" if upload.filename else f"evidence file number {i + 1} (no name)"
        if size == 0:
            errors.append({"loc": ["body", "evidence", i], "msg": f"{label} is empty", "type": "evidence_empty"})
        items.append((["body", "evidence", i], label, sha256))
    for j, sha256 in enumerate(form.evidence_sha256):
        items.append((["body", "evidence_sha256", j], f"evidence_sha256 {sha256}", sha256))
    first: dict[str, tuple[list[Any], str]] = {}
    for loc, label, sha256 in items:
        if sha256 not in first:
            first[sha256] = (loc, label)
            continue
        earlier = first[sha256][1]
        if loc[1] == "evidence" and earlier.startswith("evidence file"):
            msg = f"{label} has the same content as {earlier} (SHA-256 {sha256}); cite each document once"
        elif earlier.startswith("evidence file"):
            msg = f"{label} is the SHA-256 of {earlier}; cite each document once"
        else:
            msg = f"{label} is given twice; cite each document once"
        errors.append({"loc": loc, "msg": msg, "type": "evidence_duplicate"})
    if errors:
        raise EvidenceInvalidError(errors)
    return [sha256 for loc, _label, sha256 in items if loc[1] == "evidence"]


def _may_be_mined(exc: BaseException) -> bool:
    """Whether a failure of :meth:`LedgerChain.send` leaves the transaction's fate unknown: it
    was sent but no receipt came (``TransactionFailedError`` from the receipt timeout), the
    node was lost after the transaction was handed to it (``ChainUnavailableError`` of
    ``eth_sendRawTransaction`` or of the receipt), or the send was interrupted. A refusal
    (``ContractRevertError`` from the gas estimate), a reverted transaction or a node that
    could not be reached before sending mean nothing is or will be recorded."""
    if not isinstance(exc, Exception):
        return True
    if isinstance(exc, TransactionFailedError):
        return isinstance(exc.__cause__, TimeExhausted)
    if isinstance(exc, ChainUnavailableError):
        return exc.reason.startswith(("eth_sendRawTransaction", "receipt"))
    return False


def record_delivery(
    chain: LedgerChain,
    session: Session,
    store: EvidenceStore,
    identity: StaffIdentity,
    commitment_id: int,
    form: DeliveryForm,
    now: int,
    *,
    max_evidence_bytes: int,
) -> dict[str, Any]:
    """Check the evidence, stage the files, record the delivery on chain, then settle the
    files: promoted into the store when the delivery is recorded or its outcome is unknown
    (:func:`_may_be_mined`), discarded when it is refused (see the module docstring).

    Evidence order: the uploaded files' hashes in upload order, then ``evidence_sha256``.
    Every file is hashed and checked (:func:`check_evidence`) before any is staged.

    Returns:
        ``{"delivery_id", "commitment_id", "evidence_sha256", "tx"}``.

    Raises:
        EvidenceTooLargeError, EvidenceInvalidError: see :func:`check_evidence` (nothing
            staged).
        StaffForbiddenError, CommitmentWithdrawnError: see :func:`writable_commitment`
            (nothing staged).
        ContractRevertError: e.g. ``LedgerDuplicateDeliveryRef`` (409); the staged files
            are discarded.
        ChainUnavailableError, TransactionFailedError: see :meth:`LedgerChain.send`; the
            staged files are discarded, or promoted when the transaction may be mined.
        LedgerError: an upload changed between hashing and staging (staged files
            discarded, nothing sent).
    """
    file_hashes = check_evidence(form, max_evidence_bytes)
    writable_commitment(session, identity, commitment_id, now)
    hashes = file_hashes + list(form.evidence_sha256)
    staged: list[StagedFile] = []
    sending = False
    try:
        for upload, sha256 in zip(form.evidence, file_hashes):
            upload.file.seek(0)
            staged.append(store.stage(upload.file, max_evidence_bytes, upload.content_type))
            if staged[-1].sha256 != sha256:
                raise LedgerError(f"Evidence file {upload.filename} changed while it was stored.")
        struct = (
            form.quantity,
            form.delivered_at,
            [_bytes32(h) for h in hashes],
            form.evidence_uri,
            form.note,
            form.external_ref,
        )
        sending = True
        tx = chain.send("recordDelivery", [commitment_id, struct], identity.private_key)
    except BaseException as exc:
        if sending and _may_be_mined(exc):
            logger.warning("delivery on commitment %s: outcome unknown, its evidence files are stored", commitment_id)
            _settle(store, staged, promote=True)
        else:
            _settle(store, staged, promote=False)
        raise
    _settle(store, staged, promote=True)
    event = tx.event("DeliveryRecorded")
    return {
        "delivery_id": event.args["delivery_id"],
        "commitment_id": event.args["commitment_id"],
        "evidence_sha256": list(event.args["evidence_hashes"]),
        "tx": tx_json(tx),
    }


def _settle(store: EvidenceStore, staged: list[StagedFile], *, promote: bool) -> None:
    """Promote or discard a delivery's staged files. Never raises: the write's own result or
    error is what the caller reports; a file that could not be settled stays staged and is
    promoted by the next start-up (:meth:`EvidenceStore.promote_leftovers`)."""
    for file in staged:
        try:
            if promote:
                store.promote(file)
            else:
                store.discard(file)
        except Exception:  # noqa: BLE001
            logger.error("evidence %s staged at %s could not be %s", file.sha256, file.path,
                         "promoted" if promote else "discarded", exc_info=True)


def revoke_delivery(chain: LedgerChain, identity: StaffIdentity, delivery_id: int, reason: str) -> dict[str, Any]:
    """Revoke a delivery with a reason.

    The repository has no delivery lookup, so the municipality check is the contract's:
    ``LedgerNotRegistrar`` (403), ``LedgerUnknownDelivery`` (404),
    ``LedgerDeliveryAlreadyRevoked`` (409).

    Returns:
        ``{"delivery_id", "commitment_id", "tx"}``.
    """
    tx = chain.send("revokeDelivery", [delivery_id, reason], identity.private_key)
    event = tx.event("DeliveryRevoked")
    return {"delivery_id": event.args["delivery_id"], "commitment_id": event.args["commitment_id"], "tx": tx_json(tx)}
