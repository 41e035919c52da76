"""Helpers shared by the replay tests (a module name unique in the suite: pytest imports test
helpers by basename)."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from web3 import HTTPProvider, Web3

from ledger.chain import TxResult
from ledger.events import LedgerEvent
from scripts.audit.model import LedgerState
from scripts.audit.projection import Projector

DAY = 86_400


def sha256(data: bytes) -> bytes:
    """SHA-256 digest (32 bytes) of ``data``."""
    return hashlib.sha256(data).digest()


def hex32(digest: bytes) -> str:
    """``0x`` + 64 lowercase hex characters."""
    return "0x" + digest.hex()


def latest_block_time(rpc_url: str) -> int:
    """Time of the chain's latest block, Unix seconds."""
    return int(Web3(HTTPProvider(rpc_url)).eth.get_block("latest")["timestamp"])


def block_time(rpc_url: str, number: int) -> int:
    """Time of block ``number``, Unix seconds."""
    return int(Web3(HTTPProvider(rpc_url)).eth.get_block(number)["timestamp"])


def rpc(rpc_url: str, method: str, *params: Any) -> Any:
    """One raw JSON-RPC request (anvil's ``evm_*`` methods); returns its ``result``.

    Raises:
        RuntimeError: the node answered with an error.
    """
    answer = Web3(HTTPProvider(rpc_url)).provider.make_request(method, list(params))
    if "error" in answer:
        raise RuntimeError(f"{method} failed: {answer['error']}")
    return answer["result"]


def advance_time(rpc_url: str, seconds: int) -> int:
    """Mine a block ``seconds`` after the latest one; returns its time (Unix seconds)."""
    target = latest_block_time(rpc_url) + seconds
    rpc(rpc_url, "evm_setNextBlockTimestamp", target)
    rpc(rpc_url, "evm_mine")
    return target


@dataclass
class Written:
    """A commitment as the test wrote it: the registration input (tuple in the field order of
    ``CommitmentInput``), its transaction, and what followed."""

    id: int
    input: tuple
    tx: TxResult
    amendments: list[tuple[tuple, TxResult]] = field(default_factory=list)
    withdrawal: tuple[str, TxResult] | None = None
    deliveries: list[int] = field(default_factory=list)


@dataclass
class DeliveryWritten:
    """A delivery as the test wrote it: id, commitment id, the ``DeliveryInput`` tuple, its
    transaction, registrar address, and the revocation (reason, transaction) if any."""

    id: int
    commitment_id: int
    input: tuple
    tx: TxResult
    registrar: str
    revocation: tuple[str, TxResult] | None = None


@dataclass
class Scenario:
    """Everything ``scenario`` wrote, by name: ``commitments["pending"]`` etc."""

    t0: int
    commitments: dict[str, Written]
    deliveries: dict[int, DeliveryWritten]
    extra: dict[str, Any]


# ---------------------------------------------------------------------- synthetic events

BASE_TIME = 1_700_000_000
"""Block time of block 0 in synthetic event streams; each block is 12 s later."""
CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def tx_hash(block: int) -> str:
    """The synthetic transaction hash of the (single) transaction in ``block``."""
    return "0x" + f"{block:064x}"


def time_of(block: int) -> int:
    """The synthetic time of ``block``, Unix seconds."""
    return BASE_TIME + 12 * block


def event(event_name: str, block: int, log_index: int = 0, /, **args: Any) -> LedgerEvent:
    """A decoded event as the shared decoder would produce it (snake_case args)."""
    return LedgerEvent(
        name=event_name, args=args, block_number=block, block_hash="0x" + f"{block + 7:064x}",
        transaction_hash=tx_hash(block), log_index=log_index, address=CONTRACT,
    )


def project(events: list[LedgerEvent]) -> LedgerState:
    """Apply ``events`` (each at its synthetic block time) and finish."""
    projector = Projector()
    for e in events:
        projector.apply(e, time_of(e.block_number))
    return projector.finish()


OWNER = "0x" + "0A" * 20
ADMIN = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
REGISTRAR = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
STRANGER = "0x9965a49c1bA0CBd5d6fAcEBc0B9D9E6Cf1ffEC3A"
HASH_SOURCE = "0x" + "5a" * 32
EVIDENCE_1 = "0x" + "e1" * 32
EVIDENCE_2 = "0x" + "e2" * 32
ZERO32 = "0x" + "00" * 32
DUE_1 = 1_800_000_000
DUE_2 = 1_810_000_000
PROMISED_1 = BASE_TIME - 400 * DAY
PROMISED_2 = BASE_TIME - 10 * DAY


