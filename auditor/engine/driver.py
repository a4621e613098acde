"""One driver for every engine: ``measure(spec, model, source) -> Measurement`` (issue 20).

A *source* is where the decisions are: an in-memory frame (one partition,
:class:`~auditor.engine.sources.FrameSource`), a local file read in chunks
(:class:`~auditor.engine.local.LocalSource`) or Spark (:class:`SparkSource`). The
in-memory and chunked sources run the same steps here; Spark runs its passes on the
cluster (:mod:`auditor.engine.spark`) through the same per-partition functions
(:mod:`auditor.engine.partials`, :func:`auditor.engine.kernel.run_chunk`) and the same
finalisation (:func:`finish`). What every engine shares:

- the decision rule (:func:`auditor.engine.statistics.decide`) and the decision cells,
  from which every group metric and the dataset summary follow;
- the chunk kernel (score, explain, sum attributions by group), planned once before any
  row is read, so the seeded sample of rows is the same wherever the rows are;
- explanation quality on a seeded sample of rows read back by position;
- :func:`finish`: the attribution summary from merged sums, the warnings in one order.

Memory plan of the chunked source (what makes an audit of 10M decisions × 30 features fit
in a few GB): the *narrow* per-decision columns (id, outcomes, protected attributes,
controls, geography) are held for every row; the *wide* work (encode, score, attribute)
runs chunk by chunk; slice search and proxy statistics read **a few feature columns at a
time** (``COLUMN_BUDGET`` bytes). Peak memory is O(rows × narrow columns + rows of one
feature + chunk × features), never O(rows × features).

Analyses beyond the cells (``controls:`` and ``columns.outcomes``, BIRDiE, geography
proxies) are *extra analyses*: they run where the driver holds every row's narrow columns
(in memory and chunked, :func:`_extras`). On Spark the controls come from partition sums
(:mod:`auditor.metrics.controls_merged`, the same records), BIRDiE from the partitions'
merged cell tables (:mod:`auditor.metrics.birdie_cells`, the table every engine fits) and
the geography proxies from the partitions' proxy statistics (the ones
:func:`auditor.metrics.proxies.proxy_scores` reduces each column to).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import pandas as pd

from auditor.batch import DecisionBatch
from auditor.engine.kernel import ChunkPlan
from auditor.engine.measured import Measured, plan_for
from auditor.engine.quality import explanation_quality
from auditor.engine.statistics import (
    apply_model,
    birdie_measured,
    check_control_groups,
    controls_measured,
    dataset_summary,
    decision_cells,
    disagreement_warning,
    group_statistics,
    model_input,
    split_groupings,
)
from auditor.engine.summary import attribution_slices, gap_decompositions, global_importance
from auditor.engine.sums import AttributionSums
from auditor.errors import DataValidationError, SpecError
from auditor.explain import get_explainer
from auditor.explain.run import (
    NO_MODEL_REASON,
    TURNED_OFF_REASON,
    additivity_warning,
)
from auditor.metrics import groupings, proxy_ranking, proxy_scores
from auditor.metrics.cells import DecisionCells
from auditor.metrics.group_metrics import Grouping
from auditor.metrics.slices import select_slices, slice_candidates
from auditor.models.base import ModelAdapter
from auditor.models.checks import training_categories, unseen_categories
from auditor.result import (
    AttributionSummary,
    DatasetSummary,
    MetricRecord,
    ProxyRank,
    ProxyScore,
)
from auditor.spec import AuditSpec

COLUMN_BUDGET = 256 * 2**20  # bytes of feature columns read at once for slices and proxies
Stage = Callable[[str], AbstractContextManager[None]]
Capture = Callable[[DecisionBatch], None]


@dataclass(frozen=True)
class Measurement:
    """Everything an audit measures, the same from every engine (apart from run fields).

    ``warnings`` are the measurement's own, returned rather than appended to a caller's
    list; ``geography`` is each feature's association with the geography columns.
    """

    cells: DecisionCells
    metrics: tuple[MetricRecord, ...]
    dataset: DatasetSummary
    attributions: AttributionSummary
    explanation_quality: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    geography: tuple[ProxyScore, ...] = ()


class Source(Protocol):
    """Where the decisions are: an in-memory frame or a local file read in chunks."""

    label: str
    names: list[str]
    holds_rows: bool  # every row's features are in memory (per-decision capture)

    def batch(self, spec: AuditSpec) -> DecisionBatch:
        """The validated per-decision columns of every row (features: may be left out)."""
        ...

    def read(self, columns: list[str]) -> pd.DataFrame:
        """These columns for every row, in order."""
        ...

    def take(self, positions: np.ndarray, columns: list[str]) -> pd.DataFrame:
        """A few rows by sorted global position."""
        ...

    def encode_at(self, model: ModelAdapter, positions: np.ndarray) -> np.ndarray:
        """The model's encoded inputs of the rows at sorted ``positions``."""
        ...

    def wide_pass(
        self, plan: ChunkPlan, model: ModelAdapter, batch: DecisionBatch
    ) -> tuple[np.ndarray, AttributionSums]:
        """Scores of every row (in order) and the merged attribution sums."""
        ...


