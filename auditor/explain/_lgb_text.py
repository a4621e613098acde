"""A LightGBM ensemble flattened straight from its text model (``model_to_string()``).

``dump_model()`` builds a JSON string in C++ and Python then parses it into nested dicts
that :func:`auditor.explain._lgb_trees.flatten` walks node by node: 0.24 s and 0.09 s of
CPU for a 500-tree model, more than explaining 1,000 rows. The text model is what the
engine cache digests anyway (:func:`auditor.models.digest.model_digest`), and it holds
the same trees as flat per-tree arrays (``split_feature``, ``threshold``,
``decision_type``, ``left_child`` / ``right_child``, ``leaf_value``, ``leaf_count`` /
``internal_count``, ``cat_boundaries`` / ``cat_threshold``), so one pass over its lines,
numpy's number parser on each field and one compiled pass that lays the nodes out in
depth-first preorder give the same :class:`FlatEnsemble` as the dump, bit for bit, in
a few hundredths of a second.

The text must be LightGBM's own (``Booster.model_to_string``, or a file
:func:`auditor.models.lightgbm_adapter.load_booster` checked); every index the layout
follows is still checked here, since the compiled pass does not bounds-check.
"""

from __future__ import annotations

import warnings

import numba
import numpy as np

from auditor.explain._lgb_trees import (
    CorruptModel,
    FlatEnsemble,
    UnsupportedModel,
    check_indices,
)

# decision_type bits (LightGBM tree.h): 1 categorical, 2 default left, bits 2-3 missing type
_CATEGORICAL, _DEFAULT_LEFT = 1, 2
_INT_FIELDS = ("split_feature", "decision_type", "left_child", "right_child")
_FLOAT_FIELDS = ("threshold", "internal_count")
_LEAF_FIELDS = ("leaf_value", "leaf_count")
_CAT_FIELDS = ("cat_boundaries", "cat_threshold")

# the layout kernel's error codes (first error per model; 0: none)
_PROBLEMS = {
    1: (CorruptModel, "a child index outside its tree"),
    2: (CorruptModel, "nodes that do not form one tree"),
    3: (UnsupportedModel, "a node with zero training cover"),
    4: (UnsupportedModel, "a missing_type other than None, Zero or NaN"),
    5: (CorruptModel, "a categorical split without its category bitset"),
    6: (UnsupportedModel, "a NaN threshold"),
}


