"""Fixtures for the CommitmentLedger tests: accounts by role, a block clock, deployed state.

Every test starts from a fresh chain (``fn_isolation``). Inputs are tuples in the field order of
the ICommitmentLedger structs, built from constants.py; a test overrides only the fields it is
about, by name.
"""

import gc
import sys
from types import SimpleNamespace

import pytest
from brownie import CommitmentLedger, accounts, chain, web3
from eth_account import Account

from constants import (
    AMEND_TARGET,
    AMENDED_TARGET,
    AMENDMENT_REASON,
    ASSET_REF,
    BAARN_CODE,
    BAARN_ID,
    BAARN_NAME,
    BATCH_FILE_SHA256,
    BATCH_FILE_URI,
    COMMITMENT_DESCRIPTION,
    COMMITMENT_DUE_AFTER,
    COMMITMENT_PROMISED_BEFORE,
    COMMITMENT_REF,
    COMMITMENT_TARGET,
    COMMITMENT_THEME,
    COMMITMENT_TITLE,
    COMMITMENT_UNIT,
    DAY,
    DELIVERY_NOTE,
    DELIVERY_QUANTITY,
    DELIVERY_REF,
    EVIDENCE,
    EVIDENCE_URI,
    SIGNATURE_VALID_FOR,
    SOURCE_DOCUMENT_HASH,
    SOURCE_URI,
    UTRECHT_CODE,
    UTRECHT_ID,
    UTRECHT_NAME,
)
import typed_data
from standard_tree import StandardTree


ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
"""The mnemonic anvil derives its development accounts from (public, local use only)."""


def pytest_configure(config):
    # brownie 1.22's own fn_isolation calls rpc.snapshot/rpc.revert and warns about itself
    config.addinivalue_line("filterwarnings", "ignore:rpc.*should not be called directly:FutureWarning")


@pytest.fixture(scope="session", autouse=True)
def frozen_heap():
    """Move the objects loaded so far (brownie, web3, the compiled project) out of the garbage
    collector's reach: brownie runs ``gc.collect()`` on every revert, and scanning that heap
    took about 0.2 s per test (measured with cProfile on 2 cores)."""
    gc.freeze()
    yield
    gc.unfreeze()


class _CallerFrames:
    """Stands in for the ``inspect`` module inside ``brownie.network.rpc``: its ``internal``
    decorator (around ``snapshot``, ``revert``, ``mine``, ...) reads only
    ``inspect.stack()[1].frame``, the caller, to warn when that is not ``brownie.chain``. The
    real ``inspect.stack()`` also finds every frame's source file and module (a scan of
    ``sys.modules`` per frame): 0.2 to 1 s per call, two or three calls per test through
    ``fn_isolation`` (cProfile of tests/contract/test_municipalities.py: 40 % of its time).
    The same frames, and so the same warnings, without that work."""

    @staticmethod
    def stack() -> list[SimpleNamespace]:
        wrapped = sys._getframe(1)  # brownie's ``wrapped``, as inspect.stack()[0]
        return [SimpleNamespace(frame=wrapped), SimpleNamespace(frame=wrapped.f_back)]


@pytest.fixture(scope="session", autouse=True)
def cheap_rpc_caller_check():
    """:class:`_CallerFrames` in ``brownie.network.rpc`` for this session."""
    with pytest.MonkeyPatch.context() as patch:
        # the module (``brownie.network.rpc`` as an attribute is brownie's Rpc object)
        patch.setattr(sys.modules["brownie.network.rpc"], "inspect", _CallerFrames)
        yield


@pytest.fixture(autouse=True)
def isolation(frozen_heap, cheap_rpc_caller_check, fn_isolation):
    """Revert the chain to a clean state before every test in this folder."""


# ------------------------------------------------------------------ accounts by role


@pytest.fixture
def platform_admin():
    """Owner of the ledger; onboards municipalities."""
    return accounts[0]


