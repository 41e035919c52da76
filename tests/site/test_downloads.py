"""Open-data downloads of ``frontend.downloads`` on hand-built events: CSV (byte order mark,
header, exact rows, the formula guard, a source credit on every row) and JSON (the API's
fields, source credits, ledger), every matching row however many pages, the list's filters,
404 and 422."""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path
from typing import Any, Iterator

import pytest
from fastapi import FastAPI

with warnings.catch_warnings():  # starlette asks for httpx2, which the pinned env does not have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from api.deps import get_now
from api.problems import install_problem_handlers
from api.schemas import CommitmentSummary, DeliveryListed
from frontend import downloads
from ledger.db import repository
from ledger.db.projection import apply_events
from ledger.deployment import Deployment
from ledger.evidence import EvidenceStore
from ledger.settings import Settings
from ledger.sources import SourceCredit
from tests.db.batch_files import build, leaf
from tests.db.databases import Database, fresh_database
from tests.db.script import CONTRACT, DAY, REGISTRAR, START_TIME, Script, sha

DEPLOYMENT = Deployment(
    chain_id=31337,
    contract_address=CONTRACT,
    deploy_block=1,
    deploy_block_hash="0x" + "11" * 32,
    deploy_tx="0x" + "22" * 32,
    abi_version="2.1.0",
    deployed_at=START_TIME - 600,
)
SOURCE_URI = "https://example.org/coalitieakkoord.pdf"
BAARN_CREDIT = SourceCredit(
    id="baarn-coalitieakkoord-test",
    municipality_code="GM0308",
    municipality_name="Baarn",
    name="Coalitieakkoord 2022–2026",
    publisher="Gemeente Baarn",
    url=SOURCE_URI,
    licence="no licence stated",
    source_uris=frozenset({SOURCE_URI}),
)
SOURCES = {"GM0308": [BAARN_CREDIT]}  # Utrecht (GM0344) has no known source
BY_HAND_BAARN = f"Baarn — entered by its registrar {REGISTRAR} — not from an imported dataset"
"""The credit of a Baarn commitment typed in by hand (``ledger.sources.hand_typed_credit``)."""

HYPERLINK = '=HYPERLINK("http://evil.example","click")'

COMMITMENT_HEADER = [
    "id", "municipality_id", "municipality", "municipality_code", "external_ref", "title", "theme", "unit",
    "target_quantity", "original_target_quantity", "delivered_quantity", "progress_bps", "status",
    "status_on_record", "status_original_terms", "status_confirmed", "met_only_under_relaxed_terms",
    "historical_record", "promised_at_iso", "registered_at_iso", "due_date_iso", "original_due_date_iso",
    "met_at_iso", "met_on_record_at_iso", "amendment_count", "amended_after_due_date", "target_lowered",
    "recorded_late_count", "withdrawn", "confirmed_quantity", "disputed_quantity", "batched_delivery_count",
    "parent_id", "weight", "registrar", "registered_tx_hash", "registered_block_number", "source_uri",
    "source_document_sha256", "follow_up_tracked", "source_credit",
]

DELIVERY_HEADER = [
    "id", "kind", "delivery_number", "commitment_id", "commitment_title", "municipality_id", "municipality",
    "municipality_code", "unit", "quantity", "delivered_at_iso", "recorded_at_iso", "recording_lag_days",
    "recorded_late", "counted", "refused_reason", "double_counted", "review", "revoked", "revocation_reason",
    "revoked_at_iso", "evidence_sha256", "evidence_uri", "note", "external_ref", "asset_ref", "registrar",
    "tx_hash", "block_number", "log_index", "batch_root", "leaf_hash", "leaf_index", "source_credit",
]


