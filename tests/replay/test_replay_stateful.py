"""Stateful property test: random sequences of writes on a real v2 ledger, and after every step
the auditor's replay of the event log agrees with the contract's ``statusOf``.

A hypothesis ``RuleBasedStateMachine`` drives a fresh ledger on the test chain through
``ledger.chain.LedgerChain``: registrations, amendments (each field, stale counts), deliveries
(backdated too), revocations, ``multicall`` batches, registrar and admin changes (add/remove,
propose/accept, recovery start/cancel/complete), pauses and time jumps (``evm_increaseTime`` or
``evm_setNextBlockTimestamp``, then ``evm_mine``), drawn with weights by one rule
(:attr:`LedgerMachine.ACTIONS`) so that most steps write records. It keeps its own small model
of who holds which role, to know which writes must succeed and which must be refused (while
paused, every write but a recovery's cancellation must be refused with ``LedgerPaused``). Each
example starts from the same ``evm_snapshot`` and ends with ``evm_revert``.

After each step, for every commitment: the contract's ``statusOf`` (status, delivered, target,
progress, metOnRecordAt) equals the replay's ``status_on_record``, delivered quantity, target,
``progress_bps`` and ``met_on_record_at`` at the latest block's time (the time ``statusOf``
runs at); the delivered total equals the sum of the model's unrevoked deliveries; the replay's
municipalities (admin, pending admin, recovery, registrars) and pause state equal the model; the
replay finds no anomaly and every record's signer held its role. A write by an account without
the role is refused with the exact custom error and changes nothing (same number of events, same
views).

Run time: about a minute, some 200 steps (``MAX_EXAMPLES`` and ``STEPS_PER_EXAMPLE`` below;
``derandomize`` so CI sees the same sequences every run; no example database).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
from eth_account import Account
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from web3 import HTTPProvider, Web3

from ledger.chain import LedgerChain
from ledger.deployment import Deployment
from ledger.errors import ContractRevertError
from replay_support import DAY, latest_block_time, rpc
from scripts.audit.rules import evaluate
from scripts.audit.runner import ReplayTarget, replay_ledger
from scripts.audit.source import ChainSource

# Anvil's well-known development keys (tests/conftest.py's mnemonic), local only.
KEYS = (
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
PLATFORM = KEYS[0]
POOL = KEYS[1:9]
"""Accounts that may be given roles; KEYS[9] never gets one."""
STRANGER = KEYS[9]
ADDRESS = {key: Account.from_key(key).address for key in KEYS}
KEY_OF = {address: key for key, address in ADDRESS.items()}

RECOVERY_DELAY_SECONDS = 42 * DAY
"""The contract's ADMIN_RECOVERY_DELAY (docs/LEDGER.md "Recovery")."""
NOT_READY_MARGIN_SECONDS = 3600
"""A recovery is attempted as "not ready" only this far before it can complete, so the next
block's time cannot reach it."""
MAX_EXAMPLES = 16
STEPS_PER_EXAMPLE = 30
AMEND_TITLE, AMEND_DESCRIPTION, AMEND_TARGET, AMEND_DUE_DATE = 1, 2, 4, 8
BACKDATES = (0, 1, DAY, 31 * DAY, 400 * DAY, 20_000 * DAY)
"""How far before the latest block a delivery claims to have happened, seconds (the last one
reaches back to 1970: the claimed date is clamped to 1)."""
JUMPS = (1, 3600, DAY, 31 * DAY, RECOVERY_DELAY_SECONDS + 1, 400 * DAY)
"""Time jumps, seconds."""


@dataclass
class MunicipalityModel:
    admin: str
    registrars: set[str]
    pending_admin: str | None = None
    recovery: tuple[str, int] | None = None  # (proposed admin, executable at)


