// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {ICommitmentLedger} from "contracts/interfaces/ICommitmentLedger.sol";
import {FloorPlusSlotBody} from "bench/contracts/GasFloor.sol";

/// @title SignatureCheckFloor: the floor plus one slot, behind the least a signed write must check
/// @notice Reference for `bench/gas`: {ICommitmentLedger-recordDeliveryBySig}'s signature and
/// calldata, then exactly the body of `DeliveryFloorPlusSlot`. In between only what any signed
/// write with a nonce and a deadline does (OpenZeppelin `ERC20Permit` does the same): the
/// deadline compared with the block time, the EIP-712 struct hash of `RecordDelivery` (the type
/// string of the ledger's `RECORD_DELIVERY_TYPEHASH`, every dynamic field hashed), the digest
/// under the domain {name: "CommitmentLedger", version: "2", chainId, this contract},
/// OpenZeppelin `SignatureChecker` (ECDSA for an EOA, ERC-1271 otherwise) and the signer's
/// nonce checked and bumped in storage (OpenZeppelin `Nonces`). No roles, no other checks, so
/// the difference with `DeliveryFloorPlusSlot` is what "the signature check" costs.
contract SignatureCheckFloor is FloorPlusSlotBody, EIP712, Nonces {
    bytes32 private constant _RECORD_DELIVERY_TYPEHASH = keccak256(
        "RecordDelivery(uint256 commitmentId,uint64 quantity,uint64 deliveredAt,bytes32[] evidenceHashes,"
        "string evidenceUri,string note,string externalRef,string assetRef,uint256 nonce,uint256 deadline)"
    );

    /// @notice Thrown when the block time is after the signature's deadline (Unix seconds).
    error SignatureCheckFloorExpired(uint256 deadline, uint256 blockTime);

    /// @notice Thrown when the signature is not the signer's over this write's digest.
    error SignatureCheckFloorInvalidSignature(address signer);

    constructor() EIP712("CommitmentLedger", "2") {}

    function recordDeliveryBySig(
        uint256 commitmentId,
        ICommitmentLedger.DeliveryInput calldata input,
        ICommitmentLedger.Authorization calldata auth
    ) external {
        if (block.timestamp > auth.deadline) revert SignatureCheckFloorExpired(auth.deadline, block.timestamp);
        _useCheckedNonce(auth.signer, auth.nonce);
        bytes32 structHash = keccak256(
            abi.encode(
                _RECORD_DELIVERY_TYPEHASH,
                commitmentId,
                input.quantity,
                input.deliveredAt,
                keccak256(abi.encodePacked(input.evidenceHashes)),
                keccak256(bytes(input.evidenceUri)),
                keccak256(bytes(input.note)),
                keccak256(bytes(input.externalRef)),
                keccak256(bytes(input.assetRef)),
                auth.nonce,
                auth.deadline
            )
        );
        if (!SignatureChecker.isValidSignatureNow(auth.signer, _hashTypedDataV4(structHash), auth.signature)) {
            revert SignatureCheckFloorInvalidSignature(auth.signer);
        }
        _recordWithSlot(commitmentId, input);
    }
}
