"""Banding a numeric protected attribute (``bands:`` on a protected entry), and refusing a
continuous one that has no bands.

A float age with thousands of distinct values is not a grouping: audited as is it
becomes thousands of one-person groups (issue 17: 7,847 groups, a 1,780-page report).
With ``bands`` the values are cut at explicit edges into labelled groups, e.g. the ADEA
practice of 40 and over against under 40::

    protected:
      - sex
      - name: age
        bands: {edges: [40], labels: ["under 40", "40 and over"]}

``edges`` are the cut points, strictly increasing; ``labels`` name the ``len(edges) + 1``
bands: below the first edge, between consecutive edges (each band includes its lower
edge), and at or above the last edge. Missing values stay missing (unknown).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

# more distinct numeric values than this, without bands, is a continuous attribute
MAX_NUMERIC_GROUPS = 20


class Bands(BaseModel):
    """Cut points and the label of each band of one numeric protected attribute."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    edges: list[float] = Field(min_length=1, description="Cut points, strictly increasing.")
    labels: list[str] = Field(description="One label per band: len(edges) + 1.")

    @model_validator(mode="after")
    def _consistent(self) -> Bands:
        if not all(math.isfinite(e) for e in self.edges):
            raise ValueError("edges must be finite numbers (the outer bands are open-ended)")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError(f"edges must be strictly increasing, got {self.edges}")
        if len(self.labels) != len(self.edges) + 1:
            raise ValueError(
                f"{len(self.edges)} edge(s) make {len(self.edges) + 1} bands, so "
                f"labels needs {len(self.edges) + 1} names; got {len(self.labels)}"
            )
        if len(set(self.labels)) != len(self.labels) or any(not s.strip() for s in self.labels):
            raise ValueError(f"labels must be distinct and not blank, got {self.labels}")
        return self


def band_values(column: pd.Series, bands: Bands) -> tuple[pd.Series, pd.Series]:
    """The band label of each row (None where missing) and the rows that are not numbers."""
    numeric = pd.to_numeric(column, errors="coerce")
    missing = column.isna() | (column.astype("string").str.strip() == "").fillna(False)
    not_numbers = numeric.isna() & ~missing
    values = numeric.to_numpy(dtype=np.float64, na_value=np.nan)
    index = np.searchsorted(np.asarray(bands.edges), values, side="right")
    labels = np.asarray(bands.labels, dtype=object)[np.minimum(index, len(bands.labels) - 1)]
    out = pd.Series(labels, index=column.index, dtype=object).where(~np.isnan(values), None)
    return out, not_numbers


def continuous_problem(attr: str, column: pd.Series) -> str | None:
    """Why a numeric protected column without bands is refused (None: it is a grouping)."""
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        return None
    distinct = int(column.nunique(dropna=True))
    if distinct <= MAX_NUMERIC_GROUPS:
        return None
    lo, hi = column.min(), column.max()
    return (
        f"column '{attr}': a continuous protected attribute ({distinct} distinct numeric "
        f"values from {lo:g} to {hi:g}) would make one group per value; band it in the "
        f"spec, e.g. protected: [{{name: {attr}, bands: {{edges: [40], labels: "
        "['under 40', '40 and over']}}]; if the numbers are group codes, write them as text"
    )
