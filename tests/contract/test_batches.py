"""anchorBatch, batchOf, batchLeafHash, verifyBatchedDelivery and revokeBatchedDelivery.

A batch is one Merkle root for many deliveries (docs/LEDGER.md "Batches"): the contract keeps
one slot per root and cannot see the leaves, so `statusOf` never counts them; a leaf is proved
with an OpenZeppelin StandardMerkleTree proof (sorted pairs, double-hashed leaves). Trees are
built by the tests' own helper (standard_tree.py), checked here against
@openzeppelin/merkle-tree itself; the trees of ledger/merkle.py are proved on chain too. Custom errors render bytes32 arguments as Python bytes.
"""

import json
import subprocess
from pathlib import Path

import brownie
import pytest

from constants import (
    BAARN_ID,
    BATCH_FILE_SHA256,
    BATCH_FILE_URI,
    BATCH_REVOCATION_REASON,
    COMMITMENT_TARGET,
    DAY,
    EVIDENCE,
    MAX_LEAF_COUNT,
    MAX_REASON,
    MAX_URI,
    NOT_BAARN_REGISTRARS,
    PENDING,
    UNKNOWN_ID,
    UTRECHT_ID,
    WITHDRAWAL_REASON,
    ZERO_HASH,
    sha256_hex,
)
from ledger import merkle
from standard_tree import LEAF_ENCODING, StandardTree, as_error_arg, hex32, leaf_hash

LARGE_TREE_LEAVES = 1_000
OZ_TREE_SCRIPT = """
const {StandardMerkleTree} = require(process.argv[1] + "/node_modules/@openzeppelin/merkle-tree");
const {values, encoding} = JSON.parse(require("fs").readFileSync(0, "utf8"));
const tree = StandardMerkleTree.of(values, encoding);
console.log(JSON.stringify({root: tree.root, proofs: values.map((_, i) => tree.getProof(i))}));
"""
REPO_ROOT = Path(__file__).resolve().parents[2]


def _root(label):
    """A root no test tree has (the contract cannot tell it is not a tree's)."""
    return sha256_hex(f"root {label}".encode())


@pytest.fixture(scope="module")
def large_tree():
    """1,000 deliveries against commitments 1..4, built once per module (no chain state)."""
    return StandardTree([
        (1 + i % 4, 1 + i % 7, 1_700_000_000 + i, [EVIDENCE[i % 16]], "", "", f"LP-{i:04}", f"LP-{i:04}")
        for i in range(LARGE_TREE_LEAVES)
    ])


def _verified(ledger, root, leaf, proof):
    """verifyBatchedDelivery as a plain tuple (included, leafHash, revoked)."""
    return tuple(ledger.verifyBatchedDelivery(root, leaf, proof))


# ------------------------------------------------------------------ the tests' tree is OpenZeppelin's


def test_the_tests_tree_equals_openzeppelins_standard_merkle_tree(tree):
    values = [[str(leaf[0]), str(leaf[1]), str(leaf[2]), list(leaf[3]), *leaf[4:]] for leaf in tree.leaves]
    result = subprocess.run(
        ["node", "-e", OZ_TREE_SCRIPT, str(REPO_ROOT)],
        input=json.dumps({"values": values, "encoding": LEAF_ENCODING}),
        capture_output=True, text=True, check=True,
    )
    expected = json.loads(result.stdout)
    assert expected == {"root": tree.root, "proofs": [tree.proof(i) for i in range(len(tree.leaves))]}


def test_batch_leaf_hash_is_the_standard_merkle_tree_leaf_hash(ledger, tree, stranger):
    for index, leaf in enumerate(tree.leaves):
        assert ledger.batchLeafHash(leaf, {"from": stranger}) == tree.leaf_hash(index) == hex32(leaf_hash(leaf))


