"""Builds sequences of decoded ledger events without a chain, for projection tests.

Events are ``ledger.events.LedgerEvent`` objects with the argument names and value types the
decoder produces (snake_case, checksummed addresses, ``0x`` hex bytes32, ints). Each
:meth:`Script.emit` puts the event in the current block after the previous one;
:meth:`Script.next_block` opens a block ``block_seconds`` later. Every record event carries the
current block time as its ``...At`` field (registered_at, amended_at, recorded_at, ...), as
the v2 contract emits them.
"""

from __future__ import annotations

import hashlib
from typing import Any

from eth_utils import to_checksum_address

from ledger.events import LedgerEvent

CONTRACT = to_checksum_address("0x" + "c0" * 20)
CONFIRMER = to_checksum_address("0x" + "e4" * 20)
INSPECTOR = to_checksum_address("0x" + "f5" * 20)
ZERO32 = "0x" + "00" * 32
ADMIN = to_checksum_address("0x" + "a1" * 20)
REGISTRAR = to_checksum_address("0x" + "b2" * 20)
OTHER = to_checksum_address("0x" + "d3" * 20)
ZERO_ADDRESS = to_checksum_address("0x" + "00" * 20)
START_TIME = 1_764_412_800  # 2025-11-29T10:40:00Z
DAY = 86_400


def sha(label: str) -> str:
    """``0x`` SHA-256 of ``label`` (a stand-in evidence or source document hash)."""
    return "0x" + hashlib.sha256(label.encode()).hexdigest()


