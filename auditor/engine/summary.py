"""Attribution summaries from merged sums: the numbers ``auditor.metrics`` computes in memory."""

from __future__ import annotations

import numpy as np

from auditor.batch import UNKNOWN
from auditor.engine.sums import AttributionSums, GroupSums
from auditor.metrics.group_metrics import Grouping
from auditor.result import GapDecomposition, GroupAttribution


def _named(names: tuple[str, ...], arr: np.ndarray) -> dict[str, float]:
    return {n: float(v) for n, v in zip(names, arr, strict=True)}


def _present(sums: AttributionSums, grouping: str) -> dict[str, GroupSums]:
    per = sums.groups.get(grouping, {})
    return {g: per[g] for g in sorted(per) if per[g].n > 0}


def global_importance(sums: AttributionSums, names: tuple[str, ...]) -> dict[str, float]:
    """Mean |attribution| per feature, largest first (as ``metrics.global_importance``)."""
    if sums.abs_total is None or not sums.n:
        return {}
    imp = sums.abs_total / sums.n
    order = np.argsort(-imp, kind="stable")
    return {names[i]: float(imp[i]) for i in order}


def attribution_slices(
    sums: AttributionSums,
    names: tuple[str, ...],
    groups: list[Grouping],
    references: dict[str, str | None],
) -> list[GroupAttribution]:
    """Per grouping and group: mean, mean |attribution| and gap to the reference group."""
    out: list[GroupAttribution] = []
    for g in groups:
        per = _present(sums, g.name)
        ref = references.get(g.name)
        ref_mean = per[ref].phi / per[ref].n if ref in per else None
        for group, s in per.items():
            mean = s.phi / s.n
            gap = (mean - ref_mean) if ref_mean is not None and group != UNKNOWN else None
            out.append(
                GroupAttribution(
                    attribute=g.name,
                    group=group,
                    n=s.n,
                    reference=ref,
                    mean=_named(names, mean),
                    mean_abs=_named(names, s.abs_phi / s.n),
                    gap={} if gap is None else _named(names, gap),
                )
            )
    return out


def gap_decompositions(
    sums: AttributionSums,
    names: tuple[str, ...],
    groups: list[Grouping],
    references: dict[str, str | None],
) -> list[GapDecomposition]:
    """Output-gap decompositions per grouping (as ``metrics.gap_decomposition``)."""
    out: list[GapDecomposition] = []
    for g in groups:
        per = _present(sums, g.name)
        ref = references.get(g.name)
        if ref is None or ref not in per:
            continue
        r = per[ref]
        for group in sorted(set(per) - {UNKNOWN, ref}):
            s = per[group]
            out.append(
                GapDecomposition(
                    attribute=g.name,
                    group=group,
                    reference=ref,
                    n=s.n,
                    n_reference=r.n,
                    output_gap=s.output / s.n - r.output / r.n,
                    base_gap=s.base / s.n - r.base / r.n,
                    contributions=_named(names, s.phi / s.n - r.phi / r.n),
                    residual=s.residual / s.n - r.residual / r.n,
                )
            )
    return out


def row_gap_decompositions(
    attribute: str,
    labels: np.ndarray,
    values: np.ndarray,
    base_values: np.ndarray,
    outputs: np.ndarray,
    feature_names: tuple[str, ...],
    reference: str | None,
) -> list[GapDecomposition]:
    """The decompositions of one grouping from explained rows held in memory (the LDA
    search's refit model): the rows become one chunk's sums, then
    :func:`gap_decompositions`, the engines' one form."""
    labels = np.asarray(labels).astype(str)
    names = sorted(set(labels.tolist()))
    codes = np.searchsorted(np.array(names), labels) if names else np.zeros(0, np.int64)
    sums = AttributionSums(values.shape[1])
    sums.add_rows(values, base_values, outputs, np.zeros(len(values)), {attribute: (codes, names)})
    grouping = Grouping(attribute, (attribute,))
    return gap_decompositions(sums, feature_names, [grouping], {attribute: reference})
