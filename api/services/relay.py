"""Relayed writes: a registrar or confirmer signs EIP-712 typed data elsewhere (a wallet,
ethers, ``ledger.signing``), the API's relayer submits the ``...BySig`` call and pays its gas;
the record names the signer (docs/LEDGER.md "Signed writes").

Before anything is sent the payload is checked off chain, in this order, each failure its own
problem (the contract's problem type where it has one, so a client sees one type whether the
API or the chain refused):

1. it reads as a signed write (``ledger.signing.SignedWrite.from_json``: known operation,
   every field of its primary type, ``authorization.nonce``/``deadline`` equal to the
   message's): else 422 ``validation-error`` naming the field;
2. the signature recovers to ``authorization.signer`` over the typed data of *this* chain and
   ledger (``ledger.signing.recover``): else 422 ``invalid-signature`` (with ``signer`` and
   the ``recovered`` account; 65-byte EOA signatures only: a contract wallet's ERC-1271
   signature cannot be checked off chain and is refused here);
3. the deadline has not passed: ``deadline`` >= the later of the request time and the head
   block's time, else 422 ``signature-expired`` (``signer``, ``deadline``, ``block_time``);
4. the nonce is the signer's next one (the contract's ``nonces(signer)``): else 409
   ``invalid-nonce`` (``signer``, ``nonce``, ``expected_nonce``; a lower one was used before);
5. what the index can tell, as for the API's own writes: a ``recordDelivery`` whose asset is
   already counted (409 ``asset-already-counted``) or not in normalised form (422: sign
   ``ledger.merkle.normalise_asset_ref``'s form, the one readers compare); a
   ``registerCommitment`` or ``recordDelivery`` whose ``externalRef`` is not in NFC (422
   ``external_ref_not_normalised``: the API's own writes take refs in NFC,
   ``ledger.limits.normalise_external_ref``, and a signed ref cannot be changed here).

For the batched operations the message names ``root`` and ``leafHash`` only; the leaf's values
and its proof come from the stored batch file (:func:`api.services.batches.stored_leaf`). A
relayed ``anchorBatch`` is sent whether or not this server holds the file it names (the signer
may publish it elsewhere): until the file is stored here (``POST /staff/batches/file``) the
indexer reports the batch ``missing`` and counts none of its leaves. The
relayer is the token file's ``relayer`` (``ledger.staff``); without one, 503
``relay-unavailable``. The contract then checks everything again, and its refusals map as for
every write (``LedgerNotRegistrar`` 403, ...).
"""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy.orm import Session

from api.services import batches
from api.services.ledger_writes import InputInvalidError, ProblemRefusal, check_asset, result_builder, tx_json
from ledger import signing
from ledger.chain import LedgerChain, TxResult
from ledger.deployment import Deployment
from ledger.evidence import EvidenceStore
from ledger.limits import normalise_external_ref
from ledger.staff import RelayerIdentity

EVENTS: Mapping[str, str] = {
    "registerCommitment": "CommitmentRegistered",
    "amendCommitment": "CommitmentAmended",
    "withdrawCommitment": "CommitmentWithdrawn",
    "recordDelivery": "DeliveryRecorded",
    "revokeDelivery": "DeliveryRevoked",
    "anchorBatch": "BatchAnchored",
    "revokeBatchedDelivery": "BatchedDeliveryRevoked",
    "confirmDelivery": "DeliveryConfirmed",
    "disputeDelivery": "DeliveryDisputed",
    "confirmBatchedDelivery": "BatchedDeliveryConfirmed",
    "disputeBatchedDelivery": "BatchedDeliveryDisputed",
}
"""The event each relayed operation emits (the record returned)."""

DEFAULT_DEADLINE_SECONDS = 3600
"""Deadline of a typed-data skeleton (:func:`typed_data_skeleton`): this long after the request, seconds."""


class RelayUnavailableError(ProblemRefusal):
    """This server has no relayer key (HTTP 503 ``relay-unavailable``)."""

    status, slug = 503, "relay-unavailable"

    def __init__(self) -> None:
        super().__init__(
            "This server has no relayer key, so it relays no signed writes. Submit the ...BySig call yourself, "
            "or ask the operator to set one (python -m scripts.admin keys set-relayer)."
        )


class InvalidSignatureError(ProblemRefusal):
    """The signature does not recover to the named signer over this typed data (HTTP 422
    ``invalid-signature``, as the contract's ``LedgerInvalidSignature``).

    Attributes:
        signer: the account named in the authorization.
        recovered: the account the signature recovers to, or ``None`` if it recovers none.
    """

    status, slug = 422, "invalid-signature"

    def __init__(self, signer: str, recovered: str | None, reason: str | None = None) -> None:
        if recovered is None:
            text = f"The signature is not {signer}'s: {reason}"
        else:
            text = (f"The signature is not {signer}'s over this write on this chain and ledger: it was made by "
                    f"{recovered} or over other data (another chain, contract or any changed field gives another "
                    "digest). Sign the typed data of GET /relay/typed-data.")
        super().__init__(text)
        self.signer = signer
        self.recovered = recovered

    def extensions(self) -> dict[str, Any]:
        return {"signer": self.signer, "recovered": self.recovered}


