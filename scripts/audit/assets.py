"""Asset refs as readers compare them (docs/LEDGER.md "Assets"): after the one normalising
rule, ``ledger.merkle.normalise_asset_ref`` (Unicode NFC, trimmed, inner whitespace runs → one
space, case kept). The rule is the batch-file format's, shared on purpose: every reader must
compare the same way; what the replay decides with it is its own code
(:mod:`scripts.audit.counting`)."""

from __future__ import annotations

from ledger.merkle import normalise_asset_ref


def asset_key(asset_ref: str) -> str:
    """The comparison form of ``asset_ref``; ``""`` (no asset) when it is empty or only
    whitespace."""
    return normalise_asset_ref(asset_ref) if asset_ref else ""
