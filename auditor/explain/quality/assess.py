"""The explanation-quality stage: every method on one seeded sample, measured the same way.

Cost is bounded by ``rows`` (default 200): each method explains the sample once, plus
``draws`` perturbed copies (stability, max-sensitivity), plus once with a second background;
fidelity curves take 2·(p+1) model calls per row and infidelity ``draws`` more per row.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from auditor.explain.base import get_explainer
from auditor.explain.lime_tabular import LimeTabularExplainer
from auditor.explain.quality.agreement import agreement
from auditor.explain.quality.fidelity import (
    attribution_order,
    completeness_errors,
    deletion_insertion,
    infidelity,
)
from auditor.explain.quality.stability import FeatureNoise, perturbation_run, sets_differ, top_k
from auditor.models.base import ModelAdapter

# methods compared by default, per model kind (permutation SHAP is left out: too slow to
# repeat under perturbation; tree_shap_interactions has the same values as tree_shap)
DEFAULT_METHODS = {
    "lightgbm": ("tree_shap", "lime"),
    "torch": ("integrated_gradients", "deeplift", "lrp", "gradient_x_input", "saliency", "lime"),
}
FALLBACK_METHODS = ("lime",)
# measured only when the spec lists them: thousands of model calls per explained row
SLOW_METHODS = frozenset({"permutation_shap"})


@dataclass(frozen=True)
class QualitySettings:
    """What the stage does; every field is recorded in the result."""

    rows: int = 200
    methods: tuple[str, ...] = ()
    top_k: int = 3
    draws: int = 5
    stability_rows: int = 100  # rows re-explained under perturbation / another background
    noise: float = 0.05
    background: int = 100
    steps: int = 64
    seed: int = 0
    lime_samples: int = 1000


@dataclass(frozen=True)
class MethodQuality:
    """Fidelity and stability figures of one method on the sample."""

    method: str
    additive: bool
    completeness_max: float
    completeness_median: float
    completeness_relative: float  # median error / median |output − baseline output|
    deletion_auc: float
    insertion_auc: float
    infidelity: float
    max_sensitivity: float
    reasons_changed_perturbation: float  # share of rows whose reasons changed in any draw
    reasons_changed_rate: float  # share of (row, draw) pairs with changed reasons
    reasons_changed_background: float
    curve_rows: int
    deletion_curve: tuple[float, ...]
    insertion_curve: tuple[float, ...]
    params: dict[str, Any] = field(default_factory=dict)


def default_methods(model: ModelAdapter) -> tuple[str, ...]:
    """The methods compared when the spec does not name them."""
    return DEFAULT_METHODS.get(model.kind, FALLBACK_METHODS)


@dataclass(frozen=True)
class QualitySample:
    """The rows the stage reads, drawn from the number of audited rows alone.

    Every engine (in memory, streamed, Spark) draws the same positions for the same row
    count and seed, reads the encoded rows at :attr:`positions` however it can, and hands
    them to :func:`assess_sample`: the measured block is then the same wherever it ran.
    """

    n_rows: int
    rows: np.ndarray
    """Sorted positions of the measured decisions."""
    background_a: np.ndarray
    background_b: np.ndarray
    positions: np.ndarray
    """Sorted union of the three: the only rows the stage reads."""
    state: dict[str, Any] = field(repr=False)
    """The generator's state after the draws (the stage goes on drawing from it)."""


def draw_sample(n_rows: int, settings: QualitySettings) -> QualitySample:
    """The seeded sample of ``n_rows`` audited rows that :func:`assess_sample` measures."""
    rng = np.random.default_rng(settings.seed)
    rows = np.sort(rng.choice(n_rows, size=min(settings.rows, n_rows), replace=False))
    bg_a, bg_b = _two_backgrounds(n_rows, settings.background, rng)
    positions = np.unique(np.concatenate([rows, bg_a, bg_b]))
    return QualitySample(n_rows, rows, bg_a, bg_b, positions, dict(rng.bit_generator.state))


