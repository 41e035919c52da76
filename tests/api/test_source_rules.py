"""What a commitment is credited to (``ledger.sources``, which the API, the site, the downloads
and the replay report ask): the source whose id its on-chain ``source_uri`` names
(``#ledger-source=<id>``), else the url rule; and whether its sources record follow-up. Pure:
mappings written to ``tmp_path``, no chain."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.schemas import Source
from ledger.sources import (
    DuplicateSourceIdError,
    FollowUp,
    InvalidSourceError,
    SourceIdConflictError,
    credit_line,
    credited_sources,
    credits_by_code,
    follow_up_of,
    load_sources,
    source_uri_with_id,
    sources_of_commitments,
    split_source_id,
)

URL = "https://example.org/akkoord.pdf"


def write_mapping(folder: Path, file: str, source_id: str, name: str, *, url: str = URL, code: str = "GM0308",
                  extra: str = "") -> None:
    (folder / file).write_text(
        f"kind: commitments\nsource:\n  id: {source_id}\n  name: {name}\n  publisher: Gemeente Baarn\n"
        f"  url: {url}\n  licence: none stated\n{extra}municipality:\n  name: Baarn\n  code: {code}\n",
        encoding="utf-8",
    )


@pytest.fixture()
def one_url(tmp_path: Path) -> dict:
    """Two mappings of one publisher with one url: the agreement and its progress report."""
    write_mapping(tmp_path, "a-akkoord.yaml", "baarn-akkoord", "Akkoord")
    write_mapping(tmp_path, "b-voortgang.yaml", "baarn-voortgang", "Voortgang", extra="  follow_up: false\n")
    return credits_by_code(tmp_path)


def test_two_mappings_with_one_url_credit_only_their_own_commitments(one_url: dict) -> None:
    baarn = one_url["GM0308"]
    assert [(s.id, s.follow_up) for s in baarn] == [("baarn-akkoord", True), ("baarn-voortgang", False)]
    assert [s.id for s in credited_sources(baarn, f"{URL}#ledger-source=baarn-akkoord")] == ["baarn-akkoord"]
    assert [s.id for s in credited_sources(baarn, f"{URL}#page=2&ledger-source=baarn-voortgang")] == ["baarn-voortgang"]
    assert credit_line(baarn, f"{URL}#ledger-source=baarn-akkoord", "Baarn", "0xb2") == (
        f"Akkoord — Gemeente Baarn — {URL} — none stated")


def test_two_mappings_of_one_issuer_list_two_distinct_credits_once_each(one_url: dict) -> None:
    page = [("GM0308", f"{URL}#ledger-source=baarn-akkoord"), ("GM0308", f"{URL}#ledger-source=baarn-voortgang"),
            ("GM0308", f"{URL}#ledger-source=baarn-akkoord"), ("GM0308", "")]
    credits = Source.of(sources_of_commitments(one_url, page))
    assert [(s.id, s.credit) for s in credits] == [
        ("baarn-akkoord", f"Akkoord — Gemeente Baarn — {URL} — none stated"),
        ("baarn-voortgang", f"Voortgang — Gemeente Baarn — {URL} — none stated"),
    ]
    assert [s.id for s in sources_of_commitments(one_url, page[:1] * 3)] == ["baarn-akkoord"]


def test_a_uri_without_the_parameter_falls_back_to_the_url_rule(one_url: dict) -> None:
    baarn = one_url["GM0308"]
    # registered before source ids (or typed by hand with the publisher's url): both mappings of that url
    assert [s.id for s in credited_sources(baarn, URL)] == ["baarn-akkoord", "baarn-voortgang"]
    assert [s.id for s in credited_sources(baarn, f"{URL}#page=2")] == []  # another value: typed in by hand
    assert credited_sources(baarn, "") == []
    # a parameter naming no source of the municipality credits none, whatever the url says
    assert credited_sources(baarn, f"{URL}#ledger-source=utrecht-akkoord") == []
    assert credited_sources(baarn, f"{URL}#ledger-source=") == []


def test_the_source_id_is_added_to_and_read_from_the_fragment() -> None:
    assert source_uri_with_id("https://x/doc.pdf", "baarn-akkoord") == "https://x/doc.pdf#ledger-source=baarn-akkoord"
    assert source_uri_with_id("https://x/doc.pdf#p=3", "baarn-akkoord") == "https://x/doc.pdf#p=3&ledger-source=baarn-akkoord"
    assert source_uri_with_id("", "baarn-akkoord", URL) == f"{URL}#ledger-source=baarn-akkoord"
    assert split_source_id("https://x/doc.pdf#p=3&ledger-source=baarn-akkoord") == ("https://x/doc.pdf#p=3", "baarn-akkoord")
    assert split_source_id("https://x/doc.pdf#ledger-source=baarn-akkoord") == ("https://x/doc.pdf", "baarn-akkoord")
    assert split_source_id("https://x/doc.pdf#p=3") == ("https://x/doc.pdf#p=3", None)
    assert split_source_id("Raadsbesluit 12") == ("Raadsbesluit 12", None)
    with pytest.raises(SourceIdConflictError) as info:
        source_uri_with_id("https://x/doc.pdf#ledger-source=other", "baarn-akkoord")
    assert (info.value.found, info.value.source_id) == ("other", "baarn-akkoord")


def test_load_sources_refuses_two_mappings_with_one_id(tmp_path: Path) -> None:
    write_mapping(tmp_path, "a.yaml", "baarn-akkoord", "Akkoord")
    write_mapping(tmp_path, "b.yaml", "baarn-akkoord", "Voortgang", url="https://example.org/other.pdf")
    with pytest.raises(DuplicateSourceIdError) as info:
        load_sources(tmp_path)
    assert (info.value.path.name, info.value.first_path.name, info.value.source_id) == ("b.yaml", "a.yaml", "baarn-akkoord")


@pytest.mark.parametrize(("extra", "location"), [("", "source.id"), ("  follow_up: nee\n", "source.follow_up")])
def test_load_sources_refuses_a_malformed_source_block_by_location(tmp_path: Path, extra: str, location: str) -> None:
    write_mapping(tmp_path, "a.yaml", "Baarn Akkoord" if location == "source.id" else "baarn-akkoord", "Akkoord", extra=extra)
    with pytest.raises(InvalidSourceError) as info:
        load_sources(tmp_path)
    assert (info.value.path.name, info.value.location) == ("a.yaml", location)


def test_a_commitment_has_no_follow_up_only_when_every_source_records_none_and_no_delivery_names_it(one_url: dict) -> None:
    akkoord, voortgang = one_url["GM0308"]
    assert follow_up_of([voortgang], has_deliveries=False) == FollowUp(tracked=False, by=("baarn-voortgang",))
    assert follow_up_of([voortgang], has_deliveries=False).as_json() == {"tracked": False, "by": ["baarn-voortgang"]}
    assert follow_up_of([voortgang], has_deliveries=True) == FollowUp(tracked=True)  # a delivery recorded by hand
    assert follow_up_of([akkoord, voortgang], has_deliveries=False) == FollowUp(tracked=True)
    assert follow_up_of([], has_deliveries=False) == FollowUp(tracked=True)  # typed in by hand: its registrar
