"""The verdict rule: how every pack turns ratio estimates into pass / warn / fail.

One component, so that every pack decides the same way and the report can state the
rule. Two rules are selectable in the spec (``verdict: {rule: ..., alpha: ...}``):

``below_line_holm`` (default)
    The two prongs of adverse-impact practice, each made precise:

    - *practical*: the estimated ratio is below the line (0.80 for the four-fifths
      screen) and does not hang on one person (flip test);
    - *statistical*: there is evidence that the **true** ratio is below the line: a
      one-sided test of H0: ratio >= line, whose p-value accounts for the reference being
      the highest-rate group chosen by the data (comparison with the best of the other
      groups by a union-intersection test; see :mod:`auditor.metrics.below_line`),
      Holm-adjusted (Holm
      1979) over the **family**: every ratio comparison of the audit (each known group of
      at least ``min_group_size`` of every grouping, intersections included, for every
      ratio metric: impact, scoring impact and adverse impact ratios).

    The comparison is with the best of the other groups of at least ``min_group_size``
    (the reported ratio keeps the regulator's reference, the most selected category of
    any size): evidence against the best of a subset is evidence against the best of all.
    Holm, S. (1979) "A simple sequentially rejective multiple test procedure", Scand. J.
    Statist. 6(2), 65-70.

    ``fail`` needs both prongs; an estimate below the line without that evidence is a
    ``warn`` that states the test's power to detect a true ratio of three quarters of the
    line (0.60 for 0.80). Holm's procedure controls the probability of any false ``fail``
    in the audit at ``alpha`` under any dependence between the tests. Family membership
    depends on group sizes only, never on the outcomes, so it does not bias the error
    rate. Groups below the minimum size stay ``insufficient_evidence`` and outside the
    family, but they remain candidates for the reference.

The family (spec ``verdict: {family: ...}``):

``audit`` (default)
    every ratio comparison of the audit is one Holm family: the probability of any false
    ``fail`` in the whole audit is at most ``alpha``.
``grouping``
    Holm within each grouping (sex; race/ethnicity; each intersection) separately: the
    probability of a false ``fail`` within any one grouping is at most ``alpha``, and in
    the whole audit at most ``alpha`` times the number of groupings with a comparison
    (Bonferroni's inequality over the groupings), which the report states. More power
    for a group of a grouping with few comparisons (bench/bench_verdicts.py: a group of
    300 at a true ratio of 0.60 is detected in about 80% of audits at a 0.50 base rate
    instead of 66%), at a stated, larger audit-wide error rate.

``raw_p`` (before December 2026; for comparison)
    ``fail`` when the estimate is below the line and the two-sided test of *equal* rates
    against the observed reference has a raw p below the check's ``alpha``. Its error
    rate is not controlled: see bench/bench_verdicts.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from auditor.batch import UNKNOWN
from auditor.metrics.below_line import BelowLineTest, Rate, below_line_test
from auditor.metrics.stats import holm
from auditor.policy.insufficient import insufficient_reason
from auditor.result import FindingStatus, MetricRecord

VerdictRuleName = Literal["below_line_holm", "raw_p"]
VerdictFamily = Literal["audit", "grouping"]
RATIO_METRICS = ("impact_ratio", "scoring_impact_ratio", "adverse_impact_ratio")
# the rate each ratio divides, and whether its reference is chosen by the data
_RATE_OF = {
    "impact_ratio": ("selection_rate", True),
    "scoring_impact_ratio": ("scoring_rate", True),
    "adverse_impact_ratio": ("selection_rate", False),
}
POWER_AT = 0.75  # warnings state the power to detect a true ratio of POWER_AT * line

RULE_STATEMENTS: dict[VerdictRuleName, str] = {
    "below_line_holm": (
        "fail = the ratio is below {line} and a one-sided test shows the true ratio is "
        "below {line} (highest-rate reference accounted for), Holm-adjusted over the "
        "{size} ratio comparisons of this audit at family-wise alpha {alpha}"
    ),
    "raw_p": (
        "fail = the ratio is below {line} and the unadjusted two-sided test of equal "
        "rates has p below the rule's alpha (error rate not controlled; kept for comparison)"
    ),
}

Key = tuple[str, str, str]  # (attribute, metric, group)


@dataclass(frozen=True)
class VerdictRule:
    """The rule the spec selects, and its family-wise error rate."""

    name: VerdictRuleName = "below_line_holm"
    alpha: float = 0.05
    family: VerdictFamily = "audit"

    def audit_wide(self, groupings: int) -> float:
        """The bound on the probability of any false fail in the whole audit."""
        if self.family == "audit":
            return self.alpha
        return min(1.0, self.alpha * max(1, groupings))


@dataclass(frozen=True)
class Evidence:
    """The statistical prong for one ratio record."""

    p_one_sided: float
    p_adjusted: float
    power: float  # to detect POWER_AT * line at Holm's first-step level alpha / size
    family_size: int = 0  # comparisons in this record's Holm family

    @property
    def text(self) -> str:
        """The deciding p-value, as messages print it."""
        return f"one-sided {_p(self.p_one_sided)}; Holm-adjusted {_p(self.p_adjusted)}"


@dataclass(frozen=True)
class RatioVerdicts:
    """The evidence for every ratio record of one line, and the family it came from."""

    rule: VerdictRule
    line: float
    members: tuple[Key, ...]
    evidence: dict[Key, Evidence] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The rule and the family, for the AuditResult and the report."""
        metrics = sorted({k[1] for k in self.members})
        groupings = list(dict.fromkeys(k[0] for k in self.members))
        statement = RULE_STATEMENTS[self.rule.name].format(
            line=f"{self.line:.2f}", size=len(self.members), alpha=self.rule.alpha
        )
        out: dict[str, Any] = {
            "rule": self.rule.name,
            "alpha": self.rule.alpha,
            "line": self.line,
            "family_size": len(self.members),
            "family_metrics": metrics,
            "family_groupings": groupings,
            "statement": statement,
        }
        if self.rule.family == "grouping" and self.rule.name == "below_line_holm":
            bound = self.rule.audit_wide(len(groupings))
            out["family"] = "grouping"
            out["audit_wide_alpha"] = bound
            out["statement"] = (
                f"fail = the ratio is below {self.line:.2f} and a one-sided test shows the true "
                f"ratio is below {self.line:.2f} (highest-rate reference accounted for), "
                f"Holm-adjusted within each grouping ({len(self.members)} ratio comparisons "
                f"in {len(groupings)} groupings) at alpha {self.rule.alpha} per grouping; the "
                f"probability of any false fail in the audit is at most {bound:.2g}"
            )
        else:
            out["family"] = "audit"
            # raw_p controls no error rate: no bound to state
            out["audit_wide_alpha"] = self.rule.alpha if self.rule.name != "raw_p" else None
        return out


