"""The charts of the results section, built from the pivoted tables."""

from __future__ import annotations

from auditor.report import charts
from auditor.report.charts import Figure
from auditor.report.tables import RATE_FOR_RATIO, AttributeTable, metric_label


def attach_figures(tables: list[AttributeTable]) -> None:
    """Give every table its charts (rate and ratio panels, control-group ratio)."""
    for table in tables:
        # a table that repeats an earlier one is not drawn again (see AttributeTable.same_as)
        table.figures = _figures(table) if table.same_as is None else []


def _bars(
    table: AttributeTable, metric: str, reference: str | None, shown: set[str]
) -> list[charts.Bar]:
    bars = []
    for row in table.rows:
        if row.cells and not shown & row.cells.keys():
            continue  # e.g. an "all groups" test record: no bar to draw
        rec = row.cells.get(metric)
        value, low, high = (rec.value, rec.ci_low, rec.ci_high) if rec else (None, None, None)
        kind: charts.Kind = (
            "reference" if row.group == reference else "caution" if row.caution else "normal"
        )
        bars.append(charts.Bar(row.group, value, low, high, kind))
    return bars


def _reference_rate(
    table: AttributeTable, rate_metric: str, reference: str | None
) -> tuple[float | None, str | None]:
    for row in table.rows:
        rec = row.cells.get(rate_metric)
        if rec is not None and (
            row.group == reference or (reference is None and rate_metric in row.reference_in)
        ):
            return rec.value, row.group
    return None, reference


def _figures(table: AttributeTable) -> list[Figure]:
    figures = []
    present = {c.metric for c in table.columns}
    for ratio_metric, rate_metric in RATE_FOR_RATIO.items():
        if rate_metric not in present:
            continue
        if rate_metric == "scoring_rate" and "selection_rate" in present:
            continue  # the scoring table carries them; one rate chart per attribute is enough
        reference = table.reference_for(ratio_metric)
        ref_rate, reference = _reference_rate(table, rate_metric, reference)
        rate_label, ratio_label = metric_label(rate_metric), metric_label(ratio_metric)
        has_ratio = ratio_metric in present
        shown = {rate_metric, ratio_metric}
        svg = charts.rate_ratio_chart(
            _bars(table, rate_metric, reference, shown),
            _bars(table, ratio_metric, reference, shown) if has_ratio else None,
            rate_metric=rate_label.lower(),
            ratio_metric=ratio_label.lower(),
            reference=reference,
            reference_rate=ref_rate,
            chart_id=f"{table.anchor}-{rate_metric}",
        )
        # the lines' meaning in full (the four-fifths line is a screen, not a legal
        # threshold under NYC LL144 or EU law) is said once, in section 4's introduction
        text = f"{'Left: ' if has_ratio else ''}{rate_label.lower() if has_ratio else rate_label}"
        text += f" per group of {table.name} with 95% Wilson intervals"
        if ref_rate is not None:
            text += f" (dashed: the rate of the reference group, {reference})"
        if has_ratio:
            text += (
                f". Right: {ratio_label.lower()} against {reference or 'the reference'}"
                " with 95% intervals (dotted: the four-fifths screen, 0.80)"
            )
        if table.any_caution:
            text += ". Grey bars with a dashed outline: small-sample or unknown groups"
        drawn = (rate_metric, ratio_metric) if has_ratio else (rate_metric,)
        figures.append(Figure(svg, text + ".", metrics=drawn))
    air_ref = table.reference_for("adverse_impact_ratio")
    if "adverse_impact_ratio" in present and air_ref != table.reference_for("impact_ratio"):
        svg = charts.ratio_chart(
            _bars(table, "adverse_impact_ratio", air_ref, {"adverse_impact_ratio"}),
            metric="adverse impact ratio",
            reference=air_ref,
            chart_id=f"{table.anchor}-air",
        )
        figures.append(
            Figure(
                svg,
                f"Adverse impact ratio per group of {table.name} relative "
                f"to the control group {air_ref}, with 95% intervals; the "
                "dotted line marks the four-fifths convention (0.80).",
                metrics=("adverse_impact_ratio",),
            )
        )
    return figures
