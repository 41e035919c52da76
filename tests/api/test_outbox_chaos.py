"""The write outbox when the chain misbehaves, on an anvil of this module's own (port 8612, so
snapshots, kills and automine switches touch nobody else's chain): a reorg by
``evm_snapshot`` / ``evm_revert`` after a write was confirmed, the node killed with SIGKILL
between journal and send and restarted from an older state (``anvil_dumpState`` /
``anvil_loadState``), and 50 concurrent writes from 10 signers. Every write answered 202 ends
``confirmed`` exactly once: the events on chain are counted."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
from eth_account import Account
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ledger.chain import LedgerChain
from ledger.db import outbox
from ledger.settings import Settings
from ledger.staff import issue_token
from tests.api.helpers import Tokens, commitment_body

PORT = int(os.environ.get("LEDGER_TEST_CHAOS_PORT", "8612"))
RPC = f"http://127.0.0.1:{PORT}"
NO_WAIT = {"Prefer": ""}
REPO_ROOT = Path(__file__).resolve().parents[2]


def _start_anvil() -> subprocess.Popen:
    # its own process group: node_modules/.bin/anvil is a wrapper, SIGKILL must reach the node itself
    process = subprocess.Popen(["anvil", "--port", str(PORT), "--hardfork", "cancun", "--silent"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO_ROOT,
                               start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.post(RPC, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"anvil did not start on port {PORT}")


class Node:
    """This module's anvil: killed with SIGKILL and restarted on the same port."""

    def __init__(self) -> None:
        self.process = _start_anvil()

    def rpc(self, method: str, *params: Any) -> Any:
        body = httpx.post(RPC, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                          timeout=30).json()
        assert "error" not in body, body
        return body["result"]

    def kill(self) -> None:
        """SIGKILL to the node's process group (the wrapper and anvil), then wait for the port."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.post(RPC, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=0.5)
            except httpx.HTTPError:
                return
            time.sleep(0.1)
        raise RuntimeError(f"anvil on port {PORT} survived SIGKILL")

    def restart(self, state: str | None = None) -> None:
        """Start again (after :meth:`kill`), from ``state`` (``anvil_dumpState``) when given."""
        self.process = _start_anvil()
        if state is not None:
            self.rpc("anvil_loadState", state)


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    node = Node()
    yield node
    os.killpg(node.process.pid, signal.SIGKILL)
    node.process.wait(10)


@pytest.fixture(scope="module")
def rpc_url(node: Node) -> str:
    """The ledger of this module lives on its own anvil (overrides tests/conftest.py's)."""
    return RPC


def auth(token: str, **headers: str) -> dict[str, str]:
    return {**Tokens.header(token), **headers}


def commitments_on_chain(chain: LedgerChain) -> int:
    return int(chain.call("counts")[1])


def registered_refs(chain: LedgerChain, node: Node) -> list[str]:
    """external_ref of every CommitmentRegistered event on chain, in log order."""
    logs = chain.get_logs(chain.deployment.deploy_block, chain.head_block_number())
    return [e.args["external_ref"] for e in (chain.decoder.decode(log) for log in logs) if e.name == "CommitmentRegistered"]


def settled(chain: LedgerChain, row: dict[str, Any]) -> bool:
    """Failed, or confirmed by a receipt the chain still holds in the recorded block."""
    if row["state"] == "failed":
        return True
    if row["state"] != "confirmed":
        return False
    receipt = chain.receipt(row["tx_hash"])
    return receipt is not None and receipt.block_hash == row["block_hash"]


def wait_all(app: FastAPI, ids: list[str], timeout: float = 60) -> list[dict[str, Any]]:
    chain: LedgerChain = app.state.chain
    deadline = time.monotonic() + timeout
    while True:
        app.state.reconciler.kick()
        with app.state.session_factory() as session:
            rows = [outbox.get_write(session, i) for i in ids]
        if all(settled(chain, r) for r in rows) or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_a_write_the_chain_lost_to_a_revert_is_sent_again_and_confirmed_once(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, node: Node
) -> None:
    snapshot = node.rpc("evm_snapshot")
    body = commitment_body()
    response = client.post("/api/v1/staff/commitments", json=body, headers=auth(tokens.baarn))
    assert response.status_code == 201, response.text
    write = response.json()["write"]
    node.rpc("evm_revert", snapshot)  # the block holding it is gone
    assert chain.receipt(write["tx_hash"]) is None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        app.state.reconciler.kick()
        receipt = chain.receipt(write["tx_hash"])
        with app.state.session_factory() as session:
            row = outbox.get_write(session, write["id"])
        if receipt is not None and row["state"] == "confirmed" and row["block_hash"] == receipt.block_hash:
            break
        time.sleep(0.1)
    assert row["state"] == "confirmed" and row["attempts"] == 1  # the same signed bytes, sent again
    assert row["tx_hash"] == write["tx_hash"]
    assert registered_refs(chain, node).count(body["external_ref"]) == 1


def test_writes_survive_a_killed_node_restarted_from_an_older_state(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, node: Node
) -> None:
    older = node.rpc("anvil_dumpState")
    before = commitments_on_chain(chain)
    confirmed_refs, ids = [], []
    for _ in range(3):  # answered (201), then lost with the node
        body = commitment_body()
        response = client.post("/api/v1/staff/commitments", json=body, headers=auth(tokens.baarn))
        assert response.status_code == 201, response.text
        confirmed_refs.append(body["external_ref"])
        ids.append(response.json()["write"]["id"])
    app.state.reconciler.stop()  # journaled but not sent when the node dies
    queued = commitment_body()
    response = client.post("/api/v1/staff/commitments", json=queued, headers=auth(tokens.baarn, **NO_WAIT))
    assert response.status_code == 202 and response.json()["write"]["state"] == "queued"
    ids.append(response.json()["write"]["id"])
    node.kill()
    app.state.reconciler.start()
    time.sleep(1.5)  # passes fail while the node is down; nothing is lost
    node.restart(older)
    assert commitments_on_chain(chain) == before  # the node forgot the three confirmed writes
    rows = wait_all(app, ids)
    assert commitments_on_chain(chain) == before + 4
    assert [r["state"] for r in rows] == ["confirmed"] * 4, rows
    refs = registered_refs(chain, node)
    for ref in confirmed_refs + [queued["external_ref"]]:
        assert refs.count(ref) == 1, (ref, refs)
    assert all(chain.receipt(r["tx_hash"]) is not None for r in rows)


def _signer(i: int) -> str:
    return "0x" + hashlib.sha256(f"outbox chaos signer {i}".encode()).hexdigest()


@pytest.fixture(scope="module")
def signers(api_settings: Settings, chain: LedgerChain, roles: Any) -> list[str]:
    """Tokens of 10 registrar accounts: 5 of Baarn, 5 of Utrecht, funded, registrars on chain."""
    tokens = []
    for i in range(10):
        key = _signer(i)
        address = Account.from_key(key).address
        chain.transfer_ether(roles.platform_admin.key, address, 10**19)
        municipality, admin = (1, roles.council_admin.key) if i < 5 else (2, roles.other_admin.key)
        chain.send("addRegistrar", [municipality, address], admin)
        tokens.append(issue_token(api_settings.staff_keys_file, municipality, key))
    return tokens


def test_fifty_concurrent_writes_from_ten_signers_land_once_with_consecutive_nonces(
    app: FastAPI, client: TestClient, chain: LedgerChain, signers: list[str], node: Node
) -> None:
    before = commitments_on_chain(chain)
    bodies = [(signers[i % 10], commitment_body()) for i in range(50)]
    start = threading.Barrier(50, timeout=60)
    answers: list[Any] = []
    lock = threading.Lock()

    def post(token: str, body: dict[str, Any]) -> None:
        start.wait()
        response = client.post("/api/v1/staff/commitments", json=body, headers=auth(token, **NO_WAIT))
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=post, args=pair) for pair in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(a.status_code for a in answers) == [202] * 50, [a.text for a in answers if a.status_code != 202]
    ids = [a.json()["write"]["id"] for a in answers]
    rows = wait_all(app, ids, timeout=120)
    assert [r["state"] for r in rows] == ["confirmed"] * 50, [(r["state"], r["problem_json"]) for r in rows]
    assert commitments_on_chain(chain) == before + 50
    refs = registered_refs(chain, node)
    assert all(refs.count(body["external_ref"]) == 1 for _token, body in bodies)
    by_account: dict[str, list[int]] = {}
    for r in rows:
        by_account.setdefault(r["account"], []).append(r["nonce"])
    assert len(by_account) == 10
    for account, nonces in by_account.items():
        nonces.sort()
        assert nonces == list(range(nonces[0], nonces[0] + 5)), (account, nonces)
        assert chain.nonce_at(account, "latest") == nonces[-1] + 1
