"""Fast exact TreeSHAP for LightGBM: path-dependent and interventional, numba-compiled.

>>> engine = TreeShapEngine.from_model(booster)          # doctest: +SKIP
>>> contrib = engine.path_dependent(X)                  # == booster.predict(X, pred_contrib=True)

Values are in LightGBM's raw-score space (log-odds for binary objectives), laid out like
``pred_contrib``: n x (F+1) for one output, n x K(F+1) for K classes, the last column of
each block being the base value. ``UnsupportedModel`` is raised for models the engine
does not reproduce exactly (random-forest mode, linear trees, ...); callers fall back to
``pred_contrib`` and record the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from math import factorial
from typing import Any

import numba
import numpy as np

from auditor.explain import _tree_kernels as kernels
from auditor.explain._lgb_trees import FlatEnsemble, UnsupportedModel, flatten, load_dump
from auditor.worker_threads import kernel_threads

__all__ = ["TreeShapEngine", "UnsupportedModel", "default_threads"]

_POOL = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]

# rows per parallel work item: enough to amortise scratch allocation, small enough to
# balance two to a few dozen threads
_CHUNK_ROWS = 16
# interventional by per-leaf background pattern counts: at most this many count cells
# (2^distinct path features per leaf), and at most this many distinct features on a path
_MAX_PATTERN_CELLS = 1 << 23
_MAX_PATH_FEATURES = 16
_POPCOUNT = np.array([bin(i).count("1") for i in range(1 << _MAX_PATH_FEATURES)], np.int64)
# 2^m mod 67 is distinct for m < 66: the bit position of a single-bit mask, by table
_BITPOS = np.zeros(67, dtype=np.int64)
_BITPOS[[pow(2, m, 67) for m in range(_MAX_PATH_FEATURES)]] = range(_MAX_PATH_FEATURES)


def default_threads() -> int:
    """Threads used when none are given: ``AUDITOR_THREADS``, a worker process's count
    (:mod:`auditor.worker_threads`) or numba's own default."""
    return kernel_threads(_POOL)


@contextmanager
def _threads(n: int | None) -> Iterator[int]:
    """Run numba's parallel loops on ``n`` threads (at most numba's pool size)."""
    want = max(1, min(n or default_threads(), _POOL))
    before = numba.get_num_threads()
    numba.set_num_threads(want)
    try:
        yield want
    finally:
        numba.set_num_threads(before)


