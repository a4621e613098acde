"""Judging one candidate on one split: AUC with a DeLong interval, the approval rate, and
every group's impact ratio and score SMD through the audit's own statistics path (decision
cells -> group statistics, the same intervals and reference rule as ``auditor audit``),
and the packs' ratio rules decided by the audit's verdict rule (the same evaluator)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from auditor.data import decisions_from_frame
from auditor.engine.statistics import adea_plans, decision_cells, group_statistics
from auditor.metrics.group_metrics import groupings
from auditor.metrics.stats import wilson_interval
from auditor.policy import Facts, PolicyPack
from auditor.policy import evaluate as evaluate_packs
from auditor.policy.verdict import VerdictRule
from auditor.result import AttributionSummary, MetricRecord
from auditor.spec import AuditSpec, ColumnsSpec, DataSpec

_Z95 = float(stats.norm.ppf(0.975))
_NOT_JUDGED = frozenset({"small_sample", "unknown", "excluded", "reference"})


@dataclass(frozen=True)
class GroupRatio:
    """One group's impact ratio (selection rate over the reference group's)."""

    attribute: str
    group: str
    reference: str | None
    metric: str  # impact_ratio, or adverse_impact_ratio against a named control group
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    flags: tuple[str, ...]


@dataclass(frozen=True)
class Business:
    """The business measures at the threshold, against the performance label: the rate of
    applicants approved whose label is 0 (defaults in credit, errors in hiring), with its
    Wilson interval, and, where the spec gives a loss per bad approval and a gain per good
    one, the expected loss per application (negative: a net gain), each with its change
    against the baseline on the same rows."""

    rate_name: str  # "default rate", "error rate" or "bad rate", by the spec's domain
    approved: int
    bad_approved: int
    bad_rate: float | None  # None when nothing is approved
    bad_rate_ci: tuple[float | None, float | None]
    # Newcombe's hybrid score interval (method 10) for the difference of two proportions
    bad_rate_change: float | None = None
    bad_rate_change_ci: tuple[float, float] | None = None
    loss_per_bad_approval: float | None = None
    gain_per_good_approval: float | None = None
    expected_loss: float | None = None  # per application
    expected_loss_ci: tuple[float, float] | None = None
    # paired on the same rows: the mean of the per-row differences, normal interval
    expected_loss_change: float | None = None
    expected_loss_change_ci: tuple[float, float] | None = None


@dataclass(frozen=True)
class Evaluation:
    """A candidate's figures on one split."""

    split: str
    n: int
    auc: float
    auc_ci: tuple[float, float]
    auc_change: float | None  # against the baseline on the same rows (paired DeLong)
    auc_change_ci: tuple[float, float] | None
    approval_rate: float
    approval_ci: tuple[float | None, float | None]
    worst: GroupRatio | None
    ratios: tuple[GroupRatio, ...]
    # standardised mean difference of the scores of each group against its grouping's
    # reference (the audit's SMD record, with its interval); the most negative judged one
    smd: tuple[GroupRatio, ...] = ()
    worst_smd: GroupRatio | None = None
    # the packs' ratio rules on these decisions, decided by the audit's verdict rule
    verdicts: dict[str, Any] = field(default_factory=dict)
    # the business measures at the threshold (issue 22 item 3)
    business: Business | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain data for the JSON record."""
        return asdict(self)


def evaluation_spec(spec: AuditSpec, features: list[str], label: str) -> AuditSpec:
    """The audit spec as it measures a candidate's decisions on a split of the training
    data: the label column for performance, no model, no separate protected file."""
    training = spec.training
    assert training is not None
    return spec.model_copy(
        update={
            "model": None,
            "data": DataSpec(path=training.path, format=training.format),
            "columns": ColumnsSpec(id=spec.columns.id, label=label, features=features),
            "favorable": 1,
            "controls": [],
            "strata": [],
            "geography": [],
            "cdd_by": None,
            "protected_probabilities": {},
        }
    )


def evaluate(
    eval_spec: AuditSpec,
    frame: pd.DataFrame,
    scores: np.ndarray,
    threshold: float,
    split: str,
    baseline_scores: np.ndarray | None = None,
    packs: list[PolicyPack] | None = None,
    on: date | None = None,
    loss: tuple[float, float] | None = None,
) -> Evaluation:
    """Figures of one candidate's ``scores`` on ``frame`` (one split); with ``packs``,
    their ratio rules decided on ``on`` (the audit date); with ``loss`` (the loss per bad
    approval, the gain per good one), the expected loss per application. The baseline's
    decisions are its scores at the spec's threshold."""
    labels = frame[eval_spec.columns.label].to_numpy(dtype=np.int64)
    decisions = (scores >= threshold).astype(np.int8)
    batch = decisions_from_frame(eval_spec, frame, eval_spec.resolve(eval_spec.data.path))
    batch = batch.with_outcomes(decisions, scores)
    hard = [
        c for c in eval_spec.intersections if not eval_spec.protected_probabilities.keys() & set(c)
    ]
    groups = groupings(eval_spec.protected, hard)
    cells = decision_cells(eval_spec, batch)
    records, _ = group_statistics(eval_spec, cells, groups)
    # a named control group (fair lending) is compared with its adverse impact ratio; else
    # the highest-rate group's impact ratio (UGESP, LL144), as the audit's rules read them
    control = eval_spec.reference if isinstance(eval_spec.reference, dict) else {}
    ratios = tuple(
        _ratio(r)
        for r in records
        if r.metric == ("adverse_impact_ratio" if r.attribute in control else "impact_ratio")
    )
    judged = [
        r
        for r in ratios
        if r.value is not None
        and r.attribute in eval_spec.protected
        and not _NOT_JUDGED & set(r.flags)
    ]
    worst = min(judged, key=lambda r: (r.value or 0.0, r.attribute, r.group), default=None)
    smd = tuple(_ratio(r) for r in records if r.metric == "smd")
    smd_judged = [
        r
        for r in smd
        if r.value is not None
        and r.attribute in eval_spec.protected
        and not _NOT_JUDGED & set(r.flags)
    ]
    worst_smd = min(smd_judged, key=lambda r: (r.value or 0.0, r.attribute, r.group), default=None)
    verdicts = (
        pack_verdicts(eval_spec, records, cells, groups, packs, on or date.today()) if packs else {}
    )
    auc, var = delong(scores, labels)
    change = change_ci = None
    if baseline_scores is not None:
        change, change_var = delong_difference(scores, baseline_scores, labels)
        half = _Z95 * float(np.sqrt(max(change_var, 0.0)))
        change_ci = (change - half, change + half)
    half = _Z95 * float(np.sqrt(max(var, 0.0)))
    approved = int(decisions.sum())
    return Evaluation(
        split=split,
        n=len(frame),
        auc=auc,
        auc_ci=(max(0.0, auc - half), min(1.0, auc + half)),
        auc_change=change,
        auc_change_ci=change_ci,
        approval_rate=approved / len(frame),
        approval_ci=wilson_interval(approved, len(frame)),
        worst=worst,
        ratios=ratios,
        smd=smd,
        worst_smd=worst_smd,
        verdicts=verdicts,
        business=business_measures(
            eval_spec.domain,
            labels,
            decisions,
            None
            if baseline_scores is None
            else (baseline_scores >= eval_spec.threshold).astype(np.int8),
            loss,
        ),
    )


