"""Stateful property test: random sequences of writes on a real 2.1.0 ledger, and after every
step the auditor's replay of the event log agrees with the contract's ``statusOf`` and with the
test's own simple model (tests/replay/replay_stateful_model.py).

A hypothesis ``RuleBasedStateMachine`` drives a fresh ledger on the test chain through
``ledger.chain.LedgerChain``: registrations (some as weighted sub-commitments, a withdrawn parent
refused), amendments (each field, stale counts), deliveries (backdated too; some naming an asset
from a small pool whose refs differ only in whitespace: the same bytes again are refused with
``LedgerAssetAlreadyCounted``, a variant gets past the contract and is a double count),
revocations, ``multicall`` batches, anchored batches of deliveries (built with
``ledger/merkle.py``; their file kept in the replay's batch folder, withheld, edited by one
byte, anchored with another root, leaf count or as garbage; leaves naming unknown, other
municipalities', withdrawn commitments, invalid leaves, repeated external refs and assets, also
within one batch), revocations of batched deliveries, confirmers (added, removed) and their
verdicts on recorded and batched deliveries (confirm, dispute, change; self-confirmation and a
repeated verdict refused), signed writes submitted by a relayer (``ledger/signing.py``; an
expired deadline, a replayed nonce and another signer's signature refused), registrar and admin
changes (add/remove, propose/accept, recovery start/cancel/complete), pauses and time jumps
(``evm_increaseTime`` or ``evm_setNextBlockTimestamp``, then ``evm_mine``), drawn with weights
by one rule (:attr:`LedgerMachine.ACTIONS`) so that most steps write records. The model knows
which writes must succeed and which must be refused (while paused, every write but a recovery's
cancellation must be refused with ``LedgerPaused``). Each example starts from the same
``evm_snapshot`` (two municipalities, each with a registrar and a confirmer; a commitment with
two weighted sub-commitments and one more) with an empty batch folder and ends with
``evm_revert``.

After each step the replay (with the batch folder) finds no anomaly and, for every commitment:
``statusOf`` counts what the model's recorded deliveries say; where the contract sees every
fact (no counted leaf, no double count) the replay's ``status_on_record``, delivered quantity,
target, ``progress_bps`` and ``met_on_record_at`` equal ``statusOf`` at the latest block's time;
everywhere the replay's delivered quantity and ``met_on_record_at`` equal the model's running
state; every delivery (recorded and batched) has the model's quantity, decision
(``double_counted``, ``refused_reason``), revocation and review; the confirmed and disputed
quantities, parent, weight, children and ``rollup_progress_bps`` equal the model's; every batch
is verified or not with the model's reason; municipalities (admin, pending admin, recovery,
registrars, confirmers) and the pause state equal the model; every record's signer held its
role. A refused write is refused with the exact custom error and changes nothing (same number
of events, same views, same nonces).

Run time: about 75 seconds, some 390 steps (``MAX_EXAMPLES`` and ``STEPS_PER_EXAMPLE``
below; ``derandomize`` so CI sees the same sequences every run; no example database). The views
and statuses compared are read in one ``eth_call`` of ``multicall`` each, which keeps a step
about as cheap as before part 2.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from eth_abi import decode as abi_decode
from eth_account import Account
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from web3 import HTTPProvider, Web3

from ledger import signing
from ledger.chain import STATUS_NAMES, LedgerChain, OnChainStatus, TxResult
from ledger.deployment import Deployment
from ledger.errors import ContractRevertError
from ledger.merkle import BatchLeaf, build_tree
from replay_stateful_model import (
    BatchModel,
    CommitmentModel,
    DeliveryModel,
    LedgerModel,
    MunicipalityModel,
    simple_asset_key,
)
from replay_support import DAY, rpc
from scripts.audit.batchfiles import BatchFiles
from scripts.audit.review import review_of
from scripts.audit.rollup import rollup_of
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
RELAYER = STRANGER
"""Submits signed writes (and pays their gas); holds no role."""
ADDRESS = {key: Account.from_key(key).address for key in KEYS}
KEY_OF = {address: key for key, address in ADDRESS.items()}

RECOVERY_DELAY_SECONDS = 42 * DAY
"""The contract's ADMIN_RECOVERY_DELAY (docs/LEDGER.md "Recovery")."""
NOT_READY_MARGIN_SECONDS = 3600
"""A recovery is attempted as "not ready" only this far before it can complete, so the next
block's time cannot reach it."""
SIGNATURE_LIFETIME_SECONDS = 3600
"""Deadline of a signed write: this long after the latest block."""
MAX_EXAMPLES = 24
STEPS_PER_EXAMPLE = 30
AMEND_TITLE, AMEND_DESCRIPTION, AMEND_TARGET, AMEND_DUE_DATE = 1, 2, 4, 8
MAX_WEIGHT = 1_000_000
MAX_QUANTITY = 10**13
BACKDATES = (0, 1, DAY, 31 * DAY, 400 * DAY, 20_000 * DAY)
"""How far before the latest block a delivery claims to have happened, seconds (the last one
reaches back to 1970: the claimed date is clamped to 1)."""
JUMPS = (1, 3600, DAY, 31 * DAY, RECOVERY_DELAY_SECONDS + 1, 400 * DAY)
"""Time jumps, seconds."""
ASSETS = ("lamp-1", " lamp-1", "lamp-2", "lamp-2  ", "lamp 3", "lamp  3")
"""Asset refs: three assets, each in two spellings that normalise to the same ref."""
FATES = ("withheld", "corrupted", "wrong_root", "garbage", "miscounted")
"""What happens to the file of a quarter of the anchored batches; the others keep theirs
(replay_stateful_model.BatchModel)."""
LEAF_FLAWS = ("quantity", "future", "no_evidence", "repeated_evidence")
"""How one leaf in eight breaks recordDelivery's limits (``invalid_leaf``)."""


