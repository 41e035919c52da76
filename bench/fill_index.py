"""A filled index for the read benches: N commitments and M deliveries, through the real projection.

``python -m bench.fill_index --size small|big [--postgres-url URL] [--chunk-events 5000]``
builds (or reuses) an index database and prints where it is and how fast it was filled.

What it holds (``--size``; ``--commitments/--deliveries/--largest`` for other sizes):

- ``small``: 350 commitments, 3,500 deliveries, the largest commitment with 100 of them;
- ``medium``: 20,000 commitments (the size of the issue's figures), 200,000 deliveries, the
  largest commitment with 10,000;
- ``big``: 100,000 commitments, 1,000,000 deliveries, the largest commitment with 10,000;

across :data:`MUNICIPALITIES` (12 Utrecht-region municipalities) and :data:`THEMES` (10
themes), with Dutch titles and descriptions built from the themes' words (so a text search for
:data:`SEARCH_WORD` matches about half the commitments and :data:`NO_MATCH_WORD` none), one
registrar and one confirmer per municipality, due dates from 4 months to 5 years after
registration, chain times from 2023-01-02 (:data:`CHAIN_START`) over 3.3 years
(:data:`CHAIN_SECONDS`), so that read at today's clock some are overdue, some pending or in
progress, some delivered on time or late; 3 % withdrawn, 3 % amended (due date moved 180
days later), 5 % of deliveries recorded more than 30 days after the date they state, 5 %
confirmed, 1 % revoked. Every other commitment's deliveries (count drawn 0..2×mean) add up to
its target or more (met), the rest to 5..95 % of it. The mix is the same at every size (one
seeded generator, :data:`SEED`), so small and big differ in size only.

The events are ``ledger.events.LedgerEvent`` objects built by ``tests.db.script.Script`` (the
projection tests' builder: the decoder's argument names and value types), in chain order (one
block per 12-second slot that has events), applied with ``ledger.db.projection.apply_events``
in chunks of ``--chunk-events`` events (whole blocks), one transaction per chunk with the
checkpoint, as the indexer commits. So every derived column is what the indexer would write.

Cached: the database is ``data/bench/index-<key>.sqlite3`` (PostgreSQL: schema
``bench_<key>_<digest of the cache folder>``), ``<key>`` the sizes and a fingerprint of the
code the index depends on (:data:`FINGERPRINT_FILES`: models, projection, engine, status
rules, decoder, this file, the event builder); a manifest
``data/bench/index-<key>.<sqlite|postgres>.json`` written last says the fill is complete and
names the picks the API bench reads (:class:`Manifest`). A run that finds the manifest and its
database returns at once (``--reuse-fill``: also a fill of these sizes by other code, same
schema version); a fill that was stopped resumes after its last committed chunk (its
checkpoint, as the indexer resumes), and the fills of the
same sizes by other code once it is complete (``data/`` is git-ignored).

Speed: the manifest keeps the wall-clock events/s of the whole fill (generating the events
included) and the projection's own events/s (time in ``apply_events`` and the commits).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterator

import typer
from sqlalchemy import text
from sqlalchemy.engine import make_url

from ledger.db import create_schema, make_engine, session_factory
from ledger.db.models import SCHEMA_VERSION
from ledger.db.projection import apply_events, load_checkpoint, save_checkpoint
from ledger.limits import delivery_commitment_id
from ledger.settings import REPO_ROOT
from tests.db.script import CONFIRMER, CONTRACT, DAY, REGISTRAR, Script, did, sha

CACHE_DIR = REPO_ROOT / "data" / "bench"
"""Where filled databases and their manifests are kept (git-ignored ``data/``)."""

SEED = 8
"""Seed of the generator: the same sizes always give the same events."""

CHAIN_START = 1_672_617_600
"""Time of the first block, Unix seconds (2023-01-02T00:00:00Z)."""
CHAIN_SECONDS = int(3.3 * 365 * DAY)
"""Span of the chain's block times, seconds (to about April 2026)."""
REGISTRATION_SECONDS = int(2.5 * 365 * DAY)
"""Commitments are registered in the first 2.5 years, seconds."""
BLOCK_SECONDS = 12
"""One block per 12-second slot that has events."""
LATE_SHARE = 0.05
"""Share of deliveries recorded more than 30 days after their stated date."""

