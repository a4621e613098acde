"""Peak memory of a streamed audit: 10 million decisions × 30 features within 8 GB.

Generates a Parquet file of ``--rows`` synthetic decisions on the fly (row groups of
250k rows; nothing committed), trains a small LightGBM model, and runs the whole audit
(attributions for every row, 12 intersectional groups, every metric with 1,000 bootstrap
replicates, slice search, proxies, policy rules) with the streaming engine
(``engine: {chunk_rows: ...}``) in a child process, reporting its wall time and peak RSS
(``ru_maxrss``, the whole process: interpreter, libraries, data). With
``--compare-rows N`` it first runs the in-memory engine and the streaming engine on N
rows, so the two peaks can be compared on the same data.

Run: ``.venv/bin/python bench/bench_engine_memory.py [--rows 10000000] [--compare-rows 1000000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _scale_data import spec, train_model, write_parquet

LIMIT_GB = 8.0


def child(spec_json: str) -> None:
    """Run one audit and print its time and this process's peak RSS as JSON."""
    import auditor

    t0 = time.perf_counter()
    result = auditor.run_audit(json.loads(spec_json))
    seconds = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": round(seconds, 1),
                "peak_rss_gb": round(peak_kb / 2**20, 2),
                "rows": result.dataset.rows,
                "explained": result.attributions.n_explained,
                "metrics": len(result.metrics),
                "timings": result.run.timings,
            }
        )
    )


def run_child(audit_spec: dict[str, Any]) -> dict[str, Any]:
    """The child's JSON line."""
    cmd = [sys.executable, __file__, "--child", json.dumps(audit_spec)]
    repo = str(Path(__file__).resolve().parents[1])  # this checkout's auditor, not another
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"audit failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    """Generate, audit, report."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--compare-rows", type=int, default=0)
    ap.add_argument("--chunk-rows", type=int, default=250_000)
    ap.add_argument("--trees", type=int, default=10)
    ap.add_argument("--leaves", type=int, default=15)
    ap.add_argument("--tmp", type=Path, default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        folder = Path(tmp)
        model = train_model(folder / "model.txt", trees=args.trees, leaves=args.leaves)
        print(f"model: LightGBM {args.trees} trees x {args.leaves} leaves, 30 features")
        if args.compare_rows:
            small = write_parquet(folder / "small.parquet", args.compare_rows)
            base = spec(small, model)
            mem = run_child(base)
            streamed = run_child({**base, "engine": {"chunk_rows": args.chunk_rows}})
            print(
                f"{args.compare_rows:,} rows: in-memory {mem['seconds']} s, peak "
                f"{mem['peak_rss_gb']} GB | streamed {streamed['seconds']} s, peak "
                f"{streamed['peak_rss_gb']} GB"
            )
        t0 = time.perf_counter()
        data = write_parquet(folder / "decisions.parquet", args.rows)
        size = data.stat().st_size / 2**30
        print(f"generated {args.rows:,} rows in {time.perf_counter() - t0:.0f} s ({size:.1f} GB)")
        big = run_child(spec(data, model, engine={"chunk_rows": args.chunk_rows}))
        ok = big["peak_rss_gb"] <= LIMIT_GB
        print(
            f"{args.rows:,} rows streamed (chunks of {args.chunk_rows:,}): {big['seconds']} s, "
            f"peak RSS {big['peak_rss_gb']} GB (limit {LIMIT_GB} GB: "
            f"{'met' if ok else 'NOT met'}); explained {big['explained']:,} rows"
        )
        print("stage seconds:", json.dumps(big["timings"]))


if __name__ == "__main__":
    main()
