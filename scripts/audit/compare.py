"""Compare the rebuilt ledger with what the API says, field by field.

The rebuilt state is rendered once in wire form (:mod:`scripts.audit.wire`: the field names
of docs/LEDGER.md, quantities as decimal strings, times as Unix seconds with ``_iso`` twins,
``null`` for an absent hash, time or object) and each compared field is looked up in the
API's answer. The comparison is strict: a field the API lacks is a difference (shown as
:data:`MISSING`). Equality is exact JSON equality (a quantity sent as a number instead of a
decimal string is a difference), except that ``0x`` hex strings (hashes, addresses) compare
case-insensitively and registrar lists compare as sets.

Compared: every field of :data:`SUMMARY_FIELDS` in the list pages and of
:data:`DETAIL_FIELDS` in ``GET /api/v1/commitments/{id}``, with the withdrawal, every
delivery (:data:`DELIVERY_FIELDS`, its revocation and each confirmer's latest verdict in
``confirmations`` / ``disputes`` (:data:`VERDICT_FIELDS`, by confirmer); recorded deliveries by
id, batched ones by ``batch_root`` and ``leaf_index``) and every amendment
(:data:`AMENDMENT_FIELDS`, by ``amendment_number``); every municipality of
``GET /api/v1/municipalities`` (:data:`MUNICIPALITY_FIELDS`, ``recovery``, ``admin_changes``,
``registrar_history``, ``confirmer_history``, ``registrars``, ``confirmers``, ``status_counts``,
``status_on_record_counts``); every batch of ``GET /api/v1/batches`` (:data:`BATCH_FIELDS`, by
root) and the leaves of ``GET /api/v1/batches/{root}`` (as deliveries, by ``leaf_index``); and
``chain_id``, ``contract_address``, ``paused``, ``contract_version`` of the health answer.
Not compared, with the reason: :data:`NOT_COMPARED` (``follow_up``: from the server's mapping
files, not from the chain).

A batch the replay could not verify (its file not found or not matching the chain) while the
API counts it is a difference on ``verified``: the auditor cannot confirm what the API counts.
Give the replay the files (``--batch-dir``, or ``--batch-files-from-api`` to check the API's
own copies against the chain).

Statuses depend on time and the API evaluates them at request time, which the auditor cannot
choose. The comparison therefore takes the window ``[fetched_from, fetched_to]`` (Unix
seconds around the API fetch) widened by ``boundary_seconds`` on both sides: a commitment
whose current or original due date falls in that window is a *boundary* case, and each of its
four API statuses is accepted if the commitment has that value at some moment of the window. A
municipality's ``status_counts`` are accepted within the range those boundary commitments allow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from scripts.audit.model import Commitment, LedgerState, Municipality
from scripts.audit.rules import STATUS_FIELDS, STATUSES, evaluate, possible_statuses
from scripts.audit.wire import batch_json, commitment_json

DEFAULT_BOUNDARY_SECONDS = 120
"""A due date this close (seconds) to the comparison window is a boundary case."""

MISSING = "<missing>"
"""Shown for a field or record absent on one side."""

CHAIN_REF_FIELDS: tuple[str, ...] = ("tx_hash", "block_number", "log_index", "block_time")
"""The compared fields of a ``ChainRef``."""


def _timed(*names: str) -> tuple[str, ...]:
    return tuple(part for name in names for part in (name, f"{name}_iso"))


def _ref(prefix: str) -> tuple[str, ...]:
    return tuple(f"{prefix}.{name}" for name in CHAIN_REF_FIELDS)


SUMMARY_FIELDS: tuple[str, ...] = (
    "id",
    "municipality_id",
    "municipality_name",
    "external_ref",
    "title",
    "theme",
    "unit",
    "target_quantity",
    "delivered_quantity",
    "progress_bps",
    "status",
    *_timed("due_date", "met_at"),
    "withdrawn",
    *_ref("registered"),
    # new in v2 (docs/LEDGER.md "Fields")
    *_timed("promised_at"),
    "original_target_quantity",
    *_timed("original_due_date"),
    "historical_record",
    "registration_lag_days",
    "status_on_record",
    *_timed("met_on_record_at"),
    "status_original_terms",
    *_timed("met_at_original_terms"),
    "status_on_record_original_terms",
    *_timed("met_on_record_at_original_terms"),
    "progress_bps_original_terms",
    "met_only_under_relaxed_terms",
    "amendment_count",
    "amended_after_due_date",
    "target_lowered",
    "recorded_late_count",
    "registrar",
    "signer_held_role",
    # new in 2.1.0 (docs/LEDGER.md "New in 2.1.0")
    "parent_id",
    "weight",
    "children",
    "rollup_progress_bps",
    "rollup_children_delivered",
    "rollup_children_counted",
    "confirmed_quantity",
    "unconfirmed_quantity",
    "disputed_quantity",
    "status_confirmed",
    *_timed("met_at_confirmed"),
    "progress_bps_confirmed",
    "batched_delivery_count",
)
"""Fields of a commitment in the list pages (summary), dotted for nesting."""

DETAIL_FIELDS: tuple[str, ...] = SUMMARY_FIELDS + ("description", "source_document_sha256", "source_uri")
"""Fields of ``CommitmentDetail`` (plus ``withdrawal``, ``deliveries`` and ``amendments``)."""

NOT_COMPARED: dict[str, str] = {
    "follow_up": (
        "not on chain: whether a commitment's sources record follow-up is their mappings' claim (source.follow_up), "
        "read by the server from its own mapping files, which the chain does not hold; the statuses it annotates "
        "and the source_uri that names the source id are compared"
    ),
}
"""Fields of ``CommitmentSummary`` / ``CommitmentDetail`` deliberately left out of
:data:`SUMMARY_FIELDS` and :data:`DETAIL_FIELDS`, each with the reason."""

ACTION_FIELDS: tuple[str, ...] = ("reason", "registrar", "signer_held_role", *_ref("chain"))
"""Fields of a withdrawal or a revocation."""

DELIVERY_FIELDS: tuple[str, ...] = (
    "kind",
    "id",
    "commitment_id",
    "delivery_number",
    "quantity",
    *_timed("delivered_at", "recorded_at"),
    "recording_lag_seconds",
    "recording_lag_days",
    "recorded_late",
    "evidence",
    "evidence_uri",
    "note",
    "external_ref",
    "registrar",
    "signer_held_role",
    *_ref("recorded"),
    # new in 2.1.0
    "asset_ref",
    "double_counted",
    "review",
    "batch_root",
    "leaf_hash",
    "leaf_index",
    "counted",
    "refused_reason",
)
"""Fields of a delivery, recorded or batched (``evidence``: the SHA-256 hashes in order), plus
``revocation``, ``confirmations`` and ``disputes``."""

VERDICT_FIELDS: tuple[str, ...] = ("confirmer", *_timed("at"), "signer_held_role", *_ref("chain"))
"""Fields of each entry of ``confirmations`` (plus ``evidence_hash``) and ``disputes`` (plus
``reason``)."""

BATCH_FIELDS: tuple[str, ...] = (
    "municipality_id",
    "municipality_name",
    "registrar",
    "signer_held_role",
    "leaf_count",
    "file_sha256",
    "file_uri",
    *_timed("anchored_at"),
    "verified",
    "unverified_reason",
    "counted_leaves",
    "refused_leaves",
    "revoked_leaves",
    *_ref("chain"),
)
"""Fields of a batch (docs/LEDGER.md "New in 2.1.0", Batch), compared in the list pages."""

AMENDMENT_FIELDS: tuple[str, ...] = (
    "fields",
    "title",
    "description",
    "previous_target_quantity",
    "target_quantity",
    *_timed("previous_due_date", "due_date"),
    "reason",
    "registrar",
    *_timed("amended_at"),
    "after_due_date",
    "lowered_target",
    "extended_due_date",
    "signer_held_role",
    *_ref("chain"),
)
"""Fields of an amendment (docs/LEDGER.md "Amendment")."""

MUNICIPALITY_FIELDS: tuple[str, ...] = ("name", "code", "admin", "pending_admin", "commitment_count", *_ref("registered"))
"""Plain fields of a municipality (plus ``recovery``, ``admin_changes``, ``registrars``, ``status_counts``)."""

RECOVERY_FIELDS: tuple[str, ...] = ("proposed_admin", *_timed("executable_at"), "started_by", *_ref("started"))
"""Fields of a municipality's pending ``recovery``."""

