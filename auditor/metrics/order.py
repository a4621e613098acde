"""Exact order statistics (median, quantiles) from counts: radix selection over float keys.

A distributed engine cannot sort a column on its driver without holding it. Instead,
each float is mapped to an unsigned 64-bit key with the same order
(:func:`float_keys`), and the wanted ranks are found 16 bits at a time: every pass asks
each partition, for the rows whose key starts with a given prefix, how many rows fall
under each next 16-bit digit, and the smallest and largest key there
(:func:`digit_histogram`). The merged counts say which digit holds the wanted rank;
a digit whose smallest and largest keys are equal holds a single value, which is the
answer. A digit holding few rows (:data:`FETCH_ROWS`, within :data:`FETCH_BUDGET` for
the pass) is not split again: the next pass returns its rows' keys (:class:`Keys`) and
the wanted rank is read from them, so a pass that narrows a digit to a few thousand rows
is the last one (on 1M rows of 30 features: one pass after the first digit instead of
two). At most four passes (64 bits), usually one or two; each returns counts, or keys
of a few rows.

The quantile arithmetic repeats NumPy's (``linear`` method, :func:`nanquantile_of`;
:func:`median_of`), so the values equal ``np.nanquantile``/``np.median`` bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

DIGIT = 16
# a digit with at most this many rows (1 MiB of keys) is fetched rather than split, while
# the keys fetched in one pass stay within FETCH_BUDGET (32 MiB): the driver holds them
FETCH_ROWS = 1 << 17
FETCH_BUDGET = 1 << 22
_TOP = np.uint64(1 << 63)


def float_keys(values: np.ndarray) -> np.ndarray:
    """Order-preserving unsigned keys of finite (or infinite) floats; NaN must be dropped."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    negative = (bits & _TOP) != 0
    return np.where(negative, ~bits, bits | _TOP)


def key_floats(keys: np.ndarray) -> np.ndarray:
    """Inverse of :func:`float_keys`."""
    keys = np.asarray(keys, dtype=np.uint64)
    positive = (keys & _TOP) != 0
    return np.where(positive, keys & ~_TOP, ~keys).view(np.float64)


@dataclass(frozen=True)
class Probe:
    """Rows of ``column`` whose key's top ``bits`` bits equal ``prefix`` (``fetch``: their
    keys are wanted, :class:`Keys`, rather than the next digit's :class:`Histogram`)."""

    column: str
    prefix: int
    bits: int
    fetch: bool = False


@dataclass
class Histogram:
    """Per next digit: row count, smallest and largest key (digits ascending)."""

    digits: np.ndarray
    counts: np.ndarray
    mins: np.ndarray
    maxs: np.ndarray

    def merge(self, other: Histogram) -> Histogram:
        """The histogram of both partitions."""
        digits = np.concatenate([self.digits, other.digits])
        order = np.argsort(digits, kind="stable")
        digits = digits[order]
        counts = np.concatenate([self.counts, other.counts])[order]
        mins = np.concatenate([self.mins, other.mins])[order]
        maxs = np.concatenate([self.maxs, other.maxs])[order]
        uniq, start = np.unique(digits, return_index=True)
        return Histogram(
            uniq,
            np.add.reduceat(counts, start) if len(start) else counts,
            np.minimum.reduceat(mins, start) if len(start) else mins,
            np.maximum.reduceat(maxs, start) if len(start) else maxs,
        )


@dataclass
class Keys:
    """The sorted keys of the rows under a fetching probe (a partition's, or merged)."""

    keys: np.ndarray

    def merge(self, other: Keys) -> Keys:
        """The keys of both partitions, sorted."""
        return Keys(np.sort(np.concatenate([self.keys, other.keys])))


def merge_answers(a: Histogram | Keys, b: Histogram | Keys) -> Histogram | Keys:
    """Two partitions' answers to one probe, merged (both of the probe's kind)."""
    if isinstance(a, Keys) and isinstance(b, Keys):
        return a.merge(b)
    if isinstance(a, Histogram) and isinstance(b, Histogram):
        return a.merge(b)
    raise TypeError("answers of one probe are of one kind")


