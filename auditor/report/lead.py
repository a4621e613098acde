"""Page 1 of the full report: the verdict, the findings that matter most and their causes.

A policy rule is checked per scope, and several packs check the same group (a UGESP
four-fifths fail, an Illinois effect warning and an AAA differential-performance warning
for one race group are one fact seen by three rules). Here every failed or warned finding
is grouped by its scope, so each group appears once with every rule that cites it.

Ranking: failed before warned; within a status, groups whose measurement is statistically
significant (or whose interval lies wholly on the wrong side of the rule's threshold) come
before those where it is not; then by group size times gap size (:attr:`Issue.reach`).
A tiny group with an extreme ratio therefore never headlines over a large group with
strong evidence (on COMPAS an n = 11 group used to lead while the failing n = 3,175 group
was only listed).

The causes are what the audit itself measured: features that carry a share of the gap and
predict group membership (proxies), calibration error by group, the selection rate of
qualified applicants (true-positive rate), significant slices and how stable the
explanations are. Wording rule: state what was measured, never "fair" or "compliant".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from auditor.report.explanation_quality import QualityView
from auditor.report.filters import percent, pvalue
from auditor.report.tables import metric_label
from auditor.result import AuditResult, Finding, MetricRecord

HEADLINE_MAX = 4
PROXIES_MAX = 2
HEADLINE_STATUSES = ("fail", "warn")
SIGNIFICANT = 0.05
# Calibration error gaps below this are not named as a cause (ECE noise on a few thousand
# rows is of the order of 0.01-0.02).
ECE_GAP = 0.05
# A feature must carry at least this share of a group's output gap to be named as a proxy.
PROXY_SHARE = 0.25
# ... and predict membership of the group better than this AUC (0.5 is chance).
PROXY_AUC = 0.6
SLICES_MAX = 2
# How page 1 names a metric (the results tables' labels otherwise, lower-cased).
LABELS = {
    "smd": "standardised mean score difference (SMD)",
    "tpr": "true-positive rate",
    "fpr": "false-positive rate",
    "equal_opportunity_difference": "true-positive rate difference",
    "equalized_odds_difference": "equalised-odds difference",
    "ece": "expected calibration error",
    "slice_impact_ratio": "impact ratio within the slice",
}
ASSOCIATION_LABELS = {
    "correlation_ratio": "correlation ratio",
    "cramers_v": "Cramér's V",
}


@dataclass(frozen=True)
class Citation:
    """One rule's finding for a group: the rule, its pack, status and observed value."""

    finding: Finding

    @property
    def rule_id(self) -> str:
        """The rule's identifier."""
        return self.finding.rule_id

    @property
    def status(self) -> str:
        """The finding's status."""
        return self.finding.status