LARGEST_ID = 1
"""The commitment with the most deliveries (registered first, delivered throughout)."""
TYPICAL_ID = 2
"""A commitment with :data:`TYPICAL_DELIVERIES` deliveries, never withdrawn (detail pages)."""
TYPICAL_DELIVERIES = 10
OVERVIEW_MUNICIPALITY = 1
"""The municipality of both (and of the overview pages)."""

SAMPLE_SIZE = 10_000
"""Most ids and evidence hashes in the manifest's samples."""

SEARCH_WORD = "bewoners"
"""A word in about half the descriptions (text search with matches)."""
NO_MATCH_WORD = "xylofoonorkest"
"""A word in no title, description or reference (text search without a match)."""

MUNICIPALITIES: tuple[tuple[int, str, str], ...] = (
    (1, "Baarn", "GM0308"), (2, "Utrecht", "GM0344"), (3, "Amersfoort", "GM0307"), (4, "Zeist", "GM0355"),
    (5, "Soest", "GM0342"), (6, "Hilversum", "GM0402"), (7, "Bunschoten", "GM0313"), (8, "Leusden", "GM0327"),
    (9, "Nieuwegein", "GM0356"), (10, "Houten", "GM0321"), (11, "De Bilt", "GM0310"), (12, "Eemnes", "GM0317"),
)
"""(id, name, CBS code) of the municipalities on the ledger."""

THEMES: dict[str, tuple[str, tuple[str, ...]]] = {
    "Wonen": ("woningen", ("sociale huurwoningen", "starterswoningen", "seniorenwoningen", "studentenkamers",
                           "flexwoningen")),
    "Mobiliteit": ("stuks", ("fietsenstallingen", "laadpalen", "bushaltes", "zebrapaden", "deelauto's")),
    "Klimaat": ("woningen", ("geïsoleerde woningen", "warmtepompen", "zonnedaken", "groene daken", "regentonnen")),
    "Groen": ("stuks", ("straatbomen", "speeltuinen", "wadi's", "bloemenweides", "moestuinen")),
    "Onderwijs": ("plaatsen", ("klaslokalen", "schoolpleinen", "kinderopvangplekken", "stageplekken")),
    "Zorg": ("personen", ("mantelzorgers", "huisbezoeken", "buurtcoaches", "ouderen met hulp thuis")),
    "Veiligheid": ("stuks", ("straatlantaarns", "AED's", "buurtpreventieteams", "veilige oversteekplaatsen")),
    "Sport": ("stuks", ("sportvelden", "beweegtuinen", "zwemlessen", "trapveldjes")),
    "Cultuur": ("stuks", ("kunstwerken", "gerestaureerde monumenten", "concerten", "bibliotheekpunten")),
    "Economie": ("banen", ("werkplekken", "leerbanen", "startende ondernemers", "marktkramen")),
}
"""Theme → (unit, things promised)."""

VERBS = ("Realiseren van", "Aanleggen van", "Bouwen van", "Plaatsen van", "Ondersteunen van", "Toevoegen van")
PLACES = ("Noord", "Oost", "Zuid", "West", "Centrum", "het buitengebied", "de oude kern", "de stationsomgeving")
PARTNERS = ("woningcorporaties", "ondernemers", "scholen", "zorgaanbieders", "de provincie", "sportclubs",
            "maatschappelijke partners", "het waterschap")
FUNDS = ("de begroting", "het klimaatfonds", "de reserve sociaal domein", "een rijksbijdrage",
         "het investeringsfonds", "de woondeal")


@dataclass(frozen=True)
class Sizes:
    """How many commitments and deliveries (the largest commitment's included); ``events``:
    only a prefix of that chain, its first chunks up to at least this many events (an index
    in the middle of its backfill), ``None``: all of it."""

    commitments: int
    deliveries: int
    largest: int
    events: int | None = None

    @property
    def key(self) -> str:
        prefix = f"-e{self.events}" if self.events else ""
        return f"c{self.commitments}-d{self.deliveries}-l{self.largest}{prefix}"


SIZES = {"small": Sizes(350, 3_500, 100), "medium": Sizes(20_000, 200_000, 10_000), "big": Sizes(100_000, 1_000_000, 10_000)}
"""small: the issue's 350 commitments; medium: the 20,000 its figures were measured at, with the
10,000-delivery commitment; big: the issue's goal size."""

