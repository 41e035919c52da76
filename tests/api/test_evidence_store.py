"""The content-addressed evidence store (ledger/evidence.py)."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pytest

from ledger.errors import EvidenceTooLargeError
from ledger.evidence import (
    STAGING_DIR,
    STAGING_LOCK,
    EvidenceEmptyError,
    EvidenceNotFoundError,
    EvidenceStore,
    InvalidEvidenceHashError,
    hash_stream,
    normalise_media_type,
    normalise_sha256,
)
from tests.api.helpers import stage_and_die

CONTENT = b"%PDF-1.7 council decision 2025-113\n"
SHA = "0x" + hashlib.sha256(CONTENT).hexdigest()


def stored(directory: Path) -> list[str]:
    """Names in the store's folder, staging area excluded."""
    return sorted(p.name for p in directory.iterdir() if p.name != STAGING_DIR)


def staged(directory: Path) -> list[Path]:
    """Files in the staging area, lock files excluded."""
    return sorted(p for p in (directory / STAGING_DIR).rglob("*") if p.is_file() and p.name != STAGING_LOCK)


def test_save_stream_stores_the_file_under_its_sha256_with_its_media_type(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence")
    assert store.save_stream(io.BytesIO(CONTENT), 1000, "application/pdf") == (SHA, len(CONTENT))
    assert store.exists(SHA)
    assert store.path(SHA) == tmp_path / "evidence" / SHA[2:]
    with store.open(SHA) as fh:
        assert fh.read() == CONTENT
    assert store.media_type(SHA) == "application/pdf"
    assert stored(tmp_path / "evidence") == [SHA[2:], SHA[2:] + ".json"]
    assert staged(tmp_path / "evidence") == []


def test_lookups_accept_the_hash_without_0x_and_in_upper_case(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    store.save_stream(io.BytesIO(CONTENT), 1000, "application/pdf")
    assert store.exists(SHA[2:].upper())
    assert store.media_type(SHA.upper().replace("0X", "0x")) == "application/pdf"


def test_storing_the_same_bytes_twice_keeps_the_first_media_type(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    store.save_stream(io.BytesIO(CONTENT), 1000, "application/pdf")
    assert store.save_stream(io.BytesIO(CONTENT), 1000, "text/plain") == (SHA, len(CONTENT))
    assert store.media_type(SHA) == "application/pdf"
    assert len(stored(tmp_path)) == 2


def test_a_file_over_the_limit_is_refused_and_nothing_is_left_behind(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    with pytest.raises(EvidenceTooLargeError) as refused:
        store.save_stream(io.BytesIO(b"x" * 1001), 1000, "text/plain")
    assert refused.value.max_bytes == 1000
    assert stored(tmp_path) == [] and staged(tmp_path) == []


def test_a_file_of_exactly_the_limit_is_stored(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    sha, size = store.save_stream(io.BytesIO(b"x" * 1000), 1000, None)
    assert size == 1000
    assert store.media_type(sha) == "application/octet-stream"


def test_large_files_are_hashed_across_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # > 2 chunks of 1 MiB
    store = EvidenceStore(tmp_path)
    assert store.save_stream(io.BytesIO(data), len(data), "application/octet-stream") == (
        "0x" + hashlib.sha256(data).hexdigest(),
        len(data),
    )


def test_unknown_hash_is_not_found(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    assert not store.exists(SHA)
    with pytest.raises(EvidenceNotFoundError):
        store.open(SHA)
    with pytest.raises(EvidenceNotFoundError):
        store.media_type(SHA)


def test_malformed_hashes_never_become_paths(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    assert not store.exists("../../etc/passwd")
    with pytest.raises(InvalidEvidenceHashError):
        store.path("../" + "a" * 62)
    with pytest.raises(InvalidEvidenceHashError):
        store.open("a" * 63)


def test_hash_stream_hashes_without_storing_and_enforces_the_limit() -> None:
    assert hash_stream(io.BytesIO(CONTENT), len(CONTENT)) == (SHA, len(CONTENT))
    with pytest.raises(EvidenceTooLargeError):
        hash_stream(io.BytesIO(CONTENT), len(CONTENT) - 1)


def test_media_types_are_reduced_to_type_and_subtype() -> None:
    assert normalise_media_type("Text/Plain; charset=UTF-8") == "text/plain"
    assert normalise_media_type("not a type") == "application/octet-stream"
    assert normalise_media_type('text/html"\r\nX-Evil: 1') == "application/octet-stream"
    assert normalise_media_type(None) == "application/octet-stream"


def test_normalise_sha256_adds_0x_and_lowers_case() -> None:
    assert normalise_sha256("AB" * 32) == "0x" + "ab" * 32
    assert normalise_sha256("0x" + "ab" * 32) == "0x" + "ab" * 32


def test_a_staged_file_is_outside_the_store_until_promoted(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    file = store.stage(io.BytesIO(CONTENT), len(CONTENT), "Application/PDF; x=1")
    assert (file.sha256, file.size_bytes) == (SHA, len(CONTENT))
    assert file.path.read_bytes() == CONTENT
    assert file.path.parent.parent == tmp_path / STAGING_DIR
    assert json.loads(file.record.read_text()) == {"sha256": SHA, "media_type": "application/pdf",
                                                   "size_bytes": len(CONTENT)}
    assert not store.exists(SHA) and stored(tmp_path) == []
    assert store.promote(file) is True
    assert stored(tmp_path) == [SHA[2:], SHA[2:] + ".json"] and staged(tmp_path) == []
    assert store.media_type(SHA) == "application/pdf"
    with store.open(SHA) as fh:
        assert fh.read() == CONTENT
    assert os.stat(store.path(SHA)).st_mode & 0o777 == 0o644


def test_promoting_bytes_already_stored_drops_the_copy_and_keeps_the_media_type(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    first = store.stage(io.BytesIO(CONTENT), 1000, "application/pdf")
    second = store.stage(io.BytesIO(CONTENT), 1000, "text/plain")
    assert first.path != second.path
    assert store.promote(first) is True
    assert store.promote(second) is False
    assert store.media_type(SHA) == "application/pdf"
    assert stored(tmp_path) == [SHA[2:], SHA[2:] + ".json"] and staged(tmp_path) == []
    store.path(SHA).unlink()
    with pytest.raises(FileNotFoundError):  # staged copy gone (promoted already), hash not stored
        store.promote(first)


def test_discard_leaves_the_store_unchanged(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    store.save_stream(io.BytesIO(b"kept"), 1000, "text/plain")
    before = stored(tmp_path)
    file = store.stage(io.BytesIO(CONTENT), 1000, "application/pdf")
    store.discard(file)
    store.discard(file)  # already gone: no error
    assert stored(tmp_path) == before and staged(tmp_path) == []


@pytest.mark.parametrize(("content", "error"), [(b"", EvidenceEmptyError), (b"x" * 1001, EvidenceTooLargeError)])
def test_stage_refuses_empty_and_too_large_files_and_leaves_nothing_staged(
    tmp_path: Path, content: bytes, error: type
) -> None:
    store = EvidenceStore(tmp_path)
    with pytest.raises(error):
        store.stage(io.BytesIO(content), 1000, "text/plain")
    assert stored(tmp_path) == [] and staged(tmp_path) == []


def test_promote_leftovers_promotes_what_a_killed_process_staged(tmp_path: Path) -> None:
    stage_and_die(tmp_path, CONTENT, "application/pdf")
    stage_and_die(tmp_path, b"already stored", "text/plain")
    store = EvidenceStore(tmp_path)
    already, _ = store.save_stream(io.BytesIO(b"already stored"), 1000, "text/csv")
    assert len(staged(tmp_path)) == 2 * 2  # bytes and record of each
    assert store.promote_leftovers() == 2
    assert store.media_type(SHA) == "application/pdf"
    assert store.media_type(already) == "text/csv"  # the stored file's media type stays
    assert stored(tmp_path) == sorted([SHA[2:], SHA[2:] + ".json", already[2:], already[2:] + ".json"])
    assert [p.name for p in (tmp_path / STAGING_DIR).iterdir()] == [store._staging.name]  # dead folders removed
    assert store.promote_leftovers() == 0


def test_promote_leftovers_leaves_a_live_process_staging_alone_and_deletes_incomplete_uploads(tmp_path: Path) -> None:
    live = EvidenceStore(tmp_path)  # another process, or another store object: its lock is held
    pending = live.stage(io.BytesIO(CONTENT), 1000, "application/pdf")
    stage_and_die(tmp_path, b"complete", "text/plain")
    dead = next(p.parent for p in staged(tmp_path) if p.parent != pending.path.parent)
    (dead / "tmpcut.upload").write_bytes(b"cut off while stag")  # died while staging: no record
    assert EvidenceStore(tmp_path).promote_leftovers() == 1
    complete = hashlib.sha256(b"complete").hexdigest()
    assert stored(tmp_path) == [complete, complete + ".json"]
    assert not dead.exists()
    assert staged(tmp_path) == sorted([pending.path, pending.record])
    assert live.promote(pending) is True


def test_save_stream_refuses_an_empty_stream(tmp_path: Path) -> None:
    with pytest.raises(EvidenceEmptyError):
        EvidenceStore(tmp_path).save_stream(io.BytesIO(b""), 1000, None)
    assert stored(tmp_path) == []
