"""A delivery batch with evidence files (multipart/form-data): the same guarantees as a single
delivery's files. Stored only when the batch is recorded (or its outcome is unknown), every
file then fetchable at ``GET /api/v1/evidence/{sha256}``; a refused batch, an uncited, empty
or repeated file leaves the store and the chain as they were.

Every test registers the commitments it needs (its own external refs) and brings its own
file contents, so each runs alone and in any order.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.deps import get_chain
from ledger.chain import LedgerChain
from ledger.errors import ChainUnavailableError, ContractRevertError, TransactionFailedError
from ledger.evidence import STAGING_DIR, STAGING_LOCK
from tests.api.helpers import DUE_2030, MAX_EVIDENCE_BYTES, PROMISED, Tokens, assert_problem

DELIVERED_AT = 1_736_938_800  # 2025-01-15T11:00:00Z
BATCH = "/api/v1/staff/deliveries/batch"
ELSEWHERE = "0x" + "e7" * 32  # a document published elsewhere, cited by hash only


def sha(content: bytes) -> str:
    return "0x" + hashlib.sha256(content).hexdigest()


def stored(app: FastAPI) -> list[str]:
    """Every name in the evidence folder, the staging area excluded."""
    return sorted(p.name for p in Path(app.state.evidence_store.directory).iterdir() if p.name != STAGING_DIR)


def staged(app: FastAPI) -> list[str]:
    staging = Path(app.state.evidence_store.directory) / STAGING_DIR
    return sorted(str(p) for p in staging.rglob("*") if p.is_file() and p.name != STAGING_LOCK)


def register(client: TestClient, token: str, *refs: str) -> list[int]:
    """Register one commitment per ref (Baarn unless the token says otherwise); their ids."""
    items = [{"external_ref": ref, "title": f"Belofte {ref}", "target_quantity": "10", "unit": "stuks",
              "promised_at": PROMISED, "due_date": DUE_2030} for ref in refs]
    response = client.post("/api/v1/staff/commitments/batch", json={"commitments": items}, headers=Tokens.header(token))
    assert response.status_code == 201, response.text
    return response.json()["commitment_ids"]


def item(commitment_id: int, hashes: list[str], **changes: Any) -> dict[str, Any]:
    return {"commitment_id": commitment_id, "quantity": "2", "delivered_at": DELIVERED_AT,
            "evidence_sha256": hashes, **changes}


def post_batch(client: TestClient, token: str, items: list[dict], files: list[tuple[str, bytes, str]]) -> Any:
    """The batch as multipart/form-data: ``deliveries`` as JSON text, then the files."""
    parts: list[tuple[str, Any]] = [("deliveries", (None, json.dumps(items).encode(), None))]
    parts += [("evidence", file) for file in files]
    return client.post(BATCH, files=parts, headers=Tokens.header(token))


class FailingMulticall:
    """The module's chain client whose ``send_multicall`` raises ``exc`` (reads go through)."""

    def __init__(self, chain: LedgerChain, exc: BaseException) -> None:
        self._chain = chain
        self._exc = exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain, name)

    def send_multicall(self, *_args: Any, **_kwargs: Any) -> Any:
        raise self._exc

    build_multicall = send_multicall  # the write outbox's estimate: nothing journaled


@pytest.fixture()
def settled(app: FastAPI) -> Any:
    """After the test: nothing left staged, and no chain override."""
    yield
    app.dependency_overrides.clear()
    assert staged(app) == []


# ------------------------------------------------------------------ recorded: every file stored


