"""A throwaway anvil for benchmarks: started on a free port, killed on exit."""

from __future__ import annotations

import subprocess
import time
from contextlib import contextmanager
from typing import Iterator

from ledger.chain import LedgerChain
from ledger.errors import ChainUnavailableError
from ledger.settings import REPO_ROOT
from scripts.stack import free_port


@contextmanager
def throwaway_anvil(timeout_seconds: float = 30.0) -> Iterator[str]:
    """Start anvil (in-memory, automine) and yield its RPC URL.

    Raises:
        ChainUnavailableError: it did not answer within ``timeout_seconds``.
    """
    port = free_port()
    proc = subprocess.Popen(
        [str(REPO_ROOT / "node_modules" / ".bin" / "anvil"), "--port", str(port), "--silent"],
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
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
