"""Signed writes: every registrar and confirmer write has a `...BySig` twin taking an
Authorization(signer, nonce, deadline, signature) over EIP-712 typed data; anyone (the relayer)
submits it and the record names the signer (docs/LEDGER.md "Signed writes").

Each write is signed here with eth_account from the tests' own type strings (typed_data.py,
checked against the contract's *_TYPEHASH constants and ledger/signing.py), by a key derived
from anvil's mnemonic, and submitted by `relayer`, who holds no role. Refusals:
LedgerSignatureExpired(signer, deadline, blockTime), LedgerInvalidNonce(signer, nonce, expected),
LedgerInvalidSignature(signer), and the role errors naming the signer.
"""

from dataclasses import dataclass

import brownie
import pytest
from brownie import CommitmentLedger, chain, web3
from eth_utils import keccak

import typed_data
from constants import (
    AMEND_TARGET,
    AMENDED_TARGET,
    AMENDMENT_REASON,
    ASSET_REF,
    BAARN_ID,
    BATCH_FILE_SHA256,
    BATCH_FILE_URI,
    BATCH_REVOCATION_REASON,
    COMMITMENT_DESCRIPTION,
    COMMITMENT_REF,
    COMMITMENT_TARGET,
    COMMITMENT_THEME,
    COMMITMENT_TITLE,
    COMMITMENT_UNIT,
    CONFIRMATION_EVIDENCE,
    DAY,
    DELIVERY_NOTE,
    DELIVERY_QUANTITY,
    DELIVERY_REF,
    DISPUTE_REASON,
    DOMAIN_NAME,
    DOMAIN_VERSION,
    EVIDENCE,
    EVIDENCE_URI,
    REVOCATION_REASON,
    SOURCE_DOCUMENT_HASH,
    SOURCE_URI,
    WITHDRAWAL_REASON,
    ZERO_ADDRESS,
    ZERO_HASH,
    delivery_id,
)
from ledger import signing

REGISTRAR_WRITES = [
    "registerCommitment", "amendCommitment", "withdrawCommitment", "recordDelivery", "revokeDelivery",
    "anchorBatch", "revokeBatchedDelivery",
]
CONFIRMER_WRITES = ["confirmDelivery", "disputeDelivery", "confirmBatchedDelivery", "disputeBatchedDelivery"]
OPERATIONS = REGISTRAR_WRITES + CONFIRMER_WRITES
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
ERC1271_MAGIC_VALUE = "1626ba7e"  # bytes4(keccak256("isValidSignature(bytes32,bytes)"))
WALLET_ADDRESS = "0x0000000000000000000000000000000000001271"


@dataclass
class Write:
    """One signed write, ready to sign: its arguments before the Authorization, who signs it,
    the role it needs, the event it emits, and its arguments with one signed field changed."""

    operation: str
    args: list
    signer: object
    role_error: str  # the error's name and municipality id, e.g. "LedgerNotRegistrar: 1"
    event: str
    fields: dict  # the event's fields but the block time
    time_field: str  # the event's block-time field
    tampered: list


