"""The gap-decomposition waterfall chart (inline SVG markup, see :mod:`auditor.report.plot`).

Horizontal, like the report's other charts, so feature names stay readable: one row per
step from the top, each bar floating from the running total before it to the running total
after it, and a last row with the total gap drawn from zero. Negative steps are vermillion
with a heavy outline, positive ones blue, the summed rest and the residual grey with a
dashed outline, the total black: colour is never the only cue.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup
from matplotlib.patches import Patch

from auditor.report.chart_cache import cached_chart
from auditor.report.plot import (
    BLACK,
    BLUE,
    GREY,
    RIGHT_IN,
    THIRD_WIDTH_IN,
    VERMILLION,
    edge,
    fixed_margins,
    label,
    label_room,
    left_margin,
    legend_below,
    new_figure,
    settings,
    to_svg,
)

LEFT_SHARE = 0.55
LABEL_PAD_IN = 0.45


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
    names = [label(s[0], room) if s[2] == "feature" else s[0] for s in steps] + ["total gap"]
    with settings():
        # a third of the width: three waterfalls to a row in the report (section 5.4)
        fig, ax = new_figure(len(names), bottom_lines=3, width=THIRD_WIDTH_IN)
        running = 0.0
        lefts, widths, colours, marks = [], [], [], []
        for _, value, kind in steps:
            lefts.append(running)
            widths.append(value)
            running += value
            if kind in ("rest", "residual", "base"):
                colours.append(GREY)
                marks.append("///")
            else:
                colours.append(VERMILLION if value < 0 else BLUE)
                marks.append("xxx" if value < 0 else "")
        lefts.append(0.0)
        widths.append(total)
        colours.append(BLACK)
        marks.append("")
        ys = list(range(len(names)))
        bars = ax.barh(ys, widths, left=lefts, color=colours, height=0.62)
        for patch, mark in zip(bars, marks, strict=True):
            patch.set(**edge(mark))
        # connectors: one path, from the end of each bar to the start of the next
        xs: list[float] = []
        yc: list[float] = []
        for y in range(len(names) - 1):
            end = lefts[y] + widths[y]
            xs += [end, end, float("nan")]
            yc += [y + 0.31, y + 0.69, float("nan")]
        ax.plot(xs, yc, color="#555555", linewidth=0.6, linestyle=(0, (1, 1)))
        ax.axvline(0.0, color=BLACK, linewidth=0.8)
        ends = [lefts[i] + widths[i] for i in ys] + lefts
        low, high = min([*ends, 0.0]), max([*ends, 0.0])
        span = max(high - low, 1e-9)
        # room on both sides for the value labels (about 7 characters at 7 pt, 0.45 in with
        # their offset) of bars that end at the axis limits, in inches of this plot
        plot_in = THIRD_WIDTH_IN - left_margin(THIRD_WIDTH_IN, names, LEFT_SHARE) - RIGHT_IN
        pad = span * LABEL_PAD_IN / max(plot_in - 2 * LABEL_PAD_IN, 0.3)
        ax.set_xlim(low - pad, high + pad)
        for y in ys:
            value = widths[y]
            end = max(lefts[y], lefts[y] + value) if value >= 0 else min(lefts[y], lefts[y] + value)
            ax.annotate(
                _fmt(value),
                (end, y),
                xytext=(3 if value >= 0 else -3, 0),
                textcoords="offset points",
                va="center",
                ha="left" if value >= 0 else "right",
                fontsize=7,
            )
        ax.set_yticks([])
        ax.set_ylim(len(names) - 0.5, -0.5)
        for y, name in enumerate(names):
            ax.annotate(
                label(name),
                (0.0, y),
                xycoords=("axes fraction", "data"),
                xytext=(-4, 0),
                textcoords="offset points",
                ha="right",
                va="center",
                fontsize=8,
                fontweight="bold" if y == len(names) - 1 else "normal",
            )
        ax.set_xlabel(f"contribution to the gap\nin mean {output} output")
        handles = [
            Patch(facecolor=VERMILLION, **edge("xxx"), label="lowers the output"),
            Patch(facecolor=BLUE, **edge(""), label="raises it"),
            Patch(facecolor=GREY, **edge("///"), label="rest, base, residual"),
            Patch(facecolor=BLACK, **edge(""), label="total"),
        ]
        with settings(legend__fontsize=7):
            rows = legend_below(fig, handles, 2)
        fixed_margins(fig, names, bottom_lines=2 + rows, left_share=LEFT_SHARE)
        return to_svg(fig, chart_id)
