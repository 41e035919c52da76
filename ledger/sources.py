"""Data sources and their credits, read from the importer's source mappings.

Each mapping (``scripts/mappings/*.yaml``) names the municipality its rows belong to and the
source it credits, under a stable source id (``source.id``, unique across the mappings), and
``make run`` onboards each municipality, so a new source is one mapping file. This module is
the one place that decides what a commitment is credited to (:func:`credited_sources`,
:func:`credit_line`): the source whose id its on-chain ``source_uri`` names in the fragment
parameter ``ledger-source=<id>`` (the importer writes it: :func:`source_uri_with_id`; read
back by :func:`split_source_id`), else, for a ``source_uri`` without that parameter
(registered before source ids, or typed by hand), the sources whose url (or the mapping's
constant ``source_uri``) it equals, else, for one typed in by hand through the staff API, its
municipality and the registrar who entered it (:func:`hand_typed_credit`), never a dataset it
does not come from. A delivery is credited as its commitment is.

It also decides whether a commitment's status can be read as its source's verdict
(:func:`follow_up_of`): a source that does not track follow-up (``source: {follow_up:
false}``, e.g. a coalition agreement: promises only, nobody records deliveries) leaves a
commitment without deliveries "overdue" by the status rules, but that is no claim of the
source that it was not done, and every reader says so.
"""

from __future__ import annotations

import re
from typing import Any
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel

from ledger.errors import LedgerConfigError, LedgerError

SOURCE_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
"""A source id: 1..64 characters, lowercase ASCII letters, digits and hyphens, starting and
ending with a letter or digit (``baarn-coalitieakkoord-2022-2026``). It needs no escaping in
a URI fragment."""

SOURCE_ID_PARAMETER = "ledger-source"
"""The fragment parameter of an on-chain ``source_uri`` that names the source id
(``https://x/doc.pdf#ledger-source=baarn-coalitieakkoord-2022-2026``)."""

_SOURCE_ID = re.compile(SOURCE_ID_PATTERN)


def is_source_id(value: object) -> bool:
    """Whether ``value`` is a text matching :data:`SOURCE_ID_PATTERN`."""
    return isinstance(value, str) and _SOURCE_ID.fullmatch(value) is not None


class SourceMappingError(LedgerConfigError):
    """The source mappings cannot be read as sources (a missing or malformed block, two
    mappings with one id). The server does not start on them: credits would be wrong.

    Attributes:
        path: the mapping file (the second one, for a repeated id).
    """

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class InvalidSourceError(SourceMappingError):
    """A mapping's ``source`` block has a missing or malformed value.

    Attributes:
        location: where in the document, e.g. ``"source.id"``.
        problem: what is wrong with it.
    """

    def __init__(self, path: Path, location: str, problem: str) -> None:
        super().__init__(path, f"{location}: {problem}")
        self.location = location
        self.problem = problem


class DuplicateSourceIdError(SourceMappingError):
    """Two mappings give one ``source.id``: their commitments could not be told apart.

    Attributes:
        source_id: the repeated id.
        first_path: the mapping that gave it first (file name order).
    """

    def __init__(self, path: Path, source_id: str, first_path: Path) -> None:
        super().__init__(path, f"source.id: {source_id!r} is already the id of {first_path.name}; "
                               "give each mapping its own id")
        self.source_id = source_id
        self.first_path = first_path


class SourceIdConflictError(LedgerError, ValueError):
    """A ``source_uri`` already names another source in its ``ledger-source`` parameter.

    Attributes:
        source_uri: the value as given.
        found: the id it names.
        source_id: the id it was to be given.
    """

    def __init__(self, source_uri: str, found: str, source_id: str) -> None:
        super().__init__(f"{source_uri!r} already names {SOURCE_ID_PARAMETER}={found}, not this mapping's source "
                         f"{source_id}; remove the parameter from the source's value")
        self.source_uri = source_uri
        self.found = found
        self.source_id = source_id


