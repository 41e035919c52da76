"""ledger/merkle.py against OpenZeppelin's own StandardMerkleTree and against the contract.

For 1, 2, 3, 1,000 and 10,000 generated leaves (texts with non-ASCII, control characters,
quotes and empty strings, one to sixteen evidence hashes, the largest ABI values), the batch
file ledger/merkle.py writes is handed to ``tools/merkle-check.mjs`` (node, once per size),
which loads it with ``StandardMerkleTree.load``, rebuilds it with ``StandardMerkleTree.of`` and
hashes each value with ethers too: root, tree, tree indices, every leaf hash and every proof
must be ours, and the file node would write from the same values must be our bytes. Then the
anchored file is checked as the indexer and the replay check it (an edit counts nothing), and
the ledger contract on a throwaway anvil (tests/tools/conftest.py) hashes our leaves as we do
and accepts our proofs of an anchored 1,000-leaf batch, refusing tampered leaves and proofs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from ledger import merkle
from ledger.chain import LedgerChain
from ledger.limits import EXTERNAL_REF_MAX_BYTES, MAX_EVIDENCE, MAX_QUANTITY, NOTE_MAX_BYTES, URI_MAX_BYTES
from ledger.merkle import BatchLeaf, BatchTree, UnverifiedReason, build_tree, check_batch_file, parse_batch_file
from ledger.settings import REPO_ROOT
from tests.conftest import Roles

SIZES = (1, 2, 3, 1_000, 10_000)
CHAIN_BATCH_SIZE = 1_000
SAMPLED_PROOFS = 50
MERKLE_CHECK = REPO_ROOT / "tools" / "merkle-check.mjs"

_PIECES = (
    "", "a", "Lantaarnpaal", "é", "e\u0301", "Ñuñoa", "日本語", "🚦", "\u0000", "\u0001\u001f\u007f", "\n\r\t",
    '"', "\\", "/", "\u2028\u2029", "\ufeff", "\u00a0", "Año 2024 — ñandú", "</script>", "{}[]:,",
)


def _text(rng: random.Random, max_bytes: int) -> str:
    """A text of random pieces, cut to at most ``max_bytes`` UTF-8 bytes (whole characters)."""
    if rng.random() < 0.3:
        return ""
    text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 12)))
    if rng.random() < 0.05:
        text = (text or "x") * (max_bytes // max(1, len((text or "x").encode())) + 1)
    while len(text.encode("utf-8")) > max_bytes:
        text = text[:-1]
    return text


def generated_leaves(count: int, seed: int = 6) -> list[BatchLeaf]:
    """``count`` distinct leaves the ledger accepts, the same for the same arguments."""
    rng = random.Random(seed)
    leaves = []
    for i in range(count):
        evidence = tuple(hashlib.sha256(f"{seed}/{i}/{j}".encode()).digest()
                         for j in range(rng.choice((1, 1, 2, 3, MAX_EVIDENCE))))
        edge = i % 97 == 5
        leaves.append(BatchLeaf(
            commitment_id=2**256 - 1 if edge else rng.randint(1, 300),
            quantity=MAX_QUANTITY if edge else rng.randint(1, 10**rng.randint(0, 13)),
            delivered_at=1 if i % 97 == 6 else rng.randint(1_600_000_000, 1_800_000_000),
            evidence_hashes=evidence,
            evidence_uri=_text(rng, URI_MAX_BYTES),
            note=_text(rng, NOTE_MAX_BYTES),
            external_ref=f"R-{i}-" + _text(rng, 20) if rng.random() < 0.7 else "",
            asset_ref=merkle.normalise_asset_ref(f"lamp {i:06d} " + _text(rng, 40)) if rng.random() < 0.5 else "",
        ))
        assert len(leaves[-1].external_ref.encode()) <= EXTERNAL_REF_MAX_BYTES
    return leaves


def run_merkle_check(path: Path) -> dict[str, Any]:
    done = subprocess.run(["node", str(MERKLE_CHECK), str(path)], capture_output=True, check=False, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


def hexes(hashes: Any) -> list[str]:
    return ["0x" + bytes(h).hex() for h in hashes]


@pytest.fixture(scope="module")
def batches() -> dict[int, tuple[list[BatchLeaf], BatchTree, bytes]]:
    """Size → (leaves, tree, file bytes), built once."""
    built = {}
    for size in SIZES:
        leaves = generated_leaves(size)
        tree = build_tree(leaves)
        built[size] = (leaves, tree, tree.to_file_bytes())
    return built


# ---------------------------------------------------------------------------- against OpenZeppelin


@pytest.mark.parametrize("size", SIZES)
def test_root_tree_leaf_hashes_proofs_and_file_bytes_equal_openzeppelin_s(
        size: int, batches: dict, tmp_path: Path) -> None:
    leaves, tree, data = batches[size]
    path = tmp_path / "batch.json"
    path.write_bytes(data)
    theirs = run_merkle_check(path)
    assert theirs["root"] == theirs["loadedRoot"] == tree.root_hex
    assert theirs["tree"] == hexes(tree.tree)
    assert theirs["treeIndices"] == list(tree.tree_indices)
    assert theirs["leafHashes"] == hexes(tree.leaf_hashes) == hexes(leaf.leaf_hash() for leaf in leaves)
    assert theirs["ethersLeafHashes"] == theirs["leafHashes"]
    assert theirs["proofs"] == [tree.proof_hex(i) for i in range(size)]
    assert theirs["file"].encode("utf-8") == data
    parsed = parse_batch_file(data)
    assert parsed.root == tree.root
    assert [p.leaf for p in parsed.leaves] == leaves
    assert [list(p.proof) for p in parsed.leaves] == theirs["proofs"]


def test_a_file_with_a_lone_surrogate_escape_is_read_as_openzeppelin_reads_it(tmp_path: Path) -> None:
    replaced = generated_leaves(3, seed=11)
    replaced[1] = dataclasses.replace(replaced[1], note="vóór \ufffd na")
    data = build_tree(replaced).to_file_bytes().replace("vóór \ufffd na".encode(), "vóór \\udc00 na".encode())
    path = tmp_path / "surrogate.json"
    path.write_bytes(data)
    theirs = run_merkle_check(path)
    # OZ encodes strings with TextEncoder (a lone surrogate is U+FFFD), ethers otherwise
    # (a lone low surrogate as the invalid UTF-8 ED B0 80): the file follows OZ, so do we.
    assert theirs["ethersLeafHashes"][1] != theirs["leafHashes"][1]
    assert theirs["leafHashes"][1] == "0x" + replaced[1].leaf_hash().hex()
    parsed = parse_batch_file(data)
    assert "0x" + parsed.root.hex() == theirs["root"] == theirs["loadedRoot"] == build_tree(replaced).root_hex


def test_a_file_openzeppelin_refuses_is_refused_by_node_as_well(tmp_path: Path, batches: dict) -> None:
    _, _, data = batches[3]
    document = json.loads(data)
    document["values"][0]["value"][1] = "999"
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    done = subprocess.run(["node", str(MERKLE_CHECK), str(path)], capture_output=True, check=False, cwd=REPO_ROOT)
    assert done.returncode == 1
    with pytest.raises(merkle.TreeMismatchError):
        parse_batch_file(path.read_bytes())


# ---------------------------------------------------------------------------- the anchored file


def anchored(tree: BatchTree, data: bytes, **changes: Any) -> merkle.BatchCheck:
    fields = dict(anchored_root=tree.root, anchored_sha256=hashlib.sha256(data).digest(),
                  anchored_leaf_count=len(tree.leaves))
    fields.update(changes)
    return check_batch_file(data, **fields)


@pytest.mark.parametrize("size", (1, CHAIN_BATCH_SIZE))
def test_the_anchored_file_verifies_and_a_one_byte_edit_anywhere_counts_nothing(size: int, batches: dict) -> None:
    _, tree, data = batches[size]
    assert anchored(tree, data).verified
    sha256 = hashlib.sha256(data).digest()
    for position in (0, len(data) // 3, len(data) // 2, len(data) - 1):
        edited = bytearray(data)
        edited[position] ^= 0x20
        checked = check_batch_file(bytes(edited), anchored_root=tree.root, anchored_sha256=sha256,
                                   anchored_leaf_count=size)
        assert (checked.verified, checked.reason, checked.leaves) == (False, UnverifiedReason.SHA256_MISMATCH, ())
    missing = check_batch_file(None, anchored_root=tree.root, anchored_sha256=sha256, anchored_leaf_count=size)
    assert (missing.verified, missing.reason) == (False, UnverifiedReason.MISSING)


def test_an_edited_value_anchored_with_its_new_sha256_is_a_root_mismatch(batches: dict) -> None:
    _, tree, data = batches[CHAIN_BATCH_SIZE]
    document = json.loads(data)
    document["values"][500]["value"][1] = str(int(document["values"][500]["value"][1]) + 1)
    edited = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    checked = anchored(tree, edited)  # the edited file's own SHA-256 as if anchored
    assert (checked.verified, checked.reason, checked.leaves) == (False, UnverifiedReason.ROOT_MISMATCH, ())


def test_an_edited_value_with_a_rebuilt_tree_and_its_sha256_is_a_root_mismatch(batches: dict) -> None:
    leaves, tree, _ = batches[CHAIN_BATCH_SIZE]
    changed = list(leaves)
    changed[500] = dataclasses.replace(changed[500], quantity=changed[500].quantity + 1)
    forged = build_tree(changed).to_file_bytes()
    checked = anchored(tree, forged)
    assert (checked.verified, checked.reason) == (False, UnverifiedReason.ROOT_MISMATCH)


# ---------------------------------------------------------------------------- against the contract


@pytest.fixture(scope="module")
def ledger_chain(anvil_url: str, roles: Roles) -> LedgerChain:
    """A fresh ledger on this module's anvil with municipality 1 (admin council_admin,
    registrar registrar)."""
    chain = LedgerChain(anvil_url)
    chain.deploy(roles.platform_admin.key)
    chain.send("registerMunicipality", ["Baarn", "GM0308", roles.council_admin.address], roles.platform_admin.key)
    chain.send("addRegistrar", [1, roles.registrar.address], roles.council_admin.key)
    return chain


@pytest.fixture(scope="module")
def anchored_batch(
        ledger_chain: LedgerChain, roles: Roles, batches: dict) -> Iterator[tuple[list[BatchLeaf], BatchTree]]:
    """The 1,000-leaf batch, anchored by registrar for municipality 1."""
    leaves, tree, data = batches[CHAIN_BATCH_SIZE]
    sha256 = hashlib.sha256(data).digest()
    tx = ledger_chain.send("anchorBatch", [(1, tree.root, len(leaves), sha256, "https://baarn.example/b.json")],
                           roles.registrar.key)
    event = tx.event("BatchAnchored").args
    assert (event["root"].lower(), event["leaf_count"], event["file_sha256"].lower()) == (
        tree.root_hex, CHAIN_BATCH_SIZE, "0x" + sha256.hex())
    yield leaves, tree


def test_the_contract_hashes_leaves_as_we_do(ledger_chain: LedgerChain, batches: dict) -> None:
    leaves = batches[CHAIN_BATCH_SIZE][0]
    samples = leaves[:40] + [leaf for leaf in leaves if leaf.commitment_id == 2**256 - 1][:3]
    samples.append(BatchLeaf(0, 0, 0, (), "", "", "", ""))
    samples.append(BatchLeaf(2**256 - 1, 2**64 - 1, 2**64 - 1, tuple(bytes([i]) * 32 for i in range(1, 18)),
                             "é" * 300, "🚦" * 300, "x" * 100, "\u0000"))
    for leaf in samples:
        assert bytes(ledger_chain.call("batchLeafHash", tuple(leaf.values()))) == leaf.leaf_hash()


def sampled_positions() -> list[int]:
    rng = random.Random(50)
    return [0, CHAIN_BATCH_SIZE - 1, *rng.sample(range(1, CHAIN_BATCH_SIZE - 1), SAMPLED_PROOFS)]


def test_the_contract_accepts_our_proofs_of_an_anchored_batch(ledger_chain: LedgerChain, anchored_batch: tuple) -> None:
    leaves, tree = anchored_batch
    for i in sampled_positions():
        included, leaf_hash, revoked = ledger_chain.call("verifyBatchedDelivery", tree.root, tuple(leaves[i].values()),
                                                         tree.proof(i))
        assert (included, bytes(leaf_hash), revoked) == (True, tree.leaf_hashes[i], False)


def test_the_contract_refuses_a_tampered_leaf_a_tampered_proof_and_another_leaf_s_proof(
        ledger_chain: LedgerChain, anchored_batch: tuple) -> None:
    leaves, tree = anchored_batch
    for i in sampled_positions()[:10]:
        leaf, proof = leaves[i], tree.proof(i)
        values = leaf.values()
        tampered = dataclasses.replace(leaf, quantity=leaf.quantity + 1)
        included, leaf_hash, _ = ledger_chain.call("verifyBatchedDelivery", tree.root, tuple(tampered.values()), proof)
        assert (included, bytes(leaf_hash)) == (False, tampered.leaf_hash())
        bent = [bytes([proof[0][0] ^ 0x01]) + proof[0][1:], *proof[1:]]
        assert ledger_chain.call("verifyBatchedDelivery", tree.root, tuple(values), bent)[0] is False
        other = tree.proof((i + 1) % CHAIN_BATCH_SIZE)
        assert ledger_chain.call("verifyBatchedDelivery", tree.root, tuple(values), other)[0] is False
        assert ledger_chain.call("verifyBatchedDelivery", tree.root, tuple(values), proof[:-1])[0] is False
