"""Helpers of the indexer tests on the real chain: struct tuples for ``LedgerChain.send``
(in the field order of the ICommitmentLedger structs), expected ``ChainRef`` dicts built from
transaction results, independent ISO formatting."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from typing import Any

from ledger.chain import LedgerChain, TxResult
from ledger.settings import Settings

DAY = 86_400
ZERO32 = "0x" + "00" * 32
PROMISED = 1_704_067_200
"""Default ``promisedAt``: 2024-01-01T00:00:00Z, before every test chain's time and due date."""


def sha(label: str) -> str:
    """``0x`` SHA-256 of ``label`` (stands in for an evidence or source document)."""
    return "0x" + hashlib.sha256(label.encode()).hexdigest()


def b32(hex_hash: str) -> bytes:
    """``0x`` hex → 32 bytes, for bytes32 arguments."""
    return bytes.fromhex(hex_hash[2:])


def commitment_input(
    municipality_id: int,
    external_ref: str,
    title: str,
    *,
    description: str = "",
    theme: str = "",
    target: int = 1,
    unit: str = "stuks",
    promised: int = PROMISED,
    due: int,
    source: str = ZERO32,
    source_uri: str = "",
    parent_id: int = 0,
    weight: int = 0,
) -> tuple:
    """``CommitmentInput`` in struct order (2.1.0: with ``promisedAt``, ``parentId``, ``weight``)."""
    return (
        municipality_id, external_ref, title, description, theme, target, unit, promised, due, b32(source), source_uri,
        parent_id, weight,
    )


def amendment_input(
    expected_count: int,
    *,
    title: str | None = None,
    description: str | None = None,
    target: int | None = None,
    due: int | None = None,
    reason: str,
) -> tuple:
    """``AmendmentInput`` in struct order, naming (AMEND_* bits) exactly the fields given."""
    fields = (1 if title is not None else 0) | (2 if description is not None else 0)
    fields |= (4 if target is not None else 0) | (8 if due is not None else 0)
    return (expected_count, fields, title or "", description or "", target or 0, due or 0, reason)


def delivery_input(
    quantity: int, delivered_at: int, evidence: list[str], *, uri: str = "", note: str = "", ref: str = "",
    asset: str = "",
) -> tuple:
    """``DeliveryInput`` in struct order (2.1.0: with ``assetRef``)."""
    return (quantity, delivered_at, [b32(h) for h in evidence], uri, note, ref, asset)


def iso(seconds: int) -> str:
    """Expected ISO twin, computed independently of the repository."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Refs:
    """Expected ``ChainRef`` dicts from transaction results (their receipts' logs)."""

    def __init__(self, chain: LedgerChain) -> None:
        self.chain = chain
        self._times: dict[int, int] = {}

    def time(self, block_number: int) -> int:
        if block_number not in self._times:
            info = self.chain.block(block_number)
            assert info is not None
            self._times[block_number] = info.timestamp
        return self._times[block_number]

    def of(self, tx: TxResult, event_name: str, nth: int = 0) -> dict[str, Any]:
        event = [e for e in tx.events if e.name == event_name][nth]
        assert (event.transaction_hash, event.block_number) == (tx.tx_hash, tx.block_number)
        return {
            "tx_hash": tx.tx_hash,
            "block_number": tx.block_number,
            "log_index": event.log_index,
            "block_time": self.time(tx.block_number),
            "block_time_iso": iso(self.time(tx.block_number)),
        }


def indexer_settings(settings: Settings, **changes: Any) -> Settings:
    """This module's settings with some fields changed (e.g. ``log_chunk_blocks``)."""
    return settings.model_copy(update=changes)
