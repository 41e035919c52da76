"""Several API processes on one PostgreSQL with one separately run indexer (deploy/README.md):
anvil mining a block every second (no automine), ``LEDGER_CONFIRMATIONS=2``, three uvicorn
processes each with its own write outbox on the same database, one ``python -m indexer``.

Staff writes go to all three at once: nine commitments (three per process, all signed by the
one registrar, so the processes share its nonces), the same request sent again to another
process (one write, one commitment), and a delivery per process. Then every write is confirmed
exactly once, every process serves the same reads, replay reports 0 differences, and a second
indexer reading through an ``eth_getLogs`` proxy limited like a hosted provider (10 blocks,
5 logs: tests/deploy/capped_rpc.py) builds an index equal row for row to the direct one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from sqlalchemy import text

from tests.conftest import REPO_ROOT
from tests.db.databases import Database, dump_index, fresh_database
from tests.deploy.capped_rpc import CappedCounts, capped_rpc
from tests.deploy.cluster import Cluster, deploy_ledger, head, interval_anvil, rpc, staff_write, wait_for

ANVIL_PORT = 8681
API_PORTS = (8682, 8683, 8684)
PROXY_PORT = 8685
CONFIRMATIONS = 2
PER_PROCESS = 3
DUE_2030 = 1_924_988_399
PROMISED = 1_655_071_200


def commitment_body(n: int) -> dict[str, Any]:
    return {"external_ref": f"mp-{n}", "title": f"Belofte {n}", "target_quantity": "10", "unit": "stuks",
            "promised_at": PROMISED, "due_date": DUE_2030}


@dataclass
class Landed:
    cluster: Cluster
    database: Database
    rpc_url: str
    commitments: list[dict[str, Any]]
    repeat: dict[str, Any]
    deliveries: list[dict[str, Any]]
    indexed_block: int
    capped: Database
    capped_counts: CappedCounts
    capped_status: int
    folder: Path


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Landed]:
    folder = tmp_path_factory.mktemp("multi-process")
    with interval_anvil(ANVIL_PORT, folder) as rpc_url, \
            fresh_database("postgresql", folder) as database, fresh_database("postgresql", folder) as capped:
        deployment, _chain = deploy_ledger(rpc_url)
        with Cluster(folder, database.url, rpc_url, deployment, API_PORTS, confirmations=CONFIRMATIONS) as cluster:
            headers = cluster.headers()
            jobs = [(cluster.api_urls[n % len(API_PORTS)], commitment_body(n)) for n in range(PER_PROCESS * len(API_PORTS))]
            with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
                commitments = list(pool.map(lambda job: staff_write(job[0], "commitments", headers, json=job[1]), jobs))
            # The same request again, to another process than the one that took it.
            repeat = staff_write(cluster.api_urls[1], "commitments", headers, json=commitment_body(0))
            form = {"quantity": "1", "delivered_at": "1736938800", "evidence_sha256": "0x" + "e1" * 32}
            targets = [(url, commitments[n]["commitment_id"]) for n, url in enumerate(cluster.api_urls)]
            with ThreadPoolExecutor(max_workers=len(targets)) as pool:
                deliveries = list(pool.map(
                    lambda t: staff_write(t[0], f"commitments/{t[1]}/deliveries", headers, data=form), targets))
            # Until the last write's block is CONFIRMATIONS behind the head (the indexer's rule),
            # then a still head from here on: exact blocks.
            last_write_block = max(w["write"]["block_number"] for w in [*commitments, *deliveries])
            wait_for(lambda: head(rpc_url) >= last_write_block + CONFIRMATIONS, "the head past the last write")
            rpc(rpc_url, "evm_setIntervalMining", [0])
            indexed_block = head(rpc_url) - CONFIRMATIONS
            cluster.wait_indexed(indexed_block)
            with capped_rpc(rpc_url, PROXY_PORT, max_blocks=10, max_results=5) as (proxy_url, counts):
                capped_env = {**cluster.env(proxy_url), "LEDGER_DATABASE_URL": capped.url, "LEDGER_LOG_CHUNK_BLOCKS": "2000"}
                capped_run = subprocess.run([sys.executable, "-m", "indexer", "--once"], cwd=REPO_ROOT, env=capped_env,
                                            capture_output=True, text=True, timeout=300)
            (folder / "capped-indexer.log").write_text(capped_run.stdout + capped_run.stderr)
            yield Landed(cluster, database, rpc_url, commitments, repeat, deliveries, indexed_block, capped,
                         counts, capped_run.returncode, folder)


def test_every_process_stays_up(landed: Landed) -> None:
    assert landed.cluster.alive() == {"indexer": None, **{f"api-{port}": None for port in API_PORTS}}


def test_every_write_is_confirmed_once_with_its_own_id(landed: Landed) -> None:
    ids = sorted(c["commitment_id"] for c in landed.commitments)
    assert ids == list(range(1, PER_PROCESS * len(API_PORTS) + 1))
    assert all(c["write"]["state"] == "confirmed" for c in [*landed.commitments, *landed.deliveries])
    assert all(c["write"]["confirmations_required"] == CONFIRMATIONS + 1 for c in landed.commitments)
    assert len({c["write"]["id"] for c in landed.commitments}) == len(landed.commitments)
    with landed.database.engine.connect() as conn:
        states = conn.execute(text("SELECT state, count(*) FROM outbox_writes GROUP BY state")).all()
    assert dict(states) == {"confirmed": len(landed.commitments) + len(landed.deliveries)}


def test_a_confirmed_write_is_already_in_the_index(landed: Landed) -> None:
    """A write answered as confirmed is one that reads show: its block was at least
    ``LEDGER_CONFIRMATIONS`` behind the head the outbox saw (the indexer's rule, indexer/loop.py:
    it indexes up to ``head - confirmations``); ``confirmations`` counts the write's own block."""
    for made in [*landed.commitments, *landed.deliveries]:
        write = made["write"]
        assert write["confirmations"] - 1 >= CONFIRMATIONS, write


