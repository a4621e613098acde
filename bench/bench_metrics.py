"""The metrics stage against Fairlearn's MetricFrame, in one process.

(a) auditor's whole metrics stage (``compute_group_metrics``): 3 protected attributes
    plus one intersection; every metric it computes (selection rate, impact ratios,
    TPR/FPR/FNR/PPV/accuracy, differences, SMD, KS, calibration, chi-square), Wilson /
    Katz / Newcombe intervals, tests, Holm adjustment and a 1,000-replicate seeded count
    bootstrap for every ratio;
(b) Fairlearn ``MetricFrame`` computing five of those metrics by group (selection rate,
    TPR, FPR, precision, accuracy; no intervals) for the same 4 groupings on the same data.

Prints both times and (b)/(a) (goal: >= 100). Then the stage alone on ``--big`` rows
(default 10 million): seconds and peak memory (tracemalloc peak of the stage, and the
process's peak RSS, data included). Protected columns are pandas string columns, as the
loader produces them.

Run: ``.venv/bin/python bench/bench_metrics.py [--rows 2000000] [--big 10000000]``.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np
import pandas as pd

from auditor.batch import DecisionBatch
from auditor.metrics import compute_group_metrics, groupings

PROTECTED = ["sex", "race_ethnicity", "age_band"]
INTERSECTIONS = [["sex", "race_ethnicity"]]


def make_batch(rows: int, seed: int = 0) -> DecisionBatch:
    """Synthetic decisions: 3 protected attributes (with unknowns), labels and scores."""
    rng = np.random.default_rng(seed)
    cats = {
        "sex": ["Female", "Male", "unknown"],
        "race_ethnicity": ["Asian", "Black", "Hispanic", "Native", "Two+", "White", "unknown"],
        "age_band": ["under 25", "25-39", "40-61", "62 and over"],
    }
    protected = pd.DataFrame(
        {
            k: pd.Series(np.asarray(v, dtype=object)[rng.integers(0, len(v), rows)]).astype(str)
            for k, v in cats.items()
        }
    )
    scores = rng.beta(2, 3, rows)
    labels = (rng.uniform(size=rows) < scores).astype(np.int8)
    decisions = (scores >= 0.5).astype(np.int8)
    return DecisionBatch(
        ids=np.arange(rows),
        features=pd.DataFrame(index=pd.RangeIndex(0)),
        protected=protected,
        decisions=decisions,
        scores=scores,
        labels=labels,
    )


def stage(batch: DecisionBatch) -> int:
    """auditor's metrics stage; returns the number of records."""
    recs, _ = compute_group_metrics(
        batch,
        groupings(PROTECTED, INTERSECTIONS),
        min_group_size=30,
        bootstrap=1000,
        seed=0,
    )
    return len(recs)


def fairlearn_stage(batch: DecisionBatch) -> None:
    """Fairlearn MetricFrame, 5 metrics by group, for each attribute and the intersection."""
    from fairlearn.metrics import (
        MetricFrame,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import accuracy_score, precision_score

    metrics = {
        "selection_rate": selection_rate,
        "tpr": true_positive_rate,
        "fpr": false_positive_rate,
        "ppv": lambda y, p: precision_score(y, p, zero_division=0),
        "accuracy": accuracy_score,
    }
    for cols in [[a] for a in PROTECTED] + INTERSECTIONS:
        sf = batch.protected[cols] if len(cols) > 1 else batch.protected[cols[0]]
        frame = MetricFrame(
            metrics=metrics, y_true=batch.labels, y_pred=batch.decisions, sensitive_features=sf
        )
        _ = frame.by_group


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--big", type=int, default=10_000_000, help="0 to skip")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    batch = make_batch(args.rows)
    stage(batch)  # warm-up (imports, scipy)
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        n_records = stage(batch)
        times.append(time.perf_counter() - t)
    a = min(times)
    t = time.perf_counter()
    fairlearn_stage(batch)
    b = time.perf_counter() - t
    print(f"rows: {args.rows:,}; groupings: {len(PROTECTED)} attributes + {len(INTERSECTIONS)}")
    print(f"(a) auditor metrics stage (all metrics, intervals, 1000 bootstrap): {a:.3f} s")
    print(f"    records: {n_records}")
    print(f"(b) fairlearn MetricFrame, 5 metrics by group, no intervals:       {b:.3f} s")
    print(f"ratio (b)/(a): {b / a:.0f}x (goal >= 100)")
    del batch

    if args.big:
        big = make_batch(args.big, seed=1)
        tracemalloc.start()
        t = time.perf_counter()
        stage(big)
        elapsed = time.perf_counter() - t
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        print(f"rows: {args.big:,}: stage {elapsed:.2f} s (goal < 30 s)")
        print(f"    stage peak allocation (tracemalloc): {peak / 2**20:.0f} MiB")
        print(f"    process peak RSS incl. data and fairlearn run: {rss:.0f} MiB (goal < 2 GiB)")


if __name__ == "__main__":
    main()
