"""TreeSHAP through the public ``auditor.explain(booster, X)`` against LightGBM's ``pred_contrib``.

What notebooks, the letters and the review call: argument checks, the adapter, the
engine (built on the first call, then taken from the per-digest cache), the SHAP values
and the additivity check against ``predict(raw_score=True)``. Same model as
``bench_explain.py`` (500 trees x 63 leaves, max depth 6, 30 features), same rows for
both sides, 1 and 2 threads, in one run. Also timed in the same run: the engine with its
path tables turned off (``AUDITOR_TREESHAP_TABLE_MB=0``: the per-row quadrature kernel
of the code before the tables), and the engine build that every call paid before the
cache.

Times are CPU seconds of the whole process (``time.process_time``: every thread, so a
shared machine's waiting does not count), best of ``--repeat``; wall seconds beside them.
Ratios are pred_contrib / auditor (above 1: auditor faster).

``--before DIR`` also times the public explain of another copy of the code (e.g.
``git archive <commit> auditor | tar -x -C DIR``) in a child process on the same model
and rows: the figure before a change, measured in the same run.

Run: ``PYTHONPATH=. .venv/bin/python bench/bench_explain_public.py [--rows N]
[--model saved.txt] [--before DIR]`` (``--model`` loads a saved Booster instead of
training one; a missing file is written after training).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _cpu(fn: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """Best CPU and best wall seconds over ``repeat`` calls, and the last result."""
    cpu, wall, result = [], [], None
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        result = fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return min(cpu), min(wall), result


def _booster(path: str | None) -> Any:
    import lightgbm as lgb
    from bench_explain import _model

    if path and Path(path).is_file():
        return lgb.Booster(model_file=path)
    booster, _ = _model(20_000)
    if path:
        booster.save_model(path)
    return booster


_BEFORE = """
import json, os, sys, time
import lightgbm as lgb, numpy as np, pandas as pd
import auditor
from auditor.explain.tree_shap import ENGINES
booster = lgb.Booster(model_file=sys.argv[1])
xs = np.random.default_rng(1).normal(size=(int(sys.argv[2]), 30))
frame = pd.DataFrame(xs, columns=booster.feature_name())
rng = np.random.default_rng(0)
tiny = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(rng.normal(size=(200, 30)),
                 rng.integers(0, 2, 200)), 2)
auditor.explain(tiny, xs[:4])  # numba compile, not timed
out = {}
for th in (1, 2):
    os.environ["AUDITOR_THREADS"] = str(th)
    copy = lgb.Booster(model_file=sys.argv[1])
    ENGINES.clear()  # the same digest as the other thread count's model: build again
    c = time.process_time(); auditor.explain(copy, frame); first = time.process_time() - c
    later = []
    for _ in range(int(sys.argv[3])):
        c = time.process_time(); auditor.explain(copy, frame); later.append(time.process_time() - c)
    out[th] = (first, min(later))
assert auditor.__file__.startswith(os.getcwd()), auditor.__file__
print(json.dumps(out))
"""


def _before(folder: str, model: str, rows: int, repeat: int) -> dict[str, list[float]]:
    """CPU seconds (first, best later) of the public explain of the code in ``folder``."""
    import json
    import subprocess

    env = {**os.environ, "PYTHONPATH": folder}
    model = str(Path(model).resolve())
    cmd = [sys.executable, "-c", _BEFORE, model, str(rows), str(repeat)]
    # cwd too: ``python -c`` puts the working directory first on sys.path
    done = subprocess.run(cmd, env=env, cwd=folder, capture_output=True, text=True, check=True)
    result: dict[str, list[float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--model", default=None)
    parser.add_argument("--before", default=None, help="another copy of the code to time")
    args = parser.parse_args()
    if args.before and not args.model:
        parser.error("--before needs --model (the child process loads the same model)")

    import auditor
    from auditor.explain.fast_tree_shap import TreeShapEngine
    from auditor.explain.tree_shap import ENGINES

    booster = _booster(args.model)
    xs = np.random.default_rng(1).normal(size=(args.rows, 30))
    frame = pd.DataFrame(xs, columns=[str(n) for n in booster.feature_name()])
    print(
        f"TreeSHAP via auditor.explain(booster, X): LightGBM {booster.num_trees()} trees x 63 "
        f"leaves, depth 6, F=30, {args.rows} rows; CPU s best of {args.repeat} (wall s)"
    )
    TreeShapEngine.from_model(booster).path_dependent(xs[:4])  # numba compile, not timed
    c0, w0 = time.process_time(), time.perf_counter()
    engine = TreeShapEngine.from_model(booster)
    tables = engine.path_tables()
    build_cpu, build_wall = time.process_time() - c0, time.perf_counter() - w0
    c0 = time.process_time()
    TreeShapEngine.from_model(booster.dump_model()).path_tables()
    dump_cpu = time.process_time() - c0
    flat_bytes = sum(v.nbytes for v in vars(engine.model).values() if isinstance(v, np.ndarray))
    print(
        f"  engine build (model text, flatten, tables): {build_cpu:.2f}s CPU ({build_wall:.2f}s)"
        f"; from dump_model() instead: {dump_cpu:.2f}s CPU"
        f"; memory: trees {flat_bytes / 2**20:.1f} MiB + path tables "
        f"{tables.nbytes / 2**20:.1f} MiB ({len(tables.tabulated)} trees tabulated, "
        f"{len(tables.quadrature)} by quadrature)"
    )
    before = _before(args.before, args.model, args.rows, args.repeat) if args.before else {}
    saved = os.environ.get("AUDITOR_THREADS")
    for th in (1, 2):
        os.environ["AUDITOR_THREADS"] = str(th)
        lgb_c, lgb_w, ref = _cpu(
            lambda th=th: booster.predict(xs, pred_contrib=True, num_threads=th), args.repeat
        )
        ENGINES.clear()
        first_c, first_w, _ = _cpu(lambda: auditor.explain(booster, frame), 1)
        builds = ENGINES.builds
        later_c, later_w, attr = _cpu(lambda: auditor.explain(booster, frame), args.repeat)
        assert ENGINES.builds == builds, "a later call rebuilt the engine"
        ours = np.column_stack([attr.values, attr.base_values])
        diff = float(np.abs(ours - ref).max())
        quad = TreeShapEngine.from_model(booster)
        os.environ["AUDITOR_TREESHAP_TABLE_MB"] = "0"
        quad.path_tables()
        del os.environ["AUDITOR_TREESHAP_TABLE_MB"]
        quad_c, _, _ = _cpu(lambda th=th, q=quad: q.path_dependent(xs, threads=th), args.repeat)
        print(
            f"  {th} thread(s): pred_contrib {lgb_c:.3f}s ({lgb_w:.3f})  "
            f"explain first call {first_c:.3f}s ({first_w:.3f}) ratio {lgb_c / first_c:.2f}x  "
            f"later calls {later_c:.3f}s ({later_w:.3f}) ratio {lgb_c / later_c:.2f}x  "
            f"max|diff| {diff:.1e}"
        )
        print(
            f"      quadrature kernel alone (tables off, engine prebuilt): {quad_c:.3f}s"
            f" ratio {lgb_c / quad_c:.2f}x"
        )
        if str(th) in before:
            old_first, old_later = before[str(th)]
            print(
                f"      before (--before code, same model and rows): first call {old_first:.3f}s"
                f" ratio {lgb_c / old_first:.2f}x  later calls {old_later:.3f}s ratio "
                f"{lgb_c / old_later:.2f}x"
            )
    if saved is None:
        os.environ.pop("AUDITOR_THREADS", None)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS of the process {peak:.0f} MiB; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
