"""Platform and municipality administration (ledger v2 roles, docs/LEDGER.md "Roles"): the
platform admin onboards a municipality with its own admin; that admin (and nobody else) adds
registrars and confirmers; a staff token binds one account (with its roles) to the API; the
relayer key lets the API submit writes signed elsewhere.

Plain CLI (``python -m scripts.admin --help``) and library functions used by the local
set-up (``scripts/run_local.py``). Keys are hex private keys; on a public chain they come
from the operator's own key management, never from this repository.
"""

from __future__ import annotations

from pathlib import Path

import typer
from eth_account import Account
from rich.console import Console

from ledger.chain import LedgerChain
from ledger.deployment import load_deployment
from ledger.errors import ContractRevertError
from ledger.settings import load_settings
from ledger.staff import ROLES, issue_token, set_relayer_key

app = typer.Typer(help="Onboard municipalities, registrars and staff tokens.", no_args_is_help=True)


def find_municipality(chain: LedgerChain, admin_address: str, code: str) -> int | None:
    """Id of the municipality with ``code`` that ``admin_address`` registered with or
    administers now (after a handover or recovery), from the event log (deploy block .. head,
    inclusive) and ``municipalityAdmin``; ``None`` if there is none."""
    assert chain.deployment is not None
    logs = chain.get_logs(chain.deployment.deploy_block, chain.head_block_number())
    for event in chain.decoder.decode_all(logs):
        if event.name != "MunicipalityRegistered" or event.args["code"] != code:
            continue
        municipality_id = int(event.args["municipality_id"])
        if admin_address in (event.args["admin"], chain.call("municipalityAdmin", municipality_id)):
            return municipality_id
    return None


def onboard_municipality(chain: LedgerChain, platform_admin_key: str, name: str, code: str, admin_address: str) -> int:
    """Register a municipality with its admin (platform admin's only say over it) unless one
    with this code and admin exists; return its id.

    Raises:
        ContractRevertError: the contract refused (e.g. name too long, caller not the owner,
            ``LedgerPaused``).
    """
    existing = find_municipality(chain, admin_address, code)
    if existing is not None:
        return existing
    result = chain.send("registerMunicipality", [name, code, admin_address], platform_admin_key)
    return int(result.event("MunicipalityRegistered").args["municipality_id"])


def ensure_registrar(chain: LedgerChain, admin_key: str, municipality_id: int, registrar_address: str) -> bool:
    """Make ``registrar_address`` a registrar of the municipality, signed by the
    municipality's admin; False if it already was.

    Raises:
        ContractRevertError: the caller is not the municipality's admin
            (``LedgerNotMunicipalityAdmin``), ``LedgerPaused``, or another refusal.
    """
    if chain.call("isRegistrar", municipality_id, registrar_address):
        return False
    chain.send("addRegistrar", [municipality_id, registrar_address], admin_key)
    return True


def ensure_confirmer(chain: LedgerChain, admin_key: str, municipality_id: int, confirmer_address: str) -> bool:
    """Make ``confirmer_address`` a confirmer of the municipality, signed by the municipality's
    admin; False if it already was.

    Raises:
        ContractRevertError: the caller is not the municipality's admin
            (``LedgerNotMunicipalityAdmin``), ``LedgerPaused``, or another refusal.
    """
    if chain.call("isConfirmer", municipality_id, confirmer_address):
        return False
    chain.send("addConfirmer", [municipality_id, confirmer_address], admin_key)
    return True


@app.command()
def onboard(
    name: str = typer.Argument(..., help="Display name, 1..100 bytes."),
    code: str = typer.Argument(..., help="Public code, e.g. the CBS code GM0308, 0..16 bytes."),
    admin: str = typer.Option(..., help="Address of the municipality's admin."),
    platform_key: str = typer.Option(..., envvar="LEDGER_PLATFORM_ADMIN_KEY", help="Platform admin key (hex)."),
) -> None:
    """Onboard a municipality (platform admin)."""
    settings = load_settings()
    chain = LedgerChain(settings.rpc_url, load_deployment(settings.deployment_file))
    try:
        municipality_id = onboard_municipality(chain, platform_key, name, code, admin)
    except ContractRevertError as exc:
        raise typer.BadParameter(str(exc)) from exc
    Console().print(f"Municipality {name} ({code}) has id {municipality_id}")


@app.command("add-registrar")
def add_registrar(
    municipality_id: int = typer.Argument(...),
    registrar: str = typer.Argument(..., help="Registrar address."),
    admin_key: str = typer.Option(..., envvar="LEDGER_MUNICIPALITY_ADMIN_KEY", help="Municipality admin key (hex)."),
) -> None:
    """Give an account the registrar role (municipality admin)."""
    settings = load_settings()
    chain = LedgerChain(settings.rpc_url, load_deployment(settings.deployment_file))
    changed = ensure_registrar(chain, admin_key, municipality_id, registrar)
    Console().print(f"{registrar} is a registrar of {municipality_id}" + ("" if changed else " (already)"))


@app.command("add-confirmer")
def add_confirmer(
    municipality_id: int = typer.Argument(...),
    confirmer: str = typer.Argument(..., help="Confirmer address (an inspector, an accountant)."),
    admin_key: str = typer.Option(..., envvar="LEDGER_MUNICIPALITY_ADMIN_KEY", help="Municipality admin key (hex)."),
) -> None:
    """Give an account the confirmer role (municipality admin)."""
    settings = load_settings()
    chain = LedgerChain(settings.rpc_url, load_deployment(settings.deployment_file))
    changed = ensure_confirmer(chain, admin_key, municipality_id, confirmer)
    Console().print(f"{confirmer} is a confirmer of {municipality_id}" + ("" if changed else " (already)"))


@app.command("issue-token")
def issue(
    municipality_id: int = typer.Argument(...),
    registrar_key: str = typer.Option(..., envvar="LEDGER_REGISTRAR_KEY", help="Key of the account the server signs with."),
    role: list[str] = typer.Option(["registrar"], help=f"A role of the token, repeatable: {', '.join(ROLES)}."),
    keys_file: Path = typer.Option(None, help="Staff key file (default: settings.staff_keys_file)."),
) -> None:
    """Issue a staff bearer token bound to one account of one municipality, with its roles
    (registrar by default; --role confirmer for a confirmer). Prints the token once; only its
    SHA-256 is stored."""
    settings = load_settings()
    token = issue_token(keys_file or settings.staff_keys_file, municipality_id, registrar_key, role)
    Console().print(f"Token for {Account.from_key(registrar_key).address} of municipality {municipality_id} "
                    f"({', '.join(role)}):")
    print(token)


@app.command("set-relayer")
def set_relayer(
    relayer_key: str = typer.Option(..., envvar="LEDGER_RELAYER_KEY", help="Key of the account that pays relayed writes."),
    keys_file: Path = typer.Option(None, help="Staff key file (default: settings.staff_keys_file)."),
) -> None:
    """Set the key the API relays signed writes with (POST /relay); it holds no role."""
    settings = load_settings()
    address = set_relayer_key(keys_file or settings.staff_keys_file, relayer_key)
    Console().print(f"Relayer: {address}")


if __name__ == "__main__":
    app()