class SignatureExpiredError(ProblemRefusal):
    """The deadline has passed (HTTP 422 ``signature-expired``, as ``LedgerSignatureExpired``)."""

    status, slug = 422, "signature-expired"

    def __init__(self, signer: str, deadline: int, block_time: int) -> None:
        from api.problems import CONTRACT_MESSAGES  # one sentence for the API's and the contract's refusal

        super().__init__(CONTRACT_MESSAGES["LedgerSignatureExpired"](
            {"signer": signer, "deadline": deadline, "block_time": block_time}))
        self.signer, self.deadline, self.block_time = signer, deadline, block_time

    def extensions(self) -> dict[str, Any]:
        return {"signer": self.signer, "deadline": self.deadline, "block_time": self.block_time}


class InvalidNonceError(ProblemRefusal):
    """The nonce is not the signer's next one (HTTP 409 ``invalid-nonce``, as ``LedgerInvalidNonce``)."""

    status, slug = 409, "invalid-nonce"

    def __init__(self, signer: str, nonce: int, expected: int) -> None:
        from api.problems import nonce_message

        super().__init__(nonce_message(signer, nonce, expected))
        self.signer, self.nonce, self.expected = signer, nonce, expected

    def extensions(self) -> dict[str, Any]:
        return {"signer": self.signer, "nonce": self.nonce, "expected_nonce": self.expected}


def _invalid(field: str | None, message: str, type_: str) -> InputInvalidError:
    loc: list[Any] = ["body", "message", field] if field else ["body"]
    if field and field.startswith("authorization."):
        loc = ["body", "authorization", field.split(".", 1)[1]]
    return InputInvalidError([{"loc": loc, "msg": message, "type": type_}])


def read_signed_write(payload: Mapping[str, Any]) -> signing.SignedWrite:
    """The signed write of a relay body (``{"operation", "message", "authorization"}``).

    Raises:
        InputInvalidError: it does not fit the operation's typed data (422, ``loc`` naming the
            message field or the authorization member).
        InvalidSignatureError: the signature is not ``0x`` hex.
    """
    try:
        return signing.SignedWrite.from_json(payload)
    except signing.SignatureFormatError as exc:
        raise InvalidSignatureError(str(payload["authorization"].get("signer")), None, str(exc)) from exc
    except signing.TypedDataError as exc:
        field = exc.field if exc.field and exc.field != "operation" else None
        if exc.field is None and exc.operation not in signing.OPERATIONS:
            raise InputInvalidError([{"loc": ["body", "operation"], "msg": str(exc), "type": "unknown_operation"}]) from exc
        raise _invalid(field, str(exc), "typed_data") from exc


def check_signed_write(
    chain: LedgerChain, deployment: Deployment, write: signing.SignedWrite, now: int
) -> None:
    """The off-chain checks 2–4 of the module docstring (signature, deadline, nonce).

    Raises:
        InvalidSignatureError, SignatureExpiredError, InvalidNonceError: see above.
        ChainUnavailableError: the chain cannot be read (nonce, head block).
    """
    data = write.typed_data(chain_id=deployment.chain_id, contract=deployment.contract_address)
    try:
        recovered = signing.recover(data, write.signature)
    except signing.SignatureFormatError as exc:
        raise InvalidSignatureError(write.signer, None, str(exc)) from exc
    if recovered != write.signer:
        raise InvalidSignatureError(write.signer, recovered)
    deadline = int(write.message["deadline"])
    if deadline < now:
        raise SignatureExpiredError(write.signer, deadline, now)
    head = chain.block(chain.head_block_number())
    if head is not None and deadline < head.timestamp:
        raise SignatureExpiredError(write.signer, deadline, head.timestamp)
    expected = int(chain.call("nonces", write.signer))
    nonce = int(write.message["nonce"])
    if nonce != expected:
        raise InvalidNonceError(write.signer, nonce, expected)


def _check_record(session: Session, write: signing.SignedWrite) -> None:
    """Check 5 of the module docstring."""
    if write.operation in ("registerCommitment", "recordDelivery"):
        ref = str(write.message["externalRef"])
        if ref != normalise_external_ref(ref):
            raise _invalid("externalRef", f"externalRef {ref!r} is not in NFC {normalise_external_ref(ref)!r}: sign the "
                           "NFC form, the one the API's own writes send", "external_ref_not_normalised")
    if write.operation != "recordDelivery":
        return
    from ledger.merkle import normalise_asset_ref

    asset = str(write.message["assetRef"])
    if asset != normalise_asset_ref(asset):
        raise _invalid("assetRef", f"assetRef {asset!r} is not in normalised form {normalise_asset_ref(asset)!r}: sign "
                       "the normalised form (NFC, trimmed, inner whitespace runs one space), the one readers compare",
                       "asset_ref_not_normalised")
    check_asset(session, int(write.message["commitmentId"]), asset)


