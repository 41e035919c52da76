"""``make run``: start the whole system locally on the embedded default.

1. anvil (from npm) with its state persisted under ``data/chain/`` (dumped every second and
   on exit), on the port of ``LEDGER_RPC_URL`` (8546 by default);
2. a generated platform admin key (``data/local-keys.json``), funded from anvil's first
   development account (the faucet of the local chain, chain id 31337 only), that deploys the
   ledger contract once (reused on later runs, ``data/deployment.json``): no well-known key
   owns the ledger, even locally;
3. one municipality per source mapping in ``scripts/mappings/``, onboarded as on a real
   network: the platform admin registers it with its generated admin, and that admin adds the
   generated registrar (``data/local-keys.json``); a staff token per registrar
   (``data/local-staff-tokens.json``, municipality code → token), local use only;
   also a generated confirmer per municipality, added by its admin, with a confirmer token
   (``data/local-confirmer-tokens.json``), and the API's generated relayer key (funded; it pays
   the writes signed elsewhere that ``POST /relay`` submits), all in ``data/local-keys.json``;
4. the indexer (``python -m indexer``) and the API with the site (``python -m api.server``: uvicorn with uvloop and httptools, port 8000).

Prints the URLs and tokens, then supervises the three children: one that dies is started
again (anvil from its ``--state`` file, so the chain survives, with at most the last second's
blocks lost; the indexer; the API) after a back-off of 1 s, doubling to 30 s, reset once the
child has run 60 s; each exit and restart is logged with its status (console and
``data/logs/supervisor.log``). Reads keep working while the node or the indexer is down (the
API serves them from the index and says how stale they are). On Ctrl-C (SIGINT) or SIGTERM it
stops the API, the indexer (SIGTERM: it finishes its chunk) and then anvil, which writes its
state. Logs go to ``data/logs/``.

The supervisor is own code (about 60 lines): supervisord and circus are daemons with their
own configuration and control socket (circus also needs pyzmq), more than three children of
one foreground command need, and neither shares this process's start-up (deploy, bootstrap).
The ports come from ``LEDGER_RPC_URL`` (anvil, 8546 by default) and ``LEDGER_API_PORT``
(8000 by default).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

import httpx
from eth_account import Account
from rich.console import Console

from ledger.chain import LedgerChain
from ledger.errors import ChainUnavailableError, LedgerError, StaffAuthError
from ledger.keystore import Keystore, keystore_options
from ledger.settings import REPO_ROOT, Settings, load_settings
from ledger.sources import load_sources
from ledger.staff import CONFIRMER, StaffRegistry, issue_token, set_relayer_key
from scripts.admin import LOCAL_ACCOUNTS_FILE as ADMIN_LOCAL_ACCOUNTS_FILE
from scripts.admin import ensure_confirmer, ensure_registrar, find_municipality, onboard_municipality
from scripts.deploy import ensure_deployed
from scripts.local_keys import LOCAL_CHAIN_IDS, WELL_KNOWN_KEYS

# Anvil's first development account holds the local chain's ether: it only funds the generated
# accounts, on a local chain (LOCAL_CHAIN_IDS), and never owns or signs anything in the ledger.
LOCAL_FAUCET_KEY = WELL_KNOWN_KEYS[0]

API_HOST = "127.0.0.1"
API_PORT = int(os.environ.get("LEDGER_API_PORT", "8000"))
FUND_WEI = 100 * 10**18  # 100 ETH of the local chain per generated account
MIN_BALANCE_WEI = 10 * 10**18
STARTUP_TIMEOUT_SECONDS = 60.0
BACKOFF_FIRST_SECONDS = 1.0
"""Wait before the first restart of a child that died, seconds (doubled after each restart)."""
BACKOFF_MAX_SECONDS = 30.0
"""The longest wait before a restart, seconds."""
BACKOFF_RESET_SECONDS = 60.0
"""A child that ran at least this long before it died is restarted after the first wait again."""
STOP_TIMEOUT_SECONDS = 20.0
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
console = Console()


def wait_for_api(api_url: str, timeout_seconds: float, still_alive: Callable[[], None] = lambda: None) -> None:
    """Poll ``GET {api_url}/api/v1/health`` until it answers 200.

    Args:
        api_url: base URL, e.g. ``http://127.0.0.1:8000``.
        timeout_seconds: give up after this long, seconds.
        still_alive: called between polls; raises if the server process died.

    Raises:
        TimeoutError: no 200 answer within ``timeout_seconds``.
    """
    deadline = time.monotonic() + timeout_seconds
    while True:
        still_alive()
        try:
            if httpx.get(f"{api_url}/api/v1/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"The API at {api_url} did not answer within {timeout_seconds} s")
        time.sleep(0.2)


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when ``make run`` dies, even by
    SIGKILL, so anvil still writes its state and nothing is left holding the ports."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def anvil_binary() -> str:
    """anvil's own executable (``node_modules/@foundry-rs/anvil-<platform>/bin/anvil``), not
    npm's ``.bin/anvil`` Node wrapper: a SIGKILL of the wrapper would leave the real node
    running and holding the port, so that the supervisor could not restart it. Falls back to
    the wrapper on a platform without that package folder."""
    machine = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(os.uname().machine, os.uname().machine)
    native = REPO_ROOT / "node_modules" / "@foundry-rs" / f"anvil-{sys.platform}-{machine}" / "bin" / "anvil"
    return str(native) if native.is_file() else str(REPO_ROOT / "node_modules" / ".bin" / "anvil")


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def _write_private_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def source_municipalities(mappings_dir: Path) -> list[dict[str, str]]:
    """``[{"name", "code"}]`` of every source mapping's municipality, once each, by file name;
    an ``issuers`` mapping with ``onboard: true`` adds every issuer of its table."""
    from scripts.importer.errors import MappingError
    from scripts.importer.mapping import load_mapping

    found: dict[str, dict[str, str]] = {}
    load_sources(mappings_dir)  # refuses what the API would refuse at start (a duplicate source id...)
    for path in sorted(mappings_dir.glob("*.yaml")):
        try:
            mapping = load_mapping(path)
        except MappingError:
            continue  # the importer reports it; the set-up onboards what validates
        if mapping.municipality is not None:
            found.setdefault(mapping.municipality.code, {"name": mapping.municipality.name, "code": mapping.municipality.code})
        elif mapping.issuers is not None and mapping.issuers.onboard:
            for ref in mapping.issuers.named():
                found.setdefault(ref.code, {"name": ref.name, "code": ref.code})
    return list(found.values())


def onboard_issuers_locally(issuers: list[Any]) -> Path:
    """The importer's ``--onboard``: onboard ``issuers`` (``name``/``code`` objects) on the local
    chain of ``make run`` (settings from the environment, its deployment and keys in ``data/``),
    each with a registrar and a staff token; return the token file's path.

    Raises:
        ImporterError: no local deployment, not a local chain, or the chain refused a step.
    """
    from scripts.importer.errors import ImporterError
    from ledger.deployment import load_deployment

    settings = load_settings()
    try:
        deployment = load_deployment(settings.deployment_file)
        chain = LedgerChain(settings.rpc_url, deployment)
        key = local_platform_admin_key(settings, chain)
        onboard_local(settings, chain, key, [{"name": r.name, "code": r.code} for r in issuers])
    except (LedgerError, OSError, ValueError) as exc:
        raise ImporterError(f"--onboard needs the local set-up of `make run` (data/deployment.json, "
                            f"data/local-keys.json, its chain running at LEDGER_RPC_URL={settings.rpc_url}: "
                            f"export LEDGER_RPC_URL as for make run when it runs on another port): {exc}") from None
    return settings.data_dir / "local-staff-tokens.json"


def _new_key() -> str:
    key = Account.create().key.hex()
    return key if key.startswith("0x") else "0x" + key


def _load_keys(settings: Settings) -> tuple[Path, dict]:
    path = settings.data_dir / "local-keys.json"
    keys = json.loads(path.read_text()) if path.exists() else {}
    keys.setdefault("municipalities", {})
    return path, keys


def _fund(chain: LedgerChain, address: str) -> None:
    if chain.balance_wei(address) < MIN_BALANCE_WEI:
        chain.transfer_ether(LOCAL_FAUCET_KEY, address, FUND_WEI)


def check_local(settings: Settings, chain: LedgerChain) -> None:
    """Refuse to hand out local ether or keys anywhere but a local chain.

    Raises:
        LedgerError: ``LEDGER_ENV`` is not ``local`` or the chain id is not a local one
            (`scripts.local_keys.LOCAL_CHAIN_IDS`).
    """
    chain_id = chain.chain_id()
    if settings.env != "local" or chain_id not in LOCAL_CHAIN_IDS:
        raise LedgerError(
            f"make run is for local use only (LEDGER_ENV=local on chain id {sorted(LOCAL_CHAIN_IDS)}); "
            f"got LEDGER_ENV={settings.env}, chain id {chain_id}"
        )


def local_platform_admin_key(settings: Settings, chain: LedgerChain) -> str:
    """The generated platform admin key of the local ledger (``platform_admin_key`` in
    ``data/local-keys.json``), created and funded on first use; saved before it is used.

    Raises:
        LedgerError: not a local chain (`check_local`).
    """
    check_local(settings, chain)
    path, keys = _load_keys(settings)
    if "platform_admin_key" not in keys:
        keys["platform_admin_key"] = _new_key()
        _write_private_json(path, keys)
    _fund(chain, Account.from_key(keys["platform_admin_key"]).address)
    return str(keys["platform_admin_key"])


def bootstrap_local(settings: Settings, chain: LedgerChain, platform_admin_key: str) -> dict[str, str]:
    """Onboard each source's municipality with generated keys and a staff token: the platform
    admin registers the municipality with its admin; the municipality admin adds the registrar.

    Keys are saved before they are used, so a kill at any point leaves nothing unknown;
    every step checks the chain first, so re-running completes what is missing.

    Args:
        settings: local settings (``data_dir``, ``sources_dir``, ``staff_keys_file``).
        chain: client of the deployed ledger.
        platform_admin_key: the ledger owner's key (`local_platform_admin_key`).

    Returns:
        municipality code → staff token (plaintext; local use only).

    Raises:
        LedgerError: not a local chain; ContractRevertError: the contract refused a step.
    """
    return onboard_local(settings, chain, platform_admin_key, source_municipalities(settings.sources_dir))


def onboard_local(
    settings: Settings, chain: LedgerChain, platform_admin_key: str, municipalities: list[dict[str, str]]
) -> dict[str, str]:
    """:func:`bootstrap_local` for any ``[{"name", "code"}]`` (an ``issuers`` mapping's, with the
    importer's ``--onboard``): each onboarded with generated keys, a registrar and a staff token.

    Returns:
        every local municipality code → staff token (the whole token file).

    Raises:
        LedgerError: not a local chain; ContractRevertError: the contract refused a step.
    """
    check_local(settings, chain)
    keys_path, keys = _load_keys(settings)
    tokens_path = settings.data_dir / "local-staff-tokens.json"
    tokens = json.loads(tokens_path.read_text()) if tokens_path.exists() else {}
    for municipality in municipalities:
        code = municipality["code"]
        entry = keys["municipalities"].get(code)
        if entry is None:
            entry = {"name": municipality["name"], "admin_key": _new_key(), "registrar_key": _new_key()}
            keys["municipalities"][code] = entry
            _write_private_json(keys_path, keys)
        admin = Account.from_key(entry["admin_key"]).address
        registrar = Account.from_key(entry["registrar_key"]).address
        for address in (admin, registrar):
            _fund(chain, address)
        municipality_id = onboard_municipality(chain, platform_admin_key, entry["name"], code, admin)
        ensure_registrar(chain, entry["admin_key"], municipality_id, registrar)
        if not _token_works(settings, tokens.get(code)):
            tokens[code] = issue_token(settings.staff_keys_file, municipality_id, entry["registrar_key"])
            _write_private_json(tokens_path, tokens)
    return tokens


def _token_works(settings: Settings, token: str | None) -> bool:
    """Whether a cached local token still authenticates (tokens expire after
    ``token_lifetime_days`` and may be revoked: such a one is issued again at start)."""
    if token is None:
        return False
    try:
        StaffRegistry.from_settings(settings).authenticate(token)
    except StaffAuthError:
        return False
    return True


def bootstrap_local_part2(settings: Settings, chain: LedgerChain) -> tuple[str, dict[str, str]]:
    """The 2.1.0 roles of the local ledger, after :func:`bootstrap_local`: a generated relayer
    key (``relayer_key`` in ``data/local-keys.json``, funded, set in the staff key file) and per
    municipality a generated confirmer (``confirmer_key``), added by its admin, with a
    confirmer token (``data/local-confirmer-tokens.json``, code → token). Keys are saved before
    they are used; every step checks first, so a re-run completes what is missing.

    Returns:
        (the relayer's address, municipality code → confirmer token; local use only).

    Raises:
        LedgerError: not a local chain; ContractRevertError: the contract refused a step.
    """
    check_local(settings, chain)
    keys_path, keys = _load_keys(settings)
    if "relayer_key" not in keys:
        keys["relayer_key"] = _new_key()
        _write_private_json(keys_path, keys)
    relayer = Account.from_key(keys["relayer_key"]).address
    _fund(chain, relayer)
    current = StaffRegistry(settings.staff_keys_file).relayer()
    if current is None or current.account != relayer:
        set_relayer_key(settings.staff_keys_file, keys["relayer_key"])
    tokens_path = settings.data_dir / "local-confirmer-tokens.json"
    tokens = json.loads(tokens_path.read_text()) if tokens_path.exists() else {}
    for code, entry in keys["municipalities"].items():
        if "confirmer_key" not in entry:
            entry["confirmer_key"] = _new_key()
            _write_private_json(keys_path, keys)
        confirmer = Account.from_key(entry["confirmer_key"]).address
        _fund(chain, confirmer)
        municipality_id = find_municipality(chain, Account.from_key(entry["admin_key"]).address, code)
        if municipality_id is None:
            continue  # not onboarded (bootstrap_local does it first)
        ensure_confirmer(chain, entry["admin_key"], municipality_id, confirmer)
        if not _token_works(settings, tokens.get(code)):
            tokens[code] = issue_token(settings.staff_keys_file, municipality_id, entry["confirmer_key"], [CONFIRMER])
            _write_private_json(tokens_path, tokens)
    return relayer, tokens


def bootstrap_local_accounts(settings: Settings, chain: LedgerChain) -> dict[str, dict[str, str]]:
    """Personal accounts of the staff workspace for local use, after :func:`bootstrap_local_part2`:
    per municipality ``beheer.<code>`` (admin and registrar, signing with the registrar key) and
    ``controle.<code>`` (confirmer, signing with the confirmer key), codes lowercased; the
    municipality admin's key goes into the keystore folder, so ``beheer.<code>`` can grant and
    revoke roles on chain from the workspace. Their
    credentials are kept in ``data/local-staff-accounts.json`` (mode 0600; local use only): an
    account missing from the file (the file deleted) gets new credentials (reset); one in it is
    left as it is.

    Returns:
        login → ``{"login", "password", "totp_secret", "municipality": code}``.
    """
    from ledger.accounts import ADMIN, REGISTRAR, SecretBox, StaffAccounts
    from ledger.db.engine import create_schema, make_engine, session_factory

    _keys_path, keys = _load_keys(settings)
    path = settings.data_dir / ADMIN_LOCAL_ACCOUNTS_FILE
    saved = json.loads(path.read_text()) if path.exists() else {}
    engine = make_engine(settings.database_url)
    try:
        create_schema(engine)
        factory = session_factory(engine)
        accounts = StaffAccounts(box=SecretBox(keystore_options(settings).password))
        now = int(time.time())
        keystore = Keystore(settings.keystore_dir, keystore_options(settings))
        for code, entry in keys["municipalities"].items():
            municipality_id = find_municipality(chain, Account.from_key(entry["admin_key"]).address, code)
            if municipality_id is None or "confirmer_key" not in entry:
                continue
            if not keystore.exists(Account.from_key(entry["admin_key"]).address):  # the workspace grants roles with it
                keystore.write(entry["admin_key"])
            wanted = (
                (f"beheer.{code.lower()}", f"Beheer {entry['name']}", (ADMIN, REGISTRAR), entry["registrar_key"]),
                (f"controle.{code.lower()}", f"Controle {entry['name']}", (CONFIRMER,), entry["confirmer_key"]),
            )
            for login, name, roles, key in wanted:
                with factory() as session, session.begin():
                    existing = accounts.by_login(session, login)
                    if existing is not None and login in saved:
                        continue
                    if existing is None:
                        account, credentials = accounts.create(
                            session, municipality_id=municipality_id, login=login, display_name=name, roles=roles,
                            signer=Account.from_key(key).address, now=now)
                    else:
                        credentials = accounts.reset(session, existing.id, actor_id=None, now=now)
                saved[login] = {"login": login, "password": credentials.password, "totp_secret": credentials.totp_secret,
                                "municipality": code}
                _write_private_json(path, saved)
    finally:
        engine.dispose()
    return saved


def restart_delay(backoff_seconds: float, ran_seconds: float) -> tuple[float, float]:
    """The wait before restarting a child that died, and the back-off after that restart.

    Args:
        backoff_seconds: the child's current back-off, seconds (:data:`BACKOFF_FIRST_SECONDS`
            at first).
        ran_seconds: how long the child ran before it died, seconds.

    Returns:
        ``(wait_seconds, next_backoff_seconds)``: 1, 2, 4, ... 30, 30 s for a child that keeps
        dying; back to 1 s once it ran :data:`BACKOFF_RESET_SECONDS`.
    """
    wait = BACKOFF_FIRST_SECONDS if ran_seconds >= BACKOFF_RESET_SECONDS else min(backoff_seconds, BACKOFF_MAX_SECONDS)
    return wait, min(wait * 2, BACKOFF_MAX_SECONDS)


def exit_status(returncode: int) -> str:
    """``"exit code 1"``, or ``"killed by SIGKILL"`` for a negative (signal) return code."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


CHAIN_STATE_COPY_SECONDS = 10.0
"""How often the supervisor keeps a copy of anvil's state file that parses, seconds."""


def keep_chain_state(state: Path) -> bool:
    """Copy anvil's state file to ``<state>.good`` (atomically) when it parses as JSON;
    ``False`` when it does not (anvil rewrites the file in place, so a SIGKILL during a dump
    can leave it cut, and anvil then refuses to start)."""
    try:
        data = state.read_bytes()
        json.loads(data)
    except (OSError, ValueError):
        return False
    copy = state.with_name(state.name + ".good")
    tmp = copy.with_name(copy.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, copy)
    except OSError:  # a full disk must not stop the supervisor: the older copy stays
        return False
    return True


def repair_chain_state(state: Path) -> bool:
    """Before anvil starts: when its state file exists but does not parse (cut by a kill
    during a dump), put back the last copy that did (:func:`keep_chain_state`). The blocks
    after that copy are lost like any unsaved block: the outbox sends their writes again and
    the indexer rolls back to the common ancestor. Returns whether the file was put back."""
    copy = state.with_name(state.name + ".good")
    if not state.exists() or keep_chain_state(state) or not copy.exists():
        return False
    os.replace(copy, state)
    keep_chain_state(state)
    return True


@dataclass
class Child:
    """One supervised child: its command, its current process and its back-off."""

    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes]
    started_at: float  # time.monotonic() of the last start
    backoff_seconds: float = BACKOFF_FIRST_SECONDS
    restart_at: float | None = None  # monotonic time of the planned restart, while dead
    restarts: int = 0


