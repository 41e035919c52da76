"""A throwaway anvil for benchmarks: started on a free port, killed on exit.

Gas depends on the hardfork (EIP-2929 cold access, EIP-3860 initcode, EIP-1153/5656 opcodes
since cancun, EIP-7623's calldata floor since prague), so the chain runs the hardfork the
contracts are compiled for: ``compiler.evm_version`` of ``brownie-config.yaml`` (one source for
compiler and chain), unless the caller names another.
"""

from __future__ import annotations

import subprocess
import time
from contextlib import contextmanager
from typing import Iterator, Sequence

import yaml

from ledger.chain import LedgerChain
from ledger.errors import ChainUnavailableError, LedgerConfigError
from ledger.settings import REPO_ROOT
from scripts.stack import free_port

BROWNIE_CONFIG = REPO_ROOT / "brownie-config.yaml"


def pinned_evm_version() -> str:
    """``compiler.evm_version`` of ``brownie-config.yaml``, e.g. ``"cancun"``.

    Raises:
        LedgerConfigError: the file has no ``compiler.evm_version``.
    """
    config = yaml.safe_load(BROWNIE_CONFIG.read_text(encoding="utf-8")) or {}
    version = (config.get("compiler") or {}).get("evm_version")
    if not isinstance(version, str) or not version:
        raise LedgerConfigError(f"{BROWNIE_CONFIG} sets no compiler.evm_version: pin the hardfork there.")
    return version


@contextmanager
def throwaway_anvil(
    timeout_seconds: float = 30.0,
    hardfork: str | None = None,
    *,
    port: int | None = None,
    extra_args: Sequence[str] = (),
) -> Iterator[str]:
    """Start anvil (in-memory, automine, its standard ``test test ... junk`` accounts) and
    yield its RPC URL.

    Args:
        timeout_seconds: how long to wait for the first answer, seconds.
        hardfork: anvil ``--hardfork`` name; ``None`` pins :func:`pinned_evm_version`.
        port: TCP port on 127.0.0.1; ``None`` takes a free one.
        extra_args: further anvil options, e.g. ``("--gas-limit", "300000000")`` or
            ``("--load-state", path)`` (bench/chain_fill.py).

    Raises:
        ChainUnavailableError: it did not answer within ``timeout_seconds``.
        LedgerConfigError: no hardfork given and none pinned in ``brownie-config.yaml``.
    """
    port = port or free_port()
    proc = subprocess.Popen(
        [
            str(REPO_ROOT / "node_modules" / ".bin" / "anvil"),
            "--port", str(port),
            "--hardfork", hardfork or pinned_evm_version(),
            "--silent",
            *extra_args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                LedgerChain(url).chain_id()
                break
            except ChainUnavailableError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
