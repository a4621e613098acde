"""The gap-decomposition waterfall chart (SVG markup, see :mod:`auditor.report.svgdraw`).

Horizontal, like the report's other charts, so feature names stay readable: one row per
step from the top, each bar floating from the running total before it to the running total
after it, and a last row with the total gap drawn from zero. Negative steps are vermillion
with a heavy outline, positive ones blue, the summed rest and the residual grey with a
dashed outline, the total black: colour is never the only cue.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from auditor.report.chart_cache import cached_chart
from auditor.report.plot import (
    BLACK,
    BLUE,
    GREY,
    LINE_IN,
    THIRD_WIDTH_IN,
    TICKS_IN,
    VERMILLION,
    height,
    label,
    label_room,
)
from auditor.report.svgaxes import Handle, draw_legend, legend, spines, tick_labels, x_axis, x_label
from auditor.report.svgbars import (
    OUTLINES,
    PT,
    VALUE_SIZE,
    bar_axes,
    boxed_labels,
    draw_bars,
    draw_names,
    names_and_margin,
    panels,
    value_label,
    vline,
)
from auditor.report.svgdraw import Canvas, Stroke, line_d, text_width

LEFT_SHARE = 0.55
LEGEND_SIZE = 7.0
BAR_HEIGHT = 0.62
CONNECTOR = Stroke("#555555", 0.6, (0.6, 0.6))
ZERO = Stroke(BLACK, 0.8)


def _fmt(value: float) -> str:
    return f"{value:+.3f}".replace("-", "−")


@cached_chart
def waterfall_chart(
    steps: Sequence[tuple[str, float, str]],
    *,
    total: float,
    output: str,
    chart_id: str,
) -> Markup:
    """``steps`` are ``(label, value, kind)`` with kind ``feature``, ``rest``, ``base`` or
    ``residual``; they add up to ``total``, drawn as the last bar."""
    # the total's label names no group: the heading above the chart does. At a third of
    # the page the left margin may take 55% of the width, which holds the fixed labels
    # ("residual (unexplained)"); feature names are cut to what it holds
    room = label_room(THIRD_WIDTH_IN, LEFT_SHARE)
    labels = [label(s[0], room) if s[2] == "feature" else s[0] for s in steps] + ["total gap"]
    # a third of the width: three waterfalls to a row in the report (section 5.4)
    width = THIRD_WIDTH_IN * PT
    canvas = Canvas(
        width,
        height(len(labels), bottom_lines=3) * PT,
        chart_id,
        f"Gap decomposition in mean {output} output",
    )
    running = 0.0
    spans: list[tuple[float, float]] = []
    colours, marks = [], []
    for _, value, kind in steps:
        spans.append((running, running + value))
        running += value
        if kind in ("rest", "residual", "base"):
            colours.append(GREY)
            marks.append("///")
        else:
            colours.append(VERMILLION if value < 0 else BLUE)
            marks.append("xxx" if value < 0 else "")
    spans.append((0.0, total))
    colours.append(BLACK)
    marks.append("")
    handles = [
        Handle("lowers the output", "patch", OUTLINES["xxx"], fill=VERMILLION),
        Handle("raises it", "patch", OUTLINES[""], fill=BLUE),
        Handle("rest, base, residual", "patch", OUTLINES["///"], fill=GREY),
        Handle("total", "patch", OUTLINES[""], fill=BLACK),
    ]
    key = legend(handles, 2, size=LEGEND_SIZE, room=width - 4.0)
    names, left = names_and_margin(labels, width, left_share=LEFT_SHARE, bold_last=True)
    bottom = (TICKS_IN + (2 + key.rows) * LINE_IN + 0.1) * PT
    (box,) = panels(width, canvas.height, left, bottom, 1)
    values = [end - start for start, end in spans]
    texts = [_fmt(v) for v in values]
    ends = [x for span in spans for x in span]
    low, high = min([*ends, 0.0]), max([*ends, 0.0])
    span = max(high - low, 1e-9)
    # room on both sides for the value labels (with their offset) of bars that end at the
    # axis limits, measured in pt of this plot
    pad_pt = max(text_width(t, VALUE_SIZE) for t in texts) + 3.0 + 4.0
    plot_pt = box[2]
    pad = span * pad_pt / max(plot_pt - 2 * pad_pt, 0.3 * PT)
    ax = bar_axes(box, len(labels), low - pad, high + pad)
    ticks = ax.x_ticks()
    x_axis(canvas, ax, ticks, tick_labels(ticks))
    draw_bars(canvas, ax, spans, colours, marks, height=BAR_HEIGHT)
    # connectors: one path, from the end of each bar to the start of the next
    canvas.path(
        "".join(
            line_d(ax.px(spans[y][1]), ax.py(y + 0.31), ax.px(spans[y][1]), ax.py(y + 0.69))
            for y in range(len(spans) - 1)
        ),
        stroke=CONNECTOR,
    )
    vline(canvas, ax, 0.0, ZERO)
    spines(canvas, ax)
    # values beside each bar's tip, on white boxes (the zero line and the connectors
    # pass under them)
    boxed_labels(
        canvas,
        [
            value_label(
                ax.px(max(span) if value >= 0 else min(span)), ax.py(y), text, right=value < 0
            )
            for y, (span, value, text) in enumerate(zip(spans, values, texts, strict=True))
        ],
    )
    draw_names(canvas, ax, names, bold_last=True)
    x_label(canvas, ax, ["contribution to the gap", f"in mean {output} output"])
    draw_legend(canvas, key)
    return canvas.markup()
