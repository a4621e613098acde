"""The per-chunk kernel both engines run: score, explain, and sum attributions by group.

A :class:`ChunkPlan` fixes everything that must be the same for every chunk (method,
background rows, rows to explain, groupings) before the first chunk is read, so chunks
can run anywhere (this process, a Spark executor) and their sums merge into exactly what
the in-memory path computes over all rows at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditor.batch import UNKNOWN
from auditor.data import check_features
from auditor.engine.sums import AttributionSums
from auditor.errors import DataValidationError
from auditor.explain import get_explainer
from auditor.explain.base import device_args
from auditor.explain.run import MAX_STEPS, PERMUTATION_DEFAULT_ROWS
from auditor.metrics.counts import group_codes
from auditor.models.base import ModelAdapter


@dataclass(frozen=True)
class ChunkPlan:
    """What every chunk needs to know; plain data, so it ships to Spark executors."""

    source: str  # names the data in errors
    method: str | None  # None: no attributions
    explain_rows: np.ndarray | None  # sorted global positions to explain; None: all
    background: np.ndarray | None  # encoded background rows (same for every chunk)
    steps: int
    tolerance: float | None
    groupings: tuple[tuple[str, tuple[str, ...]], ...]  # (name, attributes)
    params: dict[str, Any]  # recorded with the attributions (sizes, seed)
    device: str = "auto"  # explain.device: where tree SHAP / integrated gradients run


def plan_rows(
    method: str, n: int, max_rows: int | None, background: int, seed: int
) -> tuple[np.ndarray | None, np.ndarray]:
    """The rows to explain (None: all) and the background rows, as ``explain_matrix`` draws them.

    Same generator, same calls, same order: the sample depends only on the row count and
    the seed, so it is fixed before any row is read.
    """
    rng = np.random.default_rng(seed)
    if max_rows is None and method == "permutation_shap":
        max_rows = PERMUTATION_DEFAULT_ROWS
    rows = None
    if max_rows is not None and max_rows < n:
        rows = np.sort(rng.choice(n, size=max_rows, replace=False))
    bg_rows = np.sort(rng.choice(n, size=min(background, n), replace=False))
    return rows, bg_rows


def run_chunk(
    plan: ChunkPlan,
    model: ModelAdapter,
    features: pd.DataFrame,
    protected: pd.DataFrame,
    positions: np.ndarray,
    encoded: np.ndarray | None = None,
) -> tuple[np.ndarray, AttributionSums]:
    """Scores of every row of the chunk, and the attribution sums of its explained rows.

    ``positions`` are the rows' global positions (0-based, in file order); ``protected``
    holds the normalised protected attributes of the same rows; ``encoded``: the model's
    encoding of ``features`` when the source already holds it (and checked the rows).
    """
    # errors name rows by their place in the whole file, not in the chunk; a source that
    # passes its encoding validated every row when it loaded them (the in-memory frame)
    problems = [] if encoded is not None else check_features(features.set_axis(pd.Index(positions)))
    if problems:
        raise DataValidationError(
            f"{plan.source}: the data do not match the spec.", problems=problems
        )
    x = model.encode(features) if encoded is None else encoded
    scores, outputs = score_and_output(model, x)
    sums = AttributionSums(x.shape[1], params=dict(plan.params))
    if plan.method is None or not len(x):
        return scores, sums
    take = np.arange(len(x))
    if plan.explain_rows is not None:
        idx = np.searchsorted(plan.explain_rows, positions)
        idx = np.minimum(idx, len(plan.explain_rows) - 1)
        take = np.flatnonzero(plan.explain_rows[idx] == positions)
    if not len(take):
        return scores, sums
    known = None if outputs is None else outputs[take]
    values, base, outputs, gaps, params, used, refined = explain_rows(plan, model, x[take], known)
    sums.params = {**params, **plan.params}
    sums.note_refinement(used, refined)
    chunk_protected = protected.iloc[take].reset_index(drop=True)
    codes = {name: group_codes(chunk_protected, attrs, UNKNOWN) for name, attrs in plan.groupings}
    sums.add_rows(values, base, outputs, gaps, codes)
    return scores, sums


def score_and_output(model: ModelAdapter, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Scores of ``x``, and the model output too where the adapter derives one from the other.

    An adapter with ``score_of_output`` (LightGBM: the sigmoid of the raw score) is
    predicted once for both, the same numbers as calling :meth:`score` and :meth:`output`.
    """
    of_output = getattr(model, "score_of_output", None)
    if of_output is None:
        return model.score(x), None
    out = model.output(x)
    return np.asarray(of_output(out)), out


def explain_rows(
    plan: ChunkPlan, model: ModelAdapter, xs: np.ndarray, outputs: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any], int | None, int]:
    """Attributions of ``xs`` through the registered explainer, refined as in memory.

    Mirrors ``auditor.explain.run.explain_matrix`` for given rows and background: path
    methods redo rows above the tolerance with twice the steps, up to ``MAX_STEPS``.
    ``outputs``: the model output of ``xs`` when the caller already has it.
    """
    assert plan.method is not None
    assert plan.background is not None
    explainer = get_explainer(plan.method)
    on = device_args(explainer, plan.device)
    values, base, params = explainer.explain(
        model, xs, background=plan.background, steps=plan.steps, **on
    )
    out = model.output(xs) if outputs is None else outputs
    gaps = np.abs(values.sum(axis=1) + base - out)
    tol = explainer.default_tolerance if plan.tolerance is None else plan.tolerance
    used, refined, steps = None, 0, plan.steps
    while getattr(explainer, "uses_steps", False) and steps < MAX_STEPS:
        redo = np.flatnonzero(gaps > tol)
        if not len(redo):
            break
        steps = min(2 * steps, MAX_STEPS)
        v, b, _ = explainer.explain(
            model, xs[redo], background=plan.background, steps=steps, **on
        )
        values[redo], base[redo] = v, b
        gaps[redo] = np.abs(v.sum(axis=1) + b - out[redo])
        used, refined = steps, len(redo)
    return values, base, out, gaps, params, used, refined
