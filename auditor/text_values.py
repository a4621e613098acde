"""Feature and group values as text, the same under pandas 2 and pandas 3.

``Series.astype(str)`` changed meaning between pandas majors: pandas 2 turns a missing
value into the text ``"nan"`` (or ``"None"``), pandas 3's string dtype keeps it missing,
so ``factorize`` then codes it −1 and ``bincount`` (or a silent ``dropna`` in
``groupby``) goes wrong. Every place that treats a column's values as categories goes
through :func:`as_text`, which names every kind of missing value with one label.

On the bottom floor (NumPy and pandas only): the model checks and the metrics both use it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["MISSING_TEXT", "as_text", "text_codes"]

# shown in slice and proxy tables; angle brackets keep it apart from a real category
MISSING_TEXT = "(missing)"


def as_text(column: pd.Series) -> pd.Series:
    """``column`` as Python ``str`` values (object dtype), missing values as MISSING_TEXT.

    Numbers print as ``str`` prints them (``1.0``, ``3``), as ``astype(str)`` did under
    pandas 2, so category labels stay the same apart from the missing ones (once
    ``nan``/``None``/``<NA>``, now one label).
    """
    if isinstance(column.dtype, pd.CategoricalDtype):
        # one conversion per category, not per row
        labels = as_text(pd.Series(column.cat.categories)).to_numpy()
        codes = column.cat.codes.to_numpy()
        out = np.where(codes >= 0, labels[np.maximum(codes, 0)] if len(labels) else "", "")
        out = out.astype(object)
        out[codes < 0] = MISSING_TEXT
        return pd.Series(out, index=column.index, dtype=object)
    missing = column.isna().to_numpy()
    values = column.to_numpy(dtype=object)  # missing entries are masked out below
    out = np.empty(len(values), dtype=object)
    out[missing] = MISSING_TEXT
    present = ~missing
    out[present] = [str(v) for v in values[present]]
    return pd.Series(out, index=column.index, dtype=object)


def text_codes(column: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Dense codes (never −1) and the text of each code, in order of first appearance."""
    codes, uniques = pd.factorize(as_text(column))
    return np.asarray(codes, dtype=np.int64), [str(u) for u in uniques]
