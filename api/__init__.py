"""The HTTP API of the ledger (docs/API.md): FastAPI app, problem details, wire models,
one router per resource, and the write service that turns staff requests into contract
calls. Run it with ``uvicorn api.main:app``."""