@dataclass
class Issue:
    """A scope (usually one group) with every failed or warned finding that cites it."""

    scope: str
    attribute: str | None
    group: str | None
    n: int | None
    citations: list[Citation] = field(default_factory=list)
    evidence: MetricRecord | None = None
    records: list[MetricRecord] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The worst status among the citations (fail before warn)."""
        return "fail" if any(c.status == "fail" for c in self.citations) else "warn"

    @property
    def rules(self) -> list[str]:
        """The cited rules, each once, in first-seen order."""
        return list(dict.fromkeys(c.rule_id for c in self.citations))

    @property
    def strong(self) -> bool:
        """Whether the measurement behind the issue is statistically significant."""
        rec = self.evidence
        if rec is None:
            return False
        if rec.p_value is not None:
            return rec.p_value < SIGNIFICANT
        return _interval_excludes(rec, self.citations[0].finding.threshold)

    @property
    def reach(self) -> float:
        """Group size times the size of its gap (``1 - ratio`` for a ratio, the absolute
        value for a difference or SMD): a large group with a large gap ranks first, a tiny
        group never leads on an extreme ratio alone."""
        rec = self.evidence
        if rec is None or rec.value is None:
            return float(self.n or 0) * 1e-6  # no measurement: order by size, after others
        gap = abs(1.0 - rec.value) if "ratio" in rec.metric else abs(rec.value)
        return (self.n or rec.n or 0) * gap

    @property
    def label(self) -> str:
        """The group as a reader names it (``Black or African American (race_ethnicity)``)."""
        if self.group is None or self.attribute is None:
            return self.scope
        return f"{self.group} ({self.attribute})"

    @property
    def sentence(self) -> str:
        """The issue in plain words, with its evidence, interval and p-value."""
        rec = self.evidence
        if rec is None:  # no metric record matched: the rule's own words
            return self.citations[0].finding.message.rstrip(".")
        return evidence_sentence(rec)

    @property
    def other_measures(self) -> list[str]:
        """The citations measured on another value than the headline one, one sentence each
        (``FL-DI-AIR: adverse impact ratio 0.843 against 25-39 (…)``)."""
        ev = self.evidence
        first = self.citations[0].finding.observed
        if ev is not None and ev.value is not None:
            seen = [ev.value]
        else:  # the headline sentence is the first citation's message
            seen = [first] if isinstance(first, int | float) else []
        out = []
        for c in self.citations:
            value = c.finding.observed
            if not isinstance(value, int | float) or any(_same(value, v) for v in seen):
                continue
            seen.append(value)
            rec = _matching(self.records, value)
            shown = (
                evidence_sentence(rec)
                if rec is not None
                else f"observed {value:.3f} (threshold {c.finding.threshold})"
            )
            out.append(f"{c.rule_id}: {shown}")
        return out


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, abs_tol=1e-9)


def _matching(records: list[MetricRecord], value: float) -> MetricRecord | None:
    return next((r for r in records if r.value is not None and _same(r.value, value)), None)


def _interval_excludes(rec: MetricRecord, threshold: float | str | None) -> bool:
    if (
        not isinstance(threshold, int | float)
        or rec.value is None
        or rec.ci_low is None
        or rec.ci_high is None
    ):
        return False
    return rec.ci_high < threshold if rec.value < threshold else rec.ci_low > threshold


def evidence_sentence(rec: MetricRecord) -> str:
    """``impact ratio 0.416 against White (95% interval 0.391–0.442; p < 0.001)``."""
    label = LABELS.get(rec.metric) or metric_label(rec.metric).lower()
    value = "—" if rec.value is None else f"{rec.value:.3f}"
    against = f" against {rec.reference}" if rec.reference else ""
    parts = []
    if rec.ci_low is not None and rec.ci_high is not None:
        parts.append(f"95% interval {rec.ci_low:.3f}–{rec.ci_high:.3f}")
    if rec.p_value is not None:
        shown = pvalue(rec.p_value)
        parts.append(f"p {shown}" if shown.startswith("<") else f"p = {shown}")
    detail = f" ({'; '.join(parts)})" if parts else " (no interval computed)"
    return f"{label} {value}{against}{detail}"


def split_scope(scope: str, attributes: Iterable[str]) -> tuple[str, str] | None:
    """``("race_ethnicity", "Asian")`` for ``race_ethnicity=Asian`` when the attribute is
    one of ``attributes`` (attribute and group names may contain ``" & "`` and ``=``)."""
    for attr in sorted(attributes, key=len, reverse=True):
        if scope.startswith(f"{attr}="):
            return attr, scope[len(attr) + 1 :]
    return None


def build_issues(result: AuditResult) -> list[Issue]:
    """Every failed or warned scope once, with all rules citing it, ranked (see module)."""
    sizes = {(g.attribute, g.group): g.n for g in result.dataset.groups}
    attributes = {g.attribute for g in result.dataset.groups} | {
        m.attribute for m in result.metrics
    }
    records: dict[tuple[str, str], list[MetricRecord]] = {}
    for rec in result.metrics:
        records.setdefault((rec.attribute, rec.group), []).append(rec)
    issues: dict[str, Issue] = {}
    for f in result.findings:
        if f.status not in HEADLINE_STATUSES:
            continue
        issue = issues.get(f.scope)
        if issue is None:
            parts = split_scope(f.scope, attributes)
            attr, group = parts if parts else (None, None)
            n = sizes.get((attr, group)) if attr and group else None
            issue = issues[f.scope] = Issue(f.scope, attr, group, n)
        issue.citations.append(Citation(f))
    for issue in issues.values():
        if issue.attribute and issue.group:
            issue.records = records.get((issue.attribute, issue.group), [])
            issue.evidence = _evidence(issue)
            if issue.n is None and issue.evidence is not None:
                issue.n = issue.evidence.n
    return sorted(issues.values(), key=_rank)


def _rank(issue: Issue) -> tuple[int, int, int, float]:
    grouped = issue.group is not None
    return (
        HEADLINE_STATUSES.index(issue.status),
        0 if grouped else 1,
        0 if issue.strong else 1,
        -issue.reach,
    )


def _evidence(issue: Issue) -> MetricRecord | None:
    """The metric record whose value a citation observed (fails first), else ``None``."""
    for c in sorted(issue.citations, key=lambda c: HEADLINE_STATUSES.index(c.status)):
        value = c.finding.observed
        if isinstance(value, int | float):
            rec = _matching(issue.records, value)
            if rec is not None:
                return rec
    return None


@dataclass(frozen=True)
class RuleGroups:
    """A failed or warned rule with the scopes (groups) it names, for page 1."""

    rule_id: str
    status: str
    scopes: list[str]
    attributes: frozenset[str] = frozenset()

    @property
    def text(self) -> str:
        """The scopes, groups of one attribute named once and intersections sharing their
        first part named once (page 1 must hold every group and still fit):
        ``race_ethnicity: Asian, White; sex & race_ethnicity: Female & (Asian, White)``."""
        by: dict[str, list[str]] = {}
        for scope in self.scopes:
            parts = split_scope(scope, self.attributes)
            if parts is None:
                by.setdefault(scope, [])
            else:
                by.setdefault(parts[0], []).append(parts[1])
        return "; ".join(f"{k}: {_shared_first(v)}" if v else k for k, v in by.items())


def _shared_first(groups: list[str]) -> str:
    """``Female & Asian, Female & White, Male & Asian`` -> ``Female & (Asian, White), Male &
    Asian``: an intersection's first part once, its other parts together."""
    by: dict[str, list[str]] = {}
    for group in groups:
        first, sep, rest = group.partition(" & ")
        by.setdefault(first if sep else group, []).append(rest if sep else "")
    out = []
    for first, rests in by.items():
        named = [r for r in rests if r]
        if not named:
            out.append(first)
        elif len(named) == 1:
            out.append(f"{first} & {named[0]}")
        else:
            out.append(f"{first} & ({', '.join(named)})")
    return ", ".join(out)


