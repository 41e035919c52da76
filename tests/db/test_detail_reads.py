"""The detail of one commitment, its first pages and the document check, read with a few Core
statements (``repository.get_commitment``, ``commitment_deliveries``, ``commitment_timeline``,
``verify_hash``), give exactly the answers of the ORM path they replaced
(``tests/db/legacy_reads.py``), on SQLite and PostgreSQL, for commitments with many deliveries
(over a page, exactly a page, one more), batched ones, amendments, verdicts of two confirmers,
revocations, sub-commitments, a withdrawal, shared and repeated evidence, and none at all."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from ledger.db import repository
from ledger.db.projection import apply_events, save_checkpoint
from tests.db import batch_files, legacy_reads
from tests.db.databases import BACKENDS, Database, fresh_database
from tests.db.script import CONFIRMER, DAY, OTHER, Script, sha

LONG, PARENT, CHILD_A, CHILD_B, WITHDRAWN, FULL_PAGE, PAGE_AND_ONE, EMPTY, BATCHED_ONLY = range(1, 10)
COMMITMENTS = range(1, 10)
UNKNOWN = 99
NOW_OFFSETS = (0, 400 * DAY)
"""Read now and long after every due date (statuses turn)."""
SHARED = sha("shared-report")
SOURCE = sha("coalition-agreement")


def _script() -> tuple[Script, batch_files.BatchFile, batch_files.BatchFile]:
    s = Script()
    s.municipality(1)
    s.registrar(1)
    s.confirmer(1)
    s.confirmer(1, account=OTHER)
    s.next_block()
    long = s.commitment(LONG, target_quantity=10_000, title="Lange geschiedenis", source_document_hash=SOURCE)
    s.commitment(PARENT, title="Ouder")
    s.commitment(CHILD_A, parent_id=PARENT, weight=3, title="Kind A")
    s.commitment(CHILD_B, parent_id=PARENT, weight=1, title="Kind B", source_document_hash=SOURCE)
    withdrawn = s.commitment(WITHDRAWN, title="Ingetrokken")
    s.commitment(FULL_PAGE, target_quantity=40)
    s.commitment(PAGE_AND_ONE, target_quantity=40)
    s.commitment(EMPTY)
    s.commitment(BATCHED_ONLY)
    for n in range(1, 131):
        if n % 9 == 1:
            s.next_block()
        evidence = [sha(f"doc-{n}")] + ([SHARED] if n % 11 == 0 else []) + ([sha(f"doc-{n}")] if n % 13 == 0 else [])
        s.delivery(LONG, n, 1, s.time - DAY, evidence=evidence, note=f"levering {n}")
        if n % 10 == 0:
            s.revoke(LONG, n)
        if n % 7 == 0:
            s.confirm(LONG, n)
        if n % 21 == 0:
            s.dispute(LONG, n, confirmer=OTHER)
        if n == 42:
            s.dispute(LONG, n)  # the same confirmer changes its verdict: only the latest counts
    for commitment_id, count in ((FULL_PAGE, repository.DETAIL_PAGE_SIZE), (PAGE_AND_ONE, repository.DETAIL_PAGE_SIZE + 1)):
        s.next_block()
        for n in range(1, count + 1):
            s.delivery(commitment_id, n, 1, s.time - 40 * DAY, evidence=[] if n % 5 == 0 else [sha(f"p{commitment_id}-{n}")])
    s.next_block()
    s.delivery(CHILD_A, 1, 60, s.time - DAY, evidence=[SHARED])
    s.delivery(PARENT, 1, 5, s.time - DAY, evidence=[SHARED, sha("parent-1")])
    s.confirm(PARENT, 1, confirmer=OTHER)
    s.next_block()
    first = batch_files.build([batch_files.leaf(LONG, 2, s.time - DAY, [SHARED, sha(f"leaf-{i}")], ref=f"leaf-{i}") for i in range(12)])
    s.anchor(first.root, first.sha256, 12)
    s.next_block()
    second = batch_files.build([batch_files.leaf(BATCHED_ONLY, 3, s.time - DAY, ref=f"only-{i}") for i in range(3)]
                               + [batch_files.leaf(LONG, 1, s.time - DAY, ref="late-leaf")])
    s.anchor(second.root, second.sha256, 4)
    s.next_block()
    s.revoke_leaf(first.root, first.leaf_hashes[-1], LONG)
    s.confirm_leaf(first.root, first.leaf_hashes[0], LONG)
    s.dispute_leaf(second.root, second.leaf_hashes[1], BATCHED_ONLY, confirmer=OTHER)
    s.amend(LONG, 1, previous_target=10_000, previous_due=long.args["due_date"], target=20_000)
    s.next_block(seconds=10 * DAY)
    s.amend(LONG, 2, previous_target=20_000, previous_due=long.args["due_date"], due=long.args["due_date"] + 90 * DAY,
            title="Langere geschiedenis", reason="raadsbesluit")
    s.amend(WITHDRAWN, 1, previous_target=100, previous_due=withdrawn.args["due_date"], description="nieuw")
    s.withdraw(WITHDRAWN)
    return s, first, second


@pytest.fixture(scope="module", params=BACKENDS)
def index(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, Script]]:
    """The index of the module docstring on each backend (built once per backend)."""
    s, first, second = _script()
    files = {first.sha256: first.data, second.sha256: second.data}
    with fresh_database(request.param, Path(tmp_path_factory.mktemp("detail"))) as db:
        with db.sessions.begin() as session:
            apply_events(session, s.events, s.block_times, batch_files=files.get)
            save_checkpoint(session, s.block, "0x" + f"{s.block:064x}", s.block, s.time)
        yield db, s


def _stored(sha256: str) -> bool:
    """Some evidence files are stored here, most not."""
    return sha256 in (SHARED, sha("doc-3"), sha("p6-1"))


def _hashes(s: Script) -> list[str]:
    found = {SOURCE, SHARED, "0x" + "ab" * 32}
    for event in s.events:
        found.update(event.args.get("evidence_hashes", []))
    return sorted(found)


def test_the_index_has_what_the_comparison_needs(index: tuple[Database, Script]) -> None:
    db, s = index
    with db.sessions() as session:
        long = legacy_reads.get_commitment(session, LONG, s.time)
        parent = legacy_reads.get_commitment(session, PARENT, s.time)
        reviews = {d["review"] for d in legacy_reads.first_deliveries(session, LONG, 100, None)["data"]}
    assert long is not None and parent is not None
    assert long["deliveries_count"] == 130 + 12 + 1
    assert long["timeline_count"] > repository.DETAIL_PAGE_SIZE
    assert len(long["amendments"]) == 2
    assert reviews == {"confirmed", "disputed", "unconfirmed"}
    assert parent["children"] == [CHILD_A, CHILD_B]


@pytest.mark.parametrize("commitment_id", [*COMMITMENTS, UNKNOWN])
@pytest.mark.parametrize("page_size", [repository.DETAIL_PAGE_SIZE, 0, 1, 7, repository.MAX_PAGE_LIMIT])
def test_a_detail_equals_the_orm_detail(index: tuple[Database, Script], commitment_id: int, page_size: int) -> None:
    db, s = index
    for offset in NOW_OFFSETS:
        for stored in (None, _stored):
            with db.sessions() as session:
                new = repository.get_commitment(session, commitment_id, s.time + offset, evidence_stored=stored,
                                                page_size=page_size)
                old = legacy_reads.get_commitment(session, commitment_id, s.time + offset, evidence_stored=stored,
                                                  page_size=page_size)
            assert new == old


@pytest.mark.parametrize("commitment_id", [*COMMITMENTS, UNKNOWN])
@pytest.mark.parametrize("limit", [repository.DETAIL_PAGE_SIZE, 1, 13, repository.MAX_PAGE_LIMIT])
def test_first_pages_equal_the_orm_pages(index: tuple[Database, Script], commitment_id: int, limit: int) -> None:
    db, _ = index
    with db.sessions() as session:
        deliveries = repository.commitment_deliveries(session, commitment_id, limit=limit, evidence_stored=_stored)
        timeline = repository.commitment_timeline(session, commitment_id, limit=limit)
        assert deliveries == legacy_reads.first_deliveries(session, commitment_id, limit, _stored)
        assert timeline == legacy_reads.first_timeline(session, commitment_id, limit)


def test_the_next_pages_follow_the_first_ones(index: tuple[Database, Script]) -> None:
    db, _ = index
    with db.sessions() as session:
        everything = legacy_reads.first_deliveries(session, LONG, repository.MAX_PAGE_LIMIT * 2, None)["data"]
        seen, cursor = [], None
        while True:
            page = repository.commitment_deliveries(session, LONG, after=cursor, limit=repository.DETAIL_PAGE_SIZE)
            seen += page["data"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert [d["id"] for d in seen] == [d["id"] for d in everything] and len(seen) == 143


def test_the_document_check_equals_the_orm_check(index: tuple[Database, Script]) -> None:
    db, s = index
    hashes = _hashes(s)
    with db.sessions() as session:
        for sha256 in hashes:
            assert repository.verify_hash(session, sha256) == legacy_reads.verify_hash(session, sha256)
            assert repository.verify_hash(session, sha256.upper().replace("0X", "")) == legacy_reads.verify_hash(session, sha256)
        shared = repository.verify_hash(session, SHARED)
    assert {c["kind"] for c in shared["citations"]} == {"recorded", "batched"}
    assert any(c["revoked"] for c in shared["citations"])


def test_a_malformed_hash_is_refused_by_both(index: tuple[Database, Script]) -> None:
    db, _ = index
    with db.sessions() as session:
        for read in (repository.verify_hash, legacy_reads.verify_hash):
            with pytest.raises(ValueError):
                read(session, "0x1234")


def test_municipality_codes_for_some_none_and_all(index: tuple[Database, Script]) -> None:
    db, _ = index
    with db.sessions() as session:
        assert repository.municipality_codes(session, [1, 5]) == {1: "GM0308"}
        assert repository.municipality_codes(session, []) == {}
        assert repository.municipality_codes(session) == {1: "GM0308"}
