"""The publicly known development keys: kept in :mod:`ledger.local_keys` (one list for the
whole repository), re-exported here for the scripts and benches that import them from here."""

from __future__ import annotations

from ledger.local_keys import (
    LOCAL_CHAIN_IDS,
    WELL_KNOWN_ADDRESSES,
    WELL_KNOWN_KEYS,
    WELL_KNOWN_MNEMONIC,
    is_well_known_address,
    is_well_known_key,
    normalise_key,
)

__all__ = [
    "LOCAL_CHAIN_IDS",
    "WELL_KNOWN_ADDRESSES",
    "WELL_KNOWN_KEYS",
    "WELL_KNOWN_MNEMONIC",
    "is_well_known_address",
    "is_well_known_key",
    "normalise_key",
]
