"""The read side of the index, for the API and the site.

Functions (all take a :class:`~sqlalchemy.orm.Session` first; ``now`` is the evaluation time
of statuses, Unix seconds, the request time):

- municipalities: :func:`list_municipalities` (session, now), :func:`get_municipality`
  (session, municipality_id, now), :func:`municipality_name`, :func:`municipality_codes`;
- commitments: :func:`list_commitments` (session, now, *, filters, sort, offset, limit) →
  ``(page, count)``, :func:`get_commitment` (session, commitment_id, now, *, evidence_stored),
  :func:`find_commitment_by_ref`, :func:`commitment_municipality_ids`, :func:`list_themes`;
- charts of the site: :func:`commitment_chart_rows` (session, now, municipality_id),
  :func:`commitment_chart_counts` (session, municipality_id: the same counted by time in SQL) and
  :func:`commitment_delivery_points` (session, commitment_id);
- deliveries: :func:`list_deliveries` (session, *, filters, offset, limit, now,
  evidence_stored) → ``(page, count)``, recorded and batched alike (``kind``);
- batches: :func:`list_batches` (session, *, municipality_id, offset, limit,
  evidence_stored) → ``(page, count)``, :func:`get_batch` (session, root, *,
  evidence_stored), :func:`get_batch_leaf_proof` (session, root, leaf_hash);
- write checks (what a write would collide with, for many commitments at once):
  :func:`commitment_states`, :func:`taken_delivery_refs`, :func:`counted_assets`;
- :func:`verify_hash` (session, sha256_hex), :func:`get_checkpoint` (session) for ``/health``;
- formatting helpers: :func:`iso`, :func:`chain_ref`, :func:`normalize_sha256`.

They return plain dicts with the field names of docs/LEDGER.md ("Fields") beside the v1 ones
of docs/API.md (routes only wrap them in wire models): quantities as decimal strings, times as
integer Unix seconds with an ISO 8601 UTC twin (``*_iso``), hashes as ``0x`` lowercase hex,
addresses checksummed. Every status comes from ``ledger.status``: :func:`ledger.status.verdicts`
for output, :func:`ledger.status.verdict_sql` for filters and counts (they agree).

They only read; none of them commits or writes.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import json

from sqlalchemy import BigInteger, ColumnElement, Connection, and_, bindparam, case, column, func, literal, literal_column, or_, select, table, text, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import UnaryExpression
from sqlalchemy.sql.operators import custom_op

from ledger.db.models import (
    AdminChange,
    Amendment,
    Batch,
    BatchEvidenceCitation,
    BatchLeaf,
    CheckpointRow,
    Commitment,
    Confirmer,
    ConfirmerTerm,
    Delivery,
    EventError,
    EventRow,
    EvidenceCitation,
    LedgerStateRow,
    Municipality,
    Registrar,
    RegistrarTerm,
    Verdict,
)
from ledger.db.models import SEARCH_MIN_CHARS, SEARCH_TABLE, VERSION_TABLE, search_fold
from ledger.db.projection import CHECKPOINT_ID, LEDGER_STATE_ID, ZERO_HASH, batched_delivery_key
from ledger.limits import amendment_field_names
from ledger.status import (
    SETTLED_COLUMNS,
    STATUSES,
    VERDICTS,
    due_date_column,
    met_only_under_relaxed_terms,
    met_only_under_relaxed_terms_sql,
    next_status_change_sql,
    progress_bps,
    recorded_late,
    recording_lag_days,
    registration_lag_days,
    status_in_sql,
    status_of,
    verdict_sql,
    verdicts,
)

MAX_PAGE_LIMIT = 100
"""Largest ``limit`` of :func:`list_commitments` and :func:`list_deliveries`."""

MAX_COMMITMENT_OFFSET = 10_000
"""Largest ``offset`` of :func:`list_commitments`: an offset is read and skipped row by row,
so deeper pages are reached with the ``after`` cursor (keyset pagination: the same work on
every page)."""

DETAIL_PAGE_SIZE = 50
"""Deliveries and timeline entries on the first page of a commitment's detail
(:func:`get_commitment`); the rest through :func:`commitment_deliveries` and
:func:`commitment_timeline`."""

EVIDENCE_URL = "/api/v1/evidence/{sha256}"
"""Where the API serves a stored evidence file."""

BATCH_FILE_URL = "/api/v1/batches/{root}/file"
"""Where the API serves a stored batch file."""

LEAF_ENCODING = ("uint256", "uint64", "uint64", "bytes32[]", "string", "string", "string", "string")
"""The StandardMerkleTree leaf encoding of a batched delivery (docs/LEDGER.md "Batches")."""

DELIVERY_KINDS = ("recorded", "batched")

STATUS_URGENCY = ("overdue", "in_progress", "pending", "delivered_late", "delivered", "withdrawn")
"""Every status of :data:`ledger.status.STATUSES`, most urgent first: the order of
``sort=status`` (``-status`` reverses it). The one place of this order."""

COMMITMENT_SORT_KEYS = ("id", "due_date", "progress", "status", "last_change")
"""What :func:`list_commitments` sorts on: ``id``; ``due_date`` (current terms);
``progress`` (``progress_bps``, current terms); ``status`` (claimed clock, current terms, at
``now``, in :data:`STATUS_URGENCY` order); ``last_change`` (the latest event concerning the
commitment, in (block, log index) order: ``last_changed_at``)."""

COMMITMENT_SORTS = tuple(sort for key in COMMITMENT_SORT_KEYS for sort in (key, f"-{key}"))
"""Every ``sort`` value :func:`list_commitments` takes: a key of :data:`COMMITMENT_SORT_KEYS`,
ascending, or with a ``-`` prefix, descending (JSON:API style)."""

TIMELINE_KINDS = {
    "CommitmentRegistered": "registered",
    "CommitmentAmended": "amended",
    "DeliveryRecorded": "delivered",
    "DeliveryRevoked": "revoked",
    "CommitmentWithdrawn": "withdrawn",
}
"""Timeline entry kind of each event that makes one."""

_SHA256 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")

IN_CHUNK = 500
"""Most values bound in one ``IN (...)`` (SQLite's bound-parameter limit is far above; a
commitment may have up to 999,999 deliveries and a batch any number of leaves)."""


def _core(session: Session) -> Connection:
    """The session's connection for Core statements built once (the reads' hot paths: no ORM
    statement handling or object loading), after flushing what the session holds unflushed,
    as its own queries would (autoflush): a read in a writing session sees its writes."""
    if session.autoflush and (session.new or session.dirty or session.deleted):
        session.flush()
    return session.connection()


def _chunks(values: list[Any]) -> Iterable[list[Any]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


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


def _check_page(offset: int, limit: int) -> None:
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}.")
    if not 1 <= limit <= MAX_PAGE_LIMIT:
        raise ValueError(f"limit must be 1..{MAX_PAGE_LIMIT}, got {limit}.")


def _check_statuses(statuses: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(statuses))
    unknown = [s for s in wanted if s not in STATUSES]
    if unknown:
        raise ValueError(f"Unknown status {unknown[0]!r}; expected one of {', '.join(STATUSES)}.")
    return wanted


# ---------------------------------------------------------------------------- counts kept

COUNT_CACHE_SIZE = 4096
"""Most counts kept by :func:`_kept` per process (least recently used ones go first)."""

_kept_counts: OrderedDict[tuple[Any, ...], tuple[int, int, Any]] = OrderedDict()
_kept_lock = threading.Lock()
_FOREVER = 2**63


def _index_version(session: Session) -> tuple[str, int]:
    """``(epoch, n)`` of ``index_version`` (``ledger.db.models.VERSION_TABLE``): it changes
    with every write to ``commitments``."""
    epoch, n = session.execute(text(f"SELECT epoch, n FROM {VERSION_TABLE} WHERE id = 1")).one()
    return str(epoch), int(n)


def _next_change(session: Session, status_field: str, conditions: list[ColumnElement[bool]], now: int) -> int:
    """The last second (inclusive, Unix seconds) up to which the ``status_field`` of every
    commitment matching ``conditions`` stays what it is at ``now`` without a new event: the
    smallest due date of the open ones not yet due (one indexed query), or "never"."""
    due = getattr(Commitment, due_date_column(status_field))
    found = session.scalar(select(func.min(due)).where(*conditions, next_status_change_sql(status_field, now)))
    return _FOREVER if found is None else int(found)


def _statuses_stable_until(
    session: Session, now: int, key: tuple[Any, ...], conditions: list[ColumnElement[bool]]
) -> int | None:
    """The first Unix second after ``now`` at which some status (the four of
    ``ledger.status.VERDICTS`` and ``status_confirmed``) of a commitment matching
    ``conditions`` (named by ``key``) may differ from the one at ``now`` without a new event,
    as ``ledger.status.stable_until`` gives it for one row; ``None`` when none can. One
    indexed ``MIN`` per status field (:func:`_next_change`; with a text search each reads the
    rows the search finds), kept by :func:`_kept` up to the second before it. ``conditions``
    must not depend on ``now`` (a row that matches them later could turn the answer otherwise)."""

    def compute() -> int | None:
        found = [_next_change(session, field, conditions, now) for field, _, _ in VERDICTS]
        confirmed = session.scalar(select(func.min(Commitment.due_date)).where(
            *conditions, Commitment.status_confirmed_settled.is_(None), Commitment.due_date >= literal(int(now), BigInteger)))
        found.append(_FOREVER if confirmed is None else int(confirmed))
        first = min(found)
        return None if first >= _FOREVER else first + 1

    return _kept(session, now, ("stable_until", key), compute,
                 valid_through=lambda until: _FOREVER if until is None else until - 1)


def _kept(
    session: Session,
    now: int,
    key: tuple[Any, ...],
    compute: Callable[[], Any],
    changes: Iterable[tuple[str, list[ColumnElement[bool]]]] = (),
    valid_through: Callable[[Any], int] | None = None,
) -> Any:
    """``compute()`` (a count or counts of commitments), kept per process until it may differ:
    until the commitments change (:func:`_index_version`) or, for counts that depend on
    statuses at ``now``, until the next due date crossing (``changes``: the status fields
    and the conditions of the rows counted, :func:`_next_change`), and only for evaluation
    times from the one it was computed at on (a request with an earlier ``now`` computes
    again). So a count is never stale: it is what ``compute()`` would give now.

    Args:
        now: evaluation time of the statuses, Unix seconds.
        key: what is counted (a name and the filters), hashable.
        compute: the query, run in ``session``.
        changes: ``(status field, conditions)`` of the time-dependent parts.
        valid_through: the last second (inclusive) up to which a computed value holds, from
            the value itself (a value that says until when it is exact).
    """
    version = _index_version(session)
    full_key = (str(session.get_bind().url), version, key)
    with _kept_lock:
        hit = _kept_counts.get(full_key)
        if hit is not None and hit[0] <= now <= hit[1]:
            _kept_counts.move_to_end(full_key)
            return hit[2]
    value = compute()
    until = min([_next_change(session, field, conditions, now) for field, conditions in changes], default=_FOREVER)
    if valid_through is not None:
        until = min(until, valid_through(value))
    if _index_version(session) == version:  # PostgreSQL reads each statement at its own snapshot
        with _kept_lock:
            _kept_counts[full_key] = (now, until, value)
            _kept_counts.move_to_end(full_key)
            while len(_kept_counts) > COUNT_CACHE_SIZE:
                _kept_counts.popitem(last=False)
    return value


# ---------------------------------------------------------------------------- municipalities


def _status_counts(
    session: Session, now: int, status_field: str, municipality_id: int | None = None
) -> dict[int, dict[str, int]]:
    """Municipality id → {status: count} of one status field (``"status"``,
    ``"status_on_record"``), all six statuses listed; kept by :func:`_kept` (the same until
    the commitments change or the next due date crossing)."""
    conditions = [] if municipality_id is None else [Commitment.municipality_id == municipality_id]

    def compute() -> dict[int, dict[str, int]]:
        # Group over a subquery: PostgreSQL does not match a CASE with bound parameters in the
        # select list to "the same" CASE in GROUP BY. It reads one covering index
        # (municipality, settled part, due date, delivered quantity), never the rows.
        inner = select(Commitment.municipality_id.label("municipality_id"), verdict_sql(status_field, now).label("status"))
        sub = inner.where(*conditions).subquery()
        rows = session.execute(
            select(sub.c.municipality_id, sub.c.status, func.count()).group_by(sub.c.municipality_id, sub.c.status)
        )
        counts: dict[int, dict[str, int]] = {}
        for mid, status, count in rows:
            counts.setdefault(mid, dict.fromkeys(STATUSES, 0))[status] = count
        return counts

    kept = _kept(session, now, ("status_counts", status_field, municipality_id), compute, [(status_field, conditions)])
    return {mid: dict(counts) for mid, counts in kept.items()}


def _registrars(
    session: Session, municipality_id: int | None = None, current: type[Registrar | Confirmer] = Registrar
) -> dict[int, list[str]]:
    query = select(current.municipality_id, current.account).where(current.active.is_(True))
    if municipality_id is not None:
        query = query.where(current.municipality_id == municipality_id)
    result: dict[int, list[str]] = {}
    for mid, account in session.execute(
        query.order_by(current.municipality_id, current.block_number, current.log_index)
    ):
        result.setdefault(mid, []).append(account)
    return result


def _registrar_history(
    session: Session, municipality_id: int | None = None, terms: type[RegistrarTerm | ConfirmerTerm] = RegistrarTerm
) -> dict[int, list[dict[str, Any]]]:
    query = select(terms)
    if municipality_id is not None:
        query = query.where(terms.municipality_id == municipality_id)
    result: dict[int, list[dict[str, Any]]] = {}
    for t in session.scalars(query.order_by(terms.block_number, terms.log_index)):
        result.setdefault(t.municipality_id, []).append(
            {
                "account": t.account,
                "added_by": t.added_by,
                "added": _ref_of(t),
                "removed_by": t.removed_by,
                "removed": _ref_of(t, "removed_"),
            }
        )
    return result


def _admin_changes(session: Session, municipality_id: int | None = None) -> dict[int, list[dict[str, Any]]]:
    query = select(AdminChange)
    if municipality_id is not None:
        query = query.where(AdminChange.municipality_id == municipality_id)
    result: dict[int, list[dict[str, Any]]] = {}
    for change in session.scalars(query.order_by(AdminChange.block_number, AdminChange.log_index)):
        result.setdefault(change.municipality_id, []).append(
            {
                "previous_admin": change.previous_admin,
                "new_admin": change.new_admin,
                "recovered": change.recovered,
                "chain": _ref_of(change),
            }
        )
    return result


def _recovery(m: Municipality) -> dict[str, Any] | None:
    if m.recovery_proposed_admin is None:
        return None
    return {
        "proposed_admin": m.recovery_proposed_admin,
        "executable_at": m.recovery_executable_at,
        "executable_at_iso": iso(m.recovery_executable_at),
        "started_by": m.recovery_started_by,
        "started": _ref_of(m, "recovery_"),
    }


def _municipalities(session: Session, now: int, municipality_id: int | None) -> list[dict[str, Any]]:
    counts = _status_counts(session, now, "status", municipality_id)
    on_record = _status_counts(session, now, "status_on_record", municipality_id)
    registrars = _registrars(session, municipality_id)
    history = _registrar_history(session, municipality_id)
    confirmers = _registrars(session, municipality_id, Confirmer)
    confirmer_history = _registrar_history(session, municipality_id, ConfirmerTerm)
    changes = _admin_changes(session, municipality_id)
    query = select(Municipality).order_by(Municipality.id)
    if municipality_id is not None:
        query = query.where(Municipality.id == municipality_id)
    empty = dict.fromkeys(STATUSES, 0)
    return [
        {
            "id": m.id,
            "name": m.name,
            "code": m.code,
            "admin": m.admin,
            "pending_admin": m.pending_admin,
            "recovery": _recovery(m),
            "admin_changes": changes.get(m.id, []),
            "registrars": registrars.get(m.id, []),
            "registrar_history": history.get(m.id, []),
            "confirmers": confirmers.get(m.id, []),
            "confirmer_history": confirmer_history.get(m.id, []),
            "commitment_count": sum(counts.get(m.id, empty).values()),
            "status_counts": counts.get(m.id, dict(empty)),
            "status_on_record_counts": on_record.get(m.id, dict(empty)),
            "registered": _ref_of(m),
        }
        for m in session.scalars(query)
    ]


def list_municipalities(session: Session, now: int) -> list[dict[str, Any]]:
    """Every municipality, by id: ``{"id", "name", "code", "admin", "pending_admin" (null),
    "recovery" (null or {"proposed_admin", "executable_at", "executable_at_iso",
    "started_by", "started": ChainRef}), "admin_changes" ([{"previous_admin", "new_admin",
    "recovered", "chain"}], oldest first), "registrars" (current ones, in the order they were
    added), "registrar_history" ([{"account", "added_by", "added": ChainRef, "removed_by",
    "removed": ChainRef | null}], every registrar term, oldest first), "confirmers" and
    "confirmer_history" (the same for the confirmer role), "commitment_count",
    "status_counts" / "status_on_record_counts" (all six statuses of ``status`` /
    ``status_on_record`` at ``now``, Unix seconds), "registered": ChainRef}``."""
    return _municipalities(session, now, None)


def municipalities_stable_until(session: Session, now: int, municipality_id: int | None = None) -> int | None:
    """The first Unix second at which :func:`list_municipalities` (``municipality_id``
    ``None``) or :func:`get_municipality` may differ without a new event (their status
    counts turn at a due date), ``None`` when time alone cannot change it (as
    ``ledger.status.stable_until``)."""
    return _statuses_stable_until(session, now, ("municipality", municipality_id),
                                  [] if municipality_id is None else [Commitment.municipality_id == municipality_id])


def get_municipality(session: Session, municipality_id: int, now: int) -> dict[str, Any] | None:
    """One municipality as in :func:`list_municipalities`, or ``None`` if unknown."""
    found = _municipalities(session, now, municipality_id)
    return found[0] if found else None


def event_error_count(session: Session) -> int:
    """How many indexed events the projection could not apply (``event_errors``: kept in
    ``events``, their error recorded; /api/v1/health shows the count)."""
    return int(session.scalar(select(func.count()).select_from(EventError)) or 0)


def municipality_name(session: Session, municipality_id: int) -> str | None:
    """The name of a municipality, or ``None`` if unknown."""
    return session.scalar(select(Municipality.name).where(Municipality.id == municipality_id))


_ALL_CODES = select(Municipality.__table__.c.id, Municipality.__table__.c.code)
_CODES_OF = _ALL_CODES.where(Municipality.__table__.c.id.in_(bindparam("ids", expanding=True)))
"""Statements built once (every list page and detail asks), run as Core on the session's connection."""


