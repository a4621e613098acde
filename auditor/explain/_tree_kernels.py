"""Numba kernels of the fast TreeSHAP engine (path-dependent and interventional).

Path-dependent: a leaf's Shapley value for feature i is an integral of a polynomial of
degree < depth (Yu et al. 2022, "Linear TreeSHAP"; Bifet et al. quadrature form):

    phi_i += v * (O_i - P_i) * int_0^1 prod_{j != i} (P_j (1 - t) + O_j t) dt

where, over the path's edges on feature j, P_j is the product of cover ratios and O_j
says whether the row follows all of them. Gauss-Legendre with ceil(depth / 2) nodes
integrates it exactly. The products are pushed down the tree and the leaf sums pulled up
again, so a row costs O(nodes x depth / 2) per tree instead of O(leaves x depth^2).

Interventional: for a row x and one background row r, a leaf is reached by the hybrid
(x on S, r elsewhere) iff every feature the leaf needs from x is in S and every feature
it needs from r is not; its Shapley weights are then closed-form (Lundberg et al. 2020,
"independent" TreeSHAP), summed with the same bottom-up pass over the nodes x or r reach.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _goes_left(xv: float, k: int, threshold: np.ndarray, is_cat: np.ndarray,
               default_left: np.ndarray, missing: np.ndarray, cat_start: np.ndarray,
               cat_len: np.ndarray, cat_words: np.ndarray) -> bool:  # fmt: skip
    """LightGBM's decision at node ``k`` (NumericalDecision / CategoricalDecision)."""
    if is_cat[k]:
        if math.isnan(xv) or xv < 0.0 or xv >= 2147483648.0:
            return False
        iv = int(xv)
        w = iv >> 5
        if w >= cat_len[k]:
            return False
        return bool(((cat_words[cat_start[k] + w] >> np.uint32(iv & 31)) & np.uint32(1)) == 1)
    mt = missing[k]
    if math.isnan(xv):
        if mt == 2:
            return bool(default_left[k])
        xv = 0.0
    if mt == 1 and -1e-35 <= xv <= 1e-35:
        return bool(default_left[k])
    return bool(xv <= threshold[k])


@numba.njit(cache=True)
def decisions(x: np.ndarray, split_feature: np.ndarray, threshold: np.ndarray,
              is_cat: np.ndarray, default_left: np.ndarray, missing: np.ndarray,
              cat_start: np.ndarray, cat_len: np.ndarray, cat_words: np.ndarray,
              out: np.ndarray) -> None:  # fmt: skip
    """``out[k] = 1`` where row ``x`` goes left at internal node ``k`` (0 otherwise)."""
    for k in range(len(split_feature)):
        f = split_feature[k]
        if f >= 0:
            out[k] = _goes_left(x[f], k, threshold, is_cat, default_left, missing,
                                cat_start, cat_len, cat_words)  # fmt: skip
        else:
            out[k] = 0


# no 'nnan' in fastmath: the decisions test for NaN (missing values)
_FAST = {"reassoc", "contract", "arcp"}


