"""Platform and municipality administration (ledger v2 roles, docs/LEDGER.md "Roles"): the
platform admin onboards a municipality with its own admin; that admin (and nobody else) adds
registrars and confirmers; a staff token binds one account (with its roles) to the API; the
relayer key lets the API submit writes signed elsewhere.

Plain CLI (``python -m scripts.admin --help``) and library functions used by the local
set-up (``scripts/run_local.py``). Keys are hex private keys; on a public chain they come
from the operator's own key management, never from this repository.

Tokens and keystores (``ledger.staff``, ``ledger.keystore``; the one CLI for them)::

    python -m scripts.admin tokens issue --municipality-id 1 --role registrar [--expires-in-days 90] [--account 0x..]
    python -m scripts.admin tokens list
    python -m scripts.admin tokens revoke tok_1a2b3c4d
    python -m scripts.admin keys import [--stdin]      # key from LEDGER_ACCOUNT_KEY, stdin or a prompt
    python -m scripts.admin keys list
    python -m scripts.admin keys set-relayer [--stdin] # key from LEDGER_RELAYER_KEY, stdin or a prompt
    python -m scripts.admin keys migrate               # a v1/v2 key file with plain keys

Personal accounts of the staff workspace (``ledger.accounts``; ``/staff`` in the browser, where
a municipal admin manages the rest); the first admin of a municipality is made here::

    python -m scripts.admin accounts create --municipality-id 1 --login j.jansen --name "J. Jansen" \
        --role admin [--role registrar --signer 0x..]   # prints the password and authenticator secret once
    python -m scripts.admin accounts list --municipality-id 1
    python -m scripts.admin accounts disable j.jansen | enable j.jansen | reset j.jansen
    python -m scripts.admin accounts code j.jansen      # local use: the current code of an account of make run

Keystores are unlocked with ``LEDGER_KEYSTORE_PASSWORD_FILE`` or ``LEDGER_KEYSTORE_PASSWORD``.
A private key is never taken from the command line (it would sit in the shell history and in
``ps``).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ledger.chain import LedgerChain
from ledger.deployment import load_deployment
from ledger.errors import ContractRevertError, LedgerConfigError
from ledger.keystore import Keystore, KeystoreOptions, keystore_options
from ledger.settings import Settings, load_settings
from ledger.staff import (
    ROLES,
    default_keystore_dir,
    issue_token,
    list_tokens,
    migrate_key_file,
    relayer_of,
    revoke_token,
    set_relayer_key,
    token_id_of,
)

app = typer.Typer(help="Onboard municipalities, registrars and confirmers; staff tokens and keystores.", no_args_is_help=True)


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


def _fail(message: str) -> typer.Exit:
    """Print ``message`` to stderr and return the exit to raise (status 1)."""
    Console(stderr=True).print(f"[red]{escape(message)}[/red]")
    return typer.Exit(1)


def _paths(keys_file: Path | None, keystore_dir: Path | None) -> tuple[Settings, Path, Path, KeystoreOptions]:
    """The settings, token file, keystore folder and keystore options a command uses:
    ``--keys-file`` / ``--keystore-dir`` when given (the folder then defaults to ``keystores``
    beside the file), else the settings'."""
    try:
        settings = load_settings()
        options = keystore_options(settings)
    except LedgerConfigError as exc:
        raise _fail(str(exc)) from None
    path = keys_file or settings.staff_keys_file
    assert path is not None and settings.keystore_dir is not None
    folder = keystore_dir or (default_keystore_dir(keys_file) if keys_file else settings.keystore_dir)
    return settings, path, folder, options


def _read_key(env_var: str, from_stdin: bool, what: str) -> str:
    """A private key from stdin (``--stdin``: its first line), else the environment variable
    ``env_var``, else a hidden prompt; never from the command line."""
    if from_stdin:
        key = sys.stdin.readline()
    else:
        key = os.environ.get(env_var) or typer.prompt(f"{what} private key (0x...)", hide_input=True)
    return key.strip()


