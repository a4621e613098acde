"""Paired statistics for screener probes, checked against scipy on the same differences."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from auditor.screener.paired import (
    paired_bootstrap_interval,
    paired_effects,
    repeat_consistency,
    sign_flip_p_value,
    top_k_exposure,
)


def _scored(n: int, effect: float, *, seed: int = 1, repeats: int = 1, noise: float = 0.0):
    """Two name variants per (sex x race) cell for n applications; Female lowers by effect."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0.5, 0.15, size=n)
    rows = []
    for i in range(n):
        for sex, race, v in itertools.product(("Female", "Male"), ("Black", "White"), (0, 1)):
            for r in range(repeats):
                score = base[i] - (effect if sex == "Female" else 0.0)
                score += rng.normal(0, noise) if noise else 0.0
                rows.append(
                    {
                        "application_id": f"A{i}",
                        "probe": "name",
                        "variant": f"{sex}-{race}-{v}",
                        "sex": sex,
                        "race_ethnicity": race,
                        "repeat": r,
                        "score": score,
                        "selected": score >= 0.5,
                    }
                )
    return pd.DataFrame(rows)


def _diffs(frame: pd.DataFrame, attribute: str, group: str, reference: str) -> np.ndarray:
    means = frame.groupby(["application_id", attribute])["score"].mean().unstack()
    return (means[group] - means[reference]).to_numpy()


def test_mean_and_interval_agree_with_scipy_paired_bootstrap() -> None:
    frame = _scored(60, 0.05, noise=0.08)
    effect = next(e for e in paired_effects(frame, ["sex"], seed=3) if e.attribute == "sex")
    diffs = _diffs(frame, "sex", "Female", "Male")
    assert effect.group == "Female"
    assert effect.reference == "Male"
    assert effect.applications == 60
    assert effect.mean_difference == pytest.approx(diffs.mean(), abs=1e-12)
    # scipy's paired t-test on the same within-application differences
    t = stats.ttest_rel(
        frame[frame.sex == "Female"].groupby("application_id")["score"].mean(),
        frame[frame.sex == "Male"].groupby("application_id")["score"].mean(),
    )
    assert t.pvalue < 0.05
    assert effect.p_value < 0.05
    ref = stats.bootstrap(
        (diffs,), np.mean, n_resamples=10_000, method="percentile", random_state=11
    ).confidence_interval
    se = diffs.std(ddof=1) / np.sqrt(len(diffs))
    # two Monte Carlo percentile intervals of the same statistic: equal up to resampling noise
    assert effect.ci_low == pytest.approx(ref.low, abs=0.1 * se)
    assert effect.ci_high == pytest.approx(ref.high, abs=0.1 * se)
    assert effect.ci_low < effect.mean_difference < effect.ci_high < 0


def test_exact_sign_flip_matches_scipy_permutation_test() -> None:
    diffs = np.array([0.3, -0.1, 0.25, 0.4, 0.05, 0.2, -0.05, 0.15, 0.1, 0.35])
    p, method = sign_flip_p_value(diffs, rng=np.random.default_rng(0), resamples=1000)
    ref = stats.permutation_test(
        (diffs,),
        np.mean,
        permutation_type="samples",
        n_resamples=np.inf,
        alternative="two-sided",
    )
    assert "exact" in method
    assert p == pytest.approx(ref.pvalue, rel=1e-9)


def test_monte_carlo_sign_flip_is_close_to_the_exact_one_for_larger_n() -> None:
    rng = np.random.default_rng(5)
    diffs = rng.normal(0.08, 0.3, size=40)
    p, method = sign_flip_p_value(diffs, rng=np.random.default_rng(1), resamples=20_000)
    t = stats.ttest_1samp(diffs, 0.0)
    assert "Monte Carlo" in method
    assert p == pytest.approx(t.pvalue, abs=0.02)


def test_no_effect_gives_exact_zero_and_p_one() -> None:
    frame = _scored(30, 0.0)
    for effect in paired_effects(
        frame, ["sex", "race_ethnicity"], references={"race_ethnicity": "White"}
    ):
        assert effect.mean_difference == 0.0
        assert (effect.ci_low, effect.ci_high) == (0.0, 0.0)
        assert effect.p_value == 1.0
        assert effect.selection_rate_difference == 0.0


