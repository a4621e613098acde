"""Letters per second, end to end, against a named baseline measured in the same run.

Trains the demo credit model, stores an audit with its decisions (``--copies K`` stacks K
copies of the 1,000 applicants: about 266 adverse decisions per copy), then times
``issue_letters`` for every adverse decision: model check, attributions, review of
unstable reasons, counterfactuals, content checks, rendering one PDF per letter, storage.

Named baseline: **the letters code of git revision ``--baseline-ref``** (default
``e8a5c0f``, main before this work: 40 letters per WeasyPrint document split with
``document.copy``, a fresh font set-up per batch, DejaVu system fonts, flex letterhead),
extracted with ``git archive``. Each side stores the same audit (same data, spec and
model) with its own code in its own database — a newer store schema cannot be opened by
older code — and issues letters from it, each in a fresh interpreter, alternately,
``--repeats`` times; the best time of each counts.
Both use ``--workers`` processes. Besides wall-clock letters/s the bench prints CPU time
per letter (this process and its render workers) and the rate two fully used cores would
give, a figure that depends less on other jobs sharing the machine. ``--stages`` adds a
one-process run of the current code with per-stage timers (where the time goes).

    taskset -c 0,1 .venv/bin/python bench/bench_letters.py [--copies 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import collections
import functools
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _child(url: str, audit_id: str, workers: int, stages: bool) -> None:
    """Time one ``issue_letters`` run in this interpreter; print a JSON line."""
    from auditor.letters import service
    from auditor.store import open_store

    timers: collections.Counter[str] = collections.Counter()
    if stages:
        _instrument(service, timers)
    with open_store(url) as store:
        t0, c0 = time.perf_counter(), _cpu()
        letters = service.issue_letters(store, audit_id, decisions="adverse", workers=workers)
        total, cpu = time.perf_counter() - t0, _cpu() - c0
    pdfs = sum(lt.pdf is not None for lt in letters)
    held = dict(collections.Counter(str(lt.record.status) for lt in letters))
    # every 10th letter's text and PDF bytes, by decision id: the two sides must agree
    sample = sorted(letters, key=lambda lt: str(lt.record.decision_id))[::10]
    html = hashlib.sha256("".join(lt.html for lt in sample).encode()).hexdigest()[:16]
    pdf = hashlib.sha256(b"".join(lt.pdf or b"" for lt in sample)).hexdigest()[:16]
    print(
        json.dumps(
            {"n": len(letters), "pdfs": pdfs, "held": held, "s": total, "cpu": cpu,
             "stages": timers, "html": html, "pdf": pdf}
        )
    )  # fmt: skip


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the render workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _instrument(service: Any, timers: collections.Counter[str]) -> None:
    """Wrap the stages of the letters service with timers (one-process run)."""

    def timed(owner: Any, name: str, label: str) -> None:
        fn = getattr(owner, name, None)
        if fn is None:  # a stage this revision does not have (or has moved)
            return

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                timers[label] += time.perf_counter() - t

        setattr(owner, name, wrapper)

    from auditor.letters import pdf

    timed(service, "load_result", "load audit")
    timed(service, "load_decisions", "load audit")
    timed(service, "_model", "model check + load")
    timed(service, "baseline_attributions", "attributions (letters)")
    timed(service, "_review", "review (8 perturbed copies)")
    timed(service.CounterfactualSearch, "search", "counterfactuals")
    timed(service, "check_letter", "content checks")
    timed(service, "content_packs", "content checks")
    timed(service, "letter_context", "templates (Jinja2)")
    timed(service, "render_body", "templates (Jinja2)")
    timed(service, "wrap", "templates (Jinja2)")
    timed(pdf.LetterRenderer, "render", "PDF (WeasyPrint)")
    timed(service, "_store", "storage")
    # the review calls baseline_attributions too: count it once, under the review
    orig = service._review

    def review(*args: Any, **kwargs: Any) -> Any:
        before = timers["attributions (letters)"]
        out = orig(*args, **kwargs)
        timers["attributions (letters)"] = before
        return out

    service._review = review


def _run(tree: Path, url: str, audit_id: str, workers: int, stages: bool = False) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", url, audit_id, str(workers)]
    if stages:
        cmd.append("--stages")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"letters run failed ({tree}):\n{proc.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return data


def _baseline_tree(ref: str, folder: Path) -> Path | None:
    target = folder / "baseline"
    target.mkdir()
    try:
        archive = subprocess.run(
            [
                "git",
                "-C",
                str(ROOT),
                "archive",
                ref,
                "auditor",
                "templates",
                "policies",
                "sample_data",
            ],
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"baseline {ref!r} not available ({exc}); measuring the current code only")
        return None
    return target


def _prepare(folder: Path, copies: int) -> tuple[str, str]:
    if copies < 0:  # --data adult: -copies applicants of the Adult-like credit model
        return _prepare_adult(folder, -copies)
    import pandas as pd
    import yaml

    from auditor.demo import prepare_credit
    from auditor.service import perform_audit

    case = prepare_credit(folder)
    frame = pd.read_csv(folder / "german_credit.csv")
    stacked = [frame.assign(applicant_id=frame.applicant_id + f"-{k}") for k in range(copies)]
    pd.concat(stacked).to_csv(folder / "german_credit.csv", index=False)
    spec = yaml.safe_load(case.spec_path.read_text())
    spec["explain"] = {"method": "none"}  # the audit's own explanation stage is not timed
    case.spec_path.write_text(yaml.safe_dump(spec))
    url = f"sqlite:///{folder / 'bench.db'}"
    return url, perform_audit(case.spec_path, database_url=url).result.audit_id


def _prepare_adult(folder: Path, rows: int) -> tuple[str, str]:
    """The Adult-like credit model (``tests/adult_like.py``; 3,000 applicants give 2,004
    adverse decisions), its audit stored with the code on ``PYTHONPATH``: real data shape
    where the review re-explains every adverse decision on perturbed copies."""
    import yaml

    from auditor.service import perform_audit

    sys.path.insert(0, str(ROOT / "tests"))  # the data maker only, not the code measured
    from adult_like import prepare

    spec_path = prepare(folder, n=rows)
    spec = yaml.safe_load(spec_path.read_text())
    spec["explain"] = {"method": "none"}  # the audit's own explanation stage is not timed
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    url = f"sqlite:///{folder / 'bench.db'}"
    return url, perform_audit(spec_path, database_url=url).result.audit_id


def _prepare_in(tree: Path, folder: Path, copies: int) -> tuple[str, str]:
    """:func:`_prepare` run with the code of ``tree`` (a child interpreter)."""
    folder.mkdir()
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--prepare", str(folder), str(copies)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"audit for the letters failed ({tree}):\n{proc.stderr[-3000:]}")
    url, audit_id = json.loads(proc.stdout.strip().splitlines()[-1])
    return str(url), str(audit_id)


def main() -> None:
    """Run the benchmark and print letters per second and the ratio to the baseline."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=1, help="stack the data this many times")
    ap.add_argument(
        "--data",
        choices=("demo", "adult"),
        default="demo",
        help="demo credit (German credit) or the Adult-like credit model of tests/adult_like.py",
    )
    ap.add_argument("--adult-rows", type=int, default=3000, help="applicants of --data adult")
    ap.add_argument("--workers", type=int, default=2, help="render processes, both sides")
    ap.add_argument("--repeats", type=int, default=2, help="runs per side (best counts)")
    ap.add_argument("--baseline-ref", default="e8a5c0f", help="git revision ('' for none)")
    ap.add_argument("--stages", action="store_true", help="add a timed one-process run")
    ap.add_argument("--child", nargs=3, metavar=("URL", "AUDIT", "WORKERS"), help="internal")
    ap.add_argument("--prepare", nargs=2, metavar=("FOLDER", "COPIES"), help="internal")
    args = ap.parse_args()
    if args.prepare:
        print(json.dumps(_prepare(Path(args.prepare[0]), int(args.prepare[1]))))
        return
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]), args.stages)
        return
    if args.data == "adult":
        args.copies = -args.adult_rows  # passed to _prepare through the child's argv
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url, audit_id = _prepare_in(ROOT, folder / "ours", args.copies)
        base_tree = _baseline_tree(args.baseline_ref, folder) if args.baseline_ref else None
        if base_tree is not None:
            base_url, base_id = _prepare_in(base_tree, folder / "base", args.copies)
        ours: list[dict[str, Any]] = []
        base: list[dict[str, Any]] = []
        for _ in range(args.repeats):
            if base_tree is not None:
                base.append(_run(base_tree, base_url, base_id, args.workers))
            ours.append(_run(ROOT, url, audit_id, args.workers))
        n = ours[0]["n"]
        line = (
            f"letters by status: {ours[0]['held']} of {n}; sample of every 10th letter: "
            f"HTML {ours[0]['html']}, PDF {ours[0]['pdf']}"
        )
        if base:
            same = all(b[key] == ours[0][key] for b in base for key in ("html", "pdf"))
            line += f"; baseline's: {'identical' if same else 'DIFFERENT'}"
        print(line)
        best = min(r["s"] for r in ours)
        cpu = min(r["cpu"] for r in ours)
        print(
            f"end to end, {args.workers} render process(es): {n} letters ({ours[0]['pdfs']} "
            f"PDFs) in {best:.1f} s = {n / best:.1f} letters/s; {1000 * cpu / n:.0f} CPU-ms "
            f"per letter = {2 * n / cpu:.1f} letters/s if 2 cores were all ours"
        )
        if base:
            was = min(r["s"] for r in base) * n / base[0]["n"]  # per letter, as ours
            was_cpu = min(r["cpu"] for r in base) * n / base[0]["n"]
            print(
                f"baseline {args.baseline_ref}: {was:.1f} s = {n / was:.1f} letters/s; "
                f"{1000 * was_cpu / n:.0f} CPU-ms per letter = {2 * n / was_cpu:.1f} letters/s "
                f"if 2 cores were all its; ratio {was / best:.2f}x wall, {was_cpu / cpu:.2f}x CPU "
                "(baseline / ours)"
            )
        if args.stages:
            one = _run(ROOT, url, audit_id, 1, stages=True)
            print(f"one process, per stage ({n / one['s']:.1f} letters/s wall):")
            for label, sec in sorted(one["stages"].items(), key=lambda kv: -kv[1]):
                print(f"  {label:28s} {sec:6.2f} s  {1000 * sec / n:6.1f} ms/letter")
            other = one["s"] - sum(one["stages"].values())
            print(f"  {'other':28s} {other:6.2f} s  {1000 * other / n:6.1f} ms/letter")


if __name__ == "__main__":
    main()
