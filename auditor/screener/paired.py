"""Within-application statistics for paired screener probes.

Input is a long table of scored variants, one row per (application, variant, repeat):
``application_id``, ``probe``, ``variant``, one column per probed attribute (``sex``,
``race_ethnicity``, ...; empty where a variant does not set that attribute), ``repeat``,
``score`` and ``selected``.

Every application is its own control: for a probe and a contrast (a group against the
attribute's reference group), each application contributes one difference — its mean score
over the group's variants (and repeats) minus its mean over the reference group's variants.
Intervals resample *applications* (a paired bootstrap), so name-to-name and repeat-to-repeat
noise inside an application is carried by that application's difference. The p-value is a
sign-flip (paired permutation) test of "no difference": exact over all 2**n sign patterns for
n <= 16 applications, Monte Carlo otherwise.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

# the reference group of an attribute when the caller names none: the group LL144-style
# tables usually compare against; an attribute not listed here uses its highest-scoring group
DEFAULT_REFERENCES: dict[str, str] = {"sex": "Male", "race_ethnicity": "White"}
INTERSECTION_JOIN = " & "
EXACT_SIGN_FLIP_MAX_N = 16
_CHUNK = 2_000_000  # bootstrap draws held in memory at once (resamples x applications)
_REQUIRED = ("application_id", "probe", "variant", "score")


@dataclass(frozen=True)
class PairedEffect:
    """One contrast of one probe: ``group`` against ``reference`` of ``attribute``.

    ``mean_difference`` is the mean over applications of (group mean score - reference mean
    score); the interval is the paired bootstrap percentile interval at ``1 - alpha``."""

    probe: str
    attribute: str
    group: str
    reference: str
    applications: int
    mean_difference: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str
    selection_rate_difference: float | None
    group_mean: float = float("nan")
    reference_mean: float = float("nan")
    group_selection_rate: float | None = None
    reference_selection_rate: float | None = None


@dataclass(frozen=True)
class ConsistencySummary:
    """How much a stochastic screener's answers move between repeats of the same input."""

    units: int  # (application, probe, variant) combinations scored at least twice
    repeats: int  # the most repeats any unit had
    mean_sd: float  # mean over units of the standard deviation of scores across repeats
    max_sd: float
    decision_flip_share: float | None  # share of units whose selected decision changed


@dataclass(frozen=True)
class TopKExposure:
    """A group's share of the top ``k`` of a probe's pool of variants against its share of
    the pool (``exposure_ratio`` = top-k share / pool share; 1 means proportional)."""

    probe: str
    attribute: str
    group: str
    k: int
    pool_size: int
    pool_share: float
    top_k_share: float
    exposure_ratio: float


def _check(scored: pd.DataFrame, groups: Sequence[str]) -> None:
    missing = [c for c in (*_REQUIRED, *groups) if c not in scored.columns]
    if missing:
        raise ValueError(f"scored variants lack column(s): {', '.join(missing)}")
    if scored["score"].isna().any():
        raise ValueError("scored variants have missing scores; drop or rescore them first")


def _group_values(frame: pd.DataFrame, attribute: str) -> pd.Series:
    """The attribute as text, empty/None -> NaN (a variant that does not set it)."""
    values = frame[attribute].astype("object")
    return values.where(values.notna() & (values.astype(str).str.len() > 0))


def _reference(
    per_group: pd.DataFrame, attribute: str, references: Mapping[str, str]
) -> str | None:
    """The named (or default) reference group if scored, else the highest-scoring group."""
    present = [str(g) for g in per_group.columns]
    wanted = references.get(attribute, DEFAULT_REFERENCES.get(attribute))
    if wanted is not None:
        return wanted if wanted in present else None
    means = per_group.mean(axis=0)
    return str(means.idxmax()) if len(means) else None


