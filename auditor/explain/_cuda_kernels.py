"""The CUDA kernel of :mod:`auditor.explain.gpu_tree_shap` (numba CUDA).

Imported only when a GPU run is asked for, so that ``import auditor`` never loads
numba.cuda. Module-level kernels, because the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``,
used by the tests) swaps its fake ``cuda`` module in through a kernel's globals.
"""

# numba.cuda ships no stubs for its kernel API (cuda.threadIdx, cuda.shared, ...)
# mypy: disable-error-code="no-untyped-def,no-untyped-call,attr-defined"

from __future__ import annotations

import math

import numba
from numba import cuda

_MAXD = 64  # scratch per thread: one more than gpu_tree_shap.MAX_PATH_FEATURES
_MAXD1 = 65  # prefix products: one more again (a literal: local array shapes must be)


@cuda.jit(device=True, inline=True)
def goes_left(xv, k, threshold, is_cat, default_left, missing, cat_start, cat_len,
              cat_words):  # fmt: skip
    # LightGBM's NumericalDecision / CategoricalDecision, as _tree_kernels._goes_left
    if is_cat[k]:
        if math.isnan(xv) or xv < 0.0 or xv >= 2147483648.0:
            return False
        iv = int(xv)
        w = iv >> 5
        if w >= cat_len[k]:
            return False
        return ((cat_words[cat_start[k] + w] >> (iv & 31)) & 1) == 1
    mt = missing[k]
    if math.isnan(xv):
        if mt == 2:
            return default_left[k] != 0
        xv = 0.0
    if mt == 1 and -1e-35 <= xv <= 1e-35:
        return default_left[k] != 0
    return xv <= threshold[k]


@cuda.jit
def path_dependent(x, nleaves, leaf_node, leaf_class, leaf_nfeat, leaf_feature, leaf_p,
                   value, parent, is_left, split_feature, threshold, is_cat,
                   default_left, missing, cat_start, cat_len, cat_words, bit, qnodes,
                   qweights, out):  # fmt: skip
    row = cuda.blockIdx.x
    tid = cuda.threadIdx.x
    step = cuda.blockDim.x
    nf = x.shape[1]
    width = out.shape[1]
    # shared: the row's inputs [0, nf), then its outputs [nf, nf + width)
    sh = cuda.shared.array(0, dtype=numba.float64)
    for j in range(tid, nf, step):
        sh[j] = x[row, j]
    for j in range(tid, width, step):
        sh[nf + j] = 0.0
    cuda.syncthreads()
    f = cuda.local.array(_MAXD, dtype=numba.float64)
    pre = cuda.local.array(_MAXD1, dtype=numba.float64)
    acc = cuda.local.array(_MAXD, dtype=numba.float64)
    for li in range(tid, nleaves, step):
        d = leaf_nfeat[li]
        if d == 0:
            continue  # a one-leaf tree only adds to the base value
        node = leaf_node[li]
        pattern = (numba.int64(1) << d) - 1
        k = node
        while parent[k] >= 0:
            p = parent[k]
            gl = goes_left(sh[split_feature[p]], p, threshold, is_cat, default_left,
                           missing, cat_start, cat_len, cat_words)  # fmt: skip
            if gl != (is_left[k] != 0):
                pattern &= ~(numba.int64(1) << bit[k])
            k = p
        nq = (d + 1) // 2
        for mm in range(d):
            acc[mm] = 0.0
        for q in range(nq):
            t = qnodes[nq, q]
            w = qweights[nq, q]
            pre[0] = 1.0
            for j in range(d):
                f[j] = leaf_p[li, j] * (1.0 - t) + ((pattern >> j) & 1) * t
                pre[j + 1] = pre[j] * f[j]
            suf = w
            for mm in range(d - 1, -1, -1):
                acc[mm] += pre[mm] * suf
                suf *= f[mm]
        v = value[node]
        base = nf + leaf_class[li] * (nf + 1)
        for mm in range(d):
            o = (pattern >> mm) & 1
            cuda.atomic.add(sh, base + leaf_feature[li, mm], v * (o - leaf_p[li, mm]) * acc[mm])
    cuda.syncthreads()
    for j in range(tid, width, step):
        out[row, j] = sh[nf + j]