@dataclass
class CommitmentModel:
    municipality_id: int
    target: int
    due: int
    promised: int
    amendments: int = 0
    withdrawn: bool = False
    deliveries: list[list[Any]] = field(default_factory=list)  # [delivery id, quantity, revoked]

    def delivered(self) -> int:
        return sum(quantity for _, quantity, revoked in self.deliveries if not revoked)


@dataclass
class Ledger:
    """The test's ledger: client, deployment and the snapshot every example starts from."""

    rpc_url: str
    chain: LedgerChain
    deployment: Deployment
    snapshot: str


@pytest.fixture(scope="module")
def ledger(rpc_url: str) -> Ledger:
    """A fresh ledger: municipality 1 (admin POOL[0], registrar POOL[2]) and 2 (admin POOL[1],
    registrar POOL[3]), then a snapshot."""
    deployer = LedgerChain(rpc_url)
    deployment = deployer.deploy(PLATFORM)
    chain = LedgerChain(rpc_url, deployment)
    chain.send("registerMunicipality", ["Baarn", "GM0308", ADDRESS[POOL[0]]], PLATFORM)
    chain.send("registerMunicipality", ["Utrecht", "GM0344", ADDRESS[POOL[1]]], PLATFORM)
    chain.send("addRegistrar", [1, ADDRESS[POOL[2]]], POOL[0])
    chain.send("addRegistrar", [2, ADDRESS[POOL[3]]], POOL[1])
    return Ledger(rpc_url, chain, deployment, rpc(rpc_url, "evm_snapshot"))


def sha(n: int) -> bytes:
    return hashlib.sha256(n.to_bytes(8, "big")).digest()


