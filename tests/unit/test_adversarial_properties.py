"""Property tests of spec and data parsing (issue 16): whatever the input, the outcome is a
valid object or the tool's own error, never another exception.

The budget is small and fixed (``derandomize``: the same examples on every run, so CI
is reproducible); each example parses a spec or validates a frame, no audit runs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.data import decisions_from_frame
from auditor.errors import DataValidationError, SpecError
from auditor.spec import load_spec

BUDGET = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,  # nothing written to the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

BASE: dict[str, Any] = {
    "name": "properties",
    "domain": "credit",
    "data": {"path": "data.csv"},
    "columns": {"id": "id", "decision": "approved", "score": "score", "features": ["x"]},
    "protected": ["sex"],
}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = [
    "name", "domain", "seed", "threshold", "favorable", "protected", "intersections",
    "min_group_size", "evidence", "reference", "policies", "audit_date", "missing_protected",
    "columns.features", "columns.id", "explain.method", "explain.max_rows", "explain.tolerance",
    "explain.quality.rows", "engine.chunk_rows", "model", "model.init", "letters",
    "small_category_exclusion", "strata", "protected_probabilities",
]  # fmt: skip


def _set(spec: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    node = spec
    *parents, last = dotted.split(".")
    for key in parents:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[last] = value
    return spec


@BUDGET
@given(changes=st.lists(st.tuples(st.sampled_from(KEYS), values), min_size=1, max_size=4))
def test_any_spec_values_give_a_spec_or_a_spec_error(changes: list[tuple[str, Any]]) -> None:
    spec = yaml.safe_load(yaml.safe_dump(BASE))
    for key, value in changes:
        spec = _set(spec, key, value)
    try:
        loaded = load_spec(spec)
    except SpecError as exc:
        message = str(exc)
    else:
        # what validates is plain, finite data: it serialises and hashes
        assert len(loaded.digest()) == 64
        assert 0 <= loaded.seed < 2**32
        assert math.isfinite(loaded.threshold)
        return
    assert message.startswith("<dict>: the audit spec is invalid.")


@BUDGET
@given(text=st.text(max_size=400))
def test_any_yaml_text_gives_a_spec_or_a_spec_error(text: str, tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    message = str(path)
    try:
        load_spec(path)
    except SpecError as exc:
        message = str(exc)
    assert str(path) in message


yaml_fragments = st.lists(
    st.sampled_from(
        ["[", "]", "{", "}", "&a ", "*a", "- ", ": ", "a", "\n", "  ", "!!set ", "!!binary ",
         "!!python/name:os.system", "<<: ", ",", "'", '"', "#", "---\n", "? "]
    ),
    max_size=80,
)  # fmt: skip


@BUDGET
@given(parts=yaml_fragments)
def test_yaml_built_from_hostile_fragments_never_escapes_spec_error(
    parts: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("evidence: " + "".join(parts), encoding="utf-8")
    message = str(path)
    try:
        load_spec(path)
    except SpecError as exc:
        message = str(exc)
    assert str(path) in message


cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-3, max_value=3),
    st.sampled_from(["", "x", "inf", "-inf", "nan", "1e400"]),
)


@BUDGET
@given(
    scores=st.lists(cells, min_size=0, max_size=12),
    decisions=st.lists(st.one_of(st.sampled_from([0, 1, 2, "yes"]), cells), max_size=12),
    features=st.lists(cells, max_size=12),
    sexes=st.lists(st.sampled_from(["F", "M", "", "<b>x</b>"]), max_size=12),
)
def test_any_decision_data_give_a_batch_or_a_data_error(
    scores: list[Any], decisions: list[Any], features: list[Any], sexes: list[Any]
) -> None:
    n = min(len(scores), len(decisions), len(features), len(sexes))
    frame = pd.DataFrame(
        {
            "id": [str(i) for i in range(n)],
            "approved": pd.Series(decisions[:n], dtype=object),
            "score": pd.Series(scores[:n], dtype=object),
            "x": pd.Series(features[:n], dtype=object),
            "sex": sexes[:n],
        }
    )
    frame = frame.infer_objects()
    spec = load_spec(BASE)
    try:
        batch = decisions_from_frame(spec, frame, Path("data.csv"))
    except DataValidationError as exc:
        message = str(exc)
    else:
        _assert_clean(batch)
        return
    assert message.startswith("data.csv: ")


def _assert_clean(batch: Any) -> None:
    """A batch that validated holds two outcomes, finite scores and finite numbers."""
    assert batch.decisions is not None
    assert set(np.unique(batch.decisions)) <= {0, 1}
    assert batch.scores is not None
    assert np.isfinite(batch.scores).all()
    x = batch.features["x"]
    if pd.api.types.is_numeric_dtype(x):  # text columns are categories: "inf" is a label
        assert not np.isinf(x.to_numpy(dtype=np.float64)).any()


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_nan_in_a_feature_stays_missing_but_inf_is_refused(value: float) -> None:
    """The documented missing-value handling is kept: NaN passes, ±inf does not."""
    spec = load_spec(BASE)
    frame = pd.DataFrame(
        {"id": ["1", "2", "3"], "approved": [1, 0, 1], "score": [0.2, 0.5, 0.9],
         "x": [np.nan, 1.0, 2.0], "sex": ["F", "M", "F"]}
    )  # fmt: skip
    batch = decisions_from_frame(spec, frame, Path("data.csv"))
    assert np.isnan(batch.features["x"].iloc[0])
    frame.loc[2, "x"] = value
    with pytest.raises(DataValidationError, match=r"'x': 1 infinite value\(s\).*row\(s\) 3"):
        decisions_from_frame(spec, frame, Path("data.csv"))
