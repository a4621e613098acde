"""The check language: a small tree of operators over named facts, parsed strictly on load.

A condition is one of::

    {all: [cond, ...]}   {any: [cond, ...]}   {not: cond}
    {exists: FACT}       {missing: FACT}       {attested: FACT}
    {fact: FACT, op: OP, value: LITERAL | {fact: FACT}, fn: FN}      # a comparison
    {some | every | none: {collection: NAME, where: filter}, where: cond}  # quantifiers

FACT is a dotted name from :mod:`auditor.policy.facts` (``domain``, ``evidence.dpia_date``,
``item.value`` inside a for-each). Unknown operators, facts, functions or item fields are
errors naming the node's path, e.g. ``outcomes.1.when.all.0.op``. ``exists``/``missing``
are plain true/false; ``attested`` is true when the fact is there and *unknown* when it is
not, so a rule that needs a document ends as needs_attestation rather than fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auditor.policy.facts import COLLECTIONS, OPEN_ROOTS, SCALARS
from auditor.policy.patterns import PatternError, compile_pattern

COMPARISONS = frozenset(
    {"eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "contains", "not_contains", "has_key"}
)
FUNCTIONS = frozenset({"abs", "days_since", "length", "lower"})
QUANTIFIERS = ("some", "every", "none")
OPERATORS = ("all", "any", "not", "exists", "missing", "attested", "fact", *QUANTIFIERS)


class ConditionSyntaxError(ValueError):
    """A malformed condition; ``where`` is the path of the offending node."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True)
class Ref:
    """A fact reference, optionally transformed by a function."""

    path: str
    fn: str | None = None


@dataclass(frozen=True)
class Compare:
    """``fact op value``."""

    left: Ref
    op: str
    right: Ref | Any


@dataclass(frozen=True)
class Presence:
    """``exists`` / ``missing`` (``negate``), or ``attested`` (``strict``: absent is unknown)."""

    ref: Ref
    negate: bool
    strict: bool = False


@dataclass(frozen=True)
class Junction:
    """``all`` or ``any`` of the parts."""

    kind: str
    parts: tuple[Cond, ...]


@dataclass(frozen=True)
class Negation:
    """``not``."""

    part: Cond


@dataclass(frozen=True)
class Source:
    """Items of a named collection (or a literal list), optionally filtered."""

    collection: str
    where: Cond | None = None
    items: tuple[str, ...] = ()


@dataclass(frozen=True)
class Quantified:
    """``some`` / ``every`` / ``none`` of the items of ``source`` satisfy ``where``."""

    kind: str
    source: Source
    where: Cond


Cond = Compare | Presence | Junction | Negation | Quantified


def _known(options: Any) -> str:
    return ", ".join(sorted(options))


def parse_ref(raw: Any, where: str, item_fields: frozenset[str] | None) -> Ref:
    """A fact name checked against the fact registry and the for-each item's fields."""
    if not isinstance(raw, str) or not raw:
        raise ConditionSyntaxError(where, f"a fact name is a non-empty string, got {raw!r}")
    root, _, rest = raw.partition(".")
    if root == "item":
        if item_fields is None:
            raise ConditionSyntaxError(
                where, f"unknown fact '{raw}': 'item' is only defined inside a for-each"
            )
        if rest not in item_fields:
            raise ConditionSyntaxError(
                where, f"unknown fact '{raw}'; the item has {_known(item_fields)}"
            )
    elif root in OPEN_ROOTS:
        if not rest:
            raise ConditionSyntaxError(where, f"name a key under '{root}', e.g. {root}.dpia_date")
    elif raw not in SCALARS:
        raise ConditionSyntaxError(
            where,
            f"unknown fact '{raw}'; known facts: {_known(SCALARS)}, evidence.<key>, "
            "item.<field> (in a for-each)",
        )
    return Ref(raw)


def parse_source(raw: Any, where: str) -> Source:
    """``{collection: NAME, where: cond, items: [...]}`` of a for-each or quantifier."""
    if not isinstance(raw, dict):
        raise ConditionSyntaxError(where, "expected a mapping with 'collection'")
    extra = set(raw) - {"collection", "where", "items"}
    if extra:
        raise ConditionSyntaxError(f"{where}.{sorted(extra)[0]}", "unknown key")
    name = raw.get("collection")
    if name not in COLLECTIONS:
        raise ConditionSyntaxError(
            f"{where}.collection", f"unknown collection {name!r}; known: {_known(COLLECTIONS)}"
        )
    items = raw.get("items")
    if (name == "items") != (items is not None):
        raise ConditionSyntaxError(
            f"{where}.items", "'items' (a list of names) goes with collection: items, only"
        )
    if items is not None and (
        not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items)
    ):
        raise ConditionSyntaxError(f"{where}.items", "expected a non-empty list of names")
    cond = None
    if raw.get("where") is not None:
        cond = parse_condition(raw["where"], f"{where}.where", COLLECTIONS[name])
    return Source(name, cond, tuple(items or ()))