def municipality_codes(session: Session, municipality_ids: Iterable[int] | None = None) -> dict[int, str]:
    """Municipality id → code, for the given ids (all when ``None``)."""
    connection = _core(session)
    if municipality_ids is None:
        rows = connection.execute(_ALL_CODES)
    else:
        rows = connection.execute(_CODES_OF, {"ids": list(municipality_ids)})
    return {int(mid): code for mid, code in rows}


def commitment_municipality_ids(session: Session, commitment_ids: Iterable[int]) -> set[int]:
    """The ids of the municipalities that issued these commitments (unknown ids ignored)."""
    ids = list(commitment_ids)
    if not ids:
        return set()
    return set(session.scalars(select(Commitment.municipality_id).where(Commitment.id.in_(ids)).distinct()))


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

    def compute() -> list[tuple[str, int]]:
        return [(theme, count) for theme, count in session.execute(query.group_by(Commitment.theme).order_by(Commitment.theme))]

    rows = _kept(session, 0, ("themes", municipality_id), compute)
    return [{"theme": theme, "count": count} for theme, count in rows]


# ---------------------------------------------------------------------------- commitments


def _children(session: Session, commitment_ids: Iterable[int]) -> dict[int, list[int]]:
    """Parent id → ids of its sub-commitments (withdrawn ones included), ascending."""
    ids = list(commitment_ids)
    result: dict[int, list[int]] = {}
    if ids:
        for child, parent in session.execute(
            select(Commitment.id, Commitment.parent_id).where(Commitment.parent_id.in_(ids)).order_by(Commitment.id)
        ):
            result.setdefault(parent, []).append(child)
    return result


def _summary(c: Commitment, municipality: str, now: int, children: list[int]) -> dict[str, Any]:
    statuses = verdicts(c, now)
    return {
        "id": c.id,
        "municipality_id": c.municipality_id,
        "municipality_name": municipality,
        "external_ref": c.external_ref,
        "title": c.title,
        "theme": c.theme,
        "unit": c.unit,
        "target_quantity": str(c.target_quantity),
        "original_target_quantity": str(c.original_target_quantity),
        "delivered_quantity": str(c.delivered_quantity),
        "progress_bps": progress_bps(c.delivered_quantity, c.target_quantity),
        "progress_bps_original_terms": progress_bps(c.delivered_quantity, c.original_target_quantity),
        **statuses,
        "met_only_under_relaxed_terms": met_only_under_relaxed_terms(
            statuses["status"], statuses["status_original_terms"]
        ),
        "promised_at": c.promised_at,
        "promised_at_iso": iso(c.promised_at),
        "registration_lag_days": registration_lag_days(c.registered_at, c.promised_at),
        "historical_record": c.historical_record,
        "due_date": c.due_date,
        "due_date_iso": iso(c.due_date),
        "original_due_date": c.original_due_date,
        "original_due_date_iso": iso(c.original_due_date),
        "met_at": c.met_at,
        "met_at_iso": iso(c.met_at),
        "met_on_record_at": c.met_on_record_at,
        "met_on_record_at_iso": iso(c.met_on_record_at),
        "met_at_original_terms": c.met_at_original_terms,
        "met_at_original_terms_iso": iso(c.met_at_original_terms),
        "met_on_record_at_original_terms": c.met_on_record_at_original_terms,
        "met_on_record_at_original_terms_iso": iso(c.met_on_record_at_original_terms),
        "amendment_count": c.amendment_count,
        "amended_after_due_date": c.amended_after_due_date,
        "target_lowered": c.target_lowered,
        "recorded_late_count": c.recorded_late_count,
        "registered": _ref_of(c),
        "registrar": c.registrar,
        "signer_held_role": c.signer_held_role,
        "withdrawn": c.withdrawn,
        "parent_id": c.parent_id,
        "weight": c.weight,
        "children": children,
        "rollup_progress_bps": c.rollup_progress_bps,
        "rollup_children_delivered": c.rollup_children_delivered,
        "rollup_children_counted": c.rollup_children_counted,
        "confirmed_quantity": str(c.confirmed_quantity),
        "unconfirmed_quantity": str(c.delivered_quantity - c.confirmed_quantity),
        "disputed_quantity": str(c.disputed_quantity),
        "status_confirmed": status_of(c.withdrawn, c.confirmed_quantity, c.met_at_confirmed, c.due_date, now),
        "met_at_confirmed": c.met_at_confirmed,
        "met_at_confirmed_iso": iso(c.met_at_confirmed),
        "progress_bps_confirmed": progress_bps(c.confirmed_quantity, c.target_quantity),
        "batched_delivery_count": c.batched_delivery_count,
        "last_changed_at": c.last_changed_at,
        "last_changed_at_iso": iso(c.last_changed_at),
    }


def _flag(column: Any, wanted: bool | None) -> list[ColumnElement[bool]]:
    return [] if wanted is None else [column.is_(wanted)]


def _recorded_counting() -> list[ColumnElement[bool]]:
    """Conditions (AND) of a recorded delivery that counts now, as the projection decided
    (``ledger.status.count_deliveries``): not revoked and not a double count."""
    return [Delivery.revoked.is_(False), Delivery.double_counted.is_(False)]


def _leaf_counting() -> list[ColumnElement[bool]]:
    """Conditions (AND) of a leaf of a verified batch that counts now, as the projection
    decided (``ledger.status.count_deliveries``): counted at its anchor and not revoked since."""
    return [BatchLeaf.counted.is_(True), BatchLeaf.revoked.is_(False)]


def _commitment_order(sort: str, now: int) -> list[ColumnElement[Any]]:
    """``ORDER BY`` of :func:`list_commitments` for one of :data:`COMMITMENT_SORTS`: the key,
    ascending or descending, then ``id`` ascending (ties). Used with ``offset``; cursors
    page through :func:`_sort_segments` instead (the same order).

    Raises:
        ValueError: not one of :data:`COMMITMENT_SORTS`.
    """
    if sort not in COMMITMENT_SORTS:
        raise ValueError(f"Unknown sort {sort!r}; expected one of {', '.join(COMMITMENT_SORTS)}.")
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    if key == "id":
        return [Commitment.id.desc() if descending else Commitment.id.asc()]
    if key == "status":
        rank = {status: position for position, status in enumerate(STATUS_URGENCY)}
        column_ = case(rank, value=verdict_sql("status", now))
        return [column_.desc() if descending else column_.asc(), Commitment.id.asc()]
    return [c.desc() if d else c.asc() for c, d in _sort_keys(sort)]


def _sort_keys(sort: str) -> list[tuple[Any, bool]]:
    """The (column, descending) keys of a sort other than ``status``, ``id`` last."""
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    if key == "id":
        return [(Commitment.id, descending)]
    columns = {
        "due_date": [Commitment.due_date],
        "progress": [Commitment.progress_bps],
        "last_change": [Commitment.last_change_block, Commitment.last_change_log_index],
        "status": [],
    }[key]
    return [(c, descending) for c in columns] + [(Commitment.id, False)]


def _sort_segments(sort: str, now: int) -> list[tuple[str | None, list[tuple[Any, bool]]]]:
    """The order of a sort as segments read one after the other, each ``(status or None,
    keys)``: one segment (``None``: every row) ordered by :func:`_sort_keys`; ``status`` and
    ``-status``: one segment per status in :data:`STATUS_URGENCY` order (or reversed), each
    by id, so that every segment is an indexed read (no ``CASE`` to sort on)."""
    if sort.removeprefix("-") != "status":
        return [(None, _sort_keys(sort))]
    order = STATUS_URGENCY[::-1] if sort.startswith("-") else STATUS_URGENCY
    return [(status, [(Commitment.id, False)]) for status in order]


class InvalidCursorError(ValueError):
    """A pagination cursor (``after`` / ``before``) that this server did not make for this
    ``sort``: not base64url JSON of ``[1, sort, segment, key values...]`` with integer
    values."""


CURSOR_FORMAT = 1
"""Version of the cursor text; a cursor of another version is refused."""


def _encode_cursor(sort: str, segment: int, values: list[int]) -> str:
    raw = json.dumps([CURSOR_FORMAT, sort, segment, *values], separators=(",", ":")).encode("ascii")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str, sort: str, segments: int, keys: int) -> tuple[int, list[int]]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursorError(f"Not a cursor of this list: {cursor!r}.") from exc
    if (
        not isinstance(decoded, list)
        or len(decoded) != 3 + keys
        or decoded[0] != CURSOR_FORMAT
        or decoded[1] != sort
        or not all(type(v) is int and -_MAX_BIGINT - 1 <= v <= _MAX_BIGINT for v in decoded[2:])
        or not 0 <= decoded[2] < segments
    ):
        raise InvalidCursorError(f"Not a cursor of this list for sort {sort!r}: {cursor!r}.")
    return decoded[2], decoded[3:]


def _beyond(keys: list[tuple[Any, bool]], values: list[int], forward: bool) -> ColumnElement[bool]:
    """Rows strictly after (``forward``) or before the position ``values`` in the order
    ``keys``, written so that the first key's range can use an index:
    ``k1 >= v1 AND (k1 > v1 OR (k2 >= v2 AND (...)))`` (directions as the keys say)."""
    (col, descending), value = keys[0], values[0]
    up = forward != descending
    strict = col > value if up else col < value
    if len(keys) == 1:
        return strict
    return and_(col >= value if up else col <= value, or_(strict, _beyond(keys[1:], values[1:], forward)))


