"""BIRDiE bias-corrected rates under inferred race (issue 17 item 7).

Oracle: the EM carried out in exact rational arithmetic on a three-row example, step by
step as the R package's C++ does it (``src/birdie.cpp``: ``dirichlet_map`` then
``em_dirichlet``). Simulation: race affects the outcome, proxies do not given race, so
the weighted estimator is biased towards the mean and BIRDiE recovers the truth.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import auditor
from auditor.metrics.birdie import birdie_fit, birdie_records
from auditor.metrics.birdie_interval import birdie_bootstrap
from tests._engine_compare import assert_same_result


def _exact_em(p: list[list[Fraction]], y: list[int], steps: int) -> list[list[Fraction]]:
    """P(Y = 1 | group) after ``steps`` EM steps, in fractions (two outcome levels)."""
    groups = range(len(p[0]))

    def rates(q: list[list[Fraction]]) -> list[list[Fraction]]:  # flat prior, [level][g]
        return [
            [
                sum((q[i][g] for i in range(len(y)) if y[i] == lv), Fraction(0))
                / sum(q[i][g] for i in range(len(y)))
                for g in groups
            ]
            for lv in (0, 1)
        ]

    w = rates(p)  # the weighted estimate, also the prior's pseudo-counts (alpha - 1)

    def m_step(q: list[list[Fraction]]) -> list[list[Fraction]]:
        return [
            [
                (w[lv][g] + sum((q[i][g] for i in range(len(y)) if y[i] == lv), Fraction(0)))
                / (1 + sum(q[i][g] for i in range(len(y))))
                for g in groups
            ]
            for lv in (0, 1)
        ]

    def e_step(theta: list[list[Fraction]]) -> list[list[Fraction]]:
        out = []
        for i, row in enumerate(p):
            joint = [theta[y[i]][g] * row[g] for g in groups]
            out.append([j / sum(joint) for j in joint])
        return out

    theta = m_step(p)  # the package's start: the MAP with the BISG probabilities
    for _ in range(steps):
        theta = m_step(e_step(theta))
    return rates(e_step(theta))


def test_em_steps_equal_exact_rational_arithmetic() -> None:
    p = [
        [Fraction(4, 5), Fraction(1, 5)],
        [Fraction(1, 2), Fraction(1, 2)],
        [Fraction(1, 10), Fraction(9, 10)],
        [Fraction(3, 10), Fraction(7, 10)],
    ]
    y = [1, 0, 1, 0]
    # by hand, the weighted rates: A (0.8 + 0.1) / 1.7 = 9/17, B (0.2 + 0.9) / 2.3 = 11/23
    assert _exact_em(p, y, 0)[1] != [Fraction(9, 17), Fraction(11, 23)]  # E-step moved them
    for steps in (1, 2, 3):
        exact = _exact_em(p, y, steps)
        fit = birdie_fit(np.array(p, dtype=float), np.array(y), ["A", "B"], max_iter=steps)
        assert fit.iterations == steps
        assert fit.rates[1] == pytest.approx([float(v) for v in exact[1]], abs=1e-14)
        assert fit.weighted[1] == pytest.approx([9 / 17, 11 / 23], abs=1e-15)


def _simulated(
    seed: int, n: int = 20_000, rates: tuple[float, float] = (0.70, 0.40)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Race known only through an area's composition; the outcome depends on race only."""
    rng = np.random.default_rng(seed)
    share_b = rng.beta(0.5, 0.5, 200)  # each area's share of group B (BISG's geography)
    area = rng.integers(0, 200, n)
    p_b = share_b[area]
    race = (rng.uniform(size=n) < p_b).astype(int)
    outcome = (rng.uniform(size=n) < np.array(rates)[race]).astype(int)
    return np.column_stack([1 - p_b, p_b]), outcome, race


def test_birdie_recovers_rates_where_the_weighted_estimator_is_biased() -> None:
    for seed in (1, 2):
        weights, outcome, race = _simulated(seed)
        truth = [outcome[race == r].mean() for r in (0, 1)]
        fit = birdie_fit(weights, outcome, ["A", "B"])
        assert fit.converged
        # weighted: pulled towards each other by more than 5 points (truth 0.70 / 0.40)
        assert fit.weighted[1, 0] < truth[0] - 0.05
        assert fit.weighted[1, 1] > truth[1] + 0.05
        # BIRDiE: within 2 points of the realised rates (its SE here is about 0.6 points)
        assert fit.rates[1] == pytest.approx(truth, abs=0.02)


