"""The chain client (ledger/chain.py) and the decoder on a real v2 ledger: version, the
on-record status view, many writes in one multicall transaction with inner refusals decoded
as typed errors, texts with NUL or invalid UTF-8."""

from __future__ import annotations

from typing import Callable

import pytest

from ledger.chain import SUPPORTED_CONTRACT_VERSIONS, LedgerChain, OnChainStatus
from ledger.errors import ContractRevertError, InsufficientFundsError
from ledger.events import decode_text
from tests.indexer.ledger_txs import DAY, commitment_input, delivery_input, sha


def test_the_contract_reports_a_supported_version(chain: LedgerChain) -> None:
    assert chain.version() == chain.check_version() == "2.1.0"
    assert SUPPORTED_CONTRACT_VERSIONS == ("2.1.0",)


def test_a_multicall_registers_and_delivers_in_one_transaction_with_every_event(
    chain: LedgerChain, roles, chain_time: Callable[[], int]
) -> None:
    t = chain_time()
    before = chain.call("counts")
    result = chain.send_multicall([
        ("registerCommitment", [commitment_input(1, "mc-1", "Eerste", target=2, due=t + 10 * DAY)]),
        ("registerCommitment", [commitment_input(1, "mc-2", "Tweede", target=2, due=t + 10 * DAY)]),
        ("recordDelivery", [before[1] + 1, delivery_input(2, t - DAY, [sha("mc")])]),
    ], roles.registrar.key)
    assert [e.name for e in result.events] == ["CommitmentRegistered", "CommitmentRegistered", "DeliveryRecorded"]
    assert [e.log_index for e in result.events] == [0, 1, 2]
    first = before[1] + 1
    assert result.events[2].args["delivery_id"] == first * 1_000_000 + 1
    assert chain.call("counts") == [before[0], before[1] + 2]
    recorded_at = result.events[2].args["recorded_at"]
    assert chain.status_of(first) == OnChainStatus("delivered", 2, 2, 10_000, recorded_at)
    assert chain.status_of(first + 1) == OnChainStatus("pending", 0, 2, 0, None)


def test_an_inner_refusal_is_the_same_typed_error_as_a_direct_call_and_nothing_is_written(
    chain: LedgerChain, roles, chain_time: Callable[[], int]
) -> None:
    t = chain_time()
    chain.send("registerCommitment", [commitment_input(1, "dup-1", "Dubbel", due=t + DAY)], roles.registrar.key)
    existing = chain.call("commitmentIdByRef", 1, "dup-1")
    before = chain.call("counts")
    with pytest.raises(ContractRevertError) as direct:
        chain.send("registerCommitment", [commitment_input(1, "dup-1", "Dubbel", due=t + DAY)], roles.registrar.key)
    with pytest.raises(ContractRevertError) as inner:
        chain.send_multicall([
            ("registerCommitment", [commitment_input(1, "dup-2", "Nieuw", due=t + DAY)]),
            ("registerCommitment", [commitment_input(1, "dup-1", "Dubbel", due=t + DAY)]),
        ], roles.registrar.key)
    assert (inner.value.name, inner.value.args_by_name) == (direct.value.name, direct.value.args_by_name) == (
        "LedgerDuplicateCommitmentRef", {"municipality_id": 1, "external_ref": "dup-1", "existing_commitment_id": existing},
    )
    assert chain.call("counts") == before
    assert chain.call("commitmentIdByRef", 1, "dup-2") == 0


def test_a_refusal_for_a_missing_role_inside_a_multicall_names_the_account(
    chain: LedgerChain, roles, chain_time: Callable[[], int]
) -> None:
    with pytest.raises(ContractRevertError) as refused:
        chain.send_multicall(
            [("registerCommitment", [commitment_input(2, "x", "Niet van mij", due=chain_time() + DAY)])], roles.registrar.key
        )
    assert (refused.value.name, refused.value.args_by_name) == (
        "LedgerNotRegistrar", {"municipality_id": 2, "account": roles.registrar.address},
    )


def test_an_empty_multicall_is_refused_before_anything_is_sent(chain: LedgerChain, roles) -> None:
    with pytest.raises(ValueError, match="at least one call"):
        chain.send_multicall([], roles.registrar.key)


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"", ""),
        (b"gewoon", "gewoon"),
        (b"caf\xc3\xa9", "caf\u00e9"),
        (b"a\x00b", "a\u2400b"),  # NUL shown escaped as U+2400
        (b"\xff\xfe", "\ufffd\ufffd"),
        (b"\xe2\x82", "\ufffd"),  # a truncated 3-byte sequence is one replacement
        (b"\x00" * 3, "\u2400" * 3),
    ],
)
def test_decoded_texts_never_hold_nul_or_invalid_utf8(raw: bytes, text: str) -> None:
    assert decode_text(raw) == text


def test_an_account_that_cannot_pay_gas_is_refused_before_anything_is_sent(
    chain: LedgerChain, roles, chain_time: Callable[[], int]
) -> None:
    """A registrar key without ether gets InsufficientFundsError naming it, its balance (0 wei)
    and what the transaction could cost; its nonce stays 0, so nothing was sent."""
    from eth_account import Account

    unfunded = Account.from_key("0x" + "42" * 32)
    t = chain_time()
    registered = chain.send("registerCommitment", [commitment_input(1, "unfunded-1", "Onbetaald", due=t + DAY)],
                            roles.registrar.key)
    commitment_id = registered.events[0].args["commitment_id"]
    chain.send("addRegistrar", [1, unfunded.address], roles.council_admin.key)
    with pytest.raises(InsufficientFundsError) as refused:
        chain.send("recordDelivery", [commitment_id, delivery_input(1, t - 60, [sha("unfunded")])], "0x" + unfunded.key.hex().removeprefix("0x"))
    assert refused.value.account == unfunded.address
    assert refused.value.balance_wei == 0
    assert refused.value.needed_wei > 0
    assert chain._w3.eth.get_transaction_count(unfunded.address) == 0
