"""Complete structural check of a LightGBM text model before any native code reads it.

LightGBM's C++ parser, its predictor and auditor's own TreeSHAP kernels index arrays
with the numbers a model file contains and do not bounds-check them: a split feature
past the last feature, a child index that points outside the tree or back up it, or a
categorical split whose bitset is not there reads or writes outside the arrays and
takes the whole process down (SIGSEGV, a double free) instead of raising an error. So
every number they will use is checked here, in Python, first; a file that passes can be
handed to LightGBM. The rules follow what ``Booster.save_model`` writes (format v4).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise

# generous bounds far beyond any real model, so a hostile count cannot make LightGBM
# allocate gigabytes before it looks at the arrays (its own num_leaves limit is 131072)
MAX_LEAVES = 131_072
MAX_FEATURES = 1_000_000
MAX_CLASSES = 10_000
MAX_TREES = 1_000_000
_INT32 = 2**31 - 1

# decision_type bits (LightGBM tree.h): 1 categorical, 2 default left, 4-8 missing type
_CATEGORICAL = 1
_MISSING_TYPES = 3  # None, Zero, NaN

_PARAMETER = re.compile(r"^\[[a-z0-9_]+: [^\n]*\]$")
_INT_TOKEN = re.compile(r"-?[0-9]{1,20}")
_FLOAT_TOKEN = re.compile(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,4})?")
_BOUND = r"(-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,4})?|-?inf)"
_FEATURE_INFO = re.compile(rf"none|\[{_BOUND}:{_BOUND}\]|-?[0-9]{{1,10}}(:-?[0-9]{{1,10}})*")
_HEADER_WORD = re.compile(r"[A-Za-z0-9_.:= -]{0,200}")
_PARAMETERS_START = re.compile(r"\nparameters:\r?\n")
_PARAMETERS_END = re.compile(r"\nend of parameters\r?(\n|$)")
_SPACED = frozenset(("leaf_features", "leaf_coeff"))
_MAX_TREE_LINES = 22
_TREE_REQUIRED = ("num_leaves", "num_cat", "leaf_value")
_SPLIT_REQUIRED = ("split_feature", "threshold", "decision_type", "left_child", "right_child")
_TREE_KEYS = frozenset(
    (
        *_TREE_REQUIRED,
        *_SPLIT_REQUIRED,
        *("split_gain", "leaf_weight", "leaf_count", "internal_value", "internal_weight"),
        *("internal_count", "cat_boundaries", "cat_threshold", "is_linear", "shrinkage"),
        *("leaf_const", "num_features", "leaf_features", "leaf_coeff"),
    )
)


class TextModelProblem(ValueError):
    """What makes a text model unsafe to hand to LightGBM (the message says where)."""


@dataclass(frozen=True)
class _Header:
    num_class: int
    per_iteration: int
    num_features: int


def check_text_model(data: bytes) -> None:
    """Raise :class:`TextModelProblem` unless every index and count in ``data`` is sound.

    Covers the header (class, tree-per-iteration and feature counts, names and infos,
    ``tree_sizes``), every tree (array lengths against ``num_leaves``, finite numbers,
    split features in range, child indices forming one tree, decision types, categorical
    bitset boundaries, linear-leaf features) and the categorical feature list in the
    parameters block.
    """
    try:
        text = data.decode("utf-8")  # feature names may be UTF-8; every number is ASCII
    except UnicodeDecodeError as exc:
        raise TextModelProblem(f"a byte that is not UTF-8 at offset {exc.start}") from None
    if "\x00" in text:
        raise TextModelProblem(f"a NUL byte at offset {text.index(chr(0))}")
    end = text.find("\nend of trees")
    if end < 0:
        raise TextModelProblem("the 'end of trees' marker is missing")
    blocks = text[:end].split("\nTree=")
    header = _header(blocks[0])
    trees = blocks[1:]
    if not trees:
        raise TextModelProblem("the file holds no trees")
    if len(trees) > MAX_TREES:
        raise TextModelProblem(f"{len(trees)} trees (at most {MAX_TREES})")
    if len(trees) % header.per_iteration:
        raise TextModelProblem(
            f"{len(trees)} trees is not a multiple of num_tree_per_iteration="
            f"{header.per_iteration}"
        )
    sizes = _fields(blocks[0], where="the header").get("tree_sizes")
    if sizes is not None:
        _check_tree_sizes(text, end, sizes.split(), len(trees))
    for i, block in enumerate(trees):
        number, _, body = block.partition("\n")
        if number != str(i):
            raise TextModelProblem(f"tree {i} is labelled {'Tree=' + number[:20]!r}")
        _check_tree(body, header, where=f"tree {i}")
    _check_parameters(text[end:], header)


def _check_tree_sizes(text: str, end: int, sizes: list[str], trees: int) -> None:
    """LightGBM jumps from tree to tree by these byte counts without checking them: each
    must lead exactly to the next ``Tree=`` line (and the last to the end of the trees)."""
    if len(sizes) != trees:
        raise TextModelProblem(f"tree_sizes lists {len(sizes)} trees but the file holds {trees}")
    starts = [m.start() + 1 for m in re.finditer("\nTree=", text[:end])]
    for i, size in enumerate(sizes):
        if not _INT_TOKEN.fullmatch(size) or size.startswith("-"):  # ASCII digits only
            raise TextModelProblem(f"tree_sizes[{i}] is {size[:20]!r}, not a byte count")
        stop = starts[i] + int(size)
        if i + 1 < trees and stop != starts[i + 1]:
            raise TextModelProblem(f"tree {i + 1} is not where tree_sizes says it is")
        if i + 1 == trees and (stop > end + 1 or text[stop : end + 1].strip()):
            raise TextModelProblem("the trees do not add up to the sizes in tree_sizes")


def _fields(block: str, *, where: str) -> dict[str, str]:
    """``key=value`` lines of a block (other lines, such as ``average_output``, skipped)."""
    out: dict[str, str] = {}
    for line in block.splitlines():
        key, eq, value = line.strip().partition("=")
        if not eq:
            continue
        if key in out:
            raise TextModelProblem(f"{where}: the field {key!r} appears twice")
        out[key] = value.strip()
    return out


def _int(value: str, *, what: str, low: int, high: int) -> int:
    if not _INT_TOKEN.fullmatch(value):
        raise TextModelProblem(f"{what} is {value[:40]!r}, not an integer")
    number = int(value)
    if not low <= number <= high:
        raise TextModelProblem(f"{what} is {number}, outside {low}..{high}")
    return number


def _header(block: str) -> _Header:
    if not block.lstrip().startswith("tree"):
        raise TextModelProblem("it does not start with the 'tree' header")
    fields = _fields(block, where="the header")
    for key in ("num_class", "num_tree_per_iteration", "max_feature_idx", "feature_names"):
        if key not in fields:
            raise TextModelProblem(f"the header has no {key}")
    num_class = _int(fields["num_class"], what="num_class", low=1, high=MAX_CLASSES)
    per_iteration = _int(
        fields["num_tree_per_iteration"], what="num_tree_per_iteration", low=1, high=MAX_CLASSES
    )
    if per_iteration != num_class:  # one tree per class per iteration, in every objective
        raise TextModelProblem(
            f"num_tree_per_iteration={per_iteration} does not fit num_class={num_class}"
        )
    max_idx = _int(fields["max_feature_idx"], what="max_feature_idx", low=0, high=MAX_FEATURES)
    if "label_index" in fields:
        _int(fields["label_index"], what="label_index", low=0, high=_INT32)
    names = fields["feature_names"].split(" ")
    for j, name in enumerate(names):
        # dump_model writes these into JSON unescaped (LightGBM refuses them in training)
        if not name or not name.isprintable() or set(name) & set('"\\,:[]{}'):
            raise TextModelProblem(f"feature_names[{j}] is {name[:40]!r}")
    for key in ("version", "objective"):
        if key in fields and not _HEADER_WORD.fullmatch(fields[key]):
            raise TextModelProblem(f"the header's {key} is {fields[key][:40]!r}")
    if len(names) != max_idx + 1:
        raise TextModelProblem(
            f"feature_names lists {len(names)} names but max_feature_idx={max_idx} "
            f"means {max_idx + 1} features"
        )
    infos = fields.get("feature_infos")
    if infos is not None:
        entries = infos.split(" ")
        if len(entries) != max_idx + 1:
            raise TextModelProblem(
                f"feature_infos lists {len(entries)} entries for {max_idx + 1} features"
            )
        for j, entry in enumerate(entries):
            # dump_model splits these without checking: a range without ':' crashes it
            if not _FEATURE_INFO.fullmatch(entry):
                raise TextModelProblem(f"feature_infos[{j}] is {entry[:40]!r}")
    monotone = fields.get("monotone_constraints")
    if monotone is not None:
        for j, token in enumerate(monotone.split()):
            _int(token, what=f"monotone_constraints[{j}]", low=-1, high=1)
    return _Header(num_class, per_iteration, max_idx + 1)


def _numbers(
    fields: dict[str, str],
    key: str,
    count: int,
    parse: Callable[[str], float],
    *,
    where: str,
    infinite: bool = False,
) -> list[float]:
    """The ``count`` numbers of field ``key`` (finite, or also +-inf with ``infinite``),
    or a problem naming it."""
    # LightGBM splits on single spaces (linear leaves' feature lists use runs of them)
    tokens = fields[key].split() if key in _SPACED else fields[key].split(" ")
    if tokens == [""]:
        tokens = []
    if len(tokens) != count:
        raise TextModelProblem(f"{where}: {key} has {len(tokens)} values, expected {count}")
    out: list[float] = []
    for j, token in enumerate(tokens):
        try:
            pattern = _INT_TOKEN if parse is int else _FLOAT_TOKEN
            if not (pattern.fullmatch(token) or (infinite and token in ("inf", "-inf"))):
                raise ValueError(token)
            number = parse(token)
        except ValueError:
            raise TextModelProblem(
                f"{where}: {key}[{j}] is {token[:40]!r}, not a number"
            ) from None
        if not math.isfinite(number) and not (infinite and token in ("inf", "-inf")):
            raise TextModelProblem(f"{where}: {key}[{j}] is {token[:40]!r}, not finite")
        out.append(number)
    return out


def _ints(
    fields: dict[str, str], key: str, count: int, *, where: str, low: int, high: int
) -> list[int]:
    values = [int(v) for v in _numbers(fields, key, count, int, where=where)]
    for j, v in enumerate(values):
        if not low <= v <= high:
            raise TextModelProblem(f"{where}: {key}[{j}] is {v}, outside {low}..{high}")
    return values


def _tree_fields(body: str, *, where: str) -> dict[str, str]:
    """The ``key=value`` lines of a tree, exactly as LightGBM's tree reader takes them.

    Trees are parsed in an OpenMP loop, where any parse error aborts the process instead
    of raising, so the block must be what the reader expects to the letter: at most 22
    unindented ``key=value`` lines, then nothing but blank lines.
    """
    lines = body.split("\n")
    count = next((i for i, line in enumerate(lines) if line in ("", "\r")), len(lines))
    if count > _MAX_TREE_LINES:
        raise TextModelProblem(f"{where}: {count} lines, at most {_MAX_TREE_LINES}")
    if any(line.strip() for line in lines[count:]):
        raise TextModelProblem(f"{where}: a blank line inside the tree")
    out: dict[str, str] = {}
    for n, raw in enumerate(lines[:count], start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        key, eq, value = line.partition("=")
        if not eq or "\r" in line:
            raise TextModelProblem(f"{where}: line {n} is {line[:40]!r}, not key=value")
        if key in out:
            raise TextModelProblem(f"{where}: the field {key[:40]!r} appears twice")
        out[key] = value
    return out


def _check_tree(body: str, header: _Header, *, where: str) -> None:
    fields = _tree_fields(body, where=where)
    unknown = sorted(set(fields) - _TREE_KEYS)
    if unknown:
        raise TextModelProblem(f"{where}: unknown field {unknown[0][:40]!r}")
    for key in _TREE_REQUIRED:
        if key not in fields:
            raise TextModelProblem(f"{where}: the field {key!r} is missing")
    leaves = _int(fields["num_leaves"], what=f"{where}: num_leaves", low=1, high=MAX_LEAVES)
    num_cat = _int(fields["num_cat"], what=f"{where}: num_cat", low=0, high=MAX_LEAVES)
    _numbers(fields, "leaf_value", leaves, float, where=where)
    if "leaf_weight" in fields:
        _numbers(fields, "leaf_weight", leaves, float, where=where)
    if "leaf_count" in fields:  # int32 in LightGBM: "0.5" would be read as 0
        _ints(fields, "leaf_count", leaves, where=where, low=0, high=_INT32)
    if "shrinkage" in fields:
        _numbers(fields, "shrinkage", 1, float, where=where)
    linear = fields.get("is_linear", "0")
    if linear not in ("0", "1"):
        raise TextModelProblem(f"{where}: is_linear is {linear[:20]!r}, not 0 or 1")
    if linear == "1":
        _check_linear(fields, leaves, header, where=where)
    if leaves == 1:
        if num_cat:
            raise TextModelProblem(f"{where}: num_cat={num_cat} in a tree without splits")
        return
    splits = leaves - 1
    for key in _SPLIT_REQUIRED:
        if key not in fields:
            raise TextModelProblem(f"{where}: the field {key!r} is missing")
    features = _ints(
        fields, "split_feature", splits, where=where, low=0, high=header.num_features - 1
    )
    del features  # only their range matters
    # LightGBM writes +-inf itself (a split of every value against the missing ones)
    threshold = _numbers(fields, "threshold", splits, float, where=where, infinite=True)
    kinds = _ints(fields, "decision_type", splits, where=where, low=0, high=15)
    for key in ("split_gain", "internal_value", "internal_weight"):
        if key in fields:
            _numbers(fields, key, splits, float, where=where)
    if "internal_count" in fields:
        _ints(fields, "internal_count", splits, where=where, low=0, high=_INT32)
    left = _ints(fields, "left_child", splits, where=where, low=-leaves, high=splits - 1)
    right = _ints(fields, "right_child", splits, where=where, low=-leaves, high=splits - 1)
    _check_shape(left, right, leaves, where=where)
    used_cats = 0
    for node, kind in enumerate(kinds):
        if (kind >> 2) & 3 >= _MISSING_TYPES:
            raise TextModelProblem(f"{where}: decision_type[{node}]={kind} has no missing type")
        if kind & _CATEGORICAL:
            used_cats += 1
            cat = threshold[node]
            if not math.isfinite(cat) or cat != int(cat) or not 0 <= cat < num_cat:
                raise TextModelProblem(
                    f"{where}: categorical split {node} names bitset {cat}, but num_cat={num_cat}"
                )
    if used_cats != num_cat:
        raise TextModelProblem(
            f"{where}: num_cat={num_cat} but {used_cats} splits are categorical"
        )
    if num_cat:
        _check_bitsets(fields, num_cat, where=where)


def _check_shape(left: list[int], right: list[int], leaves: int, *, where: str) -> None:
    """Children must form one binary tree rooted at split 0: each split but the root and
    each leaf reached exactly once, and no cycle (every split reachable from the root)."""
    seen_split = [False] * len(left)
    seen_leaf = [False] * leaves
    seen_split[0] = True
    stack = [0]
    while stack:
        node = stack.pop()
        for side, child in (("left_child", left[node]), ("right_child", right[node])):
            if child >= 0:
                if seen_split[child]:
                    raise TextModelProblem(
                        f"{where}: {side}[{node}]={child} reaches split {child} a second time"
                    )
                seen_split[child] = True
                stack.append(child)
            else:
                leaf = ~child
                if seen_leaf[leaf]:
                    raise TextModelProblem(
                        f"{where}: {side}[{node}]={child} reaches leaf {leaf} a second time"
                    )
                seen_leaf[leaf] = True
    if not all(seen_split):
        raise TextModelProblem(f"{where}: split {seen_split.index(False)} is not in the tree")
    if not all(seen_leaf):
        raise TextModelProblem(f"{where}: leaf {seen_leaf.index(False)} is not in the tree")


def _check_bitsets(fields: dict[str, str], num_cat: int, *, where: str) -> None:
    for key in ("cat_boundaries", "cat_threshold"):
        if key not in fields:
            raise TextModelProblem(f"{where}: num_cat={num_cat} but {key} is missing")
    bounds = _ints(
        fields, "cat_boundaries", num_cat + 1, where=where, low=0, high=_INT32
    )
    if bounds[0] != 0 or any(b <= a for a, b in pairwise(bounds)):
        raise TextModelProblem(f"{where}: cat_boundaries {bounds[:8]} do not start at 0 and rise")
    _ints(fields, "cat_threshold", bounds[-1], where=where, low=0, high=2**32 - 1)


def _check_linear(fields: dict[str, str], leaves: int, header: _Header, *, where: str) -> None:
    for key in ("leaf_const", "num_features", "leaf_features", "leaf_coeff"):
        if key not in fields:
            raise TextModelProblem(f"{where}: a linear tree without {key}")
    _numbers(fields, "leaf_const", leaves, float, where=where)
    counts = _ints(
        fields, "num_features", leaves, where=where, low=0, high=header.num_features
    )
    total = sum(counts)
    _ints(fields, "leaf_features", total, where=where, low=0, high=header.num_features - 1)
    _numbers(fields, "leaf_coeff", total, float, where=where)


def _check_parameters(tail: str, header: _Header) -> None:
    """Every line of the parameters block is ``[name: value]`` (LightGBM's own reader of
    the block crashes on an unclosed one), and ``categorical_feature`` indexes features."""
    if "parameters:" not in tail:
        return
    start = _PARAMETERS_START.search(tail)
    stop = _PARAMETERS_END.search(tail, start.end()) if start else None
    if start is None or stop is None:
        # LightGBM reads on to the end of the file looking for the end line, and crashes
        raise TextModelProblem("the parameters block has no 'parameters:' or no end line")
    for n, line in enumerate(tail[start.end() : stop.start()].splitlines(), start=1):
        if not line:
            continue
        if not _PARAMETER.match(line):
            raise TextModelProblem(f"parameters line {n} is {line[:60]!r}, not '[name: value]'")
    for line in _lines_starting(tail, "[categorical_feature:"):
        listed = line[len("[categorical_feature:") :].rstrip("]").strip()
        for token in filter(None, listed.split(",")):
            _int(token, what="categorical_feature", low=0, high=header.num_features - 1)


def _lines_starting(text: str, prefix: str) -> Iterator[str]:
    for line in text.splitlines():
        if line.startswith(prefix):
            yield line.strip()
