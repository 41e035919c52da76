// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ICommitmentLedger} from "./interfaces/ICommitmentLedger.sol";

/// @title CommitmentLedger (v2)
/// @notice Implementation of {ICommitmentLedger}. The owner is the platform admin: it onboards
/// municipalities, pauses in an emergency and starts the public, time-locked recovery of a lost
/// municipality admin key; it holds no role inside a municipality.
/// @dev Storage is kept to what writes need (texts, claimed dates and original terms live in
/// events only): a commitment is two slots, a delivery one. The counters and the pause flag share
/// one slot, read by every write anyway; deliveries are numbered per commitment in its progress slot.
contract CommitmentLedger is ICommitmentLedger, Ownable2Step, Multicall, EIP712 {
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

    /// @notice Largest weight of a sub-commitment in its parent's roll-up.
    uint32 public constant MAX_WEIGHT = 1_000_000;

    /// @notice EIP-712 type hashes of the signed writes (https://eips.ethereum.org/EIPS/eip-712);
    /// domain {name: "CommitmentLedger", version: "2", chainId, verifyingContract}. The Python
    /// signer (ledger/signing.py) holds the same type strings.
    bytes32 public constant REGISTER_COMMITMENT_TYPEHASH = keccak256(
        "RegisterCommitment(uint32 municipalityId,string externalRef,string title,string description,string theme,"
        "uint64 targetQuantity,string unit,uint64 promisedAt,uint64 dueDate,bytes32 sourceDocumentHash,"
        "string sourceUri,uint256 parentId,uint32 weight,uint256 nonce,uint256 deadline)"
    );
    bytes32 public constant AMEND_COMMITMENT_TYPEHASH = keccak256(
        "AmendCommitment(uint256 commitmentId,uint32 expectedAmendmentCount,uint8 fields,string title,"
        "string description,uint64 targetQuantity,uint64 dueDate,string reason,uint256 nonce,uint256 deadline)"
    );
    bytes32 public constant WITHDRAW_COMMITMENT_TYPEHASH =
        keccak256("WithdrawCommitment(uint256 commitmentId,string reason,uint256 nonce,uint256 deadline)");
    bytes32 public constant RECORD_DELIVERY_TYPEHASH = keccak256(
        "RecordDelivery(uint256 commitmentId,uint64 quantity,uint64 deliveredAt,bytes32[] evidenceHashes,"
        "string evidenceUri,string note,string externalRef,string assetRef,uint256 nonce,uint256 deadline)"
    );
    bytes32 public constant REVOKE_DELIVERY_TYPEHASH =
        keccak256("RevokeDelivery(uint256 deliveryId,string reason,uint256 nonce,uint256 deadline)");
    bytes32 public constant ANCHOR_BATCH_TYPEHASH = keccak256(
        "AnchorBatch(uint32 municipalityId,bytes32 root,uint32 leafCount,bytes32 fileSha256,string fileUri,"
        "uint256 nonce,uint256 deadline)"
    );
    bytes32 public constant REVOKE_BATCHED_DELIVERY_TYPEHASH = keccak256(
        "RevokeBatchedDelivery(bytes32 root,bytes32 leafHash,string reason,uint256 nonce,uint256 deadline)"
    );
    bytes32 public constant CONFIRM_DELIVERY_TYPEHASH =
        keccak256("ConfirmDelivery(uint256 deliveryId,bytes32 evidenceHash,uint256 nonce,uint256 deadline)");
    bytes32 public constant DISPUTE_DELIVERY_TYPEHASH =
        keccak256("DisputeDelivery(uint256 deliveryId,string reason,uint256 nonce,uint256 deadline)");
    bytes32 public constant CONFIRM_BATCHED_DELIVERY_TYPEHASH = keccak256(
        "ConfirmBatchedDelivery(bytes32 root,bytes32 leafHash,bytes32 evidenceHash,uint256 nonce,uint256 deadline)"
    );
    bytes32 public constant DISPUTE_BATCHED_DELIVERY_TYPEHASH = keccak256(
        "DisputeBatchedDelivery(bytes32 root,bytes32 leafHash,string reason,uint256 nonce,uint256 deadline)"
    );

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

    /// @dev One slot. The commitment is `deliveryId / DELIVERY_ID_BASE`; a zero registrar means
    /// no such delivery.
    struct Delivery {
        address registrar; // who recorded it (the signer of a signed write)
        uint64 quantity; // in the commitment's unit
        bool revoked;
    }

    /// @dev One slot per anchored batch, keyed by its root; a zero registrar means not anchored.
    struct Batch {
        address registrar;
        uint32 municipalityId;
        uint32 leafCount; // as claimed by the registrar
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
    mapping(uint256 commitmentId => mapping(bytes32 assetHash => uint256 deliveryId)) private _assets;
    mapping(uint32 municipalityId => mapping(address account => bool)) private _confirmers;
    mapping(bytes32 root => Batch batch) private _batches;
    mapping(bytes32 root => mapping(bytes32 leafHash => bool)) private _revokedLeaves;
    /// @dev Key: bytes32(deliveryId) for recorded deliveries, keccak256(root, leafHash) for batched ones.
    mapping(bytes32 deliveryKey => mapping(address confirmer => Verdict)) private _verdicts;
    mapping(address signer => uint256 nonce) private _nonces;

    /// @param platformAdmin the owner, who onboards municipalities and may pause
    constructor(address platformAdmin) Ownable(platformAdmin) EIP712("CommitmentLedger", "2") {}

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
        return _registerCommitment(msg.sender, input);
    }

    /// @inheritdoc ICommitmentLedger
    function amendCommitment(uint256 commitmentId, AmendmentInput calldata input)
        external
        returns (uint32 amendmentNumber)
    {
        return _amendCommitment(msg.sender, commitmentId, input);
    }

    /// @inheritdoc ICommitmentLedger
    function withdrawCommitment(uint256 commitmentId, string calldata reason) external {
        _withdrawCommitment(msg.sender, commitmentId, reason);
    }

    /// @inheritdoc ICommitmentLedger
    function recordDelivery(uint256 commitmentId, DeliveryInput calldata input) external returns (uint256 deliveryId) {
        return _recordDelivery(msg.sender, commitmentId, input);
    }

    /// @inheritdoc ICommitmentLedger
    function revokeDelivery(uint256 deliveryId, string calldata reason) external {
        _revokeDelivery(msg.sender, deliveryId, reason);
    }

    /// @inheritdoc ICommitmentLedger
    function anchorBatch(BatchInput calldata input) external {
        _anchorBatch(msg.sender, input);
    }

    /// @inheritdoc ICommitmentLedger
    function revokeBatchedDelivery(
        bytes32 root,
        BatchLeaf calldata leaf,
        bytes32[] calldata proof,
        string calldata reason
    ) external {
        _revokeBatchedDelivery(msg.sender, root, _leafHash(leaf), leaf.commitmentId, proof, reason);
    }

    // ------------------------------------------------------------------ confirmer

    /// @inheritdoc ICommitmentLedger
    function addConfirmer(uint32 municipalityId, address account) external {
        _whenNotPaused();
        _onlyMunicipalityAdmin(municipalityId);
        if (account == address(0)) revert LedgerZeroAddress();
        if (_confirmers[municipalityId][account]) revert LedgerConfirmerUnchanged(municipalityId, account, true);
        _confirmers[municipalityId][account] = true;
        emit ConfirmerAdded(municipalityId, account, msg.sender);
    }

    /// @inheritdoc ICommitmentLedger
    function removeConfirmer(uint32 municipalityId, address account) external {
        _whenNotPaused();
        _onlyMunicipalityAdmin(municipalityId);
        if (!_confirmers[municipalityId][account]) revert LedgerConfirmerUnchanged(municipalityId, account, false);
        _confirmers[municipalityId][account] = false;
        emit ConfirmerRemoved(municipalityId, account, msg.sender);
    }

    /// @inheritdoc ICommitmentLedger
    function confirmDelivery(uint256 deliveryId, bytes32 evidenceHash) external {
        _confirmDelivery(msg.sender, deliveryId, evidenceHash);
    }

    /// @inheritdoc ICommitmentLedger
    function disputeDelivery(uint256 deliveryId, string calldata reason) external {
        _disputeDelivery(msg.sender, deliveryId, reason);
    }

    /// @inheritdoc ICommitmentLedger
    function confirmBatchedDelivery(
        bytes32 root,
        BatchLeaf calldata leaf,
        bytes32[] calldata proof,
        bytes32 evidenceHash
    ) external {
        _confirmBatchedDelivery(msg.sender, root, _leafHash(leaf), leaf.commitmentId, proof, evidenceHash);
    }

    /// @inheritdoc ICommitmentLedger
    function disputeBatchedDelivery(
        bytes32 root,
        BatchLeaf calldata leaf,
        bytes32[] calldata proof,
        string calldata reason
    ) external {
        _disputeBatchedDelivery(msg.sender, root, _leafHash(leaf), leaf.commitmentId, proof, reason);
    }

    // ------------------------------------------------------------------ signed writes

    /// @inheritdoc ICommitmentLedger
    function registerCommitmentBySig(CommitmentInput calldata input, Authorization calldata auth)
        external
        returns (uint256 commitmentId)
    {
        bytes32 structHash = keccak256(
            bytes.concat(
                abi.encode(
                    REGISTER_COMMITMENT_TYPEHASH,
                    input.municipalityId,
                    keccak256(bytes(input.externalRef)),
                    keccak256(bytes(input.title)),
                    keccak256(bytes(input.description)),
                    keccak256(bytes(input.theme)),
                    input.targetQuantity,
                    keccak256(bytes(input.unit)),
                    input.promisedAt
                ),
                abi.encode(
                    input.dueDate,
                    input.sourceDocumentHash,
                    keccak256(bytes(input.sourceUri)),
                    input.parentId,
                    input.weight,
                    auth.nonce,
                    auth.deadline
                )
            )
        );
        return _registerCommitment(_signer(structHash, auth), input);
    }

    /// @inheritdoc ICommitmentLedger
    function amendCommitmentBySig(uint256 commitmentId, AmendmentInput calldata input, Authorization calldata auth)
        external
        returns (uint32 amendmentNumber)
    {
        bytes32 structHash = keccak256(
            abi.encode(
                AMEND_COMMITMENT_TYPEHASH,
                commitmentId,
                input.expectedAmendmentCount,
                input.fields,
                keccak256(bytes(input.title)),
                keccak256(bytes(input.description)),
                input.targetQuantity,
                input.dueDate,
                keccak256(bytes(input.reason)),
                auth.nonce,
                auth.deadline
            )
        );
        return _amendCommitment(_signer(structHash, auth), commitmentId, input);
    }

    /// @inheritdoc ICommitmentLedger
    function withdrawCommitmentBySig(uint256 commitmentId, string calldata reason, Authorization calldata auth)
        external
    {
        bytes32 structHash = keccak256(
            abi.encode(WITHDRAW_COMMITMENT_TYPEHASH, commitmentId, keccak256(bytes(reason)), auth.nonce, auth.deadline)
        );
        _withdrawCommitment(_signer(structHash, auth), commitmentId, reason);
    }

    /// @inheritdoc ICommitmentLedger
    function recordDeliveryBySig(uint256 commitmentId, DeliveryInput calldata input, Authorization calldata auth)
        external
        returns (uint256 deliveryId)
    {
        bytes32 structHash = keccak256(
            abi.encode(
                RECORD_DELIVERY_TYPEHASH,
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
        return _recordDelivery(_signer(structHash, auth), commitmentId, input);
    }

    /// @inheritdoc ICommitmentLedger
    function revokeDeliveryBySig(uint256 deliveryId, string calldata reason, Authorization calldata auth) external {
        bytes32 structHash = keccak256(
            abi.encode(REVOKE_DELIVERY_TYPEHASH, deliveryId, keccak256(bytes(reason)), auth.nonce, auth.deadline)
        );
        _revokeDelivery(_signer(structHash, auth), deliveryId, reason);
    }

    /// @inheritdoc ICommitmentLedger
    function anchorBatchBySig(BatchInput calldata input, Authorization calldata auth) external {
        bytes32 structHash = keccak256(
            abi.encode(
                ANCHOR_BATCH_TYPEHASH,
                input.municipalityId,
                input.root,
                input.leafCount,
                input.fileSha256,
                keccak256(bytes(input.fileUri)),
                auth.nonce,
                auth.deadline
            )
        );
        _anchorBatch(_signer(structHash, auth), input);
    }

    /// @inheritdoc ICommitmentLedger
    function revokeBatchedDeliveryBySig(
        bytes32 root,
        BatchLeaf calldata leaf,
        bytes32[] calldata proof,
        string calldata reason,
        Authorization calldata auth
    ) external {
        bytes32 leafHash = _leafHash(leaf);
        bytes32 structHash = keccak256(
            abi.encode(
                REVOKE_BATCHED_DELIVERY_TYPEHASH, root, leafHash, keccak256(bytes(reason)), auth.nonce, auth.deadline
            )
        );
        _revokeBatchedDelivery(_signer(structHash, auth), root, leafHash, leaf.commitmentId, proof, reason);
    }

    /// @inheritdoc ICommitmentLedger
    function confirmDeliveryBySig(uint256 deliveryId, bytes32 evidenceHash, Authorization calldata auth) external {
        bytes32 structHash =
            keccak256(abi.encode(CONFIRM_DELIVERY_TYPEHASH, deliveryId, evidenceHash, auth.nonce, auth.deadline));
        _confirmDelivery(_signer(structHash, auth), deliveryId, evidenceHash);
    }

    /// @inheritdoc ICommitmentLedger
    function disputeDeliveryBySig(uint256 deliveryId, string calldata reason, Authorization calldata auth) external {
        bytes32 structHash = keccak256(
            abi.encode(DISPUTE_DELIVERY_TYPEHASH, deliveryId, keccak256(bytes(reason)), auth.nonce, auth.deadline)
        );
        _disputeDelivery(_signer(structHash, auth), deliveryId, reason);
    }

    /// @inheritdoc ICommitmentLedger
    function confirmBatchedDeliveryBySig(
        bytes32 root,
        BatchLeaf calldata leaf,
        bytes32[] calldata proof,
        bytes32 evidenceHash,
        Authorization calldata auth
    ) external {
        bytes32 leafHash = _leafHash(leaf);
        bytes32 structHash = keccak256(
            abi.encode(CONFIRM_BATCHED_DELIVERY_TYPEHASH, root, leafHash, evidenceHash, auth.nonce, auth.deadline)
        );
        _confirmBatchedDelivery(_signer(structHash, auth), root, leafHash, leaf.commitmentId, proof, evidenceHash);
    }

    /// @inheritdoc ICommitmentLedger
    function disputeBatchedDeliveryBySig(
        bytes32 root,
        BatchLeaf calldata leaf,
        bytes32[] calldata proof,
        string calldata reason,
        Authorization calldata auth
    ) external {
        bytes32 leafHash = _leafHash(leaf);
        bytes32 structHash = keccak256(
            abi.encode(
                DISPUTE_BATCHED_DELIVERY_TYPEHASH, root, leafHash, keccak256(bytes(reason)), auth.nonce, auth.deadline
            )
        );
        _disputeBatchedDelivery(_signer(structHash, auth), root, leafHash, leaf.commitmentId, proof, reason);
    }

    // ------------------------------------------------------------------ writes, for an actor
    // `actor` is msg.sender for direct calls and the verified signer for `...BySig` calls.

    function _registerCommitment(address actor, CommitmentInput calldata input) private returns (uint256 commitmentId) {
        Counters storage counters = _counters;
        if (counters.paused) revert LedgerPaused();
        _existingAdmin(input.municipalityId);
        _onlyRegistrar(input.municipalityId, actor);
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
        _checkParent(input.municipalityId, input.parentId, input.weight);

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
        _emitRegistered(actor, commitmentId, input);
    }

    function _amendCommitment(address actor, uint256 commitmentId, AmendmentInput calldata input)
        private
        returns (uint32 amendmentNumber)
    {
        _whenNotPaused();
        Progress storage p = _writableCommitment(commitmentId, actor);
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
            actor,
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

    function _withdrawCommitment(address actor, uint256 commitmentId, string calldata reason) private {
        _whenNotPaused();
        Progress storage p = _writableCommitment(commitmentId, actor);
        _requireText("reason", reason, _MAX_REASON);
        p.withdrawn = true;
        emit CommitmentWithdrawn(commitmentId, p.municipalityId, actor, reason, uint64(block.timestamp));
    }

    function _recordDelivery(address actor, uint256 commitmentId, DeliveryInput calldata input)
        private
        returns (uint256 deliveryId)
    {
        _whenNotPaused();
        Progress storage p = _writableCommitment(commitmentId, actor);
        uint64 quantity = input.quantity;
        uint64 deliveredAt = input.deliveredAt;
        // Each dynamic member read once (every read of a calldata struct member re-checks its offset).
        bytes32[] calldata evidenceHashes = input.evidenceHashes;
        string calldata evidenceUri = input.evidenceUri;
        string calldata note = input.note;
        string calldata externalRef = input.externalRef;
        string calldata assetRef = input.assetRef;
        _checkQuantity(quantity);
        if (deliveredAt == 0 || deliveredAt > block.timestamp) {
            revert LedgerInvalidDeliveryDate(deliveredAt, uint64(block.timestamp));
        }
        _checkEvidence(evidenceHashes);
        _limitText("evidenceUri", evidenceUri, _MAX_URI);
        _limitText("note", note, _MAX_NOTE);
        _limitText("externalRef", externalRef, _MAX_REF);
        _limitText("assetRef", assetRef, _MAX_REF);

        uint24 number = p.deliveryCount;
        if (number == MAX_DELIVERIES) revert LedgerTooManyDeliveries(commitmentId, MAX_DELIVERIES);
        ++number;
        deliveryId = commitmentId * DELIVERY_ID_BASE + number;
        if (bytes(externalRef).length != 0) {
            bytes32 refHash = keccak256(bytes(externalRef));
            uint256 existing = _deliveryRefs[commitmentId][refHash];
            if (existing != 0) revert LedgerDuplicateDeliveryRef(commitmentId, externalRef, existing);
            _deliveryRefs[commitmentId][refHash] = deliveryId;
        }
        if (bytes(assetRef).length != 0) {
            bytes32 assetHash = keccak256(bytes(assetRef));
            uint256 existing = _assets[commitmentId][assetHash];
            if (existing != 0 && !_deliveries[existing].revoked) {
                revert LedgerAssetAlreadyCounted(commitmentId, assetRef, existing);
            }
            _assets[commitmentId][assetHash] = deliveryId;
        }
        _deliveries[deliveryId] = Delivery({registrar: actor, quantity: quantity, revoked: false});
        // Cannot overflow: at most MAX_DELIVERIES of at most MAX_QUANTITY each < 2**64.
        uint64 delivered = p.delivered + quantity;
        p.deliveryCount = number;
        p.delivered = delivered;
        if (p.metOnRecordAt == 0 && delivered >= p.targetQuantity) p.metOnRecordAt = uint64(block.timestamp);

        emit DeliveryRecorded(
            deliveryId,
            commitmentId,
            actor,
            quantity,
            deliveredAt,
            uint64(block.timestamp),
            evidenceHashes,
            evidenceUri,
            note,
            externalRef,
            assetRef
        );
    }

    function _revokeDelivery(address actor, uint256 deliveryId, string calldata reason) private {
        _whenNotPaused();
        Delivery storage d = _existingDelivery(deliveryId);
        uint256 commitmentId = deliveryId / DELIVERY_ID_BASE;
        Progress storage p = _progress[commitmentId];
        _onlyRegistrar(p.municipalityId, actor);
        if (d.revoked) revert LedgerDeliveryAlreadyRevoked(deliveryId);
        _requireText("reason", reason, _MAX_REASON);
        d.revoked = true;
        uint64 delivered = p.delivered - d.quantity;
        p.delivered = delivered;
        if (delivered < p.targetQuantity) p.metOnRecordAt = 0;
        emit DeliveryRevoked(deliveryId, commitmentId, actor, reason, uint64(block.timestamp));
    }

    function _anchorBatch(address actor, BatchInput calldata input) private {
        _whenNotPaused();
        uint32 municipalityId = input.municipalityId;
        _onlyRegistrar(municipalityId, actor);
        bytes32 root = input.root;
        if (root == bytes32(0) || input.leafCount == 0 || input.fileSha256 == bytes32(0)) {
            revert LedgerInvalidBatch(root, input.leafCount, input.fileSha256);
        }
        _requireText("fileUri", input.fileUri, _MAX_URI);
        Batch storage b = _batches[root];
        if (b.registrar != address(0)) revert LedgerBatchAlreadyAnchored(root, b.municipalityId);
        _batches[root] = Batch({registrar: actor, municipalityId: municipalityId, leafCount: input.leafCount});
        emit BatchAnchored(
            root, municipalityId, actor, input.leafCount, input.fileSha256, input.fileUri, uint64(block.timestamp)
        );
    }

    function _revokeBatchedDelivery(
        address actor,
        bytes32 root,
        bytes32 leafHash,
        uint256 commitmentId,
        bytes32[] calldata proof,
        string calldata reason
    ) private {
        _whenNotPaused();
        uint32 municipalityId = _provenLeaf(root, leafHash, commitmentId, proof).municipalityId;
        _onlyRegistrar(municipalityId, actor);
        if (_revokedLeaves[root][leafHash]) revert LedgerBatchedDeliveryRevoked(root, leafHash);
        _requireText("reason", reason, _MAX_REASON);
        _revokedLeaves[root][leafHash] = true;
        emit BatchedDeliveryRevoked(root, leafHash, commitmentId, actor, reason, uint64(block.timestamp));
    }

    function _confirmDelivery(address actor, uint256 deliveryId, bytes32 evidenceHash) private {
        uint256 commitmentId = _reviewDelivery(actor, deliveryId, Verdict.Confirmed);
        emit DeliveryConfirmed(deliveryId, commitmentId, actor, evidenceHash, uint64(block.timestamp));
    }

    function _disputeDelivery(address actor, uint256 deliveryId, string calldata reason) private {
        _whenNotPaused();
        _requireText("reason", reason, _MAX_REASON);
        uint256 commitmentId = _reviewDelivery(actor, deliveryId, Verdict.Disputed);
        emit DeliveryDisputed(deliveryId, commitmentId, actor, reason, uint64(block.timestamp));
    }

    function _confirmBatchedDelivery(
        address actor,
        bytes32 root,
        bytes32 leafHash,
        uint256 commitmentId,
        bytes32[] calldata proof,
        bytes32 evidenceHash
    ) private {
        _reviewBatchedDelivery(actor, root, leafHash, commitmentId, proof, Verdict.Confirmed);
        emit BatchedDeliveryConfirmed(root, leafHash, actor, commitmentId, evidenceHash, uint64(block.timestamp));
    }

    function _disputeBatchedDelivery(
        address actor,
        bytes32 root,
        bytes32 leafHash,
        uint256 commitmentId,
        bytes32[] calldata proof,
        string calldata reason
    ) private {
        _whenNotPaused();
        _requireText("reason", reason, _MAX_REASON);
        _reviewBatchedDelivery(actor, root, leafHash, commitmentId, proof, Verdict.Disputed);
        emit BatchedDeliveryDisputed(root, leafHash, actor, commitmentId, reason, uint64(block.timestamp));
    }

    /// @dev Checks and stores a confirmer's verdict on a recorded delivery; returns its commitment.
    function _reviewDelivery(address actor, uint256 deliveryId, Verdict verdict) private returns (uint256 commitmentId) {
        _whenNotPaused();
        Delivery storage d = _existingDelivery(deliveryId);
        commitmentId = deliveryId / DELIVERY_ID_BASE;
        uint32 municipalityId = _progress[commitmentId].municipalityId;
        _onlyConfirmer(municipalityId, actor);
        if (d.registrar == actor) revert LedgerSelfConfirmation(actor);
        if (d.revoked) revert LedgerDeliveryAlreadyRevoked(deliveryId);
        _setVerdict(bytes32(deliveryId), actor, verdict);
    }

    /// @dev Checks and stores a confirmer's verdict on a batched delivery.
    function _reviewBatchedDelivery(
        address actor,
        bytes32 root,
        bytes32 leafHash,
        uint256 commitmentId,
        bytes32[] calldata proof,
        Verdict verdict
    ) private {
        _whenNotPaused();
        Batch memory b = _provenLeaf(root, leafHash, commitmentId, proof);
        _onlyConfirmer(b.municipalityId, actor);
        if (b.registrar == actor) revert LedgerSelfConfirmation(actor);
        if (_revokedLeaves[root][leafHash]) revert LedgerBatchedDeliveryRevoked(root, leafHash);
        _setVerdict(_batchedKey(root, leafHash), actor, verdict);
    }

    function _setVerdict(bytes32 key, address confirmer, Verdict verdict) private {
        if (_verdicts[key][confirmer] == verdict) revert LedgerVerdictUnchanged(confirmer, verdict);
        _verdicts[key][confirmer] = verdict;
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc ICommitmentLedger
    function version() external pure returns (string memory) {
        return "2.1.0";
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
    function isConfirmer(uint32 municipalityId, address account) external view returns (bool) {
        return _confirmers[municipalityId][account];
    }

    /// @inheritdoc ICommitmentLedger
    function nonces(address signer) external view returns (uint256) {
        return _nonces[signer];
    }

    /// @inheritdoc ICommitmentLedger
    function batchLeafHash(BatchLeaf calldata leaf) external pure returns (bytes32) {
        return _leafHash(leaf);
    }

    /// @inheritdoc ICommitmentLedger
    function batchOf(bytes32 root) external view returns (uint32 municipalityId, address registrar, uint32 leafCount) {
        Batch memory b = _existingBatch(root);
        return (b.municipalityId, b.registrar, b.leafCount);
    }

    /// @inheritdoc ICommitmentLedger
    function verifyBatchedDelivery(bytes32 root, BatchLeaf calldata leaf, bytes32[] calldata proof)
        external
        view
        returns (bool included, bytes32 leafHash, bool revoked)
    {
        _existingBatch(root);
        leafHash = _leafHash(leaf);
        included = MerkleProof.verifyCalldata(proof, root, leafHash);
        revoked = _revokedLeaves[root][leafHash];
    }

    /// @inheritdoc ICommitmentLedger
    function verdictOf(uint256 deliveryId, address confirmer) external view returns (Verdict) {
        return _verdicts[bytes32(deliveryId)][confirmer];
    }

    /// @inheritdoc ICommitmentLedger
    function batchedVerdictOf(bytes32 root, bytes32 leafHash, address confirmer) external view returns (Verdict) {
        return _verdicts[_batchedKey(root, leafHash)][confirmer];
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

    /// @dev The signer of a signed write, after checking deadline, nonce (then used) and
    /// signature over the EIP-712 digest of `structHash`.
    function _signer(bytes32 structHash, Authorization calldata auth) private returns (address signer) {
        signer = auth.signer;
        if (block.timestamp > auth.deadline) revert LedgerSignatureExpired(signer, auth.deadline, uint64(block.timestamp));
        uint256 expected = _nonces[signer];
        if (auth.nonce != expected) revert LedgerInvalidNonce(signer, auth.nonce, expected);
        if (!SignatureChecker.isValidSignatureNow(signer, _hashTypedDataV4(structHash), auth.signature)) {
            revert LedgerInvalidSignature(signer);
        }
        _nonces[signer] = expected + 1;
    }

    /// @dev OpenZeppelin StandardMerkleTree leaf: keccak256(bytes.concat(keccak256(abi.encode(values)))).
    function _leafHash(BatchLeaf calldata leaf) private pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                keccak256(
                    abi.encode(
                        leaf.commitmentId,
                        leaf.quantity,
                        leaf.deliveredAt,
                        leaf.evidenceHashes,
                        leaf.evidenceUri,
                        leaf.note,
                        leaf.externalRef,
                        leaf.assetRef
                    )
                )
            )
        );
    }

    function _batchedKey(bytes32 root, bytes32 leafHash) private pure returns (bytes32) {
        return keccak256(abi.encode(root, leafHash));
    }

    function _existingBatch(bytes32 root) private view returns (Batch memory b) {
        b = _batches[root];
        if (b.registrar == address(0)) revert LedgerUnknownBatch(root);
    }

    /// @dev The batch `root`, after checking the proof and that the leaf's commitment is one of
    /// the batch's municipality.
    function _provenLeaf(bytes32 root, bytes32 leafHash, uint256 commitmentId, bytes32[] calldata proof)
        private
        view
        returns (Batch memory b)
    {
        b = _existingBatch(root);
        if (!MerkleProof.verifyCalldata(proof, root, leafHash)) revert LedgerInvalidProof(root, leafHash);
        if (_progress[commitmentId].municipalityId != b.municipalityId) {
            revert LedgerLeafInOtherMunicipality(root, commitmentId, b.municipalityId);
        }
    }

    function _existingDelivery(uint256 deliveryId) private view returns (Delivery storage d) {
        d = _deliveries[deliveryId];
        if (d.registrar == address(0)) revert LedgerUnknownDelivery(deliveryId);
    }

    /// @dev A sub-commitment's parent exists, is of the same municipality and not withdrawn, and
    /// its weight is 1..MAX_WEIGHT; without parent the weight is 0.
    function _checkParent(uint32 municipalityId, uint256 parentId, uint32 weight) private view {
        if (parentId == 0) {
            if (weight != 0) revert LedgerInvalidWeight(0, weight, MAX_WEIGHT);
            return;
        }
        if (weight == 0 || weight > MAX_WEIGHT) revert LedgerInvalidWeight(parentId, weight, MAX_WEIGHT);
        Progress memory parent = _existingCommitment(parentId);
        if (parent.municipalityId != municipalityId) {
            revert LedgerParentInOtherMunicipality(parentId, parent.municipalityId, municipalityId);
        }
        if (parent.withdrawn) revert LedgerCommitmentWithdrawn(parentId);
    }

    function _emitRegistered(address actor, uint256 commitmentId, CommitmentInput calldata input) private {
        emit CommitmentRegistered(
            commitmentId,
            input.municipalityId,
            actor,
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
            input.parentId,
            input.weight,
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

    function _onlyRegistrar(uint32 municipalityId, address actor) private view {
        if (!_registrars[municipalityId][actor]) revert LedgerNotRegistrar(municipalityId, actor);
    }

    function _onlyConfirmer(uint32 municipalityId, address actor) private view {
        if (!_confirmers[municipalityId][actor]) revert LedgerNotConfirmer(municipalityId, actor);
    }

    function _existingCommitment(uint256 commitmentId) private view returns (Progress memory p) {
        p = _progress[commitmentId];
        if (p.municipalityId == 0) revert LedgerUnknownCommitment(commitmentId);
    }

    /// @dev The commitment's progress slot, after checking it exists, `actor` is its
    /// registrar and it is not withdrawn.
    function _writableCommitment(uint256 commitmentId, address actor) private view returns (Progress storage p) {
        p = _progress[commitmentId];
        uint32 municipalityId = p.municipalityId;
        if (municipalityId == 0) revert LedgerUnknownCommitment(commitmentId);
        _onlyRegistrar(municipalityId, actor);
        if (p.withdrawn) revert LedgerCommitmentWithdrawn(commitmentId);
    }

    function _checkQuantity(uint64 quantity) private pure {
        if (quantity == 0 || quantity > MAX_QUANTITY) revert LedgerInvalidQuantity(quantity, MAX_QUANTITY);
    }

    function _checkDueDate(uint64 dueDate, uint64 promisedAt) private pure {
        if (dueDate <= promisedAt || dueDate >= MAX_DATE) revert LedgerInvalidDueDate(dueDate, promisedAt, MAX_DATE);
    }

    /// @dev Field names are passed as bytes32 literals (no memory is allocated on the accepted
    /// path) and made strings only when reverting.
    function _requireText(bytes32 field, string calldata value, uint256 maxLength) private pure {
        if (bytes(value).length == 0) revert LedgerEmptyText(_fieldName(field));
        _limitText(field, value, maxLength);
    }

    function _limitText(bytes32 field, string calldata value, uint256 maxLength) private pure {
        if (bytes(value).length > maxLength) {
            revert LedgerTextTooLong(_fieldName(field), bytes(value).length, maxLength);
        }
    }

    /// @dev The ASCII name left-aligned in `field`, without its trailing zero bytes.
    function _fieldName(bytes32 field) private pure returns (string memory) {
        uint256 length = 0;
        while (length < 32 && field[length] != 0) ++length;
        bytes memory name = new bytes(length);
        for (uint256 i = 0; i < length; ++i) name[i] = field[i];
        return string(name);
    }
}
