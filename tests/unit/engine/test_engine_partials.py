"""The mergeable pieces the Spark engine's partitions return give the whole-data numbers."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import pytest

from auditor.batch import UNKNOWN
from auditor.metrics.cells import DecisionCells
from auditor.metrics.counts import RowKeys, count_codes, group_codes
from auditor.metrics.gap import auc, share_auc
from auditor.metrics.order import (
    Histogram,
    Keys,
    Probe,
    answer,
    digit_histogram,
    first_digit_histogram,
    float_keys,
    median_of,
    merge_answers,
    nanquantile_of,
    quantile_ranks,
    select,
)
from auditor.metrics.proxies import (
    correlation_ratio_of,
    cramers_v_of,
    crosstab_counts,
    group_moments,
)
from auditor.metrics.weighted import WeightedSums
from tests._proxy_oracle import correlation_ratio, cramers_v, out_of_fold_share


def _columns(kind: int, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == 0:
        return rng.standard_normal(n)
    if kind == 1:
        return rng.integers(-3, 4, n).astype(float)  # heavy ties
    if kind == 2:
        return np.round(rng.uniform(-1e6, 1e6, n), 2)
    return rng.choice([0.0, 1e-300, -5.5, 7.25, -1e300], n)


@pytest.mark.parametrize("kind", [0, 1, 2, 3])
def test_radix_selection_equals_numpy(kind: int) -> None:
    rng = np.random.default_rng(kind)
    for _ in range(25):
        n = int(rng.integers(1, 2000))
        values = _columns(kind, n, rng)
        parts = np.array_split(values, int(rng.integers(1, 6)))
        passes: list[int] = []
        q = np.linspace(0, 1, 5)
        ranks = [*quantile_ranks(n, q), (n - 1) // 2, n // 2]
        found = select({"c": ranks}, partial(_histograms, parts, passes))
        assert len(passes) <= 4  # 16 bits a pass
        got = nanquantile_of(n, q, partial(_at, found))
        assert np.array_equal(got, np.nanquantile(values, q))
        assert median_of(n, partial(_at, found)) == np.median(values)


@pytest.mark.parametrize("kind", [0, 1, 2, 3])
@pytest.mark.parametrize(("fetch_rows", "budget"), [(0, 0), (300, 700), (1 << 17, 1 << 22)])
def test_radix_selection_fetching_few_rows_equals_numpy(
    kind: int, fetch_rows: int, budget: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Digits with few rows are fetched whole (the next pass returns their keys) rather
    than split again: the same values, in fewer passes; none fetched, some (the budget
    runs out within a pass) or all."""
    import auditor.metrics.order as order

    monkeypatch.setattr(order, "FETCH_ROWS", fetch_rows)
    monkeypatch.setattr(order, "FETCH_BUDGET", budget)
    rng = np.random.default_rng(20 + kind)
    for _ in range(15):
        n = int(rng.integers(1, 3000))
        values = _columns(kind, n, rng)
        other = _columns((kind + 1) % 4, n, rng)
        parts = np.array_split(np.arange(n), int(rng.integers(1, 6)))
        q = np.linspace(0, 1, 5)
        ranks = [*quantile_ranks(n, q), (n - 1) // 2, n // 2]
        passes: list[list[Probe]] = []
        found = select(
            {"c": ranks, "d": ranks}, partial(_two_columns, values, other, parts, passes)
        )
        fetched = any(p.fetch for probes in passes for p in probes)
        assert fetched == (fetch_rows > 0 and len(passes) > 1)
        for column, data in (("c", values), ("d", other)):
            got = nanquantile_of(n, q, partial(_column_at, found, column))
            assert np.array_equal(got, np.nanquantile(data, q))
        # the first digit, then every wanted digit fetched in the second pass
        assert len(passes) <= (2 if fetch_rows >= n and budget >= 10 * n else 4)


def _column_at(found: dict[tuple[str, int], float], column: str, rank: int) -> float:
    return found[(column, rank)]


def _two_columns(
    c: np.ndarray,
    d: np.ndarray,
    parts: list[np.ndarray],
    passes: list[list[Probe]],
    probes: list[Probe],
) -> dict[Probe, Histogram | Keys]:
    passes.append(probes)
    out: dict[Probe, Histogram | Keys] = {}
    for p in probes:
        for rows in parts:
            h = answer(float_keys((c if p.column == "c" else d)[rows]), p)
            out[p] = merge_answers(out[p], h) if p in out else h
    return out


@pytest.mark.parametrize("kind", [0, 1, 2, 3])
def test_first_digit_from_distinct_values_equals_sorting_the_rows(kind: int) -> None:
    rng = np.random.default_rng(10 + kind)
    for _ in range(25):
        values = _columns(kind, int(rng.integers(1, 2000)), rng)
        values = np.r_[values, np.inf, -np.inf] if kind == 2 else values
        uniques, counts = np.unique(values, return_counts=True)
        got = first_digit_histogram(uniques, counts)
        if (values == 0).any():  # -0.0 and 0.0 are one distinct value but two keys
            assert got is None
            continue
        assert got is not None
        want = digit_histogram(float_keys(values), Probe("c", 0, 0))
        for name in ("digits", "counts", "mins", "maxs"):
            assert np.array_equal(getattr(got, name), getattr(want, name))
            assert getattr(got, name).dtype == getattr(want, name).dtype


def test_ids_known_distinct_only_from_increasing_disjoint_ranges() -> None:
    from auditor.engine.partials import NarrowCheck, distinct_ids, increasing_ids

    def part(ids: list[int] | pd.Series) -> NarrowCheck:
        series = ids if isinstance(ids, pd.Series) else pd.Series(ids, dtype=np.int64)
        return NarrowCheck(rows=len(series), id_range=increasing_ids(series))

    assert distinct_ids([part([0, 1, 5]), part([6, 9]), NarrowCheck()])
    assert distinct_ids([part([10, 11]), part([0, 3])])  # partitions in any order
    assert not distinct_ids([part([0, 5]), part([5, 9])])  # an id in two partitions
    assert not distinct_ids([part([0, 4]), part([2, 9])])  # overlapping ranges
    assert not distinct_ids([part([0, 1, 1])])  # repeated within a partition
    assert not distinct_ids([part([3, 1])])  # not increasing: unknown, grouped instead
    assert not distinct_ids([part(pd.Series(["a", "b"]))])  # not integers
    assert not distinct_ids([part(pd.Series([1, None], dtype="Int64"))])  # missing id


def _histograms(
    parts: list[np.ndarray], passes: list[int], probes: list[Probe]
) -> dict[Probe, Histogram | Keys]:
    passes.append(len(probes))
    out: dict[Probe, Histogram | Keys] = {}
    for p in probes:
        for part in parts:
            h = answer(float_keys(part), p)
            out[p] = merge_answers(out[p], h) if p in out else h
    return out


def _at(found: dict[tuple[str, int], float], rank: int) -> float:
    return found[("c", rank)]


def test_share_auc_equals_out_of_fold_rank_auc() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(30, 2000))
        column = pd.Series(rng.integers(0, int(rng.integers(1, 40)), n)).astype(str)
        labels = rng.integers(0, 3, n)
        codes, uniques = pd.factorize(column)
        fold = np.arange(n) % 5
        for g in range(3):
            member = labels == g
            expected = auc(out_of_fold_share(codes, member), member)
            n_in = np.zeros((5, len(uniques)), dtype=np.int64)
            m_in = np.zeros((5, len(uniques)))
            np.add.at(n_in, (fold, codes), 1)
            np.add.at(m_in, (fold, codes), member.astype(float))
            assert share_auc(n_in, m_in) == expected  # exact, not approximately