ADMIN_CHANGE_FIELDS: tuple[str, ...] = ("previous_admin", "new_admin", "recovered", *_ref("chain"))
"""Fields of each ``admin_changes`` entry."""

REGISTRAR_INTERVAL_FIELDS: tuple[str, ...] = ("account", "added_by", *_ref("added"), "removed_by")
"""Fields of each ``registrar_history`` entry, plus ``removed`` (``null`` while the role is held)."""


@dataclass(frozen=True)
class Difference:
    """One field on which chain and API disagree.

    Attributes:
        subject: ``"commitment"``, ``"municipality"``, ``"batch"`` or ``"ledger"`` (health:
            chain id, contract).
        id: the commitment's or municipality's id, the batch's root (``None`` for ``"ledger"``).
        field: dotted field name, e.g. ``"status"``, ``"registered.tx_hash"``,
            ``"deliveries[7].quantity"``, ``"presence"`` (record on one side only).
        chain: the value rebuilt from the chain, in wire form (:data:`MISSING` if absent).
        api: the API's value (:data:`MISSING` if absent).
        where: which answer it came from: ``"detail"``, ``"list"``, ``"municipalities"``,
            ``"batches"``, ``"batch"``, ``"health"``.
    """

    subject: str
    id: int | str | None
    field: str
    chain: Any
    api: Any
    where: str = "detail"

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "id": self.id,
            "field": self.field,
            "chain": self.chain,
            "api": self.api,
            "where": self.where,
        }


