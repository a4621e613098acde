"""The TreeSHAP engine read from LightGBM's text model against the JSON dump and pred_contrib.

Real small models (NaN, zero and no missing handling, native categorical splits, deep
trees, multiclass, single-leaf trees, infinite thresholds): the text flattening must
give the same node arrays as the dump's (categorical bitsets as the same category sets)
and the same SHAP values as LightGBM's own TreeSHAP; damaged text must raise, never
reach the unchecked kernels.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

import auditor
from auditor.errors import AuditorError
from auditor.explain._lgb_text import flatten_text
from auditor.explain._lgb_trees import FlatEnsemble, UnsupportedModel, flatten
from auditor.explain.fast_tree_shap import TreeShapEngine
from auditor.explain.tree_shap import ENGINES, engine_for
from auditor.models.lightgbm_adapter import LightGBMAdapter, load_booster


def _data(n: int = 1200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    x[rng.random(n) < 0.1, 0] = np.nan
    x[:, 3] = rng.integers(0, 40, n)  # categorical, codes past one 32-bit word
    x[rng.random(n) < 0.05, 3] = np.nan
    x[rng.random(n) < 0.2, 4] = 0.0
    logit = np.nan_to_num(x[:, 0]) + x[:, 1] * x[:, 2] + (x[:, 3] % 3 == 1) + x[:, 4]
    return x, (logit + rng.normal(size=n) > 0).astype(int)


def _train(params: dict[str, Any], rounds: int = 12, cat: bool = True) -> tuple[Any, np.ndarray]:
    x, y = _data()
    if params.get("objective") == "multiclass":
        y = y + (x[:, 1] > 0.5)
    base = {"verbose": -1, "min_data_in_leaf": 5, "min_data_per_group": 5, "num_threads": 1,
            "cat_smooth": 1, "max_cat_to_onehot": 2}  # fmt: skip
    data = lgb.Dataset(x, y, categorical_feature=[3] if cat else "auto")
    return lgb.train({**base, **params}, data, rounds), x


CASES = {
    "NaN missing, categorical": ({"objective": "binary", "num_leaves": 15}, True),
    "zero as missing": ({"objective": "binary", "zero_as_missing": True}, True),
    "no missing handling": ({"objective": "binary", "use_missing": False}, True),
    "numeric only (infinite thresholds)": ({"objective": "binary", "num_leaves": 15}, False),
    "depth 10": ({"objective": "binary", "num_leaves": 120, "max_depth": 10}, True),
    "regression": ({"objective": "regression", "num_leaves": 30}, True),
    "multiclass": ({"objective": "multiclass", "num_class": 3, "num_leaves": 8}, True),
    "single-leaf trees": ({"objective": "binary", "min_gain_to_split": 1e9}, True),
}


def _category_sets(flat: FlatEnsemble) -> list[set[int]]:
    out = []
    for k in np.flatnonzero(flat.is_categorical):
        words = flat.cat_words[flat.cat_start[k] : flat.cat_start[k] + flat.cat_len[k]]
        out.append({32 * i + b for i, w in enumerate(words) for b in range(32) if w >> b & 1})
    return out


def _inf_to_dump(threshold: np.ndarray) -> np.ndarray:
    # the JSON dump writes LightGBM's +-inf thresholds as +-1e300 (Common::AvoidInf)
    return np.clip(threshold, -1e300, 1e300)


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_text_flattening_equals_the_dump_and_pred_contrib(
    case: tuple[dict[str, Any], bool],
) -> None:
    params, cat = case
    booster, x = _train(params, cat=cat)
    text, dump = flatten_text(booster.model_to_string()), flatten(booster.dump_model())
    assert _category_sets(text) == _category_sets(dump)
    for name, value in vars(dump).items():
        got = getattr(text, name)
        if name in ("cat_start", "cat_len", "cat_words"):
            continue  # the dump trims each bitset; the sets are compared above
        if name == "threshold":
            got = _inf_to_dump(got)
        if isinstance(value, np.ndarray):
            assert got.dtype == value.dtype, name
            np.testing.assert_array_equal(got, value, err_msg=name)  # bit for bit
        else:
            assert got == value, name
    rows = x[:300]
    ours = TreeShapEngine.from_model(booster).path_dependent(rows, threads=2)
    np.testing.assert_allclose(ours, booster.predict(rows, pred_contrib=True), rtol=0, atol=1e-12)


def test_infinite_thresholds_compare_like_lightgbm(tmp_path: Path) -> None:
    # missingness alone predicts the label: LightGBM splits "any value" (x <= inf) from NaN
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1200, 3))
    x[:, 2] = rng.integers(0, 3, 1200)
    missing = rng.random(1200) < 0.3
    x[missing, 2] = np.nan
    params = {"objective": "binary", "verbose": -1, "num_leaves": 8, "min_data_in_leaf": 5}
    booster = lgb.train(params, lgb.Dataset(x, (x[:, 0] > 0) ^ missing), 5)
    flat = flatten_text(booster.model_to_string())
    inf_nodes = np.flatnonzero(np.isinf(flat.threshold))
    assert len(inf_nodes), "the model should have an infinite threshold to test"
    rows = x[:60].copy()
    rows[::3, flat.split_feature[inf_nodes[0]]] = np.inf  # inf <= inf: LightGBM goes left
    ours = TreeShapEngine.from_model(booster).path_dependent(rows)
    np.testing.assert_allclose(ours, booster.predict(rows, pred_contrib=True), rtol=0, atol=1e-12)
    # the file LightGBM saves with those thresholds is accepted by the model check
    booster.save_model(str(tmp_path / "model.txt"))
    loaded = load_booster(tmp_path / "model.txt")
    attr = auditor.explain(loaded, rows)
    reference = loaded.predict(rows, pred_contrib=True)
    np.testing.assert_allclose(attr.values, reference[:, :-1], rtol=0, atol=1e-12)


def test_unsupported_text_models_say_why() -> None:
    x, y = _data()
    params = {"objective": "binary", "verbose": -1, "linear_tree": True, "num_threads": 1}
    linear = lgb.train(params, lgb.Dataset(np.nan_to_num(x), y), 2)
    with pytest.raises(UnsupportedModel, match="linear trees"):
        flatten_text(linear.model_to_string())
    rf = {"objective": "binary", "boosting": "rf", "bagging_fraction": 0.5, "bagging_freq": 1,
          "verbose": -1}  # fmt: skip
    forest = lgb.train(rf, lgb.Dataset(x, y), 2)
    with pytest.raises(UnsupportedModel, match="random-forest"):
        flatten_text(forest.model_to_string())


def _mutate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    tree_lines = [i for i, line in enumerate(lines) if "=" in line and not line.startswith("[")]
    i = rng.choice(tree_lines)
    key, _, value = lines[i].partition("=")
    tokens = value.split(" ")
    j = rng.randrange(len(tokens))
    tokens[j] = rng.choice(("-1", "0", "7", "99", "-99", "2147483647", "nan", "inf", "", "x"))
    lines[i] = key + "=" + " ".join(tokens)
    if rng.random() < 0.2:
        del lines[rng.choice(tree_lines)]
    return "\n".join(lines)


def test_damaged_text_raises_or_stays_in_bounds() -> None:
    """Text that LightGBM did not write (it never reaches this parser from a file that
    ``load_booster`` did not check) still cannot make the compiled layout or the
    kernels read out of bounds: each mutation raises or gives checked arrays."""
    booster, x = _train(CASES["NaN missing, categorical"][0], rounds=3)
    text = booster.model_to_string()
    rng = random.Random(3)
    raised = 0
    for _ in range(300):
        try:
            flat = flatten_text(_mutate(text, rng))
        except (AuditorError, UnsupportedModel):
            raised += 1
            continue
        if flat.num_features > 64:  # a damaged max_feature_idx: nothing to index with
            continue
        rows = np.zeros((5, flat.num_features))
        width = min(flat.num_features, x.shape[1])
        rows[:, :width] = x[:5, :width]
        engine = TreeShapEngine.from_flat(flat)
        assert np.all(np.isfinite(engine.path_dependent(rows)))
        assert np.all(np.isfinite(engine.interventional(rows, rows[:2])))
    assert 0 < raised < 300


def test_public_explain_builds_from_the_adapters_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first ``auditor.explain`` reads the model out of LightGBM once (the adapter's
    text is both the cache key and the engine's source) and never calls dump_model."""
    booster, x = _train(CASES["NaN missing, categorical"][0])
    frame = pd.DataFrame(x[:40], columns=booster.feature_name())
    calls = {"model_to_string": 0}
    original = lgb.Booster.model_to_string

    def counted(self: lgb.Booster, *args: Any, **kwargs: Any) -> str:
        calls["model_to_string"] += 1
        return original(self, *args, **kwargs)

    def refused(self: lgb.Booster, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("dump_model() was called")

    monkeypatch.setattr(lgb.Booster, "model_to_string", counted)
    monkeypatch.setattr(lgb.Booster, "dump_model", refused)
    ENGINES.clear()
    builds = ENGINES.builds
    attr = auditor.explain(booster, frame)
    assert ENGINES.builds == builds + 1
    assert calls["model_to_string"] == 1
    assert attr.engine == "auditor.fast_tree_shap"
    reference = booster.predict(x[:40], pred_contrib=True)
    np.testing.assert_allclose(attr.values, reference[:, :-1], rtol=0, atol=1e-12)
    adapter = LightGBMAdapter(booster)
    assert engine_for(booster, adapter.digest, adapter.text) is engine_for(booster)
    assert ENGINES.builds == builds + 1
