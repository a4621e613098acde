"""Integrated gradients for PyTorch models, every interpolation step batched together.

Gauss–Legendre quadrature over the straight path from a baseline (the background mean)
to each input. The points of a chunk of rows (all their steps) go through one forward
and one backward pass; the quadrature weights ride along as the backward pass's output
gradients, so the per-step gradients come back already weighted and are summed in place.
Chunks hold about ``CHUNK_POINTS`` points, which keeps an MLP's activations in cache
instead of streaming one huge batch through memory. A CUDA device is used when present.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from auditor.errors import ExplainError
from auditor.explain.base import register
from auditor.models.base import ModelAdapter, as_differentiable

# rows × steps per autograd call: large enough to amortise the per-call overhead, small
# enough that a tabular MLP's activations stay in cache (measured: bench/bench_explain.py)
CHUNK_POINTS = 32_768


def ig_device(requested: str = "auto") -> str:
    """Where integrated gradients run: ``auto`` is ``"cuda"`` when torch sees a CUDA
    device, else ``"cpu"``; ``cpu`` and ``cuda`` (``explain.device``) are taken as asked,
    ``cuda`` failing with a clear message when there is none."""
    import torch

    if requested == "cpu":
        return "cpu"
    present = torch.cuda.is_available()
    if requested == "cuda" and not present:
        raise ExplainError(
            "explain.device: cuda, but torch finds no CUDA device (or this torch build has "
            "no CUDA support); use explain.device: auto or cpu."
        )
    if requested not in ("auto", "cuda"):
        raise ExplainError(f"explain.device must be auto, cpu or cuda, not {requested!r}")
    return "cuda" if present else "cpu"


@contextmanager
def _frozen(module: Any) -> Iterator[None]:
    """Parameters stop requiring grad (no weight-gradient bookkeeping), then restored."""
    params = [p for p in getattr(module, "parameters", list)() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def integrated_gradients(
    forward: Callable[[Any], Any],
    x: np.ndarray,
    baseline: np.ndarray,
    steps: int,
    *,
    device: str = "cpu",
    chunk_points: int = CHUNK_POINTS,
) -> np.ndarray:
    """IG attributions (n × p, float64) of ``forward`` (a 1-D output per row).

    Gauss–Legendre with ``steps`` nodes on [0, 1]; ``forward`` must accept a float32
    tensor on ``device``.
    """
    import torch

    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas = torch.as_tensor((nodes + 1.0) / 2.0, dtype=torch.float32, device=device)
    w = torch.as_tensor(weights / 2.0, dtype=torch.float32, device=device)
    base_t = torch.as_tensor(baseline, dtype=torch.float32, device=device)
    p = x.shape[1]
    rows = max(1, chunk_points // steps)
    out = np.empty(x.shape, dtype=np.float64)
    for start in range(0, len(x), rows):
        xb = torch.as_tensor(x[start : start + rows], dtype=torch.float32, device=device)
        delta = xb - base_t  # (b, p)
        # the points are rounded as base + (alpha * delta), like Captum and the textbook
        # formula: a fused multiply-add rounds differently, which near a ReLU kink can
        # flip a unit and change that step's gradient
        path = base_t + alphas[None, :, None] * delta[:, None, :]  # (b, m, p)
        path = path.reshape(-1, p).requires_grad_(True)
        (grads,) = torch.autograd.grad(forward(path), path, grad_outputs=w.repeat(len(xb)))
        avg = grads.view(len(xb), steps, p).sum(dim=1)
        out[start : start + len(xb)] = (avg * delta).double().cpu().numpy()
    return out


@register("integrated_gradients")
class IntegratedGradientsExplainer:
    """Integrated gradients of the model's logit with respect to its inputs."""

    name = "integrated_gradients"
    default_tolerance = 1e-2
    additive = True
    signed = True
    uses_steps = True
    uses_device = True  # explain.device: auto | cpu | cuda

    def supports(self, model: ModelAdapter) -> bool:
        """Only torch modules (it needs gradients)."""
        return model.kind == "torch"

    def explain(
        self,
        model: ModelAdapter,
        x: np.ndarray,
        *,
        background: np.ndarray,
        steps: int,
        device: str = "auto",
    ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Attributions, the baseline's output per row, and the quadrature recorded
        (with the device that ran them)."""
        net = as_differentiable(model)
        module = net.module
        home = net.device
        device = ig_device(device)
        baseline = np.nanmean(background, axis=0)
        moved = device != home
        if moved:
            module.to(device)
        try:
            with _frozen(module):
                out = integrated_gradients(
                    net.forward,
                    x,
                    baseline,
                    steps,
                    device=device,
                )
        finally:
            if moved:
                module.to(home)
        base_out = float(model.output(baseline[None, :])[0])
        params = {
            "steps": steps,
            "quadrature": "gauss-legendre",
            "baseline": "background mean",
            "baseline_values": [float(v) for v in baseline],
            "device": device,
        }
        return out, np.full(len(x), base_out), params
