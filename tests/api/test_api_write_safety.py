"""Refused writes leave nothing behind: no transaction (the chain head does not move), the
evidence store as it was and nothing staged; refusals read as sentences for people.

One ledger per module; a test that needs records gets fresh ones from a fixture: ``veilig``
is a Baarn commitment like ``COMMITMENT`` (its own external reference) with a delivery
``lev-1`` citing the stored file KEPT and a delivery ``lev-2`` citing CITED by hash only (so
the index cites a file this server does not have). No test relies on another's records.
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.deps import get_chain
from api.main import create_app
from api.problems import CONTRACT_MESSAGES, UNKNOWN_CONTRACT_MESSAGE, contract_message, problem_for
from ledger.chain import LedgerChain
from ledger.errors import ContractRevertError, TransactionFailedError
from ledger.events import snake
from ledger.evidence import STAGING_DIR, STAGING_LOCK
from ledger.settings import Settings
from tests.api.helpers import DUE_2030, PROMISED, Made, Tokens, assert_problem, register, stage_and_die, unique_ref

REPO_ROOT = Path(__file__).resolve().parents[2]
DELIVERED_AT = "1736938800"
COMMITMENT = {"external_ref": "veilig-001", "title": "Veilige schoolroutes", "target_quantity": "100",
              "unit": "routes", "promised_at": PROMISED, "due_date": DUE_2030}
KEPT = b"%PDF-1.4 stored by delivery 1\n"
CITED = b"published elsewhere, cited by hash by delivery 2\n"
NEW = b"a new file that only a refused delivery brings\n"
OTHER = b"another new file\n"
ELSEWHERE = "0x" + "e2" * 32
UNKNOWN = 99_999
"""A commitment id no test of this module reaches."""


def sha(content: bytes) -> str:
    return "0x" + hashlib.sha256(content).hexdigest()


def auth(token: str) -> dict[str, str]:
    return Tokens.header(token)


def stored_files(app: FastAPI) -> list[str]:
    """Every name in the evidence folder (files, media type records, leftovers), the staging
    area excluded."""
    return sorted(p.name for p in Path(app.state.evidence_store.directory).iterdir() if p.name != STAGING_DIR)


def staged_files(app: FastAPI) -> list[str]:
    """Every file in the staging area but the lock files (empty once each write is settled)."""
    staging = Path(app.state.evidence_store.directory) / STAGING_DIR
    return sorted(str(p.relative_to(staging)) for p in staging.rglob("*") if p.is_file() and p.name != STAGING_LOCK)


def snapshot(app: FastAPI, chain: LedgerChain) -> tuple[int, list[str], list[str]]:
    """(chain head, evidence store, staged files): what a refused write must leave as it was."""
    return chain.head_block_number(), stored_files(app), staged_files(app)


class FailingChain:
    """The module's chain client, whose ``send`` and the write outbox's ``build_call`` /
    ``build_multicall`` (the gas estimate, before anything is journaled) raise ``exc``
    (reads go through)."""

    def __init__(self, chain: LedgerChain, exc: BaseException) -> None:
        self._chain = chain
        self._exc = exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain, name)

    def send(self, *_args: Any, **_kwargs: Any) -> Any:
        raise self._exc

    build_call = build_multicall = send


def deliver(client: TestClient, token: str, commitment_id: int, files: list | None = None, **data: Any) -> Any:
    form = {"quantity": "1", "delivered_at": DELIVERED_AT, **data}
    return client.post(f"/api/v1/staff/commitments/{commitment_id}/deliveries", data=form, files=files, headers=auth(token))


class Veilig:
    """A commitment like ``COMMITMENT`` with delivery ``lev-1`` (KEPT stored) and ``lev-2`` (CITED by hash)."""

    def __init__(self, made: Made, kept_delivery: int, cited_delivery: int) -> None:
        self.id, self.external_ref = made.id, made.external_ref
        self.kept_delivery, self.cited_delivery = kept_delivery, cited_delivery


def make_veilig(client: TestClient, tokens: Tokens, index: Any) -> Veilig:
    index()
    made = register(client, tokens.baarn, **{**COMMITMENT, "external_ref": unique_ref("veilig")})
    first = deliver(client, tokens.baarn, made.id, external_ref="lev-1",
                    files=[("evidence", ("kept.pdf", KEPT, "application/pdf"))])
    assert first.status_code == 201, first.text
    second = deliver(client, tokens.baarn, made.id, external_ref="lev-2", evidence_sha256=sha(CITED))
    assert second.status_code == 201, second.text
    index()
    return Veilig(made, first.json()["delivery_id"], second.json()["delivery_id"])


@pytest.fixture()
def veilig(client: TestClient, tokens: Tokens, index: Any) -> Veilig:
    return make_veilig(client, tokens, index)


# ------------------------------------------------------------------ setup


def test_setup_a_commitment_with_a_stored_and_a_cited_file(
    app: FastAPI, client: TestClient, tokens: Tokens, index: Any
) -> None:
    files = stored_files(app)
    made = make_veilig(client, tokens, index)
    assert (made.kept_delivery, made.cited_delivery) == (made.id * 1_000_000 + 1, made.id * 1_000_000 + 2)
    assert stored_files(app) == sorted(set(files) | {sha(KEPT)[2:], sha(KEPT)[2:] + ".json"})
    assert client.get(f"/api/v1/evidence/{sha(CITED)}").status_code == 404


# ------------------------------------------------------------------ 1. duplicate evidence


@pytest.mark.parametrize(
    ("data", "files", "loc", "msg"),
    [
        pytest.param(
            {},
            [("evidence", ("a.pdf", NEW, "application/pdf")), ("evidence", ("kopie.pdf", NEW, "application/pdf"))],
            ["body", "evidence", 1],
            f"evidence file kopie.pdf has the same content as evidence file a.pdf (SHA-256 {sha(NEW)}); cite each document once",
            id="same-file-twice",
        ),
        pytest.param(
            {"evidence_sha256": [ELSEWHERE, ELSEWHERE.upper()[2:]]},
            None,
            ["body", "evidence_sha256", 1],
            f"evidence_sha256 {ELSEWHERE} is given twice; cite each document once",
            id="same-hash-twice",
        ),
        pytest.param(
            {"evidence_sha256": [ELSEWHERE, sha(NEW)]},
            [("evidence", ("b.png", NEW, "image/png"))],
            ["body", "evidence_sha256", 1],
            f"evidence_sha256 {sha(NEW)} is the SHA-256 of evidence file b.png; cite each document once",
            id="file-and-its-hash",
        ),
    ],
)
def test_duplicate_evidence_is_a_validation_problem_and_nothing_is_written(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, commitment: Made, data: dict, files: list | None,
    loc: list, msg: str,
) -> None:
    before = snapshot(app, chain)
    body = assert_problem(deliver(client, tokens.baarn, commitment.id, files=files, **data), 422, "validation-error")
    assert body["errors"] == [{"loc": loc, "msg": msg, "type": "evidence_duplicate"}]
    assert body["detail"] == msg
    assert snapshot(app, chain) == before


def test_the_contracts_duplicate_evidence_error_is_a_422_duplicate_evidence_problem() -> None:
    exc = ContractRevertError("LedgerDuplicateEvidenceHash", {"index": 2, "evidence_hash": "0x" + "ab" * 32})
    problem = problem_for(exc)
    assert (problem.status, problem.slug) == (422, "duplicate-evidence")
    assert problem.detail == (
        f"Evidence hash 0x{'ab' * 32} is given twice in this delivery (again as hash number 3): cite each document once."
    )
    assert problem.extensions == {
        "contract_error": {"name": "LedgerDuplicateEvidenceHash", "args": {"index": 2, "evidence_hash": "0x" + "ab" * 32}},
    }


# ------------------------------------------------------------------ 3. empty files


@pytest.mark.parametrize(
    "files",
    [
        [("evidence", ("leeg.txt", b"", "text/plain"))],
        [("evidence", ("fine.txt", OTHER, "text/plain")), ("evidence", ("leeg.txt", b"", "text/plain"))],
    ],
    ids=["alone", "after-a-good-file"],
)
def test_an_empty_evidence_file_is_refused_and_nothing_is_written(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, commitment: Made, files: list
) -> None:
    before = snapshot(app, chain)
    body = assert_problem(deliver(client, tokens.baarn, commitment.id, files=files), 422, "validation-error")
    assert body["errors"] == [
        {"loc": ["body", "evidence", len(files) - 1], "msg": "evidence file leeg.txt is empty", "type": "evidence_empty"}
    ]
    assert body["detail"] == "evidence file leeg.txt is empty"
    assert snapshot(app, chain) == before


# ------------------------------------------------------------------ 2. refusals leave the store as it was


REFUSALS = [  # on the ``veilig`` commitment, or on an unknown one
    pytest.param("baarn", "veilig", {"external_ref": "lev-1"}, None, 409, "duplicate-delivery-ref", id="409-duplicate-ref"),
    pytest.param("baarn_stranger", "veilig", {}, None, 403, "forbidden", id="403-not-registrar"),
    pytest.param("baarn", "unknown", {}, None, 404, "not-found", id="404-unknown-commitment"),
    pytest.param("baarn", "veilig", {}, ContractRevertError("LedgerZeroEvidenceHash", {"index": 0}), 422,
                 "contract-rejected", id="422-contract-rejected"),
    pytest.param("baarn", "veilig", {}, TransactionFailedError("0x" + "00" * 32, "reverted"), 502, "transaction-failed",
                 id="502-reverted"),
    pytest.param("baarn", "veilig", {}, "dead-node", 503, "chain-unavailable", id="503-chain-unavailable"),
]


@pytest.mark.parametrize(("who", "target", "data", "failure", "status", "slug"), REFUSALS)
def test_a_refused_delivery_leaves_the_store_as_it_was_and_nothing_staged(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, veilig: Veilig,
    who: str, target: str, data: dict, failure: Any, status: int, slug: str,
) -> None:
    commitment_id = veilig.id if target == "veilig" else UNKNOWN
    if failure == "dead-node":
        failing: Any = LedgerChain("http://127.0.0.1:9", chain.deployment, request_timeout_seconds=2)
    elif failure is not None:
        failing = FailingChain(chain, failure)
    if failure is not None:
        app.dependency_overrides[get_chain] = lambda: failing
    before = snapshot(app, chain)
    files = [("evidence", ("kept.pdf", KEPT, "application/pdf")), ("evidence", ("new.txt", NEW, "text/plain")),
             ("evidence", ("other.txt", OTHER, "text/plain"))]
    try:
        response = deliver(client, getattr(tokens, who), commitment_id, files=files, **data)
    finally:
        app.dependency_overrides.clear()
    assert_problem(response, status, slug)
    assert snapshot(app, chain) == before
    assert staged_files(app) == []
    assert client.get(f"/api/v1/evidence/{sha(KEPT)}").content == KEPT
    assert client.get(f"/api/v1/evidence/{sha(NEW)}").status_code == 404


def test_a_refused_delivery_stores_nothing_even_a_file_the_chain_already_cites(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, veilig: Veilig
) -> None:
    before = snapshot(app, chain)
    response = deliver(client, tokens.baarn, veilig.id, external_ref="lev-1",
                       files=[("evidence", ("cited.txt", CITED, "text/plain"))])
    assert_problem(response, 409, "duplicate-delivery-ref")
    assert snapshot(app, chain) == before
    assert client.get(f"/api/v1/evidence/{sha(CITED)}").status_code == 404


def test_a_recorded_delivery_promotes_its_files_into_the_store(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, commitment: Made
) -> None:
    _head, files, _staged = snapshot(app, chain)
    content = b"recorded, so stored\n"
    response = deliver(client, tokens.baarn, commitment.id, files=[("evidence", ("ok.csv", content, "text/csv"))],
                       evidence_sha256=ELSEWHERE)
    assert response.status_code == 201, response.text
    assert response.json()["evidence_sha256"] == [sha(content), ELSEWHERE]
    assert stored_files(app) == sorted(files + [sha(content)[2:], sha(content)[2:] + ".json"])
    assert staged_files(app) == []
    fetched = client.get(f"/api/v1/evidence/{sha(content)}")
    assert fetched.content == content and fetched.headers["content-type"].startswith("text/csv")
    index()


def test_a_journaled_delivery_stores_its_files_before_it_is_confirmed(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, commitment: Made
) -> None:
    # Once journaled (202, before it is sent or mined) the write outbox owes the delivery to
    # the chain, which will cite the file: it is stored at once. The reconciler is stopped
    # while the request is answered: running, it could send and confirm the write (automine)
    # before ``wait=0`` reads it back, and the answer would be a 201 (seen on a loaded machine).
    content = b"journaled, so stored before it is confirmed\n"
    _head, files, _staged = snapshot(app, chain)
    form = {"quantity": "1", "delivered_at": DELIVERED_AT}
    app.state.reconciler.stop()
    try:
        response = client.post(f"/api/v1/staff/commitments/{commitment.id}/deliveries", data=form,
                               files=[("evidence", ("late.txt", content, "text/plain"))],
                               headers={**auth(tokens.baarn), "Prefer": "wait=0"})
        assert response.status_code == 202, response.text
        assert response.json()["write"]["result"] is None
        assert sha(content)[2:] in stored_files(app)
        assert staged_files(app) == []
    finally:
        app.state.reconciler.start()
    write_id = response.json()["write"]["id"]
    final = app.state.reconciler.wait_for(write_id, 30)
    assert final is not None and final["state"] == "confirmed"


@pytest.mark.parametrize("refused", ["first", "last"])
def test_concurrent_deliveries_of_one_file_one_refused_one_recorded_leave_it_stored(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, veilig: Veilig, refused: str
) -> None:
    content = f"uploaded by two requests at once, refused {refused}\n".encode()
    recorded_ref = f"gelijktijdig-{refused}"
    both_staged = threading.Barrier(2, timeout=30)
    done = {"lev-1": threading.Event(), recorded_ref: threading.Event()}
    first, second = ("lev-1", recorded_ref) if refused == "first" else (recorded_ref, "lev-1")

    class Gate:
        """The module's chain: each send waits until both requests have staged their file,
        then the one that goes second waits until the other request has finished."""

        def __getattr__(self, name: str) -> Any:
            return getattr(chain, name)

        def send(self, function: str, args: Any, private_key: str) -> Any:
            both_staged.wait()
            if args[1][5] == second:  # DeliveryInput.externalRef
                assert done[first].wait(30)
            return chain.send(function, args, private_key)

    responses: dict[str, Any] = {}

    def post(ref: str) -> None:
        try:
            responses[ref] = deliver(client, tokens.baarn, veilig.id, external_ref=ref,
                                     files=[("evidence", ("same.txt", content, "text/plain"))])
        finally:
            done[ref].set()

    app.dependency_overrides[get_chain] = lambda: Gate()
    _head, files, _staged = snapshot(app, chain)
    threads = [threading.Thread(target=post, args=(ref,)) for ref in ("lev-1", recorded_ref)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        app.dependency_overrides.clear()
    assert_problem(responses["lev-1"], 409, "duplicate-delivery-ref")
    assert responses[recorded_ref].status_code == 201, responses[recorded_ref].text
    assert stored_files(app) == sorted(files + [sha(content)[2:], sha(content)[2:] + ".json"])
    assert staged_files(app) == []
    assert client.get(f"/api/v1/evidence/{sha(content)}").content == content
    index()


def test_start_up_promotes_the_files_a_killed_server_left_staged(
    app: FastAPI, client: TestClient, api_settings: Settings
) -> None:
    content = b"staged by a server killed before its delivery was settled\n"
    stage_and_die(Path(app.state.evidence_store.directory), content, "text/plain")
    assert client.get(f"/api/v1/evidence/{sha(content)}").status_code == 404
    with TestClient(create_app(api_settings)):  # another server starting on the same store
        pass
    assert client.get(f"/api/v1/evidence/{sha(content)}").content == content
    assert staged_files(app) == []


# ------------------------------------------------------------------ 4. text validation


BIDI = "bidirectional override and isolate characters can disguise text and are not allowed"


@pytest.mark.parametrize(
    ("field", "value", "error", "msg"),
    [
        ("title", "Veilig\u202e", "string_bidi_control", f"title contains U+202E (RIGHT-TO-LEFT OVERRIDE): {BIDI}"),
        ("external_ref", "ref-\u2066x", "string_bidi_control", f"external_ref contains U+2066 (LEFT-TO-RIGHT ISOLATE): {BIDI}"),
        ("description", "tekst \u202a", "string_bidi_control", f"description contains U+202A (LEFT-TO-RIGHT EMBEDDING): {BIDI}"),
        ("theme", "Wonen\u2069", "string_bidi_control", f"theme contains U+2069 (POP DIRECTIONAL ISOLATE): {BIDI}"),
        ("unit", "km\n", "string_multiline", "unit contains U+000A (LINE FEED): unit is a single line"),
        ("theme", "a\tb", "string_multiline", "theme contains U+0009 (CHARACTER TABULATION): theme is a single line"),
        ("source_uri", "https://x.example/\r", "string_multiline",
         "source_uri contains U+000D (CARRIAGE RETURN): source_uri is a single line"),
        ("description", "a\x00b", "string_control_character", "description contains U+0000 (NULL), a control character"),
        ("description", "a\x1bb", "string_control_character", "description contains U+001B (ESCAPE), a control character"),
        ("title", "a\x7f", "string_control_character", "title contains U+007F (DELETE), a control character"),
        ("description", "a\x85b", "string_control_character", "description contains U+0085 (NEXT LINE), a control character"),
        ("title", "   ", "string_blank", "title is only whitespace; it needs visible text"),
        ("external_ref", "\u200b", "string_blank", "external_ref is only whitespace; it needs visible text"),
        ("unit", "\t", "string_blank", "unit is only whitespace; it needs visible text"),
    ],
)
def test_bad_characters_in_a_commitment_are_refused_naming_field_and_code_point(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, field: str, value: str, error: str, msg: str
) -> None:
    before = snapshot(app, chain)
    response = client.post("/api/v1/staff/commitments", json={**COMMITMENT, "external_ref": "tekst-1", field: value},
                           headers=auth(tokens.baarn))
    body = assert_problem(response, 422, "validation-error")
    assert body["errors"] == [{"loc": ["body", field], "msg": msg, "type": error}]
    assert body["detail"] == msg
    assert snapshot(app, chain) == before


@pytest.mark.parametrize(
    ("data", "loc", "msg"),
    [
        ({"note": "ok\u202d"}, ["body", "note"], f"note contains U+202D (LEFT-TO-RIGHT OVERRIDE): {BIDI}"),
        ({"note": "\x07"}, ["body", "note"], "note contains U+0007 (ALERT), a control character"),
        ({"evidence_uri": "https://x.example/\n"}, ["body", "evidence_uri"],
         "evidence_uri contains U+000A (LINE FEED): evidence_uri is a single line"),
        ({"external_ref": "lev\x9b"}, ["body", "external_ref"], "external_ref contains U+009B (C1 CONTROL), a control character"),
    ],
)
def test_bad_characters_in_a_delivery_are_refused_and_nothing_is_stored(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, commitment: Made, data: dict, loc: list, msg: str
) -> None:
    before = snapshot(app, chain)
    body = assert_problem(deliver(client, tokens.baarn, commitment.id, files=[("evidence", ("n.txt", NEW, "text/plain"))], **data),
                          422, "validation-error")
    assert body["errors"][0]["loc"] == loc
    assert body["detail"] == msg
    assert snapshot(app, chain) == before


@pytest.mark.parametrize("reason", ["   ", "\n\t", "Omdat\u2067", "a\x00"])
def test_a_reason_needs_visible_text_without_control_characters(
    app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens, veilig: Veilig, reason: str
) -> None:
    before = snapshot(app, chain)
    for path, body in (
        (f"commitments/{veilig.id}/withdrawal", {}),
        (f"deliveries/{veilig.kept_delivery}/revocation", {}),
        (f"commitments/{veilig.id}/amendments", {"expected_amendment_count": 0, "title": "Andere titel"}),
    ):
        response = client.post(f"/api/v1/staff/{path}", json={**body, "reason": reason}, headers=auth(tokens.baarn))
        assert assert_problem(response, 422, "validation-error")["errors"][0]["loc"] == ["body", "reason"]
    assert snapshot(app, chain) == before


def test_line_breaks_and_tabs_are_kept_in_multi_line_texts(client: TestClient, tokens: Tokens, index: Any) -> None:
    body = {**COMMITMENT, "external_ref": unique_ref("veilig"), "description": "Twee routes:\r\n\t- Noord\n\t- Zuid"}
    response = client.post("/api/v1/staff/commitments", json=body, headers=auth(tokens.baarn))
    assert response.status_code == 201, response.text
    index()
    commitment_id = response.json()["commitment_id"]
    assert client.get(f"/api/v1/commitments/{commitment_id}").json()["description"] == body["description"]


# ------------------------------------------------------------------ 5. refusals as sentences


def test_refusals_read_as_sentences_consistently_across_endpoints(
    client: TestClient, chain: LedgerChain, tokens: Tokens, index: Any, veilig: Veilig, commitment: Made, roles: Any
) -> None:
    v = veilig.id
    stranger = roles.stranger.address
    head = chain.head_block_number()
    amendment = {"expected_amendment_count": 0, "title": "t", "reason": "r"}
    cases = [
        # (response, status, slug, detail, contract error name or None for the index's refusal)
        (client.post(f"/api/v1/staff/commitments/{UNKNOWN}/amendments", json=amendment, headers=auth(tokens.baarn)),
         404, "not-found", f"No commitment {UNKNOWN}.", "LedgerUnknownCommitment"),
        (deliver(client, tokens.baarn, UNKNOWN, evidence_sha256=ELSEWHERE),
         404, "not-found", f"No commitment {UNKNOWN}.", "LedgerUnknownCommitment"),
        (client.post(f"/api/v1/staff/commitments/{UNKNOWN}/withdrawal", json={"reason": "r"}, headers=auth(tokens.baarn)),
         404, "not-found", f"No commitment {UNKNOWN}.", "LedgerUnknownCommitment"),
        (client.post("/api/v1/staff/deliveries/99/revocation", json={"reason": "r"}, headers=auth(tokens.baarn)),
         404, "not-found", "No delivery 99.", "LedgerUnknownDelivery"),
        (client.post("/api/v1/staff/commitments", json={**COMMITMENT, "external_ref": "x-1"}, headers=auth(tokens.baarn_stranger)),
         403, "forbidden", f"Account {stranger} is not a registrar of municipality 1.", "LedgerNotRegistrar"),
        (deliver(client, tokens.baarn_stranger, v, evidence_sha256=ELSEWHERE),
         403, "forbidden", f"Account {stranger} is not a registrar of municipality 1.", "LedgerNotRegistrar"),
        (client.post("/api/v1/staff/commitments",  # not an exact repeat (that is the same write: outbox)
                     json={**COMMITMENT, "external_ref": veilig.external_ref, "title": "Een ander plan"},
                     headers=auth(tokens.baarn)),
         409, "duplicate-external-ref",
         f"Municipality 1 already has a commitment with external reference “{veilig.external_ref}”: commitment {v}.",
         "LedgerDuplicateCommitmentRef"),
        (deliver(client, tokens.baarn, v, external_ref="lev-1", evidence_sha256=ELSEWHERE),
         409, "duplicate-delivery-ref",
         f"Commitment {v} already has a delivery with external reference “lev-1”: delivery {veilig.kept_delivery}.",
         "LedgerDuplicateDeliveryRef"),
        (client.post(f"/api/v1/staff/commitments/{v}/amendments",
                     json={"expected_amendment_count": 0, "title": COMMITMENT["title"], "reason": "r"}, headers=auth(tokens.baarn)),
         409, "amendment-changes-nothing", f"This amendment changes nothing: commitment {v} already has this title.", None),
        (client.post(f"/api/v1/staff/commitments/{v}/amendments",
                     json={"expected_amendment_count": 3, "title": "Nieuw", "reason": "r"}, headers=auth(tokens.baarn)),
         409, "stale-amendment-count",
         f"Commitment {v} has 0 amendment(s), not the 3 this amendment expects. "
         "Read it again and send the current count.", "LedgerStaleAmendmentCount"),
    ]
    for response, status, slug, detail, name in cases:
        body = assert_problem(response, status, slug)
        assert body["detail"] == detail, response.request.url
        assert body.get("contract_error", {}).get("name") == name
    assert chain.head_block_number() == head

    # Revoked twice; withdrawn, refused by the contract (not indexed yet) and by the index.
    cited = veilig.cited_delivery
    assert client.post(f"/api/v1/staff/deliveries/{cited}/revocation", json={"reason": "Dubbel"},
                       headers=auth(tokens.baarn)).status_code == 201
    again = assert_problem(client.post(f"/api/v1/staff/deliveries/{cited}/revocation", json={"reason": "Nogmaals"},
                                       headers=auth(tokens.baarn)), 409, "delivery-already-revoked")
    assert again["detail"] == f"Delivery {cited} is already revoked."
    withdrawn = commitment.id
    assert client.post(f"/api/v1/staff/commitments/{withdrawn}/withdrawal", json={"reason": "Geschrapt"},
                       headers=auth(tokens.baarn)).status_code == 201
    by_contract = assert_problem(deliver(client, tokens.baarn, withdrawn, evidence_sha256=ELSEWHERE), 409, "commitment-withdrawn")
    index()
    by_index = assert_problem(deliver(client, tokens.baarn, withdrawn, evidence_sha256=ELSEWHERE), 409, "commitment-withdrawn")
    assert by_contract["detail"] == by_index["detail"] == (
        f"Commitment {withdrawn} is withdrawn: it accepts no amendment or delivery.")
    assert by_contract["contract_error"]["name"] == "LedgerCommitmentWithdrawn"


def test_every_custom_error_of_the_interface_has_a_sentence() -> None:
    source = (REPO_ROOT / "contracts" / "interfaces" / "ICommitmentLedger.sol").read_text(encoding="utf-8")
    samples = {"uint8": 4, "uint32": 3, "uint256": 7, "uint64": 9, "address": "0x" + "11" * 20, "string": "externalRef",
               "bool": True, "bytes32": "0x" + "ab" * 32, "Verdict": 1}
    errors = re.findall(r"^\s*error (\w+)\(([^)]*)\);", source, flags=re.MULTILINE)
    assert len(errors) >= 20
    for name, params in errors:
        args = {snake(p.split()[1]): samples[p.split()[0]] for p in params.split(",") if p.strip()}
        assert name in CONTRACT_MESSAGES, name
        text = contract_message(ContractRevertError(name, args))
        assert text != UNKNOWN_CONTRACT_MESSAGE, name
        assert text[0].isupper() and text.endswith("."), text
        assert "Ledger" not in text and "=" not in text, text
    text_error = ContractRevertError("LedgerTextTooLong", {"field": "externalRef", "length": 70, "max_length": 64})
    assert contract_message(text_error) == "The text external_ref is 70 bytes long (UTF-8): at most 64 are allowed."
    due = ContractRevertError("LedgerInvalidDueDate", {"due_date": 1_655_071_200, "promised_at": 1_655_071_200,
                                                       "max_date": 253_402_300_800})
    assert contract_message(due) == (
        "Due date 1655071200 (2022-06-12T22:00:00Z) is not valid: it must be after the promise date 1655071200 "
        "(2022-06-12T22:00:00Z) and before 253402300800 (+10000-01-01T00:00:00Z), Unix seconds."
    )


def test_unknown_municipality_is_contract_rejected_with_a_sentence(client: TestClient, roles: Any, api_settings: Any) -> None:
    from ledger.staff import issue_token

    token = issue_token(api_settings.staff_keys_file, 3, roles.registrar.key)
    response = client.post("/api/v1/staff/commitments", json={**COMMITMENT, "external_ref": "m3"}, headers=auth(token))
    body = assert_problem(response, 422, "contract-rejected")
    assert body["detail"] == "No municipality 3."
    assert body["contract_error"] == {"name": "LedgerUnknownMunicipality", "args": {"municipality_id": 3}}


def test_a_body_that_is_not_json_says_why_and_where(client: TestClient, tokens: Tokens) -> None:
    response = client.post("/api/v1/staff/commitments", content=b'{"title": ',
                           headers={**auth(tokens.baarn), "Content-Type": "application/json"})
    body = assert_problem(response, 422, "validation-error")
    assert body["detail"] == "Body is not valid JSON: Expecting value at character 11"
    assert body["errors"] == [{"loc": ["body", 10], "msg": "Body is not valid JSON: Expecting value at character 11",
                               "type": "json_invalid"}]


@pytest.mark.parametrize("quantity", ["-1", "0", "10000000000001"])
def test_a_form_quantity_out_of_range_gives_the_range(app: FastAPI, client: TestClient, chain: LedgerChain, tokens: Tokens,
                                                      commitment: Made, quantity: str) -> None:
    before = snapshot(app, chain)
    body = assert_problem(deliver(client, tokens.baarn, commitment.id, quantity=quantity, evidence_sha256=ELSEWHERE), 422, "validation-error")
    assert body["detail"] == "Quantity should be a whole number from 1 to 10^13 (10000000000000)"
    assert body["errors"][0]["loc"] == ["body", "quantity"]
    assert snapshot(app, chain) == before
