"""A run that cannot go on (issue 7): it stops after a few failed requests in a row with a
clear message and exit 3, logs every retry on stderr, writes its report as it goes and leaves
one when it stops, crashes or is killed (SIGTERM, SIGINT of a subprocess mid-run), shows
progress only on a terminal; through the write outbox (202, polled) the import is the same,
and re-running is safe. The API is `conftest.FakeLedgerApi`: in-process through
`httpx.MockTransport`, or served over HTTP on this helper's ports (8641..8645) for subprocesses."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from typer.testing import CliRunner

from scripts.importer import cli as cli_module
from scripts.importer.apply import apply_plan
from scripts.importer.client import LedgerClient
from scripts.importer.errors import ConsecutiveFailuresError
from scripts.importer.state import LedgerState
from scripts.importer.tokens import TOKEN_ENV_VAR
from tests.importer.conftest import REPO, FakeLedgerApi, served_over_http

runner = CliRunner()


class Clock:
    """Monotonic seconds that move only when the client sleeps (no real waiting)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class GoesAway:
    """The fake API, gone (connection refused) after its ``after``-th write; or raising
    ``crash`` there instead."""

    def __init__(self, fake, after: int, crash: BaseException | None = None) -> None:
        self.fake, self.after, self.crash = fake, after, crash
        self.posts = 0
        self.refused = 0

    def handle(self, request):
        if request.method == "POST":
            self.posts += 1
        if self.posts > self.after:
            if self.crash is not None:
                raise self.crash
            self.refused += 1
            raise httpx.ConnectError("connection refused")
        return self.fake.handle(request)


@pytest.fixture()
def through(monkeypatch):
    """``through(handler)``: the CLI's clients talk to ``handler`` with a fake clock."""
    monkeypatch.delenv(TOKEN_ENV_VAR, raising=False)

    def use(handler):
        clock = Clock()

        def make_client(base_url, token=None, **kwargs):
            return LedgerClient(base_url, token, transport=httpx.MockTransport(handler), sleep=clock.sleep, clock=clock, **kwargs)

        monkeypatch.setattr(cli_module, "LedgerClient", make_client)
        return clock

    return use


def invoke(*args):
    result = runner.invoke(cli_module.app, [str(a) for a in args])
    result.flat = " ".join(result.output.split())
    result.err = " ".join(result.stderr.split())
    return result


def outcomes(report):
    out: dict[str, int] = {}
    for row in report["rows"]:
        for op in row["operations"]:
            out[op["outcome"]] = out.get(op["outcome"], 0) + 1
    return out


def test_the_api_going_away_stops_the_run_with_exit_3_a_message_and_a_report(through, fake_api, tmp_path, mapping_paths, data_dir):
    gone = GoesAway(fake_api, after=20)
    through(gone.handle)
    report_path = tmp_path / "out.json"
    result = invoke(mapping_paths["baarn"], "--api", "http://ledger.test", "--token", "tok-baarn", "--data-dir", data_dir,
                    "--report", report_path, "--batch-size", 1)
    assert result.exit_code == cli_module.EXIT_STOPPED == 3, result.output
    assert "stopped: 5 requests in a row failed, the last with: cannot reach the ledger API at http://ledger.test/api/v1/staff/commitments" in result.flat
    assert "24 of 131 rows settled (written 20, present 0, failed or blocked 4); the rest was not sent" in result.flat
    assert "Re-running the same command is safe" in result.flat
    # Each failed request was retried for at most 60 s (waits 1, 2, 4, 8, 16 s), every retry logged.
    assert gone.refused == 5 * 6
    assert result.err.count("retry:") == 5 * 5
    assert "retry: POST /api/v1/staff/commitments: ConnectError: connection refused; retry 2 in 1.0 s (0 s of 60 s used)" in result.err
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert (report["complete"], report["interrupted"], report["interruption"]["reason"]) == (False, True, "consecutive-failures")
    assert report["interruption"]["detail"].startswith("5 requests in a row failed")
    assert outcomes(report) == {"done": 20, "failed": 4, "planned": 131 - 24}
    assert report["progress"] == {"rows_with_operations": 131, "rows_settled": 24, "operations": 131, "operations_settled": 24}
    assert len(fake_api.commitments) == 20

    through(fake_api.handle)  # the API is back: the same command finishes the job
    again = invoke(mapping_paths["baarn"], "--api", "http://ledger.test", "--token", "tok-baarn", "--data-dir", data_dir,
                   "--report", report_path, "--batch-size", 1)
    assert again.exit_code == 0, again.output
    assert sorted(c["external_ref"] for c in fake_api.commitments.values()) == sorted(
        {c["external_ref"] for c in fake_api.commitments.values()})
    assert len(fake_api.commitments) == 131
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert (report["complete"], report["interrupted"], report["interruption"]) == (True, False, None)
    assert outcomes(report) == {"done": 111, "already_present": 20}


