"""End to end: a source of the kind watchdogs publish, imported with a mapping file alone into
a fresh ledger through the API, then replayed from the chain with 0 differences.

The file (written here, as Dutch Excel saves it: semicolons, Windows-1252) rates the promises of
two issuers (Baarn and the Government of Chile, named in one column) twice per row in words
(a mid-term and an end-of-term assessment, `ND` for no data), dates the end-of-term assessment
per row as "juli 2025", writes due dates as 31-12-2026, and continues a promise's list of
documents on the next row. Every figure below is computed by hand from that file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from scripts.stack import InProcessStack
from tests.conftest import ANVIL_KEYS, REPO_ROOT

CSV = (
    "nr;land;belofte;deadline;tussentijds;eind;peildatum;stukken\n"
    "b-1;Baarn;200 sociale huurwoningen renoveren;31-12-2026;Limited;Substantial;juli 2025;Raadsbesluit 12\n"
    ";;;;;;;Raadsbesluit 19\n"                                         # a continuation row: more documents
    "b-2;Baarn;Eén loket voor ondernemers;30-06-2026;ND;Complete;juni 2025;Brief €-regeling\n"
    "c-1;Chile;Ley de litio;31-03-2026;Substantial;Limited;juli 2025;Boletín 1\n"
    "c-2;Chile;Fondo soberano;31-03-2026;Not Started;ND;juli 2025;\n"
)
LEVELS = '{"Not Started": 0, "Limited": 33, "Substantial": 67, "Complete": 100}'
MAPPING = f"""
kind: progress_snapshots
source:
  id: e2e-two-issuers
  name: "Beloften van twee overheden (test)"
  publisher: "Test watchdog"
  url: "https://watchdog.example/beloften"
  licence: "CC BY 4.0"
issuers:
  column: land
  table:
    Baarn: {{name: Baarn, code: GM0308}}
    Chile: {{name: Gobierno de Chile, code: CL-GOB}}
read: {{delimiter: ";", encoding: windows-1252}}
group:
  continuation: {{column: nr, empty: true}}
  collect: {{stukken: "; "}}
key_column: nr
snapshots:
  - {{label: rapport, file: beloften.csv}}
assessments:
  - label: mid
    progress: {{column: tussentijds, transforms: [{{lookup: {{table: {LEVELS}, no_data: [ND]}}}}]}}
    as_of: "2024-06-30T23:59:59+02:00"
  - label: end
    progress: {{column: eind, transforms: [{{lookup: {{table: {LEVELS}, no_data: [ND]}}}}]}}
    as_of: {{column: peildatum, transforms: [{{date: {{formats: [month_year], period: end}}}}]}}
commitment:
  external_ref: {{column: nr}}
  title: {{column: belofte}}
  description: {{template: "Stukken: {{stukken}}"}}
  target_quantity: {{const: 100}}
  unit: {{const: "%"}}
  promised_at: {{const: "2022-06-13T00:00:00+02:00"}}
  due_date: {{column: deadline, transforms: [{{date: {{formats: ["%d-%m-%Y"], period: end}}}}]}}
delivery:
  external_ref: {{template: "{{$snapshot}}-{{$assessment}}"}}
  evidence_columns: [belofte, stukken]
revocation_reason: {{template: "{{$assessment}}: van {{$from}}% naar {{$to}}%"}}
"""


def _commitments(api: str, municipality_id: int) -> dict[str, dict]:
    page = httpx.get(f"{api}/api/v1/commitments", params={"municipality_id": municipality_id, "limit": 100}).json()
    return {c["external_ref"]: httpx.get(f"{api}/api/v1/commitments/{c['id']}").json() for c in page["data"]}


@pytest.fixture(scope="module")
def imported(rpc_url: str, tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("any-source")
    (base / "beloften.csv").write_bytes(CSV.encode("windows-1252"))
    (base / "beloften.yaml").write_text(MAPPING, encoding="utf-8")
    keys = {"GM0308": (ANVIL_KEYS[6], ANVIL_KEYS[7]), "CL-GOB": (ANVIL_KEYS[8], ANVIL_KEYS[9])}
    with InProcessStack(rpc_url, base / "data", ANVIL_KEYS[0], keys) as stack:
        tokens = base / "tokens.json"
        tokens.write_text(json.dumps(stack.tokens), encoding="utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", "scripts.importer", str(base / "beloften.yaml"), "--api", stack.api_url,
             "--token-file", str(tokens), "--data-dir", str(base), "--report", str(base / "report.json")],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
        )
        stack.wait_indexed()
        yield stack, proc, base


def test_the_source_is_imported_per_issuer_with_its_words_dates_and_no_data(imported) -> None:
    stack, proc, base = imported
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # this mapping is not among the server's (scripts/mappings): the importer says it will not be credited
    assert "the API credits no source 'e2e-two-issuers' for Baarn" in " ".join(proc.stdout.split())
    baarn = _commitments(stack.api_url, stack.municipality_ids["GM0308"])
    chile = _commitments(stack.api_url, stack.municipality_ids["CL-GOB"])
    assert sorted(baarn) == ["b-1", "b-2"] and sorted(chile) == ["c-1", "c-2"]
    b1 = baarn["b-1"]
    assert (b1["title"], b1["description"]) == ("200 sociale huurwoningen renoveren", "Stukken: Raadsbesluit 12; Raadsbesluit 19")
    assert b1["due_date"] == 1798757999  # 31-12-2026 23:59:59 Europe/Amsterdam (+01:00)
    assert baarn["b-2"]["title"] == "Eén loket voor ondernemers" and baarn["b-2"]["description"] == "Stukken: Brief €-regeling"
    assert b1["source_uri"] == "https://watchdog.example/beloften#ledger-source=e2e-two-issuers"

    def counted(detail: dict) -> list[tuple[str, int, int]]:
        return sorted((d["external_ref"], int(d["quantity"]), d["delivered_at"]) for d in detail["deliveries"]
                      if d["revocation"] is None)

    mid, july_end, june_end = 1719784799, 1753999199, 1751320799  # 2024-06-30, 2025-07-31, 2025-06-30 23:59:59 +02:00
    assert counted(b1) == [("rapport-end", 34, july_end), ("rapport-mid", 33, mid)]  # Limited → Substantial: +34
    assert counted(baarn["b-2"]) == [("rapport-end", 100, june_end)]  # no data at mid-term: nothing then
    assert counted(chile["c-2"]) == []  # Not Started, then no data: nothing
    c1 = chile["c-1"]  # Substantial at mid-term, Limited at the end: the mid-term delivery revoked, 33 delivered
    assert counted(c1) == [("rapport-end", 33, july_end)]
    revoked = [d for d in c1["deliveries"] if d["external_ref"] == "rapport-mid"]
    assert len(revoked) == 1 and int(revoked[0]["quantity"]) == 67


def test_the_replay_from_the_chain_alone_finds_no_difference(imported, tmp_path: Path) -> None:
    stack, proc, _base = imported
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report_path = tmp_path / "replay.json"
    replay = subprocess.run(
        [sys.executable, "-m", "scripts.replay", "--rpc-url", stack.rpc_url, "--address", stack.deployment.contract_address,
         "--deploy-block", str(stack.deployment.deploy_block), "--api-url", stack.api_url, "--report", str(report_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert json.loads(report_path.read_text())["comparison"]["differences"] == []
