"""The read side of the index, for the API and the site.

Every function takes a :class:`~sqlalchemy.orm.Session` and, where status matters, ``now``
(Unix seconds, the request time). They return plain dicts shaped exactly as the JSON of
``docs/API.md`` (routes only wrap them in wire models): quantities as decimal strings, times
as integer Unix seconds with an ISO 8601 UTC twin (``*_iso``), hashes as ``0x`` lowercase
hex, addresses checksummed. The status of a commitment is computed by
:func:`ledger.status.status_of` for output and by :func:`ledger.status.status_sql` for
filters and counts (the two agree).

They only read; none of them commits or writes.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.db.models import CheckpointRow, Commitment, Delivery, EventRow, EvidenceCitation, Municipality, Registrar
from ledger.db.projection import CHECKPOINT_ID, ZERO_HASH
from ledger.status import STATUSES, progress_bps, status_of, status_sql

MAX_PAGE_LIMIT = 100
"""Largest ``limit`` of :func:`list_commitments`."""

EVIDENCE_URL = "/api/v1/evidence/{sha256}"
"""Where the API serves a stored evidence file."""

TIMELINE_KINDS = {
    "CommitmentRegistered": "registered",
    "CommitmentAmended": "amended",
    "DeliveryRecorded": "delivered",
    "DeliveryRevoked": "revoked",
    "CommitmentWithdrawn": "withdrawn",
}
"""Timeline entry kind of each event that makes one (``EvidenceCited`` does not)."""

_SHA256 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


# ---------------------------------------------------------------------------- formatting


def iso(seconds: int | None) -> str | None:
    """Unix seconds → ISO 8601 UTC, e.g. ``1774994399`` → ``"2026-03-31T21:59:59Z"``.

    ``None`` stays ``None``. Years past 9999 (a due date may be any uint64) are written
    with ISO 8601's expanded year, e.g. ``"+292277026596-12-04T15:30:07Z"``.
    """
    if seconds is None:
        return None
    days, rest = divmod(int(seconds), 86_400)
    year, month, day = _civil_from_days(days)
    hour, rest = divmod(rest, 3_600)
    minute, second = divmod(rest, 60)
    year_text = f"{year:04d}" if 0 <= year <= 9999 else f"{year:+05d}"
    return f"{year_text}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"


def _civil_from_days(days: int) -> tuple[int, int, int]:
    """Days since 1970-01-01 → proleptic Gregorian (year, month, day) (H. Hinnant)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1_460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if month <= 2 else 0), month, day


def chain_ref(tx_hash: str, block_number: int, log_index: int, block_time: int) -> dict[str, Any]:
    """The API's ``ChainRef``: ``{"tx_hash", "block_number", "log_index", "block_time",
    "block_time_iso"}``."""
    return {
        "tx_hash": tx_hash,
        "block_number": block_number,
        "log_index": log_index,
        "block_time": block_time,
        "block_time_iso": iso(block_time),
    }


def _ref_of(row: Any, prefix: str = "") -> dict[str, Any] | None:
    block_number = getattr(row, f"{prefix}block_number")
    if block_number is None:
        return None
    return chain_ref(
        getattr(row, f"{prefix}tx_hash"),
        block_number,
        getattr(row, f"{prefix}log_index"),
        getattr(row, f"{prefix}block_time"),
    )


def normalize_sha256(sha256_hex: str) -> str:
    """``0x``-prefixed lowercase form of a SHA-256 hex digest (the prefix is optional on
    input, case is ignored).

    Raises:
        ValueError: not 64 hex digits.
    """
    text = sha256_hex.strip()
    if not _SHA256.match(text):
        raise ValueError(f"Not a SHA-256 hex digest (64 hex digits, optional 0x): {sha256_hex!r}")
    return "0x" + text[-64:].lower()


# ---------------------------------------------------------------------------- municipalities


