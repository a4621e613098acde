"""How named business factors (``controls:``) enter a regression design.

Its own module because both the adjusted odds ratio (:mod:`auditor.metrics.controls`) and
the adjusted mean difference (:mod:`auditor.metrics.adjusted_mean`) encode the controls the
same way, and the first calls the second: shared code below both keeps them acyclic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def encode_controls(frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Numeric columns standardised, others one-hot against their most frequent level."""
    parts: list[np.ndarray] = []
    names: list[str] = []
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            values = col.to_numpy(dtype=np.float64)
            sd = values.std()
            parts.append(((values - values.mean()) / (sd if sd > 0 else 1.0))[:, None])
            names.append(str(name))
            continue
        labels = col.astype(str)
        counts = labels.value_counts()
        # most frequent level is the reference; ties by name, so the choice is stable
        ref = sorted(counts.index[counts == counts.max()])[0]
        for level in sorted(set(labels) - {ref}):
            parts.append((labels == level).to_numpy(dtype=np.float64)[:, None])
            names.append(f"{name}={level}")
    width = sum(p.shape[1] for p in parts)
    return (np.hstack(parts) if parts else np.empty((len(frame), width))), names
