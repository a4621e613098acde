"""Fitting one candidate, in the search's process or in a worker of its process pool.

A fit is a pure function of the data, the learner, the candidate and the seed: the same
model and scores come back whichever worker runs it and however many there are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditor.lda import learners
from auditor.lda.candidates import Candidate, apply_bins, reweighing_weights
from auditor.lda.fit import model_frame
from auditor.lda.learners import Learner


@dataclass(frozen=True)
class FitData:
    """What every fit needs: the three parts of the training data and how to train."""

    learner: Learner
    fit: pd.DataFrame
    search: pd.DataFrame
    holdout: pd.DataFrame
    label: str
    categories: dict[str, list[Any]]
    seed: int


@dataclass(frozen=True)
class Fitted:
    """A trained candidate and its scores on the fit, search and held-out rows, or the
    error that stopped its training."""

    model: Any
    scores: dict[str, np.ndarray]
    seconds: float
    error: str | None = None


def inputs(data: FitData, frame: pd.DataFrame, c: Candidate) -> pd.DataFrame:
    """The candidate's model inputs for ``frame``: its features, binned as it says."""
    x = apply_bins(frame, c)
    if data.learner.kind == "lightgbm":
        return model_frame(x, list(c.features), data.categories)
    return x[list(c.features)].astype(np.float64)


def fit_candidate(data: FitData, c: Candidate) -> Fitted:
    """Train ``c`` on the fit rows and score every part through the audit's adapter."""
    start = time.perf_counter()
    y = data.fit[data.label].to_numpy(dtype=np.int64)
    weight = None
    if c.reweight_by is not None:
        weight = reweighing_weights(data.fit[c.reweight_by].to_numpy(), y)
    try:
        model = learners.fit(
            data.learner, inputs(data, data.fit, c), y, dict(c.params), data.seed, weight
        )
        parts = [("search", data.search), ("holdout", data.holdout)]
        if c.method == "baseline":  # the fit rows' scores explain the baseline (aiming)
            parts.append(("fit", data.fit))
        scores = {
            part: learners.score(data.learner, model, inputs(data, frame, c))
            for part, frame in parts
        }
    # a learner's own failure (an estimator refusing a parameter, a network refusing a
    # feature count) is the candidate's result, recorded; the search goes on
    except Exception as exc:
        text = str(exc).strip().splitlines()
        message = f"{type(exc).__name__}: {text[0] if text else ''}"[:300]
        return Fitted(None, {}, time.perf_counter() - start, message)
    return Fitted(model, scores, time.perf_counter() - start)


_DATA: list[FitData] = []


def init_worker(data: FitData) -> None:
    """Process-pool initializer: keep the data for every fit this worker runs, and import
    the learner's library now (while the search fits its baseline), not in the first fit."""
    _DATA[:] = [data]
    if data.learner.kind == "torch":
        import torch  # noqa: F401
    elif data.learner.kind == "sklearn":
        import sklearn.ensemble
        import sklearn.linear_model  # noqa: F401


def run_fit(c: Candidate) -> Fitted:
    """Process-pool task: fit one candidate with the worker's data."""
    return fit_candidate(_DATA[0], c)


def ready() -> None:
    """Process-pool task that only starts a worker (its initializer loads the data)."""