def _when(unix_seconds: int | None) -> str:
    if unix_seconds is None:
        return "-"
    return datetime.fromtimestamp(unix_seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


KEYS_FILE_HELP = "Token file (default: settings.staff_keys_file, LEDGER_STAFF_KEYS_FILE)."
KEYSTORE_DIR_HELP = "Keystore folder (default: settings.keystore_dir; with --keys-file, keystores/ beside it)."

tokens_app = typer.Typer(help="Staff bearer tokens: issue, list, revoke.", no_args_is_help=True)
keys_app = typer.Typer(help="Encrypted keystores of the accounts the API signs with.", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")
app.add_typer(keys_app, name="keys")


@tokens_app.command("issue")
def tokens_issue(
    municipality_id: int = typer.Option(..., help="The municipality the token may write for."),
    role: list[str] = typer.Option(["registrar"], help=f"A role of the token, repeatable: {', '.join(ROLES)}."),
    expires_in_days: int = typer.Option(None, min=1, help="Lifetime in days (default: settings.token_lifetime_days, 90)."),
    account: str = typer.Option(None, help="Account of an existing keystore (keys import); without it the key is read "
                                           "from LEDGER_ACCOUNT_KEY, --stdin or a prompt and its keystore written."),
    stdin: bool = typer.Option(False, "--stdin", help="Read the account's private key from the first line of stdin."),
    keys_file: Path = typer.Option(None, help=KEYS_FILE_HELP),
    keystore_dir: Path = typer.Option(None, help=KEYSTORE_DIR_HELP),
) -> None:
    """Issue a staff bearer token bound to one account of one municipality, with its roles
    (registrar by default; --role confirmer for a confirmer) and an expiry. Prints the token
    once on stdout; only its SHA-256 is stored."""
    settings, path, folder, options = _paths(keys_file, keystore_dir)
    days = expires_in_days or settings.token_lifetime_days
    key = None if account else _read_key("LEDGER_ACCOUNT_KEY", stdin, "Account")
    try:
        token = issue_token(path, municipality_id, key, role, account=account, expires_in_seconds=days * 86400,
                            keystore_dir=folder, options=options)
        record = next(r for r in list_tokens(path) if r.token_id == token_id_of(path, token))
    except LedgerConfigError as exc:
        raise _fail(str(exc)) from None
    Console(stderr=True).print(
        f"Token {record.token_id} for {record.account} of municipality {municipality_id} ({', '.join(record.roles)}), "
        f"expires {_when(record.expires_at)}. Shown once:"
    )
    print(token)


@tokens_app.command("list")
def tokens_list(
    keys_file: Path = typer.Option(None, help=KEYS_FILE_HELP),
) -> None:
    """List the tokens: id, municipality, roles, account, issued, expires, revoked, state
    (never a token or its hash)."""
    _, path, _, _ = _paths(keys_file, None)
    try:
        records = list_tokens(path)
    except LedgerConfigError as exc:
        raise _fail(str(exc)) from None
    now = int(time.time())
    table = Table("id", "municipality", "roles", "account", "issued", "expires", "revoked", "state")
    for r in records:
        table.add_row(r.token_id, str(r.municipality_id), ",".join(r.roles), r.account, _when(r.issued_at),
                      _when(r.expires_at), _when(r.revoked_at), r.state(now))
    Console(width=200).print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: str = typer.Argument(..., help="The token's id (tok_..., from `tokens list`)."),
    keys_file: Path = typer.Option(None, help=KEYS_FILE_HELP),
) -> None:
    """Revoke a token: the API refuses it (401) from now on; a running API re-reads the file."""
    _, path, _, _ = _paths(keys_file, None)
    try:
        record = revoke_token(path, token_id)
    except LedgerConfigError as exc:
        raise _fail(str(exc)) from None
    Console().print(f"Token {record.token_id} ({record.account} of municipality {record.municipality_id}) "
                    f"revoked at {_when(record.revoked_at)}")


@keys_app.command("import")
def keys_import(
    stdin: bool = typer.Option(False, "--stdin", help="Read the private key from the first line of stdin."),
    env_var: str = typer.Option("LEDGER_ACCOUNT_KEY", help="Environment variable holding the key (else a prompt)."),
    keystore_dir: Path = typer.Option(None, help=KEYSTORE_DIR_HELP),
) -> None:
    """Encrypt a private key (from stdin, an environment variable or a hidden prompt; never
    the command line) into its account's keystore; prints the address."""
    _, _, folder, options = _paths(None, keystore_dir)
    key = _read_key(env_var, stdin, "Account")
    try:
        address = Keystore(folder, options).write(key)
    except LedgerConfigError as exc:
        raise _fail(str(exc)) from None
    Console().print(f"{address}: keystore {Keystore(folder, options).path_of(address)}")


@keys_app.command("list")
def keys_list(
    keys_file: Path = typer.Option(None, help=KEYS_FILE_HELP),
    keystore_dir: Path = typer.Option(None, help=KEYSTORE_DIR_HELP),
) -> None:
    """List the keystores: address, kdf, and which tokens (or the relayer) use it."""
    _, path, folder, options = _paths(keys_file, keystore_dir)
    store = Keystore(folder, options)
    try:
        records = list_tokens(path)
        relayer = relayer_of(path)
    except LedgerConfigError as exc:
        raise _fail(str(exc)) from None
    table = Table("account", "kdf", "used by", "file")
    for address in store.addresses():
        users = [r.token_id for r in records if r.account == address] + (["relayer"] if relayer == address else [])
        table.add_row(address, store.kdf_of(address), ", ".join(users) or "-", str(store.path_of(address)))
    Console(width=200).print(table)


@keys_app.command("set-relayer")
def keys_set_relayer(
    stdin: bool = typer.Option(False, "--stdin", help="Read the private key from the first line of stdin."),
    keys_file: Path = typer.Option(None, help=KEYS_FILE_HELP),
    keystore_dir: Path = typer.Option(None, help=KEYSTORE_DIR_HELP),
) -> None:
    """Set the account the API relays signed writes with (POST /relay; it holds no role): its
    key (LEDGER_RELAYER_KEY, --stdin or a prompt) goes into its keystore."""
    _, path, folder, options = _paths(keys_file, keystore_dir)
    key = _read_key("LEDGER_RELAYER_KEY", stdin, "Relayer")
    try:
        address = set_relayer_key(path, key, keystore_dir=folder, options=options)
    except LedgerConfigError as exc:
        raise _fail(str(exc)) from None
    Console().print(f"Relayer: {address}")


@keys_app.command("migrate")
def keys_migrate(
    expires_in_days: int = typer.Option(None, min=1, help="Lifetime of the migrated tokens, days from now "
                                                          "(default: settings.token_lifetime_days, 90)."),
    keys_file: Path = typer.Option(None, help=KEYS_FILE_HELP),
    keystore_dir: Path = typer.Option(None, help=KEYSTORE_DIR_HELP),
) -> None:
    """Move the plain private keys of a v1/v2 key file into encrypted keystores and rewrite
    the file without them (its tokens keep working, with an id and an expiry)."""
    settings, path, folder, options = _paths(keys_file, keystore_dir)
    days = expires_in_days or settings.token_lifetime_days
    try:
        done = migrate_key_file(path, keystore_dir=folder, options=options, expires_in_seconds=days * 86400)
    except LedgerConfigError as exc:
        raise _fail(str(exc)) from None
    Console().print(f"{len(done.accounts)} key(s) moved into {folder}; {len(done.tokens)} token(s) kept in {path} "
                    f"(no key left in it), expiring {_when(done.tokens[0].expires_at) if done.tokens else '-'}"
                    + (f"; relayer {done.relayer}" if done.relayer else ""))



# ------------------------------------------------------------------ staff workspace accounts

accounts_app = typer.Typer(help="Personal accounts of the staff workspace (/staff): create, list, disable, enable, "
                                "reset.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")

LOCAL_ACCOUNTS_FILE = "local-staff-accounts.json"
"""The credentials ``make run`` gave its local accounts (in ``settings.data_dir``, mode 0600)."""


def _accounts_db() -> tuple[Any, Any]:
    """(accounts service, session factory) of the settings' database (tables made if missing)."""
    from ledger.accounts import SecretBox, StaffAccounts
    from ledger.db.engine import create_schema, make_engine, session_factory

    try:
        settings = load_settings()
        password = keystore_options(settings).password
    except LedgerConfigError as exc:
        raise _fail(str(exc)) from None
    engine = make_engine(settings.database_url)
    create_schema(engine)
    return StaffAccounts(box=SecretBox(password)), session_factory(engine)


def _write(factory: Any, work: Any) -> Any:
    """``work(session)`` in one transaction, again when SQLite was busy (the API or the
    indexer writing at the same moment: ``ledger.db.engine.retry_when_busy``)."""
    from ledger.db.engine import retry_when_busy

    def once() -> Any:
        with factory() as session, session.begin():
            return work(session)
    return retry_when_busy(once)


def _account_by_login(accounts: Any, factory: Any, login: str) -> Any:
    with factory() as session:
        account = accounts.by_login(session, login)
    if account is None:
        raise _fail(f"No staff account with login {login!r}: see `python -m scripts.admin accounts list`.")
    return account


def _print_credentials(login: str, credentials: Any) -> None:
    console = Console(soft_wrap=True)  # a secret or link is never broken over two lines
    console.print(f"Sign-in details for {escape(login)} (shown once; hand them over safely):")
    console.print(f"  password:             {escape(credentials.password)}")
    console.print(f"  authenticator secret: {escape(credentials.totp_secret)}")
    console.print(f"  authenticator link:   {escape(credentials.totp_uri(login))}")


@accounts_app.command("create")
def accounts_create(
    municipality_id: int = typer.Option(..., help="The account's municipality."),
    login: str = typer.Option(..., help="Login: 3..64 characters, letters, digits and . _ @ -"),
    name: str = typer.Option(..., help="The person's name as the workspace shows it."),
    role: list[str] = typer.Option(..., help="A role, repeatable: admin, registrar, confirmer."),
    signer: str = typer.Option(None, help="Address whose keystore signs this person's writes (needed for registrar "
                                          "and confirmer; import it with `keys import`)."),
) -> None:
    """Add a staff workspace account; prints its password and authenticator secret once."""
    from ledger.errors import AccountInputError

    accounts, factory = _accounts_db()
    if signer:
        _settings, _path, folder, options = _paths(None, None)
        try:
            known = Keystore(folder, options).exists(signer)
        except ValueError:
            known = True  # not an address: accounts.create names the field
        if not known:
            raise _fail(f"No keystore for signer {signer} in {folder}: import its key first "
                        "(`python -m scripts.admin keys import`), so the workspace can sign with it.")
    try:
        account, credentials = _write(factory, lambda session: accounts.create(
            session, municipality_id=municipality_id, login=login, display_name=name, roles=role, signer=signer,
            now=int(time.time())))
    except AccountInputError as exc:
        raise _fail(f"{exc.field}: {exc}") from None
    _print_credentials(account.login, credentials)


@accounts_app.command("list")
def accounts_list(municipality_id: int = typer.Option(..., help="The municipality.")) -> None:
    """The municipality's staff workspace accounts."""
    accounts, factory = _accounts_db()
    with factory() as session:
        found = accounts.list(session, municipality_id)
    table = Table("login", "name", "roles", "signer", "state")
    for a in found:
        state = "disabled" if a.disabled_at else (f"locked until {_when(a.locked_until)}" if a.locked_until else "active")
        table.add_row(a.login, a.display_name, ", ".join(sorted(a.roles)), a.signer or "-", state)
    Console().print(table)


@accounts_app.command("disable")
def accounts_disable(login: str = typer.Argument(...)) -> None:
    """Disable an account (its sessions end at once)."""
    accounts, factory = _accounts_db()
    account = _account_by_login(accounts, factory, login)
    _write(factory, lambda session: accounts.disable(session, account.id, actor_id=None, now=int(time.time())))
    Console().print(f"{escape(account.login)} disabled.")


@accounts_app.command("enable")
def accounts_enable(login: str = typer.Argument(...)) -> None:
    """Enable an account again (and lift a lock-out)."""
    accounts, factory = _accounts_db()
    account = _account_by_login(accounts, factory, login)
    _write(factory, lambda session: accounts.enable(session, account.id, actor_id=None, now=int(time.time())))
    Console().print(f"{escape(account.login)} enabled.")


@accounts_app.command("reset")
def accounts_reset(login: str = typer.Argument(...)) -> None:
    """Give an account a new password and authenticator secret (printed once); its sessions end."""
    accounts, factory = _accounts_db()
    account = _account_by_login(accounts, factory, login)
    credentials = _write(factory, lambda session: accounts.reset(session, account.id, actor_id=None,
                                                                 now=int(time.time())))
    _print_credentials(account.login, credentials)


@accounts_app.command("code")
def accounts_code(login: str = typer.Argument(...)) -> None:
    """Local use: the authenticator code of now for an account ``make run`` made (its secret is
    in data/local-staff-accounts.json, which only the local set-up writes)."""
    import json

    from ledger.accounts import StaffAccounts

    settings = load_settings()
    path = settings.data_dir / LOCAL_ACCOUNTS_FILE
    local = json.loads(path.read_text()) if path.exists() else {}
    entry = next((e for e in local.values() if e.get("login") == login), None)
    if entry is None:
        raise _fail(f"{login!r} is no account of the local set-up ({path}); use an authenticator app.")
    Console().print(StaffAccounts().current_code(entry["totp_secret"], int(time.time())))

if __name__ == "__main__":
    app()
