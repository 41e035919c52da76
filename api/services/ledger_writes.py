"""Staff writes: validated inputs → contract call arguments → :meth:`LedgerChain.send`.

Routes never build transactions; they call these functions with the token's
:class:`~ledger.staff.StaffIdentity`, whose registrar key signs. Before anything is sent the
target commitment is looked up in the index (``ledger.db.repository``): another
municipality's → 403, withdrawn → 409 (nothing stored, nothing sent). A commitment the index
does not have yet (just registered) is left to the contract, which checks all of it again;
its refusal comes back as :class:`~ledger.errors.ContractRevertError` (unknown → 404, not a
registrar → 403, paused → 503, ...) and nothing is written.

Argument tuples follow the struct field order of ``ICommitmentLedger`` (2.1.0):
``CommitmentInput(municipalityId, externalRef, title, description, theme, targetQuantity,
unit, promisedAt, dueDate, sourceDocumentHash, sourceUri, parentId, weight)``,
``AmendmentInput(expectedAmendmentCount, fields, title, description, targetQuantity, dueDate,
reason)`` (fields not named are sent empty/zero, as the contract requires),
``DeliveryInput(quantity, deliveredAt, evidenceHashes, evidenceUri, note, externalRef,
assetRef)`` (``assetRef`` normalised by the wire model: ``ledger.merkle.normalise_asset_ref``).

Every write here needs the token's ``registrar`` role (:meth:`StaffIdentity.require_role`,
403 before anything is sent). 2.1.0 checks against the index before sending, with the
contract's problem types: a parent of another municipality (422
``parent-in-other-municipality``) or withdrawn (409 ``commitment-withdrawn``), and an asset
already counted for the commitment (409 ``asset-already-counted``), also by a batched
delivery, which the contract cannot see (docs/LEDGER.md "Assets").

An amendment carries the amendment count the registrar saw and names only the fields it
changes, so it never needs the index to fill in the others; a stale count is the contract's
``LedgerStaleAmendmentCount`` (409).

Batches (:func:`register_commitments`, :func:`record_deliveries`) go in one transaction through
``multicall`` (:meth:`LedgerChain.send_multicall`): all or nothing. A refusal of one item is
raised as :class:`BatchItemError` with the item's 0-based index: from the checks here (repeats
inside the batch, the index's municipality and withdrawal checks) or, for a contract refusal,
the first item whose values the custom error names (:func:`refused_item`).

Evidence files of a delivery are checked first (size, not empty, no hash twice), then staged
(:meth:`EvidenceStore.stage`, outside the store) before the transaction is sent. When it is
recorded they are promoted into the store, so every hash the chain cites through this server
can be fetched from it; when it is refused they are discarded, so a refused write never
changes the store (whatever other requests or processes do with the same files); when its
outcome is unknown (sent, but no receipt) they are promoted too, as the chain may cite them.
A process killed mid-request leaves at most staged files, which the next start-up promotes
(:meth:`EvidenceStore.promote_leftovers`). A delivery batch sent with files goes the same way
(:func:`send_with_evidence` is the one staging path): its files are staged before the
``multicall`` is sent and settled by its outcome.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Sequence

from fastapi import UploadFile
from sqlalchemy.orm import Session
from web3.exceptions import TimeExhausted

from api.schemas import AmendmentIn, CommitmentBatchIn, CommitmentIn, DeliveryBatchIn, DeliveryForm, DeliveryIn
from ledger.chain import LedgerChain, TxResult
from ledger.db import repository
from ledger.errors import (
    ChainUnavailableError,
    ContractRevertError,
    EvidenceTooLargeError,
    LedgerError,
    TransactionFailedError,
)
from ledger.events import snake
from ledger.evidence import EvidenceStore, StagedFile, hash_stream
from ledger.limits import delivery_commitment_id
from ledger.outbox import WriteJournaled
from ledger.staff import REGISTRAR, StaffIdentity

logger = logging.getLogger("api")

ZERO_BYTES32 = b"\x00" * 32

class WriteRefusedError(LedgerError):
    """The API refuses a write before sending it (the index shows it cannot succeed)."""


class UnknownRecordError(WriteRefusedError, LookupError):
    """The commitment or delivery is not in the index (HTTP 404). Same sentence as the
    contract's ``LedgerUnknownCommitment`` / ``LedgerUnknownDelivery`` (api.problems)."""

    def __init__(self, kind: str, record_id: int) -> None:
        super().__init__(f"No {kind} {record_id}.")
        self.kind = kind
        self.record_id = record_id


class CommitmentWithdrawnError(WriteRefusedError):
    """The commitment was withdrawn; no amendment, delivery or withdrawal is accepted (409).
    Same sentence as the contract's ``LedgerCommitmentWithdrawn`` (api.problems)."""

    def __init__(self, commitment_id: int) -> None:
        super().__init__(f"Commitment {commitment_id} is withdrawn: it accepts no amendment or delivery.")
        self.commitment_id = commitment_id


class AmendmentChangesNothingError(WriteRefusedError):
    """An amendment names a field with the value it already has (HTTP 409
    ``amendment-changes-nothing``). The contract checks target and due date itself
    (``LedgerAmendmentChangesNothing``); title and description are checked here against the
    index when it holds exactly the amendments the registrar saw.

    Attributes:
        commitment_id: the commitment.
        field: the API name of the field (``title``, ``description``, ``target_quantity``,
            ``due_date``).
    """

    def __init__(self, commitment_id: int, field: str) -> None:
        super().__init__(
            f"This amendment changes nothing: commitment {commitment_id} already has this {field.replace('_', ' ')}."
        )
        self.commitment_id = commitment_id
        self.field = field


