"""Disparity that remains once legitimate factors are accounted for (``controls:``).

A raw approval gap may be explained by factors a lender may lawfully use (credit score,
debt-to-income, loan product). With ``controls`` in the spec, every hard grouping is
measured again *given* those factors:

- ``adjusted_odds_ratio``: a logistic regression of the decision on an intercept, one
  indicator per group (the reference group left out) and the controls; exp(coefficient)
  with its 95% Wald interval and Wald p-value. Fitted here by Newton–Raphson (IRLS) with
  the observed information as covariance: the same estimator as statsmodels ``Logit``, so
  no new runtime dependency is needed (tests check both to 1e-6).
- ``adjusted_marginal_effect``: the average over every analysed row of
  P(favourable | row, group g) − P(favourable | row, reference), the model's counterfactual
  contrast (Stata's ``margins r.group``), with a delta-method interval. For a two-group
  attribute it equals statsmodels' ``get_margeff(dummy=True)``.
- ``cdd``: conditional demographic disparity over the levels of ``cdd_by`` (one
  categorical control). Per stratum, DD = the group's share of the unfavourable decisions
  − its share of the favourable ones; CDD = the stratum-size-weighted mean of DD over the
  strata that hold both outcomes (Wachter, Mittelstadt and Russell 2021, as SageMaker
  Clarify computes it; formula not re-verified against the paper here). Positive: the
  group is over-represented among refusals even within strata. It needs no reference.
- ``residual_smd``: when the audit has a score, the score's OLS residual on the controls
  (no group terms), and the standardised mean difference of those residuals between the
  group and the reference (pooled SD; Hedges–Olkin large-sample interval; pooled t-test).
  ``residual_smd:<outcome>``: the same for each continuous outcome of
  ``columns.outcomes`` (APR, limit), over the rows where the outcome is present: the
  gap left once the controls are regressed out, in pooled standard deviations, beside
  the outcome's adjusted mean difference (a difference in the outcome's own units).

Encoding: numeric columns enter as they are (standardised internally, which leaves group
coefficients unchanged); any other column is categorical, one-hot with its most frequent
level as reference. Missing values: rows with a missing control, or an unknown group, are
left out of the fit and counted (``detail.rows_missing_controls``). Categorical levels in
which every decision is the same carry no information on group terms (their coefficient
would diverge) and are left out too, counted in ``detail.rows_uninformative``. A group whose
decisions are all alike, or a fit that does not converge (separation), or controls that
are collinear with the groups give a record without a value, flagged
``insufficient:<reason>``, and a warning that says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from auditor.batch import UNKNOWN, DecisionBatch
from auditor.metrics.control_design import encode_controls
from auditor.metrics.disparities import size_flags
from auditor.metrics.group_metrics import Grouping
from auditor.metrics.stats import Z95
from auditor.result import MetricRecord

MAX_ITER = 100
TOLERANCE = 1e-10
# a coefficient this large on a standardised or 0/1 column means an odds ratio beyond
# e^15 ≈ 3e6: the likelihood has no finite maximum (separation), whatever Newton returns
DIVERGED = 15.0
ODDS = "adjusted_odds_ratio"
MARGINAL = "adjusted_marginal_effect"
RESIDUAL_SMD = "residual_smd"


@dataclass(frozen=True)
class LogitFit:
    """A converged logistic regression: coefficients and their covariance."""

    params: np.ndarray
    cov: np.ndarray
    iterations: int


class FitProblem(Exception):
    """The regression has no reliable estimate; the message says why."""


def fit_logit(x: np.ndarray, y: np.ndarray) -> LogitFit:
    """Maximum-likelihood logistic regression by Newton–Raphson.

    Raises :class:`FitProblem` for a rank-deficient design, separation, or no convergence.
    """
    n, k = x.shape
    if n <= k or np.linalg.matrix_rank(x) < k:
        raise FitProblem("singular: the controls are collinear with the groups or each other")
    beta = np.zeros(k)
    separated = FitProblem("separation: a coefficient diverges (outcomes perfectly predicted)")
    for it in range(1, MAX_ITER + 1):
        p = special.expit(x @ beta)
        w = p * (1.0 - p)
        hess = (x * w[:, None]).T @ x
        try:
            step = np.linalg.solve(hess, x.T @ (y - p))
        except np.linalg.LinAlgError:
            raise FitProblem("separation: the information matrix became singular") from None
        beta = beta + step
        # judged on the way only far beyond the line (Newton may overshoot early on), and
        # at convergence against it: under separation the iterates grow without bound
        if not np.all(np.isfinite(beta)) or np.max(np.abs(beta)) > 4 * DIVERGED:
            raise separated
        if np.max(np.abs(step)) < TOLERANCE:
            if np.max(np.abs(beta)) > DIVERGED:
                raise separated
            p = special.expit(x @ beta)
            hess = (x * (p * (1.0 - p))[:, None]).T @ x
            return LogitFit(beta, np.linalg.inv(hess), it)
    if np.max(np.abs(beta)) > DIVERGED:
        raise separated
    raise FitProblem(f"no convergence in {MAX_ITER} iterations")


def _informative_rows(frame: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    """Rows outside categorical levels whose decisions are all alike."""
    keep = np.ones(len(frame), dtype=bool)
    for name in frame.columns:
        col = frame[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            continue
        labels = col.astype(str).to_numpy()
        mean = pd.Series(y).groupby(labels).transform("mean").to_numpy()
        keep &= (mean > 0) & (mean < 1)
    return keep


@dataclass(frozen=True)
class _Analysed:
    """The rows a grouping's regression uses, and why the others were left out."""

    groups: np.ndarray  # group label per analysed row
    y: np.ndarray
    controls: pd.DataFrame
    missing: int
    uninformative: int


