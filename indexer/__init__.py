"""The indexer: turns the ledger's event logs into the SQL index (docs/DATA.md).

Layers, each testable alone:

- ``fetch``: the only caller of ``LedgerChain.get_logs`` (inclusive block ranges, halved on
  a provider's range error);
- decode: ``ledger.events.EventDecoder`` (shared with the auditor replay);
- project: ``ledger.db.projection.apply_events`` (pure, idempotent);
- ``loop``: confirmations, chunking, the checkpoint and its transaction, reorg detection,
  polling with backoff.

Run it with ``python -m indexer`` (settings from ``LEDGER_*`` variables).
"""
