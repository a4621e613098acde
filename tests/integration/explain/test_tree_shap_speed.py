"""TreeSHAP's path tables (exact to 1e-12 against pred_contrib) and the engine cache.

Real small LightGBM models; the cache is observed through its build counter.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

import auditor
from auditor.explain import interventional_tree_shap
from auditor.explain.engine_cache import EngineCache, model_digest
from auditor.explain.fast_tree_shap import TreeShapEngine
from auditor.explain.tree_shap import ENGINES
from auditor.models.lightgbm_adapter import LightGBMAdapter


def _train(rounds: int = 12, **params: Any) -> tuple[lgb.Booster, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1200, 8))
    x[rng.random(x.shape) < 0.05] = np.nan
    y = (np.nan_to_num(x[:, 0]) - x[:, 1] * x[:, 2] + np.nan_to_num(x[:, 5]) > 0).astype(int)
    base = {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 3}
    return lgb.train({**base, **params}, lgb.Dataset(x, y), rounds), x


@pytest.mark.parametrize(
    ("params", "budget_mb", "kinds"),
    [
        ({"num_leaves": 31, "max_depth": 5}, None, "tables"),
        ({"num_leaves": 31, "max_depth": 5}, "0", "quadrature"),
        ({"num_leaves": 120, "max_depth": 14}, "1", "both"),
    ],
    ids=["tabulated", "quadrature only", "mixed within a 1 MiB budget"],
)
def test_path_dependent_is_exact_with_and_without_tables(
    params: dict[str, Any], budget_mb: str | None, kinds: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if budget_mb is not None:
        monkeypatch.setenv("AUDITOR_TREESHAP_TABLE_MB", budget_mb)
    booster, x = _train(**params)
    engine = TreeShapEngine.from_model(booster)
    tables = engine.path_tables()
    assert (len(tables.tabulated) > 0) == (kinds in ("tables", "both"))
    assert (len(tables.quadrature) > 0) == (kinds in ("quadrature", "both"))
    reference = booster.predict(x[:200], pred_contrib=True)
    for threads in (1, 2):
        ours = engine.path_dependent(x[:200], threads=threads)
        np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-12)
    # the memory stated is what the tables hold: d 2^d weights per tabulated leaf
    leaves = np.flatnonzero(engine.model.left < 0)
    leaf_tree = np.searchsorted(engine.model.tree_start, leaves, side="right") - 1
    d = tables.leaf_nfeat[np.isin(leaf_tree, tables.tabulated)]
    assert tables.table.size == int((d * (1 << d)).sum())
    assert tables.table.nbytes <= int(budget_mb or 256) << 20


def test_public_explain_builds_once_and_a_changed_model_rebuilds() -> None:
    booster, x = _train()
    frame = pd.DataFrame(x[:50], columns=booster.feature_name())
    ENGINES.clear()
    before = ENGINES.builds
    first = auditor.explain(booster, frame)
    second = auditor.explain(booster, frame.iloc[:5])
    copy = lgb.Booster(model_str=booster.model_to_string())  # same model, another object
    auditor.explain(copy, frame.iloc[:5])
    assert ENGINES.builds == before + 1
    np.testing.assert_array_equal(second.values, first.values[:5])
    # changed in place: same object, same iteration count, another digest and engine
    booster.set_leaf_output(0, 0, 5.0)
    changed = auditor.explain(booster, frame)
    assert ENGINES.builds == before + 2
    reference = booster.predict(x[:50], pred_contrib=True)
    np.testing.assert_allclose(changed.values, reference[:, :-1], rtol=0, atol=1e-12)
    assert not np.allclose(changed.values, first.values)


def test_per_decision_callers_reuse_the_adapter_digest() -> None:
    booster, x = _train()
    adapter = LightGBMAdapter(booster)
    assert adapter.digest == model_digest(booster)
    ENGINES.clear()
    before = ENGINES.builds
    for row in range(3):  # the letters and the review explain a few rows at a time
        interventional_tree_shap(adapter, x[row : row + 1], x[100:140])
    assert ENGINES.builds == before + 1


def test_cache_is_bounded_and_builds_a_digest_once_across_threads() -> None:
    cache: EngineCache[str] = EngineCache(size=2)
    calls: list[str] = []

    def build(key: str) -> str:
        time.sleep(0.05)  # long enough for the other threads to ask meanwhile
        calls.append(key)
        return key.upper()

    got: list[str] = []
    workers = [
        threading.Thread(target=lambda: got.append(cache.get("a", lambda: build("a"))))
        for _ in range(4)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert got == ["A"] * 4
    assert calls == ["a"]
    cache.get("b", lambda: build("b"))
    cache.get("a", lambda: build("a"))  # a is now the most recently used
    cache.get("c", lambda: build("c"))  # evicts b
    assert len(cache) == 2
    assert cache.builds == 3
    cache.get("a", lambda: build("a"))
    assert cache.builds == 3
    cache.get("b", lambda: build("b"))
    assert cache.builds == 4
