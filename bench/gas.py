"""Gas per ledger operation, beside the floor and the Ethereum Attestation Service, on one anvil.

``python -m bench.gas`` (``make bench``) starts one throwaway anvil with the hardfork pinned to
``compiler.evm_version`` of ``brownie-config.yaml`` (cancun) and deploys side by side:

- the ledger (``build/contracts/CommitmentLedger.json``, compiled by brownie);
- the references of ``bench/contracts/``, compiled here with py-solc-x through the solc-js
  adapter (``.solcx/solc-v<version>``) and the compiler settings of ``brownie-config.yaml``
  (viaIR, optimizer runs, EVM version, remappings):

  - ``DeliveryFloor``: the calldata of ``recordDelivery`` emitted in one event, nothing else;
  - ``DeliveryFloorPlusSlot``: that plus one new storage slot ("floor + one slot");
  - ``SignatureCheckFloor``: the calldata of ``recordDeliveryBySig`` (the delivery plus an
    ``Authorization``: signer, nonce, deadline and the 65-byte signature), then only the checks
    every signed write needs: the deadline against the block time, the EIP-712 struct hash of
    ``RecordDelivery`` (the ledger's type string, each dynamic field hashed), the digest under
    the domain {"CommitmentLedger", "2", chainId, itself}, OpenZeppelin ``SignatureChecker``
    (ECDSA recovery for an EOA) and the signer's nonce checked and bumped in storage
    (OpenZeppelin ``Nonces``, a non-zero slot), then the body of ``DeliveryFloorPlusSlot``
    unchanged. **The signature check** is ``SignatureCheckFloor`` minus ``DeliveryFloorPlusSlot``
    for the same record: it includes the extra calldata (the ``Authorization`` is in the signed
    function's calldata, so in the reference's too), the hashing, ``ecrecover`` and the nonce
    slot. The reference's dispatcher also compares the selectors of OpenZeppelin's
    ``eip712Domain()`` and ``nonces(address)`` first (a few dozen gas, which the ledger's
    dispatcher of some sixty functions pays many times over);
- the Ethereum Attestation Service from npm (``@ethereum-attestation-service/eas-contracts``,
  its compiled ``SchemaRegistry`` and ``EAS``), with :data:`DELIVERY_SCHEMA`.

It sends every ledger write once and prints the gas used (``gasUsed`` of the receipt, gas
units, the 21,000 base and calldata included), then the targets of two issues with PASS/FAIL:

- issue 5, "Gas near the floor": (a) a delivery (1 hash, 40-byte note) at most 1.3 x the floor +
  one slot and 0.3 x EAS; (b) at most 1.2 x (16 + 8) gas per extra byte of text; (c) a
  registration inside a multicall of 100 at most 0.8 x a single one;
- issue 6, "Ledger v2, part 2": ``anchorBatch`` of a real batch of 10, 1,000 and 100,000
  deliveries (an OpenZeppelin StandardMerkleTree built here; root, leaf count, file SHA-256 and
  a ``fileUri`` on :data:`BATCH_FILE_URI` are its calldata, so its gas cannot grow with the
  size) at most :data:`ANCHOR_TARGET_GAS` whatever the size; a signed delivery
  (``recordDeliveryBySig``, the record of (a), sent by a relayer, the signer's second signed
  write so its nonce slot is already non-zero) at most 1.3 x the floor + one slot plus the
  signature check measured above.

Then, without targets: the per-delivery cost of a batch (anchor gas / leaves) beside
``recordDelivery``'s, the confirmer's writes (``confirmDelivery`` without and with an evidence
hash, ``disputeDelivery`` with a 40-byte reason, ``confirmBatchedDelivery`` with a proof from the
1,000-leaf batch, ``confirmDeliveryBySig`` relayed), and the ``statusOf`` view's gas by number of
deliveries. Gas is deterministic for the same inputs and hardfork: these are exact figures,
not timings. Some inputs follow the chain's clock (claimed dates, deadlines), and so do the
hashes and signatures over them (batch roots, file SHA-256, EIP-712 signatures): each of their
bytes that happens to be zero costs 12 gas less (4 instead of 16 as calldata), so those rows
can differ by a multiple of 12 gas from one run to the next. The first write of a kind can pay
one-off costs (a counter slot going from zero to non-zero, a signer's nonce slot, a contract's
first storage): each of those is done once as a warm-up, and named when it is shown.

The batch trees and files are ``ledger/merkle.py``'s (``build_tree``, ``to_file_bytes``: the
project's one OpenZeppelin StandardMerkleTree); the ledger's ``verifyBatchedDelivery`` checks a
proof of each anchored tree, so a tree the contract would not accept stops the bench. The
signed writes are ``ledger/signing.py``'s typed data (its table of the contract's type strings),
signed with eth_account.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import solcx
import yaml
from eth_abi import encode as abi_encode
from eth_account import Account
from rich.console import Console
from rich.table import Table
from web3 import HTTPProvider, Web3
from web3.contract import Contract

from bench.anvil import BROWNIE_CONFIG, throwaway_anvil
from ledger import signing
from ledger.chain import LedgerChain
from ledger.errors import LedgerError
from ledger.merkle import LEAF_ENCODING, BatchLeaf, BatchTree, build_tree
from ledger.settings import REPO_ROOT
from scripts.local_keys import WELL_KNOWN_KEYS

FLOOR_SOURCE = "bench/contracts/GasFloor.sol"
SIGNATURE_FLOOR_SOURCE = "bench/contracts/SignatureCheckFloor.sol"
REFERENCE_SOURCES = (FLOOR_SOURCE, SIGNATURE_FLOOR_SOURCE)
EAS_ARTIFACTS = REPO_ROOT / "node_modules" / "@ethereum-attestation-service" / "eas-contracts" / "artifacts" / "contracts"
DELIVERY_SCHEMA = ",".join(f"{kind} {name}" for kind, name in zip(LEAF_ENCODING, signing.LEAF_FIELDS))
"""EAS schema with the fields of a delivery (``ICommitmentLedger.DeliveryInput`` and its id, as in a
``BatchLeaf``): ``"uint256 commitmentId,uint64 quantity,...,string assetRef"``."""

TX_BASE_GAS = 21_000
"""Intrinsic gas of every transaction (yellow paper, G_transaction)."""
CALLDATA_ZERO_BYTE_GAS = 4
"""Gas per zero calldata byte (yellow paper, G_txdatazero)."""
CALLDATA_NONZERO_BYTE_GAS = 16
"""Gas per non-zero calldata byte (EIP-2028, Istanbul; unchanged up to cancun)."""
LOG_DATA_BYTE_GAS = 8
"""Gas per byte of log data (yellow paper, G_logdata)."""

DELIVERY_VS_FLOOR_SLOT_TARGET = 1.3
DELIVERY_VS_EAS_TARGET = 0.3
TEXT_BYTE_TARGET_GAS = 1.2 * (CALLDATA_NONZERO_BYTE_GAS + LOG_DATA_BYTE_GAS)
BATCH_TARGET = 0.8
BATCH_SIZE = 100
SLOPE_TEXT_BYTES = (1_000, 5_000)
"""Description lengths (non-zero bytes) between which the gas per extra byte is measured."""
STATUS_VIEW_SIZES = (1, 10, 100)

ANCHOR_TARGET_GAS = 60_000
"""Issue 6: ``anchorBatch`` costs at most this (gas) whatever the number of deliveries."""
SIGNED_DELIVERY_VS_FLOOR_SLOT_TARGET = 1.3
"""Issue 6: a signed delivery costs at most this times the floor + one slot, plus the signature check."""
BATCH_SIZES = (10, 1_000, 100_000)
"""Deliveries (leaves) in the batches anchored, in this order."""
CONFIRMED_BATCH_SIZE = 1_000
"""The batch (one of :data:`BATCH_SIZES`) whose first leaf ``confirmBatchedDelivery`` confirms."""
BATCH_FILE_URI = "https://data.gemeente.example/ledger/batches/{sha256}.json"
"""Where a municipality would publish a batch file, named by the SHA-256 (hex) of its bytes."""
SIGNATURE_LIFETIME_SECONDS = 90 * 86_400
"""Deadline of the bench's signatures after the chain's time, seconds: outlasts the 42-day
recovery wait the bench fast-forwards before it measures the references."""

NOTE_40_BYTES = "Opgeleverd: 40 woningen, blok A en B, Q3"
REASON_40_BYTES = "Blok B niet opgeleverd, zie inspectie 12"
BATCH_NOTE = "LED-armatuur geplaatst"
SHORT_REGISTRATION = "registerCommitment (short texts)"
LATER_DELIVERY = "recordDelivery (later, 1 hash, 40-byte note, no ref)"
FIRST_DELIVERY = "recordDelivery (first of its commitment, 1 hash, 40-byte note, no ref)"
EAS_ATTEST = "EAS.attest (same record, schema of a delivery)"
FLOOR_SLOT = "DeliveryFloorPlusSlot.recordDelivery"
SIGNATURE_FLOOR = "SignatureCheckFloor.recordDeliveryBySig"
FIRST_SIGNED_DELIVERY = "recordDeliveryBySig (first signed write of its signer: nonce slot 0 -> 1)"
SIGNED_DELIVERY = "recordDeliveryBySig (record of (a), signer's second signed write, sent by a relayer)"
CONFIRM = "confirmDelivery (no evidence hash)"
CONFIRM_WITH_EVIDENCE = "confirmDelivery (with an evidence hash)"
DISPUTE = "disputeDelivery (40-byte reason)"
CONFIRM_BATCHED = "confirmBatchedDelivery (leaf of the {leaves:,}-leaf batch, proof of {proof_hashes} hashes, no evidence hash)"
FIRST_SIGNED_CONFIRM = "confirmDeliveryBySig (first signed write of its confirmer: nonce slot 0 -> 1)"
SIGNED_CONFIRM = "confirmDeliveryBySig (no evidence hash, confirmer's second signed write, by a relayer)"


class GasBenchError(LedgerError, RuntimeError):
    """The bench could not build or deploy one of its contracts, or a write failed."""


@dataclass(frozen=True)
class Ratio:
    """One of the issues' targets: ``value`` (measured) must be at most ``target``.

    Attributes:
        name: what is compared, in words.
        value: the measured figure (a ratio, gas per byte for the text slope, or gas).
        target: the largest value allowed, in ``unit``.
        unit: ``"x"`` for a ratio, ``"gas/byte"`` for the slope, ``"gas"`` for a gas budget.
        detail: the figures the value comes from.
    """

    name: str
    value: float
    target: float
    unit: str
    detail: str

    @property
    def passed(self) -> bool:
        """Whether the target holds (``value <= target``)."""
        return self.value <= self.target


@dataclass(frozen=True)
class BatchAnchorGas:
    """One ``anchorBatch`` of a real batch, measured.

    Attributes:
        leaves: deliveries in the batch (its ``leafCount``).
        gas: ``gasUsed`` of the anchor, gas (21,000 base and calldata included).
        calldata_gas: what its calldata costs, gas (4 per zero byte, 16 per other byte).
        root: the StandardMerkleTree root anchored.
        file_sha256: SHA-256 of the batch file (the tree's ``standard-v1`` dump), anchored.
        file_bytes: size of that file, bytes (published off chain, never sent to the chain).
        tree_nodes: nodes of the tree (``2 * leaves - 1``).
        proofs_checked: leaves whose proof the ledger's ``verifyBatchedDelivery`` accepted
            after the anchor (the first and the last value of the file).
    """

    leaves: int
    gas: int
    calldata_gas: int
    root: bytes
    file_sha256: bytes
    file_bytes: int
    tree_nodes: int
    proofs_checked: int

    @property
    def label(self) -> str:
        """The row's name, e.g. ``"anchorBatch (1,000 leaves)"``."""
        return f"anchorBatch ({self.leaves:,} leaves)"

    @property
    def execution_gas(self) -> int:
        """Gas beyond the 21,000 base and the calldata: what the contract does with it."""
        return self.gas - TX_BASE_GAS - self.calldata_gas

    @property
    def gas_per_delivery(self) -> float:
        """``gas / leaves``: the anchor's share per delivery of the batch, gas."""
        return self.gas / self.leaves


@dataclass(frozen=True)
class GasReport:
    """What :func:`measure` found (all gas figures are ``gasUsed``, gas units).

    Attributes:
        rows: ``(operation, gas used)`` per ledger write of issue 5's table, in the order sent.
        anchors: the batch anchors, in :data:`BATCH_SIZES` order.
        signed: ``(operation, gas used)`` of the signed deliveries.
        confirmations: ``(operation, gas used)`` of the confirmer's writes.
        references: ``(contract and call, gas used)`` for the floor, floor + slot, the
            signature check reference and EAS.
        ratios: issue 5's targets, measured.
        part2_targets: issue 6's targets ("Ledger v2, part 2"), measured.
        status_view: ``(deliveries, gas)`` of the ``statusOf`` view (``eth_estimateGas``).
        hardfork: the EVM hardfork of the chain and the compiler.
    """

    rows: tuple[tuple[str, int], ...]
    anchors: tuple[BatchAnchorGas, ...]
    signed: tuple[tuple[str, int], ...]
    confirmations: tuple[tuple[str, int], ...]
    references: tuple[tuple[str, int], ...]
    ratios: tuple[Ratio, ...]
    part2_targets: tuple[Ratio, ...]
    status_view: tuple[tuple[int, int], ...]
    hardfork: str

    def gas(self, operation: str) -> int:
        """Gas of one row, anchor, signed write, confirmation or reference by its name.

        Raises:
            KeyError: no such operation was measured.
        """
        anchors = tuple((a.label, a.gas) for a in self.anchors)
        return dict(self.rows + anchors + self.signed + self.confirmations + self.references)[operation]

    @property
    def signature_check_gas(self) -> int:
        """What the signature check costs: ``SignatureCheckFloor`` minus the floor + one slot, gas."""
        return self.gas(SIGNATURE_FLOOR) - self.gas(FLOOR_SLOT)

    @property
    def signed_delivery_budget_gas(self) -> float:
        """Issue 6's budget of a signed delivery: 1.3 x (floor + one slot) + the signature check, gas."""
        return SIGNED_DELIVERY_VS_FLOOR_SLOT_TARGET * self.gas(FLOOR_SLOT) + self.signature_check_gas


@dataclass(frozen=True)
class CompilerSettings:
    """The solc settings of ``brownie-config.yaml`` (``compiler`` section)."""

    version: str
    evm_version: str
    via_ir: bool
    optimizer: dict[str, Any]
    remappings: tuple[str, ...]

    @property
    def solc_binary(self) -> Path:
        """The solc-js adapter py-solc-x runs (``$SOLCX_BINARY_PATH/solc-v<version>``)."""
        return Path(os.environ.get("SOLCX_BINARY_PATH") or REPO_ROOT / ".solcx") / f"solc-v{self.version}"


def compiler_settings(config_path: Path = BROWNIE_CONFIG) -> CompilerSettings:
    """Read the compiler settings brownie uses, so the references compile exactly like the ledger.

    Raises:
        GasBenchError: the file lacks ``compiler.solc.version`` or ``compiler.evm_version``.
    """
    compiler = (yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}).get("compiler") or {}
    solc = compiler.get("solc") or {}
    if not solc.get("version") or not compiler.get("evm_version"):
        raise GasBenchError(f"{config_path} must set compiler.solc.version and compiler.evm_version.")
    return CompilerSettings(
        version=str(solc["version"]),
        evm_version=str(compiler["evm_version"]),
        via_ir=bool(solc.get("viaIR", False)),
        optimizer=dict(solc.get("optimizer") or {"enabled": False}),
        remappings=tuple(solc.get("remappings") or ()),
    )


