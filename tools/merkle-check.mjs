#!/usr/bin/env node
// Cross-check of a batch file with OpenZeppelin's own StandardMerkleTree (and ethers), so that
// ledger/merkle.py is tested against the reference implementation, not against itself.
//
//   node tools/merkle-check.mjs BATCH_FILE.json     (or "-" / no argument: the JSON on stdin)
//
// Loads the file with StandardMerkleTree.load (which validates format, every leaf and every
// node), rebuilds the tree independently with StandardMerkleTree.of(values, leafEncoding), and
// prints one JSON object (values order throughout):
//   root            root of the rebuilt tree
//   loadedRoot      root of the loaded file (its tree[0])
//   tree            the rebuilt tree array, treeIndices each value's treeIndex in it
//   leafHashes      OZ's leaf hash of each value (rebuilt.tree[treeIndex]: `of` hashed each
//                   value with its leafHash, and `load` checked the file's tree holds the same)
//   ethersLeafHashes keccak256(keccak256(AbiCoder.encode(leafEncoding, value))), null where
//                   ethers refuses the value (e.g. a lone surrogate in a string)
//   proofs          each value's proof: OZ's getProof(tree, treeIndex) of dist/core.js, the
//                   function tree.getProof(i) calls after re-hashing the value (which `load`
//                   has done for every value); tree.getProof itself is compared with it for
//                   the first and the last value (it re-hashes, too slow for every value
//                   of a 10,000-leaf batch)
//   file            JSON.stringify(rebuilt.dump()): the bytes a JavaScript writer would publish
// Exit 1 (message on stderr) when the file does not load, 2 when OZ disagrees with itself.
import { readFileSync } from "node:fs";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { getProof } from "@openzeppelin/merkle-tree/dist/core.js";
import { AbiCoder, keccak256 } from "ethers";

const source = process.argv[2];
const text = !source || source === "-" ? readFileSync(0, "utf8") : readFileSync(source, "utf8");
const data = JSON.parse(text);

let loaded;
try {
  loaded = StandardMerkleTree.load(data);
} catch (error) {
  process.stderr.write(`StandardMerkleTree.load refused the file: ${error.message}\n`);
  process.exit(1);
}

const values = data.values.map((entry) => entry.value);
const rebuilt = StandardMerkleTree.of(values, data.leafEncoding);
const coder = AbiCoder.defaultAbiCoder();

function ethersLeafHash(value) {
  try {
    return keccak256(keccak256(coder.encode(data.leafEncoding, value)));
  } catch {
    return null;
  }
}

const dump = rebuilt.dump();
const proofs = dump.values.map((entry) => getProof(dump.tree, entry.treeIndex));
for (const i of new Set([0, values.length - 1])) {
  if (JSON.stringify(rebuilt.getProof(i)) !== JSON.stringify(proofs[i])) {
    process.stderr.write(`tree.getProof(${i}) differs from core getProof\n`);
    process.exit(2);
  }
}
process.stdout.write(
  JSON.stringify({
    root: rebuilt.root,
    loadedRoot: loaded.root,
    tree: dump.tree,
    treeIndices: dump.values.map((entry) => entry.treeIndex),
    leafHashes: dump.values.map((entry) => dump.tree[entry.treeIndex]),
    ethersLeafHashes: values.map(ethersLeafHash),
    proofs,
    file: JSON.stringify(dump),
  }),
);