def flatten_text(text: str) -> FlatEnsemble:
    """Flatten a LightGBM text model; raises :class:`UnsupportedModel` when it cannot.

    Equal, array for array, to ``flatten(booster.dump_model())`` for the same iterations.
    """
    end = text.find("\nend of trees")
    first = text.find("\nTree=")
    if end < 0 or first < 0 or first > end:
        raise CorruptModel(
            "Corrupt LightGBM model: no trees between the header and 'end of trees'."
        )
    header = _header(text[:first])
    if "average_output" in header:
        raise UnsupportedModel("random-forest mode (average_output) is not reproduced")
    cols: dict[str, list[str]] = {}
    cat_tree: list[int] = []  # tree of each cat_boundaries line
    trees = -1
    for line in text[first + 1 : end].split("\n"):
        key, _, value = line.partition("=")
        if key == "Tree":
            trees += 1
        elif key == "cat_boundaries":
            cat_tree.append(trees)
        cols.setdefault(key, []).append(value)
    trees += 1
    if any(v.strip() not in ("", "0") for v in cols.get("is_linear", ())):
        raise UnsupportedModel("linear trees (leaves with coefficients)")
    leaves = _ints(cols, "num_leaves", trees)
    if len(leaves) != trees or np.any(leaves < 1):
        raise CorruptModel("Corrupt LightGBM model: a tree without leaves.")
    inner = leaves - 1
    ioff = np.concatenate([[0], np.cumsum(inner)]).astype(np.int64)
    loff = np.concatenate([[0], np.cumsum(leaves)]).astype(np.int64)
    fields: dict[str, np.ndarray] = {}
    for key in (*_INT_FIELDS, *_FLOAT_FIELDS):
        fields[key] = _numbers(cols, key, trees, int(ioff[-1]), key in _INT_FIELDS)
    for key in _LEAF_FIELDS:
        fields[key] = _numbers(cols, key, trees, int(loff[-1]), False)
    # categorical bitsets: each tree's words appended; a node's bitset is its tree's words
    # between cat_boundaries[idx] and cat_boundaries[idx + 1]
    bound_off = np.zeros(trees, dtype=np.int64)
    word_off = np.zeros(trees, dtype=np.int64)
    bound_len = np.zeros(trees, dtype=np.int64)
    word_len = np.zeros(trees, dtype=np.int64)
    if cat_tree:
        if len(cols.get("cat_threshold", ())) != len(cat_tree):
            raise CorruptModel("Corrupt LightGBM model: cat_boundaries without cat_threshold.")
        bounds_each = [_parse(v, "cat_boundaries", True) for v in cols["cat_boundaries"]]
        words_each = [_parse(v, "cat_threshold", True) for v in cols["cat_threshold"]]
        nb, nw = 0, 0
        for t, bounds, words in zip(cat_tree, bounds_each, words_each, strict=True):
            if not 0 <= t < trees:
                raise CorruptModel("Corrupt LightGBM model: cat_boundaries outside a tree.")
            bound_off[t], word_off[t], bound_len[t] = nb, nw, len(bounds)
            word_len[t] = len(words)
            nb += len(bounds)
            nw += len(words)
        bounds_all = np.concatenate(bounds_each)
        words_all = np.concatenate(words_each)
        if np.any((words_all < 0) | (words_all >= 1 << 32)):
            raise CorruptModel("Corrupt LightGBM model: a category bitset word out of range.")
        cat_words = words_all.astype(np.uint32)
    else:
        bounds_all = np.zeros(0, dtype=np.int64)
        cat_words = np.zeros(0, dtype=np.uint32)
    nodes = 2 * leaves - 1
    tree_start = np.concatenate([[0], np.cumsum(nodes)]).astype(np.int64)
    n = int(tree_start[-1])
    out = _empty_nodes(n)
    depth = np.zeros(trees, dtype=np.int32)
    ev = np.zeros(trees)
    status = np.zeros(2, dtype=np.int64)
    _layout(
        leaves, ioff, loff, tree_start, fields["split_feature"], fields["threshold"],
        fields["decision_type"], fields["left_child"], fields["right_child"],
        fields["internal_count"], fields["leaf_value"], fields["leaf_count"], bounds_all,
        bound_off, bound_len, word_off, word_len, out["parent"], out["is_left"],
        out["left"], out["right"], out["split_feature"], out["threshold"],
        out["is_categorical"], out["default_left"], out["missing_type"], out["cat_start"],
        out["cat_len"], out["value"], out["cover"], out["edge_feature"], out["edge_ratio"],
        out["same_ancestor"], depth, ev, status,
    )  # fmt: skip
    if status[0]:
        kind, what = _PROBLEMS[int(status[0])]
        if kind is UnsupportedModel:
            raise UnsupportedModel(what)
        raise kind(f"Corrupt LightGBM model: tree {int(status[1])} has {what}.")
    num_class = _header_int(header, "num_tree_per_iteration", header.get("num_class", "1"))
    if num_class < 1 or trees % num_class:
        raise CorruptModel(f"Corrupt LightGBM model: {trees} trees for {num_class} classes.")
    tree_class = (np.arange(trees) % num_class).astype(np.int32)
    expected = np.zeros(num_class)
    for t in range(trees):  # in tree order, as the dump's flattening adds them
        expected[t % num_class] += ev[t]
    names = tuple(header.get("feature_names", "").split(" "))
    flat = FlatEnsemble(
        num_features=_header_int(header, "max_feature_idx", str(len(names) - 1)) + 1,
        num_class=num_class,
        feature_names=names,
        objective=header.get("objective", "").split(" ")[0],
        tree_start=tree_start,
        tree_class=tree_class,
        tree_depth=depth,
        expected_value=expected,
        cat_words=cat_words,
        **out,
    )
    check_indices(flat)
    return flat


