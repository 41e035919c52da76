"""On-chain roles of a municipality, granted and revoked by its admin: ``addRegistrar``,
``removeRegistrar``, ``addConfirmer``, ``removeConfirmer`` (docs/LEDGER.md "Roles"). Used by the
staff workspace's accounts page, where the municipal admin's account signs with the key of the
municipality's admin on chain (its ``signer``); through the write outbox like every staff write.

The contract decides: ``LedgerNotMunicipalityAdmin`` (the signer is not that municipality's
admin), ``LedgerRegistrarUnchanged`` / ``LedgerConfirmerUnchanged`` (the account already holds,
or does not hold, the role), ``LedgerZeroAddress``; each is refused when the call is simulated,
before anything is journaled.
"""

from __future__ import annotations

from typing import Any, Literal

from eth_utils import to_checksum_address

from api.services.ledger_writes import result_builder, tx_json
from ledger.chain import LedgerChain, TxResult
from ledger.staff import StaffIdentity

ChainRole = Literal["registrar", "confirmer"]

FUNCTIONS: dict[tuple[str, bool], str] = {
    ("registrar", True): "addRegistrar",
    ("registrar", False): "removeRegistrar",
    ("confirmer", True): "addConfirmer",
    ("confirmer", False): "removeConfirmer",
}
"""(role, granted) → the contract function."""

EVENTS: dict[str, tuple[str, bool]] = {
    "RegistrarAdded": ("registrar", True),
    "RegistrarRemoved": ("registrar", False),
    "ConfirmerAdded": ("confirmer", True),
    "ConfirmerRemoved": ("confirmer", False),
}
"""The event each function emits → (role, granted)."""


def change_role(chain: LedgerChain, admin: StaffIdentity, account: str, role: ChainRole, grant: bool) -> dict[str, Any]:
    """Grant (``grant``) or revoke ``role`` of ``account`` (an address) in the admin's
    municipality, signed by ``admin`` (the municipality's admin on chain).

    Returns:
        ``{"municipality_id", "account" (EIP-55), "role", "granted", "by", "tx"}``.

    Raises:
        ValueError: ``account`` is no address, or ``role`` is unknown.
        ContractRevertError: the contract refused (see the module docstring).
    """
    if (role, grant) not in FUNCTIONS:
        raise ValueError(f"unknown role {role!r}: registrar or confirmer")
    checksummed = to_checksum_address(account)
    tx = chain.send(FUNCTIONS[(role, grant)], [admin.municipality_id, checksummed], admin.private_key, result="role_changed")
    return _role_changed(tx, {})


@result_builder("role_changed")
def _role_changed(tx: TxResult, _context: dict[str, Any]) -> dict[str, Any]:
    for name, (role, granted) in EVENTS.items():
        found = next((e for e in tx.events if e.name == name), None)
        if found is not None:
            return {"municipality_id": found.args["municipality_id"], "account": found.args["account"], "role": role,
                    "granted": granted, "by": found.args["by"], "tx": tx_json(tx)}
    raise LookupError(f"transaction {tx.tx_hash} emitted no role event")


__all__ = ["change_role", "ChainRole", "FUNCTIONS", "EVENTS"]
