"""The ledger contract's input limits, mirrored for off-chain validation (API, importer).

Source: the private constants of ``contracts/CommitmentLedger.sol`` and the NatSpec of
``ICommitmentLedger``; texts in UTF-8 bytes, both bounds inclusive. The contract tests build
their boundary cases from these values (tests/contract/constants.py), so a change on one side
alone fails them.
"""

from __future__ import annotations

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
MAX_QUANTITY = 10**15
"""Largest quantity or target, in the commitment's unit (``CommitmentLedger.MAX_QUANTITY``)."""
MAX_EVIDENCE = 16
"""Most evidence hashes per delivery (``CommitmentLedger.MAX_EVIDENCE``)."""
