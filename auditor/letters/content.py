"""What a letter says (its text blocks), and its check against the packs' content rules.

The same blocks feed the template and the check, so the check sees what the reader sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from auditor.letter_settings import LettersSpec
from auditor.letters.consumer import ConsumerFacts
from auditor.letters.record import CheckRecord, ReasonRecord
from auditor.policy import Facts, evaluate, load_packs
from auditor.policy.loader import PolicyPack
from auditor.result import AttributionSummary, Finding

# 12 CFR 1002.9(b)(1): the ECOA notice; the agency's name and address follow it
ECOA_NOTICE = (
    "The Federal Equal Credit Opportunity Act prohibits creditors from discriminating "
    "against credit applicants on the basis of race, color, religion, national origin, sex, "
    "marital status, age (provided the applicant has the capacity to enter into a binding "
    "contract); because all or part of the applicant's income derives from any public "
    "assistance program; or because the applicant has in good faith exercised any right "
    "under the Consumer Credit Protection Act. The Federal agency that administers "
    "compliance with this law concerning this creditor is named below."
)
KIND_PACKS = {
    "reg_b": ["ecoa_reg_b", "fcra"],
    "gdpr": ["gdpr"],
    "ai_act": ["eu_ai_act"],
    "hiring": ["fcra"],
}
KIND_TITLES = {
    "reg_b": "Notice of action taken on your credit application",
    "gdpr": "Explanation of an automated decision about you",
    "ai_act": "Explanation of the role of an AI system in a decision about you",
    "hiring": "Your application: our decision",
}


@dataclass(frozen=True)
class LetterCheck:
    """Outcome of the content rules for one letter."""

    findings: tuple[Finding, ...]
    failures: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """No content rule failed."""
        return not self.failures

    def records(self) -> list[CheckRecord]:
        """Rule id, status and message per applicable rule (stored with the letter)."""
        return [
            {"rule_id": f.rule_id, "status": f.status, "message": f.message}
            for f in self.findings
            if f.status != "not_applicable"
        ]


def fields_for(
    kind: str,
    letters: LettersSpec,
    *,
    domain: str,
    reasons_text: str,
    factors_text: str,
    data_used: str,
    sources: str,
    consumer: ConsumerFacts,
    favorable: bool = False,
    weight: str = "",
) -> dict[str, str]:
    """The text blocks a letter of ``kind`` carries (names the content rules check).

    ``consumer``: this consumer's report and score facts; ``favorable``: the decision
    was favourable (GDPR explanations go to approved applicants too); ``weight``: how
    much the system's score weighed in this decision, in words from its data.
    """
    org = letters.organisation
    creditor = letters.creditor or org
    applied = letters.credit_applied_for
    if favorable:
        decision = (
            "We approved your application for credit."
            if domain == "credit"
            else "We are moving forward with your application."
        )
    elif domain == "credit":
        decision = (
            f"We are unable to approve your application for {applied}."
            if applied
            else "We are unable to approve your application for credit."
        )
    else:
        decision = "We will not be moving forward with your application."
    out = {
        "decision": decision,
        "action_taken": decision,
        "statement_of_reasons": reasons_text,
        "main_factors": factors_text,
        "contact": letters.contact,
        "creditor_name": creditor.name,
        "creditor_address": creditor.address,
        "automated_processing": letters.ai_role,
        "ai_role": letters.ai_role,
        "ai_weight": weight,
        "significance": letters.significance,
        "consequences": letters.consequences,
        "data_used": data_used,
        "data_sources": sources,
        "how_used": (
            "The system combines these items into a score. Each item moved your score up or "
            "down compared with applicants who were just approved; the factors below moved it "
            f"{'up' if favorable else 'down'} the most."
        ),
        "human_review": letters.review_process,
        "contest": (
            "You may contest this decision, express your point of view and ask for a person "
            "to review it; write to us using the contact details below."
        ),
    }
    if applied:
        out["credit_applied_for"] = applied
    if letters.supervisory_authority is not None:
        out["supervisory_authority"] = letters.supervisory_authority.name
    if kind == "reg_b":
        out["ecoa_notice"] = ECOA_NOTICE
        if letters.agency is not None:
            out["agency_name"] = letters.agency.name
            out["agency_address"] = letters.agency.address
    cr = letters.consumer_report
    if consumer.third_party and not favorable:
        # FCRA 615(b)(1), 15 U.S.C. 1681m(b)(1): the right to ask for the nature of the
        # information, disclosed when the adverse action is communicated
        out["third_party_notice"] = (
            "Our decision was based in whole or in part on information obtained from an "
            "outside source other than a consumer reporting agency. Under the Fair Credit "
            "Reporting Act, you have the right to make a written request, within 60 days of "
            "receipt of this notice, for disclosure of the nature of this information."
        )
    if consumer.used and cr.agency is not None:
        lo, hi = consumer.score_range or (None, None)
        out.update(
            {
                "cra_name": cr.agency.name,
                "cra_address": cr.agency.address,
                "cra_phone": cr.agency.phone or "",
                "cra_did_not_decide": (
                    "The consumer reporting agency did not make this decision and is unable "
                    "to provide you the specific reasons why the action was taken."
                ),
                "free_report_60_days": (
                    "You have a right to obtain a free copy of your report from the consumer "
                    "reporting agency if you ask for it within 60 days."
                ),
                "dispute_right": (
                    "You have a right to dispute with the consumer reporting agency the "
                    "accuracy or completeness of any information in your report."
                ),
            }
        )
        if consumer.score is not None:
            # 609(f)(1) / 615(a)(2): only when a score was used
            out.update(
                {
                    "credit_score": f"{consumer.score:g}",
                    "score_range": "" if lo is None else f"{lo:g} to {hi:g}",
                    "score_key_factors": "; ".join(consumer.key_factors),
                    "score_date": consumer.score_date,
                    "score_source": consumer.source,
                }
            )
    return out


def weight_text(score: float, cutoff: float, adverse: bool, review: str) -> str:
    """How much the system's score weighed in this decision (AI Act Art. 86), from the
    decision's own score and the cut-off it was compared with."""
    side = "below" if adverse else "at or above"
    outcome = "declined" if adverse else "approved"
    return (
        f"The system gave your application a score of {score:.2f} on a scale from 0 to 1. "
        f"Applications scoring below {cutoff:.2f} are declined and those at or above it are "
        f"approved; yours was {side} the cut-off, which is why it was {outcome}. {review}"
    )


