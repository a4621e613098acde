"""Regression-adjusted mean difference of a continuous outcome (APR, limit, score).

For each outcome in ``columns.outcomes``: an ordinary least-squares regression of the
outcome on an intercept, one indicator per group (the reference left out) and the
``controls`` (encoded as for the logistic regression: numeric standardised, categorical
one-hot against the most frequent level). A group's coefficient is its mean outcome
minus the reference's among applicants with the same controls (in the linear model).

Standard errors are heteroskedasticity-robust HC3 (MacKinnon and White 1985; what
statsmodels ``OLS.fit(cov_type="HC3")`` computes, checked in the tests): an APR or a
credit limit rarely has the same spread in every group and at every credit score, and
HC3 is the robust choice that behaves well in small groups (Long and Ervin 2000). The
interval and p-value are normal (Wald), as statsmodels gives them for robust covariances.

Rows with a missing outcome or control, or an unknown group, are left out and counted
(``detail.rows_missing``). A group with fewer than two analysed rows has no robust
standard error (its own row is fitted exactly: leverage 1) and is reported without a
value, flagged ``insufficient:size``.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from auditor.batch import UNKNOWN
from auditor.metrics.control_design import encode_controls
from auditor.metrics.disparities import size_flags
from auditor.metrics.stats import Z95
from auditor.result import MetricRecord

METRIC = "adjusted_mean_difference"


def metric_name(outcome: str) -> str:
    """The record's metric name for one outcome: ``adjusted_mean_difference:apr``."""
    return f"{METRIC}:{outcome}"


def adjusted_mean_records(
    attribute: str,
    labels: pd.Series,
    outcome: np.ndarray,
    name: str,
    controls: pd.DataFrame,
    reference: str,
    *,
    min_group_size: int,
) -> tuple[list[MetricRecord], list[str]]:
    """Adjusted mean difference of ``name`` for every group against ``reference``."""
    y_all = np.asarray(outcome, dtype=np.float64)
    known = (labels != UNKNOWN).to_numpy()
    complete = controls.notna().all(axis=1).to_numpy() & ~np.isnan(y_all)
    missing = int((known & ~complete).sum())
    use = known & complete
    groups = labels.to_numpy()[use].astype(str)
    y = y_all[use]
    names = sorted(set(groups))
    counts = {g: int((groups == g).sum()) for g in names}
    sums = {g: float(y[groups == g].sum()) for g in names}
    fitted = fitted_groups(counts, reference)
    fit: tuple[np.ndarray, np.ndarray] | str = "no fit"
    if reference in names:
        fit = _ols_hc3(groups, y, fitted, controls[use].reset_index(drop=True), reference)
    return assemble_adjusted_mean(
        attribute,
        name,
        reference,
        {g: (counts[g], sums[g]) for g in names},
        fit,
        len(y),
        missing,
        min_group_size=min_group_size,
    )


def fitted_groups(counts: dict[str, int], reference: str) -> list[str]:
    """The groups that get an indicator: the others with at least two analysed rows."""
    return [g for g in sorted(counts) if g != reference and counts[g] >= 2]


