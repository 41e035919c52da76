"""Batch files for the tests, built by the reference implementation: OpenZeppelin's
``@openzeppelin/merkle-tree`` (node_modules, the version the contract's tests use), never by
``ledger/merkle.py``, so the index is checked against files as any other tool writes them.

A leaf is given in the leaf encoding's order (docs/LEDGER.md "Batches"): ``(commitment_id,
quantity, delivered_at, evidence_hashes, evidence_uri, note, external_ref, asset_ref)``.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

REPO_ROOT = Path(__file__).resolve().parents[2]
LEAF_ENCODING = ["uint256", "uint64", "uint64", "bytes32[]", "string", "string", "string", "string"]

_SCRIPT = """
const { StandardMerkleTree } = require(process.argv[1]);
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const tree = StandardMerkleTree.of(input.values, input.encoding);
process.stdout.write(JSON.stringify({
  file: JSON.stringify(tree.dump()),
  root: tree.root,
  hashes: input.values.map((v) => tree.leafHash(v)),
  proofs: input.values.map((_, i) => tree.getProof(i)),
}));
"""

Leaf = tuple[int, int, int, Sequence[str], str, str, str, str]


@dataclass(frozen=True)
class BatchFile:
    """A batch file (``data``: its exact bytes, the tree's ``dump()`` as JSON), its root, its
    SHA-256 and each leaf's hash and proof, in the order of ``values``."""

    data: bytes
    root: str
    sha256: str
    leaf_hashes: list[str]
    proofs: list[list[str]]
    values: list[list]


def leaf(commitment_id: int, quantity: int, delivered_at: int, evidence: Sequence[str] | None = None, *,
         uri: str = "", note: str = "", ref: str = "", asset: str = "") -> Leaf:
    """A leaf with one evidence hash unless ``evidence`` is given."""
    hashes = list(evidence) if evidence is not None else ["0x" + hashlib.sha256(f"e-{commitment_id}-{quantity}-{ref}-{asset}".encode()).hexdigest()]
    return (commitment_id, quantity, delivered_at, hashes, uri, note, ref, asset)


def build(leaves: Sequence[Leaf]) -> BatchFile:
    """The StandardMerkleTree of ``leaves`` (in this order in the file's ``values``)."""
    values = [[str(c), str(q), str(d), list(h), u, n, r, a] for c, q, d, h, u, n, r, a in leaves]
    done = subprocess.run(
        ["node", "-e", _SCRIPT, str(REPO_ROOT / "node_modules" / "@openzeppelin" / "merkle-tree")],
        input=json.dumps({"values": values, "encoding": LEAF_ENCODING}), capture_output=True, text=True, check=True,
    )
    out = json.loads(done.stdout)
    data = out["file"].encode()
    return BatchFile(data, out["root"], "0x" + hashlib.sha256(data).hexdigest(), out["hashes"], out["proofs"], values)
