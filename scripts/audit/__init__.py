"""The auditor's replay: rebuild the ledger from the chain alone, with our own code.

Layers, each testable alone (STYLE.md "Indexers"), none shared with the server:

- :mod:`scripts.audit.source`: the auditor's own chain access (web3.py for the first calls;
  raw ``eth_getLogs`` in inclusive chunks, block times from the logs' ``blockTimestamp`` or
  from headers read in one ``eth_getBlockByNumber`` batch per chunk; one ``eth_call`` of
  ``version()``; no other view).
- :mod:`scripts.audit.model`: the rebuilt facts (municipalities with admins, recoveries,
  registrar and confirmer intervals; commitments with both sets of terms, parent and weight;
  amendments; deliveries with both clocks and assets; batches and their leaves; revocations;
  verdicts; pauses; chain references).
- :mod:`scripts.audit.batchfiles`, :mod:`scripts.audit.batchcheck`: where a batch's file is
  looked for (``--batch-dir``, the API) and the check of its bytes against the anchored
  ``fileSha256``, ``root`` and ``leafCount`` (docs/LEDGER.md "Batches").
- :mod:`scripts.audit.leaves`, :mod:`scripts.audit.counting`, :mod:`scripts.audit.assets`:
  which leaves and recorded deliveries count, decided when each is recorded (refusal reasons
  in the documented order; an asset counted once per commitment).
- :mod:`scripts.audit.rules`: the rules of docs/LEDGER.md written again: the status
  mapping on two clocks and two sets of terms (and on confirmed deliveries), progress, lags,
  recorded late, historical records, amendment flags, and the flags batch not verifiable,
  disputed delivery, double counted asset.
- :mod:`scripts.audit.review`, :mod:`scripts.audit.rollup`: a delivery's review from each
  confirmer's latest verdict; the weighted roll-up of sub-commitments.
- :mod:`scripts.audit.wire`: the records in wire form with docs/LEDGER.md's field names
  (one rendering for the report and the comparison).
- :mod:`scripts.audit.projection` (with :mod:`~scripts.audit.projection_batches` and
  :mod:`~scripts.audit.projection_reviews`): applies decoded events, in (block, log index)
  order, to the model; integrity checks become :class:`~scripts.audit.model.Anomaly` records.
- :mod:`scripts.audit.runner`: runs source → decoder → projection over a block range.
- :mod:`scripts.audit.api`: reads the server's JSON API (``docs/API.md``).
- :mod:`scripts.audit.compare`: field-by-field comparison of the rebuilt state with the API.
- :mod:`scripts.audit.report`: the JSON report and the rich summary.

Only the log decoder (``ledger.events``), the ABI (``ledger.abi``), the exception root
(``ledger.errors``), the settings' repository root and the source credits (``ledger.settings``,
``ledger.sources``) and the batch-file format (``ledger.merkle``: parsing a StandardMerkleTree
dump and rebuilding its root, and the one normalising rule of asset refs) are shared with the
server. Nothing here imports ``ledger.db``,
``ledger.status``, ``ledger.chain``, ``indexer`` or ``api``: a bug in the server's projection
must not be able to hide itself by being repeated here.
"""
