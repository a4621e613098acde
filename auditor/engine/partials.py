"""What one partition of the decisions contributes: counts and sums, never rows.

Each function takes one partition's rows as a pandas frame (index: the rows' global
positions, see :class:`Layout`) and returns a small, mergeable summary; the Spark
engine runs them inside ``mapInArrow`` and merges the results on its driver
(:mod:`auditor.engine.spark`). They are plain functions of a frame, so the tests run
them on slices of a frame too.

- :func:`narrow_check`: per-partition validation, and the values the whole-data checks
  need (outcome values, protected values, row count);
- :func:`prepare` (in the scoring pass): the score range and first radix digit, the
  explained-and-known rows per attribute, and the :func:`census` of every feature
  (dtype, a few distinct values, category counts, first radix digit);
- :func:`order_histograms`: radix-selection histograms of the audited scores (median)
  and of feature values (slice-bin quantiles), in the same passes;
- :func:`measured`: the decision cells (group counts, strata, weighted sums) and the
  model/record disagreement count, with the :func:`feature_tables` of the same rows:
  slice tables, proxy-score moments/crosstabs and per-(fold, category, group) counts
  for the categorical proxy AUCs;
- :func:`stacked_rows` / :func:`ranked_sums`: per-group rank sums of numeric features
  (the proxy AUCs): the one step that moves feature values between executors, gathered
  by feature.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from auditor.batch import UNKNOWN, DecisionBatch
from auditor.data import decisions_from_frame
from auditor.engine.statistics import decide, decision_cells
from auditor.errors import DataValidationError
from auditor.metrics.cells import DecisionCells
from auditor.metrics.counts import ScoreGrid
from auditor.metrics.gap import CATEGORICAL_MAX
from auditor.metrics.order import (
    Histogram,
    Keys,
    Probe,
    answer,
    digit_histogram,
    first_digit_histogram,
    float_keys,
)
from auditor.metrics.proxies import coded_moments, crosstab_counts
from auditor.metrics.slices import BinPlan, bin_codes, category_counts, is_numeric, slice_counts
from auditor.metrics.text import as_text
from auditor.spec import AuditSpec

if TYPE_CHECKING:
    import pyarrow as pa

POS = "__auditor_pos"  # Spark's monotonically increasing id of each input row
SCORE = "__auditor_score"  # the model's score, added by the wide pass; the score's probes
SUMS = "__auditor_sums"  # the wide pass's summary (pickled, on the first row of each batch)
PART_BITS = 33  # monotonically_increasing_id: partition index above bit 33
SLICE_CATEGORIES = 8  # slice search's max_categories


@dataclass(frozen=True)
class Layout:
    """Where each partition's rows sit in the whole: offsets by partition index."""

    offsets: dict[int, int] | None  # None: not known yet (positions within the partition)
    explain_rows: np.ndarray | None  # sorted global positions explained (None: all)

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """Global positions of rows from their Spark ids."""
        ids = np.asarray(ids, dtype=np.int64)
        if self.offsets is None:
            return ids & ((1 << PART_BITS) - 1)
        parts, inverse = np.unique(ids >> PART_BITS, return_inverse=True)
        base = np.array([self.offsets[int(p)] for p in parts], dtype=np.int64)
        return base[inverse] + (ids & ((1 << PART_BITS) - 1))

    def ids(self, positions: np.ndarray) -> np.ndarray:
        """Spark ids of rows from their global positions."""
        assert self.offsets is not None
        parts = sorted(self.offsets)
        starts = np.array([self.offsets[p] for p in parts], dtype=np.int64)
        where = np.searchsorted(starts, positions, side="right") - 1
        part = np.array(parts, dtype=np.int64)[where]
        return (part << PART_BITS) + (positions - starts[where])

    def explained(self, positions: np.ndarray) -> np.ndarray:
        """Whether each row is among the explained rows."""
        rows = self.explain_rows
        if rows is None:
            return np.ones(len(positions), dtype=bool)
        if not len(rows):
            return np.zeros(len(positions), dtype=bool)
        idx = np.minimum(np.searchsorted(rows, positions), len(rows) - 1)
        return np.asarray(rows[idx] == positions)


@dataclass(frozen=True)
class Job:
    """What every pass needs: the spec (narrow: no features) and the data's layout."""

    spec: AuditSpec
    narrow_spec: AuditSpec
    layout: Layout
    has_model: bool
    median: float | None = None
    grid: ScoreGrid | None = None