def _sort_values(c: Commitment, keys: list[tuple[Any, bool]]) -> list[int]:
    return [int(getattr(c, col.key)) for col, _ in keys]


@dataclass(frozen=True)
class CommitmentListPage:
    """One page of :func:`list_commitments_page`: ``rows`` (summary dicts), ``total`` (all
    rows matching the filters), ``next_cursor`` / ``prev_cursor`` (pass as ``after`` /
    ``before`` for the next / previous page; ``None`` on the last / first page) and
    ``valid_until``: the first Unix second at which the page (its rows, their statuses, the
    total, the cursors) may differ without a new event, ``None`` when time alone cannot
    change it (as ``ledger.status.stable_until``; ``api.caching`` keeps answers up to it)."""

    rows: list[dict[str, Any]]
    total: int
    next_cursor: str | None
    prev_cursor: str | None
    valid_until: int | None = None


def list_commitments(session: Session, now: int, *, sort: str = "id", **kwargs: Any) -> tuple[list[dict[str, Any]], int]:
    """``(rows, total)`` of :func:`list_commitments_page` (same arguments; ``sort`` by id
    by default)."""
    page = list_commitments_page(session, now, sort=sort, **kwargs)
    return page.rows, page.total


def list_commitments_page(
    session: Session,
    now: int,
    *,
    municipality_id: int | None = None,
    theme: str | None = None,
    statuses: Iterable[str] = (),
    statuses_on_record: Iterable[str] = (),
    recorded_late: bool | None = None,
    amended_after_due_date: bool | None = None,
    historical_record: bool | None = None,
    met_only_under_relaxed_terms: bool | None = None,
    q: str | None = None,
    sort: str = "id",
    offset: int = 0,
    limit: int = 20,
    after: str | None = None,
    before: str | None = None,
) -> CommitmentListPage:
    """One page of commitments (summary dicts, in ``sort`` order: by id ascending by default),
    the total number matching the filters, which combine with AND (``None`` / empty: no
    filter), and the cursors of the pages around it.

    Summary fields: the v1 ones (``id``, ``municipality_id``, ``municipality_name``,
    ``external_ref``, ``title``, ``theme``, ``unit``, ``target_quantity``,
    ``delivered_quantity``, ``progress_bps``, ``status``, ``due_date``, ``met_at``,
    ``registered``, ``withdrawn``) and those of docs/LEDGER.md "Fields" (2.1.0: ``parent_id``
    (null without parent), ``weight``, ``children`` (ids, withdrawn ones included),
    ``rollup_*``, ``confirmed_quantity`` / ``unconfirmed_quantity`` / ``disputed_quantity``,
    ``status_confirmed``, ``met_at_confirmed``, ``progress_bps_confirmed``,
    ``batched_delivery_count``), and ``last_changed_at`` (block time of the latest event
    concerning the commitment, Unix seconds: see ``ledger.db.models.Commitment``), with
    ``_iso`` twins.

    Work per page does not grow with the index: filters and sorts read indexes (statuses
    through ``ledger.status.status_in_sql``, the text through the trigram index of
    ``ledger.db.models.SEARCH_TABLE``), a page after a cursor is a keyset read (``sort=status``:
    one indexed read per status, in urgency order), and the total is kept by :func:`_kept`
    until the commitments change or a due date is crossed.

    Args:
        now: evaluation time of the statuses, Unix seconds.
        municipality_id: only this municipality's commitments.
        theme: only this theme (exact match).
        statuses: ``status`` (claimed clock, current terms) is any of these.
        statuses_on_record: ``status_on_record`` (on-record clock, current terms) is any of these.
        recorded_late: has (true) / has no (false) non-revoked delivery recorded late.
        amended_after_due_date: some amendment was (true) / none was (false) made after the
            due date then in force.
        historical_record: registered after (true) / not after (false) its original due date.
        met_only_under_relaxed_terms: the claimed verdict is (true) / is not (false) better
            under the current terms than the original ones.
        q: case-insensitive substring of the title, description or external_ref (Python's
            ``str.lower`` on both sides; NUL stands for "␀", U+2400, as texts are stored);
            blank means no filter. 3 characters or more are found through the trigram index,
            shorter ones by reading every ``search_text`` (``ledger.db.models.SEARCH_MIN_CHARS``).
        sort: one of :data:`COMMITMENT_SORTS`: ``id``, ``due_date``, ``progress``,
            ``status`` (most urgent first: :data:`STATUS_URGENCY`) or ``last_change``
            (oldest first), each ascending, or descending with a ``-`` prefix
            (``-last_change``: most recently changed first); ties by id ascending.
        offset: rows to skip, 0..:data:`MAX_COMMITMENT_OFFSET` (not with a cursor).
        limit: rows to return, 1..:data:`MAX_PAGE_LIMIT`.
        after: a cursor of this list and ``sort`` (``next_cursor`` / ``prev_cursor`` of a
            page): the rows after that position.
        before: a cursor: the rows before that position (the ``limit`` nearest to it).

    Returns:
        The :class:`CommitmentListPage`.

    Raises:
        ValueError: an unknown status or sort, ``offset`` outside 0..10,000, ``limit``
            outside 1..100, ``offset`` with a cursor, or both cursors.
        InvalidCursorError: a cursor that is not one of this list for ``sort``.
    """
    wanted = _check_statuses(statuses)
    wanted_on_record = _check_statuses(statuses_on_record)
    order = _commitment_order(sort, now)
    _check_page(offset, limit)
    if offset > MAX_COMMITMENT_OFFSET:
        raise ValueError(f"offset must be at most {MAX_COMMITMENT_OFFSET} (page on with the cursor), got {offset}.")
    if after is not None and before is not None:
        raise ValueError("Give after or before, not both.")
    if offset and (after is not None or before is not None):
        raise ValueError("Give offset or a cursor, not both.")
    segments = _sort_segments(sort, now)
    key_count = len(segments[0][1])
    cursor = after if after is not None else before
    position = None if cursor is None else _decode_cursor(cursor, sort, len(segments), key_count)

    # The conditions that do not depend on now, then the status ones.
    conditions: list[ColumnElement[bool]] = []
    if municipality_id is not None:
        conditions.append(Commitment.municipality_id == municipality_id)
    if theme is not None:
        conditions.append(Commitment.theme == theme)
    if recorded_late is not None:
        conditions.append(Commitment.recorded_late_count > 0 if recorded_late else Commitment.recorded_late_count == 0)
    conditions += _flag(Commitment.amended_after_due_date, amended_after_due_date)
    conditions += _flag(Commitment.historical_record, historical_record)
    relaxed_at = None
    if met_only_under_relaxed_terms is not None:
        relaxed = met_only_under_relaxed_terms_sql(now)
        relaxed_at = len(conditions)
        conditions.append(relaxed if met_only_under_relaxed_terms else ~relaxed)
    needle = search_needle(q)
    search_at = len(conditions)
    if needle:
        conditions.append(_search_condition(session, needle))
    timeless = list(conditions)
    # Every row that may enter, leave or change on this page as time passes matches these
    # (the text search left out: a superset, read through the status indexes, where the
    # search would read every row it finds five times; the limit is then as early or earlier).
    valid_until = _statuses_stable_until(
        session, now, ("list", municipality_id, theme, recorded_late, amended_after_due_date, historical_record),
        [c for i, c in enumerate(timeless) if i not in (relaxed_at, search_at if needle else None)])
    changes: list[tuple[str, list[ColumnElement[bool]]]] = []
    status_at: dict[str, tuple[int, list[str]]] = {}  # status field -> (its condition's index, the statuses)
    for status_field, chosen in (("status", wanted), ("status_on_record", wanted_on_record)):
        if chosen:
            status_at[status_field] = (len(conditions), chosen)
            conditions.append(status_in_sql(status_field, chosen, now))
            changes.append((status_field, timeless))

    filters_key = (municipality_id, theme, tuple(sorted(wanted)), tuple(sorted(wanted_on_record)), recorded_late,
                   amended_after_due_date, historical_record, met_only_under_relaxed_terms, needle)
    total = _count(session, now, filters_key, conditions, changes)
    segment_columns = None  # the columns the status segments (sort=status) are tested on
    if needle and total and _scan_finds_sooner(session, now, needle, total, limit, municipality_id):
        # Read the rows in the order's index, testing each, until the page is full: the
        # status conditions must not offer the planner their own indexes (it would read every
        # row of the wanted statuses and sort them). A segment keeps its settled part
        # indexable ((settled part, id) gives the segment in id order).
        conditions[search_at] = Commitment.search_text.contains(needle, autoescape=True)
        for status_field, (at, chosen) in status_at.items():
            conditions[at] = status_in_sql(status_field, chosen, now, table=_ScanColumns(_STATUS_SCAN_COLUMNS))
        segment_columns = _ScanColumns(_STATUS_SCAN_COLUMNS - set(SETTLED_COLUMNS.values()))

    def read(where: list[ColumnElement[bool]], by: list[ColumnElement[Any]], count: int, skip: int = 0) -> list[Any]:
        query = select(Commitment, Municipality.name).join(Municipality, Municipality.id == Commitment.municipality_id)
        return session.execute(query.where(*where).order_by(*by).offset(skip or None).limit(count)).all()

    def walk(start: tuple[int, list[int]] | None, forward: bool, count: int) -> list[tuple[int, Any, str]]:
        """Up to ``count`` rows from ``start`` (exclusive; the beginning / end when None)."""
        found: list[tuple[int, Any, str]] = []
        indices = range(len(segments)) if forward else range(len(segments) - 1, -1, -1)
        for index in indices:
            if start is not None and (index < start[0] if forward else index > start[0]):
                continue
            status, keys = segments[index]
            if status is not None and wanted and status not in wanted:
                continue
            where = list(conditions)
            if status is not None:
                where.append(status_in_sql("status", [status], now, table=segment_columns))
            if start is not None and index == start[0]:
                where.append(_beyond(keys, start[1], forward))
            by = [c.desc() if d else c.asc() for c, d in keys] if forward else [c.asc() if d else c.desc() for c, d in keys]
            found += [(index, c, name) for c, name in read(where, by, count - len(found))]
            if len(found) >= count:
                break
        return found

    def position_of(index: int, c: Commitment) -> tuple[int, list[int]]:
        return index, _sort_values(c, segments[index][1])

    def segment_of(c: Commitment) -> int:
        if len(segments) == 1:
            return 0
        status = status_of(c.withdrawn, c.delivered_quantity, c.met_at, c.due_date, now)
        return [s for s, _ in segments].index(status)

    if not total:  # nothing matches (a kept count): no read at all
        return CommitmentListPage([], 0, None, None, valid_until)
    if before is not None:
        assert position is not None
        rows = walk(position, False, limit + 1)
        has_prev = len(rows) > limit
        rows = rows[:limit][::-1]
        prev_cursor = _encode_cursor(sort, *position_of(rows[0][0], rows[0][1])) if has_prev else None
        last = position_of(rows[-1][0], rows[-1][1]) if rows else None
        next_cursor = _encode_cursor(sort, *last) if last is not None and walk(last, True, 1) else None
    else:
        if offset:
            plain = read(conditions, order, limit + 1, offset)
            rows = [(segment_of(c), c, name) for c, name in plain]
        else:
            rows = walk(position, True, limit + 1)
        has_next = len(rows) > limit
        rows = rows[:limit]
        next_cursor = _encode_cursor(sort, *position_of(rows[-1][0], rows[-1][1])) if has_next else None
        if position is None and not offset:
            prev_cursor = None
        elif rows:
            first = position_of(rows[0][0], rows[0][1])
            prev_cursor = _encode_cursor(sort, *first) if walk(first, False, 1) else None
        else:
            prev_cursor = after if position is not None and walk(position, False, 1) else None
    children = _children(session, [c.id for _, c, _ in rows])
    return CommitmentListPage(
        [_summary(c, name, now, children.get(c.id, [])) for _, c, name in rows], total, next_cursor, prev_cursor,
        valid_until,
    )


def _count(
    session: Session,
    now: int,
    filters_key: tuple[Any, ...],
    conditions: list[ColumnElement[bool]],
    changes: list[tuple[str, list[ColumnElement[bool]]]],
) -> int:
    """The number of commitments matching ``conditions`` (named by ``filters_key``), kept by
    :func:`_kept`."""
    return int(_kept(
        session, now, ("commitment_count", filters_key),
        lambda: int(session.scalar(select(func.count()).select_from(Commitment).where(*conditions)) or 0),
        changes,
    ))


_STATUS_SCAN_COLUMNS = frozenset({*SETTLED_COLUMNS.values(), "due_date", "original_due_date", "delivered_quantity"})
"""The columns of ``ledger.status.status_in_sql``'s conditions: a page read by scanning the
list's order (:func:`_scan_finds_sooner`) tests them on each row instead of reading through them."""


class _ScanColumns:
    """``Commitment``'s columns as ``ledger.status``'s SQL builders take them (their ``table``),
    those named in ``unindexed`` as ``+column`` (SQLite): the same values, but no index serves
    a condition on them, so the planner reads the rows in the index of the ``ORDER BY``
    (SQLite's documented way to disqualify a term from index use) and stops when the page is full."""

    def __init__(self, unindexed: Iterable[str]) -> None:
        self._unindexed = frozenset(unindexed)

    def __getattr__(self, name: str) -> ColumnElement[Any]:
        column_ = Commitment.__table__.c.get(name)
        if column_ is None:
            raise AttributeError(name)
        if name not in self._unindexed:
            return column_
        return UnaryExpression(column_, operator=custom_op("+"), type_=column_.type)