def _p(v: float) -> str:
    return "p < 0.001" if v < 0.001 else f"p = {v:.3f}"


def ratio_verdicts(
    metrics: tuple[MetricRecord, ...], line: float, rule: VerdictRule, min_group_size: int
) -> RatioVerdicts:
    """Evidence that each ratio in ``metrics`` is below ``line``, adjusted over the family."""
    tests: dict[Key, BelowLineTest] = {}
    for key, group, others in _comparisons(metrics, min_group_size):
        t = below_line_test(group, others, line)
        if t is not None:
            tests[key] = t
    members = tuple(tests)
    # the Holm families: the whole audit, or each grouping apart (see the module docstring)
    families: dict[str, list[Key]] = {}
    for k in members:
        families.setdefault("" if rule.family == "audit" else k[0], []).append(k)
    evidence: dict[Key, Evidence] = {}
    for keys in families.values():
        raw = [tests[k].p_value for k in keys]
        adjusted = holm(list(raw))
        level = rule.alpha / max(1, len(keys))
        for k, p, a in zip(keys, raw, adjusted, strict=True):
            power = tests[k].power(level, POWER_AT * line, line)
            evidence[k] = Evidence(p, a if a is not None else 1.0, power, len(keys))
    return RatioVerdicts(rule, line, members, evidence)


def _comparisons(
    metrics: tuple[MetricRecord, ...], min_group_size: int
) -> list[tuple[Key, Rate, list[Rate]]]:
    """(key, the group's rate, the rates it is compared with) per member.

    With the highest-rate reference, a group is compared with the best of the other
    groups of at least ``min_group_size`` (all others when none is that large). Evidence
    of a ratio below the line against the best of a subset is evidence against the best
    of all (the maximum over all groups is at least the subset's), so leaving out small
    groups keeps the error rate; it only keeps a tiny group's noise from masking every
    comparison. The subset depends on sizes alone, never on the outcomes.
    """
    rates: dict[tuple[str, str], dict[str, Rate]] = {}
    for m in metrics:
        if m.metric in ("selection_rate", "scoring_rate") and m.group != UNKNOWN:
            rate = _rate(m)
            if rate is not None:
                rates.setdefault((m.attribute, m.metric), {})[m.group] = rate
    # a ratio record's own count and n stand in for a missing rate record (policy
    # fixtures and hand-built facts carry ratio records only)
    for m in metrics:
        rate_name = _RATE_OF.get(m.metric, ("", False))[0]
        if rate_name and m.count is not None and m.n > 0 and m.group != UNKNOWN:
            rates.setdefault((m.attribute, rate_name), {}).setdefault(
                m.group, Rate(float(m.count), float(m.n))
            )
    out = []
    for m in metrics:
        if m.metric not in RATIO_METRICS or m.value is None or m.reference is None:
            continue
        if {"reference", "excluded", "unknown", "small_sample"} & set(m.flags):
            continue
        rate_name, best_of = _RATE_OF[m.metric]
        pool = rates.get((m.attribute, rate_name), {})
        if m.group not in pool or m.reference not in pool:
            continue
        if best_of:
            # every known category that may be the reference: the excluded ones (LL144
            # 5-301(d)) are those with an 'excluded' ratio record
            excluded = {
                r.group
                for r in metrics
                if r.attribute == m.attribute and r.metric == m.metric and "excluded" in r.flags
            }
            others = [r for g, r in pool.items() if g != m.group and g not in excluded]
            others = [r for r in others if r.n >= min_group_size] or others
        else:
            others = [pool[m.reference]]
        out.append(((m.attribute, m.metric, m.group), pool[m.group], others))
    return out


