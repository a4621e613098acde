"""Calibration by group: the reliability chart of each attribute.

The metrics engine records, per group and per tenth of the score range, the observed rate
of favourable outcome labels and the group's mean score in that bin (``reliability``
records, ``detail`` holding ``mean_score``), and the group's expected calibration error
(``ece``). The chart plots observed rate against mean score for each group; a calibrated
model lies on the diagonal for every group. Only bins with at least :data:`MIN_BIN_N`
records are drawn, and at most :data:`MAX_GROUPS` groups (the largest known ones).
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.report import charts_calibration
from auditor.report.charts import Figure
from auditor.report.tables import AttributeTable
from auditor.result import AuditResult, MetricRecord

MIN_BIN_N = 10
MAX_GROUPS = 6


@dataclass(frozen=True)
class CalibrationSeries:
    """One group's reliability points ``(mean score, observed rate, n)`` and its ECE."""

    group: str
    n: int
    ece: float | None
    points: list[tuple[float, float, int]]


def calibration_series(
    records: list[MetricRecord], attribute: str
) -> tuple[list[CalibrationSeries], int]:
    """The series drawn for ``attribute`` and the number of groups left out."""
    bins: dict[str, list[tuple[float, float, int]]] = {}
    eces: dict[str, MetricRecord] = {}
    unknown: set[str] = set()
    for rec in records:
        if rec.attribute != attribute:
            continue
        if "unknown" in rec.flags:
            unknown.add(rec.group)
        if rec.metric == "ece":
            eces.setdefault(rec.group, rec)
        elif rec.metric == "reliability" and rec.value is not None and rec.n >= MIN_BIN_N:
            score = rec.detail.get("mean_score")
            if score is not None:
                bins.setdefault(rec.group, []).append((score, rec.value, rec.n))
    groups = [g for g in bins if g not in unknown]
    sizes = {g: eces[g].n if g in eces else sum(p[2] for p in bins[g]) for g in groups}
    chosen = sorted(groups, key=lambda g: (-sizes[g], g))[:MAX_GROUPS]
    series = [
        CalibrationSeries(
            g,
            sizes[g],
            eces[g].value if g in eces else None,
            sorted(bins[g]),
        )
        for g in sorted(chosen, key=lambda g: groups.index(g))
    ]
    return series, len(groups) - len(chosen)


def attach_calibration(result: AuditResult, tables: list[AttributeTable]) -> None:
    """Append a calibration chart to every table whose attribute has reliability records."""
    records = [m for m in result.metrics if m.metric in ("reliability", "ece")]
    if not records:
        return
    for table in tables:
        if table.same_as is not None:
            continue  # the earlier table's chart shows the same groups and numbers
        series, left_out = calibration_series(records, table.name)
        if not series:
            continue
        svg = charts_calibration.calibration_chart(
            [(s.group, s.ece, s.points) for s in series], chart_id=f"{table.anchor}-calibration"
        )
        # what the chart shows is said once, in the calibration subsection's introduction
        caption = f"Calibration by group: {table.name}"
        if left_out:
            caption += f"; {left_out} smaller group(s) are left out for legibility"
        table.figures.append(
            Figure(svg, caption + ".", metrics=("reliability", "ece"), width="third")
        )