def _scan_finds_sooner(
    session: Session, now: int, needle: str, total: int, limit: int, municipality_id: int | None = None
) -> bool:
    """Whether a page is read sooner by testing every row in the list's order until it is
    full (about ``(limit + 1) × scope / total`` rows: ``total`` of the ``scope`` rows the
    order's index walks match; ``scope``: the municipality's commitments, whose indexes hold
    each sort, or all) than through the trigram table, which reads every row containing the
    needle (``with needle``, whatever the other filters). The counts are kept (:func:`_kept`);
    SQLite only (PostgreSQL's planner weighs its GIN index itself)."""
    if len(needle) < SEARCH_MIN_CHARS or session.get_bind().dialect.name != "sqlite":
        return False
    if municipality_id is None:
        scope = _count(session, now, ("all",), [], [])
    else:
        scope = _count(session, now, ("municipality", municipality_id), [Commitment.municipality_id == municipality_id], [])
    if (limit + 1) * scope < total * total:  # with_needle >= total: no need to count it
        return True
    with_needle = _count(session, now, ("needle", needle), [_search_condition(session, needle)], [])
    return (limit + 1) * scope < total * with_needle


def search_needle(q: str | None) -> str:
    """What ``q`` looks for in ``search_text``: trimmed, in the search form of the stored
    texts (``ledger.db.models.search_fold``: NFC, lowercased), unit separators (U+001F,
    between the fields) dropped and NUL as "␀" (U+2400, as texts are stored); ``""`` when
    nothing is left (no filter)."""
    return search_fold((q or "").replace("\x1f", "").replace("\x00", "\u2400").strip())


def _search_condition(session: Session, needle: str) -> ColumnElement[bool]:
    """Rows whose ``search_text`` contains ``needle`` (already :func:`search_needle`): the
    exact test (``LIKE`` with every wildcard escaped), which on SQLite reads only the rows the
    FTS5 trigram table finds (:func:`_every_trigram`) for needles of :data:`~ledger.db.models.SEARCH_MIN_CHARS` or
    more (on PostgreSQL the pg_trgm GIN index serves the ``LIKE`` itself). Trigrams fold
    case the same way on both sides, so they find every row that contains the needle; the
    exact test removes what they find beyond it."""
    exact = Commitment.search_text.contains(needle, autoescape=True)
    if len(needle) < SEARCH_MIN_CHARS or session.get_bind().dialect.name != "sqlite":
        return exact
    fts = table(SEARCH_TABLE, column("rowid"), column("search_text"))
    matches = literal_column(SEARCH_TABLE).op("MATCH")(_every_trigram(needle))  # the table, not a column: no column filter
    return and_(Commitment.id.in_(select(fts.c.rowid).select_from(fts).where(matches)), exact)


def _every_trigram(needle: str) -> str:
    """The FTS5 query that finds the rows holding every trigram (3 characters, overlapping)
    of ``needle`` (at least 3 characters), each a quoted string: ``"abc" AND "bcd"``. The
    table keeps no positions (``ledger.db.models.SEARCH_TABLE``), so a phrase cannot be asked
    for; the exact test decides."""
    grams = dict.fromkeys(needle[i:i + SEARCH_MIN_CHARS] for i in range(len(needle) - SEARCH_MIN_CHARS + 1))
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


# The detail of one commitment, read with few Core statements built once: each ORM query
# cost more in statement handling and object loading than the indexed lookup it ran (a
# detail took 9 of them). Rows are read as Core rows, whose attributes are the columns'
# names (the same as the ORM attributes), so the same formatting helpers serve both.
_C, _M, _A, _D, _E = Commitment.__table__, Municipality.__table__, Amendment.__table__, Delivery.__table__, EvidenceCitation.__table__
_V, _L, _B, _EV = Verdict.__table__, BatchLeaf.__table__, Batch.__table__, EventRow.__table__
_CHILD = _C.alias("child")

_DETAIL_ROW = (
    select(
        _C,
        _M.c.name.label("municipality_name"),
        select(func.count()).select_from(_CHILD).where(_CHILD.c.parent_id == _C.c.id).scalar_subquery().label("child_count"),
    )
    .join_from(_C, _M, _M.c.id == _C.c.municipality_id)
    .where(_C.c.id == bindparam("commitment_id"))
)
"""A commitment with its municipality's name and its number of sub-commitments (the ids are
read only when there are some)."""
_CHILD_IDS = select(_C.c.id).where(_C.c.parent_id == bindparam("commitment_id")).order_by(_C.c.id)
_AMENDMENT_ROWS = select(_A).where(_A.c.commitment_id == bindparam("commitment_id")).order_by(_A.c.amendment_number)
_first_recorded = (
    select(_D)
    .where(_D.c.id > bindparam("low"), _D.c.id < bindparam("high"))
    .order_by(_D.c.id)
    .limit(bindparam("limit"))
    .subquery("first_recorded")
)
_FIRST_RECORDED_CITED = (
    select(_first_recorded, _E.c.sha256.label("cited_sha256"))
    .outerjoin(_E, _E.c.delivery_id == _first_recorded.c.id)
    .order_by(_first_recorded.c.id, _E.c.position)
)
"""The first recorded deliveries of a commitment (an id range, by id) with their evidence
hashes (one row per hash, in position order; one row with ``None`` for a delivery without)."""
_VERDICT_ROWS = select(_V).where(_V.c.delivery_key.in_(bindparam("keys", expanding=True)))
_LEAF_BATCH = ("anchored_at", "registrar", "signer_held_role", "tx_hash", "block_number", "log_index", "block_time")
_FIRST_LEAF_ROWS = (
    select(_L, *(_B.c[name].label(f"batch_{name}") for name in _LEAF_BATCH))
    .join_from(_L, _B, _B.c.root == _L.c.root)
    .join(_C, _C.c.id == _L.c.commitment_id)
    .where(_L.c.commitment_id == bindparam("commitment_id"))
    .order_by(_B.c.block_number, _B.c.log_index, _L.c.leaf_index)
    .limit(bindparam("limit"))
)
_RECORDED_COUNT = select(func.count()).select_from(_D).where(_D.c.id > bindparam("low"), _D.c.id < bindparam("high"))
_LEAF_ROW_COUNT = (
    select(func.count())
    .select_from(_L)
    .join(_B, _B.c.root == _L.c.root)
    .join(_C, _C.c.id == _L.c.commitment_id)
    .where(_L.c.commitment_id == bindparam("commitment_id"))
)
_FIRST_EVENT_ROWS = (
    select(_EV)
    .where(_EV.c.commitment_id == bindparam("commitment_id"), _EV.c.name.in_(list(TIMELINE_KINDS)))
    .order_by(_EV.c.block_number, _EV.c.log_index)
    .limit(bindparam("limit"))
)
_EVENT_ROW_COUNT = (
    select(func.count())
    .select_from(_EV)
    .where(_EV.c.commitment_id == bindparam("commitment_id"), _EV.c.name.in_(list(TIMELINE_KINDS)))
)


@dataclass(frozen=True)
class _LeafBatch:
    """The fields of a leaf's batch that its delivery shows (read with the leaf)."""

    anchored_at: int
    registrar: str
    signer_held_role: bool
    tx_hash: str
    block_number: int
    log_index: int
    block_time: int


def _core_reviews(connection: Connection, rows: list[Any], keys: list[str]) -> dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """:func:`_reviews` of the deliveries ``rows`` (their ``review`` columns) with these
    delivery keys: a delivery whose review is ``unconfirmed`` has no verdict (a verdict row is
    the latest of one confirmer, ``confirmed`` or ``disputed``, and the projection sets the
    review from them: ``ledger.status.review_of``), so the verdicts are read only when one of
    them has any."""
    if all(row.review == "unconfirmed" for row in rows):
        return {}
    found: list[Any] = []
    for chunk in _chunks(list(dict.fromkeys(keys))):
        found += connection.execute(_VERDICT_ROWS, {"keys": chunk}).all()
    return _reviews_of(found)


def _first_recorded_dicts(
    connection: Connection, commitment_id: int, fetch: int, evidence_stored: Callable[[str], bool] | None
) -> list[dict[str, Any]]:
    """The first ``fetch`` recorded deliveries of a commitment (id below 2**63 / 10**6) as
    :func:`_recorded_dicts` makes them, in two statements at most."""
    low = commitment_id * DELIVERY_ID_BASE
    rows: list[Any] = []
    evidence: dict[int, list[str]] = {}
    for row in connection.execute(_FIRST_RECORDED_CITED, {"low": low, "high": low + DELIVERY_ID_BASE, "limit": fetch}):
        if not rows or rows[-1].id != row.id:
            rows.append(row)
            evidence[row.id] = []
        if row.cited_sha256 is not None:
            evidence[row.id].append(row.cited_sha256)
    reviews = _core_reviews(connection, rows, [str(d.id) for d in rows])
    return [
        _delivery_dict(d, _evidence_refs(evidence[d.id], evidence_stored), reviews.get(str(d.id), ([], []))) for d in rows
    ]


def _first_leaf_dicts(
    connection: Connection, commitment_id: int, fetch: int, evidence_stored: Callable[[str], bool] | None
) -> list[dict[str, Any]]:
    """The first ``fetch`` batched deliveries of a commitment as :func:`_leaf_dicts` makes them."""
    rows = connection.execute(_FIRST_LEAF_ROWS, {"commitment_id": commitment_id, "limit": fetch}).all()
    if not rows:
        return []
    keys = [batched_delivery_key(leaf.root, leaf.leaf_hash) for leaf in rows]
    reviews = _core_reviews(connection, rows, keys)
    return [
        _batched_dict(leaf, _LeafBatch(*(getattr(leaf, f"batch_{name}") for name in _LEAF_BATCH)), evidence_stored,
                      reviews.get(key, ([], [])))
        for leaf, key in zip(rows, keys)
    ]


def _first_deliveries(
    connection: Connection, commitment_id: int, limit: int, evidence_stored: Callable[[str], bool] | None
) -> dict[str, Any]:
    """The first page of :func:`commitment_deliveries` (no cursor; a commitment id whose
    delivery ids fit BIGINT): the page read forwards tells the counts itself when it did not
    fill up."""
    fetch = limit + 1  # one more tells whether there is a page beyond
    page = _first_recorded_dicts(connection, commitment_id, fetch, evidence_stored)
    recorded_total: int | None = None
    batched_total: int | None = None
    if len(page) < fetch:
        recorded_total = len(page)
        wanted = fetch - len(page)
        leaves = _first_leaf_dicts(connection, commitment_id, wanted, evidence_stored)
        if len(leaves) < wanted:
            batched_total = len(leaves)
        page += leaves
    if recorded_total is None:
        low = commitment_id * DELIVERY_ID_BASE
        recorded_total = connection.execute(_RECORDED_COUNT, {"low": low, "high": low + DELIVERY_ID_BASE}).scalar() or 0
    if batched_total is None:
        batched_total = connection.execute(_LEAF_ROW_COUNT, {"commitment_id": commitment_id}).scalar() or 0
    more = len(page) > limit
    page = page[:limit]
    return {"data": page, "count": recorded_total + batched_total, "next_cursor": _delivery_cursor(page[-1]) if more else None,
            "prev_cursor": None}


def _first_timeline(connection: Connection, commitment_id: int, limit: int) -> dict[str, Any]:
    """The first page of :func:`commitment_timeline` (no cursor)."""
    rows = connection.execute(_FIRST_EVENT_ROWS, {"commitment_id": commitment_id, "limit": limit + 1}).all()
    more = len(rows) > limit
    rows = rows[:limit]
    count = (connection.execute(_EVENT_ROW_COUNT, {"commitment_id": commitment_id}).scalar() or 0) if more else len(rows)
    return {"data": [_timeline_entry(e) for e in rows], "count": count,
            "next_cursor": f"t.{rows[-1].block_number}.{rows[-1].log_index}" if more else None, "prev_cursor": None}


def _first_pages_fit(commitment_id: int) -> bool:
    """Whether the first pages of this commitment's history are read by :func:`_first_deliveries`
    (its recorded delivery ids fit BIGINT; beyond, :func:`commitment_deliveries` reads them)."""
    return commitment_id * DELIVERY_ID_BASE + DELIVERY_ID_BASE - 1 <= _MAX_BIGINT


def get_commitment(
    session: Session,
    commitment_id: int,
    now: int,
    *,
    evidence_stored: Callable[[str], bool] | None = None,
    page_size: int = DETAIL_PAGE_SIZE,
) -> dict[str, Any] | None:
    """One commitment: the summary of :func:`list_commitments` plus ``description``,
    ``source_document_sha256``, ``source_uri``, ``withdrawal`` (null or {"reason",
    "registrar", "signer_held_role", "chain"}), ``amendments`` (oldest first, see
    docs/LEDGER.md "Fields"), the first page of its ``deliveries`` (as
    :func:`commitment_deliveries`: recorded ones by id, then batched ones in log order) with
    ``deliveries_count`` (all of them) and ``deliveries_next_cursor`` (of the next page, null
    when all are here), and the first page of its ``timeline`` ((block, log index) order,
    :func:`commitment_timeline`) with ``timeline_count`` and ``timeline_next_cursor``;
    without ``ledger`` (the route adds it from the deployment). ``None`` if unknown.

    Reads (Core statements built once, on the session's connection): the commitment with its
    municipality's name and number of sub-commitments; their ids when there are some; its
    amendments when it has some (``amendment_count``); its first recorded deliveries with
    their evidence; the verdicts on them when one is reviewed; its batched deliveries when the
    recorded ones do not fill the page; its first timeline entries; a count only when a page
    is full. A commitment with fewer than ``page_size`` deliveries, none of them reviewed,
    takes 4 statements.

    Args:
        now: evaluation time of the statuses, Unix seconds.
        evidence_stored: tells whether the evidence file with this ``0x`` SHA-256 is stored
            by this server (then ``stored`` is true and ``url`` points at
            ``/api/v1/evidence/<sha256>``); nothing is stored when ``None``.
        page_size: deliveries and timeline entries on the first page, 0..100 (0: none, and
            the counts ``None``: the summary and texts only).

    Raises:
        ValueError: ``page_size`` outside 0..100.
    """
    if not 0 <= page_size <= MAX_PAGE_LIMIT:
        raise ValueError(f"page_size must be 0..{MAX_PAGE_LIMIT}, got {page_size}.")
    connection = _core(session)
    c = connection.execute(_DETAIL_ROW, {"commitment_id": commitment_id}).first()
    if c is None:
        return None
    children = connection.execute(_CHILD_IDS, {"commitment_id": c.id}).scalars().all() if c.child_count else []
    detail = _summary(c, c.municipality_name, now, children)
    detail.update(
        {
            "description": c.description,
            "source_document_sha256": c.source_document_sha256,
            "source_uri": c.source_uri,
            "withdrawal": None
            if not c.withdrawn
            else {
                "reason": c.withdrawal_reason,
                "registrar": c.withdrawal_registrar,
                "signer_held_role": c.withdrawal_signer_held_role,
                "chain": _ref_of(c, "withdrawn_"),
            },
            "amendments": [_amendment_dict(a) for a in connection.execute(_AMENDMENT_ROWS, {"commitment_id": c.id})]
            if c.amendment_count
            else [],
        }
    )
    if not page_size:
        deliveries = timeline = {"data": [], "count": None, "next_cursor": None}
    elif _first_pages_fit(c.id):
        deliveries = _first_deliveries(connection, c.id, page_size, evidence_stored)
        timeline = _first_timeline(connection, c.id, page_size)
    else:
        deliveries = commitment_deliveries(session, c.id, limit=page_size, evidence_stored=evidence_stored)
        timeline = _first_timeline(connection, c.id, page_size)
    detail.update(
        {
            "deliveries": deliveries["data"],
            "deliveries_count": deliveries["count"],
            "deliveries_next_cursor": deliveries["next_cursor"],
            "timeline": timeline["data"],
            "timeline_count": timeline["count"],
            "timeline_next_cursor": timeline["next_cursor"],
        }
    )
    return detail


