"""The JSON report of a run: header (source credit, what is not imported, documented choices),
summary counts, and one entry per CSV row with the results of its operations.

The CLI rewrites it as the run goes (`write_report`: a temporary file then ``os.replace``, so
a reader or a kill never sees half a file): ``"complete": false`` while running, with the
operations not settled yet as ``"outcome": "planned"``; ``"complete": true`` at the end. A run
that stopped (consecutive failures), was interrupted (SIGINT, SIGTERM) or crashed leaves
``"complete": false, "interrupted": true`` and ``"interruption": {"reason", "detail",
"at"}`` (``reason``: ``consecutive-failures``, ``sigint``, ``sigterm`` or ``crash``).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from collections.abc import Iterable
from dataclasses import dataclass, fields
from zoneinfo import ZoneInfo

from .apply import ApplyResult
from .plan import Plan, ReportRow

REPORT_VERSION = 7  # 7: each operation's "values" (what it will write, dates also in the issuer's zone); 2: promised_at; each operation names its transaction ("tx" written now, "recorded_in" earlier); 3: anchored batches; 4: complete, interrupted, interruption, progress; 5: rows' no_data, summary.no_data; 6: re-imports (an operation's "amendment" and "differences", summary "reimport")


MAX_MALFORMED_SHARE = 0.10
"""Default ``--max-malformed-share``: above this share of invalid or malformed rows among the
rows the mapping did not skip by a rule, the mapping is taken to be wrong (exit 5) and nothing
is written. 10 %: of the two real sources, Baarn has 0 of 131 and Chile 0 of 648 such rows; a
mapping pointed at the wrong column or date format typically makes every row fail, while a
source with a few broken rows (a stray summary line, a typo in a date) stays well under it."""


@dataclass(frozen=True)
class Verdict:
    """Whether the plan looks like a working mapping (:func:`verdict`).

    Attributes:
        considered: rows not skipped by a skip rule.
        not_readable: of those, rows ``invalid`` or ``malformed``.
        importable: rows ``planned`` or ``unchanged`` (something the ledger holds or will).
        max_share: the threshold used (0..1).
    """

    considered: int
    not_readable: int
    importable: int
    max_share: float

    @property
    def share(self) -> float:
        """``not_readable / considered`` (0 when nothing is considered)."""
        return self.not_readable / self.considered if self.considered else 0.0

    @property
    def nothing_importable(self) -> bool:
        """No row gives anything to import."""
        return self.importable == 0

    @property
    def too_many_malformed(self) -> bool:
        """More than ``max_share`` of the considered rows are invalid or malformed."""
        return self.share > self.max_share

    @property
    def mapping_looks_wrong(self) -> bool:
        """Exit 5: nothing importable, or too many invalid or malformed rows."""
        return self.nothing_importable or self.too_many_malformed

    def explain(self) -> str:
        """One sentence for the console and the report."""
        if self.nothing_importable:
            return (f"nothing could be imported: 0 of {self.considered} rows (not skipped by a rule) gave a "
                    f"commitment, delivery or unchanged item; {self.not_readable} were invalid or malformed")
        return (f"{self.not_readable} of {self.considered} rows ({self.share:.0%}) are invalid or malformed, more than "
                f"--max-malformed-share {self.max_share:.0%}")

    def as_json(self) -> dict[str, Any]:
        return {"considered": self.considered, "not_readable": self.not_readable, "importable": self.importable,
                "share": round(self.share, 4), "max_share": self.max_share,
                "mapping_looks_wrong": self.mapping_looks_wrong}


def verdict(reports: Iterable[ReportRow], max_share: float = MAX_MALFORMED_SHARE) -> Verdict:
    """Judge a plan's report rows (every issuer's, and the rows that named none).

    Args:
        reports: report rows.
        max_share: the largest acceptable share of invalid or malformed rows (0..1).
    """
    considered = not_readable = importable = 0
    for row in reports:
        if row.outcome == "skipped" and not row.malformed:
            continue
        considered += 1
        if row.outcome == "invalid" or row.malformed:
            not_readable += 1
        elif row.outcome in ("planned", "unchanged"):
            importable += 1
    return Verdict(considered, not_readable, importable, max_share)


def count_warnings(plan: Plan, result: ApplyResult | None, ledger: dict[str, Any] | None = None) -> dict[str, int]:
    """Every warning of a run, counted: ``{"rows": row warnings, "operations": warnings on
    operation results, "run": the run's own (``ledger["warnings"]``), "total"}``."""
    by_index = result.by_index() if result else {}
    rows = sum(len(r.warnings) for r in plan.report)
    operations = sum(len(res.warnings) for res in by_index.values())
    run = len((ledger or {}).get("warnings") or [])
    return {"rows": rows, "operations": operations, "run": run, "total": rows + operations + run}


def summary(plan: Plan, result: ApplyResult | None, ledger: dict[str, Any] | None = None) -> dict[str, Any]:
    """Counts for humans and machines.

    Returns:
        ``{"planned": {commitments, deliveries, revocations}, "applied": {kind: {outcome: n}}
        | None, "rows": {planned, unchanged, skipped, invalid, cleaned, with_warnings},
        "skipped_by_reason": {reason: n}, "cleaned_by_reason": {reason: n},
        "no_data": {"rows", "observations"},
        "failed_rows": n, "transactions": {"count", "gas_used", "operations"} | None,
        "deliveries_mode": "per_delivery" | "batch", "batches": {"planned": [{"label",
        "leaf_count"}], "sent": {outcome: n} | None}, "reimport": {"amended", "would_amend",
        "amendment_failed", "rows_with_differences", "differences_by_field": {field: n}} |
        None}``; ``transactions`` counts the mined transactions this run sent, their total gas
        and the operations they carried (an anchored batch: one transaction carrying its
        leaves; an amendment: one carrying one); ``failed_rows`` counts refused amendments too;
        ``no_data`` counts the snapshot rows with an observation that had no data and those
        observations (progress carried forward; a row with nothing else is also counted in
        ``skipped_by_reason``).
    """
    counts = plan.counts()
    cleaned_by_reason: dict[str, int] = {}
    for row in plan.report:
        for reason in sorted({c.reason for c in row.cleaned}):
            cleaned_by_reason[reason] = cleaned_by_reason.get(reason, 0) + 1
    failed_ops = {r.index for r in result.failed} if result else set()
    failed_rows = sum(
        1 for row in plan.report if row.outcome == "invalid" or any(i in failed_ops for i in row.operations)
    )
    return {
        "planned": {k: counts[k] for k in ("commitments", "deliveries", "revocations")},
        "applied": result.counts(plan) if result else None,
        "rows": {
            **{k: counts[k] for k in ("rows", "planned", "unchanged", "skipped", "invalid", "malformed", "cleaned")},
            "with_warnings": sum(1 for r in plan.report if r.warnings),
        },
        "warnings": count_warnings(plan, result, ledger),
        "skipped_by_reason": plan.skipped_by_reason(),
        "cleaned_by_reason": cleaned_by_reason,
        "no_data": {
            "rows": sum(1 for r in plan.report if r.no_data),
            "observations": sum(len(r.no_data) for r in plan.report),
        },
        "failed_rows": failed_rows,
        "transactions": _transactions(result),
        "deliveries_mode": getattr(getattr(plan.mapping, "deliveries", None), "mode", "per_delivery"),
        "batches": {
            "planned": [{"label": b.label, "leaf_count": b.leaf_count} for b in plan.batches],
            "sent": None if result is None else {
                outcome: sum(1 for b in result.batches if b.outcome == outcome)
                for outcome in ("done", "already_present", "would_do", "failed")
            },
        },
        "reimport": _reimport(result),
    }


def _reimport(result: ApplyResult | None) -> dict[str, Any] | None:
    if result is None:
        return None
    amendments = [r.amendment for r in result.results if r.amendment is not None]
    by_field: dict[str, int] = {}
    for r in result.differing:
        for d in r.differences:
            by_field[d.field] = by_field.get(d.field, 0) + 1
    return {
        **{key: sum(1 for a in amendments if a.outcome == outcome)
           for key, outcome in (("amended", "amended"), ("would_amend", "would_amend"), ("amendment_failed", "failed"))},
        "rows_with_differences": len(result.differing),
        "differences_by_field": dict(sorted(by_field.items())),
    }


def _transactions(result: ApplyResult | None) -> dict[str, int] | None:
    if result is None:
        return None
    txs = result.transactions()
    return {
        "count": len(txs),
        "gas_used": sum(tx.gas_used or 0 for tx in txs),
        "operations": sum(tx.operations for tx in txs),
    }


DATE_FIELDS = ("promised_at", "due_date", "delivered_at")
"""Unix-seconds fields of an operation that the report also writes as RFC 3339 in the issuer's
time zone, so a dry run shows whether a date was read as meant."""


def operation_values(op: Any, time_zone: str) -> dict[str, Any]:
    """What an operation will write, for a reader of the report: a registration's body as sent
    (`RegisterCommitment.payload`), a delivery's quantity, date, note, links and evidence file
    hashes, a revocation's quantity and reason; each date of :data:`DATE_FIELDS` also as
    ``<name>_iso`` in ``time_zone``."""
    if hasattr(op, "payload"):
        values: dict[str, Any] = dict(op.payload())
    else:
        values = {f.name: getattr(op, f.name) for f in fields(op) if f.name not in ("row", "evidence_files")}
        files = getattr(op, "evidence_files", ())
        if files:
            values["evidence_sha256"] = [f.sha256 for f in files]
    zone = ZoneInfo(time_zone)
    for name in DATE_FIELDS:
        if isinstance(values.get(name), int):
            values[f"{name}_iso"] = datetime.fromtimestamp(values[name], zone).isoformat()
    return values


def build_report(
    plan: Plan,
    result: ApplyResult | None,
    *,
    mapping_path: str,
    data_dir: str,
    api_url: str | None,
    dry_run: bool,
    ledger: dict[str, Any] | None = None,
    batch_size: int | None = None,
    complete: bool = True,
    interruption: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole report as a JSON-ready dict (see module docstring).

    Args:
        plan: the plan.
        result: the applier's result, or None if the ledger was not reached.
        mapping_path, data_dir, api_url: echoed in the header.
        dry_run: whether nothing was written.
        ledger: what the run learnt about the ledger (municipality, health), if anything.
        batch_size: operations per transaction asked for (``--batch-size``), echoed.
        complete: False while the run goes on, or when it ended early.
        interruption: why it ended early (``{"reason", "detail", "at"}``), None otherwise.
    """
    m = plan.mapping
    zone = m.issuer.time_zone
    by_index = result.by_index() if result else {}
    rows = []
    for row in plan.report:
        entry = row.model_dump(mode="json", exclude={"operations"})
        entry["operations"] = []
        for i in row.operations:
            op = plan.operations[i]
            res = by_index.get(i)
            entry["operations"].append(
                {
                    "operation": op.describe(),
                    "values": operation_values(op, zone),
                    "batch": getattr(op, "batch", None),
                    "outcome": res.outcome if res else "planned",
                    "ledger_id": res.ledger_id if res else None,
                    "detail": res.detail if res else None,
                    "problem": res.problem if res else None,
                    "warnings": list(res.warnings) if res else [],
                    "tx": res.tx.as_json() if res and res.tx else None,
                    "recorded_in": res.recorded_in.as_json() if res and res.recorded_in else None,
                    "amendment": res.amendment.as_json() if res and res.amendment else None,
                    "differences": [d.as_json() for d in res.differences] if res else [],
                }
            )
        rows.append(entry)
    settled = sum(1 for row in plan.report if row.operations and all(i in by_index for i in row.operations))
    return {
        "report_version": REPORT_VERSION,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "complete": complete,
        "interrupted": interruption is not None,
        "interruption": interruption,
        "progress": {
            "rows_with_operations": sum(1 for row in plan.report if row.operations),
            "rows_settled": settled,
            "operations": len(plan.operations),
            "operations_settled": len(by_index),
        },
        "mapping": mapping_path,
        "kind": m.kind,
        "data_dir": data_dir,
        "files": m.files(),
        "api": api_url,
        "dry_run": dry_run,
        "batch_size": batch_size,
        "source": {**m.source.model_dump(mode="json"), "credit": m.source.credit},
        "municipality": m.municipality.model_dump(mode="json"),
        "not_imported": [n.model_dump(mode="json") for n in m.not_imported],
        "deliveries": m.deliveries.model_dump(mode="json") if hasattr(m, "deliveries") else None,
        "notes": list(m.notes),
        "ledger": ledger,
        "summary": summary(plan, result, ledger),
        "batches": [b.as_json() for b in result.batches] if result else [],
        "rows": rows,
    }


def write_report(report: dict[str, Any], path: Path) -> None:
    """Write the report as UTF-8 JSON (indented, keys in insertion order), atomically: to
    ``<path>.tmp`` in the same directory, then ``os.replace`` over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