class LocalSystem:
    """The child processes of ``make run``: started, restarted when they die
    (:meth:`supervise`), and stopped in order."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.logs = settings.data_dir / "logs"
        self.children: list[Child] = []
        self._clock = clock
        self.chain_state = settings.data_dir / "chain" / "state.json"
        self._state_copied_at = clock()

    def _repair_chain_state(self) -> None:
        if repair_chain_state(self.chain_state):
            self.log(f"anvil's state file {self.chain_state} was cut (killed during a dump): the last copy that "
                     "parses was put back; later blocks are sent again by the outbox")

    def _popen(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            # Own session: a Ctrl-C in the terminal reaches only this supervisor, which then
            # stops the children in order; if the supervisor is killed, the children get SIGTERM.
            return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                                    start_new_session=True, preexec_fn=_die_with_parent)

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        proc = self._popen(name, argv)
        self.children.append(Child(name, argv, proc, self._clock()))
        return proc

    def log(self, message: str) -> None:
        """One supervisor event: on the console and, with the time, in ``logs/supervisor.log``."""
        console.print(message)
        self.logs.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with open(self.logs / "supervisor.log", "a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {message}\n")

    def supervise(self) -> None:
        """One pass: plan the restart of each child that died (logged with its exit status
        and the wait, :func:`restart_delay`) and restart those whose wait is over (logged with
        the new pid)."""
        now = self._clock()
        if now - self._state_copied_at >= CHAIN_STATE_COPY_SECONDS:
            self._state_copied_at = now
            keep_chain_state(self.chain_state)
        for child in self.children:
            if child.proc.poll() is None:
                continue
            if child.restart_at is None:
                ran = now - child.started_at
                wait, child.backoff_seconds = restart_delay(child.backoff_seconds, ran)
                child.restart_at = now + wait
                self.log(f"{child.name} (pid {child.proc.pid}) stopped: {exit_status(child.proc.returncode)} "
                         f"after {ran:.1f} s; restarting in {wait:g} s (see {self.logs}/{child.name}.log)")
            elif now >= child.restart_at:
                if child.name == "anvil":
                    self._repair_chain_state()
                child.proc = self._popen(child.name, child.argv)
                child.started_at, child.restart_at = self._clock(), None
                child.restarts += 1
                self.log(f"{child.name} restarted (pid {child.proc.pid}, restart {child.restarts})")

    def start_chain(self) -> None:
        url = urlparse(self.settings.rpc_url)
        host, port = url.hostname or "127.0.0.1", url.port or 8546
        if _port_open(host, port):
            raise LedgerError(f"Port {port} is in use: is another `make run` (or node) running? Stop it first.")
        state = self.chain_state
        state.parent.mkdir(parents=True, exist_ok=True)
        self._repair_chain_state()
        anvil = anvil_binary()
        # --state loads the file at start and dumps it every second and on SIGTERM: a restart
        # (make run again, or the supervisor after a crash) continues the same chain
        self._spawn("anvil", [anvil, "--host", host, "--port", str(port), "--chain-id", "31337",
                              "--state", str(state), "--state-interval", "1"])
        chain = LedgerChain(self.settings.rpc_url)
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            try:
                chain.chain_id()
                return
            except ChainUnavailableError:
                self._check_alive()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def start_services(self) -> None:
        env_python = sys.executable
        self._spawn("indexer", [env_python, "-m", "indexer"])
        # api.server: uvicorn with uvloop and httptools, LEDGER_API_WORKERS processes (1 here)
        self._spawn("api", [env_python, "-m", "api.server", "--host", API_HOST, "--port", str(API_PORT)])
        try:
            wait_for_api(f"http://{API_HOST}:{API_PORT}", STARTUP_TIMEOUT_SECONDS, self._check_alive)
        except TimeoutError as exc:
            raise LedgerError(f"{exc}; see {self.logs}/api.log") from exc

    def _check_alive(self) -> None:
        """During start-up: a child that died stops ``make run`` with the end of its log."""
        for child in self.children:
            if child.proc.poll() is not None:
                tail = (self.logs / f"{child.name}.log").read_text(errors="replace").splitlines()[-15:]
                raise LedgerError(f"{child.name} exited with code {child.proc.returncode}:\n" + "\n".join(tail))

    def stop(self) -> None:
        """Stop children in reverse start order (API, indexer — which finishes its chunk —,
        then anvil, which dumps its state on SIGTERM), waiting up to 20 s each before killing."""
        for child in reversed(self.children):
            proc = child.proc
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    console.print(f"[yellow]{child.name} did not stop in {STOP_TIMEOUT_SECONDS:g} s; killing it[/]")
                    proc.kill()
                    proc.wait()
            console.print(f"stopped {child.name}")


def main() -> int:
    """Run the local system until Ctrl-C. Returns the process exit code."""
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    system = LocalSystem(settings)
    stopping = {"now": False}

    def request_stop(signum: int, frame: object) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    code = 0
    try:
        console.print("Starting the local chain (anvil) …")
        system.start_chain()
        platform_admin_key = local_platform_admin_key(settings, LedgerChain(settings.rpc_url))
        deployment, created = ensure_deployed(settings, platform_admin_key)
        console.print(("Deployed" if created else "Reusing") + f" ledger {deployment.contract_address} (deploy block {deployment.deploy_block})")
        chain = LedgerChain(settings.rpc_url, deployment)
        owner = chain.call("owner")
        if owner != Account.from_key(platform_admin_key).address:
            raise LedgerError(
                f"the recorded ledger {deployment.contract_address} is owned by {owner}, not by the platform admin key "
                "in data/local-keys.json (a deployment from before v2?): run `make reset` to start over"
            )
        tokens = bootstrap_local(settings, chain, platform_admin_key)
        relayer, confirmer_tokens = bootstrap_local_part2(settings, chain)
        local_accounts = bootstrap_local_accounts(settings, chain)
        console.print("Starting the indexer and the API …")
        system.start_services()
        site = f"http://{API_HOST}:{API_PORT}"
        console.print(f"\n[bold green]Ready.[/]\n  Platform:    {owner} (the ledger's owner; key in data/local-keys.json)\n  Site:        {site}/\n  API docs:    {site}/docs\n"
                      f"  Health:      {site}/api/v1/health\n  Chain (RPC): {settings.rpc_url} (chain id 31337)\n"
                      f"  Contract:    {deployment.contract_address}, deploy block {deployment.deploy_block}\n"
                      f"  Logs:        {system.logs}/")
        console.print("\nStaff tokens for local use (Authorization: Bearer <token>), also in data/local-staff-tokens.json:")
        for municipality_code, token in tokens.items():
            console.print(f"  {municipality_code}: {token}")
        console.print("Confirmer tokens (confirm or dispute deliveries), also in data/local-confirmer-tokens.json:")
        for municipality_code, token in confirmer_tokens.items():
            console.print(f"  {municipality_code}: {token}")
        console.print(f"Relayer (pays the signed writes of POST {site}/api/v1/relay): {relayer}")
        console.print(f"\nStaff workspace: {site}/staff — local accounts (also in data/{ADMIN_LOCAL_ACCOUNTS_FILE}); "
                      "the 6-digit code of now: [bold]make staff-code LOGIN=<login>[/] (or add the secret to an "
                      "authenticator app):")
        for login, entry in local_accounts.items():
            console.print(f"  {login}  password {entry['password']}  authenticator secret {entry['totp_secret']}",
                          soft_wrap=True)  # never broken over two lines: they are copied
        console.print("\nImport the real datasets in another terminal: [bold]make import-baarn[/] and [bold]make import-chile[/]; "
                      "audit with [bold]make replay[/]. Stop with Ctrl-C.")
        system.log(f"supervising anvil, indexer and api (pids {', '.join(str(c.proc.pid) for c in system.children)})")
        while not stopping["now"]:
            system.supervise()
            time.sleep(0.2)
        console.print("\nStopping …")
    except LedgerError as exc:
        console.print(f"[red]{exc}[/]")
        code = 1
    finally:
        system.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())