def rule_groups(result: AuditResult) -> list[RuleGroups]:
    """Each failed and each warned rule with its scopes (fails first, then first-seen)."""
    by: dict[tuple[str, str], list[str]] = {}
    for f in result.findings:
        if f.status in HEADLINE_STATUSES:
            by.setdefault((f.status, f.rule_id), []).append(f.scope)
    ordered = sorted(by.items(), key=lambda kv: HEADLINE_STATUSES.index(kv[0][0]))
    attributes = frozenset(g.attribute for g in result.dataset.groups) | {
        m.attribute for m in result.metrics
    }
    return [RuleGroups(rule, status, scopes, attributes) for (status, rule), scopes in ordered]


@dataclass
class Lead:
    """What page 1 shows."""

    headline: list[Issue]
    more: int
    rules: list[RuleGroups]
    causes: list[str]
    next_steps: list[str]


def build_lead(result: AuditResult, quality: QualityView | None = None) -> Lead:
    """Page 1's content, derived from ``result`` (and the explanation-quality view)."""
    issues = build_issues(result)
    headline = _headline(issues)
    flagged: set[tuple[str | None, str | None]] = {
        (i.attribute, i.group) for i in issues if i.group is not None
    }
    causes = (
        _proxy_causes(result, headline, flagged)
        + _tpr_causes(result, headline)
        + _calibration_causes(result)
        + _slice_causes(result)
        + _stability_causes(result, quality)
    )
    return Lead(
        headline=headline,
        more=len(issues) - len(headline),
        rules=rule_groups(result),
        causes=causes,
        next_steps=_next_steps(result, headline, causes),
    )