def letter_facts(
    kind: str,
    fields: dict[str, str],
    reasons: Sequence[ReasonRecord],
    adverse: list[dict[str, Any]],
    letters: LettersSpec,
    counterfactual: dict[str, float | str] | None,
    counterfactual_note: str,
    consumer: ConsumerFacts | None = None,
) -> dict[str, Any]:
    """The mapping the ``letter_content`` check reads (``evidence["letter"]``)."""
    used = consumer.used if consumer is not None else letters.consumer_report.used
    return {
        "kind": kind,
        "consumer_report_used": used,
        "score_used": consumer.score_used if consumer is not None else False,
        "third_party_used": consumer.third_party if consumer is not None else False,
        "fields": fields,
        "reasons": reasons,
        "adverse": adverse,
        "max_reasons": letters.max_reasons,
        "counterfactual": counterfactual,
        "counterfactual_note": counterfactual_note,
    }


def content_packs(kind: str, audit_packs: list[str], extra: list[Any]) -> list[PolicyPack]:
    """The packs whose content rules a letter of ``kind`` is checked against."""
    ids = sorted(set(KIND_PACKS.get(kind, [])) | set(audit_packs))
    return load_packs(ids, extra=extra)


def check_letter(
    packs: list[PolicyPack], domain: str, on: date, letter: dict[str, Any]
) -> LetterCheck:
    """Evaluate the packs' ``letter_content`` rules against one letter."""
    only = [
        PolicyPack(p.meta, tuple(r for r in p.rules if r.check.type == "letter_content"), p.folder)
        for p in packs
    ]
    facts = Facts(
        domain=domain,
        audit_date=on,
        metrics=(),
        groups=(),
        groupings=(),
        intersections=(),
        features=(),
        attributions=AttributionSummary(computed=False),
        min_group_size=1,
        evidence={"letter": letter},
    )
    findings = tuple(evaluate(only, facts))
    failures = tuple(f"{f.rule_id}: {f.message}" for f in findings if f.status == "fail")
    return LetterCheck(findings, failures)