def _analysed(labels: pd.Series, y: np.ndarray, controls: pd.DataFrame) -> _Analysed:
    complete = controls.notna().all(axis=1).to_numpy()
    known = (labels != UNKNOWN).to_numpy()
    missing = int((known & ~complete).sum())
    use = known & complete
    frame = controls[use].reset_index(drop=True)
    yy = y[use]
    keep = _informative_rows(frame, yy)
    return _Analysed(
        labels.to_numpy()[use][keep].astype(str),
        yy[keep],
        frame[keep].reset_index(drop=True),
        missing,
        int((~keep).sum()),
    )


def adjusted_records(
    attribute: str,
    labels: pd.Series,
    decisions: np.ndarray,
    controls: pd.DataFrame,
    reference: str,
    *,
    min_group_size: int,
) -> tuple[list[MetricRecord], list[str]]:
    """Adjusted odds ratio and marginal effect of every group against ``reference``."""
    data = _analysed(labels, decisions.astype(np.float64), controls)
    names = sorted(set(data.groups))
    sizes = {g: (int((data.groups == g).sum()), int(data.y[data.groups == g].sum())) for g in names}
    degenerate = {
        g for g in names if data.y[data.groups == g].min() == data.y[data.groups == g].max()
    }
    fitted = [g for g in names if g != reference and g not in degenerate]
    estimates: dict[str, Estimate] | str | None = None
    if reference in names and reference not in degenerate and fitted:
        rows = np.isin(data.groups, [reference, *fitted])
        x = _design(data.groups[rows], fitted, data.controls[rows])
        try:
            fit = fit_logit(x, data.y[rows])
        except FitProblem as exc:
            estimates = str(exc)
        else:
            estimates = {}
            for j, g in enumerate(fitted, start=1):
                total, grad = contrast_sums(fit.params, x, j, len(fitted))
                estimates[g] = Estimate(fit, j, total / len(x), grad / len(x))
    return assemble_adjusted(
        attribute,
        reference,
        sizes,
        degenerate,
        estimates,
        Excluded(len(data.y), data.missing, data.uninformative),
        min_group_size=min_group_size,
    )


@dataclass(frozen=True)
class Estimate:
    """One group's fitted contrast: the fit, its column, and the averaged AME pieces."""

    fit: LogitFit
    column: int
    ame: float
    grad: np.ndarray


@dataclass(frozen=True)
class Excluded:
    """Rows the regression used, and those it left out and why."""

    used: int
    missing: int
    uninformative: int


