"""Slice search: finds an injected worst-off slice, reports nothing on null data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.metrics.slices import slice_search


def _data(seed: int, n: int = 6000, inject: bool = False) -> tuple[pd.DataFrame, ...]:
    rng = np.random.default_rng(seed)
    race = rng.choice(["A", "B", "C", "unknown"], n, p=[0.5, 0.25, 0.2, 0.05])
    sex = rng.choice(["f", "m"], n)
    income = rng.lognormal(10, 0.5, n)
    region = rng.choice(["n", "s", "e", "w", "x"], n)
    # the feature itself matters for everyone: not a disparity
    rate = np.where(income > np.median(income), 0.6, 0.4)
    if inject:
        low = income < np.quantile(income, 0.25)
        rate = np.where((race == "B") & low, 0.15, rate)
    decisions = (rng.uniform(size=n) < rate).astype(np.int8)
    features = pd.DataFrame({"income": income, "region": region})
    return features, pd.DataFrame({"race": race, "sex": sex}), decisions


@pytest.mark.parametrize("seed", range(20))
def test_slice_search_reports_nothing_on_null_data(seed: int) -> None:
    features, protected, decisions = _data(seed)
    assert slice_search(features, protected, decisions) == []


def test_slice_search_finds_the_injected_slice() -> None:
    features, protected, decisions = _data(0, inject=True)
    found = slice_search(features, protected, decisions)
    assert found
    top = found[0]
    assert top.attribute == "race x income"
    assert top.group.startswith("B & income in [")
    assert top.value is not None
    assert top.value < 0.5
    assert top.p_value_adjusted is not None
    assert top.p_value_adjusted < 0.05
    assert top.p_value is not None
    assert top.p_value <= top.p_value_adjusted
    assert top.reference is not None
    assert top.reference.startswith("other groups with income")
    assert all("unknown" not in r.group for r in found)


@pytest.mark.parametrize("seed", range(5))
def test_a_uniform_group_gap_is_not_reported_again_as_slices(seed: int) -> None:
    """B is worse off in every bin alike: the declared attribute already shows it."""
    features, protected, decisions = _data(seed)
    rng = np.random.default_rng(seed + 99)
    b = protected["race"].to_numpy() == "B"
    decisions = np.where(b & (rng.uniform(size=len(b)) < 0.4), 0, decisions).astype(np.int8)
    assert slice_search(features, protected, decisions) == []


def test_a_slice_with_no_selections_at_all_is_found() -> None:
    features, protected, decisions = _data(1)
    low = features["income"].to_numpy() < np.quantile(features["income"], 0.25)
    target = (protected["race"].to_numpy() == "C") & low
    decisions = np.where(target, 0, decisions).astype(np.int8)
    found = slice_search(features, protected, decisions)
    assert found[0].group.startswith("C & income in [")
    assert found[0].value == 0.0
