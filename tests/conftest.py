"""Shared fixtures for every test folder.

brownie's pytest plugin starts anvil (port :data:`BROWNIE_PORT`, the standard
"test test ... junk" mnemonic) for the contract tests (tests/contract) and reverts it around
each of them. Every other test talks through our own ``ledger.chain.LedgerChain`` to a second
anvil started for the session on a free port (:func:`rpc_url`), each module on a fresh
deployment, so they never see another module's data and brownie's reverts never rewind their
clock; modules that move the clock run on an anvil of their own.

``make test TEST_WORKERS=2`` runs two pytest-xdist workers (``-n 2``; the default is one
process): each has its own two anvils and runs whole modules (:func:`xdist_scope`), slowest first, so
module fixtures and fixed ports stay in one process, and the result does not depend on which
modules share a worker.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from eth_account import Account

from ledger.chain import LedgerChain
from ledger.deployment import Deployment, save_deployment
from ledger.settings import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA_DIR = Path(os.environ.get("LEDGER_SHARED_DATA_DIR") or REPO_ROOT.parent / "shared" / "data")
"""The team's real datasets (read-only): ``../shared/data`` beside the checkout, or
``LEDGER_SHARED_DATA_DIR`` (``make test DATA_DIR=...`` sets it)."""

# Anvil's well-known development keys for the mnemonic in brownie-config.yaml. Local only.
ANVIL_KEYS = (
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


BROWNIE_PORT = int(os.environ.get("LEDGER_TEST_ANVIL_PORT", "8545"))
"""TCP port of the anvil that brownie's pytest plugin starts (or attaches to) for this run:
``LEDGER_TEST_ANVIL_PORT``, default 8545 (brownie's). Under pytest-xdist worker ``gwN`` uses
``BROWNIE_PORT + 10 * N`` (8545, 8555, ...), so each worker has a chain of its own (tests move
its clock, mine, snapshot and revert) and none lands on ``make run``'s 8546."""


def worker_number() -> int:
    """This process's pytest-xdist worker number (``PYTEST_XDIST_WORKER=gwN`` → N), 0 without
    xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker.removeprefix("gw"))


def _several_workers(config: pytest.Config) -> bool:
    """Whether this run has more than one pytest-xdist worker (not without xdist, nor with
    ``-n 0`` or ``-n 1``)."""
    count = os.environ.get("PYTEST_XDIST_WORKER_COUNT")  # set in the workers
    if count:
        return int(count) > 1
    return getattr(config.option, "numprocesses", None) not in (None, 0, 1)  # the controller's -n


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Refuse ``LEDGER_TEST_RPC_URL`` with more than one xdist worker (one chain cannot serve
    two processes that move its clock and revert it), and point brownie's ``development``
    network at this worker's port (after brownie's own ``pytest_configure``, which adds the
    worker number to its port: the value set here wins).

    Raises:
        pytest.UsageError: ``LEDGER_TEST_RPC_URL`` is set and the run has several workers.
    """
    if os.environ.get("LEDGER_TEST_RPC_URL") and _several_workers(config):
        raise pytest.UsageError("LEDGER_TEST_RPC_URL names one chain, but each xdist worker needs its own: "
                                "unset it (each worker then gets its own anvil) or run with -n 0")
    if not config.pluginmanager.has_plugin("pytest-brownie"):
        return
    from brownie._config import CONFIG

    network = CONFIG.networks[CONFIG.settings["networks"]["default"]]
    network["cmd_settings"]["port"] = BROWNIE_PORT + 10 * worker_number()


def _source_hash(path: str | Path) -> str:
    """The hash brownie keeps per test module in ``build/tests.json`` (read only by ``brownie
    test --update``, to skip modules that did not change): SHA-1 of the bytes of ``path`` and of
    each module of this checkout it imports at top level, the files brownie's own
    ``_get_ast_hash`` covers. Hex string."""
    import ast
    import hashlib
    from importlib.util import find_spec

    source = Path(path).read_bytes()
    digest = hashlib.sha1(source)
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import):
            name = node.names[0].name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            name = node.module
        else:
            continue
        try:
            origin = getattr(find_spec(name), "origin", None)
        except (ImportError, ValueError):
            continue
        if origin and origin.startswith(str(REPO_ROOT)) and Path(origin).is_file():
            digest.update(Path(origin).read_bytes())
    return digest.hexdigest()


def _cheap_brownie_test_hashes() -> None:
    """brownie's pytest plugin hashes a module's syntax tree (``ast.dump`` of the file and of
    the project modules it imports) after the last test of every module, and at start-up, in
    the controller and in each worker, every module listed in ``build/tests.json``: 0.2 to
    0.35 s a file on 2 cores, 180 modules, so about 35 s of each run's start when the file
    exists and as much again spread over the run. :func:`_source_hash` hashes the same files'
    bytes instead (a changed comment now counts as a change, for ``--update`` only). Set when
    this file is imported, before brownie's ``pytest_configure`` builds its test manager."""
    try:
        from brownie.test.managers import base
    except ImportError:  # brownie's plugin not installed: nothing to replace
        return
    base._get_ast_hash = _source_hash


