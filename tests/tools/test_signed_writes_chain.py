"""Signed writes on a real chain (a throwaway anvil, no brownie): typed data from
ledger/signing.py and from ethers (tools/eip712-sign.mjs) is accepted by the contract, relayed
by an account that pays while the record names the signer; every field of RecordDelivery,
changed after signing, is refused with the exact custom error (decoded by selector with
``LedgerChain``'s ABI decoder, never by message text); replays, expired deadlines and signers
without the role are refused; every other signed write is accepted for its signer."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import HTTPProvider, Web3

from ledger import signing
from ledger.chain import LedgerChain, TxResult
from ledger.errors import ContractRevertError
from tests.conftest import Roles
from tests.tools.ethers_eip712 import ethers_sign

MINUTE = 60
DAY = 86_400
PROMISED = 1_704_067_200  # 2024-01-01T00:00:00Z, before the chain's time
MUNICIPALITY = 1

SIGNING_REGISTRAR = "0x" + keccak(b"ledger signing test: registrar").hex()
"""A registrar of municipality 1 that holds no ether: it only signs, a relayer sends."""
UNTOUCHED_REGISTRAR = "0x" + keccak(b"ledger signing test: registrar whose writes are all refused").hex()
"""A second registrar, used only by the changed-field tests: nothing it signs is accepted, so
its nonce stays 0."""
CONFIRMER = "0x" + keccak(b"ledger signing test: confirmer").hex()
"""A confirmer of municipality 1, also without ether."""
OUTSIDER = "0x" + keccak(b"ledger signing test: outsider").hex()
"""Signs correctly but holds no role."""


def address_of(key: str) -> str:
    return Account.from_key(key).address


def sha(label: str) -> bytes:
    """SHA-256 of ``label``: stands in for an evidence file."""
    return hashlib.sha256(label.encode()).digest()


@dataclass(frozen=True)
class Ledger:
    """This module's deployment: client, raw web3 (snapshots, clock), the relayer's key, the
    commitments and the delivery recorded by signed writes in the set-up."""

    chain: LedgerChain
    w3: Web3
    relayer_key: str
    commitment_id: int = 0
    other_commitment_id: int = 0
    delivery_id: int = 0

    @property
    def address(self) -> str:
        assert self.chain.deployment is not None
        return self.chain.deployment.contract_address

    @property
    def chain_id(self) -> int:
        assert self.chain.deployment is not None
        return self.chain.deployment.chain_id

    def now(self) -> int:
        """Time of the latest block, Unix seconds."""
        block = self.chain.block(self.chain.head_block_number())
        assert block is not None
        return block.timestamp

    def nonce(self, key_or_address: str) -> int:
        address = key_or_address if len(key_or_address) == 42 else address_of(key_or_address)
        return int(self.chain.call("nonces", address))


@dataclass(frozen=True)
class Signed:
    """A signed write not sent yet: the call arguments before the ``Authorization``, the typed
    data and the signature."""

    name: str
    args: list[Any]
    data: dict[str, Any]
    signer: str
    signature: bytes

    def call(self, *, args: list[Any] | None = None, **auth_changes: Any) -> list[Any]:
        """The ``...BySig`` arguments; ``auth_changes`` (signer, nonce, deadline, signature)
        replace what was signed."""
        auth = {
            "signer": self.signer,
            "nonce": self.data["message"]["nonce"],
            "deadline": self.data["message"]["deadline"],
            "signature": self.signature,
            **auth_changes,
        }
        return [*(self.args if args is None else args), signing.authorization(**auth)]


def sign_write(
    ledger: Ledger,
    name: str,
    args: list[Any],
    key: str,
    *,
    nonce: int | None = None,
    deadline: int | None = None,
    chain_id: int | None = None,
    contract: str | None = None,
) -> Signed:
    """``key``'s signature over ``name`` with ``args``: by default its next nonce, a deadline a
    day after the chain's time, this chain and ledger."""
    message = signing.message(
        name,
        args,
        nonce=ledger.nonce(key) if nonce is None else nonce,
        deadline=ledger.now() + DAY if deadline is None else deadline,
    )
    data = signing.typed_data(
        name, message, chain_id=chain_id or ledger.chain_id, contract=contract or ledger.address
    )
    return Signed(name, args, data, address_of(key), signing.sign(data, key))


def sign_delivery(ledger: Ledger, key: str, **changes: Any) -> Signed:
    """``key``'s signed delivery of 12 on the first commitment, delivered a day ago
    (``changes``: nonce, deadline, chain_id, contract, as :func:`sign_write`)."""
    return sign_write(ledger, "recordDelivery", [ledger.commitment_id, delivery(ledger.now() - DAY)], key, **changes)


