"""The GPU paths against the 2-thread CPU paths, both sides measured in the same run.

(a) Path-dependent TreeSHAP on the model of ``bench_explain.py`` (LightGBM, 500 trees x
    63 leaves, depth 6, F = 30): auditor's CUDA kernel (``explain.device: cuda``, the
    inputs' upload and the outputs' download included) against auditor's CPU engine on
    2 threads and LightGBM ``predict(pred_contrib=True)`` on 2 threads, at several row
    counts (the crossover sets ``AUTO_MIN_LEAF_ROWS``); the first CUDA call (kernel
    compilation and the model's upload) is timed apart. Values must equal the CPU
    engine's to 1e-12 and ``pred_contrib``'s to 1e-9.
(b) Integrated gradients on the MLP 30-256-128-1 of ``bench_explain.py``: auditor's
    explainer with ``device="cuda"`` against ``device="cpu"`` with torch on 2 threads,
    same rows, steps and baseline; values must agree to float32 rounding (1e-4 of the
    largest attribution) and both sides' completeness errors are printed.

Run on a machine with a CUDA device, numba's CUDA toolkit (NVVM) and a CUDA build of
torch: ``PYTHONPATH=. python bench/bench_gpu.py [--sizes 200,2000,20000] [--threads 2]``.
Without a device it exits at once saying so (status 2). Prints seconds (best of the
repeats) and ratios CPU / GPU (above 1: the GPU is faster).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def _devices() -> tuple[str | None, str | None]:
    """The CUDA device numba sees (TreeSHAP) and the one torch sees (IG), by name."""
    numba_dev = torch_dev = None
    try:
        from auditor.explain.gpu_tree_shap import cuda_device_present

        if cuda_device_present():
            from numba import cuda

            numba_dev = str(cuda.get_current_device().name)
    except Exception as exc:  # a driver without a usable toolkit reads as none
        print(f"numba: no usable CUDA device ({exc})")
    try:
        import torch

        if torch.cuda.is_available():
            torch_dev = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return numba_dev, torch_dev


def bench_tree(sizes: list[int], threads: int, repeat: int) -> bool:
    from bench_explain import _model

    from auditor.explain.fast_tree_shap import TreeShapEngine
    from auditor.explain.gpu_tree_shap import path_dependent_cuda

    booster, _ = _model(20_000)
    engine = TreeShapEngine.from_model(booster)
    leaves = int((engine.model.left < 0).sum())
    xs_all = np.random.default_rng(1).normal(size=(max(sizes), 30))
    xs_all[::17, 5] = np.nan  # some missing values on the way
    engine.path_dependent(xs_all[:4], threads=threads)  # numba CPU compile (disk-cached)
    t0 = time.perf_counter()
    path_dependent_cuda(engine, xs_all[:4])
    first = time.perf_counter() - t0
    print(f"(a) path-dependent TreeSHAP, LightGBM 500 trees, {leaves} leaves, depth 6, F=30")
    print(f"    first CUDA call (kernel compile + model upload, 4 rows): {first:.2f}s")
    ok = True
    for rows in sizes:
        xs = xs_all[:rows]
        gpu_t, gpu = _best(lambda xs=xs: path_dependent_cuda(engine, xs), repeat)
        cpu_t, cpu = _best(lambda xs=xs: engine.path_dependent(xs, threads=threads), repeat)
        d_cpu = float(np.abs(gpu - cpu).max())
        line = (
            f"    {rows} rows ({rows * leaves:.2e} leaf-rows): GPU {gpu_t:.4f}s  CPU engine "
            f"{threads} threads {cpu_t:.4f}s  ratio {cpu_t / gpu_t:.2f}x  max|diff| {d_cpu:.1e}"
        )
        ok &= d_cpu <= 1e-12
        if rows == max(sizes):
            lgb_t, ref = _best(
                lambda xs=xs: booster.predict(xs, pred_contrib=True, num_threads=threads),
                max(1, repeat - 1),
            )
            d_ref = float(np.abs(gpu - ref).max())
            ok &= d_ref <= 1e-9
            line += (
                f"\n      pred_contrib {threads} threads {lgb_t:.4f}s  ratio "
                f"{lgb_t / gpu_t:.2f}x  max|diff| {d_ref:.1e}"
            )
        print(line)
    return ok


def bench_ig(rows: int, steps: int, repeat: int) -> bool:
    import torch

    from auditor.explain import get_explainer
    from auditor.models.mlp import TabularMLP
    from auditor.models.torch_adapter import TorchAdapter

    torch.manual_seed(0)
    model = TabularMLP(30, (256, 128)).eval()
    adapter = TorchAdapter(model, tuple(f"f{i}" for i in range(30)))
    x = np.random.default_rng(0).normal(size=(rows, 30))
    background = x[:100]
    explainer = get_explainer("integrated_gradients")

    def run(device: str) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        values, base, params = explainer.explain(
            adapter, x, background=background, steps=steps, device=device
        )
        if device == "cuda":
            torch.cuda.synchronize()
        return values, base, params

    t0 = time.perf_counter()
    run("cuda")
    first = time.perf_counter() - t0
    gpu_t, (gv, gb, gp) = _best(lambda: run("cuda"), repeat)
    cpu_t, (cv, cb, cp) = _best(lambda: run("cpu"), repeat)
    out = adapter.output(x)
    scale = float(np.abs(cv).max())
    diff = float(np.abs(gv - cv).max())
    print(f"(b) integrated gradients, MLP 30-256-128-1, {rows} rows, {steps} Gauss-Legendre steps")
    print(
        f"    GPU ({gp['device']}) {gpu_t:.4f}s (first call {first:.2f}s)  CPU ({cp['device']}, "
        f"{torch.get_num_threads()} threads) {cpu_t:.4f}s  ratio {cpu_t / gpu_t:.2f}x  "
        f"max|diff| {diff:.1e} (max|value| {scale:.2f})"
    )
    print(
        f"    completeness error: GPU {float(np.abs(gv.sum(1) + gb - out).max()):.1e}, "
        f"CPU {float(np.abs(cv.sum(1) + cb - out).max()):.1e}"
    )
    return gp["device"] == "cuda" and cp["device"] == "cpu" and diff <= 1e-4 * max(scale, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="200,2000,20000", help="TreeSHAP row counts")
    parser.add_argument("--ig-rows", type=int, default=2_000)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="threads of the CPU side")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("tree", "ig"), default=None)
    parser.add_argument(
        "--simulator",
        action="store_true",
        help="check this script without a GPU: (a) on numba's CUDA simulator (set "
        "NUMBA_ENABLE_CUDASIM=1; use tiny --sizes; timings meaningless)",
    )
    args = parser.parse_args()
    numba_dev, torch_dev = _devices()
    if args.simulator:
        import numba

        if not getattr(numba.config, "ENABLE_CUDASIM", 0):
            raise SystemExit("bench_gpu: --simulator needs NUMBA_ENABLE_CUDASIM=1")
        numba_dev = "CUDA simulator (timings meaningless)"
    want_tree = args.only != "ig"
    want_ig = args.only != "tree"
    if (not want_tree or numba_dev is None) and (not want_ig or torch_dev is None):
        print(
            "bench_gpu: no CUDA device here (numba.cuda and torch.cuda see none), so there "
            "is nothing to measure; run it on a machine with an NVIDIA GPU, numba's CUDA "
            "toolkit and a CUDA build of torch.",
            file=sys.stderr,
        )
        raise SystemExit(2)
    import torch

    torch.set_num_threads(args.threads)
    print(f"devices: numba {numba_dev or 'none'}; torch {torch_dev or 'none'}")
    ok = True
    if want_tree:
        if numba_dev is None:
            print("(a) skipped: numba sees no CUDA device")
        else:
            sizes = [int(s) for s in args.sizes.split(",")]
            ok &= bench_tree(sizes, args.threads, args.repeat)
    if want_ig:
        if torch_dev is None:
            print("(b) skipped: torch sees no CUDA device (a CPU-only torch build?)")
        else:
            ok &= bench_ig(args.ig_rows, args.steps, args.repeat)
    print("results equal to the CPU paths" if ok else "RESULTS DIFFER from the CPU paths")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
