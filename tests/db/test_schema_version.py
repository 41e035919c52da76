"""An index written by another schema (a v1 index) is refused as a whole, never half-used."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text, update

from ledger.db import create_schema, drop_schema
from ledger.db.models import SCHEMA_VERSION, IndexSchemaRow
from ledger.errors import IndexSchemaError, LedgerError
from tests.db.databases import Database, fresh_database


def test_creating_the_schema_twice_is_idempotent(db: Database) -> None:
    create_schema(db.engine)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT id, version FROM index_schema")).all() == [(1, SCHEMA_VERSION)]


def test_a_v1_index_without_a_schema_version_is_refused_until_rebuilt(backend: str, tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path, schema=False) as database:
        with database.engine.begin() as conn:  # the v1 checkpoint table, as v1 created it
            conn.execute(text("CREATE TABLE checkpoint (id BIGINT PRIMARY KEY, last_block BIGINT, updated_at BIGINT)"))
        with pytest.raises(IndexSchemaError) as refused:
            create_schema(database.engine)
        assert (refused.value.found, refused.value.expected) == (None, SCHEMA_VERSION)
        assert "make reindex" in str(refused.value) and isinstance(refused.value, LedgerError)
        drop_schema(database.engine)  # what `python -m indexer --reindex` does
        create_schema(database.engine)


def test_the_schema_is_version_6_for_contract_2_1_0_with_stored_settled_statuses() -> None:
    assert SCHEMA_VERSION == "6"


@pytest.mark.parametrize("version", ["2", "3", "4", "5", "7"])
def test_an_index_of_another_schema_version_is_refused(db: Database, version: str) -> None:
    # "2": an index of contract 2.0.0, without batches, assets, verdicts or sub-commitments;
    # "3": contract 2.1.0 without the columns lists sort on; "4": without block hashes
    # (reorgs) and event errors; "5": without the stored settled statuses, the list indexes
    # and the text search; "7": a newer build's
    with db.sessions.begin() as session:
        session.execute(update(IndexSchemaRow).values(version=version))
    with pytest.raises(IndexSchemaError) as refused:
        create_schema(db.engine)
    assert (refused.value.found, refused.value.expected) == (version, SCHEMA_VERSION)
    drop_schema(db.engine)  # what `python -m indexer --reindex` does
    create_schema(db.engine)
