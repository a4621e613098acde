"""Attributions of each decision against a baseline set of applicants (interventional).

Everything goes through :func:`baseline_attributions`, the one place to swap in a faster
interventional TreeSHAP engine later. Methods, in order of preference:

- LightGBM without categorical splits: ``shap.TreeExplainer(booster, data=baseline,
  feature_perturbation="interventional")``: exact interventional SHAP, log-odds.
- LightGBM with categorical splits: shap 0.51's tree converter mis-reads LightGBM's
  categorical splits (its values then fail the additivity check), so the model-agnostic
  ``shap.PermutationExplainer`` over the same baseline rows is used instead: still
  interventional and exactly additive, with a seeded, sampled set of permutations.
- PyTorch: integrated gradients (:mod:`auditor.explain.integrated_gradients`) from the
  baseline set's mean.

The method and its parameters are recorded on every letter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auditor.errors import ExplainError
from auditor.models.base import ModelAdapter


@dataclass(frozen=True)
class BaselineAttributions:
    """Per-row attributions (toward the favourable outcome) against one baseline set."""

    values: np.ndarray
    base_values: np.ndarray
    method: str
    output_space: str
    additivity_error: float
    params: dict[str, Any] = field(default_factory=dict)


def baseline_attributions(
    model: ModelAdapter,
    x: np.ndarray,
    baseline: np.ndarray,
    *,
    permutations: int = 10,
    steps: int = 128,
    seed: int = 0,
) -> BaselineAttributions:
    """Attribute each row's model output to the features, against the ``baseline`` rows."""
    if len(baseline) == 0:
        raise ExplainError("The attribution baseline is empty; widen letters.baseline.")
    if model.kind == "lightgbm":
        booster = model.booster  # type: ignore[attr-defined]
        if not _has_categorical_splits(booster):
            return _tree_interventional(model, booster, x, baseline)
        return _permutation(model, x, baseline, permutations=permutations, seed=seed)
    if model.kind == "torch":
        return _integrated_gradients(model, x, baseline, steps=steps)
    return _permutation(model, x, baseline, permutations=permutations, seed=seed)


def _has_categorical_splits(booster: Any) -> bool:
    dump = booster.dump_model(num_iteration=-1)

    def walk(node: dict[str, Any]) -> bool:
        if "split_index" not in node:
            return False
        if node.get("decision_type") == "==":
            return True
        return walk(node["left_child"]) or walk(node["right_child"])

    return any(walk(t["tree_structure"]) for t in dump.get("tree_info", []))


def _error(model: ModelAdapter, x: np.ndarray, values: np.ndarray, base: np.ndarray) -> float:
    out = model.output(x)
    return float(np.max(np.abs(values.sum(axis=1) + base - out))) if len(x) else 0.0


def _tree_interventional(
    model: ModelAdapter, booster: Any, x: np.ndarray, baseline: np.ndarray
) -> BaselineAttributions:
    import shap

    explainer = shap.TreeExplainer(
        booster, data=baseline, feature_perturbation="interventional", model_output="raw"
    )
    values = np.asarray(explainer.shap_values(x, check_additivity=False), dtype=np.float64)
    base = np.full(len(x), float(np.ravel(explainer.expected_value)[0]))
    return BaselineAttributions(
        values,
        base,
        "interventional_tree_shap",
        model.output_space,
        _error(model, x, values, base),
        {"engine": "shap.TreeExplainer", "baseline_rows": len(baseline)},
    )


def _permutation(
    model: ModelAdapter, x: np.ndarray, baseline: np.ndarray, *, permutations: int, seed: int
) -> BaselineAttributions:
    import shap

    masker = shap.maskers.Independent(baseline, max_samples=len(baseline))
    explainer = shap.PermutationExplainer(model.output, masker, seed=seed)
    p = x.shape[1]
    values = np.empty_like(x, dtype=np.float64)
    base = np.empty(len(x), dtype=np.float64)
    if len(x):
        res = explainer(x, max_evals=permutations * 2 * p + 1, silent=True)
        values[:] = np.asarray(res.values, dtype=np.float64)
        base[:] = np.asarray(res.base_values, dtype=np.float64).reshape(len(x))
    return BaselineAttributions(
        values,
        base,
        "interventional_permutation_shap",
        model.output_space,
        _error(model, x, values, base),
        {
            "engine": "shap.PermutationExplainer",
            "permutations": permutations,
            "seed": seed,
            "baseline_rows": len(baseline),
        },
    )


def _integrated_gradients(
    model: ModelAdapter, x: np.ndarray, baseline: np.ndarray, *, steps: int
) -> BaselineAttributions:
    from auditor.explain.integrated_gradients import IntegratedGradientsExplainer

    values, base, params = IntegratedGradientsExplainer().explain(
        model, x, background=baseline, steps=steps
    )
    params = {k: v for k, v in params.items() if k != "baseline_values"}
    params["baseline_rows"] = len(baseline)
    params["baseline"] = "mean of the baseline rows"
    return BaselineAttributions(
        values,
        base,
        "integrated_gradients",
        model.output_space,
        _error(model, x, values, base),
        params,
    )
