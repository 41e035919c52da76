"""An index with long histories, built without a chain, for the paging and caching tests of
the API and the site: decoded events (``tests.db.script``) applied by the real projection to
a fresh index (SQLite, or PostgreSQL with ``LEDGER_TEST_DATABASE=postgresql``), a deployment
record, and the real app (``api.main.create_app``, lifespan included) over it.

Commitments (municipality 1, Baarn):

- :data:`LONG` (1): :data:`RECORDED` recorded deliveries (every 10th revoked, every 7th
  confirmed), then one verified batch of :data:`BATCHED` leaves (the last one revoked), and
  an amendment: a timeline of ``1 + RECORDED + RECORDED // 10 + 1`` entries;
- :data:`SHORT` (2): 2 deliveries, due at :data:`SHORT_DUE`;
- :data:`EMPTY` (3): no delivery.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

with warnings.catch_warnings():  # starlette asks for httpx2, which the pinned env does not have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from api.main import create_app
from ledger.db import repository
from ledger.db.projection import apply_events, save_checkpoint
from ledger.deployment import Deployment, save_deployment
from ledger.settings import Settings
from tests.db import batch_files
from tests.db.databases import TEST_BACKEND, Database, fresh_database
from tests.db.script import CONTRACT, DAY, Script, did, sha

LONG, SHORT, EMPTY = 1, 2, 3
RECORDED = 130
BATCHED = 12
SHORT_DUE_DAYS = 40


@dataclass
class HistoryIndex:
    """The built index: its database, the script of its events, and the batch file."""

    db: Database
    script: Script
    batch: batch_files.BatchFile
    data_dir: Path

    @property
    def short_due(self) -> int:
        """Due date of :data:`SHORT`, Unix seconds."""
        return int(next(e.args["due_date"] for e in self.script.events
                        if e.name == "CommitmentRegistered" and e.args["commitment_id"] == SHORT))

    def apply(self, script_from: int) -> None:
        """Apply the script's events from position ``script_from`` on and move the checkpoint."""
        s = self.script
        with self.db.sessions.begin() as session:
            apply_events(session, s.events[script_from:], s.block_times, batch_files={self.batch.sha256: self.batch.data}.get)
            save_checkpoint(session, s.block, "0x" + f"{s.block:064x}", s.block, s.time)

    def settings(self, **changes: object) -> Settings:
        return Settings(data_dir=self.data_dir, database_url=self.db.url, rpc_url="http://127.0.0.1:1", **changes)


def build_script() -> tuple[Script, batch_files.BatchFile]:
    s = Script()
    s.municipality(1)
    s.registrar(1)
    s.confirmer(1)
    s.next_block()
    long = s.commitment(LONG, target_quantity=10_000, title="Lange geschiedenis")
    s.commitment(SHORT, due_date=s.time + SHORT_DUE_DAYS * DAY, title="Kort")
    s.commitment(EMPTY, title="Leeg")
    for n in range(1, RECORDED + 1):
        if n % 9 == 1:
            s.next_block()
        s.delivery(LONG, n, 1, s.time - DAY, evidence=[sha(f"doc-{n}")])
        if n % 10 == 0:
            s.revoke(LONG, n)
        if n % 7 == 0:
            s.confirm(LONG, n)
    s.next_block()
    leaves = [batch_files.leaf(LONG, 1, s.time - DAY, ref=f"leaf-{i}") for i in range(BATCHED)]
    batch = batch_files.build(leaves)
    s.anchor(batch.root, batch.sha256, BATCHED)
    s.next_block()
    s.revoke_leaf(batch.root, batch.leaf_hashes[-1], LONG)
    s.amend(LONG, 1, previous_target=10_000, previous_due=long.args["due_date"], target=20_000)
    s.next_block()
    s.delivery(SHORT, 1, 5, s.time - DAY, evidence=[sha("short-1")])
    s.delivery(SHORT, 2, 5, s.time - DAY, evidence=[sha("shared-doc")])
    return s, batch


@contextmanager
def history_index(folder: Path) -> Iterator[HistoryIndex]:
    """The index of the module docstring in ``folder`` (database of the test backend)."""
    script, batch = build_script()
    with fresh_database(TEST_BACKEND, folder) as db:
        save_deployment(folder / "deployment.json", Deployment(
            chain_id=31337, contract_address=CONTRACT, deploy_block=1, deploy_block_hash="0x" + "00" * 32,
            deploy_tx="0x" + "11" * 32, abi_version="2.1.0", deployed_at=script.block_times[script.block]))
        index = HistoryIndex(db, script, batch, folder)
        index.apply(0)
        yield index


@contextmanager
def client_of(settings: Settings) -> Iterator[TestClient]:
    """A client of the real app on ``settings`` (lifespan entered)."""
    with TestClient(create_app(settings)) as client:
        yield client


def recorded_id(n: int) -> int:
    """Id of :data:`LONG`'s recorded delivery ``n``."""
    return did(LONG, n)


def one_clock(client: Any, monkeypatch: Any, now: int) -> dict[str, int]:
    """One settable clock (``clock["now"]``, Unix seconds) for the routes' ``now`` and the
    answer cache's checks (``api.caching._unix_now``)."""
    from api import caching
    from api.deps import get_now

    clock = {"now": now}
    monkeypatch.setattr(caching, "_unix_now", lambda: clock["now"])
    client.app.dependency_overrides[get_now] = lambda: clock["now"]
    return clock


def count_calls(monkeypatch: Any, name: str) -> list[int]:
    """Count the calls of ``repository.<name>`` (the routes' data reads)."""
    calls: list[int] = []
    real = getattr(repository, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(repository, name, counted)
    return calls
