"""Which letters need a person to look before they are sent: an unstable principal reason.

A decision's principal reason (the first reason a letter states) should not hang on
measurement noise. Each adverse decision is re-explained on ``draws`` perturbed copies of
its inputs, with the same attribution method and baseline as the letter. The noise is
meant to be plausible measurement noise (:func:`calibrated`): the spec's
``letters.review.measurement`` gives it per feature in the feature's own units (a standard
deviation; 0 = recorded exactly, such as a loan term or a date of birth); a continuous
feature not listed (more than ten distinct values: an amount, a ratio, hours) is
misreported by ``noise`` × its own value (zero stays zero, whole numbers stay whole);
categories and other discrete items are taken as recorded (``scale: spread`` gives the
earlier model: ``noise`` × the feature's spread). When the principal reason changes in
more than ``threshold`` of the copies, the letter is held for human review (status
``needs_review``). A change further down the list (the 3rd and 4th reasons trading
places) is recorded (``reasons_changed_share``) but does not hold the letter.

The draws of one decision are seeded from the spec's seed and the decision's id alone, so
its review outcome is the same whichever batch it is issued in (alone, with others, on
either engine). The settings are recorded on each letter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from auditor.explain.quality.stability import FeatureNoise, near_tie
from auditor.letters.settings import ReviewSpec

DEFAULTS = ReviewSpec()
DRAWS = DEFAULTS.draws
NOISE = DEFAULTS.noise
THRESHOLD = DEFAULTS.threshold
TIE_MARGIN = 0.1  # principal and second reason within 10% of the principal: a near tie


@dataclass(frozen=True)
class ReasonReview:
    """Per decision: the share of perturbed copies whose principal reason changed."""

    changed_share: np.ndarray
    near_tie: np.ndarray
    settings: ReviewSpec = DEFAULTS
    reasons_changed_share: np.ndarray | None = None
    margin: np.ndarray | None = None

    @property
    def threshold(self) -> float:
        """Held when the changed share is above this."""
        return self.settings.threshold

    @property
    def needs_review(self) -> np.ndarray:
        """True where the principal reason is unstable."""
        flagged: np.ndarray = self.changed_share > self.threshold
        return flagged

    def record(self, i: int) -> dict[str, object]:
        """What the letter records about row ``i``'s review."""
        out: dict[str, object] = {
            "needed": bool(self.needs_review[i]),
            "criterion": "principal reason",
            "changed_share": round(float(self.changed_share[i]), 4),
            "near_tie": bool(self.near_tie[i]),
            "draws": self.settings.draws,
            "noise": self.settings.noise,
            "scale": self.settings.scale,
            "threshold": self.settings.threshold,
        }
        if self.reasons_changed_share is not None:
            out["reasons_changed_share"] = round(float(self.reasons_changed_share[i]), 4)
        if self.margin is not None:
            out["principal_margin"] = round(float(self.margin[i]), 4)
        if self.settings.measurement:
            out["measurement"] = dict(self.settings.measurement)
        return out


@dataclass(frozen=True)
class MeasurementNoise:
    """Per encoded feature: an absolute standard deviation (feature units), a relative one
    (share of the value itself) and whether the feature holds whole numbers."""

    absolute: np.ndarray
    relative: np.ndarray
    whole: np.ndarray

    def shift(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``x`` perturbed by the standard normal draws ``z`` (same shape)."""
        sd = self.absolute[None, :] + self.relative[None, :] * np.abs(x)
        y = x + z * sd
        rounded = self.whole[None, :] & ((self.absolute + self.relative)[None, :] > 0)
        return np.asarray(np.where(rounded, np.round(y), y), dtype=np.float64)


def calibrated(noise: FeatureNoise, names: Sequence[str], settings: ReviewSpec) -> MeasurementNoise:
    """The review's measurement noise per feature, from the spread-based ``noise`` (which
    features are continuous, which whole) and the spec's settings.

    ``scale: value`` (default): a continuous feature (an amount, a ratio, hours) is
    misreported by ``noise`` x its own value (zero stays zero, whole numbers stay whole);
    discrete features and categories are taken as recorded. ``scale:
    spread``: ``noise`` x the feature's spread, whole numbers kept whole (the
    explanation-quality stage's model). ``measurement`` overrides either per feature, in
    the feature's units. A listed feature that is not one of the model's encoded columns
    cannot be perturbed in its own units: a ValueError names it.
    """
    continuous = noise.scale > 0
    if settings.scale == "spread":
        absolute = np.asarray(noise.scale, dtype=np.float64).copy()
        relative = np.zeros_like(absolute)
    else:
        absolute = np.zeros(len(noise.scale))
        relative = np.where(continuous, settings.noise, 0.0)
    index = {n: i for i, n in enumerate(names)}
    unknown = [f for f in settings.measurement if f not in index]
    if unknown:
        raise ValueError(
            f"letters.review.measurement: {', '.join(unknown)} is not a numeric model input "
            "(list numeric features only; categorical ones are never perturbed)"
        )
    for feature, sd in settings.measurement.items():
        absolute[index[feature]] = sd
        relative[index[feature]] = 0.0
    return MeasurementNoise(absolute, relative, np.asarray(noise.whole).copy())


def decision_seed(seed: int, decision_id: str) -> list[int]:
    """The seed of one decision's draws: the spec's seed and a digest of its id."""
    digest = hashlib.sha256(str(decision_id).encode("utf-8")).digest()
    return [int(seed), int.from_bytes(digest[:8], "little")]


def decision_draws(seed: int, ids: Sequence[str], copies: int, p: int) -> list[np.ndarray]:
    """Standard normal draws per perturbed copy (one ``len(ids)`` × ``p`` array each),
    each row drawn from its own decision's seed only."""
    z = np.empty((copies, len(ids), p))
    for r, decision_id in enumerate(ids):
        z[:, r, :] = np.random.default_rng(decision_seed(seed, decision_id)).standard_normal(
            (copies, p)
        )
    return list(z)