def _headline(issues: list[Issue]) -> list[Issue]:
    """The first :data:`HEADLINE_MAX` issues, skipping an intersection (``Female & Black``)
    whose part is already headlined with the same status as a group of its own (``Black``):
    it restates that finding for a subset of the same people."""
    out: list[Issue] = []
    for issue in issues:
        if len(out) == HEADLINE_MAX:
            break
        parts = set(issue.group.split(" & ")) if issue.group and " & " in issue.group else set()
        if any(
            h.group in parts and h.status == issue.status and " & " not in (h.attribute or "")
            for h in out
        ):
            continue
        out.append(issue)
    return out


def _proxy_causes(
    result: AuditResult, headline: list[Issue], flagged: set[tuple[str | None, str | None]]
) -> list[str]:
    """Features that carry a share of a failed or warned group's gap (``flagged``) and
    predict membership of it, the headlined groups first."""
    at = result.attributions
    if not at.computed:
        return []
    wanted = [(i.attribute, i.group) for i in headline if i.group is not None]
    # only groups that a rule failed or warned: a large share of a negligible gap is no cause
    assoc = {(p.feature, p.attribute): p for p in at.proxies}
    refs = {(g.attribute, g.group): g.reference for g in at.gap_decomposition}
    out = []
    named: set[tuple[str, str]] = set()
    ranking = sorted(at.proxy_ranking, key=lambda p: -p.score)
    # the groups on page 1 first, then the strongest proxies elsewhere
    ordered = [p for p in ranking if (p.attribute, p.group) in wanted] + [
        p for p in ranking if (p.attribute, p.group) not in wanted
    ]
    for p in ordered:
        if (
            p.gap_share is None
            or not PROXY_SHARE <= p.gap_share <= 1.0
            or p.auc < PROXY_AUC
            or (p.attribute, p.group) not in flagged
            or (p.feature, p.attribute) in named
        ):
            continue
        named.add((p.feature, p.attribute))
        ref = refs.get((p.attribute, p.group))
        text = (
            f"Proxy: {p.feature} carries {percent(p.gap_share)} of the gap in mean model "
            f"output between {p.group}{f' and {ref}' if ref else ''} ({p.attribute}) and "
            f"predicts membership of {p.group} with AUC {p.auc:.2f}"
        )
        a = assoc.get((p.feature, p.attribute))
        if a is not None:
            measure = ASSOCIATION_LABELS.get(a.measure, a.measure.replace("_", " "))
            text += f"; its association with {p.attribute} is {a.value:.2f} ({measure})"
        out.append(text + ".")
        if len(out) == PROXIES_MAX:
            break
    return out


def _metric(result: AuditResult, attribute: str, group: str, metric: str) -> MetricRecord | None:
    for rec in result.metrics:
        if rec.attribute == attribute and rec.group == group and rec.metric == metric:
            return rec
    return None


def _tpr_causes(result: AuditResult, headline: list[Issue]) -> list[str]:
    """The selection rate of qualified applicants (TPR) of the leading group vs its reference."""
    for issue in headline:
        rec = issue.evidence
        if issue.attribute is None or issue.group is None or rec is None or not rec.reference:
            continue
        ours = _metric(result, issue.attribute, issue.group, "tpr")
        theirs = _metric(result, issue.attribute, rec.reference, "tpr")
        if ours is None or theirs is None:
            continue
        return [
            f"Qualified applicants (favourable outcome label) of {issue.group} received a "
            f"favourable decision at {percent(ours.value)} (n = {ours.n:,}) against "
            f"{percent(theirs.value)} for {rec.reference} (n = {theirs.n:,}), so the gap "
            "remains among applicants with the same outcome label."
        ]
    return []


