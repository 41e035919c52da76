"""The replay report file (``scripts.audit.report.write_report``): UTF-8 JSON indented by two
spaces, the same text the standard library writes, and the same layout when a value is an
integer beyond 64 bits (which the fast encoder refuses); and statuses kept while a report is
built (``scripts.audit.rules.kept_evaluations``) are those evaluated afresh."""

from __future__ import annotations

import json
from pathlib import Path

from scripts.audit import rules
from scripts.audit.report import write_report

REPORT = {"report_version": 3, "name": "Gemeente Baarn — ĳs", "seconds": 1.25, "totals": {"commitments": 2, "status_counts": {"delivered": 1}},
          "commitments": [{"id": 1, "deliveries": [], "withdrawal": None, "withdrawn": False}], "empty": {}}


def test_the_report_is_the_standard_librarys_indented_json(tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.json"
    write_report(path, REPORT)
    assert path.read_text(encoding="utf-8") == json.dumps(REPORT, indent=2, ensure_ascii=False) + "\n"


def test_an_integer_beyond_64_bits_is_written_in_the_same_layout(tmp_path: Path) -> None:
    report = {**REPORT, "huge": 2**200, "negative": -(2**70)}
    path = tmp_path / "report.json"
    write_report(path, report)
    assert path.read_text(encoding="utf-8") == json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    assert json.loads(path.read_text(encoding="utf-8"))["huge"] == 2**200


def test_kept_evaluations_answer_what_a_fresh_evaluation_answers(monkeypatch) -> None:
    calls: list[tuple[object, int]] = []

    def fake(commitment: object, now: int) -> tuple[object, int]:
        calls.append((commitment, now))
        return (commitment, now)

    monkeypatch.setattr(rules, "_evaluate", fake)
    a, b = object(), object()
    with rules.kept_evaluations():
        with rules.kept_evaluations():  # nested: the outer block's evaluations
            assert rules.evaluate(a, 10) == (a, 10)
        assert [rules.evaluate(a, 10), rules.evaluate(b, 10), rules.evaluate(a, 11), rules.evaluate(a, 10)] == [
            (a, 10), (b, 10), (a, 11), (a, 10)]
    assert calls == [(a, 10), (b, 10), (a, 11)]
    rules.evaluate(a, 10)  # outside: evaluated again
    assert calls[-1] == (a, 10) and len(calls) == 4