def principal_margin(values: np.ndarray) -> np.ndarray:
    """Per row: how far the principal adverse reason leads the second, relative to it
    (1: no second adverse reason; 0: a tie)."""
    adverse = np.sort(np.maximum(-values, 0.0), axis=1)[:, ::-1]
    if adverse.shape[1] < 2:
        return np.ones(len(values))
    top = np.maximum(adverse[:, 0], 1e-12)
    margin: np.ndarray = (adverse[:, 0] - adverse[:, 1]) / top
    return margin


def review_reasons(
    explain: Callable[[np.ndarray], np.ndarray],
    principal: Callable[[np.ndarray], list[list[int]]],
    x: np.ndarray,
    values: np.ndarray,
    reference: np.ndarray | FeatureNoise | MeasurementNoise,
    *,
    k: int,
    seed: int = 0,
    settings: ReviewSpec = DEFAULTS,
    ids: Sequence[str] | None = None,
) -> ReasonReview:
    """Stability of the principal reason of the rows ``x`` (values: grouped reasons).

    ``explain`` maps encoded rows to grouped reason contributions (the letter's own
    attribution method and baseline); ``principal`` maps those to each row's principal
    reason indices, as the letter lists them (worst first). ``reference``: the rows the
    noise scales come from, or the scales. ``ids``: the decisions' ids, which seed their
    draws (default: the row numbers). ``k`` (the letter's number of reasons) is kept for
    the recorded share of copies whose listed reasons changed as a set.
    """
    del k
    if len(x) == 0:
        empty = np.zeros(0)
        return ReasonReview(empty, empty.astype(bool), settings, empty, empty)
    noise = (
        reference
        if isinstance(reference, FeatureNoise | MeasurementNoise)
        else FeatureNoise.from_reference(reference, settings.noise)
    )
    names = [str(i) for i in range(len(x))] if ids is None else [str(i) for i in ids]
    draws = decision_draws(seed, names, settings.draws, x.shape[1])
    base = principal(values)
    # all draws explained in one call (attributions are per row): same draws, less overhead
    copies = np.concatenate([noise.shift(x, z) for z in draws])
    again = principal(explain(copies))
    first = np.zeros(len(x))
    whole = np.zeros(len(x))
    for d in range(settings.draws):
        part = again[d * len(x) : (d + 1) * len(x)]
        first += [a[:1] != b[:1] for a, b in zip(part, base, strict=True)]
        whole += [set(a) != set(b) for a, b in zip(part, base, strict=True)]
    margin = principal_margin(values)
    return ReasonReview(
        first / settings.draws,
        near_tie(values, 1, "adverse", margin=TIE_MARGIN),
        settings,
        whole / settings.draws,
        margin,
    )


def hold_summary(records: Sequence[Mapping[str, object]]) -> dict[str, object]:
    """The batch's review outcome: counts by status, adverse letters reviewed, how many
    held, the hold rate, how many of the held are near ties, and the reasons (see
    :func:`auditor.store.letter_batches.batch_summary`, which the store records too)."""
    from auditor.store.letter_batches import batch_summary

    return batch_summary(records)