def test_zero_one_memberships_give_the_hard_rates() -> None:
    rng = np.random.default_rng(3)
    race = rng.integers(0, 3, 500)
    outcome = (rng.uniform(size=500) < 0.5).astype(int)
    fit = birdie_fit(np.eye(3)[race], outcome, ["a", "b", "c"])
    hard = [outcome[race == r].mean() for r in range(3)]
    assert fit.rates[1] == pytest.approx(hard, abs=1e-15)
    assert fit.rates[1] == pytest.approx(fit.weighted[1], abs=1e-15)


def test_no_known_membership_is_no_estimate_not_a_crash() -> None:
    fit = birdie_fit(np.zeros((4, 2)), np.array([1, 0, 1, 1]), ["A", "B"])
    assert fit.groups == []
    assert birdie_records("race", fit, min_group_size=30) == ([], [])


def test_records_reference_and_disagreement_warning() -> None:
    weights, outcome, _ = _simulated(4, rates=(0.70, 0.52))  # a true ratio of 0.74
    fit = birdie_fit(weights, outcome, ["A", "B"])
    recs, notes = birdie_records("race", fit, min_group_size=30)
    ratio = next(r for r in recs if r.metric == "birdie_impact_ratio" and r.group == "B")
    assert ratio.reference == "A"
    assert ratio.value == pytest.approx(fit.rates[1, 1] / fit.rates[1, 0])
    assert ratio.value is not None
    assert ratio.value < 0.8 < ratio.detail["weighted_ratio"]
    assert len(notes) == 1
    assert "race=B" in notes[0]
    assert "The verdict uses the weighted estimate" in notes[0]


def _bisg_frame(seed: int, n: int = 3000) -> pd.DataFrame:
    weights, outcome, _ = _simulated(seed, n)
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": range(n),
            "approved": outcome,
            "sex": rng.choice(["f", "m"], n),
            "p_a": weights[:, 0],
            "p_b": weights[:, 1],
        }
    )
    frame.loc[:9, ["p_a", "p_b"]] = np.nan  # unknown membership: left out of the EM
    return frame


def _spec(path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "name": "birdie",
        "domain": "credit",
        "data": {"path": str(path)},
        "columns": {"id": "id", "decision": "approved"},
        "protected": ["sex"],
        "protected_probabilities": {"race": {"A": "p_a", "B": "p_b"}},
        "intersections": [["sex", "race"]],
        **extra,
    }


def test_audit_reports_birdie_beside_weighted_on_both_local_engines(tmp_path: Path) -> None:
    from auditor.report import render_html

    path = tmp_path / "d.csv"
    _bisg_frame(5).to_csv(path, index=False)
    memory = auditor.run_audit(_spec(path))
    got = {(m.attribute, m.group) for m in memory.metrics if m.metric == "birdie_selection_rate"}
    assert got == {
        ("race", "A"),
        ("race", "B"),
        *(("sex & race", f"{s} & {r}") for s in "fm" for r in "AB"),
    }
    rec = next(
        m
        for m in memory.metrics
        if m.metric == "birdie_impact_ratio" and m.group == "B" and m.attribute == "race"
    )
    weighted = next(
        m
        for m in memory.metrics
        if m.metric == "impact_ratio" and m.group == "B" and m.attribute == "race"
    )
    assert rec.detail["weighted_ratio"] == pytest.approx(weighted.value, rel=1e-12)
    assert rec.value is not None
    assert weighted.value is not None
    assert rec.value < weighted.value  # the correction widens the understated gap
    assert memory.verdict["inferred_membership"]["decided_by"] == "weighted"
    html = render_html(memory)
    assert "Groupings of inferred (probabilistic) membership are judged on the weighted" in html
    assert "BIRDiE" in html
    assert "Bias-corrected selection rate" in html
    assert "Bias-corrected selection rate [95% CI]" in html
    assert "seeded row bootstrap of the EM" in html
    assert rec.ci_low is not None
    assert rec.ci_high is not None
    assert rec.ci_low < rec.value < rec.ci_high
    assert rec.detail["ci_row_bootstrap_replicates"] == 200
    streamed = auditor.run_audit({**_spec(path), "engine": {"chunk_rows": 700}})
    assert_same_result(memory, streamed)


