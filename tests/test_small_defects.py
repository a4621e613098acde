"""The smaller statistical defects of issue 17, item 5, each checked independently."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

import auditor
from auditor.metrics.slices import beyond_group_p, slice_search
from auditor.result import MetricRecord


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


def _membership_frame(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    rng = np.random.default_rng(5)
    sizes = {"A": 400, "B": 150, "C": 8}  # C is small: Fisher's test decides for it
    race = np.repeat(list(sizes), list(sizes.values()))
    rate = {"A": 0.5, "B": 0.35, "C": 0.1}
    hired = (rng.random(len(race)) < np.vectorize(rate.get)(race)).astype(int)
    frame = pd.DataFrame({"id": np.arange(len(race)), "race": race, "hired": hired})
    frame.loc[[0, 7], "race"] = None  # unknown in both forms
    columns = {g: f"p_{g}" for g in sizes}
    for g, col in columns.items():
        frame[col] = np.where(frame["race"].isna(), np.nan, (frame["race"] == g).astype(float))
    path = tmp_path / "bisg.csv"
    frame.to_csv(path, index=False)
    return path, columns


def test_one_hot_probabilities_give_the_hard_numbers_in_every_field(tmp_path: Path) -> None:
    path, columns = _membership_frame(tmp_path)
    base = {
        "name": "bisg",
        "domain": "hiring",
        "data": {"path": str(path)},
        "columns": {"id": "id", "decision": "hired"},
    }
    hard = auditor.run_audit({**base, "protected": ["race"]})
    soft = auditor.run_audit(
        {**base, "protected": [], "protected_probabilities": {"race": columns}}
    )
    metrics = ("selection_rate", "impact_ratio")

    def by(result: auditor.AuditResult) -> dict[tuple[str, str], MetricRecord]:
        return {(m.metric, m.group): m for m in result.metrics if m.metric in metrics}

    h, s = by(hard), by(soft)
    assert h.keys() == s.keys()
    assert any("test:fisher_exact" in r.flags for r in h.values())  # the case that differed
    weighted_keys = {"weighted_n", "weighted_count", "effective_n"}
    for key, rec in h.items():
        other = s[key]
        if key[1] != "unknown":
            assert other.flags == ("weighted", *rec.flags), key
        extra = {k: v for k, v in other.detail.items() if k not in weighted_keys}
        same = replace(other, flags=rec.flags, detail=extra)
        assert same == rec, key  # value, n, count, interval, p, Holm p, power, bootstrap
