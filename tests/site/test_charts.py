"""Server-drawn SVG charts (frontend/charts.py): exact step lines, the yearly table, the empty
and never-met cases, escaping and cutting of hostile or long texts, unique ids, and the
accessibility promises (title and desc, contrast, dash patterns, text size)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

import pytest

from frontend import charts
from frontend.charts import ChartLabels, Step, YearRow

SVG = "{http://www.w3.org/2000/svg}"
DAY = 86_400


def ts(iso: str) -> int:
    """``2024-01-01`` or ``2024-01-01T12:00:00+00:00`` as Unix seconds (UTC when no offset)."""
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp())


def iso_date(seconds: int) -> str:
    """The UTC date of ``seconds``; beyond year 9999 (which the contract allows) the seconds."""
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc).date().isoformat()
    except ValueError:
        return str(seconds)


def labels(**overrides: object) -> ChartLabels:
    texts = {
        "municipality_title": "Commitments due and met over time",
        "municipality_summary": "{due} of {total} due by {date}; {met} met as stated, {met_on_record} on chain; last due {last_due_date}.",
        "empty": "No commitments yet.",
        "due": "Due by then",
        "met": "Met by then, as stated",
        "met_on_record": "Met by then, as recorded on chain",
        "today": "today",
        "commitment_title": "Delivered quantity over time",
        "commitment_summary": "{delivered} of {target} {unit} delivered by {date}; {recorded} on chain. Due {due_date}.",
        "commitment_amended_summary": "Originally {original_target} {unit} by {original_due_date}.",
        "delivered": "Delivered, by stated date",
        "recorded": "Delivered, as recorded on chain",
        "target": "Target: {target} {unit}",
        "original_target": "Original target: {target} {unit}",
        "due_date": "due",
        "original_due_date": "originally due",
    }
    texts.update(overrides)
    return ChartLabels(
        **texts,
        format_date=iso_date,
        format_number=lambda n: f"{n:,}",
    )


def row(cid: int, *, promised: str, due: str, met: str | None = None, met_on_record: str | None = None,
        withdrawn: bool = False) -> dict:
    return {
        "id": cid, "municipality_id": 1, "due_date": ts(due), "original_due_date": ts(due),
        "promised_at": ts(promised), "registered_at": ts(promised) + DAY,
        "met_at": ts(met) if met else None, "met_on_record_at": ts(met_on_record) if met_on_record else None,
        "withdrawn": withdrawn, "withdrawn_at": None, "status": "pending", "status_on_record": "pending",
    }


THREE = [
    row(1, promised="2022-01-01", due="2023-06-01", met="2023-03-01", met_on_record="2023-04-01"),
    row(2, promised="2022-01-01", due="2024-06-01", met="2024-08-01", met_on_record="2025-01-01"),
    row(3, promised="2022-02-01", due="2024-06-01"),
    row(4, promised="2021-01-01", due="2022-01-01", met="2021-06-01", met_on_record="2021-06-01", withdrawn=True),
]
NOW = ts("2025-06-01")


def parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg))


def path_vertices(d: str) -> list[tuple[float, float]]:
    """The corners of a path made of ``M x y``, ``H x``, ``V y`` and ``h``/``v`` commands."""
    tokens = re.findall(r"[MHVhv]|-?\d+(?:\.\d+)?", d)
    points: list[tuple[float, float]] = []
    x = y = 0.0
    i = 0
    while i < len(tokens):
        cmd = tokens[i]
        if cmd == "M":
            x, y = float(tokens[i + 1]), float(tokens[i + 2])
            i += 3
        else:
            value = float(tokens[i + 1])
            x, y = {"H": (value, y), "V": (x, value), "h": (x + value, y), "v": (x, y + value)}[cmd]
            i += 2
        points.append((x, y))
    return points


def lines_of(root: ET.Element, css_class: str) -> list[ET.Element]:
    return [e for e in root.iter(f"{SVG}path") if css_class in e.get("class", "").split()]


def texts_of(root: ET.Element, css_class: str) -> list[str]:
    return [e.text or "" for e in root.iter(f"{SVG}text") if css_class in e.get("class", "").split()]


def scale(root: ET.Element) -> tuple[float, float, float, float]:
    """``(x of the start, x of the end, y of 0, y per unit)`` read from the drawn grid: the
    axis spans start..end, the lowest grid line is 0, the next one the first tick value."""
    grid = sorted({path_vertices(e.get("d"))[0][1] for e in lines_of(root, "chart-grid")}, reverse=True)
    axis = path_vertices(lines_of(root, "chart-axis")[0].get("d"))
    ticks = [int(t.replace(",", "")) for t in texts_of(root, "chart-tick-label") if t.replace(",", "").isdigit()
             and len(t) < 8]
    step = sorted(set(ticks))[1]
    return axis[0][0], axis[1][0], grid[0], (grid[0] - grid[1]) / step


def step_points(root: ET.Element, css_class: str, start: int, end: int) -> list[tuple[int, int]]:
    """The (Unix seconds, value) corners of a step line, read back from its path (to the day)."""
    x0, x1, y0, per_unit = scale(root)
    corners = []
    for x, y in path_vertices(lines_of(root, css_class)[0].get("d")):
        at = start + (x - x0) / (x1 - x0) * (end - start)
        corners.append((round(at / DAY), round((y0 - y) / per_unit)))
    return corners


# ---------------------------------------------------------------------------- series


def test_cumulative_steps_sum_weights_per_distinct_time_and_skip_missing_times():
    assert charts.cumulative_steps([(30, 1), (10, 2), (None, 5), (30, 4)]) == (Step(10, 2), Step(30, 7))
    assert charts.cumulative_steps([]) == ()


def test_value_at_is_inclusive_and_zero_before_the_first_step():
    steps = (Step(10, 2), Step(30, 7))
    assert [charts.value_at(steps, t) for t in (9, 10, 29, 30, 99)] == [0, 2, 2, 7, 7]


def test_municipality_series_counts_each_line_exactly_and_leaves_withdrawn_out():
    s = charts.municipality_series(THREE, now=NOW)
    assert s.total == 3
    assert s.start == ts("2022-01-01") and s.end == NOW and s.now == NOW
    assert s.last_due_date == ts("2024-06-01")
    assert s.due == (Step(ts("2023-06-01"), 1), Step(ts("2024-06-01"), 3))
    assert s.met == (Step(ts("2023-03-01"), 1), Step(ts("2024-08-01"), 2))
    assert s.met_on_record == (Step(ts("2023-04-01"), 1), Step(ts("2025-01-01"), 2))


def test_municipality_series_axis_reaches_the_latest_due_date_after_now():
    s = charts.municipality_series([row(1, promised="2022-01-01", due="2030-01-01")], now=NOW)
    assert (s.start, s.end) == (ts("2022-01-01"), ts("2030-01-01"))


def test_municipality_series_is_none_when_every_commitment_is_withdrawn():
    assert charts.municipality_series([], now=NOW) is None
    assert charts.municipality_series([THREE[3]], now=NOW) is None


def test_municipality_table_gives_cumulative_counts_at_each_year_end():
    assert charts.municipality_table(THREE, now=NOW) == [
        YearRow(2022, ts("2023-01-01") - 1, 0, 0, 0),
        YearRow(2023, ts("2024-01-01") - 1, 1, 1, 1),
        YearRow(2024, ts("2025-01-01") - 1, 3, 2, 1),
        YearRow(2025, ts("2026-01-01") - 1, 3, 2, 2),
    ]


def test_municipality_table_counts_on_the_calendar_of_the_given_time_zone():
    # 2024-01-01 02:59:59 UTC is still 31 December 2023 in Santiago (UTC-3 in summer).
    met = "2024-01-01T02:59:59+00:00"
    rows = [row(1, promised="2023-06-01", due="2024-06-01", met=met, met_on_record=met)]
    utc = charts.municipality_table(rows, now=ts("2024-07-01"))
    santiago = charts.municipality_table(rows, now=ts("2024-07-01"), time_zone="America/Santiago")
    assert [(r.year, r.met) for r in utc] == [(2023, 0), (2024, 1)]
    assert [(r.year, r.met) for r in santiago] == [(2023, 1), (2024, 1)]
    assert santiago[0].through == ts("2024-01-01T00:00:00-03:00") - 1


YEAR_10000 = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc).timestamp()) + 1


def test_a_due_date_in_year_10000_draws_and_keeps_the_table_short():
    far = row(2, promised="2022-01-01", due="2024-01-01")
    far["due_date"] = YEAR_10000 + 30 * DAY
    rows = [row(1, promised="2022-01-01", due="2024-01-01"), far]
    assert charts.municipality_table(rows, now=NOW) == [
        YearRow(2022, ts("2023-01-01") - 1, 0, 0, 0),
        YearRow(2024, ts("2025-01-01") - 1, 1, 0, 0),
        YearRow(2025, ts("2026-01-01") - 1, 1, 0, 0),
        YearRow(10000, YEAR_10000 + 365 * DAY - 1, 2, 0, 0),
    ]
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):
        assert charts.municipality_table(rows, now=NOW, time_zone=zone)[-1].due == 2
    root = parse(charts.municipality_chart(rows, now=NOW, labels=labels(time_zone="Pacific/Kiritimati"),
                                           lang_code="en", id_prefix="far"))
    years = [t for t in texts_of(root, "chart-tick-label") if len(t) >= 4]
    assert years == ["4000", "6000", "8000", "10000"]
    assert root.find(f"{SVG}desc").text == f"1 of 2 due by 2025-06-01; 0 met as stated, 0 on chain; last due {YEAR_10000 + 30 * DAY}."


def test_municipality_table_is_empty_without_commitments():
    assert charts.municipality_table([], now=NOW) == []


def test_commitment_series_sums_quantities_by_stated_and_by_recording_time():
    points = [
        {"quantity": 40, "delivered_at": 100, "recorded_at": 500, "kind": "recorded"},
        {"quantity": 60, "delivered_at": 300, "recorded_at": 500, "kind": "batched"},
    ]
    s = charts.commitment_series(points, target=200, original_target=250, due_date=900, original_due_date=800,
                                 promised_at=50, now=600)
    assert s.delivered == (Step(100, 40), Step(300, 100))
    assert s.recorded == (Step(500, 100),)
    assert (s.start, s.end, s.target, s.original_target) == (50, 900, 200, 250)


def test_nice_scale_is_exact_for_quantities_beyond_float_precision():
    assert charts._nice_scale(131) == (50, 150)
    assert charts._nice_scale(216) == (50, 250)
    assert charts._nice_scale(0) == (1, 1)
    assert charts._nice_scale(3) == (1, 3)
    big = 10**19 + 1
    assert charts._nice_scale(big) == (5 * 10**18, 15 * 10**18)


# ---------------------------------------------------------------------------- the municipality chart


def test_municipality_chart_is_well_formed_svg_with_title_and_desc():
    svg = charts.municipality_chart(THREE, now=NOW, labels=labels(), lang_code="en", id_prefix="mc")
    root = parse(svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "img" and root.get("lang") == "en" and root.get("width") == "100%"
    assert root.get("aria-labelledby") == "mc-title mc-desc"
    assert root.find(f"{SVG}title").get("id") == "mc-title"
    assert root.find(f"{SVG}title").text == "Commitments due and met over time"
    desc = root.find(f"{SVG}desc")
    assert desc.get("id") == "mc-desc"
    assert desc.text == "3 of 3 due by 2025-06-01; 2 met as stated, 2 on chain; last due 2024-06-01."
    assert texts_of(root, "chart-legend-label") == ["Due by then", "Met by then, as stated",
                                                    "Met by then, as recorded on chain"]
    assert texts_of(root, "chart-marker-label") == ["today"]


def test_municipality_chart_step_lines_have_the_exact_corners():
    root = parse(charts.municipality_chart(THREE, now=NOW, labels=labels(), lang_code="en", id_prefix="mc"))
    start, end = ts("2022-01-01"), NOW
    d = lambda iso: round(ts(iso) / DAY)  # noqa: E731
    assert step_points(root, "chart-due", start, end) == [
        (d("2022-01-01"), 0), (d("2023-06-01"), 0), (d("2023-06-01"), 1), (d("2024-06-01"), 1),
        (d("2024-06-01"), 3), (d("2025-06-01"), 3)]
    assert step_points(root, "chart-met", start, end) == [
        (d("2022-01-01"), 0), (d("2023-03-01"), 0), (d("2023-03-01"), 1), (d("2024-08-01"), 1),
        (d("2024-08-01"), 2), (d("2025-06-01"), 2)]
    assert step_points(root, "chart-met-on-record", start, end) == [
        (d("2022-01-01"), 0), (d("2023-04-01"), 0), (d("2023-04-01"), 1), (d("2025-01-01"), 1),
        (d("2025-01-01"), 2), (d("2025-06-01"), 2)]


def test_municipality_chart_has_year_ticks_integer_y_ticks_and_a_today_marker_at_now():
    root = parse(charts.municipality_chart(THREE, now=NOW, labels=labels(), lang_code="en", id_prefix="mc"))
    ticks = texts_of(root, "chart-tick-label")
    assert ticks == ["2023", "2024", "2025", "0", "1", "2", "3"]
    x0, x1, _, _ = scale(root)
    today = path_vertices(lines_of(root, "chart-today")[0].get("d"))
    assert today[0][0] == pytest.approx(x1)  # now is the end of this axis
    year_x = [path_vertices(e.get("d"))[0][0] for e in lines_of(root, "chart-tick")]
    start, end = ts("2022-01-01"), NOW
    expected = [x0 + (x1 - x0) * (ts(f"{y}-01-01") - start) / (end - start) for y in (2023, 2024, 2025)]
    assert year_x == pytest.approx(expected, abs=0.01)


def test_met_lines_stop_at_now_while_the_due_line_runs_to_the_last_due_date():
    rows = [row(1, promised="2022-01-01", due="2027-01-01", met="2023-01-01", met_on_record="2023-02-01")]
    root = parse(charts.municipality_chart(rows, now=NOW, labels=labels(), lang_code="en", id_prefix="mc"))
    x0, x1, _, _ = scale(root)
    now_x = x0 + (x1 - x0) * (NOW - ts("2022-01-01")) / (ts("2027-01-01") - ts("2022-01-01"))
    assert path_vertices(lines_of(root, "chart-due")[0].get("d"))[-1][0] == pytest.approx(x1)
    assert path_vertices(lines_of(root, "chart-met")[0].get("d"))[-1][0] == pytest.approx(now_x, abs=0.01)
    assert path_vertices(lines_of(root, "chart-met-on-record")[0].get("d"))[-1][0] == pytest.approx(now_x, abs=0.01)


def test_municipality_chart_without_commitments_is_a_short_text():
    out = charts.municipality_chart([], now=NOW, labels=labels(), lang_code="en", id_prefix="mc")
    assert str(out) == '<p class="chart-empty">No commitments yet.</p>'
    only_withdrawn = charts.municipality_chart([THREE[3]], now=NOW, labels=labels(), lang_code="en", id_prefix="mc")
    assert str(only_withdrawn) == str(out)


def test_empty_text_is_escaped():
    out = charts.municipality_chart([], now=NOW, labels=labels(empty="<b>none</b>"), lang_code="en", id_prefix="mc")
    assert str(out) == '<p class="chart-empty">&lt;b&gt;none&lt;/b&gt;</p>'


def test_baarn_like_municipality_with_nothing_met_keeps_both_met_lines_on_zero():
    rows = [row(i, promised="2022-06-13", due="2026-03-31") for i in range(1, 132)]
    now = ts("2026-12-02")
    root = parse(charts.municipality_chart(rows, now=now, labels=labels(), lang_code="nl", id_prefix="gm0308"))
    assert root.find(f"{SVG}desc").text == (
        "131 of 131 due by 2026-12-02; 0 met as stated, 0 on chain; last due 2026-03-31.")
    start, end = ts("2022-06-13"), now
    d = lambda iso: round(ts(iso) / DAY)  # noqa: E731
    assert step_points(root, "chart-due", start, end) == [
        (d("2022-06-13"), 0), (d("2026-03-31"), 0), (d("2026-03-31"), 131), (d("2026-12-02"), 131)]
    for css in ("chart-met", "chart-met-on-record"):
        assert step_points(root, css, start, end) == [(d("2022-06-13"), 0), (d("2026-12-02"), 0)]
    # y axis to 150 in steps of 50; equal end values share one label.
    assert texts_of(root, "chart-tick-label")[-4:] == ["0", "50", "100", "150"]
    assert texts_of(root, "chart-end-label") == ["0", "131"]


# ---------------------------------------------------------------------------- the commitment chart


def commitment(points, **kw):
    args = dict(target=200, original_target=200, due_date=ts("2026-12-31"), original_due_date=ts("2026-12-31"),
                promised_at=ts("2022-06-13"), now=ts("2025-06-01"), unit="homes", labels=labels(),
                lang_code="en", id_prefix="cc")
    args.update(kw)
    return charts.commitment_chart(points, **args)


POINTS = [
    {"quantity": 40, "delivered_at": ts("2023-01-01"), "recorded_at": ts("2023-03-01"), "kind": "recorded"},
    {"quantity": 60, "delivered_at": ts("2024-01-01"), "recorded_at": ts("2024-02-01"), "kind": "batched"},
]


def test_commitment_chart_draws_both_clocks_the_target_and_the_due_date():
    root = parse(commitment(POINTS))
    start, end = ts("2022-06-13"), ts("2026-12-31")
    d = lambda iso: round(ts(iso) / DAY)  # noqa: E731
    assert step_points(root, "chart-met", start, end) == [
        (d("2022-06-13"), 0), (d("2023-01-01"), 0), (d("2023-01-01"), 40), (d("2024-01-01"), 40),
        (d("2024-01-01"), 100), (d("2025-06-01"), 100)]
    assert step_points(root, "chart-met-on-record", start, end) == [
        (d("2022-06-13"), 0), (d("2023-03-01"), 0), (d("2023-03-01"), 40), (d("2024-02-01"), 40),
        (d("2024-02-01"), 100), (d("2025-06-01"), 100)]
    _, x1, y0, per_unit = scale(root)
    target = path_vertices(lines_of(root, "chart-target")[0].get("d"))
    assert {round((y0 - y) / per_unit) for _, y in target} == {200}
    assert path_vertices(lines_of(root, "chart-due-date")[0].get("d"))[0][0] == pytest.approx(x1)
    assert lines_of(root, "chart-original-target") == [] and lines_of(root, "chart-original-due-date") == []
    assert texts_of(root, "chart-legend-label") == ["Delivered, by stated date", "Delivered, as recorded on chain",
                                                    "Target: 200 homes"]
    assert root.find(f"{SVG}desc").text == "100 of 200 homes delivered by 2025-06-01; 100 on chain. Due 2026-12-31."


def test_amended_commitment_shows_original_target_and_due_date_dashed():
    root = parse(commitment(POINTS, original_target=250, original_due_date=ts("2025-12-31")))
    original = [e for e in lines_of(root, "chart-original-target") if "chart-level" in e.get("class")]
    assert len(original) == 1 and original[0].get("stroke-dasharray") == "6 4"
    moved = [e for e in lines_of(root, "chart-original-due-date") if "chart-marker" in e.get("class")]
    assert len(moved) == 1 and moved[0].get("stroke-dasharray") == "6 4"
    assert texts_of(root, "chart-marker-label") == ["due", "originally due", "today"]
    assert texts_of(root, "chart-legend-label")[-1] == "Original target: 250 homes"
    assert root.find(f"{SVG}desc").text.endswith(" Originally 250 homes by 2025-12-31.")


def test_commitment_without_deliveries_keeps_both_lines_on_zero():
    root = parse(commitment([]))
    start, end = ts("2022-06-13"), ts("2026-12-31")
    d = lambda iso: round(ts(iso) / DAY)  # noqa: E731
    for css in ("chart-met", "chart-met-on-record"):
        assert step_points(root, css, start, end) == [(d("2022-06-13"), 0), (d("2025-06-01"), 0)]
    assert root.find(f"{SVG}desc").text.startswith("0 of 200 homes delivered")


def test_quantities_near_ten_to_the_nineteenth_scale_without_overflow():
    big = 10**19
    points = [{"quantity": big // 4, "delivered_at": ts("2023-01-01"), "recorded_at": ts("2023-01-02"), "kind": "recorded"},
              {"quantity": big - big // 4, "delivered_at": ts("2024-01-01"), "recorded_at": ts("2024-01-02"), "kind": "recorded"}]
    root = parse(commitment(points, target=big, original_target=big + big // 5))
    ticks = [t for t in texts_of(root, "chart-tick-label") if "," in t or t == "0"]
    assert ticks == ["0", "5,000,000,000,000,000,000", "10,000,000,000,000,000,000", "15,000,000,000,000,000,000"]
    grid = sorted({path_vertices(e.get("d"))[0][1] for e in lines_of(root, "chart-grid")}, reverse=True)
    y_per_5e18 = grid[0] - grid[1]
    target_y = path_vertices(lines_of(root, "chart-target")[0].get("d"))[0][1]
    assert target_y == pytest.approx(grid[0] - 2 * y_per_5e18, abs=0.01)
    delivered_top = min(y for _, y in path_vertices(lines_of(root, "chart-met")[0].get("d")))
    assert delivered_top == pytest.approx(target_y, abs=0.01)
    assert texts_of(root, "chart-end-label") == []  # values too long to print beside the lines
    assert "10,000,000,000,000,000,000 of 10,000,000,000,000,000,000 homes" in root.find(f"{SVG}desc").text


# ---------------------------------------------------------------------------- escaping and ids


def test_hostile_unit_is_escaped_and_never_becomes_an_element():
    hostile = "<script>alert(1)</script>"
    svg = str(commitment(POINTS, unit=hostile))
    assert "<script" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    root = parse(svg)
    assert [e for e in root.iter() if e.tag.endswith("script")] == []
    assert texts_of(root, "chart-legend-label")[2] == "Target: 200 <script>alert(1)</script>"
    assert hostile in root.find(f"{SVG}desc").text


def test_hostile_labels_are_escaped_everywhere():
    evil = '"><script>alert(1)</script>&amp;'
    out = charts.municipality_chart(
        THREE, now=NOW, labels=labels(municipality_title=evil, due=evil, today=evil, municipality_summary=evil + "{due}"),
        lang_code='en"><x', id_prefix="mc")
    root = parse(out)
    assert [e for e in root.iter() if e.tag.endswith("script") or e.tag == "x"] == []
    assert root.get("lang") == 'en"><x'
    assert root.find(f"{SVG}title").text == evil
    assert root.find(f"{SVG}desc").text.startswith(evil + "3")


def test_a_300_character_unit_is_cut_with_an_ellipsis_and_given_whole_in_the_desc():
    unit = "woningen " + "x" * 291
    root = parse(commitment(POINTS, unit=unit))
    legend = texts_of(root, "chart-legend-label")[2]
    assert legend.startswith("Target: 200 woningen xxx") and legend.endswith("…")
    assert len(legend) * charts.CHAR_WIDTH <= charts.WIDTH - charts.PLOT_LEFT - charts.SAMPLE_WIDTH - 10
    desc = root.find(f"{SVG}desc").text
    assert f"100 of 200 {unit} delivered" in desc
    assert desc.endswith(f" Target: 200 {unit}")
    assert len(unit) == 300


def test_a_300_character_legend_label_is_cut_and_whole_in_the_desc():
    long = "Met " + "y" * 296
    root = parse(charts.municipality_chart(THREE, now=NOW, labels=labels(met=long), lang_code="en", id_prefix="mc"))
    assert texts_of(root, "chart-legend-label")[1].endswith("…")
    assert root.find(f"{SVG}desc").text.endswith(" " + long)


def test_two_charts_on_one_page_have_unique_ids():
    page = f"<div>{charts.municipality_chart(THREE, now=NOW, labels=labels(), lang_code='en', id_prefix='mc')}" \
           f"{commitment(POINTS, id_prefix='cc')}</div>"
    root = ET.fromstring(page)
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert ids == ["mc-title", "mc-desc", "cc-title", "cc-desc"]
    for svg in root.iter(f"{SVG}svg"):
        for ref in svg.get("aria-labelledby").split():
            assert ref in ids


@pytest.mark.parametrize("bad", ["", "1chart", "a b", 'a"b', "a" * 65, "ü"])
def test_an_id_prefix_that_cannot_be_an_id_is_refused(bad):
    with pytest.raises(charts.InvalidChartId) as caught:
        charts.municipality_chart(THREE, now=NOW, labels=labels(), lang_code="en", id_prefix=bad)
    assert caught.value.id_prefix == bad
    with pytest.raises(charts.InvalidChartId):
        commitment(POINTS, id_prefix=bad)


# ---------------------------------------------------------------------------- CSP and accessibility


def test_charts_carry_no_style_attribute_and_no_script():
    for svg in (charts.municipality_chart(THREE, now=NOW, labels=labels(), lang_code="en", id_prefix="mc"),
                commitment(POINTS, original_target=250, original_due_date=ts("2025-12-31"))):
        root = parse(svg)
        assert all("style" not in e.attrib for e in root.iter())
        assert all(not e.tag.endswith(("script", "style", "foreignObject")) for e in root.iter())
        assert not any(k.startswith("on") for e in root.iter() for k in e.attrib)


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


@pytest.mark.parametrize("style", charts.LINE_STYLES, ids=lambda s: s.css_class)
def test_every_line_has_at_least_3_to_1_contrast_on_white(style):
    assert (1.05) / (_luminance(style.stroke) + 0.05) >= 3.0


def test_text_has_at_least_4_5_to_1_contrast_and_end_labels_use_line_colours():
    assert 1.05 / (_luminance(charts.INK) + 0.05) >= 4.5
    for style in (charts.DUE, charts.MET, charts.MET_ON_RECORD):
        assert 1.05 / (_luminance(style.stroke) + 0.05) >= 4.5


def test_the_three_data_lines_differ_in_dash_pattern_not_only_colour():
    municipality = {(s.dash, s.width) for s in (charts.DUE, charts.MET, charts.MET_ON_RECORD)}
    assert len({dash for dash, _ in municipality}) == 3
    commitment_lines = [charts.MET, charts.MET_ON_RECORD, charts.TARGET, charts.ORIGINAL_TARGET]
    assert len({s.dash for s in commitment_lines}) == 4
    root = parse(charts.municipality_chart(THREE, now=NOW, labels=labels(), lang_code="en", id_prefix="mc"))
    samples = [(e.get("stroke"), e.get("stroke-dasharray")) for e in lines_of(root, "chart-sample")]
    drawn = [(e.get("stroke"), e.get("stroke-dasharray")) for e in lines_of(root, "chart-line")]
    assert drawn == samples
    assert samples == [("#1d4f91", None), ("#a64b00", "9 5"), ("#6b3fa0", "0.5 7")]


def test_text_is_at_least_12_px_in_a_340_px_column():
    root = parse(charts.municipality_chart(THREE, now=NOW, labels=labels(), lang_code="en", id_prefix="mc"))
    width = float(root.get("viewBox").split()[2])
    assert width == charts.WIDTH
    assert float(root.get("font-size")) * 340 / width >= 12
    assert all("font-size" not in e.attrib for e in root.iter(f"{SVG}text"))


def test_text_fields_name_every_text_of_the_labels():
    assert charts.ChartLabels.text_fields() == (
        "municipality_title", "municipality_summary", "empty", "due", "met", "met_on_record", "today",
        "commitment_title", "commitment_summary", "commitment_amended_summary", "delivered", "recorded",
        "target", "original_target", "due_date", "original_due_date")


# ---------------------------------------------------------------------------- at size


def random_rows(seed: int, count: int) -> list[dict]:
    """``count`` varied chart rows: times spread over 2019..2031 with many ties (whole days),
    about a third never met, a tenth withdrawn, some met before promised."""
    import random

    rng = random.Random(seed)
    start = ts("2019-01-01")
    out = []
    for cid in range(1, count + 1):
        promised = start + rng.randrange(0, 6 * 365) * DAY
        due = promised + rng.randrange(-30, 6 * 365) * DAY
        met = promised + rng.randrange(-10, 8 * 365) * DAY if rng.random() < 0.66 else None
        on_record = met + rng.randrange(0, 90) * DAY + rng.randrange(0, DAY) if met is not None else None
        out.append({"id": cid, "municipality_id": 1, "due_date": due, "original_due_date": due, "promised_at": promised,
                    "registered_at": promised, "met_at": met, "met_on_record_at": on_record,
                    "withdrawn": rng.random() < 0.1, "withdrawn_at": None, "status": "pending",
                    "status_on_record": "pending"})
    return out


def counts_of(rows: list[dict]) -> dict | None:
    """What ``repository.commitment_chart_counts`` gives for these rows (its own test shows
    it equals this count on both backends)."""
    from collections import Counter

    kept = [r for r in rows if not r["withdrawn"]]
    if not kept:
        return None

    def counted(key: str) -> list[tuple[int, int]]:
        return sorted(Counter(r[key] for r in kept if r[key] is not None).items())

    return {"total": len(kept), "first_promised_at": min(r["promised_at"] for r in kept),
            "last_promised_at": max(r["promised_at"] for r in kept), "last_due_date": max(r["due_date"] for r in kept),
            "due": counted("due_date"), "met": counted("met_at"), "met_on_record": counted("met_on_record_at")}


@pytest.mark.parametrize("seed,count", [(0, 1), (1, 7), (2, 300), (3, 5000)])
def test_series_from_counts_equals_the_series_of_the_rows_and_so_does_the_table(seed: int, count: int) -> None:
    rows = random_rows(seed, count)
    for now in (ts("2018-06-01"), ts("2025-06-01"), ts("2040-01-01")):
        series = charts.municipality_series_from_counts(counts_of(rows), now=now)
        assert series == charts.municipality_series(rows, now=now)
        for zone in (None, "Europe/Amsterdam", "Pacific/Kiritimati"):
            assert charts.municipality_table(series, now=now, time_zone=zone) == charts.municipality_table(
                rows, now=now, time_zone=zone)
        drawn = dict(now=now, labels=labels(), lang_code="en", id_prefix="mc")
        assert charts.municipality_chart(series, **drawn) == charts.municipality_chart(rows, **drawn)


def test_series_from_counts_of_none_is_none_and_the_chart_says_empty() -> None:
    assert charts.municipality_series_from_counts(None, now=NOW) is None
    assert charts.municipality_table(None, now=NOW) == []
    out = charts.municipality_chart(None, now=NOW, labels=labels(), lang_code="en", id_prefix="mc")
    assert out == '<p class="chart-empty">No commitments yet.</p>'


def test_series_from_counts_of_the_three_rows_gives_the_known_table() -> None:
    series = charts.municipality_series_from_counts(counts_of(THREE), now=NOW)
    assert charts.municipality_table(series, now=NOW) == charts.municipality_table(THREE, now=NOW)
    assert (series.total, series.due[-1], series.met[-1]) == (3, Step(ts("2024-06-01"), 3), Step(ts("2024-08-01"), 2))


@pytest.mark.parametrize("columns", [1, 2, 10, 760])
def test_simplify_steps_keeps_at_most_one_step_per_column_with_exact_values(columns: int) -> None:
    rows = random_rows(4, 5000)
    series = charts.municipality_series(rows, now=NOW)
    for steps in (series.due, series.met, series.met_on_record):
        kept = charts.simplify_steps(steps, start=series.start, end=series.end, columns=columns)
        assert len(kept) <= columns + 1 < len(steps)
        assert set(kept) <= set(steps)  # exact times and values
        assert kept[-1] == steps[-1]
        assert list(kept) == sorted(kept)
        span = series.end - series.start
        column_of = [(s.at - series.start) * columns // span for s in kept]
        assert len(set(column_of)) == len(kept)  # one per column
        # At the end of every column the simplified line has the original's value.
        for column in range(columns + 1):
            last = series.start + (column + 1) * span // columns - 1
            assert charts.value_at(kept, last) == charts.value_at(steps, last)


def test_simplify_steps_leaves_short_lines_alone_and_refuses_a_bad_axis() -> None:
    steps = (Step(10, 1), Step(20, 3), Step(30, 4))
    assert charts.simplify_steps(steps, start=0, end=40, columns=2) == steps
    assert charts.simplify_steps(steps, start=0, end=40, columns=1) == (Step(30, 4),)  # one column: 0..39
    assert charts.simplify_steps(steps + (Step(40, 6),), start=0, end=40, columns=1) == (Step(30, 4), Step(40, 6))
    with pytest.raises(ValueError):
        charts.simplify_steps(steps, start=0, end=40, columns=0)
    with pytest.raises(ValueError):
        charts.simplify_steps(steps, start=40, end=40, columns=5)


def test_municipality_chart_of_many_commitments_stays_small_with_exact_end_values() -> None:
    small = random_rows(5, 300)
    big = random_rows(5, 20_000)
    drawn = dict(now=NOW, labels=labels(), lang_code="en", id_prefix="mc")
    small_svg, big_svg = (str(charts.municipality_chart(r, **drawn)) for r in (small, big))
    max_corners = 2 * (charts.STEPS_PER_UNIT * charts.WIDTH + 3)
    for path in parse(big_svg).iter(f"{SVG}path"):
        if "chart-line" in path.get("class", ""):
            assert len(path_vertices(path.get("d"))) <= max_corners
    assert len(big_svg) < 3 * len(small_svg) + 20_000
    series = charts.municipality_series(big, now=NOW)
    texts = [t.text for t in parse(big_svg).iter(f"{SVG}text") if "chart-end-label" in t.get("class", "")]
    assert f"{series.due[-1].value:,}" in texts


def test_end_of_day_is_the_last_second_of_the_readers_day() -> None:
    noon_amsterdam = int(datetime(2026, 7, 1, 10, 0, tzinfo=timezone.utc).timestamp())  # 12:00 CEST
    assert charts.end_of_day(noon_amsterdam, "Europe/Amsterdam") == int(datetime(2026, 7, 1, 21, 59, 59, tzinfo=timezone.utc).timestamp())
    assert charts.end_of_day(noon_amsterdam) == int(datetime(2026, 7, 1, 23, 59, 59, tzinfo=timezone.utc).timestamp())
    late_santiago = int(datetime(2026, 7, 2, 3, 0, tzinfo=timezone.utc).timestamp())  # 23:00 on 1 July (UTC-4)
    assert charts.end_of_day(late_santiago, "America/Santiago") == int(datetime(2026, 7, 2, 3, 59, 59, tzinfo=timezone.utc).timestamp())
    assert charts.end_of_day(2**62) == 2**62  # beyond year 9999: itself
