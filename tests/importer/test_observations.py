"""Snapshot replay by observations: dates per row, several assessments per row, "no data"
carried forward, ties at the same moment; small CSV files written by each test."""

from __future__ import annotations

import csv
import json

import pytest

from scripts.importer import MappingError, parse_mapping, plan_source
from scripts.importer.report import summary

YEAR_END = {2014: 1420066799, 2015: 1451602799, 2016: 1483225199}  # YYYY-12-31T23:59:59+01:00
MID_TERM, END_TERM = "2015-06-30T23:59:59+02:00", "2016-12-31T23:59:59+01:00"
MID_TERM_S, END_TERM_S = 1435701599, 1483225199
OGP_WORDS = {"Not Started": 0, "Limited": 33, "Substantial": 67, "Complete": 100}
OGP_PROGRESS = {"lookup": {"table": OGP_WORDS, "no_data": ["ND", "NR", "N/A", ""], "ignore_case": True}}
PERCENT_OR_ND = [{"lookup": {"no_data": ["ND"], "otherwise": "keep"}}, "percent"]
YEAR_COLUMN_END = {"column": "jaar", "transforms": [{"date": {"formats": ["%Y"], "period": "end"}}]}


def write_csv(path, header, rows):
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def series_doc(snapshots, **top) -> dict:
    """A ``kind: progress_snapshots`` mapping: items keyed by ``id``, target 100 %, promised
    2012-01-01 in Amsterdam, one delivery ref per snapshot (``{$snapshot}``)."""
    doc = {
        "kind": "progress_snapshots",
        "source": {"id": "test-source", "name": "Test", "publisher": "Tests", "url": "https://example.org", "licence": "none stated"},
        "municipality": {"name": "Testville", "code": "GM9999", "time_zone": "Europe/Amsterdam"},
        "key_column": "id",
        "snapshots": snapshots,
        "commitment": {
            "external_ref": {"column": "id"},
            "title": {"column": "title"},
            "description": {"const": ""},
            "target_quantity": {"const": 100},
            "unit": {"const": "%"},
            "promised_at": {"const": "2012-01-01T00:00:00+01:00"},
            "due_date": {"const": "2030-01-01T00:00:00+01:00"},
        },
        "progress": {"column": "pct", "transforms": PERCENT_OR_ND},
        "delivery": {"external_ref": {"template": "{$snapshot}"}, "evidence_columns": ["title"]},
        "revocation_reason": {"template": "fell from {$from} to {$to} ({$snapshot})"},
    }
    doc.update(top)
    return doc


def deliveries(plan):
    return [(d.commitment_ref, d.external_ref, d.quantity, d.delivered_at) for d in plan.deliveries]


def revocations(plan):
    return [(r.commitment_ref, r.delivery_ref, r.quantity, r.reason) for r in plan.revocations]


def outcomes(plan):
    return [(r.file, r.key, r.outcome, r.reason) for r in plan.report]


# ------------------------------------------------------------------ as_of per row


def test_as_of_read_per_row_orders_the_observations_by_time(tmp_path):
    header = ["id", "title", "jaar", "pct"]
    write_csv(tmp_path / "A.csv", header, [["a", "A", "2014", "40%"], ["b", "B", "2015", "50%"]])
    write_csv(tmp_path / "B.csv", header, [["a", "A", "2016", "70%"], ["b", "B", "2014", "20%"]])
    snapshots = [{"label": "A", "file": "A.csv", "as_of": YEAR_COLUMN_END}, {"label": "B", "file": "B.csv", "as_of": YEAR_COLUMN_END}]
    plan = plan_source(parse_mapping(series_doc(snapshots)), tmp_path)
    assert [op.describe() for op in plan.operations] == [
        "register commitment 'a' (target 100 %)",
        "record delivery 'A' of 40 on commitment 'a'",
        "register commitment 'b' (target 100 %)",  # from B.csv: b's first observation is B's 2014
        "record delivery 'B' of 20 on commitment 'b'",
        "record delivery 'A' of 30 on commitment 'b'",
        "record delivery 'B' of 30 on commitment 'a'",
    ]
    assert deliveries(plan) == [
        ("a", "A", 40, YEAR_END[2014]), ("b", "B", 20, YEAR_END[2014]),
        ("b", "A", 30, YEAR_END[2015]), ("a", "B", 30, YEAR_END[2016]),
    ]
    assert [(r.file, r.key, r.outcome, r.operations) for r in plan.report] == [
        ("A.csv", "a", "planned", (0, 1)), ("A.csv", "b", "planned", (4,)),
        ("B.csv", "a", "planned", (5,)), ("B.csv", "b", "planned", (2, 3)),
    ]
    evidence = json.loads(plan.deliveries[0].evidence_files[0].content)
    assert (evidence["snapshot"], evidence["as_of"], "assessment" in evidence) == ("A", "2014-12-31T23:59:59+01:00", False)


