// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ICommitmentLedger: a public ledger of commitments and the deliveries that fulfil them
/// @notice Municipalities (issuers, onboarded by the platform admin) register commitments
/// ("we will renovate 200 social homes by 2026") and record deliveries against them, each with
/// the SHA-256 hashes of its evidence files. Nothing is ever deleted: a wrong delivery is revoked
/// with a reason, a commitment is amended (history kept) or withdrawn with a reason.
/// @dev This interface is the contract between the chain and every off-chain reader (indexer,
/// auditor replay, in-browser check). Its events carry every field needed to rebuild the whole
/// state from the deploy block without `eth_call`; the implementation emits each event right
/// after the state change it reports. No personal data goes on chain: registrars are addresses,
/// texts are public policy text.
///
/// Status rules (README "Status rules"; the same in the contract view, the API and the replay):
/// let `delivered` = sum of the quantities of non-revoked deliveries, `target` = current target,
/// `metAt` = the earliest delivery date t such that the non-revoked deliveries dated <= t sum to
/// at least `target`, `now` = the block time.
///   Withdrawn      if the commitment was withdrawn;
///   Delivered      else if delivered >= target and metAt <= dueDate;
///   DeliveredLate  else if delivered >= target (metAt > dueDate);
///   Overdue        else if now > dueDate;
///   InProgress     else if delivered > 0;
///   Pending        otherwise.
/// progressBps = floor(delivered * 10000 / target) (basis points, may exceed 10000).
interface ICommitmentLedger {
    // ------------------------------------------------------------------ types

    /// @notice A commitment's status; see the status rules above.
    enum Status {
        Pending,
        InProgress,
        Delivered,
        DeliveredLate,
        Overdue,
        Withdrawn
    }

    /// @notice What a registrar submits to register a commitment.
    /// @param municipalityId the issuing municipality (must exist; caller must be its registrar)
    /// @param externalRef the source's own id, unique per municipality (1..64 bytes)
    /// @param title short title (1..200 bytes, UTF-8)
    /// @param description what was promised, in full (0..8000 bytes)
    /// @param theme policy theme, e.g. "Wonen en leefomgeving" (0..120 bytes)
    /// @param targetQuantity how much is promised, in `unit` (1..MAX_QUANTITY)
    /// @param unit unit of the quantity, e.g. "homes", "%" (1..32 bytes)
    /// @param dueDate deadline, Unix time in seconds (> 0); due passed when block time > dueDate
    /// @param sourceDocumentHash SHA-256 of the source document (e.g. the council decision), or 0
    /// @param sourceUri where the source document is published (0..512 bytes)
    struct CommitmentInput {
        uint32 municipalityId;
        string externalRef;
        string title;
        string description;
        string theme;
        uint64 targetQuantity;
        string unit;
        uint64 dueDate;
        bytes32 sourceDocumentHash;
        string sourceUri;
    }

    /// @notice What a registrar submits to amend a commitment. All fields are the new values;
    /// at least one of title, description, targetQuantity, dueDate must differ from the current.
    /// @param title new title (1..200 bytes)
    /// @param description new description (0..8000 bytes)
    /// @param targetQuantity new target (1..MAX_QUANTITY)
    /// @param dueDate new deadline, Unix time in seconds (> 0)
    /// @param reason why the commitment changed (1..1000 bytes)
    struct AmendmentInput {
        string title;
        string description;
        uint64 targetQuantity;
        uint64 dueDate;
        string reason;
    }

    /// @notice What a registrar submits to record a delivery.
    /// @param quantity how much was delivered, in the commitment's unit (1..MAX_QUANTITY)
    /// @param deliveredAt when it was delivered, Unix time in seconds (> 0, <= block time)
    /// @param evidenceHashes SHA-256 of each evidence file (1..MAX_EVIDENCE, none zero, no repeats)
    /// @param evidenceUri where the evidence is published (0..512 bytes)
    /// @param note short note (0..1000 bytes)
    /// @param externalRef the source's id for this delivery, unique per commitment when not
    /// empty (0..64 bytes); lets importers re-run without recording anything twice
    struct DeliveryInput {
        uint64 quantity;
        uint64 deliveredAt;
        bytes32[] evidenceHashes;
        string evidenceUri;
        string note;
        string externalRef;
    }

    // ------------------------------------------------------------------ events

    /// @notice Emitted when the platform admin onboards a municipality.
    /// @param code public identifier, e.g. the CBS municipality code "GM0308" (0..16 bytes)
    event MunicipalityRegistered(uint32 indexed municipalityId, address indexed admin, string name, string code);

    /// @notice Emitted when a municipality's admin account changes.
    event MunicipalityAdminChanged(uint32 indexed municipalityId, address indexed previousAdmin, address indexed newAdmin);

