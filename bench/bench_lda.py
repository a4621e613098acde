"""Time of the hiring demo's search for less discriminatory alternatives (issue 22).

Writes the hiring demo, timing its PyTorch MLP's training (the audited model, the demo's
40 epochs): that one training is the named baseline. Then runs ``search_alternatives`` on
the demo spec as shipped (LightGBM refit) and, with ``--learner torch`` or ``sklearn``,
with ``training.model`` switched to that learner, and prints the whole search's time, the
time per candidate (wall time of the search over candidates tried, two worker processes)
and its ratio to one training of the audited model. Target: the shipped search under
2 minutes on 2 cores.

    .venv/bin/python bench/bench_lda.py [--budget 16] [--learner lightgbm torch sklearn]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from auditor.demo import prepare_hiring
from auditor.lda import SearchOptions, search_alternatives

LEARNERS: dict[str, Any] = {
    "lightgbm": None,  # the demo spec as shipped
    "torch": {"kind": "torch", "epochs": 10, "batch_size": 512, "init": {"hidden": [32, 16]}},
    "sklearn": {
        "kind": "sklearn",
        "estimator": "hist_gradient_boosting",
        "params": {"max_iter": 150},
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--learner", nargs="+", default=["lightgbm"], choices=sorted(LEARNERS))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        case = prepare_hiring(Path(tmp))  # the audited MLP, trained as the demo trains it
        audited_s = time.perf_counter() - t0
        print(f"one training of the audited model (demo MLP, 40 epochs) {audited_s:8.2f} s")
        for learner in args.learner:
            spec_path = case.spec_path
            if LEARNERS[learner] is not None:
                spec = yaml.safe_load(spec_path.read_text())
                spec["training"]["model"] = LEARNERS[learner]
                spec_path = Path(tmp) / f"hiring_{learner}.yaml"
                spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
            t0 = time.perf_counter()
            found = search_alternatives(
                spec_path,
                options=SearchOptions(budget=args.budget, jobs=args.jobs),
                out_dir=Path(tmp) / f"lda_{learner}",
            )
            wall = time.perf_counter() - t0
            _report(learner, found.record, wall, audited_s, found.recommended)


def _report(
    learner: str, record: dict[str, Any], wall: float, audited_s: float, chosen: str | None
) -> None:
    timings = record["timings"]
    tried = len(record["candidates"]) - 1
    per = timings["per_candidate_s"]
    print(f"--- {learner} refit")
    print(f"search wall time        {wall:8.2f} s (target < 120 s)")
    print(f"candidates tried        {tried:8d} ({record['stopped']})")
    print(f"per candidate           {per:8.3f} s (fit + figures, {timings['jobs']} workers)")
    print(f"one refit (baseline)    {timings['baseline_train_s']:8.3f} s (fit + scores)")
    print(f"ratio to audited model  {per / audited_s:8.2f}x (per candidate / one training)")
    print(f"ratio to one refit      {per / max(timings['baseline_train_s'], 1e-9):8.2f}x")
    rec = record["recommended"]
    if rec and rec["holdout_worst_ratio"] and rec["holdout_baseline_worst_ratio"]:
        print(
            f"recommended             {chosen}: held-out worst ratio "
            f"{rec['holdout_baseline_worst_ratio']['value']:.3f} -> "
            f"{rec['holdout_worst_ratio']['value']:.3f}, AUC change "
            f"{rec['holdout_auc_change']:+.4f}"
        )
    else:
        print(f"recommended             none ({record['no_recommendation_reason']})")


if __name__ == "__main__":
    main()