_RATE_NAMES = {"credit": "default rate", "hiring": "error rate", "employment": "error rate"}


def business_measures(
    domain: str | None,
    labels: np.ndarray,
    decisions: np.ndarray,
    baseline_decisions: np.ndarray | None,
    loss: tuple[float, float] | None,
) -> Business:
    """The rate of bad outcomes (label 0) among approved, with its Wilson interval, and the
    expected loss per application, each with its change against the baseline's decisions
    on the same rows."""
    approved = decisions == 1
    n_app = int(approved.sum())
    bad = int((approved & (labels == 0)).sum())
    rate = bad / n_app if n_app else None
    change = change_ci = None
    if baseline_decisions is not None and n_app:
        b_app = baseline_decisions == 1
        b_n = int(b_app.sum())
        if b_n:
            b_bad = int((b_app & (labels == 0)).sum())
            change, change_ci = newcombe_difference(bad, n_app, b_bad, b_n)
    out = Business(
        rate_name=_RATE_NAMES.get(str(domain), "bad rate"),
        approved=n_app,
        bad_approved=bad,
        bad_rate=rate,
        bad_rate_ci=wilson_interval(bad, n_app),
        bad_rate_change=change,
        bad_rate_change_ci=change_ci,
    )
    if loss is None:
        return out
    per_row = _loss_per_row(labels, decisions, loss)
    mean, ci = _mean_ci(per_row)
    d_mean = d_ci = None
    if baseline_decisions is not None:
        d_mean, d_ci = _mean_ci(per_row - _loss_per_row(labels, baseline_decisions, loss))
    return replace(
        out,
        loss_per_bad_approval=loss[0],
        gain_per_good_approval=loss[1],
        expected_loss=mean,
        expected_loss_ci=ci,
        expected_loss_change=d_mean,
        expected_loss_change_ci=d_ci,
    )


def _loss_per_row(
    labels: np.ndarray, decisions: np.ndarray, loss: tuple[float, float]
) -> np.ndarray:
    """Each application's loss: the loss for a bad approval, minus the gain for a good one,
    nothing for a decline."""
    out: np.ndarray = np.where(
        decisions == 1, np.where(labels == 0, loss[0], -loss[1]), 0.0
    ).astype(np.float64)
    return out


