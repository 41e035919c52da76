"""A data error on one event never stops the projection (ledger.db.projection.apply_events):
the event is kept in ``events``, its error recorded in ``event_errors`` and counted
(``repository.event_error_count``), the events after it are applied; on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from ledger.db import repository
from ledger.db.models import EventError, EventRow, Municipality
from ledger.db.projection import apply_events
from ledger.events import LedgerEvent
from tests.db.databases import BACKENDS, fresh_database

ADMIN = "0x" + "ab" * 20
CONTRACT = "0x" + "cd" * 20


def event(name: str, block: int, args: dict, raw: dict | None = None) -> LedgerEvent:
    return LedgerEvent(name, args, block, "0x" + f"{block:064x}", "0x" + f"{block + 1000:064x}", 0, CONTRACT,
                       raw_texts=raw or {})


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_event_the_projection_cannot_apply_is_kept_with_its_error_and_the_next_one_is_applied(
    backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    events = [
        event("MunicipalityRegistered", 10, {"municipality_id": 1, "name": "Baarn", "code": "GM0308", "admin": ADMIN}),
        event("DeliveryRevoked", 11, {"delivery_id": 7_000_001, "reason": "nee\u2400"}, {"reason": "0x6e656500"}),
        event("MunicipalityRegistered", 12, {"municipality_id": 2, "name": "Utrecht", "code": "GM0344", "admin": ADMIN}),
    ]
    with fresh_database(backend, tmp_path) as db:
        with db.sessions.begin() as session:
            assert apply_events(session, events, {10: 100, 11: 110, 12: 120}) == 3
        with db.sessions() as session:
            stored = session.execute(select(EventRow.block_number, EventRow.name, EventRow.args)
                                     .order_by(EventRow.block_number)).all()
            errors = session.execute(select(EventError.block_number, EventError.log_index, EventError.error_type)).all()
            municipalities = session.scalars(select(Municipality.id).order_by(Municipality.id)).all()
            assert repository.event_error_count(session) == 1
    assert [(b, n) for b, n, _ in stored] == [(10, "MunicipalityRegistered"), (11, "DeliveryRevoked"), (12, "MunicipalityRegistered")]
    assert stored[1][2] == {"delivery_id": 7_000_001, "reason": "nee\u2400", "raw": {"reason": "0x6e656500"}}
    assert errors == [(11, 0, "ProjectionError")]
    assert municipalities == [1, 2]
    assert "Event DeliveryRevoked at block 11 log 0 not applied (ProjectionError" in caplog.text
