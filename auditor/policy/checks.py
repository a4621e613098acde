"""Evaluators, one per check type: (rule, facts) -> list of outcomes.

An outcome is (status, scope, observed, threshold, message fields). The engine turns it
into a Finding, applying rule status (advisory rules never fail) and message templates.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from auditor.policy.budget import check_budget
from auditor.policy.condition import condition_check
from auditor.policy.facts import Facts
from auditor.policy.letter_content import letter_content
from auditor.policy.outcome import Outcome, fmt_vs_line
from auditor.policy.outcome import fmt_num as _num
from auditor.policy.patterns import search
from auditor.policy.roles import (
    categories_by_name,
    describe_categories,
    find_grouping,
    wanted_categories,
)
from auditor.policy.schema import (
    Attestation,
    DisclosureTable,
    ExplanationQuality,
    ProxyScan,
    RatioThreshold,
    Rule,
)
from auditor.policy.verdict import decide
from auditor.result import FindingStatus, ProxyScore


def ratio_threshold(rule: Rule, check: RatioThreshold, facts: Facts) -> list[Outcome]:
    """Each non-reference, known group's ratio against ``check.min``."""
    out = []
    records = facts.metric(check.metric, check.groupings)
    if check.categories is not None:
        # the law's categories only (UGESP is not an age instrument); unknown ones count
        allowed = frozenset(check.categories)
        cats = facts.legal_categories()
        records = [m for m in records if cats.get(m.attribute, frozenset()) <= allowed]
    if not records:
        need = (
            "a control group per attribute (spec key reference, e.g. {sex: male}; a hiring "
            "audit's ADEA grouping of an age attribute has under 40 as its control group)"
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
    verdicts = facts.verdicts(check.min)
    for m in records:
        if "reference" in m.flags:
            continue
        decision = decide(
            m,
            verdicts,
            check_alpha=check.alpha,
            warn_if_significant=check.warn_if_significant,
            min_group_size=facts.min_group_size,
        )
        fields = {
            "attribute": m.attribute,
            "group": m.group,
            "reference": m.reference or "",
            "observed": fmt_vs_line(m.value, check.min),
            "threshold": _num(check.min),
            "p": decision.p_text,
            "n": str(m.n),
            "detail": decision.detail,
        }
        out.append(Outcome(decision.status, f"{m.attribute}={m.group}", m.value, check.min, fields))
    return out


def disclosure_table(rule: Rule, check: DisclosureTable, facts: Facts) -> list[Outcome]:
    """Rates and impact ratios exist for every required grouping; unknowns counted.

    A required grouping names legal categories (``sex``, ``race_ethnicity``, ``sex &
    race_ethnicity`` in any order): it is found by the categories the audit's groupings
    carry, whatever the columns are called.
    """
    out = []
    categories = facts.legal_categories()
    for required in check.groupings:
        label = describe_categories(wanted_categories(required))
        fields = {"attribute": required, "scope": required, "detail": "", "n": "0"}
        grouping = find_grouping(required, categories)
        if grouping is None:
            fields["detail"] = (
                f"the audit has no grouping carrying {label}; declare the column's category "
                "under protected (e.g. {column: gender, category: sex}) and list "
                "intersections as needed"
            )
            out.append(Outcome("fail", required, None, None, fields))
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
        if grouping != required:
            fields["detail"] = f"grouping '{grouping}': {fields['detail']}"
        out.append(Outcome(status, required, len(groups), None, fields))
    return out


def proxy_scan(rule: Rule, check: ProxyScan, facts: Facts) -> list[Outcome]:
    """Features matching forbidden name patterns, or strongly associated with a group."""
    if check.geography:
        return _geography_proxies(check, facts)
    out = []
    for feat in facts.features:
        check_budget()
        hit = next((p for p in check.name_patterns if search(p, feat)), None)
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
        proxies = list(facts.attributions.proxies)
        if check.categories is not None:
            return [*out, *_category_proxies(check, facts, proxies)]
        if not proxies:
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


GEOGRAPHY_LINE = 0.5


def _geography_proxies(check: ProxyScan, facts: Facts) -> list[Outcome]:
    """Features that stand in for where people live (e.g. a ZIP code as a proxy).

    Association with the spec's geography columns decides; a name that looks like
    geography (``area_code``) is only a hint: it warns when nothing was measured and is
    cleared when the measured association is low.
    """
    line = check.max_association or GEOGRAPHY_LINE
    hinted = {f for f in facts.features if any(search(p, f) for p in check.name_patterns)}
    best: dict[str, ProxyScore] = {}
    for p in facts.geography:
        if p.feature not in best or p.value > best[p.feature].value:
            best[p.feature] = p
    out: list[Outcome] = []

    def fields(feat: str, detail: str, value: float | None) -> dict[str, str]:
        return {
            "scope": feat,
            "observed": feat if value is None else _num(value),
            "threshold": _num(line),
            "detail": detail,
        }

    if not best:
        if facts.geography_columns:
            why = (
                "the geography columns were declared but their association with the features "
                "was not measured (the in-memory and streamed engines measure it, Spark not yet)"
            )
        else:
            why = (
                "no geography columns were declared (spec key geography: the ZIP code or "
                "area each decision subject lives in), so no feature's association with "
                "geography could be measured"
            )
        for feat in sorted(hinted):
            out.append(
                Outcome(
                    "warn",
                    f"feature={feat}",
                    feat,
                    line,
                    fields(feat, f"the name suggests geography; {why}", None),
                )
            )
        out.append(Outcome("insufficient_evidence", "features", None, line, {"detail": why}))
        return out
    for feat in facts.features:
        score = best.get(feat)
        if score is not None and score.value >= line:
            hint = "; its name also suggests geography" if feat in hinted else ""
            detail = (
                f"tracks geography column '{score.attribute}' "
                f"({score.measure.replace('_', ' ')} {_num(score.value)}){hint}"
            )
            out.append(
                Outcome(
                    "fail", f"feature={feat}", score.value, line, fields(feat, detail, score.value)
                )
            )
    if not out:
        cleared = sorted(hinted)
        note = (
            f"; {', '.join(cleared)} looked like geography by name but are not associated with it"
            if cleared
            else ""
        )
        out.append(
            Outcome(
                "pass",
                "features",
                None,
                line,
                {
                    "detail": f"{len(facts.features)} features checked against "
                    f"{', '.join(facts.geography_columns)}; none reaches {_num(line)}{note}",
                },
            )
        )
    return out


def _category_proxies(check: ProxyScan, facts: Facts, proxies: list[ProxyScore]) -> list[Outcome]:
    """Proxy scores against the attributes carrying the rule's legal categories only.

    With no such attribute the rule cannot be judged: a pass computed on other
    attributes (sex and age are not GDPR Art. 9 categories) would say nothing about it.
    """
    wanted = frozenset(check.categories or ())
    line = check.max_association or 0.0
    candidates = {*facts.groupings, *(p.attribute for p in proxies)}
    cats = {**categories_by_name(candidates), **facts.legal_categories()}
    attrs = sorted(a for a in candidates if cats.get(a, frozenset()) & wanted)
    label = ", ".join(describe_categories([c]) for c in sorted(wanted))
    if not attrs:
        return [
            Outcome(
                "insufficient_evidence",
                "features",
                None,
                check.max_association,
                {
                    "detail": f"no protected attribute in the audit carries one of the "
                    f"categories this rule is about ({label}); declare the category under "
                    "protected, or attest the review of proxies separately",
                },
            )
        ]
    scored = [p for p in proxies if p.attribute in attrs]
    if not scored:
        return [
            Outcome(
                "insufficient_evidence",
                "features",
                None,
                check.max_association,
                {"detail": f"no proxy scores were computed against {', '.join(attrs)}"},
            )
        ]
    out = []
    for p in scored:
        status: FindingStatus = "warn" if p.value >= line else "pass"
        out.append(
            Outcome(
                status,
                f"{p.feature}~{p.attribute}",
                p.value,
                line,
                {
                    "scope": p.feature,
                    "attribute": p.attribute,
                    "observed": _num(p.value),
                    "threshold": _num(line),
                    "detail": p.measure.replace("_", " "),
                },
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
