"""Model loading: corrupt, untrusted and mismatched models fail with a clear ModelLoadError."""

from __future__ import annotations

import json
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import torch
import yaml
from sklearn.linear_model import LogisticRegression

from auditor.data import load_decisions
from auditor.demo import CREDIT_FEATURES, HIRING_FEATURES, HIRING_HIDDEN, DemoCase
from auditor.errors import ModelLoadError
from auditor.models import load_model
from auditor.models.mlp import TabularMLP
from auditor.spec import AuditSpec, load_spec

MLP_MODULE = "auditor.models.mlp:TabularMLP"
MLP_INIT = {"n_features": len(HIRING_FEATURES), "hidden": HIRING_HIDDEN}


def spec_with(case: DemoCase, **changes: Any) -> AuditSpec:
    """The demo spec of ``case`` with top-level keys replaced (paths made absolute)."""
    data = yaml.safe_load(case.spec_path.read_text(encoding="utf-8"))
    folder = case.spec_path.parent
    data["data"]["path"] = str(folder / data["data"]["path"])
    data["model"]["path"] = str(folder / data["model"]["path"])
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return load_spec(data)


def columns(case: DemoCase, features: list[str]) -> dict[str, Any]:
    data = yaml.safe_load(case.spec_path.read_text(encoding="utf-8"))
    return {**data["columns"], "features": features}


def load_error(spec: AuditSpec) -> str:
    with pytest.raises(ModelLoadError) as exc:
        load_model(spec)
    return str(exc.value)


# --- LightGBM -------------------------------------------------------------------------


def test_lightgbm_model_loads_and_scores(credit_case: DemoCase) -> None:
    spec = spec_with(credit_case)
    model = load_model(spec)
    assert model is not None
    assert model.kind == "lightgbm"
    assert model.output_space == "log-odds"
    assert model.feature_names == tuple(CREDIT_FEATURES)
    x = model.encode(load_decisions(spec).features.head(50))
    raw = model.booster.predict(x, raw_score=True)  # type: ignore[attr-defined]
    np.testing.assert_allclose(model.output(x), raw)
    np.testing.assert_allclose(model.score(x), 1 / (1 + np.exp(-raw)))


def test_corrupt_lightgbm_random_bytes(credit_case: DemoCase, tmp_path: Path) -> None:
    path = tmp_path / "random.txt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    message = load_error(spec_with(credit_case, model={"path": str(path)}))
    assert str(path) in message
    assert "LightGBM model file" in message


@pytest.mark.parametrize("keep", [0.02, 0.5, 0.9, 0.995])
def test_truncated_lightgbm_file_is_refused_without_crashing(
    credit_case: DemoCase, tmp_path: Path, keep: float
) -> None:
    # LightGBM itself segfaults on most truncations; the adapter must refuse them first
    text = (credit_case.spec_path.parent / "credit_lgbm.txt").read_bytes()
    path = tmp_path / "truncated.txt"
    path.write_bytes(text[: int(len(text) * keep)])
    message = load_error(spec_with(credit_case, model={"path": str(path)}))
    assert str(path) in message
    assert "LightGBM model file" in message


def test_lightgbm_file_with_a_deleted_line_is_refused(
    credit_case: DemoCase, tmp_path: Path
) -> None:
    lines = (credit_case.spec_path.parent / "credit_lgbm.txt").read_bytes().split(b"\n")
    tree = lines.index(b"Tree=3")
    del lines[tree + 4]
    path = tmp_path / "edited.txt"
    path.write_bytes(b"\n".join(lines))
    message = load_error(spec_with(credit_case, model={"path": str(path)}))
    assert str(path) in message
    assert "truncated or corrupt" in message


