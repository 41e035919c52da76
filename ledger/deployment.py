"""The deployment record: which contract, on which chain, from which block.

Written once by ``scripts/deploy.py`` and read by the indexer, the API and the auditor.
Shape (JSON): ``{"chain_id": 31337, "contract_address": "0x..", "deploy_block": 1,
"deploy_block_hash": "0x..", "deploy_tx": "0x..", "abi_version": "2.1.0",
"deployed_at": 1764412800}`` (``deployed_at`` is the deploy block's time, Unix seconds).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel

from ledger.errors import DeploymentNotFoundError


class Deployment(BaseModel):
    """A deployed ledger contract. ``deploy_block`` is where replays start (inclusive)."""

    chain_id: int
    contract_address: str
    deploy_block: int
    deploy_block_hash: str
    deploy_tx: str
    abi_version: str
    deployed_at: int


def load_deployment(path: Path) -> Deployment:
    """Read the deployment record.

    Raises:
        DeploymentNotFoundError: no record at ``path``.
    """
    if not path.exists():
        raise DeploymentNotFoundError(str(path))
    return Deployment.model_validate_json(path.read_text(encoding="utf-8"))


def save_deployment(path: Path, deployment: Deployment) -> None:
    """Write the record atomically (temporary file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(deployment.model_dump(), indent=2) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
