"""The frontier chart of a search for less discriminatory alternatives, as inline SVG.

Two panels share their axes: every candidate on the search split (left), and the
candidates judged on the held-out split (right). Each point is AUC against the worst
judged group's impact ratio. Shape doubles colour: a black square is the audited model
as refit, a vermillion star the recommendation, blue circles the frontier; these carry
their 95% intervals both ways and a label. The other candidates are small grey marks
without intervals or labels, so that a search of many overlapping candidates (the credit
demo) stays readable; their figures are in the tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

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
    "candidate": (GREY, "o", 3.0, 2),
}
_FONT_PT = 6.5
# label offsets from the point (points, horizontal alignment), tried in this order
_OFFSETS: tuple[tuple[float, float, str], ...] = (
    (6, 4, "left"),
    (6, -10, "left"),
    (-6, 4, "right"),
    (-6, -10, "right"),
    (6, 13, "left"),
    (6, -19, "left"),
    (-6, 13, "right"),
    (-6, -19, "right"),
    (0, 8, "center"),
    (0, -16, "center"),
    (6, 22, "left"),
    (-6, -28, "right"),
)


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
    def labelled(self) -> bool:
        """The audited model, the recommendation and the frontier carry a label and their
        intervals; the rest are small marks."""
        return self.kind != "candidate" or self.on_frontier

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
            if not shown:
                ax.text(0.5, 0.5, "no candidate judged", ha="center", transform=ax.transAxes)
        right.patch.set_visible(False)  # a left label sticking out stays visible
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
            Line2D(
                [],
                [],
                color=GREY,
                marker="o",
                markersize=3,
                linestyle="none",
                label="other candidate (no interval shown)",
            ),
            Line2D([], [], color=BLACK, linewidth=0.7, linestyle=(0, (4, 2)), label="0.80 screen"),
        ]
        rows = legend_below(fig, handles, 5)
        fixed_margins(fig, ["x" * 6], bottom_lines=1 + rows, wspace_in=0.15)
        for ax, split in ((left, "search"), (right, "holdout")):
            _labels(ax, [p for p in finite if p.split == split and p.labelled])
        return to_svg(fig, chart_id)


def _labels(ax: Any, points: Sequence[FrontierPoint]) -> None:
    """Label ``points`` where no label overlaps another (or the markers), trying a few
    offsets around each point in turn; the audited model and the recommendation first."""
    order = sorted(points, key=lambda p: ({"baseline": 0, "recommended": 1}.get(p.kind, 2),))
    dpi = ax.figure.dpi
    box = ax.get_window_extent()
    taken: list[tuple[float, float, float, float]] = []
    at = {p.label: ax.transData.transform((p.ratio, p.auc)) for p in points}
    for x, y in at.values():  # the markers themselves
        r = 4 * dpi / 72
        taken.append((x - r, y - r, x + r, y + r))
    for p in order:
        text = p.label if len(p.label) <= 48 else p.label[:47] + "…"
        x, y = at[p.label]
        w = (len(text) * _FONT_PT * 0.62 + 3) * dpi / 72
        h = _FONT_PT * 1.2 * dpi / 72
        best: tuple[float, tuple[float, float, str], tuple[float, float, float, float]] | None
        best = None
        for dx, dy, ha in _OFFSETS:
            x0 = x + dx * dpi / 72 - {"right": w, "center": w / 2}.get(ha, 0.0)
            y0 = y + dy * dpi / 72
            rect = (x0, y0, x0 + w, y0 + h)
            # what lies outside the panel counts double: a long label may still stick
            # out a little where nothing else is free
            outside = w * h - _overlap(rect, (box.x0, box.y0, box.x1, box.y1))
            clash = sum(_overlap(rect, t) for t in taken) + 2 * outside
            if best is None or clash < best[0]:
                best = (clash, (dx, dy, ha), rect)
            if clash == 0:
                break
        assert best is not None
        (dx, dy, ha), rect = best[1], best[2]
        taken.append(rect)
        ax.annotate(
            text,
            (p.ratio, p.auc),
            xytext=(dx, dy),
            textcoords="offset points",
            ha=ha,
            va="bottom",
            fontsize=_FONT_PT,
            color=BLACK,
            # a leader to its point, and a light box: readable over the intervals
            arrowprops={"arrowstyle": "-", "color": "#777777", "linewidth": 0.5, "shrinkA": 0},
            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.85},
            zorder=6,
            annotation_clip=False,
            clip_on=False,
        )


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """The area two boxes share (display units)."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


def _draw(ax: object, p: FrontierPoint) -> None:
    colour, marker, size, z = _STYLE[p.style]
    if not p.labelled:  # a small mark: its intervals would bury the frontier's
        ax.plot(  # type: ignore[attr-defined]
            [p.ratio],
            [p.auc],
            marker=marker,
            color=colour,
            markersize=size,
            markeredgecolor="#555555",
            markeredgewidth=0.3,
            linestyle="none",
            zorder=z,
        )
        return
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
    """Axes that hold every point, every interval drawn, and the 0.80 line."""
    if not points:
        return
    # the intervals drawn (the labelled points') and every point's mark
    xs = [
        v
        for p in points
        for v in ((p.ratio, p.ratio_low, p.ratio_high) if p.labelled else (p.ratio,))
        if v is not None
    ]
    ys = [
        v
        for p in points
        for v in ((p.auc, p.auc_low, p.auc_high) if p.labelled else (p.auc,))
        if math.isfinite(v)
    ]
    lo, hi = min([*xs, FOUR_FIFTHS]), max([*xs, 1.0])
    pad = 0.04 * (hi - lo or 1.0)
    ax.set_xlim(max(0.0, lo - pad), hi + pad)  # type: ignore[attr-defined]
    ylo, yhi = min(ys), max(ys)
    ypad = 0.06 * (yhi - ylo or 0.05)
    ax.set_ylim(max(0.0, ylo - ypad), min(1.0, yhi + ypad))  # type: ignore[attr-defined]
