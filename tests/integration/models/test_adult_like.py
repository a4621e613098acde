"""UCI-Adult-like data (raw string categories, missing values, "?") audited with a
LightGBM model trained on pandas categories (issue 17: it crashed in metrics/gap.py).

The frame is synthetic and small: Adult's column names and value spellings, not its rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

import auditor
from auditor.metrics.text import MISSING_TEXT

FEATURES = ["workclass", "occupation", "age", "hours_per_week"]


def adult_like(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["Male", "Female"], n)
    workclass = rng.choice(
        ["Private", "Self-emp-not-inc", "State-gov", None], n, p=[0.6, 0.2, 0.12, 0.08]
    )
    occupation = rng.choice(["Exec-managerial", "Craft-repair", "Sales", "?"], n)
    occupation = np.where(rng.random(n) < 0.05, None, occupation)
    age = rng.integers(17, 80, n).astype(float)
    hours = rng.normal(40, 10, n).round()
    logit = (
        -1.2 + 0.8 * (sex == "Male") + 0.02 * (age - 40) + 0.5 * (occupation == "Exec-managerial")
    )
    income = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), ">50K", "<=50K")
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "workclass": workclass,
            "occupation": occupation,
            "age": age,
            "hours_per_week": hours,
            "sex": sex,
            "race": rng.choice(["White", "Black", "Asian-Pac-Islander"], n, p=[0.7, 0.2, 0.1]),
            "income": income,
        }
    )


@pytest.fixture(scope="module")
def adult_spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder: Path = tmp_path_factory.mktemp("adult")
    train = adult_like(800, seed=1)
    x = train[FEATURES].copy()
    for col in ("workclass", "occupation"):
        x[col] = x[col].astype("category")  # NaN stays missing, not a category
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_in_leaf": 10, "seed": 0},
        lgb.Dataset(x, (train["income"] == ">50K").astype(int)),
        num_boost_round=15,
    )
    booster.save_model(str(folder / "model.txt"))
    adult_like(600, seed=2).to_csv(folder / "adult.csv", index=False)
    return {
        "name": "adult-like",
        "domain": "credit",
        "model": {"path": str(folder / "model.txt"), "kind": "lightgbm"},
        "data": {"path": str(folder / "adult.csv")},
        "columns": {"id": "id", "label": "income", "features": FEATURES},
        "favorable": ">50K",
        "protected": ["sex", "race"],
        "explain": {"max_rows": 120, "quality": {"enabled": False}},
    }


def test_adult_like_audit_completes_with_missing_categories(adult_spec: dict[str, Any]) -> None:
    result = auditor.run_audit(adult_spec)
    assert result.dataset.decisions_from == "model"
    assert result.attributions.computed
    ranked = {p.feature for p in result.attributions.proxy_ranking}
    assert {"workclass", "occupation"} <= ranked
    rates = [m for m in result.metrics if m.metric == "selection_rate" and m.attribute == "sex"]
    assert {m.group for m in rates} == {"Male", "Female"}


def test_streaming_engine_gives_the_same_numbers(adult_spec: dict[str, Any]) -> None:
    whole = auditor.run_audit(adult_spec)
    chunked = auditor.run_audit({**adult_spec, "engine": {"chunk_rows": 150}})

    def key(r: auditor.AuditResult) -> list[tuple[Any, ...]]:
        return sorted((m.attribute, m.group, m.metric, m.value, m.p_value) for m in r.metrics)

    assert key(whole) == key(chunked)


def test_missing_is_a_labelled_slice_category() -> None:
    from auditor.metrics.slices import bin_plan

    frame = adult_like(300, seed=3)
    plan = bin_plan(frame["workclass"], 4, 8)
    assert MISSING_TEXT in plan.labels
