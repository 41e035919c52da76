"""The replay's JSON report and its rich summary.

Report shape (JSON object; quantities are decimal strings, times Unix seconds with ``*_iso``
twins, block ranges inclusive)::

    {"report_version": 1, "generated_at", "generated_at_iso", "now", "now_iso",
     "chain_id", "contract_address", "from_block", "to_block", "to_block_hash",
     "to_block_time", "head_block", "blocks_scanned", "logs_fetched", "events_replayed",
     "event_counts": {name: n}, "seconds", "owner", "pending_owner",
     "totals": {"municipalities", "commitments", "deliveries_recorded", "deliveries_revoked",
                "status_counts": {status: n}},
     "municipalities": [{"id", "name", "code", "admin", "registrars", "registered",
                         "admin_history", "registrar_history", "commitment_count",
                         "status_counts"}],
     "commitments": [{"id", "municipality_id", "external_ref", "title", "description", "theme",
                      "unit", "target_quantity", "due_date", "due_date_iso",
                      "source_document_sha256", "source_uri", "registrar", "registered_at",
                      "registered", "original", "amendment_count", "amendments", "withdrawn",
                      "withdrawal", "delivered_quantity", "progress_bps", "met_at",
                      "met_at_iso", "status", "deliveries"}],
     "anomalies": [{"kind", "message", "chain"}],
     "comparison": null | {"api_url", "api_health", "api_caught_up", "waited_seconds",
                           "ok", "difference_count", "differences", "boundary",
                           "compared_from", "compared_to", "boundary_seconds", "notes"},
     "sources": [{"municipality_code", "credit"}]}

``status``, ``delivered_quantity``, ``progress_bps`` and ``met_at`` are evaluated at ``now``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ledger.settings import REPO_ROOT
from ledger.sources import load_sources
from scripts.audit.compare import MISSING, Comparison
from scripts.audit.model import Commitment, LedgerState, iso_utc
from scripts.audit.rules import STATUSES, evaluate
from scripts.audit.runner import ReplayResult

SOURCES_DIR = REPO_ROOT / "scripts" / "mappings"

REPORT_VERSION = 1


def status_counts(commitments: list[Commitment], now: int) -> dict[str, int]:
    """Number of ``commitments`` in each status at Unix time ``now`` (all six keys)."""
    counts = {s: 0 for s in STATUSES}
    for commitment in commitments:
        counts[evaluate(commitment, now).status] += 1
    return counts


def commitment_json(commitment: Commitment, now: int) -> dict[str, Any]:
    """One rebuilt commitment with its figures at Unix time ``now`` (report shape)."""
    progress = evaluate(commitment, now)
    original = dict(commitment.original)
    original["target_quantity"] = str(original["target_quantity"])
    return {
        "id": commitment.id,
        "municipality_id": commitment.municipality_id,
        "external_ref": commitment.external_ref,
        "title": commitment.title,
        "description": commitment.description,
        "theme": commitment.theme,
        "unit": commitment.unit,
        "target_quantity": str(commitment.target_quantity),
        "due_date": commitment.due_date,
        "due_date_iso": iso_utc(commitment.due_date),
        "source_document_sha256": commitment.source_document_sha256,
        "source_uri": commitment.source_uri,
        "registrar": commitment.registrar,
        "registered_at": commitment.registered_at,
        "registered": commitment.registered.to_json(),
        "original": original,
        "amendment_count": len(commitment.amendments),
        "amendments": [a.to_json() for a in commitment.amendments],
        "withdrawn": commitment.withdrawn,
        "withdrawal": commitment.withdrawal.to_json() if commitment.withdrawal else None,
        "delivered_quantity": str(progress.delivered_quantity),
        "progress_bps": progress.progress_bps,
        "met_at": progress.met_at,
        "met_at_iso": iso_utc(progress.met_at),
        "status": progress.status,
        "deliveries": [d.to_json() for d in commitment.deliveries],
    }


def _municipalities_json(state: LedgerState, now: int) -> list[dict[str, Any]]:
    rows = []
    for municipality in sorted(state.municipalities.values(), key=lambda m: m.id):
        own = [c for c in state.commitments.values() if c.municipality_id == municipality.id]
        rows.append(
            {
                "id": municipality.id,
                "name": municipality.name,
                "code": municipality.code,
                "admin": municipality.admin,
                "registrars": list(municipality.registrars),
                "registered": municipality.registered.to_json(),
                "admin_history": list(municipality.admin_history),
                "registrar_history": list(municipality.registrar_history),
                "commitment_count": len(own),
                "status_counts": status_counts(own, now),
            }
        )
    return rows


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
    state = result.state
    generated_at = int(time.time()) if generated_at is None else generated_at
    commitments = sorted(state.commitments.values(), key=lambda c: c.id)
    return {
        "report_version": REPORT_VERSION,
        "generated_at": generated_at,
        "generated_at_iso": iso_utc(generated_at),
        "now": now,
        "now_iso": iso_utc(now),
        "chain_id": result.chain_id,
        "contract_address": result.contract_address,
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
        "totals": {
            "municipalities": len(state.municipalities),
            "commitments": len(state.commitments),
            "deliveries_recorded": len(state.deliveries),
            "deliveries_revoked": sum(1 for d in state.deliveries.values() if d.revoked),
            "status_counts": status_counts(commitments, now),
        },
        "municipalities": _municipalities_json(state, now),
        "commitments": [commitment_json(c, now) for c in commitments],
        "anomalies": [a.to_json() for a in state.anomalies],
        "comparison": comparison,
        "sources": _sources_json(state),
    }


def _sources_json(state: LedgerState) -> list[dict[str, str]]:
    """Credits of the data sources behind the replayed municipalities, matched on the
    municipality code in the repository's source mappings (a local file, not our server)."""
    codes = {m.code for m in state.municipalities.values()}
    return [
        {"municipality_code": s.municipality_code, "credit": s.credit}
        for s in load_sources(SOURCES_DIR)
        if s.municipality_code in codes
    ]


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Write ``report`` as indented UTF-8 JSON, creating the parent folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _short(value: Any, width: int = 60) -> str:
    """JSON form (so ``"10"`` and ``10`` look different), cut to ``width`` characters."""
    text = value if value == MISSING else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


def print_summary(console: Console, report: dict[str, Any]) -> None:
    """Print the replay summary: range, counts, municipalities by status, anomalies."""
    totals = report["totals"]
    console.print(
        f"[bold]Ledger[/bold] {report['contract_address']} on chain {report['chain_id']}: "
        f"blocks {report['from_block']}..{report['to_block']} (inclusive, {report['blocks_scanned']} scanned), "
        f"{report['events_replayed']} events replayed in {report['seconds']:.2f} s."
    )
    console.print(f"Statuses evaluated at now = {report['now']} ({report['now_iso']}).")
    table = Table(title="Commitments per municipality by status")
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
            *(str(row["status_counts"][s]) for s in STATUSES),
        )
    table.add_row(
        "", "[bold]all[/bold]", str(totals["commitments"]), *(str(totals["status_counts"][s]) for s in STATUSES)
    )
    console.print(table)
    console.print(
        f"Municipalities: {totals['municipalities']}. Deliveries recorded: {totals['deliveries_recorded']}, "
        f"revoked: {totals['deliveries_revoked']}."
    )
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
        console.print(f"[dim]Source ({source['municipality_code']}): {source['credit']}[/dim]")


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
