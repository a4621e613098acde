"""``auditor.explain`` takes what notebook users pass, and its errors name the arguments."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import auditor
from auditor.errors import AuditorError

RNG = np.random.default_rng(11)
X = RNG.normal(size=(400, 4))
Y = (X[:, 0] - 0.5 * X[:, 2] + RNG.normal(size=400) > 0).astype(int)


@pytest.fixture(scope="module")
def array_booster() -> lgb.Booster:
    """A Booster trained on a bare numpy array (LightGBM names its inputs Column_i)."""
    return lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 7}, lgb.Dataset(X, Y), 15)


def test_booster_trained_on_an_array_equals_pred_contrib(array_booster: lgb.Booster) -> None:
    attr = auditor.explain(array_booster, X)
    expected = array_booster.predict(X, pred_contrib=True)
    np.testing.assert_allclose(attr.values, expected[:, :-1], rtol=0, atol=1e-10)
    np.testing.assert_allclose(attr.base_values, expected[:, -1], rtol=0, atol=1e-10)
    assert attr.feature_names == ("Column_0", "Column_1", "Column_2", "Column_3")


def test_array_model_takes_any_names_by_position(array_booster: lgb.Booster) -> None:
    frame = pd.DataFrame(X, columns=["income", "debt", "age", "tenure"])
    attr = auditor.explain(array_booster, frame)
    assert attr.feature_names == ("income", "debt", "age", "tenure")
    np.testing.assert_allclose(
        attr.values, array_booster.predict(X, pred_contrib=True)[:, :-1], atol=1e-10
    )
    named = auditor.explain(array_booster, X, feature_names=list("abcd"))
    assert named.feature_names == ("a", "b", "c", "d")


def test_lgbm_sklearn_wrapper_on_an_array() -> None:
    clf = lgb.LGBMClassifier(n_estimators=10, num_leaves=7, verbose=-1).fit(X, Y)
    attr = auditor.explain(clf, X[:50])
    raw = clf.predict(X[:50], raw_score=True)
    np.testing.assert_allclose(attr.values.sum(axis=1) + attr.base_values, raw, atol=1e-10)


def test_named_model_gets_an_array_in_its_own_names_and_a_frame_reordered() -> None:
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    booster = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(frame, Y), 10)
    from_array = auditor.explain(booster, X)
    assert from_array.feature_names == ("a", "b", "c", "d")
    shuffled = auditor.explain(booster, frame[["d", "b", "a", "c"]])
    np.testing.assert_allclose(shuffled.values, from_array.values, atol=1e-12)


def test_fitted_sklearn_pipeline_with_text_column() -> None:
    frame = pd.DataFrame(
        {"income": X[:, 0], "region": np.where(X[:, 1] > 0, "north", "south"), "age": X[:, 2]}
    )
    pipe = make_pipeline(
        ColumnTransformer(
            [("num", StandardScaler(), ["income", "age"]), ("cat", OneHotEncoder(), ["region"])]
        ),
        LogisticRegression(),
    ).fit(frame, Y)
    attr = auditor.explain(pipe, frame.head(8), background=10)
    assert attr.method == "permutation_shap"
    assert attr.feature_names == ("income", "region", "age")
    proba = pipe.predict_proba(frame.head(8))[:, 1]
    np.testing.assert_allclose(attr.values.sum(axis=1) + attr.base_values, proba, atol=1e-9)


@pytest.mark.parametrize(
    ("model", "x", "kwargs", "words"),
    [
        ("array", X[:, :3], {}, "x has 3 column(s) but the model was trained on 4"),
        ("array", X[0], {}, "x must be 2-D"),
        ("array", X, {"feature_names": ["a", "b"]}, "feature_names has 2 name(s)"),
        ("named", pd.DataFrame(X, columns=list("abce")), {}, "missing from the columns of x"),
        ("unfitted", X, {}, "LGBMClassifier is not fitted"),
        ("unfitted_pipe", X, {}, "Pipeline is not fitted"),
    ],
)
def test_errors_speak_of_arguments(
    array_booster: lgb.Booster, model: str, x: object, kwargs: dict[str, object], words: str
) -> None:
    models = {
        "array": array_booster,
        "named": lgb.train(
            {"objective": "binary", "verbose": -1},
            lgb.Dataset(pd.DataFrame(X, columns=list("abcd")), Y),
            3,
        ),
        "unfitted": lgb.LGBMClassifier(),
        "unfitted_pipe": make_pipeline(StandardScaler(), LogisticRegression()),
    }
    with pytest.raises(AuditorError) as exc:
        auditor.explain(models[model], x, **kwargs)  # type: ignore[arg-type]
    assert words in str(exc.value)
    assert "columns.features" not in str(exc.value)
    assert "spec" not in str(exc.value)


def test_permutation_shap_reports_rows_and_gives_the_same_values() -> None:
    from auditor.explain.progress import listening

    frame = pd.DataFrame(X[:45], columns=list("abcd"))

    def predict(df: pd.DataFrame) -> np.ndarray:
        return np.asarray(1 / (1 + np.exp(-(df["a"] * df["b"] - df["c"]))))

    quiet = auditor.explain(predict, frame, background=20)
    seen: list[tuple[int, int]] = []
    with listening(lambda done, total: seen.append((done, total))):
        told = auditor.explain(predict, frame, background=20)
    assert seen == [(20, 45), (40, 45), (45, 45)]
    np.testing.assert_array_equal(told.values, quiet.values)
    np.testing.assert_array_equal(told.base_values, quiet.base_values)
