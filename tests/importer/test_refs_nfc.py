"""External refs in NFC (``ledger.limits.normalise_external_ref``): a row's ref typed with a
combining accent is planned precomposed, as the API takes it, and a ref the ledger holds in
another form is found by the row that names it, so a re-import registers nothing twice."""

from __future__ import annotations

import unicodedata

from scripts.importer import plan_source
from scripts.importer.state import read_state
from tests.importer.conftest import BAARN_CSV
from tests.importer.test_apply import client_for, outcomes, run

COMBINING = "Woning-e\u0301"
"""A ref typed with a combining acute accent (NFD)."""
PRECOMPOSED = "Woning-\u00e9"
"""The same ref precomposed (NFC)."""
FIRST_REF = "bestuurlijke_vernieuwing-001"
"""The ref of the Baarn CSV's first row."""


def baarn_with_first_ref(tmp_path, ref):
    """A copy of the Baarn data whose first row's ``id`` (its external ref) is ``ref``."""
    folder = tmp_path / BAARN_CSV.parent.name
    folder.mkdir()
    text = BAARN_CSV.read_text(encoding="utf-8")
    assert text.count(FIRST_REF) == 1
    (folder / BAARN_CSV.name).write_text(text.replace(FIRST_REF, ref), encoding="utf-8")
    return tmp_path


def test_a_ref_typed_with_a_combining_accent_is_planned_in_nfc(baarn_mapping, data_dir, tmp_path):
    plan = plan_source(baarn_mapping, baarn_with_first_ref(tmp_path, COMBINING))
    assert [op.external_ref for op in plan.commitments[:2]] == [PRECOMPOSED, "bestuurlijke_vernieuwing-002"]


def test_a_re_import_finds_a_ref_the_ledger_holds_in_another_form(baarn_mapping, data_dir, tmp_path, fake_api):
    plan = plan_source(baarn_mapping, baarn_with_first_ref(tmp_path, COMBINING))
    run(plan, fake_api, token="tok-baarn")
    first = next(c for c in fake_api.commitments.values() if c["external_ref"] == PRECOMPOSED)
    first["external_ref"] = COMBINING  # as sent by hand, or before refs were normalised
    writes = len(fake_api.writes)
    again = run(plan, fake_api, token="tok-baarn")
    assert outcomes(again, plan)["commitments"] == {"already_present": len(plan.commitments)}
    assert len(fake_api.writes) == writes


def test_the_ledger_state_is_keyed_by_nfc_refs_and_keeps_the_refs_as_held(chile_per_delivery_plan, fake_api):
    run(chile_per_delivery_plan, fake_api)
    delivery = next(iter(fake_api.deliveries.values()))
    commitment = fake_api.commitments[delivery["commitment_id"]]
    commitment["external_ref"], delivery["external_ref"] = COMBINING, "lev-e\u0301"
    state = read_state(client_for(fake_api), 2, with_deliveries=[PRECOMPOSED])
    existing = state.commitments[PRECOMPOSED]
    assert (existing.id, existing.external_ref) == (commitment["id"], COMBINING)
    assert existing.deliveries["lev-\u00e9"].external_ref == "lev-e\u0301"
    assert unicodedata.is_normalized("NFC", PRECOMPOSED) and not unicodedata.is_normalized("NFC", COMBINING)
