"""DecisionBatch: the decisions under audit, with protected attributes kept apart."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

UNKNOWN = "unknown"


@dataclass(frozen=True)
class DecisionBatch:
    """Decisions, model inputs and protected attributes for one audit.

    Attributes
    ----------
    ids
        Decision ids (strings), one per row.
    features
        Model inputs, in the order the spec lists them. Never contains protected attributes.
    protected
        One string column per protected attribute; missing values are ``"unknown"``.
    decisions
        1 where the outcome was favourable, else 0. ``None`` until the model has decided.
    scores
        Model scores (probability of the favourable outcome), if any.
    labels
        1 where the true outcome was favourable, else 0, if labels were given.
    probabilities
        Probabilistic membership per attribute (e.g. BISG): one column per group, rows
        summing to 1, all-NaN rows where the probabilities are unknown.
    strata
        Segment label per row (e.g. loan product, job family) for within-segment
        comparisons, if the spec names ``strata`` columns.
    controls
        The spec's ``controls`` columns (legitimate factors), missing values kept.
    """

    ids: np.ndarray
    features: pd.DataFrame
    protected: pd.DataFrame
    decisions: np.ndarray | None
    scores: np.ndarray | None
    labels: np.ndarray | None
    probabilities: dict[str, pd.DataFrame] = field(default_factory=dict)
    strata: np.ndarray | None = None
    # issue 18: where each applicant lives (ZIP, county, ...), never a model input; read
    # only to find features that stand in for geography
    geography: pd.DataFrame | None = None
    # issue 17: the spec's legitimate factors, as read (missing values kept as NaN: the
    # controls analysis excludes and counts those rows)
    controls: pd.DataFrame | None = None
    # issue 17: the spec's continuous outcomes (columns.outcomes), float, NaN kept
    outcomes: pd.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def with_outcomes(self, decisions: np.ndarray, scores: np.ndarray | None) -> DecisionBatch:
        """A copy with decisions (and scores) filled in by a model."""
        return DecisionBatch(
            self.ids,
            self.features,
            self.protected,
            decisions,
            scores,
            self.labels,
            self.probabilities,
            self.strata,
            self.geography,
            self.controls,
            self.outcomes,
        )

    def group_labels(self, attributes: list[str]) -> pd.Series:
        """Group label per row for one attribute or an intersection ("a & b")."""
        if len(attributes) == 1:
            return self.protected[attributes[0]]
        parts = [self.protected[a] for a in attributes]
        joined = parts[0].str.cat(parts[1:], sep=" & ")  # type: ignore[arg-type]
        unknown = np.zeros(len(self), dtype=bool)
        for p in parts:
            unknown |= (p == UNKNOWN).to_numpy()
        # an intersection with any unknown part is unknown as a whole (LL144 counts these apart)
        return joined.where(~unknown, UNKNOWN)
