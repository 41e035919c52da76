"""Fixtures of the data-layer tests: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.db.databases import BACKENDS, Database, fresh_database


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``"sqlite"`` or ``"postgresql"`` (skipped when the server is not reachable)."""
    return request.param


@pytest.fixture
def db(backend: str, tmp_path: Path) -> Iterator[Database]:
    """A fresh, empty index on ``backend``."""
    with fresh_database(backend, tmp_path) as database:
        yield database