def assemble_adjusted_mean(
    attribute: str,
    name: str,
    reference: str,
    sizes: dict[str, tuple[int, float]],
    fit: tuple[np.ndarray, np.ndarray] | str,
    rows_used: int,
    missing: int,
    *,
    min_group_size: int,
) -> tuple[list[MetricRecord], list[str]]:
    """The records and warnings from the fit: ``sizes`` are (rows, Σ outcome) per group,
    ``fit`` the coefficients and HC3 covariance, or why there are none. Shared by the
    in-memory fit and the mergeable one."""
    metric = metric_name(name)
    notes = (
        [
            f"columns.outcomes ({attribute}, {name}): {missing} row(s) with a missing outcome "
            "or control value were left out of the adjusted mean difference"
        ]
        if missing
        else []
    )
    if reference not in sizes:
        return [], [
            *notes,
            f"columns.outcomes ({attribute}, {name}): the reference group '{reference}' has "
            "no rows with the outcome and every control; no adjusted mean difference",
        ]
    fitted = fitted_groups({g: n for g, (n, _) in sizes.items()}, reference)
    if isinstance(fit, str):
        notes.append(f"columns.outcomes ({attribute}, {name}): no adjusted fit ({fit})")
    base = {"rows_used": float(rows_used), "rows_missing": float(missing)}
    n_ref, sum_ref = sizes[reference]
    ref_mean = sum_ref / n_ref
    out: list[MetricRecord] = []
    for g in sorted(sizes):
        n, total = sizes[g]
        flags = size_flags(g, n, min_group_size)
        detail = {**base, "raw_difference": total / n - ref_mean, "reference_mean": ref_mean}
        if g == reference:
            out.append(
                MetricRecord(
                    attribute,
                    g,
                    metric,
                    0.0,
                    n,
                    reference=reference,
                    flags=(*flags, "reference"),
                    detail=detail,
                )
            )
            continue
        if isinstance(fit, str) or g not in fitted:
            why = fit.split(":")[0] if isinstance(fit, str) and g in fitted else "size"
            out.append(
                MetricRecord(
                    attribute,
                    g,
                    metric,
                    None,
                    n,
                    reference=reference,
                    flags=(*flags, f"insufficient:{why}"),
                    detail=detail,
                )
            )
            continue
        params, cov = fit
        j = 1 + fitted.index(g)
        b, se = float(params[j]), math.sqrt(max(float(cov[j, j]), 0.0))
        p = float(2 * stats.norm.sf(abs(b / se))) if se > 0 else None
        out.append(
            MetricRecord(
                attribute,
                g,
                metric,
                b,
                n,
                ci_low=b - Z95 * se,
                ci_high=b + Z95 * se,
                p_value=p,
                reference=reference,
                flags=(*flags, "test:wald_hc3"),
                detail={**detail, "se": se},
            )
        )
    return out, notes


def _ols_hc3(
    groups: np.ndarray,
    y: np.ndarray,
    fitted: list[str],
    controls: pd.DataFrame,
    reference: str,
) -> tuple[np.ndarray, np.ndarray] | str:
    """OLS coefficients and their HC3 covariance, or why there are none."""
    rows = np.isin(groups, [reference, *fitted])
    g = groups[rows]
    parts = [np.ones((len(g), 1))]
    if fitted:
        parts.append(np.column_stack([(g == name).astype(np.float64) for name in fitted]))
    encoded, _ = encode_controls(controls[rows].reset_index(drop=True))
    x = np.hstack([*parts, encoded])
    yy = y[rows]
    n, k = x.shape
    if n <= k or np.linalg.matrix_rank(x) < k:
        return "singular: the controls are collinear with the groups or each other"
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ (x.T @ yy)
    resid = yy - x @ beta
    leverage = np.einsum("ij,jk,ik->i", x, bread, x)
    if np.any(leverage >= 1 - 1e-12):
        return "leverage: a row is fitted exactly, so HC3 has no standard error"
    scaled = x * (resid / (1.0 - leverage))[:, None]
    return beta, bread @ (scaled.T @ scaled) @ bread


# issue 17 item 6: the flags that tell a rule how to read an outcome's difference
UNADJUSTED = "unadjusted"  # no controls: the "adjusted" difference is the raw one
DIRECTION_FLAG = "unfavorable:"  # + higher | lower: the sign that harms the group


def outcome_of(metric: str) -> str | None:
    """The outcome an outcome record is about (``adjusted_mean_difference:apr`` and
    ``residual_smd:apr`` give ``apr``), else ``None``."""
    for prefix in (f"{METRIC}:", "residual_smd:"):
        if metric.startswith(prefix):
            return metric[len(prefix) :]
    return None


def mark_outcome_records(
    records: list[MetricRecord], directions: dict[str, str], *, controlled: bool
) -> list[MetricRecord]:
    """``records`` with each outcome record flagged ``unfavorable:<direction>`` where the
    spec states which direction harms the applicant (``columns.outcomes`` entries
    ``{name, unfavorable}``), and the adjusted mean differences flagged ``unadjusted``
    when the audit has no controls. Both engines mark their records here, after the
    fits, so the numbers themselves never depend on the direction."""
    out: list[MetricRecord] = []
    for r in records:
        outcome = outcome_of(r.metric)
        extra: list[str] = []
        if outcome is not None and outcome in directions:
            extra.append(f"{DIRECTION_FLAG}{directions[outcome]}")
        if outcome is not None and not controlled and r.metric.startswith(f"{METRIC}:"):
            extra.append(UNADJUSTED)
        out.append(replace(r, flags=(*r.flags, *extra)) if extra else r)
    return out
