"""Report rendering speed: one full audit report (HTML + PDF) on one core.

The audit: 5,000 synthetic hiring decisions from a LightGBM model with 30 features, three
protected attributes (sex, race/ethnicity, age band) and two intersections (sex × race,
sex × age), with the eeoc_ugesp, nyc_ll144, illinois, gdpr and aaa packs — built once
with ``run_audit`` (not timed). Timed: ``build_report(result)`` (HTML with every chart,
then WeasyPrint), and the ``ll144`` and ``aaa`` presets.

Named baseline, measured in the same run: **the same report with matplotlib's automatic
(constrained) layout**, the way charts were laid out before this benchmark existed. The
baseline patches :func:`auditor.report.plot.fixed_margins` and
:func:`auditor.report.plot.legend_below` back to ``layout="constrained"`` with an
``"outside lower center"`` legend; everything else (tables, CSS, WeasyPrint) is the
current code, so the ratio shows what the fixed chart layout alone saves. Earlier CSS and
table changes are not in the baseline (that HTML no longer exists to render).

Each figure is the best of ``--repeat`` warm renders (the first, cold render also loads
WeasyPrint, fonts and matplotlib and is printed separately).

Run: ``taskset -c 0 .venv/bin/python bench/bench_report.py [--repeat 3]``
(``taskset`` pins the process to one core; BLAS/OpenMP threads are set to 1 here).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

N_FEATURES = 30
TARGET_S = 5.0


def build_result(rows: int, folder: Path) -> Any:
    """Run a real audit with 3 protected attributes, 2 intersections and 30 features."""
    import lightgbm as lgb
    import yaml

    from auditor.pipeline import run_audit

    rng = np.random.default_rng(0)
    features = [f"f{i:02d}" for i in range(N_FEATURES)]
    x = pd.DataFrame(rng.normal(size=(rows, N_FEATURES)), columns=features)
    sex = rng.choice(
        np.array(["female", "male", None], dtype=object), size=rows, p=[0.48, 0.49, 0.03]
    )
    race = rng.choice(
        ["Asian", "Black or African American", "Hispanic or Latino", "White", "Two or More Races"],
        size=rows,
        p=[0.1, 0.15, 0.2, 0.5, 0.05],
    )
    age = rng.choice(["under 40", "40 and over"], size=rows, p=[0.6, 0.4])
    signal = x.iloc[:, :6].sum(axis=1) + 0.4 * (sex == "male") + rng.normal(size=rows)
    y = (signal > 0.3).astype(int)
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 15, "verbose": -1, "num_threads": 1, "seed": 0},
        lgb.Dataset(x, y),
        num_boost_round=60,
    )
    booster.save_model(str(folder / "model.txt"))
    frame = x.assign(
        applicant_id=np.arange(rows), sex=sex, race_ethnicity=race, age_band=age, hired=y
    )
    frame.to_csv(folder / "data.csv", index=False)
    spec = {
        "name": "report-bench",
        "domain": "hiring",
        "model": {"path": "model.txt", "kind": "lightgbm"},
        "data": {"path": "data.csv"},
        "columns": {"id": "applicant_id", "label": "hired", "features": features},
        "favorable": 1,
        "threshold": 0.5,
        "protected": ["sex", "race_ethnicity", "age_band"],
        "intersections": [["sex", "race_ethnicity"], ["sex", "age_band"]],
        "reference": "highest",
        "policies": ["eeoc_ugesp", "nyc_ll144", "illinois", "gdpr", "aaa"],
        "min_group_size": 30,
        "seed": 0,
        "evidence": {"data_source": "Synthetic benchmark data (bench/bench_report.py)."},
    }
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return run_audit(path)


@contextmanager
def constrained_layout() -> Iterator[None]:
    """The baseline: matplotlib's automatic (constrained) layout for every chart."""
    from auditor.report import charts, plot

    names = ("fixed_margins", "legend_below")
    saved = {(m, n): getattr(m, n) for m in (plot, charts) for n in names}

    def auto_margins(fig: Any, labels: Any, *, bottom_lines: int, wspace_in: float = 0.0) -> None:
        fig.set_layout_engine("constrained")

    def outside_legend(fig: Any, handles: list[Any], ncols: int) -> int:
        fig.legend(handles=handles, loc="outside lower center", ncols=ncols, frameon=False)
        return -(-len(handles) // ncols)

    for module in (plot, charts):
        setattr(module, "fixed_margins", auto_margins)  # noqa: B010
        setattr(module, "legend_below", outside_legend)  # noqa: B010
    try:
        yield
    finally:
        for (module, name), fn in saved.items():
            setattr(module, name, fn)


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from auditor.report import build_report, render_html

    with tempfile.TemporaryDirectory() as tmp:
        result = build_result(args.rows, Path(tmp))
    attrs = sorted({m.attribute for m in result.metrics})
    print(
        f"audit: {result.dataset.rows:,} rows, {len(result.dataset.features)} features, "
        f"groupings {attrs}, {len(result.metrics)} metric records, "
        f"{len(result.findings)} findings"
    )
    t = time.perf_counter()
    artifact = build_report(result)
    print(f"cold render (first, loads WeasyPrint and fonts): {time.perf_counter() - t:.2f}s")
    html_s = _best(lambda: render_html(result), args.repeat)
    full_s = _best(lambda: build_report(result), args.repeat)
    with constrained_layout():
        base_html_s = _best(lambda: render_html(result), args.repeat)
        base_full_s = _best(lambda: build_report(result), args.repeat)
    print(f"full report: {len(artifact.html):,} bytes of HTML")
    print(f"  HTML (context + charts + Jinja): {html_s:.2f}s   baseline {base_html_s:.2f}s")
    print(
        f"  HTML + PDF:                      {full_s:.2f}s   baseline {base_full_s:.2f}s"
        f"   ratio {base_full_s / full_s:.2f}x (baseline time / current time)"
    )
    verdict = "meets" if full_s < TARGET_S else "MISSES"
    print(f"  target < {TARGET_S:.0f}s per report on one core: {verdict}")
    for preset in ("ll144", "aaa"):
        secs = _best(lambda p=preset: build_report(result, preset=p), args.repeat)  # type: ignore[misc]
        print(f"preset {preset}: {secs:.2f}s per report (HTML + PDF)")


if __name__ == "__main__":
    main()