def registered(block: int, commitment_id: int, *, target: int, due: int, promised: int, **extra: Any) -> LedgerEvent:
    """A ``CommitmentRegistered`` of municipality 1 by REGISTRAR in ``block``."""
    args = dict(
        commitment_id=commitment_id, municipality_id=1, registrar=REGISTRAR, external_ref=f"ref-{commitment_id}",
        title=f"Commitment {commitment_id}", description="", theme="Wonen", target_quantity=target, unit="homes",
        promised_at=promised, due_date=due, source_document_hash=ZERO32, source_uri="", parent_id=0, weight=0,
        registered_at=time_of(block),
    )
    args.update(extra)
    return event("CommitmentRegistered", block, **args)


def delivered(
    block: int, delivery_id: int, quantity: int, delivered_at: int, log_index: int = 0, *, asset_ref: str = "",
    external_ref: str = "",
) -> LedgerEvent:
    """A ``DeliveryRecorded`` (commitment ``delivery_id // 1_000_000``) by REGISTRAR, recorded at
    the block time."""
    return event(
        "DeliveryRecorded", block, log_index, delivery_id=delivery_id, commitment_id=delivery_id // 1_000_000,
        registrar=REGISTRAR, quantity=quantity, delivered_at=delivered_at, recorded_at=time_of(block),
        evidence_hashes=[EVIDENCE_1], evidence_uri="", note="", external_ref=external_ref, asset_ref=asset_ref,
    )


def revoked(block: int, delivery_id: int) -> LedgerEvent:
    """A ``DeliveryRevoked`` by REGISTRAR at the block time."""
    return event(
        "DeliveryRevoked", block, delivery_id=delivery_id, commitment_id=delivery_id // 1_000_000,
        registrar=REGISTRAR, reason="Wrong", revoked_at=time_of(block),
    )


def amended(
    block: int, commitment_id: int, number: int, fields: int, *, previous_target: int, target: int,
    previous_due: int, due: int, title: str = "", description: str = "",
) -> LedgerEvent:
    """A ``CommitmentAmended`` of municipality 1 by REGISTRAR at the block time."""
    return event(
        "CommitmentAmended", block, commitment_id=commitment_id, municipality_id=1, registrar=REGISTRAR,
        amendment_number=number, fields=fields, title=title, description=description,
        previous_target_quantity=previous_target, target_quantity=target, previous_due_date=previous_due,
        due_date=due, reason="Changed", amended_at=time_of(block),
    )


def preamble() -> list[LedgerEvent]:
    """Owner, Baarn (admin ADMIN) and its registrar REGISTRAR, blocks 1..3."""
    return [
        event("OwnershipTransferred", 1, previous_owner="0x" + "00" * 20, new_owner=OWNER),
        event("MunicipalityRegistered", 2, municipality_id=1, admin=ADMIN, name="Baarn", code="GM0308"),
        event("RegistrarAdded", 3, municipality_id=1, account=REGISTRAR, by=ADMIN),
    ]


def synthetic_events() -> list[LedgerEvent]:
    """A small sound ledger: Baarn with one registrar; commitment 1 (target 10 homes, promised
    400 days before block 0; deliveries 1000001 of 4 and 1000002 of 6, the 6 revoked);
    commitment 2 (promised 10 days before block 0, every field amended: target 1 → 2, due
    DUE_2 → DUE_2 + 1000; withdrawn)."""
    return preamble() + [
        registered(
            4, 1, target=10, due=DUE_1, promised=PROMISED_1, title="Renovate 10 homes", description="In the centre.",
            source_document_hash=HASH_SOURCE, source_uri="https://baarn.nl/b",
        ),
        event(
            "DeliveryRecorded", 5, 0, delivery_id=1_000_001, commitment_id=1, registrar=REGISTRAR, quantity=4,
            delivered_at=time_of(5) - 100, recorded_at=time_of(5), evidence_hashes=[EVIDENCE_1],
            evidence_uri="https://baarn.nl/e", note="first", external_ref="d-1", asset_ref="",
        ),
        event(
            "DeliveryRecorded", 6, 0, delivery_id=1_000_002, commitment_id=1, registrar=REGISTRAR, quantity=6,
            delivered_at=time_of(6) - 100, recorded_at=time_of(6), evidence_hashes=[EVIDENCE_2], evidence_uri="",
            note="", external_ref="", asset_ref="",
        ),
        event(
            "DeliveryRevoked", 7, delivery_id=1_000_002, commitment_id=1, registrar=REGISTRAR, reason="Counted twice",
            revoked_at=time_of(7),
        ),
        registered(8, 2, target=1, due=DUE_2, promised=PROMISED_2, title="One bridge", theme="Infra", unit="bridge"),
        amended(
            9, 2, 1, 15, previous_target=1, target=2, previous_due=DUE_2, due=DUE_2 + 1000, title="Two bridges",
            description="Both sides.",
        ),
        event(
            "CommitmentWithdrawn", 10, commitment_id=2, municipality_id=1, registrar=REGISTRAR, reason="No budget",
            withdrawn_at=time_of(10),
        ),
    ]


