"""The frontier chart of a search for less discriminatory alternatives, as inline SVG.

Two panels share their axes: every candidate on the search split (left), and the
candidates judged on the held-out split (right). Each point is AUC against the worst
judged group's impact ratio, with its 95% interval both ways. Shape doubles colour: a
black square is the audited model as refit, a vermillion star the recommendation, blue
circles the frontier, grey circles the rest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D

from auditor.report.chart_cache import cached_chart
from auditor.report.plot import (
    BLACK,
    BLUE,
    FOUR_FIFTHS,
    GREY,
    VERMILLION,
    WIDTH_IN,
    fixed_margins,
    label,
    legend_below,
    settings,
    to_svg,
)

PointKind = Literal["baseline", "recommended", "candidate"]
Split = Literal["search", "holdout"]
_STYLE: dict[str, tuple[str, str, float, int]] = {
    # kind -> colour, marker, size, z-order
    "baseline": (BLACK, "s", 6.5, 4),
    "recommended": (VERMILLION, "*", 11.0, 5),
    "frontier": (BLUE, "o", 5.0, 3),
    "candidate": (GREY, "o", 4.0, 2),
}


@dataclass(frozen=True)
class FrontierPoint:
    """One candidate on one split: the worst group's ratio and AUC, with intervals."""

    split: Split
    label: str
    kind: PointKind
    on_frontier: bool
    ratio: float
    ratio_low: float | None
    ratio_high: float | None
    auc: float
    auc_low: float
    auc_high: float

    @property
    def style(self) -> str:
        """The key of :data:`_STYLE` this point is drawn with."""
        if self.kind != "candidate":
            return self.kind
        return "frontier" if self.on_frontier else "candidate"


@cached_chart
def frontier_chart(points: Sequence[FrontierPoint], *, chart_id: str) -> Markup:
    """The two-panel frontier chart of ``points`` (search split, held-out split)."""
    finite = [p for p in points if math.isfinite(p.auc) and math.isfinite(p.ratio)]
    with settings():
        fig = MplFigure(figsize=(WIDTH_IN, 3.6))
        left = fig.add_subplot(1, 2, 1)
        right = fig.add_subplot(1, 2, 2, sharex=left, sharey=left)
        for ax, split, title in (
            (left, "search", "Search split (every candidate)"),
            (right, "holdout", "Held-out split (never used by the search)"),
        ):
            ax.grid(color="#dddddd", linewidth=0.6)
            ax.set_axisbelow(True)
            ax.axvline(FOUR_FIFTHS, color=BLACK, linewidth=0.7, linestyle=(0, (4, 2)))
            ax.set_title(title, loc="left")
            ax.set_xlabel("worst group's impact ratio")
            shown = [p for p in finite if p.split == split]
            for p in sorted(shown, key=lambda q: _STYLE[q.style][3]):
                _draw(ax, p)
            for p in shown:
                if p.kind != "candidate":
                    ax.annotate(
                        label(p.label),
                        (p.ratio, p.auc),
                        xytext=(5, -9 if p.kind == "baseline" else 5),
                        textcoords="offset points",
                        fontsize=7,
                    )
            if not shown:
                ax.text(0.5, 0.5, "no candidate judged", ha="center", transform=ax.transAxes)
        left.set_ylabel("AUC")
        right.tick_params(labelleft=False)
        _limits(left, finite)
        handles = [
            Line2D(
                [], [], color=BLACK, marker="s", linestyle="none", label="audited model (refit)"
            ),
            Line2D(
                [],
                [],
                color=VERMILLION,
                marker="*",
                markersize=9,
                linestyle="none",
                label="recommended",
            ),
            Line2D([], [], color=BLUE, marker="o", linestyle="none", label="on the frontier"),
            Line2D([], [], color=GREY, marker="o", linestyle="none", label="other candidate"),
            Line2D([], [], color=BLACK, linewidth=0.7, linestyle=(0, (4, 2)), label="0.80 screen"),
        ]
        rows = legend_below(fig, handles, 5)
        fixed_margins(fig, ["x" * 6], bottom_lines=1 + rows, wspace_in=0.15)
        return to_svg(fig, chart_id)


def _draw(ax: object, p: FrontierPoint) -> None:
    colour, marker, size, z = _STYLE[p.style]
    xerr = None
    if p.ratio_low is not None and p.ratio_high is not None:
        xerr = [[max(0.0, p.ratio - p.ratio_low)], [max(0.0, p.ratio_high - p.ratio)]]
    yerr = None
    if math.isfinite(p.auc_low) and math.isfinite(p.auc_high):
        yerr = [[max(0.0, p.auc - p.auc_low)], [max(0.0, p.auc_high - p.auc)]]
    ax.errorbar(  # type: ignore[attr-defined]
        [p.ratio],
        [p.auc],
        xerr=xerr,
        yerr=yerr,
        fmt=marker,
        color=colour,
        markersize=size,
        markeredgecolor=BLACK,
        markeredgewidth=0.4,
        elinewidth=0.8,
        capsize=1.5,
        zorder=z,
    )


def _limits(ax: object, points: Sequence[FrontierPoint]) -> None:
    """Axes that hold every point and interval, and the 0.80 line."""
    if not points:
        return
    xs = [v for p in points for v in (p.ratio, p.ratio_low, p.ratio_high) if v is not None]
    ys = [v for p in points for v in (p.auc, p.auc_low, p.auc_high) if math.isfinite(v)]
    lo, hi = min([*xs, FOUR_FIFTHS]), max([*xs, 1.0])
    pad = 0.04 * (hi - lo or 1.0)
    ax.set_xlim(max(0.0, lo - pad), hi + pad)  # type: ignore[attr-defined]
    ylo, yhi = min(ys), max(ys)
    ypad = 0.06 * (yhi - ylo or 0.05)
    ax.set_ylim(max(0.0, ylo - ypad), min(1.0, yhi + ypad))  # type: ignore[attr-defined]