def test_a_recorded_batch_stores_every_file_and_each_can_be_fetched(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, settled: None
) -> None:
    first, second = register(client, tokens.baarn, "be-ok-1", "be-ok-2")
    report = b"%PDF-1.4 rapport fietspaden 2025\n"
    photo = b"\x89PNG\r\n\x1a\n foto van de oplevering"
    items = [
        item(first, [sha(report)], external_ref="lev-a", note="Eerste oplevering"),
        item(second, [sha(photo), ELSEWHERE], external_ref="lev-b"),
        item(first, [sha(report), sha(photo)], external_ref="lev-c", quantity="3"),  # one file, two items
    ]
    before = stored(app)
    response = post_batch(client, tokens.baarn, items,
                          [("rapport.pdf", report, "application/pdf"), ("foto.png", photo, "image/png")])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["delivery_ids"] == [first * 1_000_000 + 1, second * 1_000_000 + 1, first * 1_000_000 + 2]
    assert body["tx"]["block_number"] == chain.head_block_number()
    assert stored(app) == sorted(before + [sha(report)[2:], sha(report)[2:] + ".json", sha(photo)[2:], sha(photo)[2:] + ".json"])
    for content, media_type in ((report, "application/pdf"), (photo, "image/png")):
        fetched = client.get(f"/api/v1/evidence/{sha(content)}")
        assert fetched.status_code == 200
        assert fetched.content == content
        assert fetched.headers["content-type"] == media_type
    assert client.get(f"/api/v1/evidence/{ELSEWHERE}").status_code == 404
    index()
    deliveries = client.get(f"/api/v1/commitments/{first}").json()["deliveries"]
    assert [(d["external_ref"], d["quantity"], [(e["sha256"], e["stored"]) for e in d["evidence"]]) for d in deliveries] == [
        ("lev-a", "2", [(sha(report), True)]),
        ("lev-c", "3", [(sha(report), True), (sha(photo), True)]),
    ]
    (other,) = client.get(f"/api/v1/commitments/{second}").json()["deliveries"]
    assert [(e["sha256"], e["stored"]) for e in other["evidence"]] == [(sha(photo), True), (ELSEWHERE, False)]
    assert {d["recorded"]["tx_hash"] for d in [*deliveries, other]} == {body["tx"]["tx_hash"]}


def test_a_multipart_batch_without_files_cites_by_hash_as_the_json_form_does(
    app: FastAPI, client: TestClient, tokens: Tokens, settled: None
) -> None:
    (commitment,) = register(client, tokens.baarn, "be-nofile")
    before = stored(app)
    response = post_batch(client, tokens.baarn, [item(commitment, [ELSEWHERE])], [])
    assert response.status_code == 201, response.text
    assert response.json()["delivery_ids"] == [commitment * 1_000_000 + 1]
    assert stored(app) == before


# ------------------------------------------------------------------ refused: nothing stored


@pytest.mark.parametrize(
    ("refused", "status", "slug", "member"),
    [
        pytest.param("duplicate-ref", 409, "duplicate-delivery-ref", "existing_delivery_id", id="409-duplicate-ref"),
        pytest.param("unknown-commitment", 404, "not-found", None, id="404-unknown-commitment"),
        pytest.param("contract-text-too-long", 422, "contract-rejected", "contract_error", id="422-contract-rejected"),
    ],
)
def test_a_refused_item_refuses_the_batch_names_its_index_and_stores_no_file(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, settled: None,
    refused: str, status: int, slug: str, member: str | None,
) -> None:
    (commitment,) = register(client, tokens.baarn, f"be-refused-{refused}")
    kept = f"already recorded ({refused})\n".encode()
    done = post_batch(client, tokens.baarn, [item(commitment, [sha(kept)], external_ref="lev-1")],
                      [("kept.txt", kept, "text/plain")])
    assert done.status_code == 201, done.text
    new = f"a new file that only the refused batch brings ({refused})\n".encode()
    other = f"another new file ({refused})\n".encode()
    items = [item(commitment, [sha(new)], external_ref="lev-2"), item(commitment, [sha(other)], external_ref="lev-3",
                                                                      note="kort")]
    if refused == "duplicate-ref":
        items[1]["external_ref"] = "lev-1"
    elif refused == "unknown-commitment":
        items[1]["commitment_id"] = 999_999
    else:  # the contract refuses the note of item 1 (its length is 4 bytes)
        failure = ContractRevertError("LedgerTextTooLong", {"field": "note", "length": 4, "max_length": 3})
        app.dependency_overrides[get_chain] = lambda: FailingMulticall(chain, failure)
    before = (chain.head_block_number(), stored(app))
    response = post_batch(client, tokens.baarn, items, [("new.txt", new, "text/plain"), ("other.txt", other, "text/plain")])
    body = assert_problem(response, status, slug)
    assert body["index"] == 1
    if refused == "duplicate-ref":
        assert body["existing_delivery_id"] == commitment * 1_000_000 + 1
    elif refused == "unknown-commitment":
        assert body["detail"] == "No commitment 999999."
    else:
        assert body["contract_error"] == {"name": "LedgerTextTooLong", "args": {"field": "note", "length": 4, "max_length": 3}}
    assert (chain.head_block_number(), stored(app)) == before
    assert client.get(f"/api/v1/evidence/{sha(new)}").status_code == 404
    assert client.get(f"/api/v1/evidence/{sha(other)}").status_code == 404
    assert client.get(f"/api/v1/evidence/{sha(kept)}").content == kept