def assemble_adjusted(
    attribute: str,
    reference: str,
    sizes: dict[str, tuple[int, int]],
    degenerate: set[str],
    estimates: dict[str, Estimate] | str | None,
    rows: Excluded,
    *,
    min_group_size: int,
) -> tuple[list[MetricRecord], list[str]]:
    """The records and warnings of :func:`adjusted_records` from what the fit found.

    ``sizes``: (rows, favourable) per analysed group; ``estimates``: per fitted group, or
    the reason the fit failed, or None when no fit was tried. Shared by the in-memory
    fit and the mergeable one (:mod:`auditor.metrics.controls_merged`).
    """
    base = {
        "rows_used": float(rows.used),
        "rows_missing_controls": float(rows.missing),
        "rows_uninformative": float(rows.uninformative),
    }
    warnings: list[str] = []
    if rows.missing:
        warnings.append(
            f"controls ({attribute}): {rows.missing} row(s) with a missing control value were "
            "left out of the adjusted analysis"
        )
    if reference not in sizes:
        return [], [
            *warnings,
            f"controls ({attribute}): the reference group '{reference}' has "
            "no rows with complete controls; no adjusted disparity was estimated",
        ]
    reason = estimates if isinstance(estimates, str) else None
    if reference in degenerate:
        reason = "separation: every decision of the reference group is the same"
    out: list[MetricRecord] = []
    for g, (n, count) in sizes.items():
        flags = size_flags(g, n, min_group_size)
        if g == reference:
            for metric, value in ((ODDS, 1.0), (MARGINAL, 0.0)):
                out.append(
                    MetricRecord(
                        attribute,
                        g,
                        metric,
                        value,
                        n,
                        count=count,
                        reference=reference,
                        flags=(*flags, "reference"),
                        detail=dict(base),
                    )
                )
            continue
        why = "separation: every decision of this group is the same" if g in degenerate else reason
        if not isinstance(estimates, dict) or why is not None:
            why = why or "no fit"
            warnings.append(
                f"controls ({attribute}={g}): insufficient evidence for an adjusted disparity "
                f"({why})"
            )
            tag = f"insufficient:{why.split(':')[0]}"
            for metric in (ODDS, MARGINAL):
                out.append(
                    MetricRecord(
                        attribute,
                        g,
                        metric,
                        None,
                        n,
                        count=count,
                        reference=reference,
                        flags=(*flags, tag),
                        detail=dict(base),
                    )
                )
            continue
        out += _group_records(attribute, g, reference, n, count, flags, estimates[g], base)
    return out, warnings


def _design(groups: np.ndarray, fitted: list[str], controls: pd.DataFrame) -> np.ndarray:
    indicators = np.column_stack([(groups == g).astype(np.float64) for g in fitted])
    encoded, _ = encode_controls(controls)
    return np.hstack([np.ones((len(groups), 1)), indicators, encoded])


def contrast_sums(
    params: np.ndarray, x: np.ndarray, j: int, indicators: int
) -> tuple[float, np.ndarray]:
    """Σ over rows of P(fav | row as group j) − P(fav | row as the reference), and of its
    gradient in the coefficients (the delta method's pieces; sums merge across chunks)."""
    # the counterfactual contrast: every analysed row as the group, then as the reference
    as_group, as_ref = x.copy(), x.copy()
    as_group[:, 1 : 1 + indicators] = 0.0
    as_ref[:, 1 : 1 + indicators] = 0.0
    as_group[:, j] = 1.0
    p1, p0 = special.expit(as_group @ params), special.expit(as_ref @ params)
    grad = ((p1 * (1 - p1))[:, None] * as_group - (p0 * (1 - p0))[:, None] * as_ref).sum(axis=0)
    return float(np.sum(p1 - p0)), grad


def _group_records(
    attribute: str,
    group: str,
    reference: str,
    n: int,
    count: int,
    flags: tuple[str, ...],
    est: Estimate,
    base: dict[str, float],
) -> list[MetricRecord]:
    fit, j = est.fit, est.column
    b, se = float(fit.params[j]), math.sqrt(float(fit.cov[j, j]))
    p_or = float(2 * stats.norm.sf(abs(b / se)))
    ame = est.ame
    se_ame = math.sqrt(max(float(est.grad @ fit.cov @ est.grad), 0.0))
    p_ame = float(2 * stats.norm.sf(abs(ame / se_ame))) if se_ame > 0 else None
    detail = {**base, "log_odds": b, "se": se, "iterations": float(fit.iterations)}
    return [
        MetricRecord(
            attribute,
            group,
            ODDS,
            math.exp(b),
            n,
            count=count,
            ci_low=math.exp(b - Z95 * se),
            ci_high=math.exp(b + Z95 * se),
            p_value=p_or,
            reference=reference,
            flags=(*flags, "test:wald"),
            detail=detail,
        ),
        MetricRecord(
            attribute,
            group,
            MARGINAL,
            ame,
            n,
            count=count,
            ci_low=ame - Z95 * se_ame,
            ci_high=ame + Z95 * se_ame,
            p_value=p_ame,
            reference=reference,
            flags=(*flags, "test:wald"),
            detail={**base, "se": se_ame},
        ),
    ]


