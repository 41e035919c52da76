"""Confirmer writes: a second party's verdict on a delivery (docs/LEDGER.md "Confirmations").

The token needs the ``confirmer`` role (:meth:`StaffIdentity.require_role`, 403 before
anything is sent); its key signs ``confirmDelivery`` / ``disputeDelivery`` for a recorded
delivery, ``confirmBatchedDelivery`` / ``disputeBatchedDelivery`` for a batched one (named by
batch root and leaf hash: the leaf's values and its proof are read from the stored batch
file, :func:`api.services.batches.stored_leaf`). Before sending, a delivery of a commitment
the index shows in another municipality is 403; the contract decides the rest and its
refusals map to problems (``LedgerNotConfirmer`` 403, ``LedgerSelfConfirmation`` 403
``self-confirmation``, ``LedgerVerdictUnchanged`` 409 ``verdict-unchanged``,
``LedgerDeliveryAlreadyRevoked`` / ``LedgerBatchedDeliveryRevoked`` 409
``delivery-already-revoked``, ``LedgerUnknownDelivery`` 404, ``LedgerPaused`` 503).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from api.services.batches import stored_leaf
from api.services.ledger_writes import ZERO_BYTES32, result_builder, tx_json
from ledger.chain import LedgerChain, TxResult
from ledger.db import repository
from ledger.evidence import EvidenceStore
from ledger.limits import delivery_commitment_id
from ledger.staff import CONFIRMER, StaffIdentity


def _bytes32(sha256: str | None) -> bytes:
    return ZERO_BYTES32 if sha256 is None else bytes.fromhex(sha256[2:])


def _check_delivery(session: Session, identity: StaffIdentity, delivery_id: int, what: str) -> None:
    identity.require_role(CONFIRMER, what)
    commitment_id = delivery_commitment_id(delivery_id)
    commitment = repository.commitment_states(session, [commitment_id]).get(commitment_id)
    if commitment is not None:
        identity.require_municipality(commitment["municipality_id"], f"delivery {delivery_id}")


def confirm_delivery(
    chain: LedgerChain, session: Session, identity: StaffIdentity, delivery_id: int, evidence_hash: str | None
) -> dict[str, Any]:
    """Confirm a recorded delivery, optionally citing the confirmer's own evidence.

    Args:
        evidence_hash: SHA-256 (``0x`` hex) of the confirmer's evidence, or ``None``.

    Returns:
        ``{"delivery_id", "commitment_id", "confirmer", "verdict": "confirmed",
        "evidence_hash", "tx"}``.

    Raises:
        StaffRoleError: the token holds no confirmer role (403).
        StaffForbiddenError: the indexed commitment is another municipality's (403).
        ContractRevertError: see the module docstring.
    """
    _check_delivery(session, identity, delivery_id, "confirming a delivery")
    tx = chain.send("confirmDelivery", [delivery_id, _bytes32(evidence_hash)], identity.private_key,
                    result="delivery_confirmed")
    return _delivery_confirmed(tx, {})


@result_builder("delivery_confirmed")
def _delivery_confirmed(tx: TxResult, _context: dict[str, Any]) -> dict[str, Any]:
    event = tx.event("DeliveryConfirmed")
    return {
        "delivery_id": event.args["delivery_id"],
        "commitment_id": event.args["commitment_id"],
        "confirmer": event.args["confirmer"],
        "verdict": "confirmed",
        "evidence_hash": _hash_or_none(event.args["evidence_hash"]),
        "tx": tx_json(tx),
    }


def dispute_delivery(
    chain: LedgerChain, session: Session, identity: StaffIdentity, delivery_id: int, reason: str
) -> dict[str, Any]:
    """Dispute a recorded delivery with a reason.

    Returns:
        ``{"delivery_id", "commitment_id", "confirmer", "verdict": "disputed", "reason", "tx"}``.

    Raises:
        as :func:`confirm_delivery`.
    """
    _check_delivery(session, identity, delivery_id, "disputing a delivery")
    tx = chain.send("disputeDelivery", [delivery_id, reason], identity.private_key, result="delivery_disputed")
    return _delivery_disputed(tx, {})


@result_builder("delivery_disputed")
def _delivery_disputed(tx: TxResult, _context: dict[str, Any]) -> dict[str, Any]:
    event = tx.event("DeliveryDisputed")
    return {
        "delivery_id": event.args["delivery_id"],
        "commitment_id": event.args["commitment_id"],
        "confirmer": event.args["confirmer"],
        "verdict": "disputed",
        "reason": event.args["reason"],
        "tx": tx_json(tx),
    }


def confirm_batched_delivery(
    chain: LedgerChain,
    session: Session,
    store: EvidenceStore,
    identity: StaffIdentity,
    root: str,
    leaf_hash: str,
    evidence_hash: str | None,
) -> dict[str, Any]:
    """Confirm one delivery of an anchored batch (its leaf and proof from the stored file).

    Returns:
        ``{"root", "leaf_hash", "commitment_id", "confirmer", "verdict": "confirmed",
        "evidence_hash", "tx"}``.

    Raises:
        StaffRoleError: no confirmer role (403).
        UnknownBatchError, BatchNotIndexedError, BatchFileMissingError, UnknownLeafError,
            StaffForbiddenError: see :func:`api.services.batches.stored_leaf`.
        ContractRevertError: see the module docstring.
    """
    identity.require_role(CONFIRMER, "confirming a batched delivery")
    leaf = stored_leaf(chain, session, store, identity, root, leaf_hash)
    tx = chain.send("confirmBatchedDelivery", [leaf.root_bytes, leaf.struct, leaf.proof_bytes, _bytes32(evidence_hash)],
                    identity.private_key, result="batched_delivery_confirmed")
    return _batched_confirmed(tx, {})


@result_builder("batched_delivery_confirmed")
def _batched_confirmed(tx: TxResult, _context: dict[str, Any]) -> dict[str, Any]:
    event = tx.event("BatchedDeliveryConfirmed")
    return {
        "root": event.args["root"],
        "leaf_hash": event.args["leaf_hash"],
        "commitment_id": event.args["commitment_id"],
        "confirmer": event.args["confirmer"],
        "verdict": "confirmed",
        "evidence_hash": _hash_or_none(event.args["evidence_hash"]),
        "tx": tx_json(tx),
    }


def dispute_batched_delivery(
    chain: LedgerChain,
    session: Session,
    store: EvidenceStore,
    identity: StaffIdentity,
    root: str,
    leaf_hash: str,
    reason: str,
) -> dict[str, Any]:
    """Dispute one delivery of an anchored batch with a reason.

    Returns:
        ``{"root", "leaf_hash", "commitment_id", "confirmer", "verdict": "disputed", "reason", "tx"}``.

    Raises:
        as :func:`confirm_batched_delivery`.
    """
    identity.require_role(CONFIRMER, "disputing a batched delivery")
    leaf = stored_leaf(chain, session, store, identity, root, leaf_hash)
    tx = chain.send("disputeBatchedDelivery", [leaf.root_bytes, leaf.struct, leaf.proof_bytes, reason],
                    identity.private_key, result="batched_delivery_disputed")
    return _batched_disputed(tx, {})


@result_builder("batched_delivery_disputed")
def _batched_disputed(tx: TxResult, _context: dict[str, Any]) -> dict[str, Any]:
    event = tx.event("BatchedDeliveryDisputed")
    return {
        "root": event.args["root"],
        "leaf_hash": event.args["leaf_hash"],
        "commitment_id": event.args["commitment_id"],
        "confirmer": event.args["confirmer"],
        "verdict": "disputed",
        "reason": event.args["reason"],
        "tx": tx_json(tx),
    }


def _hash_or_none(value: Any) -> str | None:
    """An event's bytes32 as ``0x`` hex, ``None`` for zero (no evidence cited)."""
    text = value if isinstance(value, str) else "0x" + bytes(value).hex()
    return None if int(text, 16) == 0 else text
