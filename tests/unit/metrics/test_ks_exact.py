"""Exact two-sample KS from mergeable counts per distinct score (issue 17, item 5).

scipy.stats.ks_2samp on the raw scores is the oracle: the statistic and its p-value
(method auto: exact up to 10,000 rows per sample, else asymptotic) are matched to 1e-12,
for continuous scores, rounded scores with ties, intersections, and cells built per
partition and merged (the streamed and Spark engines' path).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import auditor.metrics.cells as cells_module
from auditor.batch import UNKNOWN
from auditor.metrics.cells import DecisionCells
from auditor.metrics.counts import RowKeys, ScoreGrid
from auditor.metrics.group_metrics import groupings, metrics_from_cells
from auditor.result import MetricRecord


def _data(n: int, seed: int, rounded: bool) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    protected = pd.DataFrame(
        {
            "sex": rng.choice(["f", "m", UNKNOWN], n, p=[0.45, 0.5, 0.05]),
            "race": rng.choice(["x", "y", "z"], n),
        }
    )
    shift = np.where(protected["sex"] == "f", 0.04, 0.0) + np.where(
        protected["race"] == "z", 0.03, 0
    )
    scores = np.clip(rng.beta(2, 3, n) + shift, 0, 1)
    if rounded:
        scores = np.round(scores, 2)  # many ties: the case the grid got most wrong
    decisions = (scores > 0.45).astype(np.int8)
    return protected, scores, decisions


def _cells(
    protected: pd.DataFrame,
    scores: np.ndarray,
    decisions: np.ndarray,
    rows: np.ndarray,
    grid: ScoreGrid,
) -> DecisionCells:
    keys = RowKeys.build(decisions[rows], scores=scores[rows], grid=grid)
    return DecisionCells.build(
        protected.iloc[rows].reset_index(drop=True),
        keys,
        has_scores=True,
        decisions=decisions[rows],
    )


def _ks(
    cells: DecisionCells, attrs: list[str], inter: list[list[str]]
) -> dict[tuple[str, str], MetricRecord]:
    recs, _ = metrics_from_cells(cells, groupings(attrs, inter), min_group_size=30)
    return {(r.attribute, r.group): r for r in recs if r.metric == "ks"}


def _group_scores(
    protected: pd.DataFrame, scores: np.ndarray, attribute: str, group: str
) -> np.ndarray:
    parts = attribute.split(" & ")
    values = group.split(" & ")
    mask = np.ones(len(scores), dtype=bool)
    for p, v in zip(parts, values, strict=True):
        mask &= (protected[p] == v).to_numpy()
    return scores[mask]


@pytest.mark.parametrize("rounded", [False, True])
def test_ks_statistic_and_p_match_scipy_on_every_grouping(rounded: bool) -> None:
    protected, scores, decisions = _data(3000, 11, rounded)
    grid = ScoreGrid.for_scores(scores)
    ks = _ks(
        _cells(protected, scores, decisions, np.arange(len(scores)), grid),
        ["sex", "race"],
        [["sex", "race"]],
    )
    checked = 0
    for (attribute, group), rec in ks.items():
        if "reference" in rec.flags:
            continue
        a = _group_scores(protected, scores, attribute, group)
        b = _group_scores(protected, scores, attribute, rec.reference or "")
        want = stats.ks_2samp(a, b)  # method auto: exact p at these sizes
        assert rec.value == pytest.approx(want.statistic, abs=1e-12), (attribute, group)
        assert rec.p_value == pytest.approx(want.pvalue, abs=1e-12), (attribute, group)
        assert {"ks:exact", "test:ks_exact"} <= set(rec.flags)
        assert "ks_upper_bound" not in rec.detail
        checked += 1
    assert checked >= 8  # sex, race and the intersection's groups


def test_partitions_merge_to_the_same_exact_ks() -> None:
    protected, scores, decisions = _data(2400, 5, rounded=True)
    grid = ScoreGrid.for_scores(scores)
    rng = np.random.default_rng(0)
    parts = [
        _cells(protected, scores, decisions, rows, grid)
        for rows in np.array_split(rng.permutation(len(scores)), 4)
    ]
    merged = parts[0]
    for p in parts[1:]:
        merged = merged.merge(p)
    whole = _cells(protected, scores, decisions, np.arange(len(scores)), grid)
    got = _ks(merged, ["sex", "race"], [["sex", "race"]])
    want = _ks(whole, ["sex", "race"], [["sex", "race"]])
    assert got.keys() == want.keys()
    for key, rec in want.items():
        assert (got[key].value, got[key].p_value, got[key].flags) == (
            rec.value,
            rec.p_value,
            rec.flags,
        )


def test_large_groups_take_scipys_asymptotic_p() -> None:
    rng = np.random.default_rng(2)
    n = 22_000  # each group above 10,000 rows: scipy's auto method is asymptotic
    protected = pd.DataFrame({"g": np.where(np.arange(n) % 2 == 0, "a", "b")})
    scores = rng.uniform(size=n) ** np.where(protected["g"] == "a", 1.0, 1.05)
    decisions = (scores > 0.5).astype(np.int8)
    ks = _ks(_cells(protected, scores, decisions, np.arange(n), ScoreGrid()), ["g"], [])
    rec = next(r for r in ks.values() if "reference" not in r.flags)
    a = scores[(protected["g"] == rec.group).to_numpy()]
    b = scores[(protected["g"] == rec.reference).to_numpy()]
    want = stats.ks_2samp(a, b)
    assert rec.value == pytest.approx(want.statistic, abs=1e-12)
    assert rec.p_value == pytest.approx(want.pvalue, abs=1e-12)
    assert "test:ks_asymptotic" in rec.flags
    assert "ks:exact" in rec.flags


def test_too_many_distinct_scores_fall_back_to_the_stated_grid_bounds_on_every_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    protected, scores, decisions = _data(1200, 3, rounded=False)
    monkeypatch.setattr(cells_module, "MAX_SCORE_PAIRS", 1000)  # fewer than the rows
    grid = ScoreGrid.for_scores(scores)
    parts = [
        _cells(protected, scores, decisions, rows, grid)
        for rows in np.array_split(np.arange(len(scores)), 3)
    ]  # 400 rows each: kept
    assert all(p.score_pairs is not None for p in parts)
    merged = parts[0].merge(parts[1]).merge(parts[2])
    assert merged.score_pairs is None  # the union is too large, as for the whole
    whole = _cells(protected, scores, decisions, np.arange(len(scores)), grid)
    assert whole.score_pairs is None
    for rec in _ks(merged, ["sex"], []).values():
        if "reference" in rec.flags:
            continue
        a = _group_scores(protected, scores, "sex", rec.group)
        b = _group_scores(protected, scores, "sex", rec.reference or "")
        exact = stats.ks_2samp(a, b).statistic
        assert "ks:grid_lower_bound" in rec.flags
        assert (rec.value or 0) - 1e-12 <= exact <= rec.detail["ks_upper_bound"] + 1e-12
