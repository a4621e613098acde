"""The fast TreeSHAP engine against LightGBM's own TreeSHAP, shap and brute-force Shapley.

Small real LightGBM models with missing values (all three missing types), native
categorical splits, depth up to 12, several objectives and multiclass; exactness 1e-9.
"""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import shap

import auditor.explain
from auditor.demo import DemoCase
from auditor.errors import ExplainError
from auditor.explain import explain_matrix, interventional_tree_shap
from auditor.explain.fast_tree_shap import TreeShapEngine, UnsupportedModel
from auditor.explain.tree_shap import FALLBACK_ENGINE, FAST_ENGINE
from auditor.models import load_model
from auditor.models.lightgbm_adapter import LightGBMAdapter
from auditor.spec import load_spec


def _data(n: int = 1500, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    x[rng.random(n) < 0.1, 0] = np.nan  # NaN missing values
    x[:, 3] = rng.integers(0, 12, n)  # a categorical feature
    x[rng.random(n) < 0.05, 3] = np.nan
    x[rng.random(n) < 0.2, 4] = 0.0  # zeros, missing when zero_as_missing
    logit = np.nan_to_num(x[:, 0]) + x[:, 1] * x[:, 2] + (x[:, 3] % 3 == 1) + x[:, 4]
    y = (logit + rng.normal(size=n) > 0).astype(int)
    return x, y


def _train(params: dict[str, Any], rounds: int = 15, cat: bool = True) -> tuple[Any, np.ndarray]:
    x, y = _data()
    if params.get("objective") == "multiclass":
        y = y + (x[:, 1] > 0.5)
    elif params.get("objective") in ("regression", "poisson", "huber"):
        y = y * 2.0 + np.abs(x[:, 2])
    base = {"verbose": -1, "min_data_in_leaf": 5, "min_data_per_group": 5, "num_threads": 1}
    data = lgb.Dataset(x, y, categorical_feature=[3] if cat else "auto")
    return lgb.train({**base, **params}, data, rounds), x


CASES = {
    "binary, NaN missing, categorical": {"objective": "binary", "num_leaves": 15},
    "binary, zero as missing": {"objective": "binary", "zero_as_missing": True},
    "binary, no missing handling": {"objective": "binary", "use_missing": False},
    "binary, depth 12": {"objective": "binary", "num_leaves": 200, "max_depth": 12},
    "regression, leaf-wise deep": {"objective": "regression", "num_leaves": 40},
    "poisson": {"objective": "poisson", "num_leaves": 15},
    "cross-entropy": {"objective": "cross_entropy", "num_leaves": 15},
    "multiclass": {"objective": "multiclass", "num_class": 3, "num_leaves": 15},
}


@pytest.mark.parametrize("params", list(CASES.values()), ids=list(CASES))
def test_path_dependent_equals_pred_contrib(params: dict[str, Any]) -> None:
    booster, x = _train(params)
    engine = TreeShapEngine.from_model(booster)
    ours = engine.path_dependent(x[:300], threads=2)
    reference = booster.predict(x[:300], pred_contrib=True)
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-9)


def test_deep_trees_are_really_deep() -> None:
    booster, _ = _train(CASES["binary, depth 12"])
    assert int(TreeShapEngine.from_model(booster).model.tree_depth.max()) == 12


def test_single_leaf_trees_and_thread_counts() -> None:
    booster, x = _train({"objective": "binary", "min_gain_to_split": 1e9}, rounds=3)
    engine = TreeShapEngine.from_model(booster)
    np.testing.assert_allclose(
        engine.path_dependent(x[:20]), booster.predict(x[:20], pred_contrib=True), atol=1e-12
    )
    booster, x = _train(CASES["binary, NaN missing, categorical"])
    engine = TreeShapEngine.from_model(booster)
    one, two = engine.path_dependent(x, threads=1), engine.path_dependent(x, threads=2)
    np.testing.assert_allclose(one, two, rtol=0, atol=1e-12)


def test_json_dump_file_is_accepted(tmp_path: Path) -> None:
    booster, x = _train(CASES["binary, NaN missing, categorical"])
    path = tmp_path / "model.json"
    path.write_text(json.dumps(booster.dump_model()), encoding="utf-8")
    ours = TreeShapEngine.from_model(path).path_dependent(x[:100])
    np.testing.assert_allclose(ours, booster.predict(x[:100], pred_contrib=True), atol=1e-9)


def test_unsupported_models_fall_back_and_say_why() -> None:
    rf = {"objective": "binary", "boosting": "rf", "bagging_fraction": 0.5, "bagging_freq": 1}
    forest, x = _train(rf, cat=False)
    with pytest.raises(UnsupportedModel, match="random-forest"):
        TreeShapEngine.from_model(forest)
    attr = explain_matrix(LightGBMAdapter(forest), x[:50], method="tree_shap")
    assert attr.engine == FALLBACK_ENGINE
    assert attr.fallback_reason is not None
    assert "random-forest" in attr.fallback_reason
    assert attr.params["fallback_reason"] == attr.fallback_reason
    contrib = forest.predict(x[:50], pred_contrib=True)
    np.testing.assert_allclose(attr.values, contrib[:, :-1], rtol=0, atol=1e-12)


def test_models_no_treeshap_supports_get_a_clear_error() -> None:
    x, y = _data()
    params = {"objective": "binary", "verbose": -1, "linear_tree": True, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(np.nan_to_num(x), y), 3)
    with pytest.raises(UnsupportedModel, match="linear trees"):
        TreeShapEngine.from_model(booster)
    with pytest.raises(ExplainError, match=r"linear trees.*permutation_shap"):
        explain_matrix(LightGBMAdapter(booster), np.nan_to_num(x[:5]), method="tree_shap")


