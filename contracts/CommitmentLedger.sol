// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ICommitmentLedger} from "./interfaces/ICommitmentLedger.sol";

/// @title CommitmentLedger
/// @notice Implementation of {ICommitmentLedger}. The owner is the platform admin.
contract CommitmentLedger is ICommitmentLedger, Ownable2Step {
    /// @notice Largest quantity or target accepted (fits every SQL BIGINT with room for sums).
    uint64 public constant MAX_QUANTITY = 1e15;
    /// @notice Most evidence hashes per delivery.
    uint256 public constant MAX_EVIDENCE = 16;

    uint256 private constant _MAX_NAME = 100;
    uint256 private constant _MAX_CODE = 16;
    uint256 private constant _MAX_REF = 64;
    uint256 private constant _MAX_TITLE = 200;
    uint256 private constant _MAX_DESCRIPTION = 8000;
    uint256 private constant _MAX_THEME = 120;
    uint256 private constant _MAX_UNIT = 32;
    uint256 private constant _MAX_URI = 512;
    uint256 private constant _MAX_NOTE = 1000;
    uint256 private constant _MAX_REASON = 1000;

    struct Commitment {
        uint32 municipalityId;
        uint32 amendmentCount;
        bool withdrawn;
        uint64 targetQuantity; // in the commitment's unit
        uint64 dueDate; // Unix time, seconds
        uint256[] deliveryIds;
    }

    struct Delivery {
        uint256 commitmentId;
        uint64 quantity; // in the commitment's unit
        uint64 deliveredAt; // Unix time, seconds
        bool revoked;
    }

    uint32 private _municipalityCount;
    uint256 private _commitmentCount;
    uint256 private _deliveryCount;

    mapping(uint32 municipalityId => address admin) private _municipalityAdmins;
    mapping(uint32 municipalityId => mapping(address account => bool)) private _registrars;
    mapping(uint32 municipalityId => mapping(bytes32 refHash => uint256 commitmentId)) private _commitmentRefs;
    mapping(uint256 commitmentId => Commitment) private _commitments;
    mapping(uint256 commitmentId => mapping(bytes32 refHash => uint256 deliveryId)) private _deliveryRefs;
    mapping(uint256 deliveryId => Delivery) private _deliveries;
    /// @dev keccak256(abi.encode(title, description)) of the current texts, to refuse empty amendments.
    mapping(uint256 commitmentId => bytes32 textHash) private _textHashes;

    /// @param platformAdmin the owner, who onboards municipalities
    constructor(address platformAdmin) Ownable(platformAdmin) {}

    // ------------------------------------------------------------------ platform admin

    /// @inheritdoc ICommitmentLedger
    function registerMunicipality(string calldata name, string calldata code, address admin)
        external
        onlyOwner
        returns (uint32 municipalityId)
    {
        _requireText("name", name, _MAX_NAME);
        _limitText("code", code, _MAX_CODE);
        if (admin == address(0)) revert LedgerZeroAddress();
        municipalityId = ++_municipalityCount;
        _municipalityAdmins[municipalityId] = admin;
        emit MunicipalityRegistered(municipalityId, admin, name, code);
    }

    // ------------------------------------------------------------------ municipality admin

    /// @inheritdoc ICommitmentLedger
    function changeMunicipalityAdmin(uint32 municipalityId, address newAdmin) external {
        address previous = _existingAdmin(municipalityId);
        if (msg.sender != previous && msg.sender != owner()) {
            revert LedgerNotMunicipalityAdmin(municipalityId, msg.sender);
        }
        if (newAdmin == address(0)) revert LedgerZeroAddress();
        if (newAdmin == previous) revert LedgerAdminUnchanged(municipalityId, newAdmin);
        _municipalityAdmins[municipalityId] = newAdmin;
        emit MunicipalityAdminChanged(municipalityId, previous, newAdmin);
    }

    /// @inheritdoc ICommitmentLedger
    function addRegistrar(uint32 municipalityId, address account) external {
        _onlyMunicipalityAdmin(municipalityId);
        if (account == address(0)) revert LedgerZeroAddress();
        if (_registrars[municipalityId][account]) revert LedgerRegistrarUnchanged(municipalityId, account, true);
        _registrars[municipalityId][account] = true;
        emit RegistrarAdded(municipalityId, account, msg.sender);
    }

    /// @inheritdoc ICommitmentLedger
    function removeRegistrar(uint32 municipalityId, address account) external {
        _onlyMunicipalityAdmin(municipalityId);
        if (!_registrars[municipalityId][account]) revert LedgerRegistrarUnchanged(municipalityId, account, false);
        _registrars[municipalityId][account] = false;
        emit RegistrarRemoved(municipalityId, account, msg.sender);
    }

    // ------------------------------------------------------------------ registrar

    /// @inheritdoc ICommitmentLedger
    function registerCommitment(CommitmentInput calldata input) external returns (uint256 commitmentId) {
        _existingAdmin(input.municipalityId);
        _onlyRegistrar(input.municipalityId);
        _requireText("externalRef", input.externalRef, _MAX_REF);
        _requireText("title", input.title, _MAX_TITLE);
        _limitText("description", input.description, _MAX_DESCRIPTION);
        _limitText("theme", input.theme, _MAX_THEME);
        _requireText("unit", input.unit, _MAX_UNIT);
        _limitText("sourceUri", input.sourceUri, _MAX_URI);
        _checkQuantity(input.targetQuantity);
        if (input.dueDate == 0) revert LedgerInvalidDueDate(input.dueDate);

        bytes32 refHash = keccak256(bytes(input.externalRef));
        uint256 existing = _commitmentRefs[input.municipalityId][refHash];
        if (existing != 0) revert LedgerDuplicateCommitmentRef(input.municipalityId, input.externalRef, existing);

        commitmentId = ++_commitmentCount;
        _commitmentRefs[input.municipalityId][refHash] = commitmentId;
        Commitment storage c = _commitments[commitmentId];
        c.municipalityId = input.municipalityId;
        c.targetQuantity = input.targetQuantity;
        c.dueDate = input.dueDate;
        _emitRegistered(commitmentId, input);
    }

    /// @inheritdoc ICommitmentLedger
    function amendCommitment(uint256 commitmentId, AmendmentInput calldata input)
        external
        returns (uint32 amendmentNumber)
    {
        Commitment storage c = _writableCommitment(commitmentId);
        _requireText("title", input.title, _MAX_TITLE);
        _limitText("description", input.description, _MAX_DESCRIPTION);
        _requireText("reason", input.reason, _MAX_REASON);
        _checkQuantity(input.targetQuantity);
        if (input.dueDate == 0) revert LedgerInvalidDueDate(input.dueDate);
        // Texts are not kept in storage; the indexer compares them. The contract refuses an
        // amendment only when it provably changes nothing: same numbers and same text hashes.
        bytes32 textHash = keccak256(abi.encode(input.title, input.description));
        if (
            input.targetQuantity == c.targetQuantity && input.dueDate == c.dueDate
                && textHash == _textHashes[commitmentId]
        ) revert LedgerAmendmentChangesNothing(commitmentId);

        uint64 previousTarget = c.targetQuantity;
        uint64 previousDue = c.dueDate;
        amendmentNumber = ++c.amendmentCount;
        c.targetQuantity = input.targetQuantity;
        c.dueDate = input.dueDate;
        _textHashes[commitmentId] = textHash;
        emit CommitmentAmended(
            commitmentId,
            c.municipalityId,
            msg.sender,
            amendmentNumber,
            input.title,
            input.description,
            previousTarget,
            input.targetQuantity,
            previousDue,
            input.dueDate,
            input.reason
        );
    }

    /// @inheritdoc ICommitmentLedger
    function withdrawCommitment(uint256 commitmentId, string calldata reason) external {
        Commitment storage c = _writableCommitment(commitmentId);
        _requireText("reason", reason, _MAX_REASON);
        c.withdrawn = true;
        emit CommitmentWithdrawn(commitmentId, c.municipalityId, msg.sender, reason);
    }

    /// @inheritdoc ICommitmentLedger
    function recordDelivery(uint256 commitmentId, DeliveryInput calldata input) external returns (uint256 deliveryId) {
        Commitment storage c = _writableCommitment(commitmentId);
        _checkQuantity(input.quantity);
        if (input.deliveredAt == 0 || input.deliveredAt > block.timestamp) {
            revert LedgerInvalidDeliveryDate(input.deliveredAt, uint64(block.timestamp));
        }
        uint256 evidenceCount = input.evidenceHashes.length;
        if (evidenceCount == 0 || evidenceCount > MAX_EVIDENCE) {
            revert LedgerInvalidEvidenceCount(evidenceCount, MAX_EVIDENCE);
        }
        // At most 16 hashes: a quadratic check in memory costs less than any set in storage.
        bytes32[] memory hashes = input.evidenceHashes;
        for (uint256 i = 0; i < evidenceCount; ++i) {
            bytes32 evidenceHash = hashes[i];
            if (evidenceHash == bytes32(0)) revert LedgerZeroEvidenceHash(i);
            for (uint256 j = 0; j < i; ++j) {
                if (hashes[j] == evidenceHash) revert LedgerDuplicateEvidenceHash(i, evidenceHash);
            }
        }
        _limitText("evidenceUri", input.evidenceUri, _MAX_URI);
        _limitText("note", input.note, _MAX_NOTE);
        _limitText("externalRef", input.externalRef, _MAX_REF);

        deliveryId = ++_deliveryCount;
        if (bytes(input.externalRef).length != 0) {
            bytes32 refHash = keccak256(bytes(input.externalRef));
            uint256 existing = _deliveryRefs[commitmentId][refHash];
            if (existing != 0) revert LedgerDuplicateDeliveryRef(commitmentId, input.externalRef, existing);
            _deliveryRefs[commitmentId][refHash] = deliveryId;
        }
        _deliveries[deliveryId] = Delivery({
            commitmentId: commitmentId, quantity: input.quantity, deliveredAt: input.deliveredAt, revoked: false
        });
        c.deliveryIds.push(deliveryId);

        emit DeliveryRecorded(
            deliveryId,
            commitmentId,
            msg.sender,
            input.quantity,
            input.deliveredAt,
            input.evidenceHashes,
            input.evidenceUri,
            input.note,
            input.externalRef
        );
        for (uint256 i = 0; i < evidenceCount; ++i) {
            emit EvidenceCited(input.evidenceHashes[i], deliveryId, commitmentId);
        }
    }

    /// @inheritdoc ICommitmentLedger
    function revokeDelivery(uint256 deliveryId, string calldata reason) external {
        Delivery storage d = _deliveries[deliveryId];
        if (d.commitmentId == 0) revert LedgerUnknownDelivery(deliveryId);
        _onlyRegistrar(_commitments[d.commitmentId].municipalityId);
        if (d.revoked) revert LedgerDeliveryAlreadyRevoked(deliveryId);
        _requireText("reason", reason, _MAX_REASON);
        d.revoked = true;
        emit DeliveryRevoked(deliveryId, d.commitmentId, msg.sender, reason);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc ICommitmentLedger
    function version() external pure returns (string memory) {
        return "1.0.0";
    }

    /// @inheritdoc ICommitmentLedger
    function statusOf(uint256 commitmentId)
        external
        view
        returns (Status status, uint256 deliveredQuantity, uint64 targetQuantity, uint256 progressBps, uint64 metAt)
    {
        Commitment storage c = _existingCommitment(commitmentId);
        targetQuantity = c.targetQuantity;
        (deliveredQuantity, metAt) = _progress(c);
        progressBps = (deliveredQuantity * 10_000) / targetQuantity;
        if (c.withdrawn) status = Status.Withdrawn;
        else if (metAt != 0) status = metAt <= c.dueDate ? Status.Delivered : Status.DeliveredLate;
        else if (block.timestamp > c.dueDate) status = Status.Overdue;
        else if (deliveredQuantity > 0) status = Status.InProgress;
        else status = Status.Pending;
    }

    /// @inheritdoc ICommitmentLedger
    function commitmentIdByRef(uint32 municipalityId, string calldata externalRef) external view returns (uint256) {
        return _commitmentRefs[municipalityId][keccak256(bytes(externalRef))];
    }

    /// @inheritdoc ICommitmentLedger
    function isRegistrar(uint32 municipalityId, address account) external view returns (bool) {
        return _registrars[municipalityId][account];
    }

    /// @inheritdoc ICommitmentLedger
    function municipalityAdmin(uint32 municipalityId) external view returns (address) {
        return _municipalityAdmins[municipalityId];
    }

    /// @inheritdoc ICommitmentLedger
    function counts() external view returns (uint32 municipalities, uint256 commitments, uint256 deliveries) {
        return (_municipalityCount, _commitmentCount, _deliveryCount);
    }

    // ------------------------------------------------------------------ internal

    function _emitRegistered(uint256 commitmentId, CommitmentInput calldata input) private {
        _textHashes[commitmentId] = keccak256(abi.encode(input.title, input.description));
        emit CommitmentRegistered(
            commitmentId,
            input.municipalityId,
            msg.sender,
            input.externalRef,
            input.title,
            input.description,
            input.theme,
            input.targetQuantity,
            input.unit,
            input.dueDate,
            input.sourceDocumentHash,
            input.sourceUri,
            uint64(block.timestamp)
        );
    }

    /// @dev Delivered sum and the time the target was met (0 if not met). The counted
    /// deliveries are packed as (deliveredAt << 64 | quantity) words and heap-sorted in memory,
    /// so the view costs O(n log n) for n deliveries, whatever order they were recorded in.
    function _progress(Commitment storage c) private view returns (uint256 delivered, uint64 metAt) {
        uint256 n = c.deliveryIds.length;
        uint256[] memory packed = new uint256[](n);
        uint256 counted = 0;
        for (uint256 i = 0; i < n; ++i) {
            Delivery storage d = _deliveries[c.deliveryIds[i]];
            if (d.revoked) continue;
            delivered += d.quantity;
            packed[counted++] = (uint256(d.deliveredAt) << 64) | d.quantity;
        }
        if (delivered < c.targetQuantity) return (delivered, 0);
        _heapSort(packed, counted);
        uint256 running = 0;
        for (uint256 i = 0; i < counted; ++i) {
            running += uint64(packed[i]);
            if (running >= c.targetQuantity) return (delivered, uint64(packed[i] >> 64));
        }
    }

    /// @dev Sorts the first `count` words of `a` ascending (heapsort: O(n log n), in place).
    function _heapSort(uint256[] memory a, uint256 count) private pure {
        if (count < 2) return;
        for (uint256 start = count / 2; start > 0; --start) {
            _siftDown(a, start - 1, count);
        }
        for (uint256 end = count - 1; end > 0; --end) {
            (a[0], a[end]) = (a[end], a[0]);
            _siftDown(a, 0, end);
        }
    }

    function _siftDown(uint256[] memory a, uint256 root, uint256 count) private pure {
        while (true) {
            uint256 child = 2 * root + 1;
            if (child >= count) return;
            if (child + 1 < count && a[child + 1] > a[child]) ++child;
            if (a[root] >= a[child]) return;
            (a[root], a[child]) = (a[child], a[root]);
            root = child;
        }
    }

    function _existingAdmin(uint32 municipalityId) private view returns (address admin) {
        admin = _municipalityAdmins[municipalityId];
        if (admin == address(0)) revert LedgerUnknownMunicipality(municipalityId);
    }

    function _onlyMunicipalityAdmin(uint32 municipalityId) private view {
        if (_existingAdmin(municipalityId) != msg.sender) revert LedgerNotMunicipalityAdmin(municipalityId, msg.sender);
    }

    function _onlyRegistrar(uint32 municipalityId) private view {
        if (!_registrars[municipalityId][msg.sender]) revert LedgerNotRegistrar(municipalityId, msg.sender);
    }

    function _existingCommitment(uint256 commitmentId) private view returns (Commitment storage c) {
        c = _commitments[commitmentId];
        if (c.municipalityId == 0) revert LedgerUnknownCommitment(commitmentId);
    }

    /// @dev The commitment, after checking it exists, the caller is its registrar and it is not withdrawn.
    function _writableCommitment(uint256 commitmentId) private view returns (Commitment storage c) {
        c = _existingCommitment(commitmentId);
        _onlyRegistrar(c.municipalityId);
        if (c.withdrawn) revert LedgerCommitmentWithdrawn(commitmentId);
    }

    function _checkQuantity(uint64 quantity) private pure {
        if (quantity == 0 || quantity > MAX_QUANTITY) revert LedgerInvalidQuantity(quantity, MAX_QUANTITY);
    }

    function _requireText(string memory field, string calldata value, uint256 maxLength) private pure {
        if (bytes(value).length == 0) revert LedgerEmptyText(field);
        _limitText(field, value, maxLength);
    }

    function _limitText(string memory field, string calldata value, uint256 maxLength) private pure {
        if (bytes(value).length > maxLength) revert LedgerTextTooLong(field, bytes(value).length, maxLength);
    }
}
