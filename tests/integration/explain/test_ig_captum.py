"""Integrated gradients against Captum's IntegratedGradients (same quadrature and steps)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from auditor.demo import DemoCase
from auditor.explain import get_explainer
from auditor.explain.integrated_gradients import integrated_gradients
from auditor.models import ModelAdapter, load_model
from auditor.models.mlp import TabularMLP
from auditor.models.torch_adapter import TorchAdapter
from auditor.spec import load_spec

captum_attr = pytest.importorskip("captum.attr")


@pytest.fixture(scope="module")
def hiring_model(hiring_case: DemoCase) -> tuple[ModelAdapter, np.ndarray]:
    from auditor.data import load_decisions

    spec = load_spec(hiring_case.spec_path)
    model = load_model(spec)
    assert model is not None
    x = model.encode(load_decisions(spec).features)
    return model, x[np.random.default_rng(3).choice(len(x), 160, replace=False)]


@pytest.mark.parametrize("steps", [16, 50])
def test_matches_captum_gauss_legendre(
    hiring_model: tuple[ModelAdapter, np.ndarray], steps: int
) -> None:
    model, x = hiring_model
    rows, background = x[:60], x[60:]
    values, base, params = get_explainer("integrated_gradients").explain(
        model, rows, background=background, steps=steps
    )
    assert params["device"] in ("cpu", "cuda")
    module = model.module  # type: ignore[attr-defined]
    baseline = torch.as_tensor(background.mean(axis=0), dtype=torch.float32)[None, :]
    reference = captum_attr.IntegratedGradients(module).attribute(
        torch.as_tensor(rows, dtype=torch.float32),
        baselines=baseline,
        n_steps=steps,
        method="gausslegendre",
    )
    assert np.abs(values).max() > 0.05  # a non-trivial comparison
    np.testing.assert_allclose(values, reference.double().numpy(), rtol=0, atol=1e-5)
    # completeness is reported by explain_matrix; here it is measured directly
    gap = np.abs(values.sum(axis=1) + base - model.output(rows))
    assert gap.max() < 0.5


def test_chunking_does_not_change_the_values() -> None:
    torch.manual_seed(0)
    net = TabularMLP(6, (16,)).eval()
    adapter = TorchAdapter(net, tuple(f"f{i}" for i in range(6)))
    x = np.random.default_rng(0).normal(size=(37, 6))
    baseline = np.zeros(6)
    one = integrated_gradients(adapter.forward, x, baseline, 20, chunk_points=20)
    big = integrated_gradients(adapter.forward, x, baseline, 20, chunk_points=10_000)
    np.testing.assert_allclose(one, big, rtol=0, atol=1e-6)
    # the explainer freezes the parameters while it runs and gives them back afterwards
    get_explainer("integrated_gradients").explain(adapter, x, background=x, steps=8)
    assert all(p.requires_grad for p in net.parameters())
