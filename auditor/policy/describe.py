"""Plain-language descriptions of checks, for ``auditor policies show`` and reports."""

from __future__ import annotations

from typing import Any

from auditor.policy.language import (
    Compare,
    Cond,
    Junction,
    Negation,
    Presence,
    Quantified,
    Ref,
    Source,
)
from auditor.policy.schema import Condition, Rule

_OPS = {
    "eq": "is",
    "ne": "is not",
    "lt": "<",
    "le": "≤",
    "gt": ">",
    "ge": "≥",
    "in": "is one of",
    "not_in": "is none of",
    "contains": "contains",
    "not_contains": "does not contain",
    "has_key": "has an entry for",
}
_FNS = {"abs": "|{}|", "days_since": "days since {}", "length": "length of {}", "lower": "{}"}


def basis_text(rule: Rule) -> str:
    """What the rule's ``basis`` means, in words."""
    return {
        "law": "the requirement is set by the instrument itself",
        "convention": "the threshold is a practitioner convention, not set by law",
        "guidance": "regulator guidance, not binding law",
    }[rule.basis]


def describe(rule: Rule) -> str:
    """One paragraph saying what the rule's check tests."""
    c = rule.check
    if c.type == "ratio_threshold":
        return (
            f"every group's {c.metric.replace('_', ' ')} is at least {c.min:g}, judged "
            f"with a significance test at {c.alpha:g}; small groups give insufficient "
            "evidence"
        )
    if c.type == "disclosure_table":
        return (
            f"selection/scoring rates and impact ratios are computed for "
            f"{', '.join(c.groupings)}, with the unknown category counted (no threshold)"
        )
    if c.type == "proxy_scan":
        parts = []
        if c.name_patterns:
            parts.append(f"no feature name matches {', '.join(c.name_patterns)}")
        if c.max_association is not None:
            parts.append(
                f"features associated with a protected attribute at "
                f"{c.max_association:g} or more are flagged for review"
            )
        return "; ".join(parts)
    if c.type == "attestation":
        age = f", dated within {c.max_age_days} days" if c.max_age_days else ""
        return f"the spec attests evidence.{c.evidence}{age}"
    if c.type == "condition":
        return describe_condition(c)
    return "attributions were computed and reproduce the model output within tolerance"


def describe_condition(check: Condition) -> str:
    """``for each …: fail if …; warn if …; otherwise pass``."""
    head = ""
    if check.source is not None:
        head = f"for each {_source(check.source)}: "
    branches = [
        f"{b.status.replace('_', ' ')} if {text(cond)}"
        for b, cond in zip(check.outcomes, check.branches, strict=True)
    ]
    branches.append(f"otherwise {check.otherwise.replace('_', ' ')}")
    tail = ""
    if check.source is not None:
        tail = f" (none to check: {check.if_empty.replace('_', ' ')})"
    return head + "; ".join(branches) + tail


def text(cond: Cond) -> str:
    """A condition in words."""
    if isinstance(cond, Compare):
        right = _ref(cond.right) if isinstance(cond.right, Ref) else _literal(cond.right)
        return f"{_ref(cond.left)} {_OPS[cond.op]} {right}"
    if isinstance(cond, Presence):
        if cond.strict:
            return f"{_ref(cond.ref)} is attested"
        return f"{_ref(cond.ref)} is {'missing' if cond.negate else 'given'}"
    if isinstance(cond, Negation):
        return f"not ({text(cond.part)})"
    if isinstance(cond, Junction):
        joiner = " and " if cond.kind == "all" else " or "
        return "(" + joiner.join(text(p) for p in cond.parts) + ")"
    return _quantified(cond)


def _quantified(cond: Quantified) -> str:
    word = {"some": "some", "every": "every", "none": "no"}[cond.kind]
    return f"{word} {_source(cond.source)} satisfies: {text(cond.where)}"


def _source(source: Source) -> str:
    if source.collection == "items":
        what = "item of " + ", ".join(source.items)
    else:
        what = source.collection.replace("_", " ").removesuffix("s") + " record"
    return what + (f" where {text(source.where)}" if source.where is not None else "")


def _ref(ref: Ref) -> str:
    name = ref.path.removeprefix("item.")
    return _FNS[ref.fn].format(name) if ref.fn else name


def _literal(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)
