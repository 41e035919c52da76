"""Compare the rebuilt ledger with what the API says, field by field.

The rebuilt state is rendered in the API's wire form (docs/API.md: quantities as decimal
strings, times as Unix seconds, ``null`` for an absent hash or ``met_at``) and each field is
compared with the API's value. Equality is exact JSON equality (a quantity sent as a number
instead of a decimal string is a difference), except that ``0x`` hex strings (hashes,
addresses) compare case-insensitively and registrar lists compare as sets.

Statuses depend on time and the API evaluates them at request time, which the auditor cannot
choose. The comparison therefore takes the window ``[fetched_from, fetched_to]`` (Unix
seconds around the API fetch) widened by ``boundary_seconds`` on both sides: a commitment whose
due date falls in that window is a *boundary* case, and its API status is accepted if the
commitment has that status at some moment of the window. A municipality's ``status_counts``
are accepted within the range those boundary commitments allow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from scripts.audit.model import Commitment, Delivery, LedgerState, Municipality
from scripts.audit.rules import STATUSES, evaluate, possible_statuses

DEFAULT_BOUNDARY_SECONDS = 120
"""A due date this close (seconds) to the comparison window is a boundary case."""

MISSING = "<missing>"
"""Shown for a field or record absent on one side."""

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
    "due_date",
    "met_at",
    "withdrawn",
    "registered.tx_hash",
    "registered.block_number",
    "registered.log_index",
    "registered.block_time",
)
"""Fields of a ``CommitmentSummary`` (list pages) that are compared, dotted for nesting."""

DETAIL_FIELDS: tuple[str, ...] = SUMMARY_FIELDS + (
    "description",
    "source_document_sha256",
    "source_uri",
    "registrar",
    "amendment_count",
)
"""Fields of a ``CommitmentDetail`` that are compared (plus withdrawal and deliveries)."""

CHAIN_REF_FIELDS: tuple[str, ...] = ("tx_hash", "block_number", "log_index", "block_time")


@dataclass(frozen=True)
class Difference:
    """One field on which chain and API disagree.

    Attributes:
        subject: ``"commitment"``, ``"municipality"`` or ``"ledger"`` (health: chain id, contract).
        id: the commitment's or municipality's id (``None`` for ``"ledger"``).
        field: dotted field name, e.g. ``"status"``, ``"registered.tx_hash"``,
            ``"deliveries[7].quantity"``, ``"presence"`` (record on one side only).
        chain: the value rebuilt from the chain, in wire form (:data:`MISSING` if absent).
        api: the API's value (:data:`MISSING` if absent).
        where: which answer it came from: ``"detail"``, ``"list"``, ``"municipalities"``,
            ``"health"``.
    """

    subject: str
    id: int | None
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
    """A commitment whose due date is within the comparison window: its status may flip
    between the two reads, so it is not counted as a difference when the API's status is one
    the commitment has somewhere in the window.

    Attributes:
        chain_status: status at ``compared_from``.
        possible: every status in the widened window.
        api_status: the API's status (detail answer), :data:`MISSING` if absent.
    """

    commitment_id: int
    due_date: int
    chain_status: str
    possible: tuple[str, ...]
    api_status: Any

    def to_json(self) -> dict[str, Any]:
        return {
            "commitment_id": self.commitment_id,
            "due_date": self.due_date,
            "chain_status": self.chain_status,
            "possible_statuses": list(self.possible),
            "api_status": self.api_status,
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


# ---------------------------------------------------------------------- wire form of the chain


def _ref(prefix: str, ref: Any) -> dict[str, Any]:
    return {f"{prefix}.{name}": getattr(ref, name) for name in CHAIN_REF_FIELDS}


def expected_commitment(commitment: Commitment, municipality_name: str | None, now: int) -> dict[str, Any]:
    """The rebuilt ``commitment`` as the API should show it at Unix time ``now``: a flat dict
    of dotted field name → wire value, for :data:`DETAIL_FIELDS` (withdrawal and deliveries
    are compared separately)."""
    progress = evaluate(commitment, now)
    values: dict[str, Any] = {
        "id": commitment.id,
        "municipality_id": commitment.municipality_id,
        "municipality_name": municipality_name if municipality_name is not None else MISSING,
        "external_ref": commitment.external_ref,
        "title": commitment.title,
        "theme": commitment.theme,
        "unit": commitment.unit,
        "target_quantity": str(commitment.target_quantity),
        "delivered_quantity": str(progress.delivered_quantity),
        "progress_bps": progress.progress_bps,
        "status": progress.status,
        "due_date": commitment.due_date,
        "met_at": progress.met_at,
        "withdrawn": commitment.withdrawn,
        "description": commitment.description,
        "source_document_sha256": commitment.source_document_sha256,
        "source_uri": commitment.source_uri,
        "registrar": commitment.registrar,
        "amendment_count": len(commitment.amendments),
    }
    values.update(_ref("registered", commitment.registered))
    return values


def expected_delivery(delivery: Delivery) -> dict[str, Any]:
    """The rebuilt ``delivery`` in the API's wire form, flat and dotted (``evidence`` is the
    list of SHA-256 hashes, ``revoked`` is whether ``revocation`` is not null)."""
    values: dict[str, Any] = {
        "commitment_id": delivery.commitment_id,
        "quantity": str(delivery.quantity),
        "delivered_at": delivery.delivered_at,
        "evidence": list(delivery.evidence_sha256),
        "evidence_uri": delivery.evidence_uri,
        "note": delivery.note,
        "external_ref": delivery.external_ref,
        "registrar": delivery.registrar,
        "revoked": delivery.revoked,
    }
    values.update(_ref("recorded", delivery.recorded))
    if delivery.revocation is not None:
        values["revocation.reason"] = delivery.revocation.reason
        values["revocation.registrar"] = delivery.revocation.registrar
        values.update(_ref("revocation.chain", delivery.revocation.chain))
    return values


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


def _by_id(rows: Iterable[Mapping[str, Any]] | Mapping[Any, Mapping[str, Any]] | None) -> dict[int, Mapping[str, Any]]:
    if rows is None:
        return {}
    items = rows.values() if isinstance(rows, Mapping) else rows
    result: dict[int, Mapping[str, Any]] = {}
    for row in items:
        try:
            result[int(row["id"])] = row
        except (KeyError, TypeError, ValueError):
            continue
    return result


class _Collector:
    def __init__(self) -> None:
        self.differences: list[Difference] = []

    def field(self, subject: str, ident: int | None, name: str, chain: Any, api: Any, where: str) -> None:
        if not same(chain, api):
            self.differences.append(Difference(subject, ident, name, chain, api, where))


# ---------------------------------------------------------------------- comparison


def _compare_withdrawal(out: _Collector, commitment: Commitment, api: Mapping[str, Any]) -> None:
    api_withdrawal = _lookup(api, "withdrawal")
    if commitment.withdrawal is None:
        if api_withdrawal is not None:
            out.field("commitment", commitment.id, "withdrawal", None, api_withdrawal, "detail")
        return
    if not isinstance(api_withdrawal, Mapping):
        out.field("commitment", commitment.id, "withdrawal", commitment.withdrawal.to_json(), api_withdrawal, "detail")
        return
    out.field("commitment", commitment.id, "withdrawal.reason", commitment.withdrawal.reason, _lookup(api_withdrawal, "reason"), "detail")
    out.field(
        "commitment", commitment.id, "withdrawal.registrar", commitment.withdrawal.registrar,
        _lookup(api_withdrawal, "registrar"), "detail",
    )
    for name, value in _ref("withdrawal.chain", commitment.withdrawal.chain).items():
        out.field("commitment", commitment.id, name, value, _lookup(api_withdrawal, name[len("withdrawal."):]), "detail")


def _api_delivery_values(api_delivery: Mapping[str, Any]) -> dict[str, Any]:
    evidence = api_delivery.get("evidence", MISSING)
    hashes: Any
    if isinstance(evidence, list):
        hashes = [e.get("sha256", MISSING) if isinstance(e, Mapping) else e for e in evidence]
    else:
        hashes = evidence
    revocation = api_delivery.get("revocation", MISSING)
    values = {
        "commitment_id": api_delivery.get("commitment_id", MISSING),
        "quantity": api_delivery.get("quantity", MISSING),
        "delivered_at": api_delivery.get("delivered_at", MISSING),
        "evidence": hashes,
        "evidence_uri": api_delivery.get("evidence_uri", MISSING),
        "note": api_delivery.get("note", MISSING),
        "external_ref": api_delivery.get("external_ref", MISSING),
        "registrar": api_delivery.get("registrar", MISSING),
        "revoked": MISSING if revocation is MISSING else revocation is not None,
    }
    for name in CHAIN_REF_FIELDS:
        values[f"recorded.{name}"] = _lookup(api_delivery, f"recorded.{name}")
    if isinstance(revocation, Mapping):
        values["revocation.reason"] = revocation.get("reason", MISSING)
        values["revocation.registrar"] = revocation.get("registrar", MISSING)
        for name in CHAIN_REF_FIELDS:
            values[f"revocation.chain.{name}"] = _lookup(revocation, f"chain.{name}")
    return values


def _compare_deliveries(out: _Collector, commitment: Commitment, api: Mapping[str, Any]) -> None:
    api_rows = api.get("deliveries")
    if not isinstance(api_rows, list):
        out.field("commitment", commitment.id, "deliveries", f"{len(commitment.deliveries)} deliveries", api_rows if api_rows is not None else MISSING, "detail")
        return
    api_by_id = _by_id(api_rows)
    chain_by_id = {d.id: d for d in commitment.deliveries}
    for delivery_id in sorted(chain_by_id.keys() | api_by_id.keys()):
        prefix = f"deliveries[{delivery_id}]"
        delivery = chain_by_id.get(delivery_id)
        api_delivery = api_by_id.get(delivery_id)
        if delivery is None or api_delivery is None:
            out.field(
                "commitment", commitment.id, f"{prefix}.presence",
                "present" if delivery else MISSING, "present" if api_delivery else MISSING, "detail",
            )
            continue
        expected = expected_delivery(delivery)
        actual = _api_delivery_values(api_delivery)
        for name, value in expected.items():
            out.field("commitment", commitment.id, f"{prefix}.{name}", value, actual.get(name, MISSING), "detail")


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
    in_window = lo <= commitment.due_date <= hi
    possible = possible_statuses(commitment, lo, hi) if in_window else {expected["status"]}
    if in_window:
        api_status = _lookup(api_detail, "status") if api_detail is not None else MISSING
        boundary.append(
            Boundary(commitment.id, commitment.due_date, expected["status"], tuple(s for s in STATUSES if s in possible), api_status)
        )
    sources = [("detail", api_detail, DETAIL_FIELDS)]
    if summaries_given:
        sources.insert(0, ("list", api_summary, SUMMARY_FIELDS))
    for where, payload, fields in sources:
        if payload is None:
            out.field("commitment", commitment.id, "presence", "present", MISSING, where)
            continue
        for name in fields:
            actual = _lookup(payload, name)
            if name == "status" and in_window and isinstance(actual, str) and actual in possible:
                continue
            out.field("commitment", commitment.id, name, expected[name], actual, where)
    if api_detail is not None:
        _compare_withdrawal(out, commitment, api_detail)
        _compare_deliveries(out, commitment, api_detail)


def _status_ranges(
    commitments: Sequence[Commitment], window: tuple[int, int], compared_from: int
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """(count at ``compared_from``, lowest, highest possible count) per status."""
    at = {s: 0 for s in STATUSES}
    low = {s: 0 for s in STATUSES}
    high = {s: 0 for s in STATUSES}
    lo, hi = window
    for commitment in commitments:
        at[evaluate(commitment, compared_from).status] += 1
        possible = possible_statuses(commitment, lo, hi) if lo <= commitment.due_date <= hi else {
            evaluate(commitment, compared_from).status
        }
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
    def check(name: str, chain: Any, actual: Any) -> None:
        out.field("municipality", municipality.id, name, chain, actual, "municipalities")

    check("name", municipality.name, _lookup(api, "name"))
    check("code", municipality.code, _lookup(api, "code"))
    check("admin", municipality.admin, _lookup(api, "admin"))
    api_registrars = _lookup(api, "registrars")
    chain_registrars = sorted(a.lower() for a in municipality.registrars)
    if isinstance(api_registrars, list) and all(isinstance(a, str) for a in api_registrars):
        if chain_registrars != sorted(a.lower() for a in api_registrars):
            check("registrars", sorted(municipality.registrars), sorted(api_registrars))
    else:
        check("registrars", sorted(municipality.registrars), api_registrars)
    check("commitment_count", len(commitments), _lookup(api, "commitment_count"))
    for name, value in _ref("registered", municipality.registered).items():
        check(name, value, _lookup(api, name))
    at, low, high = _status_ranges(commitments, window, compared_from)
    for status in STATUSES:
        actual = _lookup(api, f"status_counts.{status}")
        if isinstance(actual, int) and not isinstance(actual, bool) and low[status] <= actual <= high[status]:
            continue
        check(f"status_counts.{status}", at[status], actual)


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
            "municipalities": [Municipality] (optional), "health": {...} (optional)}``. A key
            left out is not compared; an empty list means the API has none.
        compared_from: Unix seconds just before the API was read; chain statuses are
            evaluated at this time.
        compared_to: Unix seconds just after (defaults to ``compared_from``).
        boundary_seconds: widen the window by this much on each side for boundary cases.
        chain_id, contract_address: the replayed ledger, compared with ``health`` when given.

    Returns:
        The :class:`Comparison`; ``comparison.ok`` when nothing differs.
    """
    compared_to = compared_from if compared_to is None else compared_to
    window = (compared_from - boundary_seconds, compared_to + boundary_seconds)
    out = _Collector()
    boundary: list[Boundary] = []
    notes: list[str] = []

    health = api_payload.get("health")
    if isinstance(health, Mapping):
        if chain_id is not None:
            out.field("ledger", None, "chain_id", chain_id, _lookup(health, "chain_id"), "health")
        if contract_address is not None:
            out.field("ledger", None, "contract_address", contract_address, _lookup(health, "contract_address"), "health")

    details = _by_id(api_payload.get("commitments"))
    summaries_given = api_payload.get("summaries") is not None
    summaries = _by_id(api_payload.get("summaries"))
    chain_ids = set(replay_state.commitments)
    api_ids = set(details) | set(summaries)
    for commitment_id in sorted(chain_ids | api_ids):
        commitment = replay_state.commitments.get(commitment_id)
        if commitment is None:
            if commitment_id in details:
                out.field("commitment", commitment_id, "presence", MISSING, "present", "detail")
            if commitment_id in summaries:
                out.field("commitment", commitment_id, "presence", MISSING, "present", "list")
            continue
        municipality = replay_state.municipalities.get(commitment.municipality_id)
        _compare_commitment(
            out,
            boundary,
            commitment,
            municipality.name if municipality else None,
            details.get(commitment_id),
            summaries.get(commitment_id),
            summaries_given,
            window,
            compared_from,
        )

    if api_payload.get("municipalities") is not None:
        api_municipalities = _by_id(api_payload["municipalities"])
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

    return Comparison(out.differences, boundary, compared_from, compared_to, boundary_seconds, notes)