def cdd_records(
    attribute: str, labels: pd.Series, decisions: np.ndarray, strata: pd.Series, by: str
) -> list[MetricRecord]:
    """Conditional demographic disparity of every known group over the ``by`` strata."""
    use = ((labels != UNKNOWN) & strata.notna()).to_numpy()
    frame = pd.DataFrame(
        {
            "s": strata[use].astype(str).to_numpy(),
            "y": decisions[use].astype(bool),
            "g": labels.to_numpy()[use].astype(str),
        }
    )
    counts = frame.groupby(["s", "y", "g"]).size()
    table: dict[tuple[str, bool, str], int] = {}
    for key, v in counts.items():
        parts: tuple[object, ...] = tuple(key)  # type: ignore[arg-type]
        table[(str(parts[0]), bool(parts[1]), str(parts[2]))] = int(v)
    return cdd_from_counts(attribute, table)


def cdd_from_counts(attribute: str, counts: dict[tuple[str, bool, str], int]) -> list[MetricRecord]:
    """:func:`cdd_records` from rows per (stratum, favourable, group): mergeable counts."""
    groups = sorted({g for _, _, g in counts})
    levels = sorted({s for s, _, _ in counts})
    outcomes = {(s, y) for s, y, _ in counts}
    out: list[MetricRecord] = []
    for g in groups:
        total, weighted, used = 0, 0.0, 0
        for s in levels:
            if (s, True) not in outcomes or (s, False) not in outcomes:
                continue  # a stratum with one outcome only: no disparity to measure
            refused = sum(v for (s2, y, _), v in counts.items() if s2 == s and not y)
            granted = sum(v for (s2, y, _), v in counts.items() if s2 == s and y)
            dd = counts.get((s, False, g), 0) / refused - counts.get((s, True, g), 0) / granted
            size = refused + granted
            weighted += size * dd
            total += size
            used += 1
        out.append(
            MetricRecord(
                attribute,
                g,
                "cdd",
                weighted / total if total else None,
                sum(v for (_, _, g2), v in counts.items() if g2 == g),
                count=sum(v for (_, y, g2), v in counts.items() if g2 == g and y),
                flags=() if total else ("insufficient:strata",),
                detail={"strata_used": float(used), "rows_used": float(total)},
            )
        )
    return out


def residual_metric(outcome: str | None) -> str:
    """The record's metric: ``residual_smd`` for the score, ``residual_smd:apr`` for a
    continuous outcome (its own Holm family, as ``adjusted_mean_difference:apr`` is)."""
    return f"{RESIDUAL_SMD}:{outcome}" if outcome else RESIDUAL_SMD


def residual_smd_records(
    attribute: str,
    labels: pd.Series,
    scores: np.ndarray,
    controls: pd.DataFrame,
    reference: str,
    *,
    min_group_size: int,
    outcome: str | None = None,
) -> list[MetricRecord]:
    """SMD of the values' residuals on the controls, each group against ``reference``.

    ``scores`` is the audit's score, or with ``outcome`` named, that continuous outcome
    (rows where it is missing are left out, as the adjusted mean difference leaves them).
    """
    values = np.asarray(scores, dtype=np.float64)
    use = (controls.notna().all(axis=1) & (labels != UNKNOWN)).to_numpy() & ~np.isnan(values)
    groups = labels.to_numpy()[use].astype(str)
    if reference not in set(groups):
        return []  # adjusted_records warns about the missing reference
    encoded, _ = encode_controls(controls[use].reset_index(drop=True))
    x = np.hstack([np.ones((len(groups), 1)), encoded])
    score = values[use]
    coef, *_ = np.linalg.lstsq(x, score, rcond=None)
    resid = score - x @ coef
    moments = {g: Moments.of(resid[groups == g]) for g in sorted(set(groups))}
    return smd_from_moments(
        attribute,
        moments,
        reference,
        len(groups),
        min_group_size=min_group_size,
        metric=residual_metric(outcome),
    )


