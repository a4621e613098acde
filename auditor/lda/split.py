"""The training data of ``training:`` read, checked and split (seeded) into fit, search and
held-out rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from auditor.data import read_table
from auditor.errors import DataValidationError, SpecError
from auditor.spec import AuditSpec, TrainingSpec


@dataclass(frozen=True)
class Splits:
    """Row positions of the three parts of the training data (disjoint)."""

    path: Path
    frame: pd.DataFrame
    fit: np.ndarray
    search: np.ndarray
    holdout: np.ndarray

    def part(self, name: str) -> pd.DataFrame:
        """The rows of one part (``fit``, ``search`` or ``holdout``), index reset."""
        rows: np.ndarray = getattr(self, name)
        return self.frame.iloc[rows].reset_index(drop=True)


def training_of(spec: AuditSpec) -> TrainingSpec:
    """The spec's ``training:`` section, or a clear error when it has none."""
    if spec.training is None:
        raise SpecError(
            f"{spec.source}: training: the search for less discriminatory alternatives refits "
            "the model and needs a training section (path, label, model); see "
            "docs/guides/lda.md"
        )
    return spec.training


def features_of(spec: AuditSpec) -> list[str]:
    """The model inputs of the refit (``training.features`` or ``columns.features``)."""
    training = training_of(spec)
    features = list(training.features or spec.columns.features)
    if not features:
        raise SpecError(f"{spec.source}: training.features: no model inputs named")
    return features


def load_splits(spec: AuditSpec) -> Splits:
    """Read ``training.path``, check the columns the search needs, split it (seeded)."""
    training = training_of(spec)
    path = spec.resolve(training.path)
    frame = read_table(path, training.format, text=[spec.columns.id])
    needed = [
        *features_of(spec),
        training.label,
        training.performance_label or training.label,
        spec.columns.id,
        *spec.protected,
    ]
    missing = sorted({c for c in needed if c not in frame.columns})
    if missing:
        raise DataValidationError(
            f"{path}: training data lack the columns {missing} (training:, columns.id and "
            "protected name them)"
        )
    for column in {training.label, training.performance_label or training.label}:
        values = set(frame[column].dropna().unique().tolist())
        if frame[column].isna().any() or not values <= {0, 1}:
            raise DataValidationError(
                f"{path}: column '{column}': the label must be 0/1 with no missing values, "
                f"found {sorted(map(str, values))[:5]}"
            )
    split = training.split
    order = np.random.default_rng(split.seed).permutation(len(frame))
    n_holdout = round(split.holdout * len(frame))
    n_search = round(split.search * len(frame))
    if min(n_holdout, n_search, len(frame) - n_holdout - n_search) < 50:
        raise DataValidationError(
            f"{path}: {len(frame)} rows are too few to split into fit, search and held-out "
            "parts of at least 50 rows each"
        )
    return Splits(
        path=path,
        frame=frame,
        holdout=np.sort(order[:n_holdout]),
        search=np.sort(order[n_holdout : n_holdout + n_search]),
        fit=np.sort(order[n_holdout + n_search :]),
    )
