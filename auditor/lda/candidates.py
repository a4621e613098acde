"""The candidates of a search, aimed by the audit at the features that carry the gap.

Each candidate is one change to the refit model: drop a feature, constrain it to act
monotonically (learners that support it), coarsen it (fewer LightGBM bins, or the feature
cut into quantile bins before a torch or scikit-learn model sees it), a hyperparameter
variant, reweight the training rows by group (protected attribute used in training only),
or one changed threshold for everyone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

COARSE_BINS = (4, 8)
THRESHOLD_STEPS = (-0.05, 0.05, -0.1)


@dataclass(frozen=True)
class Candidate:
    """One alternative: its inputs, extra training parameters, weights and threshold."""

    id: str
    method: str  # baseline | drop | monotone | coarsen | reweight | threshold | combined
    description: str
    features: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)
    threshold: float = 0.5
    reweight_by: str | None = None  # protected attribute weighting the rows in training only
    # features cut into bins before the model sees them: (feature, inner edges, the value
    # each bin maps to), from the fit split; part of the candidate's decision pipeline
    bins: tuple[tuple[str, tuple[float, ...], tuple[float, ...]], ...] = ()

    @property
    def fit_key(self) -> tuple[Any, ...]:
        """Candidates with the same key share one trained model (threshold aside)."""
        return (
            self.features,
            json.dumps(self.params, sort_keys=True),
            self.reweight_by,
            self.bins,
        )


@dataclass(frozen=True)
class Abilities:
    """What the learner can do, and the data binning needs (see :mod:`auditor.lda.learners`)."""

    monotone: bool
    native_bins: bool
    kind: str


def quantile_bins(
    values: pd.Series, bins: int
) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
    """Inner edges of ``bins`` quantile bins of ``values`` and each bin's median (None
    when the feature has too few distinct values to coarsen)."""
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=np.float64)
    if len(np.unique(v)) <= bins:
        return None
    edges = np.unique(np.quantile(v, np.linspace(0, 1, bins + 1)[1:-1]))
    which = np.searchsorted(edges, v, side="right")
    bounds = [float(v.min()), *edges.tolist(), float(v.max())]
    # a bin with no fit values (ties at an edge) maps to its lower bound
    medians = tuple(
        float(np.median(v[which == k])) if np.any(which == k) else bounds[k]
        for k in range(len(edges) + 1)
    )
    return tuple(float(e) for e in edges), medians


def apply_bins(frame: pd.DataFrame, c: Candidate) -> pd.DataFrame:
    """``frame`` with the candidate's binned features replaced by their bins' values."""
    if not c.bins:
        return frame
    out = frame.copy()
    for feature, edges, values in c.bins:
        col = pd.to_numeric(out[feature], errors="coerce").to_numpy(dtype=np.float64)
        mapped = np.asarray(values)[np.searchsorted(np.asarray(edges), col, side="right")]
        out[feature] = np.where(np.isnan(col), np.nan, mapped)
    return out


def baseline(features: list[str], threshold: float) -> Candidate:
    """The model refit as audited: every feature, the audit's threshold."""
    return Candidate("baseline", "baseline", "refit as audited", tuple(features), {}, threshold)