class Script:
    """A growing list of events with their block times."""

    def __init__(self, first_block: int = 5, start_time: int = START_TIME, block_seconds: int = 12) -> None:
        self.events: list[LedgerEvent] = []
        self.block_times: dict[int, int] = {first_block: start_time}
        self.block = first_block
        self.log_index = 0
        self.block_seconds = block_seconds

    @property
    def time(self) -> int:
        """Time of the current block, Unix seconds."""
        return self.block_times[self.block]

    def next_block(self, seconds: int | None = None) -> "Script":
        """Start a new block ``seconds`` (default ``block_seconds``) after the current one."""
        now = self.time
        self.block += 1
        self.log_index = 0
        self.block_times[self.block] = now + (self.block_seconds if seconds is None else seconds)
        return self

    def emit(self, event_name: str, /, **args: Any) -> LedgerEvent:
        """Append event ``event_name`` with ``args`` to the current block (one tx per event)."""
        tx = "0x" + hashlib.sha256(f"tx-{self.block}-{self.log_index}".encode()).hexdigest()
        event = LedgerEvent(
            name=event_name,
            args=args,
            block_number=self.block,
            block_hash="0x" + hashlib.sha256(f"block-{self.block}".encode()).hexdigest(),
            transaction_hash=tx,
            log_index=self.log_index,
            address=CONTRACT,
        )
        self.log_index += 1
        self.events.append(event)
        return event

    # ------------------------------------------------------------------ shorthands

    def municipality(self, municipality_id: int, name: str = "Baarn", code: str = "GM0308", admin: str = ADMIN) -> LedgerEvent:
        return self.emit("MunicipalityRegistered", municipality_id=municipality_id, admin=admin, name=name, code=code)

    def registrar(self, municipality_id: int, account: str = REGISTRAR, by: str = ADMIN) -> LedgerEvent:
        return self.emit("RegistrarAdded", municipality_id=municipality_id, account=account, by=by)

    def unregistrar(self, municipality_id: int, account: str = REGISTRAR, by: str = ADMIN) -> LedgerEvent:
        return self.emit("RegistrarRemoved", municipality_id=municipality_id, account=account, by=by)

    def commitment(self, commitment_id: int, municipality_id: int = 1, **fields: Any) -> LedgerEvent:
        """``CommitmentRegistered`` recorded at the current block time; promised a day
        before, due in 30 days, target 100 unless ``fields`` say otherwise."""
        args = {
            "commitment_id": commitment_id,
            "municipality_id": municipality_id,
            "registrar": REGISTRAR,
            "external_ref": f"ref-{commitment_id:03d}",
            "title": f"Commitment {commitment_id}",
            "description": "",
            "theme": "Wonen",
            "target_quantity": 100,
            "unit": "woningen",
            "promised_at": self.time - DAY,
            "due_date": self.time + 30 * DAY,
            "source_document_hash": "0x" + "00" * 32,
            "source_uri": "",
            "parent_id": 0,
            "weight": 0,
            "registered_at": self.time,
        }
        args.update(fields)
        return self.emit("CommitmentRegistered", **args)

    def delivery(
        self, commitment_id: int, number: int, quantity: int, delivered_at: int, evidence: list[str] | None = None, **fields: Any
    ) -> LedgerEvent:
        """``DeliveryRecorded`` of delivery ``number`` of a commitment (id
        ``commitment_id * 1_000_000 + number``), recorded at the current block time."""
        delivery_id = did(commitment_id, number)
        args = {
            "delivery_id": delivery_id,
            "commitment_id": commitment_id,
            "registrar": REGISTRAR,
            "quantity": quantity,
            "delivered_at": delivered_at,
            "recorded_at": self.time,
            "evidence_hashes": list(evidence if evidence is not None else [sha(f"evidence-{delivery_id}")]),
            "evidence_uri": "",
            "note": "",
            "external_ref": "",
            "asset_ref": "",
        }
        args.update(fields)
        return self.emit("DeliveryRecorded", **args)

    def revoke(self, commitment_id: int, number: int, reason: str = "wrong", registrar: str = REGISTRAR) -> LedgerEvent:
        return self.emit(
            "DeliveryRevoked", delivery_id=did(commitment_id, number), commitment_id=commitment_id,
            registrar=registrar, reason=reason, revoked_at=self.time,
        )

    def amend(
        self,
        commitment_id: int,
        number: int,
        *,
        previous_target: int,
        previous_due: int,
        target: int | None = None,
        due: int | None = None,
        title: str | None = None,
        description: str | None = None,
        reason: str = "council decision",
        municipality_id: int = 1,
    ) -> LedgerEvent:
        """``CommitmentAmended`` naming exactly the fields given (AMEND_* bits), at the
        current block time; target and due date unchanged when not given."""
        fields = (1 if title is not None else 0) | (2 if description is not None else 0)
        fields |= (4 if target is not None else 0) | (8 if due is not None else 0)
        return self.emit(
            "CommitmentAmended",
            commitment_id=commitment_id,
            municipality_id=municipality_id,
            registrar=REGISTRAR,
            amendment_number=number,
            fields=fields,
            title=title or "",
            description=description or "",
            previous_target_quantity=previous_target,
            target_quantity=previous_target if target is None else target,
            previous_due_date=previous_due,
            due_date=previous_due if due is None else due,
            reason=reason,
            amended_at=self.time,
        )

    def withdraw(self, commitment_id: int, reason: str = "no budget", municipality_id: int = 1) -> LedgerEvent:
        return self.emit(
            "CommitmentWithdrawn",
            commitment_id=commitment_id,
            municipality_id=municipality_id,
            registrar=REGISTRAR,
            reason=reason,
            withdrawn_at=self.time,
        )


    # ------------------------------------------------------------------ 2.1.0

    def confirmer(self, municipality_id: int, account: str = CONFIRMER, by: str = ADMIN) -> LedgerEvent:
        return self.emit("ConfirmerAdded", municipality_id=municipality_id, account=account, by=by)

    def unconfirmer(self, municipality_id: int, account: str = CONFIRMER, by: str = ADMIN) -> LedgerEvent:
        return self.emit("ConfirmerRemoved", municipality_id=municipality_id, account=account, by=by)

    def confirm(self, commitment_id: int, number: int, confirmer: str = CONFIRMER, evidence: str = ZERO32) -> LedgerEvent:
        return self.emit(
            "DeliveryConfirmed", delivery_id=did(commitment_id, number), commitment_id=commitment_id,
            confirmer=confirmer, evidence_hash=evidence, confirmed_at=self.time,
        )

    def dispute(self, commitment_id: int, number: int, reason: str = "not there", confirmer: str = CONFIRMER) -> LedgerEvent:
        return self.emit(
            "DeliveryDisputed", delivery_id=did(commitment_id, number), commitment_id=commitment_id,
            confirmer=confirmer, reason=reason, disputed_at=self.time,
        )

    def anchor(
        self, root: str, file_sha256: str, leaf_count: int, municipality_id: int = 1, file_uri: str = "https://example.org/batch.json",
        registrar: str = REGISTRAR,
    ) -> LedgerEvent:
        """``BatchAnchored`` at the current block time."""
        return self.emit(
            "BatchAnchored", root=root, municipality_id=municipality_id, registrar=registrar, leaf_count=leaf_count,
            file_sha256=file_sha256, file_uri=file_uri, anchored_at=self.time,
        )

    def revoke_leaf(self, root: str, leaf_hash: str, commitment_id: int, reason: str = "wrong") -> LedgerEvent:
        return self.emit(
            "BatchedDeliveryRevoked", root=root, leaf_hash=leaf_hash, commitment_id=commitment_id,
            registrar=REGISTRAR, reason=reason, revoked_at=self.time,
        )

    def confirm_leaf(
        self, root: str, leaf_hash: str, commitment_id: int, confirmer: str = CONFIRMER, evidence: str = ZERO32
    ) -> LedgerEvent:
        return self.emit(
            "BatchedDeliveryConfirmed", root=root, leaf_hash=leaf_hash, confirmer=confirmer,
            commitment_id=commitment_id, evidence_hash=evidence, confirmed_at=self.time,
        )

    def dispute_leaf(
        self, root: str, leaf_hash: str, commitment_id: int, reason: str = "not there", confirmer: str = CONFIRMER
    ) -> LedgerEvent:
        return self.emit(
            "BatchedDeliveryDisputed", root=root, leaf_hash=leaf_hash, confirmer=confirmer,
            commitment_id=commitment_id, reason=reason, disputed_at=self.time,
        )


def did(commitment_id: int, number: int) -> int:
    """Delivery id of delivery ``number`` of a commitment (``DELIVERY_ID_BASE`` = 1,000,000)."""
    return commitment_id * 1_000_000 + number