@pytest.fixture
def write(request, operation, ledger, registrar, clock, promised_at, due_date, commitment_input, amendment_input,
          delivery_input, batch_input):
    """The `operation`'s Write on a ledger prepared for it (Baarn, and the commitment, delivery,
    batch and confirmer it needs)."""
    fixture = request.getfixturevalue
    registrar_role = f"LedgerNotRegistrar: {BAARN_ID}"
    confirmer_role = f"LedgerNotConfirmer: {BAARN_ID}"
    if operation == "registerCommitment":
        fixture("baarn")
        return Write(operation, [commitment_input()], registrar, registrar_role, "CommitmentRegistered", {
            "commitmentId": 1, "municipalityId": BAARN_ID, "registrar": registrar, "externalRef": COMMITMENT_REF,
            "title": COMMITMENT_TITLE, "description": COMMITMENT_DESCRIPTION, "theme": COMMITMENT_THEME,
            "targetQuantity": COMMITMENT_TARGET, "unit": COMMITMENT_UNIT, "promisedAt": promised_at, "dueDate": due_date,
            "sourceDocumentHash": SOURCE_DOCUMENT_HASH, "sourceUri": SOURCE_URI, "parentId": 0, "weight": 0,
        }, "registeredAt", [commitment_input(targetQuantity=COMMITMENT_TARGET + 1)])
    commitment = fixture("commitment")
    if operation == "amendCommitment":
        return Write(operation, [commitment, amendment_input()], registrar, registrar_role, "CommitmentAmended", {
            "commitmentId": commitment, "municipalityId": BAARN_ID, "registrar": registrar, "amendmentNumber": 1,
            "fields": AMEND_TARGET, "title": "", "description": "", "previousTargetQuantity": COMMITMENT_TARGET,
            "targetQuantity": AMENDED_TARGET, "previousDueDate": due_date, "dueDate": due_date, "reason": AMENDMENT_REASON,
        }, "amendedAt", [commitment, amendment_input(targetQuantity=AMENDED_TARGET + 1)])
    if operation == "withdrawCommitment":
        return Write(operation, [commitment, WITHDRAWAL_REASON], registrar, registrar_role, "CommitmentWithdrawn", {
            "commitmentId": commitment, "municipalityId": BAARN_ID, "registrar": registrar, "reason": WITHDRAWAL_REASON,
        }, "withdrawnAt", [commitment, WITHDRAWAL_REASON + "."])
    if operation == "recordDelivery":
        evidence = list(EVIDENCE[:3])
        delivery = delivery_input(evidenceHashes=evidence, externalRef=DELIVERY_REF, assetRef=ASSET_REF)
        return Write(operation, [commitment, delivery], registrar, registrar_role, "DeliveryRecorded", {
            "deliveryId": delivery_id(commitment, 1), "commitmentId": commitment, "registrar": registrar,
            "quantity": DELIVERY_QUANTITY, "deliveredAt": clock.start, "evidenceHashes": tuple(evidence),
            "evidenceUri": EVIDENCE_URI, "note": DELIVERY_NOTE, "externalRef": DELIVERY_REF, "assetRef": ASSET_REF,
        }, "recordedAt", [commitment, delivery_input(evidenceHashes=evidence[::-1], externalRef=DELIVERY_REF, assetRef=ASSET_REF)])
    if operation == "anchorBatch":
        tree = fixture("tree")
        return Write(operation, [batch_input(tree.root, 4)], registrar, registrar_role, "BatchAnchored", {
            "root": tree.root, "municipalityId": BAARN_ID, "registrar": registrar, "leafCount": 4,
            "fileSha256": BATCH_FILE_SHA256, "fileUri": BATCH_FILE_URI,
        }, "anchoredAt", [batch_input(tree.root, 5)])
    if operation in ("revokeBatchedDelivery", "confirmBatchedDelivery", "disputeBatchedDelivery"):
        batch = fixture("batch")
        leaf, other = [batch.root, batch.leaves[0], batch.proof(0)], [batch.root, batch.leaves[1], batch.proof(1)]
        ids = {"root": batch.root, "leafHash": batch.leaf_hash(0)}
        if operation == "revokeBatchedDelivery":
            return Write(operation, [*leaf, BATCH_REVOCATION_REASON], registrar, registrar_role, "BatchedDeliveryRevoked", {
                **ids, "commitmentId": commitment, "registrar": registrar, "reason": BATCH_REVOCATION_REASON,
            }, "revokedAt", [*other, BATCH_REVOCATION_REASON])
        confirmer = fixture("confirmer")
        if operation == "confirmBatchedDelivery":
            return Write(operation, [*leaf, CONFIRMATION_EVIDENCE], confirmer, confirmer_role, "BatchedDeliveryConfirmed", {
                **ids, "confirmer": confirmer, "commitmentId": commitment, "evidenceHash": CONFIRMATION_EVIDENCE,
            }, "confirmedAt", [*other, CONFIRMATION_EVIDENCE])
        return Write(operation, [*leaf, DISPUTE_REASON], confirmer, confirmer_role, "BatchedDeliveryDisputed", {
            **ids, "confirmer": confirmer, "commitmentId": commitment, "reason": DISPUTE_REASON,
        }, "disputedAt", [*other, DISPUTE_REASON])
    delivery = fixture("deliver")(commitment, 50, clock.start).return_value
    if operation == "revokeDelivery":
        return Write(operation, [delivery, REVOCATION_REASON], registrar, registrar_role, "DeliveryRevoked", {
            "deliveryId": delivery, "commitmentId": commitment, "registrar": registrar, "reason": REVOCATION_REASON,
        }, "revokedAt", [delivery, REVOCATION_REASON + "."])
    confirmer = fixture("confirmer")
    if operation == "confirmDelivery":
        return Write(operation, [delivery, CONFIRMATION_EVIDENCE], confirmer, confirmer_role, "DeliveryConfirmed", {
            "deliveryId": delivery, "commitmentId": commitment, "confirmer": confirmer, "evidenceHash": CONFIRMATION_EVIDENCE,
        }, "confirmedAt", [delivery, ZERO_HASH])
    assert operation == "disputeDelivery"
    return Write(operation, [delivery, DISPUTE_REASON], confirmer, confirmer_role, "DeliveryDisputed", {
        "deliveryId": delivery, "commitmentId": commitment, "confirmer": confirmer, "reason": DISPUTE_REASON,
    }, "disputedAt", [delivery, DISPUTE_REASON + "."])


