"""Relayed writes (docs/LEDGER.md "Signed writes"): a registrar or confirmer signs EIP-712
typed data with its own wallet; this server's relayer submits the ``...BySig`` call and pays
the gas, and the record names the signer. No staff token: the signature is the authority, and
it is checked off chain before anything is sent (``api.services.relay``)."""

from __future__ import annotations

import hashlib
import inspect
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from api.deps import ChainDep, DeploymentDep, EvidenceStoreDep, NowDep, SessionDep, StaffRegistryDep
from api.problems import problem_responses
from api.routes.writes import ACCEPTED_RESPONSES, accept
from api.routing import body_limited_route
from api.schemas import RelayedWrite, RelayIn, TypedData
from api.services import relay as relay_service
from ledger import signing
from ledger.outbox import canonical_json

router = APIRouter(
    prefix="/relay",
    tags=["relay"],
    route_class=body_limited_route(max_files=0),
    responses=problem_responses(422, 502, 503),
)

_OPERATIONS = ", ".join(f"`{name}`" for name in signing.OPERATIONS)

RELAY_DESCRIPTION = inspect.cleandoc("""Submit a write signed elsewhere: `{"operation", "message", "authorization": {"signer",
    "nonce", "deadline", "signature"}}`, the message as the typed data of
    `GET /relay/typed-data` (integers as decimal strings, bytes32 as 0x hex), nonce and
    deadline equal in both. Operations: {operations}.

    Checked before anything is sent, in this order: the payload fits the operation (422
    `validation-error`); the signature recovers to `signer` over this chain's and this
    ledger's typed data (422 `invalid-signature`, with `signer` and `recovered`; EOA
    signatures only); the deadline has not passed (422 `signature-expired`, with `deadline`
    and `block_time`); the nonce is the signer's next one (409 `invalid-nonce`, with `nonce`
    and `expected_nonce`). The batched operations name `root` and `leafHash`: the leaf and its
    proof are read from the batch file stored here (404, 409 `batch-file-missing`). Then the
    relayer sends it and the contract checks it all again (its refusals as for staff writes:
    403 `forbidden` when the signer holds no role, ...).

    201 `{"operation", "signer", "relayer", "event", "record", "tx"}`: `record` is the
    event the write emitted (the signer as `registrar` / `confirmer`); 503
    `relay-unavailable` when this server has no relayer key.
    """).replace("{operations}", _OPERATIONS)


TYPED_DATA_DESCRIPTION = inspect.cleandoc("""The exact EIP-712 typed data to sign for `operation` ({operations}), as
    `eth_signTypedData_v4` takes it (for ethers' `signTypedData(domain, types, message)`, drop
    `types.EIP712Domain`): this ledger's domain, the primary type and a message. Any other
    query parameter named as a message field fills it in (`?operation=recordDelivery&
    commitmentId=3&quantity=5&evidenceHashes=0x..&evidenceHashes=0x..`); the rest stay empty
    (0, "", zero hash, []). `nonce` is the signer's next nonce when `signer` is given (else 0),
    `deadline` an hour from now unless given. Sign it, then `POST /relay` `{"operation",
    "message", "authorization"}`.

    422 `validation-error` for an unknown operation or field, or a value that does not fit.
    """).replace("{operations}", _OPERATIONS)


@router.post("", status_code=201, response_model=RelayedWrite, description=RELAY_DESCRIPTION,
             responses={**problem_responses(403, 404, 409, 413, 415), **ACCEPTED_RESPONSES})
def relay(request: Request, body: RelayIn, chain: ChainDep, session: SessionDep, store: EvidenceStoreDep,
          deployment: DeploymentDep, registry: StaffRegistryDep, now: NowDep) -> RelayedWrite:
    """Submit a write signed elsewhere (see ``RELAY_DESCRIPTION``). Through the write outbox
    as every staff write (202, ``Prefer: wait``); its idempotency key is the digest of the
    signed payload, so the same signed write is submitted once."""
    relayer = registry.relayer()
    payload = body.model_dump(mode="json")
    digest = "relay:" + hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()
    return accept(
        request, "relay", payload,
        lambda journal: relay_service.relay(journal, session, store, deployment, relayer, body.model_dump(), now),
        account=relayer.account if relayer is not None else "", key=digest, chain=chain,
    )


@router.get("/typed-data", response_model=TypedData, description=TYPED_DATA_DESCRIPTION)
def typed_data(
    request: Request,
    chain: ChainDep,
    deployment: DeploymentDep,
    now: NowDep,
    operation: Annotated[str, Query(description="the signed write, e.g. recordDelivery",
                                    json_schema_extra={"enum": list(signing.OPERATIONS)})],
    signer: Annotated[str | None, Query(pattern=r"^0x[0-9a-fA-F]{40}$", description="fills in its next nonce")] = None,
) -> TypedData:
    """The typed data to sign for an operation (see ``TYPED_DATA_DESCRIPTION``)."""
    fields: dict[str, Any] = {}
    for name in request.query_params:
        if name in ("operation", "signer"):
            continue
        values = request.query_params.getlist(name)
        fields[name] = values if _is_list_field(operation, name) else values[-1]
    result = relay_service.typed_data_skeleton(chain, deployment, operation, signer=signer, fields=fields, now=now)
    return TypedData.model_validate(result)


def _is_list_field(operation: str, name: str) -> bool:
    op = signing.OPERATIONS.get(operation)
    return op is not None and dict(op.fields).get(name) == "bytes32[]"
