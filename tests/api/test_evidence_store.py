"""The content-addressed evidence store (ledger/evidence.py)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from ledger.errors import EvidenceTooLargeError
from ledger.evidence import (
    EvidenceNotFoundError,
    EvidenceStore,
    InvalidEvidenceHashError,
    hash_stream,
    normalise_media_type,
    normalise_sha256,
)

CONTENT = b"%PDF-1.7 council decision 2025-113\n"
SHA = "0x" + hashlib.sha256(CONTENT).hexdigest()


def test_save_stream_stores_the_file_under_its_sha256_with_its_media_type(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path / "evidence")
    assert store.save_stream(io.BytesIO(CONTENT), 1000, "application/pdf") == (SHA, len(CONTENT))
    assert store.exists(SHA)
    assert store.path(SHA) == tmp_path / "evidence" / SHA[2:]
    with store.open(SHA) as fh:
        assert fh.read() == CONTENT
    assert store.media_type(SHA) == "application/pdf"
    assert sorted(p.name for p in (tmp_path / "evidence").iterdir()) == [SHA[2:], SHA[2:] + ".json"]


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
    assert len(list(tmp_path.iterdir())) == 2


def test_a_file_over_the_limit_is_refused_and_nothing_is_left_behind(tmp_path: Path) -> None:
    store = EvidenceStore(tmp_path)
    with pytest.raises(EvidenceTooLargeError) as refused:
        store.save_stream(io.BytesIO(b"x" * 1001), 1000, "text/plain")
    assert refused.value.max_bytes == 1000
    assert list(tmp_path.iterdir()) == []


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