def _refused_as_invalid(signer):
    return f"LedgerInvalidSignature: {signer.lower()}"


# ------------------------------------------------------------------ type strings and domain


@pytest.mark.parametrize("operation", OPERATIONS)
def test_type_hash_is_the_keccak_of_the_type_string(ledger, operation):
    assert getattr(ledger, typed_data.TYPEHASH_CONSTANTS[operation])() == "0x" + keccak(text=typed_data.TYPE_STRINGS[operation]).hex()


def test_the_off_chain_signer_holds_the_same_type_strings(ledger):
    # ledger/signing.py signs for the API and the importer
    assert {name: op.type_string for name, op in signing.OPERATIONS.items()} == typed_data.TYPE_STRINGS
    assert (signing.DOMAIN_NAME, signing.DOMAIN_VERSION) == (DOMAIN_NAME, DOMAIN_VERSION)


def test_every_write_of_a_registrar_or_confirmer_has_a_signed_twin(ledger):
    functions = {entry["name"] for entry in ledger.abi if entry["type"] == "function"}
    assert {name[: -len("BySig")] for name in functions if name.endswith("BySig")} == set(OPERATIONS)


def test_the_eip712_domain_is_the_ledgers(ledger):
    # ERC-5267: fields 0x0f = name, version, chainId, verifyingContract; no salt, no extensions
    assert tuple(ledger.eip712Domain()) == ("0x0f", DOMAIN_NAME, DOMAIN_VERSION, chain.id, ledger.address, ZERO_HASH, ())


def test_a_signature_made_by_the_off_chain_signer_is_accepted(ledger, commitment, registrar, relayer, delivery_input, private_keys, clock):
    args = [commitment, delivery_input(assetRef=ASSET_REF)]
    deadline = clock.now() + DAY
    message = signing.message("recordDelivery", args, nonce=0, deadline=deadline)
    data = signing.typed_data("recordDelivery", message, chain_id=chain.id, contract=ledger.address)
    signature = signing.sign(data, private_keys[registrar.address])

    tx = ledger.recordDeliveryBySig(*args, (registrar, 0, deadline, signature), {"from": relayer})

    assert tx.events["DeliveryRecorded"]["registrar"] == registrar


