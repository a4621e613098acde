"""What the audit could and could not check about how it feeds a model (issue 17).

Two silent misreads are made visible here. Feature order: a model that carries its own
feature names (scikit-learn's ``feature_names_in_``, LightGBM's ``feature_name()``, a
torch module's ``feature_names``) is checked against ``columns.features`` when it is
loaded; a model without names cannot be, and the result says so instead of implying it
was. Unseen categories: a LightGBM categorical value the model never saw in training is
routed like a missing value by LightGBM; the rows are counted per feature and reported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from auditor.models._encoding import _category_codes as category_codes
from auditor.text_values import MISSING_TEXT

CHECKED = "checked"
UNCHECKED = "unchecked"

# names LightGBM invents for a model trained on a bare array: they say nothing of order
_AUTO_NAME_RE = re.compile(r"^Column_\d+$")


def auto_named(names: Sequence[str]) -> bool:
    """Whether ``names`` are LightGBM's generated ``Column_0, Column_1, …``."""
    return bool(names) and all(
        _AUTO_NAME_RE.match(n) and n == f"Column_{i}" for i, n in enumerate(names)
    )


def unchecked_note(kind: str) -> str:
    """Why the feature order of a model of ``kind`` could not be checked."""
    return (
        f"the {kind} model carries no feature names, so the order of columns.features "
        "could not be checked against it: the audit assumes it is the model's input order"
    )


def training_categories(model: Any) -> dict[str, Sequence[Any] | None]:
    """The categories a model learned in training (LightGBM's pandas categories).

    Other adapters learn text categories from the audited data itself (scikit-learn
    style models), so nothing in the data is "unseen" for them: empty.
    """
    if getattr(model, "kind", None) != "lightgbm":
        return {}
    cats: dict[str, Sequence[Any] | None] = dict(getattr(model, "categories", {}))
    return cats


def unseen_categories(
    features: pd.DataFrame, categories: Mapping[str, Sequence[Any] | None]
) -> dict[str, int]:
    """Rows per categorical feature whose (non-missing) value the model never saw."""
    out: dict[str, int] = {}
    for name, cats in categories.items():
        if cats is None or name not in features.columns:
            continue
        col = features[name]
        codes = category_codes(col, cats)
        count = int(np.count_nonzero((codes < 0) & col.notna().to_numpy()))
        if count:
            out[name] = count
    return out


def unseen_from_counts(
    value_counts: Mapping[str, Mapping[str, tuple[int, int]] | None],
    categories: Mapping[str, Sequence[Any] | None],
) -> dict[str, int]:
    """:func:`unseen_categories` from merged per-value row counts (the Spark census).

    ``value_counts``: feature -> {value as text: (rows, first row)}, missing values under
    ``MISSING_TEXT``. Text categories match as :func:`unseen_categories` matches them.
    """
    out: dict[str, int] = {}
    for name, cats in categories.items():
        counts = value_counts.get(name)
        if cats is None or counts is None:
            continue
        known = {str(c) for c in cats}
        n = sum(rows for v, (rows, _) in counts.items() if v != MISSING_TEXT and v not in known)
        if n:
            out[name] = n
    return out


def unseen_warning(counts: Mapping[str, int], rows: int) -> str:
    """The audit warning for unseen categories (``counts`` not empty)."""
    parts = ", ".join(f"'{f}': {n} row(s)" for f, n in sorted(counts.items()))
    return (
        f"categories the model never saw in training ({parts} of {rows}): LightGBM scores "
        "them as missing values; the counts are in dataset.model_input.unseen_categories"
    )


def model_input_facts(model: Any, unseen: Mapping[str, int] | None) -> dict[str, Any]:
    """``dataset.model_input``: the feature-order check and the unseen-category counts."""
    if model is None:
        return {}
    note = getattr(model, "feature_check", None)
    facts: dict[str, Any] = {
        "feature_order": CHECKED if note is None else UNCHECKED,
        "feature_order_note": note
        or "columns.features matches the feature names stored in the model, in order",
    }
    if unseen is not None:
        facts["unseen_categories"] = dict(sorted(unseen.items()))
    return facts
