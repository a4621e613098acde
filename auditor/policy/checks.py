"""Evaluators, one per check type: (rule, facts) -> list of outcomes.

An outcome is (status, scope, observed, threshold, message fields). The engine turns it
into a Finding, applying rule status (advisory rules never fail) and message templates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime

from auditor.policy.condition import condition_check
from auditor.policy.facts import Facts
from auditor.policy.insufficient import insufficient_reason
from auditor.policy.letter_content import letter_content
from auditor.policy.outcome import Outcome
from auditor.policy.outcome import fmt_num as _num
from auditor.policy.outcome import fmt_p as _p
from auditor.policy.schema import (
    Attestation,
    DisclosureTable,
    ExplanationQuality,
    ProxyScan,
    RatioThreshold,
    Rule,
)
from auditor.result import FindingStatus


def _p_with_adjusted(p: float | None, adjusted: float | None) -> str:
    if adjusted is None or p is None:
        return _p(p)
    return f"{_p(p)}; Holm-adjusted {_p(adjusted).removeprefix('p ')}"


def ratio_threshold(rule: Rule, check: RatioThreshold, facts: Facts) -> list[Outcome]:
    """Each non-reference, known group's ratio against ``check.min``."""
    out = []
    records = facts.metric(check.metric, check.groupings)
    if not records:
        need = (
            "a control group per attribute (spec key reference, e.g. {sex: male})"
            if check.metric == "adverse_impact_ratio"
            else "decisions and protected groups"
        )
        return [
            Outcome(
                "insufficient_evidence",
                check.metric,
                None,
                check.min,
                {
                    "detail": f"no {check.metric} was computed; it needs {need}",
                    "group": "all groups",
                    "observed": "n/a",
                },
            )
        ]
    for m in records:
        if "reference" in m.flags:
            continue
        fields = {
            "attribute": m.attribute,
            "group": m.group,
            "reference": m.reference or "",
            "observed": _num(m.value),
            "threshold": _num(check.min),
            "p": _p_with_adjusted(m.p_value, m.p_value_adjusted),
            "n": str(m.n),
            "detail": "",
        }
        scope = f"{m.attribute}={m.group}"
        # raw p decides (an adjusted p never turns a result into a pass); both are shown
        significant = m.p_value is not None and m.p_value < check.alpha
        if "excluded" in m.flags:
            status: FindingStatus = "insufficient_evidence"
            fields["detail"] = (
                "excluded from impact ratios as a category under the spec's "
                "small_category_exclusion share (justification in the spec)"
            )
        elif "small_sample" in m.flags or m.value is None:
            status = "insufficient_evidence"
            fields["detail"] = insufficient_reason(m, facts.min_group_size)
        elif m.value < check.min:
            status = "fail" if significant else "warn"
            if not significant:
                fields["detail"] = f"not statistically significant ({fields['p']})"
                if "power" in m.detail:
                    fields["detail"] += (
                        f"; the test's power to detect a ratio of {check.min:.2f} with these "
                        f"group sizes is {m.detail['power']:.0%}"
                    )
            elif m.flip_test and check.min == 0.8:
                # flip test: one more selection would reach the line -> not practically
                # significant (practitioner/OFCCP convention, not regulation text)
                status = "warn"
                fields["detail"] = (
                    "one more favourable decision in this group would bring the ratio to "
                    f"{check.min:.2f} (flip test): not practically significant ({fields['p']})"
                )
        elif significant and check.warn_if_significant:
            status = "warn"
            fields["detail"] = f"the difference is statistically significant ({fields['p']})"
        else:
            status = "pass"
        out.append(Outcome(status, scope, m.value, check.min, fields))
    return out


def disclosure_table(rule: Rule, check: DisclosureTable, facts: Facts) -> list[Outcome]:
    """Rates and impact ratios exist for every required grouping; unknowns counted."""
    out = []
    for grouping in check.groupings:
        fields = {"attribute": grouping, "scope": grouping, "detail": "", "n": "0"}
        if grouping not in facts.groupings:
            fields["detail"] = (
                f"the audit has no '{grouping}' grouping; name it in protected/intersections"
            )
            out.append(Outcome("fail", grouping, None, None, fields))
            continue
        groups = [
            m for m in facts.metrics if m.attribute == grouping and m.metric == "selection_rate"
        ]
        unknown = sum(m.n for m in groups if "unknown" in m.flags)
        total = sum(m.n for m in groups)
        small = [
            m.group
            for m in groups
            if "unknown" not in m.flags and total and m.n / total < check.small_share
        ]
        has_ratio = {
            m.group for m in facts.metrics if m.attribute == grouping and m.metric == "impact_ratio"
        }
        missing = [m.group for m in groups if "unknown" not in m.flags and m.group not in has_ratio]
        details = [
            f"{len(groups) - (1 if unknown else 0)} categories",
            f"{unknown} individuals in the unknown category (excluded from ratios)",
        ]
        excluded = [m.group for m in groups if "excluded" in m.flags]
        kept = [g for g in small if g not in excluded]
        if kept:
            details.append(
                f"{len(kept)} categor{'y' if len(kept) == 1 else 'ies'} under "
                f"{check.small_share:.0%} of the data ({', '.join(kept)}): kept in the "
                "table; excluding them is optional and needs a justification"
            )
        if excluded:
            details.append(
                f"{len(excluded)} categor{'y' if len(excluded) == 1 else 'ies'} excluded "
                f"from impact ratios ({', '.join(excluded)}), with size and rate reported "
                "and the spec's justification"
            )
        fields.update(detail="; ".join(details), n=str(total))
        status: FindingStatus = "fail" if missing else "pass"
        if missing:
            fields["detail"] += f"; no impact ratio for {', '.join(missing)}"
        out.append(Outcome(status, grouping, len(groups), None, fields))
    return out