# ------------------------------------------------------------------ every signed write


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_signed_write_relayed_by_another_account_is_accepted_and_names_the_signer(ledger, write, relayer, authorize, relay, clock):
    auth = authorize(write.operation, write.args, write.signer)
    block_time = clock.now() + 60
    clock.next_block_at(block_time)

    tx = relay(write.operation, write.args, auth)

    assert tx.sender == relayer
    assert len(tx.events) == 1
    assert tx.events[write.event] == {**write.fields, write.time_field: block_time}
    assert relayer.address not in tx.events[write.event].values()
    assert (ledger.nonces(write.signer), ledger.nonces(relayer)) == (1, 0)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_signed_write_is_accepted_at_its_deadline(ledger, write, authorize, relay, clock):
    deadline = clock.now() + 60
    auth = authorize(write.operation, write.args, write.signer, deadline=deadline)
    clock.next_block_at(deadline)

    tx = relay(write.operation, write.args, auth)

    assert tx.timestamp == deadline
    assert tx.events[write.event][write.time_field] == deadline


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_signed_write_after_its_deadline_is_refused(ledger, write, authorize, relay, clock):
    deadline = clock.now() + 60
    auth = authorize(write.operation, write.args, write.signer, deadline=deadline)
    clock.next_block_at(deadline + 1)
    with brownie.reverts(f"LedgerSignatureExpired: {write.signer.address.lower()}, {deadline}, {deadline + 1}"):
        relay(write.operation, write.args, auth)
    assert ledger.nonces(write.signer) == 0


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_replayed_signed_write_is_refused(ledger, write, authorize, relay):
    auth = authorize(write.operation, write.args, write.signer)
    relay(write.operation, write.args, auth)
    with brownie.reverts(f"LedgerInvalidNonce: {write.signer.address.lower()}, 0, 1"):
        relay(write.operation, write.args, auth)
    assert ledger.nonces(write.signer) == 1


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_signed_write_with_a_nonce_ahead_of_the_signers_is_refused(ledger, write, authorize, relay):
    auth = authorize(write.operation, write.args, write.signer, nonce=1)
    with brownie.reverts(f"LedgerInvalidNonce: {write.signer.address.lower()}, 1, 0"):
        relay(write.operation, write.args, auth)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_write_signed_with_another_key_is_refused(ledger, write, stranger, private_keys, authorize, relay):
    auth = authorize(write.operation, write.args, write.signer, key=private_keys[stranger.address])
    with brownie.reverts(_refused_as_invalid(write.signer.address)):
        relay(write.operation, write.args, auth)
    assert ledger.nonces(write.signer) == 0


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_signature_for_another_chain_is_refused(ledger, write, authorize, relay):
    auth = authorize(write.operation, write.args, write.signer, chain_id=1)
    with brownie.reverts(_refused_as_invalid(write.signer.address)):
        relay(write.operation, write.args, auth)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_signature_for_another_ledger_is_refused(ledger, write, authorize, relay):
    auth = authorize(write.operation, write.args, write.signer, contract="0x" + "5e" * 20)
    with brownie.reverts(_refused_as_invalid(write.signer.address)):
        relay(write.operation, write.args, auth)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_signed_write_whose_arguments_were_changed_is_refused(ledger, write, authorize, relay):
    auth = authorize(write.operation, write.args, write.signer)
    with brownie.reverts(_refused_as_invalid(write.signer.address)):
        relay(write.operation, write.tampered, auth)


@pytest.mark.parametrize("operation", OPERATIONS)
def test_a_signed_write_of_an_account_without_the_role_is_refused_naming_the_signer(ledger, write, stranger, authorize, relay):
    auth = authorize(write.operation, write.args, stranger)
    with brownie.reverts(f"{write.role_error}, {stranger.address.lower()}"):
        relay(write.operation, write.args, auth)
    assert ledger.nonces(stranger) == 0  # a refused write uses no nonce


def test_the_signer_may_submit_its_own_signed_write(ledger, commitment, registrar, delivery_input, authorize):
    args = [commitment, delivery_input()]

    tx = ledger.recordDeliveryBySig(*args, authorize("recordDelivery", args, registrar), {"from": registrar})

    assert tx.events["DeliveryRecorded"]["registrar"] == registrar
    assert ledger.nonces(registrar) == 1


def test_a_registrar_relaying_a_confirmers_signed_write_is_not_named(ledger, commitment, registrar, confirmer, deliver, clock, authorize):
    delivery = deliver(commitment, 50, clock.start).return_value
    args = [delivery, DISPUTE_REASON]

    tx = ledger.disputeDeliveryBySig(*args, authorize("disputeDelivery", args, confirmer), {"from": registrar})

    assert tx.events["DeliveryDisputed"]["confirmer"] == confirmer
    assert (ledger.verdictOf(delivery, confirmer), ledger.verdictOf(delivery, registrar)) == (2, 0)


# ------------------------------------------------------------------ nonces


def test_nonces_count_each_signers_writes_from_zero(ledger, commitment, registrar, confirmer, relayer, delivery_input, authorize, relay):
    assert (ledger.nonces(registrar), ledger.nonces(confirmer)) == (0, 0)
    for number in (1, 2, 3):
        args = [commitment, delivery_input(quantity=number)]
        auth = authorize("recordDelivery", args, registrar)
        assert auth[1] == number - 1
        assert relay("recordDelivery", args, auth).return_value == delivery_id(commitment, number)
    args = [delivery_id(commitment, 1), ZERO_HASH]
    relay("confirmDelivery", args, authorize("confirmDelivery", args, confirmer))

    assert (ledger.nonces(registrar), ledger.nonces(confirmer), ledger.nonces(relayer)) == (3, 1, 0)


def test_direct_writes_use_no_nonce(ledger, commitment, registrar, delivery_input):
    ledger.recordDelivery(commitment, delivery_input(), {"from": registrar})
    assert ledger.nonces(registrar) == 0


