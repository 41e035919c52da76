"""Whether a leaf of a verified batch counts: the refusal rules of docs/LEDGER.md "Batches",
written again for the auditor from that text (not from ``ledger/status.py``).

A leaf counts unless, checked in this order (the first that applies is its
``refused_reason``; leaves are decided in log order, those of one batch in file order):

1. ``unknown_commitment``: no such commitment registered before the anchor;
2. ``other_municipality``: the commitment is not of the batch's municipality;
3. ``commitment_withdrawn``: withdrawn before the anchor;
4. ``invalid_leaf``: the leaf breaks a limit of ``recordDelivery`` (:func:`leaf_is_valid`);
5. ``duplicate_external_ref``: the commitment already has a delivery with this non-empty
   external ref;
6. ``asset_already_counted``: its normalised asset is named by a counted, not revoked
   delivery of the commitment (docs/LEDGER.md "Assets").

The last two depend on the commitment's running state, kept by
:class:`scripts.audit.counting.DeliveryCounter`; the first four on the leaf and the
commitment alone (:func:`static_refusal`).
"""

from __future__ import annotations

from typing import Sequence

REFUSED_REASONS: tuple[str, ...] = (
    "unknown_commitment",
    "other_municipality",
    "commitment_withdrawn",
    "invalid_leaf",
    "duplicate_external_ref",
    "asset_already_counted",
)
"""Every ``refused_reason``, in the order they are checked."""

MAX_QUANTITY = 10**13
"""Largest quantity ``recordDelivery`` accepts (the contract's ``MAX_QUANTITY``)."""

MAX_EVIDENCE = 16
"""Most evidence hashes per delivery (the contract's ``MAX_EVIDENCE``)."""

TEXT_MAX_BYTES: dict[str, int] = {"evidence_uri": 512, "note": 1000, "external_ref": 64, "asset_ref": 64}
"""Byte limits (UTF-8) of a delivery's texts, as ``recordDelivery`` checks them
(ICommitmentLedger ``DeliveryInput``)."""

ZERO_HASH = "0x" + "00" * 32


def utf8_length(text: str) -> int:
    """Length in bytes of ``text`` as UTF-8 (an unpaired surrogate, which a JSON file can
    hold, counts as the 3 bytes it is hashed as)."""
    return len(text.encode("utf-8", errors="surrogatepass"))


def leaf_is_valid(
    *, quantity: int, delivered_at: int, evidence_hashes: Sequence[str], texts: dict[str, str], anchored_at: int
) -> bool:
    """Whether a leaf passes the checks ``recordDelivery`` makes (else ``invalid_leaf``):
    quantity 1..10^13; ``delivered_at`` 1..``anchored_at`` (Unix seconds, both inclusive);
    1..16 evidence hashes, none zero, no two equal (compared case-insensitively); every text of
    :data:`TEXT_MAX_BYTES` within its byte limit.

    Args:
        quantity: the leaf's quantity.
        delivered_at: its claimed delivery time, Unix seconds.
        evidence_hashes: ``0x`` hex strings.
        texts: ``evidence_uri``, ``note``, ``external_ref``, ``asset_ref`` → the file's text.
        anchored_at: the anchor's block time, Unix seconds.
    """
    if not 1 <= quantity <= MAX_QUANTITY:
        return False
    if not 1 <= delivered_at <= anchored_at:
        return False
    hashes = [h.lower() for h in evidence_hashes]
    if not 1 <= len(hashes) <= MAX_EVIDENCE or len(set(hashes)) != len(hashes):
        return False
    if any(h == ZERO_HASH for h in hashes):
        return False
    return all(utf8_length(texts.get(name, "")) <= limit for name, limit in TEXT_MAX_BYTES.items())


def static_refusal(*, commitment_known: bool, same_municipality: bool, withdrawn: bool, valid: bool) -> str | None:
    """The first of reasons 1–4 (module docstring) that applies, else ``None``.

    Args:
        commitment_known: the commitment was registered before the anchor.
        same_municipality: it is of the batch's municipality.
        withdrawn: it was withdrawn before the anchor.
        valid: :func:`leaf_is_valid`.
    """
    if not commitment_known:
        return "unknown_commitment"
    if not same_municipality:
        return "other_municipality"
    if withdrawn:
        return "commitment_withdrawn"
    if not valid:
        return "invalid_leaf"
    return None