def narrow_spec(spec: AuditSpec) -> AuditSpec:
    """The spec without features: what the per-decision checks read (controls and
    continuous outcomes included: their passes build the partition's batch from it)."""
    cols = spec.columns.model_copy(update={"features": []})
    return spec.model_copy(update={"columns": cols})


def _indexed(frame: pd.DataFrame, layout: Layout) -> pd.DataFrame:
    frame = frame.copy()
    frame.index = pd.Index(layout.positions(frame[POS].to_numpy(np.int64)))
    return frame


@dataclass
class NarrowCheck:
    """One partition's checks and the values the whole-data checks need."""

    rows: int = 0
    part: int = -1  # the Spark partition (from the row ids); -1: no rows
    problems: list[str] = field(default_factory=list)
    outcomes: dict[str, set[Any]] = field(default_factory=dict)
    protected: dict[str, set[str]] = field(default_factory=dict)
    # the partition's first and last id where its ids are integers, strictly increasing
    # (so unique within it); None: not known to be
    id_range: tuple[int, int] | None = None

    def merge(self, other: NarrowCheck) -> NarrowCheck:
        """Both partitions' findings."""
        for k, v in other.outcomes.items():
            self.outcomes.setdefault(k, set()).update(v)
        for k, p in other.protected.items():
            self.protected.setdefault(k, set()).update(p)
        self.problems += [p for p in other.problems if p not in self.problems]
        self.rows += other.rows
        return self


def narrow_check(frame: pd.DataFrame, job: Job, path: str) -> NarrowCheck:
    """Validate one partition's per-decision columns (global row numbers in errors)."""
    from pathlib import Path

    out = NarrowCheck(rows=len(frame))
    if not len(frame):
        return out
    out.part = int(frame[POS].iloc[0]) >> PART_BITS
    frame = _indexed(frame, job.layout)
    cols = job.spec.columns
    out.id_range = increasing_ids(frame[cols.id]) if cols.id in frame.columns else None
    for name in (cols.decision, cols.label):
        if name is not None:
            out.outcomes[name] = set(frame[name].dropna().unique().tolist()[:1000])
    try:
        batch = decisions_from_frame(job.narrow_spec, frame, Path(path), part=True)
    except DataValidationError as exc:
        out.problems = list(exc.problems) or [str(exc)]
        return out
    out.protected = {
        str(a): set(batch.protected[a].unique().tolist()) for a in batch.protected.columns
    }
    return out


def increasing_ids(ids: pd.Series) -> tuple[int, int] | None:
    """(first, last) of integer ids that strictly increase (none missing), else None."""
    if not len(ids) or not pd.api.types.is_integer_dtype(ids.dtype) or bool(ids.hasnans):
        return None
    v = ids.to_numpy(dtype=np.int64)
    if not bool(np.all(v[1:] > v[:-1])):
        return None
    return int(v[0]), int(v[-1])


def distinct_ids(parts: list[NarrowCheck]) -> bool:
    """Whether the partitions' ids are known to be distinct without grouping them: each
    partition's integer ids strictly increase and the partitions' ranges do not overlap."""
    ranges = [p.id_range for p in parts if p.rows]
    if any(r is None for r in ranges):
        return False
    spans = sorted(r for r in ranges if r is not None)
    return all(b[0] > a[1] for a, b in pairwise(spans))


def audited(frame: pd.DataFrame, job: Job) -> tuple[DecisionBatch, int]:
    """The partition's batch as the audit measures it, and model/record disagreements.

    The one decision rule of every engine (:func:`auditor.engine.statistics.decide`).
    """
    frame = _indexed(frame, job.layout)
    batch = decisions_from_frame(job.narrow_spec, frame, job.spec.resolve("."), part=True)
    if not job.has_model:
        return batch, 0
    scores = frame[SCORE].to_numpy(np.float64)
    decisions, kept, disagree = decide(job.spec, batch.decisions, batch.scores, scores)
    return batch.with_outcomes(decisions, kept), disagree


def audited_scores(frame: pd.DataFrame, job: Job) -> np.ndarray:
    """The scores the audit measures (recorded ones win; checked by the earlier pass)."""
    column = job.spec.columns.score
    if column is not None:
        return np.asarray(pd.to_numeric(frame[column], errors="coerce"), dtype=np.float64)
    return frame[SCORE].to_numpy(np.float64)