def amendment_terms(a: Any) -> dict[str, Any]:
    """What an amendment row (ORM or Core) changes and why (docs/LEDGER.md "Fields"): its
    number, the names of the fields it changes, the new title, the target quantities (decimal
    strings, the commitment's unit) and due dates (Unix seconds, with ISO twins) before and
    after, its reason and the three flags; the part the detail and the activity feed share."""
    return {
        "amendment_number": a.amendment_number,
        "fields": amendment_field_names(a.fields),
        "title": a.title,
        "previous_target_quantity": str(a.previous_target_quantity),
        "target_quantity": str(a.target_quantity),
        "previous_due_date": a.previous_due_date,
        "previous_due_date_iso": iso(a.previous_due_date),
        "due_date": a.due_date,
        "due_date_iso": iso(a.due_date),
        "reason": a.reason,
        "after_due_date": a.after_due_date,
        "lowered_target": a.lowered_target,
        "extended_due_date": a.extended_due_date,
    }


def _amendment_dict(a: Any) -> dict[str, Any]:
    """An amendment row (ORM or Core) → its dict in a commitment's detail: :func:`amendment_terms`
    with its description, registrar, time and chain reference."""
    return {
        **amendment_terms(a),
        "description": a.description,
        "registrar": a.registrar,
        "amended_at": a.amended_at,
        "amended_at_iso": iso(a.amended_at),
        "signer_held_role": a.signer_held_role,
        "chain": _ref_of(a),
    }


def _evidence_refs(sha256s: Iterable[str], evidence_stored: Callable[[str], bool] | None) -> list[dict[str, Any]]:
    refs = []
    for sha256 in sha256s:
        stored = bool(evidence_stored and evidence_stored(sha256))
        refs.append({"sha256": sha256, "stored": stored, "url": EVIDENCE_URL.format(sha256=sha256) if stored else None})
    return refs


_VERDICTS_OF = select(Verdict).where(Verdict.delivery_key.in_(bindparam("keys", expanding=True)))
_EVIDENCE_OF = (
    select(EvidenceCitation.delivery_id, EvidenceCitation.sha256)
    .where(EvidenceCitation.delivery_id.in_(bindparam("ids", expanding=True)))
    .order_by(EvidenceCitation.delivery_id, EvidenceCitation.position)
)
"""Statements built once (the detail's hot path: building a statement costs more than running
it on an indexed lookup); their values are bound per call."""


def _reviews(session: Session, delivery_keys: Iterable[str]) -> dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Delivery key → (confirmations, disputes): the latest verdict of each confirmer, in log
    order (docs/LEDGER.md "Confirmations")."""
    keys = list(dict.fromkeys(delivery_keys))
    found: list[Verdict] = []
    for chunk in _chunks(keys):
        found += session.scalars(_VERDICTS_OF, {"keys": chunk})
    return _reviews_of(found)


def _reviews_of(found: list[Any]) -> dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Verdict rows (ORM or Core) → delivery key → (confirmations, disputes), in log order."""
    result: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    for v in sorted(found, key=lambda v: (v.block_number, v.log_index)):
        confirmations, disputes = result.setdefault(v.delivery_key, ([], []))
        entry: dict[str, Any] = {"confirmer": v.confirmer}
        if v.verdict == "confirmed":
            entry["evidence_hash"] = v.evidence_hash
        else:
            entry["reason"] = v.reason
        entry.update({"at": v.at, "at_iso": iso(v.at), "signer_held_role": v.signer_held_role, "chain": _ref_of(v)})
        (confirmations if v.verdict == "confirmed" else disputes).append(entry)
    return result


