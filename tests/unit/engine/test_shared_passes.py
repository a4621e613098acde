"""The audit's shared passes give the numbers of the separate ones (issue 25 item 5).

Proxy scores and slice candidates code each attribute's groups once (slices also bin each
feature once), proxy ranking shares a column's ranks between attributes known on every
row, and the chunk kernel predicts LightGBM once for scores and outputs; each is compared
here with the computation it replaced.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from auditor.batch import UNKNOWN
from auditor.engine.kernel import score_and_output
from auditor.metrics.gap import group_aucs, proxy_ranking
from auditor.metrics.proxies import correlation_ratio_of, group_moments, proxy_scores
from auditor.models.lightgbm_adapter import LightGBMAdapter


def _frames(unknown: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(7)
    n = 3_000
    sex = rng.choice(["f", "m"], n)
    race = rng.choice(["a", "b", "c"], n)
    if unknown:
        race[rng.choice(n, 200, replace=False)] = UNKNOWN
    features = pd.DataFrame(
        {
            "income": rng.normal(50, 10, n) + (sex == "m") * 3,
            "age": rng.integers(18, 80, n).astype(float),
            "debt": np.where(rng.random(n) < 0.05, np.nan, rng.gamma(2.0, 3.0, n)),
        }
    )
    return features, pd.DataFrame({"sex": sex, "race": race})


def test_proxy_scores_equal_per_pair_moments() -> None:
    features, protected = _frames(unknown=True)
    got = {(p.feature, p.attribute): p.value for p in proxy_scores(features, protected)}
    for attr in protected.columns:
        for feat in features.columns:
            moments = group_moments(features[feat].to_numpy(float), protected[attr].to_numpy())
            assert got[(feat, attr)] == correlation_ratio_of(moments)


def test_proxy_ranking_equals_unshared_ranks() -> None:
    for unknown in (False, True):
        features, protected = _frames(unknown)
        got = {
            (p.feature, p.attribute, p.group): p.auc for p in proxy_ranking(features, protected, [])
        }
        assert got
        for attr in protected.columns:
            col = protected[attr].to_numpy()
            known = col != UNKNOWN
            codes, uniques = pd.factorize(col[known])
            groups = sorted(set(col[known].tolist()))
            wanted = [list(uniques).index(g) for g in groups]
            for feat in features.columns:
                column = features[feat][known].reset_index(drop=True)
                aucs = group_aucs(column, codes.astype(np.int64), wanted)
                for g, a in zip(groups, aucs, strict=True):
                    assert got[(feat, attr, g)] == a


def test_one_prediction_gives_scores_and_outputs() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 4))
    y = (x[:, 0] + rng.normal(size=500) > 0).astype(int)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 7, "verbose": -1},
        lgb.Dataset(x, y),
        num_boost_round=10,
    )
    model = LightGBMAdapter(booster)
    scores, outputs = score_and_output(model, x)
    assert outputs is not None
    np.testing.assert_array_equal(scores, model.score(x))
    np.testing.assert_array_equal(outputs, model.output(x))


def test_slice_candidates_equal_per_pair_tables() -> None:
    from auditor.metrics.slices import (
        bin_codes,
        bin_plan,
        candidates_from_table,
        slice_candidates,
        slice_table,
    )

    features, protected = _frames(unknown=True)
    decisions = (features["income"].to_numpy() > 50).astype(int)
    expected = []
    for attr in protected.columns:
        for feat in features.columns:
            plan = bin_plan(features[feat], 4, 8)
            codes = bin_codes(plan, features[feat])
            table = slice_table(protected[attr], codes, len(plan.labels), decisions)
            expected += candidates_from_table(attr, feat, table, list(plan.labels), min_size=30)
    assert expected
    assert slice_candidates(features, protected, decisions, min_size=30) == expected


def test_background_rows_read_only_for_methods_that_use_them(tmp_path: Path) -> None:
    """Tree SHAP's path-dependent values take the trees' cover as background: the chunk
    plan draws the background rows (the sample of rows to explain follows the same
    generator) but reads them back from the source only for a method that uses them."""
    from auditor.engine.kernel import explain_rows
    from auditor.engine.measured import plan_for
    from auditor.explain import get_explainer
    from auditor.explain.base import uses_background
    from auditor.spec import load_spec

    rng = np.random.default_rng(5)
    x = rng.normal(size=(400, 4))
    y = (x[:, 0] + rng.normal(size=400) > 0).astype(int)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 7, "verbose": -1},
        lgb.Dataset(x, y, feature_name=["a", "b", "c", "d"]),
        num_boost_round=10,
    )
    booster.save_model(str(tmp_path / "model.txt"))
    model = LightGBMAdapter(booster)
    spec = {
        "name": "plan",
        "domain": "credit",
        "model": {"path": str(tmp_path / "model.txt"), "kind": "lightgbm"},
        "data": {"path": str(tmp_path / "data.parquet")},
        "columns": {"id": "id", "label": "label", "features": ["a", "b", "c", "d"]},
        "protected": ["sex"],
        "policies": ["ecoa_reg_b"],
        "seed": 0,
    }
    read: list[np.ndarray] = []

    def encode_at(positions: np.ndarray) -> np.ndarray:
        read.append(positions)
        return x[positions]

    assert not uses_background(get_explainer("tree_shap"))
    assert uses_background(get_explainer("permutation_shap"))
    plan = plan_for(
        load_spec({**spec, "explain": {"method": "tree_shap"}}), model, 400, encode_at, "t"
    )
    assert not read
    assert plan.background is not None
    assert plan.background.shape == (0, 4)
    assert plan.params["background_size"] == 100  # drawn and recorded as before
    # the values do not depend on the background given
    empty = explain_rows(plan, model, x[:50])
    given = explain_rows(replace(plan, background=x[:100]), model, x[:50])
    np.testing.assert_array_equal(empty[0], given[0])
    np.testing.assert_array_equal(empty[1], given[1])
    other = load_spec({**spec, "explain": {"method": "permutation_shap"}})
    plan = plan_for(other, model, 400, encode_at, "t")
    assert len(read) == 1
    assert len(read[0]) == 100
    assert plan.background is not None
    assert plan.background.shape == (100, 4)
