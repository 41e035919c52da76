"""The ledger contract's input limits and constants, mirrored for off-chain code (API,
importer, indexer).

Source: the constants of ``contracts/CommitmentLedger.sol`` (v2) and the NatSpec of
``ICommitmentLedger``; texts in UTF-8 bytes, both bounds inclusive unless stated. The contract
tests build their boundary cases from these values (tests/contract/constants.py), so a change
on one side alone fails them.
"""

from __future__ import annotations

import unicodedata

NAME_MAX_BYTES = 100
MUNICIPALITY_CODE_MAX_BYTES = 16
EXTERNAL_REF_MAX_BYTES = 64
TITLE_MAX_BYTES = 200
DESCRIPTION_MAX_BYTES = 8000
THEME_MAX_BYTES = 120
UNIT_MAX_BYTES = 32
URI_MAX_BYTES = 512
NOTE_MAX_BYTES = 1000
REASON_MAX_BYTES = 1000

MAX_QUANTITY = 10**13
"""Largest quantity or target, in the commitment's unit, inclusive (``CommitmentLedger.MAX_QUANTITY``)."""
MAX_EVIDENCE = 16
"""Most evidence hashes per delivery, inclusive (``CommitmentLedger.MAX_EVIDENCE``)."""
MAX_DATE = 253_402_300_800
"""Exclusive upper bound of a due date, Unix seconds: 10000-01-01T00:00:00Z
(``CommitmentLedger.MAX_DATE``; ``promisedAt < dueDate < MAX_DATE``)."""
DELIVERY_ID_BASE = 1_000_000
"""A delivery id is ``commitment_id * DELIVERY_ID_BASE + n``, n = 1.. per commitment
(``CommitmentLedger.DELIVERY_ID_BASE``)."""
MAX_DELIVERIES = 999_999
"""Most deliveries per commitment, revoked ones included (``CommitmentLedger.MAX_DELIVERIES``)."""
MAX_WEIGHT = 1_000_000
"""Largest weight of a sub-commitment in its parent's roll-up, inclusive (``CommitmentLedger.MAX_WEIGHT``;
1..MAX_WEIGHT with a parent, 0 without)."""
ASSET_REF_MAX_BYTES = EXTERNAL_REF_MAX_BYTES
"""Longest ``assetRef`` of a delivery or batch leaf, bytes (``DeliveryInput.assetRef``: 0..64)."""
ADMIN_RECOVERY_DELAY = 42 * 86_400
"""Delay of a municipality admin recovery, in seconds (named as in the contract): 42 days, the Dutch objection period
(Awb art. 6:7; docs/LEDGER.md "Recovery") (``CommitmentLedger.ADMIN_RECOVERY_DELAY``)."""

AMEND_TITLE = 1
AMEND_DESCRIPTION = 2
AMEND_TARGET = 4
AMEND_DUE_DATE = 8
"""``AmendmentInput.fields`` / ``CommitmentAmended.fields`` bits (``CommitmentLedger.AMEND_*``)."""
AMEND_FIELD_NAMES: tuple[tuple[int, str], ...] = (
    (AMEND_TITLE, "title"),
    (AMEND_DESCRIPTION, "description"),
    (AMEND_TARGET, "target_quantity"),
    (AMEND_DUE_DATE, "due_date"),
)
"""Each amendment bit and the field name it reports (docs/LEDGER.md "Fields"), in bit order."""
AMEND_ALL = AMEND_TITLE | AMEND_DESCRIPTION | AMEND_TARGET | AMEND_DUE_DATE


def normalise_external_ref(text: str) -> str:
    """The one normalising rule for a commitment's or delivery's ``external_ref``, applied where
    refs are checked before they go on chain (the staff write API's wire models, the importer's
    rows and what it reads back; docs/API.md "External refs"): Unicode NFC, nothing else (case,
    spaces and punctuation are kept). "Woning-e\u0301" (a combining accent) and "Woning-\u00e9"
    (precomposed) are one ref, ``"Woning-\u00e9"``. The byte limit
    (:data:`EXTERNAL_REF_MAX_BYTES`) applies to the normalised text. The chain, the indexer and the
    replay keep and compare the bytes that were sent, as the contract does.
    """
    return unicodedata.normalize("NFC", text)


def delivery_number(delivery_id: int) -> int:
    """n of a delivery id ``commitment_id * DELIVERY_ID_BASE + n`` (1..MAX_DELIVERIES)."""
    return delivery_id % DELIVERY_ID_BASE


def delivery_commitment_id(delivery_id: int) -> int:
    """The commitment id a delivery id names (``delivery_id // DELIVERY_ID_BASE``)."""
    return delivery_id // DELIVERY_ID_BASE


def amendment_field_names(fields: int) -> list[str]:
    """Names of the fields an amendment's ``fields`` bit set names, in bit order,
    e.g. ``12`` → ``["target_quantity", "due_date"]``. Unknown bits are ignored (the contract
    refuses them)."""
    return [name for bit, name in AMEND_FIELD_NAMES if fields & bit]
