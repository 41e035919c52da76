"""A commitment's deliveries and timeline, paged by keyset: the detail's first page with the
counts and the cursor of the rest, ``/commitments/{id}/deliveries`` and ``/timeline`` walked
forwards and backwards, which together give every entry once, in the order the unpaged
lists have (``list_deliveries`` by offset; the events of the commitment in chain order)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

from ledger.db import repository
from ledger.db.repository import TIMELINE_KINDS
from tests.api.history_index import BATCHED, EMPTY, LONG, RECORDED, SHORT, HistoryIndex, client_of, history_index, recorded_id

NOW = 1_900_000_000


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HistoryIndex]:
    with history_index(tmp_path_factory.mktemp("paging")) as built:
        yield built


@pytest.fixture(scope="module")
def client(index: HistoryIndex) -> Iterator[Any]:
    with client_of(index.settings()) as test_client:
        yield test_client


def _unpaged_deliveries(index: HistoryIndex) -> list[dict[str, Any]]:
    """Every delivery of LONG as the old, offset-paged list gives them (the reference)."""
    found: list[dict[str, Any]] = []
    with index.db.sessions() as session:
        while True:
            page, total = repository.list_deliveries(session, commitment_id=LONG, offset=len(found), limit=100, now=NOW)
            found += page
            if len(found) >= total:
                return found


def _walk(client: Any, first: str) -> list[dict[str, Any]]:
    pages, url = [], first
    while url is not None:
        answer = client.get(url)
        assert answer.status_code == 200, answer.text
        pages.append(answer.json())
        url = pages[-1]["links"]["next"]
    return pages


def test_the_detail_holds_the_first_page_with_counts_and_the_cursor_of_the_rest(client: Any, index: HistoryIndex) -> None:
    detail = client.get(f"/api/v1/commitments/{LONG}").json()
    reference = _unpaged_deliveries(index)
    assert detail["deliveries_count"] == RECORDED + BATCHED == len(reference)
    assert [d["id"] for d in detail["deliveries"]] == [recorded_id(n) for n in range(1, 51)]
    assert detail["deliveries_next_cursor"] == f"r.{recorded_id(50)}"
    assert detail["detail_links"] == {
        "deliveries_next": f"/api/v1/commitments/{LONG}/deliveries?after=r.{recorded_id(50)}&limit=50",
        "timeline_next": f"/api/v1/commitments/{LONG}/timeline?after={detail['timeline_next_cursor']}&limit=50",
    }
    assert detail["timeline_count"] == 1 + RECORDED + RECORDED // 10 + 1
    assert len(detail["timeline"]) == 50
    short = client.get(f"/api/v1/commitments/{SHORT}").json()
    assert (short["deliveries_count"], len(short["deliveries"]), short["deliveries_next_cursor"]) == (2, 2, None)
    assert short["detail_links"] == {"deliveries_next": None, "timeline_next": None}
    empty = client.get(f"/api/v1/commitments/{EMPTY}").json()
    assert (empty["deliveries"], empty["deliveries_count"], empty["timeline_count"]) == ([], 0, 1)


@pytest.mark.parametrize("limit", [1, 7, 50, 100])
def test_deliveries_walked_forwards_are_every_delivery_once_in_the_detail_order(
    client: Any, index: HistoryIndex, limit: int
) -> None:
    reference = _unpaged_deliveries(index)
    pages = _walk(client, f"/api/v1/commitments/{LONG}/deliveries?limit={limit}")
    walked = [d for page in pages for d in page["data"]]
    own = [{k: v for k, v in d.items() if k in walked[0]} for d in reference]
    assert walked == own  # exact values, recorded by id, then the batch's leaves in file order
    assert [d["kind"] for d in walked].count("batched") == BATCHED
    assert all(page["count"] == len(reference) and page["limit"] == limit for page in pages)
    assert len(pages) == -(-len(reference) // limit)
    assert pages[0]["links"]["prev"] is None and pages[-1]["links"]["next"] is None


def test_deliveries_walked_backwards_from_the_last_page_give_the_same_pages(client: Any) -> None:
    forwards = _walk(client, f"/api/v1/commitments/{LONG}/deliveries?limit=9")
    backwards, url = [], forwards[-1]["links"]["prev"]
    while url is not None:
        page = client.get(url).json()
        backwards.append(page)
        url = page["links"]["prev"]
    # the pages before the last one, seen from its end: each page is a run of 9 ending where
    # the next one starts, so they line up with the forward walk from the end
    ids_forward = [d["id"] for page in forwards for d in page["data"]]
    ids_backward = [d["id"] for page in reversed(backwards) for d in page["data"]]
    assert ids_backward == ids_forward[: len(ids_backward)]
    assert ids_backward[0] == recorded_id(1)
    assert all(len(page["data"]) == 9 for page in backwards[:-1])
    assert backwards[-1]["links"]["prev"] is None


def test_the_timeline_walked_is_every_event_of_the_commitment_in_chain_order(client: Any, index: HistoryIndex) -> None:
    events = [
        e for e in index.script.events
        if e.name in TIMELINE_KINDS and e.args.get("commitment_id") == LONG
    ]
    pages = _walk(client, f"/api/v1/commitments/{LONG}/timeline?limit=16")
    walked = [entry for page in pages for entry in page["data"]]
    assert [(e["chain"]["block_number"], e["chain"]["log_index"]) for e in walked] == [
        (e.block_number, e.log_index) for e in events
    ]
    assert [e["kind"] for e in walked] == [TIMELINE_KINDS[e.name] for e in events]
    assert walked[0]["details"]["title"] == "Lange geschiedenis"
    detail = client.get(f"/api/v1/commitments/{LONG}").json()
    assert detail["timeline"] == walked[:50]
    back = client.get(pages[-1]["links"]["prev"]).json()
    assert back["data"] == pages[-2]["data"][-len(back["data"]):]


@pytest.mark.parametrize(
    "query, parameter",
    [
        ("after=x.1", "after"),
        ("after=r.12x", "after"),
        ("before=t.1.2", "before"),  # a timeline cursor is no cursor of the deliveries
        ("after=r.1&before=r.5", "before"),
        ("after=r.99999999999999999999", "after"),
    ],
)
def test_a_cursor_that_is_not_one_of_this_list_is_a_422_naming_the_parameter(client: Any, query: str, parameter: str) -> None:
    answer = client.get(f"/api/v1/commitments/{LONG}/deliveries?{query}")
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"] == "/problems/validation-error"
    assert parameter in answer.json()["detail"]


def test_limits_outside_1_to_100_and_unknown_commitments(client: Any) -> None:
    assert client.get(f"/api/v1/commitments/{LONG}/timeline?limit=0").status_code == 422
    assert client.get(f"/api/v1/commitments/{LONG}/deliveries?limit=101").status_code == 422
    for part in ("deliveries", "timeline"):
        answer = client.get(f"/api/v1/commitments/999/{part}")
        assert answer.status_code == 404 and answer.json()["type"] == "/problems/not-found"


def test_the_openapi_document_names_the_new_paths_and_fields(client: Any) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/api/v1/commitments/{commitment_id}/deliveries", "/api/v1/commitments/{commitment_id}/timeline"} <= set(schema["paths"])
    detail = schema["components"]["schemas"]["CommitmentDetail"]["properties"]
    assert {"deliveries_count", "deliveries_next_cursor", "timeline_count", "timeline_next_cursor", "detail_links"} <= set(detail)


def test_a_page_runs_on_from_the_recorded_deliveries_into_the_batched_ones(index: HistoryIndex) -> None:
    with index.db.sessions() as session:
        page = repository.commitment_deliveries(session, LONG, after=f"r.{recorded_id(RECORDED - 3)}", limit=5)
        back = repository.commitment_deliveries(session, LONG, before=page["next_cursor"], limit=5)
    assert [d["id"] for d in page["data"][:3]] == [recorded_id(n) for n in range(RECORDED - 2, RECORDED + 1)]
    assert [(d["kind"], d["leaf_index"]) for d in page["data"][3:]] == [("batched", 0), ("batched", 1)]
    assert page["next_cursor"] == f"b.{page['data'][-1]['recorded']['block_number']}.{page['data'][-1]['recorded']['log_index']}.1"
    assert [d["id"] for d in back["data"]] == [recorded_id(n) for n in range(RECORDED - 3, RECORDED + 1)] + [page["data"][3]["id"]]
