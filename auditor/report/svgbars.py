"""Horizontal bar panels for the report's charts, drawn with :mod:`auditor.report.svgdraw`.

A panel is one row per bar (first bar on top): bars filled by kind, each colour doubled
by its outline (:data:`OUTLINES`), interval whiskers, names beside the axis and the value
beside each bar on a white box (a reference line passing under a label must not strike
through it). Bars of one colour and outline are one ``<path>``, all whiskers two.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from auditor.report.plot import BLACK, RIGHT_IN, TOP_IN, Bar, label
from auditor.report.svgaxes import Axes, spines, tick_labels, title, x_axis, x_label
from auditor.report.svgdraw import CENTRE, Canvas, Stroke, fit, line_d, rect_d, text_width

PT = 72.0  # points per inch: the layout constants of auditor.report.plot are in inches
NAME_SIZE = 8.0
VALUE_SIZE = 7.0
NAME_GAP = 4.0  # pt between a bar name and the axis
NAME_EDGE = 6.0  # pt kept free left of the longest name
VALUE_GAP = 3.0  # pt between the end of a bar (or its whisker) and its value label
BOX_PAD = 0.08  # white box around a value label, in em
BAR_HEIGHT = 0.65
CAP = 2.5  # half-length in pt of a whisker's end caps

# Colour differences are doubled by the bar outline, not by hatching (a hatch is an SVG
# pattern, slow in WeasyPrint). "" plain, "///" caution (dashed), "xxx" low / negative
# (heavy).
OUTLINES: dict[str, Stroke] = {
    "": Stroke("#333333", 0.4),
    "///": Stroke("#333333", 1.0, (2.0, 1.2)),
    "xxx": Stroke(BLACK, 1.6),
}
WHISKER = Stroke(BLACK, 0.8)
CAPS = Stroke(BLACK, 1.0)


def finite(bars: Sequence[Bar]) -> list[Bar]:
    """``bars`` with any non-finite number (NaN, infinity) taken as missing: such a value
    has no place on an axis, and the chart says "no value" there instead."""

    def ok(x: float | None) -> float | None:
        return x if x is not None and math.isfinite(x) else None

    return [replace(b, value=ok(b.value), low=ok(b.low), high=ok(b.high)) for b in bars]


def names_and_margin(
    labels: Sequence[str],
    width: float,
    *,
    left_share: float = 0.45,
    bold_last: bool = False,
) -> tuple[list[str], float]:
    """The bar names as drawn (cut to :func:`~auditor.report.plot.label`'s length, then to
    what fits) and the left margin in pt that holds them, at most ``left_share`` of a
    ``width``-pt figure (the last name in bold for ``bold_last``)."""
    cap = left_share * width
    room = cap - NAME_GAP - NAME_EDGE
    shown = []
    for i, text in enumerate(labels):
        bold = bold_last and i == len(labels) - 1
        shown.append(fit(label(text), NAME_SIZE, room, bold=bold))
    widest = max(
        (
            text_width(t, NAME_SIZE, bold=bold_last and i == len(shown) - 1)
            for i, t in enumerate(shown)
        ),
        default=text_width("xxxx", NAME_SIZE),
    )
    return shown, min(cap, widest + NAME_GAP + NAME_EDGE)


def panels(
    width: float,
    height: float,
    left: float,
    bottom: float,
    n: int,
    *,
    gap: float = 18.0,
) -> list[tuple[float, float, float, float]]:
    """``(left, top, width, height)`` in pt of ``n`` side-by-side panels in a figure
    ``width`` × ``height`` pt with ``left`` and ``bottom`` margins (the report's fixed top
    and right margins), ``gap`` pt apart."""
    top = TOP_IN * PT
    inner = width - left - RIGHT_IN * PT
    each = (inner - (n - 1) * gap) / n
    return [(left + i * (each + gap), top, each, height - top - bottom) for i in range(n)]


def bar_axes(box: tuple[float, float, float, float], n_rows: int, x0: float, x1: float) -> Axes:
    """Axes over ``box`` with ``n_rows`` rows (row 0 on top; at least one) and ``x0..x1``
    across."""
    left, top, width, height = box
    return Axes(left, top, width, height, x0, x1, max(n_rows, 1) - 0.5, -0.5)


def draw_bars(
    canvas: Canvas,
    ax: Axes,
    spans: Sequence[tuple[float, float] | None],
    colours: Sequence[str],
    marks: Sequence[str],
    *,
    height: float = BAR_HEIGHT,
) -> None:
    """Bars from ``start`` to ``end`` of each span, one row each (none for a row without a
    span); what lies beyond the axis limits is cut off. Bars sharing colour and outline
    are drawn as one path."""
    styles: dict[tuple[str, str], list[str]] = {}
    half = height / 2
    for row, (span, colour, mark) in enumerate(zip(spans, colours, marks, strict=True)):
        if span is None:
            continue
        start, end = span
        x0, x1 = ax.px(ax.clamp_x(start)), ax.px(ax.clamp_x(end))
        styles.setdefault((colour, mark), []).append(
            rect_d(min(x0, x1), ax.py(row - half), max(x0, x1), ax.py(row + half))
        )
    for (colour, mark), rects in styles.items():
        canvas.path("".join(rects), fill=colour, stroke=OUTLINES[mark])


def draw_whiskers(canvas: Canvas, ax: Axes, bars: Sequence[Bar]) -> None:
    """Interval whiskers with end caps (cut at the axis limits, no cap where cut)."""
    lines, caps = [], []
    for row, b in enumerate(bars):
        if b.value is None or b.low is None or b.high is None:
            continue
        y = ax.py(row)
        low, high = min(b.low, b.value), max(b.high, b.value)
        lines.append(line_d(ax.px(ax.clamp_x(low)), y, ax.px(ax.clamp_x(high)), y))
        for end in (low, high):
            if ax.clamp_x(end) == end:
                caps.append(line_d(ax.px(end), y - CAP, ax.px(end), y + CAP))
    canvas.path("".join(lines), stroke=WHISKER)
    canvas.path("".join(caps), stroke=CAPS)


def vline(canvas: Canvas, ax: Axes, x: float, stroke: Stroke) -> None:
    """A reference line across the whole height of the axes (none outside its range)."""
    if ax.clamp_x(x) == x:
        canvas.path(line_d(ax.px(x), ax.top, ax.px(x), ax.bottom), stroke=stroke)


def draw_names(canvas: Canvas, ax: Axes, names: Sequence[str], *, bold_last: bool = False) -> None:
    """Each row's name, right-aligned just left of the axes."""
    for row, text in enumerate(names):
        bold = bold_last and row == len(names) - 1
        canvas.centred_text(
            ax.left - NAME_GAP, ax.py(row), text, size=NAME_SIZE, anchor="end", bold=bold
        )


