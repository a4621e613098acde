"""The smaller statistical defects of issue 17, item 5, each checked independently."""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditor.metrics.slices import beyond_group_p, slice_search


def test_an_underflowed_slice_p_value_is_the_strongest_evidence_not_none() -> None:
    """A slice at ratio ≈ 0.08 over thousands of rows has p = 0.0 in floating point; it
    was read as "no p-value" (``p or 1.0``) and dropped."""
    n = 40_000
    rng = np.random.default_rng(0)
    group = np.where(np.arange(n) % 2 == 0, "A", "B")
    feature = np.where(np.arange(n) % 4 < 2, "x", "y")
    # A is not worse off overall (0.95 in y), only in x: the slice is beyond the group
    rate = np.where(group == "A", np.where(feature == "x", 0.04, 0.95), 0.5)
    decisions = (rng.random(n) < rate).astype(np.int8)
    xs = int(decisions[(group == "A") & (feature == "x")].sum())
    xr = int(decisions[(group == "B") & (feature == "x")].sum())
    ga, gb = decisions[group == "A"].mean(), decisions[group == "B"].mean()
    assert beyond_group_p(xs, n // 4, xr, n // 4, ga / gb) == 0.0  # the underflow is real
    found = slice_search(pd.DataFrame({"f": feature}), pd.DataFrame({"g": group}), decisions)
    worst = [r for r in found if r.group == "A & f in x"]
    assert worst, "the worst slice must be reported"
    assert worst[0].value is not None
    assert worst[0].value < 0.1
    assert worst[0].p_value == 0.0