def test_a_signature_for_an_older_nonce_is_refused_after_later_writes(ledger, commitment, registrar, delivery_input, authorize, relay):
    first = [commitment, delivery_input(quantity=1)]
    stale = authorize("recordDelivery", first, registrar)
    relay("recordDelivery", first, stale)
    second = [commitment, delivery_input(quantity=2)]
    relay("recordDelivery", second, authorize("recordDelivery", second, registrar))

    with brownie.reverts(f"LedgerInvalidNonce: {registrar.address.lower()}, 0, 2"):
        relay("recordDelivery", first, stale)


def test_two_signed_writes_of_one_signer_can_be_relayed_in_one_multicall(ledger, commitment, registrar, relayer, delivery_input, authorize):
    calls = []
    for nonce in (0, 1):
        args = [commitment, delivery_input(quantity=10 + nonce)]
        calls.append(ledger.recordDeliveryBySig.encode_input(*args, authorize("recordDelivery", args, registrar, nonce=nonce)))

    tx = ledger.multicall(calls, {"from": relayer})

    assert [(e["deliveryId"], e["registrar"], e["quantity"]) for e in tx.events["DeliveryRecorded"]] == [
        (delivery_id(commitment, 1), registrar, 10), (delivery_id(commitment, 2), registrar, 11)
    ]
    assert ledger.nonces(registrar) == 2


def test_a_relayed_write_returns_what_the_direct_write_returns(ledger, baarn, registrar, commitment_input, amendment_input, authorize, relay):
    register = [commitment_input()]
    assert relay("registerCommitment", register, authorize("registerCommitment", register, registrar)).return_value == 1
    amend = [1, amendment_input()]
    assert relay("amendCommitment", amend, authorize("amendCommitment", amend, registrar)).return_value == 1


# ------------------------------------------------------------------ signatures


def test_a_signature_of_the_zero_address_is_refused(ledger, commitment, registrar, delivery_input, authorize, relay):
    args = [commitment, delivery_input()]
    _, nonce, deadline, signature = authorize("recordDelivery", args, registrar)
    with brownie.reverts(_refused_as_invalid(ZERO_ADDRESS)):
        relay("recordDelivery", args, (ZERO_ADDRESS, nonce, deadline, signature))
    with brownie.reverts(_refused_as_invalid(ZERO_ADDRESS)):
        relay("recordDelivery", args, (ZERO_ADDRESS, nonce, deadline, b"\x00" * 65))


def test_the_malleable_twin_of_a_signature_is_refused(ledger, commitment, registrar, delivery_input, authorize, relay):
    # OpenZeppelin ECDSA accepts only s in the lower half of the curve order (EIP-2)
    args = [commitment, delivery_input()]
    signer, nonce, deadline, signature = authorize("recordDelivery", args, registrar)
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    twin = r + (SECP256K1_ORDER - s).to_bytes(32, "big") + bytes([55 - v])  # v 27 <-> 28
    with brownie.reverts(_refused_as_invalid(signer)):
        relay("recordDelivery", args, (signer, nonce, deadline, twin))


@pytest.mark.parametrize("length", [0, 64, 66], ids=["empty", "64 bytes (EIP-2098 compact)", "66 bytes"])
def test_a_signature_that_is_not_65_bytes_is_refused(ledger, commitment, registrar, delivery_input, authorize, relay, length):
    args = [commitment, delivery_input()]
    signer, nonce, deadline, signature = authorize("recordDelivery", args, registrar)
    with brownie.reverts(_refused_as_invalid(signer)):
        relay("recordDelivery", args, (signer, nonce, deadline, (signature + b"\x00")[:length]))


def test_a_signature_for_a_second_ledger_on_the_same_chain_is_refused_by_the_first(
    ledger, commitment, registrar, platform_admin, delivery_input, authorize, relay
):
    second = CommitmentLedger.deploy(platform_admin, {"from": platform_admin})
    args = [commitment, delivery_input()]
    with brownie.reverts(_refused_as_invalid(registrar.address)):
        relay("recordDelivery", args, authorize("recordDelivery", args, registrar, contract=second.address))


@pytest.mark.parametrize(("signed", "submitted"), [
    ("disputeDelivery", "revokeDelivery"),
    ("revokeDelivery", "withdrawCommitment"),
    ("disputeBatchedDelivery", "revokeBatchedDelivery"),
])
def test_a_signature_for_one_write_is_refused_by_another_of_the_same_shape(ledger, batch, registrar, signed, submitted, authorize, relay):
    # the primary type's name is in its type hash: equal fields do not make equal digests
    if "Batched" in signed:
        args = [batch.root, batch.leaves[0], batch.proof(0), DISPUTE_REASON]
    else:
        args = [1, DISPUTE_REASON]  # a delivery id for one, a commitment id for the other
    with brownie.reverts(_refused_as_invalid(registrar.address)):
        relay(submitted, args, authorize(signed, args, registrar))


