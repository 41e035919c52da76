"""The OpenAPI document holds: schemathesis (its own virtualenv, ``.venv-schemathesis``, made by
``make schemathesis-setup``) runs every check it has against the live API, with and without a
registrar's token, and finds 0 server errors and 0 failures of any check.

The API and the indexer run as separate processes (``python -m uvicorn api.main:app`` and
``python -m indexer``, settings from ``LEDGER_*`` variables, as ``make run`` starts them) on a
fresh ledger of this run's test chain (tests/conftest.py ``deployment``: Baarn and Utrecht),
seeded on chain with a few commitments (one amended, one withdrawn, one a child), deliveries
(one revoked) and an anchored batch whose file the server holds, and indexed before the run.

Each run is bounded (``MAX_EXAMPLES`` cases per operation, one worker) and deterministic
(schemathesis' ``--generation-deterministic``: no seed, no example database), so two runs of
the same tree send the same requests; it leaves a JUnit report and its text output in
``reports/schemathesis-<run>.{xml,txt}``. The run with a
token really writes to the chain: every staff write the API accepts is mined, and every
refused one must answer a status its operation documents (problem+json).
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from ledger import merkle
from ledger.chain import LedgerChain
from ledger.evidence import EvidenceStore
from ledger.settings import Settings
from ledger.staff import issue_token, set_relayer_key
from tests.api.helpers import RELAYER, SOURCES_DIR, amendment_input, commitment_input, delivery_input
from tests.conftest import REPO_ROOT, Roles

SCHEMATHESIS = REPO_ROOT / ".venv-schemathesis" / "bin" / "schemathesis"
CONFIG = Path(__file__).with_name("schemathesis.toml")
"""The one setting: which writes may answer 422 to a schema-valid body (rules across fields)."""
REPORTS_DIR = REPO_ROOT / "reports"
PORTS = range(8670, 8680)
"""Where the API listens (the first free port; this test's own range)."""
MAX_EXAMPLES = 10
"""Test cases per operation and phase (bounds the run: about a minute each on 2 cores)."""
RUN_TIMEOUT_SECONDS = 600
DAY = 86_400
DELIVERED_AT = 1_736_938_800
"""2025-01-15T11:00:00Z."""
DUE_2030 = 1_924_988_399
EVIDENCE = "0x" + "e1" * 32


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}-{PORTS.stop - 1}")


def _seed(chain: LedgerChain, settings: Settings, registrar_key: str, other_key: str) -> None:
    """A small ledger on chain: commitments 1-4 of Baarn (2 amended, 3 withdrawn, 4 a child
    of 1), 5 of Utrecht; deliveries on 1 (one revoked) and 5; a batch of two deliveries on 2,
    its file in the server's evidence store."""
    send = chain.send
    send("registerCommitment", [commitment_input(1, "sch-1", "Bomen planten", target=100, due=DUE_2030, unit="bomen")],
         registrar_key)
    send("registerCommitment", [commitment_input(1, "sch-2", "Fietsenstalling", target=2, due=DUE_2030)], registrar_key)
    send("registerCommitment", [commitment_input(1, "sch-3", "Speeltuin", target=1, due=DUE_2030)], registrar_key)
    send("registerCommitment", [commitment_input(1, "sch-4", "Laan", target=10, due=DUE_2030, parent_id=1, weight=2)],
         registrar_key)
    send("registerCommitment", [commitment_input(2, "sch-5", "Woningen", target=50, due=DUE_2030)], other_key)
    send("amendCommitment", [2, amendment_input(0, "Meer plekken", target=3)], registrar_key)
    send("withdrawCommitment", [3, "Vervangen"], registrar_key)
    send("recordDelivery", [1, delivery_input(10, DELIVERED_AT, [EVIDENCE], external_ref="lev-1")], registrar_key)
    send("recordDelivery", [1, delivery_input(5, DELIVERED_AT + DAY, [EVIDENCE])], registrar_key)
    send("revokeDelivery", [1_000_002, "Dubbel geteld"], registrar_key)
    send("recordDelivery", [5, delivery_input(7, DELIVERED_AT, [EVIDENCE])], other_key)
    leaves = [merkle.BatchLeaf(2, quantity, DELIVERED_AT, (EVIDENCE,), "", f"stalling {quantity}", f"b-{quantity}", "")
              for quantity in (1, 2)]
    tree = merkle.build_tree(leaves)
    content = tree.to_file_bytes()
    sha256, _ = EvidenceStore(settings.evidence_dir).save_stream(io.BytesIO(content), len(content), "application/json")
    send("anchorBatch", [(1, tree.root, len(leaves), bytes.fromhex(sha256[2:]), "https://baarn.example/batch.json")],
         registrar_key)