@numba.njit(cache=True, parallel=True, fastmath=_FAST, error_model="numpy")
def path_dependent(x: np.ndarray, trees: np.ndarray, tree_start: np.ndarray,
                   tree_class: np.ndarray,
                   tree_q: np.ndarray, edge_f: np.ndarray, edge_w: np.ndarray,
                   parent: np.ndarray, is_left: np.ndarray, left: np.ndarray,
                   split_feature: np.ndarray, threshold: np.ndarray, is_cat: np.ndarray,
                   default_left: np.ndarray, missing: np.ndarray, cat_start: np.ndarray,
                   cat_len: np.ndarray, cat_words: np.ndarray, value: np.ndarray,
                   edge_feature: np.ndarray, same_anc: np.ndarray, chunk: int,
                   out: np.ndarray) -> None:  # fmt: skip
    """Add path-dependent SHAP values of every row of ``x`` to ``out`` (n x K x F+1),
    over the trees listed in ``trees`` (the others are tabulated, see ``_path_tables``).

    ``edge_f[o, k, q]`` is node k's edge factor P (1 - t_q) + o t_q and ``edge_w[o, k, q]``
    the quadrature weight divided by it (both precomputed: no division in the loops).
    Rows go in chunks, trees outer, so a tree's arrays stay in cache for the chunk.
    """
    n = x.shape[0]
    qmax = edge_f.shape[2]
    width = 1
    for ti in range(len(trees)):
        t = trees[ti]
        width = max(width, tree_start[t + 1] - tree_start[t])
    nchunks = (n + chunk - 1) // chunk
    for c in numba.prange(nchunks):
        g = np.empty((width, qmax))
        s = np.empty((width, qmax))
        sub = np.empty((width, qmax))
        on = np.empty(width, dtype=np.int64)
        gl = np.empty(width, dtype=np.bool_)
        for ti in range(len(trees)):
            t = trees[ti]
            b = tree_start[t]
            e = tree_start[t + 1]
            if e - b == 1:
                continue
            nq = tree_q[t]
            cls = tree_class[t]
            for row in range(c * chunk, min(n, (c + 1) * chunk)):
                xr = x[row]
                for k in range(b, e):
                    f = split_feature[k]
                    if f >= 0:
                        gl[k - b] = _goes_left(xr[f], k, threshold, is_cat, default_left,
                                               missing, cat_start, cat_len, cat_words)  # fmt: skip
                for q in range(nq):
                    g[0, q] = 1.0
                for k in range(b + 1, e):
                    i = k - b
                    p = parent[k] - b
                    o = 1 if gl[p] == is_left[k] else 0
                    a = same_anc[k]
                    if a >= 0:
                        oa = on[a - b]
                        o = o * oa
                        for q in range(nq):
                            g[i, q] = g[p, q] * edge_f[o, k, q] / edge_f[oa, a, q]
                    else:
                        for q in range(nq):
                            g[i, q] = g[p, q] * edge_f[o, k, q]
                    on[i] = o
                    if left[k] < 0:
                        v = value[k]
                        for q in range(nq):
                            s[i, q] = v * g[i, q]
                    else:
                        for q in range(nq):
                            s[i, q] = 0.0
                    for q in range(nq):
                        sub[i, q] = 0.0
                for q in range(nq):
                    s[0, q] = 0.0
                for k in range(e - 1, b, -1):
                    i = k - b
                    p = parent[k] - b
                    a = same_anc[k]
                    o = on[i]
                    acc = 0.0
                    for q in range(nq):
                        acc += (s[i, q] - sub[i, q]) * edge_w[o, k, q]
                        s[p, q] += s[i, q]
                    if a >= 0:
                        for q in range(nq):
                            sub[a - b, q] += s[i, q]
                    out[row, cls, edge_feature[k]] += acc


