"""The report's charts, each returned as inline SVG markup (see :mod:`auditor.report.plot`).

Selection/scoring rate and impact ratio per group, the ratio against a control group,
global attribution importance and per-feature attribution gaps. Colours follow the
Okabe–Ito palette and every colour difference is doubled by the bar outline (dashed for
small-sample or unknown groups, heavy for ratios below 0.80 and negative gaps).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from markupsafe import Markup
from matplotlib.figure import Figure as MplFigure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from auditor.report.chart_cache import cached_chart
from auditor.report.plot import (
    BLACK,
    BLUE,
    FOUR_FIFTHS,
    GREY,
    ORANGE,
    SKY,
    VERMILLION,
    WIDTH_IN,
    Bar,
    Kind,
    annotate,
    edge,
    fixed_margins,
    hbar,
    height,
    label,
    legend_below,
    new_figure,
    settings,
    to_svg,
)

__all__ = [
    "Bar",
    "Figure",
    "Kind",
    "gap_chart",
    "importance_chart",
    "rate_ratio_chart",
    "ratio_chart",
]


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


def _draw_rate(ax: Any, bars: Sequence[Bar], *, metric: str, reference_rate: float | None) -> None:
    colours = [
        BLUE if b.kind == "reference" else GREY if b.kind == "caution" else ORANGE for b in bars
    ]
    hbar(ax, bars, colours, ["///" if b.kind == "caution" else "" for b in bars])
    annotate(ax, bars, "{:.1%}", "no rate")
    top = max([b.high or b.value or 0.0 for b in bars] + [0.05])
    ax.set_xlim(0, min(1.0, top * 1.3) if top < 0.75 else 1.22)
    if top >= 0.75:  # room for the value labels, but no tick beyond 100%
        ax.set_xticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    ax.set_title(metric[:1].upper() + metric[1:], loc="left")
    ax.set_xlabel("rate with 95% Wilson interval")
    if reference_rate is not None:
        ax.axvline(reference_rate, color=BLACK, linestyle=(0, (4, 2)), linewidth=1)


def _draw_ratio(
    ax: Any, bars: Sequence[Bar], *, metric: str, reference: str | None, labels: bool = True
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
    hbar(
        ax,
        bars,
        colours,
        ["xxx" if is_low else "///" if b.kind == "caution" else "" for b, is_low in pairs],
        labels=labels,
    )
    annotate(ax, bars, "{:.3f}", "excluded from ratios")
    top = max([b.high or b.value or 0.0 for b in bars] + [1.0])
    ax.set_xlim(0, min(top * 1.3, 3.0))
    ax.set_title(metric[:1].upper() + metric[1:], loc="left")
    ax.set_xlabel(f"ratio with 95% interval\nreference: {label(reference or 'see table')}")
    ax.axvline(1.0, color="#555555", linewidth=0.8)
    ax.axvline(FOUR_FIFTHS, color=BLACK, linestyle=(0, (1.5, 1.5)), linewidth=1.2)


def _ratio_handles(bars: Sequence[Bar]) -> list[Any]:
    handles: list[Any] = [
        Line2D(
            [],
            [],
            color=BLACK,
            linestyle=(0, (1.5, 1.5)),
            linewidth=1.2,
            label="four-fifths convention (0.80)",
        ),
        Patch(facecolor=SKY, edgecolor="#333333", label="ratio ≥ 0.80"),
        Patch(facecolor=VERMILLION, **edge("xxx"), label="ratio < 0.80"),
    ]
    if any(b.kind == "caution" for b in bars):
        handles.append(Patch(facecolor=GREY, **edge("///"), label="small sample or unknown"))
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
    with settings():
        lines = 4 if ratios is not None else 3
        fig = MplFigure(figsize=(WIDTH_IN, height(len(rates), bottom_lines=lines)))
        axes = fig.subplots(1, 2 if ratios is not None else 1, sharey=True, squeeze=False)[0]
        for ax in axes:
            ax.grid(axis="x", color="#dddddd", linewidth=0.6)
            ax.set_axisbelow(True)
        _draw_rate(axes[0], rates, metric=rate_metric, reference_rate=reference_rate)
        handles: list[Any] = [
            Patch(facecolor=ORANGE, edgecolor="#333333", label="group"),
            Patch(facecolor=BLUE, edgecolor="#333333", label="reference group"),
        ]
        if reference_rate is not None:
            handles.append(
                Line2D(
                    [],
                    [],
                    color=BLACK,
                    linestyle=(0, (4, 2)),
                    linewidth=1,
                    label=f"reference rate ({reference_rate:.1%})",
                )
            )
        if ratios is not None:
            _draw_ratio(axes[1], ratios, metric=ratio_metric, reference=reference, labels=False)
            axes[1].tick_params(axis="y", left=False)
            handles += _ratio_handles(ratios)
        elif any(b.kind == "caution" for b in rates):
            handles.append(
                Patch(
                    facecolor=GREY,
                    **edge("///"),
                    label="small sample or unknown",
                )
            )
        rows = legend_below(fig, handles, 4)
        xlabel_lines = 2 if ratios is not None else 1
        fixed_margins(
            fig, [b.label for b in rates], bottom_lines=xlabel_lines + rows, wspace_in=0.25
        )
        return to_svg(fig, chart_id)


@cached_chart
def ratio_chart(
    bars: Sequence[Bar], *, metric: str, reference: str | None, chart_id: str
) -> Markup:
    """A ratio per group with whiskers, a parity line and the 0.80 convention line."""
    with settings():
        fig, ax = new_figure(len(bars), bottom_lines=4)
        _draw_ratio(ax, bars, metric=metric, reference=reference)
        handles = [
            *_ratio_handles(bars),
            Patch(facecolor=BLUE, edgecolor="#333333", label="reference group (1.00)"),
        ]
        rows = legend_below(fig, handles, 3)
        fixed_margins(fig, [b.label for b in bars], bottom_lines=2 + rows)
        return to_svg(fig, chart_id)


@cached_chart
def importance_chart(items: Sequence[tuple[str, float]], *, chart_id: str) -> Markup:
    """Global attribution importance (mean |attribution|) as horizontal bars, largest first."""
    bars = [Bar(name, value) for name, value in items]
    with settings():
        fig, ax = new_figure(len(bars), bottom_lines=1)
        hbar(ax, bars, [BLUE] * len(bars), [""] * len(bars))
        annotate(ax, bars, "{:.3g}", "—")
        top = max([b.value or 0.0 for b in bars] + [1e-9])
        ax.set_xlim(0, top * 1.2)
        ax.set_xlabel("mean |attribution| over the explained rows")
        fixed_margins(fig, [b.label for b in bars], bottom_lines=1)
        return to_svg(fig, chart_id)


@cached_chart
def gap_chart(
    items: Sequence[tuple[str, float]], *, group: str, reference: str | None, chart_id: str
) -> Markup:
    """Per-feature attribution gap of ``group`` against ``reference`` (diverging bars)."""
    bars = [Bar(name, value) for name, value in items]
    with settings():
        fig, ax = new_figure(len(bars), bottom_lines=3)
        colours = [VERMILLION if (b.value or 0.0) < 0 else BLUE for b in bars]
        hatches = ["xxx" if (b.value or 0.0) < 0 else "" for b in bars]
        hbar(ax, bars, colours, hatches)
        span = max([abs(b.value or 0.0) for b in bars] + [1e-9]) * 1.35
        ax.set_xlim(-span, span)
        ax.axvline(0.0, color=BLACK, linewidth=0.8)
        for y, b in enumerate(bars):
            v = b.value or 0.0
            ax.annotate(
                f"{v:+.3g}".replace("-", "−"),
                (v, y),
                xytext=(3 if v >= 0 else -3, 0),
                textcoords="offset points",
                va="center",
                ha="left" if v >= 0 else "right",
                fontsize=7,
            )
        ax.set_xlabel(
            f"mean attribution of {label(group)}\nminus mean attribution of "
            f"{label(reference or 'the reference group')}"
        )
        handles = [
            Patch(
                facecolor=VERMILLION,
                **edge("xxx"),
                label="pushes this group's output down",
            ),
            Patch(facecolor=BLUE, edgecolor="#333333", label="pushes it up"),
        ]
        rows = legend_below(fig, handles, 2)
        fixed_margins(fig, [b.label for b in bars], bottom_lines=2 + rows)
        return to_svg(fig, chart_id)
