"""The ``controls`` analyses from mergeable sums, for engines that hold no rows (Spark).

Every number equals the in-memory one (:mod:`auditor.metrics.controls`,
:mod:`auditor.metrics.adjusted_mean`) to rounding: the same rows, the same encoding of
the controls (numeric standardised over the fitted rows, categorical one-hot against the
most frequent level), the same Newton steps from the same start, the same record
builders. What the in-memory code computes over all rows at once is split into passes,
each returning per-chunk sums that add up (:func:`merge_parts`):

1. *census*: per grouping, rows with a missing control, each categorical level's rows
   and favourable decisions (which levels carry information), numeric moments, the CDD
   counts per (stratum, outcome, group), and per continuous outcome the rows and sums
   per group and the levels present;
2. *groups*: per analysed group its rows and favourable decisions (groups whose decisions
   are all alike), its numeric moments and level counts (the standardisation and the
   reference level of the fitted rows); X'X and X'y of the score's OLS on the controls
   (residual SMD) and of each outcome's OLS with group indicators (adjusted mean);
3. *Newton steps*: one pass per IRLS iteration, X'WX and X'(y − p) at the current
   coefficients, for every grouping still iterating (the first such pass also takes the
   score residuals' moments per group and each outcome's HC3 "meat"
   Σ x x' e² / (1 − h)², and each outcome's residual moments per group, for its
   residual SMD from the X'X and X'y the second pass took); at convergence one more
   pass takes the information at the final coefficients and the sums of the average
   marginal effect's contrast and gradient.

Memory is bounded by the design's width (k × k per grouping), never by rows: exact for
numeric and categorical controls alike, at the cost of a pass per Newton step (about
six to ten). Two checks differ in form: the design's rank is judged on X'X (an
eigenvalue below 1e-12 of the largest counts as collinear) rather than on X's singular
values, and the per-partition control checks hold each partition to the level bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from auditor.batch import UNKNOWN, DecisionBatch
from auditor.metrics.adjusted_mean import assemble_adjusted_mean, fitted_groups
from auditor.metrics.controls import (
    DIVERGED,
    MAX_ITER,
    TOLERANCE,
    Estimate,
    Excluded,
    LogitFit,
    Moments,
    assemble_adjusted,
    cdd_from_counts,
    contrast_sums,
    residual_metric,
    smd_from_moments,
)
from auditor.metrics.group_metrics import Grouping
from auditor.result import MetricRecord

RANK_TOL = 1e-12
_ALL = "\x00controls"  # key prefix of what is not one grouping's


@dataclass(frozen=True)
class ChunkView:
    """What a pass sees of one chunk of rows."""

    labels: dict[str, np.ndarray]  # grouping -> group label per row
    y: np.ndarray  # 1 favourable, 0 not (float)
    controls: pd.DataFrame | None
    scores: np.ndarray | None
    outcomes: pd.DataFrame | None


PassFn = Callable[[ChunkView], dict[Any, Any]]
Runner = Callable[[PassFn], dict[Any, Any]]


def merge_parts(a: dict[Any, Any], b: dict[Any, Any]) -> dict[Any, Any]:
    """Two chunks' sums: arrays and counts add, moments merge, flags or."""
    out = dict(a)
    for k, v in b.items():
        if k not in out:
            out[k] = v
        elif isinstance(v, Moments):
            out[k] = out[k].merge(v)
        elif isinstance(v, bool):
            out[k] = out[k] or v
        else:
            out[k] = out[k] + v
    return out


@dataclass(frozen=True)
class Encoding:
    """How control columns become design columns (in the controls' order)."""

    numeric: dict[str, tuple[float, float]]  # column -> (mean, sd)
    levels: dict[str, list[str]]  # categorical column -> levels with a column

    def encode(self, controls: pd.DataFrame | None, rows: np.ndarray) -> np.ndarray:
        """The encoded controls of ``rows`` (a mask)."""
        n = int(rows.sum())
        if controls is None:
            return np.empty((n, 0))
        parts: list[np.ndarray] = []
        for name in controls.columns:
            col = controls[name][rows]
            if name in self.numeric:
                mean, sd = self.numeric[name]
                parts.append(((col.to_numpy(dtype=np.float64) - mean) / sd)[:, None])
            else:
                labels = col.astype(str).to_numpy()
                parts += [(labels == lv).astype(np.float64)[:, None] for lv in self.levels[name]]
        return np.hstack(parts) if parts else np.empty((n, 0))


