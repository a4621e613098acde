"""Fast exact TreeSHAP for LightGBM: path-dependent and interventional, numba-compiled.

>>> engine = TreeShapEngine.from_model(booster)          # doctest: +SKIP
>>> contrib = engine.path_dependent(X)                  # == booster.predict(X, pred_contrib=True)

Values are in LightGBM's raw-score space (log-odds for binary objectives), laid out like
``pred_contrib``: n x (F+1) for one output, n x K(F+1) for K classes, the last column of
each block being the base value. ``UnsupportedModel`` is raised for models the engine
does not reproduce exactly (random-forest mode, linear trees, ...); callers fall back to
``pred_contrib`` and record the reason.

Path-dependent values read per-leaf weight tables (``_path_tables``, built on first use,
38.5 MiB for 500 depth-6 trees of 63 leaves) for trees small enough to tabulate and run
the per-row quadrature (``_tree_kernels``) for the others; both are exact.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from math import factorial
from pathlib import Path
from typing import Any

import numba
import numpy as np

from auditor.explain import _path_tables
from auditor.explain import _tree_kernels as kernels
from auditor.explain._lgb_text import flatten_text
from auditor.explain._lgb_trees import FlatEnsemble, UnsupportedModel, flatten, load_dump
from auditor.models.digest import model_text
from auditor.worker_threads import kernel_threads

__all__ = [
    "LeafPaths",
    "PathTables",
    "TreeShapEngine",
    "UnsupportedModel",
    "default_threads",
    "leaf_paths",
]

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

# Path-dependent tables (FastTreeSHAP v2): a leaf with d distinct path features holds
# d 2^d float64 weights, so a depth-6 tree of 63 leaves takes at most 63 x 384 x 8 B
# = 189 KiB (97 MiB for 500 such trees). A tree is tabulated when its leaves have at
# most _TABLE_MAX_FEATURES distinct features (then at most 16 KiB a leaf: a tree's table
# stays in cache while a chunk of rows goes through) and while the model's tables stay
# within AUDITOR_TREESHAP_TABLE_MB (default 256 MiB); the other trees use the quadrature.
_TABLE_MAX_FEATURES = 8
_TABLE_CHUNK_ROWS = 512  # most rows per chunk (their outputs stay in cache)


def table_budget_bytes() -> int:
    """Most bytes of path-dependent tables one engine may hold."""
    from auditor.settings import load_settings

    # $AUDITOR_TREESHAP_TABLE_MB (default 256)
    return load_settings().treeshap_table_mb << 20


@dataclass(frozen=True)
class PathTables:
    """Which trees are tabulated, and their leaves' weights (see ``_path_tables``)."""

    tabulated: np.ndarray  # tree ids read from the tables
    quadrature: np.ndarray  # tree ids left to the quadrature kernel
    bit: np.ndarray  # per node: pattern bit of its edge feature (-1 at roots)
    node_leaf: np.ndarray  # per node: its index in the leaf arrays, -1 if internal
    leaf_nfeat: np.ndarray  # distinct path features per leaf
    leaf_offset: np.ndarray  # start of each tabulated leaf's weights in ``table``
    leaf_feature: np.ndarray  # [leaf, m]: column of the feature of pattern bit m
    table: np.ndarray  # float64 weights, d per pattern per tabulated leaf

    @property
    def nbytes(self) -> int:
        """Memory held by the tables and their index arrays."""
        arrays = (self.bit, self.node_leaf, self.leaf_nfeat, self.leaf_offset, self.leaf_feature)
        return int(self.table.nbytes + sum(a.nbytes for a in arrays))


@dataclass(frozen=True)
class LeafPaths:
    """Per leaf: its distinct path features in pattern-bit order, with their ratios.

    Shared by the path tables and the CUDA kernel (:mod:`auditor.explain.gpu_tree_shap`),
    which evaluate the same per-leaf formula.
    """

    bit: np.ndarray  # per node: pattern bit of its edge feature (-1 at roots)
    leaf: np.ndarray  # node id of each leaf
    tree: np.ndarray  # tree of each leaf
    nfeat: np.ndarray  # distinct path features per leaf
    feature: np.ndarray  # [leaf, m]: column of the feature of pattern bit m
    ratio: np.ndarray  # [leaf, m]: product of the cover ratios of that feature's edges


def leaf_paths(flat: FlatEnsemble) -> LeafPaths:
    """The distinct features on every leaf's path and their cover-ratio products."""
    nodes = len(flat.parent)
    bit = np.empty(nodes, dtype=np.int64)
    depth = np.empty(nodes, dtype=np.int64)
    _path_tables.node_bits(flat.tree_start, flat.parent, flat.same_ancestor, bit, depth)
    leaf = np.flatnonzero(flat.left < 0)
    tree = np.searchsorted(flat.tree_start, leaf, side="right") - 1
    nfeat = depth[leaf]
    width = max(1, int(nfeat.max(initial=0)))
    # walk up from every leaf at once: the first edge met per bit is the deepest, whose
    # ratio is the product over all that feature's edges
    feature = np.zeros((len(leaf), width), dtype=np.int64)
    ratio = np.ones((len(leaf), width))
    seen = np.zeros((len(leaf), width), dtype=np.bool_)
    cur = leaf.copy()
    rows = np.arange(len(leaf))
    while True:
        live = flat.parent[cur] >= 0
        if not live.any():
            break
        r, k = rows[live], cur[live]
        bk = bit[k]
        new = ~seen[r, bk]
        feature[r[new], bk[new]] = flat.edge_feature[k[new]]
        ratio[r[new], bk[new]] = flat.edge_ratio[k[new]]
        seen[r, bk] = True
        cur = np.where(live, flat.parent[cur], cur)
    return LeafPaths(bit=bit, leaf=leaf, tree=tree, nfeat=nfeat, feature=feature, ratio=ratio)


