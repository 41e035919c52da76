"""Part 2 of the ledger replayed from a real chain (docs/LEDGER.md "Batches", "Assets",
"Confirmations", "Sub-commitments", "Signed writes"): a story written once per module, with a
batch whose file is kept in the batch folder, one whose file is edited by one byte and one
whose file is withheld; the replay decides what counts from the chain and the files alone."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from typer.testing import CliRunner

from ledger import signing
from ledger.chain import LedgerChain, TxResult
from ledger.deployment import Deployment
from ledger.errors import ContractRevertError
from ledger.merkle import BatchLeaf, BatchTree, build_tree
from replay_support import DAY, StandInApi, api_from_report, latest_block_time, sha256
from scripts.audit import rules
from scripts.audit.api import ApiClient
from scripts.audit.batchfiles import BatchFiles, sha256_hex
from scripts.audit.compare import compare_with_api
from scripts.audit.report import build_report
from scripts.audit.review import review_of
from scripts.audit.rollup import rollup_of
from scripts.audit.runner import ReplayResult, ReplayTarget, replay_ledger
from scripts.replay import app

# Anvil's development keys 6..8 (tests/conftest.py's mnemonic), local only: two confirmers and a relayer.
INSPECTOR = "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e"
ACCOUNTANT = "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356"
RELAYER = "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97"
ZERO = b"\x00" * 32


def address(key: str) -> str:
    return Account.from_key(key).address


@dataclass
class Written:
    """A batch as the story anchored it: its tree, file bytes and what became of the file."""

    tree: BatchTree
    content: bytes
    tx: TxResult

    @property
    def root(self) -> str:
        return self.tree.root_hex


@dataclass
class Story:
    """What the story wrote: commitment ids by name, recorded delivery ids, batches, the batch
    folder and the transactions worth checking."""

    ids: dict[str, int]
    deliveries: dict[str, int]
    batches: dict[str, Written]
    batch_dir: Path
    txs: dict[str, TxResult] = field(default_factory=dict)


def relay(chain: LedgerChain, deployment: Deployment, function: str, args: list[Any], key: str) -> TxResult:
    """``function`` signed by ``key`` (EIP-712, ``ledger/signing.py``), submitted by the relayer."""
    signer = address(key)
    nonce = chain.call("nonces", signer)
    deadline = latest_block_time(chain.rpc_url) + 3600
    message = signing.message(function, args, nonce=nonce, deadline=deadline)
    data = signing.typed_data(function, message, chain_id=deployment.chain_id, contract=deployment.contract_address)
    auth = signing.authorization(signer, nonce, deadline, signing.sign(data, key))
    return chain.send(function + "BySig", [*args, auth], RELAYER)


@pytest.fixture(scope="module")
def story(chain: LedgerChain, deployment: Deployment, roles: Any, tmp_path_factory: pytest.TempPathFactory) -> Story:
    """Baarn: parent P (target 10) with sub-commitments A (weight 3, target 4; its own part G,
    target 2), B (weight 1, target 2) and W (weight 5, withdrawn); Utrecht: U. Assets, a
    double count, a relayed delivery, three batches (file kept / edited by one byte /
    withheld), a revoked leaf, confirmations and disputes by two confirmers (one removed
    later), some relayed."""
    t0 = latest_block_time(chain.rpc_url)
    registrar, council = roles.registrar.key, roles.council_admin.key
    ids: dict[str, int] = {}

    def register(name: str, municipality: int, target: int, parent: str | None = None, weight: int = 0) -> None:
        values = (municipality, f"p2-{name}", f"Part 2 {name}", "", "Wonen", target, "lamps", t0 - 10 * DAY,
                  t0 + 300 * DAY, ZERO, "", ids[parent] if parent else 0, weight)
        key = registrar if municipality == 1 else roles.other_registrar.key
        ids[name] = chain.send("registerCommitment", [values], key).event("CommitmentRegistered").args["commitment_id"]

    register("P", 1, 10)
    register("A", 1, 4, "P", 3)
    register("B", 1, 2, "P", 1)
    register("W", 1, 1, "P", 5)
    register("G", 1, 2, "A", 1)
    register("U", 2, 5)
    chain.send("withdrawCommitment", [ids["W"], "Not needed"], registrar)
    for confirmer in (INSPECTOR, ACCOUNTANT):
        chain.send("addConfirmer", [1, address(confirmer)], council)

    def deliver(commitment: str, quantity: int, asset: str, ref: str = "", n: int = 0) -> TxResult:
        values = (quantity, t0 - DAY, [sha256(f"{commitment}-{n}".encode())], "", "", ref, asset)
        return chain.send("recordDelivery", [ids[commitment], values], registrar)

    deliveries = {
        "lamp": deliver("A", 2, "lamp 1", n=1).event("DeliveryRecorded").args["delivery_id"],
        "lamp again": deliver("A", 1, " lamp  1", n=2).event("DeliveryRecorded").args["delivery_id"],
    }
    relayed = relay(chain, deployment, "recordDelivery",
                    [ids["B"], (1, t0 - DAY, [sha256(b"B relayed")], "", "", "r-1", "")], registrar)
    deliveries["relayed"] = relayed.event("DeliveryRecorded").args["delivery_id"]

    def leaf(commitment_id: int, quantity: int, asset: str = "", ref: str = "", n: int = 0) -> BatchLeaf:
        return BatchLeaf(commitment_id, quantity, t0 - 2 * DAY, (sha256(f"leaf-{commitment_id}-{n}".encode()),), "", "",
                         ref, asset)

    batch_dir = tmp_path_factory.mktemp("batch-files")
    batches: dict[str, Written] = {}

    def anchor(name: str, leaves: list[BatchLeaf], fate: str) -> None:
        tree = build_tree(leaves, check_rules=False)
        content = tree.to_file_bytes()
        digest = sha256(content)
        stored = bytearray(content)
        if fate == "edited":
            position = content.index(b'"values"') + 20
            stored[position] = stored[position] ^ 0x01  # one byte changed
        if fate != "withheld":
            (batch_dir / f"{digest.hex()}.json").write_bytes(bytes(stored))
        values = (1, tree.root, len(leaves), digest, f"https://baarn.nl/batches/{name}.json")
        tx = relay(chain, deployment, "anchorBatch", [values], registrar) if name == "kept" else chain.send(
            "anchorBatch", [values], registrar
        )
        batches[name] = Written(tree, content, tx)

    anchor("kept", [
        leaf(ids["B"], 1, "lamp 9", "b-1"),  # counts
        leaf(ids["A"], 5, "lamp 1"),  # the asset counted already
        leaf(999, 3),  # no such commitment
        leaf(ids["U"], 3),  # Utrecht's
        leaf(ids["W"], 1),  # withdrawn before the anchor
        leaf(ids["P"], 0),  # quantity 0: invalid
        leaf(ids["B"], 1, ref="r-1"),  # the relayed delivery's ref
        leaf(ids["B"], 1, "lamp 9 ", n=2),  # repeats L0's asset in the same batch
        leaf(ids["G"], 2),  # counts, revoked below
    ], "kept")
    anchor("edited", [leaf(ids["P"], 10, n=3), leaf(ids["B"], 1, n=3)], "edited")
    anchor("withheld", [leaf(ids["P"], 10, n=4)], "withheld")

    kept = batches["kept"]
    g_leaf = kept.tree.leaves[8]
    txs = {"revoked": chain.send("revokeBatchedDelivery", [kept.tree.root, tuple(g_leaf.values()), kept.tree.proof(8),
                                                           "Not installed"], registrar)}
    b_leaf = kept.tree.leaves[0]
    chain.send("confirmDelivery", [deliveries["lamp"], sha256(b"inspection")], INSPECTOR)
    chain.send("disputeDelivery", [deliveries["lamp"], "Lamp not lit"], ACCOUNTANT)
    relay(chain, deployment, "confirmBatchedDelivery", [kept.tree.root, tuple(b_leaf.values()), kept.tree.proof(0), ZERO],
          INSPECTOR)
    chain.send("disputeDelivery", [deliveries["relayed"], "Invoice missing"], ACCOUNTANT)
    chain.send("confirmDelivery", [deliveries["relayed"], ZERO], ACCOUNTANT)  # changed its mind
    txs["removed"] = chain.send("removeConfirmer", [1, address(ACCOUNTANT)], council)
    with pytest.raises(ContractRevertError) as refused:
        deliver("A", 1, "lamp 1", n=5)  # the same bytes as a counted, unrevoked delivery
    assert refused.value.name == "LedgerAssetAlreadyCounted"
    return Story(ids, deliveries, batches, batch_dir, txs)


@pytest.fixture(scope="module")
def replayed(story: Story, rpc_url: str, deployment: Deployment) -> ReplayResult:
    target = ReplayTarget(rpc_url, deployment.contract_address, deployment.deploy_block)
    return replay_ledger(target, batch_files=BatchFiles(story.batch_dir))


def test_the_story_replays_without_anomalies(replayed: ReplayResult) -> None:
    assert replayed.state.anomalies == []
    counts = replayed.state.event_counts
    assert (counts["BatchAnchored"], counts["BatchedDeliveryRevoked"], counts["ConfirmerAdded"],
            counts["ConfirmerRemoved"], counts["DeliveryConfirmed"], counts["DeliveryDisputed"],
            counts["BatchedDeliveryConfirmed"]) == (3, 1, 2, 1, 2, 2, 1)


def test_a_batch_file_edited_by_one_byte_or_withheld_counts_nothing(replayed: ReplayResult, story: Story) -> None:
    batches = replayed.state.batches
    verdicts = {name: (batches[w.root].verified, batches[w.root].unverified_reason, len(batches[w.root].leaves))
                for name, w in story.batches.items()}
    assert verdicts == {"kept": (True, None, 9), "edited": (False, "sha256_mismatch", 0), "withheld": (False, "missing", 0)}
    edited = story.batches["edited"]
    on_disk = (story.batch_dir / f"{sha256(edited.content).hex()}.json").read_bytes()
    assert sum(a != b for a, b in zip(on_disk, edited.content)) == 1 and len(on_disk) == len(edited.content)
    parent = replayed.state.commitments[story.ids["P"]]
    assert [leaf.leaf_index for leaf in parent.batched] == [5]  # only the kept batch's (invalid) leaf
    assert rules.delivered_quantity(parent.all_deliveries) == 0  # the 10 + 10 of the other batches count nothing
    assert [rules.batch_not_verifiable(batches[w.root]) for w in story.batches.values()] == [False, True, True]


def test_leaves_are_refused_for_the_documented_reasons_in_file_order(replayed: ReplayResult, story: Story) -> None:
    batch = replayed.state.batches[story.batches["kept"].root]
    assert [(leaf.leaf_index, leaf.refused_reason) for leaf in batch.leaves] == [
        (0, None), (1, "asset_already_counted"), (2, "unknown_commitment"), (3, "other_municipality"),
        (4, "commitment_withdrawn"), (5, "invalid_leaf"), (6, "duplicate_external_ref"), (7, "asset_already_counted"),
        (8, None),
    ]
    assert [leaf.leaf_hash for leaf in batch.leaves] == ["0x" + leaf.leaf_hash().hex() for leaf in story.batches["kept"].tree.leaves]
    assert (batch.registrar, batch.signer_held_role) == (story.batches["kept"].tx.event("BatchAnchored").args["registrar"], True)
    g = batch.leaves[8]
    assert (g.revoked, g.revocation.reason, g.counted, g.counts) == (True, "Not installed", True, False)
    assert all(leaf.recorded_at == batch.anchored_at for leaf in batch.leaves)


def test_an_asset_counts_once_and_a_double_count_is_decided_when_recorded(
    replayed: ReplayResult, story: Story, chain: LedgerChain
) -> None:
    a = replayed.state.commitments[story.ids["A"]]
    assert [(d.kind, d.asset_ref, d.asset_key, d.double_counted, d.counts) for d in a.all_deliveries] == [
        ("recorded", "lamp 1", "lamp 1", False, True),
        ("recorded", " lamp  1", "lamp 1", True, False),  # another spelling got past the contract
        ("batched", "lamp 1", "lamp 1", True, False),
    ]
    assert rules.delivered_quantity(a.all_deliveries) == 2
    assert chain.status_of(story.ids["A"]).delivered_quantity == 3  # the contract compares bytes: it counts both


def test_batched_deliveries_count_on_the_on_record_clock_from_the_anchor(replayed: ReplayResult, story: Story) -> None:
    b = replayed.state.commitments[story.ids["B"]]
    anchored_at = story.batches["kept"].tx.event("BatchAnchored").args["anchored_at"]
    e = rules.evaluate(b, anchored_at + DAY)
    assert (e.delivered_quantity, e.met_on_record_at, e.status_on_record, e.status) == (2, anchored_at, "delivered", "delivered")
    g = rules.evaluate(replayed.state.commitments[story.ids["G"]], anchored_at + DAY)
    assert (g.delivered_quantity, g.met_on_record_at) == (0, None)  # counted at the anchor, revoked since
    steps = replayed.state.commitments[story.ids["G"]].steps
    assert [(step.kind, step.quantity, step.at) for step in steps] == [("delivery", 2, anchored_at), ("revocation", 2, steps[1].at)]
    assert steps[0].order == (story.batches["kept"].tx.block_number, story.batches["kept"].tx.event("BatchAnchored").log_index)


def test_reviews_follow_each_confirmers_latest_verdict(replayed: ReplayResult, story: Story, rpc_url: str) -> None:
    state = replayed.state
    lamp, relayed = state.deliveries[story.deliveries["lamp"]], state.deliveries[story.deliveries["relayed"]]
    assert (review_of(lamp), rules.disputed_delivery(lamp)) == ("disputed", True)
    assert review_of(relayed) == "confirmed"  # disputed, then confirmed by the same confirmer
    assert relayed.verdicts[address(ACCOUNTANT)].signer_held_role is True  # removed only later: the verdict stays
    leaf = state.batches[story.batches["kept"].root].leaves[0]
    [verdict] = leaf.verdicts.values()
    assert (review_of(leaf), verdict.confirmer, verdict.evidence_hash) == ("confirmed", address(INSPECTOR), None)
    now = latest_block_time(rpc_url)
    b = rules.evaluate(state.commitments[story.ids["B"]], now)
    assert (b.confirmed_quantity, b.unconfirmed_quantity, b.disputed_quantity, b.progress_bps_confirmed) == (2, 0, 0, 10_000)
    assert b.status_confirmed == "delivered"
    a = rules.evaluate(state.commitments[story.ids["A"]], now)
    assert (a.confirmed_quantity, a.unconfirmed_quantity, a.disputed_quantity, a.status_confirmed) == (0, 2, 2, "pending")


def test_signed_writes_name_the_signer_not_the_relayer(replayed: ReplayResult, story: Story, roles: Any) -> None:
    relayed = replayed.state.deliveries[story.deliveries["relayed"]]
    batch = replayed.state.batches[story.batches["kept"].root]
    assert (relayed.registrar, relayed.signer_held_role) == (roles.registrar.address, True)
    assert batch.registrar == roles.registrar.address
    assert address(RELAYER) not in {relayed.registrar, batch.registrar}


def test_the_roll_up_weighs_non_withdrawn_children(replayed: ReplayResult, story: Story) -> None:
    commitments = replayed.state.commitments
    parent = commitments[story.ids["P"]]
    assert [c.id for c in parent.children] == [story.ids[n] for n in ("A", "B", "W")]
    assert [(c.parent_id, c.weight) for c in parent.children] == [(story.ids["P"], 3), (story.ids["P"], 1), (story.ids["P"], 5)]
    rollup = rollup_of(parent)
    # A rolls up as its part G (0: revoked), B as its own 10,000 capped; W is withdrawn.
    assert (rollup.rollup_progress_bps, rollup.rollup_children_delivered, rollup.rollup_children_counted) == (
        (3 * 0 + 1 * 10_000) // 4, 1, 2,
    )
    assert rollup_of(commitments[story.ids["A"]]).rollup_progress_bps == 0
    assert rollup_of(commitments[story.ids["G"]]).rollup_progress_bps is None


def test_the_report_lists_what_a_sceptical_reader_looks_for(replayed: ReplayResult, story: Story, rpc_url: str) -> None:
    report = build_report(replayed, latest_block_time(rpc_url), generated_at=0)
    totals = report["totals"]
    assert (totals["batches_anchored"], totals["batches_verified"], totals["batched_deliveries"],
            totals["batched_deliveries_counted"], totals["batched_deliveries_revoked"],
            totals["deliveries_double_counted"], totals["deliveries_disputed"], totals["sub_commitments"]) == (
        3, 1, 9, 1, 1, 3, 1, 4,
    )
    assert totals["batches_not_verifiable"] == {"missing": 1, "sha256_mismatch": 1, "unparseable": 0, "root_mismatch": 0,
                                                "leaf_count_mismatch": 0}
    assert totals["leaves_refused"] == {"unknown_commitment": 1, "other_municipality": 1, "commitment_withdrawn": 1,
                                        "invalid_leaf": 1, "duplicate_external_ref": 1, "asset_already_counted": 2}
    assert [(b["root"], b["unverified_reason"]) for b in report["batches_not_verifiable"]] == [
        (story.batches["edited"].root, "sha256_mismatch"), (story.batches["withheld"].root, "missing"),
    ]
    assert [r["refused_reason"] for r in report["refused_leaves"]] == [
        "asset_already_counted", "unknown_commitment", "other_municipality", "commitment_withdrawn", "invalid_leaf",
        "duplicate_external_ref", "asset_already_counted",
    ]
    assert [(d["kind"], d["asset_ref"]) for d in report["double_counts"]] == [
        ("recorded", " lamp  1"), ("batched", "lamp 1"), ("batched", "lamp 9 "),
    ]
    assert [(d["id"], [x["reason"] for x in d["disputes"]]) for d in report["disputed_deliveries"]] == [
        (story.deliveries["lamp"], ["Lamp not lit"]),
    ]
    [kept] = [b for b in report["batches"] if b["root"] == story.batches["kept"].root]
    assert (kept["counted_leaves"], kept["refused_leaves"], kept["revoked_leaves"], kept["file_source"]) == (
        1, 7, 1, f"dir:{story.batch_dir / (sha256(story.batches['kept'].content).hex() + '.json')}",
    )
    [a] = [c for c in report["commitments"] if c["id"] == story.ids["A"]]
    assert [(d["kind"], d["double_counted"], d["refused_reason"], d["review"]) for d in a["deliveries"]] == [
        ("recorded", False, None, "disputed"), ("recorded", True, None, "unconfirmed"),
        ("batched", True, "asset_already_counted", "unconfirmed"),
    ]
    assert (a["batched_delivery_count"], a["disputed_quantity"], a["children"]) == (1, "2", [story.ids["G"]])


def test_without_the_files_every_batch_is_missing_and_counts_nothing(story: Story, rpc_url: str, deployment: Deployment) -> None:
    bare = replay_ledger(ReplayTarget(rpc_url, deployment.contract_address, deployment.deploy_block))
    assert {b.unverified_reason for b in bare.state.batches.values()} == {"missing"}
    b = bare.state.commitments[story.ids["B"]]
    assert (b.batched, rules.delivered_quantity(b.all_deliveries)) == ([], 1)
    assert bare.state.anomalies == []


def test_a_file_under_any_name_is_found_by_its_sha256(story: Story, tmp_path: Path) -> None:
    kept = story.batches["kept"]
    (tmp_path / "batch-of-tuesday.json").write_bytes(kept.content)
    (tmp_path / f"{sha256(kept.content).hex()}.json").write_bytes(b"{}")  # a wrong file under the right name
    files = BatchFiles(tmp_path)
    [first, second] = files.candidates(kept.root, sha256_hex(kept.content))
    assert (first.source, first.data, second.data) == (f"dir:{tmp_path / 'batch-of-tuesday.json'}", kept.content, b"{}")


def test_the_cli_reads_batch_files_from_a_folder_and_from_the_api(
    story: Story, replayed: ReplayResult, rpc_url: str, deployment: Deployment, tmp_path: Path
) -> None:
    runner = CliRunner()
    base = ["--rpc-url", rpc_url, "--address", deployment.contract_address, "--deploy-block", str(deployment.deploy_block)]
    folder = runner.invoke(app, [*base, "--report", str(tmp_path / "dir.json"), "--batch-dir", str(story.batch_dir)],
                           catch_exceptions=False)
    assert folder.exit_code == 0, folder.output
    output = " ".join(folder.output.split())
    assert "Batches anchored but not verifiable: they count nothing (2)" in output
    assert "Refused leaves of verified batches: they count nothing (7)" in output
    assert "Disputed deliveries (1)" in output
    report = json.loads((tmp_path / "dir.json").read_text(encoding="utf-8"))
    assert report["totals"]["batches_verified"] == 1

    # The API holds the withheld file, and serves the edited file's original bytes: both verify.
    with StandInApi({"batch_files": {w.root: w.content for w in story.batches.values()}}) as api:
        fetched = BatchFiles(None, ApiClient(api.url).batch_file)
        again = replay_ledger(ReplayTarget(rpc_url, deployment.contract_address, deployment.deploy_block), batch_files=fetched)
    assert {b.root: (b.verified, b.file_source) for b in again.state.batches.values()} == {
        w.root: (True, "api") for w in story.batches.values()
    }
    missing = runner.invoke(app, [*base, "--report", str(tmp_path / "x.json"), "--batch-files-from-api"])
    assert missing.exit_code == 2 and "--batch-files-from-api needs --api-url" in " ".join(missing.output.split())


def test_an_honest_api_agrees_and_each_part_2_field_is_compared(replayed: ReplayResult, story: Story, rpc_url: str) -> None:
    now = latest_block_time(rpc_url)
    api = api_from_report(build_report(replayed, now, generated_at=0))
    payload = {"health": api["health"], "summaries": api["summaries"], "commitments": list(api["details"].values()),
               "municipalities": api["municipalities"], "batches": api["batches"], "batch_details": api["batch_details"]}

    def differences(changed: dict[str, Any]) -> list[tuple[Any, str, Any, Any]]:
        found = compare_with_api(replayed.state, changed, compared_from=now).differences
        return [(d.id, d.field, d.chain, d.api) for d in found]

    assert differences(payload) == []
    a, root = story.ids["A"], story.batches["kept"].root
    edits: list[tuple[Any, Any, tuple[Any, str, Any, Any]]] = [
        (("commitments", a, "deliveries", 1, "double_counted"), False, (a, "deliveries[%d].double_counted" % story.deliveries["lamp again"], True, False)),
        (("commitments", a, "deliveries", 2, "refused_reason"), None, (a, f"deliveries[{root}#1].refused_reason", "asset_already_counted", None)),
        (("commitments", a, "deliveries", 0, "disputes", 0, "reason"), "?", (a, f"deliveries[{story.deliveries['lamp']}].disputes[{address(ACCOUNTANT).lower()}].reason", "Lamp not lit", "?")),
        (("summaries", story.ids["P"], "rollup_progress_bps"), 10_000, (story.ids["P"], "rollup_progress_bps", 2500, 10_000)),
        (("batches", story.batches["withheld"].root, "verified"), True, (story.batches["withheld"].root, "verified", False, True)),
        (("municipalities", 1, "confirmers"), [], (1, "confirmers", [address(INSPECTOR)], [])),
    ]
    for path, value, expected in edits:
        changed = copy.deepcopy(payload)
        target: Any = changed
        kind, key, *rest = path
        rows = target[kind]
        target = next(r for r in rows if r.get("id", r.get("root")) == key)
        for part in rest[:-1]:
            target = target[part]
        target[rest[-1]] = value
        assert differences(changed) == [expected], path
