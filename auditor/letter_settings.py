"""The spec's ``letters:`` section: who sends the letters, how reasons and counterfactuals
are derived. Pydantic models (strict, frozen) like the rest of :mod:`auditor.spec`.

This module imports nothing from :mod:`auditor.spec` (the spec imports it) and nothing
from :mod:`auditor.letters` (the letters import the spec): it sits below both.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from auditor.letter_bases import Basis, basis_text, suggestions

__all__ = [
    "LETTER_KINDS",
    "Actionable",
    "BaselineSpec",
    "ConsumerReport",
    "CounterfactualSpec",
    "LetterKind",
    "LettersSpec",
    "Party",
    "ReasonCode",
    "ReportColumns",
    "ReviewSpec",
    "letters_problems",
]


LetterKind = Literal["reg_b", "gdpr", "ai_act", "hiring"]
LETTER_KINDS: tuple[LetterKind, ...] = ("reg_b", "gdpr", "ai_act", "hiring")


class _Strict(BaseModel):
    # inf and NaN are never a usable setting (e.g. ``step: .inf``)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Party(_Strict):
    """A named organisation with a postal address and optional contact details."""

    name: str = Field(min_length=1)
    address: str = Field(min_length=1, description="Postal address; line breaks are kept.")
    phone: str | None = None
    email: str | None = None
    website: str | None = None


class ReasonCode(_Strict):
    """One principal-reason entry: the feature(s) it covers and its plain-language text.

    Features listed together (one-hot columns, correlated features) form one reason:
    their contributions are summed before ranking.
    """

    features: list[str] | None = Field(
        None, description="Features this reason covers (default: the entry's own key)."
    )
    code: str | None = Field(None, description="The organisation's reason code, e.g. 'R07'.")
    label: str | None = Field(None, description="Plain name of the item, e.g. 'Loan term'.")
    adverse: str = Field(
        min_length=3, description="Text when it pushed toward the adverse outcome."
    )
    favorable: str | None = Field(None, description="Text when it helped (GDPR letters).")
    source: str = Field("your application", description="Where the data came from.")


class BaselineSpec(_Strict):
    """Which applicants the attributions are measured against (Reg B comment 9(b)(2)-5)."""

    kind: Literal["cutoff", "all", "favorable"] = Field(
        "cutoff",
        description="cutoff: applicants scored at or just above the threshold; all: all "
        "applicants; favorable: all applicants with a favourable decision.",
    )
    band: float = Field(
        0.05, gt=0, le=1, description="cutoff: scores in [threshold, threshold + band]."
    )
    max_rows: int = Field(25, ge=1, le=1000, description="At most this many baseline rows.")
    permutations: int = Field(
        10, ge=1, le=200, description="Permutations per row when the model-agnostic method runs."
    )


class Actionable(_Strict):
    """A feature the applicant can change, with the direction and range a change may take.

    Numeric features move in multiples of ``step`` inside ``min``..``max``. Categorical
    features list their reachable categories in ``order`` (least to most favourable to
    the applicant, in the organisation's judgement); ``increase`` moves toward later
    entries, ``decrease`` toward earlier ones. Categories not in ``order`` are neither
    reached nor left (an applicant in one gets no change of this feature).
    """

    direction: Literal["increase", "decrease", "any"]
    min: float | None = None
    max: float | None = None
    step: float = Field(1.0, gt=0)
    order: list[str] | None = Field(
        None, min_length=2, description="Categorical: the reachable categories, in order."
    )
    weight: float = Field(
        1.0,
        gt=0,
        description="Cost multiplier: a change across the whole range (or order) costs this.",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Actionable:
        if self.order is not None:
            if self.min is not None or self.max is not None or self.step != 1.0:
                raise ValueError("min, max and step are for numeric features, not with 'order'")
            if len(set(self.order)) != len(self.order):
                raise ValueError("a category is listed twice in 'order'")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min:g}) is above max ({self.max:g})")
        return self


class CounterfactualSpec(_Strict):
    """Features a counterfactual may change; every other feature is held fixed."""

    actionable: dict[str, Actionable] = Field(default_factory=dict)
    immutable: list[str] = Field(
        default_factory=list, description="Never changed (documented; non-actionable too)."
    )
    max_features: int = Field(2, ge=1, le=3, description="Change at most this many features.")


class ReviewSpec(_Strict):
    """When a letter is held for human review: its principal reasons change on slightly
    perturbed copies of the applicant's inputs (see :mod:`auditor.letters.review`)."""

    draws: int = Field(8, ge=1, le=200, description="Perturbed copies per decision.")
    noise: float = Field(
        0.05,
        gt=0,
        le=1,
        description="Measurement noise: a share of each amount's own value (scale: value; "
        "whole numbers below 1000 and categories as recorded, rounded values within their "
        "precision), or of each continuous feature's spread (scale: spread).",
    )
    scale: Literal["value", "spread"] = Field(
        "value",
        description="value: continuous features misreported by 'noise' x their own value, "
        "discrete ones and categories as recorded; spread: 'noise' x each continuous "
        "feature's spread (the explanation-quality stage's model).",
    )
    threshold: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Held when the principal reason changes in more than this share of the copies.",
    )
    measurement: dict[str, float] = Field(
        default_factory=dict,
        description="Plausible measurement noise per numeric feature: a standard deviation "
        "in the feature's own units (0: exact, never perturbed). Unlisted features follow "
        "'scale' (see auditor.letters.review.calibrated).",
    )

    @field_validator("measurement")
    @classmethod
    def _non_negative(cls, v: dict[str, float]) -> dict[str, float]:
        bad = [f for f, sd in v.items() if not sd >= 0]
        if bad:
            raise ValueError(f"measurement noise must be 0 or more: {', '.join(bad)}")
        return v