def test_a_per_row_as_of_before_the_promise_makes_that_row_invalid(tmp_path):
    write_csv(tmp_path / "A.csv", ["id", "title", "jaar", "pct"], [["a", "A", "2011", "40%"], ["b", "B", "2014", "40%"]])
    plan = plan_source(parse_mapping(series_doc([{"label": "A", "file": "A.csv", "as_of": YEAR_COLUMN_END}])), tmp_path)
    assert outcomes(plan) == [
        ("A.csv", "a", "invalid", "as_of 2011-12-31T23:59:59+01:00 is before the commitment's promised_at "
                                  "2012-01-01T00:00:00+01:00: progress cannot be measured before the promise was made"),
        ("A.csv", "b", "planned", None),
    ]
    assert deliveries(plan) == [("b", "A", 40, YEAR_END[2014])]
    assert [c.external_ref for c in plan.commitments] == ["a", "b"]  # the commitment itself is fine


def test_an_unreadable_per_row_as_of_makes_the_row_invalid_and_changes_nothing(tmp_path):
    write_csv(tmp_path / "A.csv", ["id", "title", "jaar", "pct"], [["a", "A", "twee", "40%"]])
    plan = plan_source(parse_mapping(series_doc([{"label": "A", "file": "A.csv", "as_of": YEAR_COLUMN_END}])), tmp_path)
    assert outcomes(plan) == [("A.csv", "a", "invalid", "as_of: 'twee' matches none of the date formats ['%Y']")]
    assert plan.operations == ()


def test_a_per_row_year_without_a_date_transform_is_not_taken_for_unix_seconds(tmp_path):
    write_csv(tmp_path / "A.csv", ["id", "title", "jaar", "pct"], [["a", "A", "2014", "40%"]])
    plan = plan_source(parse_mapping(series_doc([{"label": "A", "file": "A.csv", "as_of": {"column": "jaar"}}])), tmp_path)
    assert outcomes(plan) == [("A.csv", "a", "invalid", (
        "as_of: '2014' is not a timestamp with offset; read it with a date transform (e.g. {date: {formats: ['%Y'], period: end}})"
    ))]


def test_two_observations_of_an_item_at_one_moment_the_later_counts_and_the_earlier_warns(tmp_path):
    header = ["id", "title", "jaar", "pct"]
    write_csv(tmp_path / "A.csv", header, [["a", "A", "2014", "40%"]])
    write_csv(tmp_path / "B.csv", header, [["a", "A", "2014", "70%"]])
    snapshots = [{"label": "A", "file": "A.csv", "as_of": YEAR_COLUMN_END}, {"label": "B", "file": "B.csv", "as_of": YEAR_COLUMN_END}]
    plan = plan_source(parse_mapping(series_doc(snapshots)), tmp_path)
    assert deliveries(plan) == [("a", "B", 70, YEAR_END[2014])]
    first, later = plan.report
    assert (first.outcome, later.outcome) == ("planned", "planned")  # A registers, B delivers
    assert first.warnings == (
        "progress 40 is overruled by progress 70 of the same moment 2014-12-31T23:59:59+01:00 (B.csv:2): "
        "the later observation counts",
    )
    assert summary(plan, None)["rows"]["with_warnings"] == 1


# ------------------------------------------------------------------ no data


def test_no_data_carries_progress_forward_without_a_revocation(tmp_path):
    header = ["id", "title", "pct"]
    write_csv(tmp_path / "A.csv", header, [["a", "A", "40%"]])
    write_csv(tmp_path / "B.csv", header, [["a", "A", "ND"]])
    write_csv(tmp_path / "C.csv", header, [["a", "A", "30%"]])
    snapshots = [{"label": label, "file": f"{label}.csv", "as_of": f"{year}-12-31T23:59:59+01:00"}
                 for label, year in (("A", 2014), ("B", 2015), ("C", 2016))]
    plan = plan_source(parse_mapping(series_doc(snapshots)), tmp_path)
    assert outcomes(plan) == [
        ("A.csv", "a", "planned", None),
        ("B.csv", "a", "skipped", 'progress: no data ("ND")'),
        ("C.csv", "a", "planned", None),
    ]
    assert deliveries(plan) == [("a", "A", 40, YEAR_END[2014]), ("a", "C", 30, YEAR_END[2016])]
    assert revocations(plan) == [("a", "A", 40, "fell from 40 to 30 (C)")]  # from 40, not from 0
    s = summary(plan, None)
    assert (s["no_data"], s["skipped_by_reason"]) == ({"rows": 1, "observations": 1}, {'progress: no data ("ND")': 1})


