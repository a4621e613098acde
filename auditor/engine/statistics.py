"""What every engine computes from the (merged) decision cells, and the one decision rule.

Moved out of ``auditor.pipeline`` (issue 20) so that the engines no longer import the
pipeline: the in-memory, streamed and Spark drivers all reach these functions from here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from auditor.batch import UNKNOWN, DecisionBatch
from auditor.errors import DataValidationError
from auditor.metrics import Grouping, adea, adjust_holm
from auditor.metrics.adjusted_mean import mark_outcome_records
from auditor.metrics.birdie import birdie_fit, birdie_records
from auditor.metrics.birdie_cells import BirdieCells, birdie_cells
from auditor.metrics.birdie_interval import REPLICATES as BIRDIE_REPLICATES
from auditor.metrics.birdie_interval import birdie_bootstrap
from auditor.metrics.cells import DecisionCells
from auditor.metrics.controls import controls_metrics
from auditor.metrics.counts import ScoreGrid
from auditor.metrics.group_metrics import (
    LABEL_METRICS,
    grouping_records,
    metrics_from_cells,
    row_keys,
    unfavorable_positive,
)
from auditor.metrics.stratified import stratified_from_cells
from auditor.metrics.weighted import (
    grouping_records_from_sums,
    membership_weights,
    weighted_sums,
)
from auditor.models import ModelAdapter
from auditor.models.checks import model_input_facts, unseen_warning
from auditor.result import DatasetSummary, GroupCount, MetricRecord
from auditor.spec import AuditSpec

BOOTSTRAP_REPLICATES = 1000  # seeded count bootstrap for every ratio (cheap: O(groups))
DISAGREEMENT_WARN = 0.01


def split_groupings(spec: AuditSpec) -> tuple[list[list[str]], list[Grouping]]:
    """Intersections of hard attributes, and the groupings with a probabilistic part."""
    probabilistic = spec.protected_probabilities
    hard = [c for c in spec.intersections if not probabilistic.keys() & set(c)]
    weighted = [Grouping(a, (a,)) for a in probabilistic]
    weighted += [
        Grouping(" & ".join(c), tuple(c))
        for c in spec.intersections
        if probabilistic.keys() & set(c)
    ]
    return hard, weighted


def control_map(spec: AuditSpec) -> dict[str, str]:
    """The named control (reference) group per attribute; empty for ``highest``."""
    return dict(spec.reference) if isinstance(spec.reference, dict) else {}


def decide(
    spec: AuditSpec,
    recorded: np.ndarray | None,
    recorded_scores: np.ndarray | None,
    model_scores: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The decisions and scores the audit measures, and the rows where the model's
    decision at the threshold differs from the recorded one.

    Without recorded decisions the model decides at the threshold; recorded decisions and
    scores win over the model's. The one rule for every engine (a row, a chunk or a Spark
    partition at a time).
    """
    decided = (model_scores >= spec.threshold).astype(np.int8)
    if recorded is None:
        return decided, model_scores, 0
    disagree = int(np.count_nonzero(decided != recorded))
    return recorded, recorded_scores if recorded_scores is not None else model_scores, disagree


def apply_model(
    spec: AuditSpec, batch: DecisionBatch, scores: np.ndarray
) -> tuple[DecisionBatch, str, int]:
    """``batch`` with :func:`decide`'s outcomes, where its decisions came from, and the
    disagreements."""
    decisions, kept, disagree = decide(spec, batch.decisions, batch.scores, scores)
    source = "model" if batch.decisions is None else "data"
    return batch.with_outcomes(decisions, kept), source, disagree


def disagreement_warning(spec: AuditSpec, disagree: int, rows: int) -> list[str]:
    """Warn when the model's decisions differ from the recorded ones for many rows."""
    share = disagree / rows if rows else 0.0
    if share <= DISAGREEMENT_WARN:
        return []
    return [
        f"The model's decisions at threshold {spec.threshold} differ from the recorded "
        f"decisions for {share:.1%} of rows; the audit measures the recorded decisions "
        "and explains the model, so the explanations may not describe every decision."
    ]