FINGERPRINT_LENGTH = 12
FINGERPRINT_FILES = ("ledger/db/models.py", "ledger/db/projection.py", "ledger/db/engine.py", "ledger/status.py",
                     "ledger/events.py", "ledger/limits.py", "bench/fill_index.py", "tests/db/script.py")
"""The code a filled index depends on: a change in any of them makes a new fill."""


@dataclass(frozen=True)
class Manifest:
    """A complete fill and what the API bench reads in it.

    Attributes:
        database_url: SQLAlchemy URL of the filled index.
        postgres_schema: its schema on PostgreSQL, ``None`` on SQLite.
        sizes: commitments, deliveries, largest (as planned), events (a prefix) or ``None``.
        counts: commitments, deliveries and the largest's deliveries in the index (the
            planned ones, or fewer in a prefix).
        events: events in the index.
        resumed_events: of them, the ones an earlier, stopped run had applied.
        seconds: wall-clock seconds of this run's fill (events generated and applied).
        events_per_second: events applied by this run / ``seconds`` (0 when none).
        apply_seconds: seconds spent in ``apply_events`` and the commits alone.
        apply_events_per_second: events applied / ``apply_seconds``: the projection's speed.
        last_block: last block of the synthetic chain (the checkpoint's).
        typical_id: a commitment with exactly 10 deliveries, not withdrawn (detail pages).
        largest_id: the commitment with ``sizes.largest`` deliveries.
        municipality_id: the municipality of the overview pages (1).
        evidence_sha256: an evidence hash cited by one delivery of ``typical_id`` (document check).
        id_sample: up to :data:`SAMPLE_SIZE` commitment ids, ``largest_id`` left out (reads
            spread over many commitments, as readers' are).
        evidence_sample: up to :data:`SAMPLE_SIZE` evidence hashes, each cited by one delivery.
        search_word / no_match_word: text searches with and without matches.
        schema_version: the index schema it was built with.
    """

    database_url: str
    postgres_schema: str | None = None
    sizes: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    events: int = 0
    resumed_events: int = 0
    seconds: float = 0.0
    events_per_second: float = 0.0
    apply_seconds: float = 0.0
    apply_events_per_second: float = 0.0
    last_block: int = 0
    typical_id: int = TYPICAL_ID
    largest_id: int = LARGEST_ID
    municipality_id: int = OVERVIEW_MUNICIPALITY
    evidence_sha256: str = ""
    id_sample: list[int] = field(default_factory=list)
    evidence_sample: list[str] = field(default_factory=list)
    search_word: str = SEARCH_WORD
    no_match_word: str = NO_MATCH_WORD
    schema_version: str = SCHEMA_VERSION


# ---------------------------------------------------------------------------- the plan


@dataclass
class _Plan:
    """One commitment's facts (times in Unix seconds)."""

    cid: int
    municipality_id: int
    theme: str
    registered: int
    due: int
    target: int
    deliveries: list[tuple[int, int]]  # (recorded time, quantity), in time order
    withdrawn_at: int | None = None
    amended_at: int | None = None


def fingerprint() -> str:
    """SHA-256 (12 hex digits) of :data:`FINGERPRINT_FILES` and the schema version."""
    digest = hashlib.sha256(SCHEMA_VERSION.encode())
    for name in FINGERPRINT_FILES:
        digest.update(name.encode() + b"\0" + (REPO_ROOT / name).read_bytes())
    return digest.hexdigest()[:FINGERPRINT_LENGTH]


def _counts(rng: random.Random, sizes: Sizes) -> list[int]:
    """Deliveries per commitment: the first has ``sizes.largest``, the second
    :data:`TYPICAL_DELIVERIES` (the typical detail page), the others 0..2×mean, adjusted at
    random so they add up to ``sizes.deliveries`` exactly."""
    if sizes.commitments < 2 or sizes.deliveries < sizes.largest + TYPICAL_DELIVERIES:
        raise ValueError(f"not a fillable size (2 commitments and {TYPICAL_DELIVERIES} deliveries beside the largest "
                         f"at least): {sizes}")
    others = sizes.commitments - 2
    rest = sizes.deliveries - sizes.largest - TYPICAL_DELIVERIES
    if others == 0:
        return [sizes.largest + rest, TYPICAL_DELIVERIES]
    mean = rest / others
    counts = [rng.randint(0, max(0, round(2 * mean))) for _ in range(others)]
    diff = rest - sum(counts)
    while diff:
        i = rng.randrange(others)
        if diff > 0:
            counts[i] += 1
            diff -= 1
        elif counts[i] > 0:
            counts[i] -= 1
            diff += 1
    return [sizes.largest, TYPICAL_DELIVERIES, *counts]


