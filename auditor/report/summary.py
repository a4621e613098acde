"""The executive summary: the lowest ratio per attribute and plain-language sentences.

Wording rule: say what was measured and how sure we are (intervals, group sizes); never
call the model or its decisions "fair", "unbiased" or "compliant". 0.80 is always named as
the UGESP four-fifths convention, a screen and not a legal threshold.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditor.report.filters import percent, pvalue
from auditor.report.tables import AttributeTable, metric_label
from auditor.result import AuditResult, GroupCount

FOUR_FIFTHS = 0.8


@dataclass(frozen=True)
class KeyNumber:
    """The lowest ratio of one attribute, for the executive summary."""

    attribute: str
    metric: str
    group: str
    value: float
    low: float | None
    high: float | None
    p_value: float | None
    reference: str | None
    n: int | None
    small: bool
    # weighted (probabilistic) groups: Kish's effective size, which is what makes them small
    effective_n: float | None = None


def key_numbers(tables: list[AttributeTable]) -> list[KeyNumber]:
    """The lowest impact ratio (and scoring / control-group ratio) of each attribute."""
    out = []
    for table in tables:
        for metric in ("impact_ratio", "adverse_impact_ratio", "scoring_impact_ratio"):
            if metric == "adverse_impact_ratio" and (
                table.reference_for(metric) == table.reference_for("impact_ratio")
            ):
                continue  # same reference: the same numbers as the impact ratio
            low = table.lowest(metric)
            if low is None or low[1].value is None:
                continue
            row, rec = low
            out.append(
                KeyNumber(
                    table.name,
                    metric,
                    row.group,
                    low[1].value,
                    rec.ci_low,
                    rec.ci_high,
                    rec.p_value,
                    rec.reference,
                    row.n,
                    # the ratio's own flag: a row is also marked for a small TPR denominator
                    "small_sample" in rec.flags,
                    rec.detail.get("effective_n") if "weighted" in rec.flags else None,
                )
            )
    return out


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _key_sentence(k: KeyNumber) -> str:
    label = metric_label(k.metric).lower()
    ref = k.reference or "the reference group"
    ci = f"95% interval {_ratio(k.low)}–{_ratio(k.high)}" if k.low is not None else "no interval"
    p = ""
    if k.p_value is not None:
        shown = pvalue(k.p_value)
        p = f"; p {shown}" if shown.startswith("<") else f"; p = {shown}"
    if k.value < FOUR_FIFTHS:
        text = (
            f"For {k.attribute}, the lowest {label} measured was {_ratio(k.value)} for "
            f"{k.group} relative to {ref} ({ci}{p}), below 0.80."
        )
        if k.high is not None and k.high < FOUR_FIFTHS:
            text += " The whole 95% interval lies below 0.80."
        elif k.high is not None:
            text += (
                " The 95% interval reaches 0.80, so a ratio at or above 0.80 is also "
                "consistent with the data."
            )
    else:
        text = (
            f"No {label} below 0.80 was measured for {k.attribute}; the lowest was "
            f"{_ratio(k.value)} for {k.group} relative to {ref} ({ci}{p})."
        )
        if k.low is not None and k.low < FOUR_FIFTHS:
            text += (
                " Its 95% interval reaches below 0.80, so a ratio under 0.80 cannot be ruled out."
            )
    if k.small and k.effective_n is not None and k.effective_n != k.n:
        text += (
            f" The group's effective sample size is {k.effective_n:,.1f} (membership is "
            "estimated), below the minimum group size, so the estimate is imprecise."
        )
    elif k.small:
        text += (
            f" This group has only {k.n:,} records, below the minimum group size, so the "
            "estimate is imprecise."
            if k.n is not None
            else " This group is small."
        )
    return text


def summary_sentences(
    result: AuditResult,
    tables: list[AttributeTable],
    keys: list[KeyNumber],
    *,
    key_sentences: bool = True,
) -> list[str]:
    """The executive summary's sentences. ``key_sentences=False`` leaves out the one
    sentence per key number (the full report prints those numbers in the key-numbers table
    just above, and page 1 states what matters most)."""
    ds = result.dataset
    out = [
        f"The audit measured {ds.rows:,} decisions, of which {ds.favorable:,} "
        f"({percent(ds.favorable / ds.rows if ds.rows else None)}) were favourable, across "
        f"{len(tables)} protected attribute(s) and intersection(s)."
    ]
    if keys:
        out.append(
            "Ratios are compared with 0.80, the UGESP four-fifths convention: a screen "
            "that prompts review, not a legal threshold (NYC LL144 sets none, nor does "
            "EU law)."
        )
    if key_sentences:
        out += [_key_sentence(k) for k in keys]
    if not keys:
        out.append(
            "No impact ratio was computed, so no ratio can be compared with the "
            "four-fifths convention."
        )
    counts = result.findings_by_status()
    if result.findings:
        parts = [f"{n} {s.replace('_', ' ')}" for s, n in counts.items() if n]
        out.append(
            f"The policy checks produced {len(result.findings)} finding(s): {', '.join(parts)}."
        )
        failed = [f for f in result.findings if f.status == "fail"]
        if failed:
            shown = ", ".join(f"{f.rule_id} ({f.scope})" for f in failed[:6])
            more = f" and {len(failed) - 6} more" if len(failed) > 6 else ""
            out.append(f"Rules not met: {shown}{more}. See section 6 for each one.")
    else:
        out.append("No policy pack was evaluated, so no rule outcome is reported.")
    for attr, unknown in _unknowns(ds.groups).items():
        out.append(
            f"{unknown.n:,} record(s) ({percent(unknown.share)}) had an unknown value "
            f"for {attr}; they are counted and shown but excluded from ratios."
        )
    small = sum(1 for t in tables for row in t.rows if row.small)
    if small:
        out.append(
            f"{small} group(s) are below the minimum group size; their numbers are "
            "marked and read as insufficient evidence."
        )
    at = result.attributions
    if at.computed:
        out.append(f"Attributions ({at.method}) were computed for {at.n_explained:,} rows.")
    else:
        out.append(f"Attributions were not computed: {at.reason or 'no reason was recorded.'}")
    out.append(
        "These measurements describe the audited decisions and the evidence behind "
        "them; they are not, on their own, a legal conclusion about the model."
    )
    return out


def _unknowns(groups: tuple[GroupCount, ...]) -> dict[str, GroupCount]:
    out: dict[str, GroupCount] = {}
    for g in groups:
        if g.unknown and " & " not in g.attribute and g.n > 0:
            out.setdefault(g.attribute, g)
    return out
