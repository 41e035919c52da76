"""The auditor's replay: rebuild the ledger from the chain alone, with our own code.

Layers, each testable alone (STYLE.md "Indexers"), none shared with the server:

- :mod:`scripts.audit.source`: the auditor's own chain access (web3.py, ``eth_getLogs`` in
  inclusive chunks, ``eth_getBlockByNumber`` for block times and hashes, one ``eth_call`` of
  ``version()``; no other view).
- :mod:`scripts.audit.model`: the rebuilt facts (municipalities with admins, recoveries and
  registrar intervals; commitments with both sets of terms; amendments; deliveries with both
  clocks; revocations; pauses; chain references).
- :mod:`scripts.audit.rules`: the rules of docs/LEDGER.md written again: the status
  mapping on two clocks and two sets of terms, progress, lags, recorded late, historical
  records, amendment flags.
- :mod:`scripts.audit.wire`: the records in wire form with docs/LEDGER.md's field names
  (one rendering for the report and the comparison).
- :mod:`scripts.audit.projection`: applies decoded events, in (block, log index) order, to
  the model; integrity checks become :class:`~scripts.audit.model.Anomaly` records.
- :mod:`scripts.audit.runner`: runs source → decoder → projection over a block range.
- :mod:`scripts.audit.api`: reads the server's JSON API (``docs/API.md``).
- :mod:`scripts.audit.compare`: field-by-field comparison of the rebuilt state with the API.
- :mod:`scripts.audit.report`: the JSON report and the rich summary.

Only the log decoder (``ledger.events``), the ABI (``ledger.abi``), the exception root
(``ledger.errors``), the settings' repository root and the source credits (``ledger.settings``,
``ledger.sources``) are shared with the server. Nothing here imports ``ledger.db``,
``ledger.status``, ``ledger.chain``, ``indexer`` or ``api``: a bug in the server's projection
must not be able to hide itself by being repeated here.
"""
