"""The whole system in one process, on a given chain: for end-to-end tests and benchmarks.

:class:`InProcessStack` deploys a fresh ledger, onboards the source mappings' municipalities
(registrar keys given by the caller), issues staff tokens, and runs the indexer and the API
(uvicorn) in background threads on a free port, with all state in a temporary data folder.
``make run`` is the same system as separate processes (``scripts/run_local.py``).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from eth_account import Account

from api.main import create_app
from indexer.loop import Indexer
from ledger.chain import LedgerChain
from ledger.db.engine import create_schema, make_engine, session_factory
from ledger.deployment import Deployment, save_deployment
from ledger.settings import Settings, load_settings
from ledger.staff import issue_token
from scripts.admin import ensure_registrar, onboard_municipality
from scripts.run_local import source_municipalities, wait_for_api


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class InProcessStack:
    """A running system. Use as a context manager; ``api_url`` and ``tokens`` (municipality
    code → staff token) are set once entered.

    Args:
        rpc_url: chain to deploy on (its account ``platform_admin_key`` must hold ether).
        data_dir: empty folder for the SQLite index, evidence, keys and deployment record.
        platform_admin_key: key that deploys and onboards (hex).
        municipality_keys: municipality code → (admin key, registrar key), funded accounts.
        settings_overrides: further settings fields (e.g. ``head_stale_seconds``).
    """

    rpc_url: str
    data_dir: Path
    platform_admin_key: str
    municipality_keys: dict[str, tuple[str, str]]
    settings_overrides: dict[str, object] = field(default_factory=dict)
    settings: Settings | None = None
    deployment: Deployment | None = None
    api_url: str = ""
    tokens: dict[str, str] = field(default_factory=dict)
    municipality_ids: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _server: uvicorn.Server | None = None

    def __enter__(self) -> "InProcessStack":
        chain = LedgerChain(self.rpc_url)
        self.deployment = chain.deploy(self.platform_admin_key)
        self.settings = load_settings({}, data_dir=self.data_dir, rpc_url=self.rpc_url, poll_interval_seconds=0.1,
                                      **self.settings_overrides)
        save_deployment(self.settings.deployment_file, self.deployment)
        for municipality in source_municipalities(self.settings.sources_dir):
            admin_key, registrar_key = self.municipality_keys[municipality["code"]]
            municipality_id = onboard_municipality(
                chain, self.platform_admin_key, municipality["name"], municipality["code"], Account.from_key(admin_key).address
            )
            ensure_registrar(chain, admin_key, municipality_id, Account.from_key(registrar_key).address)
            self.municipality_ids[municipality["code"]] = municipality_id
            self.tokens[municipality["code"]] = issue_token(self.settings.staff_keys_file, municipality_id, registrar_key)

        engine = make_engine(self.settings.database_url)
        create_schema(engine)
        indexer = Indexer(LedgerChain(self.rpc_url, self.deployment), session_factory(engine), self.settings)
        self._threads.append(threading.Thread(target=indexer.run_forever, args=(self._stop,), name="indexer", daemon=True))

        port = free_port()
        self._server = uvicorn.Server(uvicorn.Config(create_app(self.settings), host="127.0.0.1", port=port, log_level="warning"))
        self._threads.append(threading.Thread(target=self._server.run, name="api", daemon=True))
        for thread in self._threads:
            thread.start()
        self.api_url = f"http://127.0.0.1:{port}"
        wait_for_api(self.api_url, 30.0)
        return self

    def wait_indexed(self, timeout_seconds: float = 60.0) -> int:
        """Wait until the API's index reaches the chain head; return that block number.

        Raises:
            TimeoutError: not caught up within ``timeout_seconds``.
        """
        head = LedgerChain(self.rpc_url).head_block_number()
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            health = httpx.get(f"{self.api_url}/api/v1/health", timeout=5).json()
            if (health.get("indexed_block") or 0) >= head:
                return head
            time.sleep(0.1)
        raise TimeoutError(f"index did not reach block {head} within {timeout_seconds} s")

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.should_exit = True
        for thread in self._threads:
            thread.join(timeout=15)