def paired_effects(
    scored: pd.DataFrame,
    groups: Sequence[str],
    *,
    alpha: float = 0.05,
    seed: int = 0,
    resamples: int = 10_000,
    references: Mapping[str, str] | None = None,
    intersections: bool = True,
) -> list[PairedEffect]:
    """Per probe, each group of each attribute (and each intersection of two attributes)
    against its reference group: mean within-application difference, paired bootstrap
    interval, sign-flip p-value and difference in selection rates.

    ``references`` overrides the reference group per attribute (an intersection's key is
    e.g. ``"sex & race_ethnicity"``; by default it is the intersection of the attributes'
    references). Contrasts no application has both sides of are left out."""
    _check(scored, groups)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    refs = dict(references or {})
    rng = np.random.default_rng(seed)
    has_selected = "selected" in scored.columns and bool(scored["selected"].notna().any())
    effects: list[PairedEffect] = []
    for probe in sorted(scored["probe"].astype(str).unique()):
        rows = scored[scored["probe"].astype(str) == probe]
        attributes: list[tuple[str, pd.Series]] = []
        for attribute in groups:
            values = _group_values(rows, attribute)
            if values.notna().any():
                attributes.append((attribute, values))
        if intersections:
            for (a, va), (b, vb) in itertools.combinations(list(attributes), 2):
                both = va.notna() & vb.notna()
                if both.any():
                    joined = (va.astype(str) + INTERSECTION_JOIN + vb.astype(str)).where(both)
                    key = f"{a}{INTERSECTION_JOIN}{b}"
                    if key not in refs:
                        ra = refs.get(a, DEFAULT_REFERENCES.get(a))
                        rb = refs.get(b, DEFAULT_REFERENCES.get(b))
                        if ra is not None and rb is not None:
                            refs[key] = f"{ra}{INTERSECTION_JOIN}{rb}"
                    attributes.append((key, joined))
        for attribute, values in attributes:
            effects.extend(
                _contrasts(
                    rows, probe, attribute, values, refs, has_selected, alpha, rng, resamples
                )
            )
    return effects


def _contrasts(
    rows: pd.DataFrame,
    probe: str,
    attribute: str,
    values: pd.Series,
    references: Mapping[str, str],
    has_selected: bool,
    alpha: float,
    rng: np.random.Generator,
    resamples: int,
) -> list[PairedEffect]:
    frame = pd.DataFrame(
        {
            "application_id": rows["application_id"].astype(str),
            "group": values,
            "score": rows["score"].astype(float),
        }
    )
    if has_selected:
        frame["selected"] = rows["selected"].astype(float)
    frame = frame.dropna(subset=["group"])
    # one number per (application, group): the mean over that group's variants and repeats
    scores = frame.pivot_table(
        index="application_id", columns="group", values="score", aggfunc="mean"
    )
    reference = _reference(scores, attribute, references)
    if reference is None:
        return []
    selected = (
        frame.pivot_table(
            index="application_id", columns="group", values="selected", aggfunc="mean"
        )
        if has_selected
        else None
    )
    out = []
    for group in sorted(str(g) for g in scores.columns):
        if group == reference:
            continue
        pair = scores[[group, reference]].dropna()
        if pair.empty:
            continue
        diffs = (pair[group] - pair[reference]).to_numpy(dtype=float)
        low, high = paired_bootstrap_interval(diffs, alpha=alpha, rng=rng, resamples=resamples)
        p, p_method = sign_flip_p_value(diffs, rng=rng, resamples=resamples)
        sel_diff = sel_g = sel_r = None
        if selected is not None:
            both = selected.loc[pair.index, [group, reference]].dropna()
            if not both.empty:
                sel_g, sel_r = float(both[group].mean()), float(both[reference].mean())
                sel_diff = float((both[group] - both[reference]).mean())
        out.append(
            PairedEffect(
                probe=probe,
                attribute=attribute,
                group=group,
                reference=reference,
                applications=len(diffs),
                mean_difference=float(diffs.mean()),
                ci_low=low,
                ci_high=high,
                p_value=p,
                method=(
                    f"paired bootstrap ({resamples:,} resamples over applications, "
                    f"percentile {100 * (1 - alpha):g}% interval); {p_method}"
                ),
                selection_rate_difference=sel_diff,
                group_mean=float(pair[group].mean()),
                reference_mean=float(pair[reference].mean()),
                group_selection_rate=sel_g,
                reference_selection_rate=sel_r,
            )
        )
    return out


