"""The smallest change in actionable features that flips a decision, verified by the model.

Only features listed under ``letters.counterfactual.actionable`` change; protected and
immutable features are never touched. A numeric feature moves in its allowed direction, in
multiples of its step, inside its plausible range (the spec's ``min``/``max``, else the
range observed among the audited decisions). A categorical feature moves along the
spec's ``order`` of reachable categories, in its allowed direction; an applicant whose
category is not in the order keeps it.

Cost: a change costs its size as a share of the feature's range (numeric: the change over
``max - min``; categorical: the categories moved over the length of the order minus one),
times the feature's ``weight`` (default 1); a change of two features costs the sum.
Candidates with one changed feature are tried first, then pairs (a pair is only looked
for when no single change flips the decision); among the candidates the model scores at or
above the threshold, the cheapest wins (ties: the one nearest the start of the spec's
list). Every candidate is scored by the model itself, so a returned counterfactual flips
the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from auditor.errors import AuditorError
from auditor.letter_settings import Actionable, CounterfactualSpec
from auditor.models.base import ModelAdapter

_MAX_VALUES = 40  # candidate values per feature (single changes); pairs use a coarser grid
_PAIR_VALUES = 12

Value = float | str


@dataclass(frozen=True)
class Counterfactual:
    """A verified change, or why none was found."""

    changes: dict[str, Value] | None
    score: float | None
    note: str
    cost: float | None = None
    searched: tuple[str, ...] = ()
    """When none was found within bounds: the features the search was allowed to change."""

    def detail(self) -> dict[str, object]:
        """What the letter record keeps about the search besides the change itself."""
        return {
            "note": self.note,
            "cost": None if self.cost is None else round(self.cost, 6),
            "score": None if self.score is None else round(self.score, 6),
        }


@dataclass(frozen=True)
class _Axis:
    """One actionable feature: where it sits in the encoded row and how it may move."""

    column: int
    name: str
    direction: str
    weight: float
    low: float = 0.0
    high: float = 0.0
    step: float = 1.0
    codes: tuple[float, ...] = ()  # categorical: the model's codes of ``order``, in order
    labels: tuple[str, ...] = ()

    @property
    def categorical(self) -> bool:
        return bool(self.codes)

    def moves(self, current: float, limit: int) -> list[tuple[float, float]]:
        """(new encoded value, cost) in the allowed direction(s), nearest first."""
        if np.isnan(current):
            return []
        if self.categorical:
            return self._category_moves(current)
        out: list[np.ndarray] = []
        span = self.high - self.low
        steps = max(1, int(np.ceil(span / self.step / limit))) if span > 0 else 1
        k = np.arange(1, limit + 1) * steps * self.step
        if self.direction in ("increase", "any"):
            out.append(current + k)
        if self.direction in ("decrease", "any"):
            out.append(current - k)
        vals = np.concatenate(out) if out else np.empty(0)
        vals = vals[(vals >= self.low) & (vals <= self.high)]
        vals = vals[np.argsort(np.abs(vals - current), kind="stable")]
        per_unit = self.weight / (span if span > 0 else 1.0)
        return [(float(v), abs(float(v) - current) * per_unit) for v in vals]

    def _category_moves(self, current: float) -> list[tuple[float, float]]:
        if current not in self.codes:
            return []  # a category outside the order is neither left nor reached
        at = self.codes.index(current)
        targets: list[int] = []
        if self.direction in ("increase", "any"):
            targets += range(at + 1, len(self.codes))
        if self.direction in ("decrease", "any"):
            targets += range(at - 1, -1, -1)
        targets.sort(key=lambda j: abs(j - at))
        per_step = self.weight / (len(self.codes) - 1)
        return [(self.codes[j], abs(j - at) * per_step) for j in targets]

    def shown(self, value: float) -> Value:
        """The value as the applicant knows it: a category label, or a tidy number."""
        if self.categorical:
            return self.labels[self.codes.index(value)]
        return float(round(value, 6))


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
            where = f"letters.counterfactual.actionable.{name}"
            col = features[name]
            numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
            if rule.order is not None:
                if numeric:
                    raise AuditorError(
                        f"{where}: 'order' is for categorical features; this one is numeric "
                        "(give direction, min, max and step instead)."
                    )
                codes = _category_codes(model, features, name, rule, where)
                self.axes.append(
                    _Axis(
                        names.index(name),
                        name,
                        rule.direction,
                        rule.weight,
                        codes=codes,
                        labels=tuple(rule.order),
                    )
                )
                continue
            if not numeric:
                raise AuditorError(
                    f"{where}: this feature is categorical; list the categories an applicant "
                    "can move between, in order, under 'order'."
                )
            lo = float(rule.min) if rule.min is not None else float(np.nanmin(col))
            hi = float(rule.max) if rule.max is not None else float(np.nanmax(col))
            self.axes.append(
                _Axis(names.index(name), name, rule.direction, rule.weight, lo, hi, rule.step)
            )

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
            for v, cost in axis.moves(float(x[axis.column]), _MAX_VALUES):
                cands.append(({axis.column: v}, cost))
        found = self._best(x, cands)
        if found is None and self.max_features >= 2 and len(self.axes) >= 2:
            pairs: list[tuple[dict[int, float], float]] = []
            for a, b in combinations(self.axes, 2):
                for va, ca in a.moves(float(x[a.column]), _PAIR_VALUES):
                    for vb, cb in b.moves(float(x[b.column]), _PAIR_VALUES):
                        pairs.append(({a.column: va, b.column: vb}, ca + cb))
            found = self._best(x, pairs)
        if found is None:
            names = ", ".join(a.name for a in self.axes)
            return Counterfactual(
                None,
                None,
                f"no change to {names} within the allowed directions and ranges would have "
                "changed the outcome",
                searched=tuple(a.name for a in self.axes),
            )
        change, score, cost = found
        by_column = {a.column: a for a in self.axes}
        return Counterfactual(
            {by_column[c].name: by_column[c].shown(v) for c, v in sorted(change.items())},
            score,
            "verified",
            cost,
        )

    def _best(
        self, x: np.ndarray, cands: list[tuple[dict[int, float], float]]
    ) -> tuple[dict[int, float], float, float] | None:
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
        return cands[best][0], float(scores[best]), float(costs[best])


def _category_codes(
    model: ModelAdapter, features: pd.DataFrame, name: str, rule: Actionable, where: str
) -> tuple[float, ...]:
    """The model's encoding of each category in ``rule.order`` (an unknown one is an error)."""
    order = rule.order or []
    probe = features.iloc[[0] * len(order)].reset_index(drop=True)
    probe[name] = pd.Series(order, dtype=object)
    codes = model.encode(probe)[:, list(features.columns).index(name)]
    unknown = [c for c, v in zip(order, codes, strict=True) if np.isnan(v)]
    if unknown:
        raise AuditorError(
            f"{where}.order: {', '.join(repr(u) for u in unknown)} is not a category the "
            f"model knows for '{name}'."
        )
    return tuple(float(c) for c in codes)
