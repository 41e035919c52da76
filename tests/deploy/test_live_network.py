"""The chain as a live brownie network with confirmations > 0: anvil mining a block a second is
registered as the non-development network ``ledger-interval`` (``brownie networks add Ethereum
ledger-interval host=... chainid=31337``, as the Makefile adds ``ledger-local``), the ledger is
deployed through it with ``required_confs=2`` (tests/deploy/brownie_deploy.py; scripts/deploy.py
is plain Python over web3 and waits for one receipt), then the indexer and one API process run
with ``LEDGER_CONFIRMATIONS=2``: the checkpoint stays exactly 2 blocks behind the head and the
outbox asks every write for 2 confirmations.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from sqlalchemy import text

from ledger.chain import LedgerChain
from ledger.deployment import Deployment
from tests.conftest import REPO_ROOT
from tests.db.databases import TEST_BACKEND, Database, fresh_database
from tests.deploy.cluster import PLATFORM_ADMIN_KEY, Cluster, head, interval_anvil, onboard, rpc, staff_write, wait_for

ANVIL_PORT = 8686
API_PORT = 8687
NETWORK = "ledger-interval"
CONFIRMATIONS = 2
BROWNIE = str(Path(sys.executable).parent / "brownie")


def brownie_networks(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BROWNIE, "networks", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def live_network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(network name, RPC URL): the interval-mining anvil registered as a live brownie network
    for this module (removed afterwards)."""
    folder = tmp_path_factory.mktemp("live-network")
    with interval_anvil(ANVIL_PORT, folder) as rpc_url:
        host = f"host={rpc_url}"
        added = brownie_networks("add", "Ethereum", NETWORK, host, "chainid=31337")
        if added.returncode != 0:  # left by an interrupted run: point it at this chain
            modified = brownie_networks("modify", NETWORK, host, "chainid=31337")
            assert modified.returncode == 0, added.stdout + added.stderr + modified.stdout + modified.stderr
        try:
            yield NETWORK, rpc_url
        finally:
            brownie_networks("delete", NETWORK)


@dataclass
class Deployed:
    record: dict[str, Any]
    rpc_url: str
    cluster: Cluster
    database: Database
    write: dict[str, Any]
    head: int


@pytest.fixture(scope="module")
def deployed(live_network: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    network, rpc_url = live_network
    folder = tmp_path_factory.mktemp("live-deployed")
    project = folder / "project"  # brownie records live deployments under build/: a copy of its own
    project.mkdir()
    for name in ("contracts", "interfaces", "build"):
        shutil.copytree(REPO_ROOT / name, project / name, ignore=shutil.ignore_patterns("deployments"))
    shutil.copy(REPO_ROOT / "brownie-config.yaml", project)
    (project / "node_modules").symlink_to(REPO_ROOT / "node_modules")
    key_file = folder / "platform-admin.key"
    key_file.write_text(PLATFORM_ADMIN_KEY + "\n")
    key_file.chmod(0o600)
    run = subprocess.run([sys.executable, str(REPO_ROOT / "tests" / "deploy" / "brownie_deploy.py"), str(project), network,
                          str(key_file), str(CONFIRMATIONS)], cwd=project, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    record = json.loads(run.stdout.strip().splitlines()[-1])
    deployment = Deployment(**{k: v for k, v in record.items() if k in Deployment.model_fields})
    onboard(LedgerChain(rpc_url, deployment, tx_timeout_seconds=60))
    with fresh_database(TEST_BACKEND, folder) as database, \
            Cluster(folder, database.url, rpc_url, deployment, (API_PORT,), confirmations=CONFIRMATIONS) as cluster:
        write = staff_write(cluster.api_urls[0], "commitments", cluster.headers(),
                            json={"external_ref": "live-1", "title": "Belofte", "target_quantity": "10", "unit": "stuks",
                                  "promised_at": 1_655_071_200, "due_date": 1_924_988_399})
        wait_for(lambda: head(rpc_url) >= write["write"]["block_number"] + CONFIRMATIONS, "the head past the write")
        rpc(rpc_url, "evm_setIntervalMining", [0])  # a still head: exact blocks from here on
        still = head(rpc_url)
        cluster.wait_indexed(still - CONFIRMATIONS)
        yield Deployed(record, rpc_url, cluster, database, write, still)


def test_the_deployment_went_through_a_live_network_with_confirmations(deployed: Deployed) -> None:
    assert deployed.record["network_type"] == "live"
    assert deployed.record["confirmations"] >= CONFIRMATIONS
    assert deployed.record["chain_id"] == 31337


def test_the_indexer_stays_two_blocks_behind_the_head(deployed: Deployed) -> None:
    with deployed.database.engine.connect() as conn:
        last_block, chain_head = conn.execute(text("SELECT last_block, chain_head_block FROM checkpoint")).one()
    assert (last_block, chain_head) == (deployed.head - CONFIRMATIONS, deployed.head)
    health = httpx.get(deployed.cluster.api_urls[0] + "/api/v1/health", timeout=10).json()
    assert health["indexed_block"] == deployed.head - CONFIRMATIONS


def test_the_outbox_asks_for_the_confirmations(deployed: Deployed) -> None:
    write = deployed.write["write"]
    assert (write["state"], write["confirmations_required"]) == ("confirmed", CONFIRMATIONS + 1)
    polled = httpx.get(deployed.cluster.api_urls[0] + f"/api/v1/staff/writes/{write['id']}",
                       headers={"Authorization": deployed.cluster.headers()["Authorization"]}, timeout=10).json()
    assert polled["confirmations_required"] == CONFIRMATIONS + 1
    assert polled["state"] == "confirmed" and polled["confirmations"] >= CONFIRMATIONS


def test_the_written_commitment_is_read_back(deployed: Deployed) -> None:
    commitment_id = deployed.write["commitment_id"]
    answer = httpx.get(deployed.cluster.api_urls[0] + f"/api/v1/commitments/{commitment_id}", timeout=10)
    assert answer.status_code == 200 and answer.json()["external_ref"] == "live-1"
