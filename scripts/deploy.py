"""Deploy the ledger contract once and record where (``data/deployment.json``).

``python -m scripts.deploy [--key 0x.. | --key-file PATH]`` deploys ``CommitmentLedger`` to
``LEDGER_RPC_URL``, owned by the key's account (the platform admin), unless a deployment record
exists whose contract is still on that chain. Prints the record.

The platform admin key comes from ``--key``, else ``LEDGER_PLATFORM_ADMIN_KEY``, else the file
named by ``--key-file`` or ``LEDGER_PLATFORM_ADMIN_KEY_FILE`` (hex, one line; readable by its
owner only outside local use). Only local use (``LEDGER_ENV=local`` and a local chain id, 31337
or 1337) falls back to anvil's first development key. A publicly known development key
(:mod:`scripts.local_keys`) is refused everywhere else, before anything is sent: anyone could
sign as the platform admin. Exit status 0 when deployed or reused, 2 when refused (nothing is
deployed), 1 when the chain failed.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import Mapping, Optional

import typer
from eth_account import Account
from rich.console import Console

from ledger.chain import LedgerChain
from ledger.deployment import Deployment, load_deployment, save_deployment
from ledger.errors import ChainError, DeploymentNotFoundError, LedgerConfigError
from ledger.settings import Settings, load_settings
from scripts.local_keys import LOCAL_CHAIN_IDS, WELL_KNOWN_KEYS, is_well_known_key

LOCAL_PLATFORM_ADMIN_KEY = WELL_KNOWN_KEYS[0]
"""Anvil's first development key: the platform admin of `make run` and the tests. Local use only."""

KEY_ENV = "LEDGER_PLATFORM_ADMIN_KEY"
KEY_FILE_ENV = "LEDGER_PLATFORM_ADMIN_KEY_FILE"

EXIT_REFUSED = 2
EXIT_CHAIN_FAILED = 1


class UnsafePlatformAdminKeyError(LedgerConfigError):
    """A publicly known development key was offered outside local use.

    Attributes:
        env: ``LEDGER_ENV`` in force.
        chain_id: the node's chain id.
        address: the key's account (anvil/hardhat account i of the ``test ... junk`` mnemonic).
    """

    def __init__(self, env: str, chain_id: int, address: str) -> None:
        super().__init__(
            f"Refusing to deploy with {address}, a publicly known development key (anvil/hardhat "
            f"'test test ... junk' mnemonic), with LEDGER_ENV={env} on chain id {chain_id}: anyone "
            f"can sign with it. These keys are accepted only with LEDGER_ENV=local on a local "
            f"chain (chain id {' or '.join(map(str, sorted(LOCAL_CHAIN_IDS)))}). Give the platform "
            f"admin's own key with --key-file or {KEY_FILE_ENV}."
        )
        self.env = env
        self.chain_id = chain_id
        self.address = address


class MissingPlatformAdminKeyError(LedgerConfigError):
    """Outside local use no platform admin key was given (there is no default)."""

    def __init__(self, env: str) -> None:
        super().__init__(
            f"LEDGER_ENV={env} needs the platform admin key given explicitly: --key-file PATH or "
            f"{KEY_FILE_ENV} (a file readable by its owner only), or --key / {KEY_ENV}. There is no default."
        )
        self.env = env


class InvalidPlatformAdminKeyError(LedgerConfigError):
    """The platform admin key is not a 32-byte hex private key, or its file is unsafe."""


def _read_key_file(path: Path, env: str) -> str:
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InvalidPlatformAdminKeyError(f"Cannot read the platform admin key file {path}: {exc}") from exc
    if env != "local" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidPlatformAdminKeyError(f"{path} must be readable by its owner only (chmod 600).")
    return text