def _status_counts(session: Session, now: int, municipality_id: int | None = None) -> dict[int, dict[str, int]]:
    # Group over a subquery: PostgreSQL does not match a CASE with bound parameters in the
    # select list to "the same" CASE in GROUP BY.
    inner = select(Commitment.municipality_id.label("municipality_id"), status_sql(now).label("status"))
    if municipality_id is not None:
        inner = inner.where(Commitment.municipality_id == municipality_id)
    sub = inner.subquery()
    rows = session.execute(
        select(sub.c.municipality_id, sub.c.status, func.count()).group_by(sub.c.municipality_id, sub.c.status)
    ).tuples()
    counts: dict[int, dict[str, int]] = {}
    for mid, status, count in rows:
        counts.setdefault(mid, dict.fromkeys(STATUSES, 0))[status] = count
    return counts


def _registrars(session: Session, municipality_id: int | None = None) -> dict[int, list[str]]:
    query = select(Registrar.municipality_id, Registrar.account).where(Registrar.active.is_(True))
    if municipality_id is not None:
        query = query.where(Registrar.municipality_id == municipality_id)
    result: dict[int, list[str]] = {}
    for mid, account in session.execute(
        query.order_by(Registrar.municipality_id, Registrar.block_number, Registrar.log_index)
    ).tuples():
        result.setdefault(mid, []).append(account)
    return result


def _municipality_dict(m: Municipality, registrars: list[str], counts: dict[str, int]) -> dict[str, Any]:
    return {
        "id": m.id,
        "name": m.name,
        "code": m.code,
        "admin": m.admin,
        "registrars": registrars,
        "commitment_count": sum(counts.values()),
        "status_counts": counts,
        "registered": _ref_of(m),
    }


def list_municipalities(session: Session, now: int) -> list[dict[str, Any]]:
    """Every municipality, by id: the API's ``Municipality`` shape (``status_counts``
    lists all six statuses at ``now``, Unix seconds; ``registrars`` are the current ones,
    in the order they were added)."""
    counts = _status_counts(session, now)
    registrars = _registrars(session)
    return [
        _municipality_dict(m, registrars.get(m.id, []), counts.get(m.id, dict.fromkeys(STATUSES, 0)))
        for m in session.scalars(select(Municipality).order_by(Municipality.id))
    ]


def get_municipality(session: Session, municipality_id: int, now: int) -> dict[str, Any] | None:
    """One municipality as in :func:`list_municipalities`, or ``None`` if unknown."""
    m = session.get(Municipality, municipality_id)
    if m is None:
        return None
    counts = _status_counts(session, now, municipality_id).get(municipality_id, dict.fromkeys(STATUSES, 0))
    return _municipality_dict(m, _registrars(session, municipality_id).get(municipality_id, []), counts)


def municipality_name(session: Session, municipality_id: int) -> str | None:
    """The name of a municipality, or ``None`` if unknown."""
    return session.scalar(select(Municipality.name).where(Municipality.id == municipality_id))


def municipality_codes(session: Session, municipality_ids: Iterable[int] | None = None) -> dict[int, str]:
    """Municipality id → code, for the given ids (all when ``None``)."""
    query = select(Municipality.id, Municipality.code)
    if municipality_ids is not None:
        query = query.where(Municipality.id.in_(list(municipality_ids)))
    return {int(mid): code for mid, code in session.execute(query)}


def list_themes(session: Session, municipality_id: int | None) -> list[dict[str, Any]]:
    """Themes in use and how many commitments (withdrawn ones included) have each:
    ``[{"theme": "Duurzaamheid", "count": 24}]``, by theme; commitments without a theme
    (empty string) are left out.

    Args:
        municipality_id: only this municipality's commitments; all when ``None``.
    """
    query = select(Commitment.theme, func.count()).where(Commitment.theme != "")
    if municipality_id is not None:
        query = query.where(Commitment.municipality_id == municipality_id)
    rows = session.execute(query.group_by(Commitment.theme).order_by(Commitment.theme)).tuples()
    return [{"theme": theme, "count": count} for theme, count in rows]


