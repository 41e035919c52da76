"""Charts of the citizens' site as inline SVG, drawn on the server: visible without
JavaScript, styled only by presentation attributes and the classes of
``static/css/charts.css`` (the site's CSP is ``style-src 'self'``: no ``style=``, no
``<script>``).

- :func:`municipality_chart`: one municipality's commitments due versus commitments met over
  time, three cumulative step lines (due by then; met by then as stated; met by then as
  recorded on chain), a "today" marker, year ticks. :func:`municipality_table` gives the same
  figures by year for an HTML ``<table>`` beside it.
- :func:`commitment_chart`: one commitment's cumulative delivered quantity by stated date and
  by recording time, against its target (and original target) and its due date (and
  original due date).

Both are pure functions of their arguments (no database, no HTTP). Every text comes from the
caller in a :class:`ChartLabels` (the words, already in the reader's language, and how dates
and numbers read), so this module has no language of its own. Every text is escaped; a text
too long for its place is cut with an ellipsis in the drawing and given in full in the
chart's ``<desc>``.

Accessibility (WCAG 2.1 AA): the ``<svg>`` has ``role="img"`` and ``aria-labelledby`` naming
its ``<title>`` and ``<desc>`` (ids from the caller's ``id_prefix``, so two charts on a page
never share one); the ``<desc>`` states the figures in a sentence; every line has at least
3:1 contrast against white and its own dash pattern, so colour is never the only cue; the
legend is SVG text. The drawing is 420 × ~300 user units with 15-unit text: at a 340 px wide
column (a 390 px phone) text is 12 px; ``charts.css`` caps the width on wide screens.

Times are Unix seconds throughout; every range is inclusive: a commitment is "due by ``t``"
when its due date is ``<= t``, "met by ``t``" when its met time is ``<= t``.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from itertools import accumulate
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape

# ---------------------------------------------------------------------------- geometry

WIDTH = 420
"""Width of the drawing, SVG user units (the ``viewBox``)."""

STEPS_PER_UNIT = 2
"""Most steps a step line keeps per user unit of the plot's width (:func:`simplify_steps`):
``charts.css`` caps the drawing at 36rem (576 px, 1.4 px per unit), so this is more than one
step per CSS pixel, and a line of thousands of steps looks the same with a few hundred."""

FONT_SIZE = 15
"""Size of every text, user units."""

CHAR_WIDTH = 0.6 * FONT_SIZE
"""Width assumed for one character when fitting a text (generous for a sans-serif font)."""

ROW_HEIGHT = 20
"""Height of a row of marker labels or of the legend, user units."""

PLOT_LEFT = 8
PLOT_HEIGHT = 170
TICK_LABEL_ROOM = 20
"""Room above the top y tick for its label (tick labels sit just above their grid line)."""

LEGEND_GAP = 44
"""From the x axis to the baseline of the legend's first row, user units."""

SAMPLE_WIDTH = 30
"""Length of a legend's line sample, user units."""

# ---------------------------------------------------------------------------- lines

INK = "#1f2328"
"""Colour of texts (15.8:1 on white)."""

GRID = "#d0d7de"
HALO = "#ffffff"


@dataclass(frozen=True)
class LineStyle:
    """How one kind of line is drawn: ``css_class`` (in charts.css), ``stroke`` (a colour of at
    least 3:1 contrast on white), ``width`` (user units), ``dash`` (SVG ``stroke-dasharray``,
    ``""`` for solid)."""

    css_class: str
    stroke: str
    width: float
    dash: str = ""


DUE = LineStyle("chart-due", "#1d4f91", 3)
MET = LineStyle("chart-met", "#a64b00", 3, "9 5")
MET_ON_RECORD = LineStyle("chart-met-on-record", "#6b3fa0", 3.5, "0.5 7")
TODAY = LineStyle("chart-today", "#57606a", 1.5, "4 3")
TARGET = LineStyle("chart-target", "#24292f", 2)
ORIGINAL_TARGET = LineStyle("chart-original-target", "#24292f", 1.5, "6 4")
DUE_DATE = LineStyle("chart-due-date", "#24292f", 1.5)
ORIGINAL_DUE_DATE = LineStyle("chart-original-due-date", "#24292f", 1.5, "6 4")

LINE_STYLES = (DUE, MET, MET_ON_RECORD, TODAY, TARGET, ORIGINAL_TARGET, DUE_DATE, ORIGINAL_DUE_DATE)
"""Every line style, for charts.css and the contrast test."""

_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


