"""Robustness of reasons: do a decision's top-k reasons survive small, plausible changes?

Perturbations touch only features that vary continuously in the reference data (more than
``DISCRETE_MAX`` distinct values): each gets Gaussian noise of ``noise`` × its standard
deviation, rounded back to whole numbers when the feature only takes whole numbers.
Category codes, flags and small counts are left alone, since a nudge there is not small.

A decision's reasons are its top-k features in a direction: ``adverse`` (most negative
attributions first: the reasons for an unfavourable outcome), ``supportive`` or
``magnitude``. Reasons "change" when the *set* of top-k features changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

Direction = Literal["adverse", "supportive", "magnitude"]
ExplainFn = Callable[[np.ndarray], np.ndarray]
"""Maps rows (n × p, encoded) to their attributions (n × p)."""

DISCRETE_MAX = 10


MAX_DECIMALS = 6
"""Recorded precision is looked for up to this many decimals; more: full precision."""


def recorded_decimals(reference: np.ndarray) -> np.ndarray:
    """Per column: the fewest decimals every known value is recorded to (0: whole
    numbers; ``MAX_DECIMALS + 1``: no rounding found, a full-precision value)."""
    out = np.full(reference.shape[1], MAX_DECIMALS + 1, dtype=np.int64)
    for j, column in enumerate(reference.T):
        known = column[~np.isnan(column)]
        for d in range(MAX_DECIMALS + 1):
            scaled = known * 10.0**d
            if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled))):
                out[j] = d
                break
    return out


@dataclass(frozen=True)
class FeatureNoise:
    """Per-feature perturbation scale (0 = never perturbed) and whole-number flags.

    ``magnitude`` (the largest absolute value) and ``decimals`` (the recorded precision,
    :func:`recorded_decimals`) let the letters' review tell amounts from counts and
    rounded values (:func:`auditor.letters.review.calibrated`); None where not measured.
    """

    scale: np.ndarray
    whole: np.ndarray
    magnitude: np.ndarray | None = None
    decimals: np.ndarray | None = None

    @classmethod
    def from_reference(cls, reference: np.ndarray, noise: float) -> FeatureNoise:
        """Scales from a reference sample (the audited rows or the background)."""
        distinct = np.array([len(np.unique(c[~np.isnan(c)])) for c in reference.T])
        continuous = distinct > DISCRETE_MAX
        scale = np.where(continuous, noise * np.nanstd(reference, axis=0), 0.0)
        whole = np.all(np.isnan(reference) | (reference == np.round(reference)), axis=0)
        known = np.where(np.isnan(reference), 0.0, np.abs(reference))
        magnitude = known.max(axis=0) if len(reference) else np.zeros(reference.shape[1])
        return cls(scale, whole, magnitude, recorded_decimals(reference))

    def perturb(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One perturbed copy of ``x``."""
        return self.shift(x, rng.standard_normal(x.shape))

    def shift(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``x`` perturbed by the standard normal draws ``z`` (same shape)."""
        y = x + z * self.scale[None, :]
        rounded = self.whole[None, :] & (self.scale[None, :] > 0)
        return np.asarray(np.where(rounded, np.round(y), y), dtype=np.float64)


def top_k(values: np.ndarray, k: int, direction: Direction = "magnitude") -> np.ndarray:
    """Indices of the k principal reasons per row (n × k), strongest first."""
    key = {"adverse": -values, "supportive": values, "magnitude": np.abs(values)}[direction]
    return np.asarray(np.argsort(-key, axis=1, kind="stable")[:, :k])


def sets_differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row: whether two n × k index arrays name different feature sets."""
    differ: np.ndarray = np.any(np.sort(a, axis=1) != np.sort(b, axis=1), axis=1)
    return differ


@dataclass(frozen=True)
class PerturbationRun:
    """Attributions under repeated perturbation, and what changed per row."""

    changed_share: np.ndarray  # per row: share of perturbations that changed the reasons
    max_sensitivity: np.ndarray  # per row: max ‖Δφ‖ / ‖φ‖ (Yeh et al. 2019)


def perturbation_run(
    explain_fn: ExplainFn,
    x: np.ndarray,
    values: np.ndarray,
    noise: FeatureNoise,
    *,
    k: int,
    direction: Direction = "magnitude",
    draws: int = 8,
    seed: int = 0,
) -> PerturbationRun:
    """Re-explain ``draws`` perturbed copies of every row; count reason changes."""
    rng = np.random.default_rng(seed)
    base_top = top_k(values, k, direction)
    norm = np.linalg.norm(values, axis=1)
    changed = np.zeros(len(x))
    sens = np.zeros(len(x))
    for _ in range(draws):
        v = explain_fn(noise.perturb(x, rng))
        changed += sets_differ(base_top, top_k(v, k, direction))
        diff = np.linalg.norm(v - values, axis=1)
        sens = np.maximum(sens, np.divide(diff, norm, out=np.zeros_like(diff), where=norm > 0))
    return PerturbationRun(changed_share=changed / draws, max_sensitivity=sens)


def near_tie(
    values: np.ndarray, k: int, direction: Direction = "adverse", *, margin: float = 0.1
) -> np.ndarray:
    """Per row: the k-th and (k+1)-th reasons are within ``margin`` (relative) of each other.

    Needs only stored attributions (no model), so a letter re-rendered from the database
    can still be checked; the perturbation test in :func:`check_reasons` is the stronger one.
    """
    key = {"adverse": -values, "supportive": values, "magnitude": np.abs(values)}[direction]
    ranked = -np.sort(-key, axis=1)
    if ranked.shape[1] <= k:
        return np.zeros(len(values), dtype=bool)
    kth, nxt = ranked[:, k - 1], ranked[:, k]
    scale = np.maximum(np.abs(ranked[:, 0]), 1e-12)
    tied: np.ndarray = (kth - nxt) <= margin * scale
    return tied
