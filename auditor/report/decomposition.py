"""The gap decomposition as a waterfall chart: one chart per attribute.

A :class:`~auditor.result.GapDecomposition` splits the gap in mean model output between a
group and the reference group into per-feature contributions (exact for additive
attributions), a base-value difference (0 for a shared base) and a residual (what the
attributions leave unexplained). The waterfall starts at 0, adds the largest contributions
one bar at a time, sums the rest into one bar, adds the base difference and the residual
where they are not zero, and ends with the total output gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from auditor.report import charts_waterfall
from auditor.report.charts import Figure
from auditor.report.tables import AttributeTable
from auditor.result import GapDecomposition

TOP_STEPS = 8
"""Features drawn as their own step; the others are summed into one."""
NEGLIGIBLE = 1e-9
"""A base difference or residual this small (floating-point noise) gets no bar."""


@dataclass(frozen=True)
class Step:
    """One bar of the waterfall: a label and the amount it adds to the gap."""

    label: str
    value: float
    kind: str = "feature"  # feature | rest | base | residual


@dataclass
class Waterfall:
    """The decomposition shown for one attribute, with its chart."""

    attribute: str
    group: str
    reference: str
    n: int
    n_reference: int
    output_gap: float
    steps: list[Step]
    why: str
    figure: Figure | None = None


def steps(decomposition: GapDecomposition, top: int = TOP_STEPS) -> list[Step]:
    """The waterfall's bars: the ``top`` largest |contributions|, the rest summed, then the
    base difference and the residual (each only when not negligible). They add up to the
    gap (up to the negligible parts)."""
    ranked = sorted(decomposition.contributions.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
    out = [Step(name, value) for name, value in ranked[:top]]
    rest = ranked[top:]
    if rest:
        out.append(Step(f"{len(rest)} other features", sum(v for _, v in rest), "rest"))
    if abs(decomposition.base_gap) > NEGLIGIBLE:
        out.append(Step("base value difference", decomposition.base_gap, "base"))
    if abs(decomposition.residual) > NEGLIGIBLE:
        out.append(Step("residual (unexplained)", decomposition.residual, "residual"))
    return out


def _pick(
    attribute: str, decompositions: Sequence[GapDecomposition], tables: list[AttributeTable]
) -> tuple[GapDecomposition, str]:
    """The group with the lowest impact ratio, else the largest absolute output gap."""
    table = next((t for t in tables if t.name == attribute), None)
    if table is not None:
        for metric in ("impact_ratio", "scoring_impact_ratio"):
            low = table.lowest(metric)
            match = next((d for d in decompositions if low and d.group == low[0].group), None)
            if match is not None:
                return match, f"the group with the lowest {metric.replace('_', ' ')}"
    widest = max(decompositions, key=lambda d: (abs(d.output_gap), d.group))
    return widest, "the group with the largest output gap"


def build_waterfalls(
    decompositions: Sequence[GapDecomposition],
    tables: list[AttributeTable],
    *,
    output: str | None,
    figures: bool = True,
) -> list[Waterfall]:
    """One :class:`Waterfall` per attribute (the group :func:`_pick` chooses)."""
    by_attr: dict[str, list[GapDecomposition]] = {}
    for d in decompositions:
        by_attr.setdefault(d.attribute, []).append(d)
    out = []
    for index, (attr, members) in enumerate(by_attr.items(), start=1):
        chosen, why = _pick(attr, members, tables)
        bars = steps(chosen)
        view = Waterfall(
            attr,
            chosen.group,
            chosen.reference,
            chosen.n,
            chosen.n_reference,
            chosen.output_gap,
            bars,
            why,
        )
        if figures:
            svg = charts_waterfall.waterfall_chart(
                [(s.label, s.value, s.kind) for s in bars],
                total=chosen.output_gap,
                output=output or "model",
                chart_id=f"waterfall-{index}",
            )
            rest = next((s for s in bars if s.kind == "rest"), None)
            # how to read the chart is said once, in section 5.4's introduction, and the
            # heading above it names both groups, their sizes and the total gap
            caption = f"{chosen.group} against {chosen.reference}: {why} of {attr}"
            if rest is not None:
                caption += f"; the {rest.label} are summed into one bar"
            view.figure = Figure(svg, caption + ".", width="third")
        out.append(view)
    return out