class BatchItemError(WriteRefusedError):
    """One item of a batch was refused, so nothing of the batch is written. The problem is
    that of ``cause`` (any error this module or the contract raises for a single write) with
    the extension member ``index``.

    Attributes:
        index: the 0-based position of the refused item in the request.
        cause: the refusal of that item.
    """

    def __init__(self, index: int, cause: Exception) -> None:
        super().__init__(f"Item {index} of the batch was refused: {cause}")
        self.index = index
        self.cause = cause


class InputInvalidError(WriteRefusedError, ValueError):
    """Input refused before anything is stored or sent by a check the wire models cannot make
    alone: an empty evidence file, a hash given twice, a value repeated inside a batch, a due
    date not after the indexed promise date (HTTP 422 ``validation-error``).

    Attributes:
        errors: ``[{"loc", "msg", "type"}]`` as in a validation problem, e.g. ``{"loc":
            ["body", "evidence", 1], "msg": "evidence file b.pdf is empty", "type":
            "evidence_empty"}``.
    """

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(e["msg"] for e in errors))
        self.errors = errors


class ProblemRefusal(WriteRefusedError):
    """A refusal that names its own problem (``api.problems`` maps it by these attributes,
    never by its text): ``status`` and ``slug`` of the problem type, and
    :meth:`extensions`, the members carrying the offending values."""

    status: int = 422
    slug: str = "validation-error"
    headers: dict[str, str] = {}

    def extensions(self) -> dict[str, Any]:
        """Extension members of the problem (the offending values), JSON-ready."""
        return {}


class ParentInOtherMunicipalityError(ProblemRefusal, ValueError):
    """The parent commitment named by a registration belongs to another municipality (HTTP
    422 ``parent-in-other-municipality``, as the contract's ``LedgerParentInOtherMunicipality``)."""

    def __init__(self, parent_id: int, parent_municipality_id: int, municipality_id: int) -> None:
        super().__init__(
            f"Parent commitment {parent_id} belongs to municipality {parent_municipality_id}, not to municipality "
            f"{municipality_id}: a sub-commitment's parent is of its own municipality."
        )
        self.parent_id = parent_id
        self.parent_municipality_id = parent_municipality_id
        self.municipality_id = municipality_id

    status, slug = 422, "parent-in-other-municipality"

    def extensions(self) -> dict[str, Any]:
        return {"parent_id": self.parent_id, "parent_municipality_id": self.parent_municipality_id,
                "municipality_id": self.municipality_id}


class AssetAlreadyCountedError(ProblemRefusal):
    """The delivery's asset is already counted for the commitment by a delivery that is not
    revoked (HTTP 409 ``asset-already-counted``, as the contract's ``LedgerAssetAlreadyCounted``).

    Attributes:
        commitment_id: the commitment.
        asset_ref: the normalised asset ref.
        existing_delivery_id: the delivery counting it: a recorded delivery's id (int) or a
            batched delivery's leaf hash (``0x`` hex).
    """

    def __init__(self, commitment_id: int, asset_ref: str, existing_delivery_id: int | str) -> None:
        super().__init__(
            f"Asset “{asset_ref}” is already counted for commitment {commitment_id} by delivery "
            f"{existing_delivery_id}, which is not revoked: an asset counts once. Revoke that delivery first if it "
            "was wrong."
        )
        self.commitment_id = commitment_id
        self.asset_ref = asset_ref
        self.existing_delivery_id = existing_delivery_id

    status, slug = 409, "asset-already-counted"

    def extensions(self) -> dict[str, Any]:
        return {"commitment_id": self.commitment_id, "asset_ref": self.asset_ref,
                "existing_delivery_id": self.existing_delivery_id}


class EvidenceAlreadyCitedError(ProblemRefusal):
    """An evidence file is already cited on the ledger, by a delivery that is not revoked or
    as a commitment's source document (HTTP 409 ``evidence-already-cited``). The staff
    workspace refuses such a file before anything is stored or sent (the issue "The staff
    workspace": one file proves one delivery); the API does not, so a script may cite one
    published report for several deliveries on purpose.

    Attributes:
        sha256: the file's ``0x`` SHA-256.
        commitment_id: the commitment citing it.
        delivery_id: the delivery citing it (a recorded one's id, a batched one's leaf hash),
            or ``None`` when it is the commitment's source document.
    """

    def __init__(self, sha256: str, commitment_id: int, delivery_id: int | str | None) -> None:
        where = f"delivery {delivery_id} of commitment {commitment_id}" if delivery_id is not None else \
            f"the source document of commitment {commitment_id}"
        super().__init__(f"Evidence {sha256} is already cited on the ledger, as {where}: cite another file.")
        self.sha256 = sha256
        self.commitment_id = commitment_id
        self.delivery_id = delivery_id

    status, slug = 409, "evidence-already-cited"

    def extensions(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "commitment_id": self.commitment_id, "delivery_id": self.delivery_id}


def check_evidence_not_cited(session: Session, sha256s: Sequence[str]) -> None:
    """Refuse evidence already cited (:class:`EvidenceAlreadyCitedError`), by the index.

    Raises:
        EvidenceAlreadyCitedError: the first hash (in the order given) that a delivery not
            revoked, or a commitment as its source document, cites.
    """
    for sha256 in sha256s:
        found = repository.verify_hash(session, sha256)
        for cited in found.get("citations") or []:
            if not cited.get("revoked"):
                raise EvidenceAlreadyCitedError(found["sha256"], cited["commitment_id"], cited["delivery_id"])
        for source in found.get("source_of") or []:
            raise EvidenceAlreadyCitedError(found["sha256"], source["commitment_id"], None)


