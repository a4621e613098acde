"""Attribution speed of the audit's explainers against named baselines, in one run.

- tree SHAP: auditor's path (LightGBM ``pred_contrib``) vs ``shap.TreeExplainer``
  (path-dependent) on the same booster and rows;
- integrated gradients: auditor's batched Gauss–Legendre IG vs a per-row loop over
  the same steps on torch autograd (the way a naive implementation calls the model), and
  vs Captum's ``IntegratedGradients`` when captum is installed.

Run: ``.venv/bin/python bench/bench_explain.py [--rows N]``. Prints seconds and ratios
(baseline time / auditor time; above 1 means auditor is faster).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd


def _best(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_tree(rows: int) -> None:
    import lightgbm as lgb
    import shap

    from auditor.explain import explain_matrix
    from auditor.models.lightgbm_adapter import LightGBMAdapter

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(rows, 30)), columns=[f"f{i}" for i in range(30)])
    y = (x.iloc[:, :5].sum(axis=1) + rng.normal(size=rows) > 0).astype(int)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 63, "verbose": -1, "num_threads": 2},
        lgb.Dataset(x, y),
        num_boost_round=200,
    )
    adapter = LightGBMAdapter(booster)
    xm = adapter.encode(x)
    ours = _best(lambda: explain_matrix(adapter, xm, method="tree_shap"))
    explainer = shap.TreeExplainer(booster)
    base = _best(lambda: explainer.shap_values(xm))
    print(f"tree SHAP, {rows} rows x 30 features, 200 trees x 63 leaves:")
    print(f"  auditor {ours:.3f}s  shap.TreeExplainer {base:.3f}s  ratio {base / ours:.2f}x")


def bench_ig(rows: int, steps: int) -> None:
    import torch

    from auditor.explain import explain_matrix
    from auditor.models.mlp import TabularMLP
    from auditor.models.torch_adapter import TorchAdapter

    torch.manual_seed(0)
    model = TabularMLP(30, (256, 128))
    adapter = TorchAdapter(model, tuple(f"f{i}" for i in range(30)))
    x = np.random.default_rng(0).normal(size=(rows, 30))
    ours = _best(
        lambda: explain_matrix(
            adapter, x, method="integrated_gradients", steps=steps, background=100
        ),
        repeat=2,
    )
    baseline = x[:100].mean(axis=0)
    alphas = torch.linspace(0, 1, steps)

    def per_row() -> None:
        base_t = torch.as_tensor(baseline, dtype=torch.float32)
        for row in x:
            xr = torch.as_tensor(row, dtype=torch.float32)
            path = (base_t + alphas[:, None] * (xr - base_t)).requires_grad_(True)
            grads = torch.autograd.grad(model(path).sum(), path)[0]
            _ = grads.mean(0) * (xr - base_t)

    loop = _best(per_row, repeat=1)
    print(f"integrated gradients, {rows} rows, MLP 30-256-128-1, {steps} steps:")
    print(f"  auditor {ours:.3f}s  per-row loop {loop:.3f}s  ratio {loop / ours:.2f}x")
    try:
        from captum.attr import IntegratedGradients
    except ImportError:
        print("  captum not installed: Captum baseline skipped")
        return
    ig = IntegratedGradients(model)
    xt = torch.as_tensor(x, dtype=torch.float32)
    bt = torch.as_tensor(baseline, dtype=torch.float32)[None, :]
    cap = _best(
        lambda: ig.attribute(
            xt, baselines=bt, n_steps=steps, internal_batch_size=max(1, 65536 // steps)
        ),
        repeat=2,
    )
    print(f"  Captum IntegratedGradients {cap:.3f}s  ratio {cap / ours:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--ig-rows", type=int, default=2_000)
    parser.add_argument("--steps", type=int, default=64)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp).mkdir(exist_ok=True)
        bench_tree(args.rows)
        bench_ig(args.ig_rows, args.steps)


if __name__ == "__main__":
    main()