@dataclass(frozen=True)
class Boundary:
    """A commitment whose current or original due date is within the comparison window: its
    statuses may flip between the two reads, so a status is not counted as a difference when
    the API's value is one the commitment has somewhere in the window.

    Attributes:
        due_date, original_due_date: Unix seconds.
        chain_statuses: each of the four status fields at ``compared_from``.
        possible: each status field → every value in the widened window (enum order).
        api_statuses: each status field as the API's detail answer gives it (:data:`MISSING` if absent).
    """

    commitment_id: int
    due_date: int
    original_due_date: int
    chain_statuses: dict[str, str]
    possible: dict[str, tuple[str, ...]]
    api_statuses: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "commitment_id": self.commitment_id,
            "due_date": self.due_date,
            "original_due_date": self.original_due_date,
            "chain_statuses": dict(self.chain_statuses),
            "possible_statuses": {k: list(v) for k, v in self.possible.items()},
            "api_statuses": dict(self.api_statuses),
        }


@dataclass
class Comparison:
    """Result of :func:`compare_with_api`.

    Attributes:
        differences: every disagreement, in commitment/municipality id order.
        boundary: commitments with a due date inside the widened window.
        compared_from, compared_to: the window (Unix seconds) the API's statuses are from.
        boundary_seconds: how far the window was widened on each side.
        notes: remarks for people (API lag, deploy block, ...).
    """

    differences: list[Difference]
    boundary: list[Boundary]
    compared_from: int
    compared_to: int
    boundary_seconds: int
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No differences (boundary cases do not count)."""
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "difference_count": len(self.differences),
            "differences": [d.to_json() for d in self.differences],
            "boundary": [b.to_json() for b in self.boundary],
            "compared_from": self.compared_from,
            "compared_to": self.compared_to,
            "boundary_seconds": self.boundary_seconds,
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------- helpers


def _lookup(payload: Any, dotted: str) -> Any:
    value = payload
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return MISSING
        value = value[part]
    return value


def same(chain_value: Any, api_value: Any) -> bool:
    """Whether two wire values are equal: exact JSON equality (types included, so ``"5"`` is
    not ``5`` and ``True`` is not ``1``), except that ``0x`` strings compare case-insensitively."""
    if isinstance(chain_value, str) and isinstance(api_value, str):
        if chain_value.startswith("0x") and api_value.startswith("0x"):
            return chain_value.lower() == api_value.lower()
        return chain_value == api_value
    if isinstance(chain_value, list) and isinstance(api_value, list):
        return len(chain_value) == len(api_value) and all(same(a, b) for a, b in zip(chain_value, api_value))
    return type(chain_value) is type(api_value) and chain_value == api_value


def _keyed(rows: Any, key: str) -> dict[int, Mapping[str, Any]]:
    """Rows (a list, or a dict of rows) by their integer ``key``; rows without one are skipped."""
    if not isinstance(rows, (list, tuple, Mapping)):
        return {}
    items = rows.values() if isinstance(rows, Mapping) else rows
    result: dict[int, Mapping[str, Any]] = {}
    for row in items:
        try:
            result[int(row[key])] = row
        except (KeyError, TypeError, ValueError):
            continue
    return result


class _Collector:
    """Collects differences."""

    def __init__(self) -> None:
        self.differences: list[Difference] = []

    def field(self, subject: str, ident: Any, name: str, chain: Any, api: Any, where: str) -> None:
        if not same(chain, api):
            self.differences.append(Difference(subject, ident, name, chain, api, where))

    def fields(
        self, subject: str, ident: Any, prefix: str, names: Iterable[str], chain: Any, api: Any, where: str
    ) -> None:
        """Compare each dotted field of ``names`` in ``chain`` (wire form) and ``api``; each
        difference is named ``prefix`` + field."""
        for name in names:
            self.field(subject, ident, prefix + name, _lookup(chain, name), _lookup(api, name), where)

    def optional(
        self, subject: str, ident: Any, prefix: str, name: str, names: Iterable[str], chain: Any, api: Any,
        where: str,
    ) -> None:
        """Compare the nullable object ``name``: both ``null`` agree; one side ``null`` (or
        missing) is one difference for the whole object; else field by field."""
        chain_obj, api_obj = _lookup(chain, name), _lookup(api, name)
        if chain_obj is None or not isinstance(api_obj, Mapping):
            self.field(subject, ident, prefix + name, chain_obj, api_obj, where)
            return
        self.fields(subject, ident, f"{prefix}{name}.", names, chain_obj, api_obj, where)


# ---------------------------------------------------------------------- commitments


def _api_delivery(api_delivery: Any) -> Any:
    """The API's delivery with ``evidence`` reduced to its list of hashes (docs/API.md gives
    ``[{"sha256", "stored", "url"}]``)."""
    if not isinstance(api_delivery, Mapping):
        return api_delivery
    evidence = api_delivery.get("evidence", MISSING)
    if isinstance(evidence, list):
        evidence = [e.get("sha256", MISSING) if isinstance(e, Mapping) else e for e in evidence]
    return {**api_delivery, "evidence": evidence}


RowKey = Any
"""A row's key in a compared list: an ``int`` (ids, numbers) or a ``str``."""


