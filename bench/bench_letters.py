"""Letters per second: batched WeasyPrint layout (ours) against one render per letter.

Trains the demo credit model, stores an audit with its decisions, then issues letters
for every adverse decision (about 300 of 1,000; ``--copies K`` stacks K copies of the
data for thousands). The whole path is timed: attributions, counterfactuals, content
checks, rendering, storage. The rendering comparison times the naive baseline (one
WeasyPrint document per letter) against ours (one layout pass per batch of letters,
split into one PDF per letter) on the same letter bodies, in the same run.

    taskset -c 0,1 .venv/bin/python bench/bench_letters.py [--copies 3] [--naive 60]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from auditor.demo import prepare_credit
from auditor.letters import render
from auditor.letters.service import BATCH, issue_letters
from auditor.service import perform_audit
from auditor.store import open_store


def main() -> None:
    """Run the benchmark and print letters per second and the ratio."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=3, help="stack the data this many times")
    ap.add_argument("--naive", type=int, default=60, help="letters for the naive baseline")
    ap.add_argument("--workers", type=int, default=2, help="render processes (second run)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        case = prepare_credit(out)
        frame = pd.read_csv(out / "german_credit.csv")
        copies = [
            frame.assign(applicant_id=frame.applicant_id + f"-{k}") for k in range(args.copies)
        ]
        pd.concat(copies).to_csv(out / "german_credit.csv", index=False)
        spec = yaml.safe_load(case.spec_path.read_text())
        spec["explain"] = {"method": "none"}
        case.spec_path.write_text(yaml.safe_dump(spec))
        url = f"sqlite:///{out / 'bench.db'}"
        audit_id = perform_audit(case.spec_path, database_url=url).result.audit_id

        bodies = []
        original = render.render_pdfs

        def spy(b, a, t, author):  # type: ignore[no-untyped-def]
            bodies.extend(zip(b, a, t, strict=True))
            return original(b, a, t, author)

        render.render_pdfs = spy  # type: ignore[assignment]
        with open_store(url) as store:
            t0 = time.perf_counter()
            letters = issue_letters(store, audit_id, decisions="adverse")
            total = time.perf_counter() - t0
            n = len(letters)
            print(f"end to end, 1 process: {n} letters in {total:.1f} s = {n / total:.1f}/s")
            render.render_pdfs = original  # type: ignore[assignment]
            t0 = time.perf_counter()
            issue_letters(store, audit_id, decisions="adverse", workers=args.workers)
            pooled = time.perf_counter() - t0
            print(
                f"end to end, {args.workers} render processes: {n / pooled:.1f}/s "
                f"(ratio {total / pooled:.2f}x)"
            )

        sample = bodies[: args.naive]
        t0 = time.perf_counter()
        for body, anchor, title in sample:
            render.render_one(body, anchor, title, "bench")
        naive = time.perf_counter() - t0
        t0 = time.perf_counter()
        for start in range(0, len(sample), BATCH):
            chunk = sample[start : start + BATCH]
            original([c[0] for c in chunk], [c[1] for c in chunk], [c[2] for c in chunk], "b")
        batched = time.perf_counter() - t0
        k = len(sample)
        print(
            f"rendering {k} letters: naive (one document each) {k / naive:.1f} letters/s, "
            f"batched {k / batched:.1f} letters/s, ratio {naive / batched:.2f}x"
        )


if __name__ == "__main__":
    main()
