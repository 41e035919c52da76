"""Reads, liveness and readiness while the chain node is down, and after it is back.

A whole system (``scripts.stack.InProcessStack``: the indexer and the API in threads) runs on an
anvil of this module's own (``--state`` file, so that it comes back with the same chain), with
``head_stale_seconds`` of 3 s so the site's staleness notice shows within the test. The node is
stopped and started again by the tests; each test first puts it in the state it needs.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import httpx
import pytest

from ledger.chain import LedgerChain
from ledger.errors import ChainUnavailableError
from scripts.run_local import anvil_binary
from scripts.stack import InProcessStack, free_port
from tests.conftest import ANVIL_KEYS

HEAD_STALE_SECONDS = 3
COME_BACK_TIMEOUT_SECONDS = 90.0


def wait_until(what: str, check: Callable[[], bool], timeout_seconds: float = COME_BACK_TIMEOUT_SECONDS) -> None:
    """Poll ``check`` every 0.2 s until it is true. Raises AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout_seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_seconds} s")
        time.sleep(0.2)


@dataclass
class Node:
    """An anvil on a fixed port that keeps its chain in a state file across restarts."""

    port: int
    state: Path
    proc: subprocess.Popen[bytes] | None = field(default=None)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answers(self) -> bool:
        try:
            LedgerChain(self.url, request_timeout_seconds=1).chain_id()
            return True
        except ChainUnavailableError:
            return False

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self.proc = subprocess.Popen(
            [anvil_binary(), "--port", str(self.port), "--hardfork", "cancun", "--state", str(self.state),
             "--state-interval", "1", "--silent"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until("anvil answering", self.answers, 30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # anvil writes its state on SIGTERM
            self.proc.wait(timeout=30)
        wait_until("anvil gone", lambda: not self.answers(), 10)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    running = Node(free_port(), tmp_path_factory.mktemp("node") / "state.json")
    running.start()
    yield running
    if running.proc is not None and running.proc.poll() is None:
        running.proc.kill()
        running.proc.wait()


@pytest.fixture(scope="module")
def stack(node: Node, tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessStack]:
    keys = {"GM0308": (ANVIL_KEYS[6], ANVIL_KEYS[7]), "CL-GOB": (ANVIL_KEYS[8], ANVIL_KEYS[9])}
    with InProcessStack(node.url, tmp_path_factory.mktemp("node-down"), ANVIL_KEYS[0], keys,
                        settings_overrides={"head_stale_seconds": HEAD_STALE_SECONDS}) as running:
        running.wait_indexed()
        time.sleep(1.5)  # anvil dumps its state every second: the onboarding is in the file
        yield running


def get(stack: InProcessStack, path: str, **kwargs: object) -> httpx.Response:
    return httpx.get(stack.api_url + path, timeout=10, **kwargs)


def ready(stack: InProcessStack) -> int:
    return get(stack, "/api/v1/health/ready").status_code


@pytest.fixture()
def node_up(node: Node, stack: InProcessStack) -> InProcessStack:
    node.start()
    wait_until("readiness 200", lambda: ready(stack) == 200)
    return stack


@pytest.fixture()
def node_down(node: Node, stack: InProcessStack) -> InProcessStack:
    node.start()  # an earlier test may have left it stopped
    wait_until("readiness 200", lambda: ready(stack) == 200)  # the index is fresh when it goes
    node.stop()
    # the probe's answer is cached node_probe_cache_seconds: the next probe after that asks
    time.sleep(stack.settings.node_probe_cache_seconds + 0.2)
    return stack


def test_ready_and_live_when_the_node_answers(node_up: InProcessStack) -> None:
    response = get(node_up, "/api/v1/health/ready")
    body = response.json()
    assert (response.status_code, body["status"], body["node_reachable"]) == (200, "ready", True)
    assert body["indexed_block"] >= 1 and body["lag_blocks"] == 0 and 0 <= body["index_age_seconds"] <= HEAD_STALE_SECONDS
    assert get(node_up, "/api/v1/health/live").json() == {"status": "alive"}
    health = get(node_up, "/api/v1/health").json()
    assert (health["status"], health["node_reachable"], health["reasons"]) == ("ok", True, [])


def test_reads_carry_the_indexed_block_and_the_index_age(node_up: InProcessStack) -> None:
    indexed = get(node_up, "/api/v1/health").json()["indexed_block"]
    response = get(node_up, "/api/v1/municipalities")
    assert response.status_code == 200
    assert int(response.headers["X-Ledger-Indexed-Block"]) >= indexed
    assert re.fullmatch(r"[0-9]+", response.headers["X-Ledger-Index-Age"])
    # a staff write is no read: no staleness headers (here refused for want of a token)
    write = httpx.post(node_up.api_url + "/api/v1/staff/commitments", json={}, timeout=10)
    assert write.status_code == 401
    assert "X-Ledger-Indexed-Block" not in write.headers and "X-Ledger-Index-Age" not in write.headers
    # pages are not JSON reads either; while the index is fresh they show no notice
    page = get(node_up, "/")
    assert "X-Ledger-Indexed-Block" not in page.headers and 'data-testid="index-notice"' not in page.text


def test_node_down_reads_served_ready_503_live_200(node_down: InProcessStack) -> None:
    response = get(node_down, "/api/v1/health/ready")
    body = response.json()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["Retry-After"] == "3"
    assert (body["type"], body["node_reachable"]) == ("/problems/not-ready", False)
    assert "node_unreachable" in body["reasons"]
    assert get(node_down, "/api/v1/health/live").status_code == 200
    health = get(node_down, "/api/v1/health")
    assert (health.status_code, health.json()["status"], health.json()["node_reachable"]) == (200, "unavailable", False)
    for path in ("/api/v1/municipalities", "/api/v1/commitments"):
        read = get(node_down, path)
        assert read.status_code == 200, (path, read.text)
        assert int(read.headers["X-Ledger-Indexed-Block"]) == health.json()["indexed_block"]
        assert int(read.headers["X-Ledger-Index-Age"]) >= 0


def test_node_down_pages_say_how_old_the_index_is(node_down: InProcessStack) -> None:
    time.sleep(HEAD_STALE_SECONDS + 1)  # the index is now older than head_stale_seconds
    nl = get(node_down, "/", headers={"Accept-Language": "nl"})
    en = get(node_down, "/?lang=en")
    assert (nl.status_code, en.status_code) == (200, 200)
    assert re.search(r'data-testid="index-notice">Dit overzicht is bijgewerkt tot [^<]+ UTC \([^<]+ geleden\); '
                     r"de keten is nu niet bereikbaar\.</p>", nl.text), nl.text[:3000]
    assert re.search(r'data-testid="index-notice">This overview is updated up to [^<]+ UTC \([^<]+ ago\); '
                     r"the chain cannot be reached right now\.</p>", en.text)
    body = get(node_down, "/api/v1/health/ready").json()
    assert body["reasons"] == ["head_stale", "node_unreachable"]
    assert body["index_age_seconds"] > HEAD_STALE_SECONDS


def test_node_back_ready_again(node: Node, node_down: InProcessStack) -> None:
    assert ready(node_down) == 503
    node.start()
    wait_until("readiness 200 after the node came back", lambda: ready(node_down) == 200)
    health = get(node_down, "/api/v1/health").json()
    assert (health["status"], health["node_reachable"], health["reasons"]) == ("ok", True, [])
    # the pages read the freshness cached for up to a second: the notice goes with the next read
    wait_until("the notice gone", lambda: 'data-testid="index-notice"' not in get(node_down, "/").text, 10)
