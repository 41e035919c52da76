"""Assets: a delivery's `assetRef` (a streetlight number, a BAG address code) counts once per
commitment while the delivery naming it is not revoked (docs/LEDGER.md "Assets").

The contract compares the bytes it is given (readers normalise first) and sees recorded
deliveries only: a batch leaf naming the same asset is the readers' to refuse.
"""

import brownie
import pytest

from constants import (
    ASSET_REF,
    MAX_ASSET_REF,
    OTHER_ASSET_REF,
    REVOCATION_REASON,
    delivery_id,
)
from standard_tree import StandardTree


def _refused(commitment_id, asset_ref, existing):
    return f"LedgerAssetAlreadyCounted: {commitment_id}, {asset_ref}, {existing}"


def test_delivery_names_its_asset_in_the_event(ledger, commitment, registrar, delivery_input):
    tx = ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF), {"from": registrar})
    assert tx.events["DeliveryRecorded"]["assetRef"] == ASSET_REF


def test_the_same_asset_twice_on_one_commitment_is_refused(ledger, commitment, registrar, delivery_input):
    ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF), {"from": registrar})
    with brownie.reverts(_refused(commitment, ASSET_REF, delivery_id(commitment, 1))):
        ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF, quantity=1), {"from": registrar})


def test_the_error_names_the_delivery_that_counts_the_asset(ledger, commitment, registrar, delivery_input):
    ledger.recordDelivery(commitment, delivery_input(assetRef=OTHER_ASSET_REF), {"from": registrar})
    ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF), {"from": registrar})
    with brownie.reverts(_refused(commitment, ASSET_REF, delivery_id(commitment, 2))):
        ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF), {"from": registrar})


def test_a_refused_asset_uses_no_delivery_number(ledger, commitment, registrar, delivery_input, state):
    ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF), {"from": registrar})
    with brownie.reverts(_refused(commitment, ASSET_REF, delivery_id(commitment, 1))):
        ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF), {"from": registrar})

    tx = ledger.recordDelivery(commitment, delivery_input(assetRef=OTHER_ASSET_REF), {"from": registrar})

    assert tx.return_value == delivery_id(commitment, 2)
    assert state(commitment)[3] == 2


def test_the_asset_of_a_revoked_delivery_may_be_counted_again(ledger, commitment, registrar, delivery_input):
    ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF), {"from": registrar})
    ledger.revokeDelivery(delivery_id(commitment, 1), REVOCATION_REASON, {"from": registrar})

    tx = ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF), {"from": registrar})

    assert tx.events["DeliveryRecorded"]["assetRef"] == ASSET_REF
    assert tx.return_value == delivery_id(commitment, 2)


def test_once_counted_again_the_asset_is_refused_naming_the_new_delivery(ledger, commitment, registrar, delivery_input):
    ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF), {"from": registrar})
    ledger.revokeDelivery(delivery_id(commitment, 1), REVOCATION_REASON, {"from": registrar})
    ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF), {"from": registrar})
    with brownie.reverts(_refused(commitment, ASSET_REF, delivery_id(commitment, 2))):
        ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF), {"from": registrar})


def test_revoking_the_second_counting_frees_the_asset_again(ledger, commitment, registrar, delivery_input):
    for number in (1, 2):
        ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF), {"from": registrar})
        ledger.revokeDelivery(delivery_id(commitment, number), REVOCATION_REASON, {"from": registrar})

    tx = ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF), {"from": registrar})

    assert tx.return_value == delivery_id(commitment, 3)


def test_the_same_asset_on_another_commitment_is_accepted(ledger, commitment, registrar, commitment_input, delivery_input):
    other = ledger.registerCommitment(commitment_input(externalRef="RB-2"), {"from": registrar}).return_value
    ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF), {"from": registrar})

    tx = ledger.recordDelivery(other, delivery_input(assetRef=ASSET_REF), {"from": registrar})

    assert (tx.events["DeliveryRecorded"]["commitmentId"], tx.events["DeliveryRecorded"]["assetRef"]) == (other, ASSET_REF)


