"""The kill harness of issue 7 ("How to check it"): the whole system as separate processes,
killed with SIGKILL at the worst moments while staff write, then audited.

:class:`ChaosStack` runs what ``make run`` runs, each a child process on given ports:

- anvil with its state file (``--state FILE --state-interval 1``, as ``scripts/run_local.py``):
  restarted after a kill from its last dump, so up to about a second of blocks (and the whole
  transaction pool) is lost: what the write outbox must send again. anvil rewrites that file in
  place, so a kill during a dump leaves it cut and anvil refuses to start from it: the harness
  keeps a copy of the last good dump and restarts from that (counted: ``anvil_state_file_cut``);
- ``python -m indexer`` and one ``python -m uvicorn api.main:app`` on one database (a SQLite
  file or a PostgreSQL schema, ``tests/db/databases.py``), configured through ``LEDGER_*``.

The ledger and its roles are set up as ``make run`` does (``scripts.run_local``:
generated platform admin, municipalities of the source mappings, their registrars and tokens;
``scripts.admin`` for the extra registrars), so every municipality has
``signers_per_municipality`` registrars; each registers a base commitment through the API
before any kill, then writes from its own thread (:class:`Writer`) without waiting between
writes (so its nonces are pipelined): new commitments, and deliveries on its base commitment
(every other one with an evidence file, the others citing a hash), each request with its own
``Idempotency-Key`` and re-sent with the same key when its answer is lost (the API killed
mid-request) or the service is unavailable (connection refused, 429, 5xx).

:func:`run_scenario` plays a list of :class:`Kill` (what, when) against those writers and
:func:`verify` checks the promise: every write answered 202 (or 201) ends ``confirmed``;
each external ref is on chain exactly once (``CommitmentRegistered`` per municipality,
``DeliveryRecorded`` per commitment, with the ids the writes' results name); every cited
evidence file is served; the index equals a clean re-index of the same chain row for row
(``python -m indexer --once`` into a fresh database, ``tests.db.databases.dump_index``); and
``python -m scripts.replay`` reports 0 differences. Figures go to :class:`Outcome`.

Used by ``tests/chaos`` (a few kills) and ``bench/chaos.py`` (many runs).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import httpx
from eth_account import Account
from sqlalchemy import Engine

from bench.anvil import pinned_evm_version
from ledger.chain import LedgerChain
from ledger.db import make_engine, session_factory
from ledger.db import outbox as store
from ledger.deployment import Deployment
from ledger.errors import ChainUnavailableError
from ledger.settings import REPO_ROOT, load_settings
from ledger.staff import issue_token
from scripts.admin import ensure_registrar, find_municipality
from scripts.deploy import ensure_deployed
from scripts.run_local import (
    FUND_WEI,
    LOCAL_FAUCET_KEY,
    _die_with_parent,
    bootstrap_local,
    local_platform_admin_key,
    source_municipalities,
    wait_for_api,
)
from tests.db.databases import dump_index

ANVIL = REPO_ROOT / "node_modules" / ".bin" / "anvil"
API = "/api/v1"
TERMINAL = ("confirmed", "failed")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Answers a client re-sends (same key) after a pause: the service is starting, the node is
down, the write could not be journaled. Counted in :attr:`Outcome.retried_answers`."""


# ------------------------------------------------------------------ what is in the tree


def outbox_missing() -> str | None:
    """Why the write outbox (H1: ``ledger.outbox`` and the write routes) cannot be tested, or
    ``None`` when it is in the tree."""
    for module in ("ledger.outbox", "api.routes.writes"):
        if importlib.util.find_spec(module) is None:
            return f"the write outbox is not in the tree yet ({module} missing): writes answer 201 and are not re-sent"
    return None


_ROLLBACK = re.compile(r"common[ _-]ancestor|roll(?:s|ed|ing)?[ _-]?back", re.IGNORECASE)


def rollback_missing() -> str | None:
    """Why the indexer cannot survive a chain that lost blocks it indexed (H2: roll back to the
    common ancestor), or ``None`` when that code is in the tree."""
    sources = [*sorted((REPO_ROOT / "indexer").glob("*.py")), REPO_ROOT / "ledger" / "db" / "projection.py"]
    for path in sources:
        if path.exists() and _ROLLBACK.search(path.read_text(encoding="utf-8")):
            return None
    return ("the indexer's rollback to the common ancestor is not in the tree yet (indexer/, ledger/db/projection.py): "
            "a node restarted from an older state stops it with ReorgDetectedError")


