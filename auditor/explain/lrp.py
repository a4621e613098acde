"""Layer-wise relevance propagation, epsilon rule (Bach et al. 2015), for ReLU networks.

The logit's relevance is passed down layer by layer in proportion to each input's share
of every linear pre-activation z, with ε·sign(z) added to z so small denominators do not
explode. Biases keep the relevance they absorb, so the feature relevances add up to the
logit only approximately: that gap is the completeness error the audit measures and shows.

Relevance is read at the input of the first linear layer. For a model whose preprocessing
works feature by feature (as ``TabularMLP``'s standardisation does) those inputs are the
features, measured from the point where that layer's input is zero (the training mean).
Implemented as gradient × input with each ReLU's gradient replaced by a / (z + ε·sign z).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from auditor.explain._torch_hooks import hookable_relu_net, relu_rule
from auditor.explain.base import register
from auditor.models.base import ModelAdapter, as_differentiable

EPSILON = 0.01


def _stabilised(z: Any) -> Any:
    import torch

    return z + EPSILON * torch.where(z >= 0, 1.0, -1.0)


def _epsilon_rule(z: Any, a: Any, grad: Any) -> Any:
    return grad * a / _stabilised(z)


def _first_linear_width(module: Any) -> int | None:
    import torch

    for m in module.modules():
        if isinstance(m, torch.nn.Linear):
            return int(m.in_features)
    return None


@register("lrp")
class LrpEpsilonExplainer:
    """LRP-ε relevance of the logit; base value 0 (biases absorb the rest)."""

    name = "lrp"
    default_tolerance = 1e-2  # conserves relevance only approximately: the gap is shown
    # biases keep relevance, so the features' sum misses the logit (by 3 on a small trained
    # MLP): no additivity claim
    additive = False
    signed = True

    def supports(self, model: ModelAdapter) -> bool:
        """ReLU networks whose first linear layer takes one input per feature."""
        return hookable_relu_net(model) and _first_linear_width(
            as_differentiable(model).module
        ) == len(model.feature_names)

    def explain(
        self, model: ModelAdapter, x: np.ndarray, *, background: np.ndarray, steps: int
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Relevance per feature, zeros as base values, and ε recorded."""
        import torch

        net = as_differentiable(model)
        module = net.module
        captured: list[Any] = []

        def grab_input(m: Any, inputs: tuple[Any, ...]) -> None:
            if not captured:
                captured.append(inputs[0])

        first = next(m for m in module.modules() if isinstance(m, torch.nn.Linear))
        handle = first.register_forward_pre_hook(grab_input)
        values = np.empty_like(x, dtype=np.float64)
        try:
            with relu_rule(module, _epsilon_rule):
                for s in range(0, len(x), 4096):
                    captured.clear()
                    xb = torch.as_tensor(x[s : s + 4096], dtype=torch.float32)
                    xb.requires_grad_(True)
                    out = net.forward(xb)
                    a0 = captured[0]
                    factor = (out / _stabilised(out)).detach()
                    grad = torch.autograd.grad((out * factor).sum(), a0)[0]
                    values[s : s + len(xb)] = (a0 * grad).detach().double().numpy()
        finally:
            handle.remove()
        params = {"rule": "epsilon", "epsilon": EPSILON, "relevance_at": "first linear input"}
        return values, np.zeros(len(x)), params
