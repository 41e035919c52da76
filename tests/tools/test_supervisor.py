"""``make run``'s supervisor (scripts/run_local.py): a child that dies is restarted with
back-off and the restart logged; SIGTERM stops every child cleanly.

The back-off rule and the restart bookkeeping are tested on their own (a fake clock, a
``sleep`` child); then the real ``python -m scripts.run_local`` runs on free ports with its own
data folder (its own anvil, never port 8546 or 8000), and each child in turn is killed with
SIGKILL: it comes back, the API answers again, ``data/logs/supervisor.log`` names the restart.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import httpx
import psutil
import pytest

from ledger.chain import LedgerChain
from ledger.deployment import load_deployment
from ledger.errors import ChainUnavailableError
from ledger.settings import REPO_ROOT, load_settings
from scripts.run_local import BACKOFF_RESET_SECONDS, LocalSystem, exit_status, restart_delay
from scripts.stack import free_port

START_TIMEOUT_SECONDS = 240.0
COME_BACK_TIMEOUT_SECONDS = 90.0


def wait_until(what: str, check: Callable[[], bool], timeout_seconds: float) -> None:
    """Poll ``check`` every 0.2 s until it is true. Raises AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout_seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout_seconds} s")
        time.sleep(0.2)


# ------------------------------------------------------------------ the back-off rule


def test_back_off_doubles_from_one_second_to_thirty() -> None:
    backoff, waits = 1.0, []
    for _ in range(8):
        wait, backoff = restart_delay(backoff, ran_seconds=2.0)
        waits.append(wait)
    assert waits == [1, 2, 4, 8, 16, 30, 30, 30]


def test_back_off_resets_after_a_child_ran_a_minute() -> None:
    assert restart_delay(30.0, ran_seconds=BACKOFF_RESET_SECONDS) == (1.0, 2.0)
    assert restart_delay(30.0, ran_seconds=BACKOFF_RESET_SECONDS - 0.1) == (30.0, 30.0)


def test_exit_status_names_the_signal() -> None:
    assert (exit_status(-9), exit_status(-15), exit_status(1), exit_status(0)) == (
        "killed by SIGKILL", "killed by SIGTERM", "exit code 1", "exit code 0")