def test_a_batch_built_by_ledger_merkle_is_proved_on_chain(ledger, commitment, registrar, batch_input, batch_leaf):
    # ledger/merkle.py builds what the API and the importer anchor; its leaf encoding is written out by hand
    leaves = [
        batch_leaf(quantity=1, note="Lantaarnpaal vervangen – Eemnesserweg 12 (LED, 3000 K) · ✓", assetRef="LP-0308-00417"),
        batch_leaf(quantity=2, evidenceHashes=list(EVIDENCE[:16]), evidenceUri="u" * 100, externalRef="OPL-é"),
        batch_leaf(quantity=3, evidenceUri="", note=""),
    ]
    built = merkle.build_tree([merkle.BatchLeaf(*leaf) for leaf in leaves])
    ledger.anchorBatch(batch_input(built.root_hex, 3, fileSha256=sha256_hex(built.to_file_bytes())), {"from": registrar})

    assert built.root_hex == StandardTree(leaves).root
    for index, leaf in enumerate(leaves):
        assert ledger.batchLeafHash(leaf) == hex32(built.leaf_hashes[index])
        assert _verified(ledger, built.root_hex, leaf, built.proof_hex(index)) == (True, hex32(built.leaf_hashes[index]), False)


# ------------------------------------------------------------------ anchorBatch


def test_registrar_can_anchor_a_batch(ledger, tree, registrar, batch_input, clock):
    clock.next_block_at(clock.start + DAY)

    tx = ledger.anchorBatch(batch_input(tree.root, 4), {"from": registrar})

    assert len(tx.events) == 1
    assert tx.events["BatchAnchored"] == {
        "root": tree.root,
        "municipalityId": BAARN_ID,
        "registrar": registrar,
        "leafCount": 4,
        "fileSha256": BATCH_FILE_SHA256,
        "fileUri": BATCH_FILE_URI,
        "anchoredAt": clock.start + DAY,
    }
    assert tuple(ledger.batchOf(tree.root)) == (BAARN_ID, registrar, 4)


def test_anchoring_a_batch_records_no_delivery(ledger, batch, commitment, state, status):
    # the contract cannot see the leaves: readers count them once they hold the file
    assert status(commitment) == (PENDING, 0, COMMITMENT_TARGET, 0, 0)
    assert state(commitment)[3] == 0
    assert tuple(ledger.counts()) == (1, 1)


def test_another_registrar_of_the_municipality_can_anchor_a_batch(ledger, baarn, council_admin, newcomer, batch_input):
    ledger.addRegistrar(BAARN_ID, newcomer, {"from": council_admin})

    tx = ledger.anchorBatch(batch_input(_root("newcomer"), 1), {"from": newcomer})

    assert tx.events["BatchAnchored"]["registrar"] == newcomer
    assert tuple(ledger.batchOf(_root("newcomer"))) == (BAARN_ID, newcomer, 1)


@pytest.mark.parametrize("role", NOT_BAARN_REGISTRARS)
def test_account_that_is_not_registrar_of_the_municipality_cannot_anchor_a_batch(ledger, utrecht, batch_input, role, request):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"LedgerNotRegistrar: {BAARN_ID}, {caller.address.lower()}"):
        ledger.anchorBatch(batch_input(_root("refused"), 1), {"from": caller})


def test_removed_registrar_cannot_anchor_a_batch(ledger, baarn, council_admin, registrar, batch_input):
    ledger.removeRegistrar(BAARN_ID, registrar, {"from": council_admin})
    with brownie.reverts(f"LedgerNotRegistrar: {BAARN_ID}, {registrar.address.lower()}"):
        ledger.anchorBatch(batch_input(_root("removed"), 1), {"from": registrar})


@pytest.mark.parametrize("municipality_id", [0, UNKNOWN_ID])
def test_batch_for_an_unknown_municipality_is_refused_as_not_its_registrar(ledger, baarn, registrar, batch_input, municipality_id):
    # an unknown municipality has no registrars, so the role check refuses it
    with brownie.reverts(f"LedgerNotRegistrar: {municipality_id}, {registrar.address.lower()}"):
        ledger.anchorBatch(batch_input(_root("unknown"), 1, municipalityId=municipality_id), {"from": registrar})


