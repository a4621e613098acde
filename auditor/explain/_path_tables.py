"""Path-dependent TreeSHAP from precomputed per-leaf tables (FastTreeSHAP v2's idea).

A leaf with value v whose path splits on d distinct features (cover-ratio products P_m)
gives feature m, for a row that passes exactly the features in bit pattern O,

    v * (O_m - P_m) * I_m(O without m),   I_m = int_0^1 prod_{j != m} (P_j (1 - t) + O_j t) dt

(Yu et al. 2022; the quadrature kernel in ``_tree_kernels`` evaluates the same integral
per row). The whole term depends on the row only through O, so it is tabulated once per
model: d 2^d numbers per leaf, computed exactly (Gauss-Legendre with ceil(d / 2) nodes
integrates a degree d - 1 polynomial exactly). Bit m of O is the m-th distinct feature
from the root, so a node's pattern is its parent's with one bit set or cleared and the
leaf's pattern falls out of one pass over the nodes. A row then costs, per tree, its
decisions, that pass and d contiguous table reads per leaf: no per-node quadrature.
"""

from __future__ import annotations

import numba
import numpy as np

from auditor.explain._tree_kernels import _goes_left


@numba.njit(cache=True)
def node_bits(tree_start: np.ndarray, parent: np.ndarray, same_anc: np.ndarray,
              bit: np.ndarray, depth: np.ndarray) -> None:  # fmt: skip
    """``bit[k]``: pattern bit of node k's edge feature (its order of first appearance on
    the path from the root); ``depth[k]``: distinct features on that path."""
    for t in range(len(tree_start) - 1):
        b = tree_start[t]
        bit[b] = -1
        depth[b] = 0
        for k in range(b + 1, tree_start[t + 1]):
            p = parent[k]
            a = same_anc[k]
            if a >= 0:
                bit[k] = bit[a]
                depth[k] = depth[p]
            else:
                bit[k] = depth[p]
                depth[k] = depth[p] + 1


@numba.njit(cache=True)
def subtree_sizes(parent: np.ndarray, size: np.ndarray) -> None:
    """``size[k]`` (ones on entry): nodes in node k's subtree (children come after parents)."""
    for k in range(len(parent) - 1, -1, -1):
        if parent[k] >= 0:
            size[parent[k]] += size[k]


@numba.njit(cache=True, parallel=True)
def build_tables(leaf_node: np.ndarray, leaf_nfeat: np.ndarray, leaf_offset: np.ndarray,
                 leaf_on: np.ndarray, leaf_p: np.ndarray, value: np.ndarray,
                 qnodes: np.ndarray, qweights: np.ndarray, table: np.ndarray) -> None:  # fmt: skip
    """``table[leaf_offset[l] + O d + m] = v (O_m - P_m) I_m(O)`` for the leaves with
    ``leaf_on`` (``leaf_p[l, m]``: cover-ratio product of the m-th feature's edges).

    Per pattern and quadrature node the d products "all factors but m" come from prefix
    and suffix products (O(d) instead of O(d^2); the factors are P (1 - t) + O t > 0).
    """
    width = leaf_p.shape[1]
    for li in numba.prange(len(leaf_node)):
        d = leaf_nfeat[li]
        if not leaf_on[li] or d == 0:
            continue
        v = value[leaf_node[li]]
        nq = max(1, (d + 1) // 2)
        base = leaf_offset[li]
        f = np.empty(width)
        pre = np.empty(width + 1)
        acc = np.empty(width)
        for pattern in range(1 << d):
            for m in range(d):
                acc[m] = 0.0
            for q in range(nq):
                t = qnodes[nq, q]
                w = qweights[nq, q]
                pre[0] = 1.0
                for j in range(d):
                    f[j] = leaf_p[li, j] * (1.0 - t) + ((pattern >> j) & 1) * t
                    pre[j + 1] = pre[j] * f[j]
                suf = w
                for m in range(d - 1, -1, -1):
                    acc[m] += pre[m] * suf
                    suf *= f[m]
            for m in range(d):
                o = (pattern >> m) & 1
                table[base + pattern * d + m] = v * (o - leaf_p[li, m]) * acc[m]


@numba.njit(cache=True, parallel=True, error_model="numpy")
def path_dependent(x: np.ndarray, trees: np.ndarray, tree_start: np.ndarray,
                   tree_class: np.ndarray, bit: np.ndarray, node_leaf: np.ndarray,
                   leaf_nfeat: np.ndarray, leaf_offset: np.ndarray, leaf_feature: np.ndarray,
                   table: np.ndarray, parent: np.ndarray, is_left: np.ndarray,
                   split_feature: np.ndarray, threshold: np.ndarray, is_cat: np.ndarray,
                   default_left: np.ndarray, missing: np.ndarray, cat_start: np.ndarray,
                   cat_len: np.ndarray, cat_words: np.ndarray, same_anc: np.ndarray,
                   chunk: int, out: np.ndarray) -> None:  # fmt: skip
    """Add the tabulated trees' path-dependent SHAP values of each row to ``out``.

    ``node_leaf[k]``: leaf index of node k (-1 for internal nodes). Rows go in chunks,
    trees outer, so a tree's table stays in cache for the chunk.
    """
    n = x.shape[0]
    width = 1
    for ti in range(len(trees)):
        t = trees[ti]
        width = max(width, tree_start[t + 1] - tree_start[t])
    nchunks = (n + chunk - 1) // chunk
    for c in numba.prange(nchunks):
        gl = np.empty(width, dtype=np.bool_)
        on = np.empty(width, dtype=np.bool_)
        pat = np.empty(width, dtype=np.int64)
        for ti in range(len(trees)):
            t = trees[ti]
            b = tree_start[t]
            e = tree_start[t + 1]
            if e - b == 1:
                continue
            cls = tree_class[t]
            for row in range(c * chunk, min(n, (c + 1) * chunk)):
                xr = x[row]
                for k in range(b, e):
                    f = split_feature[k]
                    if f >= 0:
                        gl[k - b] = _goes_left(xr[f], k, threshold, is_cat, default_left,
                                               missing, cat_start, cat_len, cat_words)  # fmt: skip
                on[0] = True
                pat[0] = 0
                for k in range(b + 1, e):
                    i = k - b
                    p = parent[k] - b
                    o = gl[p] == is_left[k]
                    a = same_anc[k]
                    if a >= 0:
                        o = o and on[a - b]
                    on[i] = o
                    m = bit[k]
                    pat[i] = (pat[p] & ~(1 << m)) | (np.int64(o) << m)
                    li = node_leaf[k]
                    if li >= 0:
                        d = leaf_nfeat[li]
                        base = leaf_offset[li] + pat[i] * d
                        for j in range(d):
                            out[row, cls, leaf_feature[li, j]] += table[base + j]