def delivery_key(row: Any) -> RowKey:
    """A delivery row's key: a recorded delivery's id (``int``), a batched one's
    ``"<batch_root>#<leaf_index>"`` (one leaf may sit in two batches or twice in one file);
    ``None`` for a row without either."""
    if not isinstance(row, Mapping):
        return None
    if row.get("kind") == "batched" or isinstance(row.get("leaf_index"), int):
        root = row.get("batch_root")
        return f"{root.lower()}#{row.get('leaf_index')}" if isinstance(root, str) else None
    try:
        return int(row["id"])
    except (KeyError, TypeError, ValueError):
        return None


def _number_key(key: str) -> Any:
    """The key function of rows keyed on the integer field ``key``."""

    def of(row: Any) -> RowKey:
        try:
            return int(row[key])
        except (KeyError, TypeError, ValueError):
            return None

    return of


def _sort_key(key: RowKey) -> tuple[int, Any]:
    return (0, key) if isinstance(key, int) else (1, str(key))


def _compare_rows(
    out: _Collector,
    subject: str,
    ident: Any,
    name: str,
    key_of: Any,
    names: Sequence[str],
    chain_rows: list[dict[str, Any]],
    api_rows: Any,
    where: str,
    nested: Sequence[tuple[str, Sequence[str]]] = (),
) -> None:
    """Compare the list ``name`` (deliveries, amendments, leaves) of an answer row by row,
    keyed by ``key_of(row)``; a row on one side only is a ``presence`` difference; ``nested``
    names nullable objects of each row (a delivery's ``revocation``) and their fields; a row
    with ``confirmations`` / ``disputes`` has them compared by confirmer."""
    if not isinstance(api_rows, list):
        out.field(subject, ident, name, f"{len(chain_rows)} {name}", api_rows, where)
        return
    chain_by_key = {key_of(row): row for row in chain_rows}
    api_by_key = {k: row for row in api_rows if (k := key_of(row)) is not None}
    for key in sorted(chain_by_key.keys() | api_by_key.keys(), key=_sort_key):
        prefix = f"{name}[{key}]."
        chain_row, api_row = chain_by_key.get(key), api_by_key.get(key)
        if chain_row is None or api_row is None:
            out.field(
                subject, ident, f"{prefix}presence", "present" if chain_row else MISSING,
                "present" if api_row else MISSING, where,
            )
            continue
        out.fields(subject, ident, prefix, names, chain_row, api_row, where)
        for object_name, object_fields in nested:
            out.optional(subject, ident, prefix, object_name, object_fields, chain_row, api_row, where)
        if "confirmations" in chain_row:
            _compare_verdicts(out, subject, ident, prefix, chain_row, api_row, where)


