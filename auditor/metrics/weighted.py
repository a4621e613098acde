"""Group metrics from probabilistic membership (e.g. BISG race/ethnicity probabilities).

Outside mortgage lending, lenders rarely hold race/ethnicity; it is estimated (BISG) as
a probability per group for each applicant. Following SolasAI, each applicant counts in
every group with its probability as weight: n_g = Σ_i p_ig, favourable_g = Σ_i p_ig d_i.
Intervals and tests use Kish's effective sample size n_eff = (Σ p)² / Σ p²: Wilson on
(rate · n_eff, n_eff), Katz for ratios, the pooled z-test between effective samples.

With 0/1 probabilities (every group's Σp = Σp², so each weight is 0 or 1, and whole
favourable counts) the groups are ordinary groups: their records are built by the hard
groups' own code (Wilson, Katz, Fisher or z as the hard test chooses, shortfall, flip
test, power, bootstrap), so every number, p-values included, equals the hard audit's;
only the ``weighted`` flag and the ``detail`` sums are added. Weighted counts merge exactly as
sums (floating point). ``n``/``count`` hold the rounded weighted counts; the exact ones
are in ``detail`` (``weighted_n``, ``weighted_count``, ``effective_n``).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from auditor.batch import UNKNOWN, DecisionBatch
from auditor.metrics.stats import Z95, ratio_interval, wilson_interval, zero_cell
from auditor.metrics.weighted_sums import WeightedSums as WeightedSums
from auditor.result import MetricRecord

# (rate, effective n, weighted n) of one group
_Stats = tuple[float, float, float]


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
    control: str | None = None,
) -> tuple[list[MetricRecord], str | None]:
    """Selection rate, impact ratio (and adverse impact ratio) per group from weights.

    ``probabilities``: one column per group, rows summing to 1 (rows that do not are
    used as given). Returns the records and the highest-rate reference group (of any
    size; a small one is flagged). With a
    ``control`` group, adverse impact ratios against it are added.
    """
    sums = WeightedSums.of(probabilities, decisions)
    return records_from_sums(attribute, sums, min_group_size=min_group_size, control=control)


def crisp_counts(sums: WeightedSums) -> dict[str, tuple[int, int]] | None:
    """(favourable, n) per group when every weight is 0 or 1, else None.

    Σw = Σw² holds for weights in [0, 1] only when each is 0 or 1; sums of 0/1 floats
    are exact integers (far below 2**53), so the test is exact, not a tolerance.
    """
    out: dict[str, tuple[int, int]] = {}
    for j, group in enumerate(sums.names):
        n, sq, x = float(sums.wsum[j]), float(sums.wsq[j]), float(sums.fav[j])
        if n != sq or not n.is_integer() or not x.is_integer():
            return None
        if n > 0:
            out[str(group)] = (int(x), int(n))
    return out


def _crisp_records(
    attribute: str,
    sums: WeightedSums,
    fr: dict[str, tuple[int, int]],
    *,
    min_group_size: int,
    control: str | None,
    bootstrap: int,
    seed: int,
) -> tuple[list[MetricRecord], str | None]:
    """Hard-group records of 0/1 memberships, flagged ``weighted`` with their sums."""
    # local: group_metrics is the hard groups' module and sits above this one
    from auditor.metrics.counts import GroupCounts
    from auditor.metrics.group_metrics import RATES
    from auditor.metrics.group_metrics import _rate_records as rate_records
    from auditor.metrics.practical import practical

    counts = {g: GroupCounts(n=n, favorable=x) for g, (x, n) in fr.items()}
    records, ref = rate_records(attribute, counts, RATES[0], min_group_size, control)
    cache: dict[tuple[str, str], dict[str, tuple[float, float]]] = {}
    records = [practical(r, counts, bootstrap, seed, 0.8, cache) for r in records]
    out = []
    for r in records:
        n = float(sums.wsum[sums.names.index(r.group)])
        detail = {**r.detail, "weighted_n": n, "effective_n": n}
        if r.metric == "selection_rate":
            detail["weighted_count"] = float(r.count or 0)
        out.append(replace(r, flags=("weighted", *r.flags), detail=detail))
    return out, ref


def records_from_sums(
    attribute: str,
    sums: WeightedSums,
    *,
    min_group_size: int = 30,
    control: str | None = None,
    bootstrap: int = 0,
    seed: int = 0,
) -> tuple[list[MetricRecord], str | None]:
    """The records of :func:`weighted_selection_records` from (merged) sums.

    ``bootstrap``/``seed``: the hard groups' count bootstrap, used for 0/1 memberships.
    """
    fr = crisp_counts(sums)
    if fr:
        return _crisp_records(
            attribute,
            sums,
            fr,
            min_group_size=min_group_size,
            control=control,
            bootstrap=bootstrap,
            seed=seed,
        )
    stats: dict[str, _Stats] = {}
    records: list[MetricRecord] = []
    for j, group in enumerate(sums.names):
        n, x = float(sums.wsum[j]), float(sums.fav[j])
        if n <= 0:
            continue
        n_eff = n * n / float(sums.wsq[j])
        rate = x / n
        stats[str(group)] = (rate, n_eff, n)
        lo, hi = _wilson(rate, n_eff)
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
                flags=_flags(n_eff, min_group_size),
                detail={"weighted_n": n, "weighted_count": x, "effective_n": n_eff},
            )
        )
    # the highest-rate group of any size, as for hard groups (UGESP 1607.4(D), LL144)
    if not stats:
        return records, None
    ref = max(sorted(stats), key=lambda g: stats[g][0])
    records += _ratio_records(attribute, "impact_ratio", stats, ref, min_group_size)
    if control is not None and control in stats:
        records += _ratio_records(attribute, "adverse_impact_ratio", stats, control, min_group_size)
    return records, ref


def _flags(n_eff: float, min_group_size: int) -> tuple[str, ...]:
    return ("weighted",) + (("small_sample",) if n_eff < min_group_size else ())


def _ratio_records(
    attribute: str, metric: str, stats: dict[str, _Stats], ref: str, min_group_size: int
) -> list[MetricRecord]:
    """Each group's rate over ``ref``'s: Katz interval and pooled z-test on effective n."""
    r_rate, r_eff, _ = stats[ref]
    records = []
    for group, (rate, n_eff, n) in stats.items():
        flags = _flags(n_eff, min_group_size)
        if group == ref:
            records.append(
                MetricRecord(
                    attribute,
                    group,
                    metric,
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
        if value is not None:
            # Katz on effective counts; Haldane–Anscombe when the group has no selections
            lo, hi = ratio_interval(x1, n_eff, x2, r_eff)
            if zero_cell(x1, n_eff, x2, r_eff):
                flags = (*flags, "ci:haldane_anscombe")
        pooled = (x1 + x2) / (n_eff + r_eff)
        se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_eff + 1 / r_eff))
        if se0 > 0:
            p = math.erfc(abs(rate - r_rate) / se0 / math.sqrt(2))
        records.append(
            MetricRecord(
                attribute,
                group,
                metric,
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
    return records


def membership_weights(
    batch: DecisionBatch, attributes: tuple[str, ...]
) -> tuple[pd.DataFrame, np.ndarray]:
    """Weights of every row in every group of one grouping, and the unknown-row mask.

    A probabilistic attribute contributes its probabilities; a hard attribute one-hot
    columns. An intersection (at most one probabilistic part) multiplies them, so
    ``sex=female & race=Black`` weighs a woman by her probability of being Black. Rows
    where any part is unknown get zero weight everywhere and are reported as unknown.
    """
    weights, unknown, _ = _membership(batch, attributes)
    return weights, unknown


def _membership(
    batch: DecisionBatch, attributes: tuple[str, ...]
) -> tuple[pd.DataFrame, np.ndarray, list[tuple[object, ...]]]:
    n = len(batch)
    unknown = np.zeros(n, dtype=bool)
    columns: dict[str, tuple[tuple[object, ...], np.ndarray]] = {"": ((), np.ones(n))}
    for attr in attributes:
        part: dict[str, tuple[object, np.ndarray]]
        if attr in batch.probabilities:
            probs = batch.probabilities[attr]
            part = {str(g): (i, probs[g].to_numpy(np.float64)) for i, g in enumerate(probs.columns)}
            unknown |= probs.isna().all(axis=1).to_numpy()
        else:
            labels = batch.protected[attr].to_numpy()
            unknown |= labels == UNKNOWN
            part = {str(g): (str(g), (labels == g).astype(np.float64)) for g in sorted(set(labels))}
            part.pop(UNKNOWN, None)
        columns = {
            f"{name} & {g}" if name else g: ((*key, k), np.nan_to_num(w * v))
            for name, (key, w) in columns.items()
            for g, (k, v) in part.items()
        }
    weights = pd.DataFrame({name: w for name, (_, w) in columns.items()}, index=range(n))
    weights.loc[unknown, :] = 0.0
    return weights, unknown, [key for key, _ in columns.values()]


def weighted_sums(batch: DecisionBatch, attributes: tuple[str, ...]) -> WeightedSums:
    """Mergeable sums of one grouping with a probabilistic part over ``batch``."""
    if batch.decisions is None:
        raise ValueError("decisions must be known before measuring")
    weights, unknown, order = _membership(batch, attributes)
    return WeightedSums.of(weights, batch.decisions, unknown, order)


def weighted_grouping_records(
    batch: DecisionBatch,
    name: str,
    attributes: tuple[str, ...],
    *,
    min_group_size: int,
    control: str | None = None,
) -> tuple[list[MetricRecord], str | None]:
    """Weighted records of one grouping that involves a probabilistic attribute.

    Rows with unknown membership form their own ``unknown`` row (plain counts), never
    entering a ratio.
    """
    return grouping_records_from_sums(
        name, weighted_sums(batch, attributes), min_group_size=min_group_size, control=control
    )


def grouping_records_from_sums(
    name: str,
    sums: WeightedSums,
    *,
    min_group_size: int,
    control: str | None = None,
    bootstrap: int = 0,
    seed: int = 0,
) -> tuple[list[MetricRecord], str | None]:
    """:func:`weighted_grouping_records` from (merged) sums."""
    records, ref = records_from_sums(
        name,
        sums,
        min_group_size=min_group_size,
        control=control,
        bootstrap=bootstrap,
        seed=seed,
    )
    n_unknown = sums.n_unknown
    if n_unknown:
        x = sums.x_unknown
        lo, hi = wilson_interval(x, n_unknown)
        records.append(
            MetricRecord(
                name,
                UNKNOWN,
                "selection_rate",
                x / n_unknown,
                n_unknown,
                count=x,
                ci_low=lo,
                ci_high=hi,
                flags=("unknown",) + (("small_sample",) if n_unknown < min_group_size else ()),
            )
        )
    return records, ref