def sha(n: int) -> bytes:
    return hashlib.sha256(n.to_bytes(8, "big")).digest()


@dataclass
class Ledger:
    """The test's ledger: client, deployment, the snapshot every example starts from, the
    folder of batch files the replay reads, and the registrations of the starting state
    (``CommitmentInput`` tuples; commitment i + 1 is ``baseline[i]``)."""

    rpc_url: str
    chain: LedgerChain
    deployment: Deployment
    snapshot: str
    batch_dir: Path
    baseline: tuple[tuple, ...]


BASELINE_EVENTS = 11
"""Events of the starting state: ownership, 2 municipalities, 2 registrars, 2 confirmers, 4
registrations."""


@pytest.fixture(scope="module")
def ledger(rpc_url: str, tmp_path_factory: pytest.TempPathFactory) -> Ledger:
    """A fresh ledger: municipality 1 (admin POOL[0], registrar POOL[2], confirmer POOL[4]) and 2
    (admin POOL[1], registrar POOL[3], confirmer POOL[5]); commitments 1 (Baarn, target 20) with
    sub-commitments 2 (weight 3) and 3 (weight 1), and 4 (Utrecht); then a snapshot. Every
    example starts from there, so that its first steps already deliver, anchor and review."""
    deployer = LedgerChain(rpc_url)
    deployment = deployer.deploy(PLATFORM)
    chain = LedgerChain(rpc_url, deployment)
    chain.send("registerMunicipality", ["Baarn", "GM0308", ADDRESS[POOL[0]]], PLATFORM)
    chain.send("registerMunicipality", ["Utrecht", "GM0344", ADDRESS[POOL[1]]], PLATFORM)
    chain.send("addRegistrar", [1, ADDRESS[POOL[2]]], POOL[0])
    chain.send("addRegistrar", [2, ADDRESS[POOL[3]]], POOL[1])
    chain.send("addConfirmer", [1, ADDRESS[POOL[4]]], POOL[0])
    chain.send("addConfirmer", [2, ADDRESS[POOL[5]]], POOL[1])
    now = int(Web3(HTTPProvider(rpc_url)).eth.get_block("latest")["timestamp"])
    baseline = tuple(
        (municipality, f"base-{n}", f"Baseline {n}", "", "Wonen", target, "homes", now - 30 * DAY, now + 400 * DAY,
         sha(10_000 + n), "", parent, weight)
        for n, (municipality, target, parent, weight) in enumerate(((1, 20, 0, 0), (1, 10, 1, 3), (1, 4, 1, 1), (2, 15, 0, 0)))
    )
    for values in baseline:
        chain.send("registerCommitment", [values], POOL[2] if values[0] == 1 else POOL[3])
    return Ledger(rpc_url, chain, deployment, rpc(rpc_url, "evm_snapshot"), tmp_path_factory.mktemp("batches"), baseline)


