"""Deploy the ledger contract once and record where (``data/deployment.json``).

``python -m scripts.deploy [--key 0x..]`` deploys ``CommitmentLedger`` to ``LEDGER_RPC_URL``
owned by the key's account (the platform admin) unless a deployment record exists whose
contract is still on that chain. Prints the record.
"""

from __future__ import annotations

import typer
from rich.console import Console

from ledger.chain import LedgerChain
from ledger.deployment import Deployment, load_deployment, save_deployment
from ledger.errors import DeploymentNotFoundError, LedgerConfigError
from ledger.settings import Settings, load_settings

# Anvil's first development key (the "test test ... junk" mnemonic). Local chains only.
LOCAL_PLATFORM_ADMIN_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def ensure_deployed(settings: Settings, platform_admin_key: str) -> tuple[Deployment, bool]:
    """Return the recorded deployment if its contract is on the chain, else deploy one.

    Returns:
        (deployment, created): ``created`` is True when this call deployed the contract.

    Raises:
        LedgerConfigError: a deployment is recorded but the chain has no code at its address
            (the chain was reset while the record was kept): run ``make reset``.
        ChainUnavailableError: the node cannot be reached.
    """
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
    chain = LedgerChain(settings.rpc_url, tx_timeout_seconds=settings.tx_timeout_seconds)
    deployment = chain.deploy(platform_admin_key)
    save_deployment(settings.deployment_file, deployment)
    return deployment, True


def main(key: str = typer.Option(LOCAL_PLATFORM_ADMIN_KEY, help="Platform admin private key (hex).")) -> None:
    """Deploy the ledger if needed and print the deployment record."""
    settings = load_settings()
    deployment, created = ensure_deployed(settings, key)
    Console().print(("Deployed" if created else "Reusing") + f" {deployment.model_dump_json(indent=2)}")


if __name__ == "__main__":
    typer.run(main)