# ------------------------------------------------------------------ child processes


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Child:
    """One child process, its own session, output appended to ``log``.

    Attributes:
        kills: SIGKILLs sent. ``starts``: times started.
    """

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    kills: int = 0
    starts: int = 0

    def start(self) -> None:
        """Start it (from the main thread: the child gets SIGTERM when the starting thread ends)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            out.write(f"\n----- start {self.starts + 1} at {time.time():.3f}\n".encode())
            out.flush()
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, env=self.env, cwd=REPO_ROOT,
                                         start_new_session=True, preexec_fn=_die_with_parent)
        self.starts += 1

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL, and reap it."""
        if self.alive():
            assert self.proc is not None
            os.killpg(self.proc.pid, signal.SIGKILL)  # its group: npm's anvil is a node wrapper of the binary
            self.proc.wait()
            self.kills += 1

    def stop(self, timeout_seconds: float = 20.0) -> int | None:
        """SIGTERM, wait up to ``timeout_seconds``, then SIGKILL; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_seconds)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        try:  # what is left of its group (anvil's binary after its wrapper)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.proc.returncode

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}, timeout=10).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


@dataclass
class Signer:
    """A registrar with a staff token: municipality code and id, account, token."""

    code: str
    municipality_id: int
    account: str
    token: str
    commitment_id: int | None = None


class ChaosStack:
    """anvil, the indexer and the API as child processes (module docstring).

    Args:
        folder: empty folder: data (deployment, keys, tokens, evidence), SQLite file, logs, state.
        database_url: the index and outbox database, empty (``Database.url`` of
            ``fresh_database(..., schema=False)``): the indexer makes its tables.
        anvil_port, api_port: TCP ports on 127.0.0.1 (refused when in use).
        block_time_seconds: anvil interval mining after set-up (``--block-time``); ``None``
            keeps automine (``make run``'s chain).
        confirmations: ``LEDGER_CONFIRMATIONS`` of the indexer and the API (the outbox waits for
            max(1, this)).
        signers_per_municipality: registrars per municipality of the source mappings (>= 1).
        chunk_blocks: ``LEDGER_LOG_CHUNK_BLOCKS`` (small: a kill lands mid-chunk).
    """

    def __init__(self, folder: Path, database_url: str, *, anvil_port: int, api_port: int,
                 block_time_seconds: int | None = None, confirmations: int = 0, signers_per_municipality: int = 2,
                 chunk_blocks: int = 2) -> None:
        self.folder = folder
        self.data_dir = folder / "data"
        self.database_url = database_url
        self.anvil_port = anvil_port
        self.api_port = api_port
        self.block_time_seconds = block_time_seconds
        self.confirmations = confirmations
        self.signers_per_municipality = signers_per_municipality
        self.rpc_url = f"http://127.0.0.1:{anvil_port}"
        self.api_url = f"http://127.0.0.1:{api_port}"
        self.state_file = folder / "chain" / "state.json"
        self.good_state_file = folder / "chain" / "state.good.json"
        self.state_restores = 0
        self.dumped_block = -1  # best_block_number of anvil's last good dump
        self._stopping = threading.Event()
        self._keeper: threading.Thread | None = None
        self.deployment: Deployment | None = None
        self.signers: list[Signer] = []
        self.engine: Engine = make_engine(database_url)
        self.sessions = session_factory(self.engine)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        env.update({
            "PYTHONPATH": str(REPO_ROOT), "LEDGER_ENV": "local", "LEDGER_DATA_DIR": str(self.data_dir),
            "LEDGER_RPC_URL": self.rpc_url, "LEDGER_DATABASE_URL": database_url,
            "LEDGER_CONFIRMATIONS": str(confirmations), "LEDGER_POLL_INTERVAL_SECONDS": "0.2",
            "LEDGER_LOG_CHUNK_BLOCKS": str(chunk_blocks), "LEDGER_OUTBOX_POLL_SECONDS": "0.2",
            "LEDGER_OUTBOX_REBROADCAST_SECONDS": "1", "LEDGER_TX_TIMEOUT_SECONDS": "10",
        })
        self.env = env
        logs = folder / "logs"
        anvil = [str(ANVIL), "--host", "127.0.0.1", "--port", str(anvil_port), "--hardfork", pinned_evm_version(),
                 "--state", str(self.state_file), "--state-interval", "1", "--silent"]
        self.anvil = Child("anvil", anvil, env, logs / "anvil.log")
        self.indexer = Child("indexer", [sys.executable, "-m", "indexer"], env, logs / "indexer.log")
        self.api = Child("api", [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1",
                                 "--port", str(api_port)], env, logs / "api.log")
        self.children = {"anvil": self.anvil, "indexer": self.indexer, "api": self.api}

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> "ChaosStack":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start anvil (automine), set the ledger up, switch to interval mining if asked, wait
        for the set-up to be in anvil's state file, then start the indexer and the API."""
        for port in (self.anvil_port, self.api_port):
            if port_in_use(port):
                raise RuntimeError(f"port {port} is in use: stop what runs there or choose other ports")
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        self.start_anvil(initial=True)
        self._set_up()
        if self.block_time_seconds:
            _rpc(self.rpc_url, "evm_setIntervalMining", [self.block_time_seconds])
        self.indexer.start()  # it makes the tables (the children's code, not this process's)
        if not _wait_for(lambda: b"Indexing contract" in self.indexer.log.read_bytes() or not self.indexer.alive(),
                         time.monotonic() + 60, 0.1) or not self.indexer.alive():
            raise RuntimeError(f"the indexer did not start:\n{self.indexer.tail()}")
        self.start_api()
        self._base_commitments()
        time.sleep(1.5)  # at least one dump (--state-interval 1) holds the set-up

    def _keep_state(self) -> None:
        """Thread: copy anvil's state file to ``state.good.json`` (atomically) each time it
        changes and parses. anvil rewrites ``--state`` in place: a SIGKILL during its dump
        leaves a cut file that anvil then refuses to load ("failed to parse json file"); the
        restart falls back to the last good copy (:attr:`state_restores`)."""
        seen = None
        while not self._stopping.is_set():
            try:
                stat = self.state_file.stat()
                if (stat.st_mtime_ns, stat.st_size) != seen:
                    data = self.state_file.read_bytes()
                    self.dumped_block = int(json.loads(data).get("best_block_number") or 0)
                    tmp = self.good_state_file.with_suffix(".tmp")
                    tmp.write_bytes(data)
                    os.replace(tmp, self.good_state_file)
                    seen = (stat.st_mtime_ns, stat.st_size)
            except (OSError, ValueError):
                pass  # missing, or caught mid-write: next time
            self._stopping.wait(0.1)

    def _usable_state(self) -> None:
        """Before anvil restarts: a state file that does not parse is replaced by the last good copy."""
        try:
            json.loads(self.state_file.read_bytes())
            return
        except (OSError, ValueError):
            pass
        if self.good_state_file.exists():
            self.state_restores += 1
            os.replace(self.good_state_file, self.state_file)

    def start_anvil(self, *, initial: bool = False) -> None:
        """Start anvil from its state file (interval mining unless it is the set-up start)."""
        if not initial:
            self._usable_state()
        elif self._keeper is None:
            self._keeper = threading.Thread(target=self._keep_state, name="anvil-state-keeper", daemon=True)
            self._keeper.start()
        argv = list(self.anvil.argv)
        if self.block_time_seconds and not initial:
            self.anvil.argv = argv + ["--block-time", str(self.block_time_seconds)]
        try:
            self.anvil.start()
        finally:
            self.anvil.argv = argv
        deadline = time.monotonic() + 30
        while True:
            try:
                LedgerChain(self.rpc_url).chain_id()
                return
            except ChainUnavailableError:
                if not self.anvil.alive():
                    raise RuntimeError(f"anvil exited with {self.anvil.proc.returncode}:\n{self.anvil.tail()}")
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def start_api(self, timeout_seconds: float = 60.0) -> None:
        self.api.start()

        def still_alive() -> None:
            if not self.api.alive():
                raise RuntimeError(f"the API exited with {self.api.proc.returncode}:\n{self.api.tail()}")

        wait_for_api(self.api_url, timeout_seconds, still_alive)

    def restart(self, name: str) -> None:
        """Start a killed child again (anvil from its state file; the API until it answers)."""
        if name == "anvil":
            self.start_anvil()
        elif name == "api":
            self.start_api()
        else:
            self.children[name].start()

    def close(self) -> None:
        self._stopping.set()
        for child in (self.api, self.indexer, self.anvil):
            child.stop(10)
        self.engine.dispose()

    def _set_up(self) -> None:
        settings = load_settings({}, env="local", data_dir=self.data_dir, rpc_url=self.rpc_url,
                                 database_url=self.database_url)
        admin_key = local_platform_admin_key(settings, LedgerChain(self.rpc_url))
        self.deployment, _ = ensure_deployed(settings, admin_key)
        chain = LedgerChain(self.rpc_url, self.deployment)
        tokens = bootstrap_local(settings, chain, admin_key)
        keys = json.loads((self.data_dir / "local-keys.json").read_text())["municipalities"]
        for municipality in source_municipalities(settings.sources_dir):
            code = municipality["code"]
            entry = keys[code]
            admin = Account.from_key(entry["admin_key"]).address
            municipality_id = find_municipality(chain, admin, code)
            assert municipality_id is not None
            self.signers.append(Signer(code, municipality_id, Account.from_key(entry["registrar_key"]).address,
                                       tokens[code]))
            for _ in range(self.signers_per_municipality - 1):
                key = "0x" + secrets.token_hex(32)
                account = Account.from_key(key).address
                chain.transfer_ether(LOCAL_FAUCET_KEY, account, FUND_WEI)
                ensure_registrar(chain, entry["admin_key"], municipality_id, account)
                token = issue_token(settings.staff_keys_file, municipality_id, key)
                self.signers.append(Signer(code, municipality_id, account, token))

    def _base_commitments(self, timeout_seconds: float = 60.0) -> None:
        """One commitment per signer, registered through the API before any kill and indexed
        (``Signer.commitment_id``): the deliveries of the scenario go to it, so no write of the
        scenario waits for another."""
        now = int(time.time())
        last_block = 0
        answers = []
        for number, signer in enumerate(self.signers):  # all sent, then all awaited
            body = {"external_ref": f"base-{number}", "title": f"Chaos base commitment {number}", "target_quantity": 1000,
                    "unit": "items", "promised_at": now - 86_400, "due_date": now + 365 * 86_400}
            client = httpx.Client(base_url=self.api_url, timeout=60, headers={"Authorization": f"Bearer {signer.token}"})
            response = client.post(f"{API}/staff/commitments", json=body, headers={"Idempotency-Key": f"base-{number}"})
            if response.status_code not in (201, 202):
                raise RuntimeError(f"base commitment refused: {response.status_code} {response.text}")
            answers.append((signer, client, response))
        for signer, client, response in answers:
            try:
                result = response.json()
                if "write" in result:
                    result = settle(client, result["write"]["id"], time.monotonic() + timeout_seconds).get("result") or {}
            finally:
                client.close()
            signer.commitment_id = int(result["commitment_id"])
            last_block = max(last_block, int((result.get("tx") or {}).get("block_number") or 0))
        if self.block_time_seconds is None:
            self.mine(self.confirmations + 1)
        if not _wait_for(lambda: (self.indexed_block() or -1) >= last_block, time.monotonic() + timeout_seconds, 0.2):
            raise RuntimeError(f"the base commitments (up to block {last_block}) were not indexed:\n{self.indexer.tail()}")

    # ---------------------------------------------------------------- reads

    def chain(self) -> LedgerChain:
        return LedgerChain(self.rpc_url, self.deployment)

    def head(self) -> int:
        return LedgerChain(self.rpc_url).head_block_number()

    def outbox_rows(self) -> list[dict[str, Any]]:
        """Every write of the outbox (straight from the database)."""
        with self.sessions() as session:
            rows, _count = [], 0
            for municipality_id in sorted({s.municipality_id for s in self.signers}):
                found, _count = store.list_writes(session, municipality_id, limit=500, offset=0)
                rows.extend(found)
            return rows

    def open_writes(self) -> list[dict[str, Any]]:
        with self.sessions() as session:
            return store.open_writes(session)

    def indexed_block(self) -> int | None:
        try:
            return httpx.get(f"{self.api_url}{API}/health", timeout=5).json().get("indexed_block")
        except (httpx.HTTPError, ValueError):
            return None

    def mine(self, blocks: int) -> None:
        """Mine ``blocks`` empty blocks (``anvil_mine``): confirmations for the last writes."""
        _rpc(self.rpc_url, "anvil_mine", [hex(blocks)])


# ------------------------------------------------------------------ writers


@dataclass
class Sent:
    """One staff write as its client saw it.

    Attributes:
        kind: ``commitment`` or ``delivery``. ``ref``: its external ref.
        key: the Idempotency-Key of every attempt.
        status: the accepting answer (201 or 202), ``None`` if never accepted.
        write_id: the outbox write (``None`` on a 201 without outbox).
        attempts: POSTs tried. ``lost_answers``: POSTs sent whose answer was lost (the API
            killed mid-request); ``refused_connections``: POSTs not sent (the API was down).
        refused: the problem of a refusal (a 4xx other than the retried ones).
        final: the write when last polled (``GET /staff/writes/{id}``).
        result: the 201 body (``write.result`` once confirmed).
        evidence: ``0x`` SHA-256 of the uploaded evidence files.
    """

    kind: str
    ref: str
    key: str
    signer: Signer
    commitment_id: int | None = None
    status: int | None = None
    write_id: str | None = None
    attempts: int = 0
    lost_answers: int = 0
    refused_connections: int = 0
    retried: Counter = field(default_factory=Counter)
    refused: dict[str, Any] | None = None
    final: dict[str, Any] | None = None
    result: dict[str, Any] | None = None
    evidence: list[str] = field(default_factory=list)
    accepted_at: float | None = None
    id_changed: bool = False


class Writer(threading.Thread):
    """A registrar's client: ``commitments`` new commitments and ``deliveries`` deliveries on
    its base commitment, sent one after the other without waiting, then every write polled until
    ``confirmed`` or ``failed``.

    Args:
        on_event: called as ``on_event(kind, sent)`` with ``"posting"`` before each POST and
            ``"accepted"`` on its 202/201 (the kill controller's triggers; must not block).
        keep_writing: while set, after its own writes it goes on recording a delivery every
            0.3 s (so that every kill of the plan finds writes in flight).
        deadline: monotonic time after which it gives up.
    """

    def __init__(self, stack: ChaosStack, signer: Signer, number: int, *, commitments: int, deliveries: int,
                 deadline: float, on_event: Callable[[str, Sent], None],
                 keep_writing: threading.Event | None = None) -> None:
        super().__init__(name=f"writer-{number}", daemon=True)
        self.keep_writing = keep_writing or threading.Event()
        self.stack = stack
        self.signer = signer
        self.number = number
        self.commitments = commitments
        self.deliveries = deliveries
        self.deadline = deadline
        self.on_event = on_event
        self.sent: list[Sent] = []
        self.error: BaseException | None = None
        self.client = httpx.Client(base_url=stack.api_url, timeout=30,
                                   headers={"Authorization": f"Bearer {signer.token}"})

    def run(self) -> None:
        try:
            assert self.signer.commitment_id is not None
            for c in range(self.commitments):
                self._commitment(c)
            for d in range(self.deliveries):
                self._delivery(self.signer.commitment_id, d)
            d = self.deliveries
            while self.keep_writing.is_set() and time.monotonic() < self.deadline:  # until the plan is played
                self._delivery(self.signer.commitment_id, d)
                d += 1
                time.sleep(0.3)
            for sent in self.sent:
                self._settle(sent)
        except BaseException as exc:  # reported by run_scenario
            self.error = exc
        finally:
            self.client.close()

    def _commitment(self, c: int) -> None:
        now = int(time.time())
        ref = f"chaos-{self.number}-{c}-{secrets.token_hex(3)}"
        body = {"external_ref": ref, "title": f"Chaos commitment {self.number}.{c}", "target_quantity": 10,
                "unit": "items", "promised_at": now - 86_400, "due_date": now + 365 * 86_400}
        sent = Sent("commitment", ref, "k-" + ref, self.signer)
        self.sent.append(sent)
        self._post(sent, "/staff/commitments", json=body)

    def _delivery(self, commitment_id: int, d: int) -> Sent:
        ref = f"d{d}"
        sent = Sent("delivery", ref, f"k-{commitment_id}-{ref}-{secrets.token_hex(3)}", self.signer, commitment_id)
        self.sent.append(sent)
        data = {"quantity": "1", "delivered_at": str(int(time.time()) - 60), "external_ref": ref,
                "note": f"chaos delivery {d}"}
        files = None
        if d % 2 == 0:
            content = f"evidence of commitment {commitment_id} delivery {d}: {secrets.token_hex(16)}\n".encode()
            files = [("evidence", (f"evidence-{d}.txt", content, "text/plain"))]
            sent.evidence.append("0x" + hashlib.sha256(content).hexdigest())
        else:
            data["evidence_sha256"] = secrets.token_hex(32)
        self._post(sent, f"/staff/commitments/{commitment_id}/deliveries", data=data, files=files)
        return sent

    def _post(self, sent: Sent, path: str, **kwargs: Any) -> None:
        """POST until accepted or refused, the same key every time (module docstring)."""
        while time.monotonic() < self.deadline:
            sent.attempts += 1
            self.on_event("posting", sent)
            try:
                response = self.client.post(API + path, headers={"Idempotency-Key": sent.key}, **kwargs)
            except httpx.ConnectError:  # the API is down: nothing was sent
                sent.refused_connections += 1
                time.sleep(0.2)
                continue
            except httpx.TransportError:  # sent, answer lost (the API killed mid-request)
                sent.lost_answers += 1
                time.sleep(0.2)
                continue
            status = response.status_code
            if status in (201, 202):
                body = response.json()
                sent.status = status
                sent.accepted_at = time.time()
                write = body.get("write")
                if write is None:  # no outbox: the old 201 body
                    sent.result = body
                else:
                    sent.write_id = write["id"]
                    sent.final = write
                    if status == 201:
                        sent.result = {k: v for k, v in body.items() if k != "write"}
                self.on_event("accepted", sent)
                return
            problem = _json(response)
            if status in RETRY_STATUSES or (status == 404 and sent.kind == "delivery"):
                # 404: the commitment is confirmed but not indexed yet (the index lags).
                sent.retried[status] += 1
                time.sleep(0.3)
                continue
            sent.refused = {"status": status, **problem}
            return
        sent.refused = {"status": None, "detail": "gave up: deadline"}

    def _settle(self, sent: Sent) -> None:
        """Poll the write until it is confirmed or failed (or the deadline passes)."""
        if sent.write_id is None or sent.result is not None:
            return
        sent.final = settle(self.client, sent.write_id, self.deadline) or sent.final
        if (sent.final or {}).get("state") == "confirmed":
            sent.result = sent.final.get("result")  # type: ignore[union-attr]


def settle(client: httpx.Client, write_id: str, deadline: float) -> dict[str, Any]:
    """Poll ``GET /staff/writes/{id}`` until the write is confirmed or failed (or the monotonic
    ``deadline`` passes); returns the last Write seen (``{}`` if none)."""
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            response = client.get(f"{API}/staff/writes/{write_id}")
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        if response.status_code == 200:
            seen = response.json()
            if seen["state"] in TERMINAL:
                return seen
        time.sleep(0.2)
    return seen


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"detail": response.text[:300]}
    return body if isinstance(body, dict) else {"body": body}