def model_input(
    model: ModelAdapter | None, unseen: dict[str, int] | None, rows: int
) -> tuple[dict[str, Any], list[str]]:
    """``dataset.model_input``, and the warnings for an unchecked order or unseen
    categories."""
    facts = model_input_facts(model, unseen)
    notes = []
    if facts.get("feature_order") == "unchecked":
        notes.append(f"feature order unchecked: {facts['feature_order_note']}")
    if unseen:
        notes.append(unseen_warning(unseen, rows))
    return facts, notes


def decision_cells(
    spec: AuditSpec,
    batch: DecisionBatch,
    *,
    median: float | None = None,
    grid: ScoreGrid | None = None,
) -> DecisionCells:
    """The mergeable counts of ``batch`` that :func:`group_statistics` measures.

    The in-memory engines pass the whole batch; the Spark engine one partition at a time
    with the full sample's score ``median`` and ``grid``, and merges the cells.
    """
    if batch.decisions is None:
        raise ValueError("decision_cells: the batch has no decisions (decide first)")
    weighted = {g.name: weighted_sums(batch, g.attributes) for g in split_groupings(spec)[1]}
    return DecisionCells.build(
        batch.protected[list(spec.protected)],
        row_keys(batch.decisions, batch.labels, batch.scores, median=median, grid=grid),
        has_scores=batch.scores is not None,
        decisions=batch.decisions,
        strata=batch.strata,
        weighted=weighted,
    )


def group_statistics(
    spec: AuditSpec, cells: DecisionCells, groups: list[Grouping]
) -> tuple[list[MetricRecord], dict[str, str | None]]:
    """Every group metric of the audit, and the reference group per grouping.

    Counts-based metrics of the hard groupings (with LL144's optional exclusion), weighted
    metrics of groupings with a probabilistic part, within-segment ratios, and one Holm
    family per metric across all of them. Shared by every engine: all of it comes from
    the (merged) decision cells.
    """
    control = control_map(spec)
    exclusion = spec.small_category_exclusion
    metrics, references = metrics_from_cells(
        cells,
        groups,
        min_group_size=spec.min_group_size,
        control=control,
        bootstrap=BOOTSTRAP_REPLICATES,
        seed=spec.seed,
        exclude_below=exclusion.below_share if exclusion else None,
        positive=spec.positive_outcome,
    )
    for g in split_groupings(spec)[1]:
        recs, references[g.name] = grouping_records_from_sums(
            g.name,
            cells.weighted[g.name],
            min_group_size=spec.min_group_size,
            control=control.get(g.name),
            bootstrap=BOOTSTRAP_REPLICATES,
            seed=spec.seed,
        )
        metrics += recs
    metrics += stratified_from_cells(
        cells, groups, references, control, min_group_size=spec.min_group_size
    )
    for p in adea_plans(spec, cells)[0]:
        recs, references[p.name] = _adea_records(spec, cells, p)
        metrics += recs
    return adjust_holm(metrics), references


def adea_plans(spec: AuditSpec, cells: DecisionCells) -> tuple[list[adea.AdeaPlan], list[str]]:
    """The ADEA comparisons (40 and over against under 40) of a hiring audit's age
    attributes, and why an age attribute has none (warnings); exit 2 when a group spans 40."""
    try:
        return adea.plans(
            spec.domain,
            list(spec.protected),
            spec.categories(),
            spec.protected_bands,
            {a: list(cells.sizes(a)) for a in spec.protected},
        )
    except adea.StraddlesForty as e:
        raise DataValidationError(f"{spec.data.path}: {e}") from None