_cheap_brownie_test_hashes()


SHARED_SESSION_FOLDERS = ("tests/e2e/",)
"""Folders whose modules share costly session fixtures (tests/e2e: both real datasets imported
through the importer, a seeded ledger, Chromium): under xdist one worker runs the whole folder,
so those fixtures are built once, not once per worker."""

SLOW_SCOPES_FIRST = (
    "tests/e2e/",
    "tests/workspace_browser/test_workspace_browser.py",
    "tests/chaos/test_kill_stack.py",
    "tests/indexer/test_indexer_resume.py",
    "tests/tools/test_schemathesis.py",
    "tests/importer/test_importer_stops.py",
    "tests/db/test_projection_incremental.py",
    "tests/tools/test_merkle_crosscheck.py",
    "tests/deploy/test_multi_process.py",
    "tests/tools/test_supervisor.py",
    "tests/contract/test_signed_writes.py",
    "tests/deploy/test_live_network.py",
    "tests/api/test_health_node_down.py",
    "tests/replay/test_replay_stateful.py",
    "tests/indexer/test_reorgs.py",
    "tests/db/test_batch_rules.py",
    "tests/contract/test_confirmations.py",
    "tests/contract/test_pause.py",
    "tests/db/test_projection_real_data.py",
    "tests/tools/test_gas_targets.py",
)
"""Work units (:func:`xdist_scope`) started first under xdist, slowest first, so that no long
one starts last and leaves the other worker idle (seconds of each under ``-n 2`` on this
2-core machine, loaded by other runs: tests/e2e 243, test_workspace_browser.py 96 (beside
it: both drive Chromium), test_kill_stack.py 147, test_indexer_resume.py 112, test_schemathesis.py 88 (3 tests:
by number of tests it came last), test_importer_stops.py 49, test_projection_incremental.py
48, ..., test_gas_targets.py 20); the others follow by number of tests, most
first. A unit missing here only costs balance, never a result."""


def xdist_scope(nodeid: str) -> str:
    """The xdist work unit of a test: its folder when that is in
    :data:`SHARED_SESSION_FOLDERS`, else its module (module-scoped fixtures, such as the
    module's deployment or an anvil on a fixed port, then run in one process)."""
    path = nodeid.split("::", 1)[0]
    return next((folder for folder in SHARED_SESSION_FOLDERS if path.startswith(folder)), path)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """Under pytest-xdist: whole work units (:func:`xdist_scope`) to a worker, in the
    collection's order (:func:`pytest_collection_modifyitems` puts the slow ones first). Runs
    before brownie's hook of the same name, which would schedule by file."""
    from xdist.scheduler import LoadScopeScheduling

    class ScopeScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    config.option.loadscopereorder = False
    return ScopeScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker, order the tests by work unit: :data:`SLOW_SCOPES_FIRST` first, the
    others by number of tests (most first); each unit keeps its own order. Every worker
    computes the same order, as xdist requires."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        return
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        units.setdefault(xdist_scope(item.nodeid), []).append(item)

    def rank(unit: str) -> tuple[int, int]:
        slow = SLOW_SCOPES_FIRST.index(unit) if unit in SLOW_SCOPES_FIRST else len(SLOW_SCOPES_FIRST)
        return slow, -len(units[unit])

    items[:] = [item for unit in sorted(units, key=rank) for item in units[unit]]


@pytest.fixture(scope="session", autouse=True)
def _stacks_on_test_database() -> Iterator[None]:
    """Under ``LEDGER_TEST_DATABASE=postgresql`` every ``scripts.stack.InProcessStack`` that a
    test starts without its own ``database_url`` indexes into a fresh PostgreSQL schema
    (dropped when the stack exits), so the e2e, importer and API stacks run on PostgreSQL too;
    with the SQLite default nothing changes."""
    from tests.db.databases import TEST_BACKEND, index_database_url

    if TEST_BACKEND == "sqlite":
        yield
        return
    from contextlib import ExitStack

    from scripts.stack import InProcessStack

    enter, exit_ = InProcessStack.__enter__, InProcessStack.__exit__
    databases: dict[int, ExitStack] = {}

    def on_test_database(self: InProcessStack) -> InProcessStack:
        if "database_url" not in self.settings_overrides:
            databases[id(self)] = ExitStack()
            url = databases[id(self)].enter_context(index_database_url(self.data_dir))
            self.settings_overrides = {**self.settings_overrides, "database_url": url}
        return enter(self)

    def drop_test_database(self: InProcessStack, *exc: object) -> None:
        try:
            exit_(self, *exc)
        finally:
            database = databases.pop(id(self), None)
            if database is not None:
                database.close()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(InProcessStack, "__enter__", on_test_database)
        patch.setattr(InProcessStack, "__exit__", drop_test_database)
        yield


