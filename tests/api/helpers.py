"""Shared constants and helpers of the API tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROBLEM = "application/problem+json"

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