def split_source_id(source_uri: str) -> tuple[str, str | None]:
    """Read the source id out of an on-chain ``source_uri``: the rule of :data:`SOURCE_ID_PARAMETER`.

    The fragment (after the first ``#``) is read as ``&``-separated parameters; the first
    ``ledger-source=<value>`` names the source (its value as written, not percent-decoded: a
    source id needs no escaping). Every ``ledger-source`` parameter is left out of the URI
    returned, and the ``#`` too when nothing else is left in the fragment.

    Returns:
        ``(uri, source_id)``: the URI without the parameter (what a reader is shown) and the
        id it names, ``None`` when it names none (``(source_uri, None)``). An empty value
        (``#ledger-source=``) names the id ``""``, which no source has.
    """
    head, hash_sign, fragment = source_uri.partition("#")
    if not hash_sign:
        return source_uri, None
    found: str | None = None
    kept: list[str] = []
    for part in fragment.split("&"):
        name, equals, value = part.partition("=")
        if name == SOURCE_ID_PARAMETER and equals:
            found = value if found is None else found
        else:
            kept.append(part)
    if found is None:
        return source_uri, None
    rest = "&".join(kept)
    return (f"{head}#{rest}" if rest else head), found


def source_uri_with_id(source_uri: str, source_id: str, url: str = "") -> str:
    """The on-chain ``source_uri`` of a commitment of source ``source_id``: ``source_uri`` (or,
    when it is empty, the source's ``url``) with the fragment parameter
    ``ledger-source=<source_id>``: ``#ledger-source=<id>`` after a URI without fragment (or
    with an empty one), ``&ledger-source=<id>`` after an existing fragment
    (``https://x/doc.pdf#page=3&ledger-source=<id>``). A URI that already names this id is
    returned as it is. The byte limit is the caller's to check (the planner reports a row whose
    URI no longer fits).

    Raises:
        SourceIdConflictError: the URI already names another source id.
        ValueError: ``source_id`` is not a source id (:data:`SOURCE_ID_PATTERN`).
    """
    if not is_source_id(source_id):
        raise ValueError(f"{source_id!r} is not a source id ({SOURCE_ID_PATTERN})")
    base = source_uri or url
    _, found = split_source_id(base)
    if found == source_id:
        return base
    if found is not None:
        raise SourceIdConflictError(base, found, source_id)
    parameter = f"{SOURCE_ID_PARAMETER}={source_id}"
    if "#" not in base:
        return f"{base}#{parameter}"
    return f"{base}{parameter}" if base.endswith("#") else f"{base}&{parameter}"


class SourceCredit(BaseModel):
    """Where a municipality's data comes from, to be credited wherever it is shown.

    Attributes:
        id: the source id (``source.id`` of its mapping, :data:`SOURCE_ID_PATTERN`), unique
            across the mappings; its commitments name it in their on-chain ``source_uri``.
        municipality_code: code of the municipality the source's rows belong to.
        name: the source's title.
        publisher: who published it (and who extracted it, if someone did).
        url: where it is published.
        licence: its licence, or a note that none is stated.
        source_uris: the source's url and the mapping's constant ``source_uri``, if any: a
            commitment whose ``source_uri`` names no source id is credited to this source when
            its ``source_uri`` is one of them (the fallback of :meth:`credits`).
        language: BCP 47 tag of the source's texts (``""``: not stated); the site marks them
            with it, since ledger texts stay in their own language.
        time_zone: IANA zone of the source's calendar dates (the site shows dates in it).
        follow_up: whether the source tracks follow-up (records deliveries or progress); false
            for one of promises only (:func:`follow_up_of`).
        credit: one line: ``"<name> — <publisher> — <url> — <licence>"``.
    """

    id: str
    municipality_code: str
    municipality_name: str
    name: str
    publisher: str
    url: str
    licence: str
    source_uris: frozenset[str] = frozenset()
    language: str = ""
    time_zone: str = "Europe/Amsterdam"
    follow_up: bool = True

    def credits(self, source_uri: str) -> bool:
        """Whether a commitment with this on-chain ``source_uri`` comes from this source: its
        ``ledger-source`` parameter (:func:`split_source_id`) is this source's id; a
        ``source_uri`` without the parameter (registered before source ids, or typed by hand)
        falls back to the url rule: it is one of :attr:`source_uris`. So two mappings of one
        publisher (one url) credit only their own commitments, except those registered
        without the parameter, which both credit."""
        _, source_id = split_source_id(source_uri)
        if source_id is not None:
            return source_id == self.id
        return source_uri in self.source_uris

    @property
    def credit(self) -> str:
        return f"{self.name} — {self.publisher} — {self.url} — {self.licence}"


