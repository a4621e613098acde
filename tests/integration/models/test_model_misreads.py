"""Real models read right, or the audit stops with exit 2 naming the class or feature
(issue 17, item 4): the favourable class, multiclass models, feature order, categories
LightGBM never saw in training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import yaml
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import auditor
from auditor.cli import app
from auditor.errors import ModelLoadError
from auditor.models import load_model, wrap_model
from auditor.spec import load_spec

runner = CliRunner()


def _frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "tenure": rng.normal(5, 2, n),
            "rating": rng.normal(3, 1, n),
            "sex": rng.choice(["F", "M"], n),
        }
    )


def _write(tmp_path: Path, model: Any, kind: str, name: str, **spec: Any) -> Path:
    frame = _frame()
    frame.to_csv(tmp_path / "data.csv", index=False)
    if kind == "sklearn":
        sio.dump(model, tmp_path / name)
    doc = {
        "name": "misread",
        "domain": "hiring",
        "model": {"path": str(tmp_path / name), "kind": kind},
        "data": {"path": str(tmp_path / "data.csv")},
        "columns": {"id": "id", "features": ["tenure", "rating"]},
        "protected": ["sex"],
        "explain": {"method": "none"},
        **spec,
    }
    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _exit_2(spec: Path, *expected: str) -> str:
    res = runner.invoke(app, ["audit", str(spec), "--no-store", "-q"])
    assert res.exit_code == 2, res.output
    assert isinstance(res.exception, SystemExit)
    assert "Traceback" not in res.output
    for text in expected:
        assert text in res.output, res.output
    return res.output


def _promotion_model(labels: tuple[str, ...] = ("promoted", "stayed")) -> LogisticRegression:
    frame = _frame()
    x = frame[["tenure", "rating"]]
    code = (frame["rating"] > 3).astype(int)
    if len(labels) > 2:
        code += (frame["tenure"] > 6).astype(int)
    y = np.asarray(labels)[code.to_numpy()]
    return LogisticRegression().fit(x, y)


def test_favorable_not_a_class_exits_2_naming_the_classes(tmp_path: Path) -> None:
    spec = _write(tmp_path, _promotion_model(), "sklearn", "m.skops", favorable=1)
    _exit_2(spec, "favourable value 1 is not one of the model's classes", "'promoted'", "'stayed'")


def test_favorable_class_is_the_column_audited(tmp_path: Path) -> None:
    model = _promotion_model()
    spec = _write(tmp_path, model, "sklearn", "m.skops", favorable="promoted")
    adapter = load_model(load_spec(spec))
    assert adapter is not None
    x = _frame()[["tenure", "rating"]]
    want = model.predict_proba(x)[:, list(model.classes_).index("promoted")]
    # not P(stayed) = 1 - want; to 1e-12, not bit for bit: the adapter hands sklearn a numpy
    # array, the frame's memory order differs between pandas majors, and BLAS sums in that order
    np.testing.assert_allclose(adapter.score(adapter.encode(x)), want, rtol=0, atol=1e-12)


def test_multiclass_needs_an_explicit_favorable_class(tmp_path: Path) -> None:
    model = _promotion_model(("fail", "ok", "good"))
    spec = _write(tmp_path, model, "sklearn", "m.skops")
    _exit_2(spec, "3 classes", "'fail'", "'good'", "'ok'", "name the favourable one")
    spec = _write(tmp_path, model, "sklearn", "m.skops", favorable="good")
    adapter = load_model(load_spec(spec))
    assert adapter is not None
    x = _frame()[["tenure", "rating"]]
    want = model.predict_proba(x)[:, list(model.classes_).index("good")]
    np.testing.assert_allclose(adapter.score(adapter.encode(x)), want, rtol=0, atol=1e-12)
    with pytest.raises(ModelLoadError, match="3 classes"):
        wrap_model(model, ["tenure", "rating"])


def test_favorable_given_as_text_matches_a_numeric_class(tmp_path: Path) -> None:
    frame = _frame()
    model = LogisticRegression().fit(frame[["tenure", "rating"]], frame["rating"] > 3)
    spec = _write(tmp_path, model, "sklearn", "m.skops", favorable="True")
    assert load_model(load_spec(spec)) is not None


def test_sklearn_without_names_is_stated_unchecked(tmp_path: Path) -> None:
    frame = _frame()
    model = LogisticRegression().fit(frame[["tenure", "rating"]].to_numpy(), frame["rating"] > 3)
    spec = _write(tmp_path, model, "sklearn", "m.skops", favorable=True)
    result = auditor.run_audit(spec)
    assert result.dataset.model_input["feature_order"] == "unchecked"
    assert any("feature order unchecked" in w for w in result.warnings)
    named = LogisticRegression().fit(frame[["tenure", "rating"]], frame["rating"] > 3)
    result = auditor.run_audit(_write(tmp_path, named, "sklearn", "n.skops", favorable=True))
    assert result.dataset.model_input["feature_order"] == "checked"


def test_sklearn_feature_count_mismatch_exits_2(tmp_path: Path) -> None:
    frame = _frame()
    x = np.c_[frame[["tenure", "rating"]].to_numpy(), frame["tenure"].to_numpy()]
    model = LogisticRegression().fit(x, frame["rating"] > 3)
    spec = _write(tmp_path, model, "sklearn", "m.skops", favorable=True)
    _exit_2(spec, "fitted on 3 feature(s)", "tenure", "rating")


def test_sklearn_swapped_feature_names_exit_2(tmp_path: Path) -> None:
    frame = _frame()
    model = LogisticRegression().fit(frame[["rating", "tenure"]], frame["rating"] > 3)
    spec = _write(tmp_path, model, "sklearn", "m.skops", favorable=True)
    _exit_2(spec, "the order differs", "['rating', 'tenure']")


def _torch_checkpoint(tmp_path: Path, names: list[str] | None) -> Path:
    torch = pytest.importorskip("torch")
    from auditor.models.mlp import TabularMLP

    torch.manual_seed(0)
    net = TabularMLP(2, hidden=(4,))
    state: dict[str, Any] = {"state_dict": net.state_dict()}
    if names is not None:
        state["feature_names"] = names
    path = tmp_path / "net.pt"
    torch.save(state, path)
    return path


def _torch_spec(tmp_path: Path, names: list[str] | None) -> Path:
    _torch_checkpoint(tmp_path, names)
    spec = _write(tmp_path, None, "torch", "net.pt")
    doc = yaml.safe_load(spec.read_text(encoding="utf-8"))
    doc["model"].update(
        {"module": "auditor.models.mlp:TabularMLP", "init": {"n_features": 2, "hidden": [4]}}
    )
    spec.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return spec


def test_torch_features_in_the_wrong_order_exit_2(tmp_path: Path) -> None:
    _exit_2(_torch_spec(tmp_path, ["rating", "tenure"]), "the order differs", "'rating'")


def test_torch_names_checked_or_stated_unchecked(tmp_path: Path) -> None:
    result = auditor.run_audit(_torch_spec(tmp_path, ["tenure", "rating"]))
    assert result.dataset.model_input["feature_order"] == "checked"
    result = auditor.run_audit(_torch_spec(tmp_path, None))
    assert result.dataset.model_input["feature_order"] == "unchecked"
    assert "torch model carries no feature names" in result.dataset.model_input[
        "feature_order_note"
    ]


def _lgb_with_categories(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    n = 300
    train = pd.DataFrame(
        {
            "tenure": rng.normal(5, 2, n),
            "dept": pd.Categorical(rng.choice(["ops", "sales", "tech"], n)),
        }
    )
    y = ((train["dept"] == "tech") | (train["tenure"] > 6)).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_in_leaf": 5, "cat_smooth": 1},
        lgb.Dataset(train, y),
        10,
    )
    booster.save_model(str(tmp_path / "m.txt"))
    data = pd.DataFrame(
        {
            "id": np.arange(120),
            "tenure": rng.normal(5, 2, 120),
            # 7 rows in a department the model never saw, 5 missing
            "dept": ["legal"] * 7 + [None] * 5 + list(rng.choice(["ops", "sales", "tech"], 108)),
            "sex": rng.choice(["F", "M"], 120),
        }
    )
    data.to_csv(tmp_path / "data.csv", index=False)
    doc = {
        "name": "unseen",
        "domain": "hiring",
        "model": {"path": str(tmp_path / "m.txt"), "kind": "lightgbm"},
        "data": {"path": str(tmp_path / "data.csv")},
        "columns": {"id": "id", "features": ["tenure", "dept"]},
        "protected": ["sex"],
        "explain": {"method": "none"},
    }
    path = tmp_path / "audit.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize("engine", [None, {"chunk_rows": 50}])
def test_lightgbm_unseen_categories_are_counted_and_warned(
    tmp_path: Path, engine: dict[str, int] | None
) -> None:
    spec = load_spec(_lgb_with_categories(tmp_path))
    if engine:
        spec = spec.model_copy(update={"engine": spec.engine.model_validate(engine)})
    result = auditor.run_audit(spec)
    assert result.dataset.model_input["unseen_categories"] == {"dept": 7}  # not the 5 missing
    assert result.dataset.model_input["feature_order"] == "checked"
    assert any("never saw in training" in w and "'dept': 7 row(s)" in w for w in result.warnings)


def test_lightgbm_trained_on_an_array_is_stated_unchecked(tmp_path: Path) -> None:
    frame = _frame()
    booster = lgb.train(
        {"objective": "binary", "verbose": -1},
        lgb.Dataset(frame[["tenure", "rating"]].to_numpy(), (frame["rating"] > 3).astype(int)),
        5,
    )
    booster.save_model(str(tmp_path / "m.txt"))
    result = auditor.run_audit(_write(tmp_path, None, "lightgbm", "m.txt"))
    assert result.dataset.model_input["feature_order"] == "unchecked"


def test_unseen_counts_from_merged_value_counts_match_the_row_count() -> None:
    """The Spark engine counts from its merged census; the same numbers as from rows."""
    from auditor.metrics.slices import category_counts
    from auditor.models.checks import unseen_categories, unseen_from_counts

    col = pd.Series(["ops", "legal", None, "tech", "legal", "hr", np.nan], name="dept")
    cats = {"dept": ["ops", "sales", "tech"], "other": None}
    from_rows = unseen_categories(pd.DataFrame({"dept": col}), cats)
    from_counts = unseen_from_counts({"dept": category_counts(col)}, cats)
    assert from_rows == from_counts == {"dept": 3}
