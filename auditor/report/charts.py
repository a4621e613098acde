"""The report's charts, each returned as SVG markup (drawn by :mod:`auditor.report.svgdraw`).

Selection/scoring rate and impact ratio per group, the ratio against a control group,
global attribution importance and per-feature attribution gaps. Colours follow the
Okabe–Ito palette and every colour difference is doubled by the bar outline (dashed for
small-sample or unknown groups, heavy for ratios below 0.80 and negative gaps).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from markupsafe import Markup

from auditor.report.chart_cache import cached_chart
from auditor.report.plot import (
    BLACK,
    BLUE,
    FOUR_FIFTHS,
    GREY,
    LINE_IN,
    ORANGE,
    SKY,
    TICKS_IN,
    VERMILLION,
    WIDTH_IN,
    Bar,
    Kind,
    height,
    label,
)
from auditor.report.svgaxes import Handle, draw_legend, legend, spines, tick_labels, x_axis, x_label
from auditor.report.svgbars import (
    OUTLINES,
    PT,
    bar_axes,
    bar_panel,
    boxed_labels,
    draw_bars,
    draw_names,
    finite,
    names_and_margin,
    panels,
    value_label,
    vline,
)
from auditor.report.svgdraw import Canvas, Stroke

__all__ = [
    "Bar",
    "Figure",
    "Kind",
    "gap_chart",
    "importance_chart",
    "rate_ratio_chart",
    "ratio_chart",
]

LEGEND_SIZE = 7.5
REFERENCE_RATE = Stroke(BLACK, 1.0, (4.0, 2.0))
FOUR_FIFTHS_LINE = Stroke(BLACK, 1.2, (1.8, 1.8))
PARITY = Stroke("#555555", 0.8)
ZERO = Stroke(BLACK, 0.8)


@dataclass
class Figure:
    """An SVG chart, the caption that says what it shows, and its number.

    The report embeds the SVG as a ``data:`` URL (:attr:`src`), not inline: inline SVG
    elements join the HTML tree, where WeasyPrint runs its whole CSS cascade over each of
    them and then serialises them again for its SVG renderer; an embedded image is parsed
    once by the SVG renderer alone (this halved the charts' share of PDF time).
    """

    svg: Markup
    caption: str
    number: int = 0
    # the metrics the chart draws: a finding on one of them links to it (the workspace)
    metrics: tuple[str, ...] = ()
    # "half" / "third": drawn at HALF_WIDTH_IN / THIRD_WIDTH_IN and laid out two or three
    # to a row (gap decompositions; calibration)
    width: Literal["full", "half", "third"] = "full"

    @property
    def src(self) -> str:
        """The SVG as a base64 ``data:`` URL (the only kind of URL the fetcher serves)."""
        data = base64.b64encode(str(self.svg).encode("utf-8")).decode("ascii")
        return f"data:image/svg+xml;base64,{data}"


def patch(text: str, colour: str, mark: str = "") -> Handle:
    """A legend entry for bars filled with ``colour`` and outlined by ``mark``."""
    return Handle(text, "patch", OUTLINES[mark], fill=colour)


def bottom_margin(lines: int) -> float:
    """Room in pt under the axes for the tick labels and ``lines`` lines of axis label and
    legend (the report's fixed layout, :func:`auditor.report.plot.height`)."""
    return (TICKS_IN + lines * LINE_IN + 0.1) * PT


def _capital(metric: str) -> str:
    return metric[:1].upper() + metric[1:]


def _rate_panel(
    canvas: Canvas,
    box: tuple[float, float, float, float],
    bars: Sequence[Bar],
    names: Sequence[str],
    *,
    metric: str,
    reference_rate: float | None,
    bound: float,
) -> None:
    top = max([b.high or b.value or 0.0 for b in bars] + [0.05])
    ax = bar_axes(box, len(bars), 0.0, min(1.0, top * 1.3) if top < 0.75 else 1.22)
    bar_panel(
        canvas,
        ax,
        bars,
        [BLUE if b.kind == "reference" else GREY if b.kind == "caution" else ORANGE for b in bars],
        ["///" if b.kind == "caution" else "" for b in bars],
        names=names,
        fmt="{:.1%}",
        missing="no rate",
        bound=bound,
        references=[(reference_rate, REFERENCE_RATE)] if reference_rate is not None else [],
        # room for the value labels right of 100%, but no tick beyond it
        ticks=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0] if top >= 0.75 else None,
        percent=True,
        heading=_capital(metric),
        xlabel=["rate with 95% Wilson interval"],
    )


def _ratio_panel(
    canvas: Canvas,
    box: tuple[float, float, float, float],
    bars: Sequence[Bar],
    names: Sequence[str] | None,
    *,
    metric: str,
    reference: str | None,
    bound: float,
) -> None:
    low = [b.value is not None and b.value < FOUR_FIFTHS for b in bars]
    pairs = list(zip(bars, low, strict=True))
    colours = [
        BLUE
        if b.kind == "reference"
        else VERMILLION
        if is_low
        else GREY
        if b.kind == "caution"
        else SKY
        for b, is_low in pairs
    ]
    marks = ["xxx" if is_low else "///" if b.kind == "caution" else "" for b, is_low in pairs]
    top = max([b.high or b.value or 0.0 for b in bars] + [1.0])
    ax = bar_axes(box, len(bars), 0.0, min(top * 1.3, 3.0))
    bar_panel(
        canvas,
        ax,
        bars,
        colours,
        marks,
        names=names,
        fmt="{:.3f}",
        missing="excluded from ratios",
        bound=bound,
        references=[(1.0, PARITY), (FOUR_FIFTHS, FOUR_FIFTHS_LINE)],
        heading=_capital(metric),
        xlabel=["ratio with 95% interval", f"reference: {label(reference or 'see table')}"],
    )


def _ratio_handles(bars: Sequence[Bar]) -> list[Handle]:
    handles = [
        Handle("four-fifths convention (0.80)", "line", FOUR_FIFTHS_LINE),
        patch("ratio ≥ 0.80", SKY),
        patch("ratio < 0.80", VERMILLION, "xxx"),
    ]
    if any(b.kind == "caution" for b in bars):
        handles.append(patch("small sample or unknown", GREY, "///"))
    return handles


@cached_chart
def rate_ratio_chart(
    rates: Sequence[Bar],
    ratios: Sequence[Bar] | None,
    *,
    rate_metric: str,
    ratio_metric: str,
    reference: str | None,
    reference_rate: float | None,
    chart_id: str,
) -> Markup:
    """Two panels sharing the group axis: rate per group (with a dashed line at the reference
    group's rate) and impact ratio per group (with the 0.80 four-fifths convention line).

    ``rates`` and ``ratios`` list the same groups in the same order.
    """
    rates = finite(rates)
    ratios = finite(ratios) if ratios is not None else None
    width = WIDTH_IN * PT
    lines = 4 if ratios is not None else 3
    canvas = Canvas(
        width,
        height(len(rates), bottom_lines=lines) * PT,
        chart_id,
        f"{_capital(rate_metric)}"
        + (f" and {ratio_metric}" if ratios is not None else "")
        + " per group",
    )
    handles = [patch("group", ORANGE), patch("reference group", BLUE)]
    if reference_rate is not None:
        handles.append(Handle(f"reference rate ({reference_rate:.1%})", "line", REFERENCE_RATE))
    if ratios is not None:
        handles += _ratio_handles(ratios)
    elif any(b.kind == "caution" for b in rates):
        handles.append(patch("small sample or unknown", GREY, "///"))
    key = legend(handles, 4, size=LEGEND_SIZE, room=width - 4.0)
    names, left = names_and_margin([b.label for b in rates], width)
    xlabel_lines = 2 if ratios is not None else 1
    boxes = panels(
        width,
        canvas.height,
        left,
        bottom_margin(xlabel_lines + key.rows),
        2 if ratios is not None else 1,
    )
    bound = boxes[1][0] - 2.0 if ratios is not None else width - 2.0
    _rate_panel(
        canvas,
        boxes[0],
        rates,
        names,
        metric=rate_metric,
        reference_rate=reference_rate,
        bound=bound,
    )
    if ratios is not None:
        _ratio_panel(
            canvas,
            boxes[1],
            ratios,
            None,
            metric=ratio_metric,
            reference=reference,
            bound=width - 2.0,
        )
    draw_legend(canvas, key)
    return canvas.markup()


@cached_chart
def ratio_chart(
    bars: Sequence[Bar], *, metric: str, reference: str | None, chart_id: str
) -> Markup:
    """A ratio per group with whiskers, a parity line and the 0.80 convention line."""
    bars = finite(bars)
    width = WIDTH_IN * PT
    canvas = Canvas(
        width, height(len(bars), bottom_lines=4) * PT, chart_id, f"{_capital(metric)} per group"
    )
    handles = [*_ratio_handles(bars), patch("reference group (1.00)", BLUE)]
    key = legend(handles, 3, size=LEGEND_SIZE, room=width - 4.0)
    names, left = names_and_margin([b.label for b in bars], width)
    (box,) = panels(width, canvas.height, left, bottom_margin(2 + key.rows), 1)
    _ratio_panel(canvas, box, bars, names, metric=metric, reference=reference, bound=width - 2.0)
    draw_legend(canvas, key)
    return canvas.markup()


@cached_chart
def importance_chart(items: Sequence[tuple[str, float]], *, chart_id: str) -> Markup:
    """Global attribution importance (mean |attribution|) as horizontal bars, largest first."""
    bars = finite([Bar(name, value) for name, value in items])
    width = WIDTH_IN * PT
    canvas = Canvas(
        width,
        height(len(bars), bottom_lines=1) * PT,
        chart_id,
        "Mean absolute attribution per feature",
    )
    names, left = names_and_margin([b.label for b in bars], width)
    (box,) = panels(width, canvas.height, left, bottom_margin(1), 1)
    top = max([b.value or 0.0 for b in bars] + [1e-9])
    ax = bar_axes(box, len(bars), 0.0, top * 1.2)
    bar_panel(
        canvas,
        ax,
        bars,
        [BLUE] * len(bars),
        [""] * len(bars),
        names=names,
        fmt="{:.3g}",
        missing="—",
        bound=width - 2.0,
        xlabel=["mean |attribution| over the explained rows"],
    )
    return canvas.markup()


@cached_chart
def gap_chart(
    items: Sequence[tuple[str, float]], *, group: str, reference: str | None, chart_id: str
) -> Markup:
    """Per-feature attribution gap of ``group`` against ``reference`` (diverging bars)."""
    bars = finite([Bar(name, value) for name, value in items])
    width = WIDTH_IN * PT
    canvas = Canvas(
        width,
        height(len(bars), bottom_lines=3) * PT,
        chart_id,
        f"Attribution gap per feature: {group} against {reference or 'the reference group'}",
    )
    handles = [
        patch("pushes this group's output down", VERMILLION, "xxx"),
        patch("pushes it up", BLUE),
    ]
    key = legend(handles, 2, size=LEGEND_SIZE, room=width - 4.0)
    names, left = names_and_margin([b.label for b in bars], width)
    (box,) = panels(width, canvas.height, left, bottom_margin(2 + key.rows), 1)
    span = max([abs(b.value or 0.0) for b in bars] + [1e-9]) * 1.35
    ax = bar_axes(box, len(bars), -span, span)
    values = ax.x_ticks()
    x_axis(canvas, ax, values, tick_labels(values))
    negative = [(b.value or 0.0) < 0 for b in bars]
    draw_bars(
        canvas,
        ax,
        [(0.0, b.value or 0.0) for b in bars],
        [VERMILLION if neg else BLUE for neg in negative],
        ["xxx" if neg else "" for neg in negative],
    )
    vline(canvas, ax, 0.0, ZERO)
    spines(canvas, ax)
    draw_names(canvas, ax, names)
    boxed_labels(
        canvas,
        [
            value_label(ax.px(v), ax.py(row), f"{v:+.3g}".replace("-", "−"), right=v < 0)
            for row, v in enumerate(b.value or 0.0 for b in bars)
        ],
    )
    x_label(
        canvas,
        ax,
        [
            f"mean attribution of {label(group)}",
            f"minus mean attribution of {label(reference or 'the reference group')}",
        ],
    )
    draw_legend(canvas, key)
    return canvas.markup()
