"""The one YAML loader for every file a user hands the tool (specs, packs, fixtures, retention).

``yaml.SafeLoader`` builds only plain data, but it is not bounded: a 900-byte alias bomb
expands to billions of nodes when the result is walked (digest, validation), and deep
nesting exhausts the recursive composer (``RecursionError``). This loader limits the
file size, the nesting depth (checked while composing, before Python's stack is deep)
and the size of the document with every alias expanded, and reports each limit as a
clear error naming the file. A key given twice in one mapping is refused too: PyYAML
would keep the last value silently, while a reader of the file may see the first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_YAML_BYTES = 1024 * 1024
"""Largest YAML file read (specs, rules and fixtures are a few KiB)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences (real specs nest 4 levels)."""
MAX_EXPANDED_NODES = 50_000
"""Most values in a document once every alias is expanded (a large spec has a few
hundred; an alias bomb has billions). Parsing stops as soon as the document itself has
more, so a long flat list costs no more than this many values' parsing."""


class YamlLimitError(ValueError):
    """A YAML file exceeded one of the limits; the message says which."""


class BoundedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that keeps unquoted dates as text and refuses deep nesting and
    documents with too many values.

    PyYAML turns ``2026-13-01`` into a ``ValueError`` with no file, line or key; as text,
    the date is validated by the schema, which names the key.
    """

    _depth = 0
    _nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        # the composer recurses once per level: stop long before the interpreter would
        self._depth += 1
        self._nodes += 1
        try:
            if self._nodes > MAX_EXPANDED_NODES:
                raise YamlLimitError(f"more than {MAX_EXPANDED_NODES:,} values")
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise YamlLimitError(
                    f"nesting deeper than {MAX_DEPTH} levels at line {mark.line + 1}"
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node = super().compose_mapping_node(anchor)
        # checked as written, before a merge (<<) elsewhere rewrites this node's pairs
        _refuse_duplicate_keys(self, node)
        return node


_MERGE_TAG = "tag:yaml.org,2002:merge"


def _refuse_duplicate_keys(loader: BoundedSafeLoader, node: MappingNode) -> None:
    """Raise naming the line of a key written twice in ``node``.

    Only the keys written in the mapping itself count: a value merged in with ``<<:`` and
    then overridden is YAML's way of saying "this one instead", not a slip.
    """
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
            continue  # complex keys are refused when constructed; merges are allowed
        key = loader.construct_object(key_node)
        if key in seen:
            raise ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {seen[key]}): a key may appear once "
                "in a mapping, or it is unclear which value applies; remove one of them",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line + 1


BoundedSafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def expanded_size(root: Node, limit: int = MAX_EXPANDED_NODES) -> int:
    """Nodes in the document with aliases expanded, counted without expanding them.

    Each node's expanded size is computed once (memoised by identity), so an alias bomb
    is measured in time linear in its source, not in its expansion. Stops above ``limit``.
    """
    sizes: dict[int, int] = {}
    # iterative post-order walk: the depth is bounded already, but no recursion is needed
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        kids = _children(node)
        if not children_done:
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in sizes)
            continue
        total = 1 + sum(sizes.get(id(k), 0) for k in kids)
        sizes[id(node)] = total
        if total > limit:
            return total
    return sizes[id(root)]


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def load_yaml_text(text: str) -> Any:
    """Parse one YAML document within the limits; raises ``yaml.YAMLError``,
    :class:`YamlLimitError` or ``ValueError`` (an explicitly tagged bad value)."""
    loader = BoundedSafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = expanded_size(node)
        if size > MAX_EXPANDED_NODES:
            raise YamlLimitError(
                f"more than {MAX_EXPANDED_NODES:,} values once aliases (*name) are expanded; "
                "an alias bomb or a document far larger than any spec or pack"
            )
        return loader.construct_document(node)
    except RecursionError:  # defensive: the depth limit should stop this first
        raise YamlLimitError(f"nesting deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def read_yaml_text(
    path: Path, max_bytes: int = MAX_YAML_BYTES, *, regular_only: bool = False
) -> str:
    """The file's text, refusing files over ``max_bytes`` before reading them.

    A pipe is read without hanging on a missing writer, a device without reading past
    the limit (:func:`auditor.input_files.read_limited`); ``regular_only`` refuses both.
    Raises ``OSError``, ``UnicodeDecodeError`` or :class:`YamlLimitError`.
    """
    from auditor.input_files import read_limited

    size = path.stat().st_size
    if size > max_bytes:
        raise YamlLimitError(f"the file is {size:,} bytes; the limit is {max_bytes:,}")
    # the file may grow between stat and read: at most one byte past the limit is read
    data = read_limited(path, max_bytes, regular_only=regular_only)
    if len(data) > max_bytes:
        raise YamlLimitError(f"the file is larger than the limit of {max_bytes:,} bytes")
    return data.decode("utf-8")
