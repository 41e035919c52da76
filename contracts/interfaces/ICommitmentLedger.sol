// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ICommitmentLedger (v2): a public ledger of commitments and the deliveries that fulfil them
/// @notice Municipalities (onboarded by the platform admin, then in sole charge of their own
/// record) register commitments ("we will renovate 200 social homes by 2026") and record
/// deliveries against them, each with the SHA-256 hashes of its evidence files. Nothing is ever
/// deleted: a wrong delivery is revoked with a reason, a commitment is amended (every amendment
/// and the original terms stay in the event log) or withdrawn with a reason.
/// @dev This interface is the contract between the chain and every off-chain reader (indexer,
/// auditor replay, in-browser check). Its events carry every field needed to rebuild the whole
/// state from the deploy block without `eth_call`, including the block time of each write
/// (`...At` fields named "recorded", "registered", "amended", ...), so readers need no block
/// headers. The implementation emits each event right after the state change it reports, and
/// inherits OpenZeppelin's `Multicall`: `multicall(bytes[])` runs many writes of one caller in one
/// transaction (all or nothing; the caller's roles are checked for each call). No personal data
/// goes on chain: registrars are addresses, texts are public policy text.
///
/// Two clocks. The registrar *claims* when a delivery happened (`deliveredAt`) and when the
/// promise was made (`promisedAt`); the chain *proves* when each fact was recorded (block time).
/// Both are kept; neither passes for the other.
///
/// Status rules (README "Status rules"; one mapping, applied to two clocks and two sets of terms
/// by this contract, the API and the replay). Given `delivered` (sum of the quantities of
/// non-revoked deliveries), `target`, `dueDate`, `metAt` (0 while not met) and `now`:
///   Withdrawn      if the commitment was withdrawn;
///   Delivered      else if metAt != 0 and metAt <= dueDate;
///   DeliveredLate  else if metAt != 0 (metAt > dueDate);
///   Overdue        else if now > dueDate;
///   InProgress     else if delivered > 0;
///   Pending        otherwise.
/// `statusOf` answers the *on-record* status, in O(1): `metAt` is `metOnRecordAt`, the block
/// time at which the running total of non-revoked deliveries last reached the current target
/// (see {statusOf} for how revocations and amendments clear and set it). The *claimed* status
/// (off chain only) uses the earliest claimed date t such that the non-revoked deliveries
/// claimed on or before t sum to at least the target.
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
    /// @param title short title (1..200 bytes)
    /// @param description what was promised, in full (0..8000 bytes)
    /// @param theme policy theme, e.g. "Wonen en leefomgeving" (0..120 bytes)
    /// @param targetQuantity how much is promised, in `unit` (1..MAX_QUANTITY)
    /// @param unit unit of the quantity, e.g. "homes", "%" (1..32 bytes)
    /// @param promisedAt when the promise was made (e.g. the council adopted the agreement),
    /// Unix seconds, claimed by the registrar (1..block time)
    /// @param dueDate deadline, Unix seconds (promisedAt < dueDate < MAX_DATE); the due date has
    /// passed when the evaluation time is > dueDate
    /// @param sourceDocumentHash SHA-256 of the source document (e.g. the council decision), or 0
    /// @param sourceUri where the source document is published (0..512 bytes)
    /// @param parentId the commitment this one is part of (a sub-commitment), or 0; the parent
    /// must exist, belong to the same municipality and not be withdrawn
    /// @param weight the sub-commitment's weight in its parent's roll-up (1..MAX_WEIGHT), 0 when
    /// `parentId` is 0 (README "Sub-commitments")
    struct CommitmentInput {
        uint32 municipalityId;
        string externalRef;
        string title;
        string description;
        string theme;
        uint64 targetQuantity;
        string unit;
        uint64 promisedAt;
        uint64 dueDate;
        bytes32 sourceDocumentHash;
        string sourceUri;
        uint256 parentId;
        uint32 weight;
    }

    /// @notice What a registrar submits to amend a commitment. Only the fields named in `fields`
    /// change; the others are ignored and must be left empty/zero.
    /// @param expectedAmendmentCount the number of amendments the registrar saw (0 before the
    /// first); a stale count is refused with {LedgerStaleAmendmentCount}
    /// @param fields bit set of AMEND_TITLE (1), AMEND_DESCRIPTION (2), AMEND_TARGET (4),
    /// AMEND_DUE_DATE (8); at least one, no other bits
    /// @param title new title (1..200 bytes) if AMEND_TITLE
    /// @param description new description (0..8000 bytes) if AMEND_DESCRIPTION
    /// @param targetQuantity new target (1..MAX_QUANTITY, not the current one) if AMEND_TARGET
    /// @param dueDate new deadline (promisedAt < dueDate < MAX_DATE, not the current one) if AMEND_DUE_DATE
    /// @param reason why the commitment changed (1..1000 bytes)
    struct AmendmentInput {
        uint32 expectedAmendmentCount;
        uint8 fields;
        string title;
        string description;
        uint64 targetQuantity;
        uint64 dueDate;
        string reason;
    }

    /// @notice What a registrar submits to record a delivery.
    /// @param quantity how much was delivered, in the commitment's unit (1..MAX_QUANTITY)
    /// @param deliveredAt when it was delivered, claimed by the registrar, Unix seconds (1..block time)
    /// @param evidenceHashes SHA-256 of each evidence file (1..MAX_EVIDENCE, none zero, no repeats)
    /// @param evidenceUri where the evidence is published (0..512 bytes)
    /// @param note short note (0..1000 bytes)
    /// @param externalRef the source's id for this delivery, unique per commitment when not
    /// empty (0..64 bytes); lets importers re-run without recording anything twice
    /// @param assetRef the asset this delivery delivers (a streetlight number, a dwelling's
    /// address code, a cadastral parcel), 0..64 bytes, "" when none. A non-empty asset counts once
    /// per commitment: a second delivery of it is refused with {LedgerAssetAlreadyCounted} unless
    /// the earlier one was revoked. Compared byte for byte; off-chain layers normalise it first
    /// (ledger/merkle.py `normalise_asset_ref`).
    struct DeliveryInput {
        uint64 quantity;
        uint64 deliveredAt;
        bytes32[] evidenceHashes;
        string evidenceUri;
        string note;
        string externalRef;
        string assetRef;
    }

    /// @notice A batched delivery: one leaf of an anchored batch (see {anchorBatch}). The leaf
    /// hash is OpenZeppelin StandardMerkleTree's: keccak256(bytes.concat(keccak256(abi.encode(
    /// commitmentId, quantity, deliveredAt, evidenceHashes, evidenceUri, note, externalRef,
    /// assetRef)))), leaf encoding ["uint256","uint64","uint64","bytes32[]","string","string",
    /// "string","string"]; fields as in {DeliveryInput}.
    struct BatchLeaf {
        uint256 commitmentId;
        uint64 quantity;
        uint64 deliveredAt;
        bytes32[] evidenceHashes;
        string evidenceUri;
        string note;
        string externalRef;
        string assetRef;
    }

    /// @notice What a registrar submits to anchor a batch of deliveries.
    /// @param municipalityId the municipality whose commitments the leaves name (caller must be its registrar)
    /// @param root Merkle root of the batch (OpenZeppelin StandardMerkleTree, sorted pairs), not zero
    /// @param leafCount number of leaves (deliveries) in the batch file (1..2**32-1), as claimed
    /// @param fileSha256 SHA-256 of the exact bytes of the published batch file (the tree's
    /// StandardMerkleTree dump, JSON), not zero
    /// @param fileUri where the batch file is published (1..512 bytes)
    struct BatchInput {
        uint32 municipalityId;
        bytes32 root;
        uint32 leafCount;
        bytes32 fileSha256;
        string fileUri;
    }

    /// @notice Who signed a write that anyone (a relayer) submits: EIP-712 typed data over the
    /// write's fields plus `nonce` and `deadline`, domain {name: "CommitmentLedger", version: "2",
    /// chainId, verifyingContract: this ledger}. Type strings: see the `*_TYPEHASH` constants.
    /// @param signer the account whose role the write uses and whom the record names
    /// @param nonce the signer's next nonce ({nonces}); sequential, each used once
    /// @param deadline last block time (Unix seconds, inclusive) at which the signature is accepted
    /// @param signature 65-byte ECDSA signature (r, s, v) of an EOA, or an ERC-1271 signature of
    /// a contract wallet (e.g. a Safe), checked with OpenZeppelin SignatureChecker
    struct Authorization {
        address signer;
        uint256 nonce;
        uint256 deadline;
        bytes signature;
    }

    /// @notice A confirmer's latest verdict on a delivery.
    enum Verdict {
        None,
        Confirmed,
        Disputed
    }

    /// @notice A commitment's state as the contract keeps it (see {commitmentState}).
    struct CommitmentState {
        uint32 municipalityId;
        bool withdrawn;
        uint32 amendmentCount;
        uint32 deliveryCount;
        uint64 targetQuantity;
        uint64 promisedAt;
        uint64 dueDate;
        uint256 deliveredQuantity;
        uint64 metOnRecordAt;
    }

    // ------------------------------------------------------------------ events: platform

    /// @notice Emitted when the platform admin onboards a municipality.
    /// @param code public identifier, e.g. the CBS municipality code "GM0308" (0..16 bytes)
    event MunicipalityRegistered(uint32 indexed municipalityId, address indexed admin, string name, string code);

    /// @notice Emitted when the platform admin pauses all writes (emergency). Reads, replay and
    /// verification keep working; {cancelAdminRecovery} too.
    event Paused(address account);

    /// @notice Emitted when the platform admin lifts a pause.
    event Unpaused(address account);

    // ------------------------------------------------------------------ events: municipality admin

    /// @notice Emitted when a municipality's admin proposes a successor (step 1 of 2);
    /// `proposedAdmin` zero means a pending proposal was cancelled.
    event MunicipalityAdminProposed(
        uint32 indexed municipalityId, address indexed currentAdmin, address indexed proposedAdmin
    );

    /// @notice Emitted when a municipality's admin account changes: the proposed admin accepted
    /// (`recovered` false) or a time-locked recovery completed (`recovered` true).
    event MunicipalityAdminChanged(
        uint32 indexed municipalityId, address indexed previousAdmin, address indexed newAdmin, bool recovered
    );

    /// @notice Emitted when the platform admin starts the public, time-locked recovery of a
    /// municipality whose admin key is lost. It completes at `executableAt` (Unix seconds) unless
    /// the current admin cancels it first.
    event AdminRecoveryStarted(
        uint32 indexed municipalityId, address indexed proposedAdmin, address indexed by, uint64 executableAt
    );

    /// @notice Emitted when a pending recovery is cancelled (by the current municipality admin,
    /// by the platform admin, or because the admin handed over in the ordinary way).
    event AdminRecoveryCancelled(uint32 indexed municipalityId, address indexed proposedAdmin, address indexed by);

    /// @notice Emitted when a municipality admin gives an account the registrar role.
    event RegistrarAdded(uint32 indexed municipalityId, address indexed account, address indexed by);

    /// @notice Emitted when a municipality admin takes the registrar role away from an account.
    event RegistrarRemoved(uint32 indexed municipalityId, address indexed account, address indexed by);

    // ------------------------------------------------------------------ events: registrar

    /// @notice Emitted when a commitment is registered; carries the whole record (the original
    /// terms: later amendments never change this event).
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
        uint64 promisedAt,
        uint64 dueDate,
        bytes32 sourceDocumentHash,
        string sourceUri,
        uint256 parentId,
        uint32 weight,
        uint64 registeredAt
    );

    /// @notice Emitted when a commitment is amended. `fields` names what changed (AMEND_* bits);
    /// texts not named are empty; target and due date are given before and after (equal when not
    /// named). `amendmentNumber` counts from 1 per commitment.
    /// @param amendedAt block time of the amendment, Unix seconds
    event CommitmentAmended(
        uint256 indexed commitmentId,
        uint32 indexed municipalityId,
        address indexed registrar,
        uint32 amendmentNumber,
        uint8 fields,
        string title,
        string description,
        uint64 previousTargetQuantity,
        uint64 targetQuantity,
        uint64 previousDueDate,
        uint64 dueDate,
        string reason,
        uint64 amendedAt
    );

    /// @notice Emitted when a commitment is withdrawn. No later amendment or delivery is accepted.
    /// @param withdrawnAt block time, Unix seconds
    event CommitmentWithdrawn(
        uint256 indexed commitmentId, uint32 indexed municipalityId, address indexed registrar, string reason, uint64 withdrawnAt
    );

    /// @notice Emitted when a delivery is recorded; carries the whole record. Two clocks:
    /// `deliveredAt` is claimed by the registrar, `recordedAt` is the block time.
    event DeliveryRecorded(
        uint256 indexed deliveryId,
        uint256 indexed commitmentId,
        address indexed registrar,
        uint64 quantity,
        uint64 deliveredAt,
        uint64 recordedAt,
        bytes32[] evidenceHashes,
        string evidenceUri,
        string note,
        string externalRef,
        string assetRef
    );

    /// @notice Emitted when a delivery is revoked (it stops counting; nothing is deleted).
    /// @param revokedAt block time, Unix seconds
    event DeliveryRevoked(
        uint256 indexed deliveryId, uint256 indexed commitmentId, address indexed registrar, string reason, uint64 revokedAt
    );

    /// @notice Emitted when a batch of deliveries is anchored. Its deliveries count once a reader
    /// has the batch file, its SHA-256 equals `fileSha256` and the tree it lists has this root.
    /// @param anchoredAt block time, Unix seconds (the on-record time of every leaf)
    event BatchAnchored(
        bytes32 indexed root,
        uint32 indexed municipalityId,
        address indexed registrar,
        uint32 leafCount,
        bytes32 fileSha256,
        string fileUri,
        uint64 anchoredAt
    );
    /// @notice Emitted when one delivery of an anchored batch is revoked (it stops counting).
    event BatchedDeliveryRevoked(
        bytes32 indexed root,
        bytes32 indexed leafHash,
        uint256 indexed commitmentId,
        address registrar,
        string reason,
        uint64 revokedAt
    );
    /// @notice Emitted when a municipality admin gives an account the confirmer role.
    event ConfirmerAdded(uint32 indexed municipalityId, address indexed account, address indexed by);
    /// @notice Emitted when a municipality admin takes the confirmer role away.
    event ConfirmerRemoved(uint32 indexed municipalityId, address indexed account, address indexed by);
    /// @notice Emitted when a confirmer who did not record a delivery confirms it.
    /// @param evidenceHash SHA-256 of the confirmer's own evidence (e.g. an inspection report), or 0
    /// @param confirmedAt block time, Unix seconds
    event DeliveryConfirmed(
        uint256 indexed deliveryId, uint256 indexed commitmentId, address indexed confirmer, bytes32 evidenceHash, uint64 confirmedAt
    );
    /// @notice Emitted when a confirmer who did not record a delivery disputes it, with a reason.
    event DeliveryDisputed(
        uint256 indexed deliveryId, uint256 indexed commitmentId, address indexed confirmer, string reason, uint64 disputedAt
    );
    /// @notice Emitted when a confirmer confirms one delivery of an anchored batch.
    event BatchedDeliveryConfirmed(
        bytes32 indexed root,
        bytes32 indexed leafHash,
        address indexed confirmer,
        uint256 commitmentId,
        bytes32 evidenceHash,
        uint64 confirmedAt
    );
    /// @notice Emitted when a confirmer disputes one delivery of an anchored batch, with a reason.
    event BatchedDeliveryDisputed(
        bytes32 indexed root,
        bytes32 indexed leafHash,
        address indexed confirmer,
        uint256 commitmentId,
        string reason,
        uint64 disputedAt
    );

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
    /// @notice Thrown when a promise date is 0 or later than the block time (Unix seconds).
    error LedgerInvalidPromiseDate(uint64 promisedAt, uint64 blockTime);
    /// @notice Thrown when a due date is not after the promise date or not before MAX_DATE.
    error LedgerInvalidDueDate(uint64 dueDate, uint64 promisedAt, uint64 maxDate);
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
    /// @notice Thrown when an amendment names no field, an unknown bit, or sets a value a field
    /// not named must leave empty; `fields` as submitted.
    error LedgerInvalidAmendmentFields(uint256 commitmentId, uint8 fields);
    /// @notice Thrown when an amendment sets the target or due date to its current value.
    error LedgerAmendmentChangesNothing(uint256 commitmentId, uint8 field);
    /// @notice Thrown when the amendment count the registrar saw is not the current one.
    error LedgerStaleAmendmentCount(uint256 commitmentId, uint32 expected, uint32 actual);
    /// @notice Thrown when a commitment already has `maxDeliveries` deliveries (revoked ones count).
    error LedgerTooManyDeliveries(uint256 commitmentId, uint256 maxDeliveries);
    /// @notice Thrown when revoking a delivery that is already revoked.
    error LedgerDeliveryAlreadyRevoked(uint256 deliveryId);
    /// @notice Thrown when adding a registrar that already is one, or removing one that is not.
    error LedgerRegistrarUnchanged(uint32 municipalityId, address account, bool isRegistrar);
    /// @notice Thrown when proposing the current admin as its own successor.
    error LedgerAdminUnchanged(uint32 municipalityId, address admin);
    /// @notice Thrown when `account` accepts an admin role it was not proposed for.
    error LedgerNotProposedAdmin(uint32 municipalityId, address account, address proposedAdmin);
    /// @notice Thrown when starting a recovery while one is pending.
    error LedgerRecoveryPending(uint32 municipalityId, address proposedAdmin, uint64 executableAt);
    /// @notice Thrown when cancelling or completing a recovery that was never started.
    error LedgerNoRecoveryPending(uint32 municipalityId);
    /// @notice Thrown when completing a recovery before its delay has passed (Unix seconds).
    error LedgerRecoveryNotReady(uint32 municipalityId, uint64 executableAt, uint64 blockTime);
    /// @notice Thrown when `account` may not cancel this recovery.
    error LedgerNotRecoveryCanceller(uint32 municipalityId, address account);
    /// @notice Thrown when the platform admin tries to renounce its role (the ledger would lose
    /// the only account that onboards municipalities and pauses in an emergency).
    error LedgerRenounceRefused();
    /// @notice Thrown when writing while the ledger is paused.
    error LedgerPaused();
    /// @notice Thrown when unpausing a ledger that is not paused, or pausing a paused one.
    error LedgerPauseUnchanged(bool paused);
    /// @notice Thrown when a delivery names an asset already counted toward this commitment by a
    /// delivery that is not revoked.
    error LedgerAssetAlreadyCounted(uint256 commitmentId, string assetRef, uint256 existingDeliveryId);
    /// @notice Thrown when a parent commitment belongs to another municipality.
    error LedgerParentInOtherMunicipality(uint256 parentId, uint32 parentMunicipalityId, uint32 municipalityId);
    /// @notice Thrown when a sub-commitment's weight is 0 or above `maxWeight`, or a commitment
    /// without parent has a weight.
    error LedgerInvalidWeight(uint256 parentId, uint32 weight, uint32 maxWeight);
    /// @notice Thrown when anchoring with a zero root, zero file hash or zero leaf count.
    error LedgerInvalidBatch(bytes32 root, uint32 leafCount, bytes32 fileSha256);
    /// @notice Thrown when anchoring a root that is already anchored.
    error LedgerBatchAlreadyAnchored(bytes32 root, uint32 municipalityId);
    /// @notice Thrown when no batch has this root.
    error LedgerUnknownBatch(bytes32 root);
    /// @notice Thrown when a Merkle proof does not prove `leafHash` is in the batch `root`.
    error LedgerInvalidProof(bytes32 root, bytes32 leafHash);
    /// @notice Thrown when revoking, confirming or disputing a batched delivery already revoked.
    error LedgerBatchedDeliveryRevoked(bytes32 root, bytes32 leafHash);
    /// @notice Thrown when a batched delivery names a commitment of another municipality than its batch.
    error LedgerLeafInOtherMunicipality(bytes32 root, uint256 commitmentId, uint32 municipalityId);
    /// @notice Thrown when the caller is not a confirmer of `municipalityId`.
    error LedgerNotConfirmer(uint32 municipalityId, address account);
    /// @notice Thrown when adding a confirmer that already is one, or removing one that is not.
    error LedgerConfirmerUnchanged(uint32 municipalityId, address account, bool isConfirmer);
    /// @notice Thrown when a confirmer confirms or disputes a delivery it recorded itself.
    error LedgerSelfConfirmation(address account);
    /// @notice Thrown when a confirmer repeats its current verdict.
    error LedgerVerdictUnchanged(address confirmer, Verdict verdict);
    /// @notice Thrown when a signed write arrives after its deadline (Unix seconds).
    error LedgerSignatureExpired(address signer, uint256 deadline, uint64 blockTime);
    /// @notice Thrown when a signed write's nonce is not the signer's next one; a replayed
    /// signature has `nonce` < `expected`.
    error LedgerInvalidNonce(address signer, uint256 nonce, uint256 expected);
    /// @notice Thrown when a signature is not `signer`'s over this write on this chain and ledger
    /// (any changed field, another chain id or contract gives another digest).
    error LedgerInvalidSignature(address signer);

    // ------------------------------------------------------------------ platform admin

    /// @notice Onboards a municipality with its own admin. Only the platform admin (owner);
    /// not while paused. The platform admin has no role in the municipality afterwards.
    /// @param name display name (1..100 bytes)
    /// @param code public identifier such as the CBS code (0..16 bytes)
    /// @param admin the municipality's admin account (not zero)
    /// @return municipalityId the new id, counting from 1
    function registerMunicipality(string calldata name, string calldata code, address admin)
        external
        returns (uint32 municipalityId);

    /// @notice Stops every write except {cancelAdminRecovery}, {unpause} and ownership transfer.
    /// Only the platform admin.
    function pause() external;

    /// @notice Lifts a pause. Only the platform admin.
    function unpause() external;

    /// @notice Starts the recovery of a municipality whose admin key is lost: `newAdmin` becomes
    /// its admin when {completeAdminRecovery} is called ADMIN_RECOVERY_DELAY seconds from now,
    /// unless the current admin cancels first. Only the platform admin; not while paused; one at
    /// a time per municipality.
    function startAdminRecovery(uint32 municipalityId, address newAdmin) external;

    /// @notice Cancels a pending recovery. The municipality's current admin or the platform
    /// admin; allowed while paused (a pause must never run out the clock on the admin).
    function cancelAdminRecovery(uint32 municipalityId) external;

    /// @notice Completes a recovery once its delay has passed (block time >= executableAt).
    /// Anyone may call it; not while paused.
    function completeAdminRecovery(uint32 municipalityId) external;

    // ------------------------------------------------------------------ municipality admin

    /// @notice Proposes `newAdmin` as the municipality's next admin (zero cancels a proposal).
    /// Only its current admin; not while paused.
    function proposeMunicipalityAdmin(uint32 municipalityId, address newAdmin) external;

    /// @notice Accepts a proposed admin role. Only the proposed account; not while paused.
    /// Cancels a pending recovery of the municipality.
    function acceptMunicipalityAdmin(uint32 municipalityId) external;

    /// @notice Gives `account` the registrar role for `municipalityId`. Only its admin; not while paused.
    function addRegistrar(uint32 municipalityId, address account) external;

    /// @notice Takes the registrar role for `municipalityId` away from `account`. Only its admin;
    /// not while paused.
    function removeRegistrar(uint32 municipalityId, address account) external;

    // ------------------------------------------------------------------ registrar

    /// @notice Registers a commitment. Only a registrar of `input.municipalityId`; not while paused.
    /// @return commitmentId the new id, counting from 1 across all municipalities
    function registerCommitment(CommitmentInput calldata input) external returns (uint256 commitmentId);

    /// @notice Amends the fields named in `input.fields`, with a reason. Only a registrar of its
    /// municipality; not after withdrawal; not while paused. A new target clears or sets
    /// `metOnRecordAt` (see {statusOf}).
    /// @return amendmentNumber 1 for the first amendment of this commitment, and so on
    function amendCommitment(uint256 commitmentId, AmendmentInput calldata input)
        external
        returns (uint32 amendmentNumber);

    /// @notice Withdraws a commitment with a reason (1..1000 bytes). Only a registrar of its
    /// municipality; once only; not while paused.
    function withdrawCommitment(uint256 commitmentId, string calldata reason) external;

    /// @notice Records a delivery against a commitment. Only a registrar of its municipality;
    /// not after withdrawal; not while paused.
    /// @return deliveryId `commitmentId * DELIVERY_ID_BASE + n` (DELIVERY_ID_BASE = 1,000,000),
    /// n counting from 1 per commitment, so an id names its commitment
    function recordDelivery(uint256 commitmentId, DeliveryInput calldata input) external returns (uint256 deliveryId);

    /// @notice Revokes a delivery with a reason (1..1000 bytes): it stops counting towards
    /// progress. Only a registrar of the commitment's municipality; once only; not while paused.
    /// Allowed after withdrawal, so that corrections remain possible.
    function revokeDelivery(uint256 deliveryId, string calldata reason) external;

    /// @notice Anchors a batch of deliveries: one Merkle root for any number of them, with the
    /// SHA-256 and URI of the published batch file that lists every leaf. Only a registrar of
    /// `input.municipalityId`; not while paused; each root once. The contract cannot see the
    /// leaves: batched deliveries do not enter {statusOf}; readers count them once they have
    /// checked the file against `fileSha256` and `root` (docs/LEDGER.md "Batches").
    function anchorBatch(BatchInput calldata input) external;

    /// @notice Revokes one delivery of an anchored batch with a reason (1..1000 bytes), proving
    /// it is in the batch. Only a registrar of the batch's municipality; once per leaf; not
    /// while paused; the leaf's commitment must be of that municipality.
    function revokeBatchedDelivery(
        bytes32 root,
        BatchLeaf calldata leaf,
        bytes32[] calldata proof,
        string calldata reason
    ) external;

    // ------------------------------------------------------------------ confirmer

    /// @notice Gives `account` the confirmer role for `municipalityId` (an inspector, an
    /// accountant, a contractor's counterpart). Only its admin; not while paused.
    function addConfirmer(uint32 municipalityId, address account) external;

    /// @notice Takes the confirmer role away. Only the municipality's admin; not while paused.
    /// Verdicts already given stay in the record.
    function removeConfirmer(uint32 municipalityId, address account) external;

    /// @notice Confirms a delivery, optionally citing the confirmer's own evidence
    /// (`evidenceHash` SHA-256, or 0). Only a confirmer of the commitment's municipality who did
    /// not record it; not a revoked delivery; not while paused. A confirmer may change its
    /// verdict (confirm after dispute and back); repeating it is refused.
    function confirmDelivery(uint256 deliveryId, bytes32 evidenceHash) external;

    /// @notice Disputes a delivery with a reason (1..1000 bytes); rules as {confirmDelivery}.
    function disputeDelivery(uint256 deliveryId, string calldata reason) external;

    /// @notice Confirms one delivery of an anchored batch (proving it is in the batch); rules as
    /// {confirmDelivery}, with the batch's registrar as the one who recorded it.
    function confirmBatchedDelivery(
        bytes32 root,
        BatchLeaf calldata leaf,
        bytes32[] calldata proof,
        bytes32 evidenceHash
    ) external;

    /// @notice Disputes one delivery of an anchored batch with a reason; rules as {disputeDelivery}.
    function disputeBatchedDelivery(
        bytes32 root,
        BatchLeaf calldata leaf,
        bytes32[] calldata proof,
        string calldata reason
    ) external;

    // ------------------------------------------------------------------ signed writes
    // Each `...BySig` does what the function without the suffix does, for `auth.signer` instead
    // of the caller: the record names the signer, the caller (a relayer) only pays. Refused with
    // {LedgerSignatureExpired}, {LedgerInvalidNonce}, {LedgerInvalidSignature}, or the role error
    // naming the signer. Typed data: the `*_TYPEHASH` type strings.

    /// @notice {registerCommitment}, signed (type RegisterCommitment).
    function registerCommitmentBySig(CommitmentInput calldata input, Authorization calldata auth)
        external
        returns (uint256 commitmentId);

    /// @notice {amendCommitment}, signed (type AmendCommitment).
    function amendCommitmentBySig(uint256 commitmentId, AmendmentInput calldata input, Authorization calldata auth)
        external
        returns (uint32 amendmentNumber);

    /// @notice {withdrawCommitment}, signed (type WithdrawCommitment).
    function withdrawCommitmentBySig(uint256 commitmentId, string calldata reason, Authorization calldata auth)
        external;

    /// @notice {recordDelivery}, signed (type RecordDelivery).
    function recordDeliveryBySig(uint256 commitmentId, DeliveryInput calldata input, Authorization calldata auth)
        external
        returns (uint256 deliveryId);

    /// @notice {revokeDelivery}, signed (type RevokeDelivery).
    function revokeDeliveryBySig(uint256 deliveryId, string calldata reason, Authorization calldata auth) external;

    /// @notice {anchorBatch}, signed (type AnchorBatch).
    function anchorBatchBySig(BatchInput calldata input, Authorization calldata auth) external;

    /// @notice {revokeBatchedDelivery}, signed (type RevokeBatchedDelivery, over the leaf hash).
    function revokeBatchedDeliveryBySig(
        bytes32 root,
        BatchLeaf calldata leaf,
        bytes32[] calldata proof,
        string calldata reason,
        Authorization calldata auth
    ) external;

    /// @notice {confirmDelivery}, signed (type ConfirmDelivery).
    function confirmDeliveryBySig(uint256 deliveryId, bytes32 evidenceHash, Authorization calldata auth) external;

    /// @notice {disputeDelivery}, signed (type DisputeDelivery).
    function disputeDeliveryBySig(uint256 deliveryId, string calldata reason, Authorization calldata auth) external;

    /// @notice {confirmBatchedDelivery}, signed (type ConfirmBatchedDelivery, over the leaf hash).
    function confirmBatchedDeliveryBySig(
        bytes32 root,
        BatchLeaf calldata leaf,
        bytes32[] calldata proof,
        bytes32 evidenceHash,
        Authorization calldata auth
    ) external;

    /// @notice {disputeBatchedDelivery}, signed (type DisputeBatchedDelivery, over the leaf hash).
    function disputeBatchedDeliveryBySig(
        bytes32 root,
        BatchLeaf calldata leaf,
        bytes32[] calldata proof,
        string calldata reason,
        Authorization calldata auth
    ) external;

    // ------------------------------------------------------------------ views

    /// @notice ABI version of this ledger, semantic versioning ("2.1.0").
    function version() external pure returns (string memory);

    /// @notice On-record status and progress of a commitment at the current block time, in O(1)
    /// (no loops: the contract keeps the delivered total and `metOnRecordAt`).
    /// `metOnRecordAt` is set to the block time of the write (delivery or amendment) that makes
    /// the non-revoked total reach the current target while it was not met; it is cleared when a
    /// revocation or a raised target leaves the total below the target. A raised target that is
    /// still met sets it to the amendment's block time (the chain proves the new target met only
    /// from then); a lowered target keeps an earlier `metOnRecordAt`.
    /// @return status see the status rules above, with metAt = metOnRecordAt
    /// @return deliveredQuantity sum of the non-revoked deliveries, in the commitment's unit
    /// @return targetQuantity the current target
    /// @return progressBps floor(delivered * 10000 / target), basis points
    /// @return metOnRecordAt block time (Unix seconds) the current target was met on record, 0 if not met
    function statusOf(uint256 commitmentId)
        external
        view
        returns (
            Status status,
            uint256 deliveredQuantity,
            uint64 targetQuantity,
            uint256 progressBps,
            uint64 metOnRecordAt
        );

    /// @notice The stored state of a commitment (reverts with {LedgerUnknownCommitment}).
    function commitmentState(uint256 commitmentId) external view returns (CommitmentState memory);

    /// @notice The commitment id registered under `externalRef` for `municipalityId`, or 0.
    function commitmentIdByRef(uint32 municipalityId, string calldata externalRef) external view returns (uint256);

    /// @notice Whether `account` is a registrar of `municipalityId`.
    function isRegistrar(uint32 municipalityId, address account) external view returns (bool);

    /// @notice Whether `account` is a confirmer of `municipalityId`.
    function isConfirmer(uint32 municipalityId, address account) external view returns (bool);

    /// @notice The next nonce `signer` must use in a signed write.
    function nonces(address signer) external view returns (uint256);

    /// @notice The StandardMerkleTree leaf hash of a batched delivery (see {BatchLeaf}).
    function batchLeafHash(BatchLeaf calldata leaf) external pure returns (bytes32);

    /// @notice An anchored batch: its municipality, the registrar who anchored it and its
    /// claimed leaf count (reverts {LedgerUnknownBatch}).
    function batchOf(bytes32 root) external view returns (uint32 municipalityId, address registrar, uint32 leafCount);

    /// @notice Checks one batched delivery on chain: whether `proof` proves `leaf` is in the
    /// anchored batch `root` (OpenZeppelin MerkleProof, sorted pairs), its leaf hash, and whether
    /// it was revoked. Reverts {LedgerUnknownBatch} if `root` was never anchored.
    function verifyBatchedDelivery(bytes32 root, BatchLeaf calldata leaf, bytes32[] calldata proof)
        external
        view
        returns (bool included, bytes32 leafHash, bool revoked);

    /// @notice `confirmer`'s latest verdict on a delivery (None if it gave none).
    function verdictOf(uint256 deliveryId, address confirmer) external view returns (Verdict);

    /// @notice `confirmer`'s latest verdict on a batched delivery (None if it gave none).
    function batchedVerdictOf(bytes32 root, bytes32 leafHash, address confirmer) external view returns (Verdict);

    /// @notice The admin of `municipalityId` (zero address if unknown).
    function municipalityAdmin(uint32 municipalityId) external view returns (address);

    /// @notice The proposed next admin of `municipalityId` (zero if none).
    function pendingMunicipalityAdmin(uint32 municipalityId) external view returns (address);

    /// @notice The pending recovery of `municipalityId`: proposed admin and Unix time it can
    /// complete (both zero if none).
    function adminRecovery(uint32 municipalityId) external view returns (address proposedAdmin, uint64 executableAt);

    /// @notice Whether writes are paused.
    function paused() external view returns (bool);

    /// @notice Number of municipalities and commitments registered so far.
    function counts() external view returns (uint32 municipalities, uint256 commitments);
}