def order_histograms(
    frame: pd.DataFrame, job: Job, probes: list[Probe]
) -> dict[Probe, Histogram | Keys]:
    """Radix-selection histograms, or a few rows' keys
    (:func:`~auditor.metrics.order.answer`): the audited scores (probes of :data:`SCORE`)
    and feature values (non-NaN; slice-bin quantiles), so both selections share passes."""
    keys: dict[str, np.ndarray] = {}
    out: dict[Probe, Histogram | Keys] = {}
    for p in probes:
        if p.column not in keys:
            if p.column == SCORE:
                keys[p.column] = float_keys(audited_scores(frame, job))
            else:
                v = frame[p.column].to_numpy(np.float64)
                keys[p.column] = float_keys(v[~np.isnan(v)])
        out[p] = answer(keys[p.column], p)
    return out


@dataclass
class Prepared:
    """What the scoring pass learns of its rows for the later passes (mergeable)."""

    census: Census
    explained_known: dict[str, int]  # explained rows with a known value, per attribute
    ranked_values: dict[str, set[str]]  # known values among explained rows, per attribute
    score_range: tuple[float, float] | None = None  # smallest and largest audited score
    score_first: Histogram | None = None  # the scores' first radix digit

    def merge(self, other: Prepared) -> Prepared:
        """Both row sets' summaries."""
        self.census.merge(other.census)
        for a, n in other.explained_known.items():
            self.explained_known[a] = self.explained_known.get(a, 0) + n
        for a, v in other.ranked_values.items():
            self.ranked_values.setdefault(a, set()).update(v)
        if other.score_range is not None:
            lo, hi = other.score_range
            if self.score_range is not None:
                lo, hi = min(lo, self.score_range[0]), max(hi, self.score_range[1])
            self.score_range = (lo, hi)
        if other.score_first is not None:
            mine = self.score_first
            self.score_first = other.score_first if mine is None else mine.merge(other.score_first)
        return self


def prepare(
    frame: pd.DataFrame, job: Job, protected: pd.DataFrame, scores: np.ndarray | None
) -> Prepared:
    """One batch's :class:`Prepared`: ``protected`` holds its normalised protected values,
    ``scores`` the audited scores (None: the audit has none)."""
    explained = job.layout.explained(_pos(frame, job))
    counts, values = {}, {}
    for attr in job.spec.protected:
        col = protected[attr].to_numpy()
        known = explained & (col != UNKNOWN)
        counts[attr] = int(known.sum())
        values[attr] = set(col[known].tolist())
    out = Prepared(census(frame, job, protected), counts, values)
    if scores is not None and len(scores):
        out.score_range = (float(np.min(scores)), float(np.max(scores)))
        out.score_first = digit_histogram(float_keys(scores), Probe(SCORE, 0, 0))
    return out


def prepare_frame(frame: pd.DataFrame, job: Job) -> Prepared:
    """:func:`prepare` for an audit without a model (scores, if any, recorded)."""
    from auditor.data import protected_frame

    protected, _ = protected_frame(frame, job.spec)  # checked by the first pass
    column = job.spec.columns.score
    scores = None if column is None else audited_scores(frame, job)
    return prepare(frame, job, protected, scores)


@dataclass
class CellsPart:
    """One partition's decision cells, disagreements and feature tables."""

    cells: DecisionCells
    disagree: int
    tables: Tables | None


def measured(frame: pd.DataFrame, job: Job, plan: TablePlan | None, part: int) -> CellsPart:
    """The partition's cells (with the full sample's score median and grid) and, given a
    plan, its feature tables."""
    batch, disagree = audited(frame, job)
    cells = decision_cells(job.spec, batch, median=job.median, grid=job.grid)
    tables = feature_tables(frame, job, plan, part, batch) if plan is not None else None
    return CellsPart(cells, disagree, tables)


def _pos(frame: pd.DataFrame, job: Job) -> np.ndarray:
    return job.layout.positions(frame[POS].to_numpy(np.int64))