def test_a_signature_made_while_registrar_is_refused_once_the_role_is_removed(
    ledger, commitment, council_admin, registrar, delivery_input, authorize, relay
):
    args = [commitment, delivery_input()]
    auth = authorize("recordDelivery", args, registrar)
    ledger.removeRegistrar(BAARN_ID, registrar, {"from": council_admin})
    with brownie.reverts(f"LedgerNotRegistrar: {BAARN_ID}, {registrar.address.lower()}"):
        relay("recordDelivery", args, auth)


# ------------------------------------------------------------------ who recorded it


def test_the_signer_of_a_relayed_delivery_is_its_recorder_for_self_confirmation(
    ledger, commitment, registrar, confirmer, council_admin, delivery_input, authorize
):
    # the confirmer relays the registrar's delivery: it did not record it, so it may confirm it
    args = [commitment, delivery_input()]
    delivery = ledger.recordDeliveryBySig(*args, authorize("recordDelivery", args, registrar), {"from": confirmer}).return_value
    ledger.confirmDelivery(delivery, CONFIRMATION_EVIDENCE, {"from": confirmer})

    ledger.addConfirmer(BAARN_ID, registrar, {"from": council_admin})
    with brownie.reverts(f"LedgerSelfConfirmation: {registrar.address.lower()}"):
        ledger.confirmDelivery(delivery, CONFIRMATION_EVIDENCE, {"from": registrar})


def test_a_signed_confirmation_of_the_signers_own_delivery_is_refused(
    ledger, commitment, registrar, council_admin, delivery_input, deliver, clock, authorize, relay
):
    delivery = deliver(commitment, 50, clock.start).return_value
    ledger.addConfirmer(BAARN_ID, registrar, {"from": council_admin})
    args = [delivery, CONFIRMATION_EVIDENCE]
    with brownie.reverts(f"LedgerSelfConfirmation: {registrar.address.lower()}"):
        relay("confirmDelivery", args, authorize("confirmDelivery", args, registrar))


def test_a_batch_anchored_by_signature_is_the_signers_batch(ledger, tree, registrar, batch_input, authorize, relay):
    args = [batch_input(tree.root, 4)]
    relay("anchorBatch", args, authorize("anchorBatch", args, registrar))
    assert tuple(ledger.batchOf(tree.root)) == (BAARN_ID, registrar, 4)


# ------------------------------------------------------------------ contract wallets (ERC-1271)


def _wallet_code(digest):
    """Runtime code of a wallet whose isValidSignature(hash, signature) returns the ERC-1271 magic
    value for exactly one hash, and 0xffffffff for any other (the signature bytes are ignored)."""
    deny = "63ffffffff60e01b60005260206000f3"  # PUSH4 0xffffffff PUSH1 224 SHL, return it as one word
    allow = "5b63" + ERC1271_MAGIC_VALUE + "60e01b60005260206000f3"  # JUMPDEST, the same with the magic value
    check = "600435" + "7f" + digest.hex() + "14" + "6038" + "57"  # CALLDATALOAD(4) == digest ? JUMP 0x38
    code = check + deny + allow
    assert code.index("5b63") // 2 == 0x38
    return "0x" + code


def test_a_contract_wallet_registrar_signs_with_erc1271(ledger, commitment, council_admin, delivery_input, relay, clock):
    deadline = clock.now() + DAY
    args = [commitment, delivery_input()]
    digest = typed_data.digest("recordDelivery", args, nonce=0, deadline=deadline, chain_id=chain.id, contract=ledger.address)
    assert web3.provider.make_request("anvil_setCode", [WALLET_ADDRESS, _wallet_code(digest)]).get("error") is None
    ledger.addRegistrar(BAARN_ID, WALLET_ADDRESS, {"from": council_admin})

    tx = relay("recordDelivery", args, (WALLET_ADDRESS, 0, deadline, b""))

    assert tx.events["DeliveryRecorded"]["registrar"] == WALLET_ADDRESS
    assert ledger.nonces(WALLET_ADDRESS) == 1
    with brownie.reverts(_refused_as_invalid(WALLET_ADDRESS)):  # nonce 1: another digest, which the wallet refuses
        relay("recordDelivery", args, (WALLET_ADDRESS, 1, deadline, b""))
