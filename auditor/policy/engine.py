"""Evaluate policy packs against facts, producing one finding per rule and scope."""

from __future__ import annotations

from collections import defaultdict

from auditor.errors import PolicyLoadError
from auditor.policy.budget import RULE_BUDGET_S, RuleBudgetExceeded, rule_budget
from auditor.policy.checks import EVALUATORS
from auditor.policy.facts import Facts
from auditor.policy.legal import ADVISORY_STATUSES, DOMAIN_SUBJECTS, INACTIVE_STATUSES, reaches
from auditor.policy.loader import PolicyPack
from auditor.policy.outcome import Outcome
from auditor.policy.patterns import PatternError
from auditor.policy.schema import Rule
from auditor.result import Finding, FindingStatus

# the scope of the one finding that stands for a whole pack outside the audit's territory
PACK_SCOPE = "territory"


def evaluate(packs: list[PolicyPack], facts: Facts) -> list[Finding]:
    """All findings, pack by pack and rule by rule; never stops at the first failure.

    A pack none of whose rules reaches the audit's ``jurisdictions`` gives one
    not_applicable finding for the whole pack (its id as rule id), not one per rule.
    """
    findings: list[Finding] = []
    for pack in packs:
        outside = _outside_territory(pack, facts)
        if pack.rules and len(outside) == len(pack.rules):
            findings.append(_pack_not_applicable(pack, facts))
            continue
        for rule in pack.rules:
            reason = outside.get(rule.id) or _not_applicable(pack, rule, facts)
            if reason:
                findings.append(
                    _finding(
                        pack.meta.id,
                        rule,
                        Outcome("not_applicable", "audit", None, None, {"detail": reason}),
                        facts,
                        advisory=False,
                    )
                )
                continue
            outcomes = _run_rule(pack.meta.id, rule, facts)
            period = rule.basis_on(facts.audit_date)
            advisory = pack.meta.advisory or (
                period is not None and period.status in ADVISORY_STATUSES
            )
            findings += [
                _finding(pack.meta.id, rule, o, facts, advisory=advisory) for o in outcomes
            ]
    return findings


def _run_rule(pack: str, rule: Rule, facts: Facts) -> list[Outcome]:
    """One rule's outcomes within its time budget; a runtime failure names the rule."""
    try:
        with rule_budget(RULE_BUDGET_S):
            return EVALUATORS[rule.check.type](rule, rule.check, facts)
    except RuleBudgetExceeded:
        raise PolicyLoadError(
            f"Policy pack '{pack}', rule {rule.id}: evaluation took longer than its budget "
            f"of {RULE_BUDGET_S:g} s and was stopped; simplify the rule or its patterns."
        ) from None
    except PatternError as exc:
        # a pattern taken from a fact (evidence) at run time: the pack's own are checked
        # when it loads
        raise PolicyLoadError(
            f"Policy pack '{pack}', rule {rule.id}: a 'contains' comparison used a value "
            f"from the audit's facts as a pattern, and it is an {exc}."
        ) from None


def _outside_territory(pack: PolicyPack, facts: Facts) -> dict[str, str]:
    """Rule id -> reason, for the rules whose territory misses the audit's jurisdictions.

    Without ``jurisdictions`` in the spec every rule applies (the behaviour before the key
    existed; the pipeline warns).
    """
    if not facts.jurisdictions:
        return {}
    default = pack.meta.territory_or_derived()
    where = ", ".join(facts.jurisdictions)
    out = {}
    for rule in pack.rules:
        territory = rule.territory_or(default)
        if territory and not reaches(territory, list(facts.jurisdictions)):
            out[rule.id] = (
                f"the rule covers {', '.join(territory)}; this audit's jurisdictions are {where}"
            )
    return out


def _pack_not_applicable(pack: PolicyPack, facts: Facts) -> Finding:
    territory = sorted(
        {t for r in pack.rules for t in r.territory_or(pack.meta.territory_or_derived())}
    )
    n = len(pack.rules)
    return Finding(
        rule_id=pack.meta.id,
        pack=pack.meta.id,
        title=pack.meta.title,
        scope=PACK_SCOPE,
        status="not_applicable",
        severity="info",
        observed=None,
        threshold=None,
        citation=pack.meta.instrument,
        message=(
            f"Not applicable: the pack covers {', '.join(territory)}; this audit's "
            f"jurisdictions are {', '.join(facts.jurisdictions)} ({n} rule{'s' * (n != 1)} "
            "not run)."
        ),
        kind="scope",
        rule_status="not_applicable",
        basis="law",
    )


def _not_applicable(pack: PolicyPack, rule: Rule, facts: Facts) -> str | None:
    day = facts.audit_date
    if rule.domain not in ("both", facts.domain):
        return f"the rule covers {rule.domain} decisions; this audit is {facts.domain}"
    subjects = set(rule.subjects or pack.meta.subjects)
    audited = set(facts.subjects) or DOMAIN_SUBJECTS.get(facts.domain, frozenset())
    if subjects and audited and not subjects & audited:
        return (
            f"the rule protects {', '.join(sorted(subjects))}; this audit's decisions are "
            f"about {', '.join(sorted(audited))}"
        )
    periods = rule.statutory_basis or []
    period = rule.basis_on(day)
    if period is None:
        first, last = periods[0], periods[-1]
        if first.from_ is not None and day < first.from_:
            return f"not in force on {day} (from {first.from_})"
        return f"no longer in force on {day} (until {last.until})"
    if period.status in INACTIVE_STATUSES:
        since = f" since {period.from_}" if period.from_ else ""
        note = f": {' '.join(period.note.split())}" if period.note else ""
        return f"the rule's source is {period.status}{since}{note}"
    return None


def _finding(pack: str, rule: Rule, o: Outcome, facts: Facts, *, advisory: bool) -> Finding:
    status: FindingStatus = o.status
    if advisory and status == "fail":
        # advisory packs (proposed law, guidance) flag; they cannot fail an audit
        status = "warn"
    period = rule.basis_on(facts.audit_date)
    posture = rule.enforcement_on(facts.audit_date)
    fields: defaultdict[str, str] = defaultdict(str, {"scope": o.scope, **o.fields})
    template = _template(rule, o.status)
    message = template.format_map(fields)
    if o.status == "not_applicable":
        message = f"Not applicable: {o.fields.get('detail', '')}."
    return Finding(
        rule_id=rule.id,
        pack=pack,
        title=rule.title,
        scope=o.scope,
        status=status,
        severity=rule.severity,
        observed=o.observed,
        threshold=o.threshold,
        citation=(period.citation if period and period.citation else rule.citation),
        message=message,
        kind=rule.kind,
        rule_status=period.status if period else "not in force",
        basis=rule.basis,
        verification=rule.verification,
        verified_source=(
            f"{rule.verified.source} (checked {rule.verified.date})" if rule.verified else ""
        ),
        enforcement=(f"{posture.posture.replace('_', ' ')} ({posture.by})" if posture else ""),
        check_failed=advisory and o.status == "fail",
    )


def _template(rule: Rule, status: FindingStatus) -> str:
    m = rule.message
    by_status = {
        "pass": m.passed,
        "fail": m.fail,
        "warn": m.warn or m.fail,
        "insufficient_evidence": m.insufficient_evidence or "Insufficient evidence: {detail}.",
        "needs_attestation": m.needs_attestation or "Needs attestation: {detail}.",
    }
    return by_status.get(status, "{detail}")
