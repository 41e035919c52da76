"""Content-addressed store of evidence files, on the local file system.

A file is named by the SHA-256 of its bytes (``<64 lowercase hex>``, no ``0x``) inside the
store's folder; its media type is kept beside it in ``<hex>.json`` (``{"media_type": ...,
"size_bytes": ...}``). Writes stream the upload in chunks into a temporary file in the same
folder, hash while writing, ``fsync`` and rename atomically, so a reader never sees a partial
file under a hash name. Storing the same bytes twice is a no-op (the first media type stays).

Hashes are accepted with or without ``0x`` and in any case; they are returned as ``0x`` +
64 lowercase hex characters, the form used on chain and in the API.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import BinaryIO

from ledger.errors import EvidenceError, EvidenceTooLargeError

CHUNK_BYTES = 1024 * 1024
"""Read size while hashing or storing, bytes."""

DEFAULT_MEDIA_TYPE = "application/octet-stream"

_SHA256 = re.compile(r"^(?:0x)?([0-9a-fA-F]{64})$")
_MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")


class EvidenceNotFoundError(EvidenceError, FileNotFoundError):
    """No evidence file with this hash is stored here (it may still be cited on chain)."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"No evidence file {sha256} is stored here.")
        self.sha256 = sha256


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


class EvidenceStore:
    """Evidence files by SHA-256 in one folder (created if missing).

    Args:
        directory: the store's folder.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

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

    def save_stream(self, fileobj: BinaryIO, max_bytes: int, media_type: str | None) -> tuple[str, int]:
        """Store a stream under its SHA-256.

        The bytes go to a temporary file in the store's folder while being hashed; once
        complete they are fsynced and renamed to ``<hex>`` (atomic on POSIX), after the media
        type record ``<hex>.json``. If the hash is already stored, the new copy is dropped.

        Args:
            fileobj: binary stream, read from its current position to the end.
            max_bytes: largest accepted size, bytes (inclusive).
            media_type: the uploader's Content-Type (normalised; malformed or missing becomes
                ``application/octet-stream``).

        Returns:
            ``("0x" + 64 hex, size in bytes)``.

        Raises:
            EvidenceTooLargeError: longer than ``max_bytes``; nothing is stored.
        """
        fd, tmp_name = tempfile.mkstemp(prefix=".upload-", suffix=".tmp", dir=self.directory)
        tmp = Path(tmp_name)
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
                out.flush()
                os.fsync(out.fileno())
            sha256 = "0x" + digest.hexdigest()
            final = self.path(sha256)
            if final.is_file():
                return sha256, size
            self._write_meta(sha256, normalise_media_type(media_type), size)
            os.chmod(tmp, 0o644)
            os.replace(tmp, final)
            self._fsync_directory()
            return sha256, size
        finally:
            tmp.unlink(missing_ok=True)

    def _write_meta(self, sha256: str, media_type: str, size: int) -> None:
        meta = self._meta_path(sha256)
        fd, tmp_name = tempfile.mkstemp(prefix=".meta-", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"media_type": media_type, "size_bytes": size}, out)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, meta)
        finally:
            Path(tmp_name).unlink(missing_ok=True)

    def _fsync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
