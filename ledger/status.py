"""The status rules of docs/LEDGER.md ("Status rules", "Two clocks", "Terms"), in Python and
in SQL. This module is the one place of each rule for the indexer and the API; the auditor
replay (``scripts/audit/``) has its own code on purpose.

The mapping (:func:`status_of`; :func:`status_sql` for output and counts and the sargable
:func:`status_in_sql` for filters, which agree on every input: tests/db/test_status_rules.py,
tests/db/test_lists_status_sql.py; the SQL reads the settled part the projection stores,
:data:`SETTLED_COLUMNS`) takes ``(withdrawn, delivered, met_at, due_date,
now)`` and answers, in this order:

- ``withdrawn``      if the commitment was withdrawn;
- ``delivered``      else if met_at is not None and met_at <= due_date;
- ``delivered_late`` else if met_at is not None (met_at > due_date);
- ``overdue``        else if now > due_date;
- ``in_progress``    else if delivered > 0;
- ``pending``        otherwise.

The same mapping is applied to two clocks and two sets of terms; only ``met_at`` and the due
date differ (:data:`VERDICTS`):

- claimed clock: ``met_at`` from :func:`claimed_met_at` (prefix rule over the claimed delivery
  dates of the non-revoked deliveries);
- on-record clock: ``met_on_record_at`` from the running state :class:`OnRecord` (what the
  contract keeps, so ``statusOf`` is O(1)).

2.1.0 (docs/LEDGER.md "Batches", "Assets", "Confirmations", "Sub-commitments"): which
recorded deliveries and leaves count and when (:func:`leaf_is_valid`, :func:`leaf_refusal`,
:func:`count_deliveries`), a delivery's review (:func:`review_of`) and the roll-up of
sub-commitments (:func:`rollup_progress_bps`, :func:`delivered_verdict`).

Times are Unix seconds (UTC); quantities are in the commitment's unit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from sqlalchemy import BigInteger, ColumnElement, and_, case, false, func, literal, or_


STATUSES = ("pending", "in_progress", "delivered", "delivered_late", "overdue", "withdrawn")
"""Every status, in the order of the contract's ``Status`` enum."""

SECONDS_PER_DAY = 86_400

RECORDED_LATE_AFTER_SECONDS = 30 * SECONDS_PER_DAY
"""A delivery is *recorded late* when ``recorded_at - delivered_at`` is more than this
(2,592,000 s = 30 days, exclusive): a record made more than a month after the fact is not a
contemporaneous record; one month is one monthly reporting cycle of a municipality
(docs/LEDGER.md "Two clocks"). The replay has the same threshold in its own code."""

VERDICTS: tuple[tuple[str, str, str], ...] = (
    ("status", "met_at", "due_date"),
    ("status_on_record", "met_on_record_at", "due_date"),
    ("status_original_terms", "met_at_original_terms", "original_due_date"),
    ("status_on_record_original_terms", "met_on_record_at_original_terms", "original_due_date"),
)
"""The four statuses of a commitment: (status field, its ``met_at`` column, its due date
column), as in docs/LEDGER.md; the column names are those of ``ledger.db.models.Commitment``
and of the API."""


# ---------------------------------------------------------------------------- the mapping


def status_of(withdrawn: bool, delivered: int, met_at: int | None, due_date: int, now: int) -> str:
    """The status of a commitment at ``now`` (the one mapping; see module docstring).

    Args:
        withdrawn: whether the commitment was withdrawn.
        delivered: sum of its non-revoked deliveries, in its unit (>= 0).
        met_at: when the target was met on the chosen clock, Unix seconds; ``None`` while not met.
        due_date: the due date of the chosen terms, Unix seconds.
        now: evaluation time, Unix seconds.

    Returns:
        One of :data:`STATUSES`.
    """
    if withdrawn:
        return "withdrawn"
    if met_at is not None:
        return "delivered" if met_at <= due_date else "delivered_late"
    if now > due_date:
        return "overdue"
    if delivered > 0:
        return "in_progress"
    return "pending"