def test_lightgbm_json_dump_is_refused_with_advice(credit_case: DemoCase, tmp_path: Path) -> None:
    booster = lgb.Booster(model_file=str(credit_case.spec_path.parent / "credit_lgbm.txt"))
    path = tmp_path / "model.json"
    path.write_text(json.dumps(booster.dump_model()), encoding="utf-8")
    message = load_error(spec_with(credit_case, model={"path": str(path)}))
    assert str(path) in message
    assert "JSON dump" in message
    assert "save_model()" in message


def test_missing_model_file(credit_case: DemoCase, tmp_path: Path) -> None:
    message = load_error(spec_with(credit_case, model={"path": str(tmp_path / "gone.txt")}))
    assert message == f"Model file not found: {tmp_path / 'gone.txt'}"


def test_lightgbm_feature_mismatch_names_missing_features(credit_case: DemoCase) -> None:
    features = [f for f in CREDIT_FEATURES if f not in ("savings", "job")]
    # the demo's letters section names savings as actionable: leave letters out here
    spec = spec_with(credit_case, columns=columns(credit_case, features), letters=None)
    message = load_error(spec)
    assert "the model needs feature(s) not in columns.features: ['savings', 'job']" in message


def test_lightgbm_feature_mismatch_names_extra_features(credit_case: DemoCase) -> None:
    # (not 'age': a credit spec with letters refuses an unmapped prohibited basis first)
    features = [*CREDIT_FEATURES, "branch_code"]
    message = load_error(spec_with(credit_case, columns=columns(credit_case, features)))
    assert "columns.features lists feature(s) the model does not use: ['branch_code']" in message


def test_lightgbm_feature_mismatch_reordered(credit_case: DemoCase) -> None:
    features = list(CREDIT_FEATURES)
    features[0], features[1] = features[1], features[0]
    message = load_error(spec_with(credit_case, columns=columns(credit_case, features)))
    assert "the order differs" in message
    assert "'duration', 'checking_status'" in message


def test_text_in_a_numeric_lightgbm_feature_names_the_column(
    credit_case: DemoCase, tmp_path: Path
) -> None:
    df = pd.read_csv(credit_case.spec_path.parent / "german_credit.csv", nrows=60)
    df["duration"] = df["duration"].astype(object)
    df.loc[[3, 7], "duration"] = "twelve months"
    path = tmp_path / "credit.csv"
    df.to_csv(path, index=False)
    spec = spec_with(credit_case, data={"path": str(path)})
    model = load_model(spec)
    assert model is not None
    features = load_decisions(spec).features
    with pytest.raises(ModelLoadError) as exc:
        model.encode(features)
    (problem,) = exc.value.problems
    assert problem == (
        "column 'duration' holds text (e.g. ['twelve months'] at row(s) 4, 8) but the model "
        "expects numbers"
    )


def test_unseen_category_is_missing_not_an_error(credit_case: DemoCase) -> None:
    spec = spec_with(credit_case)
    model = load_model(spec)
    assert model is not None
    features = load_decisions(spec).features.head(3).copy()
    features.loc[0, "purpose"] = "space travel"
    x = model.encode(features)
    j = CREDIT_FEATURES.index("purpose")
    assert np.isnan(x[0, j])
    assert not np.isnan(x[1, j])


def test_integer_categories_match_float_data(tmp_path: Path) -> None:
    # a CSV column of integer codes with one blank is read as floats (1.0, 2.0, NaN):
    # the codes must still match the model's integer categories, as in LightGBM itself
    rng = np.random.default_rng(0)
    n = 600
    x = pd.DataFrame({"grade": pd.Categorical(rng.integers(1, 4, n)), "v": rng.normal(size=n)})
    y = ((x["grade"].astype(int) == 3) ^ (rng.uniform(size=n) < 0.1)).astype(int)
    params = {"objective": "binary", "verbose": -1, "min_data_per_group": 5, "cat_smooth": 1}
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=20)
    path = tmp_path / "grades.txt"
    booster.save_model(str(path))
    spec = load_spec(
        {
            "name": "grades",
            "domain": "credit",
            "model": {"path": str(path), "kind": "lightgbm"},
            "data": {"path": "unused.csv"},
            "columns": {"id": "id", "features": ["grade", "v"]},
            "protected": ["sex"],
        }
    )
    model = load_model(spec)
    assert model is not None
    data = pd.DataFrame({"grade": [1.0, 2.0, 3.0, np.nan], "v": [0.0] * 4})
    x_enc = model.encode(data)
    np.testing.assert_array_equal(x_enc[:3, 0], [0, 1, 2])
    assert np.isnan(x_enc[3, 0])
    as_categorical = pd.DataFrame(
        {"grade": pd.Categorical([1, 2, 3, None], categories=[1, 2, 3]), "v": [0.0] * 4}
    )
    np.testing.assert_allclose(model.score(x_enc), booster.predict(as_categorical))


