"""Fixtures of the importer's unit tests: the real data (read-only, from ../shared/data relative
to the repo), the two mappings and their plans. No chain is used by these tests."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

import httpx
import pytest
import yaml

from scripts.importer import load_mapping, plan_source
from scripts.importer.mapping import with_delivery_mode
from tests.conftest import SHARED_DATA_DIR

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = SHARED_DATA_DIR
MAPPINGS = REPO / "scripts" / "mappings"
BAARN_MAPPING = MAPPINGS / "baarn-coalitieakkoord.yaml"
CHILE_MAPPING = MAPPINGS / "ddah-chile.yaml"
BAARN_CSV = DATA_DIR / "baarn-coalitieakkoord" / "coalitieakkoord_baarn_2022-2026_afspraken.csv"
CHILE_CSVS = {year: DATA_DIR / "ddah-chile" / f"Boric-2022-2026_Programa-{year}.csv" for year in (2022, 2023, 2024)}


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA_DIR.is_dir():
        pytest.fail(f"the shared datasets are missing at {DATA_DIR}: put them at ../shared/data or run `make test DATA_DIR=...`")
    return DATA_DIR


@pytest.fixture(scope="session")
def baarn_mapping():
    return load_mapping(BAARN_MAPPING)


@pytest.fixture(scope="session")
def chile_mapping():
    return load_mapping(CHILE_MAPPING)


@pytest.fixture(scope="session")
def baarn_plan(baarn_mapping, data_dir):
    return plan_source(baarn_mapping, data_dir)


@pytest.fixture(scope="session")
def chile_plan(chile_mapping, data_dir):
    """The shipped Chile mapping's plan: each snapshot's deliveries one anchored batch."""
    return plan_source(chile_mapping, data_dir)


@pytest.fixture(scope="session")
def chile_per_delivery_plan(chile_mapping, data_dir):
    """The Chile plan with ``deliveries: {mode: per_delivery}``: each delivery recorded on
    its own (in multicall batches of ``batch_size``)."""
    return plan_source(with_delivery_mode(chile_mapping, "per_delivery", "tests of the per-delivery path"), data_dir)


@pytest.fixture()
def baarn_doc():
    """The Baarn mapping as a fresh YAML document (to break in tests)."""
    return yaml.safe_load(BAARN_MAPPING.read_text(encoding="utf-8"))


@pytest.fixture()
def chile_doc():
    """The Chile mapping as a fresh YAML document (to break in tests)."""
    return yaml.safe_load(CHILE_MAPPING.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def baarn_csv(data_dir) -> Path:
    return BAARN_CSV


@pytest.fixture(scope="session")
def chile_csvs(data_dir) -> dict[int, Path]:
    return CHILE_CSVS


# ------------------------------------------------------------------ a fake ledger API


class Killed(BaseException):
    """Raised by the fake API's transport to stand for the importer being killed mid-run (a
    BaseException, like KeyboardInterrupt, so no ``except Exception`` in the importer stops it)."""


class FakeLedgerApi:
    """In-memory stand-in for the HTTP API of docs/API.md (the parts the importer uses), served
    through `httpx.MockTransport`. No chain: ids count from 1, writes are immediate; each
    accepted write is one "transaction" (`transactions`), a batch all or nothing.

    Delivery ids are ``commitment_id * 1_000_000 + n`` as on chain. A batch whose item ``i``
    would be refused answers that item's problem with ``index: i`` and writes nothing.

    Attributes:
        reject: external_ref (or ``"<commitment ref>/<delivery ref>"``) → (status, problem slug,
            detail) to answer a registration or a delivery with that ref instead of writing it.
        paused: every write answers 503 ``ledger-paused``.
        kill_at: ``(n, when)``: the n-th write request (1-based) raises `Killed`, ``before``
            it is applied or ``after`` it was applied (the answer is lost).
        evidence: SHA-256 → bytes of every stored evidence file (uploaded by a recorded single
            delivery or batch, or an anchored batch), batch files included.
        batches: root → the anchored batch (``leaf_count``, ``file_sha256``, ``chain``...).
            Its leaves are deliveries (``kind: batched``, id = leaf hash), counted at once
            (this fake holds every file it anchored and never refuses a leaf after anchoring).
        hide_batched: the commitment reads list no batched delivery, as when the index has not
            verified a batch yet (its file not checked).
        max_batch_leaves: most leaves ``POST /staff/batches`` takes (422 beyond).
        writes: ``(method, path)`` of every accepted or refused write.
        requests: ``(method, path)`` of every request.
        transactions: ``(path, items)`` of every accepted write, in order.
        outbox: answer staff writes as the write outbox does (issue 7): a write the handler
            accepts answers 202 ``{"write": Write}`` with ``Location``, its ``result`` the old
            201 body, confirmed at the ``confirm_after_polls``-th ``GET /staff/writes/{id}``
            (0: at once, answered 201 with ``write`` as under ``Prefer: wait``); a refusal
            answers its problem at once. The same ``Idempotency-Key`` with the same request
            returns the same write (nothing applied again), with another request 422
            ``idempotency-key-reused``.
        outbox_writes: write id → Write. ``idempotency_keys``: the key of every write request.
        write_delay_seconds: each write request waits this long (for tests that kill a run).
        amendments: ``POST /staff/commitments/{id}/amendments`` as the API checks it (the
            amendment count seen, at least one field, no field set to its value, a due date
            after the promise date, a reason of 1..1000 bytes, not withdrawn); an accepted one
            changes the commitment and is listed in its detail's ``amendments``.
    """

    ANCHOR_GAS = 60_000  # the fake's gas of one anchored batch, whatever its leaf count

    def __init__(self) -> None:
        self.municipalities = {
            1: {"id": 1, "name": "Baarn", "code": "GM0308"},
            2: {"id": 2, "name": "Gobierno de Chile", "code": "CL-GOB"},
        }
        self.tokens = {"tok-baarn": 1, "tok-chile": 2}
        self.commitments: dict[int, dict] = {}
        self.deliveries: dict[int, dict] = {}
        self.evidence: dict[str, bytes] = {}
        self.head_block = 40
        self.indexed_block = 40
        self.reject: dict[str, tuple[int, str, str]] = {}
        self.max_batch_leaves = 1000
        self.hide_batched = False
        self.paused = False
        self.kill_at: tuple[int, str] | None = None
        self.writes: list[tuple[str, str]] = []
        self.requests: list[tuple[str, str]] = []
        self.transactions: list[tuple[str, int]] = []
        self.batches: dict[str, dict] = {}
        self.outbox = False
        self.confirm_after_polls = 1
        self.outbox_writes: dict[str, dict] = {}
        self.outbox_keys: dict[str, tuple[str, str]] = {}  # key → (fingerprint, write id)
        self.outbox_polls: dict[str, int] = {}
        self.idempotency_keys: list[str | None] = []
        self.prefer: list[str | None] = []
        self.write_delay_seconds = 0.0

    def transport(self):
        return httpx.MockTransport(self.handle)

    # -------------------------------------------------------------- the write outbox

    def handle(self, request):
        if request.method == "POST":
            self.idempotency_keys.append(request.headers.get("idempotency-key"))
            self.prefer.append(request.headers.get("prefer"))
            if self.write_delay_seconds:
                time.sleep(self.write_delay_seconds)
        match = re.fullmatch(r"/api/v1/staff/writes/(w\d+)", request.url.path)
        if match and request.method == "GET":
            self.requests.append((request.method, request.url.path))
            return self.poll_write(match.group(1))
        if not (self.outbox and request.method == "POST"):
            return self.route(request)
        key = request.headers.get("idempotency-key")
        fingerprint = hashlib.sha256(request.method.encode() + request.url.path.encode() + request.content).hexdigest()
        if key in self.outbox_keys:
            seen, write_id = self.outbox_keys[key]
            if seen != fingerprint:
                return self.problem(422, "idempotency-key-reused", "this Idempotency-Key was used for another request")
            return self.write_answer(self.outbox_writes[write_id])
        response = self.route(request)
        if not response.is_success:
            return response
        write_id = f"w{len(self.outbox_writes) + 1}"
        write = {"id": write_id, "kind": request.url.path, "state": "queued", "idempotency_key": key,
                 "result": json.loads(response.content)}
        self.outbox_writes[write_id] = write
        if key is not None:
            self.outbox_keys[key] = (fingerprint, write_id)
        self.outbox_polls[write_id] = 0
        if self.confirm_after_polls == 0:
            write["state"] = "confirmed"
        return self.write_answer(write)

    def write_view(self, write):
        """The Write document (``result`` only once confirmed)."""
        view = {k: v for k, v in write.items() if k != "result"}
        if write["state"] == "confirmed":
            view["result"] = write["result"]
        return view

    def write_answer(self, write):
        if write["state"] == "confirmed":
            return httpx.Response(201, json=write["result"] | {"write": self.write_view(write)},
                                  headers={"Preference-Applied": "wait=10"})
        return httpx.Response(202, json={"write": self.write_view(write)},
                              headers={"Location": f"/api/v1/staff/writes/{write['id']}"})

    def poll_write(self, write_id):
        write = self.outbox_writes.get(write_id)
        if write is None:
            return self.problem(404, "not-found", "unknown write")
        self.outbox_polls[write_id] += 1
        if self.outbox_polls[write_id] >= self.confirm_after_polls:
            write["state"] = "confirmed"
        else:
            write["state"] = "sent"
        return self.ok({"write": self.write_view(write)})

    # -------------------------------------------------------------- routing

    def route(self, request):
        path = request.url.path
        self.requests.append((request.method, path))
        if request.method == "POST":
            self.writes.append((request.method, path))
            if self.kill_at == (len(self.writes), "before"):
                raise Killed()
            if self.paused:
                return self.problem(503, "ledger-paused", "the ledger is paused: writes are refused")
        routes = [
            ("GET", r"/api/v1/health", self.health),
            ("GET", r"/api/v1/municipalities", self.list_municipalities),
            ("GET", r"/api/v1/municipalities/(\d+)", self.get_municipality),
            ("GET", r"/api/v1/commitments", self.list_commitments),
            ("GET", r"/api/v1/commitments/(\d+)", self.get_commitment),
            ("GET", r"/api/v1/staff/me", self.me),
            ("POST", r"/api/v1/staff/commitments", self.register),
            ("POST", r"/api/v1/staff/commitments/batch", self.register_batch),
            ("POST", r"/api/v1/staff/commitments/(\d+)/deliveries", self.deliver),
            ("POST", r"/api/v1/staff/commitments/(\d+)/amendments", self.amend),
            ("POST", r"/api/v1/staff/deliveries/batch", self.deliver_batch),
            ("POST", r"/api/v1/staff/deliveries/(\d+)/revocation", self.revoke),
            ("POST", r"/api/v1/staff/batches", self.anchor),
            ("GET", r"/api/v1/batches/(0x[0-9a-f]{64})", self.get_batch),
            ("POST", r"/api/v1/staff/batches/(0x[0-9a-f]{64})/leaves/(0x[0-9a-f]{64})/revocation", self.revoke_leaf),
        ]
        for method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and method == request.method:
                response = handler(request, *[int(g) if g.isdigit() else g for g in match.groups()])
                if request.method == "POST" and self.kill_at == (len(self.writes), "after"):
                    raise Killed()
                return response
        return self.problem(404, "not-found", f"no route {request.method} {path}")

    @staticmethod
    def problem(status, slug, detail, **extra):
        body = {"type": f"/problems/{slug}", "title": slug.replace("-", " "), "status": status, "detail": detail, **extra}
        return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})

    @staticmethod
    def ok(body, status=200):
        return httpx.Response(status, json=body)

    def caller(self, request):
        auth = request.headers.get("authorization", "")
        return self.tokens.get(auth.removeprefix("Bearer "))

    def tx(self, path, items, gas_used=None):
        """One mined transaction carrying ``items`` operations (gas 50,000 + 30,000 per item
        unless given: an anchored batch costs the same for any number of leaves)."""
        self.transactions.append((path, items))
        self.head_block += 1
        self.indexed_block = self.head_block
        number = len(self.transactions)
        gas = 50_000 + 30_000 * items if gas_used is None else gas_used
        return {"tx_hash": "0x" + f"{number:064x}", "block_number": self.head_block, "gas_used": gas}

    @staticmethod
    def chain_ref(tx):
        """The API's ``ChainRef`` of a fact written by ``tx`` (log index and time are not modelled)."""
        return {"tx_hash": tx["tx_hash"], "block_number": tx["block_number"], "log_index": 0}

    # -------------------------------------------------------------- public

    def health(self, request):
        return self.ok({"status": "ok", "chain_head_block": self.head_block, "indexed_block": self.indexed_block,
                        "lag_blocks": self.head_block - self.indexed_block})

    def list_municipalities(self, request):
        data = list(self.municipalities.values())
        return self.ok({"data": data, "count": len(data)})

    def get_municipality(self, request, municipality_id):
        if municipality_id not in self.municipalities:
            return self.problem(404, "not-found", "unknown municipality")
        return self.ok(self.municipalities[municipality_id])

    def summary(self, c):
        delivered = sum(int(d["quantity"]) for d in self.deliveries.values()
                        if d["commitment_id"] == c["id"] and d["revocation"] is None and d.get("counted", True))
        return {k: c[k] for k in ("id", "municipality_id", "external_ref", "title", "theme", "unit",
                                  "target_quantity", "promised_at", "due_date", "withdrawn", "registered")} | {
            "delivered_quantity": str(delivered), "amendment_count": len(c.get("amendments", []))}

    def list_commitments(self, request):
        params = request.url.params
        limit = int(params.get("limit", 20))
        offset = int(params.get("offset", 0))
        if not 1 <= limit <= 100:
            return self.problem(422, "validation-error", "limit must be 1..100")
        rows = [c for c in self.commitments.values()
                if "municipality_id" not in params or c["municipality_id"] == int(params["municipality_id"])]
        page = [self.summary(c) for c in rows[offset:offset + limit]]
        return self.ok({"data": page, "count": len(rows), "offset": offset, "limit": limit})

    def get_commitment(self, request, commitment_id):
        c = self.commitments.get(commitment_id)
        if c is None:
            return self.problem(404, "not-found", "unknown commitment")
        deliveries = [d for d in self.deliveries.values() if d["commitment_id"] == commitment_id
                      and not (self.hide_batched and d.get("kind") == "batched")]
        return self.ok(self.summary(c) | {"description": c["description"], "source_uri": c.get("source_uri", ""),
                                          "source_document_sha256": c.get("source_document_sha256"),
                                          "amendments": list(c.get("amendments", [])), "deliveries": deliveries})

    # -------------------------------------------------------------- staff

    def me(self, request):
        municipality_id = self.caller(request)
        if municipality_id is None:
            return self.problem(401, "unauthorized", "missing or unknown token")
        return self.ok({"municipality_id": municipality_id,
                        "municipality_name": self.municipalities[municipality_id]["name"], "registrar": "0x" + "11" * 20})

    def _check_commitment(self, municipality_id, body, batch):
        """The problem (status, slug, detail, extra) refusing this registration, or None."""
        ref = body["external_ref"]
        if ref in self.reject:
            status, slug, detail = self.reject[ref]
            return status, slug, detail, {}
        if not isinstance(body.get("promised_at"), int) or not 0 < body["promised_at"] < int(body["due_date"]):
            return 422, "validation-error", "promised_at is required and must be before due_date", {}
        for c in [*self.commitments.values(), *batch]:
            if c["municipality_id"] == municipality_id and c["external_ref"] == ref:
                return 409, "duplicate-external-ref", f"{ref!r} is registered", {"existing_commitment_id": c["id"]}
        return None

    def _new_commitment(self, municipality_id, body, batch):
        new_id = len(self.commitments) + len(batch) + 1
        return {**body, "id": new_id, "municipality_id": municipality_id, "withdrawn": False}

    def register(self, request):
        municipality_id = self.caller(request)
        if municipality_id is None:
            return self.problem(401, "unauthorized", "missing or unknown token")
        body = json.loads(request.content)
        refusal = self._check_commitment(municipality_id, body, [])
        if refusal is not None:
            status, slug, detail, extra = refusal
            return self.problem(status, slug, detail, **extra)
        c = self._new_commitment(municipality_id, body, [])
        tx = self.tx(request.url.path, 1)
        self.commitments[c["id"]] = c | {"registered": self.chain_ref(tx)}
        return self.ok({"commitment_id": c["id"], "tx": tx}, 201)

    def register_batch(self, request):
        municipality_id = self.caller(request)
        if municipality_id is None:
            return self.problem(401, "unauthorized", "missing or unknown token")
        items = json.loads(request.content)["commitments"]
        if not 1 <= len(items) <= 100:
            return self.problem(422, "validation-error", "1..100 commitments")
        batch: list[dict] = []
        for index, body in enumerate(items):
            refusal = self._check_commitment(municipality_id, body, batch)
            if refusal is not None:
                status, slug, detail, extra = refusal
                return self.problem(status, slug, detail, index=index, **extra)
            batch.append(self._new_commitment(municipality_id, body, batch))
        tx = self.tx(request.url.path, len(batch))
        for c in batch:
            self.commitments[c["id"]] = c | {"registered": self.chain_ref(tx)}
        return self.ok({"commitment_ids": [c["id"] for c in batch], "tx": tx}, 201)

    def amend(self, request, commitment_id):
        municipality_id = self.caller(request)
        if municipality_id is None:
            return self.problem(401, "unauthorized", "missing or unknown token")
        c = self.commitments.get(commitment_id)
        if c is None:
            return self.problem(404, "not-found", "unknown commitment")
        if c["municipality_id"] != municipality_id:
            return self.problem(403, "forbidden", "token of another municipality")
        body = json.loads(request.content)
        if c["withdrawn"]:
            return self.problem(409, "commitment-withdrawn", "withdrawn")
        seen, count = body["expected_amendment_count"], len(c.get("amendments", []))
        if seen != count:
            return self.problem(409, "stale-amendment-count", f"amended since: {count} amendments",
                                expected_amendment_count=seen, current_amendment_count=count)
        fields = [name for name in ("title", "description", "target_quantity", "due_date") if body.get(name) is not None]
        if not fields or not 1 <= len(body["reason"].encode()) <= 1000:
            return self.problem(422, "validation-error", "at least one field and a reason of 1..1000 bytes")
        for name in fields:
            if str(body[name]) == str(c[name]):
                return self.problem(409, "amendment-changes-nothing", f"{name} already has that value", field=name)
        if "due_date" in fields and int(body["due_date"]) <= int(c["promised_at"]):
            return self.problem(422, "validation-error", f"due_date {body['due_date']} is not after the promise date "
                                f"{c['promised_at']}", errors=[{"loc": ["body", "due_date"], "type": "due_date_before_promise",
                                                                "msg": "a deadline comes after the promise"}])
        tx = self.tx(request.url.path, 1)
        c.update({name: body[name] for name in fields})
        number = count + 1
        c.setdefault("amendments", []).append({"amendment_number": number, "fields": fields, "reason": body["reason"],
                                               **{name: body[name] for name in fields}, "chain": self.chain_ref(tx)})
        return self.ok({"commitment_id": commitment_id, "amendment_number": number, "tx": tx}, 201)

    def _check_delivery(self, municipality_id, commitment_id, ref, hashes, batch):
        c = self.commitments.get(commitment_id)
        if c is None:
            return 404, "not-found", "unknown commitment", {}
        if c["municipality_id"] != municipality_id:
            return 403, "forbidden", "token of another municipality", {}
        if ref in self.reject or f"{c['external_ref']}/{ref}" in self.reject:
            status, slug, detail = self.reject.get(ref) or self.reject[f"{c['external_ref']}/{ref}"]
            return status, slug, detail, {}
        for d in [*self.deliveries.values(), *batch]:
            if d["commitment_id"] == commitment_id and ref and d["external_ref"] == ref:
                return 409, "duplicate-delivery-ref", f"{ref!r} is recorded", {"existing_delivery_id": d["id"]}
        if not hashes:
            return 422, "validation-error", "at least one evidence file or hash", {}
        return None

    def _new_delivery(self, commitment_id, fields, hashes, batch):
        n = sum(1 for d in [*self.deliveries.values(), *batch]
                if d["commitment_id"] == commitment_id and d.get("kind") != "batched") + 1
        return {
            "id": commitment_id * 1_000_000 + n, "commitment_id": commitment_id, "quantity": str(fields["quantity"]),
            "delivered_at": int(fields["delivered_at"]), "note": fields["note"],
            "evidence_uri": fields["evidence_uri"], "external_ref": fields["external_ref"],
            "evidence": [{"sha256": h, "stored": h in self.evidence} for h in hashes], "revocation": None,
        }

    def deliver(self, request, commitment_id):
        municipality_id = self.caller(request)
        if municipality_id is None:
            return self.problem(401, "unauthorized", "missing or unknown token")
        form = self.form(request)
        files = form.get("evidence", [])
        hashes = ["0x" + hashlib.sha256(content).hexdigest() for content in files] + form.get("evidence_sha256", [])
        refusal = self._check_delivery(municipality_id, commitment_id, form["external_ref"][0], hashes, [])
        if refusal is not None:
            status, slug, detail, extra = refusal
            return self.problem(status, slug, detail, **extra)
        for content in files:
            self.evidence["0x" + hashlib.sha256(content).hexdigest()] = content
        d = self._new_delivery(commitment_id, {k: v[0] for k, v in form.items() if k not in ("evidence", "evidence_sha256")}, hashes, [])
        tx = self.tx(request.url.path, 1)
        self.deliveries[d["id"]] = d | {"recorded": self.chain_ref(tx)}
        return self.ok({"delivery_id": d["id"], "commitment_id": commitment_id, "evidence_sha256": hashes, "tx": tx}, 201)

    @staticmethod
    def form(request):
        """A multipart/form-data body: name -> values (bytes for files, text otherwise)."""
        head = b"Content-Type: " + request.headers["content-type"].encode() + b"\r\n\r\n"
        message = BytesParser(policy=default).parsebytes(head + request.content)
        form: dict[str, list] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            form.setdefault(name, []).append(payload if part.get_filename() else payload.decode("utf-8"))
        return form

    def deliver_batch(self, request):
        """JSON ``{"deliveries": [...]}``, or multipart: ``deliveries`` as JSON text and
        ``evidence`` files, each cited by an item, none empty or twice (422 otherwise), stored
        only when the batch is written."""
        municipality_id = self.caller(request)
        if municipality_id is None:
            return self.problem(401, "unauthorized", "missing or unknown token")
        files: list[bytes] = []
        if request.headers["content-type"].startswith("multipart/form-data"):
            form = self.form(request)
            (text,) = form["deliveries"]
            items = json.loads(text)
            files = form.get("evidence", [])
            cited = {h for item in items for h in item["evidence_sha256"]}
            hashes = ["0x" + hashlib.sha256(content).hexdigest() for content in files]
            for i, (content, sha) in enumerate(zip(files, hashes)):
                if not content or sha in hashes[:i] or sha not in cited:
                    return self.problem(422, "validation-error", f"evidence file {i} is empty, repeated or cited by no item",
                                        errors=[{"loc": ["body", "evidence", i]}])
        else:
            items = json.loads(request.content)["deliveries"]
        if not 1 <= len(items) <= 100:
            return self.problem(422, "validation-error", "1..100 deliveries")
        batch: list[dict] = []
        for index, item in enumerate(items):
            refusal = self._check_delivery(municipality_id, item["commitment_id"], item["external_ref"], item["evidence_sha256"], batch)
            if refusal is not None:
                status, slug, detail, extra = refusal
                return self.problem(status, slug, detail, index=index, **extra)
            batch.append(self._new_delivery(item["commitment_id"], item, item["evidence_sha256"], batch))
        for content in files:
            self.evidence["0x" + hashlib.sha256(content).hexdigest()] = content
        batch = [d | {"evidence": [{"sha256": e["sha256"], "stored": e["sha256"] in self.evidence} for e in d["evidence"]]}
                 for d in batch]
        tx = self.tx(request.url.path, len(batch))
        for d in batch:
            self.deliveries[d["id"]] = d | {"recorded": self.chain_ref(tx)}
        return self.ok({"delivery_ids": [d["id"] for d in batch], "tx": tx}, 201)

    def revoke(self, request, delivery_id):
        if self.caller(request) is None:
            return self.problem(401, "unauthorized", "missing or unknown token")
        d = self.deliveries.get(delivery_id)
        if d is None:
            return self.problem(404, "not-found", "unknown delivery")
        if d["revocation"] is not None:
            return self.problem(409, "delivery-already-revoked", "already revoked")
        tx = self.tx(request.url.path, 1)
        d["revocation"] = {"reason": json.loads(request.content)["reason"], "chain": self.chain_ref(tx)}
        return self.ok({"delivery_id": delivery_id, "commitment_id": d["commitment_id"], "tx": tx}, 201)

    def anchor(self, request):
        """``POST /staff/batches`` (JSON, or multipart with ``municipality_id``,
        ``deliveries`` as JSON text, ``file_uri`` and ``evidence`` files): every item checked,
        a 422 listing each bad item in ``errors`` (``loc`` ``["body", "deliveries", i,
        field]``) writes nothing; the tree built with ledger/merkle.py; 409
        ``batch-already-anchored`` for a root anchored before; else the batch file and the
        evidence files are stored and the root anchored (one transaction)."""
        from ledger import merkle

        municipality_id = self.caller(request)
        if municipality_id is None:
            return self.problem(401, "unauthorized", "missing or unknown token")
        files: list[bytes] = []
        if request.headers["content-type"].startswith("multipart/form-data"):
            form = self.form(request)
            body = {"municipality_id": int(form["municipality_id"][0]), "deliveries": json.loads(form["deliveries"][0])}
            if "file_uri" in form:
                body["file_uri"] = form["file_uri"][0]
            files = form.get("evidence", [])
        else:
            body = json.loads(request.content)
        if body["municipality_id"] != municipality_id:
            return self.problem(403, "forbidden", "token of another municipality")
        items = body["deliveries"]
        if not 1 <= len(items) <= self.max_batch_leaves:
            return self.problem(422, "validation-error", f"1..{self.max_batch_leaves} deliveries")
        uploaded = {"0x" + hashlib.sha256(content).hexdigest() for content in files}
        errors = []
        seen: set[tuple[int, str]] = set()
        for i, item in enumerate(items):
            loc = ["body", "deliveries", i]
            c = self.commitments.get(item["commitment_id"])
            ref = item["external_ref"]
            key = f"{c['external_ref']}/{ref}" if c else None
            if c is None or c["municipality_id"] != municipality_id:
                errors.append({"loc": [*loc, "commitment_id"], "msg": "no such commitment of this municipality", "type": "unknown_commitment"})
            elif key in self.reject:
                status, slug, detail = self.reject[key]
                errors.append({"loc": [*loc, "external_ref"], "msg": detail, "type": slug})
            elif (item["commitment_id"], ref) in seen or any(  # revoked ones keep their ref (docs/LEDGER.md)
                    d["commitment_id"] == item["commitment_id"] and d["external_ref"] == ref
                    and not (self.hide_batched and d.get("kind") == "batched") for d in self.deliveries.values()):
                errors.append({"loc": [*loc, "external_ref"], "msg": f"{ref!r} is recorded", "type": "duplicate_external_ref"})
            missing = [h for h in item["evidence_hashes"] if h not in self.evidence and h not in uploaded]
            if missing:
                errors.append({"loc": [*loc, "evidence_hashes"], "msg": f"not in the evidence store: {missing}", "type": "evidence_not_stored"})
            seen.add((item["commitment_id"], ref))
        if errors:
            return self.problem(422, "validation-error", f"{len(errors)} deliveries are not valid", errors=errors)
        leaves = [merkle.BatchLeaf(commitment_id=int(item["commitment_id"]), quantity=int(item["quantity"]),
                                   delivered_at=int(item["delivered_at"]), evidence_hashes=tuple(item["evidence_hashes"]),
                                   evidence_uri=item["evidence_uri"], note=item["note"], external_ref=item["external_ref"],
                                   asset_ref=item["asset_ref"]) for item in items]
        tree = merkle.build_tree(leaves)
        root = tree.root_hex
        if root in self.batches:
            return self.problem(409, "batch-already-anchored", f"batch {root} is anchored already",
                                contract_error={"name": "LedgerBatchAlreadyAnchored", "args": {"root": root}})
        file_bytes = tree.to_file_bytes()
        file_sha256 = "0x" + hashlib.sha256(file_bytes).hexdigest()
        for content in [*files, file_bytes]:
            self.evidence["0x" + hashlib.sha256(content).hexdigest()] = content
        tx = self.tx(request.url.path, len(leaves), gas_used=self.ANCHOR_GAS)
        file_uri = body.get("file_uri") or f"/api/v1/batches/{root}/file"
        chain = self.chain_ref(tx)
        self.batches[root] = {"root": root, "municipality_id": municipality_id, "leaf_count": len(leaves),
                                   "file_sha256": file_sha256, "file_uri": file_uri, "verified": True,
                                   "unverified_reason": None, "chain": chain}
        answered = []
        for i, item in enumerate(items):
            leaf_hash = "0x" + tree.leaf_hashes[i].hex()
            self.deliveries[leaf_hash] = {
                "id": leaf_hash, "kind": "batched", "leaf_hash": leaf_hash, "batch_root": root, "leaf_index": i,
                "counted": True, "refused_reason": None, "commitment_id": int(item["commitment_id"]),
                "quantity": str(item["quantity"]), "delivered_at": int(item["delivered_at"]), "note": item["note"],
                "evidence_uri": item["evidence_uri"], "external_ref": item["external_ref"], "asset_ref": item["asset_ref"],
                "evidence": [{"sha256": h, "stored": h in self.evidence} for h in item["evidence_hashes"]],
                "revocation": None, "recorded": chain,
            }
            answered.append({"leaf_hash": leaf_hash, "leaf_index": i, "commitment_id": int(item["commitment_id"]),
                             "external_ref": item["external_ref"]})
        return self.ok({"root": root, "file_sha256": file_sha256, "file_uri": file_uri, "leaf_count": len(leaves),
                        "leaves": answered, "transaction_hash": tx["tx_hash"], "block_number": tx["block_number"],
                        "gas_used": tx["gas_used"]}, 201)

    def get_batch(self, request, root):
        if root not in self.batches:
            return self.problem(404, "not-found", f"no batch {root}")
        return self.ok(self.batches[root])

    def revoke_leaf(self, request, root, leaf_hash):
        if self.caller(request) is None:
            return self.problem(401, "unauthorized", "missing or unknown token")
        d = self.deliveries.get(leaf_hash)
        if root not in self.batches or d is None or d.get("batch_root") != root:
            return self.problem(404, "not-found", f"no leaf {leaf_hash} in batch {root}")
        if d["revocation"] is not None:
            return self.problem(409, "delivery-already-revoked", "already revoked")
        tx = self.tx(request.url.path, 1)
        d["revocation"] = {"reason": json.loads(request.content)["reason"], "chain": self.chain_ref(tx)}
        return self.ok({"leaf_hash": leaf_hash, "commitment_id": d["commitment_id"], "tx": tx}, 201)

    # -------------------------------------------------------------- views for assertions

    def counted_sums(self, municipality_id):
        sums = {}
        for c in self.commitments.values():
            if c["municipality_id"] == municipality_id:
                sums[c["external_ref"]] = int(self.summary(c)["delivered_quantity"])
        return sums

    def delivery_refs(self):
        """``(commitment ref, delivery ref)`` of every recorded delivery, sorted (repeats kept)."""
        refs = {c["id"]: c["external_ref"] for c in self.commitments.values()}
        return sorted((refs[d["commitment_id"]], d["external_ref"]) for d in self.deliveries.values())


@pytest.fixture()
def fake_api() -> FakeLedgerApi:
    return FakeLedgerApi()


@contextmanager
def served_over_http(fake: FakeLedgerApi, port: int):
    """Serve ``fake`` over real HTTP on ``127.0.0.1:port`` (a thread), for an importer run in a
    subprocess; yields the base URL. Requests are handled one at a time, as the fake is not
    thread-safe."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self):
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            request = httpx.Request(self.command, f"http://127.0.0.1:{port}{self.path}",
                                    headers=list(self.headers.items()), content=body)
            with lock:
                response = fake.handle(request)
            content = response.content
            self.send_response(response.status_code)
            for name, value in response.headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = _serve

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def mapping_paths() -> dict[str, Path]:
    """The shipped mapping files by short name (``baarn``, ``chile``)."""
    return {"baarn": BAARN_MAPPING, "chile": CHILE_MAPPING}