def test_an_item_first_seen_without_data_is_registered_at_zero(tmp_path):
    write_csv(tmp_path / "A.csv", ["id", "title", "pct"], [["a", "A", "ND"]])
    plan = plan_source(parse_mapping(series_doc([{"label": "A", "file": "A.csv", "as_of": "2014-12-31T23:59:59+01:00"}])), tmp_path)
    (row,) = plan.report
    assert (row.outcome, row.reason, row.no_data) == ("planned", None, ('progress: no data ("ND")',))
    assert [op.describe() for op in plan.operations] == ["register commitment 'a' (target 100 %)"]


# ------------------------------------------------------------------ several assessments per row (OGP style)

OGP_HEADER = ["id", "title", "mid", "end"]


def ogp_doc(**top) -> dict:
    """An Open Government Partnership style file: each commitment's completion rated at mid-term
    and at the end of term, in words, ``ND`` where the report has no rating."""
    doc = series_doc(
        [{"label": "irm", "file": "irm.csv"}],
        assessments=[
            {"label": "mid", "progress": {"column": "mid", "transforms": [OGP_PROGRESS]}, "as_of": MID_TERM},
            {"label": "end", "progress": {"column": "end", "transforms": [OGP_PROGRESS]}, "as_of": END_TERM},
        ],
        delivery={"external_ref": {"template": "{$snapshot}-{$assessment}"}, "evidence_columns": ["title"]},
        revocation_reason={"template": "{$assessment}: fell from {$from}% to {$to}%"},
    )
    del doc["progress"]
    doc.update(top)
    return doc


@pytest.fixture()
def ogp_plan(tmp_path):
    write_csv(tmp_path / "irm.csv", OGP_HEADER, [
        ["a", "Open budget", "Limited", "Complete"],
        ["b", "Open contracts", "Substantial", "limited"],
        ["c", "Open data", "ND", "Substantial"],
        ["d", "Open meetings", "Limited", "ND"],
        ["e", "Open registers", "ND", "N/A"],
        ["f", "Open archives", "Not Started", "Not Started"],
    ])
    doc = ogp_doc()
    return plan_source(parse_mapping(doc), tmp_path)


def test_two_assessments_in_one_row_are_two_observations(ogp_plan):
    assert deliveries(ogp_plan) == [
        ("a", "irm-mid", 33, MID_TERM_S),
        ("b", "irm-mid", 67, MID_TERM_S),
        ("d", "irm-mid", 33, MID_TERM_S),
        ("a", "irm-end", 67, END_TERM_S),
        ("b", "irm-end", 33, END_TERM_S),  # 67 → 33: the mid-term delivery revoked, 33 delivered again
        ("c", "irm-end", 67, END_TERM_S),
    ]
    assert revocations(ogp_plan) == [("b", "irm-mid", 67, "end: fell from 67% to 33%")]


def test_the_words_and_no_data_of_an_ogp_file_are_reported_row_by_row(ogp_plan):
    assert [(r.key, r.outcome, r.reason, r.no_data) for r in ogp_plan.report] == [
        ("a", "planned", None, ()),
        ("b", "planned", None, ()),
        ("c", "planned", None, ('assessments.mid.progress: no data ("ND")',)),
        ("d", "planned", None, ('assessments.end.progress: no data ("ND")',)),  # 33 carried forward
        ("e", "planned", None, ('assessments.mid.progress: no data ("ND")', 'assessments.end.progress: no data ("N/A")')),
        ("f", "planned", None, ()),  # registered; 0 % is no delivery
    ]
    assert [c.external_ref for c in ogp_plan.commitments] == ["a", "b", "c", "d", "e", "f"]
    assert summary(ogp_plan, None)["no_data"] == {"rows": 3, "observations": 4}


