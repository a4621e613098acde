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
            cats = pd.Index([str(c) for c in categories[name]])
            codes = cats.get_indexer(pd.Index(col.astype("string").fillna("\0missing")))
            out[:, j] = np.where(codes >= 0, codes, np.nan)
        elif pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            out[:, j] = col.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            sample = col.dropna().astype(str).head(3).tolist()
            problems.append(
                f"column '{name}' holds text (e.g. {sample}) but the model expects numbers"
            )
    if problems:
        raise ModelLoadError(f"{source}: the data do not fit the model.", problems=problems)
    return out


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    out: np.ndarray = np.exp(-np.logaddexp(0.0, -x))
    return out