def _header(block: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in block.split("\n"):
        key, _, value = line.strip().partition("=")
        out.setdefault(key, value)
    return out


def _header_int(header: dict[str, str], key: str, default: str) -> int:
    value = header.get(key, default)
    try:
        return int(value)
    except ValueError:
        raise CorruptModel(f"Corrupt LightGBM model: {key}={value[:40]!r}.") from None


def _ints(cols: dict[str, list[str]], key: str, trees: int) -> np.ndarray:
    values = cols.get(key, [])
    if len(values) != trees:
        raise CorruptModel(
            f"Corrupt LightGBM model: {len(values)} '{key}' lines for {trees} trees."
        )
    return _parse(" ".join(values), key, True)


def _numbers(
    cols: dict[str, list[str]], key: str, trees: int, count: int, ints: bool
) -> np.ndarray:
    """All trees' values of ``key`` in one array (``count`` of them)."""
    values = cols.get(key, [])
    if len(values) != trees:
        raise CorruptModel(
            f"Corrupt LightGBM model: {len(values)} '{key}' lines for {trees} trees."
        )
    arr = _parse(" ".join(values), key, ints)
    if len(arr) != count:
        raise CorruptModel(
            f"Corrupt LightGBM model: {len(arr)} values of '{key}', expected {count}."
        )
    return arr


def _parse(joined: str, key: str, ints: bool) -> np.ndarray:
    # numpy's C parser: a tenth of the time of float() per token; it stops at the first
    # token it cannot read, so the count check after it catches a bad token
    if not joined.strip():
        return np.zeros(0, dtype=np.int64 if ints else np.float64)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)  # a token it cannot read
            arr = np.fromstring(joined, dtype=np.int64 if ints else np.float64, sep=" ")
    except (ValueError, DeprecationWarning) as exc:
        raise CorruptModel(f"Corrupt LightGBM model: unreadable '{key}' values ({exc}).") from None
    return arr


def _empty_nodes(n: int) -> dict[str, np.ndarray]:
    return {
        "parent": np.empty(n, dtype=np.int32),
        "is_left": np.zeros(n, dtype=np.bool_),
        "left": np.full(n, -1, dtype=np.int32),
        "right": np.full(n, -1, dtype=np.int32),
        "split_feature": np.full(n, -1, dtype=np.int32),
        "threshold": np.zeros(n),
        "is_categorical": np.zeros(n, dtype=np.bool_),
        "default_left": np.zeros(n, dtype=np.bool_),
        "missing_type": np.zeros(n, dtype=np.int8),
        "cat_start": np.zeros(n, dtype=np.int32),
        "cat_len": np.zeros(n, dtype=np.int32),
        "value": np.zeros(n),
        "cover": np.zeros(n),
        "edge_feature": np.full(n, -1, dtype=np.int32),
        "edge_ratio": np.ones(n),
        "same_ancestor": np.full(n, -1, dtype=np.int32),
    }


