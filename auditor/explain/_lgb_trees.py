"""LightGBM ensembles as flat numpy arrays, nodes in depth-first preorder.

The fast TreeSHAP kernels (``_tree_kernels``) walk these arrays instead of the booster:
every tree occupies a contiguous block of node ids, a node's children come after it and
each non-root node knows its parent, the feature of the parent's split, the product of
cover ratios of every edge on its root path that splits on that same feature, and the
nearest ancestor edge on the same feature (for features split on twice on one path).

Input is ``Booster.dump_model()`` or the JSON it writes (``json.dump(booster.dump_model())``);
anything the kernels do not reproduce exactly raises :class:`UnsupportedModel`, whose
message the explainer records as the reason for falling back to LightGBM's own TreeSHAP.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from auditor.errors import ExplainError

MISSING_TYPES = {"None": 0, "Zero": 1, "NaN": 2}
_MAX_CATEGORY = 1 << 24


class UnsupportedModel(ValueError):
    """The model uses a construct the fast engine does not reproduce exactly."""


class CorruptModel(ExplainError):
    """The flattened arrays hold an index the kernels would follow out of bounds."""


@dataclass(frozen=True)
class FlatEnsemble:
    """A LightGBM ensemble in flat arrays (one entry per node, trees in blocks)."""

    num_features: int
    num_class: int
    feature_names: tuple[str, ...]
    objective: str
    tree_start: np.ndarray  # (T+1,) node id of each tree's root; last = total nodes
    tree_class: np.ndarray  # (T,) output column (class) of each tree
    tree_depth: np.ndarray  # (T,) max root-to-leaf edges
    expected_value: np.ndarray  # (num_class,) cover-weighted mean leaf value, summed
    # per node
    parent: np.ndarray  # int32, -1 at roots
    is_left: np.ndarray  # bool, the node is its parent's left child
    left: np.ndarray  # int32, -1 at leaves
    right: np.ndarray  # int32, -1 at leaves
    split_feature: np.ndarray  # int32, -1 at leaves
    threshold: np.ndarray  # float64 (numerical splits)
    is_categorical: np.ndarray  # bool
    default_left: np.ndarray  # bool
    missing_type: np.ndarray  # int8: 0 None, 1 Zero, 2 NaN
    cat_start: np.ndarray  # int32 offset of the node's bitset in ``cat_words``
    cat_len: np.ndarray  # int32 number of 32-bit words of that bitset
    cat_words: np.ndarray  # uint32, categories going left
    value: np.ndarray  # float64 leaf output (0 at internal nodes)
    cover: np.ndarray  # float64 training rows reaching the node
    edge_feature: np.ndarray  # int32 feature split on by the parent, -1 at roots
    edge_ratio: np.ndarray  # float64 product of cover ratios along same-feature edges
    same_ancestor: np.ndarray  # int32 nearest ancestor node with the same edge feature

    @property
    def num_trees(self) -> int:
        """Number of trees."""
        return len(self.tree_class)


def load_dump(model: Any) -> dict[str, Any]:
    """The ``dump_model()`` dict of a Booster, an ``LGBMModel``, a dict or a JSON file."""
    if isinstance(model, dict):
        return model
    if isinstance(model, str | Path):
        path = Path(model)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a LightGBM JSON dump ({exc}).") from None
        if not isinstance(data, dict) or "tree_info" not in data:
            raise ValueError(f"{path}: not a LightGBM JSON dump (no 'tree_info').")
        return data
    booster = getattr(model, "booster_", model)
    dump: dict[str, Any] = booster.dump_model()
    return dump


def flatten(dump: dict[str, Any]) -> FlatEnsemble:
    """Flatten a ``dump_model()`` dict; raises :class:`UnsupportedModel` when it cannot."""
    if dump.get("average_output"):
        raise UnsupportedModel("random-forest mode (average_output) is not reproduced")
    num_class = int(dump.get("num_tree_per_iteration", dump.get("num_class", 1)))
    cols: dict[str, list[Any]] = {k: [] for k in _NODE_FIELDS}
    words: list[int] = []
    starts, classes, depths, expected = [0], [], [], np.zeros(num_class)
    for i, tree in enumerate(dump["tree_info"]):
        depth, ev = _flatten_tree(tree["tree_structure"], cols, words, starts[-1])
        starts.append(len(cols["parent"]))
        classes.append(i % num_class)
        depths.append(depth)
        expected[i % num_class] += ev
    names = tuple(dump.get("feature_names", []))
    nfeat = int(dump.get("max_feature_idx", len(names) - 1)) + 1

    def arr(key: str, dtype: Any) -> np.ndarray:
        return np.asarray(cols[key], dtype=dtype)

    flat = FlatEnsemble(
        num_features=nfeat,
        num_class=num_class,
        feature_names=names,
        objective=str(dump.get("objective", "")).split(" ")[0],
        tree_start=np.asarray(starts, dtype=np.int64),
        tree_class=np.asarray(classes, dtype=np.int32),
        tree_depth=np.asarray(depths, dtype=np.int32),
        expected_value=expected,
        parent=arr("parent", np.int32),
        is_left=arr("is_left", np.bool_),
        left=arr("left", np.int32),
        right=arr("right", np.int32),
        split_feature=arr("split_feature", np.int32),
        threshold=arr("threshold", np.float64),
        is_categorical=arr("is_categorical", np.bool_),
        default_left=arr("default_left", np.bool_),
        missing_type=arr("missing_type", np.int8),
        cat_start=arr("cat_start", np.int32),
        cat_len=arr("cat_len", np.int32),
        cat_words=np.asarray(words, dtype=np.uint32),
        value=arr("value", np.float64),
        cover=arr("cover", np.float64),
        edge_feature=arr("edge_feature", np.int32),
        edge_ratio=arr("edge_ratio", np.float64),
        same_ancestor=arr("same_ancestor", np.int32),
    )
    check_indices(flat)
    return flat


def check_indices(flat: FlatEnsemble) -> None:
    """Raise :class:`CorruptModel` unless every index the kernels follow is in range.

    The numba kernels read ``x[split_feature]``, write ``out[row, class, edge_feature]``
    and follow parent, child and ancestor links without bounds checks (checking once
    here is cheap; checking in the inner loops is not), so one bad number from a
    corrupt or hand-edited model would read or write outside the arrays.
    """
    nodes = len(flat.parent)
    nfeat = flat.num_features
    starts = flat.tree_start
    problems: list[str] = []
    if nfeat < 1 or flat.num_class < 1:
        problems.append(f"{nfeat} features and {flat.num_class} classes")
    if len(starts) != flat.num_trees + 1 or starts[0] != 0 or starts[-1] != nodes:
        problems.append("tree boundaries that do not cover the nodes")
    elif np.any(np.diff(starts) < 1):
        problems.append("an empty tree")
    if problems:
        raise CorruptModel(f"Corrupt LightGBM model: {'; '.join(problems)}.")
    node = np.arange(nodes)
    tree_of = np.repeat(np.arange(flat.num_trees), np.diff(starts))
    begin, end = starts[tree_of], starts[tree_of + 1]
    leaf = flat.left < 0
    root = node == begin
    checks = {
        "split feature": np.where(leaf, flat.split_feature == -1,
                                  (flat.split_feature >= 0) & (flat.split_feature < nfeat)),
        "left child": np.where(leaf, flat.right < 0, (flat.left > node) & (flat.left < end)),
        "right child": leaf | ((flat.right > node) & (flat.right < end)),
        "parent": np.where(root, flat.parent == -1,
                           (flat.parent >= begin) & (flat.parent < node)),
        "edge feature": np.where(root, flat.edge_feature == -1,
                                 (flat.edge_feature >= 0) & (flat.edge_feature < nfeat)),
        "ancestor": (flat.same_ancestor == -1)
        | ((flat.same_ancestor >= begin) & (flat.same_ancestor < node)),
        "missing type": (flat.missing_type >= 0) & (flat.missing_type <= 2),
        "category bitset": ~flat.is_categorical
        | ((flat.cat_start >= 0) & (flat.cat_len >= 1)
           & (flat.cat_start.astype(np.int64) + flat.cat_len <= len(flat.cat_words))),
        # thresholds may be infinite: the text model keeps LightGBM's +-inf (the JSON
        # dump writes +-1e300), and x <= inf is what LightGBM's predictor compares
        "number": np.isfinite(flat.value) & np.isfinite(flat.cover)
        & np.isfinite(flat.edge_ratio) & ~np.isnan(flat.threshold),
    }  # fmt: skip
    classes_ok = bool(np.all((flat.tree_class >= 0) & (flat.tree_class < flat.num_class)))
    for what, ok in checks.items():
        if not np.all(ok):
            k = int(np.flatnonzero(~ok)[0])
            raise CorruptModel(
                f"Corrupt LightGBM model: node {k - int(begin[k])} of tree {int(tree_of[k])} "
                f"has an invalid {what}."
            )
    if not classes_ok or not np.all(np.isfinite(flat.expected_value)):
        raise CorruptModel("Corrupt LightGBM model: invalid tree classes or expected value.")


_NODE_FIELDS = (
    *("parent", "is_left", "left", "right", "split_feature", "threshold", "is_categorical"),
    *("default_left", "missing_type", "cat_start", "cat_len", "value", "cover"),
    *("edge_feature", "edge_ratio", "same_ancestor"),
)


def _flatten_tree(
    root: dict[str, Any], cols: dict[str, list[Any]], words: list[int], base: int
) -> tuple[int, float]:
    """Append one tree in preorder; returns (max depth, expected value)."""
    root_cover = float(root.get("internal_count", root.get("leaf_count", 0)))
    # (node dict, parent id, is_left, depth, {feature: (nearest node id, ratio product)})
    stack: list[tuple[dict[str, Any], int, bool, int, dict[int, tuple[int, float]]]]
    stack = [(root, -1, False, 0, {})]
    max_depth, expected = 0, 0.0
    while stack:
        node, parent, is_left, depth, path = stack.pop()
        me = len(cols["parent"])
        leaf = "leaf_value" in node
        cover = float(node["leaf_count"] if leaf else node["internal_count"])
        if (parent >= 0 or not leaf) and not cover > 0:  # a ratio's numerator or divisor
            raise UnsupportedModel("a node with zero training cover")
        if leaf and node.get("leaf_coeff"):
            raise UnsupportedModel("linear trees (leaves with coefficients)")
        efeat, ratio, anc = -1, 1.0, -1
        if parent >= 0:
            efeat = cols["split_feature"][parent]  # ids are global row numbers
            ratio = cover / cols["cover"][parent]
            if efeat in path:
                anc, prev = path[efeat]
                ratio *= prev
        row: dict[str, Any] = {
            "parent": parent,
            "is_left": is_left,
            "left": -1,
            "right": -1,
            "split_feature": -1,
            "threshold": 0.0,
            "is_categorical": False,
            "default_left": False,
            "missing_type": 0,
            "cat_start": 0,
            "cat_len": 0,
            "value": float(node["leaf_value"]) if leaf else 0.0,
            "cover": cover,
            "edge_feature": efeat,
            "edge_ratio": ratio,
            "same_ancestor": anc,
        }
        if not leaf:
            row["split_feature"] = int(node["split_feature"])
            _split_fields(node, row, words)
        for key in _NODE_FIELDS:
            cols[key].append(row[key])
        max_depth = max(max_depth, depth)
        if leaf:
            expected += row["value"] * (cover / root_cover if root_cover > 0 else 1.0)
            continue
        child_path = dict(path)
        if efeat >= 0:
            child_path[efeat] = (me, ratio)
        # children are pushed right first so the left subtree is laid out first; the
        # parent's child ids are patched when each child is emitted
        stack.append((node["right_child"], me, False, depth + 1, child_path))
        stack.append((node["left_child"], me, True, depth + 1, child_path))
    for k in range(base + 1, len(cols["parent"])):  # child ids from the parent links
        cols["left" if cols["is_left"][k] else "right"][cols["parent"][k]] = k
    return max_depth, expected


def _split_fields(node: dict[str, Any], row: dict[str, Any], words: list[int]) -> None:
    """Decision fields of an internal node (numerical threshold or category bitset)."""
    missing = str(node.get("missing_type", "None"))
    if missing not in MISSING_TYPES:
        raise UnsupportedModel(f"missing_type '{missing}'")
    row["missing_type"] = MISSING_TYPES[missing]
    row["default_left"] = bool(node.get("default_left", False))
    kind = node.get("decision_type", "<=")
    if kind == "<=":
        row["threshold"] = float(node["threshold"])
    elif kind == "==":
        cats = [int(c) for c in str(node["threshold"]).split("||") if c != ""]
        if any(c < 0 for c in cats):
            raise UnsupportedModel("a negative category in a categorical split")
        if max(cats, default=0) >= _MAX_CATEGORY:  # the bitset would take gigabytes
            raise UnsupportedModel(f"a category code of {_MAX_CATEGORY} or more")
        nwords = (max(cats, default=0) >> 5) + 1
        bits = [0] * nwords
        for c in cats:
            bits[c >> 5] |= 1 << (c & 31)
        row["is_categorical"] = True
        row["cat_start"] = len(words)
        row["cat_len"] = nwords
        words.extend(bits)
    else:
        raise UnsupportedModel(f"decision_type '{kind}'")
    if math.isnan(row["threshold"]):
        raise UnsupportedModel("a NaN threshold")
