"""Import and replay timings on the real datasets, batched and one write per transaction.

``python -m bench.import_replay [--data-dir ../shared/data] [--batch-sizes 100,1]
[--deliveries-modes per_delivery,batch] [--chain-only]`` runs, for each batch size and
deliveries mode, the whole system in one process on its own throwaway anvil
(``scripts.stack.InProcessStack``: fresh ledger, indexer, API on free ports), imports Baarn and
then Chile through the importer's command line as a registrar would (``--batch-size N
--deliveries-mode M``: Chile's deliveries recorded one by one, or anchored as one batch per
snapshot), waits for the index, runs the auditor replay from the chain alone and again
compared with the API (given the batch files the API publishes, ``--batch-dir``, when Chile
was anchored as batches), and prints wall-clock seconds, transactions (counted on chain, block
by block) and gas.

First, without the API (`chile_deliveries_on_chain`), it writes the 170 Chile deliveries of
the importer's plan straight to fresh ledgers three ways, so the figures of the deliveries
alone are measured even where the API cannot anchor batches: ``recordDelivery`` in
``multicall`` transactions of 100 (as the importer's default), ``recordDelivery`` one per
transaction, and ``anchorBatch`` once per snapshot (each root and batch file computed with
ledger/merkle.py). ``--chain-only`` stops after that.

Timings are noisy on a shared 2-core machine: compare the ratios within one run, not absolute
seconds.
"""

from __future__ import annotations

import hashlib
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
from scripts.importer import load_mapping, plan_source
from scripts.importer.batches import batch_file
from scripts.local_keys import WELL_KNOWN_KEYS
from scripts.stack import InProcessStack

SOURCES = (("baarn-coalitieakkoord.yaml", "GM0308"), ("ddah-chile.yaml", "CL-GOB"))
CHILE_MAPPING = REPO_ROOT / "scripts" / "mappings" / "ddah-chile.yaml"
MULTICALL_SIZE = 100  # the importer's default --batch-size
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
    """One measured step: label, batch size, deliveries mode, wall-clock seconds, chain
    tally, free text."""

    label: str
    batch_size: int
    seconds: float
    tally: ChainTally | None
    figures: str
    deliveries_mode: str = "per_delivery"


@dataclass
class DeliveryWrites:
    """The Chile deliveries written one way, on chain only.

    Attributes:
        way: how they were written.
        deliveries: deliveries written (leaves, for batches).
        transactions: transactions it took.
        gas_used: their total gas.
        seconds: wall-clock seconds of the writes.
    """

    way: str
    deliveries: int
    transactions: int
    gas_used: int
    seconds: float


def _registered_ledger(rpc_url: str, commitments: list[Any]) -> tuple[LedgerChain, dict[str, int]]:
    """A fresh ledger with one municipality (admin ``KEYS[1]``, registrar ``KEYS[2]``) and
    the planned commitments registered; returns it and the commitment ids by external ref."""
    from eth_account import Account

    chain = LedgerChain(rpc_url)
    chain.deploy(KEYS[0])
    chain.send("registerMunicipality", ["Gobierno de Chile", "CL-GOB", Account.from_key(KEYS[1]).address], KEYS[0])
    chain.send("addRegistrar", [1, Account.from_key(KEYS[2]).address], KEYS[1])
    ids: dict[str, int] = {}
    for start in range(0, len(commitments), MULTICALL_SIZE):
        calls = [("registerCommitment", [(1, c.external_ref, c.title, c.description, c.theme, c.target_quantity, c.unit,
                                          c.promised_at, c.due_date, b"\0" * 32, c.source_uri, 0, 0)])
                 for c in commitments[start:start + MULTICALL_SIZE]]
        tx = chain.send_multicall(calls, KEYS[2])
        ids.update({e.args["external_ref"]: int(e.args["commitment_id"]) for e in tx.events if e.name == "CommitmentRegistered"})
    return chain, ids