CREDIT_SEPARATOR = " | "
"""Between two credits in one line (a CSV cell, an Atom ``rights``)."""


def credited_sources(sources: Iterable[SourceCredit], source_uri: str) -> list[SourceCredit]:
    """The sources, of ``sources`` (its municipality's), that a commitment with this on-chain
    ``source_uri`` comes from (:meth:`SourceCredit.credits`), in their order, once each (by
    id); ``[]`` for one typed in by hand (an empty or its own ``source_uri``)."""
    found: dict[str, SourceCredit] = {}
    for s in sources:
        if s.id not in found and s.credits(source_uri):
            found[s.id] = s
    return list(found.values())


def sources_of_commitments(
    sources: dict[str, list[SourceCredit]], commitments: Iterable[tuple[str, str]]
) -> list[SourceCredit]:
    """The sources that at least one of ``commitments`` (``(municipality code, on-chain
    source_uri)`` pairs) comes from, once each (by id), by municipality code, then in mapping
    order: what a page or file of those commitments credits (one typed in by hand adds none)."""
    uris: dict[str, set[str]] = {}
    for code, source_uri in commitments:
        uris.setdefault(code, set()).add(source_uri)
    found: dict[str, SourceCredit] = {}
    for code in sorted(uris):
        for c in sources.get(code, []):
            if c.id not in found and any(c.credits(u) for u in uris[code]):
                found[c.id] = c
    return list(found.values())


@dataclass(frozen=True)
class FollowUp:
    """Whether a commitment's status can be read as its source's verdict (:func:`follow_up_of`).

    Attributes:
        tracked: false when every source it comes from records no follow-up and no delivery
            names it: its status (``overdue`` once the due date passed) is the rules' verdict
            on a ledger where nobody records deliveries, not a claim that it was not done.
        by: when ``tracked`` is false, the ids of those sources, in credit order; else empty.
    """

    tracked: bool
    by: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        """``{"tracked": bool, "by": [source id]}`` (the API's ``follow_up``)."""
        return {"tracked": self.tracked, "by": list(self.by)}