@pytest.mark.parametrize("zero", ["root", "leafCount", "fileSha256"])
def test_batch_with_a_zero_root_leaf_count_or_file_hash_is_refused(ledger, baarn, registrar, batch_input, zero):
    fields = {"root": _root("zero"), "leafCount": 3, "fileSha256": BATCH_FILE_SHA256}
    fields[zero] = 0 if zero == "leafCount" else ZERO_HASH
    expected = f"LedgerInvalidBatch: {as_error_arg(fields['root'])}, {fields['leafCount']}, {as_error_arg(fields['fileSha256'])}"
    with brownie.reverts(expected):
        ledger.anchorBatch(batch_input(**fields), {"from": registrar})


@pytest.mark.parametrize("leaf_count", [1, MAX_LEAF_COUNT])
def test_batch_leaf_count_at_the_bounds_is_accepted(ledger, baarn, registrar, batch_input, leaf_count):
    tx = ledger.anchorBatch(batch_input(_root(leaf_count), leaf_count), {"from": registrar})
    assert tx.events["BatchAnchored"]["leafCount"] == leaf_count
    assert ledger.batchOf(_root(leaf_count))[2] == leaf_count


def test_batch_without_file_uri_is_refused(ledger, baarn, registrar, batch_input):
    with brownie.reverts("LedgerEmptyText: fileUri"):
        ledger.anchorBatch(batch_input(_root("uri"), 1, fileUri=""), {"from": registrar})


def test_batch_file_uri_of_maximum_length_is_accepted(ledger, baarn, registrar, batch_input):
    uri = "u" * MAX_URI
    tx = ledger.anchorBatch(batch_input(_root("uri"), 1, fileUri=uri), {"from": registrar})
    assert tx.events["BatchAnchored"]["fileUri"] == uri


def test_batch_file_uri_one_byte_too_long_is_refused(ledger, baarn, registrar, batch_input):
    with brownie.reverts(f"LedgerTextTooLong: fileUri, {MAX_URI + 1}, {MAX_URI}"):
        ledger.anchorBatch(batch_input(_root("uri"), 1, fileUri="u" * (MAX_URI + 1)), {"from": registrar})


def test_anchoring_the_same_root_twice_is_refused(ledger, batch, registrar, batch_input):
    with brownie.reverts(f"LedgerBatchAlreadyAnchored: {as_error_arg(batch.root)}, {BAARN_ID}"):
        ledger.anchorBatch(batch_input(batch.root, 4, fileSha256=sha256_hex(b"another file")), {"from": registrar})


def test_another_municipality_cannot_anchor_a_root_already_anchored(ledger, batch, utrecht, registrar, other_registrar, batch_input):
    # the error names the municipality that holds the root
    with brownie.reverts(f"LedgerBatchAlreadyAnchored: {as_error_arg(batch.root)}, {BAARN_ID}"):
        ledger.anchorBatch(batch_input(batch.root, 4, municipalityId=utrecht), {"from": other_registrar})
    assert tuple(ledger.batchOf(batch.root)) == (BAARN_ID, registrar, 4)


def test_batch_is_refused_while_paused(ledger, tree, registrar, platform_admin, batch_input):
    ledger.pause({"from": platform_admin})
    with brownie.reverts("LedgerPaused: "):
        ledger.anchorBatch(batch_input(tree.root, 4), {"from": registrar})


def test_batch_of_an_unknown_root_is_refused(ledger, batch, stranger):
    with brownie.reverts(f"LedgerUnknownBatch: {as_error_arg(_root('never'))}"):
        ledger.batchOf(_root("never"), {"from": stranger})


def test_batches_of_two_municipalities_are_kept_apart(ledger, batch, utrecht, registrar, other_registrar, batch_input):
    ledger.anchorBatch(batch_input(_root("utrecht"), 7, municipalityId=utrecht), {"from": other_registrar})

    assert tuple(ledger.batchOf(batch.root)) == (BAARN_ID, registrar, 4)
    assert tuple(ledger.batchOf(_root("utrecht"))) == (UTRECHT_ID, other_registrar, 7)


# ------------------------------------------------------------------ verifyBatchedDelivery


