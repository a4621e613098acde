"""Row-based attribution summaries: the oracle of the engines' sums-based summary.

Means, mean magnitudes and gaps to the reference per group, global importance and the
output-gap decomposition, each computed over explained rows held in memory. The package
computes them one way on every engine, from mergeable per-group sums
(:mod:`auditor.engine.sums`, :mod:`auditor.engine.summary`; issue 20); these survive only
to check that form (``tests/test_gap_decomposition.py``).
"""

from __future__ import annotations

import numpy as np

from auditor.batch import UNKNOWN, DecisionBatch
from auditor.explain.base import AttributionSet
from auditor.metrics.group_metrics import Grouping
from auditor.result import GapDecomposition, GroupAttribution


def attribution_slices(
    batch: DecisionBatch,
    attributions: AttributionSet,
    groups: list[Grouping],
    references: dict[str, str | None],
) -> list[GroupAttribution]:
    """Per grouping and group: mean and mean |attribution| per feature, and the gap.

    The gap is the group's mean attribution minus the reference group's, per feature: the
    features whose contributions differ most between the groups explain the score gap.
    """
    names = attributions.feature_names
    values = attributions.values
    out: list[GroupAttribution] = []
    for g in groups:
        labels = batch.group_labels(list(g.attributes)).to_numpy()[attributions.row_index]
        means: dict[str, tuple[int, np.ndarray, np.ndarray]] = {}
        for group in sorted(set(labels.tolist())):
            mask = labels == group
            means[group] = (
                int(mask.sum()),
                values[mask].mean(axis=0),
                np.abs(values[mask]).mean(axis=0),
            )
        ref = references.get(g.name)
        ref_mean = means[ref][1] if ref in means else None
        for group, (n, mean, mean_abs) in means.items():
            gap = (mean - ref_mean) if ref_mean is not None and group != UNKNOWN else None
            out.append(
                GroupAttribution(
                    attribute=g.name,
                    group=group,
                    n=n,
                    reference=ref,
                    mean=_named(names, mean),
                    mean_abs=_named(names, mean_abs),
                    gap={} if gap is None else _named(names, gap),
                )
            )
    return out


def global_importance(attributions: AttributionSet) -> dict[str, float]:
    """Mean |attribution| per feature, largest first."""
    imp = np.abs(attributions.values).mean(axis=0)
    order = np.argsort(-imp, kind="stable")
    return {attributions.feature_names[i]: float(imp[i]) for i in order}


def _named(names: tuple[str, ...], arr: np.ndarray) -> dict[str, float]:
    return {n: float(v) for n, v in zip(names, arr, strict=True)}


def gap_decomposition(
    attribute: str,
    labels: np.ndarray,
    values: np.ndarray,
    base_values: np.ndarray,
    outputs: np.ndarray,
    feature_names: tuple[str, ...],
    reference: str | None,
) -> list[GapDecomposition]:
    """One decomposition per known non-reference group against ``reference``."""
    if reference is None or not (labels == reference).any():
        return []
    residuals = outputs - base_values - values.sum(axis=1)

    def means(mask: np.ndarray) -> tuple[float, float, np.ndarray, float]:
        return (
            float(outputs[mask].mean()),
            float(base_values[mask].mean()),
            values[mask].mean(axis=0),
            float(residuals[mask].mean()),
        )

    ref_mask = labels == reference
    r_out, r_base, r_phi, r_res = means(ref_mask)
    out = []
    for group in sorted(set(labels.tolist()) - {UNKNOWN, reference}):
        mask = labels == group
        g_out, g_base, g_phi, g_res = means(mask)
        contrib = g_phi - r_phi
        out.append(
            GapDecomposition(
                attribute=attribute,
                group=str(group),
                reference=reference,
                n=int(mask.sum()),
                n_reference=int(ref_mask.sum()),
                output_gap=g_out - r_out,
                base_gap=g_base - r_base,
                contributions={f: float(c) for f, c in zip(feature_names, contrib, strict=True)},
                residual=g_res - r_res,
            )
        )
    return out