class LedgerMachine(RuleBasedStateMachine):
    """Random writes against the ledger; see the module docstring. ``ledger`` is set by the test."""

    ledger: Ledger

    def __init__(self) -> None:
        super().__init__()
        self.chain = self.ledger.chain
        self.rpc_url = self.ledger.rpc_url
        self.w3 = Web3(HTTPProvider(self.rpc_url))
        self.source = ChainSource(self.rpc_url)  # header cache valid for one example: no revert inside
        self.batch_dir = self.ledger.batch_dir
        for stale in self.batch_dir.iterdir():  # another example's files must not verify this one's batches
            stale.unlink()
        self.paused = False
        self.municipalities = {
            1: MunicipalityModel(ADDRESS[POOL[0]], {ADDRESS[POOL[2]]}),
            2: MunicipalityModel(ADDRESS[POOL[1]], {ADDRESS[POOL[3]]}),
        }
        self.municipalities[1].confirmers.add(ADDRESS[POOL[4]])
        self.municipalities[2].confirmers.add(ADDRESS[POOL[5]])
        self.model = LedgerModel(self.municipalities)
        self.commitments = self.model.commitments
        for values in self.ledger.baseline:
            self.add_commitment(values)
        self.counter = 0

    def teardown(self) -> None:
        rpc(self.rpc_url, "evm_revert", self.ledger.snapshot)
        self.ledger.snapshot = rpc(self.rpc_url, "evm_snapshot")  # a snapshot is used up by its revert

    # ------------------------------------------------------------------ helpers

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def time_of(self, tx: TxResult) -> int:
        """Block time of ``tx``, Unix seconds."""
        return int(self.w3.eth.get_block(tx.block_number)["timestamp"])

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
        """Everything a refused write must leave unchanged (besides the event count): every
        commitment's ``statusOf``, each municipality's admin, pending admin, recovery,
        registrars and confirmers, every account's nonce, the pause and the counts, read in one
        ``eth_call`` of ``multicall`` (raw answers)."""
        calls: list[tuple[str, list[Any]]] = [("statusOf", [i]) for i in sorted(self.commitments)]
        for m in self.municipalities:
            calls += [("municipalityAdmin", [m]), ("pendingMunicipalityAdmin", [m]), ("adminRecovery", [m])]
            calls += [(role, [m, ADDRESS[k]]) for role in ("isRegistrar", "isConfirmer") for k in KEYS]
        calls += [("nonces", [ADDRESS[k]]) for k in KEYS] + [("paused", []), ("counts", [])]
        return tuple(self.chain.call("multicall", [self.chain.encode_call(name, args) for name, args in calls]))

    def statuses(self) -> dict[int, OnChainStatus]:
        """Every commitment's ``statusOf`` at the latest block, in one ``eth_call`` of ``multicall``."""
        ids = sorted(self.commitments)
        answers = self.chain.call("multicall", [self.chain.encode_call("statusOf", [i]) for i in ids])
        found = {}
        for commitment_id, raw in zip(ids, answers):
            status, delivered, target, bps, met = abi_decode(["uint8", "uint256", "uint64", "uint256", "uint64"], raw)
            found[commitment_id] = OnChainStatus(STATUS_NAMES[status], delivered, target, bps, met or None)
        return found

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

    def signed_args(self, function: str, args: list[Any], key: str, *, nonce_offset: int = 0,
                    deadline: int | None = None, signing_key: str | None = None) -> list[Any]:
        """``args`` of ``function`` plus the ``Authorization`` of ``key``'s account, signed with
        ``signing_key`` (default ``key``), for ``<function>BySig`` (docs/LEDGER.md "Signed writes")."""
        signer = ADDRESS[key]
        nonce = self.chain.call("nonces", signer) + nonce_offset
        deadline = self.now() + SIGNATURE_LIFETIME_SECONDS if deadline is None else deadline
        message = signing.message(function, args, nonce=nonce, deadline=deadline)
        data = signing.typed_data(
            function, message, chain_id=self.ledger.deployment.chain_id, contract=self.ledger.deployment.contract_address
        )
        signature = signing.sign(data, signing_key or key)
        return [*args, signing.authorization(signer, nonce, deadline, signature)]

    def send(self, function: str, args: list[Any], key: str, signed: bool = False) -> TxResult:
        """``function`` by ``key``'s account: sent by it, or signed by it and sent by the relayer."""
        if not signed:
            return self.chain.send(function, args, key)
        return self.chain.send(function + "BySig", self.signed_args(function, args, key), RELAYER)

    def signed(self, data: Any) -> bool:
        """Whether this write goes through the relayer (a third of them)."""
        return data.draw(st.sampled_from((False, False, True)), label="signed by relayer?")

    def registrar_key(self, municipality_id: int) -> str:
        return KEY_OF[sorted(self.municipalities[municipality_id].registrars)[0]]

    def staffed(self) -> list[int]:
        return [m for m, model in self.municipalities.items() if model.registrars]

    def commitment_input(self, data: Any, municipality_id: int, parent: int = 0, weight: int = 0) -> tuple:
        now = self.now()
        promised = max(1, now - data.draw(st.sampled_from((0, DAY, 400 * DAY)), label="promised before now"))
        due = promised + data.draw(st.sampled_from((1, DAY, 30 * DAY, 800 * DAY)), label="due after promise")
        target = data.draw(st.integers(1, 40), label="target")
        n = self.next_number()
        return (municipality_id, f"c-{n}", f"Commitment {n}", "", "Wonen", target, "homes", promised, due, sha(n), "",
                parent, weight)

    def delivery_input(self, data: Any, asset: str = "") -> tuple:
        delivered_at = max(1, self.now() - data.draw(st.sampled_from(BACKDATES), label="backdate"))
        ref = data.draw(st.sampled_from(("", "", f"d-{self.counter + 1}")), label="external ref")
        return (data.draw(st.integers(1, 30), label="quantity"), delivered_at, [sha(self.next_number())], "", "", ref, asset)

    def add_commitment(self, values: tuple) -> None:
        commitment_id = len(self.commitments) + 1
        parent = values[11] or None
        self.commitments[commitment_id] = CommitmentModel(values[0], values[5], values[8], values[7], parent, values[12])
        if parent is not None:
            self.commitments[parent].children.append(commitment_id)

    def add_delivery(self, commitment_id: int, values: tuple, registrar: str, at: int) -> None:
        model = self.commitments[commitment_id]
        delivery = DeliveryModel(
            "recorded", commitment_id, values[0], values[6], values[5], registrar,
            delivery_id=commitment_id * 1_000_000 + len(model.recorded) + 1,
        )
        self.model.record(delivery, at)

    # ------------------------------------------------------------------ registrar writes

    @initialize()
    def start(self) -> None:
        assert self.event_count() == BASELINE_EVENTS  # the snapshot's state

    def open_commitments(self, municipality_id: int | None = None) -> list[int]:
        return [
            i for i, c in self.commitments.items()
            if not c.withdrawn and self.municipalities[c.municipality_id].registrars
            and municipality_id in (None, c.municipality_id)
        ]

    def register(self, data: Any) -> None:
        """A commitment; a third of them a weighted sub-commitment of an open one (a withdrawn
        parent is refused)."""
        municipality_id = data.draw(st.sampled_from(self.staffed()), label="municipality")
        parent, weight, error = 0, 0, None
        kind = data.draw(st.sampled_from(("none", "none", "parent", "withdrawn parent")), label="parent?")
        closed = [i for i, c in self.commitments.items() if c.withdrawn and c.municipality_id == municipality_id]
        pool = {"parent": self.open_commitments(municipality_id), "withdrawn parent": closed}.get(kind, [])
        if pool:
            parent = data.draw(st.sampled_from(pool), label="parent")
            weight = data.draw(st.sampled_from((1, 2, 5, MAX_WEIGHT)), label="weight")
            error = "LedgerCommitmentWithdrawn" if kind == "withdrawn parent" else None
        values = self.commitment_input(data, municipality_id, parent, weight)
        key = self.registrar_key(municipality_id)
        signed = self.signed(data)
        error = "LedgerPaused" if self.paused else error
        self.write(error, lambda: self.send("registerCommitment", [values], key, signed))
        if error is None:
            self.add_commitment(values)

    def asset_for(self, data: Any, commitment_id: int) -> str:
        """No asset (half the time), else a spelling of an asset a delivery of the commitment
        already names (the same bytes, or another spelling of them) or any of :data:`ASSETS`."""
        if not data.draw(st.booleans(), label="asset?"):
            return ""
        named = sorted({simple_asset_key(d.asset) for d in self.model.deliveries_of(commitment_id) if d.asset})
        if named and data.draw(st.booleans(), label="an asset named already?"):
            key = data.draw(st.sampled_from(named), label="named asset")
            return data.draw(st.sampled_from([a for a in ASSETS if simple_asset_key(a) == key]), label="spelling")
        return data.draw(st.sampled_from(ASSETS), label="asset ref")

    def seldom(self, data: Any, label: str) -> bool:
        """True about one time in eight (three coin flips: a choice among equals would be drawn
        at its ends more often)."""
        return all(data.draw(st.booleans(), label=f"{label} ({i})") for i in range(3))

    def deliver(self, data: Any) -> None:
        """A delivery, perhaps naming an asset: the same bytes as a recorded delivery not
        revoked are refused; another spelling of a counted asset is a double count."""
        commitment_id = data.draw(st.sampled_from(self.open_commitments()), label="commitment")
        values = self.delivery_input(data, self.asset_for(data, commitment_id))
        recorded_refs = {d.ref for d in self.commitments[commitment_id].recorded}
        leaf_refs = sorted({
            d.ref for d in self.model.deliveries_of(commitment_id) if d.kind == "batched" and d.ref and d.ref not in recorded_refs
        })  # the contract refuses a ref of a recorded delivery, not one of a leaf (it cannot see leaves)
        if leaf_refs and data.draw(st.booleans(), label="ref of a leaf?"):
            values = values[:5] + (data.draw(st.sampled_from(leaf_refs), label="leaf ref"),) + values[6:]
        key = self.registrar_key(self.commitments[commitment_id].municipality_id)
        signed = self.signed(data)
        error = "LedgerPaused" if self.paused else None
        if error is None and self.model.contract_refuses_asset(commitment_id, values[6]):
            error = "LedgerAssetAlreadyCounted"
        tx = self.write(error, lambda: self.send("recordDelivery", [commitment_id, values], key, signed))
        if tx is not None:
            self.add_delivery(commitment_id, values, ADDRESS[key], tx.event("DeliveryRecorded").args["recorded_at"])

    def revocable(self) -> list[DeliveryModel]:
        return [
            d for c in self.commitments.values() if self.municipalities[c.municipality_id].registrars
            for d in c.recorded if not d.revoked
        ]

    def revoke(self, data: Any) -> None:
        delivery = data.draw(st.sampled_from(self.revocable()), label="delivery")
        key = self.registrar_key(self.commitments[delivery.commitment_id].municipality_id)
        signed = self.signed(data)
        self.write(
            "LedgerPaused" if self.paused else None,
            lambda: self.send("revokeDelivery", [delivery.delivery_id, "Wrong"], key, signed),
        )
        if not self.paused:
            self.model.revoke(delivery)

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
        signed = self.signed(data)
        error = "LedgerPaused" if self.paused else "LedgerStaleAmendmentCount" if stale else None
        tx = self.write(error, lambda: self.send("amendCommitment", [commitment_id, values], key, signed))
        if tx is not None:
            model.amendments += 1
            if target:
                model.retargeted(target, tx.event("CommitmentAmended").args["amended_at"])
            model.due = due or model.due

    def withdraw(self, data: Any) -> None:
        commitment_id = data.draw(st.sampled_from(self.open_commitments()), label="commitment")
        key = self.registrar_key(self.commitments[commitment_id].municipality_id)
        signed = self.signed(data)
        self.write(
            "LedgerPaused" if self.paused else None,
            lambda: self.send("withdrawCommitment", [commitment_id, "Cancelled"], key, signed),
        )
        if not self.paused:
            self.commitments[commitment_id].withdrawn = True

    def batch(self, data: Any) -> None:
        """One multicall of registrations and deliveries by one registrar (all or nothing)."""
        municipality_id = data.draw(st.sampled_from(self.staffed()), label="municipality")
        own_open = self.open_commitments(municipality_id)
        calls: list[tuple[str, list[Any]]] = []
        effects: list[Callable[[int], None]] = []
        key = self.registrar_key(municipality_id)
        for _ in range(data.draw(st.integers(1, 4), label="calls")):
            if own_open and data.draw(st.booleans(), label="deliver?"):
                commitment_id = data.draw(st.sampled_from(own_open), label="commitment")
                values = self.delivery_input(data)
                calls.append(("recordDelivery", [commitment_id, values]))
                effects.append(lambda at, c=commitment_id, v=values: self.add_delivery(c, v, ADDRESS[key], at))
            else:
                values = self.commitment_input(data, municipality_id)
                calls.append(("registerCommitment", [values]))
                effects.append(lambda at, v=values: self.add_commitment(v))
        tx = self.write("LedgerPaused" if self.paused else None, lambda: self.chain.send_multicall(calls, key))
        if tx is not None:
            for effect in effects:
                effect(self.time_of(tx))

    # ------------------------------------------------------------------ batches

    def leaf_for(self, data: Any, municipality_id: int) -> tuple[BatchLeaf, bool]:
        """A leaf naming a commitment of the municipality (mostly), of the other one, or one not
        registered (yet); perhaps invalid (:data:`LEAF_FLAWS`), with a repeated ref or an asset.
        Returns the leaf and whether it keeps recordDelivery's limits."""
        own = [i for i, c in self.commitments.items() if c.municipality_id == municipality_id]
        other = [i for i, c in self.commitments.items() if c.municipality_id != municipality_id]
        kind = data.draw(st.sampled_from(("other", "unknown")), label="leaf commitment") if self.seldom(data, "not own?") else "own"
        if kind == "own" and own:
            commitment_id = data.draw(st.sampled_from(own), label="commitment")
        elif kind == "other" and other:
            commitment_id = data.draw(st.sampled_from(other), label="commitment")
        else:
            commitment_id = len(self.commitments) + data.draw(st.integers(1, 2), label="unregistered id")
        flaw = data.draw(st.sampled_from(LEAF_FLAWS), label="flaw") if self.seldom(data, "invalid leaf?") else "none"
        now = self.now()
        if flaw == "quantity":
            quantity = data.draw(st.sampled_from((0, MAX_QUANTITY + 1)), label="bad quantity")
        else:
            quantity = data.draw(st.integers(1, 30), label="quantity")
        if flaw == "future":
            delivered_at = now + 10 * DAY
        else:
            delivered_at = max(1, now - data.draw(st.sampled_from(BACKDATES), label="backdate"))
        evidence = sha(self.next_number())
        hashes = {"no_evidence": (), "repeated_evidence": (evidence, evidence)}.get(flaw, (evidence,))
        taken = sorted(self.model.refs_taken(commitment_id))
        choice = data.draw(st.sampled_from(("", "", "fresh", "taken", "taken")), label="leaf ref")
        if choice == "taken" and taken:
            ref = data.draw(st.sampled_from(taken), label="taken ref")
        else:
            ref = "" if choice == "" else f"b-{self.counter}"
        asset = self.asset_for(data, commitment_id)
        return BatchLeaf(commitment_id, quantity, delivered_at, hashes, "", "", ref, asset), flaw == "none"

    def anchor(self, data: Any) -> None:
        """A batch of 1..4 leaves (an asset or ref may repeat inside it), anchored by a registrar
        (or signed, relayed); its file kept in the batch folder or not (:data:`FATES`)."""
        municipality_id = data.draw(st.sampled_from(self.staffed()), label="municipality")
        drawn = [self.leaf_for(data, municipality_id) for _ in range(data.draw(st.integers(1, 4), label="leaves"))]
        tree = build_tree([leaf for leaf, _ in drawn], check_rules=False)
        lost = data.draw(st.booleans(), label="file not kept?") and data.draw(st.booleans(), label="file not kept!")
        fate = data.draw(st.sampled_from(FATES), label="fate of the file") if lost else "kept"
        content = b"not a batch file " + sha(self.next_number()) if fate == "garbage" else tree.to_file_bytes()
        root = sha(self.next_number()) if fate == "wrong_root" else tree.root
        leaf_count = len(drawn) + (1 if fate == "miscounted" else 0)
        file_sha256 = hashlib.sha256(content).digest()
        stored = bytearray(content)
        if fate == "corrupted":  # one byte edited: a digit of the first hash
            position = content.index(b'"tree":["0x') + 12
            stored[position] = ord("0") if stored[position] != ord("0") else ord("1")
        if fate != "withheld":
            (self.batch_dir / f"{file_sha256.hex()}.json").write_bytes(bytes(stored))
        values = (municipality_id, root, leaf_count, file_sha256, f"ipfs://batch-{self.counter}")
        key = self.registrar_key(municipality_id)
        signed = self.signed(data)
        tx = self.write("LedgerPaused" if self.paused else None, lambda: self.send("anchorBatch", [values], key, signed))
        if tx is None:
            return
        batch = BatchModel("0x" + root.hex(), tree.root_hex, municipality_id, ADDRESS[key], fate)
        for index, (leaf, _) in enumerate(drawn):
            batch.leaves.append(DeliveryModel(
                "batched", leaf.commitment_id, leaf.quantity, leaf.asset_ref, leaf.external_ref, ADDRESS[key],
                batch=batch, index=index, leaf=leaf, proof=tree.proof(index), leaf_hash="0x" + leaf.leaf_hash().hex(),
            ))
        self.model.anchor(batch, [valid for _, valid in drawn], tx.event("BatchAnchored").args["anchored_at"])

    def provable_leaves(self, *, revoked: bool = False) -> list[DeliveryModel]:
        """Leaves whose proof holds against their batch's anchored root and whose commitment is
        of the batch's municipality (what the contract checks before any batched write)."""
        return [
            leaf for b in self.model.batches if b.provable for leaf in b.leaves
            if leaf.revoked is revoked and leaf.commitment_id in self.commitments
            and self.commitments[leaf.commitment_id].municipality_id == b.municipality_id
        ]

    def revoke_leaf(self, data: Any) -> None:
        """Revoke a batched delivery with its proof (of a verified batch or not); a leaf naming
        another municipality's commitment is refused."""
        foreign = [
            leaf for b in self.model.batches if b.provable for leaf in b.leaves
            if self.commitments.get(leaf.commitment_id) is None
            or self.commitments[leaf.commitment_id].municipality_id != b.municipality_id
        ]
        candidates = [leaf for leaf in self.provable_leaves() if self.municipalities[leaf.batch.municipality_id].registrars]
        if foreign and (not candidates or data.draw(st.integers(0, 4), label="foreign leaf?") == 0):
            leaf, error = data.draw(st.sampled_from(foreign), label="leaf"), "LedgerLeafInOtherMunicipality"
            key = self.registrar_key(data.draw(st.sampled_from(self.staffed()), label="municipality"))
        else:
            leaf, error = data.draw(st.sampled_from(candidates), label="leaf"), None
            key = self.registrar_key(leaf.batch.municipality_id)
        args = [bytes.fromhex(leaf.batch.root[2:]), tuple(leaf.leaf.values()), leaf.proof, "Not delivered"]
        signed = self.signed(data)
        error = "LedgerPaused" if self.paused else error
        self.write(error, lambda: self.send("revokeBatchedDelivery", args, key, signed))
        if error is None:
            self.model.revoke(leaf)

    # ------------------------------------------------------------------ confirmers and verdicts

    def add_confirmer(self, data: Any) -> None:
        municipality_id = data.draw(
            st.sampled_from([m for m, model in self.municipalities.items() if len(model.confirmers) < len(POOL)]),
            label="municipality",
        )
        model = self.municipalities[municipality_id]
        account = data.draw(st.sampled_from([ADDRESS[k] for k in POOL if ADDRESS[k] not in model.confirmers]), label="account")
        self.write(
            "LedgerPaused" if self.paused else None,
            lambda: self.chain.send("addConfirmer", [municipality_id, account], KEY_OF[model.admin]),
        )
        if not self.paused:
            model.confirmers.add(account)

    def remove_confirmer(self, data: Any) -> None:
        """Verdicts already given stay (docs/LEDGER.md "Confirmations")."""
        municipality_id = data.draw(
            st.sampled_from([m for m, model in self.municipalities.items() if model.confirmers]), label="municipality"
        )
        model = self.municipalities[municipality_id]
        account = data.draw(st.sampled_from(sorted(model.confirmers)), label="account")
        self.write(
            "LedgerPaused" if self.paused else None,
            lambda: self.chain.send("removeConfirmer", [municipality_id, account], KEY_OF[model.admin]),
        )
        if not self.paused:
            model.confirmers.discard(account)

    def reviewable(self) -> list[DeliveryModel]:
        """Recorded deliveries and provable leaves, not revoked, of a municipality with a confirmer."""
        recorded = [
            d for c in self.commitments.values() if self.municipalities[c.municipality_id].confirmers
            for d in c.recorded if not d.revoked
        ]
        leaves = [leaf for leaf in self.provable_leaves() if self.municipalities[leaf.batch.municipality_id].confirmers]
        return recorded + leaves

    def review(self, data: Any) -> None:
        """A confirmer confirms (citing evidence or not) or disputes a delivery; its own
        delivery (it recorded it, or anchored the batch) and a repeated verdict are refused."""
        delivery = data.draw(st.sampled_from(self.reviewable()), label="delivery")
        municipality_id = self.commitments[delivery.commitment_id].municipality_id
        confirmer = data.draw(st.sampled_from(sorted(self.municipalities[municipality_id].confirmers)), label="confirmer")
        verdict = data.draw(st.sampled_from(("confirmed", "disputed")), label="verdict")
        if delivery.kind == "recorded":
            subject: list[Any] = [delivery.delivery_id]
            function = "confirmDelivery" if verdict == "confirmed" else "disputeDelivery"
        else:
            subject = [bytes.fromhex(delivery.batch.root[2:]), tuple(delivery.leaf.values()), delivery.proof]
            function = "confirmBatchedDelivery" if verdict == "confirmed" else "disputeBatchedDelivery"
        evidence = data.draw(st.sampled_from((b"\x00" * 32, sha(self.next_number()))), label="evidence")
        args = [*subject, evidence if verdict == "confirmed" else "Not what the photos show"]
        error = None
        if self.paused:
            error = "LedgerPaused"
        elif confirmer == delivery.registrar:
            error = "LedgerSelfConfirmation"
        elif delivery.verdicts.get(confirmer) == verdict:
            error = "LedgerVerdictUnchanged"
        signed = self.signed(data)
        self.write(error, lambda: self.send(function, args, KEY_OF[confirmer], signed))
        if error is None:
            delivery.verdicts[confirmer] = verdict

    def signed_write_refused(self, data: Any) -> None:
        """A signed withdrawal that must not pass: deadline passed, a used (or future) nonce, or
        signed by another key than the signer's."""
        commitment_id = data.draw(st.sampled_from(self.open_commitments()), label="commitment")
        key = self.registrar_key(self.commitments[commitment_id].municipality_id)
        flaw = data.draw(st.sampled_from(("expired", "replayed nonce", "future nonce", "other signer")), label="flaw")
        used = self.chain.call("nonces", ADDRESS[key])
        if flaw == "replayed nonce" and used == 0:
            flaw = "future nonce"
        offset = {"replayed nonce": -1, "future nonce": 1}.get(flaw, 0)
        deadline = self.now() - 1 if flaw == "expired" else None
        other = KEYS[9] if flaw == "other signer" else None
        args = self.signed_args(
            "withdrawCommitment", [commitment_id, "Cancelled"], key, nonce_offset=offset, deadline=deadline,
            signing_key=other,
        )
        error = {"expired": "LedgerSignatureExpired", "other signer": "LedgerInvalidSignature"}.get(flaw, "LedgerInvalidNonce")
        self.write(error, lambda: self.chain.send("withdrawCommitmentBySig", args, RELAYER))
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
        deliveries = [d.delivery_id for i in own for d in self.commitments[i].recorded]
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
        batch_input = (municipality_id, sha(self.next_number()), 1, sha(self.next_number()), "ipfs://x")
        choices.append(("anchor", lambda: self.chain.send("anchorBatch", [batch_input], key), paused or "LedgerNotRegistrar"))
        if deliveries and ADDRESS[key] not in model.confirmers:
            reviewed = data.draw(st.sampled_from(deliveries), label="reviewed delivery")
            choices.append(("confirm", lambda: self.chain.send("confirmDelivery", [reviewed, b"\x00" * 32], key),
                            paused or "LedgerNotConfirmer"))
        if key != KEY_OF[model.admin]:
            choices.append(("add confirmer", lambda: self.chain.send("addConfirmer", [municipality_id, ADDRESS[key]], key),
                            paused or "LedgerNotMunicipalityAdmin"))
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
        ("revoke", 2, lambda self: self.revocable()),
        ("amend", 2, lambda self: self.open_commitments()),
        ("register", 3, lambda self: self.staffed()),
        ("batch", 1, lambda self: self.staffed()),
        ("withdraw", 1, lambda self: self.open_commitments()),
        ("anchor", 4, lambda self: self.staffed()),
        ("revoke_leaf", 2, lambda self: self.staffed() and (
            any(self.municipalities[leaf.batch.municipality_id].registrars for leaf in self.provable_leaves())
            or any(leaf.commitment_id not in self.commitments for b in self.model.batches if b.provable for leaf in b.leaves)
        )),
        ("add_confirmer", 1, lambda self: any(len(m.confirmers) < len(POOL) for m in self.municipalities.values())),
        ("remove_confirmer", 1, lambda self: any(m.confirmers for m in self.municipalities.values())),
        ("review", 4, lambda self: self.reviewable()),
        ("signed_write_refused", 1, lambda self: self.open_commitments()),
        ("write_without_the_role", 2, lambda self: True),
        ("add_registrar", 1, lambda self: any(self.unstaffed_accounts(m) for m in self.municipalities)),
        ("remove_registrar", 1, lambda self: self.staffed()),
        ("propose_admin", 1, lambda self: True),
        ("accept_admin", 1, lambda self: any(m.pending_admin for m in self.municipalities.values())),
        ("start_recovery", 1, lambda self: any(m.recovery is None for m in self.municipalities.values())),
        ("cancel_recovery", 1, lambda self: any(m.recovery for m in self.municipalities.values())),
        ("complete_recovery", 1, lambda self: self.recoveries(ready=True)),
        ("complete_recovery_too_early", 1, lambda self: self.recoveries(ready=False)),
        ("toggle_pause", 1, lambda self: not self.paused),
        ("toggle_pause", 20, lambda self: self.paused),  # a paused ledger refuses nearly every step: not for long
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
    def replay_agrees_with_the_contract_and_the_model(self) -> None:
        result = replay_ledger(
            ReplayTarget(self.rpc_url, self.ledger.deployment.contract_address, self.ledger.deployment.deploy_block),
            source=self.source,
            batch_files=BatchFiles(self.batch_dir),
        )
        state = result.state
        assert state.anomalies == []
        assert sorted(state.commitments) == sorted(self.commitments)
        now = result.to_block_time  # statusOf runs at the latest block's time
        assert now == self.now()
        statuses = self.statuses()
        for commitment_id, model in self.commitments.items():
            self.check_commitment(state.commitments[commitment_id], model, statuses[commitment_id], now)
        assert {b.root: (b.verified, b.unverified_reason) for b in state.batches.values()} == {
            b.root: (b.verified, b.unverified_reason) for b in self.model.batches
        }
        for batch in self.model.batches:
            replayed = state.batches[batch.root]
            assert [leaf.leaf_hash for leaf in replayed.leaves] == ([leaf.leaf_hash for leaf in batch.leaves]
                                                                     if batch.verified else [])
        assert state.paused is self.paused
        for municipality_id, model in self.municipalities.items():
            m = state.municipalities[municipality_id]
            recovery = (m.recovery.proposed_admin, m.recovery.executable_at) if m.recovery else None
            assert (m.admin, m.pending_admin, recovery, set(m.registrars), set(m.confirmers)) == (
                model.admin, model.pending_admin, model.recovery, model.registrars, model.confirmers,
            )
        verdicts = [v for d in state.deliveries.values() for v in d.verdicts.values()]
        verdicts += [v for kept in state.leaf_verdicts.values() for v in kept.values()]
        assert all(b.signer_held_role for b in state.batches.values())
        assert all(v.signer_held_role for v in verdicts)

    def check_commitment(self, replayed: Any, model: CommitmentModel, theirs: OnChainStatus, now: int) -> None:
        """One commitment: against ``statusOf`` (``theirs``) where the contract sees every fact,
        and against the model everywhere (module docstring)."""
        ours = evaluate(replayed, now)
        assert (theirs.delivered_quantity, theirs.target_quantity) == (model.contract_delivered(), model.target)
        if not model.unseen_by_contract:
            assert (ours.status_on_record, ours.delivered_quantity, ours.target_quantity, ours.progress_bps,
                    ours.met_on_record_at) == (
                theirs.status_on_record, theirs.delivered_quantity, theirs.target_quantity, theirs.progress_bps,
                theirs.met_on_record_at,
            ), replayed.id
        assert (ours.delivered_quantity, ours.met_on_record_at) == (model.total, model.met), replayed.id
        assert ours.delivered_quantity == self.model.delivered(replayed.id)
        found = [
            (d.kind, d.key, d.quantity, ("double_counted" if d.double_counted else None) if d.kind == "recorded"
             else d.refused_reason, d.revoked, review_of(d))
            for d in replayed.all_deliveries
        ]
        expected = [(d.kind, d.key, d.quantity, d.decision, d.revoked, d.review()) for d in self.model.deliveries_of(replayed.id)]
        assert found == expected, replayed.id
        assert (ours.confirmed_quantity, ours.disputed_quantity) == self.model.confirmed_and_disputed(replayed.id)
        assert (replayed.target_quantity, replayed.due_date, replayed.withdrawn, len(replayed.amendments)) == (
            model.target, model.due, model.withdrawn, model.amendments,
        )
        assert (replayed.parent_id, replayed.weight, [c.id for c in replayed.children]) == (
            model.parent, model.weight, model.children,
        )
        rollup = rollup_of(replayed).rollup_progress_bps
        assert rollup == (self.model.rollup(replayed.id) if model.children else None), replayed.id
        records = [replayed, *replayed.deliveries, *replayed.amendments]
        assert all(r.signer_held_role for r in records)


def test_replay_agrees_with_status_of_and_the_model_after_every_step(ledger: Ledger) -> None:
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