class LiveApi:
    """The API and the indexer as processes; ``url`` and ``token`` (Baarn's registrar) set."""

    def __init__(self, settings: Settings, chain: LedgerChain, token: str, logs: Path) -> None:
        self.token = token
        self.chain = chain
        rpc_url = chain.rpc_url
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "LEDGER_ENV": "local",
            "LEDGER_RPC_URL": rpc_url,
            "LEDGER_DATA_DIR": str(settings.data_dir),
            "LEDGER_SOURCES_DIR": str(SOURCES_DIR),
            "LEDGER_POLL_INTERVAL_SECONDS": "0.2",
            "LEDGER_MAX_EVIDENCE_BYTES": str(64 * 1024),
            # the limits stay on (429 is documented) but high enough that the cases reach the routes
            "LEDGER_STAFF_WRITE_RATE_LIMIT": "100000/minute",
            "LEDGER_DOCUMENT_CHECK_RATE_LIMIT": "100000/minute",
            "LEDGER_FAILED_AUTH_RATE_LIMIT": "100000/minute",
        }
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        for name, argv in (
            ("indexer", [sys.executable, "-m", "indexer"]),
            ("api", [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(self.port),
                     "--log-level", "warning"]),
        ):
            log = open(self.logs / f"{name}.log", "wb")
            self.processes.append(
                subprocess.Popen(argv, cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
            )
            log.close()
        deadline = time.monotonic() + 60
        while True:
            for process in self.processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a process exited with {process.returncode}:\n{self.log_text()}")
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the API did not answer within 60 s:\n{self.log_text()}")
            time.sleep(0.2)

    def wait_indexed(self, head: int, timeout_seconds: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if (httpx.get(f"{self.url}/api/v1/health", timeout=5).json().get("indexed_block") or 0) >= head:
                return
            time.sleep(0.2)
        raise TimeoutError(f"index did not reach block {head}:\n{self.log_text()}")

    def log_text(self) -> str:
        logs = sorted(self.logs.glob("*.log"))
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in logs)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module")
def live_api(
    settings: Settings, chain: LedgerChain, roles: Roles, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApi]:
    if not SCHEMATHESIS.exists():
        pytest.fail(f"{SCHEMATHESIS} is missing: run `make schemathesis-setup`")
    _seed(chain, settings, roles.registrar.key, roles.other_registrar.key)
    token = issue_token(settings.staff_keys_file, 1, roles.registrar.key)
    set_relayer_key(settings.staff_keys_file, RELAYER.key)  # POST /relay relays (else 503 relay-unavailable)
    api = LiveApi(settings, chain, token, tmp_path_factory.mktemp("schemathesis-logs"))
    try:
        api.start()
        api.wait_indexed(chain.head_block_number())
        yield api
    finally:
        api.stop()


def run_schemathesis(api: LiveApi, name: str, *extra: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """``schemathesis run`` against ``api`` with every check; its output is also saved in
    ``reports/schemathesis-<name>.txt`` beside the JUnit report ``.xml``, with the run's
    seconds and the blocks mined meanwhile. Returns the process and those blocks."""
    REPORTS_DIR.mkdir(exist_ok=True)
    junit = REPORTS_DIR / f"schemathesis-{name}.xml"
    argv = [
        str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", f"{api.url}/openapi.json",
        "--checks", "all",
        "--max-examples", str(MAX_EXAMPLES),
        "--generation-deterministic",
        "--workers", "1",
        "--request-timeout", "30",
        "--suppress-health-check", "too_slow",
        "--report", "junit", "--report-junit-path", str(junit),
        "--no-color", "--output-truncate", "false", "--output-sanitize", "false",
        *extra,
    ]
    head = api.chain.head_block_number()
    started = time.monotonic()
    done = subprocess.run(argv, cwd=api.logs, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS)
    seconds = time.monotonic() - started
    blocks = api.chain.head_block_number() - head
    done.stdout = done.stdout.replace(api.token, "<token>")
    (REPORTS_DIR / f"schemathesis-{name}.txt").write_text(
        f"{done.stdout}{done.stderr}\nschemathesis exit {done.returncode} in {seconds:.1f} s; {blocks} block(s) mined\n"
    )
    return done, blocks


def test_schemathesis_finds_nothing_without_a_token(live_api: LiveApi) -> None:
    done, _ = run_schemathesis(live_api, "public")
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-4000:] + live_api.log_text()


def test_schemathesis_finds_nothing_with_a_registrar_token(live_api: LiveApi) -> None:
    done, blocks = run_schemathesis(live_api, "registrar", "--header", f"Authorization: Bearer {live_api.token}")
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-4000:] + live_api.log_text()
    assert blocks > 0  # the token's writes really reached the chain


def test_schemathesis_is_installed_from_its_pinned_requirements() -> None:
    pins = dict(line.split("==") for line in (REPO_ROOT / "requirements-schemathesis.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert SCHEMATHESIS.exists() and shutil.which(str(SCHEMATHESIS))
    version = subprocess.run([str(SCHEMATHESIS), "--version"], capture_output=True, text=True, timeout=60).stdout
    assert version.strip() == f"schemathesis, version {pins['schemathesis']}"
