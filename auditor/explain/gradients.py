"""Saliency and gradient × input for PyTorch models: one backward pass per chunk of rows.

Saliency is the absolute gradient of the logit at the input (Simonyan et al. 2014): it says
where the model is sensitive, not how much each feature moved this output, so it does not
add up to the output and its completeness error is large by design. Gradient × input
multiplies the gradient by the input's distance from the baseline (the background mean);
on a linear model it equals the exact contributions, on a nonlinear one it is a first-order
approximation whose completeness error the audit measures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from auditor.explain._torch_hooks import background_mean, input_gradients
from auditor.explain.base import register
from auditor.models.base import ModelAdapter


@register("gradient_x_input")
class GradientTimesInputExplainer:
    """Gradient at the input times (input − baseline)."""

    name = "gradient_x_input"
    default_tolerance = 1e-2
    # exact on a linear model only; on a ReLU network a first-order approximation whose gap
    # the audit measures (above 1 on a small trained MLP): no additivity claim
    additive = False
    signed = True

    def supports(self, model: ModelAdapter) -> bool:
        """Torch models only (it needs gradients)."""
        return model.kind == "torch"

    def explain(
        self, model: ModelAdapter, x: np.ndarray, *, background: np.ndarray, steps: int
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Values, the baseline's output per row, and the baseline recorded."""
        baseline = background_mean(background)
        values = input_gradients(model, x) * (x - baseline)
        base = float(model.output(baseline[None, :])[0])
        params = {"baseline": "background mean", "baseline_values": baseline.tolist()}
        return values, np.full(len(x), base), params


@register("saliency")
class SaliencyExplainer:
    """Absolute gradient of the logit at the input (sensitivity, not a contribution)."""

    name = "saliency"
    default_tolerance = 1e-2  # not meant to add up: rules on additivity will warn, rightly
    additive = False
    signed = False  # |gradient|: a magnitude

    def supports(self, model: ModelAdapter) -> bool:
        """Torch models only (it needs gradients)."""
        return model.kind == "torch"

    def explain(
        self, model: ModelAdapter, x: np.ndarray, *, background: np.ndarray, steps: int
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """|gradient| per feature; the base value is the baseline's output."""
        baseline = background_mean(background)
        base = float(model.output(baseline[None, :])[0])
        params = {"definition": "|d logit / d input|", "additive": False}
        return np.abs(input_gradients(model, x)), np.full(len(x), base), params