class InvalidChartId(ValueError):
    """An ``id_prefix`` that is not a letter followed by up to 63 letters, digits, ``_`` or
    ``-`` (it becomes part of element ids)."""

    def __init__(self, id_prefix: str) -> None:
        super().__init__(f"id_prefix {id_prefix!r} must be a letter then letters, digits, '_' or '-' (64 at most)")
        self.id_prefix = id_prefix


# ---------------------------------------------------------------------------- labels


@dataclass(frozen=True)
class ChartLabels:
    """The words of the charts in the reader's language, and how dates and numbers read.

    Texts named ``*_summary``, ``target`` and ``original_target`` are ``str.format``
    templates; a template may use any of its fields, in any order:

    - ``municipality_summary``: ``{total}`` (commitments not withdrawn), ``{due}``,
      ``{met}``, ``{met_on_record}`` (counts by ``now``), ``{date}`` (``now``),
      ``{last_due_date}`` (the latest due date); e.g. "{due} of {total} commitments due by
      {date}; {met} met by then as stated, {met_on_record} as recorded on chain."
    - ``commitment_summary``: ``{delivered}`` (by stated date), ``{recorded}`` (by recording
      time; both by ``now``), ``{target}``, ``{unit}``, ``{date}`` (``now``), ``{due_date}``.
    - ``commitment_amended_summary`` (appended when the target or due date changed):
      ``{original_target}``, ``{unit}``, ``{original_due_date}``.
    - ``target``, ``original_target``: ``{target}``, ``{unit}``.

    ``format_date(seconds) -> str`` and ``format_number(int) -> str`` format for the reader;
    ``time_zone`` (IANA name, ``None``: UTC) is the calendar of the year ticks.
    """

    municipality_title: str
    municipality_summary: str
    empty: str
    due: str
    met: str
    met_on_record: str
    today: str
    commitment_title: str
    commitment_summary: str
    commitment_amended_summary: str
    delivered: str
    recorded: str
    target: str
    original_target: str
    due_date: str
    original_due_date: str
    format_date: Callable[[int], str]
    format_number: Callable[[int], str]
    time_zone: str | None = None

    @classmethod
    def text_fields(cls) -> tuple[str, ...]:
        """Names of the text fields (every field but the two formatters and the time zone)."""
        return tuple(f.name for f in fields(cls) if f.name not in ("format_date", "format_number", "time_zone"))


# ---------------------------------------------------------------------------- series


class Step(NamedTuple):
    """A point of a cumulative step line: from ``at`` (Unix seconds, inclusive) on, the line
    has ``value``."""

    at: int
    value: int


def cumulative_steps(weighted_times: Iterable[tuple[int | None, int]]) -> tuple[Step, ...]:
    """The cumulative step line of ``(time, weight)`` pairs: one :class:`Step` per distinct
    time, ascending, with the sum of the weights of every pair at or before it. Pairs whose
    time is ``None`` are left out."""
    totals: dict[int, int] = {}
    get = totals.get
    for at, weight in weighted_times:
        if at is not None:
            at = int(at)
            totals[at] = get(at, 0) + int(weight)
    times = sorted(totals)
    return tuple(map(Step, times, accumulate(map(totals.__getitem__, times))))


def value_at(steps: Sequence[Step], at: int) -> int:
    """The value of a step line (steps ascending by time) at time ``at`` (0 before its first
    step)."""
    index = bisect_right(steps, at, key=lambda step: step.at)
    return steps[index - 1].value if index else 0


@dataclass(frozen=True)
class MunicipalitySeries:
    """What :func:`municipality_chart` draws: the time axis ``start``..``end`` (inclusive),
    ``now``, ``total`` commitments not withdrawn, and the step lines ``due``, ``met`` (stated
    clock) and ``met_on_record`` (block time), each counting commitments not withdrawn."""

    start: int
    end: int
    now: int
    total: int
    last_due_date: int
    due: tuple[Step, ...]
    met: tuple[Step, ...]
    met_on_record: tuple[Step, ...]


