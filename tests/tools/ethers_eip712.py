"""The independent EIP-712 signer of the tests: ``tools/eip712-sign.mjs`` (ethers 6) run once
per batch of requests, so digests and signatures are checked against code that shares nothing
with ``ledger/signing.py``."""

from __future__ import annotations

import json
import subprocess
from typing import Any, Mapping, Sequence

from ledger.settings import REPO_ROOT

SIGNER_SCRIPT = REPO_ROOT / "tools" / "eip712-sign.mjs"
NODE_TIMEOUT_SECONDS = 60.0


def ethers_sign(requests: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """``{"signature", "digest"}`` (``0x`` hex) of each ``{privateKey, domain, primaryType,
    types, message}`` request, in order, from one run of the ethers signer.

    Raises:
        RuntimeError: the signer refused a request (with its reason).
    """
    done = subprocess.run(
        ["node", str(SIGNER_SCRIPT)],
        input=json.dumps(list(requests)),
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_SECONDS,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{SIGNER_SCRIPT.name} exited {done.returncode}: {done.stderr.strip()}")
    return json.loads(done.stdout)
