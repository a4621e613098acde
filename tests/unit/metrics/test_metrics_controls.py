"""Disparity given legitimate factors (``controls:``), checked against statsmodels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import auditor
from auditor.errors import DataValidationError, SpecError
from auditor.metrics.controls import (
    FitProblem,
    adjusted_records,
    cdd_records,
    encode_controls,
    fit_logit,
    residual_smd_records,
)
from auditor.result import MetricRecord
from auditor.spec import load_spec
from tests._engine_compare import assert_same_result


def _credit(seed: int, n: int = 1500, gap: float = 0.0, groups: int = 2) -> pd.DataFrame:
    """Group B has lower credit scores; ``gap`` is a direct effect on the log-odds."""
    rng = np.random.default_rng(seed)
    names = np.array(["A", "B", "C"][:groups])
    grp = rng.choice(names, n, p=[0.5, 0.3, 0.2][:groups] / np.sum([0.5, 0.3, 0.2][:groups]))
    score = rng.normal(700, 50, n) - 40 * (grp != "A")
    dti = rng.uniform(0.05, 0.6, n)
    product = rng.choice(["card", "auto", "mortgage"], n, p=[0.5, 0.3, 0.2])
    eta = 0.04 * (score - 680) - 3.0 * dti + 0.5 * (product == "auto") - gap * (grp != "A") + 0.3
    approved = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame(
        {
            "id": range(n),
            "grp": grp,
            "credit_score": score,
            "dti": dti,
            "product": product,
            "approved": approved,
        }
    )


def _statsmodels_fit(frame: pd.DataFrame, groups: list[str]) -> Any:
    x = pd.DataFrame({f"g_{g}": (frame["grp"] == g).astype(float) for g in groups})
    x["credit_score"] = frame["credit_score"]
    x["dti"] = frame["dti"]
    # the auditor's reference level is the most frequent: "card"
    for level in ("auto", "mortgage"):
        x[f"product={level}"] = (frame["product"] == level).astype(float)
    return sm.Logit(frame["approved"].astype(float), sm.add_constant(x)).fit(disp=0)


def _by(recs: list[MetricRecord], metric: str, group: str) -> MetricRecord:
    return next(r for r in recs if r.metric == metric and r.group == group)


CONTROLS = ["credit_score", "dti", "product"]


def test_odds_ratio_and_marginal_effect_match_statsmodels() -> None:
    frame = _credit(1, gap=0.6)
    recs, warnings = adjusted_records(
        "grp", frame["grp"], frame["approved"].to_numpy(), frame[CONTROLS], "A", min_group_size=30
    )
    assert warnings == []
    res = _statsmodels_fit(frame, ["B"])
    odds = _by(recs, "adjusted_odds_ratio", "B")
    assert odds.detail["log_odds"] == pytest.approx(res.params["g_B"], abs=1e-6)
    assert odds.detail["se"] == pytest.approx(res.bse["g_B"], abs=1e-6)
    assert odds.p_value == pytest.approx(res.pvalues["g_B"], rel=1e-6)
    low, high = np.exp(res.conf_int().loc["g_B"])
    assert (odds.ci_low, odds.ci_high) == pytest.approx((low, high), rel=1e-6)
    # two groups: the counterfactual contrast is statsmodels' discrete-change effect
    margeff = res.get_margeff(at="overall", dummy=True)
    j = list(res.params.index[1:]).index("g_B")
    ame = _by(recs, "adjusted_marginal_effect", "B")
    assert ame.value == pytest.approx(margeff.margeff[j], abs=1e-6)
    assert ame.detail["se"] == pytest.approx(margeff.margeff_se[j], abs=1e-6)
    assert _by(recs, "adjusted_odds_ratio", "A").flags[-1] == "reference"


def test_three_groups_match_statsmodels_params_and_delta_method() -> None:
    frame = _credit(2, groups=3, gap=0.4)
    recs, _ = adjusted_records(
        "grp", frame["grp"], frame["approved"].to_numpy(), frame[CONTROLS], "A", min_group_size=30
    )
    res = _statsmodels_fit(frame, ["B", "C"])
    x = res.model.exog
    for j, g in ((1, "B"), (2, "C")):
        odds = _by(recs, "adjusted_odds_ratio", g)
        assert odds.detail["log_odds"] == pytest.approx(res.params.iloc[j], abs=1e-6)
        assert odds.detail["se"] == pytest.approx(res.bse.iloc[j], abs=1e-6)
        # AME by hand from statsmodels' fit: every row as g, then as the reference
        as_g, as_ref = x.copy(), x.copy()
        as_g[:, 1:3] = 0.0
        as_ref[:, 1:3] = 0.0
        as_g[:, j] = 1.0

        def contrast(beta: np.ndarray, a: np.ndarray = as_g, b: np.ndarray = as_ref) -> float:
            return float(np.mean(1 / (1 + np.exp(-a @ beta)) - 1 / (1 + np.exp(-b @ beta))))

        beta = res.params.to_numpy()
        eps = 1e-6
        grad = np.array(
            [
                (contrast(beta + eps * e) - contrast(beta - eps * e)) / (2 * eps)
                for e in np.eye(len(beta))
            ]
        )
        se = float(np.sqrt(grad @ res.cov_params().to_numpy() @ grad))
        ame = _by(recs, "adjusted_marginal_effect", g)
        assert ame.value == pytest.approx(contrast(beta), abs=1e-6)
        assert ame.detail["se"] == pytest.approx(se, abs=1e-6)


def test_gap_explained_by_credit_score_is_not_adjusted_gap() -> None:
    """No direct effect: the raw gap comes from lower scores; the adjusted OR is near 1."""
    frame = _credit(3, n=3000, gap=0.0)
    raw = frame.groupby("grp")["approved"].mean()
    assert raw["B"] / raw["A"] < 0.8  # a raw four-fifths shortfall
    recs, _ = adjusted_records(
        "grp", frame["grp"], frame["approved"].to_numpy(), frame[CONTROLS], "A", min_group_size=30
    )
    odds = _by(recs, "adjusted_odds_ratio", "B")
    assert odds.ci_low is not None
    assert odds.ci_high is not None
    assert odds.ci_low < 1.0 < odds.ci_high
    assert odds.value == pytest.approx(1.0, abs=0.25)


def test_gap_not_explained_by_controls_remains() -> None:
    frame = _credit(4, n=3000, gap=1.0)
    recs, _ = adjusted_records(
        "grp", frame["grp"], frame["approved"].to_numpy(), frame[CONTROLS], "A", min_group_size=30
    )
    odds = _by(recs, "adjusted_odds_ratio", "B")
    assert odds.ci_high is not None
    assert odds.ci_high < 1.0
    assert odds.value == pytest.approx(np.exp(-1.0), rel=0.3)
    ame = _by(recs, "adjusted_marginal_effect", "B")
    assert ame.value is not None
    assert ame.ci_high is not None
    assert ame.ci_high < 0


def test_separation_is_insufficient_evidence_not_a_crash() -> None:
    frame = _credit(5, n=400)
    frame.loc[frame["grp"] == "B", "approved"] = 1  # group B always approved
    recs, warnings = adjusted_records(
        "grp", frame["grp"], frame["approved"].to_numpy(), frame[CONTROLS], "A", min_group_size=30
    )
    odds = _by(recs, "adjusted_odds_ratio", "B")
    assert odds.value is None
    assert "insufficient:separation" in odds.flags
    assert any("grp=B" in w and "every decision of this group" in w for w in warnings)
    # separation by a numeric control: approval exactly when the score is above 700
    frame = _credit(6, n=400)
    frame["approved"] = (frame["credit_score"] > 700).astype(int)
    recs, warnings = adjusted_records(
        "grp", frame["grp"], frame["approved"].to_numpy(), frame[CONTROLS], "A", min_group_size=30
    )
    assert _by(recs, "adjusted_odds_ratio", "B").value is None
    assert any("separation" in w for w in warnings)


def test_singular_design_is_reported() -> None:
    x = np.column_stack([np.ones(50), np.arange(50.0), 2 * np.arange(50.0)])
    with pytest.raises(FitProblem, match="singular"):
        fit_logit(x, (np.arange(50) % 2).astype(float))


def test_rows_with_missing_controls_are_excluded_and_counted() -> None:
    frame = _credit(7, n=600, gap=0.5)
    full = frame.copy()
    frame.loc[[3, 10, 11], "dti"] = np.nan
    frame.loc[[20], "product"] = None
    recs, warnings = adjusted_records(
        "grp", frame["grp"], frame["approved"].to_numpy(), frame[CONTROLS], "A", min_group_size=30
    )
    odds = _by(recs, "adjusted_odds_ratio", "B")
    assert odds.detail["rows_missing_controls"] == 4
    assert odds.detail["rows_used"] == 596
    assert any("4 row(s) with a missing control value" in w for w in warnings)
    kept = full.drop(index=[3, 10, 11, 20]).reset_index(drop=True)
    res = _statsmodels_fit(kept, ["B"])
    assert odds.detail["log_odds"] == pytest.approx(res.params["g_B"], abs=1e-6)


def test_encoding_reference_level_is_most_frequent() -> None:
    encoded, names = encode_controls(pd.DataFrame({"p": ["x", "y", "y", "z"], "s": [1, 2, 3, 4]}))
    assert names == ["p=x", "p=z", "s"]
    assert encoded.shape == (4, 3)


def test_cdd_by_hand() -> None:
    # stratum s1: A 8 of 10 approved, B 2 of 5; stratum s2: A 1 of 2, B 3 of 6
    rows = (
        [("s1", "A", 1)] * 8
        + [("s1", "A", 0)] * 2
        + [("s1", "B", 1)] * 2
        + [("s1", "B", 0)] * 3
        + [("s2", "A", 1)] * 1
        + [("s2", "A", 0)] * 1
        + [("s2", "B", 1)] * 3
        + [("s2", "B", 0)] * 3
    )
    frame = pd.DataFrame(rows, columns=["s", "grp", "y"])
    recs = cdd_records("grp", frame["grp"], frame["y"].to_numpy(), frame["s"], "s")
    dd1 = 3 / 5 - 2 / 10  # B's share of refusals - share of approvals in s1
    dd2 = 3 / 4 - 3 / 4
    cdd_b = _by(recs, "cdd", "B")
    assert cdd_b.value == pytest.approx((15 * dd1 + 8 * dd2) / 23, abs=1e-12)
    assert _by(recs, "cdd", "A").value == pytest.approx(-(15 * dd1 + 8 * dd2) / 23, abs=1e-12)


def test_residual_smd_matches_ols() -> None:
    frame = _credit(8, n=800)
    rng = np.random.default_rng(8)
    apr = 20 - 0.02 * frame["credit_score"] + 1.0 * (frame["grp"] == "B") + rng.normal(0, 1, 800)
    recs = residual_smd_records(
        "grp", frame["grp"], apr.to_numpy(), frame[CONTROLS], "A", min_group_size=30
    )
    x = pd.get_dummies(frame[CONTROLS], columns=["product"], drop_first=False, dtype=float)
    x = sm.add_constant(x.drop(columns=["product_card"]))
    resid = sm.OLS(apr, x).fit().resid
    b, a = resid[frame["grp"] == "B"], resid[frame["grp"] == "A"]
    pooled = np.sqrt(((len(b) - 1) * b.var() + (len(a) - 1) * a.var()) / (len(a) + len(b) - 2))
    smd = _by(recs, "residual_smd", "B")
    assert smd.value == pytest.approx((b.mean() - a.mean()) / pooled, abs=1e-9)
    assert smd.value > 0.5  # a higher APR for B at the same credit profile


def _spec(path: Path, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "controls",
        "domain": "credit",
        "data": {"path": str(path)},
        "columns": {"id": "id", "decision": "approved"},
        "protected": ["grp"],
        "reference": {"grp": "A"},
        "controls": CONTROLS,
        "cdd_by": "product",
    }
    spec.update(overrides)
    return spec


def test_audit_records_and_spec_errors(tmp_path: Path) -> None:
    frame = _credit(9, n=800, gap=0.8)
    frame.loc[5, "credit_score"] = np.nan
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    result = auditor.run_audit(_spec(path, policies=["ecoa_reg_b"]))
    metrics = {m.metric for m in result.metrics}
    adjusted = {f.scope: f.status for f in result.findings if f.rule_id == "FL-ADJ-OR"}
    assert adjusted == {"grp=B": "warn"}
    assert {"adjusted_odds_ratio", "adjusted_marginal_effect", "cdd"} <= metrics
    assert any("1 row(s) with a missing control value" in w for w in result.warnings)
    odds = next(m for m in result.metrics if m.metric == "adjusted_odds_ratio" and m.group == "B")
    assert odds.reference == "A"
    assert odds.value is not None
    assert odds.value < 1
    # streamed engine: the control columns are read with the narrow ones, so the same
    # records (and warnings) to rounding, and no "in-memory only" warning
    streamed = auditor.run_audit(_spec(path, policies=["ecoa_reg_b"], engine={"chunk_rows": 200}))
    assert_same_result(result, streamed)
    assert not any(w.startswith("controls: the regression-adjusted") for w in streamed.warnings)
    with pytest.raises(SpecError) as err:
        load_spec(_spec(path, controls=["grp", "approved"], cdd_by="region"))
    problems = err.value.problems
    assert any("controls: 'grp' is a protected attribute" in p for p in problems)
    assert any("controls: 'approved' is the decision column" in p for p in problems)
    assert any("cdd_by: 'region' is not one of the controls" in p for p in problems)
    with pytest.raises(DataValidationError) as missing:
        auditor.run_audit(_spec(path, controls=["income"], cdd_by=None))
    assert any(
        "column 'income' (named in controls) is missing" in p for p in missing.value.problems
    )


def test_report_shows_the_adjusted_tables(tmp_path: Path) -> None:
    from auditor.report import render_html

    frame = _credit(10, n=600, gap=0.8)
    frame["score"] = np.clip(frame["approved"] * 0.5 + frame["dti"], 0, 1)
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    result = auditor.run_audit(_spec(path, columns={"id": "id", "score": "score"}))
    html = render_html(result)
    assert "Given the legitimate factors in controls" in html
    assert "Adjusted odds ratio" in html
    assert "Score residual SMD" in html
    assert "Conditional demographic disparity" in html
    odds = next(m for m in result.metrics if m.metric == "adjusted_odds_ratio" and m.group == "B")
    assert odds.p_value_adjusted is not None


def test_unusable_control_columns_exit_with_the_column_named(tmp_path: Path) -> None:
    frame = _credit(11, n=300)
    frame.loc[[4, 7], "dti"] = np.inf
    frame["zip"] = [f"Z{10000 + i}" for i in range(300)]
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataValidationError) as err:
        auditor.run_audit(_spec(path, controls=[*CONTROLS, "zip"]))
    problems = err.value.problems
    assert any("'dti' (named in controls): 2 infinite value(s)" in p for p in problems)
    assert any("'zip' (named in controls): 300 distinct values" in p for p in problems)
    with pytest.raises(DataValidationError) as strata:
        auditor.run_audit(_spec(path, cdd_by="credit_score", controls=CONTROLS))
    assert any(
        "'credit_score' (named in controls): 300 distinct values, more than 100 for a cdd_by" in p
        for p in strata.value.problems
    )


def test_no_complete_rows_is_a_warning_not_a_crash() -> None:
    frame = _credit(12, n=60)
    frame["dti"] = np.nan
    labels = frame["grp"]
    recs, warnings = adjusted_records(
        "grp", labels, frame["approved"].to_numpy(), frame[CONTROLS], "A", min_group_size=30
    )
    assert recs == []
    assert any("reference group 'A' has no rows with complete controls" in w for w in warnings)
    scores = frame["credit_score"].to_numpy()
    assert (
        residual_smd_records("grp", labels, scores, frame[CONTROLS], "A", min_group_size=30) == []
    )
