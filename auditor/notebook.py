"""An audit result in a notebook: tidy pandas frames and a self-contained HTML view.

Jupyter calls :meth:`AuditResult._repr_html_`, which is :func:`result_html`: the verdict
(findings by status, the groups that matter most, as page 1 of the report ranks them),
the lowest ratio per attribute with its 95% interval, and a small inline SVG of those
ratios against the 0.80 screen. Everything is escaped; no script, no external resource.
Wording rule (as in the report): state what was measured, never "fair" or "compliant".
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from auditor.report.summary import KeyNumber
    from auditor.result import AuditResult

METRIC_COLUMNS = (
    "attribute",
    "group",
    "metric",
    "value",
    "ci_low",
    "ci_high",
    "n",
    "count",
    "reference",
    "p_value",
    "p_value_adjusted",
    "flags",
)
FINDING_COLUMNS = (
    "rule_id",
    "pack",
    "title",
    "scope",
    "status",
    "severity",
    "observed",
    "threshold",
    "citation",
    "message",
    "rule_status",
    "basis",
    "check_failed",
)
SCREEN = 0.8
_COLOURS = {
    "fail": "#b3261e",
    "warn": "#a15c00",
    "insufficient_evidence": "#5f6368",
    "needs_attestation": "#5f6368",
    "pass": "#1e6b35",
    "not_applicable": "#9aa0a6",
}


def metrics_frame(result: AuditResult) -> pd.DataFrame:
    """One row per metric record: value, 95% interval, counts, p-values, flags."""
    import pandas as pd

    rows = [
        {
            "attribute": m.attribute,
            "group": m.group,
            "metric": m.metric,
            "value": m.value,
            "ci_low": m.ci_low,
            "ci_high": m.ci_high,
            "n": m.n,
            "count": m.count,
            "reference": m.reference,
            "p_value": m.p_value,
            "p_value_adjusted": m.p_value_adjusted,
            "flags": ",".join(m.flags),
        }
        for m in result.metrics
    ]
    frame = pd.DataFrame(rows, columns=list(METRIC_COLUMNS))
    for col in ("value", "ci_low", "ci_high", "p_value", "p_value_adjusted"):
        frame[col] = frame[col].astype("float64")
    frame["count"] = frame["count"].astype("Int64")
    return frame


def findings_frame(result: AuditResult) -> pd.DataFrame:
    """One row per policy finding, in the result's order."""
    import pandas as pd

    rows = [{c: getattr(f, c) for c in FINDING_COLUMNS} for f in result.findings]
    return pd.DataFrame(rows, columns=list(FINDING_COLUMNS))


def result_html(result: AuditResult) -> str:
    """The HTML Jupyter shows for ``result``."""
    from auditor.report.context import STATUS_TEXT
    from auditor.report.lead import build_lead
    from auditor.report.summary import key_numbers
    from auditor.report.tables import build_tables

    counts = result.findings_by_status()
    status_items = " · ".join(
        f'<span style="color:{_COLOURS[s]}"><b>{s.replace("_", " ")}</b> {n}</span>'
        f' <span style="color:#5f6368">({escape(STATUS_TEXT[s])})</span>'
        for s, n in counts.items()
    )
    lead = build_lead(result)
    if lead.headline:
        items = "".join(
            f"<li><b>{escape(i.status)}</b> {escape(i.label)}"
            f"{'' if i.n is None else f', n = {i.n:,}'}: {escape(i.sentence)}"
            f" <small>({escape(', '.join(i.rules))})</small></li>"
            for i in lead.headline
        )
        more = f"<p><small>{lead.more} further failed or warned scope(s).</small></p>"
        headline = f"<ol>{items}</ol>" + (more if lead.more else "")
    else:
        headline = "<p>No rule was failed or warned.</p>"
    keys = key_numbers(build_tables(result, None))
    return (
        '<div class="auditor-result" style="font-family:sans-serif;max-width:60em">'
        f"<h3 style='margin-bottom:0.2em'>{escape(result.name)}</h3>"
        f"<p style='margin-top:0'><small>audit {escape(result.audit_id)} · "
        f"{escape(result.domain)} · {result.dataset.rows:,} decisions "
        f"({result.dataset.favorable:,} favourable)</small></p>"
        f"<p><b>Verdict: findings by status</b><br>{status_items}</p>"
        f"{headline}"
        f"{_key_table(keys)}{_ratio_svg(keys)}"
        "<p><small>0.80 is a screen, not a legal threshold; these measurements describe the "
        "audited decisions and are not, on their own, a legal conclusion. "
        "<code>result.metrics_frame()</code> and <code>result.findings_frame()</code> "
        "hold every number.</small></p></div>"
    )


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _key_table(keys: list[KeyNumber]) -> str:
    if not keys:
        return ""
    rows = "".join(
        "<tr>"
        f"<td>{escape(k.attribute)}</td><td>{escape(k.group)}</td>"
        f"<td>{escape(k.metric.replace('_', ' '))}</td><td>{_fmt(k.value)}</td>"
        f"<td>{_fmt(k.low)}–{_fmt(k.high)}</td>"
        f"<td>{'—' if k.p_value is None else f'{k.p_value:.3g}'}</td>"
        f"<td>{escape(k.reference or '')}</td><td>{'' if k.n is None else f'{k.n:,}'}</td>"
        "</tr>"
        for k in keys
    )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("attribute", "group", "lowest", "value", "95% interval", "p", "vs", "n")
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _ratio_svg(keys: list[KeyNumber]) -> str:
    """Bars of the lowest ratios with interval whiskers and the 0.80 screen (0 to 1.2)."""
    if not keys:
        return ""
    left, width, row = 220, 300, 22
    top = 6
    height = top + row * len(keys) + 20

    def x(v: float) -> float:
        return left + width * max(0.0, min(v, 1.2)) / 1.2

    parts = []
    for i, k in enumerate(keys):
        y = top + i * row
        colour = "#b3261e" if k.value < SCREEN else "#1e6b35"
        label = escape(f"{k.group} ({k.attribute})")
        parts.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" font-size="11">{label}</text>'
            f'<rect x="{left}" y="{y + 4}" width="{x(k.value) - left:.1f}" height="12" '
            f'fill="{colour}" opacity="0.75"><title>{_fmt(k.value)}</title></rect>'
        )
        if k.low is not None and k.high is not None:
            parts.append(
                f'<line x1="{x(k.low):.1f}" x2="{x(k.high):.1f}" y1="{y + 10}" y2="{y + 10}" '
                'stroke="#202124" stroke-width="1.5"/>'
            )
    screen = x(SCREEN)
    axis = top + row * len(keys)
    parts.append(
        f'<line x1="{screen:.1f}" x2="{screen:.1f}" y1="{top}" y2="{axis}" '
        'stroke="#202124" stroke-dasharray="3,3"/>'
        f'<text x="{screen:.1f}" y="{axis + 14}" text-anchor="middle" font-size="10">'
        "0.80 screen</text>"
        f'<text x="{left}" y="{axis + 14}" font-size="10">0</text>'
        f'<text x="{x(1.0):.1f}" y="{axis + 14}" text-anchor="middle" font-size="10">1</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{left + width + 20}" '
        f'height="{height}" aria-label="lowest ratio per attribute with 95% intervals">'
        + "".join(parts)
        + "</svg>"
    )
