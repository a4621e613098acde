"""Within-application statistics of a scored variants table (stand-in for h23b's module,
implementing the contract in the issue-23 brief: same names, same fields).

A contrast compares one group's variants with the reference group's variants of the same
applications: per application, the mean score of each side (over its variants and
repeats); the effect is the mean over applications of the difference, with a percentile
interval from a bootstrap over applications (the unit that is sampled).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

# the reference of an attribute is the first of these its groups contain, else the first
# group in the table's order
REFERENCE_PREFERENCE = ("Male", "White")


@dataclass(frozen=True)
class PairedEffect:
    """One contrast of one probe: group vs reference group."""

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


@dataclass(frozen=True)
class ConsistencySummary:
    """How much repeated draws of the same variant disagree."""

    repeats: int
    variants: int
    mean_sd: float
    max_sd: float
    decision_flip_share: float


def _reference(groups: list[str]) -> str:
    for pref in REFERENCE_PREFERENCE:
        if pref in groups:
            return pref
    younger = [g for g in groups if g.startswith("younger")]
    return younger[0] if younger else groups[0]


def paired_effects(
    scored: pd.DataFrame,
    groups: Sequence[str],
    *,
    alpha: float = 0.05,
    seed: int = 0,
    resamples: int = 10_000,
) -> list[PairedEffect]:
    """Every group against its attribute's reference, per probe."""
    out: list[PairedEffect] = []
    for probe, part in scored.groupby("probe", sort=False):
        for attr in groups:
            if attr not in part or part[attr].isna().all():
                continue
            sub = part.dropna(subset=[attr])
            labels = list(dict.fromkeys(sub[attr].astype(str)))
            ref = _reference(labels)
            means = sub.pivot_table(
                index="application_id", columns=attr, values="score", aggfunc="mean"
            )
            rates = sub.pivot_table(
                index="application_id", columns=attr, values="selected", aggfunc="mean"
            )
            for g in labels:
                if g == ref:
                    continue
                both = means[[g, ref]].dropna()
                d = (both[g] - both[ref]).to_numpy(float)
                n = len(d)
                if n == 0:
                    continue
                rng = np.random.default_rng(seed)
                idx = rng.integers(0, n, size=(resamples, n))
                boot = d[idx].mean(axis=1)
                lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
                below, above = float((boot <= 0).mean()), float((boot >= 0).mean())
                p = min(1.0, 2 * min(below, above)) if d.any() else 1.0
                r = rates.loc[both.index, [g, ref]].astype(float)
                out.append(
                    PairedEffect(
                        probe=str(probe),
                        attribute=attr,
                        group=g,
                        reference=ref,
                        applications=n,
                        mean_difference=float(d.mean()),
                        ci_low=float(lo),
                        ci_high=float(hi),
                        p_value=p,
                        method=f"paired bootstrap ({resamples:,} resamples over applications)",
                        selection_rate_difference=float((r[g] - r[ref]).mean()),
                    )
                )
    return out


def repeat_consistency(scored: pd.DataFrame) -> ConsistencySummary:
    """Spread of the scores of the same variant across repeats."""
    keys = ["application_id", "probe", "variant"]
    g = scored.groupby(keys)
    sd = g["score"].std(ddof=0).fillna(0.0)
    flips = g["selected"].nunique() > 1
    return ConsistencySummary(
        repeats=int(scored["repeat"].nunique()),
        variants=len(sd),
        mean_sd=float(sd.mean()),
        max_sd=float(sd.max()),
        decision_flip_share=float(flips.mean()),
    )