class ReportColumns(_Strict):
    """Data columns holding each consumer's own FCRA 609(f)/615 facts (audited data file).

    Every key is optional; a named column wins over the section's fixed value.
    """

    used: str | None = Field(
        None, description="Boolean column: a consumer report was used for this decision."
    )
    score: str | None = Field(None, description="The credit score used (integers accepted).")
    score_date: str | None = Field(None, description="The date the score was created.")
    range_low: str | None = Field(None, description="Lowest possible score of its model.")
    range_high: str | None = Field(None, description="Highest possible score of its model.")
    key_factors: str | None = Field(
        None, description="Key factors that adversely affected the score, separated by ';'."
    )
    source: str | None = Field(None, description="Who provided the score.")
    third_party: str | None = Field(
        None,
        description="Boolean column: information from a third party other than a consumer "
        "reporting agency was used (FCRA 615(b)).",
    )

    def named(self) -> list[str]:
        """The columns named, in a fixed order."""
        return [c for c in self.model_dump().values() if c]


class ConsumerReport(_Strict):
    """FCRA 615(a): the consumer report and credit score used, when one was used;
    615(b): information from other third parties."""

    used: bool = False
    agency: Party | None = None
    score_feature: str | None = Field(None, description="Model feature that holds the score.")
    score_range: tuple[float, float] | None = None
    score_date: str | None = None
    key_factors: list[str] = Field(
        default_factory=list, description="Key factors as supplied by the bureau (max 4, +1)."
    )
    third_party_used: bool = Field(
        False,
        description="Information from a third party other than a consumer reporting agency "
        "was used for every decision (FCRA 615(b)); per decision: columns.third_party.",
    )
    columns: ReportColumns = Field(default_factory=ReportColumns)


