"""Deploy ``CommitmentLedger`` through a live (non-development) brownie network, waiting for
confirmations: ``python tests/deploy/brownie_deploy.py PROJECT NETWORK KEY_FILE CONFS``.

PROJECT is a copy of the brownie project (contracts, interfaces, build, brownie-config.yaml):
brownie records live deployments under ``build/deployments/``, which must not be the shared
checkout's. NETWORK is a network of ``brownie networks list`` (``ledger-interval``); KEY_FILE
holds the platform admin's key (hex); CONFS is ``required_confs`` (brownie's ``tx.wait(n)``).
Prints the ledger's deployment record (``ledger.deployment.Deployment``) as one JSON line, plus
``confirmations`` (the receipt's, as brownie saw it when ``deploy`` returned) and
``network_type`` (brownie's ``CONFIG.network_type``, ``live`` for such a network).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(project_dir: str, network_name: str, key_file: str, required_confs: str) -> None:
    from brownie import accounts, network, project, web3
    from brownie._config import CONFIG

    ledger_project = project.load(project_dir, name="LedgerDeployTest")
    network.connect(network_name)
    admin = accounts.add(Path(key_file).read_text().strip())
    contract = ledger_project.CommitmentLedger.deploy(admin, {"from": admin, "required_confs": int(required_confs)})
    tx = contract.tx
    block = web3.eth.get_block(tx.block_number)
    print(json.dumps({
        "chain_id": web3.eth.chain_id, "contract_address": contract.address, "deploy_block": tx.block_number,
        "deploy_block_hash": block["hash"].hex() if block["hash"].hex().startswith("0x") else "0x" + block["hash"].hex(),
        "deploy_tx": tx.txid, "abi_version": contract.version(), "deployed_at": block["timestamp"],
        "confirmations": tx.confirmations, "network_type": CONFIG.network_type,
    }))
    network.disconnect()


if __name__ == "__main__":
    main(*sys.argv[1:5])