def _delivery_input(op: Any) -> tuple[Any, ...]:
    return (op.quantity, op.delivered_at, [bytes.fromhex(h[2:]) for h in op.evidence_hashes], op.evidence_uri, op.note,
            op.external_ref, op.asset_ref)


def chile_deliveries_on_chain(data_dir: Path) -> list[DeliveryWrites]:
    """Write the Chile plan's 170 deliveries to fresh ledgers (throwaway anvil, no API) per
    delivery in ``multicall`` batches of 100, one per transaction, and as one anchored batch per
    snapshot; the transactions and gas of the deliveries alone (registrations not counted)."""
    plan = plan_source(load_mapping(CHILE_MAPPING), data_dir)
    out: list[DeliveryWrites] = []
    with throwaway_anvil() as rpc_url:
        chain, ids = _registered_ledger(rpc_url, list(plan.commitments))
        started, txs = time.monotonic(), []
        for start in range(0, len(plan.deliveries), MULTICALL_SIZE):
            chunk = plan.deliveries[start:start + MULTICALL_SIZE]
            txs.append(chain.send_multicall([("recordDelivery", [ids[op.commitment_ref], _delivery_input(op)]) for op in chunk], KEYS[2]))
        out.append(DeliveryWrites(f"recordDelivery, multicall of {MULTICALL_SIZE}", len(plan.deliveries), len(txs),
                                  sum(t.gas_used for t in txs), time.monotonic() - started))

        chain, ids = _registered_ledger(rpc_url, list(plan.commitments))
        started = time.monotonic()
        txs = [chain.send("recordDelivery", [ids[op.commitment_ref], _delivery_input(op)], KEYS[2]) for op in plan.deliveries]
        out.append(DeliveryWrites("recordDelivery, one per transaction", len(plan.deliveries), len(txs),
                                  sum(t.gas_used for t in txs), time.monotonic() - started))

        chain, ids = _registered_ledger(rpc_url, list(plan.commitments))
        started, txs, leaves = time.monotonic(), [], 0
        for batch in plan.batches:
            ops = [plan.operations[i] for i in batch.operations]
            root, content = batch_file(ops, [ids[op.commitment_ref] for op in ops])
            digest = hashlib.sha256(content).digest()
            txs.append(chain.send("anchorBatch", [(1, bytes.fromhex(root[2:]), len(ops), digest,
                                                   f"/api/v1/batches/{root}/file")], KEYS[2]))
            leaves += len(ops)
        out.append(DeliveryWrites(f"anchorBatch, one per snapshot ({', '.join(str(b.leaf_count) for b in plan.batches)} leaves)",
                                  leaves, len(txs), sum(t.gas_used for t in txs), time.monotonic() - started))
    return out


def _timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True)
    return time.monotonic() - started, proc