def stable_until(due_dates: Iterable[int], now: int) -> int | None:
    """The first Unix second after ``now`` at which a status evaluated at ``now`` against one
    of ``due_dates`` may be different without a new event, or ``None`` when none can: by
    :func:`status_of`, time only turns a status at ``due_date + 1`` (``now > due_date``), so
    this is ``min(d + 1 for d in due_dates if d >= now)``. Answers (API, site) computed at
    ``now`` stay exact up to the second before it (``api.caching``).
    """
    ahead = [int(d) for d in due_dates if int(d) >= now]
    return min(ahead) + 1 if ahead else None


def stable_since(due_dates: Iterable[int], now: int, earliest: int) -> int:
    """A Unix second at or before ``now`` from which up to ``now`` (inclusive) every status
    evaluated against ``due_dates`` is the one evaluated at ``now`` (the counterpart of
    :func:`stable_until`), the same for every ``now`` of that window: the second after the
    latest due date before ``now``, or ``earliest`` (a time at or before ``now``, such as the
    commitment's ``promised_at``) when that is later; never after ``now``. For every ``t``
    from it to ``now``, ``t > d`` exactly when ``now > d``, for each ``d`` of ``due_dates``.
    The site's chain check evaluates the chain at this second, so a page stays one
    representation (one ``ETag``) while no status can have turned.
    """
    passed = [int(d) + 1 for d in due_dates if int(d) < now]
    return min(max(passed + [int(earliest)]), now)


SETTLED_STATUSES = ("withdrawn", "delivered", "delivered_late")
"""The statuses that no longer change with time; the others (``pending``, ``in_progress``,
``overdue``) are *open* and follow from the due date, the delivered quantity and ``now``."""

SETTLED_COLUMNS: dict[str, str] = {
    "status": "status_settled",
    "status_on_record": "status_on_record_settled",
    "status_original_terms": "status_original_terms_settled",
    "status_on_record_original_terms": "status_on_record_original_terms_settled",
    "status_confirmed": "status_confirmed_settled",
}
"""Status field → the ``ledger.db.models.Commitment`` column holding its settled part
(:func:`settled_status`), kept by the projection (schema 6)."""


def settled_status(withdrawn: bool, met_at: int | None, due_date: int) -> str | None:
    """The settled part of :func:`status_of`: the status when it no longer depends on
    ``now``, else ``None`` (open). For every ``now`` and ``delivered``,
    ``status_of(...) == settled_status(...)`` whenever the latter is not ``None``.

    Args:
        withdrawn: whether the commitment was withdrawn.
        met_at: when the target was met on the chosen clock, Unix seconds; ``None`` while not met.
        due_date: the due date of the chosen terms, Unix seconds.

    Returns:
        One of :data:`SETTLED_STATUSES`, or ``None``.
    """
    if withdrawn:
        return "withdrawn"
    if met_at is not None:
        return "delivered" if met_at <= due_date else "delivered_late"
    return None


def status_sql(
    now: int,
    table: Any = None,
    *,
    met_at: str = "met_at",
    due_date: str = "due_date",
    settled: str = "status_settled",
) -> ColumnElement[str]:
    """The mapping as a SQL ``CASE`` expression at ``now`` (bound as a parameter), for
    output columns and ``GROUP BY``; filters use :func:`status_in_sql` (same answer, through
    indexes).

    It reads the stored settled part (:func:`settled_status`, kept by the projection in the
    column ``settled``: ``withdrawn``, ``delivered``, ``delivered_late`` or NULL), then, for
    an open commitment, the due date against ``now`` (``overdue`` when ``now > due_date``),
    then the delivered quantity (``in_progress`` when not 0, else ``pending``). It agrees
    with :func:`status_of` on every row whose settled column is ``settled_status(withdrawn,
    met_at, due_date)`` (tests/db/test_lists_status_sql.py).

    Args:
        now: evaluation time, Unix seconds.
        table: table, ORM entity or alias with the columns ``delivered_quantity`` and the
            named ones; :class:`ledger.db.models.Commitment` by default.
        met_at: name of the ``met_at`` column of the clock and terms (see :data:`VERDICTS`);
            kept for callers, the settled column already says whether and when it was met.
        due_date: name of the due date column of the terms.
        settled: name of the settled column of the clock and terms (:data:`SETTLED_COLUMNS`).

    Returns:
        A string-valued SQL expression whose values are :data:`STATUSES`.
    """
    cols = _columns(table)
    stored = getattr(cols, settled)
    due = getattr(cols, due_date)
    return case(
        (stored.is_not(None), stored),
        (due < literal(int(now), BigInteger), literal("overdue")),
        (cols.delivered_quantity != 0, literal("in_progress")),  # a DecimalInteger: only == 0 works in SQL
        else_=literal("pending"),
    )