def _json_record(args: Mapping[str, Any]) -> dict[str, Any]:
    """An event's arguments for JSON: quantities as decimal strings (docs/API.md)."""
    return {k: str(v) if "quantity" in k and isinstance(v, int) else v for k, v in args.items()}


def relay(
    chain: LedgerChain,
    session: Session,
    store: EvidenceStore,
    deployment: Deployment,
    relayer: RelayerIdentity | None,
    payload: Mapping[str, Any],
    now: int,
) -> dict[str, Any]:
    """Check a signed write off chain and submit it from the relayer's key.

    Args:
        payload: ``{"operation", "message", "authorization"}`` (``ledger.signing`` JSON).
        now: the request time, Unix seconds.

    Returns:
        ``{"operation", "signer", "relayer", "event", "record", "tx"}``: ``record`` holds
        the arguments of the event the write emitted (the signer as ``registrar`` /
        ``confirmer``).

    Raises:
        RelayUnavailableError: no relayer key (503).
        InputInvalidError, InvalidSignatureError, SignatureExpiredError, InvalidNonceError,
            AssetAlreadyCountedError: the off-chain checks (module docstring); nothing sent.
        UnknownBatchError, BatchNotIndexedError, BatchFileMissingError, UnknownLeafError: a
            batched operation's leaf cannot be found (:func:`api.services.batches.stored_leaf`).
        ContractRevertError, ChainUnavailableError, TransactionFailedError: as every write.
    """
    if relayer is None:
        raise RelayUnavailableError()
    write = read_signed_write(payload)
    check_signed_write(chain, deployment, write, now)
    _check_record(session, write)
    op = signing.operation(write.operation)
    leaf = proof = None
    if "leaf" in op.params:
        found = batches.stored_leaf(chain, session, store, None, "0x" + write.message["root"].hex(),
                                    "0x" + write.message["leafHash"].hex())
        leaf, proof = found.struct, found.proof_bytes
    args = signing.call_args(write.operation, write.message, write.authorization, leaf=leaf, proof=proof)
    evidence = ["0x" + bytes(h).hex() for h in write.message.get("evidenceHashes", ()) if isinstance(h, (bytes, bytearray))]
    context = {"operation": write.operation, "signer": write.signer, "relayer": relayer.account,
               "event": EVENTS[write.operation]}
    tx = chain.send(op.function, args, relayer.private_key, result="relayed", context=context, evidence=evidence)
    return _relayed(tx, context)


@result_builder("relayed")
def _relayed(tx: TxResult, context: dict[str, Any]) -> dict[str, Any]:
    event = tx.event(context["event"])
    return {
        "operation": context["operation"],
        "signer": context["signer"],
        "relayer": context["relayer"],
        "event": event.name,
        "record": _json_record(event.args),
        "tx": tx_json(tx),
    }


def _skeleton_value(kind: str) -> Any:
    if kind == "bytes32":
        return "0x" + "00" * 32
    if kind == "bytes32[]":
        return []
    if kind == "string":
        return ""
    return "0"


def typed_data_skeleton(
    chain: LedgerChain,
    deployment: Deployment,
    operation_name: str,
    *,
    signer: str | None,
    fields: Mapping[str, Any],
    now: int,
) -> dict[str, Any]:
    """The exact typed data a client signs for ``operation_name`` (``eth_signTypedData_v4``
    form, integers as decimal strings, ``chainId`` a number): the domain of this ledger, the
    primary type, and a message with ``fields`` filled in and every other field empty (0, ``""``,
    zero hash, ``[]``); ``nonce`` the signer's next one when ``signer`` is given, ``deadline``
    :data:`DEFAULT_DEADLINE_SECONDS` from ``now`` unless given.

    Raises:
        InputInvalidError: unknown operation, or a field that does not fit (422).
        ChainUnavailableError: the nonce cannot be read.
    """
    try:
        op = signing.operation(operation_name)
    except signing.TypedDataError as exc:
        raise InputInvalidError([{"loc": ["query", "operation"], "msg": str(exc), "type": "unknown_operation"}]) from exc
    names = [n for n, _ in op.fields]
    unknown = sorted(set(fields) - set(names))
    if unknown:
        raise InputInvalidError([{"loc": ["query", name], "msg": f"{op.primary_type} has no field {name}; its fields: "
                                  f"{', '.join(names)}", "type": "unknown_field"} for name in unknown])
    nonce = None
    if signer is not None:
        nonce = int(chain.call("nonces", signer))
    doc = {n: _skeleton_value(t) for n, t in op.fields}
    doc["deadline"] = str(now + DEFAULT_DEADLINE_SECONDS)
    if nonce is not None:
        doc["nonce"] = str(nonce)
    doc.update(fields)
    try:
        values = signing.message_from_json(op.name, doc)
    except signing.TypedDataError as exc:
        raise InputInvalidError([{"loc": ["query", exc.field or "operation"], "msg": str(exc), "type": "typed_data"}]) from exc
    data = signing.typed_data(op.name, values, chain_id=deployment.chain_id, contract=deployment.contract_address)
    return {
        "operation": op.name,
        **signing.typed_data_to_json(data),
        "signer": signer,
        "nonce": None if nonce is None else str(nonce),
    }