def municipality_series(rows: Iterable[Mapping[str, Any]], *, now: int) -> MunicipalitySeries | None:
    """The step lines of one municipality's commitments.

    Args:
        rows: commitments as ``repository.commitment_chart_rows`` gives them (used: ``withdrawn``,
            ``promised_at``, ``due_date``, ``met_at``, ``met_on_record_at``; Unix seconds, the
            met times ``None`` while not met). Withdrawn commitments count in no line.
        now: the moment of the "today" marker, Unix seconds.

    Returns:
        The series, its axis from the earliest promise (or earlier time of any row) to the
        latest of ``now`` and every due and met time; ``None`` when no commitment is left
        once the withdrawn ones are out.
    """
    kept = [r for r in rows if not r["withdrawn"]]
    if not kept:
        return None
    times = [now]
    for r in kept:
        times += [t for t in (r["promised_at"], r["due_date"], r["met_at"], r["met_on_record_at"]) if t is not None]
    start, end = min(times), max(times)
    return MunicipalitySeries(
        start=start,
        end=end if end > start else start + 86_400,
        now=now,
        total=len(kept),
        last_due_date=max(r["due_date"] for r in kept),
        due=cumulative_steps((r["due_date"], 1) for r in kept),
        met=cumulative_steps((r["met_at"], 1) for r in kept),
        met_on_record=cumulative_steps((r["met_on_record_at"], 1) for r in kept),
    )


def municipality_series_from_counts(counts: Mapping[str, Any] | None, *, now: int) -> MunicipalitySeries | None:
    """The same series as :func:`municipality_series` from the counts that
    ``repository.commitment_chart_counts`` gives (``total``, ``first_promised_at``,
    ``last_promised_at``, ``last_due_date`` and ``(time, count)`` pairs (distinct times, ascending) for
    ``due``, ``met``, ``met_on_record``), so its cost grows with the number of distinct times,
    not of commitments. ``None`` for ``None`` (no commitment left once the withdrawn ones are
    out)."""
    if counts is None:
        return None

    def steps(pairs: Sequence[tuple[int, int]]) -> tuple[Step, ...]:  # times distinct and ascending already
        return tuple(map(Step, [at for at, _ in pairs], accumulate(n for _, n in pairs)))

    due, met, met_on_record = steps(counts["due"]), steps(counts["met"]), steps(counts["met_on_record"])
    times = [now, counts["first_promised_at"], counts["last_promised_at"]]
    for line in (due, met, met_on_record):
        times += [line[0].at, line[-1].at] if line else []
    start, end = min(times), max(times)
    return MunicipalitySeries(
        start=start, end=end if end > start else start + 86_400, now=now, total=int(counts["total"]),
        last_due_date=int(counts["last_due_date"]), due=due, met=met, met_on_record=met_on_record,
    )


def _series_of(source: Iterable[Mapping[str, Any]] | MunicipalitySeries | None, now: int) -> MunicipalitySeries | None:
    """``source`` when it is a series (or ``None``), else :func:`municipality_series` of its rows."""
    if source is None or isinstance(source, MunicipalitySeries):
        return source
    return municipality_series(source, now=now)


