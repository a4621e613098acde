"""Check type ``letter_content``: one per-decision letter against a pack's content rule.

Self-contained (its own schema class and evaluator; registered with one line in
``schema.py`` and one in ``checks.py``). The letter under check arrives as
``facts.evidence["letter"]``, a plain mapping built by :mod:`auditor.letters.content`::

    kind: reg_b                       # the letter kind
    consumer_report_used: false
    score_used: false                 # a credit score was used (615(a)(2) block)
    third_party_used: false           # other third-party information (615(b))
    fields: {creditor_name: "...", ecoa_notice: "...", ...}   # every text block present
    reasons: [{feature, contribution, text}]                  # as stated, in order
    adverse: [{feature, contribution}]                        # every adverse factor, worst first
    max_reasons: 4
    counterfactual: {feature: value} | null
    counterfactual_note: "..."                                # why none, when none

An audit's own facts carry no letter, so at audit level the rule is ``not_applicable``
(letters are checked one by one by ``auditor letters``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from auditor.policy.facts import Facts
    from auditor.policy.outcome import Outcome

_TOLERANCE = 1e-6


class LetterContent(BaseModel):
    """What a letter of the named kinds must (and must not) contain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["letter_content"]
    kinds: list[str] = Field(min_length=1, description="Letter kinds the rule applies to.")
    only_with_consumer_report: bool = Field(
        False, description="Applies only when a consumer report was used (FCRA 615(a))."
    )
    required_fields: list[str] = Field(default_factory=list)
    score_fields: list[str] = Field(
        default_factory=list,
        description="Required only when a credit score was used (FCRA 615(a)(2)).",
    )
    third_party_fields: list[str] = Field(
        default_factory=list,
        description="Required only when information from a third party other than a "
        "consumer reporting agency was used (FCRA 615(b)).",
    )
    only_with_third_party: bool = Field(
        False,
        description="Applies only when third-party (non-CRA) information was used (615(b)).",
    )
    require_reasons: bool = Field(False, description="At least one stated reason.")
    max_reasons: int | None = Field(None, ge=1)
    guidance_max_reasons: int | None = Field(
        None, ge=1, description="More reasons than this warns (guidance, not a cap)."
    )
    generic_phrases: list[str] = Field(
        default_factory=list, description="Phrases that make a reason generic (case-insensitive)."
    )
    reasons_match_attributions: bool = Field(
        False, description="Stated reasons are the top adverse factors, in order, none omitted."
    )
    require_counterfactual: bool = Field(
        False, description="A counterfactual, or a stated reason why none exists."
    )


def letter_content(rule: Any, check: LetterContent, facts: Facts) -> list[Outcome]:
    """Pass, fail (every problem in ``detail``) or not applicable, for scope ``letter``."""
    from auditor.policy.outcome import Outcome

    letter = facts.evidence.get("letter")
    if not isinstance(letter, Mapping):
        return [
            Outcome(
                "not_applicable",
                "letter",
                None,
                None,
                {"detail": "checked per letter by 'auditor letters', not at audit level"},
            )
        ]
    kind = str(letter.get("kind", ""))
    if kind not in check.kinds:
        return [
            Outcome(
                "not_applicable",
                "letter",
                None,
                None,
                {"detail": f"the rule covers {', '.join(check.kinds)} letters; this is {kind}"},
            )
        ]
    if check.only_with_consumer_report and not letter.get("consumer_report_used"):
        return [
            Outcome(
                "not_applicable",
                "letter",
                None,
                None,
                {"detail": "no consumer report was used for this decision"},
            )
        ]
    if check.only_with_third_party and not letter.get("third_party_used"):
        return [
            Outcome(
                "not_applicable",
                "letter",
                None,
                None,
                {"detail": "no information from a third party other than a consumer "
                 "reporting agency was used for this decision"},
            )
        ]
    problems = letter_problems(check, letter)
    stated = len(letter.get("reasons") or [])
    advice = check.guidance_max_reasons
    if not problems and advice is not None and stated > advice:
        detail = (
            f"{stated} reasons stated; more than {advice} is not likely to be helpful "
            "(guidance, not a cap)"
        )
        fields = {"detail": detail, "observed": str(stated), "threshold": str(advice)}
        return [Outcome("warn", "letter", stated, advice, fields)]
    fields = {
        "detail": "; ".join(problems) if problems else "all required content present",
        "observed": str(len(problems)),
        "threshold": "0",
    }
    return [Outcome("fail" if problems else "pass", "letter", len(problems), 0, fields)]


def letter_problems(check: LetterContent, letter: Mapping[str, Any]) -> list[str]:
    """Every content problem of ``letter`` under ``check`` (empty: none)."""
    problems: list[str] = []
    present = letter.get("fields") or {}
    required = list(check.required_fields)
    if letter.get("score_used"):
        required += check.score_fields
    if letter.get("third_party_used"):
        required += check.third_party_fields
    for name in required:
        value = present.get(name)
        if value is None or not str(value).strip():
            problems.append(f"missing {name}")
    reasons: Sequence[Mapping[str, Any]] = letter.get("reasons") or []
    if check.require_reasons and not reasons:
        problems.append("no specific reason is stated")
    if check.max_reasons is not None and len(reasons) > check.max_reasons:
        problems.append(f"{len(reasons)} reasons stated; at most {check.max_reasons}")
    for r in reasons:
        text = str(r.get("text", "")).lower()
        for phrase in check.generic_phrases:
            if phrase.lower() in text:
                problems.append(f"reason '{r.get('text')}' is generic ('{phrase}')")
    if check.reasons_match_attributions:
        problems += _consistency(letter, reasons)
    note = str(letter.get("counterfactual_note") or "").strip()
    if check.require_counterfactual and not letter.get("counterfactual") and not note:
        problems.append("no counterfactual and no statement why none exists")
    return problems


def _consistency(letter: Mapping[str, Any], reasons: Sequence[Mapping[str, Any]]) -> list[str]:
    adverse: Sequence[Mapping[str, Any]] = letter.get("adverse") or []
    limit = int(letter.get("max_reasons") or 4)
    expected = list(adverse[:limit])
    out = []
    if len(reasons) < len(expected):
        omitted = [str(a.get("feature")) for a in expected[len(reasons) :]]
        out.append(f"principal reason(s) omitted: {', '.join(omitted)}")
    for stated, want in zip(reasons, expected, strict=False):
        if stated.get("feature") != want.get("feature"):
            out.append(
                f"stated reason '{stated.get('feature')}' is not the factor that weighed most "
                f"at that rank ('{want.get('feature')}')"
            )
        elif abs(float(stated.get("contribution", 0)) - float(want.get("contribution", 0))) > (
            _TOLERANCE
        ):
            out.append(f"reason '{stated.get('feature')}' misstates its contribution")
    stated_keys = {r.get("feature") for r in reasons}
    unknown = stated_keys - {a.get("feature") for a in adverse}
    if unknown:
        out.append(f"reason(s) not among the adverse factors: {', '.join(map(str, unknown))}")
    return out