@dataclass(frozen=True)
class Moments:
    """Count, mean and sum of squared deviations; merged exactly (Chan et al. 1979)."""

    n: int
    mean: float
    m2: float

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        """The moments of ``values``."""
        if not len(values):
            return cls(0, 0.0, 0.0)
        mean = float(values.mean())
        return cls(len(values), mean, float(((values - mean) ** 2).sum()))

    def merge(self, other: Moments) -> Moments:
        """Both samples' moments."""
        if not other.n:
            return self
        if not self.n:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        return Moments(n, mean, self.m2 + other.m2 + delta * delta * self.n * other.n / n)

    @property
    def var(self) -> float:
        """The sample variance (n − 1 denominator)."""
        return self.m2 / (self.n - 1)


def smd_from_moments(
    attribute: str,
    moments: dict[str, Moments],
    reference: str,
    rows_used: int,
    *,
    min_group_size: int,
    metric: str = "residual_smd",
) -> list[MetricRecord]:
    """Residual SMD records from each group's residual moments (pooled SD, Hedges–Olkin
    interval, pooled t-test); ``metric`` names the score's or an outcome's residuals."""
    r = moments[reference]
    out: list[MetricRecord] = []
    for g in sorted(set(moments) - {reference}):
        e = moments[g]
        n1, n0 = e.n, r.n
        flags = size_flags(g, n1, min_group_size)
        dof = n1 + n0 - 2
        pooled = (
            math.sqrt(((n1 - 1) * e.var + (n0 - 1) * r.var) / dof) if n1 > 1 and n0 > 1 else 0.0
        )
        if pooled <= 0:
            out.append(
                MetricRecord(
                    attribute,
                    g,
                    metric,
                    None,
                    n1,
                    reference=reference,
                    flags=(*flags, "insufficient:variance"),
                )
            )
            continue
        d = float((e.mean - r.mean) / pooled)
        se = math.sqrt((n1 + n0) / (n1 * n0) + d * d / (2 * (n1 + n0)))
        t = d / math.sqrt(1 / n1 + 1 / n0)
        out.append(
            MetricRecord(
                attribute,
                g,
                metric,
                d,
                n1,
                ci_low=d - Z95 * se,
                ci_high=d + Z95 * se,
                p_value=float(2 * stats.t.sf(abs(t), dof)),
                reference=reference,
                flags=(*flags, "test:t_test"),
                detail={"rows_used": float(rows_used)},
            )
        )
    return out


def controls_metrics(
    batch: DecisionBatch,
    groups: list[Grouping],
    references: dict[str, str | None],
    control: dict[str, str],
    *,
    cdd_by: str | None,
    min_group_size: int,
) -> tuple[list[MetricRecord], list[str]]:
    """Every ``controls`` record of the audit, and the warnings to show with them.

    The reference is the grouping's named control group when there is one, else its
    highest-selection-rate group: the same reference as the unadjusted ratios.
    """
    from auditor.metrics.adjusted_mean import adjusted_mean_records

    if batch.decisions is None or (batch.controls is None and batch.outcomes is None):
        return [], []
    out: list[MetricRecord] = []
    warnings: list[str] = []
    decisions = np.asarray(batch.decisions)
    for g in groups:
        labels = batch.group_labels(list(g.attributes)).reset_index(drop=True)
        ref = control.get(g.name) or references.get(g.name)
        if ref is not None and batch.outcomes is not None:
            given = (
                batch.controls
                if batch.controls is not None
                else pd.DataFrame(index=range(len(batch)))
            )
            for name in batch.outcomes.columns:
                recs, notes = adjusted_mean_records(
                    g.name,
                    labels,
                    batch.outcomes[name].to_numpy(),
                    str(name),
                    given,
                    ref,
                    min_group_size=min_group_size,
                )
                out += recs
                warnings += notes
        if batch.controls is None:
            continue
        if ref is not None:
            recs, notes = adjusted_records(
                g.name, labels, decisions, batch.controls, ref, min_group_size=min_group_size
            )
            out += recs
            warnings += notes
            if batch.scores is not None:
                out += residual_smd_records(
                    g.name,
                    labels,
                    np.asarray(batch.scores),
                    batch.controls,
                    ref,
                    min_group_size=min_group_size,
                )
            outcomes = batch.outcomes if batch.outcomes is not None else pd.DataFrame()
            for name in outcomes.columns:
                out += residual_smd_records(
                    g.name,
                    labels,
                    outcomes[name].to_numpy(),
                    batch.controls,
                    ref,
                    min_group_size=min_group_size,
                    outcome=str(name),
                )
        if cdd_by is not None:
            out += cdd_records(g.name, labels, decisions, batch.controls[cdd_by], cdd_by)
    return out, warnings