def _deliveries(
    session: Session,
    conditions: list[ColumnElement[bool]],
    evidence_stored: Callable[[str], bool] | None,
    offset: int,
    limit: int | None,
    *,
    descending: bool = False,
) -> list[dict[str, Any]]:
    """Recorded delivery dicts matching ``conditions``, by id (``descending``: highest
    first), one page (all when ``limit`` is None)."""
    query = select(Delivery).where(*conditions).order_by(Delivery.id.desc() if descending else Delivery.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return _recorded_dicts(session, list(session.scalars(query)), evidence_stored)


def _recorded_dicts(
    session: Session, rows: list[Delivery], evidence_stored: Callable[[str], bool] | None
) -> list[dict[str, Any]]:
    """Recorded delivery rows → their dicts (evidence and reviews read for all at once)."""
    evidence: dict[int, list[str]] = {}
    for chunk in _chunks([d.id for d in rows]):
        for delivery_id, sha256 in session.execute(_EVIDENCE_OF, {"ids": chunk}):
            evidence.setdefault(delivery_id, []).append(sha256)
    reviews = _reviews(session, [str(d.id) for d in rows])
    return [
        _delivery_dict(d, _evidence_refs(evidence.get(d.id, []), evidence_stored), reviews.get(str(d.id), ([], [])))
        for d in rows
    ]


def _delivery_dict(
    d: Delivery, evidence: list[dict[str, Any]], review: tuple[list[dict[str, Any]], list[dict[str, Any]]]
) -> dict[str, Any]:
    return {
        "kind": "recorded",
        "id": d.id,
        "delivery_number": d.delivery_number,
        "commitment_id": d.commitment_id,
        "quantity": str(d.quantity),
        "delivered_at": d.delivered_at,
        "delivered_at_iso": iso(d.delivered_at),
        "recorded_at": d.recorded_at,
        "recorded_at_iso": iso(d.recorded_at),
        "recording_lag_seconds": d.recording_lag_seconds,
        "recording_lag_days": recording_lag_days(d.recording_lag_seconds),
        "recorded_late": d.recorded_late,
        "evidence": evidence,
        "evidence_uri": d.evidence_uri,
        "note": d.note,
        "external_ref": d.external_ref,
        "asset_ref": d.asset_ref,
        "double_counted": d.double_counted,
        "registrar": d.registrar,
        "signer_held_role": d.signer_held_role,
        "recorded": _ref_of(d),
        "revocation": None
        if not d.revoked
        else {
            "reason": d.revocation_reason,
            "registrar": d.revocation_registrar,
            "signer_held_role": d.revocation_signer_held_role,
            "chain": _ref_of(d, "revoked_"),
        },
        "review": d.review,
        "confirmations": review[0],
        "disputes": review[1],
        "batch_root": None,
        "leaf_hash": None,
        "leaf_index": None,
        "counted": None,
        "refused_reason": None,
    }


def _leaf_commitment_id(leaf: BatchLeaf) -> int:
    """The commitment id a leaf names, exact (the column is ``None`` beyond BIGINT)."""
    return leaf.commitment_id if leaf.commitment_id is not None else int(json.loads(leaf.values_json)[0])


def _batched_dict(
    leaf: BatchLeaf,
    batch: Batch,
    evidence_stored: Callable[[str], bool] | None,
    review: tuple[list[dict[str, Any]], list[dict[str, Any]]],
) -> dict[str, Any]:
    """A leaf of a verified batch as a delivery (docs/LEDGER.md "Batches": id = leaf hash,
    registrar = the batch's, recorded_at = anchoredAt)."""
    lag = batch.anchored_at - leaf.delivered_at
    return {
        "kind": "batched",
        "id": leaf.leaf_hash,
        "delivery_number": None,
        "commitment_id": _leaf_commitment_id(leaf),
        "quantity": str(leaf.quantity),
        "delivered_at": leaf.delivered_at,
        "delivered_at_iso": iso(leaf.delivered_at),
        "recorded_at": batch.anchored_at,
        "recorded_at_iso": iso(batch.anchored_at),
        "recording_lag_seconds": lag,
        "recording_lag_days": recording_lag_days(lag),
        "recorded_late": recorded_late(lag),
        "evidence": _evidence_refs(list(dict.fromkeys(leaf.evidence_hashes)), evidence_stored),
        "evidence_uri": leaf.evidence_uri,
        "note": leaf.note,
        "external_ref": leaf.external_ref,
        "asset_ref": leaf.asset_ref,
        "double_counted": leaf.refused_reason == "asset_already_counted",
        "registrar": batch.registrar,
        "signer_held_role": batch.signer_held_role,
        "recorded": _ref_of(batch),
        "revocation": None
        if not leaf.revoked
        else {
            "reason": leaf.revocation_reason,
            "registrar": leaf.revocation_registrar,
            "signer_held_role": leaf.revocation_signer_held_role,
            "chain": _ref_of(leaf, "revoked_"),
        },
        "review": leaf.review,
        "confirmations": review[0],
        "disputes": review[1],
        "batch_root": leaf.root,
        "leaf_hash": leaf.leaf_hash,
        "leaf_index": leaf.leaf_index,
        "counted": leaf.counted,
        "refused_reason": leaf.refused_reason,
    }


def _leaves_query(conditions: list[ColumnElement[bool]], *, with_commitment: bool) -> Any:
    query = select(BatchLeaf, Batch).join(Batch, Batch.root == BatchLeaf.root)
    if with_commitment:  # deliveries lists: leaves of registered commitments only
        query = query.join(Commitment, Commitment.id == BatchLeaf.commitment_id)
    return query.where(*conditions)


def _batched_deliveries(
    session: Session,
    conditions: list[ColumnElement[bool]],
    evidence_stored: Callable[[str], bool] | None,
    offset: int,
    limit: int | None,
    *,
    with_commitment: bool = True,
    descending: bool = False,
) -> list[dict[str, Any]]:
    """Leaves (batched deliveries) matching ``conditions``, in log order (anchor, then file
    order; ``descending``: the other way), one page (all when ``limit`` is None)."""
    order = [Batch.block_number, Batch.log_index, BatchLeaf.leaf_index]
    query = (
        _leaves_query(conditions, with_commitment=with_commitment)
        .order_by(*(key.desc() for key in order) if descending else order)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return _leaf_dicts(session, list(session.execute(query)), evidence_stored)


def _leaf_dicts(
    session: Session, rows: list[tuple[BatchLeaf, Batch]], evidence_stored: Callable[[str], bool] | None
) -> list[dict[str, Any]]:
    """(leaf, batch) rows → batched delivery dicts (reviews read for all at once)."""
    reviews = _reviews(session, [batched_delivery_key(leaf.root, leaf.leaf_hash) for leaf, _ in rows])
    return [
        _batched_dict(leaf, batch, evidence_stored, reviews.get(batched_delivery_key(leaf.root, leaf.leaf_hash), ([], [])))
        for leaf, batch in rows
    ]


def unreviewed_deliveries(
    session: Session,
    municipality_id: int,
    *,
    limit: int = 100,
    evidence_stored: Callable[[str], bool] | None = None,
) -> list[dict[str, Any]]:
    """Recorded deliveries of ``municipality_id`` that no confirmer has reviewed yet
    (``review`` is ``unconfirmed``), not revoked, of commitments not withdrawn, oldest first
    (by id), at most ``limit``: the staff workspace's confirmation queue. Each is a delivery
    dict of :func:`list_deliveries` plus ``commitment_title`` and ``commitment_unit``."""
    query = (
        select(Delivery, Commitment.title, Commitment.unit)
        .join(Commitment, Commitment.id == Delivery.commitment_id)
        .where(Commitment.municipality_id == municipality_id, Commitment.withdrawn.is_(False),
               Delivery.revoked.is_(False), Delivery.review == "unconfirmed")
        .order_by(Delivery.id)
        .limit(limit)
    )
    found = session.execute(query).all()
    dicts = _recorded_dicts(session, [row[0] for row in found], evidence_stored)
    return [{**d, "commitment_title": row[1], "commitment_unit": row[2]} for d, row in zip(dicts, found)]


def recorded_delivery(
    session: Session, delivery_id: int, *, evidence_stored: Callable[[str], bool] | None = None
) -> dict[str, Any] | None:
    """One recorded delivery as in :func:`list_deliveries`, or ``None`` if it is not indexed."""
    found = _deliveries(session, [Delivery.id == delivery_id], evidence_stored, 0, 1)
    return found[0] if found else None


def municipality_signers(session: Session, municipality_id: int) -> list[dict[str, Any]]:
    """The accounts that hold a role of ``municipality_id`` on chain now: ``[{"account"
    (EIP-55), "roles": ["registrar", "confirmer"] (those it holds)}]`` by first appointment;
    the accounts a staff workspace account may sign with."""
    roles: dict[str, list[str]] = {}
    for role, table in (("registrar", Registrar), ("confirmer", Confirmer)):
        for account in _registrars(session, municipality_id, table).get(municipality_id, []):
            roles.setdefault(account, []).append(role)
    return [{"account": account, "roles": held} for account, held in roles.items()]


def list_deliveries(
    session: Session,
    *,
    municipality_id: int | None = None,
    commitment_id: int | None = None,
    recorded_late: bool | None = None,
    kind: str | None = None,
    offset: int = 0,
    limit: int = 20,
    now: int,
    evidence_stored: Callable[[str], bool] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of deliveries across commitments, recorded ones (by id ascending) then
    batched ones (leaves of verified batches that name a registered commitment, in log order:
    anchor, then file order), revoked and uncounted ones included, and the total number
    matching the filters (AND).

    Each delivery: ``{"kind": "recorded" | "batched", "id" (a recorded delivery's id, a
    batched one's leaf hash), "delivery_number" (null when batched), "commitment_id",
    "quantity", "delivered_at" (claimed), "recorded_at" (block time; batched: the anchor's),
    "recording_lag_seconds", "recording_lag_days", "recorded_late", "evidence": [{"sha256",
    "stored", "url"}], "evidence_uri", "note", "external_ref", "asset_ref", "double_counted",
    "registrar", "signer_held_role", "recorded": ChainRef, "revocation": null or {"reason",
    "registrar", "signer_held_role", "chain"}, "review", "confirmations": [{"confirmer",
    "evidence_hash", "at", "signer_held_role", "chain"}], "disputes": [{"confirmer", "reason",
    "at", "signer_held_role", "chain"}], "batch_root", "leaf_hash", "leaf_index", "counted",
    "refused_reason"}`` (the last five null for recorded ones; times with ``_iso`` twins), plus
    ``commitment_title``, ``commitment_status`` (claimed clock, current terms, at ``now``),
    ``unit``, ``municipality_id`` and ``municipality_name``.

    Args:
        municipality_id: only deliveries of this municipality's commitments.
        commitment_id: only this commitment's deliveries.
        recorded_late: only deliveries recorded late (true) or not (false).
        kind: only ``recorded`` or only ``batched`` deliveries.
        offset: rows to skip (>= 0).
        limit: rows to return, 1..:data:`MAX_PAGE_LIMIT`.
        now: evaluation time of ``commitment_status``, Unix seconds.
        evidence_stored: as for :func:`get_commitment`.

    Raises:
        ValueError: ``offset`` < 0, ``limit`` outside 1..100 or an unknown ``kind``.
    """
    _check_page(offset, limit)
    if kind is not None and kind not in DELIVERY_KINDS:
        raise ValueError(f"Unknown delivery kind {kind!r}; expected one of {', '.join(DELIVERY_KINDS)}.")
    recorded: list[ColumnElement[bool]] = []
    batched: list[ColumnElement[bool]] = []
    if municipality_id is not None:
        recorded.append(
            Delivery.commitment_id.in_(select(Commitment.id).where(Commitment.municipality_id == municipality_id))
        )
        batched.append(Commitment.municipality_id == municipality_id)
    if commitment_id is not None:
        recorded.append(Delivery.commitment_id == commitment_id)
        batched.append(BatchLeaf.commitment_id == commitment_id)
    recorded += _flag(Delivery.recorded_late, recorded_late)
    batched += _flag(BatchLeaf.recorded_late, recorded_late)
    recorded_total = (
        0 if kind == "batched" else session.scalar(select(func.count()).select_from(Delivery).where(*recorded)) or 0
    )
    batched_total = (
        0
        if kind == "recorded"
        else session.scalar(
            select(func.count()).select_from(_leaves_query(batched, with_commitment=True).subquery())
        )
        or 0
    )
    page: list[dict[str, Any]] = []
    if offset < recorded_total:
        page = _deliveries(session, recorded, evidence_stored, offset, limit)
    if len(page) < limit and kind != "recorded":
        page += _batched_deliveries(
            session, batched, evidence_stored, max(0, offset - recorded_total), limit - len(page)
        )
    commitments = {
        c.id: (c, name)
        for c, name in session.execute(
            select(Commitment, Municipality.name)
            .join(Municipality, Municipality.id == Commitment.municipality_id)
            .where(Commitment.id.in_({d["commitment_id"] for d in page}))
        )
    }
    for d in page:
        c, name = commitments[d["commitment_id"]]
        d.update(
            {
                "commitment_title": c.title,
                "commitment_status": status_of(c.withdrawn, c.delivered_quantity, c.met_at, c.due_date, now),
                "unit": c.unit,
                "municipality_id": c.municipality_id,
                "municipality_name": name,
            }
        )
    return page, recorded_total + batched_total


# ---------------------------------------------------------------------------- batches


def _batch_counts(session: Session, roots: Iterable[str]) -> dict[str, tuple[int, int, int]]:
    """Root → (counted_leaves, refused_leaves, revoked_leaves): counting now, refused (revoked
    or not), counted once but revoked since."""
    ids = list(roots)
    if not ids:
        return {}
    counting = case((and_(*_leaf_counting()), 1), else_=0)
    refused = case((BatchLeaf.counted.is_(False), 1), else_=0)
    revoked = case((and_(BatchLeaf.counted.is_(True), BatchLeaf.revoked.is_(True)), 1), else_=0)
    rows = session.execute(
        select(BatchLeaf.root, func.sum(counting), func.sum(refused), func.sum(revoked))
        .where(BatchLeaf.root.in_(ids))
        .group_by(BatchLeaf.root)
    )
    return {root: (int(a or 0), int(b or 0), int(c or 0)) for root, a, b, c in rows}


def _batch_dict(
    b: Batch, municipality: str, counts: tuple[int, int, int], evidence_stored: Callable[[str], bool] | None
) -> dict[str, Any]:
    stored = bool(evidence_stored and evidence_stored(b.file_sha256))
    return {
        "root": b.root,
        "municipality_id": b.municipality_id,
        "municipality_name": municipality,
        "registrar": b.registrar,
        "signer_held_role": b.signer_held_role,
        "leaf_count": b.leaf_count,
        "file_sha256": b.file_sha256,
        "file_uri": b.file_uri,
        "file_stored": stored,
        "file_url": BATCH_FILE_URL.format(root=b.root) if stored else None,
        "anchored_at": b.anchored_at,
        "anchored_at_iso": iso(b.anchored_at),
        "verified": b.verified,
        "unverified_reason": b.unverified_reason,
        "counted_leaves": counts[0],
        "refused_leaves": counts[1],
        "revoked_leaves": counts[2],
        "chain": _ref_of(b),
    }


def list_batches(
    session: Session,
    *,
    municipality_id: int | None = None,
    verified: bool | None = None,
    offset: int = 0,
    limit: int = 20,
    evidence_stored: Callable[[str], bool] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """One page of anchored batches in log order (oldest first) and the number matching.

    Each batch: ``{"root", "municipality_id", "municipality_name", "registrar",
    "signer_held_role", "leaf_count" (as anchored), "file_sha256", "file_uri", "file_stored",
    "file_url" (``/api/v1/batches/<root>/file`` when stored, else null), "anchored_at",
    "anchored_at_iso", "verified", "unverified_reason" (null when verified; else ``missing``,
    ``sha256_mismatch``, ``unparseable``, ``root_mismatch``, ``leaf_count_mismatch``),
    "counted_leaves" (counting now), "refused_leaves", "revoked_leaves" (counted, then
    revoked), "chain": ChainRef}``.

    Args:
        municipality_id: only this municipality's batches.
        verified: only verified (true) or unverified (false) batches.
        offset: rows to skip (>= 0).
        limit: rows to return, 1..:data:`MAX_PAGE_LIMIT`.
        evidence_stored: tells whether the file with this ``0x`` SHA-256 is stored here.

    Raises:
        ValueError: ``offset`` < 0 or ``limit`` outside 1..100.
    """
    _check_page(offset, limit)
    conditions: list[ColumnElement[bool]] = []
    if municipality_id is not None:
        conditions.append(Batch.municipality_id == municipality_id)
    conditions += _flag(Batch.verified, verified)
    total = session.scalar(select(func.count()).select_from(Batch).where(*conditions)) or 0
    if total <= offset:  # nothing on this page (a commitment's page asks for the unverified ones: mostly none)
        return [], total
    rows = session.execute(
        select(Batch, Municipality.name)
        .join(Municipality, Municipality.id == Batch.municipality_id)
        .where(*conditions)
        .order_by(Batch.block_number, Batch.log_index)
        .offset(offset)
        .limit(limit)
    ).all()
    counts = _batch_counts(session, [b.root for b, _ in rows])
    return [_batch_dict(b, name, counts.get(b.root, (0, 0, 0)), evidence_stored) for b, name in rows], total


def get_batch(
    session: Session,
    root: str,
    *,
    evidence_stored: Callable[[str], bool] | None = None,
    leaves: bool = True,
    leaf_offset: int = 0,
    leaf_limit: int | None = None,
) -> dict[str, Any] | None:
    """One batch as in :func:`list_batches`, plus ``leaves``: its file's leaves in file order
    (``leaf_index`` ``leaf_offset`` on, at most ``leaf_limit``; all by default), each as a
    batched delivery of :func:`list_deliveries` (``counted``, ``refused_reason``,
    ``revocation``, ``review``; empty while the batch is not verified), or ``None`` if no such
    root was anchored.

    Args:
        root: the batch's Merkle root, 64 hex digits (``0x`` optional, any case).
        evidence_stored: as for :func:`list_batches`.
        leaves: include the leaves (false: the summary only).
        leaf_offset: leaves to skip (>= 0).
        leaf_limit: most leaves to return (>= 1), ``None`` for all.

    Raises:
        ValueError: malformed root, ``leaf_offset`` < 0 or ``leaf_limit`` < 1.
    """
    if leaf_offset < 0 or (leaf_limit is not None and leaf_limit < 1):
        raise ValueError(f"leaf_offset must be >= 0 and leaf_limit >= 1, got {leaf_offset} and {leaf_limit}.")
    row = session.execute(
        select(Batch, Municipality.name)
        .join(Municipality, Municipality.id == Batch.municipality_id)
        .where(Batch.root == normalize_sha256(root))
    ).first()
    if row is None:
        return None
    b, name = row.tuple()
    detail = _batch_dict(b, name, _batch_counts(session, [b.root]).get(b.root, (0, 0, 0)), evidence_stored)
    if leaves:
        detail["leaves"] = _batched_deliveries(
            session, [BatchLeaf.root == b.root], evidence_stored, leaf_offset, leaf_limit, with_commitment=False
        )
    return detail


def get_batch_leaf_proof(session: Session, root: str, leaf_hash: str) -> dict[str, Any] | None:
    """What anyone needs to check one batched delivery on chain with
    ``verifyBatchedDelivery(root, leaf, proof)``: ``{"root", "leaf_hash", "leaf_index",
    "leaf": {"commitment_id", "quantity", "delivered_at", "evidence_hashes", "evidence_uri",
    "note", "external_ref", "asset_ref"} (the ``BatchLeaf`` struct, exact values: quantities as
    decimal strings), "values" (the leaf as the batch file lists it, in the leaf encoding),
    "leaf_encoding", "proof" ([``0x`` hashes], OpenZeppelin sorted-pair proof), "counted",
    "refused_reason", "revoked"}``, or ``None`` if the batch is unknown, not verified, or has
    no such leaf (the first of equal leaves).

    Raises:
        ValueError: malformed root or leaf hash.
    """
    leaf = session.scalars(
        select(BatchLeaf)
        .where(BatchLeaf.root == normalize_sha256(root), BatchLeaf.leaf_hash == normalize_sha256(leaf_hash))
        .order_by(BatchLeaf.leaf_index)
        .limit(1)
    ).first()
    if leaf is None:
        return None
    values = json.loads(leaf.values_json)
    return {
        "root": leaf.root,
        "leaf_hash": leaf.leaf_hash,
        "leaf_index": leaf.leaf_index,
        "leaf": {
            "commitment_id": str(values[0]),
            "quantity": str(values[1]),
            "delivered_at": str(values[2]),
            "evidence_hashes": list(values[3]),
            "evidence_uri": values[4],
            "note": values[5],
            "external_ref": values[6],
            "asset_ref": values[7],
        },
        "values": values,
        "leaf_encoding": list(LEAF_ENCODING),
        "proof": list(leaf.proof),
        "counted": leaf.counted,
        "refused_reason": leaf.refused_reason,
        "revoked": leaf.revoked,
    }


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
            "promised_at": a["promised_at"],
            "due_date": a["due_date"],
            "source_document_sha256": None if source == ZERO_HASH else source,
            "source_uri": a["source_uri"],
            "registered_at": a["registered_at"],
        }
    if kind == "amended":
        named = amendment_field_names(a["fields"])
        return {
            "amendment_number": a["amendment_number"],
            "fields": named,
            "title": a["title"] if "title" in named else None,
            "description": a["description"] if "description" in named else None,
            "previous_target_quantity": str(a["previous_target_quantity"]),
            "target_quantity": str(a["target_quantity"]),
            "previous_due_date": a["previous_due_date"],
            "due_date": a["due_date"],
            "reason": a["reason"],
            "amended_at": a["amended_at"],
        }
    if kind == "delivered":
        return {
            "delivery_id": a["delivery_id"],
            "quantity": str(a["quantity"]),
            "delivered_at": a["delivered_at"],
            "recorded_at": a["recorded_at"],
            "evidence_sha256": list(a["evidence_hashes"]),
            "note": a["note"],
        }
    if kind == "revoked":
        return {"delivery_id": a["delivery_id"], "reason": a["reason"], "revoked_at": a["revoked_at"]}
    return {"reason": a["reason"], "withdrawn_at": a["withdrawn_at"]}


def _timeline_entry(e: EventRow) -> dict[str, Any]:
    kind = TIMELINE_KINDS[e.name]
    return {
        "kind": kind,
        "chain": chain_ref(e.tx_hash, e.block_number, e.log_index, e.block_time),
        "registrar": e.args["registrar"],
        "details": _timeline_details(kind, e.args),
    }


DELIVERY_ID_BASE = 1_000_000
"""Delivery ids are ``commitment_id * DELIVERY_ID_BASE + n`` with n in 1..999,999
(docs/LEDGER.md), so a commitment's recorded deliveries are one id range."""

_MAX_BIGINT = 2**63 - 1


def _parse_position(cursor: str, kinds: dict[str, int]) -> tuple[int, ...]:
    """A cursor (``<kind>.<n>.<n>...``) → its integers, checked against ``kinds`` (kind →
    number of integers).

    Raises:
        ValueError: not such a cursor.
    """
    kind, _, rest = cursor.partition(".")
    parts = rest.split(".") if rest else []
    if kind not in kinds or len(parts) != kinds[kind] or not all(p.isdigit() and len(p) <= 20 for p in parts):
        raise ValueError(f"Not a cursor of this list: {cursor!r}.")
    values = tuple(int(p) for p in parts)
    if any(v > _MAX_BIGINT for v in values):
        raise ValueError(f"Not a cursor of this list: {cursor!r}.")
    return (list(kinds).index(kind), *values)


def _delivery_cursor(d: dict[str, Any]) -> str:
    if d["kind"] == "recorded":
        return f"r.{d['id']}"
    return f"b.{d['recorded']['block_number']}.{d['recorded']['log_index']}.{d['leaf_index']}"


def _recorded_range(commitment_id: int) -> list[ColumnElement[bool]]:
    """The recorded deliveries of one commitment as an id range (ordered by the primary key)."""
    low = commitment_id * DELIVERY_ID_BASE
    if low + DELIVERY_ID_BASE - 1 > _MAX_BIGINT:
        return [Delivery.commitment_id == commitment_id]
    return [Delivery.id > low, Delivery.id < low + DELIVERY_ID_BASE]


def commitment_deliveries(
    session: Session,
    commitment_id: int,
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int = DETAIL_PAGE_SIZE,
    evidence_stored: Callable[[str], bool] | None = None,
) -> dict[str, Any]:
    """One page of a commitment's deliveries in the detail's order (recorded ones by id, then
    batched ones in log order: anchor, then file order; revoked and uncounted ones included),
    by keyset: ``{"data": [delivery as in :func:`list_deliveries`, without the commitment's
    own fields], "count" (all of the commitment's deliveries), "next_cursor" (after the last
    of ``data``, null on the last page), "prev_cursor" (before the first, null on the first
    page)}``. An unknown commitment has none (count 0).

    Cursors are opaque strings (``r.<delivery id>`` or ``b.<block>.<log index>.<leaf
    index>``): pass ``next_cursor`` as ``after`` or ``prev_cursor`` as ``before``. Each page costs
    ``limit`` rows whatever the number of deliveries (index range scans).

    Args:
        after: only deliveries after this cursor.
        before: only deliveries before this cursor (the page that ends just before it).
        limit: rows to return, 1..:data:`MAX_PAGE_LIMIT`.
        evidence_stored: as for :func:`get_commitment`.

    Raises:
        ValueError: a malformed cursor, both ``after`` and ``before``, or ``limit`` outside
            1..100.
    """
    _check_page(0, limit)
    if after is not None and before is not None:
        raise ValueError("Give after or before, not both.")
    if after is None and before is None and _first_pages_fit(commitment_id):  # the first page, by far the most read
        return _first_deliveries(_core(session), commitment_id, limit, evidence_stored)
    kinds = {"r": 1, "b": 3}
    position = _parse_position(after if after is not None else before, kinds) if (after or before) is not None else None
    backwards = before is not None
    recorded: list[ColumnElement[bool]] = _recorded_range(commitment_id)
    batched: list[ColumnElement[bool]] = [BatchLeaf.commitment_id == commitment_id]
    leaf_key = tuple_(Batch.block_number, Batch.log_index, BatchLeaf.leaf_index)
    want_recorded = want_batched = True
    if position is not None:
        if position[0] == 0:  # a recorded delivery
            recorded.append(Delivery.id < position[1] if backwards else Delivery.id > position[1])
            want_batched = not backwards
        else:
            key = tuple_(*(literal(v, BigInteger) for v in position[1:]))
            batched.append(leaf_key < key if backwards else leaf_key > key)
            want_recorded = backwards
    fetch = limit + 1  # one more tells whether there is a page beyond
    page: list[dict[str, Any]] = []
    # the first page read forwards tells the counts itself when it did not fill up
    recorded_total: int | None = None
    batched_total: int | None = None
    if backwards:  # newest first, then turned around
        if want_batched:
            page += _batched_deliveries(session, batched, evidence_stored, 0, fetch, descending=True)
        if len(page) < fetch and want_recorded:
            page += _deliveries(session, recorded, evidence_stored, 0, fetch - len(page), descending=True)
        more = len(page) > limit
        page = page[:limit][::-1]
    else:
        if want_recorded:
            page += _deliveries(session, recorded, evidence_stored, 0, fetch)
        if len(page) < fetch and want_batched:
            wanted = fetch - len(page)
            leaves = _batched_deliveries(session, batched, evidence_stored, 0, wanted)
            if position is None and len(leaves) < wanted:
                batched_total = len(leaves)
            page += leaves
        more = len(page) > limit
        page = page[:limit]
    if recorded_total is None:
        recorded_total = session.scalar(select(func.count()).select_from(Delivery).where(*_recorded_range(commitment_id))) or 0
    if batched_total is None:
        batched_total = _core(session).execute(_LEAF_ROW_COUNT, {"commitment_id": commitment_id}).scalar() or 0
    count = recorded_total + batched_total
    next_cursor, previous_cursor = _page_cursors(page, more, position is not None, backwards, _delivery_cursor)
    return {"data": page, "count": count, "next_cursor": next_cursor, "prev_cursor": previous_cursor}


def _page_cursors(
    page: list[Any], more: bool, from_cursor: bool, backwards: bool, cursor: Callable[[Any], str]
) -> tuple[str | None, str | None]:
    """``(next, previous)`` of a keyset page: read forwards, there is a next page when one
    more row was found and a previous one when the page started at a cursor; read backwards
    (``before``), the other way round."""
    if not page:
        return None, None
    has_next, has_previous = (from_cursor, more) if backwards else (more, from_cursor)
    return (cursor(page[-1]) if has_next else None), (cursor(page[0]) if has_previous else None)


def commitment_timeline(
    session: Session,
    commitment_id: int,
    *,
    after: str | None = None,
    before: str | None = None,
    limit: int = DETAIL_PAGE_SIZE,
) -> dict[str, Any]:
    """One page of a commitment's on-chain timeline in (block, log index) order, by keyset:
    ``{"data": [{"kind" (registered | amended | delivered | revoked | withdrawn), "chain":
    ChainRef, "registrar", "details"}], "count", "next_cursor", "prev_cursor"}`` as
    :func:`commitment_deliveries` (cursors ``t.<block>.<log index>``).

    Raises:
        ValueError: a malformed cursor, both ``after`` and ``before``, or ``limit`` outside
            1..100.
    """
    _check_page(0, limit)
    if after is not None and before is not None:
        raise ValueError("Give after or before, not both.")
    position = _parse_position(after if after is not None else before, {"t": 2}) if (after or before) is not None else None
    backwards = before is not None
    conditions: list[ColumnElement[bool]] = [
        EventRow.commitment_id == commitment_id,
        EventRow.name.in_(list(TIMELINE_KINDS)),
    ]
    key = tuple_(EventRow.block_number, EventRow.log_index)
    if position is not None:
        at = tuple_(literal(position[1], BigInteger), literal(position[2], BigInteger))
        conditions.append(key < at if backwards else key > at)
    order = [EventRow.block_number.desc(), EventRow.log_index.desc()] if backwards else [EventRow.block_number, EventRow.log_index]
    if position is None:
        return _first_timeline(_core(session), commitment_id, limit)
    rows = list(session.scalars(select(EventRow).where(*conditions).order_by(*order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    count = _core(session).execute(_EVENT_ROW_COUNT, {"commitment_id": commitment_id}).scalar() or 0
    next_cursor, previous_cursor = _page_cursors(
        rows, more, position is not None, backwards, lambda e: f"t.{e.block_number}.{e.log_index}"
    )
    return {
        "data": [_timeline_entry(e) for e in rows], "count": count, "next_cursor": next_cursor, "prev_cursor": previous_cursor
    }


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


# ---------------------------------------------------------------------------- charts


def commitment_chart_rows(session: Session, now: int, municipality_id: int | None = None) -> list[dict[str, Any]]:
    """One row per commitment (withdrawn ones included), by id, for drawing "commitments due
    vs commitments met over time": ``{"id", "municipality_id", "due_date",
    "original_due_date", "promised_at" (claimed), "registered_at" (block time), "met_at"
    (claimed clock, current terms; null while not met), "met_on_record_at" (block time; null
    while not met), "withdrawn", "withdrawn_at" (block time of the withdrawal, null when not
    withdrawn), "status" (claimed clock, current terms, at ``now``), "status_on_record"}``;
    times are Unix seconds, statuses those of :func:`list_commitments`.

    Args:
        now: evaluation time of the statuses, Unix seconds.
        municipality_id: only this municipality's commitments; all when ``None``.
    """
    query = select(
        Commitment.id,
        Commitment.municipality_id,
        Commitment.due_date,
        Commitment.original_due_date,
        Commitment.promised_at,
        Commitment.registered_at,
        Commitment.met_at,
        Commitment.met_on_record_at,
        Commitment.withdrawn,
        Commitment.withdrawn_block_time,
        Commitment.delivered_quantity,
    )
    if municipality_id is not None:
        query = query.where(Commitment.municipality_id == municipality_id)
    # Plain tuples and the two statuses shown (``status_of``, as ``verdicts`` gives them):
    # one row per commitment, so the per-row work is what this costs.
    return [
        {
            "id": cid,
            "municipality_id": mid,
            "due_date": due,
            "original_due_date": original_due,
            "promised_at": promised,
            "registered_at": registered,
            "met_at": met,
            "met_on_record_at": met_on_record,
            "withdrawn": withdrawn,
            "withdrawn_at": withdrawn_at if withdrawn else None,
            "status": status_of(withdrawn, delivered, met, due, now),
            "status_on_record": status_of(withdrawn, delivered, met_on_record, due, now),
        }
        for (cid, mid, due, original_due, promised, registered, met, met_on_record, withdrawn, withdrawn_at, delivered)
        in session.execute(query.order_by(Commitment.id))
    ]


def commitment_chart_counts(session: Session, municipality_id: int | None = None) -> dict[str, Any] | None:
    """What the site's "due vs met" chart draws, counted in SQL over the commitments not
    withdrawn (of ``municipality_id``; all when ``None``), so what leaves the database grows
    with the number of distinct times, not of commitments: ``{"total" (commitments not
    withdrawn), "first_promised_at", "last_promised_at", "last_due_date", "due", "met",
    "met_on_record"}``, where each of the last three is a list of ``(time, count)`` pairs
    ascending by time (Unix seconds; one pair per distinct ``due_date``, ``met_at`` (claimed
    clock, current terms) or ``met_on_record_at`` (block time), commitments not met in none).
    ``None`` when no commitment is left once the withdrawn ones are out. Equals counting
    :func:`commitment_chart_rows` by time.
    """
    kept = [Commitment.withdrawn.is_(False)]
    if municipality_id is not None:
        kept.append(Commitment.municipality_id == municipality_id)
    # One pass over the commitments (a CTE named more than once is materialized by SQLite and
    # PostgreSQL), then one GROUP BY per line, every part tagged by ``part``.
    k = select(Commitment.promised_at, Commitment.due_date, Commitment.met_at, Commitment.met_on_record_at).where(
        *kept).cte("chart_kept")
    parts = [  # 0: (first promise, total), 1: (last promise, last due date), 2..4: the lines
        select(literal(0).label("part"), func.min(k.c.promised_at).label("at"), func.count().label("n")),
        select(literal(1), func.max(k.c.promised_at), func.max(k.c.due_date)),
    ]
    for part, at in ((2, k.c.due_date), (3, k.c.met_at), (4, k.c.met_on_record_at)):
        parts.append(select(literal(part), at, func.count()).where(at.is_not(None)).group_by(at))
    query = parts[0].union_all(*parts[1:]).order_by(literal_column("part"), literal_column("at"))
    rows = session.execute(query).all()  # ints on both backends (BIGINT columns, counts)
    (_, first_promised, total), (_, last_promised, last_due) = rows[0], rows[1]
    found: dict[int, list[tuple[int, int]]] = {2: [], 3: [], 4: []}
    for part, at, n in rows[2:]:
        found[part].append((at, n))
    if not total:
        return None
    return {
        "total": int(total), "first_promised_at": int(first_promised), "last_promised_at": int(last_promised),
        "last_due_date": int(last_due), "due": found[2], "met": found[3], "met_on_record": found[4],
    }


_COUNTED_RECORDED_POINTS = select(
    Delivery.id, Delivery.quantity, Delivery.delivered_at, Delivery.recorded_at, Delivery.block_number, Delivery.log_index,
).where(Delivery.commitment_id == bindparam("commitment_id"), *_recorded_counting())
_COUNTED_LEAF_POINTS = (
    select(
        BatchLeaf.leaf_hash, BatchLeaf.quantity, BatchLeaf.delivered_at, Batch.anchored_at, Batch.block_number,
        Batch.log_index, BatchLeaf.leaf_index,
    )
    .join(Batch, Batch.root == BatchLeaf.root)
    .where(BatchLeaf.commitment_id == bindparam("commitment_id"), *_leaf_counting())
)
"""The chart's statements, built once, run as Core on the session's connection."""


def commitment_delivery_points(session: Session, commitment_id: int) -> list[dict[str, Any]]:
    """Every delivery of one commitment that counts now (recorded ones not revoked and not
    double counted, leaves of verified batches counted and not revoked: the deliveries whose
    sum is ``delivered_quantity``), for drawing its cumulative delivered quantity by stated
    date and by recording time: ``{"kind": "recorded" | "batched", "id" (a recorded
    delivery's id, a batched one's leaf hash), "quantity" (int, in the commitment's unit),
    "delivered_at" (claimed), "recorded_at" (block time; batched: the anchor's)}``, times in
    Unix seconds, ordered by ``recorded_at``, then ``delivered_at``, then log order. Empty for
    an unknown commitment or one with no counted delivery.
    """
    points: list[tuple[tuple[int, ...], dict[str, Any]]] = []
    connection = _core(session)
    for delivery_id, quantity, delivered_at, recorded_at, block_number, log_index in connection.execute(
        _COUNTED_RECORDED_POINTS, {"commitment_id": commitment_id}
    ):
        point = {"kind": "recorded", "id": delivery_id, "quantity": quantity, "delivered_at": delivered_at,
                 "recorded_at": recorded_at}
        points.append(((recorded_at, delivered_at, block_number, log_index, 0), point))
    for leaf_hash, quantity, delivered_at, anchored_at, block_number, log_index, leaf_index in connection.execute(
        _COUNTED_LEAF_POINTS, {"commitment_id": commitment_id}
    ):
        point = {"kind": "batched", "id": leaf_hash, "quantity": quantity, "delivered_at": delivered_at,
                 "recorded_at": anchored_at}
        points.append(((anchored_at, delivered_at, block_number, log_index, leaf_index), point))
    return [point for _, point in sorted(points, key=lambda entry: entry[0])]


# ---------------------------------------------------------------------------- write checks


def commitment_states(session: Session, commitment_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The indexed commitments among ``commitment_ids``: id → ``{"municipality_id",
    "withdrawn"}`` (ids the index does not have are left out)."""
    ids = sorted(set(commitment_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Commitment.id, Commitment.municipality_id, Commitment.withdrawn).where(Commitment.id.in_(ids))
    )
    return {cid: {"municipality_id": mid, "withdrawn": bool(withdrawn)} for cid, mid, withdrawn in rows}


def taken_delivery_refs(session: Session, commitment_ids: Iterable[int]) -> dict[tuple[int, str], str]:
    """``(commitment id, external ref)`` → the delivery holding it (a recorded delivery's id
    in decimal, or a batched one's leaf hash), for every non-empty ref of these commitments:
    as ``ledger.status.count_deliveries`` takes them, any recorded delivery (revoked or double
    counted too) and any counted leaf (revoked too) holds its ref; the first holder is given."""
    ids = sorted(set(commitment_ids))
    taken: dict[tuple[int, str], str] = {}
    if not ids:
        return taken
    for cid, ref, delivery_id in session.execute(
        select(Delivery.commitment_id, Delivery.external_ref, Delivery.id)
        .where(Delivery.commitment_id.in_(ids), Delivery.external_ref != "")
        .order_by(Delivery.id)
    ):
        taken.setdefault((cid, ref), str(delivery_id))
    for cid, ref, leaf_hash in session.execute(
        select(BatchLeaf.commitment_id, BatchLeaf.external_ref, BatchLeaf.leaf_hash)
        .join(Batch, Batch.root == BatchLeaf.root)
        .where(BatchLeaf.commitment_id.in_(ids), BatchLeaf.external_ref != "", BatchLeaf.counted.is_(True))
        .order_by(Batch.block_number, Batch.log_index, BatchLeaf.leaf_index)
    ):
        taken.setdefault((cid, ref), leaf_hash)
    return taken


def counted_assets(session: Session, commitment_ids: Iterable[int]) -> dict[tuple[int, str], str]:
    """``(commitment id, normalised asset ref)`` → the counted, not revoked delivery naming it
    (a recorded delivery's id in decimal, or a batched one's leaf hash): what a new delivery of
    that asset would be a double count of (docs/LEDGER.md "Assets")."""
    ids = sorted(set(commitment_ids))
    counted: dict[tuple[int, str], str] = {}
    if not ids:
        return counted
    for cid, key, delivery_id in session.execute(
        select(Delivery.commitment_id, Delivery.asset_key, Delivery.id)
        .where(Delivery.commitment_id.in_(ids), Delivery.asset_key != "", *_recorded_counting())
        .order_by(Delivery.id)
    ):
        counted.setdefault((cid, key), str(delivery_id))
    for cid, key, leaf_hash in session.execute(
        select(BatchLeaf.commitment_id, BatchLeaf.asset_key, BatchLeaf.leaf_hash)
        .where(BatchLeaf.commitment_id.in_(ids), BatchLeaf.asset_key != "", *_leaf_counting())
        .order_by(BatchLeaf.root, BatchLeaf.leaf_index)
    ):
        counted.setdefault((cid, key), leaf_hash)
    return counted


# ---------------------------------------------------------------------------- verify, health


_CITED_BY_RECORDED = (
    select(
        _D.c.id, _D.c.commitment_id, _D.c.delivered_at, _D.c.recorded_at, _D.c.recorded_late, _D.c.quantity, _D.c.registrar,
        _D.c.signer_held_role, _D.c.revoked, _D.c.revocation_reason,
        _E.c.tx_hash, _E.c.block_number, _E.c.log_index, _E.c.block_time,
        _C.c.title, _C.c.municipality_id.label("commitment_municipality_id"), _M.c.name,
    )
    .join_from(_E, _D, _D.c.id == _E.c.delivery_id)
    .join(_C, _C.c.id == _E.c.commitment_id)
    .join(_M, _M.c.id == _C.c.municipality_id)
    .where(_E.c.sha256 == bindparam("sha256"))
    .order_by(_E.c.delivery_id)
)
"""Recorded deliveries citing a hash: the delivery's fields, the chain reference of its
citation (its ``DeliveryRecorded``), its commitment's title and municipality."""
_BEC = BatchEvidenceCitation.__table__
_CITED_BY_BATCHED = (
    select(
        _L.c.leaf_hash, _L.c.commitment_id, _L.c.delivered_at, _L.c.recorded_late, _L.c.quantity, _L.c.revoked,
        _L.c.revocation_reason, _L.c.root, _L.c.counted,
        _B.c.anchored_at, _B.c.registrar, _B.c.signer_held_role, _B.c.tx_hash, _B.c.block_number, _B.c.log_index, _B.c.block_time,
        _C.c.title, _C.c.municipality_id.label("commitment_municipality_id"), _M.c.name,
    )
    .join_from(_L, _BEC, and_(_BEC.c.root == _L.c.root, _BEC.c.leaf_index == _L.c.leaf_index))
    .join(_B, _B.c.root == _L.c.root)
    .join(_C, _C.c.id == _L.c.commitment_id)
    .join(_M, _M.c.id == _C.c.municipality_id)
    .where(_BEC.c.sha256 == bindparam("sha256"))
    .order_by(_B.c.block_number, _B.c.log_index, _L.c.leaf_index)
)
"""Leaves of verified batches citing a hash, with their batch's anchor (its chain reference)."""
_SOURCE_OF = (
    select(_C.c.id, _C.c.title, _M.c.name)
    .join_from(_C, _M, _M.c.id == _C.c.municipality_id)
    .where(_C.c.source_document_sha256 == bindparam("sha256"))
    .order_by(_C.c.id)
)
"""The document check's statements, built once (``sha256`` bound per call), run as Core."""


def verify_hash(session: Session, sha256_hex: str) -> dict[str, Any]:
    """Where a document is cited: ``{"sha256", "found", "citations", "source_of"}``.
    ``citations`` are the deliveries whose ``DeliveryRecorded.evidenceHashes`` hold it (by
    delivery id, revoked ones included and flagged; ``chain`` is that ``DeliveryRecorded``
    event), then the leaves of verified batches whose evidence holds it (log order; ``chain``
    is the ``BatchAnchored``): ``{"kind" (recorded | batched), "delivery_id" (batched: the
    leaf hash), "commitment_id", "commitment_title", "municipality_id", "municipality_name",
    "delivered_at", "recorded_at", "recorded_late", "quantity", "registrar",
    "signer_held_role", "revoked", "revocation_reason", "chain", "batch_root", "leaf_hash",
    "counted" (the last three null when recorded)}`` (times with ``_iso`` twins);
    ``source_of`` the commitments whose source document it is (by id).
    ``found`` is true when either is not empty. Three indexed statements.

    Args:
        sha256_hex: the document's SHA-256, 64 hex digits (``0x`` optional, any case).

    Raises:
        ValueError: malformed hash (the API answers 422).
    """
    sha256 = normalize_sha256(sha256_hex)
    connection = _core(session)
    citations = [
        {
            "kind": "recorded",
            "delivery_id": d.id,
            "commitment_id": d.commitment_id,
            "commitment_title": d.title,
            "municipality_id": d.commitment_municipality_id,
            "municipality_name": d.name,
            "delivered_at": d.delivered_at,
            "delivered_at_iso": iso(d.delivered_at),
            "recorded_at": d.recorded_at,
            "recorded_at_iso": iso(d.recorded_at),
            "recorded_late": d.recorded_late,
            "quantity": str(d.quantity),
            "registrar": d.registrar,
            "signer_held_role": d.signer_held_role,
            "revoked": d.revoked,
            "revocation_reason": d.revocation_reason,
            "chain": _ref_of(d),
            "batch_root": None,
            "leaf_hash": None,
            "counted": None,
        }
        for d in connection.execute(_CITED_BY_RECORDED, {"sha256": sha256})
    ]
    citations += [
        {
            "kind": "batched",
            "delivery_id": leaf.leaf_hash,
            "commitment_id": leaf.commitment_id,
            "commitment_title": leaf.title,
            "municipality_id": leaf.commitment_municipality_id,
            "municipality_name": leaf.name,
            "delivered_at": leaf.delivered_at,
            "delivered_at_iso": iso(leaf.delivered_at),
            "recorded_at": leaf.anchored_at,
            "recorded_at_iso": iso(leaf.anchored_at),
            "recorded_late": leaf.recorded_late,
            "quantity": str(leaf.quantity),
            "registrar": leaf.registrar,
            "signer_held_role": leaf.signer_held_role,
            "revoked": leaf.revoked,
            "revocation_reason": leaf.revocation_reason,
            "chain": _ref_of(leaf),
            "batch_root": leaf.root,
            "leaf_hash": leaf.leaf_hash,
            "counted": leaf.counted,
        }
        for leaf in connection.execute(_CITED_BY_BATCHED, {"sha256": sha256})
    ]
    source_of = [
        {"commitment_id": cid, "title": title, "municipality_name": name}
        for cid, title, name in connection.execute(_SOURCE_OF, {"sha256": sha256})
    ]
    return {"sha256": sha256, "found": bool(citations or source_of), "citations": citations, "source_of": source_of}


_LS = LedgerStateRow.__table__
_CHECKPOINT_AND_PAUSE = select(
    CheckpointRow.__table__,
    select(_LS.c.paused).where(_LS.c.id == LEDGER_STATE_ID).scalar_subquery().label("paused"),
).where(CheckpointRow.__table__.c.id == CHECKPOINT_ID)
"""The checkpoint row with the ledger state's pause flag (``None`` without a state row), one statement."""


def get_checkpoint(session: Session) -> dict[str, Any] | None:
    """The indexer's progress and the ledger's state for ``/health``: ``{"last_block",
    "last_block_hash", "chain_head_block", "head_seen_at", "contract_version", "paused"}``
    (``last_block`` inclusive and ``None`` before the first chunk; ``head_seen_at`` Unix
    seconds; ``contract_version`` the contract's ``version()`` as the indexer read it;
    ``paused`` from the last indexed ``Paused``/``Unpaused``, false if none), or ``None`` if
    the indexer never ran."""
    row = _core(session).execute(_CHECKPOINT_AND_PAUSE).first()
    if row is None:
        return None
    return {
        "last_block": row.last_block,
        "last_block_hash": row.last_block_hash,
        "chain_head_block": row.chain_head_block,
        "head_seen_at": row.head_seen_at,
        "contract_version": row.contract_version,
        "paused": bool(row.paused),
    }


_INDEX_VERSION = select(
    CheckpointRow.last_block,
    CheckpointRow.last_block_hash,
    select(func.count()).select_from(Batch).where(Batch.unverified_reason == "missing").scalar_subquery(),
).where(CheckpointRow.id == CHECKPOINT_ID)


def index_version(session: Session | Connection) -> tuple[Any, ...]:
    """What names one state of the index, for answers kept until it changes (``api.caching``):
    ``(last_block, last_block_hash, missing_batches)`` — the checkpoint moves with every
    committed chunk and every reorg (which writes all events, the projection and the checkpoint
    in one transaction), and the number of batches still ``missing`` their file falls when the
    indexer counts a file that arrived later (the one write that does not move the
    checkpoint). ``(None, None, 0)`` before the indexer's first pass. One indexed query, on a
    session or a plain connection."""
    connection = _core(session) if isinstance(session, Session) else session
    row = connection.execute(_INDEX_VERSION).first()
    return tuple(row) if row is not None else (None, None, 0)


class IndexVersionReader:
    """:func:`index_version` on one connection of ``engine`` kept for it, through the driver
    directly (the statement compiled once; no pool checkout, no ORM): the per-request check
    of the answers ``api.caching`` keeps, tens of microseconds on SQLite. Thread-safe (one
    read at a time). Each read ends its transaction (SQLite connections here are in
    autocommit; others are rolled back), so it never holds a snapshot; a failed read drops
    the connection and raises, the next one opens another.

    Args:
        engine: the index's engine.
    """

    def __init__(self, engine: Any) -> None:
        self._engine = engine
        self._sql = str(_INDEX_VERSION.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        self._lock = threading.Lock()
        self._connection: Any = None

    def read(self) -> tuple[Any, ...]:
        """The index version now (as :func:`index_version`).

        Raises:
            sqlalchemy.exc.DBAPIError or the driver's error: the index cannot be read.
        """
        with self._lock:
            if self._connection is None:
                self._connection = self._engine.raw_connection()
            try:
                cursor = self._connection.cursor()
                try:
                    cursor.execute(self._sql)
                    row = cursor.fetchone()
                finally:
                    cursor.close()
                self._connection.rollback()
            except Exception:
                connection, self._connection = self._connection, None
                try:
                    connection.invalidate()
                except Exception:  # the connection is gone already
                    pass
                raise
        return tuple(row) if row is not None else (None, None, 0)

    def close(self) -> None:
        """Give the kept connection back to the engine's pool."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