@numba.njit(cache=True, parallel=True, error_model="numpy")
def interventional(x: np.ndarray, bg_left: np.ndarray, tree_start: np.ndarray,
                   tree_class: np.ndarray, weights: np.ndarray, parent: np.ndarray,
                   is_left: np.ndarray, left: np.ndarray, subtree_end: np.ndarray,
                   split_feature: np.ndarray, threshold: np.ndarray, is_cat: np.ndarray,
                   default_left: np.ndarray, missing: np.ndarray, cat_start: np.ndarray,
                   cat_len: np.ndarray, cat_words: np.ndarray, value: np.ndarray,
                   edge_feature: np.ndarray, same_anc: np.ndarray,
                   out: np.ndarray) -> None:  # fmt: skip
    """Interventional SHAP of each row of ``x`` against every background row.

    ``bg_left[r, k]`` is background row r's decision at node k; ``weights[u, v]`` is
    u! v! / (u + v + 1)!. Adds the mean over background rows to ``out`` (n x K x F+1),
    the last column getting the mean background output (the base value).
    """
    n = x.shape[0]
    nbg = bg_left.shape[0]
    ntrees = len(tree_class)
    nnodes = len(parent)
    nfeat = out.shape[2] - 1
    width = 0
    for t in range(ntrees):
        width = max(width, tree_start[t + 1] - tree_start[t])
    inv = 1.0 / nbg
    for row in numba.prange(n):
        xl = np.empty(nnodes, dtype=np.uint8)
        decisions(x[row], split_feature, threshold, is_cat, default_left, missing,
                  cat_start, cat_len, cat_words, xl)  # fmt: skip
        xs = np.zeros(width, dtype=np.bool_)
        rs = np.zeros(width, dtype=np.bool_)
        nu = np.zeros(width, dtype=np.int32)
        nv = np.zeros(width, dtype=np.int32)
        su = np.zeros(width)
        sv = np.zeros(width)
        subu = np.zeros(width)
        subv = np.zeros(width)
        seen = np.empty(width, dtype=np.int32)
        acc = np.zeros((out.shape[1], nfeat + 1))
        # trees outer, background rows inner: a tree's arrays stay in cache for all of them
        for t in range(ntrees):
            b = tree_start[t]
            e = tree_start[t + 1]
            cls = tree_class[t]
            if e - b == 1:
                acc[cls, nfeat] += value[b] * nbg
                continue
            for j in range(nbg):
                rl = bg_left[j]
                xs[0] = True
                rs[0] = True
                nu[0] = 0
                nv[0] = 0
                su[0] = 0.0
                sv[0] = 0.0
                subu[0] = 0.0
                subv[0] = 0.0
                nseen = 0
                k = b + 1
                while k < e:
                    i = k - b
                    pk = parent[k]
                    p = pk - b
                    xg = (xl[pk] == 1) == is_left[k]
                    rg = (rl[pk] == 1) == is_left[k]
                    a = same_anc[k]
                    px = True
                    pr = True
                    if a >= 0:
                        px = xs[a - b]
                        pr = rs[a - b]
                    nx = px and xg
                    nr = pr and rg
                    if not (nx or nr):
                        k = subtree_end[k]
                        continue
                    u = nu[p]
                    v = nv[p]
                    if px and not pr:
                        u -= 1
                    elif pr and not px:
                        v -= 1
                    if nx and not nr:
                        u += 1
                    elif nr and not nx:
                        v += 1
                    xs[i] = nx
                    rs[i] = nr
                    nu[i] = u
                    nv[i] = v
                    subu[i] = 0.0
                    subv[i] = 0.0
                    if left[k] < 0:
                        val = value[k]
                        su[i] = val * weights[u - 1, v] if u > 0 else 0.0
                        sv[i] = val * weights[u, v - 1] if v > 0 else 0.0
                        if u == 0:
                            acc[cls, nfeat] += val
                    else:
                        su[i] = 0.0
                        sv[i] = 0.0
                    seen[nseen] = i
                    nseen += 1
                    k += 1
                for m in range(nseen - 1, -1, -1):
                    i = seen[m]
                    k = i + b
                    p = parent[k] - b
                    if xs[i] and not rs[i]:
                        acc[cls, edge_feature[k]] += su[i] - subu[i]
                    elif rs[i] and not xs[i]:
                        acc[cls, edge_feature[k]] -= sv[i] - subv[i]
                    su[p] += su[i]
                    sv[p] += sv[i]
                    a = same_anc[k]
                    if a >= 0:
                        subu[a - b] += su[i]
                        subv[a - b] += sv[i]
        for c in range(out.shape[1]):
            for f in range(nfeat + 1):
                out[row, c, f] += acc[c, f] * inv


@numba.njit(cache=True)
def _combined_on(xr: np.ndarray, b: int, e: int, parent: np.ndarray, is_left: np.ndarray,
                 split_feature: np.ndarray, threshold: np.ndarray, is_cat: np.ndarray,
                 default_left: np.ndarray, missing: np.ndarray, cat_start: np.ndarray,
                 cat_len: np.ndarray, cat_words: np.ndarray, same_anc: np.ndarray,
                 gl: np.ndarray, on: np.ndarray) -> None:  # fmt: skip
    """``on[k - b]``: row ``xr`` passes every edge on node k's feature down to k."""
    for k in range(b, e):
        f = split_feature[k]
        if f >= 0:
            gl[k - b] = _goes_left(xr[f], k, threshold, is_cat, default_left, missing,
                                   cat_start, cat_len, cat_words)  # fmt: skip
    on[0] = True
    for k in range(b + 1, e):
        o = gl[parent[k] - b] == is_left[k]
        a = same_anc[k]
        on[k - b] = o and on[a - b] if a >= 0 else o


@numba.njit(cache=True, parallel=True)
def leaf_pattern_counts(bg: np.ndarray, tree_start: np.ndarray, leaf_node: np.ndarray,
                        leaf_tree: np.ndarray, leaf_edges: np.ndarray, leaf_nfeat: np.ndarray,
                        leaf_offset: np.ndarray, parent: np.ndarray, is_left: np.ndarray,
                        split_feature: np.ndarray, threshold: np.ndarray, is_cat: np.ndarray,
                        default_left: np.ndarray, missing: np.ndarray, cat_start: np.ndarray,
                        cat_len: np.ndarray, cat_words: np.ndarray, same_anc: np.ndarray,
                        counts: np.ndarray) -> None:  # fmt: skip
    """Per leaf, how many background rows pass exactly which of its path features.

    Bit m of a pattern: the row passes every edge of the leaf's m-th distinct feature.
    """
    ntrees = len(tree_start) - 1
    width = 0
    for t in range(ntrees):
        width = max(width, tree_start[t + 1] - tree_start[t])
    first = np.searchsorted(leaf_tree, np.arange(ntrees + 1))
    for t in numba.prange(ntrees):
        b = tree_start[t]
        e = tree_start[t + 1]
        gl = np.empty(width, dtype=np.bool_)
        on = np.empty(width, dtype=np.bool_)
        for j in range(bg.shape[0]):
            _combined_on(bg[j], b, e, parent, is_left, split_feature, threshold, is_cat,
                         default_left, missing, cat_start, cat_len, cat_words, same_anc,
                         gl, on)  # fmt: skip
            for li in range(first[t], first[t + 1]):
                pattern = 0
                for m in range(leaf_nfeat[li]):
                    if on[leaf_edges[li, m] - b]:
                        pattern |= 1 << m
                counts[leaf_offset[li] + pattern] += 1.0