def _numeric(col: pd.Series) -> bool:
    return bool(pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col))


def _complete(view: ChunkView) -> np.ndarray:
    if view.controls is None:
        return np.ones(len(view.y), dtype=bool)
    return np.asarray(view.controls.notna().all(axis=1).to_numpy(), dtype=bool)


def _reference_level(counts: dict[str, float]) -> str:
    top = max(counts.values())
    return sorted(lv for lv, c in counts.items() if c == top)[0]


def _encoding(moments: dict[str, Moments], levels: dict[str, dict[str, float]]) -> Encoding:
    """Standardise numeric columns (population SD, 1 when 0); one-hot the others against
    their most frequent level — :func:`auditor.metrics.control_design.encode_controls`."""
    numeric = {}
    for name, m in moments.items():
        sd = float(np.sqrt(m.m2 / m.n)) if m.n else 0.0
        numeric[name] = (m.mean, sd if sd > 0 else 1.0)
    cats = {}
    for name, counts in levels.items():
        present = {lv: c for lv, c in counts.items() if c > 0}
        ref = _reference_level(present) if present else ""
        cats[name] = sorted(set(present) - {ref})
    return Encoding(numeric, cats)


@dataclass
class _Logit:
    """One grouping's Newton iterations, driven by X'WX and X'(y − p) sums."""

    fitted: list[str]
    encoding: Encoding
    rows: int
    k: int
    beta: np.ndarray
    iterations: int = 0
    final: bool = False
    problem: str | None = None
    fit: LogitFit | None = None
    estimates: dict[str, Estimate] = field(default_factory=dict)

    def step(self, hess: np.ndarray, grad: np.ndarray) -> None:
        """``fit_logit``'s loop body, from the pass's sums."""
        if self.iterations == 0:
            eig = np.linalg.eigvalsh(4.0 * hess)  # X'X: W = 1/4 at the start
            if self.rows <= self.k or eig.min() <= RANK_TOL * eig.max():
                self.problem = "singular: the controls are collinear with the groups or each other"
                return
        self.iterations += 1
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            self.problem = "separation: the information matrix became singular"
            return
        self.beta = self.beta + step
        separated = "separation: a coefficient diverges (outcomes perfectly predicted)"
        if not np.all(np.isfinite(self.beta)) or np.max(np.abs(self.beta)) > 4 * DIVERGED:
            self.problem = separated
        elif np.max(np.abs(step)) < TOLERANCE:
            if np.max(np.abs(self.beta)) > DIVERGED:
                self.problem = separated
            else:
                self.final = True
        elif self.iterations >= MAX_ITER:
            big = np.max(np.abs(self.beta)) > DIVERGED
            self.problem = separated if big else f"no convergence in {MAX_ITER} iterations"

    def finish(self, hess: np.ndarray, ame: dict[int, np.ndarray]) -> None:
        """The covariance at the final coefficients and each group's AME pieces."""
        self.fit = LogitFit(self.beta, np.linalg.inv(hess), self.iterations)
        for j, g in enumerate(self.fitted, start=1):
            sums = ame[j]
            self.estimates[g] = Estimate(
                self.fit, j, float(sums[0]) / self.rows, sums[1:] / self.rows
            )

    @property
    def active(self) -> bool:
        return self.problem is None and self.fit is None


@dataclass
class _Grouping:
    """Everything the passes learn about one grouping."""

    name: str
    reference: str | None
    census: dict[Any, Any] = field(default_factory=dict)
    informative: dict[str, set[str]] = field(default_factory=dict)
    logit: _Logit | None = None
    logit_reason: str | None = None
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    degenerate: set[str] = field(default_factory=set)
    smd_encoding: Encoding | None = None
    smd_coef: np.ndarray | None = None
    # per continuous outcome: the encoding and OLS coefficients of its residual SMD
    resid_encodings: dict[str, Encoding] = field(default_factory=dict)
    resid_coefs: dict[str, np.ndarray] = field(default_factory=dict)
    outcome_fits: dict[str, Any] = field(default_factory=dict)