@numba.njit(cache=True)
def _layout(leaves: np.ndarray, ioff: np.ndarray, loff: np.ndarray, tree_start: np.ndarray,
            split_feature: np.ndarray, threshold: np.ndarray, decision_type: np.ndarray,
            left_child: np.ndarray, right_child: np.ndarray, internal_count: np.ndarray,
            leaf_value: np.ndarray, leaf_count: np.ndarray, bounds: np.ndarray,
            bound_off: np.ndarray, bound_len: np.ndarray, word_off: np.ndarray,
            word_len: np.ndarray,
            parent: np.ndarray, is_left: np.ndarray, left: np.ndarray, right: np.ndarray,
            o_feature: np.ndarray, o_threshold: np.ndarray, is_cat: np.ndarray,
            default_left: np.ndarray, missing: np.ndarray, cat_start: np.ndarray,
            cat_len: np.ndarray, value: np.ndarray, cover: np.ndarray,
            edge_feature: np.ndarray, edge_ratio: np.ndarray, same_anc: np.ndarray,
            depth_out: np.ndarray, ev_out: np.ndarray, status: np.ndarray) -> None:  # fmt: skip
    """Every tree in depth-first preorder, left subtree first, with the same fields and
    the same floating-point operations as ``_lgb_trees._flatten_tree`` on the dump.

    Text codes: an internal node is its index i >= 0, a leaf j is ~j (LightGBM's
    ``left_child`` / ``right_child``); the root is internal node 0 (leaf 0 for a tree of
    one leaf). ``status`` gets the first error code and its tree (see ``_PROBLEMS``).
    """
    for t in range(len(leaves)):
        nl = leaves[t]
        ni = nl - 1
        base = tree_start[t]
        end = tree_start[t + 1]
        stack_code = np.empty(2 * nl, dtype=np.int64)
        stack_parent = np.empty(2 * nl, dtype=np.int64)
        stack_left = np.empty(2 * nl, dtype=np.bool_)
        stack_depth = np.empty(2 * nl, dtype=np.int64)
        top = 0
        stack_code[0] = 0 if ni > 0 else -1
        stack_parent[0] = -1
        stack_left[0] = False
        stack_depth[0] = 0
        top = 1
        me = base
        max_depth = 0
        root_cover = 0.0
        ev = 0.0
        while top > 0:
            top -= 1
            code = stack_code[top]
            p = stack_parent[top]
            d = stack_depth[top]
            if me >= end:
                status[0] = 2
                status[1] = t
                return
            leaf = code < 0
            if leaf:
                j = ~code
                if j >= nl:
                    status[0] = 1
                    status[1] = t
                    return
                c = leaf_count[loff[t] + j]
            else:
                if code >= ni:
                    status[0] = 1
                    status[1] = t
                    return
                c = internal_count[ioff[t] + code]
            if me == base:
                root_cover = c
            if (p >= 0 or not leaf) and not c > 0:
                status[0] = 3
                status[1] = t
                return
            parent[me] = p
            is_left[me] = stack_left[top]
            cover[me] = c
            if p >= 0:
                f = o_feature[p]
                ratio = c / cover[p]
                anc = -1
                k = p
                while parent[k] >= 0:  # nearest ancestor edge on the same feature
                    if edge_feature[k] == f:
                        anc = k
                        break
                    k = parent[k]
                if anc >= 0:
                    ratio *= edge_ratio[anc]
                edge_feature[me] = f
                edge_ratio[me] = ratio
                same_anc[me] = anc
                if stack_left[top]:
                    left[p] = me
                else:
                    right[p] = me
            max_depth = max(max_depth, d)
            if leaf:
                v = leaf_value[loff[t] + ~code]
                value[me] = v
                ev += v * (c / root_cover if root_cover > 0 else 1.0)
                me += 1
                continue
            i = ioff[t] + code
            dt = decision_type[i]
            mt = (dt >> 2) & 3
            if mt > 2 or dt < 0 or dt > 15:
                status[0] = 4
                status[1] = t
                return
            o_feature[me] = split_feature[i]
            missing[me] = mt
            default_left[me] = (dt & 2) != 0
            if dt & 1:
                idx = threshold[i]
                if not (idx >= 0 and idx + 1 < bound_len[t]) or idx != np.floor(idx):
                    status[0] = 5
                    status[1] = t
                    return
                b = bound_off[t] + np.int64(idx)
                lo = bounds[b]
                hi = bounds[b + 1]
                if lo < 0 or hi <= lo or hi > word_len[t]:  # within the tree's words
                    status[0] = 5
                    status[1] = t
                    return
                is_cat[me] = True
                cat_start[me] = word_off[t] + lo
                cat_len[me] = hi - lo
            else:
                th = threshold[i]
                if np.isnan(th):
                    status[0] = 6
                    status[1] = t
                    return
                o_threshold[me] = th
            if top + 2 > 2 * nl:
                status[0] = 2
                status[1] = t
                return
            # right first so the left subtree is laid out first
            stack_code[top] = right_child[i]
            stack_parent[top] = me
            stack_left[top] = False
            stack_depth[top] = d + 1
            stack_code[top + 1] = left_child[i]
            stack_parent[top + 1] = me
            stack_left[top + 1] = True
            stack_depth[top + 1] = d + 1
            top += 2
            me += 1
        if me != end:
            status[0] = 2
            status[1] = t
            return
        depth_out[t] = max_depth
        ev_out[t] = ev