def test_a_bootstrap_replicate_is_the_fit_on_the_resampled_rows() -> None:
    # oracle: the replicate's counts drawn as the module draws them, the rows repeated that
    # many times and fitted by the plain EM; unknown-membership rows are not resampled
    weights, outcome, _ = _simulated(6, n=300)
    weights[:5] = 0.0
    fit = birdie_fit(weights, outcome, ["A", "B"])
    boot = birdie_bootstrap(weights, outcome, fit, replicates=3, seed=11)
    rng = np.random.default_rng(11)
    known_w, known_y = weights[5:], outcome[5:]
    # the rows sorted by outcome (stable), each drawn Multinomial(295, 1/295) times
    order = np.argsort(known_y, kind="stable")
    known_w, known_y = known_w[order], known_y[order]
    for b in range(3):
        counts = rng.multinomial(295, np.full(295, 1 / 295))
        refit = birdie_fit(np.repeat(known_w, counts, 0), np.repeat(known_y, counts), ["A", "B"])
        assert boot.rates[b] == pytest.approx(refit.rates[1], abs=1e-6)
    assert boot.unconverged == 0


def test_cell_tables_merge_to_the_whole_table_and_fit_as_the_rows() -> None:
    """Chunks' cell tables (a hard label missing from one chunk) merge into the whole
    table exactly, and the count-weighted EM and bootstrap equal the fit on the rows."""
    from auditor.metrics.birdie_cells import birdie_cells

    weights, outcome, _ = _simulated(9, n=600)
    weights = np.round(weights * 4) / 4  # a few proxy cells: rows share them
    weights[:, 1] = 1 - weights[:, 0]
    weights[:7] = 0.0  # unknown membership: no cell
    frame = pd.DataFrame(weights, columns=["B", "A"])  # the table sorts groups by name
    whole = birdie_cells(frame, outcome)
    assert whole.groups == ["A", "B"]
    assert whole.rows == 593
    assert len(whole.counts) <= 10
    parts = [birdie_cells(frame.iloc[i : i + 150], outcome[i : i + 150]) for i in (0, 150, 450)]
    parts.append(birdie_cells(frame.iloc[300:450].assign(C=0.0), outcome[300:450]))
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    assert merged.groups == ["A", "B", "C"]
    assert np.array_equal(merged.outcome, whole.outcome)
    assert np.array_equal(merged.weights[:, :2], whole.weights)
    assert np.array_equal(merged.counts, whole.counts)
    rows = birdie_fit(weights[:, ::-1], outcome, ["A", "B"])
    cells = birdie_fit(whole.weights, whole.outcome, whole.groups, counts=whole.counts)
    assert cells.rates == pytest.approx(rows.rates, abs=1e-12)
    assert cells.weighted == pytest.approx(rows.weighted, abs=1e-12)
    assert cells.posterior_n == pytest.approx(rows.posterior_n, rel=1e-12)
    one = birdie_bootstrap(whole.weights, whole.outcome, cells, seed=2, counts=whole.counts)
    again = birdie_bootstrap(merged.weights, merged.outcome, cells, seed=2, counts=merged.counts)
    assert np.array_equal(one.rates, again.rates[:, :2])


def test_bootstrap_is_deterministic_under_the_seed() -> None:
    weights, outcome, _ = _simulated(7, n=500)
    fit = birdie_fit(weights, outcome, ["A", "B"])
    one = birdie_bootstrap(weights, outcome, fit, replicates=20, seed=3).rates
    assert np.array_equal(one, birdie_bootstrap(weights, outcome, fit, replicates=20, seed=3).rates)
    assert not np.array_equal(
        one, birdie_bootstrap(weights, outcome, fit, replicates=20, seed=4).rates
    )


def _ratio_interval(seed: int, n: int, replicates: int) -> tuple[float, float]:
    weights, outcome, _ = _simulated(seed, n, rates=(0.70, 0.52))
    fit = birdie_fit(weights, outcome, ["A", "B"])
    boot = birdie_bootstrap(weights, outcome, fit, replicates=replicates, seed=seed)
    recs, _ = birdie_records("race", fit, min_group_size=30, samples=boot.rates)
    ratio = next(r for r in recs if r.metric == "birdie_impact_ratio" and r.group == "B")
    assert ratio.ci_low is not None
    assert ratio.ci_high is not None
    return ratio.ci_low, ratio.ci_high


def test_interval_covers_the_true_ratio_in_most_simulated_audits() -> None:
    # 100 audits of 400 rows, true ratio 0.52 / 0.70 (91 covered when written); a 95%
    # interval missing it in more than 15 would be a broken interval (P < 0.001 if correct)
    truth = 0.52 / 0.70
    covered = sum(
        lo <= truth <= hi for lo, hi in (_ratio_interval(s, 400, 100) for s in range(100))
    )
    assert covered >= 85


def test_interval_narrows_with_the_rows() -> None:
    truth = 0.52 / 0.70
    widths = []
    for n in (500, 8000):
        lo, hi = _ratio_interval(8, n, 100)
        assert lo <= truth <= hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2.5  # sixteen times the rows: about a quarter the width
