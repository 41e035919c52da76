"""The auditor's replay: rebuild the ledger from the chain alone, with our own code.

Layers, each testable alone (STYLE.md "Indexers"), none shared with the server:

- :mod:`scripts.audit.source`: the auditor's own chain access (web3.py, ``eth_getLogs`` in
  inclusive chunks, ``eth_getBlockByNumber`` for block times). Never ``eth_call``.
- :mod:`scripts.audit.model`: the rebuilt records (municipalities, commitments, deliveries,
  chain references) and their JSON form.
- :mod:`scripts.audit.rules`: delivered quantity, ``met_at``, progress and the status rules
  of ``ICommitmentLedger`` at a given ``now``.
- :mod:`scripts.audit.projection`: applies decoded events, in (block, log index) order, to
  the model; integrity checks become :class:`~scripts.audit.model.Anomaly` records.
- :mod:`scripts.audit.runner`: runs source → decoder → projection over a block range.
- :mod:`scripts.audit.api`: reads the server's JSON API (``docs/API.md``).
- :mod:`scripts.audit.compare`: field-by-field comparison of the rebuilt state with the API.
- :mod:`scripts.audit.report`: the JSON report and the rich summary.

Only the log decoder (``ledger.events``), the ABI (``ledger.abi``) and the exception root
(``ledger.errors``) are shared with the server. Nothing here imports ``ledger.db``,
``ledger.status``, ``ledger.chain``, ``indexer`` or ``api``: a bug in the server's projection
must not be able to hide itself by being repeated here.
"""