# ---------------------------------------------------------------------- API answers


SUMMARY_KEYS = (
    "id", "municipality_id", "municipality_name", "external_ref", "title", "theme", "unit", "target_quantity",
    "delivered_quantity", "progress_bps", "status", "due_date", "due_date_iso", "met_at", "met_at_iso", "registered",
    "withdrawn", "promised_at", "promised_at_iso", "original_target_quantity", "original_due_date",
    "original_due_date_iso", "historical_record", "registration_lag_days", "status_on_record", "met_on_record_at",
    "met_on_record_at_iso", "status_original_terms", "met_at_original_terms", "met_at_original_terms_iso",
    "status_on_record_original_terms", "met_on_record_at_original_terms", "met_on_record_at_original_terms_iso",
    "progress_bps_original_terms", "met_only_under_relaxed_terms", "amendment_count", "amended_after_due_date",
    "target_lowered", "recorded_late_count", "registrar", "signer_held_role",
    "parent_id", "weight", "children", "rollup_progress_bps", "rollup_children_delivered", "rollup_children_counted",
    "confirmed_quantity", "unconfirmed_quantity", "disputed_quantity", "status_confirmed", "met_at_confirmed",
    "met_at_confirmed_iso", "progress_bps_confirmed", "batched_delivery_count",
)
"""The keys of a 2.1.0 ``CommitmentSummary`` (docs/API.md v1 fields plus docs/LEDGER.md's)."""

DELIVERY_KEYS = (
    "kind", "id", "commitment_id", "delivery_number", "quantity", "delivered_at", "delivered_at_iso", "recorded_at",
    "recorded_at_iso", "recording_lag_seconds", "recording_lag_days", "recorded_late", "evidence_uri", "note",
    "external_ref", "asset_ref", "double_counted", "registrar", "signer_held_role", "recorded", "review",
    "confirmations", "disputes", "batch_root", "leaf_hash", "leaf_index", "counted", "refused_reason",
)
BATCH_KEYS = (
    "root", "municipality_id", "municipality_name", "registrar", "signer_held_role", "leaf_count", "file_sha256",
    "file_uri", "anchored_at", "anchored_at_iso", "verified", "unverified_reason", "counted_leaves", "refused_leaves",
    "revoked_leaves", "chain",
)
"""The keys of a ``BatchSummary`` (docs/LEDGER.md "New in 2.1.0", Batch)."""


def _action(action: dict[str, Any] | None) -> dict[str, Any] | None:
    if action is None:
        return None
    return {k: action[k] for k in ("reason", "registrar", "signer_held_role", "chain")}


def _api_delivery(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in DELIVERY_KEYS} | {
        "evidence": [{"sha256": h, "stored": False, "url": None} for h in d["evidence_sha256"]],
        "revocation": _action(d["revocation"]),
    }


