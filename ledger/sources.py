"""Data sources and their credits, read from the importer's source mappings.

Each mapping (``scripts/mappings/*.yaml``) names the municipality its rows belong to and the
source it credits, and ``make run`` onboards each municipality, so a new source is one mapping
file. This module is the one place that decides what a commitment is credited to
(:func:`credited_sources`, :func:`credit_line`): the sources whose url its on-chain
``source_uri`` names (the importer sets it), else, for one typed in by hand through the staff
API, its municipality and the registrar who entered it (:func:`hand_typed_credit`), never a
dataset it does not come from. A delivery is credited as its commitment is.
"""

from __future__ import annotations

from collections.abc import Iterable
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


CREDIT_SEPARATOR = " | "
"""Between two credits in one line (a CSV cell, an Atom ``rights``)."""


def credited_sources(sources: Iterable[SourceCredit], source_uri: str) -> list[SourceCredit]:
    """The sources, of ``sources`` (its municipality's), that a commitment with this on-chain
    ``source_uri`` comes from (:meth:`SourceCredit.credits`), in their order; ``[]`` for one
    typed in by hand (an empty or its own ``source_uri``)."""
    return [s for s in sources if s.credits(source_uri)]


def sources_of_commitments(
    sources: dict[str, list[SourceCredit]], commitments: Iterable[tuple[str, str]]
) -> list[SourceCredit]:
    """The sources that at least one of ``commitments`` (``(municipality code, on-chain
    source_uri)`` pairs) comes from, once each, by municipality code, then in mapping order:
    what a page or file of those commitments credits (one typed in by hand adds none)."""
    uris: dict[str, set[str]] = {}
    for code, source_uri in commitments:
        uris.setdefault(code, set()).add(source_uri)
    return [c for code in sorted(uris) for c in sources.get(code, []) if any(c.credits(u) for u in uris[code])]


def hand_typed_credit(municipality_name: str, registrar: str) -> str:
    """The credit of a commitment that comes from no imported dataset: its municipality and the
    registrar account that entered it, e.g. ``"Baarn — entered by its registrar 0xb2b2… — not
    from an imported dataset"``."""
    return f"{municipality_name} — entered by its registrar {registrar} — not from an imported dataset"


def credit_line(sources: Iterable[SourceCredit], source_uri: str, municipality_name: str, registrar: str) -> str:
    """One line crediting a commitment (or a delivery of it): the :attr:`SourceCredit.credit` of
    each of :func:`credited_sources` joined by :data:`CREDIT_SEPARATOR`, else
    :func:`hand_typed_credit` of its municipality and ``registrar``."""
    found = credited_sources(sources, source_uri)
    if not found:
        return hand_typed_credit(municipality_name, registrar)
    return CREDIT_SEPARATOR.join(c.credit for c in found)


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
