"""A small StandardMerkleTree for the contract tests: the tests' own, not ledger/merkle.py.

It follows OpenZeppelin's ``@openzeppelin/merkle-tree`` (``StandardMerkleTree.of(values,
encoding)``, format ``standard-v1``), read from its source: leaf hash
``keccak256(keccak256(abi.encode(values)))``, leaves sorted by hash, the tree as one array with
the leaves at its end in reverse order, each inner node ``keccak256`` of its two children sorted
(what OpenZeppelin's ``MerkleProof`` on chain checks). Kept independent of the off-chain code so
a bug shared by the contract's reader and these tests cannot hide itself.
"""

from eth_abi import encode as abi_encode
from eth_utils import keccak

LEAF_ENCODING = ["uint256", "uint64", "uint64", "bytes32[]", "string", "string", "string", "string"]
"""ICommitmentLedger.BatchLeaf: commitmentId, quantity, deliveredAt, evidenceHashes, evidenceUri,
note, externalRef, assetRef (docs/LEDGER.md "Batches")."""


def _bytes32(value):
    return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)


def leaf_hash(leaf):
    """The StandardMerkleTree hash of one BatchLeaf tuple (bytes32 values as ``0x`` hex or bytes),
    as 32 bytes."""
    values = list(leaf)
    values[3] = [_bytes32(h) for h in values[3]]
    return keccak(keccak(abi_encode(LEAF_ENCODING, values)))


def hex32(value):
    """32 bytes as the ``0x`` hex string brownie returns for a bytes32."""
    return "0x" + bytes(value).hex()


def as_error_arg(value):
    """A bytes32 as brownie renders it inside a decoded custom error: Python ``bytes``."""
    return _bytes32(value)


class StandardTree:
    """The tree of ``leaves`` (BatchLeaf tuples, in file order).

    Attributes:
        leaves: the leaves as given.
        root: ``0x`` hex of the root.
    """

    def __init__(self, leaves):
        assert leaves, "a tree needs at least one leaf"
        self.leaves = [tuple(leaf) for leaf in leaves]
        hashes = [leaf_hash(leaf) for leaf in self.leaves]
        order = sorted(range(len(hashes)), key=lambda i: hashes[i])  # leaf position -> value index
        size = 2 * len(hashes) - 1
        self._nodes = [b""] * size
        self._tree_index = {}  # value index -> node index
        for position, value_index in enumerate(order):
            node = size - 1 - position
            self._nodes[node] = hashes[value_index]
            self._tree_index[value_index] = node
        for node in range(size - 1 - len(hashes), -1, -1):
            left, right = self._nodes[2 * node + 1], self._nodes[2 * node + 2]
            self._nodes[node] = keccak(b"".join(sorted((left, right))))
        self.root = hex32(self._nodes[0])

    def leaf_hash(self, index):
        """``0x`` hex of the hash of leaf ``index`` (file order)."""
        return hex32(self._nodes[self._tree_index[index]])

    def proof(self, index):
        """The sibling hashes from leaf ``index`` (file order) up to the root, ``0x`` hex each."""
        node = self._tree_index[index]
        proof = []
        while node > 0:
            sibling = node + 1 if node % 2 else node - 1
            proof.append(hex32(self._nodes[sibling]))
            node = (node - 1) // 2
        return proof
