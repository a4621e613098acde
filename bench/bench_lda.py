"""Time of the hiring demo's search for less discriminatory alternatives (issue 22).

Writes the hiring demo (a short MLP training: only its spec and data are used), runs
``search_alternatives`` on it and prints the whole search's time, the time per candidate
and, as the named baseline, one training of the refit model (the baseline candidate).
Target: the whole search under 2 minutes on 2 cores.

    .venv/bin/python bench/bench_lda.py [--budget 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from auditor.demo import prepare_hiring
from auditor.lda import SearchOptions, search_alternatives


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        case = prepare_hiring(Path(tmp), epochs=1)
        t0 = time.perf_counter()
        found = search_alternatives(
            case.spec_path, options=SearchOptions(budget=args.budget), out_dir=Path(tmp) / "lda"
        )
        wall = time.perf_counter() - t0
    record = found.record
    timings = record["timings"]
    tried = len(record["candidates"]) - 1
    print(f"search wall time        {wall:8.2f} s (target < 120 s)")
    print(f"candidates tried        {tried:8d} ({record['stopped']})")
    print(
        f"per candidate           {timings['per_candidate_s']:8.3f} s (fit + search-split figures)"
    )
    print(
        f"one baseline training   {timings['baseline_fit_s']:8.3f} s (fit + figures: baseline)"
    )
    print(f"ratio                   {timings['per_candidate_s'] / timings['baseline_fit_s']:8.2f}x")
    print(f"recommended             {found.recommended}")


if __name__ == "__main__":
    main()