@dataclass(frozen=True)
class Role:
    """A named account: its private key (hex) and checksummed address."""

    key: str

    @property
    def address(self) -> str:
        return Account.from_key(self.key).address


@dataclass(frozen=True)
class Roles:
    """Accounts by role, the same in every module."""

    platform_admin: Role = Role(ANVIL_KEYS[0])
    council_admin: Role = Role(ANVIL_KEYS[1])
    registrar: Role = Role(ANVIL_KEYS[2])
    other_admin: Role = Role(ANVIL_KEYS[3])
    other_registrar: Role = Role(ANVIL_KEYS[4])
    stranger: Role = Role(ANVIL_KEYS[5])


@pytest.fixture(scope="session")
def roles() -> Roles:
    return Roles()


@pytest.fixture(scope="session")
def rpc_url() -> Iterator[str]:
    """JSON-RPC URL of this process's test chain (standard mnemonic, chain id 31337):
    ``LEDGER_TEST_RPC_URL`` when set (an anvil of your own; refused under xdist with more
    than one worker, see :func:`pytest_configure`); else an anvil started for this session
    (each xdist worker its own) on a free port and stopped after it.

    Never brownie's chain (:data:`BROWNIE_PORT`): brownie's ``module_isolation`` and
    ``fn_isolation`` revert that chain around every contract test, and anvil's ``evm_revert``
    also rewinds its clock to the reverted block's time, so a module that ran after brownie's
    modules on the same worker saw block times minutes behind the wall clock (API modules
    that date their writes with ``time.time()`` then failed their fixtures), and a contract
    test could meet a nonce used meanwhile by one of our own clients."""
    override = os.environ.get("LEDGER_TEST_RPC_URL")
    if override:
        yield override
        return
    from bench.anvil import throwaway_anvil

    with throwaway_anvil() as url:
        yield url


def _rpc(url: str, method: str, params: list) -> object:
    from web3 import HTTPProvider, Web3

    answer = Web3(HTTPProvider(url)).provider.make_request(method, params)
    if "error" in answer:
        raise RuntimeError(f"{method} failed on {url}: {answer['error']}")
    return answer["result"]


def catch_up_clock(url: str) -> int:
    """Bring the chain at ``url`` up to the wall clock: when its latest block is older than
    ``time.time()`` (anvil's ``evm_revert`` rewinds the clock to the reverted block's time,
    e.g. after tests/indexer/test_reorgs.py on the session chain), mine one empty block at the
    current second. Returns the latest block's time afterwards (Unix seconds). A chain ahead
    of the wall clock stays so: a module that moves the clock forward runs on an anvil of its
    own (tests/replay/conftest.py, tests/api/test_api_v2_stories.py)."""
    import time

    latest = int(_rpc(url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)
    now = int(time.time())
    if latest < now:
        _rpc(url, "evm_setNextBlockTimestamp", [now])
        _rpc(url, "evm_mine", [])
        return now
    return latest


@pytest.fixture(scope="module")
def deployment(rpc_url: str, roles: Roles) -> Deployment:
    """A fresh ledger for this module, with municipality 1 "Baarn" (GM0308: admin
    council_admin, registrar registrar) and 2 "Utrecht" (GM0344: other_admin,
    other_registrar), on a chain whose clock is not behind the wall clock
    (:func:`catch_up_clock`)."""
    catch_up_clock(rpc_url)
    chain = LedgerChain(rpc_url)
    deployed = chain.deploy(roles.platform_admin.key)
    chain.send("registerMunicipality", ["Baarn", "GM0308", roles.council_admin.address], roles.platform_admin.key)
    chain.send("registerMunicipality", ["Utrecht", "GM0344", roles.other_admin.address], roles.platform_admin.key)
    chain.send("addRegistrar", [1, roles.registrar.address], roles.council_admin.key)
    chain.send("addRegistrar", [2, roles.other_registrar.address], roles.other_admin.key)
    return deployed


@pytest.fixture(scope="module")
def chain(rpc_url: str, deployment: Deployment) -> LedgerChain:
    """Our chain client pointed at this module's ledger."""
    return LedgerChain(rpc_url, deployment)


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, rpc_url: str, deployment: Deployment) -> Iterator[Settings]:
    """Settings for this module: its own data folder (SQLite file, evidence, deployment
    record) pointed at the test chain, polling fast. Under ``LEDGER_TEST_DATABASE=postgresql``
    the index is a fresh PostgreSQL schema instead (``tests.db.databases.index_database_url``)."""
    from tests.db.databases import index_database_url

    data_dir = tmp_path_factory.mktemp("data")
    save_deployment(data_dir / "deployment.json", deployment)
    with index_database_url(data_dir) as database_url:
        yield load_settings({}, data_dir=data_dir, rpc_url=rpc_url, poll_interval_seconds=0.1, database_url=database_url)
