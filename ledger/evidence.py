"""Content-addressed store of evidence files, on the local file system (POSIX).

A file is named by the SHA-256 of its bytes (``<64 lowercase hex>``, no ``0x``) inside the
store's folder; its media type is kept beside it in ``<hex>.json`` (``{"media_type": ...,
"size_bytes": ...}``). A reader never sees a partial file under a hash name: bytes are
written elsewhere, ``fsync``-ed and renamed in atomically. Storing the same bytes twice is a
no-op (the first media type stays).

Uploads whose fate is not decided yet are *staged* (:meth:`EvidenceStore.stage`) in
``<store>/.staging/<folder>/``, one folder per :class:`EvidenceStore` object, locked with
``flock`` for as long as the process lives. They are then promoted into the store
(:meth:`~EvidenceStore.promote`) or discarded (:meth:`~EvidenceStore.discard`). Staged files
of a process that died are promoted by :meth:`~EvidenceStore.promote_leftovers` (run at
start-up); folders of live processes are left alone, so several processes may share a store.

Hashes are accepted with or without ``0x`` and in any case; they are returned as ``0x`` +
64 lowercase hex characters, the form used on chain and in the API.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ledger.errors import EvidenceError, EvidenceTooLargeError

CHUNK_BYTES = 1024 * 1024
"""Read size while hashing or storing, bytes."""

DEFAULT_MEDIA_TYPE = "application/octet-stream"

STAGING_DIR = ".staging"
"""Folder of staged uploads inside the store's folder (never a hash name, so never served)."""

STAGING_LOCK = "lock"
"""Name of the lock file in each process's staging folder; its owner holds an exclusive
``flock`` on it until it exits (the kernel releases it when the process dies)."""

logger = logging.getLogger("ledger.evidence")

_SHA256 = re.compile(r"^(?:0x)?([0-9a-fA-F]{64})$")
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


class EvidenceNotFoundError(EvidenceError, FileNotFoundError):
    """No evidence file with this hash is stored here (it may still be cited on chain)."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"No evidence file {sha256} is stored here.")
        self.sha256 = sha256


class EvidenceEmptyError(EvidenceError, ValueError):
    """An evidence file has no bytes (nothing is staged)."""

    def __init__(self) -> None:
        super().__init__("The evidence file is empty (0 bytes).")


class InvalidEvidenceHashError(EvidenceError, ValueError):
    """A hash is not 64 hexadecimal characters (optionally ``0x``-prefixed)."""

    def __init__(self, value: str) -> None:
        super().__init__(f"{value[:80]!r} is not a SHA-256 hash: 64 hex characters, optional 0x prefix.")
        self.value = value


def normalise_sha256(value: str) -> str:
    """``value`` as ``0x`` + 64 lowercase hex characters.

    Raises:
        InvalidEvidenceHashError: not 64 hex characters with an optional ``0x``.
    """
    match = _SHA256.match(value)
    if match is None:
        raise InvalidEvidenceHashError(value)
    return "0x" + match.group(1).lower()


def normalise_media_type(value: str | None) -> str:
    """The ``type/subtype`` part of a Content-Type, lower case, or
    ``application/octet-stream`` when missing or malformed (parameters are dropped)."""
    if not value:
        return DEFAULT_MEDIA_TYPE
    essence = value.split(";", 1)[0].strip().lower()
    return essence if _MEDIA_TYPE.match(essence) else DEFAULT_MEDIA_TYPE


def hash_stream(fileobj: BinaryIO, max_bytes: int) -> tuple[str, int]:
    """SHA-256 and size of a stream, read in chunks of :data:`CHUNK_BYTES`; nothing is kept.

    Args:
        fileobj: a binary stream, read from its current position to the end.
        max_bytes: largest accepted size, bytes (inclusive).

    Returns:
        ``("0x" + 64 hex, size in bytes)``.

    Raises:
        EvidenceTooLargeError: the stream is longer than ``max_bytes`` (reading stops at the
            first chunk past the limit; the reported size is what was read so far).
    """
    digest = hashlib.sha256()
    size = 0
    while chunk := fileobj.read(CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise EvidenceTooLargeError(size, max_bytes)
        digest.update(chunk)
    return "0x" + digest.hexdigest(), size


@dataclass(frozen=True)
class StagedFile:
    """An upload written to the staging area (:meth:`EvidenceStore.stage`), not in the store.

    Attributes:
        sha256: ``"0x"`` + 64 lowercase hex, the SHA-256 of its bytes.
        size_bytes: its size in bytes (at least 1).
        path: the staged bytes, ``<store>/.staging/<folder>/<name>.upload``; beside it
            ``<name>.json`` records ``{"sha256", "media_type", "size_bytes"}``.
    """

    sha256: str
    size_bytes: int
    path: Path

    @property
    def record(self) -> Path:
        """The staged file's record, ``<name>.json``."""
        return self.path.with_suffix(".json")


