"""The replay report's ``sources``: the sources of the repository's mappings that the replayed
commitments come from, by the source id their on-chain ``source_uri`` names (``ledger.sources``),
once each with the number of commitments it credits; one typed in by hand credits none."""

from __future__ import annotations

from replay_support import project, synthetic_events
from scripts.audit.report import _sources_json

BAARN_ID = "baarn-coalitieakkoord-2022-2026"
BAARN_PDF = "https://cuatro.sim-cdn.nl/baarn/uploads/coalitieakkoord_2022_-_2026_-_samen_baarn.pdf?cb=3-fMBGHS"


def test_the_report_lists_the_sources_its_commitments_name_once_each_with_their_count() -> None:
    state = project(synthetic_events())  # Baarn (GM0308): commitment 1 from "https://baarn.nl/b", 2 typed by hand
    assert _sources_json(state) == []  # neither names a source, nor has the url of one
    state.commitments[1].source_uri = f"{BAARN_PDF}#ledger-source={BAARN_ID}"
    state.commitments[2].source_uri = BAARN_PDF  # registered before source ids: the url rule
    [source] = _sources_json(state)
    assert {k: v for k, v in source.items() if k != "credit"} == {
        "id": BAARN_ID, "municipality_code": "GM0308", "follow_up": False, "commitment_count": 2,
    }
    assert source["credit"].startswith("Coalitieakkoord 2022–2026 “Samen Baarn”")
    state.commitments[2].source_uri = f"{BAARN_PDF}#ledger-source=ddah-chile-boric-2022-2026"  # not Baarn's source
    assert [s["commitment_count"] for s in _sources_json(state)] == [1]
