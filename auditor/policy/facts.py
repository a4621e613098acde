"""The named facts rules are checked against; the pipeline builds them, rules read them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from auditor.result import AttributionSummary, GroupCount, MetricRecord


@dataclass(frozen=True)
class Facts:
    """Everything a rule may look at: metrics, group sizes, features, evidence."""

    domain: str
    audit_date: date
    metrics: tuple[MetricRecord, ...]
    groups: tuple[GroupCount, ...]
    groupings: tuple[str, ...]
    intersections: tuple[str, ...]
    features: tuple[str, ...]
    attributions: AttributionSummary
    min_group_size: int
    evidence: dict[str, Any] = field(default_factory=dict)
    # issue 10: flat "explanation.fidelity.*" / "explanation.stability.*" figures
    explanation: dict[str, float] = field(default_factory=dict)

    def metric(self, name: str, groupings: str = "all") -> list[MetricRecord]:
        """Records of metric ``name``, for single attributes, intersections or both."""
        out = [m for m in self.metrics if m.metric == name]
        if groupings == "attributes":
            out = [m for m in out if m.attribute not in self.intersections]
        elif groupings == "intersections":
            out = [m for m in out if m.attribute in self.intersections]
        return out
