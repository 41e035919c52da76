"""Keystore key derivation costs (``ledger.keystore``): seconds to write and to unlock one
Web3 Secret Storage v3 keystore with the production default (scrypt n=2**18, r=8, p=1, as
geth) and the local default (pbkdf2-sha256, 10000 iterations), and what the API's start-up
then spends unlocking N accounts. Prints figures; asserts nothing.

    .venv/bin/python -m bench.keystores [--accounts 10]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from eth_account import Account

from ledger.keystore import (
    LOCAL_KDF,
    LOCAL_PBKDF2_ITERATIONS,
    PRODUCTION_KDF,
    PRODUCTION_SCRYPT_N,
    Keystore,
    KeystoreOptions,
)


def measure(options: KeystoreOptions, accounts: int) -> tuple[float, float]:
    """Seconds per keystore written and per keystore unlocked (mean over ``accounts``)."""
    keys = [Account.create().key.hex() for _ in range(accounts)]
    with tempfile.TemporaryDirectory() as folder:
        store = Keystore(Path(folder), options)
        started = time.perf_counter()
        addresses = [store.write(key) for key in keys]
        written = time.perf_counter() - started
        started = time.perf_counter()
        for address in addresses:
            store.unlock(address)
        unlocked = time.perf_counter() - started
    return written / accounts, unlocked / accounts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=5, help="keystores per kdf (default 5)")
    args = parser.parse_args(argv)
    print(f"{'kdf':<28} {'write s':>9} {'unlock s':>9} {'start-up s for ' + str(args.accounts):>20}")
    for label, options in (
        (f"{PRODUCTION_KDF} n=2**{PRODUCTION_SCRYPT_N.bit_length() - 1} (production)",
         KeystoreOptions("bench", PRODUCTION_KDF, PRODUCTION_SCRYPT_N)),
        (f"{LOCAL_KDF} c={LOCAL_PBKDF2_ITERATIONS} (local)", KeystoreOptions("bench", LOCAL_KDF, LOCAL_PBKDF2_ITERATIONS)),
    ):
        write, unlock = measure(options, args.accounts)
        print(f"{label:<28} {write:>9.3f} {unlock:>9.3f} {unlock * args.accounts:>20.2f}")


if __name__ == "__main__":
    main()
