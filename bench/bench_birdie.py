"""BIRDiE against the weighted estimator on simulated inferred race (issue 17 item 7).

Each simulated audit: ``--rows`` applicants in 200 areas; each area's share of group B
drawn from Beta(0.5, 0.5) is the applicant's BISG-style probability (calibrated: it is
the true posterior given the area); race drawn from it; approval depends on race only
(true rates 0.70 and 0.52: a true impact ratio of 0.743). Prints, over ``--audits``
audits, the mean and spread of each estimator's impact ratio, the share of audits in
which each puts B below 0.80, and the EM's iterations and time; then one fit on
``--big`` rows (time per fit); then the row-bootstrap interval (``--replicates``) timed on
``--rows`` and ``--boot-rows`` rows, and its coverage of the true ratio over
``--coverage`` audits of ``--rows`` rows.

Run: ``.venv/bin/python bench/bench_birdie.py [--audits 200] [--rows 5000] [--big 1000000]
[--replicates 200] [--boot-rows 100000] [--coverage 50]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from auditor.metrics.birdie import birdie_fit
from auditor.metrics.birdie_interval import REPLICATES, birdie_bootstrap
from auditor.metrics.percentile import percentile_interval

RATES = (0.70, 0.52)


def simulate(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Membership probabilities (n × 2) and approvals."""
    share = rng.beta(0.5, 0.5, 200)[rng.integers(0, 200, n)]
    race = (rng.uniform(size=n) < share).astype(int)
    approved = (rng.uniform(size=n) < np.array(RATES)[race]).astype(int)
    return np.column_stack([1 - share, share]), approved


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--audits", type=int, default=200)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--replicates", type=int, default=REPLICATES)
    parser.add_argument("--boot-rows", type=int, default=100_000)
    parser.add_argument("--coverage", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    weighted, corrected, iterations, seconds = [], [], [], []
    for _ in range(args.audits):
        w, y = simulate(rng, args.rows)
        t = time.perf_counter()
        fit = birdie_fit(w, y, ["A", "B"])
        seconds.append(time.perf_counter() - t)
        iterations.append(fit.iterations)
        weighted.append(fit.weighted[1, 1] / fit.weighted[1, 0])
        corrected.append(fit.rates[1, 1] / fit.rates[1, 0])
    truth = RATES[1] / RATES[0]
    print(f"true impact ratio {truth:.3f}; {args.audits} audits of {args.rows} rows")
    for name, values in (("weighted", weighted), ("BIRDiE", corrected)):
        v = np.array(values)
        print(
            f"  {name:8s} mean {v.mean():.3f}  sd {v.std(ddof=1):.3f}  "
            f"bias {v.mean() - truth:+.3f}  below 0.80 in {np.mean(v < 0.8):.1%} of audits"
        )
    print(
        f"  EM iterations: median {int(np.median(iterations))}, max {max(iterations)}; "
        f"median {np.median(seconds) * 1000:.1f} ms per fit"
    )
    w, y = simulate(rng, args.big)
    t = time.perf_counter()
    fit = birdie_fit(w, y, ["A", "B"])
    print(
        f"{args.big} rows: {time.perf_counter() - t:.2f} s, {fit.iterations} iterations, "
        f"ratio {fit.rates[1, 1] / fit.rates[1, 0]:.3f}"
    )

    for n in (args.rows, args.boot_rows):
        w, y = simulate(rng, n)
        fit = birdie_fit(w, y, ["A", "B"])
        t = time.perf_counter()
        boot = birdie_bootstrap(w, y, fit, replicates=args.replicates, seed=0)
        ci = percentile_interval(boot.rates[:, 1] / boot.rates[:, 0])
        print(
            f"bootstrap, {n} rows, B = {args.replicates}: {time.perf_counter() - t:.2f} s, "
            f"ratio interval {ci}, unconverged {boot.unconverged}"
        )
    truth = RATES[1] / RATES[0]
    covered = 0
    for s in range(args.coverage):
        w, y = simulate(rng, args.rows)
        fit = birdie_fit(w, y, ["A", "B"])
        boot = birdie_bootstrap(w, y, fit, replicates=args.replicates, seed=s)
        ci = percentile_interval(boot.rates[:, 1] / boot.rates[:, 0])
        covered += ci is not None and ci[0] <= truth <= ci[1]
    print(f"ratio interval covers {truth:.3f} in {covered} of {args.coverage} audits")


if __name__ == "__main__":
    main()
