"""Activity feeds: ``ledger.db.activity.list_activity`` on hand-built events (SQLite and
PostgreSQL), and the Atom feeds of ``frontend.feeds`` on that index, parsed as Atom 1.0 (RFC
4287: namespace, required elements, order, links) in both languages."""

from __future__ import annotations

import uuid
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Iterator

import pytest
from fastapi import FastAPI

with warnings.catch_warnings():  # starlette asks for httpx2, which the pinned env does not have
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from api.deps import get_now
from api.problems import install_problem_handlers
from frontend import feeds
from ledger.db import activity
from ledger.db.projection import apply_events
from ledger.deployment import Deployment
from ledger.settings import Settings
from ledger.sources import SourceCredit
from tests.db.batch_files import BatchFile, build, leaf
from tests.db.databases import BACKENDS, Database, fresh_database
from tests.db.script import CONTRACT, DAY, START_TIME, Script

ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SITE = "https://register.example"
DEPLOYED_AT = START_TIME - 600

DEPLOYMENT = Deployment(
    chain_id=31337,
    contract_address=CONTRACT,
    deploy_block=1,
    deploy_block_hash="0x" + "11" * 32,
    deploy_tx="0x" + "22" * 32,
    abi_version="2.1.0",
    deployed_at=DEPLOYED_AT,
)

BAARN_CREDIT = SourceCredit(
    id="baarn-coalitieakkoord-test",
    municipality_code="GM0308",
    municipality_name="Baarn",
    name="Coalitieakkoord 2022–2026",
    publisher="Gemeente Baarn",
    url="https://example.org/coalitieakkoord.pdf",
    licence="no licence stated",
)
UTRECHT_CREDIT = SourceCredit(
    id="utrecht-coalitieakkoord-test",
    municipality_code="GM0344",
    municipality_name="Utrecht",
    name="Coalitieakkoord Utrecht",
    publisher="Gemeente Utrecht",
    url="https://example.org/utrecht.pdf",
    licence="CC0",
)
SOURCES = {"GM0308": [BAARN_CREDIT], "GM0344": [UTRECHT_CREDIT]}

GREEN = "Groen & Water/Klimaat"
"""A theme with characters that must be percent-encoded in a path (``/`` included)."""


# ---------------------------------------------------------------------------- the story


class Story:
    """Baarn (1): commitment 1 "Renovate homes" (Wonen, 10 woningen, due in 10 days),
    commitment 2 "Plant trees" (GREEN, 5 bomen, due in 30 days); Utrecht (2): commitment 3
    "Zorgloket" (Zorg); Amersfoort (3) without commitments. Then, a block each: delivery
    1000001 of 4 woningen; commitment 2's target lowered to 3; a batch with leaves (2: 1 boom,
    2: 2 bomen, 1: 3 woningen); the 2-bomen leaf revoked; delivery 1000001 revoked;
    commitment 3 withdrawn. ``now`` is a day after commitment 1's due date: it became overdue
    (3 of 10 delivered)."""

    def __init__(self) -> None:
        s = Script()
        s.next_block().municipality(1)
        s.registrar(1)
        s.municipality(2, "Utrecht", "GM0344")
        s.registrar(2)
        s.municipality(3, "Amersfoort", "GM0307")
        s.next_block()
        self.registered_at = s.time
        self.due_1 = s.time + 10 * DAY
        self.due_2 = s.time + 30 * DAY
        s.commitment(1, title="Renovate homes", theme="Wonen", target_quantity=10, due_date=self.due_1)
        s.commitment(2, title="Plant trees", theme=GREEN, target_quantity=5, unit="bomen", due_date=self.due_2)
        s.commitment(3, municipality_id=2, title="Zorgloket", theme="Zorg", target_quantity=1, unit="loket")
        s.next_block(DAY)
        self.delivered_at = s.time - DAY
        s.delivery(1, 1, 4, self.delivered_at, note="Eerste oplevering")
        self.recorded_at = s.time
        s.next_block().amend(2, 1, previous_target=5, previous_due=self.due_2, target=3, reason="Raadsbesluit 12")
        self.amended_at = s.time
        self.batch: BatchFile = build(
            [leaf(2, 1, s.time - 5), leaf(2, 2, s.time - 4), leaf(1, 3, s.time - 3)]
        )
        s.next_block().anchor(self.batch.root, self.batch.sha256, 3)
        self.anchored_at = s.time
        s.next_block().revoke_leaf(self.batch.root, self.batch.leaf_hashes[1], 2, reason="Dubbel geteld")
        self.leaf_revoked_at = s.time
        s.next_block().revoke(1, 1, reason="Verkeerde datum")
        self.revoked_at = s.time
        s.next_block().withdraw(3, reason="Geen budget", municipality_id=2)
        self.withdrawn_at = s.time
        self.script = s
        self.now = self.due_1 + DAY

    def apply(self, db: Database) -> None:
        files = {self.batch.sha256: self.batch.data}
        with db.sessions.begin() as session:
            apply_events(session, self.script.events, self.script.block_times, batch_files=files.get)