def _columns(table: Any) -> Any:
    if table is None:
        from ledger.db.models import Commitment

        table = Commitment
    return getattr(table, "c", table)


def verdict_sql(status_field: str, now: int, table: Any = None) -> ColumnElement[str]:
    """:func:`status_sql` for one field of :data:`VERDICTS` (e.g. ``"status_on_record"``).

    Raises:
        KeyError: not a status field of :data:`VERDICTS`.
    """
    _, met_at, due_date = _VERDICT_BY_FIELD[status_field]
    return status_sql(now, table, met_at=met_at, due_date=due_date, settled=SETTLED_COLUMNS[status_field])


_VERDICT_BY_FIELD = {v[0]: v for v in VERDICTS}


def status_in_sql(status_field: str, statuses: Iterable[str], now: int, table: Any = None) -> ColumnElement[bool]:
    """``<status_field> IN (statuses)`` at ``now`` as a sargable SQL condition (no ``CASE``:
    each branch can use an index on (settled column, due date)), equal to
    ``verdict_sql(status_field, now).in_(statuses)`` on every row:

    - a settled status ``s``: ``settled = s`` (all settled ones wanted: ``settled IN (...)``);
    - ``overdue``: ``settled IS NULL AND due_date < now``;
    - ``in_progress`` / ``pending``: ``settled IS NULL AND due_date >= now AND
      delivered_quantity <> 0`` / ``= 0`` (both: the quantity is not looked at).

    Args:
        status_field: a field of :data:`VERDICTS`.
        statuses: some of :data:`STATUSES` (repeats ignored); none wanted gives a condition
            that is false on every row.
        now: evaluation time, Unix seconds.
        table: as for :func:`status_sql`.

    Raises:
        KeyError: not a status field of :data:`VERDICTS`.
        ValueError: a status not in :data:`STATUSES`.
    """
    _, _, due_date = _VERDICT_BY_FIELD[status_field]
    wanted = set(statuses)
    unknown = sorted(wanted - set(STATUSES))
    if unknown:
        raise ValueError(f"Unknown status {unknown[0]!r}; expected one of {', '.join(STATUSES)}.")
    cols = _columns(table)
    stored = getattr(cols, SETTLED_COLUMNS[status_field])
    due = getattr(cols, due_date)
    at = literal(int(now), BigInteger)
    branches: list[ColumnElement[bool]] = []
    settled = [s for s in SETTLED_STATUSES if s in wanted]
    if settled:
        branches.append(stored == settled[0] if len(settled) == 1 else stored.in_(settled))
    if "overdue" in wanted:
        branches.append(and_(stored.is_(None), due < at))
    not_yet_due = {"in_progress", "pending"} & wanted
    if not_yet_due == {"in_progress", "pending"}:
        branches.append(and_(stored.is_(None), due >= at))
    elif not_yet_due == {"in_progress"}:
        branches.append(and_(stored.is_(None), due >= at, cols.delivered_quantity != 0))
    elif not_yet_due == {"pending"}:
        branches.append(and_(stored.is_(None), due >= at, cols.delivered_quantity == 0))
    if not branches:
        return false()
    return branches[0] if len(branches) == 1 else or_(*branches)


def due_date_column(status_field: str) -> str:
    """The name of the due date column of a field of :data:`VERDICTS` (``due_date`` or
    ``original_due_date``).

    Raises:
        KeyError: not a status field of :data:`VERDICTS`.
    """
    return _VERDICT_BY_FIELD[status_field][2]