def _mean_ci(values: np.ndarray) -> tuple[float, tuple[float, float]]:
    """The mean with its normal 95% interval (the central limit theorem over rows)."""
    mean = float(values.mean())
    half = (
        _Z95 * float(values.std(ddof=1)) / float(np.sqrt(len(values))) if len(values) > 1 else 0.0
    )
    return mean, (mean - half, mean + half)


def newcombe_difference(x1: int, n1: int, x2: int, n2: int) -> tuple[float, tuple[float, float]]:
    """p1 − p2 with Newcombe's hybrid score interval (1998, method 10), built from the two
    Wilson intervals."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1)
    l2, u2 = wilson_interval(x2, n2)
    if l1 is None or u1 is None or l2 is None or u2 is None:  # n1, n2 > 0: never
        raise ValueError("newcombe_difference needs two non-empty samples")
    d = p1 - p2
    low = d - float(np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2))
    high = d + float(np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))
    return d, (low, high)


def ratio_packs(packs: list[PolicyPack]) -> list[PolicyPack]:
    """The packs with their ratio rules only (the four-fifths screen, adverse impact
    ratios): what a candidate's decisions alone can be judged by."""
    out = []
    for pack in packs:
        rules = tuple(r for r in pack.rules if r.check.type == "ratio_threshold")
        if rules:
            out.append(PolicyPack(pack.meta, rules, pack.folder))
    return out


def pack_verdicts(
    eval_spec: AuditSpec,
    records: list[MetricRecord],
    cells: Any,
    groups: list[Any],
    packs: list[PolicyPack],
    on: date,
) -> dict[str, Any]:
    """The packs' ratio rules applied to one candidate's records through the audit's
    policy engine and verdict rule (``auditor/policy``): counts by status and the rules
    that fail or warn."""
    adea_names = tuple(p.name for p in adea_plans(eval_spec, cells)[0])
    rule = VerdictRule(eval_spec.verdict.rule, eval_spec.verdict.alpha, eval_spec.verdict.family)
    facts = Facts(
        domain=eval_spec.domain,
        audit_date=on,
        metrics=tuple(records),
        groups=(),
        groupings=(*(g.name for g in groups), *adea_names),
        intersections=tuple(eval_spec.intersection_names()),
        features=tuple(eval_spec.columns.features),
        attributions=AttributionSummary(computed=False, reason="not computed for a candidate"),
        min_group_size=eval_spec.min_group_size,
        verdict_rule=rule,
        jurisdictions=tuple(eval_spec.jurisdictions or ()),
        categories={
            **eval_spec.categories(),
            **dict.fromkeys(adea_names, frozenset({"age"})),
        },
    )
    findings = evaluate_packs(packs, facts)
    counts: dict[str, int] = {}
    for f in findings:
        counts[f.status] = counts.get(f.status, 0) + 1
    return {
        "rule": facts.verdicts().describe()["statement"],
        "counts": dict(sorted(counts.items())),
        "rules": sorted({f"{f.pack}/{f.rule_id}" for f in findings}),
        "not_passing": [
            {
                "pack": f.pack,
                "rule": f.rule_id,
                "scope": f.scope,
                "status": f.status,
                "observed": f.observed,
                "check_failed": f.check_failed,
            }
            for f in findings
            if f.status in ("fail", "warn")
        ],
    }


def _ratio(r: MetricRecord) -> GroupRatio:
    return GroupRatio(
        r.attribute, r.group, r.reference, r.metric, r.value, r.ci_low, r.ci_high, r.n, r.flags
    )


def _components(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components V10 (per positive) and V01 (per negative)."""
    pos = scores[labels == 1]
    neg = scores[labels == 0]
    all_ranks = stats.rankdata(np.concatenate([pos, neg]))
    n1, n0 = len(pos), len(neg)
    v10 = (all_ranks[:n1] - stats.rankdata(pos)) / n0
    v01 = 1.0 - (all_ranks[n1:] - stats.rankdata(neg)) / n1
    return v10, v01


def delong(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """AUC and its DeLong variance (DeLong, DeLong and Clarke-Pearson 1988)."""
    v10, v01 = _components(scores, labels)
    var = float(np.var(v10, ddof=1) / len(v10) + np.var(v01, ddof=1) / len(v01))
    return float(v10.mean()), var


def delong_difference(a: np.ndarray, b: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """AUC(a) − AUC(b) on the same rows and the variance of the difference (paired)."""
    a10, a01 = _components(a, labels)
    b10, b01 = _components(b, labels)
    s10 = np.cov(np.vstack([a10, b10]), ddof=1)
    s01 = np.cov(np.vstack([a01, b01]), ddof=1)
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / len(a10) + (
        s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]
    ) / len(a01)
    return float(a10.mean() - b10.mean()), float(var)
