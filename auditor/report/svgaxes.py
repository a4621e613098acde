"""Axes, ticks, axis labels and legends for the report's SVG charts (:mod:`auditor.report.svgdraw`).

The geometry follows what matplotlib drew for the same charts, so the report looks as
before: tick labels 7 pt under the axes, the axis label 4 pt under them, titles 6 pt above
the axes and left-aligned with them, a frameless legend centred at the bottom of the
figure, filled column by column (2 em handles, 0.8 em to the text, columns 2 em apart,
rows 1.5 em apart). Tick positions are matplotlib's (:func:`ticks`: ``MaxNLocator`` with
the bin count its ``AutoLocator`` would use for the same axis length), computed from
numbers alone, without a figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from auditor.report.svgdraw import (
    ASCENT,
    DESCENT,
    INK,
    LABEL_SIZE,
    TICK_SIZE,
    TITLE_SIZE,
    Canvas,
    Stroke,
    fit,
    line_d,
    marker_d,
    num,
    rect_d,
    text_width,
)

TICK_PAD = 7.0  # pt between the axes and its tick labels (matplotlib: pad 3.5 + tick 3.5)
LABEL_PAD = 4.0  # pt between the tick labels and the axis label
TITLE_PAD = 6.0  # pt between the axes and the baseline of its title
LINE_SPACING = 1.2
GRID = "#dddddd"

# --- ticks -----------------------------------------------------------------------------------


def ticks(
    lo: float, hi: float, length: float, *, size: float = TICK_SIZE, vertical: bool = False
) -> list[float]:
    """Tick positions within ``[lo, hi]`` as matplotlib's default locator places them on an
    axis ``length`` pt long with ``size`` pt tick labels (at most ``length / (3 × size)``
    bins across, ``length / (2 × size)`` up, never more than 9)."""
    from matplotlib.ticker import MaxNLocator

    space = math.floor(length / (size * (2 if vertical else 3))) if size > 0 else 9
    nbins = max(1, min(space, 9))
    values = MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    slack = 1e-10 * (hi - lo)
    return [float(v) for v in values if lo - slack <= v <= hi + slack]


def tick_labels(values: Sequence[float], *, percent: bool = False) -> list[str]:
    """Labels for evenly spaced ticks: the fewest decimals that show every tick exactly
    (matplotlib's default), ``%`` of 1.0 for ``percent``, a true minus sign; powers of ten
    for ticks too small or large for plain decimals."""
    shown = [100.0 * v for v in values] if percent else list(values)
    suffix = "%" if percent else ""
    biggest = max((abs(v) for v in shown), default=0.0)
    if biggest and (biggest < 1e-4 or biggest >= 1e6):
        return [_power(v) + suffix for v in shown]
    decimals = 0
    while decimals < 10 and any(
        abs(round(v, decimals) - v) > 1e-9 * max(biggest, 1e-300) for v in shown
    ):
        decimals += 1
    out = []
    for v in shown:
        text = f"{v:.{decimals}f}"
        if float(text) == 0:
            text = text.lstrip("-")
        out.append(text.replace("-", "−") + suffix)
    return out


def _power(value: float) -> str:
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.2e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}".replace("-", "−")


# --- axes ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Axes:
    """A plot area (``left``/``top``/``width``/``height`` in pt) with linear scales:
    ``x0..x1`` left to right, ``y0..y1`` bottom to top (``y0 > y1`` turns the axis over,
    as rows numbered from the top)."""

    left: float
    top: float
    width: float
    height: float
    x0: float = 0.0
    x1: float = 1.0
    y0: float = 0.0
    y1: float = 1.0

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height

    def px(self, x: float) -> float:
        """The horizontal position in pt of data value ``x``."""
        return self.left + (x - self.x0) / (self.x1 - self.x0) * self.width

    def py(self, y: float) -> float:
        """The vertical position in pt of data value ``y``."""
        return self.top + (self.y1 - y) / (self.y1 - self.y0) * self.height

    def clamp_x(self, x: float) -> float:
        """``x`` limited to the horizontal range (nothing is drawn outside the axes)."""
        lo, hi = min(self.x0, self.x1), max(self.x0, self.x1)
        return min(max(x, lo), hi)

    def x_ticks(self) -> list[float]:
        return ticks(self.x0, self.x1, self.width)

    def y_ticks(self) -> list[float]:
        return ticks(min(self.y0, self.y1), max(self.y0, self.y1), self.height, vertical=True)


GRID_STROKE = Stroke(GRID, 0.6)
SPINE = Stroke(INK, 0.8)


def x_axis(
    canvas: Canvas,
    ax: Axes,
    values: Sequence[float],
    labels: Sequence[str],
    *,
    grid: bool = True,
) -> None:
    """Vertical grid lines at ``values`` and their labels under the axes."""
    if grid:
        canvas.path(
            "".join(line_d(ax.px(v), ax.top, ax.px(v), ax.bottom) for v in values),
            stroke=GRID_STROKE,
        )
    baseline = ax.bottom + TICK_PAD + ASCENT * TICK_SIZE
    for v, text in zip(values, labels, strict=True):
        canvas.text(ax.px(v), baseline, text, size=TICK_SIZE, anchor="middle")


def y_axis(
    canvas: Canvas,
    ax: Axes,
    values: Sequence[float],
    labels: Sequence[str],
    *,
    grid: bool = True,
) -> float:
    """Horizontal grid lines at ``values`` and their labels left of the axes; returns the
    left edge in pt of the widest label."""
    if grid:
        canvas.path(
            "".join(line_d(ax.left, ax.py(v), ax.right, ax.py(v)) for v in values),
            stroke=GRID_STROKE,
        )
    x = ax.left - TICK_PAD
    for v, text in zip(values, labels, strict=True):
        canvas.centred_text(x, ax.py(v), text, size=TICK_SIZE, anchor="end")
    return x - max((text_width(t, TICK_SIZE) for t in labels), default=0.0)


def spines(canvas: Canvas, ax: Axes) -> None:
    """The left and bottom edges of the axes."""
    canvas.path(f"M{num(ax.left)} {num(ax.top)}V{num(ax.bottom)}H{num(ax.right)}", stroke=SPINE)


def title(canvas: Canvas, ax: Axes, text: str) -> None:
    """A title above the axes, left-aligned with them."""
    canvas.text(ax.left, ax.top - TITLE_PAD, text, size=TITLE_SIZE)


def x_label(canvas: Canvas, ax: Axes, lines: Sequence[str]) -> None:
    """An axis label of one or more lines, centred under the tick labels (each line cut
    to what fits the canvas on both sides of the centre)."""
    top = ax.bottom + TICK_PAD + TICK_SIZE + LABEL_PAD
    centre = ax.left + ax.width / 2
    room = 2 * min(centre, canvas.width - centre) - 4.0
    for i, line in enumerate(lines):
        baseline = top + ASCENT * LABEL_SIZE + i * LINE_SPACING * LABEL_SIZE
        shown = fit(line, LABEL_SIZE, room)
        canvas.text(centre, baseline, shown, size=LABEL_SIZE, anchor="middle")


def y_label(canvas: Canvas, ax: Axes, text: str, right: float) -> None:
    """A vertical axis label (read bottom to top) whose text ends ``LABEL_PAD`` left of
    ``right`` (the left edge of the tick labels)."""
    x = right - LABEL_PAD - DESCENT * LABEL_SIZE
    canvas.text(x, ax.top + ax.height / 2, text, size=LABEL_SIZE, anchor="middle", rotate=True)


# --- legend ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Handle:
    """One legend entry: a filled patch (``fill`` with outline ``stroke``) or a line
    (``stroke`` with an optional ``marker`` filled with ``fill``)."""

    label: str
    kind: Literal["patch", "line"]
    stroke: Stroke
    fill: str | None = None
    marker: str | None = None
    marker_size: float = 4.0
    marker_edge: Stroke | None = None


@dataclass(frozen=True)
class Legend:
    """A legend laid out in columns (filled column by column, as matplotlib does)."""

    handles: tuple[Handle, ...]
    columns: tuple[tuple[int, ...], ...]
    widths: tuple[float, ...]
    size: float

    @property
    def rows(self) -> int:
        return max((len(c) for c in self.columns), default=0)

    @property
    def width(self) -> float:
        spacing = 2.0 * self.size * max(0, len(self.columns) - 1)
        return sum(self.widths) + spacing + 0.8 * self.size


def legend(handles: Sequence[Handle], ncols: int, *, size: float, room: float) -> Legend:
    """Lay ``handles`` out in ``ncols`` columns (fewer where they would not fit ``room``
    pt); entries are handle (2 em), gap (0.8 em) and text, columns 2 em apart."""
    items = tuple(handles)
    entry = [2.8 * size + text_width(h.label, size) for h in items]
    for n in range(max(1, min(ncols, len(items))), 0, -1):
        rows, big = divmod(len(items), n)
        sizes = [rows + 1 if c < big else rows for c in range(n)]
        columns: list[tuple[int, ...]] = []
        start = 0
        for count in sizes:
            columns.append(tuple(range(start, start + count)))
            start += count
        columns = [c for c in columns if c]
        widths = tuple(max(entry[i] for i in c) for c in columns)
        out = Legend(items, tuple(columns), widths, size)
        if out.width <= room or n == 1:
            return out
    return Legend(items, (), (), size)


def draw_legend(canvas: Canvas, layout: Legend) -> None:
    """Draw ``layout`` centred at the bottom of the canvas, without a frame."""
    size = layout.size
    x = (canvas.width - layout.width) / 2 + 0.4 * size
    bottom = canvas.height - 0.2 * size - 0.4 * size
    top = bottom - layout.rows * size - (layout.rows - 1) * 0.5 * size
    for column, width in zip(layout.columns, layout.widths, strict=True):
        for row, index in enumerate(column):
            h = layout.handles[index]
            centre = top + row * 1.5 * size + size / 2
            _handle(canvas, h, x, centre, size)
            canvas.centred_text(x + 2.8 * size, centre, h.label, size=size)
        x += width + 2.0 * size


def _handle(canvas: Canvas, h: Handle, x: float, centre: float, size: float) -> None:
    if h.kind == "patch":
        half = 0.35 * size
        canvas.path(
            rect_d(x, centre - half, x + 2 * size, centre + half), fill=h.fill, stroke=h.stroke
        )
        return
    canvas.path(line_d(x, centre, x + 2 * size, centre), stroke=h.stroke)
    if h.marker is not None:
        canvas.path(
            marker_d(h.marker, x + size, centre, h.marker_size), fill=h.fill, stroke=h.marker_edge
        )