    /// @notice Emitted when a municipality admin gives an account the registrar role.
    event RegistrarAdded(uint32 indexed municipalityId, address indexed account, address indexed by);

    /// @notice Emitted when a municipality admin takes the registrar role away from an account.
    event RegistrarRemoved(uint32 indexed municipalityId, address indexed account, address indexed by);

    /// @notice Emitted when a commitment is registered; carries the whole record.
    /// @param registeredAt block time of registration, Unix seconds
    event CommitmentRegistered(
        uint256 indexed commitmentId,
        uint32 indexed municipalityId,
        address indexed registrar,
        string externalRef,
        string title,
        string description,
        string theme,
        uint64 targetQuantity,
        string unit,
        uint64 dueDate,
        bytes32 sourceDocumentHash,
        string sourceUri,
        uint64 registeredAt
    );

    /// @notice Emitted when a commitment is amended: the new texts, old and new target and
    /// due date, the reason. `amendmentNumber` counts from 1 per commitment.
    event CommitmentAmended(
        uint256 indexed commitmentId,
        uint32 indexed municipalityId,
        address indexed registrar,
        uint32 amendmentNumber,
        string title,
        string description,
        uint64 previousTargetQuantity,
        uint64 targetQuantity,
        uint64 previousDueDate,
        uint64 dueDate,
        string reason
    );

    /// @notice Emitted when a commitment is withdrawn. No later amendment or delivery is accepted.
    event CommitmentWithdrawn(uint256 indexed commitmentId, uint32 indexed municipalityId, address indexed registrar, string reason);

    /// @notice Emitted when a delivery is recorded; carries the whole record. One
    /// `EvidenceCited` event per evidence hash follows it.
    event DeliveryRecorded(
        uint256 indexed deliveryId,
        uint256 indexed commitmentId,
        address indexed registrar,
        uint64 quantity,
        uint64 deliveredAt,
        bytes32[] evidenceHashes,
        string evidenceUri,
        string note,
        string externalRef
    );

    /// @notice Emitted once per evidence hash of a delivery, so anyone can find every delivery
    /// citing a document by filtering logs on its SHA-256 (topic 1).
    event EvidenceCited(bytes32 indexed evidenceHash, uint256 indexed deliveryId, uint256 indexed commitmentId);

    /// @notice Emitted when a delivery is revoked (it stops counting; nothing is deleted).
    event DeliveryRevoked(uint256 indexed deliveryId, uint256 indexed commitmentId, address indexed registrar, string reason);

    // ------------------------------------------------------------------ errors

    /// @notice Thrown when the caller is not the admin of `municipalityId`.
    error LedgerNotMunicipalityAdmin(uint32 municipalityId, address account);
    /// @notice Thrown when the caller is not a registrar of `municipalityId`.
    error LedgerNotRegistrar(uint32 municipalityId, address account);
    /// @notice Thrown when no municipality has this id.
    error LedgerUnknownMunicipality(uint32 municipalityId);
    /// @notice Thrown when no commitment has this id.
    error LedgerUnknownCommitment(uint256 commitmentId);
    /// @notice Thrown when no delivery has this id.
    error LedgerUnknownDelivery(uint256 deliveryId);
    /// @notice Thrown when an address argument is the zero address.
    error LedgerZeroAddress();
    /// @notice Thrown when a required text field is empty.
    error LedgerEmptyText(string field);
    /// @notice Thrown when a text field is longer than allowed (lengths in bytes).
    error LedgerTextTooLong(string field, uint256 length, uint256 maxLength);
    /// @notice Thrown when a quantity is 0 or above MAX_QUANTITY.
    error LedgerInvalidQuantity(uint256 quantity, uint256 maxQuantity);
    /// @notice Thrown when a due date is 0.
    error LedgerInvalidDueDate(uint64 dueDate);
    /// @notice Thrown when a delivery date is 0 or later than the block time (Unix seconds).
    error LedgerInvalidDeliveryDate(uint64 deliveredAt, uint64 blockTime);
    /// @notice Thrown when a delivery has no evidence hash or more than MAX_EVIDENCE.
    error LedgerInvalidEvidenceCount(uint256 count, uint256 maxCount);
    /// @notice Thrown when the evidence hash at `index` is zero.
    error LedgerZeroEvidenceHash(uint256 index);
    /// @notice Thrown when the evidence hash at `index` already appears earlier in the same delivery.
    error LedgerDuplicateEvidenceHash(uint256 index, bytes32 evidenceHash);
    /// @notice Thrown when the external reference is already used for a commitment of this municipality.
    error LedgerDuplicateCommitmentRef(uint32 municipalityId, string externalRef, uint256 existingCommitmentId);
    /// @notice Thrown when the external reference is already used for a delivery of this commitment.
    error LedgerDuplicateDeliveryRef(uint256 commitmentId, string externalRef, uint256 existingDeliveryId);
    /// @notice Thrown when amending, delivering against or withdrawing a withdrawn commitment.
    error LedgerCommitmentWithdrawn(uint256 commitmentId);
    /// @notice Thrown when an amendment changes none of title, description, target, due date.
    error LedgerAmendmentChangesNothing(uint256 commitmentId);
    /// @notice Thrown when revoking a delivery that is already revoked.
    error LedgerDeliveryAlreadyRevoked(uint256 deliveryId);
    /// @notice Thrown when a municipality's admin would be replaced by the same account.
    error LedgerAdminUnchanged(uint32 municipalityId, address admin);
    /// @notice Thrown when adding a registrar that already is one, or removing one that is not.
    error LedgerRegistrarUnchanged(uint32 municipalityId, address account, bool isRegistrar);