def assess(
    model: ModelAdapter,
    x: np.ndarray,
    settings: QualitySettings,
    *,
    primary: str | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Measure every method on a seeded sample of ``x`` (every audited row, encoded)."""
    sample = draw_sample(len(x), settings)
    return assess_sample(
        model, sample, x[sample.positions], settings, primary=primary, timings=timings
    )


def assess_sample(
    model: ModelAdapter,
    sample: QualitySample,
    x_at: np.ndarray,
    settings: QualitySettings,
    *,
    primary: str | None = None,
    timings: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Measure every method on the drawn sample; a JSON-ready dict.

    ``x_at`` holds the encoded rows at ``sample.positions``, in that order. ``primary``
    (the audit's own method) is measured too, unless it is one of the slow methods the
    spec did not list; seconds per method go to ``timings`` when given.

    The perturbation noise is scaled from the sampled rows (measured decisions and both
    backgrounds), not from every audited row, so that a streamed or distributed audit
    measures exactly what an in-memory one does without another pass over the data.
    """
    if len(x_at) != len(sample.positions):
        raise ValueError(f"expected {len(sample.positions)} sampled rows, got {len(x_at)}")
    rng = np.random.default_rng()
    rng.bit_generator.state = sample.state
    n = len(sample.rows)

    def at(positions: np.ndarray) -> np.ndarray:
        return np.asarray(x_at[np.searchsorted(sample.positions, positions)])

    xs, background, background_b = at(sample.rows), at(sample.background_a), at(sample.background_b)
    baseline = np.nanmean(background, axis=0)
    noise = FeatureNoise.from_reference(x_at, settings.noise)
    methods = [
        m for m in (settings.methods or default_methods(model)) if get_explainer(m).supports(model)
    ]
    skipped: dict[str, str] = {}
    if primary and primary not in methods and get_explainer(primary).supports(model):
        if primary in SLOW_METHODS and primary not in settings.methods:
            skipped[primary] = (
                "too slow to repeat on every perturbed copy; list it under "
                "explain.quality.methods to measure it anyway"
            )
        else:
            methods.insert(0, primary)
    # decisions re-explained under perturbation: a seeded random subset of the sample
    st = np.sort(rng.choice(n, size=min(settings.stability_rows, n), replace=False))
    outputs = model.output(xs)
    base_out = float(model.output(baseline[None, :])[0])
    measured: list[MethodQuality] = []
    values_by: dict[str, np.ndarray] = {}
    for name in methods:
        t0 = time.perf_counter()
        explainer = _explainer(name, settings)

        def run(rows_x: np.ndarray, bg: np.ndarray = background, e: Any = explainer) -> Any:
            return e.explain(model, rows_x, background=bg, steps=settings.steps)

        values, base, params = run(xs)
        values_by[name] = values
        additive = bool(explainer.additive)
        errors = completeness_errors(values, base, outputs)
        scale = float(np.median(np.abs(outputs - base_out))) or 1.0
        order = attribution_order(values, outputs - base_out, signed=bool(explainer.signed))
        curves = deletion_insertion(model, xs, order, baseline)
        pert = perturbation_run(
            lambda z, run=run: run(z)[0],  # type: ignore[misc]
            xs[st],
            values[st],
            noise,
            k=settings.top_k,
            draws=settings.draws,
            seed=settings.seed + 1,
        )
        v_b = run(xs[st], background_b)[0]
        bg_changed = sets_differ(top_k(values[st], settings.top_k), top_k(v_b, settings.top_k))
        measured.append(
            MethodQuality(
                method=name,
                additive=additive,
                completeness_max=float(errors.max()),
                completeness_median=float(np.median(errors)),
                completeness_relative=float(np.median(errors)) / scale,
                deletion_auc=curves.deletion_auc,
                insertion_auc=curves.insertion_auc,
                infidelity=infidelity(model, xs, values, baseline, seed=settings.seed + 2),
                max_sensitivity=float(np.mean(pert.max_sensitivity)),
                reasons_changed_perturbation=float(np.mean(pert.changed_share > 0)),
                reasons_changed_rate=float(np.mean(pert.changed_share)),
                reasons_changed_background=float(np.mean(bg_changed)),
                curve_rows=curves.rows_used,
                deletion_curve=curves.deletion,
                insertion_curve=curves.insertion,
                params={k: v for k, v in params.items() if k != "baseline_values"},
            )
        )
        if timings is not None:  # kept apart: the block itself must be deterministic
            timings[f"explanation quality: {name}"] = round(time.perf_counter() - t0, 4)
    random_curves = deletion_insertion(
        model, xs, np.argsort(rng.random(xs.shape), axis=1), baseline
    )
    pairs = [
        asdict(agreement(a, values_by[a], b, values_by[b], k=settings.top_k))
        for i, a in enumerate(methods)
        for b in methods[i + 1 :]
    ]
    block: dict[str, Any] = _jsonable(
        {
            "computed": True,
            "primary": primary,
            "settings": {
                **asdict(settings),
                "methods": list(methods),
                "rows": n,
                "stability_rows": min(settings.stability_rows, n),
            },
            "output": model.output_space,
            "baseline": "background mean",
            "methods": [asdict(m) for m in measured],
            "random_order": {
                "deletion_auc": random_curves.deletion_auc,
                "insertion_auc": random_curves.insertion_auc,
                "deletion_curve": list(random_curves.deletion),
                "insertion_curve": list(random_curves.insertion),
            },
            "curve_fraction": list(random_curves.fraction),
            "agreement": pairs,
            "skipped": skipped,
        }
    )
    return block


def _explainer(name: str, settings: QualitySettings) -> Any:
    if name == "lime":
        return LimeTabularExplainer(samples=settings.lime_samples, seed=settings.seed)
    return get_explainer(name)


def _jsonable(obj: Any) -> Any:
    """Lists for tuples, None for non-finite floats: equal to its own JSON round trip."""
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def not_computed(reason: str) -> dict[str, Any]:
    """The block recorded when the stage did not run."""
    return {"computed": False, "reason": reason}


def _two_backgrounds(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two seeded background samples, disjoint when the data allow it."""
    perm = rng.permutation(n)
    size = min(size, n)
    first = np.sort(perm[:size])
    rest = perm[size : 2 * size]
    second = np.sort(rest) if len(rest) == size else np.sort(rng.choice(n, size, replace=False))
    return first, second


def method_names(block: dict[str, Any]) -> Sequence[str]:
    """Methods measured in a stored quality block."""
    return [m["method"] for m in block.get("methods", ())]