def paired_bootstrap_interval(
    diffs: np.ndarray, *, alpha: float, rng: np.random.Generator, resamples: int
) -> tuple[float, float]:
    """Percentile interval of the mean of ``diffs`` resampled over applications."""
    n = len(diffs)
    if n == 0:
        return float("nan"), float("nan")
    if np.ptp(diffs) == 0:  # every application moved by the same amount: no spread to sample
        return float(diffs[0]), float(diffs[0])
    means = np.empty(resamples)
    per_chunk = max(1, _CHUNK // n)
    for start in range(0, resamples, per_chunk):
        stop = min(resamples, start + per_chunk)
        means[start:stop] = diffs[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def sign_flip_p_value(
    diffs: np.ndarray, *, rng: np.random.Generator, resamples: int
) -> tuple[float, str]:
    """Two-sided paired permutation p-value for "mean difference = 0" and how it was got."""
    n = len(diffs)
    observed = abs(float(diffs.mean())) if n else 0.0
    if n == 0 or observed == 0.0:
        return 1.0, "sign-flip p (exact)"
    tolerance = 1e-12 * max(1.0, observed)
    if n <= EXACT_SIGN_FLIP_MAX_N:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        flipped = np.abs(signs @ diffs / n)
        return float(np.mean(flipped >= observed - tolerance)), "sign-flip p (exact, 2^n)"
    hits = 0
    per_chunk = max(1, _CHUNK // n)
    for start in range(0, resamples, per_chunk):
        size = min(resamples, start + per_chunk) - start
        signs = rng.choice((1.0, -1.0), size=(size, n))
        hits += int(np.sum(np.abs(signs @ diffs / n) >= observed - tolerance))
    return (hits + 1) / (resamples + 1), f"sign-flip p (Monte Carlo, {resamples:,} flips)"


def repeat_consistency(scored: pd.DataFrame) -> ConsistencySummary:
    """Spread of scores (and flips of decisions) across repeats of the same variant."""
    _check(scored, ())
    keys = ["application_id", "probe", "variant"]
    grouped = scored.groupby(keys, sort=False)
    counts = grouped["score"].count()
    repeated = counts[counts >= 2].index
    if len(repeated) == 0:
        return ConsistencySummary(0, int(counts.max()) if len(counts) else 0, 0.0, 0.0, None)
    sd = grouped["score"].std(ddof=1).loc[repeated]
    flips: float | None = None
    if "selected" in scored.columns and scored["selected"].notna().any():
        decided = grouped["selected"].agg(lambda s: s.dropna().astype(bool).nunique())
        flips = float((decided.loc[repeated] > 1).mean())
    return ConsistencySummary(
        units=len(repeated),
        repeats=int(counts.max()),
        mean_sd=float(sd.mean()),
        max_sd=float(sd.max()),
        decision_flip_share=flips,
    )


def top_k_exposure(
    scored: pd.DataFrame, groups: Sequence[str], k: int, *, higher_is_better: bool = True
) -> list[TopKExposure]:
    """For rankers: per probe and attribute, pool every variant that sets the attribute
    (its mean over repeats), rank by score (ties broken by application and variant id, so the
    result is deterministic) and compare each group's share of the top ``k`` with its share
    of the pool. ``higher_is_better=False`` for a screener that returns ranks (1 = best)."""
    _check(scored, groups)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    out: list[TopKExposure] = []
    for probe in sorted(scored["probe"].astype(str).unique()):
        rows = scored[scored["probe"].astype(str) == probe]
        for attribute in groups:
            values = _group_values(rows, attribute)
            frame = pd.DataFrame(
                {
                    "application_id": rows["application_id"].astype(str),
                    "variant": rows["variant"].astype(str),
                    "group": values,
                    "score": rows["score"].astype(float),
                }
            ).dropna(subset=["group"])
            if frame.empty:
                continue
            pool = (
                frame.groupby(["application_id", "variant", "group"])["score"]
                .mean()
                .reset_index()
                .sort_values(
                    ["score", "application_id", "variant"],
                    ascending=[not higher_is_better, True, True],
                )
            )
            top = pool.head(k)
            size = len(pool)
            for group in sorted(pool["group"].astype(str).unique()):
                pool_share = float((pool["group"] == group).mean())
                top_share = float((top["group"] == group).mean())
                out.append(
                    TopKExposure(
                        probe=probe,
                        attribute=attribute,
                        group=group,
                        k=min(k, size),
                        pool_size=size,
                        pool_share=pool_share,
                        top_k_share=top_share,
                        exposure_ratio=top_share / pool_share,
                    )
                )
    return out