# ------------------------------------------------------------------ kills


@dataclass
class Kill:
    """One SIGKILL of the plan.

    Attributes:
        target: ``anvil``, ``api`` or ``indexer``.
        moment: when (each waits for the previous kill's restart):
            ``accepted``: right after a write was answered 202 (the API: before it is
            confirmed);
            ``request``: while a POST is in flight (anvil: during the API's estimate, journal or
            broadcast);
            ``sent``: as soon as the outbox holds a write ``sent`` without receipt yet (anvil:
            between send and receipt);
            ``confirmed``: as soon as one more write is ``confirmed`` in a block that is indexed
            but not yet in anvil's last state dump (anvil: the node comes back without a block
            the index holds and a write staff saw confirmed); when the index lags behind the
            dumps for 10 s, as soon as one more write is confirmed and indexed;
            ``chunk``: the indexer restarted with a backlog of blocks, killed while it works
            through its chunks.
        down_seconds: how long it stays dead (default 0.5 s; anvil 1.5 s, so that blocks it
            mines again after the restart carry later timestamps: a block re-mined within the same
            second from the same transactions would have the same hash, and the loss would go
            unseen by the indexer).
    """

    target: str
    moment: str
    down_seconds: float | None = None

    @property
    def down(self) -> float:
        return self.down_seconds if self.down_seconds is not None else (1.5 if self.target == "anvil" else 0.5)


