"""The calibration-by-group (reliability) chart, as inline SVG markup.

Each group is a line with its own Okabe–Ito colour, marker shape and dash pattern, so the
groups stay apart in grey-scale print and for colour-blind readers.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup
from matplotlib.figure import Figure as MplFigure
from matplotlib.ticker import PercentFormatter

from auditor.report.chart_cache import cached_chart
from auditor.report.plot import (
    BLACK,
    BLUE,
    GREEN,
    LINE_IN,
    ORANGE,
    SKY,
    THIRD_WIDTH_IN,
    VERMILLION,
    fixed_margins,
    label,
    legend_below,
    settings,
    to_svg,
)

PURPLE = "#CC79A7"  # Okabe–Ito reddish purple
STYLES = (
    (BLUE, "o", "-"),
    (ORANGE, "s", (0, (4, 1.5))),
    (GREEN, "^", (0, (1.2, 1.2))),
    (VERMILLION, "D", (0, (4, 1.5, 1.2, 1.5))),
    (PURPLE, "v", (0, (6, 2))),
    (SKY, "P", (0, (2, 2))),
)


@cached_chart
def calibration_chart(
    series: Sequence[tuple[str, float | None, Sequence[tuple[float, float, int]]]],
    *,
    chart_id: str,
) -> Markup:
    """``series``: ``(group, ece, points)`` with points ``(mean score, observed rate, n)``."""
    with settings():
        # a third of the width, three to a row (the report's calibration subsection): the
        # legend sits below the axes in one column, so it grows the figure
        legend_rows = 1 + len(series)
        fig = MplFigure(figsize=(THIRD_WIDTH_IN, 2.75 + LINE_IN * legend_rows))
        ax = fig.add_subplot()
        ax.grid(color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.plot(
            [0, 1], [0, 1], color=BLACK, linewidth=0.8, linestyle=(0, (4, 2)), label="calibrated"
        )
        for (group, ece, points), (colour, marker, dash) in zip(series, STYLES, strict=False):
            # short enough for the narrow legend with its ECE
            name = label(group, 32) + (f" (ECE {ece:.3f})" if ece is not None else "")
            ax.plot(
                [p[0] for p in points],
                [p[1] for p in points],
                color=colour,
                marker=marker,
                markersize=4,
                markeredgecolor=BLACK,
                markeredgewidth=0.4,
                linewidth=1.2,
                linestyle=dash,
                label=name,
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        ax.set_xlabel("mean score in the bin")
        ax.set_ylabel("observed favourable rate")
        handles, _ = ax.get_legend_handles_labels()
        with settings(legend__fontsize=7):
            rows = legend_below(fig, handles, 1)
        # margin for the y tick labels and the rotated y label (about 11 characters)
        fixed_margins(fig, ["x" * 11], bottom_lines=1 + rows)
        return to_svg(fig, chart_id)
