"""NYC LL144's optional small-category exclusion (6 RCNY 5-301), end to end.

A category under the chosen share (at most 2%) gets no impact ratio and cannot be the
reference, while its size and rate are still reported with the spec's justification.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import auditor
from auditor._resources import sample_data_dir
from auditor.errors import SpecError
from auditor.report.render import render_html
from auditor.result import AuditResult, MetricRecord
from auditor.spec import load_spec
from tests.factories import LL144_PUBLICATION

RACE = "race_ethnicity"
NHPI = "Native Hawaiian or Other Pacific Islander"
JUSTIFICATION = "Categories under 2% are too small for a stable ratio <b>(see memo)</b>."


@pytest.fixture(scope="module")
def data_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6,000 hiring decisions in which the tiny NHPI category (~0.7%) was always hired."""
    frame = pd.read_csv(sample_data_dir() / "hiring.csv").head(6000)
    frame.loc[frame[RACE] == NHPI, "hired"] = 1
    path = tmp_path_factory.mktemp("ll144") / "hiring.csv"
    frame.to_csv(path, index=False)
    return path


def _spec(path: Path, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "ll144-exclusion",
        "domain": "hiring",
        "data": {"path": str(path)},
        "columns": {"id": "applicant_id", "decision": "hired"},
        "protected": ["sex", RACE],
        "intersections": [["sex", RACE]],
        "policies": ["nyc_ll144", "eeoc_ugesp"],
        "evidence": {"data_source": "Historical applications", **LL144_PUBLICATION},
    }
    spec.update(overrides)
    return spec


def _records(result: AuditResult, metric: str, attribute: str) -> dict[str, MetricRecord]:
    return {m.group: m for m in result.metrics if m.metric == metric and m.attribute == attribute}


@pytest.fixture(scope="module")
def kept(data_path: Path) -> AuditResult:
    return auditor.run_audit(_spec(data_path))


@pytest.fixture(scope="module")
def excluded(data_path: Path) -> AuditResult:
    exclusion = {"below_share": 0.02, "justification": JUSTIFICATION}
    return auditor.run_audit(_spec(data_path, small_category_exclusion=exclusion))


def test_small_category_cannot_set_the_bar(kept: AuditResult, excluded: AuditResult) -> None:
    sizes = {g.group: g for g in excluded.dataset.groups if g.attribute == RACE}
    small = {g for g, s in sizes.items() if not s.unknown and s.share < 0.02}
    assert NHPI in small
    assert len(small) == 2
    # kept: the always-hired NHPI group (n >= 30) is the highest-rate reference
    assert _records(kept, "impact_ratio", RACE)["White"].reference == NHPI
    ratios = _records(excluded, "impact_ratio", RACE)
    assert ratios["White"].reference == "White"
    assert "reference" in ratios["White"].flags
    for group in small:
        assert ratios[group].value is None
        assert "excluded" in ratios[group].flags
    rates = _records(excluded, "selection_rate", RACE)
    for group in small:  # size and rate still reported
        assert rates[group].n == sizes[group].n
        assert rates[group].value is not None
        assert "excluded" in rates[group].flags
    assert rates[NHPI].value == 1.0
    # the other categories: ratios against White, recomputed from the rates
    for group, rec in ratios.items():
        if group in small or group == "White":
            continue
        expected = rates[group].value / rates["White"].value  # type: ignore[operator]
        assert rec.value == pytest.approx(expected, rel=1e-12)


def test_excluded_categories_in_findings(excluded: AuditResult) -> None:
    ugesp = [
        f
        for f in excluded.findings
        if f.scope == f"{RACE}={NHPI}" and f.rule_id == "EEOC-UGESP-4D-FOUR-FIFTHS"
    ]
    assert ugesp
    assert all(f.status == "insufficient_evidence" for f in ugesp)
    assert "excluded from impact ratios" in ugesp[0].message
    disclosure = next(f for f in excluded.findings if f.pack == "nyc_ll144" and f.scope == RACE)
    assert "excluded from impact ratios" in disclosure.message
    assert NHPI in disclosure.message
    small = next(
        f
        for f in excluded.findings
        if f.rule_id == "NYC-LL144-5-301-SMALL-CATEGORY" and f.scope == f"{RACE}={NHPI}"
    )
    assert small.status == "pass"
    assert "excluded from the impact ratios with a justification" in small.message


def test_kept_small_categories_and_attested_exclusions(data_path: Path) -> None:
    """Without the spec key nothing is excluded, whatever the evidence block claims."""
    result = auditor.run_audit(
        _spec(
            data_path,
            evidence={"data_source": "h", "ll144_excluded_categories": [NHPI]},
        )
    )
    small = next(
        f
        for f in result.findings
        if f.rule_id == "NYC-LL144-5-301-SMALL-CATEGORY" and f.scope == f"{RACE}={NHPI}"
    )
    assert "kept in the impact-ratio table" in small.message
    assert any("evidence.ll144_excluded_categories is ignored" in w for w in result.warnings)


def test_ll144_summary_prints_the_justification(kept: AuditResult, excluded: AuditResult) -> None:
    html = render_html(excluded, "ll144")
    section = html.split('id="sec-ll144-small"')[1].split("</section>")[0]
    assert "This audit uses the option" in section
    assert "Categories under 2% are too small" in section
    assert "&lt;b&gt;(see memo)&lt;/b&gt;" in section  # escaped, never markup
    assert "excluded from impact ratios" in section
    assert "This report excludes none" in render_html(kept, "ll144")


@pytest.mark.parametrize(
    ("exclusion", "expected"),
    [
        ({"below_share": 0.05, "justification": JUSTIFICATION}, "small_category_exclusion"),
        ({"below_share": 0.02}, "small_category_exclusion.justification"),
        ({"justification": "too small"}, "small_category_exclusion.justification"),
    ],
)
def test_exclusion_spec_is_checked(
    data_path: Path, exclusion: dict[str, Any], expected: str
) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(_spec(data_path, small_category_exclusion=exclusion))
    assert any(p.startswith(expected) for p in err.value.problems), err.value.problems