def proxy_scan(rule: Rule, check: ProxyScan, facts: Facts) -> list[Outcome]:
    """Features matching forbidden name patterns, or strongly associated with a group."""
    out = []
    patterns = [re.compile(p, re.IGNORECASE) for p in check.name_patterns]
    for feat in facts.features:
        hit = next((p.pattern for p in patterns if p.search(feat)), None)
        if hit:
            out.append(
                Outcome(
                    "fail",
                    f"feature={feat}",
                    feat,
                    hit,
                    {
                        "scope": feat,
                        "observed": feat,
                        "threshold": hit,
                        "detail": f"the name matches the pattern '{hit}'",
                    },
                )
            )
    if check.max_association is not None:
        if not facts.attributions.proxies:
            return [
                *out,
                Outcome(
                    "insufficient_evidence",
                    "features",
                    None,
                    check.max_association,
                    {"detail": "no proxy scores were computed"},
                ),
            ]
        for p in facts.attributions.proxies:
            status: FindingStatus = "warn" if p.value >= check.max_association else "pass"
            out.append(
                Outcome(
                    status,
                    f"{p.feature}~{p.attribute}",
                    p.value,
                    check.max_association,
                    {
                        "scope": p.feature,
                        "attribute": p.attribute,
                        "observed": _num(p.value),
                        "threshold": _num(check.max_association),
                        "detail": p.measure.replace("_", " "),
                    },
                )
            )
    if not out:
        out.append(
            Outcome(
                "pass",
                "features",
                None,
                None,
                {"detail": f"{len(facts.features)} features scanned"},
            )
        )
    return out


def attestation(rule: Rule, check: Attestation, facts: Facts) -> list[Outcome]:
    """Evidence named in the spec (``evidence: {key: value}``), optionally dated."""
    value = facts.evidence.get(check.evidence)
    fields = {"scope": check.evidence, "observed": str(value), "detail": ""}
    if value in (None, "", False):
        fields["detail"] = f"set evidence.{check.evidence} in the spec"
        return [Outcome("needs_attestation", check.evidence, None, None, fields)]
    if check.max_age_days is not None:
        try:
            if isinstance(value, datetime):  # a timestamp from a dict spec: its date counts
                value = value.date()
            when = value if isinstance(value, date) else date.fromisoformat(str(value))
        except ValueError:
            fields["detail"] = f"evidence.{check.evidence} must be a date (YYYY-MM-DD)"
            return [Outcome("needs_attestation", check.evidence, str(value), None, fields)]
        age = (facts.audit_date - when).days
        fields.update(observed=f"{age} days", threshold=f"{check.max_age_days} days")
        status: FindingStatus = "pass" if 0 <= age <= check.max_age_days else "fail"
        return [
            Outcome(status, check.evidence, f"{age} days", f"{check.max_age_days} days", fields)
        ]
    return [Outcome("pass", check.evidence, str(value), None, fields)]


def explanation_quality(rule: Rule, check: ExplanationQuality, facts: Facts) -> list[Outcome]:
    """Attributions exist and reproduce the model output within tolerance.

    With ``check.fact``: that measured explanation-quality figure is within its bounds.
    """
    if check.fact is not None:
        return _explanation_fact(check, facts)
    a = facts.attributions
    if not a.computed or a.additivity_error is None or a.tolerance is None:
        return [
            Outcome(
                "insufficient_evidence",
                "attributions",
                None,
                None,
                {"detail": a.reason or "attributions were not computed"},
            )
        ]
    status: FindingStatus = "pass" if a.additivity_error <= a.tolerance else "warn"
    return [
        Outcome(
            status,
            "attributions",
            a.additivity_error,
            a.tolerance,
            {
                "observed": f"{a.additivity_error:.2e}",
                "threshold": f"{a.tolerance:.0e}",
                "detail": a.method or "",
            },
        )
    ]


def _explanation_fact(check: ExplanationQuality, facts: Facts) -> list[Outcome]:
    assert check.fact is not None  # guarded by the caller
    value = facts.explanation.get(check.fact)
    method = facts.attributions.method or ""
    if value is None:
        detail = facts.attributions.reason or "explanation quality was not measured"
        return [Outcome("insufficient_evidence", check.fact, None, None, {"detail": detail})]
    low_ok = check.min is None or value >= check.min
    high_ok = check.max is None or value <= check.max
    bound = check.max if check.max is not None else check.min
    shown = f"at most {check.max:g}" if check.max is not None else f"at least {check.min:g}"
    if check.max is not None and check.min is not None:
        shown = f"between {check.min:g} and {check.max:g}"
    status: FindingStatus = "pass" if low_ok and high_ok else "warn"
    return [
        Outcome(
            status,
            check.fact,
            value,
            bound,
            {"observed": f"{value:.2f}", "threshold": shown, "detail": method},
        )
    ]


EVALUATORS: dict[str, Callable[..., list[Outcome]]] = {
    "ratio_threshold": ratio_threshold,
    "disclosure_table": disclosure_table,
    "proxy_scan": proxy_scan,
    "attestation": attestation,
    "explanation_quality": explanation_quality,
    "condition": condition_check,
    "letter_content": letter_content,
}
