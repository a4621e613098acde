"""Which letters need a person to look before they are sent: unstable principal reasons.

A decision's principal reasons should not hang on noise. Each adverse decision is
re-explained on ``draws`` slightly perturbed copies of its inputs (the explanation-quality
stage's noise model: Gaussian noise of ``noise`` × the feature's spread on features with
more than ten distinct values, whole numbers kept whole), with the same attribution method
and baseline as the letter; when the set of principal reasons changes in more than
``threshold`` of the copies, the letter is held for human review (status ``needs_review``)
instead of being issued. The settings are the spec's ``letters.review`` (defaults below:
conventions of this tool) and are recorded on each letter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from auditor.explain.quality.stability import FeatureNoise, near_tie
from auditor.letters.settings import ReviewSpec

DEFAULTS = ReviewSpec()
DRAWS = DEFAULTS.draws
NOISE = DEFAULTS.noise
THRESHOLD = DEFAULTS.threshold


@dataclass(frozen=True)
class ReasonReview:
    """Per decision: the share of perturbed copies whose principal reasons changed."""

    changed_share: np.ndarray
    near_tie: np.ndarray
    settings: ReviewSpec = DEFAULTS

    @property
    def threshold(self) -> float:
        """Held when the changed share is above this."""
        return self.settings.threshold

    @property
    def needs_review(self) -> np.ndarray:
        """True where the reasons are unstable."""
        flagged: np.ndarray = self.changed_share > self.threshold
        return flagged

    def record(self, i: int) -> dict[str, object]:
        """What the letter records about row ``i``'s review."""
        return {
            "needed": bool(self.needs_review[i]),
            "changed_share": round(float(self.changed_share[i]), 4),
            "near_tie": bool(self.near_tie[i]),
            "draws": self.settings.draws,
            "noise": self.settings.noise,
            "threshold": self.settings.threshold,
        }


def review_reasons(
    explain: Callable[[np.ndarray], np.ndarray],
    principal: Callable[[np.ndarray], list[list[int]]],
    x: np.ndarray,
    values: np.ndarray,
    reference: np.ndarray | FeatureNoise,
    *,
    k: int,
    seed: int = 0,
    settings: ReviewSpec = DEFAULTS,
    draws: Sequence[np.ndarray] | None = None,
) -> ReasonReview:
    """Stability of the principal reasons of the rows ``x`` (values: grouped reasons).

    ``explain`` maps encoded rows to grouped reason contributions (the letter's own
    attribution method and baseline); ``principal`` maps those to each row's principal
    reason indices, as the letter lists them. ``reference``: the rows the noise scales
    come from, or the scales. ``draws``: the standard normal draws of each perturbed
    copy of ``x`` (default: drawn here from ``seed``); the Spark path passes each
    partition's rows their draws in the whole batch (:func:`batch_draws`).
    """
    if len(x) == 0:
        empty = np.zeros(0)
        return ReasonReview(empty, empty.astype(bool), settings)
    noise = (
        reference
        if isinstance(reference, FeatureNoise)
        else FeatureNoise.from_reference(reference, settings.noise)
    )
    rng = np.random.default_rng(seed)
    base = [set(r) for r in principal(values)]
    # all draws explained in one call (attributions are per row): same draws, less overhead
    if draws is None:
        copies = np.concatenate([noise.perturb(x, rng) for _ in range(settings.draws)])
    else:
        copies = np.concatenate([noise.shift(x, z) for z in draws])
    again = principal(explain(copies))
    changed = np.zeros(len(x))
    for d in range(settings.draws):
        part = again[d * len(x) : (d + 1) * len(x)]
        changed += [set(a) != b for a, b in zip(part, base, strict=True)]
    return ReasonReview(changed / settings.draws, near_tie(values, k, "adverse"), settings)


_BLOCK = 65536  # rows of draws generated at a time


def batch_draws(seed: int, copies: int, total: int, p: int, at: np.ndarray) -> list[np.ndarray]:
    """The draws :func:`review_reasons` makes for a batch of ``total`` rows of ``p``
    features, kept for the rows ``at`` only: one array per perturbed copy.

    NumPy's Generator fills an array draw by draw, so blocks of rows in sequence consume
    the same draws as one call for the whole batch (the cost is the whole batch's draws,
    not its memory).
    """
    rng = np.random.default_rng(seed)
    at = np.asarray(at, dtype=np.int64)
    order = np.argsort(at, kind="stable")
    wanted = at[order]
    out = []
    for _ in range(copies):
        z = np.empty((len(at), p))
        for start in range(0, total, _BLOCK):
            block = rng.standard_normal((min(_BLOCK, total - start), p))
            lo, hi = np.searchsorted(wanted, [start, start + len(block)])
            z[order[lo:hi]] = block[wanted[lo:hi] - start]
        out.append(z)
    return out