class SparkSource:
    """The decisions as Spark reads them (``data.path``, a file, folder or URL)."""

    label = "spark"


def default_source(spec: AuditSpec) -> Source | SparkSource:
    """The spec's engine as a source: Spark, a file in chunks, or the whole file in memory."""
    if spec.engine.kind == "spark":
        return SparkSource()
    if spec.engine.chunk_rows is not None:
        from auditor.engine.local import LocalSource

        return LocalSource(spec)
    from auditor.engine.sources import FrameSource

    return FrameSource(spec)


def measure(
    spec: AuditSpec,
    model: ModelAdapter | None,
    source: Source | SparkSource | None = None,
    *,
    stage: Stage | None = None,
    timings: dict[str, float] | None = None,
    capture: Capture | None = None,
) -> Measurement:
    """Measure the decisions of ``source`` (default: the spec's engine) with ``model``.

    ``stage`` wraps each step (progress, timings); ``capture`` receives the scored
    decisions once, for sources that hold every row (letters from stored decisions).
    """
    stage = stage or _no_stage
    source = default_source(spec) if source is None else source
    if capture is not None and not getattr(source, "holds_rows", False):
        # a Spark audit's letters read its data again (auditor letters --engine spark);
        # the streaming engine has no such path yet
        raise SpecError(
            f"{spec.source}: letters: per-decision records are kept by the in-memory "
            "engine only; with the Spark engine, store the audit and issue its letters "
            "with 'auditor letters AUDIT_ID --engine spark'; otherwise remove "
            "engine.chunk_rows, or the letters section, for this audit."
        )
    groups = groupings(spec.protected, split_groupings(spec)[0])
    if isinstance(source, SparkSource):
        from auditor.engine.spark import run_spark

        measured = run_spark(spec, model, groups, stage, timings)
    else:
        measured = _measure_local(spec, model, groups, source, stage, timings, capture)
    return finish(spec, model, groups, measured)


@contextmanager
def _no_stage(name: str) -> Iterator[None]:
    yield


def _measure_local(
    spec: AuditSpec,
    model: ModelAdapter | None,
    groups: list[Grouping],
    source: Source,
    stage: Stage,
    timings: dict[str, float] | None,
    capture: Capture | None,
) -> Measured:
    """The in-memory and chunked sources: narrow columns held, wide work by chunks."""
    features = list(spec.columns.features)
    with stage("load data"):
        batch = source.batch(spec)
        check_control_groups(spec, batch)
    decisions_from, disagree = "data", 0
    sums = plan = None
    reason = None
    if model is None:
        reason = NO_MODEL_REASON
    else:
        with stage("explain"):
            plan = plan_for(spec, model, len(batch), _encoder(source, model), source.label)
            if plan.method is None:
                reason = TURNED_OFF_REASON
            scores, merged = source.wide_pass(plan, model, batch)
            sums = merged if plan.method is not None else None
        batch, decisions_from, disagree = apply_model(spec, batch, scores)
    if capture is not None:
        capture(batch)
    method = plan.method if sums is not None and plan is not None else None
    with stage("explanation quality"):
        quality = explanation_quality(
            spec,
            model,
            method,
            len(batch),
            _encoder(source, model),
            timings,
        )
    with stage("measure"):
        cells = decision_cells(spec, batch)
        metrics, references = group_statistics(spec, cells, groups)
        extra, extra_notes = _extras(spec, batch, groups, references)
        metrics += extra
        names = tuple(model.feature_names) if model is not None else ()
        decompositions = gap_decompositions(sums, names, groups, references) if sums else []
        ranked_with = [d for d in decompositions if d.attribute in batch.protected.columns]
        explained = plan.explain_rows if sums is not None and plan is not None else None
        prot = (
            batch.protected
            if explained is None
            else batch.protected.iloc[explained].reset_index(drop=True)
        )
        candidates: list[MetricRecord] = []
        proxies: list[ProxyScore] = []
        geography: list[ProxyScore] = []
        ranking: list[ProxyRank] = []
        unseen: dict[str, int] = {}
        cats = training_categories(model) if model is not None else None
        assert batch.decisions is not None  # decided above
        for cols in column_groups(features, len(batch)):
            block = source.read(cols)  # a few feature columns in memory at a time
            if len(block) != len(batch):
                raise DataValidationError(f"{source.label}: columns {cols} changed length")
            # features are independent in all of these: per block, then merged and sorted
            candidates += slice_candidates(
                block, batch.protected, batch.decisions, min_size=spec.min_group_size
            )
            proxies += proxy_scores(block, batch.protected)
            if batch.geography is not None:
                geography += proxy_scores(block, batch.geography)
            if cats is not None:
                unseen.update(unseen_categories(block, cats))
            sub = block if explained is None else block.iloc[explained].reset_index(drop=True)
            ranking += proxy_ranking(sub, prot, ranked_with)
        metrics += select_slices(candidates)
    return Measured(
        cells=cells,
        decisions_from=decisions_from,
        metrics=metrics,
        references=references,
        sums=sums,
        method=method,
        reason=reason,
        quality=quality,
        disagree=disagree,
        unseen=unseen,
        proxies=proxies,
        ranking=ranking,
        decompositions=decompositions,
        extra_notes=extra_notes,
        geography=geography,
    )