# ---------------------------------------------------------------------------- commitments


def _summary(c: Commitment, municipality: str, now: int) -> dict[str, Any]:
    return {
        "id": c.id,
        "municipality_id": c.municipality_id,
        "municipality_name": municipality,
        "external_ref": c.external_ref,
        "title": c.title,
        "theme": c.theme,
        "unit": c.unit,
        "target_quantity": str(c.target_quantity),
        "delivered_quantity": str(c.delivered_quantity),
        "progress_bps": progress_bps(c.delivered_quantity, c.target_quantity),
        "status": status_of(c.withdrawn, c.delivered_quantity, c.target_quantity, c.met_at, c.due_date, now),
        "due_date": c.due_date,
        "due_date_iso": iso(c.due_date),
        "met_at": c.met_at,
        "met_at_iso": iso(c.met_at),
        "registered": _ref_of(c),
        "withdrawn": c.withdrawn,
    }


def list_commitments(
    session: Session,
    now: int,
    *,
    municipality_id: int | None = None,
    theme: str | None = None,
    statuses: Iterable[str] = (),
    q: str | None = None,
    offset: int = 0,
    limit: int = 20,
) -> tuple[list[dict[str, Any]], int]:
    """One page of commitments (``CommitmentSummary`` dicts, by id ascending) and the total
    number matching the filters.

    Args:
        now: evaluation time of the status, Unix seconds.
        municipality_id: only this municipality's commitments.
        theme: only this theme (exact match).
        statuses: only these statuses (any of them); no status filter when empty.
        q: case-insensitive substring of the title, description or external_ref; blank
            means no filter.
        offset: rows to skip (>= 0).
        limit: rows to return, 1..:data:`MAX_PAGE_LIMIT`.

    Returns:
        ``(page, total_matching)``.

    Raises:
        ValueError: an unknown status, ``offset`` < 0 or ``limit`` outside 1..100.
    """
    wanted = list(dict.fromkeys(statuses))
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown:
        raise ValueError(f"Unknown status {unknown[0]!r}; expected one of {', '.join(STATUSES)}.")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}.")
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise ValueError(f"limit must be 1..{MAX_PAGE_LIMIT}, got {limit}.")

    conditions = []
    if municipality_id is not None:
        conditions.append(Commitment.municipality_id == municipality_id)
    if theme is not None:
        conditions.append(Commitment.theme == theme)
    if wanted:
        conditions.append(status_sql(now).in_(wanted))
    needle = (q or "").replace("\x1f", "").strip().lower()
    if needle:
        conditions.append(Commitment.search_text.contains(needle, autoescape=True))

    total = session.scalar(select(func.count()).select_from(Commitment).where(*conditions)) or 0
    rows = session.execute(
        select(Commitment, Municipality.name)
        .join(Municipality, Municipality.id == Commitment.municipality_id)
        .where(*conditions)
        .order_by(Commitment.id)
        .offset(offset)
        .limit(limit)
    ).tuples()
    return [_summary(c, name, now) for c, name in rows], total


def get_commitment(
    session: Session,
    commitment_id: int,
    now: int,
    *,
    evidence_stored: Callable[[str], bool] | None = None,
) -> dict[str, Any] | None:
    """One commitment: the API's ``CommitmentDetail`` without ``ledger`` (the route adds it
    from the deployment), or ``None`` if unknown.

    ``deliveries`` are by id, each delivery's ``evidence`` in the order of its evidence list
    (each hash once); ``timeline`` is in (block, log index) order.

    Args:
        now: evaluation time of the status, Unix seconds.
        evidence_stored: tells whether the evidence file with this ``0x`` SHA-256 is stored
            by this server (then ``stored`` is true and ``url`` points at
            ``/api/v1/evidence/<sha256>``); nothing is stored when ``None``.
    """
    row = session.execute(
        select(Commitment, Municipality.name)
        .join(Municipality, Municipality.id == Commitment.municipality_id)
        .where(Commitment.id == commitment_id)
    ).first()
    if row is None:
        return None
    c, name = row.tuple()
    detail = _summary(c, name, now)
    detail.update(
        {
            "description": c.description,
            "source_document_sha256": c.source_document_sha256,
            "source_uri": c.source_uri,
            "registrar": c.registrar,
            "amendment_count": c.amendment_count,
            "withdrawal": None
            if not c.withdrawn
            else {
                "reason": c.withdrawal_reason,
                "registrar": c.withdrawal_registrar,
                "chain": _ref_of(c, "withdrawn_"),
            },
            "deliveries": _deliveries(session, c.id, evidence_stored),
            "timeline": _timeline(session, c.id),
        }
    )
    return detail