ResultBuilder = Callable[[TxResult, dict[str, Any]], dict[str, Any]]
"""(the receipt's :class:`TxResult`, the write's context JSON) → the route's 201 body."""

RESULTS: dict[str, ResultBuilder] = {}
"""Result builders by name (``ledger.outbox``: a journaled write names its builder, which
turns the receipt into today's 201 body once the write is confirmed)."""


def result_builder(name: str) -> Callable[[ResultBuilder], ResultBuilder]:
    """Register a function as the result builder ``name`` (see :data:`RESULTS`)."""

    def register(fn: ResultBuilder) -> ResultBuilder:
        RESULTS[name] = fn
        return fn

    return register


def build_result(name: str, tx: TxResult, context: dict[str, Any]) -> dict[str, Any]:
    """The 201 body of a confirmed write (builder ``name``).

    Raises:
        KeyError: no such builder.
    """
    return RESULTS[name](tx, context)


def delivery_key(value: str) -> int | str:
    """A delivery key of ``repository.taken_delivery_refs`` / ``counted_assets`` as the API
    names deliveries: a
    recorded delivery's id as an int, a batched one's leaf hash as text."""
    return int(value) if value.isdigit() else value


def tx_json(tx: TxResult) -> dict[str, Any]:
    """The API's ``TxResult``: ``{"tx_hash", "block_number", "gas_used"}``."""
    return {"tx_hash": tx.tx_hash, "block_number": tx.block_number, "gas_used": tx.gas_used}


def _bytes32(sha256: str | None) -> bytes:
    return ZERO_BYTES32 if sha256 is None else bytes.fromhex(sha256[2:])


def writable_commitment(
    session: Session, identity: StaffIdentity, commitment_id: int, now: int
) -> dict[str, Any] | None:
    """The indexed commitment, if this token may change it; ``None`` if the index does not
    have it (yet): then the contract decides (``LedgerUnknownCommitment`` → 404,
    ``LedgerNotRegistrar`` → 403, ``LedgerCommitmentWithdrawn`` → 409), so a write right after
    a registration does not wait for the indexer.

    Raises:
        StaffForbiddenError: it belongs to another municipality.
        CommitmentWithdrawnError: it is withdrawn.
    """
    commitment = repository.get_commitment(session, commitment_id, now)
    if commitment is None:
        return None
    identity.require_municipality(commitment["municipality_id"], f"commitment {commitment_id}")
    if commitment["withdrawn"]:
        raise CommitmentWithdrawnError(commitment_id)
    return commitment


def _commitment_input(identity: StaffIdentity, data: CommitmentIn) -> tuple[Any, ...]:
    """``CommitmentInput`` of the 2.1.0 ABI for the token's municipality."""
    return (
        identity.municipality_id,
        data.external_ref,
        data.title,
        data.description,
        data.theme,
        data.target_quantity,
        data.unit,
        data.promised_at,
        data.due_date,
        _bytes32(data.source_document_sha256),
        data.source_uri,
        data.parent_id or 0,
        data.chain_weight,
    )


def check_parent(session: Session | None, identity: StaffIdentity, parent_id: int | None) -> None:
    """Refuse a parent the index shows cannot take a part: of another municipality, or
    withdrawn. A parent the index does not have (yet) is left to the contract
    (``LedgerUnknownCommitment`` 404, ``LedgerParentInOtherMunicipality`` 422,
    ``LedgerCommitmentWithdrawn`` 409).

    Raises:
        ParentInOtherMunicipalityError: of another municipality (422).
        CommitmentWithdrawnError: the parent is withdrawn (409).
    """
    if parent_id is None or session is None:
        return
    parent = repository.commitment_states(session, [parent_id]).get(parent_id)
    if parent is None:
        return
    if parent["municipality_id"] != identity.municipality_id:
        raise ParentInOtherMunicipalityError(parent_id, parent["municipality_id"], identity.municipality_id)
    if parent["withdrawn"]:
        raise CommitmentWithdrawnError(parent_id)


def register_commitment(
    chain: LedgerChain, identity: StaffIdentity, data: CommitmentIn, session: Session | None = None
) -> dict[str, Any]:
    """Register a commitment for the token's municipality (a part of ``data.parent_id`` with
    ``data.chain_weight`` when it names a parent).

    Returns:
        ``{"commitment_id", "parent_id", "weight", "tx"}``.

    Raises:
        StaffRoleError: the token holds no registrar role (403).
        ParentInOtherMunicipalityError, CommitmentWithdrawnError: see :func:`check_parent`.
        ContractRevertError: e.g. ``LedgerDuplicateCommitmentRef`` (409), ``LedgerNotRegistrar``
            (403), ``LedgerPaused`` (503), ``LedgerInvalidPromiseDate`` (422),
            ``LedgerInvalidWeight`` / ``LedgerParentInOtherMunicipality`` (422).
        ChainUnavailableError, TransactionFailedError: see :meth:`LedgerChain.send`.
    """
    identity.require_role(REGISTRAR, "registering a commitment")
    check_parent(session, identity, data.parent_id)
    tx = chain.send("registerCommitment", [_commitment_input(identity, data)], identity.private_key,
                    result="commitment_registered")
    return _registered(tx, {})


@result_builder("commitment_registered")
def _registered(tx: TxResult, _context: dict[str, Any]) -> dict[str, Any]:
    event = tx.event("CommitmentRegistered")
    return {
        "commitment_id": event.args["commitment_id"],
        "parent_id": event.args["parent_id"] or None,
        "weight": event.args["weight"],
        "tx": tx_json(tx),
    }