def parse_condition(raw: Any, where: str, item_fields: frozenset[str] | None) -> Cond:
    """Parse and validate one condition node (recursively)."""
    if not isinstance(raw, dict) or not raw:
        raise ConditionSyntaxError(where, f"expected a condition mapping, got {raw!r}")
    head = [k for k in raw if k in OPERATORS]
    if not head:
        first = next(iter(raw))
        raise ConditionSyntaxError(
            f"{where}.{first}", f"unknown operator '{first}'; known: {_known(OPERATORS)}"
        )
    key = "fact" if "fact" in head else head[0]
    allowed = {
        "fact": {"fact", "op", "value", "fn"},
        **{q: {q, "where"} for q in QUANTIFIERS},
    }.get(key, {key})
    extra = sorted(set(raw) - allowed)
    if extra:
        raise ConditionSyntaxError(f"{where}.{extra[0]}", f"unknown key beside '{key}'")
    body = raw[key]
    if key in ("all", "any"):
        if not isinstance(body, list) or not body:
            raise ConditionSyntaxError(f"{where}.{key}", "expected a non-empty list")
        parts = tuple(
            parse_condition(p, f"{where}.{key}.{i}", item_fields) for i, p in enumerate(body)
        )
        return Junction(key, parts)
    if key == "not":
        return Negation(parse_condition(body, f"{where}.not", item_fields))
    if key in ("exists", "missing", "attested"):
        ref = parse_ref(body, f"{where}.{key}", item_fields)
        return Presence(ref, key == "missing", strict=key == "attested")
    if key in QUANTIFIERS:
        source = parse_source(body, f"{where}.{key}")
        if "where" not in raw:
            raise ConditionSyntaxError(f"{where}.where", f"'{key}' needs a 'where' condition")
        inner = parse_condition(raw["where"], f"{where}.where", COLLECTIONS[source.collection])
        return Quantified(key, source, inner)
    return _parse_compare(raw, where, item_fields)


def _parse_compare(raw: dict[str, Any], where: str, item_fields: frozenset[str] | None) -> Compare:
    ref = parse_ref(raw["fact"], f"{where}.fact", item_fields)
    fn = raw.get("fn")
    if fn is not None and fn not in FUNCTIONS:
        raise ConditionSyntaxError(
            f"{where}.fn", f"unknown function {fn!r}; known: {_known(FUNCTIONS)}"
        )
    op = raw.get("op")
    if op not in COMPARISONS:
        raise ConditionSyntaxError(
            f"{where}.op", f"unknown operator {op!r}; known: {_known(COMPARISONS)}"
        )
    if "value" not in raw:
        raise ConditionSyntaxError(f"{where}.value", f"'{op}' needs a 'value'")
    value = raw["value"]
    if isinstance(value, dict):
        if set(value) != {"fact"}:
            raise ConditionSyntaxError(
                f"{where}.value", "a mapping value must be {fact: NAME} and nothing else"
            )
        value = parse_ref(value["fact"], f"{where}.value.fact", item_fields)
    elif op in ("in", "not_in") and not isinstance(value, list):
        raise ConditionSyntaxError(f"{where}.value", f"'{op}' needs a list")
    elif op in ("contains", "not_contains") and isinstance(value, str):
        try:
            compile_pattern(value)  # RE2: refused here if it needs backtracking
        except PatternError as exc:
            raise ConditionSyntaxError(f"{where}.value", str(exc)) from None
    return Compare(Ref(ref.path, fn), op, value)


_REF = {"type": "string", "description": "A fact name: a scalar, evidence.<key>, item.<field>"}
_SOURCE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["collection"],
    "properties": {
        "collection": {"enum": sorted(COLLECTIONS)},
        "items": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "where": {"$ref": "#/$defs/Condition"},
    },
}


def condition_json_schema() -> dict[str, Any]:
    """JSON Schema of a condition node (recursive through ``#/$defs/Condition``)."""
    cond = {"$ref": "#/$defs/Condition"}

    def one(key: str, body: dict[str, Any], **more: Any) -> dict[str, Any]:
        props = {key: body, **more}
        return {
            "type": "object",
            "additionalProperties": False,
            "required": [key],
            "properties": props,
        }

    cmp = {
        "type": "object",
        "additionalProperties": False,
        "required": ["fact", "op", "value"],
        "properties": {
            "fact": _REF,
            "op": {"enum": sorted(COMPARISONS)},
            "fn": {"enum": sorted(FUNCTIONS)},
            "value": {},
        },
    }
    return {
        "description": "A condition over named facts (docs: policy language, check language).",
        "oneOf": [
            one("all", {"type": "array", "items": cond, "minItems": 1}),
            one("any", {"type": "array", "items": cond, "minItems": 1}),
            one("not", cond),
            one("exists", _REF),
            one("missing", _REF),
            one("attested", _REF),
            cmp,
            *({**one(q, _SOURCE, where=cond), "required": [q, "where"]} for q in QUANTIFIERS),
        ],
    }


def source_json_schema() -> dict[str, Any]:
    """JSON Schema of a for-each source."""
    return _SOURCE