@pytest.fixture(scope="module")
def story() -> Story:
    return Story()


@pytest.fixture(scope="module", params=BACKENDS)
def story_db(request: pytest.FixtureRequest, story: Story, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """The story's index on SQLite and on PostgreSQL (skipped when unreachable)."""
    with fresh_database(request.param, tmp_path_factory.mktemp("feeds")) as db:
        story.apply(db)
        yield db


@pytest.fixture(scope="module")
def sqlite_db(story: Story, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    with fresh_database("sqlite", tmp_path_factory.mktemp("feeds-http")) as db:
        story.apply(db)
        yield db


def make_app(db: Database, now: int, settings: Settings) -> FastAPI:
    """An app serving only the feeds, on ``db``, at request time ``now``."""
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(feeds.router)
    app.state.settings = settings
    app.state.session_factory = db.sessions
    app.state.deployment = DEPLOYMENT
    app.state.sources = SOURCES
    app.dependency_overrides[get_now] = lambda: now
    return app


@pytest.fixture(scope="module")
def client(sqlite_db: Database, story: Story, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("settings"), site_url=SITE)
    with TestClient(make_app(sqlite_db, story.now, settings)) as test_client:
        yield test_client


def iso(seconds: int) -> str:
    """The form feedgen writes ``updated`` in."""
    from datetime import datetime, timezone

    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()


def kinds(entries: list[dict]) -> list[tuple[str, int]]:
    return [(e["kind"], e["commitment_id"]) for e in entries]


# ---------------------------------------------------------------------------- list_activity


BAARN_ORDER = [
    ("became_overdue", 1),
    ("delivery_revoked", 1),
    ("batched_delivery_revoked", 2),
    ("batch_anchored", 1),
    ("batch_anchored", 2),
    ("commitment_amended", 2),
    ("delivery_recorded", 1),
    ("commitment_registered", 2),
    ("commitment_registered", 1),
]


def test_activity_lists_every_kind_newest_first(story_db: Database, story: Story) -> None:
    with story_db.sessions() as session:
        entries = activity.list_activity(session, story.now, municipality_id=1)
    assert kinds(entries) == BAARN_ORDER
    assert [e["at"] for e in entries] == [
        story.due_1,
        story.revoked_at,
        story.leaf_revoked_at,
        story.anchored_at,
        story.anchored_at,
        story.amended_at,
        story.recorded_at,
        story.registered_at,
        story.registered_at,
    ]
    assert len({e["id"] for e in entries}) == 9
    assert {e["municipality_name"] for e in entries} == {"Baarn"}


def test_activity_of_all_municipalities_adds_utrecht(story_db: Database, story: Story) -> None:
    with story_db.sessions() as session:
        entries = activity.list_activity(session, story.now)
    assert kinds(entries) == [
        ("became_overdue", 1),
        ("commitment_withdrawn", 3),
        *BAARN_ORDER[1:7],
        ("commitment_registered", 3),
        ("commitment_registered", 2),
        ("commitment_registered", 1),
    ]


def test_activity_entries_carry_their_facts(story_db: Database, story: Story) -> None:
    with story_db.sessions() as session:
        entries = {(e["kind"], e["commitment_id"]): e for e in activity.list_activity(session, story.now)}
    s = story.script
    delivery = entries[("delivery_recorded", 1)]
    tx = s.events[8].transaction_hash  # the DeliveryRecorded (events: 5 onboarding, 3 registrations)
    assert delivery["chain"] == {
        "tx_hash": tx,
        "block_number": 8,
        "log_index": 0,
        "block_time": story.recorded_at,
        "block_time_iso": "2025-11-30T10:40:24Z",
    }
    assert delivery["id"] == f"{tx}/0"
    assert {k: delivery[k] for k in ("delivery_id", "quantity", "delivered_at", "note", "revoked", "unit", "theme")} == {
        "delivery_id": 1_000_001,
        "quantity": "4",
        "delivered_at": story.delivered_at,
        "note": "Eerste oplevering",
        "revoked": True,
        "unit": "woningen",
        "theme": "Wonen",
    }
    assert entries[("delivery_revoked", 1)]["reason"] == "Verkeerde datum"
    assert entries[("delivery_revoked", 1)]["quantity"] == "4"
    amended = entries[("commitment_amended", 2)]
    assert (amended["fields"], amended["previous_target_quantity"], amended["target_quantity"], amended["reason"]) == (
        ["target_quantity"], "5", "3", "Raadsbesluit 12"
    )
    assert (amended["lowered_target"], amended["after_due_date"]) == (True, False)
    anchored_1, anchored_2 = entries[("batch_anchored", 1)], entries[("batch_anchored", 2)]
    assert (anchored_1["leaf_count"], anchored_1["counted_leaf_count"], anchored_1["quantity"]) == (1, 1, "3")
    assert (anchored_2["leaf_count"], anchored_2["counted_leaf_count"], anchored_2["quantity"]) == (2, 2, "3")
    assert anchored_1["batch_root"] == story.batch.root
    assert anchored_1["id"] == anchored_1["chain"]["tx_hash"] + "/0/1"
    assert anchored_2["id"] == anchored_2["chain"]["tx_hash"] + "/0/2"
    revoked_leaf = entries[("batched_delivery_revoked", 2)]
    assert (revoked_leaf["leaf_hash"], revoked_leaf["quantity"], revoked_leaf["reason"]) == (
        story.batch.leaf_hashes[1], "2", "Dubbel geteld"
    )
    registered = entries[("commitment_registered", 2)]
    assert (registered["target_quantity"], registered["due_date"], registered["commitment_title"]) == (
        "5", story.due_2, "Plant trees"
    )
    overdue = entries[("became_overdue", 1)]
    assert overdue["chain"] is None
    assert overdue["id"] == f"commitment/1/overdue/{story.due_1}"
    assert (overdue["due_date"], overdue["target_quantity"], overdue["met_at"]) == (story.due_1, "10", None)
    assert entries[("commitment_withdrawn", 3)]["reason"] == "Geen budget"


def test_activity_filters_by_theme_and_limits(story_db: Database, story: Story) -> None:
    with story_db.sessions() as session:
        green = activity.list_activity(session, story.now, municipality_id=1, theme=GREEN)
        first_three = activity.list_activity(session, story.now, limit=3)
        other = activity.list_activity(session, story.now, municipality_id=2, theme=GREEN)
    assert kinds(green) == [
        ("batched_delivery_revoked", 2),
        ("batch_anchored", 2),
        ("commitment_amended", 2),
        ("commitment_registered", 2),
    ]
    assert kinds(first_three) == [("became_overdue", 1), ("commitment_withdrawn", 3), ("delivery_revoked", 1)]
    assert other == []


@pytest.mark.parametrize("limit", [0, activity.MAX_ACTIVITY_LIMIT + 1])
def test_activity_refuses_a_limit_out_of_range(story_db: Database, story: Story, limit: int) -> None:
    with story_db.sessions() as session, pytest.raises(ValueError):
        activity.list_activity(session, story.now, limit=limit)


def test_activity_before_the_due_date_has_no_overdue_entry(story_db: Database, story: Story) -> None:
    with story_db.sessions() as session:
        entries = activity.list_activity(session, story.due_1, municipality_id=1)
    assert kinds(entries) == BAARN_ORDER[1:]


def test_became_overdue_only_when_not_met_by_the_due_date(tmp_path: Path) -> None:
    """Met on time: no entry; met after the due date: an entry with ``met_at``; withdrawn
    after its due date or not yet due: none; never met: an entry."""
    s = Script()
    s.next_block().municipality(1)
    s.registrar(1)
    s.next_block()
    due = s.time + 5 * DAY
    s.commitment(1, target_quantity=2, due_date=due)  # met on time
    s.commitment(2, target_quantity=2, due_date=due)  # met late
    s.commitment(3, target_quantity=2, due_date=due)  # withdrawn after the due date
    s.commitment(4, target_quantity=2, due_date=due + 30 * DAY)  # not yet due
    s.commitment(5, target_quantity=2, due_date=due - DAY)  # never met
    s.next_block(DAY).delivery(1, 1, 2, s.time - 10)
    s.next_block(10 * DAY).delivery(2, 1, 2, s.time - 10)
    met_late = s.time - 10
    s.withdraw(3)
    now = s.time + 1
    with fresh_database("sqlite", tmp_path) as db:
        with db.sessions.begin() as session:
            apply_events(session, s.events, s.block_times)
        with db.sessions() as session:
            overdue = [e for e in activity.list_activity(session, now) if e["kind"] == "became_overdue"]
    assert [(e["commitment_id"], e["at"], e["met_at"]) for e in overdue] == [(2, due, met_late), (5, due - DAY, None)]


# ---------------------------------------------------------------------------- Atom


def parse(body: bytes) -> ET.Element:
    root = ET.fromstring(body)
    assert root.tag == f"{ATOM}feed"
    return root


def entries_of(feed: ET.Element) -> list[ET.Element]:
    return feed.findall(f"{ATOM}entry")


def text(element: ET.Element, name: str) -> str:
    found = element.find(f"{ATOM}{name}")
    assert found is not None, name
    return found.text or ""


def assert_valid_atom(feed: ET.Element) -> None:
    """RFC 4287 §4.1.1 / §4.1.2: a feed has exactly one id, title and updated, and an author
    unless every entry has one; each entry exactly one id, title, updated, and content or an
    alternate link; ids are absolute IRIs; dates RFC 3339."""
    from datetime import datetime

    for name in ("id", "title", "updated"):
        assert len(feed.findall(f"{ATOM}{name}")) == 1, name
    entries = entries_of(feed)
    assert feed.findall(f"{ATOM}author") or all(e.findall(f"{ATOM}author") for e in entries)
    datetime.fromisoformat(text(feed, "updated"))
    for entry in entries:
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{ATOM}{name}")) == 1, name
        assert text(entry, "id").startswith("urn:uuid:")
        assert entry.find(f"{ATOM}content") is not None or entry.find(f"{ATOM}link") is not None
        assert text(entry, "author/" + ATOM + "name")
        datetime.fromisoformat(text(entry, "updated"))
    ids = [text(e, "id") for e in entries]
    assert len(set(ids)) == len(ids)


def titles(feed: ET.Element) -> list[str]:
    return [text(e, "title") for e in entries_of(feed)]


BAARN_TITLES_EN = [
    "Deadline passed without recorded proof: Renovate homes",
    "Delivery revoked: 4 woningen for Renovate homes",
    "Batched delivery revoked: 2 bomen for Plant trees",
    "Deliveries recorded in a batch: 3 woningen for Renovate homes",
    "Deliveries recorded in a batch: 3 bomen for Plant trees",
    "Commitment amended: Plant trees",
    "Delivery recorded: 4 woningen for Renovate homes",
    "New commitment: Plant trees",
    "New commitment: Renovate homes",
]

BAARN_TITLES_NL = [
    "Termijn verstreken zonder vastgelegd bewijs: Renovate homes",
    "Levering herroepen: 4 woningen voor Renovate homes",
    "Levering in bundel herroepen: 2 bomen voor Plant trees",
    "Leveringen vastgelegd in een bundel: 3 woningen voor Renovate homes",
    "Leveringen vastgelegd in een bundel: 3 bomen voor Plant trees",
    "Belofte gewijzigd: Plant trees",
    "Levering vastgelegd: 4 woningen voor Renovate homes",
    "Nieuwe belofte: Plant trees",
    "Nieuwe belofte: Renovate homes",
]


def test_municipality_feed_is_atom_in_english(client: TestClient, story: Story) -> None:
    response = client.get("/feeds/1.atom?lang=en")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["vary"] == "Accept-Language, Cookie"
    feed = parse(response.content)
    assert_valid_atom(feed)
    assert feed.get(XML_LANG) == "en"
    assert text(feed, "title") == "Baarn: commitments and deliveries"
    assert text(feed, f"author/{ATOM}name") == "Baarn"
    assert text(feed, "rights") == BAARN_CREDIT.credit
    assert text(feed, "updated") == iso(story.due_1) == "2025-12-09T10:40:24+00:00"
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links == {"self": f"{SITE}/feeds/1.atom?lang=en", "alternate": f"{SITE}/?municipality_id=1&lang=en"}
    assert titles(feed) == BAARN_TITLES_EN
    entries = entries_of(feed)
    assert [e.find(f"{ATOM}link").get("href") for e in entries] == [
        f"{SITE}/commitments/{cid}?lang=en" for cid in (1, 1, 2, 1, 2, 2, 1, 2, 1)
    ]
    updated = [text(e, "updated") for e in entries]
    assert updated == [
        iso(t)
        for t in (
            story.due_1, story.revoked_at, story.leaf_revoked_at, story.anchored_at, story.anchored_at,
            story.amended_at, story.recorded_at, story.registered_at, story.registered_at,
        )
    ]
    assert updated == sorted(updated, reverse=True)
    assert [e.find(f"{ATOM}category").get("term") for e in entries] == [
        "Wonen", "Wonen", GREEN, "Wonen", GREEN, GREEN, "Wonen", GREEN, "Wonen"
    ]


def test_entry_texts_say_what_happened(client: TestClient, story: Story) -> None:
    feed = parse(client.get("/feeds/1.atom?lang=en").content)
    contents = [text(e, "content") for e in entries_of(feed)]
    assert all(e.find(f"{ATOM}content").get("type") == "text" for e in entries_of(feed))
    assert contents[0] == "Due 9 December 2025: the deliveries stated by then do not reach the target of 10 woningen."
    tx = story.script.events[8].transaction_hash
    assert contents[6] == (
        "Delivery 1000001: delivered on 29 November 2025 (as stated by the municipality), recorded on the chain "
        f"on 30 November 2025. Note: “Eerste oplevering”. On the chain: transaction {tx}, block 8, log index 0."
    )
    assert contents[5].startswith(
        "Amendment 1. Target changed from 5 to 3 bomen. Reason: “Raadsbesluit 12”. On the chain: transaction "
    )
    assert contents[1].startswith("Delivery 1000001 no longer counts. Reason: “Verkeerde datum”. On the chain:")
    assert contents[4].startswith(
        "2 deliveries for this commitment in a batch anchored on the chain; the batch file lists each with its "
        f"evidence. Merkle root of the batch: {story.batch.root}. On the chain:"
    )
    assert contents[2].startswith(
        f"A delivery in batch {story.batch.root} (leaf {story.batch.leaf_hashes[1]}) no longer counts. "
        "Reason: “Dubbel geteld”. On the chain:"
    )
    assert contents[8].startswith("Target: 10 woningen, due 9 December 2025. Promised on 28 November 2025. On the chain:")


@pytest.mark.parametrize(
    "query, headers",
    [
        ("?lang=nl", {"Accept-Language": "en"}),
        ("", {"Cookie": "lang=nl", "Accept-Language": "en"}),
        ("", {"Accept-Language": "nl-NL,nl;q=0.9,en;q=0.5"}),
        ("", {}),
    ],
    ids=["query", "cookie", "accept-language", "default"],
)
def test_municipality_feed_in_dutch(client: TestClient, query: str, headers: dict[str, str]) -> None:
    response = client.get(f"/feeds/1.atom{query}", headers=headers)
    feed = parse(response.content)
    assert_valid_atom(feed)
    assert feed.get(XML_LANG) == "nl"
    assert text(feed, "title") == "Baarn: beloften en leveringen"
    assert titles(feed) == BAARN_TITLES_NL
    assert entries_of(feed)[0].find(f"{ATOM}link").get("href") == f"{SITE}/commitments/1?lang=nl"
    assert text(entries_of(feed)[0], "content") == (
        "Termijn 9 december 2025: de leveringen die tot dan zijn opgegeven halen het doel van 10 woningen niet."
    )


def test_entry_ids_are_permanent_and_the_same_in_both_languages(client: TestClient, sqlite_db: Database, story: Story) -> None:
    english = [text(e, "id") for e in entries_of(parse(client.get("/feeds/1.atom?lang=en").content))]
    dutch = [text(e, "id") for e in entries_of(parse(client.get("/feeds/1.atom?lang=nl").content))]
    assert english == dutch
    with sqlite_db.sessions() as session:
        keys = [e["id"] for e in activity.list_activity(session, story.now, municipality_id=1)]
    name = f"eip155:31337:{CONTRACT.lower()}/"
    assert english == [f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name + key)}" for key in keys]
    feed_id = text(parse(client.get("/feeds/1.atom").content), "id")
    assert feed_id == f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name + 'feed/feeds/1.atom')}"