def aimed_candidates(
    base: Candidate,
    targets: list[str],
    directions: dict[str, int],
    attribute: str | None,
    abilities: Abilities | None = None,
    fit_frame: pd.DataFrame | None = None,
    variants: list[dict[str, Any]] | None = None,
) -> tuple[list[Candidate], list[str]]:
    """Candidates in the order they are tried: the strongest gap-carrying feature first.

    ``targets`` are the features ranked by the audit (gap contribution x proxy strength);
    ``directions`` the sign of each feature's association with the label (for monotone
    constraints); ``attribute`` the protected attribute with the worst ratio;
    ``abilities`` what the learner supports (LightGBM's by default); ``fit_frame`` the fit
    rows (bin edges of learners without their own binning); ``variants`` hyperparameter
    changes of the baseline, tried after the aimed candidates. Returns the candidates and
    notes on the methods the learner cannot take.
    """
    can = abilities or Abilities(monotone=True, native_bins=True, kind="lightgbm")
    feats = list(base.features)
    out: list[Candidate] = []
    notes: list[str] = []
    if targets and not can.monotone:
        notes.append(
            f"monotone constraints not tried: a {can.kind} model of this kind takes none "
            "(LightGBM and scikit-learn's HistGradientBoostingClassifier do)"
        )

    def without(*drop: str) -> tuple[str, ...]:
        return tuple(f for f in feats if f not in drop)

    for rank, target in enumerate(targets):
        out.append(
            Candidate(
                f"drop:{target}", "drop", f"drop '{target}'", without(target), {}, base.threshold
            )
        )
        if rank == 0 and attribute is not None:
            out.append(_reweight(base, attribute))
        for bins in COARSE_BINS:
            out += _coarsen(base, target, bins, can, fit_frame)
        sign = directions.get(target, 0)
        if sign and can.monotone:
            constraints = [sign if f == target else 0 for f in feats]
            word = "increasing" if sign > 0 else "decreasing"
            out.append(
                Candidate(
                    f"monotone:{target}:{sign:+d}",
                    "monotone",
                    f"'{target}' constrained {word}",
                    base.features,
                    {"monotonic_cst": constraints}
                    if can.kind == "sklearn"
                    else {
                        "monotone_constraints": constraints,
                        "monotone_constraints_method": "advanced",
                    },
                    base.threshold,
                )
            )
    if len(targets) > 1:
        out.append(
            Candidate(
                f"drop:{'+'.join(targets[:2])}",
                "drop",
                f"drop '{targets[0]}' and '{targets[1]}'",
                without(*targets[:2]),
                {},
                base.threshold,
            )
        )
    if targets and attribute is not None:
        dropped = without(targets[0])
        out.append(
            Candidate(
                f"drop:{targets[0]}+reweight:{attribute}",
                "combined",
                f"drop '{targets[0]}' and reweight by '{attribute}' in training",
                dropped,
                {},
                base.threshold,
                attribute,
            )
        )
    for k, change in enumerate(variants or []):
        shown = ", ".join(f"{key}={value}" for key, value in sorted(change.items()))
        out.append(
            Candidate(
                f"variant:{k + 1}",
                "variant",
                f"hyperparameters changed: {shown}",
                base.features,
                dict(change),
                base.threshold,
            )
        )
    for step in THRESHOLD_STEPS:
        t = round(base.threshold + step, 4)
        if 0 < t < 1:
            out.append(
                Candidate(
                    f"threshold:{t:g}",
                    "threshold",
                    f"threshold {t:g} for everyone",
                    base.features,
                    {},
                    t,
                )
            )
    return out, notes


def _coarsen(
    base: Candidate, target: str, bins: int, can: Abilities, fit_frame: pd.DataFrame | None
) -> list[Candidate]:
    if fit_frame is not None and target in fit_frame and not _numeric(fit_frame[target]):
        return []  # a category has no order to coarsen along
    if can.native_bins:
        by_feature = [bins if f == target else 255 for f in base.features]
        params: dict[str, Any] = {"max_bin_by_feature": by_feature}
        return [
            Candidate(
                f"coarsen:{target}:{bins}",
                "coarsen",
                f"coarsen '{target}' to {bins} bins",
                base.features,
                params,
                base.threshold,
            )
        ]
    if fit_frame is None or target not in fit_frame:
        return []
    cut = quantile_bins(fit_frame[target], bins)
    if cut is None:
        return []
    return [
        Candidate(
            f"coarsen:{target}:{bins}",
            "coarsen",
            f"'{target}' cut into {len(cut[0]) + 1} quantile bins (each value replaced by "
            "its bin's median on the fit split) before the model sees it",
            base.features,
            {},
            base.threshold,
            bins=((target, *cut),),
        )
    ]


def _reweight(base: Candidate, attribute: str) -> Candidate:
    return Candidate(
        f"reweight:{attribute}",
        "reweight",
        f"rows reweighted by '{attribute}' and label in training",
        base.features,
        {},
        base.threshold,
        attribute,
    )


def reweighing_weights(groups: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Kamiran–Calders weights P(group)·P(label) / P(group, label): in the weighted data
    the label is independent of the group. Used in training only, never at decision time."""
    frame = pd.DataFrame({"g": groups.astype(str), "y": labels})
    p_g = frame["g"].map(frame["g"].value_counts(normalize=True))
    p_y = frame["y"].map(frame["y"].value_counts(normalize=True))
    p_gy = frame.groupby(["g", "y"])["y"].transform("size") / len(frame)
    return (p_g * p_y / p_gy).to_numpy(dtype=np.float64)


def label_directions(x: pd.DataFrame, y: np.ndarray) -> dict[str, int]:
    """+1/−1: the sign of each numeric feature's rank correlation with the label."""
    out: dict[str, int] = {}
    for col in x.columns:
        if pd.api.types.is_numeric_dtype(x[col]) and not pd.api.types.is_bool_dtype(x[col]):
            rho = pd.Series(x[col]).rank().corr(pd.Series(y, index=x.index).rank())
            if rho == rho and abs(rho) > 1e-3:
                out[str(col)] = 1 if rho > 0 else -1
    return out


def _numeric(col: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col))