class Story:
    """Baarn (1): commitment 1 "Renovate 200 homes, phase 1" (Wonen, 10 woningen, due in 30
    days, from the coalition agreement), 2 ``HYPERLINK`` (Groen, 5 bomen), 3 "-5 trees" (Groen,
    due in 2 days); Utrecht (2): 4 "@SUM(A1)" (Zorg). Deliveries: 1000001 (4 woningen, two
    evidence hashes, note "+31 20 555 0000"), 1000002 (1, revoked), a batch with one leaf for
    commitment 2 (2 bomen, note "=1+1"). ``now``: a day after commitment 3's due date."""

    def __init__(self) -> None:
        s = Script()
        s.next_block().municipality(1)
        s.registrar(1)
        s.municipality(2, "Utrecht", "GM0344")
        s.registrar(2)
        s.next_block()
        self.registered_at = s.time
        self.due_1 = s.time + 30 * DAY
        self.due_3 = s.time + 2 * DAY
        s.commitment(
            1, title="Renovate 200 homes, phase 1", theme="Wonen", target_quantity=10, due_date=self.due_1,
            source_uri=SOURCE_URI, source_document_hash=sha("coalitieakkoord"),
        )
        s.commitment(2, title=HYPERLINK, theme="Groen", target_quantity=5, unit="bomen")
        s.commitment(3, title="-5 trees", theme="Groen", target_quantity=5, unit="bomen", due_date=self.due_3)
        s.commitment(4, municipality_id=2, title="@SUM(A1)", theme="Zorg", target_quantity=1, unit="loket")
        self.registration_txs = [e.transaction_hash for e in s.events[4:8]]
        s.next_block(DAY)
        self.recorded_at = s.time
        self.delivered_at = s.time - DAY
        self.evidence = [sha("report"), sha("photo")]
        s.delivery(1, 1, 4, self.delivered_at, self.evidence, note="+31 20 555 0000", asset_ref="BAG 0308-1")
        self.delivery_tx = s.events[-1].transaction_hash
        s.delivery(1, 2, 1, self.delivered_at)
        s.next_block().revoke(1, 2, reason="Verkeerde datum")
        self.revoked_at = s.time
        self.batch = build([leaf(2, 2, s.time - 60, note="=1+1")])
        s.next_block().anchor(self.batch.root, self.batch.sha256, 1)
        self.anchored_at = s.time
        self.script = s
        self.now = self.due_3 + DAY

    def apply(self, db: Database) -> None:
        files = {self.batch.sha256: self.batch.data}
        with db.sessions.begin() as session:
            apply_events(session, self.script.events, self.script.block_times, batch_files=files.get)


def make_app(db: Database, now: int, folder: Path) -> FastAPI:
    """An app serving only the downloads, on ``db``, at request time ``now``; the evidence
    store holds the file of ``sha("report")``."""
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(downloads.router)
    app.state.settings = Settings(data_dir=folder)
    app.state.session_factory = db.sessions
    app.state.deployment = DEPLOYMENT
    app.state.sources = SOURCES
    store = EvidenceStore(folder / "evidence")
    store.path(sha("report")).write_bytes(b"report")
    app.state.evidence_store = store
    app.dependency_overrides[get_now] = lambda: now
    return app


@pytest.fixture(scope="module")
def story() -> Story:
    return Story()


