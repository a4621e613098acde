"""DeepLIFT with the rescale rule (Shrikumar et al. 2017) for ReLU networks in PyTorch.

Each ReLU back-propagates the multiplier Δoutput/Δinput between the row and the baseline
(the background mean) instead of its gradient; gradient × (x − baseline) under those
multipliers then sums exactly to f(x) − f(baseline) for networks of linear layers and
``nn.ReLU`` modules ("summation to delta"). Rows and baselines run through one batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from auditor.explain._torch_hooks import (
    _CHUNK_ROWS,
    background_mean,
    hookable_relu_net,
    input_gradients,
    relu_rule,
)
from auditor.explain.base import register
from auditor.models.base import ModelAdapter, as_differentiable

_NEAR_ZERO = 1e-7  # below this |Δz| the rescale multiplier falls back to the gradient


def _rescale(z: Any, a: Any, grad: Any) -> Any:
    """Multiplier Δa/Δz between the row half and the baseline half of the batch."""
    import torch

    half = len(z) // 2
    dz = z[:half] - z[half:]
    da = a[:half] - a[half:]
    slope = (z[:half] > 0).to(z.dtype)
    m = torch.where(dz.abs() > _NEAR_ZERO, da / torch.where(dz == 0, 1.0, dz), slope)
    return grad * torch.cat([m, m])


@register("deeplift")
class DeepLiftExplainer:
    """DeepLIFT (rescale rule) attributions of the logit against the background mean."""

    name = "deeplift"
    default_tolerance = 1e-3
    additive = True  # summation to delta: exact up to float32 rounding
    signed = True

    def supports(self, model: ModelAdapter) -> bool:
        """Plain (non-TorchScript) torch modules built from linear layers and nn.ReLU."""
        return hookable_relu_net(model)

    def explain(
        self, model: ModelAdapter, x: np.ndarray, *, background: np.ndarray, steps: int
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Values, the baseline's output per row, and the rule recorded."""
        baseline = background_mean(background)
        n = len(x)
        values = np.empty_like(x, dtype=np.float64)
        chunk = _CHUNK_ROWS // 2  # rows and baselines must stay in one autograd batch
        with relu_rule(as_differentiable(model).module, _rescale):
            for s in range(0, n, chunk):
                xb = x[s : s + chunk]
                both = np.vstack([xb, np.broadcast_to(baseline, xb.shape)])
                values[s : s + len(xb)] = input_gradients(model, both)[: len(xb)] * (xb - baseline)
        base = float(model.output(baseline[None, :])[0])
        params = {
            "rule": "rescale",
            "baseline": "background mean",
            "baseline_values": baseline.tolist(),
        }
        return values, np.full(n, base), params