@numba.njit(cache=True, parallel=True, error_model="numpy")
def interventional_by_leaf(x: np.ndarray, tree_start: np.ndarray, tree_class: np.ndarray,
                           leaf_node: np.ndarray, leaf_tree: np.ndarray,
                           leaf_edges: np.ndarray, leaf_nfeat: np.ndarray,
                           leaf_offset: np.ndarray, counts: np.ndarray, nbg: int,
                           weights: np.ndarray, parent: np.ndarray, is_left: np.ndarray,
                           split_feature: np.ndarray, threshold: np.ndarray,
                           is_cat: np.ndarray, default_left: np.ndarray, missing: np.ndarray,
                           cat_start: np.ndarray, cat_len: np.ndarray, cat_words: np.ndarray,
                           same_anc: np.ndarray, value: np.ndarray, edge_feature: np.ndarray,
                           popcount: np.ndarray, bitpos: np.ndarray,
                           out: np.ndarray) -> None:  # fmt: skip
    """Interventional SHAP from per-leaf background pattern counts (any background size).

    For a leaf, let A be the path features x passes and B those it fails. A background
    row reaches the hybrid leaf only if it passes all of B; with S = the features of A it
    fails, every i in B gets -v W(|S|, |B|-1) and every i in S gets +v W(|S|-1, |B|),
    weighted by how many background rows have that pattern: 2^|A| patterns per leaf.
    """
    n = x.shape[0]
    ntrees = len(tree_start) - 1
    nfeat = out.shape[2] - 1
    width = 0
    for t in range(ntrees):
        width = max(width, tree_start[t + 1] - tree_start[t])
    first = np.searchsorted(leaf_tree, np.arange(ntrees + 1))
    inv = 1.0 / nbg
    for row in numba.prange(n):
        gl = np.empty(width, dtype=np.bool_)
        on = np.empty(width, dtype=np.bool_)
        gain = np.empty(64)
        for t in range(ntrees):
            b = tree_start[t]
            e = tree_start[t + 1]
            cls = tree_class[t]
            _combined_on(x[row], b, e, parent, is_left, split_feature, threshold, is_cat,
                         default_left, missing, cat_start, cat_len, cat_words, same_anc,
                         gl, on)  # fmt: skip
            for li in range(first[t], first[t + 1]):
                d = leaf_nfeat[li]
                v = value[leaf_node[li]]
                full = (1 << d) - 1
                amask = 0
                for m in range(d):
                    gain[m] = 0.0
                    if on[leaf_edges[li, m] - b]:
                        amask |= 1 << m
                nb = d - popcount[amask]
                off = leaf_offset[li]
                # base: the background rows that reach this leaf themselves
                out[row, cls, nfeat] += v * counts[off + full] * inv
                loss = 0.0
                # S = every subset of A (submask enumeration, the empty set last)
                sub = amask
                while True:
                    c = counts[off + (full ^ sub)]
                    if c != 0.0:
                        size = popcount[sub]
                        if nb > 0:
                            loss += weights[size, nb - 1] * c
                        if size > 0:
                            wpos = weights[size - 1, nb] * c
                            bits = sub
                            while bits:
                                low = bits & -bits
                                gain[bitpos[low % 67]] += wpos
                                bits ^= low
                    if sub == 0:
                        break
                    sub = (sub - 1) & amask
                scale = v * inv
                for m in range(d):
                    if (amask >> m) & 1:
                        if gain[m] != 0.0:
                            out[row, cls, edge_feature[leaf_edges[li, m]]] += scale * gain[m]
                    elif loss != 0.0:
                        out[row, cls, edge_feature[leaf_edges[li, m]]] -= scale * loss
