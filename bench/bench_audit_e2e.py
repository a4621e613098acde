"""End-to-end audit of 1 million decisions against LightGBM's own SHAP on the same rows.

Baseline: ``booster.predict(X, pred_contrib=True)`` on every row (LightGBM's native
TreeSHAP, all cores). Audit: ``perform_audit`` — the whole thing a user runs: load the
Parquet file, score, attribute every row with whatever explainer the audit picks for
LightGBM (recorded as ``engine`` in the attribution params), 12 intersectional groups ×
every metric with 1,000 bootstrap replicates, slice search, proxies, policy rules, the
PDF report and the database write (SQLite). Both in the same process, one after the
other, so the ratio is measured under the same load.

``--engines memory streamed spark`` runs the same audit on each engine after the one
baseline: in memory, streamed (``engine.chunk_rows`` = one Parquet row group, an eighth of
the rows) and Spark ``local[2]`` (one partition per row group; the JVM start-up and the
Python workers' first import are timed apart and printed beside the run). Explanation
quality is on for all three. ``pred_contrib`` is timed before the audits and again after
them (unless ``--no-bracket``), and the ratios use the mean, so that load that changes
during the run shows as two different baseline times.

Target (issue 25, item 5): every engine's whole audit ≤ 0.35 × pred_contrib. Only
reachable with an attribution kernel faster than LightGBM's own; with ``pred_contrib``
inside the audit the ratio cannot go below 1.

Run: ``.venv/bin/python bench/bench_audit_e2e.py [--rows 1000000]
[--engines memory streamed spark]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _scale_data import FEATURES, spec, train_model, write_parquet
from bench_spark import _warm_python_workers

ENGINES = ("memory", "streamed", "spark")


def main() -> None:
    """Generate data and model, time the baseline and each engine's audit, print ratios."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--leaves", type=int, default=31)
    ap.add_argument(
        "--engines",
        nargs="+",
        choices=ENGINES,
        default=["memory"],
        help="which engines to run, in this order (spark needs the spark extra)",
    )
    ap.add_argument("--chunk-rows", type=int, default=None, help="streamed engine chunk_rows")
    ap.add_argument(
        "--no-bracket",
        action="store_true",
        help="time pred_contrib once (before the audits) instead of before and after",
    )
    args = ap.parse_args()
    import lightgbm as lgb

    from auditor.service import perform_audit

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = train_model(folder / "model.txt", trees=args.trees, leaves=args.leaves)
        group = args.chunk_rows or max(1, args.rows // 8)
        # one row group per streamed chunk and per Spark partition
        data = write_parquet(folder / "decisions.parquet", args.rows, row_group=group)
        booster = lgb.Booster(model_file=str(model))
        leaves = np.mean([t["num_leaves"] for t in booster.dump_model()["tree_info"]])

        def baseline() -> float:
            x = pq.read_table(data, columns=FEATURES).to_pandas().to_numpy(np.float64)
            t0 = time.perf_counter()
            contrib = booster.predict(x, pred_contrib=True)
            elapsed = time.perf_counter() - t0
            del contrib, x
            return elapsed

        base = [baseline()]
        print(f"pred_contrib alone: {base[0]:.1f} s ({args.rows / base[0]:,.0f} rows/s)")
        runs: list[tuple[str, float, float]] = []
        session = None
        for n, engine in enumerate(args.engines):
            audit_spec = spec(data, model)
            startup = 0.0
            if engine == "streamed":
                audit_spec["engine"] = {"chunk_rows": group}
            elif engine == "spark":
                t0 = time.perf_counter()
                session = _start_spark(data)
                startup = time.perf_counter() - t0
                audit_spec["engine"] = {"kind": "spark", "chunk_rows": group}
            t0 = time.perf_counter()
            outcome = perform_audit(
                audit_spec,
                pdf_path=folder / f"report-{n}.pdf",
                database_url=f"sqlite:///{folder / f'audits-{n}.db'}",
            )
            audit_s = time.perf_counter() - t0
            result = outcome.result
            attr = result.attributions
            quality = result.explanation_quality
            print(
                f"{engine:>8}: {audit_s:.1f} s (+ {startup:.1f} s Spark start-up); "
                f"attributions by {attr.method}/{attr.params.get('engine', '?')}, "
                f"{attr.n_explained:,} rows; {len(result.metrics)} metric records, "
                f"{len(result.findings)} findings; explanation quality "
                f"{'computed' if quality.computed else 'not computed: ' + str(quality.reason)}"
            )
            print("          stages (s):", {k: round(v, 1) for k, v in result.run.timings.items()})
            runs.append((engine, audit_s, startup))
        if session is not None:
            session.stop()
        if not args.no_bracket:
            base.append(baseline())
            print(f"pred_contrib again: {base[1]:.1f} s (after the audits, load check)")
        base_s = sum(base) / len(base)
        print(
            f"{args.rows:,} decisions x {len(FEATURES)} features; LightGBM {args.trees} trees, "
            f"{leaves:.1f} leaves on average; report (PDF) + SQLite write included"
        )
        for engine, audit_s, startup in runs:
            ratio = audit_s / base_s
            extra = f", with start-up {(audit_s + startup) / base_s:.2f}" if startup else ""
            print(
                f"ratio {engine} audit / pred_contrib = {ratio:.2f}{extra} (target <= 0.35: "
                f"{'met' if ratio <= 0.35 else 'not met'})"
            )


def _start_spark(data: Path) -> Any:
    """A ``local[2]`` session with its Python workers warm, one partition per row group."""
    from auditor.engine.spark import spark_session

    session = spark_session("local[2]")
    session.range(1).count()  # the JVM, the session and a first job
    _warm_python_workers(session)
    session.conf.set("spark.sql.files.maxPartitionBytes", str(data.stat().st_size // 8))
    return session


if __name__ == "__main__":
    main()
