"""Fixtures of the kill tests: a :class:`tests.chaos.harness.ChaosStack` (anvil, the indexer
and the API as child processes) on a fresh database of each backend.

Ports: ``LEDGER_CHAOS_PORT_BASE`` (default 8701): anvil on the base, the API on base + 1;
the PostgreSQL variant on base + 2 and base + 3. Everything else lives in a temporary folder
(its ``logs/`` keep each child's output for a failure's report).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.chaos.harness import ChaosStack
from tests.db.databases import fresh_database

PORT_BASE = int(os.environ.get("LEDGER_CHAOS_PORT_BASE", "8701"))


@pytest.fixture()
def chaos_stack(tmp_path: Path) -> Iterator[Callable[..., ChaosStack]]:
    """``chaos_stack(backend, **options)`` → a started :class:`ChaosStack` (options as its
    constructor's), stopped and its database dropped after the test."""
    opened: list[tuple[ChaosStack, object]] = []

    def make(backend: str, **options: object) -> ChaosStack:
        offset = 2 * ("sqlite", "postgresql").index(backend)
        database = fresh_database(backend, tmp_path, schema=False)
        db = database.__enter__()
        stack = ChaosStack(tmp_path / f"stack-{backend}", db.url, anvil_port=PORT_BASE + offset,
                           api_port=PORT_BASE + offset + 1, **options)  # type: ignore[arg-type]
        opened.append((stack, database))
        stack.start()
        return stack

    yield make
    for stack, database in reversed(opened):
        stack.close()
        database.__exit__(None, None, None)  # type: ignore[attr-defined]