def plan(sizes: Sizes, seed: int = SEED) -> list[_Plan]:
    """Every commitment's facts, ids 1..``sizes.commitments`` in registration order."""
    rng = random.Random(seed)
    counts = _counts(rng, sizes)
    end = CHAIN_START + CHAIN_SECONDS
    registered = sorted(CHAIN_START + 3600 + rng.randrange(REGISTRATION_SECONDS) for _ in range(sizes.commitments))
    registered[0] = CHAIN_START + 3600  # the largest commitment: registered first, delivered throughout
    themes = list(THEMES)
    plans = []
    for index, (count, reg) in enumerate(zip(counts, registered)):
        cid = index + 1
        largest, typical = cid == LARGEST_ID, cid == TYPICAL_ID
        due = reg + rng.randrange(120 * DAY, 5 * 365 * DAY)
        target = 12_000 if largest else rng.choice((4, 10, 25, 50, 120, 300, 1_000))
        met = not largest and rng.random() < 0.5
        withdrawn_at = None
        if not (largest or typical) and rng.random() < 0.03:
            withdrawn_at = rng.randrange(reg + DAY, end)
        amended_at = None
        if not (largest or typical) and withdrawn_at is None and rng.random() < 0.03:
            amended_at = rng.randrange(reg + DAY, end)
        last = min(withdrawn_at or end, end, due + 365 * DAY)
        times = sorted(rng.randrange(reg + 60, max(reg + 120, last)) for _ in range(count))
        total = target if largest else round(target * (rng.uniform(1.0, 1.1) if met else rng.uniform(0.05, 0.95)))
        quantities = _split(rng, max(total, count), count) if count else []
        if largest:
            quantities = [1] * count
        municipality_id = OVERVIEW_MUNICIPALITY if largest or typical else rng.choice(MUNICIPALITIES)[0]
        plans.append(_Plan(cid, municipality_id, "Mobiliteit" if largest else rng.choice(themes),
                           reg, due, target, list(zip(times, quantities)), withdrawn_at, amended_at))
    return plans


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """``total`` (≥ ``parts``) as ``parts`` positive integers: cut at ``parts - 1`` distinct
    random points of 1..total-1."""
    cuts = [0, *sorted(rng.sample(range(1, total), parts - 1)), total]
    return [b - a for a, b in zip(cuts, cuts[1:])]


def _title(rng: random.Random, p: _Plan, name: str) -> tuple[str, str]:
    unit, things = THEMES[p.theme]
    thing = rng.choice(things)
    title = f"{rng.choice(VERBS)} {p.target:,} {thing} in {name} {rng.choice(PLACES)}".replace(",", ".")
    who = f"samen met {SEARCH_WORD} en {rng.choice(PARTNERS)}" if rng.random() < 0.5 else f"met {rng.choice(PARTNERS)}"
    description = (f"De gemeente {name} zorgt {who} voor {thing} ({p.target} {unit}). "
                   f"Dit staat in het coalitieakkoord en wordt betaald uit {rng.choice(FUNDS)}.")
    return title, description


# ---------------------------------------------------------------------------- the events

_REGISTER, _AMEND, _DELIVER, _CONFIRM, _REVOKE, _WITHDRAW = range(6)


def _actions(plans: list[_Plan], rng: random.Random) -> list[tuple[int, int, int, int]]:
    """Every fact after the set-up as ``(time, kind, commitment id, delivery number)``, in
    chain order."""
    actions: list[tuple[int, int, int, int]] = []
    for p in plans:
        actions.append((p.registered, _REGISTER, p.cid, 0))
        if p.amended_at is not None:
            actions.append((p.amended_at, _AMEND, p.cid, 0))
        for number, (at, _quantity) in enumerate(p.deliveries, start=1):
            actions.append((at, _DELIVER, p.cid, number))
            chance = rng.random() if p.withdrawn_at is None else 1.0
            if chance < 0.05:
                actions.append((at + rng.randrange(DAY, 20 * DAY), _CONFIRM, p.cid, number))
            elif chance < 0.06:
                actions.append((at + rng.randrange(DAY, 60 * DAY), _REVOKE, p.cid, number))
        if p.withdrawn_at is not None:
            actions.append((max(p.withdrawn_at, p.deliveries[-1][0] + 60 if p.deliveries else 0), _WITHDRAW, p.cid, 0))
    actions.sort()
    return actions