@pytest.fixture
def council_admin():
    """Admin of Baarn."""
    return accounts[1]


@pytest.fixture
def registrar():
    """Registrar of Baarn."""
    return accounts[2]


@pytest.fixture
def other_admin():
    """Admin of Utrecht."""
    return accounts[3]


@pytest.fixture
def other_registrar():
    """Registrar of Utrecht."""
    return accounts[4]


@pytest.fixture
def stranger():
    """An account with no role anywhere."""
    return accounts[5]


@pytest.fixture
def newcomer():
    """An account without a role yet, to be given one by a test (new admin, new owner, ...)."""
    return accounts[6]


@pytest.fixture
def confirmer(ledger, baarn, council_admin):
    """Confirmer of Baarn (an inspector), given the role by Baarn's admin."""
    ledger.addConfirmer(BAARN_ID, accounts[7], {"from": council_admin})
    return accounts[7]


@pytest.fixture
def other_confirmer(ledger, utrecht, other_admin):
    """Confirmer of Utrecht."""
    ledger.addConfirmer(UTRECHT_ID, accounts[8], {"from": other_admin})
    return accounts[8]


@pytest.fixture
def relayer():
    """Submits writes others signed and pays their gas; holds no role."""
    return accounts[9]


# ------------------------------------------------------------------ block time


def _rpc(method, params):
    response = web3.provider.make_request(method, params)
    assert "error" not in response, response
    return response.get("result")


class Clock:
    """Exact block times on anvil, in Unix seconds.

    An automined transaction gets the wall-clock time, and brownie 1.22's
    ``chain.mine(timestamp=...)`` sends anvil malformed parameters, so tests pin block times
    through anvil's RPC. Views (``eth_call``) run at the latest block's time. Times only move
    forward; ``fn_isolation`` rewinds them between tests.
    """

    def __init__(self, start):
        self.start = start

    def now(self):
        """Time of the latest block."""
        return web3.eth.get_block("latest")["timestamp"]

    def next_block_at(self, timestamp):
        """The next transaction is mined in a block with exactly this time."""
        _rpc("evm_setNextBlockTimestamp", [timestamp])

    def mine_at(self, timestamp):
        """Mine an empty block with this time; views then run at this time."""
        _rpc("evm_mine", [timestamp])
        assert self.now() == timestamp

    def reach(self, timestamp):
        """Make sure the next block is not earlier than ``timestamp``."""
        if self.now() < timestamp:
            self.next_block_at(timestamp)