def next_status_change_sql(status_field: str, now: int, table: Any = None) -> ColumnElement[bool]:
    """The rows whose ``status_field`` changes with time after ``now`` without a new event:
    open (settled column NULL) and not yet due (``due_date >= now``): at ``due_date + 1``
    they become ``overdue``. ``MIN(due_date)`` over them is the last second (inclusive) up
    to which every status of the matching rows stays what it is at ``now``.

    Raises:
        KeyError: not a status field of :data:`VERDICTS`.
    """
    _, _, due_date = _VERDICT_BY_FIELD[status_field]
    cols = _columns(table)
    return and_(getattr(cols, SETTLED_COLUMNS[status_field]).is_(None), getattr(cols, due_date) >= literal(int(now), BigInteger))


def verdicts(row: Any, now: int) -> dict[str, str]:
    """The four statuses of a commitment row at ``now``: ``{status field: status}`` for each
    of :data:`VERDICTS`, all from :func:`status_of`.

    Args:
        row: anything with the attributes ``withdrawn``, ``delivered_quantity`` and the
            ``met_at`` / due date columns of :data:`VERDICTS` (a ``Commitment`` row).
        now: evaluation time, Unix seconds.
    """
    return {
        field: status_of(row.withdrawn, row.delivered_quantity, getattr(row, met), getattr(row, due), now)
        for field, met, due in VERDICTS
    }


def met_only_under_relaxed_terms(status: str, status_original_terms: str) -> bool:
    """Whether the claimed-clock verdict is better under the current terms than under the
    original ones (docs/LEDGER.md): ``status`` is ``delivered`` and the original-terms status
    is not, or ``status`` is ``delivered_late`` and the original-terms status is neither
    ``delivered`` nor ``delivered_late``."""
    if status == "delivered":
        return status_original_terms != "delivered"
    if status == "delivered_late":
        return status_original_terms not in ("delivered", "delivered_late")
    return False


def met_only_under_relaxed_terms_sql(now: int, table: Any = None) -> ColumnElement[bool]:
    """:func:`met_only_under_relaxed_terms` as a SQL boolean expression at ``now`` (never
    NULL, so its negation is exact). Both verdicts it compares are settled ones
    (``delivered``, ``delivered_late``) or not, so it reads only the stored settled columns
    and is the same at every ``now`` (the argument is kept for callers)."""
    cols = _columns(table)
    current = func.coalesce(getattr(cols, SETTLED_COLUMNS["status"]), literal(""))
    original = func.coalesce(getattr(cols, SETTLED_COLUMNS["status_original_terms"]), literal(""))
    return or_(
        and_(current == literal("delivered"), original != literal("delivered")),
        and_(current == literal("delivered_late"), original.not_in(["delivered", "delivered_late"])),
    )


def progress_bps(delivered: int, target: int) -> int:
    """``floor(delivered * 10000 / target)``: progress in basis points (may exceed 10000).

    Raises:
        ZeroDivisionError: ``target`` is 0 (the contract never allows it).
    """
    return delivered * 10_000 // target


# ---------------------------------------------------------------------------- the two clocks


def claimed_met_at(deliveries: Iterable[tuple[int, int]], target: int) -> int | None:
    """The claimed ``met_at`` (prefix rule): the earliest claimed date t such that the
    deliveries claimed on or before t sum to at least ``target``; ``None`` if they never do.

    Args:
        deliveries: ``(delivered_at, quantity)`` of the non-revoked deliveries (a revoked
            delivery never happened), in any order; Unix seconds, the commitment's unit.
        target: the target of the terms (current or original), >= 1.
    """
    running = 0
    for delivered_at, quantity in sorted(deliveries):
        running += quantity
        if running >= target:
            return delivered_at
    return None