def answer(keys: np.ndarray, probe: Probe) -> Histogram | Keys:
    """What ``probe`` asks of these keys (one partition's share): the keys under its
    prefix (a fetching probe), else the next digit's histogram."""
    if probe.fetch:
        return Keys(np.sort(_under(np.asarray(keys, dtype=np.uint64), probe)))
    return digit_histogram(keys, probe)


def _under(keys: np.ndarray, probe: Probe) -> np.ndarray:
    if not probe.bits:
        return keys
    under: np.ndarray = keys[(keys >> np.uint64(64 - probe.bits)) == np.uint64(probe.prefix)]
    return under


def digit_histogram(keys: np.ndarray, probe: Probe) -> Histogram:
    """The next digit's histogram of these keys under ``probe`` (one partition's share)."""
    keys = np.sort(_under(np.asarray(keys, dtype=np.uint64), probe))
    shift = np.uint64(64 - probe.bits - DIGIT)
    digits = ((keys >> shift) & np.uint64((1 << DIGIT) - 1)).astype(np.int64)
    uniq, start, counts = np.unique(digits, return_index=True, return_counts=True)
    return Histogram(uniq, counts.astype(np.int64), keys[start], keys[start + counts - 1])


def first_digit_histogram(uniques: np.ndarray, counts: np.ndarray) -> Histogram | None:
    """:func:`digit_histogram` of a column's first digit from its sorted distinct values
    (``np.unique``) and their counts, without sorting the rows again.

    None where the values hold a zero: ``np.unique`` merges ``-0.0`` with ``0.0``, whose
    keys differ (the caller then sorts the keys).
    """
    uniques = np.asarray(uniques, dtype=np.float64)
    if not len(uniques) or bool((uniques == 0).any()):
        return None
    keys = float_keys(uniques)  # ascending, as the values (order-preserving keys)
    digits = (keys >> np.uint64(64 - DIGIT)).astype(np.int64)
    uniq, start, n = np.unique(digits, return_index=True, return_counts=True)
    rows = np.add.reduceat(np.asarray(counts, dtype=np.int64), start)
    return Histogram(uniq, rows.astype(np.int64), keys[start], keys[start + n - 1])


Histograms = Callable[[list[Probe]], dict[Probe, Histogram | Keys]]


def select(
    targets: dict[str, list[int]],
    histograms: Histograms,
    first: dict[str, Histogram] | None = None,
) -> dict[tuple[str, int], float]:
    """The values at the wanted 0-based ranks of each column's sorted (non-NaN) values.

    ``histograms`` runs one pass: for each probe, the merged :func:`answer` of every
    partition. ``first``: each column's first-digit histogram when an earlier pass
    already computed it (saves a pass).
    """
    # per target: (probe, rows below the probe's range)
    open_: dict[tuple[str, int], tuple[Probe, int]] = {
        (c, r): (Probe(c, 0, 0), 0) for c, ranks in targets.items() for r in set(ranks)
    }
    found: dict[tuple[str, int], float] = {}
    while open_:
        probes = sorted({p for p, _ in open_.values()}, key=_probe_key)
        known: dict[Probe, Histogram | Keys] = {
            p: first[p.column] for p in probes if first and not p.bits and p.column in first
        }
        wanted = [p for p in probes if p not in known]
        merged = {**known, **(histograms(wanted) if wanted else {})}
        nxt: dict[tuple[str, int], tuple[Probe, int, int]] = {}  # probe, below, its rows
        for (column, rank), (probe, below) in open_.items():
            h = merged[probe]
            if isinstance(h, Keys):
                if not 0 <= rank - below < len(h.keys):
                    raise ValueError(f"rank {rank} of column '{column}' is out of range")
                at = rank - below
                found[(column, rank)] = float(key_floats(h.keys[at : at + 1])[0])
                continue
            cum = np.cumsum(h.counts)
            i = int(np.searchsorted(cum, rank - below, side="right"))
            if i >= len(cum):
                raise ValueError(f"rank {rank} of column '{column}' is out of range")
            if h.mins[i] == h.maxs[i]:
                found[(column, rank)] = float(key_floats(h.mins[i : i + 1])[0])
                continue
            before = int(cum[i - 1]) if i else 0
            prefix = (probe.prefix << DIGIT) | int(h.digits[i])
            digit = Probe(column, prefix, probe.bits + DIGIT)
            nxt[(column, rank)] = (digit, below + before, int(h.counts[i]))
        open_ = _fetching(nxt)
    return found