def test_the_limit_of_failures_in_a_row_is_an_option(through, fake_api, tmp_path, mapping_paths, data_dir):
    gone = GoesAway(fake_api, after=3)
    through(gone.handle)
    result = invoke(mapping_paths["baarn"], "--api", "http://ledger.test", "--token", "tok-baarn", "--data-dir", data_dir,
                    "--batch-size", 1, "--max-consecutive-failures", 2, "--max-retry-seconds", 0)
    assert result.exit_code == 3, result.output
    assert gone.refused == 2  # no retry within a budget of 0 s
    assert "stopped: 2 requests in a row failed" in result.flat


def test_refusals_of_rows_do_not_stop_the_run(through, fake_api, tmp_path, mapping_paths, data_dir, baarn_plan):
    for op in baarn_plan.commitments[:6]:  # 6 refusals in a row: the rows' own fault
        fake_api.reject[op.external_ref] = (422, "contract-rejected", "LedgerTextTooLong: title")
    through(fake_api.handle)
    result = invoke(mapping_paths["baarn"], "--api", "http://ledger.test", "--token", "tok-baarn", "--data-dir", data_dir,
                    "--batch-size", 1)
    assert result.exit_code == 1, result.output
    assert len(fake_api.commitments) == 131 - 6


def test_a_crash_leaves_the_report_and_exit_4(through, fake_api, tmp_path, mapping_paths, data_dir):
    through(GoesAway(fake_api, after=10, crash=RuntimeError("disk on fire")).handle)
    report_path = tmp_path / "out.json"
    result = invoke(mapping_paths["baarn"], "--api", "http://ledger.test", "--token", "tok-baarn", "--data-dir", data_dir,
                    "--report", report_path, "--batch-size", 1)
    assert result.exit_code == cli_module.EXIT_CRASHED == 4
    assert "crashed: RuntimeError: disk on fire. 10 of 131 rows settled" in result.flat
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert (report["complete"], report["interruption"]["reason"], report["interruption"]["detail"]) == (
        False, "crash", "RuntimeError: disk on fire")
    assert outcomes(report) == {"done": 10, "planned": 121}


def test_the_applier_reports_each_result_as_it_goes_and_lets_a_stop_through(fake_api, baarn_plan):
    gone = GoesAway(fake_api, after=7)
    client = LedgerClient("http://ledger.test", "tok-baarn", transport=httpx.MockTransport(gone.handle),
                          sleep=lambda _s: None, max_attempts=1, max_consecutive_failures=3)
    seen = []
    state = LedgerState.empty()
    state.municipality_id = 1
    with pytest.raises(ConsecutiveFailuresError):
        apply_plan(baarn_plan, client, state, dry_run=False, batch_size=1, on_progress=seen.append)
    assert [len(r.results) for r in seen] == list(range(1, 10))  # 7 written, 2 failed, the 3rd failure stops
    assert [r.outcome for r in seen[-1].results] == ["done"] * 7 + ["failed"] * 2


def test_through_the_write_outbox_the_import_is_the_same_and_the_keys_are_stable(through, tmp_path, mapping_paths, data_dir):
    runs = []
    for _ in range(2):  # two fresh ledgers: the same requests, the same keys
        fake = FakeLedgerApi()
        fake.outbox, fake.confirm_after_polls = True, 2
        through(fake.handle)
        report_path = tmp_path / "chile.json"
        result = invoke(mapping_paths["chile"], "--api", "http://ledger.test", "--token", "tok-chile", "--data-dir", data_dir,
                        "--report", report_path)
        assert result.exit_code == 0, result.output
        runs.append(fake)
    fake = runs[-1]
    assert len(fake.commitments) == 216 and len(fake.batches) == 3
    assert fake.idempotency_keys == runs[0].idempotency_keys and None not in fake.idempotency_keys
    assert len(set(fake.idempotency_keys)) == len(fake.idempotency_keys)
    # Pipelined writes go without Prefer (answered once journaled, polled later); the three
    # anchored batches still wait for their confirmation.
    assert fake.prefer.count("wait=10") == 3 and set(fake.prefer) == {None, "wait=10"}
    polls = [p for m, p in fake.requests if p.startswith("/api/v1/staff/writes/")]
    assert len(polls) == 2 * len(fake.outbox_writes)
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["complete"] is True
    assert report["summary"]["batches"]["sent"]["done"] == 3
    assert all(b["tx"]["tx_hash"].startswith("0x") for b in report["batches"])

    # A write sent again with its key (an answer lost, a re-run) is the same write: never twice.
    key = fake.idempotency_keys[0]
    body = {"commitments": []}
    with httpx.Client(transport=httpx.MockTransport(fake.handle), base_url="http://ledger.test") as http:
        reused = http.post("/api/v1/staff/commitments/batch", json=body, headers={"Idempotency-Key": key,
                                                                                   "Authorization": "Bearer tok-chile"})
    assert reused.status_code == 422 and reused.json()["type"].endswith("idempotency-key-reused")


