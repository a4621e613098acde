"""Evaluate policy packs against facts, producing one finding per rule and scope."""

from __future__ import annotations

from collections import defaultdict

from auditor.errors import PolicyLoadError
from auditor.policy.budget import RULE_BUDGET_S, RuleBudgetExceeded, rule_budget
from auditor.policy.checks import EVALUATORS
from auditor.policy.facts import Facts
from auditor.policy.loader import PolicyPack
from auditor.policy.outcome import Outcome
from auditor.policy.patterns import PatternError
from auditor.policy.schema import Rule
from auditor.result import Finding, FindingStatus

_ADVISORY = {"proposed", "guidance"}


def evaluate(packs: list[PolicyPack], facts: Facts) -> list[Finding]:
    """All findings, pack by pack and rule by rule; never stops at the first failure."""
    findings: list[Finding] = []
    for pack in packs:
        for rule in pack.rules:
            reason = _not_applicable(rule, facts)
            if reason:
                findings.append(
                    _finding(
                        pack.meta.id,
                        rule,
                        Outcome("not_applicable", "audit", None, None, {"detail": reason}),
                        advisory=False,
                    )
                )
                continue
            outcomes = _run_rule(pack.meta.id, rule, facts)
            advisory = pack.meta.advisory or rule.status in _ADVISORY
            findings += [_finding(pack.meta.id, rule, o, advisory=advisory) for o in outcomes]
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


def _not_applicable(rule: Rule, facts: Facts) -> str | None:
    if rule.domain not in ("both", facts.domain):
        return f"the rule covers {rule.domain} decisions; this audit is {facts.domain}"
    if rule.status in ("withdrawn", "repealed"):
        return f"the rule's source is {rule.status}"
    if rule.effective_from is not None and facts.audit_date < rule.effective_from:
        return f"not in force on {facts.audit_date} (from {rule.effective_from})"
    if rule.effective_until is not None and facts.audit_date > rule.effective_until:
        return f"no longer in force on {facts.audit_date} (until {rule.effective_until})"
    return None


def _finding(pack: str, rule: Rule, o: Outcome, *, advisory: bool) -> Finding:
    status: FindingStatus = o.status
    if advisory and status == "fail":
        # advisory packs (proposed law, guidance) flag; they cannot fail an audit
        status = "warn"
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
        citation=rule.citation,
        message=message,
        kind=rule.kind,
        rule_status=rule.status,
        basis=rule.basis,
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