def _setup(script: Script) -> None:
    for mid, name, code in MUNICIPALITIES:
        script.municipality(mid, name=name, code=code)
        script.registrar(mid)
        script.confirmer(mid)


def chunks(plans: list[_Plan], chunk_events: int, seed: int = SEED) -> Iterator[Script]:
    """The chain's events as :class:`~tests.db.script.Script` objects of about
    ``chunk_events`` events each, whole blocks, in order (the set-up in the first)."""
    rng = random.Random(seed + 1)
    names = {mid: name for mid, name, _code in MUNICIPALITIES}
    by_id = {p.cid: p for p in plans}
    script = Script(first_block=1, start_time=CHAIN_START, block_seconds=BLOCK_SECONDS)
    _setup(script)
    for at, kind, cid, number in _actions(plans, rng):
        slot_time = at - at % BLOCK_SECONDS
        if slot_time > script.time:
            if len(script.events) >= chunk_events:
                yield script
                script = Script(first_block=script.block + 1, start_time=slot_time, block_seconds=BLOCK_SECONDS)
            else:
                script.next_block(slot_time - script.time)
        p = by_id[cid]
        if kind == _REGISTER:
            title, description = _title(rng, p, names[p.municipality_id])
            script.commitment(cid, p.municipality_id, title=title, description=description, theme=p.theme,
                              unit=THEMES[p.theme][0], target_quantity=p.target, due_date=p.due,
                              promised_at=script.time - 30 * DAY, external_ref=f"{names[p.municipality_id][:3].upper()}-{cid}",
                              source_document_hash=sha(f"source-{cid // 10}"),
                              source_uri=f"https://example.org/coalitieakkoord-{cid // 10}.pdf")
        elif kind == _AMEND:
            script.amend(cid, 1, previous_target=p.target, previous_due=p.due, due=p.due + 180 * DAY,
                         reason="besluit gemeenteraad", municipality_id=p.municipality_id)
            p.due += 180 * DAY
        elif kind == _DELIVER:
            quantity = p.deliveries[number - 1][1]
            lag = rng.randrange(40 * DAY, 200 * DAY) if rng.random() < LATE_SHARE else rng.randrange(0, 10 * DAY)
            script.delivery(cid, number, quantity, max(p.registered - 30 * DAY, script.time - lag),
                            evidence_uri=f"https://example.org/bewijs/{did(cid, number)}.pdf",
                            note=f"Opgeleverd: {quantity} {THEMES[p.theme][0]}")
        elif kind == _CONFIRM:
            script.confirm(cid, number)
        elif kind == _REVOKE:
            script.revoke(cid, number, reason="dubbel ingevoerd")
        else:
            script.withdraw(cid, reason="geen budget meer", municipality_id=p.municipality_id)
    if script.events:
        yield script


# ---------------------------------------------------------------------------- filling