def amend_commitment(
    chain: LedgerChain, session: Session, identity: StaffIdentity, commitment_id: int, data: AmendmentIn, now: int
) -> dict[str, Any]:
    """Amend the fields ``data`` names (``AmendmentInput.fields``), with the amendment count
    the registrar saw. Nothing is read from the index to fill in other fields.

    When the index holds the commitment with exactly ``expected_amendment_count`` amendments
    (so its terms are the ones the registrar saw), a named field equal to its current value is
    refused here (the contract refuses it only for target and due date), and so is a due date
    not after the promise date.

    Returns:
        ``{"commitment_id", "amendment_number", "tx"}``.

    Raises:
        StaffForbiddenError, CommitmentWithdrawnError: see :func:`writable_commitment`.
        AmendmentChangesNothingError: a named field already has that value (409).
        InputInvalidError: the due date is not after the indexed promise date (422).
        ContractRevertError: e.g. ``LedgerStaleAmendmentCount`` (409),
            ``LedgerAmendmentChangesNothing`` (409), ``LedgerUnknownCommitment`` (404),
            ``LedgerInvalidDueDate`` (422), ``LedgerPaused`` (503).
    """
    identity.require_role(REGISTRAR, "amending a commitment")
    current = writable_commitment(session, identity, commitment_id, now)
    if current is not None and current["amendment_count"] == data.expected_amendment_count:
        _check_amendment(current, data)
    struct = (
        data.expected_amendment_count,
        data.fields_bits,
        data.title or "",
        data.description or "",
        data.target_quantity or 0,
        data.due_date or 0,
        data.reason,
    )
    tx = chain.send("amendCommitment", [commitment_id, struct], identity.private_key, result="commitment_amended")
    return _amended(tx, {})


@result_builder("commitment_amended")
def _amended(tx: TxResult, _context: dict[str, Any]) -> dict[str, Any]:
    event = tx.event("CommitmentAmended")
    return {
        "commitment_id": event.args["commitment_id"],
        "amendment_number": event.args["amendment_number"],
        "tx": tx_json(tx),
    }


def _check_amendment(current: dict[str, Any], data: AmendmentIn) -> None:
    """Refuse, from the indexed current terms, a named field that would not change and a due
    date not after the promise date (see :func:`amend_commitment`)."""
    for name in data.fields:
        value = getattr(data, name)
        now_value = int(current[name]) if name in ("target_quantity", "due_date") else current[name]
        if value == now_value:
            raise AmendmentChangesNothingError(current["id"], name)
    if data.due_date is not None and data.due_date <= current["promised_at"]:
        raise InputInvalidError([{
            "loc": ["body", "due_date"],
            "msg": f"due_date {data.due_date} is not after the promise date {current['promised_at']} "
            f"({current['promised_at_iso']}): a deadline comes after the promise",
            "type": "due_date_before_promise",
        }])


def withdraw_commitment(
    chain: LedgerChain, session: Session, identity: StaffIdentity, commitment_id: int, reason: str, now: int
) -> dict[str, Any]:
    """Withdraw a commitment with a reason.

    Returns:
        ``{"commitment_id", "tx"}``.

    Raises:
        StaffForbiddenError, CommitmentWithdrawnError: see :func:`writable_commitment`.
        ContractRevertError: the contract refused (e.g. ``LedgerUnknownCommitment``).
    """
    identity.require_role(REGISTRAR, "withdrawing a commitment")
    writable_commitment(session, identity, commitment_id, now)
    tx = chain.send("withdrawCommitment", [commitment_id, reason], identity.private_key, result="commitment_withdrawn")
    return _withdrawn(tx, {})


@result_builder("commitment_withdrawn")
def _withdrawn(tx: TxResult, _context: dict[str, Any]) -> dict[str, Any]:
    return {"commitment_id": tx.event("CommitmentWithdrawn").args["commitment_id"], "tx": tx_json(tx)}


def _hash_uploads(uploads: Sequence[UploadFile], max_evidence_bytes: int) -> tuple[list[tuple[list[Any], str, str]], list[dict[str, Any]]]:
    """Hash uploaded evidence files (nothing is stored): ``([(loc, label, sha256)] in upload
    order, errors for empty files)``, ``loc`` = ``["body", "evidence", i]``.

    Raises:
        EvidenceTooLargeError: a file exceeds ``max_evidence_bytes`` (HTTP 413).
    """
    for upload in uploads:
        if upload.size is not None and upload.size > max_evidence_bytes:
            raise EvidenceTooLargeError(upload.size, max_evidence_bytes)
    errors: list[dict[str, Any]] = []
    items: list[tuple[list[Any], str, str]] = []
    for i, upload in enumerate(uploads):
        upload.file.seek(0)
        sha256, size = hash_stream(upload.file, max_evidence_bytes)
        upload.file.seek(0)
        label = f"evidence file {upload.filename}" if upload.filename else f"evidence file number {i + 1} (no name)"
        if size == 0:
            errors.append({"loc": ["body", "evidence", i], "msg": f"{label} is empty", "type": "evidence_empty"})
        items.append((["body", "evidence", i], label, sha256))
    return items, errors