def test_theme_feed_takes_the_percent_encoded_theme(client: TestClient) -> None:
    path = feeds.feed_path(1, GREEN)
    assert path == "/feeds/1/themes/Groen%20%26%20Water%2FKlimaat.atom"
    response = client.get(f"{path}?lang=en")
    assert response.status_code == 200
    feed = parse(response.content)
    assert_valid_atom(feed)
    assert text(feed, "title") == f"Baarn, {GREEN}: commitments and deliveries"
    assert titles(feed) == [BAARN_TITLES_EN[i] for i in (2, 4, 5, 7)]
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links["self"] == f"{SITE}{path}?lang=en"
    assert links["alternate"] == f"{SITE}/?municipality_id=1&theme=Groen+%26+Water%2FKlimaat&lang=en"


def test_all_feed_names_each_municipality(client: TestClient, story: Story) -> None:
    feed = parse(client.get("/feeds/all.atom?lang=en").content)
    assert_valid_atom(feed)
    assert text(feed, "title") == "All commitments and deliveries"
    assert text(feed, f"author/{ATOM}name") == "From promise to proof"
    assert text(feed, "rights") == f"{BAARN_CREDIT.credit} | {UTRECHT_CREDIT.credit}"
    assert titles(feed)[:2] == [BAARN_TITLES_EN[0], "Commitment withdrawn: Zorgloket"]
    assert len(entries_of(feed)) == 11
    authors = [text(e, f"author/{ATOM}name") for e in entries_of(feed)]
    assert authors == ["Baarn", "Utrecht", *["Baarn"] * 6, "Utrecht", "Baarn", "Baarn"]
    assert text(entries_of(feed)[1], "content").startswith("Reason: “Geen budget”. On the chain:")


