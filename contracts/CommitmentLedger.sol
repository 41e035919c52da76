// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {ICommitmentLedger} from "./interfaces/ICommitmentLedger.sol";

/// @title CommitmentLedger (v2)
/// @notice Implementation of {ICommitmentLedger}. The owner is the platform admin: it onboards
/// municipalities, pauses in an emergency and starts the public, time-locked recovery of a lost
/// municipality admin key; it holds no role inside a municipality.
/// @dev Storage is kept to what writes need (texts, claimed dates and original terms live in
/// events only): a commitment is two slots, a delivery one. The counters and the pause flag share
/// one slot, read by every write anyway; deliveries are numbered per commitment in its progress slot.
contract CommitmentLedger is ICommitmentLedger, Ownable2Step, Multicall {
    /// @notice Largest quantity or target accepted (fits every SQL BIGINT with room for sums).
    /// 1e13, so that MAX_DELIVERIES of them still fit a uint64 total.
    uint64 public constant MAX_QUANTITY = 1e13;
    /// @notice Delivery ids are `commitmentId * DELIVERY_ID_BASE + n`, n = 1 for a commitment's
    /// first delivery: an id names its commitment, and no global counter is written per delivery.
    uint256 public constant DELIVERY_ID_BASE = 1_000_000;
    /// @notice Most deliveries per commitment (DELIVERY_ID_BASE - 1).
    uint24 public constant MAX_DELIVERIES = 999_999;
    /// @notice Most evidence hashes per delivery.
    uint256 public constant MAX_EVIDENCE = 16;
    /// @notice Due dates must be before this Unix time: 10000-01-01T00:00:00Z, so every layer can
    /// show any accepted date as a four-digit year.
    uint64 public constant MAX_DATE = 253_402_300_800;
    /// @notice Delay of the admin recovery, seconds: six weeks, the Dutch objection period
    /// (Algemene wet bestuursrecht, art. 6:7), long enough for at least one council meeting
    /// (monthly) and for the current admin, the council or the public to see the
    /// {AdminRecoveryStarted} event and object or cancel.
    uint64 public constant ADMIN_RECOVERY_DELAY = 42 days;

    /// @notice Amendment field bits (see {AmendmentInput}).
    uint8 public constant AMEND_TITLE = 1;
    uint8 public constant AMEND_DESCRIPTION = 2;
    uint8 public constant AMEND_TARGET = 4;
    uint8 public constant AMEND_DUE_DATE = 8;
    uint8 private constant _AMEND_ALL = 15;

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

    /// @dev One slot, read by every write.
    struct Counters {
        uint32 municipalities;
        uint64 commitments;
        bool paused;
    }

    /// @dev Slot read and written by deliveries and revocations (32 bytes).
    struct Progress {
        uint32 municipalityId;
        bool withdrawn;
        uint24 deliveryCount; // deliveries recorded, revoked ones included
        uint64 targetQuantity; // in the commitment's unit
        uint64 metOnRecordAt; // block time, Unix seconds; 0 while not met
        uint64 delivered; // sum of non-revoked deliveries, in the commitment's unit
    }

    /// @dev Slot needed by amendments only.
    struct Terms {
        uint64 promisedAt; // Unix seconds, claimed
        uint64 dueDate; // Unix seconds
        uint32 amendmentCount;
    }

    /// @dev One slot.
    struct Delivery {
        uint64 commitmentId;
        uint64 quantity; // in the commitment's unit
        bool revoked;
    }

    struct Recovery {
        address proposedAdmin;
        uint64 executableAt; // Unix seconds
    }

    Counters private _counters;

    mapping(uint32 municipalityId => address admin) private _municipalityAdmins;
    mapping(uint32 municipalityId => address proposedAdmin) private _pendingAdmins;
    mapping(uint32 municipalityId => Recovery recovery) private _recoveries;
    mapping(uint32 municipalityId => mapping(address account => bool)) private _registrars;
    mapping(uint32 municipalityId => mapping(bytes32 refHash => uint256 commitmentId)) private _commitmentRefs;
    mapping(uint256 commitmentId => Progress progress) private _progress;
    mapping(uint256 commitmentId => Terms terms) private _terms;
    mapping(uint256 commitmentId => mapping(bytes32 refHash => uint256 deliveryId)) private _deliveryRefs;
    mapping(uint256 deliveryId => Delivery delivery) private _deliveries;

    /// @param platformAdmin the owner, who onboards municipalities and may pause
    constructor(address platformAdmin) Ownable(platformAdmin) {}

    // ------------------------------------------------------------------ platform admin

    /// @inheritdoc ICommitmentLedger
    function registerMunicipality(string calldata name, string calldata code, address admin)
        external
        onlyOwner
        returns (uint32 municipalityId)
    {
        _whenNotPaused();
        _requireText("name", name, _MAX_NAME);
        _limitText("code", code, _MAX_CODE);
        if (admin == address(0)) revert LedgerZeroAddress();
        municipalityId = ++_counters.municipalities;
        _municipalityAdmins[municipalityId] = admin;
        emit MunicipalityRegistered(municipalityId, admin, name, code);
    }

    /// @inheritdoc ICommitmentLedger
    function pause() external onlyOwner {
        if (_counters.paused) revert LedgerPauseUnchanged(true);
        _counters.paused = true;
        emit Paused(msg.sender);
    }

    /// @inheritdoc ICommitmentLedger
    function unpause() external onlyOwner {
        if (!_counters.paused) revert LedgerPauseUnchanged(false);
        _counters.paused = false;
        emit Unpaused(msg.sender);
    }

    /// @notice Refused: the platform role cannot be renounced (transfer it in two steps instead).
    function renounceOwnership() public view override onlyOwner {
        revert LedgerRenounceRefused();
    }

    /// @inheritdoc ICommitmentLedger
    function startAdminRecovery(uint32 municipalityId, address newAdmin) external onlyOwner {
        _whenNotPaused();
        address current = _existingAdmin(municipalityId);
        if (newAdmin == address(0)) revert LedgerZeroAddress();
        if (newAdmin == current) revert LedgerAdminUnchanged(municipalityId, newAdmin);
        Recovery storage r = _recoveries[municipalityId];
        if (r.proposedAdmin != address(0)) revert LedgerRecoveryPending(municipalityId, r.proposedAdmin, r.executableAt);
        uint64 executableAt = uint64(block.timestamp) + ADMIN_RECOVERY_DELAY;
        _recoveries[municipalityId] = Recovery({proposedAdmin: newAdmin, executableAt: executableAt});
        emit AdminRecoveryStarted(municipalityId, newAdmin, msg.sender, executableAt);
    }

    /// @inheritdoc ICommitmentLedger
    function cancelAdminRecovery(uint32 municipalityId) external {
        address current = _existingAdmin(municipalityId);
        if (msg.sender != current && msg.sender != owner()) revert LedgerNotRecoveryCanceller(municipalityId, msg.sender);
        address proposed = _recoveries[municipalityId].proposedAdmin;
        if (proposed == address(0)) revert LedgerNoRecoveryPending(municipalityId);
        delete _recoveries[municipalityId];
        emit AdminRecoveryCancelled(municipalityId, proposed, msg.sender);
    }

    /// @inheritdoc ICommitmentLedger
    function completeAdminRecovery(uint32 municipalityId) external {
        _whenNotPaused();
        address previous = _existingAdmin(municipalityId);
        Recovery memory r = _recoveries[municipalityId];
        if (r.proposedAdmin == address(0)) revert LedgerNoRecoveryPending(municipalityId);
        if (block.timestamp < r.executableAt) {
            revert LedgerRecoveryNotReady(municipalityId, r.executableAt, uint64(block.timestamp));
        }
        delete _recoveries[municipalityId];
        delete _pendingAdmins[municipalityId];
        _municipalityAdmins[municipalityId] = r.proposedAdmin;
        emit MunicipalityAdminChanged(municipalityId, previous, r.proposedAdmin, true);
    }

    // ------------------------------------------------------------------ municipality admin

    /// @inheritdoc ICommitmentLedger
    function proposeMunicipalityAdmin(uint32 municipalityId, address newAdmin) external {
        _whenNotPaused();
        address current = _onlyMunicipalityAdmin(municipalityId);
        if (newAdmin == current) revert LedgerAdminUnchanged(municipalityId, newAdmin);
        _pendingAdmins[municipalityId] = newAdmin;
        emit MunicipalityAdminProposed(municipalityId, current, newAdmin);
    }

    /// @inheritdoc ICommitmentLedger
    function acceptMunicipalityAdmin(uint32 municipalityId) external {
        _whenNotPaused();
        address previous = _existingAdmin(municipalityId);
        address proposed = _pendingAdmins[municipalityId];
        if (proposed == address(0) || msg.sender != proposed) {
            revert LedgerNotProposedAdmin(municipalityId, msg.sender, proposed);
        }
        delete _pendingAdmins[municipalityId];
        _municipalityAdmins[municipalityId] = proposed;
        emit MunicipalityAdminChanged(municipalityId, previous, proposed, false);
        address recovering = _recoveries[municipalityId].proposedAdmin;
        if (recovering != address(0)) {
            delete _recoveries[municipalityId];
            emit AdminRecoveryCancelled(municipalityId, recovering, msg.sender);
        }
    }

    /// @inheritdoc ICommitmentLedger
    function addRegistrar(uint32 municipalityId, address account) external {
        _whenNotPaused();
        _onlyMunicipalityAdmin(municipalityId);
        if (account == address(0)) revert LedgerZeroAddress();
        if (_registrars[municipalityId][account]) revert LedgerRegistrarUnchanged(municipalityId, account, true);
        _registrars[municipalityId][account] = true;
        emit RegistrarAdded(municipalityId, account, msg.sender);
    }

    /// @inheritdoc ICommitmentLedger
    function removeRegistrar(uint32 municipalityId, address account) external {
        _whenNotPaused();
        _onlyMunicipalityAdmin(municipalityId);
        if (!_registrars[municipalityId][account]) revert LedgerRegistrarUnchanged(municipalityId, account, false);
        _registrars[municipalityId][account] = false;
        emit RegistrarRemoved(municipalityId, account, msg.sender);
    }

    // ------------------------------------------------------------------ registrar

    /// @inheritdoc ICommitmentLedger
    function registerCommitment(CommitmentInput calldata input) external returns (uint256 commitmentId) {
        Counters storage counters = _counters;
        if (counters.paused) revert LedgerPaused();
        _existingAdmin(input.municipalityId);
        _onlyRegistrar(input.municipalityId);
        _requireText("externalRef", input.externalRef, _MAX_REF);
        _requireText("title", input.title, _MAX_TITLE);
        _limitText("description", input.description, _MAX_DESCRIPTION);
        _limitText("theme", input.theme, _MAX_THEME);
        _requireText("unit", input.unit, _MAX_UNIT);
        _limitText("sourceUri", input.sourceUri, _MAX_URI);
        _checkQuantity(input.targetQuantity);
        if (input.promisedAt == 0 || input.promisedAt > block.timestamp) {
            revert LedgerInvalidPromiseDate(input.promisedAt, uint64(block.timestamp));
        }
        _checkDueDate(input.dueDate, input.promisedAt);

        bytes32 refHash = keccak256(bytes(input.externalRef));
        uint256 existing = _commitmentRefs[input.municipalityId][refHash];
        if (existing != 0) revert LedgerDuplicateCommitmentRef(input.municipalityId, input.externalRef, existing);

        commitmentId = ++counters.commitments;
        _commitmentRefs[input.municipalityId][refHash] = commitmentId;
        _progress[commitmentId] = Progress({
            municipalityId: input.municipalityId,
            withdrawn: false,
            targetQuantity: input.targetQuantity,
            deliveryCount: 0,
            metOnRecordAt: 0,
            delivered: 0
        });
        _terms[commitmentId] = Terms({promisedAt: input.promisedAt, dueDate: input.dueDate, amendmentCount: 0});
        _emitRegistered(commitmentId, input);
    }

    /// @inheritdoc ICommitmentLedger
    function amendCommitment(uint256 commitmentId, AmendmentInput calldata input)
        external
        returns (uint32 amendmentNumber)
    {
        _whenNotPaused();
        Progress storage p = _writableCommitment(commitmentId);
        Terms storage t = _terms[commitmentId];
        if (input.expectedAmendmentCount != t.amendmentCount) {
            revert LedgerStaleAmendmentCount(commitmentId, input.expectedAmendmentCount, t.amendmentCount);
        }
        uint8 fields = input.fields;
        _checkAmendmentFields(commitmentId, input);
        _requireText("reason", input.reason, _MAX_REASON);

        uint64 previousTarget = p.targetQuantity;
        uint64 previousDue = t.dueDate;
        uint64 newTarget = previousTarget;
        uint64 newDue = previousDue;
        if (fields & AMEND_TARGET != 0) {
            newTarget = input.targetQuantity;
            _checkQuantity(newTarget);
            if (newTarget == previousTarget) revert LedgerAmendmentChangesNothing(commitmentId, AMEND_TARGET);
            p.targetQuantity = newTarget;
            if (p.delivered < newTarget) p.metOnRecordAt = 0;
            else if (p.metOnRecordAt == 0 || newTarget > previousTarget) p.metOnRecordAt = uint64(block.timestamp);
        }
        if (fields & AMEND_DUE_DATE != 0) {
            newDue = input.dueDate;
            _checkDueDate(newDue, t.promisedAt);
            if (newDue == previousDue) revert LedgerAmendmentChangesNothing(commitmentId, AMEND_DUE_DATE);
            t.dueDate = newDue;
        }
        amendmentNumber = ++t.amendmentCount;
        emit CommitmentAmended(
            commitmentId,
            p.municipalityId,
            msg.sender,
            amendmentNumber,
            fields,
            input.title,
            input.description,
            previousTarget,
            newTarget,
            previousDue,
            newDue,
            input.reason,
            uint64(block.timestamp)
        );
    }

    /// @inheritdoc ICommitmentLedger
    function withdrawCommitment(uint256 commitmentId, string calldata reason) external {
        _whenNotPaused();
        Progress storage p = _writableCommitment(commitmentId);
        _requireText("reason", reason, _MAX_REASON);
        p.withdrawn = true;
        emit CommitmentWithdrawn(commitmentId, p.municipalityId, msg.sender, reason, uint64(block.timestamp));
    }

    /// @inheritdoc ICommitmentLedger
    function recordDelivery(uint256 commitmentId, DeliveryInput calldata input) external returns (uint256 deliveryId) {
        _whenNotPaused();
        Progress storage p = _writableCommitment(commitmentId);
        uint64 quantity = input.quantity;
        _checkQuantity(quantity);
        if (input.deliveredAt == 0 || input.deliveredAt > block.timestamp) {
            revert LedgerInvalidDeliveryDate(input.deliveredAt, uint64(block.timestamp));
        }
        _checkEvidence(input.evidenceHashes);
        _limitText("evidenceUri", input.evidenceUri, _MAX_URI);
        _limitText("note", input.note, _MAX_NOTE);
        _limitText("externalRef", input.externalRef, _MAX_REF);

        uint24 number = p.deliveryCount;
        if (number == MAX_DELIVERIES) revert LedgerTooManyDeliveries(commitmentId, MAX_DELIVERIES);
        ++number;
        deliveryId = commitmentId * DELIVERY_ID_BASE + number;
        if (bytes(input.externalRef).length != 0) {
            bytes32 refHash = keccak256(bytes(input.externalRef));
            uint256 existing = _deliveryRefs[commitmentId][refHash];
            if (existing != 0) revert LedgerDuplicateDeliveryRef(commitmentId, input.externalRef, existing);
            _deliveryRefs[commitmentId][refHash] = deliveryId;
        }
        _deliveries[deliveryId] = Delivery({commitmentId: uint64(commitmentId), quantity: quantity, revoked: false});
        // Cannot overflow: at most MAX_DELIVERIES of at most MAX_QUANTITY each < 2**64.
        uint64 delivered = p.delivered + quantity;
        p.deliveryCount = number;
        p.delivered = delivered;
        if (p.metOnRecordAt == 0 && delivered >= p.targetQuantity) p.metOnRecordAt = uint64(block.timestamp);

        emit DeliveryRecorded(
            deliveryId,
            commitmentId,
            msg.sender,
            quantity,
            input.deliveredAt,
            uint64(block.timestamp),
            input.evidenceHashes,
            input.evidenceUri,
            input.note,
            input.externalRef
        );
    }

    /// @inheritdoc ICommitmentLedger
    function revokeDelivery(uint256 deliveryId, string calldata reason) external {
        _whenNotPaused();
        Delivery storage d = _deliveries[deliveryId];
        uint256 commitmentId = d.commitmentId;
        if (commitmentId == 0) revert LedgerUnknownDelivery(deliveryId);
        Progress storage p = _progress[commitmentId];
        _onlyRegistrar(p.municipalityId);
        if (d.revoked) revert LedgerDeliveryAlreadyRevoked(deliveryId);
        _requireText("reason", reason, _MAX_REASON);
        d.revoked = true;
        uint64 delivered = p.delivered - d.quantity;
        p.delivered = delivered;
        if (delivered < p.targetQuantity) p.metOnRecordAt = 0;
        emit DeliveryRevoked(deliveryId, commitmentId, msg.sender, reason, uint64(block.timestamp));
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc ICommitmentLedger
    function version() external pure returns (string memory) {
        return "2.0.0";
    }

    /// @inheritdoc ICommitmentLedger
    function statusOf(uint256 commitmentId)
        external
        view
        returns (
            Status status,
            uint256 deliveredQuantity,
            uint64 targetQuantity,
            uint256 progressBps,
            uint64 metOnRecordAt
        )
    {
        Progress memory p = _existingCommitment(commitmentId);
        uint64 dueDate = _terms[commitmentId].dueDate;
        targetQuantity = p.targetQuantity;
        deliveredQuantity = p.delivered;
        metOnRecordAt = p.metOnRecordAt;
        progressBps = (deliveredQuantity * 10_000) / targetQuantity;
        if (p.withdrawn) status = Status.Withdrawn;
        else if (metOnRecordAt != 0) status = metOnRecordAt <= dueDate ? Status.Delivered : Status.DeliveredLate;
        else if (block.timestamp > dueDate) status = Status.Overdue;
        else if (deliveredQuantity > 0) status = Status.InProgress;
        else status = Status.Pending;
    }

    /// @inheritdoc ICommitmentLedger
    function commitmentState(uint256 commitmentId) external view returns (CommitmentState memory) {
        Progress memory p = _existingCommitment(commitmentId);
        Terms memory t = _terms[commitmentId];
        return CommitmentState({
            municipalityId: p.municipalityId,
            withdrawn: p.withdrawn,
            amendmentCount: t.amendmentCount,
            deliveryCount: p.deliveryCount,
            targetQuantity: p.targetQuantity,
            promisedAt: t.promisedAt,
            dueDate: t.dueDate,
            deliveredQuantity: p.delivered,
            metOnRecordAt: p.metOnRecordAt
        });
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
    function pendingMunicipalityAdmin(uint32 municipalityId) external view returns (address) {
        return _pendingAdmins[municipalityId];
    }

    /// @inheritdoc ICommitmentLedger
    function adminRecovery(uint32 municipalityId) external view returns (address proposedAdmin, uint64 executableAt) {
        Recovery memory r = _recoveries[municipalityId];
        return (r.proposedAdmin, r.executableAt);
    }

    /// @inheritdoc ICommitmentLedger
    function paused() external view returns (bool) {
        return _counters.paused;
    }

    /// @inheritdoc ICommitmentLedger
    function counts() external view returns (uint32 municipalities, uint256 commitments) {
        Counters memory c = _counters;
        return (c.municipalities, c.commitments);
    }

    // ------------------------------------------------------------------ internal

    function _emitRegistered(uint256 commitmentId, CommitmentInput calldata input) private {
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
            input.promisedAt,
            input.dueDate,
            input.sourceDocumentHash,
            input.sourceUri,
            uint64(block.timestamp)
        );
    }

    /// @dev Fields bits valid, texts of named fields within bounds, fields not named left empty.
    function _checkAmendmentFields(uint256 commitmentId, AmendmentInput calldata input) private pure {
        uint8 fields = input.fields;
        if (fields == 0 || fields & ~_AMEND_ALL != 0) revert LedgerInvalidAmendmentFields(commitmentId, fields);
        if (fields & AMEND_TITLE != 0) _requireText("title", input.title, _MAX_TITLE);
        else if (bytes(input.title).length != 0) revert LedgerInvalidAmendmentFields(commitmentId, fields);
        if (fields & AMEND_DESCRIPTION != 0) _limitText("description", input.description, _MAX_DESCRIPTION);
        else if (bytes(input.description).length != 0) revert LedgerInvalidAmendmentFields(commitmentId, fields);
        if (fields & AMEND_TARGET == 0 && input.targetQuantity != 0) {
            revert LedgerInvalidAmendmentFields(commitmentId, fields);
        }
        if (fields & AMEND_DUE_DATE == 0 && input.dueDate != 0) revert LedgerInvalidAmendmentFields(commitmentId, fields);
    }

    /// @dev 1..MAX_EVIDENCE non-zero hashes, no repeats. At most 16: a quadratic check in memory
    /// costs less than any set in storage.
    function _checkEvidence(bytes32[] calldata evidenceHashes) private pure {
        uint256 count = evidenceHashes.length;
        if (count == 0 || count > MAX_EVIDENCE) revert LedgerInvalidEvidenceCount(count, MAX_EVIDENCE);
        for (uint256 i = 0; i < count; ++i) {
            bytes32 evidenceHash = evidenceHashes[i];
            if (evidenceHash == bytes32(0)) revert LedgerZeroEvidenceHash(i);
            for (uint256 j = 0; j < i; ++j) {
                if (evidenceHashes[j] == evidenceHash) revert LedgerDuplicateEvidenceHash(i, evidenceHash);
            }
        }
    }

    function _whenNotPaused() private view {
        if (_counters.paused) revert LedgerPaused();
    }

    function _existingAdmin(uint32 municipalityId) private view returns (address admin) {
        admin = _municipalityAdmins[municipalityId];
        if (admin == address(0)) revert LedgerUnknownMunicipality(municipalityId);
    }

    function _onlyMunicipalityAdmin(uint32 municipalityId) private view returns (address admin) {
        admin = _existingAdmin(municipalityId);
        if (admin != msg.sender) revert LedgerNotMunicipalityAdmin(municipalityId, msg.sender);
    }

    function _onlyRegistrar(uint32 municipalityId) private view {
        if (!_registrars[municipalityId][msg.sender]) revert LedgerNotRegistrar(municipalityId, msg.sender);
    }

    function _existingCommitment(uint256 commitmentId) private view returns (Progress memory p) {
        p = _progress[commitmentId];
        if (p.municipalityId == 0) revert LedgerUnknownCommitment(commitmentId);
    }

    /// @dev The commitment's progress slot, after checking it exists, the caller is its
    /// registrar and it is not withdrawn.
    function _writableCommitment(uint256 commitmentId) private view returns (Progress storage p) {
        p = _progress[commitmentId];
        uint32 municipalityId = p.municipalityId;
        if (municipalityId == 0) revert LedgerUnknownCommitment(commitmentId);
        _onlyRegistrar(municipalityId);
        if (p.withdrawn) revert LedgerCommitmentWithdrawn(commitmentId);
    }

    function _checkQuantity(uint64 quantity) private pure {
        if (quantity == 0 || quantity > MAX_QUANTITY) revert LedgerInvalidQuantity(quantity, MAX_QUANTITY);
    }

    function _checkDueDate(uint64 dueDate, uint64 promisedAt) private pure {
        if (dueDate <= promisedAt || dueDate >= MAX_DATE) revert LedgerInvalidDueDate(dueDate, promisedAt, MAX_DATE);
    }

    function _requireText(string memory field, string calldata value, uint256 maxLength) private pure {
        if (bytes(value).length == 0) revert LedgerEmptyText(field);
        _limitText(field, value, maxLength);
    }

    function _limitText(string memory field, string calldata value, uint256 maxLength) private pure {
        if (bytes(value).length > maxLength) revert LedgerTextTooLong(field, bytes(value).length, maxLength);
    }
}
