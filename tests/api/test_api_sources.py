"""Source credits: a commitment is credited to the sources whose url matches its on-chain
source_uri; the municipality and the commitment pages list its sources; a list page only the
datasets its commitments come from (none for one typed in by hand)."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from ledger.chain import LedgerChain
from tests.api.helpers import BAARN_SOURCE, commitment_input, delivery_input


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