def check_evidence(form: DeliveryForm, max_evidence_bytes: int) -> list[str]:
    """Hash the uploaded files (nothing is stored) and check the delivery's evidence list.

    Returns:
        The files' hashes in upload order.

    Raises:
        EvidenceTooLargeError: a file exceeds ``max_evidence_bytes`` (HTTP 413).
        InputInvalidError: a file is empty, or a hash occurs twice among the files and
            ``evidence_sha256`` (same file uploaded twice, a hash given twice, a file whose
            hash is also given); every such problem is listed (HTTP 422).
    """
    items, errors = _hash_uploads(form.evidence, max_evidence_bytes)
    items = list(items)  # (loc, label, sha256) in chain order
    for j, sha256 in enumerate(form.evidence_sha256):
        items.append((["body", "evidence_sha256", j], f"evidence_sha256 {sha256}", sha256))
    first: dict[str, tuple[list[Any], str]] = {}
    for loc, label, sha256 in items:
        if sha256 not in first:
            first[sha256] = (loc, label)
            continue
        earlier = first[sha256][1]
        if loc[1] == "evidence" and earlier.startswith("evidence file"):
            msg = f"{label} has the same content as {earlier} (SHA-256 {sha256}); cite each document once"
        elif earlier.startswith("evidence file"):
            msg = f"{label} is the SHA-256 of {earlier}; cite each document once"
        else:
            msg = f"{label} is given twice; cite each document once"
        errors.append({"loc": loc, "msg": msg, "type": "evidence_duplicate"})
    if errors:
        raise InputInvalidError(errors)
    return [sha256 for loc, _label, sha256 in items if loc[1] == "evidence"]


def check_batch_evidence(uploads: Sequence[UploadFile], data: DeliveryBatchIn, max_evidence_bytes: int) -> list[str]:
    """Hash the files of a delivery batch (nothing is stored) and check them against its items:
    no file empty, no file twice, and every file cited by at least one item's
    ``evidence_sha256`` (a file may serve several items; a cited hash without a file is a
    document published elsewhere).

    Returns:
        The files' hashes in upload order.

    Raises:
        EvidenceTooLargeError: a file exceeds ``max_evidence_bytes`` (HTTP 413).
        InputInvalidError: every empty, repeated or uncited file, ``loc`` ``["body",
            "evidence", i]`` (HTTP 422).
    """
    cited = {sha256 for d in data.deliveries for sha256 in d.evidence_sha256}
    return check_batch_evidence_hashes(uploads, cited, max_evidence_bytes, field="evidence_sha256")


def check_batch_evidence_hashes(
    uploads: Sequence[UploadFile], cited: set[str], max_evidence_bytes: int, *, field: str = "evidence_hashes"
) -> list[str]:
    """:func:`check_batch_evidence` against the set of hashes the items cite (``field`` names
    the items' evidence list in the messages).

    Raises:
        EvidenceTooLargeError, InputInvalidError: as :func:`check_batch_evidence`.
    """
    items, errors = _hash_uploads(uploads, max_evidence_bytes)
    first: dict[str, str] = {}
    for loc, label, sha256 in items:
        if sha256 in first:
            errors.append({"loc": loc, "msg": f"{label} has the same content as {first[sha256]} (SHA-256 {sha256}); "
                           "send each document once", "type": "evidence_duplicate"})
            continue
        first[sha256] = label
        if sha256 not in cited:
            errors.append({"loc": loc, "msg": f"{label} (SHA-256 {sha256}) is cited by no delivery of the batch; "
                           f"list its hash in the {field} of the deliveries it proves", "type": "evidence_uncited"})
    if errors:
        errors.sort(key=lambda e: e["loc"][2])
        raise InputInvalidError(errors)
    return [sha256 for _loc, _label, sha256 in items]


def _may_be_mined(exc: BaseException) -> bool:
    """Whether a failure of :meth:`LedgerChain.send` leaves the transaction's fate unknown: it
    was sent but no receipt came (``TransactionFailedError`` from the receipt timeout), the
    node was lost after the transaction was handed to it (``ChainUnavailableError`` of
    ``eth_sendRawTransaction`` or of the receipt), or the send was interrupted. A refusal
    (``ContractRevertError`` from the gas estimate), a reverted transaction or a node that
    could not be reached before sending mean nothing is or will be recorded."""
    if not isinstance(exc, Exception):
        return True
    if isinstance(exc, WriteJournaled):  # journaled: the outbox owes it to the chain
        return True
    if isinstance(exc, TransactionFailedError):
        return isinstance(exc.__cause__, TimeExhausted)
    if isinstance(exc, ChainUnavailableError):
        return exc.reason.startswith(("eth_sendRawTransaction", "receipt"))
    return False


def record_delivery(
    chain: LedgerChain,
    session: Session,
    store: EvidenceStore,
    identity: StaffIdentity,
    commitment_id: int,
    form: DeliveryForm,
    now: int,
    *,
    max_evidence_bytes: int,
) -> dict[str, Any]:
    """Check the evidence, stage the files, record the delivery on chain, then settle the
    files: promoted into the store when the delivery is recorded or its outcome is unknown
    (:func:`_may_be_mined`), discarded when it is refused (see the module docstring).

    Evidence order: the uploaded files' hashes in upload order, then ``evidence_sha256``.
    Every file is hashed and checked (:func:`check_evidence`) before any is staged.

    Returns:
        ``{"delivery_id", "commitment_id", "evidence_sha256", "tx"}``.

    Raises:
        EvidenceTooLargeError, InputInvalidError: see :func:`check_evidence` (nothing
            staged).
        StaffForbiddenError, CommitmentWithdrawnError: see :func:`writable_commitment`
            (nothing staged).
        ContractRevertError: e.g. ``LedgerDuplicateDeliveryRef`` (409); the staged files
            are discarded.
        ChainUnavailableError, TransactionFailedError: see :meth:`LedgerChain.send`; the
            staged files are discarded, or promoted when the transaction may be mined.
        LedgerError: an upload changed between hashing and staging (staged files
            discarded, nothing sent).
    """
    identity.require_role(REGISTRAR, "recording a delivery")
    file_hashes = check_evidence(form, max_evidence_bytes)
    writable_commitment(session, identity, commitment_id, now)
    check_asset(session, commitment_id, form.asset_ref)
    hashes = file_hashes + list(form.evidence_sha256)
    tx = send_with_evidence(
        store, form.evidence, file_hashes, max_evidence_bytes,
        lambda: chain.send("recordDelivery", [commitment_id, _delivery_input(form, hashes)], identity.private_key,
                           result="delivery_recorded", evidence=hashes),
        what=f"delivery on commitment {commitment_id}",
    )
    return _delivery_recorded(tx, {})