def _fetching(
    targets: dict[tuple[str, int], tuple[Probe, int, int]],
) -> dict[tuple[str, int], tuple[Probe, int]]:
    """The next pass's probes: the digits with the fewest rows fetched (up to
    :data:`FETCH_ROWS` each, :data:`FETCH_BUDGET` in all), the others split again."""
    rows = {probe: n for probe, _, n in targets.values()}
    fetched: set[Probe] = set()
    budget = FETCH_BUDGET
    for probe in sorted(rows, key=lambda p: (rows[p], _probe_key(p))):
        if rows[probe] > FETCH_ROWS or rows[probe] > budget:
            break
        fetched.add(probe)
        budget -= rows[probe]
    return {
        target: (replace(probe, fetch=True) if probe in fetched else probe, below)
        for target, (probe, below, _) in targets.items()
    }


def _probe_key(p: Probe) -> tuple[str, int, int, bool]:
    return (p.column, p.bits, p.prefix, p.fetch)


def quantile_plan(n: int, q: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ranks below and above each quantile, and the interpolation weight, as NumPy does.

    Mirrors ``numpy.quantile(method="linear")`` on ``n`` sorted values: the virtual
    index, its neighbours (clamped to the ends) and gamma, computed the same way.
    """
    q = np.asarray(q, dtype=np.float64)
    virtual = n * q + (1 + q * (1 - 1 - 1)) - 1
    prev = np.floor(virtual)
    nxt = prev + 1
    above = virtual >= n - 1
    prev[above] = -1
    nxt[above] = -1
    below = virtual < 0
    prev[below] = 0
    nxt[below] = 0
    gamma = np.asarray(virtual - prev, dtype=np.float64)
    lo = prev.astype(np.intp)
    hi = nxt.astype(np.intp)
    lo = np.where(lo < 0, n + lo, lo)
    hi = np.where(hi < 0, n + hi, hi)
    return lo, hi, gamma


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """NumPy's interpolation between neighbouring order statistics (same rounding)."""
    diff = b - a
    out = np.add(a, diff * t)
    np.subtract(b, diff * (1 - t), out=out, where=t >= 0.5)
    return np.asarray(out, dtype=np.float64)


def nanquantile_of(n: int, q: np.ndarray, value_at: Callable[[int], float]) -> np.ndarray:
    """``np.nanquantile`` of a column with ``n`` non-NaN values, given its order statistics."""
    lo, hi, gamma = quantile_plan(n, q)
    a = np.array([value_at(int(i)) for i in lo], dtype=np.float64)
    b = np.array([value_at(int(i)) for i in hi], dtype=np.float64)
    return lerp(a, b, gamma)


def quantile_ranks(n: int, q: np.ndarray) -> list[int]:
    """The order statistics :func:`nanquantile_of` needs."""
    lo, hi, _ = quantile_plan(n, q)
    return sorted({int(i) for i in [*lo, *hi]})


def median_ranks(n: int) -> list[int]:
    """The order statistics :func:`median_of` needs."""
    return sorted({(n - 1) // 2, n // 2})


def median_of(n: int, value_at: Callable[[int], float]) -> float:
    """``np.median`` of ``n`` values, given its order statistics."""
    return float(np.mean(np.array([value_at(r) for r in median_ranks(n)], dtype=np.float64)))
