"""Interventional attributions against a baseline set of rows: the registry's
``interventional`` mode (what the per-decision letters explain with).

Every method compares each row with the rows of one baseline set (for letters: the
applicants the letter compares the decision with; for an audit: its background sample):

- LightGBM: exact interventional TreeSHAP against the baseline rows
  (:func:`auditor.explain.interventional_tree_shap`, the project's own engine; it reads
  LightGBM's categorical splits correctly, which shap 0.51's tree converter does not),
  log-odds.
- PyTorch: integrated gradients (:mod:`auditor.explain.integrated_gradients`) from the
  baseline set's mean.
- Other models: interventional Shapley values estimated by permutation sampling over the
  same baseline rows (:func:`permutation_shapley`), seeded and exactly additive.

:func:`interventional_attributions` returns an :class:`~auditor.explain.base.AttributionSet`
whose ``method`` names the concrete method used and whose ``params`` record its settings.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from auditor.errors import ExplainError
from auditor.explain.base import AttributionSet, register
from auditor.models.base import ModelAdapter


def interventional_attributions(
    model: ModelAdapter,
    x: np.ndarray,
    baseline: np.ndarray,
    *,
    permutations: int = 10,
    steps: int = 128,
    seed: int = 0,
) -> AttributionSet:
    """Attribute each row's model output to the features, against the ``baseline`` rows."""
    if len(baseline) == 0:
        raise ExplainError("The attribution baseline is empty; widen letters.baseline.")
    if model.kind == "lightgbm":
        return _tree_interventional(model, x, baseline)
    if model.kind == "torch":
        return _integrated_gradients(model, x, baseline, steps=steps)
    return permutation_shapley(model, x, baseline, permutations=permutations, seed=seed)


@register("interventional")
class InterventionalExplainer:
    """The registry's interventional mode: :func:`interventional_attributions` with the
    background sample as the baseline set (the method it chose is in ``params``)."""

    name = "interventional"
    # exact for trees and by construction for sampled Shapley values (1e-15); a network
    # goes through integrated gradients, whose path error is ~1e-2 at 64 steps: the stated
    # tolerance is IG's, and its rows are refined with more steps as IG's are
    default_tolerance = 1e-2
    uses_steps = True
    additive = True
    signed = True

    def __init__(self, permutations: int = 10, seed: int = 0) -> None:
        self.permutations = permutations
        self.seed = seed

    def supports(self, model: ModelAdapter) -> bool:
        """Any model: tree models and networks by their exact methods, others by sampling."""
        return True

    def explain(
        self, model: ModelAdapter, x: np.ndarray, *, background: np.ndarray, steps: int
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Attributions of ``x`` against the ``background`` rows."""
        attr = interventional_attributions(
            model, x, background, permutations=self.permutations, steps=steps, seed=self.seed
        )
        return attr.values, attr.base_values, {**attr.params, "method": attr.method}


def _attribution_set(
    model: ModelAdapter,
    x: np.ndarray,
    values: np.ndarray,
    base: np.ndarray,
    method: str,
    params: dict[str, Any],
    engine: str = "",
    fallback_reason: str | None = None,
) -> AttributionSet:
    return AttributionSet(
        method=method,
        values=values,
        base_values=base,
        feature_names=tuple(model.feature_names),
        output_space=model.output_space,
        additivity_error=_error(model, x, values, base),
        row_index=np.arange(len(x)),
        params=params,
        engine=engine,
        fallback_reason=fallback_reason,
    )


def _error(model: ModelAdapter, x: np.ndarray, values: np.ndarray, base: np.ndarray) -> float:
    out = model.output(x)
    return float(np.max(np.abs(values.sum(axis=1) + base - out))) if len(x) else 0.0


def _tree_interventional(
    model: ModelAdapter, x: np.ndarray, baseline: np.ndarray
) -> AttributionSet:
    from auditor.explain import interventional_tree_shap

    attr = interventional_tree_shap(model, x, baseline)
    values = np.asarray(attr.values, dtype=np.float64)
    base = np.broadcast_to(np.asarray(attr.base_values, dtype=np.float64), (len(x),)).copy()
    params: dict[str, Any] = {"engine": attr.engine, "baseline_rows": len(baseline)}
    if attr.fallback_reason:
        params["fallback_reason"] = attr.fallback_reason
    return _attribution_set(model, x, values, base, "interventional_tree_shap", params)


def permutation_orders(p: int, permutations: int, seed: int) -> np.ndarray:
    """Seeded feature orders: ``permutations // 2`` random orders and their reversals
    (antithetic pairs), plus one more random order when ``permutations`` is odd."""
    rng = np.random.default_rng(seed)
    half = [rng.permutation(p) for _ in range(max(1, permutations // 2))]
    orders = [o for h in half for o in (h, h[::-1])]
    if permutations % 2 and permutations > 1:
        orders.append(rng.permutation(p))
    return np.asarray(orders[: max(permutations, 1)])


def permutation_shapley(
    model: ModelAdapter, x: np.ndarray, baseline: np.ndarray, *, permutations: int, seed: int
) -> AttributionSet:
    """Interventional Shapley values by permutation sampling, vectorised.

    For each order and baseline row, features switch one by one from the baseline row's
    value to the applicant's; each switch's change in output is that feature's marginal
    contribution. The contributions of one (order, baseline row) telescope to
    f(x) - f(baseline row), so the average is exactly additive:
    sum(values) = f(x) - mean f(baseline).
    """
    n, p = x.shape
    orders = permutation_orders(p, permutations, seed)
    m = len(orders)
    # steps[o, k, j]: feature j already switched to x after k switches in order o
    rank = np.argsort(orders, axis=1)  # rank[o, j] = position of feature j in order o
    steps = rank[:, None, :] < np.arange(p + 1)[None, :, None]  # (m, p+1, p)
    values = np.zeros((n, p), dtype=np.float64)
    chunk = max(1, 200_000 // (m * len(baseline) * (p + 1)))
    for start in range(0, n, chunk):
        xs = x[start : start + chunk]
        hybrid = np.where(
            steps[None, :, None, :, :],
            xs[:, None, None, None, :],
            baseline[None, None, :, None, :],
        )  # (c, m, B, p+1, p)
        out = model.output(hybrid.reshape(-1, p)).reshape(len(xs), m, len(baseline), p + 1)
        delta = np.diff(out, axis=3)  # (c, m, B, p): k-th switch in order o
        per_order = delta.mean(axis=2)  # (c, m, p) by switch position
        for o, order in enumerate(orders):
            values[start : start + len(xs), order] += per_order[:, o, :]
    values /= m
    base_out = float(np.mean(model.output(baseline)))
    base = np.full(n, base_out)
    return _attribution_set(
        model,
        x,
        values,
        base,
        "interventional_permutation_shap",
        {
            "engine": "auditor.letters (vectorised permutation sampling, antithetic orders)",
            "permutations": m,
            "seed": seed,
            "baseline_rows": len(baseline),
        },
    )


def _integrated_gradients(
    model: ModelAdapter, x: np.ndarray, baseline: np.ndarray, *, steps: int
) -> AttributionSet:
    from auditor.explain.integrated_gradients import IntegratedGradientsExplainer

    values, base, params = IntegratedGradientsExplainer().explain(
        model, x, background=baseline, steps=steps
    )
    params = {k: v for k, v in params.items() if k != "baseline_values"}
    params["baseline_rows"] = len(baseline)
    params["baseline"] = "mean of the baseline rows"
    return _attribution_set(model, x, values, base, "integrated_gradients", params)
