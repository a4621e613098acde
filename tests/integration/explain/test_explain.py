"""Attributions checked against independent implementations and their defining properties."""

from __future__ import annotations

import copy
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import shap
import torch
from sklearn.linear_model import LogisticRegression

import auditor
import auditor.explain  # binds auditor.explain to the subpackage: it must stay callable
from auditor.data import load_decisions
from auditor.demo import CREDIT_FEATURES, HIRING_FEATURES, DemoCase
from auditor.errors import ExplainError
from auditor.explain import AttributionSet, explain_matrix, get_explainer
from auditor.models import ModelAdapter, load_model
from auditor.spec import load_spec


@pytest.fixture(scope="module")
def credit(credit_case: DemoCase) -> tuple[ModelAdapter, np.ndarray, pd.DataFrame]:
    spec = load_spec(credit_case.spec_path)
    model = load_model(spec)
    assert model is not None
    features = load_decisions(spec).features
    return model, model.encode(features), features


@pytest.fixture(scope="module")
def hiring(hiring_case: DemoCase) -> tuple[ModelAdapter, np.ndarray]:
    spec = load_spec(hiring_case.spec_path)
    model = load_model(spec)
    assert model is not None
    return model, model.encode(load_decisions(spec).features)


# --- tree SHAP --------------------------------------------------------------------------


def test_tree_shap_equals_lightgbm_and_shap(credit: tuple[ModelAdapter, np.ndarray, Any]) -> None:
    model, x, _ = credit
    attr = explain_matrix(model, x, method="tree_shap")
    assert attr.method == "tree_shap"
    assert attr.output_space == "log-odds"
    assert attr.values.shape == (len(x), len(CREDIT_FEATURES))
    assert attr.feature_names == tuple(CREDIT_FEATURES)
    booster = model.booster  # type: ignore[attr-defined]

    contrib = booster.predict(x, pred_contrib=True)
    np.testing.assert_allclose(attr.values, contrib[:, :-1], rtol=0, atol=1e-6)
    np.testing.assert_allclose(attr.base_values, contrib[:, -1], rtol=0, atol=1e-6)

    explainer = shap.TreeExplainer(booster)
    reference = np.asarray(explainer.shap_values(x))
    if reference.ndim == 3:  # older shap: one array per class
        reference = reference[-1]
    np.testing.assert_allclose(attr.values, reference, rtol=0, atol=1e-6)
    expected = float(np.ravel(explainer.expected_value)[-1])
    np.testing.assert_allclose(attr.base_values, expected, rtol=0, atol=1e-6)


def test_tree_shap_is_additive(credit: tuple[ModelAdapter, np.ndarray, Any]) -> None:
    model, x, _ = credit
    attr = explain_matrix(model, x, method="tree_shap")
    raw = model.booster.predict(x, raw_score=True)  # type: ignore[attr-defined]
    np.testing.assert_allclose(attr.values.sum(axis=1) + attr.base_values, raw, rtol=0, atol=1e-6)
    assert attr.additivity_error < 1e-6
    assert len(attr.row_index) == len(x)


def test_tree_shap_is_the_automatic_choice(credit: tuple[ModelAdapter, np.ndarray, Any]) -> None:
    model, x, _ = credit
    attr = explain_matrix(model, x[:50])
    assert attr.method == "tree_shap"


# --- integrated gradients -----------------------------------------------------------------


