"""How faithfully attributions describe the model: completeness, deletion/insertion, infidelity.

All measures work on the encoded matrix and the model output the attributions explain
(log-odds or logit), against one baseline row (the background mean):

- completeness error: |Σ attributions + base value − output| per row;
- deletion / insertion curves (Samek et al. 2017; Petsiuk et al. 2018): replace features by
  the baseline (deletion) or put them back into the baseline (insertion) in attribution
  order, tracking the output change still present, summed over rows as a share of the
  summed |output − baseline output| (1 = all of it, 0 = none); the area under the
  deletion curve is small and under the insertion curve large when the order is right.
  For an additive model, exact attributions give the smallest deletion area of any order;
- infidelity (Yeh et al. 2019), with removal perturbations: random subsets S of features go
  to the baseline, and the attributions' prediction Σ_S φ is compared with the output change;
  reported scale-free (the optimal rescaling β of the attributions, as Yeh et al.'s
  normalised variant) as the share of the output changes' variance the attributions miss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auditor.models.base import ModelAdapter

MIN_CHANGE = 1e-3  # rows whose output is this close to the baseline's have no curve to track


@dataclass(frozen=True)
class Curves:
    """Mean deletion and insertion curves over rows, at 0, 1, …, p features moved."""

    fraction: tuple[float, ...]
    deletion: tuple[float, ...]
    insertion: tuple[float, ...]
    deletion_auc: float
    insertion_auc: float
    rows_used: int


def completeness_errors(
    values: np.ndarray, base_values: np.ndarray, outputs: np.ndarray
) -> np.ndarray:
    """|Σ attributions + base − output| per row."""
    return np.asarray(np.abs(values.sum(axis=1) + base_values - outputs), dtype=np.float64)


def attribution_order(values: np.ndarray, delta: np.ndarray, *, signed: bool) -> np.ndarray:
    """Feature order per row: strongest push towards this row's output change first.

    Signed methods are ordered by φ·sign(output − baseline output); magnitude-only methods
    (saliency) by their value.
    """
    key = values * np.sign(delta)[:, None] if signed else values
    return np.argsort(-key, axis=1, kind="stable")


def _auc(curve: np.ndarray) -> float:
    """Trapezoid area over the fraction of features moved, 0..1."""
    y = np.asarray(curve, dtype=np.float64)
    return float(((y[1:] + y[:-1]) / 2.0).sum() / (len(y) - 1))


def deletion_insertion(
    model: ModelAdapter,
    x: np.ndarray,
    order: np.ndarray,
    baseline: np.ndarray,
) -> Curves:
    """Mean normalised deletion and insertion curves for the given per-row feature order."""
    p = x.shape[1]
    out = model.output(x)
    base_out = float(model.output(baseline[None, :])[0])
    delta = out - base_out
    keep = np.abs(delta) > MIN_CHANGE
    x, order, delta = x[keep], order[keep], delta[keep]
    m = len(x)
    if m == 0:
        flat = tuple([0.0] * (p + 1))
        return Curves(tuple(np.linspace(0, 1, p + 1)), flat, flat, float("nan"), float("nan"), 0)
    # moved[k, i, j]: feature j of row i has been moved after k steps
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(p)[None, :], axis=1)
    moved = ranks[None, :, :] < np.arange(p + 1)[:, None, None]
    deleted = np.where(moved, baseline[None, None, :], x[None, :, :])
    inserted = np.where(moved, x[None, :, :], baseline[None, None, :])
    f_del = model.output(deleted.reshape(-1, p)).reshape(p + 1, m)
    f_ins = model.output(inserted.reshape(-1, p)).reshape(p + 1, m)
    # ratio of sums, not mean of ratios: rows with a small change must not dominate
    sign, total = np.sign(delta)[None, :], np.abs(delta).sum()
    d = ((f_del - base_out) * sign).sum(axis=1) / total
    i = ((f_ins - base_out) * sign).sum(axis=1) / total
    return Curves(
        fraction=tuple(float(v) for v in np.linspace(0.0, 1.0, p + 1)),
        deletion=tuple(float(v) for v in d),
        insertion=tuple(float(v) for v in i),
        deletion_auc=_auc(d),
        insertion_auc=_auc(i),
        rows_used=m,
    )


def infidelity(
    model: ModelAdapter,
    x: np.ndarray,
    values: np.ndarray,
    baseline: np.ndarray,
    *,
    draws: int = 32,
    seed: int = 0,
) -> float:
    """Share (0 = none, 1 = all) of removal-induced output changes the attributions miss.

    Per row: draws random subsets S (each feature in S with probability ½), compares
    Σ_{j∈S} φ_j, rescaled by the row's least-squares β, with f(x) − f(x with S at baseline);
    the squared misses are summed over rows and divided by the summed squared changes.
    """
    n, p = x.shape
    rng = np.random.default_rng(seed)
    masks = rng.random((draws, n, p)) < 0.5
    removed = np.where(masks, baseline[None, None, :], x[None, :, :])
    change = model.output(x)[None, :] - model.output(removed.reshape(-1, p)).reshape(draws, n)
    predicted = (masks * values[None, :, :]).sum(axis=2)
    num = (predicted * change).sum(axis=0)
    den = (predicted**2).sum(axis=0)
    beta = np.divide(num, den, out=np.zeros(n), where=den > 0)
    miss = ((beta[None, :] * predicted - change) ** 2).sum()
    total = float((change**2).sum())
    return float(miss / total) if total > 0 else 0.0
