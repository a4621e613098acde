"""The calibration-by-group (reliability) chart, as SVG markup (:mod:`auditor.report.svgdraw`).

Each group is a line with its own Okabe–Ito colour, marker shape and dash pattern, so the
groups stay apart in grey-scale print and for colour-blind readers.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from auditor.report.chart_cache import cached_chart
from auditor.report.plot import (
    BLACK,
    BLUE,
    GREEN,
    LINE_IN,
    ORANGE,
    RIGHT_IN,
    SKY,
    THIRD_WIDTH_IN,
    TICKS_IN,
    TOP_IN,
    VERMILLION,
    label,
)
from auditor.report.svgaxes import (
    LABEL_PAD,
    TICK_PAD,
    Axes,
    Handle,
    draw_legend,
    legend,
    spines,
    tick_labels,
    x_axis,
    x_label,
    y_axis,
    y_label,
)
from auditor.report.svgdraw import (
    LABEL_SIZE,
    TICK_SIZE,
    Canvas,
    Stroke,
    fit,
    line_d,
    marker_d,
    polyline_d,
    text_width,
)

PT = 72.0
PURPLE = "#CC79A7"  # Okabe–Ito reddish purple
LINE_WIDTH = 1.2
MARKER_SIZE = 4.0
LEGEND_SIZE = 7.0
# colour, marker, dash pattern (in line widths, scaled by LINE_WIDTH as matplotlib does)
STYLES: tuple[tuple[str, str, tuple[float, ...]], ...] = (
    (BLUE, "o", ()),
    (ORANGE, "s", (4, 1.5)),
    (GREEN, "^", (1.2, 1.2)),
    (VERMILLION, "D", (4, 1.5, 1.2, 1.5)),
    (PURPLE, "v", (6, 2)),
    (SKY, "P", (2, 2)),
)
DIAGONAL = Stroke(BLACK, 0.8, (3.2, 1.6))
MARKER_EDGE = Stroke(BLACK, 0.4)
TICKS = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]


@cached_chart
def calibration_chart(
    series: Sequence[tuple[str, float | None, Sequence[tuple[float, float, int]]]],
    *,
    chart_id: str,
) -> Markup:
    """``series``: ``(group, ece, points)`` with points ``(mean score, observed rate, n)``."""
    # a third of the width, three to a row (the report's calibration subsection): the
    # legend sits below the axes in one column, so it grows the figure
    width = THIRD_WIDTH_IN * PT
    height = (2.75 + LINE_IN * (1 + len(series))) * PT
    groups = ", ".join(group for group, _, _ in series)
    canvas = Canvas(width, height, chart_id, f"Calibration by group: {groups}")
    styled = list(zip(series, STYLES, strict=False))
    room = width - 4.0 - 3.6 * LEGEND_SIZE  # the legend's padding, handle and gap
    handles = [Handle("calibrated", "line", DIAGONAL)]
    lines = []
    for (group, ece, points), (colour, marker, dash) in styled:
        # short enough for the narrow legend with its ECE
        suffix = f" (ECE {ece:.3f})" if ece is not None else ""
        name = fit(label(group, 32), LEGEND_SIZE, room - text_width(suffix, LEGEND_SIZE))
        stroke = Stroke(colour, LINE_WIDTH, tuple(d * LINE_WIDTH for d in dash), join="round")
        handles.append(
            Handle(
                name + suffix,
                "line",
                stroke,
                fill=colour,
                marker=marker,
                marker_size=MARKER_SIZE,
                marker_edge=MARKER_EDGE,
            )
        )
        lines.append((stroke, colour, marker, points))
    key = legend(handles, 1, size=LEGEND_SIZE, room=width - 4.0)
    labels = tick_labels(TICKS, percent=True)
    widest = max(text_width(t, TICK_SIZE) for t in labels)
    # the rotated y label, its gap, the y tick labels and their gap, 4 pt from the edge
    left = 4.0 + LABEL_SIZE + LABEL_PAD + widest + TICK_PAD
    # the last x tick label is centred on the right edge of the axes: room for its half
    right = max(RIGHT_IN * PT, text_width(labels[-1], TICK_SIZE) / 2 + 2.0)
    top = TOP_IN * PT
    bottom = (TICKS_IN + (1 + key.rows) * LINE_IN + 0.1) * PT
    ax = Axes(left, top, width - left - right, height - top - bottom)
    x_axis(canvas, ax, TICKS, labels)
    edge = y_axis(canvas, ax, TICKS, labels)
    canvas.path(line_d(ax.px(0), ax.py(0), ax.px(1), ax.py(1)), stroke=DIAGONAL)
    for i, (stroke, colour, marker, points) in enumerate(lines):
        xy = [(ax.px(p[0]), ax.py(p[1])) for p in points]
        canvas.path(polyline_d(xy), stroke=stroke)
        # every marker of a group in one path (one subpath per point)
        canvas.path(
            "".join(marker_d(marker, x, y, MARKER_SIZE) for x, y in xy),
            fill=colour,
            stroke=MARKER_EDGE,
            name=f"points-{i}",
        )
    spines(canvas, ax)
    x_label(canvas, ax, ["mean score in the bin"])
    y_label(canvas, ax, "observed favourable rate", edge)
    draw_legend(canvas, key)
    return canvas.markup()