def _deliveries(
    session: Session, commitment_id: int, evidence_stored: Callable[[str], bool] | None
) -> list[dict[str, Any]]:
    evidence: dict[int, list[dict[str, Any]]] = {}
    for delivery_id, sha256 in session.execute(
        select(EvidenceCitation.delivery_id, EvidenceCitation.sha256)
        .where(EvidenceCitation.commitment_id == commitment_id)
        .order_by(EvidenceCitation.delivery_id, EvidenceCitation.position)
    ).tuples():
        stored = bool(evidence_stored and evidence_stored(sha256))
        evidence.setdefault(delivery_id, []).append(
            {"sha256": sha256, "stored": stored, "url": EVIDENCE_URL.format(sha256=sha256) if stored else None}
        )
    return [
        {
            "id": d.id,
            "commitment_id": d.commitment_id,
            "quantity": str(d.quantity),
            "delivered_at": d.delivered_at,
            "delivered_at_iso": iso(d.delivered_at),
            "evidence": evidence.get(d.id, []),
            "evidence_uri": d.evidence_uri,
            "note": d.note,
            "external_ref": d.external_ref,
            "registrar": d.registrar,
            "recorded": _ref_of(d),
            "revocation": None
            if not d.revoked
            else {"reason": d.revocation_reason, "registrar": d.revocation_registrar, "chain": _ref_of(d, "revoked_")},
        }
        for d in session.scalars(select(Delivery).where(Delivery.commitment_id == commitment_id).order_by(Delivery.id))
    ]


def _timeline_details(kind: str, a: dict[str, Any]) -> dict[str, Any]:
    if kind == "registered":
        source = a["source_document_hash"]
        return {
            "external_ref": a["external_ref"],
            "title": a["title"],
            "description": a["description"],
            "theme": a["theme"],
            "target_quantity": str(a["target_quantity"]),
            "unit": a["unit"],
            "due_date": a["due_date"],
            "source_document_sha256": None if source == ZERO_HASH else source,
            "source_uri": a["source_uri"],
        }
    if kind == "amended":
        return {
            "amendment_number": a["amendment_number"],
            "title": a["title"],
            "description": a["description"],
            "previous_target_quantity": str(a["previous_target_quantity"]),
            "target_quantity": str(a["target_quantity"]),
            "previous_due_date": a["previous_due_date"],
            "due_date": a["due_date"],
            "reason": a["reason"],
        }
    if kind == "delivered":
        return {
            "delivery_id": a["delivery_id"],
            "quantity": str(a["quantity"]),
            "delivered_at": a["delivered_at"],
            "evidence_sha256": list(a["evidence_hashes"]),
            "note": a["note"],
        }
    if kind == "revoked":
        return {"delivery_id": a["delivery_id"], "reason": a["reason"]}
    return {"reason": a["reason"]}


def _timeline(session: Session, commitment_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(EventRow)
        .where(EventRow.commitment_id == commitment_id, EventRow.name.in_(list(TIMELINE_KINDS)))
        .order_by(EventRow.block_number, EventRow.log_index)
    )
    entries = []
    for e in rows:
        kind = TIMELINE_KINDS[e.name]
        entries.append(
            {
                "kind": kind,
                "chain": chain_ref(e.tx_hash, e.block_number, e.log_index, e.block_time),
                "registrar": e.args["registrar"],
                "details": _timeline_details(kind, e.args),
            }
        )
    return entries