def test_feed_without_entries_is_updated_at_the_deploy_time(client: TestClient) -> None:
    feed = parse(client.get("/feeds/3.atom?lang=en").content)
    assert_valid_atom(feed)
    assert entries_of(feed) == []
    assert text(feed, "updated") == iso(DEPLOYED_AT)
    assert text(feed, f"author/{ATOM}name") == "Amersfoort"
    assert feed.find(f"{ATOM}rights") is None  # no source known for Amersfoort


@pytest.mark.parametrize(
    "path",
    ["/feeds/9.atom", "/feeds/0.atom", "/feeds/abc.atom", "/feeds/1/themes/Zorg.atom", "/feeds/9/themes/Wonen.atom",
     "/feeds/1/themes/Wonen%20.atom"],
)
def test_unknown_feeds_are_404(client: TestClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_texts_xml_cannot_hold_are_replaced(tmp_path: Path) -> None:
    """A ledger title with a control character (allowed on chain, not in XML 1.0) reads with
    U+FFFD in its place; the feed still parses."""
    s = Script()
    s.next_block().municipality(1)
    s.registrar(1)
    s.next_block().commitment(1, title="Bad\x0btitle\x01", theme="Wonen")
    with fresh_database("sqlite", tmp_path) as db:
        with db.sessions.begin() as session:
            apply_events(session, s.events, s.block_times)
        settings = Settings(data_dir=tmp_path, site_url="")
        with TestClient(make_app(db, s.time + 1, settings)) as test_client:
            feed = parse(test_client.get("/feeds/1.atom?lang=en").content)
    assert titles(feed) == ["New commitment: Bad\ufffdtitle\ufffd"]
    links = {link.get("rel"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links["self"] == "http://testserver/feeds/1.atom?lang=en"  # no site_url: the request's
    assert entries_of(feed)[0].find(f"{ATOM}link").get("href") == "http://testserver/commitments/1?lang=en"