# ------------------------------------------------------------------ subprocesses


def importer_command(api_url, report_path, data_dir, mapping, *extra):
    return [sys.executable, "-m", "scripts.importer", str(mapping), "--api", api_url, "--token", "tok-baarn",
            "--data-dir", str(data_dir), "--report", str(report_path), "--batch-size", "1", *extra]


def subprocess_env():
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV_VAR}
    env["PYTHONPATH"] = str(REPO)
    return env


def wait_for_report(path, done_at_least, proc, timeout_seconds=120.0):
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the importer ended before it was signalled"
        if path.exists():
            report = json.loads(path.read_text(encoding="utf-8"))  # always whole: written with os.replace
            if outcomes(report).get("done", 0) >= done_at_least:
                return report
        time.sleep(0.05)
    raise AssertionError("the report did not show progress in time")


@pytest.mark.parametrize(("signum", "status", "reason", "port"), [
    (signal.SIGTERM, 143, "sigterm", 8641),
    (signal.SIGINT, 130, "sigint", 8642),
])
def test_a_signalled_run_leaves_a_valid_report_and_a_rerun_finishes(fake_api, tmp_path, mapping_paths, data_dir,
                                                                  signum, status, reason, port):
    fake_api.outbox = True
    fake_api.write_delay_seconds = 0.05
    report_path = tmp_path / "out.json"
    with served_over_http(fake_api, port) as api_url:
        command = importer_command(api_url, report_path, data_dir, mapping_paths["baarn"])
        proc = subprocess.Popen(command, cwd=REPO, env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            running = wait_for_report(report_path, 5, proc)
            assert running["complete"] is False and running["interrupted"] is False
            proc.send_signal(signum)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == status, out + err
        assert f"interrupted ({reason.upper()})" in " ".join(out.split())
        assert "importing" not in err  # stderr is a pipe: no progress display
        report = json.loads(report_path.read_text(encoding="utf-8"))
        assert (report["complete"], report["interrupted"], report["interruption"]["reason"]) == (False, True, reason)
        done = outcomes(report).get("done", 0)
        # At most the writes in flight (--max-in-flight, 4) are not in it: a re-run finds them by their keys.
        assert done >= 5 and done <= len(fake_api.commitments) <= done + 4

        fake_api.write_delay_seconds = 0.0
        fake_api.confirm_after_polls = 0  # the rest confirmed in the answer (was a 0.5 s poll each: a minute)
        rerun = subprocess.run(command, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    refs = [c["external_ref"] for c in fake_api.commitments.values()]
    assert len(refs) == len(set(refs)) == 131
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["complete"] is True and outcomes(report)["already_present"] == len(refs) - outcomes(report)["done"]


def run_on_a_terminal(command):
    """Run ``command`` with stderr on a pseudo-terminal; returns (exit status, what stderr showed)."""
    master, slave = pty.openpty()
    env = {**subprocess_env(), "TERM": "xterm-256color", "COLUMNS": "160"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks: list[bytes] = []

    def read():
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    status = proc.wait(timeout=300)
    reader.join(timeout=10)
    os.close(master)
    return status, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize(("extra", "shown", "port"), [((), True, 8643), (("--quiet",), False, 8644)])
def test_progress_is_shown_on_a_terminal_unless_quiet(fake_api, tmp_path, mapping_paths, data_dir, extra, shown, port):
    with served_over_http(fake_api, port) as api_url:
        status, err = run_on_a_terminal(importer_command(api_url, tmp_path / "out.json", data_dir, mapping_paths["baarn"], *extra))
    assert status == 0, err
    assert ("importing" in err and "131/131" in err and "confirmed 131" in err) is shown


def test_no_progress_without_a_terminal(fake_api, tmp_path, mapping_paths, data_dir):
    with served_over_http(fake_api, 8645) as api_url:
        run = subprocess.run(importer_command(api_url, tmp_path / "out.json", data_dir, mapping_paths["baarn"]),
                             cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stderr == ""
    assert "report written to" in run.stdout