def test_every_leaf_of_a_batch_is_proved_included(ledger, batch, stranger):
    for index, leaf in enumerate(batch.leaves):
        assert _verified(ledger, batch.root, leaf, batch.proof(index)) == (True, batch.leaf_hash(index), False)


def test_a_tampered_leaf_is_not_included(ledger, batch, batch_leaf):
    tampered = list(batch.leaves[0])
    tampered[1] += 1  # quantity

    included, leaf_hash_, revoked = _verified(ledger, batch.root, tampered, batch.proof(0))

    assert (included, revoked) == (False, False)
    assert leaf_hash_ == hex32(leaf_hash(tampered)) != batch.leaf_hash(0)


@pytest.mark.parametrize("tamper", ["flipped node", "missing node", "extra node", "proof of another leaf", "empty"])
def test_a_tampered_proof_proves_nothing(ledger, batch, tamper):
    proof = batch.proof(0)
    proof = {
        "flipped node": [proof[0][:-2] + f"{int(proof[0][-2:], 16) ^ 1:02x}"] + proof[1:],
        "missing node": proof[:-1],
        "extra node": proof + [batch.leaf_hash(1)],
        "proof of another leaf": batch.proof(2),
        "empty": [],
    }[tamper]
    assert _verified(ledger, batch.root, batch.leaves[0], proof) == (False, batch.leaf_hash(0), False)


def test_a_leaf_is_not_included_in_another_batch(ledger, batch, registrar, batch_input, batch_leaf):
    other = StandardTree([batch_leaf(quantity=1), batch_leaf(quantity=2)])
    ledger.anchorBatch(batch_input(other.root, 2), {"from": registrar})

    assert _verified(ledger, other.root, batch.leaves[0], batch.proof(0))[0] is False


def test_verifying_against_an_unknown_root_is_refused(ledger, tree):
    with brownie.reverts(f"LedgerUnknownBatch: {as_error_arg(tree.root)}"):
        ledger.verifyBatchedDelivery(tree.root, tree.leaves[0], tree.proof(0))


def test_a_batch_of_one_leaf_has_its_leaf_hash_as_root_and_an_empty_proof(ledger, commitment, registrar, batch_input, batch_leaf):
    single = StandardTree([batch_leaf()])
    ledger.anchorBatch(batch_input(single.root, 1), {"from": registrar})

    assert single.root == single.leaf_hash(0) and single.proof(0) == []
    assert _verified(ledger, single.root, single.leaves[0], []) == (True, single.root, False)


def test_leaves_of_a_1000_leaf_batch_are_proved_with_ten_hashes(ledger, baarn, registrar, batch_input, large_tree):
    ledger.anchorBatch(batch_input(large_tree.root, LARGE_TREE_LEAVES), {"from": registrar})

    for index in (0, 499, LARGE_TREE_LEAVES - 1):
        proof = large_tree.proof(index)
        assert len(proof) in (9, 10)  # ceil(log2(1000)) = 10; leaves of the shallower level need 9
        assert _verified(ledger, large_tree.root, large_tree.leaves[index], proof) == (True, large_tree.leaf_hash(index), False)
    assert _verified(ledger, large_tree.root, large_tree.leaves[1], large_tree.proof(0))[0] is False


# ------------------------------------------------------------------ revokeBatchedDelivery


def test_registrar_can_revoke_a_batched_delivery(ledger, batch, registrar, clock):
    clock.next_block_at(clock.start + 2 * DAY)

    tx = ledger.revokeBatchedDelivery(batch.root, batch.leaves[1], batch.proof(1), BATCH_REVOCATION_REASON, {"from": registrar})

    assert len(tx.events) == 1
    assert tx.events["BatchedDeliveryRevoked"] == {
        "root": batch.root,
        "leafHash": batch.leaf_hash(1),
        "commitmentId": 1,
        "registrar": registrar,
        "reason": BATCH_REVOCATION_REASON,
        "revokedAt": clock.start + 2 * DAY,
    }


