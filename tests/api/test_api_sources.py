"""Source credits: a commitment is credited to the source whose id its on-chain source_uri names
(#ledger-source=<id>), else to the sources whose url matches it; the municipality and the
commitment pages list its sources; a list page only the datasets its commitments come from
(none for one typed in by hand). A commitment of a source without follow-up says so, in the API
and on the site, until a delivery names it."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.deps import get_sources
from ledger.chain import LedgerChain
from ledger.sources import SourceCredit, source_uri_with_id
from tests.api.helpers import BAARN_SOURCE, commitment_input, delivery_input

PROMISES_URL = "https://example.org/promises-only.pdf"
PROMISES = SourceCredit(id="baarn-promises-only", municipality_code="GM0308", municipality_name="Baarn",
                        name="Promises only", publisher="Gemeente Baarn", url=PROMISES_URL, licence="none stated",
                        source_uris=frozenset({PROMISES_URL}), follow_up=False)
"""A source of promises only (``follow_up: false``)."""
SAME_URL = PROMISES.model_copy(update={"id": "baarn-same-url", "name": "Same url", "follow_up": True})
"""A second mapping of the same publisher url, which records follow-up."""
NOTES = {"en": "No follow-up recorded by the source", "nl": "De bron houdt geen voortgang bij"}
OVERVIEW = {"en": "Of those past their deadline, 1 has no follow-up recorded by its source (a source of promises only).",
            "nl": "Bij 1 van die met verstreken termijn houdt de bron geen voortgang bij (een bron met alleen beloften)."}


def _register(chain: LedgerChain, key: str, municipality_id: int, ref: str, source_uri: str) -> int:
    struct = commitment_input(municipality_id, ref, "Titel", theme="Wonen", target=10, due=int(time.time()) + 86_400,
                              source_uri=source_uri)
    return int(chain.send("registerCommitment", [struct], key).event("CommitmentRegistered").args["commitment_id"])


def test_commitment_from_the_source_is_credited_and_one_registered_directly_is_not(
    client: TestClient, chain: LedgerChain, roles: Any, index: Any
) -> None:
    from_source = _register(chain, roles.registrar.key, 1, "uit-akkoord", "https://example.org/besluit")
    direct = _register(chain, roles.registrar.key, 1, "eigen-invoer", "https://baarn.nl/raadsbesluit-2025-12")
    utrecht = _register(chain, roles.other_registrar.key, 2, "utrecht-1", "https://example.org/besluit")
    index()

    assert client.get(f"/api/v1/commitments/{from_source}").json()["sources"] == [BAARN_SOURCE]
    assert client.get(f"/api/v1/commitments/{direct}").json()["sources"] == []
    # Utrecht has no source mapping, whatever its source_uri says.
    assert client.get(f"/api/v1/commitments/{utrecht}").json()["sources"] == []
    assert client.get("/api/v1/municipalities/1").json()["sources"] == [BAARN_SOURCE]
    assert client.get("/api/v1/municipalities/2").json()["sources"] == []


def test_a_list_page_credits_only_the_datasets_its_commitments_come_from(
    client: TestClient, chain: LedgerChain, roles: Any, index: Any
) -> None:
    from_source = _register(chain, roles.registrar.key, 1, "uit-akkoord-2", "https://example.org/besluit")
    by_hand = _register(chain, roles.registrar.key, 1, "met-de-hand", "")
    index()

    def sources_of(path: str, **params: Any) -> list[Any]:
        return client.get(path, params=params).json()["sources"]

    assert sources_of("/api/v1/commitments", municipality_id=1, q="met-de-hand") == []
    assert sources_of("/api/v1/commitments", municipality_id=1, q="uit-akkoord-2") == [BAARN_SOURCE]
    assert client.get("/api/v1/commitments", params={"q": "met-de-hand"}).json()["data"][0]["id"] == by_hand
    chain.send("recordDelivery", [by_hand, delivery_input(1, int(time.time()) - 60, ["0x" + "d1" * 32])], roles.registrar.key)
    chain.send("recordDelivery", [from_source, delivery_input(1, int(time.time()) - 60, ["0x" + "d2" * 32])], roles.registrar.key)
    index()
    assert sources_of("/api/v1/deliveries", commitment_id=by_hand) == []
    assert sources_of("/api/v1/deliveries", commitment_id=from_source) == [BAARN_SOURCE]


def test_a_commitment_is_credited_to_the_source_its_uri_names_whatever_its_url(
    client: TestClient, chain: LedgerChain, roles: Any, index: Any
) -> None:
    named = _register(chain, roles.registrar.key, 1, "bron-genoemd", "https://example.org/besluit#ledger-source=baarn-test-agreement")
    other = _register(chain, roles.registrar.key, 1, "andere-bron", "https://example.org/besluit#ledger-source=baarn-notulen")
    index()
    assert client.get(f"/api/v1/commitments/{named}").json()["sources"] == [BAARN_SOURCE]
    assert client.get(f"/api/v1/commitments/{other}").json()["sources"] == []  # the url alone no longer credits it
    html = client.get(f"/commitments/{named}", params={"lang": "en"}).text
    # the link keeps the on-chain value; its text is the publisher's address without the parameter
    assert ('<a href="https://example.org/besluit#ledger-source=baarn-test-agreement" class="break">'
            "https://example.org/besluit</a>") in html


def csv_follow_up(client: TestClient) -> list[str]:
    """The ``follow_up_tracked`` cells of the commitments CSV of the follow-up test's commitment."""
    text = client.get("/downloads/commitments.csv", params={"q": "belofte-zonder-voortgang"}).content.decode("utf-8-sig")
    return [row["follow_up_tracked"] for row in csv.DictReader(io.StringIO(text))]


