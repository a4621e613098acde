"""Shared pieces of the gradient-family explainers: modules, baselines, hooked backward.

DeepLIFT and LRP replace the gradient of each ``nn.ReLU`` by a different multiplier. They
need real ``nn.Module`` objects (TorchScript modules take no hooks) whose nonlinearities are
``nn.ReLU`` modules: a functional ``torch.relu`` inside ``forward`` would be passed through
with its plain gradient, which the measured completeness error then exposes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from auditor.models.base import DifferentiableModel, ModelAdapter, as_differentiable

_CHUNK_ROWS = 4096  # rows per autograd call

ReluRule = Callable[[Any, Any, Any], Any]
"""(relu input, relu output, incoming gradient) -> outgoing gradient, all for one batch."""


def hookable_relu_net(model: ModelAdapter) -> bool:
    """A torch adapter around a plain module with at least one ``nn.ReLU`` and no other
    elementwise activation module the rules below do not cover."""
    if model.kind != "torch":
        return False
    import torch

    if not isinstance(model, DifferentiableModel):
        return False
    module = model.module
    if isinstance(module, torch.jit.ScriptModule):
        return False
    unsupported = (torch.nn.Sigmoid, torch.nn.Tanh, torch.nn.GELU, torch.nn.SiLU, torch.nn.ELU)
    mods = list(module.modules())
    return any(isinstance(m, torch.nn.ReLU) for m in mods) and not any(
        isinstance(m, unsupported) for m in mods
    )


def background_mean(background: np.ndarray) -> np.ndarray:
    """The baseline every gradient-family method here starts from: the background mean."""
    return np.asarray(np.nanmean(background, axis=0), dtype=np.float64)


@contextmanager
def relu_rule(module: Any, rule: ReluRule) -> Iterator[None]:
    """Within the block, every ``nn.ReLU`` of ``module`` back-propagates with ``rule``."""
    import torch

    saved: dict[int, tuple[Any, Any]] = {}
    handles = []

    def forward_hook(m: Any, inputs: tuple[Any, ...], output: Any) -> None:
        saved[id(m)] = (inputs[0].detach(), output.detach())

    def backward_hook(m: Any, grad_in: tuple[Any, ...], grad_out: tuple[Any, ...]) -> Any:
        z, a = saved[id(m)]
        return (rule(z, a, grad_out[0]),)

    for m in module.modules():
        if isinstance(m, torch.nn.ReLU):
            if m.inplace:  # an in-place ReLU overwrites the input the rule needs
                m.inplace = False
            handles.append(m.register_forward_hook(forward_hook))
            handles.append(m.register_full_backward_hook(backward_hook))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def input_gradients(model: ModelAdapter, x: np.ndarray) -> np.ndarray:
    """d output / d input for each row (under whatever hooks are active)."""
    import torch

    net = as_differentiable(model)
    device = net.device
    out = np.empty_like(x, dtype=np.float64)
    forward = net.forward
    for start in range(0, len(x), _CHUNK_ROWS):
        xb = torch.as_tensor(x[start : start + _CHUNK_ROWS], dtype=torch.float32, device=device)
        xb.requires_grad_(True)
        grad = torch.autograd.grad(forward(xb).sum(), xb)[0]
        out[start : start + len(xb)] = grad.double().cpu().numpy()
    return out