def test_a_revoked_batched_delivery_is_reported_revoked_and_the_others_are_not(ledger, batch, registrar):
    ledger.revokeBatchedDelivery(batch.root, batch.leaves[1], batch.proof(1), BATCH_REVOCATION_REASON, {"from": registrar})

    assert _verified(ledger, batch.root, batch.leaves[1], batch.proof(1)) == (True, batch.leaf_hash(1), True)
    assert _verified(ledger, batch.root, batch.leaves[2], batch.proof(2)) == (True, batch.leaf_hash(2), False)


def test_another_registrar_of_the_municipality_can_revoke_a_batched_delivery(ledger, batch, council_admin, newcomer):
    ledger.addRegistrar(BAARN_ID, newcomer, {"from": council_admin})

    tx = ledger.revokeBatchedDelivery(batch.root, batch.leaves[0], batch.proof(0), BATCH_REVOCATION_REASON, {"from": newcomer})

    assert tx.events["BatchedDeliveryRevoked"]["registrar"] == newcomer


@pytest.mark.parametrize("role", NOT_BAARN_REGISTRARS)
def test_account_that_is_not_registrar_of_the_municipality_cannot_revoke_a_batched_delivery(ledger, batch, utrecht, role, request):
    caller = request.getfixturevalue(role)
    with brownie.reverts(f"LedgerNotRegistrar: {BAARN_ID}, {caller.address.lower()}"):
        ledger.revokeBatchedDelivery(batch.root, batch.leaves[0], batch.proof(0), BATCH_REVOCATION_REASON, {"from": caller})


def test_removed_registrar_cannot_revoke_a_batched_delivery(ledger, batch, council_admin, registrar):
    ledger.removeRegistrar(BAARN_ID, registrar, {"from": council_admin})
    with brownie.reverts(f"LedgerNotRegistrar: {BAARN_ID}, {registrar.address.lower()}"):
        ledger.revokeBatchedDelivery(batch.root, batch.leaves[0], batch.proof(0), BATCH_REVOCATION_REASON, {"from": registrar})


def test_revoking_with_a_bad_proof_is_refused(ledger, batch, registrar):
    with brownie.reverts(f"LedgerInvalidProof: {as_error_arg(batch.root)}, {as_error_arg(batch.leaf_hash(0))}"):
        ledger.revokeBatchedDelivery(batch.root, batch.leaves[0], batch.proof(1), BATCH_REVOCATION_REASON, {"from": registrar})


def test_revoking_a_leaf_that_is_not_in_the_batch_is_refused(ledger, batch, registrar, batch_leaf):
    outsider = batch_leaf(quantity=99)
    with brownie.reverts(f"LedgerInvalidProof: {as_error_arg(batch.root)}, {as_error_arg(leaf_hash(outsider))}"):
        ledger.revokeBatchedDelivery(batch.root, outsider, batch.proof(0), BATCH_REVOCATION_REASON, {"from": registrar})


def test_revoking_in_an_unknown_batch_is_refused(ledger, tree, registrar):
    with brownie.reverts(f"LedgerUnknownBatch: {as_error_arg(tree.root)}"):
        ledger.revokeBatchedDelivery(tree.root, tree.leaves[0], tree.proof(0), BATCH_REVOCATION_REASON, {"from": registrar})


def test_revoking_a_leaf_of_another_municipalitys_commitment_is_refused(
    ledger, commitment, utrecht, registrar, other_registrar, commitment_input, batch_input, batch_leaf
):
    # a Baarn batch that (wrongly) lists a delivery of Utrecht's commitment 2
    utrecht_commitment = ledger.registerCommitment(commitment_input(municipalityId=utrecht), {"from": other_registrar}).return_value
    mixed = StandardTree([batch_leaf(), batch_leaf(commitmentId=utrecht_commitment)])
    ledger.anchorBatch(batch_input(mixed.root, 2), {"from": registrar})

    refused = f"LedgerLeafInOtherMunicipality: {as_error_arg(mixed.root)}, {utrecht_commitment}, {BAARN_ID}"
    for caller in (registrar, other_registrar):  # neither the batch's registrar nor the commitment's
        with brownie.reverts(refused):
            ledger.revokeBatchedDelivery(mixed.root, mixed.leaves[1], mixed.proof(1), BATCH_REVOCATION_REASON, {"from": caller})