def test_a_commitment_of_a_source_without_follow_up_says_so_until_a_delivery_names_it(
    app: FastAPI, client: TestClient, chain: LedgerChain, roles: Any, index: Any
) -> None:
    app.dependency_overrides[get_sources] = lambda: {"GM0308": [PROMISES, SAME_URL]}
    try:
        now = int(time.time())
        struct = commitment_input(1, "belofte-zonder-voortgang", "Belofte", target=1, due=now - 86_400,
                                  source_uri=source_uri_with_id(PROMISES_URL, PROMISES.id))
        cid = int(chain.send("registerCommitment", [struct], roles.registrar.key)
                  .event("CommitmentRegistered").args["commitment_id"])
        index()
        detail = client.get(f"/api/v1/commitments/{cid}").json()
        # the status stays the rules' verdict; the note says why it is no verdict of the source
        assert (detail["status"], detail["follow_up"]) == ("overdue", {"tracked": False, "by": ["baarn-promises-only"]})
        assert [s["id"] for s in detail["sources"]] == ["baarn-promises-only"]  # not the other mapping of its url
        listed = client.get("/api/v1/commitments", params={"q": "belofte-zonder-voortgang"}).json()
        assert [(c["id"], c["follow_up"]) for c in listed["data"]] == [(cid, detail["follow_up"])]
        for lang, note in NOTES.items():
            html = client.get(f"/commitments/{cid}", params={"lang": lang}).text
            assert f'<span class="badge tone-info" data-note="no_follow_up">{note}</span>' in html
            assert f'{PROMISES_URL}</a>' in html and f'href="{PROMISES_URL}#ledger-source=baarn-promises-only"' in html
            assert OVERVIEW[lang] in client.get("/municipalities/1", params={"lang": lang}).text
        for page in ("/", "/municipalities"):  # the counts' tables keep their numbers and say how many of them
            assert "<li>Baarn: 1 of " in client.get(page, params={"lang": "en"}).text
        assert csv_follow_up(client) == ["false"]

        chain.send("recordDelivery", [cid, delivery_input(1, now - 60, ["0x" + "f1" * 32])], roles.registrar.key)
        index()
        detail = client.get(f"/api/v1/commitments/{cid}").json()
        assert (detail["status"], detail["follow_up"]) == ("delivered_late", {"tracked": True, "by": []})
        listed = client.get("/api/v1/commitments", params={"q": "belofte-zonder-voortgang"}).json()
        assert [c["follow_up"] for c in listed["data"]] == [{"tracked": True, "by": []}]
        for lang, note in NOTES.items():
            assert note not in client.get(f"/commitments/{cid}", params={"lang": lang}).text
            assert OVERVIEW[lang] not in client.get("/municipalities/1", params={"lang": lang}).text
        for page in ("/", "/municipalities"):
            assert "<li>Baarn: " not in client.get(page, params={"lang": "en"}).text
        assert csv_follow_up(client) == ["true"]
    finally:
        app.dependency_overrides.pop(get_sources)


def test_the_openapi_document_describes_follow_up_and_source_ids(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["FollowUp"]["required"] == ["tracked", "by"]
    assert schemas["FollowUp"]["properties"]["by"]["items"] == {"type": "string"}
    assert schemas["CommitmentSummary"]["properties"]["follow_up"]["$ref"] == "#/components/schemas/FollowUp"
    assert "follow_up" in schemas["CommitmentDetail"]["required"]
    assert {"id", "follow_up"} <= set(schemas["Source"]["required"])