def follow_up_of(credited: Sequence[SourceCredit], has_deliveries: bool) -> FollowUp:
    """The follow-up of a commitment credited to ``credited`` (:func:`credited_sources`).

    Not tracked when ``credited`` is not empty, none of its sources tracks follow-up
    (:attr:`SourceCredit.follow_up` false) and ``has_deliveries`` is false (no delivery,
    recorded or batched, revoked or not, names it). A delivery recorded by hand for such a
    commitment is follow-up: it is then tracked. One typed in by hand (no source) is tracked:
    its registrar is its source.
    """
    if not credited or has_deliveries or any(s.follow_up for s in credited):
        return FollowUp(tracked=True)
    return FollowUp(tracked=False, by=tuple(s.id for s in credited))


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
    """Every mapping's municipality and source credit, by file name order; an ``issuers``
    mapping gives one per issuer of its table (:data:`ANY_ISSUER` without a table). Mappings
    without a ``municipality.code`` or ``issuers`` block, or without ``source``, are left out.

    Raises:
        yaml.YAMLError: a mapping is not valid YAML.
        InvalidSourceError: a ``source.id`` missing or not a source id
            (:data:`SOURCE_ID_PATTERN`), or a ``source.follow_up`` that is not true or false.
        DuplicateSourceIdError: two mappings give one ``source.id``.
    """
    sources: list[SourceCredit] = []
    seen: dict[str, Path] = {}
    for path in sorted(mappings_dir.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        municipality = document.get("municipality") or {}
        source = document.get("source") or {}
        issuers = _issuers_of(document)
        if (not municipality.get("code") and not issuers) or not source:
            continue
        source_id = source.get("id")
        if not is_source_id(source_id):
            raise InvalidSourceError(path, "source.id", f"{source_id!r} is not a source id: 1..64 lowercase letters, "
                                     "digits and hyphens, starting and ending with a letter or digit")
        if source_id in seen:
            raise DuplicateSourceIdError(path, source_id, seen[source_id])
        seen[source_id] = path
        follow_up = source.get("follow_up", True)
        if not isinstance(follow_up, bool):
            raise InvalidSourceError(path, "source.follow_up", f"{follow_up!r} is not true or false")
        uri_spec = (document.get("commitment") or {}).get("source_uri") or {}
        uris = {str(source.get("url", ""))}
        if isinstance(uri_spec, dict) and "const" in uri_spec:
            uris.add(str(uri_spec["const"]))
        for code, name, zone in issuers or [(str(municipality["code"]), str(municipality.get("name", "")),
                                               municipality.get("time_zone"))]:
            sources.append(
                SourceCredit(
                    id=source_id,
                    municipality_code=code,
                    municipality_name=name,
                    name=" ".join(str(source.get("name", "")).split()),
                    publisher=" ".join(str(source.get("publisher", "")).split()),
                    url=str(source.get("url", "")),
                    licence=" ".join(str(source.get("licence", "")).split()),
                    # a source of any issuer (ANY_ISSUER) credits only what names its id: no url rule
                    source_uris=frozenset(u for u in uris if u) if code != ANY_ISSUER else frozenset(),
                    language=str(source.get("language", "")),
                    time_zone=str(zone or "Europe/Amsterdam"),
                    follow_up=follow_up,
                )
            )
    return sources


ANY_ISSUER = "*"
"""The municipality code of a source whose mapping names its issuers by a code column without
a table (``issuers: {column, name_column}``): it may credit a commitment of any municipality,
and only by its id (``#ledger-source=<id>``)."""


def _issuers_of(document: dict) -> list[tuple[str, str, str | None]]:
    """``(code, name, time zone)`` of each issuer an ``issuers`` mapping names (once per code, in
    table order), ``[(ANY_ISSUER, "", zone)]`` for one without a table, ``[]`` for a mapping with
    a ``municipality``."""
    block = document.get("issuers")
    if not isinstance(block, dict) or document.get("municipality"):
        return []
    zone = block.get("time_zone")
    table = block.get("table")
    if not isinstance(table, dict):
        return [(ANY_ISSUER, "", zone)]
    found: dict[str, tuple[str, str, str | None]] = {}
    for ref in table.values():
        if isinstance(ref, dict) and ref.get("code"):
            found.setdefault(str(ref["code"]), (str(ref["code"]), str(ref.get("name", "")), zone))
    return list(found.values())


class CreditsByCode(dict):
    """Municipality code → its sources (:func:`credits_by_code`); ``get(code)`` adds the sources
    of any issuer (:data:`ANY_ISSUER`) to the code's own."""

    def get(self, code: str, default: Any = None) -> Any:  # type: ignore[override]
        own = super().get(code)
        anywhere = super().get(ANY_ISSUER) if code != ANY_ISSUER else None
        if own is None and anywhere is None:
            return default
        return [*(own or []), *(anywhere or [])]


def credits_by_code(mappings_dir: Path) -> CreditsByCode:
    """Municipality code → its sources' credits (an ``issuers`` mapping's source under each
    issuer of its table, or under :data:`ANY_ISSUER`)."""
    found = CreditsByCode()
    for source in load_sources(mappings_dir):
        found.setdefault(source.municipality_code, []).append(source)
    return found