@dataclass(frozen=True)
class TreeShapEngine:
    """A flattened LightGBM ensemble plus the per-tree quadrature tables."""

    model: FlatEnsemble
    tree_q: np.ndarray  # Gauss-Legendre nodes used per tree: ceil(depth / 2)
    edge_f: np.ndarray  # [o, k, q]: node k's edge factor P (1 - t_q) + o t_q
    edge_w: np.ndarray  # [o, k, q]: (o - P) w_q / edge factor, 0 beyond the tree's Q
    subtree_end: np.ndarray  # node id just past each node's subtree (preorder)
    shapley_weights: np.ndarray  # [u, v] = u! v! / (u + v + 1)!
    _leaf_cache: list[tuple[np.ndarray, ...]] = field(default_factory=list, compare=False)

    @classmethod
    def from_model(cls, model: Any) -> TreeShapEngine:
        """Engine for a Booster, an ``LGBMModel``, a ``dump_model()`` dict or JSON file."""
        flat = flatten(load_dump(model))
        depth = int(flat.tree_depth.max(initial=1))
        tree_q = np.maximum(1, (flat.tree_depth + 1) // 2).astype(np.int32)
        qmax = int(tree_q.max(initial=1))
        qnodes = np.zeros((qmax + 1, qmax))
        qweights = np.zeros((qmax + 1, qmax))
        for q in range(1, qmax + 1):
            nodes, weights = np.polynomial.legendre.leggauss(q)
            qnodes[q, :q] = (nodes + 1.0) / 2.0
            qweights[q, :q] = weights / 2.0
        edge_f, edge_w = _edge_tables(flat, tree_q, qnodes, qweights)
        size = np.ones(len(flat.parent), dtype=np.int64)
        for k in range(len(flat.parent) - 1, -1, -1):
            if flat.parent[k] >= 0:
                size[flat.parent[k]] += size[k]
        sw = np.zeros((depth + 1, depth + 1))
        for u in range(depth + 1):
            for v in range(depth + 1 - u):
                sw[u, v] = factorial(u) * factorial(v) / factorial(u + v + 1)
        return cls(
            model=flat,
            tree_q=tree_q,
            edge_f=edge_f,
            edge_w=edge_w,
            subtree_end=(np.arange(len(size)) + size).astype(np.int64),
            shapley_weights=sw,
        )

    def _matrix(self, x: Any) -> np.ndarray:
        arr = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
        if arr.ndim != 2 or arr.shape[1] != self.model.num_features:
            raise ValueError(
                f"expected a matrix with {self.model.num_features} feature columns, "
                f"got shape {arr.shape}"
            )
        return arr

    def _layout(self, out: np.ndarray) -> np.ndarray:
        """n x K x (F+1) → pred_contrib's n x K(F+1) (n x (F+1) for one output)."""
        return out.reshape(out.shape[0], -1)

    def path_dependent(self, x: Any, *, threads: int | None = None) -> np.ndarray:
        """Path-dependent SHAP values plus base column, as ``pred_contrib`` lays them out."""
        m = self.model
        xm = self._matrix(x)
        out = np.zeros((len(xm), m.num_class, m.num_features + 1))
        out[:, :, -1] = m.expected_value
        with _threads(threads):
            kernels.path_dependent(
                xm, m.tree_start, m.tree_class, self.tree_q, self.edge_f, self.edge_w,
                m.parent, m.is_left, m.left, m.split_feature, m.threshold,
                m.is_categorical, m.default_left, m.missing_type, m.cat_start, m.cat_len,
                m.cat_words, m.value, m.edge_feature, m.same_ancestor, _CHUNK_ROWS, out,
            )  # fmt: skip
        return self._layout(out)

    def interventional(self, x: Any, background: Any, *, threads: int | None = None) -> np.ndarray:
        """Interventional SHAP values against ``background`` (mean over its rows).

        Same layout as :meth:`path_dependent`; the base column is the mean raw output
        over the background rows.
        """
        m = self.model
        xm = self._matrix(x)
        bg = self._matrix(background)
        if len(bg) == 0:
            raise ValueError("the background set is empty")
        bg_left = np.empty((len(bg), len(m.parent)), dtype=np.uint8)
        for j in range(len(bg)):
            kernels.decisions(
                bg[j], m.split_feature, m.threshold, m.is_categorical, m.default_left,
                m.missing_type, m.cat_start, m.cat_len, m.cat_words, bg_left[j],
            )  # fmt: skip
        out = np.zeros((len(xm), m.num_class, m.num_features + 1))
        leaves = self._leaf_paths()
        cells = int(leaves[4][-1])
        with _threads(threads):
            if cells <= min(_MAX_PATTERN_CELLS, len(bg) * len(m.parent)):
                self._interventional_by_leaf(xm, bg, leaves, out)
                return self._layout(out)
            bg_left = np.empty((len(bg), len(m.parent)), dtype=np.uint8)
            for j in range(len(bg)):
                kernels.decisions(
                    bg[j], m.split_feature, m.threshold, m.is_categorical, m.default_left,
                    m.missing_type, m.cat_start, m.cat_len, m.cat_words, bg_left[j],
                )  # fmt: skip
            kernels.interventional(
                xm, bg_left, m.tree_start, m.tree_class, self.shapley_weights, m.parent,
                m.is_left, m.left, self.subtree_end, m.split_feature, m.threshold,
                m.is_categorical, m.default_left, m.missing_type, m.cat_start, m.cat_len,
                m.cat_words, m.value, m.edge_feature, m.same_ancestor, out,
            )  # fmt: skip
        return self._layout(out)

    def _interventional_by_leaf(
        self, xm: np.ndarray, bg: np.ndarray, leaves: tuple[np.ndarray, ...], out: np.ndarray
    ) -> None:
        m = self.model
        node, tree, edges, nfeat, offset = leaves
        counts = np.zeros(int(offset[-1]))
        kernels.leaf_pattern_counts(
            bg, m.tree_start, node, tree, edges, nfeat, offset, m.parent, m.is_left,
            m.split_feature, m.threshold, m.is_categorical, m.default_left, m.missing_type,
            m.cat_start, m.cat_len, m.cat_words, m.same_ancestor, counts,
        )  # fmt: skip
        kernels.interventional_by_leaf(
            xm, m.tree_start, m.tree_class, node, tree, edges, nfeat, offset, counts, len(bg),
            self.shapley_weights, m.parent, m.is_left, m.split_feature, m.threshold,
            m.is_categorical, m.default_left, m.missing_type, m.cat_start, m.cat_len,
            m.cat_words, m.same_ancestor, m.value, m.edge_feature, _POPCOUNT, _BITPOS, out,
        )  # fmt: skip

    def _leaf_paths(self) -> tuple[np.ndarray, ...]:
        """Per leaf: node id, tree, deepest edge of each distinct path feature, count, and
        offsets of its 2^count pattern cells (the last offset is the total). Cached."""
        if not self._leaf_cache:
            self._leaf_cache.append(self._build_leaf_paths())
        return self._leaf_cache[0]

    def _build_leaf_paths(self) -> tuple[np.ndarray, ...]:
        m = self.model
        node = np.flatnonzero(m.left < 0)
        tree = np.searchsorted(m.tree_start, node, side="right") - 1
        paths: list[list[int]] = []
        for leaf in node:
            seen: set[int] = set()
            edges: list[int] = []
            k = int(leaf)
            while m.parent[k] >= 0:
                f = int(m.edge_feature[k])
                if f not in seen:
                    seen.add(f)
                    edges.append(k)
                k = int(m.parent[k])
            paths.append(edges)
        nfeat = np.asarray([len(p) for p in paths], dtype=np.int64)
        width = max(1, int(nfeat.max(initial=0)))
        table = np.zeros((len(node), width), dtype=np.int64)
        for i, p in enumerate(paths):
            table[i, : len(p)] = p
        big = nfeat.max(initial=0) > _MAX_PATH_FEATURES
        sizes = np.where(nfeat > _MAX_PATH_FEATURES, 0, 2 ** np.minimum(nfeat, 62))
        offset = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        if big:  # too many distinct features on a path for pattern counts
            offset[-1] = np.iinfo(np.int64).max
        return node.astype(np.int64), tree.astype(np.int64), table, nfeat, offset


def _edge_tables(
    flat: FlatEnsemble, tree_q: np.ndarray, qnodes: np.ndarray, qweights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-node edge factors and weighted reciprocals for o = 0 and o = 1."""
    tree_of = np.repeat(np.arange(flat.num_trees), np.diff(flat.tree_start))
    q = tree_q[tree_of]
    t = qnodes[q]  # (nodes, Qmax), zero-padded beyond each tree's Q
    w = qweights[q]
    ratio = flat.edge_ratio[:, None]
    edge_f = np.stack([ratio * (1.0 - t), ratio * (1.0 - t) + t])
    edge_w = np.stack([(0.0 - ratio) * w / edge_f[0], (1.0 - ratio) * w / edge_f[1]])
    return np.ascontiguousarray(edge_f), np.ascontiguousarray(edge_w)
