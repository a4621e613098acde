"""The spec's ``letters:`` section: who sends the letters, how reasons and counterfactuals
are derived. Pydantic models (strict, frozen) like the rest of :mod:`auditor.spec`.

This module imports nothing from :mod:`auditor.spec` (the spec imports it).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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
    noise: float = Field(0.05, gt=0, le=1, description="Noise as a share of each feature's spread.")
    threshold: float = Field(
        0.25,
        ge=0,
        le=1,
        description="Held when the reasons change in more than this share of the copies.",
    )


class ConsumerReport(_Strict):
    """FCRA 615(a): the consumer report and credit score used, when one was used."""

    used: bool = False
    agency: Party | None = None
    score_feature: str | None = Field(None, description="Model feature that holds the score.")
    score_range: tuple[float, float] | None = None
    score_date: str | None = None
    key_factors: list[str] = Field(
        default_factory=list, description="Key factors as supplied by the bureau (max 4, +1)."
    )


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
    reason_codes: dict[str, ReasonCode] = Field(default_factory=dict)
    forbidden_reasons: list[str] = Field(
        default_factory=list, description="Features a policy forbids as stated reasons."
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