def controls_from_passes(
    run: Runner,
    groupings: list[tuple[str, str | None]],
    *,
    controls: list[str],
    cdd_by: str | None,
    outcomes: list[str],
    has_scores: bool,
    min_group_size: int,
) -> tuple[list[MetricRecord], list[str]]:
    """The records and warnings of :func:`auditor.metrics.controls.controls_metrics`.

    ``groupings``: (name, reference or None) in the audit's order; ``run`` applies a
    pass to every chunk and merges the results with :func:`merge_parts`.
    """
    state = [_Grouping(name, ref) for name, ref in groupings]
    census = run(_census_pass(cdd_by, outcomes))
    for g in state:
        g.census = {k[1:]: v for k, v in census.items() if k[0] == g.name}
        lvl = {k[1:]: v for k, v in g.census.items() if k[0] == "lvl"}
        for (col, level), (n, fav) in lvl.items():
            if 0 < fav / n < 1:
                g.informative.setdefault(col, set()).add(level)
            else:
                g.informative.setdefault(col, set())
    cats = sorted(k[1] for k in census if k[0] == _ALL and len(k) == 2)
    second = run(_groups_pass(state, cats, has_scores, outcomes))
    for g in state:
        _plan_fits(g, {k[1:]: v for k, v in second.items() if k[0] == g.name}, controls, outcomes)
    first = True
    while first or any(g.logit is not None and g.logit.active for g in state):
        sums = run(_newton_pass(state, cats, first, has_scores, outcomes))
        for g in state:
            own = {k[1:]: v for k, v in sums.items() if k[0] == g.name}
            _take_newton(g, own, first, outcomes)
        first = False
    return _records(state, controls, cdd_by, outcomes, has_scores, min_group_size)


def _labels(view: ChunkView, name: str) -> tuple[np.ndarray, np.ndarray]:
    labels = view.labels[name]
    return labels, labels != UNKNOWN


def _census_pass(cdd_by: str | None, outcomes: list[str]) -> PassFn:
    def run(view: ChunkView) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        complete = _complete(view)
        every = view.controls if view.controls is not None else pd.DataFrame()
        for col in every.columns:
            if not _numeric(every[col]):
                out[(_ALL, col)] = True  # categorical: one-hot, levels checked for information
        for name in view.labels:
            labels, known = _labels(view, name)
            use = known & complete
            out[(name, "miss")] = int((known & ~complete).sum())
            given = view.controls if view.controls is not None else pd.DataFrame()
            for col in given.columns:
                values = given[col]
                if _numeric(values):  # the pass's census of columns decides; see _ALL
                    out[(name, "mom", col)] = Moments.of(values[use].to_numpy(np.float64))
                    continue
                text = values[use].astype(str).to_numpy()
                y = view.y[use]
                for level in np.unique(text):
                    at = text == level
                    out[(name, "lvl", col, str(level))] = np.array([at.sum(), y[at].sum()], float)
            if cdd_by is not None and view.controls is not None:
                strata = view.controls[cdd_by]
                ok = known & strata.notna().to_numpy()
                frame = pd.DataFrame(
                    {
                        "s": strata[ok].astype(str).to_numpy(),
                        "y": view.y[ok].astype(bool),
                        "g": labels[ok].astype(str),
                    }
                )
                for key, v in frame.groupby(["s", "y", "g"]).size().items():
                    parts: tuple[object, ...] = tuple(key)  # type: ignore[arg-type]
                    out[(name, "cdd", str(parts[0]), bool(parts[1]), str(parts[2]))] = int(v)
            for o in outcomes:
                assert view.outcomes is not None
                yo = view.outcomes[o].to_numpy(np.float64)
                ok = use & ~np.isnan(yo)
                out[(name, "omiss", o)] = int((known & ~ok).sum())
                for grp in np.unique(labels[ok].astype(str)):
                    at = ok & (labels == grp)
                    out[(name, "on", o, str(grp))] = np.array([at.sum(), yo[at].sum()], float)
                    if view.controls is None:
                        continue
                    for col in view.controls.columns:
                        if _numeric(view.controls[col]):
                            continue
                        text = view.controls[col][at].astype(str).to_numpy()
                        for level in np.unique(text):
                            key = (name, "olvl", o, str(grp), col, str(level))
                            out[key] = int((text == level).sum())
        return out

    return run