def test_a_batch_with_another_municipalitys_commitment_is_403_with_its_index_and_stores_nothing(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, settled: None
) -> None:
    (ours,) = register(client, tokens.baarn, "be-ours")
    (theirs,) = register(client, tokens.utrecht, "be-theirs")
    index()
    content = b"evidence of a batch that reaches into Utrecht\n"
    before = (chain.head_block_number(), stored(app))
    response = post_batch(client, tokens.baarn, [item(ours, [sha(content)]), item(theirs, [sha(content)])],
                          [("mixed.txt", content, "text/plain")])
    body = assert_problem(response, 403, "forbidden")
    assert body["index"] == 1
    assert (chain.head_block_number(), stored(app)) == before


@pytest.mark.parametrize(
    ("failure", "status", "slug"),
    [
        pytest.param(TransactionFailedError("0x" + "00" * 32, "reverted"), 502, "transaction-failed", id="502-reverted"),
        pytest.param(ChainUnavailableError("http://node", "eth_estimateGas: connection refused"), 503, "chain-unavailable",
                     id="503-before-sending"),
    ],
)
def test_a_batch_that_surely_wrote_nothing_discards_its_files(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, settled: None,
    failure: Exception, status: int, slug: str,
) -> None:
    (commitment,) = register(client, tokens.baarn, f"be-failed-{slug}")
    content = f"sent with a batch that failed ({failure})\n".encode()
    app.dependency_overrides[get_chain] = lambda: FailingMulticall(chain, failure)
    before = stored(app)
    response = post_batch(client, tokens.baarn, [item(commitment, [sha(content)])], [("failed.txt", content, "text/plain")])
    assert_problem(response, status, slug)
    assert stored(app) == before
    assert client.get(f"/api/v1/evidence/{sha(content)}").status_code == 404


# ------------------------------------------------------------------ checked before anything is sent


def test_a_file_no_item_cites_is_422_naming_it_and_nothing_is_sent(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, settled: None
) -> None:
    (commitment,) = register(client, tokens.baarn, "be-uncited")
    cited, uncited = b"cited by the item\n", b"cited by nobody\n"
    before = (chain.head_block_number(), stored(app))
    response = post_batch(client, tokens.baarn, [item(commitment, [sha(cited)])],
                          [("cited.txt", cited, "text/plain"), ("los.txt", uncited, "text/plain")])
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"] == [{
        "loc": ["body", "evidence", 1],
        "msg": f"evidence file los.txt (SHA-256 {sha(uncited)}) is cited by no delivery of the batch; "
               "list its hash in the evidence_sha256 of the deliveries it proves",
        "type": "evidence_uncited",
    }]
    assert (chain.head_block_number(), stored(app)) == before


def test_an_empty_file_is_422_and_nothing_is_sent(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, settled: None
) -> None:
    (commitment,) = register(client, tokens.baarn, "be-empty")
    good = b"a good file beside an empty one\n"
    before = (chain.head_block_number(), stored(app))
    response = post_batch(client, tokens.baarn, [item(commitment, [sha(good), sha(b"")])],
                          [("goed.txt", good, "text/plain"), ("leeg.txt", b"", "text/plain")])
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"] == [{"loc": ["body", "evidence", 1], "msg": "evidence file leeg.txt is empty", "type": "evidence_empty"}]
    assert (chain.head_block_number(), stored(app)) == before


def test_a_file_given_twice_is_422_and_nothing_is_sent(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, settled: None
) -> None:
    (commitment,) = register(client, tokens.baarn, "be-twice")
    content = b"uploaded twice under two names\n"
    before = (chain.head_block_number(), stored(app))
    response = post_batch(client, tokens.baarn, [item(commitment, [sha(content)])],
                          [("a.txt", content, "text/plain"), ("b.txt", content, "text/plain")])
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"] == [{
        "loc": ["body", "evidence", 1],
        "msg": f"evidence file b.txt has the same content as evidence file a.txt (SHA-256 {sha(content)}); send each document once",
        "type": "evidence_duplicate",
    }]
    assert (chain.head_block_number(), stored(app)) == before


