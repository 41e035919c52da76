"""Whether an anchored batch counts (docs/LEDGER.md "Batches"): the bytes offered as its file
checked against what the chain anchored, and nothing else.

In this order, the first that fails is the batch's ``unverified_reason``:

1. ``missing``: no file was found (:mod:`scripts.audit.batchfiles`);
2. ``sha256_mismatch``: SHA-256 of the exact bytes is not the anchored ``fileSha256``;
3. ``unparseable``: the bytes are not a StandardMerkleTree dump of ledger leaves
   (``ledger.merkle.parse_batch_file``: the one reader of the file format), or its ``tree``
   disagrees with its ``values`` although these rebuild the anchored root;
4. ``root_mismatch``: the root rebuilt from the file's values is not the anchored ``root``;
5. ``leaf_count_mismatch``: the number of values is not the anchored ``leafCount``.

Only a verified batch has leaves; their values come from the file, in its ``values`` order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ledger.merkle import BatchFileError, TreeMismatchError, parse_batch_file
from scripts.audit.batchfiles import BatchFile, sha256_hex


@dataclass(frozen=True)
class LeafValues:
    """One leaf of a verified batch file: the values of ``ICommitmentLedger.BatchLeaf`` as the
    file gives them (hashes ``0x`` lowercase hex) and its leaf hash (``0x`` hex)."""

    commitment_id: int
    quantity: int
    delivered_at: int
    evidence_hashes: tuple[str, ...]
    evidence_uri: str
    note: str
    external_ref: str
    asset_ref: str
    leaf_hash: str


@dataclass(frozen=True)
class BatchCheck:
    """The verdict on one anchored batch.

    Attributes:
        verified: the file is the anchored batch.
        reason: the ``unverified_reason`` (module docstring), ``None`` when verified.
        source: where the checked bytes came from (:class:`BatchFile.source`), ``None`` when
            none were found.
        leaves: the file's leaves in ``values`` order when verified, else empty.
    """

    verified: bool
    reason: str | None
    source: str | None = None
    leaves: tuple[LeafValues, ...] = ()


def check_batch(offered: Sequence[BatchFile], *, root: str, file_sha256: str, leaf_count: int) -> BatchCheck:
    """Check the best offered file (the first) against the anchor ``root`` / ``file_sha256``
    (``0x`` hex) / ``leaf_count`` (module docstring). Never raises for the file's contents."""
    if not offered:
        return BatchCheck(False, "missing")
    chosen = offered[0]
    if sha256_hex(chosen.data) != file_sha256.lower():
        return BatchCheck(False, "sha256_mismatch", chosen.source)
    try:
        parsed = parse_batch_file(chosen.data)
    except TreeMismatchError as exc:  # the values rebuild a tree, the file lists another
        same_root = "0x" + exc.rebuilt_root.hex() == root.lower()
        return BatchCheck(False, "unparseable" if same_root else "root_mismatch", chosen.source)
    except BatchFileError:
        return BatchCheck(False, "unparseable", chosen.source)
    if parsed.tree.root_hex != root.lower():
        return BatchCheck(False, "root_mismatch", chosen.source)
    if len(parsed.leaves) != leaf_count:
        return BatchCheck(False, "leaf_count_mismatch", chosen.source)
    leaves = tuple(
        LeafValues(
            commitment_id=leaf.commitment_id,
            quantity=leaf.quantity,
            delivered_at=leaf.delivered_at,
            evidence_hashes=leaf.evidence_hashes,
            evidence_uri=leaf.evidence_uri,
            note=leaf.note,
            external_ref=leaf.external_ref,
            asset_ref=leaf.asset_ref,
            leaf_hash=leaf.leaf_hash.lower(),
        )
        for leaf in parsed.leaves
    )
    return BatchCheck(True, None, chosen.source, leaves)