def simplify_steps(steps: Sequence[Step], *, start: int, end: int, columns: int) -> tuple[Step, ...]:
    """A non-decreasing step line (``steps`` ascending by time, as :func:`cumulative_steps`
    gives them for weights >= 0) reduced to what ``columns`` equal columns of the axis
    ``start``..``end`` (inclusive, ``end > start``) can show: of the steps falling in one
    column, only the last is kept, with its exact time and value (within a column the line
    only rises, to that value). At most ``columns + 1`` steps (times outside the axis fall in
    its first or last column); the steps themselves when there are no more than that.

    Raises:
        ValueError: ``columns`` < 1 or ``end`` <= ``start``.
    """
    if columns < 1 or end <= start:
        raise ValueError(f"need columns >= 1 and end > start, not columns={columns}, {start}..{end}")
    if len(steps) <= columns + 1:
        return tuple(steps)
    span = end - start
    times = [step.at for step in steps]
    kept: list[Step] = []
    taken = 0
    for column in range(columns):
        # The steps before the first second of the next column: (at - start) * columns < (column + 1) * span.
        index = bisect_left(times, start - (-(column + 1) * span // columns), taken)
        if index > taken:
            kept.append(steps[index - 1])
            taken = index
    if taken < len(steps):
        kept.append(steps[-1])
    return tuple(kept)


TABLE_MAX_YEARS = 50
"""Longest time axis, in years, whose table has a row for every year."""


class YearRow(NamedTuple):
    """One row of :func:`municipality_table`: by the end of ``year`` (``through``: its last
    second, Unix seconds, inclusive), how many commitments were ``due``, ``met`` (stated
    clock) and ``met_on_record`` (block time)."""

    year: int
    through: int
    due: int
    met: int
    met_on_record: int


def municipality_table(rows: Iterable[Mapping[str, Any]] | MunicipalitySeries | None, *, now: int,
                       time_zone: str | None = None) -> list[YearRow]:
    """The figures of :func:`municipality_chart` by calendar year, for an HTML table beside
    the chart: one :class:`YearRow` per year from the first to the last year of the chart's
    time axis, each cumulative to the end of that year in ``time_zone`` (IANA name; ``None``:
    UTC). An axis of more than :data:`TABLE_MAX_YEARS` years (a due date in year 9999, say)
    keeps only the first and last year, the year of ``now`` and the years where a figure
    changes. Empty when the chart is (no commitment left once the withdrawn ones are out).
    ``rows`` as for :func:`municipality_chart`.

    Raises:
        zoneinfo.ZoneInfoNotFoundError: ``time_zone`` is unknown.
    """
    series = _series_of(rows, now)
    if series is None:
        return []
    zone = _zone(time_zone)
    first, last = _year_of(series.start, zone), _year_of(series.end, zone)
    table = []
    for year in range(first, last + 1):
        through = _new_year(year + 1, zone) - 1
        table.append(YearRow(year, through, value_at(series.due, through), value_at(series.met, through),
                             value_at(series.met_on_record, through)))
    if len(table) <= TABLE_MAX_YEARS:
        return table
    now_year = _year_of(now, zone)
    return [r for i, r in enumerate(table)
            if i in (0, len(table) - 1) or r.year == now_year or r[2:] != table[i - 1][2:]]


@dataclass(frozen=True)
class CommitmentSeries:
    """What :func:`commitment_chart` draws: the time axis ``start``..``end`` (inclusive), the
    cumulative delivered quantity by stated date (``delivered``) and by recording time
    (``recorded``), and the terms."""

    start: int
    end: int
    now: int
    delivered: tuple[Step, ...]
    recorded: tuple[Step, ...]
    target: int
    original_target: int
    due_date: int
    original_due_date: int


def commitment_series(
    points: Iterable[Mapping[str, Any]], *, target: int, original_target: int, due_date: int,
    original_due_date: int, promised_at: int, now: int,
) -> CommitmentSeries:
    """The step lines of one commitment's deliveries.

    Args:
        points: the deliveries that count, as ``repository.commitment_delivery_points`` gives
            them: ``quantity`` (int, any size: Python ints are exact), ``delivered_at``
            (stated), ``recorded_at`` (block time), Unix seconds.
        target, original_target: the current and the original target quantity.
        due_date, original_due_date, promised_at, now: Unix seconds.

    Returns:
        The series, its axis from the earliest of ``promised_at`` and every time given to the
        latest of them.
    """
    pts = list(points)
    times = [promised_at, due_date, original_due_date, now]
    times += [p["delivered_at"] for p in pts] + [p["recorded_at"] for p in pts]
    start, end = min(times), max(times)
    return CommitmentSeries(
        start=start, end=end if end > start else start + 86_400, now=now,
        delivered=cumulative_steps((p["delivered_at"], p["quantity"]) for p in pts),
        recorded=cumulative_steps((p["recorded_at"], p["quantity"]) for p in pts),
        target=int(target), original_target=int(original_target),
        due_date=due_date, original_due_date=original_due_date,
    )


# ---------------------------------------------------------------------------- charts


def municipality_chart(
    rows: Iterable[Mapping[str, Any]] | MunicipalitySeries | None, *, now: int, labels: ChartLabels, lang_code: str, id_prefix: str,
) -> Markup:
    """One municipality's commitments due versus met over time, as an inline ``<svg>``.

    Args:
        rows: as for :func:`municipality_series`, or the series itself (e.g.
            :func:`municipality_series_from_counts` with the same ``now``; ``None``: none left).
        now: the moment of the "today" marker and of the summary, Unix seconds.
        labels: the words and formats (:class:`ChartLabels`).
        lang_code: the language of the texts (the ``lang`` attribute), e.g. ``"nl"``.
        id_prefix: prefix of the element ids, unique on the page (``<id_prefix>-title``,
            ``<id_prefix>-desc``).

    Returns:
        The ``<svg>``; when no commitment is left once the withdrawn ones are out, a
        ``<p class="chart-empty">`` with ``labels.empty`` instead.

    Raises:
        InvalidChartId: ``id_prefix`` cannot be part of an id.
    """
    _check_id(id_prefix)
    series = _series_of(rows, now)
    if series is None:
        return Markup('<p class="chart-empty">{}</p>').format(labels.empty)
    n = labels.format_number
    summary = labels.municipality_summary.format(
        total=n(series.total), due=n(value_at(series.due, now)), met=n(value_at(series.met, now)),
        met_on_record=n(value_at(series.met_on_record, now)), date=labels.format_date(now),
        last_due_date=labels.format_date(series.last_due_date),
    )
    chart = _Chart(series.start, series.end, series.total, labels)
    chart.markers([(series.now, labels.today, TODAY)])
    chart.legend([(DUE, labels.due), (MET, labels.met), (MET_ON_RECORD, labels.met_on_record)])
    chart.end_labels([(DUE, series.due), (MET, series.met), (MET_ON_RECORD, series.met_on_record)])
    # Due dates are known ahead; what was met is known up to now only.
    chart.step_line(DUE, series.due)
    chart.step_line(MET, series.met, until=now)
    chart.step_line(MET_ON_RECORD, series.met_on_record, until=now)
    return chart.render(id_prefix, lang_code, labels.municipality_title, summary)


def commitment_chart(
    points: Iterable[Mapping[str, Any]], *, target: int, original_target: int, due_date: int,
    original_due_date: int, promised_at: int, now: int, unit: str, labels: ChartLabels, lang_code: str,
    id_prefix: str,
) -> Markup:
    """One commitment's cumulative delivered quantity over time, as an inline ``<svg>``: by
    stated date and by recording time, the target (and the original target, dashed, when it
    differs), the due date (and the original due date, dashed, when it moved) and today.

    Args:
        points: as for :func:`commitment_series` (none: both lines stay at 0).
        target, original_target: target quantities in ``unit`` (any size).
        due_date, original_due_date, promised_at, now: Unix seconds.
        unit: the commitment's unit (any text; cut in the legend when long).
        labels, lang_code, id_prefix: as for :func:`municipality_chart`.

    Raises:
        InvalidChartId: ``id_prefix`` cannot be part of an id.
    """
    _check_id(id_prefix)
    s = commitment_series(points, target=target, original_target=original_target, due_date=due_date,
                          original_due_date=original_due_date, promised_at=promised_at, now=now)
    n = labels.format_number
    summary = labels.commitment_summary.format(
        delivered=n(value_at(s.delivered, now)), recorded=n(value_at(s.recorded, now)), target=n(s.target),
        unit=unit, date=labels.format_date(now), due_date=labels.format_date(s.due_date),
    )
    amended = s.target != s.original_target or s.due_date != s.original_due_date
    if amended:
        summary += " " + labels.commitment_amended_summary.format(
            original_target=n(s.original_target), unit=unit, original_due_date=labels.format_date(s.original_due_date))
    top = max([s.target, s.original_target] + [step.value for step in s.delivered + s.recorded])
    chart = _Chart(s.start, s.end, top, labels)
    markers = [(s.due_date, labels.due_date, DUE_DATE)]
    if s.original_due_date != s.due_date:
        markers.append((s.original_due_date, labels.original_due_date, ORIGINAL_DUE_DATE))
    chart.markers(markers + [(s.now, labels.today, TODAY)])
    legend = [(MET, labels.delivered), (MET_ON_RECORD, labels.recorded),
              (TARGET, labels.target.format(target=n(s.target), unit=unit))]
    if s.original_target != s.target:
        legend.append((ORIGINAL_TARGET, labels.original_target.format(target=n(s.original_target), unit=unit)))
    chart.legend(legend)
    chart.end_labels([(MET, s.delivered), (MET_ON_RECORD, s.recorded)])
    if s.original_target != s.target:
        chart.level(ORIGINAL_TARGET, s.original_target)
    chart.level(TARGET, s.target)
    chart.step_line(MET, s.delivered, until=now)
    chart.step_line(MET_ON_RECORD, s.recorded, until=now)
    return chart.render(id_prefix, lang_code, labels.commitment_title, summary)


# ---------------------------------------------------------------------------- drawing


class _Chart:
    """Lays out one chart: give its markers, legend, end labels and lines (in drawing order),
    then :meth:`render` places them (end labels decide the right margin, marker labels the
    top one) and writes the SVG."""

    def __init__(self, start: int, end: int, top_value: int, labels: ChartLabels) -> None:
        self.start, self.end, self.labels = start, end, labels
        self.step, self.top = _nice_scale(top_value)
        self.marker_row_count = 1
        self.long_texts: list[str] = []
        self._line_specs: list[tuple[LineStyle, tuple[Step, ...], int | None, int]] = []
        self.ends: list[tuple[LineStyle, int]] = []
        self.right = WIDTH - 8
        self._marker_specs: list[tuple[int, str, LineStyle]] = []
        self._legend_specs: list[tuple[LineStyle, str]] = []

    # the plot area, known once markers, legend and end labels are set
    @property
    def plot_top(self) -> float:
        return 6 + ROW_HEIGHT * self.marker_row_count

    @property
    def plot_bottom(self) -> float:
        return self.plot_top + TICK_LABEL_ROOM + PLOT_HEIGHT

    @property
    def height(self) -> float:
        return self.plot_bottom + LEGEND_GAP + ROW_HEIGHT * len(self._legend_specs)

    def x(self, at: int) -> float:
        return PLOT_LEFT + (self.right - PLOT_LEFT) * ((at - self.start) / (self.end - self.start))

    def y(self, value: int) -> float:
        return self.plot_bottom - PLOT_HEIGHT * (value / self.top)

    def markers(self, specs: list[tuple[int, str, LineStyle]]) -> None:
        self._marker_specs = specs

    def legend(self, specs: list[tuple[LineStyle, str]]) -> None:
        self._legend_specs = specs

    def end_labels(self, specs: list[tuple[LineStyle, Sequence[Step]]]) -> None:
        """Print each line's last value right of the plot, when every value is short."""
        ends = [(style, steps[-1].value if steps else 0) for style, steps in specs]
        widest = max(len(self.labels.format_number(v)) for _, v in ends)
        if widest <= 7:
            self.ends = ends
            self.right = WIDTH - 10 - widest * CHAR_WIDTH

    def step_line(self, style: LineStyle, steps: Sequence[Step], until: int | None = None) -> None:
        """A cumulative step line from 0 at the start of the axis to ``until`` (or its last
        step when later; ``None``: the end of the axis), drawn in call order."""
        steps = tuple(steps)
        end = self.end if until is None else max([until] + [step.at for step in steps[-1:]])
        self._line_specs.append((style, steps, None, end))

    def level(self, style: LineStyle, value: int) -> None:
        """A horizontal line at ``value`` across the plot, drawn in call order."""
        self._line_specs.append((style, (), value, self.end))

    def _line_parts(self) -> list[str]:
        parts = []
        for style, steps, level, end in self._line_specs:
            if level is not None:
                d = f"M{_n(PLOT_LEFT)} {_n(self.y(level))}H{_n(self.right)}"
                parts.append(_path(style, d, "chart-level"))
                continue
            pieces = [f"M{_n(self.x(self.start))} {_n(self.y(0))}"]
            columns = max(1, int((self.right - PLOT_LEFT) * STEPS_PER_UNIT))
            for step in simplify_steps(steps, start=self.start, end=self.end, columns=columns):
                pieces.append(f"H{_n(self.x(step.at))}V{_n(self.y(step.value))}")
            pieces.append(f"H{_n(self.x(end))}")
            parts.append(_path(style, "".join(pieces), "chart-line"))
        return parts

    # ------------------------------------------------------------------ render

    def _fit(self, text: str, room: float) -> str:
        most = max(1, int(room // CHAR_WIDTH))
        if len(text) <= most:
            return text
        self.long_texts.append(text)
        return text[: most - 1].rstrip() + "…"

    def _layout_markers(self) -> list[str]:
        """Vertical markers, each labelled like a flag at the top of its line (left of it in
        the right half of the plot, else right of it), in rows above the plot: each label
        takes the first row and side where it overlaps no other label and crosses no other
        marker's line (a line runs from its own row down). The plot's top depends on the rows
        used."""
        placed: list[tuple[float, int, float, float, str, LineStyle]] = []  # x, row, left, width, text, style
        for at, text, style in self._marker_specs:
            text = self._fit(text, WIDTH / 2)
            width = len(text) * CHAR_WIDTH
            x = self.x(at)
            sides = (x - 4 - width, x + 4) if x > WIDTH / 2 else (x + 4, x - 4 - width)
            choice = None
            for row in range(len(placed) + 1):
                for left in sides:
                    left = min(max(left, 2), WIDTH - 2 - width)
                    if not any(self._clash(row, left, width, x, other) for other in placed):
                        choice = (row, left)
                        break
                if choice:
                    break
            # Nowhere without a clash: a row of its own below the others (the halo keeps it legible).
            row, left = choice or (1 + max(p[1] for p in placed), min(max(sides[0], 2), WIDTH - 2 - width))
            placed.append((x, row, left, width, text, style))
        self.marker_row_count = 1 + max((p[1] for p in placed), default=0)
        lines, texts = [], []
        for x, row, left, _width, text, style in placed:
            baseline = 6 + ROW_HEIGHT * row + FONT_SIZE
            lines.append(_path(style, f"M{_n(x)} {_n(baseline - FONT_SIZE + 2)}V{_n(self.plot_bottom)}", "chart-marker"))
            texts.append(_text(left, baseline, text, "chart-marker-label", halo=True))
        return lines + texts

    @staticmethod
    def _clash(row: int, left: float, width: float, x: float,
               other: tuple[float, int, float, float, str, LineStyle]) -> bool:
        """Whether a label at ``row``, ``left``..``left + width`` for a line at ``x`` clashes
        with an ``other`` placed marker (overlapping labels in one row, or a line through a
        label)."""
        other_x, other_row, other_left, other_width = other[:4]
        gap = 4
        if other_row == row and left < other_left + other_width + gap and other_left < left + width + gap:
            return True
        if other_row <= row and left - gap < other_x < left + width + gap:
            return True
        return other_row >= row and other_left - gap < x < other_left + other_width + gap

    def _axes(self) -> list[str]:
        parts = []
        value = 0
        while value <= self.top:
            y = self.y(value)
            parts.append(f'<path class="chart-grid" d="M{_n(PLOT_LEFT)} {_n(y)}H{_n(self.right)}" '
                         f'stroke="{GRID}" stroke-width="1" fill="none"/>')
            value += self.step
        return parts

    def _tick_labels(self) -> list[str]:
        parts = []
        value = 0
        while value <= self.top:
            label = self._fit(self.labels.format_number(value), self.right - PLOT_LEFT)
            parts.append(_text(PLOT_LEFT + 2, self.y(value) - 5, label, "chart-tick-label", halo=True))
            value += self.step
        return parts

    def _year_ticks(self) -> list[str]:
        zone = _zone(self.labels.time_zone)
        first, last = _year_of(self.start, zone) + 1, _year_of(self.end, zone)
        years = [y for y in range(first, last + 1) if self.start < _new_year(y, zone) <= self.end]
        label_room = len(str(last)) * CHAR_WIDTH + 12
        every = next(m * 10**e for e in range(6) for m in (1, 2, 5)
                     if (self.right - PLOT_LEFT) / max(1, len(years)) * m * 10**e >= label_room)
        shown = [y for y in years if y % every == 0]
        base = self.plot_bottom
        parts = [f'<path class="chart-axis" d="M{_n(PLOT_LEFT)} {_n(base)}H{_n(self.right)}" '
                 f'stroke="#6e7781" stroke-width="1" fill="none"/>']
        labelled: list[tuple[float, float]] = []
        for year in shown:
            x = self.x(_new_year(year, zone))
            parts.append(f'<path class="chart-tick" d="M{_n(x)} {_n(base)}v5" stroke="#6e7781" stroke-width="1"/>')
            text = str(year)
            width = len(text) * CHAR_WIDTH
            left = min(max(x - width / 2, 2), WIDTH - 2 - width)
            parts.append(_text(left, base + 20, text, "chart-tick-label"))
            labelled.append((left, left + width))
        if len(shown) < 2:
            # Less than two year ticks say little: name the first and last day as well.
            for at, anchor_left in ((self.start, True), (self.end, False)):
                text = self._fit(self.labels.format_date(at), (self.right - PLOT_LEFT) / 2 - 8)
                width = len(text) * CHAR_WIDTH
                left = PLOT_LEFT if anchor_left else self.right - width
                if all(left + width + 6 <= a or left >= b + 6 for a, b in labelled):
                    parts.append(_text(left, base + 20, text, "chart-tick-label"))
                    labelled.append((left, left + width))
        return parts

    def _end_label_parts(self) -> list[str]:
        """Each line's last value right of the plot; equal values share one label, close ones
        are pushed apart upwards."""
        by_value: dict[int, list[LineStyle]] = {}
        for style, value in self.ends:
            by_value.setdefault(value, []).append(style)
        placed: list[float] = []
        parts = []
        for value in sorted(by_value):
            y = self.y(value) + FONT_SIZE / 3
            if placed and placed[-1] - y < FONT_SIZE + 1:
                y = placed[-1] - FONT_SIZE - 1
            placed.append(y)
            styles = by_value[value]
            fill = styles[0].stroke if len(styles) == 1 else INK
            parts.append(_text(self.right + 5, y, self.labels.format_number(value), "chart-end-label", fill=fill))
        return parts

    def _legend_parts(self) -> list[str]:
        parts = []
        top = self.plot_bottom + LEGEND_GAP
        for index, (style, text) in enumerate(self._legend_specs):
            y = top + ROW_HEIGHT * index
            parts.append(_path(style, f"M{_n(PLOT_LEFT)} {_n(y - 5)}h{SAMPLE_WIDTH}", "chart-sample"))
            room = WIDTH - PLOT_LEFT - SAMPLE_WIDTH - 10
            parts.append(_text(PLOT_LEFT + SAMPLE_WIDTH + 8, y, self._fit(text, room), "chart-legend-label"))
        return parts

    def render(self, id_prefix: str, lang_code: str, title: str, summary: str) -> Markup:
        markers = self._layout_markers()
        legend = self._legend_parts()
        body = (self._axes() + self._year_ticks() + markers + self._line_parts() + self._tick_labels()
                + self._end_label_parts() + legend)
        desc = " ".join([summary] + self.long_texts)
        title_id, desc_id = f"{id_prefix}-title", f"{id_prefix}-desc"
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {_n(self.height)}" '
            f'width="100%" role="img" aria-labelledby="{title_id} {desc_id}" lang="{escape(lang_code)}" '
            f'font-size="{FONT_SIZE}" font-family="system-ui, sans-serif" fill="{INK}">'
            f'<title id="{title_id}">{escape(title)}</title><desc id="{desc_id}">{escape(desc)}</desc>'
        )
        return Markup(head + "".join(body) + "</svg>")


# ---------------------------------------------------------------------------- helpers


def _check_id(id_prefix: str) -> None:
    if not _ID.fullmatch(id_prefix):
        raise InvalidChartId(id_prefix)


def _nice_scale(top_value: int) -> tuple[int, int]:
    """A grid step of 1, 2 or 5 times a power of ten giving at most 5 intervals up to
    ``top_value`` (at least 1), and the top of the axis (a multiple of the step); exact for
    ints of any size."""
    top_value = max(1, int(top_value))
    exponent = 0
    while True:
        for mantissa in (1, 2, 5):
            step = mantissa * 10**exponent
            intervals = -(-top_value // step)
            if intervals <= 5:
                return step, intervals * step
        exponent += 1


def end_of_day(seconds: int, time_zone: str | None = None) -> int:
    """The last second (Unix time, inclusive) of the calendar day of ``seconds`` in
    ``time_zone`` (IANA name; ``None``: UTC), or ``seconds`` beyond what Python's datetime
    holds. The charts' "today" is this second, not the request's: a chart, and the page it
    is on, then stays the same representation all day unless the ledger changes (a day is
    what the marker's label names).

    Raises:
        zoneinfo.ZoneInfoNotFoundError: ``time_zone`` is unknown.
    """
    if not 0 <= seconds <= _LAST_SECOND - 2 * 86_400:
        return seconds
    zone = _zone(time_zone)
    day = datetime.fromtimestamp(seconds, tz=timezone.utc).astimezone(zone).date()
    next_day = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    return max(int(next_day.timestamp()) - 1, seconds)


def _zone(time_zone: str | None) -> ZoneInfo | timezone:
    return ZoneInfo(time_zone) if time_zone else timezone.utc


_LAST_SECOND = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc).timestamp())
"""The last moment Python's datetime holds; the contract allows due dates up to year 10000."""


def _year_of(seconds: int, zone: ZoneInfo | timezone) -> int:
    """The calendar year of ``seconds`` in ``zone``; 10000 beyond year 9999 (UTC)."""
    if seconds > _LAST_SECOND - 2 * 86_400:  # room for any zone's offset
        return 10_000 if seconds > _LAST_SECOND else 9_999
    return datetime.fromtimestamp(seconds, tz=timezone.utc).astimezone(zone).year


def _new_year(year: int, zone: ZoneInfo | timezone) -> int:
    """1 January of ``year``, 00:00 in ``zone``, as Unix seconds (year 10000 and later: UTC,
    the first second after year 9999 for 10000)."""
    if year > 9_999:
        return _LAST_SECOND + 1 + (year - 10_000) * 365 * 86_400
    return int(datetime(year, 1, 1, tzinfo=zone).timestamp())


def _n(value: float) -> str:
    """A coordinate with at most two decimals, no trailing zeros."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _path(style: LineStyle, d: str, role_class: str) -> str:
    dash = f' stroke-dasharray="{style.dash}" stroke-linecap="round"' if style.dash else ""
    return (f'<path class="{role_class} {style.css_class}" d="{d}" fill="none" stroke="{style.stroke}" '
            f'stroke-width="{_n(style.width)}"{dash}/>')


def _text(x: float, y: float, text: str, css_class: str, *, fill: str | None = None, halo: bool = False) -> str:
    extra = f' fill="{fill}"' if fill else ""
    if halo:
        extra += f' stroke="{HALO}" stroke-width="4" stroke-linejoin="round" paint-order="stroke"'
    return f'<text class="{css_class}" x="{_n(x)}" y="{_n(y)}"{extra}>{escape(text)}</text>'
