"""Attribution speed against named baselines, both sides measured in the same run.

(a) TreeSHAP on a LightGBM model of 500 trees x 63 leaves (max depth 6), 30 features:
    - path-dependent: auditor's engine vs LightGBM ``predict(pred_contrib=True)`` and vs
      ``shap.TreeExplainer(booster)`` (which forwards to pred_contrib), 1 and 2 threads;
    - interventional: auditor's engine vs ``shap.TreeExplainer(booster, data=background,
      feature_perturbation="interventional")`` (shap's C++, single-threaded);
(b) integrated gradients on an MLP 30-256-128-1: auditor's explainer vs Captum's
    ``IntegratedGradients`` with the same Gauss-Legendre steps and baseline, at Captum's
    best ``internal_batch_size`` of those tried; also the cost in forward+backward passes.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_explain.py [--rows N] [--threads T]``.
Prints seconds (best of repeats) and ratios baseline / auditor (above 1: auditor faster)
and the largest absolute difference between the two sides' values.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _best(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def _model(train_rows: int) -> tuple[Any, np.ndarray]:
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    x = rng.normal(size=(train_rows, 30))
    logit = x[:, 0] - 0.7 * x[:, 1] * x[:, 2] + np.sin(x[:, 3]) + 0.3 * x[:, 4:10].sum(axis=1)
    y = (logit + rng.normal(size=train_rows) > 0).astype(int)
    params = {"objective": "binary", "num_leaves": 63, "max_depth": 6, "learning_rate": 0.05}
    params.update(verbose=-1, num_threads=2)
    return lgb.train(params, lgb.Dataset(x, y), num_boost_round=500), x


def bench_tree(rows: int, bg_rows: int, int_rows: int, threads: int) -> None:
    import shap

    from auditor.explain.fast_tree_shap import TreeShapEngine

    booster, x = _model(20_000)
    xs = np.random.default_rng(1).normal(size=(rows, 30))
    t0 = time.perf_counter()
    engine = TreeShapEngine.from_model(booster)
    load = time.perf_counter() - t0
    engine.path_dependent(xs[:4], threads=threads)  # compile (cached on disk after the first run)
    leaves = float((engine.model.left < 0).sum()) / engine.model.num_trees
    print(f"(a) TreeSHAP, LightGBM 500 trees x 63 leaves (mean {leaves:.1f}), depth 6, F=30")
    print(f"    engine built from dump_model in {load:.2f}s (once per model)")
    for th in sorted({1, threads}):
        lgb_t, ref = _best(lambda th=th: booster.predict(xs, pred_contrib=True, num_threads=th))
        ours_t, ours = _best(lambda th=th: engine.path_dependent(xs, threads=th))
        diff = float(np.abs(ours - ref).max())
        print(
            f"    path-dependent, {rows} rows, {th} thread(s): auditor {ours_t:.2f}s "
            f"({rows / ours_t:.0f} rows/s)  pred_contrib {lgb_t:.2f}s ({rows / lgb_t:.0f} rows/s)"
            f"  ratio {lgb_t / ours_t:.2f}x  max|diff| {diff:.1e}"
        )
    explainer = shap.TreeExplainer(booster)
    shap_t, sv = _best(lambda: explainer.shap_values(xs), repeat=2)
    ours_t, ours = _best(lambda: engine.path_dependent(xs, threads=threads), repeat=2)
    print(
        f"    path-dependent vs shap.TreeExplainer (uses pred_contrib, default threads): "
        f"shap {shap_t:.2f}s  ratio {shap_t / ours_t:.2f}x  "
        f"max|diff| {float(np.abs(ours[:, :-1] - sv).max()):.1e}"
    )
    bg = x[:bg_rows]
    xi = xs[:int_rows]
    engine.interventional(xi[:2], bg[:2], threads=threads)  # compile
    inter = shap.TreeExplainer(booster, data=bg, feature_perturbation="interventional")
    shap_t, sv = _best(lambda: inter.shap_values(xi, check_additivity=False), repeat=2)
    ours_t, ours = _best(lambda: engine.interventional(xi, bg, threads=threads), repeat=2)
    print(
        f"    interventional, {int_rows} rows x {bg_rows} background rows, {threads} thread(s): "
        f"auditor {ours_t:.2f}s  shap (1 thread, its only mode) {shap_t:.2f}s  "
        f"ratio {shap_t / ours_t:.2f}x  max|diff| {float(np.abs(ours[:, :-1] - sv).max()):.1e}"
    )


def bench_ig(rows: int, steps: int) -> None:
    import torch
    from captum.attr import IntegratedGradients

    from auditor.explain import get_explainer
    from auditor.models.mlp import TabularMLP
    from auditor.models.torch_adapter import TorchAdapter

    torch.manual_seed(0)
    model = TabularMLP(30, (256, 128)).eval()
    adapter = TorchAdapter(model, tuple(f"f{i}" for i in range(30)))
    x = np.random.default_rng(0).normal(size=(rows, 30))
    background = x[:100]
    explainer = get_explainer("integrated_gradients")
    ours_t, (values, base, params) = _best(
        lambda: explainer.explain(adapter, x, background=background, steps=steps)
    )
    completeness = float(np.abs(values.sum(axis=1) + base - adapter.output(x)).max())
    xt = torch.as_tensor(x, dtype=torch.float32)
    bt = torch.as_tensor(background.mean(axis=0), dtype=torch.float32)[None, :]
    ig = IntegratedGradients(model)
    captum = {}
    for batch in (None, rows * steps // 4, rows * steps // 16):
        captum[batch] = _best(
            lambda b=batch: ig.attribute(
                xt, baselines=bt, n_steps=steps, method="gausslegendre", internal_batch_size=b
            ),
            repeat=2,
        )
    best_batch = min(captum, key=lambda b: captum[b][0])
    cap_t, ref = captum[best_batch]
    diff = float(np.abs(values - ref.double().numpy()).max())

    def fwd_bwd() -> None:
        xr = xt.clone().requires_grad_(True)
        torch.autograd.grad(model(xr).sum(), xr)

    fb_t, _ = _best(fwd_bwd, repeat=5)
    print(f"(b) integrated gradients, MLP 30-256-128-1, {rows} rows, {steps} Gauss-Legendre steps")
    print(
        f"    auditor {ours_t:.3f}s on {params['device']}  Captum {cap_t:.3f}s "
        f"(internal_batch_size={best_batch})  ratio {cap_t / ours_t:.2f}x  max|diff| {diff:.1e}"
        f" (max|value| {float(np.abs(values).max()):.1f})"
    )
    print(
        f"    cost in forward+backward passes: auditor {ours_t / fb_t:.0f}x, Captum "
        f"{cap_t / fb_t:.0f}x (floor: {steps}x); completeness error {completeness:.1e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000)
    parser.add_argument("--interventional-rows", type=int, default=200)
    parser.add_argument("--background", type=int, default=100)
    parser.add_argument("--ig-rows", type=int, default=2_000)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", choices=("tree", "ig"), default=None)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    if args.only != "ig":
        bench_tree(args.rows, args.background, args.interventional_rows, args.threads)
    if args.only != "tree":
        bench_ig(args.ig_rows, args.steps)


if __name__ == "__main__":
    main()