@result_builder("delivery_recorded")
def _delivery_recorded(tx: TxResult, _context: dict[str, Any]) -> dict[str, Any]:
    event = tx.event("DeliveryRecorded")
    return {
        "delivery_id": event.args["delivery_id"],
        "commitment_id": event.args["commitment_id"],
        "evidence_sha256": list(event.args["evidence_hashes"]),
        "asset_ref": event.args["asset_ref"],
        "tx": tx_json(tx),
    }


def check_asset(session: Session, commitment_id: int, asset_ref: str) -> None:
    """Refuse a delivery whose (normalised) asset the index shows is already counted for the
    commitment, by a recorded delivery or a batched one (which the contract cannot see).

    Raises:
        AssetAlreadyCountedError: 409.
    """
    if not asset_ref:
        return
    existing = repository.counted_assets(session, [commitment_id]).get((commitment_id, asset_ref))
    if existing is not None:
        raise AssetAlreadyCountedError(commitment_id, asset_ref, delivery_key(existing))


def send_with_evidence(
    store: EvidenceStore,
    uploads: Sequence[UploadFile],
    file_hashes: Sequence[str],
    max_evidence_bytes: int,
    send: Callable[[], TxResult],
    *,
    what: str,
) -> TxResult:
    """Stage the checked evidence files, send the transaction, then settle the files: promoted
    into the store when it is recorded or its outcome is unknown (:func:`_may_be_mined`),
    discarded otherwise (see the module docstring). The one staging path of every write that
    carries files (:func:`record_delivery`, :func:`record_deliveries`).

    Args:
        store: the evidence store.
        uploads: the files, already checked (:func:`check_evidence`,
            :func:`check_batch_evidence`).
        file_hashes: their hashes from that check, in the same order.
        max_evidence_bytes: per-file limit.
        send: sends the transaction and returns its result (raises as :meth:`LedgerChain.send`).
        what: the write, for the log ("delivery on commitment 3").

    Raises:
        whatever ``send`` raises, after the files are settled; LedgerError: an upload changed
        between hashing and staging (staged files discarded, nothing sent).
    """
    staged: list[StagedFile] = []
    sending = False
    try:
        for upload, sha256 in zip(uploads, file_hashes):
            upload.file.seek(0)
            staged.append(store.stage(upload.file, max_evidence_bytes, upload.content_type))
            if staged[-1].sha256 != sha256:
                raise LedgerError(f"Evidence file {upload.filename} changed while it was stored.")
        sending = True
        tx = send()
    except BaseException as exc:
        if sending and _may_be_mined(exc):
            if not isinstance(exc, WriteJournaled):  # journaled is the normal path: the outbox owes it
                logger.warning("%s: outcome unknown, its evidence files are stored", what)
            _settle(store, staged, promote=True)
        else:
            _settle(store, staged, promote=False)
        raise
    _settle(store, staged, promote=True)
    return tx


def _settle(store: EvidenceStore, staged: list[StagedFile], *, promote: bool) -> None:
    """Promote or discard a delivery's staged files. Never raises: the write's own result or
    error is what the caller reports; a file that could not be settled stays staged and is
    promoted by the next start-up (:meth:`EvidenceStore.promote_leftovers`)."""
    for file in staged:
        try:
            if promote:
                store.promote(file)
            else:
                store.discard(file)
        except Exception:  # noqa: BLE001
            logger.error("evidence %s staged at %s could not be %s", file.sha256, file.path,
                         "promoted" if promote else "discarded", exc_info=True)


def revoke_delivery(
    chain: LedgerChain, session: Session, identity: StaffIdentity, delivery_id: int, reason: str, now: int
) -> dict[str, Any]:
    """Revoke a delivery with a reason (allowed after withdrawal).

    The delivery id names its commitment (``commitment_id * 1_000_000 + n``): when the index
    has that commitment and it belongs to another municipality, 403 before anything is sent.
    Otherwise the contract decides: ``LedgerNotRegistrar`` (403), ``LedgerUnknownDelivery``
    (404), ``LedgerDeliveryAlreadyRevoked`` (409), ``LedgerPaused`` (503).

    Returns:
        ``{"delivery_id", "commitment_id", "tx"}``.

    Raises:
        StaffForbiddenError: the indexed commitment belongs to another municipality.
        ContractRevertError: see above.
    """
    identity.require_role(REGISTRAR, "revoking a delivery")
    commitment = repository.commitment_states(session, [delivery_commitment_id(delivery_id)]).get(
        delivery_commitment_id(delivery_id)
    )
    if commitment is not None:
        identity.require_municipality(commitment["municipality_id"], f"delivery {delivery_id}")
    tx = chain.send("revokeDelivery", [delivery_id, reason], identity.private_key, result="delivery_revoked")
    return _delivery_revoked(tx, {})


@result_builder("delivery_revoked")
def _delivery_revoked(tx: TxResult, _context: dict[str, Any]) -> dict[str, Any]:
    event = tx.event("DeliveryRevoked")
    return {"delivery_id": event.args["delivery_id"], "commitment_id": event.args["commitment_id"], "tx": tx_json(tx)}


# ------------------------------------------------------------------ batches


def _repeats(values: Sequence[Any], loc: Callable[[int], list[Any]], what: Callable[[int, int], str]) -> list[dict[str, Any]]:
    """Validation errors for every value (not None) that repeats an earlier one."""
    first: dict[Any, int] = {}
    errors = []
    for i, value in enumerate(values):
        if value is None:
            continue
        if value in first:
            errors.append({"loc": loc(i), "msg": what(i, first[value]), "type": "batch_repeat"})
        else:
            first[value] = i
    return errors