class EvidenceStore:
    """Evidence files by SHA-256 in one folder (created if missing), with a staging area.

    Thread-safe. The object's staging folder is made (and locked) by its first
    :meth:`stage` and kept, locked, until the process exits.

    Args:
        directory: the store's folder.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._staging_root = self.directory / STAGING_DIR
        self._staging: Path | None = None
        self._staging_lock_fd: int | None = None  # held open: closing it would drop the lock
        self._staging_guard = threading.Lock()

    # ------------------------------------------------------------------ paths

    def path(self, sha256: str) -> Path:
        """Where the file with this hash is (or would be) stored.

        Raises:
            InvalidEvidenceHashError: malformed hash (never a path outside the store).
        """
        return self.directory / normalise_sha256(sha256)[2:]

    def _meta_path(self, sha256: str) -> Path:
        return self.path(sha256).with_suffix(".json")

    # ------------------------------------------------------------------ reads

    def exists(self, sha256: str) -> bool:
        """Whether a file with this hash is stored here. A malformed hash is never stored."""
        try:
            return self.path(sha256).is_file()
        except InvalidEvidenceHashError:
            return False

    def open(self, sha256: str) -> BinaryIO:
        """The stored file, opened for binary reading (the caller closes it).

        Raises:
            EvidenceNotFoundError: nothing stored under this hash.
            InvalidEvidenceHashError: malformed hash.
        """
        try:
            return open(self.path(sha256), "rb")
        except FileNotFoundError as exc:
            raise EvidenceNotFoundError(normalise_sha256(sha256)) from exc

    def read_bytes(self, sha256: str) -> bytes | None:
        """The exact bytes stored under this hash, or ``None`` when nothing is (or the hash is
        malformed). The bytes are not re-hashed: a reader that needs to trust them checks
        their SHA-256 itself (the indexer does, for batch files: ``ledger.merkle``).

        Raises:
            OSError: the file exists but cannot be read.
        """
        try:
            with open(self.path(sha256), "rb") as fh:
                return fh.read()
        except (FileNotFoundError, InvalidEvidenceHashError):
            return None

    def media_type(self, sha256: str) -> str:
        """The media type recorded when the file was stored (``application/octet-stream``
        if none was recorded).

        Raises:
            EvidenceNotFoundError: nothing stored under this hash.
            InvalidEvidenceHashError: malformed hash.
        """
        if not self.exists(sha256):
            raise EvidenceNotFoundError(normalise_sha256(sha256))
        try:
            meta = json.loads(self._meta_path(sha256).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return DEFAULT_MEDIA_TYPE
        return normalise_media_type(meta.get("media_type"))

    # ------------------------------------------------------------------ writes

    def stage(self, fileobj: BinaryIO, max_bytes: int, media_type: str | None) -> StagedFile:
        """Write a stream to this object's staging folder, hashing it on the way; the store
        itself does not change.

        The bytes go to a new unique ``<name>.upload`` and are fsynced; then the record
        ``<name>.json`` is written (fsynced, renamed in). A staged file without a readable
        record is incomplete: :meth:`promote_leftovers` deletes it, never promotes it.

        Args:
            fileobj: binary stream, read from its current position to the end.
            max_bytes: largest accepted size, bytes (inclusive).
            media_type: the uploader's Content-Type (normalised; malformed or missing becomes
                ``application/octet-stream``).

        Returns:
            The staged file, to hand to :meth:`promote` or :meth:`discard`.

        Raises:
            EvidenceTooLargeError: longer than ``max_bytes`` (reading stops at the first
                chunk past it); nothing stays staged.
            EvidenceEmptyError: no bytes; nothing stays staged.
        """
        fd, name = tempfile.mkstemp(suffix=".upload", dir=self._own_staging())
        path = Path(name)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                while chunk := fileobj.read(CHUNK_BYTES):
                    size += len(chunk)
                    if size > max_bytes:
                        raise EvidenceTooLargeError(size, max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
                if size == 0:
                    raise EvidenceEmptyError()
                out.flush()
                os.fsync(out.fileno())
            staged = StagedFile("0x" + digest.hexdigest(), size, path)
            _write_record(staged.record, {"sha256": staged.sha256, "media_type": normalise_media_type(media_type),
                                          "size_bytes": size})
        except BaseException:
            path.unlink(missing_ok=True)
            path.with_suffix(".json").unlink(missing_ok=True)
            raise
        return staged

    def promote(self, staged: StagedFile) -> bool:
        """Move a staged file into the store under its hash, then remove its staged record.

        If the hash is not stored yet, the media type record ``<hex>.json`` is written first,
        then the bytes are renamed to ``<hex>`` (``os.replace``: atomic, same file system), so
        a reader never finds the file without its media type. If it is stored already, the
        staged copy is dropped and the stored file keeps its media type. (Two promotions of the
        same new bytes at the same moment both rename identical bytes in; either media type
        may stay.)

        Returns:
            Whether the file was new to the store.

        Raises:
            FileNotFoundError: the staged file is gone (discarded, or promoted already) and
                its hash is not stored.
            OSError: the file system failed; the file stays staged (a later start-up
                promotes it, see :meth:`promote_leftovers`).
        """
        final = self.path(staged.sha256)
        new = not final.is_file()
        if new:
            os.chmod(staged.path, 0o644)
            record = _read_record(staged.record) or {}
            media_type = normalise_media_type(record.get("media_type"))
            _write_record(self._meta_path(staged.sha256), {"media_type": media_type, "size_bytes": staged.size_bytes})
            os.replace(staged.path, final)
            _fsync_directory(self.directory)
        self.discard(staged)
        return new

    def discard(self, staged: StagedFile) -> None:
        """Delete a staged file and its record (missing ones are no error); the store does
        not change. The staging folder is fsynced, so a crash cannot bring the file back for
        :meth:`promote_leftovers` to promote."""
        staged.path.unlink(missing_ok=True)
        staged.record.unlink(missing_ok=True)
        _fsync_directory(staged.path.parent)

    def promote_leftovers(self) -> int:
        """Promote the staged files of processes that died, and remove their staging folders.

        Run once at start-up. A folder whose lock a live process holds (this object's own
        included) is skipped, so processes sharing the store leave each other's pending
        uploads alone. In a dead process's folder every complete staged file is promoted
        (:meth:`promote`): its delivery may have been sent and cite it, and a file nothing
        cites is harmless in a content-addressed store. Incomplete ones (no readable record:
        the process died while staging, before anything was sent) are deleted.

        Returns:
            How many staged files were promoted (new to the store or already stored).

        Raises:
            OSError: the file system failed; what is left is retried by the next call.
        """
        if not self._staging_root.is_dir():
            return 0
        promoted = 0
        for folder in sorted(self._staging_root.iterdir()):
            if not folder.is_dir() or folder == self._staging:
                continue
            try:
                fd = os.open(folder / STAGING_LOCK, os.O_RDWR)
            except FileNotFoundError:  # its process died before locking it, or is locking it now
                try:
                    folder.rmdir()  # empty: nothing was staged; the locking process then retries
                except OSError:
                    pass
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live process's folder
                promoted += self._promote_folder(folder)
            finally:
                os.close(fd)
        if promoted:
            logger.info("promoted %d evidence file(s) left staged by a stopped process", promoted)
        return promoted

    def save_stream(self, fileobj: BinaryIO, max_bytes: int, media_type: str | None) -> tuple[str, int]:
        """Store a stream under its SHA-256 at once: :meth:`stage`, then :meth:`promote`. If
        the hash is already stored, the new copy is dropped (the first media type stays).

        Args:
            fileobj: binary stream, read from its current position to the end.
            max_bytes: largest accepted size, bytes (inclusive).
            media_type: the uploader's Content-Type (see :meth:`stage`).

        Returns:
            ``("0x" + 64 hex, size in bytes)``.

        Raises:
            EvidenceTooLargeError: longer than ``max_bytes``; nothing is stored.
            EvidenceEmptyError: no bytes; nothing is stored.
        """
        staged = self.stage(fileobj, max_bytes, media_type)
        try:
            self.promote(staged)
        except BaseException:
            self.discard(staged)
            raise
        return staged.sha256, staged.size_bytes

    # ------------------------------------------------------------------ staging folders

    def _own_staging(self) -> Path:
        """This object's staging folder, made and locked (exclusive ``flock`` on its
        :data:`STAGING_LOCK`, held until the process exits) on first use."""
        with self._staging_guard:
            while self._staging is None:
                self._staging_root.mkdir(exist_ok=True)
                folder = Path(tempfile.mkdtemp(dir=self._staging_root))
                lock = folder / STAGING_LOCK
                try:
                    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
                except FileNotFoundError:  # another process removed the empty folder: retry
                    continue
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    ours = os.stat(lock).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    ours = False
                if not ours:  # locked first by another process's promote_leftovers, which removed it
                    os.close(fd)
                    continue
                self._staging, self._staging_lock_fd = folder, fd
            return self._staging

    def _promote_folder(self, folder: Path) -> int:
        """Empty a dead process's staging folder (its lock held by the caller) and remove it."""
        promoted = 0
        for path in sorted(folder.glob("*.upload")):
            record = _read_record(path.with_suffix(".json"))
            try:
                staged = StagedFile(normalise_sha256(record["sha256"]), int(record["size_bytes"]), path)
                complete = staged.size_bytes == path.stat().st_size > 0
            except (TypeError, KeyError, ValueError):
                complete = False
            if complete:
                self.promote(staged)
                promoted += 1
        for path in folder.iterdir():  # incomplete uploads, records without bytes, temporary records
            if path.name != STAGING_LOCK:
                path.unlink()
        (folder / STAGING_LOCK).unlink()  # last: a process that locked it meanwhile sees it gone
        folder.rmdir()
        return promoted


def _read_record(path: Path) -> dict | None:
    """A JSON object written by :func:`_write_record`, or ``None`` if missing or unreadable."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _write_record(path: Path, data: dict) -> None:
    """Write a small JSON file atomically: a temporary file beside it, fsynced, renamed."""
    fd, tmp_name = tempfile.mkstemp(prefix=".record-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
        _fsync_directory(path.parent)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
