"""The production shape on one machine, as separate processes: anvil with interval mining, one
indexer (``python -m indexer``) and several API processes (``uvicorn api.main:app``) sharing
one database, all configured only through ``LEDGER_*`` variables as deploy/ledger.env.example
configures them (local env: the chain is anvil's, id 31337).

:func:`interval_anvil` starts the chain; :class:`Cluster` deploys a fresh ledger on it
(municipality 1 "Baarn" GM0308, registrar ``REGISTRAR_KEY``), issues one staff token and
starts the processes; :func:`staff_write` sends one staff write the way a client of the write
outbox does (``Prefer: wait``: 201 done, 202 polled until confirmed).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import httpx
from eth_account import Account

from ledger.chain import LedgerChain
from ledger.deployment import Deployment, save_deployment
from ledger.staff import issue_token
from scripts.run_local import anvil_binary
from tests.conftest import ANVIL_KEYS, REPO_ROOT

PLATFORM_ADMIN_KEY = ANVIL_KEYS[0]
COUNCIL_ADMIN_KEY = ANVIL_KEYS[1]
REGISTRAR_KEY = ANVIL_KEYS[2]
START_TIMEOUT_SECONDS = 60.0
WRITE_TIMEOUT_SECONDS = 90.0


def rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    """One JSON-RPC call; its ``result``.

    Raises:
        RuntimeError: the node answered an error object.
    """
    answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}, timeout=10).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


def head(url: str) -> int:
    """The node's head block number."""
    return int(rpc(url, "eth_blockNumber"), 16)


@contextmanager
def interval_anvil(port: int, folder: Path, *, block_time_seconds: int = 1) -> Iterator[str]:
    """anvil on ``port`` mining a block every ``block_time_seconds`` (no automine), the standard
    mnemonic; yields its URL, stops it afterwards."""
    log = open(folder / f"anvil-{port}.log", "wb")
    proc = subprocess.Popen([anvil_binary(), "--port", str(port), "--hardfork", "cancun",
                             "--block-time", str(block_time_seconds)], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: head(url) >= 0, f"anvil on port {port}", proc)
        yield url
    finally:
        _stop(proc)
        log.close()


def wait_for(ready: Any, what: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = START_TIMEOUT_SECONDS) -> None:
    """Poll ``ready()`` every 0.2 s (errors count as not yet).

    Raises:
        RuntimeError: ``proc`` exited meanwhile.
        TimeoutError: not ready within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            if ready():
                return
        except (httpx.HTTPError, OSError, RuntimeError, ValueError):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{what} not ready within {timeout:g} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def deploy_ledger(rpc_url: str) -> tuple[Deployment, LedgerChain]:
    """A fresh ledger on ``rpc_url`` with municipality 1 Baarn (GM0308) and its registrar."""
    chain = LedgerChain(rpc_url, tx_timeout_seconds=60)
    deployment = chain.deploy(PLATFORM_ADMIN_KEY)
    onboard(chain)
    return deployment, chain


def onboard(chain: LedgerChain) -> None:
    """Municipality 1 Baarn (admin ``COUNCIL_ADMIN_KEY``) with registrar ``REGISTRAR_KEY``."""
    chain.send("registerMunicipality", ["Baarn", "GM0308", Account.from_key(COUNCIL_ADMIN_KEY).address], PLATFORM_ADMIN_KEY)
    chain.send("addRegistrar", [1, Account.from_key(REGISTRAR_KEY).address], COUNCIL_ADMIN_KEY)


@dataclass
class Cluster:
    """One indexer and ``len(api_ports)`` API processes on one database.

    Args:
        folder: empty folder: ``data/`` (deployment record, token file, keystores, evidence)
            and one log per process.
        database_url: the shared index and outbox (a fresh PostgreSQL schema).
        rpc_url: the node the API processes (and their outboxes) use.
        deployment: the ledger to serve (``deploy_ledger``).
        api_ports: one uvicorn process per port.
        indexer_rpc_url: the node the indexer reads (default ``rpc_url``; a limited proxy).
        confirmations: ``LEDGER_CONFIRMATIONS`` of every process.
        extra_env: further ``LEDGER_*`` variables.
    """

    folder: Path
    database_url: str
    rpc_url: str
    deployment: Deployment
    api_ports: tuple[int, ...]
    indexer_rpc_url: str = ""
    confirmations: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)
    token: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    @property
    def api_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.api_ports]

    def env(self, rpc_url: str) -> dict[str, str]:
        """The environment of one process (as deploy/ledger.env sets it, local chain)."""
        return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "LEDGER_ENV": "local",
                "LEDGER_DATA_DIR": str(self.data_dir), "LEDGER_DATABASE_URL": self.database_url,
                "LEDGER_RPC_URL": rpc_url, "LEDGER_CONFIRMATIONS": str(self.confirmations),
                "LEDGER_POLL_INTERVAL_SECONDS": "0.2", "LEDGER_OUTBOX_POLL_SECONDS": "0.2",
                "LEDGER_HEAD_STALE_SECONDS": "30", **self.extra_env}

    def start(self, name: str, argv: list[str], rpc_url: str) -> None:
        log = open(self.folder / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(argv, cwd=REPO_ROOT, env=self.env(rpc_url), stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def __enter__(self) -> "Cluster":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        save_deployment(self.data_dir / "deployment.json", self.deployment)
        self.token = issue_token(self.data_dir / "staff-keys.json", 1, REGISTRAR_KEY)
        try:
            self.start("indexer", [sys.executable, "-m", "indexer"], self.indexer_rpc_url or self.rpc_url)
            for port in self.api_ports:
                self.start(f"api-{port}", [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1",
                                           "--port", str(port), "--log-level", "warning"], self.rpc_url)
            for port, url in zip(self.api_ports, self.api_urls):
                wait_for(lambda: httpx.get(f"{url}/api/v1/health/live", timeout=5).status_code == 200,
                      f"API on port {port}", self.procs[f"api-{port}"])
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(list(self.procs.values())):
            _stop(proc)

    def alive(self) -> dict[str, int | None]:
        """Each process's exit status (``None``: running)."""
        return {name: proc.poll() for name, proc in self.procs.items()}

    def wait_indexed(self, block: int, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Wait until every API process reports ``indexed_block >= block``."""
        for url in self.api_urls:
            wait_for(lambda: (httpx.get(f"{url}/api/v1/health", timeout=5).json().get("indexed_block") or -1) >= block,
                  f"index of {url} at block {block}", timeout=timeout)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Prefer": "wait=30"}


def staff_write(api_url: str, path: str, headers: dict[str, str], **request: Any) -> dict[str, Any]:
    """POST a staff write and return its confirmed write (``{"write": Write, ...body}``): a 201
    is done; a 202 is polled at its ``Location`` until ``confirmed``.

    Raises:
        AssertionError: another status, a failed write, or not confirmed within
            ``WRITE_TIMEOUT_SECONDS``.
    """
    with httpx.Client(base_url=api_url, timeout=60) as client:
        response = client.post(f"/api/v1/staff/{path}", headers=headers, **request)
        assert response.status_code in (201, 202), response.text
        if response.status_code == 201:
            return response.json()
        location = response.headers["Location"]
        deadline = time.monotonic() + WRITE_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            write = client.get(location, headers={"Authorization": headers["Authorization"]}).json()
            assert write["state"] != "failed", write
            if write["state"] == "confirmed":
                return {**write["result"], "write": write}
            time.sleep(0.3)
        raise AssertionError(f"write {location} not confirmed within {WRITE_TIMEOUT_SECONDS:g} s")
