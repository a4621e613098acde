"""Property-based: every audit of a random small frame completes or stops with the
tool's user error (exit 2), never a traceback (issue 17, item 4).

Frames mix the dtypes real files bring: text with blanks and missing values, numbers as
text, integers, floats with NaN, booleans, pandas categories; some audits score the rows
with a LightGBM model trained on pandas categories (so unseen categories, text in a
numeric feature and missing values all reach the model). The budget is bounded (a few
dozen examples, no shrinking deadline) so the file stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import auditor
from auditor.errors import AuditorError

TEXT = st.sampled_from(["a", "b", "B ", " ", "", "?", "n/a", "1", "2.5", "x y", "é"])


def column(kind: str, n: int) -> st.SearchStrategy[list[Any]]:
    """Values of one column of ``kind`` (missing values drawn in every kind)."""
    missing = st.sampled_from([None, np.nan])
    base: dict[str, st.SearchStrategy[Any]] = {
        "text": TEXT,
        "int": st.integers(-3, 3),
        "float": st.floats(-1e3, 1e3, allow_nan=False),
        "many_floats": st.floats(0, 100, allow_nan=False),
        "bool": st.booleans(),
    }
    return st.lists(st.one_of(base[kind], missing), min_size=n, max_size=n)


KINDS = st.sampled_from(["text", "int", "float", "many_floats", "bool"])


@st.composite
def frames(draw: st.DrawFn) -> tuple[pd.DataFrame, dict[str, Any]]:
    n = draw(st.integers(0, 40))
    data: dict[str, Any] = {"id": list(range(n))}
    protected_kind = draw(KINDS)
    data["grp"] = draw(column(protected_kind, n))
    outcome = draw(st.sampled_from(["01", "text", "with_missing", "bool"]))
    if outcome == "01":
        data["decision"] = draw(st.lists(st.integers(0, 1), min_size=n, max_size=n))
    elif outcome == "text":
        data["decision"] = draw(st.lists(st.sampled_from(["yes", "no"]), min_size=n, max_size=n))
    elif outcome == "bool":
        data["decision"] = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    else:
        data["decision"] = draw(column("int", n))
    features = []
    for i in range(draw(st.integers(0, 2))):
        name = f"f{i}"
        data[name] = draw(column(draw(KINDS), n))
        features.append(name)
    frame = pd.DataFrame(data)
    if draw(st.booleans()) and n:
        frame["grp"] = frame["grp"].astype("category")
    favorable = {"01": 1, "text": "yes", "with_missing": 1, "bool": True}[outcome]
    spec = {
        "columns": {"id": "id", "decision": "decision", "features": features},
        "favorable": favorable,
        "min_group_size": draw(st.integers(1, 30)),
    }
    return frame, spec


def _audit(tmp: Path, frame: pd.DataFrame, spec: dict[str, Any]) -> None:
    path = tmp / "d.csv"
    frame.to_csv(path, index=False)
    full = {
        "name": "prop",
        "domain": "hiring",
        "data": {"path": str(path)},
        "protected": ["grp"],
        "policies": ["eeoc_ugesp"],
        "explain": {"max_rows": 20, "background": 10, "quality": {"enabled": False}},
        **spec,
    }
    message = "completed"
    try:
        auditor.run_audit(full)
    except AuditorError as exc:  # the CLI prints it and exits 2; anything else is a bug
        message = str(exc)
    assert message.strip()


@settings(
    max_examples=25,
    database=None,  # no .hypothesis folder in the checkout
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=frames())
def test_decisions_only_audits_complete_or_exit_2(
    case: tuple[pd.DataFrame, dict[str, Any]], tmp_path: Path
) -> None:
    frame, spec = case
    _audit(tmp_path, frame, spec)


@pytest.fixture(scope="module")
def category_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    n = 200
    x = pd.DataFrame(
        {
            "f0": pd.Categorical(rng.choice(["a", "b", "?"], n)),
            "f1": rng.normal(0, 1, n),
        }
    )
    y = ((x["f0"] == "a") | (x["f1"] > 0.5)).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_in_leaf": 5}, lgb.Dataset(x, y), 5
    )
    path = tmp_path_factory.mktemp("model") / "m.txt"
    booster.save_model(str(path))
    return path


@settings(
    max_examples=15,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=frames(), f0=KINDS, f1=KINDS, data=st.data())
def test_model_audits_complete_or_exit_2(
    case: tuple[pd.DataFrame, dict[str, Any]],
    f0: str,
    f1: str,
    data: st.DataObject,
    tmp_path: Path,
    category_model: Path,
) -> None:
    frame, spec = case
    n = len(frame)
    frame = frame.drop(columns=[c for c in ("f0", "f1") if c in frame.columns])
    frame["f0"] = data.draw(column(f0, n))
    frame["f1"] = data.draw(column(f1, n))
    spec = {
        **spec,
        "columns": {"id": "id", "features": ["f0", "f1"]},
        "model": {"path": str(category_model), "kind": "lightgbm"},
        "favorable": 1,
    }
    _audit(tmp_path, frame, spec)
