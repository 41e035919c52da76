"""slither finds no High or Medium issue in the contracts (issue 5, "How to check it").

``make slither`` (a prerequisite of ``make test``) runs slither-analyzer from its own
virtualenv with ``--compile-force-framework brownie --filter-paths node_modules --json
reports/slither.json``. A finding that is accepted is explained where it occurs, with a
``// slither-disable-next-line <detector>`` comment and the reason beside it; slither then
leaves it out of the report. So any High or Medium finding in the report is unexplained.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REPORT = REPO_ROOT / "reports" / "slither.json"
LOG = REPO_ROOT / "reports" / "slither.txt"
CONTRACT_SOURCES = sorted((REPO_ROOT / "contracts").rglob("*.sol"))
GATED_IMPACTS = ("High", "Medium")


def _findings() -> list[dict[str, Any]]:
    if not REPORT.exists():
        pytest.fail(f"{REPORT} is missing: run `make slither` (make test runs it first).")
    report = json.loads(REPORT.read_text(encoding="utf-8"))
    assert report["success"] is True, f"slither failed: {report.get('error')}"
    return list((report.get("results") or {}).get("detectors") or [])


def _where(finding: dict[str, Any]) -> str:
    return f"{finding['check']} ({finding['impact']}) at {finding.get('first_markdown_element', '?')}: " + finding["description"].strip()


def test_the_report_is_newer_than_every_contract_source() -> None:
    _findings()
    stale = [str(p.relative_to(REPO_ROOT)) for p in CONTRACT_SOURCES if p.stat().st_mtime > REPORT.stat().st_mtime]
    assert stale == [], "contracts changed after the slither run: run `make slither`"


def test_slither_analysed_the_ledger_and_its_openzeppelin_bases() -> None:
    _findings()
    log = LOG.read_text(encoding="utf-8")
    assert "'brownie compile' running" in log
    match = re.search(r"analyzed \((\d+) contracts with (\d+) detectors\)", log)
    assert match is not None, log[-2000:]
    # CommitmentLedger, ICommitmentLedger, Ownable, Ownable2Step, Multicall, Context, Address, Errors.
    assert int(match.group(1)) >= 8 and int(match.group(2)) >= 90
    built = REPO_ROOT / "build" / "slither" / "build" / "contracts"
    assert {"CommitmentLedger.json", "Multicall.json", "Address.json"} <= {p.name for p in built.glob("*.json")}


def test_no_high_or_medium_finding_is_left_unexplained() -> None:
    unexplained = [_where(f) for f in _findings() if f["impact"] in GATED_IMPACTS]
    assert unexplained == []


def test_findings_come_from_the_project_only_never_from_node_modules() -> None:
    paths = {
        element["source_mapping"]["filename_relative"]
        for finding in _findings()
        for element in finding.get("elements", [])
        if element.get("source_mapping")
    }
    assert not any(p.startswith("node_modules") for p in paths)