def test_an_invalid_item_of_a_multipart_batch_is_named_as_in_the_json_form(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, settled: None
) -> None:
    (commitment,) = register(client, tokens.baarn, "be-invalid")
    content = b"a file of an invalid batch\n"
    before = (chain.head_block_number(), stored(app))
    response = post_batch(client, tokens.baarn, [item(commitment, [sha(content)]), item(commitment, [sha(content)], quantity="0")],
                          [("x.txt", content, "text/plain")])
    body = assert_problem(response, 422, "validation-error")
    assert [(e["loc"], e["type"]) for e in body["errors"]] == [(["body", "deliveries", 1, "quantity"], "quantity_range")]
    not_json = client.post(BATCH, files=[("deliveries", (None, b"[{", None))], headers=Tokens.header(tokens.baarn))
    assert [(e["loc"], e["type"]) for e in assert_problem(not_json, 422, "validation-error")["errors"]] == [
        (["body", "deliveries", 2], "json_invalid")
    ]
    missing = client.post(BATCH, files=[("evidence", ("x.txt", content, "text/plain"))], headers=Tokens.header(tokens.baarn))
    assert [(e["loc"], e["type"]) for e in assert_problem(missing, 422, "validation-error")["errors"]] == [
        (["body", "deliveries"], "missing")
    ]
    assert (chain.head_block_number(), stored(app)) == before


def test_a_file_over_the_limit_is_413_and_so_is_a_request_over_64_mib(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, settled: None
) -> None:
    (commitment,) = register(client, tokens.baarn, "be-large")
    large = b"x" * (MAX_EVIDENCE_BYTES + 1)
    before = (chain.head_block_number(), stored(app))
    body = assert_problem(post_batch(client, tokens.baarn, [item(commitment, [sha(large)])],
                                     [("groot.bin", large, "application/octet-stream")]), 413, "payload-too-large")
    assert body["max_bytes"] == MAX_EVIDENCE_BYTES
    declared = client.post(BATCH, content=b"--x--", headers={
        **Tokens.header(tokens.baarn), "Content-Type": "multipart/form-data; boundary=x",
        "Content-Length": str(64 * 1024 * 1024 + 1)})
    assert assert_problem(declared, 413, "payload-too-large")["detail"] == "The request body exceeds the limit of 67108864 bytes."
    other_type = client.post(BATCH, content=b"deliveries=[]", headers={
        **Tokens.header(tokens.baarn), "Content-Type": "text/plain"})
    assert_problem(other_type, 415, "unsupported-media-type")
    assert (chain.head_block_number(), stored(app)) == before


# ------------------------------------------------------------------ outcome unknown: stored


def test_a_journaled_batch_stores_its_files_before_it_is_confirmed(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, settled: None,
) -> None:
    # Journaled (202), the batch is owed to the chain, which will cite the files: stored at
    # once, served as pending until the index cites them.
    (commitment,) = register(client, tokens.baarn, "be-journaled")
    one, two = b"journaled batch, file one\n", b"journaled batch, file two\n"
    before = stored(app)
    parts: list[tuple[str, Any]] = [("deliveries", (None, json.dumps(
        [item(commitment, [sha(one)]), item(commitment, [sha(two), sha(one)])]).encode(), None))]
    parts += [("evidence", ("een.txt", one, "text/plain")), ("evidence", ("twee.txt", two, "text/plain"))]
    response = client.post(BATCH, files=parts, headers={**Tokens.header(tokens.baarn), "Prefer": ""})
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/api/v1/staff/writes/{response.json()['write']['id']}"
    assert stored(app) == sorted(before + [sha(one)[2:], sha(one)[2:] + ".json", sha(two)[2:], sha(two)[2:] + ".json"])
    fetched = client.get(f"/api/v1/evidence/{sha(two)}")
    assert (fetched.content, fetched.headers["x-ledger-citation"]) == (two, "pending")
    final = app.state.reconciler.wait_for(response.json()["write"]["id"], 30)
    assert final is not None and final["state"] == "confirmed"
