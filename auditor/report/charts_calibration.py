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
    ORANGE,
    SKY,
    VERMILLION,
    WIDTH_IN,
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
        fig = MplFigure(figsize=(WIDTH_IN, 3.3))
        ax = fig.add_subplot()
        ax.grid(color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.plot(
            [0, 1], [0, 1], color=BLACK, linewidth=0.8, linestyle=(0, (4, 2)), label="calibrated"
        )
        for (group, ece, points), (colour, marker, dash) in zip(series, STYLES, strict=False):
            name = label(group) + (f" (ECE {ece:.3f})" if ece is not None else "")
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
        ax.set_xlabel("mean score in the bin (predicted probability of the favourable outcome)")
        ax.set_ylabel("observed favourable rate")
        handles, names = ax.get_legend_handles_labels()
        # three columns fit labels of up to about 30 characters across the figure
        rows = legend_below(fig, handles, 3 if max(map(len, names)) <= 30 else 2)
        # margin for the y tick labels and the rotated y label (about 13 characters)
        fixed_margins(fig, ["x" * 13], bottom_lines=1 + rows)
        return to_svg(fig, chart_id)
