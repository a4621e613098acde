"""Probabilistic membership (BISG-style weights) against ordinary counts and by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.metrics.counts import GroupCounts
from auditor.metrics.group_metrics import grouping_records
from auditor.metrics.weighted import weighted_selection_records


def test_one_hot_probabilities_equal_the_ordinary_counts() -> None:
    rng = np.random.default_rng(0)
    n = 3000
    groups = rng.choice(["W", "B", "H"], n, p=[0.6, 0.25, 0.15])
    decisions = (rng.uniform(size=n) < np.where(groups == "B", 0.3, 0.45)).astype(np.int8)
    probs = pd.get_dummies(pd.Series(groups)).astype(float)
    recs, ref = weighted_selection_records("race", probs, decisions)
    counts = {
        g: GroupCounts(int((groups == g).sum()), int(decisions[groups == g].sum()))
        for g in ["B", "H", "W"]
    }
    plain, plain_ref = grouping_records("race", counts, min_group_size=30)
    assert ref == plain_ref
    for metric in ("selection_rate", "impact_ratio"):
        ours = {r.group: r for r in recs if r.metric == metric}
        theirs = {r.group: r for r in plain if r.metric == metric}
        for g, t in theirs.items():
            assert ours[g].value == pytest.approx(t.value, rel=1e-12)
            assert ours[g].n == t.n
            if t.ci_low is not None:
                assert ours[g].ci_low == pytest.approx(t.ci_low, rel=1e-9)
                assert ours[g].ci_high == pytest.approx(t.ci_high, rel=1e-9)
            if t.p_value is not None and "test:z_test" in t.flags:
                assert ours[g].p_value == pytest.approx(t.p_value, rel=1e-9)


def test_soft_probabilities_by_hand() -> None:
    probs = pd.DataFrame({"A": [0.9, 0.5, 0.2, 0.0], "B": [0.1, 0.5, 0.8, 1.0]})
    decisions = np.array([1, 0, 1, 0])
    recs, ref = weighted_selection_records("race", probs, decisions, min_group_size=1)
    sr = {r.group: r for r in recs if r.metric == "selection_rate"}
    assert sr["A"].value == pytest.approx((0.9 + 0.2) / 1.6)
    assert sr["B"].value == pytest.approx((0.1 + 0.8) / 2.4)
    assert sr["A"].detail["effective_n"] == pytest.approx(1.6**2 / (0.81 + 0.25 + 0.04))
    assert ref == "A"
    ir = {r.group: r for r in recs if r.metric == "impact_ratio"}
    assert ir["B"].value == pytest.approx(sr["B"].value / sr["A"].value)  # type: ignore[operator]
    assert all("weighted" in r.flags for r in recs)
