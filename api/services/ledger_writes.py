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

Evidence files of a delivery are stored (content-addressed) *before* the transaction is
sent, so every hash the chain cites through this server can be fetched from it. If the
contract then refuses, the stored files remain: they are addressed by their content, cited by
nothing, and harmless; storing the same file again is a no-op.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from api.schemas import AmendmentIn, CommitmentIn, DeliveryForm
from ledger.chain import LedgerChain, TxResult
from ledger.db import repository
from ledger.errors import EvidenceTooLargeError, LedgerError
from ledger.evidence import EvidenceStore
from ledger.staff import StaffIdentity

ZERO_BYTES32 = b"\x00" * 32


class WriteRefusedError(LedgerError):
    """The API refuses a write before sending it (the index shows it cannot succeed)."""


class UnknownRecordError(WriteRefusedError, LookupError):
    """The commitment or delivery is not in the index (HTTP 404)."""

    def __init__(self, kind: str, record_id: int) -> None:
        super().__init__(f"No {kind} {record_id} is known to the index.")
        self.kind = kind
        self.record_id = record_id


class CommitmentWithdrawnError(WriteRefusedError):
    """The commitment was withdrawn; no amendment, delivery or withdrawal is accepted (409)."""

    def __init__(self, commitment_id: int) -> None:
        super().__init__(f"Commitment {commitment_id} is withdrawn; it accepts no further changes.")
        self.commitment_id = commitment_id


class IndexBehindError(WriteRefusedError):
    """An amendment leaves fields out, but the index may not hold their current values yet
    (it is behind the chain head). HTTP 503: retry shortly or send every field."""

    def __init__(self, indexed_block: int | None, head_block: int) -> None:
        super().__init__(
            f"The index is at block {indexed_block}, the chain at {head_block}: omitted amendment "
            "fields cannot be filled safely. Retry in a few seconds, or send every field."
        )
        self.indexed_block = indexed_block
        self.head_block = head_block


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
    ``confirmations`` blocks behind the head), or a recent amendment could be undone; then a
    commitment the index does not have is unknown (404). With every field given, an
    unindexed commitment is left to the contract.

    Returns:
        ``{"commitment_id", "amendment_number", "tx"}``.

    Raises:
        StaffForbiddenError, CommitmentWithdrawnError: see :func:`writable_commitment`.
        IndexBehindError: a field is omitted and the index is behind.
        UnknownRecordError: a field is omitted and the (caught-up) index has no such commitment.
        ContractRevertError: e.g. ``LedgerAmendmentChangesNothing`` (409).
    """
    omitted = [name for name in ("title", "description", "target_quantity", "due_date") if getattr(data, name) is None]
    if omitted:
        checkpoint = repository.get_checkpoint(session)
        indexed = checkpoint["last_block"] if checkpoint else None
        head = chain.head_block_number()
        if indexed is None or indexed < head - confirmations:
            raise IndexBehindError(indexed, head)
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
    """Store the evidence files, then record the delivery on chain.

    Evidence order: the uploaded files' hashes in upload order, then ``evidence_sha256``.
    Every file's size is checked before any is stored.

    Returns:
        ``{"delivery_id", "commitment_id", "evidence_sha256", "tx"}``.

    Raises:
        StaffForbiddenError, CommitmentWithdrawnError: see :func:`writable_commitment`
            (nothing stored).
        EvidenceTooLargeError: a file exceeds ``max_evidence_bytes`` (nothing stored).
        ContractRevertError: e.g. ``LedgerDuplicateDeliveryRef`` (409); files stay stored.
    """
    writable_commitment(session, identity, commitment_id, now)
    for upload in form.evidence:
        if upload.size is not None and upload.size > max_evidence_bytes:
            raise EvidenceTooLargeError(upload.size, max_evidence_bytes)
    hashes: list[str] = []
    for upload in form.evidence:
        upload.file.seek(0)
        sha256, _size = store.save_stream(upload.file, max_evidence_bytes, upload.content_type)
        hashes.append(sha256)
    hashes.extend(form.evidence_sha256)
    struct = (
        form.quantity,
        form.delivered_at,
        [_bytes32(h) for h in hashes],
        form.evidence_uri,
        form.note,
        form.external_ref,
    )
    tx = chain.send("recordDelivery", [commitment_id, struct], identity.private_key)
    event = tx.event("DeliveryRecorded")
    return {
        "delivery_id": event.args["delivery_id"],
        "commitment_id": event.args["commitment_id"],
        "evidence_sha256": list(event.args["evidence_hashes"]),
        "tx": tx_json(tx),
    }


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