def claimed_met_at_known(met_at: int | None, total: int, target: int, delivered_at: int, *, added: bool) -> tuple[bool, int | None]:
    """:func:`claimed_met_at` after one claim was added to (``added``) or removed from the
    claims, when it follows from what it was without a recount (the projection's
    incremental step, ``ledger.db.projection``): not met while the claims sum below the
    target; unchanged by a claim dated on or after ``met_at`` (added) or after it (removed),
    as the prefix up to ``met_at`` is then the same or still reaches the target.

    Args:
        met_at: :func:`claimed_met_at` before the change, Unix seconds or ``None``.
        total: the claims' sum after the change.
        target: the target of the terms, >= 1.
        delivered_at: the claimed date of the claim added or removed, Unix seconds.
        added: whether it was added (else removed).

    Returns:
        ``(True, met_at after)`` when it follows, else ``(False, None)``: recount with
        :func:`claimed_met_at`.
    """
    if total < target:
        return True, None
    if met_at is not None and (delivered_at >= met_at if added else delivered_at > met_at):
        return True, met_at
    return False, None


@dataclass(frozen=True)
class OnRecord:
    """The on-record running state of one set of terms: the delivered total of non-revoked
    deliveries and ``met_at`` (the block time the target was met on record, ``None`` while
    not met). Its transitions are the contract's (docs/LEDGER.md "Status rules"), applied in
    (block, log index) order; every one keeps ``met_at is not None`` exactly when
    ``total >= target``."""

    total: int = 0
    met_at: int | None = None

    def delivered(self, quantity: int, target: int, recorded_at: int) -> "OnRecord":
        """After a delivery of ``quantity`` recorded at ``recorded_at`` (block time)."""
        total = self.total + quantity
        met_at = self.met_at if self.met_at is not None or total < target else recorded_at
        return OnRecord(total, met_at)

    def revoked(self, quantity: int, target: int) -> "OnRecord":
        """After the revocation of a delivery of ``quantity``."""
        total = self.total - quantity
        return OnRecord(total, None if total < target else self.met_at)

    def retargeted(self, previous_target: int, target: int, amended_at: int) -> "OnRecord":
        """After an amendment that sets the target from ``previous_target`` to ``target`` at
        ``amended_at`` (block time): not met below it; met from the amendment if it was not
        met or the target was raised; else (lowered, already met) kept."""
        if self.total < target:
            return OnRecord(self.total, None)
        if self.met_at is None or target > previous_target:
            return OnRecord(self.total, amended_at)
        return self


# ---------------------------------------------------------------------------- record facts


def recording_lag_seconds(delivered_at: int, recorded_at: int) -> int:
    """``recorded_at - delivered_at``, seconds (>= 0: the contract refuses future claims)."""
    return recorded_at - delivered_at


def recording_lag_days(lag_seconds: int) -> int:
    """Whole days of a lag: ``floor(lag_seconds / 86400)``."""
    return lag_seconds // SECONDS_PER_DAY


def recorded_late(lag_seconds: int) -> bool:
    """Whether a delivery with this recording lag is *recorded late*
    (lag > :data:`RECORDED_LATE_AFTER_SECONDS`)."""
    return lag_seconds > RECORDED_LATE_AFTER_SECONDS


def historical_record(registered_at: int, original_due_date: int) -> bool:
    """Whether a commitment registered at ``registered_at`` (block time) is a historical
    record: registered after its original due date had passed."""
    return registered_at > original_due_date


@dataclass(frozen=True)
class AmendmentFlags:
    """What docs/LEDGER.md "Terms" reports of one amendment: ``after_due_date`` (made after
    the due date then in force had passed), ``lowered_target``, ``extended_due_date``."""

    after_due_date: bool
    lowered_target: bool
    extended_due_date: bool


def amendment_flags(
    amended_at: int, previous_target: int, target: int, previous_due_date: int, due_date: int
) -> AmendmentFlags:
    """The flags of an amendment made at ``amended_at`` (block time, Unix seconds) that set
    the target from ``previous_target`` to ``target`` and the due date from
    ``previous_due_date`` to ``due_date`` (equal when not named)."""
    return AmendmentFlags(
        after_due_date=amended_at > previous_due_date,
        lowered_target=target < previous_target,
        extended_due_date=due_date > previous_due_date,
    )


def registration_lag_days(registered_at: int, promised_at: int) -> int:
    """Whole days between the promise (claimed) and its registration (block time):
    ``floor((registered_at - promised_at) / 86400)``, >= 0."""
    return (registered_at - promised_at) // SECONDS_PER_DAY