def tally(rpc_url: str, first_block: int, last_block: int, address: str) -> ChainTally:
    """Count the ledger's transactions in blocks first..last (inclusive) and their gas.

    A ``multicall`` is counted once as a transaction, under ``multicall/<inner function>``
    with as many operations as it carried inner calls (the importer never mixes functions in
    one batch; a mixed one is named by its inner functions joined with ``+``); an
    ``anchorBatch`` carries as many operations as its batch has leaves (``leafCount``).
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
            elif name == "anchorBatch":
                batch = args["input"]  # BatchInput, decoded as a dict of its fields (or a tuple)
                operations = int(batch["leafCount"] if isinstance(batch, dict) else batch[2])
            gas = int(w3.eth.get_transaction_receipt(tx["hash"])["gasUsed"])
            count, ops, total = by_function.get(name, (0, 0, 0))
            by_function[name] = (count + 1, ops + operations, total + gas)
            transactions += 1
            gas_used += gas
    return ChainTally(transactions, gas_used, by_function)


def _import(stack: InProcessStack, mapping: str, code: str, data_dir: Path, batch_size: int, report: Path,
            deliveries_mode: str) -> tuple[float, dict[str, Any]]:
    mode = ["--deliveries-mode", deliveries_mode] if code == "CL-GOB" else []  # Baarn has no deliveries
    seconds, proc = _timed([sys.executable, "-m", "scripts.importer", str(REPO_ROOT / "scripts" / "mappings" / mapping),
                            "--api", stack.api_url, "--token", stack.tokens[code], "--data-dir", str(data_dir),
                            "--report", str(report), "--batch-size", str(batch_size), *mode,
                            "--evidence-dir", str(report.parent / f"{code}-evidence")])
    if proc.returncode != 0:
        raise SystemExit(f"import {code} (batch size {batch_size}, {deliveries_mode}) exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return seconds, json.loads(report.read_text())["summary"]


def _download_batch_files(stack: InProcessStack, folder: Path) -> Path:
    """Every anchored batch's file as the API publishes it (``GET /api/v1/batches/{root}/file``),
    saved as ``<sha256 hex>.json`` in ``folder`` (the replay's ``--batch-dir``)."""
    import httpx

    folder.mkdir(parents=True, exist_ok=True)
    offset = 0
    while True:
        page = httpx.get(f"{stack.api_url}/api/v1/batches", params={"offset": offset, "limit": 100}, timeout=30).json()
        for batch in page["data"]:
            content = httpx.get(f"{stack.api_url}/api/v1/batches/{batch['root']}/file", timeout=30).content
            (folder / f"{batch['file_sha256'][2:]}.json").write_bytes(content)
        offset += len(page["data"])
        if not page["data"] or offset >= page["count"]:
            return folder


def run_once(data_dir: Path, batch_size: int, deliveries_mode: str = "per_delivery") -> list[Step]:
    """Import both datasets with ``batch_size`` (Chile's deliveries in ``deliveries_mode``)
    on a fresh chain, then replay; the steps."""
    steps: list[Step] = []
    with throwaway_anvil() as rpc_url, tempfile.TemporaryDirectory() as tmp:
        keys = {"GM0308": (KEYS[1], KEYS[2]), "CL-GOB": (KEYS[3], KEYS[4])}
        with InProcessStack(rpc_url, Path(tmp) / "data", KEYS[0], keys) as stack:
            assert stack.deployment is not None
            address = stack.deployment.contract_address
            for mapping, code in SOURCES:
                first_block = LedgerChain(rpc_url).head_block_number() + 1
                seconds, summary = _import(stack, mapping, code, data_dir, batch_size, Path(tmp) / f"{code}.json", deliveries_mode)
                counted = tally(rpc_url, first_block, LedgerChain(rpc_url).head_block_number(), address)
                if counted.transactions != summary["transactions"]["count"]:
                    raise SystemExit(f"the report of {code} names {summary['transactions']['count']} transactions, "
                                     f"the chain holds {counted.transactions}")
                planned = summary["planned"]
                batches = summary.get("batches", {}).get("planned") or []
                in_batches = f" in {len(batches)} anchored batches" if batches and deliveries_mode == "batch" else ""
                steps.append(Step(f"import {code}", batch_size, seconds, counted,
                                  f"{planned['commitments']} commitments, {planned['deliveries']} deliveries{in_batches}, "
                                  f"{planned['revocations']} revocations", deliveries_mode))
            last_block = stack.wait_indexed()
            replay_argv = [sys.executable, "-m", "scripts.replay", "--rpc-url", rpc_url, "--address", address,
                           "--deploy-block", str(stack.deployment.deploy_block)]
            if deliveries_mode == "batch":  # the auditor holds the published batch files
                replay_argv += ["--batch-dir", str(_download_batch_files(stack, Path(tmp) / "batch-files"))]
            seconds, proc = _timed([*replay_argv, "--report", str(Path(tmp) / "replay.json")])
            totals = json.loads((Path(tmp) / "replay.json").read_text())["totals"]
            batched = (f", {totals['batched_deliveries']} batched deliveries in {totals['batches_verified']} of "
                       f"{totals['batches_anchored']} batches verified" if totals.get("batches_anchored") else "")
            steps.append(Step("replay (chain only)", batch_size, seconds, None,
                              f"blocks {stack.deployment.deploy_block}..{last_block}, {totals['commitments']} commitments, "
                              f"{totals['deliveries_recorded']} recorded deliveries{batched}, exit {proc.returncode}",
                              deliveries_mode))
            seconds, proc = _timed([*replay_argv, "--api-url", stack.api_url, "--report", str(Path(tmp) / "replay-api.json")])
            compared = json.loads((Path(tmp) / "replay-api.json").read_text())["comparison"]
            steps.append(Step("replay + compare with API", batch_size, seconds, None,
                              f"{compared['difference_count']} differences, exit {proc.returncode}", deliveries_mode))
    return steps


def main(
    data_dir: Path = typer.Option(REPO_ROOT.parent / "shared" / "data", help="the shared datasets"),
    batch_sizes: str = typer.Option("100,1", help="comma-separated --batch-size values to compare"),
    deliveries_modes: str = typer.Option("per_delivery,batch", help="comma-separated --deliveries-mode values for Chile"),
    chain_only: bool = typer.Option(False, "--chain-only", help="only the Chile deliveries on chain, without the API"),
) -> None:
    """Print import and replay timings, transactions and gas per batch size and deliveries mode."""
    console = Console(width=None if sys.stdout.isatty() else 160)

    writes = chile_deliveries_on_chain(data_dir)
    table = Table(title="The 170 Chile deliveries on chain (fresh ledger, no API; registrations not counted)")
    for column in ("written as", "deliveries", "transactions", "gas", "gas per delivery", "seconds"):
        table.add_column(column, justify="left" if column == "written as" else "right")
    for w in writes:
        table.add_row(w.way, str(w.deliveries), str(w.transactions), f"{w.gas_used:,}", f"{w.gas_used // w.deliveries:,}",
                      f"{w.seconds:.1f}")
    console.print(table)
    if chain_only:
        return

    sizes = [int(s) for s in batch_sizes.split(",") if s.strip()]
    modes = [m.strip() for m in deliveries_modes.split(",") if m.strip()]
    runs = {(size, mode): run_once(data_dir, size, mode) for mode in modes for size in sizes}

    table = Table(title="Import and replay on the real datasets (throwaway anvil, in-process indexer and API)")
    for column in ("step", "batch size", "Chile deliveries", "seconds", "transactions", "gas", "figures"):
        table.add_column(column, justify="left" if column in ("step", "figures", "Chile deliveries") else "right")
    for (size, mode), steps in runs.items():
        for step in steps:
            table.add_row(step.label, str(size), mode, f"{step.seconds:.1f}",
                          str(step.tally.transactions) if step.tally else "", f"{step.tally.gas_used:,}" if step.tally else "",
                          step.figures)
    console.print(table)

    for (size, mode), steps in runs.items():
        functions: dict[str, tuple[int, int, int]] = {}
        for step in steps:
            for name, (count, ops, gas) in (step.tally.by_function.items() if step.tally else ()):
                c, o, g = functions.get(name, (0, 0, 0))
                functions[name] = (c + count, o + ops, g + gas)
        gas_table = Table(title=f"Gas used by both imports with --batch-size {size}, Chile deliveries {mode}, per contract function")
        for column in ("function", "transactions", "operations", "total gas", "gas per operation"):
            gas_table.add_column(column, justify="right")
        for name, (count, ops, total) in sorted(functions.items()):
            gas_table.add_row(name, str(count), str(ops), f"{total:,}", f"{total // ops:,}")
        console.print(gas_table)


if __name__ == "__main__":
    typer.run(main)
