"""The whole system on the test chain with both real datasets imported (once per session of
this folder): a fresh ledger, the indexer and the API in-process, the importer run as a
command-line program with its default batches (up to 100 writes per transaction), exactly as
a registrar would run it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.stack import InProcessStack
from tests.conftest import ANVIL_KEYS, REPO_ROOT, SHARED_DATA_DIR
from tests.e2e.site_browser import browser, page, seeded  # noqa: F401 (fixtures of the site's browser tests)

MAPPINGS = REPO_ROOT / "scripts" / "mappings"


@dataclass
class ImportRun:
    """One importer run: exit code, seconds taken, JSON report."""

    returncode: int
    seconds: float
    report: dict
    output: str

    @property
    def transactions(self) -> int:
        """Transactions the run sent that were mined (from the report)."""
        return int((self.report.get("summary", {}).get("transactions") or {}).get("count", 0))


def run_importer(stack: InProcessStack, mapping: str, code: str, report: Path, *extra: str) -> ImportRun:
    """Run ``python -m scripts.importer`` against the stack's API as a registrar would."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.importer", str(MAPPINGS / mapping), "--api", stack.api_url,
         "--token", stack.tokens[code], "--data-dir", str(SHARED_DATA_DIR), "--report", str(report), *extra],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
    )
    seconds = time.monotonic() - started
    return ImportRun(proc.returncode, seconds, json.loads(report.read_text()) if report.exists() else {}, proc.stdout + proc.stderr)


@dataclass
class ImportedSystem:
    stack: InProcessStack
    baarn: ImportRun
    chile: ImportRun
    reports_dir: Path


@pytest.fixture(scope="session")
def imported(rpc_url: str, tmp_path_factory: pytest.TempPathFactory) -> ImportedSystem:
    if not SHARED_DATA_DIR.exists():
        pytest.fail(f"the shared datasets are missing at {SHARED_DATA_DIR}")
    data_dir = tmp_path_factory.mktemp("e2e-data")
    reports = tmp_path_factory.mktemp("e2e-reports")
    keys = {"GM0308": (ANVIL_KEYS[6], ANVIL_KEYS[7]), "CL-GOB": (ANVIL_KEYS[8], ANVIL_KEYS[9])}
    with InProcessStack(rpc_url, data_dir, ANVIL_KEYS[0], keys) as stack:
        baarn = run_importer(stack, "baarn-coalitieakkoord.yaml", "GM0308", reports / "baarn.json")
        assert baarn.returncode == 0, baarn.output
        chile = run_importer(stack, "ddah-chile.yaml", "CL-GOB", reports / "chile.json",
                             "--evidence-dir", str(reports / "chile-evidence"))
        assert chile.returncode == 0, chile.output
        stack.wait_indexed()
        yield ImportedSystem(stack, baarn, chile, reports)
