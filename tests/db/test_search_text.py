"""Text search (``q`` of ``ledger.db.repository.list_commitments``) through the database's
trigram index (SQLite FTS5, PostgreSQL pg_trgm) finds exactly what a plain Python filter over
the same rows finds: the lowercased needle is a substring of the lowercased title, description
or external_ref; for texts with Dutch diacritics, upper case, LIKE wildcards, quotes, the NUL
sign "␀" and needles shorter than a trigram. On SQLite and PostgreSQL; the index follows
amendments of the texts and deleted rows."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import delete, update

from ledger.db import repository
from ledger.db.models import SEARCH_TABLE, Commitment
from ledger.db.projection import _search_text
from tests.db.databases import Database
from tests.db.test_lists_status_sql import insert_rows
from tests.db.test_status_rules import status_db  # noqa: F401 (fixture)

ALPHABET = "abcAB éëïöüÉĳĲß%_\\/'\"␀*-.:()^"
texts = st.text(alphabet=ALPHABET, max_size=12)
OPEN = {"withdrawn": False, "delivered_quantity": 0, "due_date": 10, "original_due_date": 10, "met_at": None,
        "met_on_record_at": None, "met_at_original_terms": None, "met_on_record_at_original_terms": None}


def row(i: int, title: str, description: str, ref: str) -> dict:
    return {**OPEN, "title": title, "description": description, "external_ref": f"{ref}#{i}",
            "search_text": _search_text(title, description, f"{ref}#{i}")}


def python_filter(rows: list[dict], q: str) -> list[int]:
    needle = repository.search_needle(q)
    return [i for i, r in enumerate(rows, start=1) if not needle or needle in r["search_text"]]


def found(session, q: str, limit: int = 100) -> tuple[list[int], int]:
    page = repository.list_commitments_page(session, 0, q=q, limit=limit)
    return [r["id"] for r in page.rows], page.total


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    fields=st.lists(st.tuples(texts, texts, texts), min_size=1, max_size=12),
    picks=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 30), st.integers(1, 6), st.booleans()), max_size=5),
    others=st.lists(texts, max_size=3),
)
def test_search_finds_what_a_python_filter_finds(
    status_db: Database, fields: list[tuple[str, str, str]], picks: list, others: list[str]  # noqa: F811
) -> None:
    rows = [row(i, *f) for i, f in enumerate(fields, start=1)]
    # Needles cut from the texts (they match, in any case), and free ones (they may not).
    needles = list(others)
    for which, start, length, upper in picks:
        text = rows[which % len(rows)]["title"] + " " + rows[which % len(rows)]["description"]
        cut = text[start % max(1, len(text)) :][:length]
        needles.append(cut.upper() if upper else cut)
    with status_db.sessions() as session:
        insert_rows(session, rows)
        session.commit()
        for q in needles:
            expected = python_filter(rows, q)
            assert found(session, q) == (expected, len(expected)), repr(q)
            # A page of 1 of a frequent needle is read by testing rows in order (SQLite), not
            # through the trigram table: the same rows.
            assert found(session, q, limit=1) == (expected[:1], len(expected)), repr(q)


def test_the_index_follows_changed_and_deleted_texts(status_db: Database) -> None:  # noqa: F811
    rows = [row(1, "Zonnepanelen op scholen", "", "a"), row(2, "Fietspad Eemnesserweg", "", "b")]
    with status_db.sessions() as session:
        insert_rows(session, rows)
        session.commit()
        assert found(session, "ZONNE") == ([1], 1)
        session.execute(update(Commitment).where(Commitment.id == 1).values(
            title="Warmtenet", search_text=_search_text("Warmtenet", "", "a#1")))
        session.commit()
        assert found(session, "zonne") == ([], 0)
        assert found(session, "warmtenet") == ([1], 1)
        session.execute(delete(Commitment).where(Commitment.id == 2))
        session.commit()
        assert found(session, "fietspad") == ([], 0)
        assert found(session, "et") == ([1], 1)  # shorter than a trigram: read from search_text
        assert found(session, "a#1") == ([1], 1)  # the external ref is searched too
        assert found(session, "net\x1fa") == ([], 0)  # never across two fields


def test_a_nul_in_the_needle_stands_for_the_nul_sign_of_stored_texts(status_db: Database) -> None:  # noqa: F811
    rows = [row(1, "a\u2400b title", "", "x"), row(2, "ab title", "", "y")]
    with status_db.sessions() as session:
        insert_rows(session, rows)
        session.commit()
        assert found(session, "A\x00B") == ([1], 1)
        assert found(session, "a\u2400b t") == ([1], 1)


def test_an_index_made_with_trigram_positions_answers_the_same(status_db: Database) -> None:  # noqa: F811
    """An index whose FTS5 table was made before ``detail=none`` (schema 6 as first landed,
    with positions) answers the every-trigram query with the same rows (SQLite only)."""
    rows = [row(1, "Zonnepanelen op scholen", "", "a"), row(2, "Fietspad Eemnesserweg", "zonnig", "b"),
            row(3, 'Straße "quoted"', "", "c")]
    with status_db.sessions() as session:
        if session.get_bind().dialect.name != "sqlite":
            return
        insert_rows(session, rows)
        session.commit()
        connection = session.connection()
        connection.exec_driver_sql(f"DROP TABLE {SEARCH_TABLE}")
        connection.exec_driver_sql(f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5(search_text, content='commitments', "
                                   "content_rowid='id', tokenize='trigram')")
        connection.exec_driver_sql(f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES ('rebuild')")
        session.commit()
        for q, expected in (("zonn", [1, 2]), ("PANELEN OP", [1]), ('"quot', [3]), ("strasse", []), ("aße", [3]), ("xyz", [])):
            assert found(session, q) == (expected, len(expected)), q