@dataclass
class Census:
    """Per feature: dtype, non-NaN rows, a few distinct values, category counts."""

    numeric: dict[str, bool] = field(default_factory=dict)
    valid: dict[str, int] = field(default_factory=dict)
    distinct: dict[str, set[float] | None] = field(default_factory=dict)  # None: > 8
    categories: dict[str, dict[str, tuple[int, int]] | None] = field(default_factory=dict)
    ranked_distinct: dict[tuple[str, str], set[str] | None] = field(default_factory=dict)
    first: dict[str, Histogram] = field(default_factory=dict)  # first radix digit

    def merge(self, other: Census) -> Census:
        """Both partitions' census (a distinct set grown past its cap becomes None)."""
        for f, v in other.numeric.items():
            self.numeric[f] = self.numeric.get(f, v) and v
        for f, n in other.valid.items():
            self.valid[f] = self.valid.get(f, 0) + n
        for f, d in other.distinct.items():
            self.distinct[f] = _union(self.distinct.get(f, set()), d, SLICE_CATEGORIES)
        for f, c in other.categories.items():
            mine = self.categories.get(f, {})
            if mine is None or c is None:
                self.categories[f] = None
                continue
            merged = dict(mine)
            for value, (n, first) in c.items():
                m = merged.get(value)
                merged[value] = (n, first) if m is None else (m[0] + n, min(m[1], first))
            self.categories[f] = merged
        for f, h in other.first.items():
            self.first[f] = self.first[f].merge(h) if f in self.first else h
        for k, r in other.ranked_distinct.items():
            self.ranked_distinct[k] = _union(self.ranked_distinct.get(k, set()), r, CATEGORICAL_MAX)
        return self


def _union(a: set[Any] | None, b: set[Any] | None, cap: int) -> set[Any] | None:
    if a is None or b is None:
        return None
    u = a | b
    return None if len(u) > cap else u


def census(frame: pd.DataFrame, job: Job, protected: pd.DataFrame | None) -> Census:
    """The partition's census of every feature (see :class:`Census`)."""
    out = Census()
    offset = int(_pos(frame, job)[0]) if len(frame) else 0
    explained = job.layout.explained(_pos(frame, job))
    known_rows = {}  # per attribute: explained rows with a known value (once, not per feature)
    if protected is not None:
        for attr in job.spec.protected:
            known_rows[attr] = explained & (protected[attr].to_numpy(dtype=object) != UNKNOWN)
    for f in job.spec.columns.features:
        col = frame[f].reset_index(drop=True)
        numeric = is_numeric(col)
        out.numeric[f] = numeric
        values = col.to_numpy(np.float64) if numeric else None
        distinct = None
        codes = uniques = nan = None
        if values is not None:
            nan = np.isnan(values)
            ok = values[~nan]
            out.valid[f] = len(ok)
            # one sort for the distinct values of the column, their counts (the first
            # radix digit) and every subset below
            uniques, counts = np.unique(ok, return_counts=True)
            distinct = set(uniques.tolist()) if len(uniques) <= SLICE_CATEGORIES else None
            first = first_digit_histogram(uniques, counts)
            if first is None:
                first = digit_histogram(float_keys(ok), Probe(f, 0, 0))
            out.first[f] = first
        out.distinct[f] = distinct
        # category counts only where the feature can be a category feature
        out.categories[f] = (
            category_counts(col, offset) if not numeric or distinct is not None else None
        )
        for attr, known in known_rows.items():
            if values is None or uniques is None or nan is None:
                out.ranked_distinct[(f, attr)] = set()  # categorical whatever its count
                continue
            has_nan = bool((known & nan).any())
            if bool((known | nan).all()):  # every value is on a known row: all present
                present = np.ones(len(uniques), dtype=bool)
            else:
                if codes is None:  # each row's distinct value (np.unique's inverse)
                    codes = np.full(len(values), -1, dtype=np.int64)
                    codes[~nan] = np.searchsorted(uniques, values[~nan])
                present = np.bincount(codes[known & ~nan], minlength=len(uniques)) > 0
            many = int(np.count_nonzero(present)) + has_nan > CATEGORICAL_MAX
            out.ranked_distinct[(f, attr)] = (
                None
                if many
                else {repr(v) for v in uniques[present].tolist()} | ({"nan"} if has_nan else set())
            )
    return out