def _build_path_tables(flat: FlatEnsemble) -> PathTables:
    paths = leaf_paths(flat)
    bit, leaf, tree, nfeat = paths.bit, paths.leaf, paths.tree, paths.nfeat
    feature, ratio = paths.feature, paths.ratio
    width = feature.shape[1]
    cells = nfeat * (1 << nfeat)
    budget = table_budget_bytes() // 8
    first = np.searchsorted(tree, np.arange(flat.num_trees + 1))
    on_tree = np.zeros(flat.num_trees, dtype=np.bool_)
    used = 0
    for t in range(flat.num_trees):
        lo, hi = first[t], first[t + 1]
        size = int(cells[lo:hi].sum())
        if int(nfeat[lo:hi].max(initial=0)) <= _TABLE_MAX_FEATURES and used + size <= budget:
            on_tree[t] = True
            used += size
    leaf_on = on_tree[tree]
    offset = np.concatenate([[0], np.cumsum(np.where(leaf_on, cells, 0))]).astype(np.int64)
    table = np.empty(int(offset[-1]))  # every cell is written by build_tables
    qmax = max(1, (width + 1) // 2)
    qnodes = np.zeros((qmax + 1, qmax))
    qweights = np.zeros((qmax + 1, qmax))
    for q in range(1, qmax + 1):
        nodes_q, weights_q = np.polynomial.legendre.leggauss(q)
        qnodes[q, :q] = (nodes_q + 1.0) / 2.0
        qweights[q, :q] = weights_q / 2.0
    _path_tables.build_tables(
        leaf, nfeat, offset, leaf_on, ratio, flat.value, qnodes, qweights, table
    )
    node_leaf = np.full(len(flat.parent), -1, dtype=np.int64)
    node_leaf[leaf] = np.arange(len(leaf))
    return PathTables(
        tabulated=np.flatnonzero(on_tree).astype(np.int64),
        quadrature=np.flatnonzero(~on_tree).astype(np.int64),
        bit=bit,
        node_leaf=node_leaf,
        leaf_nfeat=nfeat,
        leaf_offset=offset,
        leaf_feature=feature,
        table=table,
    )


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
    _table_cache: list[PathTables] = field(default_factory=list, compare=False)
    # the model's arrays on a CUDA device, uploaded on the first GPU call (gpu_tree_shap)
    _device_cache: list[Any] = field(default_factory=list, compare=False)

    @classmethod
    def from_model(cls, model: Any) -> TreeShapEngine:
        """Engine for a Booster, an ``LGBMModel``, a ``dump_model()`` dict or JSON file.

        A Booster is read from its text model (``model_to_string()``), a tenth of the
        cost of ``dump_model()``; the flattened trees are the same.
        """
        if isinstance(model, dict | str | Path):
            return cls.from_flat(flatten(load_dump(model)))
        return cls.from_text(model_text(model))

    @classmethod
    def from_text(cls, text: str) -> TreeShapEngine:
        """Engine for a LightGBM text model (``Booster.model_to_string()``)."""
        return cls.from_flat(flatten_text(text))

    @classmethod
    def from_flat(cls, flat: FlatEnsemble) -> TreeShapEngine:
        """Engine for flattened trees (quadrature tables; path tables on first use)."""
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
        _path_tables.subtree_sizes(flat.parent, size)
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
        """Path-dependent SHAP values plus base column, as ``pred_contrib`` lays them out.

        Trees small enough to tabulate (see :meth:`path_tables`) read their leaves'
        precomputed weights; the others run the per-row quadrature.
        """
        m = self.model
        xm = self._matrix(x)
        out = np.zeros((len(xm), m.num_class, m.num_features + 1))
        out[:, :, -1] = m.expected_value
        tab = self.path_tables()
        with _threads(threads) as used:
            # big chunks: each tree's table is read from memory once per chunk (38 MiB of
            # tables for 500 depth-6 trees; chunks of 32 rows took 1.8x as long as 512)
            # yet at least two chunks per thread to balance them
            chunk = min(_TABLE_CHUNK_ROWS, max(16, -(-len(xm) // (2 * used))))
            if len(tab.tabulated):
                _path_tables.path_dependent(
                    xm, tab.tabulated, m.tree_start, m.tree_class, tab.bit, tab.node_leaf,
                    tab.leaf_nfeat, tab.leaf_offset, tab.leaf_feature, tab.table, m.parent,
                    m.is_left, m.split_feature, m.threshold, m.is_categorical,
                    m.default_left, m.missing_type, m.cat_start, m.cat_len, m.cat_words,
                    m.same_ancestor, chunk, out,
                )  # fmt: skip
            if not len(tab.quadrature):
                return self._layout(out)
            kernels.path_dependent(
                xm, tab.quadrature, m.tree_start, m.tree_class, self.tree_q, self.edge_f,
                self.edge_w, m.parent, m.is_left, m.left, m.split_feature, m.threshold,
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

    def path_tables(self) -> PathTables:
        """The per-leaf weight tables, built on first use and kept with the engine."""
        if not self._table_cache:
            self._table_cache.append(_build_path_tables(self.model))
        return self._table_cache[0]

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