# ---------------------------------------------------------------------------- 2.1.0: batches and assets

UNVERIFIED_REASONS = ("missing", "sha256_mismatch", "unparseable", "root_mismatch", "leaf_count_mismatch")
"""Why an anchored batch is not verified (docs/LEDGER.md "Batches"); such a batch counts
nothing. Only ``missing`` can change later (the file arrives)."""

REFUSED_REASONS = (
    "unknown_commitment",
    "other_municipality",
    "commitment_withdrawn",
    "invalid_leaf",
    "duplicate_external_ref",
    "asset_already_counted",
)
"""Why a leaf of a verified batch counts nothing, in the order they are checked (the first
that applies is reported; docs/LEDGER.md "Batches")."""

REVIEWS = ("unconfirmed", "confirmed", "disputed")
"""A delivery's review state (docs/LEDGER.md "Confirmations")."""


def leaf_is_valid(problems: Iterable[Any], delivered_at: int, anchored_at: int) -> bool:
    """Whether a leaf passes the checks ``recordDelivery`` makes (else it is refused
    ``invalid_leaf``, docs/LEDGER.md "Batches"): none of the limits that need no chain is
    broken (``problems``: ``ledger.merkle.leaf_problems`` of the leaf: quantity
    1..``MAX_QUANTITY``, ``delivered_at`` not 0, 1..``MAX_EVIDENCE`` evidence hashes, none zero,
    no repeats, every text within its byte limit), and ``delivered_at`` is not after the
    anchor's block time.

    Args:
        problems: the limits the leaf breaks (empty when none).
        delivered_at: its claimed delivery time, Unix seconds.
        anchored_at: the batch's anchor block time, Unix seconds.
    """
    return not list(problems) and 1 <= delivered_at <= anchored_at


def leaf_refusal(
    *,
    registered_before_anchor: bool,
    same_municipality: bool,
    withdrawn_before_anchor: bool,
    valid: bool,
) -> str | None:
    """The refusal reasons of a leaf that depend on no running state, in the order of
    :data:`REFUSED_REASONS` (the first that applies), or ``None``; ``duplicate_external_ref``
    and ``asset_already_counted`` are decided by :func:`count_deliveries`.

    Args:
        registered_before_anchor: its commitment was registered before the anchor's
            (block, log index).
        same_municipality: the commitment is of the batch's municipality.
        withdrawn_before_anchor: the commitment was withdrawn before the anchor.
        valid: :func:`leaf_is_valid`.
    """
    if not registered_before_anchor:
        return "unknown_commitment"
    if not same_municipality:
        return "other_municipality"
    if withdrawn_before_anchor:
        return "commitment_withdrawn"
    if not valid:
        return "invalid_leaf"
    return None


Position = tuple[int, int, int]
"""Where a fact sits in the log: (block number, log index, leaf index); the leaf index is 0
for anything but a leaf, whose (block, log index) is its batch's anchor."""


@dataclass(frozen=True)
class DeliveryFact:
    """A recorded delivery or a leaf of a verified batch, as a commitment's running state
    takes it (docs/LEDGER.md "Batches", "Assets").

    Attributes:
        key: identifies it in :class:`DeliveryCount` (any hashable).
        position: its :data:`Position` (leaves: the anchor's, plus their index in the file).
        quantity: in the commitment's unit.
        delivered_at: claimed, Unix seconds.
        recorded_at: block time of the record (a leaf: ``anchoredAt``), Unix seconds.
        external_ref: its external ref (``""`` when none).
        asset_key: its normalised asset ref (``""`` when none).
        batched: a leaf (refused ``asset_already_counted`` / ``duplicate_external_ref``) or a
            recorded delivery (``double_counted``; never refused for its external ref: the
            contract checks recorded refs).
        refused_reason: for a leaf, :func:`leaf_refusal`; ``None`` otherwise.
        revoked_at_position: where it was revoked, or ``None``.
    """

    key: Any
    position: Position
    quantity: int
    delivered_at: int
    recorded_at: int
    external_ref: str = ""
    asset_key: str = ""
    batched: bool = False
    refused_reason: str | None = None
    revoked_at_position: Position | None = None