class LettersSpec(_Strict):
    """Everything the letter generator needs beyond the audit itself."""

    kinds: list[LetterKind] = Field(default_factory=list, description="Default: by domain.")
    organisation: Party
    creditor: Party | None = Field(None, description="Reg B creditor (default: organisation).")
    agency: Party | None = Field(None, description="Federal agency administering ECOA compliance.")
    contact: str = Field(
        min_length=3, description="How to ask for review, contest, or the reasons."
    )
    review_process: str = Field(
        "A member of our staff who can change the decision will review it, consider any "
        "information you provide, and reply in writing.",
        min_length=3,
    )
    ai_role: str = Field(
        "An automated scoring system produced a score from the information listed below; "
        "the decision followed from that score.",
        description="AI Act Art. 86 / GDPR: the system's role in the decision.",
    )
    consumer_report: ConsumerReport = Field(default_factory=ConsumerReport)
    credit_applied_for: str | None = Field(
        None,
        description="Reg B notice: the credit applied for, in the applicant's words "
        "(e.g. 'a personal instalment loan').",
    )
    supervisory_authority: Party | None = Field(
        None, description="GDPR letters: the data protection authority the applicant may "
        "complain to (Art. 77)."
    )
    significance: str = Field(
        "The decision decides whether we can offer you the credit or position you applied "
        "for.",
        min_length=3,
        description="GDPR Art. 15(1)(h): the significance of the automated decision.",
    )
    consequences: str = Field(
        "If the score is below the cut-off, the application is declined unless a person "
        "reviews it and decides otherwise; if it is at or above, it is approved.",
        min_length=3,
        description="GDPR Art. 15(1)(h): the envisaged consequences for the applicant.",
    )
    reason_codes: dict[str, ReasonCode] = Field(default_factory=dict)
    forbidden_reasons: list[str] = Field(
        default_factory=list, description="Features a policy forbids as stated reasons."
    )
    prohibited_bases: dict[str, Basis] = Field(
        default_factory=dict,
        description="Credit: feature -> the ECOA/Reg B prohibited basis it carries or stands "
        "in for (race, color, religion, national_origin, sex, marital_status, age, "
        "public_assistance, ccpa_rights), or none. Never stated as a reason: a letter whose "
        "principal reason is one is blocked; lesser ones are left out.",
    )
    age_scoring_6b2: bool = Field(
        False,
        description="The scoring system is empirically derived, demonstrably and "
        "statistically sound (12 CFR 1002.2(p)), so age may be stated as a reason "
        "(1002.6(b)(2)(ii)) except for an applicant aged 62 or older.",
    )
    max_reasons: int = Field(4, ge=1, le=10)
    baseline: BaselineSpec = Field(default_factory=BaselineSpec)
    counterfactual: CounterfactualSpec = Field(default_factory=CounterfactualSpec)
    review: ReviewSpec = Field(default_factory=ReviewSpec)

    @field_validator("kinds")
    @classmethod
    def _unique(cls, v: list[LetterKind]) -> list[LetterKind]:
        if len(set(v)) != len(v):
            raise ValueError("a letter kind is listed twice")
        return v

    def reason_features(self) -> dict[str, str]:
        """Feature -> reason key, over every reason-code entry."""
        out: dict[str, str] = {}
        for key, entry in self.reason_codes.items():
            for feature in entry.features or [key]:
                out[feature] = key
        return out


def letters_problems(
    letters: LettersSpec, features: list[str], protected: list[str], domain: str
) -> list[str]:
    """Cross-field problems of the letters section against the rest of the spec."""
    problems: list[str] = []
    known = set(features)
    seen: dict[str, str] = {}
    for key, entry in letters.reason_codes.items():
        for feature in entry.features or [key]:
            where = f"letters.reason_codes.{key}"
            # entries for features this model lacks are allowed: a reviewed reason-code
            # dictionary is often shared across models (an unmapped principal reason
            # still fails when letters are issued, naming the feature)
            if feature in protected:
                problems.append(
                    f"{where}: '{feature}' is a protected attribute; it can never be a reason"
                )
            if feature in seen:
                problems.append(
                    f"{where}: '{feature}' is already covered by reason '{seen[feature]}'"
                )
            seen[feature] = key
    for feature in letters.prohibited_bases:
        if feature not in known:
            problems.append(f"letters.prohibited_bases.{feature}: not one of columns.features")
    if domain == "credit":
        for feature, basis in suggestions(features, letters.prohibited_bases):
            problems.append(
                f"columns.features: '{feature}' looks like the ECOA/Reg B prohibited basis "
                f"'{basis_text(basis)}' (or a stand-in for it); map it under "
                f"letters.prohibited_bases ('{feature}: {basis}') so that it is never "
                f"stated as a reason, or declare '{feature}: none' if it is not one"
            )
    cf = letters.counterfactual
    for feature, rule in cf.actionable.items():
        where = f"letters.counterfactual.actionable.{feature}"
        if feature in protected:
            problems.append(f"{where}: a protected attribute can never be changed")
        elif feature not in known:
            problems.append(f"{where}: not one of columns.features")
        if feature in cf.immutable:
            problems.append(f"{where}: also listed as immutable")
        if rule.min is not None and rule.max is not None and rule.min > rule.max:
            problems.append(f"{where}: min is above max")
    if "reg_b" in letters.kinds and letters.agency is None:
        problems.append("letters.agency: a Reg B notice needs the federal agency (name, address)")
    if "reg_b" in letters.kinds and domain != "credit":
        problems.append("letters.kinds: reg_b notices are for credit decisions")
    for feature in letters.review.measurement:
        if feature not in known:
            problems.append(f"letters.review.measurement.{feature}: not one of columns.features")
    cr = letters.consumer_report
    if cr.used:
        if cr.agency is None:
            problems.append("letters.consumer_report.agency: required when a report was used")
        elif not cr.agency.phone:
            problems.append(
                "letters.consumer_report.agency.phone: FCRA 615(a) needs the agency's "
                "toll-free number"
            )
        if cr.score_feature and cr.score_feature not in known:
            problems.append("letters.consumer_report.score_feature: not one of columns.features")
    return problems
