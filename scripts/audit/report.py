"""The replay's JSON report and its rich summary.

Report shape (JSON object; quantities are decimal strings, times Unix seconds with ``*_iso``
twins, block ranges inclusive; field names of docs/LEDGER.md)::

    {"report_version": 3, "generated_at", "generated_at_iso", "now", "now_iso",
     "chain_id", "contract_address", "contract_version", "from_block", "to_block",
     "to_block_hash", "to_block_time", "head_block", "blocks_scanned", "logs_fetched",
     "events_replayed", "event_counts": {name: n}, "seconds", "owner", "pending_owner",
     "paused", "pauses": [{"action", "account", "chain"}],
     "totals": {"municipalities", "commitments", "deliveries_recorded", "deliveries_revoked",
                "deliveries_recorded_late", "amendments", "amendments_after_due_date",
                "commitments_amended_after_due_date", "commitments_target_lowered",
                "met_only_under_relaxed_terms", "historical_records", "admin_changes",
                "admin_recoveries", "recoveries_started", "recoveries_cancelled",
                "pauses", "records_signed_without_role",
                "batches_anchored", "batches_verified", "batches_not_verifiable": {reason: n},
                "batched_deliveries", "batched_deliveries_counted", "batched_deliveries_revoked",
                "leaves_refused": {reason: n}, "deliveries_double_counted",
                "deliveries_confirmed", "deliveries_disputed", "confirmers", "sub_commitments",
                "status_counts": {status: n}, "status_on_record_counts": {status: n},
                "status_confirmed_counts": {status: n}},
     "municipalities": [scripts.audit.wire.municipality_json],
     "commitments": [scripts.audit.wire.commitment_json],
     "batches": [scripts.audit.wire.batch_json],
     "batches_not_verifiable": [{"root", "municipality_id", "unverified_reason", "leaf_count",
                                 "file_sha256", "file_uri", "chain"}],
     "refused_leaves": [{"batch_root", "leaf_index", "leaf_hash", "commitment_id", "quantity",
                         "refused_reason"}],
     "double_counts": [{"kind", "id", "commitment_id", "asset_ref", "quantity", "chain"}],
     "disputed_deliveries": [{"kind", "id", "commitment_id", "quantity", "disputes"}],
     "anomalies": [{"kind", "message", "chain"}],
     "comparison": null | {"api_url", "api_health", "api_caught_up", "waited_seconds",
                           "ok", "difference_count", "differences", "boundary",
                           "compared_from", "compared_to", "boundary_seconds", "notes"},
     "sources": [{"id", "municipality_code", "credit", "follow_up", "commitment_count"}]}

``deliveries_recorded_late`` counts deliveries that count (as ``recorded_late_count``, batched
ones included). ``batched_deliveries`` are the leaves of verified batches (``_counted``: counting
now; ``_revoked``: counted, then revoked; ``leaves_refused``: never counted, by reason);
``deliveries_double_counted`` are recorded deliveries marked ``double_counted`` plus leaves
refused ``asset_already_counted``; ``deliveries_confirmed`` / ``_disputed`` count deliveries
that count, by review. The lists ``batches_not_verifiable``, ``refused_leaves``,
``double_counts`` and ``disputed_deliveries`` repeat what a sceptical reader looks for.
Statuses, ``delivered_quantity``, progress and met times are evaluated at ``now``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from ledger.settings import REPO_ROOT
from ledger.sources import credited_sources, credits_by_code
from scripts.audit import rules
from scripts.audit.compare import MISSING, Comparison
from scripts.audit.leaves import REFUSED_REASONS
from scripts.audit.model import LedgerState, iso_utc
from scripts.audit.review import disputes, review_of
from scripts.audit.rules import STATUSES
from scripts.audit.runner import ReplayResult
from scripts.audit.wire import batch_json, commitment_json, municipality_json, status_counts

SOURCES_DIR = REPO_ROOT / "scripts" / "mappings"

REPORT_VERSION = 3

UNVERIFIED_REASONS: tuple[str, ...] = ("missing", "sha256_mismatch", "unparseable", "root_mismatch", "leaf_count_mismatch")
"""Why an anchored batch is not verified (docs/LEDGER.md "Batches"), in the order checked."""


def _municipalities_json(state: LedgerState, now: int) -> list[dict[str, Any]]:
    rows = []
    for municipality in sorted(state.municipalities.values(), key=lambda m: m.id):
        own = sorted((c for c in state.commitments.values() if c.municipality_id == municipality.id), key=lambda c: c.id)
        rows.append(municipality_json(municipality, own, now))
    return rows


def _totals(state: LedgerState, now: int) -> dict[str, Any]:
    commitments = sorted(state.commitments.values(), key=lambda c: c.id)
    deliveries = list(state.deliveries.values())
    amendments = [a for c in commitments for a in c.amendments]
    changes = [change for m in state.municipalities.values() for change in m.admin_changes]
    recovery_events = [h for m in state.municipalities.values() for h in m.recovery_history]
    signed = (
        [c.signer_held_role for c in commitments]
        + [d.signer_held_role for d in deliveries]
        + [a.signer_held_role for a in amendments]
        + [c.withdrawal.signer_held_role for c in commitments if c.withdrawal]
        + [d.revocation.signer_held_role for d in deliveries if d.revocation]
        + [b.signer_held_role for b in state.batches.values()]
        + [r.signer_held_role for b in state.batches.values() for r in b.revocations.values()]
        + [v.signer_held_role for d in deliveries for v in d.verdicts.values()]
        + [v.signer_held_role for verdicts in state.leaf_verdicts.values() for v in verdicts.values()]
    )
    return {
        "municipalities": len(state.municipalities),
        "commitments": len(commitments),
        "deliveries_recorded": len(deliveries),
        "deliveries_revoked": sum(1 for d in deliveries if d.revoked),
        "deliveries_recorded_late": sum(rules.recorded_late_count(c) for c in commitments),
        "amendments": len(amendments),
        "amendments_after_due_date": sum(1 for a in amendments if rules.after_due_date(a)),
        "commitments_amended_after_due_date": sum(1 for c in commitments if rules.amended_after_due_date(c)),
        "commitments_target_lowered": sum(1 for c in commitments if rules.target_lowered(c)),
        "met_only_under_relaxed_terms": sum(1 for c in commitments if rules.evaluate(c, now).met_only_under_relaxed_terms),
        "historical_records": sum(1 for c in commitments if rules.historical_record(c)),
        "admin_changes": len(changes),
        "admin_recoveries": sum(1 for change in changes if change.recovered),
        "recoveries_started": sum(1 for h in recovery_events if h["action"] == "started"),
        "recoveries_cancelled": sum(1 for h in recovery_events if h["action"] == "cancelled"),
        "pauses": sum(1 for p in state.pauses if p["action"] == "paused"),
        "records_signed_without_role": sum(1 for held in signed if not held),
        **_part2_totals(state),
        "status_counts": status_counts(commitments, now),
        "status_on_record_counts": status_counts(commitments, now, "status_on_record"),
        "status_confirmed_counts": status_counts(commitments, now, "status_confirmed"),
    }


def _part2_totals(state: LedgerState) -> dict[str, Any]:
    """Totals of batches, leaves, double counts, reviews and sub-commitments (module docstring)."""
    batches = list(state.batches.values())
    leaves = [leaf for b in batches for leaf in b.leaves]
    counting = [d for c in state.commitments.values() for d in c.all_deliveries if d.counts]
    recorded = list(state.deliveries.values())
    reviews = [review_of(d) for d in counting]
    return {
        "batches_anchored": len(batches),
        "batches_verified": sum(1 for b in batches if b.verified),
        "batches_not_verifiable": {r: sum(1 for b in batches if b.unverified_reason == r) for r in UNVERIFIED_REASONS},
        "batched_deliveries": len(leaves),
        "batched_deliveries_counted": sum(1 for leaf in leaves if leaf.counts),
        "batched_deliveries_revoked": sum(1 for leaf in leaves if leaf.counted and leaf.revoked),
        "leaves_refused": {r: sum(1 for leaf in leaves if leaf.refused_reason == r) for r in REFUSED_REASONS},
        "deliveries_double_counted": sum(1 for d in [*recorded, *leaves] if rules.double_counted_asset(d)),
        "deliveries_confirmed": reviews.count("confirmed"),
        "deliveries_disputed": reviews.count("disputed"),
        "confirmers": sum(len(m.confirmers) for m in state.municipalities.values()),
        "sub_commitments": sum(1 for c in state.commitments.values() if c.parent_id is not None),
    }


def _findings(state: LedgerState) -> dict[str, list[dict[str, Any]]]:
    """The lists of batches not verifiable, refused leaves, double counts and disputed
    deliveries (module docstring), in log order."""
    batches = list(state.batches.values())
    leaves = [leaf for b in batches for leaf in b.leaves]
    deliveries = [*sorted(state.deliveries.values(), key=lambda d: d.recorded.order), *leaves]
    return {
        "batches_not_verifiable": [
            {"root": b.root, "municipality_id": b.municipality_id, "unverified_reason": b.unverified_reason,
             "leaf_count": b.leaf_count, "file_sha256": b.file_sha256, "file_uri": b.file_uri, "chain": b.chain.to_json()}
            for b in batches if rules.batch_not_verifiable(b)
        ],
        "refused_leaves": [
            {"batch_root": leaf.root, "leaf_index": leaf.leaf_index, "leaf_hash": leaf.leaf_hash,
             "commitment_id": leaf.commitment_id, "quantity": str(leaf.quantity), "refused_reason": leaf.refused_reason}
            for leaf in leaves if not leaf.counted
        ],
        "double_counts": [
            {"kind": d.kind, "id": d.leaf_hash if d.kind == "batched" else d.id, "commitment_id": d.commitment_id,
             "asset_ref": d.asset_ref, "quantity": str(d.quantity), "chain": d.recorded.to_json()}
            for d in deliveries if rules.double_counted_asset(d)
        ],
        "disputed_deliveries": [
            {"kind": d.kind, "id": d.leaf_hash if d.kind == "batched" else d.id, "commitment_id": d.commitment_id,
             "quantity": str(d.quantity), "disputes": disputes(d)}
            for d in deliveries if d.counts and rules.disputed_delivery(d)
        ],
    }


def build_report(
    result: ReplayResult, now: int, comparison: dict[str, Any] | None = None, *, generated_at: int | None = None
) -> dict[str, Any]:
    """The JSON report (shape in the module docstring).

    Args:
        result: the replay.
        now: Unix seconds the statuses are evaluated at.
        comparison: the comparison section (``None`` when no API was compared).
        generated_at: Unix seconds of the report (defaults to the wall clock).
    """
    with rules.kept_evaluations():  # the state is final: each commitment's statuses at ``now`` computed once
        return _report(result, now, comparison, generated_at)


def _report(result: ReplayResult, now: int, comparison: dict[str, Any] | None, generated_at: int | None) -> dict[str, Any]:
    state = result.state
    generated_at = int(time.time()) if generated_at is None else generated_at
    names = {m.id: m.name for m in state.municipalities.values()}
    rollup_memo: dict[int, int] = {}
    return {
        "report_version": REPORT_VERSION,
        "generated_at": generated_at,
        "generated_at_iso": iso_utc(generated_at),
        "now": now,
        "now_iso": iso_utc(now),
        "chain_id": result.chain_id,
        "contract_address": result.contract_address,
        "contract_version": state.contract_version,
        "from_block": result.from_block,
        "to_block": result.to_block,
        "to_block_hash": result.to_block_hash,
        "to_block_time": result.to_block_time,
        "head_block": result.head_block,
        "blocks_scanned": result.blocks_scanned,
        "logs_fetched": result.logs_fetched,
        "events_replayed": state.events_replayed,
        "event_counts": dict(sorted(state.event_counts.items())),
        "seconds": round(result.seconds, 3),
        "owner": state.owner,
        "pending_owner": state.pending_owner,
        "paused": state.paused,
        "pauses": list(state.pauses),
        "totals": _totals(state, now),
        "municipalities": _municipalities_json(state, now),
        "commitments": [
            commitment_json(c, names.get(c.municipality_id), now, rollup_memo)
            for c in sorted(state.commitments.values(), key=lambda c: c.id)
        ],
        "batches": [batch_json(b, names.get(b.municipality_id)) for b in state.batches.values()],
        **_findings(state),
        "anomalies": [a.to_json() for a in state.anomalies],
        "comparison": comparison,
        "sources": _sources_json(state),
    }


def _sources_json(state: LedgerState) -> list[dict[str, Any]]:
    """Credits of the data sources the replayed commitments come from, by the repository's
    source mappings (a local file, not our server), as ``ledger.sources`` decides: each
    commitment's on-chain ``source_uri`` names its source id (``#ledger-source=<id>``; one
    without it falls back to the url rule), by municipality code; once each, with the number
    of replayed commitments it credits (``commitment_count``) and whether it tracks follow-up
    (``follow_up``: false for a source of promises only, whose overdue commitments nobody
    records deliveries for). Commitments typed in by hand credit none."""
    codes = {m.id: m.code for m in state.municipalities.values()}
    by_code = credits_by_code(SOURCES_DIR)
    counts: dict[str, int] = {}
    for c in state.commitments.values():
        for s in credited_sources(by_code.get(codes.get(c.municipality_id, ""), []), c.source_uri):
            counts[s.id] = counts.get(s.id, 0) + 1
    return [
        {"id": s.id, "municipality_code": s.municipality_code, "credit": s.credit, "follow_up": s.follow_up,
         "commitment_count": counts[s.id]}
        for code in sorted(by_code)
        for s in by_code[code]
        if s.id in counts
    ]


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Write ``report`` as UTF-8 JSON indented by 2 spaces, creating the parent folder.

    Encoded by orjson (in C: the standard library's encoder runs in Python as soon as it
    indents, a third of a whole replay of 6,000 events went there); a report holding an
    integer beyond 64 bits, which orjson refuses, is written by the standard library in the
    same layout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        encoded = orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError:
        encoded = (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    path.write_bytes(encoded)


def _short(value: Any, width: int = 60) -> str:
    """JSON form (so ``"10"`` and ``10`` look different), cut to ``width`` characters."""
    text = value if value == MISSING else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def _counts_table(title: str, report: dict[str, Any], key: str) -> Table:
    table = Table(title=title)
    table.add_column("Id", justify="right")
    table.add_column("Municipality")
    table.add_column("Total", justify="right")
    for status in STATUSES:
        table.add_column(status.replace("_", " "), justify="right")
    for row in report["municipalities"]:
        table.add_row(
            str(row["id"]),
            f"{row['name']} ({row['code']})" if row["code"] else row["name"],
            str(row["commitment_count"]),
            *(str(row[key][s]) for s in STATUSES),
        )
    totals = report["totals"]
    table.add_row("", "[bold]all[/bold]", str(totals["commitments"]), *(str(totals[key][s]) for s in STATUSES))
    return table


def print_summary(console: Console, report: dict[str, Any]) -> None:
    """Print the replay summary: range, counts by ``status`` (claimed dates) and by
    ``status_on_record`` (recording times), the facts a sceptical reader looks for
    (recorded-late deliveries, amendments after the due date, relaxed-terms verdicts,
    historical records, admin recoveries, pauses, batches and their leaves, double counts,
    reviews), the findings (batches not verifiable, refused leaves, double counts, disputed
    deliveries) and the anomalies."""
    totals = report["totals"]
    console.print(
        f"[bold]Ledger[/bold] {report['contract_address']} (version {report['contract_version']}) on chain "
        f"{report['chain_id']}: blocks {report['from_block']}..{report['to_block']} (inclusive, "
        f"{report['blocks_scanned']} scanned), {report['events_replayed']} events replayed in {report['seconds']:.2f} s."
    )
    console.print(f"Statuses evaluated at now = {report['now']} ({report['now_iso']}).")
    console.print(_counts_table("Commitments by status (claimed dates)", report, "status_counts"))
    console.print(_counts_table("Commitments by status on record (recording times)", report, "status_on_record_counts"))
    facts = Table(title="Facts from the event log")
    facts.add_column("What")
    facts.add_column("Count", justify="right")
    for label, key in (
        ("municipalities", "municipalities"),
        ("deliveries recorded", "deliveries_recorded"),
        ("deliveries revoked", "deliveries_revoked"),
        (f"non-revoked deliveries recorded late (> {rules.RECORDED_LATE_AFTER_SECONDS // rules.SECONDS_PER_DAY} days after the date they state)",
         "deliveries_recorded_late"),
        ("amendments", "amendments"),
        ("amendments made after the due date then in force", "amendments_after_due_date"),
        ("commitments amended after their due date", "commitments_amended_after_due_date"),
        ("commitments whose target was lowered", "commitments_target_lowered"),
        ("delivered only under relaxed terms", "met_only_under_relaxed_terms"),
        ("historical records (registered after their original due date)", "historical_records"),
        ("admin changes", "admin_changes"),
        ("admin recoveries completed", "admin_recoveries"),
        ("recoveries started / cancelled", None),
        ("pauses", "pauses"),
        ("records signed without the role", "records_signed_without_role"),
        ("batches anchored", "batches_anchored"),
        ("batches verified (file found, SHA-256 and root match the chain)", "batches_verified"),
        ("batched deliveries (leaves of verified batches)", "batched_deliveries"),
        ("batched deliveries counting now", "batched_deliveries_counted"),
        ("batched deliveries revoked", "batched_deliveries_revoked"),
        ("deliveries double counted (asset already counted): count nothing", "deliveries_double_counted"),
        ("counted deliveries confirmed by a second party", "deliveries_confirmed"),
        ("counted deliveries disputed", "deliveries_disputed"),
        ("confirmers", "confirmers"),
        ("sub-commitments", "sub_commitments"),
    ):
        value = f"{totals['recoveries_started']} / {totals['recoveries_cancelled']}" if key is None else str(totals[key])
        facts.add_row(label, value)
    for reason, count in totals["batches_not_verifiable"].items():
        if count:
            facts.add_row(f"batches not verifiable, counting nothing: {reason.replace('_', ' ')}", str(count))
    for reason, count in totals["leaves_refused"].items():
        if count:
            facts.add_row(f"leaves refused: {reason.replace('_', ' ')}", str(count))
    console.print(facts)
    _print_findings(console, report)
    console.print("The ledger is paused: writes are refused." if report["paused"] else "The ledger is not paused.")
    if report["anomalies"]:
        anomalies = Table(title=f"Anomalies in the event stream ({len(report['anomalies'])})")
        anomalies.add_column("Kind")
        anomalies.add_column("Where")
        anomalies.add_column("What")
        for item in report["anomalies"]:
            chain = item["chain"]
            where = f"block {chain['block_number']} log {chain['log_index']}" if chain else ""
            anomalies.add_row(item["kind"], where, item["message"])
        console.print(anomalies)
    else:
        console.print("No anomalies in the event stream.")
    for source in report.get("sources", []):
        follow_up = "" if source.get("follow_up", True) else "; records no follow-up (promises only)"
        console.print(f"[dim]Source {source.get('id', '')} ({source['municipality_code']}, "
                      f"{source.get('commitment_count', 0)} commitments{follow_up}): {source['credit']}[/dim]")


def _abbreviated(value: str) -> str:
    """A long hash as ``0x12345678…abcdef`` for a table cell."""
    return value if len(value) <= 18 else value[:10] + "…" + value[-6:]


def _finding_table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table


def _print_findings(console: Console, report: dict[str, Any]) -> None:
    """Tables of the batches not verifiable, refused leaves, double counts and disputed
    deliveries (only those that have rows)."""
    short = _abbreviated
    tables = (
        ("Batches anchored but not verifiable: they count nothing", ("Root", "Municipality", "Reason", "Leaves", "Block"),
         [(short(b["root"]), str(b["municipality_id"]), b["unverified_reason"], str(b["leaf_count"]),
           str(b["chain"]["block_number"])) for b in report.get("batches_not_verifiable", [])]),
        ("Refused leaves of verified batches: they count nothing", ("Batch", "Leaf", "Commitment", "Quantity", "Reason"),
         [(short(r["batch_root"]), str(r["leaf_index"]), str(r["commitment_id"]), r["quantity"], r["refused_reason"])
          for r in report.get("refused_leaves", [])]),
        ("Double counts: an asset already counted for the commitment", ("Kind", "Delivery", "Commitment", "Asset", "Quantity"),
         [(d["kind"], short(str(d["id"])), str(d["commitment_id"]), d["asset_ref"], d["quantity"])
          for d in report.get("double_counts", [])]),
        ("Disputed deliveries", ("Kind", "Delivery", "Commitment", "Quantity", "Disputed by: reason"),
         [(d["kind"], short(str(d["id"])), str(d["commitment_id"]), d["quantity"],
           "; ".join(f"{x['confirmer'][:10]}…: {x['reason']}" for x in d["disputes"]))
          for d in report.get("disputed_deliveries", [])]),
    )
    for title, columns, rows in tables:
        if rows:
            console.print(_finding_table(f"{title} ({len(rows)})", columns, rows))


def print_comparison(console: Console, comparison: Comparison, api_url: str) -> None:
    """Print the comparison: every difference (id, field, chain value, API value), boundary
    cases and notes."""
    for note in comparison.notes:
        console.print(f"[yellow]Note:[/yellow] {note}")
    if comparison.boundary:
        console.print(
            f"{len(comparison.boundary)} commitment(s) with a due date within ±{comparison.boundary_seconds} s of "
            f"the comparison window: statuses there are boundary cases, not differences "
            f"({', '.join(str(b.commitment_id) for b in comparison.boundary)})."
        )
    if comparison.ok:
        console.print(f"[green]The API at {api_url} agrees with the chain on every compared field.[/green]")
        return
    table = Table(title=f"Differences between the chain and {api_url} ({len(comparison.differences)})")
    table.add_column("Subject")
    table.add_column("Id", justify="right")
    table.add_column("Field")
    table.add_column("Chain")
    table.add_column("API")
    table.add_column("Where")
    for diff in comparison.differences:
        table.add_row(
            diff.subject, "" if diff.id is None else str(diff.id), diff.field, _short(diff.chain), _short(diff.api), diff.where
        )
    console.print(table)