def ig_sample(hiring: tuple[ModelAdapter, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    _, x = hiring
    rng = np.random.default_rng(11)
    return x[rng.choice(len(x), 500, replace=False)], x[rng.choice(len(x), 100, replace=False)]


def completeness_error(
    model: ModelAdapter, x: np.ndarray, background: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    values, base, params = get_explainer("integrated_gradients").explain(
        model, x, background=background, steps=steps
    )
    assert params["steps"] == steps
    # completeness: the attributions add up to f(x) - f(baseline)
    baseline_out = model.output(background.mean(axis=0)[None, :])[0]
    np.testing.assert_allclose(base, baseline_out, rtol=0, atol=1e-12)
    return values, np.abs(values.sum(axis=1) - (model.output(x) - baseline_out))


def test_integrated_gradients_completeness_improves_with_steps(
    hiring: tuple[ModelAdapter, np.ndarray],
) -> None:
    model = hiring[0]
    x, background = ig_sample(hiring)
    errors = {m: completeness_error(model, x, background, m)[1] for m in (8, 32, 256)}
    means = [errors[m].mean() for m in (8, 32, 256)]
    assert means[0] > means[1] > means[2], means
    assert errors[256].max() < 1e-2
    assert errors[8].max() > errors[256].max()


def test_integrated_gradients_via_explain_matrix(hiring: tuple[ModelAdapter, np.ndarray]) -> None:
    model, x = hiring
    attr = explain_matrix(model, x, method="integrated_gradients", max_rows=500, steps=256)
    assert attr.method == "integrated_gradients"
    assert attr.output_space == "logit"
    assert attr.values.shape == (500, len(HIRING_FEATURES))
    assert len(set(attr.row_index.tolist())) == 500
    assert attr.additivity_error < 1e-2
    # the sample of rows is seeded: the same call explains the same rows the same way
    one = explain_matrix(model, x, method="integrated_gradients", max_rows=50, steps=32)
    two = explain_matrix(model, x, method="integrated_gradients", max_rows=50, steps=32)
    np.testing.assert_array_equal(one.row_index, two.row_index)
    np.testing.assert_array_equal(one.values, two.values)
    other = explain_matrix(model, x, method="integrated_gradients", max_rows=50, steps=32, seed=1)
    assert not np.array_equal(one.row_index, other.row_index)


def reference_integrated_gradients(
    module: torch.nn.Module, x: np.ndarray, baseline: np.ndarray, steps: int
) -> np.ndarray:
    """Textbook IG: per row, a midpoint Riemann sum of float64 gradients along the path."""
    net = copy.deepcopy(module).double().eval()
    out = np.zeros_like(x)
    alphas = (np.arange(steps) + 0.5) / steps
    base = torch.as_tensor(baseline, dtype=torch.float64)
    for i, row in enumerate(x):
        target = torch.as_tensor(row, dtype=torch.float64)
        total = torch.zeros_like(target)
        for chunk in np.array_split(alphas, 4):
            a = torch.as_tensor(chunk, dtype=torch.float64)[:, None]
            points = (base + a * (target - base)).requires_grad_(True)
            (grad,) = torch.autograd.grad(net(points).sum(), points)
            total += grad.sum(dim=0)
        out[i] = (total / steps * (target - base)).numpy()
    return out


def test_integrated_gradients_match_a_slow_reference(
    hiring: tuple[ModelAdapter, np.ndarray],
) -> None:
    model = hiring[0]
    x, background = ig_sample(hiring)
    rows = x[:5]
    # Gauss-Legendre on a ReLU network's piecewise-constant gradients converges like 1/steps
    values, _ = completeness_error(model, rows, background, 1024)
    reference = reference_integrated_gradients(
        model.module,  # type: ignore[attr-defined]
        rows,
        background.mean(axis=0),
        2000,
    )
    assert np.abs(reference).max() > 0.1  # a non-trivial comparison
    np.testing.assert_allclose(values, reference, rtol=0, atol=1e-3)


# --- permutation SHAP ------------------------------------------------------------------


def linear_data() -> tuple[pd.DataFrame, np.ndarray]:
    """Three features where the largest coefficient is not the largest coefficient x std."""
    rng = np.random.default_rng(5)
    n = 400
    x = pd.DataFrame(
        {
            "big_coef": rng.normal(0, 0.1, n),  # coef 6, std 0.1 -> 0.6
            "wide": rng.normal(0, 4.0, n),  # coef 0.5, std 4 -> 2.0
            "middle": rng.normal(0, 1.0, n),  # coef 1, std 1 -> 1.0
        }
    )
    logit = 6 * x["big_coef"] + 0.5 * x["wide"] + 1.0 * x["middle"]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y.to_numpy()


def test_permutation_shap_on_logistic_regression() -> None:
    x, y = linear_data()
    lr = LogisticRegression().fit(x, y)
    attr = auditor.explain(lr, x, method="permutation_shap", max_rows=60)
    assert attr.method == "permutation_shap"
    assert attr.output_space == "probability"
    assert attr.values.shape == (60, 3)
    prob = lr.predict_proba(x.iloc[attr.row_index])[:, 1]
    gap = np.abs(attr.values.sum(axis=1) + attr.base_values - prob)
    assert gap.max() < 1e-6
    assert attr.additivity_error < 1e-6
    importance = np.abs(attr.values).mean(axis=0)
    coef_std = np.abs(lr.coef_[0] * x.std().to_numpy())
    assert np.argmax(np.abs(lr.coef_[0])) == 0  # big_coef has the largest coefficient ...
    assert np.argmax(coef_std) == 1  # ... but 'wide' moves the logit most
    assert attr.feature_names[int(np.argmax(importance))] == "wide"


def test_permutation_shap_is_the_fallback_for_functions() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "income": rng.normal(50, 10, 80),
            "region": rng.choice(["north", "south", "east"], 80),
        }
    )

    def predict(df: pd.DataFrame) -> np.ndarray:
        # the function sees the original text values, never the codes
        assert set(df["region"].dropna()) <= {"north", "south", "east"}
        logit = 0.05 * (df["income"].to_numpy() - 50) + np.where(df["region"] == "south", 1, 0)
        return 1 / (1 + np.exp(-logit))

    attr = auditor.explain(predict, frame)
    assert attr.method == "permutation_shap"
    assert attr.values.shape == (80, 2)
    assert attr.additivity_error < 1e-6
    expected = predict(frame.iloc[attr.row_index].reset_index(drop=True))
    np.testing.assert_allclose(attr.values.sum(axis=1) + attr.base_values, expected, atol=1e-6)


# --- the public API ----------------------------------------------------------------------


def check_set(attr: AttributionSet, n: int, names: list[str]) -> None:
    assert isinstance(attr, AttributionSet)
    assert attr.values.shape == (n, len(names))
    assert attr.base_values.shape == (n,)
    assert attr.feature_names == tuple(names)
    assert np.isfinite(attr.values).all()


def test_public_explain_on_a_booster(credit: tuple[ModelAdapter, np.ndarray, pd.DataFrame]) -> None:
    model, x, features = credit
    booster = model.booster  # type: ignore[attr-defined]
    attr = auditor.explain(booster, features.head(100))
    check_set(attr, 100, CREDIT_FEATURES)
    assert attr.method == "tree_shap"
    # the frame's text categories are encoded with the booster's own category lists
    np.testing.assert_allclose(
        attr.values, booster.predict(x[:100], pred_contrib=True)[:, :-1], atol=1e-9
    )


def test_public_explain_on_an_lgbm_classifier() -> None:
    rng = np.random.default_rng(4)
    x = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = (x["a"] + 0.3 * rng.normal(size=300) > 0).astype(int)
    clf = lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(x, y)
    attr = auditor.explain(clf, x)
    check_set(attr, 300, ["a", "b"])
    assert attr.method == "tree_shap"
    assert attr.additivity_error < 1e-9
    raw = clf.predict(x, raw_score=True)
    np.testing.assert_allclose(attr.values.sum(axis=1) + attr.base_values, raw, atol=1e-9)
    assert np.abs(attr.values[:, 0]).mean() > np.abs(attr.values[:, 1]).mean()
    # an array needs feature names, or gets x0, x1, ...
    named = auditor.explain(clf.booster_, x.to_numpy(), feature_names=["a", "b"])
    np.testing.assert_allclose(named.values, attr.values)


def test_public_explain_on_a_torch_module(hiring: tuple[ModelAdapter, np.ndarray]) -> None:
    model, x = hiring
    frame = pd.DataFrame(x[:200], columns=HIRING_FEATURES)
    attr = auditor.explain(model.module, frame, steps=256)  # type: ignore[attr-defined]
    check_set(attr, 200, HIRING_FEATURES)
    assert attr.method == "integrated_gradients"
    assert attr.output_space == "logit"
    assert attr.additivity_error < 1e-2


def test_public_explain_on_a_plain_function() -> None:
    frame = pd.DataFrame({"u": np.linspace(0, 1, 60), "v": np.linspace(1, 0, 60) ** 2})
    attr = auditor.explain(lambda df: 0.2 + 0.5 * df["u"].to_numpy(), frame)
    check_set(attr, 60, ["u", "v"])
    assert attr.method == "permutation_shap"
    np.testing.assert_allclose(attr.values[:, 1], 0.0, atol=1e-12)  # v is never used
    assert attr.additivity_error < 1e-9


def test_unsupported_method_lists_usable_methods(
    credit: tuple[ModelAdapter, np.ndarray, pd.DataFrame],
) -> None:
    model, _, features = credit
    booster = model.booster  # type: ignore[attr-defined]
    with pytest.raises(ExplainError) as exc:
        auditor.explain(booster, features.head(10), method="integrated_gradients")
    assert str(exc.value) == (
        "Method 'integrated_gradients' cannot explain a lightgbm model; use one of: "
        "tree_shap, permutation_shap"
    )
    with pytest.raises(ExplainError, match=r"cannot explain a callable model; use one of: "):
        auditor.explain(lambda df: np.zeros(len(df)), features.head(10), method="tree_shap")
    with pytest.raises(ExplainError, match=r"Unknown explanation method 'anchors'\. Available: "):
        auditor.explain(booster, features.head(10), method="anchors")