@dataclass
class KillRecord:
    target: str
    moment: str
    at: float
    triggered: bool
    note: str = ""
    writes_at_kill: dict[str, str] = field(default_factory=dict)  # write id → state
    head_before: int | None = None  # anvil kills: the head block before the kill and after the restart
    trigger_state: str | None = None  # ``accepted`` kills: the state of the write just answered 202
    indexed_before: int | None = None  # anvil kills: the API's indexed block before the kill
    head_after: int | None = None


@dataclass
class Outcome:
    """Figures of one scenario run."""

    backend: str
    sent: list[Sent] = field(default_factory=list)
    kills: list[KillRecord] = field(default_factory=list)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    chain_events: dict[str, int] = field(default_factory=dict)
    replay_differences: int | None = None
    replay_anomalies: int | None = None
    index_equal: bool | None = None
    index_rows: int = 0
    writer_errors: list[str] = field(default_factory=list)
    reorg_log_lines: int = 0  # lines of the indexer's log that speak of a reorg
    state_restores: int = 0  # anvil restarts from the last good state copy (its own file was cut by the kill)

    @property
    def accepted(self) -> list[Sent]:
        return [s for s in self.sent if s.status in (201, 202)]

    def figures(self) -> dict[str, Any]:
        states = Counter((s.final or {}).get("state", "no-outbox" if s.status == 201 else "none") for s in self.accepted)
        return {
            "backend": self.backend, "seconds": round(self.seconds, 1), "writes": len(self.sent),
            "kills": sum(1 for k in self.kills if k.triggered),
            "kills_by_target": dict(Counter(k.target for k in self.kills if k.triggered)),
            "blocks_lost": sum(max(0, k.head_before - k.head_after) for k in self.kills
                               if k.head_before is not None and k.head_after is not None),
            "answered_202": sum(1 for s in self.sent if s.status == 202),
            "answered_201": sum(1 for s in self.sent if s.status == 201),
            "refused": sum(1 for s in self.sent if s.refused is not None),
            "lost_answers": sum(s.lost_answers for s in self.sent),
            "refused_connections": sum(s.refused_connections for s in self.sent),
            "ids_changed_after_shown": sum(1 for s in self.accepted if s.id_changed),
            "retried_answers": dict(sum((s.retried for s in self.sent), Counter())),
            "final_states": dict(states),
            "confirmed_exactly_once": self.chain_events.get("exactly_once", 0),
            "on_chain_twice_or_more": self.chain_events.get("duplicated", 0),
            "missing_on_chain": self.chain_events.get("missing", 0),
            "attempts": sum((s.final or {}).get("attempts") or 0 for s in self.accepted),
            "indexer_reorg_log_lines": self.reorg_log_lines, "anvil_state_file_cut": self.state_restores,
            "index_equal_to_reindex": self.index_equal, "index_rows": self.index_rows,
            "replay_differences": self.replay_differences, "replay_anomalies": self.replay_anomalies,
            "problems": len(self.problems),
        }


