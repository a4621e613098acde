"""Regression-adjusted mean difference of continuous outcomes (``columns.outcomes``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import auditor
from auditor.errors import DataValidationError, SpecError
from auditor.metrics.adjusted_mean import adjusted_mean_records
from auditor.metrics.controls import residual_smd_records
from auditor.spec import load_spec
from tests._engine_compare import assert_same_result

CONTROLS = ["credit_score", "dti", "product"]


def _loans(seed: int, n: int = 1200) -> pd.DataFrame:
    """APR falls with the credit score; group B pays ``0.6`` points more at equal controls;
    the spread grows with DTI and is largest in group C (the robust SE matters)."""
    rng = np.random.default_rng(seed)
    grp = rng.choice(["A", "B", "C"], n, p=[0.5, 0.3, 0.2])
    score = rng.normal(700, 50, n) - 40 * (grp != "A")
    dti = rng.uniform(0.05, 0.6, n)
    product = rng.choice(["card", "auto", "mortgage"], n, p=[0.5, 0.3, 0.2])
    apr = (
        30
        - 0.025 * score
        + 4 * dti
        + 1.5 * (product == "card")
        + 0.6 * (grp == "B")
        + rng.normal(0, 0.5 + 3 * dti + 2.0 * (grp == "C"), n)
    )
    return pd.DataFrame(
        {
            "id": range(n),
            "grp": grp,
            "credit_score": score,
            "dti": dti,
            "product": product,
            "approved": (rng.uniform(size=n) < 0.6).astype(int),
            "apr": apr,
        }
    )


def test_matches_statsmodels_ols_hc3() -> None:
    frame = _loans(3)
    recs, notes = adjusted_mean_records(
        "grp",
        frame["grp"],
        frame["apr"].to_numpy(),
        "apr",
        frame[CONTROLS],
        "A",
        min_group_size=30,
    )
    assert notes == []
    x = pd.DataFrame({f"g_{g}": (frame["grp"] == g).astype(float) for g in ("B", "C")})
    x["credit_score"], x["dti"] = frame["credit_score"], frame["dti"]
    for level in ("auto", "mortgage"):  # the auditor's reference level: the most frequent
        x[f"product={level}"] = (frame["product"] == level).astype(float)
    res = sm.OLS(frame["apr"], sm.add_constant(x)).fit(cov_type="HC3")
    classical = sm.OLS(frame["apr"], sm.add_constant(x)).fit()
    for g in ("B", "C"):
        rec = next(r for r in recs if r.group == g)
        assert rec.metric == "adjusted_mean_difference:apr"
        assert rec.value == pytest.approx(res.params[f"g_{g}"], abs=1e-9)
        assert rec.detail["se"] == pytest.approx(res.bse[f"g_{g}"], rel=1e-9)
        assert rec.p_value == pytest.approx(res.pvalues[f"g_{g}"], rel=1e-7)
        low, high = res.conf_int().loc[f"g_{g}"]
        assert (rec.ci_low, rec.ci_high) == pytest.approx((low, high), rel=1e-9)
        assert "test:wald_hc3" in rec.flags
    # HC3 is not the classical SE here: group C's APRs are far more spread out
    c = next(r for r in recs if r.group == "C")
    assert c.detail["se"] > 1.3 * classical.bse["g_C"]
    b = next(r for r in recs if r.group == "B")
    assert b.ci_low is not None
    assert b.ci_low < 0.6 < (b.ci_high or 0)  # the simulated premium
    raw = frame.loc[frame.grp == "B", "apr"].mean() - frame.loc[frame.grp == "A", "apr"].mean()
    assert b.detail["raw_difference"] == pytest.approx(raw)
    assert b.detail["raw_difference"] > 1.5  # most of the raw gap is the credit score's
    ref = next(r for r in recs if r.group == "A")
    assert (ref.value, ref.flags[-1]) == (0.0, "reference")


def test_one_member_group_and_missing_outcomes() -> None:
    frame = _loans(2, n=300)
    frame.loc[0, "grp"] = "D"  # a group of one: no robust SE
    frame.loc[[3, 4], "apr"] = np.nan
    recs, notes = adjusted_mean_records(
        "grp",
        frame["grp"],
        frame["apr"].to_numpy(),
        "apr",
        frame[CONTROLS],
        "A",
        min_group_size=30,
    )
    d = next(r for r in recs if r.group == "D")
    assert d.value is None
    assert "insufficient:size" in d.flags
    assert next(r for r in recs if r.group == "B").value is not None
    assert any("2 row(s) with a missing outcome" in n for n in notes)


def test_outcome_residual_smd_matches_statsmodels() -> None:
    """``residual_smd:apr``: the APR's OLS residual on the controls (statsmodels OLS), its
    group-vs-reference standardised mean difference (pooled SD), pooled t-test p (the
    statsmodels ``ttest_ind`` with ``usevar="pooled"``), Hedges–Olkin interval."""
    from statsmodels.stats.weightstats import ttest_ind

    frame = _loans(5)
    frame.loc[[2, 9, 40], "apr"] = np.nan  # left out, as the adjusted mean leaves them
    frame.loc[[5, 6], "dti"] = np.nan
    recs = residual_smd_records(
        "grp",
        frame["grp"],
        frame["apr"].to_numpy(),
        frame[CONTROLS],
        "A",
        min_group_size=30,
        outcome="apr",
    )
    sub = frame[frame["apr"].notna() & frame[CONTROLS].notna().all(axis=1)]
    x = pd.DataFrame({"credit_score": sub["credit_score"], "dti": sub["dti"]})
    for level in ("auto", "mortgage"):
        x[f"product={level}"] = (sub["product"] == level).astype(float)
    resid = sm.OLS(sub["apr"], sm.add_constant(x)).fit().resid
    ref = resid[sub["grp"] == "A"].to_numpy()
    assert {r.group for r in recs} == {"B", "C"}
    for rec in recs:
        own = resid[sub["grp"] == rec.group].to_numpy()
        n1, n0 = len(own), len(ref)
        pooled = np.sqrt(((n1 - 1) * own.var(ddof=1) + (n0 - 1) * ref.var(ddof=1)) / (n1 + n0 - 2))
        d = (own.mean() - ref.mean()) / pooled
        assert rec.metric == "residual_smd:apr"
        assert (rec.n, rec.reference) == (n1, "A")
        assert rec.value == pytest.approx(d, abs=1e-9)
        _, p, _ = ttest_ind(own, ref, usevar="pooled")
        assert rec.p_value == pytest.approx(p, rel=1e-7)
        se = np.sqrt((n1 + n0) / (n1 * n0) + d * d / (2 * (n1 + n0)))
        assert (rec.ci_low, rec.ci_high) == pytest.approx((d - 1.959964 * se, d + 1.959964 * se))
        assert rec.detail["rows_used"] == len(sub)
    # group B's simulated 0.6-point premium survives the controls
    b = next(r for r in recs if r.group == "B")
    assert b.value is not None
    assert b.value > 0.1
    assert (b.ci_low or 0) > 0


def _spec(path: Path, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "apr",
        "domain": "credit",
        "data": {"path": str(path)},
        "columns": {"id": "id", "decision": "approved", "outcomes": ["apr"]},
        "protected": ["grp"],
        "reference": {"grp": "A"},
        "controls": CONTROLS,
    }
    spec.update(overrides)
    return spec


def test_audit_report_and_streamed_engine(tmp_path: Path) -> None:
    from auditor.report import render_html

    path = tmp_path / "d.csv"
    _loans(3, n=600).to_csv(path, index=False)
    memory = auditor.run_audit(_spec(path))
    b = next(
        m for m in memory.metrics if m.metric == "adjusted_mean_difference:apr" and m.group == "B"
    )
    assert b.p_value_adjusted is not None  # Holm over the outcome's family
    smd = next(m for m in memory.metrics if m.metric == "residual_smd:apr" and m.group == "B")
    assert smd.p_value_adjusted is not None  # its own Holm family
    html = render_html(memory)
    assert "Adjusted mean difference (apr)" in html
    assert "Residual SMD (apr)" in html
    assert "Wald (HC3)" in html
    streamed = auditor.run_audit({**_spec(path), "engine": {"chunk_rows": 150}})
    assert_same_result(memory, streamed)
    # older specs keep their digest: the new key is left out when unused
    plain = load_spec(_spec(path, columns={"id": "id", "decision": "approved"}))
    assert "outcomes" not in plain.as_dict()["columns"]


def test_bad_outcome_columns_are_named(tmp_path: Path) -> None:
    frame = _loans(4, n=200)
    frame["apr"] = frame["apr"].astype(object)
    frame.loc[7, "apr"] = "n/a%"
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataValidationError) as bad:
        auditor.run_audit(_spec(path))
    assert any(
        "column 'apr' (named in columns.outcomes): not numeric" in p and "row(s) 8" in p
        for p in bad.value.problems
    )
    with pytest.raises(SpecError) as err:
        load_spec(
            _spec(path, columns={"id": "id", "decision": "approved", "outcomes": ["dti", "grp"]})
        )
    assert any("'dti' is also a control" in p for p in err.value.problems)
    assert any("'grp' is a protected attribute" in p for p in err.value.problems)
