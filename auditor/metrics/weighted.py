"""Group metrics from probabilistic membership (e.g. BISG race/ethnicity probabilities).

Outside mortgage lending, lenders rarely hold race/ethnicity; it is estimated (BISG) as
a probability per group for each applicant. Following SolasAI, each applicant counts in
every group with its probability as weight: n_g = Σ_i p_ig, favourable_g = Σ_i p_ig d_i.
Intervals and tests use Kish's effective sample size n_eff = (Σ p)² / Σ p²: Wilson on
(rate · n_eff, n_eff), Katz for ratios, the pooled z-test between effective samples. With
0/1 probabilities everything equals the ordinary counts. Weighted counts merge exactly as
sums (floating point). ``n``/``count`` hold the rounded weighted counts; the exact ones
are in ``detail`` (``weighted_n``, ``weighted_count``, ``effective_n``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from auditor.metrics.stats import Z95
from auditor.result import MetricRecord


def _wilson(p: float, n: float) -> tuple[float | None, float | None]:
    if n <= 0:
        return None, None
    z2 = Z95 * Z95
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half) if p > 0 else 0.0, min(1.0, centre + half) if p < 1 else 1.0


def weighted_selection_records(
    attribute: str,
    probabilities: pd.DataFrame,
    decisions: np.ndarray,
    *,
    min_group_size: int = 30,
) -> tuple[list[MetricRecord], str | None]:
    """Selection rate and impact ratio per group from membership probabilities.

    ``probabilities``: one column per group, rows summing to 1 (rows that do not are
    used as given). Returns the records and the highest-rate reference group (chosen
    among groups with an effective size of at least ``min_group_size``).
    """
    d = np.asarray(decisions, dtype=np.float64)
    w = probabilities.to_numpy(np.float64)
    wsum = w.sum(axis=0)
    wsq = (w * w).sum(axis=0)
    fav = w.T @ d
    stats: dict[str, tuple[float, float, float]] = {}
    records: list[MetricRecord] = []
    for j, group in enumerate(probabilities.columns):
        n, x = float(wsum[j]), float(fav[j])
        if n <= 0:
            continue
        n_eff = n * n / float(wsq[j])
        rate = x / n
        stats[str(group)] = (rate, n_eff, n)
        lo, hi = _wilson(rate, n_eff)
        flags = ("weighted",) + (("small_sample",) if n_eff < min_group_size else ())
        records.append(
            MetricRecord(
                attribute,
                str(group),
                "selection_rate",
                rate,
                round(n),
                count=round(x),
                ci_low=lo,
                ci_high=hi,
                flags=flags,
                detail={"weighted_n": n, "weighted_count": x, "effective_n": n_eff},
            )
        )
    large = {g: s for g, s in stats.items() if s[1] >= min_group_size} or stats
    if not large:
        return records, None
    ref = max(sorted(large), key=lambda g: large[g][0])
    r_rate, r_eff, _ = stats[ref]
    for group, (rate, n_eff, n) in stats.items():
        flags = ("weighted",) + (("small_sample",) if n_eff < min_group_size else ())
        if group == ref:
            records.append(
                MetricRecord(
                    attribute,
                    group,
                    "impact_ratio",
                    1.0,
                    round(n),
                    reference=ref,
                    flags=(*flags, "reference"),
                )
            )
            continue
        value = rate / r_rate if r_rate > 0 else None
        lo = hi = p = None
        x1, x2 = rate * n_eff, r_rate * r_eff
        if value is not None and x1 > 0:
            se = math.sqrt(1 / x1 - 1 / n_eff + 1 / x2 - 1 / r_eff)
            lo, hi = value * math.exp(-Z95 * se), value * math.exp(Z95 * se)
        pooled = (x1 + x2) / (n_eff + r_eff)
        se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_eff + 1 / r_eff))
        if se0 > 0:
            p = math.erfc(abs(rate - r_rate) / se0 / math.sqrt(2))
        records.append(
            MetricRecord(
                attribute,
                group,
                "impact_ratio",
                value,
                round(n),
                ci_low=lo,
                ci_high=hi,
                p_value=p,
                reference=ref,
                flags=(*flags, "test:z_test_weighted"),
                detail={"weighted_n": n, "effective_n": n_eff},
            )
        )
    return records, ref
