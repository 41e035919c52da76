// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ICommitmentLedger} from "contracts/interfaces/ICommitmentLedger.sol";

/// @title DeliveryFloor: the cheapest contract that takes a ledger delivery and logs it
/// @notice Reference for `bench/gas`: the same calldata as {ICommitmentLedger-recordDelivery},
/// emitted whole in one event, with no checks and no storage. Nothing can record a delivery for
/// less, so the ledger's cost is reported as a ratio to this floor.
contract DeliveryFloor {
    event Delivered(
        uint256 indexed commitmentId,
        uint64 quantity,
        uint64 deliveredAt,
        bytes32[] evidenceHashes,
        string evidenceUri,
        string note,
        string externalRef,
        string assetRef
    );

    function recordDelivery(uint256 commitmentId, ICommitmentLedger.DeliveryInput calldata input) external {
        emit Delivered(
            commitmentId,
            input.quantity,
            input.deliveredAt,
            input.evidenceHashes,
            input.evidenceUri,
            input.note,
            input.externalRef,
            input.assetRef
        );
    }
}

/// @title FloorPlusSlotBody: the body of {DeliveryFloorPlusSlot}, shared with the signed reference
/// @notice The floor's event plus one zero-to-non-zero SSTORE (quantity and date packed in a fresh
/// slot). The slot is keyed by the delivery's first evidence hash, the cheapest unique key there
/// is (no counter to read or write, no hashing beyond the mapping's own), so the reference stays
/// a floor. `bench/contracts/SignatureCheckFloor.sol` runs the same body after a signature check.
abstract contract FloorPlusSlotBody {
    event Delivered(
        uint256 indexed commitmentId,
        uint64 quantity,
        uint64 deliveredAt,
        bytes32[] evidenceHashes,
        string evidenceUri,
        string note,
        string externalRef,
        string assetRef
    );

    mapping(bytes32 firstEvidenceHash => uint256 packed) private _slots;

    function _recordWithSlot(uint256 commitmentId, ICommitmentLedger.DeliveryInput calldata input) internal {
        _slots[input.evidenceHashes[0]] = (uint256(input.quantity) << 64) | input.deliveredAt;
        emit Delivered(
            commitmentId,
            input.quantity,
            input.deliveredAt,
            input.evidenceHashes,
            input.evidenceUri,
            input.note,
            input.externalRef,
            input.assetRef
        );
    }
}

/// @title DeliveryFloorPlusSlot: the floor plus one new storage slot per delivery
/// @notice What any ledger that keeps one word of state per delivery must pay at least: the
/// floor's event plus one zero-to-non-zero SSTORE ({FloorPlusSlotBody}).
contract DeliveryFloorPlusSlot is FloorPlusSlotBody {
    function recordDelivery(uint256 commitmentId, ICommitmentLedger.DeliveryInput calldata input) external {
        _recordWithSlot(commitmentId, input);
    }
}
