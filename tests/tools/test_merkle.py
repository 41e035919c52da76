"""ledger/merkle.py: batch leaves, trees, batch files and their check, with exact values.

The expected root, tree, proofs and file SHA-256 of the fixed three-leaf batch were computed
by OpenZeppelin's own ``StandardMerkleTree.of(values, LEAF_ENCODING)`` in node (values written
by hand there, file = ``JSON.stringify(tree.dump())``), not by the code under test.
tests/tools/test_merkle_crosscheck.py compares with node on generated batches.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from hypothesis import example, given, strategies as st

from ledger import merkle
from ledger.errors import LedgerError
from ledger.merkle import (
    LEAF_ENCODING,
    BadValueError,
    BatchLeaf,
    BatchStructureError,
    DuplicateLeafError,
    DuplicateValueError,
    EmptyBatchError,
    HashFormatError,
    InvalidBatchError,
    LeafNotInTreeError,
    LeafProblem,
    LeafValueError,
    NotJsonError,
    TreeMismatchError,
    UnverifiedReason,
    WrongFormatError,
    WrongLeafEncodingError,
    build_tree,
    check_batch_file,
    parse_batch_file,
    verify_proof,
)


def sha(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


LEAF_A = BatchLeaf(1, 25, 1_717_200_000, (sha("oplevering-wijk-noord.pdf"),), "https://baarn.nl/bewijs/noord.pdf",
                   "25 woningen gerenoveerd", "DEL-2024-001", "")
LEAF_B = BatchLeaf(1, 1, 1_717_286_400, (sha("foto-1.jpg"), sha("foto-2.jpg")), "", "Lantaarnpaal vervangen — LED",
                   "DEL-2024-002", "lantaarnpaal 000123")
LEAF_C = BatchLeaf(42, 10**13, 1, (sha("é"),), "ipfs://bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
                   'Año 2024: ñandú 日本 🚦\n"citado"', "", "Calle Ñuñoa 12")
THREE = (LEAF_A, LEAF_B, LEAF_C)

# From node: StandardMerkleTree.of(values of THREE, LEAF_ENCODING).
THREE_ROOT = "0x8a0cfb433cd8040b181f6dde24cdf2ab524b4ec4bcdc0ee4fd6b215a9b86398b"
THREE_TREE = [
    THREE_ROOT,
    "0x30fd89450373dcfba332e6d3883ccd74caa50c8e00e00d10ac66e85704057cae",
    "0xdc6eb18197a6973165765cd091c6ea23c349219f536553171f47face87892439",
    "0xdc3b5556498721eadb71049d23cdf673a51b0fee2688ce9e37839bc3555526f4",
    "0xc284c579d4367740c34bf82b11cb69806d79845de6b932710c4dd1237b5a0055",
]
THREE_TREE_INDICES = (3, 2, 4)
THREE_LEAF_HASHES = [THREE_TREE[3], THREE_TREE[2], THREE_TREE[4]]
THREE_PROOFS = [[THREE_TREE[4], THREE_TREE[2]], [THREE_TREE[1]], [THREE_TREE[3], THREE_TREE[2]]]
THREE_FILE_SHA256 = "0x4ab0f865abc1062896096358cabbb368d0f5a8ae80a80c0ee776a79da6ca16f6"
THREE_FILE_LENGTH = 1200


def hexes(hashes: list[bytes] | tuple[bytes, ...]) -> list[str]:
    return ["0x" + h.hex() for h in hashes]


def leaf(**changes: object) -> BatchLeaf:
    """A valid leaf with some fields changed."""
    fields = dict(commitment_id=7, quantity=3, delivered_at=1_700_000_000, evidence_hashes=(sha("e1"),),
                  evidence_uri="", note="", external_ref="", asset_ref="")
    fields.update(changes)
    return BatchLeaf(**fields)  # type: ignore[arg-type]


def three_file() -> bytes:
    return build_tree(THREE).to_file_bytes()


def edited(document: dict, path: list, value: object) -> bytes:
    """The three-leaf file with one JSON member replaced (``path`` into the dump)."""
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def three_dump() -> dict:
    return json.loads(three_file())


# ---------------------------------------------------------------------------- leaves


def test_the_leaf_encoding_is_the_contract_s_batch_leaf_struct() -> None:
    assert LEAF_ENCODING == ("uint256", "uint64", "uint64", "bytes32[]", "string", "string", "string", "string")
    assert merkle.LEAF_FIELDS == ("commitment_id", "quantity", "delivered_at", "evidence_hashes", "evidence_uri",
                                  "note", "external_ref", "asset_ref")


def test_a_leaf_hash_is_keccak_of_keccak_of_the_abi_encoded_values() -> None:
    values = [1, 25, 1_717_200_000, [sha("oplevering-wijk-noord.pdf")], "https://baarn.nl/bewijs/noord.pdf",
              "25 woningen gerenoveerd", "DEL-2024-001", ""]
    assert LEAF_A.values() == values
    assert LEAF_A.abi_encoded() == abi_encode(list(LEAF_ENCODING), values)
    assert LEAF_A.leaf_hash() == keccak(keccak(abi_encode(list(LEAF_ENCODING), values)))
    assert "0x" + LEAF_A.leaf_hash().hex() == THREE_LEAF_HASHES[0]


@given(st.builds(
    BatchLeaf,
    st.integers(0, 2**256 - 1), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
    st.lists(st.binary(min_size=32, max_size=32), max_size=17).map(tuple),
    st.text(), st.text(), st.text(max_size=40), st.text(max_size=40),
))
@example(BatchLeaf(2**256 - 1, 2**64 - 1, 2**64 - 1, (b"\xff" * 32,) * 16, "x" * 31, "é" * 16, "r" * 33, "日" * 11))
def test_the_written_out_leaf_encoding_is_eth_abi_s_for_any_leaf(generated: BatchLeaf) -> None:
    # BatchLeaf.abi_encoded is hand-written for speed; eth_abi is the reference.
    assert generated.abi_encoded() == abi_encode(list(LEAF_ENCODING), generated.values())


def test_a_leaf_s_json_values_are_decimal_strings_hex_hashes_and_texts() -> None:
    assert LEAF_B.json_values() == [
        "1", "1", "1717286400",
        ["0x07113e785529b6b7f01d5e774ed24ebed47f9a26a21cae125937a8228560ac8f",
         "0xcbef72eb2c44edda1a8a4d1219ccf2236c725760283341f491680a7fce15d94a"],
        "", "Lantaarnpaal vervangen — LED", "DEL-2024-002", "lantaarnpaal 000123",
    ]


def test_evidence_hashes_given_as_hex_are_stored_as_bytes() -> None:
    as_hex = leaf(evidence_hashes=("0x" + sha("e1").hex().upper(), sha("e2").hex()))
    assert as_hex.evidence_hashes == (sha("e1"), sha("e2"))
    assert as_hex == leaf(evidence_hashes=[bytearray(sha("e1")), sha("e2")])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("commitment_id", -1),
        ("commitment_id", 2**256),
        ("commitment_id", "1"),
        ("quantity", 2**64),
        ("quantity", True),
        ("delivered_at", -5),
        ("delivered_at", 1.0),
        ("evidence_hashes", sha("e1")),
        ("evidence_hashes", (b"\x01" * 31,)),
        ("evidence_hashes", ("0x" + "g" * 64,)),
        ("evidence_hashes", (None,)),
        ("note", "lone \ud800 surrogate"),
        ("asset_ref", None),
        ("evidence_uri", b"https://x"),
    ],
)
def test_a_field_that_does_not_fit_its_abi_type_is_refused(field: str, value: object) -> None:
    with pytest.raises(LeafValueError) as info:
        leaf(**{field: value})
    assert info.value.field == field
    assert isinstance(info.value, ValueError) and isinstance(info.value, LedgerError)


def test_the_largest_abi_values_make_a_leaf_the_ledger_would_refuse() -> None:
    big = leaf(commitment_id=2**256 - 1, quantity=2**64 - 1, delivered_at=2**64 - 1, evidence_hashes=())
    assert merkle.leaf_problems(big) == [LeafProblem.QUANTITY_OUT_OF_RANGE, LeafProblem.EVIDENCE_COUNT_OUT_OF_RANGE]


# ---------------------------------------------------------------------------- leaf rules


def test_a_valid_leaf_has_no_problems_at_every_limit() -> None:
    at_limits = leaf(quantity=10**13, delivered_at=1, evidence_hashes=tuple(sha(f"e{i}") for i in range(16)),
                     evidence_uri="é" * 256, note="x" * 1000, external_ref="€" * 21 + "x", asset_ref="a" * 64)
    assert merkle.leaf_problems(at_limits) == []
    assert merkle.leaf_problems(leaf(quantity=1)) == []


@pytest.mark.parametrize(
    ("changes", "problems"),
    [
        ({"quantity": 0}, [LeafProblem.QUANTITY_OUT_OF_RANGE]),
        ({"quantity": 10**13 + 1}, [LeafProblem.QUANTITY_OUT_OF_RANGE]),
        ({"delivered_at": 0}, [LeafProblem.DELIVERED_AT_ZERO]),
        ({"evidence_hashes": ()}, [LeafProblem.EVIDENCE_COUNT_OUT_OF_RANGE]),
        ({"evidence_hashes": tuple(sha(f"e{i}") for i in range(17))}, [LeafProblem.EVIDENCE_COUNT_OUT_OF_RANGE]),
        ({"evidence_hashes": (sha("e1"), bytes(32), bytes(32))},
         [LeafProblem.EVIDENCE_HASH_ZERO, LeafProblem.EVIDENCE_HASH_REPEATED]),
        ({"evidence_hashes": (sha("e1"), sha("e2"), sha("e1"))}, [LeafProblem.EVIDENCE_HASH_REPEATED]),
        ({"evidence_uri": "é" * 256 + "x"}, [LeafProblem.EVIDENCE_URI_TOO_LONG]),
        ({"note": "x" * 1001}, [LeafProblem.NOTE_TOO_LONG]),
        ({"external_ref": "€" * 22}, [LeafProblem.EXTERNAL_REF_TOO_LONG]),
        ({"asset_ref": "🚦" * 16 + "x"}, [LeafProblem.ASSET_REF_TOO_LONG]),
        ({"quantity": 0, "delivered_at": 0, "note": "x" * 1001},
         [LeafProblem.QUANTITY_OUT_OF_RANGE, LeafProblem.DELIVERED_AT_ZERO, LeafProblem.NOTE_TOO_LONG]),
    ],
)
def test_leaf_problems_names_each_broken_rule_once_in_field_order(changes: dict, problems: list) -> None:
    assert merkle.leaf_problems(leaf(**changes)) == problems


def test_leaf_problems_are_codes_that_read_as_text() -> None:
    problems = merkle.leaf_problems(leaf(quantity=0, delivered_at=0))
    assert "; ".join(problems) == "quantity_out_of_range; delivered_at_zero"


# ---------------------------------------------------------------------------- assets and refs


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("", ""),
        ("   ", ""),
        ("Lamp 12", "Lamp 12"),
        ("  Lamp \t\n 12  ", "Lamp 12"),
        ("Lantaarnpaal\u00a0 12", "Lantaarnpaal 12"),
        ("Calle\u3000Ñuñoa", "Calle Ñuñoa"),
        ("Cafe\u0301", "Café"),
        ("LAMP 12", "LAMP 12"),
        ("a\u200bb", "a\u200bb"),
    ],
)
def test_asset_refs_are_nfc_trimmed_and_single_spaced_with_case_kept(text: str, normalised: str) -> None:
    assert merkle.normalise_asset_ref(text) == normalised


@given(st.text())
def test_normalising_an_asset_ref_twice_changes_nothing(text: str) -> None:
    once = merkle.normalise_asset_ref(text)
    assert merkle.normalise_asset_ref(once) == once


def test_duplicate_assets_are_the_same_commitment_and_normalised_asset() -> None:
    leaves = [
        leaf(evidence_hashes=(sha("0"),), asset_ref="Lamp 1"),
        leaf(evidence_hashes=(sha("1"),), asset_ref=" Lamp  1"),
        leaf(evidence_hashes=(sha("2"),), asset_ref="lamp 1"),                    # case differs
        leaf(evidence_hashes=(sha("3"),), asset_ref="Lamp 1", commitment_id=8),   # other commitment
        leaf(evidence_hashes=(sha("4"),), asset_ref=""),
        leaf(evidence_hashes=(sha("5"),), asset_ref=""),                         # no asset: never a repeat
        leaf(evidence_hashes=(sha("6"),), asset_ref="Cafe\u0301"),
        leaf(evidence_hashes=(sha("7"),), asset_ref="Café"),
        leaf(evidence_hashes=(sha("8"),), asset_ref="Lamp 1"),
    ]
    assert merkle.duplicate_assets(leaves) == [(0, 1, 8), (6, 7)]
    assert merkle.duplicate_assets(leaves[:3]) == [(0, 1)]
    assert merkle.duplicate_assets(leaves[2:6]) == []


def test_duplicate_external_refs_are_compared_exactly_per_commitment() -> None:
    leaves = [
        leaf(evidence_hashes=(sha("0"),), external_ref="R-1"),
        leaf(evidence_hashes=(sha("1"),), external_ref="R-1 "),
        leaf(evidence_hashes=(sha("2"),), external_ref="R-1", commitment_id=8),
        leaf(evidence_hashes=(sha("3"),), external_ref="R-1"),
        leaf(evidence_hashes=(sha("4"),), external_ref=""),
        leaf(evidence_hashes=(sha("5"),), external_ref=""),
    ]
    assert merkle.duplicate_external_refs(leaves) == [(0, 3)]


def test_batch_problems_mark_every_repeat_after_the_first() -> None:
    leaves = [
        leaf(evidence_hashes=(sha("0"),), external_ref="R-1", asset_ref="Lamp 1"),
        leaf(evidence_hashes=(sha("1"),), external_ref="R-1", asset_ref="Lamp 1", quantity=0),
        leaf(evidence_hashes=(sha("2"),), asset_ref="Lamp 1"),
    ]
    assert merkle.batch_problems(leaves) == {
        1: [LeafProblem.QUANTITY_OUT_OF_RANGE, LeafProblem.DUPLICATE_ASSET_REF, LeafProblem.DUPLICATE_EXTERNAL_REF],
        2: [LeafProblem.DUPLICATE_ASSET_REF],
    }


# ---------------------------------------------------------------------------- trees


def test_the_three_leaf_tree_is_openzeppelin_s() -> None:
    tree = build_tree(THREE)
    assert tree.root_hex == THREE_ROOT
    assert tree.root == bytes.fromhex(THREE_ROOT[2:])
    assert hexes(tree.tree) == THREE_TREE
    assert tree.tree_indices == THREE_TREE_INDICES
    assert hexes(tree.leaf_hashes) == THREE_LEAF_HASHES
    assert [hexes(tree.proof(i)) for i in range(3)] == THREE_PROOFS
    assert [tree.proof_hex(i) for i in range(3)] == THREE_PROOFS


def test_a_proof_can_be_asked_for_by_leaf_as_well_as_by_index() -> None:
    tree = build_tree(THREE)
    assert tree.proof(LEAF_C) == tree.proof(2)
    assert tree.index_of(LEAF_B) == 1


@pytest.mark.parametrize("missing", [3, -1, True, leaf()])
def test_a_proof_of_a_leaf_not_in_the_tree_is_refused(missing: object) -> None:
    with pytest.raises(LeafNotInTreeError):
        build_tree(THREE).proof(missing)  # type: ignore[arg-type]


def test_a_one_leaf_tree_is_its_leaf_hash_with_an_empty_proof() -> None:
    tree = build_tree([LEAF_A])
    assert tree.root == LEAF_A.leaf_hash()
    assert tree.tree_indices == (0,)
    assert tree.proof(0) == []
    assert verify_proof(tree.root, LEAF_A.leaf_hash(), [])


def test_every_proof_verifies_and_a_changed_leaf_or_proof_does_not() -> None:
    leaves = [leaf(evidence_hashes=(sha(str(i)),)) for i in range(7)]
    tree = build_tree(leaves)
    for i, item in enumerate(leaves):
        proof = tree.proof(i)
        assert verify_proof(tree.root, item.leaf_hash(), proof)
        assert verify_proof(tree.root_hex, "0x" + item.leaf_hash().hex(), tree.proof_hex(i))
        assert not verify_proof(tree.root, leaves[(i + 1) % 7].leaf_hash(), proof)
        assert not verify_proof(tree.root, item.leaf_hash(), [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]])
        assert not verify_proof(tree.root, item.leaf_hash(), proof[:-1])


def test_a_proof_with_a_hash_of_the_wrong_size_is_refused() -> None:
    tree = build_tree(THREE)
    with pytest.raises(HashFormatError) as info:
        verify_proof(tree.root, LEAF_A.leaf_hash(), [b"\x00" * 31])
    assert info.value.name == "proof[0]"


def test_a_batch_without_leaves_is_refused() -> None:
    with pytest.raises(EmptyBatchError):
        build_tree([])


def test_a_batch_with_the_same_leaf_twice_is_refused() -> None:
    with pytest.raises(DuplicateLeafError) as info:
        build_tree([LEAF_A, LEAF_B, LEAF_A], check_rules=False)
    assert (info.value.first_index, info.value.index, info.value.leaf_hash) == (0, 2, LEAF_A.leaf_hash())


def test_a_batch_breaking_the_ledger_s_rules_is_refused_unless_told_to_build_it() -> None:
    leaves = [leaf(evidence_hashes=(sha("0"),), asset_ref="Lamp 1"),
              leaf(evidence_hashes=(sha("1"),), asset_ref="Lamp 1"),
              leaf(evidence_hashes=(sha("2"),), quantity=0)]
    with pytest.raises(InvalidBatchError) as info:
        build_tree(leaves)
    assert info.value.problems == {1: (LeafProblem.DUPLICATE_ASSET_REF,), 2: (LeafProblem.QUANTITY_OUT_OF_RANGE,)}
    assert isinstance(info.value, ValueError)
    assert len(build_tree(leaves, check_rules=False).leaves) == 3


# ---------------------------------------------------------------------------- the batch file


def test_the_batch_file_is_the_compact_dump_openzeppelin_writes() -> None:
    data = three_file()
    assert "0x" + hashlib.sha256(data).hexdigest() == THREE_FILE_SHA256
    assert len(data) == THREE_FILE_LENGTH
    assert data.startswith(b'{"format":"standard-v1","leafEncoding":["uint256","uint64","uint64","bytes32[]",'
                           b'"string","string","string","string"],"tree":["0x8a0cfb43')
    assert data.endswith(b'"Calle \xc3\x91u\xc3\xb1oa 12"],"treeIndex":4}]}')  # UTF-8 as is, no newline
    assert b'\\n\\"citado\\"' in data


def test_the_dump_has_openzeppelin_s_shape() -> None:
    dump = build_tree(THREE).dump()
    assert list(dump) == ["format", "leafEncoding", "tree", "values"]
    assert dump["format"] == "standard-v1"
    assert dump["leafEncoding"] == list(LEAF_ENCODING)
    assert dump["tree"] == THREE_TREE
    assert dump["values"] == [{"value": item.json_values(), "treeIndex": i}
                              for item, i in zip(THREE, THREE_TREE_INDICES)]
    assert [list(v) for v in dump["values"]] == [["value", "treeIndex"]] * 3


def test_a_batch_file_parses_back_to_its_leaves_root_and_sha256() -> None:
    data = three_file()
    parsed = parse_batch_file(data)
    assert parsed.root == bytes.fromhex(THREE_ROOT[2:])
    assert parsed.sha256 == hashlib.sha256(data).digest()
    assert parsed.leaf_count == 3
    assert [p.leaf for p in parsed.leaves] == list(THREE)
    first = parsed.leaves[0]
    assert (first.value_index, first.tree_index, first.leaf_hash, list(first.proof)) == (
        0, 3, THREE_LEAF_HASHES[0], THREE_PROOFS[0])
    assert (first.commitment_id, first.quantity, first.delivered_at) == (1, 25, 1_717_200_000)
    assert first.evidence_hashes == ("0xcbe4942e3671410a2a0bfd2e8d3ea43cbfcb9b977504822e2a2037b896df2cfa",)
    assert (first.evidence_uri, first.note, first.external_ref, first.asset_ref) == (
        "https://baarn.nl/bewijs/noord.pdf", "25 woningen gerenoveerd", "DEL-2024-001", "")
    assert json.loads(json.dumps(parsed.leaves[2].values)) == LEAF_C.json_values()


def test_a_file_with_leaves_the_ledger_refuses_still_parses() -> None:
    bad = [leaf(quantity=0, evidence_hashes=()), leaf(evidence_hashes=(bytes(32), bytes(32)), asset_ref="x"),
           leaf(evidence_hashes=(sha("1"),), asset_ref="x")]
    parsed = parse_batch_file(build_tree(bad, check_rules=False).to_file_bytes())
    assert [p.leaf for p in parsed.leaves] == bad


def test_a_lone_surrogate_in_a_file_text_is_hashed_as_javascript_does_u_fffd() -> None:
    replaced = leaf(note="a\ufffdb")
    data = build_tree([replaced]).to_file_bytes().replace("a\ufffdb".encode(), b"a\\ud800b")
    parsed = parse_batch_file(data)
    assert parsed.leaves[0].leaf == replaced
    assert parsed.root == replaced.leaf_hash()
    assert parsed.leaves[0].values[5] == "a\ud800b"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\xff{}", NotJsonError),
        (b"\xef\xbb\xbf{}", NotJsonError),
        (b'{"format":', NotJsonError),
        (b"NaN", NotJsonError),
        (b'{"treeIndex": 1' + b"0" * 5000 + b"}", NotJsonError),
        (b"[" * 100_000 + b"]" * 100_000, NotJsonError),
        (b"[]", BatchStructureError),
        (b'"standard-v1"', BatchStructureError),
        (b"{}", WrongFormatError),
        (b'{"format":"standard-v2","leafEncoding":[],"tree":[],"values":[]}', WrongFormatError),
        (b'{"format":"standard-v1","tree":[],"values":[]}', WrongLeafEncodingError),
        (b'{"format":"standard-v1","leafEncoding":["uint256","uint64"],"tree":[],"values":[]}',
         WrongLeafEncodingError),
    ],
)
def test_bytes_that_are_not_a_batch_file_are_refused_with_a_typed_error(data: bytes, error: type) -> None:
    with pytest.raises(error):
        parse_batch_file(data)


def test_a_key_that_is_missing_unknown_or_repeated_is_a_structure_error() -> None:
    document = three_dump()
    del document["tree"]
    with pytest.raises(BatchStructureError) as info:
        parse_batch_file(json.dumps(document).encode())
    assert info.value.where == "tree"
    with pytest.raises(BatchStructureError) as info:
        parse_batch_file(edited(three_dump(), ["comment"], "hello"))
    assert info.value.where == "comment"
    with pytest.raises(BatchStructureError) as info:
        parse_batch_file(edited(three_dump(), ["values", 1, "proof"], []))
    assert info.value.where == "values[1].proof"
    repeated = three_file().replace(b'"format":"standard-v1"', b'"format":"standard-v1","format":"standard-v1"')
    with pytest.raises(BatchStructureError):
        parse_batch_file(repeated)


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (["values"], [], "values"),
        (["values"], {}, "values"),
        (["tree"], "0x00", "tree"),
        (["values", 2], ["1"], "values[2]"),
        (["values", 2, "treeIndex"], "4", "values[2].treeIndex"),
        (["values", 2, "treeIndex"], 4.0, "values[2].treeIndex"),
    ],
)
def test_a_misshapen_dump_is_a_structure_error_naming_where(path: list, value: object, where: str) -> None:
    with pytest.raises(BatchStructureError) as info:
        parse_batch_file(edited(three_dump(), path, value))
    assert info.value.where == where


@pytest.mark.parametrize(
    ("position", "value", "field"),
    [
        (None, ["1", "2"], None),
        (None, "1,2,3", None),
        (0, 1, "commitment_id"),
        (0, "01", "commitment_id"),
        (0, "0x1", "commitment_id"),
        (0, "-1", "commitment_id"),
        (0, "", "commitment_id"),
        (0, " 1", "commitment_id"),
        (0, str(2**256), "commitment_id"),
        (1, "18446744073709551616", "quantity"),
        (2, "1e9", "delivered_at"),
        (3, "0x" + "ab" * 32, "evidence_hashes"),
        (3, ["0x" + "AB" * 32], "evidence_hashes"),
        (3, ["0x" + "ab" * 31], "evidence_hashes"),
        (3, ["ab" * 32], "evidence_hashes"),
        (4, None, "evidence_uri"),
        (5, 5, "note"),
        (6, ["x"], "external_ref"),
        (7, False, "asset_ref"),
    ],
)
def test_a_value_not_in_the_leaf_representation_names_its_index_and_field(
        position: int | None, value: object, field: str | None) -> None:
    path = ["values", 1, "value"] + ([] if position is None else [position])
    with pytest.raises(BadValueError) as info:
        parse_batch_file(edited(three_dump(), path, value))
    assert (info.value.value_index, info.value.field) == (1, field)


def test_a_file_listing_the_same_leaf_twice_is_refused() -> None:
    document = three_dump()
    document["values"].append(document["values"][0])
    with pytest.raises(DuplicateValueError) as info:
        parse_batch_file(json.dumps(document).encode())
    assert (info.value.first_index, info.value.value_index) == (0, 3)


def test_a_tree_or_tree_index_that_differs_from_the_values_is_a_tree_mismatch() -> None:
    with pytest.raises(TreeMismatchError) as info:
        parse_batch_file(edited(three_dump(), ["tree", 4], THREE_TREE[3]))
    assert (info.value.node_index, info.value.value_index) == (4, None)
    assert info.value.rebuilt_root == bytes.fromhex(THREE_ROOT[2:])
    with pytest.raises(TreeMismatchError) as info:
        parse_batch_file(edited(three_dump(), ["tree"], THREE_TREE[:3]))
    assert info.value.node_index == 3
    with pytest.raises(TreeMismatchError) as info:
        parse_batch_file(edited(three_dump(), ["tree", 0], THREE_ROOT.upper().replace("0X", "0x")))
    assert info.value.node_index == 0
    with pytest.raises(TreeMismatchError) as info:
        parse_batch_file(edited(three_dump(), ["values", 1, "treeIndex"], 3))
    assert (info.value.node_index, info.value.value_index) == (None, 1)
    with pytest.raises(TreeMismatchError) as info:
        parse_batch_file(edited(three_dump(), ["values", 0, "value", 1], "26"))
    assert info.value.rebuilt_root != bytes.fromhex(THREE_ROOT[2:])


def test_every_batch_file_error_is_a_ledger_value_error() -> None:
    for error in (NotJsonError, BatchStructureError, WrongFormatError, WrongLeafEncodingError, BadValueError,
                  DuplicateValueError, TreeMismatchError):
        assert issubclass(error, merkle.BatchFileError)
        assert issubclass(error, ValueError) and issubclass(error, LedgerError)


def test_a_pretty_printed_file_parses_to_the_same_tree() -> None:
    pretty = json.dumps(three_dump(), indent=2).encode()
    assert parse_batch_file(pretty).root == bytes.fromhex(THREE_ROOT[2:])


# ---------------------------------------------------------------------------- checking an anchored file


def check(data: bytes | None, *, root: merkle.Bytes32Like = THREE_ROOT, sha256: merkle.Bytes32Like = THREE_FILE_SHA256,
          count: int = 3) -> merkle.BatchCheck:
    return check_batch_file(data, anchored_root=root, anchored_sha256=sha256, anchored_leaf_count=count)


def test_the_anchored_file_is_verified_and_yields_its_leaves() -> None:
    checked = check(three_file())
    assert (checked.verified, checked.reason, checked.error) == (True, None, None)
    assert checked.sha256 == bytes.fromhex(THREE_FILE_SHA256[2:])
    assert [p.leaf_hash for p in checked.leaves] == THREE_LEAF_HASHES
    assert check(three_file(), root=bytes.fromhex(THREE_ROOT[2:]), sha256=THREE_FILE_SHA256.upper()[2:]).verified


def test_a_missing_file_counts_nothing() -> None:
    checked = check(None)
    assert (checked.verified, checked.reason, checked.leaves) == (False, UnverifiedReason.MISSING, ())
    assert checked.reason == "missing"


def test_a_file_edited_by_one_byte_is_a_sha256_mismatch() -> None:
    data = bytearray(three_file())
    data[-10] ^= 0x01
    checked = check(bytes(data))
    assert (checked.verified, checked.reason, checked.leaves) == (False, UnverifiedReason.SHA256_MISMATCH, ())


def test_bytes_with_the_anchored_sha256_that_do_not_parse_are_unparseable() -> None:
    data = b'{"format":"standard-v1"}'
    checked = check(data, sha256=hashlib.sha256(data).digest())
    assert (checked.verified, checked.reason) == (False, UnverifiedReason.UNPARSEABLE)
    assert isinstance(checked.error, WrongLeafEncodingError)


def test_a_file_whose_tree_was_edited_but_whose_values_rebuild_the_root_is_unparseable() -> None:
    data = edited(three_dump(), ["values", 1, "treeIndex"], 3)
    checked = check(data, sha256=hashlib.sha256(data).digest())
    assert (checked.verified, checked.reason) == (False, UnverifiedReason.UNPARSEABLE)
    assert isinstance(checked.error, TreeMismatchError)


def test_an_edited_value_with_its_sha256_anchored_is_a_root_mismatch() -> None:
    data = edited(three_dump(), ["values", 0, "value", 1], "26")
    checked = check(data, sha256=hashlib.sha256(data).digest())
    assert (checked.verified, checked.reason, checked.leaves) == (False, UnverifiedReason.ROOT_MISMATCH, ())


def test_another_consistent_batch_is_a_root_mismatch() -> None:
    other = build_tree([LEAF_A, LEAF_B]).to_file_bytes()
    checked = check(other, sha256=hashlib.sha256(other).digest(), count=2)
    assert (checked.verified, checked.reason) == (False, UnverifiedReason.ROOT_MISMATCH)
    assert checked.batch is not None and checked.batch.leaf_count == 2


def test_the_right_file_with_another_anchored_leaf_count_is_a_leaf_count_mismatch() -> None:
    checked = check(three_file(), count=4)
    assert (checked.verified, checked.reason, checked.leaves) == (False, UnverifiedReason.LEAF_COUNT_MISMATCH, ())


def test_an_anchored_hash_that_is_not_32_bytes_is_refused() -> None:
    with pytest.raises(HashFormatError) as info:
        check(three_file(), root="0x1234")
    assert info.value.name == "anchored_root"


def test_the_unverified_reasons_are_the_ledger_s() -> None:
    assert [r.value for r in UnverifiedReason] == [
        "missing", "sha256_mismatch", "unparseable", "root_mismatch", "leaf_count_mismatch"]