def test_supervise_waits_the_back_off_then_restarts_and_logs(tmp_path: Path) -> None:
    clock = [1000.0]
    system = LocalSystem(load_settings({}, data_dir=tmp_path), clock=lambda: clock[0])
    first = system._spawn("sleeper", [sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        first.kill()
        first.wait()
        clock[0] += 5.0
        system.supervise()  # plans the restart in 1 s
        assert system.children[0].proc is first
        clock[0] += 0.5
        system.supervise()  # not yet
        assert system.children[0].proc is first
        clock[0] += 0.5
        system.supervise()
        second = system.children[0].proc
        assert second is not first and second.poll() is None
        log = (tmp_path / "logs" / "supervisor.log").read_text().splitlines()
        assert [line.split(" ", 1)[1] for line in log] == [
            f"sleeper (pid {first.pid}) stopped: killed by SIGKILL after 5.0 s; restarting in 1 s "
            f"(see {tmp_path / 'logs'}/sleeper.log)",
            f"sleeper restarted (pid {second.pid}, restart 1)",
        ]
        second.kill()
        second.wait()
        clock[0] += 2.0
        system.supervise()
        assert system.children[0].restart_at == clock[0] + 2.0  # doubled: it ran 2 s only
    finally:
        system.stop()


# ------------------------------------------------------------------ the real make run


@dataclass
class MakeRun:
    proc: subprocess.Popen[bytes]
    data_dir: Path
    rpc_url: str
    api_url: str

    @property
    def supervisor_log(self) -> str:
        path = self.data_dir / "logs" / "supervisor.log"
        return path.read_text() if path.exists() else ""

    def output(self) -> str:
        return (self.data_dir / "make-run.out").read_text(errors="replace")[-3000:]

    def child(self, name: str) -> psutil.Process:
        """The running child ``name`` (``anvil``, ``indexer`` or ``api``)."""
        for process in psutil.Process(self.proc.pid).children():
            try:
                argv = process.cmdline()
            except psutil.NoSuchProcess:
                continue
            if (name == "anvil" and argv and argv[0].endswith("anvil")) or (
                name == "indexer" and argv[1:3] == ["-m", "indexer"]) or (
                name == "api" and (argv[1:3] == ["-m", "api.server"] or "uvicorn" in argv)):
                return process
        raise LookupError(name)

    def answers(self, path: str) -> int | None:
        try:
            return httpx.get(self.api_url + path, timeout=3).status_code
        except httpx.HTTPError:
            return None


def start_make_run(data_dir: Path) -> MakeRun:
    """``python -m scripts.run_local`` on free ports, all state in ``data_dir``; returns once
    it supervises (start-up, deploy and bootstrap done)."""
    rpc_port, api_port = free_port(), free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEDGER_")}
    env.update(LEDGER_ENV="local", LEDGER_DATA_DIR=str(data_dir), LEDGER_RPC_URL=f"http://127.0.0.1:{rpc_port}",
               LEDGER_API_PORT=str(api_port), PYTHONPATH=str(REPO_ROOT))
    with open(data_dir / "make-run.out", "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "scripts.run_local"], cwd=REPO_ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    run = MakeRun(proc, data_dir, f"http://127.0.0.1:{rpc_port}", f"http://127.0.0.1:{api_port}")
    try:
        wait_until("make run's start-up", lambda: "supervising" in run.supervisor_log or proc.poll() is not None,
                   START_TIMEOUT_SECONDS)
    except AssertionError:
        stop_make_run(run)
        raise
    assert proc.poll() is None, run.output()
    time.sleep(1.5)  # anvil dumps its state every second: the bootstrap's blocks are in the file
    return run


def stop_make_run(run: MakeRun) -> int:
    """SIGTERM to make run; its exit status."""
    if run.proc.poll() is None:
        run.proc.send_signal(signal.SIGTERM)
    try:
        return run.proc.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(run.proc.pid, signal.SIGKILL)
        return run.proc.wait()


@pytest.fixture(scope="module")
def make_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeRun]:
    run = start_make_run(tmp_path_factory.mktemp("make-run"))
    yield run
    stop_make_run(run)


@pytest.mark.parametrize("name", ["anvil", "indexer", "api"])
def test_a_killed_child_comes_back_and_the_api_answers_again(make_run: MakeRun, name: str) -> None:
    before = make_run.child(name)
    restarts = make_run.supervisor_log.count(f"{name} restarted")
    before.kill()  # SIGKILL
    wait_until(f"{name} restarted", lambda: make_run.supervisor_log.count(f"{name} restarted") > restarts,
               COME_BACK_TIMEOUT_SECONDS)
    assert f"{name} (pid {before.pid}) stopped: killed by SIGKILL" in make_run.supervisor_log
    after = make_run.child(name)
    assert after.pid != before.pid and after.is_running()
    wait_until("the API answering", lambda: make_run.answers("/api/v1/health/live") == 200, COME_BACK_TIMEOUT_SECONDS)
    wait_until("the API ready", lambda: make_run.answers("/api/v1/health/ready") == 200, COME_BACK_TIMEOUT_SECONDS)
    assert make_run.answers("/api/v1/municipalities") == 200
    # the chain is the same one (anvil restarted from its state file): the ledger is there
    deployment = load_deployment(make_run.data_dir / "deployment.json")
    assert LedgerChain(make_run.rpc_url, deployment).has_code()
    assert make_run.proc.poll() is None


def test_sigterm_stops_every_child_and_the_indexer_finishes_its_chunk(tmp_path: Path) -> None:
    run = start_make_run(tmp_path)
    children = {name: run.child(name) for name in ("anvil", "indexer", "api")}
    assert stop_make_run(run) == 0, run.output()
    assert [name for name, process in children.items() if process.is_running()] == []
    indexer_log = (tmp_path / "logs" / "indexer.log").read_text()
    assert "Received SIGTERM; stopping after the current chunk" in indexer_log
    assert indexer_log.rstrip().endswith("Stopped") or "Stopped" in indexer_log.splitlines()[-1]
    assert json.loads((tmp_path / "chain" / "state.json").read_text())  # anvil wrote its state
    with pytest.raises(ChainUnavailableError):
        LedgerChain(run.rpc_url).chain_id()
