"""Text search (``q`` of ``ledger.db.repository.list_commitments``) through the database's
trigram index (SQLite FTS5, PostgreSQL pg_trgm) finds exactly what a plain Python filter over
the same rows finds: the lowercased needle is a substring of the lowercased title, description
or external_ref; for texts with Dutch diacritics, upper case, LIKE wildcards, quotes, the NUL
sign "␀" and needles shorter than a trigram. On SQLite and PostgreSQL; the index follows
amendments of the texts and deleted rows."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import delete, event, update

from ledger.db import repository
from ledger.db.models import SEARCH_TABLE, Commitment
from ledger.db.projection import _search_text
from ledger.status import STATUSES
from tests.db.databases import Database
from tests.db.test_lists_keyset import expected_ids, ids
from tests.db.test_lists_status_sql import insert_rows, python_status
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


WORDS = ("fietspad", "brug", "school")
searched_row = st.fixed_dictionaries({
    "withdrawn": st.booleans(),
    "delivered_quantity": st.integers(0, 2),
    "due_date": st.integers(1, 6),
    "original_due_date": st.integers(1, 6),
    "met_at": st.one_of(st.none(), st.integers(0, 7)),
    "met_on_record_at": st.one_of(st.none(), st.integers(0, 7)),
    "progress_bps": st.integers(0, 3),
    "last_change_block": st.integers(2, 4),
    "title": st.sampled_from(WORDS),
})


def searched(rows: list[dict]) -> list[dict]:
    """The rows with their texts and both clocks' original-terms dates as the current ones."""
    return [{**r, "met_at_original_terms": r["met_at"], "met_on_record_at_original_terms": r["met_on_record_at"],
             "external_ref": f"r#{i}", "search_text": _search_text(r["title"], "", f"r#{i}")}
            for i, r in enumerate(rows, start=1)]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(searched_row, min_size=1, max_size=14),
    now=st.integers(0, 7),
    limit=st.integers(1, 3),
    wanted=st.sets(st.sampled_from(STATUSES), max_size=2),
    on_record=st.sets(st.sampled_from(STATUSES), max_size=2),
    word=st.sampled_from(WORDS),
    in_municipality=st.booleans(),
)
def test_a_search_with_status_filters_pages_what_a_python_filter_finds_in_every_sort(
    status_db: Database, rows: list[dict], now: int, limit: int, wanted: set[str], on_record: set[str], word: str,  # noqa: F811
    in_municipality: bool,
) -> None:
    """A text search with status filters pages the rows a Python filter finds, in each sort's
    order, both ways by cursor and by offset: also when the page is read by testing the rows
    in the order's index (a frequent word and a small page: the status conditions then
    offer no index of their own), within the municipality (1, every row's) or not."""
    rows = searched(rows)
    with status_db.sessions() as session:
        insert_rows(session, rows)
        session.commit()
        for sort in repository.COMMITMENT_SORTS:
            kept = [r for r in rows if word in r["title"] and python_status(r, "status_on_record", now) in (on_record or STATUSES)]
            kept_ids = {int(r["external_ref"].removeprefix("r#")) for r in kept}
            expected = [i for i in expected_ids([{**r, "last_change_log_index": i} for i, r in enumerate(rows, start=1)],
                                                sort, now, wanted) if i in kept_ids]
            args = dict(q=word.upper(), statuses=sorted(wanted), statuses_on_record=sorted(on_record), sort=sort, limit=limit,
                        municipality_id=1 if in_municipality else None)
            page = repository.list_commitments_page(session, now, **args)
            assert page.total == len(expected), sort
            forward = ids(page)
            while page.next_cursor is not None:
                page = repository.list_commitments_page(session, now, after=page.next_cursor, **args)
                forward += ids(page)
            assert forward == expected, sort
            backward = ids(page)
            while page.prev_cursor is not None:
                page = repository.list_commitments_page(session, now, before=page.prev_cursor, **args)
                backward = ids(page) + backward
            assert backward == expected, sort
            for offset in range(0, len(expected) + 1, limit):
                assert ids(repository.list_commitments_page(session, now, offset=offset, **args)) == \
                    expected[offset : offset + limit], (sort, offset)


@pytest.mark.parametrize("sort", ["id", "due_date", "-last_change", "status"])
def test_a_frequent_word_with_a_status_filter_is_read_in_the_order_index_without_sorting(
    status_db: Database, sort: str  # noqa: F811
) -> None:
    """SQLite (issue 8): a page of a search that most rows match, with a status filter, is read
    by walking the sort's index and testing each row (it stops when the page is full), not by
    reading every row of the status through its index and sorting them all."""
    if status_db.backend != "sqlite":
        pytest.skip("PostgreSQL's planner weighs the pg_trgm index itself")
    rows = searched([{**OPEN, "due_date": 1 + i % 2, "progress_bps": 0, "last_change_block": 2, "title": "fietspad"}
                     for i in range(300)])
    statements: list[tuple[str, Any]] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        statements.append((statement, parameters))

    with status_db.sessions() as session:
        insert_rows(session, rows)
        session.commit()
        event.listen(status_db.engine, "before_cursor_execute", seen)
        try:
            page = repository.list_commitments_page(session, 2, q="fietspad", statuses=["overdue"], sort=sort, limit=20)
        finally:
            event.remove(status_db.engine, "before_cursor_execute", seen)
        assert page.total == 150 and len(page.rows) == 20
        reads = [(s, p) for s, p in statements if "JOIN municipalities" in s]
        assert reads
        for statement, parameters in reads:
            plan = [row[3] for row in session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)]
            assert not any("TEMP B-TREE FOR ORDER BY" in step for step in plan), plan
            assert not any("ix_commitments_status_due" in step for step in plan), plan


def test_a_combining_accent_finds_the_precomposed_text_and_back(status_db: Database) -> None:  # noqa: F811
    """Texts and needles are compared in NFC (``search_fold``): "educacio\\u0301n" (e + U+0301)
    finds "Educación" and "Woning-e\\u0301" typed as the title is found by "woning-é"."""
    rows = [row(1, "Educación pública", "", "a"), row(2, "Woning-e\u0301 renovatie", "", "b"), row(3, "Educacion", "", "c")]
    with status_db.sessions() as session:
        insert_rows(session, rows)
        session.commit()
        assert found(session, "educacio\u0301n") == ([1], 1)
        assert found(session, "EDUCACIÓN") == ([1], 1)
        assert found(session, "woning-\u00e9") == ([2], 1)
        assert found(session, "woning-e\u0301") == ([2], 1)
        assert found(session, "educacion") == ([3], 1)
