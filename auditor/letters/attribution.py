"""Attributions of each decision against a baseline set of applicants (interventional).

The letters explain with the explainer registry's interventional mode
(:mod:`auditor.explain.baseline_shap`): exact interventional TreeSHAP for LightGBM,
integrated gradients from the baseline mean for PyTorch, seeded permutation Shapley
values for other models, each against the same baseline rows. The method and its
parameters are recorded on every letter.
"""

from __future__ import annotations

import numpy as np

from auditor.explain.base import AttributionSet
from auditor.explain.baseline_shap import (
    interventional_attributions,
    permutation_orders,
    permutation_shapley,
)
from auditor.models.base import ModelAdapter

__all__ = ["BaselineAttributions", "baseline_attributions", "permutation_orders"]

BaselineAttributions = AttributionSet
"""The letters' attributions are the registry's :class:`AttributionSet` (the old name)."""

# the sampled estimator under its old name (tests compare it with a plain loop)
_permutation = permutation_shapley


def baseline_attributions(
    model: ModelAdapter,
    x: np.ndarray,
    baseline: np.ndarray,
    *,
    permutations: int = 10,
    steps: int = 128,
    seed: int = 0,
) -> AttributionSet:
    """Attribute each row's model output to the features, against the ``baseline`` rows."""
    return interventional_attributions(
        model, x, baseline, permutations=permutations, steps=steps, seed=seed
    )
