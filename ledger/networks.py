"""Names of chains by chain id, as readers know them (EIP-155 chain ids; names as on
chainlist.org). The site names the network instead of showing "31337"; an operator may set
``LEDGER_NETWORK_NAME`` for a chain not listed here."""

from __future__ import annotations

NETWORK_NAMES: dict[int, str] = {
    1: "Ethereum Mainnet",
    10: "OP Mainnet",
    100: "Gnosis",
    137: "Polygon PoS",
    8453: "Base",
    17000: "Holesky (testnet)",
    31337: "Local test chain (Anvil)",
    42161: "Arbitrum One",
    59144: "Linea",
    84532: "Base Sepolia (testnet)",
    560048: "Hoodi (testnet)",
    11155111: "Sepolia (testnet)",
}

TEST_CHAIN_IDS = frozenset({17000, 31337, 84532, 560048, 11155111})
"""Chains whose records have no lasting value (test networks and local development chains)."""


def network_name(chain_id: int, configured: str = "") -> str:
    """The network's name: ``configured`` if given, else from :data:`NETWORK_NAMES`, else
    ``"Chain <id>"``."""
    return configured or NETWORK_NAMES.get(chain_id) or f"Chain {chain_id}"
