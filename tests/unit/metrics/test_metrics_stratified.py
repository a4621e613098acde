"""Within-segment comparisons, checked against statsmodels' StratifiedTable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.contingency_tables import StratifiedTable

import auditor
from auditor.errors import DataValidationError, SpecError
from auditor.metrics.below_line import Rate, below_line_test
from auditor.metrics.stats import power_at_ratio
from auditor.metrics.stratified import (
    breslow_day_p,
    cmh_p,
    mh_odds_ratio,
    stratified_records,
)
from auditor.spec import load_spec


def _tables(rng: np.random.Generator, k: int) -> tuple[np.ndarray, ...]:
    n1 = rng.integers(20, 200, k).astype(float)
    n0 = rng.integers(20, 200, k).astype(float)
    a = rng.binomial(n1.astype(int), rng.uniform(0.2, 0.6, k)).astype(float)
    c = rng.binomial(n0.astype(int), rng.uniform(0.3, 0.7, k)).astype(float)
    return a, n1, c, n0


@pytest.mark.parametrize("seed", range(5))
def test_matches_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, n1, c, n0 = _tables(rng, k=int(rng.integers(2, 7)))
    st = StratifiedTable(np.stack([[a, n1 - a], [c, n0 - c]]))
    odds = mh_odds_ratio(a, n1, c, n0)
    assert odds == pytest.approx(st.oddsratio_pooled, rel=1e-10)
    assert cmh_p(a, n1, c, n0) == pytest.approx(
        st.test_null_odds(correction=False).pvalue, rel=1e-9
    )
    assert odds is not None
    assert breslow_day_p(a, n1, c, n0, odds) == pytest.approx(
        st.test_equal_odds(adjust=False).pvalue, rel=1e-6
    )
    recs = stratified_records(
        "g", ["ref", "x"], np.stack([n0, n1]), np.stack([c, a]), "ref", min_group_size=30
    )
    x = next(r for r in recs if r.group == "x")
    assert x.value == pytest.approx(st.riskratio_pooled, rel=1e-10)
    assert x.ci_low is not None
    assert x.ci_high is not None
    assert x.ci_low < x.value < x.ci_high
    assert x.detail["strata_used"] == len(a)


def test_simpson_paradox_is_resolved(tmp_path: Path) -> None:
    """Group B applies mostly to the hard segment: pooled ratio low, within segments ~1."""
    rng = np.random.default_rng(7)
    rows = []
    for segment, rate, share_b in (("easy", 0.8, 0.1), ("hard", 0.2, 0.9)):
        for _ in range(2000):
            group = "B" if rng.uniform() < share_b else "A"
            rows.append((segment, group, int(rng.uniform() < rate)))
    frame = pd.DataFrame(rows, columns=["product", "grp", "approved"])
    frame.insert(0, "id", range(len(frame)))
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    spec = _spec(path, strata=["product"])
    result = auditor.run_audit(spec)
    pooled = next(m for m in result.metrics if m.metric == "impact_ratio" and m.group == "B")
    strat = next(
        m for m in result.metrics if m.metric == "stratified_impact_ratio" and m.group == "B"
    )
    assert pooled.value is not None
    assert pooled.value < 0.5
    assert strat.value == pytest.approx(1.0, abs=0.1)
    assert strat.reference == pooled.reference == "A"
    assert strat.p_value is not None
    assert strat.p_value > 0.01
    assert strat.p_value_adjusted is not None
    assert strat.detail["breslow_day_p"] > 0.01


def _spec(path: Path, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "segments",
        "domain": "credit",
        "data": {"path": str(path)},
        "columns": {"id": "id", "decision": "approved"},
        "protected": ["grp"],
    }
    spec.update(overrides)
    return spec


def test_strata_errors(tmp_path: Path) -> None:
    frame = pd.DataFrame({"id": range(4), "grp": ["A", "B", "A", "B"], "approved": [1, 0, 1, 1]})
    frame["product"] = ["x", None, "y", "x"]
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataValidationError) as err:
        auditor.run_audit(_spec(path, strata=["product"]))
    assert any(
        "'product' (named in strata): 1 missing value(s) at row(s) 2" in p
        for p in err.value.problems
    )
    with pytest.raises(SpecError) as spec_err:
        load_spec(_spec(path, strata=["grp"]))
    assert any("strata: 'grp' is a protected attribute" in p for p in spec_err.value.problems)
    with pytest.raises(DataValidationError) as missing:
        auditor.run_audit(_spec(path, strata=["region"]))
    assert any("column 'region' (named in strata) is missing" in p for p in missing.value.problems)


@pytest.mark.parametrize(("n1", "n2", "p_ref"), [(60, 400, 0.5), (200, 200, 0.3), (40, 1000, 0.6)])
def test_power_matches_simulation(n1: int, n2: int, p_ref: float) -> None:
    """Share of simulated samples (true ratio 0.8) in which the pooled z-test rejects."""
    rng = np.random.default_rng(0)
    reps = 40_000
    x1 = rng.binomial(n1, 0.8 * p_ref, reps)
    x2 = rng.binomial(n2, p_ref, reps)
    pooled = (x1 + x2) / (n1 + n2)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = np.abs(x1 / n1 - x2 / n2) / np.where(se > 0, se, np.inf)
    simulated = float(np.mean(z > 1.959963984540054))
    assert power_at_ratio(n1, n2, p_ref) == pytest.approx(simulated, abs=0.02)


def test_power_reaches_findings(tmp_path: Path) -> None:
    """A small group below 0.8 without evidence: the warning states the power."""
    frame = pd.DataFrame(
        {
            "id": range(400),
            "grp": ["A"] * 360 + ["B"] * 40,
            "approved": [1] * 180 + [0] * 180 + [1] * 15 + [0] * 25,
        }
    )
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    result = auditor.run_audit(_spec(path, domain="hiring", policies=["eeoc_ugesp"]))
    ratio = next(m for m in result.metrics if m.metric == "impact_ratio" and m.group == "B")
    assert ratio.value == pytest.approx(0.75)
    assert ratio.detail["power"] == pytest.approx(power_at_ratio(40, 360, 0.5))
    finding = next(f for f in result.findings if f.scope == "grp=B")
    assert finding.status == "warn"
    # the warning states the power of the test that decides (one-sided, family of 1) to
    # detect a true ratio of 0.60; detail.power keeps the two-sided test's at 0.80
    test = below_line_test(Rate(15, 40), [Rate(180, 360)], 0.8)
    assert test is not None
    power = test.power(0.05, 0.6, 0.8)
    assert f"power to detect a true ratio of 0.60 with these group sizes is {power:.0%}" in (
        finding.message
    )
