"""Spark local mode against the in-process engine on the same audit job.

Same data (Parquet, 8 row groups), same model (LightGBM 100 trees × 31 leaves, 30
features), same spec: attributions for every row, 12 intersectional groups, every metric,
slice search, proxies, rules. In-process: the streaming engine (``chunk_rows`` = one row
group). Spark: ``engine: {kind: spark}`` on ``local[2]`` (two executor threads, one Python
worker each), 8 input partitions, model shipped as text; the driver holds no per-row
data (see ``auditor/engine/spark.py``). Spark's startup (the JVM, the session and the
Python workers with auditor imported) is timed apart; the run ratio excludes it, the
total ratio includes it. The two results are checked equal (every number to 1e-9) after
the times are printed.

Target (issue 8, 6d): Spark run ≤ 1.3 × in-process.

Run: ``.venv/bin/python bench/bench_spark.py [--rows 200000]`` (needs the ``spark`` extra).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _scale_data import spec, train_model, write_parquet

from auditor.result import AuditResult


def main() -> None:
    """Time both engines on one job and print the ratios."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--leaves", type=int, default=31)
    args = ap.parse_args()
    import auditor
    from auditor.engine.spark import spark_session
    from tests._engine_compare import assert_same_result

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = train_model(folder / "model.txt", trees=args.trees, leaves=args.leaves)
        group = max(1, args.rows // 8)
        data = write_parquet(folder / "decisions.parquet", args.rows, row_group=group)
        # explanation quality is measured in memory only: off in both
        base = spec(data, model, explain={"quality": {"enabled": False}})
        t0 = time.perf_counter()
        session = spark_session("local[2]")
        session.range(1).count()  # the JVM, the session and a first job
        _warm_python_workers(session)
        startup = time.perf_counter() - t0
        # one partition per row group
        session.conf.set("spark.sql.files.maxPartitionBytes", str(data.stat().st_size // 8))
        t0 = time.perf_counter()
        local = auditor.run_audit({**base, "engine": {"chunk_rows": group}})
        local_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        spark = auditor.run_audit({**base, "engine": {"kind": "spark", "chunk_rows": group}})
        spark_s = time.perf_counter() - t0
        session.stop()
        print(
            f"{args.rows:,} decisions x 30 features, LightGBM {args.trees} trees x "
            f"{args.leaves} leaves"
        )
        print(f"in-process (streaming engine): {local_s:.1f} s  stages {_stages(local)}")
        print(
            f"Spark local[2]:                {spark_s:.1f} s run + {startup:.1f} s startup  "
            f"stages {_stages(spark)}"
        )
        print(
            f"ratio Spark / in-process: run {spark_s / local_s:.2f} (target <= 1.30: "
            f"{'met' if spark_s / local_s <= 1.3 else 'not met'}), "
            f"with startup {(spark_s + startup) / local_s:.2f}"
        )
        assert_same_result(local, spark)
        print("results equal to 1e-9")


def _warm_python_workers(session: Any) -> None:
    """Start the Python workers and import auditor there (a fixed cost of any session)."""

    def run(batches: Iterator[Any]) -> Iterator[Any]:
        import pyarrow as pa

        import auditor.engine.partials  # noqa: F401

        for b in batches:
            yield pa.RecordBatch.from_pydict({"n": [b.num_rows]})

    session.range(0, 64, 1, 8).mapInArrow(run, "n long").collect()


def _stages(result: AuditResult) -> str:
    timings = result.run.timings
    return ", ".join(f"{k} {v:.1f}" for k, v in timings.items() if v >= 0.05)


if __name__ == "__main__":
    main()
