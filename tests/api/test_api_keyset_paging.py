"""``GET /api/v1/commitments`` pages with cursors: following ``links.next`` gives every row of
the list once in its order, ``links.prev`` walks back to the first page; links keep the
filters, sort and limit; ``count`` is the total on every page; a cursor that is not one of the
list for this sort, both cursors, a cursor with an offset and an offset past 10,000 are 422
problems. On a small ledger written to the chain and indexed by the real indexer."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient

from ledger.chain import LedgerChain
from ledger.db import repository
from tests.api.helpers import DAY, assert_problem, commitment_input, delivery_input

EVIDENCE = "0x" + "e6" * 32


@pytest.fixture(scope="module")
def seed(client: TestClient, chain: LedgerChain, roles: Any, index: Any) -> None:
    """Baarn: seven commitments with due dates in 10, 20 or 30 days (ties), deliveries on
    three (one meets its target); Utrecht: two."""
    now = int(time.time())
    baarn, utrecht = roles.registrar.key, roles.other_registrar.key
    for i in range(7):
        chain.send("registerCommitment", [commitment_input(1, f"keyset-{i}", f"pad {i}", target=4,
                                                           due=now + (10 + 10 * (i % 3)) * DAY)], baarn)
    for i in range(2):
        chain.send("registerCommitment", [commitment_input(2, f"keyset-u{i}", f"weg {i}", target=2, due=now + 5 * DAY)],
                   utrecht)
    for cid, quantity in [(2, 1), (4, 4), (6, 2)]:
        chain.send("recordDelivery", [cid, delivery_input(quantity, now - 60, [EVIDENCE])], baarn)
    index()


def get(client: TestClient, url: str, **params: Any) -> dict[str, Any]:
    response = client.get(url, params=params or None)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("sort", repository.COMMITMENT_SORTS)
@pytest.mark.parametrize("filters", [{}, {"municipality_id": 1}, {"status": ["pending", "in_progress"]}, {"q": "pad"}])
def test_next_and_prev_links_walk_the_whole_list_both_ways(client: TestClient, seed: None, sort: str, filters: dict) -> None:
    whole = get(client, "/api/v1/commitments", sort=sort, limit=100, **filters)
    expected = [c["id"] for c in whole["data"]]
    assert whole["links"] == {"next": None, "prev": None} and whole["count"] == len(expected)
    page = get(client, "/api/v1/commitments", sort=sort, limit=2, **filters)
    assert page["links"]["prev"] is None and page["prev_cursor"] is None
    forward = [c["id"] for c in page["data"]]
    while page["links"]["next"] is not None:
        link = page["links"]["next"]
        query = parse_qs(urlsplit(link).query)
        assert query["sort"] == [sort] and query["limit"] == ["2"] and query["after"] == [page["next_cursor"]]
        assert {k: v for k, v in query.items() if k not in ("sort", "limit", "after")} == \
            {k: v if isinstance(v, list) else [str(v)] for k, v in filters.items()}
        page = get(client, link)
        assert page["count"] == len(expected)
        forward += [c["id"] for c in page["data"]]
    assert forward == expected
    backward = [c["id"] for c in page["data"]]
    while page["links"]["prev"] is not None:
        page = get(client, page["links"]["prev"])
        backward = [c["id"] for c in page["data"]] + backward
    assert backward == expected


def test_an_offset_page_carries_cursors_that_continue_it(client: TestClient, seed: None) -> None:
    expected = [c["id"] for c in get(client, "/api/v1/commitments", sort="due_date", limit=100)["data"]]
    page = get(client, "/api/v1/commitments", sort="due_date", offset=3, limit=2)
    assert [c["id"] for c in page["data"]] == expected[3:5]
    assert [c["id"] for c in get(client, page["links"]["next"])["data"]] == expected[5:7]
    assert [c["id"] for c in get(client, page["links"]["prev"])["data"]] == expected[1:3]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"after": "bm90IGEgY3Vyc29y"}, "after"),
        ({"before": "WzEsImlkIiwwLDFd"}, "before"),  # [1,"id",0,1]: a cursor of sort=id, asked with due_date
        ({"after": "WzEsImR1ZV9kYXRlIiwwLDEsMV0", "offset": 2}, "offset"),
        ({"after": "WzEsImR1ZV9kYXRlIiwwLDEsMV0", "offset": 0}, "offset"),  # an explicit 0 is an offset too
        ({"before": "WzEsImR1ZV9kYXRlIiwwLDEsMV0", "offset": 0}, "offset"),
        ({"after": "WzEsImR1ZV9kYXRlIiwwLDEsMV0", "before": "WzEsImR1ZV9kYXRlIiwwLDEsMV0"}, "before"),
        ({"after": "WzEsImR1ZV9kYXRlIiwwLDkyMjMzNzIwMzY4NTQ3NzU4MDgsMV0"}, "after"),  # a hand-made key of 2^63: past BIGINT (was a 500)
        ({"before": "WzEsImR1ZV9kYXRlIiwwLDEsLTkyMjMzNzIwMzY4NTQ3NzU4MDld"}, "before"),  # -2^63 - 1
    ],
)
def test_a_cursor_that_does_not_fit_is_a_422_naming_it(client: TestClient, seed: None, params: dict, parameter: str) -> None:
    body = assert_problem(client.get("/api/v1/commitments", params={"sort": "due_date", **params}), 422, "validation-error")
    assert body["errors"][0]["loc"] == ["query", parameter]


@pytest.mark.parametrize("params", [{"offset": 10_001}, {"after": "not a cursor!"}, {"before": "x" * 401}])
def test_an_offset_past_the_bound_or_a_malformed_cursor_is_refused_by_validation(client: TestClient, params: dict) -> None:
    assert_problem(client.get("/api/v1/commitments", params=params), 422, "validation-error")