def test_deliveries_without_asset_are_never_refused_as_double(ledger, commitment, registrar, delivery_input):
    for number in (1, 2, 3):
        tx = ledger.recordDelivery(commitment, delivery_input(assetRef=""), {"from": registrar})
        assert tx.return_value == delivery_id(commitment, number)


@pytest.mark.parametrize("variant", ["lp-0308-00417", " LP-0308-00417", "LP-0308-00417 ", "LP-0308–00417"], ids=["case", "leading space", "trailing space", "en dash"])
def test_the_contract_compares_asset_bytes_as_given(ledger, commitment, registrar, delivery_input, variant):
    # readers normalise (ledger.merkle.normalise_asset_ref) and mark a twin that got past the contract
    ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF), {"from": registrar})

    tx = ledger.recordDelivery(commitment, delivery_input(assetRef=variant), {"from": registrar})

    assert tx.events["DeliveryRecorded"]["assetRef"] == variant


def test_asset_ref_of_maximum_length_is_accepted(ledger, commitment, registrar, delivery_input):
    asset = "a" * MAX_ASSET_REF
    tx = ledger.recordDelivery(commitment, delivery_input(assetRef=asset), {"from": registrar})
    assert tx.events["DeliveryRecorded"]["assetRef"] == asset


def test_asset_ref_one_byte_too_long_is_refused(ledger, commitment, registrar, delivery_input):
    with brownie.reverts(f"LedgerTextTooLong: assetRef, {MAX_ASSET_REF + 1}, {MAX_ASSET_REF}"):
        ledger.recordDelivery(commitment, delivery_input(assetRef="a" * (MAX_ASSET_REF + 1)), {"from": registrar})


def test_asset_ref_length_is_counted_in_utf8_bytes(ledger, commitment, registrar, delivery_input):
    accepted = "é" * (MAX_ASSET_REF // 2)  # 64 bytes
    ledger.recordDelivery(commitment, delivery_input(assetRef=accepted), {"from": registrar})
    with brownie.reverts(f"LedgerTextTooLong: assetRef, {MAX_ASSET_REF + 1}, {MAX_ASSET_REF}"):
        ledger.recordDelivery(commitment, delivery_input(assetRef=accepted + "s"), {"from": registrar})


def test_a_multicall_naming_one_asset_twice_is_refused_with_the_id_recorded_earlier_in_it(
    ledger, commitment, registrar, delivery_input, state
):
    calls = [ledger.recordDelivery.encode_input(commitment, delivery_input(assetRef=ASSET_REF)) for _ in range(2)]
    with brownie.reverts(_refused(commitment, ASSET_REF, delivery_id(commitment, 1))):
        ledger.multicall(calls, {"from": registrar})
    assert state(commitment)[3] == 0


def test_an_asset_and_an_external_ref_are_checked_apart(ledger, commitment, registrar, delivery_input):
    # the same text as external ref of one delivery and asset of another is no double count
    ledger.recordDelivery(commitment, delivery_input(externalRef=ASSET_REF), {"from": registrar})
    tx = ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF), {"from": registrar})
    assert tx.return_value == delivery_id(commitment, 2)


def test_an_asset_a_batch_names_does_not_block_a_recorded_delivery(
    ledger, commitment, registrar, delivery_input, batch_input, batch_leaf
):
    # the contract cannot see leaves; readers mark the recorded twin `double_counted`
    tree = StandardTree([batch_leaf(assetRef=ASSET_REF), batch_leaf(quantity=1)])
    ledger.anchorBatch(batch_input(tree.root, 2), {"from": registrar})

    tx = ledger.recordDelivery(commitment, delivery_input(assetRef=ASSET_REF), {"from": registrar})

    assert tx.events["DeliveryRecorded"]["assetRef"] == ASSET_REF

