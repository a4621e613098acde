"""Metric trends across stored runs of one audit, with changes beyond their intervals.

Pure functions over :class:`~auditor.result.AuditResult` objects (load them with
:func:`auditor.store.load_history`). Key metrics are the selection and scoring rates,
the impact ratios and the global attribution shares (each feature's share of the total
mean |attribution|). A point is flagged against the previous run when:

- ``outside_interval``: the new value lies outside the previous run's 95% interval;
- ``non_overlapping``: the two runs' 95% intervals do not overlap (a stronger signal);
- ``share_shift``: an attribution share moved by at least :data:`SHARE_SHIFT`
  (shares carry no interval; the threshold is a convention, not a test).

:func:`trend_section` gives a report section its context (previous vs. current run).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from auditor.errors import AuditorError
from auditor.result import AuditResult, MetricRecord

KEY_METRICS = (
    "selection_rate",
    "impact_ratio",
    "adverse_impact_ratio",
    "scoring_rate",
    "scoring_impact_ratio",
)
"""Group metrics followed across runs, in display order."""

ATTRIBUTION = "attribution"
SHARE = "attribution_share"
SHARE_SHIFT = 0.10
"""Absolute change in an attribution share that is flagged (convention)."""

FLAG_OUTSIDE = "outside_interval"
FLAG_DISJOINT = "non_overlapping"
FLAG_SHARE = "share_shift"


class HistoryError(AuditorError):
    """No stored run of the named audit."""


@dataclass(frozen=True)
class RunRef:
    """One stored run of the audit."""

    audit_id: str
    started_at: str


@dataclass(frozen=True)
class TrendPoint:
    """A metric's value in one run, and how it moved from the previous run."""

    audit_id: str
    started_at: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int | None
    change: float | None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrendSeries:
    """One metric of one group (or one feature's attribution share) across runs."""

    attribute: str
    group: str
    metric: str
    points: tuple[TrendPoint, ...]

    @property
    def label(self) -> str:
        """``attribute=group metric`` (``feature attribution_share`` for shares)."""
        if self.attribute == ATTRIBUTION:
            return f"{self.group} {self.metric}"
        return f"{self.attribute}={self.group} {self.metric}"

    @property
    def latest(self) -> TrendPoint | None:
        """The newest point."""
        return self.points[-1] if self.points else None

    @property
    def flagged(self) -> bool:
        """True when any point moved beyond its interval (or threshold)."""
        return any(p.flags for p in self.points)

    def at(self, audit_id: str) -> TrendPoint | None:
        """The point of ``audit_id``, if this series has one."""
        return next((p for p in self.points if p.audit_id == audit_id), None)


@dataclass(frozen=True)
class Trend:
    """Every key metric of an audit across its stored runs (oldest first)."""

    name: str
    runs: tuple[RunRef, ...]
    series: tuple[TrendSeries, ...]

    def flagged(self) -> list[tuple[TrendSeries, TrendPoint]]:
        """Each flagged point with its series, in series then run order."""
        return [(s, p) for s in self.series for p in s.points if p.flags]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (``auditor history --json``)."""
        return {
            "name": self.name,
            "runs": [asdict(r) for r in self.runs],
            "series": [
                {
                    "attribute": s.attribute,
                    "group": s.group,
                    "metric": s.metric,
                    "flagged": s.flagged,
                    "points": [{**asdict(p), "flags": list(p.flags)} for p in s.points],
                }
                for s in self.series
            ],
            "flags": [
                {"series": s.label, "audit_id": p.audit_id, "flags": list(p.flags)}
                for s, p in self.flagged()
            ],
        }


def _interval(low: float | None, high: float | None) -> tuple[float, float] | None:
    if low is None or high is None:
        return None
    return (min(low, high), max(low, high))


def change_flags(previous: TrendPoint, current: TrendPoint, *, share: bool) -> tuple[str, ...]:
    """Flags for ``current`` against ``previous`` (see the module docstring)."""
    if previous.value is None or current.value is None:
        return ()
    if share:
        return (FLAG_SHARE,) if abs(current.value - previous.value) >= SHARE_SHIFT else ()
    flags: list[str] = []
    before = _interval(previous.ci_low, previous.ci_high)
    now = _interval(current.ci_low, current.ci_high)
    if before is not None and not before[0] <= current.value <= before[1]:
        flags.append(FLAG_OUTSIDE)
    if before is not None and now is not None and (now[0] > before[1] or now[1] < before[0]):
        flags.append(FLAG_DISJOINT)
    return tuple(flags)


def attribution_shares(result: AuditResult) -> dict[str, float]:
    """Each feature's share of the total global importance (empty without attributions)."""
    importance = result.attributions.global_importance if result.attributions.computed else {}
    total = sum(abs(v) for v in importance.values())
    if not importance or total <= 0:
        return {}
    return {f: abs(v) / total for f, v in importance.items()}


