"""The publicly known development keys, kept in one place so that deployment can refuse them.

anvil, hardhat and ganache (and brownie's ``development`` network, which runs anvil) derive
their funded accounts from the mnemonic ``test test test test test test test test test test
test junk`` along ``m/44'/60'/0'/0/i``. Anyone can sign with these keys: on any chain but a
throwaway local one, an account made from them is owned by everybody. Source: anvil's start-up
banner (``anvil`` prints "Available Accounts" / "Private Keys", i = 0..9), the same ten in
hardhat's documentation of its network accounts.

The one list of them: deployment (``scripts/deploy.py``), the local set-up and production
refusals (``Settings.check_safe``) read it here; ``scripts.local_keys`` re-exports it.
"""

from __future__ import annotations

from eth_account import Account

WELL_KNOWN_MNEMONIC = "test test test test test test test test test test test junk"

WELL_KNOWN_KEYS: tuple[str, ...] = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
)
"""Private keys of accounts 0..9 of :data:`WELL_KNOWN_MNEMONIC` (``0x`` + 64 lowercase hex)."""

LOCAL_CHAIN_IDS: frozenset[int] = frozenset({31337, 1337})
"""Chain ids of local development chains: 31337 (anvil, hardhat), 1337 (ganache, geth --dev)."""


def normalise_key(private_key: str) -> str:
    """``0x`` + lowercase hex of a private key given with or without ``0x``, any case,
    surrounding whitespace stripped (the form :data:`WELL_KNOWN_KEYS` uses)."""
    key = private_key.strip().lower()
    return key if key.startswith("0x") else "0x" + key


def is_well_known_key(private_key: str) -> bool:
    """Whether ``private_key`` is one of :data:`WELL_KNOWN_KEYS`, in any spelling
    (with or without ``0x``, upper or lower case)."""
    return normalise_key(private_key) in WELL_KNOWN_KEYS


WELL_KNOWN_ADDRESSES: frozenset[str] = frozenset(Account.from_key(key).address for key in WELL_KNOWN_KEYS)
"""EIP-55 addresses of :data:`WELL_KNOWN_KEYS` (a keystore file names its address, so these are
recognised without unlocking it)."""


def is_well_known_address(address: str) -> bool:
    """Whether ``address`` (any case, with or without ``0x``) is one of :data:`WELL_KNOWN_ADDRESSES`."""
    text = address.strip().lower().removeprefix("0x")
    return any(text == known.lower()[2:] for known in WELL_KNOWN_ADDRESSES)
