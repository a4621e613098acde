"""The streaming (local) engine's driver: narrow columns in memory, wide work in chunks.

The Spark engine has its own driver (:mod:`auditor.engine.spark`), which holds no
per-decision data at all; both measure through the same decision cells
(:func:`auditor.pipeline.group_statistics`) and attribution sums.

Memory plan (what makes an audit of 10M decisions × 30 features fit in a few GB):

- the *narrow* per-decision columns (id, decision, score, label, protected attributes,
  and the few ``controls`` and ``columns.outcomes`` columns) are held for every row:
  the statistics engine needs the full-sample score median (LL144 scoring rate), its
  counts come from them exactly as in memory, and so do the adjusted analyses;
- the *wide* work (encode the features, score, attribute) runs chunk by chunk through
  :func:`auditor.engine.kernel.run_chunk`; only per-group attribution sums are kept;
- slice search and proxy statistics need each feature's full-sample quantiles and ranks,
  so they read **a few feature columns at a time** (``COLUMN_BUDGET`` bytes; one column
  at 10M rows) — every candidate slice is kept and Benjamini–Hochberg runs over all of
  them at the end, as in memory.

Peak memory is therefore O(rows × narrow columns + rows of one feature + chunk × features),
never O(rows × features).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, Protocol

import numpy as np
import pandas as pd

from auditor.batch import DecisionBatch
from auditor.data import decisions_from_frame
from auditor.engine.kernel import ChunkPlan, plan_rows
from auditor.engine.quality import explanation_quality
from auditor.engine.summary import attribution_slices, gap_decompositions, global_importance
from auditor.engine.sums import AttributionSums
from auditor.errors import DataValidationError
from auditor.explain import get_explainer
from auditor.explain.run import (
    NO_MODEL_REASON,
    TURNED_OFF_REASON,
    additivity_warning,
    choose_method,
)
from auditor.metrics import proxy_ranking, proxy_scores
from auditor.metrics.cells import DecisionCells
from auditor.metrics.group_metrics import Grouping
from auditor.metrics.slices import select_slices, slice_candidates
from auditor.models.base import ModelAdapter
from auditor.models.checks import training_categories, unseen_categories
from auditor.result import (
    AttributionSummary,
    GapDecomposition,
    MetricRecord,
    ProxyRank,
    ProxyScore,
)
from auditor.spec import AuditSpec

COLUMN_BUDGET = 256 * 2**20  # bytes of feature columns read at once for slices and proxies
Stage = Callable[[str], AbstractContextManager[None]]


class Source(Protocol):
    """Where the decisions are: a local file or a Spark DataFrame."""

    label: str
    names: list[str]

    def read(self, columns: list[str]) -> pd.DataFrame:
        """These columns for every row, in order."""
        ...

    def take(self, positions: np.ndarray, columns: list[str]) -> pd.DataFrame:
        """A few rows by sorted global position."""
        ...

    def wide_pass(
        self, plan: ChunkPlan, model: ModelAdapter, batch: DecisionBatch
    ) -> tuple[np.ndarray, AttributionSums]:
        """Scores of every row (in order) and the merged attribution sums."""
        ...


def measure(
    spec: AuditSpec,
    model: ModelAdapter | None,
    groups: list[Grouping],
    warnings: list[str],
    stage: Stage,
    source: Source,
    timings: dict[str, float] | None = None,
    *,
    unseen: dict[str, int] | None = None,
) -> tuple[DecisionCells, str, list[MetricRecord], AttributionSummary, dict[str, Any]]:
    """Decision cells, metrics, attribution summary and explanation quality, equal to the
    in-memory pipeline's.

    ``unseen``: filled with the rows per feature whose category the model never saw.
    """
    from auditor.pipeline import (
        _apply_model,
        _check_control_groups,
        birdie_measured,
        controls_measured,
        decision_cells,
        group_statistics,
    )

    features = list(spec.columns.features)
    with stage("load data"):
        batch = _narrow_batch(spec, source)
        _check_control_groups(spec, batch)
    decisions_from = "data"
    sums = None
    reason = None
    plan = None
    if model is None:
        reason = NO_MODEL_REASON
    else:
        with stage("explain"):
            plan = _plan(spec, model, batch, groups, source)
            if plan.method is None:
                reason = TURNED_OFF_REASON
            scores, merged = source.wide_pass(plan, model, batch)
            sums = merged if plan.method is not None else None
        batch, decisions_from = _apply_model(spec, batch, scores, warnings)
    with stage("explanation quality"):
        quality = explanation_quality(
            spec,
            model,
            plan.method if sums is not None and plan is not None else None,
            len(batch),
            lambda positions: _encoded(model, source.take(positions, features)),
            timings,
        )
    with stage("measure"):
        assert batch.decisions is not None
        cells = decision_cells(spec, batch)
        metrics, references = group_statistics(spec, cells, groups)
        metrics += controls_measured(spec, batch, groups, references, warnings)
        metrics += birdie_measured(spec, batch, warnings)
        names = tuple(model.feature_names) if model is not None else ()
        decompositions = gap_decompositions(sums, names, groups, references) if sums else []
        candidates: list[MetricRecord] = []
        proxies: list[ProxyScore] = []
        ranking: list[ProxyRank] = []
        explained = plan.explain_rows if sums is not None and plan is not None else None
        ranked_with = [d for d in decompositions if d.attribute in batch.protected.columns]
        prot = (
            batch.protected
            if explained is None
            else batch.protected.iloc[explained].reset_index(drop=True)
        )
        for cols in column_groups(features, len(batch)):
            block = source.read(cols)  # a few feature columns in memory at a time
            if len(block) != len(batch):
                raise DataValidationError(f"{source.label}: columns {cols} changed length")
            # features are independent in all three: per block, then merged and sorted
            candidates += slice_candidates(
                block, batch.protected, batch.decisions, min_size=spec.min_group_size
            )
            proxies += proxy_scores(block, batch.protected)
            if unseen is not None and model is not None:
                cats = training_categories(model)
                unseen.update(unseen_categories(block, cats))  # features: one block each
            sub = block if explained is None else block.iloc[explained].reset_index(drop=True)
            ranking += proxy_ranking(sub, prot, ranked_with if sums else [])
        metrics += select_slices(candidates)
        proxies.sort(key=lambda p: (-p.value, p.attribute, p.feature))
        ranking.sort(key=lambda p: (-p.score, p.attribute, p.group, p.feature))
        method = plan.method if plan is not None else None
        space = model.output_space if model is not None else None
        summary = _summary(spec, sums, method, space, reason, names, groups, references, warnings)
        summary = _with(summary, proxies, ranking, decompositions)
    return cells, decisions_from, metrics, summary, quality


def _encoded(model: ModelAdapter | None, frame: pd.DataFrame) -> np.ndarray:
    """The model's encoded inputs of a few rows read back from the source."""
    assert model is not None  # only called when a method explained the rows
    return model.encode(frame)


