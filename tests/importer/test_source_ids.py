"""Source ids: every mapping names its source by a stable id (``source.id``), and every planned
commitment carries it on chain in its ``source_uri`` (``#ledger-source=<id>``); a source may say
it does not track follow-up (``source.follow_up``). Pure planner tests on small files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from scripts.importer import MappingError, parse_mapping, plan_source

SOURCE_ID = "gemeente-test-akkoord"
URL = "https://example.org/akkoord.pdf"
TAG = f"ledger-source={SOURCE_ID}"


def mapping_doc(**source: object) -> dict:
    """A ``kind: commitments`` mapping of ``rows.csv`` whose ``source_uri`` is its ``uri`` column."""
    return {
        "kind": "commitments",
        "source": {"id": SOURCE_ID, "name": "Akkoord", "publisher": "Gemeente Test", "url": URL, "licence": "none stated",
                   **source},
        "municipality": {"name": "Test", "code": "GM9999"},
        "key_column": "id",
        "file": "rows.csv",
        "commitment": {
            "external_ref": {"column": "id"},
            "title": {"column": "id"},
            "description": {"const": ""},
            "target_quantity": {"const": 1},
            "unit": {"const": "afspraak"},
            "promised_at": {"const": "2022-06-13T00:00:00+02:00"},
            "due_date": {"const": "2026-03-31T23:59:59+02:00"},
            "source_uri": {"column": "uri"},
        },
    }


def write_rows(folder: Path, rows: list[tuple[str, str]]) -> Path:
    with (folder / "rows.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "uri"])
        writer.writerows(rows)
    return folder


def problems_of(doc: dict) -> list[str]:
    with pytest.raises(MappingError) as info:
        parse_mapping(doc)
    return info.value.problems


def test_a_mapping_without_a_source_id_is_refused_at_source_id() -> None:
    doc = mapping_doc()
    del doc["source"]["id"]
    assert problems_of(doc) == ["source.id: Field required"]


@pytest.mark.parametrize("bad", ["Baarn", "baarn akkoord", "-baarn", "baarn-", "", "a" * 65, "baarn_2022"])
def test_a_source_id_that_is_no_slug_is_refused_with_its_value(bad: str) -> None:
    assert problems_of(mapping_doc(id=bad)) == [
        f"source.id: {bad!r} is not a source id: 1..64 lowercase letters, digits and hyphens, starting and ending "
        "with a letter or digit (e.g. baarn-coalitieakkoord-2022-2026)"
    ]


def test_follow_up_is_true_unless_the_mapping_says_false_and_takes_only_a_boolean() -> None:
    assert parse_mapping(mapping_doc()).source.follow_up is True
    assert parse_mapping(mapping_doc(follow_up=False)).source.follow_up is False
    assert problems_of(mapping_doc(follow_up="no")) == ["source.follow_up: Input should be a valid boolean"]


def test_each_commitment_names_the_source_id_in_its_source_uri(tmp_path: Path) -> None:
    data = write_rows(tmp_path, [
        ("plain", "https://example.org/besluit"),
        ("fragment", "https://example.org/doc.pdf#page=3"),
        ("empty-fragment", "https://example.org/doc.pdf#"),
        ("none", ""),
        ("already", f"https://example.org/doc.pdf#page=3&{TAG}"),
    ])
    plan = plan_source(parse_mapping(mapping_doc()), data)
    assert plan.rows("invalid") == ()
    assert [(c.external_ref, c.source_uri) for c in plan.commitments] == [
        ("plain", f"https://example.org/besluit#{TAG}"),
        ("fragment", f"https://example.org/doc.pdf#page=3&{TAG}"),
        ("empty-fragment", f"https://example.org/doc.pdf#{TAG}"),
        ("none", f"{URL}#{TAG}"),  # an empty source_uri becomes the source's url
        ("already", f"https://example.org/doc.pdf#page=3&{TAG}"),  # names this source already: unchanged
    ]
    assert plan.commitments[0].payload()["source_uri"] == f"https://example.org/besluit#{TAG}"


def test_a_row_whose_uri_names_another_source_is_invalid_and_planned_for_nothing(tmp_path: Path) -> None:
    data = write_rows(tmp_path, [("other", "https://example.org/doc.pdf#ledger-source=another-source"), ("ok", "")])
    plan = plan_source(parse_mapping(mapping_doc()), data)
    [row] = plan.rows("invalid")
    assert (row.key, row.line, row.operations) == ("other", 2, ())
    assert row.reason == (
        "source_uri: 'https://example.org/doc.pdf#ledger-source=another-source' already names "
        f"ledger-source=another-source, not this mapping's source {SOURCE_ID}; remove the parameter from the source's value"
    )
    assert [c.external_ref for c in plan.commitments] == ["ok"]


def test_a_uri_that_no_longer_fits_with_the_source_id_is_reported_with_the_bytes_it_added(tmp_path: Path) -> None:
    fits = "https://example.org/" + "a" * (512 - 20 - len(TAG) - 1)  # exactly 512 bytes with "#" + TAG
    too_long = fits + "b"
    data = write_rows(tmp_path, [("fits", fits), ("too-long", too_long)])
    plan = plan_source(parse_mapping(mapping_doc()), data)
    assert [(c.external_ref, len(c.source_uri.encode())) for c in plan.commitments] == [("fits", 512)]
    [row] = plan.rows("invalid")
    assert (row.key, row.reason) == (
        "too-long",
        f"source_uri is 513 bytes (at most 512), of which {len(TAG) + 1} bytes are the '{TAG}' fragment parameter "
        "that names the source; shorten the URI",
    )


def test_the_real_mappings_name_their_sources_on_every_commitment(baarn_plan, chile_plan) -> None:
    assert (baarn_plan.mapping.source.id, baarn_plan.mapping.source.follow_up) == ("baarn-coalitieakkoord-2022-2026", False)
    assert (chile_plan.mapping.source.id, chile_plan.mapping.source.follow_up) == ("ddah-chile-boric-2022-2026", True)
    assert {c.source_uri for c in baarn_plan.commitments} == {
        "https://cuatro.sim-cdn.nl/baarn/uploads/coalitieakkoord_2022_-_2026_-_samen_baarn.pdf?cb=3-fMBGHS"
        "#ledger-source=baarn-coalitieakkoord-2022-2026"
    }
    assert {c.source_uri for c in chile_plan.commitments} == {
        "https://deldichoalhecho.cl#ledger-source=ddah-chile-boric-2022-2026"
    }
