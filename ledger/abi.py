"""Compiled contract artifacts, read from brownie's build folder (``make compile``).

The event and error ABI comes from the interface ``ICommitmentLedger`` (the public surface
off-chain code reads); deployment needs the implementation's bytecode.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from ledger.errors import ArtifactNotFoundError

BUILD_DIR = Path(__file__).resolve().parent.parent / "build" / "contracts"
INTERFACE_NAME = "ICommitmentLedger"
CONTRACT_NAME = "CommitmentLedger"


def _artifact(name: str, build_dir: Path) -> dict[str, Any]:
    path = build_dir / f"{name}.json"
    if not path.exists():
        raise ArtifactNotFoundError(str(path))
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=4)
def ledger_abi(build_dir: Path = BUILD_DIR) -> list[dict[str, Any]]:
    """ABI of the ledger: the interface's functions, events and errors plus the
    implementation's extra views and the OpenZeppelin ownership events/errors.

    Raises:
        ArtifactNotFoundError: the contracts are not compiled.
    """
    interface = _artifact(INTERFACE_NAME, build_dir)["abi"]
    implementation = _artifact(CONTRACT_NAME, build_dir)["abi"]
    seen = {(e["type"], e.get("name")) for e in interface}
    return interface + [e for e in implementation if (e["type"], e.get("name")) not in seen]


def ledger_bytecode(build_dir: Path = BUILD_DIR) -> str:
    """Deployable bytecode of ``CommitmentLedger`` (hex, ``0x``-prefixed)."""
    code = _artifact(CONTRACT_NAME, build_dir)["bytecode"]
    return code if code.startswith("0x") else "0x" + code
