"""Shared constants and helpers of the API tests."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROBLEM = "application/problem+json"

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCES_DIR = Path(__file__).resolve().parent / "sources"
BAARN_SOURCE = {
    "name": "Test agreement",
    "publisher": "Gemeente Baarn",
    "url": "https://example.org/agreement.pdf",
    "licence": "Public government text",
    "credit": "Test agreement — Gemeente Baarn — https://example.org/agreement.pdf — Public government text",
}
MAX_EVIDENCE_BYTES = 64 * 1024
"""Evidence size limit of the test app, bytes (small, so the 413 tests stay fast)."""


@dataclass(frozen=True)
class Tokens:
    """Staff tokens by who holds them."""

    baarn: str  # roles.registrar, municipality 1
    utrecht: str  # roles.other_registrar, municipality 2
    baarn_stranger: str  # roles.stranger, who is no registrar of municipality 1

    @staticmethod
    def header(token: str) -> dict[str, str]:
        """The ``Authorization`` header for ``token``."""
        return {"Authorization": f"Bearer {token}"}


def stage_and_die(store_dir: Path, content: bytes, media_type: str) -> None:
    """Stage ``content`` in the evidence store at ``store_dir`` from another process, which is
    then killed with SIGKILL, as a server killed mid-delivery."""
    script = (
        "import io, os, signal, sys; from ledger.evidence import EvidenceStore; "
        f"EvidenceStore(sys.argv[1]).stage(io.BytesIO({content!r}), {len(content)}, {media_type!r}); "
        "os.kill(os.getpid(), signal.SIGKILL)"
    )
    done = subprocess.run([sys.executable, "-c", script, str(store_dir)], cwd=REPO_ROOT, capture_output=True)
    assert done.returncode == -9, done.stderr.decode()
