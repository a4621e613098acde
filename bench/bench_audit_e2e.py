"""End-to-end audit of 1 million decisions against LightGBM's own SHAP on the same rows.

Baseline: ``booster.predict(X, pred_contrib=True)`` on every row (LightGBM's native
TreeSHAP, all cores). Audit: ``perform_audit`` — the whole thing a user runs: load the
Parquet file, score, attribute every row with whatever explainer the audit picks for
LightGBM (recorded as ``engine`` in the attribution params), 12 intersectional groups ×
every metric with 1,000 bootstrap replicates, slice search, proxies, policy rules, the
PDF report and the database write (SQLite). Both in the same process, one after the
other, so the ratio is measured under the same load.

Target (issue 8, 6c): audit ≤ 0.5 × pred_contrib. Only reachable with an attribution
kernel faster than LightGBM's own; with ``pred_contrib`` inside the audit the ratio
cannot go below 1.

Run: ``.venv/bin/python bench/bench_audit_e2e.py [--rows 1000000] [--chunk-rows N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _scale_data import FEATURES, spec, train_model, write_parquet


def main() -> None:
    """Generate data and model, time the baseline and the audit, print the ratio."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--leaves", type=int, default=31)
    ap.add_argument("--chunk-rows", type=int, default=None, help="stream (engine chunk_rows)")
    args = ap.parse_args()
    import lightgbm as lgb

    from auditor.service import perform_audit

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = train_model(folder / "model.txt", trees=args.trees, leaves=args.leaves)
        data = write_parquet(folder / "decisions.parquet", args.rows)
        booster = lgb.Booster(model_file=str(model))
        leaves = np.mean([t["num_leaves"] for t in booster.dump_model()["tree_info"]])
        x = pq.read_table(data, columns=FEATURES).to_pandas().to_numpy(np.float64)
        t0 = time.perf_counter()
        contrib = booster.predict(x, pred_contrib=True)
        base_s = time.perf_counter() - t0
        del contrib, x
        audit_spec = spec(data, model)
        if args.chunk_rows:
            audit_spec["engine"] = {"chunk_rows": args.chunk_rows}
        t0 = time.perf_counter()
        outcome = perform_audit(
            audit_spec,
            pdf_path=folder / "report.pdf",
            database_url=f"sqlite:///{folder / 'audits.db'}",
        )
        audit_s = time.perf_counter() - t0
        result = outcome.result
        attr = result.attributions
        print(
            f"{args.rows:,} decisions x {len(FEATURES)} features; LightGBM {args.trees} trees, "
            f"{leaves:.1f} leaves on average; {len(result.metrics)} metric records, "
            f"{len(result.findings)} findings, report + SQLite write included"
        )
        print(f"pred_contrib alone: {base_s:.1f} s ({args.rows / base_s:,.0f} rows/s)")
        print(
            f"whole audit:        {audit_s:.1f} s (attributions by "
            f"{attr.method}/{attr.params.get('engine', '?')}, {attr.n_explained:,} rows)"
        )
        print("audit stages (s):", {k: round(v, 1) for k, v in result.run.timings.items()})
        ratio = audit_s / base_s
        print(
            f"ratio audit / pred_contrib = {ratio:.2f} (target <= 0.50: "
            f"{'met' if ratio <= 0.5 else 'not met'})"
        )


if __name__ == "__main__":
    main()
