"""Texts holding any bytes (NUL, invalid UTF-8) are accepted: the chain can hold them.

The contract checks lengths in bytes, never the encoding (that would cost gas for no rule of
the ledger). Such texts can only be written by calling the contract directly, so the calldata
is built here with `bytes` in place of `string` (the same ABI encoding). The rest of the system
must read them without stopping (issue 5, "Rules kept in the contract"): the shared log decoder
turns them into the text every reader shows (ledger.events.decode_text).
"""

import brownie
import pytest
from brownie import web3
from eth_abi import decode as abi_decode, encode as abi_encode

from constants import BAARN_ID, COMMITMENT_TARGET, EVIDENCE, MAX_TITLE, delivery_id
from ledger.events import EventDecoder, decode_text

NUL_TEXT = b"Wonen\x00en leefomgeving"
INVALID_UTF8 = b"\xff\xfe caf\xc3 \xed\xa0\x80 \xc0\xaf"  # stray bytes, truncated sequence, surrogate, overlong
COMMITMENT_TYPES = "(uint32,bytes,bytes,bytes,bytes,uint64,bytes,uint64,uint64,bytes32,bytes,uint256,uint32)"
DELIVERY_TYPES = "(uint64,uint64,bytes32[],bytes,bytes,bytes,bytes)"
REGISTERED_DATA = [
    "bytes", "bytes", "bytes", "bytes", "uint64", "bytes", "uint64", "uint64", "bytes32", "bytes", "uint256", "uint32", "uint64"
]
RECORDED_DATA = ["uint64", "uint64", "uint64", "bytes32[]", "bytes", "bytes", "bytes", "bytes"]


def _send(ledger, sender, function, types, args):
    """Calls ``function`` of the ledger with raw ABI-encoded arguments; returns the receipt."""
    data = function.signature + abi_encode(types, args).hex()
    return sender.transfer(ledger, 0, data=data)


def _commitment(promised_at, due_date, *, ref=b"RB-bytes", title=INVALID_UTF8, description=NUL_TEXT, theme=NUL_TEXT, unit=b"\x00"):
    return (BAARN_ID, ref, title, description, theme, COMMITMENT_TARGET, unit, promised_at, due_date,
            bytes.fromhex(EVIDENCE[0][2:]), b"https://example.org/\x00\xff", 0, 0)


def test_commitment_with_nul_and_invalid_utf8_texts_is_registered_byte_for_byte(ledger, baarn, registrar, promised_at, due_date):
    tx = _send(ledger, registrar, ledger.registerCommitment, [COMMITMENT_TYPES], [_commitment(promised_at, due_date)])

    assert tx.status == 1
    (log,) = web3.eth.get_transaction_receipt(tx.txid)["logs"]
    values = abi_decode(REGISTERED_DATA, bytes(log["data"]))
    assert values[:4] == (b"RB-bytes", INVALID_UTF8, NUL_TEXT, NUL_TEXT)
    assert values[5] == b"\x00"
    assert values[9] == b"https://example.org/\x00\xff"
    assert ledger.commitmentIdByRef(BAARN_ID, "RB-bytes") == 1


def test_the_shared_decoder_reads_such_a_commitment_without_stopping(ledger, baarn, registrar, promised_at, due_date):
    tx = _send(ledger, registrar, ledger.registerCommitment, [COMMITMENT_TYPES], [_commitment(promised_at, due_date)])

    (log,) = web3.eth.get_transaction_receipt(tx.txid)["logs"]
    event = EventDecoder(ledger.abi).decode(log)

    assert event.name == "CommitmentRegistered"
    assert (event.args["title"], event.args["description"], event.args["unit"]) == (
        decode_text(INVALID_UTF8), decode_text(NUL_TEXT), decode_text(b"\x00")
    )
    assert "\x00" not in event.args["description"]


def test_a_ref_with_a_nul_byte_is_its_own_ref(ledger, baarn, registrar, promised_at, due_date):
    _send(ledger, registrar, ledger.registerCommitment, [COMMITMENT_TYPES], [_commitment(promised_at, due_date, ref=b"RB-1\x00")])
    assert ledger.commitmentIdByRef(BAARN_ID, "RB-1\x00") == 1
    assert ledger.commitmentIdByRef(BAARN_ID, "RB-1") == 0


def test_text_limits_count_raw_bytes(ledger, baarn, registrar, promised_at, due_date):
    accepted = _send(ledger, registrar, ledger.registerCommitment, [COMMITMENT_TYPES],
                     [_commitment(promised_at, due_date, title=b"\xff" * MAX_TITLE)])
    assert accepted.status == 1
    with brownie.reverts(f"LedgerTextTooLong: title, {MAX_TITLE + 1}, {MAX_TITLE}"):
        _send(ledger, registrar, ledger.registerCommitment, [COMMITMENT_TYPES],
              [_commitment(promised_at, due_date, ref=b"RB-2", title=b"\xff" * (MAX_TITLE + 1))])


@pytest.mark.parametrize("text", [NUL_TEXT, INVALID_UTF8], ids=["nul", "invalid utf-8"])
def test_delivery_texts_may_hold_any_bytes(ledger, commitment, registrar, clock, text):
    delivery = (10, clock.start, [bytes.fromhex(EVIDENCE[0][2:])], text, text, text, text)

    tx = _send(ledger, registrar, ledger.recordDelivery, ["uint256", DELIVERY_TYPES], [commitment, delivery])

    (log,) = web3.eth.get_transaction_receipt(tx.txid)["logs"]
    values = abi_decode(RECORDED_DATA, bytes(log["data"]))
    assert values[4:] == (text, text, text, text)  # evidenceUri, note, externalRef, assetRef
    args = EventDecoder(ledger.abi).decode(log).args
    assert (args["note"], args["asset_ref"]) == (decode_text(text), decode_text(text))
    assert int.from_bytes(log["topics"][1], "big") == delivery_id(commitment, 1)