def _adea_records(
    spec: AuditSpec, cells: DecisionCells, p: adea.AdeaPlan
) -> tuple[list[MetricRecord], str | None]:
    """The ADEA grouping's records, from the age groups' counts summed by side of 40;
    its ratios divide by the rate of those under 40 (a named control group: the ADEA
    protects the older side only)."""
    counts = cells.group_counts((p.attribute,))
    if spec.positive_outcome == "unfavorable":
        counts = {k: unfavorable_positive(c) for k, c in counts.items()}
    recs, ref = grouping_records(
        p.name,
        adea.merged_counts(p, counts),
        min_group_size=spec.min_group_size,
        control=adea.UNDER,
        bootstrap=BOOTSTRAP_REPLICATES,
        seed=spec.seed,
        score_values=adea.merged_score_values(p, cells.group_score_values((p.attribute,))),
    )
    flag = f"positive:{spec.positive_outcome}"
    return [
        replace(r, flags=(*r.flags, flag)) if r.metric in LABEL_METRICS else r for r in recs
    ], ref


def controls_measured(
    spec: AuditSpec,
    batch: DecisionBatch,
    groups: list[Grouping],
    references: dict[str, str | None],
) -> tuple[list[MetricRecord], list[str]]:
    """Disparity given the spec's legitimate factors (regression-adjusted, CDD, residual
    SMD, adjusted mean differences of ``columns.outcomes``), Holm-adjusted in their own
    families (new metric names), and their notes; none without controls or outcomes.

    Needs every row's control columns: the in-memory and chunked sources hold them (the
    Spark engine computes the same from partition sums, ``metrics/controls_merged.py``).
    """
    if not spec.controls and not spec.columns.outcomes:
        return [], []
    adjusted, notes = controls_metrics(
        batch,
        groups,
        references,
        control_map(spec),
        cdd_by=spec.cdd_by,
        min_group_size=spec.min_group_size,
    )
    return finish_controls(spec, adjusted), notes


def finish_controls(spec: AuditSpec, adjusted: list[MetricRecord]) -> list[MetricRecord]:
    """The controls records as every engine reports them: each outcome record flagged
    with its stated direction (and ``unadjusted`` without controls), Holm-adjusted in
    their own families (new metric names)."""
    marked = mark_outcome_records(
        adjusted, dict(spec.columns.outcome_directions), controlled=bool(spec.controls)
    )
    return adjust_holm(marked)


def birdie_measured(spec: AuditSpec, batch: DecisionBatch) -> tuple[list[MetricRecord], list[str]]:
    """BIRDiE's bias-corrected rates beside the weighted ones, per grouping with a
    probabilistic part (issue 17 item 7), and their notes; the weighted records decide.

    The EM runs on the rows' cell table (:mod:`auditor.metrics.birdie_cells`), which the
    Spark engine merges from its partitions (:func:`birdie_cell_tables` per partition):
    every engine fits the same table, so every engine gives the same numbers.
    """
    return birdie_from_cells(spec, birdie_cell_tables(spec, batch))


def birdie_cell_tables(spec: AuditSpec, batch: DecisionBatch) -> dict[str, BirdieCells]:
    """Per grouping with a probabilistic part, the cell table of ``batch``'s rows."""
    if batch.decisions is None:
        return {}
    y = np.asarray(batch.decisions, dtype=np.int64)
    return {
        g.name: birdie_cells(membership_weights(batch, g.attributes)[0], y)
        for g in split_groupings(spec)[1]
    }


def birdie_from_cells(
    spec: AuditSpec, tables: dict[str, BirdieCells]
) -> tuple[list[MetricRecord], list[str]]:
    """The BIRDiE records and notes from each grouping's (merged) cell table."""
    control = control_map(spec)
    out: list[MetricRecord] = []
    notes: list[str] = []
    for g in split_groupings(spec)[1]:
        cells = tables.get(g.name)
        if cells is None:
            continue
        fit = birdie_fit(cells.weights, cells.outcome, cells.groups, counts=cells.counts)
        # the spec has no replicate count of its own: the count bootstrap's 1000 would cost
        # 1000 EM refits over the rows, so the row bootstrap uses its documented default
        boot = birdie_bootstrap(
            cells.weights,
            cells.outcome,
            fit,
            replicates=BIRDIE_REPLICATES,
            seed=spec.seed,
            counts=cells.counts,
        )
        recs, found = birdie_records(
            g.name,
            fit,
            min_group_size=spec.min_group_size,
            control=control.get(g.name),
            samples=boot.rates,
        )
        if boot.unconverged:
            found.append(
                f"{g.name}: {boot.unconverged} of {boot.replicates} BIRDiE bootstrap "
                "replicates did not converge; the interval uses their last iterate"
            )
        out += recs
        notes += found
    return out, notes