class LedgerMachine(RuleBasedStateMachine):
    """Random writes against the ledger; see the module docstring. ``ledger`` is set by the test."""

    ledger: Ledger

    def __init__(self) -> None:
        super().__init__()
        self.chain = self.ledger.chain
        self.rpc_url = self.ledger.rpc_url
        self.w3 = Web3(HTTPProvider(self.rpc_url))
        self.source = ChainSource(self.rpc_url)  # header cache valid for one example: no revert inside
        self.paused = False
        self.municipalities = {
            1: MunicipalityModel(ADDRESS[POOL[0]], {ADDRESS[POOL[2]]}),
            2: MunicipalityModel(ADDRESS[POOL[1]], {ADDRESS[POOL[3]]}),
        }
        self.commitments: dict[int, CommitmentModel] = {}
        self.counter = 0

    def teardown(self) -> None:
        rpc(self.rpc_url, "evm_revert", self.ledger.snapshot)
        self.ledger.snapshot = rpc(self.rpc_url, "evm_snapshot")  # a snapshot is used up by its revert

    # ------------------------------------------------------------------ helpers

    def now(self) -> int:
        return latest_block_time(self.rpc_url)

    def next_number(self) -> int:
        self.counter += 1
        return self.counter

    def event_count(self) -> int:
        logs = self.w3.eth.get_logs(
            {"address": self.ledger.deployment.contract_address, "fromBlock": self.ledger.deployment.deploy_block,
             "toBlock": "latest"}
        )
        return len(logs)

    def views(self) -> tuple:
        """Everything a refused write must leave unchanged (besides the event count)."""
        statuses = tuple(self.chain.status_of(i) for i in sorted(self.commitments))
        roles = tuple(
            (self.chain.call("municipalityAdmin", m), self.chain.call("pendingMunicipalityAdmin", m),
             tuple(self.chain.call("adminRecovery", m)),
             tuple(self.chain.call("isRegistrar", m, ADDRESS[k]) for k in KEYS))
            for m in self.municipalities
        )
        return statuses, roles, self.chain.call("paused"), tuple(self.chain.call("counts"))

    def write(self, expected_error: str | None, send: Callable[[], Any]) -> Any:
        """Run ``send``; with ``expected_error`` it must be refused with exactly that custom
        error and change nothing."""
        if expected_error is None:
            return send()
        before = (self.event_count(), self.views())
        with pytest.raises(ContractRevertError) as caught:
            send()
        assert caught.value.name == expected_error, caught.value
        assert (self.event_count(), self.views()) == before
        return None

    def registrar_key(self, municipality_id: int) -> str:
        return KEY_OF[sorted(self.municipalities[municipality_id].registrars)[0]]

    def staffed(self) -> list[int]:
        return [m for m, model in self.municipalities.items() if model.registrars]

    def commitment_input(self, data: Any, municipality_id: int) -> tuple:
        now = self.now()
        promised = max(1, now - data.draw(st.sampled_from((0, DAY, 400 * DAY)), label="promised before now"))
        due = promised + data.draw(st.sampled_from((1, DAY, 30 * DAY, 800 * DAY)), label="due after promise")
        target = data.draw(st.integers(1, 40), label="target")
        n = self.next_number()
        return (municipality_id, f"c-{n}", f"Commitment {n}", "", "Wonen", target, "homes", promised, due, sha(n), "")

    def delivery_input(self, data: Any) -> tuple:
        delivered_at = max(1, self.now() - data.draw(st.sampled_from(BACKDATES), label="backdate"))
        return (data.draw(st.integers(1, 30), label="quantity"), delivered_at, [sha(self.next_number())], "", "", "")

    def add_commitment(self, values: tuple) -> None:
        commitment_id = len(self.commitments) + 1
        self.commitments[commitment_id] = CommitmentModel(values[0], values[5], values[8], values[7])

    def add_delivery(self, commitment_id: int, quantity: int) -> None:
        model = self.commitments[commitment_id]
        model.deliveries.append([commitment_id * 1_000_000 + len(model.deliveries) + 1, quantity, False])

    # ------------------------------------------------------------------ registrar writes

    @initialize()
    def start(self) -> None:
        assert self.event_count() == 5  # ownership, 2 municipalities, 2 registrars: the snapshot's state

    def register(self, data: Any) -> None:
        municipality_id = data.draw(st.sampled_from(self.staffed()), label="municipality")
        values = self.commitment_input(data, municipality_id)
        key = self.registrar_key(municipality_id)
        self.write("LedgerPaused" if self.paused else None, lambda: self.chain.send("registerCommitment", [values], key))
        if not self.paused:
            self.add_commitment(values)

    def open_commitments(self) -> list[int]:
        return [i for i, c in self.commitments.items() if not c.withdrawn and self.municipalities[c.municipality_id].registrars]

    def deliver(self, data: Any) -> None:
        commitment_id = data.draw(st.sampled_from(self.open_commitments()), label="commitment")
        values = self.delivery_input(data)
        key = self.registrar_key(self.commitments[commitment_id].municipality_id)
        self.write(
            "LedgerPaused" if self.paused else None, lambda: self.chain.send("recordDelivery", [commitment_id, values], key)
        )
        if not self.paused:
            self.add_delivery(commitment_id, values[0])

    def revocable(self) -> list[list[Any]]:
        return [
            d for c in self.commitments.values() if self.municipalities[c.municipality_id].registrars
            for d in c.deliveries if not d[2]
        ]

    def revoke(self, data: Any) -> None:
        delivery = data.draw(st.sampled_from(self.revocable()), label="delivery")
        key = self.registrar_key(self.commitments[delivery[0] // 1_000_000].municipality_id)
        self.write(
            "LedgerPaused" if self.paused else None, lambda: self.chain.send("revokeDelivery", [delivery[0], "Wrong"], key)
        )
        if not self.paused:
            delivery[2] = True

    def amend(self, data: Any) -> None:
        commitment_id = data.draw(st.sampled_from(self.open_commitments()), label="commitment")
        model = self.commitments[commitment_id]
        fields = data.draw(st.integers(1, 15), label="fields")
        target = 0
        if fields & AMEND_TARGET:
            target = data.draw(st.integers(1, 60).filter(lambda t: t != model.target), label="new target")
        due = 0
        if fields & AMEND_DUE_DATE:
            due = model.promised + data.draw(st.sampled_from((1, DAY, 40 * DAY, 900 * DAY)), label="new due")
            due = due if due != model.due else due + 1
        stale = data.draw(st.booleans(), label="stale count") and data.draw(st.booleans())
        expected = model.amendments + (1 if stale else 0)
        values = (
            expected, fields, "New title" if fields & AMEND_TITLE else "", "New text" if fields & AMEND_DESCRIPTION else "",
            target, due, "Changed",
        )
        key = self.registrar_key(model.municipality_id)
        error = "LedgerPaused" if self.paused else "LedgerStaleAmendmentCount" if stale else None
        self.write(error, lambda: self.chain.send("amendCommitment", [commitment_id, values], key))
        if error is None:
            model.amendments += 1
            model.target = target or model.target
            model.due = due or model.due

    def withdraw(self, data: Any) -> None:
        commitment_id = data.draw(st.sampled_from(self.open_commitments()), label="commitment")
        key = self.registrar_key(self.commitments[commitment_id].municipality_id)
        self.write(
            "LedgerPaused" if self.paused else None,
            lambda: self.chain.send("withdrawCommitment", [commitment_id, "Cancelled"], key),
        )
        if not self.paused:
            self.commitments[commitment_id].withdrawn = True

    def batch(self, data: Any) -> None:
        """One multicall of registrations and deliveries by one registrar (all or nothing)."""
        municipality_id = data.draw(st.sampled_from(self.staffed()), label="municipality")
        own_open = [i for i in self.open_commitments() if self.commitments[i].municipality_id == municipality_id]
        calls: list[tuple[str, list[Any]]] = []
        effects: list[Callable[[], None]] = []
        for _ in range(data.draw(st.integers(1, 4), label="calls")):
            if own_open and data.draw(st.booleans(), label="deliver?"):
                commitment_id = data.draw(st.sampled_from(own_open), label="commitment")
                values = self.delivery_input(data)
                calls.append(("recordDelivery", [commitment_id, values]))
                effects.append(lambda c=commitment_id, q=values[0]: self.add_delivery(c, q))
            else:
                values = self.commitment_input(data, municipality_id)
                calls.append(("registerCommitment", [values]))
                effects.append(lambda v=values: self.add_commitment(v))
        key = self.registrar_key(municipality_id)
        self.write("LedgerPaused" if self.paused else None, lambda: self.chain.send_multicall(calls, key))
        if not self.paused:
            for effect in effects:
                effect()

    # ------------------------------------------------------------------ role changes

    def unstaffed_accounts(self, municipality_id: int) -> list[str]:
        return [ADDRESS[k] for k in POOL if ADDRESS[k] not in self.municipalities[municipality_id].registrars]

    def add_registrar(self, data: Any) -> None:
        municipality_id = data.draw(
            st.sampled_from([m for m in sorted(self.municipalities) if self.unstaffed_accounts(m)]), label="municipality"
        )
        model = self.municipalities[municipality_id]
        account = data.draw(st.sampled_from(self.unstaffed_accounts(municipality_id)), label="account")
        self.write(
            "LedgerPaused" if self.paused else None,
            lambda: self.chain.send("addRegistrar", [municipality_id, account], KEY_OF[model.admin]),
        )
        if not self.paused:
            model.registrars.add(account)

    def remove_registrar(self, data: Any) -> None:
        municipality_id = data.draw(st.sampled_from(self.staffed()), label="municipality")
        model = self.municipalities[municipality_id]
        account = data.draw(st.sampled_from(sorted(model.registrars)), label="account")
        self.write(
            "LedgerPaused" if self.paused else None,
            lambda: self.chain.send("removeRegistrar", [municipality_id, account], KEY_OF[model.admin]),
        )
        if not self.paused:
            model.registrars.discard(account)

    def propose_admin(self, data: Any) -> None:
        municipality_id = data.draw(st.sampled_from(sorted(self.municipalities)), label="municipality")
        model = self.municipalities[municipality_id]
        successor = data.draw(st.sampled_from([ADDRESS[k] for k in POOL if ADDRESS[k] != model.admin]), label="successor")
        self.write(
            "LedgerPaused" if self.paused else None,
            lambda: self.chain.send("proposeMunicipalityAdmin", [municipality_id, successor], KEY_OF[model.admin]),
        )
        if not self.paused:
            model.pending_admin = successor

    def accept_admin(self, data: Any) -> None:
        municipality_id = data.draw(
            st.sampled_from([i for i, m in self.municipalities.items() if m.pending_admin]), label="municipality"
        )
        model = self.municipalities[municipality_id]
        self.write(
            "LedgerPaused" if self.paused else None,
            lambda: self.chain.send("acceptMunicipalityAdmin", [municipality_id], KEY_OF[model.pending_admin]),
        )
        if not self.paused:
            model.admin, model.pending_admin, model.recovery = model.pending_admin, None, None

    def start_recovery(self, data: Any) -> None:
        municipality_id = data.draw(
            st.sampled_from([i for i, m in self.municipalities.items() if m.recovery is None]), label="municipality"
        )
        model = self.municipalities[municipality_id]
        new_admin = data.draw(st.sampled_from([ADDRESS[k] for k in POOL if ADDRESS[k] != model.admin]), label="new admin")
        tx = self.write(
            "LedgerPaused" if self.paused else None,
            lambda: self.chain.send("startAdminRecovery", [municipality_id, new_admin], PLATFORM),
        )
        if tx is not None:
            started = tx.event("AdminRecoveryStarted").args
            assert started["executable_at"] == self.now() + RECOVERY_DELAY_SECONDS
            model.recovery = (new_admin, started["executable_at"])

    def cancel_recovery(self, data: Any) -> None:
        """By the municipality's admin or the platform admin; allowed while paused."""
        municipality_id = data.draw(
            st.sampled_from([i for i, m in self.municipalities.items() if m.recovery]), label="municipality"
        )
        model = self.municipalities[municipality_id]
        key = data.draw(st.sampled_from([KEY_OF[model.admin], PLATFORM]), label="canceller")
        self.write(None, lambda: self.chain.send("cancelAdminRecovery", [municipality_id], key))
        model.recovery = None

    def recoveries(self, ready: bool) -> list[int]:
        now = self.now()
        return [
            i for i, m in self.municipalities.items() if m.recovery
            and (m.recovery[1] <= now if ready else m.recovery[1] > now + NOT_READY_MARGIN_SECONDS)
        ]

    def complete_recovery(self, data: Any) -> None:
        """Anyone may complete a recovery whose delay has passed."""
        municipality_id = data.draw(st.sampled_from(self.recoveries(ready=True)), label="municipality")
        model = self.municipalities[municipality_id]
        self.write(
            "LedgerPaused" if self.paused else None,
            lambda: self.chain.send("completeAdminRecovery", [municipality_id], STRANGER),
        )
        if not self.paused:
            model.admin, model.pending_admin, model.recovery = model.recovery[0], None, None

    def complete_recovery_too_early(self, data: Any) -> None:
        municipality_id = data.draw(st.sampled_from(self.recoveries(ready=False)), label="municipality")
        self.write(
            "LedgerPaused" if self.paused else "LedgerRecoveryNotReady",
            lambda: self.chain.send("completeAdminRecovery", [municipality_id], STRANGER),
        )

    def toggle_pause(self, data: Any) -> None:
        self.write(None, lambda: self.chain.send("unpause" if self.paused else "pause", [], PLATFORM))
        self.paused = not self.paused

    def jump(self, data: Any) -> None:
        seconds = data.draw(st.sampled_from(JUMPS), label="seconds")
        exact = data.draw(st.booleans(), label="setNextBlockTimestamp?")
        before = self.now()
        if exact:
            rpc(self.rpc_url, "evm_setNextBlockTimestamp", before + seconds)
        else:
            rpc(self.rpc_url, "evm_increaseTime", seconds)
        rpc(self.rpc_url, "evm_mine")
        assert self.now() >= before + seconds

    # ------------------------------------------------------------------ refusals

    def write_without_the_role(self, data: Any) -> None:
        """A write by an account that lacks the role it needs: refused, nothing changes."""
        municipality_id = data.draw(st.sampled_from(sorted(self.municipalities)), label="municipality")
        model = self.municipalities[municipality_id]
        outsiders = [k for k in KEYS if ADDRESS[k] not in model.registrars]  # the platform admin included
        key = data.draw(st.sampled_from(outsiders), label="outsider")
        own = [i for i, c in self.commitments.items() if c.municipality_id == municipality_id]
        deliveries = [d[0] for i in own for d in self.commitments[i].deliveries]
        paused = "LedgerPaused" if self.paused else None
        choices: list[tuple[str, Callable[[], Any], str]] = [
            ("register", lambda: self.chain.send("registerCommitment", [self.commitment_input(data, municipality_id)], key),
             paused or "LedgerNotRegistrar"),
        ]
        if own:
            commitment_id = data.draw(st.sampled_from(own), label="commitment")
            delivery = self.delivery_input(data)
            amendment = (self.commitments[commitment_id].amendments, AMEND_TITLE, "Taken over", "", 0, 0, "Mine now")
            choices += [
                ("deliver", lambda: self.chain.send("recordDelivery", [commitment_id, delivery], key),
                 paused or "LedgerNotRegistrar"),
                ("amend", lambda: self.chain.send("amendCommitment", [commitment_id, amendment], key),
                 paused or "LedgerNotRegistrar"),
                ("withdraw", lambda: self.chain.send("withdrawCommitment", [commitment_id, "Mine now"], key),
                 paused or "LedgerNotRegistrar"),
            ]
        if deliveries:
            delivery_id = data.draw(st.sampled_from(deliveries), label="delivery")
            choices.append(("revoke", lambda: self.chain.send("revokeDelivery", [delivery_id, "Mine now"], key),
                            paused or "LedgerNotRegistrar"))
        if key != KEY_OF[model.admin]:
            choices += [
                ("add registrar", lambda: self.chain.send("addRegistrar", [municipality_id, ADDRESS[key]], key),
                 paused or "LedgerNotMunicipalityAdmin"),
                ("propose admin", lambda: self.chain.send("proposeMunicipalityAdmin", [municipality_id, ADDRESS[key]], key),
                 paused or "LedgerNotMunicipalityAdmin"),
            ]
            if key != PLATFORM and model.recovery:
                choices.append(("cancel recovery", lambda: self.chain.send("cancelAdminRecovery", [municipality_id], key),
                                "LedgerNotRecoveryCanceller"))
        if ADDRESS[key] != model.pending_admin:
            choices.append(("accept admin", lambda: self.chain.send("acceptMunicipalityAdmin", [municipality_id], key),
                            paused or "LedgerNotProposedAdmin"))
        if key != PLATFORM:
            choices += [
                ("pause", lambda: self.chain.send("unpause" if self.paused else "pause", [], key), "OwnableUnauthorizedAccount"),
                ("recover", lambda: self.chain.send("startAdminRecovery", [municipality_id, ADDRESS[key]], key),
                 "OwnableUnauthorizedAccount"),
                ("onboard", lambda: self.chain.send("registerMunicipality", ["X", "", ADDRESS[key]], key),
                 "OwnableUnauthorizedAccount"),
            ]
        _, send, error = data.draw(st.sampled_from(choices), label="refused write")
        self.write(error, send)

    # ------------------------------------------------------------------ choosing a step

    ACTIONS: tuple[tuple[str, int, Callable[["LedgerMachine"], Any]], ...] = (
        # (method, weight, when it can run)
        ("deliver", 6, lambda self: self.open_commitments()),
        ("revoke", 3, lambda self: self.revocable()),
        ("amend", 3, lambda self: self.open_commitments()),
        ("register", 2, lambda self: self.staffed()),
        ("batch", 2, lambda self: self.staffed()),
        ("withdraw", 1, lambda self: self.open_commitments()),
        ("write_without_the_role", 2, lambda self: True),
        ("add_registrar", 1, lambda self: any(self.unstaffed_accounts(m) for m in self.municipalities)),
        ("remove_registrar", 1, lambda self: self.staffed()),
        ("propose_admin", 1, lambda self: True),
        ("accept_admin", 1, lambda self: any(m.pending_admin for m in self.municipalities.values())),
        ("start_recovery", 1, lambda self: any(m.recovery is None for m in self.municipalities.values())),
        ("cancel_recovery", 1, lambda self: any(m.recovery for m in self.municipalities.values())),
        ("complete_recovery", 1, lambda self: self.recoveries(ready=True)),
        ("complete_recovery_too_early", 1, lambda self: self.recoveries(ready=False)),
        ("toggle_pause", 1, lambda self: True),
        ("jump", 2, lambda self: True),
    )
    """Every kind of step, weighted so that most steps write records (hypothesis picks rules
    uniformly, so one rule draws the kind)."""

    @rule(data=st.data())
    def step(self, data: Any) -> None:
        available = [name for name, weight, ready in self.ACTIONS if ready(self) for _ in range(weight)]
        getattr(self, data.draw(st.sampled_from(available), label="step"))(data)

    # ------------------------------------------------------------------ the property

    @invariant()
    def replay_agrees_with_the_contract(self) -> None:
        result = replay_ledger(
            ReplayTarget(self.rpc_url, self.ledger.deployment.contract_address, self.ledger.deployment.deploy_block),
            source=self.source,
        )
        state = result.state
        assert state.anomalies == []
        assert sorted(state.commitments) == sorted(self.commitments)
        now = result.to_block_time  # statusOf runs at the latest block's time
        assert now == self.now()
        for commitment_id, model in self.commitments.items():
            replayed = state.commitments[commitment_id]
            ours = evaluate(replayed, now)
            theirs = self.chain.status_of(commitment_id)
            assert (ours.status_on_record, ours.delivered_quantity, ours.target_quantity, ours.progress_bps,
                    ours.met_on_record_at) == (
                theirs.status_on_record, theirs.delivered_quantity, theirs.target_quantity, theirs.progress_bps,
                theirs.met_on_record_at,
            ), commitment_id
            assert theirs.delivered_quantity == model.delivered()
            assert [(d.id, d.quantity, d.revoked) for d in replayed.deliveries] == [tuple(d) for d in model.deliveries]
            assert (replayed.target_quantity, replayed.due_date, replayed.withdrawn, len(replayed.amendments)) == (
                model.target, model.due, model.withdrawn, model.amendments,
            )
            records = [replayed, *replayed.deliveries, *replayed.amendments]
            assert all(r.signer_held_role for r in records)
        assert state.paused is self.paused
        for municipality_id, model in self.municipalities.items():
            m = state.municipalities[municipality_id]
            recovery = (m.recovery.proposed_admin, m.recovery.executable_at) if m.recovery else None
            assert (m.admin, m.pending_admin, recovery, set(m.registrars)) == (
                model.admin, model.pending_admin, model.recovery, model.registrars,
            )


def test_replay_agrees_with_status_of_after_every_step(ledger: Ledger) -> None:
    LedgerMachine.ledger = ledger
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=MAX_EXAMPLES,
            stateful_step_count=STEPS_PER_EXAMPLE,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
            database=None,
        ),
    )