def _confirmer_key(row: Any) -> RowKey:
    confirmer = row.get("confirmer") if isinstance(row, Mapping) else None
    return confirmer.lower() if isinstance(confirmer, str) else None


def _compare_verdicts(
    out: _Collector, subject: str, ident: Any, prefix: str, chain_row: Mapping[str, Any], api_row: Any, where: str
) -> None:
    """A delivery's ``confirmations`` and ``disputes`` (each confirmer's latest verdict), by
    confirmer, and their order (oldest first)."""
    for name, extra in (("confirmations", "evidence_hash"), ("disputes", "reason")):
        mine, theirs = chain_row[name], _lookup(api_row, name)
        _compare_rows(out, subject, ident, f"{prefix}{name}", _confirmer_key, (*VERDICT_FIELDS, extra), mine, theirs, where)
        if isinstance(theirs, list):
            out.field(
                subject, ident, f"{prefix}{name}.order", [_confirmer_key(v) for v in mine],
                [_confirmer_key(v) for v in theirs], where,
            )


def expected_commitment(commitment: Commitment, municipality_name: str | None, now: int) -> dict[str, Any]:
    """The rebuilt ``commitment`` as the API should show it at Unix time ``now``: the wire form
    of :func:`scripts.audit.wire.commitment_json`, each delivery with ``evidence`` (its hashes)."""
    values = commitment_json(commitment, municipality_name if municipality_name is not None else MISSING, now)
    for delivery in values["deliveries"]:
        delivery["evidence"] = delivery["evidence_sha256"]
    return values


