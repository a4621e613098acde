"""Which letters need a person to look before they are sent: an unstable principal reason.

A decision's principal reason (the first reason a letter states) should not hang on
measurement noise. Each adverse decision is re-explained on ``draws`` perturbed copies of
its inputs, with the same attribution method and baseline as the letter. The noise is
meant to be plausible measurement noise, per feature (:func:`calibrated`): amounts are
misreported by ``noise`` × their own value, whole numbers (ages, terms, counts, hours)
and categories are taken as recorded, values rounded to a precision lie anywhere within
it; the spec's ``letters.review.measurement`` gives a feature's noise in its own units
(a standard deviation; 0 = recorded exactly), and ``scale: spread`` gives the earlier
model (``noise`` × the feature's spread). When the principal reason changes in more than
``threshold`` of the copies, the letter is held for human review (status
``needs_review``). A change further down the list (the 3rd and 4th reasons trading
places) is recorded (``reasons_changed_share``) but does not hold the letter.

Each review also says whether the decision is a *near tie*: the principal reason's lead
over the next statable reason (in attribution units, ``principal_lead``) is at most
:data:`TIE_SPREADS` times the median change of that lead across the perturbed copies
(``lead_spread``). A held near tie is two reasons the noise can swap; a held decision that
is not one had its lead stable in most copies and lost it in a few by a jump (a tree's
split point crossed), which is why it is recorded.

The draws of one decision are seeded from the spec's seed and the decision's id alone, so
its review outcome is the same whichever batch it is issued in (alone, with others, on
either engine). The settings are recorded on each letter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from auditor.explain.quality.stability import MAX_DECIMALS, FeatureNoise
from auditor.letter_settings import ReviewSpec
from auditor.letters.record import LetterRecord, ReviewRecord

DEFAULTS = ReviewSpec()
DRAWS = DEFAULTS.draws
NOISE = DEFAULTS.noise
THRESHOLD = DEFAULTS.threshold
TIE_SPREADS = 2.0
"""A near tie: the principal's lead is within this many median changes of the lead under
the perturbation (the median, not the standard deviation, so that a jump in a few copies
does not make a clear lead look like a tie)."""


@dataclass(frozen=True)
class ReasonReview:
    """Per decision: the share of perturbed copies whose principal reason changed."""

    changed_share: np.ndarray
    near_tie: np.ndarray
    settings: ReviewSpec = DEFAULTS
    reasons_changed_share: np.ndarray | None = None
    margin: np.ndarray | None = None
    lead: np.ndarray | None = None
    lead_spread: np.ndarray | None = None
    used_draws: np.ndarray | None = None
    """Copies each decision was reviewed on (``draws``, more when re-checked)."""

    @property
    def threshold(self) -> float:
        """Held when the changed share is above this."""
        return self.settings.threshold

    @property
    def needs_review(self) -> np.ndarray:
        """True where the principal reason is unstable."""
        flagged: np.ndarray = self.changed_share > self.threshold
        return flagged

    def record(self, i: int) -> ReviewRecord:
        """What the letter records about row ``i``'s review."""
        out: ReviewRecord = {
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
        if self.lead is not None and self.lead_spread is not None:
            out["principal_lead"] = _rounded(self.lead[i])
            out["lead_spread"] = _rounded(self.lead_spread[i])
            out["tie_spreads"] = TIE_SPREADS
        if self.used_draws is not None and self.used_draws[i] != self.settings.draws:
            out["rechecked_draws"] = int(self.used_draws[i])
        if self.settings.measurement:
            out["measurement"] = dict(self.settings.measurement)
        return out


def _rounded(value: float) -> float | None:
    return round(float(value), 6) if np.isfinite(value) else None


AMOUNT_MIN = 1000.0
"""A continuous feature reaching this magnitude is taken to be an amount (money, a
balance): misreported by a share of its own value. Smaller whole numbers are counts,
ages, years, levels or hours, recorded exactly."""


@dataclass(frozen=True)
class MeasurementNoise:
    """Per encoded feature: an absolute standard deviation (feature units), a relative one
    (share of the value itself), a half-width within which a rounded value is spread
    uniformly (its recorded precision), and whether the feature holds whole numbers."""

    absolute: np.ndarray
    relative: np.ndarray
    whole: np.ndarray
    within: np.ndarray | None = None

    @property
    def perturbed(self) -> np.ndarray:
        """Which features are perturbed at all."""
        spread = self.absolute + self.relative
        if self.within is not None:
            spread = spread + self.within
        moved: np.ndarray = spread > 0
        return moved

    def shift(self, x: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``x`` perturbed by the standard normal draws ``z`` (same shape)."""
        sd = self.absolute[None, :] + self.relative[None, :] * np.abs(x)
        y = x + z * sd
        if self.within is not None and np.any(self.within > 0):
            # the same draw, turned uniform on (-1, 1): anywhere in the rounding interval
            from scipy.special import ndtr

            y = y + (2.0 * ndtr(z) - 1.0) * self.within[None, :]
        rounded = self.whole[None, :] & ((self.absolute + self.relative)[None, :] > 0)
        return np.asarray(np.where(rounded, np.round(y), y), dtype=np.float64)


def calibrated(
    noise: FeatureNoise,
    names: Sequence[str],
    settings: ReviewSpec,
    *,
    categorical: Sequence[str] = (),
) -> MeasurementNoise:
    """The review's measurement noise per feature, from the reference's description
    ``noise`` (which features are continuous, whole, how large, to how many decimals
    recorded) and the spec's settings.

    ``scale: value`` (default), per continuous feature (more than ten distinct values)
    that is not a category (``categorical``: the model's categorical inputs):

    - an amount (reaching :data:`AMOUNT_MIN`, e.g. a loan amount or a capital gain) is
      misreported by ``noise`` x its own value (zero stays zero, whole stays whole);
    - other whole numbers (ages, terms, years, counts, hours) are recorded exactly;
    - a value rounded to d decimals (a ratio to 0.001) lies anywhere within half a unit
      of its last decimal: it is spread uniformly there (its recorded precision);
    - a full-precision value (no rounding found) is misreported by ``noise`` x its value.

    Discrete features and categories are taken as recorded. ``scale: spread``: ``noise``
    x the feature's spread, whole numbers kept whole (the explanation-quality stage's
    model). ``measurement`` overrides either per feature, in the feature's units (a
    standard deviation; 0 = exact). A listed feature that is not one of the model's
    encoded columns cannot be perturbed in its own units: a ValueError names it.
    """
    continuous = noise.scale > 0
    p = len(noise.scale)
    within = np.zeros(p)
    if settings.scale == "spread":
        absolute = np.asarray(noise.scale, dtype=np.float64).copy()
        relative = np.zeros_like(absolute)
    else:
        absolute = np.zeros(p)
        magnitude = noise.magnitude if noise.magnitude is not None else np.full(p, np.inf)
        decimals = (
            noise.decimals
            if noise.decimals is not None
            else np.where(noise.whole, 0, MAX_DECIMALS + 1)
        )
        amount = continuous & (magnitude >= AMOUNT_MIN)
        rounded = continuous & ~amount & (decimals >= 1) & (decimals <= MAX_DECIMALS)
        measured = continuous & ~amount & (decimals > MAX_DECIMALS)
        relative = np.where(amount | measured, settings.noise, 0.0)
        within = np.where(rounded, 0.5 * 10.0 ** -decimals.astype(np.float64), 0.0)
        for feature in categorical:
            if feature in names:
                j = list(names).index(feature)
                relative[j] = within[j] = 0.0
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
        within[index[feature]] = 0.0
    return MeasurementNoise(absolute, relative, np.asarray(noise.whole).copy(), within)


def decision_seed(seed: int, decision_id: str) -> list[int]:
    """The seed of one decision's draws: the spec's seed and a digest of its id."""
    digest = hashlib.sha256(str(decision_id).encode("utf-8")).digest()
    return [int(seed), int.from_bytes(digest[:8], "little")]


def decision_draws(
    seed: int, ids: Sequence[str], copies: int, p: int, *, skip: int = 0
) -> list[np.ndarray]:
    """Standard normal draws per perturbed copy (one ``len(ids)`` × ``p`` array each),
    each row drawn from its own decision's seed only. ``skip``: start after that many
    copies of each decision's stream (a second round continues the first's draws)."""
    z = np.empty((copies, len(ids), p))
    for r, decision_id in enumerate(ids):
        stream = np.random.default_rng(decision_seed(seed, decision_id))
        z[:, r, :] = stream.standard_normal((skip + copies, p))[skip:]
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


def principal_lead(
    values: np.ndarray, principal: Sequence[int], statable: np.ndarray
) -> np.ndarray:
    """Per row: the adverse weight of reason ``principal[row]`` minus the largest adverse
    weight of any other statable reason, in attribution units (NaN: no principal)."""
    weight = np.where(statable[None, :], np.maximum(-values, 0.0), 0.0)
    index = np.asarray(principal, dtype=np.int64)
    rows = np.arange(len(values))
    at = np.maximum(index, 0)
    own = weight[rows, at]
    others = weight.copy()
    others[rows, at] = 0.0  # adverse weights are >= 0: 0 stands for "no other reason"
    best = others.max(axis=1) if weight.shape[1] else np.zeros(len(values))
    lead: np.ndarray = np.where(index >= 0, own - best, np.nan)
    return lead


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
    statable: np.ndarray | None = None,
) -> ReasonReview:
    """Stability of the principal reason of the rows ``x`` (values: grouped reasons).

    ``explain`` maps encoded rows to grouped reason contributions (the letter's own
    attribution method and baseline); ``principal`` maps those to each row's principal
    reason indices, as the letter lists them (worst first). ``reference``: the rows the
    noise scales come from, or the scales. ``ids``: the decisions' ids, which seed their
    draws (default: the row numbers). ``statable``: which reasons a letter may state (the
    near tie compares the principal with these; default: all). ``k`` (the letter's number
    of reasons) is kept for the recorded share of copies whose listed reasons changed as
    a set.
    """
    del k
    if len(x) == 0:
        empty = np.zeros(0)
        return ReasonReview(
            empty, empty.astype(bool), settings, empty, empty, empty, empty, empty.astype(int)
        )
    noise = (
        reference
        if isinstance(reference, FeatureNoise | MeasurementNoise)
        else FeatureNoise.from_reference(reference, settings.noise)
    )
    names = [str(i) for i in range(len(x))] if ids is None else [str(i) for i in ids]
    n = settings.draws
    draws = decision_draws(seed, names, n, x.shape[1])
    base = principal(values)
    mask = np.ones(values.shape[1], dtype=bool) if statable is None else np.asarray(statable)
    top = [b[0] if b else -1 for b in base]
    lead = principal_lead(values, top, mask)
    rows = np.arange(len(x))
    first, whole, moved = _round(explain, principal, noise, x, base, draws, top, mask, lead)
    used = np.full(len(x), n)
    # a share within one copy of the threshold is decided by the luck of n draws: those
    # decisions (and only they, by their own first round) get RECHECK x n more copies
    again = rows[(np.abs(first - settings.threshold * n) <= 1) & (first >= 1)]
    if len(again):
        # the decision's own stream, continued after its first n copies
        extra = decision_draws(seed, [names[i] for i in again], n * RECHECK, x.shape[1], skip=n)
        more = _round(
            explain,
            principal,
            noise,
            x[again],
            [base[i] for i in again],
            extra,
            [top[i] for i in again],
            mask,
            lead[again],
        )
        first[again] += more[0]
        whole[again] += more[1]
        used[again] += len(extra)
    spread = np.median(moved, axis=0)
    if len(again):
        spread[again] = np.median(np.concatenate([moved[:, again], more[2]]), axis=0)
    with np.errstate(invalid="ignore"):
        tie = np.isfinite(lead) & (lead <= TIE_SPREADS * spread)
    return ReasonReview(
        first / used,
        tie,
        settings,
        whole / used,
        principal_margin(values),
        lead,
        spread,
        used,
    )


RECHECK = 2
"""A decision whose first-round share is within one copy of the threshold is re-checked
on this many times ``draws`` more copies."""


def _round(
    explain: Callable[[np.ndarray], np.ndarray],
    principal: Callable[[np.ndarray], list[list[int]]],
    noise: FeatureNoise | MeasurementNoise,
    x: np.ndarray,
    base: list[list[int]],
    draws: Sequence[np.ndarray],
    top: Sequence[int],
    mask: np.ndarray,
    lead: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One round of copies: per row, how many changed the principal reason, how many the
    stated set, and each copy's change of the principal's lead (copies x rows)."""
    # all draws explained in one call (attributions are per row): same draws, less overhead
    copies = np.concatenate([noise.shift(x, z) for z in draws])
    values = explain(copies)
    again = principal(values)
    first = np.zeros(len(x))
    whole = np.zeros(len(x))
    moved = np.empty((len(draws), len(x)))
    for d in range(len(draws)):
        part = slice(d * len(x), (d + 1) * len(x))
        first += [a[:1] != b[:1] for a, b in zip(again[part], base, strict=True)]
        whole += [set(a) != set(b) for a, b in zip(again[part], base, strict=True)]
        moved[d] = np.abs(principal_lead(values[part], top, mask) - lead)
    return first, whole, moved


def hold_summary(records: Sequence[LetterRecord | Mapping[str, object]]) -> dict[str, object]:
    """The batch's review outcome: counts by status, adverse letters reviewed, how many
    held, the hold rate, how many of the held are near ties, and the reasons (see
    :func:`auditor.store.letter_batches.batch_summary`, which the store records too;
    ``records``: typed, or their JSON as ``letters-summary.json``'s readers have it)."""
    from auditor.store.letter_batches import batch_summary

    return batch_summary([r.to_json() if isinstance(r, LetterRecord) else r for r in records])