def _keep(view: ChunkView, g: _Grouping, cats: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(known & complete rows, and of those the ones in informative levels)."""
    _, known = _labels(view, g.name)
    use = known & _complete(view)
    keep = use.copy()
    if view.controls is not None:
        for col in cats:
            text = view.controls[col].astype(str).to_numpy()
            keep &= np.isin(text, sorted(g.informative.get(col, set())))
    return use, keep


def _groups_pass(
    state: list[_Grouping], cats: list[str], has_scores: bool, outcomes: list[str]
) -> PassFn:
    for g in state:
        g.smd_encoding = _smd_encoding(g, cats)
        g.resid_encodings = _residual_encodings(g, outcomes)
    designs = {g.name: _outcome_designs(g, outcomes) for g in state}

    def run(view: ChunkView) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for g in state:
            labels = view.labels[g.name]
            use, keep = _keep(view, g, cats)
            out[(g.name, "unk")] = int((use & ~keep).sum())
            for grp in np.unique(labels[keep].astype(str)):
                at = keep & (labels == grp)
                out[(g.name, "gn", str(grp))] = np.array([at.sum(), view.y[at].sum()], float)
                given = view.controls if view.controls is not None else pd.DataFrame()
                for col in given.columns:
                    if col not in cats:
                        values = given[col][at].to_numpy(np.float64)
                        out[(g.name, "gmom", str(grp), col)] = Moments.of(values)
                        continue
                    text = given[col][at].astype(str).to_numpy()
                    for level in np.unique(text):
                        out[(g.name, "gcat", str(grp), col, str(level))] = int(
                            (text == level).sum()
                        )
            if has_scores and view.controls is not None and view.scores is not None:
                assert g.smd_encoding is not None
                x = _with_intercept(g.smd_encoding.encode(view.controls, use))
                out[(g.name, "sxx")] = x.T @ x
                out[(g.name, "sxy")] = x.T @ view.scores[use]
            for o, enc in g.resid_encodings.items():
                rows, yo = _outcome_present(view, use, o)
                x = _with_intercept(enc.encode(view.controls, rows))
                out[(g.name, "rxx", o)] = x.T @ x
                out[(g.name, "rxy", o)] = x.T @ yo[rows]
            for o, (rows_of, design) in designs[g.name].items():
                assert view.outcomes is not None
                rows, x = rows_of(view), design(view)
                yo = view.outcomes[o].to_numpy(np.float64)[rows]
                out[(g.name, "oxx", o)] = x.T @ x
                out[(g.name, "oxy", o)] = x.T @ yo
        return out

    return run


def _outcome_present(view: ChunkView, use: np.ndarray, o: str) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``use`` where outcome ``o`` is present, and the outcome's values."""
    assert view.outcomes is not None
    yo = view.outcomes[o].to_numpy(np.float64)
    rows: np.ndarray = use & ~np.isnan(yo)
    return rows, yo


def _residual_encodings(g: _Grouping, outcomes: list[str]) -> dict[str, Encoding]:
    """Per outcome, the controls' encoding over the rows with that outcome: numeric
    columns as for the score (a column's shift and scale leave residuals unchanged), each
    categorical one-hot against its most frequent level among those rows, as
    :func:`auditor.metrics.control_design.encode_controls` encodes them in memory."""
    moments = {k[1]: v for k, v in g.census.items() if k[0] == "mom"}
    out: dict[str, Encoding] = {}
    for o in outcomes:
        levels: dict[str, dict[str, float]] = {}
        for k, v in g.census.items():
            if k[0] == "olvl" and k[1] == o:
                levels.setdefault(k[3], {}).setdefault(k[4], 0.0)
                levels[k[3]][k[4]] += v
        out[o] = _encoding(moments, levels)
    return out


def _with_intercept(x: np.ndarray) -> np.ndarray:
    return np.hstack([np.ones((len(x), 1)), x])


def _smd_encoding(g: _Grouping, cats: list[str]) -> Encoding:
    moments = {k[1]: v for k, v in g.census.items() if k[0] == "mom"}
    levels: dict[str, dict[str, float]] = {c: {} for c in cats}
    for k, v in g.census.items():
        if k[0] == "lvl":
            levels.setdefault(k[1], {})[k[2]] = float(v[0])
    return _encoding(moments, levels)


def _outcome_designs(g: _Grouping, outcomes: list[str]) -> dict[str, Any]:
    """Per outcome: which rows, and their design (intercept, indicators, controls)."""
    out: dict[str, Any] = {}
    if g.reference is None:
        return out
    smd = _smd_encoding(g, [])
    for o in outcomes:
        counts = {k[2]: int(v[0]) for k, v in g.census.items() if k[0] == "on" and k[1] == o}
        if g.reference not in counts:
            continue
        fitted = fitted_groups(counts, g.reference)
        members = [g.reference, *fitted]
        levels: dict[str, dict[str, float]] = {}
        for k, v in g.census.items():
            if k[0] == "olvl" and k[1] == o and k[2] in members:
                levels.setdefault(k[3], {}).setdefault(k[4], 0.0)
                levels[k[3]][k[4]] += v
        enc = Encoding(smd.numeric, {c: sorted(lv)[1:] for c, lv in levels.items()})
        g.outcome_fits[o] = {"fitted": fitted, "encoding": enc, "counts": counts}
        out[o] = (
            _outcome_rows(g.name, o, members),
            _outcome_design(g.name, o, members, fitted, enc),
        )
    return out


def _outcome_rows(name: str, o: str, members: list[str]) -> Callable[[ChunkView], np.ndarray]:
    def rows(view: ChunkView) -> np.ndarray:
        assert view.outcomes is not None
        labels, known = _labels(view, name)
        yo = view.outcomes[o].to_numpy(np.float64)
        mask: np.ndarray = known & _complete(view) & ~np.isnan(yo) & np.isin(labels, members)
        return mask

    return rows


def _outcome_design(
    name: str, o: str, members: list[str], fitted: list[str], enc: Encoding
) -> Callable[[ChunkView], np.ndarray]:
    rows_of = _outcome_rows(name, o, members)

    def design(view: ChunkView) -> np.ndarray:
        rows = rows_of(view)
        labels = view.labels[name][rows]
        ind = [(labels == f).astype(np.float64)[:, None] for f in fitted]
        return np.hstack([np.ones((int(rows.sum()), 1)), *ind, enc.encode(view.controls, rows)])

    return design


def _plan_fits(
    g: _Grouping, sums: dict[Any, Any], controls: list[str], outcomes: list[str]
) -> None:
    gn = {k[1]: v for k, v in sums.items() if k[0] == "gn"}
    g.sizes = {grp: (int(v[0]), int(v[1])) for grp, v in sorted(gn.items())}
    g.degenerate = {grp for grp, (n, fav) in g.sizes.items() if fav in (0, n)}
    g.census["unk"] = sums.get(("unk",), 0)
    ref = g.reference
    if ref is not None and ("sxx",) in sums:
        g.smd_coef = np.linalg.lstsq(sums[("sxx",)], sums[("sxy",)], rcond=None)[0]
    for o in g.resid_encodings:
        if ref is not None and ("rxx", o) in sums:
            g.resid_coefs[o] = np.linalg.lstsq(sums[("rxx", o)], sums[("rxy", o)], rcond=None)[0]
    for o in outcomes:
        fit = g.outcome_fits.get(o)
        if fit is None:
            continue
        xtx, xty = sums[("oxx", o)], sums[("oxy", o)]
        k = xtx.shape[0]
        n = sum(fit["counts"][m] for m in [ref, *fit["fitted"]])
        eig = np.linalg.eigvalsh(xtx) if k else np.array([1.0])
        if n <= k or eig.min() <= RANK_TOL * eig.max():
            fit["result"] = "singular: the controls are collinear with the groups or each other"
            continue
        bread = np.linalg.inv(xtx)
        fit["bread"], fit["beta"] = bread, bread @ xty
    if ref is None or ref not in g.sizes or ref in g.degenerate:
        return
    fitted = [grp for grp in g.sizes if grp != ref and grp not in g.degenerate]
    if not fitted:
        return
    members = [ref, *fitted]
    moments: dict[str, Moments] = {}
    levels: dict[str, dict[str, float]] = {}
    for k, v in sums.items():
        if k[0] == "gmom" and k[1] in members:
            moments[k[2]] = moments[k[2]].merge(v) if k[2] in moments else v
        elif k[0] == "gcat" and k[1] in members:
            levels.setdefault(k[2], {}).setdefault(k[3], 0.0)
            levels[k[2]][k[3]] += v
    enc = _encoding(moments, levels)
    width = 1 + len(fitted) + len(enc.numeric) + sum(len(v) for v in enc.levels.values())
    rows = sum(g.sizes[m][0] for m in members)
    g.logit = _Logit(fitted, enc, rows, width, np.zeros(width))


def _logit_design(view: ChunkView, g: _Grouping, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the fit (kept, in a fitted group or the reference) and their design."""
    assert g.logit is not None
    assert g.reference is not None
    labels = view.labels[g.name]
    rows = keep & np.isin(labels, [g.reference, *g.logit.fitted])
    lab = labels[rows]
    ind = [(lab == f).astype(np.float64)[:, None] for f in g.logit.fitted]
    enc = g.logit.encoding.encode(view.controls, rows)
    return rows, np.hstack([np.ones((int(rows.sum()), 1)), *ind, enc])


def _newton_pass(
    state: list[_Grouping], cats: list[str], first: bool, has_scores: bool, outcomes: list[str]
) -> PassFn:
    designs = {g.name: _outcome_designs_again(g) for g in state} if first else {}

    def run(view: ChunkView) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for g in state:
            use, keep = _keep(view, g, cats)
            lg = g.logit
            if lg is not None and lg.active:
                rows, x = _logit_design(view, g, keep)
                y = view.y[rows]
                p = special.expit(x @ lg.beta)
                out[(g.name, "h")] = (x * (p * (1.0 - p))[:, None]).T @ x
                out[(g.name, "gr")] = x.T @ (y - p)
                if lg.final:
                    for j in range(1, 1 + len(lg.fitted)):
                        total, grad = contrast_sums(lg.beta, x, j, len(lg.fitted))
                        out[(g.name, "ame", j)] = np.concatenate([[total], grad])
            if not first:
                continue
            enc = g.smd_encoding
            if g.smd_coef is not None and view.scores is not None and enc is not None:
                x = _with_intercept(enc.encode(view.controls, use))
                resid = view.scores[use] - x @ g.smd_coef
                labels = view.labels[g.name][use].astype(str)
                for grp in np.unique(labels):
                    out[(g.name, "rmom", str(grp))] = Moments.of(resid[labels == grp])
            for o, coef in g.resid_coefs.items():
                rows, yo = _outcome_present(view, use, o)
                x = _with_intercept(g.resid_encodings[o].encode(view.controls, rows))
                resid = yo[rows] - x @ coef
                labels = view.labels[g.name][rows].astype(str)
                for grp in np.unique(labels):
                    out[(g.name, "ormom", o, str(grp))] = Moments.of(resid[labels == grp])
            for o, (rows_of, design) in designs.get(g.name, {}).items():
                fit = g.outcome_fits[o]
                if "beta" not in fit:
                    continue
                assert view.outcomes is not None
                rows, x = rows_of(view), design(view)
                e = view.outcomes[o].to_numpy(np.float64)[rows] - x @ fit["beta"]
                h = np.einsum("ij,jk,ik->i", x, fit["bread"], x)
                out[(g.name, "ohigh", o)] = bool(np.any(h >= 1 - 1e-12))
                scaled = x * (e / np.where(h < 1, 1.0 - h, 1.0))[:, None]
                out[(g.name, "meat", o)] = scaled.T @ scaled
        return out

    return run


def _outcome_designs_again(g: _Grouping) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if g.reference is None:
        return out
    for o, fit in g.outcome_fits.items():
        members = [g.reference, *fit["fitted"]]
        out[o] = (
            _outcome_rows(g.name, o, members),
            _outcome_design(g.name, o, members, fit["fitted"], fit["encoding"]),
        )
    return out


def _take_newton(g: _Grouping, own: dict[Any, Any], first: bool, outcomes: list[str]) -> None:
    lg = g.logit
    if lg is not None and lg.active:
        hess = own.get(("h",), np.zeros((lg.k, lg.k)))
        grad = own.get(("gr",), np.zeros(lg.k))
        if lg.final:
            ame = {j: own[("ame", j)] for j in range(1, 1 + len(lg.fitted))}
            lg.finish(hess, ame)
        else:
            lg.step(hess, grad)
    if not first:
        return
    g.census["rmom"] = {k[1]: v for k, v in own.items() if k[0] == "rmom"}
    for o in g.resid_coefs:
        g.census[("ormom", o)] = {k[2]: v for k, v in own.items() if k[:2] == ("ormom", o)}
    for o in outcomes:
        fit = g.outcome_fits.get(o)
        if fit is None or "beta" not in fit:
            continue
        if own.get(("ohigh", o), False):
            fit["result"] = "leverage: a row is fitted exactly, so HC3 has no standard error"
            continue
        bread = fit["bread"]
        fit["result"] = (fit["beta"], bread @ own[("meat", o)] @ bread)


def _records(
    state: list[_Grouping],
    controls: list[str],
    cdd_by: str | None,
    outcomes: list[str],
    has_scores: bool,
    min_group_size: int,
) -> tuple[list[MetricRecord], list[str]]:
    out: list[MetricRecord] = []
    warnings: list[str] = []
    for g in state:
        ref = g.reference
        if ref is not None:
            for o in outcomes:
                on = {k[2]: v for k, v in g.census.items() if k[0] == "on" and k[1] == o}
                sizes = {grp: (int(v[0]), float(v[1])) for grp, v in sorted(on.items())}
                fit = g.outcome_fits.get(o, {})
                result = fit.get("result", "no fit")
                rows = sum(n for n, _ in sizes.values())
                missing = int(g.census.get(("omiss", o), 0))
                recs, notes = assemble_adjusted_mean(
                    g.name, o, ref, sizes, result, rows, missing, min_group_size=min_group_size
                )
                out += recs
                warnings += notes
        if not controls:
            continue
        if ref is not None:
            estimates: dict[str, Estimate] | str | None = None
            if g.logit is not None:
                estimates = g.logit.problem if g.logit.problem else g.logit.estimates
            used = sum(n for n, _ in g.sizes.values())
            excluded = Excluded(used, int(g.census.get(("miss",), 0)), int(g.census["unk"]))
            recs, notes = assemble_adjusted(
                g.name,
                ref,
                g.sizes,
                g.degenerate,
                estimates,
                excluded,
                min_group_size=min_group_size,
            )
            out += recs
            warnings += notes
            moments = g.census.get("rmom", {})
            if has_scores and ref in moments:
                rows = sum(m.n for m in moments.values())
                out += smd_from_moments(g.name, moments, ref, rows, min_group_size=min_group_size)
            for o in outcomes:
                moments = g.census.get(("ormom", o), {})
                if ref in moments:
                    rows = sum(m.n for m in moments.values())
                    out += smd_from_moments(
                        g.name,
                        moments,
                        ref,
                        rows,
                        min_group_size=min_group_size,
                        metric=residual_metric(o),
                    )
        if cdd_by is not None:
            counts = {k[1:]: v for k, v in g.census.items() if k[0] == "cdd"}
            out += cdd_from_counts(g.name, counts)
    return out, warnings


def chunk_view(batch: DecisionBatch, groupings: list[Grouping]) -> ChunkView:
    """The view of one chunk (or partition) of the audited decisions."""
    assert batch.decisions is not None
    labels = {
        g.name: np.asarray(batch.group_labels(list(g.attributes)).to_numpy()).astype(str)
        for g in groupings
    }
    controls = batch.controls.reset_index(drop=True) if batch.controls is not None else None
    outcomes = batch.outcomes.reset_index(drop=True) if batch.outcomes is not None else None
    scores = np.asarray(batch.scores, dtype=np.float64) if batch.scores is not None else None
    y = np.asarray(batch.decisions, dtype=np.float64)
    return ChunkView(labels, y, controls, scores, outcomes)