def _compare_commitment(
    out: _Collector,
    boundary: list[Boundary],
    commitment: Commitment,
    municipality_name: str | None,
    api_detail: Mapping[str, Any] | None,
    api_summary: Mapping[str, Any] | None,
    summaries_given: bool,
    window: tuple[int, int],
    compared_from: int,
) -> None:
    expected = expected_commitment(commitment, municipality_name, compared_from)
    lo, hi = window
    in_window = any(lo <= due <= hi for due in (commitment.due_date, commitment.original_due_date))
    possible = possible_statuses(commitment, lo, hi) if in_window else {n: {expected[n]} for n in STATUS_FIELDS}
    if in_window:
        boundary.append(
            Boundary(
                commitment.id,
                commitment.due_date,
                commitment.original_due_date,
                {n: expected[n] for n in STATUS_FIELDS},
                {n: tuple(s for s in STATUSES if s in possible[n]) for n in STATUS_FIELDS},
                {n: _lookup(api_detail, n) if api_detail is not None else MISSING for n in STATUS_FIELDS},
            )
        )
    sources = [("detail", api_detail, DETAIL_FIELDS)]
    if summaries_given:
        sources.insert(0, ("list", api_summary, SUMMARY_FIELDS))
    for where, payload, names in sources:
        if payload is None:
            out.field("commitment", commitment.id, "presence", "present", MISSING, where)
            continue
        for name in names:
            actual = _lookup(payload, name)
            if name in STATUS_FIELDS and isinstance(actual, str) and actual in possible[name]:
                continue
            out.field("commitment", commitment.id, name, _lookup(expected, name), actual, where)
    if api_detail is None:
        return
    out.optional("commitment", commitment.id, "", "withdrawal", ACTION_FIELDS, expected, api_detail, "detail")
    api_deliveries = api_detail.get("deliveries", MISSING)
    if isinstance(api_deliveries, list):
        api_deliveries = [_api_delivery(d) for d in api_deliveries]
    _compare_rows(
        out, "commitment", commitment.id, "deliveries", delivery_key, DELIVERY_FIELDS, expected["deliveries"],
        api_deliveries, "detail", (("revocation", ACTION_FIELDS),),
    )
    _compare_rows(
        out, "commitment", commitment.id, "amendments", _number_key("amendment_number"), AMENDMENT_FIELDS,
        expected["amendments"], api_detail.get("amendments", MISSING), "detail",
    )


# ---------------------------------------------------------------------- municipalities