def test_proxy_statistics_merge_across_partitions() -> None:
    rng = np.random.default_rng(2)
    n = 3000
    groups = rng.choice(["a", "b", UNKNOWN], n)
    values = rng.normal(size=n) + (groups == "b")
    values[rng.uniform(size=n) < 0.05] = np.nan
    category = pd.Series(rng.choice(list("pqrst"), n))
    moments: dict = {}
    crosstab: dict = {}
    for part in np.array_split(np.arange(n), 4):
        for g, m in group_moments(values[part], groups[part]).items():
            moments[g] = moments[g].merge(m) if g in moments else m
        for key, c in crosstab_counts(category.iloc[part], groups[part]).items():
            crosstab[key] = crosstab.get(key, 0) + c
    known = groups != UNKNOWN
    eta = correlation_ratio(values[known], groups[known])
    assert correlation_ratio_of(moments) == pytest.approx(eta, rel=1e-12)
    v = cramers_v(category.to_numpy()[known], groups[known])
    assert cramers_v_of(crosstab) == pytest.approx(v, rel=1e-12)
    constant = np.full(n, 0.1)
    assert correlation_ratio_of(group_moments(constant, groups)) == 0.0


def test_decision_cells_of_partitions_merge_to_the_whole() -> None:
    rng = np.random.default_rng(3)
    n = 4000
    protected = pd.DataFrame(
        {"sex": rng.choice(["f", "m", UNKNOWN], n), "race": rng.choice(["x", "y", "z"], n)}
    )
    decisions = rng.integers(0, 2, n)
    labels = rng.integers(0, 2, n)
    scores = rng.uniform(size=n)
    strata = rng.choice(["s1", "s2"], n)
    median = float(np.median(scores))

    def cells(rows: np.ndarray) -> DecisionCells:
        keys = RowKeys.build(
            decisions[rows],
            above_median=scores[rows] > median,
            labels=labels[rows],
            scores=scores[rows],
        )
        return DecisionCells.build(
            protected.iloc[rows].reset_index(drop=True),
            keys,
            has_scores=True,
            decisions=decisions[rows],
            strata=strata[rows],
        )

    parts = [cells(rows) for rows in np.array_split(rng.permutation(n), 5)]
    merged = parts[0]
    for p in parts[1:]:
        merged = merged.merge(p)
    whole = cells(np.arange(n))
    for attrs in (("sex",), ("race",), ("sex", "race")):
        codes, names = group_codes(protected, attrs, UNKNOWN)
        keys = RowKeys.build(decisions, above_median=scores > median, labels=labels, scores=scores)
        direct = count_codes(codes, names, rows=keys)
        got = merged.group_counts(attrs)
        assert sorted(got) == sorted(direct)
        for g, c in direct.items():
            m = got[g]
            assert (m.n, m.favorable, m.above_median, m.true_positives) == (
                c.n,
                c.favorable,
                c.above_median,
                c.true_positives,
            )
            assert m.score_hist == c.score_hist
            assert m.score_sum == pytest.approx(c.score_sum, rel=1e-12)
        s_whole = whole.strata_counts(attrs)
        s_merged = merged.strata_counts(attrs)
        assert s_whole is not None
        assert s_merged is not None
        assert s_whole[0] == s_merged[0]
        assert np.array_equal(s_whole[1], s_merged[1])
        assert np.array_equal(s_whole[2], s_merged[2])
    assert merged.n == n
    assert merged.favorable == int(decisions.sum())


def test_weighted_sums_merge_groups_seen_in_one_partition_only() -> None:
    a = WeightedSums.of(
        pd.DataFrame({"f & x": [1.0, 0.0], "f & y": [0.0, 1.0]}),
        np.array([1, 0]),
        order=[("f", 0), ("f", 1)],
    )
    b = WeightedSums.of(
        pd.DataFrame({"m & x": [0.5], "f & x": [0.5]}),
        np.array([1]),
        order=[("m", 0), ("f", 0)],
    )
    merged = a.merge(b)
    assert merged.names == ["f & x", "f & y", "m & x"]
    assert merged.wsum.tolist() == [1.5, 1.0, 0.5]
    assert merged.fav.tolist() == [1.5, 0.0, 0.5]