@dataclass
class Tables:
    """Slice tables, proxy-score statistics and categorical proxy-AUC counts."""

    slices: dict[tuple[str, str], dict[str, tuple[np.ndarray, np.ndarray]]] = field(
        default_factory=dict
    )
    moments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    crosstabs: dict[tuple[str, str], dict[tuple[str, str], int]] = field(default_factory=dict)
    shares: dict[tuple[str, str], dict[tuple[int, str, str], int]] = field(default_factory=dict)
    # the same proxy statistics against the ``geography`` columns, keyed (column, feature)
    geo_moments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    geo_crosstabs: dict[tuple[str, str], dict[tuple[str, str], int]] = field(default_factory=dict)

    def merge(self, other: Tables) -> Tables:
        """Both partitions' tables, added."""
        for k, table in other.slices.items():
            mine = self.slices.setdefault(k, {})
            for g, (n, x) in table.items():
                mine[g] = (mine[g][0] + n, mine[g][1] + x) if g in mine else (n, x)
        for mine_m, theirs_m in (
            (self.moments, other.moments),
            (self.geo_moments, other.geo_moments),
        ):
            for k, moments in theirs_m.items():
                mm = mine_m.setdefault(k, {})
                for g, m in moments.items():
                    mm[g] = mm[g].merge(m) if g in mm else m
        for mine_c, theirs_c in (
            (self.crosstabs, other.crosstabs),
            (self.geo_crosstabs, other.geo_crosstabs),
        ):
            for k, counts in theirs_c.items():
                ct = mine_c.setdefault(k, {})
                for key, c in counts.items():
                    ct[key] = ct.get(key, 0) + c
        for k, share_counts in other.shares.items():
            sh = self.shares.setdefault(k, {})
            for cell, c in share_counts.items():
                sh[cell] = sh.get(cell, 0) + c
        return self


@dataclass(frozen=True)
class TablePlan:
    """What :func:`feature_tables` counts: bin plans, and which proxy AUCs use shares."""

    bins: dict[str, BinPlan]
    share_features: dict[str, list[str]]  # attribute -> features scored by category share
    fold_offsets: dict[int, dict[str, int]]  # partition -> attribute -> explained-known before


def feature_tables(
    frame: pd.DataFrame, job: Job, plan: TablePlan, part: int, batch: DecisionBatch
) -> Tables:
    """The partition's slice tables, proxy statistics and share-AUC counts (``batch``: its
    rows as :func:`audited` reads them)."""
    out = Tables()
    if not len(frame):
        return out
    assert batch.decisions is not None
    explained = job.layout.explained(_pos(frame, job))
    coded = {a: _group_codes(batch.protected[a]) for a in job.spec.protected}
    # per attribute, once (an Arrow-backed column converts slowly)
    labels = {a: batch.protected[a].to_numpy(dtype=object) for a in job.spec.protected}
    known_rows = {a: explained & (labels[a] != UNKNOWN) for a in job.spec.protected}
    geo = batch.geography if batch.geography is not None else pd.DataFrame()
    geo_coded = {c: _group_codes(geo[c]) for c in geo.columns}
    geo_labels = {c: geo[c].to_numpy(dtype=object) for c in geo.columns}
    for f in job.spec.columns.features:
        col = frame[f].reset_index(drop=True)
        bplan = plan.bins.get(f)
        codes = bin_codes(bplan, col) if bplan is not None else None
        values = col.to_numpy(np.float64) if is_numeric(col) else None
        for gcol, (gc, gn) in geo_coded.items():  # every row, as in memory
            if values is not None:
                out.geo_moments[(gcol, f)] = coded_moments(values, gc, gn)
            else:
                out.geo_crosstabs[(gcol, f)] = crosstab_counts(col, geo_labels[gcol])
        for attr in job.spec.protected:
            g_codes, g_names = coded[attr]
            if codes is not None and bplan is not None:
                out.slices[(attr, f)] = slice_counts(
                    g_codes, g_names, codes, len(bplan.labels), batch.decisions
                )
            g = labels[attr]
            if values is not None:
                out.moments[(attr, f)] = coded_moments(values, g_codes, g_names)
            else:
                out.crosstabs[(attr, f)] = crosstab_counts(col, g)
            if f in plan.share_features.get(attr, []):
                known = known_rows[attr]
                start = plan.fold_offsets[part][attr]
                fold = (start + np.arange(int(known.sum()))) % 5
                key = pd.DataFrame(
                    {"fold": fold, "cat": as_text(col[known]).to_numpy(), "g": g[known]}
                )
                sizes = key.groupby(["fold", "cat", "g"], sort=False).size()
                index = sizes.index.to_list()
                out.shares[(attr, f)] = {
                    (int(a), str(b), str(c)): int(n)
                    for (a, b, c), n in zip(index, sizes.to_numpy().tolist(), strict=True)
                }
    return out


RANK_SUMMARY = -1  # the feature index of the rows that carry a partition's cells instead