@dataclass(frozen=True)
class TargetChange:
    """An amendment that named the target: at ``position``, from ``previous_target`` to
    ``target``, block time ``amended_at`` (Unix seconds)."""

    position: Position
    previous_target: int
    target: int
    amended_at: int


@dataclass(frozen=True)
class DeliveryCount:
    """What :func:`count_deliveries` decides.

    Attributes:
        refused: key → ``None`` when it counts, else why not: a leaf's refusal reason, or
            ``"asset_already_counted"`` for a recorded delivery (reported ``double_counted``).
        current: the on-record state under the current terms (total and ``met_at``).
        original: the on-record state under the original terms (amendments ignored).
        counting: the facts that count now: not refused, not revoked.
    """

    refused: dict[Any, str | None]
    current: OnRecord
    original: OnRecord
    counting: tuple[DeliveryFact, ...]


class DeliveryCounter:
    """The running state of :func:`count_deliveries`, one step at a time (docs/LEDGER.md
    "Status rules", "Batches", "Assets"): the one rule for the full recount and for the
    projection's incremental step (``ledger.db.projection``), which builds it from what it
    stores of a commitment and applies the facts appended after all earlier ones.

    Attributes:
        original_target: the target as registered (>= 1).
        target: the current target (after the target changes stepped so far).
        current: the on-record state under the current terms.
        original: the on-record state under the original terms.
        assets: asset key → key of the counted, not revoked delivery naming it (any mapping;
            the incremental step passes the keys it looked up).
        refs: the external refs already taken (any recorded delivery, or a counted leaf;
            revoked ones included).
    """

    def __init__(
        self,
        original_target: int,
        target: int | None = None,
        current: OnRecord | None = None,
        original: OnRecord | None = None,
        assets: dict[str, Any] | None = None,
        refs: set[str] | None = None,
    ) -> None:
        self.original_target = original_target
        self.target = original_target if target is None else target
        self.current = current if current is not None else OnRecord()
        self.original = original if original is not None else OnRecord()
        self.assets: dict[str, Any] = {} if assets is None else assets
        self.refs: set[str] = set() if refs is None else refs

    def target_changed(self, change: TargetChange) -> None:
        """An amendment naming the target (:meth:`OnRecord.retargeted` on the current terms)."""
        self.current = self.current.retargeted(change.previous_target, change.target, change.amended_at)
        self.target = change.target

    def recorded(self, fact: DeliveryFact) -> str | None:
        """Decide a delivery or leaf when it is recorded and, when it counts, enter it in both
        terms' running state at its ``recorded_at``.

        Returns:
            ``None`` when it counts, else why not (see :func:`count_deliveries`).
        """
        reason = fact.refused_reason if fact.batched else None
        if reason is None and fact.batched and fact.external_ref and fact.external_ref in self.refs:
            reason = "duplicate_external_ref"
        if reason is None and fact.asset_key and fact.asset_key in self.assets:
            reason = "asset_already_counted"
        if fact.external_ref and (reason is None or not fact.batched):
            self.refs.add(fact.external_ref)
        if reason is None:
            self.current = self.current.delivered(fact.quantity, self.target, fact.recorded_at)
            self.original = self.original.delivered(fact.quantity, self.original_target, fact.recorded_at)
            if fact.asset_key:
                self.assets[fact.asset_key] = fact.key
        return reason

    def revoked(self, fact: DeliveryFact) -> None:
        """Take out a delivery that counted (:meth:`recorded` returned ``None`` for it); its
        asset is free again if it was the one naming it."""
        self.current = self.current.revoked(fact.quantity, self.target)
        self.original = self.original.revoked(fact.quantity, self.original_target)
        if fact.asset_key and self.assets.get(fact.asset_key) == fact.key:
            del self.assets[fact.asset_key]


