"""Helpers shared by the replay tests (a module name unique in the suite: pytest imports test
helpers by basename)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from web3 import HTTPProvider, Web3

from ledger.chain import TxResult
from ledger.events import LedgerEvent
from scripts.audit.model import LedgerState
from scripts.audit.projection import Projector

DAY = 86_400


def sha256(data: bytes) -> bytes:
    """SHA-256 digest (32 bytes) of ``data``."""
    return hashlib.sha256(data).digest()


def hex32(digest: bytes) -> str:
    """``0x`` + 64 lowercase hex characters."""
    return "0x" + digest.hex()


def latest_block_time(rpc_url: str) -> int:
    """Time of the chain's latest block, Unix seconds."""
    return int(Web3(HTTPProvider(rpc_url)).eth.get_block("latest")["timestamp"])


def block_time(rpc_url: str, number: int) -> int:
    """Time of block ``number``, Unix seconds."""
    return int(Web3(HTTPProvider(rpc_url)).eth.get_block(number)["timestamp"])


@dataclass
class Written:
    """A commitment as the test wrote it: the registration input (tuple in the field order of
    ``CommitmentInput``), its transaction, and what followed."""

    id: int
    input: tuple
    tx: TxResult
    amendments: list[tuple[tuple, TxResult]] = field(default_factory=list)
    withdrawal: tuple[str, TxResult] | None = None
    deliveries: list[int] = field(default_factory=list)


@dataclass
class DeliveryWritten:
    """A delivery as the test wrote it: id, commitment id, the ``DeliveryInput`` tuple, its
    transaction, registrar address, and the revocation (reason, transaction) if any."""

    id: int
    commitment_id: int
    input: tuple
    tx: TxResult
    registrar: str
    revocation: tuple[str, TxResult] | None = None


@dataclass
class Scenario:
    """Everything ``scenario`` wrote, by name: ``commitments["pending"]`` etc."""

    t0: int
    commitments: dict[str, Written]
    deliveries: dict[int, DeliveryWritten]
    extra: dict[str, Any]


# ---------------------------------------------------------------------- synthetic events

BASE_TIME = 1_700_000_000
"""Block time of block 0 in synthetic event streams; each block is 12 s later."""
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def tx_hash(block: int) -> str:
    """The synthetic transaction hash of the (single) transaction in ``block``."""
    return "0x" + f"{block:064x}"


def time_of(block: int) -> int:
    """The synthetic time of ``block``, Unix seconds."""
    return BASE_TIME + 12 * block


def event(event_name: str, block: int, log_index: int = 0, /, **args: Any) -> LedgerEvent:
    """A decoded event as the shared decoder would produce it (snake_case args)."""
    return LedgerEvent(
        name=event_name, args=args, block_number=block, block_hash="0x" + f"{block + 7:064x}",
        transaction_hash=tx_hash(block), log_index=log_index, address=CONTRACT,
    )


def project(events: list[LedgerEvent]) -> LedgerState:
    """Apply ``events`` (each at its synthetic block time) and finish."""
    projector = Projector()
    for e in events:
        projector.apply(e, time_of(e.block_number))
    return projector.finish()


OWNER = "0x" + "0A" * 20
ADMIN = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
REGISTRAR = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
HASH_SOURCE = "0x" + "5a" * 32
EVIDENCE_1 = "0x" + "e1" * 32
EVIDENCE_2 = "0x" + "e2" * 32
ZERO32 = "0x" + "00" * 32
DUE_1 = 1_800_000_000
DUE_2 = 1_810_000_000


def synthetic_events() -> list[LedgerEvent]:
    """A small sound ledger: Baarn with one registrar; commitment 1 (target 10 homes, two
    deliveries of 4 and 6, the 6 revoked); commitment 2 (amended target 1 → 2, withdrawn)."""
    return [
        event("OwnershipTransferred", 1, previous_owner="0x" + "00" * 20, new_owner=OWNER),
        event("MunicipalityRegistered", 2, municipality_id=1, admin=ADMIN, name="Baarn", code="GM0308"),
        event("RegistrarAdded", 3, municipality_id=1, account=REGISTRAR, by=ADMIN),
        event(
            "CommitmentRegistered", 4, commitment_id=1, municipality_id=1, registrar=REGISTRAR, external_ref="ref-1",
            title="Renovate 10 homes", description="In the centre.", theme="Wonen", target_quantity=10, unit="homes",
            due_date=DUE_1, source_document_hash=HASH_SOURCE, source_uri="https://baarn.nl/b", registered_at=time_of(4),
        ),
        event(
            "DeliveryRecorded", 5, 0, delivery_id=1, commitment_id=1, registrar=REGISTRAR, quantity=4,
            delivered_at=time_of(5) - 100, evidence_hashes=[EVIDENCE_1], evidence_uri="https://baarn.nl/e",
            note="first", external_ref="d-1",
        ),
        event("EvidenceCited", 5, 1, evidence_hash=EVIDENCE_1, delivery_id=1, commitment_id=1),
        event(
            "DeliveryRecorded", 6, 0, delivery_id=2, commitment_id=1, registrar=REGISTRAR, quantity=6,
            delivered_at=time_of(6) - 100, evidence_hashes=[EVIDENCE_2], evidence_uri="", note="", external_ref="",
        ),
        event("EvidenceCited", 6, 1, evidence_hash=EVIDENCE_2, delivery_id=2, commitment_id=1),
        event("DeliveryRevoked", 7, delivery_id=2, commitment_id=1, registrar=REGISTRAR, reason="Counted twice"),
        event(
            "CommitmentRegistered", 8, commitment_id=2, municipality_id=1, registrar=REGISTRAR, external_ref="ref-2",
            title="One bridge", description="", theme="Infra", target_quantity=1, unit="bridge", due_date=DUE_2,
            source_document_hash=ZERO32, source_uri="", registered_at=time_of(8),
        ),
        event(
            "CommitmentAmended", 9, commitment_id=2, municipality_id=1, registrar=REGISTRAR, amendment_number=1,
            title="Two bridges", description="Both sides.", previous_target_quantity=1, target_quantity=2,
            previous_due_date=DUE_2, due_date=DUE_2 + 1000, reason="Second bridge added",
        ),
        event("CommitmentWithdrawn", 10, commitment_id=2, municipality_id=1, registrar=REGISTRAR, reason="No budget"),
    ]
