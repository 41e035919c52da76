"""Core of the promise-to-proof ledger shared by the API, the indexer and the scripts.

- ``settings``: one settings object read from the environment.
- ``errors``: the exception tree.
- ``abi``: the compiled contract artifacts (ABI from the interface, bytecode of the ledger).
- ``events``: the log decoder (shared with the auditor replay; the projection is not).
- ``chain``: the only module that talks to the chain (JSON-RPC through web3.py).
- ``limits``: the contract's limits and constants, mirrored for off-chain checks.
- ``status``: the status rules of docs/LEDGER.md, in Python and SQL (the index and the API).
- ``db``: the SQL index (schema, projection, read side; docs/DATA.md).
"""
