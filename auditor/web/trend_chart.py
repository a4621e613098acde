"""The audit page's trend chart: the lowest impact ratio of each run, with its interval.

One number per run keeps the chart readable where the trend table has a row per group and
metric; the table stays below it for the detail. The geometry is computed here and the SVG
is written by the (autoescaped) template, so no stored text reaches the page unescaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from auditor.history import TrendPoint, build_trend
from auditor.report.trend import RATIOS
from auditor.result import AuditResult

WIDTH, HEIGHT = 640.0, 220.0
LEFT, RIGHT, TOP, BOTTOM = 48.0, 40.0, 12.0, 30.0  # room for the date labels
REFERENCE = 0.8
"""The dashed line: the four-fifths rule of thumb for impact ratios (a convention)."""


@dataclass(frozen=True)
class ChartPoint:
    """One run's lowest ratio: what it was, and where it is drawn."""

    audit_id: str
    started_at: str
    series: str
    value: float
    ci_low: float | None
    ci_high: float | None
    current: bool
    x: float
    y: float
    y_low: float | None
    y_high: float | None


@dataclass(frozen=True)
class TrendChart:
    """Everything the template needs to draw the chart."""

    width: float
    height: float
    points: list[ChartPoint]
    line: str
    ticks: list[tuple[float, str]]
    reference_y: float
    left: float
    right: float
    bottom: float


def lowest_ratio_chart(history: Sequence[AuditResult], audit_id: str) -> TrendChart | None:
    """The chart of ``audit_id`` and the runs before it; None with fewer than two runs."""
    ordered = sorted(history, key=lambda r: (r.run.started_at, r.audit_id))
    index = next((i for i, r in enumerate(ordered) if r.audit_id == audit_id), None)
    if index is None:
        return None
    trend = build_trend(ordered[: index + 1])
    lowest: list[tuple[str, TrendPoint]] = []
    for run in trend.runs:
        candidates = [
            (s.label, p)
            for s in trend.series
            if s.metric in RATIOS
            for p in [s.at(run.audit_id)]
            if p is not None and p.value is not None
        ]
        if candidates:
            lowest.append(min(candidates, key=lambda c: c[1].value or 0.0))
    if len(lowest) < 2:
        return None
    tops = [REFERENCE, 1.0] + [p.ci_high or p.value or 0.0 for _, p in lowest]
    y_max = max(tops) * 1.05

    def y(value: float) -> float:
        return round(TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / y_max), 1)

    step = (WIDTH - LEFT - RIGHT) / (len(lowest) - 1)
    points = [
        ChartPoint(
            audit_id=p.audit_id,
            started_at=p.started_at,
            series=label,
            value=p.value or 0.0,
            ci_low=p.ci_low,
            ci_high=p.ci_high,
            current=p.audit_id == audit_id,
            x=round(LEFT + i * step, 1),
            y=y(p.value or 0.0),
            y_low=y(p.ci_low) if p.ci_low is not None else None,
            y_high=y(p.ci_high) if p.ci_high is not None else None,
        )
        for i, (label, p) in enumerate(lowest)
    ]
    ticks = [(y(v), f"{v:.1f}") for v in (0.0, 0.5, 1.0, 1.5, 2.0, 2.5) if v <= y_max]
    return TrendChart(
        width=WIDTH,
        height=HEIGHT,
        points=points,
        line=" ".join(f"{p.x},{p.y}" for p in points),
        ticks=ticks,
        reference_y=y(REFERENCE),
        left=LEFT,
        right=WIDTH - RIGHT,
        bottom=HEIGHT - BOTTOM,
    )