def compile_reference_contracts(settings: CompilerSettings | None = None) -> dict[str, tuple[list[dict[str, Any]], str]]:
    """Compile the reference contracts (:data:`REFERENCE_SOURCES`) with py-solc-x and brownie's settings.

    Returns:
        contract name -> (ABI, creation bytecode as ``0x`` hex), for the deployable contracts
        of those files (``DeliveryFloor``, ``DeliveryFloorPlusSlot``, ``SignatureCheckFloor``).

    Raises:
        GasBenchError: the adapter is missing or solc reported an error.
    """
    settings = settings or compiler_settings()
    if not settings.solc_binary.exists():
        raise GasBenchError(f"solc adapter {settings.solc_binary} not found: run `make setup`.")
    standard_input = {
        "language": "Solidity",
        "sources": {source: {"urls": [source]} for source in REFERENCE_SOURCES},
        "settings": {
            "evmVersion": settings.evm_version,
            "viaIR": settings.via_ir,
            "optimizer": settings.optimizer,
            "remappings": list(settings.remappings),
            # Only the references: the imported interface and OpenZeppelin files are not built alone.
            "outputSelection": {source: {"*": ["abi", "evm.bytecode.object"]} for source in REFERENCE_SOURCES},
        },
    }
    try:
        output = solcx.compile_standard(
            standard_input, base_path=str(REPO_ROOT), allow_paths=[str(REPO_ROOT)], solc_binary=settings.solc_binary
        )
    except solcx.exceptions.SolcError as exc:
        raise GasBenchError(f"compiling {', '.join(REFERENCE_SOURCES)} failed: {exc}") from exc
    return {
        name: (c["abi"], "0x" + c["evm"]["bytecode"]["object"])
        for source in REFERENCE_SOURCES
        for name, c in output["contracts"][source].items()
        if c["evm"]["bytecode"]["object"]  # abstract bodies have none
    }


