"""Context for the attribution section: importance, per-group gaps and proxy scores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from auditor.report import charts
from auditor.report.charts import Figure
from auditor.report.decomposition import Waterfall, build_waterfalls
from auditor.report.tables import AttributeTable
from auditor.result import AttributionSummary, GroupAttribution

TOP_GAPS = 5
TOP_GAPS_INTERSECTION = 3
TOP_IMPORTANCE = 20
TOP_GAP_CHART = 12

METHOD_NAMES = {
    "tree_shap": "TreeSHAP (exact Shapley values for tree ensembles)",
    "interventional_tree_shap": "interventional TreeSHAP",
    "integrated_gradients": "integrated gradients",
    "permutation_shap": "permutation SHAP (sampled Shapley values)",
    "deeplift": "DeepLIFT",
    "lime": "LIME-style local surrogate",
}

MEASURE_NAMES = {
    "cramers_v": "Cramér's V",
    "mutual_information": "mutual information (normalised)",
    "auc": "AUC of predicting the attribute",
    "correlation": "correlation",
}


@dataclass(frozen=True)
class ProxyRow:
    """One proxy score with a readable measure name."""

    feature: str
    attribute: str
    measure: str
    measure_name: str
    value: float


@dataclass(frozen=True)
class ProxyMatrix:
    """Proxy scores as one row per feature and one column per protected attribute.

    ``measures`` names each column's measure when all its scores share one (else None,
    and each cell names its own); rows are ordered by their largest score.
    """

    attributes: list[str]
    measures: list[str | None]
    rows: list[tuple[str, list[ProxyRow | None]]]


def proxy_matrix(proxies: list[ProxyRow]) -> ProxyMatrix:
    """:class:`ProxyMatrix` of ``proxies`` (a feature × attribute pair seen twice keeps
    the first, i.e. the largest score, as ``proxies`` arrive sorted by value)."""
    attributes = sorted({p.attribute for p in proxies})
    cells: dict[str, dict[str, ProxyRow]] = {}
    for p in proxies:
        cells.setdefault(p.feature, {}).setdefault(p.attribute, p)
    measures: list[str | None] = []
    for attr in attributes:
        names = {c[attr].measure_name for c in cells.values() if attr in c}
        measures.append(names.pop() if len(names) == 1 else None)
    rows = [(feature, [row.get(a) for a in attributes]) for feature, row in cells.items()]
    return ProxyMatrix(attributes, measures, rows)


@dataclass(frozen=True)
class GapRow:
    """One feature's attribution gap for one group against the reference group."""

    feature: str
    gap: float
    group_mean: float | None
    reference_mean: float | None


@dataclass
class GroupGaps:
    """The features with the largest attribution gaps for one group."""

    group: str
    reference: str | None
    n: int
    rows: list[GapRow]


@dataclass
class AttributeGaps:
    """Attribution gaps of every non-reference group of one attribute."""

    attribute: str
    groups: list[GroupGaps]
    figure: Figure | None = None


@dataclass
class AttributionView:
    """What the attribution section shows."""

    computed: bool
    reason: str | None
    method: str | None = None
    method_name: str | None = None
    output: str | None = None
    n_explained: int = 0
    n_features: int = 0
    base_value: float | None = None
    additivity_error: float | None = None
    tolerance: float | None = None
    within_tolerance: bool | None = None
    params: list[tuple[str, str]] = field(default_factory=list)
    importance: list[tuple[str, float]] = field(default_factory=list)
    importance_figure: Figure | None = None
    gaps: list[AttributeGaps] = field(default_factory=list)
    proxies: list[ProxyRow] = field(default_factory=list)
    waterfalls: list[Waterfall] = field(default_factory=list)

    @property
    def proxy_matrix(self) -> ProxyMatrix:
        """The proxy scores as a feature × attribute table."""
        return proxy_matrix(self.proxies)