def column_groups(features: list[str], rows: int) -> list[list[str]]:
    """Feature columns in groups of at most ``COLUMN_BUDGET`` bytes (as float64)."""
    size = max(1, COLUMN_BUDGET // max(1, 8 * rows))
    return [features[i : i + size] for i in range(0, len(features), size)]


def _narrow_batch(spec: AuditSpec, source: Source) -> DecisionBatch:
    cols = spec.columns
    missing = [f for f in cols.features if f not in source.names]
    if missing:
        raise DataValidationError(
            f"{source.label}: the data do not match the spec.",
            problems=[f"column '{f}' (named in columns.features) is missing" for f in missing],
        )
    probabilities = [c for g in spec.protected_probabilities.values() for c in g.values()]
    wanted = [
        cols.id,
        cols.decision,
        cols.score,
        cols.label,
        *spec.protected,
        *probabilities,
        *spec.strata,
        # controls (a few columns) are narrow too: the adjusted analyses then run on the
        # same rows and code as in memory, so their numbers are identical
        *spec.controls,
        *cols.outcomes,
    ]
    narrow = [c for c in dict.fromkeys(w for w in wanted if w) if c in source.names]
    frame = source.read(narrow)
    narrow_spec = spec.model_copy(update={"columns": cols.model_copy(update={"features": []})})
    batch = decisions_from_frame(narrow_spec, frame, spec.resolve(spec.data.path))
    return batch


def _plan(
    spec: AuditSpec,
    model: ModelAdapter,
    batch: DecisionBatch,
    groups: list[Grouping],
    source: Source,
) -> ChunkPlan:
    return _plan_for(spec, model, len(batch), source.take, source.label)


def _plan_for(
    spec: AuditSpec,
    model: ModelAdapter,
    rows_total: int,
    take: Callable[[np.ndarray, list[str]], pd.DataFrame],
    label: str,
) -> ChunkPlan:
    """The chunk plan: method, seeded rows to explain and background, by global position."""
    from auditor.metrics.group_metrics import groupings
    from auditor.pipeline import _split_groupings

    e = spec.explain
    params: dict[str, object] = {}
    method = None
    rows = background = None
    if e.method != "none":
        method = choose_method(model, None if e.method == "auto" else e.method)
        rows, bg_rows = plan_rows(method, rows_total, e.max_rows, e.background, spec.seed)
        background = model.encode(take(bg_rows, list(spec.columns.features)))
        params = {
            "background_size": len(bg_rows),
            "seed": spec.seed,
            "rows_explained": rows_total if rows is None else len(rows),
            "rows_total": rows_total,
        }
    groups = groupings(spec.protected, _split_groupings(spec)[0])
    return ChunkPlan(
        source=label,
        method=method,
        explain_rows=rows,
        background=background,
        steps=e.steps,
        tolerance=e.tolerance,
        groupings=tuple((g.name, g.attributes) for g in groups),
        params=params,
    )


def _summary(
    spec: AuditSpec,
    sums: AttributionSums | None,
    method: str | None,
    output_space: str | None,
    reason: str | None,
    names: tuple[str, ...],
    groups: list[Grouping],
    references: dict[str, str | None],
    warnings: list[str],
) -> AttributionSummary:
    if sums is None or method is None or not sums.n:
        return AttributionSummary(computed=False, reason=reason)
    tol = spec.explain.tolerance or get_explainer(method).default_tolerance
    warning = additivity_warning(method, sums.additivity_error, tol)
    if warning:
        warnings.append(warning)
    params = {k: v for k, v in sums.params.items() if k != "baseline_values"}
    if sums.steps_used is not None:
        params |= {"steps_max_used": sums.steps_used, "rows_refined": sums.rows_refined}
    return AttributionSummary(
        computed=True,
        method=method,
        output=output_space,
        n_explained=sums.n,
        feature_names=names,
        base_value=sums.base_total / sums.n,
        additivity_error=sums.additivity_error,
        tolerance=tol,
        global_importance=global_importance(sums, names),
        groups=tuple(attribution_slices(sums, names, groups, references)),
        params=params,
    )


def _with(
    summary: AttributionSummary,
    proxies: list[ProxyScore],
    ranking: list[ProxyRank],
    decompositions: list[GapDecomposition],
) -> AttributionSummary:

    if not summary.computed:
        return replace(summary, proxies=tuple(proxies), proxy_ranking=tuple(ranking))
    return replace(
        summary,
        proxies=tuple(proxies),
        proxy_ranking=tuple(ranking),
        gap_decomposition=tuple(decompositions),
    )
