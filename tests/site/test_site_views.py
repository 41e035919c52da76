"""The plain words of ``frontend.views``: badges of every status with and without recorded
proof (no proof is never a red verdict), the confirmed-only verdict, the flags a reader
should know in their order, the recording lag, and whether a delivery counts. Hand-built
dicts for each case, and the same functions on the dicts of a projected index."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from frontend import views
from frontend.i18n import Lang
from ledger.db import repository
from ledger.db.projection import apply_events
from ledger.status import STATUSES
from tests.db.batch_files import build, leaf
from tests.db.databases import Database, fresh_database
from tests.db.script import DAY, Script

NL, EN = Lang("nl"), Lang("en")
YEAR = 365 * DAY

PROMISED = 1_655_071_200  # 13 June 2022, midnight in Amsterdam
DUE = 1_798_757_999  # 2026-12-31T22:59:59Z: 31 December 2026, 23:59:59 in Amsterdam


def commitment(**fields: Any) -> dict[str, Any]:
    """A commitment summary with the fields views read: in progress, 40 of 100 woningen,
    nothing flagged; ``fields`` override."""
    c: dict[str, Any] = {
        "status": "in_progress", "status_on_record": "in_progress", "status_original_terms": "in_progress",
        "status_confirmed": "pending", "delivered_quantity": "40", "confirmed_quantity": "0",
        "disputed_quantity": "0", "target_quantity": "100", "original_target_quantity": "100", "unit": "woningen",
        "progress_bps": 4000, "progress_bps_original_terms": 4000, "historical_record": False,
        "met_only_under_relaxed_terms": False, "amended_after_due_date": False, "target_lowered": False,
        "recorded_late_count": 0, "withdrawn": False, "promised_at": PROMISED, "due_date": DUE,
        "original_due_date": DUE, "registered": {"block_time": PROMISED + 3 * YEAR}, "met_at": None,
        "met_on_record_at": None,
    }
    c.update(fields)
    return c


# ---------------------------------------------------------------------------- status badges


STATUS_WITH_PROOF = {
    "delivered": ("delivered", "Delivered", "ok"),
    "delivered_late": ("delivered_late", "Delivered late", "warn"),
    "in_progress": ("in_progress", "In progress", "info"),
    "overdue": ("overdue", "Deadline passed, partly delivered", "bad"),
    "withdrawn": ("withdrawn", "Withdrawn", "neutral"),
}

STATUS_WITHOUT_PROOF = {
    "overdue": ("overdue_no_proof", "Deadline passed — no proof recorded yet", "warn"),
    "pending": ("pending_no_proof", "No proof recorded yet", "neutral"),
    "withdrawn": ("withdrawn", "Withdrawn", "neutral"),
}


@pytest.mark.parametrize("status", sorted(STATUS_WITH_PROOF))
def test_status_badge_with_recorded_proof(status: str) -> None:
    badge = views.status_badge(commitment(status=status), EN)
    assert (badge.key, badge.text, badge.tone) == STATUS_WITH_PROOF[status]
    assert badge.hint == ""


@pytest.mark.parametrize("status", sorted(STATUS_WITHOUT_PROOF))
def test_status_badge_without_recorded_proof(status: str) -> None:
    badge = views.status_badge(commitment(status=status, delivered_quantity="0"), EN)
    assert (badge.key, badge.text, badge.tone) == STATUS_WITHOUT_PROOF[status]


def test_overdue_without_proof_is_a_warning_with_the_hint_never_red() -> None:
    for lang, text, hint in [
        (EN, "Deadline passed — no proof recorded yet", "No counted proof is not the same as not done"),
        (NL, "Termijn verstreken — nog geen bewijs vastgelegd", "Geen bewijs dat meetelt is niet hetzelfde als niet gedaan"),
    ]:
        for field in ("status", "status_on_record", "status_original_terms"):
            c = commitment(**{field: "overdue"}, delivered_quantity="0")
            badge = views.status_badge(c, lang, field)
            assert (badge.key, badge.text, badge.tone) == ("overdue_no_proof", text, "warn")
            assert badge.tone != "bad"
            assert badge.hint.startswith(hint)


def test_every_status_has_a_badge_in_both_languages() -> None:
    for lang in (NL, EN):
        for status in STATUSES:
            for delivered in ("0", "1"):
                badge = views.status_badge(commitment(status=status, delivered_quantity=delivered), lang)
                assert badge.tone in views.TONES and badge.text
                assert not (delivered == "0" and badge.tone == "bad")


def test_status_confirmed_counts_confirmed_deliveries_only() -> None:
    nothing_confirmed = commitment(status_confirmed="overdue", confirmed_quantity="0")
    badge = views.status_badge(nothing_confirmed, EN, "status_confirmed")
    assert (badge.key, badge.text, badge.tone) == ("no_confirmed_proof", "No proof confirmed by a second party yet", "neutral")
    pending = views.status_badge(commitment(status_confirmed="pending", confirmed_quantity="0"), NL, "status_confirmed")
    assert (pending.key, pending.text) == ("no_confirmed_proof", "Nog geen bewijs bevestigd door een tweede partij")
    partly = views.status_badge(commitment(status_confirmed="overdue", confirmed_quantity="10"), EN, "status_confirmed")
    assert (partly.key, partly.text, partly.tone) == ("overdue", "Deadline passed, partly delivered", "bad")
    # nothing recorded at all, but a confirmed count is what this verdict reads
    met = views.status_badge(commitment(status_confirmed="delivered", confirmed_quantity="100", delivered_quantity="100"),
                             EN, "status_confirmed")
    assert (met.key, met.tone) == ("delivered", "ok")


def test_verdicts_are_the_four_fields_in_order() -> None:
    rows = views.verdicts(commitment(status="delivered", status_on_record="overdue", status_original_terms="overdue"), EN)
    assert [(r["key"], r["label"], r["badge"].key) for r in rows] == [
        ("status", "Status as reported", "delivered"),
        ("status_on_record", "Status as proven on chain", "overdue"),
        ("status_original_terms", "Status against the original terms", "overdue"),
        ("status_confirmed", "Status counting confirmed deliveries only", "no_confirmed_proof"),
    ]


def test_progress_text_against_current_and_original_terms() -> None:
    c = commitment(target_quantity="80", progress_bps=5000, progress_bps_original_terms=4000)
    assert views.progress_text(c, EN) == "40 of 80 woningen (50%)"
    assert views.progress_text(c, EN, original=True) == "40 of 100 woningen (40%)"
    big = commitment(delivered_quantity="1234567", target_quantity="2000000", progress_bps=6172)
    assert views.progress_text(big, NL) == "1.234.567 van 2.000.000 woningen (61,72%)"


# ---------------------------------------------------------------------------- flags


def keys(flags: list[views.Badge]) -> list[str]:
    return [f.key for f in flags]


def test_a_plain_commitment_has_only_its_confirmation_flag() -> None:
    flags = views.commitment_flags(commitment(), EN)
    assert [(f.key, f.text, f.tone) for f in flags] == [
        ("unconfirmed", "40 woningen not (yet) confirmed by a second party", "neutral")
    ]
    assert views.commitment_flags(commitment(delivered_quantity="0"), EN) == []
    assert views.commitment_flags(commitment(withdrawn=True, status="withdrawn"), EN) == []


def test_every_flag_in_order_of_weight() -> None:
    c = commitment(
        historical_record=True, met_only_under_relaxed_terms=True, amended_after_due_date=True,
        due_date=DUE + YEAR, target_lowered=True, recorded_late_count=2, status_original_terms="overdue",
        original_target_quantity="200",
    )
    flags = views.commitment_flags(c, EN)
    assert keys(flags) == ["historical", "relaxed", "amended_after_due", "target_lowered", "recorded_late", "unconfirmed"]
    assert [f.text for f in flags] == [
        "Historical record: registered after its due date",
        "Met only because the terms were relaxed",
        "Deadline moved after it was missed",
        "Target lowered",
        "2 deliveries recorded late",
        "40 woningen not (yet) confirmed by a second party",
    ]
    assert [f.tone for f in flags] == ["info", "bad", "warn", "warn", "warn", "neutral"]
    assert flags[0].hint == (
        "This promise was made on 13 June 2022 and was only entered in the ledger on 12 June 2025, "
        "after its original due date (31 December 2026). It is a record of an old promise, not a fresh one."
    )
    assert flags[1].hint == (
        "Under the terms as first promised (200 woningen, due 31 December 2026) this commitment is: Overdue. "
        "It counts as met only because its terms were changed later: a compromise, not a promise kept."
    )
    assert flags[4].hint == "Recorded more than 30 days after the date it states: not a record made at the time."


def test_an_amendment_after_the_due_date_that_kept_the_date_is_named_apart() -> None:
    moved = views.commitment_flags(commitment(amended_after_due_date=True, due_date=DUE + DAY), NL)
    assert (moved[0].key, moved[0].text) == ("amended_after_due", "Termijn verschoven nadat die was verstreken")
    kept = views.commitment_flags(commitment(amended_after_due_date=True), EN)
    assert (kept[0].key, kept[0].text) == ("amended_after_due", "Amended after its deadline had passed")


def test_one_delivery_recorded_late_is_singular() -> None:
    flags = views.commitment_flags(commitment(recorded_late_count=1), NL)
    assert flags[0].text == "1 levering laat vastgelegd"


def test_the_historical_explanation_uses_the_source_time_zone() -> None:
    c = commitment(historical_record=True, promised_at=1_709_335_800)  # 2024-03-01T23:30:00Z
    assert "made on 2 March 2024" in views.commitment_flags(c, EN)[0].hint
    assert "made on 1 March 2024" in views.commitment_flags(c, EN, "America/Santiago")[0].hint


def test_confirmation_flags() -> None:
    confirmed = views.commitment_flags(commitment(confirmed_quantity="40"), EN)
    assert [(f.key, f.text, f.tone) for f in confirmed] == [("confirmed", "Every delivery confirmed by a second party", "ok")]
    disputed = views.commitment_flags(commitment(confirmed_quantity="40", disputed_quantity="1500"), EN)
    assert [(f.key, f.text, f.tone) for f in disputed] == [("disputed", "Disputed by a second party: 1,500 woningen", "bad")]
    partly = views.commitment_flags(commitment(confirmed_quantity="15"), NL)
    assert [(f.key, f.text) for f in partly] == [("unconfirmed", "25 woningen nog niet bevestigd door een tweede partij")]


# ---------------------------------------------------------------------------- lag and dates


@pytest.mark.parametrize(
    ("seconds", "en", "nl"),
    [
        (3 * YEAR, "recorded 3 years after the date it states", "3 jaar na de opgegeven datum vastgelegd"),
        (40 * DAY, "recorded 1 month after the date it states", "1 maand na de opgegeven datum vastgelegd"),
        (2 * DAY, "recorded 2 days after the date it states", "2 dagen na de opgegeven datum vastgelegd"),
        (DAY, "recorded 1 day after the date it states", "1 dag na de opgegeven datum vastgelegd"),
        (DAY - 1, "recorded on the date it states", "vastgelegd op de opgegeven datum"),
        (0, "recorded on the date it states", "vastgelegd op de opgegeven datum"),
    ],
)
def test_lag_text(seconds: int, en: str, nl: str) -> None:
    assert views.lag_text(seconds, EN) == en
    assert views.lag_text(seconds, NL) == nl


def test_recorded_late_is_more_than_thirty_days() -> None:
    assert not views.recorded_late({"recording_lag_seconds": 30 * DAY})
    assert views.recorded_late({"recording_lag_seconds": 30 * DAY + 1})
    assert not views.recorded_late({"recording_lag_seconds": None})


def test_dates_in_reading_order_with_both_clocks() -> None:
    c = commitment(due_date=DUE + YEAR, met_at=PROMISED + YEAR, met_on_record_at=PROMISED + 3 * YEAR)
    rows = views.dates(c, EN)
    assert [(r["key"], r["label"], r["text"], r["note"]) for r in rows] == [
        ("promised", "Promised on", "13 June 2022", "as stated"),
        ("registered", "Registered on chain on", "12 June 2025", "block time, proven by the chain"),
        ("due", "Due", "31 December 2027", "originally 31 December 2026"),
        ("met", "Delivered on (as stated)", "13 June 2023", "as stated"),
        ("met_on_record", "Recorded as delivered on", "12 June 2025", "block time, proven by the chain"),
    ]
    assert rows[0]["iso"] == "2022-06-12T22:00:00Z"
    assert [r["key"] for r in views.dates(commitment(), EN)] == ["promised", "registered", "due"]


# ---------------------------------------------------------------------------- deliveries


def delivery(**fields: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": "recorded", "delivery_number": 3, "leaf_hash": None, "revocation": None,
                         "double_counted": False, "counted": None, "refused_reason": None, "review": "unconfirmed"}
    d.update(fields)
    return d


BATCHED = {"kind": "batched", "delivery_number": None, "leaf_hash": "0x" + "ab" * 32, "counted": True}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, ("unconfirmed", "Not (yet) confirmed by a second party", "neutral")),
        ({"review": "confirmed"}, ("confirmed", "Confirmed by a second party", "ok")),
        ({"review": "disputed"}, ("disputed", "Disputed by a second party", "bad")),
        ({"review": None}, ("unconfirmed", "Not (yet) confirmed by a second party", "neutral")),
        ({"revocation": {"reason": "wrong"}, "review": "confirmed"}, ("revoked", "Revoked", "bad")),
        ({"double_counted": True}, ("double_counted", "Does not count: this asset was already counted for this commitment", "bad")),
        ({**BATCHED, "counted": False, "refused_reason": "commitment_withdrawn"},
         ("refused", "Does not count: the commitment was withdrawn before the batch was anchored", "bad")),
        ({**BATCHED, "counted": False, "refused_reason": "asset_already_counted", "double_counted": True},
         ("double_counted", "Does not count: this asset was already counted for this commitment", "bad")),
        ({**BATCHED, "review": "confirmed"}, ("confirmed", "Confirmed by a second party", "ok")),
        ({**BATCHED, "revocation": {"reason": "twice"}, "counted": False}, ("revoked", "Revoked", "bad")),
    ],
)
def test_delivery_state(fields: dict[str, Any], expected: tuple[str, str, str]) -> None:
    badge = views.delivery_state(delivery(**fields), EN)
    assert (badge.key, badge.text, badge.tone) == expected


def test_delivery_titles_and_short_hashes() -> None:
    assert views.delivery_title(delivery(), EN) == "Delivery 3"
    assert views.delivery_title(delivery(**BATCHED), EN) == "Delivery in batch, leaf 0xababababab…"
    assert views.delivery_title(delivery(**BATCHED), NL).endswith("0xababababab…")
    assert views.short_hash("0x1234") == "0x1234"
    assert views.short_hash(None) == views.short_hash("") == ""
    assert views.short_hash("0x" + "cd" * 32, keep=4) == "0xcdcd…"


# ---------------------------------------------------------------------------- on a projected index


class Story:
    """Baarn: commitment 1 (10 woningen, due in 30 days) with delivery 1 (4, recorded a
    year after its stated date, confirmed), delivery 2 (1, revoked), a batch leaf of 2 and
    a leaf naming the same asset twice (refused); commitment 2 overdue without deliveries;
    commitment 3 registered after its due date (historical); commitment 4 amended after its
    due date to a later one. ``now``: 60 days after registration."""

    def __init__(self) -> None:
        s = Script()
        s.next_block().municipality(1)
        s.registrar(1)
        s.confirmer(1)
        s.next_block()
        self.registered_at = s.time
        s.commitment(1, target_quantity=10, due_date=s.time + 30 * DAY, promised_at=s.time - YEAR)
        s.commitment(2, target_quantity=5, due_date=s.time + 10 * DAY)
        s.commitment(3, target_quantity=5, promised_at=s.time - 3 * YEAR, due_date=s.time - YEAR)
        s.commitment(4, target_quantity=5, due_date=s.time + 5 * DAY)
        s.next_block(DAY)
        s.delivery(1, 1, 4, s.time - YEAR)
        s.delivery(1, 2, 1, s.time - DAY)
        s.next_block().confirm(1, 1)
        s.next_block().revoke(1, 2, reason="Verkeerde datum")
        self.batch = build([leaf(1, 2, s.time - DAY, asset="BAG 1"), leaf(1, 3, s.time - DAY, asset="BAG 1")])
        s.next_block().anchor(self.batch.root, self.batch.sha256, 2)
        s.next_block(10 * DAY)
        s.amend(4, 1, previous_target=5, previous_due=self.registered_at + 5 * DAY, due=s.time + 100 * DAY)
        self.script = s
        self.now = self.registered_at + 60 * DAY


@pytest.fixture(scope="module")
def story() -> Story:
    return Story()


@pytest.fixture(scope="module")
def db(story: Story, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    with fresh_database("sqlite", tmp_path_factory.mktemp("views")) as database:
        with database.sessions.begin() as session:
            apply_events(session, story.script.events, story.script.block_times,
                         batch_files={story.batch.sha256: story.batch.data}.get)
        yield database


def detail(db: Database, story: Story, commitment_id: int) -> dict[str, Any]:
    with db.sessions() as session:
        found = repository.get_commitment(session, commitment_id, story.now)
    assert found is not None
    return found


def test_views_read_the_dicts_of_the_index(db: Database, story: Story) -> None:
    one = detail(db, story, 1)
    assert (views.status_badge(one, EN).key, views.progress_text(one, EN)) == ("overdue", "6 of 10 woningen (60%)")
    assert keys(views.commitment_flags(one, EN)) == ["recorded_late", "unconfirmed"]
    states = [(views.delivery_title(d, EN), views.delivery_state(d, EN).key) for d in one["deliveries"]]
    assert states == [
        ("Delivery 1", "confirmed"),
        ("Delivery 2", "revoked"),
        (f"Delivery in batch, leaf {views.short_hash(story.batch.leaf_hashes[0])}", "unconfirmed"),
        (f"Delivery in batch, leaf {views.short_hash(story.batch.leaf_hashes[1])}", "double_counted"),
    ]
    assert views.lag_text(one["deliveries"][0]["recording_lag_seconds"], EN) == "recorded 1 year after the date it states"
    assert [v["badge"].key for v in views.verdicts(one, EN)] == ["overdue", "overdue", "overdue", "overdue"]


def test_views_on_the_index_overdue_historical_and_moved(db: Database, story: Story) -> None:
    two, three, four = (detail(db, story, i) for i in (2, 3, 4))
    assert views.status_badge(two, EN).key == "overdue_no_proof"
    assert views.commitment_flags(two, EN) == []
    assert keys(views.commitment_flags(three, EN)) == ["historical"]
    assert views.status_badge(three, EN).key == "overdue_no_proof"
    assert [(f.key, f.text) for f in views.commitment_flags(four, EN)] == [
        ("amended_after_due", "Deadline moved after it was missed")
    ]
    assert views.status_badge(four, EN).key == "pending_no_proof"
    with db.sessions() as session:
        rows, _ = repository.list_commitments(session, story.now, sort="id")
    assert [views.status_badge(r, NL).key for r in rows] == ["overdue", "overdue_no_proof", "overdue_no_proof", "pending_no_proof"]