def resolve_platform_admin_key(
    env: str,
    key: str | None = None,
    key_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The platform admin key to deploy with.

    Args:
        env: ``LEDGER_ENV`` (``local`` or ``production``).
        key: ``--key``, hex, if given.
        key_file: ``--key-file``, if given.
        environ: the environment (``os.environ`` by default) for ``LEDGER_PLATFORM_ADMIN_KEY``
            and ``LEDGER_PLATFORM_ADMIN_KEY_FILE``.

    Returns:
        the key as given (hex); :data:`LOCAL_PLATFORM_ADMIN_KEY` only when ``env`` is
        ``local`` and nothing was given.

    Raises:
        MissingPlatformAdminKeyError: outside local use and no key was given.
        InvalidPlatformAdminKeyError: the key file cannot be read or is readable by others
            (outside local use), or the key is not a private key.
    """
    environ = os.environ if environ is None else environ
    chosen = key or environ.get(KEY_ENV) or None
    if chosen is None:
        path = key_file or (Path(environ[KEY_FILE_ENV]) if environ.get(KEY_FILE_ENV) else None)
        if path is not None:
            chosen = _read_key_file(path, env)
    if chosen is None:
        if env != "local":
            raise MissingPlatformAdminKeyError(env)
        return LOCAL_PLATFORM_ADMIN_KEY
    try:
        Account.from_key(chosen)
    except (ValueError, TypeError) as exc:
        raise InvalidPlatformAdminKeyError("The platform admin key is not a 32-byte hex private key.") from exc
    return chosen


def check_platform_admin_key(key: str, env: str, chain_id: int) -> None:
    """Refuse a publicly known development key unless this is local use.

    Local use is ``env == "local"`` and ``chain_id`` in :data:`LOCAL_CHAIN_IDS`; any other key
    is accepted everywhere.

    Raises:
        UnsafePlatformAdminKeyError: a key of :data:`scripts.local_keys.WELL_KNOWN_KEYS` outside local use.
    """
    if is_well_known_key(key) and not (env == "local" and chain_id in LOCAL_CHAIN_IDS):
        raise UnsafePlatformAdminKeyError(env, chain_id, Account.from_key(key).address)


def ensure_deployed(settings: Settings, platform_admin_key: str) -> tuple[Deployment, bool]:
    """Return the recorded deployment if its contract is on the chain, else deploy one.

    The key is checked against the chain first (:func:`check_platform_admin_key`): a refused
    key sends nothing.

    Returns:
        (deployment, created): ``created`` is True when this call deployed the contract.

    Raises:
        UnsafePlatformAdminKeyError: a publicly known key outside local use.
        LedgerConfigError: a deployment is recorded but the chain has no code at its address
            (the chain was reset while the record was kept): run ``make reset``.
        ChainUnavailableError: the node cannot be reached.
    """
    chain = LedgerChain(settings.rpc_url, tx_timeout_seconds=settings.tx_timeout_seconds)
    check_platform_admin_key(platform_admin_key, settings.env, chain.chain_id())
    try:
        recorded = load_deployment(settings.deployment_file)
    except DeploymentNotFoundError:
        recorded = None
    if recorded is not None:
        chain = LedgerChain(settings.rpc_url, recorded)
        chain.check_chain()
        block = chain.block(recorded.deploy_block)
        if block is None or block.hash != recorded.deploy_block_hash or not chain.has_code():
            raise LedgerConfigError(
                f"{settings.deployment_file} names contract {recorded.contract_address} at block "
                f"{recorded.deploy_block}, but the chain at {settings.rpc_url} does not have it. "
                "The local chain was reset: run `make reset` to start over."
            )
        return recorded, False
    deployment = chain.deploy(platform_admin_key)
    save_deployment(settings.deployment_file, deployment)
    return deployment, True


def main(
    key: Optional[str] = typer.Option(None, help=f"Platform admin private key, hex (or {KEY_ENV}). Prefer --key-file."),
    key_file: Optional[Path] = typer.Option(None, help=f"File holding the platform admin key, hex (or {KEY_FILE_ENV})."),
) -> None:
    """Deploy the ledger if needed and print the deployment record."""
    err = Console(stderr=True)
    try:
        settings = load_settings()
        platform_admin_key = resolve_platform_admin_key(settings.env, key, key_file)
        deployment, created = ensure_deployed(settings, platform_admin_key)
    except LedgerConfigError as exc:
        err.print(f"[red]{type(exc).__name__}[/]: {exc}", highlight=False)
        raise typer.Exit(EXIT_REFUSED) from exc
    except ChainError as exc:
        err.print(f"[red]{type(exc).__name__}[/]: {exc}", highlight=False)
        raise typer.Exit(EXIT_CHAIN_FAILED) from exc
    Console(width=None if sys.stdout.isatty() else 160).print(
        ("Deployed" if created else "Reusing") + f" {deployment.model_dump_json(indent=2)}"
    )


if __name__ == "__main__":
    typer.run(main)
