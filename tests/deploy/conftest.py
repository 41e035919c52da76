"""Fixtures of the deploy tests: the production shape (deploy/) run as real processes on this
machine. Helpers live beside this file: ``cluster`` (interval-mining anvil, one indexer and
several uvicorn API processes on one database), ``capped_rpc`` (an ``eth_getLogs`` limited like a
hosted provider's). Ports: 8681-8689 (tests/deploy/test_*.py each name theirs); PostgreSQL from
tests/db/databases.py (skipped with the reason when it is not reachable)."""

from __future__ import annotations
