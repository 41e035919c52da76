"""Import and replay timings on the real datasets, batched and one write per transaction.

``python -m bench.import_replay [--data-dir ../shared/data] [--batch-sizes 100,1]`` runs, for
each batch size, the whole system in one process on its own throwaway anvil
(``scripts.stack.InProcessStack``: fresh ledger, indexer, API on free ports), imports Baarn and
then Chile through the importer's command line as a registrar would (``--batch-size N``),
waits for the index, runs the auditor replay from the chain alone and again compared with the
API, and prints wall-clock seconds, transactions (counted on chain, block by block) and gas.
Timings are noisy on a shared 2-core machine: compare the ratios within one run, not absolute
seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from bench.anvil import throwaway_anvil
from ledger.chain import LedgerChain
from ledger.settings import REPO_ROOT
from scripts.local_keys import WELL_KNOWN_KEYS
from scripts.stack import InProcessStack

SOURCES = (("baarn-coalitieakkoord.yaml", "GM0308"), ("ddah-chile.yaml", "CL-GOB"))
# Throwaway chain only: anvil's development accounts 0 (platform admin) and 1..4.
KEYS = WELL_KNOWN_KEYS[:5]


@dataclass
class ChainTally:
    """Transactions to the ledger in a block range and their gas.

    Attributes:
        transactions: mined transactions sent to the ledger.
        gas_used: their total gas.
        by_function: ledger function (inner calls of ``multicall`` named ``multicall/<fn>``) →
            (transactions, operations, total gas).
    """

    transactions: int
    gas_used: int
    by_function: dict[str, tuple[int, int, int]]


@dataclass
class Step:
    """One measured step: label, batch size, wall-clock seconds, chain tally, free text."""

    label: str
    batch_size: int
    seconds: float
    tally: ChainTally | None
    figures: str


def _timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True)
    return time.monotonic() - started, proc


def tally(rpc_url: str, first_block: int, last_block: int, address: str) -> ChainTally:
    """Count the ledger's transactions in blocks first..last (inclusive) and their gas.

    A ``multicall`` is counted once as a transaction, under ``multicall/<inner function>``
    with as many operations as it carried inner calls (the importer never mixes functions in
    one batch; a mixed one is named by its inner functions joined with ``+``).
    """
    from web3 import Web3

    from ledger.abi import ledger_abi

    w3 = Web3(Web3.HTTPProvider(rpc_url))
    contract = w3.eth.contract(address=address, abi=ledger_abi())
    by_function: dict[str, tuple[int, int, int]] = {}
    transactions = gas_used = 0
    for number in range(first_block, last_block + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            if tx["to"] != address:
                continue
            function, args = contract.decode_function_input(tx["input"])
            name, operations = function.fn_name, 1
            if name == "multicall":
                inner = [contract.decode_function_input(call)[0].fn_name for call in args["data"]]
                name, operations = "multicall/" + "+".join(sorted(set(inner))), len(inner)
            gas = int(w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"])
            count, ops, total = by_function.get(name, (0, 0, 0))
            by_function[name] = (count + 1, ops + operations, total + gas)
            transactions += 1
            gas_used += gas
    return ChainTally(transactions, gas_used, by_function)


def _import(stack: InProcessStack, mapping: str, code: str, data_dir: Path, batch_size: int, report: Path) -> tuple[float, dict[str, Any]]:
    seconds, proc = _timed([sys.executable, "-m", "scripts.importer", str(REPO_ROOT / "scripts" / "mappings" / mapping),
                            "--api", stack.api_url, "--token", stack.tokens[code], "--data-dir", str(data_dir),
                            "--report", str(report), "--batch-size", str(batch_size),
                            "--evidence-dir", str(report.parent / f"{code}-evidence")])
    if proc.returncode != 0:
        raise SystemExit(f"import {code} (batch size {batch_size}) exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return seconds, json.loads(report.read_text())["summary"]


def run_once(data_dir: Path, batch_size: int) -> list[Step]:
    """Import both datasets with ``batch_size`` on a fresh chain, then replay; the steps."""
    steps: list[Step] = []
    with throwaway_anvil() as rpc_url, tempfile.TemporaryDirectory() as tmp:
        keys = {"GM0308": (KEYS[1], KEYS[2]), "CL-GOB": (KEYS[3], KEYS[4])}
        with InProcessStack(rpc_url, Path(tmp) / "data", KEYS[0], keys) as stack:
            assert stack.deployment is not None
            address = stack.deployment.contract_address
            for mapping, code in SOURCES:
                first_block = LedgerChain(rpc_url).head_block_number() + 1
                seconds, summary = _import(stack, mapping, code, data_dir, batch_size, Path(tmp) / f"{code}.json")
                counted = tally(rpc_url, first_block, LedgerChain(rpc_url).head_block_number(), address)
                if counted.transactions != summary["transactions"]["count"]:
                    raise SystemExit(f"the report of {code} names {summary['transactions']['count']} transactions, "
                                     f"the chain holds {counted.transactions}")
                planned = summary["planned"]
                steps.append(Step(f"import {code}", batch_size, seconds, counted,
                                  f"{planned['commitments']} commitments, {planned['deliveries']} deliveries, "
                                  f"{planned['revocations']} revocations"))
            last_block = stack.wait_indexed()
            replay_argv = [sys.executable, "-m", "scripts.replay", "--rpc-url", rpc_url, "--address", address,
                           "--deploy-block", str(stack.deployment.deploy_block)]
            seconds, proc = _timed([*replay_argv, "--report", str(Path(tmp) / "replay.json")])
            totals = json.loads((Path(tmp) / "replay.json").read_text())["totals"]
            steps.append(Step("replay (chain only)", batch_size, seconds, None,
                              f"blocks {stack.deployment.deploy_block}..{last_block}, {totals['commitments']} commitments, "
                              f"{totals['deliveries_recorded']} deliveries, exit {proc.returncode}"))
            seconds, proc = _timed([*replay_argv, "--api-url", stack.api_url, "--report", str(Path(tmp) / "replay-api.json")])
            compared = json.loads((Path(tmp) / "replay-api.json").read_text())["comparison"]
            steps.append(Step("replay + compare with API", batch_size, seconds, None,
                              f"{compared['difference_count']} differences, exit {proc.returncode}"))
    return steps


def main(
    data_dir: Path = typer.Option(REPO_ROOT.parent / "shared" / "data", help="the shared datasets"),
    batch_sizes: str = typer.Option("100,1", help="comma-separated --batch-size values to compare"),
) -> None:
    """Print import and replay timings, transactions and gas per batch size."""
    console = Console(width=None if sys.stdout.isatty() else 160)
    sizes = [int(s) for s in batch_sizes.split(",") if s.strip()]
    runs = {size: run_once(data_dir, size) for size in sizes}

    table = Table(title="Import and replay on the real datasets (throwaway anvil, in-process indexer and API)")
    for column in ("step", "batch size", "seconds", "transactions", "gas", "figures"):
        table.add_column(column, justify="left" if column in ("step", "figures") else "right")
    for size, steps in runs.items():
        for step in steps:
            table.add_row(step.label, str(size), f"{step.seconds:.1f}",
                          str(step.tally.transactions) if step.tally else "", f"{step.tally.gas_used:,}" if step.tally else "",
                          step.figures)
    console.print(table)

    for size, steps in runs.items():
        functions: dict[str, tuple[int, int, int]] = {}
        for step in steps:
            for name, (count, ops, gas) in (step.tally.by_function.items() if step.tally else ()):
                c, o, g = functions.get(name, (0, 0, 0))
                functions[name] = (c + count, o + ops, g + gas)
        gas_table = Table(title=f"Gas used by both imports with --batch-size {size}, per contract function")
        for column in ("function", "transactions", "operations", "total gas", "gas per operation"):
            gas_table.add_column(column, justify="right")
        for name, (count, ops, total) in sorted(functions.items()):
            gas_table.add_row(name, str(count), str(ops), f"{total:,}", f"{total // ops:,}")
        console.print(gas_table)


if __name__ == "__main__":
    typer.run(main)
