"""Services behind the routes: what a write means for the contract (``ledger_writes``)."""