def test_audit_default_path_is_the_fast_engine(credit_case: DemoCase) -> None:
    spec = load_spec(credit_case.spec_path)
    model = load_model(spec)
    assert model is not None
    from auditor.data import load_decisions

    x = model.encode(load_decisions(spec).features)[:200]
    attr = auditor.explain.explain_matrix(model, x)
    assert attr.method == "tree_shap"
    assert attr.engine == FAST_ENGINE
    assert attr.fallback_reason is None
    contrib = model.booster.predict(x, pred_contrib=True)  # type: ignore[attr-defined]
    np.testing.assert_allclose(attr.values, contrib[:, :-1], rtol=0, atol=1e-9)
    np.testing.assert_allclose(attr.base_values, contrib[:, -1], rtol=0, atol=1e-9)


# --- interventional ----------------------------------------------------------------------


def _brute_force(booster: Any, x: np.ndarray, bg: np.ndarray, k: int) -> np.ndarray:
    """Exact Shapley values of v(S) = mean_r f(x_S, r_rest), over all 2^F coalitions."""
    nf = x.shape[1]
    out = np.zeros((len(x), k, nf + 1))
    coalitions = list(itertools.product([False, True], repeat=nf))
    for i, row in enumerate(x):
        hybrid = np.repeat(bg[None], len(coalitions), axis=0)
        for c, mask in enumerate(coalitions):
            hybrid[c][:, np.array(mask)] = row[np.array(mask)]
        raw = booster.predict(hybrid.reshape(-1, nf), raw_score=True).reshape(
            len(coalitions), len(bg), k
        )
        worth = dict(zip(coalitions, raw.mean(axis=1), strict=True))
        for f in range(nf):
            for mask, value in worth.items():
                if mask[f]:
                    continue
                s = sum(mask)
                weight = math.factorial(s) * math.factorial(nf - s - 1) / math.factorial(nf)
                with_f = tuple(True if j == f else m for j, m in enumerate(mask))
                out[i, :, f] += weight * (worth[with_f] - value)
        out[i, :, nf] = worth[(False,) * nf]
    return out


@pytest.mark.parametrize(
    "params",
    [CASES["binary, NaN missing, categorical"], CASES["binary, depth 12"], CASES["multiclass"]],
    ids=["categorical+missing", "depth 12", "multiclass"],
)
@pytest.mark.parametrize("kernel", ["leaf patterns", "pairwise"])
def test_interventional_equals_brute_force_shapley(
    params: dict[str, Any], kernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if kernel == "pairwise":  # the kernel used when per-leaf pattern counts would not fit
        monkeypatch.setattr("auditor.explain.fast_tree_shap._MAX_PATTERN_CELLS", 0)
    booster, x = _train(params, rounds=8)
    engine = TreeShapEngine.from_model(booster)
    rows, bg = x[:12], x[500:520]
    k = engine.model.num_class
    ours = engine.interventional(rows, bg, threads=2).reshape(len(rows), k, -1)
    np.testing.assert_allclose(ours, _brute_force(booster, rows, bg, k), rtol=0, atol=1e-9)


def test_interventional_matches_shap() -> None:
    booster, x = _train({"objective": "binary", "num_leaves": 15}, cat=False)
    rows, bg = x[:40], x[600:650]
    attr = interventional_tree_shap(booster, rows, bg)
    explainer = shap.TreeExplainer(booster, data=bg, feature_perturbation="interventional")
    reference = np.asarray(explainer.shap_values(rows))
    # shap's own values miss exact Shapley by ~2e-8 (its additivity error is of that size)
    np.testing.assert_allclose(attr.values, reference, rtol=0, atol=1e-6)
    np.testing.assert_allclose(attr.base_values, explainer.expected_value, atol=1e-9)
    assert attr.additivity_error < 1e-9
    assert attr.params["feature_perturbation"] == "interventional"
    assert attr.engine == FAST_ENGINE


def test_interventional_public_function_on_frames() -> None:
    booster, x = _train({"objective": "binary", "num_leaves": 15}, cat=False)
    frame = pd.DataFrame(x, columns=booster.feature_name())
    attr = interventional_tree_shap(booster, frame.head(10), frame.iloc[100:130], threads=1)
    assert attr.values.shape == (10, 5)
    assert attr.feature_names == tuple(frame.columns)
    raw = booster.predict(x[:10], raw_score=True)
    np.testing.assert_allclose(attr.values.sum(axis=1) + attr.base_values, raw, atol=1e-9)
    multi, xm = _train(CASES["multiclass"], rounds=4)
    attr = interventional_tree_shap(multi, xm[:5], xm[100:110])
    assert attr.values.shape == (5, 3, 5)
    assert attr.base_values.shape == (5, 3)
    assert attr.additivity_error < 1e-9


def test_interventional_from_a_json_dump_without_a_booster(tmp_path: Path) -> None:
    booster, x = _train(CASES["binary, NaN missing, categorical"], rounds=6)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(booster.dump_model()), encoding="utf-8")
    attr = interventional_tree_shap(path, x[:8], x[200:230])
    reference = interventional_tree_shap(booster, x[:8], x[200:230])
    np.testing.assert_allclose(attr.values, reference.values, rtol=0, atol=1e-12)
    assert attr.additivity_error < 1e-9
    assert attr.output_space == "log-odds"
