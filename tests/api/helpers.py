"""Shared constants and helpers of the API tests."""

from __future__ import annotations

import itertools
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

PROBLEM = "application/problem+json"

REPO_ROOT = Path(__file__).resolve().parents[2]
SOURCES_DIR = Path(__file__).resolve().parent / "sources"
BAARN_SOURCE = {
    "id": "baarn-test-agreement",
    "name": "Test agreement",
    "publisher": "Gemeente Baarn",
    "url": "https://example.org/agreement.pdf",
    "licence": "Public government text",
    "credit": "Test agreement — Gemeente Baarn — https://example.org/agreement.pdf — Public government text",
    "follow_up": True,
}
MAX_EVIDENCE_BYTES = 64 * 1024
"""Evidence size limit of the test app, bytes (small, so the 413 tests stay fast)."""


@dataclass(frozen=True)
class Account:
    """A test account of the 2.1.0 roles (anvil development keys the module roles do not use)."""

    key: str

    @property
    def address(self) -> str:
        from eth_account import Account as EthAccount

        return EthAccount.from_key(self.key).address


CONFIRMER = Account("0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356")
"""Anvil key 7: a confirmer of Baarn (an inspector)."""
RELAYER = Account("0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97")
"""Anvil key 8: the API's relayer."""
SIGNER = Account("0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6")
"""Anvil key 9: a Baarn registrar who signs with its own wallet and holds no token."""


@dataclass(frozen=True)
class Part2Tokens:
    """Staff tokens of the ``part2`` fixture (2.1.0 roles)."""

    confirmer: str  # CONFIRMER, confirmer role only
    registrar_and_confirmer: str  # roles.registrar, both roles (and a confirmer on chain)
    stranger_confirmer: str  # roles.stranger: a confirmer-role token of an account no confirmer on chain


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


ZERO_BYTES32 = b"\x00" * 32
DAY = 86_400
PROMISED = 1_655_071_200
"""2022-06-12T22:00:00Z (13 June 2022, 00:00 in Baarn): the council adopted the agreement."""
DUE_2030 = 1_924_988_399
"""2030-12-31T22:59:59Z."""


def assert_problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    """The problem+json body of ``response``, after checking its status, media type and type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    return body


def iso(seconds: int) -> str:
    """Unix seconds as the API's ISO 8601 UTC text."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def commitment_input(
    municipality_id: int, external_ref: str, title: str, *, target: int, due: int, promised_at: int = PROMISED,
    description: str = "", theme: str = "", unit: str = "stuks", source: bytes = ZERO_BYTES32, source_uri: str = "",
    parent_id: int = 0, weight: int = 0,
) -> tuple[Any, ...]:
    """``CommitmentInput`` (2.1.0 ABI order) for writing straight to the chain."""
    return (municipality_id, external_ref, title, description, theme, target, unit, promised_at, due, source, source_uri,
            parent_id, weight)


def delivery_input(
    quantity: int, delivered_at: int, hashes: list[str], *, uri: str = "", note: str = "", external_ref: str = "",
    asset_ref: str = "",
) -> tuple[Any, ...]:
    """``DeliveryInput`` (2.1.0 ABI order); ``hashes`` as ``0x`` hex."""
    return (quantity, delivered_at, [bytes.fromhex(h[2:]) for h in hashes], uri, note, external_ref, asset_ref)


def amendment_input(
    expected: int, reason: str, *, title: str | None = None, description: str | None = None,
    target: int | None = None, due: int | None = None,
) -> tuple[Any, ...]:
    """``AmendmentInput`` (v2 ABI order): only the fields given are named (AMEND_* bits)."""
    bits = (title is not None) * 1 + (description is not None) * 2 + (target is not None) * 4 + (due is not None) * 8
    return (expected, bits, title or "", description or "", target or 0, due or 0, reason)


def increase_time(rpc_url: str, seconds: int) -> None:
    """Move the test chain's clock forward and mine a block (anvil's ``evm_increaseTime``)."""
    for method, params in (("evm_increaseTime", [seconds]), ("evm_mine", [])):
        response = httpx.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        assert "error" not in response.json(), response.text


_serial = itertools.count(1)


def unique_ref(prefix: str = "ref") -> str:
    """An external reference no other test of this run uses (tests share a module's ledger)."""
    return f"{prefix}-{next(_serial)}"


def commitment_body(external_ref: str | None = None, **changes: Any) -> dict[str, Any]:
    """A valid ``POST /staff/commitments`` body with a fresh external reference."""
    return {"external_ref": external_ref or unique_ref("c"), "title": "Belofte", "target_quantity": "10",
            "unit": "stuks", "promised_at": PROMISED, "due_date": DUE_2030, **changes}


@dataclass(frozen=True)
class Made:
    """A commitment a test registered for itself."""

    id: int
    external_ref: str


def register(client: Any, token: str, **changes: Any) -> Made:
    """Register a fresh commitment through the API for ``token``'s municipality."""
    body = commitment_body(**changes)
    response = client.post("/api/v1/staff/commitments", json=body, headers=Tokens.header(token))
    assert response.status_code == 201, response.text
    return Made(response.json()["commitment_id"], body["external_ref"])


def deliver(client: Any, token: str, commitment_id: int, **data: Any) -> int:
    """Record a delivery on ``commitment_id`` through the API (by hash only); its id."""
    form = {"quantity": "1", "delivered_at": "1736938800", "evidence_sha256": "0x" + "e1" * 32, **data}
    response = client.post(f"/api/v1/staff/commitments/{commitment_id}/deliveries", data=form,
                           headers=Tokens.header(token))
    assert response.status_code == 201, response.text
    return response.json()["delivery_id"]


def delivery_id(commitment_id: int, number: int) -> int:
    """The id of the ``number``-th delivery of ``commitment_id`` (``commitment_id * 1_000_000 + n``)."""
    return commitment_id * 1_000_000 + number
