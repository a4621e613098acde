"""Filter, sort and compare findings (issue 21, item 4) over hand-built results."""

from __future__ import annotations

import dataclasses

import pytest

from auditor.findings_view import FindingFilter, FindingFilterError, compare, filtered
from auditor.result import Finding
from tests.factories import make_result


def _finding(rule: str, scope: str, status: str, severity: str = "high") -> Finding:
    return Finding(rule, "nyc_ll144", rule, scope, status, severity, None, None, "c", "m")  # type: ignore[arg-type]


def test_filter_sort_and_refuse_unknown_values() -> None:
    result = dataclasses.replace(
        make_result(),
        findings=(
            _finding("R-2", "sex=Female", "pass", "low"),
            _finding("R-1", "sex=Female", "fail", "critical"),
            _finding("R-3", "sex=Male", "warn", "medium"),
        ),
    )
    assert [f.rule_id for f in filtered(result, FindingFilter(group="Female"))] == ["R-2", "R-1"]
    assert [f.rule_id for f in filtered(result, FindingFilter(), "status")] == ["R-1", "R-3", "R-2"]
    by_severity = filtered(result, FindingFilter(), "severity")
    assert [f.severity for f in by_severity] == ["critical", "medium", "low"]
    assert [f.rule_id for f in filtered(result, FindingFilter(status="warn"))] == ["R-3"]
    with pytest.raises(FindingFilterError, match="severity must be one of"):
        filtered(result, FindingFilter(severity="huge"))
    with pytest.raises(FindingFilterError, match="this audit's packs: nyc_ll144"):
        filtered(result, FindingFilter(pack="gdpr"))
    with pytest.raises(FindingFilterError, match="sort the findings by 'colour'"):
        filtered(result, FindingFilter(), "colour")


def test_compare_names_changed_findings_and_separated_intervals() -> None:
    before = dataclasses.replace(make_result(), findings=(_finding("R-1", "sex=Female", "warn"),))
    moved = tuple(
        dataclasses.replace(m, value=0.95, ci_low=0.90, ci_high=0.99)
        if m.metric == "impact_ratio" and m.group == "Female"
        else m
        for m in before.metrics
    )
    after = dataclasses.replace(
        before,
        metrics=moved,
        findings=(_finding("R-1", "sex=Female", "pass"), _finding("R-9", "sex=Male", "fail")),
    )
    diff = compare(before, after)
    assert [(c["rule_id"], c["before"], c["after"]) for c in diff["findings_changed"]] == [
        ("R-1", "warn", "pass"),
        ("R-9", None, "fail"),
    ]
    female = next(r for r in diff["ratios"] if r["group"] == "Female")
    assert female["before"]["value"] == 0.625
    assert female["after"]["value"] == 0.95
    assert female["intervals_apart"] is True  # [0.53, 0.74] against [0.90, 0.99]
    male = next(r for r in diff["ratios"] if r["group"] == "Male")
    assert male["intervals_apart"] is None  # the reference group has no interval
