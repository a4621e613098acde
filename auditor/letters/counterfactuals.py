"""The smallest change in actionable features that flips a decision, verified by the model.

Only features listed under ``letters.counterfactual.actionable`` change, each only in its
allowed direction, in multiples of its step and inside its plausible range (the spec's
``min``/``max``, else the range observed among the audited decisions). Protected and
immutable features are never touched. Candidates with one changed feature are tried
first, then pairs; the cost of a change is its size as a share of the feature's range,
and the cheapest candidate that the model scores at or above the threshold wins. Every
candidate is scored by the model itself, so a returned counterfactual flips the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from auditor.errors import AuditorError
from auditor.letters.settings import CounterfactualSpec
from auditor.models.base import ModelAdapter

_MAX_VALUES = 40  # candidate values per feature (single changes); pairs use a coarser grid
_PAIR_VALUES = 12


@dataclass(frozen=True)
class Counterfactual:
    """A verified change, or why none was found."""

    changes: dict[str, float] | None
    score: float | None
    note: str


@dataclass(frozen=True)
class _Axis:
    column: int
    name: str
    low: float
    high: float
    step: float
    direction: str


class CounterfactualSearch:
    """Searches counterfactuals for rows of one model and threshold."""

    def __init__(
        self,
        model: ModelAdapter,
        settings: CounterfactualSpec,
        features: pd.DataFrame,
        threshold: float,
    ) -> None:
        self.model = model
        self.threshold = threshold
        self.max_features = settings.max_features
        names = list(features.columns)
        self.axes: list[_Axis] = []
        for name, rule in settings.actionable.items():
            col = features[name]
            if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
                raise AuditorError(
                    f"letters.counterfactual.actionable.{name}: only numeric features can be "
                    "changed in a counterfactual; this one is categorical."
                )
            lo = float(rule.min) if rule.min is not None else float(np.nanmin(col))
            hi = float(rule.max) if rule.max is not None else float(np.nanmax(col))
            self.axes.append(_Axis(names.index(name), name, lo, hi, rule.step, rule.direction))

    def _values(self, axis: _Axis, current: float, limit: int) -> np.ndarray:
        """Candidate values in the allowed direction(s), nearest first, on the step grid."""
        out: list[np.ndarray] = []
        span = axis.high - axis.low
        steps = max(1, int(np.ceil(span / axis.step / limit))) if span > 0 else 1
        k = np.arange(1, limit + 1) * steps * axis.step
        if axis.direction in ("increase", "any"):
            out.append(current + k)
        if axis.direction in ("decrease", "any"):
            out.append(current - k)
        vals = np.concatenate(out) if out else np.empty(0)
        vals = vals[(vals >= axis.low) & (vals <= axis.high)]
        return vals[np.argsort(np.abs(vals - current), kind="stable")]

    def _cost(self, axis: _Axis, delta: float) -> float:
        span = axis.high - axis.low
        return abs(float(delta)) / (span if span > 0 else 1.0)

    def search(self, x: np.ndarray) -> Counterfactual:
        """The cheapest verified flip for one encoded row ``x`` (1-D)."""
        if not self.axes:
            return Counterfactual(None, None, "no feature is marked actionable in the spec")
        now = float(self.model.score(x[None, :])[0])
        if now >= self.threshold:
            return Counterfactual(
                None, now, "the model already scores this application at or above the cut-off"
            )
        cands: list[tuple[dict[int, float], float]] = []
        for axis in self.axes:
            cur = float(x[axis.column])
            if np.isnan(cur):
                continue
            for v in self._values(axis, cur, _MAX_VALUES):
                cands.append(({axis.column: float(v)}, self._cost(axis, v - cur)))
        found = self._best(x, cands)
        if found is None and self.max_features >= 2 and len(self.axes) >= 2:
            pairs: list[tuple[dict[int, float], float]] = []
            for a, b in combinations(self.axes, 2):
                ca, cb = float(x[a.column]), float(x[b.column])
                if np.isnan(ca) or np.isnan(cb):
                    continue
                for va in self._values(a, ca, _PAIR_VALUES):
                    for vb in self._values(b, cb, _PAIR_VALUES):
                        cost = self._cost(a, va - ca) + self._cost(b, vb - cb)
                        pairs.append(({a.column: float(va), b.column: float(vb)}, cost))
            found = self._best(x, pairs)
        if found is None:
            names = ", ".join(a.name for a in self.axes)
            return Counterfactual(
                None,
                None,
                f"no change to {names} within the allowed directions and ranges would have "
                "changed the outcome",
            )
        change, score = found
        by_name = {a.column: a.name for a in self.axes}
        return Counterfactual(
            {by_name[c]: _tidy(v) for c, v in sorted(change.items())}, score, "verified"
        )

    def _best(
        self, x: np.ndarray, cands: list[tuple[dict[int, float], float]]
    ) -> tuple[dict[int, float], float] | None:
        if not cands:
            return None
        grid = np.repeat(x[None, :], len(cands), axis=0)
        for i, (change, _) in enumerate(cands):
            for col, v in change.items():
                grid[i, col] = v
        scores = self.model.score(grid)
        costs = np.array([c for _, c in cands])
        ok = np.flatnonzero(scores >= self.threshold)
        if len(ok) == 0:
            return None
        best = ok[np.argsort(costs[ok], kind="stable")[0]]
        return cands[best][0], float(scores[best])


def _tidy(v: float) -> float:
    return float(round(v, 6))