def test_revoking_a_leaf_of_an_unknown_commitment_is_refused_as_another_municipalitys(
    ledger, commitment, registrar, batch_input, batch_leaf
):
    unknown = StandardTree([batch_leaf(), batch_leaf(commitmentId=UNKNOWN_ID)])
    ledger.anchorBatch(batch_input(unknown.root, 2), {"from": registrar})

    with brownie.reverts(f"LedgerLeafInOtherMunicipality: {as_error_arg(unknown.root)}, {UNKNOWN_ID}, {BAARN_ID}"):
        ledger.revokeBatchedDelivery(unknown.root, unknown.leaves[1], unknown.proof(1), BATCH_REVOCATION_REASON, {"from": registrar})


def test_revoking_a_batched_delivery_twice_is_refused(ledger, batch, registrar):
    ledger.revokeBatchedDelivery(batch.root, batch.leaves[0], batch.proof(0), BATCH_REVOCATION_REASON, {"from": registrar})
    with brownie.reverts(f"LedgerBatchedDeliveryRevoked: {as_error_arg(batch.root)}, {as_error_arg(batch.leaf_hash(0))}"):
        ledger.revokeBatchedDelivery(batch.root, batch.leaves[0], batch.proof(0), BATCH_REVOCATION_REASON, {"from": registrar})


def test_batched_revocation_without_reason_is_refused(ledger, batch, registrar):
    with brownie.reverts("LedgerEmptyText: reason"):
        ledger.revokeBatchedDelivery(batch.root, batch.leaves[0], batch.proof(0), "", {"from": registrar})


def test_batched_revocation_reason_of_maximum_length_is_accepted(ledger, batch, registrar):
    reason = "r" * MAX_REASON
    tx = ledger.revokeBatchedDelivery(batch.root, batch.leaves[0], batch.proof(0), reason, {"from": registrar})
    assert tx.events["BatchedDeliveryRevoked"]["reason"] == reason


def test_batched_revocation_reason_one_byte_too_long_is_refused(ledger, batch, registrar):
    with brownie.reverts(f"LedgerTextTooLong: reason, {MAX_REASON + 1}, {MAX_REASON}"):
        ledger.revokeBatchedDelivery(batch.root, batch.leaves[0], batch.proof(0), "r" * (MAX_REASON + 1), {"from": registrar})


def test_batched_delivery_of_a_withdrawn_commitment_can_still_be_revoked(ledger, batch, commitment, registrar):
    # as revokeDelivery: corrections stay possible after withdrawal
    ledger.withdrawCommitment(commitment, WITHDRAWAL_REASON, {"from": registrar})

    tx = ledger.revokeBatchedDelivery(batch.root, batch.leaves[0], batch.proof(0), BATCH_REVOCATION_REASON, {"from": registrar})

    assert tx.events["BatchedDeliveryRevoked"]["commitmentId"] == commitment


def test_batched_revocation_is_refused_while_paused(ledger, batch, registrar, platform_admin):
    ledger.pause({"from": platform_admin})
    with brownie.reverts("LedgerPaused: "):
        ledger.revokeBatchedDelivery(batch.root, batch.leaves[0], batch.proof(0), BATCH_REVOCATION_REASON, {"from": registrar})


def test_the_same_leaf_in_two_batches_is_revoked_per_batch(ledger, batch, registrar, batch_input, batch_leaf):
    again = StandardTree([batch.leaves[0], batch_leaf(quantity=77)])
    ledger.anchorBatch(batch_input(again.root, 2), {"from": registrar})

    ledger.revokeBatchedDelivery(batch.root, batch.leaves[0], batch.proof(0), BATCH_REVOCATION_REASON, {"from": registrar})

    assert _verified(ledger, again.root, again.leaves[0], again.proof(0)) == (True, batch.leaf_hash(0), False)
