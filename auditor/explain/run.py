"""Choose an explainer, sample rows and background, run it and measure additivity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from auditor.errors import ExplainError
from auditor.explain.base import AUTO_ORDER, AttributionSet, device_args, get_explainer
from auditor.models.base import ModelAdapter

PERMUTATION_DEFAULT_ROWS = 500
# Why an audit has no attributions: the same words from every engine.
NO_MODEL_REASON = (
    "no model was supplied (a decisions-only audit), so feature attributions could not be computed"
)
TURNED_OFF_REASON = "the spec turned attributions off (explain.method: none)"
MAX_STEPS = 1024


def choose_method(model: ModelAdapter, method: str | None) -> str:
    """The explicit method if it supports the model, else the first that does."""
    if method not in (None, "auto"):
        explainer = get_explainer(str(method))
        if not explainer.supports(model):
            raise ExplainError(
                f"Method '{method}' cannot explain a {model.kind} model; use one of: "
                + ", ".join(m for m in AUTO_ORDER if get_explainer(m).supports(model))
            )
        return str(method)
    for name in AUTO_ORDER:
        if get_explainer(name).supports(model):
            return name
    raise ExplainError(f"No explanation method supports a {model.kind} model.")  # unreachable


def explain_matrix(
    model: ModelAdapter,
    x: np.ndarray,
    *,
    method: str | None = None,
    max_rows: int | None = None,
    background: int = 100,
    steps: int = 64,
    seed: int = 0,
    tolerance: float | None = None,
    max_steps: int = MAX_STEPS,
    device: str = "auto",
) -> AttributionSet:
    """Attributions for (a seeded sample of) the rows of an encoded matrix ``x``.

    ``device`` (``auto``, ``cpu`` or ``cuda``) is where tree SHAP and integrated gradients
    run; the params record the device that ran them.

    For path methods (integrated gradients), rows whose completeness error exceeds
    ``tolerance`` are recomputed with twice the steps, up to ``max_steps``; the steps
    actually used are recorded in ``params``.
    """
    name = choose_method(model, method)
    explainer = get_explainer(name)
    rng = np.random.default_rng(seed)
    if max_rows is None and name == "permutation_shap":
        max_rows = PERMUTATION_DEFAULT_ROWS
    rows = np.arange(len(x))
    if max_rows is not None and max_rows < len(x):
        rows = np.sort(rng.choice(len(x), size=max_rows, replace=False))
    bg_rows = rng.choice(len(x), size=min(background, len(x)), replace=False)
    xs = x[rows]
    background_x = x[np.sort(bg_rows)]
    on = device_args(explainer, device)
    values, base, params = explainer.explain(
        model, xs, background=background_x, steps=steps, **on
    )
    out = model.output(xs)
    gaps = np.abs(values.sum(axis=1) + base - out)
    tol = explainer.default_tolerance if tolerance is None else tolerance
    used = steps
    while getattr(explainer, "uses_steps", False) and used < max_steps:
        redo = np.flatnonzero(gaps > tol)
        if not len(redo):
            break
        used = min(2 * used, max_steps)
        v, b, _ = explainer.explain(model, xs[redo], background=background_x, steps=used, **on)
        values[redo], base[redo] = v, b
        gaps[redo] = np.abs(v.sum(axis=1) + b - out[redo])
        params = {**params, "steps_max_used": used, "rows_refined": len(redo)}
    error = float(np.max(gaps, initial=0.0))
    params = {
        **params,
        "background_size": len(bg_rows),
        "seed": seed,
        "rows_explained": len(rows),
        "rows_total": len(x),
    }
    return AttributionSet(
        method=name,
        values=values,
        base_values=base,
        feature_names=tuple(model.feature_names),
        output_space=model.output_space,
        additivity_error=error,
        row_index=rows,
        params=params,
        engine=str(params.get("engine", name)),
        fallback_reason=params.get("fallback_reason"),
    )


def explain(
    model: Any,
    x: pd.DataFrame | np.ndarray,
    *,
    method: str | None = None,
    feature_names: Sequence[str] | None = None,
    max_rows: int | None = None,
    background: int = 100,
    steps: int = 64,
    seed: int = 0,
    device: str = "auto",
) -> AttributionSet:
    """Explain a model's outputs on ``x``.

    Parameters
    ----------
    model
        A LightGBM ``Booster``/``LGBMModel``, a ``torch.nn.Module`` returning one logit per
        row, a fitted scikit-learn estimator or pipeline with ``predict_proba``, or a
        function ``f(frame) -> probability``.
    x
        The inputs, as a DataFrame (column names are the feature names) or a 2-D array.
    feature_names
        Names for the columns of an array ``x``; left out, the model's own names (or
        ``x0, x1, …`` for a model trained without names).
    method
        ``"tree_shap"``, ``"integrated_gradients"`` or ``"permutation_shap"``; default:
        the exact method for the model kind, else permutation SHAP.
    device
        Where tree SHAP and integrated gradients run: ``"auto"`` (a CUDA device when one
        is present and, for tree SHAP, the work is big enough to pay for it), ``"cpu"`` or
        ``"cuda"`` (an error when there is no device). ``.params["device"]`` records the
        device that ran, ``.params["device_rule"]`` why (tree SHAP).

    Returns
    -------
    AttributionSet
        ``.values`` (n × p), ``.base_values``, ``.feature_names`` and the measured
        ``.additivity_error``.

    Examples
    --------
    >>> import lightgbm as lgb, numpy as np, pandas as pd
    >>> X = pd.DataFrame({"a": np.arange(200.0), "b": np.arange(200.0) % 7})
    >>> booster = lgb.train({"objective": "binary", "verbose": -1},
    ...                     lgb.Dataset(X, (X.a > 100).astype(int)), 5)
    >>> attr = explain(booster, X)
    >>> attr.values.shape, attr.additivity_error < 1e-9
    ((200, 2), True)
    """
    from auditor.explain.arguments import prepare

    adapter, frame = prepare(model, x, feature_names)
    return explain_matrix(
        adapter,
        adapter.encode(frame),
        method=method,
        max_rows=max_rows,
        background=background,
        steps=steps,
        seed=seed,
        device=device,
    )


def plan_device(
    model: ModelAdapter, method: str, requested: str, rows: int
) -> tuple[str, str | None]:
    """The device an audit's chunks all use, decided once from the rows it explains.

    ``auto`` is resolved here (tree SHAP by :func:`~auditor.explain.gpu_tree_shap.choose_device`
    on all the audit's rows, integrated gradients by torch's device), so every chunk of a
    streamed or Spark audit runs where the in-memory audit would, and records the same
    rule. Returns the device to pass on and the rule to record (None: the explainer's own).
    """
    explainer = get_explainer(method)
    if requested != "auto" or not getattr(explainer, "uses_device", False):
        return requested, None
    if method == "integrated_gradients":
        from auditor.explain.integrated_gradients import ig_device

        where = ig_device("auto")
        return where, f"auto: torch {'sees a' if where == 'cuda' else 'sees no'} CUDA device"
    from auditor.explain.fast_tree_shap import TreeShapEngine
    from auditor.explain.gpu_tree_shap import choose_device
    from auditor.explain.tree_shap import engine_for
    from auditor.models.base import as_tree_model

    booster = as_tree_model(model).booster
    engine = engine_for(booster, getattr(model, "digest", None), getattr(model, "text", None))
    if not isinstance(engine, TreeShapEngine):
        return "auto", None  # LightGBM's pred_contrib: the CPU, and the explainer says so
    return choose_device("auto", engine, rows)


def additivity_warning(method: str, error: float, tolerance: float) -> str | None:
    """The audit's warning when attributions miss the model output by more than allowed.

    One wording for every engine; only methods with a step count are told to raise it.
    """
    if error <= tolerance:
        return None
    stepped = getattr(get_explainer(method), "uses_steps", False)
    advice = "raise explain.steps or " if stepped else ""
    return (
        f"Attributions ({method}) reproduce the model output only to within {error:.2e}, "
        f"above the tolerance {tolerance:.0e}; {advice}treat per-decision reasons with care."
    )