@pytest.fixture(scope="module")
def db(story: Story, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    with fresh_database("sqlite", tmp_path_factory.mktemp("downloads")) as database:
        story.apply(database)
        yield database


@pytest.fixture(scope="module")
def app(db: Database, story: Story, tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    return make_app(db, story.now, tmp_path_factory.mktemp("app"))


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def read_csv(body: bytes) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a downloaded CSV, which must start with the UTF-8 byte order mark."""
    assert body.startswith(b"\xef\xbb\xbf")
    reader = csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""))
    header, *rows = list(reader)
    return header, [dict(zip(header, row, strict=True)) for row in rows]


def iso(seconds: int) -> str:
    return repository.iso(seconds)


# ---------------------------------------------------------------------------- the guard


@pytest.mark.parametrize(
    "value, cell",
    [
        ("=1+1", "'=1+1"),
        ("+31 20", "'+31 20"),
        ("-5 trees", "'-5 trees"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tindented", "'\tindented"),
        ("\rreturn", "'\rreturn"),
        ("a = b", "a = b"),
        ("'quoted", "'quoted"),
        ("", ""),
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (12, "12"),
    ],
)
def test_csv_cell_guards_formulas(value: Any, cell: str) -> None:
    assert downloads.csv_cell(value) == cell


# ---------------------------------------------------------------------------- commitments


def test_commitments_csv_has_every_commitment(client: TestClient, story: Story) -> None:
    response = client.get("/downloads/commitments.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="commitments-all.csv"'
    assert response.headers["cache-control"] == "public, max-age=300"
    assert b"\r\n" in response.content
    header, rows = read_csv(response.content)
    assert header == COMMITMENT_HEADER
    assert [r["id"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0] == {
        "id": "1",
        "municipality_id": "1",
        "municipality": "Baarn",
        "municipality_code": "GM0308",
        "external_ref": "ref-001",
        "title": "Renovate 200 homes, phase 1",
        "theme": "Wonen",
        "unit": "woningen",
        "target_quantity": "10",
        "original_target_quantity": "10",
        "delivered_quantity": "4",
        "progress_bps": "4000",
        "status": "in_progress",
        "status_on_record": "in_progress",
        "status_original_terms": "in_progress",
        "status_confirmed": "pending",
        "met_only_under_relaxed_terms": "false",
        "historical_record": "false",
        "promised_at_iso": iso(story.registered_at - DAY),
        "registered_at_iso": iso(story.registered_at),
        "due_date_iso": iso(story.due_1),
        "original_due_date_iso": iso(story.due_1),
        "met_at_iso": "",
        "met_on_record_at_iso": "",
        "amendment_count": "0",
        "amended_after_due_date": "false",
        "target_lowered": "false",
        "recorded_late_count": "0",
        "withdrawn": "false",
        "confirmed_quantity": "0",
        "disputed_quantity": "0",
        "batched_delivery_count": "0",
        "parent_id": "",
        "weight": "0",
        "registrar": REGISTRAR,
        "registered_tx_hash": story.registration_txs[0],
        "registered_block_number": "7",
        "source_uri": SOURCE_URI,
        "source_document_sha256": sha("coalitieakkoord"),
        "follow_up_tracked": "true",
        "source_credit": BAARN_CREDIT.credit,
    }
    assert rows[0]["registered_at_iso"] == "2025-11-29T10:40:24Z"
    assert [(r["title"], r["status"], r["delivered_quantity"]) for r in rows[1:]] == [
        ("'" + HYPERLINK, "in_progress", "2"),
        ("'-5 trees", "overdue", "0"),
        ("'@SUM(A1)", "pending", "0"),
    ]
    # 2..4 were typed in by hand (no source_uri of a dataset): credited to their municipality and registrar
    assert [r["source_credit"] for r in rows] == [BAARN_CREDIT.credit] + [BY_HAND_BAARN] * 2 + [
        f"Utrecht — entered by its registrar {REGISTRAR} — not from an imported dataset"]
    assert rows[3]["municipality_code"] == "GM0344"


@pytest.mark.parametrize(
    "query, ids",
    [
        ("municipality_id=1", ["1", "2", "3"]),
        ("status=overdue", ["3"]),
        ("status=overdue&status=pending", ["3", "4"]),
        ("theme=Groen", ["2", "3"]),
        ("q=HOMES", ["1"]),
        ("municipality_id=2&theme=Groen", []),
        ("recorded_late=true", []),
        ("status_on_record=in_progress", ["1", "2"]),
        ("status_on_record=pending", ["4"]),
    ],
)
def test_commitments_csv_takes_the_list_filters(client: TestClient, query: str, ids: list[str]) -> None:
    header, rows = read_csv(client.get(f"/downloads/commitments.csv?{query}").content)
    assert header == COMMITMENT_HEADER
    assert [r["id"] for r in rows] == ids


def test_file_names_carry_the_municipality_code(client: TestClient) -> None:
    for path, name in [
        ("/downloads/commitments.csv?municipality_id=1", "commitments-GM0308.csv"),
        ("/downloads/commitments.json?municipality_id=2", "commitments-GM0344.json"),
        ("/downloads/deliveries.csv?municipality_id=1", "deliveries-GM0308.csv"),
        ("/downloads/deliveries.json", "deliveries-all.json"),
    ]:
        assert client.get(path).headers["content-disposition"] == f'attachment; filename="{name}"'


@pytest.mark.parametrize(
    "path, status",
    [
        ("/downloads/commitments.csv?municipality_id=9", 404),
        ("/downloads/commitments.json?municipality_id=9", 404),
        ("/downloads/deliveries.csv?municipality_id=9", 404),
        ("/downloads/deliveries.json?municipality_id=9", 404),
        ("/downloads/commitments.csv?status=bogus", 422),
        ("/downloads/commitments.json?recorded_late=maybe", 422),
        ("/downloads/deliveries.csv?kind=other", 422),
        ("/downloads/deliveries.json?commitment_id=0", 422),
    ],
)
def test_unknown_municipality_is_404_and_a_bad_filter_422(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


def test_commitments_json_has_the_api_fields_and_credits(client: TestClient, db: Database, story: Story) -> None:
    response = client.get("/downloads/commitments.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document = json.loads(response.content)
    assert list(document) == ["source_credits", "generated_at", "ledger", "count", "data"]
    assert document["source_credits"] == [
        {
            "id": "baarn-coalitieakkoord-test",
            "name": BAARN_CREDIT.name,
            "publisher": BAARN_CREDIT.publisher,
            "url": SOURCE_URI,
            "licence": BAARN_CREDIT.licence,
            "credit": BAARN_CREDIT.credit,
            "follow_up": True,
        }
    ]
    assert document["generated_at"] == iso(story.now)
    assert document["ledger"] == {
        "chain_id": 31337,
        "contract_address": CONTRACT,
        "network": "Local test chain (Anvil)",
    }
    assert document["count"] == 4
    with db.sessions() as session:
        rows, _ = repository.list_commitments(session, story.now, limit=100)
    tracked = {"tracked": True, "by": []}  # Baarn's source records follow-up; the rest were typed in by hand
    expected = [CommitmentSummary.model_validate({**r, "follow_up": tracked}).model_dump(mode="json") for r in rows]
    sources = [
        {"source_uri": SOURCE_URI, "source_document_sha256": sha("coalitieakkoord")},
        *[{"source_uri": "", "source_document_sha256": None}] * 3,
    ]
    assert document["data"] == [{**e, **s} for e, s in zip(expected, sources, strict=True)]
    assert [d["title"] for d in document["data"]] == [  # texts unchanged in JSON
        "Renovate 200 homes, phase 1", HYPERLINK, "-5 trees", "@SUM(A1)"
    ]


def test_a_json_file_credits_only_the_datasets_its_rows_come_from(client: TestClient) -> None:
    typed_by_hand = json.loads(client.get("/downloads/commitments.json?theme=Groen").content)  # 2 and 3
    assert (typed_by_hand["count"], typed_by_hand["source_credits"]) == (2, [])
    delivery_of_2 = json.loads(client.get("/downloads/deliveries.json?commitment_id=2").content)
    assert (delivery_of_2["count"], delivery_of_2["source_credits"]) == (1, [])
    imported = json.loads(client.get("/downloads/commitments.json?q=phase").content)
    assert [c["credit"] for c in imported["source_credits"]] == [BAARN_CREDIT.credit]


def test_commitments_json_of_a_municipality_without_rows_still_credits_it(client: TestClient) -> None:
    document = json.loads(client.get("/downloads/commitments.json?municipality_id=1&theme=Zorg").content)
    assert (document["count"], document["data"]) == (0, [])
    assert [c["credit"] for c in document["source_credits"]] == [BAARN_CREDIT.credit]


def test_every_row_is_read_past_the_page_size(tmp_path: Path) -> None:
    """205 commitments: three repository pages of at most 100, all in the file, by id."""
    s = Script()
    s.next_block().municipality(1)
    s.registrar(1)
    s.next_block()
    for cid in range(1, 206):
        s.commitment(cid, theme="Wonen" if cid % 2 else "Groen")
    with fresh_database("sqlite", tmp_path) as database:
        with database.sessions.begin() as session:
            apply_events(session, s.events, s.block_times)
        with TestClient(make_app(database, s.time + 1, tmp_path)) as test_client:
            document = json.loads(test_client.get("/downloads/commitments.json").content)
            _, rows = read_csv(test_client.get("/downloads/commitments.csv").content)
            _, odd = read_csv(test_client.get("/downloads/commitments.csv?theme=Wonen").content)
    assert document["count"] == 205
    assert [d["id"] for d in document["data"]] == list(range(1, 206))
    assert [r["id"] for r in rows] == [str(i) for i in range(1, 206)]
    assert [r["id"] for r in odd] == [str(i) for i in range(1, 206, 2)]


# ---------------------------------------------------------------------------- deliveries


def test_deliveries_csv_lists_recorded_then_batched(client: TestClient, story: Story) -> None:
    response = client.get("/downloads/deliveries.csv")
    assert response.headers["content-disposition"] == 'attachment; filename="deliveries-all.csv"'
    header, rows = read_csv(response.content)
    assert header == DELIVERY_HEADER
    leaf_hash = story.batch.leaf_hashes[0]
    assert [(r["id"], r["kind"]) for r in rows] == [("1000001", "recorded"), ("1000002", "recorded"), (leaf_hash, "batched")]
    assert rows[0] == {
        "id": "1000001",
        "kind": "recorded",
        "delivery_number": "1",
        "commitment_id": "1",
        "commitment_title": "Renovate 200 homes, phase 1",
        "municipality_id": "1",
        "municipality": "Baarn",
        "municipality_code": "GM0308",
        "unit": "woningen",
        "quantity": "4",
        "delivered_at_iso": iso(story.delivered_at),
        "recorded_at_iso": iso(story.recorded_at),
        "recording_lag_days": "1",
        "recorded_late": "false",
        "counted": "",
        "refused_reason": "",
        "double_counted": "false",
        "review": "unconfirmed",
        "revoked": "false",
        "revocation_reason": "",
        "revoked_at_iso": "",
        "evidence_sha256": f"{sha('report')} {sha('photo')}",
        "evidence_uri": "",
        "note": "'+31 20 555 0000",
        "external_ref": "",
        "asset_ref": "BAG 0308-1",
        "registrar": REGISTRAR,
        "tx_hash": story.delivery_tx,
        "block_number": "8",
        "log_index": "0",
        "batch_root": "",
        "leaf_hash": "",
        "leaf_index": "",
        "source_credit": BAARN_CREDIT.credit,
    }
    assert (rows[1]["revoked"], rows[1]["revocation_reason"], rows[1]["revoked_at_iso"]) == (
        "true", "Verkeerde datum", iso(story.revoked_at)
    )
    batched = rows[2]
    assert {k: batched[k] for k in ("commitment_id", "commitment_title", "quantity", "note", "counted", "delivery_number")} == {
        "commitment_id": "2",
        "commitment_title": "'" + HYPERLINK,
        "quantity": "2",
        "note": "'=1+1",
        "counted": "true",
        "delivery_number": "",
    }
    assert (batched["batch_root"], batched["leaf_hash"], batched["leaf_index"], batched["recorded_at_iso"]) == (
        story.batch.root, leaf_hash, "0", iso(story.anchored_at)
    )
    # a delivery is credited as its commitment: 2 was typed in by hand
    assert [r["source_credit"] for r in rows] == [BAARN_CREDIT.credit] * 2 + [BY_HAND_BAARN]


@pytest.mark.parametrize(
    "query, count",
    [("kind=batched", 1), ("kind=recorded", 2), ("commitment_id=1", 2), ("municipality_id=2", 0), ("recorded_late=true", 0)],
)
def test_deliveries_csv_takes_the_list_filters(client: TestClient, query: str, count: int) -> None:
    header, rows = read_csv(client.get(f"/downloads/deliveries.csv?{query}").content)
    assert header == DELIVERY_HEADER
    assert len(rows) == count


def test_deliveries_json_has_the_api_fields(client: TestClient, app: FastAPI, db: Database, story: Story) -> None:
    document = json.loads(client.get("/downloads/deliveries.json?municipality_id=1").content)
    assert document["count"] == 3
    assert document["generated_at"] == iso(story.now)
    assert [c["credit"] for c in document["source_credits"]] == [BAARN_CREDIT.credit]
    with db.sessions() as session:
        rows, _ = repository.list_deliveries(
            session, limit=100, now=story.now, evidence_stored=app.state.evidence_store.exists
        )
    assert document["data"] == [DeliveryListed.model_validate(r).model_dump(mode="json") for r in rows]
    assert document["data"][0]["evidence"] == [
        {"sha256": sha("report"), "stored": True, "url": f"/api/v1/evidence/{sha('report')}"},
        {"sha256": sha("photo"), "stored": False, "url": None},
    ]
    assert document["data"][0]["note"] == "+31 20 555 0000"