def stacked_rows(frame: pd.DataFrame, job: Job, features: list[str]) -> pa.RecordBatch:
    """(feature index, values, combination codes, combinations) of the partition's
    explained rows' non-NaN values of each numeric feature ranked for the proxy AUCs.

    One row per feature (few large rows shuffle far cheaper than one row per value): its
    values and each value's combination of protected values as bytes, the combinations
    coded within this partition (``k``: the pickled list of them), so the rows can leave
    in the pass that counts the cells, before the merged cells name every combination.
    """
    import pyarrow as pa

    from auditor.data import protected_frame

    protected, _ = protected_frame(frame, job.spec)  # checked by the first pass
    attrs = list(job.spec.protected)
    if attrs:
        rows = pd.MultiIndex.from_arrays([protected[a] for a in attrs])
        codes, uniques = pd.factorize(rows)
        combo = np.asarray(codes, dtype=np.int32)
        combos = [tuple(str(v) for v in c) for c in uniques]
    else:
        combo, combos = np.zeros(len(frame), dtype=np.int32), [()]
    keep = job.layout.explained(_pos(frame, job))
    fis, vs, cs = [], [], []
    for i, f in enumerate(features):
        v = frame[f].to_numpy(np.float64)
        ok = keep & ~np.isnan(v)
        fis.append(i)
        vs.append(np.ascontiguousarray(v[ok]).tobytes())
        cs.append(np.ascontiguousarray(combo[ok]).tobytes())
    named = pickle.dumps(combos)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(fis, type=pa.int32()),
            pa.array(vs, pa.binary()),
            pa.array(cs, pa.binary()),
            pa.array([named] * len(fis), pa.binary()),
        ],
        names=["fi", "v", "c", "k"],
    )


def ranked_sums(
    frame: pd.DataFrame, attributes: list[str]
) -> dict[int, dict[str, tuple[int, dict[str, tuple[int, float]]]]]:
    """Per feature index held by this task (all its values, from :func:`stacked_rows`):
    per attribute, the rows with a known value and per group (members, sum of their
    ranks, ties averaged)."""
    out = {}
    fi_all = frame["fi"].to_numpy()
    for fi in np.unique(fi_all[fi_all != RANK_SUMMARY]).tolist():
        rows = np.flatnonzero(fi_all == fi).tolist()
        values = np.concatenate([np.frombuffer(frame["v"].iloc[r], dtype=np.float64) for r in rows])
        chunks = [
            (pickle.loads(frame["k"].iloc[r]), np.frombuffer(frame["c"].iloc[r], dtype=np.int32))
            for r in rows
        ]
        per_attr = {}
        every_row: np.ndarray | None = None  # the ranks of all values, shared (as in memory)
        for k, a in enumerate(attributes):
            names, group = _known_groups(chunks, k)
            keep = group >= 0
            if keep.all():
                if every_row is None:
                    every_row = stats.rankdata(values) if len(values) else np.empty(0)
                ranks = every_row
            else:
                ranks = stats.rankdata(values[keep]) if keep.any() else np.empty(0)
            n = np.bincount(group[keep], minlength=len(names))
            # ranks are multiples of 0.5 and their sums stay far below 2**53: exact
            total = np.bincount(group[keep], weights=ranks, minlength=len(names))
            per = {names[i]: (int(n[i]), float(total[i])) for i in range(len(names)) if n[i]}
            per_attr[a] = (int(keep.sum()), per)
        out[int(fi)] = per_attr
    return out


def _known_groups(
    chunks: list[tuple[list[tuple[str, ...]], np.ndarray]], k: int
) -> tuple[list[str], np.ndarray]:
    """The known groups of the ``k``-th attribute among the chunks' combinations, sorted,
    and each row's group as a small integer (-1: unknown), so that the rows are counted
    with bincount rather than compared as strings."""
    names = sorted({c[k] for combos, _ in chunks for c in combos if c[k] != UNKNOWN})
    where = {g: i for i, g in enumerate(names)}
    coded = [
        np.array([where.get(c[k], -1) for c in combos], dtype=np.int64)[codes]
        for combos, codes in chunks
    ]
    return names, np.concatenate(coded) if coded else np.empty(0, dtype=np.int64)


def _group_codes(groups: pd.Series) -> tuple[np.ndarray, list[str]]:
    codes, names = pd.factorize(groups.astype(str), sort=True)
    return codes.astype(np.int64), [str(v) for v in names]