def test_intersections_and_selection_rates() -> None:
    frame = _scored(50, 0.2)
    effects = paired_effects(
        frame, ["sex", "race_ethnicity"], references={"race_ethnicity": "White"}, seed=2
    )
    inter = {e.group: e for e in effects if e.attribute == "sex & race_ethnicity"}
    assert set(inter) == {"Female & Black", "Female & White", "Male & Black"}
    assert inter["Male & Black"].mean_difference == pytest.approx(0.0, abs=1e-12)
    assert inter["Female & Black"].mean_difference == pytest.approx(-0.2)
    assert inter["Female & Black"].reference == "Male & White"
    sex = next(e for e in effects if e.attribute == "sex")
    expected = (
        frame[frame.sex == "Female"].selected.mean() - frame[frame.sex == "Male"].selected.mean()
    )
    assert sex.selection_rate_difference == pytest.approx(expected)
    assert sex.ci_high < 0


def test_bootstrap_is_seeded_and_constant_differences_have_no_spread() -> None:
    d = np.random.default_rng(0).normal(size=25)
    a = paired_bootstrap_interval(d, alpha=0.05, rng=np.random.default_rng(9), resamples=2000)
    b = paired_bootstrap_interval(d, alpha=0.05, rng=np.random.default_rng(9), resamples=2000)
    assert a == b
    const = paired_bootstrap_interval(
        np.full(10, -0.1), alpha=0.05, rng=np.random.default_rng(0), resamples=100
    )
    assert const == (-0.1, -0.1)


def test_repeat_consistency_measures_spread_and_flips() -> None:
    steady = repeat_consistency(_scored(10, 0.1, repeats=3))
    assert steady.units == 10 * 8
    assert steady.repeats == 3
    assert steady.mean_sd == 0.0
    assert steady.decision_flip_share == 0.0
    noisy = repeat_consistency(_scored(10, 0.1, repeats=5, noise=0.1))
    assert noisy.mean_sd == pytest.approx(0.1, rel=0.25)
    assert noisy.decision_flip_share is not None
    assert 0 < noisy.decision_flip_share < 1
    single = repeat_consistency(_scored(5, 0.1))
    assert single.units == 0


def test_top_k_exposure_shows_the_disfavoured_group_pushed_down() -> None:
    frame = _scored(40, 0.3)
    exposure = {e.group: e for e in top_k_exposure(frame, ["sex"], k=40)}
    assert exposure["Male"].pool_share == 0.5
    assert exposure["Male"].top_k_share > exposure["Female"].top_k_share
    assert exposure["Female"].exposure_ratio < 1 < exposure["Male"].exposure_ratio
    ranks = frame.assign(score=frame["score"].rank(ascending=False, method="first"))
    by_rank = {e.group: e for e in top_k_exposure(ranks, ["sex"], k=40, higher_is_better=False)}
    assert by_rank["Female"].top_k_share == exposure["Female"].top_k_share
    fair = {e.group: e for e in top_k_exposure(_scored(40, 0.0), ["sex"], k=40)}
    # no effect: all 8 variants of an application tie, so the top 40 is 5 whole applications
    assert fair["Female"].top_k_share == fair["Male"].top_k_share == 0.5


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match="race_ethnicity"):
        paired_effects(_scored(3, 0.0).drop(columns="race_ethnicity"), ["race_ethnicity"])


def test_interval_coverage_and_false_positive_rate_are_near_their_nominal_levels() -> None:
    """The error rates the report states: 95% intervals cover the true mean difference about
    95% of the time, and the sign-flip test rejects a true null about 5% of the time."""
    rng = np.random.default_rng(42)
    sims, n, true = 300, 30, 0.05
    covered = rejected = 0
    for _ in range(sims):
        diffs = rng.normal(true, 0.2, size=n)
        low, high = paired_bootstrap_interval(diffs, alpha=0.05, rng=rng, resamples=1000)
        covered += low <= true <= high
        null = rng.normal(0.0, 0.2, size=n)
        p, _ = sign_flip_p_value(null, rng=rng, resamples=1000)
        rejected += p < 0.05
    # binomial sd of a 300-run rate near 0.95 is 0.013: these bounds are > 3 sd wide
    assert 0.90 <= covered / sims <= 0.99
    assert 0.01 <= rejected / sims <= 0.10