def register_commitments(
    chain: LedgerChain, identity: StaffIdentity, data: CommitmentBatchIn, session: Session | None = None
) -> dict[str, Any]:
    """Register every commitment of the batch in one transaction (``multicall``), all or
    nothing, for the token's municipality.

    Returns:
        ``{"commitment_ids": [...] (in item order), "tx"}``.

    Raises:
        InputInvalidError: an ``external_ref`` repeats an earlier item's (422; ``loc`` =
            ``["body", "commitments", i, "external_ref"]``); nothing sent.
        BatchItemError: the contract refused item ``index`` (e.g. ``LedgerDuplicateCommitmentRef``).
        ContractRevertError: a refusal of the whole batch (``LedgerPaused``: 503).
        ChainUnavailableError, TransactionFailedError: see :meth:`LedgerChain.send`.
    """
    identity.require_role(REGISTRAR, "registering commitments")
    items = data.commitments
    errors = _repeats(
        [c.external_ref for c in items],
        lambda i: ["body", "commitments", i, "external_ref"],
        lambda i, j: f"external_ref of commitments[{i}] repeats commitments[{j}]: each commitment needs its own",
    )
    if errors:
        raise InputInvalidError(errors)
    for i, c in enumerate(items):
        try:
            check_parent(session, identity, c.parent_id)
        except LedgerError as exc:
            raise BatchItemError(i, exc) from exc
    calls = [("registerCommitment", [_commitment_input(identity, c)]) for c in items]
    try:
        tx = chain.send_multicall(calls, identity.private_key, result="commitments_registered")
    except ContractRevertError as exc:
        index = refused_item(exc, items)
        if index is None:
            raise
        raise BatchItemError(index, exc) from exc
    return _commitments_registered(tx, {})


@result_builder("commitments_registered")
def _commitments_registered(tx: TxResult, _context: dict[str, Any]) -> dict[str, Any]:
    ids = [e.args["commitment_id"] for e in tx.events if e.name == "CommitmentRegistered"]
    return {"commitment_ids": ids, "tx": tx_json(tx)}


def record_deliveries(
    chain: LedgerChain,
    session: Session,
    identity: StaffIdentity,
    data: DeliveryBatchIn,
    now: int,
    *,
    store: EvidenceStore | None = None,
    files: Sequence[UploadFile] = (),
    max_evidence_bytes: int = 0,
) -> dict[str, Any]:
    """Record every delivery of the batch in one transaction (``multicall``), all or nothing.

    Evidence is cited by hash (``evidence_sha256`` of each item). ``files`` (the multipart
    form) are evidence documents of the batch, each cited by at least one item: checked first
    (:func:`check_batch_evidence`), after the items' own checks, then staged and settled as a
    single delivery's files (:func:`send_with_evidence`): stored when the batch is recorded
    or its outcome is unknown, discarded when it is refused.

    Returns:
        ``{"delivery_ids": [...] (in item order), "tx"}``.

    Raises:
        InputInvalidError: a hash repeats within an item, or (``commitment_id``,
            ``external_ref``) repeats an earlier item (422, ``loc`` naming the item), or a file
            is empty, repeated or cited by no item (``loc`` ``["body", "evidence", i]``);
            nothing staged, nothing sent.
        EvidenceTooLargeError: a file exceeds ``max_evidence_bytes`` (413).
        BatchItemError: item ``index`` is refused by the index's checks
            (:func:`writable_commitment`: 403, 409) or by the contract.
        ContractRevertError: a refusal of the whole batch (``LedgerPaused``: 503).
        ChainUnavailableError, TransactionFailedError: see :meth:`LedgerChain.send`.
    """
    identity.require_role(REGISTRAR, "recording deliveries")
    items = data.deliveries
    errors = []
    for i, d in enumerate(items):
        errors += _repeats(
            d.evidence_sha256,
            lambda j, i=i: ["body", "deliveries", i, "evidence_sha256", j],
            lambda j, k, i=i: f"evidence_sha256[{j}] of deliveries[{i}] repeats evidence_sha256[{k}]: cite each document once",
        )
    errors += _repeats(
        [(d.commitment_id, d.external_ref) if d.external_ref else None for d in items],
        lambda i: ["body", "deliveries", i, "external_ref"],
        lambda i, j: f"external_ref of deliveries[{i}] repeats deliveries[{j}] on the same commitment",
    )
    errors += _repeats(
        [(d.commitment_id, d.asset_ref) if d.asset_ref else None for d in items],
        lambda i: ["body", "deliveries", i, "asset_ref"],
        lambda i, j: f"asset_ref of deliveries[{i}] repeats deliveries[{j}] on the same commitment: an asset counts once",
    )
    if errors:
        errors.sort(key=lambda e: e["loc"][2])
        raise InputInvalidError(errors)
    file_hashes = check_batch_evidence(files, data, max_evidence_bytes) if files else []
    municipalities: dict[int, int] = {}  # indexed commitment id -> municipality id
    checked: set[int] = set()
    for i, d in enumerate(items):
        if d.commitment_id in checked:
            continue
        try:
            commitment = writable_commitment(session, identity, d.commitment_id, now)
        except LedgerError as exc:
            raise BatchItemError(i, exc) from exc
        checked.add(d.commitment_id)
        if commitment is not None:
            municipalities[d.commitment_id] = commitment["municipality_id"]
    assets = repository.counted_assets(session, [d.commitment_id for d in items if d.asset_ref])
    for i, d in enumerate(items):
        existing = assets.get((d.commitment_id, d.asset_ref)) if d.asset_ref else None
        if existing is not None:
            raise BatchItemError(i, AssetAlreadyCountedError(d.commitment_id, d.asset_ref, delivery_key(existing)))
    calls = [("recordDelivery", [d.commitment_id, _delivery_input(d, d.evidence_sha256)]) for d in items]
    cited = list(dict.fromkeys(h for d in items for h in d.evidence_sha256))
    try:
        if files:
            assert store is not None, "a batch with files needs the evidence store"
            tx = send_with_evidence(store, files, file_hashes, max_evidence_bytes,
                                    lambda: chain.send_multicall(calls, identity.private_key,
                                                                 result="deliveries_recorded", evidence=cited),
                                    what=f"batch of {len(items)} deliveries")
        else:
            tx = chain.send_multicall(calls, identity.private_key, result="deliveries_recorded", evidence=cited)
    except ContractRevertError as exc:
        index = refused_item(exc, items, municipalities=municipalities)
        if index is None:
            raise
        raise BatchItemError(index, exc) from exc
    return _deliveries_recorded(tx, {})