def _calibration_causes(result: AuditResult) -> list[str]:
    by_attr: dict[str, list[tuple[float, MetricRecord]]] = {}
    for rec in result.metrics:
        usable = rec.value is not None and not {"unknown", "small_sample"} & set(rec.flags)
        if rec.metric == "ece" and " & " not in rec.attribute and usable:
            by_attr.setdefault(rec.attribute, []).append((rec.value or 0.0, rec))
    out = []
    for attr, recs in by_attr.items():
        high, worst = max(recs, key=lambda vr: vr[0])
        low, best = min(recs, key=lambda vr: vr[0])
        if high - low >= ECE_GAP:
            out.append(
                f"Calibration by {attr}: the expected calibration error is {high:.3f} "
                f"for {worst.group} (n = {worst.n:,}) against {low:.3f} for "
                f"{best.group} (n = {best.n:,}); the model's scores mean different things "
                "for different groups (reliability charts in section 4)."
            )
    return out


def _slice_causes(result: AuditResult) -> list[str]:
    slices = [
        r
        for r in result.metrics
        if r.metric == "slice_impact_ratio" and r.p_value is not None and r.p_value < SIGNIFICANT
    ]
    slices.sort(key=lambda r: -r.n)
    return [
        f"Significant slice: {r.group} (n = {r.n:,}), {evidence_sentence(r)}."
        for r in slices[:SLICES_MAX]
    ]


def _stability_causes(result: AuditResult, quality: QualityView | None) -> list[str]:
    if quality is None or not quality.computed:
        return []
    row = next((r for r in quality.rows if r.method == quality.primary), None)
    if row is None:
        return []
    k = quality.settings.get("top_k", 3)
    changed = row.changed_perturbation
    if changed == 0:
        return [
            f"Explanation stability: the top {k} reasons ({row.label}) did not change under "
            "small input perturbations in the decisions re-explained."
        ]
    return [
        f"Explanation stability: the top {k} reasons ({row.label}) changed under small "
        f"input perturbations for {percent(changed)} of the decisions re-explained; such "
        "decisions' letters need human review (section 5)."
    ]


def _next_steps(result: AuditResult, headline: list[Issue], causes: list[str]) -> list[str]:
    # short: page 1 holds the verdict, every failed and warned rule and these steps
    counts = result.findings_by_status()
    out = []
    groups = [i for i in headline if i.group is not None and i.strong]
    if groups:
        names = "; ".join(i.label for i in groups[:3])
        criteria = "credit" if result.domain == "credit" else "job"
        out.append(
            f"Review the decisions for {names} with the model owner: are the differences "
            f"justified by the {criteria} criteria, and does an alternative with a smaller gap "
            "exist? (every group's numbers: section 4)"
        )
    if any(c.startswith("Proxy:") for c in causes):
        out.append(
            "Test the model without the proxy features named above (or with replacements "
            "that do not encode the protected attribute) and re-run this audit."
        )
    if any(c.startswith("Calibration") for c in causes):
        out.append("Check the score calibration per group before its scores are relied on.")
    if counts.get("insufficient_evidence"):
        out.append(
            f"{counts['insufficient_evidence']} finding(s) had too little data to decide: "
            "collect more decisions for those groups (section 6)."
        )
    if counts.get("needs_attestation"):
        out.append(
            f"Supply the {counts['needs_attestation']} attestation(s) or document(s) listed "
            "in section 6."
        )
    if not out:
        out.append(
            "No rule was failed or warned; keep monitoring with the same spec (the trend "
            "section compares runs)."
        )
    return out
