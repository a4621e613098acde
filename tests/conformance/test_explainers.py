"""Every registered explainer against one contract (issue 20 item 6).

Parametrised over ``auditor.explain.explainer_names()``, so a newly registered method is
held to it without a line here: it must declare its claims, explain at least one of the
four small trained models below (LightGBM, a PyTorch ReLU network, a scikit-learn logistic
regression, a plain predict function), return values shaped like the rows it explains,
give the same values twice under one seed, and keep its additivity flag honest: a method
that claims additivity reproduces ``output − base`` within its own stated tolerance on
every model it supports; a method that does not claim it misses on at least one (else
it should claim it).

The data has an interaction (f1·f2) so that no model is additive by accident.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from auditor.explain import AttributionSet, explain_matrix, explainer_names, get_explainer
from auditor.models import ModelAdapter, wrap_model
from auditor.models.mlp import TabularMLP

N_ROWS, N_FEATURES = 400, 5
EXPLAINED, BACKGROUND = 12, 10
NAMES = [f"f{i}" for i in range(N_FEATURES)]


@dataclass(frozen=True)
class Data:
    x: np.ndarray
    y: np.ndarray


@pytest.fixture(scope="module")
def data() -> Data:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N_ROWS, N_FEATURES))
    noise = 0.5 * rng.normal(size=N_ROWS)
    y = ((x[:, 0] + x[:, 1] * x[:, 2] - 0.5 * x[:, 3] + noise) > 0).astype(int)
    return Data(x, y)


def _lightgbm(d: Data) -> ModelAdapter:
    params = {"objective": "binary", "verbose": -1, "num_leaves": 7, "seed": 0}
    params |= {"deterministic": True, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(d.x, d.y, feature_name=NAMES), num_boost_round=20)
    return wrap_model(booster, NAMES)


def _torch(d: Data) -> ModelAdapter:
    torch.manual_seed(0)
    net = TabularMLP(N_FEATURES, hidden=(8,))
    optimiser = torch.optim.Adam(net.parameters(), lr=0.05)
    xt = torch.as_tensor(d.x, dtype=torch.float32)
    yt = torch.as_tensor(d.y, dtype=torch.float32)
    for _ in range(60):
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xt).squeeze(-1), yt)
        loss.backward()
        optimiser.step()
    net.eval()
    return wrap_model(net, NAMES)


def _sklearn(d: Data) -> ModelAdapter:
    return wrap_model(LogisticRegression().fit(d.x, d.y), NAMES)


def _function(d: Data) -> ModelAdapter:
    def score(frame: object) -> np.ndarray:  # a nonlinear probability from a plain function
        x = np.asarray(frame, dtype=np.float64)
        return np.asarray(1.0 / (1.0 + np.exp(-(x[:, 0] + np.tanh(x[:, 1] * x[:, 2])))))

    return wrap_model(score, NAMES)


@pytest.fixture(scope="module")
def models(data: Data) -> dict[str, ModelAdapter]:
    builders = {"lightgbm": _lightgbm, "torch": _torch, "sklearn": _sklearn, "function": _function}
    return {kind: build(data) for kind, build in builders.items()}


def _supported(method: str, models: dict[str, ModelAdapter]) -> dict[str, ModelAdapter]:
    explainer = get_explainer(method)
    return {kind: m for kind, m in models.items() if explainer.supports(m)}


def _explain(method: str, model: ModelAdapter, x: np.ndarray, seed: int = 5) -> AttributionSet:
    return explain_matrix(
        model, x, method=method, max_rows=EXPLAINED, background=BACKGROUND, seed=seed
    )


@pytest.fixture(scope="module")
def explained(
    models: dict[str, ModelAdapter], data: Data
) -> Callable[[str, str], AttributionSet]:
    """One explanation per (method, model kind), shared by the tests that only read it."""
    cache: dict[tuple[str, str], AttributionSet] = {}

    def get(method: str, kind: str) -> AttributionSet:
        if (method, kind) not in cache:
            cache[method, kind] = _explain(method, models[kind], data.x)
        return cache[method, kind]

    return get


def _gaps(attr: AttributionSet, model: ModelAdapter, x: np.ndarray) -> np.ndarray:
    """|Σ values + base − output| recomputed here, not taken from the explainer."""
    out = model.output(x[attr.row_index])
    return np.asarray(np.abs(attr.values.sum(axis=1) + attr.base_values - out))


METHODS = explainer_names()


def test_the_registry_is_not_empty() -> None:
    # the parametrisation below is only as good as the registry it reads
    assert {"tree_shap", "integrated_gradients", "permutation_shap"} <= set(METHODS)


@pytest.mark.parametrize("method", METHODS)
def test_declares_its_claims(method: str) -> None:
    explainer = get_explainer(method)
    assert explainer.name == method
    declared = {k for cls in type(explainer).__mro__ for k in vars(cls)}
    # declared on the class, not read through a getattr default somewhere else
    assert {"additive", "signed", "default_tolerance"} <= declared, method
    assert isinstance(explainer.additive, bool)
    assert isinstance(explainer.signed, bool)
    assert 0 < explainer.default_tolerance < 1


@pytest.mark.parametrize("method", METHODS)
def test_explains_at_least_one_model_kind(method: str, models: dict[str, ModelAdapter]) -> None:
    assert _supported(method, models), f"{method} supports none of {sorted(models)}"


@pytest.mark.parametrize("method", METHODS)
def test_output_shape(
    method: str, models: dict[str, ModelAdapter], explained: Callable[[str, str], AttributionSet]
) -> None:
    for kind, model in _supported(method, models).items():
        attr = explained(method, kind)
        assert attr.method == method, kind
        assert attr.values.shape == (EXPLAINED, N_FEATURES), kind
        assert attr.base_values.shape == (EXPLAINED,), kind
        assert attr.feature_names == tuple(NAMES), kind
        assert attr.row_index.shape == (EXPLAINED,), kind
        assert len(set(attr.row_index.tolist())) == EXPLAINED, kind
        assert np.isfinite(attr.values).all(), kind
        assert np.isfinite(attr.base_values).all(), kind
        assert attr.output_space == model.output_space, kind


@pytest.mark.parametrize("method", METHODS)
def test_deterministic_under_a_seed(
    method: str,
    models: dict[str, ModelAdapter],
    data: Data,
    explained: Callable[[str, str], AttributionSet],
) -> None:
    for kind, model in _supported(method, models).items():
        first, second = explained(method, kind), _explain(method, model, data.x)
        np.testing.assert_array_equal(first.row_index, second.row_index, err_msg=kind)
        np.testing.assert_array_equal(first.values, second.values, err_msg=kind)
        np.testing.assert_array_equal(first.base_values, second.base_values, err_msg=kind)


@pytest.mark.parametrize("method", METHODS)
def test_additivity_flag_is_honest(
    method: str,
    models: dict[str, ModelAdapter],
    data: Data,
    explained: Callable[[str, str], AttributionSet],
) -> None:
    explainer = get_explainer(method)
    tolerance = explainer.default_tolerance
    worst = {
        kind: float(_gaps(explained(method, kind), model, data.x).max())
        for kind, model in _supported(method, models).items()
    }
    if explainer.additive:
        missed = {kind: gap for kind, gap in worst.items() if gap > tolerance}
        assert not missed, f"{method} claims additivity within {tolerance:g}; gaps: {missed}"
    else:
        assert max(worst.values()) > tolerance, (
            f"{method} does not claim additivity but adds up within {tolerance:g} on every "
            f"model it supports ({worst}): claim it"
        )