def _extras(
    spec: AuditSpec,
    batch: DecisionBatch,
    groups: list[Grouping],
    references: dict[str, str | None],
) -> tuple[list[MetricRecord], list[str]]:
    """Analyses beyond the decision cells, on every row's narrow columns: the
    ``controls:``/``columns.outcomes`` measures (disparity given legitimate factors), their
    own Holm families, then BIRDiE's bias-corrected rates of inferred membership."""
    controls, control_notes = controls_measured(spec, batch, groups, references)
    birdie, birdie_notes = birdie_measured(spec, batch)
    return [*controls, *birdie], [*control_notes, *birdie_notes]


def finish(
    spec: AuditSpec, model: ModelAdapter | None, groups: list[Grouping], m: Measured
) -> Measurement:
    """One finalisation for every engine: summaries from merged sums, warnings in order."""
    facts, input_notes = model_input(model, m.unseen, m.cells.n)
    warnings = [*input_notes, *disagreement_warning(spec, m.disagree, m.cells.n)]
    warnings += m.extra_notes
    summary, additivity = attribution_summary(
        spec, model, m.sums, m.method, m.reason, groups, m.references
    )
    warnings += additivity
    proxies = sorted(m.proxies, key=lambda p: (-p.value, p.attribute, p.feature))
    ranking = sorted(m.ranking, key=lambda p: (-p.score, p.attribute, p.group, p.feature))
    geography = sorted(m.geography, key=lambda p: (-p.value, p.attribute, p.feature))
    if summary.computed:
        summary = replace(
            summary,
            proxies=tuple(proxies),
            proxy_ranking=tuple(ranking),
            gap_decomposition=tuple(m.decompositions),
        )
    else:
        summary = replace(summary, proxies=tuple(proxies), proxy_ranking=tuple(ranking))
    return Measurement(
        cells=m.cells,
        metrics=tuple(m.metrics),
        dataset=dataset_summary(spec, m.cells, m.decisions_from, model_input=facts),
        attributions=summary,
        explanation_quality=m.quality,
        warnings=tuple(warnings),
        geography=tuple(geography),
    )


def attribution_summary(
    spec: AuditSpec,
    model: ModelAdapter | None,
    sums: AttributionSums | None,
    method: str | None,
    reason: str | None,
    groups: list[Grouping],
    references: dict[str, str | None],
) -> tuple[AttributionSummary, list[str]]:
    """The attribution summary from merged sums, and the additivity warning if any."""
    if sums is None or method is None or model is None or not sums.n:
        return AttributionSummary(computed=False, reason=reason), []
    names = tuple(model.feature_names)
    tol = spec.explain.tolerance or get_explainer(method).default_tolerance
    warning = additivity_warning(method, sums.additivity_error, tol)
    params = {k: v for k, v in sums.params.items() if k != "baseline_values"}
    if sums.steps_used is not None:
        params |= {"steps_max_used": sums.steps_used, "rows_refined": sums.rows_refined}
    summary = AttributionSummary(
        computed=True,
        method=method,
        output=model.output_space,
        n_explained=sums.n,
        feature_names=names,
        base_value=sums.base_total / sums.n,
        additivity_error=sums.additivity_error,
        tolerance=tol,
        global_importance=global_importance(sums, names),
        groups=tuple(attribution_slices(sums, names, groups, references)),
        params=params,
    )
    return summary, [warning] if warning else []


def _encoder(source: Source, model: ModelAdapter | None) -> Callable[[np.ndarray], np.ndarray]:
    def at(positions: np.ndarray) -> np.ndarray:
        if model is None:
            raise ValueError("encoded: no model (only called when a method explained rows)")
        return source.encode_at(model, positions)

    return at


def column_groups(features: list[str], rows: int) -> list[list[str]]:
    """Feature columns in groups of at most ``COLUMN_BUDGET`` bytes (as float64)."""
    size = max(1, COLUMN_BUDGET // max(1, 8 * rows))
    return [features[i : i + size] for i in range(0, len(features), size)]