def build_attribution(
    summary: AttributionSummary, tables: list[AttributeTable], *, figures: bool = True
) -> AttributionView:
    """The attribution section's context (or the reason nothing was computed).

    ``figures=False`` skips the charts (for presets that show none).
    """
    if not summary.computed:
        return AttributionView(False, summary.reason or "no reason was recorded.")
    within = None
    if summary.additivity_error is not None and summary.tolerance is not None:
        within = summary.additivity_error <= summary.tolerance
    importance = sorted(summary.global_importance.items(), key=lambda kv: (-kv[1], kv[0]))
    view = AttributionView(
        computed=True,
        reason=None,
        method=summary.method,
        method_name=METHOD_NAMES.get(summary.method or "", summary.method),
        output=summary.output,
        n_explained=summary.n_explained,
        n_features=len(summary.feature_names) or len(importance),
        base_value=summary.base_value,
        additivity_error=summary.additivity_error,
        tolerance=summary.tolerance,
        within_tolerance=within,
        params=[(str(k), _param(v)) for k, v in summary.params.items()],
        importance=importance,
        proxies=[
            ProxyRow(
                p.feature,
                p.attribute,
                p.measure,
                MEASURE_NAMES.get(p.measure, p.measure.replace("_", " ")),
                p.value,
            )
            for p in sorted(summary.proxies, key=lambda p: (-p.value, p.feature, p.attribute))
        ],
    )
    if importance and figures:
        top = importance[:TOP_IMPORTANCE]
        more = (
            f" Only the {TOP_IMPORTANCE} largest of {len(importance)} features are shown."
            if len(importance) > TOP_IMPORTANCE
            else ""
        )
        view.importance_figure = Figure(
            charts.importance_chart(top, chart_id="attr-importance"),
            "Global importance: mean absolute attribution per feature over the "
            f"{summary.n_explained:,} explained rows, largest first.{more}",
        )
    view.waterfalls = build_waterfalls(
        summary.gap_decomposition, tables, output=summary.output, figures=figures
    )
    # an attribute with a waterfall (5.4) shows its per-feature gaps there, not twice
    drawn = {w.attribute for w in view.waterfalls if w.figure is not None}
    view.gaps = _gaps(summary.groups, tables, figures, skip_charts=drawn)
    return view


def _param(value: Any) -> str:
    return str(value)


def _gaps(
    groups: tuple[GroupAttribution, ...],
    tables: list[AttributeTable],
    figures: bool = True,
    skip_charts: set[str] | frozenset[str] = frozenset(),
) -> list[AttributeGaps]:
    by_attr: dict[str, list[GroupAttribution]] = {}
    for g in groups:
        by_attr.setdefault(g.attribute, []).append(g)
    out = []
    for index, (attr, members) in enumerate(by_attr.items(), start=1):
        means = {g.group: g.mean for g in members}
        entry = AttributeGaps(attr, [])
        for g in members:
            if g.reference is not None and g.group == g.reference:
                continue
            top = TOP_GAPS_INTERSECTION if " & " in attr else TOP_GAPS
            ranked = sorted(g.gap.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:top]
            ref_mean = means.get(g.reference or "")
            rows = [
                GapRow(f, gap, g.mean.get(f), ref_mean.get(f) if ref_mean else None)
                for f, gap in ranked
            ]
            entry.groups.append(GroupGaps(g.group, g.reference, g.n, rows))
        chart = figures and attr not in skip_charts
        picked = _disadvantaged(attr, members, tables) if chart else None
        if picked is not None and picked[0].gap:
            target, why = picked
            ranked = sorted(target.gap.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
            svg = charts.gap_chart(
                ranked[:TOP_GAP_CHART],
                group=target.group,
                reference=target.reference,
                chart_id=f"gap-{index}",
            )
            entry.figure = Figure(
                svg,
                f"Attribution gap per feature for {target.group} ({why}) against "
                f"{target.reference or 'the reference group'}:"
                " mean attribution of the group minus that of the reference group. "
                "Features with the largest absolute gaps are shown.",
            )
        if entry.groups:
            out.append(entry)
    return out


def _disadvantaged(
    attr: str, members: list[GroupAttribution], tables: list[AttributeTable]
) -> tuple[GroupAttribution, str] | None:
    """The group with the lowest impact ratio (else the largest total gap), not the reference."""
    candidates = [g for g in members if g.reference is None or g.group != g.reference]
    if not candidates:
        return None
    table = next((t for t in tables if t.name == attr), None)
    if table is not None:
        for metric in ("impact_ratio", "scoring_impact_ratio"):
            low = table.lowest(metric)
            if low is not None:
                match = next((g for g in candidates if g.group == low[0].group), None)
                if match is not None:
                    return match, f"the group with the lowest {metric.replace('_', ' ')} for {attr}"
    widest = max(candidates, key=lambda g: sum(abs(v) for v in g.gap.values()))
    return widest, f"the group of {attr} with the largest total attribution gap"
