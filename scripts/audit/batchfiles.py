"""Finding the file of an anchored batch (docs/LEDGER.md "Batches": the tree's
StandardMerkleTree dump, whose SHA-256 is the anchored ``fileSha256``).

The auditor names where to look; nothing found there is trusted. Candidates, best first:

1. in ``--batch-dir``: a file whose SHA-256 is ``fileSha256`` (the file named
   ``<sha256 hex>.json`` first, then any other file of the folder, hashed once);
2. with ``--batch-files-from-api``: the bytes the API serves at
   ``GET /api/v1/batches/{root}/file``, when their SHA-256 matches;
3. otherwise the file named ``<sha256 hex>.json`` or the API's bytes even though their
   SHA-256 differs (the batch is then reported ``sha256_mismatch``, not ``missing``).

Whether a batch counts is decided by :func:`scripts.audit.batchcheck.check_batch` on the bytes
chosen here, against the chain's ``fileSha256`` and ``root`` only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from scripts.audit.errors import ReplayConfigError


def sha256_hex(data: bytes) -> str:
    """``0x`` + the 64 lowercase hex characters of SHA-256 of ``data``."""
    return "0x" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class BatchFile:
    """Bytes offered as a batch's file and where they came from (``"dir:<path>"`` or
    ``"api"``)."""

    data: bytes
    source: str


class BatchFiles:
    """Where the replay looks for batch files.

    Args:
        directory: the ``--batch-dir`` folder, or ``None``.
        fetch: reads a batch's file from elsewhere by root (the API), ``None`` when absent;
            ``None`` to look nowhere else.

    Raises:
        ReplayConfigError: ``directory`` is given but is not a folder.
    """

    def __init__(self, directory: Path | None = None, fetch: Callable[[str], bytes | None] | None = None) -> None:
        if directory is not None and not directory.is_dir():
            raise ReplayConfigError(f"--batch-dir {directory} is not a folder.")
        self.directory = directory
        self.fetch = fetch
        self._by_sha256: dict[str, Path] | None = None

    def _named(self, file_sha256: str) -> Path | None:
        """The file of the folder named by the SHA-256 (``<hex>.json``, ``0x<hex>.json``)."""
        if self.directory is None:
            return None
        digits = file_sha256.lower().removeprefix("0x")
        for name in (f"{digits}.json", f"0x{digits}.json"):
            path = self.directory / name
            if path.is_file():
                return path
        return None

    def _index(self) -> dict[str, Path]:
        """SHA-256 → file, over every regular file of the folder (hashed once per replay)."""
        if self._by_sha256 is None:
            self._by_sha256 = {}
            if self.directory is not None:
                for path in sorted(p for p in self.directory.iterdir() if p.is_file()):
                    self._by_sha256.setdefault(sha256_hex(path.read_bytes()), path)
        return self._by_sha256

    def candidates(self, root: str, file_sha256: str) -> list[BatchFile]:
        """Every file offered for the batch ``root`` anchored with ``file_sha256``, best
        first (module docstring); empty when none is found.

        Raises:
            ReplayError: the API could not be read (only when ``fetch`` raises it).
        """
        wanted = file_sha256.lower()
        named = self._named(wanted)
        offered: list[BatchFile] = []
        if named is not None:
            offered.append(BatchFile(named.read_bytes(), f"dir:{named}"))
        if not offered or sha256_hex(offered[0].data) != wanted:
            match = self._index().get(wanted)
            if match is not None:
                offered.insert(0, BatchFile(match.read_bytes(), f"dir:{match}"))
        if (not offered or sha256_hex(offered[0].data) != wanted) and self.fetch is not None:
            fetched = self.fetch(root)
            if fetched is not None:
                api = BatchFile(fetched, "api")
                offered.insert(0 if sha256_hex(fetched) == wanted else len(offered), api)
        return offered