class _Triggers:
    """What the writers report, for the kill controller (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted = threading.Event()
        self.posting = threading.Event()
        self.last_accepted: Sent | None = None

    def __call__(self, kind: str, sent: Sent) -> None:
        with self.lock:
            if kind == "accepted":
                self.last_accepted = sent
                self.accepted.set()
            elif kind == "posting":
                self.posting.set()


def _wait_for(condition: Callable[[], bool], until: float, step: float = 0.02) -> bool:
    while time.monotonic() < until:
        if condition():
            return True
        time.sleep(step)
    return False


def run_scenario(stack: ChaosStack, plan: Iterable[Kill], *, backend: str, commitments: int = 1, deliveries: int = 4,
                 timeout_seconds: float = 120.0) -> Outcome:
    """Start one :class:`Writer` per signer (``commitments`` new commitments and ``deliveries``
    deliveries each, then one more delivery every 0.3 s until the plan is played), play ``plan``
    (from this thread: it restarts the children), wait for the writers, then :func:`verify`.
    Returns the figures and problems."""
    started = time.monotonic()
    deadline = started + timeout_seconds
    outcome = Outcome(backend)
    triggers = _Triggers()
    keep_writing = threading.Event()
    keep_writing.set()
    writers = [Writer(stack, signer, n, commitments=commitments, deliveries=deliveries, deadline=deadline,
                      on_event=triggers, keep_writing=keep_writing) for n, signer in enumerate(stack.signers)]
    for writer in writers:
        writer.start()
    writing = lambda: any(w.is_alive() for w in writers)  # noqa: E731
    try:
        for kill in plan:
            outcome.kills.append(_play(stack, kill, triggers, writing, min(deadline, time.monotonic() + 40)))
    finally:
        keep_writing.clear()
    for writer in writers:
        writer.join(max(0.0, deadline - time.monotonic()))
        outcome.sent.extend(writer.sent)
        if writer.error is not None:
            outcome.writer_errors.append(f"{writer.name}: {type(writer.error).__name__}: {writer.error}")
        if writer.is_alive():
            outcome.writer_errors.append(f"{writer.name}: still running at the deadline")
    outcome.problems.extend(outcome.writer_errors)
    outcome.state_restores = stack.state_restores
    verify(stack, outcome)
    outcome.seconds = time.monotonic() - started
    return outcome


def _states(stack: ChaosStack) -> dict[str, str]:
    try:
        return {row["id"]: row["state"] for row in stack.outbox_rows()}
    except Exception as exc:  # the database may be busy while children die; a figure only
        return {"?": f"unreadable: {type(exc).__name__}"}


def _play(stack: ChaosStack, kill: Kill, triggers: _Triggers, writing: Callable[[], bool], until: float) -> KillRecord:
    child = stack.children[kill.target]
    note = ""
    trigger: Sent | None = None
    if kill.moment == "accepted":
        triggers.accepted.clear()
        hit = _wait_for(lambda: triggers.accepted.is_set() or not writing(), until, 0.001) and triggers.accepted.is_set()
        trigger = triggers.last_accepted
        if hit and trigger is not None:
            note = f"after 202 of {trigger.kind} {trigger.ref}"
    elif kill.moment == "request":
        triggers.posting.clear()
        hit = _wait_for(lambda: triggers.posting.is_set() or not writing(), until, 0.001) and triggers.posting.is_set()
        time.sleep(0.02)  # inside the request: estimate, journal or broadcast
    elif kill.moment == "sent":
        def some_sent() -> bool:
            try:
                return any(r["state"] == "sent" for r in stack.open_writes())
            except Exception:
                return False
        hit = _wait_for(lambda: some_sent() or not writing(), until, 0.01) and some_sent()
    elif kill.moment == "confirmed":
        def confirmed() -> dict[str, int]:
            try:
                return {r["id"]: int(r["block_number"] or 0) for r in stack.outbox_rows() if r["state"] == "confirmed"}
            except Exception:
                return {}
        before = set(confirmed())

        def indexed_not_dumped(strict: bool) -> bool:
            indexed = stack.indexed_block() or -1
            floor = stack.dumped_block if strict else -1
            return any(floor < block <= indexed for write_id, block in confirmed().items() if write_id not in before)
        strict = min(until, time.monotonic() + 10)
        hit = _wait_for(lambda: indexed_not_dumped(True) or not writing(), strict, 0.02) and indexed_not_dumped(True)
        note = f"a write confirmed and indexed in a block after anvil's last dump (block {stack.dumped_block})"
        if not hit:  # the index lagged behind the dumps for 10 s: any newly confirmed and indexed write
            hit = _wait_for(lambda: indexed_not_dumped(False) or not writing(), until, 0.02) and indexed_not_dumped(False)
            note = f"a write confirmed and indexed (anvil's last dump: block {stack.dumped_block})"
    elif kill.moment == "chunk":
        stack.indexer.kill9()  # let a backlog build up
        _wait_for(lambda: False, time.monotonic() + 2 * (stack.block_time_seconds or 1))
        stack.indexer.start()
        log = stack.indexer.log
        size = log.stat().st_size if log.exists() else 0
        hit = _wait_for(lambda: b"Indexing contract" in log.read_bytes()[size:], until, 0.01)
        time.sleep(0.05)
        note = "after a backlog of blocks, while catching up"
    else:
        raise ValueError(f"unknown kill moment {kill.moment!r}")
    record = KillRecord(kill.target, kill.moment, time.time(), bool(hit), note)
    if not hit:
        record.note = "not triggered (the writers finished or the deadline passed)"
        return record
    if kill.target == "anvil":
        try:
            record.head_before = stack.head()
        except ChainUnavailableError:
            pass
        record.indexed_before = stack.indexed_block()
    child.kill9()
    record.writes_at_kill = _states(stack)
    if trigger is not None and trigger.write_id is not None:
        record.trigger_state = record.writes_at_kill.get(trigger.write_id)
        record.note += f" (write {trigger.write_id} {record.trigger_state} at the kill)"
    time.sleep(kill.down)
    stack.restart(kill.target)
    if kill.target == "anvil":
        record.head_after = stack.head()
    return record


# ------------------------------------------------------------------ the checks


def verify(stack: ChaosStack, outcome: Outcome, *, settle_seconds: float = 60.0) -> None:
    """The promise (module docstring); appends to ``outcome.problems`` and ``outcome.skipped``."""
    problems = outcome.problems
    for child in (stack.anvil, stack.api):
        if not child.alive():
            problems.append(f"{child.name} is not running at the end:\n{child.tail()}")
            return
    _settle_all(stack, outcome, time.monotonic() + settle_seconds)
    for sent in outcome.sent:
        if sent.refused is not None:
            problems.append(f"{sent.kind} {sent.ref} of {sent.signer.account} refused: {sent.refused}")
        elif sent.status is None:
            problems.append(f"{sent.kind} {sent.ref} never accepted ({sent.attempts} attempts)")
        elif sent.write_id is not None and (sent.final or {}).get("state") != "confirmed":
            problems.append(f"{sent.kind} {sent.ref}: write {sent.write_id} is {(sent.final or {}).get('state')} at the "
                            f"end: {json.dumps(sent.final, default=str)[:1500]}")
    # every external ref once on chain, with the ids the results name
    chain = stack.chain()
    assert stack.deployment is not None
    events = chain.decoder.decode_all(chain.get_logs(stack.deployment.deploy_block, chain.head_block_number()))
    registered = Counter((e.args["municipality_id"], e.args["external_ref"]) for e in events if e.name == "CommitmentRegistered")
    commitment_ids = {(e.args["municipality_id"], e.args["external_ref"]): e.args["commitment_id"]
                      for e in events if e.name == "CommitmentRegistered"}
    delivered = Counter((e.args["commitment_id"], e.args["external_ref"]) for e in events if e.name == "DeliveryRecorded")
    delivery_ids = {(e.args["commitment_id"], e.args["external_ref"]): e.args["delivery_id"]
                    for e in events if e.name == "DeliveryRecorded"}
    once = twice = missing = 0
    for sent in outcome.accepted:
        if sent.kind == "commitment":
            where = (sent.signer.municipality_id, sent.ref)
            count, ids, id_name = registered[where], commitment_ids, "commitment_id"
        else:
            where = (sent.commitment_id, sent.ref)
            count, ids, id_name = delivered[where], delivery_ids, "delivery_id"
        if count == 1:
            once += 1
            shown = sent.result.get(id_name) if sent.result is not None else None
            final = ((sent.final or {}).get("result") or {}).get(id_name)
            if final is not None and int(final) != ids[where]:
                problems.append(f"{sent.kind} {where}: write {sent.write_id}'s result names {id_name} {final}, the "
                                f"chain has {ids[where]}{_history(stack, sent)}")
            if sent.result is not None and int(shown) != ids[where]:
                sent.id_changed = True
            if sent.id_changed and stack.confirmations > 0:
                problems.append(f"{sent.kind} {where}: write {sent.write_id} was shown confirmed with {id_name} {shown} "
                                f"(the client used it), the chain has {ids[where]}; the write's result at the end names "
                                f"{final}{_history(stack, sent)}")
        elif count == 0:
            missing += 1
            problems.append(f"{sent.kind} {where} (write {sent.write_id}, state {(sent.final or {}).get('state')}) is not "
                            f"on chain{_history(stack, sent)}")
        else:
            twice += 1
            problems.append(f"{sent.kind} {where} (write {sent.write_id}) is on chain {count} times{_history(stack, sent)}")
    outcome.chain_events = {"exactly_once": once, "duplicated": twice, "missing": missing,
                            "CommitmentRegistered": sum(registered.values()), "DeliveryRecorded": sum(delivered.values())}
    # evidence of confirmed deliveries is served
    with httpx.Client(base_url=stack.api_url, timeout=10) as client:
        for sent in outcome.accepted:
            for sha in sent.evidence:
                status = client.get(f"{API}/evidence/{sha}").status_code
                if status != 200 and (sent.final or {}).get("state", "confirmed") == "confirmed":
                    problems.append(f"evidence {sha} of delivery {sent.commitment_id}/{sent.ref} answers {status}")
    _check_index(stack, outcome, settle_seconds)


def _settle_all(stack: ChaosStack, outcome: Outcome, until: float) -> None:
    """Poll every accepted write again until all are terminal (a write the chain lost after
    it was confirmed goes back to ``sent``); ``Sent.final`` is then its state at the end."""
    clients = {s.signer.token: httpx.Client(base_url=stack.api_url, timeout=10,
                                            headers={"Authorization": f"Bearer {s.signer.token}"})
               for s in outcome.accepted}
    try:
        todo = [s for s in outcome.accepted if s.write_id is not None]
        while todo and time.monotonic() < until:
            left = []
            for sent in todo:
                try:
                    response = clients[sent.signer.token].get(f"{API}/staff/writes/{sent.write_id}")
                except httpx.TransportError:
                    left.append(sent)
                    continue
                if response.status_code == 200:
                    sent.final = response.json()
                if response.status_code != 200 or sent.final["state"] not in TERMINAL:
                    left.append(sent)
            todo = left
            if todo:
                time.sleep(0.3)
    finally:
        for client in clients.values():
            client.close()


def _history(stack: ChaosStack, sent: Sent) -> str:
    if sent.write_id is None:
        return ""
    with stack.sessions() as session:
        row = store.get_write(session, sent.write_id) or {}
        tries = store.attempt_history(session, sent.write_id)
    keep = {k: row.get(k) for k in ("state", "nonce", "tx_hash", "block_number", "attempts", "problem_json")}
    return f"; outbox {keep}; attempts {tries}"


def _check_index(stack: ChaosStack, outcome: Outcome, settle_seconds: float) -> None:
    """Index = clean re-index, then the replay (module docstring)."""
    problems = outcome.problems
    log = stack.indexer.log.read_bytes() if stack.indexer.log.exists() else b""
    outcome.reorg_log_lines = sum(1 for line in log.splitlines() if b"reorg" in line.lower())
    reorged = b"Reorg detected" in log
    if reorged and rollback_missing():
        outcome.skipped.append(f"index and replay not compared: {rollback_missing()}; indexer log:\n"
                               f"{stack.indexer.tail(4)}")
        return
    if not stack.indexer.alive():
        problems.append(f"the indexer is not running at the end (exit {stack.indexer.proc.returncode}):\n"
                        f"{stack.indexer.tail()}")
        return
    chain = stack.chain()
    assert stack.deployment is not None
    head = chain.head_block_number()
    events = chain.get_logs(stack.deployment.deploy_block, head)
    last_event = max((int(e["blockNumber"]) for e in events), default=stack.deployment.deploy_block)
    if stack.block_time_seconds is None:
        stack.mine(stack.confirmations + 1)
    until = time.monotonic() + settle_seconds
    if not _wait_for(lambda: (stack.indexed_block() or -1) >= last_event or not stack.indexer.alive(), until, 0.2) \
            or not stack.indexer.alive():
        problems.append(f"the index did not reach block {last_event} (the last ledger event) within {settle_seconds} s: "
                        f"indexed {stack.indexed_block()}; indexer log:\n{stack.indexer.tail()}")
        return
    indexed = stack.indexed_block()
    replay = _replay(stack, int(indexed or last_event))
    if replay:
        problems.append(replay)
    outcome.replay_differences, outcome.replay_anomalies = _replay_counts(stack)
    code = stack.indexer.stop()
    if code not in (0, None):
        problems.append(f"the indexer stopped with {code} on SIGTERM:\n{stack.indexer.tail()}")
    live = dump_index(stack.engine)
    outcome.index_rows = sum(len(rows) for rows in live.values())
    clean_url, drop = _clean_database(stack)
    try:
        env = dict(stack.env, LEDGER_DATABASE_URL=clean_url)
        done = subprocess.run([sys.executable, "-m", "indexer", "--once"], env=env, cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            problems.append(f"clean re-index exited {done.returncode}:\n{done.stderr[-3000:]}")
            return
        clean_engine = make_engine(clean_url)
        try:
            clean = dump_index(clean_engine)
        finally:
            clean_engine.dispose()
        _common_blocks_only(live, clean)
        outcome.index_equal = clean == live
        if not outcome.index_equal:
            problems.append("the index differs from a clean re-index: " + _diff(live, clean))
    finally:
        drop()


BLOCK_WINDOW_TABLES = {"indexed_blocks": "number"}
"""Tables of the indexer's own block bookkeeping (table → block number column): which blocks
they hold depends on the way the index was built (a window of recent blocks), so a live index
and a clean re-index are compared on the blocks both hold (same hashes), not on the set."""


def _common_blocks_only(live: dict[str, list[dict[str, Any]]], clean: dict[str, list[dict[str, Any]]]) -> None:
    for table, column in BLOCK_WINDOW_TABLES.items():
        if table in live and table in clean:
            both = {row[column] for row in live[table]} & {row[column] for row in clean[table]}
            live[table] = [row for row in live[table] if row[column] in both]
            clean[table] = [row for row in clean[table] if row[column] in both]


def _clean_database(stack: ChaosStack) -> tuple[str, Callable[[], None]]:
    """A URL for an empty database beside the live one (a SQLite file, or a PostgreSQL schema)."""
    if stack.database_url.startswith("sqlite"):
        path = stack.folder / f"reindex-{secrets.token_hex(4)}.sqlite3"
        return f"sqlite:///{path}", lambda: None
    from sqlalchemy import text

    from tests.db.databases import POSTGRES_URL

    name = f"ledger_reindex_{secrets.token_hex(6)}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()

    return f"{POSTGRES_URL}?options=-csearch_path%3D{name}", drop


def _diff(live: dict[str, list[dict[str, Any]]], clean: dict[str, list[dict[str, Any]]]) -> str:
    lines = []
    for table in sorted(set(live) | set(clean)):
        a, b = live.get(table, []), clean.get(table, [])
        if a == b:
            continue
        lines.append(f"{table}: {len(a)} rows live, {len(b)} re-indexed")
        for row_a, row_b in zip(a, b):
            if row_a != row_b:
                changed = {k: (row_a.get(k), row_b.get(k)) for k in set(row_a) | set(row_b) if row_a.get(k) != row_b.get(k)}
                lines.append(f"  first differing row: {str(changed)[:800]}")
                break
    return "\n".join(lines)


def _replay(stack: ChaosStack, to_block: int) -> str | None:
    """Run ``python -m scripts.replay`` against the chain and the API; ``None`` if it exits 0."""
    report = stack.folder / "replay-report.json"
    argv = [sys.executable, "-m", "scripts.replay", "--deployment", str(stack.data_dir / "deployment.json"),
            "--rpc-url", stack.rpc_url, "--api-url", stack.api_url, "--batch-files-from-api", "--to-block", str(to_block),
            "--report", str(report)]
    done = subprocess.run(argv, env=stack.env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    if done.returncode == 0:
        return None
    return f"replay exited {done.returncode}:\n{(done.stdout + done.stderr)[-4000:]}"


def _replay_counts(stack: ChaosStack) -> tuple[int | None, int | None]:
    report = stack.folder / "replay-report.json"
    if not report.exists():
        return None, None
    data = json.loads(report.read_text())
    comparison = data.get("comparison") or {}
    return comparison.get("difference_count"), len(data.get("anomalies") or [])