@pytest.fixture
def clock():
    """Clock starting at a midnight (UTC) after the chain's current time."""
    start = (chain[-1].timestamp // DAY + 2) * DAY
    started = Clock(start)
    started.mine_at(start)
    return started


@pytest.fixture
def promised_at(clock):
    """Promise date of the `commitment` fixture (claimed: the council's decision, before the chain saw it)."""
    return clock.start - COMMITMENT_PROMISED_BEFORE


@pytest.fixture
def due_date(clock):
    """Due date of the `commitment` fixture."""
    return clock.start + COMMITMENT_DUE_AFTER


# ------------------------------------------------------------------ deployed state


@pytest.fixture
def ledger(clock, platform_admin):
    return CommitmentLedger.deploy(platform_admin, {"from": platform_admin})


@pytest.fixture
def baarn(ledger, platform_admin, council_admin, registrar):
    """Baarn (id 1) with its admin and one registrar."""
    ledger.registerMunicipality(BAARN_NAME, BAARN_CODE, council_admin, {"from": platform_admin})
    ledger.addRegistrar(BAARN_ID, registrar, {"from": council_admin})
    return BAARN_ID


@pytest.fixture
def utrecht(ledger, baarn, platform_admin, other_admin, other_registrar):
    """Utrecht (id 2) with its admin and one registrar."""
    ledger.registerMunicipality(UTRECHT_NAME, UTRECHT_CODE, other_admin, {"from": platform_admin})
    ledger.addRegistrar(UTRECHT_ID, other_registrar, {"from": other_admin})
    return UTRECHT_ID


def _build(defaults, changes):
    unknown = set(changes) - set(defaults)
    assert not unknown, f"no such field: {unknown}"
    return tuple({**defaults, **changes}.values())


@pytest.fixture
def commitment_input(promised_at, due_date):
    """Builds a CommitmentInput tuple for Baarn, without parent (parentId 0, weight 0); keyword
    arguments replace fields."""

    def build(**changes):
        defaults = {
            "municipalityId": BAARN_ID,
            "externalRef": COMMITMENT_REF,
            "title": COMMITMENT_TITLE,
            "description": COMMITMENT_DESCRIPTION,
            "theme": COMMITMENT_THEME,
            "targetQuantity": COMMITMENT_TARGET,
            "unit": COMMITMENT_UNIT,
            "promisedAt": promised_at,
            "dueDate": due_date,
            "sourceDocumentHash": SOURCE_DOCUMENT_HASH,
            "sourceUri": SOURCE_URI,
            "parentId": 0,
            "weight": 0,
        }
        return _build(defaults, changes)

    return build


@pytest.fixture
def amendment_input():
    """Builds an AmendmentInput tuple: the first amendment, raising the target only (fields =
    AMEND_TARGET, texts empty, due date 0); keyword arguments replace fields."""

    def build(**changes):
        defaults = {
            "expectedAmendmentCount": 0,
            "fields": AMEND_TARGET,
            "title": "",
            "description": "",
            "targetQuantity": AMENDED_TARGET,
            "dueDate": 0,
            "reason": AMENDMENT_REASON,
        }
        return _build(defaults, changes)

    return build


@pytest.fixture
def delivery_input(clock):
    """Builds a DeliveryInput tuple (two evidence files, no external ref, no asset), dated at the
    clock start."""

    def build(**changes):
        defaults = {
            "quantity": DELIVERY_QUANTITY,
            "deliveredAt": clock.start,
            "evidenceHashes": list(EVIDENCE[:2]),
            "evidenceUri": EVIDENCE_URI,
            "note": DELIVERY_NOTE,
            "externalRef": "",
            "assetRef": "",
        }
        return _build(defaults, changes)

    return build


@pytest.fixture
def batch_leaf(clock):
    """Builds a BatchLeaf tuple: a delivery of 50 against commitment 1 (the `commitment`
    fixture) dated at the clock start, two evidence files, no external ref, no asset; keyword
    arguments replace fields."""

    def build(**changes):
        defaults = {
            "commitmentId": 1,
            "quantity": DELIVERY_QUANTITY,
            "deliveredAt": clock.start,
            "evidenceHashes": list(EVIDENCE[:2]),
            "evidenceUri": EVIDENCE_URI,
            "note": DELIVERY_NOTE,
            "externalRef": "",
            "assetRef": "",
        }
        return _build(defaults, changes)

    return build


@pytest.fixture
def batch_input():
    """Builds a BatchInput tuple for Baarn: ``batch_input(root, leafCount)``; keyword arguments
    replace the other fields (fileSha256, fileUri, municipalityId)."""

    def build(root, leafCount, **changes):
        defaults = {
            "municipalityId": BAARN_ID,
            "root": root,
            "leafCount": leafCount,
            "fileSha256": BATCH_FILE_SHA256,
            "fileUri": BATCH_FILE_URI,
        }
        return _build(defaults, changes)

    return build


@pytest.fixture
def commitment(ledger, baarn, registrar, commitment_input):
    """Id of Baarn's commitment: 200 homes, promised 30 days before and due a year after the clock start."""
    return ledger.registerCommitment(commitment_input(), {"from": registrar}).return_value


@pytest.fixture
def deliver(ledger, registrar, clock, delivery_input):
    """Records a delivery as Baarn's registrar, first moving block time up to its date if needed.

    Returns the transaction; its return value is the delivery id.
    """

    def record(commitment_id, quantity, delivered_at, **changes):
        clock.reach(delivered_at)
        return ledger.recordDelivery(
            commitment_id,
            delivery_input(quantity=quantity, deliveredAt=delivered_at, **changes),
            {"from": registrar},
        )

    return record


@pytest.fixture
def tree(commitment, batch_leaf):
    """The tree of a batch of four deliveries against the `commitment`: leaf 0 names an asset,
    leaf 1 an external ref, leaves 2 and 3 differ in quantity only (not anchored yet)."""
    return StandardTree([
        batch_leaf(quantity=10, assetRef=ASSET_REF),
        batch_leaf(quantity=20, externalRef=DELIVERY_REF),
        batch_leaf(quantity=30),
        batch_leaf(quantity=40, note=""),
    ])


@pytest.fixture
def batch(ledger, tree, registrar, batch_input):
    """The `tree`, anchored by Baarn's registrar; returns the tree."""
    ledger.anchorBatch(batch_input(tree.root, len(tree.leaves)), {"from": registrar})
    return tree


@pytest.fixture(scope="session")
def private_keys():
    """The private key of each of brownie's accounts, by address: anvil's accounts are unlocked
    on the node and brownie holds no key, so they are derived here from anvil's standard test
    mnemonic (BIP-44 path m/44'/60'/0'/0/i), and checked against the node's accounts. Local
    test keys only."""
    Account.enable_unaudited_hdwallet_features()
    keys = {}
    for index, account in enumerate(accounts):
        derived = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
        assert derived.address == account.address, "anvil was started with another mnemonic"
        keys[account.address] = derived.key
    return keys


@pytest.fixture
def authorize(ledger, clock, private_keys):
    """``authorize(operation, args, signer)``: the Authorization tuple (signer, nonce, deadline,
    signature) of ``signer`` (an account, or the address of a contract wallet) for
    ``operation`` (e.g. "recordDelivery") called with ``args``: its next nonce, a deadline a day
    after the latest block, signed with its key in this ledger's domain. Keywords replace one
    part: ``nonce``, ``deadline``, ``key`` (another key signs), ``chain_id``, ``contract``
    (the domain's verifyingContract)."""

    def build(operation, args, signer, *, nonce=None, deadline=None, key=None, chain_id=None, contract=None):
        address = getattr(signer, "address", signer)
        nonce = ledger.nonces(address) if nonce is None else nonce
        deadline = clock.now() + SIGNATURE_VALID_FOR if deadline is None else deadline
        signature = typed_data.sign(
            operation, args, private_key=key or private_keys[address], nonce=nonce, deadline=deadline,
            chain_id=chain.id if chain_id is None else chain_id, contract=contract or ledger.address,
        )
        return (address, nonce, deadline, signature)

    return build


@pytest.fixture
def relay(ledger, relayer):
    """``relay(operation, args, auth)``: the relayer submits ``operation``'s ``...BySig`` twin;
    returns the transaction."""

    def submit(operation, args, auth):
        return getattr(ledger, operation + "BySig")(*args, auth, {"from": relayer})

    return submit


@pytest.fixture
def status(ledger):
    """``status(commitment_id)``: statusOf as a plain tuple (status, deliveredQuantity,
    targetQuantity, progressBps, metOnRecordAt). brownie 1.22's ReturnValue does not compare
    with a tuple of ints."""

    def read(commitment_id):
        return tuple(ledger.statusOf(commitment_id))

    return read


@pytest.fixture
def state(ledger):
    """``state(commitment_id)``: commitmentState as a plain tuple in CommitmentState field order
    (municipalityId, withdrawn, amendmentCount, deliveryCount, targetQuantity, promisedAt,
    dueDate, deliveredQuantity, metOnRecordAt)."""

    def read(commitment_id):
        return tuple(ledger.commitmentState(commitment_id))

    return read