def draw_values(
    canvas: Canvas,
    ax: Axes,
    bars: Sequence[Bar],
    fmt: str,
    missing: str,
    *,
    bound: float,
) -> None:
    """Each bar's value right of its whisker (or its end), ``missing`` in grey at the axis
    where a bar has no value. A label that would cross ``bound`` (the next panel or the
    figure's edge) goes left of the bar's interval inside the axes, or else ends at
    ``bound``."""
    labels: list[tuple[float, float, str]] = []
    for row, b in enumerate(bars):
        y = ax.py(row)
        if b.value is None:
            canvas.centred_text(
                ax.left + 0.005 * ax.width, y, missing, size=VALUE_SIZE, colour="#555555"
            )
            continue
        text = fmt.format(b.value)
        width = text_width(text, VALUE_SIZE)
        end = max(b.value, b.high) if b.high is not None else b.value
        x = ax.px(ax.clamp_x(end)) + VALUE_GAP
        if x + width + BOX_PAD * VALUE_SIZE > bound:
            start = min(b.value, b.low) if b.low is not None else b.value
            x = ax.px(ax.clamp_x(start)) - VALUE_GAP - width
            if x < ax.left + 2.0:
                x = bound - BOX_PAD * VALUE_SIZE - width
        labels.append((x, y, text))
    boxed_labels(canvas, labels)


def value_label(x: float, y: float, text: str, *, right: bool = False) -> tuple[float, float, str]:
    """A value label beside ``x`` (3 pt off; left of it for ``right``), centred on ``y``."""
    if right:
        return x - VALUE_GAP - text_width(text, VALUE_SIZE), y, text
    return x + VALUE_GAP, y, text


def boxed_labels(canvas: Canvas, labels: Sequence[tuple[float, float, str]]) -> None:
    """Value labels ``(left, centre y, text)`` on white boxes (one path for all boxes): a
    reference line, whisker or connector passing under a label must not strike through
    it. Each label is written from its left edge, where its box starts."""
    pad = BOX_PAD * VALUE_SIZE
    half = VALUE_SIZE / 2 + pad
    canvas.path(
        "".join(
            rect_d(x - pad, y - half, x + text_width(text, VALUE_SIZE) + pad, y + half)
            for x, y, text in labels
        ),
        fill="#ffffff",
    )
    for x, y, text in labels:
        canvas.text(x, y + CENTRE * VALUE_SIZE, text, size=VALUE_SIZE)


def bar_panel(
    canvas: Canvas,
    ax: Axes,
    bars: Sequence[Bar],
    colours: Sequence[str],
    marks: Sequence[str],
    *,
    names: Sequence[str] | None,
    fmt: str,
    missing: str,
    bound: float,
    references: Sequence[tuple[float, Stroke]] = (),
    ticks: Sequence[float] | None = None,
    percent: bool = False,
    heading: str | None = None,
    xlabel: Sequence[str] = (),
) -> None:
    """One panel of bars from zero: grid and tick labels (``ticks``, else matplotlib's
    automatic ones), bars, whiskers, reference lines, the axis lines, names (``None`` for
    a panel that shares the rows of the one left of it), value labels, title, axis label."""
    values = list(ticks) if ticks is not None else ax.x_ticks()
    x_axis(canvas, ax, values, tick_labels(values, percent=percent))
    spans = [(0.0, b.value) if b.value is not None else None for b in bars]
    draw_bars(canvas, ax, spans, colours, marks)
    draw_whiskers(canvas, ax, bars)
    for x, stroke in references:
        vline(canvas, ax, x, stroke)
    spines(canvas, ax)
    if names is not None:
        draw_names(canvas, ax, names)
    draw_values(canvas, ax, bars, fmt, missing, bound=bound)
    if heading is not None:
        title(canvas, ax, heading)
    x_label(canvas, ax, xlabel)