def _rate(m: MetricRecord) -> Rate | None:
    if m.value is None:
        return None
    eff = m.detail.get("effective_n")
    if eff is not None:  # probabilistic membership: Kish effective counts
        return Rate(m.value * eff, eff)
    if m.count is None:
        return None
    return Rate(float(m.count), float(m.n))


@dataclass(frozen=True)
class Decision:
    """The status of one ratio record and the message fields explaining it."""

    status: FindingStatus
    detail: str
    p_text: str


def decide(
    m: MetricRecord,
    verdicts: RatioVerdicts,
    *,
    check_alpha: float,
    warn_if_significant: bool,
    min_group_size: int,
) -> Decision:
    """pass / warn / fail / insufficient_evidence for one non-reference ratio record."""
    line = verdicts.line
    shown_line = f"{line:.2f}"
    classic = _classic_p(m)
    if "excluded" in m.flags:
        return Decision(
            "insufficient_evidence",
            "excluded from impact ratios as a category under the spec's "
            "small_category_exclusion share (justification in the spec)",
            classic,
        )
    if "small_sample" in m.flags or m.value is None:
        # the real cause: a small (or small effective) group, or a reference rate of 0
        return Decision("insufficient_evidence", insufficient_reason(m, min_group_size), classic)
    if verdicts.rule.name == "raw_p":
        return _decide_raw(m, line, check_alpha, warn_if_significant, classic)
    ev = verdicts.evidence.get((m.attribute, m.metric, m.group))
    alpha = verdicts.rule.alpha
    if m.value < line and ev is None:
        return Decision(
            "warn",
            f"below {shown_line}; no test of whether the true ratio is below it could be "
            "computed (the counts behind the ratio are missing)",
            classic,
        )
    if m.value < line and ev is not None:
        if ev.p_adjusted < alpha:
            if m.flip_test:
                return Decision(
                    "warn",
                    f"one more favourable decision in this group would bring the ratio to "
                    f"{shown_line} (flip test): not practically significant ({ev.text})",
                    ev.text,
                )
            return Decision("fail", "", ev.text)
        return Decision(
            "warn",
            f"below {shown_line}, but the evidence that the true ratio is below "
            f"{shown_line} is not conclusive ({ev.text}, over "
            f"{ev.family_size or len(verdicts.members)} comparisons); the test's power to "
            "detect a true "
            f"ratio of {POWER_AT * line:.2f} with these group sizes is {ev.power:.0%}",
            ev.text,
        )
    adjusted = m.p_value_adjusted
    if warn_if_significant and m.value < 1 and adjusted is not None and adjusted < alpha:
        text = f"two-sided test of equal rates, Holm-adjusted {_p(adjusted)}"
        return Decision(
            "warn",
            f"at or above {shown_line}, but the rates differ significantly ({text})",
            text,
        )
    return Decision("pass", "", classic)


def _classic_p(m: MetricRecord) -> str:
    if m.p_value is None:
        return "p not computed"
    if m.p_value_adjusted is None:
        return _p(m.p_value)
    return f"{_p(m.p_value)}; Holm-adjusted {_p(m.p_value_adjusted).removeprefix('p ')}"


def _decide_raw(
    m: MetricRecord, line: float, alpha: float, warn_if_significant: bool, classic: str
) -> Decision:
    """The rule before December 2026: raw two-sided p of equal rates decides."""
    assert m.value is not None  # checked by the caller
    significant = m.p_value is not None and m.p_value < alpha
    if m.value < line:
        if not significant:
            detail = f"not statistically significant ({classic})"
            if "power" in m.detail:
                detail += (
                    f"; the test's power to detect a ratio of {line:.2f} with these group "
                    f"sizes is {m.detail['power']:.0%}"
                )
            return Decision("warn", detail, classic)
        if m.flip_test and line == 0.8:
            return Decision(
                "warn",
                "one more favourable decision in this group would bring the ratio to "
                f"{line:.2f} (flip test): not practically significant ({classic})",
                classic,
            )
        return Decision("fail", "", classic)
    if significant and warn_if_significant and m.value < 1:
        return Decision(
            "warn", f"the difference is statistically significant ({classic})", classic
        )
    return Decision("pass", "", classic)