def load_eas_artifact(name: str) -> tuple[list[dict[str, Any]], str]:
    """ABI and creation bytecode of ``SchemaRegistry`` or ``EAS`` as npm ships them.

    Raises:
        GasBenchError: the package is not installed (``make setup`` runs ``npm ci``).
    """
    path = EAS_ARTIFACTS / f"{name}.sol" / f"{name}.json"
    if not path.exists():
        raise GasBenchError(f"{path} not found: run `make setup` (npm ci installs eas-contracts).")
    artifact = json.loads(path.read_text(encoding="utf-8"))
    return artifact["abi"], artifact["bytecode"]


class _ReferenceChain:
    """Deploys and calls the reference contracts from anvil's unlocked accounts."""

    def __init__(self, rpc_url: str) -> None:
        self.w3 = Web3(HTTPProvider(rpc_url))

    def _receipt(self, tx_hash: Any, what: str) -> Any:
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            raise GasBenchError(f"{what} reverted (tx 0x{bytes(tx_hash).hex()}).")
        return receipt

    def deploy(self, abi: list[dict[str, Any]], bytecode: str, args: Sequence[Any], sender: str, what: str) -> Contract:
        tx_hash = self.w3.eth.contract(abi=abi, bytecode=bytecode).constructor(*args).transact({"from": sender})
        address = self._receipt(tx_hash, f"deploying {what}")["contractAddress"]
        return self.w3.eth.contract(address=address, abi=abi)

    def gas(self, call: Any, sender: str, what: str) -> int:
        return int(self._receipt(call.transact({"from": sender}), what)["gasUsed"])