def _sort_key(result: AuditResult) -> tuple[str, str]:
    return (result.run.started_at, result.audit_id)


def _raw_points(result: AuditResult) -> dict[tuple[str, str, str], TrendPoint]:
    points: dict[tuple[str, str, str], TrendPoint] = {}
    run = result.run
    m: MetricRecord
    for m in result.metrics:
        if m.metric not in KEY_METRICS or "unknown" in m.flags:
            continue
        points[(m.attribute, m.group, m.metric)] = TrendPoint(
            result.audit_id, run.started_at, m.value, m.ci_low, m.ci_high, m.n, None
        )
    n = result.attributions.n_explained or None
    for feature, share in attribution_shares(result).items():
        points[(ATTRIBUTION, feature, SHARE)] = TrendPoint(
            result.audit_id, run.started_at, share, None, None, n, None
        )
    return points


def build_trend(results: Iterable[AuditResult], *, name: str | None = None) -> Trend:
    """Trends of the key metrics across ``results`` (any order; sorted by start time)."""
    ordered = sorted(results, key=_sort_key)
    label = name if name is not None else (ordered[-1].name if ordered else "")
    runs = tuple(RunRef(r.audit_id, r.run.started_at) for r in ordered)
    series: dict[tuple[str, str, str], list[TrendPoint]] = {}
    for result in ordered:
        for key, point in _raw_points(result).items():
            history = series.setdefault(key, [])
            if history:
                previous = history[-1]
                change = (
                    point.value - previous.value
                    if point.value is not None and previous.value is not None
                    else None
                )
                flags = change_flags(previous, point, share=key[2] == SHARE)
                point = TrendPoint(**{**asdict(point), "change": change, "flags": flags})
            history.append(point)
    metric_rank = {m: i for i, m in enumerate((*KEY_METRICS, SHARE))}

    def order(key: tuple[str, str, str]) -> tuple[int, int, str, str]:
        attribute, group, metric = key
        if metric == SHARE:  # largest latest share first
            latest = series[key][-1].value or 0.0
            return (1, metric_rank[metric], f"{1 - latest:.6f}", group)
        return (0, metric_rank[metric], attribute, group)

    return Trend(
        label,
        runs,
        tuple(
            TrendSeries(a, g, m, tuple(series[(a, g, m)])) for a, g, m in sorted(series, key=order)
        ),
    )


def trend_section(results: Sequence[AuditResult], audit_id: str) -> dict[str, Any] | None:
    """Context for a report's trend section: ``audit_id`` against the runs before it.

    Returns None when ``audit_id`` has no earlier run among ``results`` (the section is
    then left out). Each row names the series, the previous and current values, the
    change and the flags; ``runs`` lists the earlier runs and the current one.
    """
    ordered = sorted(results, key=_sort_key)
    index = next((i for i, r in enumerate(ordered) if r.audit_id == audit_id), None)
    if index is None or index == 0:
        return None
    window = ordered[: index + 1]
    trend = build_trend(window)
    previous_id = window[-2].audit_id
    rows: list[dict[str, Any]] = []
    for s in trend.series:
        current = s.at(audit_id)
        before = s.at(previous_id)
        if current is None:
            continue
        rows.append(
            {
                "label": s.label,
                "attribute": s.attribute,
                "group": s.group,
                "metric": s.metric,
                "previous": before.value if before is not None else None,
                "current": current.value,
                "ci_low": current.ci_low,
                "ci_high": current.ci_high,
                "change": current.change if before is not None else None,
                "flags": list(current.flags) if before is not None else [],
                "history": [p.value for p in s.points],
            }
        )
    return {
        "name": trend.name,
        "runs": [asdict(r) for r in trend.runs],
        "previous_audit_id": previous_id,
        "rows": rows,
        "flagged": [r for r in rows if r["flags"]],
    }