def dataset_summary(
    spec: AuditSpec,
    cells: DecisionCells,
    source: str,
    *,
    model_input: dict[str, Any] | None = None,
) -> DatasetSummary:
    """Rows, favourable decisions and group sizes, from the (merged) decision cells."""
    counts = []
    n = cells.n
    for attr in spec.protected:
        for group, size in cells.sizes(attr).items():
            counts.append(
                GroupCount(attr, group, size, round(size / n, 6), unknown=group == UNKNOWN)
            )
    for p in adea_plans(spec, cells)[0]:
        sizes: dict[str, int] = {}
        for group, size in cells.sizes(p.attribute).items():
            side = UNKNOWN if group == UNKNOWN else p.side[group]
            sizes[side] = sizes.get(side, 0) + size
        for group, size in sorted(sizes.items()):
            counts.append(
                GroupCount(p.name, group, size, round(size / n, 6), unknown=group == UNKNOWN)
            )
    for attr in spec.protected_probabilities:
        # expected group sizes (sums of probabilities), rounded; unknown rows counted
        sums = cells.weighted[attr]
        for group, size in sorted(zip(sums.names, sums.wsum.tolist(), strict=True)):
            counts.append(GroupCount(attr, group, round(size), round(size / n, 6)))
        if sums.n_unknown:
            counts.append(
                GroupCount(attr, UNKNOWN, sums.n_unknown, round(sums.n_unknown / n, 6), True)
            )
    return DatasetSummary(
        rows=n,
        favorable=cells.favorable,
        has_labels=cells.has_labels,
        has_scores=cells.has_scores,
        decisions_from="model" if source == "model" else "data",
        groups=tuple(counts),
        features=tuple(spec.columns.features),
        model_input=dict(model_input or {}),
    )


def check_control_groups(spec: AuditSpec, batch: DecisionBatch) -> None:
    """:func:`check_control_values` over a batch's hard protected attributes."""
    values = {a: set(batch.protected[a].unique().tolist()) for a in batch.protected.columns}
    check_control_values(spec, values)


def check_control_values(spec: AuditSpec, values: dict[str, set[str]]) -> None:
    """Each protected attribute has two groups or more, and each named control group
    occurs (``values``: the hard attributes' values)."""
    problems = []
    for attr in spec.protected:
        known = sorted(values.get(attr, set()) - {UNKNOWN})
        if len(known) < 2:
            # a lone group would be compared with itself (ratio 1.0): no evidence at all
            found = f"only '{known[0]}'" if known else "no known value"
            problems.append(
                f"protected: column '{attr}' of {spec.resolve(spec.data.path)} has {found}; a "
                "disparity needs at least two groups to compare (remove the attribute or audit "
                "data with several groups)"
            )
    for attr, group in control_map(spec).items():
        if attr in spec.protected_probabilities:
            present = set(spec.protected_probabilities[attr])
        elif attr in values:
            present = values[attr]
        else:
            continue  # an intersection name: checked when its groups are formed
        if group not in present:
            problems.append(
                f"reference.{attr}: control group '{group}' does not occur in column "
                f"'{attr}'; groups present: {', '.join(sorted(present))}"
            )
    if problems:
        raise DataValidationError(
            f"{spec.source}: the protected groups do not match the data.", problems=problems
        )
