"""Data sources and their credits, read from the importer's source mappings.

Each mapping (``scripts/mappings/*.yaml``) names the municipality its rows belong to and the
source it credits. The API attaches the credit to everything it shows of that municipality,
and ``make run`` onboards each municipality, so a new source is one mapping file.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel


class SourceCredit(BaseModel):
    """Where a municipality's data comes from, to be credited wherever it is shown.

    Attributes:
        municipality_code: code of the municipality the source's rows belong to.
        name: the source's title.
        publisher: who published it (and who extracted it, if someone did).
        url: where it is published.
        licence: its licence, or a note that none is stated.
        source_uris: the ``source_uri`` values its commitments carry on chain (the source's url
            and the mapping's constant ``source_uri``, if any): a commitment is credited to
            this source when its ``source_uri`` is one of them.
        language: BCP 47 tag of the source's texts (``""``: not stated); the site marks them
            with it, since ledger texts stay in their own language.
        time_zone: IANA zone of the source's calendar dates (the site shows dates in it).
        credit: one line: ``"<name> — <publisher> — <url> — <licence>"``.
    """

    municipality_code: str
    municipality_name: str
    name: str
    publisher: str
    url: str
    licence: str
    source_uris: frozenset[str] = frozenset()
    language: str = ""
    time_zone: str = "Europe/Amsterdam"

    def credits(self, source_uri: str) -> bool:
        """Whether a commitment with this on-chain ``source_uri`` comes from this source."""
        return source_uri in self.source_uris

    @property
    def credit(self) -> str:
        return f"{self.name} — {self.publisher} — {self.url} — {self.licence}"


def load_sources(mappings_dir: Path) -> list[SourceCredit]:
    """Every mapping's municipality and source credit, by file name order. Mappings without a
    ``municipality.code`` or ``source`` block are left out.

    Raises:
        yaml.YAMLError: a mapping is not valid YAML.
    """
    sources: list[SourceCredit] = []
    for path in sorted(mappings_dir.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        municipality = document.get("municipality") or {}
        source = document.get("source") or {}
        if not municipality.get("code") or not source:
            continue
        uri_spec = (document.get("commitment") or {}).get("source_uri") or {}
        uris = {str(source.get("url", ""))}
        if isinstance(uri_spec, dict) and "const" in uri_spec:
            uris.add(str(uri_spec["const"]))
        sources.append(
            SourceCredit(
                municipality_code=str(municipality["code"]),
                municipality_name=str(municipality.get("name", "")),
                name=" ".join(str(source.get("name", "")).split()),
                publisher=" ".join(str(source.get("publisher", "")).split()),
                url=str(source.get("url", "")),
                licence=" ".join(str(source.get("licence", "")).split()),
                source_uris=frozenset(u for u in uris if u),
                language=str(source.get("language", "")),
                time_zone=str(municipality.get("time_zone") or "Europe/Amsterdam"),
            )
        )
    return sources


def credits_by_code(mappings_dir: Path) -> dict[str, list[SourceCredit]]:
    """Municipality code → its sources' credits."""
    found: dict[str, list[SourceCredit]] = {}
    for source in load_sources(mappings_dir):
        found.setdefault(source.municipality_code, []).append(source)
    return found
