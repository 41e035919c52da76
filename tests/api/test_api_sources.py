"""Source credits: a commitment is credited to the sources whose url matches its on-chain
source_uri; the municipality and the commitment pages list its sources."""

from __future__ import annotations

import time
from typing import Any

from fastapi.testclient import TestClient

from ledger.chain import LedgerChain
from tests.api.helpers import BAARN_SOURCE, commitment_input


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
