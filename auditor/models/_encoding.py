"""Shared helpers to turn a feature frame into a numeric matrix with clear errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from auditor.errors import ModelLoadError


def check_feature_names(model_names: Sequence[str], given: Sequence[str], source: str) -> None:
    """Fail unless the spec's features are exactly the model's, in the same order."""
    if list(model_names) == list(given):
        return
    missing = [f for f in model_names if f not in given]
    extra = [f for f in given if f not in model_names]
    problems = []
    if missing:
        problems.append(f"the model needs feature(s) not in columns.features: {missing}")
    if extra:
        problems.append(f"columns.features lists feature(s) the model does not use: {extra}")
    if not problems:
        problems.append(
            f"the order differs: the model expects {list(model_names)}, the spec lists "
            f"{list(given)}"
        )
    raise ModelLoadError(
        f"{source}: the model does not match the spec's features.", problems=problems
    )


def encode_frame(
    features: pd.DataFrame,
    categories: Mapping[str, Sequence[object]],
    *,
    source: str,
) -> np.ndarray:
    """Numeric matrix: categorical columns as codes into ``categories`` (unseen -> NaN).

    Columns not in ``categories`` must be numeric or boolean; anything else is a
    model/feature mismatch and is reported by column.
    """
    out = np.empty((len(features), features.shape[1]), dtype=np.float64)
    problems = []
    for j, name in enumerate(features.columns):
        col = features[name]
        if name in categories:
            codes = _category_codes(col, categories[name])
            out[:, j] = np.where(codes >= 0, codes, np.nan)
        elif pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            out[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            # show the values that are not numbers, not the first rows (often numbers)
            text = col.notna() & pd.to_numeric(col, errors="coerce").isna()
            shown = col[text] if text.any() else col.dropna()
            sample = shown.astype(str).unique()[:3].tolist()
            where = ""
            if text.any():
                rows = (np.flatnonzero(text.to_numpy()) + 1)[:5].tolist()
                where = f" at row(s) {', '.join(map(str, rows))}"
            problems.append(
                f"column '{name}' holds text (e.g. {sample}{where}) but the model expects numbers"
            )
    if problems:
        raise ModelLoadError(f"{source}: the data do not fit the model.", problems=problems)
    return out


def _category_codes(col: pd.Series, categories: Sequence[object]) -> np.ndarray:
    """Position of each value in ``categories`` (-1 where absent).

    Numeric categories match numeric data by value, as LightGBM matches them: integer
    categories read back as floats (a CSV column with a blank) must still match.
    """
    numeric_cats = all(
        isinstance(c, int | float | np.number) and not isinstance(c, bool) for c in categories
    )
    numeric_col = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
    if categories and numeric_cats and numeric_col:
        index = pd.Index(np.asarray(categories, dtype=np.float64))
        values = pd.Index(col.to_numpy(dtype=np.float64, na_value=np.nan))
        return np.asarray(index.get_indexer(values))
    index = pd.Index([str(c) for c in categories])
    return np.asarray(index.get_indexer(pd.Index(col.astype("string").fillna("\0missing"))))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    out: np.ndarray = np.exp(-np.logaddexp(0.0, -x))
    return out