def relay(ledger: Ledger, signed: Signed, call: list[Any] | None = None) -> TxResult:
    """Send a signed write from the relayer's account."""
    function = signing.OPERATIONS[signed.name].function
    return ledger.chain.send(function, signed.call() if call is None else call, ledger.relayer_key)


def refusal(ledger: Ledger, signed: Signed, call: list[Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The custom error (name, arguments) with which the ledger refuses a relayed write."""
    with pytest.raises(ContractRevertError) as caught:
        relay(ledger, signed, call)
    return caught.value.name, caught.value.args_by_name


def commitment(external_ref: str, due: int) -> tuple:
    """``CommitmentInput`` of municipality 1, struct order."""
    return (MUNICIPALITY, external_ref, f"Toezegging {external_ref}", "", "wonen", 200, "woningen", PROMISED, due,
            sha("raadsbesluit"), "", 0, 0)


def delivery(delivered_at: int, *, note: str = "Twaalf woningen opgeleverd — café ‘De Brink’") -> tuple:
    """``DeliveryInput``, struct order: two evidence hashes, no external or asset ref."""
    return (12, delivered_at, [sha("bewijs 1"), sha("bewijs 2")], "https://baarn.nl/bewijs/7", note, "", "")


@pytest.fixture(scope="module")
def ledger(anvil_url: str, roles: Roles) -> Ledger:
    """A fresh ledger with municipality 1 (admin council_admin), the unfunded registrars and
    confirmer of this module, two commitments and a delivery on the first, by signed writes."""
    chain = LedgerChain(anvil_url)
    chain.deploy(roles.platform_admin.key)
    chain.send("registerMunicipality", ["Baarn", "GM0308", roles.council_admin.address], roles.platform_admin.key)
    for registrar in (SIGNING_REGISTRAR, UNTOUCHED_REGISTRAR):
        chain.send("addRegistrar", [MUNICIPALITY, address_of(registrar)], roles.council_admin.key)
    chain.send("addConfirmer", [MUNICIPALITY, address_of(CONFIRMER)], roles.council_admin.key)
    ledger = Ledger(chain, Web3(HTTPProvider(anvil_url)), roles.stranger.key)
    due = ledger.now() + 365 * DAY
    ids = [
        relay(ledger, sign_write(ledger, "registerCommitment", [commitment(ref, due)], SIGNING_REGISTRAR))
        .event("CommitmentRegistered").args["commitment_id"]
        for ref in ("BRN-1", "BRN-2")
    ]
    ledger = Ledger(chain, ledger.w3, roles.stranger.key, ids[0], ids[1])
    recorded = relay(ledger, sign_delivery(ledger, SIGNING_REGISTRAR)).event("DeliveryRecorded")
    return Ledger(chain, ledger.w3, roles.stranger.key, ids[0], ids[1], recorded.args["delivery_id"])


@pytest.fixture()
def snapshot(ledger: Ledger) -> Iterator[Callable[[], None]]:
    """A function that rolls the chain back to the test's start (anvil ``evm_snapshot``/``evm_revert``);
    also called when the test ends, so accepted writes do not leak into other tests."""
    ids = [ledger.w3.provider.make_request("evm_snapshot", [])["result"]]

    def revert() -> None:
        assert ledger.w3.provider.make_request("evm_revert", [ids[-1]])["result"] is True
        ids.append(ledger.w3.provider.make_request("evm_snapshot", [])["result"])

    yield revert
    ledger.w3.provider.make_request("evm_revert", [ids[-1]])


# ------------------------------------------------------------------ the contract's side of the table


def test_the_contracts_type_hashes_are_the_hashes_of_the_table(ledger: Ledger) -> None:
    for op in signing.OPERATIONS.values():
        constant = "".join("_" + c if c.isupper() else c.upper() for c in op.name) + "_TYPEHASH"
        assert bytes(ledger.chain.call(constant)) == keccak(text=op.type_string), op.name


def test_the_contracts_domain_is_the_one_signed(ledger: Ledger) -> None:
    fields, name, version, chain_id, contract, salt, extensions = ledger.chain.call("eip712Domain")
    expected = signing.domain(chain_id=ledger.chain_id, contract=ledger.address)
    assert (fields, salt, extensions) == (b"\x0f", bytes(32), [])  # name, version, chainId, verifyingContract
    assert {"name": name, "version": version, "chainId": chain_id, "verifyingContract": contract} == expected


def test_the_contracts_batch_leaf_hash_is_the_one_signed(ledger: Ledger) -> None:
    leaf = (ledger.commitment_id, 3, 1_717_200_000, [sha("a"), sha("b")], "uri", "lantaarnpaal ✓", "L-1", "LP-7")
    assert bytes(ledger.chain.call("batchLeafHash", leaf)) == signing.leaf_hash(leaf)


# ------------------------------------------------------------------ accepted


def test_delivery_signed_with_eth_account_is_recorded_for_the_signer_and_paid_by_the_relayer(
    ledger: Ledger, snapshot: Callable[[], None]
) -> None:
    signer = address_of(SIGNING_REGISTRAR)
    nonce = ledger.nonce(signer)
    signed = sign_delivery(ledger, SIGNING_REGISTRAR)
    result = relay(ledger, signed)
    block = ledger.chain.block(result.block_number)
    assert block is not None
    assert result.event("DeliveryRecorded").args == {
        "delivery_id": ledger.delivery_id + 1,
        "commitment_id": ledger.commitment_id,
        "registrar": signer,
        "quantity": 12,
        "delivered_at": signed.args[1][1],
        "recorded_at": block.timestamp,
        "evidence_hashes": ["0x" + sha("bewijs 1").hex(), "0x" + sha("bewijs 2").hex()],
        "evidence_uri": "https://baarn.nl/bewijs/7",
        "note": "Twaalf woningen opgeleverd — café ‘De Brink’",
        "external_ref": "",
        "asset_ref": "",
    }
    assert ledger.w3.eth.get_transaction(result.tx_hash)["from"] == address_of(ledger.relayer_key)
    assert ledger.chain.balance_wei(signer) == 0
    assert ledger.nonce(signer) == nonce + 1


def test_the_same_typed_data_signed_by_ethers_is_byte_identical_and_accepted_too(
    ledger: Ledger, snapshot: Callable[[], None]
) -> None:
    signed = sign_delivery(ledger, SIGNING_REGISTRAR)
    ethers = ethers_sign([{"privateKey": SIGNING_REGISTRAR, **signing.typed_data_to_json(signed.data)}])[0]
    assert ethers["digest"] == "0x" + signing.digest(signed.data).hex()
    assert ethers["signature"] == "0x" + signed.signature.hex()

    by_eth_account = dict(relay(ledger, signed).event("DeliveryRecorded").args)
    snapshot()  # roll back: the same nonce again, for the ethers signature
    by_ethers = dict(relay(ledger, signed, signed.call(signature=ethers["signature"])).event("DeliveryRecorded").args)
    assert by_ethers["registrar"] == by_eth_account["registrar"] == address_of(SIGNING_REGISTRAR)
    del by_ethers["recorded_at"], by_eth_account["recorded_at"]  # mined a second apart
    assert by_ethers == by_eth_account


def test_signature_is_accepted_in_the_block_whose_time_is_its_deadline(
    ledger: Ledger, snapshot: Callable[[], None]
) -> None:
    deadline = ledger.now() + 2 * MINUTE
    signed = sign_delivery(ledger, SIGNING_REGISTRAR, deadline=deadline)
    ledger.w3.provider.make_request("evm_setNextBlockTimestamp", [deadline])
    result = relay(ledger, signed)
    assert result.event("DeliveryRecorded").args["recorded_at"] == deadline


def test_every_other_signed_write_is_accepted_and_names_its_signer(
    ledger: Ledger, snapshot: Callable[[], None]
) -> None:
    registrar, confirmer = address_of(SIGNING_REGISTRAR), address_of(CONFIRMER)
    cid = ledger.commitment_id

    def write(name: str, args: list[Any], key: str, event: str) -> dict[str, Any]:
        return dict(relay(ledger, sign_write(ledger, name, args, key)).event(event).args)

    amended = write("amendCommitment", [cid, (0, 1, "Renovatie van 180 woningen", "", 0, 0, "raadsbesluit 12")],
                    SIGNING_REGISTRAR, "CommitmentAmended")
    assert (amended["registrar"], amended["title"], amended["amendment_number"]) == (
        registrar, "Renovatie van 180 woningen", 1
    )
    delivered = write("recordDelivery", [cid, delivery(ledger.now() - DAY)], SIGNING_REGISTRAR, "DeliveryRecorded")
    did = delivered["delivery_id"]
    confirmed = write("confirmDelivery", [did, sha("inspectierapport")], CONFIRMER, "DeliveryConfirmed")
    assert (confirmed["confirmer"], confirmed["evidence_hash"]) == (confirmer, "0x" + sha("inspectierapport").hex())
    disputed = write("disputeDelivery", [did, "drie woningen nog niet klaar"], CONFIRMER, "DeliveryDisputed")
    assert (disputed["confirmer"], disputed["reason"]) == (confirmer, "drie woningen nog niet klaar")
    revoked = write("revokeDelivery", [did, "dubbel geboekt"], SIGNING_REGISTRAR, "DeliveryRevoked")
    assert (revoked["registrar"], revoked["delivery_id"]) == (registrar, did)

    leaf = (cid, 4, ledger.now() - DAY, [sha("lamp 1")], "", "lantaarnpaal", "L-1", "LP-1")
    root = signing.leaf_hash(leaf)  # a one-leaf StandardMerkleTree: the root is the leaf hash, no proof
    anchored = write("anchorBatch", [(MUNICIPALITY, root, 1, sha("batch file"), "https://baarn.nl/batch/1")],
                     SIGNING_REGISTRAR, "BatchAnchored")
    assert (anchored["registrar"], anchored["root"]) == (registrar, "0x" + root.hex())
    confirmed = write("confirmBatchedDelivery", [root, leaf, [], bytes(32)], CONFIRMER, "BatchedDeliveryConfirmed")
    assert (confirmed["confirmer"], confirmed["leaf_hash"]) == (confirmer, "0x" + root.hex())
    disputed = write("disputeBatchedDelivery", [root, leaf, [], "lamp brandt niet"], CONFIRMER, "BatchedDeliveryDisputed")
    assert (disputed["confirmer"], disputed["reason"]) == (confirmer, "lamp brandt niet")
    revoked = write("revokeBatchedDelivery", [root, leaf, [], "verkeerde lamp"], SIGNING_REGISTRAR,
                    "BatchedDeliveryRevoked")
    assert (revoked["registrar"], revoked["leaf_hash"]) == (registrar, "0x" + root.hex())

    withdrawn = write("withdrawCommitment", [cid, "vervalt met de nieuwe begroting"], SIGNING_REGISTRAR,
                      "CommitmentWithdrawn")
    assert (withdrawn["registrar"], withdrawn["commitment_id"]) == (registrar, cid)
    assert ledger.chain.balance_wei(registrar) == ledger.chain.balance_wei(confirmer) == 0


# ------------------------------------------------------------------ refused: every field of RecordDelivery


def _with_input(signed: Signed, **changes: Any) -> list[Any]:
    names = signing.OPERATIONS["recordDelivery"].input_fields
    values = {**dict(zip(names, signed.args[1])), **changes}
    return signed.call(args=[signed.args[0], tuple(values[n] for n in names)])


def _flip(signature: bytes, index: int) -> bytes:
    return signature[:index] + bytes([signature[index] ^ 0x01]) + signature[index + 1:]


_EVIDENCE = [sha("bewijs 1"), sha("bewijs 2")]
CHANGED_CALL: dict[str, Callable[[Ledger, Signed], list[Any]]] = {
    "commitmentId": lambda ledger, s: s.call(args=[ledger.other_commitment_id, s.args[1]]),
    "quantity": lambda _, s: _with_input(s, quantity=13),
    "deliveredAt": lambda _, s: _with_input(s, deliveredAt=s.args[1][1] - 1),
    "evidenceHashes (one replaced)": lambda _, s: _with_input(s, evidenceHashes=[_EVIDENCE[0], sha("bewijs 3")]),
    "evidenceHashes (one added)": lambda _, s: _with_input(s, evidenceHashes=[*_EVIDENCE, sha("bewijs 3")]),
    "evidenceHashes (one left out)": lambda _, s: _with_input(s, evidenceHashes=_EVIDENCE[:1]),
    "evidenceHashes (reordered)": lambda _, s: _with_input(s, evidenceHashes=_EVIDENCE[::-1]),
    "evidenceUri": lambda _, s: _with_input(s, evidenceUri="https://baarn.nl/bewijs/8"),
    "note (same text, NFD instead of NFC)": lambda _, s: _with_input(s, note=unicodedata.normalize("NFD", s.args[1][4])),
    "externalRef": lambda _, s: _with_input(s, externalRef="BRN-2024-07"),
    "assetRef": lambda _, s: _with_input(s, assetRef="LP-000123"),
    "deadline": lambda _, s: s.call(deadline=s.data["message"]["deadline"] + 1),
    "signature (r changed)": lambda _, s: s.call(signature=_flip(s.signature, 0)),
    "signature (s changed)": lambda _, s: s.call(signature=_flip(s.signature, 63)),
    "signature (v changed)": lambda _, s: s.call(signature=s.signature[:64] + bytes([55 - s.signature[64]])),
    "signature (64 bytes)": lambda _, s: s.call(signature=s.signature[:64]),
    "signature (empty)": lambda _, s: s.call(signature=b""),
}
"""Calls that differ from what was signed in one value; each is refused with
``LedgerInvalidSignature(signer)``: another digest, so no valid signature of the signer."""


@pytest.mark.parametrize("changed", list(CHANGED_CALL))
def test_a_delivery_changed_after_signing_is_refused_as_an_invalid_signature(ledger: Ledger, changed: str) -> None:
    signed = sign_delivery(ledger, UNTOUCHED_REGISTRAR)
    call = CHANGED_CALL[changed](ledger, signed)
    assert refusal(ledger, signed, call) == ("LedgerInvalidSignature", {"signer": signed.signer})


@pytest.mark.parametrize(
    "domain",
    [{"chain_id": 1}, {"contract": "0x" + "11" * 20}],
    ids=["chainId (signed for mainnet)", "verifyingContract (signed for another ledger)"],
)
def test_a_delivery_signed_for_another_domain_is_refused_as_an_invalid_signature(
    ledger: Ledger, domain: dict[str, Any]
) -> None:
    signed = sign_delivery(ledger, UNTOUCHED_REGISTRAR, **domain)
    assert refusal(ledger, signed) == ("LedgerInvalidSignature", {"signer": signed.signer})


def test_a_delivery_sent_with_another_nonce_than_signed_is_refused_naming_both_nonces(ledger: Ledger) -> None:
    signed = sign_delivery(ledger, UNTOUCHED_REGISTRAR)
    nonce = signed.data["message"]["nonce"]
    assert refusal(ledger, signed, signed.call(nonce=nonce + 1)) == (
        "LedgerInvalidNonce", {"signer": signed.signer, "nonce": nonce + 1, "expected": nonce}
    )


def test_a_delivery_sent_in_another_signers_name_is_refused_as_that_signers_invalid_signature(
    ledger: Ledger, roles: Roles
) -> None:
    signed = sign_delivery(ledger, UNTOUCHED_REGISTRAR)
    other = roles.registrar.address
    assert ledger.nonce(other) == signed.data["message"]["nonce"] == 0  # only the signer differs
    assert refusal(ledger, signed, signed.call(signer=other)) == ("LedgerInvalidSignature", {"signer": other})


def test_refused_writes_use_no_nonce(ledger: Ledger) -> None:
    assert ledger.nonce(UNTOUCHED_REGISTRAR) == 0
    assert ledger.nonce(OUTSIDER) == 0


# ------------------------------------------------------------------ refused: replay, deadline, role


def test_a_replayed_signature_is_refused_with_a_nonce_below_the_expected_one(
    ledger: Ledger, snapshot: Callable[[], None]
) -> None:
    signed = sign_delivery(ledger, SIGNING_REGISTRAR)
    relay(ledger, signed)
    nonce = signed.data["message"]["nonce"]
    assert refusal(ledger, signed) == (
        "LedgerInvalidNonce", {"signer": signed.signer, "nonce": nonce, "expected": nonce + 1}
    )


def test_a_signature_past_its_deadline_is_refused_naming_deadline_and_block_time(ledger: Ledger) -> None:
    deadline = ledger.now() - 1
    signed = sign_delivery(ledger, SIGNING_REGISTRAR, deadline=deadline)
    name, args = refusal(ledger, signed)
    assert (name, args["signer"], args["deadline"]) == ("LedgerSignatureExpired", signed.signer, deadline)
    assert args["block_time"] > deadline  # the time of the block it would have been mined in
    assert set(args) == {"signer", "deadline", "block_time"}


def test_a_signer_without_the_registrar_role_is_refused_naming_the_signer(ledger: Ledger) -> None:
    signed = sign_delivery(ledger, OUTSIDER)
    assert signing.recover(signed.data, signed.signature) == address_of(OUTSIDER)  # a valid signature
    assert refusal(ledger, signed) == ("LedgerNotRegistrar", {"municipality_id": MUNICIPALITY, "account": signed.signer})


def test_a_registrar_signing_a_confirmation_is_refused_as_not_a_confirmer(ledger: Ledger) -> None:
    signed = sign_write(ledger, "confirmDelivery", [ledger.delivery_id, bytes(32)], UNTOUCHED_REGISTRAR)
    assert refusal(ledger, signed) == ("LedgerNotConfirmer", {"municipality_id": MUNICIPALITY, "account": signed.signer})
