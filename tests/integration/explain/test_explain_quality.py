"""Fidelity and stability measures checked on models whose true attributions are known."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from auditor.data import load_decisions
from auditor.demo import DemoCase
from auditor.explain import get_explainer
from auditor.explain.quality import (
    QualitySettings,
    agreement,
    assess,
    attribution_order,
    check_reasons,
    deletion_insertion,
    infidelity,
    near_tie,
    reasons_unstable,
    unstable_decisions,
)
from auditor.models import ModelAdapter, load_model, wrap_model
from auditor.spec import load_spec


class AdditiveNet(nn.Module):
    """f(x) = Σ_i g_i(x_i), each g_i a small ReLU network of its own feature."""

    def __init__(self, p: int, hidden: int = 6, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.w1 = nn.Parameter(torch.randn(p, hidden, generator=gen))
        self.b1 = nn.Parameter(torch.randn(p, hidden, generator=gen))
        self.w2 = nn.Parameter(torch.randn(p, hidden, generator=gen))
        self.relu = nn.ReLU()

    def parts(self, x: torch.Tensor) -> torch.Tensor:
        """g_i(x_i) per row and feature."""
        return (self.relu(x[:, :, None] * self.w1 + self.b1) * self.w2).sum(dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.parts(x).sum(dim=1)


P = 6


@pytest.fixture(scope="module")
def additive() -> tuple[ModelAdapter, AdditiveNet, np.ndarray, np.ndarray]:
    net = AdditiveNet(P)
    model = wrap_model(net, [f"f{i}" for i in range(P)])
    rng = np.random.default_rng(0)
    return model, net, rng.normal(size=(120, P)), rng.normal(size=(200, P))


def _true_attributions(net: AdditiveNet, x: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        g = net.parts(torch.as_tensor(x, dtype=torch.float32)).double().numpy()
        g0 = net.parts(torch.as_tensor(baseline[None, :], dtype=torch.float32)).double().numpy()
    return np.asarray(g - g0)


def test_deletion_area_ranks_methods_by_their_known_exactness(
    additive: tuple[ModelAdapter, AdditiveNet, np.ndarray, np.ndarray],
) -> None:
    model, net, x, background = additive
    baseline = background.mean(axis=0)
    truth = _true_attributions(net, x, baseline)
    delta = model.output(x) - model.output(baseline[None, :])[0]
    aucs: dict[str, float] = {}
    errors: dict[str, float] = {}
    for name in ("integrated_gradients", "deeplift", "gradient_x_input", "lime", "saliency"):
        explainer = get_explainer(name)
        values, base, _ = explainer.explain(model, x, background=background, steps=256)
        order = attribution_order(values, delta, signed=explainer.signed)
        aucs[name] = deletion_insertion(model, x, order, baseline).deletion_auc
        errors[name] = float(np.median(np.abs(values.sum(axis=1) + base - model.output(x))))
    exact = deletion_insertion(model, x, attribution_order(truth, delta, signed=True), baseline)
    rng = np.random.default_rng(1)
    shuffled = deletion_insertion(model, x, np.argsort(rng.random(x.shape), axis=1), baseline)
    # exact attributions give the smallest deletion area any order can reach
    assert exact.deletion_auc <= min(aucs.values()) + 1e-6
    # IG and DeepLIFT are exact on an additive model; first-order and surrogate methods are not
    for name in ("integrated_gradients", "deeplift"):
        assert aucs[name] == pytest.approx(exact.deletion_auc, abs=1e-3)
        assert errors[name] < 5e-3
    for name in ("gradient_x_input", "lime"):
        assert aucs[name] > exact.deletion_auc + 1e-3
        assert aucs[name] < shuffled.deletion_auc
        assert errors[name] > 1e-3  # measured, and not zero
    assert aucs["saliency"] > max(aucs["gradient_x_input"], aucs["lime"])
    assert shuffled.deletion_auc > aucs["saliency"]


def test_infidelity_is_zero_for_exact_attributions_and_large_for_noise(
    additive: tuple[ModelAdapter, AdditiveNet, np.ndarray, np.ndarray],
) -> None:
    model, net, x, background = additive
    baseline = background.mean(axis=0)
    truth = _true_attributions(net, x, baseline)
    assert infidelity(model, x, truth, baseline) < 1e-6
    noise = np.random.default_rng(3).normal(size=truth.shape)
    assert infidelity(model, x, noise, baseline) > 0.5


def _linear(w: np.ndarray) -> ModelAdapter:
    net = nn.Sequential(nn.Linear(len(w), 1))
    with torch.no_grad():
        net[0].weight.copy_(torch.as_tensor(w[None, :], dtype=torch.float32))
        net[0].bias.zero_()
    return wrap_model(net, [f"f{i}" for i in range(len(w))])


def test_stability_catches_two_nearly_equal_top_reasons() -> None:
    model = _linear(np.array([-1.0, -1.0, -0.2, 0.1]))
    rng = np.random.default_rng(0)
    background = rng.normal(size=(300, 4)) * np.array([1.0, 1.0, 1.0, 1.0])
    background -= background.mean(axis=0)  # baseline exactly 0, so φ = w·x
    tied = np.array([1.50, 1.51, 0.3, 0.0])  # two adverse reasons 1.50 vs 1.51
    clear = np.array([3.0, 0.5, 0.3, 0.0])  # one reason far ahead
    kw = {"background": background, "method": "gradient_x_input", "k": 1, "seed": 4}
    result = check_reasons(model, tied, **kw)  # type: ignore[arg-type]
    assert result.unstable
    assert result.near_tie
    assert result.reasons in {("f0",), ("f1",)}
    assert result.changed_share > 0.1
    assert result.alternatives  # the other reason, seen under perturbation
    assert "changed in" in result.detail
    json.dumps(result.to_dict())
    assert reasons_unstable(model, tied, **kw) is True  # type: ignore[arg-type]
    steady = check_reasons(model, clear, **kw)  # type: ignore[arg-type]
    assert not steady.unstable
    assert steady.reasons == ("f0",)
    assert steady.changed_share == 0.0
    assert reasons_unstable(model, clear, **kw) is False  # type: ignore[arg-type]
    flags = unstable_decisions(model, np.vstack([tied, clear]), **kw)  # type: ignore[arg-type]
    np.testing.assert_array_equal(flags, [True, False])


def test_near_tie_from_stored_values_only() -> None:
    values = np.array([[-1.0, -0.98, 0.2], [-1.0, -0.3, 0.2]])
    np.testing.assert_array_equal(near_tie(values, 1, "adverse"), [True, False])
    np.testing.assert_array_equal(near_tie(values, 2, "adverse"), [False, False])


def test_vectorised_kendall_matches_scipy() -> None:
    from scipy import stats

    from auditor.explain.quality.agreement import kendall_tau_b

    rng = np.random.default_rng(0)
    a = np.round(rng.normal(size=(30, 7)), 1)  # rounding makes ties
    b = np.round(a + rng.normal(size=a.shape), 1)
    expected = [stats.kendalltau(x, y).statistic for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(kendall_tau_b(a, b), expected, atol=1e-12)


def test_agreement_of_identical_and_reversed_rankings() -> None:
    a = np.array([[3.0, 2.0, 1.0, 0.5], [0.1, 0.2, 0.3, 0.4]])
    same = agreement("a", a, "b", a * 2, k=2)
    assert same.spearman == pytest.approx(1.0)
    assert same.kendall == pytest.approx(1.0)
    assert same.top_k_overlap == 1.0
    rev = agreement("a", a, "b", a[:, ::-1], k=2)
    assert rev.spearman == pytest.approx(-1.0)
    assert rev.top_k_overlap == 0.0


@pytest.fixture(scope="module")
def hiring(hiring_case: DemoCase) -> tuple[ModelAdapter, np.ndarray]:
    spec = load_spec(hiring_case.spec_path)
    model = load_model(spec)
    assert model is not None
    return model, model.encode(load_decisions(spec).features)


def test_assess_on_the_demo_network(hiring: tuple[ModelAdapter, np.ndarray]) -> None:
    model, x = hiring
    block = assess(model, x, QualitySettings(rows=40, draws=2, stability_rows=20, seed=3))
    json.dumps(block)
    by = {m["method"]: m for m in block["methods"]}
    assert set(by) == {
        "integrated_gradients",
        "deeplift",
        "lrp",
        "gradient_x_input",
        "saliency",
        "lime",
    }
    assert by["integrated_gradients"]["completeness_max"] < 2e-2
    assert by["deeplift"]["completeness_max"] < 1e-3
    assert by["lime"]["completeness_median"] > by["deeplift"]["completeness_median"]
    for m in by.values():
        assert len(m["deletion_curve"]) == x.shape[1] + 1
        assert m["deletion_curve"][0] == pytest.approx(1.0)  # nothing removed yet
        assert m["deletion_curve"][-1] == pytest.approx(0.0, abs=1e-6)  # all at baseline
        assert 0.0 <= m["reasons_changed_perturbation"] <= 1.0
    assert by["deeplift"]["deletion_auc"] < block["random_order"]["deletion_auc"]
    assert len(block["agreement"]) == 15
    again = assess(model, x, QualitySettings(rows=40, draws=2, stability_rows=20, seed=3))
    assert [m["deletion_auc"] for m in again["methods"]] == [
        m["deletion_auc"] for m in block["methods"]
    ]  # seeded