def api_answers(
    commitments: list[dict[str, Any]],
    municipalities: list[dict[str, Any]],
    health: dict[str, Any],
    batches: list[dict[str, Any]] = (),
) -> dict[str, Any]:
    """What an honest 2.1.0 API answers, rendered from the replay's wire form (report rows of
    ``commitments``, ``municipalities`` and ``batches``): ``{"health", "summaries", "details"
    (by id), "municipalities", "batches", "batch_details"}`` in the shapes of docs/API.md with
    docs/LEDGER.md's field names."""
    summaries, details = [], {}
    for c in commitments:
        summary = {k: c[k] for k in SUMMARY_KEYS}
        detail = dict(summary)
        detail.update({k: c[k] for k in ("description", "source_document_sha256", "source_uri")})
        detail["withdrawal"] = _action(c["withdrawal"])
        detail["deliveries"] = [_api_delivery(d) for d in c["deliveries"]]
        detail["amendments"] = [dict(a) for a in c["amendments"]]
        detail["timeline"] = []
        summaries.append(summary)
        details[c["id"]] = detail
    rows = [
        {k: m[k] for k in ("id", "name", "code", "admin", "pending_admin", "recovery", "registrars", "commitment_count",
                           "status_counts", "status_on_record_counts", "registered", "admin_changes",
                           "registrar_history", "confirmers", "confirmer_history")}
        for m in municipalities
    ]
    batch_rows = [{k: b[k] for k in BATCH_KEYS} for b in batches]
    batch_details = [{k: b[k] for k in BATCH_KEYS} | {"leaves": [_api_delivery(leaf) for leaf in b["leaves"]]}
                     for b in batches]
    return {"health": health, "summaries": summaries, "details": details, "municipalities": rows,
            "batches": batch_rows, "batch_details": batch_details}


def api_from_report(report: dict[str, Any]) -> dict[str, Any]:
    """:func:`api_answers` for a replay report, with a health answer that has caught up."""
    health = {
        "status": "ok", "chain_id": report["chain_id"], "contract_address": report["contract_address"],
        "deploy_block": report["from_block"], "chain_head_block": report["to_block"],
        "indexed_block": report["to_block"], "lag_blocks": 0, "head_seen_at": report["generated_at"],
        "paused": report["paused"], "contract_version": report["contract_version"],
    }
    return api_answers(report["commitments"], report["municipalities"], health, report["batches"])


def deploy_code_without_version(rpc_url: str, sender: str) -> str:
    """Deploy a contract whose code is a single STOP (so ``version()`` answers nothing), from
    an account anvil has unlocked; returns its checksummed address."""
    init_code = "0x6001600c60003960016000f300"  # CODECOPY the trailing 0x00 and RETURN it
    tx_hash_hex = rpc(rpc_url, "eth_sendTransaction", {"from": sender, "data": init_code})
    receipt = Web3(HTTPProvider(rpc_url)).eth.wait_for_transaction_receipt(tx_hash_hex, timeout=30)
    return str(receipt["contractAddress"])


# ---------------------------------------------------------------------- a stand-in API over HTTP


class StandInApi:
    """A tiny HTTP server answering the citizens' GET endpoints from a dict (pages capped at 3);
    ``data["batch_files"]`` (root → bytes) are served at ``/api/v1/batches/{root}/file``."""

    PAGE_CAP = 3

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlparse(self.path)
                query = parse_qs(url.query)
                body: Any
                status = 200
                if url.path == "/api/v1/health":
                    body = api.data["health"]
                elif url.path == "/api/v1/municipalities":
                    body = {"data": api.data["municipalities"], "count": len(api.data["municipalities"])}
                elif url.path == "/api/v1/commitments":
                    offset = int(query.get("offset", ["0"])[0])
                    limit = min(int(query.get("limit", ["20"])[0]), api.PAGE_CAP)
                    rows = api.data["summaries"]
                    body = {"data": rows[offset:offset + limit], "count": len(rows), "offset": offset, "limit": limit}
                elif url.path.startswith("/api/v1/commitments/"):
                    found = api.data["details"].get(int(url.path.rsplit("/", 1)[1]))
                    body, status = (found, 200) if found else ({"type": "/problems/not-found", "status": 404}, 404)
                elif url.path == "/api/v1/batches":
                    offset = int(query.get("offset", ["0"])[0])
                    limit = min(int(query.get("limit", ["20"])[0]), api.PAGE_CAP)
                    rows = api.data["batches"]
                    body = {"data": rows[offset:offset + limit], "count": len(rows), "offset": offset, "limit": limit}
                elif url.path.startswith("/api/v1/batches/") and url.path.endswith("/file"):
                    root = url.path.split("/")[4]
                    found = api.data.get("batch_files", {}).get(root)
                    if found is not None:
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(found)))
                        self.end_headers()
                        self.wfile.write(found)
                        return
                    body, status = {"type": "/problems/not-found", "status": 404}, 404
                elif url.path.startswith("/api/v1/batches/"):
                    root = url.path.rsplit("/", 1)[1]
                    found = next((b for b in api.data["batch_details"] if b["root"] == root), None)
                    body, status = (found, 200) if found else ({"type": "/problems/not-found", "status": 404}, 404)
                else:
                    body, status = {"status": 404}, 404
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "StandInApi":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
