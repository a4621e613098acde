"""The issue-10 explainers checked against closed forms, Captum and shap."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import torch

from auditor.data import load_decisions
from auditor.demo import DemoCase
from auditor.explain import explain_matrix, get_explainer
from auditor.explain.tree_interactions import interaction_memory_bytes, interaction_values
from auditor.models import ModelAdapter, load_model, wrap_model
from auditor.models.mlp import TabularMLP
from auditor.spec import load_spec


@pytest.fixture(scope="module")
def hiring(hiring_case: DemoCase) -> tuple[ModelAdapter, np.ndarray]:
    spec = load_spec(hiring_case.spec_path)
    model = load_model(spec)
    assert model is not None
    return model, model.encode(load_decisions(spec).features)


def _small_mlp(p: int = 5, hidden: int = 4, seed: int = 0) -> TabularMLP:
    torch.manual_seed(seed)
    net = TabularMLP(p, hidden=(hidden,))
    with torch.no_grad():
        net.mean.copy_(torch.randn(p))
        net.scale.copy_(torch.rand(p) + 0.5)
    return net


def _weights(net: TabularMLP) -> tuple[np.ndarray, ...]:
    lin1, lin2 = net.net[0], net.net[2]
    return tuple(
        t.detach().double().numpy() for t in (lin1.weight, lin1.bias, lin2.weight, lin2.bias)
    )


def test_deeplift_matches_the_rescale_rule_in_closed_form() -> None:
    net = _small_mlp()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 5))
    model = wrap_model(net, [f"f{i}" for i in range(5)])
    # a background as large as the data: every row, so the baseline is the mean of x
    attr = explain_matrix(model, x, method="deeplift", background=30, seed=0)
    # closed form for one hidden layer: φ_i = Σ_j w2_j · Δa_j/Δz_j · w1_ji/s_i · (x_i − b_i)
    w1, b1, w2, _ = _weights(net)
    mean, scale = net.mean.double().numpy(), net.scale.double().numpy()
    base = x.mean(axis=0)
    z = ((x - mean) / scale) @ w1.T + b1
    z0 = ((base - mean) / scale) @ w1.T + b1
    dz = z - z0
    rescale = (np.maximum(z, 0) - np.maximum(z0, 0)) / np.where(dz == 0, 1, dz)
    m = np.where(np.abs(dz) > 1e-7, rescale, (z > 0) * 1.0)
    expected = ((m * w2[0]) @ (w1 / scale)) * (x - base)
    np.testing.assert_allclose(attr.values, expected, atol=1e-4)
    assert attr.additivity_error < 1e-4  # summation to delta


@pytest.mark.filterwarnings("ignore:Setting forward, backward hooks:UserWarning")
def test_deeplift_agrees_with_captum(hiring: tuple[ModelAdapter, np.ndarray]) -> None:
    captum_attr = pytest.importorskip("captum.attr")
    model, x = hiring
    rows, background = x[:40], x[100:300]
    ours, base, _ = get_explainer("deeplift").explain(model, rows, background=background, steps=0)
    baseline = torch.as_tensor(background.mean(axis=0)[None, :], dtype=torch.float32)
    ref = captum_attr.DeepLift(model.module).attribute(  # type: ignore[attr-defined]
        torch.as_tensor(rows, dtype=torch.float32).requires_grad_(True), baselines=baseline
    )
    np.testing.assert_allclose(ours, ref.detach().double().numpy(), atol=1e-4)
    gap = np.abs(ours.sum(axis=1) + base - model.output(rows))
    assert gap.max() < 1e-4


def test_lrp_epsilon_matches_the_closed_form() -> None:
    net = _small_mlp(seed=3)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(20, 5))
    model = wrap_model(net, [f"f{i}" for i in range(5)])
    values, base, params = get_explainer("lrp").explain(model, x, background=x, steps=0)
    eps = params["epsilon"]
    w1, b1, w2, b2 = _weights(net)
    a0 = (x - net.mean.double().numpy()) / net.scale.double().numpy()
    z1 = a0 @ w1.T + b1
    a1 = np.maximum(z1, 0)
    out = a1 @ w2[0] + b2[0]

    def stab(z: np.ndarray) -> np.ndarray:
        return z + eps * np.where(z >= 0, 1.0, -1.0)

    r_a1 = a1 * w2[0] * (out / stab(out))[:, None]  # relevance of hidden units
    expected = a0 * ((r_a1 / stab(z1)) @ w1)
    np.testing.assert_allclose(values, expected, atol=1e-4)
    assert np.all(base == 0)


def test_gradient_methods_on_a_linear_model() -> None:
    w = np.array([2.0, -1.0, 0.5])
    net = torch.nn.Sequential(torch.nn.Linear(3, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.as_tensor(w[None, :], dtype=torch.float32))
        net[0].bias.fill_(0.3)
    model = wrap_model(net, ["a", "b", "c"])
    x = np.random.default_rng(0).normal(size=(25, 3))
    gxi = explain_matrix(model, x, method="gradient_x_input", background=25)
    base = x.mean(axis=0)
    np.testing.assert_allclose(gxi.values, w * (x - base), atol=1e-5)  # exact when linear
    assert gxi.additivity_error < 1e-5
    sal = explain_matrix(model, x, method="saliency", background=25)
    np.testing.assert_allclose(sal.values, np.tile(np.abs(w), (25, 1)), atol=1e-6)


def test_lime_recovers_a_linear_model_and_records_its_settings() -> None:
    w = np.array([1.5, -2.0, 0.0, 0.7])
    net = torch.nn.Sequential(torch.nn.Linear(4, 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.as_tensor(w[None, :], dtype=torch.float32))
        net[0].bias.zero_()
    model = wrap_model(net, list("abcd"))
    rng = np.random.default_rng(5)
    x, background = rng.normal(size=(10, 4)), rng.normal(size=(400, 4))
    explainer = get_explainer("lime")
    values, _intercept, params = explainer.explain(model, x, background=background, steps=0)
    # on/off surrogate of a linear model: coefficient = w · (x − mean of the donors drawn)
    exact = w * (x - background.mean(axis=0))
    assert np.max(np.abs(values - exact)) < 0.25
    assert np.corrcoef(values.ravel(), exact.ravel())[0, 1] > 0.98
    assert params["samples"] == 1000
    assert params["seed"] == 0
    assert params["kernel_width"] == pytest.approx(0.75 * 2.0)
    again = explainer.explain(model, x, background=background, steps=0)[0]
    np.testing.assert_array_equal(values, again)  # seeded


def test_tree_interactions_sum_to_shap_values_and_respect_the_memory_cap() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 4)), columns=list("abcd"))
    y = 2.0 * frame.a * frame.b + frame.c  # a×b is the only interaction
    booster = lgb.train(
        {"objective": "regression", "verbose": -1, "num_leaves": 8}, lgb.Dataset(frame, y), 40
    )
    model = wrap_model(booster, list(frame.columns))
    x = frame.to_numpy()
    idx, tensor = interaction_values(model, x, rows=50, seed=1)
    assert tensor.shape == (50, 4, 4)
    contrib = booster.predict(x[idx], pred_contrib=True)[:, :-1]
    np.testing.assert_allclose(tensor.sum(axis=2), contrib, atol=1e-6)
    cap = interaction_memory_bytes(10, 4)
    assert cap == 10 * 4 * 4 * 8
    _idx_small, small = interaction_values(model, x, rows=50, max_bytes=cap)
    assert len(small) == 10
    assert small.nbytes <= cap
    attr = explain_matrix(model, x, method="tree_shap_interactions")
    pairs = attr.params["interactions"]["pairs"]
    assert {pairs[0]["a"], pairs[0]["b"]} == {"a", "b"}  # the one real interaction