def _status_ranges(
    commitments: Sequence[Commitment], window: tuple[int, int], compared_from: int, status_field: str = "status"
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """(count at ``compared_from``, lowest, highest possible count) per value of
    ``status_field`` (``"status"`` or ``"status_on_record"``)."""
    at = {s: 0 for s in STATUSES}
    low = {s: 0 for s in STATUSES}
    high = {s: 0 for s in STATUSES}
    lo, hi = window
    for commitment in commitments:
        now_status = getattr(evaluate(commitment, compared_from), status_field)
        at[now_status] += 1
        in_window = any(lo <= due <= hi for due in (commitment.due_date, commitment.original_due_date))
        possible = possible_statuses(commitment, lo, hi)[status_field] if in_window else {now_status}
        for status in possible:
            high[status] += 1
        if len(possible) == 1:
            low[next(iter(possible))] += 1
    return at, low, high


def _compare_municipality(
    out: _Collector,
    municipality: Municipality,
    commitments: Sequence[Commitment],
    api: Mapping[str, Any],
    window: tuple[int, int],
    compared_from: int,
) -> None:
    subject, ident, where = "municipality", municipality.id, "municipalities"
    chain = {
        "name": municipality.name,
        "code": municipality.code,
        "admin": municipality.admin,
        "pending_admin": municipality.pending_admin,
        "commitment_count": len(commitments),
        "registered": municipality.registered.to_json(),
        "recovery": municipality.recovery.to_json() if municipality.recovery else None,
    }
    out.fields(subject, ident, "", MUNICIPALITY_FIELDS, chain, api, where)
    out.optional(subject, ident, "", "recovery", RECOVERY_FIELDS, chain, api, where)
    for name, rows, names, nested in (
        ("admin_changes", [c.to_json() for c in municipality.admin_changes], ADMIN_CHANGE_FIELDS, ()),
        ("registrar_history", [r.to_json() for r in municipality.registrar_roles], REGISTRAR_INTERVAL_FIELDS, ("removed",)),
        ("confirmer_history", [r.to_json() for r in municipality.confirmer_roles], REGISTRAR_INTERVAL_FIELDS, ("removed",)),
    ):
        api_rows = _lookup(api, name)
        if not isinstance(api_rows, list):
            out.field(subject, ident, name, f"{len(rows)} entries", api_rows, where)
            continue
        out.field(subject, ident, f"{name}.count", len(rows), len(api_rows), where)
        for index, (mine, theirs) in enumerate(zip(rows, api_rows)):
            out.fields(subject, ident, f"{name}[{index}].", names, mine, theirs, where)
            for object_name in nested:
                out.optional(subject, ident, f"{name}[{index}].", object_name, CHAIN_REF_FIELDS, mine, theirs, where)
    for name, accounts in (("registrars", municipality.registrars), ("confirmers", municipality.confirmers)):
        api_accounts = _lookup(api, name)
        if isinstance(api_accounts, list) and all(isinstance(a, str) for a in api_accounts):
            if sorted(a.lower() for a in accounts) != sorted(a.lower() for a in api_accounts):
                out.field(subject, ident, name, sorted(accounts), sorted(api_accounts), where)
        else:
            out.field(subject, ident, name, sorted(accounts), api_accounts, where)
    for status_field, counts_name in (("status", "status_counts"), ("status_on_record", "status_on_record_counts")):
        at, low, high = _status_ranges(commitments, window, compared_from, status_field)
        for status in STATUSES:
            actual = _lookup(api, f"{counts_name}.{status}")
            if isinstance(actual, int) and not isinstance(actual, bool) and low[status] <= actual <= high[status]:
                continue
            out.field(subject, ident, f"{counts_name}.{status}", at[status], actual, where)


# ---------------------------------------------------------------------- batches


def _compare_batches(out: _Collector, state: LedgerState, api_payload: Mapping[str, Any]) -> None:
    """Every batch of the list pages (:data:`BATCH_FIELDS`, by root) and, when given, the
    leaves of each batch detail (as deliveries, by ``leaf_index``)."""
    names = {m.id: m.name for m in state.municipalities.values()}
    listed = {r.get("root", "").lower(): r for r in api_payload.get("batches") or [] if isinstance(r, Mapping)}
    details_given = api_payload.get("batch_details") is not None
    details = {
        r.get("root", "").lower(): r for r in api_payload.get("batch_details") or [] if isinstance(r, Mapping)
    }
    mine = {root.lower(): batch for root, batch in state.batches.items()}
    for root in sorted(mine.keys() | listed.keys()):
        batch, api_row = mine.get(root), listed.get(root)
        if batch is None or api_row is None:
            out.field("batch", root, "presence", "present" if batch else MISSING, "present" if api_row else MISSING, "batches")
            continue
        expected = batch_json(batch, names.get(batch.municipality_id, MISSING))
        out.fields("batch", root, "", BATCH_FIELDS, expected, api_row, "batches")
        if not details_given:
            continue
        detail = details.get(root)
        if detail is None:
            out.field("batch", root, "presence", "present", MISSING, "batch")
            continue
        leaves = detail.get("leaves", MISSING)
        if isinstance(leaves, list):
            leaves = [_api_delivery(leaf) for leaf in leaves]
        for leaf in expected["leaves"]:
            leaf["evidence"] = leaf["evidence_sha256"]
        _compare_rows(
            out, "batch", root, "leaves", _number_key("leaf_index"), DELIVERY_FIELDS, expected["leaves"], leaves,
            "batch", (("revocation", ACTION_FIELDS),),
        )


# ---------------------------------------------------------------------- entry point


def compare_with_api(
    replay_state: LedgerState,
    api_payload: Mapping[str, Any],
    *,
    compared_from: int,
    compared_to: int | None = None,
    boundary_seconds: int = DEFAULT_BOUNDARY_SECONDS,
    chain_id: int | None = None,
    contract_address: str | None = None,
) -> Comparison:
    """Compare the rebuilt state with the API's answers.

    Args:
        replay_state: the rebuilt ledger.
        api_payload: what the API said, as decoded JSON: ``{"commitments": [CommitmentDetail]
            (or a dict by id), "summaries": [CommitmentSummary] (optional: list pages),
            "municipalities": [Municipality] (optional), "batches": [BatchSummary] (optional),
            "batch_details": [BatchDetail] (optional), "health": {...} (optional)}``. A key
            left out is not compared; an empty list means the API has none.
        compared_from: Unix seconds just before the API was read; chain statuses are
            evaluated at this time.
        compared_to: Unix seconds just after (defaults to ``compared_from``).
        boundary_seconds: widen the window by this much on each side for boundary cases.
        chain_id, contract_address: the replayed ledger, compared with ``health`` when given;
            ``paused`` and ``contract_version`` are compared whenever ``health`` is given.

    Returns:
        The :class:`Comparison`; ``comparison.ok`` when nothing differs.
    """
    compared_to = compared_from if compared_to is None else compared_to
    window = (compared_from - boundary_seconds, compared_to + boundary_seconds)
    out = _Collector()
    boundary: list[Boundary] = []

    health = api_payload.get("health")
    if isinstance(health, Mapping):
        if chain_id is not None:
            out.field("ledger", None, "chain_id", chain_id, _lookup(health, "chain_id"), "health")
        if contract_address is not None:
            out.field("ledger", None, "contract_address", contract_address, _lookup(health, "contract_address"), "health")
        out.field("ledger", None, "paused", replay_state.paused, _lookup(health, "paused"), "health")
        out.field(
            "ledger", None, "contract_version", replay_state.contract_version, _lookup(health, "contract_version"), "health"
        )

    details = _keyed(api_payload.get("commitments"), "id")
    summaries_given = api_payload.get("summaries") is not None
    summaries = _keyed(api_payload.get("summaries"), "id")
    for commitment_id in sorted(set(replay_state.commitments) | set(details) | set(summaries)):
        commitment = replay_state.commitments.get(commitment_id)
        if commitment is None:
            if commitment_id in details:
                out.field("commitment", commitment_id, "presence", MISSING, "present", "detail")
            if commitment_id in summaries:
                out.field("commitment", commitment_id, "presence", MISSING, "present", "list")
            continue
        municipality = replay_state.municipalities.get(commitment.municipality_id)
        _compare_commitment(
            out, boundary, commitment, municipality.name if municipality else None,
            details.get(commitment_id), summaries.get(commitment_id), summaries_given, window, compared_from,
        )

    if api_payload.get("municipalities") is not None:
        api_municipalities = _keyed(api_payload["municipalities"], "id")
        for municipality_id in sorted(replay_state.municipalities.keys() | api_municipalities.keys()):
            municipality = replay_state.municipalities.get(municipality_id)
            api_row = api_municipalities.get(municipality_id)
            if municipality is None or api_row is None:
                out.field(
                    "municipality", municipality_id, "presence",
                    "present" if municipality else MISSING, "present" if api_row else MISSING, "municipalities",
                )
                continue
            own = [c for c in replay_state.commitments.values() if c.municipality_id == municipality_id]
            _compare_municipality(out, municipality, own, api_row, window, compared_from)

    if api_payload.get("batches") is not None:
        _compare_batches(out, replay_state, api_payload)

    return Comparison(out.differences, boundary, compared_from, compared_to, boundary_seconds, [])