def _sha(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


# ------------------------------------------------------------------ batches and signatures


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector: a 100,000-leaf batch makes a million small objects
    and no cycles, and the collector's passes over them add about 40 % to the time to build it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def streetlight_batch_leaves(leaves: int, commitment_id: int, delivered_at: int, first_lamp: int) -> list[BatchLeaf]:
    """The deliveries of a bench batch: one LED streetlight each (quantity 1), numbered from
    ``first_lamp`` (``assetRef`` "lantaarnpaal 000123", so no asset repeats across the bench's
    batches), one evidence hash, a short note, no external ref, claimed within the day before
    ``delivered_at`` (Unix seconds)."""
    return [
        BatchLeaf(commitment_id, 1, delivered_at - (lamp % 1_440) * 60, (_sha(f"lantaarnpaal-{lamp}"),), "", BATCH_NOTE,
                  "", f"lantaarnpaal {lamp:06d}")
        for lamp in range(first_lamp, first_lamp + leaves)
    ]


def _signed_args(key: str, name: str, args: list[Any], *, nonce: int, deadline: int, chain_id: int,
                 contract: str) -> list[Any]:
    """The arguments of ``<name>BySig``: ``args`` and the ``Authorization`` of ``key``'s EIP-712
    signature over them (ledger/signing.py) in the domain of ``contract`` on ``chain_id`` (the
    ledger, or a reference contract with the ledger's domain name and version)."""
    message = signing.message(name, args, nonce=nonce, deadline=deadline)
    data = signing.typed_data(name, message, chain_id=chain_id, contract=contract)
    signer = Account.from_key(key).address
    return [*args, signing.authorization(signer, nonce, deadline, signing.sign(data, key))]


def _calldata_gas(w3: Web3, tx_hash: str) -> int:
    data = bytes(w3.eth.get_transaction(tx_hash)["input"])
    zeros = data.count(0)
    return CALLDATA_ZERO_BYTE_GAS * zeros + CALLDATA_NONZERO_BYTE_GAS * (len(data) - zeros)


def _latest_timestamp(chain: LedgerChain) -> int:
    block = chain.block(chain.head_block_number())
    assert block is not None  # the head block exists
    return block.timestamp


def measure(rpc_url: str) -> GasReport:
    """Deploy the ledger and the references on the chain at ``rpc_url`` (a fresh anvil with
    its standard accounts) and measure every write once.

    Builds the three batch trees (:data:`BATCH_SIZES`; for the 100,000-leaf one about 2 s, its
    31 MB file about 1 s more) between the writes, while solc compiles the references in the
    background.

    Returns:
        the gas tables, the references, both issues' targets and the ``statusOf`` figures.

    Raises:
        GasBenchError: a reference contract could not be built, a write failed, or the ledger
            did not accept a proof of an anchored tree.
        ContractRevertError: the ledger refused a write (a bench input no longer valid).
    """
    with ThreadPoolExecutor(max_workers=1) as compiler:  # solc runs in its own process meanwhile
        compiled = compiler.submit(compile_reference_contracts)
        return _measure(rpc_url, compiled.result)


def _measure(rpc_url: str, compiled_references: Callable[[], dict[str, tuple[list[dict[str, Any]], str]]]) -> GasReport:
    """:func:`measure`'s writes, in the order of the tables; ``compiled_references`` waits for solc."""
    keys = WELL_KNOWN_KEYS[:9]
    platform, council, registrar, other_admin, next_admin, rescuer, stranger, relayer, confirmer = keys
    address = {key: Account.from_key(key).address for key in keys}
    chain = LedgerChain(rpc_url)
    chain.deploy(platform)
    w3 = Web3(HTTPProvider(rpc_url))
    rows: list[tuple[str, int]] = []
    signed: list[tuple[str, int]] = []
    confirmations: list[tuple[str, int]] = []

    def send(label: str | None, function: str, args: list[Any], key: str, into: list[tuple[str, int]] = rows) -> int:
        gas = chain.send(function, args, key).gas_used
        if label is not None:
            into.append((label, gas))
        return gas

    # Platform and municipality roles. The first municipality also turns the shared counters
    # slot from zero to non-zero (one-off): it is the warm-up, the second one is measured.
    send(None, "registerMunicipality", ["Baarn", "GM0308", address[council]], platform)
    send("registerMunicipality", "registerMunicipality", ["Gobierno de Chile", "CL-GOB", address[other_admin]], platform)
    send("addRegistrar", "addRegistrar", [1, address[registrar]], council)
    send("addConfirmer", "addConfirmer", [1, address[confirmer]], council)
    send("proposeMunicipalityAdmin", "proposeMunicipalityAdmin", [2, address[next_admin]], other_admin)
    send("acceptMunicipalityAdmin", "acceptMunicipalityAdmin", [2], next_admin)
    send("pause", "pause", [], platform)
    send("unpause", "unpause", [], platform)
    send("startAdminRecovery", "startAdminRecovery", [2, address[rescuer]], platform)
    send("cancelAdminRecovery (by the municipality admin)", "cancelAdminRecovery", [2], next_admin)

    now = _latest_timestamp(chain)
    promised = now - 365 * 86_400
    due = now + 2 * 365 * 86_400

    def registration(ref: str, description: str = "", **overrides: Any) -> tuple[Any, ...]:
        fields = {
            "title": "Renovate 200 social homes", "theme": "Wonen", "target": 200, "unit": "homes",
            "source_hash": b"\x00" * 32, "source_uri": "",
        } | overrides
        return (1, ref, fields["title"], description, fields["theme"], fields["target"], fields["unit"],
                promised, due, fields["source_hash"], fields["source_uri"], 0, 0)

    # Registrations: the same short record (7-byte refs) alone and in a batch; 600 bytes of text
    # (about the median Baarn agreement); two long descriptions for the gas per byte of text.
    send(None, "registerCommitment", [registration("w-00000")], registrar)  # warm-up
    send(SHORT_REGISTRATION, "registerCommitment", [registration("r-00001")], registrar)  # id 2
    baarn = registration("r-00002", "x" * 600, title="x" * 160, theme="Wonen en leefomgeving", target=1,
                         unit="afspraak", source_hash=_sha("coalitieakkoord"),
                         source_uri="https://example.org/coalitieakkoord.pdf")
    send("registerCommitment (Baarn-sized, 600-byte text)", "registerCommitment", [baarn], registrar)  # id 3
    slope_gas = []
    for index, size in enumerate(SLOPE_TEXT_BYTES):
        label = f"registerCommitment ({size:,}-byte description)"
        slope_gas.append(send(label, "registerCommitment", [registration(f"s-0000{index}", "x" * size)], registrar))
    encoder = Web3().eth.contract(abi=chain.abi)
    calls = [encoder.encode_abi("registerCommitment", [registration(f"b-{i:05d}")]) for i in range(BATCH_SIZE)]
    batch_gas = send(f"multicall: {BATCH_SIZE} registerCommitment (short texts)", "multicall", [calls], registrar)
    rows.append((f"  per registration inside the batch of {BATCH_SIZE}", round(batch_gas / BATCH_SIZE)))

    # Amendments by field, on commitment 2 (each names one field and the count it saw).
    amendments = (
        ("title", (1, "Renovate 210 social homes", "", 0, 0)),
        ("description", (2, "", "Including energy label A", 0, 0)),
        ("target", (4, "", "", 250, 0)),
        ("due date", (8, "", "", 0, due + 86_400)),
    )
    for count, (name, (bits, title, description, target, new_due)) in enumerate(amendments):
        amendment = (count, bits, title, description, target, new_due, "Council decision 2025-03")
        send(f"amendCommitment ({name})", "amendCommitment", [2, amendment], registrar)
    send("withdrawCommitment", "withdrawCommitment", [3, "Superseded by a new agreement"], registrar)

    # Deliveries, on a commitment whose target none of them reaches (metOnRecordAt stays 0).
    send(None, "registerCommitment", [registration("d-00001", target=10**12)], registrar)
    delivery_commitment = chain.call("counts")[1]
    delivered_at = now - 3_600

    def delivery(hashes: int, ref: str = "", tag: str = "") -> tuple[Any, ...]:
        return (1, delivered_at, [_sha(f"{tag}{i}") for i in range(hashes)], "", NOTE_40_BYTES, ref, "")

    first, later = delivery(1, tag="first"), delivery(1, tag="later")
    send(FIRST_DELIVERY, "recordDelivery", [delivery_commitment, first], registrar)
    send(LATER_DELIVERY, "recordDelivery", [delivery_commitment, later], registrar)
    for hashes in (1, 3, 16):
        noun = "hash" if hashes == 1 else "hashes"
        if hashes != 1:
            send(f"recordDelivery ({hashes} {noun}, no ref)", "recordDelivery",
                 [delivery_commitment, delivery(hashes, tag=f"n{hashes}-")], registrar)
        send(f"recordDelivery ({hashes} {noun}, 8-byte external ref)", "recordDelivery",
             [delivery_commitment, delivery(hashes, ref=f"ref-{hashes:04d}", tag=f"r{hashes}-")], registrar)
    send("revokeDelivery", "revokeDelivery", [delivery_commitment * 1_000_000 + 1, "Wrong evidence file"], registrar)

    # Signed deliveries (issue 6): the registrar signs, the relayer sends. The signer's first
    # signed write turns its nonce slot from zero to non-zero (one-off, shown); the second one,
    # with the record of (a), is measured. Their delivery ids follow the ones above.
    chain_id = chain.chain_id()
    ledger_address = chain.deployment.contract_address
    deadline = _latest_timestamp(chain) + SIGNATURE_LIFETIME_SECONDS

    def by_sig(key: str, name: str, args: list[Any], nonce: int) -> list[Any]:
        return _signed_args(key, name, args, nonce=nonce, deadline=deadline, chain_id=chain_id, contract=ledger_address)

    signed_ids = []
    for label, record, nonce in ((FIRST_SIGNED_DELIVERY, first, 0), (SIGNED_DELIVERY, later, 1)):
        args = by_sig(registrar, "recordDelivery", [delivery_commitment, record], nonce)
        result = chain.send("recordDeliveryBySig", args, relayer)
        recorded = result.event("DeliveryRecorded").args
        if recorded["registrar"] != address[registrar]:
            raise GasBenchError(f"a relayed delivery names {recorded['registrar']}, not its signer {address[registrar]}.")
        signed.append((label, result.gas_used))
        signed_ids.append(recorded["delivery_id"])

    # Batches (issue 6): real trees of streetlight deliveries on one commitment, anchored with
    # the SHA-256 and URI of their file; the ledger then checks a proof of each.
    send(None, "registerCommitment", [registration("l-00001", title="LED streetlights", target=10**12,
                                                   unit="lamps")], registrar)
    lamp_commitment = chain.call("counts")[1]
    anchors = []
    first_lamp = 0
    for leaves in BATCH_SIZES:
        with _no_cyclic_gc():
            batch = build_tree(streetlight_batch_leaves(leaves, lamp_commitment, delivered_at, first_lamp))
            file = batch.to_file_bytes()
        first_lamp += leaves
        anchors.append(_anchor(chain, w3, batch, file, registrar))
        if leaves == CONFIRMED_BATCH_SIZE:
            confirmed_batch = batch

    # Confirmations (issue 6, no target) by the confirmer, on deliveries the registrar recorded:
    # (a) itself, the two after it, a leaf of the 1,000-leaf batch and the two signed ones.
    # Every verdict is a new slot (zero to non-zero), so none of them has a one-off but the nonce.
    delivery_a = delivery_commitment * 1_000_000 + 2
    send(CONFIRM, "confirmDelivery", [delivery_a, b"\x00" * 32], confirmer, confirmations)
    send(CONFIRM_WITH_EVIDENCE, "confirmDelivery", [delivery_a + 1, _sha("inspectierapport")], confirmer, confirmations)
    send(DISPUTE, "disputeDelivery", [delivery_a + 2, REASON_40_BYTES], confirmer, confirmations)
    proof = confirmed_batch.proof(0)
    send(CONFIRM_BATCHED.format(leaves=CONFIRMED_BATCH_SIZE, proof_hashes=len(proof)), "confirmBatchedDelivery",
         [confirmed_batch.root, tuple(confirmed_batch.leaves[0].values()), proof, b"\x00" * 32], confirmer,
         confirmations)

    def confirm_by_sig(delivery_id: int, nonce: int) -> list[Any]:
        return by_sig(confirmer, "confirmDelivery", [delivery_id, b"\x00" * 32], nonce)

    send(FIRST_SIGNED_CONFIRM, "confirmDeliveryBySig", confirm_by_sig(signed_ids[0], 0), relayer, confirmations)
    send(SIGNED_CONFIRM, "confirmDeliveryBySig", confirm_by_sig(signed_ids[1], 1), relayer, confirmations)

    # Recovery completes after ADMIN_RECOVERY_DELAY (42 days); anyone may complete it.
    send("startAdminRecovery (again)", "startAdminRecovery", [2, address[rescuer]], platform)
    w3.provider.make_request("evm_increaseTime", [42 * 86_400 + 1])
    w3.provider.make_request("evm_mine", [])
    send("completeAdminRecovery (by anyone)", "completeAdminRecovery", [2], stranger)

    references = _measure_references(
        rpc_url, compiled_references(), address[registrar], delivery_commitment, first, later,
        signer_key=registrar, relayer=address[relayer], deadline=deadline,
    )
    status_view = _measure_status_view(chain, registration, registrar, delivered_at)
    gas_by_name = dict(rows + signed + references)
    return GasReport(
        rows=tuple(rows),
        anchors=tuple(anchors),
        signed=tuple(signed),
        confirmations=tuple(confirmations),
        references=tuple(references),
        ratios=_ratios(gas_by_name, slope_gas, batch_gas),
        part2_targets=_part2_targets(gas_by_name, anchors),
        status_view=tuple(status_view),
        hardfork=compiler_settings().evm_version,
    )


def _anchor(chain: LedgerChain, w3: Web3, batch: BatchTree, file: bytes, registrar: str) -> BatchAnchorGas:
    """Anchor ``batch`` for municipality 1 with the SHA-256 and URI of ``file`` (its batch file),
    then have the ledger check a proof of its first and last value (``verifyBatchedDelivery``)."""
    leaves = len(batch.leaves)
    file_sha256 = hashlib.sha256(file).digest()
    batch_input = (1, batch.root, leaves, file_sha256, BATCH_FILE_URI.format(sha256=file_sha256.hex()))
    result = chain.send("anchorBatch", [batch_input], registrar)
    for value_index in (0, leaves - 1):
        included, leaf_hash, _ = chain.call("verifyBatchedDelivery", batch.root,
                                            tuple(batch.leaves[value_index].values()), batch.proof(value_index))
        if not included or bytes(leaf_hash) != batch.leaf_hashes[value_index]:
            raise GasBenchError(f"the ledger does not accept the proof of value {value_index} of the {leaves:,}-leaf "
                                f"batch 0x{batch.root.hex()}: ledger/merkle.py's tree is not the contract's.")
    if chain.call("batchOf", batch.root)[2] != leaves:
        raise GasBenchError(f"batch 0x{batch.root.hex()} is not anchored with {leaves:,} leaves.")
    return BatchAnchorGas(leaves=leaves, gas=result.gas_used, calldata_gas=_calldata_gas(w3, result.tx_hash),
                          root=batch.root, file_sha256=file_sha256, file_bytes=len(file),
                          tree_nodes=len(batch.tree), proofs_checked=2)


def _measure_references(
    rpc_url: str,
    compiled: dict[str, tuple[list[dict[str, Any]], str]],
    sender: str,
    commitment_id: int,
    first: tuple[Any, ...],
    later: tuple[Any, ...],
    *,
    signer_key: str,
    relayer: str,
    deadline: int,
) -> list[tuple[str, int]]:
    """Floor, floor + slot, the signature check reference and EAS, each fed the ledger's first
    delivery (warm-up) and then its later delivery (measured), so every figure is a contract's
    second write. ``SignatureCheckFloor`` gets them signed by ``signer_key`` (nonces 0 and 1,
    ``deadline`` as the ledger's) and sent by ``relayer``, as the ledger's signed deliveries."""
    chain = _ReferenceChain(rpc_url)
    references: list[tuple[str, int]] = []
    for name in ("DeliveryFloor", "DeliveryFloorPlusSlot"):
        abi, bytecode = compiled[name]
        contract = chain.deploy(abi, bytecode, [], sender, name)
        chain.gas(contract.functions.recordDelivery(commitment_id, first), sender, f"{name} warm-up")
        references.append((f"{name}.recordDelivery", chain.gas(contract.functions.recordDelivery(commitment_id, later), sender, name)))

    abi, bytecode = compiled["SignatureCheckFloor"]
    contract = chain.deploy(abi, bytecode, [], sender, "SignatureCheckFloor")
    for nonce, record in enumerate((first, later)):
        args = _signed_args(signer_key, "recordDelivery", [commitment_id, record], nonce=nonce, deadline=deadline,
                            chain_id=chain.w3.eth.chain_id, contract=contract.address)
        gas = chain.gas(contract.functions.recordDeliveryBySig(*args), relayer, f"SignatureCheckFloor nonce {nonce}")
    references.append((SIGNATURE_FLOOR, gas))

    registry_abi, registry_bytecode = load_eas_artifact("SchemaRegistry")
    eas_abi, eas_bytecode = load_eas_artifact("EAS")
    registry = chain.deploy(registry_abi, registry_bytecode, [], sender, "SchemaRegistry")
    eas = chain.deploy(eas_abi, eas_bytecode, [registry.address], sender, "EAS")
    register = registry.functions.register(DELIVERY_SCHEMA, "0x" + "00" * 20, True)
    schema_uid = register.call({"from": sender})
    chain.gas(register, sender, "SchemaRegistry.register")

    def attest(record: tuple[Any, ...]) -> Any:
        quantity, delivered_at, hashes, uri, note, ref, asset = record
        data = abi_encode(LEAF_ENCODING, [commitment_id, quantity, delivered_at, hashes, uri, note, ref, asset])
        return eas.functions.attest((schema_uid, ("0x" + "00" * 20, 0, True, b"\x00" * 32, data, 0)))

    chain.gas(attest(first), sender, "EAS.attest warm-up")
    references.append((EAS_ATTEST, chain.gas(attest(later), sender, "EAS.attest")))
    return references


def _measure_status_view(chain: LedgerChain, registration: Any, registrar: str, delivered_at: int) -> list[tuple[int, int]]:
    """Gas of ``statusOf`` (``eth_estimateGas`` of the view) for a commitment with n deliveries
    recorded in reverse claimed-date order, the target met by the last one."""
    estimator = Web3(HTTPProvider(chain.rpc_url)).eth.contract(address=chain.deployment.contract_address, abi=chain.abi)
    results = []
    for n in STATUS_VIEW_SIZES:
        chain.send("registerCommitment", [registration(f"v-{n:05d}", target=n)], registrar)
        commitment_id = chain.call("counts")[1]
        for k in range(n):
            chain.send("recordDelivery", [commitment_id, (1, delivered_at - k * 60, [_sha(f"v{n}-{k}")], "", "", "", "")], registrar)
        results.append((n, int(estimator.functions.statusOf(commitment_id).estimate_gas())))
    return results


def _ratios(gas: dict[str, int], slope_gas: list[int], batch_gas: int) -> tuple[Ratio, ...]:
    """Issue 5's four targets ("Gas near the floor") from the measured gas (by operation name)."""
    delivery = gas[LATER_DELIVERY]
    floor_slot = gas["DeliveryFloorPlusSlot.recordDelivery"]
    eas = gas[EAS_ATTEST]
    single = gas[SHORT_REGISTRATION]
    extra_bytes = SLOPE_TEXT_BYTES[1] - SLOPE_TEXT_BYTES[0]
    per_byte = (slope_gas[1] - slope_gas[0]) / extra_bytes
    per_registration = batch_gas / BATCH_SIZE
    first = gas[FIRST_DELIVERY]
    return (
        Ratio("(a) delivery, 1 hash, 40-byte note ÷ (floor + one slot)", delivery / floor_slot,
              DELIVERY_VS_FLOOR_SLOT_TARGET, "x",
              f"{delivery:,} / {floor_slot:,}; first of its commitment {first:,} ({first / floor_slot:.3f} x)"),
        Ratio("(a) delivery, 1 hash, 40-byte note ÷ EAS attest", delivery / eas, DELIVERY_VS_EAS_TARGET, "x",
              f"{delivery:,} / {eas:,}"),
        Ratio("(b) registration: gas per extra byte of text", per_byte, TEXT_BYTE_TARGET_GAS, "gas/byte",
              f"({slope_gas[1]:,} - {slope_gas[0]:,}) / {extra_bytes:,} non-zero bytes; "
              f"target 1.2 x ({CALLDATA_NONZERO_BYTE_GAS} + {LOG_DATA_BYTE_GAS})"),
        Ratio(f"(c) registration inside a batch of {BATCH_SIZE} ÷ single", per_registration / single, BATCH_TARGET, "x",
              f"{batch_gas:,} / {BATCH_SIZE} = {per_registration:,.0f} / {single:,}"),
    )


def _part2_targets(gas: dict[str, int], anchors: Sequence[BatchAnchorGas]) -> tuple[Ratio, ...]:
    """Issue 6's two targets ("Ledger v2, part 2"), in gas: the largest batch anchor against
    :data:`ANCHOR_TARGET_GAS`; the signed delivery against 1.3 x (floor + one slot) plus the
    signature check (``SignatureCheckFloor`` minus ``DeliveryFloorPlusSlot``)."""
    largest = max(anchors, key=lambda a: a.gas)
    signed = gas[SIGNED_DELIVERY]
    floor_slot = gas[FLOOR_SLOT]
    sig_check = gas[SIGNATURE_FLOOR] - floor_slot
    budget = SIGNED_DELIVERY_VS_FLOOR_SLOT_TARGET * floor_slot + sig_check
    return (
        Ratio(f"batch anchor, any size (largest of {' / '.join(f'{a.leaves:,}' for a in anchors)} leaves)",
              largest.gas, ANCHOR_TARGET_GAS, "gas",
              " / ".join(f"{a.gas:,}" for a in anchors) + f"; execution without base and calldata "
              + " / ".join(f"{a.execution_gas:,}" for a in anchors)),
        Ratio("signed delivery by a relayer (record of (a)) ≤ 1.3 x (floor + one slot) + signature check",
              signed, budget, "gas",
              f"1.3 x {floor_slot:,} + {sig_check:,} = {budget:,.0f}; "
              f"{signed:,} / ({floor_slot:,} + {sig_check:,}) = {signed / (floor_slot + sig_check):.3f} x"),
    )


def _targets_table(title: str, targets: Sequence[Ratio]) -> Table:
    table = Table(title=title)
    table.add_column("what")
    table.add_column("measured", justify="right")
    table.add_column("target", justify="right")
    table.add_column("")
    table.add_column("from")
    formats = {"x": "{:.3f}", "gas/byte": "{:.1f}", "gas": "{:,.0f}"}
    for target in targets:
        fmt = formats[target.unit]
        table.add_row(target.name, fmt.format(target.value) + f" {target.unit}",
                      f"≤ {fmt.format(target.target)} {target.unit}",
                      "[green]PASS[/]" if target.passed else "[red]FAIL[/]", target.detail)
    return table


def _gas_table(title: str, rows: Sequence[tuple[str, int]], base_name: str, base: int) -> Table:
    """``(operation, gas)`` rows with each one's gas ÷ ``base`` (the gas of ``base_name``)."""
    table = Table(title=title)
    table.add_column("operation")
    table.add_column("gas", justify="right")
    table.add_column(f"÷ {base_name}", justify="right")
    for name, gas in rows:
        table.add_row(name, f"{gas:,}", f"{gas / base:.2f}")
    return table


def print_report(report: GasReport, console: Console | None = None) -> None:
    """Print the gas table, the references, issue 5's targets, the batch anchors, the signed
    delivery, the confirmations, issue 6's targets (PASS/FAIL) and the view figures; gas units."""
    console = console or Console(width=None if sys.stdout.isatty() else 160)  # files and CI: no 80-column cut
    settings = compiler_settings()
    runs = settings.optimizer.get("runs", 200)
    base = report.gas(SHORT_REGISTRATION)
    console.print(_gas_table(f"Gas per ledger write (anvil --hardfork {report.hardfork}; solc {settings.version}, "
                             f"viaIR {settings.via_ir}, optimizer runs {runs:,})",
                             report.rows, "short registration", base))

    delivery = report.gas(LATER_DELIVERY)
    refs = Table(title="The same delivery record elsewhere (second write of each contract)")
    refs.add_column("contract.call")
    refs.add_column("gas", justify="right")
    refs.add_column("ledger's same write ÷ this", justify="right")
    for name, gas in report.references:
        ledger = report.gas(SIGNED_DELIVERY) if name == SIGNATURE_FLOOR else delivery
        refs.add_row(name, f"{gas:,}", f"{ledger / gas:.3f}")
    console.print(refs)
    console.print(_targets_table("Issue 5 targets (Gas near the floor)", report.ratios))

    anchors = Table(title="anchorBatch of a real batch (StandardMerkleTree): root, leaf count, file SHA-256 "
                          "and URI are all the chain sees")
    anchors.add_column("deliveries", justify="right")
    anchors.add_column("gas", justify="right")
    anchors.add_column("calldata gas", justify="right")
    anchors.add_column("execution gas", justify="right")
    anchors.add_column("gas per delivery", justify="right")
    anchors.add_column("recordDelivery (a)", justify="right")
    anchors.add_column("batch file", justify="right")
    for anchor in report.anchors:
        anchors.add_row(f"{anchor.leaves:,}", f"{anchor.gas:,}", f"{anchor.calldata_gas:,}", f"{anchor.execution_gas:,}",
                        f"{anchor.gas_per_delivery:,.2f}", f"{delivery:,}", f"{anchor.file_bytes:,} bytes")
    console.print(anchors)

    floor_slot, sig_check = report.gas(FLOOR_SLOT), report.signature_check_gas
    signed = Table(title="Signed delivery, sent by a relayer (same record as (a))")
    signed.add_column("write or reference")
    signed.add_column("gas", justify="right")
    signed_gas = report.gas(SIGNED_DELIVERY)
    for name, gas in (
        (LATER_DELIVERY + ", sent by its registrar", delivery),
        *report.signed,
        ("  one-off of the signer's first signed write (nonce slot 0 -> 1)", report.gas(FIRST_SIGNED_DELIVERY) - signed_gas),
        ("  ledger's cost of signing: signed - (a)", signed_gas - delivery),
        (FLOOR_SLOT, floor_slot),
        (SIGNATURE_FLOOR + " (its calldata, signature check, nonce, same body)", report.gas(SIGNATURE_FLOOR)),
        ("  signature check: SignatureCheckFloor - DeliveryFloorPlusSlot", sig_check),
        ("budget: 1.3 x (floor + one slot) + signature check", round(report.signed_delivery_budget_gas)),
    ):
        signed.add_row(name, f"{gas:,}")
    signed.add_row("signed ÷ (floor + one slot + signature check)", f"{signed_gas / (floor_slot + sig_check):.3f} x")
    console.print(signed)

    console.print(_gas_table("Confirmer's writes (on deliveries the registrar recorded; no target)",
                             report.confirmations, "recordDelivery (a)", delivery))
    console.print(_targets_table("Issue 6 targets (Ledger v2, part 2)", report.part2_targets))

    view = Table(title="statusOf view gas (eth_estimateGas) by deliveries recorded, reverse date order")
    view.add_column("deliveries", justify="right")
    view.add_column("gas", justify="right")
    for n, gas in report.status_view:
        view.add_row(f"{n:,}", f"{gas:,}")
    console.print(view)


def main() -> None:
    """Measure on a throwaway anvil and print; exit status 0 (the targets are printed, not asserted)."""
    with throwaway_anvil() as url:
        report = measure(url)
    print_report(report)


if __name__ == "__main__":
    main()