@result_builder("deliveries_recorded")
def _deliveries_recorded(tx: TxResult, _context: dict[str, Any]) -> dict[str, Any]:
    ids = [e.args["delivery_id"] for e in tx.events if e.name == "DeliveryRecorded"]
    return {"delivery_ids": ids, "tx": tx_json(tx)}


def _delivery_input(d: DeliveryForm | DeliveryIn, hashes: Sequence[str]) -> tuple[Any, ...]:
    """``DeliveryInput`` of the 2.1.0 ABI."""
    return (d.quantity, d.delivered_at, [_bytes32(h) for h in hashes], d.evidence_uri, d.note, d.external_ref,
            d.asset_ref)


def _byte_length(value: Any) -> int:
    return len(str(value).encode("utf-8"))


_ITEM_MATCHERS: dict[str, Callable[[Any, dict[str, Any], dict[int, int]], bool]] = {
    # registrations
    "LedgerDuplicateCommitmentRef": lambda c, a, m: getattr(c, "external_ref", None) == a["external_ref"],
    "LedgerInvalidPromiseDate": lambda c, a, m: getattr(c, "promised_at", None) == a["promised_at"],
    "LedgerInvalidDueDate": lambda c, a, m: (getattr(c, "due_date", None), getattr(c, "promised_at", None))
    == (a["due_date"], a["promised_at"]),
    # deliveries
    "LedgerUnknownCommitment": lambda d, a, m: getattr(d, "commitment_id", getattr(d, "parent_id", None))
    == a["commitment_id"],
    "LedgerCommitmentWithdrawn": lambda d, a, m: getattr(d, "commitment_id", getattr(d, "parent_id", None))
    == a["commitment_id"],
    "LedgerTooManyDeliveries": lambda d, a, m: getattr(d, "commitment_id", None) == a["commitment_id"],
    "LedgerDuplicateDeliveryRef": lambda d, a, m: (getattr(d, "commitment_id", None), getattr(d, "external_ref", None))
    == (a["commitment_id"], a["external_ref"]),
    "LedgerInvalidDeliveryDate": lambda d, a, m: getattr(d, "delivered_at", None) == a["delivered_at"],
    "LedgerInvalidEvidenceCount": lambda d, a, m: len(getattr(d, "evidence_sha256", ())) == a["count"],
    "LedgerDuplicateEvidenceHash": lambda d, a, m: list(getattr(d, "evidence_sha256", ())).count(a["evidence_hash"]) > 1,
    "LedgerAssetAlreadyCounted": lambda d, a, m: (getattr(d, "commitment_id", None), getattr(d, "asset_ref", None))
    == (a["commitment_id"], a["asset_ref"]),
    # registrations (2.1.0)
    "LedgerInvalidWeight": lambda c, a, m: ((getattr(c, "parent_id", None) or 0), getattr(c, "chain_weight", None))
    == (a["parent_id"], a["weight"]),
    "LedgerParentInOtherMunicipality": lambda c, a, m: getattr(c, "parent_id", None) == a["parent_id"],
    # both
    "LedgerInvalidQuantity": lambda x, a, m: getattr(x, "target_quantity", getattr(x, "quantity", None)) == a["quantity"],
    "LedgerTextTooLong": lambda x, a, m: _byte_length(getattr(x, snake(str(a["field"])), "")) == a["length"],
    "LedgerEmptyText": lambda x, a, m: getattr(x, snake(str(a["field"])), None) == "",
    "LedgerNotRegistrar": lambda x, a, m: not hasattr(x, "commitment_id")
    or m.get(x.commitment_id, a["municipality_id"]) == a["municipality_id"],
}
"""Per custom error that an item of a batch can cause: does this item carry the values it
names? (``m``: indexed commitment id → municipality id.)"""


def refused_item(exc: ContractRevertError, items: Sequence[Any], *, municipalities: dict[int, int] | None = None) -> int | None:
    """The 0-based index of the batch item a contract refusal is about: ``multicall`` runs the
    items in order and bubbles up the first refusal, so it is the first item carrying the values
    the custom error names (:data:`_ITEM_MATCHERS`). ``None`` for a refusal of the whole batch
    (``LedgerPaused``) or one that names no item's values."""
    match = _ITEM_MATCHERS.get(exc.name)
    if match is None:
        return None
    for i, item in enumerate(items):
        try:
            if match(item, dict(exc.args_by_name), municipalities or {}):
                return i
        except (KeyError, TypeError):
            logger.warning("contract error %s with unexpected arguments %r", exc.name, exc.args_by_name)
            return None
    return None
