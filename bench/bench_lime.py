"""LIME: auditor's vectorised surrogate against the ``lime`` package, same rows, one run.

Both explain the demo models' output (log-odds / logit) with 1000 samples per row and
LIME's default kernel width; the ``lime`` package runs with its defaults (quartile
discretisation, ``mode="regression"``). Printed per model: seconds per explained row
(ratio = lime time / auditor time; above 1 means auditor is faster), the median
completeness gap |surrogate prediction at the row − model output|, and the deletion area
of each method's feature ranking (lower = the ranking put influential features first).

The ``lime`` package (0.2.0.1, last released 2020) is not a dependency; install it
anywhere on the path to run this, e.g. ``pip install --no-deps --target /tmp/l lime``
then ``PYTHONPATH=/tmp/l .venv/bin/python bench/bench_lime.py [--rows N]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def _case(which: str, folder: Path) -> tuple[object, np.ndarray]:
    from auditor.data import load_decisions
    from auditor.demo import prepare_credit, prepare_hiring
    from auditor.models import load_model
    from auditor.spec import load_spec

    case = prepare_credit(folder) if which == "credit" else prepare_hiring(folder, epochs=12)
    spec = load_spec(case.spec_path)
    model = load_model(spec)
    assert model is not None
    return model, model.encode(load_decisions(spec).features)


def bench(which: str, rows: int, folder: Path) -> None:
    import lime.lime_tabular

    from auditor.explain.lime_tabular import LimeTabularExplainer
    from auditor.explain.quality import attribution_order, deletion_insertion

    model, x = _case(which, folder)
    rng = np.random.default_rng(0)
    xs = x[rng.choice(len(x), rows, replace=False)]
    background = x[rng.choice(len(x), 100, replace=False)]
    baseline = background.mean(axis=0)
    out = model.output(xs)  # type: ignore[attr-defined]
    delta = out - model.output(baseline[None, :])[0]  # type: ignore[attr-defined]

    t = time.perf_counter()
    ours, intercept, _ = LimeTabularExplainer().explain(model, xs, background=background, steps=0)  # type: ignore[arg-type]
    t_ours = time.perf_counter() - t
    gap_ours = np.abs(ours.sum(axis=1) + intercept - out)

    explainer = lime.lime_tabular.LimeTabularExplainer(
        x[:2000],
        mode="regression",
        random_state=0,
        feature_names=[str(i) for i in range(x.shape[1])],
    )
    theirs = np.zeros_like(xs)
    gap_theirs = np.zeros(rows)
    t = time.perf_counter()
    for i, row in enumerate(xs):
        exp = explainer.explain_instance(
            row,
            model.output,
            num_features=x.shape[1],
            num_samples=1000,  # type: ignore[attr-defined]
        )
        for j, w in exp.as_map()[1]:  # regression: [1] is the output, [0] its negation
            theirs[i, j] = w
        gap_theirs[i] = abs(float(np.ravel(exp.local_pred)[0]) - out[i])
    t_lime = time.perf_counter() - t

    def area(v: np.ndarray) -> float:
        order = attribution_order(v, delta, signed=True)
        return deletion_insertion(model, xs, order, baseline).deletion_auc  # type: ignore[arg-type]

    print(
        f"{which}: {rows} rows, p={x.shape[1]} | lime package {t_lime / rows * 1e3:.1f} ms/row, "
        f"auditor {t_ours / rows * 1e3:.1f} ms/row, ratio {t_lime / t_ours:.1f}x | median "
        f"completeness gap lime {np.median(gap_theirs):.3f}, auditor {np.median(gap_ours):.3f} "
        f"| deletion area lime {area(theirs):.3f}, auditor {area(ours):.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50)
    args = parser.parse_args()
    try:
        import lime  # noqa: F401
    except ImportError:
        print("the 'lime' package is not installed; see this script's docstring")
        return
    with tempfile.TemporaryDirectory() as tmp:
        for which in ("credit", "hiring"):
            bench(which, args.rows, Path(tmp))


if __name__ == "__main__":
    main()
