"""Category values as text under pandas 2 and pandas 3 (issue 17: the Adult crash).

``astype(str)`` turns a missing value into "nan" under pandas 2 and keeps it missing
under pandas 3 (its default ``str`` dtype), where ``factorize`` then codes it −1 and
``bincount`` refuses it. CI runs one pandas major; these tests feed the category paths
every dtype either major produces by default (object with None/NaN: pandas 2; the NaN-
backed ``str`` dtype: pandas 3; plus ``string``, pyarrow strings and ``category``), so
both behaviours are exercised whichever pandas is installed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditor.metrics.gap import feature_auc, group_aucs
from auditor.metrics.proxies import crosstab_counts
from auditor.metrics.slices import bin_codes, bin_plan, category_counts
from auditor.metrics.text import MISSING_TEXT, as_text, text_codes

VALUES = ["Private", None, "Gov", np.nan, "Private", "Self-emp", None, "Gov"] * 10


def _dtypes() -> list[pd.Series]:
    out = [
        pd.Series(VALUES, dtype=object),  # pandas 2's default for text
        pd.Series(VALUES, dtype="category"),
        pd.Series(VALUES, dtype="string"),
        pd.Series(VALUES, dtype=pd.StringDtype("python", na_value=np.nan)),  # pandas 3's str
    ]
    try:
        import pyarrow  # noqa: F401

        out.append(pd.Series(VALUES, dtype="string[pyarrow]"))
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    return out


@pytest.mark.parametrize("column", _dtypes(), ids=lambda s: str(s.dtype))
def test_missing_values_are_one_category_in_every_dtype(column: pd.Series) -> None:
    codes, names = text_codes(column)
    assert codes.min() >= 0  # never −1, whatever pandas does with astype(str)
    assert names == ["Private", MISSING_TEXT, "Gov", "Self-emp"]
    assert as_text(column).tolist()[:4] == ["Private", MISSING_TEXT, "Gov", MISSING_TEXT]


def test_astype_str_differs_between_pandas_majors() -> None:
    """The behaviour the helper guards against: which one depends on the installed major."""
    s = pd.Series(VALUES[:4], dtype=pd.StringDtype("python", na_value=np.nan))
    codes, uniques = pd.factorize(s.astype(str))
    if int(pd.__version__.split(".")[0]) >= 3:
        assert (codes < 0).any()  # NaN kept: what crashed bincount in gap.py
    else:
        assert "nan" in list(uniques)  # NaN became the text "nan", a category of its own
    assert text_codes(s)[1] == ["Private", MISSING_TEXT, "Gov"]  # the same under both


@pytest.mark.parametrize("column", _dtypes(), ids=lambda s: str(s.dtype))
def test_category_paths_agree_across_dtypes(column: pd.Series) -> None:
    member = np.resize(np.array([True, False, False]), len(column))
    reference = pd.Series(VALUES, dtype=object)
    assert feature_auc(column, member) == feature_auc(reference, member)
    labels = np.resize(np.array([0, 1, 2]), len(column))
    assert group_aucs(column, labels, [0, 1, 2]) == group_aucs(reference, labels, [0, 1, 2])
    counts = category_counts(column)
    assert counts[MISSING_TEXT][0] == 30  # None and NaN: one category, not dropped
    plan = bin_plan(column, 4, 8)
    assert MISSING_TEXT in plan.labels
    assert (bin_codes(plan, column) >= 0).all()
    groups = np.resize(np.array(["a", "b"], dtype=object), len(column))
    assert crosstab_counts(column, groups) == crosstab_counts(reference, groups)
    table = crosstab_counts(column, groups)
    assert (table[(MISSING_TEXT, "a")], table[(MISSING_TEXT, "b")]) == (10, 20)


def test_numbers_print_as_str_prints_them() -> None:
    assert as_text(pd.Series([1.0, np.nan, 2.5])).tolist() == ["1.0", MISSING_TEXT, "2.5"]
    assert as_text(pd.Series([1, None, 3], dtype="Int64")).tolist() == ["1", MISSING_TEXT, "3"]
    assert as_text(pd.Series([True, None], dtype="boolean")).tolist() == ["True", MISSING_TEXT]


def test_pandas_2_object_text_with_blanks_is_a_valid_feature() -> None:
    """pandas 2 reads a text column with blanks as object (str and NaN): still text."""
    from auditor.data import _check_features

    features = pd.DataFrame(
        {
            "object_text": pd.Series(["a", np.nan, "b"], dtype=object),
            "all_missing": pd.Series([None, np.nan, None], dtype=object),
            "mixed": pd.Series(["a", 1.5, {"x": 1}], dtype=object),
        }
    )
    assert _check_features(features) == [
        "column 'mixed': unsupported type object for a model feature"
    ]