    // ------------------------------------------------------------------ platform admin

    /// @notice Onboards a municipality with its own admin. Only the platform admin (owner).
    /// @param name display name (1..100 bytes)
    /// @param code public identifier such as the CBS code (0..16 bytes)
    /// @param admin the municipality's admin account (not zero)
    /// @return municipalityId the new id, counting from 1
    function registerMunicipality(string calldata name, string calldata code, address admin)
        external
        returns (uint32 municipalityId);

    // ------------------------------------------------------------------ municipality admin

    /// @notice Replaces a municipality's admin (not by itself, not by zero). Its current admin
    /// or the platform admin.
    function changeMunicipalityAdmin(uint32 municipalityId, address newAdmin) external;

    /// @notice Gives `account` the registrar role for `municipalityId`. Only its admin.
    function addRegistrar(uint32 municipalityId, address account) external;

    /// @notice Takes the registrar role for `municipalityId` away from `account`. Only its admin.
    function removeRegistrar(uint32 municipalityId, address account) external;

    // ------------------------------------------------------------------ registrar

    /// @notice Registers a commitment. Only a registrar of `input.municipalityId`.
    /// @return commitmentId the new id, counting from 1 across all municipalities
    function registerCommitment(CommitmentInput calldata input) external returns (uint256 commitmentId);

    /// @notice Amends a commitment (texts, target, due date) with a reason. Only a registrar of
    /// its municipality; not after withdrawal.
    /// @return amendmentNumber 1 for the first amendment of this commitment, and so on
    function amendCommitment(uint256 commitmentId, AmendmentInput calldata input)
        external
        returns (uint32 amendmentNumber);

    /// @notice Withdraws a commitment with a reason (1..1000 bytes). Only a registrar of its
    /// municipality; once only.
    function withdrawCommitment(uint256 commitmentId, string calldata reason) external;

    /// @notice Records a delivery against a commitment. Only a registrar of its municipality;
    /// not after withdrawal.
    /// @return deliveryId the new id, counting from 1 across all commitments
    function recordDelivery(uint256 commitmentId, DeliveryInput calldata input) external returns (uint256 deliveryId);

    /// @notice Revokes a delivery with a reason (1..1000 bytes): it stops counting towards
    /// progress. Only a registrar of the commitment's municipality; once only. Allowed after
    /// withdrawal, so that corrections remain possible.
    function revokeDelivery(uint256 deliveryId, string calldata reason) external;

    // ------------------------------------------------------------------ views

    /// @notice ABI version of this ledger, semantic versioning.
    function version() external pure returns (string memory);

    /// @notice Status and progress of a commitment at the current block time.
    /// @return status see the status rules above
    /// @return deliveredQuantity sum of the non-revoked deliveries, in the commitment's unit
    /// @return targetQuantity the current target
    /// @return progressBps floor(delivered * 10000 / target), basis points
    /// @return metAt Unix time the target was met (see rules), 0 if not met
    function statusOf(uint256 commitmentId)
        external
        view
        returns (Status status, uint256 deliveredQuantity, uint64 targetQuantity, uint256 progressBps, uint64 metAt);

    /// @notice The commitment id registered under `externalRef` for `municipalityId`, or 0.
    function commitmentIdByRef(uint32 municipalityId, string calldata externalRef) external view returns (uint256);

    /// @notice Whether `account` is a registrar of `municipalityId`.
    function isRegistrar(uint32 municipalityId, address account) external view returns (bool);

    /// @notice The admin of `municipalityId` (zero address if unknown).
    function municipalityAdmin(uint32 municipalityId) external view returns (address);

    /// @notice Number of municipalities, commitments and deliveries registered so far.
    function counts() external view returns (uint32 municipalities, uint256 commitments, uint256 deliveries);
}
