"""Every literal the CommitmentLedger tests build their inputs from.

Limits mirror contracts/CommitmentLedger.sol (v2) and docs/LEDGER.md; texts are measured in
bytes (UTF-8 for str, raw for bytes). Times are Unix seconds, relative to the test clock's start
(see ``clock`` in conftest.py); quantities are in the commitment's unit.
"""

from hashlib import sha256

from ledger.limits import (  # the off-chain mirror: these tests hold it to the contract
    ASSET_REF_MAX_BYTES as MAX_ASSET_REF,
    DESCRIPTION_MAX_BYTES as MAX_DESCRIPTION,
    EXTERNAL_REF_MAX_BYTES as MAX_REF,
    MAX_EVIDENCE,
    MUNICIPALITY_CODE_MAX_BYTES as MAX_CODE,
    NAME_MAX_BYTES as MAX_NAME,
    NOTE_MAX_BYTES as MAX_NOTE,
    REASON_MAX_BYTES as MAX_REASON,
    THEME_MAX_BYTES as MAX_THEME,
    TITLE_MAX_BYTES as MAX_TITLE,
    UNIT_MAX_BYTES as MAX_UNIT,
    URI_MAX_BYTES as MAX_URI,
)

DAY = 86_400  # seconds

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_HASH = "0x" + "00" * 32

VERSION = "2.1.0"

# CommitmentLedger's public constants (docs/LEDGER.md)
MAX_QUANTITY = 10**13  # largest quantity or target, in the commitment's unit, inclusive
MAX_DATE = 253_402_300_800  # 10000-01-01T00:00:00Z: due dates are < this
DELIVERY_ID_BASE = 1_000_000  # delivery id = commitment id * this + n, n = 1, 2, ...
MAX_DELIVERIES = 999_999  # per commitment, revoked ones included
ADMIN_RECOVERY_DELAY = 42 * DAY  # seconds between AdminRecoveryStarted and completion
MAX_WEIGHT = 1_000_000  # largest weight of a sub-commitment in its parent's roll-up, inclusive
MAX_LEAF_COUNT = 2**32 - 1  # BatchInput.leafCount is a uint32, 1..this
EIP170_MAX_CODE_BYTES = 24_576  # EIP-170: the largest deployed contract code, bytes

# AmendmentInput.fields bits
AMEND_TITLE = 1
AMEND_DESCRIPTION = 2
AMEND_TARGET = 4
AMEND_DUE_DATE = 8

# ICommitmentLedger.Verdict
NO_VERDICT = 0
CONFIRMED = 1
DISPUTED = 2

# ICommitmentLedger.Status
PENDING = 0
IN_PROGRESS = 1
DELIVERED = 2
DELIVERED_LATE = 3
OVERDUE = 4
WITHDRAWN = 5

# municipalities, registered in this order by the fixtures
BAARN_ID = 1
BAARN_NAME = "Baarn"
BAARN_CODE = "GM0308"
UTRECHT_ID = 2
UTRECHT_NAME = "Utrecht"
UTRECHT_CODE = "GM0344"
UNKNOWN_ID = 99  # no municipality or commitment has this id
UNKNOWN_DELIVERY_ID = 99 * DELIVERY_ID_BASE + 1  # the first delivery of the unknown commitment


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data`` as a 0x-prefixed bytes32 hex string."""
    return "0x" + sha256(data).hexdigest()


def delivery_id(commitment_id: int, number: int) -> int:
    """Id of the ``number``-th delivery (1-based, revoked ones included) of a commitment."""
    return commitment_id * DELIVERY_ID_BASE + number


# the Baarn commitment registered by the `commitment` fixture
COMMITMENT_REF = "RB-2024-017"
COMMITMENT_TITLE = "200 sociale huurwoningen renoveren"
COMMITMENT_DESCRIPTION = "De gemeente renoveert 200 sociale huurwoningen tot energielabel A."
COMMITMENT_THEME = "Wonen en leefomgeving"
COMMITMENT_TARGET = 200  # homes
COMMITMENT_UNIT = "homes"
COMMITMENT_PROMISED_BEFORE = 30 * DAY  # promisedAt = clock start - this (the council's decision)
COMMITMENT_DUE_AFTER = 365 * DAY  # due date = clock start + this
SOURCE_DOCUMENT_HASH = sha256_hex(b"raadsbesluit RB-2024-017")
SOURCE_URI = "https://baarn.raadsinformatie.nl/document/rb-2024-017.pdf"

# amendments
AMENDED_TITLE = "250 sociale huurwoningen renoveren"
AMENDED_DESCRIPTION = "De gemeente renoveert 250 sociale huurwoningen tot energielabel A."
AMENDED_TARGET = 250
AMENDMENT_REASON = "Raadsbesluit RB-2025-003: 50 woningen toegevoegd"
WITHDRAWAL_REASON = "Project geschrapt bij de voorjaarsnota"

# deliveries
DELIVERY_QUANTITY = 50
EVIDENCE = tuple(sha256_hex(f"opleverrapport {i}".encode()) for i in range(1, MAX_EVIDENCE + 2))
EVIDENCE_URI = "https://baarn.nl/opleveringen/2025-q1"
DELIVERY_NOTE = "Eerste blok Eemnesserweg opgeleverd"
DELIVERY_REF = "OPL-2025-001"
REVOCATION_REASON = "Dubbel geboekt"

# assets (DeliveryInput.assetRef): a streetlight number, a BAG address code
ASSET_REF = "LP-0308-00417"
OTHER_ASSET_REF = "0308010000123456"

# confirmations
CONFIRMATION_EVIDENCE = sha256_hex(b"inspectierapport 2025-017")
DISPUTE_REASON = "Bij inspectie bleken 12 woningen niet op label A"

# batches: the file is the tree's StandardMerkleTree dump (docs/LEDGER.md "Batches")
BATCH_FILE_SHA256 = sha256_hex(b"batch file of the tests")  # the tests never fetch the file
BATCH_FILE_URI = "https://baarn.nl/opleveringen/batch-2025-q1.json"
BATCH_REVOCATION_REASON = "Lantaarnpaal stond al in een eerdere batch"

# signed writes (EIP-712 domain of CommitmentLedger)
DOMAIN_NAME = "CommitmentLedger"
DOMAIN_VERSION = "2"
SIGNATURE_VALID_FOR = DAY  # deadline = block time of signing + this, seconds

# accounts by role (conftest.py fixtures) that are not a registrar of Baarn / not its admin / not
# its confirmer
NOT_BAARN_REGISTRARS = ["platform_admin", "council_admin", "confirmer", "other_admin", "other_registrar", "stranger"]
NOT_BAARN_ADMINS = ["platform_admin", "registrar", "confirmer", "other_admin", "other_registrar", "stranger"]
NOT_OWNERS = ["council_admin", "registrar", "other_admin", "other_registrar", "stranger"]
NOT_BAARN_CONFIRMERS = [
    "platform_admin", "council_admin", "registrar", "other_admin", "other_registrar", "other_confirmer", "stranger"
]
