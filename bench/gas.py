"""Gas used per ledger operation, measured on a throwaway anvil.

``python -m bench.gas`` prints gas per registration (short and long texts), per delivery
(1, 3 and 16 evidence hashes), amendment, withdrawal and revocation, and the cost of a
Baarn-sized import as a ratio to one registration. Figures are exact gas units from the
receipts (deterministic for the same inputs), not timings.
"""

from __future__ import annotations

import hashlib
import time

from rich.console import Console
from rich.table import Table

from bench.anvil import throwaway_anvil
from ledger.chain import LedgerChain

KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
)


def _sha(i: int) -> bytes:
    return hashlib.sha256(str(i).encode()).digest()


def measure(rpc_url: str) -> list[tuple[str, int]]:
    """Run each operation once on a fresh ledger and return ``[(operation, gas used)]``."""
    from eth_account import Account

    admin, council, registrar = KEYS
    chain = LedgerChain(rpc_url)
    chain.deploy(admin)
    rows: list[tuple[str, int]] = []
    rows.append(("registerMunicipality", chain.send("registerMunicipality", ["Baarn", "GM0308", Account.from_key(council).address], admin).gas_used))
    rows.append(("addRegistrar", chain.send("addRegistrar", [1, Account.from_key(registrar).address], council).gas_used))
    due = int(time.time()) + 365 * 86400
    now = int(time.time()) - 60
    # Warm-up: the very first commitment and delivery also pay for turning the id counters
    # from zero to non-zero (20,000 gas each); every later one is what is measured below.
    chain.send("registerCommitment", [(1, "warm-up", "Warm-up", "", "", 1, "x", due, b"\x00" * 32, "")], registrar)
    chain.send("recordDelivery", [1, (1, now, [_sha(99)], "", "", "")], registrar)
    short = (1, "ref-1", "Renovate 200 social homes", "", "Wonen", 200, "homes", due, b"\x00" * 32, "")
    rows.append(("registerCommitment (short texts)", chain.send("registerCommitment", [short], registrar).gas_used))
    text = "x" * 600  # about the median Baarn agreement (bytes)
    typical = (1, "ref-2", "x" * 160, text, "Wonen en leefomgeving", 1, "afspraak", due, _sha(0), "https://example.org/coalitieakkoord.pdf")
    rows.append(("registerCommitment (Baarn-sized, 600-byte text)", chain.send("registerCommitment", [typical], registrar).gas_used))
    # A commitment's first delivery also creates its delivery list; a delivery external ref adds a mapping slot.
    rows.append(("recordDelivery (first of its commitment, 1 hash, no ref)", chain.send("recordDelivery", [2, (1, now, [_sha(98)], "", "", "")], registrar).gas_used))
    for count in (1, 3, 16):
        delivery = (10, now, [_sha(i) for i in range(count)], "https://example.org/evidence", "Opgeleverd", f"d-{count}")
        rows.append((f"recordDelivery ({count} evidence hash{'es' if count > 1 else ''})", chain.send("recordDelivery", [2, delivery], registrar).gas_used))
    rows.append(("amendCommitment (target and due date)", chain.send("amendCommitment", [2, ("Renovate 250 social homes", "", 250, due + 86400, "Council decision 2025-03")], registrar).gas_used))
    rows.append(("revokeDelivery", chain.send("revokeDelivery", [2, "Wrong evidence file"], registrar).gas_used))
    rows.append(("withdrawCommitment", chain.send("withdrawCommitment", [3, "Superseded by a new agreement"], registrar).gas_used))
    return rows


def measure_status_view(rpc_url: str, sizes: tuple[int, ...] = (10, 50, 100, 200)) -> list[tuple[int, int]]:
    """Gas of the ``statusOf`` view (``eth_estimateGas``) for a commitment with n deliveries
    recorded in reverse date order (the worst recording order for a sort), target met by the
    last one. Returns ``[(n, gas)]``."""
    from eth_account import Account
    from web3 import Web3

    admin, council, registrar = KEYS
    chain = LedgerChain(rpc_url)
    deployment = chain.deploy(admin)
    chain.send("registerMunicipality", ["Bench", "B", Account.from_key(council).address], admin)
    chain.send("addRegistrar", [1, Account.from_key(registrar).address], council)
    view = Web3(Web3.HTTPProvider(rpc_url)).eth.contract(address=deployment.contract_address, abi=chain.abi)
    now = int(time.time()) - 10
    results: list[tuple[int, int]] = []
    for index, n in enumerate(sizes, start=1):
        chain.send("registerCommitment", [(1, f"c{n}", "Bench", "", "", n, "x", now + 86400, b"\x00" * 32, "")], registrar)
        for k in range(n):
            chain.send("recordDelivery", [index, (1, now - k * 60, [_sha(k)], "", "", "")], registrar)
        results.append((n, view.functions.statusOf(index).estimate_gas()))
    return results


def main() -> None:
    """Print the gas tables."""
    with throwaway_anvil() as url:
        rows = measure(url)
    with throwaway_anvil() as url:
        view_rows = measure_status_view(url)
    base = dict(rows)["registerCommitment (short texts)"]
    table = Table(title="Gas per ledger operation (anvil, solc 0.8.28 via IR, optimizer 200 runs)")
    table.add_column("operation")
    table.add_column("gas", justify="right")
    table.add_column("÷ short registration", justify="right")
    for name, gas in rows:
        table.add_row(name, f"{gas:,}", f"{gas / base:.2f}")
    Console().print(table)
    view = Table(title="statusOf view gas by number of deliveries (recorded in reverse date order)")
    view.add_column("deliveries", justify="right")
    view.add_column("gas", justify="right")
    view.add_column("gas per delivery", justify="right")
    for n, gas in view_rows:
        view.add_row(str(n), f"{gas:,}", f"{gas // n:,}")
    Console().print(view)


if __name__ == "__main__":
    main()
