"""The SQL data layer of the index (all SQL of the project lives here; docs/DATA.md).

- ``models``: the tables.
- ``engine``: ``make_engine``, ``create_schema``, ``drop_schema``, ``session_factory``.
- ``projection``: the write side, used by the indexer only (``apply_events``, checkpoint).
- ``repository``: the read side, used by the API and the site (plain dicts shaped as the
  JSON of docs/API.md).
"""

from ledger.db.engine import create_schema, drop_schema, make_engine, session_factory

__all__ = ["create_schema", "drop_schema", "make_engine", "session_factory"]