def count_deliveries(
    original_target: int, target_changes: Iterable[TargetChange], deliveries: Iterable[DeliveryFact]
) -> DeliveryCount:
    """Run a commitment's facts in log order (docs/LEDGER.md "Status rules", "Batches",
    "Assets") through a :class:`DeliveryCounter`: each delivery is decided when it is
    recorded (a leaf at its anchor, leaves in file order) and, if it counts, enters the
    on-record running state of both terms at its ``recorded_at``; a revocation takes a
    counted delivery out again; a target change moves the current terms' state
    (:meth:`OnRecord.retargeted`).

    A leaf is refused with its own ``refused_reason``, else ``duplicate_external_ref`` if its
    non-empty ref is already the ref of a delivery of the commitment (any recorded one, or a
    counted leaf; revoked ones included: the ref stays taken), else ``asset_already_counted``
    if its non-empty asset is named by a counted delivery not revoked by then. A recorded
    delivery whose asset is so named is a double count (refused ``asset_already_counted``).
    Decided when recorded: a later revocation of the first does not make the second count.

    Args:
        original_target: the target as registered (>= 1).
        target_changes: amendments that named the target, any order.
        deliveries: recorded deliveries and leaves of verified batches, any order.
    """
    steps: list[tuple[Position, int, Any]] = []
    for change in target_changes:
        steps.append((change.position, 0, change))
    facts = list(deliveries)
    for fact in facts:
        steps.append((fact.position, 1, fact))
        if fact.revoked_at_position is not None:
            steps.append((fact.revoked_at_position, 2, fact))
    steps.sort(key=lambda step: (step[0], step[1]))

    counter = DeliveryCounter(original_target)
    refused: dict[Any, str | None] = {}
    for _, kind, item in steps:
        if kind == 0:
            counter.target_changed(item)
        elif kind == 1:
            refused[item.key] = counter.recorded(item)
        elif refused.get(item.key, "not yet") is None:  # a revocation of a counted delivery
            counter.revoked(item)
    counting = tuple(f for f in facts if refused.get(f.key) is None and f.revoked_at_position is None)
    return DeliveryCount(refused, counter.current, counter.original, counting)


# ---------------------------------------------------------------------------- 2.1.0: confirmations


def review_of(verdicts: Iterable[str]) -> str:
    """A delivery's review from the latest verdict of each confirmer (``confirmed`` or
    ``disputed``; docs/LEDGER.md "Confirmations"): ``disputed`` if any is a dispute, else
    ``confirmed`` if at least one is a confirmation, else ``unconfirmed``."""
    latest = set(verdicts)
    if "disputed" in latest:
        return "disputed"
    if "confirmed" in latest:
        return "confirmed"
    return "unconfirmed"


# ---------------------------------------------------------------------------- 2.1.0: roll-up

ROLLUP_CAP_BPS = 10_000
"""A commitment without (non-withdrawn) children enters its parent's roll-up with its own
progress capped at 100 % (docs/LEDGER.md "Sub-commitments")."""


def rollup_progress_bps(own_progress_bps: int, children: Iterable[tuple[int, int]]) -> int:
    """A commitment's roll-up progress (docs/LEDGER.md "Sub-commitments", as Decidim
    Accountability): its own ``progress_bps`` capped at :data:`ROLLUP_CAP_BPS` when it has no
    non-withdrawn children, else ⌊Σ wᵢ·rᵢ / Σ wᵢ⌋ over them.

    Args:
        own_progress_bps: the commitment's own ``progress_bps`` (may exceed 10,000).
        children: ``(weight, roll-up progress)`` of each non-withdrawn child (weights
            1..1,000,000; each child's value from this function, so grandchildren count
            through their parent).
    """
    pairs = list(children)
    total_weight = sum(weight for weight, _ in pairs)
    if not pairs or total_weight == 0:
        return min(own_progress_bps, ROLLUP_CAP_BPS)
    return sum(weight * progress for weight, progress in pairs) // total_weight


def delivered_verdict(withdrawn: bool, met_at: int | None) -> bool:
    """Whether a commitment's ``status`` is ``delivered`` or ``delivered_late`` (at any
    evaluation time: both need only ``met_at``), for ``rollup_children_delivered``."""
    return not withdrawn and met_at is not None