def test_multiclass_lightgbm_is_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = rng.integers(0, 3, size=300)
    params = {"objective": "multiclass", "num_class": 3, "verbose": -1}
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=3)
    path = tmp_path / "multi.txt"
    booster.save_model(str(path))
    spec = load_spec(
        {
            "name": "multi",
            "domain": "credit",
            "model": {"path": str(path), "kind": "lightgbm"},
            "data": {"path": "unused.csv"},
            "columns": {"id": "id", "features": ["a", "b"]},
            "protected": ["sex"],
        }
    )
    assert "multiclass LightGBM models are not supported" in load_error(spec)


# --- PyTorch --------------------------------------------------------------------------


def hiring_matrix(case: DemoCase, rows: int = 200) -> np.ndarray:
    df = pd.read_csv(case.spec_path.parent / "hiring.csv", nrows=rows)
    return df[HIRING_FEATURES].to_numpy(np.float64)


def trained_mlp(case: DemoCase) -> TabularMLP:
    module = TabularMLP(**MLP_INIT)  # type: ignore[arg-type]
    state = torch.load(case.spec_path.parent / "hiring_mlp.pt", weights_only=True)
    module.load_state_dict(state)
    return module.eval()


def test_torch_state_dict_loads_with_weights_only(
    hiring_case: DemoCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    real_load = torch.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    model = load_model(spec_with(hiring_case))
    assert model is not None
    assert model.kind == "torch"
    assert model.output_space == "logit"
    assert calls
    assert all(c.get("weights_only") is True for c in calls)
    x = hiring_matrix(hiring_case)
    with torch.no_grad():
        expected = trained_mlp(hiring_case)(torch.as_tensor(x, dtype=torch.float32))
    np.testing.assert_allclose(model.output(x), expected.double().numpy(), rtol=1e-6)
    assert np.all((model.score(x) > 0) & (model.score(x) < 1))


class _Exploit:
    """Unpickling this object writes a file: proof that arbitrary code would run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.write_text, (self.marker, "code ran"))


@pytest.mark.parametrize("module", [MLP_MODULE, None])
def test_pickled_module_is_refused_and_runs_no_code(
    hiring_case: DemoCase, tmp_path: Path, module: str | None
) -> None:
    marker = tmp_path / "marker.txt"
    path = tmp_path / "whole_module.pt"
    torch.save({"model": trained_mlp(hiring_case), "payload": _Exploit(marker)}, path)
    model_spec: dict[str, Any] = {"path": str(path), "module": module}
    if module is None:
        model_spec["init"] = {}
    message = load_error(spec_with(hiring_case, model=model_spec))
    assert str(path) in message
    if module is not None:
        assert "weights_only" in message
        assert "arbitrary Python objects are refused" in message
    else:
        assert "not a TorchScript file" in message
    assert not marker.exists()
    assert "\x1b[" not in message  # torch's terminal colours are stripped


def test_whole_nn_module_pickle_is_refused(hiring_case: DemoCase, tmp_path: Path) -> None:
    path = tmp_path / "module.pt"
    torch.save(trained_mlp(hiring_case), path)
    message = load_error(spec_with(hiring_case, model={"path": str(path)}))
    assert "cannot read as a state dict with weights_only=True" in message


@pytest.mark.parametrize("corruption", ["random", "truncated"])
def test_corrupt_torch_file(hiring_case: DemoCase, tmp_path: Path, corruption: str) -> None:
    good = (hiring_case.spec_path.parent / "hiring_mlp.pt").read_bytes()
    path = tmp_path / "corrupt.pt"
    path.write_bytes(os.urandom(len(good)) if corruption == "random" else good[: len(good) // 2])
    message = load_error(spec_with(hiring_case, model={"path": str(path)}))
    assert str(path) in message
    assert "not a PyTorch model file" in message


def test_torch_refuses_missing_feature_values(hiring_case: DemoCase) -> None:
    # a NaN input gives a NaN score, which would silently become an unfavourable decision
    model = load_model(spec_with(hiring_case))
    assert model is not None
    frame = pd.DataFrame(hiring_matrix(hiring_case, rows=20), columns=HIRING_FEATURES)
    frame.loc[[2, 9], "skills_test"] = np.nan
    with pytest.raises(ModelLoadError) as exc:
        model.encode(frame)
    assert "a torch model cannot take missing feature values" in str(exc.value)
    assert exc.value.problems == ("column 'skills_test': missing value(s) at row(s) 3, 10",)


def test_torch_wrong_feature_count_in_the_spec(hiring_case: DemoCase) -> None:
    features = HIRING_FEATURES[:-1]
    spec = spec_with(hiring_case, columns=columns(hiring_case, features))
    message = load_error(spec)
    assert "does not accept 5 features" in message


def test_torch_weights_that_do_not_fit_the_module(hiring_case: DemoCase) -> None:
    spec = spec_with(hiring_case, model={"init": {**MLP_INIT, "n_features": 5}})
    message = load_error(spec)
    assert "the weights do not fit auditor.models.mlp:TabularMLP(**model.init)" in message


def test_torch_module_that_cannot_be_imported(hiring_case: DemoCase) -> None:
    spec = spec_with(hiring_case, model={"module": "auditor.models.mlp:NoSuchNet"})
    assert "model.module: cannot import 'auditor.models.mlp:NoSuchNet'" in load_error(spec)


def test_torchscript_file_loads_and_scores_like_the_module(
    hiring_case: DemoCase, tmp_path: Path
) -> None:
    module = trained_mlp(hiring_case)
    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script is deprecated
        torch.jit.script(module).save(str(path))
    spec = spec_with(hiring_case, model={"path": str(path), "module": None, "init": {}})
    model = load_model(spec)
    assert model is not None
    assert model.kind == "torch"
    x = hiring_matrix(hiring_case)
    with torch.no_grad():
        expected = module(torch.as_tensor(x, dtype=torch.float32)).double().numpy()
    np.testing.assert_allclose(model.output(x), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.score(x), 1 / (1 + np.exp(-expected)), rtol=1e-6)


def test_torchscript_with_wrong_feature_count(hiring_case: DemoCase, tmp_path: Path) -> None:
    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(trained_mlp(hiring_case)).save(str(path))
    spec = spec_with(
        hiring_case,
        model={"path": str(path), "module": None, "init": {}},
        columns=columns(hiring_case, HIRING_FEATURES[:4]),
    )
    message = load_error(spec)
    assert str(path) in message
    assert "does not accept 4 features" in message


# --- scikit-learn ---------------------------------------------------------------------


class CustomLogisticRegression(LogisticRegression):
    """A user-defined estimator class: skops does not trust it by default."""


def sklearn_data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(3)
    x = pd.DataFrame(
        {"income": rng.normal(50, 10, 400), "debt": rng.normal(10, 3, 400)},
    )
    y = (0.1 * x["income"] - 0.4 * x["debt"] + rng.normal(0, 1, 400) > 1).astype(int)
    return x, y.to_numpy()


def sklearn_spec(path: Path, *, trusted: bool = False, features: list[str] | None = None) -> Any:
    return load_spec(
        {
            "name": "sk",
            "domain": "credit",
            "model": {"path": str(path), "kind": "sklearn", "trusted": trusted},
            "data": {"path": "unused.csv"},
            "columns": {"id": "id", "features": features or ["income", "debt"]},
            "protected": ["sex"],
        }
    )


def test_skops_logistic_regression_loads_and_scores(tmp_path: Path) -> None:
    x, y = sklearn_data()
    lr = LogisticRegression().fit(x, y)
    path = tmp_path / "lr.skops"
    sio.dump(lr, path)
    model = load_model(sklearn_spec(path))
    assert model is not None
    assert model.kind == "sklearn"
    assert model.output_space == "probability"
    np.testing.assert_allclose(model.score(model.encode(x)), lr.predict_proba(x)[:, 1])


def test_skops_model_fitted_on_an_array_scores_without_warnings(tmp_path: Path) -> None:
    x, y = sklearn_data()
    lr = LogisticRegression().fit(x.to_numpy(), y)  # no feature names
    path = tmp_path / "lr.skops"
    sio.dump(lr, path)
    model = load_model(sklearn_spec(path))
    assert model is not None
    # filterwarnings=error: a "fitted without feature names" warning would fail here
    np.testing.assert_allclose(model.score(model.encode(x)), lr.predict_proba(x.to_numpy())[:, 1])


def test_skops_feature_mismatch_is_named(tmp_path: Path) -> None:
    x, y = sklearn_data()
    path = tmp_path / "lr.skops"
    sio.dump(LogisticRegression().fit(x, y), path)
    with pytest.raises(ModelLoadError) as exc:
        load_model(sklearn_spec(path, features=["debt", "income"]))
    assert str(path) in str(exc.value)
    assert "the order differs" in str(exc.value)
    with pytest.raises(ModelLoadError, match=r"not in columns.features: \['debt'\]"):
        load_model(sklearn_spec(path, features=["income"]))


@pytest.mark.parametrize("suffix", [".pkl", ".joblib"])
def test_pickle_and_joblib_need_trusted(tmp_path: Path, suffix: str) -> None:
    x, y = sklearn_data()
    lr = LogisticRegression().fit(x, y)
    path = tmp_path / f"model{suffix}"
    if suffix == ".pkl":
        path.write_bytes(pickle.dumps(lr))
    else:
        joblib.dump(lr, path)
    with pytest.raises(ModelLoadError) as exc:
        load_model(sklearn_spec(path))
    message = str(exc.value)
    assert str(path) in message
    assert "refusing to load a pickle/joblib file" in message
    assert "model.trusted: true" in message
    model = load_model(sklearn_spec(path, trusted=True))
    assert model is not None
    np.testing.assert_allclose(model.score(model.encode(x)), lr.predict_proba(x)[:, 1])


def test_untrusted_pickle_runs_no_code(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(_Exploit(marker)))
    with pytest.raises(ModelLoadError, match="refusing to load a pickle"):
        load_model(sklearn_spec(path))
    assert not marker.exists()


def test_skops_with_a_custom_type_needs_trusted(tmp_path: Path) -> None:
    x, y = sklearn_data()
    model = CustomLogisticRegression().fit(x, y)
    path = tmp_path / "custom.skops"
    sio.dump(model, path)
    with pytest.raises(ModelLoadError) as exc:
        load_model(sklearn_spec(path))
    message = str(exc.value)
    assert str(path) in message
    assert "CustomLogisticRegression" in message
    assert "set model.trusted: true" in message
    loaded = load_model(sklearn_spec(path, trusted=True))
    assert loaded is not None
    np.testing.assert_allclose(loaded.score(loaded.encode(x)), model.predict_proba(x)[:, 1])


def test_corrupt_skops_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.skops"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelLoadError, match=r"broken\.skops: not a readable skops model file"):
        load_model(sklearn_spec(path))
