"""Proxy detection: how strongly each model feature encodes a protected attribute.

Categorical features: Cramér's V against the attribute. Numeric features: the
correlation ratio η (square root of the share of the feature's variance explained by the
attribute's groups). Both lie in [0, 1]; unknown group values are left out. One form on
every engine: mergeable statistics (group moments, crosstab counts), then the score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from auditor.batch import UNKNOWN
from auditor.result import ProxyScore
from auditor.text_values import as_text


def proxy_scores(features: pd.DataFrame, protected: pd.DataFrame) -> list[ProxyScore]:
    """One score per (feature, attribute), strongest first.

    Computed from the mergeable statistics every engine uses (per-group moments for a
    numeric feature, (value, group) counts for any other): a frame here is one partition
    whose statistics need no merging, and the Spark engine merges its partitions' before
    the same :func:`correlation_ratio_of` / :func:`cramers_v_of`. The row formulas these
    equal (to rounding) are the tests' oracle (``tests/_proxy_oracle.py``).
    """
    out: list[ProxyScore] = []
    for attr in protected.columns:
        groups = protected[attr].to_numpy()
        coded: tuple[np.ndarray, list[str]] | None = None  # the groups coded once per attribute
        for feat in features.columns:
            col = features[feat]
            if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
                if coded is None:
                    coded = group_codes_of(groups)
                moments = coded_moments(col.to_numpy(np.float64), *coded)
                eta = correlation_ratio_of(moments)
                out.append(ProxyScore(feat, attr, "correlation_ratio", eta))
            else:
                v = cramers_v_of(crosstab_counts(col, groups))
                out.append(ProxyScore(feat, attr, "cramers_v", v))
    return sorted(out, key=lambda p: (-p.value, p.attribute, p.feature))


@dataclass
class Moments:
    """Count, sum, squared deviations from the mean, min and max of one group's values."""

    n: int
    total: float
    m2: float
    lo: float
    hi: float

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        """The moments of these (non-NaN) values."""
        if not len(values):
            return cls(0, 0.0, 0.0, np.inf, -np.inf)
        mean = float(values.mean())
        return cls(
            len(values),
            float(values.sum()),
            float(((values - mean) ** 2).sum()),
            float(values.min()),
            float(values.max()),
        )

    def merge(self, other: Moments) -> Moments:
        """Chan et al.'s pairwise update: the moments of both."""
        if not other.n:
            return self
        if not self.n:
            return other
        n = self.n + other.n
        delta = other.total / other.n - self.total / self.n
        m2 = self.m2 + other.m2 + delta * delta * self.n * other.n / n
        return Moments(
            n, self.total + other.total, m2, min(self.lo, other.lo), max(self.hi, other.hi)
        )


def group_codes_of(groups: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The groups as sorted integer codes and their names: what :func:`coded_moments` reads.

    Coding the groups (text conversion and factorising every row) cost more than the
    moments themselves, so :func:`proxy_scores` codes each attribute once for all features.
    """
    g_codes, g_index = pd.factorize(np.asarray(groups).astype(str), sort=True)
    return g_codes.astype(np.int64), [str(v) for v in g_index]


def group_moments(values: np.ndarray, groups: np.ndarray) -> dict[str, Moments]:
    """Moments of the non-NaN ``values`` per known group (mergeable across partitions)."""
    return coded_moments(np.asarray(values, dtype=np.float64), *group_codes_of(groups))


def coded_moments(
    values: np.ndarray, g_codes: np.ndarray, g_names: list[str]
) -> dict[str, Moments]:
    """:func:`group_moments` from precomputed group codes: the one computation of every
    engine (a Spark partition codes its groups once for all features)."""
    k = len(g_names)
    ok = ~np.isnan(values)
    v, c = values[ok], g_codes[ok]
    n = np.bincount(c, minlength=k)
    total = np.bincount(c, weights=v, minlength=k)
    mean = np.divide(total, n, out=np.zeros(k), where=n > 0)
    m2 = np.bincount(c, weights=(v - mean[c]) ** 2, minlength=k)
    lo = np.full(k, np.inf)
    hi = np.full(k, -np.inf)
    np.minimum.at(lo, c, v)
    np.maximum.at(hi, c, v)
    return {
        name: Moments(int(n[i]), float(total[i]), float(m2[i]), float(lo[i]), float(hi[i]))
        for i, name in enumerate(g_names)
        if name != UNKNOWN and n[i] > 0
    }


def correlation_ratio_of(moments: dict[str, Moments]) -> float:
    """η from merged per-group moments: sqrt(between-group / total sum of squares)."""
    parts = [m for m in moments.values() if m.n]
    n = sum(m.n for m in parts)
    if not n or min(m.lo for m in parts) == max(m.hi for m in parts):
        return 0.0
    mean = sum(m.total for m in parts) / n
    between = sum(m.n * (m.total / m.n - mean) ** 2 for m in parts)
    total = sum(m.m2 for m in parts) + between
    return float(np.sqrt(between / total)) if total > 0 else 0.0


def crosstab_counts(values: pd.Series, groups: np.ndarray) -> dict[tuple[str, str], int]:
    """Rows per (value as text, known group): Cramér's V's table, mergeable by addition."""
    known = groups != UNKNOWN
    frame = pd.DataFrame({"v": as_text(values).to_numpy()[known], "g": groups[known]})
    sizes = frame.groupby(["v", "g"], sort=False).size()
    index = sizes.index.to_list()
    return {
        (str(v), str(g)): int(c) for (v, g), c in zip(index, sizes.to_numpy().tolist(), strict=True)
    }


def cramers_v_of(counts: dict[tuple[str, str], int]) -> float:
    """Cramér's V from merged (value, group) counts (0 when either side is constant)."""
    if not counts:
        return 0.0
    rows = sorted({v for v, _ in counts})
    cols = sorted({g for _, g in counts})
    table = np.zeros((len(rows), len(cols)))
    ri = {v: i for i, v in enumerate(rows)}
    ci = {g: i for i, g in enumerate(cols)}
    for (v, g), c in counts.items():
        table[ri[v], ci[g]] = c
    n = table.sum()
    if n == 0 or min(table.shape) < 2:
        return 0.0
    expected = table.sum(1, keepdims=True) @ table.sum(0, keepdims=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return float(np.sqrt(chi2 / (n * (min(table.shape) - 1))))
