"""Context of the results section's trend subsection: this run against earlier runs.

The rows come from :func:`auditor.history.trend_section` (the caller passes the earlier
stored runs in; the report never reads the database). Shown: every ratio (impact ratios
against the reference group), and any other key metric or attribution share whose change
was flagged; :attr:`TrendView.omitted` counts the unflagged rates and shares left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from auditor.history import FLAG_DISJOINT, FLAG_OUTSIDE, FLAG_SHARE, SHARE, trend_section
from auditor.result import AuditResult

RATIOS = frozenset({"impact_ratio", "adverse_impact_ratio", "scoring_impact_ratio"})
RATES = frozenset({"selection_rate", "scoring_rate"})
FLAG_TEXT = {
    FLAG_OUTSIDE: "outside the previous 95% interval",
    FLAG_DISJOINT: "95% intervals do not overlap",
    FLAG_SHARE: "share moved by 10 points or more (convention)",
}


@dataclass(frozen=True)
class TrendRow:
    """One metric of one group (or one feature's attribution share) in two runs."""

    what: str
    metric: str
    kind: str  # rate | ratio | share
    previous: float | None
    current: float | None
    change: float | None
    flags: list[str]


@dataclass(frozen=True)
class TrendView:
    """The trend subsection: the runs compared and the rows shown."""

    runs: list[dict[str, Any]]
    previous_audit_id: str
    rows: list[TrendRow]
    flagged: int
    omitted: int


def _kind(metric: str) -> str:
    return "share" if metric == SHARE else "ratio" if metric in RATIOS else "rate"


def build_trend_view(result: AuditResult, history: Sequence[AuditResult]) -> TrendView | None:
    """The trend of ``result`` against the runs in ``history`` that started before it, or
    None when there is none (then the report has no trend subsection)."""
    if not history:
        return None
    runs = {r.audit_id: r for r in history}
    runs[result.audit_id] = result
    section = trend_section(list(runs.values()), result.audit_id)
    if section is None:
        return None
    shown: list[TrendRow] = []
    omitted = 0
    for row in section["rows"]:
        metric = row["metric"]
        flags = [FLAG_TEXT.get(f, f) for f in row["flags"]]
        if metric not in RATIOS and not flags:
            omitted += 1
            continue
        what = row["group"] if metric == SHARE else f"{row['attribute']} = {row['group']}"
        shown.append(
            TrendRow(
                what,
                "attribution share" if metric == SHARE else metric.replace("_", " "),
                _kind(metric),
                row["previous"],
                row["current"],
                row["change"],
                flags,
            )
        )
    return TrendView(
        runs=section["runs"],
        previous_audit_id=section["previous_audit_id"],
        rows=shown,
        flagged=len(section["flagged"]),
        omitted=omitted,
    )