def _postgres_url(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def _picks(ids: list[int], delivery_ids: list[int], seed: int = SEED) -> dict:
    """The manifest's picks among the commitments and deliveries in the index: the typical
    commitment's first evidence hash, and seeded samples of up to :data:`SAMPLE_SIZE`
    commitment ids and evidence hashes (the largest commitment's left out)."""
    rng = random.Random(seed + 2)
    ids = [i for i in ids if i != LARGEST_ID]
    deliveries = [d for d in delivery_ids if delivery_commitment_id(d) != LARGEST_ID]
    return {"evidence_sha256": sha(f"evidence-{did(TYPICAL_ID, 1)}"),
            "id_sample": sorted(rng.sample(ids, min(SAMPLE_SIZE, len(ids)))),
            "evidence_sample": [sha(f"evidence-{d}") for d in rng.sample(deliveries, min(SAMPLE_SIZE, len(deliveries)))],
            "counts": {"commitments": len(ids) + 1, "deliveries": len(delivery_ids),
                       "largest": sum(delivery_commitment_id(d) == LARGEST_ID for d in delivery_ids)}}


def fill(sizes: Sizes, *, postgres_url: str | None = None, chunk_events: int = 5_000, echo: bool = True,
         cache_dir: Path = CACHE_DIR, reuse_any_code: bool = False) -> Manifest:
    """Build the index of ``sizes`` (or find it in the cache) and return its manifest.

    Args:
        sizes: commitments, deliveries and the largest commitment's deliveries.
        postgres_url: a PostgreSQL server URL (``postgresql+psycopg://...``): fill schema
            ``bench_<key>_<cache folder digest>`` there; ``None``: a SQLite file in ``cache_dir``.
        chunk_events: events per ``apply_events`` call and transaction (whole blocks).
        echo: print progress (events applied, events/s) to stderr.
        cache_dir: where the SQLite file and the manifest are kept.
        reuse_any_code: take the newest complete fill of ``sizes`` even when it was built by
            other code (another fingerprint): the big fill takes long, and the projection's
            tests hold that faster code writes the same rows. The schema version must still
            match (the API refuses another).

    Raises:
        ValueError: ``sizes`` cannot be filled (fewer than 2 commitments, or fewer deliveries
            than the largest commitment's plus 10).
        sqlalchemy.exc.OperationalError: the database cannot be reached.
    """
    key = f"{sizes.key}-{fingerprint()}"
    backend = "postgres" if postgres_url else "sqlite"
    cache_dir.mkdir(parents=True, exist_ok=True)
    manifest_path = cache_dir / f"index-{key}.{backend}.json"
    schema = None
    if postgres_url:
        folder = hashlib.sha256(str(cache_dir.resolve()).encode()).hexdigest()[:6]
        schema = f"bench_{key}_{folder}".replace("-", "_")
        url = _postgres_url(postgres_url, schema)
    else:
        url = f"sqlite:///{cache_dir / f'index-{key}.sqlite3'}"
    cached = cached_fills(sizes, postgres_url, cache_dir)
    for path, manifest in cached:
        if path == manifest_path or (reuse_any_code and manifest.schema_version == SCHEMA_VERSION):
            if echo and path != manifest_path:
                print(f"  reusing {path.name}, filled by other code than this (--reuse-fill)", file=sys.stderr)
            return manifest
    if postgres_url:
        _admin(postgres_url, f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    plans = plan(sizes)
    engine = make_engine(url)
    create_schema(engine)
    sessions = session_factory(engine)
    with sessions() as session:  # a fill that was stopped resumes after its last chunk, as the indexer does
        checkpoint = load_checkpoint(session)
    resume_after = checkpoint.last_block if checkpoint and checkpoint.last_block is not None else 0
    applied, resumed, last_block, applying = 0, 0, resume_after, 0.0
    ids: list[int] = []
    delivery_ids: list[int] = []
    started = time.perf_counter()
    try:
        for script in chunks(plans, chunk_events):
            if script.block > resume_after and sizes.events and applied + resumed >= sizes.events:
                break
            ids += [e.args["commitment_id"] for e in script.events if e.name == "CommitmentRegistered"]
            delivery_ids += [e.args["delivery_id"] for e in script.events if e.name == "DeliveryRecorded"]
            if script.block <= resume_after:
                resumed += len(script.events)
                continue
            chunk_started = time.perf_counter()
            with sessions.begin() as session:
                applied += apply_events(session, script.events, script.block_times)
                last_block = script.block
                save_checkpoint(session, last_block, script.events[-1].block_hash, last_block, script.time,
                                contract_address=CONTRACT, contract_version="2.1.0")
            applying += time.perf_counter() - chunk_started
            if echo:
                print(f"\r  {applied:,} events, projection {applied / applying:,.0f} events/s", end="", file=sys.stderr,
                      flush=True)
    finally:
        engine.dispose()
    seconds = time.perf_counter() - started
    if echo:
        print(file=sys.stderr)
    manifest = Manifest(
        database_url=url, postgres_schema=schema, sizes=asdict(sizes), events=applied + resumed, resumed_events=resumed,
        seconds=round(seconds, 1), events_per_second=round(applied / seconds, 1) if applied else 0.0,
        apply_seconds=round(applying, 1), apply_events_per_second=round(applied / applying, 1) if applied else 0.0,
        last_block=last_block, **_picks(ids, delivery_ids))
    manifest_path.write_text(json.dumps(asdict(manifest), indent=2) + "\n", encoding="utf-8")
    for path, old in cached:  # older code's fills of these sizes, once the new one is complete
        _forget(old, postgres_url)
        path.unlink()
    return manifest


def cached_fills(sizes: Sizes, postgres_url: str | None, cache_dir: Path = CACHE_DIR) -> list[tuple[Path, Manifest]]:
    """The complete fills of ``sizes`` on this backend in ``cache_dir`` whose database is
    still there, by any code, newest first: (manifest path, manifest)."""
    backend = "postgres" if postgres_url else "sqlite"
    found = []
    known = {f.name for f in fields(Manifest)}
    pattern = f"index-{sizes.key}-{'?' * FINGERPRINT_LENGTH}.{backend}.json"
    for path in sorted(cache_dir.glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True):
        values = {k: v for k, v in json.loads(path.read_text(encoding="utf-8")).items() if k in known}
        if not values.get("counts") and not values.get("sizes", {}).get("events"):  # a manifest from before counts: the whole chain
            values["counts"] = {k: values.get("sizes", {}).get(k) for k in ("commitments", "deliveries", "largest")}
        manifest = Manifest(**values)
        if _present(manifest, postgres_url):
            found.append((path, manifest))
    return found


def _admin(postgres_url: str, statement: str) -> None:
    admin = make_engine(postgres_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(statement))
    finally:
        admin.dispose()


def _present(manifest: Manifest, postgres_url: str | None) -> bool:
    """Whether the database of a cached manifest is still there."""
    if postgres_url is None:
        return Path(make_url(manifest.database_url).database or "").is_file()
    admin = make_engine(postgres_url)
    try:
        with admin.connect() as conn:
            return conn.scalar(text("SELECT count(*) FROM information_schema.schemata WHERE schema_name = :s"),
                               {"s": manifest.postgres_schema}) == 1
    finally:
        admin.dispose()


def _forget(manifest: Manifest, postgres_url: str | None) -> None:
    """Drop the database of ``manifest`` (its schema, or its SQLite file and WAL)."""
    if postgres_url is not None:
        if manifest.postgres_schema:
            _admin(postgres_url, f'DROP SCHEMA IF EXISTS "{manifest.postgres_schema}" CASCADE')
        return
    database = make_url(manifest.database_url).database or ""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)


def sizes_of(size: str | None, commitments: int | None = None, deliveries: int | None = None, largest: int | None = None,
             events: int | None = None) -> Sizes:
    """The sizes of ``size`` (``small``, ``medium``, ``big``, or ``<name>:<events>`` for a
    prefix of that chain), or of the three numbers; ``events``: a prefix of so many events.

    Raises:
        typer.BadParameter: neither, an unknown size name or a prefix that is not a positive integer.
    """
    name, _, prefix = (size or "").partition(":")
    if prefix:
        if not prefix.isdigit() or int(prefix) < 1:
            raise typer.BadParameter(f"a prefix is <size>:<events>, events a positive integer, not {size!r}")
        events = int(prefix)
    if commitments is not None:
        return Sizes(commitments, deliveries or 0, largest or 0, events)
    if name not in SIZES:
        raise typer.BadParameter(f"size must be one of {', '.join(SIZES)} (or <size>:<events>, or give --commitments)")
    return Sizes(SIZES[name].commitments, SIZES[name].deliveries, SIZES[name].largest, events)


def main(
    size: str = typer.Option("small", help="small (350 commitments), medium (20,000) or big (100,000 commitments, "
                                           "1,000,000 deliveries); <size>:<events> for a prefix of its chain"),
    commitments: int = typer.Option(None, min=1, help="other sizes: commitments"),
    deliveries: int = typer.Option(None, min=0, help="other sizes: deliveries in all"),
    largest: int = typer.Option(None, min=0, help="other sizes: deliveries of the largest commitment"),
    postgres_url: str = typer.Option(None, help="fill a schema on this PostgreSQL server instead of a SQLite file"),
    chunk_events: int = typer.Option(5_000, min=1, help="events per apply_events call and transaction"),
    reuse_fill: bool = typer.Option(False, "--reuse-fill", help="take a cached fill of these sizes made by other code"),
) -> None:
    """Fill (or find cached) an index of the given size and print its manifest."""
    manifest = fill(sizes_of(size, commitments, deliveries, largest), postgres_url=postgres_url, chunk_events=chunk_events,
                    reuse_any_code=reuse_fill)
    print(json.dumps(asdict(manifest), indent=2))


if __name__ == "__main__":
    typer.run(main)
