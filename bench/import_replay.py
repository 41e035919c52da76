"""Import and replay timings on the real datasets, on a throwaway anvil.

``python -m bench.import_replay [--data-dir ../shared/data]`` starts the whole system in one
process (``scripts.stack.InProcessStack``: fresh ledger, indexer, API on free ports), imports
Baarn and then Chile through the importer's command line as a registrar would, waits for the
index, runs the auditor replay against the API, and prints wall-clock seconds and the
figures (commitments, deliveries, revocations, transactions, gas). Timings are noisy on a
shared 2-core machine: compare the ratios within one run, not absolute seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.table import Table

from bench.anvil import throwaway_anvil
from ledger.chain import LedgerChain
from ledger.settings import REPO_ROOT
from scripts.stack import InProcessStack

KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)
SOURCES = (("baarn-coalitieakkoord.yaml", "GM0308"), ("ddah-chile.yaml", "CL-GOB"))


def _timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True)
    return time.monotonic() - started, proc


def _gas_by_function(rpc_url: str, first_block: int, last_block: int, address: str) -> dict[str, tuple[int, int]]:
    """function selector name → (transactions, total gas) in blocks first..last (inclusive)."""
    from web3 import Web3

    from ledger.abi import ledger_abi

    w3 = Web3(Web3.HTTPProvider(rpc_url))
    contract = w3.eth.contract(address=address, abi=ledger_abi())
    totals: dict[str, tuple[int, int]] = {}
    for number in range(first_block, last_block + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            if tx["to"] != address:
                continue
            name = contract.decode_function_input(tx["input"])[0].fn_name
            gas = w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"]
            count, total = totals.get(name, (0, 0))
            totals[name] = (count + 1, total + gas)
    return totals


def main(data_dir: Path = typer.Option(REPO_ROOT.parent / "shared" / "data", help="the shared datasets")) -> None:
    """Print import and replay timings and figures."""
    console = Console()
    rows: list[tuple[str, str, str]] = []
    with throwaway_anvil() as rpc_url, tempfile.TemporaryDirectory() as tmp:
        keys = {"GM0308": (KEYS[1], KEYS[2]), "CL-GOB": (KEYS[3], KEYS[4])}
        with InProcessStack(rpc_url, Path(tmp) / "data", KEYS[0], keys) as stack:
            first_block = LedgerChain(rpc_url).head_block_number() + 1
            for mapping, code in SOURCES:
                report = Path(tmp) / f"{code}.json"
                seconds, proc = _timed([sys.executable, "-m", "scripts.importer", str(REPO_ROOT / "scripts" / "mappings" / mapping),
                                        "--api", stack.api_url, "--token", stack.tokens[code], "--data-dir", str(data_dir),
                                        "--report", str(report)])
                if proc.returncode != 0:
                    raise SystemExit(proc.stdout + proc.stderr)
                planned = json.loads(report.read_text())["summary"]["planned"]
                figures = f"{planned['commitments']} commitments, {planned['deliveries']} deliveries, {planned['revocations']} revocations"
                rows.append((f"import {code}", f"{seconds:.1f}", figures))
            last_block = stack.wait_indexed()
            seconds, proc = _timed([sys.executable, "-m", "scripts.replay", "--rpc-url", rpc_url,
                                    "--address", stack.deployment.contract_address,
                                    "--deploy-block", str(stack.deployment.deploy_block),
                                    "--report", str(Path(tmp) / "replay.json")])
            replay = json.loads((Path(tmp) / "replay.json").read_text())
            rows.append(("replay (chain only)", f"{seconds:.1f}", f"blocks {stack.deployment.deploy_block}..{last_block}, exit {proc.returncode}"))
            seconds, proc = _timed([sys.executable, "-m", "scripts.replay", "--rpc-url", rpc_url,
                                    "--address", stack.deployment.contract_address,
                                    "--deploy-block", str(stack.deployment.deploy_block), "--api-url", stack.api_url,
                                    "--report", str(Path(tmp) / "replay-api.json")])
            compared = json.loads((Path(tmp) / "replay-api.json").read_text())["comparison"]
            rows.append(("replay + compare with API", f"{seconds:.1f}", f"{compared['difference_count']} differences, exit {proc.returncode}"))
            health = httpx.get(f"{stack.api_url}/api/v1/health").json()
            gas = _gas_by_function(rpc_url, first_block, last_block, stack.deployment.contract_address)
    table = Table(title="Import and replay on the real datasets (throwaway anvil, in-process indexer and API)")
    for column in ("step", "seconds", "figures"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    gas_table = Table(title="Gas used by the imports, per contract function")
    for column in ("function", "transactions", "total gas", "mean gas"):
        gas_table.add_column(column, justify="right")
    for name, (count, total) in sorted(gas.items()):
        gas_table.add_row(name, str(count), f"{total:,}", f"{total // count:,}")
    console.print(gas_table)
    totals = replay["totals"]
    console.print(f"Index at block {health['indexed_block']} of {health['chain_head_block']}; the replay rebuilt "
                  f"{totals['commitments']} commitments, {totals['deliveries_recorded']} deliveries "
                  f"({totals['deliveries_revoked']} revoked) from events alone.")


if __name__ == "__main__":
    typer.run(main)