def test_a_repeat_sent_to_another_process_is_the_same_write(landed: Landed) -> None:
    first = landed.commitments[0]
    assert landed.repeat["write"]["id"] == first["write"]["id"]
    assert landed.repeat["commitment_id"] == first["commitment_id"]


def test_the_nonces_of_the_shared_registrar_are_consecutive(landed: Landed) -> None:
    nonces = sorted(w["write"]["nonce"] for w in [*landed.commitments, *landed.deliveries])
    assert nonces == list(range(nonces[0], nonces[0] + len(nonces)))


def test_every_process_serves_the_same_reads(landed: Landed) -> None:
    paths = ["/api/v1/commitments?limit=100", "/api/v1/municipalities", "/api/v1/deliveries?limit=100",
             *(f"/api/v1/commitments/{c['commitment_id']}" for c in landed.commitments)]
    answers = {url: [httpx.get(url + path, timeout=10).json() for path in paths] for url in landed.cluster.api_urls}
    first = answers[landed.cluster.api_urls[0]]
    assert first[0]["count"] == PER_PROCESS * len(API_PORTS)
    assert sorted(c["external_ref"] for c in first[0]["data"]) == sorted(f"mp-{n}" for n in range(9))
    assert len(first[2]["data"]) == len(API_PORTS)
    for url, answer in answers.items():
        assert answer == first, url
    for url in landed.cluster.api_urls:
        health = httpx.get(url + "/api/v1/health", timeout=10).json()
        assert health["indexed_block"] == landed.indexed_block


def test_the_indexer_stays_the_confirmations_behind_the_head(landed: Landed) -> None:
    with landed.database.engine.connect() as conn:
        last_block, chain_head = conn.execute(text("SELECT last_block, chain_head_block FROM checkpoint")).one()
    assert (last_block, chain_head) == (landed.indexed_block, landed.indexed_block + CONFIRMATIONS)


def test_replay_finds_no_difference(landed: Landed) -> None:
    report = landed.folder / "replay.json"
    deployment = landed.cluster.data_dir / "deployment.json"
    run = subprocess.run([sys.executable, "-m", "scripts.replay", "--deployment", str(deployment), "--rpc-url", landed.rpc_url,
                          "--api-url", landed.cluster.api_urls[2], "--to-block", str(landed.indexed_block),
                          "--report", str(report), "--wait-seconds", "30"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(report.read_text())["comparison"]["difference_count"] == 0


def test_an_index_read_through_limited_get_logs_equals_the_direct_one(landed: Landed) -> None:
    assert landed.capped_status == 0, (landed.folder / "capped-indexer.log").read_text()
    counts = landed.capped_counts
    assert counts.range_refused > 0 and counts.results_refused > 0
    assert counts.largest_range_served <= 10
    assert dump_index(landed.capped.engine) == dump_index(landed.database.engine)