def find_commitment_by_ref(session: Session, municipality_id: int, external_ref: str) -> dict[str, Any] | None:
    """The commitment registered under ``external_ref`` (exact, case-sensitive, as the
    contract) for a municipality, or ``None``: ``{"id", "municipality_id", "external_ref",
    "title", "withdrawn", "registered": ChainRef}``."""
    c = session.scalar(
        select(Commitment).where(Commitment.municipality_id == municipality_id, Commitment.external_ref == external_ref)
    )
    if c is None:
        return None
    return {
        "id": c.id,
        "municipality_id": c.municipality_id,
        "external_ref": c.external_ref,
        "title": c.title,
        "withdrawn": c.withdrawn,
        "registered": _ref_of(c),
    }


# ---------------------------------------------------------------------------- verify, health


def verify_hash(session: Session, sha256_hex: str) -> dict[str, Any]:
    """Where a document is cited: the API's verify response ``{"sha256", "found",
    "citations", "source_of"}``. ``citations`` are the deliveries citing it (by delivery id,
    revoked ones included and flagged; ``chain`` is the delivery's ``DeliveryRecorded``
    event, which carries the hash); ``source_of`` the commitments whose source document it
    is (by id). ``found`` is true when either is not empty.

    Args:
        sha256_hex: the document's SHA-256, 64 hex digits (``0x`` optional, any case).

    Raises:
        ValueError: malformed hash (the API answers 422).
    """
    sha256 = normalize_sha256(sha256_hex)
    rows = session.execute(
        select(EvidenceCitation, Delivery, Commitment.title, Commitment.municipality_id, Municipality.name)
        .join(Delivery, Delivery.id == EvidenceCitation.delivery_id)
        .join(Commitment, Commitment.id == EvidenceCitation.commitment_id)
        .join(Municipality, Municipality.id == Commitment.municipality_id)
        .where(EvidenceCitation.sha256 == sha256)
        .order_by(EvidenceCitation.delivery_id)
    ).tuples()
    citations = [
        {
            "delivery_id": d.id,
            "commitment_id": d.commitment_id,
            "commitment_title": title,
            "municipality_id": mid,
            "municipality_name": name,
            "delivered_at": d.delivered_at,
            "delivered_at_iso": iso(d.delivered_at),
            "quantity": str(d.quantity),
            "registrar": d.registrar,
            "revoked": d.revoked,
            "revocation_reason": d.revocation_reason,
            "chain": _ref_of(citation),
        }
        for citation, d, title, mid, name in rows
    ]
    source_of = [
        {"commitment_id": cid, "title": title, "municipality_name": name}
        for cid, title, name in session.execute(
            select(Commitment.id, Commitment.title, Municipality.name)
            .join(Municipality, Municipality.id == Commitment.municipality_id)
            .where(Commitment.source_document_sha256 == sha256)
            .order_by(Commitment.id)
        ).tuples()
    ]
    return {"sha256": sha256, "found": bool(citations or source_of), "citations": citations, "source_of": source_of}


def get_checkpoint(session: Session) -> dict[str, Any] | None:
    """The indexer's progress for ``/health``: ``{"last_block", "last_block_hash",
    "chain_head_block", "head_seen_at"}`` (``last_block`` inclusive and ``None`` before the
    first chunk; ``head_seen_at`` Unix seconds), or ``None`` if the indexer never ran."""
    row = session.get(CheckpointRow, CHECKPOINT_ID)
    if row is None:
        return None
    return {
        "last_block": row.last_block,
        "last_block_hash": row.last_block_hash,
        "chain_head_block": row.chain_head_block,
        "head_seen_at": row.head_seen_at,
    }