def test_an_assessment_delivery_names_its_assessment_in_the_evidence(ogp_plan):
    d = next(d for d in ogp_plan.deliveries if (d.commitment_ref, d.external_ref) == ("a", "irm-end"))
    assert json.loads(d.evidence_files[0].content) == {
        "id": "a", "title": "Open budget", "progress": 100, "previous_progress": 33, "quantity": 67, "unit": "%",
        "snapshot": "irm", "assessment": "end", "as_of": END_TERM, "credit": ogp_plan.mapping.source.credit,
    }
    assert d.evidence_files[0].filename == "GM9999-a-irm-end.json"


def test_an_unknown_word_skips_the_whole_row(tmp_path):
    write_csv(tmp_path / "irm.csv", OGP_HEADER, [["a", "Open budget", "Limited", "Partial"]])
    doc = ogp_doc()
    plan = plan_source(parse_mapping(doc), tmp_path)
    assert outcomes(plan) == [("irm.csv", "a", "skipped", (
        "malformed progress (assessments.end.progress: 'Partial' is not in the lookup table "
        "(known: ['Not Started', 'Limited', 'Substantial', 'Complete']; no data: ['ND', 'NR', 'N/A', '']))"
    ))]
    assert plan.operations == ()


def test_assessments_in_batch_mode_make_one_batch_each(tmp_path):
    write_csv(tmp_path / "irm.csv", OGP_HEADER, [["a", "Open budget", "Limited", "Complete"], ["b", "Open data", "ND", "Limited"]])
    doc = ogp_doc(deliveries={"mode": "batch"})
    plan = plan_source(parse_mapping(doc), tmp_path)
    assert [(b.label, b.leaf_count) for b in plan.batches] == [("irm/mid", 1), ("irm/end", 2)]


def test_an_assessment_may_read_its_date_per_row(tmp_path):
    write_csv(tmp_path / "irm.csv", ["id", "title", "mid", "mid_date", "end"], [
        ["a", "Open budget", "Limited", "Q2 2015", "ND"],
        ["b", "Open data", "Limited", "Q5 2015", "Complete"],
    ])
    doc = ogp_doc()
    doc["assessments"][0]["as_of"] = {"column": "mid_date", "transforms": [{"date": {"formats": ["quarter"], "period": "end"}}]}
    plan = plan_source(parse_mapping(doc), tmp_path)
    assert deliveries(plan) == [("a", "irm-mid", 33, MID_TERM_S)]  # 2015-06-30T23:59:59+02:00
    assert outcomes(plan)[1] == (
        "irm.csv", "b", "invalid", "assessments.mid.as_of: 'Q5 2015' matches none of the date formats ['quarter']"
    )


# ------------------------------------------------------------------ load-time checks


def problems_of(doc) -> list[str]:
    with pytest.raises(MappingError) as info:
        parse_mapping(doc)
    return info.value.problems


def test_several_assessments_need_the_assessment_in_the_delivery_ref():
    doc = ogp_doc(delivery={"external_ref": {"template": "{$snapshot}"}, "evidence_columns": ["title"]})
    assert problems_of(doc) == [
        "<root>: delivery.external_ref: snapshot 'irm' reads 2 assessments from each row; use {$assessment} in its "
        'template (e.g. "{$snapshot}-{$assessment}") so each gets its own delivery ref'
    ]


def test_progress_beside_assessments_for_every_snapshot_is_refused():
    assert problems_of(ogp_doc(progress={"column": "mid"})) == [
        "<root>: progress: every snapshot reads assessments instead; remove progress"
    ]


def test_a_snapshot_without_as_of_is_refused():
    assert problems_of(series_doc([{"label": "A", "file": "A.csv"}])) == [
        "<root>: snapshots.0.as_of: missing (a timestamp with offset, or a field read per row)"
    ]


def test_assessment_context_is_only_known_with_assessments():
    doc = series_doc([{"label": "A", "file": "A.csv", "as_of": MID_TERM}])
    doc["delivery"]["external_ref"] = {"template": "{$snapshot}-{$assessment}"}
    assert problems_of(doc) == [
        "<root>: delivery.external_ref: unknown context name(s) ['$assessment']; allowed here: "
        "['$as_of', '$from', '$snapshot', '$to']"
    ]


def test_a_constant_assessment_date_before_the_promise_is_refused():
    doc = ogp_doc()
    doc["assessments"][0]["as_of"] = "2011-06-30T23:59:59+02:00"
    assert problems_of(doc) == [
        "<root>: snapshots ['irm/mid'] are dated before commitment.promised_at 2012-01-01T00:00:00+01:00: "
        "progress cannot be measured before the promise was made"
    ]
