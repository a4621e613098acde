"""The registry's interventional mode: what the letters explain with, via the registry."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from auditor.explain import AttributionSet, explainer_names, get_explainer
from auditor.letters.attribution import baseline_attributions
from auditor.models import wrap_model


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 4))
    y = (x[:, 0] - 0.7 * x[:, 1] + 0.3 * rng.normal(size=300) > 0).astype(int)
    return x, y


def test_registry_mode_is_what_the_letters_use(data: tuple[np.ndarray, np.ndarray]) -> None:
    x, y = data
    booster = lgb.train(
        {"objective": "binary", "num_leaves": 7, "verbose": -1, "seed": 1},
        lgb.Dataset(x, y, feature_name=["a", "b", "c", "d"]),
        num_boost_round=15,
    )
    model = wrap_model(booster, ["a", "b", "c", "d"])
    assert "interventional" in explainer_names()
    explainer = get_explainer("interventional")
    assert explainer.supports(model)
    values, base, params = explainer.explain(model, x[:8], background=x[100:120], steps=8)
    letters = baseline_attributions(model, x[:8], x[100:120])
    assert isinstance(letters, AttributionSet)
    assert letters.method == params["method"] == "interventional_tree_shap"
    np.testing.assert_array_equal(values, letters.values)
    np.testing.assert_array_equal(base, letters.base_values)
    # exact: the attributions add up to the output's distance from the baseline mean
    np.testing.assert_allclose(values.sum(axis=1) + base, model.output(x[:8]), atol=1e-8)
    assert letters.additivity_error < 1e-8
    assert letters.feature_names == ("a", "b", "c", "d")


def test_other_models_are_sampled_seeded_and_additive(
    data: tuple[np.ndarray, np.ndarray],
) -> None:
    x, y = data
    model = wrap_model(LogisticRegression().fit(x, y), ["a", "b", "c", "d"])
    first = baseline_attributions(model, x[:6], x[50:60], permutations=4, seed=2)
    again = baseline_attributions(model, x[:6], x[50:60], permutations=4, seed=2)
    assert first.method == "interventional_permutation_shap"
    np.testing.assert_array_equal(first.values, again.values)
    assert first.additivity_error < 1e-9
    assert first.params["permutations"] == 4
